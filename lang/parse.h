/*
 * parse.h -- the parser driver: files, imports, and the parser's state.
 *
 * rl_parse_path() reads a .route file, parses it with the bison parser
 * (parser.y) over the flex scanner (lexer.l), follows its imports (relative
 * to the importing file, each file once, cycles harmless) and appends the
 * declarations to the program in order: a file's imports come before the
 * file's own declarations. Syntax errors are reported and parsing goes on.
 */
#ifndef RL_PARSE_H
#define RL_PARSE_H

#include "ast.h"
#include "diag.h"
#include "srcfile.h"

#define RL_MAX_DEPTH 1000u /* nesting limit for expressions and objects; and/or chains count */

/* A whole compilation's syntax: every file and every declaration. */
struct rl_program {
	struct ru_arena *arena; /* borrows: owns every node */
	struct rl_srcset src;   /* the files, in load order */
	struct rl_diag *diag;   /* borrows */
	struct rl_list decls;   /* all declarations, imports first */
};

/* The state of parsing one file; yyextra of the scanner and %parse-param. */
struct rl_parser {
	struct rl_program *prog;   /* borrows */
	struct ru_arena *arena;    /* borrows: prog->arena */
	struct rl_diag *diag;      /* borrows: prog->diag */
	struct rl_srcfile *file;   /* borrows: the file being parsed */
	struct rl_list decls;      /* this file's declarations */
	uint32_t offset;           /* scanner position (bytes) */
	int too_deep;              /* the depth error was reported for this file */
};

void rl_program_init(struct rl_program *p, struct ru_arena *arena, struct rl_diag *diag);

/*
 * Parses the file at path and its imports. Returns 0 if the file was read
 * (syntax errors are counted in diag), or -1 if it could not be read (errno).
 */
int rl_parse_path(struct rl_program *p, const char *path);

/* Parses source text held in memory (name is used in diagnostics). */
void rl_parse_string(struct rl_program *p, const char *name, const char *text, size_t len);

/*
 * Node constructor used by the grammar's actions: a node of kind with
 * children a, b, c. Tracks the tree depth and reports E_TOO_DEEP once per
 * file past RL_MAX_DEPTH (later passes recurse on the tree, so its depth
 * must be bounded). Never NULL.
 */
struct rl_node *rl_mk(struct rl_parser *ps, enum rl_kind kind, struct rl_span span,
	struct rl_node *a, struct rl_node *b, struct rl_node *c);
/* A NAME node from an identifier token. */
struct rl_node *rl_mk_name(struct rl_parser *ps, const char *s, struct rl_span span);
/* A LIT node holding v. */
struct rl_node *rl_mk_lit(struct rl_parser *ps, struct rl_value v, struct rl_span span);
/* The source text at span in the file being parsed (for soft keywords). */
const char *rl_soft_text(struct rl_parser *ps, struct rl_span span);
/* Reports a syntax error (from bison), first error at a position wins. */
void rl_parser_error(struct rl_parser *ps, struct rl_span span, const char *msg);

#endif
