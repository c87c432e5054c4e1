/*
 * check_parser.c -- unit tests for the Route grammar (lang/parser.y) and the
 * parser driver (lang/parse.c): tree shapes (precedence, predicates, calls,
 * lookups), soft and reserved keywords, error recovery, the nesting limit,
 * imports (files written to a temporary directory) and the node kinds of
 * every declaration.
 */
#include "config.h"
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkdtemp */
#endif

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* Parses "rule r on e when COND route d" and returns the tree of COND. */
static struct rl_node *
cond(struct tu_parse *t, const char *c)
{
	char buf[8192];
	struct rl_node *w;

	snprintf(buf, sizeof buf, "rule r on e when %s route d", c);
	tu_parse(t, buf);
	w = tu_find(t, RL_N_WHEN, 0);
	return w ? w->a : NULL;
}

/* Asserts that COND parses cleanly. */
static struct rl_node *
cond_ok(struct tu_parse *t, const char *c)
{
	struct rl_node *n = cond(t, c);

	ck_assert_msg(t->diag.nerrors == 0, "'%s':\n%s", c, t->diags);
	ck_assert_ptr_nonnull(n);
	return n;
}

static void
is_path(const struct rl_node *n, const char *name)
{
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->kind, RL_N_PATH);
	ck_assert_str_eq(n->a->name, name);
}

/* ---- expressions ------------------------------------------------------- */

START_TEST(test_precedence_or_and_not)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "a or b and not c");

	ck_assert_int_eq(n->kind, RL_N_OR);
	is_path(n->a, "a");
	ck_assert_int_eq(n->b->kind, RL_N_AND);
	is_path(n->b->a, "b");
	ck_assert_int_eq(n->b->b->kind, RL_N_NOT);
	is_path(n->b->b->a, "c");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_and_or_left_associative)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "a or b or c");

	ck_assert_int_eq(n->kind, RL_N_OR);
	ck_assert_int_eq(n->a->kind, RL_N_OR);
	is_path(n->b, "c");
	tu_parse_free(&t);
	n = cond_ok(&t, "(a or b) and c");
	ck_assert_int_eq(n->kind, RL_N_AND);
	ck_assert_int_eq(n->a->kind, RL_N_OR);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_not_applies_to_whole_predicate)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "not a == 1");

	ck_assert_int_eq(n->kind, RL_N_NOT);
	ck_assert_int_eq(n->a->kind, RL_N_CMP);
	ck_assert_int_eq(n->a->op, RL_EQ);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_arithmetic_precedence)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "a + 1 > b * 2");

	ck_assert_int_eq(n->kind, RL_N_CMP);
	ck_assert_int_eq(n->op, RL_GT);
	ck_assert_int_eq(n->a->kind, RL_N_ARITH);
	ck_assert_int_eq(n->a->op, '+');
	ck_assert_int_eq(n->b->kind, RL_N_ARITH);
	ck_assert_int_eq(n->b->op, '*');
	tu_parse_free(&t);
	/* left associative: (a - b) - c, (a / b) % c */
	n = cond_ok(&t, "a - b - c == a / b % c");
	ck_assert_int_eq(n->a->op, '-');
	ck_assert_int_eq(n->a->a->op, '-');
	is_path(n->a->b, "c");
	ck_assert_int_eq(n->b->op, '%');
	ck_assert_int_eq(n->b->a->op, '/');
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_unary_minus_binds_tightest)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "-a * 2 == - - 3");

	ck_assert_int_eq(n->a->kind, RL_N_ARITH);
	ck_assert_int_eq(n->a->a->kind, RL_N_NEG);
	ck_assert_int_eq(n->b->kind, RL_N_NEG);
	ck_assert_int_eq(n->b->a->kind, RL_N_NEG);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_comparisons_do_not_chain)
{
	static const char *const bad[] = { "a < b < c", "a == b == c", "a == 1 exists",
		"a in [1] == true", "a prefix \"x\" prefix \"y\"" };
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tu_parse t;

		cond(&t, bad[i]);
		ck_assert_msg(t.diag.counts[RL_E_SYNTAX] == 1, "'%s':\n%s", bad[i], t.diags);
		tu_parse_free(&t);
	}
}
END_TEST

START_TEST(test_all_comparison_operators)
{
	static const struct { const char *op; int code; } ops[] = {
		{ "==", RL_EQ }, { "!=", RL_NE }, { "<", RL_LT }, { "<=", RL_LE }, { ">", RL_GT },
		{ ">=", RL_GE }, { "ieq", RL_IEQ }, { "ine", RL_INE },
	};
	size_t i;

	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		struct tu_parse t;
		char c[64];
		struct rl_node *n;

		snprintf(c, sizeof c, "a %s b", ops[i].op);
		n = cond_ok(&t, c);
		ck_assert_int_eq(n->kind, RL_N_CMP);
		ck_assert_int_eq(n->op, ops[i].code);
		tu_parse_free(&t);
	}
}
END_TEST

START_TEST(test_string_operators)
{
	static const struct { const char *op; int code; } ops[] = {
		{ "prefix", RL_PREFIX }, { "suffix", RL_SUFFIX }, { "contains", RL_CONTAINS },
		{ "iprefix", RL_IPREFIX }, { "isuffix", RL_ISUFFIX }, { "icontains", RL_ICONTAINS },
		{ "like", RL_LIKE }, { "ilike", RL_ILIKE }, { "matches", RL_MATCHES },
		{ "imatches", RL_IMATCHES },
	};
	size_t i;

	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		struct tu_parse t;
		char c[64];
		struct rl_node *n;

		snprintf(c, sizeof c, "a %s \"x\"", ops[i].op);
		n = cond_ok(&t, c);
		ck_assert_int_eq(n->kind, RL_N_STROP);
		ck_assert_int_eq(n->op, ops[i].code);
		tu_parse_free(&t);
	}
}
END_TEST

START_TEST(test_range_inclusive_and_exclusive)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "a in 1..5");

	ck_assert_int_eq(n->kind, RL_N_RANGE);
	ck_assert_int_eq(n->flag, 0);
	is_path(n->a, "a");
	ck_assert_double_eq(n->b->v->num, 1);
	ck_assert_double_eq(n->c->v->num, 5);
	tu_parse_free(&t);
	n = cond_ok(&t, "a in 1..<5");
	ck_assert_int_eq(n->kind, RL_N_RANGE);
	ck_assert_int_eq(n->flag, 1);
	tu_parse_free(&t);
	n = cond_ok(&t, "a in -20..-5");
	ck_assert_int_eq(n->kind, RL_N_RANGE);
	ck_assert_int_eq(n->b->kind, RL_N_NEG);
	ck_assert_int_eq(n->c->kind, RL_N_NEG);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_in_and_not_in_lists)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "a in [\"x\", \"y\",]");

	ck_assert_int_eq(n->kind, RL_N_IN);
	ck_assert_int_eq(n->flag, 0);
	ck_assert_int_eq(n->b->kind, RL_N_LIST);
	ck_assert_uint_eq(rl_list_len(n->b->a), 2);
	tu_parse_free(&t);
	n = cond_ok(&t, "a not in [1, 2, 3]");
	ck_assert_int_eq(n->kind, RL_N_IN);
	ck_assert_int_eq(n->flag, 1);
	ck_assert_uint_eq(rl_list_len(n->b->a), 3);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_in_single_literal)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "code in 404");

	ck_assert_int_eq(n->kind, RL_N_IN);
	ck_assert_int_eq(n->b->kind, RL_N_LIST);
	ck_assert_uint_eq(rl_list_len(n->b->a), 1);
	ck_assert_double_eq(n->b->a->v->num, 404);
	tu_parse_free(&t);
	n = cond_ok(&t, "ip not in 10.0.0.0/8");
	ck_assert_int_eq(n->flag, 1);
	ck_assert_int_eq(n->b->a->v->kind, RL_V_CIDR);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_postfix_exists_missing)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "a.b exists and c missing");

	ck_assert_int_eq(n->kind, RL_N_AND);
	ck_assert_int_eq(n->a->kind, RL_N_EXISTS);
	ck_assert_int_eq(n->a->flag, 0);
	ck_assert_uint_eq(rl_list_len(n->a->a->a), 2);
	ck_assert_int_eq(n->b->kind, RL_N_EXISTS);
	ck_assert_int_eq(n->b->flag, 1);
	tu_parse_free(&t);
	n = cond_ok(&t, "tier[id] missing");
	ck_assert_int_eq(n->kind, RL_N_EXISTS);
	ck_assert_int_eq(n->a->kind, RL_N_INDEX);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_calls_and_lookups)
{
	struct tu_parse t;
	struct rl_node *n = cond_ok(&t, "len(lower(s)) > 3 and tier[customer.id] == \"pro\" and count() >= 2");
	struct rl_node *call;

	call = tu_find(&t, RL_N_CALL, 0);
	ck_assert_str_eq(call->name, "len");
	ck_assert_uint_eq(rl_list_len(call->a), 1);
	ck_assert_int_eq(call->a->kind, RL_N_CALL);
	ck_assert_str_eq(call->a->name, "lower");
	call = tu_find(&t, RL_N_CALL, 2);
	ck_assert_str_eq(call->name, "count");
	ck_assert_ptr_null(call->a);
	call = tu_find(&t, RL_N_INDEX, 0);
	ck_assert_str_eq(call->name, "tier");
	ck_assert_int_eq(call->a->kind, RL_N_PATH);
	ck_assert_uint_eq(rl_list_len(call->a->a), 2);
	(void)n;
	tu_parse_free(&t);
	n = cond_ok(&t, "f(a, b + 1, \"c\") == 1");
	ck_assert_uint_eq(rl_list_len(n->a->a), 3);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_soft_keywords_as_field_names)
{
	struct tu_parse t;
	struct rl_node *p;

	tu_parse(&t,
		"event e v1 { priority: string, route: string, set: number, from?: string, queue: bool }\n"
		"rule r on e when priority == \"high\" and route != \"x\" and set > 1 and from exists\n"
		"  set priority = \"low\", set = 2 route d\n"
		"test \"t\" { send e { priority: \"a\", route: \"b\", set: 1, queue: true } expect set set = 2 }");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	p = tu_find(&t, RL_N_CFIELD, 0);
	ck_assert_str_eq(p->name, "priority");
	ck_assert_str_eq(tu_find(&t, RL_N_CFIELD, 2)->name, "set");
	ck_assert_int_eq(tu_find(&t, RL_N_CFIELD, 3)->flag, 1);
	is_path(tu_find(&t, RL_N_PATH, 0), "priority");
	is_path(tu_find(&t, RL_N_PATH, 1), "route");
	is_path(tu_find(&t, RL_N_PATH, 2), "set");
	is_path(tu_find(&t, RL_N_PATH, 3), "from");
	p = tu_find(&t, RL_N_ASSIGN, 1);
	is_path(p->a, "set");
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_MEMBER), 4);
	p = tu_find(&t, RL_N_EXPECT, 0);
	ck_assert_int_eq(p->op, RL_X_SET);
	is_path(p->a, "set");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_soft_keywords_as_declaration_names)
{
	struct tu_parse t;

	tu_parse(&t, "destination queue { priority 1 }\nevent route.set v1 { x: number }\n"
		"rule from on route.set route queue");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_str_eq(tu_find(&t, RL_N_DEST, 0)->name, "queue");
	ck_assert_str_eq(tu_find(&t, RL_N_RULE, 0)->name, "from");
	ck_assert_str_eq(tu_find(&t, RL_N_EVENT, 0)->a->a->name, "route");
	ck_assert_str_eq(tu_find(&t, RL_N_EVENT, 0)->a->a->next->name, "set");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_reserved_words_rejected_as_names)
{
	static const char *const bad[] = {
		"event e v1 { in: string }",
		"event e v1 { event: string }",
		"destination true",
		"rule and on e route d",
		"rule r on e when contains == 1 route d",
		"rule r on e when x == 1 route null",
		"event e v1 { import: string }",
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tu_parse t;

		tu_parse(&t, bad[i]);
		ck_assert_msg(t.diag.counts[RL_E_SYNTAX] >= 1, "'%s' accepted:\n%s", bad[i], t.ast);
		tu_parse_free(&t);
	}
}
END_TEST

START_TEST(test_call_name_must_be_identifier)
{
	struct tu_parse t;

	/* a contextual keyword cannot name a function or a table */
	cond(&t, "queue[id] == 1");
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] >= 1, "%s", t.ast);
	tu_parse_free(&t);
	cond(&t, "`queue`[id] == 1");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_str_eq(tu_find(&t, RL_N_INDEX, 0)->name, "queue");
	tu_parse_free(&t);
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

START_TEST(test_error_recovery_reports_each_error)
{
	struct tu_parse t;

	tu_parse(&t,
		"event e v1 { x: number }\n"
		"rule a on e when x > > 1 route d\n"         /* 1: missing operand */
		"destination ok1\n"
		"rule b on e when (x > 1 route d\n"        /* 2: unclosed paren */
		"destination ok2\n"
		"event f v1 { y number }\n"                /* 3: missing ':' */
		"rule c on e route ok1, ok2\n");
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] == 3, "expected 3 E_SYNTAX:\n%s", t.diags);
	ck_assert_uint_eq(t.diag.nerrors, 3);
	/* the valid declarations between the errors are kept */
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_DEST), 2);
	ck_assert_str_eq(tu_find(&t, RL_N_RULE, tu_count_kind(&t, RL_N_RULE) - 1)->name, "c");
	ck_assert_uint_eq(rl_list_len(tu_find(&t, RL_N_RULE, tu_count_kind(&t, RL_N_RULE) - 1)->c->a), 2);
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":2:22: error: syntax error"));
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":4:25: error: syntax error"));
	ck_assert_ptr_nonnull(strstr(t.diags, TU_NAME ":6:16: error: syntax error"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_syntax_error_message_names_tokens)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e when x == 1 route");
	ck_assert_uint_eq(t.diag.counts[RL_E_SYNTAX], 1);
	ck_assert_ptr_nonnull(strstr(t.diags, "unexpected end of file"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_wildcard_may_start_pattern)
{
	struct tu_parse t;

	/* `*.created`: any one first segment, then "created" */
	tu_parse(&t, "rule r on *.created route d");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.ast, "(name *)"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_trailing_comma_in_route_rejected)
{
	struct tu_parse t;

	tu_parse(&t, "rule r on e route a, b,\n");
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] == 1, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_empty_source)
{
	struct tu_parse t;

	tu_parse(&t, "");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	ck_assert_ptr_null(t.prog.decls.head);
	tu_parse_free(&t);
	tu_parse(&t, "  # only a comment\n\n");
	ck_assert_uint_eq(t.diag.nerrors, 0);
	ck_assert_ptr_null(t.prog.decls.head);
	tu_parse_free(&t);
}
END_TEST

/* Builds "rule r on e when " + n x open + core + n x close + " route d". */
static char *
nested(unsigned n, const char *open, const char *core, const char *close)
{
	size_t lo = strlen(open), lc = strlen(close), len = 64 + n * (lo + lc) + strlen(core);
	char *s = malloc(len), *p = s;
	unsigned i;

	ck_assert_ptr_nonnull(s);
	p += sprintf(p, "rule r on e when ");
	for (i = 0; i < n; i++, p += lo)
		memcpy(p, open, lo);
	p += sprintf(p, "%s", core);
	for (i = 0; i < n; i++, p += lc)
		memcpy(p, close, lc);
	sprintf(p, " route d");
	return s;
}

START_TEST(test_too_deep_1100_nested_parentheses)
{
	struct tu_parse t;
	struct tu_result r;
	char *src = nested(1100, "(x == 1 or ", "y", ")");

	tu_parse(&t, src);
	ck_assert_msg(t.diag.counts[RL_E_TOO_DEEP] == 1, "%s", t.diags);
	ck_assert_uint_eq(t.diag.counts[RL_E_SYNTAX], 0);
	ck_assert_ptr_nonnull(strstr(t.diags, "limit 1000"));
	tu_parse_free(&t);
	/* the whole pipeline stops cleanly on it */
	tu_compile(&r, src);
	ck_assert_int_eq(r.rc, RC_EXIT_RULES);
	TU_HAS_N(&r, E_TOO_DEEP, 1);
	tu_free(&r);
	free(src);
}
END_TEST

START_TEST(test_depth_just_under_limit_accepted)
{
	struct tu_parse t;
	char *src = nested(990, "(x == 1 or ", "y", ")");

	tu_parse(&t, src);
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	tu_parse_free(&t);
	free(src);
}
END_TEST

START_TEST(test_too_deep_not_and_minus_chains)
{
	struct tu_parse t;
	char *src = nested(1200, "not ", "x", "");

	tu_parse(&t, src);
	ck_assert_msg(t.diag.counts[RL_E_TOO_DEEP] == 1, "%s", t.diags);
	tu_parse_free(&t);
	free(src);
	src = nested(1200, "-", "1 == x", "");
	tu_parse(&t, src);
	ck_assert_msg(t.diag.counts[RL_E_TOO_DEEP] == 1, "%s", t.diags);
	tu_parse_free(&t);
	free(src);
}
END_TEST

START_TEST(test_too_deep_nested_objects)
{
	struct tu_result r;
	char *src, *p;
	unsigned i;

	src = malloc(1100 * 8 + 256);
	ck_assert_ptr_nonnull(src);
	p = src + sprintf(src, "event e v1 { o: any }\ntest \"deep\" { send e { o: ");
	for (i = 0; i < 1100; i++)
		p += sprintf(p, "{ a: ");
	p += sprintf(p, "1");
	for (i = 0; i < 1100; i++)
		p += sprintf(p, " }");
	sprintf(p, " } }");
	tu_check(&r, src);
	ck_assert_int_eq(r.rc, RC_EXIT_RULES);
	TU_HAS_N(&r, E_TOO_DEEP, 1);
	tu_free(&r);
	free(src);
}
END_TEST

START_TEST(test_many_redundant_parentheses_do_not_crash)
{
	struct tu_parse t;
	char *src = nested(3000, "(", "x == 1", ")");

	/* parentheses add no tree depth; a very deep stack either parses or
	   reports a syntax error (parser stack exhausted), never crashes */
	tu_parse(&t, src);
	ck_assert_uint_eq(t.diag.counts[RL_E_TOO_DEEP] + t.diag.counts[RL_E_SYNTAX] <= 1, 1);
	ck_assert_uint_eq(t.diag.nerrors == 0 || t.diag.counts[RL_E_SYNTAX] == 1, 1);
	tu_parse_free(&t);
	free(src);
}
END_TEST

/* ---- imports ---------------------------------------------------------- */

static char tmpdir[256];

static void
imports_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "%s/routec-parser-XXXXXX",
		getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
imports_teardown(void)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes text to tmpdir/rel, creating its directory. */
static void
write_file(const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;
	char *slash;

	snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
	*slash = '/';
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Parses tmpdir/rel with rl_parse_path into *t (like tu_parse). */
static int
parse_path(struct tu_parse *t, const char *rel)
{
	char path[512];
	int rc;
	size_t alen = 0;
	FILE *af;

	memset(t, 0, sizeof *t);
	ru_arena_init(&t->arena);
	t->out = open_memstream(&t->diags, &t->diags_len);
	rl_diag_init(&t->diag, NULL, t->out);
	t->diag.max_errors = 0;
	rl_program_init(&t->prog, &t->arena, &t->diag);
	snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
	rc = rl_parse_path(&t->prog, path);
	fflush(t->out);
	af = open_memstream(&t->ast, &alen);
	rl_ast_print(af, t->prog.decls.head, 0);
	fclose(af);
	return rc;
}

START_TEST(test_import_relative_path_first)
{
	struct tu_parse t;
	struct rl_node *d;

	write_file("contracts/orders.route", "event order.created v1 { total: number }\n");
	write_file("main.route", "import \"contracts/orders.route\"\n"
		"destination d\nrule r on order.created route d\n");
	ck_assert_int_eq(parse_path(&t, "main.route"), 0);
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_uint_eq(t.prog.src.files.n, 2);
	/* the imported declarations come first */
	d = t.prog.decls.head;
	ck_assert_int_eq(d->kind, RL_N_EVENT);
	ck_assert_int_eq(d->next->kind, RL_N_IMPORT);
	ck_assert_str_eq(d->next->str, "contracts/orders.route");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_import_relative_to_importing_file)
{
	struct tu_parse t;

	write_file("a/b.route", "import \"../c/d.route\"\ndestination from_b\n");
	write_file("c/d.route", "destination from_d\n");
	write_file("main.route", "import \"a/b.route\"\n");
	ck_assert_int_eq(parse_path(&t, "main.route"), 0);
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_DEST), 2);
	ck_assert_str_eq(tu_find(&t, RL_N_DEST, 0)->name, "from_d");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_import_cycle_terminates)
{
	struct tu_parse t;

	write_file("a.route", "import \"b.route\"\ndestination da\n");
	write_file("b.route", "import \"a.route\"\ndestination db\n");
	ck_assert_int_eq(parse_path(&t, "a.route"), 0);
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_uint_eq(t.prog.src.files.n, 2);
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_DEST), 2);
	ck_assert_str_eq(tu_find(&t, RL_N_DEST, 0)->name, "db");
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_import_same_file_once)
{
	struct tu_parse t;

	write_file("c.route", "destination shared\n");
	write_file("main.route", "import \"c.route\"\nimport \"./c.route\"\nimport \"sub/../c.route\"\n");
	write_file("sub/x.route", "");
	ck_assert_int_eq(parse_path(&t, "main.route"), 0);
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_uint_eq(tu_count_kind(&t, RL_N_DEST), 1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_import_missing_file)
{
	struct tu_parse t;

	write_file("main.route", "destination d\nimport \"nope.route\"\n");
	ck_assert_int_eq(parse_path(&t, "main.route"), 0);
	ck_assert_msg(t.diag.counts[RL_E_IMPORT] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, "main.route:2:1: error: cannot import 'nope.route': "
		"No such file or directory"));
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_parse_path_unreadable)
{
	struct tu_parse t;

	ck_assert_int_eq(parse_path(&t, "does-not-exist.route"), -1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_import_syntax_error_reported_in_imported_file)
{
	struct tu_parse t;

	write_file("bad.route", "destination\n");
	write_file("main.route", "import \"bad.route\"\ndestination d\n");
	ck_assert_int_eq(parse_path(&t, "main.route"), 0);
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] == 1, "%s", t.diags);
	ck_assert_ptr_nonnull(strstr(t.diags, "bad.route:1:12: error: syntax error, unexpected end of file"));
	tu_parse_free(&t);
}
END_TEST

/* ---- declarations --------------------------------------------------------- */

START_TEST(test_event_declaration)
{
	struct tu_parse t;
	struct rl_node *ev, *f;

	tu_parse(&t, "event a.b.c v2 { s: string, o?: number\n"
		"  e: \"x\" | \"y\" | \"z\", arr: [[number]], obj: { inner?: bool, }, }");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ev = t.prog.decls.head;
	ck_assert_int_eq(ev->kind, RL_N_EVENT);
	ck_assert_uint_eq(ev->num, 2);
	ck_assert_int_eq(ev->a->kind, RL_N_PATTERN);
	ck_assert_uint_eq(rl_list_len(ev->a->a), 3);
	f = ev->b;
	ck_assert_uint_eq(rl_list_len(f), 5);
	ck_assert_int_eq(f->kind, RL_N_CFIELD);
	ck_assert_int_eq(f->a->kind, RL_N_TNAME);
	ck_assert_str_eq(f->a->name, "string");
	ck_assert_int_eq(f->next->flag, 1);
	f = f->next->next;
	ck_assert_int_eq(f->a->kind, RL_N_TENUM);
	ck_assert_uint_eq(rl_list_len(f->a->a), 3);
	f = f->next;
	ck_assert_int_eq(f->a->kind, RL_N_TARRAY);
	ck_assert_int_eq(f->a->a->kind, RL_N_TARRAY);
	f = f->next;
	ck_assert_int_eq(f->a->kind, RL_N_TOBJECT);
	ck_assert_int_eq(f->a->a->flag, 1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_event_requires_version)
{
	struct tu_parse t;

	tu_parse(&t, "event a.b { s: string }");
	ck_assert_msg(t.diag.counts[RL_E_SYNTAX] == 1, "%s", t.diags);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_destination_policies)
{
	struct tu_parse t;
	struct rl_node *d, *p;

	tu_parse(&t, "destination x { priority 1; workers 2, queue 3 retry 4 backoff 1s..2s\n"
		"max_age 1h timeout 5s dead_letter dlq batch every 1m or 100 throttle 5 per 1s }\n"
		"destination y { batch 10 } destination z");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	d = tu_find(&t, RL_N_DEST, 0);
	ck_assert_str_eq(d->name, "x");
	ck_assert_uint_eq(rl_list_len(d->a), 9);
	p = d->a;
	ck_assert_int_eq(p->kind, RL_N_POLICY);
	ck_assert_int_eq(p->op, RL_P_PRIORITY);
	p = p->next->next->next;
	ck_assert_int_eq(p->op, RL_P_RETRY);
	ck_assert_uint_eq(p->b->v->ms, 1000);
	ck_assert_uint_eq(p->c->v->ms, 2000);
	p = p->next->next->next;
	ck_assert_int_eq(p->op, RL_P_DEAD_LETTER);
	ck_assert_str_eq(p->a->name, "dlq");
	p = p->next;
	ck_assert_int_eq(p->op, RL_P_BATCH);
	ck_assert_uint_eq(p->a->v->ms, 60000);
	ck_assert_double_eq(p->b->v->num, 100);
	ck_assert_int_eq(p->next->op, RL_P_THROTTLE);
	d = tu_find(&t, RL_N_DEST, 1);
	ck_assert_ptr_null(d->a->a);
	ck_assert_double_eq(d->a->b->v->num, 10);
	ck_assert_ptr_null(tu_find(&t, RL_N_DEST, 2)->a);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_table_declaration)
{
	struct tu_parse t;
	struct rl_node *tb;

	tu_parse(&t, "table tier: \"free\" | \"pro\" by customer_id from customer.changed v1 set tier\n"
		"  delete on customer.deleted ttl 400d max_keys 2000");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	tb = t.prog.decls.head;
	ck_assert_int_eq(tb->kind, RL_N_TABLE);
	ck_assert_str_eq(tb->name, "tier");
	ck_assert_int_eq(tb->a->kind, RL_N_TENUM);
	is_path(tb->b, "customer_id");
	ck_assert_int_eq(tb->c->kind, RL_N_PATTERN);
	ck_assert_uint_eq(tb->c->num, 1);
	is_path(tb->x, "tier");
	ck_assert_uint_eq(rl_list_len(tb->y), 3);
	ck_assert_int_eq(tb->y->op, RL_P_DELETE_ON);
	ck_assert_int_eq(tb->y->next->op, RL_P_TTL);
	ck_assert_int_eq(tb->y->next->next->op, RL_P_MAX_KEYS);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_rule_declaration_and_patterns)
{
	struct tu_parse t;
	struct rl_node *r, *p;

	tu_parse(&t, "rule r on a.b v2, c.*, d.*.e, * as ev when x == 1 route p, q set y = 2, z = 3\n"
		"  emit f.g v1 { k: x, o: { i: 1 }, l: [1, 2] }");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	r = t.prog.decls.head;
	ck_assert_int_eq(r->kind, RL_N_RULE);
	ck_assert_str_eq(r->name, "r");
	ck_assert_uint_eq(rl_list_len(r->a), 4);
	p = r->a;
	ck_assert_uint_eq(p->num, 2);
	ck_assert_str_eq(p->next->a->next->name, "*");
	ck_assert_str_eq(p->next->next->a->next->name, "*");
	ck_assert_str_eq(p->next->next->next->a->name, "*");
	ck_assert_str_eq(r->b->name, "ev");
	p = r->c;
	ck_assert_int_eq(p->kind, RL_N_WHEN);
	ck_assert_int_eq(p->next->kind, RL_N_ROUTE);
	ck_assert_uint_eq(rl_list_len(p->next->a), 2);
	ck_assert_int_eq(p->next->next->kind, RL_N_SET);
	ck_assert_uint_eq(rl_list_len(p->next->next->a), 2);
	p = p->next->next->next;
	ck_assert_int_eq(p->kind, RL_N_EMIT);
	ck_assert_uint_eq(p->a->num, 1);
	ck_assert_int_eq(p->b->kind, RL_N_OBJECT);
	ck_assert_int_eq(p->b->a->next->a->kind, RL_N_OBJECT);
	ck_assert_int_eq(p->b->a->next->next->a->kind, RL_N_LIST);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_temporal_rule_items)
{
	struct tu_parse t;
	struct rl_node *it;

	tu_parse(&t, "rule r on a as s when count() > 3 within 10m every 1h by k, @source\n"
		"  then b as x where x.k == s.k unless c throttle 5 per 1s else route z\n"
		"  dedup by id within 1h backpressure otherwise");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	it = t.prog.decls.head->c;
	ck_assert_int_eq(it->kind, RL_N_WHEN);
	it = it->next;
	ck_assert_int_eq(it->kind, RL_N_WITHIN);
	ck_assert_uint_eq(it->a->v->ms, 600000);
	ck_assert_int_eq((it = it->next)->kind, RL_N_EVERY);
	ck_assert_int_eq((it = it->next)->kind, RL_N_BY);
	ck_assert_uint_eq(rl_list_len(it->a), 2);
	ck_assert_int_eq(it->a->next->flag, 1);
	ck_assert_int_eq((it = it->next)->kind, RL_N_THEN);
	ck_assert_str_eq(it->b->name, "x");
	ck_assert_int_eq(it->c->kind, RL_N_CMP);
	ck_assert_int_eq((it = it->next)->kind, RL_N_UNLESS);
	ck_assert_ptr_null(it->b);
	ck_assert_ptr_null(it->c);
	ck_assert_int_eq((it = it->next)->kind, RL_N_THROTTLE);
	ck_assert_int_eq(it->c->kind, RL_N_ROUTE);
	ck_assert_int_eq((it = it->next)->kind, RL_N_DEDUP);
	ck_assert_int_eq(it->a->kind, RL_N_BY);
	ck_assert_int_eq((it = it->next)->kind, RL_N_BACKPRESSURE);
	ck_assert_int_eq((it = it->next)->kind, RL_N_OTHERWISE);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_test_declaration_steps)
{
	struct tu_parse t;
	struct rl_node *st;

	tu_parse(&t, "test \"title\" {\n send a.b v1 { x: 1, y: [\"a\"], z: { w: null } }\n advance 5m\n"
		" expect routed p, q\n expect not routed r\n expect only routed s\n"
		" expect set x = -1\n expect emitted c { k: 1 }\n expect emitted c\n expect dropped }");
	ck_assert_msg(t.diag.nerrors == 0, "%s", t.diags);
	ck_assert_int_eq(t.prog.decls.head->kind, RL_N_TEST);
	ck_assert_str_eq(t.prog.decls.head->str, "title");
	st = t.prog.decls.head->a;
	ck_assert_uint_eq(rl_list_len(st), 9);
	ck_assert_int_eq(st->kind, RL_N_SEND);
	ck_assert_uint_eq(st->a->num, 1);
	ck_assert_int_eq((st = st->next)->kind, RL_N_ADVANCE);
	ck_assert_int_eq((st = st->next)->op, RL_X_ROUTED);
	ck_assert_uint_eq(rl_list_len(st->a), 2);
	ck_assert_int_eq((st = st->next)->op, RL_X_NOT_ROUTED);
	ck_assert_int_eq((st = st->next)->op, RL_X_ONLY_ROUTED);
	ck_assert_int_eq((st = st->next)->op, RL_X_SET);
	ck_assert_int_eq(st->b->kind, RL_N_NEG);
	ck_assert_int_eq((st = st->next)->op, RL_X_EMITTED);
	ck_assert_ptr_nonnull(st->b);
	ck_assert_int_eq((st = st->next)->op, RL_X_EMITTED);
	ck_assert_ptr_null(st->b);
	ck_assert_int_eq((st = st->next)->op, RL_X_DROPPED);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_import_declaration_node)
{
	struct tu_parse t;

	/* a missing import is an E_IMPORT, but the node is still produced */
	tu_parse(&t, "import \"x/y.route\"");
	ck_assert_int_eq(t.prog.decls.head->kind, RL_N_IMPORT);
	ck_assert_str_eq(t.prog.decls.head->str, "x/y.route");
	ck_assert_uint_eq(t.diag.counts[RL_E_IMPORT], 1);
	tu_parse_free(&t);
}
END_TEST

START_TEST(test_ast_print_shape)
{
	struct tu_parse t;

	cond_ok(&t, "a > 1 and s prefix \"x\"");
	ck_assert_ptr_nonnull(strstr(t.ast, "(rule r\n"));
	ck_assert_ptr_nonnull(strstr(t.ast, "(cmp >\n"));
	ck_assert_ptr_nonnull(strstr(t.ast, "(strop prefix\n"));
	ck_assert_ptr_nonnull(strstr(t.ast, "(lit \"x\")"));
	tu_parse_free(&t);
}
END_TEST

static Suite *
parser_suite(void)
{
	Suite *s = suite_create("parser");
	TCase *tc = tcase_create("expressions");

	tcase_add_test(tc, test_precedence_or_and_not);
	tcase_add_test(tc, test_and_or_left_associative);
	tcase_add_test(tc, test_not_applies_to_whole_predicate);
	tcase_add_test(tc, test_arithmetic_precedence);
	tcase_add_test(tc, test_unary_minus_binds_tightest);
	tcase_add_test(tc, test_comparisons_do_not_chain);
	tcase_add_test(tc, test_all_comparison_operators);
	tcase_add_test(tc, test_string_operators);
	tcase_add_test(tc, test_range_inclusive_and_exclusive);
	tcase_add_test(tc, test_in_and_not_in_lists);
	tcase_add_test(tc, test_in_single_literal);
	tcase_add_test(tc, test_postfix_exists_missing);
	tcase_add_test(tc, test_calls_and_lookups);
	tcase_add_test(tc, test_ast_print_shape);
	suite_add_tcase(s, tc);

	tc = tcase_create("keywords");
	tcase_add_test(tc, test_soft_keywords_as_field_names);
	tcase_add_test(tc, test_soft_keywords_as_declaration_names);
	tcase_add_test(tc, test_reserved_words_rejected_as_names);
	tcase_add_test(tc, test_call_name_must_be_identifier);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_error_recovery_reports_each_error);
	tcase_add_test(tc, test_syntax_error_message_names_tokens);
	tcase_add_test(tc, test_wildcard_may_start_pattern);
	tcase_add_test(tc, test_trailing_comma_in_route_rejected);
	tcase_add_test(tc, test_empty_source);
	tcase_add_test(tc, test_too_deep_1100_nested_parentheses);
	tcase_add_test(tc, test_depth_just_under_limit_accepted);
	tcase_add_test(tc, test_too_deep_not_and_minus_chains);
	tcase_add_test(tc, test_too_deep_nested_objects);
	tcase_add_test(tc, test_many_redundant_parentheses_do_not_crash);
	suite_add_tcase(s, tc);

	tc = tcase_create("imports");
	tcase_add_checked_fixture(tc, imports_setup, imports_teardown);
	tcase_add_test(tc, test_import_relative_path_first);
	tcase_add_test(tc, test_import_relative_to_importing_file);
	tcase_add_test(tc, test_import_cycle_terminates);
	tcase_add_test(tc, test_import_same_file_once);
	tcase_add_test(tc, test_import_missing_file);
	tcase_add_test(tc, test_parse_path_unreadable);
	tcase_add_test(tc, test_import_syntax_error_reported_in_imported_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("declarations");
	tcase_add_test(tc, test_event_declaration);
	tcase_add_test(tc, test_event_requires_version);
	tcase_add_test(tc, test_destination_policies);
	tcase_add_test(tc, test_table_declaration);
	tcase_add_test(tc, test_rule_declaration_and_patterns);
	tcase_add_test(tc, test_temporal_rule_items);
	tcase_add_test(tc, test_test_declaration_steps);
	tcase_add_test(tc, test_import_declaration_node);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(parser_suite());
}
