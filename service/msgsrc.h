/*
 * msgsrc.h -- what the broker sources (kafka.c, rabbitmq.c) share on top of
 * rd_lines (lines.h): the messages handed to it, in order, each with the
 * broker's position of it, waiting for their results; a message's body
 * copied into rd_lines' reads as one line; and what a result means for the
 * broker's acknowledgement.
 */
#ifndef RD_MSGSRC_H
#define RD_MSGSRC_H

#include <stddef.h>
#include <stdint.h>

struct rd_msgpos {             /* a message handed to rd_lines */
	uint64_t id;               /* the broker's position of it: an offset, a delivery tag */
	int64_t part;              /* more of it: a partition */
	uint32_t where;            /* and more: a topic's index, a connection's generation */
	int blank;                 /* no line was made of it (empty): done once those before are */
};

struct rd_msgq {               /* the messages without a result yet, in order */
	struct rd_msgpos *ring;    /* owns: [cap] */
	size_t cap, head, n;
};

/* What becomes of message p: reason NULL when its event was taken (or p is blank), else why
 * not; off: the byte of the fault in the line, or -1. */
typedef void rd_msgq_done_fn(void *ud, const struct rd_msgpos *p, const char *reason, long off);

/* Appends p. Returns 0, or -1 when out of memory. */
int rd_msgq_push(struct rd_msgq *q, struct rd_msgpos p);
/* done for each blank message at the front, which is then dropped. */
void rd_msgq_skip_blank(struct rd_msgq *q, rd_msgq_done_fn *done, void *ud);
/* rd_lines' result for the next line (results come in line order): done for the blank
 * messages before it, for its message, and for the blank ones after. */
void rd_msgq_result(struct rd_msgq *q, rd_msgq_done_fn *done, void *ud, const char *reason, long off);
void rd_msgq_fini(struct rd_msgq *q);

/* 1 when body[0..n) is only spaces, tabs and line breaks (rd_lines makes no line of it). */
int rd_msg_blank(const char *body, size_t n);
/*
 * Copies what fits in room bytes of body[0..len) then '\n', from byte *off
 * on, into buf (raw line breaks in the body become spaces: JSON allows them
 * only between tokens), and advances *off. Returns the bytes copied; the
 * line is all copied when *off is len + 1.
 */
size_t rd_msg_copy(const char *body, size_t len, size_t *off, char *buf, size_t room);
/* 1 when a result's reason says the event is not in the log (routed is stopping, the log
 * could not be written): neither it nor any message after it may be acknowledged. */
int rd_msg_unlogged(const char *reason);
/* Logs at warn that an invalid event was skipped: msg, then where (JSON members, borrowed),
 * the reason and its byte. */
void rd_msg_log_invalid(const char *msg, const char *where, const char *reason, long off);

#endif
