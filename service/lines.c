/*
 * lines.c -- splitting, validating and submitting JSON lines with
 * backpressure (see lines.h). Owns its read buffer and matcher.
 *
 *   buf: [ complete lines ... | partial line ][ free: read target ]
 *         ^0                   ^start          ^len            ^cap
 *
 * After each read every complete line is taken, the partial one moves to
 * the front. A partial line longer than max_line is refused at once and the
 * rest of it is skipped up to its '\n' (skipping), so the buffer never holds
 * more than max_line + one read.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lines.h"

#define READ_CHUNK (64u << 10)
#define WAIT_SLICE_MS 100      /* re-check the stop flag this often while waiting for room */

int
rd_lines_init(struct rd_lines *l, struct rd_pipeline *pl, struct rd_metrics *m, const route_prog *p,
	size_t max_line, const atomic_int *stop, struct rd_lines_stats *stats)
{
	memset(l, 0, sizeof *l);
	l->pl = pl;
	l->metrics = m;
	l->max_line = max_line;
	l->stop = stop;
	l->stats = stats;
	l->cap = max_line + 1 + READ_CHUNK;
	l->m = route_matcher_new(p);
	l->mp = p;
	l->buf = malloc(l->cap);
	if (!l->m || !l->buf) {
		rd_lines_fini(l);
		return -1;
	}
	return 0;
}

void
rd_lines_fini(struct rd_lines *l)
{
	route_matcher_free(l->m);
	free(l->buf);
	l->m = NULL;
	l->buf = NULL;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Refuses a line: counted as received and rejected for reason. */
static void
refuse(struct rd_lines *l, int reason, rd_lines_result_fn *res, void *ud, uint64_t line,
	const char *why, long off)
{
	rd_count(&l->metrics->received, 1);
	rd_count(&l->metrics->rejected[reason], 1);
	l->rejected++;
	res(ud, line, why, off);
}

/*
 * Validates and submits one line p[0..n) (no '\n'), waiting for room in the
 * budget as long as it takes (or until stop). Returns 0, or -1 when flush_fn
 * asked to stop (the line was answered).
 */
static int
take(struct rd_lines *l, const char *p, size_t n, uint64_t line, rd_lines_result_fn *res,
	rd_lines_flush_fn *fl, void *ud)
{
	struct route_class d;
	const route_prog *np;
	struct rd_event_ref ref = { p, n, 0, 0 };
	size_t charge = sizeof(struct rd_item) + n;
	uint64_t t0 = 0;
	int rc = 0;

	if (n > l->max_line) {
		refuse(l, RD_REJ_TOO_LARGE, res, ud, line, "line longer than max_event_bytes", -1);
		return 0;
	}
	if (l->pl && (np = rd_pipeline_prog(l->pl)) != l->mp) {
		/* the rules were reloaded: validate with the newest (programs live until exit, reload.h) */
		route_matcher *nm = route_matcher_new(np);
		if (nm) {
			route_matcher_free(l->m);
			l->m = nm;
			l->mp = np;
		}
	}
	if (route_classify(l->m, p, n, &d) == ROUTE_REJECTED) {
		refuse(l, RD_REJ_INVALID, res, ud, line, d.reason ? d.reason : "invalid", (long)d.offset);
		return 0;
	}
	ref.part = d.part;
	ref.key = d.key;
	if (charge > l->pl->budget.cap) {
		refuse(l, RD_REJ_OVERLOADED, res, ud, line, "event larger than max_inflight_bytes", -1);
		return 0;
	}
	/* a rule's backpressure holds, or the budget cannot take the line: let
	 * the producer see what was taken, then stop reading until it can */
	for (;;) {
		int bp = rd_pipeline_backpressure(l->pl);

		if (!bp && rd_pipeline_submit(l->pl, &ref, 1) == 0)
			break;
		if (atomic_load(l->stop) || atomic_load(&l->pl->stopping)) {
			refuse(l, RD_REJ_OVERLOADED, res, ud, line, "shutting down", -1);
			goto out;
		}
		if (!t0) {
			t0 = mono_ns();
			rd_count(&l->stats->waits, 1);
			if (fl(ud) < 0)
				rc = -1; /* the peer is gone: still take this line (it was read) */
		}
		if (bp) {
			struct timespec ts = { 0, (long)WAIT_SLICE_MS * 1000000L };
			nanosleep(&ts, NULL);
		} else {
			rd_pipeline_wait_room(l->pl, charge, WAIT_SLICE_MS);
		}
	}
	rd_count(&l->metrics->received, 1);
	rd_count(&l->metrics->accepted, 1);
	l->accepted++;
	res(ud, line, NULL, -1);
out:
	if (t0)
		rd_count(&l->stats->wait_ns, mono_ns() - t0);
	return rc;
}

/* Whether p[0..n) is blank (spaces, tabs, '\r'). */
static int
blank(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

int
rd_lines_run(struct rd_lines *l, rd_lines_read_fn *rd, rd_lines_result_fn *res,
	rd_lines_flush_fn *fl, void *ud)
{
	size_t len = 0, start, e;
	int skipping = 0;
	ssize_t r;
	char *nl;

	for (;;) {
		if (fl(ud) < 0)
			return -1;
		r = rd(ud, l->buf + len, l->cap - len);
		if (r < 0)
			return -1;
		if (r == 0) {
			/* the last line, without its '\n' */
			if (len && !skipping && !blank(l->buf, len)) {
				l->lines++;
				take(l, l->buf, len, l->lines, res, fl, ud);
			}
			return fl(ud) < 0 ? -1 : 0;
		}
		len += (size_t)r;
		start = 0;
		while ((nl = memchr(l->buf + start, '\n', len - start))) {
			e = (size_t)(nl - l->buf);
			if (skipping) {
				skipping = 0; /* the end of a line already refused as too long */
			} else {
				size_t n = e - start;
				l->lines++;
				if (n && l->buf[start + n - 1] == '\r')
					n--;
				if (!blank(l->buf + start, n) &&
				    take(l, l->buf + start, n, l->lines, res, fl, ud) < 0)
					return -1;
			}
			start = e + 1;
		}
		memmove(l->buf, l->buf + start, len - start);
		len -= start;
		if (skipping) {
			len = 0;
		} else if (len > l->max_line) {
			/* no '\n' within max_line bytes: refuse now, skip to its end */
			l->lines++;
			refuse(l, RD_REJ_TOO_LARGE, res, ud, l->lines, "line longer than max_event_bytes", -1);
			skipping = 1;
			len = 0;
		}
	}
}
