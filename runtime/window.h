/*
 * window.h -- exact sliding-window aggregates per key (window.c): the state
 * of `when count() >= 3 by customer_id within 10m` (docs/language.md §9.3).
 * Hand-written: it is part of the product, not generated.
 *
 * Semantics, exact: a window holds, per key, the events added for that key;
 * at time t the window of a key is its events with time > t - within_ms
 * (an event of time t - within_ms has just left). Over those events:
 *
 *   COUNT     number of events (inputs ignored)
 *   SUM       sum of num over the events whose input has (0 when none)
 *   AVG       SUM / their number; undefined (out_has 0) when none
 *   MIN, MAX  of num over the events whose input has; undefined when none
 *   DISTINCT  number of distinct hash values among the events whose input has
 *   RATE      COUNT / (within_ms / 1000.0): events per second (inputs ignored)
 *
 * Bounds, both counted: a key keeps at most max_events events (adding one
 * more first drops its oldest event: `dropped`), and the window at most
 * max_keys keys (a new key first evicts the least recently updated key and
 * all its events: `evicted`). rv_window_expire() frees the keys whose newest
 * event has left the window (`expired`); until then such a key still counts
 * towards max_keys. Times are non-decreasing per window: a time older than
 * the latest one seen is taken as the latest.
 *
 * Sums are kept incrementally with Neumaier's compensated summation and
 * recomputed from the events in the window once as many events have left as
 * remain (and reset when none remain), so they stay within a few ulps of the
 * sum of the window's |values| (amortised O(1)). No locks: one window is used
 * by one thread at a time (the caller shards state by key). route.c drives
 * it; twheel.h is the timer wheel that calls rv_window_expire.
 */
#ifndef RV_WINDOW_H
#define RV_WINDOW_H

#include <stddef.h>
#include <stdint.h>

enum rv_agg { RV_AGG_COUNT, RV_AGG_SUM, RV_AGG_AVG, RV_AGG_MIN, RV_AGG_MAX, RV_AGG_DISTINCT, RV_AGG_RATE };

#define RV_WINDOW_MAX_AGGS 64 /* naggs limit (the per-event input mask is 64 bits) */

struct rv_wspec {
	int64_t within_ms;      /* window length, >= 1 */
	uint32_t naggs;         /* 1 .. RV_WINDOW_MAX_AGGS */
	const uint8_t *kinds;   /* borrows: naggs enum rv_agg (rv_window_new copies them) */
	uint32_t max_keys;      /* >= 1 */
	uint32_t max_events;    /* per key, >= 1 */
};

/* One aggregate's input from the event being added. */
struct rv_agg_in {
	int has;                /* 0: the field is missing (skipped by SUM/AVG/MIN/MAX/DISTINCT) */
	double num;             /* SUM, AVG, MIN, MAX */
	uint64_t hash;          /* DISTINCT: 64-bit hash of the value, computed by the caller */
};

struct rv_window_stats {
	uint64_t keys;          /* keys held (including idle ones not yet expired) */
	uint64_t events;        /* events held (including ones that left the window: they
	                         * are dropped at the key's next add, or with the key) */
	uint64_t bytes;         /* bytes allocated by the window */
	uint64_t evicted;       /* keys evicted at max_keys */
	uint64_t expired;       /* keys freed by rv_window_expire */
	uint64_t dropped;       /* events dropped early at max_events */
};

struct rv_window;

/*
 * A new empty window for spec (copied, kinds included). The caller owns the
 * result and releases it with rv_window_free(). NULL when the spec is out of
 * range (within_ms < 1, naggs 0 or > RV_WINDOW_MAX_AGGS, an unknown kind,
 * max_keys or max_events 0) or on out-of-memory.
 */
struct rv_window *rv_window_new(const struct rv_wspec *spec);
/* Frees w, every key and every event (NULL is allowed). */
void rv_window_free(struct rv_window *w);

/*
 * Adds one event for the key (keylen bytes, copied; any bytes) at now_ms with
 * the inputs in[0..naggs), drops the key's events that left the window (and
 * its oldest at max_events), and writes each aggregate over the window
 * including this event: out[i], and out_has[i] = 0 when it is undefined
 * (then out[i] is 0). in is read only for SUM .. DISTINCT (it may be NULL
 * when every aggregate is COUNT or RATE); key, in, out and out_has are
 * borrowed for the call. Returns 0, or -1 on out-of-memory: the window then
 * holds the same events as before, apart from ones that had left the window
 * anyway (no key is evicted, nothing is counted).
 * Cost: O(1) amortised per event and aggregate, plus the events leaving.
 */
int rv_window_add(struct rv_window *w, const void *key, size_t keylen, int64_t now_ms,
	const struct rv_agg_in *in, double *out, uint8_t *out_has);

/*
 * Frees the keys whose newest event has left the window at now_ms (time as
 * in rv_window_add), counting them as expired. O(1 + keys freed): keys are
 * kept in update order, so the candidates are the oldest.
 */
void rv_window_expire(struct rv_window *w, int64_t now_ms);

/* Fills *s with the window's sizes and counters. */
void rv_window_stats(const struct rv_window *w, struct rv_window_stats *s);

/*
 * Snapshot, as rv_twheel_snapshot: writes when cap suffices, returns the
 * size needed. The bytes are little-endian:
 *
 *   "RVWN"  u32 version 1
 *   spec:   i64 within_ms, u32 naggs, naggs x u8 kind, u32 max_keys, u32 max_events
 *   i64 now  u64 evicted  u64 expired  u64 dropped  u32 nkeys
 *   nkeys x key, least recently updated first:
 *     u32 keylen, keylen bytes, u32 nevents (1 .. max_events),
 *     per SUM/AVG aggregate: f64 sum, f64 compensation, u32 left since recompute
 *     nevents x event, oldest first: i64 time, u64 input mask (bit i: aggregate i has),
 *                                   then per SUM/AVG/MIN/MAX/DISTINCT aggregate: u64 num bits or hash
 *   u64 XXH64 (seed 0) of every byte before it
 *
 * Restore: a new window (owned by the caller) equal to the one snapshotted:
 * the same events, sums and counters, so it gives the same outputs. The
 * bytes are untrusted: NULL on a bad magic, version, length or checksum, on
 * a spec that differs from *spec, on contents the window could not have had
 * (times out of order or after now, a duplicate key, too many keys or
 * events), and on out-of-memory.
 */
size_t rv_window_snapshot(const struct rv_window *w, unsigned char *buf, size_t cap);
struct rv_window *rv_window_restore(const struct rv_wspec *spec, const unsigned char *buf, size_t len);

#endif
