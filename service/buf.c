/*
 * buf.c -- growable buffer and JSON boundary helpers (see buf.h).
 * Owns nothing global; every function works on the caller's memory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
rd_buf_init(struct rd_buf *b)
{
	memset(b, 0, sizeof *b);
}

void
rd_buf_fini(struct rd_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Makes room for n more bytes plus a NUL. Returns 0, or -1 (b->oom set). */
static int
buf_reserve(struct rd_buf *b, size_t n)
{
	size_t want, cap;
	char *p;

	if (b->oom)
		return -1;
	if (n > (size_t)-1 / 2 - b->len)
		goto oom;
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		goto oom;
	b->p = p;
	b->cap = cap;
	return 0;
oom:
	b->oom = 1;
	return -1;
}

int
rd_buf_reserve(struct rd_buf *b, size_t n)
{
	return buf_reserve(b, n);
}

int
rd_buf_append(struct rd_buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
rd_buf_puts(struct rd_buf *b, const char *s)
{
	return rd_buf_append(b, s, strlen(s));
}

int
rd_buf_vprintf(struct rd_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
rd_buf_printf(struct rd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = rd_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
rd_buf_json_str(struct rd_buf *b, const char *s, size_t n)
{
	size_t i, run = 0;
	char esc[8];

	rd_buf_append(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rd_buf_append(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': rd_buf_append(b, "\\\"", 2); break;
		case '\\': rd_buf_append(b, "\\\\", 2); break;
		case '\n': rd_buf_append(b, "\\n", 2); break;
		case '\r': rd_buf_append(b, "\\r", 2); break;
		case '\t': rd_buf_append(b, "\\t", 2); break;
		default:
			snprintf(esc, sizeof esc, "\\u%04x", c);
			rd_buf_append(b, esc, 6);
		}
	}
	rd_buf_append(b, s + run, n - run);
	return rd_buf_append(b, "\"", 1);
}

int
rd_buf_json_strf(struct rd_buf *b, const char *fmt, ...)
{
	struct rd_buf t;
	va_list ap;
	int rc = -1;

	rd_buf_init(&t);
	va_start(ap, fmt);
	rd_buf_vprintf(&t, fmt, ap);
	va_end(ap);
	if (t.oom)
		b->oom = 1;
	else
		rc = rd_buf_json_str(b, t.p ? t.p : "", t.len);
	rd_buf_fini(&t);
	return rc;
}

size_t
rd_json_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/*
 * The index of the '"' closing a string whose contents start at s[i], or
 * len. memchr finds each candidate quote (long strings, such as a padded
 * note, are most of an event's bytes); it is escaped when an odd number of
 * backslashes precede it.
 */
static size_t
string_close(const char *s, size_t len, size_t i)
{
	const char *q;
	size_t b;

	while (i < len && (q = memchr(s + i, '"', len - i))) {
		size_t at = (size_t)(q - s);
		for (b = 0; at - b > i && s[at - b - 1] == '\\'; b++)
			;
		if (b % 2 == 0)
			return at;
		i = at + 1;
	}
	return len;
}

size_t
rd_json_value_end(const char *s, size_t len, size_t i)
{
	size_t depth = 0;

	if (i >= len)
		return (size_t)-1;
	if (s[i] != '{' && s[i] != '[' && s[i] != '"') {
		/* a scalar: up to the next structural character or whitespace */
		while (i < len && !strchr(",]} \t\r\n", s[i]))
			i++;
		return i;
	}
	for (; i < len; i++) {
		switch (s[i]) {
		case '"':
			i = string_close(s, len, i + 1);
			if (i >= len)
				return (size_t)-1;
			if (depth == 0)
				return i + 1;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return (size_t)-1;
			if (--depth == 0)
				return i + 1;
			break;
		default:
			break;
		}
	}
	return (size_t)-1;
}

int
rd_json_member(const char *s, size_t len, const char *name, const char **v, size_t *vlen)
{
	size_t i, nlen = strlen(name), kstart, kend, vstart, vend;

	i = rd_json_ws(s, len, 0);
	if (i >= len || s[i] != '{')
		return 0;
	i = rd_json_ws(s, len, i + 1);
	if (i < len && s[i] == '}')
		return 0;
	for (;;) {
		if (i >= len || s[i] != '"')
			return 0;
		kstart = i + 1;
		kend = rd_json_value_end(s, len, i);
		if (kend == (size_t)-1)
			return 0;
		i = rd_json_ws(s, len, kend);
		if (i >= len || s[i] != ':')
			return 0;
		vstart = rd_json_ws(s, len, i + 1);
		vend = rd_json_value_end(s, len, vstart);
		if (vend == (size_t)-1 || vend == vstart)
			return 0;
		/* the key's raw text is s[kstart, kend - 1); escaped keys never match */
		if (kend - 1 - kstart == nlen && memcmp(s + kstart, name, nlen) == 0) {
			*v = s + vstart;
			*vlen = vend - vstart;
			return 1;
		}
		i = rd_json_ws(s, len, vend);
		if (i >= len || s[i] != ',')
			return 0;
		i = rd_json_ws(s, len, i + 1);
	}
}

int
rd_json_member_text(const char *s, size_t len, const char *name, const char **v, size_t *vlen)
{
	if (!rd_json_member(s, len, name, v, vlen))
		return 0;
	if (*vlen >= 2 && (*v)[0] == '"') {
		(*v)++;
		*vlen -= 2;
	}
	return 1;
}
