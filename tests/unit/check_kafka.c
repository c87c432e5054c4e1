/*
 * check_kafka.c -- the kafka sink (service/kafka.c) against librdkafka's
 * mock cluster, started by the test in this process on loopback: a
 * delivery's lines become messages with the key member's value as their
 * key, read back by a real consumer; a message the broker refuses fails
 * the delivery (RD_FAIL_KAFKA) with librdkafka's reason; with the broker
 * down, a delivery fails at its timeout. Every wait is bounded.
 */
#include "config.h"

#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "retry.h"

/* A sink call's outcome as one value: DELIVERED (it returned 0) or the kind of its failure in
 * fail (RD_FAIL_TIMEOUT is 0, so a kind alone cannot tell a failure from a delivery). */
#define DELIVERED RD_FAIL__COUNT
#define OUTCOME(call) ((call) == 0 ? DELIVERED : fail)

#define KAFKA_API_PRODUCE 0 /* the Kafka protocol's ApiKey of Produce */

static rd_kafka_t *owner;    /* the mock cluster's handle */
static rd_kafka_mock_cluster_t *cluster;
static const char *bootstraps;

static void
cluster_up(void)
{
	char why[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	ck_assert_ptr_nonnull(conf);
	owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	ck_assert_msg(owner != NULL, "%s", why);
	cluster = rd_kafka_mock_cluster_new(owner, 1);
	ck_assert_ptr_nonnull(cluster);
	bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
	ck_assert_int_eq(rd_kafka_mock_topic_create(cluster, "events", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void
cluster_down(void)
{
	rd_kafka_mock_cluster_destroy(cluster);
	rd_kafka_destroy(owner);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads up to n messages of topic events, partition 0, from its start (10 s at most):
 * values and keys as "VALUE|KEY" lines ("-" for no key) into out. Returns how many. */
static unsigned
consume(unsigned n, char out[][128])
{
	char why[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
	rd_kafka_t *c;
	struct timespec t0;
	unsigned got = 0;

	ck_assert_int_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, why, sizeof why), RD_KAFKA_CONF_OK);
	ck_assert_int_eq(rd_kafka_conf_set(conf, "group.id", "check", why, sizeof why), RD_KAFKA_CONF_OK);
	c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
	ck_assert_msg(c != NULL, "%s", why);
	rd_kafka_topic_partition_list_add(tp, "events", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	ck_assert_int_eq(rd_kafka_assign(c, tp), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(tp);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < n && ms_since(&t0) < 10000) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
		if (!m)
			continue;
		if (!m->err) {
			snprintf(out[got++], 128, "%.*s|%.*s", (int)m->len, (const char *)m->payload,
				m->key ? (int)m->key_len : 1, m->key ? (const char *)m->key : "-");
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return got;
}

START_TEST(test_kafka_produces_keyed_messages)
{
	int fail = -1;
	static const char batch[] = "{\"customer\":\"C-1\",\"n\":1}\n{\"customer\":42,\"n\":2}\n{\"n\":3}\n";
	struct rd_kafka_sink *ks;
	char err[256], got[4][128];
	static char got6[6][128];

	cluster_up();
	ks = rd_kafka_sink_open("dst", bootstraps, "events", "customer", 5000, err, sizeof err);
	ck_assert_msg(ks != NULL, "%s", err);
	ck_assert_int_eq(OUTCOME(rd_kafka_sink_write(ks, batch, sizeof batch - 1, &fail, err, sizeof err)), DELIVERED);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(consume(3, got), 3);
	ck_assert_str_eq(got[0], "{\"customer\":\"C-1\",\"n\":1}|C-1");
	ck_assert_str_eq(got[1], "{\"customer\":42,\"n\":2}|42");
	ck_assert_str_eq(got[2], "{\"n\":3}|-");
	/* a fatal error of the idempotent producer: the next delivery replaces it and goes through */
	{
		void *old = rd_kafka_sink_client_handle(ks);
		ck_assert_int_eq(rd_kafka_test_fatal_error(old, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
			"raised by check_kafka"), RD_KAFKA_RESP_ERR_NO_ERROR);
		ck_assert_int_eq(OUTCOME(rd_kafka_sink_write(ks, batch, sizeof batch - 1, &fail, err, sizeof err)), DELIVERED);
		ck_assert_ptr_ne(rd_kafka_sink_client_handle(ks), old);
		ck_assert_uint_eq(consume(6, got6), 6);
		ck_assert_str_eq(got6[5], "{\"n\":3}|-");
	}
	rd_kafka_sink_close(ks);
	cluster_down();
}
END_TEST

START_TEST(test_kafka_refused_and_down)
{
	int fail = -1;
	static const char one[] = "{\"n\":1}\n";
	struct rd_kafka_sink *ks;
	struct timespec t0;
	char err[256];
	long took;

	cluster_up();
	ks = rd_kafka_sink_open("dst", bootstraps, "events", NULL, 1500, err, sizeof err);
	ck_assert_msg(ks != NULL, "%s", err);
	/* the broker refuses the next produce request for good: the delivery fails with its reason */
	rd_kafka_mock_push_request_errors(cluster, KAFKA_API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
	ck_assert_int_eq(OUTCOME(rd_kafka_sink_write(ks, one, sizeof one - 1, &fail, err, sizeof err)), RD_FAIL_KAFKA);
	ck_assert_msg(strncmp(err, "kafka: ", 7) == 0 && strstr(err, "too large"), "%s", err);
	/* the error was for that request only: the next delivery goes through */
	ck_assert_msg(rd_kafka_sink_write(ks, one, sizeof one - 1, &fail, err, sizeof err) == 0, "%s", err);
	/* the broker down: the delivery fails at its timeout (1.5 s), not before, not much after */
	ck_assert_int_eq(rd_kafka_mock_broker_set_down(cluster, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(OUTCOME(rd_kafka_sink_write(ks, one, sizeof one - 1, &fail, err, sizeof err)), RD_FAIL_TIMEOUT);
	took = ms_since(&t0);
	ck_assert_msg(took >= 1400 && took < 4000, "failed after %ld ms", took);
	ck_assert_msg(strncmp(err, "kafka: ", 7) == 0, "%s", err);
	rd_kafka_sink_close(ks);
	cluster_down();
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("kafka");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int nf;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_kafka_produces_keyed_messages);
	tcase_add_test(tc, test_kafka_refused_and_down);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
