/*
 * builtins.h -- the built-in function table, expanded from builtins.def.
 * Shared by compiler/sema.c (lookup, arity, types) and runtime/bytecode.c
 * (resolving the BUILTINS section of a .rbc by name).
 */
#ifndef RB_BUILTINS_H
#define RB_BUILTINS_H

#include <stddef.h>

enum rb_builtin {
#define BUILTIN(name, arity, rtype, atype, sem) RB_##name,
#include "builtins.def"
#undef BUILTIN
	RB_NUM_BUILTINS
};

struct rb_info {
	const char *name;
	unsigned arity;
	unsigned rtype;        /* enum rv_vtype */
	unsigned atype;        /* enum rv_vtype of every argument */
	const char *semantics;
};

extern const struct rb_info rb_builtins[RB_NUM_BUILTINS];

/* Returns the builtin called name[0..len), or -1. */
int rb_lookup(const char *name, size_t len);

#endif
