/*
 * sink.c -- the queue, stdout, file and exec sinks (see sink.h). Standard
 * output is shared by every stdout destination: one mutex keeps their lines
 * whole. The file sink rotates by size: before a write that would take the
 * file past rotate_bytes (and the file is not empty), PATH.K-1 .. PATH.1
 * are renamed one up (PATH.K, the oldest, is replaced), PATH becomes PATH.1
 * and a new PATH is opened. A delivery is never split over two files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#ifdef HAVE_KAFKA
#include "kafka.h"
#endif
#ifdef HAVE_RABBITMQ
#include "rabbitmq.h"
#endif
#include "log.h"
#include "retry.h"
#include "sink.h"

#define RD_ROTATE_KEEP_DEFAULT 5

static pthread_mutex_t stdout_mu = PTHREAD_MUTEX_INITIALIZER;

const char *
rd_sink_kind_name(int kind)
{
	return kind == RD_SINK_STDOUT ? "stdout" : kind == RD_SINK_FILE ? "file"
		: kind == RD_SINK_WEBHOOK ? "webhook" : kind == RD_SINK_EXEC ? "exec"
		: kind == RD_SINK_KAFKA ? "kafka" : kind == RD_SINK_RABBITMQ ? "rabbitmq" : "queue";
}

/* Opens s->path for appending and notes its size. Returns 0, or -1 (errno set). */
static int
file_open(struct rd_sink *s)
{
	struct stat st;

	s->fd = open(s->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (s->fd < 0)
		return -1;
	s->size = fstat(s->fd, &st) == 0 ? (unsigned long long)st.st_size : 0;
	return 0;
}

int
rd_sink_open(struct rd_sink *s, const struct rd_conf *c, const route_prog *p, uint32_t dest,
	struct rd_metrics *m, char *err, size_t errlen)
{
	return rd_sink_open_slot(s, c, p, dest, dest, m, err, errlen);
}

int
rd_sink_open_slot(struct rd_sink *s, const struct rd_conf *c, const route_prog *p, uint32_t dest,
	uint32_t slot, struct rd_metrics *m, char *err, size_t errlen)
{
	size_t len;
	const char *name = route_dest_name(p, dest, &len);
	const struct rd_dest_conf *d = rd_conf_dest(c, name, len);
	struct route_dest_policy pol;

	memset(s, 0, sizeof *s);
	s->fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	s->kind = d ? d->sink : RD_SINK_QUEUE;
	if (!(s->name = strndup(name, len))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	route_dest_policy(p, dest, &pol);
	switch (s->kind) {
	case RD_SINK_QUEUE:
		if (!(s->store = malloc(sizeof *s->store))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (rd_store_open(s->store, c->data_dir, name, len, err, errlen) < 0) {
			free(s->store);
			s->store = NULL;
			return -1;
		}
		return 0;
	case RD_SINK_STDOUT:
		s->fd = STDOUT_FILENO;
		return 0;
	case RD_SINK_FILE:
		if (!(s->path = strdup(d->path))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		s->rotate_bytes = d->rotate_bytes;
		s->rotate_keep = d->rotate_keep ? d->rotate_keep : RD_ROTATE_KEEP_DEFAULT;
		if (file_open(s) < 0)
			rd_log(RD_LOG_WARN, "file sink cannot be opened: its writes fail (and are retried or "
				"dead-lettered) until it can", "\"destination\":\"%s\",\"path\":\"%s\",\"error\":\"%s\"",
				s->name, s->path, strerror(errno));
		return 0;
	case RD_SINK_EXEC:
		if (!(s->command = strdup(d->command))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		s->timeout_ms = pol.timeout_ms ? pol.timeout_ms : d->timeout_ms ? d->timeout_ms
			: RD_EXEC_TIMEOUT_MS;
		if ((s->stream = d->exec_stream))
			rd_exec_pool_init(&s->pool);
		return 0;
	case RD_SINK_WEBHOOK:
		return (s->wh = rd_webhook_new(d, &pol, m, slot, err, errlen)) ? 0 : -1;
#ifdef HAVE_KAFKA
	case RD_SINK_KAFKA:
		s->timeout_ms = pol.timeout_ms ? pol.timeout_ms : d->timeout_ms ? d->timeout_ms
			: RD_KAFKA_TIMEOUT_MS;
		return (s->kafka = rd_kafka_sink_open(s->name, d->brokers, d->topic, d->key_member, s->timeout_ms,
			err, errlen)) ? 0 : -1;
#endif
#ifdef HAVE_RABBITMQ
	case RD_SINK_RABBITMQ:
		s->timeout_ms = pol.timeout_ms ? pol.timeout_ms : d->timeout_ms ? d->timeout_ms
			: RD_RABBITMQ_TIMEOUT_MS;
		return (s->rabbitmq = rd_rabbitmq_sink_open(d->url, d->ca_file, d->exchange, d->routing_key,
			d->routing_key_from, s->timeout_ms, err, errlen)) ? 0 : -1;
#endif
	}
	snprintf(err, errlen, "unknown sink");
	return -1;
}

void
rd_sink_close(struct rd_sink *s)
{
	if (s->store) {
		rd_store_close(s->store);
		free(s->store);
	}
	if (s->kind == RD_SINK_FILE && s->fd >= 0)
		close(s->fd);
	if (s->kind == RD_SINK_EXEC && s->stream)
		rd_exec_pool_close(&s->pool);
#ifdef HAVE_KAFKA
	rd_kafka_sink_close(s->kafka);
#endif
#ifdef HAVE_RABBITMQ
	rd_rabbitmq_sink_close(s->rabbitmq);
#endif
	free(s->path);
	free(s->command);
	free(s->name);
	rd_webhook_free(s->wh);
	pthread_mutex_destroy(&s->mu);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

/* Writes all of buf to fd. Returns 0 or -1. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t w;

	while (len) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Rotates the file sink (see the top of this file). Returns 0, or -1 (errno set). */
static int
file_rotate(struct rd_sink *s)
{
	size_t n = strlen(s->path) + 16;
	char *from = malloc(n), *to = malloc(n);
	unsigned k;
	int rc = -1;

	if (!from || !to) {
		errno = ENOMEM;
		goto out;
	}
	for (k = s->rotate_keep; k > 1; k--) {
		snprintf(from, n, "%s.%u", s->path, k - 1);
		snprintf(to, n, "%s.%u", s->path, k);
		if (rename(from, to) < 0 && errno != ENOENT)
			goto out;
	}
	snprintf(to, n, "%s.1", s->path);
	if (rename(s->path, to) < 0)
		goto out;
	close(s->fd);
	s->fd = -1;
	rc = file_open(s);
	if (rc == 0)
		rd_log(RD_LOG_INFO, "file sink rotated", "\"destination\":\"%s\",\"path\":\"%s\"", s->name,
			s->path);
out:
	free(from);
	free(to);
	return rc;
}

/* The file sink's write, under s->mu. Returns 0, or -1 (errno set). */
static int
file_write(struct rd_sink *s, const char *buf, size_t len)
{
	if (s->fd < 0 && file_open(s) < 0)
		return -1;
	if (s->rotate_bytes && s->size > 0 && s->size + len > s->rotate_bytes && file_rotate(s) < 0)
		return -1;
	/* O_APPEND: each write lands at the end, whole lines from one write */
	if (write_all(s->fd, buf, len) < 0)
		return -1;
	s->size += len;
	return 0;
}

int
rd_sink_write(struct rd_sink *s, const char *buf, size_t len, unsigned count, int *fail,
	char *err, size_t errlen)
{
	int rc;

	*fail = RD_FAIL_WRITE;
	switch (s->kind) {
	case RD_SINK_QUEUE:
		rc = rd_store_append(s->store, buf, len);
		break;
	case RD_SINK_STDOUT:
		pthread_mutex_lock(&stdout_mu);
		rc = write_all(s->fd, buf, len);
		pthread_mutex_unlock(&stdout_mu);
		break;
	case RD_SINK_FILE:
		pthread_mutex_lock(&s->mu);
		rc = file_write(s, buf, len);
		pthread_mutex_unlock(&s->mu);
		break;
#ifdef HAVE_KAFKA
	case RD_SINK_KAFKA:
		return rd_kafka_sink_write(s->kafka, buf, len, fail, err, errlen);
#endif
#ifdef HAVE_RABBITMQ
	case RD_SINK_RABBITMQ:
		return rd_rabbitmq_sink_write(s->rabbitmq, buf, len, fail, err, errlen);
#endif
	case RD_SINK_EXEC:
		return s->stream ? rd_exec_stream(&s->pool, s->command, s->name, buf, len, count, s->timeout_ms,
				fail, err, errlen)
			: rd_exec_run(s->command, s->name, buf, len, count, s->timeout_ms, fail, err, errlen);
	default:
		snprintf(err, errlen, "not a sink written with rd_sink_write");
		*fail = RD_FAIL_OTHER;
		return -1;
	}
	if (rc < 0)
		snprintf(err, errlen, "%s%s%s", s->path ? s->path : "", s->path ? ": " : "", strerror(errno));
	return rc;
}
