/*
 * event.c -- the flattener (event.h): one strict pass over an event's JSON
 * that validates it and records, as slices, the values at the program's
 * field paths.
 *
 * Invariants owned here: no allocation and no recursion per event (the
 * nesting stack, duplicate-key stamps and key-decoding buffer live in the
 * caller's scratch, sized by rv_scanner_scratch_size); every read of buf is
 * preceded by a check against len; each byte is looked at a bounded number
 * of times (an AUTO event whose "data" comes before "specversion" has its
 * data object walked a second time, see rv_event_scan). The trie
 * (event_int.h), built by rv_scanner_new in runtime/event_trie.c, is only
 * read here, so one scanner serves all threads.
 * Shares the value model (struct rv_jval) with runtime/route.c and
 * runtime/json_out.c; tests: tests/unit/check_event.c, tests/json/,
 * tests/fuzz/fuzz_event.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event_int.h"

#ifdef RV_HAVE_SSE2
#include <emmintrin.h>
#endif

/* ---- trie lookup ----------------------------------------------------------- */

/*
 * Returns the child of node n named k[0..klen) (decoded bytes), or RV_NONE.
 */
static inline uint32_t
kid_find(const struct rv_scanner *sc, const struct tnode *n, const unsigned char *k,
	uint32_t klen)
{
	uint32_t i, id, h;

	if (n->nkid <= SMALL_KIDS) {
		for (i = 0; i < n->nkid; i++) {
			const struct tnode *c = &sc->nodes[sc->kids[n->kid0 + i]];

			if (c->nlen == klen && memcmp(sc->names + c->name, k, klen) == 0)
				return sc->kids[n->kid0 + i];
		}
		return RV_NONE;
	}
	h = key_hash(k, klen);
	for (i = h & n->hmask;; i = (i + 1) & n->hmask) {
		const struct tnode *c;

		id = sc->ht[n->ht0 + i];
		if (id == RV_NONE)
			return RV_NONE;
		c = &sc->nodes[id];
		if (c->hash == h && c->nlen == klen && memcmp(sc->names + c->name, k, klen) == 0)
			return id;
	}
}

/* ---- per-worker scratch ----------------------------------------------------
 *
 *   scratch[0]                 object instance counter (duplicate-key stamps)
 *   scratch[1]                 fields set by the previous scan (count)
 *   scratch[SC_HDR ..]         stamps: per trie node, the last object instance
 *                              in which its key was seen
 *   ... + nnodes               touched: the fields set by the previous scan
 *   ... + nfields              stack: 4 words per open object or array
 *   ... + 4 * max_depth        key buffer: maxseg bytes for decoding escaped keys
 */
#define SC_HDR 2u

size_t
rv_scanner_scratch_size(const struct rv_scanner *sc)
{
	return SC_HDR + (size_t)sc->nnodes + sc->nfields + 4 * (size_t)sc->cfg.max_depth
	       + ((size_t)sc->maxseg + 3) / 4;
}

void
rv_event_init(const struct rv_scanner *sc, struct rv_event *ev)
{
	uint32_t f;

	for (f = 0; f < sc->nfields; f++)
		ev->first[f] = RV_NONE;
	memset(ev->scratch, 0, rv_scanner_scratch_size(sc) * sizeof *ev->scratch);
	ev->nvals = 0;
}

/* ---- scanning ------------------------------------------------------------- */

enum { M_PLAIN, M_CE, M_UNDECIDED };

/* One scan's state (on rv_event_scan's stack). */
struct sx {
	const struct rv_scanner *sc;
	const unsigned char *b;
	uint32_t len;
	struct rv_jval *vals;
	uint32_t nvals, maxv;
	uint32_t *stamps;        /* scratch: per node */
	uint32_t *stack;         /* scratch: 4 words per frame */
	unsigned char *keybuf;   /* scratch: maxseg bytes */
	uint32_t inst;           /* last object instance id handed out */
	int mode;                /* M_*: which envelope this event is (so far) */
	int plain_full;          /* UNDECIDED: plain values overflowed; record nothing more */
	enum rv_simd simd;       /* sc->cfg.simd: the level of skip_plain and skip_digits */
	const char *err;         /* the error (static), NULL while none */
	uint32_t err_off;
	const char *perr;        /* UNDECIDED: first error that only a plain event has */
	uint32_t perr_off;
	const char *cerr;        /* UNDECIDED: first error that only a CloudEvents event has */
	uint32_t cerr_off;
	uint32_t tm;             /* top node of the top-level member being read, or RV_NONE */
	uint32_t tm_start;       /* its value's first byte */
	int data_seen;           /* "data" member present ... */
	int data_done;           /* ... and already walked as the CloudEvents payload */
	uint32_t data_off, data_len;
	struct rv_jval mplain[RV_META_N], mce[RV_META_N];
	uint8_t hplain[RV_META_N], hce[RV_META_N];
};

/* Byte classes inside strings: 0 plain, 1 '"', 2 '\\', 3 control, 4 non-ASCII. */
static const uint8_t strclass[256] = {
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)
#define IS_ALNUM(c) (IS_DIGIT(c) || ((unsigned)(c) | 0x20u) - 'a' < 26u)

/* Sets the error (first one wins) and returns -1. */
static int
fail(struct sx *x, uint32_t off, const char *reason)
{
	if (x->err == NULL) {
		x->err = reason;
		x->err_off = off;
	}
	return -1;
}

/*
 * An error that depends on the envelope (duplicate key, too many values)
 * found below a plain-payload node: final once the envelope is known,
 * remembered while it is not (see event.h). Returns -1 when final.
 */
static int
plain_error(struct sx *x, uint32_t off, const char *reason)
{
	if (x->mode != M_UNDECIDED)
		return fail(x, off, reason);
	if (x->perr == NULL) {
		x->perr = reason;
		x->perr_off = off;
	}
	return 0;
}

/* A fresh object instance id (never 0; on wrap-around every stamp is cleared). */
static inline uint32_t
new_inst(struct sx *x)
{
	if (++x->inst == 0) {
		memset(x->stamps, 0, x->sc->nnodes * sizeof *x->stamps);
		x->inst = 1;
	}
	return x->inst;
}

/*
 * Records one value per field ending at node (their `next` holds the field
 * until rv_event_scan links the chains). Sets *vi to the first value's
 * index, or RV_NONE if nothing was recorded. Returns -1 on a final error.
 */
static int
record(struct sx *x, uint32_t node, unsigned kind, uint32_t off, uint32_t len, unsigned flags,
	uint32_t *vi)
{
	const struct tnode *n = &x->sc->nodes[node];
	uint32_t i;

	*vi = RV_NONE;
	if (x->plain_full)
		return 0;
	if (n->nfld > x->maxv - x->nvals) {
		if (x->mode == M_UNDECIDED)
			x->plain_full = 1;
		return plain_error(x, kind == RV_J_STRING ? off - 1 : off, "too many values");
	}
	*vi = x->nvals;
	for (i = 0; i < n->nfld; i++) {
		struct rv_jval *v = &x->vals[x->nvals++];

		v->off = off;
		v->len = len;
		v->kind = (uint8_t)kind;
		v->flags = (uint8_t)flags;
		v->reserved = 0;
		v->next = x->sc->flds[n->fld0 + i];
	}
	return 0;
}

#define IS_XDIGIT(c) (IS_DIGIT(c) || ((unsigned)(c) | 0x20u) - 'a' < 6u)

/* The value of the 4 hex digits at s, or -1 if one is not a hex digit. */
static inline int32_t
hex4(const unsigned char *s)
{
	int32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned c = s[i];

		if (IS_DIGIT(c))
			c -= '0';
		else if ((c | 0x20u) - 'a' < 6u)
			c = (c | 0x20u) - 'a' + 10;
		else
			return -1;
		v = v << 4 | (int32_t)c;
	}
	return v;
}

/*
 * Checks the \u escape at b[p] ('\\'), p + 2 <= len, when fewer than 4 hex
 * digits may remain: "invalid \\u escape" if a present byte is not hex,
 * else "unterminated string". Returns 0 (the error is set).
 */
static uint32_t
short_u(struct sx *x, uint32_t p)
{
	uint32_t k;

	for (k = p + 2; k < x->len && k < p + 6; k++)
		if (!IS_XDIGIT(x->b[k]))
			return (void)fail(x, p, "invalid \\u escape"), 0;
	return (void)fail(x, x->len, "unterminated string"), 0;
}

#define SFAIL(off, why) return (void)fail(x, (off), (why)), 0u

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/*
 * Returns the offset of the first byte at or after p that is not plain
 * string content ('"', '\\', < 0x20, >= 0x80), or len. Eight bytes at a
 * time as in skip_digits: (w - k*ONES) & ~w & HIGHS flags bytes below k;
 * borrows only disturb bytes above the lowest flagged one. Measured by
 * hand: an 895-byte event of prose strings 432 -> 277 ns; citylots (short
 * strings) unchanged within noise.
 */
static inline uint32_t
skip_plain_c(const unsigned char *b, uint32_t p, uint32_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
	while (len - p >= 8) {
		uint64_t w, q, bs, m;

		memcpy(&w, b + p, 8);
		q = w ^ (0x22 * ONES);
		bs = w ^ (0x5c * ONES);
		m = (((w - 0x20 * ONES) & ~w) | w | ((q - ONES) & ~q) | ((bs - ONES) & ~bs)) & HIGHS;
		if (m != 0)
			return p + (uint32_t)__builtin_ctzll(m) / 8;
		p += 8;
	}
#endif
	while (p < len && strclass[b[p]] == 0)
		p++;
	return p;
}

/*
 * Returns the offset of the first non-digit at or after p (or len). Eight
 * bytes at a time on little-endian machines: a byte c is a digit iff its
 * high nibble is 3 both in c and in c + 6. A carry out of a byte >= 0xFA
 * can only disturb the bytes above it, and that byte is already a
 * non-digit, so the lowest flagged byte is exact. The citylots event's
 * coordinates (15-digit fractions): 611 -> 524 ns per event, measured by
 * hand (the unit tests do no timing).
 */
static inline uint32_t
skip_digits_c(const unsigned char *b, uint32_t p, uint32_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
	const uint64_t hi = 0xf0f0f0f0f0f0f0f0ull, three = 0x3030303030303030ull;

	while (len - p >= 8) {
		uint64_t w, nd;

		memcpy(&w, b + p, 8);
		nd = ((w & hi) ^ three) | (((w + 0x0606060606060606ull) & hi) ^ three);
		if (nd != 0)
			return p + (uint32_t)__builtin_ctzll(nd) / 8;
		p += 8;
	}
#endif
	while (p < len && IS_DIGIT(b[p]))
		p++;
	return p;
}

#ifdef RV_HAVE_SSE2
/*
 * skip_plain_c, 16 bytes at a time: '"' and '\\' by equality, and one
 * signed comparison with 0x20 flags both the control characters and the
 * bytes >= 0x80 (negative as int8). Loads stay inside b[p..len): the
 * last < 16 bytes go to skip_plain_c.
 */
static inline uint32_t
skip_plain_sse2(const unsigned char *b, uint32_t p, uint32_t len)
{
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);

	while (len - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + p));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
			_mm_cmpeq_epi8(v, bslash)), _mm_cmplt_epi8(v, space));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits != 0)
			return p + (uint32_t)__builtin_ctz(bits);
		p += 16;
	}
	return skip_plain_c(b, p, len);
}

/*
 * skip_digits_c, 16 bytes at a time: c - '0' + 0x80 is below 0x8A (as
 * int8: -118) exactly for the digits. Tail as in skip_plain_sse2.
 */
static inline uint32_t
skip_digits_sse2(const unsigned char *b, uint32_t p, uint32_t len)
{
	const __m128i shift = _mm_set1_epi8((char)(0x80 - '0'));
	const __m128i limit = _mm_set1_epi8((char)(0x80 + 10));

	while (len - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + p));
		__m128i dig = _mm_cmplt_epi8(_mm_add_epi8(v, shift), limit);
		unsigned bits = (unsigned)_mm_movemask_epi8(dig) ^ 0xffffu;

		if (bits != 0)
			return p + (uint32_t)__builtin_ctz(bits);
		p += 16;
	}
	return skip_digits_c(b, p, len);
}
#endif

/* The first byte at or after p that is not JSON whitespace, or len (portable). */
static inline uint32_t
skip_ws_c(const unsigned char *b, uint32_t p, uint32_t len)
{
	while (p < len && IS_WS(b[p]))
		p++;
	return p;
}

#ifdef RV_HAVE_SSE2
/* skip_ws_c, 16 bytes at a time (four equalities); tail as in skip_plain_sse2. */
static inline uint32_t
skip_ws_sse2(const unsigned char *b, uint32_t p, uint32_t len)
{
	const __m128i sp = _mm_set1_epi8(' '), nl = _mm_set1_epi8('\n');
	const __m128i cr = _mm_set1_epi8('\r'), tab = _mm_set1_epi8('\t');

	while (len - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + p));
		__m128i ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, nl)),
			_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, tab)));
		unsigned bits = (unsigned)_mm_movemask_epi8(ws) ^ 0xffffu;

		if (bits != 0)
			return p + (uint32_t)__builtin_ctz(bits);
		p += 16;
	}
	return skip_ws_c(b, p, len);
}
#endif

/*
 * skip_ws_* at the scanner's level; called by SKIP_WS only after one
 * whitespace byte, so compact events (no whitespace) never get here and
 * pay one compare per token (measurements at SKIP_WS).
 */
static uint32_t
skip_ws(const struct sx *x, uint32_t p)
{
#ifdef RV_HAVE_SSE2
	if (x->simd != RV_SIMD_NONE)
		return skip_ws_sse2(x->b, p, x->len);
#endif
	return skip_ws_c(x->b, p, x->len);
}

/* skip_plain_* at the scanner's level. */
static inline uint32_t
skip_plain(const struct sx *x, uint32_t p)
{
#ifdef RV_HAVE_SSE2
	if (x->simd != RV_SIMD_NONE)
		return skip_plain_sse2(x->b, p, x->len);
#endif
	return skip_plain_c(x->b, p, x->len);
}

/* skip_digits_* at the scanner's level. */
static inline uint32_t
skip_digits(const struct sx *x, uint32_t p)
{
#ifdef RV_HAVE_SSE2
	if (x->simd != RV_SIMD_NONE)
		return skip_digits_sse2(x->b, p, x->len);
#endif
	return skip_digits_c(x->b, p, x->len);
}

/*
 * Scans the string whose opening quote is at p. Returns the offset after
 * its closing quote (sets *esc when it has escapes), or 0 with the error set.
 * Checks: escapes (\u: 4 hex digits, surrogates paired), UTF-8 (shortest
 * form, no surrogates, <= U+10FFFF), no raw control characters, max_string.
 */
static uint32_t
scan_string(struct sx *x, uint32_t p, int *esc)
{
	const unsigned char *b = x->b;
	const uint32_t len = x->len;
	const uint32_t s = p++;
	unsigned c, lo, hi, k, n;
	int32_t cp;

	*esc = 0;
	for (;;) {
		p = skip_plain(x, p);
		if (p >= len)
			SFAIL(len, "unterminated string");
		c = b[p];
		switch (strclass[c]) {
		case 1:
			if (p - s - 1 > x->sc->cfg.max_string)
				SFAIL(s, "string longer than the limit");
			return p + 1;
		case 2:
			*esc = 1;
			if (len - p < 2)
				SFAIL(len, "unterminated string");
			switch (b[p + 1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				p += 2;
				continue;
			case 'u':
				break;
			default:
				SFAIL(p, "invalid escape");
			}
			if (len - p < 6)
				return short_u(x, p);
			if ((cp = hex4(b + p + 2)) < 0)
				SFAIL(p, "invalid \\u escape");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				SFAIL(p, "lone surrogate");
			if (cp < 0xd800 || cp > 0xdbff) {
				p += 6;
				continue;
			}
			/* a high surrogate: \uDC00..\uDFFF must follow at once */
			if (len - p < 7 || (b[p + 6] == '\\' && len - p < 8))
				SFAIL(len, "unterminated string");
			if (b[p + 6] != '\\' || b[p + 7] != 'u')
				SFAIL(p, "lone surrogate");
			if (len - p < 12)
				return short_u(x, p + 6);
			if ((cp = hex4(b + p + 8)) < 0)
				SFAIL(p + 6, "invalid \\u escape");
			if (cp < 0xdc00 || cp > 0xdfff)
				SFAIL(p, "lone surrogate");
			p += 12;
			continue;
		case 3:
			SFAIL(p, "control character in string");
		default:
			/* UTF-8: C2..DF + 1; E0 A0..BF; ED 80..9F; F0 90..BF; F4 80..8F (RFC 3629) */
			if (c < 0xc2 || c > 0xf4)
				SFAIL(p, "invalid UTF-8");
			n = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
			lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
			for (k = 1; k <= n; k++) {
				if (p + k >= len)
					SFAIL(len, "unterminated string");
				if (b[p + k] < lo || b[p + k] > hi)
					SFAIL(p, "invalid UTF-8");
				lo = 0x80;
				hi = 0xbf;
			}
			p += n + 1;
			continue;
		}
	}
}

/*
 * What the byte after a digit run means in a number: the end of it, a
 * fraction, an exponent, or (letters, digits, signs) "invalid number". One
 * load instead of up to seven compares per part: citylots exact 1 rule
 * 14,350 -> 13,952 Ir/ev (callgrind, 10,000 events).
 */
enum { NT_END, NT_POINT, NT_EXP, NT_BAD };
static const uint8_t numtail[256] = {
	['0' ... '9'] = NT_BAD, ['a' ... 'd'] = NT_BAD, ['e'] = NT_EXP, ['f' ... 'z'] = NT_BAD,
	['A' ... 'D'] = NT_BAD, ['E'] = NT_EXP, ['F' ... 'Z'] = NT_BAD,
	['+'] = NT_BAD, ['-'] = NT_BAD, ['.'] = NT_POINT,
};

/*
 * Scans the number at p (b[p] is '-' or a digit):
 *   number = [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ( "e" / "E" ) [ "+" / "-" ] 1*DIGIT ]
 * Returns the offset after it (sets *isint when there is no fraction or
 * exponent), or 0 with the error set.
 */
static inline __attribute__((always_inline)) uint32_t
scan_number(struct sx *x, uint32_t p, int *isint)
{
	const unsigned char *b = x->b;
	const uint32_t len = x->len;
	const uint32_t s = p;
	unsigned t;

	*isint = 1;
	if (b[p] == '-' && ++p >= len)
		SFAIL(s, "missing digits after minus sign");
	if (b[p] == '0') {
		if (++p < len && IS_DIGIT(b[p]))
			SFAIL(p - 1, "leading zero in number");
	} else if (IS_DIGIT(b[p])) {
		p = skip_digits(x, p + 1);
	} else {
		SFAIL(s, "missing digits after minus sign");
	}
	t = p < len ? numtail[b[p]] : NT_END;
	if (t == NT_POINT) {
		*isint = 0;
		if (++p >= len || !IS_DIGIT(b[p]))
			SFAIL(p, "missing digits after decimal point");
		p = skip_digits(x, p + 1);
		t = p < len ? numtail[b[p]] : NT_END;
	}
	if (t == NT_EXP) {
		*isint = 0;
		if (++p < len && (b[p] == '+' || b[p] == '-'))
			p++;
		if (p >= len || !IS_DIGIT(b[p]))
			SFAIL(p, "missing digits in exponent");
		p = skip_digits(x, p + 1);
		t = p < len ? numtail[b[p]] : NT_END;
	}
	if (p - s > RV_JSON_NUMBER_MAX)
		SFAIL(s, "number longer than the limit");
	if (t != NT_END)
		SFAIL(p, "invalid number");
	return p;
}

/*
 * Decodes the escaped key s[0..n) (validated) into out[0..cap). Returns the
 * decoded length, or cap + 1 as soon as it would not fit: such a key is
 * longer than every trie name, so it matches none.
 */
static uint32_t
key_decode(const unsigned char *s, uint32_t n, unsigned char *out, uint32_t cap)
{
	uint32_t i = 0, o = 0, cp;

	while (i < n) {
		unsigned char tmp[4];
		uint32_t k = 1;

		if (s[i] != '\\') {
			tmp[0] = s[i++];
		} else if (s[i + 1] != 'u') {
			switch (s[i + 1]) {
			case 'b': tmp[0] = '\b'; break;
			case 'f': tmp[0] = '\f'; break;
			case 'n': tmp[0] = '\n'; break;
			case 'r': tmp[0] = '\r'; break;
			case 't': tmp[0] = '\t'; break;
			default: tmp[0] = s[i + 1]; break;
			}
			i += 2;
		} else {
			cp = (uint32_t)hex4(s + i + 2);
			i += 6;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)hex4(s + i + 2) - 0xdc00);
				i += 6;
			}
			if (cp < 0x80) {
				tmp[0] = (unsigned char)cp;
			} else if (cp < 0x800) {
				tmp[0] = (unsigned char)(0xc0 | cp >> 6);
				tmp[1] = (unsigned char)(0x80 | (cp & 0x3f));
				k = 2;
			} else if (cp < 0x10000) {
				tmp[0] = (unsigned char)(0xe0 | cp >> 12);
				tmp[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
				tmp[2] = (unsigned char)(0x80 | (cp & 0x3f));
				k = 3;
			} else {
				tmp[0] = (unsigned char)(0xf0 | cp >> 18);
				tmp[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
				tmp[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
				tmp[3] = (unsigned char)(0x80 | (cp & 0x3f));
				k = 4;
			}
		}
		if (k > cap - o)
			return cap + 1;
		memcpy(out + o, tmp, k);
		o += k;
	}
	return o;
}

/* The slice of the complete value b[s..e) as an rv_jval (next = RV_NONE). */
static struct rv_jval
slice(const unsigned char *b, uint32_t s, uint32_t e)
{
	struct rv_jval v;
	uint32_t i;

	memset(&v, 0, sizeof v);
	v.off = s;
	v.len = e - s;
	v.next = RV_NONE;
	switch (b[s]) {
	case '"':
		v.kind = RV_J_STRING;
		v.off = s + 1;
		v.len = e - s - 2;
		if (memchr(b + s + 1, '\\', v.len) != NULL)
			v.flags = RV_JF_ESCAPED;
		break;
	case '{': v.kind = RV_J_OBJECT; break;
	case '[': v.kind = RV_J_ARRAY; break;
	case 't': v.kind = RV_J_TRUE; break;
	case 'f': v.kind = RV_J_FALSE; break;
	case 'n': v.kind = RV_J_NULL; break;
	default:
		v.kind = RV_J_NUMBER;
		v.flags = RV_JF_INT;
		for (i = s; i < e; i++)
			if (b[i] == '.' || (b[i] | 0x20) == 'e')
				v.flags = 0;
		break;
	}
	return v;
}

/*
 * A top-level member's key matched top node t (or nothing: RV_NONE); its
 * value starts at voff. Checks duplicates per envelope, switches an
 * undecided event to CloudEvents at "specversion", and returns the node the
 * value is walked with (RV_NONE: only validated), or -2 on error.
 */
static int64_t
top_key(struct sx *x, uint32_t t, uint32_t koff, uint32_t voff, uint32_t inst)
{
	const struct tnode *tn;
	int prel, crel;

	x->tm = t;
	if (t == RV_NONE)
		return RV_NONE;
	tn = &x->sc->nodes[t];
	x->tm_start = voff;
	prel = tn->pnode != RV_NONE || tn->meta_plain >= 0 || (tn->flags & TN_SPEC);
	crel = tn->meta_ce >= 0 || (tn->flags & (TN_DATA | TN_SPEC));
	if (x->stamps[t] == inst) {
		if ((x->mode == M_PLAIN && prel) || (x->mode == M_CE && crel) || (prel && crel))
			return fail(x, koff, "duplicate key") * 2;
		if (prel)
			plain_error(x, koff, "duplicate key");
		else if (x->cerr == NULL) {
			x->cerr = "duplicate key";
			x->cerr_off = koff;
		}
	}
	x->stamps[t] = inst;
	if ((tn->flags & TN_SPEC) && x->mode == M_UNDECIDED) {
		/* a CloudEvents event: the plain reading's values and findings go */
		x->mode = M_CE;
		x->nvals = 0;
		x->plain_full = 0;
		x->perr = NULL;
		if (x->cerr != NULL)
			return fail(x, x->cerr_off, x->cerr) * 2;
	}
	if (x->mode != M_CE)
		return tn->pnode;
	if (tn->flags & TN_DATA) {
		x->data_done = 1;
		return x->b[voff] == '{' ? PROOT : RV_NONE;
	}
	return RV_NONE;
}

/* The value of the top-level member read by top node x->tm ended at e. */
static void
top_value(struct sx *x, uint32_t e)
{
	const struct tnode *tn = &x->sc->nodes[x->tm];
	struct rv_jval v = slice(x->b, x->tm_start, e);

	if (tn->meta_plain >= 0) {
		x->mplain[tn->meta_plain] = v;
		x->hplain[tn->meta_plain] = 1;
	}
	if (tn->meta_ce >= 0) {
		x->mce[tn->meta_ce] = v;
		x->hce[tn->meta_ce] = 1;
	}
	if (tn->flags & TN_DATA) {
		x->data_seen = 1;
		x->data_off = x->tm_start;
		x->data_len = e - x->tm_start;
	}
	x->tm = RV_NONE;
}

/* Stack frames: 4 scratch words each. */
#define F_NODE(i) st[4 * (i)]     /* node whose children are this object's keys /
                                     whose fields this array's elements feed, or RV_NONE */
#define F_INST(i) st[4 * (i) + 1] /* objects on a path: instance id for duplicate stamps */
#define F_VI(i)   st[4 * (i) + 2] /* first value recorded for the container, or RV_NONE */
#define F_ARR(i)  st[4 * (i) + 3] /* bit 0: array (else object); above: values recorded */

#define FAIL(off, why) do { fail(x, (off), (why)); return -1; } while (0)
/*
 * (Whitespace runs through skip_ws, after one compare. Callgrind Ir per
 * event against the inline byte loop: the routing events pretty-printed
 * with 4-space indentation (5,000, 1.9 KB on average), exact 1 rule,
 * 25,231 -> 18,695 (25,593 with the portable code); compact events gain
 * from the smaller walkers: citylots exact 1 rule 12,540 -> 11,974,
 * routing exact 1 rule 14,264 -> 13,400.)
 */
#define SKIP_WS() do { if (p < len && IS_WS(b[p])) p = skip_ws(x, p + 1); } while (0)

/*
 * Validates the container at p (b[p] is '{' or '['): the value of a member
 * or element no rule reads, inside d open frames. The grammar, the checks
 * and the error offsets are walk's, state for state (value, after, key,
 * close), without the trie, the recording and the envelope: each frame is
 * one word (F_ARR: 1 array, 0 object) in the frames above d. Returns the
 * offset after the container, or 0 with the error set. Citylots exact 1
 * rule (the geometry object skipped here): 13,952 -> 12,540 Ir/ev
 * (callgrind, 10,000 events; scan_number is forced inline into both
 * walkers: once it had two callers GCC made it a call, 13,532 Ir/ev),
 * 1.71 -> 1.77 M events/s. walk_all (tests) turns it off.
 */
static uint32_t
skip_container(struct sx *x, uint32_t p, uint32_t d)
{
	const unsigned char *b = x->b;
	const uint32_t len = x->len;
	const uint32_t maxd = x->sc->cfg.max_depth, d0 = d;
	uint32_t *st = x->stack;
	uint32_t q;
	int esc, isint;

open: /* b[p] is '{' or '[' */
	if (d >= maxd)
		SFAIL(p, "nesting deeper than the limit");
	if (b[p] == '[') {
		F_ARR(d) = 1;
		d++;
		p++;
		SKIP_WS();
		if (p >= len)
			SFAIL(len, "unterminated array");
		if (b[p] == ']') {
			p++;
			goto close;
		}
		goto value;
	}
	F_ARR(d) = 0;
	d++;
	p++;
	SKIP_WS();
	if (p >= len)
		SFAIL(len, "unterminated object");
	if (b[p] == '}') {
		p++;
		goto close;
	}
	goto key;

value:
	switch (b[p]) {
	case '"':
		if ((q = scan_string(x, p, &esc)) == 0)
			return 0;
		p = q;
		goto after;
	case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
	case '8': case '9':
		if ((q = scan_number(x, p, &isint)) == 0)
			return 0;
		p = q;
		goto after;
	case '{':
	case '[':
		goto open;
	case 't':
		if (len - p < 4 || memcmp(b + p, "true", 4) != 0)
			SFAIL(p, "invalid literal");
		q = p + 4;
		goto literal;
	case 'f':
		if (len - p < 5 || memcmp(b + p, "false", 5) != 0)
			SFAIL(p, "invalid literal");
		q = p + 5;
		goto literal;
	case 'n':
		if (len - p < 4 || memcmp(b + p, "null", 4) != 0)
			SFAIL(p, "invalid literal");
		q = p + 4;
	literal:
		if (q < len && IS_ALNUM(b[q]))
			SFAIL(p, "invalid literal");
		p = q;
		goto after;
	case '+': case '.':
		SFAIL(p, "invalid number");
	default:
		if (IS_ALNUM(b[p]))
			SFAIL(p, "invalid literal");
		SFAIL(p, "expected a value");
	}

after:
	SKIP_WS();
	if (F_ARR(d - 1)) {
		if (p >= len)
			SFAIL(len, "unterminated array");
		if (b[p] == ']') {
			p++;
			goto close;
		}
		if (b[p] != ',')
			SFAIL(p, "expected ',' or ']' in array");
		p++;
		SKIP_WS();
		if (p >= len)
			SFAIL(len, "unterminated array");
		if (b[p] == ']')
			SFAIL(p, "trailing comma in array");
		goto value;
	}
	if (p >= len)
		SFAIL(len, "unterminated object");
	if (b[p] == '}') {
		p++;
		goto close;
	}
	if (b[p] != ',')
		SFAIL(p, "expected ',' or '}' in object");
	p++;
	SKIP_WS();
	if (p >= len)
		SFAIL(len, "unterminated object");
	if (b[p] == '}')
		SFAIL(p, "trailing comma in object");

key:
	if (b[p] != '"')
		SFAIL(p, "expected a member name");
	if ((q = scan_string(x, p, &esc)) == 0)
		return 0;
	p = q;
	SKIP_WS();
	if (p >= len)
		SFAIL(len, "unterminated object");
	if (b[p] != ':')
		SFAIL(p, "expected ':' after member name");
	p++;
	SKIP_WS();
	if (p >= len)
		SFAIL(len, "unterminated object");
	goto value;

close:
	if (--d == d0)
		return p;
	goto after;
}

/*
 * Walks the object at p (b[p] == '{'), whose keys are looked up among the
 * children of root; top: it is the document, and its members are the
 * envelope. The loop has four states: value (b[p] starts a value whose node
 * is cur), after (a value ended at p), key (b[p] should start a member
 * name), close (a container ended at p). Sets *endp after the object's '}'.
 * Returns 0, or -1 with the error set.
 */
static int
walk(struct sx *x, uint32_t p, uint32_t root, int top, uint32_t *endp)
{
	const unsigned char *b = x->b;
	const uint32_t len = x->len;
	const struct rv_scanner *sc = x->sc;
	const struct tnode *nodes = sc->nodes;
	const uint32_t maxd = sc->cfg.max_depth;
	const int walk_all = sc->cfg.walk_all;
	uint32_t *st = x->stack;
	uint32_t d, cur, q, vi, fn, koff;
	int esc, isint;
	int64_t r;

	if (maxd == 0)
		FAIL(p, "nesting deeper than the limit");
	F_NODE(0) = root;
	F_INST(0) = new_inst(x);
	F_VI(0) = RV_NONE;
	F_ARR(0) = 0;
	d = 1;
	p++;
	goto obj_open;

value:
	switch (b[p]) {
	case '"':
		if ((q = scan_string(x, p, &esc)) == 0)
			return -1;
		if (cur != RV_NONE && nodes[cur].nfld
		    && record(x, cur, RV_J_STRING, p + 1, q - p - 2, esc ? RV_JF_ESCAPED : 0, &vi) < 0)
			return -1;
		p = q;
		goto after;
	case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
	case '8': case '9':
		if ((q = scan_number(x, p, &isint)) == 0)
			return -1;
		if (cur != RV_NONE && nodes[cur].nfld
		    && record(x, cur, RV_J_NUMBER, p, q - p, isint ? RV_JF_INT : 0, &vi) < 0)
			return -1;
		p = q;
		goto after;
	case '{':
		if (cur == RV_NONE && !walk_all)
			goto skip;
		if (d >= maxd)
			FAIL(p, "nesting deeper than the limit");
		vi = RV_NONE;
		if (cur != RV_NONE && nodes[cur].nfld && record(x, cur, RV_J_OBJECT, p, 0, 0, &vi) < 0)
			return -1;
		if (cur != RV_NONE && nodes[cur].nkid) {
			F_NODE(d) = cur;
			F_INST(d) = new_inst(x);
		} else {
			F_NODE(d) = RV_NONE;
		}
		F_VI(d) = vi;
		F_ARR(d) = vi == RV_NONE ? 0 : nodes[cur].nfld << 1;
		d++;
		p++;
	obj_open:
		SKIP_WS();
		if (p >= len)
			FAIL(len, "unterminated object");
		if (b[p] == '}') {
			p++;
			goto close;
		}
		goto key;
	case '[':
		if (cur == RV_NONE && !walk_all)
			goto skip;
		if (d >= maxd)
			FAIL(p, "nesting deeper than the limit");
		vi = RV_NONE;
		if (cur != RV_NONE && (nodes[cur].nfld | nodes[cur].nkid)) {
			/* the marker, unless this array is an element of one at the same node */
			if (nodes[cur].nfld && !((F_ARR(d - 1) & 1) && F_NODE(d - 1) == cur)
			    && record(x, cur, RV_J_ARRAY, p, 0, 0, &vi) < 0)
				return -1;
			F_NODE(d) = cur;
		} else {
			F_NODE(d) = RV_NONE;
		}
		F_VI(d) = vi;
		F_ARR(d) = vi == RV_NONE ? 1 : 1 | nodes[cur].nfld << 1;
		d++;
		p++;
		SKIP_WS();
		if (p >= len)
			FAIL(len, "unterminated array");
		if (b[p] == ']') {
			p++;
			goto close;
		}
		cur = F_NODE(d - 1);
		goto value;
	case 't':
		if (len - p < 4 || memcmp(b + p, "true", 4) != 0)
			FAIL(p, "invalid literal");
		q = p + 4;
		isint = RV_J_TRUE;
		goto literal;
	case 'f':
		if (len - p < 5 || memcmp(b + p, "false", 5) != 0)
			FAIL(p, "invalid literal");
		q = p + 5;
		isint = RV_J_FALSE;
		goto literal;
	case 'n':
		if (len - p < 4 || memcmp(b + p, "null", 4) != 0)
			FAIL(p, "invalid literal");
		q = p + 4;
		isint = RV_J_NULL;
	literal:
		if (q < len && IS_ALNUM(b[q]))
			FAIL(p, "invalid literal");
		if (cur != RV_NONE && nodes[cur].nfld
		    && record(x, cur, (unsigned)isint, p, q - p, 0, &vi) < 0)
			return -1;
		p = q;
		goto after;
	case '+': case '.':
		FAIL(p, "invalid number");
	default:
		if (IS_ALNUM(b[p]))
			FAIL(p, "invalid literal");
		FAIL(p, "expected a value");
	}

skip: /* a container no rule reads (skip_container) */
	if ((q = skip_container(x, p, d)) == 0)
		return -1;
	p = q;

after:
	if (top && d == 1 && x->tm != RV_NONE)
		top_value(x, p);
	SKIP_WS();
	if (F_ARR(d - 1) & 1) {
		if (p >= len)
			FAIL(len, "unterminated array");
		if (b[p] == ']') {
			p++;
			goto close;
		}
		if (b[p] != ',')
			FAIL(p, "expected ',' or ']' in array");
		p++;
		SKIP_WS();
		if (p >= len)
			FAIL(len, "unterminated array");
		if (b[p] == ']')
			FAIL(p, "trailing comma in array");
		cur = F_NODE(d - 1);
		goto value;
	}
	if (p >= len)
		FAIL(len, "unterminated object");
	if (b[p] == '}') {
		p++;
		goto close;
	}
	if (b[p] != ',')
		FAIL(p, "expected ',' or '}' in object");
	p++;
	SKIP_WS();
	if (p >= len)
		FAIL(len, "unterminated object");
	if (b[p] == '}')
		FAIL(p, "trailing comma in object");

key:
	if (b[p] != '"')
		FAIL(p, "expected a member name");
	koff = p;
	if ((q = scan_string(x, p, &esc)) == 0)
		return -1;
	cur = RV_NONE;
	fn = F_NODE(d - 1);
	if (fn != RV_NONE) {
		if (!esc) {
			cur = kid_find(sc, &nodes[fn], b + p + 1, q - p - 2);
		} else {
			uint32_t n = key_decode(b + p + 1, q - p - 2, x->keybuf, sc->maxseg);

			if (n <= sc->maxseg)
				cur = kid_find(sc, &nodes[fn], x->keybuf, n);
		}
	}
	p = q;
	SKIP_WS();
	if (p >= len)
		FAIL(len, "unterminated object");
	if (b[p] != ':')
		FAIL(p, "expected ':' after member name");
	p++;
	SKIP_WS();
	if (p >= len)
		FAIL(len, "unterminated object");
	if (top && d == 1) {
		if ((r = top_key(x, cur, koff, p, F_INST(0))) < -1)
			return -1;
		cur = (uint32_t)r;
	} else if (cur != RV_NONE) {
		if (x->stamps[cur] == F_INST(d - 1) && plain_error(x, koff, "duplicate key") < 0)
			return -1;
		x->stamps[cur] = F_INST(d - 1);
	}
	goto value;

close:
	d--;
	if ((vi = F_VI(d)) != RV_NONE) {
		uint32_t i, s = x->vals[vi].off;

		for (i = 0; i < F_ARR(d) >> 1; i++)
			x->vals[vi + i].len = p - s;
	}
	if (d == 0) {
		*endp = p;
		return 0;
	}
	goto after;
}

/*
 * Scans one event. After the document is walked the envelope is known:
 * an AUTO event that met "specversion" after "data" has its data object
 * walked again with the payload paths (the first walk validated it and read
 * it as a plain event's "data" member). Then the @meta fields get their
 * copies of the attributes and the values are chained per field, in order.
 */
int
rv_event_scan(const struct rv_scanner *sc, const char *buf, size_t len, struct rv_event *ev,
	struct rv_scan_error *err)
{
	struct sx x;
	const unsigned char *b = (const unsigned char *)buf;
	uint32_t *touched = ev->scratch + SC_HDR + sc->nnodes;
	uint32_t p = 0, e, i, f, nt = ev->scratch[1];
	int m;

	/* forget the previous event's fields */
	for (i = 0; i < nt; i++)
		ev->first[touched[i]] = RV_NONE;
	ev->scratch[1] = 0;
	ev->nvals = 0;

	memset(&x, 0, sizeof x);
	x.sc = sc;
	x.b = b;
	x.vals = ev->vals;
	x.maxv = sc->cfg.max_values;
	x.stamps = ev->scratch + SC_HDR;
	x.stack = touched + sc->nfields;
	x.keybuf = (unsigned char *)(x.stack + 4 * (size_t)sc->cfg.max_depth);
	x.inst = ev->scratch[0];
	x.tm = RV_NONE;
	x.simd = sc->cfg.simd;
	x.mode = sc->cfg.envelope == RV_ENV_PLAIN ? M_PLAIN
	         : sc->cfg.envelope == RV_ENV_CLOUDEVENTS ? M_CE : M_UNDECIDED;

	if (len > sc->cfg.max_bytes) {
		fail(&x, sc->cfg.max_bytes, "event larger than the limit");
		goto failed;
	}
	x.len = (uint32_t)len;
	while (p < x.len && IS_WS(b[p]))
		p++;
	if (p >= x.len) {
		fail(&x, p, "empty event");
		goto failed;
	}
	if (b[p] != '{') {
		if (x.len - p >= 3 && memcmp(b + p, "\xef\xbb\xbf", 3) == 0)
			fail(&x, p, "byte order mark before the event");
		else
			fail(&x, p, "event is not a JSON object");
		goto failed;
	}
	ev->payload_off = p;
	if (walk(&x, p, TROOT, 1, &e) < 0)
		goto failed;
	ev->payload_len = e - p;
	if (x.mode == M_UNDECIDED) {
		x.mode = M_PLAIN;
		if (x.perr != NULL) {
			fail(&x, x.perr_off, x.perr);
			goto failed;
		}
	}
	for (p = e; p < x.len && IS_WS(b[p]); p++)
		;
	if (p < x.len) {
		fail(&x, p, "trailing characters after the event");
		goto failed;
	}
	if (x.mode == M_CE) {
		ev->payload_off = ev->payload_len = 0;
		if (x.data_seen && b[x.data_off] == '{') {
			ev->payload_off = x.data_off;
			ev->payload_len = x.data_len;
			if (!x.data_done && walk(&x, x.data_off, PROOT, 0, &e) < 0)
				goto failed;
		}
	}
	ev->cloudevents = x.mode == M_CE;
	for (m = 0; m < RV_META_N; m++) {
		int has = x.mode == M_CE ? x.hce[m] : x.hplain[m];

		ev->has_meta[m] = (uint8_t)has;
		if (has) {
			ev->meta[m] = x.mode == M_CE ? x.mce[m] : x.mplain[m];
		} else {
			memset(&ev->meta[m], 0, sizeof ev->meta[m]);
			ev->meta[m].kind = RV_J_NULL;
			ev->meta[m].next = RV_NONE;
		}
	}
	for (i = 0; i < sc->nmetaf; i++) {
		if (!ev->has_meta[sc->metaf[i].m])
			continue;
		if (x.nvals == x.maxv) {
			const struct rv_jval *v = &ev->meta[sc->metaf[i].m];

			fail(&x, v->kind == RV_J_STRING ? v->off - 1 : v->off, "too many values");
			goto failed;
		}
		x.vals[x.nvals] = ev->meta[sc->metaf[i].m];
		x.vals[x.nvals++].next = sc->metaf[i].field;
	}
	/* chain each field's values; remember which fields we set */
	for (i = 0, nt = 0; i < x.nvals; i++) {
		f = x.vals[i].next;
		x.vals[i].next = RV_NONE;
		if (ev->first[f] == RV_NONE) {
			ev->first[f] = i;
			touched[nt++] = f;
		} else {
			x.vals[ev->last[f]].next = i;
		}
		ev->last[f] = i;
	}
	ev->scratch[1] = nt;
	ev->scratch[0] = x.inst;
	ev->nvals = x.nvals;
	return 0;
failed:
	ev->scratch[0] = x.inst;
	ev->nvals = 0;
	err->offset = x.err_off;
	err->reason = x.err;
	return -1;
}

/* Decoding never grows a string: each escape is at least as long as its UTF-8. */
size_t
rv_json_unescape(const char *buf, const struct rv_jval *s, char *out)
{
	if (!(s->flags & RV_JF_ESCAPED)) {
		memcpy(out, buf + s->off, s->len);
		return s->len;
	}
	return key_decode((const unsigned char *)buf + s->off, s->len, (unsigned char *)out,
		s->len);
}
