/*
 * diag.h -- compiler diagnostics in GNU form with the source line and a caret.
 *
 *   rules/payments.route:12:8: error: unknown field 'amout' (did you mean 'amount'?)
 *      12 |   when amout > 100 route fraud
 *         |        ^~~~~
 *
 * Every diagnostic has a stable ID from diag.def. The reporter keeps going and
 * counts: up to max_errors errors are printed, then one "too many errors" line.
 * Inside the parser the first error at a position wins (libpcap bpf_set_error).
 */
#ifndef RL_DIAG_H
#define RL_DIAG_H

#include <stdarg.h>
#include <stdio.h>

#include "srcfile.h"

enum rl_diag_id {
#define DIAG(id, sev, fmt) RL_##id,
#include "diag.def"
#undef DIAG
	RL_NDIAGS
};

enum rl_sev { RL_SEV_ERROR, RL_SEV_WARNING, RL_SEV_NOTE };

struct rl_diag {
	const struct rl_srcset *src; /* borrows: files the spans refer to */
	FILE *out;                   /* borrows: where to print, NULL = silent */
	unsigned nerrors;
	unsigned nwarnings;
	unsigned max_errors;         /* print at most this many errors (0 = no limit) */
	int werror;                  /* warnings count as errors */
	int nowarn;                  /* do not print warnings */
	unsigned counts[RL_NDIAGS];  /* how often each ID was reported */
	uint32_t last_file;          /* position of the last syntax error ... */
	uint32_t last_off;           /* ... so that a second one there is dropped */
	int have_last;
};

void rl_diag_init(struct rl_diag *d, const struct rl_srcset *src, FILE *out);

/* Reports diagnostic id at span; the arguments follow its format. */
void rl_diag(struct rl_diag *d, enum rl_diag_id id, struct rl_span span, ...);
void rl_vdiag(struct rl_diag *d, enum rl_diag_id id, struct rl_span span, va_list ap);

/* The ID's name ("E_UNKNOWN_FIELD") and severity. */
const char *rl_diag_name(enum rl_diag_id id);
enum rl_sev rl_diag_severity(enum rl_diag_id id);

/*
 * Writes " (did you mean 'X'?)" into buf when one of the n candidates is
 * close to name (Damerau-Levenshtein distance <= max(1, len/3)), else "".
 * Returns buf.
 */
char *rl_diag_suggest(char *buf, size_t size, const char *name,
	const char *const *cands, size_t n);

/* Damerau-Levenshtein (optimal string alignment) distance, capped at 100. */
unsigned rl_edit_distance(const char *a, const char *b);

#endif
