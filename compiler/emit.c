/*
 * emit.c -- the .rbc writer's driver; see emit.h.
 *
 * Layout decisions live here: contract fields are flattened to dotted paths
 * (objects first, then their members), rules keep source order, and every
 * rule's condition block is followed by the value blocks of its actions.
 */
#include "config.h"
#include "emit.h"
#include "sema.h"

#include <string.h>

#include <xxhash.h>

#include "alloc.h"
#include "ir.h"
#include "rbc.h"

struct emitter {
	struct rl_program *p;
	struct rc_model *m;
	struct rc_rbc *b;
	struct rc_lower L;
	int opt;
	unsigned max_regs;
	int failed;
	int in_seq;     /* writing a sequence's or absence's actions */
};

/* Interns NUL-terminated s in STRS and returns where it lives. */
static struct rv_str
str(struct emitter *E, const char *s)
{
	return rc_rbc_str(E->b, s, strlen(s));
}

/* ---- contracts -------------------------------------------------------- */

/* The SET constant of t's enum strings, or RV_NONE when t is no enum. */
static uint32_t
enum_set(struct emitter *E, struct rc_ctype *t)
{
	uint32_t *items, n = 0;
	struct rl_node *e;

	if (t->enums == NULL)
		return RV_NONE;
	items = ru_arena_alloc(E->p->arena, t->nenums * sizeof *items);
	for (e = t->enums; e; e = e->next)
		items[n++] = rc_rbc_k_str(E->b, e->v->str, e->v->len);
	return rc_rbc_k_set(E->b, items, n, 0);
}

/* Appends CFIELDS for the members of object type t under prefix. */
static void
emit_cfields(struct emitter *E, struct rc_ctype *t, const char *prefix, uint32_t *count)
{
	struct rc_cfield *f;

	for (f = t->fields; f; f = f->next) {
		struct rc_ctype *leaf = f->type;
		struct rv_cfield *cf;
		const char *path = prefix ? ru_arena_printf(E->p->arena, "%s.%s", prefix, f->name) : f->name;
		unsigned arr = 0;

		while (leaf->base == RV_T_ARRAY) {
			arr = RV_T_ARRAY;
			leaf = leaf->elem;
		}
		cf = rc_rbc_push(E->b, RV_SEC_CFIELDS, NULL);
		cf->path = str(E, path);
		cf->type = (uint8_t)(leaf->base | arr);
		cf->flags = f->optional ? RV_CF_OPTIONAL : 0;
		cf->enum_set = RV_NONE;
		(*count)++;
		/* the pointer may move when constants are added: set it through the index */
		{
			uint32_t idx = rc_rbc_count(E->b, RV_SEC_CFIELDS) - 1;
			uint32_t es = enum_set(E, leaf);

			((struct rv_cfield *)rc_rbc_at(E->b, RV_SEC_CFIELDS, idx))->enum_set = es;
		}
		if (leaf->base == RV_T_OBJECT)
			emit_cfields(E, leaf, path, count);
	}
}

/*
 * Writes TYPES and, per version, CONTRACTS with their CFIELDS; sets the
 * index of every event and contract.
 */
static void
emit_types(struct emitter *E)
{
	size_t i, j;

	for (i = 0; i < E->m->events.n; i++) {
		struct rc_event *ev = RU_VEC_AT(E->m->events, struct rc_event *, i);
		struct rv_type *t = rc_rbc_push(E->b, RV_SEC_TYPES, &ev->index);

		t->name = str(E, ev->name);
		t->contract = rc_rbc_count(E->b, RV_SEC_CONTRACTS);
		t->ncontract = (uint32_t)ev->versions.n;
		for (j = 0; j < ev->versions.n; j++) {
			struct rc_contract *c = RU_VEC_AT(ev->versions, struct rc_contract *, j);
			struct rv_contract *rc = rc_rbc_push(E->b, RV_SEC_CONTRACTS, &c->index);
			uint32_t n = 0, first = rc_rbc_count(E->b, RV_SEC_CFIELDS);

			rc->type = ev->index;
			rc->version = c->version;
			emit_cfields(E, c->root, NULL, &n);
			rc = rc_rbc_at(E->b, RV_SEC_CONTRACTS, c->index);
			rc->cfield = first;
			rc->ncfield = n;
		}
	}
}

/* ---- destinations and tables -------------------------------------------- */

/*
 * Numbers the destinations in declaration order, then writes DESTS (policy,
 * name, dead-letter index or RV_NONE).
 */
static void
emit_dests(struct emitter *E)
{
	size_t i;

	for (i = 0; i < E->m->dests.n; i++)
		RU_VEC_AT(E->m->dests, struct rc_dest *, i)->index = (uint32_t)i;
	for (i = 0; i < E->m->dests.n; i++) {
		struct rc_dest *d = RU_VEC_AT(E->m->dests, struct rc_dest *, i);
		struct rv_dest *rd = rc_rbc_push(E->b, RV_SEC_DESTS, NULL);

		*rd = d->pol;
		rd->name = str(E, d->name);
		rd->dead_letter = d->dead_letter ? d->dead_letter->index : RV_NONE;
	}
}

/*
 * Numbers the tables, then writes TABLES; key and value paths are interned
 * as FIELDS (RV_NONE when absent).
 */
static void
emit_tables(struct emitter *E)
{
	size_t i;

	for (i = 0; i < E->m->tables.n; i++)
		RU_VEC_AT(E->m->tables, struct rc_table *, i)->index = (uint32_t)i;
	for (i = 0; i < E->m->tables.n; i++) {
		struct rc_table *t = RU_VEC_AT(E->m->tables, struct rc_table *, i);
		uint32_t key = t->key_path && t->key_path->sema ? rc_lower_field(&E->L, t->key_path->sema) : RV_NONE;
		uint32_t val = t->value_path && t->value_path->sema ? rc_lower_field(&E->L, t->value_path->sema) : RV_NONE;
		struct rv_table *rt = rc_rbc_push(E->b, RV_SEC_TABLES, NULL);

		rt->name = str(E, t->name);
		rt->key_type = (uint8_t)t->key_type;
		rt->value_type = (uint8_t)t->value_type;
		rt->from_type = t->from ? t->from->index : 0;
		rt->key_field = key;
		rt->value_field = val;
		rt->del_type = t->del ? t->del->index : RV_NONE;
		rt->del_key_field = t->del ? key : RV_NONE;
		rt->max_keys = t->max_keys;
		rt->ttl_ms = t->ttl_ms;
	}
}

/* ---- code ------------------------------------------------------------- */

/*
 * Does in take two words (LOADKX/LOADFX + EXTRAARG): a LOADK or LOADF
 * whose index is above RV_MAX_Bx?
 */
static int
wide(const struct rc_ir_insn *in)
{
	return (in->op == RV_OP_LOADK || in->op == RV_OP_LOADF) && in->k > RV_MAX_Bx;
}

/*
 * Writes blk into CODE with its line entries. Labels become forward offsets:
 * a first pass sizes every instruction (LOADK/LOADF with a large index take
 * two words), a second writes them. Returns the block's first pc.
 */
static uint32_t
emit_block(struct emitter *E, struct rc_ir_block *blk)
{
	uint32_t *label_pc = ru_xcalloc(blk->nlabels + 1, sizeof *label_pc);
	uint32_t start = rc_rbc_count(E->b, RV_SEC_CODE), pc = start, first = start;
	size_t i;

	if (E->opt)
		rc_opt_block(E->b, blk);
	else
		rc_opt_normalize(blk);
	if (blk->nregs > E->max_regs)
		E->max_regs = blk->nregs;
	for (i = 0; i < blk->insns.n; i++) {
		struct rc_ir_insn *in = &RU_VEC_AT(blk->insns, struct rc_ir_insn, i);

		if (in->op == RC_IR_LABEL)
			label_pc[in->k] = pc;
		else if (in->op < RV_NUM_OPS)
			pc += wide(in) ? 2 : 1;
	}
	pc = start;
	for (i = 0; i < blk->insns.n; i++) {
		struct rc_ir_insn *in = &RU_VEC_AT(blk->insns, struct rc_ir_insn, i);
		const struct rl_srcfile *f;
		uint32_t line, col, word;
		long off;

		if (in->op >= RV_NUM_OPS)
			continue;
		if ((f = rl_srcset_get(&E->p->src, in->span.file)) != NULL) {
			rl_srcfile_locate(f, in->span.start, &line, &col);
			rc_rbc_line(E->b, pc, in->span.file, line, col);
		}
		switch (rv_opinfo[in->op].fmt) {
		case RV_FMT_ABx:
			if (wide(in)) {
				rc_rbc_emit_code(E->b, RV_MK_ABC(in->op == RV_OP_LOADK ? RV_OP_LOADKX : RV_OP_LOADFX, in->a, 0, 0));
				word = RV_MK_Ax(RV_OP_EXTRAARG, in->k);
				pc++;
			} else {
				word = RV_MK_ABx(in->op, in->a, in->k);
			}
			break;
		case RV_FMT_AsBx:
			off = (long)label_pc[in->target] - (long)(pc + 1);
			if (off > RV_MAX_sBx) {
				if (!E->failed)
					rl_diag(E->p->diag, RL_E_TOO_MANY, in->span,
						"instructions in one rule condition", (unsigned)RV_MAX_sBx);
				E->failed = 1;
				off = 0;
			}
			word = RV_MK_ABx(in->op, in->a, (uint32_t)off);
			break;
		case RV_FMT_sJ:
			off = (long)label_pc[in->target] - (long)(pc + 1);
			word = RV_MK_Ax(in->op, (uint32_t)off);
			break;
		default:
			word = RV_MK_ABC(in->op, in->a, in->b, in->c);
			break;
		}
		rc_rbc_emit_code(E->b, word);
		pc++;
	}
	ru_free(label_pc);
	return first;
}

/*
 * Lowers action value e into its own block and writes it; returns its
 * first pc.
 */
static uint32_t
value_block(struct emitter *E, struct rl_node *e)
{
	struct rc_ir_block blk;

	E->L.capture = E->in_seq; /* the first event's paths read its captured values */
	rc_lower_value(&E->L, &blk, e);
	E->L.capture = 0;
	return emit_block(E, &blk);
}

/* ---- temporal rules ------------------------------------------------------ */

/* Does e contain an aggregate call? */
static int
has_aggregate(const struct rl_node *e)
{
	const struct rl_node *kids[3], *k;
	unsigned i;

	if (e == NULL)
		return 0;
	if (rc_is_aggregate(e))
		return 1;
	kids[0] = e->a;
	kids[1] = e->b;
	kids[2] = e->c;
	for (i = 0; i < 3; i++)
		for (k = kids[i]; k; k = k->next)
			if (has_aggregate(k))
				return 1;
	return 0;
}

/* x and y (either may be NULL), as a new node in the compilation's arena. */
static struct rl_node *
mk_and(struct emitter *E, struct rl_node *x, struct rl_node *y)
{
	struct rl_node *n;

	if (x == NULL)
		return y;
	if (y == NULL)
		return x;
	n = ru_arena_alloc(E->p->arena, sizeof *n);
	memset(n, 0, sizeof *n);
	n->kind = RL_N_AND;
	n->a = x;
	n->b = y;
	n->span = x->span;
	n->span.end = y->span.end;
	n->depth = (x->depth > y->depth ? x->depth : y->depth) + 1;
	n->ty = x->ty;
	return n;
}

/*
 * Splits condition e into its top-level `and` conjuncts with aggregates
 * (*agg: tested once the event is in the window) and without (*filter:
 * which events enter it), each kept in source order.
 */
static void
split_when(struct emitter *E, struct rl_node *e, struct rl_node **filter, struct rl_node **agg)
{
	if (e == NULL)
		return;
	if (e->kind == RL_N_AND) {
		split_when(E, e->a, filter, agg);
		split_when(E, e->b, filter, agg);
		return;
	}
	if (has_aggregate(e))
		*agg = mk_and(E, *agg, e);
	else
		*filter = mk_and(E, *filter, e);
}

/* The first clause of tumbling-window rule r that cannot go with `every`, or NULL. */
static struct rl_node *
every_incompatible(struct rc_rule *r)
{
	if (r->c_within)
		return r->c_within;
	if (r->c_throttle)
		return r->c_throttle;
	if (r->c_dedup)
		return r->c_dedup;
	if (r->c_backpressure)
		return r->c_backpressure;
	if (r->c_then)
		return r->c_then;
	if (r->c_unless)
		return r->c_unless;
	return NULL;
}

/* The first path under e that is not one of the `by` paths of r, or NULL. */
static const struct rl_node *
non_key_path(const struct rc_rule *r, const struct rl_node *e)
{
	const struct rl_node *kids[5], *k, *bad;
	unsigned i;

	if (e == NULL)
		return NULL;
	if (e->kind == RL_N_PATH && e->sema) {
		const struct rc_fieldref *fr = e->sema;
		const struct rl_node *b;

		for (b = r->c_by ? r->c_by->a : NULL; b; b = b->next) {
			const struct rc_fieldref *kr = b->sema;

			if (kr && kr->meta == fr->meta && strcmp(kr->name, fr->name) == 0)
				return NULL;
		}
		return e;
	}
	kids[0] = e->a;
	kids[1] = e->b;
	kids[2] = e->c;
	kids[3] = e->x;
	kids[4] = e->y;
	for (i = 0; i < 5; i++)
		for (k = kids[i]; k; k = k->next)
			if ((bad = non_key_path(r, k)) != NULL)
				return bad;
	return NULL;
}

/* Does e call distinct()? */
static int
has_distinct(const struct rl_node *e)
{
	const struct rl_node *kids[3], *k;
	unsigned i;

	if (e == NULL)
		return 0;
	if (rc_is_aggregate(e) && strcmp(e->name, "distinct") == 0)
		return 1;
	kids[0] = e->a;
	kids[1] = e->b;
	kids[2] = e->c;
	for (i = 0; i < 3; i++)
		for (k = kids[i]; k; k = k->next)
			if (has_distinct(k))
				return 1;
	return 0;
}

/*
 * A tumbling-window rule's limits: no current event at a period's end, so
 * only `emit` with values from the `by` keys (and literals); no throttle,
 * dedup, backpressure or sequence; no distinct(). Reports the first
 * problem and returns 1.
 */
static int
every_refused(struct emitter *E, struct rc_rule *r)
{
	struct rl_node *bad;
	size_t i, j;

	if ((bad = every_incompatible(r)) != NULL) {
		rl_diag(E->p->diag, RL_E_EVERY_WITH, bad->span, rl_kind_name(bad->kind));
		return 1;
	}
	if (has_distinct(r->when)) {
		rl_diag(E->p->diag, RL_E_EVERY_WITH, r->when->span, "distinct()");
		return 1;
	}
	if (r->routes.n > 0 || r->sets.n > 0) {
		for (bad = r->decl->c; bad && bad->kind != RL_N_ROUTE && bad->kind != RL_N_SET; bad = bad->next)
			;
		rl_diag(E->p->diag, RL_E_EVERY_WITH, bad ? bad->span : r->decl->span, bad ? rl_kind_name(bad->kind) : "route");
		return 1;
	}
	for (i = 0; i < r->emits.n; i++) {
		struct rc_emit *em = &RU_VEC_AT(r->emits, struct rc_emit, i);

		for (j = 0; j < em->fields.n; j++) {
			const struct rl_node *p = non_key_path(r, RU_VEC_AT(em->fields, struct rc_assign, j).value);

			if (p != NULL) {
				rl_diag(E->p->diag, RL_E_EVERY_VALUE, p->span, ((const struct rc_fieldref *)p->sema)->name);
				return 1;
			}
		}
	}
	return 0;
}

/* The first clause of sequence/absence rule r that cannot go with it, or NULL. */
static struct rl_node *
seq_incompatible(struct rc_rule *r)
{
	if (r->c_every)
		return r->c_every;
	if (r->c_throttle)
		return r->c_throttle;
	if (r->c_dedup)
		return r->c_dedup;
	if (r->c_backpressure)
		return r->c_backpressure;
	return NULL;
}

/*
 * Finds the paths under e: *first when one reads the rule's own event,
 * *second when one reads the `then`/`unless` event; *at is the first
 * path of the second event met (for messages).
 */
static void
event_refs(const struct rl_node *e, int *first, int *second, const struct rl_node **at)
{
	const struct rl_node *kids[5], *k;
	unsigned i;

	if (e == NULL)
		return;
	if (e->kind == RL_N_PATH && e->sema) {
		const struct rc_fieldref *fr = e->sema;

		if (fr->second) {
			*second = 1;
			if (*at == NULL)
				*at = e;
		} else {
			*first = 1;
		}
	}
	kids[0] = e->a;
	kids[1] = e->b;
	kids[2] = e->c;
	kids[3] = e->x;
	kids[4] = e->y;
	for (i = 0; i < 5; i++)
		for (k = kids[i]; k; k = k->next)
			event_refs(k, first, second, at);
}

/* The parts of a sequence's `where`: correlation pairs, B's filter, A's extra filter. */
struct seq_where {
	struct rl_node *bcond;   /* conjuncts on the second event alone */
	struct rl_node *acond;   /* conjuncts on the first event alone (added to `when`) */
	struct rl_node *pairs[64][2]; /* borrows: (first event's path, second's) of each equality */
	unsigned npairs;
	int failed;
};

/*
 * where -> conjunct { "and" conjunct }: each conjunct reads one event, or
 * is `P == Q` with P on one event and Q on the other (a correlation).
 */
static void
split_where(struct emitter *E, struct rl_node *e, struct seq_where *w)
{
	int first = 0, second = 0;
	const struct rl_node *at = NULL;

	if (e == NULL)
		return;
	if (e->kind == RL_N_AND) {
		split_where(E, e->a, w);
		split_where(E, e->b, w);
		return;
	}
	event_refs(e, &first, &second, &at);
	if (!first) {
		w->bcond = mk_and(E, w->bcond, e);
		return;
	}
	if (!second) {
		w->acond = mk_and(E, w->acond, e);
		return;
	}
	if (e->kind == RL_N_CMP && e->op == RL_EQ && e->a->kind == RL_N_PATH && e->b->kind == RL_N_PATH
	    && e->a->sema && e->b->sema
	    && ((const struct rc_fieldref *)e->a->sema)->second != ((const struct rc_fieldref *)e->b->sema)->second
	    && w->npairs < 64) {
		int a_second = ((const struct rc_fieldref *)e->a->sema)->second;

		w->pairs[w->npairs][0] = a_second ? e->b : e->a;
		w->pairs[w->npairs][1] = a_second ? e->a : e->b;
		w->npairs++;
		return;
	}
	rl_diag(E->p->diag, RL_E_SEQ_WHERE, e->span);
	w->failed = 1;
}

/* Reports the first path of the second event under e (where it has no value); 1 if one was. */
static int
reject_second(struct emitter *E, const struct rl_node *e, const char *which, const char *where)
{
	int first = 0, second = 0;
	const struct rl_node *at = NULL;

	event_refs(e, &first, &second, &at);
	if (!second)
		return 0;
	rl_diag(E->p->diag, RL_E_SEQ_SECOND, at->span, ((const struct rc_fieldref *)at->sema)->name, which, where);
	E->failed = 1;
	return 1;
}

/* The end of the source text of n and everything under it (same file). */
static uint32_t
span_end(const struct rl_node *n)
{
	const struct rl_node *kids[5], *k;
	uint32_t end = n->span.end, e;
	unsigned i;

	kids[0] = n->a;
	kids[1] = n->b;
	kids[2] = n->c;
	kids[3] = n->x;
	kids[4] = n->y;
	for (i = 0; i < 5; i++)
		for (k = kids[i]; k; k = k->next)
			if (k->span.file == n->span.file && (e = span_end(k)) > end)
				end = e;
	return end;
}

/* Appends the FIELDS indices of the PATH list paths to TREFS; returns the first entry. */
static uint32_t
trefs_fields(struct emitter *E, struct rl_node *paths, uint32_t *n)
{
	uint32_t first = rc_rbc_count(E->b, RV_SEC_TREFS);
	struct rl_node *pth;

	*n = 0;
	for (pth = paths; pth; pth = pth->next) {
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = rc_lower_field(&E->L, pth->sema);
		(*n)++;
	}
	return first;
}

/*
 * The TEMPORAL record of rule idx: window and aggregates (the calls the
 * aggregate block read, in AGG order), keys, throttle, dedup.
 */
static void
emit_temporal(struct emitter *E, struct rc_rule *r, uint32_t idx, uint32_t agg_pc,
	const struct rc_aggs *aggs)
{
	struct rv_temporal t;
	uint32_t i, k;
	struct rl_node *d;

	memset(&t, 0, sizeof t);
	t.rule = idx;
	t.agg_pc = agg_pc;
	if (r->c_within) {
		t.flags |= r->c_then ? RV_TF_SEQ : r->c_unless ? RV_TF_ABSENT : RV_TF_WINDOW;
		t.within_ms = r->c_within->a->v->ms;
	} else if (r->c_every) {
		t.flags |= RV_TF_TUMBLE;
		t.within_ms = r->c_every->a->v->ms;
	}
	t.aggs = rc_rbc_count(E->b, RV_SEC_TREFS);
	t.naggs = aggs->n;
	for (i = 0; i < aggs->n; i++) {
		const struct rl_node *c = aggs->calls[i];

		for (k = 0; rc_aggregates[k] && strcmp(rc_aggregates[k], c->name) != 0; k++)
			;
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = k; /* rc_aggregates order = enum rv_aggkind */
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) =
			c->a ? rc_lower_field(&E->L, c->a->sema) : RV_NONE;
	}
	t.by = trefs_fields(E, r->c_by ? r->c_by->a : NULL, &t.nby);
	if (r->c_throttle) {
		t.flags |= RV_TF_THROTTLE;
		t.throttle_n = (uint32_t)r->c_throttle->a->v->num;
		t.throttle_ms = r->c_throttle->b->v->ms;
		t.elses = rc_rbc_count(E->b, RV_SEC_TREFS);
		if (r->c_throttle->c) {
			t.flags |= RV_TF_ELSE;
			for (d = r->c_throttle->c->a; d; d = d->next) {
				struct rc_dest *dest = rc_map_get(&E->m->dest_map, d->name);

				*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = dest->index;
				t.nelse++;
			}
		}
	}
	if (r->c_backpressure)
		t.flags |= RV_TF_BACKPRESSURE;
	if (r->c_dedup) {
		t.flags |= RV_TF_DEDUP;
		t.dedup_ms = r->c_dedup->b->v->ms;
		t.dedup = trefs_fields(E, r->c_dedup->a ? r->c_dedup->a->a : NULL, &t.ndedup);
		if (t.ndedup == 0) { /* no `by`: the event's @id */
			static const char *const id_seg[] = { "id" };
			static const size_t id_len[] = { 2 };

			*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) =
				rc_rbc_field(E->b, id_seg, id_len, 1, RV_FW_META, RV_T_STRING);
			t.ndedup = 1;
		}
	} else {
		t.dedup = rc_rbc_count(E->b, RV_SEC_TREFS);
	}
	{
		/* the text from the rule's name to the end of its last clause */
		const struct rl_srcfile *f = rl_srcset_get(&E->p->src, r->decl->span.file);
		uint32_t end = span_end(r->decl);

		if (f && end <= f->len && end >= r->decl->span.start)
			t.def_hash = XXH64(f->text + r->decl->span.start, end - r->decl->span.start, 0);
	}
	memcpy(rc_rbc_push(E->b, RV_SEC_TEMPORAL, NULL), &t, sizeof t);
}

/* Appends the contracts of cs to TREFS in ascending order; returns the first entry. */
static uint32_t
trefs_contracts(struct emitter *E, const struct ru_vec *cs)
{
	uint32_t first = rc_rbc_count(E->b, RV_SEC_TREFS), *v, x;
	size_t i, k;

	v = ru_arena_alloc(E->L.arena, (cs->n + 1) * sizeof *v);
	for (i = 0; i < cs->n; i++) {
		x = RU_VEC_AT(*cs, struct rc_contract *, i)->index;
		for (k = i; k > 0 && v[k - 1] > x; k--)
			v[k] = v[k - 1];
		v[k] = x;
	}
	for (i = 0; i < cs->n; i++)
		if (i == 0 || v[i] != v[i - 1])
			*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = v[i];
	return first;
}

/*
 * The TSEQ record of sequence/absence rule r (TEMPORAL record ti): B's
 * contracts, the correlation keys (the `where` equalities, then `by` on
 * both events), the captures the actions read.
 */
static void
emit_tseq(struct emitter *E, struct rc_rule *r, uint32_t ti, uint32_t bcond_pc, const struct seq_where *w)
{
	struct rv_tseq q;
	struct rl_node *pth;
	uint32_t i, nby = 0;

	memset(&q, 0, sizeof q);
	q.temporal = ti;
	q.bcond_pc = bcond_pc;
	q.btypes = trefs_contracts(E, &r->seq_contracts); /* none for `every` */
	q.nbtypes = rc_rbc_count(E->b, RV_SEC_TREFS) - q.btypes;
	for (pth = r->c_by ? r->c_by->a : NULL; pth; pth = pth->next)
		nby++;
	q.nkeys = w->npairs + nby;
	q.akeys = rc_rbc_count(E->b, RV_SEC_TREFS);
	for (i = 0; i < w->npairs; i++)
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = rc_lower_field(&E->L, w->pairs[i][0]->sema);
	for (pth = r->c_by ? r->c_by->a : NULL; pth; pth = pth->next)
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = rc_lower_field(&E->L, pth->sema);
	q.bkeys = rc_rbc_count(E->b, RV_SEC_TREFS);
	for (i = 0; i < w->npairs; i++)
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = rc_lower_field(&E->L, w->pairs[i][1]->sema);
	for (pth = r->c_by ? r->c_by->a : NULL; pth; pth = pth->next) /* the same path on the second event */
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = rc_lower_field(&E->L, pth->sema);
	q.caps = rc_rbc_count(E->b, RV_SEC_TREFS);
	q.ncaps = (uint32_t)(E->L.caps.n / 2);
	for (i = 0; i < E->L.caps.n; i++)
		*(uint32_t *)rc_rbc_push(E->b, RV_SEC_TREFS, NULL) = RU_VEC_AT(E->L.caps, uint32_t, i);
	if (r->c_unless && r->routes.n > 0)
		q.flags |= RV_SQ_KEEP_EVENT;
	memcpy(rc_rbc_push(E->b, RV_SEC_TSEQ, NULL), &q, sizeof q);
}

/*
 * Writes rule r: condition block, RTYPES (ascending), ACTIONS (sets, routes,
 * emits with their EMITF records) with their value blocks, then RULES, and
 * for a temporal rule its TEMPORAL record: the condition block is then the
 * filter (the conjuncts without aggregates) and the aggregate block the
 * rest. Sequences, absence and tumbling windows are reported
 * (no code generation yet) and set E->failed.
 */
static void
emit_rule(struct emitter *E, struct rc_rule *r)
{
	struct rc_ir_block cond, aggblk;
	struct rv_rule *rr;
	uint32_t idx, first_action, first_rtype, cond_pc, cost, line, col, agg_pc = RV_NONE;
	size_t i, j;
	const struct rl_srcfile *f = rl_srcset_get(&E->p->src, r->decl->span.file);
	struct rl_node *when = r->when, *aggc = NULL, *bad;
	struct rc_aggs aggs;
	struct rl_node *seqc = r->c_then ? r->c_then : r->c_unless;
	int tumble = r->c_every != NULL && seqc == NULL;
	struct seq_where sw;
	uint32_t bcond_pc = RV_NONE;

	memset(&aggs, 0, sizeof aggs);
	memset(&sw, 0, sizeof sw);
	if (r->flags & RC_RF_TEMPORAL) {
		if ((r->flags & (RV_RF_OTHERWISE | RV_RF_TRANSFORM)) && (bad = r->temporal) != NULL) {
			rl_diag(E->p->diag, RL_E_TEMPORAL_CODEGEN, bad->span,
				bad->kind == RL_N_CALL ? ru_arena_printf(E->p->arena, "%s()", bad->name)
				: rl_kind_name(bad->kind));
			E->failed = 1;
			return;
		}
		if (seqc && (bad = seq_incompatible(r)) != NULL) {
			rl_diag(E->p->diag, RL_E_SEQ_WITH, bad->span, rl_kind_name(bad->kind));
			E->failed = 1;
			return;
		}
		if (seqc && has_aggregate(r->when)) {
			rl_diag(E->p->diag, RL_E_SEQ_WITH, r->when->span, "aggregate");
			E->failed = 1;
			return;
		}
		if (r->c_timestamp && (r->c_unless || r->c_every)) {
			rl_diag(E->p->diag, RL_E_TIMESTAMP_WITH, r->c_timestamp->span, r->c_unless ? "unless" : "every");
			E->failed = 1;
			return;
		}
		if (r->c_every && every_refused(E, r)) {
			E->failed = 1;
			return;
		}
		when = NULL;
		split_when(E, r->when, &when, &aggc);
	}
	if (seqc) {
		/* a sequence or absence: `when` and the actions read the first event */
		if (reject_second(E, r->when, seqc->kind == RL_N_THEN ? "'then'" : "'unless'",
			"in 'when' (it filters the first event)"))
			return;
		if (seqc->kind == RL_N_UNLESS) {
			for (i = 0; i < r->emits.n; i++) {
				struct rc_emit *em = &RU_VEC_AT(r->emits, struct rc_emit, i);

				for (j = 0; j < em->fields.n; j++)
					if (reject_second(E, RU_VEC_AT(em->fields, struct rc_assign, j).value, "'unless'",
						"at the deadline (it did not come)"))
						return;
			}
		}
		split_where(E, seqc->c, &sw);
		if (sw.failed) {
			E->failed = 1;
			return;
		}
		when = mk_and(E, when, sw.acond);
		{
			struct rc_ir_block bblk;

			rc_lower_cond(&E->L, &bblk, sw.bcond, seqc->span);
			bcond_pc = emit_block(E, &bblk);
		}
	}
	if (aggc) {
		E->L.aggs = &aggs;
		rc_lower_cond(&E->L, &aggblk, aggc, r->decl->span);
		E->L.aggs = NULL;
		if (aggs.overflow) {
			rl_diag(E->p->diag, RL_E_TOO_MANY, aggc->span, "different aggregates in one rule", RV_MAX_AGGS);
			E->failed = 1;
			return;
		}
		agg_pc = emit_block(E, &aggblk);
	}
	rc_lower_cond(&E->L, &cond, when, r->decl->span);
	cond_pc = emit_block(E, &cond);
	cost = rc_ir_count(&cond);
	first_rtype = rc_rbc_count(E->b, RV_SEC_RTYPES);
	{
		/* ascending contract indices: the loader requires it (no duplicates) */
		uint32_t *cs = ru_arena_alloc(E->L.arena, (r->contracts.n + 1) * sizeof *cs), x;
		size_t k;

		for (i = 0; i < r->contracts.n; i++) {
			x = RU_VEC_AT(r->contracts, struct rc_contract *, i)->index;
			for (k = i; k > 0 && cs[k - 1] > x; k--)
				cs[k] = cs[k - 1];
			cs[k] = x;
		}
		for (i = 0; i < r->contracts.n; i++)
			*(uint32_t *)rc_rbc_push(E->b, RV_SEC_RTYPES, NULL) = cs[i];
	}
	first_action = rc_rbc_count(E->b, RV_SEC_ACTIONS);
	if (seqc || tumble) {
		E->in_seq = 1;
		memset(&E->L.caps, 0, sizeof E->L.caps);
		E->L.caps_arena = E->L.arena;
	}
	for (i = 0; i < r->sets.n; i++) {
		struct rc_assign *as = &RU_VEC_AT(r->sets, struct rc_assign, i);
		uint32_t field = rc_lower_field(&E->L, as->target), pc = value_block(E, as->value);
		struct rv_action *a = rc_rbc_push(E->b, RV_SEC_ACTIONS, NULL);

		a->kind = RV_A_SET;
		a->a = field;
		a->b = pc;
	}
	for (i = 0; i < r->routes.n; i++) {
		struct rv_action *a = rc_rbc_push(E->b, RV_SEC_ACTIONS, NULL);

		a->kind = RV_A_ROUTE;
		a->a = RU_VEC_AT(r->routes, struct rc_dest *, i)->index;
	}
	for (i = 0; i < r->emits.n; i++) {
		struct rc_emit *em = &RU_VEC_AT(r->emits, struct rc_emit, i);
		uint32_t *fields = ru_arena_alloc(E->L.arena, (em->fields.n + 1) * sizeof *fields);
		uint32_t *pcs = ru_arena_alloc(E->L.arena, (em->fields.n + 1) * sizeof *pcs);
		struct rv_action *a;

		/* value blocks first, so the EMIT and its EMITF records stay adjacent */
		for (j = 0; j < em->fields.n; j++) {
			struct rc_assign *as = &RU_VEC_AT(em->fields, struct rc_assign, j);

			fields[j] = rc_lower_field(&E->L, as->target);
			pcs[j] = value_block(E, as->value);
		}
		a = rc_rbc_push(E->b, RV_SEC_ACTIONS, NULL);
		a->kind = RV_A_EMIT;
		a->a = em->contract->index;
		a->b = (uint32_t)em->fields.n;
		for (j = 0; j < em->fields.n; j++) {
			a = rc_rbc_push(E->b, RV_SEC_ACTIONS, NULL);
			a->kind = RV_A_EMITF;
			a->a = fields[j];
			a->b = pcs[j];
		}
	}
	rl_srcfile_locate(f, r->decl->span.start, &line, &col);
	rr = rc_rbc_push(E->b, RV_SEC_RULES, &idx);
	rr->name = str(E, r->name);
	rr->flags = r->flags & (RV_RF_OTHERWISE | RV_RF_TRANSFORM | RV_RF_ROUTES);
	rr->cond_pc = cond_pc;
	rr->rtype = first_rtype;
	rr->nrtype = (uint32_t)r->contracts.n;
	rr->action = first_action;
	rr->naction = rc_rbc_count(E->b, RV_SEC_ACTIONS) - first_action;
	rr->file = r->decl->span.file;
	rr->line = line;
	rr->col = col;
	rr->span_start = r->decl->span.start;
	rr->span_end = r->decl->span.end;
	rr->cost = cost;
	E->in_seq = 0;
	if (r->flags & RC_RF_TEMPORAL) {
		uint32_t ti = rc_rbc_count(E->b, RV_SEC_TEMPORAL);

		emit_temporal(E, r, idx, agg_pc, &aggs);
		if (seqc)
			emit_tseq(E, r, ti, bcond_pc, &sw);
		else if (tumble)
			emit_tseq(E, r, ti, cond_pc, &sw); /* no second event: keys are `by` */
		if (r->c_timestamp) {
			struct rv_ttime tt;

			memset(&tt, 0, sizeof tt);
			tt.temporal = ti;
			tt.field = rc_lower_field(&E->L, r->c_timestamp->a->sema);
			tt.lateness_ms = r->c_timestamp->b ? r->c_timestamp->b->v->ms : 0;
			memcpy(rc_rbc_push(E->b, RV_SEC_TTIME, NULL), &tt, sizeof tt);
		}
	}
}

int
rc_emit(struct rl_program *p, struct rc_model *m, int opt, unsigned char **out,
	size_t *outlen, struct rc_emit_stats *st)
{
	struct emitter E;
	struct ru_arena scratch; /* IR of one rule at a time, reset between rules */
	char err[256];
	size_t i;
	int rc = -1;

	memset(&E, 0, sizeof E);
	E.p = p;
	E.m = m;
	E.opt = opt;
	E.b = rc_rbc_new();
	ru_arena_init(&scratch);
	E.L.arena = &scratch;
	E.L.rbc = E.b;
	E.L.diag = p->diag;
	E.L.fold = opt > 0;
	E.max_regs = 1;
	for (i = 0; i < p->src.files.n; i++) {
		const struct rl_srcfile *f = rl_srcset_get(&p->src, (uint32_t)i);

		rc_rbc_file(E.b, f->name, strlen(f->name));
	}
	emit_types(&E);
	emit_dests(&E);
	emit_tables(&E);
	for (i = 0; i < m->rules.n; i++) {
		emit_rule(&E, RU_VEC_AT(m->rules, struct rc_rule *, i));
		ru_arena_reset(&scratch);
	}
	if (E.failed || E.L.failed)
		goto done;
	if (rc_rbc_write(E.b, E.max_regs, out, outlen, err, sizeof err) < 0) {
		fprintf(stderr, "routec: %s\n", err);
		goto done;
	}
	if (st) {
		st->nrules = rc_rbc_count(E.b, RV_SEC_RULES);
		st->ninsns = rc_rbc_count(E.b, RV_SEC_CODE);
		st->max_regs = E.max_regs;
	}
	rc = 0;
done:
	ru_arena_fini(&scratch);
	rc_rbc_free(E.b);
	return rc;
}
