/*
 * testrun.c -- `routec test`: runs the `test` blocks of .route files.
 *
 * Each FILE is compiled as its own program (with its imports); once it is
 * emitted, the driver calls back with the checked program, whose test blocks
 * are run against the loaded image: each test starts from an empty state
 * (tables) on a virtual clock at 2024-01-01T00:00:00Z. `send` builds a
 * plain-envelope event from the literal and routes it; derived events
 * (`emit`) are routed again, up to RT_MAX_DEPTH derivations; `advance` moves
 * the clock; each `expect` is checked against the last sent event's
 * decision (its destinations, the event as the transform rules left it) or
 * against the events emitted since the previous send or advance.
 *
 * A failed expectation prints its location, the test, what was expected and
 * what happened; the run ends with "N passed, N failed". JSON is read back
 * with jansson (a cold path: DESIGN.md §7).
 *
 * Ownership: the runner owns its matcher, state and every copy of a
 * decision it keeps; the program and its AST are borrowed from the driver
 * for the duration of the callback.
 */
#include "config.h"
#include "testrun.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "ast.h"
#include "parse.h"
#include "route.h"
#include "types.h"

#define RT_EPOCH_MS 1704067200000LL /* 2024-01-01T00:00:00Z */
#define RT_MAX_DEPTH 8              /* derivations of one sent event */

/* An emitted event kept for `expect emitted`. */
struct emitted {
	uint32_t type, version;
	json_t *json;              /* owns */
};

/* One file's run. */
struct runner {
	const struct rl_program *p;    /* borrows (callback) */
	route_prog *rp;                /* owns (callback) */
	FILE *out;                     /* borrows */
	int verbose;
	unsigned passed, failed;
	int ran;                       /* the callback ran (the file compiled) */
};

/* One test's run. */
struct trun {
	struct runner *r;
	const struct rl_node *test;    /* borrows */
	route_matcher *m;              /* owns */
	route_state *st;               /* owns */
	int sent;                      /* a send happened */
	int status;                    /* the last sent event's status ... */
	char reason[160];              /* ... and reason when it was refused */
	uint32_t *dests;               /* owns: its destinations */
	uint32_t ndests;
	json_t *output;                /* owns: the event as the transform rules left it */
	struct emitted *em;            /* owns: emitted since the last send or advance */
	size_t nem, emcap;
	unsigned nsend;
	int failed;
};

/* ---- literals -> JSON --------------------------------------------------------- */

/* The plain-envelope member of envelope attribute @name. */
static const char *
attr_member(const char *name)
{
	if (strcmp(name, "id") == 0)
		return "event_id";
	if (strcmp(name, "source") == 0)
		return "event_source";
	if (strcmp(name, "time") == 0)
		return "event_time";
	if (strcmp(name, "subject") == 0)
		return "event_subject";
	if (strcmp(name, "version") == 0)
		return "event_version";
	if (strcmp(name, "type") == 0)
		return "event_type";
	return name;
}

static void
put_number(FILE *f, double d)
{
	char b[40];

	if (d == (double)(long long)d && d > -1e15 && d < 1e15)
		snprintf(b, sizeof b, "%lld", (long long)d);
	else
		snprintf(b, sizeof b, "%.17g", d);
	fputs(b, f);
}

/* Writes test value n (a literal, a negated number, an object or a list) as JSON. */
static void
put_value(FILE *f, const struct rl_node *n)
{
	const struct rl_node *c;

	switch (n->kind) {
	case RL_N_NEG:
		put_number(f, -n->a->v->num);
		return;
	case RL_N_OBJECT:
		fputc('{', f);
		for (c = n->a; c; c = c->next) {
			const char *name = c->flag ? attr_member(c->name) : c->name;

			rl_put_string(f, name, strlen(name));
			fputc(':', f);
			put_value(f, c->a);
			if (c->next)
				fputc(',', f);
		}
		fputc('}', f);
		return;
	case RL_N_LIST:
		fputc('[', f);
		for (c = n->a; c; c = c->next) {
			put_value(f, c);
			if (c->next)
				fputc(',', f);
		}
		fputc(']', f);
		return;
	case RL_N_LIT:
		break;
	default:
		fputs("null", f);
		return;
	}
	switch (n->v->kind) {
	case RL_V_NULL: fputs("null", f); break;
	case RL_V_BOOL: fputs(n->v->b ? "true" : "false", f); break;
	case RL_V_NUM:
	case RL_V_RATE: put_number(f, n->v->num); break;
	case RL_V_DURATION: put_number(f, (double)n->v->ms); break;
	case RL_V_STR: rl_put_string(f, n->v->str, n->v->len); break;
	case RL_V_CIDR: rl_put_string(f, n->v->str, strlen(n->v->str)); break;
	}
}

/* The text of a test value, malloc'd (for messages and events); NULL on OOM. */
static char *
value_text(const struct rl_node *n, size_t *len)
{
	char *buf = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&buf, &sz);

	if (f == NULL)
		return NULL;
	put_value(f, n);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = sz;
	return buf;
}

/* Does the JSON value j equal literal n (objects: at least n's members)? */
static int
matches(const struct rl_node *n, const json_t *j)
{
	const struct rl_node *c;
	size_t i;

	switch (n->kind) {
	case RL_N_NEG:
		return json_is_number(j) && json_number_value(j) == -n->a->v->num;
	case RL_N_OBJECT:
		if (!json_is_object(j))
			return 0;
		for (c = n->a; c; c = c->next) {
			const json_t *m = json_object_get(j, c->flag ? attr_member(c->name) : c->name);

			if (m == NULL || !matches(c->a, m))
				return 0;
		}
		return 1;
	case RL_N_LIST:
		if (!json_is_array(j))
			return 0;
		for (c = n->a, i = 0; c; c = c->next, i++)
			if (i >= json_array_size(j) || !matches(c, json_array_get(j, i)))
				return 0;
		return i == json_array_size(j);
	case RL_N_LIT:
		break;
	default:
		return 0;
	}
	switch (n->v->kind) {
	case RL_V_NULL: return json_is_null(j);
	case RL_V_BOOL: return json_is_boolean(j) && json_is_true(j) == (n->v->b != 0);
	case RL_V_NUM:
	case RL_V_RATE: return json_is_number(j) && json_number_value(j) == n->v->num;
	case RL_V_DURATION: return json_is_number(j) && json_number_value(j) == (double)n->v->ms;
	case RL_V_STR:
		return json_is_string(j) && json_string_length(j) == n->v->len
		       && memcmp(json_string_value(j), n->v->str, n->v->len) == 0;
	case RL_V_CIDR: {
		uint8_t a[16];

		if (!json_is_string(j))
			return 0;
		if (strcmp(json_string_value(j), n->v->str) == 0)
			return 1;
		/* the same address written another way (IPv6 zeros, case) */
		memset(a, 0, sizeof a);
		return inet_pton(n->v->family == 6 ? AF_INET6 : AF_INET, json_string_value(j), a) == 1
		       && memcmp(a, n->v->addr, n->v->family == 6 ? 16 : 4) == 0
		       && n->v->prefix == (n->v->family == 6 ? 128u : 32u);
	}
	}
	return 0;
}

/* A pattern's type name (segments joined by dots) into buf. */
static const char *
pattern_name(const struct rl_node *pat, char *buf, size_t cap)
{
	const struct rl_node *s;
	size_t n = 0;

	buf[0] = '\0';
	for (s = pat->a; s; s = s->next)
		n += (size_t)snprintf(buf + (n < cap ? n : cap - 1), n < cap ? cap - n : 1, "%s%s",
			s == pat->a ? "" : ".", s->name);
	return buf;
}

/* ---- reporting ---------------------------------------------------------------- */

/* Prints "FILE:LINE:COL: test "title": " for node n. */
static void
where(struct trun *t, const struct rl_node *n)
{
	const struct rl_srcfile *f = rl_srcset_get(&t->r->p->src, n->span.file);
	uint32_t line = 0, col = 0;

	if (f)
		rl_srcfile_locate(f, n->span.start, &line, &col);
	fprintf(t->r->out, "%s:%u:%u: test \"%s\": ", f ? f->name : "?", line, col, t->test->str);
}

/* The source text of step n (its first line), for messages. */
static void
step_text(struct trun *t, const struct rl_node *n)
{
	const struct rl_srcfile *f = rl_srcset_get(&t->r->p->src, n->span.file);
	size_t len = n->span.end - n->span.start;
	const char *nl;

	if (f == NULL)
		return;
	if ((nl = memchr(f->text + n->span.start, '\n', len)) != NULL)
		len = (size_t)(nl - (f->text + n->span.start));
	fprintf(t->r->out, "%.*s\n", (int)len, f->text + n->span.start);
}

static void
fail_begin(struct trun *t, const struct rl_node *n)
{
	t->failed = 1;
	where(t, n);
	fputs("failed: ", t->r->out);
	step_text(t, n);
}

/* The last sent event's destinations as a list for messages. */
static void
print_dests(struct trun *t)
{
	uint32_t i;
	size_t len;
	const char *nm;

	if (!t->sent) {
		fputs("(no event sent)", t->r->out);
		return;
	}
	if (t->status != ROUTE_OK) {
		fprintf(t->r->out, "(the event was refused: %s)", t->reason);
		return;
	}
	if (t->ndests == 0)
		fputs("(no destination)", t->r->out);
	for (i = 0; i < t->ndests; i++) {
		nm = route_dest_name(t->r->rp, t->dests[i], &len);
		fprintf(t->r->out, "%s%.*s", i ? ", " : "", (int)len, nm);
	}
}

/* A failed routing expectation: where the last event went instead. */
static void
fail_routes(struct trun *t, const struct rl_node *step)
{
	fail_begin(t, step);
	fputs("  routed to: ", t->r->out);
	print_dests(t);
	fputc('\n', t->r->out);
}

static void
print_emitted(struct trun *t)
{
	size_t i, len;
	const char *nm;

	if (t->nem == 0)
		fputs("  emitted:  (nothing since the last send or advance)\n", t->r->out);
	for (i = 0; i < t->nem; i++) {
		char *js = json_dumps(t->em[i].json, JSON_COMPACT | JSON_ENCODE_ANY);

		nm = route_type_name(t->r->rp, t->em[i].type, &len);
		fprintf(t->r->out, "  emitted:  %.*s v%u %s\n", (int)len, nm, t->em[i].version, js ? js : "?");
		free(js);
	}
}

/* ---- steps ------------------------------------------------------------------------- */

static void
clear_emitted(struct trun *t)
{
	size_t i;

	for (i = 0; i < t->nem; i++)
		json_decref(t->em[i].json);
	t->nem = 0;
}

static int
keep_emitted(struct trun *t, const struct route_emit *e)
{
	json_t *j = json_loadb(e->json, e->len, 0, NULL);

	if (j == NULL)
		return -1;
	if (t->nem == t->emcap) {
		size_t cap = t->emcap ? t->emcap * 2 : 8;
		struct emitted *n = ru_realloc(t->em, cap * sizeof *n);

		if (n == NULL) {
			json_decref(j);
			return -1;
		}
		t->em = n;
		t->emcap = cap;
	}
	t->em[t->nem].type = e->type;
	t->em[t->nem].version = e->version;
	t->em[t->nem++].json = j;
	return 0;
}

/* A queue of derived events still to route (owned copies). */
struct pending {
	char *json;
	size_t len;
	unsigned depth;
};

/*
 * Routes the derived events of decision d (made at depth depth) and, in
 * turn, theirs, keeping every one for `expect emitted`. Returns 0, or -1
 * when the derivation depth was exceeded (reported) or memory ran out.
 */
static int
route_derived(struct trun *t, const struct rl_node *step, const struct route_decision *d0)
{
	struct pending *q = NULL;
	size_t nq = 0, cap = 0, head = 0, i;
	struct route_decision d = *d0;
	unsigned depth = 0;
	int rc = 0;

	for (;;) {
		for (i = 0; i < d.nemits; i++) {
			if (keep_emitted(t, &d.emits[i]) < 0) {
				rc = -1;
				goto done;
			}
			if (depth + 1 > RT_MAX_DEPTH) {
				fail_begin(t, step);
				fprintf(t->r->out, "  derived events are still emitted after %d derivations "
					"(a rule loop?)\n", RT_MAX_DEPTH);
				rc = -1;
				goto done;
			}
			if (nq == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct pending *n = ru_realloc(q, nc * sizeof *n);

				if (n == NULL) {
					rc = -1;
					goto done;
				}
				q = n;
				cap = nc;
			}
			if ((q[nq].json = ru_malloc(d.emits[i].len + 1)) == NULL) {
				rc = -1;
				goto done;
			}
			memcpy(q[nq].json, d.emits[i].json, d.emits[i].len);
			q[nq].len = d.emits[i].len;
			q[nq++].depth = depth + 1;
		}
		if (head == nq)
			break;
		depth = q[head].depth;
		route_match(t->m, q[head].json, q[head].len, &d);
		head++;
	}
done:
	for (i = 0; i < nq; i++)
		ru_free(q[i].json);
	ru_free(q);
	return rc;
}

static void
do_send(struct trun *t, const struct rl_node *step)
{
	char tname[512], *body, *ev = NULL;
	size_t blen, evlen = 0;
	struct route_decision d;
	FILE *f;
	int has_id = 0, has_source = 0;
	const struct rl_node *c;

	clear_emitted(t);
	t->nsend++;
	if ((body = value_text(step->b, &blen)) == NULL || (f = open_memstream(&ev, &evlen)) == NULL) {
		free(body);
		fail_begin(t, step);
		fputs("  out of memory\n", t->r->out);
		return;
	}
	for (c = step->b->a; c; c = c->next)
		if (c->flag) {
			has_id |= strcmp(c->name, "id") == 0;
			has_source |= strcmp(c->name, "source") == 0;
		}
	fputs("{\"event_type\":", f);
	pattern_name(step->a, tname, sizeof tname);
	rl_put_string(f, tname, strlen(tname));
	if (step->a->num)
		fprintf(f, ",\"event_version\":%u", step->a->num);
	if (!has_id)
		fprintf(f, ",\"event_id\":\"test-%u\"", t->nsend);
	if (!has_source)
		fputs(",\"event_source\":\"routec-test\"", f);
	if (blen > 2)
		fprintf(f, ",%.*s", (int)(blen - 2), body + 1); /* the members, after the envelope */
	fputc('}', f);
	free(body);
	if (fclose(f) != 0) {
		free(ev);
		return;
	}
	t->sent = 1;
	t->status = route_match(t->m, ev, evlen, &d);
	json_decref(t->output);
	t->output = NULL;
	t->ndests = 0;
	t->reason[0] = '\0';
	if (t->status != ROUTE_OK) {
		snprintf(t->reason, sizeof t->reason, "%s", d.reason ? d.reason : "unknown type or version");
	} else {
		t->ndests = d.ndests;
		memcpy(t->dests, d.dests, d.ndests * sizeof *d.dests);
		t->output = json_loadb(d.output, d.output_len, 0, NULL);
		(void)route_derived(t, step, &d);
	}
	free(ev);
}

/*
 * advance D: moves the virtual clock to each pending deadline in turn up
 * to now + D, firing what is due there (route_matcher_tick) and routing the
 * events those firings emit, then to now + D.
 */
static void
do_advance(struct trun *t, const struct rl_node *step)
{
	int64_t target = route_state_time(t->st) + (int64_t)step->a->v->ms;
	struct route_decision d;

	clear_emitted(t);
	for (;;) {
		int64_t next = route_state_next_deadline(t->st);
		int fired = 0;

		if (next > target)
			break;
		if (next > route_state_time(t->st))
			route_state_set_time(t->st, next);
		while (route_matcher_tick(t->m, &d) > 0) {
			fired = 1;
			if (route_derived(t, step, &d) < 0)
				return;
		}
		if (!fired && route_state_next_deadline(t->st) == next)
			break; /* nothing due after all (cannot happen; never spin) */
	}
	route_state_set_time(t->st, target);
}

/* Is destination name n among the last event's destinations? */
static int
routed_to(struct trun *t, const char *n)
{
	uint32_t i;
	size_t len;
	const char *nm;

	if (!t->sent || t->status != ROUTE_OK)
		return 0;
	for (i = 0; i < t->ndests; i++) {
		nm = route_dest_name(t->r->rp, t->dests[i], &len);
		if (len == strlen(n) && memcmp(nm, n, len) == 0)
			return 1;
	}
	return 0;
}

static void
expect_routed(struct trun *t, const struct rl_node *step)
{
	const struct rl_node *c;
	unsigned want = 0;
	int ok = 1;

	for (c = step->a; c; c = c->next) {
		int r = routed_to(t, c->name);

		want++;
		if (step->op == RL_X_NOT_ROUTED ? r : !r)
			ok = 0;
	}
	if (step->op == RL_X_ONLY_ROUTED && t->ndests != want)
		ok = 0;
	if (!ok)
		fail_routes(t, step);
}

static void
expect_dropped(struct trun *t, const struct rl_node *step)
{
	if (!(t->sent && t->status == ROUTE_OK && t->ndests == 0))
		fail_routes(t, step);
}

static void
expect_set(struct trun *t, const struct rl_node *step)
{
	const struct rl_node *seg;
	const json_t *j = t->output;
	char *want, *got = NULL;

	for (seg = step->a->a; seg && j; seg = seg->next)
		j = json_is_object(j) ? json_object_get(j, step->a->flag ? attr_member(seg->name) : seg->name)
				      : NULL;
	if (j && matches(step->b, j))
		return;
	fail_begin(t, step);
	want = value_text(step->b, NULL);
	if (j)
		got = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	fprintf(t->r->out, "  expected: %s\n  actual:   %s\n", want ? want : "?",
		got ? got : t->status != ROUTE_OK ? "(the event was refused)" : "(missing)");
	free(want);
	free(got);
}

static void
expect_emitted(struct trun *t, const struct rl_node *step)
{
	char tname[512];
	size_t i, len;
	int found = 0;

	pattern_name(step->a, tname, sizeof tname);
	for (i = 0; i < t->nem && !found; i++) {
		const char *nm = route_type_name(t->r->rp, t->em[i].type, &len);

		if (len != strlen(tname) || memcmp(nm, tname, len) != 0)
			continue;
		if (step->a->num && step->a->num != t->em[i].version)
			continue;
		found = step->b == NULL || matches(step->b, t->em[i].json);
	}
	if (step->op == RL_X_NOT_EMITTED ? !found : found)
		return;
	fail_begin(t, step);
	print_emitted(t);
}

static void
run_test(struct runner *r, const struct rl_node *test)
{
	struct trun t;
	const struct rl_node *step;

	memset(&t, 0, sizeof t);
	t.r = r;
	t.test = test;
	t.m = route_matcher_new(r->rp);
	t.st = route_state_new(r->rp);
	t.dests = ru_malloc(((size_t)route_prog_ndests(r->rp) + 1) * sizeof *t.dests);
	if (!t.m || !t.st || !t.dests) {
		where(&t, test);
		fputs("out of memory\n", r->out);
		t.failed = 1;
		goto done;
	}
	route_state_set_time(t.st, RT_EPOCH_MS);
	route_matcher_set_state(t.m, t.st);
	for (step = test->a; step; step = step->next) {
		switch (step->kind) {
		case RL_N_SEND:
			do_send(&t, step);
			break;
		case RL_N_ADVANCE:
			do_advance(&t, step);
			break;
		case RL_N_EXPECT:
			switch (step->op) {
			case RL_X_ROUTED:
			case RL_X_NOT_ROUTED:
			case RL_X_ONLY_ROUTED:
				expect_routed(&t, step);
				break;
			case RL_X_DROPPED:
				expect_dropped(&t, step);
				break;
			case RL_X_SET:
				expect_set(&t, step);
				break;
			default:
				expect_emitted(&t, step);
				break;
			}
			break;
		default:
			break;
		}
	}
done:
	if (t.failed)
		r->failed++;
	else
		r->passed++;
	if (r->verbose)
		fprintf(r->out, "%s  %s\n", t.failed ? "FAIL" : "ok  ", test->str);
	clear_emitted(&t);
	ru_free(t.em);
	json_decref(t.output);
	ru_free(t.dests);
	route_matcher_free(t.m);
	route_state_free(t.st);
}

/* Driver callback: the program compiled; load it and run its tests in order. */
static void
on_compiled(void *ud, const struct rl_program *p, const struct rc_model *m, const unsigned char *rbc,
	size_t len)
{
	struct runner *r = ud;
	struct route_options ro;
	char err[256];
	size_t i;

	r->ran = 1;
	r->p = p;
	memset(&ro, 0, sizeof ro);
	ro.envelope = ROUTE_ENV_PLAIN;
	if ((r->rp = route_prog_load(rbc, len, &ro, err, sizeof err)) == NULL) {
		fprintf(r->out, "routec: the compiled program does not load: %s\n", err);
		r->failed += (unsigned)m->tests.n ? (unsigned)m->tests.n : 1;
		return;
	}
	for (i = 0; i < m->tests.n; i++)
		run_test(r, RU_VEC_AT(m->tests, struct rl_node *, i));
	route_prog_free(r->rp);
	r->rp = NULL;
}

int
rc_tool_test(char **files, int n, const struct rc_options *o, int verbose)
{
	unsigned passed = 0, failed = 0, broken = 0;
	int i, rc = RC_EXIT_OK;

	for (i = 0; i < n; i++) {
		struct runner r;
		struct rc_options fo = *o;
		const char *path = files[i];
		enum rc_exit e;

		memset(&r, 0, sizeof r);
		r.out = stdout;
		r.verbose = verbose;
		fo.check_only = 0;
		fo.on_compiled = on_compiled;
		fo.on_compiled_ud = &r;
		e = rc_compile_files(&path, 1, &fo, NULL, NULL, NULL);
		if (e != RC_EXIT_OK || !r.ran) {
			fprintf(stdout, "%s: not run: the file does not compile\n", path);
			broken++;
			if (rc == RC_EXIT_OK || e == RC_EXIT_IO)
				rc = e == RC_EXIT_OK ? RC_EXIT_RULES : e;
			continue;
		}
		passed += r.passed;
		failed += r.failed;
	}
	printf("%u passed, %u failed", passed, failed);
	if (broken)
		printf(" (%u file(s) not run)", broken);
	printf("\n");
	if (failed && rc == RC_EXIT_OK)
		rc = RC_EXIT_RULES;
	return rc;
}
