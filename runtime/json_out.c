/*
 * json_out.c -- writing JSON: `set` edits applied to an event's bytes, the
 * bodies of `emit` events, string quoting and number formatting; see
 * json_out.h (the contract) and event.h (the validator that runs first).
 *
 * Invariants owned here: nothing is allocated; nothing recurses on the depth
 * of the input (values are skipped by a bracket counter); every read of the
 * document is bounds-checked against its current length, so random bytes are
 * refused instead of overread; every byte not under an edited path is copied
 * unchanged. Edits are applied one after another, in place, inside out[].
 */
#include "config.h"
#include "json_out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reasons (static, for *why). */
static const char R_NOTOBJ[] = "not a JSON object";
static const char R_MALFORMED[] = "malformed JSON";
static const char R_NONOBJ[] = "path goes through a non-object value";
static const char R_DATA[] = "\"data\" is not an object";
static const char R_FIT[] = "output does not fit";
static const char R_PATH[] = "empty path";
static const char R_VALUE[] = "empty value";

/* ---- quoting ------------------------------------------------------------ */

/* Bytes rv_json_quote writes for one byte c (without the quotes). */
static size_t
quote_width(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f')
		return 2;
	if (c < 0x20)
		return 6; /* \u00XX */
	return 1;
}

/* Length of s[0..len) quoted, quotes included. */
static size_t
quote_len(const char *s, size_t len)
{
	size_t i, n = 2;

	for (i = 0; i < len; i++)
		n += quote_width((unsigned char)s[i]);
	return n;
}

/* Writes s[0..len) quoted at out (quote_len(s, len) bytes, unchecked). */
static void
quote_write(const char *s, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	char *p = out;

	*p++ = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '"': *p++ = '\\'; *p++ = '"'; break;
		case '\\': *p++ = '\\'; *p++ = '\\'; break;
		case '\n': *p++ = '\\'; *p++ = 'n'; break;
		case '\t': *p++ = '\\'; *p++ = 't'; break;
		case '\r': *p++ = '\\'; *p++ = 'r'; break;
		case '\b': *p++ = '\\'; *p++ = 'b'; break;
		case '\f': *p++ = '\\'; *p++ = 'f'; break;
		default:
			if (c < 0x20) {
				memcpy(p, "\\u00", 4);
				p[4] = hex[c >> 4];
				p[5] = hex[c & 15];
				p += 6;
			} else {
				*p++ = (char)c;
			}
		}
	}
	*p = '"';
}

size_t
rv_json_quote(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = quote_len(s, len);

	if (n > cap)
		return 0;
	quote_write(s, len, out);
	return n;
}

/* ---- numbers ------------------------------------------------------------ */

size_t
rv_json_double(double d, char *out, size_t cap)
{
	char tmp[40];
	int n = 0, prec;
	char *p;

	if (isnan(d) || isinf(d)) {
		memcpy(tmp, "null", 4);
		n = 4;
	} else if (d == floor(d) && fabs(d) < 9007199254740992.0) {
		/* Exact integer: no fraction, no exponent; -0 prints as "0". */
		n = snprintf(tmp, sizeof tmp, "%lld", (long long)d);
	} else {
		for (prec = 15; prec <= 17; prec++) {
			n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
			if (prec == 17 || strtod(tmp, NULL) == d)
				break;
		}
		/* A locale with a decimal comma would make invalid JSON. */
		for (p = tmp; *p != '\0'; p++)
			if (*p == ',')
				*p = '.';
	}
	if (n <= 0 || (size_t)n > cap)
		return 0;
	memcpy(out, tmp, (size_t)n);
	return (size_t)n;
}

/* ---- the skipper -------------------------------------------------------- */

/*
 * The document being walked: d[0..len). Positions are offsets; a function
 * that fails returns SIZE_MAX. None of them validates more than it needs to
 * stay inside d; the input has been validated by event.c.
 */
#define BAD ((size_t)-1)

/* JSON blank (RFC 8259 ws). */
static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* First non-whitespace position at or after p (len if none). */
static size_t
skip_ws(const char *d, size_t len, size_t p)
{
	while (p < len && is_ws(d[p]))
		p++;
	return p;
}

/* d[p] is '"': returns the position after the closing quote, or BAD. */
static size_t
skip_string(const char *d, size_t len, size_t p)
{
	for (p++; p < len; p++) {
		if (d[p] == '\\')
			p++; /* the escaped byte (\uXXXX: the hex digits need no care) */
		else if (d[p] == '"')
			return p + 1;
	}
	return BAD;
}

/*
 * Returns the position after the value starting at d[p], or BAD. Objects
 * and arrays are skipped with one depth counter (brackets are not matched
 * by kind: the input is valid), so nesting costs no stack.
 */
static size_t
skip_value(const char *d, size_t len, size_t p)
{
	size_t depth = 0, start = p;

	if (p >= len)
		return BAD;
	if (d[p] == '"')
		return skip_string(d, len, p);
	if (d[p] == '{' || d[p] == '[') {
		while (p < len) {
			switch (d[p]) {
			case '"':
				if ((p = skip_string(d, len, p)) == BAD)
					return BAD;
				continue;
			case '{':
			case '[':
				depth++;
				break;
			case '}':
			case ']':
				if (--depth == 0)
					return p + 1;
				break;
			default:
				break;
			}
			p++;
		}
		return BAD;
	}
	/* A number or a literal: up to a delimiter. */
	while (p < len && !is_ws(d[p]) && d[p] != ',' && d[p] != '}' && d[p] != ']' && d[p] != ':'
	    && d[p] != '"' && d[p] != '{' && d[p] != '[')
		p++;
	return p == start ? BAD : p;
}

/* Value of hex digit c, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads 4 hex digits at d[p..p+4) into *u; returns 0 or -1. */
static int
hex4(const char *d, size_t end, size_t p, unsigned *u)
{
	int i, h;

	if (p > end || end - p < 4)
		return -1;
	*u = 0;
	for (i = 0; i < 4; i++) {
		if ((h = hexval(d[p + (size_t)i])) < 0)
			return -1;
		*u = (*u << 4) | (unsigned)h;
	}
	return 0;
}

/*
 * Compares the raw key d[p..end) (between the quotes, still escaped) with the
 * decoded key k[0..klen). Returns 1 if the decoded key equals k. \uXXXX is
 * decoded to UTF-8 (a surrogate pair to one 4-byte sequence; a lone
 * surrogate to its 3-byte form, which no valid UTF-8 key matches).
 */
static int
key_equal(const char *d, size_t p, size_t end, const char *k, size_t klen)
{
	size_t ki = 0;

	while (p < end) {
		char u8[4];
		size_t n = 1;

		if (d[p] != '\\') {
			u8[0] = d[p++];
		} else {
			if (end - p < 2)
				return 0;
			switch (d[p + 1]) {
			case '"': u8[0] = '"'; break;
			case '\\': u8[0] = '\\'; break;
			case '/': u8[0] = '/'; break;
			case 'b': u8[0] = '\b'; break;
			case 'f': u8[0] = '\f'; break;
			case 'n': u8[0] = '\n'; break;
			case 'r': u8[0] = '\r'; break;
			case 't': u8[0] = '\t'; break;
			case 'u': {
				unsigned c, lo;

				if (hex4(d, end, p + 2, &c) < 0)
					return 0;
				p += 4;
				if (c >= 0xd800 && c < 0xdc00 && end - p >= 8 && d[p + 2] == '\\'
				    && d[p + 3] == 'u' && hex4(d, end, p + 4, &lo) == 0 && lo >= 0xdc00
				    && lo < 0xe000) {
					c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
				if (c < 0x80) {
					u8[0] = (char)c;
				} else if (c < 0x800) {
					u8[0] = (char)(0xc0 | (c >> 6));
					u8[1] = (char)(0x80 | (c & 0x3f));
					n = 2;
				} else if (c < 0x10000) {
					u8[0] = (char)(0xe0 | (c >> 12));
					u8[1] = (char)(0x80 | ((c >> 6) & 0x3f));
					u8[2] = (char)(0x80 | (c & 0x3f));
					n = 3;
				} else {
					u8[0] = (char)(0xf0 | (c >> 18));
					u8[1] = (char)(0x80 | ((c >> 12) & 0x3f));
					u8[2] = (char)(0x80 | ((c >> 6) & 0x3f));
					u8[3] = (char)(0x80 | (c & 0x3f));
					n = 4;
				}
				break;
			}
			default:
				return 0;
			}
			p += 2;
		}
		if (klen - ki < n || memcmp(k + ki, u8, n) != 0)
			return 0;
		ki += n;
	}
	return ki == klen;
}

/* Where a key was found, or where it would be appended. */
struct find {
	int found;        /* 1: the key is at vs..ve; 0: append at ins */
	size_t vs, ve;    /* found: its value's bytes */
	size_t ins;       /* not found: after the last value, or after '{' */
	int empty;        /* not found: the object has no member (no comma) */
};

/*
 * d[p] is '{': looks for the first member named k[0..klen) (decoded).
 * Returns 0 and fills *f, or -1 if the object is malformed.
 */
static int
find_key(const char *d, size_t len, size_t p, const char *k, size_t klen, struct find *f)
{
	size_t ks, ke, vs, ve;

	memset(f, 0, sizeof *f);
	p = skip_ws(d, len, p + 1);
	if (p < len && d[p] == '}') {
		f->empty = 1;
		f->ins = p; /* right after '{' or its blanks: `{ }` -> `{ "k":v}` */
		return 0;
	}
	for (;;) {
		if (p >= len || d[p] != '"')
			return -1;
		ks = p + 1;
		if ((p = skip_string(d, len, p)) == BAD)
			return -1;
		ke = p - 1;
		p = skip_ws(d, len, p);
		if (p >= len || d[p] != ':')
			return -1;
		vs = skip_ws(d, len, p + 1);
		if ((ve = skip_value(d, len, vs)) == BAD)
			return -1;
		if (key_equal(d, ks, ke, k, klen)) {
			f->found = 1;
			f->vs = vs;
			f->ve = ve;
			return 0;
		}
		p = skip_ws(d, len, ve);
		if (p < len && d[p] == ',') {
			p = skip_ws(d, len, p + 1);
			continue;
		}
		if (p < len && d[p] == '}') {
			f->ins = ve;
			return 0;
		}
		return -1;
	}
}

/* ---- one edit ----------------------------------------------------------- */

/*
 * Replaces d[s..e) (document length *dlen, buffer cap) with room for ins
 * bytes: moves the tail and returns the position to write at, or BAD if the
 * result would not fit (d unchanged).
 */
static size_t
splice(char *d, size_t *dlen, size_t cap, size_t s, size_t e, size_t ins)
{
	size_t keep = *dlen - e; /* bytes after the replaced range */

	if (s > cap || ins > cap - s || keep > cap - s - ins)
		return BAD;
	memmove(d + s + ins, d + e, keep);
	*dlen = s + ins + keep;
	return s;
}

/*
 * Sets the path segs[0..nseg) to json inside the object at d[p] ('{').
 * Missing keys are appended with the objects they need:
 *     ,"k1":{"k2":{"k3":json}}
 * Returns 0, or -1 with *why.
 */
static int
edit_one(char *d, size_t *dlen, size_t cap, size_t p, const char *const *segs,
	const size_t *seglens, unsigned nseg, const char *json, size_t jlen, const char **why)
{
	struct find f;
	unsigned i, j;
	size_t need, w;

	for (i = 0;; i++) {
		if (find_key(d, *dlen, p, segs[i], seglens[i], &f) < 0) {
			*why = R_MALFORMED;
			return -1;
		}
		if (!f.found)
			break;
		if (i + 1 == nseg) {
			if ((w = splice(d, dlen, cap, f.vs, f.ve, jlen)) == BAD) {
				*why = R_FIT;
				return -1;
			}
			memcpy(d + w, json, jlen);
			return 0;
		}
		if (d[f.vs] != '{') {
			*why = R_NONOBJ;
			return -1;
		}
		p = f.vs;
	}
	/* Append segs[i..nseg) at f.ins: size first, then write in place. */
	if (jlen >= cap)
		goto nofit;
	need = (f.empty ? 0 : 1) + jlen;
	for (j = i; j < nseg; j++) {
		size_t q = quote_len(segs[j], seglens[j]);

		if (q > cap || need > cap - q || cap - q - need < 3)
			goto nofit;
		need += q + 1 + (j > i ? 2 : 0); /* "k": and, nested, { } */
	}
	if ((w = splice(d, dlen, cap, f.ins, f.ins, need)) == BAD)
		goto nofit;
	if (!f.empty)
		d[w++] = ',';
	for (j = i; j < nseg; j++) {
		if (j > i)
			d[w++] = '{';
		quote_write(segs[j], seglens[j], d + w);
		w += quote_len(segs[j], seglens[j]);
		d[w++] = ':';
	}
	memcpy(d + w, json, jlen);
	w += jlen;
	for (j = i + 1; j < nseg; j++)
		d[w++] = '}';
	return 0;
nofit:
	*why = R_FIT;
	return -1;
}

/* ---- the API ------------------------------------------------------------ */

int
rv_json_edit(const char *buf, size_t len, int in_data, const struct rv_json_member *m,
	unsigned n, char *out, size_t cap, size_t *outlen, const char **why)
{
	static const char *const data_seg[1] = { "data" };
	static const size_t data_len[1] = { 4 };
	const char *ignored_why; /* where *why goes when the caller passes NULL */
	size_t dlen, root;
	unsigned k;

	if (why == NULL)
		why = &ignored_why;
	*why = NULL;
	if (buf == NULL && len > 0) {
		*why = R_NOTOBJ;
		return -1;
	}
	if (len > cap) {
		*why = R_FIT;
		return -1;
	}
	if (len > 0)
		memmove(out, buf, len);
	dlen = len;
	root = 0;
	if (dlen >= 3 && memcmp(out, "\xef\xbb\xbf", 3) == 0)
		root = 3; /* a UTF-8 BOM, as the flattener accepts */
	root = skip_ws(out, dlen, root);
	if (root >= dlen || out[root] != '{') {
		*why = R_NOTOBJ;
		return -1;
	}
	for (k = 0; k < n; k++) {
		const struct rv_json_member *e = &m[k];
		struct find f;
		size_t obj = root;

		if (e->nseg == 0) {
			*why = R_PATH;
			return -1;
		}
		if (e->len == 0) {
			*why = R_VALUE;
			return -1;
		}
		if (in_data) {
			/* Into "data", created as {"data":{path}} when missing. */
			if (find_key(out, dlen, root, "data", 4, &f) < 0) {
				*why = R_MALFORMED;
				return -1;
			}
			if (!f.found) {
				if (edit_one(out, &dlen, cap, root, data_seg, data_len, 1, "{}", 2, why) < 0)
					return -1;
				if (find_key(out, dlen, root, "data", 4, &f) < 0 || !f.found) {
					*why = R_MALFORMED;
					return -1;
				}
			}
			if (out[f.vs] != '{') {
				*why = R_DATA;
				return -1;
			}
			obj = f.vs;
		}
		if (edit_one(out, &dlen, cap, obj, e->segs, e->seglens, e->nseg, e->json, e->len,
			why) < 0)
			return -1;
	}
	*outlen = dlen;
	return 0;
}

int
rv_json_object(const struct rv_json_member *m, unsigned n, char *out, size_t cap,
	size_t *outlen)
{
	/* The same edits applied to "{}": shared prefixes, first-appearance order. */
	return rv_json_edit("{}", 2, 0, m, n, out, cap, outlen, NULL);
}
