/*
 * testutil.h -- shared helpers of the compiler unit tests (check_lexer.c,
 * check_parser.c, check_sema.c, check_compile.c).
 *
 * tu_parse() parses a source held in memory with rl_parse_string() and keeps
 * the program (its arena owns the AST) together with the printed tree and the
 * diagnostics, so tests can look at node kinds, literal values and the exact
 * diagnostic IDs. tu_compile() runs a source through rc_compile_string(), the
 * entry point routec uses, with the diagnostics captured in a memory FILE;
 * because the driver does not hand back its per-ID counts, the same source is
 * also run through the same pipeline stages here (parse, sema, analyze, emit)
 * to fill counts[], and the two runs must agree on the error count.
 *
 * Everything is static: each test program includes this header once.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "analyze.h"
#include "ast.h"
#include "bytecode.h"
#include "diag.h"
#include "driver.h"
#include "emit.h"
#include "parse.h"
#include "sema.h"

#define TU_NAME "t.route"

/* ---- parsing ------------------------------------------------------------ */

struct tu_parse {
	struct ru_arena arena;
	struct rl_diag diag;
	struct rl_program prog;
	char *ast;      /* rl_ast_print of every declaration (malloc) */
	char *diags;    /* printed diagnostics (malloc) */
	size_t diags_len;
	FILE *out;
};

/* Parses src (name TU_NAME); fills *t, to be released with tu_parse_free. */
static inline void
tu_parse(struct tu_parse *t, const char *src)
{
	size_t alen = 0;
	FILE *af;

	memset(t, 0, sizeof *t);
	ru_arena_init(&t->arena);
	t->out = open_memstream(&t->diags, &t->diags_len);
	ck_assert_ptr_nonnull(t->out);
	rl_diag_init(&t->diag, NULL, t->out);
	t->diag.max_errors = 0;
	rl_program_init(&t->prog, &t->arena, &t->diag);
	rl_parse_string(&t->prog, TU_NAME, src, strlen(src));
	fflush(t->out);
	af = open_memstream(&t->ast, &alen);
	ck_assert_ptr_nonnull(af);
	rl_ast_print(af, t->prog.decls.head, 0);
	fclose(af);
}

static inline void
tu_parse_free(struct tu_parse *t)
{
	fclose(t->out);
	free(t->diags);
	free(t->ast);
	ru_arena_fini(&t->arena);
}

/* The nth (0-based) node of kind k in preorder (a, b, c, x, y, then next). */
static inline struct rl_node *
tu_find_from(struct rl_node *n, enum rl_kind k, unsigned *nth)
{
	struct rl_node *r;

	for (; n; n = n->next) {
		if (n->kind == k) {
			if (*nth == 0)
				return n;
			(*nth)--;
		}
		if ((r = tu_find_from(n->a, k, nth)) != NULL || (r = tu_find_from(n->b, k, nth)) != NULL
		    || (r = tu_find_from(n->c, k, nth)) != NULL || (r = tu_find_from(n->x, k, nth)) != NULL
		    || (r = tu_find_from(n->y, k, nth)) != NULL)
			return r;
	}
	return NULL;
}

static inline struct rl_node *
tu_find(struct tu_parse *t, enum rl_kind k, unsigned nth)
{
	return tu_find_from(t->prog.decls.head, k, &nth);
}

/* Number of nodes of kind k in the whole program. */
static inline unsigned
tu_count_kind(struct tu_parse *t, enum rl_kind k)
{
	unsigned n = 0;

	while (tu_find(t, k, n) != NULL)
		n++;
	return n;
}

/*
 * Parses "rule r on e when x == EXPR route d" and returns the first literal
 * node of the condition's right side (t must be freed by the caller).
 */
static inline struct rl_node *
tu_parse_lit(struct tu_parse *t, const char *lit)
{
	char buf[4096];

	snprintf(buf, sizeof buf, "rule r on e when x == %s route d", lit);
	tu_parse(t, buf);
	return tu_find(t, RL_N_LIT, 0);
}

/* ---- compiling ------------------------------------------------------------ */

struct tu_result {
	enum rc_exit rc;             /* from rc_compile_string */
	unsigned nerrors, nwarnings; /* from rc_stats */
	unsigned counts[RL_NDIAGS];  /* per diagnostic ID, from the same pipeline */
	char *text;                  /* the printed diagnostics (malloc) */
	size_t len;
	unsigned char *rbc;          /* the image (ru_free), NULL unless rc == OK */
	size_t rbclen;
	struct rc_stats st;
};

/* Runs the pipeline of compiler/driver.c and records the per-ID counts. */
static inline void
tu_counts(const char *src, int opt, int check_only, unsigned counts[RL_NDIAGS], unsigned *nerr)
{
	struct ru_arena arena;
	struct rl_diag diag;
	struct rl_program p;
	struct rc_model m;

	ru_arena_init(&arena);
	rl_diag_init(&diag, NULL, NULL);
	diag.max_errors = 0;
	rl_program_init(&p, &arena, &diag);
	rl_parse_string(&p, TU_NAME, src, strlen(src));
	memset(&m, 0, sizeof m);
	if (diag.nerrors == 0)
		rc_sema_check(&p, &m);
	if (diag.nerrors == 0)
		rc_analyze(&p, &m);
	if (diag.nerrors == 0 && !check_only) {
		unsigned char *out = NULL;
		size_t len = 0;
		struct rc_emit_stats es;

		memset(&es, 0, sizeof es);
		rc_emit(&p, &m, opt, &out, &len, &es);
		ru_free(out);
	}
	memcpy(counts, diag.counts, sizeof diag.counts);
	*nerr = diag.nerrors;
	ru_arena_fini(&arena);
}

static inline void
tu_compile_opt(struct tu_result *r, const char *src, int opt, int check_only)
{
	struct rc_options o;
	FILE *f;
	unsigned nerr = 0;

	memset(r, 0, sizeof *r);
	rc_options_default(&o);
	o.opt = opt;
	o.check_only = check_only;
	o.max_errors = 0;
	f = open_memstream(&r->text, &r->len);
	ck_assert_ptr_nonnull(f);
	o.diag = f;
	r->rc = rc_compile_string(TU_NAME, src, strlen(src), &o, &r->rbc, &r->rbclen, &r->st);
	fclose(f);
	r->nerrors = r->st.nerrors;
	r->nwarnings = r->st.nwarnings;
	tu_counts(src, opt, check_only, r->counts, &nerr);
	ck_assert_msg(nerr == r->nerrors, "pipeline replay found %u errors, driver %u", nerr, r->nerrors);
	if (r->rc != RC_EXIT_OK) {
		ru_free(r->rbc);
		r->rbc = NULL;
	}
}

/* Compiles at -O2. */
static inline void
tu_compile(struct tu_result *r, const char *src)
{
	tu_compile_opt(r, src, 2, 0);
}

/* Checks only (routec check). */
static inline void
tu_check(struct tu_result *r, const char *src)
{
	tu_compile_opt(r, src, 2, 1);
}

static inline void
tu_free(struct tu_result *r)
{
	free(r->text);
	ru_free(r->rbc);
	memset(r, 0, sizeof *r);
}

/* Total number of diagnostics reported (any severity). */
static inline unsigned
tu_ndiags(const struct tu_result *r)
{
	unsigned i, n = 0;

	for (i = 0; i < RL_NDIAGS; i++)
		n += r->counts[i];
	return n;
}

/* Assertion helpers: the diagnostic text is shown on failure. */
#define TU_OK(r) \
	ck_assert_msg((r)->rc == RC_EXIT_OK && (r)->nerrors == 0, \
		"expected success, got rc %d:\n%s", (int)(r)->rc, (r)->text)
#define TU_CLEAN(r) \
	ck_assert_msg((r)->rc == RC_EXIT_OK && tu_ndiags(r) == 0, \
		"expected no diagnostics, got:\n%s", (r)->text)
#define TU_HAS(r, id) \
	ck_assert_msg((r)->counts[RL_##id] > 0, "expected " #id ", got:\n%s", (r)->text)
#define TU_HAS_N(r, id, n) \
	ck_assert_msg((r)->counts[RL_##id] == (n), "expected %u x " #id ", got %u:\n%s", \
		(unsigned)(n), (r)->counts[RL_##id], (r)->text)
#define TU_NOT(r, id) \
	ck_assert_msg((r)->counts[RL_##id] == 0, "unexpected " #id ":\n%s", (r)->text)
#define TU_ONLY(r, id) \
	ck_assert_msg((r)->counts[RL_##id] > 0 && (r)->counts[RL_##id] == tu_ndiags(r) \
		- (r)->counts[RL_N_PREVIOUS], "expected only " #id ", got:\n%s", (r)->text)
#define TU_TEXT(r, s) \
	ck_assert_msg(strstr((r)->text, (s)) != NULL, "expected \"%s\" in:\n%s", (s), (r)->text)

/* Loads a compiled image (the test fails if it does not verify). */
static inline struct rv_prog *
tu_load(const struct tu_result *r)
{
	struct rv_prog *p = NULL;
	char err[256];

	ck_assert_msg(r->rbc != NULL, "no image:\n%s", r->text);
	ck_assert_msg(rv_prog_load(r->rbc, r->rbclen, &p, err, sizeof err) == 0, "load: %s", err);
	return p;
}

/* Runs suite s; returns the process exit status. */
static inline int
tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
