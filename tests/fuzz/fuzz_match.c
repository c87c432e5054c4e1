/*
 * fuzz_match.c -- libFuzzer target: a fixed program + arbitrary event bytes.
 *
 * The program (compiled once, in LLVMFuzzerInitialize, with
 * rc_compile_string) uses every predicate, arithmetic, every builtin, set,
 * emit, route, otherwise, versions, wildcards, envelope attributes, a table
 * and temporal rules (windows with every aggregate, throttle, dedup,
 * sequences, absences, tumbling windows); the two matchers keep their state
 * on virtual clocks moved alike per input, and after each input both fire
 * their due deadlines (route_matcher_tick), which must give equal decisions. It is
 * loaded twice: with the computed-goto VM and the equality index, and with
 * the switch VM evaluating every rule (rules k1..k6 are indexed; k5 reads a
 * field a transform rule sets); each input is matched by both matchers, and their decisions (status, reason, offset,
 * type, version, rules, destinations, sets, emits and the output bytes) must
 * be identical, or the target aborts. Any crash or sanitizer report is a
 * bug too. Seeds: the lines of examples/ and tests/golden/ .events files, one event per
 * file.
 *
 *   clang -fsanitize=fuzzer,address,undefined ... tests/fuzz/fuzz_match.c librc.la
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "driver.h"
#include "route.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char program[] =
	"event m v1 {\n"
	"  s?: string, t?: string, n?: number, k?: number, b?: bool, a?: any, ip?: ip,\n"
	"  tags?: [string], nums?: [number], grid?: [[number]],\n"
	"  items?: [{ sku: string, qty: number }],\n"
	"  o?: { p?: { q?: string }, r?: number }, out?: string, level?: \"lo\" | \"hi\"\n"
	"}\n"
	"event m v2 {\n"
	"  s?: string, t?: string, n?: number, k?: number, b?: bool, a?: any, ip?: ip,\n"
	"  tags?: [string], nums?: [number], grid?: [[number]],\n"
	"  items?: [{ sku: string, qty: number }],\n"
	"  o?: { p?: { q?: string }, r?: number }, out?: string, level?: \"lo\" | \"hi\", extra?: string\n"
	"}\n"
	"event m.sub v1 { s?: string }\n"
	"event derived v1 { s?: string, n?: number, l?: [string], x: { y?: string } }\n"
	"destination d1\ndestination d2\ndestination d3\ndestination d4\ndestination d5\n"
	"destination d6\ndestination d7\ndestination d8\ndestination fb\n"
	/* transforms */
	"rule t1 on m when s icontains \"up\" set t = upper(trim(s)), k = n * 2 + 1\n"
	"rule t2 on m when t == \"UP\" or k > 3 set level = \"hi\", out = lower(t), b = not (k < 0)\n"
	"rule t3 on m v2 when extra exists set s = extra, n = -n % 7, k = null\n"
	/* comparisons */
	"rule k1 on m when s == \"alpha\" and n > 1 route d1\n"
	"rule k2 on m when s in [\"x\", \"y\", \"HeLLo\"] route d2\n"
	"rule k3 on m when n == 42 or n == -0 route d3\n"
	"rule k4 on m when n == 100 route d4\n"
	"rule k5 on m when t == \"UP\" route d1\n"
	"rule k6 on m when b == true and s exists route d2\n"
	"rule c1 on m when s == t or s != \"x\" or n == k or n != 1e2 route d1\n"
	"rule c2 on m when n < 0 or n <= -0.5 or n > 1e300 or n >= 42 or 3 < k route d1\n"
	"rule c3 on m when s ieq \"HeLLo\" or s ine t or a == null or a != null route d2\n"
	"rule c4 on m when b == true or b != false or b or a == 1 or a == \"1\" route d2\n"
	/* membership, ranges, networks */
	"rule m1 on m when s in [\"a\", \"b\"] or s not in [\"c\"] or n in [1, -2.5] route d3\n"
	"rule m2 on m when n in -10..<10.5 or n in 0..0 or nums in 1..5 or b in [true] route d3\n"
	"rule m3 on m when ip in [10.0.0.0/8, 172.16.0.0/12, fe80::/10, ::ffff:10.0.0.0/104] route d4\n"
	"rule m4 on m when ip not in 192.168.0.0/16 or ip == 1.2.3.4 or ip != ::1 or a in 10.0.0.0/8 route d4\n"
	/* strings */
	"rule s1 on m when s prefix \"ab\" or s suffix \"yz\" or s contains \"\\u00e9\" route d5\n"
	"rule s2 on m when s iprefix \"AB\" or s isuffix \"YZ\" or tags icontains \"vip\" route d5\n"
	"rule s3 on m when s like \"a*b?c\\\\*\" or s ilike \"*X?\" or items.sku like \"A-*\" route d6\n"
	"rule s4 on m when s matches r\"^[a-z]+[0-9]{2,}$\" or t imatches r\"caf\u00e9|\\d+\" route d6\n"
	/* exists, arrays, nesting, builtins, arithmetic */
	"rule e1 on m when o.p.q exists or o.r missing or items.qty > 10 or grid == 7 route d7\n"
	"rule e2 on m when len(s) == 3 or len(tags) >= 2 or len(items) == 1 or abs(n) > 5 route d7\n"
	"rule e3 on m when floor(n) == ceil(n) or n / k > 1 or n % 3 == 1 or -n < 0 route d8\n"
	"rule e4 on m when lower(s) == \"abc\" or trim(t) == \"\" or upper(s) ine \"x\" route d8\n"
	/* envelope attributes, wildcards */
	"rule a1 on m.* when @id prefix \"e\" or @source == \"/x\" or @subject exists route d8\n"
	"rule a2 on * when @version == 2 or @time like \"2024-*\" or @type == \"m\" route d8\n"
	/* emit and otherwise */
	"rule em on m when s exists emit derived { s: s, n: n + 1, l: [s, t, \"z\"], x: { y: t } }\n"
	"rule fb on m, m.sub otherwise route fb\n"
	/* state: a table, sliding windows with every aggregate, throttle with else, dedup, rate */
	"table tt: string by s from m.sub set s ttl 1m\n"
	"rule w1 on m when n > 0 and count() >= 3 and max(n) > 5 by s within 1m route d1\n"
	"rule w2 on m when distinct(t) >= 2 and sum(k) < 100 and avg(n) >= 0 and min(n) > -1e9 by s within 10s\n"
	"  throttle 2 per 1s else route d2 route d3\n"
	"rule w3 on m dedup by k within 1m route d4\n"
	"rule w4 on m when rate() > 5/s within 1s route d5\n"
	"rule tl on m when tt[s] exists route d5\n"
	/* sequences, absences, tumbling windows: due deadlines fire on a tick after each input */
	"rule q1 on m as x when s exists then m.sub where s == x.s within 1m emit derived { s: x.s, n: x.n, x: {} } route d6\n"
	"rule q2 on m as x when n > 0 unless m.sub where s == x.s within 100ms emit derived { s: x.s, n: x.n, x: { y: @id } }"
	" route d7\n"
	"rule q3 on m when count() >= 2 and avg(n) > 0 and max(k) < 9 by s every 1s emit derived { s: s, x: {} }\n";

static route_prog *progs[2];
static route_matcher *matchers[2];
static route_state *states[2]; /* one virtual clock each, moved alike: the two see the same history */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rc_options o;
	struct route_options ro;
	unsigned char *rbc = NULL;
	size_t len = 0;
	char err[256];
	int i;

	(void)argc;
	(void)argv;
	rc_options_default(&o);
	o.diag = stderr;
	o.nowarn = 1;
	if (rc_compile_string("fuzz_match.route", program, sizeof program - 1, &o, &rbc, &len, NULL)
	    != RC_EXIT_OK) {
		fprintf(stderr, "fuzz_match: the fixed program does not compile\n");
		abort();
	}
	for (i = 0; i < 2; i++) {
		memset(&ro, 0, sizeof ro);
		ro.switch_dispatch = i;
		ro.no_index = i; /* [0]: computed goto + index; [1]: switch, every rule evaluated */
		ro.max_event_bytes = 1 << 16;
		ro.max_values = 512;
		if ((progs[i] = route_prog_load(rbc, len, &ro, err, sizeof err)) == NULL
		    || (matchers[i] = route_matcher_new(progs[i])) == NULL
		    || (states[i] = route_state_new(progs[i])) == NULL) {
			fprintf(stderr, "fuzz_match: load: %s\n", err);
			abort();
		}
		route_state_set_time(states[i], 1704067200000LL);
		route_matcher_set_state(matchers[i], states[i]);
	}
	ru_free(rbc);
	return 0;
}

static void
differ(const char *what)
{
	fprintf(stderr, "fuzz_match: the dispatch builds disagree on %s\n", what);
	abort();
}

static int
bytes_eq(const void *a, size_t na, const void *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_decision d[2];
	char *buf[2];
	uint32_t i;
	int k;

	if (size > (1 << 16) + 16)
		return 0;
	/* each matcher gets its own exact-size copy so ASan sees overreads */
	for (k = 0; k < 2; k++) {
		buf[k] = malloc(size ? size : 1);
		if (buf[k] == NULL)
			abort();
		if (size)
			memcpy(buf[k], data, size);
		route_state_advance(states[k], 7); /* windows fill and empty as inputs go by */
		route_match(matchers[k], buf[k], size, &d[k]);
	}
	if (d[0].status != d[1].status)
		differ("status");
	if (d[0].status == ROUTE_REJECTED) {
		if (d[0].reason == NULL || d[1].reason == NULL || strcmp(d[0].reason, d[1].reason) != 0
		    || d[0].offset != d[1].offset)
			differ("the rejection");
		if (d[0].offset > size)
			differ("an offset beyond the event"); /* not a disagreement, but a bug */
	} else {
		if (d[0].type != d[1].type || d[0].version != d[1].version)
			differ("type or version");
	}
	if (d[0].status == ROUTE_OK) {
		if (d[0].nrules != d[1].nrules || d[0].ndests != d[1].ndests
		    || d[0].nsets != d[1].nsets || d[0].nemits != d[1].nemits)
			differ("counts");
		for (i = 0; i < d[0].nrules; i++)
			if (d[0].rules[i] != d[1].rules[i])
				differ("rules");
		for (i = 0; i < d[0].ndests; i++)
			if (d[0].dests[i] != d[1].dests[i])
				differ("destinations");
		for (i = 0; i < d[0].nsets; i++)
			if (d[0].sets[i].field != d[1].sets[i].field
			    || !bytes_eq(d[0].sets[i].json, d[0].sets[i].len, d[1].sets[i].json,
				d[1].sets[i].len))
				differ("sets");
		for (i = 0; i < d[0].nemits; i++)
			if (d[0].emits[i].type != d[1].emits[i].type || d[0].emits[i].rule != d[1].emits[i].rule
			    || !bytes_eq(d[0].emits[i].json, d[0].emits[i].len, d[1].emits[i].json,
				d[1].emits[i].len))
				differ("emits");
		if (!bytes_eq(d[0].output, d[0].output_len, d[1].output, d[1].output_len))
			differ("the output event");
		/* explain every rule on both (explain always runs the switch build) */
		for (i = 0; i < route_prog_nrules(progs[0]); i++) {
			struct route_why w0, w1;
			int r0 = route_explain(matchers[0], i, &w0), r1 = route_explain(matchers[1], i, &w1);

			if (r0 != r1 || w0.pc != w1.pc || w0.line != w1.line
			    || !bytes_eq(w0.value, w0.value_len, w1.value, w1.value_len))
				differ("explain");
		}
	}
	/* deadlines and period ends due now: the same firings on both */
	for (;;) {
		int t0 = route_matcher_tick(matchers[0], &d[0]), t1 = route_matcher_tick(matchers[1], &d[1]);

		if (t0 != t1)
			differ("tick");
		if (t0 == 0)
			break;
		if (d[0].nrules != 1 || d[1].nrules != 1 || d[0].rules[0] != d[1].rules[0] || d[0].ndests != d[1].ndests
		    || d[0].nemits != d[1].nemits || d[0].type != d[1].type
		    || !bytes_eq(d[0].output, d[0].output_len, d[1].output, d[1].output_len))
			differ("a tick's decision");
		for (i = 0; i < d[0].nemits; i++)
			if (!bytes_eq(d[0].emits[i].json, d[0].emits[i].len, d[1].emits[i].json, d[1].emits[i].len))
				differ("a tick's emits");
	}
	free(buf[0]);
	free(buf[1]);
	return 0;
}
