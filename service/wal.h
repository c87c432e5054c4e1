/*
 * wal.h -- routed's durable log (issue #7): a segmented, append-only record
 * log in one directory, with group commit, named durable cursors, recovery
 * that truncates torn tails and quarantines corrupt frames, and clean
 * failure on a full disk. routed uses it through durable.h (ingest appends,
 * cursors per destination, replay); docs/durability.md describes the
 * format and the promises.
 *
 * Directory layout (DIR given to rd_wal_open):
 *   DIR/NNNNNNNNNNNNNNNNNNNN.log   segments; the 20-digit name is the sequence
 *                                  number of the segment's first record
 *   DIR/cursors.txt                the durable cursors, one line "NAME SEQ\n"
 *                                  each, then "end COUNT\n"; replaced whole by
 *                                  write temp + fsync + rename + fsync DIR
 *   DIR/cursors/NAME               one cursor per file ("SEQ\n"), as logs kept
 *                                  them before cursors.txt: read at open,
 *                                  removed once cursors.txt has them
 *   DIR/quarantine/SEG.OFFSET.bad  the raw bytes of a corrupt region found in
 *                                  segment SEG at byte OFFSET
 * The directory is locked with flock() while open: one process per log.
 *
 * A record frame (all integers little-endian, no padding, 16-byte header):
 *
 *    0          4          8                  16             16+len
 *   +----------+----------+------------------+---------------+
 *   | len  u32 | crc  u32 | seq          u64 | payload (len) |
 *   +----------+----------+------------------+---------------+
 *
 *   len  payload bytes, 1 .. max_record
 *   crc  CRC-32C (crc32c.h) of payload || bytes 0..3 (len) || bytes 8..15 (seq):
 *        it covers the header too, so a flipped length or sequence is caught
 *        (a CRC of the payload alone would let a flipped seq through); the
 *        payload comes first so appenders checksum it outside the lock
 *   seq  the record's sequence number: > 0, strictly increasing through the
 *        log (gaps are allowed: a batch that failed to write leaves one)
 *
 * Records never straddle segments. A segment is rolled when the next batch
 * would take it past segment_bytes (so a segment may exceed it by one batch).
 *
 * Threads: any number of appenders; one syncer thread owned by the log
 * writes and syncs batches. Cursors and iterators may be used from any
 * thread (one writer per cursor name). No call may run during or after
 * rd_wal_close.
 */
#ifndef RD_WAL_H
#define RD_WAL_H

#include <stddef.h>
#include <stdint.h>

#define RD_WAL_HDR 16u                     /* bytes of a frame header */
#define RD_WAL_CURSOR_NAME_MAX 64          /* longest cursor name */

enum rd_wal_sync {
	/* Group commit: the syncer writes every waiting record with one pwrite()
	 * and one fdatasync(), then answers them. After rd_wal_append returns 0,
	 * the record survives a process crash, a kernel crash and a power cut
	 * (given a disk that honours flushes). The default. */
	RD_WAL_SYNC_ALWAYS,
	/* Same promise as ALWAYS, but the syncer syncs at most once every
	 * batch_ms: bigger batches, fewer fdatasync()s, appends wait up to
	 * batch_ms longer. */
	RD_WAL_SYNC_BATCH,
	/* No fdatasync(): append returns once the batch is in the kernel (write
	 * done). Survives a crash of routed (SIGKILL, abort); a kernel crash or
	 * power cut loses what the kernel had not written back yet (typically
	 * up to ~30 s, vm.dirty_expire_centisecs), and can leave a torn tail,
	 * which recovery truncates. Recovery never refuses to start either way. */
	RD_WAL_SYNC_NONE,
};

struct rd_wal_opts {                    /* borrowed by rd_wal_open, copied */
	enum rd_wal_sync sync;          /* default RD_WAL_SYNC_ALWAYS */
	unsigned batch_ms;              /* RD_WAL_SYNC_BATCH: sync period (default 5) */
	uint64_t segment_bytes;         /* roll size (default 16 MiB) */
	uint32_t max_record;            /* largest payload (default 4 MiB) */
	size_t max_pending;             /* bytes queued for the syncer before appenders wait (default 16 MiB) */
	unsigned append_timeout_ms;     /* longest an append waits (default 30000) */
};

struct rd_wal_stats {                   /* counters since rd_wal_open (a copy) */
	uint64_t appends;               /* records acknowledged (an append returned 0) */
	uint64_t append_errors;         /* append calls that returned -1 */
	uint64_t full_errors;           /* ... of which ENOSPC, EDQUOT or EFBIG */
	uint64_t batches;               /* batches written (one pwrite each, looped on short writes) */
	uint64_t syncs;                 /* fdatasync() calls on segments */
	uint64_t bytes;                 /* frame bytes written and kept */
	uint64_t segments;              /* segment files present */
	uint64_t segments_deleted;      /* removed by rd_wal_trim */
	uint64_t records_recovered;     /* valid records found by the open scan */
	uint64_t torn_tails;            /* torn tails truncated at open */
	uint64_t torn_bytes;            /* bytes they held */
	uint64_t quarantined;           /* corrupt regions quarantined at open */
	uint64_t quarantined_bytes;     /* bytes they held */
	uint64_t cursor_stores;         /* writes of cursors.txt */
	uint64_t cursor_files_damaged;  /* a cursors.txt found incomplete at open (not used) */
};

struct rd_wal;                          /* opaque: owns its files, syncer thread, buffers */
struct rd_wal_iter;                     /* opaque: owns one segment's bytes at a time */

/* Fills o with the defaults above. */
void rd_wal_opts_default(struct rd_wal_opts *o);

/*
 * Opens (creating) the log in dir, recovers it (torn tail truncated, corrupt
 * regions quarantined and counted, stale cursor temp files removed) and
 * starts the syncer. opts may be NULL (defaults). Returns the log (the caller
 * owns it; rd_wal_close frees it), or NULL with a reason in err. It fails
 * only when the directory cannot be used at all (cannot create, read or
 * write it), never because of the content of a segment.
 */
struct rd_wal *rd_wal_open(const char *dir, const struct rd_wal_opts *opts, char *err, size_t errlen);
/* Writes and syncs what is queued, stops the syncer, closes and frees w (may be NULL). */
void rd_wal_close(struct rd_wal *w);

/*
 * Appends buf[0..len) (borrowed; copied before return) and returns 0 once it
 * is durable under the sync policy, with its sequence number in *seq (may be
 * NULL). Returns -1 with errno set otherwise; the record is then not
 * acknowledged (it may or may not be found after a restart: at-least-once):
 *   ENOSPC, EDQUOT, EFBIG  the disk (or quota, or file-size limit) is full: the
 *                          segment was truncated back to its last complete
 *                          record; answer 503 + Retry-After; later appends
 *                          work once space returns (rd_wal_error_is_full)
 *   EMSGSIZE               len is 0 or above max_record
 *   ETIMEDOUT              not answered within append_timeout_ms
 *   ESHUTDOWN              the log is closing
 *   EIO (or another errno) write or fdatasync failed
 * Thread-safe; blocks (bounded by append_timeout_ms).
 */
int rd_wal_append(struct rd_wal *w, const void *buf, size_t len, uint64_t *seq);
/*
 * Appends recs[0..n) (borrowed) as consecutive records that are written in
 * one batch and share one outcome: all durable (returns 0, *first = the
 * first one's seq; may be NULL) or none acknowledged (-1, errno as above;
 * EMSGSIZE also when they would not fit in max_pending together). For an
 * NDJSON request: one wait for the whole request.
 */
struct rd_wal_rec {                     /* one record to append */
	const void *buf;                /* borrows: the payload */
	size_t len;                     /* its bytes, 1..max_record */
};
int rd_wal_append_many(struct rd_wal *w, const struct rd_wal_rec *recs, size_t n, uint64_t *first);
/*
 * The same without waiting, for a caller that must not block (an HTTP event
 * loop serving many connections: while it waited, the group commit could not
 * grow past the number of such threads). Frames recs[0..n) (borrowed, copied
 * before return) into the pending batch and returns 0 with *first, *last
 * (the seqs they got); wt (owned by the caller, who keeps it until then) is
 * called once, on the syncer thread and without the log's lock, when the
 * batch holding them is resolved; rd_wal_outcome then tells durable or not.
 * wt->fn must not block; wt may be freed once it has been called. Returns -1
 * with errno (as rd_wal_append_many, but EAGAIN at once when max_pending is
 * full: it never waits) and wt is never called.
 */
struct rd_wal_waiter {
	struct rd_wal_waiter *next;     /* the log's list, in seq order */
	uint64_t seq;                   /* resolved once done_seq >= seq (set by the log) */
	void (*fn)(void *arg);
	void *arg;
};
int rd_wal_append_async(struct rd_wal *w, const struct rd_wal_rec *recs, size_t n, uint64_t *first,
	uint64_t *last, struct rd_wal_waiter *wt);
/*
 * Once the records [first, last] of one rd_wal_append_async are resolved
 * (its waiter was called): 0 (durable) or the errno of their batch's
 * failure (EAGAIN: not resolved yet). Call it once: it counts them.
 */
int rd_wal_outcome(struct rd_wal *w, uint64_t first, uint64_t last);
/* The longest a blocking append waits (the options' append_timeout_ms). */
unsigned rd_wal_append_timeout_ms(const struct rd_wal *w);
/* 1 when errno value e means "disk full, retry later" (ENOSPC, EDQUOT, EFBIG). */
int rd_wal_error_is_full(int e);

/* The sequence number the next record will get (all earlier ones are resolved or queued). */
uint64_t rd_wal_next_seq(struct rd_wal *w);
/* Copies the counters into *st. */
void rd_wal_stats(struct rd_wal *w, struct rd_wal_stats *st);

/*
 * Cursors: a named position (the sequence number of the next record the
 * destination still needs; everything before it is done). Names are 1..64
 * bytes of [A-Za-z0-9._-], not starting with '.'.
 * rd_wal_cursor_set stores it durably (DIR/cursors.txt, every cursor in
 * one file: temp + fsync + rename + fsync DIR) and returns 0, or -1 with
 * errno (EINVAL for a bad name). A cursor never moves backwards: a smaller
 * seq than the stored one is ignored (returns 0). rd_wal_cursors_set stores
 * n cursors (names[i] at seqs[i]) with that one write, so that storing the
 * cursors of many destinations costs two fsyncs rather than two each; the
 * new values are in place only once the file is (a failed store keeps the
 * old ones). rd_wal_cursor_get returns 0 with *seq, or -1 with errno ENOENT
 * when the cursor does not exist.
 */
int rd_wal_cursor_set(struct rd_wal *w, const char *name, uint64_t seq);
int rd_wal_cursors_set(struct rd_wal *w, const char *const *names, const uint64_t *seqs, size_t n);
int rd_wal_cursor_get(struct rd_wal *w, const char *name, uint64_t *seq);
/* Deletes the cursor (rewrites cursors.txt without it); 0, or -1 with errno. */
int rd_wal_cursor_del(struct rd_wal *w, const char *name);

/*
 * Deletes every sealed segment whose records are all before every cursor
 * (segment i goes when segment i+1 starts at or before the smallest cursor).
 * With no cursor at all nothing is deleted. The active segment is never
 * deleted. Returns the number of segments deleted, or -1 with errno.
 */
int rd_wal_trim(struct rd_wal *w);

/*
 * Iterator over the records with seq >= from, in order, including records
 * appended after it was opened. Returns an iterator the caller owns
 * (rd_wal_iter_free), or NULL (errno ENOMEM). rd_wal_iter_open_cursor starts
 * at a cursor's position (1 when the cursor does not exist).
 */
struct rd_wal_iter *rd_wal_iter_open(struct rd_wal *w, uint64_t from);
struct rd_wal_iter *rd_wal_iter_open_cursor(struct rd_wal *w, const char *name);
/*
 * Yields the next record: returns 1 with *seq, *buf and *len (buf borrowed
 * from the iterator, valid until the next call or rd_wal_iter_free); 0 when
 * there is no more durable record now (call again later for new ones); -1
 * with errno on a read error. Corrupt regions are skipped (they were
 * quarantined at open). A segment deleted under the iterator is skipped.
 */
int rd_wal_iter_next(struct rd_wal_iter *it, uint64_t *seq, const void **buf, size_t *len);
void rd_wal_iter_free(struct rd_wal_iter *it);

#endif
