/*
 * analyze.h -- whole-rule checks after sema: rules that can never match
 * (contradictory predicates: an error) and rules shadowed by an earlier rule
 * with the same types and actions (a warning).
 */
#ifndef RC_ANALYZE_H
#define RC_ANALYZE_H

#include "parse.h"
#include "types.h"

/* Returns the number of errors reported. */
unsigned rc_analyze(struct rl_program *p, struct rc_model *m);

#endif
