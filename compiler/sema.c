/*
 * sema.c -- semantic analysis of Route programs; see sema.h.
 *
 * Passes, in order: (1) declare every event version, destination, table,
 * rule and test, reporting duplicates; (2) build contract types; (3) check
 * destination policies and resolve dead letters; (4) tables; (5) rules: type
 * patterns, clauses, conditions, actions; (6) test blocks; (7) unused
 * destinations. Every pass keeps going after an error; an expression that
 * failed gets type RC_T_ERROR so that it causes no second message.
 */
#include "config.h"
#include "sema_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>





/* ---- small helpers ---------------------------------------------------- */

static const char *
pattern_name(struct rc_sema *s, const struct rl_node *pat)
{
	return rl_path_str(s->arena, pat);
}

/* Candidate names of a map, for "did you mean". */
static const char **
map_names(struct rc_sema *s, const struct rc_map *m, size_t *n)
{
	const char **v = ru_arena_alloc(s->arena, (m->n + 1) * sizeof *v);
	uint32_t i;

	*n = 0;
	for (i = 0; i < m->cap; i++)
		if (m->ents[i].key)
			v[(*n)++] = m->ents[i].key;
	return v;
}

const char *
rc_sema_suggest_map(struct rc_sema *s, const char *name, const struct rc_map *m)
{
	size_t n;
	const char **c = map_names(s, m, &n);
	char *buf = ru_arena_alloc(s->arena, 160);

	return rl_diag_suggest(buf, 160, name, c, n);
}

/* The source text of node n, as written (arena copy). */
const char *
rc_sema_src_text(struct rc_sema *s, const struct rl_node *n)
{
	const struct rl_srcfile *f = rl_srcset_get(s->diag->src, n->span.file);

	if (f == NULL || n->span.end < n->span.start || n->span.end > f->len)
		return "?";
	return ru_arena_strndup(s->arena, f->text + n->span.start, n->span.end - n->span.start);
}

static void
dup_error(struct rc_sema *s, enum rl_diag_id id, struct rl_node *now, struct rl_node *prev,
	const char *what)
{
	rl_diag(s->diag, id, now->span, what);
	rl_diag(s->diag, RL_N_PREVIOUS, prev->span, what);
}

/* Integer literal in [lo, hi]? */
static int
lit_int(const struct rl_node *n, double lo, double hi, uint64_t *out)
{
	if (n == NULL || n->kind != RL_N_LIT || n->v->kind != RL_V_NUM)
		return 0;
	if (n->v->num != floor(n->v->num) || n->v->num < lo || n->v->num > hi)
		return 0;
	*out = (uint64_t)n->v->num;
	return 1;
}

static int
lit_duration(const struct rl_node *n, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (n == NULL || n->kind != RL_N_LIT || n->v->kind != RL_V_DURATION)
		return 0;
	if (n->v->ms < lo || n->v->ms > hi)
		return 0;
	*out = n->v->ms;
	return 1;
}

int
rc_const_number(const struct rl_node *e, double *out)
{
	double a, b;

	if (e == NULL)
		return 0;
	switch (e->kind) {
	case RL_N_LIT:
		if (e->v->kind != RL_V_NUM)
			return 0;
		*out = e->v->num;
		return 1;
	case RL_N_NEG:
		if (!rc_const_number(e->a, &a))
			return 0;
		return rc_fold_arith('n', a, 0, out) == 0;
	case RL_N_ARITH:
		if (!rc_const_number(e->a, &a) || !rc_const_number(e->b, &b))
			return 0;
		return rc_fold_arith(e->op, a, b, out) == 0;
	default:
		return 0;
	}
}

/* ---- pass 1: declarations --------------------------------------------- */

static struct rc_event *
declare_event(struct rc_sema *s, struct rl_node *d)
{
	const char *name = pattern_name(s, d->a);
	struct rc_event *ev = rc_map_get(&s->m->event_map, name);
	struct rc_contract *c;
	size_t i;

	if (ev == NULL) {
		ev = ru_arena_alloc(s->arena, sizeof *ev);
		ev->name = name;
		ev->decl = d;
		rc_map_put(&s->m->event_map, name, ev);
		VEC_PUSH(s, s->m->events, struct rc_event *, ev);
	}
	for (i = 0; i < ev->versions.n; i++) {
		c = RU_VEC_AT(ev->versions, struct rc_contract *, i);
		if (c->version == d->num) {
			rl_diag(s->diag, RL_E_DUP_EVENT, d->a->span, name, d->num);
			rl_diag(s->diag, RL_N_PREVIOUS, c->decl->a->span,
				ru_arena_printf(s->arena, "%s v%u", name, d->num));
			return ev;
		}
	}
	c = ru_arena_alloc(s->arena, sizeof *c);
	c->ev = ev;
	c->version = d->num;
	c->decl = d;
	/* keep versions sorted ascending (insertion) */
	ru_vec_push(s->arena, &ev->versions, sizeof c);
	for (i = ev->versions.n - 1; i > 0 && RU_VEC_AT(ev->versions, struct rc_contract *, i - 1)->version > c->version; i--)
		RU_VEC_AT(ev->versions, struct rc_contract *, i) = RU_VEC_AT(ev->versions, struct rc_contract *, i - 1);
	RU_VEC_AT(ev->versions, struct rc_contract *, i) = c;
	return ev;
}

static void
declare_all(struct rc_sema *s, struct rl_node *decls)
{
	struct rl_node *d, *prev;

	for (d = decls; d; d = d->next) {
		switch (d->kind) {
		case RL_N_EVENT:
			declare_event(s, d);
			break;
		case RL_N_DEST: {
			struct rc_dest *ds = ru_arena_alloc(s->arena, sizeof *ds);

			ds->name = d->name;
			ds->decl = d;
			if ((prev = rc_map_get(&s->m->dest_map, d->name)) != NULL) {
				dup_error(s, RL_E_DUP_DEST, d, ((struct rc_dest *)(void *)prev)->decl, d->name);
				break;
			}
			rc_map_put(&s->m->dest_map, d->name, ds);
			VEC_PUSH(s, s->m->dests, struct rc_dest *, ds);
			break;
		}
		case RL_N_TABLE: {
			struct rc_table *t = ru_arena_alloc(s->arena, sizeof *t);

			t->name = d->name;
			t->decl = d;
			if ((prev = rc_map_get(&s->m->table_map, d->name)) != NULL) {
				dup_error(s, RL_E_DUP_TABLE, d, ((struct rc_table *)(void *)prev)->decl, d->name);
				break;
			}
			rc_map_put(&s->m->table_map, d->name, t);
			VEC_PUSH(s, s->m->tables, struct rc_table *, t);
			break;
		}
		case RL_N_RULE: {
			struct rc_rule *r = ru_arena_alloc(s->arena, sizeof *r);

			r->name = d->name;
			r->decl = d;
			if ((prev = rc_map_get(&s->m->rule_map, d->name)) != NULL) {
				dup_error(s, RL_E_DUP_RULE, d, ((struct rc_rule *)(void *)prev)->decl, d->name);
				break;
			}
			rc_map_put(&s->m->rule_map, d->name, r);
			VEC_PUSH(s, s->m->rules, struct rc_rule *, r);
			break;
		}
		case RL_N_TEST:
			if ((prev = rc_map_get(&s->m->test_map, d->str)) != NULL) {
				dup_error(s, RL_E_DUP_TEST, d, prev, d->str);
				break;
			}
			rc_map_put(&s->m->test_map, d->str, d);
			VEC_PUSH(s, s->m->tests, struct rl_node *, d);
			break;
		default:
			break;
		}
	}
}

/* ---- pass 2: contract types ------------------------------------------- */

static struct rc_ctype *build_type(struct rc_sema *s, struct rl_node *t);

static struct rc_cfield *
build_fields(struct rc_sema *s, struct rl_node *list)
{
	struct rc_cfield *head = NULL, **tail = &head, *f, *g;
	struct rl_node *n;

	for (n = list; n; n = n->next) {
		for (g = head; g; g = g->next) {
			if (strcmp(g->name, n->name) == 0) {
				dup_error(s, RL_E_DUP_FIELD, n, g->decl, n->name);
				break;
			}
		}
		if (g)
			continue;
		f = ru_arena_alloc(s->arena, sizeof *f);
		f->name = n->name;
		f->optional = n->flag;
		f->decl = n;
		f->type = build_type(s, n->a);
		*tail = f;
		tail = &f->next;
	}
	return head;
}

static struct rc_ctype *
build_type(struct rc_sema *s, struct rl_node *t)
{
	static const struct { const char *name; unsigned base; } names[] = {
		{ "string", RV_T_STRING }, { "number", RV_T_NUMBER }, { "bool", RV_T_BOOL },
		{ "ip", RV_T_IP }, { "time", RV_T_TIME }, { "any", RV_T_ANY },
	};
	struct rc_ctype *ct = ru_arena_alloc(s->arena, sizeof *ct);
	struct rl_node *e, *f;
	size_t i;

	switch (t->kind) {
	case RL_N_TNAME:
		ct->base = RV_T_ANY;
		for (i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(t->name, names[i].name) == 0)
				break;
		if (i == sizeof names / sizeof names[0])
			ERR(s, E_UNKNOWN_TYPE, t->span, t->name);
		else
			ct->base = names[i].base;
		break;
	case RL_N_TENUM:
		ct->base = RV_T_STRING;
		ct->enums = t->a;
		for (e = t->a; e; e = e->next) {
			ct->nenums++;
			for (f = t->a; f != e; f = f->next)
				if (f->v->len == e->v->len && memcmp(f->v->str, e->v->str, e->v->len) == 0) {
					ERR(s, E_DUP_ENUM, e->span, e->v->str);
					break;
				}
		}
		break;
	case RL_N_TARRAY:
		ct->base = RV_T_ARRAY;
		ct->elem = build_type(s, t->a);
		break;
	case RL_N_TOBJECT:
		ct->base = RV_T_OBJECT;
		ct->fields = build_fields(s, t->a);
		break;
	default:
		ct->base = RV_T_ANY;
		break;
	}
	return ct;
}

static void
build_contracts(struct rc_sema *s)
{
	size_t i, j;

	for (i = 0; i < s->m->events.n; i++) {
		struct rc_event *ev = RU_VEC_AT(s->m->events, struct rc_event *, i);

		for (j = 0; j < ev->versions.n; j++) {
			struct rc_contract *c = RU_VEC_AT(ev->versions, struct rc_contract *, j);

			c->root = ru_arena_alloc(s->arena, sizeof *c->root);
			c->root->base = RV_T_OBJECT;
			c->root->fields = build_fields(s, c->decl->b);
		}
	}
}

/* ---- pass 3: destinations --------------------------------------------- */

#define DAY_MS 86400000ull

static void
check_dest(struct rc_sema *s, struct rc_dest *d)
{
	struct rl_node *p;
	struct rl_node *seen[RL_P_NPOLICIES] = { 0 };
	uint64_t v, v2;

	d->pol.priority = 5;
	d->pol.workers = 1;
	d->pol.dead_letter = RV_NONE;
	for (p = d->decl->a; p; p = p->next) {
		if (seen[p->op]) {
			ERR(s, E_DUP_POLICY, p->span, rl_policy_name(p->op));
			continue;
		}
		seen[p->op] = p;
		switch (p->op) {
		case RL_P_PRIORITY:
			if (!lit_int(p->a, 0, 9, &v))
				ERR(s, E_POLICY_RANGE, p->a->span, "priority", "0", "9");
			else
				d->pol.priority = (uint8_t)v;
			break;
		case RL_P_WORKERS:
			if (!lit_int(p->a, 1, 1024, &v))
				ERR(s, E_POLICY_RANGE, p->a->span, "workers", "1", "1024");
			else
				d->pol.workers = (uint16_t)v;
			break;
		case RL_P_QUEUE:
			if (!lit_int(p->a, 1, 100000000, &v))
				ERR(s, E_POLICY_RANGE, p->a->span, "queue", "1", "100000000");
			else
				d->pol.queue_max = (uint32_t)v;
			break;
		case RL_P_RETRY:
			if (!lit_int(p->a, 0, 100, &v)) {
				ERR(s, E_POLICY_RANGE, p->a->span, "retry", "0", "100");
				break;
			}
			d->pol.retry_max = (uint32_t)v;
			d->pol.backoff_min_ms = 500;
			d->pol.backoff_max_ms = 30000;
			if (p->b == NULL)
				break;
			if (!lit_duration(p->b, 1, DAY_MS, &v)) {
				ERR(s, E_POLICY_RANGE, p->b->span, "backoff", "1ms", "1d");
				break;
			}
			if (!lit_duration(p->c, 1, DAY_MS, &v2)) {
				ERR(s, E_POLICY_RANGE, p->c->span, "backoff", "1ms", "1d");
				break;
			}
			if (v > v2) {
				ERR(s, E_BACKOFF_ORDER, rl_span_join(p->b->span, p->c->span),
					rc_sema_src_text(s, p->b), rc_sema_src_text(s, p->c));
				break;
			}
			d->pol.backoff_min_ms = (uint32_t)v;
			d->pol.backoff_max_ms = (uint32_t)v2;
			break;
		case RL_P_MAX_AGE:
			if (!lit_duration(p->a, 1, 365 * DAY_MS, &v))
				ERR(s, E_POLICY_RANGE, p->a->span, "max_age", "1ms", "365d");
			else
				d->pol.max_age_ms = (uint32_t)v;
			break;
		case RL_P_TIMEOUT:
			if (!lit_duration(p->a, 1, 3600000, &v))
				ERR(s, E_POLICY_RANGE, p->a->span, "timeout", "1ms", "1h");
			else
				d->pol.timeout_ms = (uint32_t)v;
			break;
		case RL_P_DEAD_LETTER: {
			struct rc_dest *dl = rc_map_get(&s->m->dest_map, p->a->name);

			if (dl == NULL)
				ERR(s, E_UNKNOWN_DEST, p->a->span, p->a->name,
					rc_sema_suggest_map(s, p->a->name, &s->m->dest_map));
			else if (dl == d)
				ERR(s, E_DEAD_LETTER_SELF, p->a->span, d->name);
			else {
				d->dead_letter = dl;
				dl->used = 1;
			}
			break;
		}
		case RL_P_BATCH:
			if (p->a && !lit_duration(p->a, 1, DAY_MS, &v))
				ERR(s, E_POLICY_RANGE, p->a->span, "batch every", "1ms", "1d");
			else if (p->a)
				d->pol.batch_every_ms = (uint32_t)v;
			if (p->b && !lit_int(p->b, 1, 1000000, &v))
				ERR(s, E_POLICY_RANGE, p->b->span, "batch size", "1", "1000000");
			else if (p->b)
				d->pol.batch_max = (uint32_t)v;
			break;
		case RL_P_THROTTLE:
			if (!lit_int(p->a, 1, 1000000000, &v))
				ERR(s, E_POLICY_RANGE, p->a->span, "throttle count", "1", "1000000000");
			else if (!lit_duration(p->b, 1, DAY_MS, &v2))
				ERR(s, E_POLICY_RANGE, p->b->span, "throttle period", "1ms", "1d");
			else {
				d->pol.throttle_n = (uint32_t)v;
				d->pol.throttle_per_ms = (uint32_t)v2;
			}
			break;
		default:
			break;
		}
	}
}

/* ---- event type patterns ---------------------------------------------- */

/* Does the dotted name match the pattern segments (with '*')? */
static int
pattern_matches(const struct rl_node *seg, const char *name)
{
	const char *p = name;

	for (; seg; seg = seg->next) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (*p == '\0')
			return 0;
		if (strcmp(seg->name, "*") == 0) {
			if (seg->next == NULL)
				return 1; /* a trailing '*' takes one or more segments */
		} else if (strlen(seg->name) != len || memcmp(seg->name, p, len) != 0) {
			return 0;
		}
		p = dot ? dot + 1 : p + len;
		if (dot == NULL && seg->next != NULL)
			return 0;
		if (dot != NULL && seg->next == NULL)
			return 0;
	}
	return 1;
}

static void
add_contract(struct rc_sema *s, struct ru_vec *contracts, struct ru_vec *events,
	struct rc_event *ev, uint32_t version)
{
	size_t i;
	int have = 0;

	for (i = 0; i < events->n; i++)
		if (RU_VEC_AT(*events, struct rc_event *, i) == ev)
			have = 1;
	if (!have)
		VEC_PUSH(s, *events, struct rc_event *, ev);
	for (i = 0; i < ev->versions.n; i++) {
		struct rc_contract *c = RU_VEC_AT(ev->versions, struct rc_contract *, i);
		size_t j;

		if (version && c->version != version)
			continue;
		for (j = 0; j < contracts->n; j++)
			if (RU_VEC_AT(*contracts, struct rc_contract *, j) == c)
				break;
		if (j == contracts->n)
			VEC_PUSH(s, *contracts, struct rc_contract *, c);
	}
}

/*
 * Resolves one type pattern into contracts (and events). Returns the number
 * of contracts added; reports unknown types, versions and empty wildcards.
 */
static unsigned
resolve_pattern(struct rc_sema *s, struct rl_node *pat, struct ru_vec *contracts,
	struct ru_vec *events)
{
	const struct rl_node *seg;
	int wild = 0;
	size_t before = contracts->n, i, j;
	const char *name = pattern_name(s, pat);

	for (seg = pat->a; seg; seg = seg->next)
		if (strcmp(seg->name, "*") == 0)
			wild = 1;
	if (!wild) {
		struct rc_event *ev = rc_map_get(&s->m->event_map, name);

		if (ev == NULL) {
			ERR(s, E_UNKNOWN_EVENT, pat->span, name, rc_sema_suggest_map(s, name, &s->m->event_map));
			return 0;
		}
		if (pat->num) {
			for (j = 0; j < ev->versions.n; j++)
				if (RU_VEC_AT(ev->versions, struct rc_contract *, j)->version == pat->num)
					break;
			if (j == ev->versions.n) {
				ERR(s, E_UNKNOWN_VERSION, pat->span, name, pat->num);
				return 0;
			}
		}
		add_contract(s, contracts, events, ev, pat->num);
		return (unsigned)(contracts->n - before);
	}
	for (i = 0; i < s->m->events.n; i++) {
		struct rc_event *ev = RU_VEC_AT(s->m->events, struct rc_event *, i);

		if (pattern_matches(pat->a, ev->name))
			add_contract(s, contracts, events, ev, pat->num);
	}
	if (contracts->n == before)
		ERR(s, E_PATTERN_NO_MATCH, pat->span, name);
	return (unsigned)(contracts->n - before);
}

/* The single contract named by an emit/send pattern (latest version by default). */
static struct rc_contract *
resolve_one(struct rc_sema *s, struct rl_node *pat)
{
	struct ru_vec cs = { 0 }, evs = { 0 };
	const struct rl_node *seg;

	for (seg = pat->a; seg; seg = seg->next)
		if (strcmp(seg->name, "*") == 0) {
			ERR(s, E_CLAUSE_NEEDS, pat->span, "emit", "a single event type, not a pattern");
			return NULL;
		}
	if (resolve_pattern(s, pat, &cs, &evs) == 0)
		return NULL;
	return RU_VEC_AT(cs, struct rc_contract *, cs.n - 1);
}

/* ---- tables ------------------------------------------------------------- */

static void
check_table(struct rc_sema *s, struct rc_table *t)
{
	struct rl_node *d = t->decl, *o;
	struct ru_vec cs = { 0 }, evs = { 0 };
	struct rc_ctype *vt = build_type(s, d->a);
	unsigned kt, vty;
	uint64_t v;

	t->max_keys = 1000000;
	t->value_type = rc_sema_ctype_code(vt);
	if (t->value_type == RV_T_OBJECT || RC_T_IS_ARRAY(t->value_type)) {
		ERR(s, E_TABLE_TYPE, d->a->span, t->name, rc_sema_tname(s, t->value_type), "-", "a scalar");
		return;
	}
	if (resolve_pattern(s, d->c, &cs, &evs) == 0)
		return;
	t->from = RU_VEC_AT(evs, struct rc_event *, 0);
	s->scopes[0].contracts = &cs;
	s->nscopes = 1;
	kt = rc_sema_expr(s, d->b);
	vty = rc_sema_expr(s, d->x);
	t->key_path = d->b;
	t->value_path = d->x;
	if (kt != RC_T_ERROR && kt != RV_T_STRING && kt != RV_T_NUMBER) {
		ERR(s, E_TABLE_KEY_TYPE, d->b->span, t->name, ((struct rc_fieldref *)d->b->sema)->name, rc_sema_tname(s, kt));
		kt = RC_T_ERROR;
	}
	t->key_type = kt == RC_T_ERROR ? 0 : kt;
	if (vty != RC_T_ERROR && !rc_sema_comparable(vty, t->value_type))
		ERR(s, E_TABLE_TYPE, d->x->span, t->name, rc_sema_tname(s, t->value_type),
			((struct rc_fieldref *)d->x->sema)->name, rc_sema_tname(s, vty));
	for (o = d->y; o; o = o->next) {
		switch (o->op) {
		case RL_P_DELETE_ON: {
			struct ru_vec dcs = { 0 }, devs = { 0 };

			if (resolve_pattern(s, o->a, &dcs, &devs) == 0)
				break;
			t->del = RU_VEC_AT(devs, struct rc_event *, 0);
			s->scopes[0].contracts = &dcs;
			rc_sema_expr(s, d->b); /* the key field must be in the deleting event too */
			break;
		}
		case RL_P_TTL:
			if (!lit_duration(o->a, 1000, 3650 * DAY_MS, &v))
				ERR(s, E_POLICY_RANGE, o->a->span, "ttl", "1s", "3650d");
			else
				t->ttl_ms = v;
			break;
		case RL_P_MAX_KEYS:
			if (!lit_int(o->a, 1, 1e9, &v))
				ERR(s, E_POLICY_RANGE, o->a->span, "max_keys", "1", "1000000000");
			else
				t->max_keys = (uint32_t)v;
			break;
		default:
			break;
		}
	}
	s->nscopes = 0;
	s->scopes[0].contracts = NULL;
}

/* ---- rules -------------------------------------------------------------- */

/* Is the type of a value acceptable for a field of declared type target? */
static int
assignable(unsigned target, unsigned value)
{
	if (value == RC_T_ERROR || RC_T_BASE(target) == RV_T_ANY)
		return 1;
	if (value == RV_T_NULL)
		return 1;
	if (RC_T_IS_ARRAY(target) != RC_T_IS_ARRAY(value))
		return 0;
	if (STRING_LIKE(RC_T_BASE(target)) && STRING_LIKE(RC_T_BASE(value)))
		return 1;
	return RC_T_BASE(target) == RC_T_BASE(value) || RC_T_BASE(value) == RV_T_ANY;
}

static void
check_set(struct rc_sema *s, struct rc_rule *r, struct rl_node *item)
{
	struct rl_node *a;
	size_t i;

	for (a = item->a; a; a = a->next) {
		unsigned tt = rc_sema_expr(s, a->a), tv = rc_sema_expr(s, a->b);
		struct rc_fieldref *fr = a->a->sema;
		struct rc_assign as = { fr, a->b, a };

		if (tt == RC_T_ERROR || fr == NULL)
			continue;
		if (fr->meta) {
			ERR(s, E_SET_META, a->a->span, a->a->a->name);
			continue;
		}
		if (RC_T_IS_ARRAY(tt) || RC_T_BASE(tt) == RV_T_OBJECT) {
			ERR(s, E_SET_TYPE, a->a->span, fr->name, rc_sema_tname(s, tt), "scalar");
			continue;
		}
		if (!assignable(tt, tv)) {
			ERR(s, E_SET_TYPE, a->b->span, fr->name, rc_sema_tname(s, tt), rc_sema_tname(s, tv));
			continue;
		}
		rc_sema_check_enum(s, a->a, a->b);
		for (i = 0; i < r->sets.n; i++)
			if (strcmp(RU_VEC_AT(r->sets, struct rc_assign, i).target->name, fr->name) == 0)
				ERR(s, E_ASSIGN_DUP, a->a->span, fr->name);
		VEC_PUSH(s, r->sets, struct rc_assign, as);
	}
}

/*
 * Checks an object literal against object type t (emit bodies and test
 * events). Values are expressions (emit) or literals only (tests). Reports
 * missing required members when require is set.
 */
static void
check_object(struct rc_sema *s, struct rl_node *obj, struct rc_ctype *t, const char *prefix,
	const char *const *psegs, unsigned npsegs,
	struct rc_contract *c, int literals, int require, struct ru_vec *out)
{
	struct rl_node *m, *m2;
	struct rc_cfield *f;

	for (m = obj->a; m; m = m->next) {
		const char *path = prefix ? ru_arena_printf(s->arena, "%s.%s", prefix, m->name) : m->name;
		const char **segs = ru_arena_alloc(s->arena, (npsegs + 1) * sizeof *segs);
		unsigned ft, vt;

		if (npsegs)
			memcpy(segs, psegs, npsegs * sizeof *segs);
		segs[npsegs] = m->name;

		for (m2 = obj->a; m2 != m; m2 = m2->next)
			if (strcmp(m2->name, m->name) == 0) {
				ERR(s, E_ASSIGN_DUP, m->span, path);
				break;
			}
		if (m2 != m)
			continue;
		f = t->base == RV_T_OBJECT ? rc_sema_find_member(t, m->name) : NULL;
		if (f == NULL) {
			if (t->base == RV_T_ANY)
				continue;
			ERR(s, E_UNKNOWN_FIELD, m->span, m->name,
				t->base == RV_T_OBJECT ? rc_sema_suggest_member(s, t, m->name) : "");
			continue;
		}
		ft = rc_sema_ctype_code(f->type);
		if (m->a->kind == RL_N_OBJECT) {
			if (f->type->base != RV_T_OBJECT) {
				ERR(s, E_SET_TYPE, m->a->span, path, rc_sema_tname(s, ft), "object");
				continue;
			}
			check_object(s, m->a, f->type, path, segs, npsegs + 1, c, literals, require, out);
			continue;
		}
		if (m->a->kind == RL_N_LIST) {
			struct rl_node *el;

			if (!RC_T_IS_ARRAY(ft)) {
				ERR(s, E_SET_TYPE, m->a->span, path, rc_sema_tname(s, ft), "list");
				continue;
			}
			for (el = m->a->a; el; el = el->next) {
				if (el->kind == RL_N_OBJECT || el->kind == RL_N_LIST)
					continue;
				if (literals && el->kind != RL_N_LIT && !(el->kind == RL_N_NEG && el->a->kind == RL_N_LIT)) {
					ERR0(s, E_TEST_VALUE, el->span);
					continue;
				}
				vt = rc_sema_expr(s, el);
				if (!assignable(RC_T_BASE(ft), vt))
					ERR(s, E_SET_TYPE, el->span, path, rc_sema_tname(s, ft), rc_sema_tname(s, vt));
			}
			continue;
		}
		if (literals && m->a->kind != RL_N_LIT && !(m->a->kind == RL_N_NEG && m->a->a->kind == RL_N_LIT)) {
			ERR0(s, E_TEST_VALUE, m->a->span);
			continue;
		}
		vt = rc_sema_expr(s, m->a);
		if (!assignable(ft, vt)) {
			ERR(s, E_SET_TYPE, m->a->span, path, rc_sema_tname(s, ft), rc_sema_tname(s, vt));
			continue;
		}
		if (f->type->enums && m->a->kind == RL_N_LIT && m->a->v->kind == RL_V_STR) {
			struct rl_node *e;

			for (e = f->type->enums; e; e = e->next)
				if (e->v->len == m->a->v->len && memcmp(e->v->str, m->a->v->str, e->v->len) == 0)
					break;
			if (e == NULL)
				ERR(s, E_ENUM_VALUE, m->a->span, m->a->v->str, path, "the declared enum");
		}
		if (out) {
			struct rc_assign as = { 0 };
			struct rc_fieldref *fr = ru_arena_alloc(s->arena, sizeof *fr);

			fr->name = path;
			fr->segs = segs;
			fr->nseg = npsegs + 1;
			fr->type = ft;
			as.target = fr;
			as.value = m->a;
			as.decl = m;
			VEC_PUSH(s, *out, struct rc_assign, as);
		}
	}
	if (!require)
		return;
	for (f = t->fields; f; f = f->next) {
		if (f->optional)
			continue;
		for (m = obj->a; m; m = m->next)
			if (strcmp(m->name, f->name) == 0)
				break;
		if (m == NULL)
			ERR(s, E_EMIT_MISSING, obj->span, c->ev->name, c->version,
				prefix ? ru_arena_printf(s->arena, "%s.%s", prefix, f->name) : f->name);
	}
}

static void
check_route(struct rc_sema *s, struct rc_rule *r, struct rl_node *names)
{
	struct rl_node *n;
	size_t i;

	for (n = names; n; n = n->next) {
		struct rc_dest *d = rc_map_get(&s->m->dest_map, n->name);

		if (d == NULL) {
			ERR(s, E_UNKNOWN_DEST, n->span, n->name, rc_sema_suggest_map(s, n->name, &s->m->dest_map));
			continue;
		}
		d->used = 1;
		if (r == NULL)
			continue;
		for (i = 0; i < r->routes.n; i++)
			if (RU_VEC_AT(r->routes, struct rc_dest *, i) == d)
				break;
		if (i == r->routes.n)
			VEC_PUSH(s, r->routes, struct rc_dest *, d);
	}
}

static int
is_temporal_item(enum rl_kind k)
{
	return k == RL_N_WITHIN || k == RL_N_EVERY || k == RL_N_BY || k == RL_N_THEN
		|| k == RL_N_UNLESS || k == RL_N_THROTTLE || k == RL_N_DEDUP
		|| k == RL_N_BACKPRESSURE;
}

static void
check_rule(struct rc_sema *s, struct rc_rule *r)
{
	struct rl_node *d = r->decl, *it, *p;
	struct rl_node *single[RL_N_NKINDS] = { 0 };
	struct ru_vec alias_cs = { 0 }, alias_evs = { 0 };
	int nactions = 0, have_window = 0, have_agg_state;
	uint64_t v;

	s->rule = r;
	for (p = d->a; p; p = p->next)
		resolve_pattern(s, p, &r->contracts, &r->events);
	if (r->contracts.n == 0)
		return;
	s->scopes[0].alias = NULL;
	s->scopes[0].contracts = &r->contracts;
	s->nscopes = 1;
	if (d->b) {
		s->scopes[1].alias = d->b->name;
		s->scopes[1].contracts = &r->contracts;
		s->nscopes = 2;
	}
	s->temporal = 0;
	s->first_temporal = NULL;
	/* the other event of a sequence/absence, if any, gets its own alias */
	for (it = d->c; it; it = it->next) {
		if ((it->kind == RL_N_THEN || it->kind == RL_N_UNLESS) && it->b
		    && resolve_pattern(s, it->a, &alias_cs, &alias_evs) > 0) {
			s->scopes[s->nscopes].alias = it->b->name;
			s->scopes[s->nscopes].contracts = &alias_cs;
			s->nscopes++;
			break;
		}
	}
	for (it = d->c; it; it = it->next) {
		int once = it->kind != RL_N_ROUTE && it->kind != RL_N_SET && it->kind != RL_N_EMIT;

		if (once && single[it->kind]) {
			ERR(s, E_DUP_CLAUSE, it->span, r->name, rl_kind_name(it->kind));
			continue;
		}
		single[it->kind] = it;
		if (is_temporal_item(it->kind)) {
			s->temporal = 1;
			if (s->first_temporal == NULL)
				s->first_temporal = it;
		}
		switch (it->kind) {
		case RL_N_WHEN:
			s->in_when = 1;
			rc_sema_cond(s, it->a, "when");
			s->in_when = 0;
			r->when = it->a;
			break;
		case RL_N_OTHERWISE:
			r->flags |= RV_RF_OTHERWISE;
			break;
		case RL_N_ROUTE:
			nactions++;
			r->flags |= RV_RF_ROUTES;
			check_route(s, r, it->a);
			break;
		case RL_N_SET:
			nactions++;
			r->flags |= RV_RF_TRANSFORM;
			check_set(s, r, it);
			break;
		case RL_N_EMIT: {
			struct rc_emit em = { 0 };

			nactions++;
			em.decl = it;
			em.contract = resolve_one(s, it->a);
			if (em.contract == NULL)
				break;
			check_object(s, it->b, em.contract->root, NULL, NULL, 0, em.contract, 0, 1, &em.fields);
			VEC_PUSH(s, r->emits, struct rc_emit, em);
			break;
		}
		case RL_N_BACKPRESSURE:
			nactions++;
			break;
		case RL_N_WITHIN:
		case RL_N_EVERY:
			have_window = 1;
			if (!lit_duration(it->a, 1, 366 * DAY_MS, &v))
				ERR(s, E_CLAUSE_NEEDS, it->a->span, it->kind == RL_N_WITHIN ? "within" : "every",
					"a duration between 1ms and 366d");
			break;
		case RL_N_BY:
			for (p = it->a; p; p = p->next)
				rc_sema_expr(s, p);
			break;
		case RL_N_THEN:
		case RL_N_UNLESS: {
			struct ru_vec cs = { 0 }, evs = { 0 };
			struct rc_scope save = s->scopes[0];

			if (resolve_pattern(s, it->a, &cs, &evs) == 0)
				break;
			if (it->c) {
				/* plain names in `where` refer to the other event */
				s->scopes[0].contracts = &cs;
				rc_sema_cond(s, it->c, "where");
				s->scopes[0] = save;
			}
			break;
		}
		case RL_N_THROTTLE:
			if (!lit_int(it->a, 1, 1e9, &v))
				ERR(s, E_POLICY_RANGE, it->a->span, "throttle count", "1", "1000000000");
			if (!lit_duration(it->b, 1, DAY_MS, &v))
				ERR(s, E_POLICY_RANGE, it->b->span, "throttle period", "1ms", "1d");
			if (it->c)
				check_route(s, NULL, it->c->a);
			break;
		case RL_N_DEDUP:
			if (it->a)
				for (p = it->a->a; p; p = p->next)
					rc_sema_expr(s, p);
			if (!lit_duration(it->b, 1, 366 * DAY_MS, &v))
				ERR(s, E_CLAUSE_NEEDS, it->b->span, "dedup", "a duration between 1ms and 366d");
			break;
		default:
			break;
		}
	}
	if (nactions == 0)
		ERR(s, E_NO_ACTION, d->span, r->name);
	if (single[RL_N_WHEN] && single[RL_N_OTHERWISE])
		ERR(s, E_WHEN_OTHERWISE, single[RL_N_OTHERWISE]->span, r->name);
	if (single[RL_N_OTHERWISE] && (r->flags & RV_RF_TRANSFORM))
		ERR(s, E_OTHERWISE_TRANSFORM, single[RL_N_OTHERWISE]->span, r->name);
	/* every stateful construct needs a bound */
	have_agg_state = s->first_temporal && s->first_temporal->kind == RL_N_CALL;
	if ((have_agg_state || single[RL_N_THEN] || single[RL_N_UNLESS]) && !have_window) {
		struct rl_node *at = single[RL_N_THEN] ? single[RL_N_THEN]
			: single[RL_N_UNLESS] ? single[RL_N_UNLESS] : s->first_temporal;
		const char *what = at->kind == RL_N_CALL ? ru_arena_printf(s->arena, "aggregate '%s()'", at->name)
			: at->kind == RL_N_THEN ? "a sequence ('then')" : "an absence ('unless')";

		ERR(s, E_UNBOUNDED, at->span, what, at->kind == RL_N_CALL ? " or 'every DURATION'" : "");
	}
	if (single[RL_N_BY] && !have_agg_state && !single[RL_N_THEN] && !single[RL_N_UNLESS]
	    && !single[RL_N_THROTTLE])
		ERR(s, E_CLAUSE_NEEDS, single[RL_N_BY]->span, "by", "an aggregate, a sequence, an absence or a throttle");
	if (have_window && !have_agg_state && !single[RL_N_THEN] && !single[RL_N_UNLESS])
		ERR(s, E_CLAUSE_NEEDS, (single[RL_N_WITHIN] ? single[RL_N_WITHIN] : single[RL_N_EVERY])->span,
			single[RL_N_WITHIN] ? "within" : "every", "an aggregate, a sequence or an absence");
	if (single[RL_N_BACKPRESSURE] && !have_agg_state)
		ERR(s, E_CLAUSE_NEEDS, single[RL_N_BACKPRESSURE]->span, "backpressure",
			"a condition on rate() or count()");
	if (s->temporal) {
		r->flags |= RC_RF_TEMPORAL;
		r->temporal = s->first_temporal;
	}
	s->nscopes = 0;
	s->rule = NULL;
}

/* ---- tests -------------------------------------------------------------- */

/*
 * Test blocks: every `send` must be a valid event of its contract (required
 * fields present, types and enums right, literal values only); `expect set`
 * names a field of the last sent event's contract with a value that fits.
 */
static void
check_test(struct rc_sema *s, struct rl_node *t)
{
	struct rl_node *st;
	struct rc_contract *last = NULL;
	uint64_t v;

	for (st = t->a; st; st = st->next) {
		switch (st->kind) {
		case RL_N_SEND: {
			struct rc_contract *c = resolve_one(s, st->a);

			if (c)
				check_object(s, st->b, c->root, NULL, NULL, 0, c, 1, 1, NULL);
			last = c;
			break;
		}
		case RL_N_ADVANCE:
			if (!lit_duration(st->a, 1, 3650 * DAY_MS, &v))
				ERR(s, E_CLAUSE_NEEDS, st->a->span, "advance", "a duration");
			break;
		case RL_N_EXPECT:
			if (st->op == RL_X_ROUTED || st->op == RL_X_NOT_ROUTED || st->op == RL_X_ONLY_ROUTED)
				check_route(s, NULL, st->a);
			else if (st->op == RL_X_EMITTED) {
				struct rc_contract *c = resolve_one(s, st->a);

				if (c && st->b)
					check_object(s, st->b, c->root, NULL, NULL, 0, c, 1, 0, NULL);
			} else if (st->op == RL_X_SET) {
				struct ru_vec cs = { 0 };
				unsigned tt, tv;

				if (st->b->kind != RL_N_LIT && !(st->b->kind == RL_N_NEG && st->b->a->kind == RL_N_LIT)) {
					ERR0(s, E_TEST_VALUE, st->b->span);
					break;
				}
				if (last == NULL) {
					ERR(s, E_CLAUSE_NEEDS, st->span, "expect set", "a 'send' before it");
					break;
				}
				VEC_PUSH(s, cs, struct rc_contract *, last);
				s->scopes[0].alias = NULL;
				s->scopes[0].contracts = &cs;
				s->nscopes = 1;
				tt = rc_sema_expr(s, st->a);
				tv = rc_sema_expr(s, st->b);
				s->nscopes = 0;
				if (tt == RC_T_ERROR || tv == RC_T_ERROR)
					break;
				if (!assignable(tt, tv))
					ERR(s, E_SET_TYPE, st->b->span, ((struct rc_fieldref *)st->a->sema)->name,
						rc_sema_tname(s, tt), rc_sema_tname(s, tv));
				else
					rc_sema_check_enum(s, st->a, st->b);
			}
			break;
		default:
			break;
		}
	}
}

/* ---- entry point ---------------------------------------------------------- */

unsigned
rc_sema_check(struct rl_program *p, struct rc_model *m)
{
	struct rc_sema s;
	unsigned before = p->diag->nerrors;
	size_t i;

	memset(&s, 0, sizeof s);
	s.arena = p->arena;
	s.diag = p->diag;
	s.m = m;
	rc_map_init(&m->event_map, p->arena);
	rc_map_init(&m->dest_map, p->arena);
	rc_map_init(&m->table_map, p->arena);
	rc_map_init(&m->rule_map, p->arena);
	rc_map_init(&m->test_map, p->arena);
	rc_map_init(&m->field_map, p->arena);
	declare_all(&s, p->decls.head);
	build_contracts(&s);
	for (i = 0; i < m->dests.n; i++)
		check_dest(&s, RU_VEC_AT(m->dests, struct rc_dest *, i));
	for (i = 0; i < m->tables.n; i++)
		check_table(&s, RU_VEC_AT(m->tables, struct rc_table *, i));
	for (i = 0; i < m->rules.n; i++) {
		struct rc_rule *r = RU_VEC_AT(m->rules, struct rc_rule *, i);

		r->index = (uint32_t)i;
		check_rule(&s, r);
	}
	for (i = 0; i < m->tests.n; i++)
		check_test(&s, RU_VEC_AT(m->tests, struct rl_node *, i));
	for (i = 0; i < m->dests.n; i++) {
		struct rc_dest *d = RU_VEC_AT(m->dests, struct rc_dest *, i);

		if (!d->used)
			ERR(&s, W_UNUSED_DEST, d->decl->span, d->name);
	}
	return p->diag->nerrors - before;
}
