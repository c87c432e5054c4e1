/*
 * store.c -- the built-in queue's files (see store.h for the layout and the
 * consumer protocol). Owns each queue's file descriptor and counters.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

/* mkdir -p for path (modified in place and restored). Returns 0 or -1. */
static int
mkdirs(char *path)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return mkdir(path, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Counts '\n' in the file between [from, to). Returns the count, or -1. */
static int64_t
count_lines(int fd, uint64_t from, uint64_t to, uint64_t *last_nl_end)
{
	char chunk[65536];
	int64_t n = 0;
	ssize_t r;
	uint64_t off = from;
	ssize_t i;

	if (last_nl_end)
		*last_nl_end = from;
	while (off < to) {
		size_t want = to - off < sizeof chunk ? (size_t)(to - off) : sizeof chunk;
		r = pread(fd, chunk, want, (off_t)off);
		if (r <= 0)
			return -1;
		for (i = 0; i < r; i++)
			if (chunk[i] == '\n') {
				n++;
				if (last_nl_end)
					*last_nl_end = off + (uint64_t)i + 1;
			}
		off += (uint64_t)r;
	}
	return n;
}

/* Whether offset is 0 or just after a '\n' in the file. */
static int
is_boundary(int fd, uint64_t offset)
{
	char c;

	if (offset == 0)
		return 1;
	return pread(fd, &c, 1, (off_t)(offset - 1)) == 1 && c == '\n';
}

/* Writes the ack file (atomically, by rename). Returns 0 or -1. */
static int
write_ack(struct rd_store *q, uint64_t offset, uint64_t count)
{
	char tmp[4096], dst[4096], text[64];
	int fd, n, ok;

	snprintf(tmp, sizeof tmp, "%s/ack.tmp", q->dir);
	snprintf(dst, sizeof dst, "%s/ack", q->dir);
	n = snprintf(text, sizeof text, "%" PRIu64 " %" PRIu64 "\n", offset, count);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -1;
	ok = write(fd, text, (size_t)n) == n;
	if (close(fd) < 0)
		ok = 0;
	if (!ok || rename(tmp, dst) < 0)
		return -1;
	return 0;
}

int
rd_store_open(struct rd_store *q, const char *data_dir, const char *name, size_t len,
	char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	uint64_t end, off = 0, cnt = 0;
	int64_t n;
	FILE *f;

	memset(q, 0, sizeof *q);
	q->fd = -1;
	pthread_mutex_init(&q->mu, NULL);
	if (snprintf(path, sizeof path, "%s/queues/%.*s", data_dir, (int)len, name) >= (int)sizeof path - 32) {
		snprintf(err, errlen, "data directory path too long");
		goto fail;
	}
	if (!(q->name = strndup(name, len)) || !(q->dir = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdirs(path) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof path, "%s/messages.ndjson", q->dir);
	q->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (q->fd < 0 || fstat(q->fd, &st) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	n = count_lines(q->fd, 0, (uint64_t)st.st_size, &end);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (end < (uint64_t)st.st_size) {
		rd_log_str(RD_LOG_WARN, "queue file ends in a torn line: cut off", "file", path);
		if (ftruncate(q->fd, (off_t)end) < 0) {
			snprintf(err, errlen, "cannot truncate %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	q->size = end;
	q->nmsgs = (uint64_t)n;
	snprintf(path, sizeof path, "%s/ack", q->dir);
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &off, &cnt) != 2 || off > q->size ||
		    !is_boundary(q->fd, off) || cnt > q->nmsgs) {
			rd_log_str(RD_LOG_WARN, "queue ack file is not valid: redelivering from the start",
				"file", path);
			off = cnt = 0;
		}
		fclose(f);
	}
	q->acked = off;
	q->nacked = cnt;
	return 0;
fail:
	rd_store_close(q);
	return -1;
}

void
rd_store_close(struct rd_store *q)
{
	if (q->fd >= 0)
		close(q->fd);
	free(q->name);
	free(q->dir);
	pthread_mutex_destroy(&q->mu);
	memset(q, 0, sizeof *q);
	q->fd = -1;
}

int
rd_store_append(struct rd_store *q, const char *line, size_t len)
{
	size_t done = 0;
	ssize_t w;

	pthread_mutex_lock(&q->mu);
	while (done < len) {
		w = write(q->fd, line + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			/* a partial line must not stay: cut the file back to the last message */
			if (done && ftruncate(q->fd, (off_t)q->size) < 0)
				rd_log(RD_LOG_ERROR, "cannot cut a partial queue write", "\"queue\":\"%s\"", q->name);
			pthread_mutex_unlock(&q->mu);
			errno = e;
			return -1;
		}
		done += (size_t)w;
	}
	q->size += len;
	/* a batch (or a coalesced write) is several lines in one append */
	for (const char *p = line, *e = line + len; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		q->nmsgs++;
	pthread_mutex_unlock(&q->mu);
	return 0;
}

/* Reads n bytes at off into buf. Returns 0 or -1. */
static int
read_full(int fd, char *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = pread(fd, buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

int
rd_store_read(struct rd_store *q, unsigned max, size_t max_bytes, struct rd_buf *out)
{
	uint64_t from, size, pending, next;
	size_t want, i, start;
	unsigned count;
	char *chunk = NULL;
	int rc = -1;

	pthread_mutex_lock(&q->mu);
	from = q->acked;
	size = q->size;
	pending = q->nmsgs - q->nacked;
	pthread_mutex_unlock(&q->mu);

	/* read up to max_bytes; when not even one message fits, twice as much, ... */
	want = size - from < max_bytes ? (size_t)(size - from) : max_bytes;
	for (;;) {
		free(chunk);
		if (!(chunk = malloc(want ? want : 1)) || read_full(q->fd, chunk, want, from) < 0)
			goto done;
		for (i = 0, count = 0; i < want && count < max; i++)
			if (chunk[i] == '\n')
				count++;
		if (count || want == size - from)
			break;
		want = size - from - want < want ? (size_t)(size - from) : want * 2;
	}
	rd_buf_puts(out, "{\"queue\":");
	rd_buf_json_str(out, q->name, strlen(q->name));
	rd_buf_printf(out, ",\"offset\":%" PRIu64 ",", from);
	next = from;
	start = 0;
	rd_buf_puts(out, "\"messages\":[");
	for (i = 0, count = 0; i < want && count < max; i++) {
		if (chunk[i] != '\n')
			continue;
		if (count)
			rd_buf_append(out, ",", 1);
		rd_buf_append(out, chunk + start, i - start);
		count++;
		start = i + 1;
		next = from + start;
	}
	rd_buf_printf(out, "],\"count\":%u,\"next_offset\":%" PRIu64 ",\"pending\":%" PRIu64 "}",
		count, next, pending);
	rc = out->oom ? -1 : 0;
done:
	free(chunk);
	return rc;
}

int
rd_store_ack(struct rd_store *q, uint64_t offset, char *why, size_t whylen)
{
	int64_t n;
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (offset < q->acked || offset > q->size || !is_boundary(q->fd, offset)) {
		snprintf(why, whylen, "offset %" PRIu64 " is not a message boundary between the acknowledged "
			"offset %" PRIu64 " and the end %" PRIu64, offset, q->acked, q->size);
		rc = -1;
		goto out;
	}
	if (offset == q->acked)
		goto out;
	n = count_lines(q->fd, q->acked, offset, NULL);
	if (n < 0 || write_ack(q, offset, q->nacked + (uint64_t)n) < 0) {
		snprintf(why, whylen, "cannot write the ack file: %s", strerror(errno));
		rc = -2;
		goto out;
	}
	q->acked = offset;
	q->nacked += (uint64_t)n;
out:
	pthread_mutex_unlock(&q->mu);
	return rc;
}

uint64_t
rd_store_pending(struct rd_store *q)
{
	uint64_t n;

	pthread_mutex_lock(&q->mu);
	n = q->nmsgs - q->nacked;
	pthread_mutex_unlock(&q->mu);
	return n;
}

int
rd_store_sync(struct rd_store *q)
{
	/* no lock: fdatasync covers every write that returned before it began */
	return fdatasync(q->fd);
}
