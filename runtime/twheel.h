/*
 * twheel.h -- a hierarchical timer wheel over virtual time (twheel.c), for
 * the deadlines of temporal rules: absence timers, window ends, idle-key
 * expiry. Hand-written: it is part of the product, not generated.
 *
 * Time is int64 Unix milliseconds chosen by the caller (a virtual clock in
 * tests and `routec test`, the real clock in routed); the wheel never reads
 * a clock. A wheel is used by one thread at a time (state is sharded by key
 * by the caller). route.c drives it; window.c is its neighbour.
 */
#ifndef RV_TWHEEL_H
#define RV_TWHEEL_H

#include <stddef.h>
#include <stdint.h>

struct rv_twheel;

/* Called once per fired timer: its id and deadline (ud borrowed from advance). */
typedef void rv_twheel_fire_fn(void *ud, uint64_t id, int64_t deadline_ms);

/*
 * A new empty wheel whose current time is now_ms. The caller owns it and
 * releases it with rv_twheel_free(). NULL on out-of-memory.
 */
struct rv_twheel *rv_twheel_new(int64_t now_ms);
/* Frees w and every pending timer (NULL is allowed). */
void rv_twheel_free(struct rv_twheel *w);

/*
 * Adds a timer for deadline_ms carrying id (opaque to the wheel). Returns a
 * handle for rv_twheel_cancel(), or RV_NONE (0xffffffff) on out-of-memory or
 * when 2^24 - 1 timers are already pending. A deadline <= the current time
 * fires on the next advance. O(1).
 *
 * Handles: the low 24 bits index a timer record, the high 8 bits are that
 * record's generation, bumped each time the record is freed (fired or
 * cancelled). Records are reused first-freed first (a FIFO free list), so a
 * stale handle names a live timer only after its record was reused 256
 * times -- at least 256 times as many frees as there are free records; the
 * caller should drop a handle once its timer fired or was cancelled.
 */
uint32_t rv_twheel_add(struct rv_twheel *w, int64_t deadline_ms, uint64_t id);

/* Cancels the timer of handle; a stale or invalid handle is ignored. O(1). */
void rv_twheel_cancel(struct rv_twheel *w, uint32_t handle);

/*
 * Moves the wheel's time to now_ms (a smaller value is ignored: time never
 * goes back, but due timers still fire) and calls fire for every timer whose
 * deadline is <= now_ms, in deadline order, ties in the order they were
 * added. Returns how many fired. fire may add and cancel timers: one added
 * for a deadline <= now_ms fires in this same call. A timer's handle is
 * already stale when fire is called for it. fire must not call
 * rv_twheel_advance or rv_twheel_free on the same wheel.
 *
 * Cost: O(1) amortised per timer (each is moved down at most once per
 * level, 7 levels) plus one step per occupied slot reached; empty slots and
 * levels are skipped with per-level occupancy bitmaps, so a jump of 30 days
 * over a few timers takes a few steps, not 2.6e9.
 */
uint32_t rv_twheel_advance(struct rv_twheel *w, int64_t now_ms, rv_twheel_fire_fn *fire, void *ud);

/*
 * The earliest pending deadline, or INT64_MAX when no timer is pending.
 * Cost: O(timers in the first occupied slot) (and of the due list).
 */
int64_t rv_twheel_next(const struct rv_twheel *w);

/* The wheel's current time (the largest now_ms advanced to, or the start). */
int64_t rv_twheel_now(const struct rv_twheel *w);
/* Pending timers. */
size_t rv_twheel_count(const struct rv_twheel *w);
/* Bytes the wheel holds (its struct and its timer records). */
size_t rv_twheel_bytes(const struct rv_twheel *w);

/*
 * Snapshot: writes the wheel's time and every pending timer (id, deadline)
 * into buf when cap is large enough, and returns the size needed either way
 * (call with cap 0 to size the buffer). The bytes are:
 *
 *   0    "RVTW"        magic
 *   4    u32 version   1
 *   8    i64 now_ms
 *   16   u32 count
 *   20   count x { i64 deadline_ms, u64 id }
 *   ..   u64 XXH64 (seed 0) of every byte before it
 *
 * little-endian. Timers of equal deadline are written in the order they were
 * added.
 *
 * Restore: a new wheel (owned by the caller) at the snapshot's time with the
 * same timers, ids and deadlines, and the same firing order; the handles are
 * new (the old ones mean nothing to the restored wheel). The bytes are
 * untrusted: NULL on a bad magic, version, length or checksum, and on
 * out-of-memory.
 */
size_t rv_twheel_snapshot(const struct rv_twheel *w, unsigned char *buf, size_t cap);
struct rv_twheel *rv_twheel_restore(const unsigned char *buf, size_t len);

#endif
