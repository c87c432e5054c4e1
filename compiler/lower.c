/*
 * lower.c -- checked AST to IR: rule conditions and action values.
 *
 * Registers are allocated as a stack (after Lua's freereg): an expression's
 * value goes into the register it is given, its operands into the next free
 * ones, which are released when it is done. Call arguments are therefore
 * consecutive and the register count is bounded by the expression depth.
 * Conditions are lowered to jumps (short-circuit `and`/`or`), values to a
 * register. Constants and fields are interned in the .rbc builder as they
 * are met.
 */
#include "config.h"
#include "ir.h"

#include <string.h>

#include "builtins.h"
#include "sema.h"

/* Appends an instruction to the current block; returns it. */
static struct rc_ir_insn *
emit(struct rc_lower *L, unsigned op, unsigned a, unsigned b, unsigned c, struct rl_span span)
{
	struct rc_ir_insn *i = ru_vec_push(L->arena, &L->blk->insns, sizeof *i);

	i->op = op;
	i->a = a;
	i->b = b;
	i->c = c;
	i->span = span;
	return i;
}

/* Returns a fresh label of the current block, to be placed by place_label. */
static uint32_t
new_label(struct rc_lower *L)
{
	return L->blk->nlabels++;
}

/* label:  (a LABEL pseudo-instruction, made a pc when the block is written) */
static void
place_label(struct rc_lower *L, uint32_t label, struct rl_span span)
{
	emit(L, RC_IR_LABEL, 0, 0, 0, span)->k = label;
}

/* OP A -> label  (op a jump opcode; the offset is filled in by emit_block) */
static void
jump(struct rc_lower *L, unsigned op, unsigned a, uint32_t label, struct rl_span span)
{
	emit(L, op, a, 0, 0, span)->target = label;
}

/* Reserves the next register; reports once when a rule needs too many. */
static unsigned
alloc_reg(struct rc_lower *L, struct rl_span span)
{
	unsigned r = L->freereg;

	if (r >= RV_MAX_REGS) {
		if (!L->failed)
			rl_diag(L->diag, RL_E_TOO_MANY, span, "registers in one rule", RV_MAX_REGS);
		L->failed = 1;
		return RV_MAX_REGS - 1;
	}
	L->freereg++;
	if (L->freereg > L->blk->nregs)
		L->blk->nregs = L->freereg;
	return r;
}

/* Releases register r and every register above it. */
static void
free_to(struct rc_lower *L, unsigned r)
{
	if (r < L->freereg)
		L->freereg = r;
}

uint32_t
rc_lower_field(struct rc_lower *L, const struct rc_fieldref *fr)
{
	size_t *lens = ru_arena_alloc(L->arena, (fr->nseg + 1) * sizeof *lens);
	unsigned i;

	uint32_t src, dst;
	size_t j;

	for (i = 0; i < fr->nseg; i++)
		lens[i] = strlen(fr->segs[i]);
	src = rc_rbc_field(L->rbc, fr->segs, lens, fr->nseg, fr->meta ? RV_FW_META : RV_FW_PAYLOAD, fr->type);
	if (!L->capture)
		return src;
	if (fr->second)
		return src; /* the current event: the one that completes a sequence */
	/*
	 * The first event's value, kept with the pending match: a CAPTURE
	 * field of the same path ("@id" for the envelope's id).
	 */
	{
		const char **segs = ru_arena_alloc(L->arena, (fr->nseg + 1) * sizeof *segs);

		for (i = 0; i < fr->nseg; i++)
			segs[i] = fr->segs[i];
		if (fr->meta) {
			segs[0] = ru_arena_printf(L->arena, "@%s", fr->segs[0]);
			lens[0]++;
		}
		dst = rc_rbc_field(L->rbc, segs, lens, fr->nseg, RV_FW_CAPTURE, fr->type);
	}
	for (j = 0; j < L->caps.n; j += 2)
		if (RU_VEC_AT(L->caps, uint32_t, j + 1) == dst)
			return dst;
	*(uint32_t *)ru_vec_push(L->caps_arena, &L->caps, sizeof(uint32_t)) = src;
	*(uint32_t *)ru_vec_push(L->caps_arena, &L->caps, sizeof(uint32_t)) = dst;
	return dst;
}

/* The constant of a literal (numbers folded from unary minus by sema). */
static uint32_t
lit_const(struct rc_lower *L, const struct rl_node *e)
{
	double d;

	if (e->kind != RL_N_LIT && rc_const_number(e, &d))
		return rc_rbc_k_num(L->rbc, d);
	switch (e->v->kind) {
	case RL_V_NULL: return rc_rbc_k_null(L->rbc);
	case RL_V_BOOL: return rc_rbc_k_bool(L->rbc, e->v->b);
	case RL_V_NUM: return rc_rbc_k_num(L->rbc, e->v->num);
	case RL_V_STR: return rc_rbc_k_str(L->rbc, e->v->str, e->v->len);
	case RL_V_DURATION: return rc_rbc_k_duration(L->rbc, e->v->ms);
	case RL_V_RATE: return rc_rbc_k_rate(L->rbc, e->v->num);
	case RL_V_CIDR: return rc_rbc_k_cidr(L->rbc, e->v->family, e->v->addr, e->v->prefix);
	}
	return rc_rbc_k_null(L->rbc);
}

/* LOADK dst, K[k]  (LOADKX + EXTRAARG when k does not fit in Bx) */
static void
loadk(struct rc_lower *L, unsigned dst, uint32_t k, struct rl_span span)
{
	emit(L, RV_OP_LOADK, dst, 0, 0, span)->k = k;
}

static void expr_into(struct rc_lower *L, struct rl_node *e, unsigned dst);

/* dst := R(a) op K(k): the left operand into dst, the constant beside it. */
static void
op_const(struct rc_lower *L, unsigned op, struct rl_node *a, uint32_t k, unsigned dst,
	struct rl_span span)
{
	unsigned t;

	expr_into(L, a, dst);
	t = alloc_reg(L, span);
	loadk(L, t, k, span);
	emit(L, op, dst, dst, t, span);
	free_to(L, t);
}

/*
 * Is e a constant operand? Literals and negated numbers always are; other
 * constant arithmetic (2 * 25000) only when folding (-O1 and up), so that
 * -O0 keeps the code as written.
 */
static int
is_const(const struct rc_lower *L, const struct rl_node *e)
{
	double d;

	if (e->kind == RL_N_LIT)
		return 1;
	if (e->kind == RL_N_NEG && e->a->kind == RL_N_LIT)
		return 1;
	return L->fold && rc_const_number(e, &d);
}

/* cmp: `a OP b`, with the non-constant side first (any-element semantics) */
static void
lower_cmp(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	static const unsigned ops[] = { RV_OP_EQ, RV_OP_NE, RV_OP_LT, RV_OP_LE,
		RV_OP_GT, RV_OP_GE, RV_OP_IEQ, RV_OP_INE };
	static const int mirror[] = { RL_EQ, RL_NE, RL_GT, RL_GE, RL_LT, RL_LE, RL_IEQ, RL_INE };
	struct rl_node *a = e->a, *b = e->b;
	int op = e->op;
	unsigned t;

	if (is_const(L, a) && !is_const(L, b)) {
		a = e->b;
		b = e->a;
		op = mirror[op];
	}
	if (b->kind == RL_N_LIT && b->v->kind == RL_V_CIDR) {
		op_const(L, op == RL_NE ? RV_OP_NCIDR : RV_OP_CIDR, a, lit_const(L, b), dst, e->span);
		return;
	}
	if (is_const(L, b)) {
		op_const(L, ops[op], a, lit_const(L, b), dst, e->span);
		return;
	}
	expr_into(L, a, dst);
	t = alloc_reg(L, e->span);
	expr_into(L, b, t);
	emit(L, ops[op], dst, dst, t, e->span);
	free_to(L, t);
}

/*
 * a OP "k":     <a into dst>; LOADK t k; OP dst dst t
 * (matches/imatches load a REGEX constant, caseless for imatches)
 */
static void
lower_strop(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	static const unsigned ops[] = { RV_OP_PREFIX, RV_OP_SUFFIX, RV_OP_CONTAINS,
		RV_OP_IPREFIX, RV_OP_ISUFFIX, RV_OP_ICONTAINS, RV_OP_LIKE, RV_OP_ILIKE,
		RV_OP_MATCHES, RV_OP_MATCHES };
	uint32_t k;

	if (e->op == RL_MATCHES || e->op == RL_IMATCHES)
		k = rc_rbc_k_regex(L->rbc, e->b->v->str, e->b->v->len,
			e->op == RL_IMATCHES ? RV_KF_CASELESS : 0);
	else
		k = rc_rbc_k_str(L->rbc, e->b->v->str, e->b->v->len);
	op_const(L, ops[e->op], e->a, k, dst, e->span);
}

/* x [not] in [members]: one SET constant; CIDR members use the CIDR ops */
static void
lower_in(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	unsigned n = rl_list_len(e->b->a), i = 0;
	uint32_t *items = ru_arena_alloc(L->arena, (n ? n : 1) * sizeof *items), k;
	struct rl_node *m;
	int cidr = e->b->a && e->b->a->kind == RL_N_LIT && e->b->a->v->kind == RL_V_CIDR;

	for (m = e->b->a; m; m = m->next)
		items[i++] = lit_const(L, m);
	k = rc_rbc_k_set(L->rbc, items, n, 0);
	if (cidr)
		op_const(L, e->flag ? RV_OP_NCIDR : RV_OP_CIDR, e->a, k, dst, e->span);
	else
		op_const(L, e->flag ? RV_OP_NIN : RV_OP_IN, e->a, k, dst, e->span);
}

/* a in lo..hi:   <a into dst>; LOADK t range(lo, hi); RANGE dst dst t */
static void
lower_range(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	uint32_t k = rc_rbc_k_range(L->rbc, lit_const(L, e->b), lit_const(L, e->c),
		e->flag ? RV_KF_HI_OPEN : 0);

	op_const(L, RV_OP_RANGE, e->a, k, dst, e->span);
}

/* Logical operators in value position: short-circuit into dst. */
static void
lower_logic(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	uint32_t done;

	if (e->kind == RL_N_NOT) {
		expr_into(L, e->a, dst);
		emit(L, RV_OP_NOT, dst, dst, 0, e->span);
		return;
	}
	done = new_label(L);
	expr_into(L, e->a, dst);
	jump(L, e->kind == RL_N_AND ? RV_OP_JMPF : RV_OP_JMPT, dst, done, e->span);
	expr_into(L, e->b, dst);
	place_label(L, done, e->span);
}

/* The argument field of aggregate call e (NULL for count() and rate()). */
static const struct rc_fieldref *
agg_field(const struct rl_node *e)
{
	return e->a && e->a->kind == RL_N_PATH ? e->a->sema : NULL;
}

/* Is e a call of an aggregate (count(), sum(f), ...)? */
int
rc_is_aggregate(const struct rl_node *e)
{
	unsigned i;

	if (e->kind != RL_N_CALL)
		return 0;
	for (i = 0; rc_aggregates[i]; i++)
		if (strcmp(e->name, rc_aggregates[i]) == 0)
			return 1;
	return 0;
}

/* An aggregate in an aggregate block:  AGG dst a<index> (one index per distinct call). */
static void
lower_aggregate(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	unsigned i;

	if (L->aggs == NULL) { /* not in an aggregate block: emit.c never lets this happen */
		loadk(L, dst, rc_rbc_k_null(L->rbc), e->span);
		return;
	}
	for (i = 0; i < L->aggs->n; i++)
		if (strcmp(L->aggs->calls[i]->name, e->name) == 0 && agg_field(L->aggs->calls[i]) == agg_field(e))
			break;
	if (i == L->aggs->n) {
		if (L->aggs->n == sizeof L->aggs->calls / sizeof L->aggs->calls[0]) {
			L->aggs->overflow = 1;
			i = 0;
		} else {
			L->aggs->calls[L->aggs->n++] = e;
		}
	}
	emit(L, RV_OP_AGG, dst, i, 0, e->span);
}

/* f(x, ...):  <x into t1>, ...; CALL dst builtin t1 */
static void
lower_call(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	unsigned first = L->freereg;
	struct rl_node *arg;
	uint32_t b;

	if (rc_is_aggregate(e)) {
		lower_aggregate(L, e, dst);
		return;
	}
	b = rc_rbc_builtin(L->rbc, rb_builtins[e->num].name);

	for (arg = e->a; arg; arg = arg->next)
		expr_into(L, arg, alloc_reg(L, arg->span));
	emit(L, RV_OP_CALL, dst, b, first, e->span);
	free_to(L, first);
}

/* Evaluates e into register dst, using registers above freereg as scratch. */
static void
expr_into(struct rc_lower *L, struct rl_node *e, unsigned dst)
{
	static const struct { int op; unsigned vm; } arith[] = {
		{ '+', RV_OP_ADD }, { '-', RV_OP_SUB }, { '*', RV_OP_MUL },
		{ '/', RV_OP_DIV }, { '%', RV_OP_MOD },
	};
	unsigned t, i;

	if (L->failed)
		return;
	if (e->kind != RL_N_LIT && (e->kind == RL_N_NEG || e->kind == RL_N_ARITH) && is_const(L, e)) {
		loadk(L, dst, lit_const(L, e), e->span);
		return;
	}
	switch (e->kind) {
	case RL_N_LIT:
		loadk(L, dst, lit_const(L, e), e->span);
		break;
	case RL_N_PATH:
		emit(L, RV_OP_LOADF, dst, 0, 0, e->span)->k = rc_lower_field(L, e->sema);
		break;
	case RL_N_CMP: lower_cmp(L, e, dst); break;
	case RL_N_STROP: lower_strop(L, e, dst); break;
	case RL_N_IN: lower_in(L, e, dst); break;
	case RL_N_RANGE: lower_range(L, e, dst); break;
	case RL_N_EXISTS:
		expr_into(L, e->a, dst);
		emit(L, RV_OP_EXISTS, dst, dst, 0, e->span);
		if (e->flag)
			emit(L, RV_OP_NOT, dst, dst, 0, e->span);
		break;
	case RL_N_NOT:
	case RL_N_AND:
	case RL_N_OR:
		lower_logic(L, e, dst);
		break;
	case RL_N_NEG:
		expr_into(L, e->a, dst);
		emit(L, RV_OP_NEG, dst, dst, 0, e->span);
		break;
	case RL_N_ARITH:
		expr_into(L, e->a, dst);
		t = alloc_reg(L, e->span);
		expr_into(L, e->b, t);
		for (i = 0; arith[i].op != e->op; i++)
			;
		emit(L, arith[i].vm, dst, dst, t, e->span);
		free_to(L, t);
		break;
	case RL_N_CALL: lower_call(L, e, dst); break;
	case RL_N_LIST: {
		/* MKLIST dst first n: the elements in consecutive registers */
		unsigned first = L->freereg, n = 0;
		struct rl_node *el;

		for (el = e->a; el; el = el->next, n++)
			expr_into(L, el, alloc_reg(L, el->span));
		emit(L, RV_OP_MKLIST, dst, first, n, e->span);
		free_to(L, first);
		break;
	}
	case RL_N_INDEX:
		t = alloc_reg(L, e->span);
		expr_into(L, e->a, t);
		emit(L, RV_OP_TGET, dst, ((struct rc_table *)e->sema)->index, t, e->span);
		free_to(L, t);
		break;
	default:
		loadk(L, dst, rc_rbc_k_null(L->rbc), e->span);
		break;
	}
}

/*
 * cond_jump: jump to label when e is `when_true`, fall through otherwise.
 *   a and b, jump if false:  a ? : goto L;  b ? : goto L
 *   a or b,  jump if true:   a ? goto L;    b ? goto L
 *   mixed cases go through a local skip label.
 */
static void
cond_jump(struct rc_lower *L, struct rl_node *e, int when_true, uint32_t label)
{
	uint32_t skip;
	unsigned r;

	switch (e->kind) {
	case RL_N_AND:
	case RL_N_OR:
		if ((e->kind == RL_N_AND) == !when_true) {
			cond_jump(L, e->a, when_true, label);
			cond_jump(L, e->b, when_true, label);
			return;
		}
		skip = new_label(L);
		cond_jump(L, e->a, !when_true, skip);
		cond_jump(L, e->b, when_true, label);
		place_label(L, skip, e->span);
		return;
	case RL_N_NOT:
		cond_jump(L, e->a, !when_true, label);
		return;
	case RL_N_EXISTS:
		/* `x missing` jumps on EXISTS with the sense flipped: no NOT */
		r = alloc_reg(L, e->span);
		expr_into(L, e->a, r);
		emit(L, RV_OP_EXISTS, r, r, 0, e->span);
		jump(L, when_true != !e->flag ? RV_OP_JMPF : RV_OP_JMPT, r, label, e->span);
		free_to(L, r);
		return;
	default:
		r = alloc_reg(L, e->span);
		expr_into(L, e, r);
		jump(L, when_true ? RV_OP_JMPT : RV_OP_JMPF, r, label, e->span);
		free_to(L, r);
		return;
	}
}

/* Starts lowering into blk (cleared) of the given kind, all registers free. */
static void
begin(struct rc_lower *L, struct rc_ir_block *blk, enum rc_blk_kind kind)
{
	memset(blk, 0, sizeof *blk);
	blk->kind = kind;
	L->blk = blk;
	L->freereg = 0;
}

/*
 * Condition block:   <when, jumping to miss if false>
 *                    MATCH
 *              miss: MISS
 */
void
rc_lower_cond(struct rc_lower *L, struct rc_ir_block *blk, struct rl_node *when, struct rl_span at)
{
	uint32_t miss;

	begin(L, blk, RC_BLK_COND);
	if (when == NULL) {
		emit(L, RV_OP_MATCH, 0, 0, 0, at);
		return;
	}
	miss = new_label(L);
	cond_jump(L, when, 0, miss);
	emit(L, RV_OP_MATCH, 0, 0, 0, when->span);
	place_label(L, miss, when->span);
	emit(L, RV_OP_MISS, 0, 0, 0, when->span);
}

/* Value block:   <e into r0>;  YIELD r0 */
void
rc_lower_value(struct rc_lower *L, struct rc_ir_block *blk, struct rl_node *e)
{
	unsigned r;

	begin(L, blk, RC_BLK_VALUE);
	r = alloc_reg(L, e->span);
	expr_into(L, e, r);
	emit(L, RV_OP_YIELD, r, 0, 0, e->span);
}

unsigned
rc_ir_count(const struct rc_ir_block *blk)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < blk->insns.n; i++) {
		unsigned op = RU_VEC_AT(blk->insns, struct rc_ir_insn, i).op;

		if (op < RV_NUM_OPS)
			n++;
	}
	return n;
}
