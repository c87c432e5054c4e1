/*
 * check_lexer.c -- unit tests for the Route scanner (lang/lexer.l), seen
 * through the parser: tiny programs are parsed and the literal values in the
 * tree (decoded strings, numbers, durations in ms, rates per second, IP
 * networks) and the diagnostic IDs and columns are checked.
 *
 * Most tests parse "rule r on e when x == LIT route d": the literal starts at
 * column 23 (LITCOL).
 */
#include "config.h"
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define LITCOL 23

/* The value of a literal that must scan without any diagnostic. */
static struct rl_value
lit_ok(struct tu_parse *t, const char *lit, enum rl_vkind kind)
{
	struct rl_node *n = tu_parse_lit(t, lit);

	ck_assert_msg(t->diag.nerrors == 0, "'%s' gave errors:\n%s", lit, t->diags);
	ck_assert_ptr_nonnull(n);
	ck_assert_msg(n->v->kind == kind, "'%s': kind %d, expected %d", lit, (int)n->v->kind, (int)kind);
	return *n->v;
}

/* Asserts that parsing lit reported id (at least once) at column col (0: any). */
static void
lit_bad(const char *lit, enum rl_diag_id id, unsigned col)
{
	struct tu_parse t;
	char where[64];

	tu_parse_lit(&t, lit);
	ck_assert_msg(t.diag.counts[id] > 0, "'%s': expected %s, got:\n%s", lit, rl_diag_name(id), t.diags);
	if (col) {
		snprintf(where, sizeof where, TU_NAME ":1:%u: error:", col);
		ck_assert_msg(strstr(t.diags, where) != NULL, "'%s': expected %s at column %u:\n%s",
			lit, rl_diag_name(id), col, t.diags);
	}
	tu_parse_free(&t);
}

static void
str_is(const struct rl_value *v, const char *bytes, size_t len)
{
	ck_assert_uint_eq(v->len, len);
	ck_assert_msg(memcmp(v->str, bytes, len) == 0, "decoded bytes differ");
	ck_assert_int_eq(v->str[len], '\0');
}

/* ---- strings ---------------------------------------------------------- */

START_TEST(test_string_json_escapes)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\"", RL_V_STR);

	str_is(&v, "a\"b\\c/d\n\t\r\b\f", 12);
	ck_assert_int_eq(v.raw, 0);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_unicode_escape_bmp)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "\"\\u00e9\\u20AC\\u0041\"", RL_V_STR);

	str_is(&v, "\xc3\xa9\xe2\x82\xac" "A", 6);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_surrogate_pair_decoded)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "\"x\\ud83d\\ude80y\"", RL_V_STR);

	str_is(&v, "x\xf0\x9f\x9a\x80y", 6);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_max_code_point)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "\"\\udbff\\udfff\"", RL_V_STR);

	str_is(&v, "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF */
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_nul_escape_kept)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "\"a\\u0000b\"", RL_V_STR);

	str_is(&v, "a\0b", 3);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_utf8_passthrough)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "\"K\xc3\xb6ln \xf0\x9f\x9a\x80\"", RL_V_STR);

	str_is(&v, "K\xc3\xb6ln \xf0\x9f\x9a\x80", 10);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_lone_high_surrogate)
{
	lit_bad("\"ab\\ud83dx\"", RL_E_BAD_UNICODE, LITCOL + 3);
}
END_TEST

START_TEST(test_string_high_surrogate_then_non_low)
{
	lit_bad("\"\\ud83d\\u0041\"", RL_E_BAD_UNICODE, LITCOL + 1);
}
END_TEST

START_TEST(test_string_lone_low_surrogate)
{
	lit_bad("\"\\ude80\"", RL_E_BAD_UNICODE, LITCOL + 1);
}
END_TEST

START_TEST(test_string_short_unicode_escape)
{
	lit_bad("\"abc\\u12\"", RL_E_BAD_UNICODE, LITCOL + 4);
	lit_bad("\"\\uzzzz\"", RL_E_BAD_UNICODE, LITCOL + 1);
}
END_TEST

START_TEST(test_string_bad_escape)
{
	struct tu_parse t;

	lit_bad("\"a\\qb\"", RL_E_BAD_ESCAPE, LITCOL + 2);
	lit_bad("\"\\x41\"", RL_E_BAD_ESCAPE, LITCOL + 1);
	/* the token is still produced: no syntax error follows */
	tu_parse_lit(&t, "\"a\\qb\"");
	ck_assert_uint_eq(t.diag.counts[RL_E_SYNTAX], 0);
	ck_assert_uint_eq(t.diag.nerrors, 1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_bad_utf8_byte)
{
	lit_bad("\"ab\xff" "c\"", RL_E_BAD_UTF8, LITCOL + 3);
}
END_TEST

START_TEST(test_string_overlong_utf8)
{
	lit_bad("\"\xc0\xaf\"", RL_E_BAD_UTF8, LITCOL + 1);
	lit_bad("\"\xe0\x80\xaf\"", RL_E_BAD_UTF8, LITCOL + 1);
}
END_TEST

START_TEST(test_string_utf8_surrogate_and_beyond)
{
	lit_bad("\"\xed\xa0\x80\"", RL_E_BAD_UTF8, LITCOL + 1);     /* U+D800 */
	lit_bad("\"\xf4\x90\x80\x80\"", RL_E_BAD_UTF8, LITCOL + 1); /* U+110000 */
	lit_bad("\"a\xc3\"", RL_E_BAD_UTF8, LITCOL + 2);            /* truncated */
}
END_TEST

START_TEST(test_string_raw_control_char)
{
	lit_bad("\"a\tb\"", RL_E_CTRL_IN_STR, LITCOL + 2);
	lit_bad("\"a\x01\"", RL_E_CTRL_IN_STR, LITCOL + 2);
}
END_TEST

START_TEST(test_string_unterminated)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e when x == \"abc\nroute d");
	ck_assert_msg(t.diag.counts[RL_E_UNTERMINATED_STR] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":1:23: error: unterminated string"));
	/* the scanner goes on with the next line: the rule is still complete */
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_ROUTE), 1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_unterminated_at_eof)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e when x == \"abc\\");
	ck_assert_msg(t.diag.counts[RL_E_UNTERMINATED_STR] == 1, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_string_hash_is_not_comment)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "\"a#b\"", RL_V_STR);

	str_is(&v, "a#b", 3);
	tu_parse_free(&t);
}
END_TEST

/* ---- raw strings ----------------------------------------------------------- */

START_TEST(test_raw_string_keeps_backslashes)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "r\"^\\d{3}-\\w+\\u0041$\"", RL_V_STR);

	str_is(&v, "^\\d{3}-\\w+\\u0041$", 17);
	ck_assert_int_eq(v.raw, 1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_raw_string_trailing_backslash)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "r\"a\\\"", RL_V_STR);

	str_is(&v, "a\\", 2);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_raw_string_control_char)
{
	lit_bad("r\"a\tb\"", RL_E_CTRL_IN_STR, LITCOL + 3);
}
END_TEST

START_TEST(test_raw_string_unterminated)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e when x == r\"abc\nroute d");
	ck_assert_msg(t.diag.counts[RL_E_UNTERMINATED_STR] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":1:23:"));
	tu_parse_free(&t);
}
END_TEST

/* ---- numbers ------------------------------------------------------------- */

START_TEST(test_numbers)
{
	static const struct { const char *src; double v; } cases[] = {
		{ "0", 0 }, { "1e2", 100 }, { "100.0", 100 }, { "0.5", 0.5 }, { "1.25e-1", 0.125 },
		{ "2E+3", 2000 }, { "123456789", 123456789 }, { "1e308", 1e308 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tu_parse t;
		struct rl_value v = lit_ok(&t, cases[i].src, RL_V_NUM);

		ck_assert_msg(v.num == cases[i].v, "%s -> %.17g", cases[i].src, v.num);
		tu_parse_free(&t);
	}
}
END_TEST

START_TEST(test_number_leading_zero_rejected)
{
	lit_bad("007", RL_E_BAD_NUMBER, LITCOL);
	lit_bad("00", RL_E_BAD_NUMBER, LITCOL);
	lit_bad("01.5", RL_E_BAD_NUMBER, LITCOL);
}
END_TEST

START_TEST(test_number_too_large)
{
	lit_bad("1e999", RL_E_BAD_NUMBER, LITCOL);
}
END_TEST

START_TEST(test_number_leading_point_is_syntax_error)
{
	struct tu_parse t;

	tu_parse_lit(&t, ".5");
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] >= 1, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

/* ---- durations and rates ------------------------------------------------ */

/* Durations appear in 'within': "rule r on e within D route d". */
static uint64_t
duration_ms(const char *d, struct tu_parse *t)
{
	char buf[128];
	struct rl_node *n;

	snprintf(buf, sizeof buf, "rule r on e within %s route d", d);
	tu_parse(t, buf);
	n = tu_find(t, RL_N_LIT, 0);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->v->kind, RL_V_DURATION);
	return n->v->ms;
}

START_TEST(test_durations_to_ms)
{
	static const struct { const char *src; uint64_t ms; } cases[] = {
		{ "500ms", 500 }, { "10s", 10000 }, { "5m", 300000 }, { "1h", 3600000 },
		{ "1d", 86400000 }, { "1.5h", 5400000 }, { "0.5s", 500 }, { "90d", 7776000000ull },
		{ "0ms", 0 }, { "1e3ms", 1000 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tu_parse t;
		uint64_t ms = duration_ms(cases[i].src, &t);

		ck_assert_msg(t.diag.nerrors == 0, "%s: %s", cases[i].src, t.diags);
		ck_assert_msg(ms == cases[i].ms, "%s -> %llu", cases[i].src, (unsigned long long)ms);
		tu_parse_free(&t);
	}
}
END_TEST

START_TEST(test_duration_fraction_of_ms_rejected)
{
	struct tu_parse t;

	duration_ms("0.5ms", &t);
	ck_assert_msg(t.diag.counts[RL_E_BAD_DURATION] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, "not a whole number of milliseconds"));
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":1:20:"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_duration_too_long_rejected)
{
	struct tu_parse t;

	duration_ms("20000000d", &t); /* 1.7e15 ms */
	ck_assert_msg(t.diag.counts[RL_E_BAD_DURATION] == 1, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_duration_unit_longest_match)
{
	struct tu_parse t;

	/* "10sec" is one token, a number with an unknown unit: one clear error */
	tu_parse(&t, "rule r on e within 10sec route d");
	ck_assert_msg(t.diag.counts[RL_E_BAD_DURATION] == 1, "%s", t.diags);
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] == 0, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, "invalid duration '10sec': unknown unit"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_rates_per_second)
{
	static const struct { const char *src; double per_s; } cases[] = {
		{ "1000/s", 1000 }, { "60/m", 1 }, { "7200/h", 2 }, { "86400/d", 1 }, { "0.5/s", 0.5 },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tu_parse t;
		struct rl_value v = lit_ok(&t, cases[i].src, RL_V_RATE);

		ck_assert_msg(fabs(v.num - cases[i].per_s) < 1e-12, "%s -> %.17g", cases[i].src, v.num);
		tu_parse_free(&t);
	}
}
END_TEST

START_TEST(test_rate_zero_rejected)
{
	lit_bad("0/s", RL_E_BAD_RATE, LITCOL);
}
END_TEST

START_TEST(test_division_with_spaces_is_not_a_rate)
{
	struct tu_parse t;
	struct rl_node *n;

	tu_parse(&t, "rule r on e when x == 1000 / s route d");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	n = tu_find(&t, RL_N_ARITH, 0);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->op, '/');
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_LIT), 1);
	tu_parse_free(&t);
}
END_TEST

/* ---- IP addresses and networks ------------------------------------------ */

START_TEST(test_ipv4_network)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "10.1.0.0/16", RL_V_CIDR);
	static const uint8_t want[4] = { 10, 1, 0, 0 };

	ck_assert_int_eq(v.family, 4);
	ck_assert_uint_eq(v.prefix, 16);
	ck_assert_mem_eq(v.addr, want, 4);
	ck_assert_str_eq(v.str, "10.1.0.0/16");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_ipv4_host_is_slash_32)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "192.168.1.7", RL_V_CIDR);
	static const uint8_t want[4] = { 192, 168, 1, 7 };

	ck_assert_int_eq(v.family, 4);
	ck_assert_uint_eq(v.prefix, 32);
	ck_assert_mem_eq(v.addr, want, 4);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_ipv6_network)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "2001:db8::/32", RL_V_CIDR);
	static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	ck_assert_int_eq(v.family, 6);
	ck_assert_uint_eq(v.prefix, 32);
	ck_assert_mem_eq(v.addr, want, 16);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_ipv6_loopback_and_mapped)
{
	struct tu_parse t;
	struct rl_value v = lit_ok(&t, "::1", RL_V_CIDR);
	static const uint8_t one[16] = { [15] = 1 };
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, [12] = 0x0a, [15] = 1 };

	ck_assert_int_eq(v.family, 6);
	ck_assert_uint_eq(v.prefix, 128);
	ck_assert_mem_eq(v.addr, one, 16);
	tu_parse_free(&t);
	v = lit_ok(&t, "::ffff:a00:1", RL_V_CIDR);
	ck_assert_mem_eq(v.addr, mapped, 16);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_ip_in_list)
{
	struct tu_parse t;
	struct rl_node *in;

	tu_parse(&t, "rule r on e when ip in [10.0.0.0/8, fe80::/10] route d");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	in = tu_find(&t, RL_N_IN, 0);
	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(rl_list_len(in->b->a), 2);
	ck_assert_int_eq(in->b->a->v->family, 4);
	ck_assert_uint_eq(in->b->a->v->prefix, 8);
	ck_assert_int_eq(in->b->a->next->v->family, 6);
	ck_assert_uint_eq(in->b->a->next->v->prefix, 10);
	ck_assert_uint_eq(in->b->a->next->v->addr[0], 0xfe);
	ck_assert_uint_eq(in->b->a->next->v->addr[1], 0x80);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_bad_ip_addresses)
{
	lit_bad("10.0.0.256", RL_E_BAD_IP, LITCOL);
	lit_bad("10.0.0.0/33", RL_E_BAD_IP, LITCOL);
	lit_bad("::/129", RL_E_BAD_IP, LITCOL);
	lit_bad("1::2::3", RL_E_BAD_IP, LITCOL);
}
END_TEST

/* ---- names, attributes, versions, comments ---------------------------------- */

START_TEST(test_backtick_name)
{
	struct tu_parse t;
	struct rl_node *p;

	tu_parse(&t, "rule r on e when `user-agent` icontains \"bot\" and `in` == true route d");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	p = tu_find(&t, RL_N_PATH, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->a->name, "user-agent");
	ck_assert_int_eq(p->flag, 0);
	p = tu_find(&t, RL_N_PATH, 1);
	ck_assert_str_eq(p->a->name, "in");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_backtick_at_is_payload_field)
{
	struct tu_parse t;
	struct rl_node *p;

	tu_parse(&t, "rule r on e when `@type` == \"a\" route d");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	p = tu_find(&t, RL_N_PATH, 0);
	ck_assert_int_eq(p->flag, 0);
	ck_assert_str_eq(p->a->name, "@type");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_backtick_unterminated)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e when `abc == 1\nroute d");
	ck_assert_msg(t.diag.counts[RL_E_UNTERMINATED_NAME] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":1:18:"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_attribute_path)
{
	struct tu_parse t;
	struct rl_node *p;

	tu_parse(&t, "rule r on e when @source == \"a\" route d");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	p = tu_find(&t, RL_N_PATH, 0);
	ck_assert_int_eq(p->flag, 1);
	ck_assert_str_eq(p->a->name, "source");
	ck_assert_ptr_nonnull(strstr(t.ast, "(path flag=1"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_versions)
{
	struct tu_parse t;
	struct rl_node *p;

	tu_parse(&t, "event a.b v12 { x: number } rule r on a.b v3 route d");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	p = tu_find(&t, RL_N_EVENT, 0);
	ck_assert_uint_eq(p->num, 12);
	p = tu_find(&t, RL_N_RULE, 0);
	ck_assert_uint_eq(p->a->num, 3);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_bad_versions)
{
	struct tu_parse t;

	tu_parse(&t, "event a v0 { x: number }\nevent b v1000001 { x: number }");
	ck_assert_msg(t.diag.counts[RL_E_BAD_VERSION] == 2, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":1:9:"));
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":2:9:"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_comments_ignored)
{
	struct tu_parse t;

	tu_parse(&t, "# leading comment with \xff bad bytes and \"quotes\n"
		"rule r on e # trailing \x01 control\n"
		"  when x == 1 #\n"
		"  route d #");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_RULE), 1);
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_ROUTE), 1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_literals_true_false_null)
{
	struct tu_parse t;
	struct rl_value v;

	v = lit_ok(&t, "true", RL_V_BOOL);
	ck_assert_int_eq(v.b, 1);
	tu_parse_free(&t);
	v = lit_ok(&t, "false", RL_V_BOOL);
	ck_assert_int_eq(v.b, 0);
	tu_parse_free(&t);
	lit_ok(&t, "null", RL_V_NULL);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_keywords_case_sensitive)
{
	struct tu_parse t;
	struct rl_node *p;

	/* "True" and "AND" are identifiers */
	tu_parse(&t, "rule r on e when x == True route d");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	p = tu_find(&t, RL_N_PATH, 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->a->name, "True");
	tu_parse_free(&t);
	tu_parse(&t, "rule r on e when x == 1 AND y == 2 route d");
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] >= 1, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

/* ---- characters outside tokens ------------------------------------------- */

START_TEST(test_non_ascii_outside_string)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e when x == 1 \xc3\xa9 route d");
	ck_assert_msg(t.diag.counts[RL_E_NON_ASCII_NAME] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":1:25: error: name '\xc3\xa9' is not ASCII"));
	tu_parse_free(&t);
	/* a non-ASCII word is one error, not one per byte run plus a syntax error */
	tu_parse(&t, "event e v1 { x: number }\nrule r on e when gr\xc3\xb6\xc3\x9f" "e > 1 route d");
	ck_assert_msg(t.diag.counts[RL_E_NON_ASCII_NAME] == 1, "%s", t.diags);
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] == 0, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_bom_skipped)
{
	struct tu_parse t;

	/* a UTF-8 byte-order mark is skipped; columns after it stay right */
	tu_parse(&t, "\xef\xbb\xbfrule r on e route d\nrule s on e route @");
	ck_assert_msg(t.diag.counts[RL_E_BAD_CHAR] == 0 || strstr(t.diags, TU_NAME ":2:") != NULL, "%s", t.diags);
	ck_assert_msg(strstr(t.diags, TU_NAME ":1:") == NULL, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_control_char_outside_string)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e\n when x\x01 == 1 route d");
	ck_assert_msg(t.diag.counts[RL_E_BAD_CHAR] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":2:8: error: unexpected character '\\x01'"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_stray_punctuation)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e when x == $1 route d");
	ck_assert_msg(t.diag.counts[RL_E_BAD_CHAR] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, "unexpected character '$'"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_columns_after_tabs_and_crlf)
{
	struct tu_parse t;

	/* columns count bytes; \r\n ends a line */
	tu_parse(&t, "rule r on e\r\n\twhen x == \"a\\qb\" route d");
	ck_assert_msg(t.diag.counts[RL_E_BAD_ESCAPE] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":2:14:"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_range_tokens)
{
	struct tu_parse t;
	struct rl_node *r;

	tu_parse(&t, "rule r on e when x in 1..5 route d");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	r = tu_find(&t, RL_N_RANGE, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_double_eq(r->b->v->num, 1);
	ck_assert_double_eq(r->c->v->num, 5);
	ck_assert_int_eq(r->flag, 0);
	tu_parse_free(&t);
	tu_parse(&t, "rule r on e when x in 0.5..<2.5 route d");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	r = tu_find(&t, RL_N_RANGE, 0);
	ck_assert_double_eq(r->b->v->num, 0.5);
	ck_assert_double_eq(r->c->v->num, 2.5);
	ck_assert_int_eq(r->flag, 1);
	tu_parse_free(&t);
}
END_TEST

static Suite *
lexer_suite(void)
{
	Suite *s = suite_create("lexer");
	TCase *tc = tcase_create("strings");

	tcase_add_test(tc, test_string_json_escapes);
	tcase_add_test(tc, test_string_unicode_escape_bmp);
	tcase_add_test(tc, test_string_surrogate_pair_decoded);
	tcase_add_test(tc, test_string_max_code_point);
	tcase_add_test(tc, test_string_nul_escape_kept);
	tcase_add_test(tc, test_string_utf8_passthrough);
	tcase_add_test(tc, test_string_lone_high_surrogate);
	tcase_add_test(tc, test_string_high_surrogate_then_non_low);
	tcase_add_test(tc, test_string_lone_low_surrogate);
	tcase_add_test(tc, test_string_short_unicode_escape);
	tcase_add_test(tc, test_string_bad_escape);
	tcase_add_test(tc, test_string_bad_utf8_byte);
	tcase_add_test(tc, test_string_overlong_utf8);
	tcase_add_test(tc, test_string_utf8_surrogate_and_beyond);
	tcase_add_test(tc, test_string_raw_control_char);
	tcase_add_test(tc, test_string_unterminated);
	tcase_add_test(tc, test_string_unterminated_at_eof);
	tcase_add_test(tc, test_string_hash_is_not_comment);
	tcase_add_test(tc, test_raw_string_keeps_backslashes);
	tcase_add_test(tc, test_raw_string_trailing_backslash);
	tcase_add_test(tc, test_raw_string_control_char);
	tcase_add_test(tc, test_raw_string_unterminated);
	suite_add_tcase(s, tc);

	tc = tcase_create("numbers");
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_number_leading_zero_rejected);
	tcase_add_test(tc, test_number_too_large);
	tcase_add_test(tc, test_number_leading_point_is_syntax_error);
	tcase_add_test(tc, test_durations_to_ms);
	tcase_add_test(tc, test_duration_fraction_of_ms_rejected);
	tcase_add_test(tc, test_duration_too_long_rejected);
	tcase_add_test(tc, test_duration_unit_longest_match);
	tcase_add_test(tc, test_rates_per_second);
	tcase_add_test(tc, test_rate_zero_rejected);
	tcase_add_test(tc, test_division_with_spaces_is_not_a_rate);
	tcase_add_test(tc, test_range_tokens);
	suite_add_tcase(s, tc);

	tc = tcase_create("addresses");
	tcase_add_test(tc, test_ipv4_network);
	tcase_add_test(tc, test_ipv4_host_is_slash_32);
	tcase_add_test(tc, test_ipv6_network);
	tcase_add_test(tc, test_ipv6_loopback_and_mapped);
	tcase_add_test(tc, test_ip_in_list);
	tcase_add_test(tc, test_bad_ip_addresses);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_backtick_name);
	tcase_add_test(tc, test_backtick_at_is_payload_field);
	tcase_add_test(tc, test_backtick_unterminated);
	tcase_add_test(tc, test_attribute_path);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_bad_versions);
	tcase_add_test(tc, test_comments_ignored);
	tcase_add_test(tc, test_literals_true_false_null);
	tcase_add_test(tc, test_keywords_case_sensitive);
	suite_add_tcase(s, tc);

	tc = tcase_create("characters");
	tcase_add_test(tc, test_non_ascii_outside_string);
	tcase_add_test(tc, test_bom_skipped);
	tcase_add_test(tc, test_control_char_outside_string);
	tcase_add_test(tc, test_stray_punctuation);
	tcase_add_test(tc, test_columns_after_tabs_and_crlf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(lexer_suite());
}
