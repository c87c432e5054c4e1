/*
 * srcfile.c -- source file table and offset -> line:col; see srcfile.h.
 */
#include "config.h"
#include "srcfile.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void
rl_srcset_init(struct rl_srcset *s, struct ru_arena *arena)
{
	memset(s, 0, sizeof *s);
	s->arena = arena;
}

/* Builds the line-start table of f (one pass over the text). */
static void
index_lines(struct ru_arena *a, struct rl_srcfile *f)
{
	uint32_t n = 1, i;
	size_t p;

	for (p = 0; p < f->len; p++)
		if (f->text[p] == '\n')
			n++;
	f->lines = ru_arena_alloc(a, n * sizeof *f->lines);
	f->lines[0] = 0;
	for (p = 0, i = 1; p < f->len; p++)
		if (f->text[p] == '\n')
			f->lines[i++] = (uint32_t)(p + 1);
	f->nlines = n;
}

struct rl_srcfile *
rl_srcset_add(struct rl_srcset *s, const char *name, const char *text, size_t len)
{
	struct rl_srcfile *f = ru_arena_alloc(s->arena, sizeof *f);

	f->name = ru_arena_strndup(s->arena, name, strlen(name));
	f->text = ru_arena_strndup(s->arena, text, len);
	f->len = len;
	f->id = (uint32_t)s->files.n;
	index_lines(s->arena, f);
	*(struct rl_srcfile **)ru_vec_push(s->arena, &s->files, sizeof f) = f;
	return f;
}

struct rl_srcfile *
rl_srcset_load(struct rl_srcset *s, const char *path, int *dup)
{
	char rp[PATH_MAX];
	struct rl_srcfile *f;
	FILE *fp;
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	size_t i;

	if (dup)
		*dup = 0;
	if (realpath(path, rp) == NULL)
		return NULL;
	for (i = 0; i < s->files.n; i++) {
		f = RU_VEC_AT(s->files, struct rl_srcfile *, i);
		if (f->realpath && strcmp(f->realpath, rp) == 0) {
			if (dup)
				*dup = 1;
			return f;
		}
	}
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = ru_xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp) || len > UINT32_MAX - 1) {
		int e = ferror(fp) ? errno : EFBIG;

		fclose(fp);
		ru_free(buf);
		errno = e;
		return NULL;
	}
	fclose(fp);
	f = rl_srcset_add(s, path, buf ? buf : "", len);
	ru_free(buf);
	f->realpath = ru_arena_strndup(s->arena, rp, strlen(rp));
	return f;
}

struct rl_srcfile *
rl_srcset_get(const struct rl_srcset *s, uint32_t id)
{
	if (id >= s->files.n)
		return NULL;
	return RU_VEC_AT(s->files, struct rl_srcfile *, id);
}

void
rl_srcfile_locate(const struct rl_srcfile *f, uint32_t off, uint32_t *line, uint32_t *col)
{
	uint32_t lo = 0, hi = f->nlines;

	/* binary search: the last line start <= off */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (f->lines[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	*line = lo + 1;
	/* columns count characters (UTF-8 sequences), not bytes, as editors do */
	*col = 1;
	/* a byte-order mark is not a column */
	for (uint32_t p = lo == 0 && f->len >= 3 && memcmp(f->text, "\xef\xbb\xbf", 3) == 0 ? 3 : f->lines[lo];
	     p < off && p < f->len; p++)
		if (((unsigned char)f->text[p] & 0xc0) != 0x80)
			(*col)++;
}

const char *
rl_srcfile_line(const struct rl_srcfile *f, uint32_t n, size_t *len)
{
	uint32_t start, end;

	if (n == 0 || n > f->nlines) {
		*len = 0;
		return "";
	}
	start = f->lines[n - 1];
	end = n < f->nlines ? f->lines[n] - 1 : (uint32_t)f->len;
	if (end > start && f->text[end - 1] == '\r')
		end--;
	*len = end - start;
	return f->text + start;
}
