/*
 * driver.h -- one compilation from .route sources to a .rbc image.
 *
 * The pipeline: parse every file (and its imports) -> sema -> analyze ->
 * (unless only checking) lower + opt + emit. Each stage runs only if the one
 * before reported no error, so one mistake gives one message. Used by the
 * routec CLI, the unit tests and the fuzz target.
 */
#ifndef RC_DRIVER_H
#define RC_DRIVER_H

#include <stddef.h>
#include <stdio.h>

struct rl_program;
struct rc_model;

enum rc_exit {             /* routec's documented exit codes */
	RC_EXIT_OK = 0,        /* success (warnings allowed) */
	RC_EXIT_RULES = 1,     /* errors in the rules, or an invalid .rbc */
	RC_EXIT_USAGE = 2,     /* bad command line */
	RC_EXIT_IO = 3,        /* a file could not be read or written */
	RC_EXIT_INTERNAL = 4   /* a bug: the compiler produced an invalid program */
};

struct rc_options {
	int opt;               /* 0: no IR optimisation; 1, 2: on (default 2) */
	int check_only;        /* stop after the checks */
	int werror;            /* warnings are errors */
	int nowarn;            /* do not print warnings */
	unsigned max_errors;   /* errors printed before stopping the report (0 = all) */
	int verbose;           /* print stage timings and sizes to stderr */
	FILE *diag;            /* where diagnostics go (NULL: nowhere) */
	/* called once an image is emitted, while the checked program is alive
	 * (routec test reads its test blocks); the arguments are borrowed for
	 * the duration of the call */
	void (*on_compiled)(void *ud, const struct rl_program *p, const struct rc_model *m,
		const unsigned char *rbc, size_t rbclen);
	void *on_compiled_ud;
};

struct rc_stats {
	unsigned nfiles, nevents, ndests, nrules, ninsns, max_regs;
	unsigned nerrors, nwarnings;
	size_t rbc_bytes;      /* size of the image */
	size_t arena_bytes;    /* compiler memory (arena) */
	double ms_parse, ms_check, ms_emit;
};

/* The options routec uses when none are given. */
void rc_options_default(struct rc_options *o);

/*
 * Compiles the files paths[0..npaths). On success returns RC_EXIT_OK and, unless
 * check_only, a malloc'd image in *rbc (free with ru_free). Otherwise returns
 * RC_EXIT_RULES (diagnostics printed) or RC_EXIT_IO (a message printed to
 * o->diag). st may be NULL.
 */
enum rc_exit rc_compile_files(const char *const *paths, int npaths, const struct rc_options *o,
	unsigned char **rbc, size_t *rbclen, struct rc_stats *st);

/* The same for one source held in memory, named name in messages. */
enum rc_exit rc_compile_string(const char *name, const char *text, size_t len,
	const struct rc_options *o, unsigned char **rbc, size_t *rbclen, struct rc_stats *st);

#endif
