/*
 * state.h -- what a program remembers between events (state.c): its tables
 * and its clock. Internal; route.h has the public face (route_state_*).
 */
#ifndef RV_STATE_H
#define RV_STATE_H

#include <stdint.h>

#include "vm.h"

struct route_state;
struct route_prog;

/* The verified program of a loaded route_prog (route.c). */
const struct rv_prog *rv_route_prog(const struct route_prog *rp);

/* The state's current time in Unix milliseconds (virtual or the real clock). */
int64_t rv_state_now(struct route_state *st);

/*
 * Looks key up in table t at time now: stores the value in *out (a STR
 * pointing into the state, valid until the next update of the table) and
 * returns 1, or returns 0 (*out MISSING) when there is no live entry.
 */
int rv_state_lookup(struct route_state *st, uint32_t t, const struct rv_val *key, const char *kbytes,
	size_t klen, int64_t now, struct rv_val *out);

/*
 * After an event of type `type` was routed: applies the table updates and
 * deletions it carries, reading its fields through vm (overrides included).
 */
void rv_state_after_event(struct route_state *st, struct rv_vm *vm, uint32_t type, int64_t now);

#endif
