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
 */
int rv_json_edit(const char *buf, size_t len, int in_data, const struct rv_json_member *m,
	unsigned n, char *out, size_t cap, size_t *outlen, const char **why);

/*
 * Writes a new object holding the members (nested objects built from the
 * paths; members sharing a prefix share the object), in the given order of
 * first appearance. Returns 0 and *outlen, or -1 if it does not fit.
 */
int rv_json_object(const struct rv_json_member *m, unsigned n, char *out, size_t cap,
	size_t *outlen);

/*
 * Writes s[0..len) (UTF-8) as a JSON string with its quotes. Returns the
 * number of bytes written, or 0 if it does not fit in cap.
 */
size_t rv_json_quote(const char *s, size_t len, char *out, size_t cap);

/* Writes a double as JSON (integers without a fraction, else %.17g). */
size_t rv_json_double(double d, char *out, size_t cap);

#endif
