/*
 * dedup.h -- the (source, id) duplicate filter of durable ingest (issue #7).
 *
 * A key is built from an event's JSON (rd_dedup_key): a CloudEvent (it has a
 * "specversion" member) gives its "source" and "id"; a plain event gives its
 * "source" member (when present) and the configured id member (none
 * configured: plain events have no key -- an "id" member of a plain event
 * may well be an entity's id, not the event's). An event
 * without an id has no key and is never a duplicate. Keys are remembered
 * for a window of seconds after they were accepted; the table keeps them in
 * acceptance order, so expiry takes from the head. Survives a restart
 * because the log is kept back to the oldest key's record (the "dedup"
 * cursor, durable.c) and rebuilt from it on replay.
 *
 * Two requests carrying the same new key at the same moment may both be
 * logged (the second sees the first's key still pending): a duplicate is
 * then delivered twice, with the same id (at-least-once). A key is never
 * answered "duplicate" unless the first copy is durable or in the same
 * request.
 *
 * Thread-safe (one mutex). Memory: one entry per key in the window, at most
 * max_entries (the oldest are dropped early beyond that, and counted).
 */
#ifndef RD_DEDUP_H
#define RD_DEDUP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define RD_DEDUP_KEY_MAX 512       /* longer keys are not deduplicated */

struct rd_dedup_ent;

struct rd_dedup {
	pthread_mutex_t mu;
	struct rd_dedup_ent **tab; /* owns: the hash buckets [nbuckets] (chains own nothing) */
	size_t nbuckets, n;        /* buckets, entries */
	size_t max;                /* cap on entries */
	uint64_t window_ms;        /* how long a key is remembered */
	struct rd_dedup_ent *head, *tail; /* owns every entry: acceptance order, oldest first */
	uint64_t evicted;          /* entries dropped before their window ended (over max) */
};

/* Returns 0, or -1 on out-of-memory. */
int rd_dedup_init(struct rd_dedup *d, uint64_t window_ms, size_t max_entries);
void rd_dedup_fini(struct rd_dedup *d);
/*
 * Writes event ev[0..len)'s key into out[0..cap) and returns its length, or
 * 0 when the event has no id (or the key is longer than cap). id_member:
 * plain events' id member, or NULL.
 */
size_t rd_dedup_key(const char *ev, size_t len, const char *id_member, char *out, size_t cap);

struct rd_dedup_req {          /* one event of a request */
	const char *key;           /* borrows: its key, or NULL (no key) */
	size_t klen;
	int dup;                   /* out: 1 when it is a duplicate (do not log it) */
	struct rd_dedup_ent *ent;  /* out: the pending entry reserved for it, or NULL */
};
/*
 * For each of r[0..n): marks a duplicate of a durable key or of an earlier
 * event of the same request; reserves a pending entry for each new key.
 * Returns how many were duplicates. The caller then calls commit (the
 * events were logged; lsn[i] is r[i]'s sequence number, for non-duplicates)
 * or rollback (they were not).
 */
size_t rd_dedup_reserve(struct rd_dedup *d, struct rd_dedup_req *r, size_t n, uint64_t now_ms);
void rd_dedup_commit(struct rd_dedup *d, struct rd_dedup_req *r, size_t n, const uint64_t *lsn);
void rd_dedup_rollback(struct rd_dedup *d, struct rd_dedup_req *r, size_t n);
/* Replay: remembers key[0..klen) logged at lsn, accepted at wall ms (ignored when out of the window). */
void rd_dedup_insert(struct rd_dedup *d, const char *key, size_t klen, uint64_t lsn, uint64_t ms,
	uint64_t now_ms);
/* Expires old keys; returns 1 with the oldest remembered key's lsn in *lsn, 0 when empty. */
int rd_dedup_oldest(struct rd_dedup *d, uint64_t now_ms, uint64_t *lsn);
/* Keys remembered now. */
size_t rd_dedup_size(struct rd_dedup *d);

#endif
