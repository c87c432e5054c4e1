/*
 * ir.h -- the compiler's intermediate form: one block of register code per
 * rule condition and per action value, with symbolic labels.
 *
 * lower.c builds blocks from the checked AST (registers allocated as a stack,
 * so call arguments are consecutive and nesting depth bounds the register
 * count); opt.c folds constants, threads constant jumps and removes dead
 * code; emit.c resolves labels and writes instructions into the .rbc. The IR
 * uses the VM's opcodes plus one pseudo-op, RC_IR_LABEL.
 *
 *   insn  := op a b c k target span
 *   k     := constant or field index (any size: emit.c picks LOADK or LOADKX)
 *   target:= label id of a jump (JMP, JMPF, JMPT)
 */
#ifndef RC_IR_H
#define RC_IR_H

#include <stdint.h>

#include "arena.h"
#include "bytecode.h"
#include "diag.h"
#include "rbc.h"
#include "srcfile.h"
#include "types.h"

#define RC_IR_LABEL RV_NUM_OPS /* pseudo-op: k is the label id */
#define RC_IR_DEAD (RV_NUM_OPS + 1) /* removed by a pass, dropped on compaction */

struct rc_ir_insn {
	unsigned op;          /* enum rv_op, RC_IR_LABEL or RC_IR_DEAD */
	unsigned a, b, c;     /* register operands (or builtin/table index in B) */
	uint32_t k;           /* LOADK: constant; LOADF: field; LABEL: label id */
	uint32_t target;      /* JMP/JMPF/JMPT: label id */
	struct rl_span span;  /* source of the instruction */
};

enum rc_blk_kind { RC_BLK_COND, RC_BLK_VALUE };

struct rc_ir_block {
	enum rc_blk_kind kind;
	struct ru_vec insns;  /* struct rc_ir_insn */
	uint32_t nlabels;
	unsigned nregs;       /* registers used: 0 .. nregs-1 */
};

/* Lowering context shared by every block of a compilation. */
struct rc_lower {
	struct ru_arena *arena;   /* borrows: IR storage */
	struct rc_rbc *rbc;       /* borrows: constants and fields are added here */
	struct rl_diag *diag;     /* borrows */
	struct rc_ir_block *blk;  /* block being built */
	unsigned freereg;         /* first free register */
	int fold;                 /* fold constant arithmetic while lowering (-O1 and up) */
	int failed;               /* a limit was exceeded (reported) */
	struct rc_aggs *aggs;     /* borrows: the aggregates of the block being lowered, or NULL */
	/*
	 * Actions of a sequence or absence (1.2): with capture set, paths of
	 * the first event lower to CAPTURE fields, each recorded once in caps
	 * as a (source field, capture field) pair (uint32_t, in caps_arena).
	 */
	int capture;
	struct ru_vec caps;
	struct ru_arena *caps_arena;
};

/*
 * The aggregates an aggregate block reads: each distinct call (name and
 * argument field) gets the next index, which AGG B reads.
 */
struct rc_aggs {
	struct rl_node *calls[32];  /* borrows: RV_MAX_AGGS calls */
	unsigned n;
	int overflow;               /* more than RV_MAX_AGGS distinct aggregates */
};

/* Builds the condition block of `when` (NULL: always matches). */
void rc_lower_cond(struct rc_lower *L, struct rc_ir_block *blk, struct rl_node *when,
	struct rl_span at);
/* Builds a value block that YIELDs the value of e. */
void rc_lower_value(struct rc_lower *L, struct rc_ir_block *blk, struct rl_node *e);
/* Is e a call of an aggregate (count(), sum(f), ...)? */
int rc_is_aggregate(const struct rl_node *e);
/* The .rbc field index of a resolved field path. */
uint32_t rc_lower_field(struct rc_lower *L, const struct rc_fieldref *fr);

/* Optimises blk in place (constant folding, jump threading, dead code). */
void rc_opt_block(struct rc_rbc *rbc, struct rc_ir_block *blk);

/*
 * What every block needs even at -O0: the .rbc format forbids jumps of
 * offset 0 (to the next instruction), and code after an unconditional
 * transfer that no jump reaches is dropped.
 */
void rc_opt_normalize(struct rc_ir_block *blk);

/* Number of real instructions (labels and dead ones excluded). */
unsigned rc_ir_count(const struct rc_ir_block *blk);

#endif
