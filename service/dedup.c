/*
 * dedup.c -- the (source, id) duplicate filter (see dedup.h): a chained
 * hash table of keys whose entries are also on a doubly linked list in
 * acceptance order (expiry from the head, rollback from anywhere).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "buf.h"
#include "dedup.h"

struct rd_dedup_ent {
	struct rd_dedup_ent *hnext;   /* hash chain */
	struct rd_dedup_ent *prev, *next; /* acceptance order */
	uint64_t hash;
	uint64_t lsn;                 /* the record's sequence number (committed) */
	uint64_t ms;                  /* wall ms it was accepted */
	const void *owner;            /* pending: the request that reserved it; NULL once committed */
	size_t klen;
	char key[];
};

int
rd_dedup_init(struct rd_dedup *d, uint64_t window_ms, size_t max_entries)
{
	memset(d, 0, sizeof *d);
	d->nbuckets = 1024;
	if (!(d->tab = calloc(d->nbuckets, sizeof *d->tab)))
		return -1;
	d->window_ms = window_ms;
	d->max = max_entries ? max_entries : 1;
	pthread_mutex_init(&d->mu, NULL);
	return 0;
}

void
rd_dedup_fini(struct rd_dedup *d)
{
	struct rd_dedup_ent *e, *next;

	if (!d->tab)
		return;
	for (e = d->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(d->tab);
	pthread_mutex_destroy(&d->mu);
	memset(d, 0, sizeof *d);
}

size_t
rd_dedup_key(const char *ev, size_t len, const char *id_member, char *out, size_t cap)
{
	const char *sv = NULL, *iv, *x;
	size_t slen = 0, ilen, xl;

	/* a CloudEvent is deduplicated by its id; memmem first, so that a plain event is not
	 * walked member by member to learn it has no "specversion" */
	if (memmem(ev, len, "\"specversion\"", 13) && rd_json_member(ev, len, "specversion", &x, &xl))
		id_member = "id";
	if (!id_member || !rd_json_member(ev, len, id_member, &iv, &ilen))
		return 0;
	if (!rd_json_member(ev, len, "source", &sv, &slen))
		slen = 0;
	if (slen + 1 + ilen > cap)
		return 0;
	if (slen)
		memcpy(out, sv, slen);
	out[slen] = '\x1f';
	memcpy(out + slen + 1, iv, ilen);
	return slen + 1 + ilen;
}

static struct rd_dedup_ent *
find(struct rd_dedup *d, uint64_t h, const char *key, size_t klen)
{
	struct rd_dedup_ent *e;

	for (e = d->tab[h % d->nbuckets]; e; e = e->hnext)
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

/* Takes e off its chain and the order list and frees it. */
static void
unlink_free(struct rd_dedup *d, struct rd_dedup_ent *e)
{
	struct rd_dedup_ent **pp = &d->tab[e->hash % d->nbuckets];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->prev)
		e->prev->next = e->next;
	else
		d->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		d->tail = e->prev;
	d->n--;
	free(e);
}

/* Doubles the bucket array when the load passes 1 (keeps the old one on out-of-memory). */
static void
grow(struct rd_dedup *d)
{
	size_t nb = d->nbuckets * 2, i;
	struct rd_dedup_ent **t, *e, *next;

	if (d->n < d->nbuckets || !(t = calloc(nb, sizeof *t)))
		return;
	for (i = 0; i < d->nbuckets; i++)
		for (e = d->tab[i]; e; e = next) {
			next = e->hnext;
			e->hnext = t[e->hash % nb];
			t[e->hash % nb] = e;
		}
	free(d->tab);
	d->tab = t;
	d->nbuckets = nb;
}

/* Drops committed keys past the window, and the oldest committed ones over max. */
static void
expire(struct rd_dedup *d, uint64_t now_ms)
{
	while (d->head && !d->head->owner &&
	       (d->head->ms + d->window_ms < now_ms || d->n > d->max)) {
		if (d->head->ms + d->window_ms >= now_ms)
			d->evicted++;
		unlink_free(d, d->head);
	}
}

/* Appends a new entry (NULL on out-of-memory). */
static struct rd_dedup_ent *
add(struct rd_dedup *d, uint64_t h, const char *key, size_t klen, uint64_t lsn, uint64_t ms,
	const void *owner)
{
	struct rd_dedup_ent *e = malloc(sizeof *e + klen);

	if (!e)
		return NULL;
	grow(d);
	e->hash = h;
	e->lsn = lsn;
	e->ms = ms;
	e->owner = owner;
	e->klen = klen;
	memcpy(e->key, key, klen);
	e->hnext = d->tab[h % d->nbuckets];
	d->tab[h % d->nbuckets] = e;
	e->next = NULL;
	e->prev = d->tail;
	if (d->tail)
		d->tail->next = e;
	else
		d->head = e;
	d->tail = e;
	d->n++;
	return e;
}

size_t
rd_dedup_reserve(struct rd_dedup *d, struct rd_dedup_req *r, size_t n, uint64_t now_ms)
{
	size_t i, ndup = 0;
	struct rd_dedup_ent *e;
	uint64_t h;

	pthread_mutex_lock(&d->mu);
	expire(d, now_ms);
	for (i = 0; i < n; i++) {
		r[i].dup = 0;
		r[i].ent = NULL;
		if (!r[i].key || !r[i].klen)
			continue;
		h = XXH64(r[i].key, r[i].klen, 0);
		if ((e = find(d, h, r[i].key, r[i].klen))) {
			/* durable, or an earlier event of this request (same fate): a duplicate;
			 * pending for another request: log it too (that one may fail) */
			if (!e->owner || e->owner == (const void *)r) {
				r[i].dup = 1;
				ndup++;
			}
			continue;
		}
		r[i].ent = add(d, h, r[i].key, r[i].klen, 0, now_ms, r);
	}
	pthread_mutex_unlock(&d->mu);
	return ndup;
}

void
rd_dedup_commit(struct rd_dedup *d, struct rd_dedup_req *r, size_t n, const uint64_t *lsn)
{
	size_t i;

	pthread_mutex_lock(&d->mu);
	for (i = 0; i < n; i++)
		if (r[i].ent) {
			r[i].ent->lsn = lsn[i];
			r[i].ent->owner = NULL;
			r[i].ent = NULL;
		}
	pthread_mutex_unlock(&d->mu);
}

void
rd_dedup_rollback(struct rd_dedup *d, struct rd_dedup_req *r, size_t n)
{
	size_t i;

	pthread_mutex_lock(&d->mu);
	for (i = 0; i < n; i++)
		if (r[i].ent) {
			unlink_free(d, r[i].ent);
			r[i].ent = NULL;
		}
	pthread_mutex_unlock(&d->mu);
}

void
rd_dedup_insert(struct rd_dedup *d, const char *key, size_t klen, uint64_t lsn, uint64_t ms, uint64_t now_ms)
{
	uint64_t h = XXH64(key, klen, 0);

	if (ms + d->window_ms < now_ms)
		return;
	pthread_mutex_lock(&d->mu);
	if (!find(d, h, key, klen))
		add(d, h, key, klen, lsn, ms, NULL);
	expire(d, now_ms);
	pthread_mutex_unlock(&d->mu);
}

int
rd_dedup_oldest(struct rd_dedup *d, uint64_t now_ms, uint64_t *lsn)
{
	struct rd_dedup_ent *e;
	int found = 0;

	pthread_mutex_lock(&d->mu);
	expire(d, now_ms);
	/* the oldest committed entry (pending ones are not logged yet) */
	for (e = d->head; e; e = e->next)
		if (!e->owner) {
			*lsn = e->lsn;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&d->mu);
	return found;
}

size_t
rd_dedup_size(struct rd_dedup *d)
{
	size_t n;

	pthread_mutex_lock(&d->mu);
	n = d->n;
	pthread_mutex_unlock(&d->mu);
	return n;
}
