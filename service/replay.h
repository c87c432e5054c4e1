/*
 * replay.h -- `routed --replay FILE|-`: NDJSON from a file or standard input
 * through the same pipeline and sinks as live traffic (lines.h: validated,
 * submitted, waiting for room when the memory budget is full, never
 * refused for load). The caller drains the pipeline afterwards.
 */
#ifndef RD_REPLAY_H
#define RD_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "metrics.h"
#include "pipeline.h"
#include "route.h"

struct rd_replay_result {
	uint64_t lines;            /* lines read (blank ones included) */
	uint64_t accepted, rejected;
	int read_error;            /* reading stopped on an error (errno text reported) */
};

/*
 * Replays the NDJSON read from fd (name: how to call it in messages, "-"
 * for standard input). Each refused line is reported to report as
 * "NAME:LINE: rejected: REASON (byte B)". Borrows everything. Returns 0 when
 * every line was accepted, 1 when some were refused or reading failed,
 * -1 on out-of-memory.
 */
int rd_replay_run(struct rd_pipeline *pl, struct rd_metrics *m, const route_prog *p,
	const struct rd_conf *c, int fd, const char *name, FILE *report, struct rd_replay_result *res);

#endif
