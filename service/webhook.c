/*
 * webhook.c -- the webhook sink on libcurl's multi interface (see
 * webhook.h for the threading and the slots, retry.h for the policy).
 *
 * A slot's life: free -> attempt (its easy handle in the multi handle) ->
 * delivered (handed back, free again) | failed -> waiting (due_ms set) ->
 * attempt ... | given up (handed back). Every wait is bounded: an attempt
 * by its timeout (CURLOPT_TIMEOUT_MS), a waiting slot by its due time,
 * and rd_webhook_run by max_wait_ms.
 */
#include "config.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "retry.h"
#include "webhook.h"

struct wh_slot {
	struct rd_webhook *wh;     /* borrows: the owner */
	CURL *easy;                /* owns; kept for the next message (connection reuse) */
	void *msg;                 /* borrows: the caller's message, NULL when the slot is free */
	const char *body;          /* borrows: msg's bytes */
	size_t len;
	uint64_t accept_ms;        /* monotonic ms the event was accepted */
	uint64_t due_ms;           /* monotonic ms the next attempt may start */
	uint64_t first_ms, last_ms; /* wall-clock ms of the first and the latest attempt */
	uint64_t start_ns;         /* monotonic start of the current attempt (latency) */
	uint64_t retry_after_ms;   /* the current answer's Retry-After, 0 when none */
	unsigned attempts;         /* attempts started */
	int active;                /* the easy handle is in the multi handle */
	int fail;                  /* enum rd_fail of the latest failure, or -1 */
	long status;               /* the latest HTTP status, 0 when none */
	char error[CURL_ERROR_SIZE]; /* the latest transfer error, "" when none */
};

struct rd_webhook {
	CURLM *multi;              /* owns */
	struct curl_slist *headers; /* owns: Content-Type, configured headers, Authorization */
	char *url;                 /* owns */
	char *basic_auth;          /* owns, or NULL */
	char *ca_file;             /* owns, or NULL */
	long timeout_ms;           /* per attempt */
	struct route_dest_policy pol;
	struct rd_metrics *m;      /* borrows */
	uint32_t dest;
	uint64_t rng;              /* rd_rand64 state: the jitter */
	struct wh_slot *slots;     /* owns: [nslots] */
	unsigned nslots, nbusy;
	struct rd_throttle thr;    /* the destination's `throttle N per T` over attempts */
	uint64_t blocked_since_ns; /* monotonic ns an attempt was first held by the throttle; 0: none */
	atomic_uint_fast64_t throttled_ns; /* total time attempts were held by the throttle */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

/* libcurl's global init, once per process (the first webhook is opened before any HTTP thread runs). */
static void
curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

uint64_t
rd_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Monotonic nanoseconds (attempt latency). */
static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
rd_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The answer's body is not used: read and dropped. */
static size_t
discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* Header callback: keeps the Retry-After of the answer (the last one wins). */
static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
	struct wh_slot *s = ud;
	size_t len = size * n;
	uint64_t ms;

	if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0 &&
		rd_retry_after_parse(p + 12, len - 12, time(NULL), &ms) == 0)
		s->retry_after_ms = ms;
	return len;
}

/* Sets the options that do not change between messages. Returns 0 or -1. */
static int
easy_setup(struct rd_webhook *wh, struct wh_slot *s)
{
	CURL *e = s->easy;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_URL, wh->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (wh->ca_file)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, wh->ca_file) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, wh->timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, wh->headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "routed/" PACKAGE_VERSION) != CURLE_OK;
	if (wh->basic_auth) {
		bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_USERPWD, wh->basic_auth) != CURLE_OK;
	}
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, s) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->error) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, s) != CURLE_OK;
	return bad ? -1 : 0;
}

struct rd_webhook *
rd_webhook_new(const struct rd_dest_conf *dc, const struct route_dest_policy *pol,
	struct rd_metrics *m, uint32_t dest, char *err, size_t errlen)
{
	struct rd_webhook *wh;
	struct curl_slist *l;
	char *auth = NULL;
	unsigned i;

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	if (!(wh = calloc(1, sizeof *wh)))
		goto oom;
	wh->pol = *pol;
	wh->m = m;
	wh->dest = dest;
	wh->timeout_ms = pol->timeout_ms ? pol->timeout_ms : dc->timeout_ms ? dc->timeout_ms
		: RD_WEBHOOK_TIMEOUT_MS;
	wh->nslots = dc->max_in_flight ? dc->max_in_flight : 1;
	if (pol->workers > wh->nslots)
		wh->nslots = pol->workers;
	if (rd_throttle_init(&wh->thr, pol->throttle_n, pol->throttle_per_ms) < 0)
		goto oom;
	wh->rng = mono_ns() ^ ((uint64_t)getpid() << 32) ^ dest;
	if (!(wh->url = strdup(dc->url)) || (dc->basic_auth && !(wh->basic_auth = strdup(dc->basic_auth))) ||
		(dc->ca_file && !(wh->ca_file = strdup(dc->ca_file))))
		goto oom;
	/* "Expect:" turns off 100-continue: one round trip per message */
	if (!(l = curl_slist_append(NULL, rd_batching(pol) ? "Content-Type: application/x-ndjson"
		: "Content-Type: application/json")))
		goto oom;
	wh->headers = l;
	if (!(l = curl_slist_append(wh->headers, "Expect:")))
		goto oom;
	for (i = 0; i < dc->nheaders; i++)
		if (!(l = curl_slist_append(wh->headers, dc->headers[i])))
			goto oom;
	if (dc->bearer_token) {
		size_t n = strlen(dc->bearer_token) + 32;
		if (!(auth = malloc(n)))
			goto oom;
		snprintf(auth, n, "Authorization: Bearer %s", dc->bearer_token);
		l = curl_slist_append(wh->headers, auth);
		free(auth);
		if (!l)
			goto oom;
	}
	if (!(wh->multi = curl_multi_init()) || !(wh->slots = calloc(wh->nslots, sizeof *wh->slots)))
		goto oom;
	for (i = 0; i < wh->nslots; i++) {
		struct wh_slot *s = &wh->slots[i];
		s->wh = wh;
		if (!(s->easy = curl_easy_init()) || easy_setup(wh, s) < 0) {
			snprintf(err, errlen, "libcurl refused an option (is it built with http and https?)");
			rd_webhook_free(wh);
			return NULL;
		}
	}
	return wh;
oom:
	snprintf(err, errlen, "out of memory");
	rd_webhook_free(wh);
	return NULL;
}

void
rd_webhook_free(struct rd_webhook *wh)
{
	unsigned i;

	if (!wh)
		return;
	for (i = 0; wh->slots && i < wh->nslots; i++) {
		if (wh->slots[i].active)
			curl_multi_remove_handle(wh->multi, wh->slots[i].easy);
		if (wh->slots[i].easy)
			curl_easy_cleanup(wh->slots[i].easy);
	}
	free(wh->slots);
	if (wh->multi)
		curl_multi_cleanup(wh->multi);
	curl_slist_free_all(wh->headers);
	rd_throttle_fini(&wh->thr);
	free(wh->url);
	free(wh->basic_auth);
	free(wh->ca_file);
	free(wh);
}

uint64_t
rd_webhook_throttled_ns(const struct rd_webhook *wh)
{
	return atomic_load(&wh->throttled_ns);
}

/*
 * May an attempt start now (the throttle)? Returns 0 when it may (counted),
 * else the ns to wait; keeps the time attempts were held back.
 */
static uint64_t
throttle_take(struct rd_webhook *wh)
{
	uint64_t now = mono_ns(), wait = rd_throttle_take(&wh->thr, now);

	if (wait && !wh->blocked_since_ns)
		wh->blocked_since_ns = now;
	if (!wait && wh->blocked_since_ns) {
		atomic_fetch_add(&wh->throttled_ns, now - wh->blocked_since_ns);
		wh->blocked_since_ns = 0;
	}
	return wait;
}

unsigned
rd_webhook_room(const struct rd_webhook *wh)
{
	return wh->nslots - wh->nbusy;
}

unsigned
rd_webhook_busy(const struct rd_webhook *wh)
{
	return wh->nbusy;
}

void
rd_webhook_add(struct rd_webhook *wh, void *msg, const char *body, size_t len, uint64_t accept_ms)
{
	unsigned i;

	for (i = 0; i < wh->nslots; i++) {
		struct wh_slot *s = &wh->slots[i];
		if (s->msg)
			continue;
		s->msg = msg;
		s->body = body;
		s->len = len;
		s->accept_ms = accept_ms;
		s->due_ms = 0;         /* the first attempt is due at once */
		s->attempts = 0;
		s->first_ms = s->last_ms = 0;
		s->fail = -1;
		s->status = 0;
		s->error[0] = '\0';
		wh->nbusy++;
		return;
	}
}

void
rd_webhook_wake(struct rd_webhook *wh)
{
	curl_multi_wakeup(wh->multi);
}

/* Hands s's message back through done and frees the slot. */
static void
finish(struct rd_webhook *wh, struct wh_slot *s, int delivered, int giveup, rd_wh_done_fn *done,
	void *ud)
{
	struct rd_wh_outcome o;

	o.msg = s->msg;
	o.delivered = delivered;
	o.giveup = giveup;
	o.fail = s->fail;
	o.status = s->status;
	o.attempts = s->attempts;
	o.first_ms = s->first_ms;
	o.last_ms = s->last_ms;
	o.error = s->error;
	s->msg = NULL;
	s->body = NULL;
	wh->nbusy--;
	done(ud, &o);
}

/* Starts s's next attempt. Returns 0, or -1 (counted as a failure; retried). */
static int
start(struct rd_webhook *wh, struct wh_slot *s)
{
	s->attempts++;
	s->last_ms = rd_wall_ms();
	if (s->attempts == 1)
		s->first_ms = s->last_ms;
	else
		rd_count(&wh->m->sink_retries[wh->dest], 1);
	rd_count(&wh->m->sink_attempts[wh->dest], 1);
	s->retry_after_ms = 0;
	s->status = 0;
	s->error[0] = '\0';
	s->start_ns = mono_ns();
	if (curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->len) != CURLE_OK ||
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body) != CURLE_OK ||
		curl_multi_add_handle(wh->multi, s->easy) != CURLM_OK) {
		snprintf(s->error, sizeof s->error, "cannot start the transfer");
		return -1;
	}
	s->active = 1;
	return 0;
}

/* The failure a transfer error stands for. */
static int
fail_of_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return RD_FAIL_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return RD_FAIL_CONNECTION;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return RD_FAIL_TLS;
	default:
		return RD_FAIL_OTHER;
	}
}

/*
 * An attempt of s failed with fail: counts it, then schedules the next
 * attempt or gives the message up.
 */
static void
failed(struct rd_webhook *wh, struct wh_slot *s, int fail, rd_wh_done_fn *done, void *ud)
{
	uint64_t due;
	int why;

	s->fail = fail;
	rd_count(&wh->m->delivery_errors[wh->dest], 1);
	rd_count(&wh->m->sink_failures[wh->dest * RD_FAIL__COUNT + (uint32_t)fail], 1);
	if (!rd_fail_retried(fail)) {
		finish(wh, s, 0, RD_GIVEUP_REJECTED, done, ud);
		return;
	}
	why = rd_retry_next(&wh->pol, s->attempts, s->accept_ms, rd_mono_ms(), s->retry_after_ms,
		rd_rand64(&wh->rng), &due);
	if (why >= 0) {
		finish(wh, s, 0, why, done, ud);
		return;
	}
	s->due_ms = due;
}

/* Handles the transfers libcurl says are done. */
static void
collect(struct rd_webhook *wh, rd_wh_done_fn *done, void *ud)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(wh->multi, &left))) {
		struct wh_slot *s;
		char *priv = NULL;
		CURLcode rc;
		int fail;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		s = (struct wh_slot *)priv;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &s->status);
		curl_multi_remove_handle(wh->multi, msg->easy_handle);
		s->active = 0;
		rd_metrics_sink_latency(wh->m, wh->dest, mono_ns() - s->start_ns);
		if (rc != CURLE_OK) {
			if (!s->error[0])
				snprintf(s->error, sizeof s->error, "%s", curl_easy_strerror(rc));
			fail = fail_of_curl(rc);
		} else if ((fail = rd_fail_of_status(s->status)) < 0) {
			rd_count(&wh->m->deliveries[wh->dest], 1);
			finish(wh, s, 1, 0, done, ud);
			continue;
		} else {
			snprintf(s->error, sizeof s->error, "HTTP status %ld", s->status);
		}
		failed(wh, s, fail, done, ud);
	}
}

void
rd_webhook_run(struct rd_webhook *wh, int max_wait_ms, rd_wh_done_fn *done, void *ud)
{
	uint64_t now = rd_mono_ms(), next = UINT64_MAX;
	unsigned i;
	int running, nfds;

	for (i = 0; i < wh->nslots; i++) {
		struct wh_slot *s = &wh->slots[i];
		if (!s->msg || s->active)
			continue;
		if (s->due_ms <= now) {
			uint64_t wait = throttle_take(wh);
			if (wait)       /* held by the throttle: due when it lets one through */
				s->due_ms = now + wait / 1000000u + 1;
			else if (start(wh, s) < 0)
				failed(wh, s, RD_FAIL_OTHER, done, ud);
		}
		if (s->msg && !s->active && s->due_ms < next)
			next = s->due_ms;
	}
	curl_multi_perform(wh->multi, &running);
	collect(wh, done, ud);
	/* a retry scheduled just now may be due sooner than max_wait_ms */
	for (i = 0; i < wh->nslots; i++)
		if (wh->slots[i].msg && !wh->slots[i].active && wh->slots[i].due_ms < next)
			next = wh->slots[i].due_ms;
	now = rd_mono_ms();
	if (next != UINT64_MAX) {
		uint64_t d = next > now ? next - now : 0;
		if (d < (uint64_t)max_wait_ms)
			max_wait_ms = (int)d;
	}
	/* libcurl shortens the wait to its own timers (attempt timeouts) */
	curl_multi_poll(wh->multi, NULL, 0, max_wait_ms, &nfds);
	curl_multi_perform(wh->multi, &running);
	collect(wh, done, ud);
}

void
rd_webhook_abort(struct rd_webhook *wh, rd_wh_done_fn *done, void *ud)
{
	unsigned i;

	for (i = 0; i < wh->nslots; i++) {
		struct wh_slot *s = &wh->slots[i];
		if (!s->msg)
			continue;
		if (s->active) {
			curl_multi_remove_handle(wh->multi, s->easy);
			s->active = 0;
			if (!s->error[0])
				snprintf(s->error, sizeof s->error, "attempt stopped at shutdown");
		}
		finish(wh, s, 0, RD_GIVEUP_SHUTDOWN, done, ud);
	}
}
