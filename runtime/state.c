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

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"

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
	const struct rv_table *def;  /* borrows */
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
	int virtual_clock;
	int64_t now_ms;
};

/* ---- clock -------------------------------------------------------------------- */

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
	return t->def->ttl_ms > 0 && now - t->e[i].updated_ms >= (int64_t)t->def->ttl_ms;
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
		if (t->n >= t->def->max_keys && t->oldest != RV_NONE) {
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
	for (i = 0; i < p->ntables; i++) {
		struct ttable *t = &st->t[i];

		t->def = &p->tables[i];
		t->free_head = t->oldest = t->newest = RV_NONE;
		t->nbucket = 16;
		if ((t->bucket = ru_malloc(t->nbucket * sizeof *t->bucket)) == NULL) {
			route_state_free(st);
			return NULL;
		}
		memset(t->bucket, 0xff, t->nbucket * sizeof *t->bucket);
	}
	return st;
}

void
route_state_free(route_state *st)
{
	uint32_t i, j;

	if (st == NULL)
		return;
	for (i = 0; i < st->nt; i++) {
		struct ttable *t = &st->t[i];

		for (j = 0; j < t->ecap; j++)
			ru_free(t->e[j].bytes);
		ru_free(t->e);
		ru_free(t->bucket);
	}
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
