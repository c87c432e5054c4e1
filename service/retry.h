/*
 * retry.h -- the delivery policy's arithmetic, apart from any transport so
 * that it can be unit-tested: which attempt outcomes are retried, the
 * backoff of the k-th retry (exponential, full jitter), Retry-After, and
 * when a message is given up; also the throttle and the batch timing of a
 * destination. Used by webhook.c and pipeline.c; the policy itself comes
 * from the compiled rules (route_dest_policy in route.h).
 *
 *   retry k (k = 1 .. retry_max) is due at
 *       max(now + U[0, min(backoff_max, backoff_min * 2^(k-1))],  now + Retry-After)
 *   and is not made when that is past accepted + max_age (given up: max_age)
 *   or when k > retry_max (given up: retries_exhausted).
 */
#ifndef RD_RETRY_H
#define RD_RETRY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "route.h"

/* Why one attempt failed: the reason label of routed_sink_failures_total. */
#define RD_FAIL_REASONS(X) \
	X(TIMEOUT, "timeout")          /* the attempt's timeout passed (retried) */ \
	X(CONNECTION, "connection")    /* connect refused, reset, nothing or half an answer (retried) */ \
	X(TLS, "tls")                  /* the TLS handshake or the certificate check failed (retried) */ \
	X(HTTP_408, "http_408")        /* retried */ \
	X(HTTP_429, "http_429")        /* retried, not before Retry-After */ \
	X(HTTP_5XX, "http_5xx")        /* retried, not before Retry-After */ \
	X(HTTP_410, "http_410")        /* Gone: dead-lettered at once */ \
	X(HTTP_4XX, "http_4xx")        /* any other 4xx: dead-lettered at once */ \
	X(HTTP_OTHER, "http_other")    /* 1xx, 3xx (redirects are not followed): dead-lettered at once */ \
	X(WRITE, "write")              /* a queue, stdout or file sink's write failed (retried) */ \
	X(EXEC, "exec")                /* an exec sink's command exited non-zero, or by a signal (retried) */ \
	X(KAFKA, "kafka")              /* a kafka sink's broker refused the message (retried) */ \
	X(RABBITMQ, "rabbitmq")        /* a rabbitmq sink's broker refused or returned the message (retried) */ \
	X(OTHER, "other")              /* any other transfer error (retried) */
enum rd_fail {
#define X(id, s) RD_FAIL_##id,
	RD_FAIL_REASONS(X)
#undef X
	RD_FAIL__COUNT
};

/* For the sinks that return 0, or -1 with the reason's kind in *fail (RD_FAIL_TIMEOUT is 0, so a
 * kind is never a return value): sets *fail to why and returns -1. */
static inline int
rd_failed(int *fail, int why)
{
	*fail = why;
	return -1;
}

/* Why a message was given up: the "reason" of its dead-letter envelope. */
#define RD_GIVEUP_REASONS(X) \
	X(REJECTED, "rejected")                 /* a status that is not retried (410, other 4xx, 3xx) */ \
	X(RETRIES, "retries_exhausted")         /* retry_max retries failed */ \
	X(MAX_AGE, "max_age")                   /* the next retry would come after max_age */ \
	X(SHUTDOWN, "shutdown")                 /* still failing when drain_timeout ran out */
enum rd_giveup {
#define X(id, s) RD_GIVEUP_##id,
	RD_GIVEUP_REASONS(X)
#undef X
	RD_GIVEUP__COUNT
};

/* "timeout", ... for an enum rd_fail; "retries_exhausted", ... for an enum rd_giveup. */
const char *rd_fail_name(int fail);
const char *rd_giveup_name(int why);

/* The failure an HTTP status stands for; -1 for 2xx (delivered). */
int rd_fail_of_status(long status);
/* 1 when an attempt that failed for this reason is retried, else 0. */
int rd_fail_retried(int fail);

/*
 * The k-th retry's backoff (k >= 1) in ms: rnd reduced into
 * [0, min(backoff_max, backoff_min * 2^(k-1))] (full jitter).
 */
uint64_t rd_retry_backoff_ms(const struct route_dest_policy *p, unsigned k, uint64_t rnd);

/*
 * Parses a Retry-After value v[0..len): delay-seconds, or an HTTP-date
 * (compared with now, wall-clock seconds). Returns 0 with the delay in *ms
 * (0 for a date in the past), or -1 when it is neither.
 */
int rd_retry_after_parse(const char *v, size_t len, time_t now, uint64_t *ms);

/*
 * After attempt number `attempts` (1 = the first) of a message accepted at
 * accept_ms failed with a retried failure at now_ms (both monotonic ms):
 * returns -1 and sets *due_ms to when the next attempt may start (never
 * before now_ms + retry_after_ms), or returns the enum rd_giveup (RETRIES or
 * MAX_AGE) saying why there is no next attempt. rnd is a fresh random number.
 * A Retry-After wait is counted from now_ms + 1, since now_ms is truncated.
 */
int rd_retry_next(const struct route_dest_policy *p, unsigned attempts, uint64_t accept_ms,
	uint64_t now_ms, uint64_t retry_after_ms, uint64_t rnd, uint64_t *due_ms);

/* A 64-bit pseudo-random number from *state (splitmix64; not for secrets). */
uint64_t rd_rand64(uint64_t *state);

/*
 * The destination throttle `throttle N per T`: at most N deliveries start in
 * any window of T (half-open, [t, t + T)); the excess waits, nothing is
 * dropped. For N up to RD_THROTTLE_RING the start times of the last N
 * deliveries are kept (a sliding log: bursts of N are allowed, exact); above
 * that, deliveries are spaced ceil(T / N) apart (no burst, still at most N
 * per T). Not thread-safe: the caller locks. Times are monotonic ns.
 */
#define RD_THROTTLE_RING 1024
struct rd_throttle {
	uint64_t per_ns;           /* T; 0: unthrottled (every take succeeds) */
	uint32_t n;                /* N */
	uint64_t *ring;            /* owns: [n] start times (sliding log), or NULL (spacing) */
	uint32_t head, count;      /* the oldest entry, entries held */
	uint64_t next_ns;          /* spacing: when the next delivery may start */
};
/* Sets t up for n per per_ms (n or per_ms 0: unthrottled). Returns 0, or -1 (out of memory). */
int rd_throttle_init(struct rd_throttle *t, uint32_t n, uint32_t per_ms);
void rd_throttle_fini(struct rd_throttle *t);
/*
 * One delivery wants to start at now_ns: returns 0 and counts it, or returns
 * how many ns to wait before asking again (nothing counted).
 */
uint64_t rd_throttle_take(struct rd_throttle *t, uint64_t now_ns);

/* A batch holds at most this many messages when only `batch every T` bounds it. */
#define RD_BATCH_CAP 10000
/*
 * Batching, `batch every T or N`: how long a batch of count messages
 * (count >= 1), whose first message was taken at first_ms, may still wait
 * for more at now_ms (monotonic ms): 0 when it is to be delivered now (no
 * batching, N reached, T passed, or RD_BATCH_CAP reached), UINT64_MAX when
 * only a count bounds it.
 */
uint64_t rd_batch_wait_ms(const struct route_dest_policy *p, size_t count, uint64_t first_ms,
	uint64_t now_ms);
/* 1 when the policy batches (batch every T and/or batch N), else 0. */
int rd_batching(const struct route_dest_policy *p);

#endif
