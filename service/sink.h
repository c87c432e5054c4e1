/*
 * sink.h -- where a destination's messages are written: the built-in queue
 * (store.h), standard output, an NDJSON file (appended), or a webhook
 * (webhook.h). One sink per destination, written by that destination's lane
 * thread only (pipeline.c); the queue's store is also read and acknowledged
 * by HTTP threads. The first three are written one message at a time with
 * rd_sink_write; a webhook is asynchronous and is driven through its own
 * API (rd_webhook_add/run), which the lane uses instead.
 *
 * Planned, not in this increment: exec, file rotation, Kafka/RabbitMQ.
 */
#ifndef RD_SINK_H
#define RD_SINK_H

#include <stddef.h>

#include "conf.h"
#include "metrics.h"
#include "store.h"
#include "webhook.h"

struct rd_sink {
	int kind;                  /* enum rd_sink_kind */
	struct rd_store *store;    /* owns: RD_SINK_QUEUE's queue, else NULL */
	int fd;                    /* RD_SINK_FILE: owns; RD_SINK_STDOUT: borrows 1; queue: -1 */
	char *path;                /* owns: RD_SINK_FILE's path (for messages) */
	struct rd_webhook *wh;     /* owns: RD_SINK_WEBHOOK's client, else NULL */
};

/*
 * Opens the sink bound to destination dest of program p, name[0..len), by c
 * (a built-in queue under c->data_dir when c binds none). A webhook borrows
 * m for its metrics. Returns 0, or -1 with a reason in err.
 */
int rd_sink_open(struct rd_sink *s, const struct rd_conf *c, const route_prog *p, uint32_t dest,
	struct rd_metrics *m, char *err, size_t errlen);
/* The same, counting in metrics slot `slot` (rd_metrics_dest_slot) rather than dest. */
int rd_sink_open_slot(struct rd_sink *s, const struct rd_conf *c, const route_prog *p, uint32_t dest,
	uint32_t slot, struct rd_metrics *m, char *err, size_t errlen);
void rd_sink_close(struct rd_sink *s);
/* Writes one message (len bytes ending in '\n'); not for webhooks. Returns 0, or -1 (errno set). */
int rd_sink_write(struct rd_sink *s, const char *line, size_t len);
/* "queue", "stdout", "file" or "webhook". */
const char *rd_sink_kind_name(int kind);

#endif
