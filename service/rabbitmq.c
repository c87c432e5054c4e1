/*
 * rabbitmq.c -- sink = rabbitmq and the [rabbitmq] source (see rabbitmq.h)
 * on rabbitmq-c. Both speak AMQP 0-9-1 on one channel (1) of their own
 * connection. The sink publishes a delivery's messages, then reads frames
 * until the broker has confirmed each of them (its publish sequence numbers
 * are the delivery tags of the confirms), noting nacks and returns. The
 * source is a reader for rd_lines (lines.h), like the Kafka source: its
 * messages become lines, and their acks wait for their results.
 */
#include "config.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/ssl.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "buf.h"
#include "conf.h"
#include "lines.h"
#include "log.h"
#include "msgsrc.h"
#include "rabbitmq.h"
#include "retry.h"
#include "webhook.h" /* rd_mono_ms */

#define CHANNEL 1

/* ---- a connection ---------------------------------------------------------------- */

struct target {                /* where a url points (owns its strings) */
	char *host, *user, *password, *vhost;
	int port;
	int tls;                   /* amqps:// */
	char *ca_file;             /* amqps: the CA bundle that verifies the broker; NULL: the system's */
};

static void
target_fini(struct target *t)
{
	free(t->host);
	free(t->user);
	free(t->password);
	free(t->vhost);
	free(t->ca_file);
	memset(t, 0, sizeof *t);
}

/*
 * Parses url into t (amqps://: TLS, verified against ca_file, else the
 * system's CAs). An empty vhost ("amqp://host/") is "/": RabbitMQ has no
 * empty one.
 */
static int
target_parse(const char *url, const char *ca_file, struct target *t, char *err, size_t errlen)
{
	struct amqp_connection_info ci;
	char *copy = strdup(url);

	memset(t, 0, sizeof *t);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	amqp_default_connection_info(&ci);
	if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) {
		snprintf(err, errlen, "rabbitmq: '%s' is not an amqp[s]://[user[:password]@]host[:port][/vhost] url",
			url);
		free(copy);
		return -1;
	}
	t->host = strdup(ci.host);
	t->user = strdup(ci.user);
	t->password = strdup(ci.password);
	t->vhost = strdup(ci.vhost && *ci.vhost ? ci.vhost : "/");
	t->port = ci.port;
	t->tls = ci.ssl;
	t->ca_file = ca_file ? strdup(ca_file) : NULL;
	free(copy);
	if (!t->host || !t->user || !t->password || !t->vhost || (ca_file && !t->ca_file)) {
		target_fini(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* What went wrong in an RPC's reply r, into err; 0 when it went right. */
static int
reply_error(amqp_rpc_reply_t r, const char *what, char *err, size_t errlen)
{
	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(err, errlen, "rabbitmq: %s: %s", what, amqp_error_string2(r.library_error));
		return -1;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *c = r.reply.decoded;
			snprintf(err, errlen, "rabbitmq: %s: %u %.*s", what, c->reply_code, (int)c->reply_text.len,
				(const char *)c->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *c = r.reply.decoded;
			snprintf(err, errlen, "rabbitmq: %s: %u %.*s", what, c->reply_code, (int)c->reply_text.len,
				(const char *)c->reply_text.bytes);
		} else {
			snprintf(err, errlen, "rabbitmq: %s: the broker answered method 0x%08x", what, r.reply.id);
		}
		return -1;
	default:
		snprintf(err, errlen, "rabbitmq: %s: no answer", what);
		return -1;
	}
}

static struct timeval
tv_of(uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

/*
 * Opens a connection to t, logs in and opens channel 1, each step bounded by
 * timeout_ms; heartbeat: seconds (0: none). With TLS, the broker's
 * certificate and name are verified. Returns it, or NULL with a reason in
 * err and, when tls is given, *tls set when it was the TLS handshake or the
 * certificate that failed.
 */
static amqp_connection_state_t
conn_open(const struct target *t, unsigned timeout_ms, int heartbeat, int *tls, char *err, size_t errlen)
{
	amqp_connection_state_t c = amqp_new_connection();
	struct timeval tv = tv_of(timeout_ms);
	amqp_socket_t *s;
	int st;

	if (tls)
		*tls = 0;
	if (!c || !(s = t->tls ? amqp_ssl_socket_new(c) : amqp_tcp_socket_new(c))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (t->tls) {
		amqp_ssl_socket_set_verify_peer(s, 1);
		amqp_ssl_socket_set_verify_hostname(s, 1);
		if (t->ca_file ? amqp_ssl_socket_set_cacert(s, t->ca_file) != AMQP_STATUS_OK
		    : SSL_CTX_set_default_verify_paths(amqp_ssl_socket_get_context(s)) != 1) {
			snprintf(err, errlen, "rabbitmq: cannot load the CA certificates from %s",
				t->ca_file ? t->ca_file : "the system's store");
			goto fail;
		}
	}
	amqp_set_handshake_timeout(c, &tv);
	amqp_set_rpc_timeout(c, &tv);
	if ((st = amqp_socket_open_noblock(s, t->host, t->port, &tv)) != AMQP_STATUS_OK) {
		snprintf(err, errlen, "rabbitmq: cannot connect to %s:%d%s: %s", t->host, t->port,
			t->tls ? " (TLS)" : "", amqp_error_string2(st));
		if (tls)
			*tls = st <= AMQP_STATUS_SSL_ERROR && st > _AMQP_STATUS_SSL_NEXT_VALUE;
		goto fail;
	}
	{
		/* rabbitmq-c waits without end to write a publish a broker does not read (a memory or
		 * disk alarm blocks publishers so, and a stopped broker): the kernel closes the
		 * connection once written data waits timeout_ms for room or an ack, and the write fails */
		unsigned to = timeout_ms;
		setsockopt(amqp_socket_get_sockfd(s), IPPROTO_TCP, TCP_USER_TIMEOUT, &to, sizeof to);
	}
	if (reply_error(amqp_login(c, t->vhost, 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat, AMQP_SASL_METHOD_PLAIN, t->user,
			    t->password), "login", err, errlen) < 0)
		goto fail;
	amqp_channel_open(c, CHANNEL);
	if (reply_error(amqp_get_rpc_reply(c), "channel.open", err, errlen) < 0)
		goto fail;
	return c;
fail:
	if (c)
		amqp_destroy_connection(c);
	return NULL;
}

/* Closes c politely when it still works (bounded by its RPC timeout), then frees it. */
static void
conn_close(amqp_connection_state_t c, int polite)
{
	if (!c)
		return;
	if (polite)
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}

/*
 * The broker closed the channel or the connection (method frame f): answers
 * the close and puts its reason in err. Returns 1 when f was such a close, else 0.
 */
static int
closed_by_broker(amqp_connection_state_t c, const amqp_frame_t *f, char *err, size_t errlen)
{
	if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
		const amqp_channel_close_t *m = f->payload.method.decoded;
		amqp_channel_close_ok_t ok = { 0 };
		snprintf(err, errlen, "rabbitmq: the broker closed the channel: %u %.*s", m->reply_code,
			(int)m->reply_text.len, (const char *)m->reply_text.bytes);
		amqp_send_method(c, f->channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
		return 1;
	}
	if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		const amqp_connection_close_t *m = f->payload.method.decoded;
		amqp_connection_close_ok_t ok = { 0 };
		snprintf(err, errlen, "rabbitmq: the broker closed the connection: %u %.*s", m->reply_code,
			(int)m->reply_text.len, (const char *)m->reply_text.bytes);
		amqp_send_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		return 1;
	}
	return 0;
}

/* ---- the sink ------------------------------------------------------------------- */

struct rd_rabbitmq_sink {
	pthread_mutex_t mu;        /* one lane thread at a time on the connection */
	struct target t;           /* owns */
	char *exchange, *routing_key; /* owns ("" when not set) */
	char *key_from;            /* owns, or NULL: the member whose value is a message's routing key */
	unsigned timeout_ms;
	amqp_connection_state_t conn; /* owns, or NULL: opened at the next write */
	uint64_t next_tag;         /* the next publish's sequence number (its confirm's delivery tag) */
};

struct rd_rabbitmq_sink *
rd_rabbitmq_sink_open(const char *url, const char *ca_file, const char *exchange, const char *routing_key,
	const char *key_from, unsigned timeout_ms, char *err, size_t errlen)
{
	struct rd_rabbitmq_sink *rs = calloc(1, sizeof *rs);

	if (!rs) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (target_parse(url, ca_file, &rs->t, err, errlen) < 0) {
		free(rs);
		return NULL;
	}
	rs->exchange = strdup(exchange ? exchange : "");
	rs->routing_key = strdup(routing_key ? routing_key : "");
	rs->key_from = key_from ? strdup(key_from) : NULL;
	rs->timeout_ms = timeout_ms;
	pthread_mutex_init(&rs->mu, NULL);
	if (!rs->exchange || !rs->routing_key || (key_from && !rs->key_from)) {
		rd_rabbitmq_sink_close(rs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return rs;
}

/* Drops the sink's connection (after an error: its state is unknown). */
static void
sink_drop(struct rd_rabbitmq_sink *rs)
{
	conn_close(rs->conn, 0);
	rs->conn = NULL;
}

/* Confirms of tags [first, first + n): st[i] 0 waiting, 1 acked, 2 nacked. Marks tag (and
 * with multiple every one up to it); returns how many were waiting. */
static size_t
confirm(unsigned char *st, uint64_t first, size_t n, uint64_t tag, int multiple, unsigned char v)
{
	uint64_t lo = multiple ? first : tag, hi = tag, t;
	size_t marked = 0;

	if (hi >= first + n)
		hi = first + n - 1;
	if (lo < first)
		lo = first;
	for (t = lo; t <= hi && hi >= first; t++)
		if (st[t - first] == 0) {
			st[t - first] = v;
			marked++;
		}
	return marked;
}

int
rd_rabbitmq_sink_write(struct rd_rabbitmq_sink *rs, const char *buf, size_t len, int *fail, char *err,
	size_t errlen)
{
	uint64_t deadline = rd_mono_ms() + rs->timeout_ms, now, first;
	const char *p = buf, *end = buf + len, *nl;
	amqp_basic_properties_t props;
	unsigned char *st = NULL;
	size_t n = 0, waiting, nacked = 0, returned = 0;
	char why[256] = "";
	int rc = 0, s;

	err[0] = '\0';
	memset(&props, 0, sizeof props);
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
	props.content_type = amqp_cstring_bytes("application/json");
	props.delivery_mode = 2; /* persistent */
	pthread_mutex_lock(&rs->mu);
	if (!rs->conn) {
		/* no heartbeat: an idle sink's connection is not read between deliveries, and a broker
		 * expecting heartbeats would close it; a dead one fails the next attempt, which is retried */
		int tls;
		if (!(rs->conn = conn_open(&rs->t, rs->timeout_ms, 0, &tls, err, errlen))) {
			rc = rd_failed(fail, tls ? RD_FAIL_TLS : RD_FAIL_CONNECTION);
			goto out;
		}
		amqp_confirm_select(rs->conn, CHANNEL);
		if (reply_error(amqp_get_rpc_reply(rs->conn), "confirm.select", err, errlen) < 0) {
			sink_drop(rs);
			rc = rd_failed(fail, RD_FAIL_CONNECTION);
			goto out;
		}
		rs->next_tag = 1;
	}
	first = rs->next_tag;
	for (; p < end; p = nl + 1) {
		amqp_bytes_t body, rkey;
		const char *k;
		size_t klen;

		if (!(nl = memchr(p, '\n', (size_t)(end - p))))
			nl = end;
		if (nl == p)
			continue;
		body.bytes = (void *)p;
		body.len = (size_t)(nl - p);
		rkey = amqp_cstring_bytes(rs->routing_key);
		if (rs->key_from && rd_json_member_text(p, (size_t)(nl - p), rs->key_from, &k, &klen)) {
			rkey.bytes = (void *)k;
			rkey.len = klen;
		}
		/* mandatory: a message no queue takes comes back (basic.return) rather than vanishing */
		errno = 0;
		if ((s = amqp_basic_publish(rs->conn, CHANNEL, amqp_cstring_bytes(rs->exchange),
			     rkey, 1, 0, &props, body)) != AMQP_STATUS_OK) {
			int timed_out = errno == ETIMEDOUT; /* TCP_USER_TIMEOUT (conn_open) closed it */
			if (timed_out)
				snprintf(err, errlen, "rabbitmq: publish: the broker read nothing for %u ms", rs->timeout_ms);
			else
				snprintf(err, errlen, "rabbitmq: publish: %s", amqp_error_string2(s));
			sink_drop(rs);
			rc = rd_failed(fail, timed_out ? RD_FAIL_TIMEOUT : RD_FAIL_CONNECTION);
			goto out;
		}
		rs->next_tag++;
		n++;
	}
	if (n == 0)
		goto out;
	if (!(st = calloc(n, 1))) {
		snprintf(err, errlen, "out of memory");
		sink_drop(rs); /* its confirms would be read by the next write as strays: harmless, but start clean */
		rc = rd_failed(fail, RD_FAIL_OTHER);
		goto out;
	}
	for (waiting = n; waiting > 0;) {
		amqp_frame_t f;
		struct timeval tv;

		if ((now = rd_mono_ms()) >= deadline) {
			snprintf(err, errlen, "rabbitmq: %zu of %zu messages not confirmed within %u ms", waiting, n,
				rs->timeout_ms);
			sink_drop(rs);
			rc = rd_failed(fail, RD_FAIL_TIMEOUT);
			goto out;
		}
		tv = tv_of(deadline - now);
		amqp_maybe_release_buffers(rs->conn);
		s = amqp_simple_wait_frame_noblock(rs->conn, &f, &tv);
		if (s == AMQP_STATUS_TIMEOUT)
			continue;
		if (s != AMQP_STATUS_OK) {
			snprintf(err, errlen, "rabbitmq: waiting for confirms: %s", amqp_error_string2(s));
			sink_drop(rs);
			rc = rd_failed(fail, RD_FAIL_CONNECTION);
			goto out;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue; /* a returned message's content, read with its method below */
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *a = f.payload.method.decoded;
			waiting -= confirm(st, first, n, a->delivery_tag, a->multiple, 1);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *a = f.payload.method.decoded;
			size_t k = confirm(st, first, n, a->delivery_tag, a->multiple, 2);
			waiting -= k;
			nacked += k;
			break;
		}
		case AMQP_BASIC_RETURN_METHOD: {
			/* unroutable; its confirm (an ack) follows: the return carries no tag, so the
			 * whole delivery fails */
			const amqp_basic_return_t *r = f.payload.method.decoded;
			amqp_message_t msg;
			if (!returned)
				snprintf(why, sizeof why, "%u %.*s", r->reply_code, (int)r->reply_text.len,
					(const char *)r->reply_text.bytes);
			returned++;
			if (reply_error(amqp_read_message(rs->conn, f.channel, &msg, 0), "a returned message", err,
				    errlen) < 0) {
				sink_drop(rs);
				rc = rd_failed(fail, RD_FAIL_CONNECTION);
				goto out;
			}
			amqp_destroy_message(&msg);
			break;
		}
		default:
			if (closed_by_broker(rs->conn, &f, err, errlen)) {
				sink_drop(rs);
				rc = rd_failed(fail, f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ? RD_FAIL_RABBITMQ
					: RD_FAIL_CONNECTION);
				goto out;
			}
			break;
		}
	}
	if (returned) {
		snprintf(err, errlen, "rabbitmq: %zu of %zu messages unroutable (%s): no queue is bound to exchange "
			"'%s' with %s%s%s", returned, n, why, rs->exchange[0] ? rs->exchange : "(default)",
			rs->key_from ? "the routing key of member " : "routing key '", rs->key_from ? rs->key_from
			: rs->routing_key, rs->key_from ? "" : "'");
		rc = rd_failed(fail, RD_FAIL_RABBITMQ);
	} else if (nacked) {
		snprintf(err, errlen, "rabbitmq: %zu of %zu messages nacked by the broker", nacked, n);
		rc = rd_failed(fail, RD_FAIL_RABBITMQ);
	}
out:
	pthread_mutex_unlock(&rs->mu);
	free(st);
	return rc;
}

void
rd_rabbitmq_sink_close(struct rd_rabbitmq_sink *rs)
{
	if (!rs)
		return;
	conn_close(rs->conn, 1);
	target_fini(&rs->t);
	free(rs->exchange);
	free(rs->routing_key);
	free(rs->key_from);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
}

/* ---- the source ----------------------------------------------------------------- */

#define SRC_WAIT_MS 100         /* a read's wait when nothing came yet */
#define SRC_READ_MAX 1000       /* messages taken into one read at most */
#define SRC_RETRY_MS 1000       /* between two attempts to connect */
#define SRC_RPC_MS 10000        /* a connection's handshake and RPCs */
#define SRC_HEARTBEAT_S 30      /* a consumer's connection that says nothing for 2 of these is dead
                                 * (rabbitmq-c sends ours while it waits for messages) */

struct rd_rabbitmq_source {
	struct target t;           /* owns */
	char *queue;               /* owns */
	unsigned prefetch;
	amqp_connection_state_t conn; /* owns, or NULL while down */
	uint32_t gen;              /* bumped at each new connection */
	struct rd_lines lines;     /* owns */
	struct rd_lines_stats stats;
	struct rd_msgq q;          /* owns: messages without a result yet (id: the delivery tag,
	                            * where: the connection it came on; a tag means nothing on another) */
	uint64_t ack_upto;         /* the last tag to ack (multiple) at the next flush; 0: none */
	amqp_envelope_t carry;     /* owns, when has_carry: the message being copied into the reads */
	int has_carry;
	size_t carry_off;          /* bytes of its line already copied ('\n' included at len) */
	atomic_uint_fast64_t consumed[3]; /* messages by what became of them: accepted, rejected, empty */
	atomic_uint_fast64_t connects[2]; /* connections opened, attempts failed */
	atomic_int up;             /* consuming on a connection now (the status page) */
	atomic_int stop;
	int held;                  /* a message was taken and not logged (shutting down, a log
	                            * error): nothing more is acked, so it comes again */
	int down_logged;           /* the current run of failed connects was logged */
	pthread_t thr;
	int started;
};

/* Acks what is done on the current connection (multiple: every tag up to ack_upto). */
static void
src_ack(struct rd_rabbitmq_source *rs)
{
	if (rs->ack_upto && rs->conn && !rs->held)
		amqp_basic_ack(rs->conn, CHANNEL, rs->ack_upto, 1);
	rs->ack_upto = 0;
}

/* Drops the connection: what it delivered and was not acked comes again on the next one. */
static void
src_drop(struct rd_rabbitmq_source *rs, const char *why)
{
	rd_log_str(RD_LOG_WARN, "rabbitmq source: connection lost (unacked messages come again)", "error", why);
	conn_close(rs->conn, 0);
	rs->conn = NULL;
	rs->ack_upto = 0;
	atomic_store(&rs->up, 0);
}

/* Opens the connection and starts consuming; 0, or -1 (logged once per run of failures). */
static int
src_connect(struct rd_rabbitmq_source *rs)
{
	char err[512];
	amqp_connection_state_t c = conn_open(&rs->t, SRC_RPC_MS, SRC_HEARTBEAT_S, NULL, err, sizeof err);

	if (c) {
		amqp_basic_qos(c, CHANNEL, 0, (uint16_t)rs->prefetch, 0);
		if (reply_error(amqp_get_rpc_reply(c), "basic.qos", err, sizeof err) == 0) {
			amqp_basic_consume(c, CHANNEL, amqp_cstring_bytes(rs->queue), amqp_empty_bytes, 0, 0, 0,
				amqp_empty_table);
			if (reply_error(amqp_get_rpc_reply(c), "basic.consume", err, sizeof err) == 0) {
				rs->conn = c;
				rs->gen++;
				rs->down_logged = 0;
				atomic_fetch_add(&rs->connects[0], 1);
				atomic_store(&rs->up, 1);
				struct rd_buf w;
				rd_buf_init(&w);
				rd_buf_puts(&w, "\"queue\":");
				rd_buf_json_str(&w, rs->queue, strlen(rs->queue));
				rd_buf_puts(&w, ",\"host\":");
				rd_buf_json_str(&w, rs->t.host, strlen(rs->t.host));
				rd_buf_printf(&w, ",\"port\":%d,\"tls\":%s", rs->t.port, rs->t.tls ? "true" : "false");
				if (!w.oom)
					rd_log(RD_LOG_INFO, "rabbitmq source: consuming", "%s", w.p);
				rd_buf_fini(&w);
				return 0;
			}
		}
		conn_close(c, 0);
	}
	atomic_fetch_add(&rs->connects[1], 1);
	if (!rs->down_logged)
		rd_log_str(RD_LOG_WARN, "rabbitmq source: cannot consume (trying again every second)", "error", err);
	rs->down_logged = 1;
	return -1;
}

/* rd_msgq_done_fn: message p is done (taken, refused, or blank). */
static void
src_done(void *ud, const struct rd_msgpos *p, const char *reason, long off)
{
	struct rd_rabbitmq_source *rs = ud;
	int here = rs->conn && p->where == rs->gen; /* else the broker gives it again anyway */

	if (rd_msg_unlogged(reason)) {
		/* not in the log: it must not be acked, nor anything after it */
		if (!rs->held && reason[0] == 'c')
			rd_log(RD_LOG_ERROR, "rabbitmq source: an event could not be logged: no more messages acked "
				"until a restart (they come again)", "\"delivery_tag\":%" PRIu64, p->id);
		rs->held = 1;
	} else if (reason) {
		struct rd_buf w;

		rd_buf_init(&w);
		rd_buf_puts(&w, "\"queue\":");
		rd_buf_json_str(&w, rs->queue, strlen(rs->queue));
		rd_buf_printf(&w, ",\"delivery_tag\":%" PRIu64, p->id);
		if (!w.oom)
			rd_msg_log_invalid("rabbitmq source: invalid event rejected", w.p, reason, off);
		rd_buf_fini(&w);
		if (here && !rs->held) {
			/* the ones before it first; then it alone, not requeued (to a dead-letter exchange if any) */
			src_ack(rs);
			amqp_basic_reject(rs->conn, CHANNEL, p->id, 0);
		}
		atomic_fetch_add(&rs->consumed[1], 1);
	} else {
		atomic_fetch_add(&rs->consumed[p->blank ? 2 : 0], 1);
		if (here)
			rs->ack_upto = p->id;
	}
}

static void
src_result(void *ud, uint64_t line, const char *reason, long off)
{
	struct rd_rabbitmq_source *rs = ud;

	(void)line; /* results come in line order: the front of the queue */
	rd_msgq_result(&rs->q, src_done, rs, reason, off);
}

static int
src_flush(void *ud)
{
	struct rd_rabbitmq_source *rs = ud;

	rd_msgq_skip_blank(&rs->q, src_done, rs);
	src_ack(rs);
	return 0;
}

/* Sleeps ms in steps, returning early at the stop. */
static void
src_pause(struct rd_rabbitmq_source *rs, unsigned ms)
{
	struct timespec ts = { 0, 50 * 1000000L };

	for (; ms > 0 && !atomic_load(&rs->stop); ms = ms > 50 ? ms - 50 : 0)
		nanosleep(&ts, NULL);
}

/* A frame other than a delivery came (amqp_consume_message said so): read it; 0, or -1 when the
 * channel or the connection is over (dropped). */
static int
src_other_frame(struct rd_rabbitmq_source *rs)
{
	amqp_frame_t f;
	struct timeval tv = { 0, 0 };
	char err[512];
	int s = amqp_simple_wait_frame_noblock(rs->conn, &f, &tv);

	if (s == AMQP_STATUS_TIMEOUT)
		return 0;
	if (s != AMQP_STATUS_OK) {
		src_drop(rs, amqp_error_string2(s));
		return -1;
	}
	if (f.frame_type != AMQP_FRAME_METHOD)
		return 0;
	if (closed_by_broker(rs->conn, &f, err, sizeof err)) {
		src_drop(rs, err);
		return -1;
	}
	if (f.payload.method.id == AMQP_BASIC_CANCEL_METHOD) { /* the queue was deleted */
		src_drop(rs, "the broker cancelled the consumer (was the queue deleted?)");
		return -1;
	}
	return 0;
}

/* rd_lines' read: the next messages as lines; waits for one while there is none (0 at the stop). */
static ssize_t
src_read(void *ud, char *buf, size_t n)
{
	struct rd_rabbitmq_source *rs = ud;
	size_t got = 0;
	unsigned taken = 0;

	while (got < n) {
		amqp_rpc_reply_t r;
		struct timeval tv;

		if (rs->has_carry) {
			const amqp_bytes_t *b = &rs->carry.message.body;
			got += rd_msg_copy(b->bytes, b->len, &rs->carry_off, buf + got, n - got);
			if (rs->carry_off == b->len + 1) {
				amqp_destroy_envelope(&rs->carry);
				rs->has_carry = 0;
			}
			continue;
		}
		if (atomic_load(&rs->stop))
			return (ssize_t)got;
		if (taken >= SRC_READ_MAX)
			break;
		if (!rs->conn) {
			if (got)
				break;
			if (src_connect(rs) < 0)
				src_pause(rs, SRC_RETRY_MS);
			continue;
		}
		tv = tv_of(got ? 0 : SRC_WAIT_MS);
		amqp_maybe_release_buffers(rs->conn);
		r = amqp_consume_message(rs->conn, &rs->carry, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_NORMAL) {
			int blank = rd_msg_blank(rs->carry.message.body.bytes, rs->carry.message.body.len);
			taken++;
			if (rd_msgq_push(&rs->q, (struct rd_msgpos){ rs->carry.delivery_tag, 0, rs->gen, blank }) < 0) {
				amqp_destroy_envelope(&rs->carry);
				return -1;
			}
			if (blank) {
				/* no line (rd_lines gives blank lines no result): done once those before are */
				amqp_destroy_envelope(&rs->carry);
				continue;
			}
			rs->has_carry = 1;
			rs->carry_off = 0;
			continue;
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
			if (got)
				break;
			src_flush(rs); /* idle: ack what the last reads took */
			continue;
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
			src_other_frame(rs);
			continue;
		}
		src_drop(rs, r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? amqp_error_string2(r.library_error)
			: "unexpected answer");
	}
	return (ssize_t)got;
}

static void *
src_main(void *arg)
{
	struct rd_rabbitmq_source *rs = arg;

	rd_thread_name("rabbitmq-source");
	rd_lines_run(&rs->lines, src_read, src_result, src_flush, rs);
	return NULL;
}

void
rd_rabbitmq_source_stop(struct rd_rabbitmq_source *rs)
{
	if (!rs)
		return;
	atomic_store(&rs->stop, 1);
	if (rs->started)
		pthread_join(rs->thr, NULL);
	rd_msgq_skip_blank(&rs->q, src_done, rs);
	src_ack(rs); /* the last ones; what was not logged is not acked and comes again */
	conn_close(rs->conn, 1);
	if (rs->has_carry)
		amqp_destroy_envelope(&rs->carry);
	rd_lines_fini(&rs->lines);
	target_fini(&rs->t);
	free(rs->queue);
	rd_msgq_fini(&rs->q);
	free(rs);
}

struct rd_rabbitmq_source *
rd_rabbitmq_source_start(const struct rd_conf *c, const route_prog *p, struct rd_metrics *m,
	struct rd_pipeline *pl, char *err, size_t errlen)
{
	struct rd_rabbitmq_source *rs = calloc(1, sizeof *rs);

	if (!rs || !(rs->queue = strdup(c->rabbitmq_queue))) {
		free(rs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (target_parse(c->rabbitmq_url, c->rabbitmq_ca_file, &rs->t, err, errlen) < 0) {
		free(rs->queue);
		free(rs);
		return NULL;
	}
	rs->prefetch = c->rabbitmq_prefetch ? c->rabbitmq_prefetch : 1000;
	if (rd_lines_init(&rs->lines, pl, m, p, c->max_event_bytes, &rs->stop, &rs->stats) < 0) {
		snprintf(err, errlen, "out of memory");
		rd_rabbitmq_source_stop(rs);
		return NULL;
	}
	if (pthread_create(&rs->thr, NULL, src_main, rs) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		rd_rabbitmq_source_stop(rs);
		return NULL;
	}
	rs->started = 1;
	return rs;
}

void
rd_rabbitmq_source_status(struct rd_rabbitmq_source *rs, struct rd_buf *o)
{
	int up = atomic_load(&rs->up); /* read once: state and connected agree */

	rd_buf_puts(o, "{\"kind\":\"rabbitmq\",\"where\":");
	rd_buf_json_strf(o, "%s at %s:%d%s", rs->queue, rs->t.host, rs->t.port, rs->t.tls ? " (TLS)" : "");
	rd_buf_printf(o, ",\"state\":\"%s\",\"taken\":%" PRIuFAST64 ",\"refused\":%" PRIuFAST64
		",\"backpressure_waits\":%" PRIuFAST64 ",\"queue\":", up ? "consuming" : "disconnected",
		atomic_load(&rs->consumed[0]), atomic_load(&rs->consumed[1]), atomic_load(&rs->stats.waits));
	rd_buf_json_str(o, rs->queue, strlen(rs->queue));
	rd_buf_printf(o, ",\"connected\":%s,\"empty\":%" PRIuFAST64 ",\"connects\":%" PRIuFAST64
		",\"connect_failures\":%" PRIuFAST64 "}", up ? "true" : "false",
		atomic_load(&rs->consumed[2]), atomic_load(&rs->connects[0]), atomic_load(&rs->connects[1]));
}

void
rd_rabbitmq_source_render(struct rd_rabbitmq_source *rs, struct rd_buf *o)
{
	rd_buf_printf(o,
		"# HELP routed_rabbitmq_messages_total Messages the RabbitMQ source took, by what became of them: "
		"accepted (logged, then acked), rejected (an invalid event, counted in routed_events_rejected_total "
		"too; rejected without requeue) or empty.\n# TYPE routed_rabbitmq_messages_total counter\n"
		"routed_rabbitmq_messages_total{result=\"accepted\"} %" PRIuFAST64 "\n"
		"routed_rabbitmq_messages_total{result=\"rejected\"} %" PRIuFAST64 "\n"
		"routed_rabbitmq_messages_total{result=\"empty\"} %" PRIuFAST64 "\n"
		"# HELP routed_rabbitmq_connects_total Connections the RabbitMQ source opened to consume, by result.\n"
		"# TYPE routed_rabbitmq_connects_total counter\n"
		"routed_rabbitmq_connects_total{result=\"ok\"} %" PRIuFAST64 "\n"
		"routed_rabbitmq_connects_total{result=\"failed\"} %" PRIuFAST64 "\n"
		"# HELP routed_rabbitmq_backpressure_waits_total Times the RabbitMQ source stopped reading until the "
		"memory budget had room.\n# TYPE routed_rabbitmq_backpressure_waits_total counter\n"
		"routed_rabbitmq_backpressure_waits_total %" PRIuFAST64 "\n",
		atomic_load(&rs->consumed[0]), atomic_load(&rs->consumed[1]), atomic_load(&rs->consumed[2]),
		atomic_load(&rs->connects[0]), atomic_load(&rs->connects[1]), atomic_load(&rs->stats.waits));
}
