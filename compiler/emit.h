/*
 * emit.h -- from the checked model to a .rbc image.
 *
 * rc_emit() lowers every rule (lower.c), optimises each block when asked
 * (opt.c), resolves labels into forward jump offsets, and fills every
 * section of the .rbc builder (rbc.c): files, event types, contracts and
 * their fields, destinations, tables, rules, actions, code and the line
 * table. Temporal rules are reported (E_TEMPORAL_CODEGEN), not emitted.
 */
#ifndef RC_EMIT_H
#define RC_EMIT_H

#include "parse.h"
#include "types.h"

struct rc_emit_stats {
	unsigned nrules;      /* rules emitted */
	unsigned ninsns;      /* instructions in CODE */
	unsigned max_regs;
};

/*
 * Builds the .rbc of program p (checked into m). opt: 0 = no optimisation,
 * >= 1 = the IR passes. Returns 0 and a malloc'd image in *out (caller frees
 * with ru_free), or -1 after reporting errors through p->diag.
 */
int rc_emit(struct rl_program *p, struct rc_model *m, int opt, unsigned char **out,
	size_t *outlen, struct rc_emit_stats *st);

#endif
