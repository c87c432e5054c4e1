/*
 * buf.h -- routed's growable byte buffer and the small JSON helpers the
 * service needs around libroute: escaping strings for responses and logs,
 * and finding value boundaries (splitting batches, reading one top-level
 * member for the shard key).
 *
 * The helpers do not validate: every event is validated by libroute's
 * flattener (route_match) before it is accepted; these only need to be safe
 * (bounded, never reading past len) on any input.
 */
#ifndef RD_BUF_H
#define RD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct rd_buf {
	char *p;        /* owns: the bytes (NUL-terminated when len < cap), or NULL */
	size_t len;     /* bytes used */
	size_t cap;     /* bytes allocated */
	int oom;        /* an append failed: the content is truncated */
};

void rd_buf_init(struct rd_buf *b);
void rd_buf_fini(struct rd_buf *b);
/* Appends; on out-of-memory sets b->oom and keeps what it had. Return 0 or -1. */
/* Makes room for n more bytes (and a NUL) at once. Returns 0, or -1 (b->oom set). */
int rd_buf_reserve(struct rd_buf *b, size_t n);
int rd_buf_append(struct rd_buf *b, const void *data, size_t n);
int rd_buf_puts(struct rd_buf *b, const char *s);
int rd_buf_printf(struct rd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rd_buf_vprintf(struct rd_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s[0..n) as a JSON string literal, quotes included. */
int rd_buf_json_str(struct rd_buf *b, const char *s, size_t n);
/* Appends what fmt formats as a JSON string literal, quotes included. */
int rd_buf_json_strf(struct rd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Index of the first non-whitespace byte at or after i (len if none). */
size_t rd_json_ws(const char *s, size_t len, size_t i);
/*
 * The end (one past) of the JSON value starting at s[i], found by skipping
 * strings (with escapes) and balancing brackets; (size_t)-1 when the value is
 * cut off by len. Does not validate what it skips.
 */
size_t rd_json_value_end(const char *s, size_t len, size_t i);
/*
 * Finds the member name of the top-level object s[0..len): on success sets
 * *v, *vlen to its value's raw JSON text (borrowed from s) and returns 1;
 * 0 when absent or s is not a well-bracketed object.
 */
int rd_json_member(const char *s, size_t len, const char *name, const char **v, size_t *vlen);
/* The same, a string's value without its quotes (still escaped): a message key's text. */
int rd_json_member_text(const char *s, size_t len, const char *name, const char **v, size_t *vlen);

#endif
