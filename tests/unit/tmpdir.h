/*
 * tmpdir.h -- a scratch directory for one Check program of routed's tests
 * (check_auth, check_lanes, check_reload, check_routed, check_wal): made
 * under $TMPDIR (else /tmp) before the suite runs, removed with what it
 * holds after. Everything is static: each program includes this once.
 */
#ifndef TMPDIR_H
#define TMPDIR_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static char tmpdir[256];       /* the directory, once tmpdir_run made it */

/*
 * Makes tmpdir as NAME.XXXXXX, runs suite s (the runner owns it), then calls
 * before_remove (may be NULL) and removes the directory. Returns the
 * program's exit status: 0 when every test passed, 1 when one failed, 99
 * when the directory could not be made.
 */
static int
tmpdir_run(const char *name, Suite *s, void (*before_remove)(void))
{
	const char *t = getenv("TMPDIR");
	char cmd[300];
	SRunner *sr;
	int nfail;

	snprintf(tmpdir, sizeof tmpdir, "%s/%s.XXXXXX", t && *t ? t : "/tmp", name);
	if (!mkdtemp(tmpdir))
		return 99;
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (before_remove)
		before_remove();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "%s: could not remove %s\n", name, tmpdir);
	return nfail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
