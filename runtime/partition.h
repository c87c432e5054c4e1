/*
 * partition.h -- how a program's state can be split over threads by key.
 *
 * A service that runs one matcher per thread (routed's shards) gives each
 * thread its own route_state. That is only correct if every event that
 * reads or writes a piece of state -- a table entry, the window, throttle or
 * dedup cell of one key of one rule -- goes to the thread that holds it.
 * rv_partition_build works out, from the verified program, which field of
 * each event type decides that:
 *
 *   RV_PART_ANY    the type touches no state: any thread will do;
 *   RV_PART_FIELD  the first value of `field` is the key (equal values, equal
 *                  hash: the same thread);
 *   RV_PART_ONE    the type's state cannot be split (a window without `by`,
 *                  two rules keying it by different fields, a `set` rewriting
 *                  the key, ...): all its events go to one thread.
 *
 * Types that share state (a table's updating, deleting and looking-up types;
 * the types one temporal rule listens on) form a group; when the types of a
 * group disagree, the whole group is RV_PART_ONE. A construct this analysis
 * does not know (a temporal clause flag, an opcode) makes every type
 * RV_PART_ONE: it never guesses. The requirement per piece of state:
 *
 *   table T (updated by U via key field k, deleted by D via d, looked up by
 *   rules on A as T[f]): U by k, D by d, A by f -- the lookup's key must be
 *   a plain field (LOADF right before TGET, not a jump target), else ONE;
 *   window or throttle by (b1, b2, ...): the rule's types by b1; none: ONE;
 *   dedup by (d1, ...): by d1.
 *
 * Hand-written for the product: this is part of the matcher's contract with
 * the service, read off the verified bytecode like the index (index.c).
 */
#ifndef RV_PARTITION_H
#define RV_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "bytecode.h"

enum rv_part_kind { RV_PART_ANY = 0, RV_PART_FIELD = 1, RV_PART_ONE = 2 };

struct rv_partition {
	uint32_t ntypes;
	uint8_t *kind;     /* owns: [ntypes] enum rv_part_kind */
	uint32_t *field;   /* owns: [ntypes] FIELDS index when kind is RV_PART_FIELD, else RV_NONE */
	int split;         /* some type is RV_PART_FIELD: the state can be split */
	char why[200];     /* when some stateful type is RV_PART_ONE: the first reason */
};

/* Fills *pt for p. Returns 0, or -1 when memory ran out. */
int rv_partition_build(const struct rv_prog *p, struct rv_partition *pt);
void rv_partition_free(struct rv_partition *pt);

#endif
