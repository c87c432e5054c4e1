/*
 * tcp.h -- the TCP listener for JSON lines ([tcp] listen): one event per
 * line, each answered with one acknowledgement line once the pipeline has
 * taken it and the durable log has synced it (the lines of one read
 * together, lines.h):
 *
 *   ok LINE                     accepted
 *   error LINE REASON           refused (invalid, too long, shutting down);
 *                               an invalid event's reason ends "(byte B)"
 *   error 0 too many connections   (then the connection is closed)
 *   error 0 idle timeout        (idle_timeout passed with nothing received)
 *   error 1 unauthorized        (with [tcp] token: the first line was not AUTH TOKEN)
 *
 * With [tcp] tls_cert and tls_key every connection is TLS (OpenSSL: TLS
 * 1.2 or later), the handshake done by the connection's thread.
 *
 * LINE is the 1-based line number on the connection (blank lines are
 * counted, not answered). Under backpressure a connection stops reading
 * until there is room (lines.h). Metrics: routed_tcp_*.
 */
#ifndef RD_TCP_H
#define RD_TCP_H

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"
#include "lines.h"
#include "metrics.h"
#include "pipeline.h"
#include "route.h"

struct rd_tcp_conn {           /* a connection slot */
	struct rd_tcp *t;          /* borrows: the owner */
	int fd;                    /* owns while in use */
	pthread_t thr;
	int used;                  /* a thread was started in this slot (join it) */
	atomic_int done;           /* the thread finished: the slot can be reaped */
	struct rd_buf out;         /* owns: acknowledgements not written yet */
	SSL *ssl;                  /* owns: the TLS session, with [tcp] tls_cert; else NULL */
	int idle;                  /* the peer sent nothing for [tcp] idle_timeout: closed */
};

struct rd_tcp {
	const struct rd_conf *conf; /* borrows */
	const route_prog *prog;    /* borrows */
	struct rd_metrics *metrics; /* borrows */
	struct rd_pipeline *pl;    /* borrows */
	int lfd;                   /* owns: the listening socket */
	int wake[2];               /* owns: a pipe that wakes the accept loop at stop */
	pthread_t thr;             /* the accept loop */
	int started;
	unsigned port;             /* the port bound (useful with port 0) */
	atomic_int stopping;
	struct rd_tcp_conn *conns; /* owns: [conf->tcp_max_connections] */
	struct rd_lines_stats stats;
	atomic_uint open;          /* connections open now */
	atomic_uint_fast64_t accepted_total, refused_total, lines_ok, lines_error;
	atomic_uint_fast64_t idle_closed; /* connections closed after idle_timeout */
	atomic_uint_fast64_t auth_failures; /* connections whose first line was not AUTH TOKEN */
	atomic_uint_fast64_t tls_failures; /* TLS handshakes that failed */
	SSL_CTX *tls;              /* owns: with [tcp] tls_cert, else NULL */
};

/* Binds c->tcp_listen and starts the accept loop. Borrows all. Returns 0, or -1 with err. */
int rd_tcp_start(struct rd_tcp *t, const struct rd_conf *c, const route_prog *p, struct rd_metrics *m,
	struct rd_pipeline *pl, char *err, size_t errlen);
/*
 * Stops accepting, ends every connection's input (lines already received
 * are still taken and answered), joins the threads, frees everything.
 */
void rd_tcp_stop(struct rd_tcp *t);
/* Appends the routed_tcp_* metrics. */
void rd_tcp_render(struct rd_tcp *t, struct rd_buf *out);
/* Appends the listener's object of /status.json (status.h, rd_status_json) to out. */
void rd_tcp_status(struct rd_tcp *t, struct rd_buf *out);

#endif
