/*
 * check_lanes.c -- unit tests of the delivery policies' pure logic
 * (service/retry.c): the destination throttle (at most N starts in any
 * window of T, both the sliding log and the spacing mode, waits that are
 * exact) and the batch timer (N, T, whichever first, the cap); plus the
 * exec sink's outcomes (exit 0, exit status, timeout) and the file sink's
 * rotation (sizes, the K files kept), on real processes and files under a
 * fresh directory in $TMPDIR, removed at the end. The lanes themselves are
 * tested end to end by tests/routed/run-lanes.sh.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "conf.h"
#include "driver.h"
#include "exec.h"
#include "retry.h"
#include "route.h"
#include "sink.h"

#include "tmpdir.h"

/* A sink call's outcome as one value: DELIVERED (it returned 0) or the kind of its failure in
 * fail (RD_FAIL_TIMEOUT is 0, so a kind alone cannot tell a failure from a delivery). */
#define DELIVERED RD_FAIL__COUNT
#define OUTCOME(call) ((call) == 0 ? DELIVERED : fail)

#define MS 1000000ull          /* ns per ms */

/* Counts the starts in the half-open window [from, from + per) of times t[0..n). */
static unsigned
in_window(const uint64_t *t, unsigned n, uint64_t from, uint64_t per)
{
	unsigned i, c = 0;

	for (i = 0; i < n; i++)
		c += t[i] >= from && t[i] < from + per;
	return c;
}

/* Drives t with a caller that asks every step ns and retries after the wait it is told;
 * records the start times in out[0..n). */
static void
drive(struct rd_throttle *t, uint64_t *out, unsigned n, uint64_t step)
{
	uint64_t now = 1000 * MS, w;
	unsigned got = 0;

	while (got < n) {
		if ((w = rd_throttle_take(t, now)) == 0) {
			out[got++] = now;
			now += step;
		} else {
			now += w;
		}
	}
}

START_TEST(test_throttle_sliding_log)
{
	struct rd_throttle t;
	uint64_t times[40];
	unsigned i;

	ck_assert_int_eq(rd_throttle_init(&t, 4, 1000), 0);
	ck_assert_ptr_nonnull(t.ring);
	/* a burst of 4 passes at once, the 5th waits exactly until the first leaves the window */
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(rd_throttle_take(&t, 5000 * MS), 0);
	ck_assert_uint_eq(rd_throttle_take(&t, 5000 * MS), 1000 * MS);
	ck_assert_uint_eq(rd_throttle_take(&t, 5999 * MS), 1 * MS);
	ck_assert_uint_eq(rd_throttle_take(&t, 6000 * MS), 0);
	rd_throttle_fini(&t);
	/* whatever the caller's pace, no window of 1 s holds more than 4 starts, and the rate is met */
	ck_assert_int_eq(rd_throttle_init(&t, 4, 1000), 0);
	drive(&t, times, 40, 7 * MS);
	for (i = 0; i < 40; i++)
		ck_assert_uint_le(in_window(times, 40, times[i], 1000 * MS), 4);
	ck_assert_uint_ge(times[39] - times[0], 9000 * MS);
	ck_assert_uint_le(times[39] - times[0], 9000 * MS + 7 * MS * 4);
	rd_throttle_fini(&t);
}
END_TEST

START_TEST(test_throttle_spacing_and_off)
{
	struct rd_throttle t;
	uint64_t *times = calloc(3000, sizeof *times);
	unsigned i;

	ck_assert_ptr_nonnull(times);
	/* above RD_THROTTLE_RING: spaced ceil(T / N) apart */
	ck_assert_int_eq(rd_throttle_init(&t, 2000, 1000), 0);
	ck_assert_ptr_null(t.ring);
	ck_assert_uint_eq(rd_throttle_take(&t, 10 * MS), 0);
	ck_assert_uint_eq(rd_throttle_take(&t, 10 * MS), 500000);
	drive(&t, times, 3000, 0);
	for (i = 0; i < 3000; i += 97)
		ck_assert_uint_le(in_window(times, 3000, times[i], 1000 * MS), 2000);
	rd_throttle_fini(&t);
	/* unthrottled: every take passes */
	ck_assert_int_eq(rd_throttle_init(&t, 0, 0), 0);
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(rd_throttle_take(&t, 1), 0);
	rd_throttle_fini(&t);
	free(times);
}
END_TEST

START_TEST(test_batch_timing)
{
	struct route_dest_policy p = { .dead_letter = ROUTE_NONE };

	/* no batching: every message goes at once */
	ck_assert(!rd_batching(&p));
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 1, 100, 100), 0);
	/* batch every 1s or 3: the count or the time, whichever first */
	p.batch_every_ms = 1000;
	p.batch_max = 3;
	ck_assert(rd_batching(&p));
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 1, 100, 100), 1000);
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 2, 100, 600), 500);
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 3, 100, 101), 0);
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 2, 100, 1100), 0);
	/* batch 3: only the count */
	p.batch_every_ms = 0;
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 2, 100, 1000000), UINT64_MAX);
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 3, 100, 100), 0);
	/* batch every 1s: the time, and the cap */
	p.batch_every_ms = 1000;
	p.batch_max = 0;
	ck_assert_uint_eq(rd_batch_wait_ms(&p, 500, 100, 900), 200);
	ck_assert_uint_eq(rd_batch_wait_ms(&p, RD_BATCH_CAP, 100, 100), 0);
}
END_TEST

START_TEST(test_exec_outcomes)
{
	int fail = -1;
	char err[256], cmd[600], line[300];
	const char in[] = "{\"a\":1}\n{\"a\":2}\n";
	FILE *f;

	snprintf(cmd, sizeof cmd, "cat > '%s/exec.out'; echo \"$ROUTED_DESTINATION $ROUTED_MESSAGES\" > "
		"'%s/exec.env'", tmpdir, tmpdir);
	ck_assert_int_eq(OUTCOME(rd_exec_run(cmd, "dst", in, sizeof in - 1, 2, 5000, &fail, err, sizeof err)), DELIVERED);
	snprintf(line, sizeof line, "%s/exec.out", tmpdir);
	f = fopen(line, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	ck_assert_str_eq(line, "{\"a\":1}\n");
	fclose(f);
	snprintf(line, sizeof line, "%s/exec.env", tmpdir);
	f = fopen(line, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	ck_assert_str_eq(line, "dst 2\n");
	fclose(f);
	ck_assert_int_eq(OUTCOME(rd_exec_run("exit 3", "dst", in, sizeof in - 1, 2, 5000, &fail, err, sizeof err)),
		RD_FAIL_EXEC);
	ck_assert_str_eq(err, "command exited with status 3");
	/* a command that neither reads nor exits is killed at the timeout */
	ck_assert_int_eq(OUTCOME(rd_exec_run("sleep 5", "dst", in, sizeof in - 1, 2, 200, &fail, err, sizeof err)),
		RD_FAIL_TIMEOUT);
}
END_TEST

/* Waits (5 s at most) until the process whose pid is the first line of DIR/name has exited:
 * it is a zombie (its parent, the pool, has not reaped it) or gone. */
static void
wait_exited(const char *name)
{
	char path[300], stat[300];
	long pid = 0;
	FILE *f;
	int k;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	for (k = 0; k < 500 && !pid; k++) {
		if ((f = fopen(path, "r"))) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (!pid)
			usleep(10000);
	}
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	for (k = 0; k < 500; k++, usleep(10000)) {
		char *rp;
		if (!(f = fopen(path, "r")))
			return;
		stat[0] = '\0';
		if (!fgets(stat, sizeof stat, f))
			stat[0] = '\0';
		fclose(f);
		/* "PID (COMM) STATE ...": the state after the last ')' */
		if ((rp = strrchr(stat, ')')) && rp[1] == ' ' && rp[2] == 'Z')
			return;
	}
}

/* Lines of DIR/name (0 when it is not there); the first one in first (when given). */
static unsigned
file_lines(const char *name, char *first, size_t firstlen)
{
	char path[400], line[300];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof line, f))
		if (n++ == 0 && first)
			snprintf(first, firstlen, "%s", line);
	fclose(f);
	return n;
}

/* exec_mode = stream: one long-lived command answers each line; a failed
 * answer fails the delivery and leaves the command running; a command that
 * exits is started again at the next delivery; one that does not answer is
 * killed at the timeout; closing the pool ends the command. */
START_TEST(test_exec_stream)
{
	int fail = -1;
	struct rd_exec_pool pool;
	char err[256], cmd[1200], first[300];
	const char one[] = "{\"a\":1}\n", three[] = "{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n",
		bad[] = "{\"a\":5}\n{\"bad\":1}\n{\"a\":6}\n", bad1[] = "{\"bad\":2}\n";
	struct timespec t0, t1;
	unsigned k;

	/* each process logs its pid once, each line it reads, and answers "ok" or an error */
	snprintf(cmd, sizeof cmd, "echo $$ >> '%s/st.pids'; echo \"$ROUTED_DESTINATION $ROUTED_EXEC_MODE\" "
		"> '%s/st.env'; while IFS= read -r l; do echo \"$l\" >> '%s/st.in'; case \"$l\" in "
		"*bad*) echo 'error: bad line';; *) echo ok;; esac; done", tmpdir, tmpdir, tmpdir);
	rd_exec_pool_init(&pool);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err, sizeof err)), DELIVERED);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", three, sizeof three - 1, 3, 5000, &fail, err, sizeof err)), DELIVERED);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", bad, sizeof bad - 1, 3, 5000, &fail, err, sizeof err)),
		RD_FAIL_EXEC);
	ck_assert_str_eq(err, "command answered: error: bad line");
	/* still the same process, in step: the next deliveries get their own answers (a stale
	 * "ok" of the batch above would pass the bad line) */
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", bad1, sizeof bad1 - 1, 1, 5000, &fail, err, sizeof err)),
		RD_FAIL_EXEC);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err, sizeof err)), DELIVERED);
	ck_assert_uint_eq(file_lines("st.pids", NULL, 0), 1);
	ck_assert_uint_eq(file_lines("st.in", first, sizeof first), 9);
	ck_assert_str_eq(first, "{\"a\":1}\n");
	ck_assert_uint_eq(file_lines("st.env", first, sizeof first), 1);
	ck_assert_str_eq(first, "dst stream\n");
	/* closing ends it: its input closes, the loop ends, and it is reaped */
	rd_exec_pool_close(&pool);

	/* a command that exits, without an answer, on its second message: that delivery fails
	 * with its status, the next one starts it again (it reads the second message first, so
	 * that it is still running when that delivery starts, however slow the machine) */
	snprintf(cmd, sizeof cmd, "echo $$ >> '%s/ex.pids'; read -r l; echo ok; read -r l; exit 3", tmpdir);
	rd_exec_pool_init(&pool);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err, sizeof err)), DELIVERED);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err, sizeof err)),
		RD_FAIL_EXEC);
	ck_assert_str_eq(err, "command exited with status 3");
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err, sizeof err)), DELIVERED);
	for (k = 0; k < 100 && file_lines("ex.pids", NULL, 0) < 2; k++)
		usleep(10000);
	ck_assert_uint_eq(file_lines("ex.pids", NULL, 0), 2);
	rd_exec_pool_close(&pool);

	/* a command that ends after its answer, before the next delivery: started again for it,
	 * which is delivered */
	snprintf(cmd, sizeof cmd, "echo $$ >> '%s/end.pids'; read -r l; echo ok", tmpdir);
	rd_exec_pool_init(&pool);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err,
		sizeof err)), DELIVERED);
	wait_exited("end.pids"); /* it has ended (a zombie until the pool reaps it) */
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err,
		sizeof err)), DELIVERED);
	ck_assert_uint_eq(file_lines("end.pids", NULL, 0), 2);
	rd_exec_pool_close(&pool);

	/* a command that writes a line nobody asked for (a banner): its first answer is taken
	 * for the first message's and fails it; the next delivery finds the real answer
	 * waiting, unasked, and starts the command again rather than read it */
	snprintf(cmd, sizeof cmd, "echo $$ >> '%s/bn.pids'; echo READY; while read -r l; do echo ok; done", tmpdir);
	rd_exec_pool_init(&pool);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err, sizeof err)),
		RD_FAIL_EXEC);
	ck_assert_str_eq(err, "command answered: READY");
	usleep(300000); /* its "ok" is written meanwhile */
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, cmd, "dst", one, sizeof one - 1, 1, 5000, &fail, err, sizeof err)),
		RD_FAIL_EXEC);
	ck_assert_str_eq(err, "command answered: READY");
	for (k = 0; k < 100 && file_lines("bn.pids", NULL, 0) < 2; k++)
		usleep(10000);
	ck_assert_uint_eq(file_lines("bn.pids", NULL, 0), 2);
	rd_exec_pool_close(&pool);

	/* a command that reads and never answers is killed at the timeout, in about that time */
	rd_exec_pool_init(&pool);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, "while read -r l; do sleep 5; done", "dst", one, sizeof one - 1, 1,
		200, &fail, err, sizeof err)), RD_FAIL_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 2000);
	ck_assert_str_eq(err, "no answer from the command within the 200 ms timeout: killed");
	/* one that cannot run: sh says so and exits 127 */
	ck_assert_int_eq(OUTCOME(rd_exec_stream(&pool, "/nonexistent/cmd", "dst", one, sizeof one - 1, 1, 5000, &fail, err,
		sizeof err)), RD_FAIL_EXEC);
	ck_assert_str_eq(err, "command exited with status 127");
	rd_exec_pool_close(&pool);
	/* every child was reaped */
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

/*
 * Opens *s as destination "out" of a one-rule program, bound by a config
 * file made of conf_body (its "%s" is tmpdir); *c and *p are the caller's
 * to free (rd_conf_fini, route_prog_free).
 */
static void
open_sink(const char *conf_body, struct rd_conf *c, route_prog **p, struct rd_sink *s)
{
	const char src[] = "event t.ev v1 { n: number }\ndestination out\nrule r on t.ev route out\n";
	char conf[300], err[256];
	struct rc_options o;
	unsigned char *rbc = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(conf, sizeof conf, "%s/sink.conf", tmpdir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, conf_body, tmpdir);
	fclose(f);
	ck_assert_int_eq(rd_conf_init(c), 0);
	ck_assert_int_eq(rd_conf_load(c, conf, stderr), 0);
	rc_options_default(&o);
	o.diag = stderr;
	ck_assert_int_eq(rc_compile_string("sink.route", src, strlen(src), &o, &rbc, &len, NULL), RC_EXIT_OK);
	*p = route_prog_load(rbc, len, NULL, err, sizeof err);
	ru_free(rbc);
	ck_assert_msg(*p != NULL, "%s", err);
	ck_assert_int_eq(rd_sink_open(s, c, *p, 0, NULL, err, sizeof err), 0);
}

START_TEST(test_file_rotation)
{
	struct rd_conf c;
	struct rd_sink s;
	route_prog *p;
	char path[300], err[256], line[120], name[320];
	struct stat st;
	unsigned i;
	int fail;
	FILE *f;

	snprintf(path, sizeof path, "%s/rot.ndjson", tmpdir);
	open_sink("[destination out]\nsink = file\npath = %s/rot.ndjson\nrotate_bytes = 1k\nrotate_keep = 2\n",
		&c, &p, &s);
	/* 50 lines of 100 bytes: 10 per file, the last 30 kept in rot.ndjson, .1 and .2 */
	for (i = 0; i < 50; i++) {
		snprintf(line, sizeof line, "{\"n\":%02u,\"pad\":\"%*s\"}\n", i, 82, "");
		ck_assert_uint_eq(strlen(line), 100);
		ck_assert_int_eq(rd_sink_write(&s, line, 100, 1, &fail, err, sizeof err), 0);
	}
	rd_sink_close(&s);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 1000);
	snprintf(name, sizeof name, "%s.1", path);
	ck_assert_int_eq(stat(name, &st), 0);
	ck_assert_int_eq(st.st_size, 1000);
	snprintf(name, sizeof name, "%s.2", path);
	ck_assert_int_eq(stat(name, &st), 0);
	f = fopen(name, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
	ck_assert_int_eq(strncmp(line, "{\"n\":20,", 8), 0);
	fclose(f);
	snprintf(name, sizeof name, "%s.3", path);
	ck_assert_int_ne(stat(name, &st), 0);
	route_prog_free(p);
	rd_conf_fini(&c);
}
END_TEST

/* A sink that times out fails the delivery with reason timeout, at rd_sink_write's level (the
 * kind RD_FAIL_TIMEOUT is 0: a sink that returned the kind alone was taken for delivered). */
START_TEST(test_sink_timeout_fails)
{
	struct rd_conf c;
	struct rd_sink s;
	route_prog *p;
	char err[256];
	int fail = -1, k;
	const char *confs[2] = {
		"[destination out]\nsink = exec\ncommand = sleep 5 # %s\ntimeout = 200ms\n",
		"[destination out]\nsink = exec\nexec_mode = stream\ncommand = while read -r l; do sleep 5; done # %s\n"
		"timeout = 200ms\n",
	};

	for (k = 0; k < 2; k++) {
		open_sink(confs[k], &c, &p, &s);
		ck_assert_int_eq(rd_sink_write(&s, "{\"n\":1}\n", 8, 1, &fail, err, sizeof err), -1);
		ck_assert_int_eq(fail, RD_FAIL_TIMEOUT);
		ck_assert_msg(strstr(err, "200 ms timeout") != NULL, "%s", err);
		rd_sink_close(&s);
		route_prog_free(p);
		rd_conf_fini(&c);
	}
}
END_TEST

static Suite *
lanes_suite(void)
{
	Suite *s = suite_create("lanes");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_throttle_sliding_log);
	tcase_add_test(tc, test_throttle_spacing_and_off);
	tcase_add_test(tc, test_batch_timing);
	tcase_add_test(tc, test_exec_outcomes);
	tcase_add_test(tc, test_exec_stream);
	tcase_add_test(tc, test_file_rotation);
	tcase_add_test(tc, test_sink_timeout_fails);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as routed does: rd_exec_run needs it (exec.h) */
	return tmpdir_run("check_lanes", lanes_suite(), NULL);
}
