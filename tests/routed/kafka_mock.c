/*
 * kafka_mock.c -- a Kafka broker for run-kafka.sh: librdkafka's mock cluster
 * (one broker on loopback) with topic TOPIC. It writes the bootstrap address
 * to ADDR-FILE, then consumes TOPIC from its start and appends each message
 * to OUT-FILE as one line "KEY<TAB>VALUE" ("-" for no key), until it has N
 * messages or SECONDS have passed (exit 0 when it got N, else 1).
 *
 *   kafka_mock ADDR-FILE OUT-FILE TOPIC N SECONDS
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main(int argc, char **argv)
{
	char why[256];
	rd_kafka_conf_t *conf;
	rd_kafka_t *owner, *c;
	rd_kafka_mock_cluster_t *mc;
	rd_kafka_topic_partition_list_t *tp;
	FILE *f;
	long n, got = 0;
	time_t until;

	if (argc != 6) {
		fprintf(stderr, "usage: kafka_mock ADDR-FILE OUT-FILE TOPIC N SECONDS\n");
		return 2;
	}
	n = atol(argv[4]);
	until = time(NULL) + atol(argv[5]);
	if (!(owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), why, sizeof why)) ||
	    !(mc = rd_kafka_mock_cluster_new(owner, 1)) || rd_kafka_mock_topic_create(mc, argv[3], 1, 1)) {
		fprintf(stderr, "kafka_mock: cannot start the mock cluster: %s\n", why);
		return 1;
	}
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), why, sizeof why) ||
	    rd_kafka_conf_set(conf, "group.id", "run-kafka", why, sizeof why) ||
	    !(c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
		fprintf(stderr, "kafka_mock: consumer: %s\n", why);
		return 1;
	}
	tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(tp, argv[3], 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(c, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	/* the address last, once everything listens: the script waits for this file */
	if (!(f = fopen(argv[1], "w")) || fprintf(f, "%s\n", rd_kafka_mock_cluster_bootstraps(mc)) < 0 || fclose(f)) {
		perror(argv[1]);
		return 1;
	}
	while (got < n && time(NULL) < until) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
		if (!m)
			continue;
		if (!m->err && (f = fopen(argv[2], "a"))) {
			fprintf(f, "%.*s\t%.*s\n", m->key ? (int)m->key_len : 1, m->key ? (const char *)m->key : "-",
				(int)m->len, (const char *)m->payload);
			fclose(f);
			got++;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(owner);
	return got == n ? 0 : 1;
}
