/*
 * kafka_mock.c -- a Kafka broker for run-kafka.sh: librdkafka's mock cluster
 * (one broker on loopback) with topic TOPIC. It writes the bootstrap address
 * to ADDR-FILE, then consumes TOPIC from its start and appends each message
 * to OUT-FILE as one line "KEY<TAB>VALUE" ("-" for no key), until it has N
 * messages or SECONDS have passed (exit 0 when it got N, else 1).
 *
 *   kafka_mock ADDR-FILE OUT-FILE TOPIC N SECONDS [IN-TOPIC IN-FILE GROUP STOP-FILE COMMIT-FILE]
 *
 * With the five more arguments, it first produces each line of IN-FILE as
 * one message of IN-TOPIC (an empty line: an empty message), and after
 * its N messages it waits until STOP-FILE exists (or SECONDS passed), then
 * writes the offset GROUP committed for IN-TOPIC partition 0 to COMMIT-FILE.
 * With KAFKA_MOCK_LATER=FILE:TRIGGER[,FILE:TRIGGER...] in the environment,
 * it also produces each line of each FILE to IN-TOPIC once its TRIGGER file
 * exists, in turn (for consumers that join later). KAFKA_MOCK_PARTITIONS=P:
 * IN-TOPIC has P partitions (default 1; unkeyed messages spread over them).
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Produces each line of path (without its '\n') to topic (created) and waits for the acks. */
static int
produce(rd_kafka_mock_cluster_t *mc, const char *topic, const char *path)
{
	char why[256], line[4096];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *p;
	FILE *f;
	long nline = 0;

	const char *np = getenv("KAFKA_MOCK_PARTITIONS");
	rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, np ? atoi(np) : 1, 1);

	if ((e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) ||
	    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), why, sizeof why) ||
	    !(p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why)) || !(f = fopen(path, "r"))) {
		fprintf(stderr, "kafka_mock: cannot produce %s: %s\n", path, why);
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		size_t n = strcspn(line, "\n");
		char key[24];
		/* keyed by its line number: spread over the partitions, in order within each */
		snprintf(key, sizeof key, "%ld", nline++);
		if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(line, n),
			RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
			fprintf(stderr, "kafka_mock: produce failed\n");
			return -1;
		}
	}
	fclose(f);
	if (rd_kafka_flush(p, 10000)) {
		fprintf(stderr, "kafka_mock: produce not acknowledged\n");
		return -1;
	}
	rd_kafka_destroy(p);
	return 0;
}

/* Writes the offset group committed for topic partition 0 to path ("-1": none). */
static int
committed(rd_kafka_mock_cluster_t *mc, const char *group, const char *topic, const char *path)
{
	char why[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *c;
	FILE *f;
	int64_t off;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), why, sizeof why) ||
	    rd_kafka_conf_set(conf, "group.id", group, why, sizeof why) ||
	    !(c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
		fprintf(stderr, "kafka_mock: committed: %s\n", why);
		return -1;
	}
	rd_kafka_topic_partition_list_add(tp, topic, 0);
	if (rd_kafka_committed(c, tp, 10000)) {
		fprintf(stderr, "kafka_mock: committed: no answer\n");
		return -1;
	}
	off = tp->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(tp);
	rd_kafka_destroy(c);
	if (!(f = fopen(path, "w")) || fprintf(f, "%lld\n", (long long)off) < 0 || fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

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
	char *later = getenv("KAFKA_MOCK_LATER"), *trigger = NULL, *rest = NULL, *later_buf = NULL;

	if (argc != 6 && argc != 11) {
		fprintf(stderr, "usage: kafka_mock ADDR-FILE OUT-FILE TOPIC N SECONDS "
			"[IN-TOPIC IN-FILE GROUP STOP-FILE COMMIT-FILE]\n");
		return 2;
	}
	if (later && (later = later_buf = strdup(later)) && (rest = strchr(later, ',')))
		*rest++ = '\0';
	if (later && (trigger = strchr(later, ':')))
		*trigger++ = '\0';
	n = atol(argv[4]);
	until = time(NULL) + atol(argv[5]);
	if (!(owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), why, sizeof why)) ||
	    !(mc = rd_kafka_mock_cluster_new(owner, 1)) || rd_kafka_mock_topic_create(mc, argv[3], 1, 1)) {
		fprintf(stderr, "kafka_mock: cannot start the mock cluster: %s\n", why);
		return 1;
	}
	if (argc == 11 && produce(mc, argv[6], argv[7]) < 0)
		return 1;
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
		rd_kafka_message_t *m;
		if (later && trigger && (f = fopen(trigger, "r"))) {
			fclose(f);
			if (produce(mc, argv[6], later) < 0)
				return 1;
			/* the next FILE:TRIGGER, if any */
			later = rest;
			trigger = rest = NULL;
			if (later && (rest = strchr(later, ',')))
				*rest++ = '\0';
			if (later && (trigger = strchr(later, ':')))
				*trigger++ = '\0';
		}
		m = rd_kafka_consumer_poll(c, 100);
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
	if (argc == 11) {
		while (time(NULL) < until && !(f = fopen(argv[9], "r"))) {
			struct timespec ts = { 0, 100 * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (f)
			fclose(f);
		if (committed(mc, argv[8], argv[6], argv[10]) < 0)
			return 1;
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(owner);
	free(later_buf);
	return got == n ? 0 : 1;
}
