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

#include "durable.h"
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

/* Like fifo_pop, but gives up after ms milliseconds: NULL with *timeout set. */
static struct rd_item *
fifo_pop_timed(struct rd_fifo *q, unsigned ms, int *timeout)
{
	struct rd_item *it;
	struct timespec ts;

	*timeout = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&q->mu);
	while (!q->head && !q->closed)
		if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) == ETIMEDOUT) {
			*timeout = !q->head && !q->closed;
			break;
		}
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
 * lsn is the log record it comes from: with the durable log, a message a
 * destination got before the restart is not queued again (replay), and a
 * queued one holds the destination's cursor until lane_release. chain_from
 * is it->chain_from (envelopes). Returns 0 when queued (or skipped), -1 when
 * out of memory.
 */
static int
deliver(struct rd_pipeline *pl, uint32_t dest, const char *buf, size_t len, uint64_t accept_ms,
	const uint32_t *rules, uint32_t nrules, int dead, uint64_t lsn, uint32_t chain_from)
{
	size_t i, roff = (sizeof(struct rd_item) + len + 1 + sizeof(uint32_t) - 1) &
		~(sizeof(uint32_t) - 1);
	size_t charge = roff + (size_t)nrules * sizeof(uint32_t);
	struct rd_item *it = malloc(charge);
	struct rd_lane *ln = &pl->lanes[dest];
	size_t dlen;
	const char *dname;

	/* an envelope is never skipped: the message it stands for was routed in this run */
	if (pl->dur && !rd_durable_deliver(pl->dur, dest, lsn, dead)) {
		free(it);
		return 0;
	}
	if (!it) {
		/* counted and logged: the one way a message can be lost in this increment */
		rd_count(&pl->metrics->delivery_errors[dest], 1);
		dname = route_dest_name(pl->prog, dest, &dlen);
		rd_log(RD_LOG_ERROR, "out of memory: message not delivered", "\"destination\":\"%.*s\"",
			(int)dlen, dname);
		return -1;
	}
	memcpy(it->data, buf, len);
	for (i = 0; i < len; i++)
		if (it->data[i] == '\n' || it->data[i] == '\r')
			it->data[i] = ' ';
	it->data[len] = '\n';
	it->len = len + 1;
	it->charge = charge;
	it->accept_ms = accept_ms;
	it->rules = (uint32_t *)(void *)((char *)it + roff);
	it->nrules = nrules;
	if (nrules)
		memcpy(it->rules, rules, (size_t)nrules * sizeof(uint32_t));
	it->dead = dead;
	it->undone = 0;
	it->lsn = lsn;
	it->chain_from = chain_from;
	it->depth = 0;
	budget_force(&pl->budget, charge);
	atomic_fetch_add(&pl->pending, 1);
	fifo_push(&ln->q, it);
	if (ln->sink.wh)
		rd_webhook_wake(ln->sink.wh);
	return 0;
}

static unsigned shard_of(struct rd_pipeline *pl, const struct rd_event_ref *ev);
static void fifo_push(struct rd_fifo *q, struct rd_item *it);

/*
 * With the state split by key, an emitted event whose state lives on another
 * shard is handed to that shard (copied, charged to the budget, carrying the
 * LSN of the record it comes from, which stays unmatched until the receiving
 * shard has matched it). Returns 1
 * when it was (or was lost to out-of-memory, counted), 0 when it is this
 * shard's to route.
 */
static int
send_over(struct rd_shard *sh, const char *buf, size_t len, unsigned depth, uint64_t accept_ms,
	uint64_t lsn)
{
	struct rd_pipeline *pl = sh->pl;
	struct route_class c;
	struct rd_event_ref ref = { buf, len, 0, 0 };
	struct rd_item *it;
	unsigned to;

	if (!pl->split)
		return 0;
	route_classify(sh->m, buf, len, &c);
	if (c.status != ROUTE_OK || c.part == ROUTE_PART_ANY)
		return 0;
	ref.part = c.part;
	ref.key = c.key;
	if ((to = shard_of(pl, &ref)) == (unsigned)(sh - pl->shards))
		return 0;
	if (!(it = malloc(sizeof *it + len))) {
		rd_count(&pl->metrics->emit_unrouted[RD_EMIT_OOM], 1);
		rd_log(RD_LOG_ERROR, "out of memory: emitted event not routed", NULL);
		return 1;
	}
	memcpy(it->data, buf, len);
	it->len = len;
	it->charge = sizeof *it + len;
	it->accept_ms = accept_ms;
	it->rules = NULL;
	it->nrules = 0;
	it->dead = 0;
	it->depth = depth;
	it->undone = 0;
	it->lsn = lsn;
	it->chain_from = 0;
	/* the record stays unmatched until this emitted event is matched too */
	if (pl->dur)
		rd_durable_hold(pl->dur, lsn);
	budget_force(&pl->budget, it->charge);
	fifo_push(&pl->shards[to].q, it);
	return 1;
}

/*
 * Matches one event (depth 0: accepted by ingest; deeper: emitted), counts,
 * queues its output to each destination, then feeds its emitted events back
 * in, up to emit_depth. buf is borrowed; accept_ms is when ingest accepted
 * the event (or the one that emitted it).
 */
static void
route_one(struct rd_shard *sh, const char *buf, size_t len, unsigned depth, uint64_t accept_ms,
	uint64_t lsn)
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
		deliver(pl, d.dests[i], d.output, d.output_len, accept_ms, d.rules, d.nrules, 0, lsn, 0);
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
			if (!send_over(sh, emits[i], elens[i], depth + 1, accept_ms, lsn))
				route_one(sh, emits[i], elens[i], depth + 1, accept_ms, lsn);
			free(emits[i]);
		}
	}
	free(emits);
	free(elens);
}

/*
 * A shard's router: matches its events in fifo order. With the durable log
 * it reports each record matched (after its messages are queued, so no
 * cursor can pass them in between), and a worker that owns state (its part
 * when the state is split, else shard 0's whole state) takes that state's
 * snapshots, between two matches, also when idle and once more when the
 * fifo is closed.
 */
static void *
worker_main(void *arg)
{
	struct rd_shard *sh = arg;
	struct rd_pipeline *pl = sh->pl;
	struct rd_item *it;
	unsigned idx = (unsigned)(sh - pl->shards);
	/* this worker checkpoints a state: its part when split, else shard 0 the one state */
	int owner = pl->split || (idx == 0 && pl->state);
	route_state *st;
	int timeout;

	for (;;) {
		/* read each time: the durable log replaces a state it cannot restore in
		 * full before it sets pl->dur (and before any event comes) */
		st = pl->split ? sh->state : pl->state;
		if (owner) {
			it = fifo_pop_timed(&sh->q, 250, &timeout);
			if (!it && timeout) {
				if (pl->dur)
					rd_durable_maybe_checkpoint(pl->dur, idx, st, 0);
				continue;
			}
		} else {
			it = fifo_pop(&sh->q);
		}
		if (!it)
			break;
		budget_wait_under_cap(&pl->budget);
		route_one(sh, it->data, it->len, it->depth, it->accept_ms, it->lsn);
		if (pl->dur) {
			rd_durable_matched(pl->dur, it->lsn);
			if (owner)
				rd_durable_maybe_checkpoint(pl->dur, idx, st, 0);
		}
		budget_release(&pl->budget, it->charge);
		free(it);
	}
	if (owner && pl->dur)
		rd_durable_maybe_checkpoint(pl->dur, idx, pl->split ? sh->state : pl->state, 1);
	return NULL;
}

/* ---- lanes ------------------------------------------------------------------------ */

/*
 * A message's lane work is over (written, delivered, dead-lettered, or lost
 * at shutdown with it->undone set): releases its memory and its pending
 * count, and tells the durable log, which moves the destination's cursor
 * past its record (not for an undone one: it is routed again after the
 * restart).
 */
static void
lane_release(struct rd_pipeline *pl, struct rd_lane *ln, struct rd_item *it)
{
	if (pl->dur && !it->undone) {
		rd_durable_done(pl->dur, ln->dest, it->lsn);
		if (it->chain_from)
			rd_durable_done(pl->dur, it->chain_from - 1, it->lsn);
	}
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
		/* with the log, this destination's cursor waits for the envelope too
		 * (chain_from; the dead_letter destination's cursor may be past the
		 * record already, after a restart) -- for ever when it could not be queued */
		deliver(pl, ln->pol.dead_letter, b.p, b.len - 1, it->accept_ms, it->rules, it->nrules, 1,
			it->lsn, ln->dest + 1);
		it->undone = pl->dur != NULL;
	} else if (!ln->dlq || rd_store_append(ln->dlq, b.p, b.len) < 0) {
		rd_log(RD_LOG_ERROR, "cannot write the dead-letter queue: message lost",
			"\"destination\":\"%.*s\"", (int)nlen, name);
		it->undone = 1; /* with the durable log: routed again after a restart */
	}
	rd_buf_fini(&b);
	lane_release(pl, ln, it);
}

/* rd_wh_done_fn of webhook lanes: a message delivered or given up. */
static void
webhook_done(void *ud, const struct rd_wh_outcome *o)
{
	struct rd_lane *ln = ud;

	if (o->delivered)
		lane_release(ln->pl, ln, o->msg);
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
			/* at shutdown, give up: with the durable log the message is routed
			 * again at the next start (it->undone), without it after 3 more tries */
			if (atomic_load(&pl->stopping) && (pl->dur || tries > 3)) {
				rd_log(RD_LOG_ERROR, pl->dur ? "sink still failing at shutdown: message left in "
					"the log for the next start" : "sink still failing at shutdown: message lost",
					"\"destination\":\"%.*s\"", (int)nlen, name);
				it->undone = 1;
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
		lane_release(pl, ln, it);
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

/* Logs how the state is split: "keyed" lists TYPE:FIELD, "one_shard" the types kept on shard 0. */
static void
log_split(const route_prog *p, unsigned nshards)
{
	struct rd_buf keyed, one;
	uint32_t t, f;
	size_t tl, fl;
	const char *tn, *fn;

	rd_buf_init(&keyed);
	rd_buf_init(&one);
	for (t = 0; t < route_prog_ntypes(p); t++) {
		int k = route_type_partition(p, t, &f);

		tn = route_type_name(p, t, &tl);
		if (k == ROUTE_PART_KEY) {
			fn = route_field_name(p, f, &fl);
			rd_buf_printf(&keyed, "%s%.*s:%.*s", keyed.len ? "," : "", (int)tl, tn, (int)fl, fn);
		} else if (k == ROUTE_PART_ONE) {
			rd_buf_printf(&one, "%s%.*s", one.len ? "," : "", (int)tl, tn);
		}
	}
	rd_log(RD_LOG_INFO, "state split by key over the shards", "\"shards\":%u,\"keyed\":\"%.*s\","
		"\"one_shard\":\"%.*s\"", nshards, (int)keyed.len, keyed.p ? keyed.p : "", (int)one.len,
		one.p ? one.p : "");
	rd_buf_fini(&keyed);
	rd_buf_fini(&one);
}

int
rd_pipeline_start(struct rd_pipeline *pl, const struct rd_conf *c, const route_prog *p,
	struct rd_metrics *m, char *err, size_t errlen)
{
	uint32_t i;
	size_t nlen;
	const char *name, *pwhy = NULL;
	char why[512];
	int stateful;

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
	/* a program with state (tables, temporal rules) splits it by key over
	 * the shards when route_prog_partition() says it can: every event that
	 * touches a key's state goes to the shard holding it (a table's updates
	 * and lookups by the same customer, a window's events of one key).
	 * Otherwise it routes on one shard, in arrival order. */
	stateful = route_prog_ntables(p) > 0 || route_prog_ntemporal(p) > 0;
	pl->split = stateful && c->workers > 1 && route_prog_partition(p, &pwhy);
	pl->nshards = stateful && !pl->split ? 1 : c->workers;
	if (stateful && pl->split)
		log_split(p, pl->nshards);
	else if (stateful && c->workers > 1)
		rd_log_str(RD_LOG_WARN, "state cannot be split by key: all events route on one shard", "reason",
			pwhy && pwhy[0] ? pwhy : "no event type is keyed");
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
	if (stateful && !pl->split && !(pl->state = route_state_new(p)))
		goto oom;
	for (i = 0; i < pl->nshards; i++) {
		struct rd_shard *sh = &pl->shards[i];
		if (!(sh->m = route_matcher_new(p)))
			goto oom;
		if (pl->split && !(sh->state = route_state_new(p)))
			goto oom;
		if (pl->state || sh->state)
			route_matcher_set_state(sh->m, pl->state ? pl->state : sh->state);
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

/*
 * The shard of event ev: with the state split, the shard of its state's key
 * (or shard 0 for a type whose state cannot be split); otherwise the hash of
 * its first key member present, else round-robin.
 */
static unsigned
shard_of(struct rd_pipeline *pl, const struct rd_event_ref *ev)
{
	const char *v;
	size_t vlen;
	unsigned i;

	if (pl->split && ev->part == ROUTE_PART_KEY)
		return (unsigned)(ev->key % pl->nshards);
	if (pl->split && ev->part == ROUTE_PART_ONE)
		return 0;
	for (i = 0; i < pl->nkeys; i++)
		if (rd_json_member(ev->p, ev->len, pl->keys[i], &v, &vlen))
			return (unsigned)(XXH64(v, vlen, 0) % pl->nshards);
	return atomic_fetch_add(&pl->rr, 1) % pl->nshards;
}

/* A new event item for ev[0..len) (copied), or NULL (out of memory). */
static struct rd_item *
event_item(const char *ev, size_t len, uint64_t accept_ms, uint64_t lsn)
{
	struct rd_item *it = malloc(sizeof(struct rd_item) + len);

	if (!it)
		return NULL;
	memcpy(it->data, ev, len);
	it->len = len;
	it->charge = sizeof(struct rd_item) + len;
	it->accept_ms = accept_ms;
	it->rules = NULL;
	it->nrules = 0;
	it->dead = 0;
	it->undone = 0;
	it->lsn = lsn;
	it->chain_from = 0;
	it->depth = 0;
	return it;
}

int
rd_pipeline_submit(struct rd_pipeline *pl, const struct rd_event_ref *ev, size_t n, size_t *ndup)
{
	struct rd_item **items;
	uint64_t *lsn = NULL;
	size_t i, total = 0, dups = 0, unused = 0;
	uint64_t now = rd_mono_ms();
	int e = ENOMEM;

	if (ndup)
		*ndup = 0;
	if (atomic_load(&pl->stopping)) {
		errno = ESHUTDOWN;
		return -1;
	}
	for (i = 0; i < n; i++)
		total += sizeof(struct rd_item) + ev[i].len;
	if (budget_try(&pl->budget, total) < 0) {
		errno = ENOBUFS;
		return -1;
	}
	if (!(items = calloc(n ? n : 1, sizeof *items)) || !(lsn = calloc(n ? n : 1, sizeof *lsn)))
		goto fail;
	for (i = 0; i < n; i++)
		if (!(items[i] = event_item(ev[i].p, ev[i].len, now, 0)))
			goto fail;
	if (pl->dur) {
		/* durable before anyone is answered; the LSNs are then in the unmatched set */
		if (rd_durable_log(pl->dur, ev, n, lsn, &dups) < 0) {
			e = errno;
			goto fail;
		}
		for (i = 0; i < n; i++)
			items[i]->lsn = lsn[i];
	}
	for (i = 0; i < n; i++) {
		if (pl->dur && !lsn[i]) { /* a duplicate: not logged, not routed */
			unused += items[i]->charge;
			free(items[i]);
			continue;
		}
		fifo_push(&pl->shards[shard_of(pl, &ev[i])].q, items[i]);
	}
	if (unused)
		budget_release(&pl->budget, unused);
	free(items);
	free(lsn);
	if (ndup)
		*ndup = dups;
	return 0;
fail:
	if (items)
		for (i = 0; i < n; i++)
			free(items[i]);
	free(items);
	free(lsn);
	budget_release(&pl->budget, total);
	errno = e;
	return -1;
}

unsigned
rd_pipeline_shard_of(struct rd_pipeline *pl, const struct rd_event_ref *ev)
{
	return shard_of(pl, ev);
}

int
rd_pipeline_route_logged(struct rd_pipeline *pl, const struct rd_event_ref *ev, unsigned shard,
	uint64_t lsn)
{
	size_t charge = sizeof(struct rd_item) + ev->len;
	struct rd_item *it;

	for (;;) {
		if (atomic_load(&pl->stopping))
			return -1;
		if (budget_try(&pl->budget, charge) == 0)
			break;
		if (charge > pl->budget.cap) { /* bigger than the whole budget: take it anyway */
			budget_force(&pl->budget, charge);
			break;
		}
		rd_pipeline_wait_room(pl, charge, 100);
	}
	if (!(it = event_item(ev->p, ev->len, rd_mono_ms(), lsn))) {
		budget_release(&pl->budget, charge);
		return -1;
	}
	fifo_push(&pl->shards[shard % pl->nshards].q, it);
	return 0;
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
		route_state_free(pl->shards[i].state);
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
	if (pl->dur)
		rd_durable_render(pl->dur, o);
	rd_buf_printf(o, "# HELP routed_inflight_bytes Bytes of events and messages held in memory.\n"
		"# TYPE routed_inflight_bytes gauge\nrouted_inflight_bytes %zu\n"
		"# HELP routed_inflight_bytes_limit The configured cap on routed_inflight_bytes "
		"(max_inflight_bytes).\n# TYPE routed_inflight_bytes_limit gauge\nrouted_inflight_bytes_limit %zu\n",
		atomic_load(&pl->budget.used_view), pl->budget.cap);
}
