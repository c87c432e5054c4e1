/*
 * check_sema.c -- unit tests for semantic analysis (compiler/sema.c,
 * compiler/sema_expr.c) and the rule checks (compiler/analyze.c): one test
 * per rule of the language reference (docs/language.md §5-§7, §11.3), each
 * asserting which diagnostic ID fires -- and, for the "must not fire" cases,
 * that it does not.
 */
#include "config.h"
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A contract most tests share, and two destinations. */
#define EV \
	"event e v1 { x: number, y: number, s: string, p: \"low\" | \"high\", tags: [string],\n" \
	"  o?: number, ip?: ip, b: bool, a: any, t: time,\n" \
	"  obj: { c: string, n?: number }, items: [{ sku: string, qty: number }] }\n" \
	"destination d\ndestination d2\n"

/* Checks EV + body (routec check). */
static void
check(struct tu_result *r, const char *body)
{
	char *src = malloc(strlen(EV) + strlen(body) + 1);

	ck_assert_ptr_nonnull(src);
	strcpy(src, EV);
	strcat(src, body);
	tu_check(r, src);
	free(src);
}

/* Asserts that EV + body checks without errors. */
static void
check_ok(const char *body)
{
	struct tu_result r;

	check(&r, body);
	TU_OK(&r);
	tu_free(&r);
}

/* Asserts that EV + body reports id (at least once) and fails. */
#define CHECK_ERR(body, id) do { \
		struct tu_result r_; \
		check(&r_, body); \
		TU_HAS(&r_, id); \
		ck_assert_int_eq(r_.rc, RC_EXIT_RULES); \
		tu_free(&r_); \
	} while (0)

/* ---- names ------------------------------------------------------------- */

START_TEST(test_unknown_event_with_suggestion)
{
	struct tu_result r;

	tu_check(&r, "event order.created v1 { x: number }\ndestination d\n"
		"rule r on order.craeted route d");
	TU_HAS_N(&r, E_UNKNOWN_EVENT, 1);
	TU_TEXT(&r, "unknown event type 'order.craeted' (did you mean 'order.created'?)");
	TU_TEXT(&r, TU_NAME ":3:11:");
	tu_free(&r);
}
END_TEST

START_TEST(test_unknown_field_with_suggestion)
{
	struct tu_result r;

	check(&r, "rule r on e when priorty == 1 route d\n");
	TU_HAS_N(&r, E_UNKNOWN_FIELD, 1);
	tu_free(&r);
	tu_check(&r, "event e v1 { priority: number }\ndestination d\n"
		"rule r on e when priorty == 1 route d");
	TU_HAS_N(&r, E_UNKNOWN_FIELD, 1);
	TU_TEXT(&r, "unknown field 'priorty' (did you mean 'priority'?)");
	TU_TEXT(&r, TU_NAME ":3:18:");
	tu_free(&r);
}
END_TEST

START_TEST(test_unknown_nested_field)
{
	struct tu_result r;

	check(&r, "rule r on e when obj.cc == \"a\" route d\n");
	TU_HAS_N(&r, E_UNKNOWN_FIELD, 1);
	TU_TEXT(&r, "did you mean 'c'?");
	tu_free(&r);
}
END_TEST

START_TEST(test_object_field_not_a_leaf)
{
	CHECK_ERR("rule r on e when obj == \"a\" route d\n", E_NOT_A_LEAF);
}
END_TEST

START_TEST(test_unknown_envelope_attribute)
{
	CHECK_ERR("rule r on e when @foo == \"a\" route d\n", E_UNKNOWN_META);
	check_ok("rule r on e when @type == \"e\" and @source prefix \"x\" and @version == 1 route d\n");
}
END_TEST

START_TEST(test_unknown_destination_with_suggestion)
{
	struct tu_result r;

	tu_check(&r, "event e v1 { x: number }\ndestination dlq\nrule r on e route dql");
	TU_HAS_N(&r, E_UNKNOWN_DEST, 1);
	TU_TEXT(&r, "unknown destination 'dql' (did you mean 'dlq'?)");
	tu_free(&r);
}
END_TEST

START_TEST(test_unknown_function_and_table)
{
	CHECK_ERR("rule r on e when lenn(s) > 1 route d\n", E_UNKNOWN_FUNC);
	CHECK_ERR("rule r on e when teir[s] == 1 route d\n", E_UNKNOWN_TABLE);
}
END_TEST

/* ---- versions ------------------------------------------------------------ */

#define V12 \
	"event t v1 { id: string, total: number, old: string }\n" \
	"event t v2 { id: string, total: number, chan: string }\n" \
	"destination d\n"

START_TEST(test_field_missing_in_v2)
{
	struct tu_result r;

	tu_check(&r, V12 "rule r on t when old == \"x\" route d");
	TU_HAS_N(&r, E_FIELD_NOT_IN_VERSION, 1);
	TU_TEXT(&r, "field 'old' is not in t v2");
	tu_free(&r);
	tu_check(&r, V12 "rule r on t when chan == \"x\" route d");
	TU_HAS_N(&r, E_FIELD_NOT_IN_VERSION, 1);
	TU_TEXT(&r, "field 'chan' is not in t v1");
	tu_free(&r);
}
END_TEST

START_TEST(test_on_version_restricts_fields)
{
	struct tu_result r;

	tu_check(&r, V12 "rule r on t v2 when chan == \"x\" route d\n"
		"rule q on t v1 when old == \"y\" route d");
	TU_OK(&r);
	tu_free(&r);
	tu_check(&r, V12 "rule r on t v1 when chan == \"x\" route d");
	TU_HAS(&r, E_UNKNOWN_FIELD);
	tu_free(&r);
}
END_TEST

START_TEST(test_unknown_version)
{
	struct tu_result r;

	tu_check(&r, V12 "rule r on t v3 route d");
	TU_HAS_N(&r, E_UNKNOWN_VERSION, 1);
	TU_TEXT(&r, "event t has no version 3");
	tu_free(&r);
}
END_TEST

START_TEST(test_field_type_changed_across_versions)
{
	struct tu_result r;

	tu_check(&r, "event o v1 { total: number }\nevent o v2 { total: string }\ndestination d\n"
		"rule big on o when total > 1 route d");
	TU_HAS_N(&r, E_FIELD_TYPE_VERSIONS, 1);
	TU_TEXT(&r, "field 'total' is number in o v1 but string in o v2");
	tu_free(&r);
	/* compatible types (string-like) are fine */
	tu_check(&r, "event o v1 { k: string }\nevent o v2 { k: \"a\" | \"b\" }\ndestination d\n"
		"rule r on o when k == \"a\" route d");
	TU_OK(&r);
	tu_free(&r);
}
END_TEST

START_TEST(test_field_type_differs_across_types_message)
{
	struct tu_result r;

	/* two different event types: the message must name the right types */
	tu_check(&r, "event a v1 { x: number }\nevent b v1 { x: string }\ndestination d\n"
		"rule r on a, b when x == 1 route d");
	TU_HAS_N(&r, E_FIELD_TYPE_VERSIONS, 1);
	ck_assert_msg(strstr(r.text, "is number in b v1") == NULL
		&& strstr(r.text, "is number in a v1") != NULL,
		"the message attributes the types to the wrong events:\n%s", r.text);
	tu_free(&r);
}
END_TEST

START_TEST(test_duplicate_event_version)
{
	struct tu_result r;

	tu_check(&r, "event e v1 { x: number }\nevent e v1 { y: number }\nevent e v2 { x: number }");
	TU_HAS_N(&r, E_DUP_EVENT, 1);
	TU_HAS_N(&r, N_PREVIOUS, 1);
	TU_TEXT(&r, TU_NAME ":2:7: error: event e v1 is declared twice");
	TU_TEXT(&r, TU_NAME ":1:7: note:");
	tu_free(&r);
}
END_TEST

/* ---- patterns ------------------------------------------------------------ */

#define PAT \
	"event support.ticket.created v1 { id: string }\n" \
	"event support.chat.created v1 { id: string }\n" \
	"event analytics.click v1 { id: string }\n" \
	"event analytics.page.view v1 { id: string }\n" \
	"event analytics v1 { id: string }\n" \
	"destination d\n"

/* Number of rules listening on each type is not visible in the model's
   diagnostics, so the tests compile and count RTYPES of rule 0. */
static unsigned
ntypes_of(const char *rule)
{
	struct tu_result r;
	struct rv_prog *p;
	char src[2048];
	unsigned n;

	snprintf(src, sizeof src, "%s%s", PAT, rule);
	tu_compile(&r, src);
	TU_OK(&r);
	p = tu_load(&r);
	ck_assert_uint_eq(p->nrules, 1);
	n = p->rules[0].nrtype;
	rv_prog_free(p);
	tu_free(&r);
	return n;
}

START_TEST(test_wildcard_star_matches_everything)
{
	ck_assert_uint_eq(ntypes_of("rule r on * route d"), 5);
}
END_TEST

START_TEST(test_wildcard_middle_segment_matches_one)
{
	ck_assert_uint_eq(ntypes_of("rule r on support.*.created route d"), 2);
}
END_TEST

START_TEST(test_wildcard_trailing_star_multi_segment)
{
	/* analytics.click and analytics.page.view, not analytics itself */
	ck_assert_uint_eq(ntypes_of("rule r on analytics.* route d"), 2);
}
END_TEST

START_TEST(test_wildcard_no_match)
{
	struct tu_result r;

	tu_check(&r, PAT "rule r on analytcs.* route d");
	TU_HAS_N(&r, E_PATTERN_NO_MATCH, 1);
	TU_TEXT(&r, "pattern 'analytcs.*' matches no declared event type");
	tu_free(&r);
	tu_check(&r, PAT "rule r on support.*.deleted route d");
	TU_HAS_N(&r, E_PATTERN_NO_MATCH, 1);
	tu_free(&r);
}
END_TEST

START_TEST(test_emit_needs_single_type)
{
	struct tu_result r;

	tu_check(&r, PAT "rule r on analytics emit analytics.* { id: id }");
	TU_HAS(&r, E_CLAUSE_NEEDS);
	tu_free(&r);
}
END_TEST

/* ---- types --------------------------------------------------------------- */

START_TEST(test_enum_value_checked)
{
	struct tu_result r;

	check(&r, "rule r on e when p == \"urgnt\" route d\n");
	TU_HAS_N(&r, E_ENUM_VALUE, 1);
	TU_TEXT(&r, "\"urgnt\" is not a value of 'p' (one of \"low\", \"high\")");
	tu_free(&r);
	CHECK_ERR("rule r on e when p in [\"low\", \"mid\"] route d\n", E_ENUM_VALUE);
	CHECK_ERR("rule r on e set p = \"mid\"\n", E_ENUM_VALUE);
	check_ok("rule r on e when p != \"low\" route d\n");
}
END_TEST

START_TEST(test_duplicate_enum_value)
{
	struct tu_result r;

	tu_check(&r, "event e v1 { p: \"a\" | \"b\" | \"a\" }");
	TU_HAS_N(&r, E_DUP_ENUM, 1);
	tu_free(&r);
}
END_TEST

START_TEST(test_unknown_type_name)
{
	struct tu_result r;

	tu_check(&r, "event e v1 { x: integer }");
	TU_HAS_N(&r, E_UNKNOWN_TYPE, 1);
	tu_free(&r);
}
END_TEST

START_TEST(test_duplicate_field)
{
	struct tu_result r;

	tu_check(&r, "event e v1 { x: number, y: string, x: string }");
	TU_HAS_N(&r, E_DUP_FIELD, 1);
	TU_HAS_N(&r, N_PREVIOUS, 1);
	tu_free(&r);
}
END_TEST

START_TEST(test_type_mismatch_comparisons)
{
	CHECK_ERR("rule r on e when s == 1 route d\n", E_TYPE_MISMATCH);
	CHECK_ERR("rule r on e when x == \"1\" route d\n", E_TYPE_MISMATCH);
	CHECK_ERR("rule r on e when b == 1 route d\n", E_TYPE_MISMATCH);
	CHECK_ERR("rule r on e when x == s route d\n", E_TYPE_MISMATCH);
	check_ok("rule r on e when x == y and s == t and ip == s and a == 1 and a == \"q\" or o == null "
		"route d\n");
}
END_TEST

START_TEST(test_ordering_needs_numbers)
{
	CHECK_ERR("rule r on e when s > \"a\" route d\n", E_OP_TYPE);
	CHECK_ERR("rule r on e when b < true route d\n", E_OP_TYPE);
	check_ok("rule r on e when x >= y * 2 route d\n");
}
END_TEST

START_TEST(test_in_list_mixing)
{
	struct tu_result r;

	check(&r, "rule r on e when x in [1, \"a\", 3] route d\n");
	TU_HAS_N(&r, E_SET_MIXED, 1);
	TU_TEXT(&r, "members of an 'in' list must all be number, this one is string");
	tu_free(&r);
	CHECK_ERR("rule r on e when s in [\"a\", 1] route d\n", E_SET_MIXED);
	CHECK_ERR("rule r on e when x in [] route d\n", E_EMPTY_LIST);
	CHECK_ERR("rule r on e when x in [y] route d\n", E_NOT_CONST);
	check_ok("rule r on e when x in [1, -2, 3.5] and s not in [\"a\", \"b\"] route d\n");
}
END_TEST

START_TEST(test_range_checks)
{
	struct tu_result r;

	check(&r, "rule r on e when x in 50000..5000 route d\n");
	TU_HAS_N(&r, E_EMPTY_RANGE, 1);
	TU_TEXT(&r, "empty range '50000..5000': no number lies in it");
	tu_free(&r);
	CHECK_ERR("rule r on e when x in 5..<5 route d\n", E_EMPTY_RANGE);
	CHECK_ERR("rule r on e when s in 1..5 route d\n", E_OP_TYPE);
	check_ok("rule r on e when x in 5..5 and y in -20..-5 and o in 0..<60 * 1000 route d\n");
}
END_TEST

START_TEST(test_regex_backtracking_vs_syntax)
{
	struct tu_result r;

	check(&r, "rule r on e when s matches r\"(\\w+) \\1\" route d\n");
	TU_HAS_N(&r, E_REGEX_BACKTRACK, 1);
	TU_NOT(&r, E_BAD_REGEX);
	TU_TEXT(&r, "(a backreference)");
	tu_free(&r);
	check(&r, "rule r on e when s imatches r\"(?<=a)b\" route d\n");
	TU_HAS_N(&r, E_REGEX_BACKTRACK, 1);
	tu_free(&r);
	check(&r, "rule r on e when s matches r\"a*+\" route d\n");
	TU_HAS_N(&r, E_REGEX_BACKTRACK, 1);
	tu_free(&r);
	check(&r, "rule r on e when s matches r\"(ab\" route d\n");
	TU_HAS_N(&r, E_BAD_REGEX, 1);
	TU_NOT(&r, E_REGEX_BACKTRACK);
	tu_free(&r);
	check_ok("rule r on e when s matches r\"^[A-Z]{3}-\\d+$\" and s imatches \"a|b\" route d\n");
}
END_TEST

START_TEST(test_string_operator_needs_constant)
{
	CHECK_ERR("rule r on e when s contains t route d\n", E_NOT_CONST);
	CHECK_ERR("rule r on e when x prefix \"1\" route d\n", E_OP_TYPE);
}
END_TEST

START_TEST(test_cidr_on_non_ip)
{
	struct tu_result r;

	check(&r, "rule r on e when x in 10.0.0.0/8 route d\n");
	TU_HAS_N(&r, E_CIDR_TYPE, 1);
	TU_TEXT(&r, "'in NETWORK' needs an ip or string field, not number");
	tu_free(&r);
	check_ok("rule r on e when ip in [10.0.0.0/8, ::1] and s not in 192.168.0.0/16 route d\n");
}
END_TEST

START_TEST(test_exists_on_required_field_warns)
{
	struct tu_result r;

	check(&r, "rule r on e when x exists and o exists route d\n");
	TU_OK(&r);
	TU_HAS_N(&r, W_ALWAYS, 1);
	TU_TEXT(&r, "'x exists' is always true: the field is required by its contract");
	tu_free(&r);
	check(&r, "rule r on e when x missing or o missing route d\n");
	TU_HAS_N(&r, W_ALWAYS, 1);
	TU_TEXT(&r, "'x missing' is always false");
	tu_free(&r);
	/* envelope attributes and optional fields never warn */
	check(&r, "rule r on e when @id exists and o exists and obj.n missing route d\n");
	TU_NOT(&r, W_ALWAYS);
	tu_free(&r);
}
END_TEST

START_TEST(test_arithmetic_types)
{
	CHECK_ERR("rule r on e when s + 1 > 2 route d\n", E_OP_TYPE);
	CHECK_ERR("rule r on e when -s == 1 route d\n", E_OP_TYPE);
	check_ok("rule r on e when (x + y) * 2 - o % 3 / 4 > -1 route d\n");
}
END_TEST

START_TEST(test_constant_division_by_zero)
{
	CHECK_ERR("rule r on e when x > 1 / 0 route d\n", E_DIV_ZERO);
	CHECK_ERR("rule r on e when x > 5 % (2 - 2) route d\n", E_DIV_ZERO);
	/* not constant: missing at run time, no error */
	check_ok("rule r on e when x / y > 1 route d\n");
}
END_TEST

START_TEST(test_builtin_arity_and_types)
{
	struct tu_result r;

	check(&r, "rule r on e when lower(s, s) == \"a\" route d\n");
	TU_HAS_N(&r, E_ARITY, 1);
	TU_TEXT(&r, "function 'lower' takes 1 argument(s), 2 given");
	tu_free(&r);
	CHECK_ERR("rule r on e when len() > 1 route d\n", E_ARITY);
	CHECK_ERR("rule r on e when abs(s) > 1 route d\n", E_ARG_TYPE);
	CHECK_ERR("rule r on e when upper(x) == \"A\" route d\n", E_ARG_TYPE);
	CHECK_ERR("rule r on e when len(s) == \"3\" route d\n", E_TYPE_MISMATCH);
	check_ok("rule r on e when len(tags) > 1 and len(s) < 3 and upper(trim(s)) == \"A\"\n"
		"  and floor(x) == ceil(y) and abs(o) > 1 route d\n");
}
END_TEST

START_TEST(test_condition_must_be_bool)
{
	CHECK_ERR("rule r on e when x route d\n", E_COND_TYPE);
	CHECK_ERR("rule r on e when x + 1 and b route d\n", E_COND_TYPE);
	check_ok("rule r on e when b and not b or a route d\n");
}
END_TEST

/* ---- temporal --------------------------------------------------------- */

START_TEST(test_aggregate_only_in_when)
{
	CHECK_ERR("rule r on e set x = count() within 1m\n", E_AGGREGATE_CONTEXT);
	CHECK_ERR("rule r on e emit e { x: sum(x) } within 1m\n", E_AGGREGATE_CONTEXT);
}
END_TEST

START_TEST(test_count_without_within_unbounded)
{
	struct tu_result r;

	check(&r, "rule r on e when count() > 3 route d\n");
	TU_HAS_N(&r, E_UNBOUNDED, 1);
	TU_TEXT(&r, "aggregate 'count()' keeps state without a bound");
	tu_free(&r);
	CHECK_ERR("rule r on e as a then e where s == a.s route d\n", E_UNBOUNDED);
	CHECK_ERR("rule r on e unless e route d\n", E_UNBOUNDED);
	/* bounded forms check cleanly */
	check_ok("rule r on e when count() > 3 within 10m by s route d\n");
	check_ok("rule r on e when sum(x) > 3 every 1h route d\n");
	check_ok("rule r on e as a then e where s == a.s within 1h route d\n");
}
END_TEST

START_TEST(test_temporal_clause_needs)
{
	CHECK_ERR("rule r on e by s route d\n", E_CLAUSE_NEEDS);
	CHECK_ERR("rule r on e within 1m route d\n", E_CLAUSE_NEEDS);
	CHECK_ERR("rule r on e when x > 1 backpressure\n", E_CLAUSE_NEEDS);
	CHECK_ERR("rule r on e when count() > 1 within 1m within 2m route d\n", E_DUP_CLAUSE);
	CHECK_ERR("rule r on e as a then e where s == b.s within 1h route d\n", E_UNKNOWN_FIELD);
}
END_TEST

/* ---- declarations --------------------------------------------------------- */

START_TEST(test_duplicate_declarations_with_note)
{
	struct tu_result r;

	check(&r, "destination d\n");
	TU_HAS_N(&r, E_DUP_DEST, 1);
	TU_HAS_N(&r, N_PREVIOUS, 1);
	TU_TEXT(&r, "destination 'd' is declared twice");
	TU_TEXT(&r, TU_NAME ":4:13: note: previous declaration of 'd' is here");
	tu_free(&r);
	check(&r, "rule a on e route d\nrule a on e route d2\n");
	TU_HAS_N(&r, E_DUP_RULE, 1);
	TU_HAS_N(&r, N_PREVIOUS, 1);
	tu_free(&r);
	check(&r, "test \"x\" { } test \"x\" { }\n");
	TU_HAS_N(&r, E_DUP_TEST, 1);
	TU_HAS_N(&r, N_PREVIOUS, 1);
	tu_free(&r);
	check(&r, "table tt: number by s from e set x\ntable tt: number by s from e set y\n");
	TU_HAS_N(&r, E_DUP_TABLE, 1);
	TU_HAS_N(&r, N_PREVIOUS, 1);
	tu_free(&r);
}
END_TEST

START_TEST(test_destination_policy_ranges)
{
	static const char *const bad[] = {
		"destination z { priority 10 }", "destination z { priority 1.5 }",
		"destination z { workers 0 }", "destination z { workers 1025 }",
		"destination z { queue 0 }", "destination z { retry 101 }",
		"destination z { retry 3 backoff 0ms..1s }", "destination z { max_age 366d }",
		"destination z { timeout 2h }", "destination z { batch every 2d }",
		"destination z { batch 0 }", "destination z { throttle 0 per 1s }",
		"destination z { throttle 5 per 2d }", "destination z { priority \"high\" }",
		"destination z { timeout 5 }",
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tu_result r;
		char src[256];

		snprintf(src, sizeof src, "%s\nevent e v1 { x: number }\nrule r on e route z", bad[i]);
		tu_check(&r, src);
		/* out of range, or not the kind of value the policy takes */
		ck_assert_msg(r.counts[RL_E_POLICY_RANGE] + r.counts[RL_E_POLICY_KIND] == 1, "'%s':\n%s",
			bad[i], r.text);
		tu_free(&r);
	}
	check_ok("destination z { priority 0; workers 1024; queue 1; retry 100 backoff 1ms..1d;\n"
		" max_age 365d; timeout 1h; batch every 1d or 1000000; throttle 1 per 1d }\n"
		"rule r on e route z\n");
}
END_TEST

START_TEST(test_backoff_order_and_duplicate_policy)
{
	struct tu_result r;

	tu_check(&r, "destination z { retry 3 backoff 30s..500ms }\nevent e v1 { x: number }\n"
		"rule r on e route z");
	TU_HAS_N(&r, E_BACKOFF_ORDER, 1);
	TU_TEXT(&r, "backoff minimum 30s is above its maximum 500ms");
	tu_free(&r);
	tu_check(&r, "destination z { retry 3; retry 4 }\nevent e v1 { x: number }\nrule r on e route z");
	TU_HAS_N(&r, E_DUP_POLICY, 1);
	TU_TEXT(&r, "policy 'retry' is given twice");
	tu_free(&r);
}
END_TEST

START_TEST(test_dead_letter_self_and_unknown)
{
	struct tu_result r;

	tu_check(&r, "destination dlq { dead_letter dlq }\nevent e v1 { x: number }\nrule r on e route dlq");
	TU_HAS_N(&r, E_DEAD_LETTER_SELF, 1);
	tu_free(&r);
	tu_check(&r, "destination a { dead_letter dql }\ndestination dlq\nevent e v1 { x: number }\n"
		"rule r on e route a");
	TU_HAS_N(&r, E_UNKNOWN_DEST, 1);
	TU_TEXT(&r, "(did you mean 'dlq'?)");
	tu_free(&r);
}
END_TEST

START_TEST(test_unused_destination_warning)
{
	struct tu_result r;

	tu_check(&r, "destination used\ndestination dlq\ndestination legacy\n"
		"destination a { dead_letter dlq }\ndestination spill\nevent e v1 { x: number }\n"
		"rule r on e route used, a\n"
		"rule t on e when count() > 1 within 1m throttle 1 per 1s else route spill route used");
	TU_OK(&r);
	TU_HAS_N(&r, W_UNUSED_DEST, 1);
	TU_TEXT(&r, "destination 'legacy' is never used");
	tu_free(&r);
}
END_TEST

START_TEST(test_table_checks)
{
	struct tu_result r;

	check(&r, "table tier: number by s from e set p\nrule r on e when tier[s] > 1 route d\n");
	TU_HAS_N(&r, E_TABLE_TYPE, 1);
	tu_free(&r);
	CHECK_ERR("table tier: number by b from e set x\n", E_TABLE_KEY_TYPE);
	CHECK_ERR("table tier: number by s from e set x ttl 1ms\n", E_POLICY_RANGE);
	check_ok("table tier: \"low\" | \"high\" by s from e set p ttl 400d max_keys 10\n"
		"rule r on e when tier[s] == \"high\" or tier[s] missing route d\n");
	CHECK_ERR("table tier: \"low\" | \"high\" by s from e set p\n"
		"rule r on e when tier[s] == 1 route d\n", E_TYPE_MISMATCH);
}
END_TEST

/* ---- rule structure ------------------------------------------------------- */

START_TEST(test_rule_needs_action)
{
	CHECK_ERR("rule r on e when x > 1\n", E_NO_ACTION);
}
END_TEST

START_TEST(test_when_and_otherwise_exclusive)
{
	CHECK_ERR("rule r on e when x > 1 otherwise route d\n", E_WHEN_OTHERWISE);
	CHECK_ERR("rule r on e when x > 1 when x > 2 route d\n", E_DUP_CLAUSE);
}
END_TEST

START_TEST(test_otherwise_rules)
{
	CHECK_ERR("rule r on e otherwise set x = 1\n", E_OTHERWISE_TRANSFORM);
	check_ok("rule a on e when x > 1 route d\nrule r on e otherwise route d2\n");
}
END_TEST

START_TEST(test_dead_otherwise_warning)
{
	struct tu_result r;

	check(&r, "rule all on e route d\nrule r on e otherwise route d2\n");
	TU_OK(&r);
	TU_HAS_N(&r, W_DEAD_OTHERWISE, 1);
	tu_free(&r);
	check(&r, "rule some on e when x > 1 route d\nrule r on e otherwise route d2\n");
	TU_NOT(&r, W_DEAD_OTHERWISE);
	tu_free(&r);
}
END_TEST

START_TEST(test_set_checks)
{
	struct tu_result r;

	check(&r, "rule r on e set x = \"a\"\n");
	TU_HAS_N(&r, E_SET_TYPE, 1);
	TU_TEXT(&r, "cannot set 'x' (number) to a string value");
	tu_free(&r);
	CHECK_ERR("rule r on e set @type = \"a\"\n", E_SET_META);
	CHECK_ERR("rule r on e set x = 1, x = 2\n", E_ASSIGN_DUP);
	CHECK_ERR("rule r on e set obj = 1\n", E_SET_TYPE);
	CHECK_ERR("rule r on e set tags = \"a\"\n", E_SET_TYPE);
	CHECK_ERR("rule r on e set nope = 1\n", E_UNKNOWN_FIELD);
	check_ok("rule r on e when s icontains \"u\" set p = \"high\", s = lower(trim(s)), x = x * 2,"
		" obj.c = s, o = null, a = 1\n");
}
END_TEST

START_TEST(test_emit_checks)
{
	struct tu_result r;

	tu_check(&r, "event e v1 { id: string, n: number }\n"
		"event alert v1 { ref: string, n: number, why?: string, o: { k: string } }\n"
		"rule r on e emit alert { ref: id, o: { } }");
	TU_HAS_N(&r, E_EMIT_MISSING, 2);
	TU_TEXT(&r, "alert v1 requires field 'n'");
	TU_TEXT(&r, "alert v1 requires field 'o.k'");
	tu_free(&r);
	tu_check(&r, "event e v1 { id: string, n: number }\nevent alert v1 { ref: string }\n"
		"rule r on e emit alert { ref: id, bogus: 1 }");
	TU_HAS_N(&r, E_UNKNOWN_FIELD, 1);
	tu_free(&r);
	tu_check(&r, "event e v1 { id: string, n: number }\nevent alert v1 { ref: string }\n"
		"rule r on e emit alert { ref: n }");
	TU_HAS_N(&r, E_SET_TYPE, 1);
	tu_free(&r);
	tu_check(&r, "event e v1 { id: string, n: number }\nevent alert v1 { ref: string }\n"
		"rule r on e emit alert { ref: id, ref: id }");
	TU_HAS_N(&r, E_ASSIGN_DUP, 1);
	tu_free(&r);
	tu_check(&r, "event e v1 { id: string, n: number }\nevent alert v1 { ref: string }\n"
		"event alert v2 { ref: string, extra: number }\n"
		"rule r on e emit alert v1 { ref: id }\nrule q on e emit alert v2 { ref: id, extra: n }");
	TU_OK(&r);
	tu_free(&r);
	tu_check(&r, "event e v1 { id: string }\nevent alert v1 { ref: string }\n"
		"event alert v2 { ref: string, extra: number }\nrule r on e emit alert { ref: id }");
	TU_HAS_N(&r, E_EMIT_MISSING, 1); /* the latest version by default */
	tu_free(&r);
}
END_TEST

START_TEST(test_emit_list_elements_checked)
{
	struct tu_result r;

	tu_check(&r, "event e v1 { id: string }\nevent alert v1 { tags: [string] }\n"
		"rule r on e emit alert { tags: [id, 1] }");
	TU_HAS_N(&r, E_SET_TYPE, 1);
	tu_free(&r);
}
END_TEST

START_TEST(test_test_blocks_checked)
{
	struct tu_result r;

	check(&r, "test \"t\" { send e { x: \"str\", s: \"a\" } }\n");
	TU_HAS(&r, E_SET_TYPE);
	TU_HAS(&r, E_EMIT_MISSING);
	tu_free(&r);
	CHECK_ERR("test \"t\" { send e { x: 1 + 1 } }\n", E_TEST_VALUE);
	CHECK_ERR("test \"t\" { send e { zz: 1 } }\n", E_UNKNOWN_FIELD);
	CHECK_ERR("test \"t\" { send e { p: \"mid\" } }\n", E_ENUM_VALUE);
	CHECK_ERR("rule r on e route d\ntest \"t\" { expect routed dd }\n", E_UNKNOWN_DEST);
	CHECK_ERR("test \"t\" { send nope { } }\n", E_UNKNOWN_EVENT);
}
END_TEST

START_TEST(test_test_list_of_objects_checked)
{
	struct tu_result r;

	/* list elements that are objects must be checked against the element type */
	check(&r, "test \"t\" { send e { x: 1, y: 1, s: \"a\", p: \"low\", tags: [\"a\"], b: true, a: 1,\n"
		" t: \"2024-01-01T00:00:00Z\", obj: { c: \"x\" }, items: [{ sku: \"a\", qty: \"NaN\", nope: 1 }] } }\n");
	TU_HAS(&r, E_SET_TYPE);      /* qty is a number */
	TU_HAS(&r, E_UNKNOWN_FIELD); /* nope */
	tu_free(&r);
	check(&r, "test \"t\" { send e { x: 1, y: 1, s: \"a\", p: \"low\", tags: [{ q: 1 }], b: true, a: 1,\n"
		" t: \"2024-01-01T00:00:00Z\", obj: { c: \"x\" }, items: [] } }\n");
	TU_HAS(&r, E_SET_TYPE);      /* an object is not a string */
	tu_free(&r);
}
END_TEST

/* ---- contradictions ---------------------------------------------------- */

START_TEST(test_never_matches_eq_eq)
{
	struct tu_result r;

	check(&r, "rule r on e when p == \"high\" and p == \"low\" route d\n");
	TU_HAS_N(&r, E_NEVER_MATCHES, 1);
	TU_TEXT(&r, "rule 'r' can never match: 'p' cannot be both \"high\" and \"low\"");
	tu_free(&r);
}
END_TEST

START_TEST(test_never_matches_eq_ne)
{
	CHECK_ERR("rule r on e when x == 3 and y > 1 and x != 3 route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when x == 3 and 3 != x route d\n", E_NEVER_MATCHES);
}
END_TEST

START_TEST(test_never_matches_bounds)
{
	CHECK_ERR("rule r on e when x > 5 and x < 3 route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when x >= 5 and x < 5 route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when x in 1..5 and x in 6..9 route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when x in 1..<5 and x == 5 route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when 10 < x and x <= 10 route d\n", E_NEVER_MATCHES);
	check_ok("rule r on e when x >= 5 and x <= 5 route d\n");
	check_ok("rule r on e when x in 1..5 and x in 5..9 route d\n");
}
END_TEST

START_TEST(test_never_matches_in_list)
{
	CHECK_ERR("rule r on e when s in [\"a\", \"b\"] and s == \"c\" route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when s in [\"a\", \"b\"] and s in [\"c\"] route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when s in [\"a\", \"b\"] and s not in [\"a\", \"b\"] route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when x in [1, 2] and x > 2 route d\n", E_NEVER_MATCHES);
	check_ok("rule r on e when s in [\"a\", \"b\"] and s == \"b\" route d\n");
	check_ok("rule r on e when s in [\"a\", \"b\"] and s not in [\"a\"] route d\n");
}
END_TEST

START_TEST(test_never_matches_exists_missing)
{
	CHECK_ERR("rule r on e when o exists and o missing route d\n", E_NEVER_MATCHES);
	CHECK_ERR("rule r on e when o missing and o > 1 route d\n", E_NEVER_MATCHES);
	check_ok("rule r on e when o missing or o > 1 route d\n");
}
END_TEST

START_TEST(test_no_contradiction_on_array_fields)
{
	struct tu_result r;

	check(&r, "rule r on e when tags == \"a\" and tags == \"b\" route d\n"
		"rule q on e when items.qty > 100 and items.qty < 1 route d2\n");
	TU_OK(&r);
	TU_NOT(&r, E_NEVER_MATCHES);
	tu_free(&r);
}
END_TEST

START_TEST(test_no_contradiction_on_any_fields)
{
	struct tu_result r;

	/* an 'any' field may hold an array at run time: [1, "q"] satisfies both */
	check(&r, "rule r on e when a == 1 and a == \"q\" route d\n");
	TU_NOT(&r, E_NEVER_MATCHES);
	tu_free(&r);
}
END_TEST

START_TEST(test_no_contradiction_when_one_or_branch_satisfiable)
{
	struct tu_result r;

	check(&r, "rule r on e when (x == 1 and x == 2) or s == \"a\" route d\n");
	TU_NOT(&r, E_NEVER_MATCHES);
	tu_free(&r);
	check(&r, "rule r on e when x == 1 or x == 2 and x == 3 route d\n");
	TU_NOT(&r, E_NEVER_MATCHES);
	tu_free(&r);
	/* every branch empty: an error */
	CHECK_ERR("rule r on e when (x == 1 and x == 2) or (s == \"a\" and s == \"b\") route d\n",
		E_NEVER_MATCHES);
}
END_TEST

START_TEST(test_no_contradiction_through_not_or_caseless)
{
	check_ok("rule r on e when x == 1 and not (x == 1) route d\n");
	check_ok("rule r on e when s ieq \"a\" and s ieq \"b\" route d\n");
	check_ok("rule r on e when x == 1 and y == 2 route d\n");
}
END_TEST

/* ---- shadowing --------------------------------------------------------- */

START_TEST(test_shadowed_duplicate_rule)
{
	struct tu_result r;

	check(&r, "rule a on e when x > 1 route d\nrule b on e when x > 1 route d\n");
	TU_OK(&r);
	TU_HAS_N(&r, W_SHADOWED, 1);
	TU_TEXT(&r, "rule 'b' is shadowed by rule 'a'");
	tu_free(&r);
}
END_TEST

START_TEST(test_shadowed_subset_condition)
{
	struct tu_result r;

	check(&r, "rule a on e when x > 1 route d\nrule b on e when s == \"q\" and x > 1 route d\n"
		"rule c on e route d2\nrule z on e when y > 2 route d2\n");
	TU_HAS_N(&r, W_SHADOWED, 2);
	TU_TEXT(&r, "rule 'b' is shadowed by rule 'a'");
	TU_TEXT(&r, "rule 'z' is shadowed by rule 'c'");
	tu_free(&r);
}
END_TEST

START_TEST(test_not_shadowed_different_destinations)
{
	struct tu_result r;

	check(&r, "rule a on e when x > 1 route d\nrule b on e when x > 1 route d2\n"
		"rule c on e when x > 1 route d, d2\n");
	TU_NOT(&r, W_SHADOWED);
	tu_free(&r);
}
END_TEST

START_TEST(test_not_shadowed_weaker_or_later)
{
	struct tu_result r;

	/* b is more general than a: nothing is shadowed */
	check(&r, "rule a on e when s == \"q\" and x > 1 route d\nrule b on e when x > 1 route d\n");
	TU_NOT(&r, W_SHADOWED);
	tu_free(&r);
	/* set rules are transforms, never shadowed */
	check(&r, "rule a on e when x > 1 set y = 1\nrule b on e when x > 1 set y = 1\n");
	TU_NOT(&r, W_SHADOWED);
	tu_free(&r);
}
END_TEST

START_TEST(test_not_shadowed_by_rule_on_fewer_versions)
{
	struct tu_result r;

	/* b also handles v2 events, which a never sees */
	tu_check(&r, "event t v1 { x: number }\nevent t v2 { x: number }\ndestination d\n"
		"rule a on t v1 route d\nrule b on t route d");
	TU_NOT(&r, W_SHADOWED);
	tu_free(&r);
}
END_TEST

static Suite *
sema_suite(void)
{
	Suite *s = suite_create("sema");
	TCase *tc = tcase_create("names");

	tcase_add_test(tc, test_unknown_event_with_suggestion);
	tcase_add_test(tc, test_unknown_field_with_suggestion);
	tcase_add_test(tc, test_unknown_nested_field);
	tcase_add_test(tc, test_object_field_not_a_leaf);
	tcase_add_test(tc, test_unknown_envelope_attribute);
	tcase_add_test(tc, test_unknown_destination_with_suggestion);
	tcase_add_test(tc, test_unknown_function_and_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("versions");
	tcase_add_test(tc, test_field_missing_in_v2);
	tcase_add_test(tc, test_on_version_restricts_fields);
	tcase_add_test(tc, test_unknown_version);
	tcase_add_test(tc, test_field_type_changed_across_versions);
	tcase_add_test(tc, test_field_type_differs_across_types_message);
	tcase_add_test(tc, test_duplicate_event_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("patterns");
	tcase_add_test(tc, test_wildcard_star_matches_everything);
	tcase_add_test(tc, test_wildcard_middle_segment_matches_one);
	tcase_add_test(tc, test_wildcard_trailing_star_multi_segment);
	tcase_add_test(tc, test_wildcard_no_match);
	tcase_add_test(tc, test_emit_needs_single_type);
	suite_add_tcase(s, tc);

	tc = tcase_create("types");
	tcase_add_test(tc, test_enum_value_checked);
	tcase_add_test(tc, test_duplicate_enum_value);
	tcase_add_test(tc, test_unknown_type_name);
	tcase_add_test(tc, test_duplicate_field);
	tcase_add_test(tc, test_type_mismatch_comparisons);
	tcase_add_test(tc, test_ordering_needs_numbers);
	tcase_add_test(tc, test_in_list_mixing);
	tcase_add_test(tc, test_range_checks);
	tcase_add_test(tc, test_regex_backtracking_vs_syntax);
	tcase_add_test(tc, test_string_operator_needs_constant);
	tcase_add_test(tc, test_cidr_on_non_ip);
	tcase_add_test(tc, test_exists_on_required_field_warns);
	tcase_add_test(tc, test_arithmetic_types);
	tcase_add_test(tc, test_constant_division_by_zero);
	tcase_add_test(tc, test_builtin_arity_and_types);
	tcase_add_test(tc, test_condition_must_be_bool);
	suite_add_tcase(s, tc);

	tc = tcase_create("temporal");
	tcase_add_test(tc, test_aggregate_only_in_when);
	tcase_add_test(tc, test_count_without_within_unbounded);
	tcase_add_test(tc, test_temporal_clause_needs);
	suite_add_tcase(s, tc);

	tc = tcase_create("declarations");
	tcase_add_test(tc, test_duplicate_declarations_with_note);
	tcase_add_test(tc, test_destination_policy_ranges);
	tcase_add_test(tc, test_backoff_order_and_duplicate_policy);
	tcase_add_test(tc, test_dead_letter_self_and_unknown);
	tcase_add_test(tc, test_unused_destination_warning);
	tcase_add_test(tc, test_table_checks);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_test(tc, test_rule_needs_action);
	tcase_add_test(tc, test_when_and_otherwise_exclusive);
	tcase_add_test(tc, test_otherwise_rules);
	tcase_add_test(tc, test_dead_otherwise_warning);
	tcase_add_test(tc, test_set_checks);
	tcase_add_test(tc, test_emit_checks);
	tcase_add_test(tc, test_emit_list_elements_checked);
	tcase_add_test(tc, test_test_blocks_checked);
	tcase_add_test(tc, test_test_list_of_objects_checked);
	suite_add_tcase(s, tc);

	tc = tcase_create("contradictions");
	tcase_add_test(tc, test_never_matches_eq_eq);
	tcase_add_test(tc, test_never_matches_eq_ne);
	tcase_add_test(tc, test_never_matches_bounds);
	tcase_add_test(tc, test_never_matches_in_list);
	tcase_add_test(tc, test_never_matches_exists_missing);
	tcase_add_test(tc, test_no_contradiction_on_array_fields);
	tcase_add_test(tc, test_no_contradiction_on_any_fields);
	tcase_add_test(tc, test_no_contradiction_when_one_or_branch_satisfiable);
	tcase_add_test(tc, test_no_contradiction_through_not_or_caseless);
	suite_add_tcase(s, tc);

	tc = tcase_create("shadowing");
	tcase_add_test(tc, test_shadowed_duplicate_rule);
	tcase_add_test(tc, test_shadowed_subset_condition);
	tcase_add_test(tc, test_not_shadowed_different_destinations);
	tcase_add_test(tc, test_not_shadowed_weaker_or_later);
	tcase_add_test(tc, test_not_shadowed_by_rule_on_fewer_versions);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(sema_suite());
}
