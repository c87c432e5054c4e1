/*
 * json_out.h -- writing JSON: an event with `set` changes applied, the body
 * of a derived (`emit`) event, and JSON string quoting.
 *
 * Runs only when a decision has sets or emits (never on the plain matching
 * path). Input events have been validated by the flattener (event.c), so the
 * editor can walk them with a simple skipper. Output goes into the caller's
 * buffer: nothing is allocated.
 */
#ifndef RV_JSON_OUT_H
#define RV_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>

/* One member to write: a path of keys and the new value as JSON text. */
struct rv_json_member {
	const char *const *segs;  /* keys, outermost first (not escaped) */
	const size_t *seglens;
	unsigned nseg;            /* >= 1 */
	const char *json;         /* the value, valid JSON text */
	size_t len;
};

/*
 * Writes buf[0..len) to out[0..cap) with every member set: an existing key
 * (the first occurrence, at the end of the path) gets its value replaced; a
 * missing one is appended to its object, creating the objects on the path
 * that are missing. in_data: the paths start inside the top-level "data"
 * object (CloudEvents) instead of the document. Members must not lead
 * through an array or a non-object value (the path is then refused).
 * Returns 0 and sets *outlen, or -1 with a static reason in *why (too big for
 * cap, a path through a non-object).
 *
 * Details (runtime/json_out.c; tests/unit/check_json_out.c):
 * - Keys are compared by decoded value ("pri\u006frity" is `priority`); at
 *   each level the first occurrence of a key is the one used.
 * - A replaced value may be anything (scalar, object, array); only its bytes
 *   change. An appended member goes right after the object's last value, as
 *   `,"k":v` (or `"k":v` in an empty object, before its closing brace), with
 *   `{"k2":...}` objects for the rest of a missing path. Every other byte of
 *   buf (blanks, key order, escapes, a leading BOM, trailing bytes) is kept.
 * - Members apply one after another; the result equals n single edits in
 *   sequence. So a later member on the same path wins, and `a.b = 1` then
 *   `a.b.c = 2` fails (the second path goes through the scalar 1), while
 *   `a.b = {}` then `a.b.c = 2` gives "b":{"c":2}.
 * - in_data: a missing "data" member is appended as {"data":{...}}; a
 *   "data" that is not an object (null included) fails.
 * - cap: the edits are made in place in out[] (buf is copied there first,
 *   then each member splices its bytes in with memmove), so out[] must hold
 *   buf and every intermediate document, not only the result. Those are the
 *   same size unless a later member shrinks what an earlier one wrote.
 *   out may be buf itself (edit in place). Cost: O(len) per member.
 * - buf should be a validated object, but any bytes are safe: nothing is
 *   read outside buf[0..len) or the current document in out, nothing
 *   recurses on depth, and malformed input fails ("not a JSON object",
 *   "malformed JSON"). m[i].json is copied as is (it must be valid JSON text;
 *   an empty one is refused); nseg 0 is refused ("empty path").
 * - On failure out[] holds unspecified bytes and *outlen is not set. why may
 *   be NULL.
 */
int rv_json_edit(const char *buf, size_t len, int in_data, const struct rv_json_member *m,
	unsigned n, char *out, size_t cap, size_t *outlen, const char **why);

/*
 * Writes a new object holding the members (nested objects built from the
 * paths; members sharing a prefix share the object), in the given order of
 * first appearance. Returns 0 and *outlen, or -1 if it does not fit.
 * Compact output: a, b.c, b.d -> {"a":1,"b":{"c":2,"d":3}}. It is
 * rv_json_edit() of "{}", so the same rules hold: a later duplicate path
 * replaces the earlier value in place, a path through an earlier scalar
 * (a then a.b) also returns -1, and cap must hold the intermediate objects.
 */
int rv_json_object(const struct rv_json_member *m, unsigned n, char *out, size_t cap,
	size_t *outlen);

/*
 * Writes s[0..len) (UTF-8) as a JSON string with its quotes. Returns the
 * number of bytes written, or 0 if it does not fit in cap. Escapes " and \
 * and control characters (\n \t \r \b \f, others \u00XX with lower-case
 * hex, NUL included); everything else, UTF-8 and DEL included, is copied as
 * is (s must be valid UTF-8; it is not checked). No NUL terminator.
 */
size_t rv_json_quote(const char *s, size_t len, char *out, size_t cap);

/*
 * Writes a double as JSON (integers without a fraction, else %.17g) and
 * returns the bytes written, or 0 if it does not fit (no NUL is written).
 * Integers with |d| < 2^53 print as "%lld" ("100", "-3"); -0 prints "0"
 * (as JSON.stringify does: the sign of zero is not kept). Others print with
 * the first of %.15g, %.16g, %.17g that reads back as the same double:
 * 0.1 -> "0.1", 2^53 -> "9007199254740992", 1e21 -> "1e+21",
 * -2^63 -> "-9.223372036854776e+18". A decimal comma from the locale is
 * turned into '.'. NaN and infinities (never passed) print "null".
 */
size_t rv_json_double(double d, char *out, size_t cap);

#endif
