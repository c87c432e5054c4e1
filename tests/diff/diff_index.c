/*
 * diff_index.c -- differential test of the shared index (issue #4): the
 * routing phase through the index must decide exactly as evaluating every
 * rule in turn (route_options.no_index = 1, the reference).
 *
 * For each seed, gen_rules.c writes a random but valid Route program
 * (contracts with versions, nested objects, arrays, enums, ip, time and any
 * fields; rules of every operator family, as the first must-hold conjunct
 * and elsewhere; transforms, emits, otherwise rules) and gen_events.c
 * random events over the same small pool of constants, so that rules
 * overlap and events hit them. The program is compiled in memory (rc_compile_string)
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

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "driver.h"
#include "gen.h"
#include "route.h"

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
	unsigned long kind_hit[4];        /* matches of route, set, emit and otherwise rules */
};

struct run {
	unsigned nev;
	int verbose;
	const char *write;   /* borrows: -w PREFIX, write PREFIX.route and PREFIX.events */
	FILE *evout;         /* owns: PREFIX.events while a seed runs */
	struct stats st;
	struct sbuf src, ev; /* owns: the current program's source, the current event */
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
				dg_rule(g, i);
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
	dg_contracts(&g);
	/* mostly 15..79 rules; one program in ten has up to MAXRULES (more keys per table) */
	g.nrules = 15 + (int)rnd(&g.r, chance(&g.r, 10) ? MAXRULES - 15 : 65);
	for (i = 0; i < g.nrules; i++)
		dg_rule(&g, i);
	rc_options_default(&co);
	co.opt = (int)(seed % 3); /* -O0 keeps shapes the index may not recognise */
	co.nowarn = 1;
	co.max_errors = 0;
	for (attempt = 0; attempt < 10; attempt++) {
		FILE *df;
		char *dtext = NULL;
		size_t dlen = 0;

		dg_source(&g, &ru->src, &first_line);
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

		dg_event(&g, &ru->ev);
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
			ru->st.kind_hit[g.kind[j]] += x1 == 1;
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
	dg_free(&g);
	return rc;
}

/* An unsigned number from the environment, or def. */
static unsigned long long
env_num(const char *name, unsigned long long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

/*
 * Prints the statistics; returns 1 when the run could have passed without
 * testing much. Rejected rules above 5% fail any run; from 20 programs, too
 * few valid events or matches fail; with full (100 programs or more; make
 * check runs 400), each index family must match and miss 50 times as the
 * first must-hold conjunct, and set, emit and otherwise rules match 100.
 */
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
	fprintf(stderr, "diff_index: rules matched: route %lu, set %lu, emit %lu, otherwise %lu\n",
		st->kind_hit[RK_ROUTE], st->kind_hit[RK_SET], st->kind_hit[RK_EMIT], st->kind_hit[RK_OTHERWISE]);
	for (f = 0; f < NFAM; f++)
		if (st->lead_rules[f])
			fprintf(stderr, "  first conjunct %-14s %5lu rules, matched %7lu, missed %7lu\n",
				dg_family_name[f], st->lead_rules[f], st->lead_hit[f], st->lead_miss[f]);
	if (st->rules && st->rejected * 20 > st->rules) {
		fprintf(stderr, "diff_index: FAIL: more than 5%% of the rules were never-matching\n");
		bad = 1;
	}
	if (st->programs < 20)
		return bad; /* one seed (reproducing a failure): no statistics to judge */
	if (st->ok * 2 < st->events || st->matched_any * 10 < st->ok * 6 || st->matched_lead * 10 < st->ok * 3) {
		fprintf(stderr, "diff_index: FAIL: too few events are valid or match rules (vacuous run)\n");
		bad = 1;
	}
	if (full && (st->kind_hit[RK_SET] < 100 || st->kind_hit[RK_EMIT] < 100 || st->kind_hit[RK_OTHERWISE] < 100)) {
		fprintf(stderr, "diff_index: FAIL: too few set, emit or otherwise rules matched\n");
		bad = 1;
	}
	for (f = 0; full && f < NINDEXFAM; f++)
		if (st->lead_hit[f] < 50 || st->lead_miss[f] < 50) {
			fprintf(stderr, "diff_index: FAIL: first conjunct '%s' matched %lu and missed %lu times "
				"(50 each needed)\n", dg_family_name[f], st->lead_hit[f], st->lead_miss[f]);
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
	return fail;
}
