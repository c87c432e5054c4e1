/*
 * partition.c -- which field splits a program's state over threads (see
 * partition.h for what is computed and why it is sound).
 *
 * One pass over the tables, the temporal records and the reachable code of
 * every rule's blocks collects requirements "events of type T go by field F"
 * (or "all to one thread"); union-find groups the types that share state;
 * a group whose requirements disagree, or that rewrites its key with `set`,
 * becomes RV_PART_ONE as a whole.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "partition.h"

#define KNOWN_TF (RV_TF_WINDOW | RV_TF_THROTTLE | RV_TF_ELSE | RV_TF_DEDUP | RV_TF_BACKPRESSURE | \
	RV_TF_SEQ | RV_TF_ABSENT | RV_TF_TUMBLE)

struct req {                   /* what the type's state asks for so far */
	uint8_t kind;              /* enum rv_part_kind (ANY: nothing yet) */
	uint8_t bad;               /* two requirements disagreed */
	uint32_t field;            /* RV_PART_FIELD: FIELDS index */
	char src[64];              /* the construct that set it ("rule r", "table t") */
};

struct pa {
	const struct rv_prog *p;   /* borrows */
	struct rv_partition *pt;   /* borrows: the result being filled */
	uint32_t *parent;          /* owns: union-find over TYPES */
	struct req *req;           /* owns: [ntypes] */
	uint8_t *reach;            /* owns: [ncode] block walk marks (1 reached, 2 jump target) */
	uint32_t *touched;         /* owns: [ncode] pcs marked in the current walk */
	int unknown;               /* a construct the analysis does not know: everything ONE */
	uint32_t *seq_of_rule;     /* owns: [nrules] TSEQ index of the rule's sequence or absence, or RV_NONE */
};

/*
 * The contracts a block runs on: the rule's (rtypes) or, for a sequence's
 * second event, TREFS entries.
 */
struct on {
	const uint32_t *c;         /* borrows: CONTRACTS indices */
	uint32_t n;
};

static struct on
rule_on(const struct rv_prog *p, uint32_t rule)
{
	struct on o = { p->rtypes + p->rules[rule].rtype, p->rules[rule].nrtype };

	return o;
}

static void
why(struct pa *a, const char *fmt, ...)
{
	va_list ap;

	if (a->pt->why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(a->pt->why, sizeof a->pt->why, fmt, ap);
	va_end(ap);
}

static uint32_t
find(struct pa *a, uint32_t t)
{
	while (a->parent[t] != t) {
		a->parent[t] = a->parent[a->parent[t]];
		t = a->parent[t];
	}
	return t;
}

static void
unite(struct pa *a, uint32_t x, uint32_t y)
{
	x = find(a, x);
	y = find(a, y);
	if (x != y)
		a->parent[x] = y;
}

static const char *
str(const struct rv_prog *p, struct rv_str s, int *len)
{
	*len = (int)s.len;
	return rv_prog_str(p, s);
}

/* Same event field: one FIELDS entry, or two with the same place and path. */
static int
same_field(const struct rv_prog *p, uint32_t x, uint32_t y)
{
	const struct rv_field *a = &p->fields[x], *b = &p->fields[y];

	return x == y || (a->where == b->where && a->name.len == b->name.len &&
		memcmp(rv_prog_str(p, a->name), rv_prog_str(p, b->name), a->name.len) == 0);
}

/* Does writing field w change what reading field r sees (same path, or one inside the other)? */
static int
overlaps(const struct rv_prog *p, uint32_t w, uint32_t r)
{
	const struct rv_field *a = &p->fields[w], *b = &p->fields[r];
	const struct rv_field *s = a->name.len <= b->name.len ? a : b, *l = s == a ? b : a;
	const char *sn = rv_prog_str(p, s->name), *ln = rv_prog_str(p, l->name);

	if (a->where != b->where || memcmp(sn, ln, s->name.len) != 0)
		return 0;
	return l->name.len == s->name.len || ln[s->name.len] == '.' || ln[s->name.len] == '[';
}

/* Type t's state wants kind (and field f). src names the construct, for the reason. */
static void
require(struct pa *a, uint32_t t, unsigned kind, uint32_t f, const char *src)
{
	struct req *r = &a->req[t];
	int tl, fl, gl;
	const char *tn, *fn, *gn;

	if (r->kind == RV_PART_ANY) {
		r->kind = (uint8_t)kind;
		r->field = f;
		snprintf(r->src, sizeof r->src, "%s", src);
		return;
	}
	if (r->kind == kind && (kind == RV_PART_ONE || same_field(a->p, r->field, f)))
		return;
	r->bad = 1;
	tn = str(a->p, a->p->types[t].name, &tl);
	fn = r->kind == RV_PART_FIELD ? str(a->p, a->p->fields[r->field].name, &fl) : (fl = 6, "no key");
	gn = kind == RV_PART_FIELD ? str(a->p, a->p->fields[f].name, &gl) : (gl = 6, "no key");
	why(a, "event type %.*s: %s keys its state by %.*s, %s by %.*s", tl, tn, r->src, fl, fn, src,
		gl, gn);
}

static void
rule_src(struct pa *a, uint32_t rule, char *buf, size_t cap)
{
	int l;
	const char *n = str(a->p, a->p->rules[rule].name, &l);

	snprintf(buf, cap, "rule %.*s", l < 48 ? l : 48, n);
}

/* Every type of o wants kind/f; they share rule's state. */
static void
require_on(struct pa *a, uint32_t rule, struct on o, unsigned kind, uint32_t f)
{
	uint32_t i, t0 = RV_NONE;
	char src[64];

	rule_src(a, rule, src, sizeof src);
	for (i = 0; i < o.n; i++) {
		uint32_t t = a->p->contracts[o.c[i]].type;

		require(a, t, kind, f, src);
		if (t0 == RV_NONE)
			t0 = t;
		else
			unite(a, t0, t);
	}
}

/* The second events of rule's sequence or absence into *o; 0 when it has none. */
static int
b_on(const struct rv_prog *p, const uint32_t *seq_of_rule, uint32_t rule, struct on *o)
{
	const struct rv_tseq *q;

	if (seq_of_rule[rule] == RV_NONE)
		return 0;
	q = &p->tseq[seq_of_rule[rule]];
	o->c = p->trefs + q->btypes;
	o->n = q->nbtypes;
	return 1;
}

/* A lookup T[key] at pc of a block of rule, run on the events of o. */
static void
lookup(struct pa *a, uint32_t rule, struct on o, uint32_t pc)
{
	const struct rv_prog *p = a->p;
	uint32_t in = p->code[pc], c = RV_GET_C(in), tb = RV_GET_B(in), f = RV_NONE, prev;
	uint32_t i, t;
	char src[64];

	if (!(a->reach[pc] & 2) && pc >= 1) {
		prev = p->code[pc - 1];
		if (RV_GET_OP(prev) == RV_OP_LOADF && RV_GET_A(prev) == c)
			f = RV_GET_Bx(prev);
		else if (RV_GET_OP(prev) == RV_OP_EXTRAARG && pc >= 2 &&
		         RV_GET_OP(p->code[pc - 2]) == RV_OP_LOADFX && RV_GET_A(p->code[pc - 2]) == c)
			f = RV_GET_Ax(prev);
		/* a value captured from an earlier event is not on the event placed */
		if (f != RV_NONE && (f >= p->nfields || p->fields[f].where == RV_FW_CAPTURE))
			f = RV_NONE;
	}
	rule_src(a, rule, src, sizeof src);
	for (i = 0; i < o.n; i++) {
		t = p->contracts[o.c[i]].type;
		if (f == RV_NONE) {
			int tl;
			const char *tn = str(p, p->tables[tb].name, &tl);

			require(a, t, RV_PART_ONE, RV_NONE, src);
			why(a, "%s looks table %.*s up by a computed key", src, tl, tn);
		} else {
			require(a, t, RV_PART_FIELD, f, src);
		}
		unite(a, t, p->tables[tb].from_type);
	}
}

/* Is op one the analysis knows? (TGET and AGG are handled by the caller.) */
static int
known_op(unsigned op)
{
	switch (op) {
#define OP(name, fmt, flags, sem) case RV_OP_##name:
#include "opcodes.def"
#undef OP
		return 1;
	default:
		return 0;
	}
}

/* Walks the code reachable from entry (jumps go forward only: one pass), run on the events of o. */
static void
walk(struct pa *a, uint32_t rule, struct on o, uint32_t entry)
{
	const struct rv_prog *p = a->p;
	uint32_t pc, maxpc = entry, nt = 0, i;

	if (entry >= p->ncode)
		return;
	a->reach[entry] = 1;
	a->touched[nt++] = entry;
	for (pc = entry; pc < p->ncode && pc <= maxpc; pc++) {
		uint32_t in = p->code[pc];
		unsigned op = RV_GET_OP(in);
		const struct rv_opinfo *oi;

		if (!(a->reach[pc] & 1))
			continue;
		if (op >= RV_NUM_OPS || !known_op(op)) {
			a->unknown = 1;
			why(a, "opcode %u at %u is not known to the partition analysis", op, pc);
			break;
		}
		oi = &rv_opinfo[op];
		if (op == RV_OP_TGET)
			lookup(a, rule, o, pc);
		if (oi->flags & RV_OPF_JUMP) {
			int64_t t = rv_jump_target(in, pc);

			if (t > (int64_t)pc && t < (int64_t)p->ncode) {
				if (!a->reach[t] && nt < p->ncode)
					a->touched[nt++] = (uint32_t)t;
				a->reach[t] |= 3;
				if ((uint32_t)t > maxpc)
					maxpc = (uint32_t)t;
			}
			if (op == RV_OP_JMP)
				continue;
		}
		if ((oi->flags & RV_OPF_TERM) || pc + 1 >= p->ncode)
			continue;
		if (!a->reach[pc + 1] && nt < p->ncode)
			a->touched[nt++] = pc + 1;
		a->reach[pc + 1] |= 1;
		if (pc + 1 > maxpc)
			maxpc = pc + 1;
	}
	for (i = 0; i < nt; i++)
		a->reach[a->touched[i]] = 0;
}

/* Every type rule listens on wants kind/f; they share the rule's state. */
static void
require_rule(struct pa *a, uint32_t rule, unsigned kind, uint32_t f)
{
	require_on(a, rule, rule_on(a->p, rule), kind, f);
}

/*
 * A sequence, absence or tumbling window (TSEQ record q): the first events (the rule's types) by the first correlation key on
 * them, the second events by the first on theirs, all in one group; no key:
 * one thread.
 */
static void
tseq(struct pa *a, const struct rv_tseq *q)
{
	const struct rv_prog *p = a->p;
	const struct rv_temporal *t = &p->temporal[q->temporal];
	struct on b;

	if (t->flags & (RV_TF_WINDOW | RV_TF_THROTTLE | RV_TF_DEDUP)) {
		/* a throttle or dedup of a sequence is checked on its second event, by
		 * keys other than the correlation: no split */
		require_rule(a, t->rule, RV_PART_ONE, RV_NONE);
		if (q->nbtypes > 0) {
			b.c = p->trefs + q->btypes;
			b.n = q->nbtypes;
			require_on(a, t->rule, b, RV_PART_ONE, RV_NONE);
		}
	}
	require_rule(a, t->rule, q->nkeys ? RV_PART_FIELD : RV_PART_ONE, q->nkeys ? p->trefs[q->akeys] : RV_NONE);
	if (q->nbtypes == 0)
		return;
	b.c = p->trefs + q->btypes;
	b.n = q->nbtypes;
	require_on(a, t->rule, b, q->nkeys ? RV_PART_FIELD : RV_PART_ONE, q->nkeys ? p->trefs[q->bkeys] : RV_NONE);
	unite(a, p->contracts[b.c[0]].type, p->contracts[p->rtypes[p->rules[t->rule].rtype]].type);
	walk(a, t->rule, b, q->bcond_pc);
}

static void
tables(struct pa *a)
{
	const struct rv_prog *p = a->p;
	uint32_t i;
	char src[64];

	for (i = 0; i < p->ntables; i++) {
		const struct rv_table *t = &p->tables[i];
		int l;
		const char *n = str(p, t->name, &l);

		snprintf(src, sizeof src, "table %.*s", l < 48 ? l : 48, n);
		require(a, t->from_type, RV_PART_FIELD, t->key_field, src);
		if (t->del_type != RV_NONE) {
			require(a, t->del_type, RV_PART_FIELD, t->del_key_field, src);
			unite(a, t->from_type, t->del_type);
		}
	}
}

static void
temporal(struct pa *a)
{
	const struct rv_prog *p = a->p;
	uint32_t i;

	for (i = 0; i < p->ntemporal; i++) {
		const struct rv_temporal *t = &p->temporal[i];

		if (t->flags & ~KNOWN_TF) {
			a->unknown = 1;
			why(a, "a temporal clause of rule %u is not known to the partition analysis", t->rule);
			return;
		}
		if (t->flags & (RV_TF_WINDOW | RV_TF_THROTTLE))
			require_rule(a, t->rule, t->nby ? RV_PART_FIELD : RV_PART_ONE,
				t->nby ? p->trefs[t->by] : RV_NONE);
		if (t->flags & RV_TF_DEDUP)
			require_rule(a, t->rule, t->ndedup ? RV_PART_FIELD : RV_PART_ONE,
				t->ndedup ? p->trefs[t->dedup] : RV_NONE);
		if (t->agg_pc != RV_NONE)
			walk(a, t->rule, rule_on(p, t->rule), t->agg_pc);
	}
	for (i = 0; i < p->ntseq; i++) /* the verifier gave each SEQ, ABSENT, TUMBLE record one */
		tseq(a, &p->tseq[i]);
	/* event time: a rule's lateness is judged against the newest time it has
	 * seen, over all its keys; split, each thread would judge by its own */
	for (i = 0; i < p->nttime; i++) {
		uint32_t rule = p->temporal[p->ttime[i].temporal].rule;
		char src[64];

		rule_src(a, rule, src, sizeof src);
		why(a, "%s keeps event time: its lateness is judged over all its keys", src);
		require_rule(a, rule, RV_PART_ONE, RV_NONE);
	}
}

static void
rules(struct pa *a)
{
	const struct rv_prog *p = a->p;
	uint32_t i, j;

	for (i = 0; i < p->nrules && !a->unknown; i++) {
		const struct rv_rule *r = &p->rules[i];
		struct on o;

		walk(a, i, rule_on(p, i), r->cond_pc);
		for (j = 0; j < r->naction && !a->unknown; j++) {
			const struct rv_action *ac = &p->actions[r->action + j];

			if (ac->kind == RV_A_SET || ac->kind == RV_A_EMITF) {
				walk(a, i, rule_on(p, i), ac->b);
				/* a sequence's actions run on its second event */
				if (b_on(p, a->seq_of_rule, i, &o))
					walk(a, i, o, ac->b);
			}
		}
	}
}

/* A `set` that rewrites a type's key field: the key seen by the state is not the one read on arrival. */
static void
sets(struct pa *a)
{
	const struct rv_prog *p = a->p;
	uint32_t i, j, k;

	for (i = 0; i < p->nrules; i++) {
		const struct rv_rule *r = &p->rules[i];

		for (j = 0; j < r->naction; j++) {
			const struct rv_action *ac = &p->actions[r->action + j];

			if (ac->kind != RV_A_SET)
				continue;
			for (k = 0; k < r->nrtype; k++) {
				uint32_t t = p->contracts[p->rtypes[r->rtype + k]].type;
				struct req *q = &a->req[t];

				if (q->kind == RV_PART_FIELD && overlaps(p, ac->a, q->field)) {
					char src[64];
					int l;
					const char *fn = str(p, p->fields[q->field].name, &l);

					q->bad = 1;
					rule_src(a, i, src, sizeof src);
					why(a, "%s sets %.*s, the key of the state of its events", src, l, fn);
				}
			}
		}
	}
}

int
rv_partition_build(const struct rv_prog *p, struct rv_partition *pt)
{
	struct pa a;
	uint32_t i, n = p->ntypes;
	uint8_t *bad = NULL;
	int rc = -1;

	memset(pt, 0, sizeof *pt);
	memset(&a, 0, sizeof a);
	a.p = p;
	a.pt = pt;
	pt->ntypes = n;
	pt->kind = ru_malloc(n + 1);
	pt->field = ru_malloc((n + 1) * sizeof *pt->field);
	a.parent = ru_malloc((n + 1) * sizeof *a.parent);
	a.req = ru_malloc((n + 1) * sizeof *a.req);
	a.reach = ru_malloc(p->ncode + 1);
	a.touched = ru_malloc((p->ncode + 1) * sizeof *a.touched);
	bad = ru_malloc(n + 1);
	if (!pt->kind || !pt->field || !a.parent || !a.req || !a.reach || !a.touched || !bad)
		goto out;
	memset(a.req, 0, (n + 1) * sizeof *a.req);
	memset(a.reach, 0, p->ncode + 1);
	memset(bad, 0, n + 1);
	if (!(a.seq_of_rule = ru_malloc((p->nrules + 1) * sizeof *a.seq_of_rule)))
		goto out;
	for (i = 0; i < p->nrules; i++)
		a.seq_of_rule[i] = RV_NONE;
	for (i = 0; i < p->ntseq; i++)
		if (p->tseq[i].nbtypes > 0)
			a.seq_of_rule[p->temporal[p->tseq[i].temporal].rule] = i;
	for (i = 0; i < n; i++)
		a.parent[i] = i;
	tables(&a);
	temporal(&a);
	if (!a.unknown)
		rules(&a);
	sets(&a);
	/* a group is split only if every type in it is keyed: one type on one
	 * thread (bit 2) with another keyed (bit 4) is as bad as a conflict */
	for (i = 0; i < n; i++)
		bad[find(&a, i)] |= (uint8_t)((a.req[i].bad ? 1 : 0) | (a.req[i].kind == RV_PART_ONE ? 2 : 0) |
			(a.req[i].kind == RV_PART_FIELD ? 4 : 0));
	for (i = 0; i < n; i++)
		if (bad[i] == 6)
			bad[i] = 1;
		else
			bad[i] &= 1;
	for (i = 0; i < n; i++) {
		unsigned k = a.req[i].kind;

		if (a.unknown || (k != RV_PART_ANY && bad[find(&a, i)]))
			k = RV_PART_ONE;
		pt->kind[i] = (uint8_t)k;
		pt->field[i] = k == RV_PART_FIELD ? a.req[i].field : RV_NONE;
		if (k == RV_PART_ONE && !pt->why[0]) {
			int l;
			const char *tn = str(p, p->types[i].name, &l);

			why(&a, "event type %.*s: %s keeps its state without a key", l, tn, a.req[i].src);
		}
		if (k == RV_PART_FIELD)
			pt->split = 1;
	}
	rc = 0;
out:
	ru_free(a.parent);
	ru_free(a.req);
	ru_free(a.reach);
	ru_free(a.touched);
	ru_free(a.seq_of_rule);
	ru_free(bad);
	if (rc < 0)
		rv_partition_free(pt);
	return rc;
}

void
rv_partition_free(struct rv_partition *pt)
{
	ru_free(pt->kind);
	ru_free(pt->field);
	pt->kind = NULL;
	pt->field = NULL;
}
