/*
 * alloc.c -- checked allocation with failure injection; see alloc.h.
 *
 * The failure counter is process-wide and meant for single-threaded
 * fault-injection tests. Both counters are atomics all the same, so that
 * threads allocating at once (routed's HTTP threads each making a matcher
 * for one shared program) do not race on them.
 */
#include "config.h"
#include "alloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong failnext; /* 0 = off; else fail when it reaches 1 */
static atomic_ulong nalloc;   /* allocations attempted */

/* Returns 1 when the injected failure fires for this allocation. */
static int
should_fail(void)
{
	unsigned long f;

	atomic_fetch_add_explicit(&nalloc, 1, memory_order_relaxed);
	f = atomic_load_explicit(&failnext, memory_order_relaxed);
	while (f != 0)
		if (atomic_compare_exchange_weak_explicit(&failnext, &f, f - 1, memory_order_relaxed,
			memory_order_relaxed))
			return f == 1;
	return 0;
}

void
ru_alloc_failnext(unsigned long nth)
{
	atomic_store_explicit(&failnext, nth, memory_order_relaxed);
}

unsigned long
ru_alloc_count(void)
{
	return atomic_load_explicit(&nalloc, memory_order_relaxed);
}

void *
ru_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *
ru_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

void
ru_free(void *p)
{
	free(p);
}

/* Out of memory in the compiler is fatal: say so and abort. */
static void *
oom(void *p)
{
	if (p == NULL) {
		fputs("routec: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *
ru_xmalloc(size_t n)
{
	return oom(ru_malloc(n));
}

void *
ru_xcalloc(size_t count, size_t size)
{
	void *p;

	if (size && count > (size_t)-1 / size)
		return oom(NULL);
	p = ru_xmalloc(count * size);
	memset(p, 0, count * size);
	return p;
}

void *
ru_xrealloc(void *p, size_t n)
{
	return oom(ru_realloc(p, n));
}

char *
ru_xstrndup(const char *s, size_t n)
{
	char *d = ru_xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}
