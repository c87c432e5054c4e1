/*
 * webhook.h -- the webhook sink: POSTs each message (Content-Type
 * application/json; a batch, several NDJSON lines, as application/x-ndjson
 * when the destination batches) to one URL with libcurl's multi interface, retries
 * failed attempts on the destination's policy (retry.h) and hands back
 * every message once it is delivered or given up.
 *
 * One struct rd_webhook per webhook destination, driven by that
 * destination's lane thread only (pipeline.c): the lane owns one multi
 * handle, so a destination that hangs or refuses only ever holds its own
 * thread and its own max_in_flight slots, never another destination's.
 * A slot is a message being delivered or waiting for its next attempt;
 * waits are timers of the multi loop, never sleeps. Each slot keeps its
 * easy handle, and the multi handle keeps the connections, so consecutive
 * messages reuse them. Only rd_webhook_wake may be called from other threads.
 */
#ifndef RD_WEBHOOK_H
#define RD_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "metrics.h"
#include "route.h"

struct rd_webhook;

struct rd_wh_outcome {         /* what became of one message (borrowed by the callback) */
	void *msg;                 /* the caller's message, as given to rd_webhook_add */
	int delivered;             /* 1: a 2xx answer; 0: given up */
	int giveup;                /* enum rd_giveup when given up */
	int fail;                  /* enum rd_fail of the last failed attempt, or -1 */
	long status;               /* the last HTTP status, 0 when none came */
	unsigned attempts;         /* attempts made */
	uint64_t first_ms, last_ms; /* wall-clock ms of the first and the last attempt's start (0: none) */
	const char *error;         /* the last transfer error ("" when none) */
};

/* Called once per message, from rd_webhook_run or rd_webhook_abort. */
typedef void rd_wh_done_fn(void *ud, const struct rd_wh_outcome *o);

/*
 * Creates the sink of destination dest (index in the program) configured by
 * dc, with the rules' policy pol (its timeout wins over dc's; its workers
 * raise the slots to at least that many; its throttle spaces the attempts). Borrows m for
 * the attempt metrics. Returns it, or NULL with a reason in err.
 */
struct rd_webhook *rd_webhook_new(const struct rd_dest_conf *dc, const struct route_dest_policy *pol,
	struct rd_metrics *m, uint32_t dest, char *err, size_t errlen);
/* Frees wh; every message must have been handed back (rd_webhook_busy() == 0). */
void rd_webhook_free(struct rd_webhook *wh);
/* Free slots: how many more messages rd_webhook_add takes now. */
unsigned rd_webhook_room(const struct rd_webhook *wh);
/* Messages held (being delivered or waiting to retry). */
unsigned rd_webhook_busy(const struct rd_webhook *wh);
/*
 * Takes msg (opaque, handed back in the outcome) whose body[0..len) is
 * borrowed until then; accept_ms is when routed accepted the event
 * (monotonic ms, for max_age). Its first attempt starts at the next
 * rd_webhook_run. Needs rd_webhook_room() > 0.
 */
void rd_webhook_add(struct rd_webhook *wh, void *msg, const char *body, size_t len, uint64_t accept_ms);
/*
 * One turn of the loop: starts the attempts that are due, moves the
 * transfers, waits up to max_wait_ms for sockets, timers or a wake-up, and
 * calls done for each message delivered or given up.
 */
void rd_webhook_run(struct rd_webhook *wh, int max_wait_ms, rd_wh_done_fn *done, void *ud);
/* Gives up every message held (reason: shutdown), stopping their transfers. */
void rd_webhook_abort(struct rd_webhook *wh, rd_wh_done_fn *done, void *ud);
/* Makes the current or the next rd_webhook_run return at once (any thread). */
void rd_webhook_wake(struct rd_webhook *wh);
/* Nanoseconds attempts were held back by the destination's throttle (any thread). */
uint64_t rd_webhook_throttled_ns(const struct rd_webhook *wh);
/* Monotonic milliseconds (the clock of accept_ms and of the retry timers). */
uint64_t rd_mono_ms(void);
/* Wall-clock milliseconds since the epoch. */
uint64_t rd_wall_ms(void);

#endif
