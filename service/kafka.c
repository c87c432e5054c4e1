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
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "kafka.h"
#include "lines.h"
#include "log.h"
#include "msgsrc.h"
#include "retry.h"
#include "webhook.h" /* rd_mono_ms */

struct rd_kafka_sink {
	rd_kafka_t *rk;            /* owns */
	char *dest, *brokers;      /* owns */
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

/* librdkafka's error callback: logged (a broker down, say; a sink's reports tell each message's fate). */
static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)opaque;
	struct rd_buf b;

	rd_buf_init(&b);
	rd_buf_puts(&b, "\"client\":");
	rd_buf_json_str(&b, rd_kafka_name(rk), strlen(rd_kafka_name(rk)));
	rd_buf_printf(&b, ",\"error\":\"%s\",\"reason\":", rd_kafka_err2name((rd_kafka_resp_err_t)err));
	rd_buf_json_str(&b, reason, strlen(reason));
	if (!b.oom)
		rd_log(RD_LOG_WARN, "kafka client error", "%s", b.p);
	rd_buf_fini(&b);
}

/* librdkafka's own log lines (syslog levels) go into routed's JSON log rather than to stderr as text. */
static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct rd_buf b;

	rd_buf_init(&b);
	rd_buf_puts(&b, "\"client\":");
	rd_buf_json_str(&b, rd_kafka_name(rk), strlen(rd_kafka_name(rk)));
	rd_buf_puts(&b, ",\"facility\":");
	rd_buf_json_str(&b, fac, strlen(fac));
	rd_buf_puts(&b, ",\"text\":");
	rd_buf_json_str(&b, buf, strlen(buf));
	if (!b.oom)
		rd_log(level <= 3 ? RD_LOG_ERROR : level == 4 ? RD_LOG_WARN : level <= 6 ? RD_LOG_INFO : RD_LOG_DEBUG,
			"kafka client", "%s", b.p);
	rd_buf_fini(&b);
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

/* A producer for ks (the idempotent one, acks from every in-sync replica: librdkafka's own
 * resends within message.timeout.ms do not duplicate). Returns it, or NULL with err. */
static rd_kafka_t *
new_producer(const struct rd_kafka_sink *ks, char *err, size_t errlen)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char num[32], id[300], why[512];
	rd_kafka_t *rk;

	if (!conf) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(num, sizeof num, "%u", ks->timeout_ms);
	snprintf(id, sizeof id, "routed-%s", ks->dest);
	if (set(conf, "bootstrap.servers", ks->brokers, err, errlen) < 0 || set(conf, "client.id", id, err, errlen) < 0 ||
	    set(conf, "acks", "all", err, errlen) < 0 || set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
	    set(conf, "message.timeout.ms", num, err, errlen) < 0 || set(conf, "linger.ms", "1", err, errlen) < 0) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_report);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
		snprintf(err, errlen, "kafka: %s", why);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return rk; /* conf is the producer's now */
}

static void
sink_free(struct rd_kafka_sink *ks)
{
	free(ks->dest);
	free(ks->brokers);
	free(ks->topic);
	free(ks->key_member);
	free(ks);
}

struct rd_kafka_sink *
rd_kafka_sink_open(const char *dest, const char *brokers, const char *topic, const char *key_member,
	unsigned timeout_ms, char *err, size_t errlen)
{
	struct rd_kafka_sink *ks = calloc(1, sizeof *ks);

	if (!ks || !(ks->dest = strdup(dest)) || !(ks->brokers = strdup(brokers)) || !(ks->topic = strdup(topic)) ||
	    (key_member && !(ks->key_member = strdup(key_member)))) {
		snprintf(err, errlen, "out of memory");
		if (ks)
			sink_free(ks);
		return NULL;
	}
	ks->timeout_ms = timeout_ms;
	if (!(ks->rk = new_producer(ks, err, errlen))) {
		sink_free(ks);
		return NULL;
	}
	return ks;
}

void *
rd_kafka_sink_client_handle(struct rd_kafka_sink *ks)
{
	return ks->rk;
}

/*
 * A fatal error (the idempotent producer's state cannot be kept: the
 * brokers lost its sequence, say) leaves the producer refusing every
 * message for good: it is replaced by a new one, and what the old one still
 * held is reported failed as it is destroyed (those deliveries are retried).
 */
static void
renew_if_fatal(struct rd_kafka_sink *ks)
{
	char why[512], err[512];
	rd_kafka_resp_err_t e = rd_kafka_fatal_error(ks->rk, why, sizeof why);
	rd_kafka_t *nrk;

	if (!e)
		return;
	if (!(nrk = new_producer(ks, err, sizeof err))) {
		rd_log_str(RD_LOG_ERROR, "kafka sink: the producer hit a fatal error and cannot be replaced", "error", err);
		return;
	}
	rd_log_str(RD_LOG_ERROR, "kafka sink: the producer hit a fatal error: replaced", "error", why);
	rd_kafka_destroy(ks->rk);
	ks->rk = nrk;
}

/* The message's key: the value of the key member (a string without its quotes), or none. */
static void
key_of(const struct rd_kafka_sink *ks, const char *msg, size_t len, const char **k, size_t *klen)
{
	if (!ks->key_member || !rd_json_member_text(msg, len, ks->key_member, k, klen)) {
		*k = NULL;
		*klen = 0;
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
rd_kafka_sink_write(struct rd_kafka_sink *ks, const char *buf, size_t len, int *fail, char *err, size_t errlen)
{
	struct call *c = calloc(1, sizeof *c);
	/* message.timeout.ms bounds every report; a second more for the report to be served */
	uint64_t deadline = rd_mono_ms() + ks->timeout_ms + 1000u, now;
	const char *p = buf, *end = buf + len, *nl, *k;
	rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
	size_t klen;
	unsigned pending;
	int rc;

	err[0] = '\0';
	renew_if_fatal(ks);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return rd_failed(fail, RD_FAIL_OTHER);
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
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || rd_mono_ms() >= deadline)
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
		if (!pending || (now = rd_mono_ms()) >= deadline)
			break;
		rd_kafka_poll(ks->rk, (int)(deadline - now < 100 ? deadline - now : 100));
	}
	pthread_mutex_lock(&c->mu);
	e = c->err;
	pending = c->pending;
	pthread_mutex_unlock(&c->mu);
	if (pending) {
		snprintf(err, errlen, "kafka: %u messages not acknowledged within %u ms", pending, ks->timeout_ms);
		rc = rd_failed(fail, RD_FAIL_TIMEOUT);
	} else if (e) {
		snprintf(err, errlen, "kafka: %s", rd_kafka_err2str(e));
		rc = rd_failed(fail, fail_of(e));
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
	sink_free(ks);
}

/* ---- the source ---------------------------------------------------------------- */

#define SRC_POLL_MS 100         /* a poll's wait when nothing came yet */
#define SRC_READ_MAX 1000       /* messages taken into one read at most */

struct rd_kafka_source {
	rd_kafka_t *rk;            /* owns: the consumer */
	struct rd_lines lines;     /* owns */
	struct rd_lines_stats stats;
	char **topics;             /* owns: [ntopics] */
	uint32_t ntopics;
	struct rd_msgq q;          /* owns: messages without a result yet (id: the offset, part: the
	                            * partition, where: the topic's index in topics) */
	rd_kafka_topic_partition_list_t *done; /* owns: offsets to commit at the next flush */
	rd_kafka_message_t *carry; /* owns: the message being copied into the reads, or NULL */
	size_t carry_off;          /* bytes of its line already copied ('\n' included at len) */
	atomic_uint_fast64_t consumed[3]; /* messages by what became of them: accepted, skipped, empty */
	atomic_uint_fast64_t commits, commit_failures;
	atomic_int partitions;     /* assigned to this member now (the status page) */
	atomic_int stop;
	int held;                  /* a message was taken and not logged (shutting down, a log
	                            * error): nothing more is committed, so it comes again */
	pthread_t thr;
	int started;
};

/*
 * Partitions given to or taken from this member of the group (served by the
 * consumer's poll): logged, then taken on (the eager protocol librdkafka
 * uses by default). What was done before a revocation is committed first,
 * so the next owner starts after it. (Results that come after it, of
 * messages taken before, are committed later: at worst that moves the
 * group back, and the next owner gets them again, at least once.)
 */
static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct rd_kafka_source *ks = opaque;
	int assigned = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;

	rd_log(RD_LOG_INFO, assigned ? "kafka source: partitions assigned" : "kafka source: partitions revoked",
		"\"partitions\":%d", parts ? parts->cnt : 0);
	if (!assigned && ks->done && ks->done->cnt && !ks->held) {
		rd_kafka_topic_partition_list_t *fresh = rd_kafka_topic_partition_list_new(8);
		rd_kafka_commit(rk, ks->done, 0);
		if (fresh) { /* not committed again later, over what the next owner commits */
			rd_kafka_topic_partition_list_destroy(ks->done);
			ks->done = fresh;
		}
	}
	rd_kafka_assign(rk, assigned ? parts : NULL);
	atomic_store(&ks->partitions, assigned && parts ? parts->cnt : 0);
}

/* The result of an asynchronous commit (served by the consumer's poll). */
static void
on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct rd_kafka_source *ks = opaque;

	(void)rk;
	(void)offsets;
	if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) /* nothing to commit */
		return;
	atomic_fetch_add(err ? &ks->commit_failures : &ks->commits, 1);
	if (err)
		rd_log(RD_LOG_WARN, "kafka source: commit failed (the messages may come again)", "\"error\":\"%s\"",
			rd_kafka_err2name(err));
}

static int
src_push(struct rd_kafka_source *ks, const rd_kafka_message_t *m, int blank)
{
	const char *t = rd_kafka_topic_name(m->rkt);
	uint32_t i;

	for (i = 0; i < ks->ntopics && strcmp(ks->topics[i], t) != 0; i++)
		;
	return rd_msgq_push(&ks->q, (struct rd_msgpos){ (uint64_t)m->offset, m->partition, i, blank });
}

/* rd_msgq_done_fn: message p is done (taken, refused, or blank): its offset + 1 is to be committed. */
static void
src_done(void *ud, const struct rd_msgpos *p, const char *reason, long off)
{
	struct rd_kafka_source *ks = ud;
	const char *topic = p->where < ks->ntopics ? ks->topics[p->where] : "?";
	int32_t partition = (int32_t)p->part;
	int64_t offset = (int64_t)p->id;
	rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(ks->done, topic, partition);

	if (rd_msg_unlogged(reason)) {
		/* not in the log: its offset must not be committed, nor any after it */
		if (!ks->held && reason[0] == 'c')
			rd_log(RD_LOG_ERROR, "kafka source: an event could not be logged: no more offsets "
				"committed until a restart (the messages come again)", "\"topic\":\"%s\",\"partition\":%d,"
				"\"offset\":%lld", topic, (int)partition, (long long)offset);
		ks->held = 1;
	} else if (reason) {
		struct rd_buf w;

		rd_buf_init(&w);
		rd_buf_puts(&w, "\"topic\":");
		rd_buf_json_str(&w, topic, strlen(topic));
		rd_buf_printf(&w, ",\"partition\":%d,\"offset\":%lld", (int)partition, (long long)offset);
		if (!w.oom)
			rd_msg_log_invalid("kafka source: invalid event skipped", w.p, reason, off);
		rd_buf_fini(&w);
	}
	if (p->blank)
		atomic_fetch_add(&ks->consumed[2], 1);
	else if (!reason)
		atomic_fetch_add(&ks->consumed[0], 1);
	else if (!ks->held)
		atomic_fetch_add(&ks->consumed[1], 1);
	if (!tp)
		tp = rd_kafka_topic_partition_list_add(ks->done, topic, partition);
	if (offset + 1 > tp->offset)
		tp->offset = offset + 1;
}

static void
src_result(void *ud, uint64_t line, const char *reason, long off)
{
	struct rd_kafka_source *ks = ud;

	(void)line; /* results come in line order: the front of the queue */
	rd_msgq_result(&ks->q, src_done, ks, reason, off);
}

/* Commits what is done (asynchronously: a lost commit means messages again, never fewer). */
static int
src_flush(void *ud)
{
	struct rd_kafka_source *ks = ud;
	rd_kafka_resp_err_t e;

	rd_msgq_skip_blank(&ks->q, src_done, ks);
	if (ks->done->cnt == 0 || ks->held)
		return 0;
	if ((e = rd_kafka_commit(ks->rk, ks->done, 1)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		atomic_fetch_add(&ks->commit_failures, 1);
		rd_log(RD_LOG_WARN, "kafka source: commit failed (the messages may come again)", "\"error\":\"%s\"",
			rd_kafka_err2name(e));
	}
	rd_kafka_topic_partition_list_destroy(ks->done);
	ks->done = rd_kafka_topic_partition_list_new(8);
	return ks->done ? 0 : -1;
}

/* rd_lines' read: the next messages as lines; waits for one while there is none (0 at the stop). */
static ssize_t
src_read(void *ud, char *buf, size_t n)
{
	struct rd_kafka_source *ks = ud;
	size_t got = 0;
	unsigned taken = 0;

	while (got < n) {
		rd_kafka_message_t *m;

		if (ks->carry) {
			got += rd_msg_copy(ks->carry->payload, ks->carry->len, &ks->carry_off, buf + got, n - got);
			if (ks->carry_off == ks->carry->len + 1) {
				rd_kafka_message_destroy(ks->carry);
				ks->carry = NULL;
			}
			continue;
		}
		if (atomic_load(&ks->stop))
			return (ssize_t)got;
		if (taken >= SRC_READ_MAX)
			break;
		if (!(m = rd_kafka_consumer_poll(ks->rk, got ? 0 : SRC_POLL_MS))) {
			if (got)
				break;
			src_flush(ks); /* idle: commit what the last reads took */
			continue;
		}
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				rd_log_str(RD_LOG_WARN, "kafka source: consumer error", "error", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		taken++;
		if (rd_msg_blank(m->payload, m->len)) {
			/* no line (rd_lines gives blank lines no result): done once those before are */
			if (src_push(ks, m, 1) < 0) {
				rd_kafka_message_destroy(m);
				return -1;
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		if (src_push(ks, m, 0) < 0) {
			rd_kafka_message_destroy(m);
			return -1;
		}
		ks->carry = m;
		ks->carry_off = 0;
	}
	return (ssize_t)got;
}

static void *
src_main(void *arg)
{
	struct rd_kafka_source *ks = arg;

	rd_thread_name("kafka-source");
	rd_lines_run(&ks->lines, src_read, src_result, src_flush, ks);
	return NULL;
}

void
rd_kafka_source_stop(struct rd_kafka_source *ks)
{
	uint32_t i;

	if (!ks)
		return;
	atomic_store(&ks->stop, 1);
	if (ks->started)
		pthread_join(ks->thr, NULL);
	if (ks->rk) {
		rd_msgq_skip_blank(&ks->q, src_done, ks);
		if (ks->done && ks->done->cnt && !ks->held)
			rd_kafka_commit(ks->rk, ks->done, 0); /* the last ones, synchronously */
		rd_kafka_consumer_close(ks->rk);
		rd_kafka_destroy(ks->rk);
	}
	if (ks->carry)
		rd_kafka_message_destroy(ks->carry);
	if (ks->done)
		rd_kafka_topic_partition_list_destroy(ks->done);
	rd_lines_fini(&ks->lines);
	for (i = 0; i < ks->ntopics; i++)
		free(ks->topics[i]);
	free(ks->topics);
	rd_msgq_fini(&ks->q);
	free(ks);
}

struct rd_kafka_source *
rd_kafka_source_start(const struct rd_conf *c, const route_prog *p, struct rd_metrics *m, struct rd_pipeline *pl,
	char *err, size_t errlen)
{
	struct rd_kafka_source *ks = calloc(1, sizeof *ks);
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_topic_partition_list_t *sub = NULL;
	rd_kafka_resp_err_t e;
	char why[512], *list = NULL, *t, *save = NULL;

	if (!ks || !(ks->done = rd_kafka_topic_partition_list_new(8)) || !(list = strdup(c->kafka_topics)) ||
	    !(sub = rd_kafka_topic_partition_list_new(4)) || !(conf = rd_kafka_conf_new()))
		goto oom;
	for (t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		char **nt = realloc(ks->topics, (ks->ntopics + 1) * sizeof *nt);
		if (!nt || !(nt[ks->ntopics] = strdup(t))) {
			if (nt)
				ks->topics = nt;
			goto oom;
		}
		ks->topics = nt;
		ks->ntopics++;
		rd_kafka_topic_partition_list_add(sub, t, RD_KAFKA_PARTITION_UA);
	}
	if (!ks->ntopics) {
		snprintf(err, errlen, "[kafka] topics names no topic");
		goto fail;
	}
	/* offsets are committed by hand, once their events are in the durable log */
	if (set(conf, "bootstrap.servers", c->kafka_brokers, err, errlen) < 0 ||
	    set(conf, "group.id", c->kafka_group ? c->kafka_group : "routed", err, errlen) < 0 ||
	    set(conf, "client.id", "routed-source", err, errlen) < 0 ||
	    set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
	    set(conf, "auto.offset.reset", c->kafka_latest ? "latest" : "earliest", err, errlen) < 0)
		goto fail;
	if (c->kafka_session_ms) {
		/* heartbeats a third of it apart at most (librdkafka's default is 3 s) */
		char ms[16], hb[16];
		snprintf(ms, sizeof ms, "%u", c->kafka_session_ms);
		snprintf(hb, sizeof hb, "%u", c->kafka_session_ms / 3 < 3000 ? c->kafka_session_ms / 3 : 3000);
		if (set(conf, "session.timeout.ms", ms, err, errlen) < 0 ||
		    set(conf, "heartbeat.interval.ms", hb, err, errlen) < 0)
			goto fail;
	}
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_opaque(conf, ks);
	if (!(ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why))) {
		snprintf(err, errlen, "kafka: %s", why);
		goto fail;
	}
	conf = NULL; /* the consumer's now */
	rd_kafka_poll_set_consumer(ks->rk);
	if ((e = rd_kafka_subscribe(ks->rk, sub)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "kafka: subscribe: %s", rd_kafka_err2str(e));
		goto fail;
	}
	if (rd_lines_init(&ks->lines, pl, m, p, c->max_event_bytes, &ks->stop, &ks->stats) < 0)
		goto oom;
	if (pthread_create(&ks->thr, NULL, src_main, ks) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		goto fail;
	}
	ks->started = 1;
	rd_kafka_topic_partition_list_destroy(sub);
	free(list);
	return ks;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	if (sub)
		rd_kafka_topic_partition_list_destroy(sub);
	free(list);
	rd_kafka_source_stop(ks);
	return NULL;
}

void
rd_kafka_source_status(struct rd_kafka_source *ks, struct rd_buf *o)
{
	struct rd_buf w;
	uint32_t i;
	int np = atomic_load(&ks->partitions);

	rd_buf_init(&w);
	for (i = 0; i < ks->ntopics; i++)
		rd_buf_printf(&w, "%s%s", i ? "," : "", ks->topics[i]);
	rd_buf_puts(o, "{\"kind\":\"kafka\",\"where\":");
	rd_buf_json_str(o, w.p ? w.p : "", w.p ? w.len : 0);
	rd_buf_fini(&w);
	rd_buf_printf(o, ",\"state\":\"%d partition%s assigned\",\"taken\":%" PRIuFAST64
		",\"refused\":%" PRIuFAST64 ",\"backpressure_waits\":%" PRIuFAST64 ",\"topics\":[",
		np, np == 1 ? "" : "s", atomic_load(&ks->consumed[0]), atomic_load(&ks->consumed[1]),
		atomic_load(&ks->stats.waits));
	for (i = 0; i < ks->ntopics; i++) {
		if (i)
			rd_buf_puts(o, ",");
		rd_buf_json_str(o, ks->topics[i], strlen(ks->topics[i]));
	}
	rd_buf_printf(o, "],\"partitions\":%d,\"empty\":%" PRIuFAST64 ",\"commits\":%" PRIuFAST64
		",\"commit_failures\":%" PRIuFAST64 "}", np, atomic_load(&ks->consumed[2]),
		atomic_load(&ks->commits), atomic_load(&ks->commit_failures));
}

void
rd_kafka_source_render(struct rd_kafka_source *ks, struct rd_buf *o)
{
	rd_buf_printf(o,
		"# HELP routed_kafka_messages_total Messages the Kafka source took, by what became of them: "
		"accepted (logged), skipped (an invalid event, counted in routed_events_rejected_total too) "
		"or empty.\n# TYPE routed_kafka_messages_total counter\n"
		"routed_kafka_messages_total{result=\"accepted\"} %" PRIuFAST64 "\n"
		"routed_kafka_messages_total{result=\"skipped\"} %" PRIuFAST64 "\n"
		"routed_kafka_messages_total{result=\"empty\"} %" PRIuFAST64 "\n"
		"# HELP routed_kafka_commits_total Offset commits of the Kafka source, by result.\n"
		"# TYPE routed_kafka_commits_total counter\n"
		"routed_kafka_commits_total{result=\"ok\"} %" PRIuFAST64 "\n"
		"routed_kafka_commits_total{result=\"failed\"} %" PRIuFAST64 "\n"
		"# HELP routed_kafka_backpressure_waits_total Times the Kafka source stopped polling until the "
		"memory budget had room.\n# TYPE routed_kafka_backpressure_waits_total counter\n"
		"routed_kafka_backpressure_waits_total %" PRIuFAST64 "\n",
		atomic_load(&ks->consumed[0]), atomic_load(&ks->consumed[1]), atomic_load(&ks->consumed[2]),
		atomic_load(&ks->commits), atomic_load(&ks->commit_failures), atomic_load(&ks->stats.waits));
}
