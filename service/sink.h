/*
 * sink.h -- where a destination's messages are written: the built-in queue
 * (store.h), standard output, or an NDJSON file (appended). One sink per
 * destination, written by that destination's lane thread only (pipeline.c);
 * the queue's store is also read and acknowledged by HTTP threads.
 *
 * Planned, not in this increment: webhooks (libcurl multi), exec, file
 * rotation, Kafka/RabbitMQ.
 */
#ifndef RD_SINK_H
#define RD_SINK_H

#include <stddef.h>

#include "conf.h"
#include "store.h"

struct rd_sink {
	int kind;                  /* enum rd_sink_kind */
	struct rd_store *store;    /* owns: RD_SINK_QUEUE's queue, else NULL */
	int fd;                    /* RD_SINK_FILE: owns; RD_SINK_STDOUT: borrows 1; queue: -1 */
	char *path;                /* owns: RD_SINK_FILE's path (for messages) */
};

/*
 * Opens the sink bound to destination name[0..len) by c (a built-in queue
 * under c->data_dir when c binds none). Returns 0, or -1 with a reason in err.
 */
int rd_sink_open(struct rd_sink *s, const struct rd_conf *c, const char *name, size_t len,
	char *err, size_t errlen);
void rd_sink_close(struct rd_sink *s);
/* Writes one message (len bytes ending in '\n'). Returns 0, or -1 (errno set). */
int rd_sink_write(struct rd_sink *s, const char *line, size_t len);
/* "queue", "stdout" or "file". */
const char *rd_sink_kind_name(int kind);

#endif
