/*
 * gen_rules.c -- random but valid Route programs for the differential index
 * test: contracts (ev.a and ev.b with one or two versions, drv for emits),
 * seven destinations and rules over a small pool of constants shared with
 * the events (gen_events.c), so that rules overlap and events hit them.
 *
 * A rule's condition starts, mostly, with a field-op-constant predicate of
 * one of the families the shared index recognises (the first must-hold
 * conjunct), followed by more predicates; others start with or/not/other
 * shapes the index must not trust. Rules read only fields every contract
 * they apply to declares (the "universe"). The compiler may still prove a
 * rule can never match (contradictory conjuncts): the driver regenerates it.
 */
#include "config.h"

#include "gen.h"

#define POOL(a) a, (uint32_t)NELEM(a)

/* ---- the shared pools ------------------------------------------------------------ */

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
static const char *const regex_pool[] = {
	"^al", "ha$", "^a.c$", "x-[0-9]+", "caf(\xc3\xa9|e)", "^$", "[A-Z]", "^(alpha|beta)$",
	"\\d{2}", "\xc3\xa9", "a.?c", "^x-1$", "b+", "^.{3}$", "^10\\.1\\.", "::", "^fe",
	"2024-0[1-6]", "^[a-z]+$", "\\.",
};

const struct dg_strs dg_str_pool = { POOL(str_pool) }, dg_enum_pool = { POOL(enum_pool) },
	dg_time_pool = { POOL(time_pool) }, dg_ip_ev_pool = { POOL(ip_ev_pool) },
	dg_id_pool = { POOL(id_pool) }, dg_source_pool = { POOL(source_pool) };
/* Numbers: -0 and 0 are one value; 99.5 and 100 bound each other's ranges. */
const double dg_num_pool[] = {
	-10, -1, -0.5, -0.0, 0, 0.5, 1, 2, 2.5, 3, 10, 42, 99.5, 100, 1000, 1e6,
};
const uint32_t dg_num_pool_n = (uint32_t)NELEM(dg_num_pool);

/* ---- the field model ------------------------------------------------------------------------ */

static const char *const group_decl[NGROUPS] = {
	"s?: string", "t?: string", "code: string", "n?: number", "k?: number", "b?: bool",
	"ip?: ip", "ips?: [ip]", "lvl?: \"lo\" | \"mid\" | \"hi\" | \"Hi\"", "tags?: [string]",
	"nums?: [number]", "o?: { p?: string, q?: { r?: string, m?: number } }",
	"items?: [{ sku?: string, qty?: number }]", "a?: any", "ts?: time", "grid?: [[number]]",
	NULL,
};

const struct leaf dg_leaves[] = {
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
const uint32_t dg_nleaves = (uint32_t)NELEM(dg_leaves);

const char *const dg_type_name[NTYPES] = { "ev.a", "ev.b", "drv" };

#define X_NAME(name, text) text,
const char *const dg_family_name[NFAM] = { FAMILIES(X_NAME) };
#undef X_NAME

/* ---- the rule generator ------------------------------------------------------------------------ */

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
		k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]);
		return;
	case VT_BOOL:
		sb_puts(b, chance(r, 50) ? "true" : "false");
		return;
	case VT_ENUM:
		k_str(g, b, PICK(r, enum_pool));
		return;
	case VT_ANY:
		switch (rnd(r, for_list ? 3 : 4)) {
		case 0: k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]); return;
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
	const struct leaf *ok[64];
	uint32_t i, n = 0;

	for (i = 0; i < dg_nleaves; i++)
		if ((universe >> dg_leaves[i].group & 1) && fam_fits(f, &dg_leaves[i]))
			ok[n++] = &dg_leaves[i];
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
		k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]);
		break;
	case F_RANGE: case F_RANGEX:
		do {
			lo = dg_num_pool[rnd(r, dg_num_pool_n)];
			hi = dg_num_pool[rnd(r, dg_num_pool_n)];
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
		k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]);
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
		k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]);
		return 1;
	case F_CONSTLEFT:
		if (n != NULL && n->t == VT_NUM && chance(r, 60)) {
			k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]);
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
		k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]);
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
			k_num(g, b, dg_num_pool[rnd(r, dg_num_pool_n)]);
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
		sb_puts(b, dg_type_name[t]);
		for (i = 0; i < g->type_n[t]; i++)
			set |= 1u << (g->type_first[t] + i);
	} else if (x < 60) {
		t = chance(r, 50) ? T_A : T_B;
		i = (int)rnd(r, (uint32_t)g->type_n[t]);
		sb_printf(b, "%s v%d", dg_type_name[t], g->c[g->type_first[t] + i].version);
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
void
dg_rule(struct gen *g, int i)
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
		g->kind[i] = RK_OTHERWISE;
		return;
	}
	if (x >= 8 || chance(r, 30)) { /* a few rules have no condition */
		sb_puts(b, " when ");
		lead = gen_cond(g, b, universe, &must);
	}
	g->lead[i] = lead;
	g->lead_must_of[i] = must;
	g->kind[i] = x < 22 ? RK_SET : x < 32 ? RK_EMIT : RK_ROUTE;
	if (x < 22) { /* a transform: set, maybe route too */
		const struct leaf *ok[64];
		uint32_t n = 0, nset = 1 + rnd(r, 2), used = 0;

		for (j = 0; j < dg_nleaves; j++)
			if ((universe >> dg_leaves[j].group & 1) && dg_leaves[j].settable)
				ok[n++] = &dg_leaves[j];
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
void
dg_contracts(struct gen *g)
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
void
dg_source(struct gen *g, struct sbuf *src, int *first_line)
{
	int c, gi, i, lines = 0;

	sb_reset(src);
	sb_puts(src, "# diff_index: a generated program\n");
	lines++;
	for (c = 0; c < g->nc; c++) {
		int first = 1;

		sb_printf(src, "event %s v%d {", dg_type_name[g->c[c].type], g->c[c].version);
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

void
dg_free(struct gen *g)
{
	int i;

	for (i = 0; i < MAXRULES; i++)
		sb_free(&g->rule[i]);
}
