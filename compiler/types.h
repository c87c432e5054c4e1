/*
 * types.h -- the checked model of a Route program: contracts, destinations,
 * tables and rules after name resolution, plus the small string map sema
 * uses for its symbol tables and the constant arithmetic that sema (checks)
 * and opt.c (folding) share.
 *
 * Built by sema.c, read by analyze.c, lower.c and emit.c. Everything lives
 * in the compilation's arena.
 */
#ifndef RC_TYPES_H
#define RC_TYPES_H

#include <stdint.h>

#include "arena.h"
#include "ast.h"
#include "bytecode.h"

/* ---- string map (open addressing, arena storage) ---- */
struct rc_map_ent {
	const char *key;  /* borrows; NULL = empty slot */
	void *val;        /* borrows */
	uint32_t hash;
};

struct rc_map {
	struct rc_map_ent *ents; /* arena */
	uint32_t cap;            /* power of two */
	uint32_t n;
	struct ru_arena *arena;  /* borrows */
};

void rc_map_init(struct rc_map *m, struct ru_arena *a);
void *rc_map_get(const struct rc_map *m, const char *key);
/* Inserts key -> val; returns the existing value (unchanged) if key was present. */
void *rc_map_put(struct rc_map *m, const char *key, void *val);

/* ---- types ---- */
#define RC_T_ERROR 0xfeu   /* an expression that already failed to check */
#define RC_T_DURATION 0x10u
#define RC_T_RATE 0x11u
#define RC_T_NET 0x12u     /* a CIDR literal */
#define RC_T_BASE(t) ((t) & 0x7fu)
#define RC_T_IS_ARRAY(t) (((t) & RV_T_ARRAY) != 0)

struct rc_cfield;

struct rc_ctype {
	unsigned base;             /* enum rv_vtype without the ARRAY flag */
	struct rc_ctype *elem;     /* arrays: element type (base == RV_T_ARRAY) */
	struct rc_cfield *fields;  /* objects: member list */
	struct rl_node *enums;     /* string enums: list of LIT; else NULL */
	unsigned nenums;
};

struct rc_cfield {
	const char *name;
	int optional;
	struct rc_ctype *type;
	struct rl_node *decl;      /* the CFIELD node */
	struct rc_cfield *next;
};

struct rc_event;

struct rc_contract {
	struct rc_event *ev;
	uint32_t version;
	struct rc_ctype *root;     /* an object type */
	struct rl_node *decl;
	uint32_t index;            /* CONTRACTS index in the .rbc */
};

struct rc_event {
	const char *name;
	struct ru_vec versions;    /* struct rc_contract *, ascending version */
	uint32_t index;            /* TYPES index */
	struct rl_node *decl;      /* first declaration */
};

struct rc_dest {
	const char *name;          /* name and decl first: see sema.c declare() */
	struct rl_node *decl;
	struct rv_dest pol;        /* policies, strings unset */
	struct rc_dest *dead_letter;
	int used;
	uint32_t index;
};

struct rc_table {
	const char *name;          /* name and decl first: see sema.c declare() */
	struct rl_node *decl;
	unsigned value_type;       /* enum rv_vtype */
	unsigned key_type;
	struct rc_event *from;
	struct rl_node *key_path, *value_path;
	struct rc_event *del;
	uint64_t ttl_ms;
	uint32_t max_keys;
	uint32_t index;
};

/* A resolved field reference, shared by every use of the same path. */
struct rc_fieldref {
	const char *name;          /* dotted display path */
	const char *const *segs;
	unsigned nseg;
	int meta;                  /* envelope attribute */
	unsigned type;             /* leaf type, RV_T_ARRAY if it crosses an array */
	int required;              /* present in every version without optionals or arrays */
	struct rc_ctype *ctype;    /* the declared type (first contract) */
	struct ru_vec ctypes;      /* struct rc_ctype *: the declared type in each contract */
	int second;                /* names the second event of a sequence or absence (the
	                            * `then`/`unless` event): plain paths in `where`, its alias
	                            * elsewhere; 0: the rule's own (first) event */
};

#define RC_RF_TEMPORAL 0x100u  /* uses a temporal clause or an aggregate */

struct rc_assign {
	struct rc_fieldref *target;
	struct rl_node *value;
	struct rl_node *decl;
};

struct rc_emit {
	struct rc_contract *contract;
	struct ru_vec fields;      /* struct rc_assign (target: the derived event's field) */
	struct rl_node *decl;
};

struct rc_rule {
	const char *name;          /* name and decl first: see sema.c declare() */
	struct rl_node *decl;
	uint32_t flags;            /* RV_RF_* | RC_RF_TEMPORAL */
	struct ru_vec contracts;   /* struct rc_contract * the rule reads */
	struct ru_vec events;      /* struct rc_event * (each once) */
	struct rl_node *when;      /* condition or NULL */
	struct ru_vec routes;      /* struct rc_dest *, each once */
	struct ru_vec sets;        /* struct rc_assign */
	struct ru_vec emits;       /* struct rc_emit */
	struct rl_node *temporal;  /* first temporal item, for the codegen error */
	/* the temporal clauses (each at most once; NULL when absent) */
	struct rl_node *c_within, *c_every, *c_by, *c_then, *c_unless, *c_throttle, *c_dedup,
		*c_backpressure, *c_timestamp;
	struct ru_vec seq_contracts; /* struct rc_contract *: the `then`/`unless` event's */
	uint32_t index;
};

/* The whole checked program. */
struct rc_model {
	struct ru_vec events;      /* struct rc_event *, declaration order */
	struct ru_vec dests;       /* struct rc_dest * */
	struct ru_vec tables;      /* struct rc_table * */
	struct ru_vec rules;       /* struct rc_rule * */
	struct ru_vec tests;       /* struct rl_node * */
	struct rc_map event_map, dest_map, table_map, rule_map, test_map;
	struct rc_map field_map;   /* "where:path" -> struct rc_fieldref */
};

/* Human name of a type for messages: "string", "array of number", "enum". */
const char *rc_type_name(struct ru_arena *a, unsigned t);

/*
 * Constant arithmetic shared by sema and the optimiser. op is '+', '-', '*',
 * '/', '%' or 'n' (negate, b ignored). Returns 0 and sets *out, or -1 on
 * division by zero or a non-finite result.
 */
int rc_fold_arith(int op, double a, double b, double *out);

#endif
