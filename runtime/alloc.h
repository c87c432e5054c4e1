/*
 * alloc.h -- the allocator used off the hot path (compiler, loader, tools).
 *
 * ru_xmalloc() and friends abort with a message on out-of-memory, so compiler
 * code never checks for NULL (after jqlang/jq:src/jv_alloc.c). The loader and
 * the daemon use ru_malloc(), which returns NULL and lets the caller keep the
 * old program. Tests inject failures with ru_alloc_failnext(): the Nth
 * allocation from now fails (lua/lua:ltests.h Memcontrol).
 */
#ifndef RU_ALLOC_H
#define RU_ALLOC_H

#include <stddef.h>

/* Returns fresh memory or NULL (counting towards the failure injection). */
void *ru_malloc(size_t n);
/* Like realloc(); NULL on failure with the old block untouched. */
void *ru_realloc(void *p, size_t n);
void ru_free(void *p);

/* As above but never NULL: prints "routec: out of memory" and aborts. */
void *ru_xmalloc(size_t n);
void *ru_xcalloc(size_t count, size_t size);
void *ru_xrealloc(void *p, size_t n);
char *ru_xstrndup(const char *s, size_t n);

/* Make the nth allocation from now fail (1 = the next one); 0 disables. */
void ru_alloc_failnext(unsigned long nth);
/* Number of allocations made so far (for fault-injection loops). */
unsigned long ru_alloc_count(void);

#endif
