/*
 * sink.c -- the queue, stdout and file sinks (see sink.h). Standard output
 * is shared by every stdout destination: one mutex keeps their lines whole.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"

static pthread_mutex_t stdout_mu = PTHREAD_MUTEX_INITIALIZER;

const char *
rd_sink_kind_name(int kind)
{
	return kind == RD_SINK_STDOUT ? "stdout" : kind == RD_SINK_FILE ? "file"
		: kind == RD_SINK_WEBHOOK ? "webhook" : "queue";
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
	s->kind = d ? d->sink : RD_SINK_QUEUE;
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
		s->fd = open(d->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (s->fd < 0) {
			snprintf(err, errlen, "cannot open %s: %s", d->path, strerror(errno));
			free(s->path);
			s->path = NULL;
			return -1;
		}
		return 0;
	case RD_SINK_WEBHOOK:
		route_dest_policy(p, dest, &pol);
		return (s->wh = rd_webhook_new(d, &pol, m, slot, err, errlen)) ? 0 : -1;
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
	free(s->path);
	rd_webhook_free(s->wh);
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
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int
rd_sink_write(struct rd_sink *s, const char *line, size_t len)
{
	int rc;

	switch (s->kind) {
	case RD_SINK_QUEUE:
		return rd_store_append(s->store, line, len);
	case RD_SINK_STDOUT:
		pthread_mutex_lock(&stdout_mu);
		rc = write_all(s->fd, line, len);
		pthread_mutex_unlock(&stdout_mu);
		return rc;
	default:
		/* O_APPEND: each write lands at the end, whole lines from one write */
		return write_all(s->fd, line, len);
	}
}
