/*
 * index.h -- the shared index in front of the routing rules (index.c).
 *
 * Built once per loaded program from its verified code; read-only after
 * that, so every matcher of the program shares it. See docs/engine.md.
 */
#ifndef RV_INDEX_H
#define RV_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include <hs/hs.h>

#include "vm.h"

/*
 * Builds rt->ix from rt->p and the per-contract rule lists (contract_rules,
 * phase_first). Returns 0, or -1 with a message in err (out of memory).
 * A string database Hyperscan refuses is not an error: its rules are left
 * to the residual list.
 */
int rv_index_build(struct rv_rt *rt, char *err, size_t errlen);

/* Frees an index (NULL is fine). */
void rv_index_free(struct rv_index *ix);

/* Grows *scratch for every Hyperscan database of the index; 0 or -1. */
int rv_index_alloc_scratch(const struct rv_index *ix, hs_scratch_t **scratch);

/*
 * Stores in cand the routing rules of contract c whose first must-hold test
 * may hold on vm's current event (each once: a rule is added when
 * cand_stamp[rule] != stamp, which it then sets). Returns their count, in
 * no particular order. The rules it leaves out cannot match; the rules it
 * returns still have to be evaluated.
 */
uint32_t rv_index_probe(const struct rv_index *ix, struct rv_vm *vm, uint32_t c, uint32_t *cand,
	uint32_t *cand_stamp, uint32_t stamp);

/* The routing rules of contract c the index has no test for, in program order. */
const uint32_t *rv_index_residual(const struct rv_index *ix, uint32_t c, uint32_t *n);

/*
 * Shared predicates: the predicate instructions `LOADF a f; LOADK b k;
 * OP d a b` (entered only at the LOADF) that test the same (op, field,
 * constant) at two places or more get one memo slot: rt->pred[pc] is the
 * slot of the predicate at pc (RV_NONE for the others), rt->npred the slot
 * count; rt->pred stays NULL when nothing is shared. The VM then evaluates
 * each shared predicate once per event, while the fields cannot change (the
 * routing and otherwise phases). Returns 0 or -1 (out of memory).
 */
int rv_preds_build(struct rv_rt *rt);

#endif
