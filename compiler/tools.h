/*
 * tools.h -- `routec run` and `routec explain`: matching events from files
 * with libroute and printing the decisions. The CLI (routec.c) only parses
 * arguments; the work is here, on top of route.h.
 */
#ifndef RC_TOOLS_H
#define RC_TOOLS_H

#include <stdio.h>

#include "route.h"

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

#endif
