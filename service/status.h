/*
 * status.h -- routed's live status page (DESIGN.md §6, Observability):
 * GET /status.json, a snapshot of the counters an operator looks at first
 * (events in and out, outcomes, the sources besides HTTP, each
 * destination's queue and deliveries, the rules in use and their matches),
 * and GET /status, an HTML page that
 * shows it and reads it again every 2 s. Both are read from the same
 * relaxed atomics as /metrics; neither touches the hot path.
 */
#ifndef RD_STATUS_H
#define RD_STATUS_H

#include <stddef.h>

#include "buf.h"
#include "metrics.h"
#include "pipeline.h"

/*
 * Appends the JSON snapshot to o (borrowed; check o->oom). m and pl are
 * borrowed. sources(o, ud) appends the "sources" array's elements, comma
 * separated: one object per source running besides HTTP (rd_tcp_status,
 * rd_kafka_source_status, rd_rabbitmq_source_status), each with the keys
 * the page shows -- "kind", "where" (what it listens to or consumes),
 * "state", "taken" (events it logged), "refused" (invalid ones),
 * "backpressure_waits" -- and its own after them. sources may be NULL.
 */
void rd_status_json(struct rd_buf *o, struct rd_metrics *m, struct rd_pipeline *pl,
	void (*sources)(struct rd_buf *o, void *ud), void *ud);

/* The HTML page (static, no external assets): rd_status_html[0..rd_status_html_len). */
extern const char rd_status_html[];
extern const size_t rd_status_html_len;

#endif
