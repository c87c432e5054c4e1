/*
 * retry.c -- the retry arithmetic (see retry.h for the formula). Pure
 * functions: no clock is read here, the callers pass the times in.
 */
#include "config.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

static const char *const fail_names[RD_FAIL__COUNT] = {
#define X(id, s) s,
	RD_FAIL_REASONS(X)
#undef X
};

static const char *const giveup_names[RD_GIVEUP__COUNT] = {
#define X(id, s) s,
	RD_GIVEUP_REASONS(X)
#undef X
};

const char *
rd_fail_name(int fail)
{
	return fail >= 0 && fail < RD_FAIL__COUNT ? fail_names[fail] : "unknown";
}

const char *
rd_giveup_name(int why)
{
	return why >= 0 && why < RD_GIVEUP__COUNT ? giveup_names[why] : "unknown";
}

int
rd_fail_of_status(long status)
{
	if (status >= 200 && status < 300)
		return -1;
	if (status == 408)
		return RD_FAIL_HTTP_408;
	if (status == 429)
		return RD_FAIL_HTTP_429;
	if (status >= 500 && status < 600)
		return RD_FAIL_HTTP_5XX;
	if (status == 410)
		return RD_FAIL_HTTP_410;
	if (status >= 400 && status < 500)
		return RD_FAIL_HTTP_4XX;
	return RD_FAIL_HTTP_OTHER;
}

int
rd_fail_retried(int fail)
{
	return fail != RD_FAIL_HTTP_410 && fail != RD_FAIL_HTTP_4XX && fail != RD_FAIL_HTTP_OTHER;
}

uint64_t
rd_retry_backoff_ms(const struct route_dest_policy *p, unsigned k, uint64_t rnd)
{
	uint64_t cap = p->backoff_min_ms;

	/* doubling stops at the maximum, so the shift never overflows */
	while (k-- > 1 && cap < p->backoff_max_ms)
		cap *= 2;
	if (cap > p->backoff_max_ms)
		cap = p->backoff_max_ms;
	return rnd % (cap + 1);
}

int
rd_retry_after_parse(const char *v, size_t len, time_t now, uint64_t *ms)
{
	char buf[64];
	size_t i;
	uint64_t secs = 0;
	time_t t;

	while (len && isspace((unsigned char)*v))
		v++, len--;
	while (len && isspace((unsigned char)v[len - 1]))
		len--;
	if (!len || len >= sizeof buf)
		return -1;
	for (i = 0; i < len && isdigit((unsigned char)v[i]); i++)
		if (secs < 100000000u) /* ~3 years: clamp instead of overflowing */
			secs = secs * 10 + (uint64_t)(v[i] - '0');
	if (i == len) {
		*ms = secs * 1000;
		return 0;
	}
	/* IMF-fixdate, RFC 850 or asctime: curl_getdate reads all three */
	memcpy(buf, v, len);
	buf[len] = '\0';
	if ((t = curl_getdate(buf, NULL)) == -1)
		return -1;
	*ms = t > now ? (uint64_t)(t - now) * 1000 : 0;
	return 0;
}

int
rd_retry_next(const struct route_dest_policy *p, unsigned attempts, uint64_t accept_ms,
	uint64_t now_ms, uint64_t retry_after_ms, uint64_t rnd, uint64_t *due_ms)
{
	uint64_t due;

	if (attempts > p->retry_max)
		return RD_GIVEUP_RETRIES;
	due = now_ms + rd_retry_backoff_ms(p, attempts, rnd);
	/* now_ms is truncated to the millisecond: + 1 so that Retry-After is never cut short */
	if (retry_after_ms && due < now_ms + 1 + retry_after_ms)
		due = now_ms + 1 + retry_after_ms;
	if (p->max_age_ms && due > accept_ms + p->max_age_ms)
		return RD_GIVEUP_MAX_AGE;
	*due_ms = due;
	return -1;
}

uint64_t
rd_rand64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int
rd_throttle_init(struct rd_throttle *t, uint32_t n, uint32_t per_ms)
{
	memset(t, 0, sizeof *t);
	if (!n || !per_ms)
		return 0;
	t->n = n;
	t->per_ns = (uint64_t)per_ms * 1000000u;
	if (n <= RD_THROTTLE_RING && !(t->ring = calloc(n, sizeof *t->ring)))
		return -1;
	return 0;
}

void
rd_throttle_fini(struct rd_throttle *t)
{
	free(t->ring);
	memset(t, 0, sizeof *t);
}

uint64_t
rd_throttle_take(struct rd_throttle *t, uint64_t now_ns)
{
	uint64_t oldest, gap;

	if (!t->per_ns)
		return 0;
	if (t->ring) {
		if (t->count < t->n) {
			t->ring[(t->head + t->count++) % t->n] = now_ns;
			return 0;
		}
		oldest = t->ring[t->head];
		if (now_ns < oldest + t->per_ns)
			return oldest + t->per_ns - now_ns;
		/* the oldest start leaves the window: the new one takes its place */
		t->ring[t->head] = now_ns;
		t->head = (t->head + 1) % t->n;
		return 0;
	}
	if (now_ns < t->next_ns)
		return t->next_ns - now_ns;
	gap = (t->per_ns + t->n - 1) / t->n;
	t->next_ns = now_ns + gap;
	return 0;
}

int
rd_batching(const struct route_dest_policy *p)
{
	return p->batch_every_ms != 0 || p->batch_max != 0;
}

uint64_t
rd_batch_wait_ms(const struct route_dest_policy *p, size_t count, uint64_t first_ms, uint64_t now_ms)
{
	if (!rd_batching(p))
		return 0;
	if (p->batch_max && count >= p->batch_max)
		return 0;
	if (!p->batch_max && count >= RD_BATCH_CAP)
		return 0;
	if (!p->batch_every_ms)
		return UINT64_MAX;
	if (now_ms >= first_ms + p->batch_every_ms)
		return 0;
	return first_ms + p->batch_every_ms - now_ms;
}
