/*
 * replay.c -- NDJSON from a file or standard input into the pipeline (see
 * replay.h). Owns nothing beyond the call: the reader's buffer and matcher
 * (lines.c) live on its stack frame.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"
#include "replay.h"

struct replay_ctx {
	int fd;                    /* borrows */
	const char *name;          /* borrows */
	FILE *report;              /* borrows */
	int read_errno;
};

static ssize_t
replay_read(void *ud, char *buf, size_t n)
{
	struct replay_ctx *x = ud;
	ssize_t r;

	do
		r = read(x->fd, buf, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		x->read_errno = errno;
	return r;
}

static void
replay_result(void *ud, uint64_t line, const char *reason, long off)
{
	struct replay_ctx *x = ud;

	if (!reason)
		return;
	if (off >= 0)
		fprintf(x->report, "%s:%" PRIu64 ": rejected: %s (byte %ld)\n", x->name, line, reason, off);
	else
		fprintf(x->report, "%s:%" PRIu64 ": rejected: %s\n", x->name, line, reason);
}

static int
replay_flush(void *ud)
{
	(void)ud;
	return 0;
}

int
rd_replay_run(struct rd_pipeline *pl, struct rd_metrics *m, const route_prog *p,
	const struct rd_conf *c, int fd, const char *name, FILE *report, struct rd_replay_result *res)
{
	struct replay_ctx x = { fd, name, report, 0 };
	struct rd_lines_stats stats;
	static const atomic_int never = 0; /* replay is not stopped from inside */
	struct rd_lines l;
	int rc;

	memset(res, 0, sizeof *res);
	memset(&stats, 0, sizeof stats);
	if (rd_lines_init(&l, pl, m, p, c->max_event_bytes, &never, &stats) < 0)
		return -1;
	rc = rd_lines_run(&l, replay_read, replay_result, replay_flush, &x);
	res->lines = l.lines;
	res->accepted = l.accepted;
	res->rejected = l.rejected;
	rd_lines_fini(&l);
	if (rc < 0) {
		res->read_error = 1;
		fprintf(report, "%s: read error after line %" PRIu64 ": %s\n", name, res->lines,
			strerror(x.read_errno));
	}
	return res->rejected || res->read_error ? 1 : 0;
}
