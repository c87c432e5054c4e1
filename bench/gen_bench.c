/*
 * gen_bench.c -- data generator of the matching benchmark (bench/run.sh).
 * Standalone C, no dependency beyond libc; the output depends only on the
 * arguments, so runs are comparable across commits and machines.
 *
 *   gen_bench events citylots|routing [-n N] -o FILE
 *   gen_bench rules  citylots|routing FAMILY N -o FILE.route -s FILE.spec
 *
 * Events. Every event has a class: "hot" (5 %: the value rule 0 targets),
 * "warm j" (5 %: j uniform in 0..99999, the value rule j+1 targets) or
 * "cold" (90 %: values no rule targets, drawn from a pool of ordinary
 * street names). So whatever the family, a rule set of N rules is matched by
 * about 5 % + 5 % * (N-1)/100000 of the events, each hit event matching one
 * rule (anything-but, by its nature, matches nearly every event: see README).
 *
 *   citylots: {"type":"Feature","properties":{"MAPBLKLOT",...,"ODD_EVEN"},
 *              "geometry":{"type":"Polygon","coordinates":[[[x,y,0.0],...9-23 points]]}}
 *             213,068 lines by default, 924 bytes on average.
 *   routing:  CloudEvents 1.0 structured JSON, 8 event types, 29 keys,
 *             up to 5 levels, arrays of objects and of strings, ~1 KB.
 *
 * Rules. FAMILY is one of exact prefix suffix ieq like range anybut contains
 * regex mix. Rule k (k = 0..N-1) targets class k (k = 0: hot, k >= 1: warm
 * k-1). The .route file declares the contract(s), one destination and the N
 * rules; the .spec file holds the same rules for the jansson baseline, one
 * line per predicate:
 *   R TYPE            a rule on events of type TYPE starts
 *   T                 a conjunct (an OR of the predicates that follow) starts
 *   P NEG OP PATH A [B]  a predicate (NEG 1 = negated); OP eq ne ieq prefix
 *                     suffix contains like regex range in2; strings carry no
 *                     blank.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NWARM 100000u
#define CITYLOTS_LINES 213068u
#define ROUTING_LINES 200000u
#define NTYPES 8

static const char *syl[20] = {
	"BA", "DE", "FI", "GO", "KU", "LA", "ME", "NI", "PO", "RU",
	"SA", "TE", "VI", "ZO", "HU", "JA", "WE", "YI", "CO", "XU",
};

/* ordinary street names: what cold events carry; no rule targets them */
static const char *cold_streets[] = {
	"VALENCIA", "GUERRERO", "DOLORES", "CHURCH", "SANCHEZ", "NOE", "CASTRO", "DIAMOND",
	"DOUGLASS", "HOFFMAN", "GRAND VIEW", "MARKET", "FOLSOM", "HARRISON", "BRYANT", "YORK",
	"HAMPSHIRE", "POTRERO", "UTAH", "SAN BRUNO", "VERMONT", "KANSAS", "RHODE ISLAND", "DE HARO",
	"CAROLINA", "WISCONSIN", "ARKANSAS", "CONNECTICUT", "MISSOURI", "TEXAS", "MINNESOTA",
	"TENNESSEE", "ILLINOIS", "3RD", "4TH", "5TH", "6TH", "7TH", "8TH", "9TH", "10TH", "11TH",
	"12TH", "14TH", "15TH", "16TH", "17TH", "18TH", "19TH", "20TH", "21ST", "22ND", "23RD",
	"24TH", "25TH", "26TH", "ARMY", "CESAR CHAVEZ", "PRECITA", "BERNAL HEIGHTS", "CORTLAND",
	"MONTEREY", "OCEAN", "GENEVA", "SILVER", "SUNNYDALE", "LELAND", "VISITACION", "BAY SHORE",
	"JERROLD", "OAKDALE", "PALOU", "QUESADA", "REVERE", "SHAFTER", "THOMAS", "UNDERWOOD",
	"VAN DYKE", "WALLACE", "YOSEMITE", "NEWCOMB", "MENDELL", "LANE", "KEITH", "INGALLS",
	"HAWES", "GRIFFITH", "FITCH", "EARL", "DONNER", "CARROLL", "BANCROFT", "ARMSTRONG",
	"VAN NESS", "POLK", "LARKIN", "HYDE", "LEAVENWORTH", "JONES", "TAYLOR", "MASON", "POWELL",
	"STOCKTON", "GRANT", "KEARNY", "MONTGOMERY", "SANSOME", "BATTERY", "FRONT", "DAVIS",
	"DRUMM", "CALIFORNIA", "SACRAMENTO", "CLAY", "WASHINGTON", "JACKSON", "PACIFIC",
	"BROADWAY", "VALLEJO", "GREEN", "UNION", "FILBERT", "GREENWICH", "LOMBARD", "CHESTNUT",
	"FRANCISCO", "BAY", "NORTH POINT", "BEACH", "JEFFERSON", "GEARY", "OFARRELL", "ELLIS",
	"EDDY", "TURK", "GOLDEN GATE", "MCALLISTER", "FULTON", "GROVE", "HAYES", "FELL", "OAK",
	"PAGE", "HAIGHT", "WALLER", "DUBOCE", "HERMANN", "JUDAH", "IRVING", "LINCOLN", "NORIEGA",
	"ORTEGA", "PACHECO", "QUINTARA", "RIVERA", "SANTIAGO", "TARAVAL", "ULLOA", "VICENTE",
	"WAWONA", "SLOAT", "UNKNOWN",
};
#define NCOLD (sizeof cold_streets / sizeof cold_streets[0])

static const char *st_types[] = { "ST", "AVE", "BLVD", "WAY", "TER", "CT", "PL", "LN" };

static const char *type_names[NTYPES] = {
	"com.example.order.created", "com.example.order.updated", "com.example.order.cancelled",
	"com.example.payment.authorized", "com.example.payment.failed",
	"com.example.shipment.dispatched", "com.example.shipment.delivered",
	"com.example.refund.issued",
};

/* xorshift64*: small, fast and the same on every platform. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static double
rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- the value of class k (0: hot, 1+j: warm j) for each family ---------- */

/* A(j): "Q" + four syllables, the base-20 digits of j most significant first
 * (unique: prefix); B(j): the same digits least significant first (unique:
 * suffix). A warm street name is A(j) B(j): 17 letters. */
static void
warm_parts(unsigned j, char a[10], char b[9])
{
	unsigned d[4], i;

	for (i = 0; i < 4; i++) {
		d[i] = j % 20;
		j /= 20;
	}
	a[0] = 'Q';
	for (i = 0; i < 4; i++) {
		memcpy(a + 1 + 2 * i, syl[d[3 - i]], 2);
		memcpy(b + 2 * i, syl[d[i]], 2);
	}
	a[9] = 0;
	b[8] = 0;
}

/* the street of class k */
static void
class_street(unsigned k, char *out)
{
	char a[10], b[9];

	if (k == 0) {
		strcpy(out, "MISSION");
		return;
	}
	warm_parts(k - 1, a, b);
	sprintf(out, "%s%s", a, b);
}

/* the distinguished number of class k: a longitude (citylots) or an amount (routing) */
static double
class_number(int routing, unsigned k)
{
	return routing ? 100000.0 + k : -122.359 + k * 1e-7;
}

/* ---- events ------------------------------------------------------------- */

/* Picks the class of the next event: 0 hot, 1+j warm j, -1 cold. */
static long
pick_class(uint64_t *rng)
{
	unsigned u = (unsigned)(rng_next(rng) % 1000u);

	if (u < 50)
		return 0;
	if (u < 100)
		return 1 + (long)(rng_next(rng) % NWARM);
	return -1;
}

static void
put_citylot(FILE *out, uint64_t *rng, unsigned i)
{
	long k = pick_class(rng);
	char street[32];
	unsigned block = 1 + (unsigned)(rng_next(rng) % 8999u), lot = 1 + (unsigned)(rng_next(rng) % 300u);
	unsigned from = (unsigned)(rng_next(rng) % 1000u), npts, p;
	double cx = -122.51 + rng_unit(rng) * 0.14, cy = 37.708 + rng_unit(rng) * 0.12;
	int even;

	(void)i;
	if (k >= 0)
		class_street((unsigned)k, street);
	else
		strcpy(street, cold_streets[rng_next(rng) % NCOLD]);
	even = k >= 0 ? 1 : (int)(rng_next(rng) & 1);
	fprintf(out, "{\"type\":\"Feature\",\"properties\":{\"MAPBLKLOT\":\"%04u%03u\",\"BLKLOT\":"
		"\"%04u%03u\",\"BLOCK_NUM\":\"%04u\",\"LOT_NUM\":\"%03u\",\"FROM_ST\":\"%u\",\"TO_ST\":"
		"\"%u\",\"STREET\":\"%s\",", block, lot, block, lot, block, lot, from, from + 2 * (unsigned)(rng_next(rng) % 20),
		street);
	if (rng_next(rng) % 3 == 0)
		fprintf(out, "\"ST_TYPE\":\"%s\",", st_types[rng_next(rng) % 8]);
	else
		fputs("\"ST_TYPE\":null,", out);
	fprintf(out, "\"ODD_EVEN\":\"%s\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[",
		even ? "E" : "O");
	npts = 9 + (unsigned)(rng_next(rng) % 15u); /* 9..23 */
	for (p = 0; p < npts; p++) {
		double x = cx + (rng_unit(rng) - 0.5) * 0.004, y = cy + (rng_unit(rng) - 0.5) * 0.004;

		if (p == 0 && k >= 0)
			x = class_number(0, (unsigned)k);
		if (p == npts - 1) { /* a polygon is closed: its last point is its first */
			fprintf(out, "%s[%.13f,%.14f,0.0]", p ? "," : "", cx, cy);
			continue;
		}
		if (p == 0)
			fprintf(out, "[%.13f,%.14f,0.0]", x, y);
		else
			fprintf(out, ",[%.13f,%.14f,0.0]", x, y);
	}
	fputs("]]}}\n", out);
}

static void
hex(FILE *out, uint64_t *rng, unsigned n)
{
	while (n--)
		fputc("0123456789abcdef"[rng_next(rng) & 15], out);
}

static const char *regions[] = { "eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1" };
static const char *cities[] = { "Berlin", "Paris", "Madrid", "Lisbon", "Vienna", "Zurich", "Oslo", "Dublin" };
static const char *countries[] = { "DE", "FR", "ES", "PT", "AT", "CH", "NO", "IE" };
static const char *statuses[] = { "created", "paid", "packed", "shipped", "delivered", "cancelled" };
static const char *channels[] = { "web", "mobile", "pos", "api" };
static const char *tiers[] = { "bronze", "silver", "gold", "platinum" };
static const char *tagset[] = { "priority", "gift", "b2b", "promo", "first-order", "fragile", "bulk" };

static void
put_routing(FILE *out, uint64_t *rng, unsigned i)
{
	long k = pick_class(rng);
	unsigned type = k >= 0 ? (unsigned)(k % NTYPES) : (unsigned)(rng_next(rng) % NTYPES);
	unsigned nitems = 3 + (unsigned)(rng_next(rng) % 6u), ntags = 1 + (unsigned)(rng_next(rng) % 3u), n;
	unsigned cust = (unsigned)(rng_next(rng) % 5000000u), c = (unsigned)(rng_next(rng) % 8u);
	char street[32];
	double amount;

	if (k >= 0)
		class_street((unsigned)k, street);
	else
		strcpy(street, cold_streets[rng_next(rng) % NCOLD]);
	amount = k >= 0 ? class_number(1, (unsigned)k) : 1 + (double)(rng_next(rng) % 499900u) / 100.0;
	fprintf(out, "{\"specversion\":\"1.0\",\"type\":\"%s\",\"source\":\"/services/%s/%s\","
		"\"dataschema\":\"https://schemas.example.com/commerce/%s/v1.json\",\"id\":\"", type_names[type], type < 3 ? "orders" : type < 5 ? "payments" : type < 7 ? "shipping" : "refunds",
		regions[rng_next(rng) % 5], type_names[type] + 12);
	hex(out, rng, 8); fputc('-', out); hex(out, rng, 4); fputs("-4", out); hex(out, rng, 3);
	fputs("-a", out); hex(out, rng, 3); fputc('-', out); hex(out, rng, 12);
	fprintf(out, "\",\"time\":\"2024-%02u-%02uT%02u:%02u:%02u.%03uZ\",\"subject\":\"orders/ORD-%08u\","
		"\"data\":{\"order\":{\"id\":\"ORD-%08u\",\"status\":\"%s\",\"channel\":\"%s\","
		"\"amount\":%.2f,\"currency\":\"EUR\",\"items\":[",
		1 + i % 12, 1 + i % 28, (i / 7) % 24, (i / 3) % 60, i % 60, i % 1000, i, i,
		statuses[rng_next(rng) % 6], k >= 0 ? "web" : channels[rng_next(rng) % 4], amount);
	for (n = 0; n < nitems; n++)
		fprintf(out, "%s{\"sku\":\"SKU-%06u-%s-%s\",\"qty\":%u,\"price\":%.2f}", n ? "," : "",
			(unsigned)(rng_next(rng) % 1000000u), countries[rng_next(rng) % 8], tiers[rng_next(rng) % 4],
			1 + (unsigned)(rng_next(rng) % 9u), (double)(rng_next(rng) % 100000u) / 100.0);
	fputs("],\"tags\":[", out);
	for (n = 0; n < ntags; n++)
		fprintf(out, "%s\"%s\"", n ? "," : "", tagset[rng_next(rng) % 7]);
	fprintf(out, "]},\"customer\":{\"id\":\"C%07u\",\"tier\":\"%s\",\"email\":\"customer.%07u@mail.example.com\","
		"\"address\":{\"street\":\"%s\",\"city\":\"%s\",\"country\":\"%s\"}},"
		"\"meta\":{\"region\":\"%s\",\"attempt\":%u}}}\n",
		cust, tiers[cust % 4], cust, street, cities[c], countries[c], regions[rng_next(rng) % 5],
		1 + (unsigned)(rng_next(rng) % 3u));
}

/* ---- rules -------------------------------------------------------------- */

struct ds {
	int routing;
	const char *str;       /* the string field the families read */
	const char *num;       /* the number field of the range family */
	const char *e_path;    /* mix: a second field, "E"-like value of hit events */
	const char *e_val;
	const char *n_path;    /* mix: a third field, negated membership */
	const char *n_a, *n_b;
};

static const struct ds citylots = { 0, "properties.STREET", "geometry.coordinates",
	"properties.ODD_EVEN", "E", "properties.BLOCK_NUM", "0000", "9999" };
static const struct ds routing = { 1, "customer.address.street", "order.amount",
	"order.channel", "web", "meta.region", "xx-none-1", "yy-none-2" };

static const char citylots_contract[] =
	"event Feature v1 {\n"
	"  properties: { MAPBLKLOT: string, BLKLOT: string, BLOCK_NUM: string, LOT_NUM: string,\n"
	"                FROM_ST: string, TO_ST: string, STREET: string, ST_TYPE?: string,\n"
	"                ODD_EVEN: string }\n"
	"  geometry:   { type: string, coordinates: [[[number]]] }\n"
	"}\n";

static const char routing_fields[] =
	"  order:    { id: string, status: string, channel: string, amount: number, currency: string,\n"
	"              items: [{ sku: string, qty: number, price: number }], tags: [string] }\n"
	"  customer: { id: string, tier: string, email: string,\n"
	"              address: { street: string, city: string, country: string } }\n"
	"  meta:     { region: string, attempt: number }\n";

static void
mixcase(const char *in, char *out)
{
	size_t i;

	for (i = 0; in[i]; i++)
		out[i] = (i & 1) && in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] + 32) : in[i];
	out[i] = 0;
}

/* The predicate of family f for class k: the .route text in rt, the spec line(s) in sp. */
static int
put_rule(FILE *rt, FILE *sp, const struct ds *ds, const char *fam, unsigned k)
{
	char s[32], a[10], b[9], c[64];
	const char *S = ds->str;

	class_street(k, s);
	if (k > 0)
		warm_parts(k - 1, a, b);
	fprintf(sp, "R %s\nT\n", ds->routing ? type_names[k % NTYPES] : "Feature");
	if (strcmp(fam, "exact") == 0) {
		fprintf(rt, "%s == \"%s\"", S, s);
		fprintf(sp, "P 0 eq %s %s\n", S, s);
	} else if (strcmp(fam, "prefix") == 0) {
		strcpy(c, k ? a : "MISSI");
		fprintf(rt, "%s prefix \"%s\"", S, c);
		fprintf(sp, "P 0 prefix %s %s\n", S, c);
	} else if (strcmp(fam, "suffix") == 0) {
		strcpy(c, k ? b : "SSION");
		fprintf(rt, "%s suffix \"%s\"", S, c);
		fprintf(sp, "P 0 suffix %s %s\n", S, c);
	} else if (strcmp(fam, "ieq") == 0) {
		mixcase(s, c);
		fprintf(rt, "%s ieq \"%s\"", S, c);
		fprintf(sp, "P 0 ieq %s %s\n", S, c);
	} else if (strcmp(fam, "like") == 0) {
		if (k)
			sprintf(c, "%s*%s", a, b + 4);
		else
			strcpy(c, "MI*ON");
		fprintf(rt, "%s like \"%s\"", S, c);
		fprintf(sp, "P 0 like %s %s\n", S, c);
	} else if (strcmp(fam, "range") == 0) {
		double x = class_number(ds->routing, k), w = ds->routing ? 0.25 : 3e-8;

		fprintf(rt, "%s in %s%.10f..%s%.10f", ds->num, x - w < 0 ? "-" : "", x - w < 0 ? w - x : x - w,
			x + w < 0 ? "-" : "", x + w < 0 ? -(x + w) : x + w);
		fprintf(sp, "P 0 range %s %.10f %.10f\n", ds->num, x - w, x + w);
	} else if (strcmp(fam, "anybut") == 0) {
		fprintf(rt, "%s != \"%s\"", S, s);
		fprintf(sp, "P 0 ne %s %s\n", S, s);
	} else if (strcmp(fam, "contains") == 0) {
		strcpy(c, k ? s + 1 : "SSIO");
		fprintf(rt, "%s contains \"%s\"", S, c);
		fprintf(sp, "P 0 contains %s %s\n", S, c);
	} else if (strcmp(fam, "regex") == 0) {
		if (k)
			sprintf(c, "^%s[A-Z]{8}$", a);
		else
			strcpy(c, "^MISS?ION$");
		fprintf(rt, "%s matches r\"%s\"", S, c);
		fprintf(sp, "P 0 regex %s %s\n", S, c);
	} else if (strcmp(fam, "mix") == 0) {
		/* (S == s or S like L) and E == e and not (N in [a, b]) */
		if (k)
			sprintf(c, "%s*%s", a, b + 6);
		else
			strcpy(c, "MISS*ON");
		fprintf(rt, "(%s == \"%s\" or %s like \"%s\") and %s == \"%s\" and not (%s in [\"%s\", \"%s\"])",
			S, s, S, c, ds->e_path, ds->e_val, ds->n_path, ds->n_a, ds->n_b);
		fprintf(sp, "P 0 eq %s %s\nP 0 like %s %s\nT\nP 0 eq %s %s\nT\nP 1 in2 %s %s %s\n",
			S, s, S, c, ds->e_path, ds->e_val, ds->n_path, ds->n_a, ds->n_b);
	} else if (strcmp(fam, "window") == 0 || strcmp(fam, "rate") == 0) {
		/* temporal: rule 0 takes every event (no filter), rule k the warm class k-1;
		 * 1,000 keys (FROM_ST is 0..999); jansson has no windows (no spec) */
		const char *agg = fam[0] == 'w' ? "count() >= 3 by properties.FROM_ST within 10m"
			: "rate() > 2/s by properties.FROM_ST within 1s";

		if (k == 0)
			fputs(agg, rt);
		else
			fprintf(rt, "%s == \"%s\" and %s", S, s, agg);
		fprintf(sp, "P 0 temporal\n");
	} else if (strcmp(fam, "sequence") == 0) {
		/* a sequence (then) correlated on FROM_ST (1,000 keys): each event
		 * completes its key's pending first event and starts the next one;
		 * rule 0 takes every event, rule k the warm class k-1 */
		const char *seq = " then Feature where properties.FROM_ST == a.properties.FROM_ST within 10m";

		if (k == 0)
			fprintf(rt, "%s != \"\"%s", S, seq);
		else
			fprintf(rt, "%s == \"%s\"%s", S, s, seq);
		fprintf(sp, "P 0 temporal\n");
	} else {
		return -1;
	}
	return 0;
}

/* Every cold street must be missed by every rule constant (checked once per run). */
static void
check_cold(void)
{
	unsigned i;

	for (i = 0; i < NCOLD; i++) {
		const char *c = cold_streets[i];
		size_t n = strlen(c);

		if (c[0] == 'Q' && n == 17) {
			fprintf(stderr, "gen_bench: cold street %s looks warm\n", c);
			exit(4);
		}
		if (strncmp(c, "MISSI", 5) == 0 || (n >= 5 && strcmp(c + n - 5, "SSION") == 0)
			|| strstr(c, "SSIO") || strcasecmp(c, "MISSION") == 0
			|| fnmatch("MI*ON", c, 0) == 0 || fnmatch("MISS*ON", c, 0) == 0) {
			fprintf(stderr, "gen_bench: cold street %s looks hot\n", c);
			exit(4);
		}
		/* a suffix B(j) is 4 syllables from syl[]: check the last 8 letters */
		if (n >= 8) {
			unsigned s, hits = 0, t;

			for (s = 0; s < 4; s++)
				for (t = 0; t < 20; t++)
					if (memcmp(c + n - 8 + 2 * s, syl[t], 2) == 0) {
						hits++;
						break;
					}
			if (hits == 4) {
				fprintf(stderr, "gen_bench: cold street %s ends like a warm one\n", c);
				exit(4);
			}
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: gen_bench events citylots|routing [-n N] -o FILE\n"
		"       gen_bench rules citylots|routing FAMILY N -o FILE.route -s FILE.spec\n"
		"  FAMILY: exact prefix suffix ieq like range anybut contains regex mix\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *out_path = NULL, *spec_path = NULL;
	unsigned long n = 0;
	int a, routing_ds;

	if (argc < 3)
		usage();
	if (strcmp(argv[2], "citylots") == 0)
		routing_ds = 0;
	else if (strcmp(argv[2], "routing") == 0)
		routing_ds = 1;
	else
		usage();
	check_cold();
	if (strcmp(argv[1], "events") == 0) {
		uint64_t rng = routing_ds ? 0xC10D5EEDULL : 0xC17E5EEDULL;
		unsigned i;
		FILE *out;

		n = routing_ds ? ROUTING_LINES : CITYLOTS_LINES;
		for (a = 3; a < argc; a++) {
			if (strcmp(argv[a], "-n") == 0 && a + 1 < argc)
				n = strtoul(argv[++a], NULL, 10);
			else if (strcmp(argv[a], "-o") == 0 && a + 1 < argc)
				out_path = argv[++a];
			else
				usage();
		}
		if (!out_path || n == 0)
			usage();
		if (!(out = fopen(out_path, "w"))) {
			fprintf(stderr, "gen_bench: %s: %s\n", out_path, strerror(errno));
			return 3;
		}
		for (i = 0; i < n; i++) {
			if (routing_ds)
				put_routing(out, &rng, i);
			else
				put_citylot(out, &rng, i);
		}
		if (fclose(out) != 0) {
			fprintf(stderr, "gen_bench: write error: %s\n", strerror(errno));
			return 3;
		}
		return 0;
	}
	if (strcmp(argv[1], "rules") == 0) {
		const struct ds *ds = routing_ds ? &routing : &citylots;
		const char *fam;
		FILE *rt, *sp;
		unsigned k, t;

		if (argc < 5)
			usage();
		fam = argv[3];
		n = strtoul(argv[4], NULL, 10);
		for (a = 5; a < argc; a++) {
			if (strcmp(argv[a], "-o") == 0 && a + 1 < argc)
				out_path = argv[++a];
			else if (strcmp(argv[a], "-s") == 0 && a + 1 < argc)
				spec_path = argv[++a];
			else
				usage();
		}
		if (!out_path || !spec_path || n == 0 || n > NWARM + 1)
			usage();
		if (!(rt = fopen(out_path, "w")) || !(sp = fopen(spec_path, "w"))) {
			fprintf(stderr, "gen_bench: cannot write: %s\n", strerror(errno));
			return 3;
		}
		fprintf(rt, "# generated by bench/gen_bench rules %s %s %lu\n\n", argv[2], fam, n);
		if (routing_ds) {
			for (t = 0; t < NTYPES; t++)
				fprintf(rt, "event %s v1 {\n%s}\n", type_names[t], routing_fields);
		} else {
			fputs(citylots_contract, rt);
		}
		fputs("\ndestination d0\n\n", rt);
		for (k = 0; k < n; k++) {
			fprintf(rt, "rule r%06u on %s%s when ", k, routing_ds ? type_names[k % NTYPES] : "Feature",
				strcmp(fam, "sequence") == 0 ? " as a" : "");
			if (put_rule(rt, sp, ds, fam, k) != 0) {
				fprintf(stderr, "gen_bench: unknown family '%s'\n", fam);
				return 2;
			}
			fputs(" route d0\n", rt);
		}
		if (fclose(rt) != 0 || fclose(sp) != 0) {
			fprintf(stderr, "gen_bench: write error: %s\n", strerror(errno));
			return 3;
		}
		return 0;
	}
	usage();
	return 2;
}
