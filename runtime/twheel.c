/*
 * twheel.c -- a hierarchical timer wheel over virtual milliseconds, after
 * Varghese & Lauck (1987) and the Linux kernel's timer wheel. Hand-written:
 * it is part of the product. Interface and snapshot format: twheel.h.
 *
 * Layout: 7 levels of 64 slots; level L covers 6-bit digit L of the time
 * (level 0: 1 ms per slot, level 6: 2^36 ms per slot, 2^42 ms ~ 139 years
 * in all). Each slot is a FIFO doubly linked list of timer records (indices
 * into one pool), with a 64-bit occupancy bitmap per level. Two more lists:
 * `due` (deadline <= now, waiting for the next advance) and `ovf` (deadlines
 * more than the wheel's span away).
 *
 * Invariant (times compared as biased unsigned, U(t) = t ^ 2^63, so order
 * is kept for negative times too): a timer of deadline d > now sits at level
 * L = the highest 6-bit digit where d and now differ, in slot digit_L(d),
 * which is > digit_L(now); when they differ above digit 6 it is in `ovf`.
 * So the lowest occupied level's first set bit names the next time anything
 * can happen; advance jumps straight there (never walking empty slots),
 * empties that slot and places its timers again relative to the new now:
 * each goes down at least one level or becomes due. Timers of equal
 * deadline always share one list and keep their insertion order in it, so
 * firing the due list by a stable sort on deadline gives ties in insertion
 * order.
 *
 * Ownership: the wheel owns its pool; ids are opaque values.
 */
#include "config.h"
#include "twheel.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "alloc.h"
#include "bytecode.h"

#define LVL_BITS 6
#define LVL_SIZE 64
#define NLEVELS 7                       /* 42 bits >= the 2^40 ms asked for */
#define L_DUE (NLEVELS * LVL_SIZE)      /* list index of the due list */
#define L_OVF (L_DUE + 1)               /* ... of the overflow list */
#define NLISTS (L_OVF + 1)
#define L_FREE 0xffffu                  /* the record is on the free list */
#define IDX_BITS 24
#define IDX_MASK ((1u << IDX_BITS) - 1)
#define MAX_RECS IDX_MASK               /* index IDX_MASK never used: RV_NONE is no handle */

#define SNAP_MAGIC "RVTW"
#define SNAP_VERSION 1u
#define SNAP_HEAD 20u                   /* magic, version, now, count */
#define SNAP_REC 16u                    /* deadline, id */

struct twnode {
	int64_t deadline;
	uint64_t id;                    /* the caller's, opaque */
	uint32_t prev, next;            /* in its list (or the free list: next only); RV_NONE ends */
	uint16_t list;                  /* list index (slot, L_DUE, L_OVF) or L_FREE */
	uint8_t gen;                    /* generation: the handle's high 8 bits */
	uint8_t pad;
};

struct twlist {
	uint32_t head, tail;            /* RV_NONE when empty */
};

struct rv_twheel {
	int64_t now;                    /* current time */
	struct twnode *n;               /* owns: the record pool */
	uint32_t cap;                   /* records in the pool (<= MAX_RECS) */
	uint32_t free_head, free_tail;  /* FIFO of free records (first freed, first reused) */
	size_t count;                   /* pending timers */
	uint64_t occ[NLEVELS];          /* bit s of occ[L]: slot s of level L is not empty */
	struct twlist list[NLISTS];
	int due_unsorted;               /* the due list may be out of deadline order */
	int64_t ovf_min;                /* <= every deadline in ovf (a lower bound; exact after a cascade) */
};

/* The biased unsigned image of a time: same order as int64. */
static inline uint64_t
ubias(int64_t t)
{
	return (uint64_t)t ^ (UINT64_C(1) << 63);
}

static inline int64_t
unbias(uint64_t u)
{
	return (int64_t)(u ^ (UINT64_C(1) << 63));
}

/* ---- lists ------------------------------------------------------------------- */

static void
list_append(struct rv_twheel *w, unsigned l, uint32_t i)
{
	struct twlist *li = &w->list[l];

	w->n[i].list = (uint16_t)l;
	w->n[i].next = RV_NONE;
	w->n[i].prev = li->tail;
	if (li->tail != RV_NONE)
		w->n[li->tail].next = i;
	else
		li->head = i;
	li->tail = i;
	if (l < L_DUE)
		w->occ[l / LVL_SIZE] |= UINT64_C(1) << (l % LVL_SIZE);
}

static void
list_unlink(struct rv_twheel *w, uint32_t i)
{
	struct twnode *x = &w->n[i];
	struct twlist *li = &w->list[x->list];

	if (x->prev != RV_NONE)
		w->n[x->prev].next = x->next;
	else
		li->head = x->next;
	if (x->next != RV_NONE)
		w->n[x->next].prev = x->prev;
	else
		li->tail = x->prev;
	if (li->head == RV_NONE && x->list < L_DUE)
		w->occ[x->list / LVL_SIZE] &= ~(UINT64_C(1) << (x->list % LVL_SIZE));
}

/* ---- records ----------------------------------------------------------------- */

/* Puts records [from, to) on the free list. */
static void
free_range(struct rv_twheel *w, uint32_t from, uint32_t to)
{
	uint32_t i;

	for (i = from; i < to; i++) {
		w->n[i].list = L_FREE;
		w->n[i].next = RV_NONE;
		if (w->free_tail != RV_NONE)
			w->n[w->free_tail].next = i;
		else
			w->free_head = i;
		w->free_tail = i;
	}
}

/* A free record, growing the pool (doubling); RV_NONE on OOM or at MAX_RECS. */
static uint32_t
rec_alloc(struct rv_twheel *w)
{
	uint32_t i;

	if (w->free_head == RV_NONE) {
		uint32_t cap = w->cap ? (w->cap > MAX_RECS / 2 ? MAX_RECS : w->cap * 2) : 64;
		struct twnode *n;

		if (cap <= w->cap)
			return RV_NONE;
		if ((n = ru_realloc(w->n, (size_t)cap * sizeof *n)) == NULL)
			return RV_NONE;
		memset(n + w->cap, 0, (size_t)(cap - w->cap) * sizeof *n);
		w->n = n;
		free_range(w, w->cap, cap);
		w->cap = cap;
	}
	i = w->free_head;
	w->free_head = w->n[i].next;
	if (w->free_head == RV_NONE)
		w->free_tail = RV_NONE;
	return i;
}

/* Returns record i (already unlinked) to the free list; its handle goes stale. */
static void
rec_free(struct rv_twheel *w, uint32_t i)
{
	w->n[i].gen++;
	w->count--;
	free_range(w, i, i + 1);
}

/* ---- placement ----------------------------------------------------------------- */

/* Files record i (unlinked) by its deadline relative to now (the invariant above). */
static void
place(struct rv_twheel *w, uint32_t i)
{
	struct twnode *x = &w->n[i];
	uint64_t ud, diff;
	unsigned lvl;

	if (x->deadline <= w->now) {
		struct twlist *due = &w->list[L_DUE];

		if (due->tail != RV_NONE && w->n[due->tail].deadline > x->deadline)
			w->due_unsorted = 1;
		list_append(w, L_DUE, i);
		return;
	}
	ud = ubias(x->deadline);
	diff = ud ^ ubias(w->now);
	lvl = (unsigned)(63 - __builtin_clzll(diff)) / LVL_BITS;
	if (lvl >= NLEVELS) {
		if (x->deadline < w->ovf_min)
			w->ovf_min = x->deadline;
		list_append(w, L_OVF, i);
		return;
	}
	list_append(w, lvl * LVL_SIZE + (unsigned)((ud >> (lvl * LVL_BITS)) & (LVL_SIZE - 1)), i);
}

/*
 * The next time at which a list must be emptied and its timers placed again
 * (always > now), with that list in *l; returns 0 when no timer is in the
 * wheel (due ones aside).
 */
static int
next_step(const struct rv_twheel *w, uint64_t *at, unsigned *l)
{
	uint64_t un = ubias(w->now);
	unsigned lvl;

	for (lvl = 0; lvl < NLEVELS; lvl++) {
		if (w->occ[lvl]) {
			unsigned s = (unsigned)__builtin_ctzll(w->occ[lvl]);
			unsigned shift = (lvl + 1) * LVL_BITS;

			*at = (un & ~((UINT64_C(1) << shift) - 1)) | ((uint64_t)s << (lvl * LVL_BITS));
			*l = lvl * LVL_SIZE + s;
			return 1;
		}
	}
	if (w->list[L_OVF].head != RV_NONE) {
		uint64_t b = ubias(w->ovf_min) & ~((UINT64_C(1) << (NLEVELS * LVL_BITS)) - 1);

		/* ovf_min is a lower bound: never step backwards because of a stale one */
		*at = b > un ? b : un + 1;
		*l = L_OVF;
		return 1;
	}
	return 0;
}

/* Empties list l and places each of its timers again, in order. */
static void
cascade(struct rv_twheel *w, unsigned l)
{
	uint32_t i = w->list[l].head, nx;

	w->list[l].head = w->list[l].tail = RV_NONE;
	if (l < L_DUE)
		w->occ[l / LVL_SIZE] &= ~(UINT64_C(1) << (l % LVL_SIZE));
	else
		w->ovf_min = INT64_MAX;
	for (; i != RV_NONE; i = nx) {
		nx = w->n[i].next;
		place(w, i);
	}
}

/*
 * Stable merge sort of the due list by deadline (bottom-up, on the next
 * links, after S. Tatham's list mergesort); then rebuilds prev and tail.
 */
static void
sort_due(struct rv_twheel *w)
{
	struct twlist *due = &w->list[L_DUE];
	uint32_t list = due->head, k;

	for (k = 1;; k *= 2) {
		uint32_t p = list, tail = RV_NONE, merges = 0;

		list = RV_NONE;
		while (p != RV_NONE) {
			uint32_t q = p, psize = 0, qsize = k, e;

			merges++;
			while (psize < k && q != RV_NONE) {
				psize++;
				q = w->n[q].next;
			}
			while (psize > 0 || (qsize > 0 && q != RV_NONE)) {
				/* take from p on ties: stability */
				if (psize == 0) {
					e = q; q = w->n[q].next; qsize--;
				} else if (qsize == 0 || q == RV_NONE || w->n[p].deadline <= w->n[q].deadline) {
					e = p; p = w->n[p].next; psize--;
				} else {
					e = q; q = w->n[q].next; qsize--;
				}
				if (tail != RV_NONE)
					w->n[tail].next = e;
				else
					list = e;
				tail = e;
			}
			p = q;
		}
		w->n[tail].next = RV_NONE;
		if (merges <= 1)
			break;
	}
	due->head = list;
	due->tail = RV_NONE;
	for (k = list; k != RV_NONE; k = w->n[k].next) {
		w->n[k].prev = due->tail;
		due->tail = k;
	}
	w->due_unsorted = 0;
}

/* ---- interface --------------------------------------------------------------- */

struct rv_twheel *
rv_twheel_new(int64_t now_ms)
{
	struct rv_twheel *w = ru_malloc(sizeof *w);
	unsigned l;

	if (w == NULL)
		return NULL;
	memset(w, 0, sizeof *w);
	w->now = now_ms;
	w->free_head = w->free_tail = RV_NONE;
	for (l = 0; l < NLISTS; l++)
		w->list[l].head = w->list[l].tail = RV_NONE;
	w->ovf_min = INT64_MAX;
	return w;
}

void
rv_twheel_free(struct rv_twheel *w)
{
	if (w == NULL)
		return;
	ru_free(w->n);
	ru_free(w);
}

uint32_t
rv_twheel_add(struct rv_twheel *w, int64_t deadline_ms, uint64_t id)
{
	uint32_t i = rec_alloc(w);

	if (i == RV_NONE)
		return RV_NONE;
	w->n[i].deadline = deadline_ms;
	w->n[i].id = id;
	w->count++;
	place(w, i);
	return ((uint32_t)w->n[i].gen << IDX_BITS) | i;
}

void
rv_twheel_cancel(struct rv_twheel *w, uint32_t handle)
{
	uint32_t i = handle & IDX_MASK;

	if (i >= w->cap || w->n[i].list == L_FREE || w->n[i].gen != (uint8_t)(handle >> IDX_BITS))
		return;
	list_unlink(w, i);
	rec_free(w, i);
}

uint32_t
rv_twheel_advance(struct rv_twheel *w, int64_t now_ms, rv_twheel_fire_fn *fire, void *ud)
{
	uint64_t target = ubias(now_ms > w->now ? now_ms : w->now), at;
	uint32_t fired = 0;
	unsigned l;

	for (;;) {
		struct twlist *due = &w->list[L_DUE];

		/* fire may add due timers (resorting) and cancel any, so take one at a time */
		while (due->head != RV_NONE) {
			uint32_t i;
			uint64_t id;
			int64_t d;

			if (w->due_unsorted)
				sort_due(w);
			i = due->head;
			id = w->n[i].id;
			d = w->n[i].deadline;
			list_unlink(w, i);
			rec_free(w, i);
			fired++;
			fire(ud, id, d);
		}
		if (!next_step(w, &at, &l) || at > target) {
			w->now = unbias(target);
			return fired;
		}
		w->now = unbias(at);
		cascade(w, l);
	}
}

int64_t
rv_twheel_next(const struct rv_twheel *w)
{
	int64_t best = INT64_MAX;
	uint32_t i;
	unsigned lvl, l = L_OVF;

	if (w->list[L_DUE].head != RV_NONE) {
		for (i = w->list[L_DUE].head; i != RV_NONE; i = w->n[i].next)
			if (w->n[i].deadline < best)
				best = w->n[i].deadline;
		return best;
	}
	for (lvl = 0; lvl < NLEVELS; lvl++) {
		if (w->occ[lvl]) {
			l = lvl * LVL_SIZE + (unsigned)__builtin_ctzll(w->occ[lvl]);
			break;
		}
	}
	/* the lowest occupied slot holds the earliest deadlines (see the invariant) */
	for (i = w->list[l].head; i != RV_NONE; i = w->n[i].next)
		if (w->n[i].deadline < best)
			best = w->n[i].deadline;
	return best;
}

int64_t
rv_twheel_now(const struct rv_twheel *w)
{
	return w->now;
}

size_t
rv_twheel_count(const struct rv_twheel *w)
{
	return w->count;
}

size_t
rv_twheel_bytes(const struct rv_twheel *w)
{
	return sizeof *w + (size_t)w->cap * sizeof *w->n;
}

/* ---- snapshot ------------------------------------------------------------------ */

static void
put32(unsigned char *p, uint32_t v)
{
	unsigned k;

	for (k = 0; k < 4; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

static void
put64(unsigned char *p, uint64_t v)
{
	unsigned k;

	for (k = 0; k < 8; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t
rv_twheel_snapshot(const struct rv_twheel *w, unsigned char *buf, size_t cap)
{
	size_t need = SNAP_HEAD + w->count * SNAP_REC + 8, off = SNAP_HEAD;
	unsigned l;
	uint32_t i;

	if (buf == NULL || cap < need)
		return need;
	memcpy(buf, SNAP_MAGIC, 4);
	put32(buf + 4, SNAP_VERSION);
	put64(buf + 8, (uint64_t)w->now);
	put32(buf + 16, (uint32_t)w->count);
	/* list by list: equal deadlines share a list, so their order is kept */
	for (l = 0; l < NLISTS; l++) {
		for (i = w->list[l].head; i != RV_NONE; i = w->n[i].next) {
			put64(buf + off, (uint64_t)w->n[i].deadline);
			put64(buf + off + 8, w->n[i].id);
			off += SNAP_REC;
		}
	}
	put64(buf + off, XXH64(buf, off, 0));
	return need;
}

struct rv_twheel *
rv_twheel_restore(const unsigned char *buf, size_t len)
{
	struct rv_twheel *w;
	uint32_t n, k;

	if (buf == NULL || len < SNAP_HEAD + 8 || memcmp(buf, SNAP_MAGIC, 4) != 0
		|| get32(buf + 4) != SNAP_VERSION)
		return NULL;
	n = get32(buf + 16);
	if (n > MAX_RECS || (len - SNAP_HEAD - 8) / SNAP_REC != n || (len - SNAP_HEAD - 8) % SNAP_REC != 0)
		return NULL;
	if (XXH64(buf, len - 8, 0) != get64(buf + len - 8))
		return NULL;
	if ((w = rv_twheel_new((int64_t)get64(buf + 8))) == NULL)
		return NULL;
	for (k = 0; k < n; k++) {
		const unsigned char *p = buf + SNAP_HEAD + (size_t)k * SNAP_REC;

		if (rv_twheel_add(w, (int64_t)get64(p), get64(p + 8)) == RV_NONE) {
			rv_twheel_free(w);
			return NULL;
		}
	}
	return w;
}
