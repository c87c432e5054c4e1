/*
 * metrics.h -- routed's counters and the Prometheus text rendering.
 *
 * Every counter is a relaxed atomic incremented on the hot path (no lock, no
 * allocation); /metrics reads them without stopping anyone, so a scrape may
 * see counters a few events apart (each one is monotonic). The per-rule and
 * per-destination arrays are sized from the program when it is loaded.
 * Gauges owned by other modules (queue depths, bytes in flight) are rendered
 * by them (pipeline.c) after rd_metrics_render().
 */
#ifndef RD_METRICS_H
#define RD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "retry.h"
#include "route.h"

/* Why events were refused: the reason label of routed_events_rejected_total. */
#define RD_REJECT_REASONS(X) \
	X(INVALID, "invalid_event")            /* the flattener refused it (400) */ \
	X(BATCH, "batch_rejected")             /* valid, in a batch with an invalid event (400) */ \
	X(MALFORMED, "malformed_request")      /* body not splittable, bad CloudEvents headers (400) */ \
	X(TOO_LARGE, "too_large")              /* body over max_body_bytes (413) */ \
	X(MEDIA_TYPE, "unsupported_media_type") /* (415) */ \
	X(OVERLOADED, "overloaded")            /* memory cap or shutdown (503) */ \
	X(UNAUTHORIZED, "unauthorized")        /* a [source]'s authentication failed (401) */ \
	X(BACKPRESSURE, "backpressure")        /* a rule with `backpressure` fired (429) */
enum rd_reject {
#define X(id, s) RD_REJ_##id,
	RD_REJECT_REASONS(X)
#undef X
	RD_REJ__COUNT
};

/* Why emitted events were not routed: the reason label of routed_events_emit_unrouted_total. */
enum rd_emit_unrouted {
	RD_EMIT_DEPTH,             /* past [pipeline] emit_depth */
	RD_EMIT_OOM,               /* out of memory copying them */
	RD_EMIT__COUNT
};

#define RD_LAT_BUCKETS 14      /* routing decision latency buckets, +Inf apart */
#define RD_SINK_LAT_BUCKETS 15 /* sink attempt latency buckets, +Inf apart */
#define RD_E2E_BUCKETS 24      /* end-to-end latency buckets, +Inf apart */

/*
 * Per-rule and per-destination counters live in slots named by the rule or
 * destination: slot i is rule/destination i of the program routed started
 * with; a reload maps its program's names to slots (rd_metrics_rule_slot,
 * rd_metrics_dest_slot), adding new names up to the spare room below, so a
 * counter keeps counting across reloads and a removed name keeps its last
 * values.
 */
#define RD_METRICS_SPARE_RULES 1024 /* rule names reloads may add over the run */
#define RD_METRICS_SPARE_DESTS 64   /* destination names reloads may add over the run */

struct rd_metrics {
	const route_prog *prog;    /* borrows: the program routed started with */
	char **rule_names;         /* owns: [rule_cap], the first nrule_slots set (each owned) */
	char **dest_names;         /* owns: [dest_cap], the first ndest_slots set (each owned) */
	uint32_t rule_cap, dest_cap;
	_Atomic uint32_t nrule_slots, ndest_slots; /* slots in use (grown by reloads only) */
	/* rule reloads (reload.c) */
	atomic_uint_fast64_t reloads_ok, reloads_error;
	atomic_uint_fast64_t generation;     /* of the rules in use: 1 at start */
	atomic_uint_fast64_t loaded_unix_ms; /* when they were loaded */
	atomic_uint_fast64_t received, accepted, matched, unmatched, unknown, emitted;
	atomic_uint_fast64_t emit_unrouted[RD_EMIT__COUNT]; /* by enum rd_emit_unrouted */
	atomic_uint_fast64_t rejected[RD_REJ__COUNT];
	atomic_uint_fast64_t *rule_matches;  /* owns: [rule_cap], by rule slot */
	/* per rule slot, [rule_cap]: conditions the routers evaluated, those timed, and their
	 * time (route_matcher_rule_cost; published by each router about once a second) */
	atomic_uint_fast64_t *rule_evals, *rule_timed, *rule_timed_ns; /* owns */
	/* the per-destination arrays below are [dest_cap], by destination slot */
	atomic_uint_fast64_t *deliveries;    /* owns: [ndests] */
	atomic_uint_fast64_t *delivery_errors; /* owns: [ndests] */
	atomic_uint_fast64_t *sink_attempts; /* owns: [ndests] every attempt to deliver a message */
	atomic_uint_fast64_t *sink_retries;  /* owns: [ndests] attempts after a message's first */
	atomic_uint_fast64_t *sink_failures; /* owns: [ndests * RD_FAIL__COUNT] failed attempts by reason */
	atomic_uint_fast64_t *dlq;           /* owns: [ndests] messages given up (dead-lettered) */
	atomic_uint_fast64_t *sink_lat;      /* owns: [ndests * (RD_SINK_LAT_BUCKETS + 1)], non-cumulative */
	atomic_uint_fast64_t *sink_lat_sum_ns; /* owns: [ndests] */
	atomic_uint_fast64_t lat_bucket[RD_LAT_BUCKETS + 1]; /* non-cumulative; the last: over all bounds */
	atomic_uint_fast64_t lat_sum_ns;
	atomic_uint_fast64_t e2e_bucket[RD_E2E_BUCKETS + 1]; /* non-cumulative; the last: over all bounds */
	atomic_uint_fast64_t e2e_sum_ns;
	atomic_uint_fast64_t http_requests[12]; /* by the index of the code in metrics.c's http_codes */
};

/* Allocates the arrays for p. Returns 0, or -1 on out-of-memory. */
int rd_metrics_init(struct rd_metrics *m, const route_prog *p);
void rd_metrics_fini(struct rd_metrics *m);
/*
 * The slot of rule / destination name[0..len): the existing one, or a new
 * one when there is room. Returns it, or -1 (no room, out of memory). Called
 * by one thread at a time (start, then the reload).
 */
int rd_metrics_rule_slot(struct rd_metrics *m, const char *name, size_t len);
int rd_metrics_dest_slot(struct rd_metrics *m, const char *name, size_t len);
/* Records one routing decision that took ns nanoseconds. */
void rd_metrics_latency(struct rd_metrics *m, uint64_t ns);
/*
 * Records one message written by its sink (a webhook: answered 2xx) ns
 * nanoseconds after ingest accepted its event (rd_pipeline_submit).
 */
void rd_metrics_e2e(struct rd_metrics *m, uint64_t ns);
/* Records one attempt to deliver to destination dest that took ns nanoseconds. */
void rd_metrics_sink_latency(struct rd_metrics *m, uint32_t dest, uint64_t ns);
/* Counts one answered HTTP request with status code. */
void rd_metrics_http(struct rd_metrics *m, unsigned code);
/* Appends the counters and the histogram in the text exposition format 0.0.4. */
void rd_metrics_render(struct rd_metrics *m, struct rd_buf *out);
/* "invalid_event", ... for an enum rd_reject. */
const char *rd_reject_name(int reason);

static inline void
rd_count(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#endif
