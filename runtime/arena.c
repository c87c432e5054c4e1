/*
 * arena.c -- bump allocator with doubling chunks; see arena.h.
 */
#include "config.h"
#include "arena.h"
#include "alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct ru_chunk {
	struct ru_chunk *next; /* older chunk */
	size_t cap;
	_Alignas(16) unsigned char mem[];
};

#define RU_CHUNK_MIN 4096u

void
ru_arena_init(struct ru_arena *a)
{
	memset(a, 0, sizeof *a);
}

void
ru_arena_fini(struct ru_arena *a)
{
	struct ru_chunk *c, *next;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		ru_free(c);
	}
	memset(a, 0, sizeof *a);
}

void
ru_arena_reset(struct ru_arena *a)
{
	struct ru_chunk *c, *next;

	if (a->head == NULL)
		return;
	for (c = a->head->next; c != NULL; c = next) {
		next = c->next;
		a->reserved -= c->cap;
		ru_free(c);
	}
	a->head->next = NULL;
	a->used = 0;
	a->nchunks = 1;
}

void *
ru_arena_alloc(struct ru_arena *a, size_t n)
{
	void *p;

	n = (n + 15u) & ~(size_t)15u;
	if (a->head == NULL || a->cap - a->used < n) {
		/* Doubling chunks: CHUNKSIZE(idx) = 4096 << idx, at least n. */
		size_t cap = (size_t)RU_CHUNK_MIN << (a->nchunks < 16 ? a->nchunks : 16);
		struct ru_chunk *c;

		if (cap < n)
			cap = n;
		c = ru_xmalloc(sizeof *c + cap);
		c->next = a->head;
		c->cap = cap;
		a->head = c;
		a->cap = cap;
		a->used = 0;
		a->nchunks++;
		a->reserved += cap;
	}
	p = a->head->mem + a->used;
	a->used += n;
	a->total += n;
	memset(p, 0, n);
	return p;
}

char *
ru_arena_strndup(struct ru_arena *a, const char *s, size_t n)
{
	char *d = ru_arena_alloc(a, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *
ru_arena_printf(struct ru_arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *d;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	d = ru_arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return d;
}

void *
ru_vec_push(struct ru_arena *a, struct ru_vec *v, size_t esz)
{
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 8;
		void *nd = ru_arena_alloc(a, ncap * esz);

		if (v->n)
			memcpy(nd, v->data, v->n * esz);
		v->data = nd;
		v->cap = ncap;
	}
	return (unsigned char *)v->data + v->n++ * esz;
}
