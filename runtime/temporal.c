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

#include "alloc.h"
#include "state.h"
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
	struct route_rule_stats st;
};

struct rv_tstate {
	const struct rv_prog *p;      /* borrows */
	struct trec *r;               /* owns: one per TEMPORAL record */
	uint32_t n;
	char key[RV_KEY_MAX + 64];    /* scratch: the key being built */
	char key2[RV_KEY_MAX + 64];   /* scratch: the dedup key */
	int64_t *times;               /* owns: scratch for a throttle's firing times */
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
	}
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

/* The key of fields trefs[first .. first + n) into buf; -1 when one has no value. */
static int
build_key(struct rv_tstate *ts, struct rv_vm *vm, uint32_t first, uint32_t n, char *buf, size_t *len)
{
	uint32_t i;

	*len = 0;
	for (i = 0; i < n; i++)
		if (key_part(vm, ts->p->trefs[first + i], buf, RV_KEY_MAX + 64, len) < 0)
			return -1;
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

/* ---- one step ------------------------------------------------------------------------- */

int
rv_tstate_step(struct rv_tstate *ts, struct rv_vm *vm, uint32_t ti, int64_t now)
{
	struct trec *r = &ts->r[ti];
	const struct rv_temporal *t = r->t;
	size_t klen = 0, dlen = 0;
	uint32_t i;

	r->st.entered++;
	if (build_key(ts, vm, t->by, t->nby, ts->key, &klen) < 0) {
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

		if (build_key(ts, vm, t->dedup, t->ndedup, ts->key2, &dlen) < 0) {
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

void
rv_tstate_sweep(struct rv_tstate *ts, int64_t now)
{
	uint32_t i;

	for (i = 0; i < ts->n; i++) {
		if (ts->r[i].win)
			rv_window_expire(ts->r[i].win, now);
		if (ts->r[i].dedup)
			rv_kv_expire(ts->r[i].dedup, now);
		if (ts->r[i].throttle)
			rv_kv_expire(ts->r[i].throttle, now);
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
