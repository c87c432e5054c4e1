/*
 * gen_rules.c -- writes a .route file with N rules for the compile-speed
 * benchmark (bench/compile.sh). Standalone: no dependency beyond libc.
 *
 * The output is deterministic for a given N and seed. It declares two
 * contracts (bench.order.created, bench.http.request), min(N, 100)
 * destinations shared by the rules, and N rules drawn from a fixed mix of
 * rule families (equality, in-lists, ranges, comparisons, prefix/suffix/
 * contains, case-insensitive forms, like, matches, CIDR, exists/missing and
 * and/or/not mixes; see families[] for the shares).
 *
 * Invariant: the program must compile without errors or warnings. So every
 * rule's condition holds a constant derived from the rule's own number and
 * used by no other rule (with fixed-width digits and a delimiter, so that no
 * constant is a prefix, suffix or substring of another, and numeric intervals
 * and networks are disjoint): no rule implies another (no shadowing warning),
 * no rule contradicts itself, every destination is routed to, and exists/missing
 * are only applied to optional fields.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 9999999u /* the constants are printed with %07u */
#define MAX_DESTS 100u

enum family {
	F_EQ_STR, F_EQ_NUM, F_IN_STR, F_IN_NUM, F_RANGE, F_CMP, F_PREFIX, F_SUFFIX,
	F_CONTAINS, F_ICASE, F_LIKE, F_REGEX, F_CIDR, F_EXISTS, F_MIX, F_NFAMILIES
};

/* Family names and shares (percent of the rules; they sum to 100). */
static const struct {
	const char *name;
	unsigned share;
} families[F_NFAMILIES] = {
	[F_EQ_STR]   = { "equality (string)", 14 },
	[F_EQ_NUM]   = { "equality (number)", 3 },
	[F_IN_STR]   = { "in list (string)", 8 },
	[F_IN_NUM]   = { "in list (number)", 3 },
	[F_RANGE]    = { "numeric range", 8 },
	[F_CMP]      = { "numeric comparison", 6 },
	[F_PREFIX]   = { "prefix", 8 },
	[F_SUFFIX]   = { "suffix", 5 },
	[F_CONTAINS] = { "contains", 5 },
	[F_ICASE]    = { "case-insensitive", 9 },
	[F_LIKE]     = { "wildcard (like/ilike)", 5 },
	[F_REGEX]    = { "regex (matches)", 1 },
	[F_CIDR]     = { "CIDR", 5 },
	[F_EXISTS]   = { "exists/missing", 5 },
	[F_MIX]      = { "and/or/not mix", 15 },
};

static const char contracts[] =
	"event bench.order.created v1 {\n"
	"  order_id:    string\n"
	"  customer_id: string\n"
	"  merchant_id: string\n"
	"  sku:         string\n"
	"  email:       string\n"
	"  country:     string\n"
	"  channel:     \"web\" | \"mobile\" | \"pos\" | \"api\"\n"
	"  status:      number\n"
	"  amount:      number\n"
	"  quantity:    number\n"
	"  coupon?:     string\n"
	"  note?:       string\n"
	"  tags?:       [string]\n"
	"  client_ip?:  ip\n"
	"}\n"
	"\n"
	"event bench.http.request v1 {\n"
	"  request_id:  string\n"
	"  host:        string\n"
	"  path:        string\n"
	"  method:      \"GET\" | \"POST\" | \"PUT\" | \"DELETE\" | \"PATCH\"\n"
	"  user_agent?: string\n"
	"  status:      number\n"
	"  latency_ms:  number\n"
	"  bytes:       number\n"
	"  client_ip:   ip\n"
	"  tenant?:     string\n"
	"}\n";

#define ORDER "bench.order.created"
#define HTTP "bench.http.request"

/* xorshift64*: small, fast and the same on every platform. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Picks a family by the shares in families[]. */
static enum family
pick_family(uint64_t *rng)
{
	unsigned r = (unsigned)(rng_next(rng) % 100u), acc = 0;
	int f;

	for (f = 0; f < F_NFAMILIES; f++) {
		acc += families[f].share;
		if (r < acc)
			return (enum family)f;
	}
	return F_MIX;
}

/*
 * Writes the network of the k-th CIDR rule: 10.a.b.0/24 for the first 65536,
 * then /32 hosts in 172.16.0.0/12, every fourth one an IPv6 /48. All disjoint.
 */
static void
put_network(FILE *out, unsigned k)
{
	if (k % 4 == 3)
		fprintf(out, "2001:db8:%x::/48", k & 0xffffu);
	else if (k < 65536)
		fprintf(out, "10.%u.%u.0/24", k >> 8, k & 255u);
	else
		fprintf(out, "172.%u.%u.%u", 16 + ((k - 65536) >> 16), ((k - 65536) >> 8) & 255u,
			(k - 65536) & 255u);
}

/*
 * Writes "rule rNNNNNNN on TYPE when COND" for rule i of family f. The
 * variant (which field, which operator) rotates with i. ncidr counts the
 * CIDR rules so far (their networks must not repeat).
 */
static void
put_rule(FILE *out, unsigned i, enum family f, unsigned *ncidr)
{
	unsigned v = i % 4;

	fprintf(out, "rule r%07u on ", i);
	switch (f) {
	case F_EQ_STR:
		if (v & 1)
			fprintf(out, HTTP " when host == \"h%07u.api.example.com\"", i);
		else
			fprintf(out, ORDER " when merchant_id == \"M%07u\"", i);
		break;
	case F_EQ_NUM:
		if (v & 1)
			fprintf(out, HTTP " when bytes == %u", 7 * i + 3);
		else
			fprintf(out, ORDER " when quantity == %u", 1000 + i);
		break;
	case F_IN_STR:
		if (v & 1)
			fprintf(out, ORDER " when customer_id in [\"C%07u\", \"C%07u-EU\"]", i, i);
		else
			fprintf(out, ORDER " when sku in [\"S%07u-A\", \"S%07u-B\", \"S%07u-C\"]", i, i, i);
		break;
	case F_IN_NUM:
		fprintf(out, "%s when status in [%u, %u, %u]", (v & 1) ? HTTP : ORDER,
			1000 + 3 * i, 1001 + 3 * i, 1002 + 3 * i);
		break;
	case F_RANGE:
		if (v & 1)
			fprintf(out, HTTP " when latency_ms in %u..%u", 5 * i, 5 * i + 4);
		else
			fprintf(out, ORDER " when amount in %u..<%u", 10 * i, 10 * i + 10);
		break;
	case F_CMP:
		if (v & 1)
			fprintf(out, HTTP " when bytes >= %u and bytes < %u and method != \"DELETE\"",
				8 * i + 100000000u, 8 * i + 100000008u);
		else
			fprintf(out, ORDER " when quantity > %u and quantity <= %u", 4 * i + 20000000u,
				4 * i + 20000003u);
		break;
	case F_PREFIX:
		if (v & 1)
			fprintf(out, HTTP " when path prefix \"/api/v1/t%07u/\"", i);
		else
			fprintf(out, ORDER " when order_id prefix \"ORD-%07u-\"", i);
		break;
	case F_SUFFIX:
		if (v & 1)
			fprintf(out, HTTP " when host suffix \".s%07u.example.net\"", i);
		else
			fprintf(out, ORDER " when email suffix \"@c%07u.example.com\"", i);
		break;
	case F_CONTAINS:
		if (v & 1)
			fprintf(out, HTTP " when user_agent contains \"agent-%07u/\"", i);
		else
			fprintf(out, ORDER " when note contains \"promo-%07u;\"", i);
		break;
	case F_ICASE:
		if (v == 0)
			fprintf(out, ORDER " when email ieq \"Buyer%07u@Example.com\"", i);
		else if (v == 1)
			fprintf(out, HTTP " when path iprefix \"/Tenants/T%07u/\"", i);
		else if (v == 2)
			fprintf(out, HTTP " when user_agent icontains \"Crawler-%07u/\"", i);
		else
			fprintf(out, HTTP " when host isuffix \".EU%07u.example.org\"", i);
		break;
	case F_LIKE:
		if (v & 1)
			fprintf(out, HTTP " when path like \"/tenants/%07u/*/orders/*\"", i);
		else
			fprintf(out, ORDER " when sku ilike \"x%07u-?\?-*\"", i);
		break;
	case F_REGEX:
		if (v & 1)
			fprintf(out, HTTP " when path matches r\"^/v[0-9]+/items/%07u/[a-z]+$\"", i);
		else
			fprintf(out, ORDER " when order_id imatches r\"^ord-%07u-[0-9]{4,8}$\"", i);
		break;
	case F_CIDR:
		fprintf(out, "%s when client_ip in ", (v & 1) ? HTTP : ORDER);
		put_network(out, (*ncidr)++);
		break;
	case F_EXISTS:
		if (v & 1)
			fprintf(out, HTTP " when tenant missing and host == \"m%07u.example.com\"", i);
		else
			fprintf(out, ORDER " when coupon exists and customer_id == \"K%07u\"", i);
		break;
	case F_MIX:
	default:
		switch (i % 5) {
		case 0:
			fprintf(out, ORDER " when (channel == \"web\" or channel == \"mobile\")"
				" and customer_id == \"X%07u\" and not (country in [\"RU\", \"BY\"])", i);
			break;
		case 1:
			fprintf(out, HTTP " when method == \"POST\" and path prefix \"/api/m%07u/\""
				" and not (user_agent icontains \"healthcheck\")", i);
			break;
		case 2:
			fprintf(out, ORDER " when (merchant_id == \"MX%07u\" or sku prefix \"MX%07u-\")"
				" and amount >= 100", i, i);
			break;
		case 3:
			fprintf(out, ORDER " when tags == \"t%07u\" and (country == \"DE\" or country == \"AT\")"
				" and quantity < 50", i);
			break;
		default:
			fprintf(out, HTTP " when not (status in [500, 502, 503])"
				" and host == \"n%07u.example.com\" and latency_ms > 250", i);
			break;
		}
		break;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: gen_rules [-s SEED] [-o FILE] N\n"
		"  writes a .route program with N rules (1..%u) to FILE or stdout\n", MAX_RULES);
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	uint64_t rng = 0x5eed5eed5eedULL;
	unsigned long n = 0;
	unsigned counts[F_NFAMILIES] = { 0 };
	unsigned i, ndest, ncidr = 0;
	FILE *out = stdout;
	char *end;
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-s") == 0 && a + 1 < argc) {
			rng = strtoull(argv[++a], &end, 0);
			if (*end || rng == 0)
				usage();
		} else if (strcmp(argv[a], "-o") == 0 && a + 1 < argc) {
			path = argv[++a];
		} else if (argv[a][0] != '-' && n == 0) {
			errno = 0;
			n = strtoul(argv[a], &end, 10);
			if (errno || *end || n == 0 || n > MAX_RULES)
				usage();
		} else {
			usage();
		}
	}
	if (n == 0)
		usage();
	if (path && !(out = fopen(path, "w"))) {
		fprintf(stderr, "gen_rules: %s: %s\n", path, strerror(errno));
		return 3;
	}

	/* every destination is routed to by at least one rule */
	ndest = n < MAX_DESTS ? (unsigned)n : MAX_DESTS;
	fprintf(out, "# generated by bench/gen_rules %lu -- %u destinations, %lu rules\n\n", n,
		ndest, n);
	fputs(contracts, out);
	fputs("\n", out);
	for (i = 0; i < ndest; i++) {
		fprintf(out, "destination d%03u { priority %u; workers %u", i, i % 10, 1 + i % 4);
		if (i % 3 == 0)
			fprintf(out, "; retry %u backoff %ums..%us; dead_letter bench_dlq", 3 + i % 5,
				100 * (1 + i % 5), 10 + i % 50);
		if (i % 7 == 6)
			fprintf(out, "; batch every %us or %u", 1 + i % 60, 100 * (1 + i % 10));
		fputs(" }\n", out);
	}
	fputs("destination bench_dlq { queue 100000 }\n\n", out);

	/* rules 1..n-1 from the mix; the last one is the fallback */
	for (i = 1; i < n || (n == 1 && i == 1); i++) {
		enum family f = pick_family(&rng);

		counts[f]++;
		put_rule(out, i, f, &ncidr);
		fprintf(out, " route d%03u", (i - 1) % ndest);
		if (i % 10 == 0 && ndest > 1 && (i - 1 + 37) % ndest != (i - 1) % ndest)
			fprintf(out, ", d%03u", (i - 1 + 37) % ndest);
		fputs("\n", out);
	}
	if (n > 1)
		fprintf(out, "rule r%07lu on " ORDER ", " HTTP " otherwise route d%03u\n", n,
			(unsigned)((n - 1) % ndest));

	if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
		fprintf(stderr, "gen_rules: write error: %s\n", strerror(errno));
		return 3;
	}
	fprintf(stderr, "gen_rules: %lu rules:", n);
	for (a = 0; a < F_NFAMILIES; a++)
		fprintf(stderr, "%s %s %u", a ? "," : "", families[a].name, counts[a]);
	fprintf(stderr, "%s\n", n > 1 ? ", otherwise 1" : "");
	return 0;
}
