/*
 * msgsrc.c -- the parts the broker sources share (see msgsrc.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "msgsrc.h"

int
rd_msgq_push(struct rd_msgq *q, struct rd_msgpos p)
{
	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 1024, j;
		struct rd_msgpos *nr = malloc(nc * sizeof *nr);
		if (!nr)
			return -1;
		for (j = 0; j < q->n; j++)
			nr[j] = q->ring[(q->head + j) % q->cap];
		free(q->ring);
		q->ring = nr;
		q->cap = nc;
		q->head = 0;
	}
	q->ring[(q->head + q->n) % q->cap] = p;
	q->n++;
	return 0;
}

/* done for the front message, then drops it. */
static void
pop(struct rd_msgq *q, rd_msgq_done_fn *done, void *ud, const char *reason, long off)
{
	struct rd_msgpos p = q->ring[q->head];

	q->head = (q->head + 1) % q->cap;
	q->n--;
	done(ud, &p, reason, off);
}

void
rd_msgq_skip_blank(struct rd_msgq *q, rd_msgq_done_fn *done, void *ud)
{
	while (q->n && q->ring[q->head].blank)
		pop(q, done, ud, NULL, -1);
}

void
rd_msgq_result(struct rd_msgq *q, rd_msgq_done_fn *done, void *ud, const char *reason, long off)
{
	rd_msgq_skip_blank(q, done, ud);
	if (q->n)
		pop(q, done, ud, reason, off);
	rd_msgq_skip_blank(q, done, ud);
}

void
rd_msgq_fini(struct rd_msgq *q)
{
	free(q->ring);
	memset(q, 0, sizeof *q);
}

int
rd_msg_blank(const char *body, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r' && body[i] != '\n')
			return 0;
	return 1;
}

size_t
rd_msg_copy(const char *body, size_t len, size_t *off, char *buf, size_t room)
{
	size_t k = len + 1 - *off < room ? len + 1 - *off : room, i;

	for (i = 0; i < k; i++) {
		size_t at = *off + i;
		char ch = at < len ? body[at] : '\n';
		buf[i] = at < len && (ch == '\n' || ch == '\r') ? ' ' : ch;
	}
	*off += k;
	return k;
}

int
rd_msg_unlogged(const char *reason)
{
	return reason && (strcmp(reason, "shutting down") == 0 || strcmp(reason, "cannot log the event") == 0);
}

void
rd_msg_log_invalid(const char *msg, const char *where, const char *reason, long off)
{
	struct rd_buf b;

	rd_buf_init(&b);
	rd_buf_puts(&b, where);
	rd_buf_puts(&b, ",\"reason\":");
	rd_buf_json_str(&b, reason, strlen(reason));
	rd_buf_printf(&b, ",\"byte\":%ld", off);
	if (!b.oom)
		rd_log(RD_LOG_WARN, msg, "%s", b.p);
	rd_buf_fini(&b);
}
