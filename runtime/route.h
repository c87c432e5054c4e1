/*
 * route.h -- libroute: load a compiled Route program (.rbc) and match events.
 *
 * This is the only installed header of routec. A program is loaded and
 * verified once (every section, index, jump and block is checked: the file
 * is untrusted input), is immutable afterwards and may be shared by any
 * number of threads. Each thread matches with its own matcher, which owns
 * all the memory a match needs: route_match() allocates nothing, except on
 * the first use of each regular expression, whose Hyperscan database is
 * compiled then, once per program, for every matcher (thread-safe).
 *
 *   route_prog *p = route_prog_load_file("rules.rbc", NULL, err, sizeof err);
 *   route_matcher *m = route_matcher_new(p);
 *   struct route_decision d;
 *   if (route_match(m, buf, len, &d) == ROUTE_OK)
 *       for (i = 0; i < d.ndests; i++) deliver(route_dest_name(p, d.dests[i], NULL), d.output, d.output_len);
 *   route_matcher_free(m);
 *   route_prog_free(p);
 *
 * Lifetimes: everything a decision points to (rule and destination index
 * arrays, set values, emitted events, the output bytes) is borrowed from the
 * matcher and valid until its next route_match() or route_matcher_free();
 * d.output may also point into the caller's buf (when no field was set), so
 * buf must outlive the use of the decision. Names returned by the route_*
 * introspection functions are borrowed from the program (not NUL-terminated:
 * use the length) and live as long as it.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct route_prog route_prog;
typedef struct route_matcher route_matcher;
typedef struct route_state route_state;

#define ROUTE_NONE 0xffffffffu

enum route_envelope {
	ROUTE_ENV_AUTO = 0,        /* CloudEvents when the event has "specversion", else plain */
	ROUTE_ENV_PLAIN = 1,       /* attributes are members: event_type, event_id, ... */
	ROUTE_ENV_CLOUDEVENTS = 2  /* CloudEvents 1.0 structured JSON: type, id, ..., payload in data */
};

/* Options fixed when a program is loaded. Zero means "the default". */
struct route_options {
	int envelope;              /* enum route_envelope; default ROUTE_ENV_AUTO */
	const char *type_field;    /* plain events: the member naming the type; default "event_type" */
	uint32_t max_event_bytes;  /* default 1 MiB */
	uint32_t max_depth;        /* nesting of objects and arrays; default 64 */
	uint32_t max_string;       /* bytes of one string; default 256 KiB */
	uint32_t max_values;       /* values the rules' fields may take in one event; default 4096 */
	int switch_dispatch;       /* 1: run the VM's switch build (tests compare both builds) */
	int no_index;              /* 1: evaluate every rule, without the equality index (tests) */
};

/*
 * Loads and verifies a program from memory (buf is copied) or from a file.
 * Returns the program (free with route_prog_free), or NULL with a one-line
 * reason in err. o may be NULL for the defaults.
 */
route_prog *route_prog_load(const void *buf, size_t len, const struct route_options *o,
	char *err, size_t errlen);
route_prog *route_prog_load_file(const char *path, const struct route_options *o,
	char *err, size_t errlen);
void route_prog_free(route_prog *p);

/* Introspection: counts and names (borrowed, length in *len when len != NULL). */
uint32_t route_prog_nrules(const route_prog *p);
uint32_t route_prog_ndests(const route_prog *p);
uint32_t route_prog_ntypes(const route_prog *p);
const char *route_rule_name(const route_prog *p, uint32_t rule, size_t *len);
const char *route_dest_name(const route_prog *p, uint32_t dest, size_t *len);
const char *route_type_name(const route_prog *p, uint32_t type, size_t *len);
const char *route_field_name(const route_prog *p, uint32_t field, size_t *len);
/*
 * A destination's delivery policy as the rules declared it (routed acts on
 * it). Zero means "not given" for every field but dead_letter, which is a
 * destination index or ROUTE_NONE.
 */
struct route_dest_policy {
	uint32_t retry_max;        /* retries after the first attempt; 0 = no retry */
	uint32_t backoff_min_ms;   /* backoff of the first retry */
	uint32_t backoff_max_ms;   /* cap of the exponential backoff */
	uint32_t max_age_ms;       /* give up once the event is this old; 0 = no limit */
	uint32_t timeout_ms;       /* per attempt; 0 = the service's default */
	uint32_t dead_letter;      /* destination index, or ROUTE_NONE */
	uint32_t priority;         /* delivery lane: 0 is served first, 9 last (default 5) */
	uint32_t workers;          /* concurrent deliveries (default 1) */
	uint32_t queue_max;        /* bounded queue length; 0 = the service's default */
	uint32_t batch_every_ms;   /* batch: deliver every T ms ... (0: no time trigger) */
	uint32_t batch_max;        /* ... or N messages, whichever first (0: no count trigger) */
	uint32_t throttle_n;       /* at most N deliveries ... */
	uint32_t throttle_per_ms;  /* ... per T ms; 0 = unthrottled */
};
/* Fills *pol with destination dest's policy. Returns 0, or -1 if dest is out of range. */
int route_dest_policy(const route_prog *p, uint32_t dest, struct route_dest_policy *pol);
/* The rule's source file (borrowed, length in *file_len; NULL if unknown), line and column. */
const char *route_rule_location(const route_prog *p, uint32_t rule, size_t *file_len,
	uint32_t *line, uint32_t *col);

/* A matcher: per-thread state for matching with p (which must outlive it). NULL on OOM. */
route_matcher *route_matcher_new(const route_prog *p);
void route_matcher_free(route_matcher *m);

enum route_status {
	ROUTE_OK = 0,              /* matched (possibly to no destination at all) */
	ROUTE_REJECTED = 1,        /* not a valid event: reason and offset say why */
	ROUTE_UNKNOWN_TYPE = 2,    /* valid, but its type has no contract in the program */
	ROUTE_UNKNOWN_VERSION = 3  /* valid, but that version of its type is not declared */
};

struct route_set {             /* a field changed by a `set` action */
	uint32_t field;            /* route_field_name() */
	const char *json;          /* the new value as JSON text */
	size_t len;
};

struct route_emit {            /* a derived event from an `emit` action */
	uint32_t type;             /* route_type_name() */
	uint32_t version;          /* its contract version */
	uint32_t rule;             /* the rule that emitted it */
	const char *json;          /* the whole derived event as a JSON object */
	size_t len;
};

/*
 * A `backpressure` rule that fired. Without `by` it pushes back on every
 * event (keyed 0); with `by` only on the events of the key it fired for:
 * key is the hash route_pushback_keys() gives an event of that key (of that
 * rule: the rule's name seeds it, so it holds across a reload that keeps
 * the rule's name and `by` fields).
 */
struct route_pushback {
	uint32_t rule;
	int keyed;
	uint64_t key;
};

struct route_decision {
	int status;                /* enum route_status */
	const char *reason;        /* ROUTE_OK: NULL; else a static message */
	size_t offset;             /* ROUTE_REJECTED: byte offset of the problem */
	uint32_t type;             /* the event's type, or ROUTE_NONE */
	uint32_t version;          /* its contract version (the latest when the event has none) */
	const uint32_t *rules;     /* matched rules, in program order */
	uint32_t nrules;
	const uint32_t *dests;     /* destinations, each at most once, in order of first routing */
	uint32_t ndests;
	const struct route_set *sets;
	uint32_t nsets;
	const struct route_emit *emits;
	uint32_t nemits;
	const char *output;        /* the event with the sets applied (buf itself when none) */
	size_t output_len;
	uint32_t backpressure;     /* rules with `backpressure` that fired on this event: the
	                            * service should push back (refuse with Retry-After) */
	const struct route_pushback *pushbacks; /* [backpressure]: each one's rule and key */
};

/*
 * State: what a program remembers between events -- its tables (and, with
 * temporal rules, their windows and timers) and the clock they age by. A
 * state belongs to one program (which must outlive it) and is used by one
 * thread at a time. Each matcher starts with a state of its own (on the
 * real clock); route_matcher_set_state() makes it use st instead
 * (borrowed), NULL returns it to its own. Table updates carried by an event
 * are applied when route_match() has decided it, so the rules on that event
 * see the previous value.
 */
route_state *route_state_new(const route_prog *p);
void route_state_free(route_state *st);
void route_matcher_set_state(route_matcher *m, route_state *st);

/*
 * Time in Unix milliseconds. A state reads the system's real-time clock at
 * each match until route_state_set_time() gives it a virtual clock, which
 * then moves only by set_time and advance (tests, replays).
 */
void route_state_set_time(route_state *st, int64_t unix_ms);
void route_state_advance(route_state *st, int64_t ms);
int64_t route_state_time(route_state *st);

/* Tables: count, names, and what each holds and has done. */
uint32_t route_prog_ntables(const route_prog *p);
/* Rules with temporal clauses (windows, throttle, dedup): their state lives in route_state too. */
uint32_t route_prog_ntemporal(const route_prog *p);
const char *route_table_name(const route_prog *p, uint32_t table, size_t *len);
struct route_table_stats {
	uint64_t entries;          /* live entries */
	uint64_t bytes;            /* memory held by the table */
	uint64_t updates;          /* entries stored */
	uint64_t deletes;          /* entries removed by `delete on` events */
	uint64_t skipped;          /* updates whose key or value was missing, null or of the wrong type */
	uint64_t evicted;          /* least recently updated entries dropped at max_keys */
	uint64_t expired;          /* entries dropped after their ttl */
};
int route_state_table_stats(const route_state *st, uint32_t table, struct route_table_stats *s);

/* Temporal rules (windows, aggregates, keys, throttle, dedup): what each has seen and holds. */
struct route_rule_stats {
	uint64_t entered;          /* events that passed the rule's filter */
	uint64_t fired;            /* of them, firings (actions run) */
	uint64_t no_key;           /* not counted: a key field had no value */
	uint64_t below;            /* the aggregate condition did not hold */
	uint64_t duplicates;       /* dedup: the key fired the rule within the window */
	uint64_t throttled;        /* excess firings, dropped or routed to `else` */
	uint64_t keys;             /* live keys */
	uint64_t bytes;            /* memory held by the rule's state */
	uint64_t evicted;          /* keys evicted at the key limit (1,000,000 per rule) */
	uint64_t dropped;          /* events dropped from a full window (100,000 per key) */
	uint64_t pending;          /* then/unless: first events waiting (partial matches, armed deadlines) */
	uint64_t cancelled;        /* unless: deadlines cancelled by the awaited event */
	uint64_t expired;          /* then: first events whose window ran out without the second */
	uint64_t late;             /* event time: events older than the allowed lateness (not counted) */
};
/* -1 when rule has no temporal clause. */
int route_state_rule_stats(const route_state *st, uint32_t rule, struct route_rule_stats *s);

/*
 * Snapshot and restore of a whole state (tables, windows, dedup and throttle
 * keys, counters, the virtual clock) as bytes, for crash recovery and for
 * carrying state over a reload. route_state_snapshot writes into buf (cap
 * bytes) and returns the size the snapshot needs: call it with cap 0 to
 * learn it; the bytes are complete only when the size <= cap. The state is
 * not changed (a snapshot is a consistent picture between two matches).
 * route_state_restore loads a snapshot into st -- a fresh state of the same
 * program or of a reloaded one: tables are matched by name and types, the
 * state of temporal rules by rule name and definition (a rule whose text
 * changed starts empty); what found no match is dropped and counted in
 * *rep (may be NULL). Returns 0, or -1 with a reason in err when the bytes
 * are not a complete, intact snapshot (checksummed); st may then hold part
 * of it.
 */
struct route_restore_report {
	uint32_t tables, tables_dropped;   /* tables restored / without a match */
	uint32_t rules, rules_dropped;     /* temporal rules restored / without a match */
};
size_t route_state_snapshot(route_state *st, void *buf, size_t cap);
int route_state_restore(route_state *st, const void *buf, size_t len, struct route_restore_report *rep,
	char *err, size_t errlen);

/*
 * Timers: an absence (`A unless B within D`) fires at its deadline, with no
 * event arriving. route_matcher_tick(m, &d) fires the next deadline that is
 * due at the state's current time (virtual, or the real clock) and fills *d
 * with that firing's decision: d->rules[0] is the rule, d->emits the events
 * it emitted (with fields taken from the first event), and when the rule
 * routes, d->dests with d->output the first event's bytes (kept since it
 * arrived). d->type/version are the first event's. Returns 1 when a
 * deadline fired, 0 when none is due; call it in a loop until it returns 0
 * (deadlines fire in order). Emitted events are routed like ingested ones
 * (route_match each). Lifetimes as for route_match. The service calls it
 * when route_state_next_deadline() has passed (INT64_MIN: fired deadlines
 * are still queued; INT64_MAX: none pending), e.g. from a timer of its
 * event loop, on the thread that owns the matcher and its state.
 */
int route_matcher_tick(route_matcher *m, struct route_decision *d);
int64_t route_state_next_deadline(route_state *st);

/*
 * What each rule costs. A matcher counts, per rule, the times its condition
 * was evaluated (the index skips the rules an event's keys rule out, and
 * an `otherwise` rule after a routing match is not run), and times the
 * evaluations of one event in every `every` (route_matcher_time_rules;
 * 0, the default, times none): the condition, a temporal rule's window
 * step and the actions, less what the clock's two reads take themselves.
 * route_matcher_rule_cost() gives the counts since the matcher was made
 * (zeros for a rule out of range). Reading the clock twice per rule of a
 * timed event is what timing costs.
 */
struct route_rule_cost {
	uint64_t evaluations;      /* conditions evaluated */
	uint64_t timed;            /* of those, timed */
	uint64_t timed_ns;         /* the time the timed ones took */
};
void route_matcher_time_rules(route_matcher *m, uint32_t every);
void route_matcher_rule_cost(const route_matcher *m, uint32_t rule, struct route_rule_cost *out);

/*
 * Matches one event: validates and scans buf[0..len), runs the transform
 * rules (`set`), then the routing rules, then the `otherwise` rules, and
 * fills *d. Returns d->status. Allocates nothing.
 */
int route_match(route_matcher *m, const char *buf, size_t len, struct route_decision *d);

/*
 * Splitting state over threads by key. A service that runs one matcher per
 * thread, each with its own route_state, must send every event that touches
 * a piece of state (a table entry; the window, throttle or dedup cell of one
 * key) to the thread holding it. route_prog_partition() returns 1 when the
 * program's state can be split that way (some event type is keyed by a
 * field), else 0; *why (may be NULL) gets the first reason an event type
 * touching state must stay on one thread ("" when none does), borrowed from
 * the program.
 *
 * route_classify() validates and scans an event like route_match(), but
 * runs no rule and touches no state (validation threads use it), and says
 * where its state lives: ROUTE_PART_KEY with the hash of its key (equal keys,
 * equal hashes: send it to thread key % n), ROUTE_PART_ONE (its type's state
 * cannot be split: always the same thread, e.g. 0), or ROUTE_PART_ANY (it
 * touches no state, or lacks its key: any thread). It replaces the
 * matcher's last event. Returns c->status.
 */
enum route_part { ROUTE_PART_ANY = 0, ROUTE_PART_KEY = 1, ROUTE_PART_ONE = 2 };
struct route_class {
	int status;                /* enum route_status, as route_match() would say */
	const char *reason;        /* ROUTE_REJECTED and the unknown ones: why (static) */
	size_t offset;             /* ROUTE_REJECTED: byte offset of the problem */
	uint32_t type, version;    /* the event's type (ROUTE_NONE when unknown) and version */
	int part;                  /* enum route_part */
	uint64_t key;              /* ROUTE_PART_KEY: the key's hash */
};
int route_prog_partition(const route_prog *p, const char **why);
/* How events of type t are placed: enum route_part; *field (ROUTE_PART_KEY) gets the key field. */
int route_type_partition(const route_prog *p, uint32_t t, uint32_t *field);
int route_classify(route_matcher *m, const char *buf, size_t len, struct route_class *c);

/*
 * The keys a keyed `backpressure` could push back the event the matcher
 * last classified (or matched) under: for each rule with `backpressure`
 * and `by` on the event's type whose `by` fields the event has, the hash a
 * firing of that rule on an event of the same key would carry (struct
 * route_pushback). The key is read from the event as it arrived (before
 * any `set`). Writes up to cap hashes to keys and returns how many there
 * are (0 when the event was refused or no such rule applies).
 */
uint32_t route_pushback_keys(route_matcher *m, uint64_t *keys, uint32_t cap);

/*
 * Why a rule did or did not match the event of the last route_match().
 * Returns 1 (it matched), 0 (it missed), 2 (an `otherwise` rule that was not
 * evaluated because a routing rule matched) or -1 (the rule does not apply
 * to the event's type, or there was no valid event). For a miss, *why holds
 * the predicate that came out false last before the condition gave up (for
 * `a and b` the one that stopped it; for `a or b`, b), the value the event
 * had there (JSON text; NULL when the field was missing) and its source
 * location; op is NULL when no single predicate failed (`not (...)`, a bool
 * field). The miss is re-evaluated on the event as the transform rules left
 * it; `changed` is set when it would hold there (a later `set` changed it).
 */
struct route_why {
	uint32_t pc;               /* the failing predicate's instruction */
	const char *op;            /* its opcode name, e.g. "EQ" */
	const char *field;         /* the field it read (borrowed from the program), or NULL */
	size_t field_len;
	const char *value;         /* the event's value there as JSON text (borrowed), or NULL: missing */
	size_t value_len;
	const char *file;          /* source location of the predicate (borrowed), or NULL */
	size_t file_len;
	uint32_t line, col;
	int changed;               /* missed when it ran; holds on the transformed event */
};
int route_explain(route_matcher *m, uint32_t rule, struct route_why *why);

#ifdef __cplusplus
}
#endif

#endif
