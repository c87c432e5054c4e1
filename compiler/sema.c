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

/* The dotted name of pattern pat, as an arena string. */
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

/* A duplicate: the error at now, then a note at the first one. The note
 * quotes what the error quotes: 'name', or "title" for tests. */
static void
dup_error(struct rc_sema *s, enum rl_diag_id id, struct rl_node *now, struct rl_node *prev,
	const char *what)
{
	rl_diag(s->diag, id, now->span, what);
	rl_diag(s->diag, RL_N_PREVIOUS, prev->span, ru_arena_printf(s->arena,
		id == RL_E_DUP_TEST ? "\"%s\"" : "'%s'", what));
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

/*
 * Duration literal in [lo, hi] ms? Returns 1 with *out set, else 0 (no
 * message).
 */
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

/* What kind of literal n is, for "needs a duration, not a number". */
static const char *
lit_kind(const struct rl_node *n)
{
	if (n == NULL || n->kind != RL_N_LIT)
		return "an expression";
	switch (n->v->kind) {
	case RL_V_NUM: return n->v->num == floor(n->v->num) ? "a whole number" : "a fraction";
	case RL_V_STR: return "a string";
	case RL_V_DURATION: return "a duration";
	case RL_V_RATE: return "a rate";
	case RL_V_CIDR: return "a network";
	case RL_V_BOOL: return "a bool";
	default: return "null";
	}
}

/* A policy's whole-number argument in [lo, hi]; reports what is wrong. */
static int
policy_int(struct rc_sema *s, const struct rl_node *n, const char *what, double lo, double hi,
	uint64_t *out)
{
	if (n->kind != RL_N_LIT || n->v->kind != RL_V_NUM || n->v->num != floor(n->v->num)) {
		ERR(s, E_POLICY_KIND, n->span, what, "a whole number", lit_kind(n));
		return 0;
	}
	if (!lit_int(n, lo, hi, out)) {
		ERR(s, E_POLICY_RANGE, n->span, what, ru_arena_printf(s->arena, "%.0f", lo),
			ru_arena_printf(s->arena, "%.0f", hi));
		return 0;
	}
	return 1;
}

/* A policy's duration argument in [lo, hi] ms, bounds shown as written. */
static int
policy_duration(struct rc_sema *s, const struct rl_node *n, const char *what, uint64_t lo,
	uint64_t hi, const char *los, const char *his, uint64_t *out)
{
	if (n->kind != RL_N_LIT || n->v->kind != RL_V_DURATION) {
		ERR(s, E_POLICY_KIND, n->span, what, "a duration (like 500ms, 30s, 5m)", lit_kind(n));
		return 0;
	}
	if (!lit_duration(n, lo, hi, out)) {
		ERR(s, E_POLICY_RANGE, n->span, what, los, his);
		return 0;
	}
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

/*
 * Declares one version of an event type (creating the type on its first
 * version). Returns the type, or NULL for a name with wildcards; a repeated
 * version is reported with a note at the first.
 */
static struct rc_event *
declare_event(struct rc_sema *s, struct rl_node *d)
{
	const char *name = pattern_name(s, d->a);
	const struct rl_node *seg;

	for (seg = d->a->a; seg; seg = seg->next)
		if (strcmp(seg->name, "*") == 0) {
			ERR(s, E_CLAUSE_NEEDS, d->a->span, "event", "a name without wildcards");
			return NULL;
		}
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

/* The members struct rc_dest, rc_table and rc_rule start with. */
struct named {
	const char *name;
	struct rl_node *decl;
};

/*
 * Declares obj (a struct starting like struct named) under d's name in map
 * and appends it to vec; a second declaration of the name is reported with
 * a note at the first and not declared.
 */
static void
declare(struct rc_sema *s, struct rc_map *map, struct ru_vec *vec, void *obj,
	struct rl_node *d, enum rl_diag_id dup)
{
	struct named *o = obj, *prev;

	o->name = d->name;
	o->decl = d;
	if ((prev = rc_map_get(map, d->name)) != NULL) {
		dup_error(s, dup, d, prev->decl, d->name);
		/* a second rule is still checked (its own mistakes reported, the
		 * destinations it routes to counted as used); never emitted, as the
		 * duplicate is an error. A second destination or table is dropped. */
		if (dup == RL_E_DUP_RULE)
			VEC_PUSH(s, *vec, void *, o);
		return;
	}
	rc_map_put(map, d->name, o);
	VEC_PUSH(s, *vec, void *, o);
}

/*
 * Pass 1: puts every event version, destination, table, rule and test of
 * decls in its map. Duplicates are reported; duplicate rules and tests are
 * still kept for checking.
 */
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

			declare(s, &s->m->dest_map, &s->m->dests, ds, d, RL_E_DUP_DEST);
			break;
		}
		case RL_N_TABLE: {
			struct rc_table *t = ru_arena_alloc(s->arena, sizeof *t);

			declare(s, &s->m->table_map, &s->m->tables, t, d, RL_E_DUP_TABLE);
			break;
		}
		case RL_N_RULE: {
			struct rc_rule *r = ru_arena_alloc(s->arena, sizeof *r);

			declare(s, &s->m->rule_map, &s->m->rules, r, d, RL_E_DUP_RULE);
			break;
		}
		case RL_N_TEST:
			if ((prev = rc_map_get(&s->m->test_map, d->str)) != NULL) {
				dup_error(s, RL_E_DUP_TEST, d, prev, d->str);
				VEC_PUSH(s, s->m->tests, struct rl_node *, d); /* still checked */
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

/* The member list of an object type, from CFIELD nodes; duplicates reported and dropped. */
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

/* The checked type of a contract type node (never NULL: unknown names become any). */
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
					rl_diag(s->diag, RL_N_PREVIOUS, f->span,
						ru_arena_printf(s->arena, "\"%s\"", f->v->str));
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

/* Pass 2: the root object type of every contract version. */
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

/* Pass 3: a destination's policies into d->pol (defaults first), each checked once. */
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
			rl_diag(s->diag, RL_N_PREVIOUS, seen[p->op]->span,
				ru_arena_printf(s->arena, "'%s'", rl_policy_name(p->op)));
			continue;
		}
		seen[p->op] = p;
		switch (p->op) {
		case RL_P_PRIORITY:
			if (policy_int(s, p->a, "priority", 0, 9, &v))
				d->pol.priority = (uint8_t)v;
			break;
		case RL_P_WORKERS:
			if (policy_int(s, p->a, "workers", 1, 1024, &v))
				d->pol.workers = (uint16_t)v;
			break;
		case RL_P_QUEUE:
			if (policy_int(s, p->a, "queue", 1, 100000000, &v))
				d->pol.queue_max = (uint32_t)v;
			break;
		case RL_P_RETRY:
			if (!policy_int(s, p->a, "retry", 0, 100, &v))
				break;
			d->pol.retry_max = (uint32_t)v;
			if (p->b == NULL) {
				/* the default backoff, when there is something to retry */
				d->pol.backoff_min_ms = v ? 500 : 0;
				d->pol.backoff_max_ms = v ? 30000 : 0;
				break;
			}
			if (!policy_duration(s, p->b, "backoff", 1, DAY_MS, "1ms", "1d", &v)
			    || !policy_duration(s, p->c, "backoff", 1, DAY_MS, "1ms", "1d", &v2))
				break;
			if (v > v2) {
				ERR(s, E_BACKOFF_ORDER, rl_span_join(p->b->span, p->c->span),
					rc_sema_src_text(s, p->b), rc_sema_src_text(s, p->c));
				break;
			}
			d->pol.backoff_min_ms = (uint32_t)v;
			d->pol.backoff_max_ms = (uint32_t)v2;
			break;
		case RL_P_MAX_AGE:
			if (policy_duration(s, p->a, "max_age", 1, 365 * DAY_MS, "1ms", "365d", &v))
				d->pol.max_age_ms = (uint32_t)v;
			break;
		case RL_P_TIMEOUT:
			if (policy_duration(s, p->a, "timeout", 1, 3600000, "1ms", "1h", &v))
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
			if (p->a && policy_duration(s, p->a, "batch every", 1, DAY_MS, "1ms", "1d", &v))
				d->pol.batch_every_ms = (uint32_t)v;
			if (p->b && policy_int(s, p->b, "batch size", 1, 1000000, &v))
				d->pol.batch_max = (uint32_t)v;
			break;
		case RL_P_THROTTLE:
			if (policy_int(s, p->a, "throttle count", 1, 1e9, &v)
			    && policy_duration(s, p->b, "throttle period", 1, DAY_MS, "1ms", "1d", &v2)) {
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

/*
 * Adds ev to events and its contracts (every version, or only version when
 * it is not 0) to contracts, each at most once.
 */
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

/*
 * Resolves a pattern that must name one event type (ctx says where, for the
 * message: "emit", "send", "table ... from"). Returns the number of contracts.
 */
static unsigned
resolve_single(struct rc_sema *s, struct rl_node *pat, const char *ctx, struct ru_vec *cs,
	struct ru_vec *evs)
{
	const struct rl_node *seg;

	for (seg = pat->a; seg; seg = seg->next)
		if (strcmp(seg->name, "*") == 0) {
			ERR(s, E_CLAUSE_NEEDS, pat->span, ctx, "a single event type, not a pattern");
			return 0;
		}
	return resolve_pattern(s, pat, cs, evs);
}

/* The contract an emit/send/expect names: its version, or the latest. */
static struct rc_contract *
resolve_one(struct rc_sema *s, struct rl_node *pat, const char *ctx)
{
	struct ru_vec cs = { 0 }, evs = { 0 };

	if (resolve_single(s, pat, ctx, &cs, &evs) == 0)
		return NULL;
	return RU_VEC_AT(cs, struct rc_contract *, cs.n - 1);
}

/* ---- tables ------------------------------------------------------------- */

/* Pass 4: a table's value type, source event, key and value fields, and options. */
static void
check_table(struct rc_sema *s, struct rc_table *t)
{
	struct rl_node *d = t->decl, *o, *seen[RL_P_NPOLICIES] = { 0 };
	struct ru_vec cs = { 0 }, evs = { 0 };
	struct rc_ctype *vt = build_type(s, d->a);
	unsigned kt, vty;
	uint64_t v;

	t->max_keys = 1000000;
	t->value_type = rc_sema_ctype_code(vt);
	if (t->value_type == RV_T_OBJECT || RC_T_IS_ARRAY(t->value_type) || t->value_type == RV_T_ANY
	    || t->value_type == RV_T_IP || t->value_type == RV_T_TIME) {
		ERR(s, E_TABLE_VALUE_TYPE, d->a->span, t->name, rc_sema_tname(s, t->value_type));
		return;
	}
	if (resolve_single(s, d->c, "table ... from", &cs, &evs) == 0)
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
		if (seen[o->op]) {
			ERR(s, E_DUP_POLICY, o->span, rl_policy_name(o->op));
			rl_diag(s->diag, RL_N_PREVIOUS, seen[o->op]->span,
				ru_arena_printf(s->arena, "'%s'", rl_policy_name(o->op)));
			continue;
		}
		seen[o->op] = o;
		switch (o->op) {
		case RL_P_DELETE_ON: {
			struct ru_vec dcs = { 0 }, devs = { 0 };

			if (resolve_single(s, o->a, "delete on", &dcs, &devs) == 0)
				break;
			t->del = RU_VEC_AT(devs, struct rc_event *, 0);
			s->scopes[0].contracts = &dcs;
			rc_sema_expr(s, d->b); /* the key field must be in the deleting event too */
			break;
		}
		case RL_P_TTL:
			if (policy_duration(s, o->a, "ttl", 1000, 3650 * DAY_MS, "1s", "3650d", &v))
				t->ttl_ms = v;
			break;
		case RL_P_MAX_KEYS:
			if (policy_int(s, o->a, "max_keys", 1, 1e9, &v))
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

/* The assignments of a `set` clause: targets are scalar fields of every contract, values fit. */
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

/* Is n a literal as tests need it (a literal, or a negated number)? */
static int
is_literal(const struct rl_node *n)
{
	return n->kind == RL_N_LIT || (n->kind == RL_N_NEG && n->a->kind == RL_N_LIT);
}

static void check_object(struct rc_sema *s, struct rl_node *obj, struct rc_ctype *t,
	const char *prefix, const char *const *psegs, unsigned npsegs, struct rc_contract *c,
	int literals, int require, struct ru_vec *out);

/*
 * Checks one value (scalar, object or list) against declared type t at path.
 * literals: test values (literals only, nested lists allowed); else emit
 * values (expressions; lists of scalars only). Returns 0 after an error.
 */
static int
check_value(struct rc_sema *s, struct rl_node *v, struct rc_ctype *t, const char *path,
	int literals, int require)
{
	unsigned ft = rc_sema_ctype_code(t), vt;
	struct rl_node *el;

	if (v->kind == RL_N_OBJECT) {
		if (t->base != RV_T_OBJECT && t->base != RV_T_ANY) {
			ERR(s, E_SET_TYPE, v->span, path, rc_sema_tname(s, ft), "object");
			return 0;
		}
		if (t->base == RV_T_OBJECT)
			check_object(s, v, t, path, NULL, 0, s->object_contract, literals, require, NULL);
		return 1;
	}
	if (v->kind == RL_N_LIST) {
		if (t->base != RV_T_ARRAY && t->base != RV_T_ANY) {
			ERR(s, E_SET_TYPE, v->span, path, rc_sema_tname(s, ft), "list");
			return 0;
		}
		for (el = v->a; el; el = el->next) {
			if (!literals && (el->kind == RL_N_OBJECT || el->kind == RL_N_LIST)) {
				ERR(s, E_EMIT_LIST, el->span, path);
				return 0;
			}
			if (!check_value(s, el, t->base == RV_T_ARRAY ? t->elem : t,
				ru_arena_printf(s->arena, "%s[]", path), literals, require))
				return 0;
		}
		return 1;
	}
	if (literals && !is_literal(v)) {
		ERR0(s, E_TEST_VALUE, v->span);
		return 0;
	}
	vt = rc_sema_expr(s, v);
	if (!assignable(ft, vt)) {
		ERR(s, E_SET_TYPE, v->span, path, rc_sema_tname(s, ft), rc_sema_tname(s, vt));
		return 0;
	}
	if (t->enums && v->kind == RL_N_LIT && v->v->kind == RL_V_STR) {
		const struct rl_node *e;

		for (e = t->enums; e; e = e->next)
			if (e->v->len == v->v->len && memcmp(e->v->str, v->v->str, e->v->len) == 0)
				break;
		if (e == NULL) {
			ERR(s, E_ENUM_VALUE, v->span, v->v->str, path, rc_sema_enum_list(s, t));
			return 0;
		}
	}
	return 1;
}

/* Envelope attributes a test event may set, with their value kinds. */
static void
check_meta_member(struct rc_sema *s, struct rl_node *m, int literals)
{
	static const char *const names[] = { "id", "source", "time", "subject", "version" };
	size_t i;

	if (!literals) {
		ERR(s, E_SET_META, m->span, m->name);
		return;
	}
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(m->name, names[i]) == 0)
			break;
	if (i == sizeof names / sizeof names[0]) {
		rl_diag(s->diag, strcmp(m->name, "type") == 0 ? RL_E_SET_META : RL_E_UNKNOWN_META,
			m->span, m->name);
		return;
	}
	if (!is_literal(m->a)) {
		ERR0(s, E_TEST_VALUE, m->a->span);
		return;
	}
	if (rc_sema_expr(s, m->a) != (strcmp(m->name, "version") == 0 ? RV_T_NUMBER : RV_T_STRING))
		ERR(s, E_SET_TYPE, m->a->span, ru_arena_printf(s->arena, "@%s", m->name),
			strcmp(m->name, "version") == 0 ? "number" : "string", rc_sema_tname(s, m->a->ty));
}

/*
 * Checks an object literal against object type t (emit bodies and test
 * events). Values are expressions (emit) or literals only (tests). Reports
 * missing required members when require is set. For emit, out receives one
 * assignment per scalar or list leaf, with its full path.
 */
static void
check_object(struct rc_sema *s, struct rl_node *obj, struct rc_ctype *t, const char *prefix,
	const char *const *psegs, unsigned npsegs,
	struct rc_contract *c, int literals, int require, struct ru_vec *out)
{
	struct rl_node *m, *m2;
	struct rc_cfield *f;

	s->object_contract = c; /* for objects inside lists, checked by check_value */

	for (m = obj->a; m; m = m->next) {
		const char *path = prefix ? ru_arena_printf(s->arena, "%s.%s", prefix, m->name) : m->name;
		const char **segs = ru_arena_alloc(s->arena, (npsegs + 1) * sizeof *segs);

		if (npsegs)
			memcpy(segs, psegs, npsegs * sizeof *segs);
		segs[npsegs] = m->name;
		for (m2 = obj->a; m2 != m; m2 = m2->next)
			if (m2->flag == m->flag && strcmp(m2->name, m->name) == 0) {
				ERR(s, E_ASSIGN_DUP, m->span, path);
				break;
			}
		if (m2 != m)
			continue;
		if (m->flag) {
			check_meta_member(s, m, literals);
			continue;
		}
		f = t->base == RV_T_OBJECT ? rc_sema_find_member(t, m->name) : NULL;
		if (f == NULL && t->base == RV_T_ANY) {
			/* inside an `any` field every member is `any` too */
			static struct rc_ctype any = { .base = RV_T_ANY };
			static struct rc_cfield any_field = { .type = &any, .optional = 1 };

			f = &any_field;
		}
		if (f == NULL) {
			ERR(s, E_UNKNOWN_FIELD, m->span, m->name,
				t->base == RV_T_OBJECT ? rc_sema_suggest_member(s, t, m->name) : "");
			continue;
		}
		if (m->a->kind == RL_N_OBJECT && (f->type->base == RV_T_OBJECT || f->type->base == RV_T_ANY)) {
			check_object(s, m->a, f->type, path, segs, npsegs + 1, c, literals, require, out);
			continue;
		}
		if (!check_value(s, m->a, f->type, path, literals, require) || out == NULL)
			continue;
		{
			struct rc_assign as = { 0 };
			struct rc_fieldref *fr = ru_arena_alloc(s->arena, sizeof *fr);

			fr->name = path;
			fr->segs = segs;
			fr->nseg = npsegs + 1;
			fr->type = rc_sema_ctype_code(f->type);
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
			if (!m->flag && strcmp(m->name, f->name) == 0)
				break;
		if (m == NULL)
			ERR(s, E_EMIT_MISSING, obj->span, c->ev->name, c->version,
				prefix ? ru_arena_printf(s->arena, "%s.%s", prefix, f->name) : f->name);
	}
}

/* Resolves destination names (marking them used); r may be NULL (tests, throttle else). */
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

/* The first aggregate call in e (depth first), or NULL. */
static struct rl_node *
first_aggregate(struct rl_node *e)
{
	struct rl_node *k, *f;
	unsigned i;

	if (e == NULL)
		return NULL;
	if (e->kind == RL_N_CALL)
		for (i = 0; rc_aggregates[i]; i++)
			if (strcmp(e->name, rc_aggregates[i]) == 0)
				return e;
	for (k = e->a; k; k = k->next)
		if ((f = first_aggregate(k)) != NULL)
			return f;
	if ((f = first_aggregate(e->b)) != NULL)
		return f;
	return first_aggregate(e->c);
}

/*
 * Is k a temporal clause (within, every, by, then, unless, throttle, dedup,
 * backpressure)?
 */
static int
is_temporal_item(enum rl_kind k)
{
	return k == RL_N_WITHIN || k == RL_N_EVERY || k == RL_N_BY || k == RL_N_THEN
		|| k == RL_N_UNLESS || k == RL_N_THROTTLE || k == RL_N_DEDUP || k == RL_N_TIMESTAMP
		|| k == RL_N_BACKPRESSURE;
}

/*
 * Pass 5: one rule: its types, then each clause in order, then the rules
 * that need the whole rule (one action at least, bounded temporal state,
 * clauses that need others). Fills r; errors are reported, never fatal.
 */
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
	if (r->contracts.n == 0) {
		/* nothing to check fields against; destinations are still looked up
		 * (and counted as used), so one mistake gives one message */
		for (it = d->c; it; it = it->next) {
			if (it->kind == RL_N_ROUTE)
				check_route(s, NULL, it->a);
			else if (it->kind == RL_N_THROTTLE && it->c)
				check_route(s, NULL, it->c->a);
		}
		return;
	}
	s->scopes[0].alias = NULL;
	s->scopes[0].contracts = &r->contracts;
	s->nscopes = 1;
	if (d->b) {
		s->scopes[1].alias = d->b->name;
		s->scopes[1].contracts = &r->contracts;
		s->nscopes = 2;
	}
	s->temporal = 0;
	s->have_aggregate = 0;
	s->first_temporal = NULL;
	s->second_scope = 0;
	/* the other event of a sequence/absence, if any, gets its own alias */
	for (it = d->c; it; it = it->next) {
		if ((it->kind == RL_N_THEN || it->kind == RL_N_UNLESS) && it->b
		    && resolve_pattern(s, it->a, &alias_cs, &alias_evs) > 0) {
			s->scopes[s->nscopes].alias = it->b->name;
			s->scopes[s->nscopes].contracts = &alias_cs;
			s->second_scope = s->nscopes;
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
			rc_sema_cond(s, it->a, "the 'when' condition");
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
			em.contract = resolve_one(s, it->a, "emit");
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
				s->in_where = 1;
				rc_sema_cond(s, it->c, "the 'where' condition");
				s->in_where = 0;
				s->scopes[0] = save;
			}
			r->seq_contracts = cs;
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
		case RL_N_TIMESTAMP: {
			unsigned ty = rc_sema_expr(s, it->a);

			if (ty != RC_T_ERROR && ty != RV_T_TIME && ty != RV_T_NUMBER)
				ERR(s, E_TIMESTAMP_TYPE, it->a->span, rl_path_str(s->arena, it->a), rc_sema_tname(s, ty));
			if (it->b && !lit_duration(it->b, 1, DAY_MS, &v))
				ERR(s, E_POLICY_RANGE, it->b->span, "lateness", "1ms", "1d");
			break;
		}
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
	have_agg_state = s->have_aggregate;
	if ((have_agg_state || single[RL_N_THEN] || single[RL_N_UNLESS]) && !have_window) {
		struct rl_node *at = single[RL_N_THEN] ? single[RL_N_THEN]
			: single[RL_N_UNLESS] ? single[RL_N_UNLESS] : first_aggregate(r->when);
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
	r->c_within = single[RL_N_WITHIN];
	r->c_every = single[RL_N_EVERY];
	r->c_by = single[RL_N_BY];
	r->c_then = single[RL_N_THEN];
	r->c_unless = single[RL_N_UNLESS];
	r->c_throttle = single[RL_N_THROTTLE];
	r->c_dedup = single[RL_N_DEDUP];
	r->c_backpressure = single[RL_N_BACKPRESSURE];
	r->c_timestamp = single[RL_N_TIMESTAMP];
	if (single[RL_N_TIMESTAMP] && !have_window && !single[RL_N_THROTTLE] && !single[RL_N_DEDUP])
		ERR(s, E_CLAUSE_NEEDS, single[RL_N_TIMESTAMP]->span, "timestamp",
			"a window, a sequence, an absence, a throttle or a dedup");
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
			struct rc_contract *c = resolve_one(s, st->a, "send");

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
			else if (st->op == RL_X_EMITTED || st->op == RL_X_NOT_EMITTED) {
				struct rc_contract *c = resolve_one(s, st->a, st->op == RL_X_EMITTED ? "expect emitted" : "expect not emitted");

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
