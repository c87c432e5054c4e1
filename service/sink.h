/*
 * sink.h -- where a destination's messages are written: the built-in queue
 * (store.h), standard output, an NDJSON file (appended, rotated by size),
 * a command (exec.h), or a webhook (webhook.h). One sink per destination,
 * written by that destination's lane threads only (pipeline.c); the queue's
 * store is also read and acknowledged by HTTP threads. All but webhooks are
 * written one delivery (a message, or a batch of them) at a time with
 * rd_sink_write; a webhook is asynchronous and is driven through its own
 * API (rd_webhook_add/run), which the lane uses instead.
 *
 * Ordering: the queue, stdout and file sinks are written under the sink's
 * mutex, so each delivery lands whole; exec runs up to the destination's
 * `workers` commands at once (pipeline.c), each on its own input.
 *
 * sink = kafka produces to a Kafka topic (kafka.h; when built with librdkafka).
 * sink = rabbitmq publishes to a RabbitMQ exchange (rabbitmq.h; when built with librabbitmq).
 */
#ifndef RD_SINK_H
#define RD_SINK_H

#include <pthread.h>
#include <stddef.h>

#include "conf.h"
#include "exec.h"
#include "metrics.h"
#include "store.h"
#include "webhook.h"

struct rd_kafka_sink;
struct rd_rabbitmq_sink;

struct rd_sink {
	int kind;                  /* enum rd_sink_kind */
	struct rd_store *store;    /* owns: RD_SINK_QUEUE's queue, else NULL */
	int fd;                    /* RD_SINK_FILE: owns (-1 while it cannot be opened);
	                            * RD_SINK_STDOUT: borrows 1; others: -1 */
	char *path;                /* owns: RD_SINK_FILE's path */
	unsigned long long size;   /* RD_SINK_FILE: bytes in the current file (rotation) */
	unsigned long long rotate_bytes; /* RD_SINK_FILE: rotate past this size; 0 = never */
	unsigned rotate_keep;      /* RD_SINK_FILE: PATH.1 .. PATH.K kept */
	char *command;             /* owns: RD_SINK_EXEC's command line */
	char *name;                /* owns: the destination's name (NUL-terminated) */
	unsigned timeout_ms;       /* RD_SINK_EXEC: one run's limit (stream: one delivery's answers) */
	int stream;                /* RD_SINK_EXEC: exec_mode = stream, its commands in pool */
	struct rd_exec_pool pool;  /* owns: RD_SINK_EXEC stream's long-lived commands (exec.h) */
	pthread_mutex_t mu;        /* orders writes of the file sink's lane threads */
	struct rd_webhook *wh;     /* owns: RD_SINK_WEBHOOK's client, else NULL */
	struct rd_kafka_sink *kafka; /* owns: RD_SINK_KAFKA's producer (kafka.h), else NULL */
	struct rd_rabbitmq_sink *rabbitmq; /* owns: RD_SINK_RABBITMQ's publisher (rabbitmq.h), else NULL */
};

/*
 * Opens the sink bound to destination dest of program p by c (a built-in
 * queue under c->data_dir when c binds none). A webhook borrows m for its
 * metrics. A file that cannot be opened yet is not an error: it is logged,
 * and each write tries to open it again (and fails until it can). Returns
 * 0, or -1 with a reason in err.
 */
int rd_sink_open(struct rd_sink *s, const struct rd_conf *c, const route_prog *p, uint32_t dest,
	struct rd_metrics *m, char *err, size_t errlen);
/* The same, counting in metrics slot `slot` (rd_metrics_dest_slot) rather than dest. */
int rd_sink_open_slot(struct rd_sink *s, const struct rd_conf *c, const route_prog *p, uint32_t dest,
	uint32_t slot, struct rd_metrics *m, char *err, size_t errlen);
void rd_sink_close(struct rd_sink *s);
/*
 * Delivers buf[0..len): count messages, each a line ending in '\n' (not for
 * webhooks). Returns 0, or -1 with *fail (enum rd_fail: RD_FAIL_WRITE,
 * RD_FAIL_EXEC, RD_FAIL_TIMEOUT, RD_FAIL_OTHER) and a reason in err.
 */
int rd_sink_write(struct rd_sink *s, const char *buf, size_t len, unsigned count, int *fail,
	char *err, size_t errlen);
/* "queue", "stdout", "file", "webhook", "exec", "kafka" or "rabbitmq". */
const char *rd_sink_kind_name(int kind);

#endif
