/*
 * exec.h -- the exec sink: runs the destination's command once per delivery
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

#include <stddef.h>

/*
 * Runs command with buf[0..len) (borrowed) on its standard input. dest
 * (NUL-terminated, borrowed) and count fill the environment above. Returns
 * 0 when the command exited 0, else the enum rd_fail of the failure
 * (RD_FAIL_TIMEOUT, RD_FAIL_EXEC, or RD_FAIL_OTHER when it could not be
 * started) with a reason in err.
 */
int rd_exec_run(const char *command, const char *dest, const char *buf, size_t len, unsigned count,
	unsigned timeout_ms, char *err, size_t errlen);

#endif
