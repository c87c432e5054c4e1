/*
 * bytecode.h -- the .rbc format and the Route VM instruction encoding.
 *
 * This header is the contract between the compiler and the runtime. It is
 * written by compiler/rbc.c (the section builder) and compiler/emit.c, and
 * read by runtime/bytecode.c (loader, validator, disassembler) and the VM.
 * Changing a layout here means bumping RV_RBC_VERSION_MAJOR.
 *
 * Instructions are fixed 32-bit little-endian words:
 *
 *   31        24 23        16 15         8 7          0
 *  +------------+------------+------------+------------+
 *  |     C      |     B      |     A      |     op     |  ABC, AB, A, N
 *  +------------+------------+------------+------------+
 *  |          Bx / sBx       |     A      |     op     |  ABx, AsBx
 *  +------------+------------+------------+------------+
 *  |              Ax / sJ                 |     op     |  Ax, sJ
 *  +------------+------------+------------+------------+
 *
 * sBx is a two's-complement int16 and sJ a two's-complement 24-bit value;
 * jump offsets are relative to the instruction after the jump and must be
 * positive (forward only), so every block terminates.
 */
#ifndef RV_BYTECODE_H
#define RV_BYTECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- opcodes ------------------------------------------------------------ */

enum rv_opfmt { RV_FMT_N, RV_FMT_A, RV_FMT_AB, RV_FMT_ABC, RV_FMT_ABx,
	RV_FMT_AsBx, RV_FMT_sJ, RV_FMT_Ax };

#define RV_OPF_OUT_A  0x01u /* writes R[A] */
#define RV_OPF_JUMP   0x02u /* may transfer control */
#define RV_OPF_TERM   0x04u /* ends a block */
#define RV_OPF_KX     0x08u /* followed by an EXTRAARG word */
#define RV_OPF_READ_A 0x10u /* reads R[A] */
#define RV_OPF_READ_B 0x20u /* reads R[B] */
#define RV_OPF_READ_C 0x40u /* reads R[C] */

enum rv_op {
#define OP(name, fmt, flags, sem) RV_OP_##name,
#include "opcodes.def"
#undef OP
	RV_NUM_OPS
};
_Static_assert(RV_NUM_OPS <= 256, "opcodes must fit in 8 bits");

struct rv_opinfo {
	const char *name;      /* "LOADK" */
	enum rv_opfmt fmt;
	unsigned flags;        /* RV_OPF_* */
	const char *semantics; /* one line, Lua register notation */
};
/* Indexed by enum rv_op; defined in bytecode.c from opcodes.def. */
extern const struct rv_opinfo rv_opinfo[RV_NUM_OPS];

#define RV_GET_OP(i)   ((unsigned)((i) & 0xffu))
#define RV_GET_A(i)    ((unsigned)(((i) >> 8) & 0xffu))
#define RV_GET_B(i)    ((unsigned)(((i) >> 16) & 0xffu))
#define RV_GET_C(i)    ((unsigned)(((i) >> 24) & 0xffu))
#define RV_GET_Bx(i)   ((unsigned)(((i) >> 16) & 0xffffu))
#define RV_GET_sBx(i)  ((int)(int16_t)(uint16_t)(((i) >> 16) & 0xffffu))
#define RV_GET_Ax(i)   ((unsigned)(((i) >> 8) & 0xffffffu))
#define RV_GET_sJ(i)   ((int)((((i) >> 8) & 0xffffffu) ^ 0x800000u) - 0x800000)

#define RV_MK_ABC(op, a, b, c) \
	((uint32_t)(op) | ((uint32_t)(a) << 8) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 24))
#define RV_MK_ABx(op, a, bx) \
	((uint32_t)(op) | ((uint32_t)(a) << 8) | ((uint32_t)((bx) & 0xffffu) << 16))
#define RV_MK_Ax(op, ax) ((uint32_t)(op) | ((uint32_t)((ax) & 0xffffffu) << 8))

#define RV_MAX_Bx   0xffffu
#define RV_MAX_sBx  0x7fff
#define RV_MAX_sJ   0x7fffff
#define RV_MAX_Ax   0xffffffu
#define RV_MAX_REGS 256u

/* ---- the .rbc file ------------------------------------------------------
 *
 *  +---------------------------+ 0
 *  | struct rv_rbc_header      |   magic, version, sizes, checksum
 *  +---------------------------+ RV_RBC_HEADER_SIZE
 *  | struct rv_rbc_section[n]  |   id, count, offset, size
 *  +---------------------------+
 *  | section data, each 8-byte |   records of the types below; every
 *  | aligned, in any order     |   cross-reference is an index or offset
 *  +---------------------------+ file_size
 *
 * All integers are little-endian. checksum is XXH64 (seed 0) of the whole
 * file [0, file_size) with the checksum field itself read as zero, so a
 * corrupt header (nsections, max_regs, ...) is caught too; see
 * rv_rbc_checksum(). Every section appears at most once;
 * a reader refuses unknown section ids, overlapping or out-of-range
 * sections, and any index that points outside its target section.
 */
#define RV_RBC_MAGIC "\x89RBC\r\n\x1a\n"
#define RV_RBC_VERSION_MAJOR 1
#define RV_RBC_VERSION_MINOR 2 /* 1.1: TEMPORAL, TREFS, AGG; 1.2: TSEQ, TTIME, capture fields */
#define RV_RBC_HEADER_SIZE 48u
#define RV_NONE 0xffffffffu /* "no index" in any u32 reference */

struct rv_rbc_header {
	char magic[8];          /* RV_RBC_MAGIC */
	uint16_t version_major; /* RV_RBC_VERSION_MAJOR: must match */
	uint16_t version_minor; /* newer minor: readable */
	uint32_t header_size;   /* RV_RBC_HEADER_SIZE */
	uint32_t nsections;     /* entries in the section table */
	uint32_t flags;         /* 0 for now */
	uint64_t file_size;     /* whole file, bytes */
	uint64_t checksum;      /* XXH64 of [0, file_size), this field as 0 */
	uint32_t max_regs;      /* registers any block needs, <= RV_MAX_REGS */
	uint32_t reserved;      /* 0 */
};
_Static_assert(sizeof(struct rv_rbc_header) == RV_RBC_HEADER_SIZE, "header size");

struct rv_rbc_section {
	uint32_t id;     /* enum rv_sec */
	uint32_t count;  /* records; size == count * record size */
	uint32_t offset; /* from file start, multiple of 8 */
	uint32_t size;   /* bytes */
};

/* SEC(name, id, record type size, description) */
#define RV_SECTIONS(SEC) \
	SEC(STRS,      1,  1,                         "string pool (UTF-8 bytes)") \
	SEC(CONSTS,    2,  sizeof(struct rv_const),   "constants") \
	SEC(SETITEMS,  3,  sizeof(uint32_t),          "constant indices of set members") \
	SEC(SEGS,      4,  sizeof(struct rv_str),     "field path segments") \
	SEC(FIELDS,    5,  sizeof(struct rv_field),   "event fields read or written by rules") \
	SEC(TYPES,     6,  sizeof(struct rv_type),    "event types") \
	SEC(CONTRACTS, 7,  sizeof(struct rv_contract),"versioned event contracts") \
	SEC(CFIELDS,   8,  sizeof(struct rv_cfield),  "contract fields") \
	SEC(DESTS,     9,  sizeof(struct rv_dest),    "destinations and delivery policies") \
	SEC(TABLES,    10, sizeof(struct rv_table),   "tables kept current by events") \
	SEC(RULES,     11, sizeof(struct rv_rule),    "rules") \
	SEC(RTYPES,    12, sizeof(uint32_t),          "contract (type version) indices rules listen on") \
	SEC(ACTIONS,   13, sizeof(struct rv_action),  "rule actions") \
	SEC(CODE,      14, sizeof(uint32_t),          "instructions") \
	SEC(LINES,     15, sizeof(struct rv_line),    "pc to source location") \
	SEC(FILES,     16, sizeof(struct rv_str),     "source file names") \
	SEC(BUILTINS,  17, sizeof(struct rv_str),     "names of builtins called (CALL B)") \
	SEC(TEMPORAL,  18, sizeof(struct rv_temporal),"temporal clauses of rules (windows, keys, throttle, dedup)") \
	SEC(TREFS,     19, sizeof(uint32_t),          "lists of TEMPORAL: aggregates (kind, field), key fields, destinations") \
	SEC(TSEQ,      20, sizeof(struct rv_tseq),    "sequences (then) and absences (unless) of TEMPORAL records") \
	SEC(TTIME,     21, sizeof(struct rv_ttime),   "event time (timestamp field, lateness) of TEMPORAL records")

/* A string in STRS: bytes [off, off+len). Not NUL-terminated. */
struct rv_str {
	uint32_t off;
	uint32_t len;
};

enum rv_kind {            /* constant kinds; which rv_const fields go with each: */
	RV_K_NULL = 0,        /* - */
	RV_K_BOOL = 1,        /* a: 0 or 1 */
	RV_K_NUM = 2,         /* b: IEEE-754 double bits */
	RV_K_STR = 3,         /* a: STRS offset, b: length */
	RV_K_DURATION = 4,    /* b: milliseconds (uint64) */
	RV_K_RATE = 5,        /* b: double bits, events per second */
	RV_K_REGEX = 6,       /* a: STRS offset, b: length of the pattern; flags */
	RV_K_SET = 7,         /* a: first SETITEMS index, b: member count; flags */
	RV_K_RANGE = 8,       /* a: lower bound const or RV_NONE, b: upper or RV_NONE; flags */
	RV_K_CIDR = 9,        /* aux: 4 or 6, a: prefix length, addr: network */
	RV_K_NKINDS
};
#define RV_KF_CASELESS 0x01u /* REGEX, SET of strings: compare ignoring case */
#define RV_KF_LO_OPEN  0x02u /* RANGE: lower bound excluded */
#define RV_KF_HI_OPEN  0x04u /* RANGE: upper bound excluded */

struct rv_const {
	uint8_t kind;     /* enum rv_kind */
	uint8_t flags;    /* RV_KF_* */
	uint16_t aux;     /* CIDR: address family 4 or 6; else 0 */
	uint32_t a;       /* see enum rv_kind */
	uint64_t b;       /* see enum rv_kind */
	uint8_t addr[16]; /* CIDR: network address in network byte order (v4: first 4) */
};
_Static_assert(sizeof(struct rv_const) == 32, "rv_const is 32 bytes");

enum rv_vtype {            /* declared value types (contracts, fields) */
	RV_T_ANY = 0,
	RV_T_STRING = 1,
	RV_T_NUMBER = 2,
	RV_T_BOOL = 3,
	RV_T_IP = 4,           /* a string holding an IPv4 or IPv6 address */
	RV_T_TIME = 5,         /* an RFC 3339 timestamp string */
	RV_T_OBJECT = 6,
	RV_T_NULL = 7,
	RV_T_ARRAY = 0x80      /* flag: an array of the type in the low bits */
};

enum rv_where {            /* where a field's value comes from */
	RV_FW_PAYLOAD = 0,     /* a path inside the event's payload */
	RV_FW_META = 1,        /* an envelope attribute: @type @id @source @time @version @subject */
	RV_FW_CAPTURE = 2      /* a value captured from the first event of a sequence or absence
	                        * (TSEQ caps): never read from the current event, only from the
	                        * VM's overrides while that rule's actions run (1.2) */
};

struct rv_field {
	uint32_t seg;      /* first SEGS index */
	uint16_t nseg;     /* path segments, >= 1 */
	uint8_t where;     /* enum rv_where */
	uint8_t type;      /* enum rv_vtype, as declared */
	struct rv_str name;/* dotted path for display, e.g. "customer.address.country" */
	uint32_t hash;     /* XXH32 (seed 0) of the display name */
};

struct rv_type {
	struct rv_str name;  /* "support.ticket.created" */
	uint32_t contract;   /* first CONTRACTS index */
	uint32_t ncontract;  /* versions declared, >= 1 */
};

#define RV_CF_OPTIONAL 0x01u /* may be absent (or null) */

struct rv_contract {
	uint32_t type;    /* TYPES index */
	uint32_t version; /* the N of vN */
	uint32_t cfield;  /* first CFIELDS index */
	uint32_t ncfield;
};

struct rv_cfield {
	struct rv_str path; /* dotted path of a leaf or object field */
	uint8_t type;       /* enum rv_vtype */
	uint8_t flags;      /* RV_CF_* */
	uint16_t reserved;
	uint32_t enum_set;  /* SET constant of allowed strings, or RV_NONE */
};

struct rv_dest {
	struct rv_str name;
	uint32_t dead_letter;     /* DESTS index, or RV_NONE */
	uint8_t priority;         /* 0 (first) .. 9 (last); default 5 */
	uint8_t reserved;
	uint16_t workers;         /* delivery workers, default 1 */
	uint32_t queue_max;       /* bounded queue length, 0 = service default */
	uint32_t retry_max;       /* attempts after the first, 0 = no retry */
	uint32_t backoff_min_ms;  /* first retry delay */
	uint32_t backoff_max_ms;  /* cap of the exponential backoff */
	uint32_t max_age_ms;      /* give up after, 0 = no limit */
	uint32_t timeout_ms;      /* per attempt, 0 = service default */
	uint32_t batch_every_ms;  /* batch: deliver every T ... */
	uint32_t batch_max;       /* ... or N events, whichever first; 0 = no batching */
	uint32_t throttle_n;      /* at most N deliveries ... */
	uint32_t throttle_per_ms; /* ... per T; 0 = unthrottled (excess waits) */
};

struct rv_table {
	struct rv_str name;
	uint8_t key_type;      /* enum rv_vtype */
	uint8_t value_type;    /* enum rv_vtype */
	uint16_t reserved;
	uint32_t from_type;    /* TYPES index of the updating event */
	uint32_t key_field;    /* FIELDS index read from that event for the key */
	uint32_t value_field;  /* FIELDS index read for the value */
	uint32_t del_type;     /* TYPES index of the deleting event, or RV_NONE */
	uint32_t del_key_field;/* FIELDS index of its key, or RV_NONE */
	uint32_t max_keys;     /* bound on entries */
	uint64_t ttl_ms;       /* entries expire after, 0 = never (max_keys bounds) */
};

#define RV_RF_OTHERWISE 0x01u /* fires only when no routing rule matched */
#define RV_RF_TRANSFORM 0x02u /* has set actions: runs in the transform phase */
#define RV_RF_ROUTES    0x04u /* has route actions */

struct rv_rule {
	struct rv_str name;
	uint32_t flags;      /* RV_RF_* */
	uint32_t cond_pc;    /* condition block: ends in MATCH or MISS */
	uint32_t rtype;      /* first RTYPES index */
	uint32_t nrtype;     /* contracts (type versions) the rule listens on, >= 1 */
	uint32_t action;     /* first ACTIONS index */
	uint32_t naction;
	uint32_t file;       /* FILES index */
	uint32_t line, col;  /* 1-based location of the rule keyword */
	uint32_t span_start; /* byte span of the rule in its file */
	uint32_t span_end;
	uint32_t cost;       /* instructions in the condition block */
};

/* ---- temporal clauses (format 1.1) ---- */

#define RV_MAX_AGGS 32u          /* aggregates of one rule (AGG B < naggs <= this) */

enum rv_aggkind { RV_AGGK_COUNT, RV_AGGK_SUM, RV_AGGK_AVG, RV_AGGK_MIN, RV_AGGK_MAX,
	RV_AGGK_DISTINCT, RV_AGGK_RATE, RV_AGGK_N };

#define RV_TF_WINDOW   0x01u /* within: a sliding window of within_ms, aggregates */
#define RV_TF_THROTTLE 0x02u /* throttle throttle_n per throttle_ms (per key) */
#define RV_TF_ELSE     0x04u /* throttle ... else route: elses lists the destinations */
#define RV_TF_DEDUP    0x08u /* dedup: fires once per dedup key within dedup_ms */
#define RV_TF_BACKPRESSURE 0x10u /* backpressure: a firing asks the service to push back (WINDOW) */
#define RV_TF_SEQ      0x20u /* then: a TSEQ record; within_ms bounds a pending first event (1.2) */
#define RV_TF_ABSENT   0x40u /* unless: a TSEQ record; within_ms is the deadline (1.2) */
#define RV_TF_TUMBLE   0x80u /* every: tumbling periods of within_ms, aggregates reported at each
                              * period's end; a TSEQ record (no second event) holds its key
                              * fields and captures (1.2) */

/*
 * The temporal clauses of one rule (TEMPORAL is sorted by rule, one record
 * per rule at most). The rule's condition block is the filter (the `when`
 * conjuncts without aggregates); agg_pc the aggregate condition, run after
 * the event entered the window, where AGG B reads aggregate B. Lists live in
 * TREFS: aggregates as naggs (kind, FIELDS index or RV_NONE) pairs, by and
 * dedup keys as FIELDS indices (no dedup key: @id), elses as DESTS indices.
 */
struct rv_temporal {
	uint32_t rule;        /* RULES index */
	uint32_t flags;       /* RV_TF_* */
	uint64_t within_ms;   /* WINDOW: window length, >= 1 */
	uint64_t throttle_ms; /* THROTTLE: period, >= 1 */
	uint64_t dedup_ms;    /* DEDUP: window, >= 1 */
	uint32_t agg_pc;      /* aggregate condition block (MATCH/MISS), or RV_NONE */
	uint32_t aggs;        /* first TREFS entry of the (kind, field) pairs */
	uint32_t naggs;       /* <= RV_MAX_AGGS */
	uint32_t by;          /* first TREFS entry of the key fields */
	uint32_t nby;
	uint32_t throttle_n;  /* THROTTLE: firings allowed per period, >= 1 */
	uint32_t elses;       /* first TREFS entry of the `else route` destinations */
	uint32_t nelse;
	uint32_t dedup;       /* first TREFS entry of the dedup key fields */
	uint32_t ndedup;
	uint64_t def_hash;    /* XXH64 of the rule's source text: state carries over a
	                       * reload to the rule with the same name and hash */
};
_Static_assert(sizeof(struct rv_temporal) == 80, "rv_temporal is 80 bytes");

/*
 * A sequence (`A then B within D where ...`), an absence (`A unless B
 * within D where ...`) or a tumbling window (`every D`), format 1.2: one per
 * TEMPORAL record with RV_TF_SEQ, RV_TF_ABSENT or RV_TF_TUMBLE, sorted by
 * that record. A tumbling window has no second event (nbtypes 0, bcond_pc
 * the rule's condition block): its keys are the `by` fields and its
 * captures the `by` values its `emit` reads. The rule's condition block
 * filters A; bcond_pc filters B (the `where` conjuncts on B alone). The
 * correlation key is the first value of akeys[i] on A and of bkeys[i] on B
 * (the `where` equalities, then the rule's `by` on both events). caps are
 * (source field of A, CAPTURE field) pairs: A's values kept with the pending
 * match and given to the actions through the CAPTURE fields.
 *
 *   TREFS  btypes: [contract]...  akeys: [field]...  bkeys: [field]...
 *          caps: [src field, capture field]...
 */
#define RV_SQ_KEEP_EVENT 0x01u /* keep A's bytes: an absence that routes delivers A at the deadline */

struct rv_tseq {
	uint32_t temporal;    /* TEMPORAL index */
	uint32_t flags;       /* RV_SQ_* */
	uint32_t bcond_pc;    /* condition block on B (MATCH/MISS) */
	uint32_t btypes;      /* first TREFS entry: CONTRACTS indices of B, ascending */
	uint32_t nbtypes;     /* >= 1; 0 for a tumbling window */
	uint32_t akeys;       /* first TREFS entry of A's key fields */
	uint32_t bkeys;       /* first TREFS entry of B's key fields */
	uint32_t nkeys;
	uint32_t caps;        /* first TREFS entry of the (source, capture) pairs */
	uint32_t ncaps;
};
_Static_assert(sizeof(struct rv_tseq) == 40, "rv_tseq is 40 bytes");

/*
 * Event time (`timestamp FIELD lateness D`), format 1.2: the TEMPORAL
 * record's state ages by the event's own time (a time field, RFC 3339, or a
 * number of Unix milliseconds) instead of the router's clock; an event more
 * than lateness_ms older than the newest one seen by the rule is late (not
 * counted). Sorted by temporal, at most one per record; not on an absence or
 * a tumbling window (their deadlines fire on the processing clock).
 */
struct rv_ttime {
	uint32_t temporal;    /* TEMPORAL index */
	uint32_t field;       /* FIELDS index of the timestamp (not CAPTURE) */
	uint64_t lateness_ms; /* 0: none allowed */
};
_Static_assert(sizeof(struct rv_ttime) == 16, "rv_ttime is 16 bytes");

enum rv_akind {
	RV_A_ROUTE = 1,  /* a: DESTS index */
	RV_A_SET = 2,    /* a: FIELDS index written; b: value block pc (ends in YIELD) */
	RV_A_EMIT = 3,   /* a: CONTRACTS index of the derived event (type and version); b: EMITF that follow */
	RV_A_EMITF = 4   /* a: FIELDS index of the derived event's field; b: value block pc */
};

struct rv_action {
	uint32_t kind;   /* enum rv_akind */
	uint32_t a;
	uint32_t b;
	uint32_t reserved;
};

struct rv_line {     /* LINES is sorted by pc; an entry holds until the next */
	uint32_t pc;
	uint32_t file;   /* FILES index */
	uint32_t line;   /* 1-based */
	uint32_t col;    /* 1-based, in bytes */
};

enum rv_sec {
#define RV_SEC_ENUM(name, id, rsize, desc) RV_SEC_##name = id,
	RV_SECTIONS(RV_SEC_ENUM)
#undef RV_SEC_ENUM
	RV_SEC_MAX = 21
};

/* ---- a loaded program -------------------------------------------------
 *
 * One allocation: struct rv_prog followed by a private copy of the file image;
 * every pointer below points into that copy. Immutable once loaded, so it can
 * be shared read-only by any number of threads.
 */
struct rv_prog {
	const unsigned char *image; /* borrows: the copy that follows this struct */
	size_t size;                /* bytes of image */
	uint32_t max_regs;
	const char *strs;                  uint32_t nstrs;     /* bytes */
	const struct rv_const *consts;     uint32_t nconsts;
	const uint32_t *setitems;          uint32_t nsetitems;
	const struct rv_str *segs;         uint32_t nsegs;
	const struct rv_field *fields;     uint32_t nfields;
	const struct rv_type *types;       uint32_t ntypes;
	const struct rv_contract *contracts; uint32_t ncontracts;
	const struct rv_cfield *cfields;   uint32_t ncfields;
	const struct rv_dest *dests;       uint32_t ndests;
	const struct rv_table *tables;     uint32_t ntables;
	const struct rv_rule *rules;       uint32_t nrules;
	const uint32_t *rtypes;            uint32_t nrtypes;
	const struct rv_action *actions;   uint32_t nactions;
	const uint32_t *code;              uint32_t ncode;
	const struct rv_line *lines;       uint32_t nlines;
	const struct rv_str *files;        uint32_t nfiles;
	const struct rv_str *builtins;     uint32_t nbuiltins;
	const struct rv_temporal *temporal; uint32_t ntemporal;
	const uint32_t *trefs;             uint32_t ntrefs;
	const struct rv_tseq *tseq;        uint32_t ntseq;
	const struct rv_ttime *ttime;      uint32_t nttime;
	const int *builtin_ids;            /* borrows: enum rb_builtin per BUILTINS entry */
};

/*
 * Loads an .rbc image from buf[0..len) and validates all of it: magic,
 * version, checksum, section table, every index and offset, every
 * instruction (operands in range, jumps forward and inside their block,
 * each block ending in the right terminator). The caller keeps buf.
 * Returns 0 and sets *out (owned by the caller, free with rv_prog_free), or
 * returns -1 with a one-line reason in err (always NUL-terminated).
 * Never reads outside buf, never loops on hostile input.
 */
int rv_prog_load(const void *buf, size_t len, struct rv_prog **out, char *err, size_t errlen);
/* As rv_prog_load, reading the file at path; err names the file. */
int rv_prog_load_file(const char *path, struct rv_prog **out, char *err, size_t errlen);
void rv_prog_free(struct rv_prog *p);

/*
 * Returns the checksum of the image img[0..len) (len >= RV_RBC_HEADER_SIZE):
 * XXH64, seed 0, over all of it with the header's checksum field as zero.
 * The writer (compiler/rbc.c) stores it, the loader compares it.
 */
uint64_t rv_rbc_checksum(const void *img, size_t len);

/* Names of the constant kinds, indexed by enum rv_kind. */
extern const char *const rv_kind_names[RV_K_NKINDS];
/* The pc a jump instruction at pc lands on (JMP, JMPF, JMPT). */
int64_t rv_jump_target(uint32_t insn, uint32_t pc);
/* The double whose IEEE-754 bits are b (NUM and RATE constants). */
double rv_bits_double(uint64_t b);

/* String s of the pool (not NUL-terminated; its length is s.len). */
const char *rv_prog_str(const struct rv_prog *p, struct rv_str s);

/*
 * Prints the readable listing of p: header, pools, contracts, destinations,
 * tables, rules with their actions, then the code of each block with each
 * instruction's operands, its semantics from opcodes.def and, for constants
 * and fields, their values. Golden tests compare this text byte for byte, so
 * it prints nothing that depends on the machine or the time.
 */
void rv_prog_disasm(const struct rv_prog *p, FILE *out);

#endif
