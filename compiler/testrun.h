/*
 * testrun.h -- `routec test`: run the test blocks of .route files (testrun.c).
 */
#ifndef RC_TESTRUN_H
#define RC_TESTRUN_H

#include "driver.h"

/*
 * Compiles each of files[0..n) as its own program and runs its tests;
 * prints each failure and the summary line "N passed, N failed" on standard
 * output (with verbose, a line per test). Returns RC_EXIT_OK when every test
 * passed, RC_EXIT_RULES when one failed or a file did not compile, or
 * RC_EXIT_IO when a file could not be read.
 */
int rc_tool_test(char **files, int n, const struct rc_options *o, int verbose);

#endif
