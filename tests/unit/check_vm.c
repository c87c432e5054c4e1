/*
 * check_vm.c -- unit tests for libroute through its public API (route.h):
 * decisions of small programs compiled with rc_compile_string(), the two VM
 * dispatch builds (computed goto and switch) giving identical decisions,
 * no allocation per event, route_explain(), the lifetimes route.h documents,
 * and hostile programs (a valid .rbc reading registers no instruction
 * wrote) that must not crash.
 *
 * Every decision is taken twice, by a matcher of the program loaded with
 * switch_dispatch 0 and one loaded with switch_dispatch 1, and the two are
 * rendered as text and compared before anything else is checked.
 *
 * The tcase "regressions" holds one test per bug found while this suite
 * was written (all fixed): != with null, arithmetic into an operand's
 * register, len of an array of objects, the version of an emitted event.
 */
#include "config.h"
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bytecode.h"
#include "driver.h"
#include "rbc.h"
#include "route.h"

/* ---- compiling and loading --------------------------------------------- */

/* Compiles src; fails the test on a compile error. Returns the image (ru_free). */
static unsigned char *
compile(const char *src, int opt, size_t *len)
{
	struct rc_options o;
	unsigned char *rbc = NULL;
	enum rc_exit rc;

	rc_options_default(&o);
	o.opt = opt;
	o.nowarn = 1;
	o.diag = stderr;
	rc = rc_compile_string("t.route", src, strlen(src), &o, &rbc, len, NULL);
	ck_assert_msg(rc == RC_EXIT_OK, "compile failed (%d) for:\n%s", (int)rc, src);
	ck_assert_ptr_nonnull(rbc);
	return rbc;
}

/* One program loaded twice: [0] computed goto, [1] switch dispatch. */
struct two {
	route_prog *p[2];
	route_matcher *m[2];
};

static void
two_load_image(struct two *t, const unsigned char *rbc, size_t len)
{
	struct route_options o;
	char err[256];
	int i;

	for (i = 0; i < 2; i++) {
		memset(&o, 0, sizeof o);
		o.switch_dispatch = i;
		t->p[i] = route_prog_load(rbc, len, &o, err, sizeof err);
		ck_assert_msg(t->p[i] != NULL, "load: %s", err);
		t->m[i] = route_matcher_new(t->p[i]);
		ck_assert_ptr_nonnull(t->m[i]);
	}
}

static void
two_load(struct two *t, const char *src)
{
	size_t len;
	unsigned char *rbc = compile(src, 2, &len);

	two_load_image(t, rbc, len);
	ru_free(rbc); /* the program keeps a copy */
}

static void
two_free(struct two *t)
{
	int i;

	for (i = 0; i < 2; i++) {
		route_matcher_free(t->m[i]);
		route_prog_free(t->p[i]);
	}
}

/* ---- rendering a decision ------------------------------------------------ */

struct sbuf {
	char b[8192];
	size_t n;
};

static void
sb_put(struct sbuf *s, const char *p, size_t n)
{
	ck_assert_msg(s->n + n < sizeof s->b, "rendered decision too long");
	memcpy(s->b + s->n, p, n);
	s->n += n;
	s->b[s->n] = '\0';
}

static void
sb_printf(struct sbuf *s, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof tmp);
	sb_put(s, tmp, (size_t)n);
}

static void
sb_name(struct sbuf *s, const char *name, size_t len)
{
	if (name == NULL)
		sb_put(s, "?", 1);
	else
		sb_put(s, name, len);
}

/*
 * The decision as one line of text: "ok T vN rules=a,b routes=x,y
 * set=f:json;... emit=json;..." or "rejected: reason @offset" or
 * "unknown-type" / "unknown-version N".
 */
static void
render(const route_prog *p, const struct route_decision *d, struct sbuf *s)
{
	uint32_t i;
	size_t n;
	const char *nm;

	s->n = 0;
	s->b[0] = '\0';
	switch (d->status) {
	case ROUTE_REJECTED:
		ck_assert_ptr_nonnull(d->reason);
		sb_printf(s, "rejected: %s @%zu", d->reason, d->offset);
		return;
	case ROUTE_UNKNOWN_TYPE:
		sb_printf(s, "unknown-type");
		return;
	case ROUTE_UNKNOWN_VERSION:
		sb_printf(s, "unknown-version %u", d->version);
		return;
	case ROUTE_OK:
		break;
	default:
		ck_abort_msg("bad status %d", d->status);
	}
	ck_assert_ptr_null(d->reason);
	nm = route_type_name(p, d->type, &n);
	sb_put(s, "ok ", 3);
	sb_name(s, nm, n);
	sb_printf(s, " v%u rules=", d->version);
	for (i = 0; i < d->nrules; i++) {
		if (i)
			sb_put(s, ",", 1);
		nm = route_rule_name(p, d->rules[i], &n);
		sb_name(s, nm, n);
	}
	sb_put(s, " routes=", 8);
	for (i = 0; i < d->ndests; i++) {
		if (i)
			sb_put(s, ",", 1);
		nm = route_dest_name(p, d->dests[i], &n);
		sb_name(s, nm, n);
	}
	if (d->nsets) {
		sb_put(s, " set=", 5);
		for (i = 0; i < d->nsets; i++) {
			nm = route_field_name(p, d->sets[i].field, &n);
			sb_name(s, nm, n);
			sb_put(s, ":", 1);
			sb_put(s, d->sets[i].json, d->sets[i].len);
			sb_put(s, ";", 1);
		}
	}
	if (d->nemits) {
		sb_put(s, " emit=", 6);
		for (i = 0; i < d->nemits; i++) {
			sb_put(s, d->emits[i].json, d->emits[i].len);
			sb_put(s, ";", 1);
		}
	}
}

/*
 * Matches ev with both matchers; asserts both builds agree and returns
 * the rendered decision in a static buffer (valid until the next call).
 */
static const char *
decide(struct two *t, const char *ev)
{
	static struct sbuf s[2];
	struct route_decision d;
	int i, st;

	for (i = 0; i < 2; i++) {
		st = route_match(t->m[i], ev, strlen(ev), &d);
		ck_assert_int_eq(st, d.status);
		render(t->p[i], &d, &s[i]);
	}
	ck_assert_msg(strcmp(s[0].b, s[1].b) == 0,
		"dispatch builds disagree on %s:\n goto:   %s\n switch: %s", ev, s[0].b, s[1].b);
	return s[0].b;
}

#define EXPECT(t, ev, want) ck_assert_str_eq(decide((t), (ev)), (want))

/* ---- decisions ------------------------------------------------------------ */

static const char *const src_basic =
	"event order.created v1 { total: number, country: string, express?: bool, tags?: [string] }\n"
	"event order.created v2 { total: number, country: string, express?: bool, tags?: [string], channel?: string }\n"
	"event audit v1 { ref: string, n?: number }\n"
	"destination big\n"
	"destination de\n"
	"destination fast\n"
	"destination fb\n"
	"destination web\n"
	"rule big on order.created when total >= 10000 route big, fast\n"
	"rule de on order.created when country == \"DE\" route de\n"
	"rule express on order.created when express route fast\n"
	"rule web on order.created v2 when channel == \"web\" route web\n"
	"rule vip on order.created when tags == \"vip\" set country = \"VIP\"\n"
	"rule audit on order.created when total < 0 emit audit { ref: country, n: total }\n"
	"rule fb on order.created otherwise route fb\n";

START_TEST(test_decisions_route_and_fanout)
{
	struct two t;

	two_load(&t, src_basic);
	EXPECT(&t, "{\"event_type\":\"order.created\",\"total\":5,\"country\":\"FR\"}",
		"ok order.created v2 rules=fb routes=fb");
	EXPECT(&t, "{\"event_type\":\"order.created\",\"total\":20000,\"country\":\"DE\",\"express\":true}",
		"ok order.created v2 rules=big,de,express routes=big,fast,de");
	EXPECT(&t, "{\"event_type\":\"order.created\",\"event_version\":1,\"total\":1,\"country\":\"FR\",\"channel\":\"web\"}",
		"ok order.created v1 rules=fb routes=fb");
	EXPECT(&t, "{\"event_type\":\"order.created\",\"event_version\":\"v2\",\"total\":1,\"country\":\"FR\",\"channel\":\"web\"}",
		"ok order.created v2 rules=web routes=web");
	two_free(&t);
}
END_TEST

START_TEST(test_decisions_set_and_emit)
{
	struct two t;

	two_load(&t, src_basic);
	/* the set runs before routing: 'de' no longer matches, otherwise fires */
	EXPECT(&t, "{\"event_type\":\"order.created\",\"total\":5,\"country\":\"DE\",\"tags\":[\"x\",\"vip\"]}",
		"ok order.created v2 rules=vip,fb routes=fb set=country:\"VIP\";");
	/* emitting is not routing: otherwise fires too */
	EXPECT(&t, "{\"event_type\":\"order.created\",\"total\":-5,\"country\":\"FR\"}",
		"ok order.created v2 rules=audit,fb routes=fb "
		"emit={\"event_type\":\"audit\",\"event_version\":1,\"ref\":\"FR\",\"n\":-5};");
	two_free(&t);
}
END_TEST

START_TEST(test_decisions_errors)
{
	struct two t;

	two_load(&t, src_basic);
	EXPECT(&t, "{\"event_type\":\"order.deleted\"}", "unknown-type");
	EXPECT(&t, "{\"event_type\":\"order.created\",\"event_version\":7,\"total\":1,\"country\":\"x\"}",
		"unknown-version 7");
	EXPECT(&t, "{\"event_type\":\"order.created\",\"total\":1,}",
		"rejected: trailing comma in object @40");
	EXPECT(&t, "{\"total\":1}", "rejected: the event has no string type member @0");
	EXPECT(&t, "", "rejected: empty event @0");
	/* the matcher goes on after a rejected event */
	EXPECT(&t, "{\"event_type\":\"order.created\",\"total\":5,\"country\":\"DE\"}",
		"ok order.created v2 rules=de routes=de");
	two_free(&t);
}
END_TEST

/*
 * Per-rule cost: evaluations counted (an otherwise rule only when no
 * routing rule matched), one event in `every` timed, nothing timed with 0.
 */
START_TEST(test_rule_cost)
{
	static const char src[] =
		"event e v1 { k: string, n: number }\n"
		"destination a\ndestination b\ndestination c\n"
		"rule eq on e when k == \"x\" or n > 10 route a\n"
		"rule none on e when k ine \"x\" and k ine \"y\" route b\n"
		"rule rest on e otherwise route c\n";
	static const char *const evs[] = {
		"{\"event_type\":\"e\",\"k\":\"x\",\"n\":1}", "{\"event_type\":\"e\",\"k\":\"y\",\"n\":20}",
		"{\"event_type\":\"e\",\"k\":\"y\",\"n\":1}", "{\"event_type\":\"e\",\"k\":\"x\",\"n\":20}",
	};
	size_t len;
	unsigned char *rbc = compile(src, 2, &len);
	char err[256];
	route_prog *p = route_prog_load(rbc, len, NULL, err, sizeof err);
	route_matcher *m;
	struct route_decision d;
	struct route_class c;
	struct route_rule_cost rc[3];
	uint32_t i, r, every;

	ck_assert_msg(p != NULL, "load: %s", err);
	for (every = 0; every <= 4; every += 1) {
		if (every == 3)
			continue;
		ck_assert_ptr_nonnull(m = route_matcher_new(p));
		route_matcher_time_rules(m, every);
		for (i = 0; i < 8; i++) {
			ck_assert_int_eq(route_match(m, evs[i % 4], strlen(evs[i % 4]), &d), ROUTE_OK);
			/* classifying runs no rule: nothing counted, and no event of the timing's count */
			ck_assert_int_eq(route_classify(m, evs[i % 4], strlen(evs[i % 4]), &c), ROUTE_OK);
		}
		for (r = 0; r < 3; r++)
			route_matcher_rule_cost(m, r, &rc[r]);
		/* `rest` runs on the one event of four no routing rule took */
		ck_assert_uint_eq(rc[2].evaluations, 2);
		/* `none` (matches nothing) is not in the index (ine): run on every event */
		ck_assert_uint_eq(rc[1].evaluations, 8);
		/* `eq` at least where it matched, at most on every event (the index may skip it) */
		ck_assert(rc[0].evaluations >= 6 && rc[0].evaluations <= 8);
		for (r = 0; r < 3; r++) {
			if (every == 0)
				ck_assert_uint_eq(rc[r].timed, 0);
			else if (every == 1)
				ck_assert_uint_eq(rc[r].timed, rc[r].evaluations);
			else if (r < 2) /* run on most events: some of them timed */
				ck_assert_msg(rc[r].timed > 0 && rc[r].timed < rc[r].evaluations, "every %u rule %u: %llu of %llu",
					every, r, (unsigned long long)rc[r].timed, (unsigned long long)rc[r].evaluations);
			if (rc[r].timed == 0)
				ck_assert_uint_eq(rc[r].timed_ns, 0);
		}
		if (every == 4) { /* events 4 and 8 ({x,20}): `rest` (on {y,1}, the third) not among them */
			ck_assert_uint_eq(rc[1].timed, 2);
			ck_assert_uint_eq(rc[2].timed, 0);
		}
		if (every == 2) /* events 2, 4, 6, 8: {y,20} and {x,20}; `rest` ran on neither */
			ck_assert_uint_eq(rc[2].timed, 0);
		route_matcher_free(m);
	}
	route_prog_free(p);
	ru_free(rbc);

	/* the time is the rule's: a search through 200 KB takes far longer than the clock's reads */
	{
		static const char src2[] = "event e v1 { k: string }\ndestination a\n"
			"rule slow on e when k icontains \"needle\" route a\n";
		size_t n = 200000; /* under max_string */
		char *ev = malloc(n + 64);
		uint64_t t0, t1;
		struct timespec ts;

		rbc = compile(src2, 2, &len);
		ck_assert_ptr_nonnull(p = route_prog_load(rbc, len, NULL, err, sizeof err));
		ck_assert_ptr_nonnull(ev);
		memcpy(ev, "{\"event_type\":\"e\",\"k\":\"", 23);
		memset(ev + 23, 'a', n);
		memcpy(ev + 23 + n, "needle\"}", 9);
		ck_assert_ptr_nonnull(m = route_matcher_new(p));
		route_matcher_time_rules(m, 1);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_OK);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t1 = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		ck_assert_uint_eq(d.nrules, 1);
		route_matcher_rule_cost(m, 0, &rc[0]);
		ck_assert_uint_eq(rc[0].evaluations, 1);
		ck_assert_uint_eq(rc[0].timed, 1);
		/* more than 10 us (a 200 KB search), less than the whole match took */
		ck_assert_msg(rc[0].timed_ns > 10000 && rc[0].timed_ns <= t1 - t0, "timed %llu ns of %llu",
			(unsigned long long)rc[0].timed_ns, (unsigned long long)(t1 - t0));
		route_matcher_free(m);
		free(ev);
	}
	/* out of range: zeros */
	ck_assert_ptr_nonnull(m = route_matcher_new(p));
	rc[0].evaluations = 7;
	route_matcher_rule_cost(m, 3, &rc[0]);
	ck_assert_uint_eq(rc[0].evaluations, 0);
	route_matcher_free(m);
	route_prog_free(p);
	ru_free(rbc);
}
END_TEST

/* A table of programs and events: both builds must agree on every pair. */
static const char *const agree_srcs[] = {
	"event m v1 { s?: string, n?: number, b?: bool, a?: any, l?: [string], ip?: ip }\n"
	"destination d1\ndestination d2\ndestination d3\ndestination d4\ndestination d5\ndestination d6\n"
	"rule r1 on m when s ieq \"ABC\" or s ine \"x\" route d1\n"
	"rule r2 on m when n in -5..<5.5 or n not in [7, 8] route d2\n"
	"rule r3 on m when s like \"a*\\\\?\" or s ilike \"?B*\" or s matches r\"^[a-c]+$\" route d3\n"
	"rule r4 on m when ip in [10.0.0.0/8, ::1] or ip not in 192.168.0.0/16 route d4\n"
	"rule r5 on m when l prefix \"p\" or l isuffix \"Z\" or l icontains \"mid\" route d5\n"
	"rule r6 on m when a == null or a != null or a exists or not (b == true) route d6\n",
	"event m v1 { s?: string, n?: number, k?: string }\n"
	"event e v1 { s?: string, n?: number }\n"
	"destination d\n"
	"rule t1 on m when s exists set k = upper(trim(s))\n"
	"rule t2 on m when k == \"HI\" set s = lower(k), n = abs(n)\n"
	"rule r on m when len(s) >= 2 and floor(n) >= ceil(1.5) route d\n"
	"rule em on m when k exists emit e { s: k, n: n }\n",
};

static const char *const agree_events[] = {
	"{\"event_type\":\"m\"}",
	"{\"event_type\":\"m\",\"s\":\"abc\",\"n\":5.5,\"b\":false,\"ip\":\"10.1.1.1\"}",
	"{\"event_type\":\"m\",\"s\":\"aBc?\",\"n\":-5,\"a\":null,\"l\":[\"pa\",\"xz\"]}",
	"{\"event_type\":\"m\",\"s\":\" hi \",\"n\":-3.7,\"a\":[1,\"x\"],\"l\":[],\"ip\":\"::1\"}",
	"{\"event_type\":\"m\",\"s\":\"\\u00e9B\\ud83d\\ude80\",\"n\":7,\"ip\":\"192.168.3.4\"}",
	"{\"event_type\":\"m\",\"s\":null,\"n\":\"7\",\"b\":true,\"ip\":\"not-an-ip\",\"l\":[\"MID\"]}",
	"{\"specversion\":\"1.0\",\"type\":\"m\",\"id\":\"1\",\"source\":\"s\",\"data\":{\"s\":\"hi\",\"n\":2}}",
	"{\"event_type\":\"m\",\"s\":[\"x\",\"hi\"],\"n\":[1,2],\"a\":{\"o\":1}}",
	"{\"event_type\":\"m\",\"s\":\"x\",\"s2\":1,\"s2\":2}",
	"{\"event_type\":\"m\",\"s\":\"x\",\"s\":\"y\"}",
	"{\"event_type\":\"m\",\"n\":1e400}",
	"[]",
};

START_TEST(test_dispatch_builds_agree)
{
	size_t i, j;

	for (i = 0; i < sizeof agree_srcs / sizeof *agree_srcs; i++) {
		struct two t;

		two_load(&t, agree_srcs[i]);
		for (j = 0; j < sizeof agree_events / sizeof *agree_events; j++)
			(void)decide(&t, agree_events[j]);
		two_free(&t);
	}
}
END_TEST

/* -O0 and -O2 images decide alike (with both builds each). */
START_TEST(test_opt_levels_agree)
{
	size_t i, j, len0, len2;

	for (i = 0; i < sizeof agree_srcs / sizeof *agree_srcs; i++) {
		struct two t0, t2;
		unsigned char *i0 = compile(agree_srcs[i], 0, &len0);
		unsigned char *i2 = compile(agree_srcs[i], 2, &len2);
		char a[8192];

		two_load_image(&t0, i0, len0);
		two_load_image(&t2, i2, len2);
		ru_free(i0);
		ru_free(i2);
		for (j = 0; j < sizeof agree_events / sizeof *agree_events; j++) {
			snprintf(a, sizeof a, "%s", decide(&t0, agree_events[j]));
			ck_assert_str_eq(a, decide(&t2, agree_events[j]));
		}
		two_free(&t0);
		two_free(&t2);
	}
}
END_TEST

/* ---- no allocation per event ------------------------------------------------ */

START_TEST(test_no_alloc_per_event)
{
	static const char *const evs[] = {
		"{\"event_type\":\"m\",\"s\":\" hi \",\"n\":3}",
		"{\"event_type\":\"m\",\"s\":\"abc\",\"n\":-1.5}",
		"{\"event_type\":\"m\",\"s\":\"x\\u00e9\",\"n\":1,\"b\":true,\"ip\":\"10.0.0.1\",\"l\":[\"pa\"]}",
		"{\"event_type\":\"nope\"}",
		"{\"event_type\":\"m\",\"event_version\":9}",
		"{\"event_type\":\"m\",,}",
		"{\"specversion\":\"1.0\",\"type\":\"m\",\"id\":\"1\",\"source\":\"s\",\"data\":{\"s\":\"hi\"}}",
	};
	struct two t[2];
	struct route_decision d;
	unsigned long before;
	int i, k, x;

	two_load(&t[0], agree_srcs[0]);
	two_load(&t[1], agree_srcs[1]);
	/* one warm-up pass (nothing should be allocated there either) */
	for (x = 0; x < 2; x++)
		for (k = 0; k < 2; k++)
			for (i = 0; i < (int)(sizeof evs / sizeof *evs); i++)
				route_match(t[x].m[k], evs[i], strlen(evs[i]), &d);
	before = ru_alloc_count();
	for (i = 0; i < 1000; i++)
		for (x = 0; x < 2; x++)
			for (k = 0; k < 2; k++) {
				const char *ev = evs[i % (sizeof evs / sizeof *evs)];

				route_match(t[x].m[k], ev, strlen(ev), &d);
			}
	ck_assert_uint_eq(ru_alloc_count(), before);
	/* the second program sets and emits on the first event: check it did */
	route_match(t[1].m[0], evs[0], strlen(evs[0]), &d);
	ck_assert_int_eq(d.status, ROUTE_OK);
	ck_assert_uint_gt(d.nsets, 0);
	ck_assert_uint_gt(d.nemits, 0);
	/* explain allocates nothing either */
	before = ru_alloc_count();
	for (i = 0; i < 100; i++) {
		struct route_why why;
		uint32_t r;

		for (r = 0; r < route_prog_nrules(t[1].p[0]); r++)
			route_explain(t[1].m[0], r, &why);
	}
	ck_assert_uint_eq(ru_alloc_count(), before);
	two_free(&t[0]);
	two_free(&t[1]);
}
END_TEST

/* ---- explain ---------------------------------------------------------------- */

static const char *const src_explain =
	"event m v1 { s?: string, n?: number }\n"     /* line 1 */
	"event other v1 { x?: string }\n"             /* line 2 */
	"destination d\n"                             /* line 3 */
	"rule eq on m when s == \"a\" route d\n"      /* line 4 */
	"rule both on m\n"                            /* line 5 */
	"  when n > 1\n"                              /* line 6 */
	"   and s prefix \"zz\"\n"                    /* line 7 */
	"  route d\n"                                 /* line 8 */
	"rule on_other on other route d\n";           /* line 9 */

static uint32_t
rule_index(const route_prog *p, const char *name)
{
	uint32_t r;
	size_t n;
	const char *s;

	for (r = 0; r < route_prog_nrules(p); r++) {
		s = route_rule_name(p, r, &n);
		if (n == strlen(name) && memcmp(s, name, n) == 0)
			return r;
	}
	ck_abort_msg("no rule %s", name);
	return 0;
}

START_TEST(test_explain)
{
	struct two t;
	struct route_why why;
	struct route_decision d;
	const char *ev;
	int k;

	two_load(&t, src_explain);
	for (k = 0; k < 2; k++) {
		route_prog *p = t.p[k];
		route_matcher *m = t.m[k];
		uint32_t r_eq = rule_index(p, "eq"), r_both = rule_index(p, "both");
		uint32_t r_other = rule_index(p, "on_other");

		/* before any event: nothing to explain */
		if (k == 0) {
			ck_assert_int_eq(route_explain(m, r_eq, &why), -1);
		}
		ev = "{\"event_type\":\"m\",\"s\":\"q\\u00e9\",\"n\":5}";
		ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_OK);
		/* missed: EQ on s, the event's value as JSON text (still escaped) */
		ck_assert_int_eq(route_explain(m, r_eq, &why), 0);
		ck_assert_str_eq(why.op, "EQ");
		ck_assert_uint_eq(why.field_len, 1);
		ck_assert_int_eq(memcmp(why.field, "s", 1), 0);
		ck_assert_ptr_nonnull(why.value);
		ck_assert_uint_eq(why.value_len, strlen("\"q\\u00e9\""));
		ck_assert_int_eq(memcmp(why.value, "\"q\\u00e9\"", why.value_len), 0);
		ck_assert_ptr_nonnull(why.file);
		ck_assert_int_eq(memcmp(why.file, "t.route", why.file_len), 0);
		ck_assert_uint_eq(why.line, 4);
		/* missed on the second conjunct, on its own line */
		ck_assert_int_eq(route_explain(m, r_both, &why), 0);
		ck_assert_str_eq(why.op, "PREFIX");
		ck_assert_uint_eq(why.line, 7);
		/* not applicable: the rule is on another type; out of range too */
		ck_assert_int_eq(route_explain(m, r_other, &why), -1);
		ck_assert_int_eq(route_explain(m, 1000, &why), -1);

		/* a missing field: value NULL, field named */
		ev = "{\"event_type\":\"m\",\"n\":0}";
		ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_OK);
		ck_assert_int_eq(route_explain(m, r_eq, &why), 0);
		ck_assert_ptr_null(why.value);
		ck_assert_ptr_nonnull(why.field);
		ck_assert_uint_eq(why.line, 4);
		ck_assert_int_eq(route_explain(m, r_both, &why), 0);
		ck_assert_str_eq(why.op, "GT");
		ck_assert_ptr_nonnull(why.value);
		ck_assert_int_eq(memcmp(why.value, "0", why.value_len), 0);
		ck_assert_uint_eq(why.line, 6);

		/* matched */
		ev = "{\"event_type\":\"m\",\"s\":\"a\",\"n\":2}";
		ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_OK);
		ck_assert_int_eq(route_explain(m, r_eq, &why), 1);
		ck_assert_ptr_null(why.op);

		/* a null value is "null", not missing */
		ev = "{\"event_type\":\"m\",\"s\":null}";
		ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_OK);
		ck_assert_int_eq(route_explain(m, r_eq, &why), 0);
		ck_assert_ptr_nonnull(why.value);
		ck_assert_uint_eq(why.value_len, 4);
		ck_assert_int_eq(memcmp(why.value, "null", 4), 0);

		/* after a rejected or unknown event: -1 */
		ev = "{\"event_type\":\"m\",";
		ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_REJECTED);
		ck_assert_int_eq(route_explain(m, r_eq, &why), -1);
		ev = "{\"event_type\":\"zzz\"}";
		ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_UNKNOWN_TYPE);
		ck_assert_int_eq(route_explain(m, r_eq, &why), -1);
	}
	two_free(&t);
}
END_TEST

/* explain does not change the decision a later route_match takes */
START_TEST(test_explain_is_side_effect_free)
{
	struct two t;
	struct route_why why;
	const char *ev = "{\"event_type\":\"m\",\"s\":\"a\",\"n\":2}";
	char before[8192];
	uint32_t r;

	two_load(&t, src_explain);
	snprintf(before, sizeof before, "%s", decide(&t, ev));
	for (r = 0; r < route_prog_nrules(t.p[0]); r++)
		route_explain(t.m[0], r, &why);
	ck_assert_str_eq(decide(&t, ev), before);
	two_free(&t);
}
END_TEST

/* ---- lifetimes ---------------------------------------------------------------- */

START_TEST(test_lifetimes)
{
	struct two t;
	struct route_decision d, d2;
	const char *ev1 = "{\"event_type\":\"m\",\"s\":\"abc\",\"n\":3}";
	const char *ev2 = "{\"event_type\":\"m\",\"s\":\"x\",\"n\":3}";
	char *buf;
	const char *name;
	size_t n;
	uint32_t r, f;
	int found;

	two_load(&t, agree_srcs[1]);
	/* no set: output is the caller's buffer itself */
	buf = strdup(ev2);
	ck_assert_ptr_nonnull(buf);
	route_match(t.m[0], "{\"event_type\":\"m\",\"n\":1}", 24, &d);
	ck_assert_int_eq(d.status, ROUTE_OK);
	ck_assert_uint_eq(d.nsets, 0);
	route_match(t.m[0], buf, strlen(buf) - 1, &d); /* not NUL-terminated: len excludes the '}' */
	ck_assert_int_eq(d.status, ROUTE_REJECTED);    /* unterminated object */
	route_match(t.m[0], buf, strlen(buf), &d);
	ck_assert_int_eq(d.status, ROUTE_OK);
	ck_assert_uint_gt(d.nsets, 0);                 /* k = upper(trim(s)) */
	ck_assert_ptr_ne(d.output, buf);               /* rewritten into the matcher */
	ck_assert_ptr_nonnull(memmem(d.output, d.output_len, "\"k\":\"X\"", 7));
	free(buf);

	/* sets and emits are in the matcher: still readable after the buffer
	 * is gone, until the next route_match */
	buf = strdup(ev1);
	route_match(t.m[0], buf, strlen(buf), &d);
	ck_assert_uint_eq(d.nsets, 1);
	ck_assert_uint_eq(d.nemits, 1);
	memset(buf, 'x', strlen(buf));
	free(buf);
	name = route_field_name(t.p[0], d.sets[0].field, &n);
	ck_assert_int_eq(memcmp(name, "k", n), 0);
	ck_assert_int_eq(memcmp(d.sets[0].json, "\"ABC\"", d.sets[0].len), 0);
	ck_assert_ptr_nonnull(memmem(d.emits[0].json, d.emits[0].len, "\"s\":\"ABC\"", 9));

	/* the decision arrays are the matcher's: the same storage next time */
	route_match(t.m[0], ev2, strlen(ev2), &d2);
	ck_assert_ptr_eq(d.rules, d2.rules);
	ck_assert_ptr_eq(d.dests, d2.dests);
	ck_assert_ptr_eq(d.sets, d2.sets);
	ck_assert_ptr_eq(d.emits, d2.emits);

	/* names are borrowed from the program, with their lengths */
	found = 0;
	for (r = 0; r < route_prog_nrules(t.p[0]); r++) {
		name = route_rule_name(t.p[0], r, &n);
		ck_assert_ptr_nonnull(name);
		ck_assert_uint_gt(n, 0);
		found += n == 2 && memcmp(name, "em", 2) == 0;
	}
	ck_assert_int_eq(found, 1);
	ck_assert_ptr_null(route_rule_name(t.p[0], route_prog_nrules(t.p[0]), &n));
	ck_assert_ptr_null(route_dest_name(t.p[0], route_prog_ndests(t.p[0]), &n));
	ck_assert_ptr_null(route_type_name(t.p[0], route_prog_ntypes(t.p[0]), &n));
	name = route_type_name(t.p[0], 0, NULL); /* len may be NULL */
	ck_assert_ptr_nonnull(name);
	for (f = 0; route_field_name(t.p[0], f, &n) != NULL; f++)
		ck_assert_uint_gt(n, 0);
	ck_assert_uint_ge(f, 3);
	{
		size_t fl;
		uint32_t line, col;
		const char *file = route_rule_location(t.p[0], 0, &fl, &line, &col);

		ck_assert_ptr_nonnull(file);
		ck_assert_int_eq(memcmp(file, "t.route", fl), 0);
		ck_assert_uint_eq(line, 4);
		ck_assert_uint_gt(col, 0);
	}

	/* a program may be shared by several matchers; each keeps its own decision */
	{
		route_matcher *m2 = route_matcher_new(t.p[0]);
		struct route_decision a, b;

		ck_assert_ptr_nonnull(m2);
		route_match(t.m[0], ev1, strlen(ev1), &a);
		route_match(m2, ev2, strlen(ev2), &b);
		ck_assert_int_eq(memcmp(a.sets[0].json, "\"ABC\"", a.sets[0].len), 0);
		ck_assert_int_eq(memcmp(b.sets[0].json, "\"X\"", b.sets[0].len), 0);
		route_matcher_free(m2);
	}
	/* the loaded program copied the image: freeing the source image is fine (done
	 * in two_load); freeing NULLs is fine */
	route_matcher_free(NULL);
	route_prog_free(NULL);
	two_free(&t);
}
END_TEST

/* ---- hostile programs ------------------------------------------------------------ */

#define ABC(op, a, b, c) rc_rbc_emit_code(bld, RV_MK_ABC(RV_OP_##op, a, b, c))
#define ABx(op, a, bx) rc_rbc_emit_code(bld, RV_MK_ABx(RV_OP_##op, a, bx))

static uint32_t
field1(struct rc_rbc *b, const char *name, unsigned type)
{
	const char *segs[1] = { name };
	size_t lens[1] = { strlen(name) };

	return rc_rbc_field(b, segs, lens, 1, RV_FW_PAYLOAD, type);
}

static void
push_action(struct rc_rbc *b, uint32_t kind, uint32_t a, uint32_t bb)
{
	struct rv_action *ac = rc_rbc_push(b, RV_SEC_ACTIONS, NULL);

	ac->kind = kind;
	ac->a = a;
	ac->b = bb;
}

static void
push_rule(struct rc_rbc *b, const char *name, uint32_t flags, uint32_t cond_pc, uint32_t contract,
	uint32_t first_action, uint32_t file)
{
	struct rv_rule *r;
	uint32_t first = rc_rbc_count(b, RV_SEC_RTYPES);

	*(uint32_t *)rc_rbc_push(b, RV_SEC_RTYPES, NULL) = contract;
	r = rc_rbc_push(b, RV_SEC_RULES, NULL);
	r->name = rc_rbc_str(b, name, strlen(name));
	r->flags = flags;
	r->cond_pc = cond_pc;
	r->rtype = first;
	r->nrtype = 1;
	r->action = first_action;
	r->naction = rc_rbc_count(b, RV_SEC_ACTIONS) - first_action;
	r->file = file;
	r->line = 1;
	r->col = 1;
	r->span_start = 0;
	r->span_end = 1;
}

/*
 * A valid program whose rules read registers no instruction of their block
 * wrote (r5..r7 of 8): every predicate kind, arithmetic, calls, a list,
 * jumps on them, and set/emit value blocks yielding them.
 */
static unsigned char *
hostile_image(size_t *len)
{
	struct rc_rbc *bld = rc_rbc_new();
	struct rv_type *ty;
	struct rv_contract *c;
	struct rv_cfield *cf;
	struct rv_dest *d;
	uint32_t file, t, dest, f_s, f_out, k_str, k_num, k_set, k_re, items[2], b_len, b_lower;
	uint32_t pc0, pc1, pc_set, pc_emitf, a0, ci;
	unsigned char *img = NULL;
	char err[256];

	file = rc_rbc_file(bld, "hostile.route", 13);
	k_str = rc_rbc_k_str(bld, "a", 1);
	k_num = rc_rbc_k_num(bld, 1);
	items[0] = rc_rbc_k_str(bld, "x", 1);
	items[1] = rc_rbc_k_str(bld, "y", 1);
	k_set = rc_rbc_k_set(bld, items, 2, 0);
	k_re = rc_rbc_k_regex(bld, "^a", 2, 0);
	b_len = rc_rbc_builtin(bld, "len");
	b_lower = rc_rbc_builtin(bld, "lower");
	f_s = field1(bld, "s", RV_T_STRING);
	f_out = field1(bld, "out", RV_T_STRING);

	ty = rc_rbc_push(bld, RV_SEC_TYPES, &t);
	ty->name = rc_rbc_str(bld, "h", 1);
	ty->contract = rc_rbc_count(bld, RV_SEC_CONTRACTS);
	ty->ncontract = 1;
	ci = rc_rbc_count(bld, RV_SEC_CFIELDS);
	cf = rc_rbc_push(bld, RV_SEC_CFIELDS, NULL);
	cf->path = rc_rbc_str(bld, "s", 1);
	cf->type = RV_T_STRING;
	cf->flags = RV_CF_OPTIONAL;
	cf->enum_set = RV_NONE;
	cf = rc_rbc_push(bld, RV_SEC_CFIELDS, NULL);
	cf->path = rc_rbc_str(bld, "out", 3);
	cf->type = RV_T_STRING;
	cf->flags = RV_CF_OPTIONAL;
	cf->enum_set = RV_NONE;
	c = rc_rbc_push(bld, RV_SEC_CONTRACTS, NULL);
	c->type = t;
	c->version = 1;
	c->cfield = ci;
	c->ncfield = 2;
	d = rc_rbc_push(bld, RV_SEC_DESTS, &dest);
	d->name = rc_rbc_str(bld, "d", 1);
	d->dead_letter = RV_NONE;
	d->priority = 5;
	d->workers = 1;

	/* rule 0: a transform whose condition and value read unwritten registers */
	rc_rbc_line(bld, 0, file, 1, 1);
	pc0 = ABC(EQ, 0, 5, 6);            /* r5, r6 never written */
	ABC(NE, 0, 5, 7);
	ABC(LT, 0, 7, 5);
	ABC(IEQ, 0, 6, 5);
	ABC(PREFIX, 0, 5, 6);
	ABC(MATCHES, 0, 5, 7);             /* r7 is no regex constant */
	ABC(LIKE, 0, 6, 6);
	ABC(IN, 0, 5, 6);                  /* r6 is no set constant */
	ABC(RANGE, 0, 7, 7);
	ABC(CIDR, 0, 5, 5);
	ABC(NCIDR, 0, 6, 7);
	ABC(EXISTS, 0, 7, 0);
	ABC(ADD, 1, 5, 6);
	ABC(DIV, 1, 7, 7);
	ABC(NEG, 2, 6, 0);
	ABC(CALL, 3, b_len, 6);
	ABC(CALL, 3, b_lower, 7);
	ABC(NOT, 4, 7, 0);
	rc_rbc_emit_code(bld, RV_MK_ABx(RV_OP_JMPF, 6, 1)); /* jump on an unwritten register */
	ABC(NOP, 0, 0, 0);
	ABC(MATCH, 0, 0, 0);
	pc_set = ABC(MKLIST, 0, 5, 3);     /* a list of r5..r7 */
	ABC(YIELD, 7, 0, 0);               /* yields the unwritten r7 */
	pc_emitf = ABC(MKLIST, 5, 5, 1);   /* r5 := [r5]: a list holding itself */
	ABC(MKLIST, 0, 5, 3);
	ABC(YIELD, 0, 0, 0);               /* yields a list of that and unwritten registers */
	a0 = rc_rbc_count(bld, RV_SEC_ACTIONS);
	push_action(bld, RV_A_SET, f_out, pc_set);
	push_action(bld, RV_A_ROUTE, dest, 0);
	push_action(bld, RV_A_EMIT, 0, 1); /* contract 0: h v1 */
	push_action(bld, RV_A_EMITF, f_s, pc_emitf);
	push_rule(bld, "hostile", RV_RF_TRANSFORM | RV_RF_ROUTES, pc0, 0, a0, file);

	/* rule 1: reads s, then compares it with the unwritten r7 */
	pc1 = ABx(LOADF, 0, f_s);
	ABx(LOADK, 1, k_str);
	ABx(LOADK, 2, k_num);
	ABx(LOADK, 3, k_set);
	ABx(LOADK, 4, k_re);
	ABC(MATCHES, 1, 0, 4);
	ABC(IN, 1, 0, 3);
	ABC(EQ, 1, 0, 7);
	rc_rbc_emit_code(bld, RV_MK_ABx(RV_OP_JMPT, 1, 1));
	ABC(MISS, 0, 0, 0);
	ABC(MATCH, 0, 0, 0);
	a0 = rc_rbc_count(bld, RV_SEC_ACTIONS);
	push_action(bld, RV_A_ROUTE, dest, 0);
	push_rule(bld, "reader", RV_RF_ROUTES, pc1, 0, a0, file);

	ck_assert_int_eq(rc_rbc_write(bld, 8, &img, len, err, sizeof err), 0);
	rc_rbc_free(bld);
	return img;
}

START_TEST(test_hostile_unwritten_registers)
{
	static const char *const evs[] = {
		"{\"event_type\":\"h\"}",
		"{\"event_type\":\"h\",\"s\":\"abc\"}",
		"{\"event_type\":\"h\",\"s\":\"x\",\"out\":\"o\"}",
		"{\"event_type\":\"h\",\"s\":[\"a\",1,null,{}]}",
		"{\"event_type\":\"h\",\"s\":\"a\\u0000b\"}",
	};
	struct two t;
	struct route_why why;
	size_t len, i;
	unsigned char *img = hostile_image(&len);
	char err[256];
	route_prog *p;

	p = route_prog_load(img, len, NULL, err, sizeof err);
	if (p == NULL) {
		/* refusing the program at load time is an acceptable defence too */
		ck_assert(err[0] != '\0');
		ru_free(img);
		return;
	}
	route_prog_free(p);
	two_load_image(&t, img, len);
	ru_free(img);
	for (i = 0; i < sizeof evs / sizeof *evs; i++) {
		uint32_t r;

		(void)decide(&t, evs[i]); /* must not crash; both builds agree */
		for (r = 0; r < route_prog_nrules(t.p[1]); r++)
			route_explain(t.m[1], r, &why);
	}
	two_free(&t);
}
END_TEST

/* ---- regressions ------------------------------------------------------------------ */

START_TEST(test_bug_null_ne)
{
	struct two t;

	two_load(&t, "event m v1 { s?: string }\ndestination d\nrule r on m when s != \"a\" route d\n");
	/* docs 7.1 / 8.4: null makes every predicate false except == != null, exists, missing */
	EXPECT(&t, "{\"event_type\":\"m\",\"s\":null}", "ok m v1 rules= routes=");
	two_free(&t);
}
END_TEST

START_TEST(test_bug_arith_aliasing)
{
	struct two t;

	two_load(&t, "event m v1 { n?: number, k?: number }\ndestination d\n"
		"rule r on m when n * 2 > 5 route d\nrule s on m when n exists set k = n + 1\n");
	EXPECT(&t, "{\"event_type\":\"m\",\"n\":5}", "ok m v1 rules=s,r routes=d set=k:6;");
	two_free(&t);
}
END_TEST

START_TEST(test_bug_len_array_of_objects)
{
	struct two t;

	two_load(&t, "event m v1 { items?: [{ sku: string }] }\ndestination d\n"
		"rule r on m when len(items) == 2 route d\n");
	EXPECT(&t, "{\"event_type\":\"m\",\"items\":[{\"sku\":\"a\"},{\"sku\":\"b\"}]}",
		"ok m v1 rules=r routes=d");
	two_free(&t);
}
END_TEST

START_TEST(test_bug_emit_version)
{
	struct two t;

	two_load(&t, "event a v1 { id: string }\nevent b v1 { id: string }\nevent b v2 { id: string }\n"
		"rule e on a emit b v1 { id: id }\n");
	EXPECT(&t, "{\"event_type\":\"a\",\"id\":\"1\"}",
		"ok a v1 rules=e routes= emit={\"event_type\":\"b\",\"event_version\":1,\"id\":\"1\"};");
	two_free(&t);
}
END_TEST

/* Builtin results of one rule do not use up the scratch of the next ones:
 * twelve rules each lowering a large string all match. */
START_TEST(test_bug_scratch_per_rule)
{
	static const char src[] = "event m v1 { s: string }\ndestination d\n"
		"rule r1 on m when lower(s) prefix \"a\" route d\nrule r2 on m when lower(s) prefix \"a\" route d\n"
		"rule r3 on m when lower(s) prefix \"a\" route d\nrule r4 on m when lower(s) prefix \"a\" route d\n"
		"rule r5 on m when lower(s) prefix \"a\" route d\nrule r6 on m when lower(s) prefix \"a\" route d\n"
		"rule r7 on m when lower(s) prefix \"a\" route d\nrule r8 on m when lower(s) prefix \"a\" route d\n"
		"rule r9 on m when upper(s) prefix \"A\" route d\nrule r10 on m when upper(s) prefix \"A\" route d\n"
		"rule r11 on m when trim(s) prefix \"a\" route d\nrule r12 on m when lower(s) prefix \"a\" route d\n";
	struct route_options o;
	struct route_decision d;
	route_prog *p;
	route_matcher *m;
	size_t len, n = 40000, i;
	unsigned char *rbc = compile(src, 2, &len);
	char err[256], *ev = malloc(n + 64);

	ck_assert_ptr_nonnull(ev);
	memset(&o, 0, sizeof o);
	o.max_event_bytes = 65536;
	p = route_prog_load(rbc, len, &o, err, sizeof err);
	ck_assert_msg(p != NULL, "%s", err);
	m = route_matcher_new(p);
	i = (size_t)sprintf(ev, "{\"event_type\":\"m\",\"s\":\"");
	memset(ev + i, 'a', n);
	i += n;
	i += (size_t)sprintf(ev + i, "\"}");
	ck_assert_int_eq(route_match(m, ev, i, &d), ROUTE_OK);
	ck_assert_uint_eq(d.nrules, 12);
	route_matcher_free(m);
	route_prog_free(p);
	ru_free(rbc);
	free(ev);
}
END_TEST

/* Explain: an otherwise rule skipped after a routing match is "not
 * evaluated"; a transform rule that missed before a later set made it true
 * is reported as changed, not as matched. */
START_TEST(test_bug_explain_states)
{
	static const char src[] = "event m v1 { p: string }\ndestination d\ndestination e\n"
		"rule first on m when p == \"high\" set p = \"x\"\n"
		"rule second on m when p == \"low\" set p = \"high\"\n"
		"rule go on m when p exists route d\n"
		"rule rest on m otherwise route e\n";
	struct route_decision d;
	struct route_why why;
	route_prog *p;
	route_matcher *m;
	size_t len;
	unsigned char *rbc = compile(src, 2, &len);
	char err[256];
	static const char ev[] = "{\"event_type\":\"m\",\"p\":\"low\"}";

	p = route_prog_load(rbc, len, NULL, err, sizeof err);
	ck_assert_msg(p != NULL, "%s", err);
	m = route_matcher_new(p);
	ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_OK);
	ck_assert_int_eq(route_explain(m, 0, &why), 0); /* first: missed when it ran */
	ck_assert_int_eq(why.changed, 1);
	ck_assert_int_eq(route_explain(m, 1, &why), 1); /* second matched */
	ck_assert_int_eq(route_explain(m, 2, &why), 1); /* go matched */
	ck_assert_int_eq(route_explain(m, 3, &why), 2); /* rest: not evaluated */
	route_matcher_free(m);
	route_prog_free(p);
	ru_free(rbc);
}
END_TEST

/* ---- state: tables ------------------------------------------------------- */

static const char *const src_tables =
	"event up v1 { k?: string, v?: number, flag?: bool }\n"
	"event del v1 { k?: string }\n"
	"event q v1 { k: string }\n"
	"destination d\n"
	"destination low\n"
	"table t: number by k from up set v delete on del ttl 10s max_keys 2\n"
	"rule hit on q when t[k] > 5 route d\n"
	"rule miss on q when t[k] missing route low\n";

/* Matches ev on m; returns the number of destinations (-1 when not ROUTE_OK). */
static int
ndests(route_matcher *m, const char *ev)
{
	struct route_decision d;

	if (route_match(m, ev, strlen(ev), &d) != ROUTE_OK)
		return -1;
	return (int)d.ndests;
}

static int
routed_to(route_matcher *m, const route_prog *p, const char *ev, const char *dest)
{
	struct route_decision d;
	size_t len;
	const char *nm;

	if (route_match(m, ev, strlen(ev), &d) != ROUTE_OK || d.ndests != 1)
		return 0;
	nm = route_dest_name(p, d.dests[0], &len);
	return len == strlen(dest) && memcmp(nm, dest, len) == 0;
}

START_TEST(test_state_tables)
{
	size_t len;
	unsigned char *rbc = compile(src_tables, 2, &len);
	char err[256];
	route_prog *p = route_prog_load(rbc, len, NULL, err, sizeof err);
	route_matcher *m;
	route_state *st;
	struct route_table_stats ts;
	size_t nl;

	ck_assert_msg(p != NULL, "load: %s", err);
	ck_assert_uint_eq(route_prog_ntables(p), 1);
	ck_assert(memcmp(route_table_name(p, 0, &nl), "t", 1) == 0 && nl == 1);
	m = route_matcher_new(p);
	st = route_state_new(p);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(st);
	/* the matcher's own state keeps tables too ... */
	ck_assert(routed_to(m, p, "{\"event_type\":\"up\",\"k\":\"a\",\"v\":9}", "") == 0);
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"a\"}", "d"));
	/* ... and another state starts empty */
	route_state_set_time(st, 1000000);
	ck_assert_int_eq(route_state_time(st), 1000000);
	route_matcher_set_state(m, st);
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"a\"}", "low"));
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"k\":\"a\",\"v\":9}"), 0);
	/* the key by its decoded bytes */
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"\\u0061\"}", "d"));
	/* skipped: no key, null value, wrong value type, wrong key type */
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"v\":1}"), 0);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"k\":\"b\",\"v\":null}"), 0);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"k\":\"b\",\"v\":\"9\"}"), 0);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"k\":5,\"v\":9}"), 0);
	ck_assert_int_eq(route_state_table_stats(st, 0, &ts), 0);
	ck_assert_uint_eq(ts.updates, 1);
	ck_assert_uint_eq(ts.skipped, 4);
	ck_assert_uint_eq(ts.entries, 1);
	ck_assert_uint_gt(ts.bytes, 0);
	/* max_keys 2: a third key evicts the least recently updated ("a") */
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"k\":\"b\",\"v\":1}"), 0);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"k\":\"c\",\"v\":7}"), 0);
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"a\"}", "low"));
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"c\"}", "d"));
	route_state_table_stats(st, 0, &ts);
	ck_assert_uint_eq(ts.evicted, 1);
	ck_assert_uint_eq(ts.entries, 2);
	/* delete on */
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"del\",\"k\":\"c\"}"), 0);
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"c\"}", "low"));
	route_state_table_stats(st, 0, &ts);
	ck_assert_uint_eq(ts.deletes, 1);
	/* ttl 10s: "b" was updated at 1000000 */
	route_state_advance(st, 9999);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"q\",\"k\":\"b\"}"), 0); /* present: 1 > 5 fails */
	route_state_table_stats(st, 0, &ts);
	ck_assert_uint_eq(ts.entries, 1);
	route_state_advance(st, 1);
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"b\"}", "low"));
	route_state_table_stats(st, 0, &ts);
	ck_assert_uint_eq(ts.expired, 1);
	ck_assert_uint_eq(ts.entries, 0);
	ck_assert_int_eq(route_state_table_stats(st, 1, &ts), -1);
	/* NULL returns the matcher to its own state, where "a" is still 9 */
	route_matcher_set_state(m, NULL);
	ck_assert(routed_to(m, p, "{\"event_type\":\"q\",\"k\":\"a\"}", "d"));
	route_matcher_free(m);
	route_state_free(st);
	route_prog_free(p);
	ru_free(rbc);
}
END_TEST

/* ---- state: temporal rules ------------------------------------------------ */

START_TEST(test_state_temporal)
{
	static const char src[] =
		"event e v1 { k?: string, x?: number, id?: string }\n"
		"destination d\ndestination other\n"
		"rule w on e when x > 0 and count() >= 2 by k within 1s throttle 1 per 1s else route other route d\n"
		"rule u on e dedup within 1m route other\n"
		"rule b on e when count() > 2 within 1s backpressure\n";
	size_t len;
	unsigned char *rbc = compile(src, 2, &len);
	char err[256];
	route_prog *p = route_prog_load(rbc, len, NULL, err, sizeof err);
	route_matcher *m;
	route_state *st;
	struct route_rule_stats rs;

	ck_assert_msg(p != NULL, "load: %s", err);
	m = route_matcher_new(p);
	st = route_state_new(p);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(st);
	route_state_set_time(st, 5000);
	route_matcher_set_state(m, st);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"e\",\"k\":\"a\",\"x\":1}"), 0);
	ck_assert(routed_to(m, p, "{\"event_type\":\"e\",\"k\":\"a\",\"x\":1}", "d"));
	ck_assert(routed_to(m, p, "{\"event_type\":\"e\",\"k\":\"a\",\"x\":1}", "other")); /* throttled */
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"e\",\"x\":1}"), 0);                  /* no key */
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"e\",\"k\":\"a\",\"x\":0}"), 0);  /* filter */
	ck_assert_int_eq(route_state_rule_stats(st, 0, &rs), 0);
	ck_assert_uint_eq(rs.entered, 4);
	ck_assert_uint_eq(rs.fired, 1);
	ck_assert_uint_eq(rs.below, 1);
	ck_assert_uint_eq(rs.throttled, 1);
	ck_assert_uint_eq(rs.no_key, 1);
	ck_assert_uint_eq(rs.keys, 1);
	ck_assert_uint_gt(rs.bytes, 0);
	/* dedup by id: the second event with an id is a duplicate; none without */
	ck_assert(routed_to(m, p, "{\"event_type\":\"e\",\"event_id\":\"i1\"}", "other"));
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"e\",\"event_id\":\"i1\"}"), 0);
	route_state_advance(st, 60000);
	ck_assert(routed_to(m, p, "{\"event_type\":\"e\",\"event_id\":\"i1\"}", "other"));
	ck_assert_int_eq(route_state_rule_stats(st, 1, &rs), 0);
	ck_assert_uint_eq(rs.duplicates, 1);
	ck_assert_uint_eq(rs.fired, 2);
	ck_assert_int_eq(route_state_rule_stats(st, 3, &rs), -1);
	/* backpressure: the decision says so when the rule fires */
	{
		struct route_decision d;
		const char *ev = "{\"event_type\":\"e\",\"k\":\"z\",\"x\":-1}";
		int i, seen = 0;

		route_state_advance(st, 2000); /* the earlier events leave rule b's window */
		for (i = 0; i < 4; i++) {
			ck_assert_int_eq(route_match(m, ev, strlen(ev), &d), ROUTE_OK);
			if (i < 2)
				ck_assert_uint_eq(d.backpressure, 0);
			seen += d.backpressure > 0;
		}
		ck_assert_int_eq(seen, 2); /* the 3rd and 4th event within 1s */
	}
	route_matcher_free(m);
	route_state_free(st);
	route_prog_free(p);
	ru_free(rbc);
}
END_TEST

/* Keyed backpressure: the firing carries its key, and ingest finds the same key on an event. */
START_TEST(test_state_pushback_keys)
{
	static const char src[] =
		"event e v1 { svc?: string, n?: number }\n"
		"event f v1 { svc?: string }\n"
		"destination d\n"
		"rule all on e route d\n"
		"rule noisy on e when count() > 2 within 1s by svc backpressure\n"
		"rule noisy_n on e when count() > 5 within 1s by n backpressure\n"
		"rule total on e, f when count() > 100 within 1s backpressure\n";
	size_t len;
	unsigned char *rbc = compile(src, 2, &len);
	char err[256];
	route_prog *p = route_prog_load(rbc, len, NULL, err, sizeof err);
	route_matcher *m, *in;
	route_state *st;
	struct route_decision d;
	struct route_class c;
	uint64_t keys[4], ka, kb, kn;
	const char *a = "{\"event_type\":\"e\",\"svc\":\"a\"}", *b = "{\"event_type\":\"e\",\"svc\":\"b\"}";
	const char *fa = "{\"event_type\":\"f\",\"svc\":\"a\"}", *an = "{\"event_type\":\"e\",\"svc\":\"a\",\"n\":7}";
	int i;

	ck_assert_msg(p != NULL, "load: %s", err);
	m = route_matcher_new(p);
	in = route_matcher_new(p); /* ingest's: classifies, runs no rule */
	st = route_state_new(p);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(st);
	route_state_set_time(st, 5000);
	route_matcher_set_state(m, st);

	/* ingest: one key per keyed rule the event's type has and whose `by` it has */
	ck_assert_int_eq(route_classify(in, a, strlen(a), &c), ROUTE_OK);
	ck_assert_uint_eq(route_pushback_keys(in, keys, 4), 1);
	ka = keys[0];
	ck_assert_int_eq(route_classify(in, b, strlen(b), &c), ROUTE_OK);
	ck_assert_uint_eq(route_pushback_keys(in, keys, 4), 1);
	kb = keys[0];
	ck_assert(ka != kb);
	ck_assert_int_eq(route_classify(in, an, strlen(an), &c), ROUTE_OK);
	ck_assert_uint_eq(route_pushback_keys(in, keys, 1), 2); /* two apply, one fits */
	ck_assert(keys[0] == ka);
	ck_assert_uint_eq(route_pushback_keys(in, keys, 4), 2);
	kn = keys[1];
	ck_assert(kn != ka);
	ck_assert_int_eq(route_classify(in, fa, strlen(fa), &c), ROUTE_OK);
	ck_assert_uint_eq(route_pushback_keys(in, keys, 4), 0);  /* f: only the unkeyed rule */
	ck_assert_int_eq(route_classify(in, "{", 1, &c), ROUTE_REJECTED);
	ck_assert_uint_eq(route_pushback_keys(in, keys, 4), 0);  /* no event */

	/* the third event of svc a within 1s fires `noisy`, keyed with a's key */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(route_match(m, a, strlen(a), &d), ROUTE_OK);
		if (i < 2)
			ck_assert_uint_eq(d.backpressure, 0);
	}
	ck_assert_uint_eq(d.backpressure, 1);
	ck_assert_int_eq(d.pushbacks[0].keyed, 1);
	ck_assert(d.pushbacks[0].key == ka);
	ck_assert_uint_eq(d.pushbacks[0].rule, 1);
	/* svc b has its own count */
	ck_assert_int_eq(route_match(m, b, strlen(b), &d), ROUTE_OK);
	ck_assert_uint_eq(d.backpressure, 0);
	/* n = 7: the 6th within 1s fires `noisy_n` with the key ingest gave it (and `noisy`, a's) */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(route_match(m, an, strlen(an), &d), ROUTE_OK);
	ck_assert_uint_eq(d.backpressure, 2);
	ck_assert(d.pushbacks[0].key == ka && d.pushbacks[0].keyed);
	ck_assert(d.pushbacks[1].key == kn && d.pushbacks[1].keyed);
	ck_assert_uint_eq(d.pushbacks[1].rule, 2);
	/* an unkeyed rule pushes back on everything */
	route_state_advance(st, 2000);
	for (i = 0; i < 101; i++)
		ck_assert_int_eq(route_match(m, fa, strlen(fa), &d), ROUTE_OK);
	ck_assert_uint_eq(d.backpressure, 1);
	ck_assert_int_eq(d.pushbacks[0].keyed, 0);
	ck_assert_uint_eq(d.pushbacks[0].rule, 3);

	/* a program loaded again (a reload) gives the same keys: the rule's name seeds them */
	{
		route_prog *p2 = route_prog_load(rbc, len, NULL, err, sizeof err);
		route_matcher *in2 = p2 ? route_matcher_new(p2) : NULL;

		ck_assert_ptr_nonnull(in2);
		ck_assert_int_eq(route_classify(in2, a, strlen(a), &c), ROUTE_OK);
		ck_assert_uint_eq(route_pushback_keys(in2, keys, 4), 1);
		ck_assert(keys[0] == ka);
		route_matcher_free(in2);
		route_prog_free(p2);
	}
	route_matcher_free(m);
	route_matcher_free(in);
	route_state_free(st);
	route_prog_free(p);
	ru_free(rbc);
}
END_TEST

/* ---- state: snapshot and restore -------------------------------------------- */

static const char src_snap[] =
	"event up v1 { k: string, v: number }\n"
	"event e v1 { k: string, x: number, id?: string }\n"
	"destination d\ndestination o\n"
	"table t: number by k from up set v ttl 1h\n"
	"rule w on e when x > 0 and count() >= 3 and sum(x) > t[k] by k within 10s\n"
	"  throttle 2 per 5s else route o route d\n"
	"rule u on e dedup within 1m route o\n";

/* The decisions of one event on m, as "dests:rules" text (for comparing two states). */
static void
decision_text(route_matcher *m, const char *ev, char *out, size_t cap)
{
	struct route_decision d;
	size_t n = 0;
	uint32_t i;

	route_match(m, ev, strlen(ev), &d);
	n += (size_t)snprintf(out + n, cap - n, "%d:", d.status);
	for (i = 0; i < d.ndests && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%u,", d.dests[i]);
	for (i = 0; i < d.nrules && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "r%u,", d.rules[i]);
}

/* Event i of a pseudo-random stream for src_snap into ev; returns the gap to the next (ms). */
static int64_t
snap_event(uint64_t *rng, size_t i, char *ev, size_t cap)
{
	uint64_t r = *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;

	if (i % 7 == 0)
		snprintf(ev, cap, "{\"event_type\":\"up\",\"k\":\"k%u\",\"v\":%u}", (unsigned)(r >> 60),
			(unsigned)(r >> 58) % 9);
	else
		snprintf(ev, cap, "{\"event_type\":\"e\",\"k\":\"k%u\",\"x\":%u,\"event_id\":\"i%u\"}",
			(unsigned)(r >> 60), (unsigned)(r >> 56) % 5, (unsigned)(r >> 40) % 50);
	return (int64_t)(r >> 33) % 300;
}

START_TEST(test_state_snapshot_restore)
{
	int64_t gap;
	size_t len, slen, i;
	unsigned char *rbc = compile(src_snap, 2, &len), *snap;
	char err[256], ev[160], a[128], b[128];
	route_prog *p = route_prog_load(rbc, len, NULL, err, sizeof err);
	route_matcher *m1, *m2;
	route_state *s1, *s2;
	struct route_restore_report rep;
	uint64_t rng = 7;

	ck_assert_msg(p != NULL, "load: %s", err);
	m1 = route_matcher_new(p);
	m2 = route_matcher_new(p);
	s1 = route_state_new(p);
	route_state_set_time(s1, 1000);
	route_matcher_set_state(m1, s1);
	for (i = 0; i < 200; i++) { /* a history: table updates, windows, dedup, throttle */
		gap = snap_event(&rng, i, ev, sizeof ev);
		decision_text(m1, ev, a, sizeof a);
		route_state_advance(s1, gap);
	}
	slen = route_state_snapshot(s1, NULL, 0);
	ck_assert_uint_gt(slen, 64);
	snap = ru_malloc(slen);
	ck_assert_uint_eq(route_state_snapshot(s1, snap, slen), slen);
	s2 = route_state_new(p);
	ck_assert_int_eq(route_state_restore(s2, snap, slen, &rep, err, sizeof err), 0);
	ck_assert_uint_eq(rep.tables, 1);
	ck_assert_uint_eq(rep.rules, 2);
	ck_assert_uint_eq(rep.tables_dropped + rep.rules_dropped, 0);
	ck_assert_int_eq(route_state_time(s2), route_state_time(s1));
	route_matcher_set_state(m2, s2);
	for (i = 0; i < 300; i++) { /* the same future on both: the same decisions */
		gap = snap_event(&rng, i, ev, sizeof ev);
		decision_text(m1, ev, a, sizeof a);
		decision_text(m2, ev, b, sizeof b);
		ck_assert_msg(strcmp(a, b) == 0, "event %zu: %s vs %s (%s)", i, a, b, ev);
		route_state_advance(s1, gap);
		route_state_advance(s2, gap);
	}
	/* damaged snapshots are refused: truncated, or one bit flipped anywhere */
	{
		route_state *s3 = route_state_new(p);

		for (i = 0; i < slen; i += 1 + slen / 97) {
			ck_assert_int_eq(route_state_restore(s3, snap, i, NULL, err, sizeof err), -1);
			snap[i] ^= 0x10;
			ck_assert_int_eq(route_state_restore(s3, snap, slen, NULL, err, sizeof err), -1);
			snap[i] ^= 0x10;
		}
		route_state_free(s3);
	}
	ru_free(snap);
	route_matcher_free(m1);
	route_matcher_free(m2);
	route_state_free(s1);
	route_state_free(s2);
	route_prog_free(p);
	ru_free(rbc);
}
END_TEST

/* Carry-over across a reload: the table and the unchanged rule keep their state, the changed rule starts empty. */
START_TEST(test_state_carry_over)
{
	static const char v2[] =
		"event up v1 { k: string, v: number }\n"
		"event e v1 { k: string, x: number, id?: string }\n"
		"destination d\ndestination o\n"
		"table t: number by k from up set v ttl 1h\n"
		"rule w on e when x > 0 and count() >= 4 and sum(x) > t[k] by k within 10s\n"
		"  throttle 2 per 5s else route o route d\n"
		"rule u on e dedup within 1m route o\n";
	size_t len1, len2, slen;
	unsigned char *r1 = compile(src_snap, 2, &len1), *r2 = compile(v2, 2, &len2), *snap;
	char err[256];
	route_prog *p1 = route_prog_load(r1, len1, NULL, err, sizeof err), *p2;
	route_matcher *m;
	route_state *s1, *s2;
	struct route_restore_report rep;

	ck_assert_msg(p1 != NULL, "load: %s", err);
	p2 = route_prog_load(r2, len2, NULL, err, sizeof err);
	ck_assert_msg(p2 != NULL, "load: %s", err);
	m = route_matcher_new(p1);
	s1 = route_state_new(p1);
	route_state_set_time(s1, 5000);
	route_matcher_set_state(m, s1);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"up\",\"k\":\"a\",\"v\":1}"), 0);
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"e\",\"k\":\"a\",\"x\":1,\"event_id\":\"q\"}"), 1);
	route_matcher_free(m);
	slen = route_state_snapshot(s1, NULL, 0);
	snap = ru_malloc(slen);
	route_state_snapshot(s1, snap, slen);
	s2 = route_state_new(p2);
	ck_assert_int_eq(route_state_restore(s2, snap, slen, &rep, err, sizeof err), 0);
	ck_assert_uint_eq(rep.tables, 1);
	ck_assert_uint_eq(rep.rules, 1);          /* u: same text */
	ck_assert_uint_eq(rep.rules_dropped, 1);  /* w: changed (>= 4) */
	m = route_matcher_new(p2);
	route_matcher_set_state(m, s2);
	/* the dedup key "q" carried over: a duplicate; the table value 1 too: t[a] missing would fail sum > t[k] */
	ck_assert_int_eq(ndests(m, "{\"event_type\":\"e\",\"k\":\"a\",\"x\":1,\"event_id\":\"q\"}"), 0);
	route_matcher_free(m);
	route_state_free(s1);
	route_state_free(s2);
	ru_free(snap);
	route_prog_free(p1);
	route_prog_free(p2);
	ru_free(r1);
	ru_free(r2);
}
END_TEST

/* ---- regex databases compiled on first use, by threads at once ----------------- */

#define RX_THREADS 4
#define RX_EVENTS 64

struct rx_run {
	const route_prog *p;   /* borrows */
	char out[RX_EVENTS][64];
	int ok;
};

static void *
rx_thread(void *arg)
{
	struct rx_run *r = arg;
	route_matcher *m = route_matcher_new(r->p);
	char ev[96];
	unsigned i;

	r->ok = m != NULL;
	for (i = 0; m && i < RX_EVENTS; i++) {
		snprintf(ev, sizeof ev, "{\"event_type\":\"e\",\"s\":\"a%ub%u\"}", i % 13, i % 7);
		decision_text(m, ev, r->out[i], sizeof r->out[i]);
	}
	route_matcher_free(m);
	return NULL;
}

START_TEST(test_regex_first_use_threads)
{
	char src[4096], err[256];
	size_t n = 0, len;
	unsigned i, t;
	unsigned char *rbc;
	route_prog *p;
	struct rx_run ref, runs[RX_THREADS];
	pthread_t th[RX_THREADS];

	n += (size_t)snprintf(src + n, sizeof src - n, "event e v1 { s?: string }\ndestination d\n");
	for (i = 0; i < 20; i++) /* ^a, then a class: no literal run for the index to file them by */
		n += (size_t)snprintf(src + n, sizeof src - n, "rule r%u on e when s matches r\"^a%u[b-c]%u$\" route d\n",
			i, i % 13, i % 7);
	rbc = compile(src, 2, &len);
	/* two loads: the reference fills its databases alone, the other under four threads at once */
	memset(&ref, 0, sizeof ref);
	ref.p = p = route_prog_load(rbc, len, NULL, err, sizeof err);
	ck_assert_msg(p != NULL, "load: %s", err);
	rx_thread(&ref);
	ck_assert(ref.ok);
	route_prog_free(p);
	p = route_prog_load(rbc, len, NULL, err, sizeof err);
	ck_assert_msg(p != NULL, "load: %s", err);
	for (t = 0; t < RX_THREADS; t++) {
		memset(&runs[t], 0, sizeof runs[t]);
		runs[t].p = p;
		ck_assert_int_eq(pthread_create(&th[t], NULL, rx_thread, &runs[t]), 0);
	}
	for (t = 0; t < RX_THREADS; t++) {
		pthread_join(th[t], NULL);
		ck_assert(runs[t].ok);
		for (i = 0; i < RX_EVENTS; i++)
			ck_assert_msg(strcmp(runs[t].out[i], ref.out[i]) == 0, "thread %u event %u: %s vs %s", t, i,
				runs[t].out[i], ref.out[i]);
	}
	for (i = 0, n = 0; i < RX_EVENTS; i++)
		n += strchr(ref.out[i], 'r') != NULL;
	ck_assert_msg(n > 0, "no event matched a regex rule: the test would prove nothing");
	route_prog_free(p);
	ru_free(rbc);
}
END_TEST

static Suite *
vm_suite(void)
{
	Suite *s = suite_create("vm");
	TCase *tc = tcase_create("vm");
	TCase *kb = tcase_create("regressions");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_decisions_route_and_fanout);
	tcase_add_test(tc, test_decisions_set_and_emit);
	tcase_add_test(tc, test_decisions_errors);
	tcase_add_test(tc, test_rule_cost);
	tcase_add_test(tc, test_dispatch_builds_agree);
	tcase_add_test(tc, test_opt_levels_agree);
	tcase_add_test(tc, test_no_alloc_per_event);
	tcase_add_test(tc, test_explain);
	tcase_add_test(tc, test_explain_is_side_effect_free);
	tcase_add_test(tc, test_lifetimes);
	tcase_add_test(tc, test_hostile_unwritten_registers);
	tcase_add_test(tc, test_state_tables);
	tcase_add_test(tc, test_state_temporal);
	tcase_add_test(tc, test_state_pushback_keys);
	tcase_add_test(tc, test_state_snapshot_restore);
	tcase_add_test(tc, test_state_carry_over);
	tcase_add_test(tc, test_regex_first_use_threads);
	suite_add_tcase(s, tc);
	tcase_add_test(kb, test_bug_null_ne);
	tcase_add_test(kb, test_bug_arith_aliasing);
	tcase_add_test(kb, test_bug_len_array_of_objects);
	tcase_add_test(kb, test_bug_emit_version);
	tcase_add_test(kb, test_bug_scratch_per_rule);
	tcase_add_test(kb, test_bug_explain_states);
	suite_add_tcase(s, kb);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(vm_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
