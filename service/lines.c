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

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

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
	free(l->pend);
	free(l->pend_line);
	l->m = NULL;
	l->buf = NULL;
	l->pend = NULL;
	l->pend_line = NULL;
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
	/* a rule's backpressure holds (on every event, or on this line's key), or the
	 * budget cannot take the line: let the producer see what was taken, then stop
	 * reading until it can */
	for (;;) {
		int bp = rd_pipeline_backpressure(l->pl) || rd_pipeline_key_pushed_back(l->pl, l->m), e = 0;

		if (!bp) {
			if (rd_pipeline_submit(l->pl, &ref, 1, NULL) == 0)
				break;
			e = errno;
		}
		if (atomic_load(l->stop) || atomic_load(&l->pl->stopping)) {
			refuse(l, RD_REJ_OVERLOADED, res, ud, line, "shutting down", -1);
			goto out;
		}
		if (!bp && e != ENOBUFS && e != ENOSPC && e != EDQUOT && e != EFBIG && e != ENOMEM) {
			refuse(l, RD_REJ_OVERLOADED, res, ud, line, "cannot log the event", -1);
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
		} else if (e != ENOBUFS) {
			/* the disk is full (or memory ran out): stop reading, retry the log shortly */
			struct timespec ts = { 0, 200 * 1000000L };
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

/* Queues line p[0..n) (borrowed from buf) for take_batch. Returns 0, or -1 (out of memory). */
static int
pend_add(struct rd_lines *l, const char *p, size_t n, uint64_t line)
{
	if (l->npend == l->cappend) {
		size_t nc = l->cappend ? 2 * l->cappend : 64;
		struct rd_event_ref *np = realloc(l->pend, nc * sizeof *np);
		uint64_t *nl;
		if (!np)
			return -1;
		l->pend = np;
		if (!(nl = realloc(l->pend_line, nc * sizeof *nl)))
			return -1;
		l->pend_line = nl;
		l->cappend = nc;
	}
	l->pend[l->npend].p = p;
	l->pend[l->npend].len = n;
	l->pend[l->npend].part = 0;
	l->pend[l->npend].key = 0;
	l->pend_line[l->npend++] = line;
	return 0;
}

/*
 * Takes the queued lines: all in one submit (one log append) when every one
 * is valid, no push-back holds and the pipeline takes them at once;
 * otherwise one by one with take() (which waits, follows a reload, and gives
 * each refusal its reason). Returns 0, or -1 when flush_fn asked to stop.
 */
static int
take_batch(struct rd_lines *l, rd_lines_result_fn *res, rd_lines_flush_fn *fl, void *ud)
{
	struct route_class d;
	size_t i, n = l->npend;
	int ok = n > 1 && l->pl && rd_pipeline_prog(l->pl) == l->mp && !rd_pipeline_backpressure(l->pl);

	l->npend = 0;
	for (i = 0; ok && i < n; i++) {
		ok = l->pend[i].len <= l->max_line &&
			route_classify(l->m, l->pend[i].p, l->pend[i].len, &d) != ROUTE_REJECTED &&
			!rd_pipeline_key_pushed_back(l->pl, l->m); /* else take() waits for it */
		l->pend[i].part = d.part;
		l->pend[i].key = d.key;
	}
	if (ok && !atomic_load(l->stop) && rd_pipeline_submit(l->pl, l->pend, n, NULL) == 0) {
		rd_count(&l->metrics->received, n);
		rd_count(&l->metrics->accepted, n);
		l->accepted += n;
		for (i = 0; i < n; i++)
			res(ud, l->pend_line[i], NULL, -1);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (take(l, l->pend[i].p, l->pend[i].len, l->pend_line[i], res, fl, ud) < 0) {
			/* the peer is gone: the lines already read are still taken */
			for (i++; i < n; i++)
				take(l, l->pend[i].p, l->pend[i].len, l->pend_line[i], res, fl, ud);
			return -1;
		}
	return 0;
}

/*
 * The connection's first non-blank line p[0..n) (line l->lines), when a
 * token is set: "AUTH " and the token (compared in the same time wherever
 * they differ) is answered ok and sets l->authed; anything else is answered
 * "unauthorized" and counted. Returns 0, or -1 (refused: the caller stops
 * reading).
 */
static int
authenticate(struct rd_lines *l, const char *p, size_t n, rd_lines_result_fn *res, rd_lines_flush_fn *fl,
	void *ud)
{
	size_t t = strlen(l->token);

	if (n != 5 + t || memcmp(p, "AUTH ", 5) != 0 || CRYPTO_memcmp(p + 5, l->token, t) != 0) {
		res(ud, l->lines, "unauthorized", -1);
		if (l->auth_failures)
			rd_count(l->auth_failures, 1);
		fl(ud);
		return -1;
	}
	l->authed = 1;
	res(ud, l->lines, NULL, -1);
	return 0;
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
			/* the last line, without its '\n' (not an event before the credentials) */
			if (len && !skipping && !blank(l->buf, len)) {
				l->lines++;
				if (l->token && !l->authed)
					return authenticate(l, l->buf, len, res, fl, ud) < 0 ? -1 : (fl(ud) < 0 ? -1 : 0);
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
				if (l->token && !l->authed && !blank(l->buf + start, n)) {
					/* the connection's credentials come first: "AUTH TOKEN" */
					if (authenticate(l, l->buf + start, n, res, fl, ud) < 0)
						return -1;
					start = e + 1;
					continue;
				}
				/* out of memory for the batch: take what is queued, then this line alone */
				if (!blank(l->buf + start, n) && pend_add(l, l->buf + start, n, l->lines) < 0 &&
				    (take_batch(l, res, fl, ud) < 0 ||
				     take(l, l->buf + start, n, l->lines, res, fl, ud) < 0))
					return -1;
			}
			start = e + 1;
		}
		if (take_batch(l, res, fl, ud) < 0)
			return -1;
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
