/*
 * rbc.h -- the .rbc section builder: how the compiler produces a program.
 *
 * One growable buffer per section of runtime/bytecode.h (the format this
 * builder writes; the loader in runtime/bytecode.c is the other side of that
 * contract). Strings, constants, fields, builtins and file names are interned
 * through one open-addressing hash table keyed by XXH64 of their bytes, so the
 * same value always gets the same index, in O(1) average time. Used by
 * compiler/emit.c; the unit tests in tests/unit/check_bytecode.c build small
 * programs with it. Out of memory aborts (ru_xmalloc), as everywhere in the
 * compiler.
 */
#ifndef RC_RBC_H
#define RC_RBC_H

#include <stddef.h>
#include <stdint.h>

#include "bytecode.h"

struct rc_rbc;

/* Returns a new, empty builder, owned by the caller; never NULL. */
struct rc_rbc *rc_rbc_new(void);
/* Frees b and everything it owns; b may be NULL. */
void rc_rbc_free(struct rc_rbc *b);

/*
 * Interns s[0..len) in STRS and returns where it lives: the same bytes
 * always give the same offset. s may be NULL when len is 0.
 */
struct rv_str rc_rbc_str(struct rc_rbc *b, const char *s, size_t len);
/*
 * Borrows the bytes of a string of this builder (s must come from rc_rbc_str
 * or a record of b); valid until the next string is interned. Not
 * NUL-terminated.
 */
const char *rc_rbc_str_bytes(const struct rc_rbc *b, struct rv_str s);

/*
 * Appends one zeroed record of section id's record size and returns it; the
 * pointer is valid until the next push to the same section. *index (if index
 * is not NULL) receives the record's index.
 */
void *rc_rbc_push(struct rc_rbc *b, enum rv_sec id, uint32_t *index);
/* Returns record index of section id (index < rc_rbc_count); same validity as push. */
void *rc_rbc_at(struct rc_rbc *b, enum rv_sec id, uint32_t index);
/* Returns the number of records in section id. */
uint32_t rc_rbc_count(const struct rc_rbc *b, enum rv_sec id);

/*
 * Constants, deduplicated: the same kind, flags and value give the same
 * CONSTS index. -0.0 is stored as 0.0; NaN must not be passed.
 */
uint32_t rc_rbc_k_null(struct rc_rbc *b);
uint32_t rc_rbc_k_bool(struct rc_rbc *b, int v);
uint32_t rc_rbc_k_num(struct rc_rbc *b, double v);
uint32_t rc_rbc_k_str(struct rc_rbc *b, const char *s, size_t len);
uint32_t rc_rbc_k_duration(struct rc_rbc *b, uint64_t ms);
uint32_t rc_rbc_k_rate(struct rc_rbc *b, double per_second);
/* flags: RV_KF_CASELESS or 0. */
uint32_t rc_rbc_k_regex(struct rc_rbc *b, const char *pat, size_t len, unsigned flags);
/*
 * items[0..n) are CONSTS indices of members (none of them a SET), copied;
 * order is kept. flags: RV_KF_CASELESS or 0. Sets with the same members in
 * the same order share one constant. items must not borrow from b.
 */
uint32_t rc_rbc_k_set(struct rc_rbc *b, const uint32_t *items, uint32_t n, unsigned flags);
/* lo/hi: CONSTS indices of NUM bounds, or RV_NONE; flags: RV_KF_LO_OPEN | RV_KF_HI_OPEN. */
uint32_t rc_rbc_k_range(struct rc_rbc *b, uint32_t lo, uint32_t hi, unsigned flags);
/*
 * family 4 (addr[0..4)) or 6 (addr[0..16)), prefix <= 32 or 128. Host bits
 * beyond the prefix are cleared, so 10.1.2.3/8 and 10.0.0.0/8 are one constant.
 */
uint32_t rc_rbc_k_cidr(struct rc_rbc *b, int family, const uint8_t addr[16], unsigned prefix);

/*
 * Returns the FIELDS index of the path segs[0..nseg) (segs[i] has seglens[i]
 * bytes) read from where; deduplicated by (where, segments). The type of the
 * first call is kept. The display name is the segments joined by '.', and
 * the record's hash is XXH32 (seed 0) of it. nseg is 1 .. 65535. The
 * segments must not borrow from b's own pool (interning may move it).
 */
uint32_t rc_rbc_field(struct rc_rbc *b, const char *const *segs, const size_t *seglens,
	unsigned nseg, enum rv_where where, unsigned type);
/* Returns the BUILTINS index of name (NUL-terminated), deduplicated. */
uint32_t rc_rbc_builtin(struct rc_rbc *b, const char *name);
/* Returns the FILES index of name[0..len), deduplicated. */
uint32_t rc_rbc_file(struct rc_rbc *b, const char *name, size_t len);

/* Appends insn to CODE and returns its pc. Patch jumps through rc_rbc_at(b, RV_SEC_CODE, pc). */
uint32_t rc_rbc_emit_code(struct rc_rbc *b, uint32_t insn);
/*
 * Records that code from pc on comes from file:line:col. Appends only when
 * the location differs from the last one; a second call for the same pc
 * replaces the first. pc must not be below the pc of the previous call.
 */
void rc_rbc_line(struct rc_rbc *b, uint32_t pc, uint32_t file, uint32_t line, uint32_t col);

/*
 * Serializes b: header, section table (non-empty sections only, by id),
 * sections 8-aligned and zero-padded, checksum. Returns 0 with *out a fresh
 * buffer owned by the caller (free with ru_free) of *outlen bytes, or -1 with
 * a one-line reason in err when a section or the file outgrows the u32
 * sizes and offsets of the format, or max_regs exceeds RV_MAX_REGS.
 * LINES entries at or beyond the end of CODE are dropped.
 */
int rc_rbc_write(struct rc_rbc *b, uint32_t max_regs, unsigned char **out, size_t *outlen,
	char *err, size_t errlen);

#endif
