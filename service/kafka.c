/*
 * kafka.c -- the kafka sink (see kafka.h) on librdkafka's producer. A
 * delivery's messages are produced with one shared record of the call
 * (struct call: how many are still unacknowledged, the first error), each
 * message holding a reference to it; the lane thread then serves delivery
 * reports with rd_kafka_poll() until its call is complete. Any thread's poll
 * may serve another's reports, hence the lock and the references: a caller
 * that gives up at its deadline leaves the record to the reports still due.
 */
#include "config.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "kafka.h"
#include "log.h"
#include "retry.h"

struct rd_kafka_sink {
	rd_kafka_t *rk;            /* owns */
	char *topic;               /* owns */
	char *key_member;          /* owns, or NULL */
	unsigned timeout_ms;
};

struct call {                  /* one rd_kafka_sink_write: shared with its messages' reports */
	pthread_mutex_t mu;
	unsigned refs;             /* the caller's + one per message produced and not reported */
	unsigned pending;          /* messages not reported yet */
	rd_kafka_resp_err_t err;   /* the first failed report's, or 0 */
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Drops one reference to c (freed with the last); reported: a message's report came. */
static void
call_put(struct call *c, int reported, rd_kafka_resp_err_t err)
{
	unsigned left;

	pthread_mutex_lock(&c->mu);
	if (reported) {
		c->pending--;
		if (err && !c->err)
			c->err = err;
	}
	left = --c->refs;
	pthread_mutex_unlock(&c->mu);
	if (!left) {
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
}

/* librdkafka's delivery report: served by whichever thread polls. */
static void
on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->_private)
		call_put(m->_private, 1, m->err);
}

/* librdkafka's error callback: logged (a broker down, say; the reports tell each message's fate). */
static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)opaque;
	rd_log(RD_LOG_WARN, "kafka sink: client error", "\"client\":\"%s\",\"error\":\"%s\",\"reason\":\"%s\"",
		rd_kafka_name(rk), rd_kafka_err2str((rd_kafka_resp_err_t)err), reason);
}

static int
set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
	char why[256];

	if (rd_kafka_conf_set(conf, k, v, why, sizeof why) == RD_KAFKA_CONF_OK)
		return 0;
	snprintf(err, errlen, "kafka: %s = %s: %s", k, v, why);
	return -1;
}

struct rd_kafka_sink *
rd_kafka_sink_open(const char *dest, const char *brokers, const char *topic, const char *key_member,
	unsigned timeout_ms, char *err, size_t errlen)
{
	struct rd_kafka_sink *ks = calloc(1, sizeof *ks);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char num[32], id[300], why[512];

	if (!ks || !conf || !(ks->topic = strdup(topic)) || (key_member && !(ks->key_member = strdup(key_member)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ks->timeout_ms = timeout_ms;
	snprintf(num, sizeof num, "%u", timeout_ms);
	snprintf(id, sizeof id, "routed-%s", dest);
	/* acks from every in-sync replica, and the idempotent producer: librdkafka's own
	 * resends within message.timeout.ms do not duplicate */
	if (set(conf, "bootstrap.servers", brokers, err, errlen) < 0 || set(conf, "client.id", id, err, errlen) < 0 ||
	    set(conf, "acks", "all", err, errlen) < 0 || set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
	    set(conf, "message.timeout.ms", num, err, errlen) < 0 || set(conf, "linger.ms", "1", err, errlen) < 0)
		goto fail;
	rd_kafka_conf_set_dr_msg_cb(conf, on_report);
	rd_kafka_conf_set_error_cb(conf, on_error);
	if (!(ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
		snprintf(err, errlen, "kafka: %s", why);
		goto fail;
	}
	return ks; /* conf is the producer's now */
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (ks) {
		free(ks->topic);
		free(ks->key_member);
		free(ks);
	}
	return NULL;
}

/* The message's key: the value of the key member (a string without its quotes), or none. */
static void
key_of(const struct rd_kafka_sink *ks, const char *msg, size_t len, const char **k, size_t *klen)
{
	*k = NULL;
	*klen = 0;
	if (!ks->key_member || !rd_json_member(msg, len, ks->key_member, k, klen))
		return;
	if (*klen >= 2 && (*k)[0] == '"') {
		(*k)++;
		*klen -= 2;
	}
}

static int
fail_of(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
		return RD_FAIL_TIMEOUT;
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
		return RD_FAIL_CONNECTION;
	default:
		return RD_FAIL_KAFKA;
	}
}

int
rd_kafka_sink_write(struct rd_kafka_sink *ks, const char *buf, size_t len, unsigned count, char *err,
	size_t errlen)
{
	struct call *c = calloc(1, sizeof *c);
	/* message.timeout.ms bounds every report; a second more for the report to be served */
	uint64_t deadline = mono_ms() + ks->timeout_ms + 1000u, now;
	const char *p = buf, *end = buf + len, *nl, *k;
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
	size_t klen;
	unsigned pending;
	int rc;

	(void)count;
	err[0] = '\0';
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return RD_FAIL_OTHER;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->refs = 1;
	for (; p < end && !e; p = nl < end ? nl + 1 : end) {
		if (!(nl = memchr(p, '\n', (size_t)(end - p))))
			nl = end;
		if (nl == p)
			continue;
		key_of(ks, p, (size_t)(nl - p), &k, &klen);
		pthread_mutex_lock(&c->mu);
		c->refs++;
		c->pending++;
		pthread_mutex_unlock(&c->mu);
		for (;;) {
			e = rd_kafka_producev(ks->rk, RD_KAFKA_V_TOPIC(ks->topic),
				RD_KAFKA_V_VALUE((void *)p, (size_t)(nl - p)), RD_KAFKA_V_KEY(k, klen),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_END);
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || mono_ms() >= deadline)
				break;
			rd_kafka_poll(ks->rk, 10); /* room is made as reports come */
		}
		if (e) /* not produced: no report will come for it */
			call_put(c, 1, e);
	}
	/* serve reports until every message of this call has one, or the deadline */
	for (;;) {
		pthread_mutex_lock(&c->mu);
		pending = c->pending;
		pthread_mutex_unlock(&c->mu);
		if (!pending || (now = mono_ms()) >= deadline)
			break;
		rd_kafka_poll(ks->rk, (int)(deadline - now < 100 ? deadline - now : 100));
	}
	pthread_mutex_lock(&c->mu);
	e = c->err;
	pending = c->pending;
	pthread_mutex_unlock(&c->mu);
	if (pending) {
		snprintf(err, errlen, "kafka: %u messages not acknowledged within %u ms", pending, ks->timeout_ms);
		rc = RD_FAIL_TIMEOUT;
	} else if (e) {
		snprintf(err, errlen, "kafka: %s", rd_kafka_err2str(e));
		rc = fail_of(e);
	} else {
		rc = 0;
	}
	call_put(c, 0, 0);
	return rc;
}

void
rd_kafka_sink_close(struct rd_kafka_sink *ks)
{
	if (!ks)
		return;
	if (rd_kafka_flush(ks->rk, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		rd_log(RD_LOG_WARN, "kafka sink: messages still unacknowledged at the close", "\"topic\":\"%s\"",
			ks->topic);
	rd_kafka_destroy(ks->rk);
	free(ks->topic);
	free(ks->key_member);
	free(ks);
}
