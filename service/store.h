/*
 * store.h -- the built-in queue: the default sink of a destination with no
 * binding. Each queue is a directory DATA_DIR/queues/NAME holding
 *
 *   messages.ndjson   every message delivered, one JSON object per line,
 *                     append-only (readable with any tool while routed runs)
 *   ack               "OFFSET COUNT\n": the byte offset of messages.ndjson up
 *                     to which the consumer acknowledged, and how many messages
 *                     that is (replaced atomically by rename)
 *
 * GET reads a batch starting at the acknowledged offset and hands back the
 * offset after it as the ack token; until that token is acknowledged, the
 * same messages are returned again (at-least-once, one consumer per queue).
 * Durability: appends are not synced one by one; the durable log's thread
 * calls rd_store_sync before it moves the destination's cursor past what
 * was appended (sync policies always and batch; durable.h), so a message
 * is on disk before its log record may be trimmed.
 * One mutex per queue orders appends (the destination's lane thread) with
 * acknowledgements (HTTP threads); reads need no lock because the file only
 * grows.
 */
#ifndef RD_STORE_H
#define RD_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct rd_store {
	char *name;                /* owns: the destination's name */
	char *dir;                 /* owns: DATA_DIR/queues/NAME */
	int fd;                    /* owns: messages.ndjson, opened O_APPEND */
	pthread_mutex_t mu;        /* guards the fields below */
	uint64_t size;             /* bytes of complete messages in the file */
	uint64_t acked;            /* acknowledged offset (a line boundary <= size) */
	uint64_t nmsgs, nacked;    /* messages stored, and acknowledged */
};

/*
 * Opens (creating) the queue name[0..len) under data_dir. A torn last line
 * (a crash mid-write) is cut off and logged. Returns 0, or -1 with a reason
 * in err.
 */
int rd_store_open(struct rd_store *q, const char *data_dir, const char *name, size_t len,
	char *err, size_t errlen);
void rd_store_close(struct rd_store *q);
/* Appends one or more messages (len bytes of whole lines, the last byte '\n') in one write.
 * Returns 0, or -1 (errno; a partial write is cut off again). */
int rd_store_append(struct rd_store *q, const char *line, size_t len);
/*
 * Appends to out the JSON answer of GET: up to max messages (and about
 * max_bytes, at least one message) after the acknowledged offset:
 *   {"queue":"NAME","offset":A,"messages":[...],"count":N,"next_offset":B,"pending":P}
 * Returns 0, or -1 on a read error.
 */
int rd_store_read(struct rd_store *q, unsigned max, size_t max_bytes, struct rd_buf *out);
/*
 * Acknowledges everything before offset (a next_offset from rd_store_read).
 * Returns 0; -1 when offset is not a message boundary at or after the
 * current acknowledged offset (why says so); -2 on an I/O error.
 */
int rd_store_ack(struct rd_store *q, uint64_t offset, char *why, size_t whylen);
/* fdatasync()s the messages file: everything appended before is on disk. Returns 0, or -1 (errno). */
int rd_store_sync(struct rd_store *q);
/* Messages stored and not acknowledged. */
uint64_t rd_store_pending(struct rd_store *q);

#endif
