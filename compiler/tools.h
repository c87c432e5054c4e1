/*
 * tools.h -- `routec run` and `routec explain`: matching events from files
 * with libroute and printing the decisions. The CLI (routec.c) only parses
 * arguments; the work is here, on top of route.h.
 */
#ifndef RC_TOOLS_H
#define RC_TOOLS_H

#include <stdio.h>

#include "driver.h"
#include "route.h"

struct rv_prog;

struct rc_run_options {
	int stats;                 /* print only counts and events/s */
	int output;                /* print the edited event in each decision */
	int json;                  /* explain: JSON instead of text */
	struct route_options route;
};

/*
 * Runs every line of in (JSON Lines; blank lines are skipped) through p and
 * prints one JSON object per event to out (or the statistics). A bad event
 * is reported with its line, byte offset and reason, and the run goes on.
 * Returns 0, or 3 when in cannot be read.
 */
int rc_tool_run(const route_prog *p, FILE *in, const char *in_name, const struct rc_run_options *o,
	FILE *out);

/*
 * Matches the one event in in and prints, for every rule of the program,
 * whether it matched and, for a miss, the predicate that failed with the
 * value the event had and its source location. Returns 0, 1 if the event
 * was rejected, 3 on a read error.
 */
int rc_tool_explain(const route_prog *p, FILE *in, const char *in_name,
	const struct rc_run_options *o, FILE *out);

/* Does the file at path start with the .rbc magic? */
int rc_tool_is_rbc(const char *path);

/*
 * Writes buf to path atomically (a temporary file in the same directory,
 * then rename); a device or pipe such as /dev/null is written in place; "-"
 * is standard output. Returns 0, or -1 with errno set.
 */
int rc_tool_write_file(const char *path, const unsigned char *buf, size_t len);

/*
 * Loads an image the compiler just produced through the verifier: the
 * compiler must never emit what the runtime would refuse. Returns
 * RC_EXIT_OK (and the program in *prog, owned by the caller, when prog is
 * not NULL) or RC_EXIT_INTERNAL with a message.
 */
int rc_tool_verify(const unsigned char *buf, size_t len, struct rv_prog **prog);

/* `routec dump`: the listing of one .rbc, or of .route sources compiled in memory. */
int rc_tool_dump(char **files, int n, const struct rc_options *o);

/*
 * Loads RULES for run/explain: a .rbc file, or .route sources compiled in
 * memory. Returns the program (route_prog_free) or NULL with *rc set.
 */
route_prog *rc_tool_load_rules(const char *path, const struct rc_options *o,
	const struct route_options *ro, int *rc);

#endif
