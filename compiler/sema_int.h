/*
 * sema_int.h -- state and helpers shared by sema.c (declarations, rules,
 * tests) and sema_expr.c (field paths and expressions). Private to the
 * semantic analysis.
 */
#ifndef RC_SEMA_INT_H
#define RC_SEMA_INT_H

#include "sema.h"

/* A scope of field names: an alias (or NULL for the default) and its contracts. */
struct rc_scope {
	const char *alias;
	struct ru_vec *contracts; /* struct rc_contract * */
};

struct rc_sema {
	struct ru_arena *arena;
	struct rl_diag *diag;
	struct rc_model *m;
	struct rc_rule *rule;     /* rule being checked, or NULL */
	struct rc_scope scopes[3];   /* [0] = default, then aliases */
	unsigned nscopes;
	int in_when;              /* aggregates allowed */
	int temporal;             /* a temporal clause or an aggregate was seen */
	int have_aggregate;       /* an aggregate call was seen in `when` */
	struct rc_contract *object_contract; /* the contract an object literal belongs to */
	struct rl_node *first_temporal;
	int in_where;             /* checking a `where`: plain paths name the second event */
	unsigned second_scope;    /* scopes[] index of the second event's alias, 0: none */
};

#define ERR(s, id, span, ...) rl_diag((s)->diag, RL_##id, (span), __VA_ARGS__)
#define ERR0(s, id, span) rl_diag((s)->diag, RL_##id, (span))
#define VEC_PUSH(s, v, type, val) (*(type *)ru_vec_push((s)->arena, &(v), sizeof(type)) = (val))
#define STRING_LIKE(t) ((t) == RV_T_STRING || (t) == RV_T_IP || (t) == RV_T_TIME || (t) == RV_T_ANY)


/* sema.c */
const char *rc_sema_src_text(struct rc_sema *s, const struct rl_node *n);
const char *rc_sema_suggest_map(struct rc_sema *s, const char *name, const struct rc_map *m);

/* sema_expr.c */
unsigned rc_sema_expr(struct rc_sema *s, struct rl_node *e);
void rc_sema_cond(struct rc_sema *s, struct rl_node *e, const char *ctx);
int rc_sema_comparable(unsigned a, unsigned b);
unsigned rc_sema_ctype_code(struct rc_ctype *t);
struct rc_cfield *rc_sema_find_member(struct rc_ctype *t, const char *name);
const char *rc_sema_suggest_member(struct rc_sema *s, struct rc_ctype *t, const char *name);
void rc_sema_check_enum(struct rc_sema *s, struct rl_node *p, struct rl_node *lit);
/* "\"low\", \"high\"": the values of an enum type, for messages. */
const char *rc_sema_enum_list(struct rc_sema *s, const struct rc_ctype *t);
const char *rc_sema_tname(struct rc_sema *s, unsigned t);

#endif
