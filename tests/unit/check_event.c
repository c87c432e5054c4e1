/*
 * check_event.c -- unit tests of the flattener (runtime/event.c).
 *
 * Programs are compiled from Route source with rc_compile_string and loaded
 * with rv_prog_load, so the field paths are the ones the compiler really
 * emits. vals() prints the chain of one field as text ("\"FR\"",
 * "[]:[1,2] | 1 | 2", "{}:{...}") so each test states the exact values.
 * The JSON corpus (tests/json/bad/NNN-name.json + .reason, good/NAME.json) is
 * found through $top_srcdir (default "."). test_differential_jansson
 * compares accept/reject with jansson on generated and mutated documents;
 * the deliberate differences are listed above it.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "bytecode.h"
#include "driver.h"
#include "event.h"

/* ---- helpers -------------------------------------------------------------- */

/* A program, its scanner and one event's storage. */
struct tev {
	struct rv_prog *prog;
	struct rv_scanner *sc;
	struct rv_event ev;
	struct rv_scan_error err;
	const char *buf;         /* the last event scanned */
	char out[8192];          /* vals() text */
};

/* Compiles src; returns the loaded program (aborts the test on failure). */
static struct rv_prog *
compile(const char *src)
{
	struct rc_options o;
	unsigned char *rbc = NULL;
	size_t len = 0;
	struct rv_prog *p = NULL;
	char err[256];

	rc_options_default(&o);
	o.diag = stderr;
	o.nowarn = 1;
	ck_assert_int_eq(rc_compile_string("t.route", src, strlen(src), &o, &rbc, &len, NULL),
		RC_EXIT_OK);
	ck_assert_msg(rv_prog_load(rbc, len, &p, err, sizeof err) == 0, "%s", err);
	ru_free(rbc);
	return p;
}

static void
tev_open_cfg(struct tev *t, const char *src, const struct rv_scan_config *cfg)
{
	const struct rv_scan_config *c;
	uint32_t n;

	memset(t, 0, sizeof *t);
	t->prog = compile(src);
	t->sc = rv_scanner_new(t->prog, cfg);
	ck_assert_ptr_nonnull(t->sc);
	c = rv_scanner_config(t->sc);
	n = t->prog->nfields + 1;
	t->ev.vals = malloc((c->max_values + 1) * sizeof *t->ev.vals);
	t->ev.first = malloc(n * sizeof *t->ev.first);
	t->ev.last = malloc(n * sizeof *t->ev.last);
	t->ev.scratch = malloc(rv_scanner_scratch_size(t->sc) * sizeof *t->ev.scratch);
	ck_assert(t->ev.vals && t->ev.first && t->ev.last && t->ev.scratch);
	rv_event_init(t->sc, &t->ev);
}

static void
tev_open(struct tev *t, const char *src)
{
	tev_open_cfg(t, src, NULL);
}

static void
tev_close(struct tev *t)
{
	free(t->ev.vals);
	free(t->ev.first);
	free(t->ev.last);
	free(t->ev.scratch);
	rv_scanner_free(t->sc);
	rv_prog_free(t->prog);
}

/* The SIMD levels a test runs: every level the build has (NONE always). */
static const enum rv_simd LEVELS[] = { RV_SIMD_NONE, RV_SIMD_SSE2 };
#define NLEVELS ((int)(sizeof LEVELS / sizeof LEVELS[0]))

/* Opens t on src at SIMD level lv; returns 0 (and closes t) if the level is not available. */
static int
tev_open_level(struct tev *t, const char *src, enum rv_simd lv)
{
	struct rv_scan_config c;

	rv_scan_config_default(&c);
	c.simd = lv;
	tev_open_cfg(t, src, &c);
	if (rv_scanner_config(t->sc)->simd != lv) {
		tev_close(t);
		return 0;
	}
	return 1;
}

/*
 * The scanners whose outcomes must agree on any input: one per SIMD level
 * (have[i] says which the build has; NONE first), and last, at the default
 * level, one that walks the containers no rule reads instead of skipping
 * them (walk_all).
 */
#define NVARIANTS (NLEVELS + 1)

static void
open_variants(struct tev *lt, int *have, const char *src)
{
	struct rv_scan_config c;
	int l;

	for (l = 0; l < NLEVELS; l++)
		have[l] = tev_open_level(&lt[l], src, LEVELS[l]);
	ck_assert(have[0]);
	rv_scan_config_default(&c);
	c.walk_all = 1;
	tev_open_cfg(&lt[NLEVELS], src, &c);
	have[NLEVELS] = 1;
}

static void
close_variants(struct tev *lt, const int *have)
{
	int l;

	for (l = 0; l < NVARIANTS; l++)
		if (have[l])
			tev_close(&lt[l]);
}

/*
 * Asserts that a's last scan (result rc_a) and b's (rc_b) of the same bytes
 * agree: result, error reason and offset, or every value and attribute.
 */
static void
same_outcome(const struct tev *a, int rc_a, const struct tev *b, int rc_b, const char *what)
{
	uint32_t i, f;
	int m;

	ck_assert_msg(rc_a == rc_b, "%s: %d vs %d", what, rc_a, rc_b);
	if (rc_a != 0) {
		ck_assert_msg(strcmp(a->err.reason, b->err.reason) == 0 && a->err.offset == b->err.offset,
			"%s: \"%s\" at %u vs \"%s\" at %u", what, a->err.reason, a->err.offset,
			b->err.reason, b->err.offset);
		return;
	}
	ck_assert_msg(a->ev.nvals == b->ev.nvals, "%s: %u vs %u values", what, a->ev.nvals,
		b->ev.nvals);
	for (i = 0; i < a->ev.nvals; i++)
		ck_assert_msg(memcmp(&a->ev.vals[i], &b->ev.vals[i], sizeof a->ev.vals[i]) == 0,
			"%s: value %u differs", what, i);
	for (f = 0; f < a->prog->nfields; f++)
		ck_assert_uint_eq(a->ev.first[f], b->ev.first[f]);
	for (m = 0; m < RV_META_N; m++) {
		ck_assert_uint_eq(a->ev.has_meta[m], b->ev.has_meta[m]);
		if (a->ev.has_meta[m])
			ck_assert(memcmp(&a->ev.meta[m], &b->ev.meta[m], sizeof a->ev.meta[m]) == 0);
	}
	ck_assert_uint_eq(a->ev.payload_off, b->ev.payload_off);
	ck_assert_uint_eq(a->ev.payload_len, b->ev.payload_len);
}

/* Scans the NUL-terminated json (without the NUL); returns rv_event_scan's result. */
static int
scan(struct tev *t, const char *json)
{
	t->buf = json;
	return rv_event_scan(t->sc, json, strlen(json), &t->ev, &t->err);
}

/* Asserts that json is refused with reason at offset off (off < 0: any offset). */
#define REFUSED(t, json, why, off) do { \
	ck_assert_int_eq(scan((t), (json)), -1); \
	ck_assert_str_eq((t)->err.reason, (why)); \
	if ((off) >= 0) \
		ck_assert_uint_eq((t)->err.offset, (unsigned)(off)); \
} while (0)

#define ACCEPTED(t, json) do { \
	int rc_ = scan((t), (json)); \
	ck_assert_msg(rc_ == 0, "refused at %u: %s", (t)->err.offset, (t)->err.reason); \
} while (0)

/* The FIELDS index of the field displayed as name (payload or meta). */
static uint32_t
field_index(const struct rv_prog *p, const char *name)
{
	uint32_t f;

	for (f = 0; f < p->nfields; f++) {
		struct rv_str s = p->fields[f].name;

		if (s.len == strlen(name) && memcmp(rv_prog_str(p, s), name, s.len) == 0)
			return f;
	}
	ck_abort_msg("no field %s", name);
	return RV_NONE;
}

/* Appends one value's text: strings quoted (raw bytes), arrays "[]:", objects "{}:". */
static void
put_val(char *out, size_t cap, const char *buf, const struct rv_jval *v)
{
	size_t n = strlen(out);

	if (v->kind == RV_J_STRING)
		snprintf(out + n, cap - n, "\"%.*s\"", (int)v->len, buf + v->off);
	else
		snprintf(out + n, cap - n, "%s%.*s", v->kind == RV_J_ARRAY ? "[]:"
			: v->kind == RV_J_OBJECT ? "{}:" : "", (int)v->len, buf + v->off);
}

/* The values of field name in the last scan, " | "-separated ("" when none). */
static const char *
vals(struct tev *t, const char *name)
{
	uint32_t i, f = field_index(t->prog, name);

	t->out[0] = '\0';
	for (i = t->ev.first[f]; i != RV_NONE; i = t->ev.vals[i].next) {
		ck_assert_uint_lt(i, t->ev.nvals);
		if (t->out[0] != '\0')
			strcat(t->out, " | ");
		put_val(t->out, sizeof t->out, t->buf, &t->ev.vals[i]);
	}
	return t->out;
}

/* The text of envelope attribute m ("-" when absent). */
static const char *
meta(struct tev *t, enum rv_meta m)
{
	t->out[0] = '\0';
	if (!t->ev.has_meta[m])
		return "-";
	put_val(t->out, sizeof t->out, t->buf, &t->ev.meta[m]);
	return t->out;
}

/* The first value of field name (must exist). */
static const struct rv_jval *
val1(struct tev *t, const char *name)
{
	uint32_t i = t->ev.first[field_index(t->prog, name)];

	ck_assert_uint_ne(i, RV_NONE);
	return &t->ev.vals[i];
}

static const char ORDERS[] =
	"event order.created v1 {\n"
	"  order_id?: string\n"
	"  customer?: { address?: { country?: string } }\n"
	"  items?: [{ sku?: string, qty?: number }]\n"
	"  tags?: [string]\n"
	"  total?: number\n"
	"  flag?: bool\n"
	"  note?: string\n"
	"}\n"
	"destination d\n"
	"rule r1 on order.created when customer.address.country exists or items.sku exists\n"
	"  or items.qty exists or tags exists or total exists or order_id exists or flag exists\n"
	"  or items exists or customer exists or note exists route d\n"
	"rule r2 on * when @source exists or @version exists or @time exists route d\n";

/* ---- values ----------------------------------------------------------------- */

START_TEST(test_nested_paths)
{
	struct tev t;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"order_id\":\"O-1\",\"customer\":{\"id\":7,\"address\":{\"city\":\"Lyon\","
		"\"country\":\"FR\"}},\"other\":{\"country\":\"XX\"}}");
	ck_assert_str_eq(vals(&t, "order_id"), "\"O-1\"");
	ck_assert_str_eq(vals(&t, "customer.address.country"), "\"FR\"");
	ck_assert_str_eq(vals(&t, "customer"),
		"{}:{\"id\":7,\"address\":{\"city\":\"Lyon\",\"country\":\"FR\"}}");
	ck_assert_str_eq(vals(&t, "total"), "");
	ck_assert_int_eq(t.ev.cloudevents, 0);
	ck_assert_uint_eq(t.ev.payload_off, 0);
	ck_assert_uint_eq(t.ev.payload_len, strlen(t.buf));
	/* a path through a scalar or missing level has no value */
	ACCEPTED(&t, "{\"customer\":{\"address\":\"none\"}}");
	ck_assert_str_eq(vals(&t, "customer.address.country"), "");
	ck_assert_str_eq(vals(&t, "customer"), "{}:{\"address\":\"none\"}");
	tev_close(&t);
}
END_TEST

START_TEST(test_arrays_of_objects)
{
	struct tev t;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"items\":[{\"sku\":\"A\",\"qty\":1},{\"qty\":2},{\"sku\":\"B\"},7,\"x\"]}");
	ck_assert_str_eq(vals(&t, "items.sku"), "\"A\" | \"B\"");
	ck_assert_str_eq(vals(&t, "items.qty"), "1 | 2");
	ck_assert_str_eq(vals(&t, "items"),
		"[]:[{\"sku\":\"A\",\"qty\":1},{\"qty\":2},{\"sku\":\"B\"},7,\"x\"] | "
		"{}:{\"sku\":\"A\",\"qty\":1} | {}:{\"qty\":2} | {}:{\"sku\":\"B\"} | 7 | \"x\"");
	ck_assert_int_eq(val1(&t, "items.qty")->flags, RV_JF_INT);
	tev_close(&t);
}
END_TEST

START_TEST(test_nested_arrays_flattened)
{
	struct tev t;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"tags\":[[\"a\",\"b\"],[],[[\"c\"]]],\"items\":[[{\"sku\":\"S1\"}],"
		"[[{\"sku\":\"S2\"}]]]}");
	ck_assert_str_eq(vals(&t, "tags"),
		"[]:[[\"a\",\"b\"],[],[[\"c\"]]] | \"a\" | \"b\" | \"c\"");
	ck_assert_str_eq(vals(&t, "items.sku"), "\"S1\" | \"S2\"");
	/* a scalar where an array is declared is still a value */
	ACCEPTED(&t, "{\"tags\":\"solo\"}");
	ck_assert_str_eq(vals(&t, "tags"), "\"solo\"");
	tev_close(&t);
}
END_TEST

START_TEST(test_exists_empty_containers)
{
	struct tev t;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"tags\":[],\"items\":[ ],\"customer\":{}}");
	ck_assert_str_eq(vals(&t, "tags"), "[]:[]");
	ck_assert_str_eq(vals(&t, "items"), "[]:[ ]");
	ck_assert_str_eq(vals(&t, "items.sku"), "");
	ck_assert_str_eq(vals(&t, "customer"), "{}:{}");
	ck_assert_str_eq(vals(&t, "customer.address.country"), "");
	tev_close(&t);
}
END_TEST

START_TEST(test_escapes_in_keys_and_values)
{
	struct tev t;
	char out[64];
	size_t n;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"\\u0063ustomer\":{\"addr\\u0065ss\":{\"c\\u006fu\\u006Etry\":\"F\\u0052\"}},"
		"\"note\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}");
	ck_assert_str_eq(vals(&t, "customer.address.country"), "\"F\\u0052\"");
	ck_assert_int_eq(val1(&t, "customer.address.country")->flags, RV_JF_ESCAPED);
	n = rv_json_unescape(t.buf, val1(&t, "customer.address.country"), out);
	ck_assert_uint_eq(n, 2);
	ck_assert(memcmp(out, "FR", 2) == 0);
	n = rv_json_unescape(t.buf, val1(&t, "note"), out);
	ck_assert_uint_eq(n, 18);
	ck_assert(memcmp(out, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80", 18) == 0);
	/* an escaped key that decodes to something else does not match */
	ACCEPTED(&t, "{\"note\\u0000\":\"x\",\"not\\u0065s\":\"y\"}");
	ck_assert_str_eq(vals(&t, "note"), "");
	/* unescaped strings copy as they are */
	ACCEPTED(&t, "{\"note\":\"plain\"}");
	ck_assert_int_eq(val1(&t, "note")->flags, 0);
	ck_assert_uint_eq(rv_json_unescape(t.buf, val1(&t, "note"), out), 5);
	tev_close(&t);
}
END_TEST

START_TEST(test_unicode_keys_and_values)
{
	struct tev t;
	char out[64];

	tev_open(&t, "event e v1 { `café`?: string, `日本`?: { `键`?: string } }\n"
		"destination d\nrule r on e when `café` exists or `日本`.`键` exists route d\n");
	ACCEPTED(&t, "{\"café\":\"crème\",\"日本\":{\"键\":\"值 😀\"}}");
	ck_assert_str_eq(vals(&t, "café"), "\"crème\"");
	ck_assert_str_eq(vals(&t, "日本.键"), "\"值 😀\"");
	/* the same keys spelled with \u escapes (and a surrogate pair) */
	ACCEPTED(&t, "{\"caf\\u00e9\":\"x\\ud83d\\ude00\",\"\\u65e5\\u672C\":{\"\\u952e\":\"v\"}}");
	ck_assert_str_eq(vals(&t, "café"), "\"x\\ud83d\\ude00\"");
	ck_assert_uint_eq(rv_json_unescape(t.buf, val1(&t, "café"), out), 5);
	ck_assert(memcmp(out, "x\xf0\x9f\x98\x80", 5) == 0);
	ck_assert_str_eq(vals(&t, "日本.键"), "\"v\"");
	/* a key longer than every segment, even escaped, matches nothing */
	ACCEPTED(&t, "{\"caf\\u00e9\\u00e9\":\"x\",\"\\u0063\\u0061\\u0066\\u00e9\":\"y\"}");
	ck_assert_str_eq(vals(&t, "café"), "\"y\"");
	tev_close(&t);
}
END_TEST

START_TEST(test_numbers)
{
	static const struct { const char *text; int isint; double v; int rc; } cases[] = {
		{ "0", 1, 0, 0 }, { "-0", 1, -0.0, 0 }, { "7", 1, 7, 0 }, { "-42", 1, -42, 0 },
		{ "123456789012345", 1, 123456789012345.0, 0 },
		{ "-9007199254740993", 1, -9007199254740992.0, 0 },
		{ "12345678901234567890", 1, 12345678901234567890.0, 0 },
		{ "1.5", 0, 1.5, 0 }, { "-0.25", 0, -0.25, 0 }, { "1e3", 0, 1000, 0 },
		{ "1E+2", 0, 100, 0 }, { "25e-2", 0, 0.25, 0 }, { "-1.5E-3", 0, -0.0015, 0 },
		{ "1e400", 0, 0, -1 }, { "-1e400", 0, 0, -1 }, { "1e-400", 0, 0, 0 },
		{ "0.1", 0, 0.1, 0 }, { "1.7976931348623157e308", 0, 1.7976931348623157e308, 0 },
	};
	struct tev t;
	char json[128];
	size_t i;

	tev_open(&t, ORDERS);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct rv_jval *v;
		double d = 12345;

		snprintf(json, sizeof json, "{\"total\": %s }", cases[i].text);
		ACCEPTED(&t, json);
		v = val1(&t, "total");
		ck_assert_int_eq(v->kind, RV_J_NUMBER);
		ck_assert_uint_eq(v->len, strlen(cases[i].text));
		ck_assert_int_eq(!!(v->flags & RV_JF_INT), cases[i].isint);
		ck_assert_int_eq(rv_json_number(t.buf, v, &d), cases[i].rc);
		if (cases[i].rc == 0) {
			ck_assert_msg(d == cases[i].v, "%s: %.17g", cases[i].text, d);
			ck_assert_int_eq(!!signbit(d), !!signbit(cases[i].v));
		}
	}
	tev_close(&t);
}
END_TEST

START_TEST(test_literals)
{
	struct tev t;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"flag\":true,\"tags\":[false,null,true],\"note\":null}");
	ck_assert_int_eq(val1(&t, "flag")->kind, RV_J_TRUE);
	ck_assert_str_eq(vals(&t, "tags"), "[]:[false,null,true] | false | null | true");
	ck_assert_int_eq(t.ev.vals[t.ev.vals[val1(&t, "tags")->next].next].kind, RV_J_NULL);
	ck_assert_int_eq(val1(&t, "note")->kind, RV_J_NULL);
	tev_close(&t);
}
END_TEST

/* ---- envelopes ---------------------------------------------------------- */

START_TEST(test_plain_meta)
{
	struct tev t;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"event_type\":\"order.created\",\"event_id\":\"e-1\",\"event_version\":2,"
		"\"event_source\":\"shop\",\"total\":5,\"event_time\":\"2024-05-02T10:01:00Z\"}");
	ck_assert_int_eq(t.ev.cloudevents, 0);
	ck_assert_str_eq(meta(&t, RV_META_TYPE), "\"order.created\"");
	ck_assert_str_eq(meta(&t, RV_META_ID), "\"e-1\"");
	ck_assert_str_eq(meta(&t, RV_META_VERSION), "2");
	ck_assert_str_eq(meta(&t, RV_META_SUBJECT), "-");
	ck_assert_int_eq(t.ev.meta[RV_META_SUBJECT].kind, RV_J_NULL);
	ck_assert_uint_eq(t.ev.meta[RV_META_SUBJECT].len, 0);
	ck_assert_int_eq(t.ev.meta[RV_META_VERSION].flags, RV_JF_INT);
	/* @meta fields are copies of the attributes */
	ck_assert_str_eq(vals(&t, "source"), "\"shop\"");
	ck_assert_str_eq(vals(&t, "version"), "2");
	ck_assert_str_eq(vals(&t, "time"), "\"2024-05-02T10:01:00Z\"");
	ck_assert_str_eq(vals(&t, "total"), "5");
	/* CloudEvents attribute names mean nothing in a plain event */
	ACCEPTED(&t, "{\"type\":\"x\",\"source\":\"y\",\"data\":{\"total\":1},\"total\":2}");
	ck_assert_str_eq(meta(&t, RV_META_TYPE), "-");
	ck_assert_str_eq(vals(&t, "source"), "");
	ck_assert_str_eq(vals(&t, "total"), "2");
	tev_close(&t);
}
END_TEST

START_TEST(test_cloudevents_specversion_first)
{
	struct tev t;
	const char *ev = "{\"specversion\":\"1.0\",\"type\":\"order.created\",\"source\":\"/shop\","
		"\"id\":\"A-1\",\"time\":\"2024-01-01T00:00:00Z\",\"eventversion\":3,\"subject\":\"s\","
		"\"total\":99,\"data\":{\"total\":12.5,\"items\":[{\"sku\":\"K\"}]}}";

	tev_open(&t, ORDERS);
	ACCEPTED(&t, ev);
	ck_assert_int_eq(t.ev.cloudevents, 1);
	ck_assert_str_eq(meta(&t, RV_META_TYPE), "\"order.created\"");
	ck_assert_str_eq(meta(&t, RV_META_SOURCE), "\"/shop\"");
	ck_assert_str_eq(meta(&t, RV_META_VERSION), "3");
	ck_assert_str_eq(meta(&t, RV_META_SUBJECT), "\"s\"");
	ck_assert_str_eq(vals(&t, "total"), "12.5");
	ck_assert_str_eq(vals(&t, "items.sku"), "\"K\"");
	ck_assert_str_eq(vals(&t, "source"), "\"/shop\"");
	ck_assert_str_eq(vals(&t, "version"), "3");
	ck_assert_uint_eq(t.ev.payload_off, (uint32_t)(strstr(ev, "{\"total\":12.5") - ev));
	ck_assert_uint_eq(t.ev.payload_len, strlen("{\"total\":12.5,\"items\":[{\"sku\":\"K\"}]}"));
	tev_close(&t);
}
END_TEST

START_TEST(test_cloudevents_data_first)
{
	struct tev t;
	const char *ev = "{\"total\":1,\"data\":{\"total\":12.5,\"items\":[{\"sku\":\"K\"},"
		"{\"sku\":\"L\"}]},\"type\":\"order.created\",\"event_type\":\"plain\",\"specversion\":\"1.0\","
		"\"source\":\"/shop\"}";

	tev_open(&t, ORDERS);
	ACCEPTED(&t, ev);
	ck_assert_int_eq(t.ev.cloudevents, 1);
	ck_assert_str_eq(meta(&t, RV_META_TYPE), "\"order.created\"");
	ck_assert_str_eq(vals(&t, "total"), "12.5");
	ck_assert_str_eq(vals(&t, "items.sku"), "\"K\" | \"L\"");
	ck_assert_str_eq(vals(&t, "source"), "\"/shop\"");
	ck_assert_uint_eq(t.ev.payload_off, (uint32_t)(strstr(ev, "{\"total\":12.5") - ev));
	tev_close(&t);
}
END_TEST

START_TEST(test_cloudevents_data_not_object)
{
	static const char *const evs[] = {
		"{\"specversion\":\"1.0\",\"type\":\"t\",\"data\":\"{\\\"total\\\":1}\",\"total\":3}",
		"{\"data\":null,\"specversion\":\"1.0\",\"total\":3}",
		"{\"specversion\":\"1.0\",\"data_base64\":\"eyJ0b3RhbCI6MX0=\",\"total\":3}",
		"{\"data\":[{\"total\":1}],\"specversion\":\"1.0\"}",
		"{\"specversion\":\"1.0\",\"data\":[{\"total\":1}]}",
		"{\"specversion\":\"1.0\",\"data\":5}",
	};
	struct tev t;
	size_t i;

	tev_open(&t, ORDERS);
	for (i = 0; i < sizeof evs / sizeof evs[0]; i++) {
		ACCEPTED(&t, evs[i]);
		ck_assert_int_eq(t.ev.cloudevents, 1);
		ck_assert_str_eq(vals(&t, "total"), "");
		ck_assert_uint_eq(t.ev.payload_len, 0);
		ck_assert_uint_eq(t.ev.nvals, 0);
	}
	tev_close(&t);
}
END_TEST

START_TEST(test_envelope_forced)
{
	struct rv_scan_config c;
	struct tev t;

	rv_scan_config_default(&c);
	c.envelope = RV_ENV_PLAIN;
	tev_open_cfg(&t, ORDERS, &c);
	ACCEPTED(&t, "{\"specversion\":\"1.0\",\"type\":\"x\",\"data\":{\"total\":1},\"total\":2}");
	ck_assert_int_eq(t.ev.cloudevents, 0);
	ck_assert_str_eq(vals(&t, "total"), "2");
	ck_assert_str_eq(meta(&t, RV_META_TYPE), "-");
	tev_close(&t);

	c.envelope = RV_ENV_CLOUDEVENTS;
	tev_open_cfg(&t, ORDERS, &c);
	ACCEPTED(&t, "{\"type\":\"x\",\"data\":{\"total\":1},\"total\":2,\"event_type\":\"y\"}");
	ck_assert_int_eq(t.ev.cloudevents, 1);
	ck_assert_str_eq(vals(&t, "total"), "1");
	ck_assert_str_eq(meta(&t, RV_META_TYPE), "\"x\"");
	tev_close(&t);
}
END_TEST

START_TEST(test_plain_names_config)
{
	struct rv_scan_config c;
	struct tev t;
	char name[16];

	rv_scan_config_default(&c);
	strcpy(name, "kind");
	c.plain_names[RV_META_TYPE] = name;
	c.plain_names[RV_META_SOURCE] = "total"; /* also a payload field */
	tev_open_cfg(&t, ORDERS, &c);
	strcpy(name, "XXXX"); /* the scanner keeps its own copy */
	ck_assert_str_eq(rv_scanner_config(t.sc)->plain_names[RV_META_TYPE], "kind");
	ck_assert_str_eq(rv_scanner_config(t.sc)->plain_names[RV_META_ID], "event_id");
	ACCEPTED(&t, "{\"kind\":\"a.b\",\"event_type\":\"no\",\"total\":4}");
	ck_assert_str_eq(meta(&t, RV_META_TYPE), "\"a.b\"");
	ck_assert_str_eq(meta(&t, RV_META_SOURCE), "4");
	ck_assert_str_eq(vals(&t, "total"), "4");
	ck_assert_str_eq(vals(&t, "source"), "4");
	tev_close(&t);
}
END_TEST

START_TEST(test_reuse_resets_fields)
{
	struct tev t;
	uint32_t f;

	tev_open(&t, ORDERS);
	ACCEPTED(&t, "{\"total\":1,\"tags\":[\"a\"],\"event_source\":\"s\"}");
	ck_assert_str_eq(vals(&t, "tags"), "[]:[\"a\"] | \"a\"");
	ACCEPTED(&t, "{\"note\":\"n\"}");
	for (f = 0; f < t.prog->nfields; f++)
		if (f != field_index(t.prog, "note"))
			ck_assert_uint_eq(t.ev.first[f], RV_NONE);
	ck_assert_uint_eq(t.ev.nvals, 1);
	ACCEPTED(&t, "{\"total\":1,\"tags\":[\"a\"]}");
	REFUSED(&t, "{\"total\":1,\"tags\":[\"a\"]", "unterminated object", 23);
	ck_assert_uint_eq(t.ev.nvals, 0);
	for (f = 0; f < t.prog->nfields; f++)
		ck_assert_uint_eq(t.ev.first[f], RV_NONE);
	ACCEPTED(&t, "{\"total\":2}");
	ck_assert_str_eq(vals(&t, "total"), "2");
	ck_assert_str_eq(vals(&t, "tags"), "");
	tev_close(&t);
}
END_TEST

/* 10,000 rules on distinct fields: a node with 10,000 children (hash lookup). */
START_TEST(test_many_children)
{
	enum { N = 10000 };
	size_t cap = (size_t)N * 120 + 1024, n = 0;
	char *src = malloc(cap), *json = malloc((size_t)N * 24 + 64);
	struct tev t;
	int i;

	n += (size_t)snprintf(src + n, cap - n, "event e v1 {\n");
	for (i = 0; i < N; i++)
		n += (size_t)snprintf(src + n, cap - n, "  k%d?: number\n", i);
	n += (size_t)snprintf(src + n, cap - n, "}\ndestination d\n");
	for (i = 0; i < N; i++)
		n += (size_t)snprintf(src + n, cap - n, "rule r%d on e when k%d == %d route d\n", i, i, i);
	tev_open(&t, src);
	ck_assert_uint_eq(t.prog->nfields, N);
	n = (size_t)sprintf(json, "{");
	for (i = N - 1; i >= 0; i -= 7)
		n += (size_t)sprintf(json + n, "\"k%d\":%d,\"x%d\":0,", i, i, i);
	strcpy(json + n - 1, "}");
	ACCEPTED(&t, json);
	for (i = 0; i < N; i++) {
		char name[16], want[16];

		sprintf(name, "k%d", i);
		sprintf(want, "%d", i);
		ck_assert_str_eq(vals(&t, name), (N - 1 - i) % 7 == 0 ? want : "");
	}
	tev_close(&t);
	free(src);
	free(json);
}
END_TEST

/* ---- limits: exactly at the limit is accepted, one past is refused --------- */

START_TEST(test_limit_bytes)
{
	struct rv_scan_config c;
	struct tev t;
	char json[64];

	rv_scan_config_default(&c);
	c.max_bytes = 16;
	tev_open_cfg(&t, ORDERS, &c);
	strcpy(json, "{\"total\":123456}");
	ck_assert_uint_eq(strlen(json), 16);
	ACCEPTED(&t, json);
	strcpy(json, "{\"total\":1234567}");
	REFUSED(&t, json, "event larger than the limit", 16);
	/* checked first: even garbage gets this reason */
	REFUSED(&t, "xxxxxxxxxxxxxxxxxxxxxxxxxxxx", "event larger than the limit", 16);
	tev_close(&t);
}
END_TEST

START_TEST(test_limit_depth)
{
	struct rv_scan_config c;
	struct tev t;
	char json[256];
	int i, n;

	rv_scan_config_default(&c);
	c.max_depth = 5;
	tev_open_cfg(&t, ORDERS, &c);
	/* depth 5: the event object plus four levels */
	ACCEPTED(&t, "{\"a\":[{\"b\":[1]}]}");
	ACCEPTED(&t, "{\"tags\":[[[[\"x\"]]]]}");
	ck_assert_str_eq(vals(&t, "tags"), "[]:[[[[\"x\"]]]] | \"x\"");
	ACCEPTED(&t, "{\"a\":[{\"b\":[[1]]}]}");
	REFUSED(&t, "{\"a\":[{\"b\":[[[1]]]}]}", "nesting deeper than the limit", 13);
	REFUSED(&t, "{\"tags\":[[[[{}]]]]}", "nesting deeper than the limit", 12);
	tev_close(&t);

	c.max_depth = 64;
	tev_open_cfg(&t, ORDERS, &c);
	n = sprintf(json, "{\"a\":");
	for (i = 0; i < 63; i++)
		json[n++] = '[';
	for (i = 0; i < 63; i++)
		json[n++] = ']';
	strcpy(json + n, "}");
	ACCEPTED(&t, json);
	n = sprintf(json, "{\"a\":");
	for (i = 0; i < 64; i++)
		json[n++] = '[';
	for (i = 0; i < 64; i++)
		json[n++] = ']';
	strcpy(json + n, "}");
	REFUSED(&t, json, "nesting deeper than the limit", 5 + 63);
	tev_close(&t);
}
END_TEST

START_TEST(test_limit_string)
{
	struct rv_scan_config c;
	struct tev t;

	rv_scan_config_default(&c);
	c.max_string = 8;
	tev_open_cfg(&t, ORDERS, &c);
	ACCEPTED(&t, "{\"note\":\"12345678\"}");
	REFUSED(&t, "{\"note\":\"123456789\"}", "string longer than the limit", 8);
	/* escaped bytes count, in keys too, and in skipped subtrees */
	ACCEPTED(&t, "{\"x\":\"\\u00e9\\n\"}");
	REFUSED(&t, "{\"x\":\"\\u00e9\\n!\"}", "string longer than the limit", 5);
	REFUSED(&t, "{\"123456789\":1}", "string longer than the limit", 1);
	ACCEPTED(&t, "{\"12345678\":1}");
	tev_close(&t);
}
END_TEST

START_TEST(test_limit_values)
{
	struct rv_scan_config c;
	struct tev t;

	rv_scan_config_default(&c);
	c.max_values = 4;
	tev_open_cfg(&t, ORDERS, &c);
	ACCEPTED(&t, "{\"tags\":[\"a\",\"b\",\"c\"],\"other\":[1,2,3,4,5,6]}");
	ck_assert_uint_eq(t.ev.nvals, 4);
	REFUSED(&t, "{\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", "too many values", 21);
	/* @meta copies count */
	ACCEPTED(&t, "{\"tags\":[\"a\",\"b\"],\"event_source\":\"s\"}");
	ck_assert_uint_eq(t.ev.nvals, 4);
	REFUSED(&t, "{\"tags\":[\"a\",\"b\"],\"event_source\":\"s\",\"event_time\":\"t\"}",
		"too many values", 50);
	/* AUTO: the plain reading's values are dropped when "specversion" shows up */
	ACCEPTED(&t, "{\"tags\":[1,2,3,4,5,6],\"specversion\":\"1.0\",\"data\":{\"tags\":[1,2,3]}}");
	ck_assert_uint_eq(t.ev.nvals, 4);
	ACCEPTED(&t, "{\"tags\":[1,2,3,4,5,6],\"data\":{\"tags\":[1,2,3]},\"specversion\":\"1.0\"}");
	ck_assert_str_eq(vals(&t, "tags"), "[]:[1,2,3] | 1 | 2 | 3");
	REFUSED(&t, "{\"tags\":[1,2,3,4,5,6],\"data\":{\"tags\":[1,2,3]}}", "too many values", 15);
	tev_close(&t);
}
END_TEST

/* ---- duplicate keys ---------------------------------------------------------- */

START_TEST(test_duplicate_keys)
{
	struct tev t;

	tev_open(&t, ORDERS);
	REFUSED(&t, "{\"total\":1,\"total\":2}", "duplicate key", 11);
	REFUSED(&t, "{\"customer\":{\"address\":{\"country\":\"a\",\"country\":\"b\"}}}",
		"duplicate key", 38);
	/* decoded spellings are the same key */
	REFUSED(&t, "{\"total\":1,\"tot\\u0061l\":2}", "duplicate key", 11);
	/* an intermediate key of a path counts too */
	REFUSED(&t, "{\"customer\":{},\"customer\":{}}", "duplicate key", 15);
	/* keys nobody reads may repeat */
	ACCEPTED(&t, "{\"x\":1,\"x\":2,\"customer\":{\"id\":1,\"id\":2},\"total\":3}");
	/* each array element is its own object */
	ACCEPTED(&t, "{\"items\":[{\"sku\":\"a\"},{\"sku\":\"b\"}]}");
	REFUSED(&t, "{\"items\":[{\"sku\":\"a\"},{\"sku\":\"b\",\"sku\":\"c\"}]}", "duplicate key", 33);
	/* CloudEvents: attributes and data are read, the top-level payload names are not */
	ACCEPTED(&t, "{\"specversion\":\"1.0\",\"total\":1,\"total\":2,\"data\":{}}");
	REFUSED(&t, "{\"specversion\":\"1.0\",\"data\":{\"total\":1,\"total\":2}}", "duplicate key", 39);
	REFUSED(&t, "{\"data\":{\"total\":1,\"total\":2},\"specversion\":\"1.0\"}", "duplicate key", 19);
	REFUSED(&t, "{\"specversion\":\"1.0\",\"type\":\"a\",\"type\":\"b\"}", "duplicate key", 32);
	REFUSED(&t, "{\"type\":\"a\",\"type\":\"b\",\"specversion\":\"1.0\"}", "duplicate key", 12);
	REFUSED(&t, "{\"specversion\":\"1.0\",\"specversion\":\"1.0\"}", "duplicate key", 21);
	/* plain: "type" is not read, "event_type" is */
	ACCEPTED(&t, "{\"type\":\"a\",\"type\":\"b\"}");
	REFUSED(&t, "{\"event_type\":\"a\",\"event_type\":\"b\"}", "duplicate key", 18);
	/* AUTO, undecided: a plain-only duplicate waits for the envelope ... */
	ACCEPTED(&t, "{\"total\":1,\"total\":2,\"specversion\":\"1.0\"}");
	/* ... so a later syntax error wins */
	REFUSED(&t, "{\"total\":1,\"total\":2,\"x\":01}", "leading zero in number", 25);
	tev_close(&t);
}
END_TEST

/* ---- error offsets ------------------------------------------------------------ */

START_TEST(test_error_offsets)
{
	struct tev t;

	tev_open(&t, ORDERS);
	REFUSED(&t, "", "empty event", 0);
	REFUSED(&t, " \n\t\r", "empty event", 4);
	REFUSED(&t, " [1]", "event is not a JSON object", 1);
	REFUSED(&t, "\"x\"", "event is not a JSON object", 0);
	REFUSED(&t, "\xef\xbb\xbf{}", "byte order mark before the event", 0);
	REFUSED(&t, "{\"a\":1,}", "trailing comma in object", 7);
	REFUSED(&t, "{\"a\":[1,]}", "trailing comma in array", 8);
	REFUSED(&t, "{\"a\":01}", "leading zero in number", 5);
	REFUSED(&t, "{\"a\":-}", "missing digits after minus sign", 5);
	REFUSED(&t, "{\"a\":1.}", "missing digits after decimal point", 7);
	REFUSED(&t, "{\"a\":1e}", "missing digits in exponent", 7);
	REFUSED(&t, "{\"a\":.5}", "invalid number", 5);
	REFUSED(&t, "{\"a\":+1}", "invalid number", 5);
	REFUSED(&t, "{\"a\":\"\\x\"}", "invalid escape", 6);
	REFUSED(&t, "{\"a\":\"\\u12g4\"}", "invalid \\u escape", 6);
	REFUSED(&t, "{\"a\":\"\\ud800\"}", "lone surrogate", 6);
	REFUSED(&t, "{\"a\":\"\\udc00\"}", "lone surrogate", 6);
	REFUSED(&t, "{\"a\":\"\xc0\x80\"}", "invalid UTF-8", 6);
	REFUSED(&t, "{\"a\":\"\x01\"}", "control character in string", 6);
	REFUSED(&t, "{\"a\":NaN}", "invalid literal", 5);
	REFUSED(&t, "{\"a\":tru}", "invalid literal", 5);
	REFUSED(&t, "{\"a\":1} x", "trailing characters after the event", 8);
	ACCEPTED(&t, " {\"a\":1} \n\t\r");
	tev_close(&t);
}
END_TEST

/* ---- the JSON corpus ------------------------------------------------------- */

/* Reads the whole file at path into a malloc'd buffer; sets *len. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A program that reads no payload field: every container of an event is skipped. */
static const char NOTHING[] =
	"event x v1 { a?: string }\n"
	"destination d\n"
	"rule r on * when @source exists route d\n";

/*
 * Runs every tests/json/<kind>/ *.json file through the ORDERS scanner with
 * the default configuration: bad ones must be refused with the reason in
 * their .reason file, good ones accepted; then through a scanner at every
 * SIMD level available and one that walks what the others skip
 * (open_variants), which must give the same outcome to the byte; then
 * through the NOTHING scanner, which validates each container with
 * skip_container instead of walk: the same outcome, but for the findings
 * that depend on what is read (duplicate keys, too many values).
 * Returns the number of files.
 */
static int
run_corpus(const char *kind)
{
	const char *top = getenv("top_srcdir");
	char dir[1024], path[1200];
	char *names[1024];
	struct dirent *de;
	struct tev t, tn, lt[NVARIANTS];
	int have[NVARIANTS], lv;
	DIR *dp;
	int i, n = 0;

	snprintf(dir, sizeof dir, "%s/tests/json/%s", top != NULL ? top : ".", kind);
	ck_assert_msg((dp = opendir(dir)) != NULL, "cannot open %s (set top_srcdir)", dir);
	while ((de = readdir(dp)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0 && n < 1024)
			names[n++] = strdup(de->d_name);
	}
	closedir(dp);
	qsort(names, (size_t)n, sizeof names[0], cmp_names);
	tev_open(&t, ORDERS);
	tev_open(&tn, NOTHING);
	open_variants(lt, have, ORDERS);
	for (i = 0; i < n; i++) {
		size_t len, rlen;
		char *buf, *why;
		int rc;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		buf = slurp(path, &len);
		rc = rv_event_scan(t.sc, buf, len, &t.ev, &t.err);
		for (lv = 0; lv < NVARIANTS; lv++)
			if (have[lv])
				same_outcome(&t, rc, &lt[lv],
					rv_event_scan(lt[lv].sc, buf, len, &lt[lv].ev, &lt[lv].err), names[i]);
		if (rv_event_scan(tn.sc, buf, len, &tn.ev, &tn.err) == 0) {
			ck_assert_msg(rc == 0 || strcmp(t.err.reason, "duplicate key") == 0
				|| strcmp(t.err.reason, "too many values") == 0,
				"%s: skipped, accepted; read, refused: %s", names[i], t.err.reason);
		} else {
			ck_assert_msg(rc != 0 && strcmp(tn.err.reason, t.err.reason) == 0
				&& tn.err.offset == t.err.offset, "%s: skipped \"%s\" at %u, read \"%s\" at %u",
				names[i], tn.err.reason, tn.err.offset, rc ? t.err.reason : "-",
				rc ? t.err.offset : 0);
		}
		if (strcmp(kind, "good") == 0) {
			ck_assert_msg(rc == 0, "%s refused at %u: %s", names[i], t.err.offset,
				t.err.reason);
		} else {
			snprintf(path + strlen(path) - 5, 8, ".reason");
			why = slurp(path, &rlen);
			while (rlen > 0 && (why[rlen - 1] == '\n' || why[rlen - 1] == '\r'))
				why[--rlen] = '\0';
			ck_assert_msg(rc == -1, "%s accepted", names[i]);
			ck_assert_msg(strcmp(t.err.reason, why) == 0, "%s: got \"%s\" at %u, want \"%s\"",
				names[i], t.err.reason, t.err.offset, why);
			ck_assert_uint_le(t.err.offset, len);
			free(why);
		}
		free(buf);
		free(names[i]);
	}
	tev_close(&t);
	tev_close(&tn);
	close_variants(lt, have);
	return n;
}

START_TEST(test_bad_corpus)
{
	ck_assert_int_ge(run_corpus("bad"), 150);
}
END_TEST

START_TEST(test_good_corpus)
{
	ck_assert_int_ge(run_corpus("good"), 40);
}
END_TEST

/* ---- differential test against jansson -----------------------------------
 *
 * Generated documents (random nesting, keys from a pool that hits the
 * program's paths and envelope names, strings with every escape and UTF-8
 * of 1 to 4 bytes, numbers of every shape) and mutations of them (byte
 * replacements, insertions, deletions, truncations). jansson parses with
 * JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL. Deliberate
 * differences, accounted for below:
 *  1. Only objects are events: a document jansson accepts as an array or a
 *     scalar must be refused with "event is not a JSON object".
 *  2. Numbers outside the double range (1e400) are valid JSON to us
 *     (rv_json_number reports them); jansson refuses "real number
 *     overflow". Such documents are skipped.
 *  3. Duplicate keys: we refuse them only on read paths. When jansson with
 *     JSON_REJECT_DUPLICATES refuses a document that it otherwise accepts,
 *     we may accept it or refuse it with "duplicate key", nothing else.
 *  4. jansson swallows one NUL byte right after a number or a literal
 *     ({"a":1\0} and {"a":null\0} are accepted; after a string, an object
 *     or an array it is refused): a jansson bug (its lexer reads one byte
 *     past those tokens and "ungets" a NUL as nothing). When we refuse at a
 *     NUL that follows a digit or the last letter of true/false/null, the
 *     case is counted apart.
 *  5. Limits (not reached here): our max_depth (here 1000, below jansson's
 *     2048), max_string, max_bytes and RV_JSON_NUMBER_MAX (1024-byte
 *     numbers); jansson has none of the last three.
 * \u0000 is valid JSON: jansson needs JSON_ALLOW_NUL to agree.
 */
struct gen {
	uint64_t s;     /* xorshift64* state */
	char *buf;
	size_t n, cap;
	int maxdepth;
};

static uint64_t
rnd(struct gen *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * 2685821657736338717ull;
}

static unsigned
rn(struct gen *g, unsigned n)
{
	return (unsigned)(rnd(g) >> 33) % n;
}

static void
gput(struct gen *g, const char *s, size_t n)
{
	if (g->n + n + 1 > g->cap) {
		g->cap = (g->n + n + 1) * 2;
		g->buf = realloc(g->buf, g->cap);
		ck_assert_ptr_nonnull(g->buf);
	}
	memcpy(g->buf + g->n, s, n);
	g->n += n;
}

static void
gputs(struct gen *g, const char *s)
{
	gput(g, s, strlen(s));
}

static void
gws(struct gen *g)
{
	static const char ws[] = " \n\t\r";

	while (rn(g, 4) == 0)
		gput(g, &ws[rn(g, 4)], 1);
}

/* Appends code point cp as UTF-8. */
static void
gutf8(struct gen *g, uint32_t cp)
{
	char t[4];

	if (cp < 0x80) {
		t[0] = (char)cp;
		gput(g, t, 1);
	} else if (cp < 0x800) {
		t[0] = (char)(0xc0 | cp >> 6);
		t[1] = (char)(0x80 | (cp & 0x3f));
		gput(g, t, 2);
	} else if (cp < 0x10000) {
		t[0] = (char)(0xe0 | cp >> 12);
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (char)(0x80 | (cp & 0x3f));
		gput(g, t, 3);
	} else {
		t[0] = (char)(0xf0 | cp >> 18);
		t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (char)(0x80 | (cp & 0x3f));
		gput(g, t, 4);
	}
}

/* A random code point, never a surrogate: 1- to 4-byte UTF-8 evenly. */
static uint32_t
gcp(struct gen *g)
{
	static const uint32_t lo[] = { 0x20, 0x80, 0x800, 0x10000 }, hi[] = { 0x7f, 0x7ff, 0xffff,
		0x10ffff };
	unsigned k = rn(g, 4);
	uint32_t cp;

	do
		cp = lo[k] + (uint32_t)(rnd(g) % (hi[k] - lo[k] + 1));
	while ((cp >= 0xd800 && cp <= 0xdfff) || cp == '"' || cp == '\\');
	return cp;
}

static void
gstring(struct gen *g)
{
	static const char *const esc[] = { "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t" };
	char t[16];
	unsigned i, n = rn(g, 8);

	gputs(g, "\"");
	for (i = 0; i < n; i++) {
		uint32_t cp;

		switch (rn(g, 6)) {
		case 0:
			gputs(g, esc[rn(g, 8)]);
			break;
		case 1:
			do
				cp = (uint32_t)rn(g, 0x10000);
			while (cp >= 0xd800 && cp <= 0xdfff);
			snprintf(t, sizeof t, rn(g, 2) ? "\\u%04x" : "\\u%04X", (unsigned)cp);
			gputs(g, t);
			break;
		case 2:
			cp = 0x10000 + (uint32_t)(rnd(g) % 0x100000);
			snprintf(t, sizeof t, "\\u%04x\\u%04X", (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
				(unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
			gputs(g, t);
			break;
		case 3:
			gutf8(g, gcp(g));
			break;
		default:
			t[0] = (char)('a' + rn(g, 26));
			gput(g, t, 1);
			break;
		}
	}
	gputs(g, "\"");
}

static void
gnumber(struct gen *g)
{
	char t[8];
	unsigned i, n;

	if (rn(g, 3) == 0)
		gputs(g, "-");
	if (rn(g, 4) == 0) {
		gputs(g, "0");
	} else {
		t[0] = (char)('1' + rn(g, 9));
		gput(g, t, 1);
		for (i = 0, n = rn(g, 7); i < n; i++) {
			t[0] = (char)('0' + rn(g, 10));
			gput(g, t, 1);
		}
	}
	if (rn(g, 3) == 0) {
		gputs(g, ".");
		for (i = 0, n = 1 + rn(g, 5); i < n; i++) {
			t[0] = (char)('0' + rn(g, 10));
			gput(g, t, 1);
		}
	}
	if (rn(g, 4) == 0) {
		gputs(g, rn(g, 2) ? "e" : "E");
		if (rn(g, 2))
			gputs(g, rn(g, 2) ? "+" : "-");
		for (i = 0, n = 1 + rn(g, 2); i < n; i++) {
			t[0] = (char)('0' + rn(g, 10));
			gput(g, t, 1);
		}
	}
}

static void gvalue(struct gen *g, int depth);

static void
gobject(struct gen *g, int depth)
{
	static const char *const pool[] = { "total", "tags", "items", "sku", "qty", "customer",
		"address", "country", "data", "type", "specversion", "event_type", "id", "note", "x" };
	unsigned used = 0, i, n = rn(g, 6);

	gputs(g, "{");
	gws(g);
	for (i = 0; i < n; i++) {
		unsigned k = rn(g, 16);

		if (i > 0) {
			gputs(g, ",");
			gws(g);
		}
		if (k < 15 && (!(used & 1u << k) || rn(g, 8) == 0)) { /* sometimes a duplicate */
			used |= 1u << k;
			gputs(g, "\"");
			gputs(g, pool[k]);
			gputs(g, "\"");
		} else {
			char t[24];

			snprintf(t, sizeof t, "\"k%u_%u\"", i, rn(g, 100)); /* unique: i differs */
			gputs(g, t);
		}
		gws(g);
		gputs(g, ":");
		gws(g);
		gvalue(g, depth + 1);
		gws(g);
	}
	gputs(g, "}");
}

static void
gvalue(struct gen *g, int depth)
{
	unsigned i, n, k = rn(g, depth >= g->maxdepth ? 6 : 10);

	switch (k) {
	case 0: case 1:
		gstring(g);
		break;
	case 2: case 3:
		gnumber(g);
		break;
	case 4:
		gputs(g, rn(g, 2) ? "true" : "false");
		break;
	case 5:
		gputs(g, "null");
		break;
	case 6: case 7:
		gputs(g, "[");
		gws(g);
		for (i = 0, n = rn(g, 5); i < n; i++) {
			if (i > 0) {
				gputs(g, ",");
				gws(g);
			}
			gvalue(g, depth + 1);
			gws(g);
		}
		gputs(g, "]");
		break;
	default:
		gobject(g, depth);
		break;
	}
}

/* Mutates g->buf[0..n) in place: 1 to 3 replacements, insertions, deletions, or a cut. */
static void
gmutate(struct gen *g)
{
	static const char interesting[] = "{}[],:\"\\0123456789-+.eEtfnu \x00\x01\x1f\x7f\x80\xbf"
		"\xc0\xc2\xdf\xe0\xed\xef\xf0\xf4\xf5\xff";
	unsigned i, n = 1 + rn(g, 3);

	for (i = 0; i < n && g->n > 0; i++) {
		size_t at = rn(g, (unsigned)g->n);
		char c = rn(g, 4) ? interesting[rn(g, sizeof interesting - 1)] : (char)rn(g, 256);

		switch (rn(g, 4)) {
		case 0:
			g->buf[at] = c;
			break;
		case 1:
			gput(g, "", 1); /* grow by one */
			memmove(g->buf + at + 1, g->buf + at, g->n - at - 1);
			g->buf[at] = c;
			break;
		case 2:
			memmove(g->buf + at, g->buf + at + 1, g->n - at - 1);
			g->n--;
			break;
		default:
			g->n = at;
			break;
		}
	}
}

START_TEST(test_differential_jansson)
{
	struct rv_scan_config c;
	struct gen g;
	struct tev t, tw;
	unsigned long ncase = 0, nacc = 0, nrej = 0, nskip = 0, ndup = 0, nnul = 0;
	unsigned long maxcase = 100000;
	double maxsec = getenv("DIFF_CASES") != NULL ? 600.0 : 20.0;
	clock_t t0 = clock();
	size_t cap = 0;
	char *copy = NULL;

	rv_scan_config_default(&c);
	c.max_depth = 1000;
	c.max_values = 1u << 16;
	c.max_string = 1u << 24;
	c.max_bytes = 1u << 24;
	tev_open_cfg(&t, ORDERS, &c);
	c.walk_all = 1;
	tev_open_cfg(&tw, ORDERS, &c);
	memset(&g, 0, sizeof g);
	g.s = 0x9e3779b97f4a7c15ull;
	if (getenv("DIFF_CASES") != NULL) /* longer hunts by hand */
		maxcase = strtoul(getenv("DIFF_CASES"), NULL, 10);
	while (ncase < maxcase && (double)(clock() - t0) / CLOCKS_PER_SEC < maxsec) {
		json_error_t jerr;
		json_t *j;
		int rc, mutated = ncase % 3 != 0;

		g.n = 0;
		g.maxdepth = 1 + (int)rn(&g, 12);
		if (rn(&g, 20) == 0)
			gvalue(&g, 0);
		else
			gobject(&g, 0);
		if (mutated)
			gmutate(&g);
		/* an exactly sized copy, so that ASan sees any overread */
		if (g.n > cap) {
			cap = g.n;
			copy = realloc(copy, cap);
		}
		if (g.n > 0)
			memcpy(copy, g.buf, g.n);
		ncase++;
		rc = rv_event_scan(t.sc, copy, g.n, &t.ev, &t.err);
		if (rc < 0)
			ck_assert_uint_le(t.err.offset, g.n);
		/* skipping what no rule reads changes nothing */
		same_outcome(&t, rc, &tw, rv_event_scan(tw.sc, copy, g.n, &tw.ev, &tw.err), "walk_all");
		j = json_loadb(copy, g.n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
			&jerr);
		if (j == NULL) {
			if (strstr(jerr.text, "overflow") != NULL) {
				nskip++;
				continue;
			}
			ck_assert_msg(rc < 0, "case %lu: jansson refuses (%s at %d), we accept: %.*s",
				ncase, jerr.text, jerr.position, (int)g.n, g.buf);
			nrej++;
			continue;
		}
		if (!json_is_object(j)) {
			ck_assert_msg(rc < 0 && strcmp(t.err.reason, "event is not a JSON object") == 0,
				"case %lu: non-object: %.*s", ncase, (int)g.n, g.buf);
			json_decref(j);
			nrej++;
			continue;
		}
		json_decref(j);
		if (rc != 0 && t.err.offset > 0 && t.err.offset < g.n && copy[t.err.offset] == '\0'
		    && strchr("0123456789el", copy[t.err.offset - 1]) != NULL) {
			nnul++;
			continue;
		}
		j = json_loadb(copy, g.n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL
			| JSON_REJECT_DUPLICATES, &jerr);
		if (j == NULL) {
			ndup++;
			ck_assert_msg(rc == 0 || strcmp(t.err.reason, "duplicate key") == 0,
				"case %lu: duplicates, we say %s at %u: %.*s", ncase, t.err.reason,
				t.err.offset, (int)g.n, g.buf);
			continue;
		}
		json_decref(j);
		if (rc != 0 && getenv("DIFF_DUMP") != NULL) {
			FILE *df = fopen(getenv("DIFF_DUMP"), "wb");
			fwrite(copy, 1, g.n, df);
			fclose(df);
		}
		ck_assert_msg(rc == 0, "case %lu: jansson accepts, we refuse (%s at %u): %.*s", ncase,
			t.err.reason, t.err.offset, (int)g.n, g.buf);
		nacc++;
	}
	fprintf(stderr, "differential: %lu cases (%lu accepted, %lu refused, %lu with duplicates, "
		"%lu skipped: number overflow, %lu jansson NUL quirk) in %.1f s\n", ncase, nacc, nrej,
		ndup, nskip, nnul,
		(double)(clock() - t0) / CLOCKS_PER_SEC);
	ck_assert_uint_ge(ncase, 20000);
	ck_assert_uint_ge(nacc, 5000);
	ck_assert_uint_ge(nrej, 5000);
	free(copy);
	free(g.buf);
	tev_close(&t);
	tev_close(&tw);
}
END_TEST

/* ---- SIMD levels ------------------------------------------------------------ */

/* The configured level is honoured, lowered to what the build has, and reported. */
START_TEST(test_simd_levels)
{
	struct tev t;
	enum rv_simd best;

	tev_open(&t, ORDERS);
	best = rv_scanner_config(t.sc)->simd;
	tev_close(&t);
	ck_assert_int_ne(best, RV_SIMD_AUTO);
#if defined(__SSE2__)
	if (getenv("ROUTE_SIMD") == NULL)
		ck_assert_int_ge(best, RV_SIMD_SSE2); /* the default uses the vector code */
#endif
	ck_assert(tev_open_level(&t, ORDERS, RV_SIMD_NONE));
	ck_assert_int_eq(rv_scanner_config(t.sc)->simd, RV_SIMD_NONE);
	tev_close(&t);
	if (tev_open_level(&t, ORDERS, RV_SIMD_SSE2))
		tev_close(&t);
#if defined(__SSE2__)
	else
		ck_abort_msg("SSE2 build without the SSE2 level");
#endif
}
END_TEST

/*
 * One event through every variant (open_variants), and every prefix of its
 * last 48 bytes, each in an exactly sized heap copy (ASan sees a read past
 * the end): the outcomes must agree with the portable code's (lt[0]).
 * Returns the number of comparisons.
 */
static unsigned long
levels_agree(struct tev *lt, const int *have, const char *ev, size_t n)
{
	size_t cut = n > 48 ? n - 48 : 0, len;
	unsigned long k = 0;
	int l, rc0;

	for (len = cut; len <= n; len++) {
		char *copy = malloc(len ? len : 1);

		memcpy(copy, ev, len);
		rc0 = rv_event_scan(lt[0].sc, copy, len, &lt[0].ev, &lt[0].err);
		for (l = 1; l < NVARIANTS; l++) {
			if (!have[l])
				continue;
			same_outcome(&lt[0], rc0, &lt[l],
				rv_event_scan(lt[l].sc, copy, len, &lt[l].ev, &lt[l].err), ev);
			k++;
		}
		free(copy);
	}
	return k;
}

/*
 * Strings and digit runs across 8- and 16-byte blocks: each special byte
 * sequence (escapes, UTF-8 of 2 to 4 bytes, invalid UTF-8, control bytes,
 * DEL, the closing quote) at every position 0..69 of a string that a rule
 * reads ("note") and of one it skips ("zz"); digit runs of 1 to 40 digits
 * before every kind of terminator in an array read ("total") and one
 * skipped ("zz"); the buffer cut short near its end.
 */
START_TEST(test_simd_block_edges)
{
	static const char *const special[] = {
		"\\\"", "\\\\", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\ud83d", "\\x", "\\u12g4",
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xc0\x80", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xe2\x82", "\x01", "\x1f", "\x7f", "\"", " ",
	};
	static const char *const numend[] = { "]}", ".5]}", "e7]}", ",1]}", "x]}", ".]}", "", "-]}",
		"E+]}", "0]}" };
	struct tev lt[NVARIANTS];
	int have[NVARIANTS], sp, pos, nd, ne, key;
	unsigned long k = 0;
	char ev[512];

	open_variants(lt, have, ORDERS);
	for (key = 0; key < 2; key++)
		for (sp = 0; sp < (int)(sizeof special / sizeof special[0]); sp++)
			for (pos = 0; pos < 70; pos++) {
				int n = snprintf(ev, sizeof ev, "{\"%s\":\"%.*s%s%.*s\",\"total\":12}",
					key ? "zz" : "note", pos,
					"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop",
					special[sp], 40 - pos % 40, "0123456789012345678901234567890123456789");

				k += levels_agree(lt, have, ev, (size_t)n);
			}
	for (key = 0; key < 2; key++)
		for (nd = 1; nd <= 40; nd++)
			for (ne = 0; ne < (int)(sizeof numend / sizeof numend[0]); ne++) {
				/* "total" is read, "zz" skipped */
				int n = snprintf(ev, sizeof ev, "{\"%s\":[-1%.*s%s", key ? "zz" : "total", nd,
					"9876543210987654321098765432109876543210", numend[ne]);

				k += levels_agree(lt, have, ev, (size_t)n);
			}
	close_variants(lt, have);
	ck_assert_uint_gt(k, 100000);
}
END_TEST

/*
 * Whitespace runs of 0 to 40 bytes (cycling through the four JSON
 * whitespace bytes) in each of the 14 places an event below allows them,
 * in a read and in a skipped subtree, each run ended by nothing or by a
 * byte that is not JSON whitespace (VT, FF, NBSP's lead byte, '/'), cut
 * near the end as in levels_agree.
 */
START_TEST(test_simd_whitespace)
{
	static const char *const part[] = {
		"{", "\"note\"", ":", "\"x\"", ",", "\"zz\"", ":", "[", "1", ",", "{", "\"a\"", ":", "2",
		"}", "]", ",", "\"total\"", ":", "3", "}",
	};
	static const char *const stop[] = { "", "\x0b", "\x0c", "\xc2\xa0", "/" };
	static const char ws[] = " \t\n\r";
	struct tev lt[NVARIANTS];
	int have[NVARIANTS], run, at, st, i, j;
	unsigned long k = 0;
	char ev[512];

	open_variants(lt, have, ORDERS);
	for (run = 0; run <= 40; run++)
		for (at = 1; at < (int)(sizeof part / sizeof part[0]); at++)
			for (st = 0; st < (int)(sizeof stop / sizeof stop[0]); st++) {
				size_t n = 0;

				for (i = 0; i < (int)(sizeof part / sizeof part[0]); i++) {
					if (i == at) { /* the run goes before part[at] */
						for (j = 0; j < run; j++)
							ev[n++] = ws[(j + run) % 4];
						n += (size_t)snprintf(ev + n, sizeof ev - n, "%s", stop[st]);
					}
					n += (size_t)snprintf(ev + n, sizeof ev - n, "%s", part[i]);
				}
				for (j = 0; j < run; j++) /* and after the event */
					ev[n++] = ws[j % 4];
				ev[n] = '\0';
				k += levels_agree(lt, have, ev, n);
			}
	close_variants(lt, have);
	ck_assert_uint_gt(k, 100000);
}
END_TEST

/* ---- suite ------------------------------------------------------------------ */

/* rv_json_number agrees bit for bit with strtod on decimals inside and
 * outside its fast paths (Clinger: <= 15 digits, |scale| <= 22;
 * Eisel-Lemire: <= 19 digits, |scale| <= 64), ties and carries included. */
START_TEST(test_number_fast_path_exact)
{
	static const char *const hard[] = {
		"9007199254740993", "9007199254740993.0", "9007199254740995", "-9007199254740993e0",
		"1.7976931348623157e308", "1.7976931348623158e308", "2.2250738585072014e-308",
		"4.9e-324", "1e23", "8.98846567431158e307", "9999999999999999999", "1844674407370955161.5",
		"18446744073709551615", "0.1", "0.30000000000000004", "7.2057594037927933e16",
		"123456789012345678e-64", "123456789012345678e-65", "1e64", "1e65", "1e-64",
		"3.0517578125e-05", "1.00000000000000011102230246251565404236316680908203125",
		"1.0000000000000001110223024625156540423631668090820312", "-0.0", "0e0", "0.000e-5",
		"5e-324", "2.4703282292062327e-324", "179769313486231580793728971405301e276",
		"-122.4172570833663", "37.78825693250671", "-122.35899993000001",
	};
	char buf[64];
	unsigned long n = 0;
	unsigned seed = 7;
	int t;
	size_t h;

	for (h = 0; h < sizeof hard / sizeof hard[0]; h++) {
		struct rv_jval v;
		double d, r;

		memset(&v, 0, sizeof v);
		v.len = (uint32_t)strlen(hard[h]);
		v.kind = RV_J_NUMBER;
		if (!strpbrk(hard[h], ".eE"))
			v.flags = RV_JF_INT;
		r = strtod(hard[h], NULL);
		if (isinf(r)) {
			ck_assert_int_eq(rv_json_number(hard[h], &v, &d), -1);
			continue;
		}
		ck_assert_int_eq(rv_json_number(hard[h], &v, &d), 0);
		ck_assert_msg(memcmp(&d, &r, sizeof d) == 0, "%s: %.17g, strtod %.17g", hard[h], d, r);
	}
	for (t = 0; t < 400000; t++) {
		struct rv_jval v;
		double d, r;
		int kind;

		seed = seed * 1103515245u + 12345u;
		kind = (int)(seed % 8);
		if (kind == 0)
			snprintf(buf, sizeof buf, "%.*f", (int)((seed >> 8) % 12), (double)(seed >> 4) / 7.0 - 300000.0);
		else if (kind == 1)
			snprintf(buf, sizeof buf, "%.15g", (double)seed / ((seed >> 16) + 1));
		else if (kind == 2)
			snprintf(buf, sizeof buf, "-122.%0*u", (int)((seed >> 3) % 13 + 1), seed % 1000000);
		else if (kind == 3)
			snprintf(buf, sizeof buf, "%ue%d", seed % 100000, (int)((seed >> 9) % 50) - 25);
		else if (kind == 4)
			snprintf(buf, sizeof buf, "0.%0*u", (int)((seed >> 5) % 20 + 1), seed % 1000);
		else if (kind == 5) /* 16 to 19 digits (the citylots coordinates have 16 or 17) */
			snprintf(buf, sizeof buf, "-122.%0*u%07u", (int)((seed >> 3) % 9 + 3),
				seed % 1000000, (seed >> 7) % 10000000);
		else if (kind == 6) /* 17 significant digits, the whole exponent range */
			snprintf(buf, sizeof buf, "%.16e", ldexp((double)(seed | 1) / 4294967296.0,
				(int)((seed >> 11) % 2040) - 1020));
		else /* up to 19 digits, scale -70..70 (past the table on both sides) */
			snprintf(buf, sizeof buf, "%u%09ue%d", seed % 4000000000u + 1, (seed >> 5) % 1000000000u,
				(int)((seed >> 13) % 141) - 70);
		memset(&v, 0, sizeof v);
		v.len = (uint32_t)strlen(buf);
		v.kind = RV_J_NUMBER;
		if (!strchr(buf, '.') && !strchr(buf, 'e'))
			v.flags = RV_JF_INT;
		if (rv_json_number(buf, &v, &d) < 0)
			continue;
		r = strtod(buf, NULL);
		ck_assert_msg(memcmp(&d, &r, sizeof d) == 0, "%s: %.17g, strtod %.17g", buf, d, r);
		n++;
	}
	ck_assert_uint_gt(n, 390000);
}
END_TEST

static Suite *
event_suite(void)
{
	Suite *s = suite_create("event");
	TCase *tc = tcase_create("event");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_nested_paths);
	tcase_add_test(tc, test_arrays_of_objects);
	tcase_add_test(tc, test_nested_arrays_flattened);
	tcase_add_test(tc, test_exists_empty_containers);
	tcase_add_test(tc, test_escapes_in_keys_and_values);
	tcase_add_test(tc, test_unicode_keys_and_values);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_literals);
	tcase_add_test(tc, test_plain_meta);
	tcase_add_test(tc, test_cloudevents_specversion_first);
	tcase_add_test(tc, test_cloudevents_data_first);
	tcase_add_test(tc, test_cloudevents_data_not_object);
	tcase_add_test(tc, test_envelope_forced);
	tcase_add_test(tc, test_plain_names_config);
	tcase_add_test(tc, test_reuse_resets_fields);
	tcase_add_test(tc, test_many_children);
	tcase_add_test(tc, test_limit_bytes);
	tcase_add_test(tc, test_limit_depth);
	tcase_add_test(tc, test_limit_string);
	tcase_add_test(tc, test_limit_values);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_error_offsets);
	tcase_add_test(tc, test_bad_corpus);
	tcase_add_test(tc, test_good_corpus);
	tcase_add_test(tc, test_differential_jansson);
	tcase_add_test(tc, test_number_fast_path_exact);
	tcase_add_test(tc, test_simd_levels);
	tcase_add_test(tc, test_simd_block_edges);
	tcase_add_test(tc, test_simd_whitespace);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(event_suite());
	int nfail;

	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
