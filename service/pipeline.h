/*
 * pipeline.h -- routed's event path after ingest:
 *
 *   ingest (HTTP threads) --submit--> shard fifo [key hash] --> router worker
 *     (one per shard, owns a route_matcher) --decision--> lane fifo per
 *     destination (bounded by `queue`) --> lane thread(s) [batch, throttle,
 *     priority gate] --> sink (queue | stdout | file | exec | webhook)
 *                          \--given up--> dead_letter lane | NAME.dlq
 *
 * Every message ends at lane_release (pipeline.c), once, with its fate;
 * the last message of an accepted event settles the event's outcome.
 *
 * The hand-offs are skipped when they would only cost a wake-up: the
 * submitting thread routes a shard's events itself when it can take the
 * shard's run_mu (shard_inline; the worker routes only under run_mu too, and
 * whoever holds it routes what is queued first), and whoever routes writes a
 * built-in queue's messages itself when its lane is free, or leaves them to
 * the lane's current writer, which looks at the lane's fifo again once done
 * (lane_drain, under the lane's deliver_mu, which the lane thread holds to
 * take messages). Under load the worker and the lanes batch as above.
 *
 * The durable log (durable.h) sits between submit and the shard fifos:
 * submit appends the request's events (one group-committed append_many)
 * before it queues them, each item carries its record's LSN, and
 * lane_release() tells the log that the message reached its terminal
 * point, which moves that destination's cursor. Events with the same shard key (the first configured
 * top-level member present, e.g. "subject") go to one shard, so they are
 * matched and handed to each destination in order; events without a key are
 * spread round-robin.
 *
 * Memory is bounded by one budget (bytes of events and deliveries held,
 * item headers included): submit takes a whole request or nothing, and
 * fails when the budget cannot take it (the caller answers 503 with
 * Retry-After). Deliveries made by workers are charged without that check,
 * but a worker waits, before taking its next event, until the total is back
 * under the cap: the overshoot is at most one event's fan-out per worker.
 */
#ifndef RD_PIPELINE_H
#define RD_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "durable.h"
#include "metrics.h"
#include "retry.h"
#include "route.h"
#include "sink.h"

#define RD_PUSHBACK_KEYS 1024     /* keys pushed back at once (rd_pipeline_key_pushed_back) */

struct rd_item {               /* an event (shard fifo) or a message (lane fifo) */
	struct rd_item *next;      /* fifo link */
	size_t charge;             /* bytes charged to the budget for this item */
	size_t len;                /* bytes in data */
	uint64_t accept_ms;        /* monotonic ms the (originating) event was accepted: max_age */
	uint64_t accept_ns;        /* the same in monotonic ns: routed_end_to_end_duration_seconds */
	uint32_t *rules;           /* a message: the rules its event matched, [nrules], in this
	                            * allocation after data; an event: NULL */
	uint32_t nrules;
	int dead;                  /* a message: a dead-letter envelope (given up, it is not chained on) */
	unsigned depth;            /* an event: 0 accepted by ingest, deeper: emitted (sent over from
	                            * another shard, which holds its state's key) */
	struct rd_fanout *fan;     /* a message, or an emitted event sent over to another shard: holds
	                            * one reference to its accepted event's outcome, dropped by
	                            * lane_release (by the worker for an event); an accepted event:
	                            * owns the fanout its request waits on (made by submit), or NULL;
	                            * NULL for envelopes */
	int fate;                  /* a message: enum rd_fate, set before lane_release */
	int undone;                /* a message whose record's cursor must not move (durable log) */
	uint64_t lsn;              /* the log record it comes from (a message: its event's); 0: none */
	uint32_t chain_from;       /* a chained dead-letter envelope: 1 + the destination whose message
	                            * it stands for (that cursor waits for this one too); else 0 */
	int fired;                 /* made by a deadline's firing (route_matcher_tick), which no log
	                            * record stands for: counted in pl->fired_inflight until released */
	char data[];               /* owns: the event, or the message line ending in '\n' */
};

struct rd_fifo {               /* unbounded in count; bounded in bytes by the budget */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rd_item *head, *tail; /* owns the items */
	atomic_size_t depth;       /* items queued (read without the lock by /metrics) */
	int closed;                /* no more pushes; pops return NULL once empty */
};

struct rd_budget {
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* signalled when bytes are released */
	size_t used, cap;
	atomic_size_t used_view;   /* copy of used for /metrics */
};

struct rd_pipeline;
struct rd_durable;

/* What became of a message, and of an accepted event: the worst of its messages' fates
 * (a fan-out reports its worst status). In order, best first. */
#define RD_FATES(X) \
	X(DELIVERED, "delivered")         /* every message delivered */ \
	X(DEAD_LETTERED, "dead_lettered") /* some given up, to a dead_letter destination or DEST.dlq */ \
	X(LOST, "lost")                   /* some lost: out of memory, or the DLQ could not be written */ \
	X(UNROUTED, "unrouted")           /* the event (and what it emitted) went to no destination */
enum rd_fate {
#define X(id, s) RD_FATE_##id,
	RD_FATES(X)
#undef X
	RD_FATE__COUNT
};
/* "delivered", "dead_lettered", "lost" or "unrouted" (the fate's label in metrics and answers). */
const char *rd_fate_name(int fate);

/*
 * A request waiting for its events' outcomes (POST /events?wait=D, http.c):
 * each event it submitted holds a reference until its outcome is known
 * (the last reference to its fanout), which is counted here; once the last
 * one is known, settled(arg) runs once, on whichever thread that is, unless
 * the request detached first (rd_waiter_detach).
 */
struct rd_waiter {
	pthread_mutex_t mu;        /* orders settled() with rd_waiter_detach */
	atomic_uint refs;          /* the request's + one per event without an outcome */
	atomic_uint pending;       /* events without an outcome */
	atomic_uint outcomes[RD_FATE__COUNT]; /* events by outcome */
	void (*settled)(void *arg);
	void *arg;                 /* borrows; NULL once detached */
};
/* A waiter with the caller's reference and nothing pending, or NULL (out of memory). */
struct rd_waiter *rd_waiter_new(void (*settled)(void *), void *arg);
/* settled() will not be called any more (it may be running until this returns). */
void rd_waiter_detach(struct rd_waiter *w);
/* Drops a reference (NULL: nothing); the last one frees w. */
void rd_waiter_put(struct rd_waiter *w);

struct rd_fanout {             /* one accepted event's deliveries (its emitted events' included) */
	atomic_uint refs;          /* messages not yet released, + 1 while the worker routes it */
	atomic_int worst;          /* the worst enum rd_fate of a message that is not delivered; -1: none */
	atomic_uint nmsgs;         /* messages made (by the workers routing the event and what it
	                            * emitted), read by whoever drops the last reference */
	struct rd_waiter *waiter;  /* owns a reference, or NULL: the request waiting for the outcome */
};

/*
 * The priority gate: at most `limit` deliveries of queue, stdout, file and
 * exec lanes at once ([pipeline] delivery_slots; 0 = no gate); a lane
 * waiting for a slot gets it before any lane of a lower priority (a higher
 * number) that waits too.
 */
struct rd_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned limit, used;
	unsigned waiting[10];      /* lanes waiting, by priority 0..9 */
};

/*
 * One version of the rules (a generation): rd_pipeline_start makes the
 * first, each rd_pipeline_swap (a reload) the next. Shard workers pick the
 * newest one up between two events, so every event is matched by exactly
 * one generation. A generation maps its program's destination indexes to
 * lanes (by name) and its rule indexes to metric slots (by name).
 */
struct rd_gen {
	uint64_t id;               /* 1, 2, ... */
	const route_prog *prog;    /* borrows: the caller keeps it until rd_pipeline_free */
	/* The state (tables, temporal rules) is split by key over the shards:
	 * shard i matches with states[i], and an event goes to the shard of its
	 * state's key (route_classify; types whose state cannot be split go to
	 * shard 0). Each worker carries its part over into the next generation's
	 * and frees it. */
	route_state **states;      /* owns: [nstates], or NULL (no tables, no temporal rules) */
	unsigned nstates;          /* = the pipeline's nshards */
	int carry;                 /* 0: the placement of some event type changed since the
	                            * previous generation: no state is carried over */
	uint32_t *lane_of;         /* owns: [ndests] lane slot of each destination */
	uint32_t *rule_slot;       /* owns: [nrules] metrics slot of each rule */
	struct rd_gen *older;      /* owns: the previous generation (kept until rd_pipeline_free) */
};

struct rd_outq {               /* a worker's messages for one lane, not pushed yet */
	struct rd_item *head, *tail; /* owns */
	size_t n;
	size_t bytes;              /* their lengths */
};

struct rd_shard {
	struct rd_pipeline *pl;    /* borrows: the owner */
	struct rd_fifo q;
	/* Held by whoever routes the shard's events: its worker, or a submitting
	 * thread routing them inline when the shard is idle (pipeline.c
	 * shard_inline). Everything below that the worker owns is used under it. */
	pthread_mutex_t run_mu;
	route_matcher *m;          /* owns: a matcher of gen->prog */
	const struct rd_gen *gen;  /* borrows: the generation this worker matches with */
	atomic_uint_fast64_t gen_id; /* gen->id, for the reload to see the switch */
	struct route_restore_report carried; /* what the last switch carried over (see rd_pipeline_swap) */
	int carry_failed;          /* the last switch could not carry the state (logged) */
	/* The worker collects its messages per lane while it routes the events it
	 * took in one go, and pushes each lane's chain once (one lock, one
	 * wake-up) rather than once per message: on a loaded core each wake-up was
	 * a context switch (see docs/routed.md, Performance). */
	struct rd_outq *out;       /* owns: [lane_cap] (lane slots) */
	uint32_t *touched;         /* owns: [lane_cap] lanes with a non-empty out, in first-use order */
	uint32_t ntouched;
	size_t out_charge;         /* the budget the messages in out take, charged by flush_out */
	uint32_t *drain;           /* owns: [lane_cap] lanes flush_out appended to without a wake-up,
	                            * for shard_unlock to write (pipeline.c lane_drain) */
	uint32_t ndrain;
	uint8_t *drain_mark;       /* owns: [lane_cap] the lane is in drain */
	/* What the worker last published of its part of the state (at most once
	 * a second), for /metrics: the state itself is the worker's alone. */
	pthread_mutex_t stats_mu;
	const route_prog *stats_prog; /* borrows: the program the arrays are indexed by, or NULL */
	struct route_rule_stats *rstats; /* owns: [route_prog_nrules] */
	uint8_t *rhas;             /* owns: [route_prog_nrules] the rule keeps state */
	struct route_table_stats *tstats; /* owns: [route_prog_ntables] */
	uint64_t stats_at_ms;      /* monotonic ms of the last publication */
	/* what of the matcher's rule costs (route_matcher_rule_cost) is in the metrics already */
	struct route_rule_cost *cost_seen; /* owns: [route_prog_nrules of gen's program] */
	pthread_t thr;
	int started;
};

struct rd_lane {
	struct rd_pipeline *pl;    /* borrows: the owner */
	uint32_t dest;             /* the lane's slot: its index in pl->lanes and its metrics slot */
	char *name;                /* owns: the destination's name */
	_Atomic uint32_t dl_slot;  /* lane slot of its dead_letter destination, or ROUTE_NONE */
	atomic_int retired;        /* the rules in use no longer name it: fifo closed, drains, thread ends */
	atomic_int ready;          /* sink and dlq are open (they stay so until rd_pipeline_free): HTTP
	                            * threads may read them (rd_pipeline_queue, rd_pipeline_render) */
	struct rd_fifo q;
	struct rd_sink sink;       /* owns */
	int sink_open;
	struct route_dest_policy pol; /* the rules' delivery policy of this destination when the lane
	                            * opened (a reload does not change it; dead_letter: see dl_slot) */
	struct rd_store *dlq;      /* owns: the built-in dead-letter queue NAME.dlq, or NULL until
	                            * opened (webhooks: at start; others: at their first dead letter;
	                            * set once, with a release store, under thr_mu) */
	pthread_t *thr;            /* owns: [nthr] lane threads (exec: `workers`; others: 1) */
	unsigned nthr, started;    /* threads wanted, threads started */
	size_t queue_max;          /* messages the fifo holds before deliver waits; 0 = no bound */
	int coalesce;              /* writes what is queued together (pipeline.c coalesce()), and
	                            * routers may write for it (lane_drain) */
	pthread_mutex_t deliver_mu; /* a coalescing lane: held to take messages from q and write
	                            * them, by the lane thread or by a router writing inline;
	                            * its holder looks at q again once it lets go (lane_drain) */
	struct rd_item **inl;      /* owns: scratch array of the inline writes, [inl_cap], under deliver_mu */
	size_t inl_cap;
	atomic_size_t batch_room;  /* a one-thread lane filling a batch: how many queued messages
	                            * fill it (a router's push wakes the thread from then on);
	                            * 0: every push wakes it */
	pthread_cond_t room;       /* with q.mu: signalled when the fifo goes below queue_max */
	pthread_mutex_t thr_mu;    /* guards throttle (exec lanes share it between threads) and dlq's opening */
	struct rd_throttle throttle; /* `throttle N per T` of queue, stdout, file and exec lanes */
	atomic_uint_fast64_t throttled_ns; /* time deliveries waited for the throttle */
	atomic_uint_fast64_t full_waits, full_ns; /* workers that waited for room in the fifo, and how long */
	/* write-behind under load (pipeline.c defer_write): bytes routers queued for
	 * a coalescing lane since it was last emptied (a hint: it may lag), and since
	 * when (CLOCK_MONOTONIC_COARSE ns, 0: nothing left waiting) routers have
	 * left its messages queued rather than write them at once */
	atomic_size_t pend_bytes;
	atomic_uint_fast64_t defer_since;
};

struct rd_pipeline {
	const struct rd_conf *conf; /* borrows */
	const route_prog *prog;    /* borrows: the program routed started with (see gen) */
	struct rd_metrics *metrics; /* borrows */
	struct rd_gen *_Atomic gen; /* the newest generation of rules (owned through gens) */
	struct rd_gen *gens;       /* owns: every generation, newest first (linked by older) */
	struct rd_budget budget;
	struct rd_shard *shards;   /* owns: [nshards] */
	unsigned nshards;
	struct rd_lane *lanes;     /* owns: [lane_cap], the first nlanes in use: one per destination
	                            * name any generation had (lanes never move) */
	_Atomic uint32_t nlanes;
	uint32_t lane_cap;         /* = metrics->dest_cap: lane slot i is destination slot i */
	char **keys;               /* owns: the shard key members */
	unsigned nkeys;
	atomic_uint rr;            /* round-robin cursor for events without a key */
	atomic_int stopping;       /* drain started: submit refuses, failing sinks give up */
	uint64_t start_wall_ms;    /* when the pipeline started (ids of converted emitted events) */
	atomic_uint_fast64_t emit_seq; /* emitted events converted to CloudEvents so far */
	atomic_long pending;       /* messages in the lanes (queued, being delivered, waiting to retry) */
	atomic_long fired_inflight; /* items with fired set not released yet: no state checkpoint
	                            * is taken meanwhile (it would record a firing whose message a
	                            * crash could lose) */
	atomic_uint_fast64_t drain_deadline_ms; /* monotonic ms after which webhook lanes give up; 0: running */
	/* until when (CLOCK_MONOTONIC ns) ingest pushes back: a rule with
	 * `backpressure` fired on a routed event (rd_pipeline_backpressure) */
	atomic_uint_fast64_t backpressure_until;
	/* the keys a rule with `backpressure` and `by` pushed back (rd_pipeline_key_pushed_back):
	 * open addressing on the key, an entry until (CLOCK_MONOTONIC ns) 0 never used */
	pthread_mutex_t pb_mu;
	struct rd_pushback_key { uint64_t key, until; } pb[RD_PUSHBACK_KEYS];
	atomic_uint_fast64_t pb_until; /* the latest until of any entry: none pushed back after it */
	atomic_uint_fast64_t pb_overflow; /* firings with the table full (pushed back on everything) */
	struct rd_durable *dur;    /* borrows, or NULL: no durable log (--replay) */
	struct rd_gate gate;       /* delivery slots by priority */
	atomic_uint_fast64_t outcomes[RD_FATE__COUNT]; /* accepted events by outcome */
	int spin;                  /* the process may run on more than one CPU: lock_briefly spins */
	atomic_uint_fast64_t routed_by[2]; /* events matched inline by an ingest thread [0], by a worker [1] */
	/* load (pipeline.c load_tick): routed's CPU time over the last window against
	 * the CPUs it may run on; while loaded, routers write built-in queues behind */
	unsigned ncpu;             /* CPUs in routed's affinity mask */
	atomic_int loaded;         /* it used more than three quarters of them */
	int load_forced;           /* rd_pipeline_force_load: -1 measured, else 0 or 1 */
	atomic_uint_fast64_t load_win_end; /* CLOCK_MONOTONIC ns: the window's end, when it is measured */
	uint64_t load_win_wall, load_win_cpu; /* the window's start (under the win_end claim) */
	atomic_uint_fast64_t deferred_writes; /* times a router left a lane's messages to be written later */
	/* the flusher thread: writes the lanes whose write a router left for later
	 * once DEFER_NS passed and no router came back to them */
	pthread_t flusher;
	int flusher_started;
	pthread_mutex_t fl_mu;
	pthread_cond_t fl_cv;      /* with fl_mu: a lane's messages were left while it slept */
	int fl_idle;               /* with fl_mu: it waits on fl_cv (else it looks again before it sleeps) */
};

struct rd_event_ref {          /* an event to submit (borrowed bytes) */
	const char *p;
	size_t len;
	/* where its state lives, from route_classify(): ROUTE_PART_KEY goes to
	 * shard key % n, ROUTE_PART_ONE to shard 0; ROUTE_PART_ANY (0, the
	 * default) goes by the shard key members */
	int part;
	uint64_t key;
};

/*
 * Is ingest to push back now? After a rule with `backpressure` fired on a
 * routed event, for [http] retry_after seconds (each firing renews it).
 */
int rd_pipeline_backpressure(struct rd_pipeline *pl);

/*
 * Overrides the load routed measures (pipeline.c load_tick) for tests and
 * benchmarks: 1 loaded (built-in queues are written behind), 0 not, -1
 * measured again. Call before submitting.
 */
void rd_pipeline_force_load(struct rd_pipeline *pl, int loaded);
/* 1 while routed is loaded (the built-in queues are written behind), else 0. */
int rd_pipeline_loaded(struct rd_pipeline *pl);

/*
 * Is the event m has just classified (route_classify, not refused) pushed
 * back by a rule with `backpressure` and `by`? Such a firing pushes back
 * the events of its key only (route_pushback_keys), for [http] retry_after
 * seconds from the last firing; RD_PUSHBACK_KEYS keys at once, and a
 * firing that finds them all taken pushes back on every event instead. One
 * atomic load while no key is pushed back.
 */
int rd_pipeline_key_pushed_back(struct rd_pipeline *pl, route_matcher *m);

/*
 * Would the memory budget take n events of bytes in all now? A look without
 * a reservation (rd_pipeline_submit_begin charges, and may still refuse): it
 * lets ingest refuse a request before it validates every event, since a full
 * budget would refuse it after anyway.
 */
int rd_pipeline_has_room(struct rd_pipeline *pl, size_t n, size_t bytes);

/*
 * Opens every destination's sink and starts the lane and worker threads.
 * Borrows c, p and m, which must outlive the pipeline. Returns 0, or -1 with
 * a reason in err (everything started is stopped again).
 */
int rd_pipeline_start(struct rd_pipeline *pl, const struct rd_conf *c, const route_prog *p,
	struct rd_metrics *m, char *err, size_t errlen);
/*
 * Hands ev[0..n) to the shards (copies them), all or none. With the durable
 * log (pl->dur), returns only once they are logged under the sync policy,
 * leaving out duplicates of (source, id) seen within the window (*ndup, may
 * be NULL: how many). Returns 0, or -1 with errno, nothing acknowledged:
 * ENOBUFS the memory budget cannot take them, ENOMEM, ESHUTDOWN draining,
 * ENOSPC/EDQUOT/EFBIG the disk is full (rd_wal_error_is_full), or the log's
 * write error.
 */
int rd_pipeline_submit(struct rd_pipeline *pl, const struct rd_event_ref *ev, size_t n, size_t *ndup);
/*
 * The same in two steps, for a caller that must not block while the log
 * syncs (an HTTP event loop: the group commit then grows with the number of
 * connections, not of threads). rd_pipeline_submit_begin charges the budget,
 * copies the events and hands them to the log; it returns -1 with errno as
 * rd_pipeline_submit (nothing acknowledged), or 0 with *out: NULL when the
 * events are already routed (no durable log), else a submit for which
 * ready(arg) is called once, from the log's thread (it must not block;
 * possibly before rd_pipeline_submit_begin returns), after which
 * rd_pipeline_submit_end (called once; *out is freed then) gives the
 * result as rd_pipeline_submit does and routes the events. When
 * rd_pipeline_submit_begin returns a submit whose events were all
 * duplicates, ready is never called: rd_pipeline_submit_ready says so.
 * may_inline: the calling thread may route the events itself when their
 * shard is free (pipeline.c shard_inline); 0 hands them to the workers.
 * rd_pipeline_submit always may. waiter (borrowed, may be NULL): each event
 * routed (duplicates are not) takes a reference to it and counts its
 * outcome there once it is known.
 */
struct rd_submit {             /* owned by the caller from submit_begin to submit_end */
	struct rd_pipeline *pl;    /* borrows */
	struct rd_item **items;    /* owns: [n] the events' items, NULL once pushed */
	uint64_t *lsn;             /* owns: [n] their log records (0: a duplicate) */
	unsigned *shard;           /* owns: [n] their shards */
	size_t n;
	size_t total;              /* bytes of the budget it still holds */
	int logged;                /* nothing to wait for: rd_pipeline_submit_end may run now */
	struct rd_waiter *waiter;  /* borrows, or NULL: where the events' outcomes are counted */
	struct rd_durable_pend pd; /* the log's part */
};
int rd_pipeline_submit_begin(struct rd_pipeline *pl, const struct rd_event_ref *ev, size_t n,
	void (*ready)(void *), void *arg, int may_inline, struct rd_waiter *waiter, struct rd_submit **out);
static inline int rd_pipeline_submit_ready(const struct rd_submit *sb) { return sb->logged; }
int rd_pipeline_submit_end(struct rd_submit *sb, int may_inline, size_t *ndup);
/* The shard event ev goes to (the same answer every time unless it goes round-robin). */
unsigned rd_pipeline_shard_of(struct rd_pipeline *pl, const struct rd_event_ref *ev);
/*
 * Queues logged record lsn (ev's bytes, copied) to shard (from
 * rd_pipeline_shard_of) for matching, waiting for room in the budget
 * (restart replay). Returns 0, or -1 when draining or out of memory.
 */
int rd_pipeline_route_logged(struct rd_pipeline *pl, const struct rd_event_ref *ev, unsigned shard,
	uint64_t lsn);
/*
 * Waits up to ms milliseconds until n more bytes of items (an event of len
 * bytes costs sizeof(struct rd_item) + len) would fit under the memory cap.
 * Returns 1 when they would (submit may still lose a race for them), 0 on
 * timeout or when the pipeline is draining. For producers that wait rather
 * than refuse (the TCP listener, replay).
 */
int rd_pipeline_wait_room(struct rd_pipeline *pl, size_t n, unsigned ms);
/* Stops taking events, matches and delivers everything queued, joins the threads. */
void rd_pipeline_drain(struct rd_pipeline *pl);
/* Frees what rd_pipeline_start made (after rd_pipeline_drain). */
void rd_pipeline_free(struct rd_pipeline *pl);
/*
 * The built-in queue of destination name[0..len), or the dead-letter queue
 * of a webhook destination when name is "DEST.dlq"; NULL when there is none.
 */
struct rd_store *rd_pipeline_queue(struct rd_pipeline *pl, const char *name, size_t len);
/* The program of the newest generation (for ingest validation). */
const route_prog *rd_pipeline_prog(struct rd_pipeline *pl);

struct rd_swap_report {
	uint64_t gen;              /* the new generation's id */
	uint32_t lanes_opened;     /* destinations new to the pipeline (or back after a removal) */
	uint32_t lanes_retired;    /* destinations the new rules do not name: drained, then stopped */
	uint32_t policy_kept;      /* destinations whose changed delivery policy waits for a restart */
	int switched;              /* every worker took the new generation up within the wait */
	struct route_restore_report carried; /* state carried over (stateful rules) */
};
/*
 * Hot reload: makes p (borrowed; the caller keeps it until rd_pipeline_free)
 * the rules every event accepted from now on is matched with. Maps p's
 * destinations to lanes by name (a new name opens a lane and its sink),
 * publishes the new generation, wakes the workers, which switch between two
 * events (carrying the state of tables and unchanged temporal rules over),
 * waits up to wait_ms for all of them, then retires the lanes p does not
 * name (their fifos close: they deliver what is queued, then their threads
 * end; sinks stay open until rd_pipeline_free). One caller at a time.
 * Returns 0, or -1 with a reason in err (nothing changed but new lanes,
 * which are retired again).
 */
int rd_pipeline_swap(struct rd_pipeline *pl, const route_prog *p, unsigned wait_ms,
	struct rd_swap_report *rep, char *err, size_t errlen);
/* Appends the pipeline's gauges (queue depths, bytes in flight) to out. */
void rd_pipeline_render(struct rd_pipeline *pl, struct rd_buf *out);

#endif
