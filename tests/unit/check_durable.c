/*
 * check_durable.c -- unit tests of the durable ingest helpers (issue #7):
 * the LSN multiset whose minimum is every destination's cursor bound
 * (durable.c), and the (source, id) dedup table (dedup.c). The end-to-end
 * behaviour (kill, corrupt, full disk, checkpoints) is tested against real
 * processes by tests/routed/run-durable*.sh.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "durable.h"

/* Removals out of order: the minimum is always the lowest LSN still in. */
START_TEST(test_lsnset_out_of_order)
{
	struct rd_lsnset s;
	uint64_t m;
	int i;

	rd_lsnset_init(&s);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 0);
	for (i = 1; i <= 10; i++)
		ck_assert_int_eq(rd_lsnset_add(&s, (uint64_t)i), 0);
	rd_lsnset_del(&s, 5);
	rd_lsnset_del(&s, 3);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 1);
	rd_lsnset_del(&s, 1);
	rd_lsnset_del(&s, 2);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 4); /* 3 and 5 left earlier; 4 is still in */
	rd_lsnset_del(&s, 4);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 6);
	for (i = 10; i >= 6; i--)
		rd_lsnset_del(&s, (uint64_t)i);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 0);
	rd_lsnset_fini(&s);
}
END_TEST

/* A multiset: an LSN with two messages in flight stays until both are done. */
START_TEST(test_lsnset_multiset)
{
	struct rd_lsnset s;
	uint64_t m;

	rd_lsnset_init(&s);
	rd_lsnset_add(&s, 7);
	rd_lsnset_add(&s, 7);
	rd_lsnset_add(&s, 9);
	rd_lsnset_del(&s, 7);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 7);
	rd_lsnset_del(&s, 7);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 9);
	rd_lsnset_fini(&s);
}
END_TEST

/* A removal of an LSN not in cancels its next add, and never moves the minimum. */
START_TEST(test_lsnset_removal_before_add)
{
	struct rd_lsnset s;
	uint64_t m;

	rd_lsnset_init(&s);
	rd_lsnset_add(&s, 4);
	rd_lsnset_del(&s, 2);              /* 2 is not in: kept */
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 4);
	rd_lsnset_add(&s, 2);              /* cancelled */
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 4);
	rd_lsnset_add(&s, 2);              /* in */
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
	ck_assert_uint_eq(m, 2);
	rd_lsnset_del(&s, 2);
	rd_lsnset_del(&s, 4);
	ck_assert_int_eq(rd_lsnset_min(&s, &m), 0);
	rd_lsnset_fini(&s);
}
END_TEST

/*
 * The pipeline's shape, long enough to slide the array many times (the
 * random test below grows it):
 * LSNs added in runs of up to 100 (a request's records), now and then a run
 * a little out of order (two submitters), and removed mostly oldest first
 * (two shards interleaving), against an oracle.
 */
START_TEST(test_lsnset_window)
{
	enum { N = 200000 };
	static unsigned char in[N + 1];
	struct rd_lsnset s;
	uint64_t next = 1, low = 1, m, inflight[512];
	size_t nin = 0, i;
	int k, j, run;

	memset(in, 0, sizeof in);
	srand(11);
	rd_lsnset_init(&s);
	while (next + 100 < N) {
		run = 1 + rand() % 100;
		if (rand() % 8 == 0 && run > 1) {
			/* two submitters: the later run's LSNs go in first */
			for (k = run - 1; k >= 0; k--)
				ck_assert_int_eq(rd_lsnset_add(&s, next + (uint64_t)k), 0);
		} else {
			for (k = 0; k < run; k++)
				ck_assert_int_eq(rd_lsnset_add(&s, next + (uint64_t)k), 0);
		}
		for (k = 0; k < run; k++) {
			in[next] = 1;
			if (nin < sizeof inflight / sizeof *inflight)
				inflight[nin++] = next;
			next++;
		}
		/* remove about as many, mostly among the oldest */
		for (j = 0; j < run && nin > 0; j++) {
			i = rand() % 4 ? (size_t)(rand() % (nin < 8 ? nin : 8)) : (size_t)(rand() % nin);
			rd_lsnset_del(&s, inflight[i]);
			in[inflight[i]] = 0;
			memmove(inflight + i, inflight + i + 1, (nin - i - 1) * sizeof *inflight);
			nin--;
		}
		while (low < next && !in[low])
			low++;
		if (low == next) {
			ck_assert_int_eq(rd_lsnset_min(&s, &m), 0);
		} else {
			ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
			ck_assert_uint_eq(m, low);
		}
	}
	rd_lsnset_fini(&s);
}
END_TEST

/* Random adds and removals against a brute-force oracle. */
START_TEST(test_lsnset_random)
{
	struct rd_lsnset s;
	enum { N = 5000 };
	static int in[N];
	uint64_t m;
	int i, k, j;

	memset(in, 0, sizeof in);
	srand(7);
	rd_lsnset_init(&s);
	for (k = 0; k < 50000; k++) {
		i = rand() % N;
		if (in[i] && rand() % 2) {
			rd_lsnset_del(&s, (uint64_t)i + 1);
			in[i]--;
		} else if (in[i] < 3) {
			rd_lsnset_add(&s, (uint64_t)i + 1);
			in[i]++;
		}
		for (j = 0; j < N && !in[j]; j++)
			;
		if (j == N) {
			ck_assert_int_eq(rd_lsnset_min(&s, &m), 0);
		} else {
			ck_assert_int_eq(rd_lsnset_min(&s, &m), 1);
			ck_assert_uint_eq(m, (uint64_t)j + 1);
		}
	}
	rd_lsnset_fini(&s);
}
END_TEST

static size_t
key_of(const char *ev, const char *member, char *out)
{
	return rd_dedup_key(ev, strlen(ev), member, out, RD_DEDUP_KEY_MAX);
}

/* Keys: CloudEvents source+id; plain events source (optional) + the configured member. */
START_TEST(test_dedup_keys)
{
	char a[RD_DEDUP_KEY_MAX], b[RD_DEDUP_KEY_MAX];
	size_t na, nb;

	na = key_of("{\"specversion\":\"1.0\",\"source\":\"/a\",\"id\":\"1\",\"type\":\"x\"}", "event_id", a);
	nb = key_of("{\"specversion\":\"1.0\",\"source\":\"/b\",\"id\":\"1\",\"type\":\"x\"}", "event_id", b);
	ck_assert_uint_gt(na, 0);
	ck_assert_uint_gt(nb, 0);
	ck_assert(na != nb || memcmp(a, b, na) != 0); /* same id, other source: another key */
	ck_assert_uint_eq(key_of("{\"event_type\":\"x\",\"id\":\"1\"}", "event_id", a), 0); /* no event_id */
	ck_assert_uint_gt(key_of("{\"event_type\":\"x\",\"event_id\":\"1\"}", "event_id", a), 0);
	/* no id member configured: plain events have no key, CloudEvents still do */
	ck_assert_uint_eq(rd_dedup_key("{\"event_type\":\"x\",\"id\":\"1\"}", 27, NULL, a, sizeof a), 0);
	ck_assert_uint_gt(rd_dedup_key("{\"specversion\":\"1.0\",\"id\":\"1\"}", 30, NULL, a, sizeof a), 0);
	/* the bytes: the source's raw value (or nothing), 0x1f, the id's raw value; the members
	 * in any order, only at the top level */
	na = key_of("{\"id\":\"7\",\"type\":\"x\",\"source\":\"/s\",\"specversion\":\"1.0\"}", "event_id", a);
	ck_assert(na == 8 && memcmp(a, "\"/s\"\x1f\"7\"", 8) == 0);
	na = key_of("{\"event_id\":42,\"id\":\"no\",\"data\":{\"specversion\":\"1.0\"}}", "event_id", a);
	ck_assert(na == 3 && memcmp(a, "\x1f" "42", 3) == 0); /* plain: nested specversion does not count */
	na = key_of("{\"event_type\":\"x\",\"id\":\"5\"}", "id", a);   /* a plain event keyed by "id" */
	ck_assert(na == 4 && memcmp(a, "\x1f\"5\"", 4) == 0);
	ck_assert_uint_eq(key_of("{\"specversion\":\"1.0\",\"event_id\":\"1\"}", "event_id", a), 0); /* CE: no id */
}
END_TEST

START_TEST(test_dedup_reserve_commit_rollback)
{
	struct rd_dedup d;
	struct rd_dedup_req r[3], r2[1];
	uint64_t lsn[3] = { 10, 11, 12 }, o;

	ck_assert_int_eq(rd_dedup_init(&d, 1000, 100), 0);
	memset(r, 0, sizeof r);
	r[0].key = "k1"; r[0].klen = 2;
	r[1].key = "k2"; r[1].klen = 2;
	r[2].key = "k1"; r[2].klen = 2; /* twice in one request: the second is a duplicate */
	ck_assert_uint_eq(rd_dedup_reserve(&d, r, 3, 5000), 1);
	ck_assert_int_eq(r[2].dup, 1);
	/* pending for another request: not answered duplicate (that one may fail) */
	memset(r2, 0, sizeof r2);
	r2[0].key = "k1"; r2[0].klen = 2;
	ck_assert_uint_eq(rd_dedup_reserve(&d, r2, 1, 5000), 0);
	ck_assert_ptr_null(r2[0].ent);
	rd_dedup_commit(&d, r, 3, lsn);
	ck_assert_uint_eq(rd_dedup_reserve(&d, r2, 1, 5001), 1); /* durable now */
	ck_assert_int_eq(rd_dedup_oldest(&d, 5001, &o), 1);
	ck_assert_uint_eq(o, 10);
	/* a rolled-back key is forgotten */
	memset(r2, 0, sizeof r2);
	r2[0].key = "k3"; r2[0].klen = 2;
	ck_assert_uint_eq(rd_dedup_reserve(&d, r2, 1, 5002), 0);
	rd_dedup_rollback(&d, r2, 1);
	ck_assert_uint_eq(rd_dedup_reserve(&d, r2, 1, 5003), 0);
	rd_dedup_rollback(&d, r2, 1);
	/* past the window: forgotten */
	ck_assert_uint_eq(rd_dedup_size(&d), 2);
	ck_assert_int_eq(rd_dedup_oldest(&d, 7000, &o), 0);
	ck_assert_uint_eq(rd_dedup_size(&d), 0);
	rd_dedup_fini(&d);
}
END_TEST

/* Replay inserts rebuild the table; entries outside the window are skipped; max evicts the oldest. */
START_TEST(test_dedup_insert_and_max)
{
	struct rd_dedup d;
	struct rd_dedup_req r[1];
	char k[16];
	int i;

	ck_assert_int_eq(rd_dedup_init(&d, 1000, 50), 0);
	rd_dedup_insert(&d, "old", 3, 1, 100, 5000); /* 4.9 s old, window 1 s: skipped */
	ck_assert_uint_eq(rd_dedup_size(&d), 0);
	for (i = 0; i < 80; i++) {
		snprintf(k, sizeof k, "k%d", i);
		rd_dedup_insert(&d, k, strlen(k), (uint64_t)i + 2, 4900, 5000);
	}
	ck_assert_uint_le(rd_dedup_size(&d), 50);
	memset(r, 0, sizeof r);
	r[0].key = "k79"; r[0].klen = 3;
	ck_assert_uint_eq(rd_dedup_reserve(&d, r, 1, 5000), 1);
	rd_dedup_fini(&d);
}
END_TEST

static Suite *
durable_suite(void)
{
	Suite *s = suite_create("durable");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_lsnset_out_of_order);
	tcase_add_test(tc, test_lsnset_multiset);
	tcase_add_test(tc, test_lsnset_random);
	tcase_add_test(tc, test_lsnset_removal_before_add);
	tcase_add_test(tc, test_lsnset_window);
	tcase_add_test(tc, test_dedup_keys);
	tcase_add_test(tc, test_dedup_reserve_commit_rollback);
	tcase_add_test(tc, test_dedup_insert_and_max);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(durable_suite());
	int nfail;

	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail ? EXIT_FAILURE : EXIT_SUCCESS;
}
