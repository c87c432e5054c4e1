/*
 * pipeline.c -- shards, router workers, destination lanes, dead-lettering
 * and the memory budget (see pipeline.h for the shape and the bounds). Owns
 * every queued item until a sink has written it or it is dead-lettered.
 * pl->pending counts messages in the lanes, so the drain knows when no lane
 * can hand another one a dead-letter envelope any more.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "log.h"
#include "pipeline.h"

/* ---- fifo ------------------------------------------------------------------ */

static void
fifo_init(struct rd_fifo *q)
{
	memset(q, 0, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
}

/* Frees any items left (only after the consumer is gone). */
static void
fifo_fini(struct rd_fifo *q)
{
	struct rd_item *it, *next;

	for (it = q->head; it; it = next) {
		next = it->next;
		free(it);
	}
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

/* Takes ownership of it. */
static void
fifo_push(struct rd_fifo *q, struct rd_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	atomic_fetch_add(&q->depth, 1);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/*
 * Takes ownership of the n items linked from head to tail (tail->next is
 * NULL): one lock and one wake-up for a whole request's events of a shard.
 */
static void
fifo_push_chain(struct rd_fifo *q, struct rd_item *head, struct rd_item *tail, size_t n)
{
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = head;
	else
		q->head = head;
	q->tail = tail;
	atomic_fetch_add(&q->depth, n);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* Waits for an item (the caller takes ownership); NULL once closed and empty. */
static struct rd_item *
fifo_pop(struct rd_fifo *q)
{
	struct rd_item *it;

	pthread_mutex_lock(&q->mu);
	while (!q->head && !q->closed)
		pthread_cond_wait(&q->cv, &q->mu);
	it = q->head;
	if (it) {
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		atomic_fetch_sub(&q->depth, 1);
	}
	pthread_mutex_unlock(&q->mu);
	return it;
}

/* Waits for items and takes all of them (the caller owns the chain, linked
 * by next); NULL once closed and empty. */
static struct rd_item *
fifo_pop_all(struct rd_fifo *q)
{
	struct rd_item *it;

	pthread_mutex_lock(&q->mu);
	while (!q->head && !q->closed)
		pthread_cond_wait(&q->cv, &q->mu);
	it = q->head;
	q->head = q->tail = NULL;
	atomic_store(&q->depth, 0);
	pthread_mutex_unlock(&q->mu);
	return it;
}

/* Takes the head item without waiting (the caller owns it), or NULL; *done is set
 * when the fifo is closed and empty. */
static struct rd_item *
fifo_trypop(struct rd_fifo *q, int *done)
{
	struct rd_item *it;

	pthread_mutex_lock(&q->mu);
	it = q->head;
	if (it) {
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		atomic_fetch_sub(&q->depth, 1);
	}
	*done = !q->head && q->closed;
	pthread_mutex_unlock(&q->mu);
	return it;
}

static void
fifo_close(struct rd_fifo *q)
{
	pthread_mutex_lock(&q->mu);
	q->closed = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* ---- budget ------------------------------------------------------------------ */

/* Charges n bytes if they fit under the cap. Returns 0, or -1 (nothing charged). */
static int
budget_try(struct rd_budget *b, size_t n)
{
	int rc = -1;

	pthread_mutex_lock(&b->mu);
	if (n <= b->cap && b->used <= b->cap - n) {
		b->used += n;
		atomic_store(&b->used_view, b->used);
		rc = 0;
	}
	pthread_mutex_unlock(&b->mu);
	return rc;
}

/* Charges n bytes whatever the total (workers' deliveries; see pipeline.h). */
static void
budget_force(struct rd_budget *b, size_t n)
{
	pthread_mutex_lock(&b->mu);
	b->used += n;
	atomic_store(&b->used_view, b->used);
	pthread_mutex_unlock(&b->mu);
}

static void
budget_release(struct rd_budget *b, size_t n)
{
	pthread_mutex_lock(&b->mu);
	b->used -= n;
	atomic_store(&b->used_view, b->used);
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

/* Waits until the total is at most the cap (the sinks release as they write). */
static void
budget_wait_under_cap(struct rd_budget *b)
{
	pthread_mutex_lock(&b->mu);
	while (b->used > b->cap)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

/* ---- workers -------------------------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
rd_pipeline_backpressure(struct rd_pipeline *pl)
{
	return now_ns() < atomic_load(&pl->backpressure_until);
}

/*
 * Queues buf[0..len) (borrowed) as one NDJSON line for destination dest: raw
 * newlines (whitespace between tokens in valid JSON: inside strings they
 * must be escaped) become spaces. The message carries the event's
 * acceptance time and the rules it matched (rules[0..nrules), copied) for
 * the retry policy and the dead-letter envelope; dead marks an envelope.
 * sh is the worker routing the event: the message joins its per-lane chain
 * (pushed by flush_out); NULL (a lane dead-lettering) pushes it at once.
 */
static void
deliver(struct rd_pipeline *pl, struct rd_shard *sh, uint32_t dest, const char *buf, size_t len,
	uint64_t accept_ns, const uint32_t *rules, uint32_t nrules, int dead)
{
	char *p;
	size_t roff = (sizeof(struct rd_item) + len + 1 + sizeof(uint32_t) - 1) &
		~(sizeof(uint32_t) - 1);
	size_t charge = roff + (size_t)nrules * sizeof(uint32_t);
	struct rd_item *it = malloc(charge);
	struct rd_lane *ln = &pl->lanes[dest];
	size_t dlen;
	const char *dname;

	if (!it) {
		/* counted and logged: the one way a message can be lost in this increment */
		rd_count(&pl->metrics->delivery_errors[dest], 1);
		dname = route_dest_name(pl->prog, dest, &dlen);
		rd_log(RD_LOG_ERROR, "out of memory: message not delivered", "\"destination\":\"%.*s\"",
			(int)dlen, dname);
		return;
	}
	memcpy(it->data, buf, len);
	/* memchr rather than a byte loop: this was 6 % of routed's profile under wrk (1.2 KB events) */
	for (p = it->data; (p = memchr(p, '\n', len - (size_t)(p - it->data))); )
		*p = ' ';
	for (p = it->data; (p = memchr(p, '\r', len - (size_t)(p - it->data))); )
		*p = ' ';
	it->data[len] = '\n';
	it->len = len + 1;
	it->charge = charge;
	it->accept_ms = accept_ns / 1000000u;
	it->accept_ns = accept_ns;
	it->rules = (uint32_t *)(void *)((char *)it + roff);
	it->nrules = nrules;
	if (nrules)
		memcpy(it->rules, rules, (size_t)nrules * sizeof(uint32_t));
	it->dead = dead;
	budget_force(&pl->budget, charge);
	atomic_fetch_add(&pl->pending, 1);
	if (sh && sh->out) {
		struct rd_outq *o = &sh->out[dest];
		it->next = NULL;
		if (o->tail)
			o->tail->next = it;
		else {
			o->head = it;
			sh->touched[sh->ntouched++] = dest;
		}
		o->tail = it;
		o->n++;
		return;
	}
	fifo_push(&ln->q, it);
	if (ln->sink.wh)
		rd_webhook_wake(ln->sink.wh);
}

/* Pushes the messages worker sh collected to their lanes (see struct rd_shard). */
static void
flush_out(struct rd_shard *sh)
{
	struct rd_pipeline *pl = sh->pl;
	uint32_t i;

	for (i = 0; i < sh->ntouched; i++) {
		struct rd_outq *o = &sh->out[sh->touched[i]];
		struct rd_lane *ln = &pl->lanes[sh->touched[i]];
		fifo_push_chain(&ln->q, o->head, o->tail, o->n);
		if (ln->sink.wh)
			rd_webhook_wake(ln->sink.wh);
		o->head = o->tail = NULL;
		o->n = 0;
	}
	sh->ntouched = 0;
}

/*
 * Matches one event (depth 0: accepted by ingest; deeper: emitted), counts,
 * queues its output to each destination, then feeds its emitted events back
 * in, up to emit_depth. buf is borrowed; accept_ns is when ingest accepted
 * the event (or the one that emitted it).
 */
static void
route_one(struct rd_shard *sh, const char *buf, size_t len, unsigned depth, uint64_t accept_ns)
{
	struct rd_pipeline *pl = sh->pl;
	struct rd_metrics *mt = pl->metrics;
	struct route_decision d;
	uint64_t t0 = now_ns();
	char **emits = NULL;
	size_t *elens = NULL;
	uint32_t i, nemits = 0;
	int st;

	st = route_match(sh->m, buf, len, &d);
	rd_metrics_latency(mt, now_ns() - t0);
	if (st == ROUTE_OK && d.backpressure > 0) /* push back for retry_after seconds from now */
		atomic_store(&pl->backpressure_until, now_ns() + (uint64_t)pl->conf->retry_after * 1000000000u);
	if (depth > 0)
		rd_count(&mt->emitted, 1);
	if (st == ROUTE_REJECTED) {
		/* ingest validated it with the same program: only an emitted event can get here */
		rd_log_str(RD_LOG_ERROR, "event refused by the matcher after ingest", "reason",
			d.reason ? d.reason : "");
	} else if (st != ROUTE_OK && depth == 0) {
		rd_count(&mt->unknown, 1);
	}
	for (i = 0; i < d.nrules; i++)
		rd_count(&mt->rule_matches[d.rules[i]], 1);
	if (depth == 0)
		rd_count(d.ndests ? &mt->matched : &mt->unmatched, 1);
	for (i = 0; i < d.ndests; i++)
		deliver(pl, sh, d.dests[i], d.output, d.output_len, accept_ns, d.rules, d.nrules, 0);
	if (d.nemits && pl->conf->envelope == ROUTE_ENV_CLOUDEVENTS) {
		/* derived events use the plain envelope, which this program would refuse */
		rd_count(&mt->emit_unrouted[RD_EMIT_ENVELOPE], d.nemits);
		if (!atomic_exchange(&pl->warned_envelope, 1))
			rd_log(RD_LOG_WARN, "envelope = cloudevents: emitted events are not routed (converting "
				"them is not built yet); counted in routed_events_emit_unrouted_total", NULL);
	} else if (d.nemits && depth >= pl->conf->emit_depth) {
		rd_count(&mt->emit_unrouted[RD_EMIT_DEPTH], d.nemits);
		rd_log(RD_LOG_WARN, "emitted events past emit_depth not routed", "\"count\":%u,\"depth\":%u",
			d.nemits, depth);
	} else if (d.nemits) {
		/* the decision is the matcher's until the next match: copy the emits first */
		emits = calloc(d.nemits, sizeof *emits);
		elens = calloc(d.nemits, sizeof *elens);
		for (i = 0; emits && elens && i < d.nemits; i++) {
			if (!(emits[i] = malloc(d.emits[i].len ? d.emits[i].len : 1)))
				break;
			memcpy(emits[i], d.emits[i].json, d.emits[i].len);
			elens[i] = d.emits[i].len;
			nemits++;
		}
		if (nemits < d.nemits) {
			rd_count(&mt->emit_unrouted[RD_EMIT_OOM], d.nemits - nemits);
			rd_log(RD_LOG_ERROR, "out of memory: emitted events not routed", "\"count\":%u",
				d.nemits - nemits);
		}
		for (i = 0; i < nemits; i++) {
			route_one(sh, emits[i], elens[i], depth + 1, accept_ns);
			free(emits[i]);
		}
	}
	free(emits);
	free(elens);
}

#define WORKER_FLUSH_EVERY 64  /* events routed between two pushes to the lanes, at most */

/*
 * Takes every event queued for the shard at once, routes them, and pushes
 * the messages to the lanes after each WORKER_FLUSH_EVERY events and at the
 * end of the batch (so a lone event is pushed at once). Before waiting for
 * the budget it pushes what it holds: the lanes must be able to release it.
 */
static void *
worker_main(void *arg)
{
	struct rd_shard *sh = arg;
	struct rd_budget *b = &sh->pl->budget;
	struct rd_item *it, *next;
	unsigned k;

	while ((it = fifo_pop_all(&sh->q))) {
		for (k = 1; it; it = next, k++) {
			next = it->next;
			if (atomic_load(&b->used_view) > b->cap) {
				flush_out(sh);
				budget_wait_under_cap(b);
			}
			route_one(sh, it->data, it->len, 0, it->accept_ns);
			budget_release(b, it->charge);
			free(it);
			if (k % WORKER_FLUSH_EVERY == 0)
				flush_out(sh);
		}
		flush_out(sh);
	}
	return NULL;
}

/* ---- lanes ------------------------------------------------------------------------ */

/* A message's lane work is over: releases its memory and its pending count. */
static void
lane_release(struct rd_pipeline *pl, struct rd_item *it)
{
	budget_release(&pl->budget, it->charge);
	free(it);
	atomic_fetch_sub(&pl->pending, 1);
}

/* Appends wall-clock ms as a JSON string "2026-11-27T15:30:00.123Z", or null for 0. */
static void
put_time(struct rd_buf *b, uint64_t ms)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000);
	char ts[32];

	if (!ms) {
		rd_buf_puts(b, "null");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	rd_buf_printf(b, "\"%s.%03uZ\"", ts, (unsigned)(ms % 1000));
}

/*
 * Gives message it of lane ln up (takes ownership of it): counts it, wraps
 * it in a dead-letter envelope (one JSON line, the message's bytes under
 * "event") and hands that to the destination's dead_letter destination, or,
 * when it has none or it is itself an envelope, appends it to the lane's
 * built-in NAME.dlq queue.
 */
static void
dead_letter(struct rd_lane *ln, struct rd_item *it, const struct rd_wh_outcome *o)
{
	struct rd_pipeline *pl = ln->pl;
	struct rd_buf b;
	size_t nlen, rlen;
	const char *name = route_dest_name(pl->prog, ln->dest, &nlen), *rname;
	uint32_t i;
	int chained = !it->dead && ln->pol.dead_letter != ROUTE_NONE;

	rd_count(&pl->metrics->dlq[ln->dest], 1);
	rd_buf_init(&b);
	rd_buf_puts(&b, "{\"destination\":");
	rd_buf_json_str(&b, name, nlen);
	rd_buf_printf(&b, ",\"reason\":\"%s\",\"failure\":", rd_giveup_name(o->giveup));
	if (o->fail >= 0)
		rd_buf_printf(&b, "\"%s\"", rd_fail_name(o->fail));
	else
		rd_buf_puts(&b, "null");
	rd_buf_printf(&b, ",\"status\":%ld,\"attempts\":%u,\"error\":", o->status, o->attempts);
	rd_buf_json_str(&b, o->error, strlen(o->error));
	rd_buf_puts(&b, ",\"rules\":[");
	for (i = 0; i < it->nrules; i++) {
		rname = route_rule_name(pl->prog, it->rules[i], &rlen);
		if (i)
			rd_buf_puts(&b, ",");
		rd_buf_json_str(&b, rname ? rname : "", rname ? rlen : 0);
	}
	rd_buf_puts(&b, "],\"first_attempt\":");
	put_time(&b, o->first_ms);
	rd_buf_puts(&b, ",\"last_attempt\":");
	put_time(&b, o->last_ms);
	rd_buf_puts(&b, ",\"event\":");
	rd_buf_append(&b, it->data, it->len - 1);
	rd_buf_puts(&b, "}\n");
	rd_log(RD_LOG_WARN, "message given up: dead-lettered", "\"destination\":\"%.*s\",\"reason\":"
		"\"%s\",\"status\":%ld,\"attempts\":%u,\"to\":\"%s\"", (int)nlen, name,
		rd_giveup_name(o->giveup), o->status, o->attempts, chained ? "dead_letter" : "dlq");
	if (b.oom) {
		rd_log(RD_LOG_ERROR, "out of memory: dead-letter envelope lost", "\"destination\":\"%.*s\"",
			(int)nlen, name);
	} else if (chained) {
		deliver(pl, NULL, ln->pol.dead_letter, b.p, b.len - 1, it->accept_ns, it->rules, it->nrules, 1);
	} else if (!ln->dlq || rd_store_append(ln->dlq, b.p, b.len) < 0) {
		rd_log(RD_LOG_ERROR, "cannot write the dead-letter queue: message lost",
			"\"destination\":\"%.*s\"", (int)nlen, name);
	}
	rd_buf_fini(&b);
	lane_release(pl, it);
}

/* rd_wh_done_fn of webhook lanes: a message delivered or given up. */
static void
webhook_done(void *ud, const struct rd_wh_outcome *o)
{
	struct rd_lane *ln = ud;

	if (o->delivered) {
		struct rd_item *it = o->msg;
		if (!it->dead)
			rd_metrics_e2e(ln->pl->metrics, now_ns() - it->accept_ns);
		lane_release(ln->pl, it);
	}
	else
		dead_letter(ln, o->msg, o);
}

/* 1 once the drain deadline has passed (webhook lanes then give everything up). */
static int
past_drain_deadline(struct rd_pipeline *pl)
{
	uint64_t d = atomic_load(&pl->drain_deadline_ms);

	return d && rd_mono_ms() >= d;
}

/*
 * A webhook destination's lane: feeds the sink up to max_in_flight messages
 * and turns its loop (which sleeps in curl_multi_poll, woken by deliver and
 * by the drain); exits once the fifo is closed and every message handed back.
 */
static void *
webhook_lane_main(void *arg)
{
	struct rd_lane *ln = arg;
	struct rd_pipeline *pl = ln->pl;
	struct rd_webhook *wh = ln->sink.wh;
	struct rd_item *it;
	int done = 0, late;

	for (;;) {
		late = past_drain_deadline(pl);
		done = 0;
		/* done is only set by a fifo_trypop that found the fifo empty */
		while ((late || rd_webhook_room(wh)) && (it = fifo_trypop(&ln->q, &done))) {
			if (late) {
				struct rd_wh_outcome o = { it, 0, RD_GIVEUP_SHUTDOWN, -1, 0, 0, 0, 0,
					"not attempted before drain_timeout" };
				dead_letter(ln, it, &o);
			} else {
				rd_webhook_add(wh, it, it->data, it->len - 1, it->accept_ms);
			}
		}
		if (late)
			rd_webhook_abort(wh, webhook_done, ln);
		if (done && !rd_webhook_busy(wh))
			break;
		rd_webhook_run(wh, atomic_load(&pl->stopping) ? 50 : 1000, webhook_done, ln);
	}
	return NULL;
}

/* A queue, stdout or file destination's lane: writes each message in order. */
static void *
lane_main(void *arg)
{
	struct rd_lane *ln = arg;
	struct rd_pipeline *pl = ln->pl;
	struct rd_metrics *mt = pl->metrics;
	struct rd_item *it;
	size_t nlen;
	const char *name = route_dest_name(pl->prog, ln->dest, &nlen);

	while ((it = fifo_pop(&ln->q))) {
		unsigned tries = 0;
		long backoff_ms = 10;
		int ok = 1;
		for (;;) {
			uint64_t t0 = now_ns();
			int rc, e;
			struct timespec ts;
			rd_count(&mt->sink_attempts[ln->dest], 1);
			if (tries)
				rd_count(&mt->sink_retries[ln->dest], 1);
			rc = rd_sink_write(&ln->sink, it->data, it->len);
			e = errno;
			rd_metrics_sink_latency(mt, ln->dest, now_ns() - t0);
			if (rc == 0)
				break;
			rd_count(&mt->delivery_errors[ln->dest], 1);
			rd_count(&mt->sink_failures[ln->dest * RD_FAIL__COUNT + RD_FAIL_WRITE], 1);
			if (tries++ == 0)
				rd_log(RD_LOG_ERROR, "sink write failed: retrying", "\"destination\":\"%.*s\","
					"\"sink\":\"%s\",\"error\":\"%s\"", (int)nlen, name,
					rd_sink_kind_name(ln->sink.kind), strerror(e));
			if (atomic_load(&pl->stopping) && tries > 3) {
				rd_log(RD_LOG_ERROR, "sink still failing at shutdown: message lost",
					"\"destination\":\"%.*s\"", (int)nlen, name);
				ok = 0;
				break;
			}
			ts.tv_sec = backoff_ms / 1000;
			ts.tv_nsec = (backoff_ms % 1000) * 1000000L;
			nanosleep(&ts, NULL);
			if (backoff_ms < 5000)
				backoff_ms *= 2;
		}
		if (ok)
			rd_count(&mt->deliveries[ln->dest], 1);
		if (ok && !it->dead) /* a dead-letter envelope's time is its retries' */
			rd_metrics_e2e(mt, now_ns() - it->accept_ns);
		lane_release(pl, it);
	}
	return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

/* Splits conf->shard_key ("a, b") into pl->keys. Returns 0 or -1 (OOM). */
static int
parse_keys(struct rd_pipeline *pl, const char *spec)
{
	const char *p = spec, *e;
	size_t n;

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		for (e = p; *e && *e != ',' && *e != ' '; e++)
			;
		if (e == p)
			break;
		char **nk = realloc(pl->keys, (pl->nkeys + 1) * sizeof *nk);
		if (!nk)
			return -1;
		pl->keys = nk;
		n = (size_t)(e - p);
		if (!(pl->keys[pl->nkeys] = strndup(p, n)))
			return -1;
		pl->nkeys++;
		p = e;
	}
	return 0;
}

int
rd_pipeline_start(struct rd_pipeline *pl, const struct rd_conf *c, const route_prog *p,
	struct rd_metrics *m, char *err, size_t errlen)
{
	uint32_t i;
	size_t nlen;
	const char *name;
	char why[512];

	memset(pl, 0, sizeof *pl);
	pl->conf = c;
	pl->prog = p;
	pl->metrics = m;
	pthread_mutex_init(&pl->budget.mu, NULL);
	pthread_cond_init(&pl->budget.cv, NULL);
	pl->budget.cap = c->max_inflight_bytes;
	if (parse_keys(pl, c->shard_key) < 0)
		goto oom;
	pl->nlanes = route_prog_ndests(p);
	/* a program with tables or temporal rules routes on one shard, in arrival order: a table's
	 * updates and lookups come from events of different types, which the
	 * shard key would spread over shards running in parallel (sharding the
	 * state by the tables' keys is the next step) */
	pl->nshards = route_prog_ntables(p) > 0 || route_prog_ntemporal(p) > 0 ? 1 : c->workers;
	pl->lanes = calloc(pl->nlanes ? pl->nlanes : 1, sizeof *pl->lanes);
	pl->shards = calloc(pl->nshards, sizeof *pl->shards);
	if (!pl->lanes || !pl->shards)
		goto oom;
	for (i = 0; i < pl->nlanes; i++) {
		struct rd_lane *ln = &pl->lanes[i];
		ln->pl = pl;
		ln->dest = i;
		fifo_init(&ln->q);
	}
	for (i = 0; i < pl->nshards; i++) {
		pl->shards[i].pl = pl;
		fifo_init(&pl->shards[i].q);
	}
	for (i = 0; i < pl->nlanes; i++) {
		struct rd_lane *ln = &pl->lanes[i];
		name = route_dest_name(p, i, &nlen);
		route_dest_policy(p, i, &ln->pol);
		if (rd_sink_open(&ln->sink, c, p, i, m, why, sizeof why) < 0) {
			snprintf(err, errlen, "destination %.*s: %s", (int)nlen, name, why);
			goto fail;
		}
		ln->sink_open = 1;
		if (ln->sink.wh) {
			char dname[300];
			snprintf(dname, sizeof dname, "%.*s.dlq", (int)nlen, name);
			if (!(ln->dlq = malloc(sizeof *ln->dlq)))
				goto oom;
			if (rd_store_open(ln->dlq, c->data_dir, dname, strlen(dname), why, sizeof why) < 0) {
				free(ln->dlq);
				ln->dlq = NULL;
				snprintf(err, errlen, "destination %.*s: %s", (int)nlen, name, why);
				goto fail;
			}
		}
		if (pthread_create(&ln->thr, NULL, ln->sink.wh ? webhook_lane_main : lane_main, ln) != 0) {
			snprintf(err, errlen, "cannot start a thread");
			goto fail;
		}
		ln->started = 1;
	}
	if ((route_prog_ntables(p) > 0 || route_prog_ntemporal(p) > 0) && !(pl->state = route_state_new(p)))
		goto oom;
	for (i = 0; i < pl->nshards; i++) {
		struct rd_shard *sh = &pl->shards[i];
		if (!(sh->m = route_matcher_new(p)))
			goto oom;
		sh->out = calloc(pl->nlanes ? pl->nlanes : 1, sizeof *sh->out);
		sh->touched = calloc(pl->nlanes ? pl->nlanes : 1, sizeof *sh->touched);
		if (!sh->out || !sh->touched)
			goto oom;
		if (pl->state)
			route_matcher_set_state(sh->m, pl->state);
		if (pthread_create(&sh->thr, NULL, worker_main, sh) != 0) {
			snprintf(err, errlen, "cannot start a thread");
			goto fail;
		}
		sh->started = 1;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	rd_pipeline_drain(pl);
	rd_pipeline_free(pl);
	return -1;
}

/* The shard of event ev: the hash of its first key member present, else round-robin. */
static unsigned
shard_of(struct rd_pipeline *pl, const char *ev, size_t len)
{
	const char *v;
	size_t vlen;
	unsigned i;

	for (i = 0; i < pl->nkeys; i++)
		if (rd_json_member(ev, len, pl->keys[i], &v, &vlen))
			return (unsigned)(XXH64(v, vlen, 0) % pl->nshards);
	return atomic_fetch_add(&pl->rr, 1) % pl->nshards;
}

/* A request's events for one shard, in order (rd_pipeline_submit). */
struct chain {
	struct rd_item *head, *tail; /* owns the items until pushed */
	size_t n;
};
#define SUBMIT_STACK_SHARDS 16     /* chains kept on the stack up to this many shards */

/*
 * The events are copied into items (one allocation each: the worker frees
 * them one by one), linked per shard in request order, and each shard's
 * chain is pushed with one lock and one wake-up, so a batch of 100 events
 * costs the shards' locks once rather than 100 times.
 */
int
rd_pipeline_submit(struct rd_pipeline *pl, const struct rd_event_ref *ev, size_t n)
{
	struct chain stack_ch[SUBMIT_STACK_SHARDS], *ch = stack_ch;
	struct rd_item *it, *next;
	size_t i, total = 0;
	unsigned s;
	uint64_t now = now_ns();

	if (atomic_load(&pl->stopping))
		return -1;
	for (i = 0; i < n; i++)
		total += sizeof(struct rd_item) + ev[i].len;
	if (budget_try(&pl->budget, total) < 0)
		return -1;
	if (pl->nshards > SUBMIT_STACK_SHARDS && !(ch = calloc(pl->nshards, sizeof *ch))) {
		budget_release(&pl->budget, total);
		return -1;
	}
	if (ch == stack_ch)
		memset(ch, 0, sizeof stack_ch);
	for (i = 0; i < n; i++) {
		if (!(it = malloc(sizeof(struct rd_item) + ev[i].len)))
			goto fail;
		memcpy(it->data, ev[i].p, ev[i].len);
		it->next = NULL;
		it->len = ev[i].len;
		it->charge = sizeof(struct rd_item) + ev[i].len;
		it->accept_ms = now / 1000000u;
		it->accept_ns = now;
		it->rules = NULL;
		it->nrules = 0;
		it->dead = 0;
		s = shard_of(pl, ev[i].p, ev[i].len);
		if (ch[s].tail)
			ch[s].tail->next = it;
		else
			ch[s].head = it;
		ch[s].tail = it;
		ch[s].n++;
	}
	for (s = 0; s < pl->nshards; s++)
		if (ch[s].n)
			fifo_push_chain(&pl->shards[s].q, ch[s].head, ch[s].tail, ch[s].n);
	if (ch != stack_ch)
		free(ch);
	return 0;
fail:
	for (s = 0; s < pl->nshards; s++)
		for (it = ch[s].head; it; it = next) {
			next = it->next;
			free(it);
		}
	if (ch != stack_ch)
		free(ch);
	budget_release(&pl->budget, total);
	return -1;
}

int
rd_pipeline_wait_room(struct rd_pipeline *pl, size_t n, unsigned ms)
{
	struct rd_budget *b = &pl->budget;
	struct timespec ts;
	int room;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->mu);
	/* the budget's cv is broadcast on every release */
	while (!(room = n <= b->cap && b->used <= b->cap - n) && !atomic_load(&pl->stopping))
		if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&b->mu);
	return room && !atomic_load(&pl->stopping);
}

void
rd_pipeline_drain(struct rd_pipeline *pl)
{
	uint32_t i;

	atomic_store(&pl->stopping, 1);
	if (pl->conf)
		atomic_store(&pl->drain_deadline_ms, rd_mono_ms() + 1000u * pl->conf->drain_timeout);
	/* workers first (they feed the lanes), then the lanes */
	for (i = 0; pl->shards && i < pl->nshards; i++)
		fifo_close(&pl->shards[i].q);
	for (i = 0; pl->shards && i < pl->nshards; i++)
		if (pl->shards[i].started) {
			pthread_join(pl->shards[i].thr, NULL);
			pl->shards[i].started = 0;
		}
	/* a lane may hand messages to another (dead_letter): close the lanes
	 * only once none holds any; webhook lanes give up what is left at the
	 * deadline, so the wait is bounded */
	for (i = 0; i < 1000u * (pl->conf->drain_timeout + 10) / 10; i++) {
		if (atomic_load(&pl->pending) <= 0)
			break;
		{
			struct timespec ts = { 0, 10 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	if (atomic_load(&pl->pending) > 0)
		rd_log(RD_LOG_ERROR, "drain: messages still in the lanes after drain_timeout + 10 s",
			"\"pending\":%ld", atomic_load(&pl->pending));
	for (i = 0; pl->lanes && i < pl->nlanes; i++) {
		fifo_close(&pl->lanes[i].q);
		if (pl->lanes[i].sink.wh)
			rd_webhook_wake(pl->lanes[i].sink.wh);
	}
	for (i = 0; pl->lanes && i < pl->nlanes; i++)
		if (pl->lanes[i].started) {
			pthread_join(pl->lanes[i].thr, NULL);
			pl->lanes[i].started = 0;
		}
}

void
rd_pipeline_free(struct rd_pipeline *pl)
{
	uint32_t i;

	for (i = 0; pl->shards && i < pl->nshards; i++) {
		fifo_fini(&pl->shards[i].q);
		route_matcher_free(pl->shards[i].m);
		free(pl->shards[i].out);
		free(pl->shards[i].touched);
	}
	route_state_free(pl->state);
	pl->state = NULL;
	for (i = 0; pl->lanes && i < pl->nlanes; i++) {
		fifo_fini(&pl->lanes[i].q);
		if (pl->lanes[i].sink_open)
			rd_sink_close(&pl->lanes[i].sink);
		if (pl->lanes[i].dlq) {
			rd_store_close(pl->lanes[i].dlq);
			free(pl->lanes[i].dlq);
		}
	}
	for (i = 0; i < pl->nkeys; i++)
		free(pl->keys[i]);
	free(pl->keys);
	free(pl->shards);
	free(pl->lanes);
	pthread_mutex_destroy(&pl->budget.mu);
	pthread_cond_destroy(&pl->budget.cv);
	memset(pl, 0, sizeof *pl);
}

struct rd_store *
rd_pipeline_queue(struct rd_pipeline *pl, const char *name, size_t len)
{
	uint32_t i;
	size_t nlen;
	const char *n;

	for (i = 0; i < pl->nlanes; i++) {
		n = route_dest_name(pl->prog, i, &nlen);
		if (nlen == len && memcmp(n, name, len) == 0)
			return pl->lanes[i].sink.store;
		if (pl->lanes[i].dlq && len == nlen + 4 && memcmp(n, name, nlen) == 0 &&
			memcmp(name + nlen, ".dlq", 4) == 0)
			return pl->lanes[i].dlq;
	}
	return NULL;
}

void
rd_pipeline_render(struct rd_pipeline *pl, struct rd_buf *o)
{
	uint32_t i;
	size_t nlen;
	const char *n;

	rd_buf_puts(o, "# HELP routed_destination_queue_depth Messages waiting in memory for each "
		"destination's sink.\n# TYPE routed_destination_queue_depth gauge\n");
	for (i = 0; i < pl->nlanes; i++) {
		n = route_dest_name(pl->prog, i, &nlen);
		rd_buf_printf(o, "routed_destination_queue_depth{destination=\"%.*s\"} %zu\n", (int)nlen, n,
			atomic_load(&pl->lanes[i].q.depth));
	}
	rd_buf_puts(o, "# HELP routed_queue_pending_messages Messages stored in a built-in queue and "
		"not acknowledged.\n# TYPE routed_queue_pending_messages gauge\n");
	for (i = 0; i < pl->nlanes; i++) {
		n = route_dest_name(pl->prog, i, &nlen);
		if (pl->lanes[i].sink.store)
			rd_buf_printf(o, "routed_queue_pending_messages{queue=\"%.*s\"} %" PRIu64 "\n",
				(int)nlen, n, rd_store_pending(pl->lanes[i].sink.store));
		if (pl->lanes[i].dlq)
			rd_buf_printf(o, "routed_queue_pending_messages{queue=\"%.*s.dlq\"} %" PRIu64 "\n",
				(int)nlen, n, rd_store_pending(pl->lanes[i].dlq));
	}
	rd_buf_puts(o, "# HELP routed_shard_queue_depth Accepted events waiting for each router worker.\n"
		"# TYPE routed_shard_queue_depth gauge\n");
	for (i = 0; i < pl->nshards; i++)
		rd_buf_printf(o, "routed_shard_queue_depth{shard=\"%u\"} %zu\n", i,
			atomic_load(&pl->shards[i].q.depth));
	rd_buf_printf(o, "# HELP routed_inflight_bytes Bytes of events and messages held in memory.\n"
		"# TYPE routed_inflight_bytes gauge\nrouted_inflight_bytes %zu\n"
		"# HELP routed_inflight_bytes_limit The configured cap on routed_inflight_bytes "
		"(max_inflight_bytes).\n# TYPE routed_inflight_bytes_limit gauge\nrouted_inflight_bytes_limit %zu\n",
		atomic_load(&pl->budget.used_view), pl->budget.cap);
}
