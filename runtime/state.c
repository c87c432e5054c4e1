/*
 * state.c -- what a program remembers between events: its tables and the
 * clock they age by (route_state_* in route.h).
 *
 * A table is a key -> value map kept current by events: each event of its
 * `from` type stores its value field under its key field once the event has
 * been routed (so rules on that event still see the previous value), each
 * event of its `delete on` type removes its key. Entries expire `ttl` after
 * their last update; at `max_keys` the least recently updated entry is
 * evicted. Both are counted.
 *
 * Layout: per table, an entry pool with a free list, hash chains over it
 * (XXH64 keys, the index's rv_scalar_key, so "\u0041" and "A", 1e2 and 100
 * are one key), and a doubly linked list in update order: its head is the
 * oldest entry, so eviction and expiry take it from there in O(1). Lookups
 * check the ttl too (an entry is never seen past it).
 *
 * Ownership: route_state owns its tables, each table its pool, chains and
 * every entry's bytes; the program is borrowed and must outlive the state.
 * One state is used by one thread at a time (routed gives each shard one).
 */
#include "config.h"
#include "state.h"
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "alloc.h"
#include "window.h"
#include "temporal.h"

struct tentry {
	uint64_t hash;
	uint32_t chain;          /* next entry of the same bucket, RV_NONE ends */
	uint32_t older, newer;   /* update order; RV_NONE at the ends */
	int64_t updated_ms;
	uint8_t key_kind;        /* RV_V_STR or RV_V_NUM; 0: free */
	uint8_t val_kind;        /* RV_V_STR, RV_V_NUM or RV_V_BOOL */
	uint32_t key_len, val_len; /* bytes of string keys and values */
	double key_num;
	double val_num;
	int val_b;
	char *bytes;             /* owns: key bytes, then value bytes */
};

struct ttable {
	const struct rv_table *def;  /* borrows: the declaration, or NULL (an rv_kv) */
	uint64_t ttl_ms;             /* entries expire after this (0: never) */
	uint32_t max_keys;           /* at most this many entries (LRU eviction) */
	struct tentry *e;            /* owns: the pool */
	uint32_t ecap, n, free_head; /* free entries chained through .chain */
	uint32_t *bucket;            /* owns: first entry per bucket */
	uint32_t nbucket;            /* power of two */
	uint32_t oldest, newest;
	uint64_t bytes;              /* entry bytes held (strings) */
	struct route_table_stats st;
};

struct route_state {
	const struct rv_prog *p;     /* borrows */
	struct ttable *t;            /* owns: one per TABLES entry */
	uint32_t nt;
	struct rv_tstate *ts;        /* owns: the temporal rules' state */
	int64_t next_sweep;          /* when to free run-out temporal keys next */
	int virtual_clock;
	int64_t now_ms;
};

/* ---- clock -------------------------------------------------------------------- */

struct rv_tstate *
rv_state_tstate(struct route_state *st)
{
	return st->ts;
}

int64_t
rv_state_now(struct route_state *st)
{
	struct timespec ts;

	if (st->virtual_clock)
		return st->now_ms;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
route_state_set_time(route_state *st, int64_t unix_ms)
{
	st->virtual_clock = 1;
	st->now_ms = unix_ms;
}

void
route_state_advance(route_state *st, int64_t ms)
{
	if (!st->virtual_clock)
		route_state_set_time(st, rv_state_now(st));
	if (ms > 0)
		st->now_ms += ms;
}

int64_t
route_state_time(route_state *st)
{
	return rv_state_now(st);
}

/* ---- one table ------------------------------------------------------------------- */

static void
list_unlink(struct ttable *t, uint32_t i)
{
	struct tentry *e = &t->e[i];

	if (e->older != RV_NONE)
		t->e[e->older].newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != RV_NONE)
		t->e[e->newer].older = e->older;
	else
		t->newest = e->older;
	e->older = e->newer = RV_NONE;
}

static void
list_append(struct ttable *t, uint32_t i)
{
	struct tentry *e = &t->e[i];

	e->older = t->newest;
	e->newer = RV_NONE;
	if (t->newest != RV_NONE)
		t->e[t->newest].newer = i;
	else
		t->oldest = i;
	t->newest = i;
}

/* Does entry e hold the key (kind, bytes or number)? */
static int
same_key(const struct tentry *e, unsigned kind, const char *s, size_t n, double num)
{
	if (e->key_kind != kind)
		return 0;
	if (kind == RV_V_NUM)
		return e->key_num == num;
	return e->key_len == n && memcmp(e->bytes, s, n) == 0;
}

static uint32_t
find(const struct ttable *t, uint64_t h, unsigned kind, const char *s, size_t n, double num)
{
	uint32_t i;

	for (i = t->bucket[h & (t->nbucket - 1)]; i != RV_NONE; i = t->e[i].chain)
		if (t->e[i].hash == h && same_key(&t->e[i], kind, s, n, num))
			return i;
	return RV_NONE;
}

/* Removes entry i from its chain and the update list and frees it. */
static void
remove_entry(struct ttable *t, uint32_t i)
{
	struct tentry *e = &t->e[i];
	uint32_t *pp = &t->bucket[e->hash & (t->nbucket - 1)];

	while (*pp != i)
		pp = &t->e[*pp].chain;
	*pp = e->chain;
	list_unlink(t, i);
	t->bytes -= e->key_len + e->val_len;
	ru_free(e->bytes);
	memset(e, 0, sizeof *e);
	e->chain = t->free_head;
	t->free_head = i;
	t->n--;
}

/* Is entry i past its table's ttl at now? */
static int
expired(const struct ttable *t, uint32_t i, int64_t now)
{
	return t->ttl_ms > 0 && now - t->e[i].updated_ms >= (int64_t)t->ttl_ms;
}

/* Drops the expired entries (they are the oldest). */
static void
expire(struct ttable *t, int64_t now)
{
	while (t->oldest != RV_NONE && expired(t, t->oldest, now)) {
		remove_entry(t, t->oldest);
		t->st.expired++;
	}
}

/* Doubles the buckets when the entries outnumber them; -1 on OOM (the table keeps working). */
static int
grow_buckets(struct ttable *t)
{
	uint32_t nb = t->nbucket * 2, i, *b = ru_malloc((size_t)nb * sizeof *b);

	if (b == NULL)
		return -1;
	memset(b, 0xff, (size_t)nb * sizeof *b);
	for (i = 0; i < t->ecap; i++) {
		if (t->e[i].key_kind == 0)
			continue;
		t->e[i].chain = b[t->e[i].hash & (nb - 1)];
		b[t->e[i].hash & (nb - 1)] = i;
	}
	ru_free(t->bucket);
	t->bucket = b;
	t->nbucket = nb;
	return 0;
}

/* A free entry index, growing the pool; RV_NONE on OOM. */
static uint32_t
new_entry(struct ttable *t)
{
	uint32_t i;

	if (t->free_head == RV_NONE) {
		uint32_t cap = t->ecap ? t->ecap * 2 : 16;
		struct tentry *e = ru_realloc(t->e, (size_t)cap * sizeof *e);

		if (e == NULL)
			return RV_NONE;
		memset(e + t->ecap, 0, (size_t)(cap - t->ecap) * sizeof *e);
		for (i = cap; i-- > t->ecap;) {
			e[i].chain = t->free_head;
			t->free_head = i;
		}
		t->e = e;
		t->ecap = cap;
	}
	i = t->free_head;
	t->free_head = t->e[i].chain;
	return i;
}

/* A scalar read from the event: kind, bytes (strings, decoded) or number/bool. */
struct scalar {
	int have;
	struct rv_val v;
	const char *s;
	size_t n;
	char *copy;      /* owns: the bytes, copied (the VM's decode buffer is reused) */
};

static void
first_scalar(void *ud, const struct rv_val *x, const char *s, size_t n)
{
	struct scalar *sc = ud;

	if (sc->have)
		return;
	sc->have = 1;
	sc->v = *x;
	sc->n = n;
	sc->s = NULL;
	if (x->k == RV_V_STR && (sc->copy = ru_malloc(n + 1)) != NULL) {
		memcpy(sc->copy, s, n);
		sc->s = sc->copy;
	} else if (x->k == RV_V_STR) {
		sc->have = 0; /* out of memory: as if missing (counted as skipped) */
	}
}

/* Is a key of this kind usable for table t? */
static int
key_fits(const struct ttable *t, unsigned k)
{
	if (k == RV_V_NUM)
		return t->def->key_type == RV_T_NUMBER;
	return k == RV_V_STR && t->def->key_type != RV_T_NUMBER;
}

static int
value_fits(const struct ttable *t, unsigned k)
{
	switch (t->def->value_type) {
	case RV_T_NUMBER: return k == RV_V_NUM;
	case RV_T_BOOL: return k == RV_V_BOOL;
	default: return k == RV_V_STR;
	}
}

/* Stores key -> value at now; replaces an existing entry (a new update: newest). */
static void
store(struct ttable *t, const struct scalar *key, const struct scalar *val, int64_t now)
{
	uint64_t h = rv_scalar_key(&key->v, key->s, key->n);
	double knum = key->v.k == RV_V_NUM ? key->v.u.num : 0;
	uint32_t i = find(t, h, key->v.k, key->s, key->n, knum);
	size_t klen = key->v.k == RV_V_STR ? key->n : 0, vlen = val->v.k == RV_V_STR ? val->n : 0;
	char *bytes = ru_malloc(klen + vlen + 1);
	struct tentry *e;

	if (bytes == NULL) {
		t->st.skipped++;
		return;
	}
	if (klen)
		memcpy(bytes, key->s, klen);
	if (vlen)
		memcpy(bytes + klen, val->s, vlen);
	if (i != RV_NONE) {
		e = &t->e[i];
		list_unlink(t, i);
		t->bytes -= e->key_len + e->val_len;
		ru_free(e->bytes);
	} else {
		if (t->n >= t->max_keys && t->oldest != RV_NONE) {
			remove_entry(t, t->oldest);
			t->st.evicted++;
		}
		if ((i = new_entry(t)) == RV_NONE) {
			ru_free(bytes);
			t->st.skipped++;
			return;
		}
		e = &t->e[i];
		e->hash = h;
		e->chain = t->bucket[h & (t->nbucket - 1)];
		t->bucket[h & (t->nbucket - 1)] = i;
		t->n++;
	}
	e->key_kind = key->v.k;
	e->key_num = knum;
	e->key_len = (uint32_t)klen;
	e->val_kind = val->v.k;
	e->val_num = val->v.k == RV_V_NUM ? val->v.u.num : 0;
	e->val_b = val->v.k == RV_V_BOOL ? val->v.u.b != 0 : 0;
	e->val_len = (uint32_t)vlen;
	e->bytes = bytes;
	e->updated_ms = now;
	t->bytes += klen + vlen;
	list_append(t, i);
	t->st.updates++;
	/* only now is the entry whole (grow_buckets rechains entries by their kind) */
	if (t->n > t->nbucket)
		(void)grow_buckets(t); /* on failure the chains just get longer */
}

/* An empty table with these bounds (max_keys 0: unbounded); -1 on OOM. */
static int
ttable_init(struct ttable *t, uint64_t ttl_ms, uint32_t max_keys)
{
	t->ttl_ms = ttl_ms;
	t->max_keys = max_keys ? max_keys : UINT32_MAX;
	t->free_head = t->oldest = t->newest = RV_NONE;
	t->nbucket = 16;
	if ((t->bucket = ru_malloc(t->nbucket * sizeof *t->bucket)) == NULL)
		return -1;
	memset(t->bucket, 0xff, t->nbucket * sizeof *t->bucket);
	return 0;
}

static void
ttable_fini(struct ttable *t)
{
	uint32_t j;

	for (j = 0; j < t->ecap; j++)
		ru_free(t->e[j].bytes);
	ru_free(t->e);
	ru_free(t->bucket);
}

/* ---- byte maps for the temporal state (state.h: rv_kv) ------------------------------ */

struct rv_kv {
	struct ttable t;
};

struct rv_kv *
rv_kv_new(uint64_t ttl_ms, uint32_t max_keys)
{
	struct rv_kv *kv = ru_malloc(sizeof *kv);

	if (kv == NULL)
		return NULL;
	memset(kv, 0, sizeof *kv);
	if (ttable_init(&kv->t, ttl_ms, max_keys) < 0) {
		ru_free(kv);
		return NULL;
	}
	return kv;
}

void
rv_kv_free(struct rv_kv *kv)
{
	if (kv == NULL)
		return;
	ttable_fini(&kv->t);
	ru_free(kv);
}

const char *
rv_kv_get(struct rv_kv *kv, const char *key, size_t klen, int64_t now, size_t *vlen)
{
	struct ttable *t = &kv->t;
	struct rv_val k;
	uint32_t i;

	memset(&k, 0, sizeof k);
	k.k = RV_V_STR;
	i = find(t, rv_scalar_key(&k, key, klen), RV_V_STR, key, klen, 0);
	if (i == RV_NONE)
		return NULL;
	if (expired(t, i, now)) {
		remove_entry(t, i);
		t->st.expired++;
		return NULL;
	}
	*vlen = t->e[i].val_len;
	return t->e[i].bytes + t->e[i].key_len;
}

int
rv_kv_put(struct rv_kv *kv, const char *key, size_t klen, const char *val, size_t vlen, int64_t now)
{
	struct scalar k, v;
	uint64_t before = kv->t.st.updates;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.have = v.have = 1;
	k.v.k = v.v.k = RV_V_STR;
	k.s = key;
	k.n = klen;
	v.s = val;
	v.n = vlen;
	expire(&kv->t, now);
	store(&kv->t, &k, &v, now);
	return kv->t.st.updates > before ? 0 : -1;
}

uint32_t
rv_kv_find(struct rv_kv *kv, const char *key, size_t klen, int64_t now)
{
	struct ttable *t = &kv->t;
	struct rv_val k;
	uint32_t i;

	memset(&k, 0, sizeof k);
	k.k = RV_V_STR;
	i = find(t, rv_scalar_key(&k, key, klen), RV_V_STR, key, klen, 0);
	if (i != RV_NONE && expired(t, i, now)) {
		remove_entry(t, i);
		t->st.expired++;
		return RV_NONE;
	}
	return i;
}

const char *
rv_kv_at(const struct rv_kv *kv, uint32_t i, const char **key, size_t *klen, size_t *vlen)
{
	const struct tentry *e;

	if (i >= kv->t.ecap || kv->t.e[i].key_kind == 0)
		return NULL;
	e = &kv->t.e[i];
	if (key)
		*key = e->bytes;
	if (klen)
		*klen = e->key_len;
	*vlen = e->val_len;
	return e->bytes + e->key_len;
}

void
rv_kv_del_at(struct rv_kv *kv, uint32_t i)
{
	if (i >= kv->t.ecap || kv->t.e[i].key_kind == 0)
		return;
	remove_entry(&kv->t, i);
	kv->t.st.deletes++;
}

uint32_t
rv_kv_next(const struct rv_kv *kv, uint32_t i)
{
	if (i == RV_NONE)
		return kv->t.oldest;
	return i < kv->t.ecap && kv->t.e[i].key_kind != 0 ? kv->t.e[i].newer : RV_NONE;
}

void
rv_kv_expire(struct rv_kv *kv, int64_t now)
{
	expire(&kv->t, now);
}

void
rv_kv_stats(const struct rv_kv *kv, struct route_table_stats *s)
{
	*s = kv->t.st;
	s->entries = kv->t.n;
	s->bytes = kv->t.bytes + (uint64_t)kv->t.ecap * sizeof *kv->t.e
		   + (uint64_t)kv->t.nbucket * sizeof *kv->t.bucket;
}

/* ---- the state ------------------------------------------------------------------ */

route_state *
route_state_new(const route_prog *rp)
{
	const struct rv_prog *p = rv_route_prog(rp);
	route_state *st = ru_malloc(sizeof *st);
	uint32_t i;

	if (st == NULL)
		return NULL;
	memset(st, 0, sizeof *st);
	st->p = p;
	st->nt = p->ntables;
	if ((st->t = ru_malloc(((size_t)p->ntables + 1) * sizeof *st->t)) == NULL) {
		ru_free(st);
		return NULL;
	}
	memset(st->t, 0, ((size_t)p->ntables + 1) * sizeof *st->t);
	if ((st->ts = rv_tstate_new(p)) == NULL) {
		route_state_free(st);
		return NULL;
	}
	for (i = 0; i < p->ntables; i++) {
		struct ttable *t = &st->t[i];

		t->def = &p->tables[i];
		if (ttable_init(t, t->def->ttl_ms, t->def->max_keys) < 0) {
			route_state_free(st);
			return NULL;
		}
	}
	return st;
}

void
route_state_free(route_state *st)
{
	uint32_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nt; i++)
		ttable_fini(&st->t[i]);
	rv_tstate_free(st->ts);
	ru_free(st->t);
	ru_free(st);
}

int
rv_state_lookup(struct route_state *st, uint32_t ti, const struct rv_val *key, const char *kbytes,
	size_t klen, int64_t now, struct rv_val *out)
{
	struct ttable *t;
	uint32_t i;

	out->k = RV_V_MISSING;
	if (st == NULL || ti >= st->nt)
		return 0;
	t = &st->t[ti];
	if (!key_fits(t, key->k))
		return 0;
	i = find(t, rv_scalar_key(key, kbytes, klen), key->k, kbytes, klen,
		key->k == RV_V_NUM ? key->u.num : 0);
	if (i == RV_NONE)
		return 0;
	if (expired(t, i, now)) {
		remove_entry(t, i);
		t->st.expired++;
		return 0;
	}
	memset(out, 0, sizeof *out);
	out->k = t->e[i].val_kind;
	switch (out->k) {
	case RV_V_STR:
		out->u.s = t->e[i].bytes + t->e[i].key_len;
		out->n = t->e[i].val_len;
		break;
	case RV_V_NUM:
		out->u.num = t->e[i].val_num;
		break;
	default:
		out->u.b = t->e[i].val_b;
		break;
	}
	return 1;
}

void
rv_state_after_event(struct route_state *st, struct rv_vm *vm, uint32_t type, int64_t now)
{
	uint32_t i;

	for (i = 0; i < st->nt; i++) {
		struct ttable *t = &st->t[i];
		struct scalar key = { 0 }, val = { 0 };

		if (t->def->from_type != type && t->def->del_type != type)
			continue;
		expire(t, now);
		if (t->def->from_type == type) {
			rv_field_scalars(vm, t->def->key_field, first_scalar, &key);
			rv_field_scalars(vm, t->def->value_field, first_scalar, &val);
			if (key.have && val.have && key_fits(t, key.v.k) && value_fits(t, val.v.k))
				store(t, &key, &val, now);
			else
				t->st.skipped++;
		} else {
			rv_field_scalars(vm, t->def->del_key_field, first_scalar, &key);
			if (key.have && key_fits(t, key.v.k)) {
				uint32_t e = find(t, rv_scalar_key(&key.v, key.s, key.n), key.v.k, key.s, key.n,
					key.v.k == RV_V_NUM ? key.v.u.num : 0);

				if (e != RV_NONE) {
					remove_entry(t, e);
					t->st.deletes++;
				}
			} else {
				t->st.skipped++;
			}
		}
		ru_free(key.copy);
		ru_free(val.copy);
	}
}

int
route_state_table_stats(const route_state *st, uint32_t ti, struct route_table_stats *s)
{
	const struct ttable *t;

	if (st == NULL || ti >= st->nt)
		return -1;
	t = &st->t[ti];
	*s = t->st;
	s->entries = t->n;
	s->bytes = t->bytes + (uint64_t)t->ecap * sizeof *t->e + (uint64_t)t->nbucket * sizeof *t->bucket;
	return 0;
}

/* ---- temporal rules ------------------------------------------------------------------ */

int
rv_state_temporal_step(struct route_state *st, struct rv_vm *vm, uint32_t ti, int64_t now)
{
	if (st == NULL || st->ts == NULL)
		return RV_TSTEP_NO;
	if (now >= st->next_sweep) {
		rv_tstate_sweep(st->ts, now);
		st->next_sweep = now + 1000;
	}
	return rv_tstate_step(st->ts, vm, ti, now);
}

int
route_state_rule_stats(const route_state *st, uint32_t rule, struct route_rule_stats *s)
{
	uint32_t lo = 0, hi;

	if (st == NULL)
		return -1;
	hi = st->p->ntemporal;
	while (lo < hi) { /* TEMPORAL is sorted by rule */
		uint32_t mid = lo + (hi - lo) / 2;

		if (st->p->temporal[mid].rule < rule)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= st->p->ntemporal || st->p->temporal[lo].rule != rule)
		return -1;
	return rv_tstate_stats(st->ts, lo, s);
}

/* ---- snapshot and restore --------------------------------------------------------------
 *
 * Layout (host byte order, little-endian machines only, like the .rbc):
 *   "RTSTATE1"  u32 version 2, u32 0, u64 the program's .rbc checksum,
 *   i64 clock ms, u32 virtual clock, u32 tables,
 *   per table: name (u32 length, bytes), u8 key type, u8 value type, u16 0, map
 *   u32 temporal records,
 *   per record: rule name, u64 definition hash, struct route_rule_stats,
 *               u64 window bytes + the window's own snapshot (0: none),
 *               u8 has dedup [map], u8 has throttle [map],
 *               u8 has pending first events (then/unless) [map]: their values hold
 *               the deadlines, so a restore re-arms every absence's timer,
 *               i64 newest event time seen (event time; INT64_MIN: none)
 *   u64 XXH64 of everything before it.
 * A map: struct route_table_stats, u32 entries, then each entry oldest first:
 *   u8 key kind, u8 value kind, u16 0, u32 key bytes, u32 value bytes,
 *   i64 updated, f64 key number, f64 value number, u32 bool, key bytes, value bytes.
 */

#define SNAP_MAGIC "RTSTATE1"

struct snapw {
	unsigned char *buf;  /* borrows: may be NULL (sizing) */
	size_t cap, len;     /* len counts past cap: the size needed */
};

static void
w_bytes(struct snapw *w, const void *p, size_t n)
{
	if (w->buf && w->len + n <= w->cap && n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void w_u8(struct snapw *w, uint8_t v) { w_bytes(w, &v, 1); }
static void w_u32(struct snapw *w, uint32_t v) { w_bytes(w, &v, 4); }
static void w_u64(struct snapw *w, uint64_t v) { w_bytes(w, &v, 8); }

static void
w_str(struct snapw *w, const char *s, size_t n)
{
	w_u32(w, (uint32_t)n);
	w_bytes(w, s, n);
}

static void
w_map(struct snapw *w, const struct ttable *t)
{
	uint32_t i;

	w_bytes(w, &t->st, sizeof t->st);
	w_u32(w, t->n);
	for (i = t->oldest; i != RV_NONE; i = t->e[i].newer) {
		const struct tentry *e = &t->e[i];

		w_u8(w, e->key_kind);
		w_u8(w, e->val_kind);
		w_u8(w, 0);
		w_u8(w, 0);
		w_u32(w, e->key_len);
		w_u32(w, e->val_len);
		w_u64(w, (uint64_t)e->updated_ms);
		w_bytes(w, &e->key_num, 8);
		w_bytes(w, &e->val_num, 8);
		w_u32(w, (uint32_t)e->val_b);
		w_bytes(w, e->bytes, (size_t)e->key_len + e->val_len);
	}
}

size_t
route_state_snapshot(route_state *st, void *out, size_t cap)
{
	const struct rv_prog *p = st->p;
	struct snapw w = { out, cap, 0 };
	uint32_t i, n = rv_tstate_count(st->ts);
	size_t len;

	w_bytes(&w, SNAP_MAGIC, 8);
	w_u32(&w, 2);
	w_u32(&w, 0);
	w_u64(&w, ((const struct rv_rbc_header *)(const void *)p->image)->checksum);
	w_u64(&w, (uint64_t)st->now_ms);
	w_u32(&w, (uint32_t)st->virtual_clock);
	w_u32(&w, st->nt);
	for (i = 0; i < st->nt; i++) {
		w_str(&w, rv_prog_str(p, p->tables[i].name), p->tables[i].name.len);
		w_u8(&w, p->tables[i].key_type);
		w_u8(&w, p->tables[i].value_type);
		w_u8(&w, 0);
		w_u8(&w, 0);
		w_map(&w, &st->t[i]);
	}
	w_u32(&w, n);
	for (i = 0; i < n; i++) {
		const struct rv_temporal *t;
		struct rv_window *win;
		const struct rv_wspec *spec;
		struct rv_kv *dedup, *throttle;
		struct route_rule_stats *rs;
		const struct rv_rule *r;
		size_t wlen;

		rv_tstate_parts(st->ts, i, &t, &win, &spec, &dedup, &throttle, &rs);
		r = &p->rules[t->rule];
		w_str(&w, rv_prog_str(p, r->name), r->name.len);
		w_u64(&w, t->def_hash);
		w_bytes(&w, rs, sizeof *rs);
		wlen = win ? rv_window_snapshot(win, NULL, 0) : 0;
		w_u64(&w, wlen);
		if (win) {
			if (w.buf && w.len + wlen <= w.cap)
				rv_window_snapshot(win, w.buf + w.len, wlen);
			w.len += wlen;
		}
		w_u8(&w, dedup != NULL);
		if (dedup)
			w_map(&w, &dedup->t);
		w_u8(&w, throttle != NULL);
		if (throttle)
			w_map(&w, &throttle->t);
		{
			struct rv_kv *seq = rv_tstate_seq_map(st->ts, i);

			w_u8(&w, seq != NULL);
			if (seq)
				w_map(&w, &seq->t);
			w_u64(&w, (uint64_t)*rv_tstate_event_clock(st->ts, i));
		}
	}
	len = w.len;
	if (w.buf && len + 8 <= cap)
		w_u64(&w, XXH64(w.buf, len, 0));
	else
		w.len += 8;
	return w.len;
}

struct snapr {
	const unsigned char *p;  /* borrows */
	size_t len, pos;
	int bad;                 /* ran past the end */
};

static const unsigned char *
r_span(struct snapr *r, size_t n)
{
	const unsigned char *at;

	if (r->bad || n > r->len - r->pos) {
		r->bad = 1;
		return NULL;
	}
	at = r->p + r->pos;
	r->pos += n;
	return at;
}

static void
r_bytes(struct snapr *r, void *dst, size_t n)
{
	const unsigned char *at = r_span(r, n);

	if (at)
		memcpy(dst, at, n);
	else
		memset(dst, 0, n);
}

static uint8_t r_u8(struct snapr *r) { uint8_t v; r_bytes(r, &v, 1); return v; }
static uint32_t r_u32(struct snapr *r) { uint32_t v; r_bytes(r, &v, 4); return v; }
static uint64_t r_u64(struct snapr *r) { uint64_t v; r_bytes(r, &v, 8); return v; }

/* A name: its bytes (borrowed from the snapshot) and length. */
static const char *
r_str(struct snapr *r, size_t *n)
{
	*n = r_u32(r);
	return (const char *)r_span(r, *n);
}

/*
 * Reads a map; with t, stores its entries there (oldest first, so the
 * update order carries over) and adds its counters; without, skips it.
 * Returns 0, or -1 when the bytes are malformed.
 */
static int
r_map(struct snapr *r, struct ttable *t)
{
	struct route_table_stats sst;
	uint32_t n, i;

	r_bytes(r, &sst, sizeof sst);
	n = r_u32(r);
	for (i = 0; i < n && !r->bad; i++) {
		struct scalar key, val;
		uint8_t kk = r_u8(r), vk = r_u8(r);
		uint32_t klen, vlen, b;
		int64_t updated;
		double knum, vnum;
		const char *bytes;

		(void)r_u8(r);
		(void)r_u8(r);
		klen = r_u32(r);
		vlen = r_u32(r);
		updated = (int64_t)r_u64(r);
		r_bytes(r, &knum, 8);
		r_bytes(r, &vnum, 8);
		b = r_u32(r);
		bytes = (const char *)r_span(r, (size_t)klen + vlen);
		if (r->bad || (kk != RV_V_STR && kk != RV_V_NUM)
		    || (vk != RV_V_STR && vk != RV_V_NUM && vk != RV_V_BOOL) || (kk == RV_V_NUM && klen != 0)
		    || (vk != RV_V_STR && vlen != 0))
			return -1;
		if (t == NULL)
			continue;
		memset(&key, 0, sizeof key);
		memset(&val, 0, sizeof val);
		key.have = val.have = 1;
		key.v.k = kk;
		key.v.u.num = knum;
		key.s = bytes;
		key.n = klen;
		val.v.k = vk;
		if (vk == RV_V_NUM)
			val.v.u.num = vnum;
		else
			val.v.u.b = b != 0;
		val.s = bytes + klen;
		val.n = vlen;
		store(t, &key, &val, updated);
	}
	if (r->bad)
		return -1;
	if (t) { /* the counters of the map it came from, on top of this one's own */
		t->st.updates += sst.updates - n;
		t->st.deletes += sst.deletes;
		t->st.skipped += sst.skipped;
		t->st.evicted += sst.evicted;
		t->st.expired += sst.expired;
	}
	return 0;
}

/* The table of st named name with these types, or NULL. */
static struct ttable *
table_named(route_state *st, const char *name, size_t n, unsigned kt, unsigned vt)
{
	uint32_t i;

	for (i = 0; i < st->nt; i++) {
		const struct rv_table *d = st->t[i].def;

		if (d->name.len == n && memcmp(rv_prog_str(st->p, d->name), name, n) == 0 && d->key_type == kt
		    && d->value_type == vt)
			return &st->t[i];
	}
	return NULL;
}

/* The temporal record of st whose rule is named name with this definition, or RV_NONE. */
static uint32_t
record_named(route_state *st, const char *name, size_t n, uint64_t def_hash)
{
	uint32_t i, cnt = rv_tstate_count(st->ts);

	for (i = 0; i < cnt; i++) {
		const struct rv_temporal *t;
		struct rv_window *win;
		const struct rv_wspec *spec;
		struct rv_kv *dd, *th;
		struct route_rule_stats *rs;
		const struct rv_rule *r;

		rv_tstate_parts(st->ts, i, &t, &win, &spec, &dd, &th, &rs);
		r = &st->p->rules[t->rule];
		if (r->name.len == n && memcmp(rv_prog_str(st->p, r->name), name, n) == 0 && t->def_hash == def_hash)
			return i;
	}
	return RV_NONE;
}

int
route_state_restore(route_state *st, const void *buf, size_t len, struct route_restore_report *rep,
	char *err, size_t errlen)
{
	struct snapr r = { buf, len, 0, 0 };
	struct route_restore_report unused; /* where the counts go when the caller wants none */
	uint32_t i, n;
	uint64_t sum;
	int64_t now;
	int virt;

	if (rep == NULL)
		rep = &unused;
	memset(rep, 0, sizeof *rep);
	if (len < 8 + 8 + 8 + 8 + 8 + 8 || memcmp(buf, SNAP_MAGIC, 8) != 0) {
		snprintf(err, errlen, "not a state snapshot");
		return -1;
	}
	memcpy(&sum, (const unsigned char *)buf + len - 8, 8); /* the buffer need not be aligned */
	if (XXH64(buf, len - 8, 0) != sum) {
		snprintf(err, errlen, "state snapshot: checksum mismatch (corrupt or truncated)");
		return -1;
	}
	r.len = len - 8;
	r.pos = 8;
	if (r_u32(&r) != 2) {
		snprintf(err, errlen, "state snapshot: unsupported version");
		return -1;
	}
	(void)r_u32(&r);
	(void)r_u64(&r);
	now = (int64_t)r_u64(&r);
	virt = (int)r_u32(&r);
	if (virt)
		route_state_set_time(st, now);
	n = r_u32(&r);
	for (i = 0; i < n && !r.bad; i++) {
		size_t nl;
		const char *name = r_str(&r, &nl);
		unsigned kt = r_u8(&r), vt = r_u8(&r);
		struct ttable *t;

		(void)r_u8(&r);
		(void)r_u8(&r);
		t = r.bad ? NULL : table_named(st, name, nl, kt, vt);
		if (r_map(&r, t) < 0)
			break;
		if (t)
			rep->tables++;
		else
			rep->tables_dropped++;
	}
	n = r.bad ? 0 : r_u32(&r);
	for (i = 0; i < n && !r.bad; i++) {
		size_t nl, wlen;
		const char *name = r_str(&r, &nl);
		uint64_t hash = r_u64(&r);
		struct route_rule_stats sst;
		uint32_t ti = RV_NONE;
		const unsigned char *wbytes;
		const struct rv_temporal *t = NULL;
		struct rv_window *win = NULL, *nw;
		const struct rv_wspec *spec = NULL;
		struct rv_kv *dd = NULL, *th = NULL;
		struct route_rule_stats *rs = NULL;

		r_bytes(&r, &sst, sizeof sst);
		wlen = (size_t)r_u64(&r);
		wbytes = r_span(&r, wlen);
		if (r.bad)
			break;
		if ((ti = record_named(st, name, nl, hash)) != RV_NONE)
			rv_tstate_parts(st->ts, ti, &t, &win, &spec, &dd, &th, &rs);
		if (wlen > 0 && win) {
			if ((nw = rv_window_restore(spec, wbytes, wlen)) == NULL) {
				snprintf(err, errlen, "state snapshot: the window of rule '%.*s' does not restore",
					(int)nl, name);
				return -1;
			}
			rv_tstate_replace_window(st->ts, ti, nw);
		}
		if (r_u8(&r) && r_map(&r, dd ? &dd->t : NULL) < 0)
			break;
		if (r_u8(&r) && r_map(&r, th ? &th->t : NULL) < 0)
			break;
		{
			struct rv_kv *seq = ti != RV_NONE ? rv_tstate_seq_map(st->ts, ti) : NULL;

			int64_t clk;

			if (r_u8(&r) && r_map(&r, seq ? &seq->t : NULL) < 0)
				break;
			clk = (int64_t)r_u64(&r);
			if (ti != RV_NONE)
				*rv_tstate_event_clock(st->ts, ti) = clk;
		}
		if (rs) {
			*rs = sst;
			rep->rules++;
		} else {
			rep->rules_dropped++;
		}
	}
	if (r.bad || r.pos != r.len) {
		snprintf(err, errlen, "state snapshot: malformed at byte %zu", r.pos);
		return -1;
	}
	if (st->ts)
		rv_tstate_rearm(st->ts, rv_state_now(st));
	return 0;
}
