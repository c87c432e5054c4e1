/*
 * arena.h -- one arena per compilation.
 *
 * AST nodes, IR, interned names and diagnostic strings come from the arena and
 * are released together by ru_arena_fini(). Chunks grow by doubling
 * (the-tcpdump-group/libpcap:gencode.c newchunk: CHUNKSIZE(idx) = 1024 << idx),
 * so a compilation of N bytes makes O(log N) system allocations.
 */
#ifndef RU_ARENA_H
#define RU_ARENA_H

#include <stddef.h>

struct ru_chunk;

struct ru_arena {
	struct ru_chunk *head; /* owns: newest chunk, linked to older ones */
	size_t used;           /* bytes used in head */
	size_t cap;            /* capacity of head */
	size_t total;          /* bytes handed out, for reports */
	size_t reserved;       /* bytes obtained from the system */
	unsigned nchunks;
};

void ru_arena_init(struct ru_arena *a);
/* Frees every block handed out by this arena. */
void ru_arena_fini(struct ru_arena *a);
/*
 * Forgets everything allocated so far but keeps the newest chunk for reuse:
 * a scratch arena reset between items costs no system allocation.
 */
void ru_arena_reset(struct ru_arena *a);
/* Returns n bytes aligned to 16, zeroed; aborts on out-of-memory. */
void *ru_arena_alloc(struct ru_arena *a, size_t n);
/* Copies s[0..n) into the arena with a terminating NUL. */
char *ru_arena_strndup(struct ru_arena *a, const char *s, size_t n);
/* printf into the arena. */
char *ru_arena_printf(struct ru_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A growable array of pointers or values whose storage lives in the arena.
 * Growth copies into a new arena block (old blocks are reclaimed with the
 * arena), which keeps the compiler free of per-node frees.
 */
struct ru_vec {
	void *data;   /* borrows arena memory */
	size_t n;     /* elements in use */
	size_t cap;   /* elements allocated */
};

/* Returns a pointer to a new zeroed element of size esz at the end. */
void *ru_vec_push(struct ru_arena *a, struct ru_vec *v, size_t esz);
#define RU_VEC_AT(v, type, i) (((type *)(v).data)[i])

#endif
