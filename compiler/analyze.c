/*
 * analyze.c -- contradiction and shadowing checks; see analyze.h.
 *
 * Contradictions: the rule's condition is split into its top-level `or`
 * branches, each flattened into a conjunction; each conjunct that constrains
 * one scalar field with constants (==, !=, in, not in, ranges, <, <=, >, >=,
 * exists, missing) narrows that field's domain. A branch whose domain becomes
 * empty cannot match; when every branch is empty the rule never matches.
 * Array and `any` fields are skipped: with any-element semantics
 * `tags == "a" and tags == "b"` can hold. Other conjuncts are treated as satisfiable.
 *
 * Shadowing: a rule B is shadowed by an earlier rule A with the same event
 * types and the same destinations (and no set/emit) when every conjunct of
 * A's condition also appears in B's: B then matches only events A matches,
 * and destinations receive an event once. Conjuncts are compared by a
 * structural hash; rules are bucketed by their signature and indexed by
 * their smallest conjunct hash, so the check stays near-linear in practice.
 */
#include "config.h"
#include "analyze.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "sema.h"

/* ---- domains ---------------------------------------------------------- */

struct cval {                 /* a constant: number, string or bool */
	int kind;                 /* RL_V_NUM, RL_V_STR, RL_V_BOOL */
	double num;
	const char *str;
	uint32_t len;
	const struct rl_node *node;
};

struct domain {
	const char *field;        /* the field's dotted path */
	const struct rl_node *eq_at;
	struct cval eq;           /* == value, if eq_at */
	struct ru_vec ne;         /* struct cval excluded values */
	struct ru_vec allowed;    /* struct cval, if allowed_at (intersection of `in`) */
	const struct rl_node *allowed_at;
	double lo, hi;            /* numeric interval */
	int lo_open, hi_open;
	const struct rl_node *missing_at, *present_at;
};

/* Are two constants the same value (and kind)? */
static int
cval_eq(const struct cval *a, const struct cval *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == RL_V_STR)
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	return a->num == b->num;
}

/* n as a constant (literal, folded number or null); 0 if it is none. */
static int
to_cval(const struct rl_node *n, struct cval *v)
{
	memset(v, 0, sizeof *v);
	v->node = n;
	if (n->kind == RL_N_LIT && n->v->kind == RL_V_NULL) {
		v->kind = RL_V_NULL;
		return 1;
	}
	if (n->kind == RL_N_LIT && n->v->kind == RL_V_STR) {
		v->kind = RL_V_STR;
		v->str = n->v->str;
		v->len = n->v->len;
		return 1;
	}
	if (n->kind == RL_N_LIT && n->v->kind == RL_V_BOOL) {
		v->kind = RL_V_BOOL;
		v->num = n->v->b;
		return 1;
	}
	if (rc_const_number(n, &v->num)) {
		v->kind = RL_V_NUM;
		return 1;
	}
	return 0;
}

struct an {
	struct ru_arena *arena;   /* scratch: reset after each rule */
	struct ru_arena *keep;    /* the compilation's arena: what outlives a rule */
	struct rl_diag *diag;
	struct ru_vec doms;       /* struct domain * of the branch being checked */
	const char *why;          /* reason of the contradiction found */
};

/* The domain of the field path reads, created on first use in the branch. */
static struct domain *
dom_for(struct an *A, const struct rl_node *path)
{
	const struct rc_fieldref *fr = path->sema;
	struct domain *d;
	size_t i;

	for (i = 0; i < A->doms.n; i++) {
		d = RU_VEC_AT(A->doms, struct domain *, i);
		if (strcmp(d->field, fr->name) == 0)
			return d;
	}
	d = ru_arena_alloc(A->arena, sizeof *d);
	d->field = fr->name;
	d->lo = -INFINITY;
	d->hi = INFINITY;
	*(struct domain **)ru_vec_push(A->arena, &A->doms, sizeof d) = d;
	return d;
}

/* A constant as the source would write it, for messages. */
static const char *
show(struct an *A, const struct cval *v)
{
	if (v->kind == RL_V_STR)
		return ru_arena_printf(A->arena, "\"%.*s\"", (int)v->len, v->str);
	if (v->kind == RL_V_BOOL)
		return v->num ? "true" : "false";
	if (v->kind == RL_V_NULL)
		return "null";
	return ru_arena_printf(A->arena, "%.17g", v->num);
}

/* Is v inside d's numeric interval? */
static int
in_interval(const struct domain *d, double v)
{
	if (v < d->lo || (v == d->lo && d->lo_open))
		return 0;
	if (v > d->hi || (v == d->hi && d->hi_open))
		return 0;
	return 1;
}

/* Checks d after a change; sets A->why when it became empty. */
static int
dom_empty(struct an *A, struct domain *d)
{
	size_t i, j, left;

	if (d->missing_at && d->present_at) {
		A->why = ru_arena_printf(A->arena, "'%s' cannot be missing and have a value", d->field);
		return 1;
	}
	if (d->lo > d->hi || (d->lo == d->hi && (d->lo_open || d->hi_open))) {
		A->why = ru_arena_printf(A->arena, "no number satisfies every bound on '%s'", d->field);
		return 1;
	}
	if (d->lo == d->hi) {
		/* bounds that leave one number, which a != excludes */
		struct cval only = { .kind = RL_V_NUM, .num = d->lo };

		for (i = 0; i < d->ne.n; i++)
			if (cval_eq(&only, &RU_VEC_AT(d->ne, struct cval, i))) {
				A->why = ru_arena_printf(A->arena, "the bounds on '%s' leave only %s, which != excludes",
					d->field, show(A, &only));
				return 1;
			}
	}
	if (d->eq_at) {
		for (i = 0; i < d->ne.n; i++)
			if (cval_eq(&d->eq, &RU_VEC_AT(d->ne, struct cval, i))) {
				A->why = ru_arena_printf(A->arena, "'%s' cannot be both %s and not %s",
					d->field, show(A, &d->eq), show(A, &d->eq));
				return 1;
			}
		if (d->eq.kind != RL_V_NUM && (d->lo > -INFINITY || d->hi < INFINITY)) {
			A->why = ru_arena_printf(A->arena, "'%s' == %s cannot also satisfy a numeric bound",
				d->field, show(A, &d->eq));
			return 1;
		}
		if (d->eq.kind == RL_V_NUM && !in_interval(d, d->eq.num)) {
			A->why = ru_arena_printf(A->arena, "'%s' == %s is outside its other bounds",
				d->field, show(A, &d->eq));
			return 1;
		}
		if (d->allowed_at) {
			for (i = 0; i < d->allowed.n; i++)
				if (cval_eq(&d->eq, &RU_VEC_AT(d->allowed, struct cval, i)))
					break;
			if (i == d->allowed.n) {
				A->why = ru_arena_printf(A->arena, "'%s' == %s is not in its 'in' list",
					d->field, show(A, &d->eq));
				return 1;
			}
		}
	}
	if (d->allowed_at) {
		for (i = 0, left = 0; i < d->allowed.n; i++) {
			const struct cval *v = &RU_VEC_AT(d->allowed, struct cval, i);

			if (v->kind == RL_V_NUM && !in_interval(d, v->num))
				continue;
			for (j = 0; j < d->ne.n; j++)
				if (cval_eq(v, &RU_VEC_AT(d->ne, struct cval, j)))
					break;
			if (j == d->ne.n)
				left++;
		}
		if (left == 0) {
			A->why = ru_arena_printf(A->arena, "no value of its 'in' list is left for '%s'", d->field);
			return 1;
		}
	}
	return 0;
}

/* The field path of a predicate on one scalar field, or NULL. */
static const struct rl_node *
scalar_path(const struct rl_node *n)
{
	const struct rc_fieldref *fr;

	if (n == NULL || n->kind != RL_N_PATH || n->sema == NULL)
		return NULL;
	fr = n->sema;
	/* arrays (and `any`, which may hold one) match by any element */
	return RC_T_IS_ARRAY(fr->type) || RC_T_BASE(fr->type) == RV_T_ANY ? NULL : n;
}

/* Narrows the domains with conjunct c; returns 1 if a domain became empty. */
static int
narrow(struct an *A, const struct rl_node *c)
{
	const struct rl_node *path, *k;
	struct domain *d;
	struct cval v;
	const struct rl_node *m;

	switch (c->kind) {
	case RL_N_CMP:
		path = scalar_path(c->a);
		k = c->b;
		if (path == NULL) {
			path = scalar_path(c->b);
			k = c->a;
		}
		if (path == NULL || !to_cval(k, &v) || c->op >= RL_IEQ)
			return 0;
		d = dom_for(A, path);
		d->present_at = c;
		switch (path == c->a ? c->op : (c->op == RL_LT ? RL_GT : c->op == RL_GT ? RL_LT
			: c->op == RL_LE ? RL_GE : c->op == RL_GE ? RL_LE : c->op)) {
		case RL_EQ:
			if (d->eq_at && !cval_eq(&d->eq, &v)) {
				A->why = ru_arena_printf(A->arena, "'%s' cannot be both %s and %s",
					d->field, show(A, &d->eq), show(A, &v));
				return 1;
			}
			d->eq = v;
			d->eq_at = c;
			break;
		case RL_NE:
			*(struct cval *)ru_vec_push(A->arena, &d->ne, sizeof v) = v;
			break;
		case RL_LT: if (v.kind == RL_V_NUM && v.num <= d->hi) { d->hi = v.num; d->hi_open = 1; } break;
		case RL_LE: if (v.kind == RL_V_NUM && v.num < d->hi) { d->hi = v.num; d->hi_open = 0; } break;
		case RL_GT: if (v.kind == RL_V_NUM && v.num >= d->lo) { d->lo = v.num; d->lo_open = 1; } break;
		case RL_GE: if (v.kind == RL_V_NUM && v.num > d->lo) { d->lo = v.num; d->lo_open = 0; } break;
		default: break;
		}
		return dom_empty(A, d);
	case RL_N_IN:
		if ((path = scalar_path(c->a)) == NULL)
			return 0;
		d = dom_for(A, path);
		d->present_at = c;
		if (c->flag) {
			for (m = c->b->a; m; m = m->next)
				if (to_cval(m, &v))
					*(struct cval *)ru_vec_push(A->arena, &d->ne, sizeof v) = v;
			return dom_empty(A, d);
		}
		{
			struct ru_vec next = { 0 };

			for (m = c->b->a; m; m = m->next) {
				size_t i;

				if (!to_cval(m, &v))
					return 0; /* CIDR lists are not tracked */
				if (d->allowed_at) {
					for (i = 0; i < d->allowed.n; i++)
						if (cval_eq(&v, &RU_VEC_AT(d->allowed, struct cval, i)))
							break;
					if (i == d->allowed.n)
						continue;
				}
				*(struct cval *)ru_vec_push(A->arena, &next, sizeof v) = v;
			}
			d->allowed = next;
			d->allowed_at = c;
		}
		return dom_empty(A, d);
	case RL_N_RANGE: {
		double lo, hi;

		if ((path = scalar_path(c->a)) == NULL || !rc_const_number(c->b, &lo)
		    || !rc_const_number(c->c, &hi))
			return 0;
		d = dom_for(A, path);
		d->present_at = c;
		if (lo > d->lo) { d->lo = lo; d->lo_open = 0; }
		if (hi < d->hi || (hi == d->hi && c->flag)) { d->hi = hi; d->hi_open = c->flag; }
		return dom_empty(A, d);
	}
	case RL_N_EXISTS:
		if ((path = scalar_path(c->a)) == NULL)
			return 0;
		d = dom_for(A, path);
		if (c->flag)
			d->missing_at = c;
		else
			d->present_at = c;
		return dom_empty(A, d);
	default:
		return 0;
	}
}

/* Collects the conjuncts of e (flattening `and`). */
static void
conjuncts(struct ru_arena *a, struct rl_node *e, struct ru_vec *out)
{
	if (e->kind == RL_N_AND) {
		conjuncts(a, e->a, out);
		conjuncts(a, e->b, out);
		return;
	}
	*(struct rl_node **)ru_vec_push(a, out, sizeof e) = e;
}

/* Collects the top-level `or` branches of e. */
static void
disjuncts(struct ru_arena *a, struct rl_node *e, struct ru_vec *out)
{
	if (e->kind == RL_N_OR) {
		disjuncts(a, e->a, out);
		disjuncts(a, e->b, out);
		return;
	}
	*(struct rl_node **)ru_vec_push(a, out, sizeof e) = e;
}

/* Returns 1 (and the reason in A->why) if the rule's condition cannot hold. */
static int
never_matches(struct an *A, struct rl_node *when)
{
	struct ru_vec ors = { 0 };
	const char *first_why = NULL;
	size_t i, j;

	disjuncts(A->arena, when, &ors);
	for (i = 0; i < ors.n; i++) {
		struct ru_vec ands = { 0 };
		int empty = 0;

		conjuncts(A->arena, RU_VEC_AT(ors, struct rl_node *, i), &ands);
		memset(&A->doms, 0, sizeof A->doms);
		A->why = NULL;
		for (j = 0; j < ands.n && !empty; j++)
			empty = narrow(A, RU_VEC_AT(ands, struct rl_node *, j));
		if (!empty)
			return 0;
		if (first_why == NULL)
			first_why = A->why;
	}
	A->why = first_why;
	return 1;
}

/* ---- shadowing ---------------------------------------------------------- */

/* Structural hash of an expression (fields by path, literals by value). */
static uint64_t
node_hash(const struct rl_node *n, uint64_t h)
{
	const struct rl_node *k;
	uint64_t v[4];

	if (n == NULL)
		return XXH64("", 0, h);
	v[0] = (uint64_t)n->kind;
	v[1] = (uint64_t)(unsigned)n->op;
	v[2] = (uint64_t)(unsigned)n->flag;
	v[3] = h;
	h = XXH64(v, sizeof v, 0);
	switch (n->kind) {
	case RL_N_PATH:
		if (n->sema)
			h = XXH64(((const struct rc_fieldref *)n->sema)->name,
				strlen(((const struct rc_fieldref *)n->sema)->name), h);
		return h;
	case RL_N_LIT:
		h = XXH64(&n->v->kind, sizeof n->v->kind, h);
		if (n->v->kind == RL_V_STR)
			return XXH64(n->v->str, n->v->len, h);
		if (n->v->kind == RL_V_CIDR)
			return XXH64(n->v->str, strlen(n->v->str), h);
		return XXH64(&n->v->num, sizeof n->v->num, XXH64(&n->v->ms, sizeof n->v->ms, h + (uint64_t)n->v->b));
	case RL_N_CALL:
	case RL_N_INDEX:
		h = XXH64(n->name, strlen(n->name), h);
		break;
	default:
		break;
	}
	for (k = n->a; k; k = k->next)
		h = node_hash(k, h);
	h = node_hash(n->b, h);
	return node_hash(n->c, h);
}

/* qsort order of 64-bit hashes. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct srule {
	struct rc_rule *r;
	uint64_t *atoms;   /* sorted, unique */
	size_t n;
};

/* Is every atom of a also an atom of b? (both sorted) */
static int
subset(const struct srule *a, const struct srule *b)
{
	size_t i = 0, j = 0;

	while (i < a->n) {
		while (j < b->n && b->atoms[j] < a->atoms[i])
			j++;
		if (j == b->n || b->atoms[j] != a->atoms[i])
			return 0;
		i++;
	}
	return 1;
}

/* Signature of a rule's contracts (type versions) and destinations:
 * "c1,c2|d1,d2", sorted. Equal signatures: same events, same deliveries. */
static const char *
signature(struct ru_arena *a, struct rc_rule *r)
{
	uint64_t *v = ru_arena_alloc(a, (r->contracts.n + r->routes.n + 1) * sizeof *v);
	size_t i, n = 0, p = 0;
	char *s;

	for (i = 0; i < r->contracts.n; i++)
		v[n++] = (uint64_t)(uintptr_t)RU_VEC_AT(r->contracts, struct rc_contract *, i);
	qsort(v, n, sizeof *v, cmp_u64);
	s = ru_arena_alloc(a, (r->contracts.n + r->routes.n) * 17 + 4);
	for (i = 0; i < n; i++)
		p += (size_t)sprintf(s + p, "%llx,", (unsigned long long)v[i]);
	s[p++] = '|';
	for (i = 0, n = 0; i < r->routes.n; i++)
		v[n++] = (uint64_t)(uintptr_t)RU_VEC_AT(r->routes, struct rc_dest *, i);
	qsort(v, n, sizeof *v, cmp_u64);
	for (i = 0; i < n; i++)
		p += (size_t)sprintf(s + p, "%llx,", (unsigned long long)v[i]);
	s[p] = '\0';
	return s;
}

/*
 * W_SHADOWED for every rule whose conjuncts include all of an earlier rule's
 * with the same signature (the earlier one matches whenever it does).
 */
static void
check_shadowing(struct an *A, struct rc_model *m)
{
	struct rc_map index;      /* "sig#minatom" -> struct ru_vec * of struct srule * */
	struct rc_map always;     /* "sig" -> struct srule * with no condition */
	size_t i, j, k;

	rc_map_init(&index, A->keep);
	rc_map_init(&always, A->keep);
	for (i = 0; i < m->rules.n; i++) {
		struct rc_rule *r = RU_VEC_AT(m->rules, struct rc_rule *, i);
		struct srule *sr, *by = NULL;
		struct ru_vec ands = { 0 };
		const char *sig;

		if ((r->flags & (RV_RF_OTHERWISE | RV_RF_TRANSFORM | RC_RF_TEMPORAL)) || r->emits.n
		    || r->routes.n == 0 || r->events.n == 0)
			continue;
		sig = signature(A->keep, r);
		sr = ru_arena_alloc(A->keep, sizeof *sr);
		sr->r = r;
		if (r->when)
			conjuncts(A->arena, r->when, &ands);
		sr->atoms = ru_arena_alloc(A->keep, (ands.n + 1) * sizeof *sr->atoms);
		for (j = 0; j < ands.n; j++)
			sr->atoms[j] = node_hash(RU_VEC_AT(ands, struct rl_node *, j), 0);
		qsort(sr->atoms, ands.n, sizeof *sr->atoms, cmp_u64);
		for (j = 0, k = 0; j < ands.n; j++)
			if (k == 0 || sr->atoms[k - 1] != sr->atoms[j])
				sr->atoms[k++] = sr->atoms[j];
		sr->n = k;
		by = rc_map_get(&always, sig);
		for (j = 0; by == NULL && j < sr->n; j++) {
			struct ru_vec *cands = rc_map_get(&index, ru_arena_printf(A->arena, "%s#%llx", sig,
				(unsigned long long)sr->atoms[j]));

			for (k = 0; cands && k < cands->n && by == NULL; k++)
				if (subset(RU_VEC_AT(*cands, struct srule *, k), sr))
					by = RU_VEC_AT(*cands, struct srule *, k);
		}
		if (by) {
			rl_diag(A->diag, RL_W_SHADOWED, r->decl->span, r->name, by->r->name, by->r->name);
			ru_arena_reset(A->arena);
			continue;
		}
		if (sr->n == 0) {
			rc_map_put(&always, sig, sr);
		} else {
			const char *key = ru_arena_printf(A->arena, "%s#%llx", sig, (unsigned long long)sr->atoms[0]);
			struct ru_vec *v = rc_map_get(&index, key);

			if (v == NULL) {
				v = ru_arena_alloc(A->keep, sizeof *v);
				rc_map_put(&index, ru_arena_strndup(A->keep, key, strlen(key)), v);
			}
			*(struct srule **)ru_vec_push(A->keep, v, sizeof sr) = sr;
		}
		ru_arena_reset(A->arena);
	}
}

/*
 * An `otherwise` rule is dead when, for each of its event types, some rule
 * routes every event of that type (no condition, not temporal).
 */
static void
check_dead_otherwise(struct an *A, struct rc_model *m)
{
	struct rc_map always; /* event name -> struct rc_rule * routing all of it */
	size_t i, j;

	rc_map_init(&always, A->keep);
	for (i = 0; i < m->rules.n; i++) {
		struct rc_rule *r = RU_VEC_AT(m->rules, struct rc_rule *, i);

		if (r->when || r->routes.n == 0 || (r->flags & (RV_RF_OTHERWISE | RC_RF_TEMPORAL)))
			continue;
		/* all versions of the type must be covered */
		for (j = 0; j < r->events.n; j++) {
			struct rc_event *ev = RU_VEC_AT(r->events, struct rc_event *, j);
			size_t k, nc = 0;

			for (k = 0; k < r->contracts.n; k++)
				if (RU_VEC_AT(r->contracts, struct rc_contract *, k)->ev == ev)
					nc++;
			if (nc == ev->versions.n)
				rc_map_put(&always, ev->name, r);
		}
	}
	for (i = 0; i < m->rules.n; i++) {
		struct rc_rule *r = RU_VEC_AT(m->rules, struct rc_rule *, i), *by;
		char *rules = NULL, *types = NULL;
		size_t k;

		if (!(r->flags & RV_RF_OTHERWISE) || r->events.n == 0)
			continue;
		for (j = 0; j < r->events.n; j++) {
			const char *ev = RU_VEC_AT(r->events, struct rc_event *, j)->name;

			if ((by = rc_map_get(&always, ev)) == NULL)
				break;
			types = types ? ru_arena_printf(A->arena, "%s, %s", types, ev) : (char *)ev;
			/* name each covering rule once */
			for (k = 0; k < j; k++)
				if (rc_map_get(&always, RU_VEC_AT(r->events, struct rc_event *, k)->name) == by)
					break;
			if (k == j)
				rules = rules ? ru_arena_printf(A->arena, "%s, '%s'", rules, by->name)
					: ru_arena_printf(A->arena, "'%s'", by->name);
		}
		if (j == r->events.n)
			rl_diag(A->diag, RL_W_DEAD_OTHERWISE, r->decl->span, r->name,
				ru_arena_printf(A->arena, "%s %s %s every %s event",
					strchr(rules, ',') ? "rules" : "rule", rules,
					strchr(rules, ',') ? "route" : "routes", types));
		ru_arena_reset(A->arena);
	}
}

unsigned
rc_analyze(struct rl_program *p, struct rc_model *m)
{
	struct an A;
	struct ru_arena scratch;
	unsigned before = p->diag->nerrors;
	size_t i;

	memset(&A, 0, sizeof A);
	ru_arena_init(&scratch);
	A.arena = &scratch;
	A.keep = p->arena;
	A.diag = p->diag;
	for (i = 0; i < m->rules.n; i++) {
		struct rc_rule *r = RU_VEC_AT(m->rules, struct rc_rule *, i);

		if (r->when && never_matches(&A, r->when))
			rl_diag(p->diag, RL_E_NEVER_MATCHES, r->decl->span, r->name,
				ru_arena_strndup(p->arena, A.why, strlen(A.why)));
		ru_arena_reset(&scratch);
	}
	check_shadowing(&A, m);
	check_dead_otherwise(&A, m);
	ru_arena_fini(&scratch);
	return p->diag->nerrors - before;
}
