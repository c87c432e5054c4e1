/*
 * vm.h -- the Route VM: values, the per-matcher machine state and the
 * load-time tables it reads. Internal to runtime/ (route.c drives it).
 *
 * A block (a rule condition or an action value) runs from its entry pc to a
 * terminator; jumps only go forward, so every run ends. Registers are
 * cleared at block entry: a block never sees another block's values, even
 * in a hostile program. Values borrow the event buffer, the program's
 * constants or the matcher's scratch area, all valid for one event.
 */
#ifndef RV_VM_H
#define RV_VM_H

#include <stddef.h>
#include <stdint.h>

#include <hs/hs.h>
#include <pthread.h>

#include "bytecode.h"
#include "event.h"

enum rv_vk {
	RV_V_MISSING = 0,  /* no value (absent field, failed arithmetic) */
	RV_V_NULL,
	RV_V_BOOL,         /* u.b */
	RV_V_NUM,          /* u.num */
	RV_V_STR,          /* u.s, n bytes; flags RV_VF_ESCAPED: still JSON-escaped */
	RV_V_FIELD,        /* n = field index: every value the event has there */
	RV_V_CONST,        /* n = constant index (sets, ranges, regexes, networks) */
	RV_V_LIST          /* n elements in registers u.first .. (emit values) */
};

#define RV_VF_ESCAPED 0x01u

struct rv_val {
	uint8_t k;          /* enum rv_vk */
	uint8_t flags;      /* RV_VF_* */
	uint16_t reserved;
	uint32_t n;         /* see enum rv_vk */
	union {
		double num;
		int b;
		const char *s;
		uint32_t first;
	} u;
};

struct rv_index; /* index.h */
struct route_state; /* state.h */

/* What a program needs at run time beyond its bytes: built once at load. */
struct rv_rt {
	const struct rv_prog *p;          /* borrows */
	struct rv_scanner *scanner;       /* owns */
	hs_database_t **regex;            /* owns: per constant, the Hyperscan database of a REGEX kind,
	                                   * compiled on first use (rv_regex_db), else NULL */
	pthread_mutex_t regex_mu;         /* serialises those compilations (matchers share the program) */
	int regex_mu_init;
	uint32_t *contract_rules;         /* owns: rule indices grouped by contract ... */
	uint32_t *contract_first;         /* ... contract c's are [first[c], first[c+1]) */
	uint32_t *type_hash;              /* owns: open addressing over type names -> type index */
	uint32_t type_hash_cap;           /* power of two */
	uint32_t version_field;           /* FIELDS index of @version, or RV_NONE */
	uint32_t *phase_first;            /* owns: per contract, [2c] first routing rule, [2c+1] first
	                                   * otherwise rule, as positions in contract_rules */
	struct rv_index *ix;              /* owns: the shared index of the routing rules (index.c), or NULL */
	uint32_t *pred;                   /* owns: per pc, the memo slot of a shared predicate, or NULL */
	uint32_t npred;                   /* memo slots */
	uint32_t *rule_temporal;          /* owns: per rule, its TEMPORAL record, or NULL (none) */
	uint32_t *seq_first;              /* owns: TSEQ records awaiting an event of contract c ... */
	uint32_t *seq_list;               /* ... are seq_list[seq_first[c] .. seq_first[c+1]); NULL: none */
};

/* Called after each predicate when explaining (never on the fast path). */
typedef void rv_trace_fn(void *ud, uint32_t pc, int result, const struct rv_val *operand);

/* One matcher's machine. */
struct rv_vm {
	const struct rv_rt *rt;           /* borrows */
	struct rv_val *regs;              /* owns: max_regs */
	const char *buf;                  /* borrows: the event being matched */
	size_t len;
	struct rv_event ev;               /* owns its arrays */
	double *numv;                     /* owns: per recorded value, its number once parsed ... */
	uint32_t *numv_seq;               /* owns: ... valid when equal to seq */
	uint32_t seq;                     /* the event being matched (never 0) */
	struct rv_val *override;          /* owns: per field, the value a `set` gave it (MISSING: none) */
	char *tmp[2];                     /* owns: decode buffers for a comparison's two sides (max_string) */
	char *scratch;                    /* owns: builtin results ... */
	size_t scratch_cap, scratch_used;
	size_t scratch_mark;              /* ... below the mark: values `set` gave (kept for the event) */
	hs_scratch_t *hs;                 /* owns: Hyperscan scratch for every database of the program */
	uint8_t *regex_ready;             /* owns: per REGEX constant, a bit: hs is sized for its database */
	const uint32_t *pred;             /* borrows rt->pred while shared predicates are memoised, else NULL */
	struct route_state *state;        /* borrows: tables for TGET, or NULL (no entries) */
	int64_t now;                      /* the state's time of the event being matched */
	uint32_t contract;                /* the event's contract (CONTRACTS index) once typed */
	double agg_out[RV_MAX_AGGS];      /* the aggregates an aggregate block reads (AGG) ... */
	uint8_t agg_has[RV_MAX_AGGS];     /* ... 0: undefined (avg of nothing): MISSING */
	uint32_t *memo_seq;               /* owns: per memo slot, the seq its result is for ... */
	uint8_t *memo_val;                /* owns: ... and the result */
	int (*run)(struct rv_vm *, uint32_t, struct rv_val *); /* rv_vm_run or rv_vm_run_switch */
	rv_trace_fn *trace;               /* explain only; NULL otherwise */
	void *trace_ud;
};

enum rv_vm_result { RV_VM_MATCH, RV_VM_MISS, RV_VM_YIELD, RV_VM_FAULT };

/*
 * Runs the block at pc. Returns RV_VM_MATCH / RV_VM_MISS (conditions) or
 * RV_VM_YIELD with the value in *out (value blocks). Two builds of the same
 * code: rv_vm_run dispatches by computed goto where the compiler has it,
 * rv_vm_run_switch always by switch (tests run both; explain uses it).
 */
int rv_vm_run(struct rv_vm *vm, uint32_t pc, struct rv_val *out);
int rv_vm_run_switch(struct rv_vm *vm, uint32_t pc, struct rv_val *out);

/* ---- value operations (vmops.c), shared by both builds ---- */

/* Predicates with any-element semantics; each returns 0 or 1. */
int rv_op_compare(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b);
int rv_op_string(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b);
int rv_op_member(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b);
int rv_op_exists(struct rv_vm *vm, const struct rv_val *a);
int rv_op_truthy(struct rv_vm *vm, const struct rv_val *a);
/* Arithmetic: op is the opcode (ADD .. NEG); a non-number gives MISSING. */
void rv_op_arith(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b,
	struct rv_val *out);
/* Builtin b of the program with arguments args[0..arity). */
void rv_op_call(struct rv_vm *vm, unsigned b, const struct rv_val *args, struct rv_val *out);
/*
 * The database of REGEX constant k, compiled on first use by any matcher of
 * the program (thread-safe), or NULL when Hyperscan cannot (the loader
 * checked the pattern: only a resource limit). route.c.
 */
hs_database_t *rv_regex_db(const struct rv_rt *rt, uint32_t k);
/* Table lookup T[b][key] into *out (MISSING when there is no entry or no state). */
void rv_op_tget(struct rv_vm *vm, uint32_t b, const struct rv_val *key, struct rv_val *out);
/* A constant as a value (scalars become NUM/STR/...; the rest CONST). */
void rv_op_const(const struct rv_vm *vm, uint32_t k, struct rv_val *out);

/*
 * The first scalar of v: a FIELD gives its first non-container value,
 * decoded only in the sense that STR may stay escaped. Returns 0 if none.
 */
int rv_val_first(const struct rv_vm *vm, const struct rv_val *v, struct rv_val *out);

/*
 * Keys and scalars for the index (index.c). A key is a hash of a scalar
 * such that two scalars scalar_equal() calls equal (same kind, same decoded
 * bytes, same number; -0 as 0) hash alike: rv_scalar_key of a value (s, n:
 * its decoded bytes when a string), rv_const_key of constant k (*ok = 0 when
 * k is no indexable scalar: sets, null, ...). rv_key_folded: the key of a
 * string with ASCII capitals lowered, apart from every exact key (the
 * `ieq` family). rv_field_scalars: calls fn for every scalar field f has in
 * the current event (its `set` value when a transform rule set it), in the
 * order the VM's any-element predicates see them; strings decoded (s, n are
 * valid during the call only), numbers and booleans with s NULL.
 * rv_parse_addr: the VM's address parser (family 4 or 6, or 0).
 */
typedef void rv_scalar_fn(void *ud, const struct rv_val *x, const char *s, size_t n);
uint64_t rv_scalar_key(const struct rv_val *x, const char *s, size_t n);
uint64_t rv_key_folded(const char *s, size_t n);
uint64_t rv_const_key(const struct rv_prog *p, uint32_t k, int *ok);
void rv_field_scalars(struct rv_vm *vm, uint32_t f, rv_scalar_fn *fn, void *ud);
int rv_parse_addr(const char *s, size_t n, uint8_t addr[16]);

/* Writes v as JSON text into out (cap bytes); returns the length or 0 if it does not fit. */
size_t rv_val_json(const struct rv_vm *vm, const struct rv_val *v, char *out, size_t cap);

#endif
