/*
 * exec.h -- the exec sink: runs the destination's command once per delivery
 * (or, with exec_mode = stream, feeds one long-lived command: see below)
 * (one message, or one batch) with the message's bytes on its standard
 * input as NDJSON; exit status 0 means delivered. Anything else (a non-zero
 * status, death by a signal, the attempt's timeout, a command that cannot
 * be started) is a failed attempt, retried or dead-lettered on the
 * destination's policy like a webhook's (pipeline.c).
 *
 * The command is run by /bin/sh -c, with the environment of routed plus
 * ROUTED_DESTINATION (the destination's name) and ROUTED_MESSAGES (how many
 * messages are on standard input). Its standard output goes to routed's
 * standard error (so that it never mixes with a stdout sink), its standard
 * error is routed's. At the timeout the command is killed (SIGKILL).
 * Called by the destination's lane threads; reentrant. The process must
 * ignore SIGPIPE (routed does): a command that exits without reading all
 * its input makes the write fail with EPIPE, and its exit status decides.
 */
#ifndef RD_EXEC_H
#define RD_EXEC_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Runs command with buf[0..len) (borrowed) on its standard input. dest
 * (NUL-terminated, borrowed) and count fill the environment above. Returns
 * 0 when the command exited 0, else -1 with the enum rd_fail of the failure
 * in *fail (RD_FAIL_TIMEOUT, RD_FAIL_EXEC, or RD_FAIL_OTHER when it could
 * not be started) and a reason in err.
 */
int rd_exec_run(const char *command, const char *dest, const char *buf, size_t len, unsigned count,
	unsigned timeout_ms, int *fail, char *err, size_t errlen);

/*
 * exec_mode = stream: one long-lived command per lane thread rather than one
 * run per delivery. The command reads messages from its standard input, one
 * NDJSON line each, and answers each with one line on its standard output,
 * in order: a line that starts with "ok" acknowledges the message, any other
 * line fails it, the line being the reason. A delivery (a message, or a
 * batch) is delivered when every one of its messages was acknowledged; it
 * fails when one was not (and is retried or dead-lettered whole, so a
 * message the command acknowledged may come again: at least once), when no
 * answer came within the attempt's timeout (the command is then killed, and
 * the next attempt starts a new one), or when the command exited (started
 * again at the next attempt). A command that wrote something it was not
 * asked for by the time of the next delivery is started again first. Its environment has ROUTED_DESTINATION and
 * ROUTED_EXEC_MODE=stream; its standard error is routed's. When the sink
 * closes, each command's standard input is closed, and one that has not
 * exited 2 s later is killed.
 */
struct rd_exec_child;
struct rd_exec_pool {          /* a stream sink's commands; one per lane thread at most */
	pthread_mutex_t mu;        /* guards idle */
	struct rd_exec_child *idle; /* owns: the commands no lane thread is using (a stack) */
};

void rd_exec_pool_init(struct rd_exec_pool *pool);
/* Ends every command (see above) and frees them; none may be in use. */
void rd_exec_pool_close(struct rd_exec_pool *pool);
/*
 * Delivers buf[0..len) (borrowed; count lines) to a command of pool (an idle
 * one, or a new one). Returns 0 when each line was acknowledged, else -1
 * with the enum rd_fail in *fail (RD_FAIL_EXEC: a line answered otherwise,
 * or the command exited; RD_FAIL_TIMEOUT; RD_FAIL_OTHER: it could not be
 * started) and a reason in err. Reentrant: each caller gets its own command.
 */
int rd_exec_stream(struct rd_exec_pool *pool, const char *command, const char *dest, const char *buf,
	size_t len, unsigned count, unsigned timeout_ms, int *fail, char *err, size_t errlen);

#endif
