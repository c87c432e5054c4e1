/*
 * durable.h -- routed's durability glue (issue #7): the log (wal.h) between
 * ingest and the shards, per-destination durable cursors, restart replay,
 * the (source, id) dedup filter (dedup.h) and temporal state checkpoints.
 *
 *   submit --append_many + sync--> log --LSN--> shard --match--> lane --sink--> lane_release
 *                                  |                 |                      |
 *                       unmatched set (LSNs)    dest set += LSN     dest set -= LSN
 *
 * Cursor of destination d = min(lowest unmatched LSN, lowest LSN with a
 * message for d still in flight): every record before it has been matched,
 * and each of its messages for d written to the sink (or dead-lettered, or
 * not meant for d). Before a cursor is stored, the destination's queue,
 * file and DLQ are fdatasync'ed (policies always and batch). A segment is
 * trimmed once every cursor is past it.
 *
 * Record payload (inside a wal frame), little-endian:
 *    0        1                          8
 *   +--------+--------------------------+----------------+
 *   | fmt=1  | accept wall ms (56 bits) | event bytes... |
 *   +--------+--------------------------+----------------+
 *
 * Threads: submitters (HTTP pool, TCP connections), workers, lanes, and one
 * durability thread of its own that stores cursors, trims and writes
 * checkpoints every cursor_interval_ms.
 */
#ifndef RD_DURABLE_H
#define RD_DURABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conf.h"
#include "route.h"
#include "dedup.h"
#include "wal.h"

#define RD_REC_HDR 8u              /* bytes before the event in a record */

/*
 * A multiset of LSNs with its minimum. Thread-safe. The LSNs in are kept
 * ascending in v[head .. head + n); one removed while a lower one is still in
 * stays there marked done, and leaves with the run of done ones once the
 * lowest goes, so the front is always in. LSNs arrive almost in order (a
 * request's records, a chain's messages) and leave almost in order, so an
 * add is an append and a removal a pop at the front or a binary search: a
 * cache line or two, where the two binary heaps this replaces sifted through
 * a dozen (2-3 % of routed's CPU on NDJSON). A removal of an LSN not in is
 * kept (orphan) and cancels the next add of it.
 */
struct rd_lsnset {
	pthread_mutex_t mu;
	uint64_t *v;               /* owns: [cap] */
	uint8_t *done;             /* owns: [cap] 1: removed, waiting for the lower ones */
	size_t head, n, cap, ndone;
	uint64_t *orphan;          /* owns: [norphan] removals of LSNs that were not in */
	size_t norphan, caporphan;
};

struct rd_pipeline;
struct rd_metrics;

struct rd_ckpt {               /* a state snapshot waiting until every destination is past it */
	void *snap;                /* owns: route_state_snapshot bytes */
	size_t len;
	uint64_t from;             /* every record below this was matched into it */
	uint64_t *extra;           /* owns: records at or above from also in it, sorted [nextra] */
	size_t nextra;
	uint64_t covers;           /* 1 + the highest record in it */
};

/* The cursors one pass stores together (rd_wal_cursors_set); ndest + 2 entries each. */
struct cursor_batch {
	const char **names;            /* owns the array; borrows the names */
	uint64_t *seqs;                /* owns */
	uint64_t *act;                 /* owns: a destination's activity when it was synced */
	uint32_t *slot;                /* owns: lane slot, or SLOT_MATCHED / SLOT_DEDUP */
};
#define SLOT_MATCHED UINT32_MAX
#define SLOT_DEDUP (UINT32_MAX - 1)

struct rd_durable {
	const struct rd_conf *conf;    /* borrows */
	struct rd_pipeline *pl;        /* borrows */
	struct rd_wal *wal;            /* owns */
	char *state_dir;               /* owns: DATA_DIR/state (checkpoint.K: shard K's state) */
	struct rd_lsnset unmatched;    /* logged records (or reservations) not matched yet */
	struct rd_lsnset *dest;        /* owns: [ndest] LSNs with messages in flight per destination */
	uint64_t *start;               /* owns: [ndest] cursors at start: earlier records are not delivered again */
	uint64_t *saved;               /* owns: [ndest] cursors stored */
	atomic_uint_fast64_t *activity; /* owns: [ndest] messages tracked or released (rd_durable_deliver,
	                               * rd_durable_done): none since the last store = nothing written */
	uint64_t *seen;                /* owns: [ndest] activity when the cursor was last stored */
	unsigned *idle_passes;         /* owns: [ndest] passes that left an idle cursor behind */
	atomic_uint_fast64_t *stores;  /* owns: [ndest] cursors stored, for /metrics */
	char **cname;                  /* owns: [ndest] cursor names "dest.NAME" */
	struct cursor_batch batch;     /* owns: the durability thread's scratch for pass() */
	uint32_t ndest;                /* lane slots (pl->lane_cap); the first nlanes are in use */
	uint32_t nstart;               /* lanes in use at start (a reload may add more) */
	struct rd_dedup dedup;         /* dedup_window > 0 */
	int dedup_on;
	int state_on;                  /* the program keeps state: checkpoints */
	unsigned nstate;               /* states checkpointed: every shard's part when split, else 1 */
	pthread_t thr;
	int started;
	pthread_mutex_t mu;            /* guards stop, ckpt */
	pthread_cond_t cv;
	int stop;
	struct rd_ckpt *ckpt;          /* owns: [nstate] the newest snapshot not written yet (snap NULL: none) */
	uint64_t *ckpt_next_ms;        /* owns: [nstate] worker K: when to take its next snapshot */
	uint64_t *ckpt_written;        /* owns: [nstate] from of K's written checkpoint (0: none yet) */
	atomic_uint_fast64_t full_until_ms; /* after a full disk, refuse without trying until then */
	atomic_uint_fast64_t duplicates, full_refusals, replayed, replay_skipped, checkpoints,
		checkpoint_errors, cursor_errors, sync_errors;
	uint64_t ckpt_lsn;             /* the state cursor stored: min over the written checkpoints */
	uint64_t saved_dedup, saved_matched; /* the dedup and matched cursors last stored */
};

/*
 * Opens the log under c->data_dir/log, reads the cursors and the checkpoint
 * (restoring pl->state), replays the log into the pipeline (which must be
 * started, with no producer yet), and starts the durability thread. Sets
 * pl->dur. Returns 0, or -1 with a reason in err (the log directory cannot
 * be used; never because of a record's content).
 */
int rd_durable_start(struct rd_durable *d, const struct rd_conf *c, struct rd_pipeline *pl,
	char *err, size_t errlen);
/* After rd_pipeline_drain: stores the final cursors and checkpoint, closes the log. */
void rd_durable_stop(struct rd_durable *d);

/*
 * Logs ev[0..n) (the pipeline's submit): dedup, one append_many, sync.
 * Returns 0 with lsn[i] set (0 for a duplicate, which must not be routed)
 * and *ndup; or -1 with errno (ENOSPC/EDQUOT/EFBIG: disk full; others:
 * write error, ETIMEDOUT, ESHUTDOWN), nothing acknowledged. Each logged
 * LSN is in the unmatched set on return: the caller must route it, then
 * call rd_durable_matched.
 */
struct rd_event_ref;
int rd_durable_log(struct rd_durable *d, const struct rd_event_ref *ev, size_t n, uint64_t *lsn,
	size_t *ndup);
/*
 * The same in two steps, for a caller that must not block (an HTTP event
 * loop). rd_durable_log_begin frames the records (ev is copied) and returns
 * 1 when nothing is to be waited for (every event a duplicate), 0 when
 * ready(arg) will be called once -- on the log's syncer thread; it must not
 * block -- after which rd_durable_log_end gives the result as rd_durable_log
 * does, or -1 with errno (nothing acknowledged, ready never called). After
 * 0 or 1, rd_durable_log_end must be called, once. pd is the caller's and
 * must stay in place until ready has been called; lsn[0..n) is borrowed
 * until rd_durable_log_end.
 */
struct rd_durable_pend {
	struct rd_wal_waiter wt;
	struct rd_dedup_req *rq;       /* owns: [n] dedup reservations, or NULL */
	char *keys;                    /* owns: their keys */
	uint64_t *rl;                  /* owns: [n] the LSNs given to the dedup commit */
	uint64_t *lsn;                 /* borrows: the caller's [n] */
	size_t n, nrec, dups;
	uint64_t resv, first, last;    /* the unmatched-set reservation; the records' seqs */
};
int rd_durable_log_begin(struct rd_durable *d, const struct rd_event_ref *ev, size_t n, uint64_t *lsn,
	struct rd_durable_pend *pd, void (*ready)(void *), void *arg);
int rd_durable_log_end(struct rd_durable *d, struct rd_durable_pend *pd, size_t *ndup);
/* Worker: record lsn is matched (its messages are in the destination sets). */
void rd_durable_matched(struct rd_durable *d, uint64_t lsn);
/* Worker or lane: a message of record lsn is queued for destination dest. Returns 0 when it
 * is to be skipped (replay: dest's cursor was past lsn at start; never when force is set, for
 * dead-letter envelopes). */
int rd_durable_deliver(struct rd_durable *d, uint32_t dest, uint64_t lsn, int force);
/* Lane: the message of record lsn for destination dest reached its terminal point. */
void rd_durable_done(struct rd_durable *d, uint32_t dest, uint64_t lsn);
/* rd_durable_done for the n records lsn[] (0s skipped), with one lock of dest's set. */
void rd_durable_done_many(struct rd_durable *d, uint32_t dest, const uint64_t *lsn, size_t n);
/* Worker of shard K owning state st: takes a snapshot when one is due (force: now). */
void rd_durable_maybe_checkpoint(struct rd_durable *d, unsigned k, route_state *st, int force);
/* A shard sends an event emitted by record lsn to another shard: lsn stays unmatched until
 * that shard calls rd_durable_matched for it too. */
void rd_durable_hold(struct rd_durable *d, uint64_t lsn);
/* Appends the routed_log_* metrics. */
void rd_durable_render(struct rd_durable *d, struct rd_buf *out);

/* The lsnset (exposed for tests). */
int rd_lsnset_init(struct rd_lsnset *s);
void rd_lsnset_fini(struct rd_lsnset *s);
int rd_lsnset_add(struct rd_lsnset *s, uint64_t lsn);
void rd_lsnset_del(struct rd_lsnset *s, uint64_t lsn);
/* 1 with the minimum in *lsn, 0 when empty. */
int rd_lsnset_min(struct rd_lsnset *s, uint64_t *lsn);

#endif
