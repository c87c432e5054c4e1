/*
 * pipeline.c -- shards, router workers, destination lanes, dead-lettering
 * and the memory budget (see pipeline.h for the shape and the bounds). Owns
 * every queued item until a sink has written it or it is dead-lettered.
 * pl->pending counts messages in the lanes, so the drain knows when no lane
 * can hand another one a dead-letter envelope any more.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Unlinks the head item (the caller owns it), or NULL; with q->mu held. */
static struct rd_item *
fifo_take_locked(struct rd_fifo *q)
{
	struct rd_item *it = q->head;

	if (it) {
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		atomic_fetch_sub(&q->depth, 1);
	}
	return it;
}

/* The CLOCK_REALTIME time ms milliseconds from now, for pthread_cond_timedwait. */
static void
deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void fifo_push_chain(struct rd_fifo *q, struct rd_item *head, struct rd_item *tail, size_t n);

/* Takes ownership of it. */
static void
fifo_push(struct rd_fifo *q, struct rd_item *it)
{
	it->next = NULL;
	fifo_push_chain(q, it, it, 1);
}

/*
 * Takes ownership of the n items linked from head to tail (tail->next is
 * NULL) and wakes the consumer when the fifo then holds at least wake_at
 * items (1: always; SIZE_MAX: never, the caller sees to it).
 */
static void
fifo_append(struct rd_fifo *q, struct rd_item *head, struct rd_item *tail, size_t n, size_t wake_at)
{
	pthread_mutex_lock(&q->mu);
	if (q->tail)
		q->tail->next = head;
	else
		q->head = head;
	q->tail = tail;
	if (atomic_fetch_add(&q->depth, n) + n >= wake_at)
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* fifo_append with a wake-up: one lock and one wake-up for a whole request's events of a shard. */
static void
fifo_push_chain(struct rd_fifo *q, struct rd_item *head, struct rd_item *tail, size_t n)
{
	fifo_append(q, head, tail, n, 1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define COALESCE_MAX 256             /* messages one coalesced write takes at most */
#define COALESCE_BYTES (256u << 10)  /* ... and bytes (it stops after the message that passes it) */
#define SPIN_NS 20000          /* lock_briefly: how long to wait for the shard's holder */
#define DRAIN_ROUNDS 4         /* lane_drain: writes one router makes for others at most */

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Takes mu when it is free, or when its holder lets go within SPIN_NS (with
 * more than one CPU to run on: pl->spin); else gives up (returns 0) rather
 * than wait behind a worker, which may hold it for long. Spinning beats
 * handing the work over: a hand-off costs a thread's wake-up, tens to
 * hundreds of microseconds on a busy CPU. Returns 1 with mu held.
 */
static int
lock_briefly(const struct rd_pipeline *pl, pthread_mutex_t *mu)
{
	uint64_t until = 0;
	unsigned i;

	while (pthread_mutex_trylock(mu) != 0) {
		/* on one CPU the holder cannot run while this thread spins */
		if (!pl->spin)
			return 0;
		if (!until)
			until = now_ns() + SPIN_NS;
		for (i = 0; i < 64; i++)
			cpu_relax();
		if (now_ns() > until)
			return 0;
	}
	return 1;
}

/* Puts the chain head..tail (n items, owned by the fifo from now on) before what q holds. */
static void
fifo_push_front(struct rd_fifo *q, struct rd_item *head, struct rd_item *tail, size_t n)
{
	pthread_mutex_lock(&q->mu);
	tail->next = q->head;
	q->head = head;
	if (!q->tail)
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
	it = fifo_take_locked(q);
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
	it = fifo_take_locked(q);
	*done = !q->head && q->closed;
	pthread_mutex_unlock(&q->mu);
	return it;
}

/*
 * Waits up to ms for an item (the caller owns it); NULL on timeout, or once
 * the fifo is closed and empty (*closed set), or when wake is set.
 */
static struct rd_item *
fifo_pop_timed(struct rd_fifo *q, uint64_t ms, int *closed, atomic_int *wake)
{
	struct rd_item *it;
	struct timespec ts;

	deadline_in(&ts, ms > 86400000u * 2 ? 86400000u * 2 : ms);
	pthread_mutex_lock(&q->mu);
	while (!q->head && !q->closed && !atomic_load(wake))
		if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) == ETIMEDOUT)
			break;
	it = fifo_take_locked(q);
	*closed = !q->head && q->closed;
	pthread_mutex_unlock(&q->mu);
	return it;
}

/* Wakes every thread waiting on q (the drain started; items appended without a wake-up). */
static void
fifo_wake(struct rd_fifo *q)
{
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
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


int
rd_pipeline_backpressure(struct rd_pipeline *pl)
{
	return now_ns() < atomic_load(&pl->backpressure_until);
}

/* Key k's first slot in the pushback table. */
static unsigned
pb_slot(uint64_t k)
{
	return (unsigned)((k ^ k >> 29) & (RD_PUSHBACK_KEYS - 1));
}

/*
 * A keyed firing: pushes back key k until until. Returns 0, or -1 when
 * every slot holds a key still pushed back (the caller pushes back on
 * everything). Slots are never emptied one by one (that would cut the
 * probe chains); the table is cleared once every entry has lapsed.
 */
static int
pb_push(struct rd_pipeline *pl, uint64_t k, uint64_t until, uint64_t now)
{
	unsigned i, s, free_at = RD_PUSHBACK_KEYS;
	int rc = -1;

	pthread_mutex_lock(&pl->pb_mu);
	if (atomic_load(&pl->pb_until) <= now)
		memset(pl->pb, 0, sizeof pl->pb);
	for (i = 0, s = pb_slot(k); i < RD_PUSHBACK_KEYS; i++, s = (s + 1) & (RD_PUSHBACK_KEYS - 1)) {
		if (pl->pb[s].until && pl->pb[s].key == k) {
			free_at = s; /* renewed in place */
			break;
		}
		if (pl->pb[s].until <= now && free_at == RD_PUSHBACK_KEYS)
			free_at = s;
		if (!pl->pb[s].until)
			break; /* the end of k's chain */
	}
	if (free_at < RD_PUSHBACK_KEYS) {
		pl->pb[free_at].key = k;
		pl->pb[free_at].until = until;
		if (atomic_load(&pl->pb_until) < until)
			atomic_store(&pl->pb_until, until);
		rc = 0;
	}
	pthread_mutex_unlock(&pl->pb_mu);
	return rc;
}

int
rd_pipeline_key_pushed_back(struct rd_pipeline *pl, route_matcher *m)
{
	uint64_t keys[8], now;
	uint32_t n, j;
	unsigned i, s;
	int hit = 0;

	if (atomic_load(&pl->pb_until) == 0 || (now = now_ns()) >= atomic_load(&pl->pb_until))
		return 0;
	if ((n = route_pushback_keys(m, keys, 8)) > 8)
		n = 8; /* more keyed rules on one type than this are not looked at */
	pthread_mutex_lock(&pl->pb_mu);
	for (j = 0; j < n && !hit; j++)
		for (i = 0, s = pb_slot(keys[j]); i < RD_PUSHBACK_KEYS && pl->pb[s].until;
		     i++, s = (s + 1) & (RD_PUSHBACK_KEYS - 1))
			if (pl->pb[s].key == keys[j]) {
				hit = pl->pb[s].until > now;
				break;
			}
	pthread_mutex_unlock(&pl->pb_mu);
	return hit;
}

int
rd_pipeline_has_room(struct rd_pipeline *pl, size_t n, size_t bytes)
{
	size_t used = atomic_load(&pl->budget.used_view), need = n * sizeof(struct rd_item) + bytes;

	return need <= pl->budget.cap && used <= pl->budget.cap - need;
}

const char *
rd_fate_name(int fate)
{
	static const char *const names[RD_FATE__COUNT] = {
#define X(id, s) s,
		RD_FATES(X)
#undef X
	};

	return fate >= 0 && fate < RD_FATE__COUNT ? names[fate] : "?";
}

/* Makes *worst at least fate (a fan-out keeps its worst status). */
static void
fan_worsen(struct rd_fanout *f, int fate)
{
	int w = atomic_load(&f->worst);

	while (w < fate && !atomic_compare_exchange_weak(&f->worst, &w, fate))
		;
}

struct rd_waiter *
rd_waiter_new(void (*settled)(void *), void *arg)
{
	struct rd_waiter *w = calloc(1, sizeof *w);

	if (!w)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	atomic_init(&w->refs, 1);
	w->settled = settled;
	w->arg = arg;
	return w;
}

void
rd_waiter_detach(struct rd_waiter *w)
{
	pthread_mutex_lock(&w->mu);
	w->arg = NULL;
	pthread_mutex_unlock(&w->mu);
}

void
rd_waiter_put(struct rd_waiter *w)
{
	if (!w || atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* One of w's events has its outcome (fate): counted, and the reference it held dropped. */
static void
waiter_settle(struct rd_waiter *w, int fate)
{
	atomic_fetch_add(&w->outcomes[fate], 1);
	if (atomic_fetch_sub(&w->pending, 1) == 1) {
		pthread_mutex_lock(&w->mu);
		if (w->arg)
			w->settled(w->arg);
		pthread_mutex_unlock(&w->mu);
	}
	rd_waiter_put(w);
}

/* A new fanout with the router's reference; w: its waiter (the reference passes to it). */
static struct rd_fanout *
fan_new(struct rd_waiter *w)
{
	struct rd_fanout *f = malloc(sizeof *f);

	if (!f)
		return NULL;
	atomic_init(&f->refs, 1);
	atomic_init(&f->worst, -1);
	atomic_init(&f->nmsgs, 0);
	f->waiter = w;
	return f;
}

/*
 * Drops one reference to f (freed with the last): the last one counts the
 * event's outcome, the worst fate of its messages (unrouted when it had
 * none), and logs it at warn when it is not "delivered"; and tells the
 * request waiting for it, if any.
 */
static void
fan_put(struct rd_pipeline *pl, struct rd_fanout *f)
{
	int w;

	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	w = atomic_load(&f->worst);
	if (w < 0)
		w = atomic_load(&f->nmsgs) ? RD_FATE_DELIVERED : RD_FATE_UNROUTED;
	rd_count(&pl->outcomes[w], 1);
	if (w == RD_FATE_DEAD_LETTERED || w == RD_FATE_LOST)
		rd_log(RD_LOG_WARN, "event not delivered to every destination", "\"outcome\":\"%s\"",
			rd_fate_name(w));
	if (f->waiter)
		waiter_settle(f->waiter, w);
	free(f);
}

/*
 * Waits, for a worker about to queue a message to lane ln, until ln's fifo
 * is below its bound (the bound pushes back: the worker stops, its shard
 * fills, then the memory budget, then ingest answers 503). Not for
 * dead-letter envelopes (lanes hand those on, and must not wait on each
 * other), nor once the drain started.
 */
/* This thread is routing a shard's events inline (shard_inline): it must not wait for a
 * lane; a full bounded lane sets inline_full instead, and the events after the current one
 * go to the worker. */
static __thread int routing_inline, inline_full;

static void
lane_wait_room(struct rd_pipeline *pl, struct rd_lane *ln)
{
	uint64_t t0;

	if (!ln->queue_max || atomic_load(&ln->q.depth) < ln->queue_max)
		return;
	if (routing_inline) { /* the bound is passed by this event's messages at most */
		inline_full = 1;
		return;
	}
	t0 = now_ns();
	pthread_mutex_lock(&ln->q.mu);
	while (atomic_load(&ln->q.depth) >= ln->queue_max && !atomic_load(&pl->stopping) && !ln->q.closed)
		pthread_cond_wait(&ln->room, &ln->q.mu);
	pthread_mutex_unlock(&ln->q.mu);
	rd_count(&ln->full_waits, 1);
	rd_count(&ln->full_ns, now_ns() - t0);
}

/* A lane took an item off its fifo: a worker waiting for room may go on. */
static void
lane_popped(struct rd_lane *ln)
{
	if (!ln->queue_max)
		return;
	pthread_mutex_lock(&ln->q.mu);
	if (atomic_load(&ln->q.depth) < ln->queue_max)
		pthread_cond_broadcast(&ln->room);
	pthread_mutex_unlock(&ln->q.mu);
}

/*
 * Queues buf[0..len) (borrowed) as one NDJSON line for destination dest: raw
 * newlines (whitespace between tokens in valid JSON: inside strings they
 * must be escaped) become spaces. The message carries the event's
 * acceptance time and the rules it matched (rules[0..nrules), copied) for
 * the retry policy and the dead-letter envelope: rule indexes of g's
 * program, or metrics slots already when g is NULL); dead marks an envelope.
 * dest is a lane slot. sh is the worker routing the event: the message
 * joins its per-lane chain (pushed by flush_out); NULL (a lane
 * dead-lettering) pushes it at once. lsn is the log record it comes from:
 * with the durable log, a message a destination got before the restart is
 * not queued again (replay), and a queued one holds the destination's
 * cursor until lane_release. chain_from is it->chain_from (envelopes).
 * how: DV_DEAD (an envelope), DV_ONELINE (buf is known to hold no '\n'
 * or '\r': the caller looked once for all of a fan-out's messages).
 */
enum { DV_DEAD = 1, DV_ONELINE = 2 };
/* This thread is handling a deadline's firing (or what it led to): items it makes are fired. */
static __thread int firing;


static void
deliver(struct rd_pipeline *pl, struct rd_shard *sh, uint32_t dest, const char *buf, size_t len,
	uint64_t accept_ns, const struct rd_gen *g, const uint32_t *rules, uint32_t nrules, unsigned how,
	struct rd_fanout *fan, uint64_t lsn, uint32_t chain_from)
{
	int dead = (how & DV_DEAD) != 0;
	char *p;
	uint32_t i;
	size_t roff = (sizeof(struct rd_item) + len + 1 + sizeof(uint32_t) - 1) &
		~(sizeof(uint32_t) - 1);
	size_t charge = roff + (size_t)nrules * sizeof(uint32_t);
	struct rd_item *it = malloc(charge);
	struct rd_lane *ln = &pl->lanes[dest];
	size_t dlen;
	const char *dname;

	/* an envelope is never skipped: the message it stands for was routed in this run */
	if (pl->dur && !rd_durable_deliver(pl->dur, dest, lsn, dead)) {
		free(it);
		return;
	}
	if (!it) {
		/* counted and logged: the one way a message can be lost in this increment */
		rd_count(&pl->metrics->delivery_errors[dest], 1);
		dname = ln->name;
		dlen = strlen(dname);
		rd_log(RD_LOG_ERROR, "out of memory: message not delivered", "\"destination\":\"%.*s\"",
			(int)dlen, dname);
		if (fan) {
			atomic_fetch_add_explicit(&fan->nmsgs, 1, memory_order_relaxed);
			fan_worsen(fan, RD_FATE_LOST);
		}
		return;
	}
	memcpy(it->data, buf, len);
	/* memchr rather than a byte loop: this was 6 % of routed's profile under wrk (1.2 KB events) */
	for (p = it->data; !(how & DV_ONELINE) && (p = memchr(p, '\n', len - (size_t)(p - it->data))); )
		*p = ' ';
	for (p = it->data; !(how & DV_ONELINE) && (p = memchr(p, '\r', len - (size_t)(p - it->data))); )
		*p = ' ';
	it->data[len] = '\n';
	it->len = len + 1;
	it->charge = charge;
	it->accept_ms = accept_ns / 1000000u;
	it->accept_ns = accept_ns;
	it->rules = (uint32_t *)(void *)((char *)it + roff);
	it->nrules = nrules;
	/* rule indexes of g's program become metrics slots (names outlive reloads) */
	for (i = 0; i < nrules; i++)
		it->rules[i] = g ? g->rule_slot[rules[i]] : rules[i];
	it->dead = dead;
	it->depth = 0;
	it->fan = fan;
	it->fate = RD_FATE_LOST;
	it->undone = 0;
	it->lsn = lsn;
	it->chain_from = chain_from;
	it->fired = firing;
	if (firing)
		atomic_fetch_add(&pl->fired_inflight, 1);
	if (fan) {
		atomic_fetch_add(&fan->refs, 1);
		atomic_fetch_add_explicit(&fan->nmsgs, 1, memory_order_relaxed);
	}
	/* a lane with a bounded queue is pushed to at once, after waiting for room, so that the
	 * bound holds (its messages skip the worker's chain) */
	if (!dead)
		lane_wait_room(pl, ln);
	atomic_fetch_add(&pl->pending, 1);
	if (sh && sh->out && !ln->queue_max) {
		struct rd_outq *o = &sh->out[dest];
		/* charged by flush_out, once for the chain's messages, before they are pushed */
		sh->out_charge += charge;
		it->next = NULL;
		if (o->tail)
			o->tail->next = it;
		else {
			o->head = it;
			sh->touched[sh->ntouched++] = dest;
		}
		o->tail = it;
		o->n++;
		o->bytes += it->len;
		return;
	}
	budget_force(&pl->budget, charge);
	fifo_push(&ln->q, it);
	if (ln->sink.wh)
		rd_webhook_wake(ln->sink.wh);
}

static unsigned shard_of(struct rd_pipeline *pl, const struct rd_event_ref *ev);

/*
 * An emitted event whose state lives on another shard (the state is split
 * by key) is handed to that shard (copied, charged to the budget, carrying
 * the LSN of its record, which stays unmatched until that shard has matched
 * it). Returns 1
 * when it was (or was lost to out-of-memory, counted), 0 when it is this
 * shard's to route.
 */
static int
send_over(struct rd_shard *sh, const char *buf, size_t len, unsigned depth, uint64_t accept_ns,
	struct rd_fanout *fan, uint64_t lsn)
{
	struct rd_pipeline *pl = sh->pl;
	struct route_class c;
	struct rd_event_ref ref = { buf, len, 0, 0 };
	struct rd_item *it;
	unsigned to;

	if (!sh->gen->states || pl->nshards < 2)
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
	it->accept_ms = accept_ns / 1000000u;
	it->accept_ns = accept_ns;
	it->rules = NULL;
	it->nrules = 0;
	it->dead = 0;
	it->depth = depth;
	it->fan = fan;             /* a reference for the shard that routes it */
	it->fate = RD_FATE_LOST;
	it->undone = 0;
	it->lsn = lsn;
	it->chain_from = 0;
	it->fired = firing;
	if (firing)
		atomic_fetch_add(&pl->fired_inflight, 1);
	if (fan)
		atomic_fetch_add(&fan->refs, 1);
	/* the record stays unmatched until this emitted event is matched too */
	if (pl->dur)
		rd_durable_hold(pl->dur, lsn);
	budget_force(&pl->budget, it->charge);
	fifo_push(&pl->shards[to].q, it);
	return 1;
}

static int inline_ok(const struct rd_pipeline *pl, struct rd_lane *ln);
static int lane_drain(struct rd_pipeline *pl, struct rd_lane *ln, int force);

/* Writes what the n lanes d[] have queued (lane_drain), or wakes their threads. */
static void
drain_lanes(struct rd_pipeline *pl, const uint32_t *d, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!lane_drain(pl, &pl->lanes[d[i]], 0))
			fifo_wake(&pl->lanes[d[i]].q);
}

/*
 * Pushes the messages the shard's holder collected to their lanes (see
 * struct rd_shard). A lane its router may write for (inline_ok) gets them
 * without a wake-up, and is noted in sh->drain: with now, they are written
 * here (the worker, every WORKER_FLUSH_EVERY events of a long chain);
 * else shard_unlock writes them once run_mu is free.
 */
static void
flush_out(struct rd_shard *sh, int now)
{
	struct rd_pipeline *pl = sh->pl;
	uint32_t i, l;

	if (sh->out_charge) {
		budget_force(&pl->budget, sh->out_charge);
		sh->out_charge = 0;
	}
	for (i = 0; i < sh->ntouched; i++) {
		l = sh->touched[i];
		struct rd_outq *o = &sh->out[l];
		struct rd_lane *ln = &pl->lanes[l];
		if (inline_ok(pl, ln)) {
			atomic_fetch_add_explicit(&ln->pend_bytes, o->bytes, memory_order_relaxed);
			fifo_append(&ln->q, o->head, o->tail, o->n, SIZE_MAX);
			if (!sh->drain_mark[l]) {
				sh->drain_mark[l] = 1;
				sh->drain[sh->ndrain++] = l;
			}
		} else {
			/* a lane filling a batch wakes up when it is full (or at its deadline) */
			size_t room = atomic_load(&ln->batch_room);
			fifo_append(&ln->q, o->head, o->tail, o->n, room ? room : 1);
		}
		if (ln->sink.wh)
			rd_webhook_wake(ln->sink.wh);
		o->head = o->tail = NULL;
		o->n = 0;
		o->bytes = 0;
	}
	sh->ntouched = 0;
	if (now && sh->ndrain) {
		drain_lanes(pl, sh->drain, sh->ndrain);
		for (i = 0; i < sh->ndrain; i++)
			sh->drain_mark[sh->drain[i]] = 0;
		sh->ndrain = 0;
	}
}

#define DRAIN_MAX 64 /* lanes shard_unlock writes for at most; it wakes the others' threads */

/*
 * Lets go of the shard's run_mu, then writes what flush_out left in the
 * lanes of sh->drain (lane_drain), or wakes their threads when it cannot.
 * The writes happen after run_mu is free so that the next router of the
 * shard -- another HTTP thread with an event of the same key -- does not
 * wait for them: a queue file's write() takes longer than routing an
 * event, and a router that waited past SPIN_NS handed its event to the
 * worker, a wake-up that made most of the latency's tail. Order holds:
 * the messages are in their fifos, in routing order, before run_mu is let
 * go, and whoever writes takes them from the front.
 */
/*
 * Lanes a submitter writes once it has routed the chains of all the shards
 * its request went to (submit_push): a lane that events of both shards went
 * to then takes one write() per request rather than one per shard. The
 * writes were a tenth of routed's CPU taking NDJSON batches of 100 (about
 * 19 per request, 2.2 us each, on this VM).
 */
struct drain_set {
	uint32_t d[DRAIN_MAX];
	uint32_t n;
};

/* Adds lane l to s (once); a set that is full wakes the lane's thread instead. */
static void
drain_set_add(struct rd_pipeline *pl, struct drain_set *s, uint32_t l)
{
	uint32_t i;

	for (i = 0; i < s->n; i++)
		if (s->d[i] == l)
			return;
	if (s->n < DRAIN_MAX)
		s->d[s->n++] = l;
	else
		fifo_wake(&pl->lanes[l].q);
}

/* shard_unlock, leaving the writes to the caller: the lanes go into later. */
static void
shard_unlock_to(struct rd_shard *sh, struct drain_set *later)
{
	struct rd_pipeline *pl = sh->pl;
	uint32_t i, l;

	for (i = 0; i < sh->ndrain; i++) {
		l = sh->drain[i];
		sh->drain_mark[l] = 0;
		drain_set_add(pl, later, l);
	}
	sh->ndrain = 0;
	pthread_mutex_unlock(&sh->run_mu);
}

static void
shard_unlock(struct rd_shard *sh)
{
	struct drain_set later;

	later.n = 0;
	shard_unlock_to(sh, &later);
	drain_lanes(sh->pl, later.d, later.n);
}

/*
 * Matches one event (depth 0: accepted by ingest; deeper: emitted), counts,
 * queues its output to each destination, then feeds its emitted events back
 * in, up to emit_depth. buf is borrowed; accept_ns is when ingest accepted
 * the event (or the one that emitted it).
 */
static void decided(struct rd_shard *sh, const struct route_decision *dp, int st, unsigned depth,
	int counted, uint64_t accept_ns, struct rd_fanout *fan, uint64_t lsn);

static void
route_one(struct rd_shard *sh, const char *buf, size_t len, unsigned depth, uint64_t accept_ns,
	struct rd_fanout *fan, uint64_t lsn)
{
	struct route_decision d;
	uint64_t t0 = now_ns();
	int st;

	st = route_match(sh->m, buf, len, &d);
	rd_metrics_latency(sh->pl->metrics, now_ns() - t0);
	decided(sh, &d, st, depth, depth == 0, accept_ns, fan, lsn);
}

/*
 * An emitted event (libroute writes it with the plain envelope: the type
 * member, "event_version", then the fields) as a CloudEvents 1.0
 * structured event, for rules read with envelope = cloudevents: its type,
 * its contract version as the "eventversion" extension (what the program
 * reads @version from), its fields as data, source "/routed/rules/RULE"
 * (the rule that emitted it) and id "MS-N" (the pipeline's start in wall ms
 * and a count: unique across restarts). Returns the new event (the
 * caller's, *len bytes), or NULL on out of memory.
 */
static char *
emit_cloudevent(struct rd_pipeline *pl, const route_prog *p, const struct route_emit *e, size_t *len)
{
	const char *s = e->json, *tn, *rn;
	size_t n = e->len, i, ke, ve, tlen = 0, rlen = 0, tf = strlen(pl->conf->type_field);
	struct rd_buf b;
	int first = 1;

	tn = route_type_name(p, e->type, &tlen);
	rn = route_rule_name(p, e->rule, &rlen);
	rd_buf_init(&b);
	rd_buf_printf(&b, "{\"specversion\":\"1.0\",\"id\":\"%" PRIu64 "-%" PRIu64 "\",\"source\":",
		pl->start_wall_ms, (uint64_t)atomic_fetch_add(&pl->emit_seq, 1) + 1);
	rd_buf_puts(&b, "\"/routed/rules/");
	if (rn)
		rd_buf_append(&b, rn, rlen); /* an identifier: nothing to escape */
	rd_buf_puts(&b, "\",\"type\":");
	rd_buf_json_str(&b, tn ? tn : "", tn ? tlen : 0);
	rd_buf_printf(&b, ",\"eventversion\":%u,\"data\":{", e->version);
	/* the members after the envelope's, as written (libroute made them: valid JSON) */
	i = rd_json_ws(s, n, 0);
	if (i < n && s[i] == '{')
		i = rd_json_ws(s, n, i + 1);
	while (i < n && s[i] == '"') {
		size_t ks = i, vs;

		if ((ke = rd_json_value_end(s, n, ks)) == (size_t)-1)
			break;
		vs = rd_json_ws(s, n, ke);
		if (vs >= n || s[vs] != ':')
			break;
		vs = rd_json_ws(s, n, vs + 1);
		if ((ve = rd_json_value_end(s, n, vs)) == (size_t)-1)
			break;
		/* the name between its quotes: the envelope's members stay out of data */
		if (!((ke - ks - 2 == tf && memcmp(s + ks + 1, pl->conf->type_field, tf) == 0) ||
		      (ke - ks - 2 == 13 && memcmp(s + ks + 1, "event_version", 13) == 0))) {
			if (!first)
				rd_buf_append(&b, ",", 1);
			first = 0;
			rd_buf_append(&b, s + ks, ke - ks);
			rd_buf_append(&b, ":", 1);
			rd_buf_append(&b, s + vs, ve - vs);
		}
		i = rd_json_ws(s, n, ve);
		if (i < n && s[i] == ',')
			i = rd_json_ws(s, n, i + 1);
	}
	rd_buf_puts(&b, "}}");
	if (b.oom) {
		rd_buf_fini(&b);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/*
 * What a decision of the shard's matcher leads to (dp borrows the
 * matcher's decision): counts (counted: an ingested event, matched or
 * not), queues the output to each destination, then routes the emitted
 * events at depth + 1, up to emit_depth. A deadline's firing (shard_tick)
 * is decided at depth 0 without being counted as an event. lsn: the log
 * record the decision comes from, carried by its messages and emitted
 * events; 0 for a deadline's firing (not tied to a record, docs/durability.md).
 */
static void
decided(struct rd_shard *sh, const struct route_decision *dp, int st, unsigned depth, int counted,
	uint64_t accept_ns, struct rd_fanout *fan, uint64_t lsn)
{
	struct rd_pipeline *pl = sh->pl;
	struct rd_metrics *mt = pl->metrics;
	const struct rd_gen *g = sh->gen;
	const struct route_decision d = *dp;
	char **emits = NULL;
	size_t *elens = NULL;
	uint32_t i, nemits = 0, prio;
	unsigned oneline = 0;

	if (st == ROUTE_OK && d.backpressure > 0) { /* push back for retry_after seconds from now */
		uint64_t now = now_ns(), until = now + (uint64_t)pl->conf->retry_after * 1000000000u;

		for (i = 0; i < d.backpressure; i++) {
			/* with `by`, the events of the key it fired for; else (or no room) all of them */
			if (d.pushbacks[i].keyed && pb_push(pl, d.pushbacks[i].key, until, now) == 0)
				continue;
			if (d.pushbacks[i].keyed)
				atomic_fetch_add(&pl->pb_overflow, 1);
			atomic_store(&pl->backpressure_until, until);
		}
	}
	if (depth > 0)
		rd_count(&mt->emitted, 1);
	if (st == ROUTE_REJECTED) {
		/* ingest validated it with the same program: only an emitted event can get here */
		rd_log_str(RD_LOG_ERROR, "event refused by the matcher after ingest", "reason",
			d.reason ? d.reason : "");
	} else if (st != ROUTE_OK && counted) {
		rd_count(&mt->unknown, 1);
	}
	for (i = 0; i < d.nrules; i++)
		rd_count(&mt->rule_matches[g->rule_slot[d.rules[i]]], 1);
	if (counted)
		rd_count(d.ndests ? &mt->matched : &mt->unmatched, 1);
	/* each message is one line: look for line breaks once for all of a fan-out's messages
	 * (an NDJSON line has none) */
	if (d.ndests > 1 && !memchr(d.output, '\n', d.output_len) && !memchr(d.output, '\r', d.output_len))
		oneline = DV_ONELINE;
	/* the destinations in priority order (0 first), so a full low-priority lane holds the
	 * worker only after the higher ones have their message; one pass when the decision's
	 * order already is (one destination, or equal priorities: the common case) */
	for (i = 1; i < d.ndests && pl->lanes[g->lane_of[d.dests[i - 1]]].pol.priority <=
		pl->lanes[g->lane_of[d.dests[i]]].pol.priority; i++)
		;
	if (i >= d.ndests) {
		for (i = 0; i < d.ndests; i++)
			deliver(pl, sh, g->lane_of[d.dests[i]], d.output, d.output_len, accept_ns, g, d.rules,
				d.nrules, oneline, fan, lsn, 0);
	} else {
		for (prio = 0; prio < 10; prio++)
			for (i = 0; i < d.ndests; i++) {
				uint32_t lp = pl->lanes[g->lane_of[d.dests[i]]].pol.priority;
				if (lp == prio || (prio == 9 && lp > 9))
					deliver(pl, sh, g->lane_of[d.dests[i]], d.output, d.output_len, accept_ns, g,
						d.rules, d.nrules, oneline, fan, lsn, 0);
			}
	}
	if (d.nemits && depth >= pl->conf->emit_depth) {
		rd_count(&mt->emit_unrouted[RD_EMIT_DEPTH], d.nemits);
		rd_log(RD_LOG_WARN, "emitted events past emit_depth not routed", "\"count\":%u,\"depth\":%u",
			d.nemits, depth);
	} else if (d.nemits) {
		/* the decision is the matcher's until the next match: copy the emits first */
		emits = calloc(d.nemits, sizeof *emits);
		elens = calloc(d.nemits, sizeof *elens);
		for (i = 0; emits && elens && i < d.nemits; i++) {
			if (pl->conf->envelope == ROUTE_ENV_CLOUDEVENTS) {
				/* derived events use the plain envelope, which this program would refuse */
				if (!(emits[i] = emit_cloudevent(pl, g->prog, &d.emits[i], &elens[i])))
					break;
			} else {
				if (!(emits[i] = malloc(d.emits[i].len ? d.emits[i].len : 1)))
					break;
				memcpy(emits[i], d.emits[i].json, d.emits[i].len);
				elens[i] = d.emits[i].len;
			}
			nemits++;
		}
		if (nemits < d.nemits) {
			rd_count(&mt->emit_unrouted[RD_EMIT_OOM], d.nemits - nemits);
			rd_log(RD_LOG_ERROR, "out of memory: emitted events not routed", "\"count\":%u",
				d.nemits - nemits);
		}
		for (i = 0; i < nemits; i++) {
			if (!send_over(sh, emits[i], elens[i], depth + 1, accept_ns, fan, lsn))
				route_one(sh, emits[i], elens[i], depth + 1, accept_ns, fan, lsn);
			free(emits[i]);
		}
	}
	free(emits);
	free(elens);
}

#define STATS_EVERY_MS 1000    /* how often a worker publishes its state's figures for /metrics */

/*
 * Adds what the shard's matcher counted of its rules' cost since the last
 * time (route_matcher_rule_cost) to the metrics, by rule slot: the matcher's
 * counts are the shard's alone, so /metrics reads them only from here
 * (shard_publish, about once a second, and shard_pick_up before the matcher
 * of a reload's old rules goes).
 */
static void
cost_publish(struct rd_shard *sh)
{
	struct rd_metrics *mt = sh->pl->metrics;
	const struct rd_gen *g = sh->gen;
	struct route_rule_cost c, *seen;
	uint32_t i, nr = route_prog_nrules(g->prog), slot;

	if (!sh->cost_seen)
		return;
	for (i = 0; i < nr; i++) {
		route_matcher_rule_cost(sh->m, i, &c);
		seen = &sh->cost_seen[i];
		if (c.evaluations == seen->evaluations)
			continue; /* nothing new (timing only comes with evaluations) */
		slot = g->rule_slot[i];
		rd_count(&mt->rule_evals[slot], c.evaluations - seen->evaluations);
		rd_count(&mt->rule_timed[slot], c.timed - seen->timed);
		rd_count(&mt->rule_timed_ns[slot], c.timed_ns - seen->timed_ns);
		*seen = c;
	}
}

/* Makes matcher m (of program p) the shard's for its costs: its rules timed, nothing of it published yet. */
static int
cost_start(struct rd_shard *sh, route_matcher *m, const route_prog *p)
{
	uint32_t nr = route_prog_nrules(p);
	struct route_rule_cost *seen = calloc(nr ? nr : 1, sizeof *seen);

	if (!seen)
		return -1;
	route_matcher_time_rules(m, sh->pl->conf->rule_cost_every);
	free(sh->cost_seen);
	sh->cost_seen = seen;
	return 0;
}

/*
 * Copies the figures of the shard's part of the state (per temporal rule,
 * per table) where /metrics reads them, at most every STATS_EVERY_MS.
 */
static void
shard_publish(struct rd_shard *sh)
{
	const route_prog *p = sh->gen->prog;
	route_state *st;
	uint64_t now = rd_mono_ms();
	uint32_t i, nr = route_prog_nrules(p), nt = route_prog_ntables(p);

	if (now - sh->stats_at_ms < STATS_EVERY_MS)
		return;
	sh->stats_at_ms = now;
	cost_publish(sh);
	if (!sh->gen->states)
		return;
	st = sh->gen->states[sh - sh->pl->shards];
	pthread_mutex_lock(&sh->stats_mu);
	if (sh->stats_prog != p) {
		free(sh->rstats);
		free(sh->rhas);
		free(sh->tstats);
		sh->rstats = calloc(nr ? nr : 1, sizeof *sh->rstats);
		sh->rhas = calloc(nr ? nr : 1, 1);
		sh->tstats = calloc(nt ? nt : 1, sizeof *sh->tstats);
		sh->stats_prog = sh->rstats && sh->rhas && sh->tstats ? p : NULL;
	}
	if (sh->stats_prog) {
		for (i = 0; i < nr; i++)
			sh->rhas[i] = route_state_rule_stats(st, i, &sh->rstats[i]) == 0;
		for (i = 0; i < nt; i++)
			route_state_table_stats(st, i, &sh->tstats[i]);
	}
	pthread_mutex_unlock(&sh->stats_mu);
}

/*
 * Fires the deadlines of the shard's part of the state that are due
 * (absences, tumbling windows: route_matcher_tick) and handles each firing
 * like a decision: the first event delivered where the rule routes it, the
 * emitted events routed.
 */
static void
shard_tick(struct rd_shard *sh)
{
	route_state *st;
	struct route_decision d;
	int64_t next;

	if (!sh->gen->states)
		return;
	st = sh->gen->states[sh - sh->pl->shards];
	next = route_state_next_deadline(st);
	if (next == INT64_MAX || (next != INT64_MIN && next > route_state_time(st)))
		return;
	/* a deadline's firing is no accepted event: its messages count toward no outcome */
	firing = 1;
	while (route_matcher_tick(sh->m, &d) > 0)
		decided(sh, &d, ROUTE_OK, 0, 0, now_ns(), NULL, 0); /* no log record: docs/durability.md */
	firing = 0;
}

/*
 * A snapshot of shard k's state for the durable log's checkpoints, when due
 * -- not while a deadline's firing has items on their way: the snapshot
 * would say it fired, and a crash before its messages are written would
 * lose them (docs/durability.md).
 */
static void
maybe_checkpoint(struct rd_shard *sh, unsigned k)
{
	if (atomic_load(&sh->pl->fired_inflight) > 0)
		return;
	rd_durable_maybe_checkpoint(sh->pl->dur, k, sh->gen->states[k], 0);
}

static struct rd_item *shard_pop_all(struct rd_shard *sh);
static void shard_pick_up(struct rd_shard *sh);

#define WORKER_FLUSH_EVERY 64  /* events routed between two pushes to the lanes, at most */
#define TICK_MS 50             /* an idle worker whose rules keep state checks its deadlines this often */

/*
 * Routes a chain of the shard's events (it, owned; run_mu held): fires due
 * deadlines before each, and pushes the messages to the lanes after each
 * WORKER_FLUSH_EVERY events and at the end (so a lone event is pushed at
 * once). The worker (on_worker) takes up a newer generation (a reload)
 * before each event, waits for the budget when it is over the cap (pushing
 * what it holds first: the lanes must be able to release it) and takes the
 * state's snapshots; a submitting thread routing inline (shard_inline) does
 * none of these, which it leaves to the worker, and hands the worker the
 * rest of the chain when a bounded lane it routes to is full.
 */
static void
shard_run(struct rd_shard *sh, struct rd_item *it, int on_worker)
{
	struct rd_budget *b = &sh->pl->budget;
	struct rd_item *next;
	unsigned k, idx = (unsigned)(sh - sh->pl->shards);

	for (k = 1; it; it = next, k++) {
		next = it->next;
		if (on_worker && atomic_load(&b->used_view) > b->cap) {
			flush_out(sh, 1);
			budget_wait_under_cap(b);
		}
		if (on_worker)
			shard_pick_up(sh);
		shard_tick(sh);
		{
			/* an accepted event starts its outcome (a waiting request's made it at the
			 * submit); an emitted one sent over from another shard brings its event's (the
			 * item's reference is dropped here). Without one (out of memory) no outcome is
			 * counted. */
			struct rd_fanout *fan = it->depth || it->fan ? it->fan : fan_new(NULL);
			firing = it->fired;
			route_one(sh, it->data, it->len, it->depth, it->accept_ns, fan, it->lsn);
			firing = 0;
			if (it->fired)
				atomic_fetch_sub(&sh->pl->fired_inflight, 1);
			if (fan)
				fan_put(sh->pl, fan);
		}
		if (sh->pl->dur) {
			/* after its messages are in the destinations' sets (deliver) */
			rd_durable_matched(sh->pl->dur, it->lsn);
			if (on_worker && sh->gen->states)
				maybe_checkpoint(sh, idx);
		}
		if (!it->depth) /* accepted events (emitted ones sent over are routed where they land) */
			atomic_fetch_add_explicit(&sh->pl->routed_by[on_worker ? 1 : 0], 1, memory_order_relaxed);
		budget_release(b, it->charge);
		free(it);
		if (k % WORKER_FLUSH_EVERY == 0)
			flush_out(sh, 1);
		if (!on_worker && next && (inline_full || atomic_load(&b->used_view) > b->cap)) {
			/* a bounded lane is full, or the budget: the worker routes the rest (and waits) */
			struct rd_item *tail = next;
			size_t n = 1;
			for (; tail->next; tail = tail->next)
				n++;
			fifo_push_front(&sh->q, next, tail, n);
			break;
		}
	}
	flush_out(sh, 0);
	shard_publish(sh);
}

/*
 * The thread that submits a shard's events (an HTTP thread once the log
 * has them, a TCP connection's thread) routes them itself when it can take
 * the shard's run_mu at once or within SPIN_NS, no reload is under way, the
 * budget is under its cap, no bounded lane is full and the shard's worker
 * has at most WORKER_FLUSH_EVERY events queued, which are routed first. The
 * worker takes events only while holding run_mu, so the shard's order
 * holds. This skips the hand-off to the worker -- a wake-up,
 * which at low load is most of the time between acceptance and delivery,
 * and on a loaded CPU a context switch; with lane_drain the event can
 * go from the socket to the queue file on one thread. Written by hand
 * because it is the router's own hot path. Returns 1 when the chain (owned
 * from then on) was routed, 0 when the caller is to push it; either way
 * the lanes it queued messages to are in later, for the caller to write
 * (drain_lanes) once it has routed its other shards' chains.
 */
static int
shard_inline(struct rd_shard *sh, struct rd_item *head, struct drain_set *later)
{
	struct rd_pipeline *pl = sh->pl;
	struct rd_item *queued;
	int closed;
	uint32_t i, n;

	if (!sh->started || atomic_load(&pl->budget.used_view) > pl->budget.cap)
		return 0;
	/* a bounded lane that is full makes its producers wait: not a submitting thread */
	for (i = 0, n = atomic_load(&pl->nlanes); i < n; i++)
		if (pl->lanes[i].queue_max && atomic_load(&pl->lanes[i].q.depth) >= pl->lanes[i].queue_max)
			return 0;
	/* a shard's holder -- another thread routing inline, or the worker with a short chain
	 * or its idle tick -- is usually done within the spin */
	if (!lock_briefly(pl, &sh->run_mu))
		return 0;
	/* the generation changes under run_mu only (the worker's shard_pick_up) */
	if (atomic_load(&pl->gen) != sh->gen) {
		shard_unlock_to(sh, later);
		return 0;
	}
	/* what is queued goes first: this thread routes it too, rather than wait for the
	 * worker to wake up (so one late hand-off does not make the next events wait) */
	pthread_mutex_lock(&sh->q.mu);
	closed = sh->q.closed;
	queued = closed ? NULL : sh->q.head;
	if (queued && atomic_load(&sh->q.depth) > WORKER_FLUSH_EVERY) {
		/* a backlog is the worker's to batch, not an event loop's */
		pthread_mutex_unlock(&sh->q.mu);
		shard_unlock_to(sh, later);
		return 0;
	}
	if (queued) {
		sh->q.tail->next = head;
		head = queued;
		sh->q.head = sh->q.tail = NULL;
		atomic_store(&sh->q.depth, 0);
	}
	pthread_mutex_unlock(&sh->q.mu);
	if (closed) {
		shard_unlock_to(sh, later);
		return 0;
	}
	routing_inline = 1;
	inline_full = 0;
	shard_run(sh, head, 0);
	routing_inline = 0;
	shard_unlock_to(sh, later);
	return 1;
}

/* A shard's thread: routes what is queued for it, run_mu held meanwhile (shard_pop_all). */
static void *
worker_main(void *arg)
{
	struct rd_shard *sh = arg;
	struct rd_item *it;
	unsigned idx = (unsigned)(sh - sh->pl->shards);

	rd_thread_name("shard-%u", idx);
	while ((it = shard_pop_all(sh))) {
		shard_run(sh, it, 1);
		shard_unlock(sh);
	}
	/* a last snapshot of this shard's state at the drain (SIGTERM) */
	pthread_mutex_lock(&sh->run_mu);
	if (sh->pl->dur && sh->gen->states)
		rd_durable_maybe_checkpoint(sh->pl->dur, idx, sh->gen->states[idx], 1);
	shard_unlock(sh);
	return NULL;
}

/* ---- lanes ------------------------------------------------------------------------ */

/*
 * The lane work of the n messages items[] is over: releases their memory and
 * their pending count, and settles their events' outcomes with each one's
 * it->fate. The one terminal point of every message, called once per message
 * (a batch's messages together, after the batch is delivered or each one
 * dead-lettered); with the durable log also where the destination's cursor
 * moves (durable.h). One lock of the log's set for the destination, one of
 * the budget and one count of pending for all n: one each per message were,
 * with the two at queueing, about 3 % of routed's CPU taking NDJSON batches
 * on one CPU.
 */
static void
lane_release_many(struct rd_pipeline *pl, struct rd_lane *ln, struct rd_item **items, size_t n)
{
	uint64_t lsn[64];
	size_t i, j, k, m, charge = 0;
	long fired = 0;

	/* the durable log moves the destination's cursor past the message's record --
	 * not for a lost one (routed again after a restart) nor for one whose
	 * dead-letter envelope is still on its way (it->undone) */
	for (i = 0; pl->dur && i < n; i += k) {
		k = n - i < 64 ? n - i : 64;
		for (j = m = 0; j < k; j++) {
			const struct rd_item *it = items[i + j];

			if (it->undone || it->fate == RD_FATE_LOST)
				continue;
			lsn[m++] = it->lsn;
			if (it->chain_from)
				rd_durable_done(pl->dur, it->chain_from - 1, it->lsn);
		}
		rd_durable_done_many(pl->dur, ln->dest, lsn, m);
	}
	for (i = 0; i < n; i++) {
		struct rd_item *it = items[i];
		struct rd_fanout *fan = it->fan;
		int fate = it->fate;

		fired += it->fired;
		charge += it->charge;
		free(it);
		if (fan) {
			if (fate != RD_FATE_DELIVERED)
				fan_worsen(fan, fate);
			fan_put(pl, fan);
		}
	}
	if (fired)
		atomic_fetch_sub(&pl->fired_inflight, fired);
	budget_release(&pl->budget, charge);
	atomic_fetch_sub(&pl->pending, (long)n);
}

/* lane_release_many of one message. */
static void
lane_release(struct rd_pipeline *pl, struct rd_lane *ln, struct rd_item *it)
{
	lane_release_many(pl, ln, &it, 1);
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

/* 1 when DATA_DIR/queues/NAME.dlq exists (made by an earlier run). */
static int
dlq_exists(const struct rd_conf *c, const char *name, size_t nlen)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof path, "%s/queues/%.*s.dlq", c->data_dir, (int)nlen, name);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The lane's NAME.dlq queue, opened at its first use (other threads read
 * ln->dlq: it is published with a release store once open). NULL when it
 * cannot be opened (logged).
 */
static struct rd_store *
lane_dlq(struct rd_lane *ln)
{
	struct rd_store *q = __atomic_load_n(&ln->dlq, __ATOMIC_ACQUIRE);
	char dname[300], why[512];

	if (q)
		return q;
	pthread_mutex_lock(&ln->thr_mu);
	if (!(q = ln->dlq)) {
		snprintf(dname, sizeof dname, "%s.dlq", ln->name);
		if (!(q = malloc(sizeof *q))) {
			rd_log(RD_LOG_ERROR, "out of memory opening a dead-letter queue", "\"queue\":\"%s\"", dname);
		} else if (rd_store_open(q, ln->pl->conf->data_dir, dname, strlen(dname), why, sizeof why) < 0) {
			rd_log(RD_LOG_ERROR, "cannot open a dead-letter queue", "\"queue\":\"%s\",\"error\":\"%s\"",
				dname, why);
			free(q);
			q = NULL;
		} else {
			__atomic_store_n(&ln->dlq, q, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&ln->thr_mu);
	return q;
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
	size_t nlen = strlen(ln->name);
	const char *name = ln->name, *rname;
	uint32_t i, dl = atomic_load(&ln->dl_slot);
	int chained = !it->dead && dl != ROUTE_NONE && !atomic_load(&pl->lanes[dl].retired);

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
		rname = pl->metrics->rule_names[it->rules[i]];
		if (i)
			rd_buf_puts(&b, ",");
		rd_buf_json_str(&b, rname, strlen(rname));
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
	it->fate = RD_FATE_DEAD_LETTERED;
	if (b.oom) {
		rd_log(RD_LOG_ERROR, "out of memory: dead-letter envelope lost", "\"destination\":\"%.*s\"",
			(int)nlen, name);
		it->fate = RD_FATE_LOST;
	} else if (chained) {
		/* with the log, this destination's cursor waits for the envelope too
		 * (chain_from; the dead_letter destination's cursor may be past the
		 * record already, after a restart) -- for ever when it could not be queued */
		firing = it->fired; /* the envelope of a fired message holds the checkpoints back too */
		deliver(pl, NULL, dl, b.p, b.len - 1, it->accept_ns, NULL, it->rules, it->nrules, DV_DEAD, NULL,
			it->lsn, ln->dest + 1);
		firing = 0;
		it->undone = pl->dur != NULL;
	} else if (!lane_dlq(ln) || rd_store_append(ln->dlq, b.p, b.len) < 0) {
		rd_log(RD_LOG_ERROR, "cannot write the dead-letter queue: message lost",
			"\"destination\":\"%.*s\"", (int)nlen, name);
		it->fate = RD_FATE_LOST;
	}
	rd_buf_fini(&b);
	lane_release(pl, ln, it);
}

/* A delivery: one message, or a batch of them (`batch every T or N`). */
struct lane_batch {
	struct rd_item **items;    /* owns the items (until released or dead-lettered) and the array */
	size_t n, cap;
	uint64_t first_ms;         /* monotonic ms the first item was taken (the batch timer) */
	uint64_t accept_ms;        /* the oldest item's acceptance (max_age) */
	char *body;                /* owns: the items' lines one after the other (n > 1), or NULL */
	size_t len;
	int batching;              /* the lane batches (first_ms is kept) */
};

/* Adds it to b (taking it). Returns 0, or -1 (out of memory: the caller still owns it). */
static int
batch_add(struct lane_batch *b, struct rd_item *it)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 8;
		struct rd_item **ni = realloc(b->items, nc * sizeof *ni);
		if (!ni)
			return -1;
		b->items = ni;
		b->cap = nc;
	}
	if (!b->n) {
		b->first_ms = b->batching ? rd_mono_ms() : 0;
		b->accept_ms = it->accept_ms;
	} else if (it->accept_ms < b->accept_ms) {
		b->accept_ms = it->accept_ms;
	}
	b->items[b->n++] = it;
	return 0;
}

/* Points *p, *len at b's bytes (the one message, or all of them concatenated). Returns 0 or -1 (OOM). */
static int
batch_body(struct lane_batch *b, const char **p, size_t *len)
{
	size_t i, n = 0;

	if (b->n == 1) {
		*p = b->items[0]->data;
		*len = b->items[0]->len;
		return 0;
	}
	if (!b->body) {
		for (i = 0; i < b->n; i++)
			n += b->items[i]->len;
		if (!(b->body = malloc(n ? n : 1)))
			return -1;
		for (i = 0, n = 0; i < b->n; i++) {
			memcpy(b->body + n, b->items[i]->data, b->items[i]->len);
			n += b->items[i]->len;
		}
		b->len = n;
	}
	*p = b->body;
	*len = b->len;
	return 0;
}

/* One write of body[0..len) (n messages) to ln's sink, counted (a failure too): *fail is -1
 * when it was written, else the failure kind, with err. */
static void
sink_attempt(struct rd_lane *ln, const char *body, size_t len, size_t n, int *fail, char *err,
	size_t errlen)
{
	struct rd_metrics *mt = ln->pl->metrics;
	uint64_t t0 = now_ns();

	rd_count(&mt->sink_attempts[ln->dest], 1);
	err[0] = '\0';
	if (rd_sink_write(&ln->sink, body, len, (unsigned)n, fail, err, errlen) == 0)
		*fail = -1;
	rd_metrics_sink_latency(mt, ln->dest, now_ns() - t0);
	if (*fail >= 0) {
		rd_count(&mt->delivery_errors[ln->dest], 1);
		rd_count(&mt->sink_failures[ln->dest * RD_FAIL__COUNT + (uint32_t)*fail], 1);
	}
}

/* b's delivery is over: each message delivered (o NULL) or dead-lettered with o; b is emptied. */
static void
batch_end(struct rd_lane *ln, struct lane_batch *b, const struct rd_wh_outcome *o)
{
	size_t i;

	uint64_t now = o ? 0 : now_ns();

	if (!o)
		rd_count(&ln->pl->metrics->deliveries[ln->dest], b->n);
	for (i = 0; i < b->n; i++) {
		if (o) {
			dead_letter(ln, b->items[i], o);
		} else {
			if (!b->items[i]->dead) /* a dead-letter envelope's time is its retries' */
				rd_metrics_e2e(ln->pl->metrics, now - b->items[i]->accept_ns);
			b->items[i]->fate = RD_FATE_DELIVERED;
		}
	}
	if (!o)
		lane_release_many(ln->pl, ln, b->items, b->n);
	free(b->body);
	b->body = NULL;
	b->n = 0;
	b->len = 0;
}

/* rd_wh_done_fn of webhook lanes: a message (or a struct lane_batch when the lane batches)
 * delivered or given up. */
static void
webhook_done(void *ud, const struct rd_wh_outcome *o)
{
	struct rd_lane *ln = ud;

	if (rd_batching(&ln->pol)) {
		struct lane_batch *b = o->msg;
		batch_end(ln, b, o->delivered ? NULL : o);
		free(b->items);
		free(b);
	} else if (o->delivered) {
		struct rd_item *it = o->msg;
		if (!it->dead)
			rd_metrics_e2e(ln->pl->metrics, now_ns() - it->accept_ns);
		it->fate = RD_FATE_DELIVERED;
		lane_release(ln->pl, ln, it);
	} else {
		dead_letter(ln, o->msg, o);
	}
}

/* 1 once the drain deadline has passed (lanes then give everything up). */
static int
past_drain_deadline(struct rd_pipeline *pl)
{
	uint64_t d = atomic_load(&pl->drain_deadline_ms);

	return d && rd_mono_ms() >= d;
}

/* The outcome of a delivery given up at shutdown before (or between) its attempts. */
static void
shutdown_outcome(struct rd_wh_outcome *o, void *msg)
{
	memset(o, 0, sizeof *o);
	o->msg = msg;
	o->giveup = RD_GIVEUP_SHUTDOWN;
	o->fail = -1;
	o->error = "not attempted before drain_timeout";
}

/*
 * A webhook destination's lane: feeds the sink up to its slots (a message,
 * or a batch when the destination batches) and turns its loop (which
 * sleeps in curl_multi_poll, woken by deliver and by the drain); exits once
 * the fifo is closed and every message handed back.
 */
static void *
webhook_lane_main(void *arg)
{
	struct rd_lane *ln = arg;
	struct rd_pipeline *pl = ln->pl;
	struct rd_webhook *wh = ln->sink.wh;
	struct rd_item *it;
	struct lane_batch *b = NULL;      /* owns: the batch being filled (batching lanes) */
	int done = 0, late, batching = rd_batching(&ln->pol), wait;
	struct rd_wh_outcome o;

	rd_thread_name("hook-%s", ln->name);
	for (;;) {
		late = past_drain_deadline(pl);
		done = 0;
		wait = atomic_load(&pl->stopping) ? 50 : 1000;
		if (batching) {
			/* fill the batch; hand it to the sink when full, due, or the drain finds the fifo empty */
			for (;;) {
				uint64_t w;
				if (!b && !(b = calloc(1, sizeof *b)))
					break;
				b->batching = 1;
				it = NULL;
				if (!b->n || rd_batch_wait_ms(&ln->pol, b->n, b->first_ms, rd_mono_ms()) > 0)
					it = fifo_trypop(&ln->q, &done);
				if (it) {
					lane_popped(ln);
					if (batch_add(b, it) < 0) {
						shutdown_outcome(&o, it);
						o.giveup = RD_GIVEUP_RETRIES;
						o.error = "out of memory";
						dead_letter(ln, it, &o);
					}
					continue;
				}
				if (!b->n)
					break;
				w = rd_batch_wait_ms(&ln->pol, b->n, b->first_ms, rd_mono_ms());
				if (w > 0 && !late && !done && !atomic_load(&pl->stopping)) {
					if (w < (uint64_t)wait)
						wait = (int)w;
					break;
				}
				if (late) {
					shutdown_outcome(&o, b);
					batch_end(ln, b, &o);
					continue;
				}
				if (!rd_webhook_room(wh))
					break;
				{
					const char *body;
					size_t len;
					if (batch_body(b, &body, &len) < 0) {
						shutdown_outcome(&o, b);
						o.giveup = RD_GIVEUP_RETRIES;
						o.error = "out of memory";
						batch_end(ln, b, &o);
						continue;
					}
					rd_webhook_add(wh, b, body, len, b->accept_ms);
					b = NULL;
				}
			}
			if (b && b->n)
				done = 0;      /* a batch is still being filled */
		} else {
			/* done is only set by a fifo_trypop that found the fifo empty */
			while ((late || rd_webhook_room(wh)) && (it = fifo_trypop(&ln->q, &done))) {
				lane_popped(ln);
				if (late) {
					shutdown_outcome(&o, it);
					dead_letter(ln, it, &o);
				} else {
					rd_webhook_add(wh, it, it->data, it->len - 1, it->accept_ms);
				}
			}
		}
		if (late)
			rd_webhook_abort(wh, webhook_done, ln);
		if (done && !rd_webhook_busy(wh))
			break;
		rd_webhook_run(wh, wait, webhook_done, ln);
	}
	if (b) {
		free(b->items);
		free(b);
	}
	return NULL;
}

/* Takes a slot of the priority gate for a lane of priority prio (see struct rd_gate). */
static void
gate_acquire(struct rd_gate *g, unsigned prio)
{
	unsigned q;

	if (!g->limit)
		return;
	if (prio > 9)
		prio = 9;
	pthread_mutex_lock(&g->mu);
	g->waiting[prio]++;
	for (;;) {
		for (q = 0; q < prio && !g->waiting[q]; q++)
			;
		if (q == prio && g->used < g->limit)
			break;
		pthread_cond_wait(&g->cv, &g->mu);
	}
	g->waiting[prio]--;
	g->used++;
	pthread_mutex_unlock(&g->mu);
}

static void
gate_release(struct rd_gate *g)
{
	if (!g->limit)
		return;
	pthread_mutex_lock(&g->mu);
	g->used--;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Sleeps ms, or less once the drain deadline passes. Returns 1 when it has passed. */
static int
nap_until_deadline(struct rd_pipeline *pl, uint64_t ms)
{
	while (ms > 0) {
		uint64_t step = ms < 100 ? ms : 100;
		struct timespec ts = { (time_t)(step / 1000), (long)(step % 1000) * 1000000L };
		if (past_drain_deadline(pl))
			return 1;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return past_drain_deadline(pl);
}

/* Waits for the lane's throttle to let one delivery start. Returns 0, or -1 once the drain deadline passed. */
static int
throttle_wait(struct rd_lane *ln)
{
	uint64_t t0 = 0, wait;

	if (!ln->throttle.per_ns)      /* unthrottled: set once at start, read-only since */
		return 0;
	for (;;) {
		pthread_mutex_lock(&ln->thr_mu);
		wait = rd_throttle_take(&ln->throttle, now_ns());
		pthread_mutex_unlock(&ln->thr_mu);
		if (!wait)
			break;
		if (!t0)
			t0 = now_ns();
		if (nap_until_deadline(ln->pl, wait / 1000000u + 1)) {
			rd_count(&ln->throttled_ns, now_ns() - t0);
			return -1;
		}
	}
	if (t0)
		rd_count(&ln->throttled_ns, now_ns() - t0);
	return 0;
}

/*
 * Delivers batch b (one message or several) to a queue, stdout, file or
 * exec sink on the destination's policy: each attempt waits for the
 * throttle, then for a slot of the priority gate; a failed attempt is
 * retried after the backoff (retry.h) or the batch is given up and each of
 * its messages dead-lettered. Every message of b is released before this
 * returns.
 */
static void
deliver_batch(struct rd_lane *ln, struct lane_batch *b, uint64_t *rng)
{
	struct rd_pipeline *pl = ln->pl;
	struct rd_metrics *mt = pl->metrics;
	struct rd_wh_outcome o;
	char err[256];
	const char *body;
	size_t len, nlen = strlen(ln->name);
	const char *name = ln->name;
	uint64_t due;
	int fail, why;

	memset(&o, 0, sizeof o);
	o.fail = -1;
	o.error = "";
	if (batch_body(b, &body, &len) < 0) {
		o.giveup = RD_GIVEUP_RETRIES;
		o.error = "out of memory";
		batch_end(ln, b, &o);
		return;
	}
	for (;;) {
		uint64_t t0;
		if (throttle_wait(ln) < 0) {
			o.giveup = RD_GIVEUP_SHUTDOWN;
			batch_end(ln, b, &o);
			return;
		}
		gate_acquire(&pl->gate, ln->pol.priority);
		o.attempts++;
		if (o.attempts > 1)
			rd_count(&mt->sink_retries[ln->dest], 1);
		t0 = now_ns();
		sink_attempt(ln, body, len, b->n, &fail, err, sizeof err);
		gate_release(&pl->gate);
		if (fail < 0) {
			batch_end(ln, b, NULL);
			return;
		}
		/* the attempt's wall-clock start, for the envelope (read only when an attempt fails) */
		o.last_ms = rd_wall_ms() - (now_ns() - t0) / 1000000u;
		if (o.attempts == 1)
			o.first_ms = o.last_ms;
		o.fail = fail;
		o.error = err;
		if (o.attempts == 1)
			rd_log(RD_LOG_ERROR, "sink delivery failed", "\"destination\":\"%.*s\",\"sink\":\"%s\","
				"\"messages\":%zu,\"error\":\"%s\"", (int)nlen, name, rd_sink_kind_name(ln->sink.kind),
				b->n, err);
		why = rd_retry_next(&ln->pol, o.attempts, b->accept_ms, rd_mono_ms(), 0, rd_rand64(rng), &due);
		if (why >= 0) {
			o.giveup = why;
			batch_end(ln, b, &o);
			return;
		}
		{
			uint64_t now = rd_mono_ms();
			if (nap_until_deadline(pl, due > now ? due - now : 0)) {
				o.giveup = RD_GIVEUP_SHUTDOWN;
				batch_end(ln, b, &o);
				return;
			}
		}
	}
}

/*
 * May a router write this lane's messages itself (lane_drain)? A built-in
 * queue that coalesces (no batch, no throttle), with no priority gate: a
 * local append that cannot stall for long, whereas a stdout pipe or a file
 * on a hung mount could hold the worker (or the HTTP thread routing inline)
 * and with it every other destination.
 */
static int
inline_ok(const struct rd_pipeline *pl, struct rd_lane *ln)
{
	return ln->coalesce && ln->sink.kind == RD_SINK_QUEUE && !pl->gate.limit && !atomic_load(&ln->retired) &&
		atomic_load(&ln->ready);
}

/* lane_drain's write of the chain head (n messages, taken from the lane's fifo under
 * deliver_mu): 0 when written (the messages are done with), -1 when not (still the caller's). */
static int
drain_write(struct rd_lane *ln, struct rd_item *head, size_t n)
{
	struct lane_batch b;
	struct rd_item *it;
	const char *body;
	char err[256];
	size_t len, i;
	int fail = RD_FAIL_OTHER; /* not written until sink_attempt says so */

	if (n > ln->inl_cap) {
		struct rd_item **ni = realloc(ln->inl, n * sizeof *ni);
		if (!ni)
			return -1;
		ln->inl = ni;
		ln->inl_cap = n;
	}
	memset(&b, 0, sizeof b);
	b.items = ln->inl;
	b.cap = ln->inl_cap;
	for (it = head, i = 0; it; it = it->next, i++) {
		b.items[i] = it;
		if (!i || it->accept_ms < b.accept_ms)
			b.accept_ms = it->accept_ms;
	}
	b.n = i;
	if (batch_body(&b, &body, &len) == 0)
		sink_attempt(ln, body, len, b.n, &fail, err, sizeof err);
	if (fail >= 0) {
		free(b.body);
		return -1;
	}
	batch_end(ln, &b, NULL);
	return 0;
}

/*
 * Write-behind under load. Taking NDJSON batches on one CPU, a router wrote
 * each built-in queue about once per request, 2.4 KB a write (0.17 write()
 * per event), and those writes were a tenth of routed's CPU: on this VM's
 * ext4 a buffered append costs 0.83 ns a byte in 2.4 KB writes and 0.21 in
 * 64 KB ones (the page cache's per-page and per-call work). So while routed
 * is loaded -- it used more than three quarters of its CPUs over the last
 * LOAD_WINDOW_NS -- a router leaves a lane's messages queued until DEFER_BYTES
 * have gathered or the first of them waited DEFER_NS, whichever comes first;
 * the next router that comes by then writes them all, else the flusher
 * thread does. Not loaded, every message is written at once, as before, so
 * the latency at low and half load is unchanged; loaded, a message reaches
 * its queue file up to DEFER_NS later. The messages are routed and held
 * (budget, log cursor) all along, so a crash or a stop loses none: the stop
 * writes them (rd_pipeline_drain), and after a crash they are replayed.
 * Measured (NDJSON on one CPU, 10 alternating pairs of 3 s runs): write()
 * calls 47k to 5.4k a second, events/s median ratio 1.044. Less than the
 * bytes' cost promised: the messages are read back cold. 5 ms and 64 KiB
 * did the same, 20 ms and 256 KiB no better.
 */
#define DEFER_BYTES (32u << 10)
#define DEFER_NS 2000000u            /* 2 ms */
#define LOAD_WINDOW_NS 10000000u     /* 10 ms */
#define FLUSH_NAP_NS 1000000u        /* the flusher's shortest sleep after a pass: 1 ms */

void
rd_pipeline_force_load(struct rd_pipeline *pl, int loaded)
{
	pl->load_forced = loaded;
	atomic_store(&pl->loaded, loaded > 0);
}

/* Measures routed's load once per LOAD_WINDOW_NS (now: CLOCK_MONOTONIC ns); one
 * caller a window, the one that claims its end, reads the process's CPU time. */
static void
load_tick(struct rd_pipeline *pl, uint64_t now)
{
	uint64_t end = atomic_load_explicit(&pl->load_win_end, memory_order_relaxed), cpu;
	struct timespec ts;

	if (now < end || pl->load_forced >= 0
	    || !atomic_compare_exchange_strong(&pl->load_win_end, &end, now + LOAD_WINDOW_NS))
		return;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return;
	cpu = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (pl->load_win_wall && now > pl->load_win_wall)
		atomic_store_explicit(&pl->loaded, (cpu - pl->load_win_cpu) * 4 >
			(now - pl->load_win_wall) * 3 * pl->ncpu, memory_order_relaxed);
	pl->load_win_wall = now;
	pl->load_win_cpu = cpu;
}

/* Is routed loaded at now? The measure of the last window, unless no submit came for a
 * window since (an idle routed measures nothing). */
static int
is_loaded(struct rd_pipeline *pl, uint64_t now)
{
	if (pl->load_forced >= 0)
		return pl->load_forced > 0;
	return atomic_load_explicit(&pl->loaded, memory_order_relaxed)
	       && now < atomic_load_explicit(&pl->load_win_end, memory_order_relaxed) + LOAD_WINDOW_NS;
}

int
rd_pipeline_loaded(struct rd_pipeline *pl)
{
	return is_loaded(pl, now_ns());
}

/* Wakes the flusher when it waits for a lane to be left (a lane's defer_since became set). */
static void
arm_flusher(struct rd_pipeline *pl)
{
	pthread_mutex_lock(&pl->fl_mu);
	if (pl->fl_idle)
		pthread_cond_signal(&pl->fl_cv);
	pthread_mutex_unlock(&pl->fl_mu);
}

/*
 * Is the writing of ln's queued messages to be left for later (see DEFER_BYTES)?
 * 1: yes, and the flusher knows of it. Called after the caller's messages are
 * in the fifo; a taker that empties the fifo clears defer_since in the same
 * hold of q.mu, so the caller sees either its messages taken or a defer_since
 * that is 0 or younger than them.
 */
static int
defer_write(struct rd_pipeline *pl, struct rd_lane *ln)
{
	uint64_t since, now;

	if (!atomic_load_explicit(&pl->loaded, memory_order_relaxed) || atomic_load(&pl->stopping)
	    || atomic_load_explicit(&ln->pend_bytes, memory_order_relaxed) >= DEFER_BYTES
	    || atomic_load(&ln->q.depth) >= COALESCE_MAX)
		return 0;
	now = now_ns() | 1;
	if (!is_loaded(pl, now))
		return 0;
	since = atomic_load(&ln->defer_since);
	if (since == 0) {
		if (atomic_compare_exchange_strong(&ln->defer_since, &since, now)) {
			atomic_fetch_add_explicit(&pl->deferred_writes, 1, memory_order_relaxed);
			arm_flusher(pl);
			return 1;
		}
		/* another router set it meanwhile: since is its value */
	}
	return now - since < DEFER_NS;
}

/*
 * The flusher thread: writes the lanes a router left for later (defer_write)
 * once their first message waited DEFER_NS and no router came back to write
 * them. It sleeps on fl_cv while no lane is left, so an idle routed does not
 * wake it; loaded, it wakes at most once per DEFER_NS for all the lanes.
 */
static void *
flusher_main(void *arg)
{
	struct rd_pipeline *pl = arg;
	uint64_t now, since, next, nap;
	uint32_t i, nl;
	int passed = 0;

	rd_thread_name("flush");
	pthread_mutex_lock(&pl->fl_mu);
	while (!atomic_load(&pl->stopping)) {
		pl->fl_idle = 1;
		next = 0;
		nl = atomic_load(&pl->nlanes);
		for (i = 0; i < nl; i++) {
			since = atomic_load(&pl->lanes[i].defer_since);
			if (since && (!next || since + DEFER_NS < next))
				next = since + DEFER_NS;
		}
		if (!next) {
			passed = 0;
			pthread_cond_wait(&pl->fl_cv, &pl->fl_mu);
			continue;
		}
		pl->fl_idle = 0;
		pthread_mutex_unlock(&pl->fl_mu);
		/* a lane still left after a pass is being written by someone else (deliver_mu
		 * held) or is its thread's (lane_drain returned 0): look again a while later */
		now = now_ns();
		nap = next > now ? next - now : 0;
		if (passed && nap < FLUSH_NAP_NS)
			nap = FLUSH_NAP_NS;
		if (nap) {
			struct timespec ts = { 0, (long)nap };
			nanosleep(&ts, NULL);
			now = now_ns();
		}
		passed = 1;
		for (i = 0; i < nl; i++) {
			struct rd_lane *ln = &pl->lanes[i];

			since = atomic_load(&ln->defer_since);
			if (since && now - since >= DEFER_NS && !lane_drain(pl, ln, 1))
				fifo_wake(&ln->q);
		}
		pthread_mutex_lock(&pl->fl_mu);
	}
	pthread_mutex_unlock(&pl->fl_mu);
	return NULL;
}

/* Called with ln->q.mu held by whoever takes messages from ln's fifo: once it is empty,
 * nothing is left waiting. */
static void
lane_taken_locked(struct rd_lane *ln)
{
	if (!ln->q.head) {
		atomic_store_explicit(&ln->pend_bytes, 0, memory_order_relaxed);
		atomic_store(&ln->defer_since, 0);
	}
}

/*
 * A router (the shard's worker, or an HTTP or TCP thread routing inline)
 * writes what the lane has queued itself, in one write, when it can do so
 * without waiting. This skips a hand-off -- a wake-up of the lane thread,
 * which on a loaded CPU is a context switch, and is most of the latency at
 * low load. Written by hand because it is the router's own hot path.
 *
 * Every writer takes messages from the front of the fifo while holding
 * deliver_mu, so the destination's order holds. The messages are in the
 * fifo before this is called; when deliver_mu is taken, its holder writes
 * them: a holder looks at the fifo again once it lets go (the lane thread
 * does in lane_main, an inline writer here, up to DRAIN_ROUNDS times), so
 * a router that finds deliver_mu held leaves its messages to the holder
 * rather than spin for it or wake the lane thread. (Spinning up to 20 us
 * and then waking the lane thread put the wake-up -- 50 to 300 us on this
 * VM -- into the half-load latency's tail whenever the holder was slow.)
 * One attempt per round: when the write fails, the messages go back to the
 * front of the fifo and the lane's retry policy takes them (the failed
 * write is counted in the sink's attempts and failures, not in the
 * messages' attempts). While routed is loaded the writing may be left for
 * later (defer_write), unless force (the flusher, whose lanes' time is up;
 * for its first round only). Returns 1 when the fifo was written, found
 * empty, left to deliver_mu's holder or for later, or handed back with a
 * wake-up; 0 when the lane thread is to be woken for it (a backlog, a
 * closed fifo, or more than DRAIN_ROUNDS rounds).
 */
static int
lane_drain(struct rd_pipeline *pl, struct rd_lane *ln, int force)
{
	struct rd_item *head, *tail;
	unsigned round;
	size_t n;

	if (!inline_ok(pl, ln))
		return 0;
	for (round = 0;; round++) {
		/* the messages are queued: seen by deliver_mu's holder once it lets go (the
		 * fences order this thread's append before its look at the lock, and the
		 * holder's unlock before its look at the fifo) */
		atomic_thread_fence(memory_order_seq_cst);
		if ((!force || round > 0) && defer_write(pl, ln))
			return 1;
		if (pthread_mutex_trylock(&ln->deliver_mu) != 0)
			return 1;
		pthread_mutex_lock(&ln->q.mu);
		if (ln->q.closed || atomic_load(&ln->q.depth) > COALESCE_MAX) { /* a backlog is the lane's */
			pthread_mutex_unlock(&ln->q.mu);
			pthread_mutex_unlock(&ln->deliver_mu);
			return 0;
		}
		head = ln->q.head;
		tail = ln->q.tail;
		n = atomic_load(&ln->q.depth);
		ln->q.head = ln->q.tail = NULL;
		atomic_store(&ln->q.depth, 0);
		lane_taken_locked(ln);
		if (head && ln->queue_max)
			pthread_cond_broadcast(&ln->room);
		pthread_mutex_unlock(&ln->q.mu);
		/* (no head: another writer took them) */
		if (head && drain_write(ln, head, n) < 0) {
			/* not written: back to the front of the fifo (which wakes the lane), in
			 * order, for its retries */
			fifo_push_front(&ln->q, head, tail, n);
			pthread_mutex_unlock(&ln->deliver_mu);
			return 1;
		}
		pthread_mutex_unlock(&ln->deliver_mu);
		/* what routers queued meanwhile, finding deliver_mu held, is this thread's --
		 * written or not this round */
		atomic_thread_fence(memory_order_seq_cst);
		if (!atomic_load(&ln->q.depth))
			return 1;
		if (round + 1 == DRAIN_ROUNDS) /* enough for others: the rest is the lane thread's */
			return 0;
	}
}

/* How many more messages fill a batch of n under policy p (at least 1). */
static size_t
batch_room(const struct route_dest_policy *p, size_t n)
{
	size_t max = p->batch_max ? p->batch_max : RD_BATCH_CAP;

	return n < max ? max - n : 1;
}

/* Waits until q has an item (1) or is closed and empty (0); takes nothing. */
static int
fifo_wait(struct rd_fifo *q)
{
	int r;

	pthread_mutex_lock(&q->mu);
	while (!q->head && !q->closed)
		pthread_cond_wait(&q->cv, &q->mu);
	r = q->head != NULL;
	pthread_mutex_unlock(&q->mu);
	return r;
}


/*
 * Queue, stdout and file lanes that neither batch, throttle nor rotate (ln->coalesce)
 * take what else is queued already, without waiting, into b: the lane then
 * writes those messages with one write(2) and one pass of the priority gate
 * rather than one each. Under load that is most of a lane's cost; idle, b
 * stays at one message. Each message is still its own line with its own
 * fate: when the shared write fails, each is delivered on its own
 * (deliver_coalesced). (A
 * throttle counts deliveries, an exec runs one command per message, and a
 * rotating file keeps each file under rotate_bytes a message at a time:
 * none of them coalesces.)
 */
static void
coalesce(struct rd_lane *ln, struct lane_batch *b)
{
	struct rd_item *it;
	size_t bytes = b->n ? b->items[0]->len : 0;
	int taken = 0;

	pthread_mutex_lock(&ln->q.mu);
	while (b->n < COALESCE_MAX && bytes < COALESCE_BYTES && (it = ln->q.head)) {
		if (batch_add(b, it) < 0)
			break;
		fifo_take_locked(&ln->q);
		bytes += it->len;
		taken = 1;
	}
	if (taken && ln->queue_max && atomic_load(&ln->q.depth) < ln->queue_max)
		pthread_cond_broadcast(&ln->room);
	lane_taken_locked(ln);
	pthread_mutex_unlock(&ln->q.mu);
}

/* Delivers it (owned) alone, as a batch of one: its own retries, max_age and dead letter. */
static void
deliver_one(struct rd_lane *ln, struct rd_item *it, uint64_t *rng)
{
	struct rd_item *one[1] = { it };
	struct lane_batch single = { .items = one, .n = 1, .cap = 1, .accept_ms = it->accept_ms };

	deliver_batch(ln, &single, rng);
}

/*
 * Delivers the n > 1 messages a coalescing lane took together: one write for
 * all of them; when it fails, each message is delivered on its own, with its
 * own retries, max_age and dead letter, as it would have been without
 * coalescing (the failed shared write is counted for the sink, not in the
 * messages' attempts).
 */
static void
deliver_coalesced(struct rd_lane *ln, struct lane_batch *b, uint64_t *rng)
{
	struct rd_pipeline *pl = ln->pl;
	const char *body;
	char err[256];
	size_t len, i;
	int fail = -1;

	if (batch_body(b, &body, &len) == 0) {
		gate_acquire(&pl->gate, ln->pol.priority);
		sink_attempt(ln, body, len, b->n, &fail, err, sizeof err);
		gate_release(&pl->gate);
		if (fail < 0) {
			batch_end(ln, b, NULL);
			return;
		}
	}
	free(b->body);
	b->body = NULL;
	for (i = 0; i < b->n; i++)
		deliver_one(ln, b->items[i], rng);
	b->n = 0;
	b->len = 0;
}

/*
 * A queue, stdout, file or exec destination's lane thread (exec lanes run
 * `workers` of them on one fifo): takes a message, or fills a batch until
 * it is full or due (at the drain: until the fifo is empty), and delivers
 * it. With one thread, messages are delivered in the order queued.
 */
static void *
lane_main(void *arg)
{
	struct rd_lane *ln = arg;
	struct rd_pipeline *pl = ln->pl;
	struct lane_batch b;
	struct rd_item *it;
	uint64_t rng = now_ns() ^ ((uint64_t)ln->dest << 32) ^ (uint64_t)(uintptr_t)&b;

	rd_thread_name("lane-%s", ln->name);
	int closed = 0;

	memset(&b, 0, sizeof b);
	b.batching = rd_batching(&ln->pol);
	if (ln->coalesce) {
		/* messages are taken under deliver_mu only (see lane_drain) */
		for (;;) {
			int more = fifo_wait(&ln->q);
			pthread_mutex_lock(&ln->deliver_mu);
			if (!more) {
				/* closed and empty -- unless a router writing inline, which held
				 * deliver_mu, put messages it could not write back */
				pthread_mutex_lock(&ln->q.mu);
				more = ln->q.head != NULL;
				pthread_mutex_unlock(&ln->q.mu);
				if (!more) {
					pthread_mutex_unlock(&ln->deliver_mu);
					break;
				}
			}
			coalesce(ln, &b);
			if (b.n > 1) {
				deliver_coalesced(ln, &b, &rng);
			} else if (b.n == 1) {
				deliver_batch(ln, &b, &rng);
			} else if ((it = fifo_trypop(&ln->q, &closed))) {
				/* out of memory for the array: this one alone */
				lane_popped(ln);
				deliver_one(ln, it, &rng);
			}
			pthread_mutex_unlock(&ln->deliver_mu);
		}
		free(b.items);
		return NULL;
	}
	while (!closed && (it = fifo_pop(&ln->q))) {
		lane_popped(ln);
		if (batch_add(&b, it) < 0) {
			/* out of memory for the batch's array: deliver this one alone */
			deliver_one(ln, it, &rng);
			continue;
		}
		for (;;) {
			uint64_t w = rd_batch_wait_ms(&ln->pol, b.n, b.first_ms, rd_mono_ms());
			if (!w)
				break;
			if (atomic_load(&pl->stopping)) {
				int done;
				/* the drain flushes a partial batch as soon as the fifo is empty */
				if (!(it = fifo_trypop(&ln->q, &done)))
					break;
			} else {
				/* the routers wake this thread only once the fifo holds what fills the
				 * batch: one wake-up per batch rather than one per routed chain (a
				 * context switch each on a loaded CPU) */
				if (ln->nthr == 1)
					atomic_store(&ln->batch_room, batch_room(&ln->pol, b.n));
				it = fifo_pop_timed(&ln->q, w, &closed, &pl->stopping);
				if (!it) {
					if (closed)
						break;
					continue;
				}
			}
			lane_popped(ln);
			if (batch_add(&b, it) < 0) {
				deliver_one(ln, it, &rng);
				break;
			}
		}
		/* idle again soon (fifo_pop): every push wakes it */
		atomic_store(&ln->batch_room, 0);
		deliver_batch(ln, &b, &rng);
	}
	free(b.items);
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

/* ---- lanes by name, generations (start and reload) ---------------------------- */

/* The lane slot of destination name[0..len), or ROUTE_NONE. */
static uint32_t
lane_find(struct rd_pipeline *pl, const char *name, size_t len)
{
	uint32_t i, n = atomic_load(&pl->nlanes);

	for (i = 0; i < n; i++)
		if (pl->lanes[i].name && strlen(pl->lanes[i].name) == len && memcmp(pl->lanes[i].name, name, len) == 0)
			return i;
	return ROUTE_NONE;
}

/*
 * Opens ln's sink (and a webhook's NAME.dlq) unless open, bound as
 * destination dest of p, and starts its thread. Returns 0, or -1 with err.
 */
static int
lane_run(struct rd_lane *ln, const route_prog *p, uint32_t dest, char *err, size_t errlen)
{
	struct rd_pipeline *pl = ln->pl;
	char why[512];

	if (!ln->sink_open) {
		if (rd_sink_open_slot(&ln->sink, pl->conf, p, dest, ln->dest, pl->metrics, why, sizeof why) < 0) {
			snprintf(err, errlen, "destination %s: %s", ln->name, why);
			return -1;
		}
		ln->sink_open = 1;
	}
	ln->queue_max = ln->pol.queue_max ? ln->pol.queue_max : pl->conf->queue_max;
	ln->coalesce = !rd_batching(&ln->pol) && !ln->pol.throttle_n &&
		(ln->sink.kind == RD_SINK_QUEUE || ln->sink.kind == RD_SINK_STDOUT || ln->sink.kind == RD_SINK_KAFKA ||
		 ln->sink.kind == RD_SINK_RABBITMQ ||
		 (ln->sink.kind == RD_SINK_FILE && !ln->sink.rotate_bytes));
	rd_throttle_fini(&ln->throttle);
	if (!ln->sink.wh && rd_throttle_init(&ln->throttle, ln->pol.throttle_n, ln->pol.throttle_per_ms) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* a webhook's NAME.dlq is made at start, another sink's at its first dead letter
	 * (lane_dlq), or at start when an earlier run made it */
	if (!ln->dlq && (ln->sink.wh || dlq_exists(pl->conf, ln->name, strlen(ln->name)))) {
		char dname[300];
		snprintf(dname, sizeof dname, "%s.dlq", ln->name);
		if (!(ln->dlq = malloc(sizeof *ln->dlq))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (rd_store_open(ln->dlq, pl->conf->data_dir, dname, strlen(dname), why, sizeof why) < 0) {
			free(ln->dlq);
			ln->dlq = NULL;
			snprintf(err, errlen, "destination %s: %s", ln->name, why);
			return -1;
		}
	}
	atomic_store(&ln->ready, 1); /* publishes sink and dlq to the HTTP threads */
	/* exec runs `workers` commands at once; one thread keeps a file, stdout or queue in order,
	 * and a webhook lane's one thread drives all its slots */
	ln->nthr = ln->sink.kind == RD_SINK_EXEC && ln->pol.workers > 1 ? ln->pol.workers : 1;
	free(ln->thr);
	if (!(ln->thr = calloc(ln->nthr, sizeof *ln->thr))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (ln->started < ln->nthr) {
		if (pthread_create(&ln->thr[ln->started], NULL, ln->sink.wh ? webhook_lane_main : lane_main, ln)
			!= 0) {
			snprintf(err, errlen, "cannot start a thread");
			return -1;
		}
		ln->started++;
	}
	return 0;
}

/*
 * Opens the lane in slot `slot` (the next free one) for destination dest of
 * p. The lane is counted in nlanes before anything can fail, so drain and
 * free find it. Returns 0, or -1 with err.
 */
static int
lane_open(struct rd_pipeline *pl, uint32_t slot, const route_prog *p, uint32_t dest, char *err, size_t errlen)
{
	struct rd_lane *ln = &pl->lanes[slot];
	size_t nlen;
	const char *name = route_dest_name(p, dest, &nlen);

	memset(ln, 0, sizeof *ln);
	ln->pl = pl;
	ln->dest = slot;
	fifo_init(&ln->q);
	pthread_cond_init(&ln->room, NULL);
	pthread_mutex_init(&ln->thr_mu, NULL);
	pthread_mutex_init(&ln->deliver_mu, NULL);
	atomic_store(&ln->dl_slot, ROUTE_NONE);
	ln->name = strndup(name, nlen);
	atomic_store(&pl->nlanes, slot + 1);
	if (!ln->name) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	route_dest_policy(p, dest, &ln->pol);
	return lane_run(ln, p, dest, err, errlen);
}

/*
 * A retired lane is named again (destination dest of p): waits for its
 * thread to finish delivering what it held, reopens its fifo and starts it
 * again (its sink stayed open). Returns 0, or -1 with err.
 */
static int
lane_revive(struct rd_lane *ln, const route_prog *p, uint32_t dest, char *err, size_t errlen)
{
	while (ln->started > 0)
		pthread_join(ln->thr[--ln->started], NULL);
	pthread_mutex_lock(&ln->q.mu);
	ln->q.closed = 0;
	pthread_mutex_unlock(&ln->q.mu);
	route_dest_policy(p, dest, &ln->pol); /* no thread reads it now */
	if (lane_run(ln, p, dest, err, errlen) < 0)
		return -1;
	atomic_store(&ln->retired, 0);
	return 0;
}

/* Whether two delivery policies differ (dead_letter apart: it is an index of each program). */
static int
policy_differs(const struct route_dest_policy *a, const struct route_dest_policy *b)
{
	return a->retry_max != b->retry_max || a->backoff_min_ms != b->backoff_min_ms ||
		a->backoff_max_ms != b->backoff_max_ms || a->max_age_ms != b->max_age_ms ||
		a->timeout_ms != b->timeout_ms || a->priority != b->priority || a->workers != b->workers ||
		a->queue_max != b->queue_max || a->batch_every_ms != b->batch_every_ms ||
		a->batch_max != b->batch_max || a->throttle_n != b->throttle_n ||
		a->throttle_per_ms != b->throttle_per_ms;
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
	if (keyed.len)
		rd_log(RD_LOG_INFO, "state split by key over the shards", "\"shards\":%u,\"keyed\":\"%.*s\","
			"\"one_shard\":\"%.*s\"", nshards, (int)keyed.len, keyed.p, (int)one.len, one.p ? one.p : "");
	if (one.len) {
		const char *why = "";

		route_prog_partition(p, &why);
		rd_log(RD_LOG_INFO, "state kept on shard 0 for some event types", "\"types\":\"%.*s\","
			"\"reason\":\"%s\"", (int)one.len, one.p, why);
	}
	rd_buf_fini(&keyed);
	rd_buf_fini(&one);
}

/* Does every event type a and b both declare place its state alike (same kind, same key field)? */
static int
same_placement(const route_prog *a, const route_prog *b)
{
	uint32_t i, j, fa, fb;
	size_t la, lb, lfa, lfb;
	const char *na, *nb, *sfa, *sfb;

	for (i = 0; i < route_prog_ntypes(b); i++) {
		nb = route_type_name(b, i, &lb);
		for (j = 0; j < route_prog_ntypes(a); j++) {
			na = route_type_name(a, j, &la);
			if (la == lb && memcmp(na, nb, la) == 0)
				break;
		}
		if (j == route_prog_ntypes(a))
			continue;
		if (route_type_partition(a, j, &fa) != route_type_partition(b, i, &fb))
			return 0;
		if (fa == ROUTE_NONE)
			continue;
		sfa = route_field_name(a, fa, &lfa);
		sfb = route_field_name(b, fb, &lfb);
		if (lfa != lfb || memcmp(sfa, sfb, lfa) != 0)
			return 0;
	}
	return 1;
}

static void
gen_free(struct rd_gen *g)
{
	unsigned i;

	if (!g)
		return;
	for (i = 0; g->states && i < g->nstates; i++)
		route_state_free(g->states[i]);
	free(g->states);
	free(g->lane_of);
	free(g->rule_slot);
	free(g);
}

/*
 * Builds the generation of p: rule metric slots and destination lanes by
 * name (opening the lanes of new names, reviving retired ones), the
 * dead_letter links, a fresh state when p keeps one. Returns it (the
 * caller owns it; id and older unset), or NULL with err (lanes opened by
 * then stay, not named by any generation).
 */
static struct rd_gen *
gen_new(struct rd_pipeline *pl, const route_prog *p, struct rd_swap_report *rep, char *err, size_t errlen)
{
	uint32_t i, slot, nr = route_prog_nrules(p), nd = route_prog_ndests(p);
	struct route_dest_policy pol;
	struct rd_gen *g = calloc(1, sizeof *g);
	const char *name;
	size_t nlen;
	int ms;

	if (!g || !(g->lane_of = calloc(nd ? nd : 1, sizeof *g->lane_of)) ||
		!(g->rule_slot = calloc(nr ? nr : 1, sizeof *g->rule_slot)))
		goto oom;
	g->prog = p;
	for (i = 0; i < nr; i++) {
		name = route_rule_name(p, i, &nlen);
		if ((ms = rd_metrics_rule_slot(pl->metrics, name ? name : "", name ? nlen : 0)) < 0) {
			snprintf(err, errlen, "more rule names than routed keeps metrics for over one run (%u new "
				"ones after start): restart routed to load these rules", RD_METRICS_SPARE_RULES);
			goto fail;
		}
		g->rule_slot[i] = (uint32_t)ms;
	}
	for (i = 0; i < nd; i++) {
		name = route_dest_name(p, i, &nlen);
		route_dest_policy(p, i, &pol);
		slot = lane_find(pl, name, nlen);
		if (slot == ROUTE_NONE) {
			ms = rd_metrics_dest_slot(pl->metrics, name, nlen);
			if (ms < 0 || (uint32_t)ms != atomic_load(&pl->nlanes) || (uint32_t)ms >= pl->lane_cap) {
				snprintf(err, errlen, "destination %.*s: no room for another destination (%u new ones "
					"after start at most): restart routed to load these rules", (int)nlen, name,
					RD_METRICS_SPARE_DESTS);
				goto fail;
			}
			slot = (uint32_t)ms;
			if (lane_open(pl, slot, p, i, err, errlen) < 0)
				goto fail;
			if (rep)
				rep->lanes_opened++;
		} else if (atomic_load(&pl->lanes[slot].retired)) {
			if (lane_revive(&pl->lanes[slot], p, i, err, errlen) < 0)
				goto fail;
			if (rep)
				rep->lanes_opened++;
		} else if (policy_differs(&pol, &pl->lanes[slot].pol) && rep) {
			rep->policy_kept++;
			rd_log(RD_LOG_WARN, "reload: the delivery policy of a destination changed; it applies "
				"after a restart", "\"destination\":\"%.*s\"", (int)nlen, name);
		}
		g->lane_of[i] = slot;
	}
	for (i = 0; i < nd; i++) {
		route_dest_policy(p, i, &pol);
		atomic_store(&pl->lanes[g->lane_of[i]].dl_slot,
			pol.dead_letter == ROUTE_NONE ? ROUTE_NONE : g->lane_of[pol.dead_letter]);
	}
	if (route_prog_ntables(p) > 0 || route_prog_ntemporal(p) > 0) {
		if (!(g->states = calloc(pl->nshards, sizeof *g->states)))
			goto oom;
		g->nstates = pl->nshards;
		for (i = 0; i < pl->nshards; i++)
			if (!(g->states[i] = route_state_new(p)))
				goto oom;
		log_split(p, pl->nshards);
	}
	g->carry = 1;
	return g;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	gen_free(g);
	return NULL;
}

/*
 * Retires every lane g does not name (all workers use g or a newer one):
 * closes its fifo, so its thread delivers what is queued and ends.
 */
static void
retire_unused(struct rd_pipeline *pl, const struct rd_gen *g, struct rd_swap_report *rep)
{
	uint32_t i, j, n = atomic_load(&pl->nlanes), nd = route_prog_ndests(g->prog);
	struct rd_lane *ln;

	for (i = 0; i < n; i++) {
		ln = &pl->lanes[i];
		for (j = 0; j < nd && g->lane_of[j] != i; j++)
			;
		if (j < nd || atomic_load(&ln->retired))
			continue;
		atomic_store(&ln->retired, 1);
		fifo_close(&ln->q);
		if (ln->sink.wh)
			rd_webhook_wake(ln->sink.wh);
		if (rep)
			rep->lanes_retired++;
		rd_log(RD_LOG_INFO, "reload: destination no longer named by the rules: delivering what is "
			"queued, then stopping its lane", "\"destination\":\"%s\",\"queued\":%zu", ln->name,
			atomic_load(&ln->q.depth));
	}
}

/*
 * Between two events: when a newer generation is out, the worker takes it
 * up -- a matcher of its program and, when it keeps state, the old state
 * carried over (snapshot, restore: tables by name, temporal rules by name
 * and definition) -- and frees the old state. On failure it keeps the old
 * generation and tries again before its next event.
 */
static void
shard_pick_up(struct rd_shard *sh)
{
	struct rd_gen *g = atomic_load(&sh->pl->gen);
	struct rd_gen *old = (struct rd_gen *)sh->gen;
	route_matcher *m;
	unsigned idx = (unsigned)(sh - sh->pl->shards);
	char err[256];

	if (g == old)
		return;
	/* messages of the old generation go to their lanes before it can retire any */
	flush_out(sh, 1);
	if (!(m = route_matcher_new(g->prog))) {
		rd_log(RD_LOG_ERROR, "out of memory: the worker keeps the previous rules for now", NULL);
		return;
	}
	/* the old rules' costs into the metrics before their matcher goes */
	cost_publish(sh);
	if (cost_start(sh, m, g->prog) < 0) {
		route_matcher_free(m);
		rd_log(RD_LOG_ERROR, "out of memory: the worker keeps the previous rules for now", NULL);
		return;
	}
	memset(&sh->carried, 0, sizeof sh->carried);
	sh->carry_failed = 0;
	if (g->states) {
		route_state *ns = g->states[idx], *os = old && old->states ? old->states[idx] : NULL;

		if (os && g->carry) {
			size_t n = route_state_snapshot(os, NULL, 0);
			void *buf = malloc(n ? n : 1);
			if (!buf || route_state_snapshot(os, buf, n) > n ||
				route_state_restore(ns, buf, n, &sh->carried, err, sizeof err) < 0) {
				sh->carry_failed = 1;
				rd_log_str(RD_LOG_ERROR, "reload: state not carried over; the new rules start empty",
					"error", buf ? err : "out of memory");
			}
			free(buf);
		}
		route_matcher_set_state(m, ns);
	}
	route_matcher_free(sh->m);
	sh->m = m;
	if (old && old->states && old->states[idx]) {
		/* only this worker used its part */
		route_state_free(old->states[idx]);
		old->states[idx] = NULL;
	}
	sh->gen = g;
	atomic_store(&sh->gen_id, g->id);
}

/*
 * The worker's pop: waits for events and takes all of them (the caller owns
 * the chain, linked by next), taking a new generation up while idle. NULL
 * once the fifo is closed and empty.
 */
static struct rd_item *
shard_pop_all(struct rd_shard *sh)
{
	struct rd_fifo *q = &sh->q;
	struct rd_item *it;
	struct timespec ts;
	int closed;

	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->closed && atomic_load(&sh->pl->gen) == sh->gen) {
			/* deadlines come due while idle: wake up to fire them; without state, once
			 * a second, to publish the rules' costs of the last events (shard_publish) */
			deadline_in(&ts, sh->gen->states ? TICK_MS : STATS_EVERY_MS);
			if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&q->mu);
		/* events are taken under run_mu only (see shard_inline) */
		pthread_mutex_lock(&sh->run_mu);
		pthread_mutex_lock(&q->mu);
		it = q->head;
		q->head = q->tail = NULL;
		atomic_store(&q->depth, 0);
		closed = q->closed;
		pthread_mutex_unlock(&q->mu);
		shard_pick_up(sh);
		if (it)
			return it;
		if (closed) {
			shard_unlock(sh);
			return NULL;
		}
		shard_tick(sh);
		flush_out(sh, 0);
		shard_publish(sh);
		/* idle: this shard's snapshot for the durable log's checkpoints, when due
		 * (taken on this thread, which owns the state) */
		if (sh->pl->dur && sh->gen->states) {
			unsigned k = (unsigned)(sh - sh->pl->shards);
			maybe_checkpoint(sh, k);
		}
		shard_unlock(sh);
	}
}

const route_prog *
rd_pipeline_prog(struct rd_pipeline *pl)
{
	return atomic_load(&pl->gen)->prog;
}

int
rd_pipeline_swap(struct rd_pipeline *pl, const route_prog *p, unsigned wait_ms,
	struct rd_swap_report *rep, char *err, size_t errlen)
{
	struct rd_gen *cur = atomic_load(&pl->gen), *g;
	unsigned i, waited = 0;
	int all = 0;

	memset(rep, 0, sizeof *rep);
	if (!(g = gen_new(pl, p, rep, err, errlen))) {
		retire_unused(pl, cur, NULL);
		return -1;
	}
	g->id = cur->id + 1;
	if (g->states && !same_placement(cur->prog, p)) {
		/* each worker carries its own part: keys would land on the wrong shards */
		g->carry = 0;
		rd_log(RD_LOG_WARN, "reload: an event type's state moved to another key; the state starts "
			"empty", NULL);
	}
	g->older = pl->gens;
	pl->gens = g;
	atomic_store(&pl->gen, g);
	/* under each fifo's lock, so a worker about to wait sees the new generation */
	for (i = 0; i < pl->nshards; i++) {
		pthread_mutex_lock(&pl->shards[i].q.mu);
		pthread_cond_broadcast(&pl->shards[i].q.cv);
		pthread_mutex_unlock(&pl->shards[i].q.mu);
	}
	for (;;) {
		for (all = 1, i = 0; i < pl->nshards && all; i++)
			all = atomic_load(&pl->shards[i].gen_id) == g->id;
		if (all || waited >= wait_ms)
			break;
		{
			struct timespec ts = { 0, 1000000L };
			nanosleep(&ts, NULL);
		}
		waited++;
	}
	rep->gen = g->id;
	rep->switched = all;
	if (all) {
		/* every shard's part holds every table and rule: report them once (the most any shard did) */
		for (i = 0; i < pl->nshards; i++) {
			const struct route_restore_report *r = &pl->shards[i].carried;

			rep->carried.tables = r->tables > rep->carried.tables ? r->tables : rep->carried.tables;
			rep->carried.tables_dropped = r->tables_dropped > rep->carried.tables_dropped ?
				r->tables_dropped : rep->carried.tables_dropped;
			rep->carried.rules = r->rules > rep->carried.rules ? r->rules : rep->carried.rules;
			rep->carried.rules_dropped = r->rules_dropped > rep->carried.rules_dropped ?
				r->rules_dropped : rep->carried.rules_dropped;
		}
		/* no worker routes with an older generation: lanes only they named can go */
		retire_unused(pl, g, rep);
	}
	return 0;
}

int
rd_pipeline_start(struct rd_pipeline *pl, const struct rd_conf *c, const route_prog *p,
	struct rd_metrics *m, char *err, size_t errlen)
{
	struct rd_gen *g;
	uint32_t i;

	memset(pl, 0, sizeof *pl);
	pl->conf = c;
	pl->prog = p;
	pl->metrics = m;
	pthread_mutex_init(&pl->budget.mu, NULL);
	pthread_cond_init(&pl->budget.cv, NULL);
	pthread_mutex_init(&pl->pb_mu, NULL);
	pl->start_wall_ms = rd_wall_ms();
	pl->budget.cap = c->max_inflight_bytes;
	pthread_mutex_init(&pl->gate.mu, NULL);
	pthread_cond_init(&pl->gate.cv, NULL);
	pl->gate.limit = c->delivery_slots;
	{
		cpu_set_t cpus;
		pl->ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? (unsigned)CPU_COUNT(&cpus) : 1;
		if (pl->ncpu < 1)
			pl->ncpu = 1;
		pl->spin = pl->ncpu > 1;
	}
	pl->load_forced = -1;
	pthread_mutex_init(&pl->fl_mu, NULL);
	pthread_cond_init(&pl->fl_cv, NULL);
	if (parse_keys(pl, c->shard_key) < 0)
		goto oom;
	/* lane slot i is destination slot i of the metrics (the first program's in its order) */
	pl->lane_cap = m->dest_cap;
	/* a program with state (tables, temporal rules) splits it by key over the
	 * shards: every event that touches the state of a key goes to the shard
	 * holding it (route_classify), the types whose state cannot be split to
	 * shard 0 (docs/routed.md) */
	pl->nshards = c->workers;
	pl->lanes = calloc(pl->lane_cap ? pl->lane_cap : 1, sizeof *pl->lanes);
	pl->shards = calloc(pl->nshards, sizeof *pl->shards);
	if (!pl->lanes || !pl->shards)
		goto oom;
	for (i = 0; i < pl->nshards; i++) {
		pl->shards[i].pl = pl;
		fifo_init(&pl->shards[i].q);
		pthread_mutex_init(&pl->shards[i].stats_mu, NULL);
		pthread_mutex_init(&pl->shards[i].run_mu, NULL);
	}
	if (!(g = gen_new(pl, p, NULL, err, errlen)))
		goto fail;
	g->id = 1;
	pl->gens = g;
	atomic_store(&pl->gen, g);
	for (i = 0; i < pl->nshards; i++) {
		struct rd_shard *sh = &pl->shards[i];
		if (!(sh->m = route_matcher_new(p)) || cost_start(sh, sh->m, p) < 0)
			goto oom;
		sh->out = calloc(pl->lane_cap ? pl->lane_cap : 1, sizeof *sh->out);
		sh->touched = calloc(pl->lane_cap ? pl->lane_cap : 1, sizeof *sh->touched);
		sh->drain = calloc(pl->lane_cap ? pl->lane_cap : 1, sizeof *sh->drain);
		sh->drain_mark = calloc(pl->lane_cap ? pl->lane_cap : 1, 1);
		if (!sh->out || !sh->touched || !sh->drain || !sh->drain_mark)
			goto oom;
		if (g->states)
			route_matcher_set_state(sh->m, g->states[i]);
		sh->gen = g;
		atomic_store(&sh->gen_id, g->id);
		if (pthread_create(&sh->thr, NULL, worker_main, sh) != 0) {
			snprintf(err, errlen, "cannot start a thread");
			goto fail;
		}
		sh->started = 1;
	}
	if (pthread_create(&pl->flusher, NULL, flusher_main, pl) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		goto fail;
	}
	pl->flusher_started = 1;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	rd_pipeline_drain(pl);
	rd_pipeline_free(pl);
	return -1;
}

/*
 * The shard of event ev: the shard of its state's key, or shard 0 for a type
 * whose state cannot be split; otherwise the hash of its first key member
 * present, else round-robin.
 */
static unsigned
shard_of(struct rd_pipeline *pl, const struct rd_event_ref *ev)
{
	const char *v;
	size_t vlen;
	unsigned i;

	if (ev->part == ROUTE_PART_KEY)
		return (unsigned)(ev->key % pl->nshards);
	if (ev->part == ROUTE_PART_ONE)
		return 0;
	for (i = 0; i < pl->nkeys; i++)
		if (rd_json_member(ev->p, ev->len, pl->keys[i], &v, &vlen))
			return (unsigned)(XXH64(v, vlen, 0) % pl->nshards);
	return atomic_fetch_add(&pl->rr, 1) % pl->nshards;
}

/* A request's events for one shard, in order (rd_pipeline_submit). */
struct chain {
	struct rd_item *head, *tail; /* owns the items until pushed */
	size_t n;
};
#define SUBMIT_STACK_SHARDS 16     /* chains kept on the stack up to this many shards */

/* The events are copied into items (one allocation each: the worker frees them one by one).
 * A new event item for ev[0..len) (copied), or NULL (out of memory). */
static struct rd_item *
event_item(const char *ev, size_t len, uint64_t accept_ns, uint64_t lsn)
{
	struct rd_item *it = malloc(sizeof(struct rd_item) + len);

	if (!it)
		return NULL;
	memcpy(it->data, ev, len);
	it->next = NULL;
	it->len = len;
	it->charge = sizeof(struct rd_item) + len;
	it->accept_ms = accept_ns / 1000000u;
	it->accept_ns = accept_ns;
	it->rules = NULL;
	it->nrules = 0;
	it->dead = 0;
	it->depth = 0;
	it->fan = NULL;
	it->fate = RD_FATE_LOST;
	it->undone = 0;
	it->lsn = lsn;
	it->chain_from = 0;
	it->fired = 0;
	return it;
}

/* Frees a submit and what it still holds, releasing its budget (a refused or finished one). */
static void
submit_free(struct rd_submit *sb)
{
	size_t i;

	if (!sb)
		return;
	for (i = 0; sb->items && i < sb->n; i++)
		free(sb->items[i]);
	if (sb->total)
		budget_release(&sb->pl->budget, sb->total);
	free(sb->items);
	free(sb->lsn);
	free(sb->shard);
	free(sb);
}

/*
 * The first half of a submit: charges the budget, copies ev[0..n) into
 * items and places them on their shards. Returns the submit, or NULL with
 * errno (ENOBUFS, ENOMEM, ESHUTDOWN).
 */
static struct rd_submit *
submit_prepare(struct rd_pipeline *pl, const struct rd_event_ref *ev, size_t n)
{
	struct rd_submit *sb;
	size_t i, total = 0;
	uint64_t now = now_ns();

	if (atomic_load(&pl->stopping)) {
		errno = ESHUTDOWN;
		return NULL;
	}
	for (i = 0; i < n; i++)
		total += sizeof(struct rd_item) + ev[i].len;
	if (budget_try(&pl->budget, total) < 0) {
		errno = ENOBUFS;
		return NULL;
	}
	if (!(sb = calloc(1, sizeof *sb))) {
		budget_release(&pl->budget, total);
		errno = ENOMEM;
		return NULL;
	}
	sb->pl = pl;
	sb->n = n;
	sb->total = total;
	if (!(sb->items = calloc(n ? n : 1, sizeof *sb->items)) || !(sb->lsn = calloc(n ? n : 1, sizeof *sb->lsn)) ||
	    !(sb->shard = calloc(n ? n : 1, sizeof *sb->shard)))
		goto oom;
	for (i = 0; i < n; i++) {
		if (!(sb->items[i] = event_item(ev[i].p, ev[i].len, now, 0)))
			goto oom;
		sb->shard[i] = shard_of(pl, &ev[i]);
	}
	return sb;
oom:
	submit_free(sb);
	errno = ENOMEM;
	return NULL;
}

/*
 * The second half, once the events are logged (or with no log): links the
 * items per shard in request order and pushes each shard's chain with one
 * lock and one wake-up, so a batch of 100 events costs the shards' locks
 * once rather than 100 times. Duplicates (no LSN under the log) are dropped.
 * Frees sb.
 */
static void
submit_push(struct rd_submit *sb, int may_inline)
{
	struct rd_pipeline *pl = sb->pl;
	struct chain stack_ch[SUBMIT_STACK_SHARDS], *ch = stack_ch;
	struct drain_set later;
	struct rd_item *it;
	size_t i, unused = 0;
	unsigned s;
	uint64_t now = now_ns();

	load_tick(pl, now);
	if (pl->nshards > SUBMIT_STACK_SHARDS && !(ch = calloc(pl->nshards, sizeof *ch))) {
		/* no room for the chains: push the items one by one */
		ch = NULL;
	}
	if (ch == stack_ch)
		memset(ch, 0, sizeof stack_ch);
	later.n = 0;
	if (sb->waiter) {
		/* every event's reference first: the first outcome may be known before the last
		 * event is pushed, and must not find the waiter with nothing pending */
		size_t k = 0;
		for (i = 0; i < sb->n; i++)
			k += !pl->dur || sb->lsn[i];
		atomic_fetch_add(&sb->waiter->refs, (unsigned)k);
		atomic_fetch_add(&sb->waiter->pending, (unsigned)k);
	}
	for (i = 0; i < sb->n; i++) {
		it = sb->items[i];
		sb->items[i] = NULL;
		if (pl->dur && !sb->lsn[i]) { /* a duplicate: not logged, not routed */
			unused += it->charge;
			free(it);
			continue;
		}
		if (sb->waiter && !(it->fan = fan_new(sb->waiter)))
			waiter_settle(sb->waiter, RD_FATE_LOST); /* out of memory: its outcome cannot be followed */
		it->lsn = sb->lsn[i];
		/* the routing starts now: the time the log took is not the router's */
		it->accept_ns = now;
		s = sb->shard[i];
		if (!ch) {
			if (!may_inline || !shard_inline(&pl->shards[s], it, &later))
				fifo_push_chain(&pl->shards[s].q, it, it, 1);
			continue;
		}
		if (ch[s].tail)
			ch[s].tail->next = it;
		else
			ch[s].head = it;
		ch[s].tail = it;
		ch[s].n++;
	}
	for (s = 0; ch && s < pl->nshards; s++)
		if (ch[s].n && (!may_inline || !shard_inline(&pl->shards[s], ch[s].head, &later)))
			fifo_push_chain(&pl->shards[s].q, ch[s].head, ch[s].tail, ch[s].n);
	if (ch != stack_ch)
		free(ch);
	/* each lane once, for the events of every shard (struct drain_set) */
	drain_lanes(pl, later.d, later.n);
	/* the items own their charges from now on */
	sb->total = unused;
	submit_free(sb);
}

int
rd_pipeline_submit(struct rd_pipeline *pl, const struct rd_event_ref *ev, size_t n, size_t *ndup)
{
	struct rd_submit *sb;
	size_t dups = 0;

	if (ndup)
		*ndup = 0;
	if (!(sb = submit_prepare(pl, ev, n)))
		return -1;
	/* durable before anyone is answered; the LSNs are then in the unmatched set */
	if (pl->dur && rd_durable_log(pl->dur, ev, n, sb->lsn, &dups) < 0) {
		int e = errno;
		submit_free(sb);
		errno = e;
		return -1;
	}
	submit_push(sb, 1);
	if (ndup)
		*ndup = dups;
	return 0;
}

int
rd_pipeline_submit_begin(struct rd_pipeline *pl, const struct rd_event_ref *ev, size_t n,
	void (*ready)(void *), void *arg, int may_inline, struct rd_waiter *waiter, struct rd_submit **out)
{
	struct rd_submit *sb;
	int rc;

	*out = NULL;
	if (!(sb = submit_prepare(pl, ev, n)))
		return -1;
	sb->waiter = waiter;
	if (!pl->dur) {
		submit_push(sb, may_inline);
		return 0;
	}
	rc = rd_durable_log_begin(pl->dur, ev, n, sb->lsn, &sb->pd, ready, arg);
	if (rc < 0) {
		int e = errno;
		submit_free(sb);
		errno = e;
		return -1;
	}
	sb->logged = rc == 1; /* 1: every event a duplicate, nothing to wait for */
	*out = sb;
	return 0;
}

int
rd_pipeline_submit_end(struct rd_submit *sb, int may_inline, size_t *ndup)
{
	size_t dups = 0;

	if (ndup)
		*ndup = 0;
	if (rd_durable_log_end(sb->pl->dur, &sb->pd, &dups) < 0) {
		int e = errno;
		submit_free(sb);
		errno = e;
		return -1;
	}
	submit_push(sb, may_inline);
	if (ndup)
		*ndup = dups;
	return 0;
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
	if (!(it = event_item(ev->p, ev->len, now_ns(), lsn))) {
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

	deadline_in(&ts, ms);
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
	/* lanes filling a batch flush it once their fifo is empty; workers waiting for room go on */
	for (i = 0; pl->lanes && i < pl->nlanes; i++) {
		fifo_wake(&pl->lanes[i].q);
		pthread_mutex_lock(&pl->lanes[i].q.mu);
		pthread_cond_broadcast(&pl->lanes[i].room);
		pthread_mutex_unlock(&pl->lanes[i].q.mu);
		if (pl->lanes[i].sink.wh)
			rd_webhook_wake(pl->lanes[i].sink.wh);
	}
	/* the flusher ends: nothing is left for later once stopping is set (defer_write) */
	if (pl->flusher_started) {
		pthread_mutex_lock(&pl->fl_mu);
		pthread_cond_signal(&pl->fl_cv);
		pthread_mutex_unlock(&pl->fl_mu);
		pthread_join(pl->flusher, NULL);
		pl->flusher_started = 0;
	}
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
		uint32_t l;

		if (atomic_load(&pl->pending) <= 0)
			break;
		/* what a router left for later just before stopping was set: its lane thread takes it */
		for (l = 0; pl->lanes && l < pl->nlanes; l++)
			if (atomic_load(&pl->lanes[l].defer_since))
				fifo_wake(&pl->lanes[l].q);
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
	for (i = 0; pl->lanes && i < pl->nlanes; i++) {
		while (pl->lanes[i].started > 0)
			pthread_join(pl->lanes[i].thr[--pl->lanes[i].started], NULL);
	}
}

void
rd_pipeline_free(struct rd_pipeline *pl)
{
	uint32_t i;

	struct rd_gen *g, *older;

	for (i = 0; pl->shards && i < pl->nshards; i++) {
		fifo_fini(&pl->shards[i].q);
		route_matcher_free(pl->shards[i].m);
		free(pl->shards[i].out);
		free(pl->shards[i].touched);
		free(pl->shards[i].drain);
		free(pl->shards[i].drain_mark);
		free(pl->shards[i].rstats);
		free(pl->shards[i].cost_seen);
		free(pl->shards[i].rhas);
		free(pl->shards[i].tstats);
		pthread_mutex_destroy(&pl->shards[i].stats_mu);
		pthread_mutex_destroy(&pl->shards[i].run_mu);
	}
	for (g = pl->gens; g; g = older) {
		older = g->older;
		gen_free(g);
	}
	pthread_mutex_destroy(&pl->pb_mu);
	pthread_mutex_destroy(&pl->fl_mu);
	pthread_cond_destroy(&pl->fl_cv);
	pl->gens = NULL;
	atomic_store(&pl->gen, NULL);
	for (i = 0; pl->lanes && i < pl->nlanes; i++) {
		free(pl->lanes[i].name);
		fifo_fini(&pl->lanes[i].q);
		pthread_cond_destroy(&pl->lanes[i].room);
		pthread_mutex_destroy(&pl->lanes[i].thr_mu);
		pthread_mutex_destroy(&pl->lanes[i].deliver_mu);
		rd_throttle_fini(&pl->lanes[i].throttle);
		free(pl->lanes[i].thr);
		free(pl->lanes[i].inl);
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
	pthread_mutex_destroy(&pl->gate.mu);
	pthread_cond_destroy(&pl->gate.cv);
	memset(pl, 0, sizeof *pl);
}

struct rd_store *
rd_pipeline_queue(struct rd_pipeline *pl, const char *name, size_t len)
{
	uint32_t i;
	size_t nlen;
	const char *n;

	for (i = 0; i < pl->nlanes; i++) {
		if (!(n = pl->lanes[i].name) || !atomic_load(&pl->lanes[i].ready))
			continue;
		nlen = strlen(n);
		if (nlen == len && memcmp(n, name, len) == 0)
			return pl->lanes[i].sink.store;
		if (len == nlen + 4 && memcmp(n, name, nlen) == 0 && memcmp(name + nlen, ".dlq", 4) == 0)
			return __atomic_load_n(&pl->lanes[i].dlq, __ATOMIC_ACQUIRE);
	}
	return NULL;
}

/*
 * The state's figures, summed over the shards that published them for the
 * rules in use (a shard still on older rules during a reload is left out).
 */
static void
render_state(struct rd_pipeline *pl, struct rd_buf *o)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} rm[] = {
		{ "routed_rule_state_keys", "gauge", "Keys a temporal rule holds state for.",
			offsetof(struct route_rule_stats, keys) },
		{ "routed_rule_state_bytes", "gauge", "Memory held by a temporal rule's state.",
			offsetof(struct route_rule_stats, bytes) },
		{ "routed_rule_state_pending", "gauge", "Sequences and absences waiting for their second event.",
			offsetof(struct route_rule_stats, pending) },
		{ "routed_rule_state_evicted_total", "counter", "Keys evicted at the rule's key limit.",
			offsetof(struct route_rule_stats, evicted) },
		{ "routed_rule_state_dropped_total", "counter", "Events dropped from a full window.",
			offsetof(struct route_rule_stats, dropped) },
		{ "routed_rule_state_late_total", "counter", "Events older than the rule's allowed lateness.",
			offsetof(struct route_rule_stats, late) },
	}, tm[] = {
		{ "routed_table_entries", "gauge", "Live entries of a table.",
			offsetof(struct route_table_stats, entries) },
		{ "routed_table_bytes", "gauge", "Memory held by a table.", offsetof(struct route_table_stats, bytes) },
		{ "routed_table_evicted_total", "counter", "Least recently updated entries dropped at max_keys.",
			offsetof(struct route_table_stats, evicted) },
		{ "routed_table_expired_total", "counter", "Entries dropped after their ttl.",
			offsetof(struct route_table_stats, expired) },
		{ "routed_table_skipped_total", "counter", "Updates whose key or value was missing or mistyped.",
			offsetof(struct route_table_stats, skipped) },
	};
	const route_prog *p = rd_pipeline_prog(pl);
	uint32_t nr = route_prog_nrules(p), nt = route_prog_ntables(p), i, k, s;
	uint64_t *sum = calloc((size_t)(nr + nt) * (sizeof rm / sizeof rm[0]) + 1, sizeof *sum);
	uint8_t *has = calloc(nr + 1, 1);
	const uint32_t nrm = sizeof rm / sizeof rm[0], ntm = sizeof tm / sizeof tm[0];
	size_t len;
	const char *n;

	if (!sum || !has)
		goto out;
	for (s = 0; s < pl->nshards; s++) {
		struct rd_shard *sh = &pl->shards[s];

		pthread_mutex_lock(&sh->stats_mu);
		if (sh->stats_prog == p) {
			for (i = 0; i < nr; i++) {
				has[i] |= sh->rhas[i];
				for (k = 0; sh->rhas[i] && k < nrm; k++)
					sum[(size_t)i * nrm + k] += *(const uint64_t *)(const void *)
						((const char *)&sh->rstats[i] + rm[k].off);
			}
			for (i = 0; i < nt; i++)
				for (k = 0; k < ntm; k++)
					sum[(size_t)nr * nrm + (size_t)i * ntm + k] += *(const uint64_t *)(const void *)
						((const char *)&sh->tstats[i] + tm[k].off);
		}
		pthread_mutex_unlock(&sh->stats_mu);
	}
	for (k = 0; k < nrm; k++) {
		rd_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", rm[k].name, rm[k].help, rm[k].name, rm[k].type);
		for (i = 0; i < nr; i++) {
			if (!has[i] || !(n = route_rule_name(p, i, &len)))
				continue;
			rd_buf_printf(o, "%s{rule=\"%.*s\"} %" PRIu64 "\n", rm[k].name, (int)len, n,
				sum[(size_t)i * nrm + k]);
		}
	}
	for (k = 0; nt && k < ntm; k++) {
		rd_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", tm[k].name, tm[k].help, tm[k].name, tm[k].type);
		for (i = 0; i < nt; i++) {
			if (!(n = route_table_name(p, i, &len)))
				continue;
			rd_buf_printf(o, "%s{table=\"%.*s\"} %" PRIu64 "\n", tm[k].name, (int)len, n,
				sum[(size_t)nr * nrm + (size_t)i * ntm + k]);
		}
	}
out:
	free(sum);
	free(has);
}

void
rd_pipeline_render(struct rd_pipeline *pl, struct rd_buf *o)
{
	render_state(pl, o);
	uint32_t i;
	size_t nlen;
	const char *n;

	rd_buf_puts(o, "# HELP routed_destination_queue_depth Messages waiting in memory for each "
		"destination's sink.\n# TYPE routed_destination_queue_depth gauge\n");
	for (i = 0; i < pl->nlanes; i++) {
		if (!(n = pl->lanes[i].name))
			continue;
		nlen = strlen(n);
		rd_buf_printf(o, "routed_destination_queue_depth{destination=\"%.*s\"} %zu\n", (int)nlen, n,
			atomic_load(&pl->lanes[i].q.depth));
	}
	rd_buf_puts(o, "# HELP routed_queue_pending_messages Messages stored in a built-in queue and "
		"not acknowledged.\n# TYPE routed_queue_pending_messages gauge\n");
	for (i = 0; i < pl->nlanes; i++) {
		if (!(n = pl->lanes[i].name) || !atomic_load(&pl->lanes[i].ready))
			continue;
		nlen = strlen(n);
		if (pl->lanes[i].sink.store)
			rd_buf_printf(o, "routed_queue_pending_messages{queue=\"%.*s\"} %" PRIu64 "\n",
				(int)nlen, n, rd_store_pending(pl->lanes[i].sink.store));
		if (__atomic_load_n(&pl->lanes[i].dlq, __ATOMIC_ACQUIRE))
			rd_buf_printf(o, "routed_queue_pending_messages{queue=\"%.*s.dlq\"} %" PRIu64 "\n",
				(int)nlen, n, rd_store_pending(pl->lanes[i].dlq));
	}
	rd_buf_printf(o, "# HELP routed_events_routed_total Accepted events routed, by the thread that "
		"matched them: the ingest thread that accepted them (inline, when it had time to spare and "
		"the shard was free) or the shard's worker.\n# TYPE routed_events_routed_total counter\n"
		"routed_events_routed_total{by=\"ingest\"} %" PRIuFAST64 "\n"
		"routed_events_routed_total{by=\"worker\"} %" PRIuFAST64 "\n",
		atomic_load(&pl->routed_by[0]), atomic_load(&pl->routed_by[1]));
	rd_buf_printf(o, "# HELP routed_loaded 1 while routed used more than three quarters of its CPUs "
		"over the last 10 ms: built-in queues are then written behind, up to 2 ms or 32 KiB at a "
		"time.\n# TYPE routed_loaded gauge\nrouted_loaded %d\n"
		"# HELP routed_queue_writes_deferred_total Times a router left a built-in queue's messages "
		"to be written with later ones (while loaded).\n"
		"# TYPE routed_queue_writes_deferred_total counter\n"
		"routed_queue_writes_deferred_total %" PRIuFAST64 "\n",
		rd_pipeline_loaded(pl), atomic_load(&pl->deferred_writes));
	{
		uint64_t now = now_ns(), keys = 0;

		pthread_mutex_lock(&pl->pb_mu);
		for (i = 0; i < RD_PUSHBACK_KEYS; i++)
			keys += pl->pb[i].until > now;
		pthread_mutex_unlock(&pl->pb_mu);
		rd_buf_printf(o, "# HELP routed_backpressure_keys Keys a rule with `backpressure` and `by` pushes "
			"back now (their events are refused with Retry-After).\n# TYPE routed_backpressure_keys gauge\n"
			"routed_backpressure_keys %" PRIu64 "\n# HELP routed_backpressure_overflow_total Keyed "
			"firings that found no room among the keys pushed back, and pushed back on every event."
			"\n# TYPE routed_backpressure_overflow_total counter\nrouted_backpressure_overflow_total %"
			PRIuFAST64 "\n", keys, atomic_load(&pl->pb_overflow));
	}
	rd_buf_puts(o, "# HELP routed_events_outcome_total Accepted events by what became of all their "
		"deliveries (the worst across a fan-out).\n# TYPE routed_events_outcome_total counter\n");
#define X(id, str) rd_buf_printf(o, "routed_events_outcome_total{outcome=\"" str "\"} %" PRIu64 "\n", \
	(uint64_t)atomic_load(&pl->outcomes[RD_FATE_##id]));
	RD_FATES(X)
#undef X
	rd_buf_puts(o, "# HELP routed_destination_throttled_seconds_total Time deliveries waited for "
		"the destination's throttle.\n# TYPE routed_destination_throttled_seconds_total counter\n");
	for (i = 0; i < pl->nlanes; i++) {
		uint64_t ns;
		if (!(n = pl->lanes[i].name) || !atomic_load(&pl->lanes[i].ready))
			continue;
		ns = pl->lanes[i].sink.wh ? rd_webhook_throttled_ns(pl->lanes[i].sink.wh)
			: (uint64_t)atomic_load(&pl->lanes[i].throttled_ns);
		rd_buf_printf(o, "routed_destination_throttled_seconds_total{destination=\"%s\"} %.6f\n", n,
			(double)ns / 1e9);
	}
	rd_buf_puts(o, "# HELP routed_destination_queue_full_waits_total Times a worker waited for room "
		"in a destination's bounded queue.\n# TYPE routed_destination_queue_full_waits_total counter\n");
	for (i = 0; i < pl->nlanes; i++)
		if ((n = pl->lanes[i].name))
			rd_buf_printf(o, "routed_destination_queue_full_waits_total{destination=\"%s\"} %" PRIu64 "\n",
				n, (uint64_t)atomic_load(&pl->lanes[i].full_waits));
	rd_buf_puts(o, "# HELP routed_destination_queue_full_seconds_total Time workers waited for room "
		"in a destination's bounded queue.\n# TYPE routed_destination_queue_full_seconds_total counter\n");
	for (i = 0; i < pl->nlanes; i++)
		if ((n = pl->lanes[i].name))
			rd_buf_printf(o, "routed_destination_queue_full_seconds_total{destination=\"%s\"} %.6f\n", n,
				(double)atomic_load(&pl->lanes[i].full_ns) / 1e9);
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
