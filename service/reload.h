/*
 * reload.h -- hot reload of the rules (SIGHUP, POST /admin/reload).
 *
 * A reload re-reads the RULES routed was started with (compiles the .route
 * files, or loads and verifies the .rbc) in the calling thread -- the main
 * thread for SIGHUP, an HTTP thread for the admin endpoint, never a router
 * worker -- checks them against the configuration, and hands them to
 * rd_pipeline_swap, which switches the workers between two events. On any
 * error the rules in use stay and the reason is returned (the compiler's
 * diagnostics: FILE:LINE:COL with a caret). The configuration file is not
 * re-read (docs/routed.md, "Reload").
 *
 * Programs are kept until routed exits: a thread that validated an event
 * with an older program may still hold a matcher of it, and the metrics
 * and lanes keep names of it. Each reload holds one more program (its
 * bytecode, usually kilobytes).
 */
#ifndef RD_RELOAD_H
#define RD_RELOAD_H

#include <pthread.h>
#include <stdio.h>

#include "buf.h"
#include "conf.h"
#include "metrics.h"
#include "pipeline.h"
#include "route.h"

struct rd_reloader {
	pthread_mutex_t mu;        /* one reload at a time */
	char *const *paths;        /* borrows: the RULES arguments */
	int npaths;
	const struct rd_conf *conf; /* borrows: route options and destination bindings */
	struct rd_pipeline *pl;    /* borrows */
	struct rd_metrics *metrics; /* borrows */
	route_prog **progs;        /* owns: [nprogs], every program a reload loaded */
	size_t nprogs;
};

/*
 * Loads RULES: one .rbc, or .route files compiled in-process. Returns the
 * program (the caller owns it), or NULL after writing why to diag.
 */
route_prog *rd_rules_load(char *const *paths, int n, const struct route_options *o, FILE *diag);

/* Borrows everything; the pipeline must be started. */
void rd_reload_init(struct rd_reloader *r, char *const *paths, int npaths, const struct rd_conf *c,
	struct rd_pipeline *pl, struct rd_metrics *m);
/*
 * Reloads the rules; trigger ("SIGHUP", "admin") goes into the log lines.
 * Returns 0, or -1 when the rules in use were kept: *status is then 422
 * (the new rules do not compile, verify or fit the configuration) or 500
 * (they could not be put to use), and msg holds the reason. On success msg
 * holds a JSON object describing the new generation.
 */
int rd_reload_run(struct rd_reloader *r, const char *trigger, struct rd_buf *msg, unsigned *status);
/* Frees the programs (after the pipeline, the HTTP server and the TCP listener are gone). */
void rd_reload_fini(struct rd_reloader *r);

#endif
