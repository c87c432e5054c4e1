/*
 * match_bench.c -- throughput of libroute's route_match() (bench/run.sh).
 *
 *   match_bench RULES.rbc EVENTS.jsonl [--limit N] [--passes P] [--cpu C]
 *               [--type-field F] [--slice N] [--virtual-clock]
 *
 * Loads the program, creates one matcher, memory-maps the events (one JSON
 * object per line; the first N lines with --limit), pins itself to one CPU
 * (the last one by default), runs one warm-up pass and P measured passes
 * (default 5) over the events and prints one line:
 *
 *   RESULT engine=routec events=... passes=... median_eps=... min_eps=...
 *          max_eps=... checksum=... checksum_stable=1 hits=... cpu=...
 *          rss_peak_kb=... rss_engine_kb=... rbc_bytes=... nrules=...
 *          load_ms=... bad=...
 *
 * checksum is the number of (event, matched rule) pairs of one pass (it must
 * be the same in every pass and for every engine); hits the number of events
 * that matched at least one rule; bad the events that were not ROUTE_OK
 * (rejected, unknown type); rss_engine_kb the peak RSS before the events were
 * mapped (program + matcher + libraries), rss_peak_kb the peak at the end
 * (the mapped events included).
 *
 * --virtual-clock: for temporal rules: each pass starts from a fresh state
 * on a virtual clock at 2024-01-01, which moves 1 ms per event, so that the
 * windows, and the checksum, are the same in every pass and on every
 * machine (the advance is counted in the time).
 *
 * --slice N: callgrind mode: no warm-up and no timing; matches the first N
 * events once, in match_slice() (run valgrind with
 * --toggle-collect=match_slice so that only matching is counted).
 */
#include "bench_common.h"

#include "route.h"

static unsigned long long g_hits, g_bad;
static route_state *g_state; /* --virtual-clock: the pass's state, else NULL */

__attribute__((noinline)) unsigned long long
match_slice(route_matcher *m, const struct bench_events *ev, size_t n)
{
	struct route_decision d;
	unsigned long long sum = 0, hits = 0, bad = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (g_state)
			route_state_advance(g_state, 1);
		if (route_match(m, ev->base + ev->off[i], ev->len[i], &d) != ROUTE_OK) {
			bad++;
			continue;
		}
		sum += d.nrules;
		hits += d.nrules != 0;
	}
	g_hits = hits;
	g_bad = bad;
	return sum;
}

/* --virtual-clock: m gets a new, empty state at 2024-01-01T00:00:00Z. */
static void
fresh_state(route_prog *p, route_matcher *m)
{
	route_matcher_set_state(m, NULL);
	route_state_free(g_state);
	if ((g_state = route_state_new(p)) == NULL) {
		fprintf(stderr, "match_bench: out of memory\n");
		exit(1);
	}
	route_state_set_time(g_state, 1704067200000LL);
	route_matcher_set_state(m, g_state);
}

static void
usage(void)
{
	fprintf(stderr, "usage: match_bench RULES.rbc EVENTS.jsonl [--limit N] [--passes P] [--cpu C]"
		" [--type-field F] [--slice N] [--virtual-clock]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct route_options opt;
	struct bench_events ev;
	char err[256];
	route_prog *p;
	route_matcher *m;
	size_t limit = 0, slice = 0;
	int passes = 5, cpu = -1, a, stable = 1, vclock = 0;
	double t0, load_ms, *eps;
	unsigned long long sum, first = 0;
	long rss_engine, rbc_bytes;
	struct stat st;

	if (argc < 3)
		usage();
	memset(&opt, 0, sizeof opt);
	for (a = 3; a < argc; a++) {
		if (strcmp(argv[a], "--virtual-clock") == 0) {
			vclock = 1;
			continue;
		}
		if (a + 1 >= argc)
			usage();
		if (strcmp(argv[a], "--limit") == 0)
			limit = strtoul(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--passes") == 0)
			passes = atoi(argv[++a]);
		else if (strcmp(argv[a], "--cpu") == 0)
			cpu = atoi(argv[++a]);
		else if (strcmp(argv[a], "--type-field") == 0)
			opt.type_field = argv[++a];
		else if (strcmp(argv[a], "--slice") == 0)
			slice = strtoul(argv[++a], NULL, 10);
		else
			usage();
	}
	if (passes < 1)
		usage();
	cpu = bench_pin(cpu);
	t0 = bench_now();
	p = route_prog_load_file(argv[1], &opt, err, sizeof err);
	if (!p) {
		fprintf(stderr, "match_bench: %s\n", err);
		return 1;
	}
	m = route_matcher_new(p);
	if (!m) {
		fprintf(stderr, "match_bench: out of memory\n");
		return 1;
	}
	load_ms = (bench_now() - t0) * 1e3;
	rbc_bytes = stat(argv[1], &st) == 0 ? (long)st.st_size : -1;
	rss_engine = bench_peak_rss_kb();
	bench_map(&ev, argv[2], slice ? slice : limit);

	if (slice) {
		if (vclock)
			fresh_state(p, m);
		sum = match_slice(m, &ev, ev.n);
		printf("SLICE engine=routec events=%zu checksum=%llu hits=%llu bad=%llu\n", ev.n, sum, g_hits, g_bad);
		route_matcher_free(m);
		route_prog_free(p);
		return 0;
	}

	eps = (double *)malloc((size_t)passes * sizeof *eps);
	if (vclock)
		fresh_state(p, m);
	first = match_slice(m, &ev, ev.n); /* warm-up */
	for (a = 0; a < passes; a++) {
		double t;

		if (vclock)
			fresh_state(p, m);
		t = bench_now();

		sum = match_slice(m, &ev, ev.n);
		t = bench_now() - t;
		eps[a] = (double)ev.n / t;
		if (sum != first)
			stable = 0;
	}
	bench_report("routec", ev.n, eps, passes, first, stable, g_hits, cpu);
	printf(" rss_engine_kb=%ld rbc_bytes=%ld nrules=%u load_ms=%.2f bad=%llu\n", rss_engine, rbc_bytes,
		route_prog_nrules(p), load_ms, g_bad);
	route_matcher_free(m);
	route_state_free(g_state);
	route_prog_free(p);
	return 0;
}
