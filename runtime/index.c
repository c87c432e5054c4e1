/*
 * index.c -- the shared index: one structure per program that names, for an
 * event, the few routing rules that can match it, so that the cost of a
 * decision follows the event and not the number of rules.
 *
 * Written by hand rather than taken from a library because it is the
 * product (DESIGN.md §4): its shape follows the bytecode it reads. Hyperscan
 * does what it does best inside it (many string patterns in one pass).
 *
 * A routing rule whose condition begins with a test that must hold for the
 * rule to match -- its access test, in the shape the compiler writes for
 * `field OP constant` as the first conjunct:
 *     LOADF a f; LOADK b k; OP d a b; JMPF d -> MISS
 * -- is filed under (contract, field f) by the family of OP and k:
 *   hash       f == k, f in [k, ...]            the key of each value
 *   folded     f ieq k, caseless sets            the key of the ASCII-lowered value
 *   strings    prefix suffix contains, their     one Hyperscan database per
 *              ignore-case forms, like ilike,    (contract, field): one pattern per
 *              matches imatches                  distinct test, one scan per value
 *   intervals  < <= > >= k, in a..b (numbers)    a segment tree over the endpoints
 *   networks   in CIDR, in [CIDR, ...]           a binary trie per address family
 * The other routing rules are residual: evaluated for every event of the
 * contract. The shape is recognised in the verified code, so it holds for
 * any program the loader accepts, hand-made ones included.
 *
 * A probe walks the scalars of each indexed field once (rv_field_scalars:
 * the VM's own any-element order, `set` values included), and each family
 * gives a superset of the rules whose access test holds for that value
 * (usually exactly those). Rules that share a test share its evaluation: a
 * key is looked up once, a string scanned once for every pattern of its
 * field. The matcher then evaluates each candidate in full, so the index
 * decides nothing by itself; tests/diff compares its decisions with
 * per-rule evaluation on generated programs and events.
 *
 * Ownership: struct rv_index owns every array and database in it.
 */
#include "config.h"
#include "index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* ---- the structure ---------------------------------------------------------- */

/* One hash entry: rule can only match when indexed field fi has the key. */
struct ikey {
	uint64_t key;     /* rv_const_key, or rv_key_folded of a string constant */
	uint32_t fi;      /* the (contract, field) */
	uint32_t rule;    /* RV_NONE: empty slot */
};

/* A trie node: children by the next address bit, the rules of this prefix. */
struct tnode {
	uint32_t child[2];  /* node index, 0 = none (the roots are never children) */
	uint32_t first;     /* rules: net_rules[first .. next node's first) */
};

/* One indexed (contract, field) and its families. */
struct ifield {
	uint32_t field;
	uint8_t has_key;        /* hash entries with exact keys */
	uint8_t has_folded;     /* hash entries with folded keys */
	/* strings */
	hs_database_t *db;      /* owns, or NULL */
	uint32_t *pat_first;    /* owns: pattern id -> its rules in pat_rules */
	uint32_t *pat_rules;    /* owns */
	uint8_t *pat_anchor;    /* owns: per pattern, AT_START | AT_END checks of a literal */
	uint32_t *pat_len;      /* owns: per pattern, the literal's length */
	uint32_t npat;
	/* intervals */
	double *ends;           /* owns: the distinct finite-or-infinite endpoints, ascending */
	uint32_t nends;
	uint32_t seg_size;      /* leaves (a power of two), 0 = no intervals */
	uint32_t *seg_first;    /* owns: node -> its rules in seg_rules (2 * seg_size + 1) */
	uint32_t *seg_rules;    /* owns */
	/* networks */
	struct tnode *nodes;    /* owns: [0] IPv4 root, [1] IPv6 root; NULL = no networks */
	uint32_t nnodes;
	uint32_t *net_rules;    /* owns: node x's rules from nodes[x].first to the next node's */
	uint32_t net_total;     /* (the last node's end) */
};

struct rv_index {
	struct ikey *itab;      /* owns: open addressing */
	uint32_t itab_cap;      /* power of two (at least 1) */
	struct ifield *fields;  /* owns */
	uint32_t nfields;
	uint32_t *cfirst;       /* owns: contract c's fields are fields[cfirst[c] .. cfirst[c+1]) */
	uint32_t *resid_first;  /* owns: contract c's residual rules ... */
	uint32_t *resid;        /* owns: ... resid[resid_first[c] .. resid_first[c+1]) */
};

enum family { F_NONE, F_HASH, F_STRING, F_INTERVAL, F_NETWORK };

/* One filing of a rule under an indexed field, while building. */
struct ent {
	uint32_t fi, rule, k;
	uint8_t op, fam;
};

/* ---- recognising access tests ------------------------------------------------ */

/* Reads one operand load at *pc: op (Bx) or its KX form (extra argument word). */
static int
read_load(const struct rv_prog *p, uint32_t *pc, unsigned op, unsigned opx, unsigned *reg,
	uint32_t *idx)
{
	uint32_t w;

	if (*pc >= p->ncode)
		return 0;
	w = p->code[*pc];
	if (RV_GET_OP(w) == op) {
		*reg = RV_GET_A(w);
		*idx = RV_GET_Bx(w);
		*pc += 1;
		return 1;
	}
	if (RV_GET_OP(w) == opx && *pc + 1 < p->ncode) {
		*reg = RV_GET_A(w);
		*idx = RV_GET_Ax(p->code[*pc + 1]);
		*pc += 2;
		return 1;
	}
	return 0;
}

/* One access test: `field op constant`. */
struct test {
	uint32_t field, k;
	unsigned op;
};

/* The most tests of one disjunction the index files a rule under. */
#define MAX_TESTS 16

/*
 * The rule's access tests, from the condition at pc: a chain
 *     T1; JMPT -> L;  T2; JMPT -> L;  ...  Tn; JMPF -> MISS;  L: ...
 * where each Ti is LOADF a f; LOADK b k; OP d a b and each jump tests d:
 * the condition can only go on (to L) when one of the tests holds -- the
 * shape of `(t1 or ... or tn) and ...`, n = 1 for a plain first conjunct.
 * (The chain is only left through L or MISS, and each test reads nothing
 * but the event and a constant, so this holds on any path.) Stores the
 * tests in t and returns n, or 0 when the condition does not start so.
 */
static uint32_t
access_tests(const struct rv_prog *p, uint32_t pc, struct test *t)
{
	int64_t jt[MAX_TESTS];
	uint32_t n = 0, i, w, j;
	unsigned a, b;

	while (n < MAX_TESTS) {
		if (!read_load(p, &pc, RV_OP_LOADF, RV_OP_LOADFX, &a, &t[n].field)
		    || !read_load(p, &pc, RV_OP_LOADK, RV_OP_LOADKX, &b, &t[n].k) || a == b
		    || pc + 1 >= p->ncode)
			return 0;
		w = p->code[pc];
		t[n].op = RV_GET_OP(w);
		j = p->code[pc + 1];
		if (RV_GET_B(w) != a || RV_GET_C(w) != b || RV_GET_A(j) != RV_GET_A(w))
			return 0;
		jt[n] = rv_jump_target(j, pc + 1);
		pc += 2;
		if (RV_GET_OP(j) == RV_OP_JMPT) {
			n++;
			continue;
		}
		if (RV_GET_OP(j) != RV_OP_JMPF || jt[n] < 0 || jt[n] >= p->ncode
		    || RV_GET_OP(p->code[jt[n]]) != RV_OP_MISS)
			return 0;
		for (i = 0; i < n; i++)
			if (jt[i] != (int64_t)pc)
				return 0;
		return n + 1;
	}
	return 0;
}

/* Is constant k a number that is not NaN (a usable endpoint)? */
static int
num_const(const struct rv_prog *p, uint32_t k)
{
	return p->consts[k].kind == RV_K_NUM && !isnan(rv_bits_double(p->consts[k].b));
}

/* Is constant k a CIDR the trie can hold? */
static int
net_const(const struct rv_prog *p, uint32_t k)
{
	const struct rv_const *c = &p->consts[k];

	return c->kind == RV_K_CIDR && ((c->aux == 4 && c->a <= 32) || (c->aux == 6 && c->a <= 128));
}

/* Is constant k a set whose members all satisfy ok (and has members)? */
static int
set_of(const struct rv_prog *p, uint32_t k, int (*ok)(const struct rv_prog *, uint32_t))
{
	const struct rv_const *c = &p->consts[k];
	uint32_t i;

	if (c->kind != RV_K_SET || c->b == 0)
		return 0;
	for (i = 0; i < (uint32_t)c->b; i++)
		if (!ok(p, p->setitems[c->a + i]))
			return 0;
	return 1;
}

static int
key_const(const struct rv_prog *p, uint32_t k)
{
	int ok;

	rv_const_key(p, k, &ok);
	return ok;
}

/* A string constant with at least one byte. */
static int
str_const(const struct rv_prog *p, uint32_t k)
{
	return p->consts[k].kind == RV_K_STR && p->consts[k].b > 0;
}

/* A range with numeric (or open) bounds. */
static int
range_const(const struct rv_prog *p, uint32_t k)
{
	const struct rv_const *c = &p->consts[k];

	return c->kind == RV_K_RANGE && (c->a == RV_NONE || num_const(p, c->a))
	       && (c->b == RV_NONE || num_const(p, (uint32_t)c->b));
}

/* The family that indexes test `f op k`, or F_NONE. */
static enum family
family(const struct rv_prog *p, unsigned op, uint32_t k)
{
	switch (op) {
	case RV_OP_EQ:
		return key_const(p, k) ? F_HASH : F_NONE;
	case RV_OP_IEQ:
		return p->consts[k].kind == RV_K_STR ? F_HASH : F_NONE;
	case RV_OP_IN:
		if (set_of(p, k, key_const))
			return F_HASH;
		if (set_of(p, k, net_const))
			return F_NETWORK;
		return range_const(p, k) ? F_INTERVAL : F_NONE;
	case RV_OP_RANGE:
		return range_const(p, k) ? F_INTERVAL : F_NONE;
	case RV_OP_LT:
	case RV_OP_LE:
	case RV_OP_GT:
	case RV_OP_GE:
		return num_const(p, k) ? F_INTERVAL : F_NONE;
	case RV_OP_CIDR:
		return net_const(p, k) || set_of(p, k, net_const) ? F_NETWORK : F_NONE;
	case RV_OP_PREFIX:
	case RV_OP_SUFFIX:
	case RV_OP_CONTAINS:
	case RV_OP_IPREFIX:
	case RV_OP_ISUFFIX:
	case RV_OP_ICONTAINS:
		return str_const(p, k) ? F_STRING : F_NONE;
	case RV_OP_LIKE:
	case RV_OP_ILIKE:
		return p->consts[k].kind == RV_K_STR ? F_STRING : F_NONE;
	case RV_OP_MATCHES:
		return p->consts[k].kind == RV_K_REGEX ? F_STRING : F_NONE;
	default:
		return F_NONE;
	}
}

/* ---- string patterns ------------------------------------------------------- */

/* A growable text buffer for one pattern. */
struct sbuf {
	char *s;    /* owns */
	size_t n, cap;
	int oom;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	char *t;
	size_t cap;

	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		if ((t = ru_realloc(b->s, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = t;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* Appends byte c as a literal: letters and digits as they are, the rest as \xHH. */
static void
sb_lit(struct sbuf *b, unsigned char c)
{
	char x[5];

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
		x[0] = (char)c;
		sb_put(b, x, 1);
		return;
	}
	snprintf(x, sizeof x, "\\x%02x", c);
	sb_put(b, x, 4);
}

/* Where a string pattern's literal must sit in the value (checked on the match's end offset). */
#define AT_START 1u
#define AT_END 2u

/*
 * The longest literal run of wildcard pattern s[0..n) (`*` any run, `?` one
 * character, `\` quotes the next byte, a trailing `\` is itself: the VM's
 * like()), unquoted into *lit, with AT_START when it begins the pattern and
 * AT_END when it ends it: every value the pattern matches contains that run
 * there (ignoring ASCII case for ilike). Returns 0 when the pattern has no
 * literal byte.
 */
static int
like_literal(const char *s, size_t n, struct sbuf *lit, unsigned *anchor)
{
	struct sbuf cur = { NULL, 0, 0, 0 };
	size_t i = 0;
	int cur_at_start = 1;

	lit->n = 0;
	*anchor = 0;
	for (;;) {
		int end = i >= n, wild = !end && (s[i] == '*' || s[i] == '?');

		if (end || wild) {
			if (cur.n > lit->n) {
				lit->n = 0;
				sb_put(lit, cur.s, cur.n);
				*anchor = (cur_at_start ? AT_START : 0) | (end ? AT_END : 0);
			}
			if (end)
				break;
			cur.n = 0;
			cur_at_start = 0;
			i++;
			continue;
		}
		if (s[i] == '\\' && i + 1 < n)
			i++;
		sb_put(&cur, s + i, 1);
		i++;
	}
	ru_free(cur.s);
	return !cur.oom && !lit->oom && lit->n > 0;
}

/* Skips a bracket class starting at s[i] == '['; returns the index after it (n if unclosed). */
static size_t
skip_class(const char *s, size_t n, size_t i)
{
	i++;
	if (i < n && s[i] == '^')
		i++;
	if (i < n && s[i] == ']') /* a leading ] is a member */
		i++;
	for (; i < n && s[i] != ']'; i++)
		if (s[i] == '\\')
			i++;
	return i < n ? i + 1 : n;
}

/*
 * Is regex s[0..n) one whose top level is a plain sequence, with no
 * alternation, no inline option (`(?i)`, `(?x)`, ...) and no \Q quoting?
 * Only such a pattern has literal runs every match must contain.
 */
static int
regex_sequence(const char *s, size_t n)
{
	size_t i;
	int depth = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\') {
			if (i + 1 < n && s[i + 1] == 'Q')
				return 0;
			i++;
		} else if (s[i] == '[') {
			i = skip_class(s, n, i) - 1;
		} else if (s[i] == '(') {
			if (i + 1 < n && s[i + 1] == '?' && !(i + 2 < n && s[i + 2] == ':'))
				return 0;
			depth++;
		} else if (s[i] == ')') {
			depth--;
		} else if (s[i] == '|' && depth == 0) {
			return 0;
		}
	}
	return 1;
}

/*
 * The longest run of ASCII literal characters at the top level of regex
 * s[0..n) that every match must contain, into *lit, with AT_START when it
 * follows a leading `^`. A run is consecutive single characters, none
 * quantified; anything else (classes, groups, `.`, anchors, non-ASCII
 * characters, escapes of letters and digits) ends it, and an escape of a
 * letter or digit ends the analysis (its arguments are not parsed). Ending
 * a run early only weakens the filter, never breaks it. Returns 0 when
 * there is no run (the regex itself is used).
 */
static int
regex_literal(const char *s, size_t n, struct sbuf *lit, unsigned *anchor)
{
	struct sbuf cur = { NULL, 0, 0, 0 };
	size_t i = 0;
	int cur_at_start = 0, stop = 0;

	lit->n = 0;
	*anchor = 0;
	if (!regex_sequence(s, n))
		return 0;
	if (n > 0 && s[0] == '^') {
		cur_at_start = 1;
		i = 1;
	}
	while (!stop) {
		unsigned char c = i < n ? (unsigned char)s[i] : 0;
		int lit_char = 0;

		if (i >= n) {
			stop = 1;
		} else if (c == '\\' && i + 1 < n && !((s[i + 1] >= 'a' && s[i + 1] <= 'z')
			   || (s[i + 1] >= 'A' && s[i + 1] <= 'Z') || (s[i + 1] >= '0' && s[i + 1] <= '9'))
			   && (unsigned char)s[i + 1] < 0x80) {
			c = (unsigned char)s[i + 1]; /* \. \+ \\ ... */
			i += 2;
			lit_char = 1;
		} else if (c == '\\') {
			stop = 1;
		} else if (c == '*' || c == '+' || c == '?' || c == '{') {
			if (cur.n > 0)
				cur.n--; /* the character before is quantified */
			i++;
			if (c == '{') { /* {m,n}: skip to after the brace */
				while (i < n && s[i] != '}')
					i++;
				i += i < n;
			}
		} else if (c >= 0x80 || c == '.' || c == '^' || c == '$' || c == '[' || c == '(') {
			if (c == '[') {
				i = skip_class(s, n, i);
			} else if (c == '(') {
				int depth = 0;

				for (; i < n; i++) {
					if (s[i] == '\\')
						i++;
					else if (s[i] == '[')
						i = skip_class(s, n, i) - 1;
					else if (s[i] == '(')
						depth++;
					else if (s[i] == ')' && --depth == 0)
						break;
				}
				i++;
			} else {
				i++;
			}
		} else {
			i++;
			lit_char = 1;
		}
		if (lit_char) {
			char ch = (char)c;

			/* a quantifier after it removes it again (above) */
			sb_put(&cur, &ch, 1);
			continue;
		}
		/* the run ends here (a quantified last character was removed) */
		if (cur.n > lit->n) {
			lit->n = 0;
			sb_put(lit, cur.s, cur.n);
			*anchor = cur_at_start ? AT_START : 0;
		}
		cur.n = 0;
		cur_at_start = 0;
	}
	ru_free(cur.s);
	return !cur.oom && !lit->oom && lit->n > 0;
}

/*
 * The Hyperscan pattern of string test `op k` and what the match callback
 * checks. Prefix, suffix, contains and like become one literal each (bytes,
 * no UTF-8 mode, so caseless folds ASCII only, as the VM does), anchored by
 * the callback on the match's end offset rather than by \A and \z, which
 * keeps Hyperscan on its fast literal compiler; like keeps its longest
 * literal run, a superset the full evaluation narrows. Regexes keep the
 * flags the VM compiles them with, so their matches are the VM's. Returns 0
 * when the test has no usable pattern.
 */
static int
pattern_of(const struct rv_prog *p, unsigned op, uint32_t k, struct sbuf *b, unsigned *flags,
	unsigned *anchor, uint32_t *litlen)
{
	const struct rv_const *c = &p->consts[k];
	const char *s = p->strs + c->a;
	size_t n = (size_t)c->b, i;
	struct sbuf lit = { NULL, 0, 0, 0 };
	int caseless = op == RV_OP_IPREFIX || op == RV_OP_ISUFFIX || op == RV_OP_ICONTAINS
		       || op == RV_OP_ILIKE;

	b->n = 0;
	*anchor = 0;
	*litlen = 0;
	/* a caseless regex may fold more than ASCII: it keeps its own pattern */
	if (op == RV_OP_MATCHES && ((c->flags & RV_KF_CASELESS) || !regex_literal(s, n, &lit, anchor))) {
		ru_free(lit.s);
		*flags = HS_FLAG_UTF8 | HS_FLAG_ALLOWEMPTY | HS_FLAG_SINGLEMATCH
			 | ((c->flags & RV_KF_CASELESS) ? HS_FLAG_CASELESS : 0);
		*anchor = 0;
		sb_put(b, s, n);
		return !b->oom;
	}
	*flags = caseless ? HS_FLAG_CASELESS : 0;
	if (op == RV_OP_MATCHES) {
		s = lit.s;
		n = lit.n;
	} else if (op == RV_OP_LIKE || op == RV_OP_ILIKE) {
		if (!like_literal(s, n, &lit, anchor)) {
			ru_free(lit.s);
			return 0;
		}
		s = lit.s;
		n = lit.n;
	} else if (op == RV_OP_PREFIX || op == RV_OP_IPREFIX) {
		*anchor = AT_START;
	} else if (op == RV_OP_SUFFIX || op == RV_OP_ISUFFIX) {
		*anchor = AT_END;
	}
	if (*anchor == 0)
		*flags |= HS_FLAG_SINGLEMATCH; /* any occurrence will do: report one */
	for (i = 0; i < n; i++)
		sb_lit(b, (unsigned char)s[i]);
	*litlen = (uint32_t)n;
	ru_free(lit.s);
	return !b->oom && n > 0;
}

/* Orders string entries of one field by test (op, constant), then rule. */
static int
cmp_test(const void *x, const void *y)
{
	const struct ent *a = *(const struct ent *const *)x, *b = *(const struct ent *const *)y;

	if (a->op != b->op)
		return a->op < b->op ? -1 : 1;
	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	return a->rule < b->rule ? -1 : a->rule > b->rule;
}

/*
 * Compiles the string entries es[0..n) of field f into one database, one
 * pattern per distinct (op, constant); an entry whose test has no usable
 * pattern (a wildcard without literal) is turned residual. Returns 0; 1
 * when Hyperscan refuses the set (the caller turns them all residual); -1
 * out of memory.
 */
static int
build_strings(const struct rv_prog *p, struct ifield *f, struct ent **es, uint32_t n)
{
	const char **pats = NULL;
	unsigned *flags = NULL, *ids = NULL, anchor = 0;
	struct sbuf b = { NULL, 0, 0, 0 };
	hs_compile_error_t *ce = NULL;
	uint32_t i, np = 0, nr = 0, len = 0;
	int rc = -1, usable = 0;

	qsort(es, n, sizeof *es, cmp_test);
	f->pat_first = ru_malloc(((size_t)n + 1) * sizeof *f->pat_first);
	f->pat_rules = ru_malloc(((size_t)n + 1) * sizeof *f->pat_rules);
	f->pat_anchor = ru_malloc(((size_t)n + 1) * sizeof *f->pat_anchor);
	f->pat_len = ru_malloc(((size_t)n + 1) * sizeof *f->pat_len);
	pats = ru_malloc(((size_t)n + 1) * sizeof *pats);
	flags = ru_malloc(((size_t)n + 1) * sizeof *flags);
	ids = ru_malloc(((size_t)n + 1) * sizeof *ids);
	if (!f->pat_first || !f->pat_rules || !f->pat_anchor || !f->pat_len || !pats || !flags || !ids)
		goto done;
	for (i = 0; i < n; i++) {
		if (i == 0 || es[i]->op != es[i - 1]->op || es[i]->k != es[i - 1]->k) {
			char *copy;

			usable = pattern_of(p, es[i]->op, es[i]->k, &b, &flags[np], &anchor, &len);
			if (b.oom)
				goto done;
			if (usable) {
				if ((copy = ru_malloc(b.n + 1)) == NULL)
					goto done;
				memcpy(copy, b.s, b.n + 1);
				pats[np] = copy;
				ids[np] = np;
				f->pat_anchor[np] = (uint8_t)anchor;
				f->pat_len[np] = len;
				f->pat_first[np++] = nr;
			}
		}
		if (usable)
			f->pat_rules[nr++] = es[i]->rule;
		else
			es[i]->fam = F_NONE;
	}
	f->pat_first[np] = nr;
	f->npat = np;
	if (np == 0) {
		rc = 0;
		goto done;
	}
	if (hs_compile_multi(pats, flags, ids, np, HS_MODE_BLOCK, NULL, &f->db, &ce) != HS_SUCCESS) {
		hs_free_compile_error(ce);
		f->db = NULL;
		rc = 1;
		goto done;
	}
	rc = 0;
done:
	if (pats)
		for (i = 0; i < np; i++)
			ru_free((void *)pats[i]);
	ru_free(pats);
	ru_free(flags);
	ru_free(ids);
	ru_free(b.s);
	if (rc != 0 || f->db == NULL) {
		ru_free(f->pat_first);
		ru_free(f->pat_rules);
		ru_free(f->pat_anchor);
		ru_free(f->pat_len);
		f->pat_first = f->pat_rules = f->pat_len = NULL;
		f->pat_anchor = NULL;
		f->npat = 0;
	}
	return rc;
}

/* ---- intervals ---------------------------------------------------------------- */

/* The interval of numbers test `op k` holds for. */
static void
interval_of(const struct rv_prog *p, unsigned op, uint32_t k, double *lo, int *lo_open, double *hi,
	int *hi_open)
{
	const struct rv_const *c = &p->consts[k];

	*lo = -INFINITY;
	*hi = INFINITY;
	*lo_open = *hi_open = 0;
	switch (op) {
	case RV_OP_LT: *hi = rv_bits_double(c->b); *hi_open = 1; return;
	case RV_OP_LE: *hi = rv_bits_double(c->b); return;
	case RV_OP_GT: *lo = rv_bits_double(c->b); *lo_open = 1; return;
	case RV_OP_GE: *lo = rv_bits_double(c->b); return;
	default: break;
	}
	/* a RANGE constant (IN or RANGE) */
	if (c->a != RV_NONE) {
		*lo = rv_bits_double(p->consts[c->a].b);
		*lo_open = (c->flags & RV_KF_LO_OPEN) != 0;
	}
	if (c->b != RV_NONE) {
		*hi = rv_bits_double(p->consts[(uint32_t)c->b].b);
		*hi_open = (c->flags & RV_KF_HI_OPEN) != 0;
	}
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/*
 * Position of x among the endpoints: 2i+1 when x == ends[i], 2i when it
 * lies between ends[i-1] and ends[i] (2 * nends after the last).
 */
static uint32_t
position(const double *ends, uint32_t nends, double x)
{
	uint32_t lo = 0, hi = nends;

	while (lo < hi) { /* first endpoint >= x */
		uint32_t mid = lo + (hi - lo) / 2;

		if (ends[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nends && ends[lo] == x ? 2 * lo + 1 : 2 * lo;
}

/* Positions [*a, *b] of an interval; 0 if it holds no number. */
static int
span(const struct ifield *f, double lo, int lo_open, double hi, int hi_open, uint32_t *a, uint32_t *b)
{
	uint32_t i;

	if (lo == -INFINITY && !lo_open) {
		*a = 0;
	} else {
		i = position(f->ends, f->nends, lo) / 2; /* lo is an endpoint: position 2i+1 */
		*a = lo_open ? 2 * i + 2 : 2 * i + 1;
	}
	if (hi == INFINITY && !hi_open) {
		*b = 2 * f->nends;
	} else {
		i = position(f->ends, f->nends, hi) / 2;
		*b = hi_open ? 2 * i : 2 * i + 1;
	}
	return *a <= *b;
}

/*
 * The segment tree of the interval entries es[0..n): leaves are the
 * positions (each endpoint, and the gaps around them), each interval is
 * stored in the O(log) nodes that cover its positions exactly, and a
 * probe collects the nodes on one leaf-to-root path. Two passes: count,
 * then fill.
 */
static int
build_intervals(const struct rv_prog *p, struct ifield *f, struct ent **es, uint32_t n)
{
	uint32_t i, m = 0, S = 1, pass, *fill = NULL;
	double lo, hi;
	int lo_open, hi_open;

	if ((f->ends = ru_malloc(((size_t)2 * n + 1) * sizeof *f->ends)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		interval_of(p, es[i]->op, es[i]->k, &lo, &lo_open, &hi, &hi_open);
		if (lo != -INFINITY || lo_open)
			f->ends[m++] = lo;
		if (hi != INFINITY || hi_open)
			f->ends[m++] = hi;
	}
	qsort(f->ends, m, sizeof *f->ends, cmp_double);
	f->nends = 0;
	for (i = 0; i < m; i++)
		if (f->nends == 0 || f->ends[i] != f->ends[f->nends - 1])
			f->ends[f->nends++] = f->ends[i];
	while (S < 2 * f->nends + 1)
		S *= 2;
	f->seg_size = S;
	f->seg_first = ru_malloc(((size_t)2 * S + 1) * sizeof *f->seg_first);
	fill = ru_malloc(((size_t)2 * S + 1) * sizeof *fill);
	if (!f->seg_first || !fill) {
		ru_free(fill);
		return -1;
	}
	memset(f->seg_first, 0, ((size_t)2 * S + 1) * sizeof *f->seg_first);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			for (i = 1; i <= 2 * S; i++) /* counts -> starts */
				f->seg_first[i] += f->seg_first[i - 1];
			if ((f->seg_rules = ru_malloc(((size_t)f->seg_first[2 * S] + 1) * sizeof *f->seg_rules))
			    == NULL) {
				ru_free(fill);
				return -1;
			}
			memcpy(fill, f->seg_first, ((size_t)2 * S + 1) * sizeof *fill);
		}
		for (i = 0; i < n; i++) {
			uint32_t a, b, l, r;

			interval_of(p, es[i]->op, es[i]->k, &lo, &lo_open, &hi, &hi_open);
			if (!span(f, lo, lo_open, hi, hi_open, &a, &b))
				continue; /* holds for no number: the rule cannot match */
			for (l = a + S, r = b + S + 1; l < r; l >>= 1, r >>= 1) {
				if (l & 1) {
					if (pass == 0)
						f->seg_first[l + 1]++;
					else
						f->seg_rules[fill[l]++] = es[i]->rule;
					l++;
				}
				if (r & 1) {
					--r;
					if (pass == 0)
						f->seg_first[r + 1]++;
					else
						f->seg_rules[fill[r]++] = es[i]->rule;
				}
			}
		}
	}
	ru_free(fill);
	return 0;
}

/* ---- networks ------------------------------------------------------------------ */

/* Bit i (from the most significant) of a network-order address. */
static unsigned
addr_bit(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8] >> (7 - i % 8)) & 1u;
}

/* A pending (node, rule) pair while the trie is built. */
struct npair {
	uint32_t node, rule;
};

/* Inserts network k's prefix for rule; appends the pair. -1 out of memory. */
static int
trie_insert(const struct rv_prog *p, struct ifield *f, uint32_t *cap, uint32_t k, uint32_t rule,
	struct npair **pairs, uint32_t *npairs, uint32_t *pcap)
{
	const struct rv_const *c = &p->consts[k];
	uint32_t node = c->aux == 4 ? 0 : 1, i;

	for (i = 0; i < c->a; i++) {
		unsigned bit = addr_bit(c->addr, i);

		if (f->nodes[node].child[bit] == 0) {
			if (f->nnodes == *cap) {
				struct tnode *t = ru_realloc(f->nodes, (size_t)*cap * 2 * sizeof *t);

				if (t == NULL)
					return -1;
				f->nodes = t;
				*cap *= 2;
			}
			memset(&f->nodes[f->nnodes], 0, sizeof f->nodes[0]);
			f->nodes[node].child[bit] = f->nnodes++;
		}
		node = f->nodes[node].child[bit];
	}
	if (*npairs == *pcap) {
		struct npair *t = ru_realloc(*pairs, (size_t)*pcap * 2 * sizeof *t);

		if (t == NULL)
			return -1;
		*pairs = t;
		*pcap *= 2;
	}
	(*pairs)[*npairs].node = node;
	(*pairs)[(*npairs)++].rule = rule;
	return 0;
}

/* The binary trie of the network entries es[0..n) (a set adds each member). */
static int
build_networks(const struct rv_prog *p, struct ifield *f, struct ent **es, uint32_t n)
{
	uint32_t cap = 64, pcap = 16, npairs = 0, i, j, *fill = NULL;
	struct npair *pairs = ru_malloc(pcap * sizeof *pairs);
	int rc = -1;

	if ((f->nodes = ru_malloc(cap * sizeof *f->nodes)) == NULL || pairs == NULL)
		goto done;
	memset(f->nodes, 0, 2 * sizeof *f->nodes);
	f->nnodes = 2;
	for (i = 0; i < n; i++) {
		const struct rv_const *c = &p->consts[es[i]->k];

		if (c->kind == RV_K_CIDR) {
			if (trie_insert(p, f, &cap, es[i]->k, es[i]->rule, &pairs, &npairs, &pcap) < 0)
				goto done;
			continue;
		}
		for (j = 0; j < (uint32_t)c->b; j++)
			if (trie_insert(p, f, &cap, p->setitems[c->a + j], es[i]->rule, &pairs, &npairs,
				    &pcap) < 0)
				goto done;
	}
	/* the rules of node x: net_rules[first(x) .. first(x+1)), first(nnodes) in fill */
	if ((fill = ru_malloc(((size_t)f->nnodes + 1) * sizeof *fill)) == NULL
	    || (f->net_rules = ru_malloc(((size_t)npairs + 1) * sizeof *f->net_rules)) == NULL)
		goto done;
	memset(fill, 0, ((size_t)f->nnodes + 1) * sizeof *fill);
	for (i = 0; i < npairs; i++)
		fill[pairs[i].node + 1]++;
	for (i = 0; i < f->nnodes; i++) {
		fill[i + 1] += fill[i];
		f->nodes[i].first = fill[i];
	}
	for (i = 0; i < npairs; i++)
		f->net_rules[fill[pairs[i].node]++] = pairs[i].rule;
	f->net_total = npairs;
	rc = 0;
done:
	ru_free(pairs);
	ru_free(fill);
	return rc;
}

/* The end of node x's rules. */
static uint32_t
node_end(const struct ifield *f, uint32_t x)
{
	return x + 1 < f->nnodes ? f->nodes[x + 1].first : f->net_total;
}

/* ---- building -------------------------------------------------------------------- */

static uint32_t
islot(uint64_t key, uint32_t fi, uint32_t cap)
{
	uint64_t h = key ^ ((uint64_t)fi * 0x9e3779b97f4a7c15ull);

	h ^= h >> 29;
	return (uint32_t)(h & (cap - 1));
}

static void
put_key(struct rv_index *ix, uint64_t key, uint32_t fi, uint32_t rule)
{
	uint32_t s;

	for (s = islot(key, fi, ix->itab_cap); ix->itab[s].rule != RV_NONE; s = (s + 1) & (ix->itab_cap - 1))
		;
	ix->itab[s].key = key;
	ix->itab[s].fi = fi;
	ix->itab[s].rule = rule;
}

/* The key of hash test `op k` member item: exact, or folded for strings of ieq and caseless sets. */
static uint64_t
hash_key(const struct rv_prog *p, unsigned op, uint32_t set_flags, uint32_t item, int *folded)
{
	const struct rv_const *c = &p->consts[item];
	int ok;

	*folded = c->kind == RV_K_STR && (op == RV_OP_IEQ || (set_flags & RV_KF_CASELESS));
	if (*folded)
		return rv_key_folded(p->strs + c->a, (size_t)c->b);
	return rv_const_key(p, item, &ok);
}

/* Orders entry pointers by field, family. */
static int
cmp_field(const void *x, const void *y)
{
	const struct ent *a = *(const struct ent *const *)x, *b = *(const struct ent *const *)y;

	if (a->fi != b->fi)
		return a->fi < b->fi ? -1 : 1;
	if (a->fam != b->fam)
		return a->fam < b->fam ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* Builds every field's string, interval and network structures from the sorted entries. */
static int
build_fields(const struct rv_prog *p, struct rv_index *ix, struct ent **sorted, uint32_t n)
{
	uint32_t i = 0, j;
	int r;

	while (i < n) {
		struct ifield *f = &ix->fields[sorted[i]->fi];
		unsigned fam = sorted[i]->fam;

		for (j = i; j < n && sorted[j]->fi == sorted[i]->fi && sorted[j]->fam == fam; j++)
			;
		switch (fam) {
		case F_STRING:
			if ((r = build_strings(p, f, sorted + i, j - i)) < 0)
				return -1;
			if (r > 0) /* refused: these rules are residual */
				while (i < j)
					sorted[i++]->fam = F_NONE;
			break;
		case F_INTERVAL:
			if (build_intervals(p, f, sorted + i, j - i) < 0)
				return -1;
			break;
		case F_NETWORK:
			if (build_networks(p, f, sorted + i, j - i) < 0)
				return -1;
			break;
		default:
			break;
		}
		i = j;
	}
	return 0;
}

/* Doubles the entry array (a rule with a disjunction has several entries). */
static int
grow_ents(struct ent **ents, uint32_t *cap)
{
	struct ent *t = ru_realloc(*ents, (size_t)*cap * 2 * sizeof *t);

	if (t == NULL)
		return -1;
	*ents = t;
	*cap *= 2;
	return 0;
}

static int
grow_fields(struct rv_index *ix, uint32_t *cap)
{
	struct ifield *t = ru_realloc(ix->fields, (size_t)*cap * 2 * sizeof *t);

	if (t == NULL)
		return -1;
	ix->fields = t;
	*cap *= 2;
	return 0;
}

int
rv_index_build(struct rv_rt *rt, char *err, size_t errlen)
{
	const struct rv_prog *p = rt->p;
	struct rv_index *ix = ru_malloc(sizeof *ix);
	struct ent *ents = NULL, **sorted = NULL;
	uint32_t *field_fi = NULL, *field_seen = NULL;
	uint32_t c, i, j, n = 0, nkeys = 0, nres = 0, e, cap = 1;
	uint32_t ncap = p->nrtypes + 16, fcap = p->nrtypes + 16;

	rt->ix = NULL;
	if (ix == NULL)
		goto oom;
	memset(ix, 0, sizeof *ix);
	ents = ru_malloc((size_t)ncap * sizeof *ents);
	field_fi = ru_malloc(((size_t)p->nfields + 1) * sizeof *field_fi);
	field_seen = ru_malloc(((size_t)p->nfields + 1) * sizeof *field_seen);
	ix->fields = ru_malloc((size_t)fcap * sizeof *ix->fields);
	ix->cfirst = ru_malloc(((size_t)p->ncontracts + 1) * sizeof *ix->cfirst);
	ix->resid_first = ru_malloc(((size_t)p->ncontracts + 1) * sizeof *ix->resid_first);
	ix->resid = ru_malloc(((size_t)p->nrtypes + 1) * sizeof *ix->resid);
	if (!ents || !field_fi || !field_seen || !ix->fields || !ix->cfirst || !ix->resid_first
	    || !ix->resid)
		goto oom;
	memset(field_seen, 0xff, ((size_t)p->nfields + 1) * sizeof *field_seen);
	/* 1. file every routing rule with access tests under their (contract, field)s */
	for (c = 0; c < p->ncontracts; c++) {
		ix->cfirst[c] = ix->nfields;
		for (i = rt->phase_first[2 * c]; i < rt->phase_first[2 * c + 1]; i++) {
			uint32_t r = rt->contract_rules[i], nt, f;
			struct test t[MAX_TESTS];

			if ((nt = access_tests(p, p->rules[r].cond_pc, t)) == 0)
				continue;
			for (j = 0; j < nt; j++)
				if (family(p, t[j].op, t[j].k) == F_NONE)
					break;
			if (j < nt)
				continue; /* one test the index cannot hold: residual */
			for (j = 0; j < nt; j++) {
				if (n == ncap) {
					if (grow_ents(&ents, &ncap) < 0)
						goto oom;
				}
				f = t[j].field;
				if (field_seen[f] != c) {
					field_seen[f] = c;
					field_fi[f] = ix->nfields;
					if (ix->nfields == fcap && grow_fields(ix, &fcap) < 0)
						goto oom;
					memset(&ix->fields[ix->nfields], 0, sizeof ix->fields[0]);
					ix->fields[ix->nfields++].field = f;
				}
				ents[n].fi = field_fi[f];
				ents[n].rule = r;
				ents[n].k = t[j].k;
				ents[n].op = (uint8_t)t[j].op;
				ents[n].fam = (uint8_t)family(p, t[j].op, t[j].k);
				n++;
			}
		}
	}
	ix->cfirst[p->ncontracts] = ix->nfields;
	/* 2. per field and family, its structure (a string set Hyperscan refuses turns residual) */
	if ((sorted = ru_malloc(((size_t)n + 1) * sizeof *sorted)) == NULL)
		goto oom;
	for (e = 0; e < n; e++)
		sorted[e] = &ents[e];
	qsort(sorted, n, sizeof *sorted, cmp_field);
	if (build_fields(p, ix, sorted, n) < 0)
		goto oom;
	/* 3. the hash table of equality keys */
	for (e = 0; e < n; e++)
		if (ents[e].fam == F_HASH)
			nkeys += p->consts[ents[e].k].kind == RV_K_SET ? (uint32_t)p->consts[ents[e].k].b : 1;
	while (cap < 2 * nkeys + 2)
		cap *= 2;
	if ((ix->itab = ru_malloc((size_t)cap * sizeof *ix->itab)) == NULL)
		goto oom;
	ix->itab_cap = cap;
	for (i = 0; i < cap; i++)
		ix->itab[i].rule = RV_NONE;
	for (e = 0; e < n; e++) {
		const struct rv_const *kc = &p->consts[ents[e].k];
		uint32_t nk = kc->kind == RV_K_SET ? (uint32_t)kc->b : 1;
		int folded;

		if (ents[e].fam != F_HASH)
			continue;
		for (j = 0; j < nk; j++) {
			uint32_t item = kc->kind == RV_K_SET ? p->setitems[kc->a + j] : ents[e].k;
			uint64_t key = hash_key(p, ents[e].op, kc->kind == RV_K_SET ? kc->flags : 0, item, &folded);

			put_key(ix, key, ents[e].fi, ents[e].rule);
			if (folded)
				ix->fields[ents[e].fi].has_folded = 1;
			else
				ix->fields[ents[e].fi].has_key = 1;
		}
	}
	/* 4. the residual rules, in program order. ents were made in this very
	 * order, and a rule has the same tests for every contract or none, so
	 * the next entries are this rule's exactly when their rule is r. A rule
	 * with one test turned residual is residual (its other filings stay:
	 * the matcher takes a rule that is both only once). */
	for (c = 0, e = 0; c < p->ncontracts; c++) {
		ix->resid_first[c] = nres;
		for (i = rt->phase_first[2 * c]; i < rt->phase_first[2 * c + 1]; i++) {
			uint32_t r = rt->contract_rules[i];
			int resid = !(e < n && ents[e].rule == r);

			for (; e < n && ents[e].rule == r; e++)
				resid |= ents[e].fam == F_NONE;
			if (resid)
				ix->resid[nres++] = r;
		}
	}
	ix->resid_first[p->ncontracts] = nres;
	ru_free(ents);
	ru_free(sorted);
	ru_free(field_fi);
	ru_free(field_seen);
	rt->ix = ix;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	ru_free(ents);
	ru_free(sorted);
	ru_free(field_fi);
	ru_free(field_seen);
	rv_index_free(ix);
	return -1;
}

void
rv_index_free(struct rv_index *ix)
{
	uint32_t i;

	if (ix == NULL)
		return;
	if (ix->fields)
		for (i = 0; i < ix->nfields; i++) {
			struct ifield *f = &ix->fields[i];

			if (f->db)
				hs_free_database(f->db);
			ru_free(f->pat_first);
			ru_free(f->pat_rules);
			ru_free(f->pat_anchor);
			ru_free(f->pat_len);
			ru_free(f->ends);
			ru_free(f->seg_first);
			ru_free(f->seg_rules);
			ru_free(f->nodes);
			ru_free(f->net_rules);
		}
	ru_free(ix->fields);
	ru_free(ix->itab);
	ru_free(ix->cfirst);
	ru_free(ix->resid_first);
	ru_free(ix->resid);
	ru_free(ix);
}

int
rv_index_alloc_scratch(const struct rv_index *ix, hs_scratch_t **scratch)
{
	uint32_t i;

	for (i = 0; ix && i < ix->nfields; i++)
		if (ix->fields[i].db && hs_alloc_scratch(ix->fields[i].db, scratch) != HS_SUCCESS)
			return -1;
	return 0;
}

const uint32_t *
rv_index_residual(const struct rv_index *ix, uint32_t c, uint32_t *n)
{
	*n = ix->resid_first[c + 1] - ix->resid_first[c];
	return ix->resid + ix->resid_first[c];
}

/* ---- probing ------------------------------------------------------------------------ */

struct probe {
	const struct rv_index *ix;
	const struct ifield *f;     /* the field being probed */
	uint32_t fi;
	struct rv_vm *vm;
	uint32_t *cand, *cand_stamp, stamp, n;
	size_t vlen;                /* the length of the string being scanned */
};

static void
add(struct probe *pr, uint32_t rule)
{
	if (pr->cand_stamp[rule] != pr->stamp) {
		pr->cand_stamp[rule] = pr->stamp;
		pr->cand[pr->n++] = rule;
	}
}

static void
add_range(struct probe *pr, const uint32_t *rules, uint32_t a, uint32_t b)
{
	for (; a < b; a++)
		add(pr, rules[a]);
}

static void
probe_key(struct probe *pr, uint64_t key)
{
	const struct rv_index *ix = pr->ix;
	uint32_t s;

	for (s = islot(key, pr->fi, ix->itab_cap); ix->itab[s].rule != RV_NONE; s = (s + 1) & (ix->itab_cap - 1))
		if (ix->itab[s].key == key && ix->itab[s].fi == pr->fi)
			add(pr, ix->itab[s].rule);
}

/* Hyperscan: pattern id matched; its rules are candidates. */
static int
on_pattern(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ctx)
{
	struct probe *pr = ctx;
	unsigned anchor = pr->f->pat_anchor[id];

	(void)from;
	(void)flags;
	if (((anchor & AT_START) && to != pr->f->pat_len[id]) || ((anchor & AT_END) && to != pr->vlen))
		return 0; /* the literal is elsewhere in the value */
	add_range(pr, pr->f->pat_rules, pr->f->pat_first[id], pr->f->pat_first[id + 1]);
	return 0;
}

static void
probe_interval(struct probe *pr, double x)
{
	const struct ifield *f = pr->f;
	uint32_t node;

	if (isnan(x))
		return; /* no comparison holds for NaN */
	for (node = f->seg_size + position(f->ends, f->nends, x); node >= 1; node >>= 1)
		add_range(pr, f->seg_rules, f->seg_first[node], f->seg_first[node + 1]);
}

static void
probe_network(struct probe *pr, const char *s, size_t n)
{
	const struct ifield *f = pr->f;
	uint32_t node, depth, bits;
	uint8_t addr[16];
	int fam = rv_parse_addr(s, n, addr);

	if (fam == 0)
		return;
	node = fam == 4 ? 0 : 1;
	bits = fam == 4 ? 32 : 128;
	for (depth = 0;; depth++) {
		add_range(pr, f->net_rules, f->nodes[node].first, node_end(f, node));
		if (depth == bits || (node = f->nodes[node].child[addr_bit(addr, depth)]) == 0)
			break;
	}
}

/* rv_field_scalars callback: every family of the field, for one scalar. */
static void
on_scalar(void *ud, const struct rv_val *x, const char *s, size_t n)
{
	struct probe *pr = ud;
	const struct ifield *f = pr->f;

	if (f->has_key)
		probe_key(pr, rv_scalar_key(x, s, n));
	if (x->k == RV_V_NUM) {
		if (f->seg_size)
			probe_interval(pr, x->u.num);
		return;
	}
	if (x->k != RV_V_STR)
		return;
	if (f->has_folded)
		probe_key(pr, rv_key_folded(s, n));
	pr->vlen = n;
	if (f->db && hs_scan(f->db, n ? s : "", (unsigned)n, 0, pr->vm->hs, on_pattern, pr) != HS_SUCCESS)
		add_range(pr, f->pat_rules, 0, f->pat_first[f->npat]); /* cannot happen; stay a superset */
	if (f->nodes)
		probe_network(pr, s, n);
}

uint32_t
rv_index_probe(const struct rv_index *ix, struct rv_vm *vm, uint32_t c, uint32_t *cand,
	uint32_t *cand_stamp, uint32_t stamp)
{
	struct probe pr = { ix, NULL, 0, vm, cand, cand_stamp, stamp, 0, 0 };
	uint32_t i;

	for (i = ix->cfirst[c]; i < ix->cfirst[c + 1]; i++) {
		pr.f = &ix->fields[i];
		pr.fi = i;
		rv_field_scalars(vm, pr.f->field, on_scalar, &pr);
	}
	return pr.n;
}

/* ---- shared predicates ---------------------------------------------------------------- */

/* One predicate instruction on (field, constant), while building. */
struct pred {
	uint32_t op, field, k, pc;
};

static int
cmp_pred(const void *x, const void *y)
{
	const struct pred *a = x, *b = y;

	if (a->op != b->op)
		return a->op < b->op ? -1 : 1;
	if (a->field != b->field)
		return a->field < b->field ? -1 : 1;
	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	return a->pc < b->pc ? -1 : a->pc > b->pc;
}

/* Is op a binary predicate of vmops.c (compare, string, member)? */
static int
binary_predicate(unsigned op)
{
	return (op >= RV_OP_EQ && op <= RV_OP_MATCHES) || (op >= RV_OP_IN && op <= RV_OP_NCIDR);
}

int
rv_preds_build(struct rv_rt *rt)
{
	const struct rv_prog *p = rt->p;
	uint8_t *entry = NULL;
	struct pred *pr = NULL;
	uint32_t pc, np = 0, i, j, slot = 0, prev1 = RV_NONE, prev2 = RV_NONE;
	int rc = -1;

	rt->pred = NULL;
	rt->npred = 0;
	if (p->ncode == 0)
		return 0;
	entry = ru_malloc(p->ncode);
	pr = ru_malloc((size_t)p->ncode * sizeof *pr);
	if (!entry || !pr)
		goto done;
	/* every place control can arrive at other than from the instruction
	 * before: jump targets, block starts (after a terminator), rule entries */
	memset(entry, 0, p->ncode);
	entry[0] = 1;
	for (pc = 0; pc < p->ncode; pc += (rv_opinfo[RV_GET_OP(p->code[pc])].flags & RV_OPF_KX) ? 2 : 1) {
		unsigned fl = rv_opinfo[RV_GET_OP(p->code[pc])].flags;
		int64_t t;

		if ((fl & RV_OPF_JUMP) && (t = rv_jump_target(p->code[pc], pc)) >= 0 && t < p->ncode)
			entry[t] = 1;
		if ((fl & RV_OPF_TERM) && pc + 1 < p->ncode)
			entry[pc + 1] = 1;
	}
	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].cond_pc < p->ncode)
			entry[p->rules[i].cond_pc] = 1;
	/* LOADF a f; LOADK b k; OP d a b, entered only at its LOADF */
	for (pc = 0; pc < p->ncode; pc += (rv_opinfo[RV_GET_OP(p->code[pc])].flags & RV_OPF_KX) ? 2 : 1) {
		uint32_t w = p->code[pc], at, f, k;
		unsigned a, b;

		if (binary_predicate(RV_GET_OP(w)) && prev2 != RV_NONE && !entry[pc] && !entry[prev1]) {
			at = prev2;
			if (read_load(p, &at, RV_OP_LOADF, RV_OP_LOADFX, &a, &f) && at == prev1
			    && read_load(p, &at, RV_OP_LOADK, RV_OP_LOADKX, &b, &k) && at == pc && a != b
			    && RV_GET_B(w) == a && RV_GET_C(w) == b) {
				pr[np].op = RV_GET_OP(w);
				pr[np].field = f;
				pr[np].k = k;
				pr[np++].pc = pc;
			}
		}
		prev2 = prev1;
		prev1 = pc;
	}
	qsort(pr, np, sizeof *pr, cmp_pred);
	if ((rt->pred = ru_malloc((size_t)p->ncode * sizeof *rt->pred)) == NULL)
		goto done;
	memset(rt->pred, 0xff, (size_t)p->ncode * sizeof *rt->pred);
	for (i = 0; i < np; i = j) {
		for (j = i + 1; j < np && pr[j].op == pr[i].op && pr[j].field == pr[i].field && pr[j].k == pr[i].k; j++)
			;
		if (j - i < 2)
			continue; /* written once: nothing to share */
		for (; i < j; i++)
			rt->pred[pr[i].pc] = slot;
		slot++;
	}
	rt->npred = slot;
	if (slot == 0) {
		ru_free(rt->pred);
		rt->pred = NULL;
	}
	rc = 0;
done:
	ru_free(entry);
	ru_free(pr);
	return rc;
}
