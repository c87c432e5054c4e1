/*
 * lines.h -- JSON lines into the pipeline, for the producers that wait
 * rather than refuse: the TCP listener (tcp.c) and replay (replay.c).
 *
 * A reader pulls bytes (read_fn), splits them into lines of at most
 * max_line bytes, validates each non-blank line with its own route_matcher
 * (the flattener, as HTTP ingest does), and submits it -- the complete
 * lines of one read together, as one request (one durable-log append, one
 * sync), falling back to one line at a time when one of them is refused or
 * the pipeline cannot take them all at once. When the memory
 * budget is full it calls flush_fn (so the producer sees the acks of what
 * was taken), then waits for room -- it does not read meanwhile, so a TCP
 * producer's writes stall once the socket buffers fill. Nothing is dropped
 * and nothing is buffered beyond one read buffer (max_line + 64 KiB).
 * Every line gets exactly one result_fn call: accepted, or why not.
 * Counted in routed_events_{received,accepted,rejected}_total.
 */
#ifndef RD_LINES_H
#define RD_LINES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"
#include "pipeline.h"
#include "route.h"

/* Reads up to n bytes into buf: > 0 bytes read, 0 end of input, -1 error. */
typedef ssize_t rd_lines_read_fn(void *ud, char *buf, size_t n);
/* One line's outcome: reason NULL when accepted, else why (offset: its byte in the line, or -1). */
typedef void rd_lines_result_fn(void *ud, uint64_t line, const char *reason, long offset);
/* Before blocking (a read or a wait for room): push out results. Returns 0, or -1 to stop. */
typedef int rd_lines_flush_fn(void *ud);

struct rd_lines_stats {        /* shared by every reader of one producer kind */
	atomic_uint_fast64_t waits;    /* times a reader paused for the memory budget */
	atomic_uint_fast64_t wait_ns;  /* time spent paused */
};

struct rd_lines {
	struct rd_pipeline *pl;    /* borrows */
	struct rd_metrics *metrics; /* borrows */
	route_matcher *m;          /* owns: validates lines, a matcher of mp */
	const route_prog *mp;      /* borrows: the rules m was made for (remade after a reload) */
	size_t max_line;           /* longer lines are refused (max_event_bytes) */
	const atomic_int *stop;    /* borrows: when set, waiting lines are refused "shutting down" */
	struct rd_lines_stats *stats; /* borrows */
	char *buf;                 /* owns: [cap] */
	size_t cap;
	struct rd_event_ref *pend; /* owns the array: complete lines of the last read (borrowing buf) */
	uint64_t *pend_line;       /* owns: their line numbers */
	size_t npend, cappend;
	const char *token;         /* borrows: the first non-blank line must be "AUTH TOKEN" (NULL: none) */
	int authed;                /* ... and it was */
	atomic_uint_fast64_t *auth_failures; /* borrows: counted here when it was not (may be NULL) */
	uint64_t lines, accepted, rejected; /* this reader's counts */
};

/* Returns 0, or -1 on out-of-memory. Borrows everything. */
int rd_lines_init(struct rd_lines *l, struct rd_pipeline *pl, struct rd_metrics *m, const route_prog *p,
	size_t max_line, const atomic_int *stop, struct rd_lines_stats *stats);
void rd_lines_fini(struct rd_lines *l);
/*
 * Reads to the end of input (or a read error, or flush_fn returning -1),
 * taking every line; a last line without '\n' counts. Returns 0 at the end
 * of input, -1 on a read error or a stop by flush_fn (results already given
 * stay given).
 */
int rd_lines_run(struct rd_lines *l, rd_lines_read_fn *rd, rd_lines_result_fn *res,
	rd_lines_flush_fn *fl, void *ud);

#endif
