/*
 * gen_events.c -- random events for a generated program (gen_rules.c):
 * values the rules use and their near misses (case variants, one character
 * more or less, concatenations), arrays, missing fields, nulls, wrong JSON
 * types, numbers written differently (1, 1.0, 1e0, 10e-1, -0), escapes
 * (\u0041 for "A", surrogate pairs, \/), UTF-8, IPv4 and IPv6 addresses,
 * nested and odd-shaped objects, plain and CloudEvents envelopes, declared
 * and undeclared versions, unknown types and a few invalid events.
 */
#include "config.h"

#include "gen.h"

#define SPOOL(p) (p).v, (p).n

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
	double v = g->nknum && chance(r, 55) ? g->knum[rnd(r, g->nknum)] : dg_num_pool[rnd(r, dg_num_pool_n)];

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
	case VT_ENUM: ev_str(g, b, SPOOL(dg_enum_pool)); return;
	case VT_IP: ev_str(g, b, SPOOL(dg_ip_ev_pool)); return;
	case VT_TIME: ev_str(g, b, SPOOL(dg_time_pool)); return;
	case VT_ANY:
		switch (rnd(r, 6)) {
		case 0: put_num_json(b, r, ev_num(g)); return;
		case 1: sb_puts(b, chance(r, 50) ? "true" : "false"); return;
		case 2: ev_str(g, b, SPOOL(dg_ip_ev_pool)); return;
		default: break;
		}
		/* fall through */
	default:
		if (lf->pool == dg_str_pool.v && chance(r, 8))
			ev_str(g, b, SPOOL(dg_ip_ev_pool)); /* string fields meet 'in NETWORK' too */
		else if (lf->pool)
			ev_str(g, b, lf->pool, lf->npool);
		else
			ev_str(g, b, SPOOL(dg_str_pool));
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

	for (i = 0; i < dg_nleaves; i++)
		if (strcmp(dg_leaves[i].path, path) == 0)
			return &dg_leaves[i];
	abort();
}

/* o: an object {p, q: {r, m}}, sometimes something else (an array of objects, a string). */
static void
ev_object_o(struct gen *g, struct sbuf *b)
{
	struct rng *r = &g->er;
	uint32_t x = rnd(r, 100), i, n;

	if (x < 8) {
		ev_str(g, b, SPOOL(dg_str_pool));
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

/* Member name of a top-level group in events (the first segment of its dg_leaves). */
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

				for (i = 0; i < dg_nleaves; i++)
					if (dg_leaves[i].group == gi)
						break;
				ev_value(g, b, &dg_leaves[i], 0);
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
void
dg_event(struct gen *g, struct sbuf *b)
{
	struct rng *r = &g->er;
	uint32_t x = rnd(r, 100);
	int t = x < 45 ? T_A : x < 85 ? T_B : T_DRV, ce = chance(r, 12), first = 1, ci;
	const struct contract *c;
	const char *tname = dg_type_name[t];

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
			ev_str(g, b, SPOOL(dg_id_pool));
		}
		if (chance(r, 50)) {
			sb_puts(b, ",\"source\":");
			ev_str(g, b, SPOOL(dg_source_pool));
		}
		if (chance(r, 6)) { /* no payload: data absent, a string or null */
			sb_puts(b, PICK(r, ((const char *const[]){ "}", ",\"data\":\"alpha\"}",
				",\"data\":null}" })));
		} else {
			sb_puts(b, ",\"data\":{");
			ev_payload(g, b, c->mask, &first);
			sb_puts(b, "}}");
		}
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
			ev_str(g, b, SPOOL(dg_id_pool));
		}
		if (chance(r, 40)) {
			sb_puts(b, ",\"event_source\":");
			ev_str(g, b, SPOOL(dg_source_pool));
		}
		if (chance(r, 30)) {
			sb_puts(b, ",\"event_subject\":");
			ev_str(g, b, SPOOL(dg_str_pool));
		}
		if (chance(r, 30)) {
			sb_puts(b, ",\"event_time\":");
			ev_str(g, b, SPOOL(dg_time_pool));
		}
		ev_payload(g, b, c->mask, &first);
		sb_putc(b, '}');
	}
	if (chance(r, 2))
		ev_invalid(g, b);
}
