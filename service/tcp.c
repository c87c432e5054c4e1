/*
 * tcp.c -- the JSON-lines TCP listener (see tcp.h).
 *
 * Threading: one accept loop, and one thread per connection, at most
 * [tcp] max_connections of them. A thread per connection (rather than one
 * poll loop) because backpressure is then just a blocked thread: a
 * connection waiting for room in the memory budget does not read, its
 * socket buffers fill and the producer's writes stall, with no per-
 * connection parking state to keep. TCP producers are few long-lived
 * streams (shippers, replays), so the thread count stays small and bounded;
 * HTTP, with many short clients, stays on libmicrohttpd's event loops.
 * Each connection owns a matcher and one read buffer (lines.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <unistd.h>

#include <limits.h>

#include <openssl/err.h>

#include "log.h"
#include "tcp.h"

#define SEND_TIMEOUT_S 30      /* a peer that reads no acks for this long is dropped */

/* The calling thread's OpenSSL errors as text (and clears them), for a log line. */
static const char *
tls_error(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();

	if (!e)
		return "connection closed or reset";
	ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

/*
 * rd_lines_read_fn on a socket. A peer that sent nothing for [tcp]
 * idle_timeout (SO_RCVTIMEO) is taken as if it had closed its sending side:
 * what it sent is taken and answered, then the connection is closed, so
 * silent clients cannot hold the max_connections slots for good.
 */
static ssize_t
conn_read(void *ud, char *buf, size_t n)
{
	struct rd_tcp_conn *cn = ud;
	ssize_t r;

	if (cn->ssl) {
		int k = SSL_read(cn->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);

		if (k > 0)
			return k;
		switch (SSL_get_error(cn->ssl, k)) {
		case SSL_ERROR_ZERO_RETURN:
			return 0; /* close_notify: the peer closed its sending side */
		case SSL_ERROR_WANT_READ: /* SO_RCVTIMEO (the socket blocks otherwise): idle, below */
			ERR_clear_error();
			errno = EAGAIN;
			break;
		case SSL_ERROR_SYSCALL:
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break; /* idle too */
			return ERR_peek_error() ? -1 : 0; /* a close without close_notify: taken as the end */
		default:
			ERR_clear_error();
			return -1;
		}
		r = -1;
	} else {
		do
			r = recv(cn->fd, buf, n, 0);
		while (r < 0 && errno == EINTR);
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && cn->t->conf->tcp_idle_timeout) {
		cn->idle = 1;
		return 0;
	}
	return r;
}

/* rd_lines_result_fn: queue the acknowledgement line. */
static void
conn_result(void *ud, uint64_t line, const char *reason, long off)
{
	struct rd_tcp_conn *cn = ud;
	size_t i, n0;

	if (!reason) {
		rd_count(&cn->t->lines_ok, 1);
		rd_buf_printf(&cn->out, "ok %" PRIu64 "\n", line);
		return;
	}
	rd_count(&cn->t->lines_error, 1);
	rd_buf_printf(&cn->out, "error %" PRIu64 " ", line);
	n0 = cn->out.len;
	rd_buf_puts(&cn->out, reason);
	for (i = n0; cn->out.p && i < cn->out.len; i++)
		if (cn->out.p[i] == '\n' || cn->out.p[i] == '\r')
			cn->out.p[i] = ' ';
	if (off >= 0)
		rd_buf_printf(&cn->out, " (byte %ld)", off);
	rd_buf_puts(&cn->out, "\n");
}

/* rd_lines_flush_fn: write the queued acknowledgements. -1 when the peer is gone. */
static int
conn_flush(void *ud)
{
	struct rd_tcp_conn *cn = ud;
	size_t off = 0;
	ssize_t w;

	if (cn->out.oom)
		return -1;
	while (off < cn->out.len) {
		if (cn->ssl) {
			size_t left = cn->out.len - off;
			int k = SSL_write(cn->ssl, cn->out.p + off, left > INT_MAX ? INT_MAX : (int)left);
			if (k <= 0) {
				ERR_clear_error();
				return -1;
			}
			w = k;
		} else {
			w = send(cn->fd, cn->out.p + off, cn->out.len - off, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
		}
		off += (size_t)w;
	}
	cn->out.len = 0;
	return 0;
}

static void *
conn_main(void *arg)
{
	struct rd_tcp_conn *cn = arg;
	struct rd_tcp *t = cn->t;
	struct rd_lines l;

	if (t->tls) {
		/* the handshake here, not in the accept loop: a slow client holds only its own thread */
		char why[256];

		if (!(cn->ssl = SSL_new(t->tls)) || SSL_set_fd(cn->ssl, cn->fd) != 1 || SSL_accept(cn->ssl) != 1) {
			rd_count(&t->tls_failures, 1);
			rd_log_str(RD_LOG_INFO, "TCP connection closed: TLS handshake failed", "error",
				tls_error(why, sizeof why));
			goto done;
		}
	}
	if (rd_lines_init(&l, t->pl, t->metrics, t->prog, t->conf->max_event_bytes, &t->stopping,
		    &t->stats) < 0) {
		rd_log(RD_LOG_ERROR, "out of memory: TCP connection closed", NULL);
	} else {
		l.token = t->conf->tcp_token;
		l.auth_failures = &t->auth_failures;
		if (rd_lines_run(&l, conn_read, conn_result, conn_flush, cn) == 0 && cn->idle) {
			rd_count(&t->idle_closed, 1);
			rd_log(RD_LOG_INFO, "TCP connection closed: idle", "\"idle_timeout\":%u",
				t->conf->tcp_idle_timeout);
			rd_buf_puts(&cn->out, "error 0 idle timeout\n");
			(void)conn_flush(cn); /* best effort (over TLS too): the peer may be gone */
		}
		rd_lines_fini(&l);
	}
done:
	if (cn->ssl) {
		if (SSL_is_init_finished(cn->ssl))
			SSL_shutdown(cn->ssl); /* close_notify, best effort */
		SSL_free(cn->ssl);
		cn->ssl = NULL;
		ERR_clear_error();
	}
	/* the peer sees the end now; the slot's owner closes fd after the join (no fd reuse race) */
	shutdown(cn->fd, SHUT_RDWR);
	rd_buf_fini(&cn->out);
	atomic_fetch_sub(&t->open, 1);
	atomic_store(&cn->done, 1);
	return NULL;
}

/* Joins finished connection threads, freeing their slots. */
static void
reap(struct rd_tcp *t)
{
	unsigned i;

	for (i = 0; i < t->conf->tcp_max_connections; i++)
		if (t->conns[i].used && atomic_load(&t->conns[i].done)) {
			pthread_join(t->conns[i].thr, NULL);
			close(t->conns[i].fd);
			t->conns[i].fd = -1;
			t->conns[i].used = 0;
		}
}

static void *
accept_main(void *arg)
{
	struct rd_tcp *t = arg;
	struct pollfd pf[2] = { { .fd = t->lfd, .events = POLLIN }, { .fd = t->wake[0], .events = POLLIN } };
	struct timeval tv = { SEND_TIMEOUT_S, 0 }, idle = { (time_t)t->conf->tcp_idle_timeout, 0 };
	unsigned i;
	int fd;

	while (!atomic_load(&t->stopping)) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			rd_log_str(RD_LOG_ERROR, "TCP listener: poll failed", "error", strerror(errno));
			break;
		}
		if (pf[1].revents)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue; /* the peer left already, or out of descriptors: try again */
		reap(t);
		for (i = 0; i < t->conf->tcp_max_connections && t->conns[i].used; i++)
			;
		if (i == t->conf->tcp_max_connections) {
			static const char msg[] = "error 0 too many connections\n";
			rd_count(&t->refused_total, 1);
			if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				(void)0; /* the refusal is best effort */
			close(fd);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (t->conf->tcp_idle_timeout)
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
		t->conns[i].idle = 0;
		t->conns[i].fd = fd;
		atomic_store(&t->conns[i].done, 0);
		rd_buf_init(&t->conns[i].out);
		atomic_fetch_add(&t->open, 1);
		if (pthread_create(&t->conns[i].thr, NULL, conn_main, &t->conns[i]) != 0) {
			rd_log(RD_LOG_ERROR, "cannot start a TCP connection thread", NULL);
			atomic_fetch_sub(&t->open, 1);
			close(fd);
			continue;
		}
		t->conns[i].used = 1;
		rd_count(&t->accepted_total, 1);
	}
	return NULL;
}

int
rd_tcp_start(struct rd_tcp *t, const struct rd_conf *c, const route_prog *p, struct rd_metrics *m,
	struct rd_pipeline *pl, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int v6 = 0, one = 1;
	unsigned i;

	memset(t, 0, sizeof *t);
	t->conf = c;
	t->prog = p;
	t->metrics = m;
	t->pl = pl;
	t->lfd = t->wake[0] = t->wake[1] = -1;
	if (rd_conf_listen_parse(c->tcp_listen, &ss, &sl, &v6) < 0) {
		snprintf(err, errlen, "[tcp] listen '%s' is not ADDR:PORT or [ADDR]:PORT", c->tcp_listen);
		return -1;
	}
	if (c->tcp_tls_cert) {
		char why[256];

		if (!(t->tls = SSL_CTX_new(TLS_server_method())) ||
		    SSL_CTX_set_min_proto_version(t->tls, TLS1_2_VERSION) != 1) {
			snprintf(err, errlen, "cannot set up TLS: %s", tls_error(why, sizeof why));
			goto fail_tls;
		}
		if (SSL_CTX_use_certificate_chain_file(t->tls, c->tcp_tls_cert) != 1) {
			snprintf(err, errlen, "[tcp] tls_cert %s: %s", c->tcp_tls_cert, tls_error(why, sizeof why));
			goto fail_tls;
		}
		if (SSL_CTX_use_PrivateKey_file(t->tls, c->tcp_tls_key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(t->tls) != 1) {
			snprintf(err, errlen, "[tcp] tls_key %s: %s", c->tcp_tls_key, tls_error(why, sizeof why));
			goto fail_tls;
		}
	}
	if (!(t->conns = calloc(c->tcp_max_connections, sizeof *t->conns))) {
		snprintf(err, errlen, "out of memory");
		goto fail_tls;
	}
	for (i = 0; i < c->tcp_max_connections; i++) {
		t->conns[i].t = t;
		t->conns[i].fd = -1;
	}
	if (pipe2(t->wake, O_CLOEXEC) < 0 ||
	    (t->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(t->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(t->lfd, 64) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", c->tcp_listen, strerror(errno));
		goto fail;
	}
	sl = sizeof ss;
	if (getsockname(t->lfd, (struct sockaddr *)&ss, &sl) == 0)
		t->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	if (pthread_create(&t->thr, NULL, accept_main, t) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		goto fail;
	}
	t->started = 1;
	return 0;
fail:
	if (t->lfd >= 0)
		close(t->lfd);
	if (t->wake[0] >= 0) {
		close(t->wake[0]);
		close(t->wake[1]);
	}
	free(t->conns);
	t->conns = NULL;
fail_tls:
	SSL_CTX_free(t->tls);
	t->tls = NULL;
	return -1;
}

void
rd_tcp_stop(struct rd_tcp *t)
{
	unsigned i;

	if (!t->started)
		return;
	atomic_store(&t->stopping, 1);
	if (write(t->wake[1], "x", 1) < 0)
		(void)0; /* the pipe is empty: cannot fail but EINTR, and the flag is set anyway */
	pthread_join(t->thr, NULL);
	close(t->lfd);
	/* end every connection's input: the lines already received are still taken and answered */
	for (i = 0; i < t->conf->tcp_max_connections; i++)
		if (t->conns[i].used)
			shutdown(t->conns[i].fd, SHUT_RD);
	for (i = 0; i < t->conf->tcp_max_connections; i++)
		if (t->conns[i].used) {
			pthread_join(t->conns[i].thr, NULL);
			close(t->conns[i].fd);
		}
	close(t->wake[0]);
	close(t->wake[1]);
	free(t->conns);
	t->conns = NULL;
	SSL_CTX_free(t->tls);
	t->tls = NULL;
	t->started = 0;
}

void
rd_tcp_status(struct rd_tcp *t, struct rd_buf *o)
{
	unsigned open = atomic_load(&t->open);
	const char *colon = strrchr(t->conf->tcp_listen, ':');

	/* the address as configured, with the port bound (port 0 picks one) */
	rd_buf_puts(o, "{\"kind\":\"tcp\",\"where\":");
	rd_buf_json_strf(o, "%.*s:%u", colon ? (int)(colon - t->conf->tcp_listen) : 0, t->conf->tcp_listen, t->port);
	rd_buf_printf(o, ",\"state\":\"%u connection%s\",\"taken\":%llu,\"refused\":%llu,"
		"\"backpressure_waits\":%llu,\"port\":%u,\"tls\":%s,\"connections\":%u,"
		"\"connections_total\":%llu,\"connections_refused\":%llu}", open, open == 1 ? "" : "s",
		(unsigned long long)atomic_load(&t->lines_ok), (unsigned long long)atomic_load(&t->lines_error),
		(unsigned long long)atomic_load(&t->stats.waits), t->port, t->tls ? "true" : "false", open,
		(unsigned long long)atomic_load(&t->accepted_total), (unsigned long long)atomic_load(&t->refused_total));
}

void
rd_tcp_render(struct rd_tcp *t, struct rd_buf *o)
{
	rd_buf_printf(o,
		"# HELP routed_tcp_connections Open TCP JSON-lines connections.\n"
		"# TYPE routed_tcp_connections gauge\nrouted_tcp_connections %u\n"
		"# HELP routed_tcp_connections_total TCP connections accepted.\n"
		"# TYPE routed_tcp_connections_total counter\nrouted_tcp_connections_total %llu\n"
		"# HELP routed_tcp_connections_refused_total TCP connections refused (max_connections reached).\n"
		"# TYPE routed_tcp_connections_refused_total counter\nrouted_tcp_connections_refused_total %llu\n"
		"# HELP routed_tcp_connections_idle_closed_total TCP connections closed after sending nothing "
		"for idle_timeout.\n"
		"# TYPE routed_tcp_connections_idle_closed_total counter\nrouted_tcp_connections_idle_closed_total %llu\n"
		"# HELP routed_tcp_auth_failures_total TCP connections closed because their first line was not "
		"AUTH and the [tcp] token.\n"
		"# TYPE routed_tcp_auth_failures_total counter\nrouted_tcp_auth_failures_total %llu\n"
		"# HELP routed_tcp_tls_failures_total TCP connections closed because their TLS handshake failed.\n"
		"# TYPE routed_tcp_tls_failures_total counter\nrouted_tcp_tls_failures_total %llu\n"
		"# HELP routed_tcp_lines_total TCP lines answered, by result.\n"
		"# TYPE routed_tcp_lines_total counter\nrouted_tcp_lines_total{result=\"ok\"} %llu\n"
		"routed_tcp_lines_total{result=\"error\"} %llu\n"
		"# HELP routed_tcp_backpressure_waits_total Times a TCP connection stopped reading until the "
		"memory budget had room.\n"
		"# TYPE routed_tcp_backpressure_waits_total counter\nrouted_tcp_backpressure_waits_total %llu\n"
		"# HELP routed_tcp_backpressure_seconds_total Time TCP connections spent not reading, waiting "
		"for room.\n"
		"# TYPE routed_tcp_backpressure_seconds_total counter\nrouted_tcp_backpressure_seconds_total %.6f\n",
		atomic_load(&t->open), (unsigned long long)atomic_load(&t->accepted_total),
		(unsigned long long)atomic_load(&t->refused_total), (unsigned long long)atomic_load(&t->idle_closed),
		(unsigned long long)atomic_load(&t->auth_failures), (unsigned long long)atomic_load(&t->tls_failures),
		(unsigned long long)atomic_load(&t->lines_ok),
		(unsigned long long)atomic_load(&t->lines_error), (unsigned long long)atomic_load(&t->stats.waits),
		(double)atomic_load(&t->stats.wait_ns) / 1e9);
}
