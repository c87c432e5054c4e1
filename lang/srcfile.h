/*
 * srcfile.h -- source files of one compilation and byte-span locations.
 *
 * Every AST node carries a struct rl_span (file id + byte offsets). Line and
 * column are worked out only when a diagnostic is printed, from a table of
 * line starts built once per file (after jqlang/jq:src/locfile.c). Shared by
 * lang/ (lexer, parser, diag) and compiler/ (sema, lower).
 */
#ifndef RL_SRCFILE_H
#define RL_SRCFILE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct rl_span {
	uint32_t file;  /* index in struct rl_srcset */
	uint32_t start; /* first byte */
	uint32_t end;   /* one past the last byte; end == start for a point */
};

struct rl_srcfile {
	const char *name;     /* borrows arena: path as given or resolved */
	const char *text;     /* borrows arena: the contents, NUL-terminated */
	size_t len;
	uint32_t *lines;      /* borrows arena: byte offset of each line start */
	uint32_t nlines;
	uint32_t id;          /* index in the set */
	char *realpath;       /* borrows arena: canonical path, for import dedup */
};

struct rl_srcset {
	struct ru_arena *arena;  /* borrows */
	struct ru_vec files;     /* struct rl_srcfile * */
};

void rl_srcset_init(struct rl_srcset *s, struct ru_arena *arena);

/*
 * Adds a file from memory (text copied into the arena). Returns the file;
 * never NULL.
 */
struct rl_srcfile *rl_srcset_add(struct rl_srcset *s, const char *name,
	const char *text, size_t len);

/*
 * Reads and adds the file at path. Returns NULL and sets errno if it cannot be
 * read. If a file with the same canonical path was added already, returns
 * that one and sets *dup to 1 (dup may be NULL).
 */
struct rl_srcfile *rl_srcset_load(struct rl_srcset *s, const char *path, int *dup);

struct rl_srcfile *rl_srcset_get(const struct rl_srcset *s, uint32_t id);

/* 1-based line and column (in characters) of byte offset off. */
void rl_srcfile_locate(const struct rl_srcfile *f, uint32_t off,
	uint32_t *line, uint32_t *col);

/* The text of 1-based line n without its newline; *len receives the length. */
const char *rl_srcfile_line(const struct rl_srcfile *f, uint32_t n, size_t *len);

#endif
