/*
 * http.h -- routed's HTTP server on libmicrohttpd: event ingest
 * (POST /events), the built-in queues (GET /queues/NAME, POST
 * /queues/NAME/ack), /metrics, /healthz, /readyz and POST /admin/reload. docs/routed.md is the
 * reference for the API.
 */
#ifndef RD_HTTP_H
#define RD_HTTP_H

#include <pthread.h>
#include <stdatomic.h>

#include "auth.h"
#include "conf.h"
#include "metrics.h"
#include "pipeline.h"
#include "route.h"

struct MHD_Daemon;
struct rd_tcp;
struct rd_reloader;

struct rd_kafka_source;
struct rd_rabbitmq_source;
struct rd_req;

struct rd_http {
	const struct rd_conf *conf; /* borrows */
	const route_prog *prog;    /* borrows: the program at start; each HTTP thread validates with
	                            * its own matcher of the pipeline's newest program (rd_pipeline_prog) */
	struct rd_metrics *metrics; /* borrows */
	struct rd_pipeline *pl;    /* borrows */
	struct MHD_Daemon *d;      /* owns */
	pthread_key_t matcher_key; /* per-thread scratch: matcher and arrays (http.c struct http_tls) */
	struct MHD_Response *accepted_one; /* owns: the prebuilt 202 {"accepted":1}, or NULL */
	int key_made;
	unsigned port;             /* the port bound (useful with port 0) */
	atomic_int draining;       /* /readyz says 503 and /events refuses */
	atomic_int parked;         /* requests suspended until the log syncs their events */
	struct rd_auth auth;       /* owns: the [source] sections' paths and credentials */
	struct rd_tcp *_Atomic tcp; /* borrows, or NULL: the TCP listener, for /metrics */
	struct rd_kafka_source *_Atomic kafka; /* borrows, or NULL: the Kafka source, for /metrics */
	struct rd_rabbitmq_source *_Atomic rabbitmq; /* borrows, or NULL: the RabbitMQ source, for /metrics */
	struct rd_reloader *_Atomic reloader; /* borrows, or NULL: POST /admin/reload ([admin] token) */
	/* requests waiting for their events' outcomes (POST ...?wait=D), answered by the wait
	 * thread when their time is up */
	pthread_mutex_t wait_mu;
	pthread_cond_t wait_cv;
	struct rd_req *waits;      /* borrows: the list (http.c), under wait_mu */
	int wait_stop;             /* under wait_mu: answer every one now, then end */
	pthread_t wait_thr;
	int wait_started;
};

/*
 * Binds c->listen and starts serving. Borrows everything it is given.
 * Returns 0, or -1 with a reason in err.
 */
int rd_http_start(struct rd_http *h, const struct rd_conf *c, const route_prog *p,
	struct rd_metrics *m, struct rd_pipeline *pl, char *err, size_t errlen);
/*
 * Stops accepting connections, lets requests in progress finish (up to
 * timeout_ms), then stops the server and frees it.
 */
void rd_http_stop(struct rd_http *h, unsigned timeout_ms);

#endif
