/*
 * check_temporal.c -- unit and property tests of the temporal runtime: the
 * timer wheel (runtime/twheel.c) and the sliding-window aggregates
 * (runtime/window.c). Hand-written with the code they test.
 *
 * The property tests run fixed seeds (so a failure repeats) against
 * brute-force references: a flat list of timers (the next to fire is the
 * minimum (deadline, insertion number) at or before the target time), and a
 * list of every event per key with each aggregate recomputed from scratch
 * after every add, modelling eviction, early drops and expiry exactly. The
 * snapshot tests run the same operations on a structure that is
 * snapshotted and restored now and then, and compare every output.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "alloc.h"
#include "bytecode.h"
#include "driver.h"
#include "route.h"
#include "twheel.h"
#include "window.h"

/* ---- a fixed random stream ------------------------------------------------------ */

static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint64_t
below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static const uint64_t seeds[] = { 1, 2, 3, 42, 1000003, 0xdeadbeef, 77777, 31337 };
#define NSEEDS (sizeof seeds / sizeof seeds[0])

/* ---- timer wheel: unit tests ------------------------------------------------------ */

struct fired {
	uint64_t id[256];
	int64_t at[256];
	unsigned n;
};

static void
record(void *ud, uint64_t id, int64_t deadline)
{
	struct fired *f = ud;

	ck_assert_uint_lt(f->n, 256);
	f->id[f->n] = id;
	f->at[f->n] = deadline;
	f->n++;
}

START_TEST(test_twheel_order_and_next)
{
	struct rv_twheel *w = rv_twheel_new(1000);
	struct fired f = { .n = 0 };

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(rv_twheel_next(w), INT64_MAX);
	rv_twheel_add(w, 1000 + 5000, 3);
	rv_twheel_add(w, 1000 + 70, 2);
	rv_twheel_add(w, 1000 + 3, 1);
	rv_twheel_add(w, 1000 + 70, 4); /* tie with 2: after it */
	ck_assert_uint_eq(rv_twheel_count(w), 4);
	ck_assert_int_eq(rv_twheel_next(w), 1003);
	ck_assert_uint_eq(rv_twheel_advance(w, 1002, record, &f), 0);
	ck_assert_uint_eq(rv_twheel_advance(w, 1003, record, &f), 1);
	ck_assert_int_eq(rv_twheel_next(w), 1070);
	ck_assert_uint_eq(rv_twheel_advance(w, 7000, record, &f), 3);
	ck_assert_uint_eq(f.n, 4);
	ck_assert_uint_eq(f.id[0], 1);
	ck_assert_uint_eq(f.id[1], 2);
	ck_assert_uint_eq(f.id[2], 4);
	ck_assert_uint_eq(f.id[3], 3);
	ck_assert_int_eq(f.at[3], 6000);
	ck_assert_int_eq(rv_twheel_now(w), 7000);
	ck_assert_uint_eq(rv_twheel_count(w), 0);
	ck_assert_int_eq(rv_twheel_next(w), INT64_MAX);
	rv_twheel_free(w);
}
END_TEST

START_TEST(test_twheel_past_deadlines_and_no_going_back)
{
	struct rv_twheel *w = rv_twheel_new(500);
	struct fired f = { .n = 0 };

	rv_twheel_add(w, 400, 1);
	rv_twheel_add(w, 100, 2);
	rv_twheel_add(w, 500, 3);
	rv_twheel_add(w, 100, 4);
	ck_assert_int_eq(rv_twheel_next(w), 100);
	/* a smaller now is ignored, but due timers still fire, by deadline */
	ck_assert_uint_eq(rv_twheel_advance(w, 0, record, &f), 4);
	ck_assert_int_eq(rv_twheel_now(w), 500);
	ck_assert_uint_eq(f.id[0], 2);
	ck_assert_uint_eq(f.id[1], 4);
	ck_assert_uint_eq(f.id[2], 1);
	ck_assert_uint_eq(f.id[3], 3);
	rv_twheel_add(w, 501, 5);
	ck_assert_uint_eq(rv_twheel_advance(w, 400, record, &f), 0);
	ck_assert_uint_eq(rv_twheel_advance(w, 501, record, &f), 1);
	rv_twheel_free(w);
}
END_TEST

START_TEST(test_twheel_cancel_and_stale_handles)
{
	struct rv_twheel *w = rv_twheel_new(0);
	struct fired f = { .n = 0 };
	uint32_t a = rv_twheel_add(w, 10, 1), b = rv_twheel_add(w, 20, 2), c, d;
	unsigned k;

	ck_assert_uint_ne(a, RV_NONE);
	rv_twheel_cancel(w, a);
	rv_twheel_cancel(w, a); /* twice: harmless */
	ck_assert_uint_eq(rv_twheel_count(w), 1);
	ck_assert_int_eq(rv_twheel_next(w), 20);
	/* a's record is reused only after every other free one (FIFO): still stale */
	c = rv_twheel_add(w, 30, 3);
	rv_twheel_cancel(w, a);
	ck_assert_uint_eq(rv_twheel_count(w), 2);
	ck_assert_uint_eq(rv_twheel_advance(w, 25, record, &f), 1);
	rv_twheel_cancel(w, b); /* fired: stale */
	ck_assert_uint_eq(rv_twheel_count(w), 1);
	/* reuse every record many times: old handles never cancel a new timer */
	for (k = 0; k < 200; k++) {
		d = rv_twheel_add(w, 1000 + k, 100 + k);
		rv_twheel_cancel(w, a);
		rv_twheel_cancel(w, b);
		ck_assert_uint_eq(rv_twheel_count(w), 2);
		rv_twheel_cancel(w, d);
	}
	rv_twheel_cancel(w, 0x00ffffffu); /* index out of range */
	rv_twheel_cancel(w, RV_NONE);
	ck_assert_uint_eq(rv_twheel_count(w), 1);
	rv_twheel_cancel(w, c);
	ck_assert_uint_eq(rv_twheel_count(w), 0);
	ck_assert_uint_eq(rv_twheel_advance(w, 100000, record, &f), 0);
	rv_twheel_free(w);
}
END_TEST

START_TEST(test_twheel_large_jumps)
{
	/* 30 days, then 2^50 ms, then close to INT64_MAX: walking every ms would never end */
	struct rv_twheel *w = rv_twheel_new(-((int64_t)1 << 41));
	struct fired f = { .n = 0 };
	int64_t t0 = -((int64_t)1 << 41), month = INT64_C(30) * 24 * 3600 * 1000;

	rv_twheel_add(w, t0 + month, 1);
	rv_twheel_add(w, t0 + month + 1, 2);
	rv_twheel_add(w, 0, 3);                         /* across zero */
	rv_twheel_add(w, (int64_t)1 << 50, 4);          /* beyond the wheel's 2^42 ms */
	rv_twheel_add(w, INT64_MAX - 5, 5);
	rv_twheel_add(w, ((int64_t)1 << 50) + 1, 6);
	ck_assert_uint_eq(rv_twheel_advance(w, t0 + month + 1, record, &f), 2);
	ck_assert_int_eq(rv_twheel_next(w), 0);
	ck_assert_uint_eq(rv_twheel_advance(w, ((int64_t)1 << 50) - 1, record, &f), 1);
	ck_assert_int_eq(rv_twheel_next(w), (int64_t)1 << 50);
	ck_assert_uint_eq(rv_twheel_advance(w, INT64_MAX - 6, record, &f), 2);
	ck_assert_int_eq(rv_twheel_next(w), INT64_MAX - 5);
	ck_assert_uint_eq(rv_twheel_advance(w, INT64_MAX, record, &f), 1);
	ck_assert_uint_eq(f.n, 6);
	ck_assert_uint_eq(f.id[2], 3);
	ck_assert_uint_eq(f.id[3], 4);
	ck_assert_uint_eq(f.id[4], 6);
	ck_assert_uint_eq(f.id[5], 5);
	ck_assert_int_eq(f.at[5], INT64_MAX - 5);
	rv_twheel_free(w);
}
END_TEST

struct chain_ctx {
	struct rv_twheel *w;
	struct fired f;
	uint32_t victim;
};

/* Fire callback that adds and cancels timers. */
static void
chain_fire(void *ud, uint64_t id, int64_t deadline)
{
	struct chain_ctx *c = ud;

	record(&c->f, id, deadline);
	if (id == 1) {
		rv_twheel_add(c->w, deadline - 50, 10);  /* in the past: fires next */
		rv_twheel_add(c->w, deadline + 5, 11);   /* before 2 (deadline 200) */
		rv_twheel_add(c->w, 200, 12);            /* tie with 2: after it */
		rv_twheel_add(c->w, 5000, 13);           /* after this advance */
		rv_twheel_cancel(c->w, c->victim);       /* 3 never fires */
	}
}

START_TEST(test_twheel_fire_adds_and_cancels)
{
	struct chain_ctx c = { .w = rv_twheel_new(0) };

	rv_twheel_add(c.w, 100, 1);
	rv_twheel_add(c.w, 200, 2);
	c.victim = rv_twheel_add(c.w, 150, 3);
	ck_assert_uint_eq(rv_twheel_advance(c.w, 1000, chain_fire, &c), 5);
	ck_assert_uint_eq(c.f.n, 5);
	ck_assert_uint_eq(c.f.id[0], 1);
	ck_assert_uint_eq(c.f.id[1], 10);
	ck_assert_uint_eq(c.f.id[2], 11);
	ck_assert_uint_eq(c.f.id[3], 2);
	ck_assert_uint_eq(c.f.id[4], 12);
	ck_assert_uint_eq(rv_twheel_count(c.w), 1);
	ck_assert_int_eq(rv_twheel_next(c.w), 5000);
	rv_twheel_free(c.w);
}
END_TEST

START_TEST(test_twheel_oom)
{
	struct rv_twheel *w = rv_twheel_new(0);
	struct fired f = { .n = 0 };
	unsigned k;

	ru_alloc_failnext(1);
	ck_assert_uint_eq(rv_twheel_add(w, 10, 1), RV_NONE);
	ck_assert_uint_eq(rv_twheel_count(w), 0);
	for (k = 0; k < 64; k++) /* the first pool holds 64 */
		ck_assert_uint_ne(rv_twheel_add(w, 10 + k, k), RV_NONE);
	ru_alloc_failnext(1);
	ck_assert_uint_eq(rv_twheel_add(w, 5, 99), RV_NONE);
	ru_alloc_failnext(0);
	ck_assert_uint_eq(rv_twheel_count(w), 64);
	ck_assert_uint_eq(rv_twheel_advance(w, 1000, record, &f), 64);
	ck_assert_uint_eq(f.id[0], 0);
	ck_assert_uint_ge(rv_twheel_bytes(w), 64 * 24);
	rv_twheel_free(w);
	ru_alloc_failnext(1);
	ck_assert_ptr_null(rv_twheel_new(0));
	ru_alloc_failnext(0);
}
END_TEST

/* ---- timer wheel: property test against a flat list -------------------------------- */

#define WMAX 8192

struct rtimer {
	int64_t deadline;
	uint32_t handle;
	int alive;
};

struct wref {
	struct rv_twheel *w;
	struct rtimer t[WMAX];       /* id = index = insertion number */
	uint32_t n;                  /* timers ever added */
	uint32_t live;
	int64_t now, target;
	uint64_t rng;
	uint32_t fired;
	int in_fire;
};

static void
wref_add(struct wref *r, int64_t deadline)
{
	uint32_t id = r->n;

	if (id >= WMAX)
		return;
	r->t[id].deadline = deadline;
	r->t[id].handle = rv_twheel_add(r->w, deadline, id);
	ck_assert_uint_ne(r->t[id].handle, RV_NONE);
	r->t[id].alive = 1;
	r->n++;
	r->live++;
}

/* Cancels a random timer, live or not (a stale handle must change nothing). */
static void
wref_cancel(struct wref *r)
{
	uint32_t id, k;

	if (r->n == 0)
		return;
	id = (uint32_t)(r->n - 1 - below(&r->rng, r->n < 300 ? r->n : 300));
	if (!r->t[id].alive) {
		/* a documented collision: the record reused 256 times since */
		for (k = 0; k < r->n; k++)
			if (r->t[k].alive && r->t[k].handle == r->t[id].handle)
				return;
	} else {
		r->t[id].alive = 0;
		r->live--;
	}
	rv_twheel_cancel(r->w, r->t[id].handle);
}

/* A deadline of one of the shapes that matter, relative to base. */
static int64_t
wref_deadline(struct wref *r, int64_t base)
{
	switch (below(&r->rng, 8)) {
	case 0: return base - (int64_t)below(&r->rng, 1000);                  /* past */
	case 1: return base + (int64_t)below(&r->rng, 64);                    /* level 0 */
	case 2: return base + (int64_t)below(&r->rng, 100000);
	case 3: return base + (int64_t)below(&r->rng, (uint64_t)1 << 36);
	case 4: return base + ((int64_t)1 << 43) + (int64_t)below(&r->rng, 1000); /* overflow */
	case 5: /* a tie with a live timer */
		if (r->n > 0 && r->t[r->n - 1].alive)
			return r->t[r->n - 1].deadline;
		/* fall through */
	default: return base + (int64_t)below(&r->rng, 5000);
	}
}

static void
wref_fire(void *ud, uint64_t id, int64_t deadline)
{
	struct wref *r = ud;
	uint32_t k, best = RV_NONE;

	/* the reference's next: the least (deadline, insertion) due at the target */
	for (k = 0; k < r->n; k++)
		if (r->t[k].alive && r->t[k].deadline <= r->target
			&& (best == RV_NONE || r->t[k].deadline < r->t[best].deadline))
			best = k;
	ck_assert_uint_ne(best, RV_NONE);
	ck_assert_uint_eq(id, best);
	ck_assert_int_eq(deadline, r->t[best].deadline);
	r->t[best].alive = 0;
	r->live--;
	r->fired++;
	/* the callback adds (sometimes due now) and cancels */
	switch (below(&r->rng, 8)) {
	case 0: wref_add(r, deadline - (int64_t)below(&r->rng, 100)); break;
	case 1: wref_add(r, deadline + (int64_t)below(&r->rng, 3000)); break;
	case 2: wref_add(r, wref_deadline(r, deadline)); break;
	case 3: wref_cancel(r); break;
	default: break;
	}
}

static void
wref_check(struct wref *r)
{
	int64_t next = INT64_MAX;
	uint32_t k;

	for (k = 0; k < r->n; k++)
		if (r->t[k].alive && r->t[k].deadline < next)
			next = r->t[k].deadline;
	ck_assert_uint_eq(rv_twheel_count(r->w), r->live);
	ck_assert_int_eq(rv_twheel_next(r->w), next);
	ck_assert_int_eq(rv_twheel_now(r->w), r->now);
}

static void
wref_advance(struct wref *r)
{
	int64_t step;
	uint32_t n;

	switch (below(&r->rng, 8)) {
	case 0: step = 0; break;
	case 1: step = -(int64_t)below(&r->rng, 100); break;           /* ignored */
	case 2: step = INT64_C(30) * 24 * 3600 * 1000; break;           /* 30 days */
	case 3: step = (int64_t)1 << (30 + below(&r->rng, 15)); break;   /* up to 2^44 */
	case 4: step = (int64_t)below(&r->rng, 100000); break;
	default: step = (int64_t)below(&r->rng, 200); break;
	}
	r->target = r->now + step > r->now ? r->now + step : r->now;
	r->fired = 0;
	n = rv_twheel_advance(r->w, r->now + step, wref_fire, r);
	ck_assert_uint_eq(n, r->fired);
	r->now = r->target;
	wref_check(r);
}

START_TEST(test_twheel_property)
{
	struct wref *r = calloc(1, sizeof *r);
	unsigned op;

	r->rng = seeds[_i];
	r->now = (int64_t)below(&r->rng, (uint64_t)1 << 42) - ((int64_t)1 << 41);
	r->w = rv_twheel_new(r->now);
	for (op = 0; op < 4000 && r->n < WMAX - 64; op++) {
		uint64_t x = below(&r->rng, 10);

		if (x < 5 && r->live < 300)
			wref_add(r, wref_deadline(r, r->now));
		else if (x < 7)
			wref_cancel(r);
		else
			wref_advance(r);
	}
	wref_check(r);
	r->target = INT64_MAX - 1;
	rv_twheel_advance(r->w, INT64_MAX - 1, wref_fire, r);
	ck_assert_uint_eq(rv_twheel_count(r->w), r->live);
	rv_twheel_free(r->w);
	free(r);
}
END_TEST

/* ---- timer wheel: snapshots ------------------------------------------------------ */

struct snapctx {
	struct rv_twheel *w;
	uint64_t log[4096][2];       /* (id, deadline) in firing order */
	uint32_t nlog;
	uint64_t next_id;
};

static void
snap_fire(void *ud, uint64_t id, int64_t deadline)
{
	struct snapctx *c = ud;

	if (c->nlog < 4096) {
		c->log[c->nlog][0] = id;
		c->log[c->nlog][1] = (uint64_t)deadline;
	}
	c->nlog++;
	if (id % 5 == 0) /* a follow-up, as a rule's next deadline would be */
		rv_twheel_add(c->w, deadline + (int64_t)(id % 7) * 13 - 20, c->next_id++);
}

static struct rv_twheel *
snap_roundtrip(struct rv_twheel *w)
{
	size_t need = rv_twheel_snapshot(w, NULL, 0);
	unsigned char *buf = malloc(need);
	struct rv_twheel *w2;

	ck_assert_uint_eq(rv_twheel_snapshot(w, buf, need - 1), need); /* too small: sized only */
	ck_assert_uint_eq(rv_twheel_snapshot(w, buf, need), need);
	w2 = rv_twheel_restore(buf, need);
	ck_assert_ptr_nonnull(w2);
	ck_assert_uint_eq(rv_twheel_count(w2), rv_twheel_count(w));
	ck_assert_int_eq(rv_twheel_next(w2), rv_twheel_next(w));
	ck_assert_int_eq(rv_twheel_now(w2), rv_twheel_now(w));
	free(buf);
	rv_twheel_free(w);
	return w2;
}

START_TEST(test_twheel_snapshot_continues)
{
	struct snapctx *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	uint32_t ha[2048], hb[2048], nh = 0, nb0 = 0; /* handles by id; b's valid from nb0 */
	uint64_t rng = seeds[_i];
	int64_t now = 1000;
	unsigned op;

	a->w = rv_twheel_new(now);
	b->w = rv_twheel_new(now);
	a->next_id = b->next_id = 1u << 20;
	for (op = 0; op < 1500; op++) {
		uint64_t x = below(&rng, 10);

		if (x < 5 && nh < 2048) {
			int64_t d = now + (x == 0 ? -(int64_t)below(&rng, 50)
				: x == 1 ? ((int64_t)1 << 43) : (int64_t)below(&rng, x == 2 ? 1u << 30 : 3000));

			ha[nh] = rv_twheel_add(a->w, d, nh);
			hb[nh] = rv_twheel_add(b->w, d, nh);
			nh++;
		} else if (x < 6 && nh > nb0) {
			uint32_t id = nb0 + (uint32_t)below(&rng, nh - nb0);

			rv_twheel_cancel(a->w, ha[id]);
			rv_twheel_cancel(b->w, hb[id]);
		} else if (x < 7) {
			b->w = snap_roundtrip(b->w);
			nb0 = nh; /* the old handles mean nothing to the restored wheel */
		} else {
			now += x == 9 ? (int64_t)below(&rng, (uint64_t)1 << 40) : (int64_t)below(&rng, 2000);
			ck_assert_uint_eq(rv_twheel_advance(a->w, now, snap_fire, a),
				rv_twheel_advance(b->w, now, snap_fire, b));
			ck_assert_uint_eq(a->nlog, b->nlog);
			ck_assert_uint_lt(a->nlog, 4096);
			ck_assert(memcmp(a->log, b->log, a->nlog * sizeof a->log[0]) == 0);
		}
	}
	ck_assert_uint_eq(rv_twheel_advance(a->w, INT64_MAX, snap_fire, a),
		rv_twheel_advance(b->w, INT64_MAX, snap_fire, b));
	ck_assert_uint_eq(a->nlog, b->nlog);
	ck_assert(memcmp(a->log, b->log, (a->nlog < 4096 ? a->nlog : 4096) * sizeof a->log[0]) == 0);
	rv_twheel_free(a->w);
	rv_twheel_free(b->w);
	free(a);
	free(b);
}
END_TEST

static void
put64le(unsigned char *p, uint64_t v)
{
	unsigned k;

	for (k = 0; k < 8; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

START_TEST(test_twheel_snapshot_refuses_bad_bytes)
{
	struct rv_twheel *w = rv_twheel_new(77), *w2;
	unsigned char *buf, *bad;
	size_t len, k;
	unsigned bit;

	for (k = 0; k < 40; k++)
		rv_twheel_add(w, 77 + (int64_t)(k * k * 1000) - 100, k);
	len = rv_twheel_snapshot(w, NULL, 0);
	ck_assert_uint_eq(len, 20 + 40 * 16 + 8);
	buf = malloc(len);
	bad = malloc(len + 16);
	rv_twheel_snapshot(w, buf, len);
	for (k = 0; k < len; k++) /* every truncation */
		ck_assert_ptr_null(rv_twheel_restore(buf, k));
	memcpy(bad, buf, len);
	bad[len] = 0;
	ck_assert_ptr_null(rv_twheel_restore(bad, len + 1)); /* trailing byte */
	for (k = 0; k < len; k++) { /* every single-bit flip */
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, buf, len);
			bad[k] ^= (unsigned char)(1u << bit);
			ck_assert_ptr_null(rv_twheel_restore(bad, len));
		}
	}
	/* a valid checksum over a lying count or version */
	memcpy(bad, buf, len);
	bad[16] = 41;
	put64le(bad + len - 8, XXH64(bad, len - 8, 0));
	ck_assert_ptr_null(rv_twheel_restore(bad, len));
	memcpy(bad, buf, len);
	bad[4] = 2;
	put64le(bad + len - 8, XXH64(bad, len - 8, 0));
	ck_assert_ptr_null(rv_twheel_restore(bad, len));
	ck_assert_ptr_null(rv_twheel_restore(NULL, len));
	w2 = rv_twheel_restore(buf, len);
	ck_assert_ptr_nonnull(w2);
	ck_assert_uint_eq(rv_twheel_count(w2), 40);
	rv_twheel_free(w2);
	free(buf);
	free(bad);
	rv_twheel_free(w);
}
END_TEST

/* ---- window: unit tests ---------------------------------------------------------- */

static const uint8_t all_kinds[] = { RV_AGG_COUNT, RV_AGG_SUM, RV_AGG_AVG, RV_AGG_MIN, RV_AGG_MAX,
	RV_AGG_DISTINCT, RV_AGG_RATE, RV_AGG_SUM };
#define NALL 8

static struct rv_agg_in *
inputs(struct rv_agg_in *in, int has, double num, uint64_t hash)
{
	unsigned i;

	for (i = 0; i < NALL; i++) {
		in[i].has = has;
		in[i].num = num;
		in[i].hash = hash;
	}
	return in;
}

START_TEST(test_window_boundary)
{
	uint8_t kind = RV_AGG_COUNT;
	struct rv_wspec spec = { 600000, 1, &kind, 10, 100 };
	struct rv_window *w = rv_window_new(&spec);
	struct rv_agg_in in = { 0, 0, 0 };
	double out;
	uint8_t has;

	ck_assert_int_eq(rv_window_add(w, "c1", 2, 0, &in, &out, &has), 0);
	ck_assert(out == 1 && has == 1);
	ck_assert_int_eq(rv_window_add(w, "c1", 2, 599999, &in, &out, &has), 0);
	ck_assert(out == 2);
	/* at 600000 the event of time 0 has left (time > t - within is kept) */
	ck_assert_int_eq(rv_window_add(w, "c1", 2, 600000, &in, &out, &has), 0);
	ck_assert(out == 2);
	ck_assert_int_eq(rv_window_add(w, "c2", 2, 600000, &in, &out, &has), 0);
	ck_assert(out == 1);
	/* an older time is taken as now */
	ck_assert_int_eq(rv_window_add(w, "c1", 2, 5, &in, &out, &has), 0);
	ck_assert(out == 3);
	/* at 1199999 the event of 599999 has left too: 600000, 600000, 1199999 */
	ck_assert_int_eq(rv_window_add(w, "c1", 2, 1199999, &in, &out, &has), 0);
	ck_assert(out == 3);
	ck_assert_int_eq(rv_window_add(w, "c1", 2, 1200000, &in, &out, &has), 0);
	ck_assert(out == 2);
	/* COUNT takes no input: in may be NULL */
	ck_assert_int_eq(rv_window_add(w, "c1", 2, 1200000, NULL, &out, &has), 0);
	ck_assert(out == 3);
	rv_window_free(w);
}
END_TEST

/* A key's ring shrinks back when its events leave, and counting stays right. */
START_TEST(test_window_ring_shrinks)
{
	uint8_t kind = RV_AGG_COUNT;
	struct rv_wspec spec = { 1000, 1, &kind, 10, 100000 };
	struct rv_window *w = rv_window_new(&spec);
	struct rv_window_stats st;
	double out;
	uint8_t has;
	uint64_t peak;
	int i;

	for (i = 0; i < 4096; i++)
		ck_assert_int_eq(rv_window_add(w, "k", 1, 10, NULL, &out, &has), 0);
	ck_assert(out == 4096);
	rv_window_stats(w, &st);
	peak = st.bytes;
	/* every event left: each add halves the ring until it fits the live ones */
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(rv_window_add(w, "k", 1, 5000 + i, NULL, &out, &has), 0);
	ck_assert(out == 20);
	rv_window_stats(w, &st);
	ck_assert_msg(st.bytes + 4000 * sizeof(int64_t) < peak, "bytes %llu, peak %llu",
		(unsigned long long)st.bytes, (unsigned long long)peak);
	rv_window_free(w);
}
END_TEST

START_TEST(test_window_aggregates)
{
	struct rv_wspec spec = { 10000, NALL, all_kinds, 10, 100 };
	struct rv_window *w = rv_window_new(&spec);
	struct rv_agg_in in[NALL];
	double out[NALL];
	uint8_t has[NALL];

	/* a first event without inputs: avg, min, max undefined; sum 0; distinct 0 */
	ck_assert_int_eq(rv_window_add(w, "k", 1, 0, inputs(in, 0, 0, 0), out, has), 0);
	ck_assert(out[0] == 1 && out[1] == 0 && has[1] && !has[2] && !has[3] && !has[4]);
	ck_assert(out[5] == 0 && has[5] && out[6] == 0.1);
	ck_assert_int_eq(rv_window_add(w, "k", 1, 1000, inputs(in, 1, 5, 7), out, has), 0);
	ck_assert_int_eq(rv_window_add(w, "k", 1, 2000, inputs(in, 1, -2, 7), out, has), 0);
	ck_assert_int_eq(rv_window_add(w, "k", 1, 3000, inputs(in, 1, 9, 8), out, has), 0);
	ck_assert(out[0] == 4 && out[1] == 12 && out[2] == 4 && out[3] == -2 && out[4] == 9);
	ck_assert(out[5] == 2 && out[6] == 0.4 && out[7] == 12);
	/* at 11000: events at 0 and 1000 are gone */
	ck_assert_int_eq(rv_window_add(w, "k", 1, 11000, inputs(in, 0, 0, 0), out, has), 0);
	ck_assert(out[0] == 3 && out[1] == 7 && out[2] == 3.5 && out[3] == -2 && out[4] == 9 && out[5] == 2);
	ck_assert_int_eq(rv_window_add(w, "k", 1, 12000, inputs(in, 0, 0, 0), out, has), 0);
	ck_assert(out[0] == 3 && out[1] == 9 && out[3] == 9 && out[4] == 9 && out[5] == 1);
	/* all valued events gone: sum back to exactly 0 */
	ck_assert_int_eq(rv_window_add(w, "k", 1, 13000, inputs(in, 0, 0, 0), out, has), 0);
	ck_assert(out[1] == 0 && !has[2] && !has[3] && !has[4] && out[5] == 0 && out[0] == 3);
	rv_window_free(w);
}
END_TEST

START_TEST(test_window_bounds_and_expiry)
{
	uint8_t kinds[] = { RV_AGG_COUNT, RV_AGG_DISTINCT };
	struct rv_wspec spec = { 1000, 2, kinds, 2, 3 };
	struct rv_window *w = rv_window_new(&spec);
	struct rv_agg_in in[2] = { { 0, 0, 0 }, { 1, 0, 1 } };
	struct rv_window_stats st;
	double out[2];
	uint8_t has[2];
	unsigned k;

	for (k = 0; k < 5; k++) { /* max_events 3: two dropped early */
		in[1].hash = k;
		ck_assert_int_eq(rv_window_add(w, "a", 1, 10, in, out, has), 0);
	}
	ck_assert(out[0] == 3 && out[1] == 3);
	rv_window_add(w, "b", 1, 20, in, out, has);
	rv_window_add(w, "a", 1, 30, in, out, has);   /* a is now the most recent */
	rv_window_add(w, "", 0, 40, in, out, has);    /* max_keys 2: evicts b */
	rv_window_stats(w, &st);
	ck_assert_uint_eq(st.keys, 2);
	ck_assert_uint_eq(st.evicted, 1);
	ck_assert_uint_eq(st.dropped, 3);
	ck_assert_uint_eq(st.events, 4);
	rv_window_add(w, "b", 1, 50, in, out, has);   /* b starts afresh; evicts a */
	ck_assert(out[0] == 1);
	rv_window_stats(w, &st);
	ck_assert_uint_eq(st.evicted, 2);
	rv_window_expire(w, 1039);                    /* "" (40) still in, b (50) in */
	rv_window_stats(w, &st);
	ck_assert_uint_eq(st.keys, 2);
	rv_window_expire(w, 1040);
	rv_window_stats(w, &st);
	ck_assert_uint_eq(st.keys, 1);
	ck_assert_uint_eq(st.expired, 1);
	rv_window_expire(w, 10);                       /* older: taken as 1040 */
	rv_window_expire(w, 5000);
	rv_window_stats(w, &st);
	ck_assert_uint_eq(st.keys, 0);
	ck_assert_uint_eq(st.events, 0);
	ck_assert_uint_eq(st.expired, 2);
	ck_assert_uint_eq(st.evicted, 2);
	rv_window_free(w);
}
END_TEST

START_TEST(test_window_memory_follows_keys)
{
	/* keys come and go: the bytes held go back to the same floor each time */
	uint8_t kinds[] = { RV_AGG_COUNT, RV_AGG_MIN, RV_AGG_DISTINCT, RV_AGG_AVG };
	struct rv_wspec spec = { 100, 4, kinds, 1000, 1000 };
	struct rv_window *w = rv_window_new(&spec);
	struct rv_agg_in in[4] = { { 0, 0, 0 }, { 1, 1, 1 }, { 1, 1, 1 }, { 1, 1, 1 } };
	struct rv_window_stats st;
	uint64_t floor = 0, peak = 0;
	double out[4];
	uint8_t has[4];
	unsigned round, k, e;
	char key[8];

	for (round = 0; round < 3; round++) {
		for (k = 0; k < 300; k++) {
			snprintf(key, sizeof key, "%u-%u", round, k);
			for (e = 0; e < 1 + k % 40; e++) {
				in[1].num = in[2].hash = e;
				ck_assert_int_eq(rv_window_add(w, key, strlen(key), round * 1000 + k / 10, in, out, has), 0);
			}
			ck_assert(out[0] == 1 + k % 40 && out[2] == 1 + k % 40);
		}
		rv_window_stats(w, &st);
		ck_assert_uint_eq(st.keys, 300);
		peak = st.bytes;
		rv_window_expire(w, round * 1000 + 500);
		rv_window_stats(w, &st);
		ck_assert_uint_eq(st.keys, 0);
		ck_assert_uint_eq(st.events, 0);
		ck_assert_uint_lt(st.bytes * 4, peak);
		if (round == 0)
			floor = st.bytes;
		ck_assert_uint_eq(st.bytes, floor);
	}
	rv_window_free(w);
}
END_TEST

START_TEST(test_window_bad_spec)
{
	uint8_t k = RV_AGG_COUNT, bad = 7;
	struct rv_wspec s = { 0, 1, &k, 1, 1 };
	uint8_t many[RV_WINDOW_MAX_AGGS + 1];

	memset(many, RV_AGG_COUNT, sizeof many);
	ck_assert_ptr_null(rv_window_new(&s));
	s.within_ms = 1;
	s.max_keys = 0;
	ck_assert_ptr_null(rv_window_new(&s));
	s.max_keys = 1;
	s.max_events = 0;
	ck_assert_ptr_null(rv_window_new(&s));
	s.max_events = 1;
	s.kinds = &bad;
	ck_assert_ptr_null(rv_window_new(&s));
	s.kinds = many;
	s.naggs = RV_WINDOW_MAX_AGGS + 1;
	ck_assert_ptr_null(rv_window_new(&s));
	s.naggs = 0;
	ck_assert_ptr_null(rv_window_new(&s));
	s.naggs = RV_WINDOW_MAX_AGGS;
	rv_window_free(rv_window_new(&s));
	ck_assert_ptr_null(rv_window_new(NULL));
}
END_TEST

/* Bytes of w's snapshot (malloc'd), length in *len. */
static unsigned char *
wsnap(const struct rv_window *w, size_t *len)
{
	unsigned char *buf;

	*len = rv_window_snapshot(w, NULL, 0);
	buf = malloc(*len);
	ck_assert_uint_eq(rv_window_snapshot(w, buf, *len), *len);
	return buf;
}

START_TEST(test_window_oom_leaves_state)
{
	/*
	 * Fail the nth allocation of an add, for each n, on a key whose ring must
	 * grow ('a': 8 of 8), one whose distinct set must grow ('b': 6 in 8 cells)
	 * and a new key that evicts ('z'): a failed add changes nothing.
	 */
	static const char keys[] = "aaaaaaaabbbbbbcccddd";
	struct rv_wspec spec = { 100000, NALL, all_kinds, 4, 1000 };
	unsigned nth, which, fails = 0;

	for (which = 0; which < 3; which++) {
		for (nth = 1; nth < 8; nth++) {
			struct rv_window *w = rv_window_new(&spec), *ref = rv_window_new(&spec);
			struct rv_agg_in in[NALL];
			double out[NALL], rout[NALL];
			uint8_t has[NALL], rhas[NALL];
			unsigned char *before, *after;
			size_t lb, la;
			unsigned k;
			int rc;

			for (k = 0; k < sizeof keys - 1; k++) {
				ck_assert_int_eq(rv_window_add(w, keys + k, 1, k, inputs(in, 1, k, k), out, has), 0);
				ck_assert_int_eq(rv_window_add(ref, keys + k, 1, k, inputs(in, 1, k, k), rout, rhas), 0);
			}
			before = wsnap(w, &lb);
			ru_alloc_failnext(nth);
			rc = rv_window_add(w, &"abz"[which], 1, 100, inputs(in, 1, 1000 + nth, 1000 + nth), out, has);
			ru_alloc_failnext(0);
			if (rc != 0) {
				fails++;
				after = wsnap(w, &la);
				ck_assert_uint_eq(la, lb);
				ck_assert(memcmp(before, after, la) == 0);
				free(after);
				ck_assert_int_eq(rv_window_add(w, &"abz"[which], 1, 100, in, out, has), 0);
			}
			ck_assert_int_eq(rv_window_add(ref, &"abz"[which], 1, 100, in, rout, rhas), 0);
			ck_assert(memcmp(out, rout, sizeof out) == 0 && memcmp(has, rhas, sizeof has) == 0);
			free(before);
			rv_window_free(w);
			rv_window_free(ref);
		}
	}
	ck_assert_uint_eq(fails, 6); /* a: the ring; b: the set; z: key bytes, states, ring, set */
}
END_TEST

START_TEST(test_window_sum_does_not_drift)
{
	/*
	 * A long run where a 1e20 is always in the window, so every value goes
	 * through the compensation term, then only tiny values: the sum
	 * must still match the window's exact sum (it needs the recompute, not
	 * only compensation: with recomputes disabled this fails).
	 */
	uint8_t kind = RV_AGG_SUM;
	struct rv_wspec spec = { 1000, 1, &kind, 1, 4096 };
	struct rv_window *w = rv_window_new(&spec);
	static double v[120000];
	uint64_t rng = 5;
	struct rv_agg_in in = { 1, 0, 0 };
	double out, mass;
	long double ref;
	uint8_t has;
	int64_t t, j;

	for (t = 0; t < 120000; t++) {
		if (t < 100000)
			v[t] = t % 500 == 0 ? 1e20 : ((double)below(&rng, 2000001) - 1e6) / 1024.0 + 0.1;
		else
			v[t] = ((double)below(&rng, 2001) - 1000) * 1e-6;
		in.num = v[t];
		ck_assert_int_eq(rv_window_add(w, "k", 1, t, &in, &out, &has), 0);
		if (t < 101500 || t % 97 != 0)
			continue;
		for (ref = 0, mass = 0, j = t - 999; j <= t; j++) {
			ref += v[j];
			mass += fabs(v[j]);
		}
		ck_assert_msg(fabs(out - (double)ref) <= 1e-9 * mass, "t %lld: %.17g, expected %.17Lg",
			(long long)t, out, ref);
	}
	rv_window_free(w);
}
END_TEST

/* ---- window: property test against every event kept --------------------------------- */

#define RK 12          /* keys in play */
#define REV 4096       /* events kept per reference key */

struct rev {
	int64_t t;
	struct rv_agg_in in[NALL];
};

struct rkey {
	int present;
	uint64_t updated;          /* the reference's update counter at its last add */
	uint32_t n;
	struct rev ev[REV];        /* events held, oldest first (old ones dropped lazily, like the window) */
};

struct wmodel {
	struct rv_wspec spec;
	uint8_t kinds[NALL];
	struct rkey k[RK];
	int64_t now;
	uint64_t clock;
	uint64_t evicted, expired, dropped;
};

static char keyname[RK][4] = { "", "a", "b", "cc", "d", "e", "f", "gg", "h", "i", "j", "k" };

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
in_window(const struct wmodel *m, int64_t t, int64_t now)
{
	return t > now - m->spec.within_ms;
}

static void
model_drop_old(struct wmodel *m, struct rkey *k, int64_t now)
{
	uint32_t j = 0;

	while (j < k->n && !in_window(m, k->ev[j].t, now))
		j++;
	memmove(k->ev, k->ev + j, (k->n - j) * sizeof k->ev[0]);
	k->n -= j;
}

/* The reference add: eviction, early drop, then each aggregate from scratch. */
static void
model_add(struct wmodel *m, unsigned key, int64_t t, const struct rv_agg_in *in, double *out, uint8_t *has,
	double *mass)
{
	struct rkey *k = &m->k[key];
	static uint64_t hs[REV];
	uint32_t i, j;

	if (t < m->now)
		t = m->now;
	m->now = t;
	if (!k->present) {
		unsigned np = 0, lru = RK;

		for (i = 0; i < RK; i++) {
			if (m->k[i].present) {
				np++;
				if (lru == RK || m->k[i].updated < m->k[lru].updated)
					lru = i;
			}
		}
		if (np >= m->spec.max_keys) {
			m->k[lru].present = 0;
			m->k[lru].n = 0;
			m->evicted++;
		}
		k->present = 1;
		k->n = 0;
	}
	model_drop_old(m, k, t);
	if (k->n == m->spec.max_events) {
		memmove(k->ev, k->ev + 1, (k->n - 1) * sizeof k->ev[0]);
		k->n--;
		m->dropped++;
	}
	ck_assert_uint_lt(k->n, REV);
	k->ev[k->n].t = t;
	memcpy(k->ev[k->n].in, in, m->spec.naggs * sizeof *in);
	k->n++;
	k->updated = ++m->clock;
	for (i = 0; i < m->spec.naggs; i++) {
		long double s = 0;
		double mn = INFINITY, mx = -INFINITY, ms = 0;
		uint32_t nh = 0, nd = 0;

		for (j = 0; j < k->n; j++) {
			const struct rv_agg_in *x = &k->ev[j].in[i];

			if (!x->has)
				continue;
			s += x->num;
			ms += fabs(x->num);
			mn = x->num < mn ? x->num : mn;
			mx = x->num > mx ? x->num : mx;
			hs[nh++] = x->hash;
		}
		qsort(hs, nh, sizeof hs[0], cmp_u64);
		for (j = 0; j < nh; j++)
			nd += j == 0 || hs[j] != hs[j - 1];
		has[i] = 1;
		out[i] = 0;
		mass[i] = ms;
		switch (m->kinds[i]) {
		case RV_AGG_COUNT: out[i] = k->n; break;
		case RV_AGG_RATE: out[i] = k->n / (m->spec.within_ms / 1000.0); break;
		case RV_AGG_SUM: out[i] = (double)s; break;
		case RV_AGG_AVG: has[i] = nh > 0; out[i] = nh ? (double)(s / nh) : 0; mass[i] = nh ? ms / nh : 0; break;
		case RV_AGG_MIN: has[i] = nh > 0; out[i] = nh ? mn : 0; break;
		case RV_AGG_MAX: has[i] = nh > 0; out[i] = nh ? mx : 0; break;
		default: out[i] = nd; break;
		}
	}
}

static void
model_expire(struct wmodel *m, int64_t t)
{
	unsigned i;

	if (t < m->now)
		t = m->now;
	m->now = t;
	for (i = 0; i < RK; i++) {
		if (m->k[i].present && !in_window(m, m->k[i].ev[m->k[i].n - 1].t, t)) {
			m->k[i].present = 0;
			m->k[i].n = 0;
			m->expired++;
		}
	}
}

static void
model_check_stats(const struct wmodel *m, const struct rv_window *w)
{
	struct rv_window_stats st;
	uint64_t keys = 0, events = 0;
	unsigned i;

	for (i = 0; i < RK; i++) {
		keys += m->k[i].present != 0;
		events += m->k[i].present ? m->k[i].n : 0;
	}
	rv_window_stats(w, &st);
	ck_assert_uint_eq(st.keys, keys);
	ck_assert_uint_eq(st.events, events);
	ck_assert_uint_eq(st.evicted, m->evicted);
	ck_assert_uint_eq(st.expired, m->expired);
	ck_assert_uint_eq(st.dropped, m->dropped);
	ck_assert_uint_gt(st.bytes, 0);
}

/* A number of one of the shapes that matter: ties, fractions, large magnitudes. */
static double
rnum(uint64_t *rng)
{
	switch (below(rng, 5)) {
	case 0: return (double)below(rng, 5);
	case 1: return ((double)below(rng, 2000001) - 1000000.0) / 1024.0;
	case 2: return ((double)below(rng, 2000001) - 1000000.0) * 1e6;
	case 3: return ((double)below(rng, 1000) - 500) * 1e-3 + 0.1;
	default: return -(double)below(rng, 3);
	}
}

/* Run one random stream on the window, a second window snapshotted now and then, and the model. */
static void
window_property(uint64_t seed, unsigned which, unsigned ops)
{
	static struct wmodel m;
	static const int64_t withins[] = { 1, 7, 100, 10000 };
	static const uint32_t maxk[] = { 1, 3, 8, 1000 }, maxe[] = { 1, 2, 5, 1000 };
	uint64_t rng = seed;
	struct rv_window *w, *b;
	unsigned op, i, nsnap = 0;
	int64_t now = (int64_t)below(&rng, 1u << 30) - (1 << 29);

	memset(&m, 0, sizeof m);
	/* every window length and every bound over the seeds */
	m.spec.within_ms = withins[which % 4];
	m.spec.max_keys = maxk[(which / 2) % 4];
	m.spec.max_events = maxe[(which + 1) % 4];
	m.spec.naggs = 1 + (uint32_t)below(&rng, NALL);
	for (i = 0; i < m.spec.naggs; i++)
		m.kinds[i] = i < NALL && below(&rng, 4) ? all_kinds[(i + seed) % NALL] : (uint8_t)below(&rng, 7);
	m.spec.kinds = m.kinds;
	m.now = INT64_MIN;
	w = rv_window_new(&m.spec);
	b = rv_window_new(&m.spec);
	ck_assert_ptr_nonnull(w);
	for (op = 0; op < ops; op++) {
		uint64_t x = below(&rng, 100);

		if (x < 3) {
			int64_t t = now + (int64_t)below(&rng, 3 * (uint64_t)m.spec.within_ms);

			rv_window_expire(w, t);
			rv_window_expire(b, t);
			model_expire(&m, t);
			model_check_stats(&m, w);
		} else if (x < 5) {
			size_t len;
			unsigned char *buf = wsnap(b, &len);

			rv_window_free(b);
			b = rv_window_restore(&m.spec, buf, len);
			ck_assert_ptr_nonnull(b);
			free(buf);
			nsnap++;
		} else {
			unsigned key = (unsigned)below(&rng, x < 60 ? 4 : RK);
			struct rv_agg_in in[NALL];
			double out[NALL], bout[NALL], ref[NALL], mass[NALL];
			uint8_t has[NALL], bhas[NALL], rhas[NALL];
			uint64_t g = below(&rng, 100);

			/* gaps: equal times, small, longer than the window, backwards (taken as now) */
			now += g < 30 ? 0 : g < 95 ? (int64_t)below(&rng, (uint64_t)m.spec.within_ms / 20 + 2)
				: g < 98 ? (int64_t)below(&rng, 3 * (uint64_t)m.spec.within_ms) : -(int64_t)below(&rng, 50);
			for (i = 0; i < m.spec.naggs; i++) {
				in[i].has = below(&rng, 5) != 0;
				in[i].num = rnum(&rng);
				in[i].hash = below(&rng, 4) ? below(&rng, 10) : rnd(&rng);
			}
			ck_assert_int_eq(rv_window_add(w, keyname[key], strlen(keyname[key]), now, in, out, has), 0);
			ck_assert_int_eq(rv_window_add(b, keyname[key], strlen(keyname[key]), now, in, bout, bhas), 0);
			model_add(&m, key, now, in, ref, rhas, mass);
			if (now < m.now)
				now = m.now;
			for (i = 0; i < m.spec.naggs; i++) {
				ck_assert_msg(has[i] == rhas[i], "seed %llu op %u agg %u (kind %u): has %u, expected %u",
					(unsigned long long)seed, op, i, m.kinds[i], has[i], rhas[i]);
				ck_assert_msg(fabs(out[i] - ref[i]) <= 1e-9 * fmax(fabs(ref[i]), mass[i]),
					"seed %llu op %u agg %u (kind %u): %.17g, expected %.17g",
					(unsigned long long)seed, op, i, m.kinds[i], out[i], ref[i]);
			}
			/* the snapshotted window gives the very same outputs */
			ck_assert(memcmp(out, bout, m.spec.naggs * sizeof out[0]) == 0);
			ck_assert(memcmp(has, bhas, m.spec.naggs) == 0);
			if (op % 64 == 0)
				model_check_stats(&m, w);
		}
	}
	model_check_stats(&m, w);
	model_check_stats(&m, b);
	ck_assert_uint_gt(nsnap, 0);
	rv_window_free(w);
	rv_window_free(b);
}

START_TEST(test_window_property)
{
	window_property(seeds[_i], (unsigned)_i, 3000);
}
END_TEST

START_TEST(test_window_property_all_aggregates)
{
	/* every kind at once, a window long enough to hold hundreds of events */
	static struct wmodel m;
	uint64_t rng = seeds[_i] * 7 + 1;
	struct rv_window *w;
	int64_t now = 0;
	unsigned op, i;

	memset(&m, 0, sizeof m);
	m.spec = (struct rv_wspec){ 5000, NALL, all_kinds, 6, 60 };
	memcpy(m.kinds, all_kinds, NALL);
	m.spec.kinds = m.kinds;
	m.now = INT64_MIN;
	w = rv_window_new(&m.spec);
	for (op = 0; op < 2000; op++) {
		/* two busy keys (they fill up: drops), five rare ones (evictions) */
		unsigned key = below(&rng, 10) < 8 ? (unsigned)below(&rng, 2) : 2 + (unsigned)below(&rng, 5);
		struct rv_agg_in in[NALL];
		double out[NALL], ref[NALL], mass[NALL];
		uint8_t has[NALL], rhas[NALL];

		now += (int64_t)below(&rng, 20);
		for (i = 0; i < NALL; i++) {
			in[i].has = below(&rng, 6) != 0;
			in[i].num = rnum(&rng);
			in[i].hash = below(&rng, 50);
		}
		ck_assert_int_eq(rv_window_add(w, keyname[key], strlen(keyname[key]), now, in, out, has), 0);
		model_add(&m, key, now, in, ref, rhas, mass);
		for (i = 0; i < NALL; i++) {
			ck_assert_uint_eq(has[i], rhas[i]);
			ck_assert_msg(fabs(out[i] - ref[i]) <= 1e-9 * fmax(fabs(ref[i]), mass[i]),
				"op %u agg %u: %.17g, expected %.17g", op, i, out[i], ref[i]);
		}
		if (op % 100 == 0) {
			rv_window_expire(w, now);
			model_expire(&m, now);
			model_check_stats(&m, w);
		}
	}
	model_check_stats(&m, w);
	/* the stream reached every bound (or the test proves less than it says) */
	ck_assert_uint_gt(m.evicted, 0);
	ck_assert_uint_gt(m.dropped, 0);
	rv_window_free(w);
}
END_TEST

/* ---- window: snapshots --------------------------------------------------------------- */

START_TEST(test_window_snapshot_refuses_bad_bytes)
{
	uint8_t kinds[] = { RV_AGG_COUNT, RV_AGG_SUM, RV_AGG_MAX, RV_AGG_DISTINCT };
	struct rv_wspec spec = { 1000, 4, kinds, 5, 8 }, other;
	struct rv_window *w = rv_window_new(&spec), *w2;
	struct rv_agg_in in[4] = { { 0, 0, 0 }, { 1, 2.5, 0 }, { 1, 3, 0 }, { 1, 0, 9 } };
	unsigned char *buf, *bad;
	double out[4];
	uint8_t has[4], ok[4] = { 1, 1, 2, 1 };
	size_t len, k;
	unsigned bit;

	rv_window_add(w, "x", 1, 10, in, out, has);
	rv_window_add(w, "yy", 2, 20, in, out, has);
	rv_window_add(w, "x", 1, 30, in, out, has);
	buf = wsnap(w, &len);
	ck_assert_uint_eq(rv_window_snapshot(w, buf, len - 1), len);
	bad = malloc(len + 1);
	for (k = 0; k < len; k++)
		ck_assert_ptr_null(rv_window_restore(&spec, buf, k));
	for (k = 0; k < len; k++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, buf, len);
			bad[k] ^= (unsigned char)(1u << bit);
			ck_assert_ptr_null(rv_window_restore(&spec, bad, len));
		}
	}
	/* a spec that differs */
	other = spec;
	other.within_ms = 999;
	ck_assert_ptr_null(rv_window_restore(&other, buf, len));
	other = spec;
	other.max_keys = 6;
	ck_assert_ptr_null(rv_window_restore(&other, buf, len));
	other = spec;
	other.max_events = 7;
	ck_assert_ptr_null(rv_window_restore(&other, buf, len));
	other = spec;
	other.kinds = ok;
	ck_assert_ptr_null(rv_window_restore(&other, buf, len));
	/*
	 * Valid checksums over impossible contents. Layout (window.h): the header is
	 * 4+4+8+4+4 (kinds)+4+4 = 32 bytes, then now at 32, counters, nkeys at 64;
	 * the least recently updated key first, "yy" at 68: keylen, "yy", nevents
	 * at 74, sum state (20) at 78, first event's time at 98, its mask at 106.
	 */
	memcpy(bad, buf, len);
	put64le(bad + 98, 31);                      /* an event after now (30) */
	put64le(bad + len - 8, XXH64(bad, len - 8, 0));
	ck_assert_ptr_null(rv_window_restore(&spec, bad, len));
	memcpy(bad, buf, len);
	bad[64] = 6;                                /* more keys than max_keys */
	put64le(bad + len - 8, XXH64(bad, len - 8, 0));
	ck_assert_ptr_null(rv_window_restore(&spec, bad, len));
	memcpy(bad, buf, len);
	bad[74] = 9;                                /* more events than max_events */
	put64le(bad + len - 8, XXH64(bad, len - 8, 0));
	ck_assert_ptr_null(rv_window_restore(&spec, bad, len));
	memcpy(bad, buf, len);
	bad[106] |= 1;                              /* an input bit for COUNT */
	put64le(bad + len - 8, XXH64(bad, len - 8, 0));
	ck_assert_ptr_null(rv_window_restore(&spec, bad, len));
	/* the good bytes restore, and the restored window continues like the original */
	w2 = rv_window_restore(&spec, buf, len);
	ck_assert_ptr_nonnull(w2);
	{
		double o1[4], o2[4];
		uint8_t h1[4], h2[4];

		rv_window_add(w, "x", 1, 1015, in, o1, h1);
		rv_window_add(w2, "x", 1, 1015, in, o2, h2);
		ck_assert(memcmp(o1, o2, sizeof o1) == 0 && memcmp(h1, h2, sizeof h1) == 0);
		ck_assert(o1[0] == 2 && o1[1] == 5 && o1[3] == 1);
	}
	rv_window_free(w2);
	rv_window_free(w);
	free(buf);
	free(bad);
}
END_TEST


/* ---- sequences and absences through libroute ---------------------------------------
 *
 * Programs compiled from source, run on a virtual clock: a `then` completes
 * once per first event within its window, an `unless` fires at its deadline
 * (route_matcher_tick) unless the awaited event cancelled it, and a restored
 * snapshot still holds pending first events and fires armed deadlines.
 */

#define SEQ_EV \
	"event a v1 { k: string, n: number }\n" \
	"event b v1 { k: string, m: number }\n" \
	"event out v1 { k: string, n: number, m: number }\n" \
	"destination d\n"

#define T0 1704067200000LL /* 2024-01-01T00:00:00Z */

struct seqrun {
	route_prog *p;
	route_matcher *m;
	route_state *st;
};

/* Compiles and loads src with a fresh state at T0; fails the test on errors. */
static void
seq_open(struct seqrun *r, const char *src)
{
	struct rc_options o;
	unsigned char *rbc = NULL;
	size_t len = 0;
	char err[256];

	rc_options_default(&o);
	o.nowarn = 1;
	o.diag = stderr;
	ck_assert_int_eq(rc_compile_string("seq.route", src, strlen(src), &o, &rbc, &len, NULL), RC_EXIT_OK);
	r->p = route_prog_load(rbc, len, NULL, err, sizeof err);
	ck_assert_msg(r->p != NULL, "load: %s", err);
	ru_free(rbc);
	r->m = route_matcher_new(r->p);
	r->st = route_state_new(r->p);
	ck_assert(r->m && r->st);
	route_state_set_time(r->st, T0);
	route_matcher_set_state(r->m, r->st);
}

static void
seq_close(struct seqrun *r)
{
	route_matcher_free(r->m);
	route_state_free(r->st);
	route_prog_free(r->p);
}

/* Routes one event {"event_type":type, "k":k, field:v}; returns the decision. */
static void
seq_send(struct seqrun *r, const char *type, const char *k, const char *field, int v, struct route_decision *d)
{
	char ev[256];
	int n = snprintf(ev, sizeof ev, "{\"event_type\":\"%s\",\"k\":\"%s\",\"%s\":%d}", type, k, field, v);

	ck_assert_int_eq(route_match(r->m, ev, (size_t)n, d), ROUTE_OK);
}

/* Does the decision emit an `out` event containing the text want? */
static int
emitted(const struct route_decision *d, const char *want)
{
	uint32_t i;

	for (i = 0; i < d->nemits; i++)
		if (memmem(d->emits[i].json, d->emits[i].len, want, strlen(want)) != NULL)
			return 1;
	return 0;
}

START_TEST(test_seq_then_completes_once)
{
	struct seqrun r;
	struct route_decision d;
	struct route_rule_stats rs;

	seq_open(&r, SEQ_EV "rule s on a as x then b as y where y.k == x.k within 10s\n"
		"  emit out { k: x.k, n: x.n, m: y.m } route d\n");
	seq_send(&r, "a", "1", "n", 5, &d);
	ck_assert_uint_eq(d.nrules, 0); /* the first event waits */
	route_state_advance(r.st, 5000);
	seq_send(&r, "b", "2", "m", 6, &d); /* another key: nothing */
	ck_assert_uint_eq(d.nrules, 0);
	seq_send(&r, "b", "1", "m", 7, &d);
	ck_assert_uint_eq(d.nrules, 1);
	ck_assert_uint_eq(d.ndests, 1);
	ck_assert_msg(emitted(&d, "\"k\":\"1\",\"n\":5,\"m\":7"), "%.*s", d.nemits ? (int)d.emits[0].len : 0,
		d.nemits ? d.emits[0].json : "");
	seq_send(&r, "b", "1", "m", 8, &d); /* completed: once per first event */
	ck_assert_uint_eq(d.nrules, 0);
	seq_send(&r, "a", "3", "n", 1, &d);
	route_state_advance(r.st, 10000); /* the window ran out */
	seq_send(&r, "b", "3", "m", 1, &d);
	ck_assert_uint_eq(d.nrules, 0);
	ck_assert_int_eq(route_matcher_tick(r.m, &d), 0); /* a sequence never fires on a tick */
	ck_assert_int_eq(route_state_rule_stats(r.st, 0, &rs), 0);
	ck_assert_uint_eq(rs.entered, 2);
	ck_assert_uint_eq(rs.fired, 1);
	ck_assert_uint_eq(rs.expired, 1);
	ck_assert_uint_eq(rs.pending, 0);
	seq_close(&r);
}
END_TEST

START_TEST(test_seq_unless_fires_at_deadline)
{
	struct seqrun r;
	struct route_decision d;
	struct route_rule_stats rs;

	seq_open(&r, SEQ_EV "rule u on a as x when n > 0 unless b where k == x.k within 10s\n"
		"  emit out { k: x.k, n: x.n, m: 0 } route d\n");
	seq_send(&r, "a", "1", "n", 5, &d);
	seq_send(&r, "a", "2", "n", 6, &d);
	seq_send(&r, "a", "9", "n", 0, &d); /* filtered out by `when` */
	ck_assert_int_eq(route_state_next_deadline(r.st), T0 + 10000);
	route_state_advance(r.st, 3000);
	seq_send(&r, "b", "2", "m", 1, &d); /* cancels key 2 */
	ck_assert_uint_eq(d.nrules, 0);
	route_state_advance(r.st, 6999);
	ck_assert_int_eq(route_matcher_tick(r.m, &d), 0); /* 1 ms early */
	route_state_advance(r.st, 1);
	ck_assert_int_eq(route_matcher_tick(r.m, &d), 1);
	ck_assert_uint_eq(d.nrules, 1);
	ck_assert_uint_eq(d.rules[0], 0);
	ck_assert(emitted(&d, "\"k\":\"1\",\"n\":5,\"m\":0"));
	ck_assert_uint_eq(d.ndests, 1); /* `route d` delivers the first event, kept since it came */
	ck_assert(memmem(d.output, d.output_len, "\"k\":\"1\"", 7) != NULL);
	ck_assert_int_eq(route_matcher_tick(r.m, &d), 0); /* key 2 was cancelled */
	ck_assert_int_eq(route_state_next_deadline(r.st), INT64_MAX);
	ck_assert_int_eq(route_state_rule_stats(r.st, 0, &rs), 0);
	ck_assert_uint_eq(rs.fired, 1);
	ck_assert_uint_eq(rs.cancelled, 1);
	ck_assert_uint_eq(rs.pending, 0);
	seq_close(&r);
}
END_TEST

/* A snapshot taken with a pending `then` and an armed deadline restores both. */
START_TEST(test_seq_snapshot_restore_fires)
{
	static const char src[] = SEQ_EV
		"rule s on a as x then b as y where y.k == x.k within 1m emit out { k: x.k, n: x.n, m: y.m }\n"
		"rule u on a as x unless b where k == x.k within 10s emit out { k: x.k, n: x.n, m: -1 }\n";
	struct seqrun r, r2;
	struct route_decision d;
	struct route_restore_report rep;
	unsigned char *snap;
	size_t n;
	char err[256];

	seq_open(&r, src);
	seq_send(&r, "a", "1", "n", 5, &d);
	route_state_advance(r.st, 2000);
	n = route_state_snapshot(r.st, NULL, 0);
	snap = ru_malloc(n);
	ck_assert_uint_eq(route_state_snapshot(r.st, snap, n), n);
	seq_open(&r2, src);
	route_state_set_time(r2.st, 0);
	ck_assert_msg(route_state_restore(r2.st, snap, n, &rep, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(rep.rules, 2);
	ck_assert_int_eq(route_state_time(r2.st), T0 + 2000);
	ck_assert_int_eq(route_state_next_deadline(r2.st), T0 + 10000);
	route_state_advance(r2.st, 8000);
	ck_assert_int_eq(route_matcher_tick(r2.m, &d), 1);
	ck_assert(emitted(&d, "\"k\":\"1\",\"n\":5,\"m\":-1"));
	ck_assert_int_eq(route_matcher_tick(r2.m, &d), 0);
	seq_send(&r2, "b", "1", "m", 3, &d); /* the restored `then` completes */
	ck_assert(emitted(&d, "\"k\":\"1\",\"n\":5,\"m\":3"));
	/* a corrupt snapshot is refused */
	snap[n / 2] ^= 1;
	ck_assert_int_eq(route_state_restore(r2.st, snap, n, NULL, err, sizeof err), -1);
	ru_free(snap);
	seq_close(&r);
	seq_close(&r2);
}
END_TEST

/* every: each key's period is evaluated at the period's end, once, in its own period. */
START_TEST(test_every_reports_at_period_end)
{
	struct seqrun r;
	struct route_decision d;
	struct route_rule_stats rs;
	int fired = 0;

	seq_open(&r, SEQ_EV "rule t on a when n > 0 and count() >= 2 and sum(n) > 10 and avg(n) >= 5 by k every 1m\n"
		"  emit out { k: k, n: 1, m: 2 }\n");
	route_state_advance(r.st, 30000); /* 00:00:30 */
	seq_send(&r, "a", "x", "n", 6, &d);
	seq_send(&r, "a", "x", "n", 6, &d);   /* x: 2 events, sum 12: fires */
	seq_send(&r, "a", "y", "n", 20, &d);  /* y: 1 event: below */
	seq_send(&r, "a", "z", "n", 0, &d);   /* filtered out */
	ck_assert_uint_eq(d.nrules, 0);
	route_state_advance(r.st, 29999);     /* 00:00:59.999 */
	ck_assert_int_eq(route_matcher_tick(r.m, &d), 0);
	seq_send(&r, "a", "y", "n", 1, &d);   /* y: now 2 events, sum 21, avg 10.5: fires */
	route_state_advance(r.st, 1);         /* 00:01:00: the period ends */
	seq_send(&r, "a", "x", "n", 9, &d);   /* the next period, before the tick: its own entry */
	while (route_matcher_tick(r.m, &d) > 0) {
		ck_assert_uint_eq(d.nemits, 1);
		ck_assert(emitted(&d, "\"k\":\"x\"") || emitted(&d, "\"k\":\"y\""));
		fired++;
	}
	ck_assert_int_eq(fired, 2);
	ck_assert_int_eq(route_state_next_deadline(r.st), T0 + 120000);
	route_state_advance(r.st, 60000);
	ck_assert_int_eq(route_matcher_tick(r.m, &d), 0); /* x had 1 event in the second period */
	ck_assert_int_eq(route_state_rule_stats(r.st, 0, &rs), 0);
	ck_assert_uint_eq(rs.fired, 2);
	ck_assert_uint_eq(rs.below, 1);
	ck_assert_uint_eq(rs.pending, 0);
	seq_close(&r);
}
END_TEST

/* Event time: late events are counted and not counted in; the newest time survives a snapshot. */
START_TEST(test_event_time_late_and_snapshot)
{
	static const char src[] = SEQ_EV "rule w on a when count() >= 2 by k within 10s timestamp n lateness 2s route d\n";
	struct seqrun r, r2;
	struct route_decision d;
	struct route_rule_stats rs;
	unsigned char *snap;
	size_t n;
	char err[256];

	seq_open(&r, src);
	seq_send(&r, "a", "x", "n", 100000, &d);
	seq_send(&r, "a", "x", "n", 97000, &d);  /* 3 s late: not counted */
	ck_assert_uint_eq(d.nrules, 0);
	seq_send(&r, "a", "x", "n", 99000, &d);  /* 1 s late: counted */
	ck_assert_uint_eq(d.nrules, 1);
	ck_assert_int_eq(route_state_rule_stats(r.st, 0, &rs), 0);
	ck_assert_uint_eq(rs.late, 1);
	ck_assert_uint_eq(rs.entered, 3);
	n = route_state_snapshot(r.st, NULL, 0);
	snap = ru_malloc(n);
	ck_assert_uint_eq(route_state_snapshot(r.st, snap, n), n);
	seq_open(&r2, src);
	ck_assert_msg(route_state_restore(r2.st, snap, n, NULL, err, sizeof err) == 0, "%s", err);
	seq_send(&r2, "a", "y", "n", 97000, &d); /* still late after the restore */
	ck_assert_int_eq(route_state_rule_stats(r2.st, 0, &rs), 0);
	ck_assert_uint_eq(rs.late, 2);
	ru_free(snap);
	seq_close(&r);
	seq_close(&r2);
}
END_TEST

/*
 * Property: random streams of first and second events over a few keys,
 * with ticks before each event (as a service runs them), against a
 * reference: per key the pending first event (replaced by a newer one);
 * `then` completes when the second event comes less than `within` after
 * the first; `unless` fires at deadline = first + within, in deadline order
 * (ties in arrival order), unless a second event came strictly before it.
 */
#define SK 6
struct sref {
	int live;
	int64_t t;       /* arrival of the first event */
	int n;           /* its value */
	uint64_t order;  /* arrival number (tie order of deadlines) */
};

START_TEST(test_seq_property)
{
	static const char src[] = SEQ_EV
		"rule s on a as x then b as y where y.k == x.k within 7s emit out { k: x.k, n: x.n, m: y.m }\n"
		"rule u on a as x unless b where k == x.k within 5s emit out { k: x.k, n: x.n, m: -1 }\n";
	uint64_t seed = seeds[_i];
	struct seqrun r;
	struct sref then_ref[SK], unless_ref[SK];
	struct route_decision d;
	char want[96];
	uint64_t order = 0;
	int64_t now = T0;
	int step, k;

	memset(then_ref, 0, sizeof then_ref);
	memset(unless_ref, 0, sizeof unless_ref);
	seq_open(&r, src);
	for (step = 0; step < 3000; step++) {
		int64_t dt = (int64_t)below(&seed, 4) == 0 ? (int64_t)below(&seed, 9000) : (int64_t)below(&seed, 800);
		int is_a = (int)below(&seed, 2), v = (int)below(&seed, 1000);
		char key[4];

		k = (int)below(&seed, SK);
		snprintf(key, sizeof key, "k%d", k);
		now += dt;
		route_state_set_time(r.st, now);
		/* every deadline <= now fires first, in order */
		for (;;) {
			int best = -1, j;

			for (j = 0; j < SK; j++)
				if (unless_ref[j].live && unless_ref[j].t + 5000 <= now
				    && (best < 0 || unless_ref[j].t + 5000 < unless_ref[best].t + 5000
					|| (unless_ref[j].t == unless_ref[best].t && unless_ref[j].order < unless_ref[best].order)))
					best = j;
			if (best < 0)
				break;
			ck_assert_int_eq(route_matcher_tick(r.m, &d), 1);
			snprintf(want, sizeof want, "\"k\":\"k%d\",\"n\":%d,\"m\":-1", best, unless_ref[best].n);
			ck_assert_msg(emitted(&d, want), "seed %llu step %d: want %s, got %.*s", (unsigned long long)seeds[_i],
				step, want, d.nemits ? (int)d.emits[0].len : 0, d.nemits ? d.emits[0].json : "");
			unless_ref[best].live = 0;
		}
		ck_assert_int_eq(route_matcher_tick(r.m, &d), 0);
		if (is_a) {
			seq_send(&r, "a", key, "n", v, &d);
			ck_assert_uint_eq(d.nrules, 0);
			then_ref[k] = (struct sref){ 1, now, v, order };
			unless_ref[k] = (struct sref){ 1, now, v, order };
			order++;
		} else {
			int fires = then_ref[k].live && now - then_ref[k].t < 7000;

			seq_send(&r, "b", key, "m", v, &d);
			ck_assert_msg(d.nrules == (uint32_t)fires, "seed %llu step %d: then fired %u, want %d",
				(unsigned long long)seeds[_i], step, d.nrules, fires);
			if (fires) {
				snprintf(want, sizeof want, "\"k\":\"k%d\",\"n\":%d,\"m\":%d", k, then_ref[k].n, v);
				ck_assert_msg(emitted(&d, want), "seed %llu step %d: want %s", (unsigned long long)seeds[_i],
					step, want);
			}
			then_ref[k].live = 0;
			unless_ref[k].live = 0; /* a pending deadline (> now) is cancelled */
		}
	}
	seq_close(&r);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------- */

static Suite *
temporal_suite(void)
{
	Suite *s = suite_create("temporal");
	TCase *tw = tcase_create("twheel"), *tn = tcase_create("window"), *tq = tcase_create("sequence");

	tcase_set_timeout(tw, 60);
	tcase_set_timeout(tn, 60);
	tcase_add_test(tw, test_twheel_order_and_next);
	tcase_add_test(tw, test_twheel_past_deadlines_and_no_going_back);
	tcase_add_test(tw, test_twheel_cancel_and_stale_handles);
	tcase_add_test(tw, test_twheel_large_jumps);
	tcase_add_test(tw, test_twheel_fire_adds_and_cancels);
	tcase_add_test(tw, test_twheel_oom);
	tcase_add_loop_test(tw, test_twheel_property, 0, NSEEDS);
	tcase_add_loop_test(tw, test_twheel_snapshot_continues, 0, NSEEDS);
	tcase_add_test(tw, test_twheel_snapshot_refuses_bad_bytes);
	suite_add_tcase(s, tw);
	tcase_add_test(tn, test_window_boundary);
	tcase_add_test(tn, test_window_ring_shrinks);
	tcase_add_test(tn, test_window_aggregates);
	tcase_add_test(tn, test_window_bounds_and_expiry);
	tcase_add_test(tn, test_window_memory_follows_keys);
	tcase_add_test(tn, test_window_bad_spec);
	tcase_add_test(tn, test_window_oom_leaves_state);
	tcase_add_test(tn, test_window_sum_does_not_drift);
	tcase_add_loop_test(tn, test_window_property, 0, NSEEDS);
	tcase_add_loop_test(tn, test_window_property_all_aggregates, 0, NSEEDS);
	tcase_add_test(tn, test_window_snapshot_refuses_bad_bytes);
	suite_add_tcase(s, tn);
	tcase_set_timeout(tq, 60);
	tcase_add_test(tq, test_seq_then_completes_once);
	tcase_add_test(tq, test_seq_unless_fires_at_deadline);
	tcase_add_test(tq, test_seq_snapshot_restore_fires);
	tcase_add_loop_test(tq, test_seq_property, 0, NSEEDS);
	tcase_add_test(tq, test_every_reports_at_period_end);
	tcase_add_test(tq, test_event_time_late_and_snapshot);
	suite_add_tcase(s, tq);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(temporal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
