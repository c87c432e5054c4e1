/*
 * check_json_out.c -- unit tests for runtime/json_out.c: `set` edits of
 * event bytes (rv_json_edit), `emit` bodies (rv_json_object), string quoting
 * and number formatting.
 *
 * Every document the module writes is parsed back with jansson (json_loadb
 * must accept it) and compared with the expected structure; where bytes
 * matter (preserved blanks, escapes, key order, duplicate keys) the exact
 * text is compared too. test_random_edits builds random documents and edits
 * with a fixed-seed PRNG and checks the result against the same edits made
 * with jansson's API.
 */
#include "config.h"

#include <check.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

#define OUTCAP 65536

/* ---- helpers ------------------------------------------------------------ */

/* A member built from a dotted path (split at '.'); owns copies of both. */
struct tmem {
	char path[256];
	const char *segs[16];
	size_t lens[16];
	char json[1024];
};

/* Fills t and *m from path (dotted) and json. */
static void
tmem_set(struct tmem *t, struct rv_json_member *m, const char *path, const char *json)
{
	char *p, *dot;
	unsigned n = 0;

	ck_assert_uint_lt(strlen(path), sizeof t->path);
	ck_assert_uint_lt(strlen(json), sizeof t->json);
	strcpy(t->path, path);
	strcpy(t->json, json);
	for (p = t->path; n < 16; p = dot + 1) {
		dot = strchr(p, '.');
		t->segs[n] = p;
		t->lens[n++] = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (dot == NULL)
			break;
	}
	m->segs = t->segs;
	m->seglens = t->lens;
	m->nseg = n;
	m->json = t->json;
	m->len = strlen(t->json);
}

/* Result of one call. */
struct tres {
	int rc;
	char out[OUTCAP + 1]; /* NUL-terminated copy when rc == 0 */
	size_t len;
	const char *why;
};

static struct tres R; /* the last result (large: kept off the stack) */

/*
 * Runs rv_json_edit(doc, in_data) with members given as path, json pairs
 * (NULL-terminated) and output capacity cap. The document is passed in an
 * exactly sized heap copy, so ASan sees any overread.
 */
static int
edit_cap(const char *doc, int in_data, size_t cap, const char *const *pv)
{
	static struct tmem t[16];
	struct rv_json_member m[16];
	unsigned n = 0;
	size_t dlen = strlen(doc);
	char *copy = malloc(dlen + 1), *out = malloc(cap + 1);

	ck_assert_ptr_nonnull(copy);
	ck_assert_ptr_nonnull(out);
	memcpy(copy, doc, dlen);
	for (; pv[0] != NULL; pv += 2) {
		ck_assert_uint_lt(n, 16);
		tmem_set(&t[n], &m[n], pv[0], pv[1]);
		n++;
	}
	R.why = NULL;
	R.len = 0;
	R.rc = rv_json_edit(copy, dlen, in_data, m, n, out, cap, &R.len, &R.why);
	if (R.rc == 0) {
		ck_assert_uint_le(R.len, cap);
		memcpy(R.out, out, R.len);
		R.out[R.len] = '\0';
	} else {
		ck_assert_ptr_nonnull(R.why);
	}
	free(copy);
	free(out);
	return R.rc;
}

static int
edit(const char *doc, int in_data, const char *const *pv)
{
	return edit_cap(doc, in_data, OUTCAP, pv);
}

/* Parses text[0..len) with jansson; the test fails if it is refused. */
static json_t *
parse(const char *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(text, len, 0, &err);

	ck_assert_msg(j != NULL, "jansson refuses %.*s: %s at %d", (int)len, text, err.text,
		err.position);
	return j;
}

/* The last output must parse and equal the JSON text want (key order free). */
static void
same_json(const char *want)
{
	json_t *a = parse(R.out, R.len), *b = parse(want, strlen(want));

	ck_assert_msg(json_equal(a, b), "got %s, want %s", R.out, want);
	json_decref(a);
	json_decref(b);
}

/* Edit must succeed with exactly the bytes want (also checked by jansson). */
#define EDIT_IS(doc, in_data, want, ...) do { \
	const char *const pv_[] = { __VA_ARGS__, NULL }; \
	ck_assert_msg(edit((doc), (in_data), pv_) == 0, "edit of %s failed: %s", (doc), R.why); \
	ck_assert_str_eq(R.out, (want)); \
	same_json(want); \
} while (0)

/* Edit must fail with reason why. */
#define EDIT_FAILS(doc, in_data, reason, ...) do { \
	const char *const pv_[] = { __VA_ARGS__, NULL }; \
	ck_assert_msg(edit((doc), (in_data), pv_) == -1, "edit of %s gave %s", (doc), R.out); \
	ck_assert_str_eq(R.why, (reason)); \
} while (0)

/* rv_json_object with path, json pairs; fills R. */
static int
object_cap(size_t cap, const char *const *pv)
{
	static struct tmem t[16];
	struct rv_json_member m[16];
	unsigned n = 0;
	char *out = malloc(cap + 1);

	ck_assert_ptr_nonnull(out);
	for (; pv[0] != NULL; pv += 2) {
		tmem_set(&t[n], &m[n], pv[0], pv[1]);
		n++;
	}
	R.len = 0;
	R.rc = rv_json_object(m, n, out, cap, &R.len);
	if (R.rc == 0) {
		memcpy(R.out, out, R.len);
		R.out[R.len] = '\0';
	}
	free(out);
	return R.rc;
}

#define OBJECT_IS(want, ...) do { \
	const char *const pv_[] = { __VA_ARGS__, NULL }; \
	ck_assert_int_eq(object_cap(OUTCAP, pv_), 0); \
	ck_assert_str_eq(R.out, (want)); \
	same_json(want); \
} while (0)

/* ---- rv_json_edit: replacing -------------------------------------------- */

START_TEST(test_replace_scalar)
{
	EDIT_IS("{\"priority\":\"low\",\"x\":1}", 0, "{\"priority\":\"high\",\"x\":1}",
		"priority", "\"high\"");
	EDIT_IS("{\"x\":1,\"n\":-12.5e3}", 0, "{\"x\":1,\"n\":7}", "n", "7");
	EDIT_IS("{\"t\":true,\"f\":false,\"z\":null}", 0, "{\"t\":null,\"f\":false,\"z\":[1]}",
		"t", "null", "z", "[1]");
	/* Blanks around the value are kept, only the value changes. */
	EDIT_IS("{ \"a\" :\t 1 ,\n \"b\" : 2 }\n", 0, "{ \"a\" :\t \"x\" ,\n \"b\" : 2 }\n",
		"a", "\"x\"");
}
END_TEST

START_TEST(test_replace_object_array)
{
	EDIT_IS("{\"a\":{\"b\":[1,{\"c\":\"}]\"}]},\"z\":[1,[2]]}", 0,
		"{\"a\":0,\"z\":[1,[2]]}", "a", "0");
	EDIT_IS("{\"a\":{\"b\":[1,{\"c\":\"}]\"}]},\"z\":[1,[2]]}", 0,
		"{\"a\":{\"b\":[1,{\"c\":\"}]\"}]},\"z\":{\"k\":[]}}", "z", "{\"k\":[]}");
	EDIT_IS("{\"a\":\"s\\\"}\",\"b\":1}", 0, "{\"a\":[],\"b\":1}", "a", "[]");
	/* Nested replace: customer.tier. */
	EDIT_IS("{\"customer\":{\"id\":\"c1\",\"tier\":\"free\"},\"tier\":\"x\"}", 0,
		"{\"customer\":{\"id\":\"c1\",\"tier\":\"gold\"},\"tier\":\"x\"}",
		"customer.tier", "\"gold\"");
}
END_TEST

START_TEST(test_escaped_keys)
{
	/* Keys are compared decoded. */
	EDIT_IS("{\"pri\\u006frity\":\"low\"}", 0, "{\"pri\\u006frity\":\"high\"}",
		"priority", "\"high\"");
	EDIT_IS("{\"a\\/b\":1}", 0, "{\"a\\/b\":2}", "a/b", "2");
	EDIT_IS("{\"caf\\u00e9\":1,\"caf\\u00E9x\":1}", 0, "{\"caf\\u00e9\":2,\"caf\\u00E9x\":1}",
		"caf\xc3\xa9", "2");
	EDIT_IS("{\"\\ud83d\\ude00\":1}", 0, "{\"\\ud83d\\ude00\":2}", "\xf0\x9f\x98\x80", "2");
	EDIT_IS("{\"\\u20ac\":{\"\\t\":1}}", 0, "{\"\\u20ac\":{\"\\t\":3}}", "\xe2\x82\xac.\t", "3");
	/* A prefix or an extension of the key does not match: appended. */
	EDIT_IS("{\"prio\":1,\"priorityx\":1}", 0, "{\"prio\":1,\"priorityx\":1,\"priority\":2}",
		"priority", "2");
	/* An appended key is quoted. */
	EDIT_IS("{}", 0, "{\"a\\\"b\\\\\\n\":1}", "a\"b\\\n", "1");
	EDIT_IS("{\"a\\\"b\":0}", 0, "{\"a\\\"b\":1}", "a\"b", "1");
}
END_TEST

START_TEST(test_duplicate_keys_first)
{
	EDIT_IS("{\"a\":1,\"a\":2}", 0, "{\"a\":3,\"a\":2}", "a", "3");
	EDIT_IS("{\"a\":{\"b\":1},\"a\":{\"b\":2}}", 0, "{\"a\":{\"b\":9},\"a\":{\"b\":2}}",
		"a.b", "9");
	EDIT_IS("{\"a\":{},\"a\":{\"b\":2}}", 0, "{\"a\":{\"b\":9},\"a\":{\"b\":2}}", "a.b", "9");
	/* The first "a" is a scalar: the later object is not looked at. */
	EDIT_FAILS("{\"a\":5,\"a\":{\"b\":1}}", 0, "path goes through a non-object value", "a.b", "1");
	/* Decoded duplicates count too. */
	EDIT_IS("{\"\\u0061\":1,\"a\":2}", 0, "{\"\\u0061\":3,\"a\":2}", "a", "3");
}
END_TEST

/* ---- rv_json_edit: adding ----------------------------------------------- */

START_TEST(test_add_top_level)
{
	EDIT_IS("{\"a\":1}", 0, "{\"a\":1,\"b\":2}", "b", "2");
	EDIT_IS("{ \"a\" : 1 }\n", 0, "{ \"a\" : 1,\"b\":2 }\n", "b", "2");
	EDIT_IS("{\n  \"a\": [1, 2]\n}", 0, "{\n  \"a\": [1, 2],\"b\":{\"c\":1}\n}", "b", "{\"c\":1}");
	EDIT_IS("{\"q\":0}", 0, "{\"q\":0,\"a\":{\"b\":{\"c\":1}}}", "a.b.c", "1");
}
END_TEST

START_TEST(test_add_nested)
{
	EDIT_IS("{\"a\":{\"x\":1}}", 0, "{\"a\":{\"x\":1,\"y\":{\"z\":1}}}", "a.y.z", "1");
	EDIT_IS("{\"customer\":{\"id\":\"c1\"}}", 0,
		"{\"customer\":{\"id\":\"c1\",\"tier\":\"gold\"}}", "customer.tier", "\"gold\"");
	EDIT_IS("{\"a\":{\"b\":{\"c\":{}}}}", 0, "{\"a\":{\"b\":{\"c\":{\"d\":true}}}}", "a.b.c.d",
		"true");
}
END_TEST

START_TEST(test_add_empty_objects)
{
	EDIT_IS("{}", 0, "{\"a\":1}", "a", "1");
	EDIT_IS("{ }", 0, "{ \"a\":1}", "a", "1");
	EDIT_IS("  {\n\t}  ", 0, "  {\n\t\"a\":1}  ", "a", "1");
	EDIT_IS("{\"o\":{ }}", 0, "{\"o\":{ \"k\":1}}", "o.k", "1");
	EDIT_IS("{\"o\":{}}", 0, "{\"o\":{\"k\":{\"j\":1}}}", "o.k.j", "1");
	EDIT_IS("{}", 0, "{\"a\":{\"b\":1}}", "a.b", "1");
}
END_TEST

START_TEST(test_cloudevents_data)
{
	EDIT_IS("{\"specversion\":\"1.0\",\"data\":{\"a\":1}}", 1,
		"{\"specversion\":\"1.0\",\"data\":{\"a\":2,\"b\":{\"c\":3}}}", "a", "2", "b.c", "3");
	/* Missing data is created (as the last top-level member). */
	EDIT_IS("{\"specversion\":\"1.0\",\"type\":\"t\"}", 1,
		"{\"specversion\":\"1.0\",\"type\":\"t\",\"data\":{\"a\":2}}", "a", "2");
	EDIT_IS("{}", 1, "{\"data\":{\"x\":{\"y\":1}}}", "x.y", "1");
	/* A top-level "a" is not data's. */
	EDIT_IS("{\"a\":0,\"data\":{}}", 1, "{\"a\":0,\"data\":{\"a\":1}}", "a", "1");
	/* "data" inside data is an ordinary key. */
	EDIT_IS("{\"data\":{\"data\":1}}", 1, "{\"data\":{\"data\":2}}", "data", "2");
	EDIT_FAILS("{\"data\":null}", 1, "\"data\" is not an object", "a", "1");
	EDIT_FAILS("{\"data\":[{}]}", 1, "\"data\" is not an object", "a", "1");
	EDIT_FAILS("{\"data\":\"{}\"}", 1, "\"data\" is not an object", "a", "1");
	/* Without in_data, "data" is just a path. */
	EDIT_IS("{\"data\":{}}", 0, "{\"data\":{},\"a\":1}", "a", "1");
}
END_TEST

START_TEST(test_refuse_through_non_object)
{
	static const char *const docs[] = {
		"{\"a\":[{\"b\":1}]}", "{\"a\":\"{}\"}", "{\"a\":1}", "{\"a\":null}", "{\"a\":true}",
		"{\"a\":[]}",
	};
	unsigned i;

	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		EDIT_FAILS(docs[i], 0, "path goes through a non-object value", "a.b", "1");
		EDIT_FAILS(docs[i], 0, "path goes through a non-object value", "a.b.c", "1");
	}
	EDIT_FAILS("{\"x\":{\"a\":[]}}", 0, "path goes through a non-object value", "x.a.b", "1");
}
END_TEST

START_TEST(test_several_members)
{
	EDIT_IS("{\"a\":0}", 0, "{\"a\":4,\"b\":{\"c\":2,\"d\":3}}", "a", "1", "b.c", "2", "b.d", "3",
		"a", "4");
	/* Keys created by earlier members are found by later ones. */
	EDIT_IS("{}", 0, "{\"x\":{\"a\":1,\"b\":3},\"y\":2}", "x.a", "1", "y", "2", "x.b", "3");
	/* Overlapping paths apply in sequence. */
	EDIT_FAILS("{\"a\":{\"b\":{}}}", 0, "path goes through a non-object value", "a.b", "1",
		"a.b.c", "2");
	EDIT_IS("{\"a\":{\"b\":1}}", 0, "{\"a\":{\"b\":{\"c\":2}}}", "a.b", "{}", "a.b.c", "2");
	EDIT_IS("{\"a\":{\"b\":1}}", 0, "{\"a\":{\"b\":{\"x\":0,\"c\":2}}}", "a.b", "{\"x\":0}",
		"a.b.c", "2");
	EDIT_IS("{\"a\":{\"b\":{}}}", 0, "{\"a\":{\"b\":5}}", "a.b.c", "2", "a.b", "5");
	EDIT_IS("{\"a\":{\"b\":1}}", 0, "{\"a\":{\"b\":5}}", "a.b", "[]", "a.b", "5");
	/* A failing member fails the call even if a later one would hide it. */
	EDIT_FAILS("{\"a\":[]}", 0, "path goes through a non-object value", "a.b", "1", "a", "2");
}
END_TEST

/* Runs one edit at cap = exact and exact - 1. */
static void
check_cap(const char *doc, int in_data, const char *const *pv)
{
	size_t need;
	char want[4096];

	ck_assert_int_eq(edit(doc, in_data, pv), 0);
	need = R.len;
	strcpy(want, R.out);
	ck_assert_int_eq(edit_cap(doc, in_data, need, pv), 0);
	ck_assert_uint_eq(R.len, need);
	ck_assert_str_eq(R.out, want);
	ck_assert_int_eq(edit_cap(doc, in_data, need - 1, pv), -1);
	ck_assert_str_eq(R.why, "output does not fit");
}

START_TEST(test_capacity)
{
	static const char *const rep[] = { "a", "\"longer value\"", NULL };
	static const char *const shr[] = { "a", "1", NULL };
	static const char *const add[] = { "b.c.d", "[1,2,3]", NULL };
	static const char *const esc[] = { "k\n\"", "1", NULL };
	static const char *const two[] = { "b", "1", "c", "22", NULL };
	static const char *const shrink2[] = { "a", "\"0123456789\"", "a", "1", NULL };

	check_cap("{\"a\":\"v\"}", 0, rep);
	check_cap("{\"a\":{},\"x\":1}", 0, add);
	check_cap("{ }", 0, add);
	check_cap("{\"x\":1}", 0, esc);
	check_cap("{\"x\":1}", 1, add);
	check_cap("{\"data\":{ }}", 1, two);
	/* Shrinking: the input itself must fit first. */
	ck_assert_int_eq(edit_cap("{\"a\":\"0123456789\"}", 0, 18, shr), 0);
	ck_assert_str_eq(R.out, "{\"a\":1}");
	ck_assert_int_eq(edit_cap("{\"a\":\"0123456789\"}", 0, 17, shr), -1);
	/* Documented: cap must hold the intermediate documents too. */
	ck_assert_int_eq(edit_cap("{\"a\":0}", 0, 18, shrink2), 0);
	ck_assert_str_eq(R.out, "{\"a\":1}");
	ck_assert_int_eq(edit_cap("{\"a\":0}", 0, 17, shrink2), -1);
	ck_assert_str_eq(R.why, "output does not fit");
	ck_assert_int_eq(edit_cap("{}", 0, 0, shr), -1);
}
END_TEST

START_TEST(test_malformed_input)
{
	static const char *const bad[] = {
		"", " ", "[1]", "\"x\"", "1", "null", "{", "{\"a\"", "{\"a\":", "{\"a\":1", "{\"a\":1,",
		"{\"a\" 1}", "{a:1}", "{\"a\":\"x", "{\"a\":{\"b\":[}", "{\"a\":}", "{\"a\":1 \"b\":2}",
		"{\"\\",
	};
	static const char *const pv[] = { "b", "1", NULL };
	static const char *const pv2[] = { "a.b", "1", NULL };
	unsigned i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(edit(bad[i], 0, pv) == -1, "%s accepted: %s", bad[i], R.out);
		edit(bad[i], 0, pv2);
		edit(bad[i], 1, pv);
	}
	/* The skipper does not validate: a bad escape in a key that is only
	 * skipped goes unnoticed (event.c refused such input before). */
	ck_assert_int_eq(edit("{\"a\\u12\":1}", 0, pv), 0);
	ck_assert_str_eq(R.out, "{\"a\\u12\":1,\"b\":1}");
	ck_assert_int_eq(edit("{\"a\\u12\":1}", 0, pv2), 0);
	ck_assert_int_eq(edit("{\"\\u12\":1}", 0, pv), 0);
	ck_assert_int_eq(edit("{\"\\ud800\\u\":1}", 0, pv), 0);
	ck_assert_int_eq(edit("{\"\\ud800\\u12\":1}", 0, pv), 0);
	ck_assert_int_eq(edit("[1]", 0, pv), -1);
	ck_assert_str_eq(R.why, "not a JSON object");
	ck_assert_int_eq(edit("{\"a\":1", 0, pv), -1);
	ck_assert_str_eq(R.why, "malformed JSON");
	/* Trailing bytes and a BOM are kept. */
	{
		static const char *const pv3[] = { "a", "2", NULL };

		/* jansson does not take a BOM: compare the bytes. */
		ck_assert_int_eq(edit("\xef\xbb\xbf{\"a\":1}", 0, pv3), 0);
		ck_assert_str_eq(R.out, "\xef\xbb\xbf{\"a\":2}");

		ck_assert_int_eq(edit("{\"a\":1}\n\n", 0, pv3), 0);
		ck_assert_str_eq(R.out, "{\"a\":2}\n\n");
	}
}
END_TEST

START_TEST(test_bad_members)
{
	struct rv_json_member m;
	const char *seg = "a", *why = NULL;
	size_t sl = 1, olen = 0;
	char out[64];

	m.segs = &seg;
	m.seglens = &sl;
	m.nseg = 0;
	m.json = "1";
	m.len = 1;
	ck_assert_int_eq(rv_json_edit("{}", 2, 0, &m, 1, out, sizeof out, &olen, &why), -1);
	ck_assert_str_eq(why, "empty path");
	m.nseg = 1;
	m.len = 0;
	ck_assert_int_eq(rv_json_edit("{}", 2, 0, &m, 1, out, sizeof out, &olen, &why), -1);
	ck_assert_str_eq(why, "empty value");
	/* No members: a copy; why may be NULL. */
	ck_assert_int_eq(rv_json_edit("{ }", 3, 0, &m, 0, out, sizeof out, &olen, NULL), 0);
	ck_assert_uint_eq(olen, 3);
	ck_assert_int_eq(memcmp(out, "{ }", 3), 0);
}
END_TEST

START_TEST(test_in_place)
{
	struct rv_json_member m;
	const char *seg = "b";
	size_t sl = 1, olen = 0;
	char buf[64] = "{\"a\":1}";

	m.segs = &seg;
	m.seglens = &sl;
	m.nseg = 1;
	m.json = "[true]";
	m.len = 6;
	ck_assert_int_eq(rv_json_edit(buf, 7, 0, &m, 1, buf, sizeof buf, &olen, NULL), 0);
	ck_assert_uint_eq(olen, 18);
	ck_assert_int_eq(memcmp(buf, "{\"a\":1,\"b\":[true]}", 18), 0);
}
END_TEST

/* Deep nesting is skipped without recursion. */
START_TEST(test_deep_nesting)
{
	enum { DEPTH = 200000 };
	size_t n = 0, i;
	char *doc = malloc(2 * DEPTH + 64);
	char *out = malloc(2 * DEPTH + 128);
	struct tmem t[2];
	struct rv_json_member m[2];
	size_t olen = 0;
	const char *why = NULL;

	ck_assert_ptr_nonnull(doc);
	ck_assert_ptr_nonnull(out);
	n = (size_t)sprintf(doc, "{\"deep\":");
	for (i = 0; i < DEPTH; i++)
		doc[n++] = '[';
	for (i = 0; i < DEPTH; i++)
		doc[n++] = ']';
	n += (size_t)sprintf(doc + n, ",\"z\":1}");
	tmem_set(&t[0], &m[0], "z", "2");
	tmem_set(&t[1], &m[1], "w", "3");
	ck_assert_int_eq(rv_json_edit(doc, n, 0, m, 2, out, 2 * DEPTH + 128, &olen, &why), 0);
	ck_assert_uint_eq(olen, n + 6);
	ck_assert_int_eq(memcmp(out + olen - 14, "],\"z\":2,\"w\":3}", 14), 0);
	/* Unclosed: refused, not overread. */
	ck_assert_int_eq(rv_json_edit(doc, DEPTH, 0, m, 2, out, 2 * DEPTH + 128, &olen, &why), -1);
	free(doc);
	free(out);
}
END_TEST

/* ---- rv_json_object ----------------------------------------------------- */

START_TEST(test_object_nesting_order)
{
	OBJECT_IS("{\"a\":1,\"b\":{\"c\":2,\"d\":3}}", "a", "1", "b.c", "2", "b.d", "3");
	OBJECT_IS("{\"b\":{\"c\":2,\"x\":{\"y\":0}},\"a\":1}", "b.c", "2", "a", "1", "b.x.y", "0");
	OBJECT_IS("{\"a\":3,\"b\":2}", "a", "1", "b", "2", "a", "3");
	OBJECT_IS("{\"a\":5}", "a.b", "1", "a", "5");
	OBJECT_IS("{\"k\\\"\\u0001\":\"v\"}", "k\"\x01", "\"v\"");
	OBJECT_IS("{}", NULL, NULL);
	{
		static const char *const conflict[] = { "a", "1", "a.b", "2", NULL };
		static const char *const pv[] = { "a", "1", "b.c", "[]", NULL };

		ck_assert_int_eq(object_cap(OUTCAP, conflict), -1);
		ck_assert_int_eq(object_cap(20, pv), 0);
		ck_assert_str_eq(R.out, "{\"a\":1,\"b\":{\"c\":[]}}");
		ck_assert_int_eq(object_cap(19, pv), -1);
		ck_assert_int_eq(object_cap(1, pv), -1);
	}
}
END_TEST

/* ---- rv_json_quote ------------------------------------------------------ */

/* Quotes s[0..len) and compares with want; checks the exact and short cap. */
static void
quote_is(const char *s, size_t len, const char *want)
{
	char out[256];
	size_t n = rv_json_quote(s, len, out, sizeof out);
	json_t *j;
	json_error_t err;

	ck_assert_uint_eq(n, strlen(want));
	ck_assert_int_eq(memcmp(out, want, n), 0);
	ck_assert_uint_eq(rv_json_quote(s, len, out, n), n);
	ck_assert_uint_eq(rv_json_quote(s, len, out, n - 1), 0);
	j = json_loadb(out, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	ck_assert_msg(j != NULL && json_is_string(j), "jansson: %s", err.text);
	ck_assert_uint_eq(json_string_length(j), len);
	ck_assert_int_eq(memcmp(json_string_value(j), s, len), 0);
	json_decref(j);
}

START_TEST(test_quote)
{
	quote_is("", 0, "\"\"");
	quote_is("abc", 3, "\"abc\"");
	quote_is("a\"b\\c/", 6, "\"a\\\"b\\\\c/\"");
	quote_is("\n\t\r\b\f", 5, "\"\\n\\t\\r\\b\\f\"");
	quote_is("\x01\x1f\x0b", 3, "\"\\u0001\\u001f\\u000b\"");
	quote_is("a\0b", 3, "\"a\\u0000b\"");
	quote_is("\x7f", 1, "\"\x7f\"");
	quote_is("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
		"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	ck_assert_uint_eq(rv_json_quote("", 0, NULL, 0), 0);
}
END_TEST

/* ---- rv_json_double ----------------------------------------------------- */

/* Formats d and compares with want; the text must read back as d. */
static void
double_is(double d, const char *want)
{
	char out[64];
	size_t n = rv_json_double(d, out, sizeof out);
	json_t *j;
	json_error_t err;

	out[n] = '\0';
	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(rv_json_double(d, out, n), n);
	ck_assert_uint_eq(rv_json_double(d, out, n - 1), 0);
	out[n] = '\0';
	j = json_loadb(out, n, JSON_DECODE_ANY, &err);
	ck_assert_msg(j != NULL && (json_is_number(j) || json_is_null(j)), "jansson refuses %s", out);
	json_decref(j);
	if (!isnan(d) && !isinf(d))
		ck_assert(strtod(out, NULL) == d || (d == 0 && strtod(out, NULL) == 0));
}

START_TEST(test_double)
{
	double third = 1.0 / 3.0;

	double_is(0.0, "0");
	double_is(-0.0, "0"); /* documented: the sign of zero is not kept */
	double_is(100, "100");
	double_is(-3, "-3");
	double_is(9007199254740991.0, "9007199254740991");
	double_is(-9007199254740991.0, "-9007199254740991");
	double_is(9007199254740992.0, "9007199254740992");
	double_is(-9223372036854775808.0, "-9.223372036854776e+18");
	double_is(1e21, "1e+21");
	double_is(0.1, "0.1");
	double_is(third, "0.3333333333333333");
	double_is(1.5, "1.5");
	double_is(-2.5e-7, "-2.5e-07");
	double_is(0.1 + 0.2, "0.30000000000000004");
	double_is(5e-324, "4.94065645841247e-324"); /* %.15g reads back */
	double_is(DBL_MAX, "1.7976931348623157e+308");
	double_is(NAN, "null");
	double_is(INFINITY, "null");
	double_is(-INFINITY, "null");
}
END_TEST

/* ---- randomized --------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned
rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

/* Keys: few, so that paths often meet existing members; some need escapes. */
static const char *const keys[] = {
	"a", "b", "c", "data", "caf\xc3\xa9", "q\"", "s/", "t\n", "\xf0\x9f\x98\x80", "\\",
};
#define NKEYS (sizeof keys / sizeof keys[0])

static json_t *
rnd_value(int depth)
{
	unsigned k = rnd(depth > 0 ? 9 : 6), i, n;
	json_t *v;

	switch (k) {
	case 0: return json_integer((json_int_t)rnd(2000) - 1000);
	case 1: return json_real((double)rnd(100000) / 64.0 - 7.0);
	case 2: return json_string(keys[rnd(NKEYS)]);
	case 3: return json_true();
	case 4: return json_false();
	case 5: return json_null();
	case 6:
		v = json_array();
		n = rnd(4);
		for (i = 0; i < n; i++)
			json_array_append_new(v, rnd_value(depth - 1));
		return v;
	default:
		v = json_object();
		n = rnd(5);
		for (i = 0; i < n; i++)
			json_object_set_new(v, keys[rnd(NKEYS)], rnd_value(depth - 1));
		return v;
	}
}

/*
 * The expectation: sets path segs[0..nseg) of root to a copy of val as
 * rv_json_edit does. Returns 0, or -1 where the edit must be refused.
 */
static int
jansson_set(json_t *root, const char *const *segs, unsigned nseg, json_t *val)
{
	json_t *cur = root, *next;
	unsigned i;

	for (i = 0; i + 1 < nseg; i++) {
		next = json_object_get(cur, segs[i]);
		if (next == NULL) {
			next = json_object();
			json_object_set_new(cur, segs[i], next);
		} else if (!json_is_object(next)) {
			return -1;
		}
		cur = next;
	}
	json_object_set_new(cur, segs[nseg - 1], json_deep_copy(val));
	return 0;
}

START_TEST(test_random_edits)
{
	static char doc[OUTCAP], out[OUTCAP];
	static const size_t flags[] = {
		JSON_COMPACT, 0, JSON_INDENT(2), JSON_COMPACT | JSON_ENSURE_ASCII,
		JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH, JSON_ESCAPE_SLASH,
	};
	unsigned iter, ok = 0, refused = 0;

	for (iter = 0; iter < 3000; iter++) {
		json_t *root = json_object(), *want, *got, *vals[4], *dataobj;
		const char *segs[4][4];
		size_t lens[4][4];
		char *texts[4];
		struct rv_json_member m[4];
		unsigned n = 1 + rnd(4), i, j, nk = rnd(6);
		int in_data = rnd(4) == 0, fail = 0, rc, is_obj = rnd(5) == 0;
		size_t dlen, olen = 0, f = flags[rnd(sizeof flags / sizeof flags[0])];
		const char *why = NULL;
		char *text;

		for (i = 0; i < nk; i++)
			json_object_set_new(root, keys[rnd(NKEYS)], rnd_value(3));
		if (in_data && rnd(3) != 0)
			json_object_set_new(root, "data", rnd(4) ? rnd_value(0) : json_object());
		if (is_obj) {
			json_decref(root);
			root = json_object();
			in_data = 0;
		}
		text = json_dumps(root, f);
		ck_assert_ptr_nonnull(text);
		dlen = strlen(text);
		ck_assert_uint_lt(dlen, sizeof doc);
		memcpy(doc, text, dlen);
		free(text);

		want = json_deep_copy(root);
		dataobj = want;
		if (in_data) {
			dataobj = json_object_get(want, "data");
			if (dataobj == NULL) {
				dataobj = json_object();
				json_object_set_new(want, "data", dataobj);
			} else if (!json_is_object(dataobj)) {
				fail = 1;
			}
		}
		for (i = 0; i < n; i++) {
			unsigned ns = 1 + rnd(3);

			vals[i] = rnd_value(2);
			texts[i] = json_dumps(vals[i], JSON_COMPACT | JSON_ENCODE_ANY
				| (rnd(2) ? JSON_ENSURE_ASCII : 0));
			for (j = 0; j < ns; j++) {
				segs[i][j] = keys[rnd(NKEYS)];
				lens[i][j] = strlen(segs[i][j]);
			}
			m[i].segs = segs[i];
			m[i].seglens = lens[i];
			m[i].nseg = ns;
			m[i].json = texts[i];
			m[i].len = strlen(texts[i]);
			if (!fail && jansson_set(dataobj, segs[i], ns, vals[i]) < 0)
				fail = 1;
		}
		if (is_obj)
			rc = rv_json_object(m, n, out, sizeof out, &olen);
		else
			rc = rv_json_edit(doc, dlen, in_data, m, n, out, sizeof out, &olen, &why);
		if (fail) {
			ck_assert_msg(rc == -1, "iteration %u: %.*s accepted: %.*s", iter, (int)dlen, doc,
				(int)olen, out);
			refused++;
		} else {
			ck_assert_msg(rc == 0, "iteration %u: %.*s refused: %s", iter, (int)dlen, doc,
				why ? why : "");
			got = parse(out, olen);
			if (!json_equal(got, want)) {
				char *w = json_dumps(want, JSON_COMPACT);

				ck_abort_msg("iteration %u: %.*s gave %.*s, want %s", iter, (int)dlen, doc,
					(int)olen, out, w);
			}
			/* One byte short never fits. */
			if (is_obj)
				rc = rv_json_object(m, n, out, olen - 1, &olen);
			else
				rc = rv_json_edit(doc, dlen, in_data, m, n, out, olen - 1, &olen, &why);
			ck_assert_int_eq(rc, -1);
			json_decref(got);
			ok++;
		}
		for (i = 0; i < n; i++) {
			json_decref(vals[i]);
			free(texts[i]);
		}
		json_decref(want);
		json_decref(root);
	}
	/* The generator must exercise both outcomes. */
	ck_assert_uint_gt(ok, 1000);
	ck_assert_uint_gt(refused, 100);
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

static Suite *
json_out_suite(void)
{
	Suite *s = suite_create("json_out");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_replace_scalar);
	tcase_add_test(tc, test_replace_object_array);
	tcase_add_test(tc, test_escaped_keys);
	tcase_add_test(tc, test_duplicate_keys_first);
	tcase_add_test(tc, test_add_top_level);
	tcase_add_test(tc, test_add_nested);
	tcase_add_test(tc, test_add_empty_objects);
	tcase_add_test(tc, test_cloudevents_data);
	tcase_add_test(tc, test_refuse_through_non_object);
	tcase_add_test(tc, test_several_members);
	tcase_add_test(tc, test_capacity);
	tcase_add_test(tc, test_malformed_input);
	tcase_add_test(tc, test_bad_members);
	tcase_add_test(tc, test_in_place);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_object_nesting_order);
	tcase_add_test(tc, test_quote);
	tcase_add_test(tc, test_double);
	tcase_add_test(tc, test_random_edits);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(json_out_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
