/*
 * diff_index.c -- differential test of the shared index (issue #4): the
 * routing phase through the index must decide exactly as evaluating every
 * rule in turn (route_options.no_index = 1, the reference).
 *
 * For each seed, gen.c-style code below writes a random but valid Route
 * program (contracts with versions, nested objects, arrays, enums, ip, time
 * and any fields; rules of every operator family, as the first must-hold
 * conjunct and elsewhere; transforms, emits, otherwise rules) and random
 * events over the same small pool of constants, so that rules overlap and
 * events hit them. The program is compiled in memory (rc_compile_string)
 * and loaded twice; every event goes through both matchers, and the whole
 * decisions (status, reason, offset, type, version, rules in order,
 * destinations, sets, emits, output bytes) and route_explain() of every
 * rule must be identical. On a difference the seed, the program, the event
 * and both decisions are printed and the test fails. It also fails when the
 * generator writes programs the compiler rejects (other than rules it
 * proves can never match, which are regenerated and counted), or when too
 * few decisions match anything (a vacuous pass).
 *
 *   diff_index [-n PROGRAMS] [-e EVENTS] [-s FIRST_SEED] [-1 SEED [-w PREFIX]] [-v]
 *   (-w writes the program and the events of the seed to PREFIX.route and
 *   PREFIX.events, for routec run with and without --no-index)
 *   env: DIFF_INDEX_PROGRAMS, DIFF_INDEX_EVENTS, DIFF_INDEX_SEED
 *
 * make check runs the default (a fixed set of seeds). Everything is
 * deterministic: a seed gives the same program and events on every run.
 * Memory: every struct sbuf owns its text; a struct gen owns its rule texts;
 * the image (ru_free), programs and matchers are freed per seed.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "driver.h"
#include "route.h"

/* ---- small utilities ------------------------------------------------------ */

struct rng {
	uint64_t s;
};

/* splitmix64: tiny, good enough, and the same on every platform. */
static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A number in [0, n); n > 0. */
static uint32_t
rnd(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

/* True with probability pct percent. */
static int
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

static void
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

static void
sb_putn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void
sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
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

static void
sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static void
sb_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Decodes one UTF-8 sequence at s (valid input); returns its length, *cp the code point. */
static size_t
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
static void
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

/* ---- the shared pools ------------------------------------------------------- */

/* Strings: case variants, prefixes of one another, wildcard characters, UTF-8. */
static const char *const str_pool[] = {
	"alpha", "alp", "Alpha", "ALPHA", "alphabet", "beta", "bet", "Beta", "gamma", "",
	"a", "A", "x-1", "x-10", "x-2", "X-1", "foo.bar", "foo", "bar", "a*c", "a?c", "abc",
	"aXc", "a\\c", "caf\xc3\xa9", "CAF\xc3\x89", "Caf\xc3\xa9", "caf", "\xc3\xa9",
	"\xce\xb1\xce\xb2\xce\xb3", "\xf0\x9f\x9a\x80", "na\xc3\xafve", "vip", "VIP", "lph",
	" alpha", "alpha ", "/x/y",
};
static const char *const enum_pool[] = { "lo", "mid", "hi", "Hi" };
static const char *const time_pool[] = {
	"2024-01-01T00:00:00Z", "2024-06-30T12:00:00+02:00", "2025-01-01T00:00:00Z",
	"2024-01-01t00:00:00z", "2024",
};
static const char *const type_pool[] = { "ev.a", "ev.b", "drv", "EV.A", "ev" };
static const char *const id_pool[] = { "e1", "e-2", "E1", "x", "" };
static const char *const source_pool[] = { "/x", "/y", "/x/z", "/X" };
/* Addresses as events carry them: hosts inside and just outside the networks below. */
static const char *const ip_ev_pool[] = {
	"10.1.2.3", "10.1.2.4", "10.1.3.1", "10.2.0.1", "10.255.255.255", "11.0.0.1", "9.255.255.255",
	"192.168.1.7", "192.168.200.1", "172.16.5.4", "172.32.0.1", "0.0.0.0", "255.255.255.255",
	"::1", "::2", "::", "fe80::1", "FE80::1", "fe80:0:0:0:0:0:0:1", "febf::1", "fec0::1",
	"2001:db8::1", "2001:DB8::1", "2001:db8:1::5", "2001:db8:1:0:0:0:0:5", "2001:db8:2::1",
	"::ffff:10.1.2.3", "::ffff:a01:203", "::ffff:192.168.1.7", "10.0.0.256", "010.1.2.3",
	"1.2.3", "not-an-ip", "", "10.1.2.3 ",
};
/* Networks as rules write them (unquoted ADDRESS literals); nested on purpose. */
static const char *const ip_net_pool[] = {
	"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "10.1.2.3/32", "192.168.0.0/16",
	"192.168.1.7", "172.16.0.0/12", "0.0.0.0/0", "::/0", "::1", "fe80::/10", "2001:db8::/32",
	"2001:db8:1::/48", "2001:db8:1::5", "::ffff:10.0.0.0/104", "::ffff:a01:203", "10.1.2.0/23",
};
static const double num_pool[] = {
	-10, -1, -0.5, 0, 0.5, 1, 2, 2.5, 3, 10, 42, 99.5, 100, 1000, 1e6,
};
static const char *const regex_pool[] = {
	"^al", "ha$", "^a.c$", "x-[0-9]+", "caf(\xc3\xa9|e)", "^$", "[A-Z]", "^(alpha|beta)$",
	"\\d{2}", "\xc3\xa9", "a.?c", "^x-1$", "b+", "^.{3}$", "^10\\.1\\.", "::", "^fe",
	"2024-0[1-6]", "^[a-z]+$", "\\.",
};

/* ---- the contracts ------------------------------------------------------------ */

enum vt { VT_STR, VT_NUM, VT_BOOL, VT_IP, VT_ENUM, VT_TIME, VT_ANY };

/* Field groups: one top-level declaration each (G_ENV: the envelope attributes). */
enum {
	G_S, G_T, G_CODE, G_N, G_K, G_B, G_IP, G_IPS, G_LVL, G_TAGS, G_NUMS, G_O, G_ITEMS, G_A,
	G_TS, G_GRID, G_ENV, NGROUPS
};

static const char *const group_decl[NGROUPS] = {
	"s?: string", "t?: string", "code: string", "n?: number", "k?: number", "b?: bool",
	"ip?: ip", "ips?: [ip]", "lvl?: \"lo\" | \"mid\" | \"hi\" | \"Hi\"", "tags?: [string]",
	"nums?: [number]", "o?: { p?: string, q?: { r?: string, m?: number } }",
	"items?: [{ sku?: string, qty?: number }]", "a?: any", "ts?: time", "grid?: [[number]]",
	NULL,
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

#define POOL(a) a, (uint32_t)NELEM(a)
static const struct leaf leaves[] = {
	{ "s", VT_STR, 0, G_S, 1, POOL(str_pool) },
	{ "t", VT_STR, 0, G_T, 1, POOL(str_pool) },
	{ "code", VT_STR, 0, G_CODE, 1, POOL(str_pool) },
	{ "n", VT_NUM, 0, G_N, 1, NULL, 0 },
	{ "k", VT_NUM, 0, G_K, 1, NULL, 0 },
	{ "b", VT_BOOL, 0, G_B, 1, NULL, 0 },
	{ "ip", VT_IP, 0, G_IP, 1, POOL(ip_ev_pool) },
	{ "ips", VT_IP, 1, G_IPS, 0, POOL(ip_ev_pool) },
	{ "lvl", VT_ENUM, 0, G_LVL, 1, POOL(enum_pool) },
	{ "tags", VT_STR, 1, G_TAGS, 0, POOL(str_pool) },
	{ "nums", VT_NUM, 1, G_NUMS, 0, NULL, 0 },
	{ "o.p", VT_STR, 0, G_O, 1, POOL(str_pool) },
	{ "o.q.r", VT_STR, 0, G_O, 1, POOL(str_pool) },
	{ "o.q.m", VT_NUM, 0, G_O, 1, NULL, 0 },
	{ "items.sku", VT_STR, 1, G_ITEMS, 0, POOL(str_pool) },
	{ "items.qty", VT_NUM, 1, G_ITEMS, 0, NULL, 0 },
	{ "a", VT_ANY, 0, G_A, 1, POOL(str_pool) },
	{ "ts", VT_TIME, 0, G_TS, 1, POOL(time_pool) },
	{ "grid", VT_NUM, 1, G_GRID, 0, NULL, 0 },
	{ "@type", VT_STR, 0, G_ENV, 0, POOL(type_pool) },
	{ "@id", VT_STR, 0, G_ENV, 0, POOL(id_pool) },
	{ "@source", VT_STR, 0, G_ENV, 0, POOL(source_pool) },
	{ "@subject", VT_STR, 0, G_ENV, 0, POOL(str_pool) },
	{ "@time", VT_TIME, 0, G_ENV, 0, POOL(time_pool) },
	{ "@version", VT_NUM, 0, G_ENV, 0, NULL, 0 },
};
#define NLEAVES ((uint32_t)NELEM(leaves))

/* Event types: ev.a and ev.b (1 or 2 versions), drv (what rules emit). */
enum { T_A, T_B, T_DRV, NTYPES };
static const char *const type_name[NTYPES] = { "ev.a", "ev.b", "drv" };
#define DRV_MASK ((1u << G_S) | (1u << G_N) | (1u << G_TAGS))
#define MAXC 6

struct contract {
	int type, version;
	uint32_t mask;           /* field groups it declares */
};

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
#define X_NAME(name, text) text,
static const char *const family_name[NFAM] = { FAMILIES(X_NAME) };
#undef X_NAME
#define NINDEXFAM (F_CIDR + 1)

/* ---- the program generator --------------------------------------------------------- */

#define MAXRULES 80

enum rkind { RK_ROUTE, RK_SET, RK_EMIT, RK_OTHERWISE };

struct gen {
	struct rng r;
	struct contract c[MAXC];
	int nc;
	int type_first[NTYPES], type_n[NTYPES];
	int nrules;
	struct sbuf rule[MAXRULES];  /* owns: each rule's text, one line */
	int lead[MAXRULES];          /* family of its first conjunct */
	int lead_must;               /* (scratch) the first conjunct must hold */
	int lead_must_of[MAXRULES];
	unsigned rejected;           /* rules the compiler proved can never match */
	char kstr[256][48];          /* strings the rules use (decoded), for events to hit */
	uint32_t nkstr;
	double knum[128];            /* numbers the rules use */
	uint32_t nknum;
	struct rng er;               /* the events' generator */
};

/* Writes a number the way a rule may: 100, 1e2, 100.0, 1E2, -0.5, 5e-1 (the sign as unary minus). */
static void
put_num_rule(struct sbuf *b, struct rng *r, double v)
{
	if (v < 0 || (v == 0 && 1 / v < 0)) {
		sb_putc(b, '-');
		v = -v;
	}
	if (v == (double)(long long)v) {
		long long i = (long long)v;

		switch (rnd(r, 6)) {
		case 0: sb_printf(b, "%lld.0", i); return;
		case 1: sb_printf(b, "%llde0", i); return;
		case 2:
			if (i % 10 == 0 && i != 0) {
				int e = 0;

				while (i % 10 == 0) {
					i /= 10;
					e++;
				}
				sb_printf(b, "%lld%c%d", i, chance(r, 50) ? 'e' : 'E', e);
				return;
			}
			break;
		default: break;
		}
		sb_printf(b, "%lld", i);
		return;
	}
	if (chance(r, 30) && v * 10 == (double)(long long)(v * 10))
		sb_printf(b, "%llde-1", (long long)(v * 10));
	else
		sb_printf(b, "%g", v);
}

/* Keeps s among the program's strings (events draw from them); full or too long: not kept. */
static void
k_keep(struct gen *g, const char *s)
{
	uint32_t i;

	if (strlen(s) >= sizeof g->kstr[0] || g->nkstr == NELEM(g->kstr))
		return;
	for (i = 0; i < g->nkstr; i++)
		if (strcmp(g->kstr[i], s) == 0)
			return;
	strcpy(g->kstr[g->nkstr++], s);
}

/* A string literal of a rule, kept for the events. */
static void
k_str(struct gen *g, struct sbuf *b, const char *s)
{
	k_keep(g, s);
	put_str(b, &g->r, s, 10);
}

/* A number literal of a rule, kept for the events. */
static void
k_num(struct gen *g, struct sbuf *b, double v)
{
	if (g->nknum < NELEM(g->knum))
		g->knum[g->nknum++] = v;
	put_num_rule(b, &g->r, v);
}

/* A string constant for a rule: from the leaf's pool, or the general pool, maybe in another case. */
static const char *
pool_str(struct gen *g, const struct leaf *lf)
{
	struct rng *r = &g->r;
	const char *s;

	s = lf->pool && chance(r, 85) ? lf->pool[rnd(r, lf->npool)] : PICK(r, str_pool);
	k_keep(g, s);
	return s;
}

/* Flips the ASCII case of some letters of s into out (cap bytes). */
static void
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

/* Start offsets of the code points of s (n of them; cp[n] = strlen). */
static size_t
cp_offsets(const char *s, size_t *cp, size_t cap)
{
	size_t n = 0, i = 0;
	uint32_t c;

	while (s[i] && n + 1 < cap) {
		cp[n++] = i;
		i += utf8_dec((const unsigned char *)s + i, &c);
	}
	cp[n] = i;
	return n;
}

/* A piece of a pool string for prefix/suffix/contains: whole code points only. */
static void
fragment(struct rng *r, const char *s, int where, char *out, size_t cap)
{
	size_t cp[64], n = cp_offsets(s, cp, NELEM(cp)), a = 0, z = n;

	if (n > 0) {
		if (where == 0) /* prefix */
			z = 1 + rnd(r, (uint32_t)n);
		else if (where == 1) /* suffix */
			a = rnd(r, (uint32_t)n);
		else {
			a = rnd(r, (uint32_t)n);
			z = a + 1 + rnd(r, (uint32_t)(n - a));
		}
	}
	if (cp[z] - cp[a] >= cap)
		z = a;
	memcpy(out, s + cp[a], cp[z] - cp[a]);
	out[cp[z] - cp[a]] = '\0';
}

/* A wildcard pattern from a pool string: some code points become ?, some runs *, \ escapes. */
static void
like_pattern(struct rng *r, const char *s, struct sbuf *out)
{
	size_t cp[64], n = cp_offsets(s, cp, NELEM(cp)), i;

	if (chance(r, 15))
		sb_putc(out, '*');
	for (i = 0; i < n; i++) {
		size_t len = cp[i + 1] - cp[i];
		char c = s[cp[i]];

		if (chance(r, 12)) {
			sb_putc(out, '?');
		} else if (chance(r, 10)) {
			sb_putc(out, '*');
			i += rnd(r, 3);
		} else {
			if (c == '*' || c == '?' || c == '\\')
				sb_putc(out, '\\');
			sb_putn(out, s + cp[i], len);
		}
	}
	if (chance(r, 15))
		sb_putc(out, '*');
}

/* A regular expression built from a pool string (metacharacters escaped), or a fixed one. */
static void
regex_pattern(struct rng *r, const char *s, struct sbuf *out)
{
	char frag[128];
	const char *p;

	if (chance(r, 50)) {
		sb_puts(out, PICK(r, regex_pool));
		return;
	}
	fragment(r, s, (int)rnd(r, 3), frag, sizeof frag);
	if (chance(r, 40))
		sb_putc(out, '^');
	for (p = frag; *p; p++) {
		if (strchr(".^$*+?()[]{}|\\", *p))
			sb_putc(out, '\\');
		sb_putc(out, *p);
	}
	if (chance(r, 30))
		sb_putc(out, '$');
}

/* A network literal, or a list of them. */
static void
put_nets(struct sbuf *b, struct rng *r, int list)
{
	uint32_t i, n = list ? 1 + rnd(r, 3) : 1;

	if (list)
		sb_putc(b, '[');
	for (i = 0; i < n; i++)
		sb_printf(b, "%s%s", i ? ", " : "", PICK(r, ip_net_pool));
	if (list)
		sb_putc(b, ']');
}

/* A scalar constant comparable with leaf lf (its kind; any: a random kind). */
static void
put_const(struct gen *g, struct sbuf *b, const struct leaf *lf, int for_list)
{
	struct rng *r = &g->r;
	char tmp[128];

	switch (lf->t) {
	case VT_NUM:
		k_num(g, b, PICK(r, num_pool));
		return;
	case VT_BOOL:
		sb_puts(b, chance(r, 50) ? "true" : "false");
		return;
	case VT_ENUM:
		k_str(g, b, PICK(r, enum_pool));
		return;
	case VT_ANY:
		switch (rnd(r, for_list ? 3 : 4)) {
		case 0: k_num(g, b, PICK(r, num_pool)); return;
		case 1: sb_puts(b, chance(r, 50) ? "true" : "false"); return;
		case 3: sb_puts(b, "null"); return;
		default: break;
		}
		break;
	default:
		break;
	}
	if (chance(r, 15) && lf->t != VT_IP) {
		case_variant(r, pool_str(g, lf), tmp, sizeof tmp);
		k_str(g, b, tmp);
	} else {
		k_str(g, b, pool_str(g, lf));
	}
}

/* An in-list of constants of one kind (any fields: numbers or strings). */
static void
put_list(struct gen *g, struct sbuf *b, const struct leaf *lf)
{
	struct rng *r = &g->r;
	uint32_t i, n = 1 + rnd(r, 4);
	struct leaf tmp = *lf;

	if (lf->t == VT_ANY)
		tmp.t = chance(r, 50) ? VT_NUM : VT_STR;
	sb_putc(b, '[');
	for (i = 0; i < n; i++) {
		if (i)
			sb_puts(b, ", ");
		if (tmp.t == VT_BOOL)
			sb_puts(b, i % 2 ? "false" : "true");
		else
			put_const(g, b, &tmp, 1);
	}
	sb_putc(b, ']');
}

/* Does family f apply to leaf lf? */
static int
fam_fits(int f, const struct leaf *lf)
{
	int strlike = lf->t == VT_STR || lf->t == VT_ENUM || lf->t == VT_IP || lf->t == VT_TIME
		|| lf->t == VT_ANY;

	switch (f) {
	case F_EQ: case F_IN: case F_NE: case F_NOTIN: case F_EXISTS: case F_MISSING:
		return 1;
	case F_IEQ: case F_INE: case F_PREFIX: case F_SUFFIX: case F_CONTAINS: case F_IPREFIX:
	case F_ISUFFIX: case F_ICONTAINS: case F_LIKE: case F_ILIKE: case F_MATCHES: case F_IMATCHES:
		return strlike;
	case F_LT: case F_LE: case F_GT: case F_GE: case F_RANGE: case F_RANGEX:
		return lf->t == VT_NUM || lf->t == VT_ANY;
	case F_CIDR: case F_NOTCIDR:
		return lf->t == VT_IP || lf->t == VT_STR || lf->t == VT_ANY;
	case F_BOOL:
		return lf->t == VT_BOOL;
	default:
		return 0;
	}
}

/* A random leaf of the universe fitting family f; NULL if none. */
static const struct leaf *
pick_leaf(struct rng *r, uint32_t universe, int f)
{
	const struct leaf *ok[NELEM(leaves)];
	uint32_t i, n = 0;

	for (i = 0; i < NLEAVES; i++)
		if ((universe >> leaves[i].group & 1) && fam_fits(f, &leaves[i]))
			ok[n++] = &leaves[i];
	if (n == 0)
		return NULL;
	i = rnd(r, n);
	if ((f == F_CIDR || f == F_NOTCIDR) && chance(r, 70)) /* mostly on ip fields */
		for (uint32_t j = 0; j < n; j++)
			if (ok[(i + j) % n]->t == VT_IP) {
				i = (i + j) % n;
				return ok[i];
			}
	while (ok[i]->group == G_ENV && chance(r, 85) && n > 1) /* keep attributes rarer */
		i = rnd(r, n);
	return ok[i];
}

/*
 * field OP constant, the shape the index keys on (f one of the families up
 * to F_CIDR, or NE/NOTIN/INE/NOTCIDR/EXISTS/MISSING/BOOL). Returns 0 when
 * no leaf of the universe fits.
 */
static int
gen_simple(struct gen *g, struct sbuf *b, uint32_t universe, int f)
{
	struct rng *r = &g->r;
	const struct leaf *lf = pick_leaf(r, universe, f);
	struct sbuf tmp = { 0 };
	char frag[128];
	double lo, hi;
	static const char *const sops[] = {
		[F_PREFIX] = "prefix", [F_SUFFIX] = "suffix", [F_CONTAINS] = "contains",
		[F_IPREFIX] = "iprefix", [F_ISUFFIX] = "isuffix", [F_ICONTAINS] = "icontains",
		[F_LT] = "<", [F_LE] = "<=", [F_GT] = ">", [F_GE] = ">=",
	};

	if (lf == NULL)
		return 0;
	sb_puts(&tmp, ""); /* tmp.p is a string from here on, even when nothing is added */
	sb_printf(b, "%s ", lf->path);
	switch (f) {
	case F_EQ: case F_NE:
		sb_puts(b, f == F_EQ ? "== " : "!= ");
		if (lf->t == VT_IP && chance(r, 50))
			put_nets(b, r, 0); /* == ADDRESS is a network test */
		else
			put_const(g, b, lf, 0);
		break;
	case F_IN: case F_NOTIN:
		sb_puts(b, f == F_IN ? "in " : "not in ");
		if (lf->t == VT_IP && chance(r, 50))
			put_nets(b, r, 1);
		else
			put_list(g, b, lf);
		break;
	case F_IEQ: case F_INE:
		sb_puts(b, f == F_IEQ ? "ieq " : "ine ");
		if (lf->t == VT_ENUM) {
			k_str(g, b, PICK(r, enum_pool));
		} else {
			case_variant(r, pool_str(g, lf), frag, sizeof frag);
			k_str(g, b, frag);
		}
		break;
	case F_PREFIX: case F_SUFFIX: case F_CONTAINS: case F_IPREFIX: case F_ISUFFIX:
	case F_ICONTAINS:
		sb_printf(b, "%s ", sops[f]);
		fragment(r, pool_str(g, lf), f == F_PREFIX || f == F_IPREFIX ? 0
			: f == F_SUFFIX || f == F_ISUFFIX ? 1 : 2, frag, sizeof frag);
		if (f >= F_IPREFIX && chance(r, 60)) {
			char v[128];

			case_variant(r, frag, v, sizeof v);
			k_str(g, b, v);
		} else {
			k_str(g, b, frag);
		}
		break;
	case F_LIKE: case F_ILIKE:
		sb_puts(b, f == F_LIKE ? "like " : "ilike ");
		case_variant(r, pool_str(g, lf), frag, sizeof frag);
		like_pattern(r, f == F_ILIKE || chance(r, 20) ? frag : pool_str(g, lf), &tmp);
		k_str(g, b, tmp.p);
		break;
	case F_MATCHES: case F_IMATCHES:
		sb_puts(b, f == F_MATCHES ? "matches " : "imatches ");
		regex_pattern(r, pool_str(g, lf), &tmp);
		if (chance(r, 70)) {
			sb_printf(b, "r\"%s\"", tmp.p);
		} else {
			put_str(b, r, tmp.p, 0);
		}
		break;
	case F_LT: case F_LE: case F_GT: case F_GE:
		sb_printf(b, "%s ", sops[f]);
		k_num(g, b, PICK(r, num_pool));
		break;
	case F_RANGE: case F_RANGEX:
		do {
			lo = PICK(r, num_pool);
			hi = PICK(r, num_pool);
		} while (f == F_RANGE ? lo > hi : lo >= hi);
		sb_puts(b, "in ");
		/* in a range, -5 is the negative constant */
		k_num(g, b, lo);
		sb_puts(b, f == F_RANGE ? ".." : "..<");
		k_num(g, b, hi);
		break;
	case F_CIDR: case F_NOTCIDR:
		sb_puts(b, f == F_CIDR ? "in " : "not in ");
		put_nets(b, r, chance(r, 50));
		break;
	case F_EXISTS: sb_puts(b, "exists"); break;
	case F_MISSING: sb_puts(b, "missing"); break;
	case F_BOOL:
		b->len -= strlen(lf->path) + 1; /* a bare bool field: rewrite without the space */
		if (chance(r, 50))
			sb_printf(b, "%s", lf->path);
		else
			sb_printf(b, "%s %s %s", lf->path, chance(r, 50) ? "==" : "!=",
				chance(r, 50) ? "true" : "false");
		break;
	default:
		abort();
	}
	sb_free(&tmp);
	return 1;
}

/* Two paths of the universe of kinds that may meet in op; 0 if none. */
static int
gen_fields(struct gen *g, struct sbuf *b, uint32_t universe)
{
	struct rng *r = &g->r;
	uint32_t tries;

	for (tries = 0; tries < 20; tries++) {
		const struct leaf *x = pick_leaf(r, universe, F_EQ), *y = pick_leaf(r, universe, F_EQ);
		int sx = x->t == VT_STR || x->t == VT_ENUM || x->t == VT_IP || x->t == VT_TIME;
		int sy = y->t == VT_STR || y->t == VT_ENUM || y->t == VT_IP || y->t == VT_TIME;

		if (x == y)
			continue;
		if (sx && sy) {
			sb_printf(b, "%s %s %s", x->path, PICK(r, ((const char *const[]){ "==", "!=", "ieq", "ine" })),
				y->path);
			return 1;
		}
		if (x->t == VT_NUM && y->t == VT_NUM) {
			sb_printf(b, "%s %s %s", x->path,
				PICK(r, ((const char *const[]){ "==", "!=", "<", "<=", ">", ">=" })), y->path);
			return 1;
		}
		if (x->t == VT_ANY || y->t == VT_ANY) {
			sb_printf(b, "%s %s %s", x->path, chance(r, 50) ? "==" : "!=", y->path);
			return 1;
		}
	}
	return 0;
}

/* A predicate that is no plain field-op-constant: arithmetic, a function, a constant on the left. */
static int
gen_complex(struct gen *g, struct sbuf *b, uint32_t universe, int f)
{
	struct rng *r = &g->r;
	const struct leaf *n = pick_leaf(r, universe, F_LT), *s = pick_leaf(r, universe, F_PREFIX);
	static const char *const cmp[] = { "==", "!=", "<", "<=", ">", ">=" };

	switch (f) {
	case F_FIELDS:
		return gen_fields(g, b, universe);
	case F_ARITH:
		if (n == NULL || n->t != VT_NUM || n->arr)
			return 0;
		switch (rnd(r, 4)) {
		case 0: sb_printf(b, "%s + 1 %s ", n->path, PICK(r, cmp)); break;
		case 1: sb_printf(b, "%s * 2 %s ", n->path, PICK(r, cmp)); break;
		case 2: sb_printf(b, "%s %% 3 %s ", n->path, PICK(r, cmp)); break;
		default: sb_printf(b, "-%s %s ", n->path, PICK(r, cmp)); break;
		}
		k_num(g, b, PICK(r, num_pool));
		return 1;
	case F_FUNC:
		if (s != NULL && s->t != VT_ANY && chance(r, 60)) {
			switch (s->arr ? 3 : rnd(r, 4)) { /* arrays: len() only */
			case 0: sb_printf(b, "lower(%s) == ", s->path); break;
			case 1: sb_printf(b, "upper(%s) prefix ", s->path); break;
			case 2: sb_printf(b, "trim(%s) == ", s->path); break;
			default:
				sb_printf(b, "len(%s) %s ", s->path, PICK(r, cmp));
				k_num(g, b, (double)rnd(r, 6));
				return 1;
			}
			{
				char v[128];

				case_variant(r, pool_str(g, s), v, sizeof v);
				k_str(g, b, v);
			}
			return 1;
		}
		if (n == NULL || n->t != VT_NUM || n->arr)
			return 0;
		sb_printf(b, "%s(%s) %s ", PICK(r, ((const char *const[]){ "abs", "floor", "ceil" })),
			n->path, PICK(r, cmp));
		k_num(g, b, PICK(r, num_pool));
		return 1;
	case F_CONSTLEFT:
		if (n != NULL && n->t == VT_NUM && chance(r, 60)) {
			k_num(g, b, PICK(r, num_pool));
			sb_printf(b, " %s %s", PICK(r, cmp), n->path);
			return 1;
		}
		if (s == NULL || s->t == VT_ANY || s->t == VT_IP)
			return 0;
		if (s->t == VT_ENUM)
			k_str(g, b, PICK(r, enum_pool));
		else
			k_str(g, b, pool_str(g, s));
		sb_printf(b, " %s %s", chance(r, 50) ? "==" : "!=", s->path);
		return 1;
	default:
		return gen_simple(g, b, universe, f);
	}
}

/* Any predicate, or a parenthesised or/not group (depth-limited); returns its family. */
static int
gen_pred(struct gen *g, struct sbuf *b, uint32_t universe, int depth)
{
	struct rng *r = &g->r;
	int f;

	for (;;) {
		size_t at = b->len;

		if (depth < 2 && chance(r, 12)) {
			sb_puts(b, "(");
			gen_pred(g, b, universe, depth + 1);
			sb_puts(b, " or ");
			gen_pred(g, b, universe, depth + 1);
			if (chance(r, 30)) {
				sb_puts(b, " and ");
				gen_pred(g, b, universe, depth + 1);
			}
			sb_puts(b, ")");
			return F_OR;
		}
		if (depth < 2 && chance(r, 8)) {
			sb_puts(b, "not (");
			gen_pred(g, b, universe, depth + 1);
			if (chance(r, 40)) {
				sb_puts(b, chance(r, 50) ? " and " : " or ");
				gen_pred(g, b, universe, depth + 1);
			}
			sb_puts(b, ")");
			return F_NOT;
		}
		f = (int)rnd(r, F_NOT);
		if (gen_complex(g, b, universe, f))
			return f;
		b->len = at;
		if (b->p)
			b->p[at] = '\0';
	}
}

/*
 * A condition. Mostly "LEAD and ...", LEAD a field-op-constant of an index
 * family, which is then the first must-hold conjunct (*must = 1); else or /
 * not / constant-left shapes whose first predicate the index must not trust.
 */
static int
gen_cond(struct gen *g, struct sbuf *b, uint32_t universe, int *must)
{
	struct rng *r = &g->r;
	uint32_t shape = rnd(r, 100), i, n;
	int lead;

	*must = 0;
	if (shape < 70) {
		do
			lead = (int)rnd(r, chance(r, 85) ? NINDEXFAM : F_FIELDS);
		while (!gen_simple(g, b, universe, lead));
		*must = 1;
		n = rnd(r, 3);
		for (i = 0; i < n; i++) {
			sb_puts(b, " and ");
			gen_pred(g, b, universe, 0);
		}
		return lead;
	}
	if (shape < 80) { /* LEAD or ...: the lead need not hold */
		do
			lead = (int)rnd(r, NINDEXFAM);
		while (!gen_simple(g, b, universe, lead));
		sb_puts(b, " or ");
		gen_pred(g, b, universe, 0);
		if (chance(r, 40)) {
			sb_puts(b, " and ");
			gen_pred(g, b, universe, 0);
		}
		return F_OR;
	}
	if (shape < 87) { /* not LEAD and ... */
		sb_puts(b, "not ");
		do
			lead = (int)rnd(r, NINDEXFAM);
		while (!gen_simple(g, b, universe, lead));
		if (chance(r, 60)) {
			sb_puts(b, " and ");
			gen_pred(g, b, universe, 0);
		}
		return F_NOT;
	}
	lead = gen_pred(g, b, universe, 0);
	if (chance(r, 50)) {
		sb_puts(b, chance(r, 70) ? " and " : " or ");
		gen_pred(g, b, universe, 0);
	}
	return lead;
}

/* A value for set field lf: a constant, another field, a function, arithmetic, null. */
static void
gen_set_value(struct gen *g, struct sbuf *b, const struct leaf *lf, uint32_t universe)
{
	struct rng *r = &g->r;
	const struct leaf *o;
	uint32_t pick = rnd(r, 10);

	if (pick == 0) {
		sb_puts(b, "null");
		return;
	}
	switch (lf->t) {
	case VT_NUM:
		o = pick_leaf(r, universe, F_LT);
		if (pick < 5 && o != NULL && o->t == VT_NUM && !o->arr) {
			sb_printf(b, "%s", o->path);
			sb_puts(b, PICK(r, ((const char *const[]){ " + 1", " * 2", " % 7", " - 0.5", "" })));
			return;
		}
		k_num(g, b, PICK(r, num_pool));
		return;
	case VT_BOOL:
		o = pick_leaf(r, universe, F_BOOL);
		if (pick < 4 && o != NULL && !o->arr) {
			sb_printf(b, "not %s", o->path);
			return;
		}
		sb_puts(b, chance(r, 50) ? "true" : "false");
		return;
	case VT_ENUM:
		k_str(g, b, PICK(r, enum_pool));
		return;
	case VT_ANY:
		if (pick < 4) {
			k_num(g, b, PICK(r, num_pool));
			return;
		}
		break;
	default:
		break;
	}
	o = pick_leaf(r, universe, F_PREFIX);
	if (pick < 5 && o != NULL && !o->arr && o->t != VT_ANY && o->group != G_ENV) {
		if (chance(r, 50))
			sb_printf(b, "%s(%s)", PICK(r, ((const char *const[]){ "lower", "upper", "trim" })),
				o->path);
		else
			sb_printf(b, "%s", o->path);
		return;
	}
	k_str(g, b, pool_str(g, lf));
}

/* The "on" clause: a pattern text and the contracts it covers (bits of g->c). */
static uint32_t
gen_on(struct gen *g, struct sbuf *b)
{
	struct rng *r = &g->r;
	uint32_t x = rnd(r, 100), set = 0;
	int t, i;

	if (x < 40 || x >= 95) {
		t = x < 30 ? T_A : x < 40 ? T_B : T_DRV;
		sb_puts(b, type_name[t]);
		for (i = 0; i < g->type_n[t]; i++)
			set |= 1u << (g->type_first[t] + i);
	} else if (x < 60) {
		t = chance(r, 50) ? T_A : T_B;
		i = (int)rnd(r, (uint32_t)g->type_n[t]);
		sb_printf(b, "%s v%d", type_name[t], g->c[g->type_first[t] + i].version);
		set = 1u << (g->type_first[t] + i);
	} else if (x < 72) {
		sb_printf(b, "ev.a, ev.b");
		for (i = 0; i < g->type_n[T_A] + g->type_n[T_B]; i++)
			set |= 1u << (g->type_first[T_A] + i);
	} else if (x < 85) {
		sb_printf(b, chance(r, 50) ? "ev.*" : "*.b, *.a");
		for (i = 0; i < g->type_n[T_A] + g->type_n[T_B]; i++)
			set |= 1u << (g->type_first[T_A] + i);
	} else {
		sb_puts(b, "*");
		set = (1u << g->nc) - 1;
	}
	return set;
}

/* Generates rule number i into g->rule[i]. */
static void
gen_rule(struct gen *g, int i)
{
	struct rng *r = &g->r;
	struct sbuf *b = &g->rule[i];
	uint32_t on, universe = ~0u, x = rnd(r, 100), j;
	int c, must = 0, lead = F_NONE;

	sb_reset(b);
	sb_printf(b, "rule r%d on ", i);
	on = gen_on(g, b);
	for (c = 0; c < g->nc; c++)
		if (on >> c & 1)
			universe &= g->c[c].mask | (1u << G_ENV);
	if (x < 6) { /* otherwise */
		sb_printf(b, " otherwise route fb%s", chance(r, 30) ? ", d1" : "");
		g->lead[i] = F_NONE;
		g->lead_must_of[i] = 0;
		return;
	}
	if (x >= 8 || chance(r, 30)) { /* a few rules have no condition */
		sb_puts(b, " when ");
		lead = gen_cond(g, b, universe, &must);
	}
	g->lead[i] = lead;
	g->lead_must_of[i] = must;
	if (x < 22) { /* a transform: set, maybe route too */
		const struct leaf *ok[NELEM(leaves)];
		uint32_t n = 0, nset = 1 + rnd(r, 2), used = 0;

		for (j = 0; j < NLEAVES; j++)
			if ((universe >> leaves[j].group & 1) && leaves[j].settable)
				ok[n++] = &leaves[j];
		if (n > 0) {
			sb_puts(b, " set ");
			for (j = 0; j < nset; j++) {
				uint32_t w = rnd(r, n);

				if (used >> w & 1)
					continue;
				used |= 1u << w;
				sb_printf(b, "%s%s = ", j ? ", " : "", ok[w]->path);
				gen_set_value(g, b, ok[w], universe);
			}
			if (chance(r, 30))
				sb_printf(b, " route d%u", rnd(r, 6));
			return;
		}
	}
	if (x < 32) { /* emit a derived event */
		const struct leaf *s = pick_leaf(r, universe, F_PREFIX), *n = pick_leaf(r, universe, F_LT);

		sb_puts(b, " emit drv { ");
		if (s && s->t != VT_ANY && !s->arr)
			sb_printf(b, "s: %s, ", s->path);
		if (n && n->t == VT_NUM && !n->arr)
			sb_printf(b, "n: %s + 1, ", n->path);
		if (s && s->t != VT_ANY && !s->arr && chance(r, 50))
			sb_printf(b, "tags: [%s, \"z\"]", s->path);
		sb_puts(b, " }");
		if (chance(r, 50))
			return;
	}
	sb_printf(b, " route d%u", rnd(r, 6));
	if (chance(r, 25))
		sb_printf(b, ", d%u", rnd(r, 6));
}

/* Contracts of a program: ev.a and ev.b with 1 or 2 versions, drv v1. */
static void
gen_contracts(struct gen *g)
{
	struct rng *r = &g->r;
	int t, v, nv, gi;

	g->nc = 0;
	for (t = 0; t < NTYPES; t++) {
		uint32_t mask = 0;

		nv = t == T_DRV ? 1 : 1 + (int)rnd(r, 2);
		g->type_first[t] = g->nc;
		g->type_n[t] = nv;
		for (v = 0; v < nv; v++) {
			struct contract *c = &g->c[g->nc++];

			if (t == T_DRV) {
				mask = DRV_MASK;
			} else if (v == 0) {
				for (gi = 0; gi < G_ENV; gi++)
					if (chance(r, 70))
						mask |= 1u << gi;
				mask |= (1u << G_S) | (1u << G_N);
			} else {
				for (gi = 0; gi < G_ENV; gi++)
					if (chance(r, 15))
						mask ^= 1u << gi;
				mask |= 1u << G_S;
			}
			c->type = t;
			c->version = v + 1;
			c->mask = mask;
		}
	}
}

/* The whole source: contracts, destinations, one rule per line (rule i on line first_line + i). */
static void
gen_source(struct gen *g, struct sbuf *src, int *first_line)
{
	int c, gi, i, lines = 0;

	sb_reset(src);
	sb_puts(src, "# diff_index: a generated program\n");
	lines++;
	for (c = 0; c < g->nc; c++) {
		int first = 1;

		sb_printf(src, "event %s v%d {", type_name[g->c[c].type], g->c[c].version);
		for (gi = 0; gi < G_ENV; gi++)
			if (g->c[c].mask >> gi & 1) {
				sb_printf(src, "%s %s", first ? "" : ",", group_decl[gi]);
				first = 0;
			}
		sb_puts(src, " }\n");
		lines++;
	}
	sb_puts(src, "destination d0\ndestination d1\ndestination d2\ndestination d3\n"
		"destination d4\ndestination d5\ndestination fb\n");
	lines += 7;
	*first_line = lines + 1;
	for (i = 0; i < g->nrules; i++) {
		sb_putn(src, g->rule[i].p, g->rule[i].len);
		sb_putc(src, '\n');
	}
}

/* ---- the event generator ------------------------------------------------------------------ */

/* Writes a number the way JSON may: 1, 1.0, 1e0, 10e-1, -0, 0e5, 1E+0. */
static void
put_num_json(struct sbuf *b, struct rng *r, double v)
{
	if (v < 0 || (v == 0 && (chance(r, 30) || 1 / v < 0))) {
		sb_putc(b, '-');
		v = -v;
	}
	if (v == (double)(long long)v && v < 1e15) {
		long long i = (long long)v;

		switch (rnd(r, 7)) {
		case 0: sb_printf(b, "%lld.0", i); return;
		case 1: sb_printf(b, "%llde0", i); return;
		case 2:
			if (i == 0)
				break; /* 00e-1 has a leading zero */
			sb_printf(b, "%lld0e-1", i);
			return;
		case 3: sb_printf(b, "%lldE+0", i); return;
		case 4: sb_printf(b, "%lld.000", i); return;
		default: break;
		}
		sb_printf(b, "%lld", i);
		return;
	}
	if (chance(r, 40) && v * 10 == (double)(long long)(v * 10))
		sb_printf(b, "%llde-1", (long long)(v * 10));
	else if (chance(r, 30))
		sb_printf(b, "%.3f", v);
	else
		sb_printf(b, "%.17g", v);
}

/* A number near the rules': one they use or a pool value, or one just beside it. */
static double
ev_num(struct gen *g)
{
	struct rng *r = &g->er;
	double v = g->nknum && chance(r, 55) ? g->knum[rnd(r, g->nknum)] : PICK(r, num_pool);

	switch (rnd(r, 10)) {
	case 0: return v + 0.5;
	case 1: return v - 1;
	case 2: return v * 10;
	default: return v;
	}
}

/*
 * A string value near the rules' strings or a pool: exact, a case variant,
 * a near miss, a concatenation (prefixes and suffixes hit).
 */
static void
ev_str(struct gen *g, struct sbuf *b, const char *const *pool, uint32_t npool)
{
	struct rng *r = &g->er;
	char tmp[256];
	const char *s = g->nkstr && chance(r, 55) ? g->kstr[rnd(r, g->nkstr)] : pool[rnd(r, npool)];
	size_t n;

	switch (rnd(r, 12)) {
	case 0:
		case_variant(r, s, tmp, sizeof tmp);
		break;
	case 1: /* one more character */
		snprintf(tmp, sizeof tmp, "%s%c", s, "aZ.-*"[rnd(r, 5)]);
		break;
	case 2: /* one code point less */
		n = strlen(s);
		while (n > 0 && ((unsigned char)s[n - 1] & 0xc0) == 0x80)
			n--;
		n = n > 0 ? n - 1 : 0;
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		break;
	case 3:
		snprintf(tmp, sizeof tmp, "%s%s", s, pool[rnd(r, npool)]);
		break;
	case 4:
		snprintf(tmp, sizeof tmp, "%s%s", pool[rnd(r, npool)], s);
		break;
	default:
		snprintf(tmp, sizeof tmp, "%s", s);
		break;
	}
	put_str(b, r, tmp, chance(r, 25) ? 30 : 0);
}

static void ev_value(struct gen *g, struct sbuf *b, const struct leaf *lf, int depth);

/* A value of the wrong JSON type for lf. */
static void
ev_wrong(struct gen *g, struct sbuf *b, const struct leaf *lf)
{
	struct rng *r = &g->er;
	switch (rnd(r, 5)) {
	case 0:
		if (lf->t != VT_NUM && lf->t != VT_ANY) {
			put_num_json(b, r, ev_num(g));
			return;
		}
		sb_puts(b, PICK(r, ((const char *const[]){ "\"1\"", "\"10\"", "\"-0\"", "\"1e2\"" })));
		return;
	case 1: sb_puts(b, chance(r, 50) ? "true" : "false"); return;
	case 2: sb_puts(b, "{\"x\":1,\"s\":\"alpha\"}"); return;
	case 3: sb_puts(b, "\"true\""); return;
	default: sb_puts(b, "[]"); return;
	}
}

/* A scalar of lf's kind (any: a random kind). */
static void
ev_scalar(struct gen *g, struct sbuf *b, const struct leaf *lf)
{
	struct rng *r = &g->er;
	switch (lf->t) {
	case VT_NUM: put_num_json(b, r, ev_num(g)); return;
	case VT_BOOL: sb_puts(b, chance(r, 50) ? "true" : "false"); return;
	case VT_ENUM: ev_str(g, b, POOL(enum_pool)); return;
	case VT_IP: ev_str(g, b, POOL(ip_ev_pool)); return;
	case VT_TIME: ev_str(g, b, POOL(time_pool)); return;
	case VT_ANY:
		switch (rnd(r, 6)) {
		case 0: put_num_json(b, r, ev_num(g)); return;
		case 1: sb_puts(b, chance(r, 50) ? "true" : "false"); return;
		case 2: ev_str(g, b, POOL(ip_ev_pool)); return;
		default: break;
		}
		/* fall through */
	default:
		if (lf->pool == str_pool && chance(r, 8))
			ev_str(g, b, POOL(ip_ev_pool)); /* string fields meet 'in NETWORK' too */
		else if (lf->pool)
			ev_str(g, b, lf->pool, lf->npool);
		else
			ev_str(g, b, POOL(str_pool));
		return;
	}
}

/* A value for a top-level leaf (not through an object): missing is the caller's business. */
static void
ev_value(struct gen *g, struct sbuf *b, const struct leaf *lf, int depth)
{
	struct rng *r = &g->er;
	uint32_t x = rnd(r, 100), i, n;

	if (x < 7) {
		sb_puts(b, "null");
		return;
	}
	if (x < 14) {
		ev_wrong(g, b, lf);
		return;
	}
	if (lf->arr || x < 20 || (lf->t == VT_ANY && x < 35)) {
		/* an array: also for scalar fields (predicates hold for any element) */
		n = rnd(r, 4);
		sb_putc(b, '[');
		for (i = 0; i < n; i++) {
			if (i)
				sb_putc(b, ',');
			if (depth < 2 && chance(r, lf->group == G_GRID ? 40 : 5))
				ev_value(g, b, lf, depth + 1);
			else if (chance(r, 5))
				sb_puts(b, "null");
			else
				ev_scalar(g, b, lf);
		}
		sb_putc(b, ']');
		return;
	}
	ev_scalar(g, b, lf);
}

/* The leaf of a path. */
static const struct leaf *
leaf_of(const char *path)
{
	uint32_t i;

	for (i = 0; i < NLEAVES; i++)
		if (strcmp(leaves[i].path, path) == 0)
			return &leaves[i];
	abort();
}

/* o: an object {p, q: {r, m}}, sometimes something else (an array of objects, a string). */
static void
ev_object_o(struct gen *g, struct sbuf *b)
{
	struct rng *r = &g->er;
	uint32_t x = rnd(r, 100), i, n;

	if (x < 8) {
		ev_str(g, b, POOL(str_pool));
		return;
	}
	if (x < 16) {
		n = 1 + rnd(r, 2);
		sb_putc(b, '[');
		for (i = 0; i < n; i++) {
			sb_printf(b, "%s{\"p\":", i ? "," : "");
			ev_value(g, b, leaf_of("o.p"), 0);
			sb_putc(b, '}');
		}
		sb_putc(b, ']');
		return;
	}
	sb_putc(b, '{');
	n = 0;
	if (chance(r, 75)) {
		sb_puts(b, "\"p\":");
		ev_value(g, b, leaf_of("o.p"), 0);
		n++;
	}
	if (chance(r, 75)) {
		sb_printf(b, "%s\"q\":", n++ ? "," : "");
		if (chance(r, 10)) {
			sb_puts(b, "null");
		} else {
			sb_putc(b, '{');
			if (chance(r, 75)) {
				sb_puts(b, "\"r\":");
				ev_value(g, b, leaf_of("o.q.r"), 0);
				sb_putc(b, ',');
			}
			sb_puts(b, "\"m\":");
			ev_value(g, b, leaf_of("o.q.m"), 0);
			sb_putc(b, '}');
		}
	}
	sb_putc(b, '}');
}

/* items: an array of {sku, qty} objects, sometimes one object alone. */
static void
ev_items(struct gen *g, struct sbuf *b)
{
	struct rng *r = &g->er;
	uint32_t i, n = rnd(r, 4);
	int bare = chance(r, 8);

	if (!bare)
		sb_putc(b, '[');
	if (bare)
		n = 1;
	for (i = 0; i < n; i++) {
		if (i)
			sb_putc(b, ',');
		sb_putc(b, '{');
		if (chance(r, 80)) {
			sb_puts(b, "\"sku\":");
			ev_scalar(g, b, leaf_of("items.sku"));
			sb_putc(b, ',');
		}
		sb_puts(b, "\"qty\":");
		if (chance(r, 85))
			ev_scalar(g, b, leaf_of("items.qty"));
		else
			ev_wrong(g, b, leaf_of("items.qty"));
		sb_putc(b, '}');
	}
	if (!bare)
		sb_putc(b, ']');
}

/* Member name of a top-level group in events (the first segment of its leaves). */
static const char *const group_member[NGROUPS] = {
	"s", "t", "code", "n", "k", "b", "ip", "ips", "lvl", "tags", "nums", "o", "items", "a",
	"ts", "grid", NULL,
};

/* The payload members of one event of contract c (members of other groups now and then). */
static void
ev_payload(struct gen *g, struct sbuf *b, uint32_t mask, int *first)
{
	struct rng *r = &g->er;
	int gi;

	for (gi = 0; gi < G_ENV; gi++) {
		int in = (int)(mask >> gi & 1), reps, k;

		if (in ? chance(r, 15) : !chance(r, 5))
			continue; /* missing (or, for undeclared members, mostly absent) */
		reps = rnd(r, 1000) < 3 ? 2 : 1; /* a duplicate member, rarely: the scanner rejects it */
		for (k = 0; k < reps; k++) {
			sb_printf(b, "%s\"%s\":", *first ? "" : ",", group_member[gi]);
			*first = 0;
			if (gi == G_O)
				ev_object_o(g, b);
			else if (gi == G_ITEMS)
				ev_items(g, b);
			else {
				uint32_t i;

				for (i = 0; i < NLEAVES; i++)
					if (leaves[i].group == gi)
						break;
				ev_value(g, b, &leaves[i], 0);
			}
		}
	}
}

/* A version member's value: declared, undeclared, or spelled as a string. */
static void
ev_version(struct gen *g, struct sbuf *b, int nv)
{
	struct rng *r = &g->er;
	int v = 1 + (int)rnd(r, (uint32_t)nv);

	switch (rnd(r, 12)) {
	case 0: sb_printf(b, "\"v%d\"", v); return;
	case 1: sb_printf(b, "\"%d\"", v); return;
	case 2: sb_printf(b, "%d", nv + 1); return;  /* not declared */
	case 3: sb_puts(b, "null"); return;
	default: sb_printf(b, "%d", v); return;
	}
}

/* A few broken events: the scanner's rejections must agree too. */
static void
ev_invalid(struct gen *g, struct sbuf *b)
{
	struct rng *r = &g->er;
	static const char *const bad[] = {
		"", "[]", "42", "{", "{\"event_type\":\"ev.a\",}", "{\"event_type\":\"ev.a\",\"s\":\"\\ud800\"}",
		"{\"event_type\":\"ev.a\",\"s\":\"\xff\"}", "{\"event_type\":1}", "{\"s\":\"alpha\"}",
		"{\"event_type\":\"ev.a\",\"event_version\":\"x\"}", "{\"event_type\":\"ev.a\"} x",
		"{\"event_type\":\"ev.a\",\"n\":01}", "{\"event_type\":\"ev.a\",\"n\":1e999}",
		"{\"event_type\":\"ev.a\",\"s\":\"a\\qb\"}",
	};

	if (b->len > 4 && chance(r, 50)) { /* a generated event cut short */
		b->len = 1 + rnd(r, (uint32_t)b->len - 1);
		b->p[b->len] = '\0';
		return;
	}
	sb_reset(b);
	sb_puts(b, PICK(r, bad));
}

/* One event (JSON text) for the program of g. */
static void
gen_event(struct gen *g, struct sbuf *b)
{
	struct rng *r = &g->er;
	uint32_t x = rnd(r, 100);
	int t = x < 45 ? T_A : x < 85 ? T_B : T_DRV, ce = chance(r, 12), first = 1, ci;
	const struct contract *c;
	const char *tname = type_name[t];

	sb_reset(b);
	if (chance(r, 2))
		tname = PICK(r, ((const char *const[]){ "ev.c", "EV.A", "ev", "drv.x" }));
	ci = g->type_first[t] + (int)rnd(r, (uint32_t)g->type_n[t]);
	c = &g->c[ci];
	sb_putc(b, '{');
	if (ce) {
		sb_puts(b, "\"specversion\":\"1.0\",\"type\":");
		put_str(b, r, tname, 10);
		if (chance(r, 60)) {
			sb_puts(b, ",\"eventversion\":");
			ev_version(g, b, g->type_n[t]);
		}
		if (chance(r, 70)) {
			sb_puts(b, ",\"id\":");
			ev_str(g, b, POOL(id_pool));
		}
		if (chance(r, 50)) {
			sb_puts(b, ",\"source\":");
			ev_str(g, b, POOL(source_pool));
		}
		sb_puts(b, ",\"data\":{");
		ev_payload(g, b, c->mask, &first);
		sb_puts(b, "}}");
	} else {
		sb_puts(b, "\"event_type\":");
		put_str(b, r, tname, 10);
		first = 0;
		if (chance(r, 70)) {
			sb_puts(b, ",\"event_version\":");
			ev_version(g, b, g->type_n[t]);
		}
		if (chance(r, 50)) {
			sb_puts(b, ",\"event_id\":");
			ev_str(g, b, POOL(id_pool));
		}
		if (chance(r, 40)) {
			sb_puts(b, ",\"event_source\":");
			ev_str(g, b, POOL(source_pool));
		}
		if (chance(r, 30)) {
			sb_puts(b, ",\"event_subject\":");
			ev_str(g, b, POOL(str_pool));
		}
		if (chance(r, 30)) {
			sb_puts(b, ",\"event_time\":");
			ev_str(g, b, POOL(time_pool));
		}
		ev_payload(g, b, c->mask, &first);
		sb_putc(b, '}');
	}
	if (chance(r, 2))
		ev_invalid(g, b);
}

/* ---- comparing decisions ---------------------------------------------------------------------- */

static int
bytes_eq(const void *a, size_t na, const void *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

/* What differs between two decisions (NULL: nothing). */
static const char *
decision_diff(const struct route_decision *x, const struct route_decision *y)
{
	uint32_t i;

	if (x->status != y->status)
		return "status";
	if ((x->reason == NULL) != (y->reason == NULL) || (x->reason && strcmp(x->reason, y->reason) != 0))
		return "reason";
	if (x->offset != y->offset)
		return "offset";
	if (x->type != y->type || x->version != y->version)
		return "type or version";
	if (x->nrules != y->nrules)
		return "number of matched rules";
	for (i = 0; i < x->nrules; i++)
		if (x->rules[i] != y->rules[i])
			return "matched rules";
	if (x->ndests != y->ndests)
		return "number of destinations";
	for (i = 0; i < x->ndests; i++)
		if (x->dests[i] != y->dests[i])
			return "destinations";
	if (x->nsets != y->nsets)
		return "number of sets";
	for (i = 0; i < x->nsets; i++)
		if (x->sets[i].field != y->sets[i].field
		    || !bytes_eq(x->sets[i].json, x->sets[i].len, y->sets[i].json, y->sets[i].len))
			return "sets";
	if (x->nemits != y->nemits)
		return "number of emits";
	for (i = 0; i < x->nemits; i++)
		if (x->emits[i].type != y->emits[i].type || x->emits[i].version != y->emits[i].version
		    || x->emits[i].rule != y->emits[i].rule
		    || !bytes_eq(x->emits[i].json, x->emits[i].len, y->emits[i].json, y->emits[i].len))
			return "emits";
	if (!bytes_eq(x->output, x->output_len, y->output, y->output_len))
		return "output bytes";
	return NULL;
}

/* Prints a decision with names (borrowed from p) for a failure report. */
static void
print_decision(FILE *f, const char *label, const route_prog *p, const struct route_decision *d)
{
	uint32_t i;
	size_t n;
	const char *s;

	fprintf(f, "  %s: status %d", label, d->status);
	if (d->reason)
		fprintf(f, " reason \"%s\" offset %zu", d->reason, d->offset);
	if (d->type != ROUTE_NONE && (s = route_type_name(p, d->type, &n)) != NULL)
		fprintf(f, " type %.*s v%u", (int)n, s, d->version);
	fprintf(f, "\n    rules:");
	for (i = 0; i < d->nrules; i++) {
		s = route_rule_name(p, d->rules[i], &n);
		fprintf(f, " %.*s", (int)n, s);
	}
	fprintf(f, "\n    dests:");
	for (i = 0; i < d->ndests; i++) {
		s = route_dest_name(p, d->dests[i], &n);
		fprintf(f, " %.*s", (int)n, s);
	}
	for (i = 0; i < d->nsets; i++) {
		s = route_field_name(p, d->sets[i].field, &n);
		fprintf(f, "\n    set %.*s = %.*s", (int)n, s, (int)d->sets[i].len, d->sets[i].json);
	}
	for (i = 0; i < d->nemits; i++) {
		s = route_rule_name(p, d->emits[i].rule, &n);
		fprintf(f, "\n    emit (rule %.*s) %.*s", (int)n, s, (int)d->emits[i].len, d->emits[i].json);
	}
	fprintf(f, "\n    output: %.*s\n", (int)d->output_len, d->output);
}

/* ---- the driver ----------------------------------------------------------------------------------- */

struct stats {
	unsigned long programs, rules, rejected, events, ok, matched_any, matched_lead, routed;
	unsigned long status[4];
	unsigned long lead_rules[NFAM];   /* rules whose first must-hold conjunct is of the family */
	unsigned long lead_hit[NFAM];     /* ... decisions where such a rule matched */
	unsigned long lead_miss[NFAM];    /* ... and where it applied and missed */
	unsigned long explained;
};

struct run {
	unsigned nev;
	int verbose;
	const char *write;   /* borrows: -w PREFIX, write PREFIX.route and PREFIX.events */
	FILE *evout;         /* owns: PREFIX.events while a seed runs */
	struct stats st;
	struct sbuf src, ev, diags;
};

/* Parses "diff.route:LINE:COL: error: ..." lines; regenerates the rules they blame. Returns -1 on other errors. */
static int
fix_rejections(struct gen *g, const char *diags, int first_line, uint64_t seed, int verbose)
{
	const char *p = diags;
	int bad = 0;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		int line, col, nrd = 0;

		if (sscanf(p, "diff.route:%d:%d: error: %n", &line, &col, &nrd) == 2 && nrd > 0) {
			int i = line - first_line;
			int never = strncmp(p + nrd, "rule '", 6) == 0 && strstr(p + nrd, "can never match") != NULL
				&& (eol == NULL || strstr(p + nrd, "can never match") < eol);

			if (i < 0 || i >= g->nrules || !never) {
				fprintf(stderr, "diff_index: seed %llu: the generator wrote an invalid program:\n%.*s\n",
					(unsigned long long)seed, eol ? (int)(eol - p) : (int)strlen(p), p);
				bad = 1;
			} else {
				if (verbose > 1)
					fprintf(stderr, "seed %llu: regenerating r%d: %.*s\n", (unsigned long long)seed, i,
						eol ? (int)(eol - p) : (int)strlen(p), p);
				g->rejected++;
				gen_rule(g, i);
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return bad ? -1 : 0;
}

/* Runs one seed: generate, compile, load twice, match every event with both. Returns -1 on failure. */
static int
run_seed(struct run *ru, uint64_t seed)
{
	struct gen g;
	struct rc_options co;
	struct route_options ro;
	route_prog *prog[2] = { NULL, NULL };
	route_matcher *m[2] = { NULL, NULL };
	unsigned char *rbc = NULL;
	size_t rbclen = 0;
	char err[256];
	int first_line = 0, attempt, i, k, rc = -1;
	unsigned e;
	enum rc_exit ce = RC_EXIT_RULES;

	memset(&g, 0, sizeof g);
	g.r.s = seed * 0x2545f4914f6cdd1dull + 1;
	gen_contracts(&g);
	g.nrules = 15 + (int)rnd(&g.r, MAXRULES - 15);
	for (i = 0; i < g.nrules; i++)
		gen_rule(&g, i);
	rc_options_default(&co);
	co.opt = (int)(seed % 3); /* -O0 keeps shapes the index may not recognise */
	co.nowarn = 1;
	co.max_errors = 0;
	for (attempt = 0; attempt < 10; attempt++) {
		FILE *df;
		char *dtext = NULL;
		size_t dlen = 0;

		gen_source(&g, &ru->src, &first_line);
		if ((df = open_memstream(&dtext, &dlen)) == NULL)
			abort();
		co.diag = df;
		ce = rc_compile_string("diff.route", ru->src.p, ru->src.len, &co, &rbc, &rbclen, NULL);
		fclose(df);
		if (ce == RC_EXIT_OK) {
			free(dtext);
			break;
		}
		if (ce != RC_EXIT_RULES || fix_rejections(&g, dtext, first_line, seed, ru->verbose) < 0) {
			fprintf(stderr, "diff_index: seed %llu: compile failed (%d):\n%s\nprogram:\n%s",
				(unsigned long long)seed, (int)ce, dtext ? dtext : "", ru->src.p);
			free(dtext);
			goto done;
		}
		free(dtext);
	}
	if (ce != RC_EXIT_OK) {
		fprintf(stderr, "diff_index: seed %llu: still rejected after 10 rounds\n%s",
			(unsigned long long)seed, ru->src.p);
		goto done;
	}
	for (k = 0; k < 2; k++) {
		memset(&ro, 0, sizeof ro);
		ro.no_index = k; /* [0] through the index, [1] every rule in turn: the reference */
		ro.switch_dispatch = (int)(seed >> 1 & 1);
		ro.max_values = 512;
		ro.max_event_bytes = 1 << 16; /* the matcher's buffers are sized from it */
		if ((prog[k] = route_prog_load(rbc, rbclen, &ro, err, sizeof err)) == NULL
		    || (m[k] = route_matcher_new(prog[k])) == NULL) {
			fprintf(stderr, "diff_index: seed %llu: load: %s\n", (unsigned long long)seed, err);
			goto done;
		}
	}
	if (route_prog_nrules(prog[0]) != (uint32_t)g.nrules) {
		fprintf(stderr, "diff_index: seed %llu: %u rules loaded, %d written\n",
			(unsigned long long)seed, route_prog_nrules(prog[0]), g.nrules);
		goto done;
	}
	ru->st.programs++;
	ru->st.rules += (unsigned long)g.nrules;
	ru->st.rejected += g.rejected;
	for (i = 0; i < g.nrules; i++)
		if (g.lead_must_of[i])
			ru->st.lead_rules[g.lead[i]]++;
	if (ru->write) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof path, "%s.route", ru->write);
		if ((f = fopen(path, "w")) == NULL || fputs(ru->src.p, f) < 0 || fclose(f) != 0) {
			perror(path);
			goto done;
		}
		snprintf(path, sizeof path, "%s.events", ru->write);
		if ((ru->evout = fopen(path, "w")) == NULL) {
			perror(path);
			goto done;
		}
	}
	g.er.s = seed ^ 0x5eed5eed5eedull;
	for (e = 0; e < ru->nev; e++) {
		struct route_decision d[2];
		const char *what;
		uint32_t j;
		int lead_hit = 0;

		gen_event(&g, &ru->ev);
		if (ru->evout) /* one per line: a raw newline cannot be in a generated event */
			fprintf(ru->evout, "%s\n", ru->ev.p);
		if (ru->verbose > 3 && d[1].status == ROUTE_REJECTED)
			fprintf(stderr, "rejected: %s\n", d[1].reason);
		for (k = 0; k < 2; k++)
			route_match(m[k], ru->ev.p, ru->ev.len, &d[k]);
		what = decision_diff(&d[0], &d[1]);
		for (j = 0; what == NULL && d[1].status == ROUTE_OK && j < (uint32_t)g.nrules; j++) {
			struct route_why w0, w1;
			int x0 = route_explain(m[0], j, &w0), x1 = route_explain(m[1], j, &w1);

			ru->st.explained++;
			if (x0 != x1 || w0.pc != w1.pc || w0.line != w1.line || w0.changed != w1.changed
			    || !bytes_eq(w0.value, w0.value_len, w1.value, w1.value_len))
				what = "route_explain";
			else if (g.lead_must_of[j] && x1 == 1)
				ru->st.lead_hit[g.lead[j]]++, lead_hit = 1;
			else if (g.lead_must_of[j] && x1 == 0)
				ru->st.lead_miss[g.lead[j]]++;
		}
		if (what != NULL) {
			fprintf(stderr,
				"diff_index: MISMATCH (%s) at seed %llu, event %u (-O%d, %s dispatch)\n"
				"--- program:\n%s--- event:\n%s\n--- decisions:\n",
				what, (unsigned long long)seed, e, co.opt, ro.switch_dispatch ? "switch" : "goto",
				ru->src.p, ru->ev.p);
			print_decision(stderr, "indexed  ", prog[0], &d[0]);
			print_decision(stderr, "reference", prog[1], &d[1]);
			fprintf(stderr, "reproduce: diff_index -1 %llu -e %u\n", (unsigned long long)seed, e + 1);
			goto done;
		}
		ru->st.events++;
		ru->st.status[d[1].status & 3]++;
		if (d[1].status == ROUTE_OK) {
			ru->st.ok++;
			ru->st.matched_any += d[1].nrules > 0;
			ru->st.matched_lead += lead_hit;
			ru->st.routed += d[1].ndests > 0;
		}
	}
	if (ru->verbose > 2)
		fprintf(stderr, "seed %llu:\n%s", (unsigned long long)seed, ru->src.p);
	rc = 0;
done:
	if (ru->evout) {
		fclose(ru->evout);
		ru->evout = NULL;
	}
	for (k = 0; k < 2; k++) {
		route_matcher_free(m[k]);
		route_prog_free(prog[k]);
	}
	ru_free(rbc);
	for (i = 0; i < MAXRULES; i++)
		sb_free(&g.rule[i]);
	return rc;
}

/* An unsigned number from the environment, or def. */
static unsigned long long
env_num(const char *name, unsigned long long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

/* Fails (returns 1) when the run could have passed without testing much. */
static int
check_coverage(const struct stats *st, int full)
{
	int f, bad = 0;
	double ok = st->ok ? (double)st->ok : 1;

	fprintf(stderr, "diff_index: %lu programs (%lu rules, %lu regenerated as never-matching), %lu events: "
		"ok %lu, rejected %lu, unknown type %lu, unknown version %lu\n",
		st->programs, st->rules, st->rejected, st->events, st->status[ROUTE_OK],
		st->status[ROUTE_REJECTED], st->status[ROUTE_UNKNOWN_TYPE], st->status[ROUTE_UNKNOWN_VERSION]);
	fprintf(stderr, "diff_index: of the ok decisions, %.1f%% matched a rule, %.1f%% a rule by its first "
		"must-hold conjunct, %.1f%% were routed; %lu explains compared\n",
		100.0 * (double)st->matched_any / ok, 100.0 * (double)st->matched_lead / ok,
		100.0 * (double)st->routed / ok, st->explained);
	for (f = 0; f < NFAM; f++)
		if (st->lead_rules[f])
			fprintf(stderr, "  first conjunct %-14s %5lu rules, matched %7lu, missed %7lu\n",
				family_name[f], st->lead_rules[f], st->lead_hit[f], st->lead_miss[f]);
	if (st->rules && st->rejected * 20 > st->rules) {
		fprintf(stderr, "diff_index: FAIL: more than 5%% of the rules were never-matching\n");
		bad = 1;
	}
	if (st->ok * 2 < st->events || st->matched_any * 10 < st->ok * 6 || st->matched_lead * 10 < st->ok * 3) {
		fprintf(stderr, "diff_index: FAIL: too few events are valid or match rules (vacuous run)\n");
		bad = 1;
	}
	for (f = 0; full && f < NINDEXFAM; f++)
		if (st->lead_hit[f] < 50 || st->lead_miss[f] < 50) {
			fprintf(stderr, "diff_index: FAIL: first conjunct '%s' matched %lu and missed %lu times "
				"(50 each needed)\n", family_name[f], st->lead_hit[f], st->lead_miss[f]);
			bad = 1;
		}
	return bad;
}

static void
usage(void)
{
	fprintf(stderr, "usage: diff_index [-n PROGRAMS] [-e EVENTS] [-s FIRST_SEED] [-1 SEED [-w PREFIX]] [-v]\n"
		"  (defaults from DIFF_INDEX_PROGRAMS, DIFF_INDEX_EVENTS, DIFF_INDEX_SEED)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct run ru;
	unsigned long long nprog = env_num("DIFF_INDEX_PROGRAMS", 400), first = env_num("DIFF_INDEX_SEED", 1);
	unsigned long long s;
	int i, fail = 0;

	memset(&ru, 0, sizeof ru);
	ru.nev = (unsigned)env_num("DIFF_INDEX_EVENTS", 300);
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] == 'v' && strspn(argv[i] + 1, "v") == strlen(argv[i] + 1))
			ru.verbose += (int)strlen(argv[i] + 1); /* -v, -vv, ... */
		else if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
			nprog = strtoull(argv[++i], NULL, 0);
		else if (i + 1 < argc && strcmp(argv[i], "-e") == 0)
			ru.nev = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (i + 1 < argc && strcmp(argv[i], "-s") == 0)
			first = strtoull(argv[++i], NULL, 0);
		else if (i + 1 < argc && strcmp(argv[i], "-w") == 0)
			ru.write = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "-1") == 0) {
			first = strtoull(argv[++i], NULL, 0);
			nprog = 1;
		} else
			usage();
	}
	for (s = first; s < first + nprog && !fail; s++)
		if (run_seed(&ru, s) < 0)
			fail = 1;
	if (fail) {
		fprintf(stderr, "diff_index: FAIL at seed %llu\n", s - 1);
		return 1;
	}
	fail = check_coverage(&ru.st, nprog >= 100);
	sb_free(&ru.src);
	sb_free(&ru.ev);
	sb_free(&ru.diags);
	return fail;
}
