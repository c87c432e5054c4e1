/*
 * state.h -- what a program remembers between events (state.c): its tables
 * and its clock. Internal; route.h has the public face (route_state_*).
 */
#ifndef RV_STATE_H
#define RV_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "vm.h"

struct route_state;
struct route_prog;

/* The verified program of a loaded route_prog (route.c). */
const struct rv_prog *rv_route_prog(const struct route_prog *rp);

/* The temporal rules' state of st (borrowed), or NULL when the program has none. */
struct rv_tstate *rv_state_tstate(struct route_state *st);

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

/*
 * The temporal rule of TEMPORAL record ti passed its filter on vm's event:
 * enum rv_tstep (temporal.h) says whether it fires. Frees run-out keys about
 * once a second of state time. RV_TSTEP_NO without a state.
 */
int rv_state_temporal_step(struct route_state *st, struct rv_vm *vm, uint32_t ti, int64_t now);

/*
 * Byte maps for the temporal state (temporal.c): key bytes -> value bytes,
 * entries expiring ttl_ms after their last put (0: never), at most
 * max_keys entries (0: no bound) with the least recently put evicted; the
 * table store's machinery, counted the same way (rv_kv_stats).
 */
struct rv_kv;
struct route_table_stats;
struct rv_kv *rv_kv_new(uint64_t ttl_ms, uint32_t max_keys);
void rv_kv_free(struct rv_kv *kv);
/* The value of key at now (borrowed until the next put), or NULL: absent or expired. */
const char *rv_kv_get(struct rv_kv *kv, const char *key, size_t klen, int64_t now, size_t *vlen);
/* Stores key -> val at now (the newest entry); 0, or -1 out of memory (counted as skipped). */
int rv_kv_put(struct rv_kv *kv, const char *key, size_t klen, const char *val, size_t vlen, int64_t now);
void rv_kv_expire(struct rv_kv *kv, int64_t now);
/*
 * Entries by index (stable while the entry lives; sequences keep it in
 * their timers): the live entry of key at now or RV_NONE; entry i's value
 * (borrowed until the next put or delete; its key in *key when key != NULL)
 * or NULL when i is free; deletes entry i (counted as a delete); the entry
 * after i in update order (i RV_NONE: the oldest), RV_NONE at the end.
 */
uint32_t rv_kv_find(struct rv_kv *kv, const char *key, size_t klen, int64_t now);
const char *rv_kv_at(const struct rv_kv *kv, uint32_t i, const char **key, size_t *klen, size_t *vlen);
void rv_kv_del_at(struct rv_kv *kv, uint32_t i);
uint32_t rv_kv_next(const struct rv_kv *kv, uint32_t i);
void rv_kv_stats(const struct rv_kv *kv, struct route_table_stats *s);

#endif
