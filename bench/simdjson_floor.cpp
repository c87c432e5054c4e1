/*
 * simdjson_floor.cpp -- the "touch the fields the rule reads" floor of the
 * matching benchmark (bench/run.sh): simdjson's on-demand API, which reads
 * only what it is asked for and validates little else, so no JSON router can
 * be expected to beat it.
 *
 *   simdjson_floor EVENTS.jsonl --type T --path a.b.c (--eq S | --range LO HI)
 *                  [--type-field F] [--limit N] [--passes P] [--cpu C]
 *
 * For each event: reads the type member F (default "type") and compares it
 * with T, then reads the field at the dotted path and tests it: --eq S, the
 * string equals S (a single exact rule); --range LO HI, some number in it
 * (arrays stand for their elements, nested arrays included) lies in
 * [LO, HI]. Counts the events that satisfy both (the checksum, equal to
 * match_bench's for the one-rule set of the same family). Same memory-mapped
 * events, pinning, warm-up and passes as match_bench. The events are not
 * copied: the mapping itself provides simdjson's padding except for the
 * last few events, which are copied into a padded buffer.
 */
#include "bench_common.h"

#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

using namespace simdjson;

static std::string g_type, g_eq, g_ptr;
static double g_lo, g_hi;
static bool g_range;
static std::string g_type_ptr;

static bool
any_in_range(ondemand::value v)
{
	ondemand::json_type t;

	if (v.type().get(t))
		return false;
	if (t == ondemand::json_type::array) {
		ondemand::array a;
		bool hit = false;

		if (v.get_array().get(a))
			return false;
		for (auto e : a) {
			ondemand::value ev;

			if (e.get(ev))
				return hit;
			if (!hit && any_in_range(ev))
				hit = true; /* keep consuming: on-demand is a forward iterator */
		}
		return hit;
	}
	if (t == ondemand::json_type::number) {
		double x;

		if (v.get_double().get(x))
			return false;
		return x >= g_lo && x <= g_hi;
	}
	return false;
}

static unsigned long long g_hits;

static unsigned long long
run(ondemand::parser &parser, const struct bench_events *ev, std::vector<char> &pad)
{
	unsigned long long sum = 0;

	for (size_t i = 0; i < ev->n; i++) {
		const char *p = ev->base + ev->off[i];
		size_t len = ev->len[i], cap = ev->size - ev->off[i];

		if (cap < len + SIMDJSON_PADDING) {
			memcpy(pad.data(), p, len);
			p = pad.data();
			cap = pad.size();
		}
		ondemand::document doc;
		if (parser.iterate(p, len, cap).get(doc))
			continue;
		std::string_view type;
		if (doc[g_type_ptr].get_string().get(type) || type != g_type)
			continue;
		ondemand::value v;
		if (doc.at_pointer(g_ptr).get(v))
			continue;
		bool hit;
		if (g_range) {
			hit = any_in_range(v);
		} else {
			std::string_view s;
			hit = !v.get_string().get(s) && s == g_eq;
		}
		sum += hit;
	}
	g_hits = sum;
	return sum;
}

int
main(int argc, char **argv)
{
	struct bench_events ev;
	size_t limit = 0;
	int passes = 5, cpu = -1, stable = 1;
	std::string path;

	g_type_ptr = "type";
	if (argc < 2) {
		fprintf(stderr, "usage: simdjson_floor EVENTS --type T --path P (--eq S | --range LO HI)"
			" [--type-field F] [--limit N] [--passes P] [--cpu C]\n");
		return 2;
	}
	for (int a = 2; a + 1 < argc; a++) {
		std::string o = argv[a];
		if (o == "--type") g_type = argv[++a];
		else if (o == "--path") path = argv[++a];
		else if (o == "--eq") g_eq = argv[++a];
		else if (o == "--range" && a + 2 < argc) { g_range = true; g_lo = strtod(argv[++a], NULL); g_hi = strtod(argv[++a], NULL); }
		else if (o == "--type-field") g_type_ptr = argv[++a];
		else if (o == "--limit") limit = strtoul(argv[++a], NULL, 10);
		else if (o == "--passes") passes = atoi(argv[++a]);
		else if (o == "--cpu") cpu = atoi(argv[++a]);
		else { fprintf(stderr, "simdjson_floor: unknown option %s\n", argv[a]); return 2; }
	}
	g_ptr = "/";
	for (char c : path)
		g_ptr += c == '.' ? '/' : c;
	cpu = bench_pin(cpu);
	bench_map(&ev, argv[1], limit);
	size_t maxlen = 0;
	for (size_t i = 0; i < ev.n; i++)
		maxlen = ev.len[i] > maxlen ? ev.len[i] : maxlen;
	std::vector<char> pad(maxlen + SIMDJSON_PADDING);
	ondemand::parser parser;
	std::vector<double> eps(passes);
	unsigned long long first = run(parser, &ev, pad);
	for (int a = 0; a < passes; a++) {
		double t = bench_now();
		unsigned long long sum = run(parser, &ev, pad);
		eps[a] = (double)ev.n / (bench_now() - t);
		stable &= sum == first;
	}
	bench_report("simdjson", ev.n, eps.data(), passes, first, stable, g_hits, cpu);
	printf(" implementation=%s\n", simdjson::get_active_implementation()->name().c_str());
	return 0;
}
