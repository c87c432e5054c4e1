/*
 * sema.h -- semantic analysis: names, contracts, types, policies.
 *
 * rc_sema_check() walks the declarations of a parsed program, builds the
 * checked model (types.h) and reports every problem it finds through the
 * program's diagnostics, continuing after errors. Expression nodes get their
 * type in node->ty and PATH nodes their field in node->sema.
 */
#ifndef RC_SEMA_H
#define RC_SEMA_H

#include "parse.h"
#include "types.h"

/* Fills m (zeroed by the caller). Returns the number of errors it reported. */
unsigned rc_sema_check(struct rl_program *p, struct rc_model *m);

/*
 * If e is a constant number expression (literals, unary minus, arithmetic),
 * stores its value and returns 1; otherwise returns 0.
 */
int rc_const_number(const struct rl_node *e, double *out);

/* The list of aggregate function names (temporal), NULL-terminated. */
extern const char *const rc_aggregates[];

#endif
