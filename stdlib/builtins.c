/*
 * builtins.c -- the builtin table and its lookup; see builtins.def.
 */
#include "config.h"
#include "builtins.h"
#include "../runtime/bytecode.h"

#include <string.h>

const struct rb_info rb_builtins[RB_NUM_BUILTINS] = {
#define BUILTIN(name, arity, rtype, atype, sem) { #name, arity, rtype, atype, sem },
#include "builtins.def"
#undef BUILTIN
};

int
rb_lookup(const char *name, size_t len)
{
	int i;

	for (i = 0; i < RB_NUM_BUILTINS; i++)
		if (strlen(rb_builtins[i].name) == len && memcmp(rb_builtins[i].name, name, len) == 0)
			return i;
	return -1;
}
