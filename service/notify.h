/*
 * notify.h -- the systemd notification protocol (sd_notify), without
 * libsystemd: one datagram per message to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * routed sends READY=1 once it listens, RELOADING=1 with MONOTONIC_USEC
 * then READY=1 around each reload, and STOPPING=1 when it stops; without
 * NOTIFY_SOCKET nothing is sent. See docs/routed.md, "systemd".
 */
#ifndef RD_NOTIFY_H
#define RD_NOTIFY_H

/*
 * Sends msg ("KEY=VALUE" lines separated by '\n'). Returns 1 when sent, 0
 * when NOTIFY_SOCKET is not set, -1 when it is unusable or sending failed
 * (errno set; the caller logs it, the service goes on).
 */
int rd_notify(const char *msg);
/* "RELOADING=1" with MONOTONIC_USEC (CLOCK_MONOTONIC, as systemd >= 253 asks) and a STATUS line. */
int rd_notify_reloading(const char *status);

#endif
