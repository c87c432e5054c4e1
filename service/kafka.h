/*
 * kafka.h -- the kafka sink (sink = kafka; built with librdkafka, HAVE_KAFKA):
 * each message of a delivery becomes one Kafka message on the destination's
 * topic, its value the event's JSON (without the line's newline), its key
 * the value of the event's top-level member `key` names (a string without
 * its quotes, other JSON as written; no key when the member is absent or
 * no `key` is set, so the partitioner spreads them). A delivery succeeds
 * when the brokers acknowledged every one of its messages (acks = all, the
 * idempotent producer, so librdkafka's own resends do not duplicate); it
 * fails (and is retried or dead-lettered whole, at least once) when one was
 * refused or not acknowledged within the attempt's timeout (the rules'
 * `timeout`, else the file's, else 30 s). One producer per destination,
 * shared by its lane threads; reentrant.
 */
#ifndef RD_KAFKA_H
#define RD_KAFKA_H

#include <stddef.h>

#include "route.h"

struct rd_kafka_sink;

/*
 * Opens a producer for brokers and topic (borrowed, copied); key_member may
 * be NULL. Returns it, or NULL with a reason in err (a bad broker list; an
 * unreachable broker is not an error here: deliveries fail until it is).
 */
struct rd_kafka_sink *rd_kafka_sink_open(const char *dest, const char *brokers, const char *topic,
	const char *key_member, unsigned timeout_ms, char *err, size_t errlen);
/*
 * Produces each line of buf[0..len) (each ending in '\n') as one message and
 * waits for their acknowledgements. Returns 0, or -1 with the enum rd_fail of
 * the failure in *fail (RD_FAIL_TIMEOUT, RD_FAIL_CONNECTION, RD_FAIL_KAFKA)
 * and a reason in err.
 */
int rd_kafka_sink_write(struct rd_kafka_sink *ks, const char *buf, size_t len, int *fail, char *err,
	size_t errlen);
/* The producer in use (for tests: a fatal error is raised on it with rd_kafka_test_fatal_error;
 * the next write replaces it). An rd_kafka_t *, as void * so that this header needs no librdkafka. */
void *rd_kafka_sink_client_handle(struct rd_kafka_sink *ks);
/* Waits up to 5 s for what is still in flight, then frees ks (NULL: nothing). */
void rd_kafka_sink_close(struct rd_kafka_sink *ks);

/*
 * The kafka source ([kafka] brokers, topics, group): one consumer of the
 * group, on its own thread, takes the topics' messages as events, the way
 * the TCP listener takes lines (lines.h): each message's value is one
 * event (its raw line breaks count as spaces), validated, logged durably
 * in batches, and only then is its offset committed. An invalid event
 * cannot be refused to anyone: it is counted (routed_events_rejected_total),
 * logged at warn with its topic, partition and offset, and skipped. When
 * the memory budget is full, or a rule's backpressure holds, the consumer
 * stops polling until there is room: the backlog stays in Kafka. A group
 * with no committed offset starts at the topics' earliest messages ([kafka]
 * start = latest: at their end). At
 * least once: after a crash, messages logged but not committed come again
 * (dedup drops them when [durability] dedup_window is set).
 */
struct rd_conf;
struct rd_metrics;
struct rd_pipeline;
struct rd_kafka_source;

/* Starts the consumer (borrows everything until rd_kafka_source_stop). Returns it, or NULL with err. */
struct rd_kafka_source *rd_kafka_source_start(const struct rd_conf *c, const route_prog *p, struct rd_metrics *m,
	struct rd_pipeline *pl, char *err, size_t errlen);
/* Stops taking messages, commits what was taken, leaves the group and frees ks (NULL: nothing). */
void rd_kafka_source_stop(struct rd_kafka_source *ks);
struct rd_buf;
/* Appends the source's metrics (routed_kafka_*) to out. */
void rd_kafka_source_render(struct rd_kafka_source *ks, struct rd_buf *out);
/* Appends the source's object of /status.json (status.h, rd_status_json) to out. */
void rd_kafka_source_status(struct rd_kafka_source *ks, struct rd_buf *out);

#endif
