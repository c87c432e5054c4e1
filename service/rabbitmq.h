/*
 * rabbitmq.h -- RabbitMQ in and out (built with rabbitmq-c, HAVE_RABBITMQ;
 * DESIGN.md section 6).
 *
 * sink = rabbitmq: each message of a delivery is published to the
 * destination's exchange (the default exchange when none is set) with its
 * routing_key, as a persistent message (delivery mode 2, content type
 * application/json), mandatory, on a channel in confirm mode. A delivery
 * succeeds when the broker confirmed every one of its messages. It fails
 * (and is retried or dead-lettered whole, at least once) when one was
 * nacked, returned as unroutable (no queue bound: with mandatory the
 * broker says so rather than dropping it), the channel was closed (an
 * exchange that does not exist, ...), the broker cannot be reached, or the
 * confirms did not all come within the attempt's timeout (the rules'
 * `timeout`, else the file's, else 30 s). One connection per destination,
 * shared by its lane threads (rabbitmq-c's connections are not
 * thread-safe: a mutex orders them); after any error it is closed and the
 * next delivery opens a new one.
 *
 * The [rabbitmq] source: one consumer of the queue, on its own thread,
 * takes its messages as events the way the TCP listener takes lines
 * (lines.h): each message's body is one event (its raw line breaks count
 * as spaces), validated, logged durably in batches, and only then acked
 * (basic.ack, multiple). An invalid event cannot be refused to anyone: it
 * is counted (routed_events_rejected_total), logged at warn with its
 * delivery tag, and rejected without requeue, so the broker dead-letters
 * it when the queue has a dead-letter exchange. The broker sends at most
 * `prefetch` messages ahead of their acks; when the memory budget is full
 * the consumer stops reading, so the backlog stays in the queue. At least
 * once: messages logged but not acked when the connection or routed goes
 * down are delivered again by the broker (dedup drops them when
 * [durability] dedup_window is set). A lost connection is opened again
 * every second until it works.
 */
#ifndef RD_RABBITMQ_H
#define RD_RABBITMQ_H

#include <stddef.h>

#include "route.h"

struct rd_rabbitmq_sink;

/*
 * Checks url (amqp://user:password@host:port/vhost, or amqps:// for TLS:
 * the broker's certificate verified against ca_file, NULL: the system's
 * CAs, and its name against the url's host) and keeps copies of the
 * arguments (borrowed); exchange and routing_key may be NULL (the default
 * exchange, an empty key). key_from (may be NULL): the top-level member
 * whose value (a string without its quotes, other JSON as written) is a
 * message's routing key, routing_key when the event has no such member. Connects at the first write. Returns the sink,
 * or NULL with a reason in err (a url that does not parse, out of memory).
 */
struct rd_rabbitmq_sink *rd_rabbitmq_sink_open(const char *url, const char *ca_file, const char *exchange,
	const char *routing_key, const char *key_from, unsigned timeout_ms, char *err, size_t errlen);
/*
 * Publishes each line of buf[0..len) (each ending in '\n', published
 * without it) and waits for the broker's confirms. Returns 0, or -1 with
 * the enum rd_fail of the failure in *fail (RD_FAIL_CONNECTION, RD_FAIL_TLS,
 * RD_FAIL_TIMEOUT, RD_FAIL_RABBITMQ, RD_FAIL_OTHER) and a reason in err.
 */
int rd_rabbitmq_sink_write(struct rd_rabbitmq_sink *rs, const char *buf, size_t len, int *fail, char *err,
	size_t errlen);
/* Closes the connection and frees rs (NULL: nothing). */
void rd_rabbitmq_sink_close(struct rd_rabbitmq_sink *rs);

struct rd_conf;
struct rd_metrics;
struct rd_pipeline;
struct rd_rabbitmq_source;
struct rd_buf;

/* Starts the consumer (borrows everything until rd_rabbitmq_source_stop). Returns it, or NULL with err. */
struct rd_rabbitmq_source *rd_rabbitmq_source_start(const struct rd_conf *c, const route_prog *p,
	struct rd_metrics *m, struct rd_pipeline *pl, char *err, size_t errlen);
/* Stops taking messages, acks what was logged, closes the connection and frees rs (NULL: nothing). */
void rd_rabbitmq_source_stop(struct rd_rabbitmq_source *rs);
/* Appends the source's metrics (routed_rabbitmq_*) to out. */
void rd_rabbitmq_source_render(struct rd_rabbitmq_source *rs, struct rd_buf *out);
/* Appends the source's object of /status.json (status.h, rd_status_json) to out. */
void rd_rabbitmq_source_status(struct rd_rabbitmq_source *rs, struct rd_buf *out);

#endif
