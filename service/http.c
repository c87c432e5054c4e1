/*
 * http.c -- the HTTP endpoints on libmicrohttpd (see http.h, docs/routed.md).
 *
 * Threading: libmicrohttpd's internal polling threads (a pool of
 * [http] threads, each an epoll/poll loop) rather than a thread per
 * connection. No handler ever blocks on the pipeline -- submit either takes
 * the events or fails and the client gets 503 with Retry-After -- so a few
 * event loops serve many connections, and the connection limit is not a
 * thread limit. Each pool thread validates events with its own
 * route_matcher and reuses its own scratch arrays (struct http_tls, a
 * thread-specific key, freed when the thread exits), so a request costs no
 * allocation beyond its state and body. The daemon runs epoll with
 * MHD_USE_TURBO (no shutdown() before close, accept4 flags); the common
 * answer, 202 {"accepted":1}, is one response built at start and queued
 * again and again (libmicrohttpd reference-counts it). A request whose
 * events wait for the durable log's sync is parked (MHD_suspend_connection)
 * and resumed by the log's syncer (submit_ready), so the thread goes on
 * serving other connections meanwhile; once resumed, the thread routes the
 * events itself when it has time to spare (route_here). A request with
 * ?wait=D is parked again after that, until its events' outcomes are known
 * (pipeline.h struct rd_waiter, resumed from the pipeline's threads) or D
 * has passed (the http-wait thread), and is answered with them.
 *
 * A request's state (struct rd_req, owned by libmicrohttpd's per-request
 * pointer) holds its body until the request completes.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "ingest.h"
#ifdef HAVE_KAFKA
#include "kafka.h"
#endif
#ifdef HAVE_RABBITMQ
#include "rabbitmq.h"
#endif
#include "log.h"
#include "reload.h"
#include "status.h"
#include "store.h"
#include "tcp.h"
#include "wal.h"

#define MAX_HEADERS 64             /* request headers looked at for binary mode */
#define ACK_BODY_MAX 4096          /* POST /queues/NAME/ack body limit */
#define QUEUE_BATCH_BYTES (4u << 20) /* GET /queues/NAME: about this many bytes at most */
#define MAX_ERRORS_LISTED 10       /* 400 answers list this many invalid events */

enum req_kind { REQ_EVENTS, REQ_ACK };

struct rd_req {
	int kind;                  /* enum req_kind */
	int body_kind;             /* enum rd_body_kind (REQ_EVENTS) */
	struct rd_buf body;        /* owns: the request body as received */
	size_t limit;              /* body bytes allowed */
	size_t expect;             /* the Content-Length when it was given (reserved at once), else 0 */
	int too_large;             /* the body went over limit: the rest is discarded */
	struct rd_store *queue;    /* borrows (REQ_ACK) */
	struct rd_source *src;     /* borrows (REQ_EVENTS): the [source], NULL without sources */
	/* REQ_EVENTS parked while the log syncs its events (finish_events) */
	struct rd_submit *sub;     /* owns: the submit waiting for the log, or NULL */
	struct MHD_Connection *conn; /* borrows: the request's connection, for the resume */
	size_t nev;                /* events in the request */
	atomic_int park;           /* PARK_* bits */
	int parked;                /* counted in h->parked until the request completes */
	/* ?wait=D: answered once every event's outcome is known, or after D (wait_outcomes) */
	unsigned wait_ms;          /* 0: answered at acceptance */
	struct rd_waiter *waiter;  /* owns a reference, or NULL */
	atomic_int wpark;          /* PARK_* bits of the wait for the outcomes */
	int waiting;               /* suspended for the outcomes, in h's wait list */
	uint64_t wait_until;       /* rd_mono_ms when it is answered with what is known; 0: due */
	size_t ndup;               /* duplicates among its events */
	struct rd_req *wprev, *wnext; /* h's wait list (h->wait_mu) */
};

enum { PARK_SUSPENDED = 1, PARK_READY = 2 };

#define WAIT_MAX_MS 60000u     /* ?wait= at most */

static void submit_ready(void *arg);
static int route_here(struct rd_http *h);
static enum MHD_Result finish_parked(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq);
static enum MHD_Result answer_submit(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq,
	int e, size_t ndup);
static void outcomes_known(void *arg);
static enum MHD_Result wait_outcomes(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq, size_t ndup);
static enum MHD_Result answer_outcomes(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq);

/* ---- answers -------------------------------------------------------------- */

enum reply_flags {
	REPLY_RETRY_AFTER = 1,     /* add Retry-After: [http] retry_after */
	REPLY_ALLOW_GET = 2,       /* add Allow: GET (with a 405) */
	REPLY_ALLOW_POST = 4       /* add Allow: POST (with a 405) */
};

/* Queues a response (body copied) with the headers flags asks for, and counts it. */
static enum MHD_Result
reply(struct rd_http *h, struct MHD_Connection *c, unsigned code, const char *ctype,
	const char *body, size_t len, unsigned flags)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char ra[16];

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (flags & REPLY_RETRY_AFTER) {
		snprintf(ra, sizeof ra, "%u", h->conf->retry_after);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (flags & (REPLY_ALLOW_GET | REPLY_ALLOW_POST))
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, flags & REPLY_ALLOW_POST ? "POST" : "GET, HEAD");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	rd_metrics_http(h->metrics, code);
	return ret;
}

static enum MHD_Result
reply_json(struct rd_http *h, struct MHD_Connection *c, unsigned code, struct rd_buf *b)
{
	if (b->oom)
		return MHD_NO;
	return reply(h, c, code, "application/json", b->p ? b->p : "", b->len,
		code == MHD_HTTP_SERVICE_UNAVAILABLE || code == MHD_HTTP_TOO_MANY_REQUESTS ? REPLY_RETRY_AFTER : 0);
}

/* {"error":"msg"} with code. */
static enum MHD_Result
reply_error(struct rd_http *h, struct MHD_Connection *c, unsigned code, const char *msg)
{
	struct rd_buf b;
	enum MHD_Result r;

	rd_buf_init(&b);
	rd_buf_puts(&b, "{\"error\":");
	rd_buf_json_str(&b, msg, strlen(msg));
	rd_buf_puts(&b, "}");
	r = reply_json(h, c, code, &b);
	rd_buf_fini(&b);
	return r;
}

/* 405 with Allow: allow_post selects "POST" rather than "GET". */
static enum MHD_Result
reply_405(struct rd_http *h, struct MHD_Connection *c, int allow_post)
{
	static const char body[] = "{\"error\":\"method not allowed\"}";

	return reply(h, c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", body, sizeof body - 1,
		allow_post ? REPLY_ALLOW_POST : REPLY_ALLOW_GET);
}

/* Counts a request refused before its events could be counted as one rejected event. */
static void
count_refused(struct rd_http *h, int reason, uint64_t n)
{
	rd_count(&h->metrics->received, n);
	rd_count(&h->metrics->rejected[reason], n);
}

/* ---- POST /events ----------------------------------------------------------- */

/* rd_auth_header_fn over a libmicrohttpd connection. */
static const char *
auth_header(void *ud, const char *name)
{
	return MHD_lookup_connection_value(ud, MHD_HEADER_KIND, name);
}

/*
 * Authenticates a request to source s (body: what was received so far);
 * answers 401 and returns MHD_YES/NO through *ret when it fails. Returns 1
 * when authenticated.
 */
static int
authenticate(struct rd_http *h, struct MHD_Connection *c, struct rd_source *s, const char *body,
	size_t len, enum MHD_Result *ret)
{
	const char *detail;
	int f = rd_auth_check(&h->auth, s, auth_header, c, body, len, time(NULL), &detail);
	struct MHD_Response *r;
	struct rd_buf b;

	if (f < 0)
		return 1;
	count_refused(h, RD_REJ_UNAUTHORIZED, 1);
	rd_buf_init(&b);
	rd_buf_puts(&b, "{\"error\":\"unauthorized\",\"source\":");
	rd_buf_json_str(&b, s->conf->name, strlen(s->conf->name));
	rd_buf_printf(&b, ",\"reason\":\"%s\",\"detail\":", rd_auth_failure_name(f));
	rd_buf_json_str(&b, detail, strlen(detail));
	rd_buf_puts(&b, "}");
	*ret = MHD_NO;
	if (!b.oom && (r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_COPY))) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		if (s->conf->auth == RD_AUTH_BEARER)
			MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
		*ret = MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED, r);
		MHD_destroy_response(r);
		rd_metrics_http(h->metrics, MHD_HTTP_UNAUTHORIZED);
	}
	rd_buf_fini(&b);
	return 0;
}

struct header_list {
	struct rd_header h[MAX_HEADERS];
	size_t n;
};

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct header_list *l = cls;

	(void)kind;
	if (l->n < MAX_HEADERS && key && value && strncasecmp(key, "ce-", 3) == 0) {
		l->h[l->n].name = key;
		l->h[l->n].value = value;
		l->n++;
	}
	return MHD_YES;
}

/* What each HTTP thread keeps between requests (owned by the thread key). */
struct http_tls {
	route_matcher *m;          /* owns: validates the events */
	const route_prog *p;       /* borrows: the program m was made for (programs live until exit: reload.h) */
	struct rd_ingest in;       /* owns: the split events; its array is kept between requests */
	struct rd_event_ref *refs; /* owns: [refs_cap], what is handed to the pipeline */
	size_t refs_cap;
	/* how busy this thread was over the last BUSY_WINDOW_NS (route_here) */
	uint64_t win_wall, win_cpu; /* CLOCK_MONOTONIC and CLOCK_THREAD_CPUTIME_ID at the window's start */
	int busy;                  /* it ran more than three quarters of the last window */
};
#define BUSY_WINDOW_NS 10000000ull

/*
 * The calling HTTP thread's scratch (made on first use) with a matcher of
 * the newest rules (remade after a reload), or NULL on out-of-memory.
 */
static struct http_tls *
thread_tls(struct rd_http *h)
{
	struct http_tls *t = pthread_getspecific(h->matcher_key);
	const route_prog *p = rd_pipeline_prog(h->pl);
	route_matcher *m;

	if (!t) {
		if (!(t = calloc(1, sizeof *t)))
			return NULL;
		rd_ingest_init(&t->in);
		if (pthread_setspecific(h->matcher_key, t) != 0) {
			free(t);
			return NULL;
		}
	}
	if (t->m && t->p == p)
		return t;
	if (!(m = route_matcher_new(p)))
		return NULL;
	route_matcher_free(t->m);
	t->m = m;
	t->p = p;
	return t;
}

/* Makes room for n refs in t. Returns 0, or -1 on out-of-memory. */
static int
tls_refs(struct http_tls *t, size_t n)
{
	struct rd_event_ref *r;
	size_t cap;

	if (n <= t->refs_cap)
		return 0;
	cap = t->refs_cap ? t->refs_cap : 16;
	while (cap < n)
		cap *= 2;
	if (!(r = realloc(t->refs, cap * sizeof *r)))
		return -1;
	t->refs = r;
	t->refs_cap = cap;
	return 0;
}

/*
 * The body is complete: split, validate every event, hand them to the
 * pipeline (all or none), answer 202, 400 or 503.
 */
static enum MHD_Result
finish_events(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq)
{
	struct header_list hl = { .n = 0 };
	struct http_tls *t;
	struct rd_ingest *in;
	struct rd_event_ref *refs;
	struct route_class d;
	route_matcher *m;
	struct rd_buf b;
	size_t i, ninvalid = 0, ndup = 0;
	int keyed_bp = 0;
	enum MHD_Result ret;
	const char *ct;
	int rc;

	if (rq->waiting) /* resumed: its events' outcomes are known, or its wait is over */
		return answer_outcomes(h, c, rq);
	if (rq->sub) /* resumed: its events are logged */
		return finish_parked(h, c, rq);
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (rq->src && rd_auth_needs_body(rq->src) &&
	    !authenticate(h, c, rq->src, rq->body.p ? rq->body.p : "", rq->body.len, &ret))
		return ret;
	if (!(t = thread_tls(h))) {
		count_refused(h, RD_REJ_OVERLOADED, 1);
		return reply_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	in = &t->in;
	m = t->m;
	rd_buf_init(&b);
	rd_ingest_reset(in);
	if (rq->body_kind == RD_BODY_CE_BINARY)
		MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &hl);
	if (rd_ingest_parse(in, rq->body_kind, rq->body.p ? rq->body.p : "", rq->body.len, hl.h, hl.n, ct) < 0) {
		count_refused(h, RD_REJ_MALFORMED, 1);
		rd_buf_puts(&b, "{\"error\":\"malformed request\",\"reason\":");
		rd_buf_json_str(&b, in->error, strlen(in->error));
		if (rq->body_kind != RD_BODY_CE_BINARY)
			rd_buf_printf(&b, ",\"offset\":%zu", in->error_off);
		rd_buf_puts(&b, "}");
		ret = reply_json(h, c, MHD_HTTP_BAD_REQUEST, &b);
		goto out;
	}
	rd_count(&h->metrics->received, in->n);
	if (tls_refs(t, in->n) < 0) {
		rd_count(&h->metrics->rejected[RD_REJ_OVERLOADED], in->n);
		ret = reply_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		goto out;
	}
	refs = t->refs;
	/*
	 * A full budget refuses the request before the flattener reads its
	 * events: under overload with clients that retry at once, validating
	 * events only to refuse them took most of a CPU. (A bad event in a
	 * refused request is reported when the client retries.)
	 */
	if (!rd_pipeline_has_room(h->pl, in->n, rq->body.len)) {
		rq->nev = in->n;
		ret = answer_submit(h, c, rq, ENOBUFS, 0);
		goto out;
	}
	/* validate every event with the flattener: a bad one refuses the whole request */
	for (i = 0; i < in->n; i++) {
		const struct rd_ingest_event *e = &in->ev[i];
		/* validates without running the rules, and says which shard holds its state */
		if (route_classify(m, e->p, e->len, &d) != ROUTE_REJECTED) {
			refs[i].p = e->p;
			refs[i].len = e->len;
			refs[i].part = d.part;
			refs[i].key = d.key;
			/* a key a rule with `backpressure ... by` pushes back refuses the request */
			if (!keyed_bp)
				keyed_bp = rd_pipeline_key_pushed_back(h->pl, m);
			continue;
		}
		if (ninvalid++ == 0)
			rd_buf_printf(&b, "{\"error\":\"invalid event\",\"accepted\":0,\"events\":%zu,\"errors\":[", in->n);
		if (ninvalid > MAX_ERRORS_LISTED)
			continue;
		if (ninvalid > 1)
			rd_buf_puts(&b, ",");
		rd_buf_printf(&b, "{\"event\":%zu", i);
		if (e->line)
			rd_buf_printf(&b, ",\"line\":%u", e->line);
		if (in->kind != RD_BODY_CE_BINARY)
			rd_buf_printf(&b, ",\"offset\":%zu", e->body_off + d.offset);
		else if (d.offset >= in->data_start && in->data_start && d.offset < in->data_start +
			 (rq->body.len ? rq->body.len : 0))
			rd_buf_printf(&b, ",\"offset\":%zu", d.offset - in->data_start);
		else
			rd_buf_puts(&b, ",\"part\":\"ce-* headers\"");
		rd_buf_printf(&b, ",\"event_offset\":%zu,\"reason\":", d.offset);
		rd_buf_json_str(&b, d.reason ? d.reason : "invalid", d.reason ? strlen(d.reason) : 7);
		rd_buf_puts(&b, "}");
	}
	if (ninvalid) {
		rd_buf_printf(&b, "],\"invalid\":%zu}", ninvalid);
		rd_count(&h->metrics->rejected[RD_REJ_INVALID], ninvalid);
		rd_count(&h->metrics->rejected[RD_REJ_BATCH], in->n - ninvalid);
		ret = reply_json(h, c, MHD_HTTP_BAD_REQUEST, &b);
		goto out;
	}
	if (keyed_bp || rd_pipeline_backpressure(h->pl)) {
		rd_count(&h->metrics->rejected[RD_REJ_BACKPRESSURE], in->n);
		rd_buf_printf(&b, "{\"error\":\"backpressure: a rule asks to slow down%s\",\"accepted\":0,"
			"\"retry_after\":%u}", keyed_bp ? " (the events of a key it pushes back)" : "",
			h->conf->retry_after);
		ret = reply_json(h, c, MHD_HTTP_TOO_MANY_REQUESTS, &b);
		goto out;
	}
	if (atomic_load(&h->draining)) {
		rd_count(&h->metrics->rejected[RD_REJ_OVERLOADED], in->n);
		rd_buf_printf(&b, "{\"error\":\"shutting down\",\"accepted\":0,\"retry_after\":%u}",
			h->conf->retry_after);
		ret = reply_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, &b);
		goto out;
	}
	/*
	 * With the durable log, the answer waits until the events are synced (the
	 * policy's promise), but the thread does not: the connection is parked
	 * (suspended) and the log's syncer resumes it, so one group commit takes
	 * the requests of every connection rather than one per HTTP thread.
	 */
	rq->conn = c;
	rq->nev = in->n;
	if (rq->wait_ms && !(rq->waiter = rd_waiter_new(outcomes_known, rq))) {
		rd_count(&h->metrics->rejected[RD_REJ_OVERLOADED], in->n);
		ret = reply_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		goto out;
	}
	rc = rd_pipeline_submit_begin(h->pl, refs, in->n, submit_ready, rq, route_here(h), rq->waiter, &rq->sub);
	if (rc == 0 && rq->sub && !rd_pipeline_submit_ready(rq->sub)) {
		atomic_fetch_add(&h->parked, 1);
		rq->parked = 1;
		MHD_suspend_connection(c);
		if (atomic_fetch_or(&rq->park, PARK_SUSPENDED) & PARK_READY)
			MHD_resume_connection(c);
		ret = MHD_YES;
		goto out;
	}
	if (rc == 0 && rq->sub) {
		rc = rd_pipeline_submit_end(rq->sub, route_here(h), &ndup);
		rq->sub = NULL;
	}
	ret = answer_submit(h, c, rq, rc < 0 ? errno : 0, ndup);
out:
	rd_buf_fini(&b);
	return ret;
}

/*
 * May this HTTP thread route the request's events itself (pipeline.c
 * shard_inline) rather than hand them to the shard's worker? When it has
 * time to spare -- it ran less than three quarters of the last 10 ms: then
 * routing here saves the worker's wake-up, most of the latency at low load.
 * A thread near saturation hands off, so that it keeps reading requests
 * while workers on other CPUs route. (The bar was half of the window; at
 * half load on a 2-CPU machine a burst crossed it now and then, and the
 * events handed off then, up to 7.6 % in a 10 s run, took the worker's
 * wake-up and made the latency's tail. Since routers write a lane's
 * messages for one another (pipeline.c lane_drain), routing here no longer
 * costs throughput at full load: 29-32k requests/s either way.)
 */
static int
route_here(struct rd_http *h)
{
	struct http_tls *t = pthread_getspecific(h->matcher_key);
	struct timespec ts;
	uint64_t wall, cpu;

	if (!t)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	wall = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (wall - t->win_wall >= BUSY_WINDOW_NS) {
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		cpu = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		t->busy = t->win_wall && (cpu - t->win_cpu) * 4 > (wall - t->win_wall) * 3;
		t->win_wall = wall;
		t->win_cpu = cpu;
	}
	return !t->busy;
}

/* The log's syncer resolved a parked request's events: resume it (once it is suspended). */
static void
submit_ready(void *arg)
{
	struct rd_req *rq = arg;
	struct MHD_Connection *c = rq->conn;

	/* whoever comes second of this and the suspension resumes the connection */
	if (atomic_fetch_or(&rq->park, PARK_READY) & PARK_SUSPENDED)
		MHD_resume_connection(c);
}

/* A parked request is resumed: its events are logged (or not). Routes them and answers. */
static enum MHD_Result
finish_parked(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq)
{
	size_t ndup = 0;
	int e = 0;

	if (rd_pipeline_submit_end(rq->sub, route_here(h), &ndup) < 0)
		e = errno;
	rq->sub = NULL;
	/* h->parked drops when the answer is sent (on_completed): rd_http_stop waits for it */
	return answer_submit(h, c, rq, e, ndup);
}

/* Answers a submit of rq->nev events: 202, or 503 with the reason of errno e. */
static enum MHD_Result
answer_submit(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq, int e, size_t ndup)
{
	struct rd_buf b;
	enum MHD_Result ret;

	if (!e && rq->waiter)
		return wait_outcomes(h, c, rq, ndup);
	if (!e && !ndup && rq->nev == 1 && h->accepted_one) {
		rd_count(&h->metrics->accepted, 1);
		/* the prebuilt answer: nothing to format or copy */
		ret = MHD_queue_response(c, MHD_HTTP_ACCEPTED, h->accepted_one);
		rd_metrics_http(h->metrics, MHD_HTTP_ACCEPTED);
		return ret;
	}
	rd_buf_init(&b);
	if (e) {
		rd_count(&h->metrics->rejected[RD_REJ_OVERLOADED], rq->nev);
		rd_buf_puts(&b, "{\"error\":");
		if (e == ENOBUFS)
			rd_buf_puts(&b, "\"overloaded: memory limit reached\"");
		else if (e == ESHUTDOWN)
			rd_buf_puts(&b, "\"shutting down\"");
		else if (rd_wal_error_is_full(e))
			rd_buf_puts(&b, "\"disk full: events not logged\"");
		else if (e == EAGAIN)
			rd_buf_puts(&b, "\"overloaded: the log's write queue is full\"");
		else
			rd_buf_printf(&b, "\"cannot log the events: %s\"", strerror(e));
		rd_buf_printf(&b, ",\"accepted\":0,\"retry_after\":%u}", h->conf->retry_after);
		ret = reply_json(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, &b);
	} else {
		rd_count(&h->metrics->accepted, rq->nev);
		if (ndup)
			rd_buf_printf(&b, "{\"accepted\":%zu,\"duplicates\":%zu}", rq->nev, ndup);
		else
			rd_buf_printf(&b, "{\"accepted\":%zu}", rq->nev);
		ret = reply_json(h, c, MHD_HTTP_ACCEPTED, &b);
	}
	rd_buf_fini(&b);
	return ret;
}

/* ---- waiting for the outcomes (?wait=) ------------------------------------------- */

/*
 * The request's wait is over (every outcome known: rd_waiter's settled, on
 * a pipeline thread; or its time is up: the wait thread): resume it, once,
 * when it is suspended; else the suspension finds WAIT_READY and resumes.
 */
static void
outcomes_known(void *arg)
{
	struct rd_req *rq = arg;
	int old = atomic_fetch_or(&rq->wpark, PARK_READY);

	if (!(old & PARK_READY) && (old & PARK_SUSPENDED))
		MHD_resume_connection(rq->conn);
}

/* Takes rq out of h's wait list (when it is in it). */
static void
wait_unlist(struct rd_http *h, struct rd_req *rq)
{
	pthread_mutex_lock(&h->wait_mu);
	if (rq->wprev || h->waits == rq) {
		if (rq->wprev)
			rq->wprev->wnext = rq->wnext;
		else
			h->waits = rq->wnext;
		if (rq->wnext)
			rq->wnext->wprev = rq->wprev;
		rq->wprev = rq->wnext = NULL;
	}
	pthread_mutex_unlock(&h->wait_mu);
}

/* The logged events of a ?wait request: answered now when their outcomes are all known, else
 * suspended until they are or its time is up. */
static enum MHD_Result
wait_outcomes(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq, size_t ndup)
{
	int old;

	rd_count(&h->metrics->accepted, rq->nev);
	rq->ndup = ndup;
	rq->conn = c;
	rq->waiting = 1;
	if (atomic_load(&rq->waiter->pending) == 0)
		return answer_outcomes(h, c, rq);
	if (!rq->parked) { /* rd_http_stop waits for it */
		atomic_fetch_add(&h->parked, 1);
		rq->parked = 1;
	}
	pthread_mutex_lock(&h->wait_mu);
	rq->wait_until = rd_mono_ms() + rq->wait_ms;
	rq->wnext = h->waits;
	if (h->waits)
		h->waits->wprev = rq;
	h->waits = rq;
	pthread_cond_signal(&h->wait_cv);
	pthread_mutex_unlock(&h->wait_mu);
	MHD_suspend_connection(c);
	old = atomic_fetch_or(&rq->wpark, PARK_SUSPENDED);
	if (old & PARK_READY)
		MHD_resume_connection(c);
	return MHD_YES;
}

/*
 * Answers a ?wait request with its events' outcomes: 200 when every one is
 * known, 202 when some are still pending at the end of the wait (accepted,
 * as without ?wait). "outcome" is the worst: lost, dead_lettered, unrouted,
 * delivered, in that order; "pending" when some are not known.
 */
static enum MHD_Result
answer_outcomes(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq)
{
	static const int worst_order[] = { RD_FATE_LOST, RD_FATE_DEAD_LETTERED, RD_FATE_UNROUTED, RD_FATE_DELIVERED };
	struct rd_waiter *w = rq->waiter;
	unsigned n[RD_FATE__COUNT], pending, i;
	const char *worst = "delivered";
	enum MHD_Result ret;
	struct rd_buf b;

	wait_unlist(h, rq);
	rd_waiter_detach(w);
	rq->waiting = 0;
	pending = atomic_load(&w->pending);
	for (i = 0; i < RD_FATE__COUNT; i++)
		n[i] = atomic_load(&w->outcomes[i]);
	for (i = 0; i < sizeof worst_order / sizeof worst_order[0]; i++)
		if (n[worst_order[i]]) {
			worst = rd_fate_name(worst_order[i]);
			break;
		}
	if (pending)
		worst = "pending";
	rd_buf_init(&b);
	rd_buf_printf(&b, "{\"accepted\":%zu", rq->nev);
	if (rq->ndup)
		rd_buf_printf(&b, ",\"duplicates\":%zu", rq->ndup);
	rd_buf_printf(&b, ",\"outcome\":\"%s\",\"outcomes\":{", worst);
	for (i = 0; i < RD_FATE__COUNT; i++)
		rd_buf_printf(&b, "%s\"%s\":%u", i ? "," : "", rd_fate_name((int)i), n[i]);
	rd_buf_printf(&b, "},\"pending\":%u}", pending);
	ret = reply_json(h, c, pending ? MHD_HTTP_ACCEPTED : MHD_HTTP_OK, &b);
	rd_buf_fini(&b);
	rd_waiter_put(w);
	rq->waiter = NULL;
	return ret;
}

/* The wait thread: answers each ?wait request whose time is up (all of them once stopping). */
static void *
wait_main(void *arg)
{
	struct rd_http *h = arg;

	rd_thread_name("http-wait");
	pthread_mutex_lock(&h->wait_mu);
	while (!h->wait_stop || h->waits) {
		uint64_t now = rd_mono_ms(), next = UINT64_MAX;
		struct rd_req *rq;
		struct timespec ts;

		for (rq = h->waits; rq; rq = rq->wnext) {
			if (rq->wait_until && (h->wait_stop || rq->wait_until <= now)) {
				rq->wait_until = 0; /* due: resumed once, answered (and unlisted) by its thread */
				outcomes_known(rq);
			} else if (rq->wait_until && rq->wait_until < next) {
				next = rq->wait_until;
			}
		}
		if (h->wait_stop && !h->waits)
			break;
		if (next == UINT64_MAX && !h->wait_stop) { /* nothing waits: sleep until a request does */
			pthread_cond_wait(&h->wait_cv, &h->wait_mu);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		if (h->wait_stop)
			next = now + 10; /* until the requests resumed have answered */
		ts.tv_sec += (time_t)((next - now) / 1000);
		ts.tv_nsec += (long)((next - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->wait_cv, &h->wait_mu, &ts);
	}
	pthread_mutex_unlock(&h->wait_mu);
	return NULL;
}

/* ---- queues ------------------------------------------------------------------ */

/* Parses a whole decimal number. Returns 0 or -1. */
static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static enum MHD_Result
get_queue(struct rd_http *h, struct MHD_Connection *c, struct rd_store *q)
{
	const char *max_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "max");
	uint64_t max = 100;
	struct rd_buf b;
	enum MHD_Result ret;

	if (max_s && (parse_u64(max_s, strlen(max_s), &max) < 0 || max < 1 || max > h->conf->queue_batch_max)) {
		char msg[128];
		snprintf(msg, sizeof msg, "max must be a number from 1 to %u", h->conf->queue_batch_max);
		return reply_error(h, c, MHD_HTTP_BAD_REQUEST, msg);
	}
	rd_buf_init(&b);
	if (rd_store_read(q, (unsigned)max, QUEUE_BATCH_BYTES, &b) < 0) {
		rd_buf_fini(&b);
		rd_log(RD_LOG_ERROR, "cannot read a queue", "\"queue\":\"%s\"", q->name); /* a rule identifier */
		return reply_error(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot read the queue");
	}
	ret = reply(h, c, MHD_HTTP_OK, "application/json", b.p, b.len, 0);
	rd_buf_fini(&b);
	return ret;
}

/* POST /queues/NAME/ack with {"offset":N} or ?offset=N. */
static enum MHD_Result
finish_ack(struct rd_http *h, struct MHD_Connection *c, struct rd_req *rq)
{
	const char *qs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset");
	const char *v = NULL;
	size_t vlen = 0;
	uint64_t off;
	char why[256];
	struct rd_buf b;
	enum MHD_Result ret;
	int rc;

	if (rq->too_large)
		return reply_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "acknowledgement body too large");
	if (qs) {
		v = qs;
		vlen = strlen(qs);
	} else if (rq->body.len) {
		rd_json_member(rq->body.p, rq->body.len, "offset", &v, &vlen);
	}
	if (!v || parse_u64(v, vlen, &off) < 0)
		return reply_error(h, c, MHD_HTTP_BAD_REQUEST,
			"expected {\"offset\":N} or ?offset=N, N a next_offset from GET");
	rc = rd_store_ack(rq->queue, off, why, sizeof why);
	if (rc < 0)
		return reply_error(h, c, rc == -1 ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_SERVICE_UNAVAILABLE, why);
	rd_buf_init(&b);
	rd_buf_puts(&b, "{\"queue\":");
	rd_buf_json_str(&b, rq->queue->name, strlen(rq->queue->name));
	rd_buf_printf(&b, ",\"acknowledged\":%" PRIu64 ",\"pending\":%" PRIu64 "}", off,
		rd_store_pending(rq->queue));
	ret = reply_json(h, c, MHD_HTTP_OK, &b);
	rd_buf_fini(&b);
	return ret;
}

/* GET /queues: every built-in queue (dead-letter queues included) and its pending count. */
static enum MHD_Result
list_queues(struct rd_http *h, struct MHD_Connection *c)
{
	struct rd_buf b;
	uint32_t i, n = 0;
	enum MHD_Result ret;

	rd_buf_init(&b);
	rd_buf_puts(&b, "{\"queues\":[");
	for (i = 0; i < 2 * h->pl->nlanes; i++) {
		/* each destination's built-in queue, then its dead-letter queue */
		struct rd_lane *ln = &h->pl->lanes[i / 2];
		struct rd_store *q;
		if (!atomic_load(&ln->ready)) /* a lane a reload is opening */
			continue;
		if (!(q = i % 2 ? __atomic_load_n(&ln->dlq, __ATOMIC_ACQUIRE) : ln->sink.store))
			continue;
		rd_buf_puts(&b, n++ ? ",{\"name\":" : "{\"name\":");
		rd_buf_json_str(&b, q->name, strlen(q->name));
		rd_buf_printf(&b, ",\"pending\":%" PRIu64 ",\"dir\":", rd_store_pending(q));
		rd_buf_json_str(&b, q->dir, strlen(q->dir));
		rd_buf_puts(&b, "}");
	}
	rd_buf_puts(&b, "]}");
	ret = reply_json(h, c, MHD_HTTP_OK, &b);
	rd_buf_fini(&b);
	return ret;
}

/* ---- dispatch ------------------------------------------------------------------ */

static enum MHD_Result
get_metrics(struct rd_http *h, struct MHD_Connection *c)
{
	struct rd_buf b;
	enum MHD_Result ret;

	rd_buf_init(&b);
	/* counted before rendering, so this request appears in its own answer */
	rd_metrics_http(h->metrics, MHD_HTTP_OK);
	rd_metrics_render(h->metrics, &b);
	rd_pipeline_render(h->pl, &b);
	rd_auth_render(&h->auth, &b);
	{
		struct rd_tcp *t = atomic_load(&h->tcp);
		if (t)
			rd_tcp_render(t, &b);
	}
#ifdef HAVE_KAFKA
	{
		struct rd_kafka_source *k = atomic_load(&h->kafka);
		if (k)
			rd_kafka_source_render(k, &b);
	}
#endif
#ifdef HAVE_RABBITMQ
	{
		struct rd_rabbitmq_source *q = atomic_load(&h->rabbitmq);
		if (q)
			rd_rabbitmq_source_render(q, &b);
	}
#endif
	if (b.oom) {
		rd_buf_fini(&b);
		return MHD_NO;
	}
	ret = MHD_NO;
	{
		struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_COPY);
		if (r) {
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
			ret = MHD_queue_response(c, MHD_HTTP_OK, r);
			MHD_destroy_response(r);
		}
	}
	rd_buf_fini(&b);
	return ret;
}

/* The sources running besides HTTP, for /status.json (rd_status_json). */
static void
status_sources(struct rd_buf *b, void *ud)
{
	struct rd_http *h = ud;
	const char *sep = "";
	struct rd_tcp *t = atomic_load(&h->tcp);

	if (t) {
		rd_tcp_status(t, b);
		sep = ",";
	}
#ifdef HAVE_KAFKA
	{
		struct rd_kafka_source *k = atomic_load(&h->kafka);
		if (k) {
			rd_buf_puts(b, sep);
			rd_kafka_source_status(k, b);
			sep = ",";
		}
	}
#endif
#ifdef HAVE_RABBITMQ
	{
		struct rd_rabbitmq_source *q = atomic_load(&h->rabbitmq);
		if (q) {
			rd_buf_puts(b, sep);
			rd_rabbitmq_source_status(q, b);
		}
	}
#endif
	(void)sep;
}

/* GET /status.json (json) or GET /status, the page that reads it (status.h). */
static enum MHD_Result
get_status(struct rd_http *h, struct MHD_Connection *c, int json)
{
	struct rd_buf b;
	enum MHD_Result ret;

	if (!json)
		return reply(h, c, MHD_HTTP_OK, "text/html; charset=utf-8", rd_status_html, rd_status_html_len, 0);
	rd_buf_init(&b);
	rd_metrics_http(h->metrics, MHD_HTTP_OK);
	rd_status_json(&b, h->metrics, h->pl, status_sources, h);
	ret = b.oom ? MHD_NO : reply(h, c, MHD_HTTP_OK, "application/json", b.p, b.len, 0);
	rd_buf_fini(&b);
	return ret;
}

/*
 * POST /admin/reload: without [admin] token the endpoint does not exist
 * (404, as any unknown path); a missing or wrong bearer token is 401; then
 * the rules are reloaded in this thread (reload.h): 200 with the new
 * generation, 422 with the compiler's messages, 500 when they could not be
 * put to use, 503 while routed is stopping.
 */
static enum MHD_Result
admin_reload(struct rd_http *h, struct MHD_Connection *c, int is_post)
{
	struct rd_reloader *r = atomic_load(&h->reloader);
	const char *auth;
	unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH] = { 0 };
	struct rd_buf msg, b;
	unsigned status = 500;
	enum MHD_Result ret;

	if (!h->conf->admin_token)
		return reply_error(h, c, MHD_HTTP_NOT_FOUND, "no such resource");
	if (!is_post)
		return reply_405(h, c, 1);
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	/* digests of both, compared in constant time (as auth.c does for sources) */
	SHA256((const unsigned char *)h->conf->admin_token, strlen(h->conf->admin_token), want);
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		SHA256((const unsigned char *)auth + 7, strlen(auth + 7), got);
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 || CRYPTO_memcmp(want, got, sizeof want) != 0) {
		rd_log(RD_LOG_WARN, "admin: unauthorized reload request", "\"reason\":\"%s\"",
			!auth ? "no Authorization header" : "wrong bearer token");
		return reply_error(h, c, MHD_HTTP_UNAUTHORIZED, !auth ? "an Authorization: Bearer header is needed"
			: "wrong bearer token");
	}
	if (!r || atomic_load(&h->draining)) {
		static const char busy[] = "{\"error\":\"routed is starting or stopping\"}";
		return reply(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", busy, sizeof busy - 1,
			REPLY_RETRY_AFTER);
	}
	rd_buf_init(&msg);
	if (rd_reload_run(r, "admin", &msg, &status) == 0) {
		ret = reply_json(h, c, MHD_HTTP_OK, &msg);
	} else {
		rd_buf_init(&b);
		rd_buf_puts(&b, "{\"error\":\"reload failed: the rules in use are kept\",\"detail\":");
		rd_buf_json_str(&b, msg.p ? msg.p : "", msg.p ? msg.len : 0);
		rd_buf_puts(&b, "}");
		ret = reply_json(h, c, status, &b);
		rd_buf_fini(&b);
	}
	rd_buf_fini(&msg);
	return ret;
}

/* First call of a request (headers only): answer now, or set up *ctx for the body. */
static enum MHD_Result
begin(struct rd_http *h, struct MHD_Connection *c, const char *url, const char *method, void **ctx)
{
	int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	struct rd_source *src = NULL;
	struct rd_req *rq;

	if (strcmp(url, "/healthz") == 0) {
		if (!is_get)
			return reply_405(h, c, 0);
		return reply(h, c, MHD_HTTP_OK, "application/json", "{\"status\":\"ok\"}", 15, 0);
	}
	if (strcmp(url, "/readyz") == 0) {
		if (!is_get)
			return reply_405(h, c, 0);
		if (atomic_load(&h->draining))
			return reply(h, c, MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
				"{\"status\":\"draining\"}", 21, REPLY_RETRY_AFTER);
		return reply(h, c, MHD_HTTP_OK, "application/json", "{\"status\":\"ready\"}", 18, 0);
	}
	if (strcmp(url, "/metrics") == 0)
		return is_get ? get_metrics(h, c) : reply_405(h, c, 0);
	if (strcmp(url, "/status") == 0 || strcmp(url, "/status.json") == 0)
		return is_get ? get_status(h, c, url[7] == '.') : reply_405(h, c, 0);
	if (strcmp(url, "/admin/reload") == 0)
		return admin_reload(h, c, is_post);
	if (strcmp(url, "/queues") == 0 || strcmp(url, "/queues/") == 0)
		return is_get ? list_queues(h, c) : reply_405(h, c, 0);
	if (strncmp(url, "/queues/", 8) == 0) {
		const char *name = url + 8, *slash = strchr(name, '/');
		size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
		struct rd_store *q = rd_pipeline_queue(h->pl, name, nlen);
		int ack = slash && strcmp(slash, "/ack") == 0;
		if (!q || (slash && !ack))
			return reply_error(h, c, MHD_HTTP_NOT_FOUND, q || !nlen ? "no such resource" :
				"no built-in queue of that name (a destination bound to another sink has none)");
		if (!ack)
			return is_get ? get_queue(h, c, q) : reply_405(h, c, 0);
		if (!is_post)
			return reply_405(h, c, 1);
		if (!(rq = calloc(1, sizeof *rq)))
			return MHD_NO;
		rq->kind = REQ_ACK;
		rq->limit = ACK_BODY_MAX;
		rq->queue = q;
		*ctx = rq;
		return MHD_YES;
	}
	/* without [source] sections: POST /events; with them: each source's path only */
	if (h->auth.n ? (src = rd_auth_find(&h->auth, url)) != NULL : strcmp(url, "/events") == 0) {
		const char *ct, *cl, *spec, *wait;
		uint64_t clen;
		unsigned wait_ms = 0;
		int kind;
		enum MHD_Result ret;
		if (!is_post)
			return reply_405(h, c, 1);
		/* a bearer token is checked before the body is read */
		if (src && !rd_auth_needs_body(src) && !authenticate(h, c, src, "", 0, &ret))
			return ret;
		ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		spec = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "ce-specversion");
		kind = rd_ingest_kind(ct, spec != NULL);
		if (kind == RD_BODY_UNSUPPORTED) {
			count_refused(h, RD_REJ_MEDIA_TYPE, 1);
			return reply_error(h, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				"unsupported content type: use application/json, application/x-ndjson, "
				"application/cloudevents+json, application/cloudevents-batch+json, "
				"or ce-* headers (binary mode)");
		}
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		clen = 0;
		if (cl) {
			uint64_t n;
			if (parse_u64(cl, strlen(cl), &n) == 0)
				clen = n;
			if (clen > h->conf->max_body_bytes) {
				/* answered before the body is read: libmicrohttpd then closes the connection */
				count_refused(h, RD_REJ_TOO_LARGE, 1);
				return reply_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than max_body_bytes");
			}
		}
		wait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");
		if (wait && (rd_conf_duration_ms(wait, &wait_ms) < 0 || wait_ms > WAIT_MAX_MS))
			return reply_error(h, c, MHD_HTTP_BAD_REQUEST,
				"wait must be a duration from 1ms to 60s (like 500ms or 5s)");
		if (!(rq = calloc(1, sizeof *rq)))
			return MHD_NO;
		rq->wait_ms = wait ? wait_ms : 0;
		rq->kind = REQ_EVENTS;
		rq->body_kind = kind;
		rq->src = src;
		rq->limit = h->conf->max_body_bytes;
		rq->expect = (size_t)clen;
		*ctx = rq;
		return MHD_YES;
	}
	if (h->auth.n && strcmp(url, "/events") == 0)
		return reply_error(h, c, MHD_HTTP_NOT_FOUND,
			"no source at /events: with [source] sections, events go to each source's path");
	return reply_error(h, c, MHD_HTTP_NOT_FOUND, "no such resource");
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	struct rd_http *h = cls;
	struct rd_req *rq = *ctx;

	(void)version;
	if (!rq)
		return begin(h, c, url, method, ctx);
	if (*upload_size) {
		if (!rq->too_large && rq->body.len + *upload_size > rq->limit) {
			rq->too_large = 1;
			rd_buf_fini(&rq->body);
		}
		/* the whole announced body at once, rather than doubling from 256 bytes */
		if (!rq->too_large && !rq->body.p && rq->expect && rd_buf_reserve(&rq->body, rq->expect) < 0)
			return MHD_NO;
		if (!rq->too_large && rd_buf_append(&rq->body, upload, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->kind == REQ_ACK)
		return finish_ack(h, c, rq);
	if (rq->too_large) {
		count_refused(h, RD_REJ_TOO_LARGE, 1);
		return reply_error(h, c, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than max_body_bytes");
	}
	return finish_events(h, c, rq);
}

/* Ends the submit of a parked request whose connection closed: routes what was logged. */
static void
finish_parked_closed(struct rd_http *h, struct rd_req *rq)
{
	size_t ndup;

	if (rd_pipeline_submit_end(rq->sub, 0, &ndup) == 0)
		rd_count(&h->metrics->accepted, rq->nev); /* logged and routed, though nobody hears it */
	else
		rd_count(&h->metrics->rejected[RD_REJ_OVERLOADED], rq->nev);
	rq->sub = NULL;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode toe)
{
	struct rd_req *rq = *ctx;

	(void)c;
	(void)toe;
	if (rq) {
		if (rq->sub) {
			/* closed while parked (rd_http_stop waits for these): end the submit only if
			 * the log resolved it; else the log still holds rq, which must stay */
			if (!(atomic_load(&rq->park) & PARK_READY)) {
				rd_log(RD_LOG_ERROR, "a parked request was closed before its events were logged", NULL);
				*ctx = NULL;
				return;
			}
			finish_parked_closed((struct rd_http *)cls, rq);
		}
		if (rq->waiter) { /* closed before its outcomes were answered */
			wait_unlist((struct rd_http *)cls, rq);
			rd_waiter_detach(rq->waiter);
			rd_waiter_put(rq->waiter);
		}
		if (rq->parked)
			atomic_fetch_sub(&((struct rd_http *)cls)->parked, 1);
		rd_buf_fini(&rq->body);
		free(rq);
		*ctx = NULL;
	}
}

/* libmicrohttpd's own messages, as log lines. */
static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	struct rd_buf b;
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	rd_buf_init(&b);
	rd_buf_json_str(&b, msg, n);
	rd_log(RD_LOG_WARN, "libmicrohttpd", "\"detail\":%s", b.p ? b.p : "\"\"");
	rd_buf_fini(&b);
}

static void
free_tls(void *p)
{
	struct http_tls *t = p;

	route_matcher_free(t->m);
	rd_ingest_fini(&t->in);
	free(t->refs);
	free(t);
}

/* ---- lifecycle ----------------------------------------------------------------- */

int
rd_http_start(struct rd_http *h, const struct rd_conf *c, const route_prog *p,
	struct rd_metrics *m, struct rd_pipeline *pl, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	int v6 = 0;
	unsigned flags;
	const union MHD_DaemonInfo *info;

	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->wait_mu, NULL);
	pthread_cond_init(&h->wait_cv, NULL);
	h->conf = c;
	h->prog = p;
	h->metrics = m;
	h->pl = pl;
	if (rd_conf_listen_parse(c->listen, &ss, &sl, &v6) < 0) {
		snprintf(err, errlen, "listen address '%s' is not ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6)", c->listen);
		return -1;
	}
	if (rd_auth_init(&h->auth, c, err, errlen) < 0)
		return -1;
	if (pthread_key_create(&h->matcher_key, free_tls) != 0) {
		snprintf(err, errlen, "cannot create a thread key");
		rd_auth_fini(&h->auth);
		return -1;
	}
	h->key_made = 1;
	{
		static const char one[] = "{\"accepted\":1}";
		h->accepted_one = MHD_create_response_from_buffer(sizeof one - 1, (void *)one, MHD_RESPMEM_PERSISTENT);
		if (h->accepted_one)
			MHD_add_response_header(h->accepted_one, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	}
	flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG |
		MHD_ALLOW_SUSPEND_RESUME;
	if (v6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)c->http_threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)c->connection_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)c->connection_timeout,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errlen, "cannot listen on %s: %s", c->listen, strerror(errno));
		if (h->accepted_one)
			MHD_destroy_response(h->accepted_one);
		h->accepted_one = NULL;
		pthread_key_delete(h->matcher_key);
		h->key_made = 0;
		rd_auth_fini(&h->auth);
		return -1;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	if (pthread_create(&h->wait_thr, NULL, wait_main, h) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		rd_http_stop(h, 0);
		return -1;
	}
	h->wait_started = 1;
	return 0;
}

void
rd_http_stop(struct rd_http *h, unsigned timeout_ms)
{
	const union MHD_DaemonInfo *info;
	MHD_socket fd;
	unsigned waited = 0;
	struct timespec ts = { 0, 10 * 1000000L };

	if (!h->d)
		return;
	atomic_store(&h->draining, 1);
	fd = MHD_quiesce_daemon(h->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	/* let requests in progress finish; idle keep-alive connections are closed by the stop */
	while (waited < timeout_ms) {
		info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!info || info->num_connections == 0)
			break;
		nanosleep(&ts, NULL);
		waited += 10;
	}
	/* requests waiting for outcomes are answered with what is known (the wait thread
	 * resumes them all, then ends) */
	pthread_mutex_lock(&h->wait_mu);
	h->wait_stop = 1;
	pthread_cond_signal(&h->wait_cv);
	pthread_mutex_unlock(&h->wait_mu);
	/* parked requests wait for the log's syncer, which resolves every batch it was given:
	 * their connections must not be closed under the resume */
	while (atomic_load(&h->parked) > 0) {
		if (waited % 5000 == 0 && waited >= timeout_ms)
			rd_log(RD_LOG_WARN, "waiting for requests parked until the log syncs their events",
				"\"parked\":%d", atomic_load(&h->parked));
		nanosleep(&ts, NULL);
		waited += 10;
	}
	MHD_stop_daemon(h->d);
	h->d = NULL;
	if (h->wait_started)
		pthread_join(h->wait_thr, NULL);
	h->wait_started = 0;
	pthread_cond_destroy(&h->wait_cv);
	pthread_mutex_destroy(&h->wait_mu);
	if (h->accepted_one)
		MHD_destroy_response(h->accepted_one);
	h->accepted_one = NULL;
	if (h->key_made)
		pthread_key_delete(h->matcher_key);
	h->key_made = 0;
	rd_auth_fini(&h->auth);
}
