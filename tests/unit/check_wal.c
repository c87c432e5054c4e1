/*
 * check_wal.c -- tests of the durable log (service/wal.[ch]) and its
 * checksum (service/crc32c.[ch]): CRC-32C vectors (hardware and table),
 * round trip, group commit under 8 threads, rolling and trimming past
 * cursors, crash simulation (a child appending in a loop, SIGKILLed at random
 * moments, 12 times with `always` and 4 with `none`), torn tails, bit flips and truncation in a middle and in
 * the last segment, and disk full (a 1 MiB tmpfs when mount(2) is allowed --
 * skipped, saying so, otherwise -- and RLIMIT_FSIZE always).
 *
 * Files go to a fresh directory under $TMPDIR (default /tmp), removed at the end.
 */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "crc32c.h"
#include "wal.h"

#include "tmpdir.h"
static int ndirs;

/* A fresh directory path under tmpdir (static storage, one per call). */
static const char *
fresh_dir(char *out, size_t n)
{
	snprintf(out, n, "%s/w%d-%d", tmpdir, (int)getpid(), ++ndirs); /* Check forks per test */
	return out;
}

static struct rd_wal *
open_or_die(const char *dir, const struct rd_wal_opts *o)
{
	char err[256] = "";
	struct rd_wal *w = rd_wal_open(dir, o, err, sizeof err);
	ck_assert_msg(w != NULL, "rd_wal_open: %s", err);
	return w;
}

/* Counts records from seq from; checks their order; sets first and last (either may be NULL). */
static uint64_t
count_records(struct rd_wal *w, uint64_t from, uint64_t *first, uint64_t *last)
{
	struct rd_wal_iter *it = rd_wal_iter_open(w, from);
	ck_assert_ptr_nonnull(it);
	uint64_t n = 0, prev = 0, s;
	const void *b;
	size_t len;
	int r;
	while ((r = rd_wal_iter_next(it, &s, &b, &len)) == 1) {
		ck_assert_uint_gt(s, prev);
		if (n == 0 && first)
			*first = s;
		prev = s;
		n++;
	}
	ck_assert_int_eq(r, 0);
	if (last)
		*last = prev;
	rd_wal_iter_free(it);
	return n;
}

static size_t
count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ---- CRC-32C ------------------------------------------------------------ */

static void
crc_vectors(uint32_t (*f)(uint32_t, const void *, size_t))
{
	unsigned char b[32];
	ck_assert_uint_eq(f(0, "123456789", 9), 0xE3069283u);
	memset(b, 0, sizeof b);
	ck_assert_uint_eq(f(0, b, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
	memset(b, 0xff, sizeof b);
	ck_assert_uint_eq(f(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	ck_assert_uint_eq(f(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	ck_assert_uint_eq(f(0, b, 32), 0x113FDB5Cu);
	ck_assert_uint_eq(f(f(0, "1234", 4), "56789", 5), 0xE3069283u);
}

START_TEST(test_crc32c_table)
{
	crc_vectors(rd_crc32c_sw);
}
END_TEST

START_TEST(test_crc32c_sse42)
{
	if (!rd_crc32c_hw_available()) {
		fprintf(stderr, "check_wal: no SSE4.2 on this CPU: hardware CRC-32C not tested\n");
		return;
	}
	crc_vectors(rd_crc32c_hw);
	unsigned char buf[1100];
	unsigned seed = 7;
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)rand_r(&seed);
	/* every alignment and length around the 8-byte steps */
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof buf; len += 37)
			ck_assert_uint_eq(rd_crc32c_hw(5, buf + off, len), rd_crc32c_sw(5, buf + off, len));
}
END_TEST

/* ---- round trip ---------------------------------------------------------- */

START_TEST(test_round_trip)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	struct rd_wal *w = open_or_die(dir, NULL);
	char rec[3000];
	for (int i = 1; i <= 100; i++) {
		int n = snprintf(rec, sizeof rec, "record %d ", i);
		memset(rec + n, 'a' + i % 26, (size_t)(i * 29 % 2900));
		uint64_t s = 0;
		ck_assert_int_eq(rd_wal_append(w, rec, (size_t)n + (size_t)(i * 29 % 2900), &s), 0);
		ck_assert_uint_eq(s, (uint64_t)i);
	}
	errno = 0;
	ck_assert_int_eq(rd_wal_append(w, rec, 0, NULL), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	rd_wal_close(w);

	w = open_or_die(dir, NULL);
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.records_recovered, 100);
	ck_assert_uint_eq(st.torn_tails + st.quarantined, 0);
	ck_assert_uint_eq(rd_wal_next_seq(w), 101);
	struct rd_wal_iter *it = rd_wal_iter_open(w, 1);
	uint64_t s;
	const void *b;
	size_t len;
	for (int i = 1; i <= 100; i++) {
		ck_assert_int_eq(rd_wal_iter_next(it, &s, &b, &len), 1);
		ck_assert_uint_eq(s, (uint64_t)i);
		int n = snprintf(rec, sizeof rec, "record %d ", i);
		memset(rec + n, 'a' + i % 26, (size_t)(i * 29 % 2900));
		ck_assert_uint_eq(len, (size_t)n + (size_t)(i * 29 % 2900));
		ck_assert(memcmp(b, rec, len) == 0);
	}
	ck_assert_int_eq(rd_wal_iter_next(it, &s, &b, &len), 0);
	/* the iterator sees later appends */
	ck_assert_int_eq(rd_wal_append(w, "late", 4, &s), 0);
	ck_assert_int_eq(rd_wal_iter_next(it, &s, &b, &len), 1);
	ck_assert_uint_eq(s, 101);
	ck_assert(len == 4 && memcmp(b, "late", 4) == 0);
	rd_wal_iter_free(it);
	ck_assert_uint_eq(count_records(w, 50, NULL, NULL), 52);
	/* one process per directory */
	char err[256];
	ck_assert_ptr_null(rd_wal_open(dir, NULL, err, sizeof err));
	rd_wal_close(w);
}
END_TEST

/* Many records in one call: consecutive seqs, one outcome, all read back. */
START_TEST(test_append_many)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	struct rd_wal *w = open_or_die(dir, NULL);
	struct rd_wal_rec r[100];
	char txt[100][16];
	uint64_t first;
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 100; i++) {
			r[i].len = (size_t)snprintf(txt[i], sizeof txt[i], "b%d-%d", k, i);
			r[i].buf = txt[i];
		}
		ck_assert_int_eq(rd_wal_append_many(w, r, 100, &first), 0);
		ck_assert_uint_eq(first, (uint64_t)k * 100 + 1);
	}
	r[50].len = 0;
	ck_assert_int_eq(rd_wal_append_many(w, r, 100, &first), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_uint_eq(rd_wal_next_seq(w), 301); /* nothing of the refused call was queued */
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.appends, 300);
	ck_assert_uint_le(st.batches, 3);
	rd_wal_close(w);
	w = open_or_die(dir, NULL);
	struct rd_wal_iter *it = rd_wal_iter_open(w, 150);
	uint64_t s;
	const void *b;
	size_t len;
	ck_assert_int_eq(rd_wal_iter_next(it, &s, &b, &len), 1);
	ck_assert_uint_eq(s, 150);
	ck_assert(len == 5 && memcmp(b, "b1-49", 5) == 0);
	rd_wal_iter_free(it);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), 300);
	rd_wal_close(w);
}
END_TEST

/* rd_wal_append_async: a waiter per call, called once, in seq order, after its batch. */
struct async_rec {
	struct rd_wal_waiter wt;
	uint64_t first, last;
	int calls;
	int order;               /* the how-many-th waiter called */
};
static int async_called;

static void
async_ready(void *arg)
{
	struct async_rec *a = arg;
	a->calls++;
	a->order = __atomic_fetch_add(&async_called, 1, __ATOMIC_SEQ_CST);
}

START_TEST(test_append_async)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.sync = RD_WAL_SYNC_BATCH; /* a sync every 50 ms: the 20 calls share a few batches */
	o.batch_ms = 50;
	struct rd_wal *w = open_or_die(dir, &o);
	struct async_rec a[20];
	struct rd_wal_rec r[3];
	char txt[3][16];
	async_called = 0;
	memset(a, 0, sizeof a);
	for (int k = 0; k < 20; k++) {
		for (int i = 0; i < 3; i++) {
			r[i].len = (size_t)snprintf(txt[i], sizeof txt[i], "a%d-%d", k, i);
			r[i].buf = txt[i];
		}
		a[k].wt.fn = async_ready;
		a[k].wt.arg = &a[k];
		ck_assert_int_eq(rd_wal_append_async(w, r, 3, &a[k].first, &a[k].last, &a[k].wt), 0);
		ck_assert_uint_eq(a[k].first, (uint64_t)k * 3 + 1);
		ck_assert_uint_eq(a[k].last, a[k].first + 2);
	}
	/* the caller never waited; the syncer calls every waiter (5 s at most) */
	for (int i = 0; i < 500 && __atomic_load_n(&async_called, __ATOMIC_SEQ_CST) < 20; i++)
		usleep(10000);
	ck_assert_int_eq(__atomic_load_n(&async_called, __ATOMIC_SEQ_CST), 20);
	for (int k = 0; k < 20; k++) {
		ck_assert_int_eq(a[k].calls, 1);
		ck_assert_int_eq(a[k].order, k);
		ck_assert_int_eq(rd_wal_outcome(w, a[k].first, a[k].last), 0);
	}
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.appends, 60);
	ck_assert_uint_lt(st.batches, 20);
	rd_wal_close(w);
	w = open_or_die(dir, NULL);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), 60);
	rd_wal_close(w);
}
END_TEST

/* The other policies keep the same records (their crash promises differ; docs/durability.md). */
START_TEST(test_policies)
{
	enum rd_wal_sync pol[] = {RD_WAL_SYNC_BATCH, RD_WAL_SYNC_NONE};
	for (int p = 0; p < 2; p++) {
		char dir[300];
		fresh_dir(dir, sizeof dir);
		struct rd_wal_opts o;
		rd_wal_opts_default(&o);
		o.sync = pol[p];
		o.batch_ms = 2;
		struct rd_wal *w = open_or_die(dir, &o);
		for (int i = 0; i < 50; i++)
			ck_assert_int_eq(rd_wal_append(w, "xyz", 3, NULL), 0);
		struct rd_wal_stats st;
		rd_wal_stats(w, &st);
		if (pol[p] == RD_WAL_SYNC_NONE)
			ck_assert_uint_eq(st.syncs, 0);
		rd_wal_close(w);
		w = open_or_die(dir, &o);
		ck_assert_uint_eq(count_records(w, 1, NULL, NULL), 50);
		rd_wal_close(w);
	}
}
END_TEST

/* ---- group commit ---------------------------------------------------------- */

#define GC_THREADS 8
#define GC_PER 300

struct gc_arg {
	struct rd_wal *w;
	int t;
	uint64_t seqs[GC_PER];
};

static void *
gc_main(void *p)
{
	struct gc_arg *a = p;
	char rec[1024];
	memset(rec, 'r', sizeof rec);
	for (int i = 0; i < GC_PER; i++) {
		snprintf(rec, 32, "t%d-%d", a->t, i);
		if (rd_wal_append(a->w, rec, sizeof rec, &a->seqs[i]) < 0)
			a->seqs[i] = 0;
	}
	return NULL;
}

/* 10 appends per thread, for the batch-policy test. */
static void *
gc_batch_main(void *p)
{
	struct gc_arg *a = p;
	for (int i = 0; i < 10; i++)
		if (rd_wal_append(a->w, "paced", 5, &a->seqs[i]) < 0)
			a->seqs[i] = 0;
	return NULL;
}

START_TEST(test_group_commit)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	struct rd_wal *w = open_or_die(dir, NULL);
	static struct gc_arg args[GC_THREADS];
	pthread_t th[GC_THREADS];
	for (int t = 0; t < GC_THREADS; t++) {
		args[t].w = w;
		args[t].t = t;
		ck_assert_int_eq(pthread_create(&th[t], NULL, gc_main, &args[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		pthread_join(th[t], NULL);
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	fprintf(stderr, "check_wal: group commit: %" PRIu64 " appends, %" PRIu64 " batches, %" PRIu64
		" fdatasync\n", st.appends, st.batches, st.syncs);
	ck_assert_uint_eq(st.appends, GC_THREADS * GC_PER);
	ck_assert_uint_lt(st.syncs, st.appends);
	/* every sequence distinct, each thread's in increasing order */
	static unsigned char seen[GC_THREADS * GC_PER + 1];
	memset(seen, 0, sizeof seen);
	for (int t = 0; t < GC_THREADS; t++)
		for (int i = 0; i < GC_PER; i++) {
			uint64_t s = args[t].seqs[i];
			ck_assert(s >= 1 && s <= GC_THREADS * GC_PER && !seen[s]);
			seen[s] = 1;
			if (i)
				ck_assert_uint_gt(s, args[t].seqs[i - 1]);
		}
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), GC_THREADS * GC_PER);
	rd_wal_close(w);
}
END_TEST

/* RD_WAL_SYNC_BATCH: at most one fdatasync per batch_ms, appenders still answered after it. */
START_TEST(test_batch_pacing)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.sync = RD_WAL_SYNC_BATCH;
	o.batch_ms = 20;
	struct rd_wal *w = open_or_die(dir, &o);
	static struct gc_arg args[GC_THREADS];
	pthread_t th[GC_THREADS];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int t = 0; t < GC_THREADS; t++) {
		args[t].w = w;
		args[t].t = t;
		ck_assert_int_eq(pthread_create(&th[t], NULL, gc_batch_main, &args[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		pthread_join(th[t], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	fprintf(stderr, "check_wal: batch 20 ms: %" PRIu64 " appends, %" PRIu64 " fdatasync in %.0f ms\n",
		st.appends, st.syncs, ms);
	ck_assert_uint_eq(st.appends, GC_THREADS * 10);
	ck_assert_uint_le(st.syncs, (uint64_t)(ms / 20) + 1);
	rd_wal_close(w);
}
END_TEST

/* ---- segments and cursors -------------------------------------------------- */

START_TEST(test_roll_and_trim)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.segment_bytes = 4096;
	struct rd_wal *w = open_or_die(dir, &o);
	char rec[100];
	memset(rec, 'x', sizeof rec);
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(rd_wal_append(w, rec, sizeof rec, NULL), 0);
	size_t nseg = count_files(dir, ".log");
	ck_assert_uint_ge(nseg, 5); /* 200 * 116 bytes / 4096 */
	ck_assert_int_eq(rd_wal_trim(w), 0); /* no cursor: keep everything */
	errno = 0;
	ck_assert_int_eq(rd_wal_cursor_set(w, "../x", 5), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(rd_wal_cursor_set(w, "a", 150), 0);
	ck_assert_int_eq(rd_wal_cursor_set(w, "b", 80), 0);
	ck_assert_int_eq(rd_wal_cursor_set(w, "b", 10), 0); /* never backwards */
	uint64_t c;
	ck_assert_int_eq(rd_wal_cursor_get(w, "b", &c), 0);
	ck_assert_uint_eq(c, 80);
	int del = rd_wal_trim(w);
	ck_assert_int_gt(del, 0);
	ck_assert_uint_eq(count_files(dir, ".log"), nseg - (size_t)del);
	/* what b still needs is all there */
	uint64_t first, last;
	struct rd_wal_iter *it = rd_wal_iter_open_cursor(w, "b");
	uint64_t s;
	const void *b;
	size_t len;
	ck_assert_int_eq(rd_wal_iter_next(it, &s, &b, &len), 1);
	ck_assert_uint_eq(s, 80);
	rd_wal_iter_free(it);
	ck_assert_uint_le(count_records(w, 1, &first, &last), 200);
	ck_assert_uint_le(first, 80);
	ck_assert_uint_eq(last, 200);
	rd_wal_close(w);

	/* cursors survive a reopen; past the end, only the active segment stays */
	w = open_or_die(dir, &o);
	ck_assert_int_eq(rd_wal_cursor_get(w, "a", &c), 0);
	ck_assert_uint_eq(c, 150);
	ck_assert_int_eq(rd_wal_cursor_get(w, "zz", &c), -1);
	ck_assert_int_eq(rd_wal_cursor_set(w, "a", 201), 0);
	ck_assert_int_eq(rd_wal_cursor_set(w, "b", 201), 0);
	ck_assert_int_ge(rd_wal_trim(w), 1);
	ck_assert_uint_eq(count_files(dir, ".log"), 1);
	ck_assert_int_eq(rd_wal_cursor_del(w, "b"), 0);
	ck_assert_int_eq(rd_wal_cursor_get(w, "b", &c), -1);
	rd_wal_close(w);
}
END_TEST

/* Writes text to dir/name (a helper for laying out an older or damaged log). */
static void
put_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* dir/name's content into out (NUL-terminated), or "" when it cannot be read. */
static const char *
get_file(const char *dir, const char *name, char *out, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	size_t r = f ? fread(out, 1, n - 1, f) : 0;
	out[r] = '\0';
	if (f)
		fclose(f);
	return out;
}

static uint64_t
cursor_or_0(struct rd_wal *w, const char *name)
{
	uint64_t c = 0;
	return rd_wal_cursor_get(w, name, &c) == 0 ? c : 0;
}

START_TEST(test_cursors_file)
{
	char dir[300], sub[340], txt[512];
	struct rd_wal_opts o;
	struct rd_wal_stats st;
	rd_wal_opts_default(&o);

	/* a log of the older layout: one file per cursor */
	fresh_dir(dir, sizeof dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(sub, sizeof sub, "%s/cursors", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	put_file(sub, "dest.old", "55\n");
	put_file(sub, "dest.gone", "7\n");
	put_file(sub, "dest.x", "9\n");
	put_file(dir, "cursors.txt", "dest.x 5\ndest.y 12\nend 2\n");
	put_file(dir, "cursors.txt.tmp", "half a wri");
	struct rd_wal *w = open_or_die(dir, &o);
	ck_assert_uint_eq(cursor_or_0(w, "dest.old"), 55);
	ck_assert_uint_eq(cursor_or_0(w, "dest.gone"), 7);
	ck_assert_uint_eq(cursor_or_0(w, "dest.x"), 9);  /* the higher of the two places */
	ck_assert_uint_eq(cursor_or_0(w, "dest.y"), 12);
	ck_assert_uint_eq(count_files(dir, ".tmp"), 0);  /* a crash's leftover is removed */

	/* several cursors in one store: one file, the old files gone */
	const char *names[] = { "dest.a", "dest.old", "dest.a", "dest.y", "dest.b" };
	uint64_t seqs[] = { 30, 60, 40, 3, 20 };
	rd_wal_stats(w, &st);
	uint64_t stores = st.cursor_stores;
	ck_assert_int_eq(rd_wal_cursors_set(w, names, seqs, 5), 0);
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.cursor_stores, stores + 1);
	ck_assert_uint_eq(cursor_or_0(w, "dest.a"), 40);   /* a name twice: the higher */
	ck_assert_uint_eq(cursor_or_0(w, "dest.old"), 60);
	ck_assert_uint_eq(cursor_or_0(w, "dest.y"), 12);   /* never backwards */
	ck_assert_uint_eq(cursor_or_0(w, "dest.b"), 20);
	ck_assert_uint_eq(count_files(sub, "old") + count_files(sub, "gone") + count_files(sub, "x"), 0);
	get_file(dir, "cursors.txt", txt, sizeof txt);
	ck_assert_msg(strstr(txt, "dest.a 40\n") && strstr(txt, "dest.gone 7\n") && strstr(txt, "dest.x 9\n")
		&& strstr(txt, "dest.y 12\n") && strstr(txt, "dest.b 20\n") && strstr(txt, "\nend 6\n"),
		"cursors.txt: %s", txt);
	/* nothing moves forward: no store at all */
	ck_assert_int_eq(rd_wal_cursors_set(w, names, seqs, 5), 0);
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.cursor_stores, stores + 1);
	errno = 0;
	names[4] = "bad/name";
	ck_assert_int_eq(rd_wal_cursors_set(w, names, seqs, 5), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(rd_wal_cursor_del(w, "dest.gone"), 0);
	ck_assert_int_eq(rd_wal_cursor_set(w, "dest.b", 21), 0);
	rd_wal_close(w);

	/* all of it survives a reopen */
	w = open_or_die(dir, &o);
	ck_assert_uint_eq(cursor_or_0(w, "dest.a"), 40);
	ck_assert_uint_eq(cursor_or_0(w, "dest.b"), 21);
	ck_assert_uint_eq(cursor_or_0(w, "dest.x"), 9);
	ck_assert_int_eq(rd_wal_cursor_get(w, "dest.gone", &stores), -1);
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.cursor_files_damaged, 0);
	rd_wal_close(w);

	/* a file without its end line is not used (and counted) */
	get_file(dir, "cursors.txt", txt, sizeof txt);
	*strstr(txt, "end ") = '\0';
	put_file(dir, "cursors.txt", txt);
	w = open_or_die(dir, &o);
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.cursor_files_damaged, 1);
	ck_assert_int_eq(rd_wal_cursor_get(w, "dest.a", &stores), -1);
	rd_wal_close(w);
}
END_TEST

/* ---- crash simulation ------------------------------------------------------ */

#define CRASH_ROUNDS 16 /* the first 12 with `always`, the last 4 with `none` (same promise for a process crash) */
#define CRASH_THREADS 4

struct crash_arg {
	struct rd_wal *w;
	int fd, t, round;
};

/* Child thread: append forever; after each acknowledgement print "SEQ\n" (atomic pipe write). */
static void *
crash_main(void *p)
{
	struct crash_arg *a = p;
	char rec[600];
	memset(rec, 'c', sizeof rec);
	for (unsigned i = 0;; i++) {
		int n = snprintf(rec, 64, "r%d-t%d-%u", a->round, a->t, i);
		rec[n] = ' ';
		uint64_t s;
		if (rd_wal_append(a->w, rec, 64 + (i % 500), &s) == 0) {
			char line[32];
			int l = snprintf(line, sizeof line, "%" PRIu64 "\n", s);
			if (write(a->fd, line, (size_t)l) != l)
				_exit(3);
		}
	}
	return NULL;
}

START_TEST(test_crash_sigkill)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.segment_bytes = 64 * 1024; /* rolls during the run */
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	uint64_t total_acked = 0, total_lost = 0, total_dup = 0;
	for (int round = 0; round < CRASH_ROUNDS; round++) {
		o.sync = round < 12 ? RD_WAL_SYNC_ALWAYS : RD_WAL_SYNC_NONE;
		int pfd[2];
		ck_assert_int_eq(pipe(pfd), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(pfd[0]);
			char err[256];
			struct rd_wal *w = rd_wal_open(dir, &o, err, sizeof err);
			if (!w)
				_exit(2);
			static struct crash_arg args[CRASH_THREADS];
			pthread_t th[CRASH_THREADS];
			for (int t = 0; t < CRASH_THREADS; t++) {
				args[t] = (struct crash_arg){w, pfd[1], t, round};
				pthread_create(&th[t], NULL, crash_main, &args[t]);
			}
			for (;;)
				pause();
		}
		close(pfd[1]);
		/* read acknowledgements for 20..220 ms, then SIGKILL */
		size_t cap = 1 << 20, got = 0;
		char *out = malloc(cap);
		ck_assert_ptr_nonnull(out);
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		long ms = 20 + rand_r(&seed) % 200;
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
			if (el >= ms)
				break;
			struct pollfd pf = {pfd[0], POLLIN, 0};
			if (poll(&pf, 1, (int)(ms - el)) > 0 && got < cap) {
				ssize_t r = read(pfd[0], out + got, cap - got);
				if (r > 0)
					got += (size_t)r;
			}
		}
		kill(pid, SIGKILL);
		for (;;) { /* drain what was written before the kill (EOF when the child is gone) */
			if (got == cap) {
				cap *= 2;
				out = realloc(out, cap);
				ck_assert_ptr_nonnull(out);
			}
			ssize_t r = read(pfd[0], out + got, cap - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(pfd[0]);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			"child exited by itself (status %d)", status);

		/* reopen: every acknowledged sequence must be there, once */
		struct rd_wal *w = open_or_die(dir, &o);
		uint64_t top = rd_wal_next_seq(w);
		unsigned char *present = calloc(top + 1, 1);
		ck_assert_ptr_nonnull(present);
		struct rd_wal_iter *it = rd_wal_iter_open(w, 1);
		uint64_t s, npresent = 0, dup = 0;
		const void *b;
		size_t len;
		while (rd_wal_iter_next(it, &s, &b, &len) == 1) {
			ck_assert_uint_lt(s, top);
			if (present[s])
				dup++;
			present[s] = 1;
			npresent++;
		}
		rd_wal_iter_free(it);
		uint64_t acked = 0, lost = 0;
		for (char *p = out; p < out + got;) {
			char *nl = memchr(p, '\n', (size_t)(out + got - p));
			if (!nl)
				break;
			uint64_t a = strtoull(p, NULL, 10);
			acked++;
			if (a >= top || !present[a])
				lost++;
			p = nl + 1;
		}
		struct rd_wal_stats st;
		rd_wal_stats(w, &st);
		fprintf(stderr, "check_wal: crash %2d (%s) after %3ld ms: acknowledged %" PRIu64 ", present %" PRIu64
			", lost %" PRIu64 ", duplicated %" PRIu64 ", torn tails %" PRIu64 ", quarantined %" PRIu64 "\n",
			round + 1, round < 12 ? "always" : "none", ms, acked, npresent, lost, dup, st.torn_tails, st.quarantined);
		total_acked += acked;
		total_lost += lost;
		total_dup += dup;
		ck_assert_uint_eq(st.quarantined, 0); /* a process crash tears tails, never middles */
		free(present);
		free(out);
		rd_wal_close(w);
	}
	fprintf(stderr, "check_wal: crash total: acknowledged %" PRIu64 ", lost %" PRIu64 ", duplicated %" PRIu64 "\n",
		total_acked, total_lost, total_dup);
	ck_assert_uint_gt(total_acked, 0);
	ck_assert_uint_eq(total_lost, 0);
	ck_assert_uint_eq(total_dup, 0);
}
END_TEST

/* ---- torn tails and corruption ------------------------------------------------ */

/* The segment files of dir, sorted, into names[] (at most max); returns how many. */
static int
list_segments(const char *dir, char names[][32], int max)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) && n < max)
		if (strlen(de->d_name) == 24 && strstr(de->d_name, ".log"))
			snprintf(names[n++], 32, "%.31s", de->d_name); /* 24 bytes checked above */
	closedir(d);
	qsort(names, (size_t)n, 32, (int (*)(const void *, const void *))strcmp);
	return n;
}

static void
flip_bit(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static off_t
file_size(const char *path)
{
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	return sb.st_size;
}

START_TEST(test_torn_tail)
{
	char dir[300], path[400];
	fresh_dir(dir, sizeof dir);
	struct rd_wal *w = open_or_die(dir, NULL);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(rd_wal_append(w, "0123456789", 10, NULL), 0);
	rd_wal_close(w);
	snprintf(path, sizeof path, "%s/%020d.log", dir, 1);
	off_t size = file_size(path);
	/* a torn 11th record: its header and half of its payload */
	unsigned char hdr[16 + 5] = {100, 0, 0, 0, 1, 2, 3, 4, 11, 0, 0, 0, 0, 0, 0, 0, 'h', 'a', 'l', 'f', '!'};
	int fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
	close(fd);
	w = open_or_die(dir, NULL);
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.torn_tails, 1);
	ck_assert_uint_eq(st.torn_bytes, sizeof hdr);
	ck_assert_uint_eq(st.quarantined, 0);
	ck_assert_int_eq(file_size(path), size);
	uint64_t s;
	ck_assert_int_eq(rd_wal_append(w, "eleven", 6, &s), 0);
	ck_assert_uint_eq(s, 11);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), 11);
	rd_wal_close(w);
	/* zeros after the last record (blocks allocated, never written) are a torn tail */
	fd = open(path, O_WRONLY | O_APPEND);
	char zeros[5000] = {0};
	ck_assert_int_eq(write(fd, zeros, sizeof zeros), (ssize_t)sizeof zeros);
	close(fd);
	w = open_or_die(dir, NULL);
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.torn_tails, 1);
	ck_assert_uint_eq(st.quarantined, 0);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), 11);
	rd_wal_close(w);
	/* a header cut short (7 bytes) is torn too */
	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, hdr, 7), 7);
	close(fd);
	w = open_or_die(dir, NULL);
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.torn_tails, 1);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), 11);
	rd_wal_close(w);
}
END_TEST

/*
 * Five segments of 20 records of 200 bytes (216-byte frames). Damage: a bit
 * flipped in record 5's payload of segment 2 (middle), a bit flipped in the
 * length of record 10 of the last segment, the last 50 bytes cut off segment
 * 3 (a sealed segment: quarantined, not truncated), and the last 30 bytes
 * cut off the last segment (a torn tail). Every other record is read back.
 */
START_TEST(test_corruption)
{
	char dir[300], path[400], names[16][32];
	fresh_dir(dir, sizeof dir);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.segment_bytes = 20 * 216;
	struct rd_wal *w = open_or_die(dir, &o);
	char rec[200];
	for (int i = 1; i <= 100; i++) {
		memset(rec, 'a' + i % 26, sizeof rec);
		snprintf(rec, 16, "rec%d", i);
		ck_assert_int_eq(rd_wal_append(w, rec, sizeof rec, NULL), 0);
	}
	rd_wal_close(w);
	ck_assert_int_eq(list_segments(dir, names, 16), 5);
	snprintf(path, sizeof path, "%s/%s", dir, names[1]);
	flip_bit(path, 4 * 216 + 16 + 100);            /* seq 25's payload */
	snprintf(path, sizeof path, "%s/%s", dir, names[2]);
	ck_assert_int_eq(truncate(path, file_size(path) - 50), 0); /* seq 60 cut */
	snprintf(path, sizeof path, "%s/%s", dir, names[4]);
	flip_bit(path, 9 * 216 + 1);                   /* seq 90's length */
	ck_assert_int_eq(truncate(path, file_size(path) - 30), 0); /* seq 100 torn */

	w = open_or_die(dir, &o);
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	fprintf(stderr, "check_wal: corruption: recovered %" PRIu64 ", quarantined %" PRIu64 " (%" PRIu64
		" bytes), torn %" PRIu64 "\n", st.records_recovered, st.quarantined, st.quarantined_bytes, st.torn_tails);
	ck_assert_uint_eq(st.quarantined, 3);
	ck_assert_uint_eq(st.torn_tails, 1);
	ck_assert_uint_eq(st.records_recovered, 96);
	char qdir[400];
	snprintf(qdir, sizeof qdir, "%s/quarantine", dir);
	ck_assert_uint_eq(count_files(qdir, ".bad"), 3);
	/* exactly 25, 60, 90 and 100 are gone; everything else reads back intact */
	struct rd_wal_iter *it = rd_wal_iter_open(w, 1);
	uint64_t s, expect = 1;
	const void *b;
	size_t len;
	while (rd_wal_iter_next(it, &s, &b, &len) == 1) {
		while (expect == 25 || expect == 60 || expect == 90)
			expect++;
		ck_assert_uint_eq(s, expect);
		snprintf(rec, 16, "rec%d", (int)s);
		ck_assert_uint_eq(len, 200);
		ck_assert(memcmp(b, rec, strlen(rec)) == 0);
		expect++;
	}
	ck_assert_uint_eq(expect, 100);
	rd_wal_iter_free(it);
	/* appends go on after the truncated tail */
	ck_assert_int_eq(rd_wal_append(w, rec, sizeof rec, &s), 0);
	ck_assert_uint_eq(s, 100);
	rd_wal_close(w);
	/* a second open finds the same regions and does not duplicate their files */
	w = open_or_die(dir, &o);
	rd_wal_stats(w, &st);
	ck_assert_uint_eq(st.quarantined, 3);
	ck_assert_uint_eq(st.torn_tails, 0);
	ck_assert_uint_eq(count_files(qdir, ".bad"), 3);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), 97);
	rd_wal_close(w);
}
END_TEST

/* Random garbage in a whole middle segment: quarantined quickly (the seq window keeps resync cheap). */
START_TEST(test_garbage_segment)
{
	char dir[300], path[400], names[16][32];
	fresh_dir(dir, sizeof dir);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.segment_bytes = 512 * 1024;
	struct rd_wal *w = open_or_die(dir, &o);
	char rec[4000];
	memset(rec, 'g', sizeof rec);
	for (int i = 0; i < 400; i++)
		ck_assert_int_eq(rd_wal_append(w, rec, sizeof rec, NULL), 0);
	rd_wal_close(w);
	ck_assert_int_ge(list_segments(dir, names, 16), 3);
	snprintf(path, sizeof path, "%s/%s", dir, names[1]);
	off_t size = file_size(path);
	int fd = open(path, O_WRONLY);
	unsigned seed = 11;
	char *junk = malloc((size_t)size);
	ck_assert_ptr_nonnull(junk);
	for (off_t i = 0; i < size; i++)
		junk[i] = (char)rand_r(&seed);
	ck_assert_int_eq(pwrite(fd, junk, (size_t)size, 0), (ssize_t)size);
	close(fd);
	free(junk);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	w = open_or_die(dir, &o);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "check_wal: a %ld-byte segment of garbage: quarantined %" PRIu64 " region(s), %" PRIu64
		" records recovered, open took %.0f ms\n", (long)size, st.quarantined, st.records_recovered, ms);
	ck_assert_uint_eq(st.quarantined, 1);
	ck_assert_uint_eq(st.quarantined_bytes, (uint64_t)size);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), st.records_recovered);
	rd_wal_close(w);
}
END_TEST

/* ---- disk full --------------------------------------------------------------- */

/*
 * Appends 1 KiB records until the filesystem (or the file-size limit) says
 * full, checks the error, frees space with free_space(), appends again,
 * reopens and checks that exactly the acknowledged records are there and that
 * no torn or corrupt bytes were left behind.
 */
static void
full_scenario(const char *dir, const struct rd_wal_opts *o, void (*free_space)(void *), void *ud)
{
	struct rd_wal *w = open_or_die(dir, o);
	char rec[1024];
	memset(rec, 'f', sizeof rec);
	uint64_t acked = 0, s;
	int e = 0;
	for (int i = 0; i < 100000; i++) {
		if (rd_wal_append(w, rec, sizeof rec, &s) < 0) {
			e = errno;
			break;
		}
		acked++;
	}
	ck_assert_msg(rd_wal_error_is_full(e), "append failed with %s", strerror(e));
	ck_assert_int_eq(rd_wal_append(w, rec, sizeof rec, &s), -1); /* still full */
	ck_assert(rd_wal_error_is_full(errno));
	free_space(ud);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(rd_wal_append(w, rec, sizeof rec, &s), 0);
		acked++;
	}
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	ck_assert_uint_ge(st.full_errors, 2);
	rd_wal_close(w);
	w = open_or_die(dir, o);
	rd_wal_stats(w, &st);
	fprintf(stderr, "check_wal: disk full: acknowledged %" PRIu64 ", present %" PRIu64 ", torn %" PRIu64
		", quarantined %" PRIu64 "\n", acked, st.records_recovered, st.torn_tails, st.quarantined);
	ck_assert_uint_eq(st.records_recovered, acked);
	ck_assert_uint_eq(st.torn_tails + st.quarantined, 0);
	ck_assert_uint_eq(count_records(w, 1, NULL, NULL), acked);
	rd_wal_close(w);
}

static void
unlink_filler(void *ud)
{
	ck_assert_int_eq(unlink((const char *)ud), 0);
}

static void
raise_fsize(void *ud)
{
	(void)ud;
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Disk full on a real filesystem: a 1 MiB tmpfs (needs mount(2): root); skipped, saying so, without it. */
START_TEST(test_disk_full_tmpfs)
{
	char mnt[300], dir[400], filler[400];
	fresh_dir(mnt, sizeof mnt);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0) {
		fprintf(stderr, "check_wal: disk full on tmpfs NOT tested: mount: %s (the RLIMIT_FSIZE test still runs)\n",
			strerror(errno));
		return;
	}
	fprintf(stderr, "check_wal: disk full: a 1 MiB tmpfs\n");
	snprintf(dir, sizeof dir, "%s/log", mnt);
	snprintf(filler, sizeof filler, "%s/filler", mnt);
	/* 600 KiB of filler, so the log fills the rest, rolling once on the way */
	int fd = open(filler, O_WRONLY | O_CREAT, 0644);
	char blk[4096];
	memset(blk, 'z', sizeof blk);
	for (int i = 0; i < 150; i++)
		ck_assert_int_eq(write(fd, blk, sizeof blk), (ssize_t)sizeof blk);
	close(fd);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.segment_bytes = 256 * 1024;
	full_scenario(dir, &o, unlink_filler, filler);
	umount2(mnt, MNT_DETACH);
}
END_TEST

/* Disk full as a file-size limit (EFBIG, SIGXFSZ ignored): runs everywhere. */
START_TEST(test_disk_full_fsize)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	fprintf(stderr, "check_wal: disk full: RLIMIT_FSIZE of 300 KiB\n");
	signal(SIGXFSZ, SIG_IGN);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.segment_bytes = 1 << 20; /* the limit hits inside one segment */
	struct rlimit rl = {300 * 1024 + 100, RLIM_INFINITY};
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	full_scenario(dir, &o, raise_fsize, NULL);
}
END_TEST

/* Appends until the first error; records the acknowledged seqs and the errno. */
struct full_arg {
	struct rd_wal *w;
	uint64_t acked[4096];
	int n, err;
};

static void *
full_main(void *p)
{
	struct full_arg *a = p;
	char rec[700];
	memset(rec, 'm', sizeof rec);
	while (a->n < 4096) {
		if (rd_wal_append(a->w, rec, sizeof rec, &a->acked[a->n]) < 0) {
			a->err = errno;
			break;
		}
		a->n++;
	}
	return NULL;
}

/* Disk full with 8 appenders at once: batches of many waiters fail together, nothing torn stays. */
START_TEST(test_disk_full_threads)
{
	char dir[300];
	fresh_dir(dir, sizeof dir);
	signal(SIGXFSZ, SIG_IGN);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.segment_bytes = 1 << 20;
	struct rd_wal *w = open_or_die(dir, &o);
	struct rlimit rl = {200 * 1024 + 33, RLIM_INFINITY};
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	static struct full_arg args[GC_THREADS];
	pthread_t th[GC_THREADS];
	for (int t = 0; t < GC_THREADS; t++) {
		args[t].w = w;
		ck_assert_int_eq(pthread_create(&th[t], NULL, full_main, &args[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		pthread_join(th[t], NULL);
	int total = 0;
	for (int t = 0; t < GC_THREADS; t++) {
		ck_assert_msg(rd_wal_error_is_full(args[t].err), "thread %d: %s", t, strerror(args[t].err));
		total += args[t].n;
	}
	raise_fsize(NULL);
	char rec[700];
	memset(rec, 'n', sizeof rec);
	uint64_t more[10];
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(rd_wal_append(w, rec, sizeof rec, &more[i]), 0);
	rd_wal_close(w);
	w = open_or_die(dir, &o);
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	fprintf(stderr, "check_wal: disk full, 8 threads: acknowledged %d, present %" PRIu64 ", torn %" PRIu64
		", quarantined %" PRIu64 "\n", total + 10, st.records_recovered, st.torn_tails, st.quarantined);
	ck_assert_uint_eq(st.records_recovered, (uint64_t)total + 10);
	ck_assert_uint_eq(st.torn_tails + st.quarantined, 0);
	uint64_t top = rd_wal_next_seq(w);
	unsigned char *present = calloc(top, 1);
	ck_assert_ptr_nonnull(present);
	struct rd_wal_iter *it = rd_wal_iter_open(w, 1);
	uint64_t s;
	const void *b;
	size_t len;
	while (rd_wal_iter_next(it, &s, &b, &len) == 1)
		present[s] = 1;
	rd_wal_iter_free(it);
	for (int t = 0; t < GC_THREADS; t++)
		for (int i = 0; i < args[t].n; i++)
			ck_assert(args[t].acked[i] < top && present[args[t].acked[i]]);
	for (int i = 0; i < 10; i++)
		ck_assert(present[more[i]]);
	free(present);
	rd_wal_close(w);
}
END_TEST

static Suite *
wal_suite(void)
{
	Suite *s = suite_create("wal");
	TCase *tc = tcase_create("wal");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_crc32c_table);
	tcase_add_test(tc, test_crc32c_sse42);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_policies);
	tcase_add_test(tc, test_append_many);
	tcase_add_test(tc, test_append_async);
	tcase_add_test(tc, test_group_commit);
	tcase_add_test(tc, test_batch_pacing);
	tcase_add_test(tc, test_roll_and_trim);
	tcase_add_test(tc, test_cursors_file);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_corruption);
	tcase_add_test(tc, test_garbage_segment);
	tcase_add_test(tc, test_disk_full_tmpfs);
	tcase_add_test(tc, test_disk_full_fsize);
	tcase_add_test(tc, test_disk_full_threads);
	tcase_add_test(tc, test_crash_sigkill);
	suite_add_tcase(s, tc);
	return s;
}

/* A failed disk-full test may have left its tmpfs mounted under tmpdir. */
static void
unmount_leftovers(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char p[600];

	while (d && (de = readdir(d))) {
		snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
		if (de->d_name[0] != '.')
			umount2(p, MNT_DETACH);
	}
	if (d)
		closedir(d);
}

int
main(void)
{
	return tmpdir_run("check_wal", wal_suite(), unmount_leftovers);
}
