/*
 * temporal_bench.c -- micro-benchmark of the temporal runtime (not part of
 * `make check`; see bench/README.md): median ns per rv_window_add for 1,000
 * keys with `count() within 10m`, and per timer add + fire on the wheel
 * (10,000 timers: in cache; 1,000,000: a 32 MB pool), and a 30-day jump.
 *
 * Build and run from the source tree, with a configured build directory B
 * (for config.h):
 *   cc -O2 -I runtime -I B bench/temporal_bench.c runtime/twheel.c \
 *      runtime/window.c runtime/alloc.c -lxxhash -lm -o /tmp/temporal_bench
 *   /tmp/temporal_bench
 * Virtual time only; every figure is the median of PASSES passes.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twheel.h"
#include "window.h"

#define PASSES 7
#define NKEYS 1000
#define WIN_EVENTS 2000000      /* adds per pass, after a warm-up that fills the windows */
#define NTIMERS 1000000

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return v[n / 2];
}

static uint64_t sink;

static void
count_fire(void *ud, uint64_t id, int64_t deadline)
{
	(void)deadline;
	*(uint64_t *)ud += id;
}

int
main(void)
{
	static char keys[NKEYS][16];
	static uint16_t order[WIN_EVENTS];
	uint8_t kind = RV_AGG_COUNT;
	struct rv_wspec spec = { 10 * 60 * 1000, 1, &kind, NKEYS, 100000 };
	struct rv_window *w = rv_window_new(&spec);
	struct rv_window_stats st;
	struct rv_agg_in in = { 0, 0, 0 };
	double res[PASSES], out, t0;
	uint8_t has;
	uint64_t rng = 1;
	int64_t t = 0;
	int p, i;

	for (i = 0; i < NKEYS; i++)
		snprintf(keys[i], sizeof keys[i], "customer-%04d", i);
	for (i = 0; i < WIN_EVENTS; i++)
		order[i] = (uint16_t)(rnd(&rng) % NKEYS);
	/* one event per virtual ms: each key holds ~600 events of its last 10 minutes */
	for (i = 0; i < 700000; i++, t++)
		rv_window_add(w, keys[order[i % WIN_EVENTS]], strlen(keys[order[i % WIN_EVENTS]]), t, &in, &out, &has);
	for (p = 0; p < PASSES; p++) {
		t0 = now_ns();
		for (i = 0; i < WIN_EVENTS; i++, t++) {
			const char *k = keys[order[i]];

			rv_window_add(w, k, strlen(k), t, &in, &out, &has);
			sink += (uint64_t)out;
		}
		res[p] = (now_ns() - t0) / WIN_EVENTS;
	}
	rv_window_stats(w, &st);
	printf("window  count() within 10m by 1,000 keys: %.1f ns per rv_window_add (median of %d x %d adds; "
		"%llu events held, %.1f MB)\n", median(res, PASSES), PASSES, WIN_EVENTS,
		(unsigned long long)st.events, st.bytes / 1e6);
	rv_window_free(w);

	for (int nt = 10000; nt <= NTIMERS; nt *= 100) {
		static int64_t dl[NTIMERS];
		double jump[PASSES];

		for (i = 0; i < nt; i++)
			dl[i] = (int64_t)(rnd(&rng) % (10 * 60 * 1000));
		for (p = 0; p < PASSES; p++) {
			struct rv_twheel *tw = rv_twheel_new(0);
			uint64_t acc = 0;
			int64_t x;

			t0 = now_ns();
			for (i = 0; i < nt; i++)
				rv_twheel_add(tw, dl[i], (uint64_t)i);
			for (x = 0; x <= 10 * 60 * 1000; x += 10) /* a 10 ms tick over 10 minutes */
				rv_twheel_advance(tw, x, count_fire, &acc);
			res[p] = (now_ns() - t0) / nt;
			sink += acc;
			rv_twheel_free(tw);
			/* a 30-day jump over three timers */
			tw = rv_twheel_new(0);
			rv_twheel_add(tw, 1000, 1);
			rv_twheel_add(tw, INT64_C(15) * 86400000, 2);
			rv_twheel_add(tw, INT64_C(30) * 86400000, 3);
			t0 = now_ns();
			rv_twheel_advance(tw, INT64_C(30) * 86400000, count_fire, &acc);
			jump[p] = now_ns() - t0;
			rv_twheel_free(tw);
		}
		printf("twheel  add + fire, %d timers over 10m, 10 ms ticks (60,000 advances): %.1f ns per timer "
			"(median of %d)\n", nt, median(res, PASSES), PASSES);
		printf("twheel  advance by 30 days over 3 timers: %.0f ns (median of %d)\n", median(jump, PASSES), PASSES);
	}
	return sink == 42 ? 1 : 0;
}
