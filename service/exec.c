/*
 * exec.c -- the exec sink (see exec.h): posix_spawn of /bin/sh -c COMMAND
 * with a pipe on its standard input. The pipe's write end is non-blocking,
 * so a command that does not read its input cannot hold the lane past the
 * timeout; the exit status is polled with waitpid(WNOHANG) up to the same
 * deadline. No SIGCHLD handler is needed: each child is reaped here.
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
#include "retry.h"

extern char **environ;

static uint64_t
exec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* environ plus the two ROUTED_ variables; *envp owns the array, the two strings are in vars. */
static char **
make_env(const char *dest, unsigned count, char *vars, size_t varslen)
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
			strncmp(environ[i], "ROUTED_MESSAGES=", 16) != 0)
			env[j++] = environ[i];
	off = snprintf(vars, varslen, "ROUTED_DESTINATION=%s", dest);
	if (off < 0 || (size_t)off + 1 >= varslen) {
		free(env);
		return NULL;
	}
	env[j++] = vars;
	snprintf(vars + off + 1, varslen - (size_t)off - 1, "ROUTED_MESSAGES=%u", count);
	env[j++] = vars + off + 1;
	env[j] = NULL;
	return env;
}

int
rd_exec_run(const char *command, const char *dest, const char *buf, size_t len, unsigned count,
	unsigned timeout_ms, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	char *argv[4], vars[400], **env;
	int fds[2], rc, status = 0, waited = 0, timed_out = 0;
	pid_t pid;
	uint64_t deadline = exec_now_ms() + timeout_ms;
	size_t off = 0;

	err[0] = '\0';
	if (!(env = make_env(dest, count, vars, sizeof vars))) {
		snprintf(err, errlen, "out of memory");
		return RD_FAIL_OTHER;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(env);
		return RD_FAIL_OTHER;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
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
	rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(env);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		snprintf(err, errlen, "cannot start /bin/sh: %s", strerror(rc));
		return RD_FAIL_OTHER;
	}
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	/* feed the input; a command that exits without reading it all gets EPIPE here, and its
	 * exit status decides */
	while (off < len) {
		ssize_t w = write(fds[1], buf + off, len - off);
		uint64_t now;
		struct pollfd pf = { fds[1], POLLOUT, 0 };
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			break;
		if ((now = exec_now_ms()) >= deadline) {
			timed_out = 1;
			break;
		}
		poll(&pf, 1, (int)(deadline - now));
	}
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
		return RD_FAIL_TIMEOUT;
	}
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (status == -1)
		snprintf(err, errlen, "waitpid: %s", strerror(errno));
	else if (WIFEXITED(status))
		snprintf(err, errlen, "command exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(err, errlen, "command killed by signal %d", WTERMSIG(status));
	else
		snprintf(err, errlen, "command ended abnormally");
	return RD_FAIL_EXEC;
}
