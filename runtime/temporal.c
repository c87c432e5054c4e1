/*
 * temporal.c -- what temporal rules remember: per TEMPORAL record, a
 * sliding window of aggregates by key (window.c), the dedup keys seen and
 * the throttle's recent firings (byte maps of state.c).
 *
 * For an event that passed a temporal rule's filter (its `when` conjuncts
 * without aggregates), in this order:
 *   1. the key: the first value of each `by` field (kind-tagged bytes, so
 *      "1" and 1 differ); an event without one is not counted (no_key);
 *   2. the window: the event is added to its key's window and the
 *      aggregates over the window (this event included) go to the VM,
 *      which runs the aggregate block (below when it misses);
 *   3. dedup: the first value of each dedup field (or of @id) must not have
 *      fired the rule within the dedup window (duplicates);
 *   4. throttle: at most N firings per period per key; an excess firing is
 *      dropped or, with `else route`, routed to the else destinations
 *      (throttled either way).
 * A throttle keeps the times of the key's firings in the period (exact up
 * to RV_THROTTLE_EXACT per key); beyond that it estimates the count from
 * the current and the previous period (the sliding-window counter), which
 * errs by at most the previous period's share.
 *
 * Ownership: struct rv_tstate owns its records' windows and maps and its
 * key buffer; the program is borrowed. One state per thread (route.h).
 */
#include "config.h"
#include "temporal.h"
#include "route.h"

#include <math.h>
#include <string.h>
#include <xxhash.h>

#include "alloc.h"
#include "state.h"
#include "twheel.h"
#include "window.h"

#define RV_TEMPORAL_MAX_KEYS 1000000u   /* keys per rule (windows, dedup, throttle) */
#define RV_WINDOW_MAX_EVENTS 100000u    /* events per key in a window */
#define RV_THROTTLE_EXACT 4096u         /* firing times kept per throttle key */
#define RV_KEY_MAX 4096u                /* bytes of one key (longer values are cut: still a key) */

struct trec {
	const struct rv_temporal *t;  /* borrows */
	struct rv_wspec spec;         /* the window's spec (kinds points at kinds below) */
	uint8_t kinds[RV_MAX_AGGS + 1];
	struct rv_window *win;        /* owns, or NULL */
	struct rv_kv *dedup;          /* owns, or NULL */
	struct rv_kv *throttle;       /* owns, or NULL */
	const struct rv_tseq *q;      /* borrows: a sequence's or absence's TSEQ record, or NULL */
	struct rv_kv *seq;            /* owns, or NULL: key -> pending first event, or (every)
	                               * key + period end -> the period's aggregates */
	int64_t armed;                /* every: the last period end a wheel timer was added for */
	const struct rv_ttime *tt;    /* borrows: event time (timestamp, lateness), or NULL */
	int64_t max_seen;             /* event time: the newest event time seen (INT64_MIN: none) */
	struct route_rule_stats st;
};

struct rv_tstate {
	const struct rv_prog *p;      /* borrows */
	struct trec *r;               /* owns: one per TEMPORAL record */
	uint32_t n;
	char key[RV_KEY_MAX + 64];    /* scratch: the key being built */
	char key2[RV_KEY_MAX + 64];   /* scratch: the dedup key */
	int64_t *times;               /* owns: scratch for a throttle's firing times */
	struct rv_twheel *wheel;      /* owns, or NULL until the first deadline: absence timers */
	uint64_t *due;                /* owns: timers fired by the wheel, not yet handled, as
	                               * (id, deadline) pairs ... */
	size_t ndue, due_pos, due_cap;/* ... [due_pos, ndue) are left */
	char *buf;                    /* owns: scratch for a pending match's value, then its captures */
	size_t buf_cap, buf_len;
	char *ev;                     /* owns: a fired absence's first event (RV_SQ_KEEP_EVENT) */
	double acc[1 + 4 * RV_MAX_AGGS]; /* scratch: a tumbling period's aggregates */
	uint32_t *active;             /* owns: TSEQ indices of sequences/absences that may have
	                               * pending first events (one each; compacted lazily) ... */
	uint8_t *is_active;           /* owns: ... and, per TSEQ index, whether it is listed */
	uint32_t nactive;
	uint32_t *cand;               /* owns: scratch for rv_tstate_candidates (ntseq) */
	size_t ev_cap;
};

struct rv_tstate *
rv_tstate_new(const struct rv_prog *p)
{
	struct rv_tstate *ts = ru_malloc(sizeof *ts);
	uint32_t i;

	if (ts == NULL)
		return NULL;
	memset(ts, 0, sizeof *ts);
	ts->p = p;
	ts->n = p->ntemporal;
	ts->r = ru_malloc(((size_t)p->ntemporal + 1) * sizeof *ts->r);
	ts->times = ru_malloc(((size_t)RV_THROTTLE_EXACT + 1) * sizeof *ts->times);
	if (ts->r == NULL || ts->times == NULL) {
		ru_free(ts->r);
		ru_free(ts->times);
		ru_free(ts);
		return NULL;
	}
	memset(ts->r, 0, ((size_t)p->ntemporal + 1) * sizeof *ts->r);
	ts->active = ru_malloc(((size_t)p->ntseq + 1) * sizeof *ts->active);
	ts->cand = ru_malloc(((size_t)p->ntseq + 1) * sizeof *ts->cand);
	ts->is_active = ru_malloc((size_t)p->ntseq + 1);
	if (ts->active == NULL || ts->cand == NULL || ts->is_active == NULL)
		goto oom;
	memset(ts->is_active, 0, (size_t)p->ntseq + 1);
	for (i = 0; i < p->ntemporal; i++) {
		const struct rv_temporal *t = &p->temporal[i];
		struct trec *r = &ts->r[i];

		r->t = t;
		if (t->flags & RV_TF_WINDOW) {
			uint32_t j;

			for (j = 0; j < t->naggs; j++)
				r->kinds[j] = (uint8_t)p->trefs[t->aggs + 2 * j];
			r->spec.within_ms = (int64_t)t->within_ms;
			r->spec.naggs = t->naggs;
			r->spec.kinds = r->kinds;
			r->spec.max_keys = RV_TEMPORAL_MAX_KEYS;
			r->spec.max_events = RV_WINDOW_MAX_EVENTS;
			if ((r->win = rv_window_new(&r->spec)) == NULL)
				goto oom;
		}
		r->max_seen = INT64_MIN;
		{
			uint32_t k;

			for (k = 0; k < p->nttime; k++)
				if (p->ttime[k].temporal == i)
					r->tt = &p->ttime[k];
		}
		if (t->flags & RV_TF_TUMBLE) {
			uint32_t j;

			for (j = 0; j < t->naggs; j++)
				r->kinds[j] = (uint8_t)p->trefs[t->aggs + 2 * j];
			r->armed = INT64_MIN;
		}
		if (t->flags & (RV_TF_SEQ | RV_TF_ABSENT | RV_TF_TUMBLE)) {
			uint32_t k;

			for (k = 0; k < p->ntseq; k++)
				if (p->tseq[k].temporal == i)
					r->q = &p->tseq[k];
			/* a pending `then` lives within_ms; an absence until its timer fires */
			if ((r->seq = rv_kv_new((t->flags & RV_TF_SEQ) ? t->within_ms : 0, RV_TEMPORAL_MAX_KEYS)) == NULL)
				goto oom;
		}
		if ((t->flags & RV_TF_DEDUP)
		    && (r->dedup = rv_kv_new(t->dedup_ms, RV_TEMPORAL_MAX_KEYS)) == NULL)
			goto oom;
		if ((t->flags & RV_TF_THROTTLE)
		    && (r->throttle = rv_kv_new(t->throttle_ms * 2, RV_TEMPORAL_MAX_KEYS)) == NULL)
			goto oom;
	}
	return ts;
oom:
	rv_tstate_free(ts);
	return NULL;
}

void
rv_tstate_free(struct rv_tstate *ts)
{
	uint32_t i;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->n; i++) {
		rv_window_free(ts->r[i].win);
		rv_kv_free(ts->r[i].dedup);
		rv_kv_free(ts->r[i].throttle);
		rv_kv_free(ts->r[i].seq);
	}
	rv_twheel_free(ts->wheel);
	ru_free(ts->active);
	ru_free(ts->cand);
	ru_free(ts->is_active);
	ru_free(ts->due);
	ru_free(ts->buf);
	ru_free(ts->ev);
	ru_free(ts->r);
	ru_free(ts->times);
	ru_free(ts);
}

/* ---- keys ------------------------------------------------------------------------ */

/* The first scalar of a field, captured from rv_field_scalars. */
struct first {
	int have;
	struct rv_val v;
	char *buf;      /* borrows: where a string's bytes are copied */
	size_t cap, n;
};

static void
take_first(void *ud, const struct rv_val *x, const char *s, size_t n)
{
	struct first *f = ud;

	if (f->have)
		return;
	f->have = 1;
	f->v = *x;
	if (x->k == RV_V_STR) {
		f->n = n < f->cap ? n : f->cap;
		memcpy(f->buf, s, f->n);
	}
}

/*
 * Appends to buf (at *len, cap bytes) the key part of field f: a kind byte,
 * then a string's length and bytes, a number's bits (-0 as 0) or a bool.
 * Returns 0, or -1 when the field has no value.
 */
static int
key_part(struct rv_vm *vm, uint32_t f, char *buf, size_t cap, size_t *len)
{
	char tmp[RV_KEY_MAX];
	struct first fs = { 0, { 0 }, tmp, sizeof tmp, 0 };
	uint32_t n32;
	double d;

	rv_field_scalars(vm, f, take_first, &fs);
	if (!fs.have || *len + 1 + 8 + fs.n > cap)
		return -1;
	buf[(*len)++] = (char)fs.v.k;
	switch (fs.v.k) {
	case RV_V_STR:
		n32 = (uint32_t)fs.n;
		memcpy(buf + *len, &n32, 4);
		memcpy(buf + *len + 4, tmp, fs.n);
		*len += 4 + fs.n;
		break;
	case RV_V_NUM:
		d = fs.v.u.num == 0 ? 0 : fs.v.u.num;
		memcpy(buf + *len, &d, 8);
		*len += 8;
		break;
	default:
		buf[(*len)++] = (char)(fs.v.u.b != 0);
		break;
	}
	return 0;
}

/* The key of fields p->trefs[first .. first + n) into buf (RV_KEY_MAX + 64 bytes); -1 when one has no value. */
static int
build_key(const struct rv_prog *p, struct rv_vm *vm, uint32_t first, uint32_t n, char *buf, size_t *len)
{
	uint32_t i;

	*len = 0;
	for (i = 0; i < n; i++)
		if (key_part(vm, p->trefs[first + i], buf, RV_KEY_MAX + 64, len) < 0)
			return -1;
	return 0;
}

int
rv_temporal_key_hash(const struct rv_prog *p, struct rv_vm *vm, uint32_t ti, uint64_t seed, uint64_t *hash)
{
	const struct rv_temporal *t = &p->temporal[ti];
	char buf[RV_KEY_MAX + 64];
	size_t len;

	if (build_key(p, vm, t->by, t->nby, buf, &len) < 0)
		return -1;
	*hash = XXH64(buf, len, seed);
	return 0;
}

/* ---- the window's inputs ---------------------------------------------------------- */

static void
agg_inputs(struct rv_tstate *ts, struct rv_vm *vm, const struct rv_temporal *t, struct rv_agg_in *in)
{
	char tmp[RV_KEY_MAX];
	uint32_t i;

	for (i = 0; i < t->naggs; i++) {
		uint32_t kind = ts->p->trefs[t->aggs + 2 * i], f = ts->p->trefs[t->aggs + 2 * i + 1];
		struct first fs = { 0, { 0 }, tmp, sizeof tmp, 0 };

		memset(&in[i], 0, sizeof in[i]);
		if (f == RV_NONE)
			continue;
		rv_field_scalars(vm, f, take_first, &fs);
		if (!fs.have)
			continue;
		if (kind == RV_AGGK_DISTINCT) {
			in[i].has = 1;
			in[i].hash = rv_scalar_key(&fs.v, tmp, fs.n);
		} else if (fs.v.k == RV_V_NUM && !isnan(fs.v.u.num)) {
			in[i].has = 1;
			in[i].num = fs.v.u.num;
		}
	}
}

/* ---- throttle ---------------------------------------------------------------------- */

/*
 * May the rule fire once more for key at now? Records the firing when it
 * may. Up to RV_THROTTLE_EXACT firings per period the value holds their
 * times (oldest first); for bigger budgets it holds the sliding-window
 * counter: period start, count in it, count in the one before.
 */
static int
throttle_allows(struct rv_tstate *ts, struct trec *r, const char *key, size_t klen, int64_t now)
{
	const struct rv_temporal *t = r->t;
	int64_t per = (int64_t)t->throttle_ms, *tm = ts->times;
	size_t vlen = 0, n = 0, i, keep;
	const char *v = rv_kv_get(r->throttle, key, klen, now, &vlen);

	if (t->throttle_n > RV_THROTTLE_EXACT) {
		int64_t c[3] = { now - now % per, 0, 0 }; /* start, this period, the previous */
		double est;

		if (v && vlen == sizeof c)
			memcpy(c, v, sizeof c);
		if (now - c[0] >= 2 * per) {
			c[0] = now - now % per;
			c[1] = c[2] = 0;
		} else if (now - c[0] >= per) {
			c[0] += per;
			c[2] = c[1];
			c[1] = 0;
		}
		est = (double)c[2] * (double)(per - (now - c[0])) / (double)per + (double)c[1];
		if (est >= (double)t->throttle_n)
			return 0;
		c[1]++;
		rv_kv_put(r->throttle, key, klen, (const char *)c, sizeof c, now);
		return 1;
	}
	if (v)
		n = vlen / sizeof *tm;
	if (n > RV_THROTTLE_EXACT)
		n = RV_THROTTLE_EXACT;
	if (n > 0)
		memcpy(tm, v, n * sizeof *tm);
	for (keep = 0; keep < n && tm[keep] <= now - per; keep++)
		; /* firings older than the period no longer count */
	if (n - keep >= t->throttle_n)
		return 0;
	for (i = keep; i < n; i++)
		tm[i - keep] = tm[i];
	n -= keep;
	tm[n++] = now;
	rv_kv_put(r->throttle, key, klen, (const char *)tm, n * sizeof *tm, now);
	return 1;
}

/* ---- event time ------------------------------------------------------------------------ */

/* n digits of s as a number; -1 if one is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * RFC 3339 date-time -> Unix ms: YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.frac]
 * ('Z'|'z'|+HH:MM|-HH:MM); fractions past milliseconds are cut. Returns 0,
 * or -1 when s is not one (ranges checked: month 1-12, day 1-31, hour
 * 0-23, minute 0-59, second 0-60).
 */
static int
parse_rfc3339(const char *s, size_t n, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, fd = 0, off = 0;
	size_t i = 19;
	int64_t days, yy;
	unsigned mp;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
	    || s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	if (s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fd++)
			if (fd < 3)
				frac = frac * 10 + (s[i] - '0');
		if (fd == 0)
			return -1;
		for (; fd < 3; fd++)
			frac *= 10;
	}
	if (i == n - 1 && (s[i] == 'Z' || s[i] == 'z')) {
		off = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);

		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
	} else {
		return -1;
	}
	/* days from 1970-01-01 (civil calendar, H. Hinnant's days_from_civil) */
	yy = y - (mo <= 2);
	mp = (unsigned)(mo + (mo > 2 ? -3 : 9));
	days = (yy >= 0 ? yy : yy - 399) / 400 * 146097
		+ ((yy - ((yy >= 0 ? yy : yy - 399) / 400) * 400) * 365
		   + (yy - ((yy >= 0 ? yy : yy - 399) / 400) * 400) / 4
		   - (yy - ((yy >= 0 ? yy : yy - 399) / 400) * 400) / 100
		   + (153 * mp + 2) / 5 + d - 1)
		- 719468;
	*ms = ((days * 24 + h) * 60 + mi - off) * 60000 + (int64_t)sec * 1000 + frac;
	return 0;
}

/*
 * The event time of vm's event for record r (its timestamp field: a time
 * string or Unix ms). Returns 0 with *et, -1 when the event has none (not
 * counted: no_key), -2 when it is late: older than the newest time seen
 * minus the lateness (not counted: late). Updates the newest time seen.
 */
static int
event_time(struct trec *r, struct rv_vm *vm, int64_t *et)
{
	char tmp[64];
	struct first fs = { 0, { 0 }, tmp, sizeof tmp, 0 };

	rv_field_scalars(vm, r->tt->field, take_first, &fs);
	if (!fs.have)
		return -1;
	if (fs.v.k == RV_V_NUM) {
		if (!(fs.v.u.num > -9.2e15 && fs.v.u.num < 9.2e15))
			return -1;
		*et = (int64_t)fs.v.u.num;
	} else if (fs.v.k != RV_V_STR || parse_rfc3339(tmp, fs.n, et) < 0) {
		return -1;
	}
	if (r->max_seen != INT64_MIN && *et < r->max_seen - (int64_t)r->tt->lateness_ms)
		return -2;
	if (*et > r->max_seen)
		r->max_seen = *et;
	return 0;
}

/* Event time for record r in place of now: 1 to go on (with *now set), 0 not counted. */
static int
use_event_time(struct trec *r, struct rv_vm *vm, int64_t *now)
{
	int64_t et;
	int rc;

	if (r->tt == NULL)
		return 1;
	if ((rc = event_time(r, vm, &et)) < 0) {
		if (rc == -2)
			r->st.late++;
		else
			r->st.no_key++;
		return 0;
	}
	*now = et;
	return 1;
}

/* ---- sequences and absences ------------------------------------------------------------
 *
 * A pending first event is one entry of the record's seq map, keyed by the
 * correlation (akeys on the first event, bkeys on the second): a new first
 * event with the same key replaces it. Its value:
 *
 *   i64 deadline | u32 contract | u32 ncaps | ncaps x capture | [u32 len, event bytes]
 *   capture = u8 kind (0 missing), then STR: u32 len + bytes | NUM: f64 | BOOL: u8
 *
 * A `then` entry expires with the map's ttl (within); an absence's entry
 * has a wheel timer whose id is (record << 32 | entry index): when it
 * fires, the entry still there with that deadline is the one that is due
 * (a replaced or cancelled entry has another deadline or is gone).
 */

/* Appends n bytes to ts->buf; -1 on OOM. */
static int
buf_put(struct rv_tstate *ts, const void *b, size_t n)
{
	if (ts->buf_len + n > ts->buf_cap) {
		size_t cap = ts->buf_cap ? ts->buf_cap : 256;
		char *nb;

		while (cap < ts->buf_len + n)
			cap *= 2;
		if ((nb = ru_realloc(ts->buf, cap)) == NULL)
			return -1;
		ts->buf = nb;
		ts->buf_cap = cap;
	}
	if (n > 0)
		memcpy(ts->buf + ts->buf_len, b, n);
	ts->buf_len += n;
	return 0;
}

struct capture {
	struct rv_tstate *ts;
	int have, bad;
};

/* The first scalar of a field, appended to ts->buf as a capture. */
static void
capture_first(void *ud, const struct rv_val *x, const char *s, size_t n)
{
	struct capture *c = ud;
	uint8_t k = x->k;
	uint32_t n32 = (uint32_t)n;

	if (c->have)
		return;
	c->have = 1;
	if (k != RV_V_STR && k != RV_V_NUM && k != RV_V_BOOL)
		k = RV_V_NULL;
	c->bad |= buf_put(c->ts, &k, 1);
	if (k == RV_V_STR) {
		c->bad |= buf_put(c->ts, &n32, 4);
		c->bad |= buf_put(c->ts, s, n);
	} else if (k == RV_V_NUM) {
		c->bad |= buf_put(c->ts, &x->u.num, 8);
	} else if (k == RV_V_BOOL) {
		uint8_t b = x->u.b != 0;

		c->bad |= buf_put(c->ts, &b, 1);
	}
}

/* Adds the timer of entry i of record ti for deadline; creates the wheel at now. */
static void
arm(struct rv_tstate *ts, uint32_t ti, uint32_t i, int64_t deadline, int64_t now)
{
	if (ts->wheel == NULL && (ts->wheel = rv_twheel_new(now)) == NULL)
		return; /* out of memory: the entry stays until evicted (counted) */
	(void)rv_twheel_add(ts->wheel, deadline, (uint64_t)ti << 32 | i);
}

/* Lists TSEQ record qi among those that may hold pending first events. */
static void
mark_active(struct rv_tstate *ts, uint32_t qi)
{
	if (!ts->is_active[qi]) {
		ts->is_active[qi] = 1;
		ts->active[ts->nactive++] = qi;
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

uint32_t
rv_tstate_candidates(struct rv_tstate *ts, uint32_t contract, const uint32_t **out)
{
	const struct rv_prog *p = ts->p;
	uint32_t i, n = 0, keep = 0;

	for (i = 0; i < ts->nactive; i++) {
		uint32_t qi = ts->active[i], lo = 0, hi;
		const struct rv_tseq *q = &p->tseq[qi];
		struct route_table_stats ks;

		rv_kv_stats(ts->r[q->temporal].seq, &ks);
		if (ks.entries == 0) { /* nothing pending: off the list until the next first event */
			ts->is_active[qi] = 0;
			continue;
		}
		ts->active[keep++] = qi;
		hi = q->nbtypes;
		while (lo < hi) { /* btypes are ascending */
			uint32_t mid = lo + (hi - lo) / 2;

			if (p->trefs[q->btypes + mid] < contract)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < q->nbtypes && p->trefs[q->btypes + lo] == contract)
			ts->cand[n++] = qi;
	}
	ts->nactive = keep;
	if (n > 1)
		qsort(ts->cand, n, sizeof *ts->cand, cmp_u32);
	*out = ts->cand;
	return n;
}

/*
 * The first event of a sequence or absence passed the rule's filter: keep
 * it (with the captures its actions read) under its correlation key, and
 * for an absence arm the deadline. Never fires by itself.
 */
static int
seq_first(struct rv_tstate *ts, struct trec *r, uint32_t ti, struct rv_vm *vm, int64_t now)
{
	const struct rv_tseq *q = r->q;
	const uint32_t *tr = ts->p->trefs;
	int64_t deadline = now + (int64_t)r->t->within_ms;
	uint32_t i, contract = vm->contract, nc = q->ncaps;
	size_t klen = 0;
	int bad = 0;

	if (build_key(ts->p, vm, q->akeys, q->nkeys, ts->key, &klen) < 0) {
		r->st.no_key++;
		return RV_TSTEP_NO;
	}
	ts->buf_len = 0;
	bad |= buf_put(ts, &deadline, 8);
	bad |= buf_put(ts, &contract, 4);
	bad |= buf_put(ts, &nc, 4);
	for (i = 0; i < nc; i++) {
		struct capture c = { ts, 0, 0 };
		uint8_t none = 0;

		rv_field_scalars(vm, tr[q->caps + 2 * i], capture_first, &c);
		if (!c.have)
			bad |= buf_put(ts, &none, 1);
		bad |= c.bad;
	}
	if (q->flags & RV_SQ_KEEP_EVENT) {
		uint32_t n32 = (uint32_t)vm->len;

		bad |= buf_put(ts, &n32, 4);
		bad |= buf_put(ts, vm->buf, vm->len);
	}
	if (bad) {
		r->st.no_key++; /* out of memory: not kept */
		return RV_TSTEP_NO;
	}
	if (rv_kv_put(r->seq, ts->key, klen, ts->buf, ts->buf_len, now) < 0)
		return RV_TSTEP_NO;
	mark_active(ts, (uint32_t)(q - ts->p->tseq));
	if (r->t->flags & RV_TF_ABSENT) {
		uint32_t e = rv_kv_find(r->seq, ts->key, klen, now);

		if (e != RV_NONE)
			arm(ts, ti, e, deadline, now);
	}
	return RV_TSTEP_NO;
}

/*
 * Loads the captures of a pending value v (vlen bytes) into vm's overrides
 * of the capture fields, from a copy in ts->buf (the entry is deleted
 * next); *contract gets the first event's contract, and a kept event is
 * copied to ts->ev (*evlen its length, 0: none). -1 when v is malformed.
 */
static int
load_captures(struct rv_tstate *ts, const struct rv_tseq *q, struct rv_vm *vm, const char *v, size_t vlen,
	uint32_t *contract, size_t *evlen)
{
	const uint32_t *tr = ts->p->trefs;
	size_t pos = 16;
	uint32_t nc, i;

	*evlen = 0;
	ts->buf_len = 0;
	if (vlen < 16 || buf_put(ts, v, vlen) < 0)
		return -1;
	v = ts->buf;
	memcpy(contract, v + 8, 4);
	memcpy(&nc, v + 12, 4);
	if (nc != q->ncaps || *contract >= ts->p->ncontracts)
		return -1;
	for (i = 0; i < nc; i++) {
		struct rv_val x;
		uint32_t n32;

		memset(&x, 0, sizeof x);
		if (pos >= vlen)
			return -1;
		x.k = (uint8_t)v[pos++];
		switch (x.k) {
		case RV_V_STR:
			if (vlen - pos < 4)
				return -1;
			memcpy(&n32, v + pos, 4);
			pos += 4;
			if (vlen - pos < n32)
				return -1;
			x.u.s = v + pos;
			x.n = n32;
			pos += n32;
			break;
		case RV_V_NUM:
			if (vlen - pos < 8)
				return -1;
			memcpy(&x.u.num, v + pos, 8);
			pos += 8;
			break;
		case RV_V_BOOL:
			if (vlen - pos < 1)
				return -1;
			x.u.b = v[pos++] != 0;
			break;
		case RV_V_NULL:
		case RV_V_MISSING:
			break;
		default:
			return -1;
		}
		vm->override[tr[q->caps + 2 * i + 1]] = x;
	}
	if (q->flags & RV_SQ_KEEP_EVENT) {
		uint32_t n32;

		if (vlen - pos < 4)
			return -1;
		memcpy(&n32, v + pos, 4);
		pos += 4;
		if (vlen - pos < n32)
			return -1;
		if (n32 > ts->ev_cap) {
			char *nb = ru_realloc(ts->ev, n32);

			if (nb == NULL)
				return -1;
			ts->ev = nb;
			ts->ev_cap = n32;
		}
		memcpy(ts->ev, v + pos, n32);
		*evlen = n32;
	}
	return 0;
}

void
rv_tstate_clear_captures(struct rv_tstate *ts, struct rv_vm *vm, uint32_t qi)
{
	const struct rv_tseq *q = &ts->p->tseq[qi];
	uint32_t i;

	for (i = 0; i < q->ncaps; i++)
		vm->override[ts->p->trefs[q->caps + 2 * i + 1]].k = RV_V_MISSING;
}

int
rv_tstate_second(struct rv_tstate *ts, struct rv_vm *vm, uint32_t qi, int64_t now)
{
	const struct rv_tseq *q = &ts->p->tseq[qi];
	struct trec *r = &ts->r[q->temporal];
	size_t klen = 0, vlen, evlen;
	uint32_t e, contract;
	const char *v;

	if (r->tt && !use_event_time(r, vm, &now))
		return 0;
	if (build_key(ts->p, vm, q->bkeys, q->nkeys, ts->key, &klen) < 0)
		return 0;
	if ((e = rv_kv_find(r->seq, ts->key, klen, now)) == RV_NONE)
		return 0;
	if (r->t->flags & RV_TF_ABSENT) {
		/* the awaited event came: the deadline's timer finds no entry */
		rv_kv_del_at(r->seq, e);
		r->st.cancelled++;
		return 0;
	}
	v = rv_kv_at(r->seq, e, NULL, NULL, &vlen);
	if (v == NULL || load_captures(ts, q, vm, v, vlen, &contract, &evlen) < 0) {
		rv_kv_del_at(r->seq, e);
		return 0;
	}
	rv_kv_del_at(r->seq, e); /* each first event completes once */
	r->st.fired++;
	return 1;
}

/* ---- tumbling windows ------------------------------------------------------------------
 *
 * `every D`: periods [k*D, (k+1)*D) of Unix time. Per key and period one
 * entry of the record's map, keyed by the `by` key and the period's end:
 *
 *   i64 period end | u32 contract | u32 ncaps | captures (the `by` values) |
 *   f64 events | naggs x { f64 n, f64 sum, f64 min, f64 max }
 *
 * The first entry of a period adds a wheel timer (id: record << 32 |
 * TUMBLE_MARK) at the period's end; when it fires, the period's entries are
 * queued in its place, and each is then evaluated (the aggregate block over
 * its values) and fires or not, and is freed either way.
 */

#define TUMBLE_MARK 0xffffffffu
#define TUMBLE_AGG 32u /* bytes per aggregate */

static int
tumble_add(struct rv_tstate *ts, struct trec *r, uint32_t ti, struct rv_vm *vm, int64_t now)
{
	const struct rv_temporal *t = r->t;
	const struct rv_tseq *q = r->q;
	int64_t per = (int64_t)t->within_ms, end = now - (((now % per) + per) % per) + per;
	size_t klen = 0, vlen, accum = 8 + (size_t)t->naggs * TUMBLE_AGG;
	struct rv_agg_in in[RV_MAX_AGGS];
	uint32_t e, i;
	char *v;
	double *a;

	if (build_key(ts->p, vm, q->akeys, q->nkeys, ts->key, &klen) < 0 || klen + 8 > sizeof ts->key) {
		r->st.no_key++;
		return RV_TSTEP_NO;
	}
	memcpy(ts->key + klen, &end, 8);
	klen += 8;
	if ((e = rv_kv_find(r->seq, ts->key, klen, now)) == RV_NONE) {
		uint32_t contract = vm->contract, nc = q->ncaps;
		int bad = 0;

		ts->buf_len = 0;
		bad |= buf_put(ts, &end, 8);
		bad |= buf_put(ts, &contract, 4);
		bad |= buf_put(ts, &nc, 4);
		for (i = 0; i < nc; i++) {
			struct capture c = { ts, 0, 0 };
			uint8_t none = 0;

			rv_field_scalars(vm, ts->p->trefs[q->caps + 2 * i], capture_first, &c);
			if (!c.have)
				bad |= buf_put(ts, &none, 1);
			bad |= c.bad;
		}
		{
			double zero[4] = { 0, 0, INFINITY, -INFINITY };

			bad |= buf_put(ts, zero, 8);
			for (i = 0; i < t->naggs; i++)
				bad |= buf_put(ts, zero, TUMBLE_AGG);
		}
		if (bad || rv_kv_put(r->seq, ts->key, klen, ts->buf, ts->buf_len, now) < 0
		    || (e = rv_kv_find(r->seq, ts->key, klen, now)) == RV_NONE) {
			r->st.no_key++; /* out of memory: not counted */
			return RV_TSTEP_NO;
		}
		if (end != r->armed) {
			arm(ts, ti, TUMBLE_MARK, end, now);
			r->armed = end;
		}
	}
	v = (char *)(uintptr_t)rv_kv_at(r->seq, e, NULL, NULL, &vlen);
	if (v == NULL || vlen < 16 + accum)
		return RV_TSTEP_NO;
	agg_inputs(ts, vm, t, in);
	a = ts->acc; /* the entry's bytes follow its key: not aligned, so copied */
	memcpy(a, v + vlen - accum, accum);
	a[0] += 1;
	for (i = 0; i < t->naggs; i++) {
		double *g = a + 1 + 4 * i;

		if (!in[i].has)
			continue;
		g[0] += 1;
		g[1] += in[i].num;
		if (in[i].num < g[2])
			g[2] = in[i].num;
		if (in[i].num > g[3])
			g[3] = in[i].num;
	}
	memcpy(v + vlen - accum, a, accum);
	return RV_TSTEP_NO;
}

/* The aggregates of a period's entry (value v, vlen bytes) into vm->agg_*. */
static void
tumble_results(const struct trec *r, struct rv_vm *vm, const char *v, size_t vlen)
{
	const struct rv_temporal *t = r->t;
	size_t accum = 8 + (size_t)t->naggs * TUMBLE_AGG;
	double a[1 + 4 * RV_MAX_AGGS];
	uint32_t i;

	memcpy(a, v + vlen - accum, accum);
	for (i = 0; i < RV_MAX_AGGS; i++) {
		const double *g = a + 1 + 4 * i;

		vm->agg_has[i] = 0;
		vm->agg_out[i] = 0;
		if (i >= t->naggs)
			continue;
		vm->agg_has[i] = 1;
		switch (r->kinds[i]) {
		case RV_AGGK_COUNT: vm->agg_out[i] = a[0]; break;
		case RV_AGGK_RATE: vm->agg_out[i] = a[0] / ((double)t->within_ms / 1000.0); break;
		case RV_AGGK_SUM: vm->agg_out[i] = g[1]; break;
		case RV_AGGK_AVG: vm->agg_has[i] = g[0] > 0; vm->agg_out[i] = g[0] > 0 ? g[1] / g[0] : 0; break;
		case RV_AGGK_MIN: vm->agg_has[i] = g[0] > 0; vm->agg_out[i] = g[0] > 0 ? g[2] : 0; break;
		case RV_AGGK_MAX: vm->agg_has[i] = g[0] > 0; vm->agg_out[i] = g[0] > 0 ? g[3] : 0; break;
		default: vm->agg_has[i] = 0; break;
		}
	}
}

/* Queues, at due_pos, the entries of record ti whose period ended at end. */
static void
tumble_expand(struct rv_tstate *ts, uint32_t ti, int64_t end)
{
	struct trec *r = &ts->r[ti];
	uint32_t e, n = 0;

	for (e = rv_kv_next(r->seq, RV_NONE); e != RV_NONE; e = rv_kv_next(r->seq, e)) {
		size_t vlen;
		const char *v = rv_kv_at(r->seq, e, NULL, NULL, &vlen);
		int64_t d;

		if (v == NULL || vlen < 8)
			continue;
		memcpy(&d, v, 8);
		if (d != end)
			continue;
		if (ts->ndue + 2 > ts->due_cap) {
			size_t cap = ts->due_cap ? ts->due_cap * 2 : 64;
			uint64_t *nd = ru_realloc(ts->due, cap * sizeof *nd);

			if (nd == NULL)
				return; /* out of memory: the rest stay until evicted */
			ts->due = nd;
			ts->due_cap = cap;
		}
		/* in deadline order: before what the wheel queued after this timer */
		memmove(ts->due + ts->due_pos + 2 * n + 2, ts->due + ts->due_pos + 2 * n,
			(ts->ndue - ts->due_pos - 2 * n) * sizeof *ts->due);
		ts->due[ts->due_pos + 2 * n] = (uint64_t)ti << 32 | e;
		ts->due[ts->due_pos + 2 * n + 1] = (uint64_t)end;
		ts->ndue += 2;
		n++;
	}
}

/* Wheel callback: queues a fired timer's id. */
static void
queue_due(void *ud, uint64_t id, int64_t deadline)
{
	struct rv_tstate *ts = ud;

	if (ts->ndue + 2 > ts->due_cap) {
		size_t cap = ts->due_cap ? ts->due_cap * 2 : 64;
		uint64_t *nd = ru_realloc(ts->due, cap * sizeof *nd);

		if (nd == NULL)
			return; /* out of memory: this deadline is lost (its entry is evicted later) */
		ts->due = nd;
		ts->due_cap = cap;
	}
	ts->due[ts->ndue++] = id;
	ts->due[ts->ndue++] = (uint64_t)deadline;
}

int
rv_tstate_fire_next(struct rv_tstate *ts, struct rv_vm *vm, int64_t now, uint32_t *qi, uint32_t *contract,
	const char **ev, size_t *evlen)
{
	if (ts->due_pos == ts->ndue) {
		ts->ndue = ts->due_pos = 0;
		if (ts->wheel == NULL || rv_twheel_next(ts->wheel) > now)
			return 0;
		rv_twheel_advance(ts->wheel, now, queue_due, ts);
	}
	while (ts->due_pos < ts->ndue) {
		uint64_t id = ts->due[ts->due_pos];
		int64_t fired = (int64_t)ts->due[ts->due_pos + 1];
		uint32_t ti = (uint32_t)(id >> 32), e = (uint32_t)id;
		struct trec *r;
		const char *v;
		size_t vlen;
		int64_t deadline;

		ts->due_pos += 2;
		if (ti >= ts->n || (r = &ts->r[ti])->q == NULL)
			continue;
		if ((r->t->flags & RV_TF_TUMBLE) && e == TUMBLE_MARK) {
			tumble_expand(ts, ti, fired);
			continue;
		}
		v = rv_kv_at(r->seq, e, NULL, NULL, &vlen);
		if (v == NULL || vlen < 8)
			continue; /* cancelled or evicted */
		memcpy(&deadline, v, 8);
		if (deadline != fired)
			continue; /* replaced by a later first event: its own timer fires it */
		if (r->t->flags & RV_TF_TUMBLE) {
			/* a period ended: its aggregate condition decides */
			tumble_results(r, vm, v, vlen);
			if (r->t->agg_pc != RV_NONE && vm->run(vm, r->t->agg_pc, NULL) != RV_VM_MATCH) {
				rv_kv_del_at(r->seq, e);
				r->st.below++;
				continue;
			}
			v = rv_kv_at(r->seq, e, NULL, NULL, &vlen); /* the VM does not touch the map */
		}
		if (load_captures(ts, r->q, vm, v, vlen, contract, evlen) < 0) {
			rv_kv_del_at(r->seq, e);
			continue;
		}
		rv_kv_del_at(r->seq, e);
		r->st.fired++;
		*qi = (uint32_t)(r->q - ts->p->tseq);
		*ev = *evlen ? ts->ev : NULL;
		return 1;
	}
	return 0;
}

int64_t
rv_tstate_next_deadline(const struct rv_tstate *ts)
{
	if (ts->due_pos < ts->ndue)
		return INT64_MIN;
	return ts->wheel ? rv_twheel_next(ts->wheel) : INT64_MAX;
}

void
rv_tstate_rearm(struct rv_tstate *ts, int64_t now)
{
	uint32_t ti, e;

	for (ti = 0; ti < ts->n; ti++) {
		struct trec *r = &ts->r[ti];

		if (r->q != NULL && (r->t->flags & (RV_TF_SEQ | RV_TF_ABSENT)))
			mark_active(ts, (uint32_t)(r->q - ts->p->tseq));
		if (r->q == NULL || !(r->t->flags & (RV_TF_ABSENT | RV_TF_TUMBLE)))
			continue;
		for (e = rv_kv_next(r->seq, RV_NONE); e != RV_NONE; e = rv_kv_next(r->seq, e)) {
			size_t vlen;
			const char *v = rv_kv_at(r->seq, e, NULL, NULL, &vlen);
			int64_t deadline;

			if (v == NULL || vlen < 8)
				continue;
			memcpy(&deadline, v, 8);
			if (!(r->t->flags & RV_TF_TUMBLE)) {
				arm(ts, ti, e, deadline, now);
			} else if (deadline != r->armed) { /* one timer per period end */
				uint32_t e2;
				int seen = 0;

				for (e2 = rv_kv_next(r->seq, RV_NONE); e2 != e && !seen; e2 = rv_kv_next(r->seq, e2)) {
					size_t l2;
					const char *v2 = rv_kv_at(r->seq, e2, NULL, NULL, &l2);
					int64_t d2;

					if (v2 != NULL && l2 >= 8) {
						memcpy(&d2, v2, 8);
						seen = d2 == deadline;
					}
				}
				if (!seen)
					arm(ts, ti, TUMBLE_MARK, deadline, now);
				if (deadline > r->armed)
					r->armed = deadline;
			}
		}
	}
}

/* ---- one step ------------------------------------------------------------------------- */

int
rv_tstate_step(struct rv_tstate *ts, struct rv_vm *vm, uint32_t ti, int64_t now)
{
	struct trec *r = &ts->r[ti];
	const struct rv_temporal *t = r->t;
	size_t klen = 0, dlen = 0;
	uint32_t i;

	r->st.entered++;
	if (!use_event_time(r, vm, &now))
		return RV_TSTEP_NO;
	if (r->q && (t->flags & RV_TF_TUMBLE))
		return tumble_add(ts, r, ti, vm, now);
	if (r->q)
		return seq_first(ts, r, ti, vm, now);
	if (build_key(ts->p, vm, t->by, t->nby, ts->key, &klen) < 0) {
		r->st.no_key++;
		return RV_TSTEP_NO;
	}
	if (r->win) {
		struct rv_agg_in in[RV_MAX_AGGS];

		agg_inputs(ts, vm, t, in);
		if (rv_window_add(r->win, ts->key, klen, now, in, vm->agg_out, vm->agg_has) < 0) {
			r->st.no_key++; /* out of memory: the event is not counted */
			return RV_TSTEP_NO;
		}
		for (i = t->naggs; i < RV_MAX_AGGS; i++)
			vm->agg_has[i] = 0;
		if (t->agg_pc != RV_NONE && vm->run(vm, t->agg_pc, NULL) != RV_VM_MATCH) {
			r->st.below++;
			return RV_TSTEP_NO;
		}
	}
	if (r->dedup) {
		size_t vl;

		if (build_key(ts->p, vm, t->dedup, t->ndedup, ts->key2, &dlen) < 0) {
			r->st.no_key++;
			return RV_TSTEP_NO;
		}

		if (rv_kv_get(r->dedup, ts->key2, dlen, now, &vl) != NULL) {
			r->st.duplicates++;
			return RV_TSTEP_NO;
		}
		rv_kv_put(r->dedup, ts->key2, dlen, "", 0, now);
	}
	if (r->throttle && !throttle_allows(ts, r, ts->key, klen, now)) {
		r->st.throttled++;
		return (t->flags & RV_TF_ELSE) ? RV_TSTEP_ELSE : RV_TSTEP_NO;
	}
	r->st.fired++;
	return RV_TSTEP_FIRE;
}

static void rv_tstate_sweep_one(struct rv_tstate *ts, uint32_t i, int64_t now);

void
rv_tstate_sweep(struct rv_tstate *ts, int64_t now)
{
	uint32_t i;

	for (i = 0; i < ts->n; i++) {
		if (ts->r[i].tt) { /* event time: the rule's own clock */
			if (ts->r[i].max_seen == INT64_MIN)
				continue;
			rv_tstate_sweep_one(ts, i, ts->r[i].max_seen);
			continue;
		}
		rv_tstate_sweep_one(ts, i, now);
	}
}

static void
rv_tstate_sweep_one(struct rv_tstate *ts, uint32_t i, int64_t now)
{
	{
		if (ts->r[i].win)
			rv_window_expire(ts->r[i].win, now);
		if (ts->r[i].dedup)
			rv_kv_expire(ts->r[i].dedup, now);
		if (ts->r[i].throttle)
			rv_kv_expire(ts->r[i].throttle, now);
		if (ts->r[i].seq && (ts->r[i].t->flags & RV_TF_SEQ))
			rv_kv_expire(ts->r[i].seq, now);
	}
}

int
rv_tstate_stats(const struct rv_tstate *ts, uint32_t ti, struct route_rule_stats *s)
{
	const struct trec *r;
	struct route_table_stats ks;
	struct rv_window_stats ws;

	if (ts == NULL || ti >= ts->n)
		return -1;
	r = &ts->r[ti];
	*s = r->st;
	if (r->win) {
		rv_window_stats(r->win, &ws);
		s->keys = ws.keys;
		s->bytes += ws.bytes;
		s->evicted += ws.evicted;
		s->dropped += ws.dropped;
	}
	if (r->dedup) {
		rv_kv_stats(r->dedup, &ks);
		s->bytes += ks.bytes;
		s->evicted += ks.evicted;
	}
	if (r->throttle) {
		rv_kv_stats(r->throttle, &ks);
		s->bytes += ks.bytes;
		s->evicted += ks.evicted;
		if (!r->win)
			s->keys = ks.entries;
	}
	if (r->seq) {
		rv_kv_stats(r->seq, &ks);
		s->bytes += ks.bytes;
		s->evicted += ks.evicted;
		s->expired += ks.expired;
		s->keys = s->pending = ks.entries;
	}
	return 0;
}

/* ---- parts, for snapshot and restore (state.c) --------------------------------------- */

uint32_t
rv_tstate_count(const struct rv_tstate *ts)
{
	return ts ? ts->n : 0;
}

void
rv_tstate_parts(struct rv_tstate *ts, uint32_t ti, const struct rv_temporal **t, struct rv_window **win,
	const struct rv_wspec **spec, struct rv_kv **dedup, struct rv_kv **throttle, struct route_rule_stats **st)
{
	struct trec *r = &ts->r[ti];

	*t = r->t;
	*win = r->win;
	*spec = &r->spec;
	*dedup = r->dedup;
	*throttle = r->throttle;
	*st = &r->st;
}

struct rv_kv *
rv_tstate_seq_map(struct rv_tstate *ts, uint32_t ti)
{
	return ts->r[ti].seq;
}

int64_t *
rv_tstate_event_clock(struct rv_tstate *ts, uint32_t ti)
{
	return &ts->r[ti].max_seen;
}

int
rv_tstate_replace_window(struct rv_tstate *ts, uint32_t ti, struct rv_window *win)
{
	struct trec *r = &ts->r[ti];

	if (r->win == NULL || win == NULL)
		return -1;
	rv_window_free(r->win);
	r->win = win;
	return 0;
}
