/*
 * window.c -- exact sliding-window aggregates per key. Hand-written: it is
 * part of the product. Semantics, bounds and snapshot format: window.h.
 *
 * Layout: keys live in a pool of struct wkey with a free list, hash chains
 * over it (XXH64 of the key bytes) and a doubly linked list in update order
 * whose head is the least recently updated key (eviction and expiry take it
 * from there in O(1)), as state.c does for tables. Each key owns one ring
 * block holding its events, oldest first, growing by doubling up to
 * max_events:
 *
 *   cap x i64 time | cap x u64 input mask | nval x (cap x u64 input) | ndq x (cap x u32 seq)
 *   (the mask and inputs only when an aggregate takes inputs; ndq deques for MIN/MAX)
 *
 * Events are numbered by a wrapping u32 sequence (seq0 is the oldest's), so
 * the MIN/MAX monotonic deques name events by seq and survive the ring
 * being re-laid out on growth. Per key and aggregate a struct aggst keeps a
 * compensated sum (SUM, AVG), a deque (MIN, MAX) or a multiset of hashes
 * (DISTINCT: open addressing, linear probing, backward-shift deletion).
 *
 * A ring doubles when full and is halved when an add leaves it a quarter
 * full. The DISTINCT hash sets only grow while their key lives: a key that
 * once held many distinct values keeps that set's capacity until the key is
 * evicted or expired (a known limit).
 *
 * Ownership: the window owns its spec copy, pool, buckets and per key the
 * key bytes, ring block, aggregate states and hash sets. Callers' key and
 * input buffers are borrowed for one call.
 */
#include "config.h"
#include "window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "alloc.h"
#include "bytecode.h"

#define SNAP_MAGIC "RVWN"
#define SNAP_VERSION 1u
#define RING_MIN 4u
#define SET_MIN 8u

/* A multiset of 64-bit hashes: hash -> count; a count of 0 marks an empty cell. */
struct dset {
	uint64_t *h;            /* owns: one block, cap hashes then cap counts */
	uint32_t *c;            /* borrows: the counts, inside h's block */
	uint32_t cap, n;        /* cells (power of two), distinct hashes held */
};

/* One aggregate's state for one key (which fields apply: by its kind). */
struct aggst {
	double sum, comp;       /* SUM, AVG: Neumaier sum and compensation over the inputs held */
	uint32_t since;         /* SUM, AVG: inputs removed since the sum was last recomputed */
	uint32_t nhas;          /* SUM .. DISTINCT: events held whose input has */
	uint32_t dq_start, dq_len; /* MIN, MAX: the deque (seqs, values monotonic from the front) */
	struct dset set;        /* DISTINCT */
};

struct wkey {
	uint64_t hash;          /* XXH64 of the key bytes */
	uint32_t chain;         /* next key of the same bucket (free list: next free); RV_NONE ends */
	uint32_t older, newer;  /* update order; RV_NONE at the ends */
	uint32_t keylen;
	int used;               /* 0: a free pool entry */
	char *kbytes;           /* owns: the key bytes */
	unsigned char *ring;    /* owns: the ring block (layout above) */
	uint32_t cap, start, n; /* ring capacity, position of the oldest event, events held */
	uint32_t seq0;          /* seq of the oldest event */
	struct aggst *ag;       /* owns: naggs states */
};

struct rv_window {
	int64_t within;
	uint32_t naggs, max_keys, max_events;
	uint8_t *kinds;         /* owns: the spec's kinds */
	uint32_t *col;          /* owns: per aggregate its input column, or RV_NONE ... */
	uint32_t *dq;           /* ... (same block) its deque, or RV_NONE */
	uint32_t nval, ndq;     /* input columns, deques */
	int64_t now;            /* latest time seen */
	struct wkey *k;         /* owns: the key pool */
	uint32_t kcap, free_head, nkeys;
	uint32_t *bucket;       /* owns: first key per bucket */
	uint32_t nbucket;       /* power of two */
	uint32_t oldest, newest;
	uint64_t events;        /* events held */
	uint64_t dyn_bytes;     /* bytes of the keys' blocks (key bytes, rings, states, sets) */
	uint64_t evicted, expired, dropped;
};

/* ---- the ring --------------------------------------------------------------- */

static size_t
ring_bytes(const struct rv_window *w, uint32_t cap)
{
	return (size_t)cap * (8 + (w->nval ? 8 + 8 * (size_t)w->nval : 0) + 4 * (size_t)w->ndq);
}

static inline int64_t *
r_time(const struct wkey *k)
{
	return (int64_t *)(void *)k->ring;
}

static inline uint64_t *
r_mask(const struct wkey *k)
{
	return (uint64_t *)(void *)(k->ring + 8 * (size_t)k->cap);
}

static inline uint64_t *
r_val(const struct wkey *k, uint32_t col)
{
	return (uint64_t *)(void *)(k->ring + 16 * (size_t)k->cap + 8 * (size_t)k->cap * col);
}

static inline uint32_t *
r_dq(const struct rv_window *w, const struct wkey *k, uint32_t d)
{
	return (uint32_t *)(void *)(k->ring + (size_t)k->cap * (8 + (w->nval ? 8 + 8 * (size_t)w->nval : 0))
		+ 4 * (size_t)k->cap * d);
}

/* Ring position of seq q (q in [seq0, seq0 + n]). */
static inline uint32_t
r_pos(const struct wkey *k, uint32_t q)
{
	uint32_t p = k->start + (q - k->seq0);

	return p >= k->cap ? p - k->cap : p;
}

static inline double
bits_num(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof d);
	return d;
}

static inline uint64_t
num_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	return u;
}

/* Re-lays the ring out at capacity cap (>= n; larger or smaller): -1 on OOM (nothing changed). */
static int
ring_grow(struct rv_window *w, struct wkey *k, uint32_t cap)
{
	struct wkey nk = *k;
	uint32_t j, c, d;

	if ((nk.ring = ru_malloc(ring_bytes(w, cap))) == NULL)
		return -1;
	nk.cap = cap;
	nk.start = 0;
	for (j = 0; j < k->n; j++) {
		uint32_t p = r_pos(k, k->seq0 + j);

		r_time(&nk)[j] = r_time(k)[p];
		if (w->nval) {
			r_mask(&nk)[j] = r_mask(k)[p];
			for (c = 0; c < w->nval; c++)
				r_val(&nk, c)[j] = r_val(k, c)[p];
		}
	}
	for (d = 0; d < w->naggs; d++) {
		struct aggst *a = &k->ag[d];
		uint32_t q = w->dq[d];

		if (q == RV_NONE)
			continue;
		for (j = 0; j < a->dq_len; j++) {
			uint32_t p = a->dq_start + j;

			r_dq(w, &nk, q)[j] = r_dq(w, k, q)[p >= k->cap ? p - k->cap : p];
		}
		a->dq_start = 0;
	}
	ru_free(k->ring);
	w->dyn_bytes += ring_bytes(w, cap) - ring_bytes(w, k->cap);
	k->ring = nk.ring;
	k->cap = cap;
	k->start = 0;
	return 0;
}

/* ---- hash multisets ------------------------------------------------------------ */

static inline uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	return x;
}

static int
set_init(struct dset *s, uint32_t cap)
{
	if ((s->h = ru_malloc((size_t)cap * 12)) == NULL)
		return -1;
	s->c = (uint32_t *)(void *)(s->h + cap);
	memset(s->c, 0, (size_t)cap * sizeof *s->c);
	s->cap = cap;
	s->n = 0;
	return 0;
}

/* The cell of h, or the empty cell where it would go. */
static uint32_t
set_cell(const struct dset *s, uint64_t h)
{
	uint32_t m = s->cap - 1, i = (uint32_t)mix(h) & m;

	while (s->c[i] != 0 && s->h[i] != h)
		i = (i + 1) & m;
	return i;
}

/* Makes room for one more hash (load <= 3/4); -1 on OOM (the set unchanged). */
static int
set_reserve(struct rv_window *w, struct dset *s)
{
	struct dset ns;
	uint32_t i;

	if ((uint64_t)(s->n + 1) * 4 <= (uint64_t)s->cap * 3)
		return 0;
	if (set_init(&ns, s->cap * 2) != 0)
		return -1;
	for (i = 0; i < s->cap; i++) {
		if (s->c[i]) {
			uint32_t j = set_cell(&ns, s->h[i]);

			ns.h[j] = s->h[i];
			ns.c[j] = s->c[i];
		}
	}
	ns.n = s->n;
	w->dyn_bytes += (uint64_t)s->cap * 12;
	ru_free(s->h);
	*s = ns;
	return 0;
}

static void
set_inc(struct dset *s, uint64_t h)
{
	uint32_t i = set_cell(s, h);

	if (s->c[i] == 0) {
		s->h[i] = h;
		s->n++;
	}
	s->c[i]++;
}

/* Removes one h (present); at count 0 the cell is freed by backward shift. */
static void
set_dec(struct dset *s, uint64_t h)
{
	uint32_t m = s->cap - 1, i = set_cell(s, h), j;

	if (s->c[i] == 0 || --s->c[i] != 0)
		return;
	s->n--;
	/* close the gap: move back each later cell of the run whose home is not in (i, j] */
	for (j = (i + 1) & m; s->c[j] != 0; j = (j + 1) & m) {
		uint32_t home = (uint32_t)mix(s->h[j]) & m;

		if (((j - home) & m) >= ((j - i) & m)) {
			s->h[i] = s->h[j];
			s->c[i] = s->c[j];
			s->c[j] = 0;
			i = j;
		}
	}
}

/* ---- aggregates --------------------------------------------------------------- */

/* Neumaier's compensated addition of x to (sum, comp). */
static inline void
nsum_add(struct aggst *a, double x)
{
	double t = a->sum + x;

	if (fabs(a->sum) >= fabs(x))
		a->comp += (a->sum - t) + x;
	else
		a->comp += (x - t) + a->sum;
	a->sum = t;
}

/* Recomputes aggregate i's sum from the events held. */
static void
sum_recompute(const struct rv_window *w, struct wkey *k, uint32_t i)
{
	struct aggst *a = &k->ag[i];
	uint32_t j;

	a->sum = a->comp = 0;
	a->since = 0;
	for (j = 0; j < k->n; j++) {
		uint32_t p = r_pos(k, k->seq0 + j);

		if (r_mask(k)[p] >> i & 1)
			nsum_add(a, bits_num(r_val(k, w->col[i])[p]));
	}
}

/* Should the deque's back (value b) go when v arrives? MIN keeps increasing values. */
static inline int
dq_dominated(unsigned kind, double b, double v)
{
	return kind == RV_AGG_MIN ? !(b < v) : !(b > v);
}

/* Appends an event (time t, inputs in) to key k; needs n < cap and room in its sets. */
static void
push_event(struct rv_window *w, struct wkey *k, int64_t t, const struct rv_agg_in *in)
{
	uint32_t q = k->seq0 + k->n, p = r_pos(k, q), i;
	uint64_t mask = 0;

	r_time(k)[p] = t;
	for (i = 0; i < w->naggs; i++) {
		struct aggst *a = &k->ag[i];
		unsigned kind = w->kinds[i];

		if (w->col[i] == RV_NONE || !in[i].has)
			continue;
		mask |= UINT64_C(1) << i;
		a->nhas++;
		if (kind == RV_AGG_DISTINCT) {
			r_val(k, w->col[i])[p] = in[i].hash;
			set_inc(&a->set, in[i].hash);
			continue;
		}
		r_val(k, w->col[i])[p] = num_bits(in[i].num);
		if (kind == RV_AGG_SUM || kind == RV_AGG_AVG) {
			nsum_add(a, in[i].num);
		} else {
			uint32_t *dq = r_dq(w, k, w->dq[i]), e;

			while (a->dq_len > 0) {
				uint32_t b = a->dq_start + a->dq_len - 1;

				b = b >= k->cap ? b - k->cap : b;
				if (!dq_dominated(kind, bits_num(r_val(k, w->col[i])[r_pos(k, dq[b])]), in[i].num))
					break;
				a->dq_len--;
			}
			e = a->dq_start + a->dq_len;
			dq[e >= k->cap ? e - k->cap : e] = q;
			a->dq_len++;
		}
	}
	if (w->nval)
		r_mask(k)[p] = mask;
	k->n++;
	w->events++;
}

/* Removes key k's oldest event (n > 0). */
static void
pop_event(struct rv_window *w, struct wkey *k)
{
	uint32_t p = k->start, i;
	uint64_t mask = w->nval ? r_mask(k)[p] : 0;

	for (i = 0; i < w->naggs; i++) {
		struct aggst *a = &k->ag[i];
		unsigned kind = w->kinds[i];

		if (!(mask >> i & 1))
			continue;
		a->nhas--;
		if (kind == RV_AGG_DISTINCT) {
			set_dec(&a->set, r_val(k, w->col[i])[p]);
		} else if (kind == RV_AGG_SUM || kind == RV_AGG_AVG) {
			nsum_add(a, -bits_num(r_val(k, w->col[i])[p]));
			a->since++;
			if (a->nhas == 0) {
				a->sum = a->comp = 0;
				a->since = 0;
			}
		} else if (a->dq_len > 0 && r_dq(w, k, w->dq[i])[a->dq_start] == k->seq0) {
			a->dq_start = a->dq_start + 1 == k->cap ? 0 : a->dq_start + 1;
			a->dq_len--;
		}
	}
	k->start = k->start + 1 == k->cap ? 0 : k->start + 1;
	k->seq0++;
	k->n--;
	w->events--;
	/* recompute after the event is gone: amortised over the nhas removals it waits for */
	for (i = 0; i < w->naggs; i++)
		if ((mask >> i & 1) && (w->kinds[i] == RV_AGG_SUM || w->kinds[i] == RV_AGG_AVG)
			&& k->ag[i].nhas > 0 && k->ag[i].since >= k->ag[i].nhas)
			sum_recompute(w, k, i);
}

/* Has an event of time t left the window at now (t <= now)? */
static inline int
gone(const struct rv_window *w, int64_t t, int64_t now)
{
	return (uint64_t)now - (uint64_t)t >= (uint64_t)w->within;
}

/* Drops key k's events that left the window at now. */
static void
drop_old(struct rv_window *w, struct wkey *k, int64_t now)
{
	while (k->n > 0 && gone(w, r_time(k)[k->start], now))
		pop_event(w, k);
}

/* Writes the aggregates of key k into out, out_has. */
static void
results(const struct rv_window *w, const struct wkey *k, double *out, uint8_t *out_has)
{
	uint32_t i;

	for (i = 0; i < w->naggs; i++) {
		const struct aggst *a = &k->ag[i];

		out[i] = 0;
		out_has[i] = 1;
		switch (w->kinds[i]) {
		case RV_AGG_COUNT:
			out[i] = k->n;
			break;
		case RV_AGG_RATE:
			out[i] = k->n / (w->within / 1000.0);
			break;
		case RV_AGG_SUM:
			out[i] = a->nhas ? a->sum + a->comp : 0;
			break;
		case RV_AGG_AVG:
			if (a->nhas)
				out[i] = (a->sum + a->comp) / a->nhas;
			else
				out_has[i] = 0;
			break;
		case RV_AGG_MIN:
		case RV_AGG_MAX:
			if (a->dq_len)
				out[i] = bits_num(r_val(k, w->col[i])[r_pos(k, r_dq(w, k, w->dq[i])[a->dq_start])]);
			else
				out_has[i] = 0;
			break;
		default: /* RV_AGG_DISTINCT */
			out[i] = a->set.n;
			break;
		}
	}
}

/* ---- keys ---------------------------------------------------------------------- */

static void
lru_unlink(struct rv_window *w, uint32_t i)
{
	struct wkey *k = &w->k[i];

	if (k->older != RV_NONE)
		w->k[k->older].newer = k->newer;
	else
		w->oldest = k->newer;
	if (k->newer != RV_NONE)
		w->k[k->newer].older = k->older;
	else
		w->newest = k->older;
	k->older = k->newer = RV_NONE;
}

static void
lru_append(struct rv_window *w, uint32_t i)
{
	struct wkey *k = &w->k[i];

	k->older = w->newest;
	k->newer = RV_NONE;
	if (w->newest != RV_NONE)
		w->k[w->newest].newer = i;
	else
		w->oldest = i;
	w->newest = i;
}

static uint32_t
find_key(const struct rv_window *w, uint64_t h, const void *key, size_t keylen)
{
	uint32_t i;

	for (i = w->bucket[h & (w->nbucket - 1)]; i != RV_NONE; i = w->k[i].chain)
		if (w->k[i].hash == h && w->k[i].keylen == keylen
			&& (keylen == 0 || memcmp(w->k[i].kbytes, key, keylen) == 0))
			return i;
	return RV_NONE;
}

/* Frees key k's blocks (not its pool entry); the byte count follows. */
static void
key_blocks_free(struct rv_window *w, struct wkey *k)
{
	uint32_t i;

	if (k->ag != NULL) {
		for (i = 0; i < w->naggs; i++) {
			if (k->ag[i].set.h != NULL)
				w->dyn_bytes -= (uint64_t)k->ag[i].set.cap * 12;
			ru_free(k->ag[i].set.h);
		}
		w->dyn_bytes -= (uint64_t)w->naggs * sizeof *k->ag;
	}
	if (k->ring != NULL)
		w->dyn_bytes -= ring_bytes(w, k->cap);
	if (k->kbytes != NULL)
		w->dyn_bytes -= k->keylen;
	ru_free(k->ag);
	ru_free(k->ring);
	ru_free(k->kbytes);
	k->ag = NULL;
	k->ring = NULL;
	k->kbytes = NULL;
}

/* Removes key i from its chain and the update list and frees it. */
static void
remove_key(struct rv_window *w, uint32_t i)
{
	struct wkey *k = &w->k[i];
	uint32_t *pp = &w->bucket[k->hash & (w->nbucket - 1)];

	while (*pp != i)
		pp = &w->k[*pp].chain;
	*pp = k->chain;
	lru_unlink(w, i);
	w->events -= k->n;
	key_blocks_free(w, k);
	memset(k, 0, sizeof *k);
	k->chain = w->free_head;
	w->free_head = i;
	w->nkeys--;
}

/* Doubles the buckets; -1 on OOM (the chains just get longer). */
static int
grow_buckets(struct rv_window *w)
{
	uint32_t nb = w->nbucket * 2, i, *b = ru_malloc((size_t)nb * sizeof *b);

	if (b == NULL)
		return -1;
	memset(b, 0xff, (size_t)nb * sizeof *b);
	for (i = 0; i < w->kcap; i++) {
		if (!w->k[i].used)
			continue;
		w->k[i].chain = b[w->k[i].hash & (nb - 1)];
		b[w->k[i].hash & (nb - 1)] = i;
	}
	ru_free(w->bucket);
	w->bucket = b;
	w->nbucket = nb;
	return 0;
}

/*
 * A new key entry with its blocks (ring for `events` events, sets), taken
 * off the free list but not yet linked anywhere: its index, or RV_NONE on
 * OOM with nothing changed but possibly a larger pool.
 */
static uint32_t
new_key(struct rv_window *w, uint64_t h, const void *key, size_t keylen, uint32_t events)
{
	uint32_t i, a, cap = RING_MIN < w->max_events ? RING_MIN : w->max_events;
	struct wkey *k;
	char *kb;
	struct aggst *ag;
	unsigned char *ring;

	while (cap < events)
		cap = cap > w->max_events / 2 ? w->max_events : cap * 2;
	if (w->free_head == RV_NONE) {
		uint32_t ncap = w->kcap ? w->kcap * 2 : 16;
		struct wkey *nk;

		if (ncap < w->kcap || (nk = ru_realloc(w->k, (size_t)ncap * sizeof *nk)) == NULL)
			return RV_NONE;
		memset(nk + w->kcap, 0, (size_t)(ncap - w->kcap) * sizeof *nk);
		for (i = ncap; i-- > w->kcap;) {
			nk[i].chain = w->free_head;
			w->free_head = i;
		}
		w->k = nk;
		w->kcap = ncap;
	}
	kb = ru_malloc(keylen ? keylen : 1);
	ag = ru_malloc((size_t)w->naggs * sizeof *ag);
	if (ag != NULL)
		memset(ag, 0, (size_t)w->naggs * sizeof *ag); /* no sets yet: the fail path frees them */
	ring = ru_malloc(ring_bytes(w, cap));
	if (kb == NULL || ag == NULL || ring == NULL)
		goto fail;
	for (a = 0; a < w->naggs; a++)
		if (w->kinds[a] == RV_AGG_DISTINCT && set_init(&ag[a].set, SET_MIN) != 0)
			goto fail;
	i = w->free_head;
	k = &w->k[i];
	w->free_head = k->chain;
	memset(k, 0, sizeof *k);
	if (keylen)
		memcpy(kb, key, keylen);
	k->kbytes = kb;
	k->keylen = (uint32_t)keylen;
	k->ag = ag;
	k->ring = ring;
	k->cap = cap;
	k->hash = h;
	k->chain = k->older = k->newer = RV_NONE;
	w->dyn_bytes += keylen + (uint64_t)w->naggs * sizeof *ag + ring_bytes(w, cap);
	for (a = 0; a < w->naggs; a++)
		if (w->kinds[a] == RV_AGG_DISTINCT)
			w->dyn_bytes += (uint64_t)SET_MIN * 12;
	return i;
fail:
	if (ag != NULL)
		for (a = 0; a < w->naggs; a++)
			ru_free(ag[a].set.h);
	ru_free(kb);
	ru_free(ag);
	ru_free(ring);
	return RV_NONE;
}

/* Links the new key i (from new_key) into its chain and at the newest end. */
static void
link_key(struct rv_window *w, uint32_t i)
{
	struct wkey *k = &w->k[i];

	k->used = 1;
	k->chain = w->bucket[k->hash & (w->nbucket - 1)];
	w->bucket[k->hash & (w->nbucket - 1)] = i;
	lru_append(w, i);
	w->nkeys++;
	if (w->nkeys > w->nbucket)
		(void)grow_buckets(w);
}

/* ---- interface --------------------------------------------------------------- */

struct rv_window *
rv_window_new(const struct rv_wspec *spec)
{
	struct rv_window *w;
	uint32_t i;

	if (spec == NULL || spec->within_ms < 1 || spec->naggs == 0 || spec->naggs > RV_WINDOW_MAX_AGGS
		|| spec->kinds == NULL || spec->max_keys == 0 || spec->max_events == 0)
		return NULL;
	for (i = 0; i < spec->naggs; i++)
		if (spec->kinds[i] > RV_AGG_RATE)
			return NULL;
	if ((w = ru_malloc(sizeof *w)) == NULL)
		return NULL;
	memset(w, 0, sizeof *w);
	w->within = spec->within_ms;
	w->naggs = spec->naggs;
	w->max_keys = spec->max_keys;
	w->max_events = spec->max_events;
	w->free_head = w->oldest = w->newest = RV_NONE;
	w->now = INT64_MIN;
	w->kinds = ru_malloc(spec->naggs);
	w->col = ru_malloc(2 * (size_t)spec->naggs * sizeof *w->col);
	w->nbucket = 16;
	w->bucket = ru_malloc(w->nbucket * sizeof *w->bucket);
	if (w->kinds == NULL || w->col == NULL || w->bucket == NULL) {
		rv_window_free(w);
		return NULL;
	}
	memcpy(w->kinds, spec->kinds, spec->naggs);
	memset(w->bucket, 0xff, w->nbucket * sizeof *w->bucket);
	w->dq = w->col + spec->naggs;
	for (i = 0; i < spec->naggs; i++) {
		unsigned kind = spec->kinds[i];

		w->col[i] = w->dq[i] = RV_NONE;
		if (kind != RV_AGG_COUNT && kind != RV_AGG_RATE)
			w->col[i] = w->nval++;
		if (kind == RV_AGG_MIN || kind == RV_AGG_MAX)
			w->dq[i] = w->ndq++;
	}
	return w;
}

void
rv_window_free(struct rv_window *w)
{
	uint32_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->kcap; i++)
		key_blocks_free(w, &w->k[i]);
	ru_free(w->k);
	ru_free(w->bucket);
	ru_free(w->col);
	ru_free(w->kinds);
	ru_free(w);
}

int
rv_window_add(struct rv_window *w, const void *key, size_t keylen, int64_t now_ms,
	const struct rv_agg_in *in, double *out, uint8_t *out_has)
{
	uint64_t h;
	uint32_t i, a;
	struct wkey *k;

	if (keylen > UINT32_MAX)
		return -1;
	h = XXH64(key, keylen, 0);
	if (now_ms < w->now)
		now_ms = w->now;
	i = find_key(w, h, key, keylen);
	if (i == RV_NONE) {
		/* everything the key needs is allocated before anything is evicted */
		if ((i = new_key(w, h, key, keylen, 1)) == RV_NONE)
			return -1;
		if (w->nkeys >= w->max_keys && w->oldest != RV_NONE) {
			remove_key(w, w->oldest);
			w->evicted++;
		}
		link_key(w, i);
		k = &w->k[i];
	} else {
		k = &w->k[i];
		drop_old(w, k, now_ms);
		if (k->n == k->cap && k->cap < w->max_events
			&& ring_grow(w, k, k->cap > w->max_events / 2 ? w->max_events : k->cap * 2) != 0)
			return -1;
		for (a = 0; a < w->naggs; a++)
			if (w->kinds[a] == RV_AGG_DISTINCT && in[a].has && set_reserve(w, &k->ag[a].set) != 0)
				return -1;
		if (k->n == w->max_events) {
			pop_event(w, k);
			w->dropped++;
		}
		lru_unlink(w, i);
		lru_append(w, i);
	}
	w->now = now_ms;
	push_event(w, k, now_ms, in);
	results(w, k, out, out_has);
	/* memory follows the live events: a ring a quarter full is halved (after
	 * the add succeeded; if the re-layout cannot allocate, nothing changes) */
	if (k->cap > RING_MIN && k->n <= k->cap / 4)
		(void)ring_grow(w, k, k->cap / 2);
	return 0;
}

void
rv_window_expire(struct rv_window *w, int64_t now_ms)
{
	if (now_ms < w->now)
		now_ms = w->now;
	w->now = now_ms;
	while (w->oldest != RV_NONE) {
		struct wkey *k = &w->k[w->oldest];

		if (k->n > 0 && !gone(w, r_time(k)[r_pos(k, k->seq0 + k->n - 1)], now_ms))
			break;
		remove_key(w, w->oldest);
		w->expired++;
	}
}

void
rv_window_stats(const struct rv_window *w, struct rv_window_stats *s)
{
	s->keys = w->nkeys;
	s->events = w->events;
	s->bytes = sizeof *w + w->naggs + 2 * (uint64_t)w->naggs * sizeof *w->col
		+ (uint64_t)w->kcap * sizeof *w->k + (uint64_t)w->nbucket * sizeof *w->bucket + w->dyn_bytes;
	s->evicted = w->evicted;
	s->expired = w->expired;
	s->dropped = w->dropped;
}

/* ---- snapshot ------------------------------------------------------------------ */

/* A bounds-checked writer (counts past cap without writing) and reader. */
struct wbuf {
	unsigned char *p;
	size_t cap, off;
};

static void
w_bytes(struct wbuf *b, const void *s, size_t n)
{
	if (b->p != NULL && b->off <= b->cap && n <= b->cap - b->off)
		memcpy(b->p + b->off, s, n);
	b->off += n;
}

static void
w_u32(struct wbuf *b, uint32_t v)
{
	unsigned char t[4];
	unsigned j;

	for (j = 0; j < 4; j++)
		t[j] = (unsigned char)(v >> (8 * j));
	w_bytes(b, t, 4);
}

static void
w_u64(struct wbuf *b, uint64_t v)
{
	w_u32(b, (uint32_t)v);
	w_u32(b, (uint32_t)(v >> 32));
}

struct rbuf {
	const unsigned char *p;
	size_t len, off;
	int bad;               /* a read ran past the end */
};

static const unsigned char *
r_bytes(struct rbuf *b, size_t n)
{
	const unsigned char *s;

	if (b->bad || n > b->len - b->off) {
		b->bad = 1;
		return NULL;
	}
	s = b->p + b->off;
	b->off += n;
	return s;
}

static uint32_t
r_u32(struct rbuf *b)
{
	const unsigned char *s = r_bytes(b, 4);

	if (s == NULL)
		return 0;
	return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
}

static uint64_t
r_u64(struct rbuf *b)
{
	uint64_t lo = r_u32(b);

	return lo | (uint64_t)r_u32(b) << 32;
}

/* Is kind a SUM or AVG (the aggregates whose sum state is snapshotted)? */
static inline int
is_sum(unsigned kind)
{
	return kind == RV_AGG_SUM || kind == RV_AGG_AVG;
}

/* Writes the snapshot through b (sizing only when b->p is NULL); the checksum aside. */
static void
snap_write(const struct rv_window *w, struct wbuf *b)
{
	uint32_t i, j, c;

	w_bytes(b, SNAP_MAGIC, 4);
	w_u32(b, SNAP_VERSION);
	w_u64(b, (uint64_t)w->within);
	w_u32(b, w->naggs);
	w_bytes(b, w->kinds, w->naggs);
	w_u32(b, w->max_keys);
	w_u32(b, w->max_events);
	w_u64(b, (uint64_t)w->now);
	w_u64(b, w->evicted);
	w_u64(b, w->expired);
	w_u64(b, w->dropped);
	w_u32(b, w->nkeys);
	for (i = w->oldest; i != RV_NONE; i = w->k[i].newer) {
		const struct wkey *k = &w->k[i];

		w_u32(b, k->keylen);
		w_bytes(b, k->kbytes, k->keylen);
		w_u32(b, k->n);
		for (j = 0; j < w->naggs; j++) {
			if (!is_sum(w->kinds[j]))
				continue;
			w_u64(b, num_bits(k->ag[j].sum));
			w_u64(b, num_bits(k->ag[j].comp));
			w_u32(b, k->ag[j].since);
		}
		for (j = 0; j < k->n; j++) {
			uint32_t p = r_pos(k, k->seq0 + j);

			w_u64(b, (uint64_t)r_time(k)[p]);
			w_u64(b, w->nval ? r_mask(k)[p] : 0);
			for (c = 0; c < w->nval; c++)
				w_u64(b, r_val(k, c)[p]);
		}
	}
}

size_t
rv_window_snapshot(const struct rv_window *w, unsigned char *buf, size_t cap)
{
	struct wbuf b = { NULL, 0, 0 };
	size_t need;

	snap_write(w, &b);
	need = b.off + 8;
	if (buf == NULL || cap < need)
		return need;
	b.p = buf;
	b.cap = cap;
	b.off = 0;
	snap_write(w, &b);
	w_u64(&b, XXH64(buf, b.off, 0));
	return need;
}

struct rv_window *
rv_window_restore(const struct rv_wspec *spec, const unsigned char *buf, size_t len)
{
	struct rv_window *w = NULL;
	struct rbuf b = { buf, 0, 0, 0 }, tail;
	struct rv_agg_in *in = NULL;
	const unsigned char *s;
	uint32_t nkeys, n, j, a;
	int64_t now, newest = INT64_MIN;

	if (spec == NULL || buf == NULL || len < 16 || memcmp(buf, SNAP_MAGIC, 4) != 0)
		return NULL;
	tail = (struct rbuf){ buf + len - 8, 8, 0, 0 };
	if (XXH64(buf, len - 8, 0) != r_u64(&tail))
		return NULL;
	b.len = len - 8;
	(void)r_bytes(&b, 4);
	if (r_u32(&b) != SNAP_VERSION || (int64_t)r_u64(&b) != spec->within_ms || r_u32(&b) != spec->naggs)
		return NULL;
	if ((s = r_bytes(&b, spec->naggs)) == NULL || spec->kinds == NULL || memcmp(s, spec->kinds, spec->naggs) != 0
		|| r_u32(&b) != spec->max_keys || r_u32(&b) != spec->max_events || b.bad)
		return NULL;
	if ((w = rv_window_new(spec)) == NULL)
		return NULL;
	if ((in = ru_malloc((size_t)w->naggs * sizeof *in)) == NULL)
		goto fail;
	memset(in, 0, (size_t)w->naggs * sizeof *in);
	now = (int64_t)r_u64(&b);
	w->evicted = r_u64(&b);
	w->expired = r_u64(&b);
	w->dropped = r_u64(&b);
	nkeys = r_u32(&b);
	if (b.bad || nkeys > w->max_keys)
		goto fail;
	for (n = 0; n < nkeys; n++) {
		uint32_t keylen = r_u32(&b), nev, ki;
		const unsigned char *key = r_bytes(&b, keylen), *sums;
		int64_t prev = INT64_MIN;
		uint64_t h;
		struct wkey *k;

		nev = r_u32(&b);
		/* the events must be there before their ring is allocated */
		if (b.bad || nev == 0 || nev > w->max_events || (b.len - b.off) / (16 + 8 * (size_t)w->nval) < nev)
			goto fail;
		h = XXH64(key, keylen, 0);
		if (find_key(w, h, key, keylen) != RV_NONE || (ki = new_key(w, h, key, keylen, nev)) == RV_NONE)
			goto fail;
		link_key(w, ki);
		k = &w->k[ki];
		sums = b.p + b.off;
		for (a = 0; a < w->naggs; a++)
			if (is_sum(w->kinds[a]))
				(void)r_bytes(&b, 20);
		for (j = 0; j < nev; j++) {
			int64_t t = (int64_t)r_u64(&b);
			uint64_t mask = r_u64(&b);

			/* a key's events are in time order, none after the window's time */
			if (b.bad || t < prev || t > now)
				goto fail;
			prev = t;
			if (w->naggs < 64 && mask >> w->naggs != 0)
				goto fail;
			for (a = 0; a < w->naggs; a++) {
				uint64_t v;

				in[a].has = (int)(mask >> a & 1);
				if (w->col[a] == RV_NONE) {
					if (in[a].has)
						goto fail; /* COUNT and RATE take no input */
					continue;
				}
				v = r_u64(&b);
				in[a].num = bits_num(v);
				in[a].hash = v;
				if (in[a].has && w->kinds[a] == RV_AGG_DISTINCT && set_reserve(w, &k->ag[a].set) != 0)
					goto fail;
			}
			if (b.bad)
				goto fail;
			push_event(w, k, t, in);
		}
		/* keys are in update order, and a key's last update is its newest event */
		if (prev < newest)
			goto fail;
		newest = prev;
		/* the sums as they were (not recomputed), so outputs continue bit for bit */
		for (a = 0; a < w->naggs; a++) {
			struct rbuf sb = { sums, 20, 0, 0 };

			if (!is_sum(w->kinds[a]))
				continue;
			k->ag[a].sum = bits_num(r_u64(&sb));
			k->ag[a].comp = bits_num(r_u64(&sb));
			k->ag[a].since = r_u32(&sb);
			sums += 20;
		}
	}
	if (b.off != b.len)
		goto fail;
	w->now = now;
	ru_free(in);
	return w;
fail:
	ru_free(in);
	rv_window_free(w);
	return NULL;
}
