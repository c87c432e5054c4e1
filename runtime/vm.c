/*
 * vm.c -- the Route VM's dispatch loop.
 *
 * Each handler is written once with the VM_CASE / VM_NEXT macros and
 * compiled twice: with computed goto (one indirect jump per instruction,
 * after lua/lua:lvm.c vmdispatch and postgres execExprInterp.c EEO_*) and
 * with a plain switch (RV_FORCE_SWITCH: the Makefile compiles this file a
 * second time, into librvswitch.la, with -DRV_FORCE_SWITCH) for compilers
 * without labels as values and for the tests, which run every program both
 * ways. The semantics of each opcode live in
 * opcodes.def and in vmops.c; handlers only move registers. The only
 * tracing is one predicate hook that explain sets (trace != NULL), tested
 * once per predicate, never per dispatch.
 *
 * Every program reaching this loop was verified by rv_prog_load(): operands
 * are in range, jumps are forward and land on instructions, and every path
 * ends in the block's terminator. The loop relies on that and does not check
 * again.
 */
#include "config.h"
#include "vm.h"

#include <string.h>

#if defined(HAVE_COMPUTED_GOTO) && !defined(RV_FORCE_SWITCH)
#define RV_USE_COMPUTED_GOTO 1
#define RV_VM_RUN rv_vm_run
#else
#define RV_USE_COMPUTED_GOTO 0
#ifdef RV_FORCE_SWITCH
#define RV_VM_RUN rv_vm_run_switch
#else
#define RV_VM_RUN rv_vm_run
#endif
#endif

#if RV_USE_COMPUTED_GOTO
#define VM_DISPATCH() goto *labels[RV_GET_OP(*pc)]
#define VM_CASE(op) L_##op:
#else
#define VM_DISPATCH() goto dispatch
#define VM_CASE(op) case RV_OP_##op:
#endif
#define VM_NEXT() do { pc++; VM_DISPATCH(); } while (0)

#define RA() (&regs[RV_GET_A(i)])
#define RB() (&regs[RV_GET_B(i)])
#define RC() (&regs[RV_GET_C(i)])

/* A predicate's result into R[A]; explain sees it with its operand. */
/* A shared predicate (index.c) is evaluated once per event: its memo slot. */
#define PREDICATE(expr)                                              \
	do {                                                             \
		int r_;                                                      \
		uint32_t s_;                                                 \
		if (vm->pred && (s_ = vm->pred[pc - code]) != RV_NONE) {     \
			if (vm->memo_seq[s_] == vm->seq) {                       \
				r_ = vm->memo_val[s_];                               \
			} else {                                                 \
				r_ = (expr);                                         \
				vm->memo_seq[s_] = vm->seq;                          \
				vm->memo_val[s_] = (uint8_t)r_;                      \
			}                                                        \
		} else {                                                     \
			r_ = (expr);                                             \
		}                                                            \
		if (vm->trace)                                               \
			vm->trace(vm->trace_ud, (uint32_t)(pc - code), r_, RB()); \
		regs[RV_GET_A(i)].k = RV_V_BOOL;                             \
		regs[RV_GET_A(i)].u.b = r_;                                  \
	} while (0)

int
RV_VM_RUN(struct rv_vm *vm, uint32_t entry, struct rv_val *out)
{
	const uint32_t *code = vm->rt->p->code;
	const uint32_t *pc = code + entry;
	struct rv_val *regs = vm->regs;
	uint32_t i;
#if RV_USE_COMPUTED_GOTO
	static const void *const labels[RV_NUM_OPS] = {
#define OP(name, fmt, flags, sem) &&L_##name,
#include "opcodes.def"
#undef OP
	};
#endif

	memset(regs, 0, vm->rt->p->max_regs * sizeof *regs); /* every register MISSING */
#if RV_USE_COMPUTED_GOTO
	i = *pc;
	VM_DISPATCH();
#else
dispatch:
	i = *pc;
	switch (RV_GET_OP(i)) {
#endif
	/* the computed-goto build reloads i at each label */
#if RV_USE_COMPUTED_GOTO
#undef VM_CASE
#define VM_CASE(op) L_##op: i = *pc;
#endif
	VM_CASE(NOP)
		VM_NEXT();
	VM_CASE(LOADK)
		rv_op_const(vm, RV_GET_Bx(i), RA());
		VM_NEXT();
	VM_CASE(LOADKX)
		rv_op_const(vm, RV_GET_Ax(pc[1]), RA());
		pc++; /* skip the EXTRAARG */
		VM_NEXT();
	VM_CASE(LOADF)
		if (vm->override[RV_GET_Bx(i)].k != RV_V_MISSING) {
			*RA() = vm->override[RV_GET_Bx(i)];
		} else {
			RA()->k = RV_V_FIELD;
			RA()->n = RV_GET_Bx(i);
		}
		VM_NEXT();
	VM_CASE(LOADFX)
		if (vm->override[RV_GET_Ax(pc[1])].k != RV_V_MISSING) {
			*RA() = vm->override[RV_GET_Ax(pc[1])];
		} else {
			RA()->k = RV_V_FIELD;
			RA()->n = RV_GET_Ax(pc[1]);
		}
		pc++;
		VM_NEXT();
	VM_CASE(EXTRAARG)
		/* unreachable: the verifier only allows it after LOADKX/LOADFX */
		VM_NEXT();
	VM_CASE(MOVE)
		*RA() = *RB();
		VM_NEXT();
	VM_CASE(EQ)
	VM_CASE(NE)
	VM_CASE(LT)
	VM_CASE(LE)
	VM_CASE(GT)
	VM_CASE(GE)
	VM_CASE(IEQ)
	VM_CASE(INE)
		PREDICATE(rv_op_compare(vm, RV_GET_OP(i), RB(), RC()));
		VM_NEXT();
	VM_CASE(PREFIX)
	VM_CASE(SUFFIX)
	VM_CASE(CONTAINS)
	VM_CASE(IPREFIX)
	VM_CASE(ISUFFIX)
	VM_CASE(ICONTAINS)
	VM_CASE(LIKE)
	VM_CASE(ILIKE)
	VM_CASE(MATCHES)
		PREDICATE(rv_op_string(vm, RV_GET_OP(i), RB(), RC()));
		VM_NEXT();
	VM_CASE(IN)
	VM_CASE(NIN)
	VM_CASE(RANGE)
	VM_CASE(CIDR)
	VM_CASE(NCIDR)
		PREDICATE(rv_op_member(vm, RV_GET_OP(i), RB(), RC()));
		VM_NEXT();
	VM_CASE(EXISTS)
		PREDICATE(rv_op_exists(vm, RB()));
		VM_NEXT();
	VM_CASE(NOT)
		{
			int t = !rv_op_truthy(vm, RB());

			RA()->k = RV_V_BOOL;
			RA()->u.b = t;
		}
		VM_NEXT();
	VM_CASE(ADD)
	VM_CASE(SUB)
	VM_CASE(MUL)
	VM_CASE(DIV)
	VM_CASE(MOD)
		rv_op_arith(vm, RV_GET_OP(i), RB(), RC(), RA());
		VM_NEXT();
	VM_CASE(NEG)
		rv_op_arith(vm, RV_OP_NEG, RB(), NULL, RA());
		VM_NEXT();
	VM_CASE(CALL)
		{
			struct rv_val r;

			rv_op_call(vm, RV_GET_B(i), RC(), &r);
			*RA() = r;
		}
		VM_NEXT();
	VM_CASE(MKLIST)
		RA()->k = RV_V_LIST;
		RA()->u.first = RV_GET_B(i);
		RA()->n = RV_GET_C(i);
		VM_NEXT();
	VM_CASE(TGET)
		rv_op_tget(vm, RV_GET_B(i), RC(), RA());
		VM_NEXT();
	VM_CASE(AGG)
		/* the verifier allows it only in aggregate blocks, with B < naggs */
		if (vm->agg_has[RV_GET_B(i)]) {
			RA()->k = RV_V_NUM;
			RA()->u.num = vm->agg_out[RV_GET_B(i)];
		} else {
			RA()->k = RV_V_MISSING;
		}
		VM_NEXT();
	VM_CASE(JMP)
		pc += RV_GET_sJ(i);
		VM_NEXT();
	VM_CASE(JMPF)
		if (!rv_op_truthy(vm, RA()))
			pc += RV_GET_sBx(i);
		VM_NEXT();
	VM_CASE(JMPT)
		if (rv_op_truthy(vm, RA()))
			pc += RV_GET_sBx(i);
		VM_NEXT();
	VM_CASE(MATCH)
		return RV_VM_MATCH;
	VM_CASE(MISS)
		return RV_VM_MISS;
	VM_CASE(YIELD)
		if (out)
			*out = *RA();
		return RV_VM_YIELD;
#if !RV_USE_COMPUTED_GOTO
	default:
		return RV_VM_FAULT; /* unreachable: opcodes are verified */
	}
#endif
}
