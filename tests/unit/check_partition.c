/*
 * check_partition.c -- splitting state over threads by key (runtime/partition.c,
 * route_prog_partition, route_classify).
 *
 * Each construct's requirement is checked on a small program, and a model
 * test runs random streams through one matcher with one state and through
 * four matchers with a state each, the events dispatched by route_classify:
 * every decision must be the same.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "route.h"

/* Compiles src and loads it; the caller frees the program. */
static route_prog *
load(const char *src)
{
	struct rc_options o;
	struct route_options ro;
	unsigned char *rbc = NULL;
	size_t len = 0;
	char err[256];
	route_prog *p;

	rc_options_default(&o);
	o.nowarn = 1;
	o.diag = stderr;
	ck_assert_msg(rc_compile_string("t.route", src, strlen(src), &o, &rbc, &len, NULL) == RC_EXIT_OK,
		"compile failed for:\n%s", src);
	memset(&ro, 0, sizeof ro);
	p = route_prog_load(rbc, len, &ro, err, sizeof err);
	ck_assert_msg(p != NULL, "load: %s", err);
	free(rbc);
	return p;
}

static struct route_class
classify(route_prog *p, const char *ev)
{
	route_matcher *m = route_matcher_new(p);
	struct route_class c;

	ck_assert_ptr_nonnull(m);
	route_classify(m, ev, strlen(ev), &c);
	route_matcher_free(m);
	return c;
}

static const char *contracts =
	"event customer.changed v1 { id: string, tier: string }\n"
	"event customer.deleted v1 { id: string }\n"
	"event order.created v1 { order_id: string, customer_id?: string, total: number, ip?: string }\n"
	"event payment.failed v1 { customer_id: string, amount: number }\n"
	"event app.log v1 { service: string, level: string }\n"
	"destination a\ndestination b\ndestination c\n";

static char *
with_contracts(const char *rules)
{
	size_t n = strlen(contracts) + strlen(rules) + 1;
	char *s = malloc(n);

	ck_assert_ptr_nonnull(s);
	snprintf(s, n, "%s%s", contracts, rules);
	return s;
}

START_TEST(test_table_split)
{
	char *src = with_contracts(
		"table tier: string by id from customer.changed set tier delete on customer.deleted\n"
		"rule premium on order.created when tier[customer_id] == \"gold\" route a\n");
	route_prog *p = load(src);
	const char *why = NULL;
	struct route_class u, d, o, o2, l;

	ck_assert_int_eq(route_prog_partition(p, &why), 1);
	ck_assert_str_eq(why, "");
	u = classify(p, "{\"event_type\":\"customer.changed\",\"id\":\"c1\",\"tier\":\"gold\"}");
	d = classify(p, "{\"event_type\":\"customer.deleted\",\"id\":\"c1\"}");
	o = classify(p, "{\"event_type\":\"order.created\",\"order_id\":\"o\",\"customer_id\":\"c1\",\"total\":1}");
	o2 = classify(p, "{\"event_type\":\"order.created\",\"order_id\":\"o\",\"customer_id\":\"c2\",\"total\":1}");
	l = classify(p, "{\"event_type\":\"app.log\",\"service\":\"s\",\"level\":\"x\"}");
	ck_assert_int_eq(u.status, ROUTE_OK);
	ck_assert_int_eq(u.part, ROUTE_PART_KEY);
	ck_assert_int_eq(d.part, ROUTE_PART_KEY);
	ck_assert_int_eq(o.part, ROUTE_PART_KEY);
	ck_assert(u.key == o.key && d.key == o.key);
	ck_assert(o2.key != o.key);
	ck_assert_int_eq(l.part, ROUTE_PART_ANY);
	/* an order without a customer touches no table entry */
	o = classify(p, "{\"event_type\":\"order.created\",\"order_id\":\"o\",\"total\":1}");
	ck_assert_int_eq(o.part, ROUTE_PART_ANY);
	route_prog_free(p);
	free(src);
}
END_TEST

START_TEST(test_window_keys)
{
	char *src = with_contracts(
		"rule r on payment.failed when count() >= 3 by customer_id within 10m route a\n"
		"rule s on app.log when level == \"debug\" throttle 2 per 1s by service route b\n"
		"rule t on order.created dedup by order_id within 1h route c\n");
	route_prog *p = load(src);
	struct route_class x, y, z;

	ck_assert_int_eq(route_prog_partition(p, NULL), 1);
	x = classify(p, "{\"event_type\":\"payment.failed\",\"customer_id\":\"A\",\"amount\":1}");
	y = classify(p, "{\"event_type\":\"payment.failed\",\"customer_id\":\"A\",\"amount\":2}");
	z = classify(p, "{\"event_type\":\"payment.failed\",\"customer_id\":\"B\",\"amount\":1}");
	ck_assert_int_eq(x.part, ROUTE_PART_KEY);
	ck_assert(x.key == y.key && x.key != z.key);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"app.log\",\"service\":\"s\",\"level\":\"debug\"}").part,
		ROUTE_PART_KEY);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"order.created\",\"order_id\":\"o\",\"total\":1}").part,
		ROUTE_PART_KEY);
	route_prog_free(p);
	free(src);
}
END_TEST

/* Numbers that are the same key hash alike (1e2 and 100), whatever their text. */
START_TEST(test_number_keys)
{
	const char *src =
		"event m.x v1 { k: number }\ndestination a\n"
		"rule r on m.x when count() >= 2 by k within 1m route a\n";
	route_prog *p = load(src);
	struct route_class x = classify(p, "{\"event_type\":\"m.x\",\"k\":100}");
	struct route_class y = classify(p, "{\"event_type\":\"m.x\",\"k\":1e2}");
	struct route_class z = classify(p, "{\"event_type\":\"m.x\",\"k\":101}");

	ck_assert_int_eq(x.part, ROUTE_PART_KEY);
	ck_assert(x.key == y.key && x.key != z.key);
	route_prog_free(p);
}
END_TEST

START_TEST(test_global_window_one)
{
	char *src = with_contracts("rule burst on app.log when rate() > 2/s within 2s route a\n");
	route_prog *p = load(src);
	const char *why;

	ck_assert_int_eq(route_prog_partition(p, &why), 0);
	ck_assert_msg(strstr(why, "app.log") && strstr(why, "rule burst") && strstr(why, "without a key"),
		"why: %s", why);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"app.log\",\"service\":\"s\",\"level\":\"x\"}").part,
		ROUTE_PART_ONE);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"payment.failed\",\"customer_id\":\"A\",\"amount\":1}").part,
		ROUTE_PART_ANY);
	route_prog_free(p);
	free(src);
}
END_TEST

/* Two rules keying one type by different fields: the type (and what shares its state) is ONE. */
START_TEST(test_conflict)
{
	char *src = with_contracts(
		"table tier: string by id from customer.changed set tier\n"
		"rule r on order.created when tier[customer_id] == \"gold\" route a\n"
		"rule s on order.created when count() > 5 by ip within 1m route b\n"
		"rule t on payment.failed when count() > 5 by customer_id within 1m route c\n");
	route_prog *p = load(src);
	const char *why;

	ck_assert_int_eq(route_prog_partition(p, &why), 1); /* payment.failed still splits */
	ck_assert_msg(strstr(why, "order.created") && strstr(why, "customer_id") && strstr(why, "ip"),
		"why: %s", why);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"order.created\",\"order_id\":\"o\",\"customer_id\":\"c\","
		"\"ip\":\"1\",\"total\":1}").part, ROUTE_PART_ONE);
	/* the table's updates go where its lookups are */
	ck_assert_int_eq(classify(p, "{\"event_type\":\"customer.changed\",\"id\":\"c\",\"tier\":\"g\"}").part,
		ROUTE_PART_ONE);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"payment.failed\",\"customer_id\":\"A\",\"amount\":1}").part,
		ROUTE_PART_KEY);
	route_prog_free(p);
	free(src);
}
END_TEST

START_TEST(test_computed_key)
{
	char *src = with_contracts(
		"table tier: string by id from customer.changed set tier\n"
		"rule r on order.created when tier[lower(customer_id)] == \"gold\" route a\n");
	route_prog *p = load(src);
	const char *why;

	ck_assert_int_eq(route_prog_partition(p, &why), 0);
	ck_assert_msg(strstr(why, "computed key") != NULL, "why: %s", why);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"customer.changed\",\"id\":\"c\",\"tier\":\"g\"}").part,
		ROUTE_PART_ONE);
	route_prog_free(p);
	free(src);
}
END_TEST

START_TEST(test_set_rewrites_key)
{
	char *src = with_contracts(
		"rule fix on payment.failed when amount < 0 set customer_id = \"unknown\"\n"
		"rule r on payment.failed when count() >= 3 by customer_id within 10m route a\n");
	route_prog *p = load(src);
	const char *why;

	ck_assert_int_eq(route_prog_partition(p, &why), 0);
	ck_assert_msg(strstr(why, "rule fix sets customer_id") != NULL, "why: %s", why);
	route_prog_free(p);
	free(src);
}
END_TEST

START_TEST(test_rejected)
{
	char *src = with_contracts("rule r on payment.failed when count() >= 3 by customer_id within 10m route a\n");
	route_prog *p = load(src);
	struct route_class c = classify(p, "{\"event_type\":\"payment.failed\",");

	ck_assert_int_eq(c.status, ROUTE_REJECTED);
	ck_assert_ptr_nonnull(c.reason);
	c = classify(p, "{\"event_type\":\"nope\"}");
	ck_assert_int_eq(c.status, ROUTE_UNKNOWN_TYPE);
	ck_assert_int_eq(c.part, ROUTE_PART_ANY);
	route_prog_free(p);
	free(src);
}
END_TEST

/* ---- model: split state decides like one state ------------------------------- */

#define NSH 4

static uint64_t rng = 88172645463325252ull;
static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

START_TEST(test_model)
{
	char *src = with_contracts(
		"table tier: string by id from customer.changed set tier delete on customer.deleted\n"
		"rule gold on order.created when tier[customer_id] == \"gold\" route a\n"
		"rule many on order.created when count() >= 3 and sum(total) > 10 by customer_id within 1m\n"
		"  throttle 1 per 30s route b\n"
		"rule fails on payment.failed when tier[customer_id] != \"gold\" and count() >= 2 by customer_id"
		" within 10s route c\n"
		"rule once on payment.failed dedup by customer_id within 5s route a\n"
		"rule logs on app.log when level == \"debug\" throttle 2 per 1s else route c by service route b\n");
	route_prog *p = load(src);
	route_matcher *one = route_matcher_new(p), *sh[NSH];
	route_state *st1 = route_state_new(p), *sts[NSH];
	static const char *tiers[] = { "gold", "silver" };
	char ev[256], got1[256], got2[256];
	unsigned i, j, n = 0;
	int64_t t = 1700000000000;
	unsigned used[NSH] = { 0 };

	ck_assert_int_eq(route_prog_partition(p, NULL), 1);
	route_matcher_set_state(one, st1);
	route_state_set_time(st1, t);
	for (i = 0; i < NSH; i++) {
		sh[i] = route_matcher_new(p);
		sts[i] = route_state_new(p);
		route_matcher_set_state(sh[i], sts[i]);
		route_state_set_time(sts[i], t);
	}
	for (i = 0; i < 20000; i++) {
		struct route_decision d;
		struct route_class c;
		unsigned k = rnd(8), s, adv = rnd(4) == 0 ? rnd(3000) : 0;
		size_t len;

		switch (rnd(5)) {
		case 0:
			snprintf(ev, sizeof ev, "{\"event_type\":\"customer.changed\",\"id\":\"c%u\",\"tier\":\"%s\"}", k,
				tiers[rnd(2)]);
			break;
		case 1:
			snprintf(ev, sizeof ev, rnd(10) ? "{\"event_type\":\"order.created\",\"order_id\":\"o\","
				"\"customer_id\":\"c%u\",\"total\":%u}" : "{\"event_type\":\"customer.deleted\",\"id\":\"c%u\"}",
				k, rnd(10));
			break;
		case 2:
			snprintf(ev, sizeof ev, "{\"event_type\":\"payment.failed\",\"customer_id\":\"c%u\",\"amount\":%u}",
				k, rnd(10));
			break;
		default:
			snprintf(ev, sizeof ev, "{\"event_type\":\"app.log\",\"service\":\"s%u\",\"level\":\"%s\"}", k % 3,
				rnd(3) ? "debug" : "info");
			break;
		}
		if (adv) {
			route_state_advance(st1, adv);
			for (j = 0; j < NSH; j++)
				route_state_advance(sts[j], adv);
		}
		len = strlen(ev);
		route_classify(sh[0], ev, len, &c);
		ck_assert_int_eq(c.status, ROUTE_OK);
		s = c.part == ROUTE_PART_KEY ? (unsigned)(c.key % NSH) : c.part == ROUTE_PART_ONE ? 0 : rnd(NSH);
		used[s]++;
		route_match(one, ev, len, &d);
		got1[0] = 0;
		for (j = 0; j < d.ndests; j++)
			snprintf(got1 + strlen(got1), sizeof got1 - strlen(got1), "%u,", d.dests[j]);
		route_match(sh[s], ev, len, &d);
		got2[0] = 0;
		for (j = 0; j < d.ndests; j++)
			snprintf(got2 + strlen(got2), sizeof got2 - strlen(got2), "%u,", d.dests[j]);
		ck_assert_msg(strcmp(got1, got2) == 0, "event %u %s: one state %s, split %s", i, ev, got1, got2);
		n += d.ndests > 0;
	}
	/* not vacuous: many decisions routed, and every shard got events */
	ck_assert_uint_gt(n, 5000);
	for (i = 0; i < NSH; i++)
		ck_assert_uint_gt(used[i], 1000);
	for (i = 0; i < NSH; i++) {
		route_matcher_free(sh[i]);
		route_state_free(sts[i]);
	}
	route_matcher_free(one);
	route_state_free(st1);
	route_prog_free(p);
	free(src);
}
END_TEST


/* ---- sequences, absences, tumbling windows ------------------------------------ */

static const char *seq_src =
	"event t.created v1 { ticket_id: string, customer_id: string }\n"
	"event t.acked v1 { ticket: string }\n"
	"event o.shipped v1 { order_id: string, n: number }\n"
	"event o.cancelled v1 { oid: string }\n"
	"event sla.breach v1 { ticket_id: string }\n"
	"event o.digest v1 { order_id: string, n: number }\n"
	"destination esc\ndestination returns\n"
	"rule sla on t.created as t unless t.acked where ticket == t.ticket_id within 15m\n"
	"  emit sla.breach { ticket_id: t.ticket_id }\n"
	"rule back on o.shipped as s then o.cancelled as c where c.oid == s.order_id within 1h route returns\n"
	"rule per on o.shipped when count() >= 2 by order_id every 10m emit o.digest { order_id: order_id, n: 1 }\n"
	"rule esc on sla.breach route esc\n";

START_TEST(test_sequence_keys)
{
	route_prog *p = load(seq_src);
	struct route_class a, b;

	ck_assert_int_eq(route_prog_partition(p, NULL), 1);
	a = classify(p, "{\"event_type\":\"t.created\",\"ticket_id\":\"T1\",\"customer_id\":\"c\"}");
	b = classify(p, "{\"event_type\":\"t.acked\",\"ticket\":\"T1\"}");
	ck_assert_int_eq(a.part, ROUTE_PART_KEY);
	ck_assert(a.key == b.key);
	a = classify(p, "{\"event_type\":\"o.shipped\",\"order_id\":\"O1\",\"n\":1}");
	b = classify(p, "{\"event_type\":\"o.cancelled\",\"oid\":\"O1\"}");
	ck_assert_int_eq(a.part, ROUTE_PART_KEY);
	ck_assert(a.key == b.key);
	route_prog_free(p);
}
END_TEST

/* Event time keeps a rule's types on one thread (its lateness is judged over all keys). */
START_TEST(test_event_time_one)
{
	const char *src =
		"event a.x v1 { k: string, ts: time }\ndestination d\n"
		"rule r on a.x when count() >= 2 by k within 1m timestamp ts lateness 10s route d\n";
	route_prog *p = load(src);
	const char *why;

	ck_assert_int_eq(route_prog_partition(p, &why), 0);
	ck_assert_msg(strstr(why, "event time") != NULL, "why: %s", why);
	ck_assert_int_eq(classify(p, "{\"event_type\":\"a.x\",\"k\":\"1\",\"ts\":\"2026-01-01T00:00:00Z\"}").part,
		ROUTE_PART_ONE);
	route_prog_free(p);
}
END_TEST

/* The outputs of one decision as a line: destinations, then emitted events. */
static void
put_decision(char *out, size_t cap, const struct route_decision *d)
{
	uint32_t j;

	for (j = 0; j < d->ndests; j++)
		snprintf(out + strlen(out), cap - strlen(out), "d%u,", d->dests[j]);
	for (j = 0; j < d->nemits; j++)
		snprintf(out + strlen(out), cap - strlen(out), "%.*s,", (int)d->emits[j].len, d->emits[j].json);
	snprintf(out + strlen(out), cap - strlen(out), "\n");
}

static int
cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Ticks m until nothing is due; appends each firing's outputs as a line to lines[*n]. */
static void
tick_all(route_matcher *m, char lines[][256], unsigned *n, unsigned cap)
{
	struct route_decision d;

	while (route_matcher_tick(m, &d) > 0) {
		ck_assert_uint_lt(*n, cap);
		lines[*n][0] = 0;
		put_decision(lines[*n], sizeof lines[*n], &d);
		(*n)++;
	}
}

START_TEST(test_sequence_model)
{
	route_prog *p = load(seq_src);
	route_matcher *one = route_matcher_new(p), *sh[NSH];
	route_state *st1 = route_state_new(p), *sts[NSH];
	static char l1[4096][256], l2[4096][256];
	char *s1[4096], *s2[4096];
	char ev[256], got1[512], got2[512];
	unsigned i, j, n1, n2, fired = 0, routed = 0;
	int64_t t = 1700000000000;

	route_matcher_set_state(one, st1);
	route_state_set_time(st1, t);
	for (i = 0; i < NSH; i++) {
		sh[i] = route_matcher_new(p);
		sts[i] = route_state_new(p);
		route_matcher_set_state(sh[i], sts[i]);
		route_state_set_time(sts[i], t);
	}
	for (i = 0; i < 6000; i++) {
		struct route_decision d;
		struct route_class c;
		unsigned k = rnd(30), s;
		size_t len;

		switch (rnd(4)) {
		case 0:
			snprintf(ev, sizeof ev, "{\"event_type\":\"t.created\",\"ticket_id\":\"T%u\",\"customer_id\":\"c\"}", k);
			break;
		case 1:
			snprintf(ev, sizeof ev, "{\"event_type\":\"t.acked\",\"ticket\":\"T%u\"}", k);
			break;
		case 2:
			snprintf(ev, sizeof ev, "{\"event_type\":\"o.shipped\",\"order_id\":\"O%u\",\"n\":%u}", k, rnd(9));
			break;
		default:
			snprintf(ev, sizeof ev, "{\"event_type\":\"o.cancelled\",\"oid\":\"O%u\"}", k);
			break;
		}
		len = strlen(ev);
		route_classify(sh[0], ev, len, &c);
		ck_assert_int_eq(c.status, ROUTE_OK);
		ck_assert_int_eq(c.part, ROUTE_PART_KEY);
		s = (unsigned)(c.key % NSH);
		got1[0] = got2[0] = 0;
		route_match(one, ev, len, &d);
		put_decision(got1, sizeof got1, &d);
		routed += d.ndests > 0;
		route_match(sh[s], ev, len, &d);
		put_decision(got2, sizeof got2, &d);
		ck_assert_msg(strcmp(got1, got2) == 0, "event %u %s: one state %s, split %s", i, ev, got1, got2);
		if (rnd(8) == 0) { /* time passes: every state fires what is due; the same firings, in any order */
			unsigned adv = 1000 * (1 + rnd(600));

			route_state_advance(st1, adv);
			n1 = n2 = 0;
			tick_all(one, l1, &n1, 4096);
			for (j = 0; j < NSH; j++) {
				route_state_advance(sts[j], adv);
				tick_all(sh[j], l2, &n2, 4096);
			}
			ck_assert_uint_eq(n1, n2);
			for (j = 0; j < n1; j++) {
				s1[j] = l1[j];
				s2[j] = l2[j];
			}
			qsort(s1, n1, sizeof *s1, cmp_lines);
			qsort(s2, n2, sizeof *s2, cmp_lines);
			for (j = 0; j < n1; j++)
				ck_assert_str_eq(s1[j], s2[j]);
			fired += n1;
		}
	}
	ck_assert_uint_gt(fired, 200);  /* absences and tumbling windows fired */
	ck_assert_uint_gt(routed, 100); /* sequences completed */
	for (i = 0; i < NSH; i++) {
		route_matcher_free(sh[i]);
		route_state_free(sts[i]);
	}
	route_matcher_free(one);
	route_state_free(st1);
	route_prog_free(p);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("partition");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_table_split);
	tcase_add_test(tc, test_window_keys);
	tcase_add_test(tc, test_number_keys);
	tcase_add_test(tc, test_global_window_one);
	tcase_add_test(tc, test_conflict);
	tcase_add_test(tc, test_computed_key);
	tcase_add_test(tc, test_set_rewrites_key);
	tcase_add_test(tc, test_rejected);
	tcase_add_test(tc, test_model);
	tcase_add_test(tc, test_sequence_keys);
	tcase_add_test(tc, test_event_time_one);
	tcase_add_test(tc, test_sequence_model);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
