/*
 * gen.h -- the program and event generator of the differential index test
 * (diff_index.c): shared types, the field model and the operator families.
 *
 * gen_rules.c writes contracts and rules (dg_contracts, dg_rule,
 * dg_source) and owns the constant pools; gen_events.c writes events for a
 * generated program (dg_event). Everything is drawn from a seeded splitmix64
 * generator, so a seed gives the same program and events on every machine.
 * Memory: a struct sbuf owns its text (sb_free); a struct gen owns the texts
 * of its rules (freed with dg_free).
 */
#ifndef DG_GEN_H
#define DG_GEN_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small utilities (inline: each generator file uses its own) ---------------- */

struct rng {
	uint64_t s;
};

/* splitmix64: tiny, good enough, and the same on every platform. */
static inline uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A number in [0, n); n > 0. */
static inline uint32_t
rnd(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

/* True with probability pct percent. */
static inline int
chance(struct rng *r, unsigned pct)
{
	return rnd(r, 100) < pct;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(r, a) ((a)[rnd((r), (uint32_t)NELEM(a))])

/* A growing text buffer; owns p (NUL-terminated once anything was written). */
struct sbuf {
	char *p;
	size_t len, cap;
};

static inline void
sb_grow(struct sbuf *b, size_t need)
{
	if (b->len + need + 1 <= b->cap)
		return;
	while (b->len + need + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 256;
	if ((b->p = realloc(b->p, b->cap)) == NULL) {
		fprintf(stderr, "diff_index: out of memory\n");
		exit(2);
	}
}

static inline void
sb_putn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void
sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static inline void
sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

static inline void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sb_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static inline void
sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static inline void
sb_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Decodes one UTF-8 sequence at s (valid input); returns its length, *cp the code point. */
static inline size_t
utf8_dec(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] < 0xe0) {
		*cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
		return 2;
	}
	if (s[0] < 0xf0) {
		*cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
		return 3;
	}
	*cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12)
		| ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
	return 4;
}

/*
 * Writes s as a JSON (= Route) string literal. With probability esc_pct per
 * character, a character that needs no escape is written as \uXXXX anyway
 * (UTF-16 surrogate pairs above U+FFFF) or '/' as \/, so that decoding is
 * exercised: "\u0041" must read and index as "A".
 */
static inline void
put_str(struct sbuf *b, struct rng *r, const char *s, unsigned esc_pct)
{
	const unsigned char *p = (const unsigned char *)s;

	sb_putc(b, '"');
	while (*p) {
		uint32_t cp;
		size_t n = utf8_dec(p, &cp);

		if (cp == '"' || cp == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)cp);
		} else if (cp < 0x20) {
			sb_printf(b, "\\u%04x", (unsigned)cp);
		} else if (esc_pct && chance(r, esc_pct)) {
			if (cp == '/' && chance(r, 50))
				sb_puts(b, "\\/");
			else if (cp >= 0x10000)
				sb_printf(b, "\\u%04x\\u%04x", 0xd800 + ((cp - 0x10000) >> 10),
					0xdc00 + ((cp - 0x10000) & 0x3ff));
			else
				sb_printf(b, chance(r, 50) ? "\\u%04x" : "\\u%04X", (unsigned)cp);
		} else {
			sb_putn(b, (const char *)p, n);
		}
		p += n;
	}
	sb_putc(b, '"');
}

/* Flips the ASCII case of some letters of s into out (cap bytes). */
static inline void
case_variant(struct rng *r, const char *s, char *out, size_t cap)
{
	size_t i, n = strlen(s);

	if (n >= cap)
		n = cap - 1;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (chance(r, 40) && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			c ^= 0x20;
		out[i] = c;
	}
	out[n] = '\0';
}

/* ---- the field model ------------------------------------------------------------------------ */

/* A pool of strings (borrowed, static). */
struct dg_strs {
	const char *const *v;
	uint32_t n;
};
#define DG_PICK(r, p) ((p).v[rnd((r), (p).n)])

enum vt { VT_STR, VT_NUM, VT_BOOL, VT_IP, VT_ENUM, VT_TIME, VT_ANY };

/* Field groups: one top-level declaration each (G_ENV: the envelope attributes). */
enum {
	G_S, G_T, G_CODE, G_N, G_K, G_B, G_IP, G_IPS, G_LVL, G_TAGS, G_NUMS, G_O, G_ITEMS, G_A,
	G_TS, G_GRID, G_ENV, NGROUPS
};

/* A path a rule may read. */
struct leaf {
	const char *path;        /* as written in a rule */
	enum vt t;
	int arr;                 /* an array, or reached through one */
	int group;
	int settable;            /* a declared scalar outside arrays, not an attribute */
	const char *const *pool; /* values of its kind (strings); NULL: by type */
	uint32_t npool;
};

/* Event types: ev.a and ev.b (1 or 2 versions), drv (what rules emit). */
enum { T_A, T_B, T_DRV, NTYPES };
#define DRV_MASK ((1u << G_S) | (1u << G_N) | (1u << G_TAGS))
#define MAXC 6

struct contract {
	int type, version;
	uint32_t mask;           /* field groups it declares */
};

extern const struct leaf dg_leaves[];     /* every path a rule may read */
extern const uint32_t dg_nleaves;
extern const char *const dg_type_name[NTYPES];
extern const struct dg_strs dg_str_pool, dg_enum_pool, dg_time_pool, dg_ip_ev_pool, dg_id_pool,
	dg_source_pool;
extern const double dg_num_pool[];
extern const uint32_t dg_num_pool_n;

/* ---- operator families ---------------------------------------------------------- */

/*
 * The families of a predicate, for the statistics. The first block are the
 * shapes the shared index recognises (or will) as a rule's first must-hold
 * conjunct: each must both match and miss often enough in a run.
 */
#define FAMILIES(X) \
	X(EQ, "==") X(IN, "in [..]") X(IEQ, "ieq") X(PREFIX, "prefix") X(SUFFIX, "suffix") \
	X(CONTAINS, "contains") X(IPREFIX, "iprefix") X(ISUFFIX, "isuffix") \
	X(ICONTAINS, "icontains") X(LIKE, "like") X(ILIKE, "ilike") X(MATCHES, "matches") \
	X(IMATCHES, "imatches") X(LT, "<") X(LE, "<=") X(GT, ">") X(GE, ">=") \
	X(RANGE, "in a..b") X(RANGEX, "in a..<b") X(CIDR, "in NET") \
	X(NE, "!=") X(NOTIN, "not in [..]") X(INE, "ine") X(NOTCIDR, "not in NET") \
	X(EXISTS, "exists") X(MISSING, "missing") X(BOOL, "bare bool") X(FIELDS, "field op field") \
	X(ARITH, "arithmetic") X(FUNC, "function") X(CONSTLEFT, "constant op field") \
	X(NOT, "not (..)") X(OR, "(.. or ..)") X(NONE, "no condition")
#define X_ENUM(name, text) F_##name,
enum family { FAMILIES(X_ENUM) NFAM };
#undef X_ENUM
extern const char *const dg_family_name[NFAM]; /* "==", "in [..]", ... */
#define NINDEXFAM (F_CIDR + 1)

/* ---- the generator's state ------------------------------------------------------------ */

#define MAXRULES 240

enum rkind { RK_ROUTE, RK_SET, RK_EMIT, RK_OTHERWISE };

struct gen {
	struct rng r;
	struct contract c[MAXC];
	int nc;
	int type_first[NTYPES], type_n[NTYPES];
	int nrules;
	struct sbuf rule[MAXRULES];  /* owns: each rule's text, one line */
	int lead[MAXRULES];          /* family of its first conjunct */
	int lead_must_of[MAXRULES];  /* ... and it must hold for the rule to match */
	enum rkind kind[MAXRULES];
	unsigned rejected;           /* rules the compiler proved can never match */
	char kstr[256][48];          /* strings the rules use (decoded), for events to hit */
	uint32_t nkstr;
	double knum[128];            /* numbers the rules use */
	uint32_t nknum;
	struct rng er;               /* the events' generator */
};

/* Draws the contracts of g's program (g->r seeded by the caller). */
void dg_contracts(struct gen *g);
/* (Re)writes rule i of g's program into g->rule[i]. */
void dg_rule(struct gen *g, int i);
/* The whole source into src; rule i is on line *first_line + i. */
void dg_source(struct gen *g, struct sbuf *src, int *first_line);
/* One event (JSON text, possibly invalid on purpose) into b, from g->er. */
void dg_event(struct gen *g, struct sbuf *b);
/* Frees what g owns. */
void dg_free(struct gen *g);

#endif
