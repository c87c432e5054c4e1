/*
 * jansson_bench.c -- the "parse with a DOM library, then evaluate every rule"
 * baseline of the matching benchmark (bench/run.sh).
 *
 *   jansson_bench RULES.spec EVENTS.jsonl [--payload MEMBER] [--type-field F]
 *                 [--limit N] [--passes P] [--cpu C]
 *
 * Each event is parsed with jansson (json_loadb, a full DOM), then every rule
 * of the spec file written by gen_bench is evaluated in turn: the event's
 * type (member F, default "type") against the rule's, then the rule's
 * conjuncts, each an OR of predicates, with the Route semantics (a path
 * through arrays stands for every element, a predicate holds if it holds for
 * any; a predicate on a missing value or one of another type is false; a
 * negated predicate is true then). --payload data: field paths start in the
 * member "data" (CloudEvents). Same memory-mapped events, pinning, warm-up
 * and passes as match_bench; prints the same RESULT line, whose checksum must
 * equal match_bench's on the same events.
 */
#include "bench_common.h"

#include <fnmatch.h>
#include <regex.h>
#include <strings.h>

#include <jansson.h>

enum op { OP_EQ, OP_NE, OP_IEQ, OP_PREFIX, OP_SUFFIX, OP_CONTAINS, OP_LIKE, OP_REGEX, OP_RANGE, OP_IN2 };

struct pred {
	int neg;
	enum op op;
	char *segs[8];
	int nsegs;
	char *a, *b;
	size_t alen;
	double lo, hi;
	regex_t re;
};

struct term {
	struct pred *p;
	int n;
};

struct rule {
	char *type;
	struct term *t;
	int n;
};

static struct rule *rules;
static int nrules;

static const char *payload_member, *type_field = "type";

static int
test_leaf(const struct pred *p, json_t *v)
{
	const char *s;
	size_t n;

	if (p->op == OP_RANGE) {
		double x;

		if (!json_is_number(v))
			return 0;
		x = json_number_value(v);
		return x >= p->lo && x <= p->hi;
	}
	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	n = json_string_length(v);
	switch (p->op) {
	case OP_EQ:
		return n == p->alen && memcmp(s, p->a, n) == 0;
	case OP_NE:
		return !(n == p->alen && memcmp(s, p->a, n) == 0);
	case OP_IEQ:
		return n == p->alen && strncasecmp(s, p->a, n) == 0;
	case OP_PREFIX:
		return n >= p->alen && memcmp(s, p->a, p->alen) == 0;
	case OP_SUFFIX:
		return n >= p->alen && memcmp(s + n - p->alen, p->a, p->alen) == 0;
	case OP_CONTAINS:
		return strstr(s, p->a) != NULL;
	case OP_LIKE:
		return fnmatch(p->a, s, 0) == 0;
	case OP_REGEX:
		return regexec(&p->re, s, 0, NULL, 0) == 0;
	case OP_IN2:
		return strcmp(s, p->a) == 0 || strcmp(s, p->b) == 0;
	default:
		return 0;
	}
}

/* Does any value at segs[0..n) below v satisfy p? Arrays stand for their elements. */
static int
test_path(const struct pred *p, json_t *v, char *const *segs, int n)
{
	size_t i;

	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++)
			if (test_path(p, json_array_get(v, i), segs, n))
				return 1;
		return 0;
	}
	if (n == 0)
		return test_leaf(p, v);
	if (!json_is_object(v) || !(v = json_object_get(v, segs[0])))
		return 0;
	return test_path(p, v, segs + 1, n - 1);
}

static unsigned
eval_event(json_t *ev)
{
	json_t *t = json_object_get(ev, type_field), *pl = payload_member ? json_object_get(ev, payload_member) : ev;
	const char *type = json_is_string(t) ? json_string_value(t) : NULL;
	unsigned matched = 0;
	int r, c, k;

	if (!type || !pl)
		return 0;
	for (r = 0; r < nrules; r++) {
		const struct rule *ru = &rules[r];

		if (strcmp(ru->type, type) != 0)
			continue;
		for (c = 0; c < ru->n; c++) {
			const struct term *te = &ru->t[c];

			for (k = 0; k < te->n; k++) {
				const struct pred *p = &te->p[k];

				if (test_path(p, pl, p->segs, p->nsegs) != p->neg)
					break;
			}
			if (k == te->n)
				break; /* no predicate of this conjunct held */
		}
		if (c == ru->n)
			matched++;
	}
	return matched;
}

static void
load_spec(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096], *tok[8], *save, *s;
	int cap = 0, nt;

	if (!f)
		bench_die(path);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		for (nt = 0, s = strtok_r(line, " ", &save); s && nt < 8; s = strtok_r(NULL, " ", &save))
			tok[nt++] = s;
		if (nt == 0)
			continue;
		if (strcmp(tok[0], "R") == 0 && nt == 2) {
			if (nrules == cap) {
				cap = cap ? 2 * cap : 1024;
				rules = realloc(rules, (size_t)cap * sizeof *rules);
			}
			memset(&rules[nrules], 0, sizeof *rules);
			rules[nrules++].type = strdup(tok[1]);
		} else if (strcmp(tok[0], "T") == 0 && nrules) {
			struct rule *ru = &rules[nrules - 1];

			ru->t = realloc(ru->t, (size_t)(ru->n + 1) * sizeof *ru->t);
			memset(&ru->t[ru->n++], 0, sizeof *ru->t);
		} else if (strcmp(tok[0], "P") == 0 && nt >= 5 && nrules && rules[nrules - 1].n) {
			struct rule *ru = &rules[nrules - 1];
			struct term *te = &ru->t[ru->n - 1];
			struct pred *p;
			static const char *names[] = { "eq", "ne", "ieq", "prefix", "suffix", "contains", "like",
				"regex", "range", "in2" };
			int o;
			char *seg;

			te->p = realloc(te->p, (size_t)(te->n + 1) * sizeof *te->p);
			p = &te->p[te->n++];
			memset(p, 0, sizeof *p);
			p->neg = atoi(tok[1]);
			for (o = 0; o < 10 && strcmp(names[o], tok[2]) != 0; o++)
				;
			if (o == 10) {
				fprintf(stderr, "jansson_bench: unknown op %s\n", tok[2]);
				exit(2);
			}
			p->op = (enum op)o;
			for (seg = strtok_r(tok[3], ".", &save); seg && p->nsegs < 8; seg = strtok_r(NULL, ".", &save))
				p->segs[p->nsegs++] = strdup(seg);
			p->a = strdup(tok[4]);
			p->alen = strlen(p->a);
			p->b = nt > 5 ? strdup(tok[5]) : NULL;
			if (p->op == OP_RANGE) {
				p->lo = strtod(tok[4], NULL);
				p->hi = strtod(tok[5], NULL);
			}
			if (p->op == OP_REGEX && regcomp(&p->re, p->a, REG_EXTENDED | REG_NOSUB) != 0) {
				fprintf(stderr, "jansson_bench: bad regex %s\n", p->a);
				exit(2);
			}
		} else {
			fprintf(stderr, "jansson_bench: bad spec line: %s\n", tok[0]);
			exit(2);
		}
	}
	fclose(f);
}

static unsigned long long g_hits, g_bad;

static unsigned long long
run(const struct bench_events *ev)
{
	unsigned long long sum = 0, hits = 0, bad = 0;
	json_error_t err;
	size_t i;

	for (i = 0; i < ev->n; i++) {
		json_t *j = json_loadb(ev->base + ev->off[i], ev->len[i], 0, &err);
		unsigned m;

		if (!j) {
			bad++;
			continue;
		}
		m = eval_event(j);
		sum += m;
		hits += m != 0;
		json_decref(j);
	}
	g_hits = hits;
	g_bad = bad;
	return sum;
}

int
main(int argc, char **argv)
{
	struct bench_events ev;
	size_t limit = 0;
	int passes = 5, cpu = -1, a, stable = 1;
	unsigned long long first, sum;
	double *eps;

	if (argc < 3) {
		fprintf(stderr, "usage: jansson_bench RULES.spec EVENTS.jsonl [--payload M] [--type-field F]"
			" [--limit N] [--passes P] [--cpu C]\n");
		return 2;
	}
	for (a = 3; a + 1 < argc; a++) {
		if (strcmp(argv[a], "--limit") == 0)
			limit = strtoul(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--passes") == 0)
			passes = atoi(argv[++a]);
		else if (strcmp(argv[a], "--cpu") == 0)
			cpu = atoi(argv[++a]);
		else if (strcmp(argv[a], "--payload") == 0)
			payload_member = argv[++a];
		else if (strcmp(argv[a], "--type-field") == 0)
			type_field = argv[++a];
	}
	cpu = bench_pin(cpu);
	load_spec(argv[1]);
	bench_map(&ev, argv[2], limit);
	eps = malloc((size_t)passes * sizeof *eps);
	first = run(&ev);
	for (a = 0; a < passes; a++) {
		double t = bench_now();

		sum = run(&ev);
		eps[a] = (double)ev.n / (bench_now() - t);
		stable &= sum == first;
	}
	bench_report("jansson", ev.n, eps, passes, first, stable, g_hits, cpu);
	printf(" nrules=%d bad=%llu\n", nrules, g_bad);
	return 0;
}
