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

struct rd_kafka_sink;

/*
 * Opens a producer for brokers and topic (borrowed, copied); key_member may
 * be NULL. Returns it, or NULL with a reason in err (a bad broker list; an
 * unreachable broker is not an error here: deliveries fail until it is).
 */
struct rd_kafka_sink *rd_kafka_sink_open(const char *dest, const char *brokers, const char *topic,
	const char *key_member, unsigned timeout_ms, char *err, size_t errlen);
/*
 * Produces the count lines of buf[0..len) (each ending in '\n') and waits
 * for their acknowledgements. Returns 0, or the enum rd_fail of the failure
 * (RD_FAIL_TIMEOUT, RD_FAIL_CONNECTION, RD_FAIL_KAFKA) with a reason in err.
 */
int rd_kafka_sink_write(struct rd_kafka_sink *ks, const char *buf, size_t len, unsigned count, char *err,
	size_t errlen);
/* Waits up to 5 s for what is still in flight, then frees ks (NULL: nothing). */
void rd_kafka_sink_close(struct rd_kafka_sink *ks);

#endif
