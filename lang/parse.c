/*
 * parse.c -- the parser driver and the constructors the grammar calls.
 *
 * Owns the order of declarations across files: a file's imports are parsed
 * (once each, by canonical path) before the file's own declarations are
 * appended, so imported contracts precede the rules that use them.
 */
#include "config.h"
#include "parse.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>

#include "parser.h"

/* flex's reentrant API, declared here to avoid including the scanner header */
typedef void *yyscan_t;
int rl_yylex_init_extra(struct rl_parser *extra, yyscan_t *scanner);
int rl_yylex_destroy(yyscan_t scanner);
struct yy_buffer_state *rl_yy_scan_bytes(const char *bytes, int len, yyscan_t scanner);
int rl_yyparse(void *yyscanner, struct rl_parser *ps);

void
rl_program_init(struct rl_program *p, struct ru_arena *arena, struct rl_diag *diag)
{
	memset(p, 0, sizeof *p);
	p->arena = arena;
	p->diag = diag;
	rl_srcset_init(&p->src, arena);
	diag->src = &p->src;
}

struct rl_node *
rl_mk(struct rl_parser *ps, enum rl_kind kind, struct rl_span span,
	struct rl_node *a, struct rl_node *b, struct rl_node *c)
{
	struct rl_node *n = rl_node_new(ps->arena, kind, span);
	unsigned d = 0;
	const struct rl_node *k;

	n->a = a;
	n->b = b;
	n->c = c;
	/* the height of an expression is 1 + its tallest child (lists count their
	 * tallest); declarations and clauses add nothing, so the limit applies to
	 * what the user wrote as one expression */
	if (kind < RL_N_OR && kind != RL_N_MEMBER) {
		n->depth = 0;
		return n;
	}
	for (k = a; k; k = k->next)
		if (k->depth > d)
			d = k->depth;
	if (b && b->depth > d)
		d = b->depth;
	if (c && c->depth > d)
		d = c->depth;
	n->depth = d + 1;
	if (n->depth > RL_MAX_DEPTH) {
		if (!ps->too_deep)
			rl_diag(ps->diag, RL_E_TOO_DEEP, span, RL_MAX_DEPTH);
		ps->too_deep = 1;
		/* cut the subtree so later passes never recurse past the limit */
		n->a = n->b = n->c = NULL;
		n->depth = 1;
	}
	return n;
}

struct rl_node *
rl_mk_name(struct rl_parser *ps, const char *s, struct rl_span span)
{
	struct rl_node *n = rl_node_new(ps->arena, RL_N_NAME, span);

	n->name = s;
	n->depth = 1;
	return n;
}

struct rl_node *
rl_mk_lit(struct rl_parser *ps, struct rl_value v, struct rl_span span)
{
	struct rl_node *n = rl_node_new(ps->arena, RL_N_LIT, span);

	n->v = ru_arena_alloc(ps->arena, sizeof *n->v);
	*n->v = v;
	n->depth = 1;
	return n;
}

const char *
rl_soft_text(struct rl_parser *ps, struct rl_span span)
{
	return ps->file->text + span.start;
}

void
rl_parser_error(struct rl_parser *ps, struct rl_span span, const char *msg)
{
	struct rl_diag *d = ps->diag;

	/* first error at a position wins */
	if (d->have_last && d->last_file == span.file && d->last_off == span.start)
		return;
	d->have_last = 1;
	d->last_file = span.file;
	d->last_off = span.start;
	rl_diag(d, RL_E_SYNTAX, span, msg);
}

/* Runs the parser over one loaded file; returns its declarations. */
static struct rl_list
parse_file(struct rl_program *p, struct rl_srcfile *f)
{
	struct rl_parser ps;
	yyscan_t scanner;

	memset(&ps, 0, sizeof ps);
	ps.prog = p;
	ps.arena = p->arena;
	ps.diag = p->diag;
	ps.file = f;
	if (f->len > (size_t)INT32_MAX) {
		rl_diag(p->diag, RL_E_TOO_MANY, (struct rl_span){ f->id, 0, 0 }, "bytes in one file", (unsigned)INT32_MAX);
		return ps.decls;
	}
	rl_yylex_init_extra(&ps, &scanner);
	/* a UTF-8 byte-order mark is skipped (offsets still count it) */
	if (f->len >= 3 && memcmp(f->text, "\xef\xbb\xbf", 3) == 0)
		ps.offset = 3;
	rl_yy_scan_bytes(f->text + ps.offset, (int)(f->len - ps.offset), scanner);
	rl_yyparse(scanner, &ps);
	rl_yylex_destroy(scanner);
	return ps.decls;
}

static void load_and_parse(struct rl_program *p, struct rl_srcfile *f);

/* Follows one import: path relative to the importing file's directory. */
static void
follow_import(struct rl_program *p, struct rl_srcfile *from, struct rl_node *imp)
{
	char *dir, *path;
	struct rl_srcfile *f;
	int dup;

	if (imp->str[0] == '/') {
		path = ru_arena_strndup(p->arena, imp->str, strlen(imp->str));
	} else {
		char *copy = ru_arena_strndup(p->arena, from->name, strlen(from->name));

		dir = dirname(copy);
		path = ru_arena_printf(p->arena, "%s/%s", dir, imp->str);
	}
	f = rl_srcset_load(&p->src, path, &dup);
	if (f == NULL) {
		rl_diag(p->diag, RL_E_IMPORT, imp->span, imp->str, strerror(errno));
		return;
	}
	if (!dup)
		load_and_parse(p, f);
}

/* Parses f, then its imports (depth first), then appends f's declarations. */
static void
load_and_parse(struct rl_program *p, struct rl_srcfile *f)
{
	struct rl_list decls = parse_file(p, f);
	struct rl_node *d, *next;

	for (d = decls.head; d; d = d->next)
		if (d->kind == RL_N_IMPORT)
			follow_import(p, f, d);
	for (d = decls.head; d; d = next) {
		next = d->next;
		d->next = NULL;
		p->decls = rl_list_append(p->decls, d);
	}
}

int
rl_parse_path(struct rl_program *p, const char *path)
{
	int dup;
	struct rl_srcfile *f = rl_srcset_load(&p->src, path, &dup);

	if (f == NULL)
		return -1;
	if (!dup)
		load_and_parse(p, f);
	return 0;
}

void
rl_parse_string(struct rl_program *p, const char *name, const char *text, size_t len)
{
	load_and_parse(p, rl_srcset_add(&p->src, name, text, len));
}
