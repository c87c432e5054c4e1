/*
 * driver.c -- the compilation pipeline; see driver.h.
 *
 * Owns the arena of one compilation: the AST, the checked model and the IR
 * live in it and are freed together at the end. The returned .rbc image is
 * a separate allocation owned by the caller.
 */
#include "config.h"
#include "driver.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "analyze.h"
#include "emit.h"
#include "parse.h"
#include "sema.h"

void
rc_options_default(struct rc_options *o)
{
	memset(o, 0, sizeof *o);
	o->opt = 2;
	o->max_errors = 20;
	o->diag = stderr;
}

/* Milliseconds on the monotonic clock, for the timing report. */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * The shared tail of both entry points: p is parsed (or failed to be);
 * check, analyse and emit it.
 */
static enum rc_exit
finish(struct rl_program *p, struct rl_diag *diag, const struct rc_options *o,
	unsigned char **rbc, size_t *rbclen, struct rc_stats *st, double t0, double t1)
{
	struct rc_model m;
	struct rc_emit_stats es = { 0 };
	enum rc_exit rc = RC_EXIT_RULES;
	double t2 = t1, t3 = t1;

	memset(&m, 0, sizeof m);
	if (diag->nerrors == 0)
		rc_sema_check(p, &m);
	if (diag->nerrors == 0)
		rc_analyze(p, &m);
	t2 = now_ms();
	if (diag->nerrors == 0 && !o->check_only) {
		unsigned char *out = NULL;
		size_t len = 0;

		if (rc_emit(p, &m, o->opt, &out, &len, &es) == 0 && diag->nerrors == 0) {
			if (o->on_compiled)
				o->on_compiled(o->on_compiled_ud, p, &m, out, len);
			if (rbc) {
				*rbc = out;
				*rbclen = len;
			} else {
				ru_free(out);
			}
			if (st)
				st->rbc_bytes = len;
			rc = RC_EXIT_OK;
		} else {
			ru_free(out);
		}
	} else if (diag->nerrors == 0) {
		rc = RC_EXIT_OK;
	}
	t3 = now_ms();
	if (st) {
		st->nfiles = (unsigned)p->src.files.n;
		st->nevents = (unsigned)m.events.n;
		st->ndests = (unsigned)m.dests.n;
		st->nrules = o->check_only ? (unsigned)m.rules.n : es.nrules;
		st->ninsns = es.ninsns;
		st->max_regs = es.max_regs;
		st->nerrors = diag->nerrors;
		st->nwarnings = diag->nwarnings;
		st->arena_bytes = p->arena->reserved;
		st->ms_parse = t1 - t0;
		st->ms_check = t2 - t1;
		st->ms_emit = t3 - t2;
	}
	if (o->verbose && o->diag)
		fprintf(o->diag, "routec: %zu file(s), %zu rule(s): parse %.1f ms, check %.1f ms, "
			"emit %.1f ms, %zu KiB of compiler memory\n", p->src.files.n, m.rules.n,
			t1 - t0, t2 - t1, t3 - t2, p->arena->reserved / 1024);
	return rc;
}

/*
 * Initialises arena, diag and p for one compilation with o's diagnostic
 * settings; p borrows arena and diag, which the caller owns.
 */
static void
setup(struct ru_arena *arena, struct rl_diag *diag, struct rl_program *p, const struct rc_options *o)
{
	ru_arena_init(arena);
	rl_diag_init(diag, NULL, o->diag);
	diag->werror = o->werror;
	diag->nowarn = o->nowarn;
	diag->max_errors = o->max_errors;
	rl_program_init(p, arena, diag);
}

/*
 * Both entry points: set up one compilation, let load() parse its sources,
 * then check and emit. load returns RC_EXIT_OK or RC_EXIT_IO.
 */
typedef enum rc_exit rc_loader(struct rl_program *p, const struct rc_options *o, const void *arg);

/*
 * Returns load()'s RC_EXIT_IO, or finish()'s status; *rbc (the caller owns
 * it) is set only when an image was emitted. The arena is freed on return.
 */
static enum rc_exit
compile_with(rc_loader *load, const void *arg, const struct rc_options *o,
	unsigned char **rbc, size_t *rbclen, struct rc_stats *st)
{
	struct ru_arena arena;
	struct rl_diag diag;
	struct rl_program p;
	enum rc_exit rc;
	double t0 = now_ms();

	setup(&arena, &diag, &p, o);
	rc = load(&p, o, arg);
	if (rc == RC_EXIT_OK)
		rc = finish(&p, &diag, o, rbc, rbclen, st, t0, now_ms());
	ru_arena_fini(&arena);
	return rc;
}

struct files_arg {
	const char *const *paths;
	int n;
};

/*
 * rc_loader of rc_compile_files: parses each path and its imports. Returns
 * RC_EXIT_IO (after a message) at the first file that cannot be read.
 */
static enum rc_exit
load_files(struct rl_program *p, const struct rc_options *o, const void *arg)
{
	const struct files_arg *fa = arg;
	int i;

	for (i = 0; i < fa->n; i++) {
		if (rl_parse_path(p, fa->paths[i]) < 0) {
			if (o->diag)
				fprintf(o->diag, "routec: cannot read '%s': %s\n", fa->paths[i], strerror(errno));
			return RC_EXIT_IO;
		}
	}
	return RC_EXIT_OK;
}

struct string_arg {
	const char *name, *text;
	size_t len;
};

/*
 * rc_loader of rc_compile_string: parses the text (copied into the arena).
 * Always RC_EXIT_OK: syntax errors are only counted in the diag.
 */
static enum rc_exit
load_string(struct rl_program *p, const struct rc_options *o, const void *arg)
{
	const struct string_arg *sa = arg;

	(void)o;
	rl_parse_string(p, sa->name, sa->text, sa->len);
	return RC_EXIT_OK;
}

enum rc_exit
rc_compile_files(const char *const *paths, int npaths, const struct rc_options *o,
	unsigned char **rbc, size_t *rbclen, struct rc_stats *st)
{
	struct files_arg fa = { paths, npaths };

	return compile_with(load_files, &fa, o, rbc, rbclen, st);
}

enum rc_exit
rc_compile_string(const char *name, const char *text, size_t len, const struct rc_options *o,
	unsigned char **rbc, size_t *rbclen, struct rc_stats *st)
{
	struct string_arg sa = { name, text, len };

	return compile_with(load_string, &sa, o, rbc, rbclen, st);
}
