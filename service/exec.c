/*
 * exec.c -- the exec sink (see exec.h): posix_spawn of /bin/sh -c COMMAND
 * with a pipe on its standard input. The pipe's write end is non-blocking,
 * so a command that does not read its input cannot hold the lane past the
 * timeout; the exit status is polled with waitpid(WNOHANG) up to the same
 * deadline. No SIGCHLD handler is needed: each child is reaped here. With
 * exec_mode = stream, a long-lived command per lane thread also has a pipe
 * on its standard output, read for its answers (non-blocking, polled up to
 * the attempt's deadline).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"
#include "retry.h"

extern char **environ;

static uint64_t
exec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* environ plus the two ROUTED_ variables (ROUTED_MESSAGES=count, or with stream
 * ROUTED_EXEC_MODE=stream); the caller owns the array, the two strings are in vars. */
static char **
make_env(const char *dest, unsigned count, int stream, char *vars, size_t varslen)
{
	size_t n = 0, i, j = 0;
	char **env;
	int off;

	while (environ && environ[n])
		n++;
	if (!(env = calloc(n + 3, sizeof *env)))
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "ROUTED_DESTINATION=", 19) != 0 &&
			strncmp(environ[i], "ROUTED_MESSAGES=", 16) != 0 &&
			strncmp(environ[i], "ROUTED_EXEC_MODE=", 17) != 0)
			env[j++] = environ[i];
	off = snprintf(vars, varslen, "ROUTED_DESTINATION=%s", dest);
	if (off < 0 || (size_t)off + 1 >= varslen) {
		free(env);
		return NULL;
	}
	env[j++] = vars;
	if (stream)
		snprintf(vars + off + 1, varslen - (size_t)off - 1, "ROUTED_EXEC_MODE=stream");
	else
		snprintf(vars + off + 1, varslen - (size_t)off - 1, "ROUTED_MESSAGES=%u", count);
	env[j++] = vars + off + 1;
	env[j] = NULL;
	return env;
}

/*
 * Starts /bin/sh -c command with in_fd as its standard input and out_fd as
 * its standard output (both are closed in routed by the caller). Returns 0
 * with *pid, or the posix_spawn error.
 */
static int
spawn_sh(const char *command, char **env, int in_fd, int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	char *argv[4];
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	posix_spawnattr_init(&at);
	/* routed's threads block the signals main waits for, and ignore SIGPIPE: the command gets defaults */
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = (char *)command;
	argv[3] = NULL;
	rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

/* Writes buf[0..len) to the non-blocking fd until the deadline (exec_now_ms). Returns 0, 1
 * at the deadline, or -1 with errno (EPIPE: the reader is gone). */
static int
feed(int fd, const char *buf, size_t len, uint64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);
		uint64_t now;
		struct pollfd pf = { fd, POLLOUT, 0 };
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -1;
		if ((now = exec_now_ms()) >= deadline)
			return 1;
		poll(&pf, 1, (int)(deadline - now));
	}
	return 0;
}

/* The reason of a command's end from its wait status (-1: waitpid failed, errno set). */
static void
status_reason(int status, char *err, size_t errlen)
{
	if (status == -1)
		snprintf(err, errlen, "waitpid: %s", strerror(errno));
	else if (WIFEXITED(status))
		snprintf(err, errlen, "command exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(err, errlen, "command killed by signal %d", WTERMSIG(status));
	else
		snprintf(err, errlen, "command ended abnormally");
}

int
rd_exec_run(const char *command, const char *dest, const char *buf, size_t len, unsigned count,
	unsigned timeout_ms, int *fail, char *err, size_t errlen)
{
	char vars[400], **env;
	int fds[2], rc, status = 0, waited = 0, timed_out = 0;
	pid_t pid;
	uint64_t deadline = exec_now_ms() + timeout_ms;

	err[0] = '\0';
	if (!(env = make_env(dest, count, 0, vars, sizeof vars))) {
		snprintf(err, errlen, "out of memory");
		return rd_failed(fail, RD_FAIL_OTHER);
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(env);
		return rd_failed(fail, RD_FAIL_OTHER);
	}
	/* its standard output goes to routed's standard error */
	rc = spawn_sh(command, env, fds[0], STDERR_FILENO, &pid);
	free(env);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		snprintf(err, errlen, "cannot start /bin/sh: %s", strerror(rc));
		return rd_failed(fail, RD_FAIL_OTHER);
	}
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	/* feed the input; a command that exits without reading it all gets EPIPE here, and its
	 * exit status decides */
	timed_out = feed(fds[1], buf, len, deadline) == 1;
	close(fds[1]);
	/* reap, waiting at most until the deadline (1 ms, doubling to 50 ms, between looks) */
	{
		long nap = 1;
		while (!timed_out) {
			pid_t r = waitpid(pid, &status, WNOHANG);
			if (r == pid) {
				waited = 1;
				break;
			}
			if (r < 0 && errno != EINTR) {
				waited = 1;
				status = -1;
				break;
			}
			if (exec_now_ms() >= deadline) {
				timed_out = 1;
				break;
			}
			struct timespec ts = { 0, nap * 1000000L };
			nanosleep(&ts, NULL);
			if (nap < 50)
				nap *= 2;
		}
	}
	if (!waited) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		snprintf(err, errlen, "command killed after the %u ms timeout", timeout_ms);
		return rd_failed(fail, RD_FAIL_TIMEOUT);
	}
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	status_reason(status, err, errlen);
	return rd_failed(fail, RD_FAIL_EXEC);
}

/* ---- exec_mode = stream ---------------------------------------------------------- */

#define ANSWER_MAX 512 /* an answer's bytes kept (the reason of a failure); the rest is skipped */

struct rd_exec_child {
	pid_t pid;
	int in, out;               /* owns: the write end of its stdin, the read end of its stdout */
	char rbuf[4096];           /* read from out, not taken yet */
	size_t rlen;
	struct rd_exec_child *next; /* in the pool's idle stack */
};

void
rd_exec_pool_init(struct rd_exec_pool *pool)
{
	pthread_mutex_init(&pool->mu, NULL);
	pool->idle = NULL;
}

/* Ends c: closes its stdin, waits for its exit up to wait_ms (then kills it) and frees it.
 * With status, its wait status is stored there (-1 when waitpid failed). */
static void
child_end(struct rd_exec_child *c, unsigned wait_ms, int *status)
{
	int st = 0, waited = 0;
	uint64_t deadline = exec_now_ms() + wait_ms;

	close(c->in);
	close(c->out);
	for (;;) {
		pid_t r = waitpid(c->pid, &st, WNOHANG);
		if (r == c->pid) {
			waited = 1;
			break;
		}
		if (r < 0 && errno != EINTR) {
			st = -1;
			waited = 1;
			break;
		}
		if (exec_now_ms() >= deadline)
			break;
		{
			struct timespec ts = { 0, 2 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	if (!waited) {
		kill(c->pid, SIGKILL);
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	if (status)
		*status = st;
	free(c);
}

void
rd_exec_pool_close(struct rd_exec_pool *pool)
{
	struct rd_exec_child *c;

	while ((c = pool->idle)) {
		pool->idle = c->next;
		child_end(c, 2000, NULL);
	}
	pthread_mutex_destroy(&pool->mu);
}

/* Starts command as a stream child. Returns it, or NULL with err. */
static struct rd_exec_child *
child_start(const char *command, const char *dest, char *err, size_t errlen)
{
	struct rd_exec_child *c = calloc(1, sizeof *c);
	char vars[400], **env = NULL;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, rc;

	if (!c || !(env = make_env(dest, 0, 1, vars, sizeof vars))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = spawn_sh(command, env, in[0], out[1], &c->pid)) != 0) {
		snprintf(err, errlen, "cannot start /bin/sh: %s", strerror(rc));
		goto fail;
	}
	free(env);
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = out[0];
	fcntl(c->in, F_SETFL, O_NONBLOCK);
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	return c;
fail:
	if (in[0] >= 0) {
		close(in[0]);
		close(in[1]);
	}
	if (out[0] >= 0) {
		close(out[0]);
		close(out[1]);
	}
	free(env);
	free(c);
	return NULL;
}

/*
 * Reads c's next answer line into line[0..ANSWER_MAX] (NUL-terminated, cut),
 * waiting until the deadline. Returns 0, 1 at the deadline, or -1 at the end
 * of its output (it exited) or on a read error.
 */
static int
read_answer(struct rd_exec_child *c, char *line, uint64_t deadline)
{
	size_t kept = 0;

	for (;;) {
		char *nl = memchr(c->rbuf, '\n', c->rlen);
		size_t take = nl ? (size_t)(nl - c->rbuf) : c->rlen, used = nl ? take + 1 : take;
		size_t k = take < ANSWER_MAX - kept ? take : ANSWER_MAX - kept;
		ssize_t r;
		uint64_t now;

		memcpy(line + kept, c->rbuf, k);
		kept += k;
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
		if (nl) {
			line[kept] = '\0';
			return 0;
		}
		r = read(c->out, c->rbuf, sizeof c->rbuf);
		if (r > 0) {
			c->rlen = (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		if (errno == EINTR)
			continue;
		if ((now = exec_now_ms()) >= deadline)
			return 1;
		{
			struct pollfd pf = { c->out, POLLIN, 0 };
			poll(&pf, 1, (int)(deadline - now));
		}
	}
}

/* Has c written anything since its last answer was read (1), or ended its output (2), or neither (0)? */
static int
unasked_output(struct rd_exec_child *c)
{
	struct pollfd pf = { c->out, POLLIN, 0 };

	if (c->rlen > 0)
		return 1;
	if (poll(&pf, 1, 0) != 1)
		return 0;
	return pf.revents & POLLIN ? 1 : pf.revents & (POLLHUP | POLLERR) ? 2 : 0;
}

int
rd_exec_stream(struct rd_exec_pool *pool, const char *command, const char *dest, const char *buf,
	size_t len, unsigned count, unsigned timeout_ms, int *failp, char *err, size_t errlen)
{
	struct rd_exec_child *c;
	uint64_t deadline = exec_now_ms() + timeout_ms;
	char line[ANSWER_MAX + 1];
	unsigned i;
	int rc, fail = 0, status;

	err[0] = '\0';
	pthread_mutex_lock(&pool->mu);
	if ((c = pool->idle))
		pool->idle = c->next;
	pthread_mutex_unlock(&pool->mu);
	if (c && (rc = unasked_output(c))) {
		/* every answer it owed was read: whatever it wrote since was not asked for, and
		 * its answers would be out of step from here on; or it ended since (it exited) */
		rd_log(RD_LOG_WARN, rc == 1 ? "exec stream: the command wrote lines it was not asked for: started again"
			: "exec stream: the command ended between deliveries: started again", "\"destination\":\"%s\"",
			dest);
		child_end(c, 0, NULL);
		c = NULL;
	}
	if (!c && !(c = child_start(command, dest, err, errlen)))
		return rd_failed(failp, RD_FAIL_OTHER);
	rc = feed(c->in, buf, len, deadline);
	/* every line is answered, even after a failed one, so that the next delivery's
	 * answers are its own */
	for (i = 0; rc == 0 && i < count; i++) {
		if ((rc = read_answer(c, line, deadline)) != 0)
			break;
		if (strncmp(line, "ok", 2) != 0 && !fail) {
			fail = 1;
			snprintf(err, errlen, "command answered: %s", line);
		}
	}
	if (rc == 1) {
		/* its answers are now out of step: a new command for the next attempt */
		child_end(c, 0, NULL);
		snprintf(err, errlen, "no answer from the command within the %u ms timeout: killed", timeout_ms);
		return rd_failed(failp, RD_FAIL_TIMEOUT);
	}
	if (rc < 0) {
		/* it exited (EPIPE, or the end of its output); the next attempt starts it again */
		child_end(c, timeout_ms < 1000 ? timeout_ms : 1000, &status);
		status_reason(status, err, errlen);
		return rd_failed(failp, RD_FAIL_EXEC);
	}
	pthread_mutex_lock(&pool->mu);
	c->next = pool->idle;
	pool->idle = c;
	pthread_mutex_unlock(&pool->mu);
	return fail ? rd_failed(failp, RD_FAIL_EXEC) : 0;
}
