/*
 * event.h -- the flattener: one strict pass over an event's JSON bytes that
 * validates it (RFC 8259, UTF-8, limits) and extracts, as zero-copy slices,
 * only the values at the field paths the program's rules use.
 *
 * Written by hand because it is the product (DESIGN.md §4): no DOM, no
 * allocation per event, no recursion (deep nesting is refused by a bounded
 * explicit stack). Used by runtime/route.c (matching) and runtime/json_out.c
 * (nothing else reads event bytes). Slices borrow the caller's buffer and are
 * valid only while it is.
 *
 * Skipping: a member or element no path reaches is validated as strictly
 * as the rest (same checks, same error offsets) but not looked up or
 * recorded; an object or array there goes through a leaner loop of its own.
 *
 * Paths: a field path is a sequence of object keys from the payload root.
 * A path that meets an array applies to every element (any-element
 * semantics): `items.sku` yields the sku of every item; a path that ends at
 * an array yields an RV_J_ARRAY marker value (so that `exists` holds even
 * for []) followed by every element (nested arrays flattened). A path that
 * ends at an object yields one RV_J_OBJECT value.
 *
 * Envelopes: in a plain event the payload root is the document and the
 * envelope attributes are top-level members named by the configuration
 * (defaults: event_type, event_id, event_source, event_time, event_version,
 * event_subject). A CloudEvents 1.0 structured event (a top-level
 * "specversion" member) has its attributes at the top level (type, id,
 * source, time, subject; the version is the extension "eventversion") and
 * its payload under "data". RV_ENV_AUTO tells them apart per event.
 *
 * Duplicate keys: a key that a rule reads may appear only once in its object
 * (the event is rejected: "duplicate key"); duplicates of other keys are
 * allowed and not looked at. "Reads" is per envelope: in a CloudEvents event
 * the top-level keys read are the attributes, "data" (and, under AUTO,
 * "specversion"); in a plain event, the configured attribute names and the
 * first segments of payload paths. Under AUTO, while "specversion" has not
 * been seen yet, a duplicate (or too many values) that only matters for one
 * reading is remembered and reported once the envelope is known, so a syntax
 * error later in the document is reported instead.
 *
 * Limits: max_bytes is checked first; a number longer than
 * RV_JSON_NUMBER_MAX bytes is refused ("number longer than the limit") so
 * that rv_json_number can parse any accepted number from a stack buffer.
 * Keys are decoded (escapes) before being compared with path segments.
 */
#ifndef RV_EVENT_H
#define RV_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "bytecode.h"

enum rv_jkind { RV_J_NULL, RV_J_FALSE, RV_J_TRUE, RV_J_NUMBER, RV_J_STRING,
	RV_J_OBJECT, RV_J_ARRAY };

#define RV_JF_ESCAPED 0x01u /* string: has backslash escapes; decode before comparing */
#define RV_JF_INT     0x02u /* number: integer syntax (no fraction, no exponent) */

/* One value found at a field path. */
struct rv_jval {
	uint32_t off;   /* strings: first byte after the opening quote; others: first byte */
	uint32_t len;   /* strings: bytes between the quotes (still escaped); others: whole
	                 * text (objects and arrays: '{' or '[' through the closing bracket) */
	uint8_t kind;   /* enum rv_jkind */
	uint8_t flags;  /* RV_JF_* */
	uint16_t reserved; /* 0 */
	uint32_t next;  /* next value of the same field (document order), or RV_NONE */
};

enum rv_envelope { RV_ENV_AUTO, RV_ENV_PLAIN, RV_ENV_CLOUDEVENTS };

/* The envelope attributes, in the order of the @names rules use. */
enum rv_meta { RV_META_TYPE, RV_META_ID, RV_META_SOURCE, RV_META_TIME, RV_META_VERSION,
	RV_META_SUBJECT, RV_META_N };

/*
 * The vector instructions the scanner may use to skip string contents,
 * digit runs and whitespace runs (the grammar, every check and every error
 * offset are the same on every level; tests/unit/check_event.c runs each
 * level it can on the same inputs). RV_SIMD_NONE is the portable C code (8
 * bytes at a time in a uint64_t on little-endian machines, else byte by
 * byte); RV_SIMD_SSE2, 16 bytes at a time, exists in builds for x86-64
 * (event_trie.c says why there is no AVX2 level).
 */
enum rv_simd { RV_SIMD_AUTO, RV_SIMD_NONE, RV_SIMD_SSE2 };

struct rv_scan_config {
	enum rv_envelope envelope;         /* default RV_ENV_AUTO */
	enum rv_simd simd;                 /* the widest level allowed; default RV_SIMD_AUTO: the
	                                    * environment's ROUTE_SIMD ("none", "sse2") if set,
	                                    * else the best the build has. rv_scanner_new lowers
	                                    * it to what the build supports */
	const char *plain_names[RV_META_N];/* plain-event attribute members; NULL = defaults */
	uint32_t max_bytes;                /* whole event; default 1 MiB */
	uint32_t max_depth;                /* nesting of objects and arrays; default 64 */
	uint32_t max_string;               /* bytes of one string (escaped); default 256 KiB */
	uint32_t max_values;               /* values recorded per event; default 4096 */
	int walk_all;                      /* 1: containers no rule reads are walked like the
	                                    * others, not skipped (the reference the tests compare
	                                    * the skipping with); default 0 */
};

/* Fills c with the defaults above. */
void rv_scan_config_default(struct rv_scan_config *c);

/* Longest number text accepted (bytes, sign and exponent included). */
#define RV_JSON_NUMBER_MAX 1024u

struct rv_scanner;  /* per program, immutable, shareable by threads: the path trie */

/*
 * Builds the scanner for p's FIELDS (payload and @meta fields). cfg NULL =
 * defaults. Returns NULL on allocation failure.
 */
struct rv_scanner *rv_scanner_new(const struct rv_prog *p, const struct rv_scan_config *cfg);
/* Frees sc (NULL is fine). Events scanned with it keep their slices (they point into buf). */
void rv_scanner_free(struct rv_scanner *sc);
/* The configuration sc uses, defaults filled in (plain_names never NULL; simd: the level
 * actually used, never RV_SIMD_AUTO). Owned by sc. */
const struct rv_scan_config *rv_scanner_config(const struct rv_scanner *sc);
/*
 * Number of uint32_t words of per-worker scratch (struct rv_event.scratch)
 * a scan with sc needs: the nesting stack (4 words per level of max_depth),
 * the duplicate-key stamps (one per trie node), the list of fields set by
 * the previous scan, and a buffer for decoding escaped keys.
 */
size_t rv_scanner_scratch_size(const struct rv_scanner *sc);

/*
 * The result of one scan. The caller provides the storage once (sized with
 * rv_scanner_config(sc)->max_values, p->nfields and rv_scanner_scratch_size)
 * and reuses it for every event: scanning never allocates. Call
 * rv_event_init once after pointing the arrays at it (and again if they
 * change or another scanner is used): each scan then only resets the
 * entries of first[] the previous scan set, so its cost does not grow with
 * the number of fields. One rv_event per thread.
 */
struct rv_event {
	struct rv_jval *vals;   /* caller's array of max_values entries */
	uint32_t nvals;         /* values recorded */
	uint32_t *first;        /* caller's array of nfields: first value per field or RV_NONE */
	uint32_t *last;         /* caller's array of nfields: scratch for appending */
	uint32_t *scratch;      /* caller's array of rv_scanner_scratch_size(sc) words; the
	                         * scanner's between scans (do not write it) */
	struct rv_jval meta[RV_META_N]; /* envelope attributes; kind RV_J_NULL with len 0 when absent */
	uint8_t has_meta[RV_META_N];    /* 1 when the attribute is present */
	int cloudevents;        /* the event was a CloudEvents envelope */
	uint32_t payload_off;   /* the payload root object: '{' ... */
	uint32_t payload_len;   /* ... through its '}' (0 when data is not an object) */
};

/* Why an event was refused: a static message and where. */
struct rv_scan_error {
	uint32_t offset;        /* byte offset of the problem */
	const char *reason;     /* static text, e.g. "trailing comma in object" */
};

/*
 * Prepares ev (vals, first, last and scratch already set) for scans with sc:
 * every first[] entry becomes RV_NONE, the scratch is cleared, nvals = 0.
 */
void rv_event_init(const struct rv_scanner *sc, struct rv_event *ev);

/*
 * Scans buf[0..len). Returns 0 and fills ev, or -1 and fills err (ev then
 * holds no values: nvals 0, every first[] RV_NONE). Never reads outside
 * buf; never recurses; runs in time linear in len. Values of one field are
 * chained in document order (@meta fields: one value, a copy of ev->meta).
 */
int rv_event_scan(const struct rv_scanner *sc, const char *buf, size_t len,
	struct rv_event *ev, struct rv_scan_error *err);

/*
 * Decodes the JSON string slice s (RV_JF_ESCAPED or not) into out (at least
 * s->len bytes: decoding never grows a string). Returns the decoded length.
 * The slice must come from a successful scan (already validated).
 */
size_t rv_json_unescape(const char *buf, const struct rv_jval *s, char *out);

/*
 * Parses a number slice as a double (correctly rounded; independent of the
 * locale's decimal point; no allocation). Returns 0, or -1 if the value
 * overflows the double range (1e400: the scan accepted it as JSON).
 * Underflow is not an error: 1e-400 gives 0.
 */
int rv_json_number(const char *buf, const struct rv_jval *v, double *out);

#endif
