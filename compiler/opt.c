/*
 * opt.c -- IR optimisation of one block: constant folding, constant-jump
 * threading, unreachable-code and dead-store elimination.
 *
 * The passes repeat while the block's instruction count shrinks (a measure
 * that strictly decreases, so the loop ends without an arbitrary cap; STYLE
 * §14). Folding uses rc_fold_arith(), the same arithmetic sema uses for its
 * constant checks, so a folded program computes exactly what the VM would.
 * Jumps only go forward, which makes liveness one backward sweep.
 * (The merging of all rules into one shared matcher is separate work.)
 */
#include "config.h"
#include "ir.h"

#include <string.h>

#include "alloc.h"

#define INSN(blk, i) (&RU_VEC_AT((blk)->insns, struct rc_ir_insn, (i)))

/* Value of a constant if it is a number or a bool; kind in *kind. */
static int
const_value(struct rc_rbc *rbc, uint32_t k, unsigned *kind, double *num)
{
	const struct rv_const *c = rc_rbc_at(rbc, RV_SEC_CONSTS, k);

	*kind = c->kind;
	if (c->kind == RV_K_NUM) {
		memcpy(num, &c->b, sizeof *num);
		return 1;
	}
	if (c->kind == RV_K_BOOL) {
		*num = c->a;
		return 1;
	}
	return 0;
}

/* Folds an arithmetic or comparison of two known number constants. */
static int
fold(struct rc_rbc *rbc, unsigned op, uint32_t kb, uint32_t kc, uint32_t *out)
{
	unsigned tb, tc;
	double b, c, r;
	int cmp;

	if (!const_value(rbc, kb, &tb, &b) || tb != RV_K_NUM)
		return 0;
	if (op == RV_OP_NEG) {
		if (rc_fold_arith('n', b, 0, &r) < 0)
			return 0;
		*out = rc_rbc_k_num(rbc, r);
		return 1;
	}
	if (!const_value(rbc, kc, &tc, &c) || tc != RV_K_NUM)
		return 0;
	switch (op) {
	case RV_OP_ADD: cmp = '+'; break;
	case RV_OP_SUB: cmp = '-'; break;
	case RV_OP_MUL: cmp = '*'; break;
	case RV_OP_DIV: cmp = '/'; break;
	case RV_OP_MOD: cmp = '%'; break;
	case RV_OP_EQ: *out = rc_rbc_k_bool(rbc, b == c); return 1;
	case RV_OP_NE: *out = rc_rbc_k_bool(rbc, b != c); return 1;
	case RV_OP_LT: *out = rc_rbc_k_bool(rbc, b < c); return 1;
	case RV_OP_LE: *out = rc_rbc_k_bool(rbc, b <= c); return 1;
	case RV_OP_GT: *out = rc_rbc_k_bool(rbc, b > c); return 1;
	case RV_OP_GE: *out = rc_rbc_k_bool(rbc, b >= c); return 1;
	default: return 0;
	}
	if (rc_fold_arith(cmp, b, c, &r) < 0)
		return 0; /* leave x/0 to the VM: it yields missing */
	*out = rc_rbc_k_num(rbc, r);
	return 1;
}

/*
 * Forward pass: track which registers hold a known constant (forgotten at
 * labels, where paths merge) and fold what can be folded.
 */
static void
pass_fold(struct rc_rbc *rbc, struct rc_ir_block *blk)
{
	uint32_t known[RV_MAX_REGS];
	size_t i;
	uint32_t k;
	unsigned kind;
	double v;

	memset(known, 0xff, sizeof known);
	for (i = 0; i < blk->insns.n; i++) {
		struct rc_ir_insn *in = INSN(blk, i);

		switch (in->op) {
		case RC_IR_LABEL:
			memset(known, 0xff, sizeof known);
			continue;
		case RV_OP_LOADK:
			known[in->a] = in->k;
			continue;
		case RV_OP_MOVE:
			known[in->a] = known[in->b];
			continue;
		case RV_OP_NEG:
			if (known[in->b] != RV_NONE && fold(rbc, in->op, known[in->b], 0, &k)) {
				in->op = RV_OP_LOADK;
				in->k = k;
				known[in->a] = k;
				continue;
			}
			break;
		case RV_OP_ADD: case RV_OP_SUB: case RV_OP_MUL: case RV_OP_DIV: case RV_OP_MOD:
		case RV_OP_EQ: case RV_OP_NE: case RV_OP_LT: case RV_OP_LE: case RV_OP_GT: case RV_OP_GE:
			if (known[in->b] != RV_NONE && known[in->c] != RV_NONE
			    && fold(rbc, in->op, known[in->b], known[in->c], &k)) {
				in->op = RV_OP_LOADK;
				in->k = k;
				known[in->a] = k;
				continue;
			}
			break;
		case RV_OP_NOT:
			if (known[in->b] != RV_NONE && const_value(rbc, known[in->b], &kind, &v)
			    && kind == RV_K_BOOL) {
				in->op = RV_OP_LOADK;
				in->k = rc_rbc_k_bool(rbc, v == 0);
				known[in->a] = in->k;
				continue;
			}
			break;
		case RV_OP_JMPF:
		case RV_OP_JMPT:
			if (known[in->a] != RV_NONE && const_value(rbc, known[in->a], &kind, &v)
			    && kind == RV_K_BOOL) {
				int taken = (in->op == RV_OP_JMPT) == (v != 0);

				in->op = taken ? RV_OP_JMP : RC_IR_DEAD;
			}
			continue;
		default:
			break;
		}
		if (in->op < RV_NUM_OPS && (rv_opinfo[in->op].flags & RV_OPF_OUT_A))
			known[in->a] = RV_NONE;
	}
}

/* Drops RC_IR_DEAD instructions. */
static void
compact(struct rc_ir_block *blk)
{
	size_t i, n = 0;

	for (i = 0; i < blk->insns.n; i++)
		if (INSN(blk, i)->op != RC_IR_DEAD)
			*INSN(blk, n++) = *INSN(blk, i);
	blk->insns.n = n;
}

/*
 * Does op never fall through (JMP, MATCH, MISS, YIELD)? Code after it is
 * dead up to the next used label.
 */
static int
is_transfer(unsigned op)
{
	return op == RV_OP_JMP || op == RV_OP_MATCH || op == RV_OP_MISS || op == RV_OP_YIELD;
}

/*
 * Removes code after an unconditional transfer up to the next label that is
 * jumped to, jumps to the label right after them, and labels nobody uses.
 */
static void
pass_flow(struct rc_ir_block *blk)
{
	unsigned *refs = ru_xcalloc(blk->nlabels + 1, sizeof *refs);
	size_t i, j;
	int dead = 0;

	for (i = 0; i < blk->insns.n; i++) {
		struct rc_ir_insn *in = INSN(blk, i);

		if (in->op < RV_NUM_OPS && (rv_opinfo[in->op].flags & RV_OPF_JUMP))
			refs[in->target]++;
	}
	/* a jump whose target label follows it with only labels between */
	for (i = 0; i < blk->insns.n; i++) {
		struct rc_ir_insn *in = INSN(blk, i);

		if (in->op >= RV_NUM_OPS || !(rv_opinfo[in->op].flags & RV_OPF_JUMP))
			continue;
		for (j = i + 1; j < blk->insns.n && INSN(blk, j)->op == RC_IR_LABEL; j++) {
			if (INSN(blk, j)->k == in->target) {
				refs[in->target]--;
				in->op = RC_IR_DEAD;
				break;
			}
		}
	}
	for (i = 0; i < blk->insns.n; i++) {
		struct rc_ir_insn *in = INSN(blk, i);

		if (in->op == RC_IR_DEAD)
			continue;
		if (in->op == RC_IR_LABEL) {
			if (refs[in->k] == 0)
				in->op = RC_IR_DEAD;
			else
				dead = 0;
			continue;
		}
		if (dead) {
			if (rv_opinfo[in->op].flags & RV_OPF_JUMP)
				refs[in->target]--;
			in->op = RC_IR_DEAD;
			continue;
		}
		if (is_transfer(in->op))
			dead = 1;
	}
	ru_free(refs);
	compact(blk);
}

/* Registers an instruction reads, as a bitmask over 256 registers. */
struct regset {
	uint64_t w[RV_MAX_REGS / 64];
};

/* Adds register r (< RV_MAX_REGS) to s. */
static void
rs_add(struct regset *s, unsigned r)
{
	s->w[r / 64] |= (uint64_t)1 << (r % 64);
}

/* Removes register r from s. */
static void
rs_del(struct regset *s, unsigned r)
{
	s->w[r / 64] &= ~((uint64_t)1 << (r % 64));
}

/* Returns 1 if register r is in s, else 0. */
static int
rs_has(const struct regset *s, unsigned r)
{
	return (s->w[r / 64] >> (r % 64)) & 1;
}

/* Adds every register of s to d. */
static void
rs_union(struct regset *d, const struct regset *s)
{
	unsigned i;

	for (i = 0; i < RV_MAX_REGS / 64; i++)
		d->w[i] |= s->w[i];
}

/*
 * Backward liveness sweep; an instruction that only writes a register no
 * later instruction reads is removed. CALL reads its argument run, whose
 * length is the builtin's arity: conservatively, every register from C up
 * to A's frame is kept live by treating CALL as reading C .. nregs-1.
 */
static void
pass_dead(struct rc_ir_block *blk)
{
	struct regset live, *at_label = ru_xcalloc(blk->nlabels + 1, sizeof *at_label);
	size_t i;
	unsigned r;

	memset(&live, 0, sizeof live);
	for (i = blk->insns.n; i-- > 0;) {
		struct rc_ir_insn *in = INSN(blk, i);
		unsigned f;

		if (in->op == RC_IR_LABEL) {
			at_label[in->k] = live;
			continue;
		}
		if (in->op >= RV_NUM_OPS)
			continue;
		f = rv_opinfo[in->op].flags;
		switch (in->op) {
		case RV_OP_MATCH:
		case RV_OP_MISS:
			memset(&live, 0, sizeof live);
			continue;
		case RV_OP_YIELD:
			memset(&live, 0, sizeof live);
			rs_add(&live, in->a);
			continue;
		case RV_OP_JMP:
			live = at_label[in->target];
			continue;
		case RV_OP_JMPF:
		case RV_OP_JMPT:
			rs_union(&live, &at_label[in->target]);
			rs_add(&live, in->a);
			continue;
		default:
			break;
		}
		if ((f & RV_OPF_OUT_A) && !rs_has(&live, in->a)) {
			in->op = RC_IR_DEAD; /* no instruction here has a side effect */
			continue;
		}
		if (f & RV_OPF_OUT_A)
			rs_del(&live, in->a);
		if (f & RV_OPF_READ_A)
			rs_add(&live, in->a);
		if (f & RV_OPF_READ_B)
			rs_add(&live, in->b);
		if (f & RV_OPF_READ_C)
			rs_add(&live, in->c);
		if (in->op == RV_OP_CALL)
			for (r = in->c; r < blk->nregs; r++)
				rs_add(&live, r);
		if (in->op == RV_OP_MKLIST)
			for (r = in->b; r < in->b + in->c; r++)
				rs_add(&live, r);
	}
	ru_free(at_label);
	compact(blk);
}

void
rc_opt_normalize(struct rc_ir_block *blk)
{
	pass_flow(blk);
}

void
rc_opt_block(struct rc_rbc *rbc, struct rc_ir_block *blk)
{
	size_t before;

	do {
		before = blk->insns.n;
		pass_fold(rbc, blk);
		compact(blk);
		pass_flow(blk);
		pass_dead(blk);
	} while (blk->insns.n < before);
}
