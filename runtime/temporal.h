/*
 * temporal.h -- the state of temporal rules (temporal.c): sliding windows
 * with aggregates, keys, throttles and dedup, one set per TEMPORAL record.
 * Internal; route_state owns one and route.c drives it.
 */
#ifndef RV_TEMPORAL_H
#define RV_TEMPORAL_H

#include <stdint.h>

#include "vm.h"

struct rv_tstate;
struct route_rule_stats;

/* Builds empty state for every TEMPORAL record of p (borrowed); NULL on OOM. */
struct rv_tstate *rv_tstate_new(const struct rv_prog *p);
void rv_tstate_free(struct rv_tstate *ts);

enum rv_tstep {
	RV_TSTEP_NO = 0,    /* the rule does not fire (aggregate condition false, key missing, duplicate, throttled) */
	RV_TSTEP_FIRE = 1,  /* it fires: run its actions */
	RV_TSTEP_ELSE = 2   /* throttled with `else route`: route to the else destinations instead */
};

/*
 * The event in vm passed the filter of the rule of TEMPORAL record ti:
 * builds its key, adds it to the window (the aggregates go to vm->agg_*),
 * runs the aggregate block, then dedup and throttle. Returns enum
 * rv_tstep. now is the state's time (non-decreasing).
 */
int rv_tstate_step(struct rv_tstate *ts, struct rv_vm *vm, uint32_t ti, int64_t now);

/*
 * The XXH64 hash, with seed, of the key TEMPORAL record ti of p keeps the
 * event in vm under (its `by` fields, encoded as rv_tstate_step encodes
 * them). Returns 0, or -1 when a `by` field has no value (the rule keeps
 * no state for the event). Needs no state: ingest uses it on a scanned
 * event to find the events a keyed `backpressure` refuses.
 */
int rv_temporal_key_hash(const struct rv_prog *p, struct rv_vm *vm, uint32_t ti, uint64_t seed,
	uint64_t *hash);

/*
 * Sequences and absences (TSEQ record qi). The event in vm is of one of the
 * second event's contracts and passed bcond: rv_tstate_second looks up the
 * pending first event of its correlation key. A `then` that completes
 * returns 1 with the first event's captures in vm's overrides (the rule's
 * actions run next; rv_tstate_clear_captures clears them); an absence's
 * pending first event is cancelled (returns 0).
 */
int rv_tstate_second(struct rv_tstate *ts, struct rv_vm *vm, uint32_t qi, int64_t now);
/*
 * The TSEQ records awaiting an event of contract that have pending first
 * events, ascending (borrowed until the next call): an event costs the
 * sequences that wait for something, not every one that could. Records
 * whose pending events are all gone leave the list here.
 */
uint32_t rv_tstate_candidates(struct rv_tstate *ts, uint32_t contract, const uint32_t **out);
void rv_tstate_clear_captures(struct rv_tstate *ts, struct rv_vm *vm, uint32_t qi);
/*
 * The next absence whose deadline is <= now: returns 1 with its TSEQ index
 * in *qi, the first event's contract, its captures in vm's overrides and,
 * when kept (RV_SQ_KEEP_EVENT), its bytes in *ev (borrowed until the next
 * call; NULL otherwise); 0 when none is due. Deadlines fire in order.
 */
int rv_tstate_fire_next(struct rv_tstate *ts, struct rv_vm *vm, int64_t now, uint32_t *qi, uint32_t *contract,
	const char **ev, size_t *evlen);
/* The earliest pending deadline (INT64_MIN: some already fired are queued; INT64_MAX: none). */
int64_t rv_tstate_next_deadline(const struct rv_tstate *ts);
/* After a restore: arms the timers of every pending absence (overdue ones fire at the next tick). */
void rv_tstate_rearm(struct rv_tstate *ts, int64_t now);
/* Record ti's newest event time seen (event time; INT64_MIN: none), for snapshot and restore. */
int64_t *rv_tstate_event_clock(struct rv_tstate *ts, uint32_t ti);
/* Record ti's map of pending first events (snapshot, restore), or NULL. */
struct rv_kv *rv_tstate_seq_map(struct rv_tstate *ts, uint32_t ti);

/* Frees the keys whose state has run out (called about once a second). */
void rv_tstate_sweep(struct rv_tstate *ts, int64_t now);

/* Counters and memory of record ti; -1 when ti is out of range. */
int rv_tstate_stats(const struct rv_tstate *ts, uint32_t ti, struct route_rule_stats *s);

/* For snapshot and restore (state.c): the records and their parts (borrowed). */
struct rv_window;
struct rv_wspec;
struct rv_kv;
uint32_t rv_tstate_count(const struct rv_tstate *ts);
void rv_tstate_parts(struct rv_tstate *ts, uint32_t ti, const struct rv_temporal **t, struct rv_window **win,
	const struct rv_wspec **spec, struct rv_kv **dedup, struct rv_kv **throttle, struct route_rule_stats **st);
/* Puts win (taken) in place of record ti's window; -1 (win not taken) when ti has none. */
int rv_tstate_replace_window(struct rv_tstate *ts, uint32_t ti, struct rv_window *win);

#endif
