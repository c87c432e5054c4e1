/*
 * durable.c -- the log between ingest and the shards, cursors, replay,
 * dedup and checkpoints (see durable.h for the shape and the invariants).
 *
 * Why the unmatched set takes a reservation before each append: records
 * get their LSNs inside rd_wal_append_many, and a lane computing a cursor
 * must not pass a record whose submitter has not registered it yet. The
 * submitter adds rd_wal_next_seq() (a bound below anything it will get)
 * under the set's lock first, and removes it once its real LSNs are in.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "durable.h"
#include "log.h"
#include "pipeline.h"

/* ---- lsnset ------------------------------------------------------------------ */

int
rd_lsnset_init(struct rd_lsnset *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	return 0;
}

void
rd_lsnset_fini(struct rd_lsnset *s)
{
	free(s->v);
	free(s->done);
	free(s->orphan);
	pthread_mutex_destroy(&s->mu);
	memset(s, 0, sizeof *s);
}

/* The first index in v[head .. head + n) whose LSN is > lsn (upper) or >= lsn (!upper). */
static size_t
lsnset_bound(const struct rd_lsnset *s, uint64_t lsn, int upper)
{
	size_t lo = s->head, hi = s->head + s->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->v[mid] < lsn || (upper && s->v[mid] == lsn))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for one more at the end: slides the entries to the start, or grows. Returns 0 or -1. */
static int
lsnset_room(struct rd_lsnset *s)
{
	size_t nc;
	uint64_t *v;
	uint8_t *done;

	if (s->head + s->n < s->cap)
		return 0;
	if (s->head > 0 && s->head >= s->cap / 2) {
		memmove(s->v, s->v + s->head, s->n * sizeof *s->v);
		memmove(s->done, s->done + s->head, s->n);
		s->head = 0;
		return 0;
	}
	nc = s->cap ? s->cap * 2 : 256;
	if (!(v = realloc(s->v, nc * sizeof *v)))
		return -1;
	s->v = v;
	if (!(done = realloc(s->done, nc)))
		return -1;
	s->done = done;
	s->cap = nc;
	return 0;
}

static int
lsnset_add_locked(struct rd_lsnset *s, uint64_t lsn)
{
	size_t i, end;

	for (i = 0; i < s->norphan; i++)
		if (s->orphan[i] == lsn) {
			s->orphan[i] = s->orphan[--s->norphan];
			return 0;
		}
	if (lsnset_room(s) < 0)
		return -1;
	end = s->head + s->n;
	if (s->n == 0 || lsn >= s->v[end - 1]) {
		i = end;
	} else {
		/* after the equal ones, so a done one stays behind a live front */
		i = lsnset_bound(s, lsn, 1);
		memmove(s->v + i + 1, s->v + i, (end - i) * sizeof *s->v);
		memmove(s->done + i + 1, s->done + i, end - i);
	}
	s->v[i] = lsn;
	s->done[i] = 0;
	s->n++;
	return 0;
}

int
rd_lsnset_add(struct rd_lsnset *s, uint64_t lsn)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = lsnset_add_locked(s, lsn);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void
lsnset_del_locked(struct rd_lsnset *s, uint64_t lsn)
{
	size_t i, end = s->head + s->n;
	uint64_t *o;

	if (s->n && s->v[s->head] == lsn) {
		/* the front (never done): it goes, and the done ones behind it */
		do {
			s->ndone -= s->done[s->head];
			s->head++;
			s->n--;
		} while (s->n && s->done[s->head]);
		if (s->n == 0)
			s->head = 0;
		return;
	}
	for (i = lsnset_bound(s, lsn, 0); i < end && s->v[i] == lsn; i++)
		if (!s->done[i]) {
			s->done[i] = 1;
			s->ndone++;
			return;
		}
	/* not in: kept to cancel its add (out of memory: a later add of it stays, holding
	 * the cursor back, never ahead) */
	if (s->norphan == s->caporphan) {
		size_t nc = s->caporphan ? s->caporphan * 2 : 16;
		if (!(o = realloc(s->orphan, nc * sizeof *o)))
			return;
		s->orphan = o;
		s->caporphan = nc;
	}
	s->orphan[s->norphan++] = lsn;
}

void
rd_lsnset_del(struct rd_lsnset *s, uint64_t lsn)
{
	pthread_mutex_lock(&s->mu);
	lsnset_del_locked(s, lsn);
	pthread_mutex_unlock(&s->mu);
}

/* The lowest LSN in (the lock held): 1 with *lsn set, or 0 when empty. */
static int
lsnset_min_locked(const struct rd_lsnset *s, uint64_t *lsn)
{
	if (s->n == 0)
		return 0;
	*lsn = s->v[s->head];
	return 1;
}

int
rd_lsnset_min(struct rd_lsnset *s, uint64_t *lsn)
{
	int r;

	pthread_mutex_lock(&s->mu);
	r = lsnset_min_locked(s, lsn);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/*
 * The removals still held (the lock held): the done LSNs above the lowest
 * one in, then the orphans; writes them to out (room for
 * lsnset_removed_count) unsorted.
 */
static size_t
lsnset_removed_count(const struct rd_lsnset *s)
{
	return s->ndone + s->norphan;
}

static void
lsnset_removed(const struct rd_lsnset *s, uint64_t *out)
{
	size_t i, k = 0;

	for (i = s->head; i < s->head + s->n && k < s->ndone; i++)
		if (s->done[i])
			out[k++] = s->v[i];
	memcpy(out + k, s->orphan, s->norphan * sizeof *out);
}

/* ---- helpers -------------------------------------------------------------------- */

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The lowest record not matched yet (a reservation counts); the lock of d->unmatched held. */
static uint64_t
frontier_locked(struct rd_durable *d)
{
	uint64_t lsn;

	return lsnset_min_locked(&d->unmatched, &lsn) ? lsn : rd_wal_next_seq(d->wal);
}

static uint64_t
frontier(struct rd_durable *d)
{
	uint64_t f;

	pthread_mutex_lock(&d->unmatched.mu);
	f = frontier_locked(d);
	pthread_mutex_unlock(&d->unmatched.mu);
	return f;
}

/* ---- ingest --------------------------------------------------------------------- */

/* Frees what a pending log holds (not the structure: the caller's). */
static void
pend_free(struct rd_durable_pend *pd)
{
	free(pd->rq);
	free(pd->keys);
	free(pd->rl);
	pd->rq = NULL;
	pd->keys = NULL;
	pd->rl = NULL;
}

int
rd_durable_log_begin(struct rd_durable *d, const struct rd_event_ref *ev, size_t n, uint64_t *lsn,
	struct rd_durable_pend *pd, void (*ready)(void *), void *arg)
{
	struct rd_wal_rec *recs = NULL;
	uint64_t now = wall_ms();
	char *payload = NULL;
	size_t i, total = 0, off = 0;
	int rc = -1, e = ENOMEM;

	memset(pd, 0, sizeof *pd);
	pd->n = n;
	pd->lsn = lsn;
	for (i = 0; i < n; i++)
		lsn[i] = 0;
	if (mono_ms() < atomic_load(&d->full_until_ms)) {
		/* the disk was full a moment ago: refuse without writing (retried after the pause) */
		rd_count(&d->full_refusals, 1);
		errno = ENOSPC;
		return -1;
	}
	if (!(recs = calloc(n ? n : 1, sizeof *recs)) || !(pd->rl = calloc(n ? n : 1, sizeof *pd->rl)))
		goto fail;
	if (d->dedup_on) {
		/* the keys one after the other in pd->keys (events without one take no room) */
		char key[RD_DEDUP_KEY_MAX];
		size_t used = 0, cap = 0, *koff;
		if (!(pd->rq = calloc(n, sizeof *pd->rq)) || !(koff = calloc(n ? n : 1, sizeof *koff)))
			goto fail;
		for (i = 0; i < n; i++) {
			size_t k = rd_dedup_key(ev[i].p, ev[i].len, d->conf->dedup_id_member, key, sizeof key);
			koff[i] = used;
			pd->rq[i].klen = k;
			if (!k)
				continue;
			if (used + k > cap) {
				size_t nc = cap ? cap * 2 : 1024;
				char *nk;
				while (nc < used + k)
					nc *= 2;
				if (!(nk = realloc(pd->keys, nc))) {
					free(koff);
					goto fail;
				}
				pd->keys = nk;
				cap = nc;
			}
			memcpy(pd->keys + used, key, k);
			used += k;
		}
		for (i = 0; i < n; i++)
			pd->rq[i].key = pd->rq[i].klen ? pd->keys + koff[i] : NULL;
		free(koff);
		pd->dups = rd_dedup_reserve(&d->dedup, pd->rq, n, now);
	}
	for (i = 0; i < n; i++)
		if (!pd->rq || !pd->rq[i].dup)
			total += RD_REC_HDR + ev[i].len;
	if (total && !(payload = malloc(total)))
		goto rollback;
	for (i = 0; i < n; i++) {
		if (pd->rq && pd->rq[i].dup)
			continue;
		put_le64((unsigned char *)payload + off, now << 8 | 1u);
		memcpy(payload + off + RD_REC_HDR, ev[i].p, ev[i].len);
		recs[pd->nrec].buf = payload + off;
		recs[pd->nrec].len = RD_REC_HDR + ev[i].len;
		off += recs[pd->nrec].len;
		pd->nrec++;
	}
	if (pd->nrec == 0) { /* all duplicates: nothing to wait for */
		rc = 1;
		goto out;
	}
	/* reserve a bound below our LSNs in the unmatched set (see the file comment) */
	pthread_mutex_lock(&d->unmatched.mu);
	pd->resv = rd_wal_next_seq(d->wal);
	if (lsnset_add_locked(&d->unmatched, pd->resv) < 0) {
		pthread_mutex_unlock(&d->unmatched.mu);
		goto rollback;
	}
	pthread_mutex_unlock(&d->unmatched.mu);
	pd->wt.fn = ready;
	pd->wt.arg = arg;
	if (rd_wal_append_async(d->wal, recs, pd->nrec, &pd->first, &pd->last, &pd->wt) < 0) {
		e = errno;
		rd_lsnset_del(&d->unmatched, pd->resv);
		if (rd_wal_error_is_full(e))
			atomic_store(&d->full_until_ms, mono_ms() + 200);
		goto rollback;
	}
	rc = 0;
	goto out;
rollback:
	if (pd->rq)
		rd_dedup_rollback(&d->dedup, pd->rq, n);
fail:
	pend_free(pd);
out:
	free(recs);
	free(payload);
	if (rc < 0)
		errno = e;
	return rc;
}

int
rd_durable_log_end(struct rd_durable *d, struct rd_durable_pend *pd, size_t *ndup)
{
	size_t i, k;
	int e = 0;

	*ndup = 0;
	if (pd->nrec && (e = rd_wal_outcome(d->wal, pd->first, pd->last)) != 0) {
		rd_lsnset_del(&d->unmatched, pd->resv);
		if (rd_wal_error_is_full(e))
			atomic_store(&d->full_until_ms, mono_ms() + 200);
		if (pd->rq)
			rd_dedup_rollback(&d->dedup, pd->rq, pd->n);
		pend_free(pd);
		errno = e;
		return -1;
	}
	if (pd->nrec) {
		pthread_mutex_lock(&d->unmatched.mu);
		for (i = 0, k = 0; i < pd->n; i++) {
			if (pd->rq && pd->rq[i].dup)
				continue;
			pd->lsn[i] = pd->first + k++;
			pd->rl[i] = pd->lsn[i];
			if (lsnset_add_locked(&d->unmatched, pd->lsn[i]) < 0)
				rd_log(RD_LOG_ERROR, "out of memory tracking a logged record: its cursor may move "
					"past it before delivery", "\"lsn\":%" PRIu64, pd->lsn[i]);
		}
		lsnset_del_locked(&d->unmatched, pd->resv);
		pthread_mutex_unlock(&d->unmatched.mu);
	}
	if (pd->rq)
		rd_dedup_commit(&d->dedup, pd->rq, pd->n, pd->rl);
	*ndup = pd->dups;
	rd_count(&d->duplicates, pd->dups);
	pend_free(pd);
	return 0;
}

/*
 * rd_durable_log's wait for its own append. It lives on the heap: when the
 * wait times out, the caller leaves it to the log's syncer (which still
 * holds the waiter), and whichever of the two comes second frees it.
 */
struct log_wait {
	struct rd_durable_pend pd;     /* the log's part (its waiter is in the log's list until called) */
	struct rd_durable *d;          /* borrows */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state;                     /* LW_WAITING, LW_DONE (the syncer called), LW_ABANDONED (timed out) */
};
enum { LW_WAITING, LW_DONE, LW_ABANDONED };

/* Undoes a logged request nobody waits for any more (not acknowledged: the client retries). */
static void
pend_abandon(struct rd_durable *d, struct rd_durable_pend *pd)
{
	rd_lsnset_del(&d->unmatched, pd->resv);
	if (pd->rq)
		rd_dedup_rollback(&d->dedup, pd->rq, pd->n);
	pend_free(pd);
}

static void
log_wait_free(struct log_wait *lw)
{
	pthread_cond_destroy(&lw->cv);
	pthread_mutex_destroy(&lw->mu);
	free(lw);
}

static void
log_wait_ready(void *arg)
{
	struct log_wait *lw = arg;
	int abandoned;

	pthread_mutex_lock(&lw->mu);
	abandoned = lw->state == LW_ABANDONED;
	lw->state = LW_DONE;
	pthread_cond_signal(&lw->cv);
	pthread_mutex_unlock(&lw->mu);
	if (abandoned) {
		pend_abandon(lw->d, &lw->pd);
		log_wait_free(lw);
	}
}

int
rd_durable_log(struct rd_durable *d, const struct rd_event_ref *ev, size_t n, uint64_t *lsn, size_t *ndup)
{
	struct log_wait *lw = calloc(1, sizeof *lw);
	struct timespec dl;
	int rc, state;

	*ndup = 0;
	if (!lw) {
		errno = ENOMEM;
		return -1;
	}
	lw->d = d;
	lw->state = LW_WAITING;
	pthread_mutex_init(&lw->mu, NULL);
	pthread_cond_init(&lw->cv, NULL);
	rc = rd_durable_log_begin(d, ev, n, lsn, &lw->pd, log_wait_ready, lw);
	if (rc == 0) {
		/* bounded like any append: past it the caller is answered, not the log */
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += rd_wal_append_timeout_ms(d->wal) / 1000;
		dl.tv_nsec += (long)(rd_wal_append_timeout_ms(d->wal) % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&lw->mu);
		while (lw->state == LW_WAITING)
			if (pthread_cond_timedwait(&lw->cv, &lw->mu, &dl) == ETIMEDOUT && lw->state == LW_WAITING)
				lw->state = LW_ABANDONED;
		state = lw->state;
		pthread_mutex_unlock(&lw->mu);
		if (state == LW_ABANDONED) {
			/* the syncer frees lw when it gets to it; the records may still be written
			 * (at-least-once: the client, answered 503, sends them again) */
			for (size_t i = 0; i < n; i++)
				lsn[i] = 0;
			errno = ETIMEDOUT;
			return -1;
		}
	}
	if (rc >= 0)
		rc = rd_durable_log_end(d, &lw->pd, ndup);
	log_wait_free(lw);
	return rc;
}

void
rd_durable_hold(struct rd_durable *d, uint64_t lsn)
{
	if (lsn && rd_lsnset_add(&d->unmatched, lsn) < 0)
		rd_log(RD_LOG_ERROR, "out of memory holding a record for an emitted event", "\"lsn\":%" PRIu64, lsn);
}

void
rd_durable_matched(struct rd_durable *d, uint64_t lsn)
{
	if (lsn)
		rd_lsnset_del(&d->unmatched, lsn);
}

int
rd_durable_deliver(struct rd_durable *d, uint32_t dest, uint64_t lsn, int force)
{
	if (!lsn)
		return 1;
	if (lsn < d->start[dest] && !force)
		return 0;
	if (rd_lsnset_add(&d->dest[dest], lsn) < 0)
		rd_log(RD_LOG_ERROR, "out of memory tracking a message: its cursor may move past it",
			"\"lsn\":%" PRIu64, lsn);
	atomic_fetch_add_explicit(&d->activity[dest], 1, memory_order_relaxed);
	return 1;
}

void
rd_durable_done(struct rd_durable *d, uint32_t dest, uint64_t lsn)
{
	if (lsn) {
		rd_lsnset_del(&d->dest[dest], lsn);
		/* after the write it follows: a pass that sees this count syncs that write */
		atomic_fetch_add_explicit(&d->activity[dest], 1, memory_order_release);
	}
}

void
rd_durable_done_many(struct rd_durable *d, uint32_t dest, const uint64_t *lsn, size_t n)
{
	struct rd_lsnset *s = &d->dest[dest];
	size_t i, k = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < n; i++)
		if (lsn[i]) {
			lsnset_del_locked(s, lsn[i]);
			k++;
		}
	pthread_mutex_unlock(&s->mu);
	if (k)
		atomic_fetch_add_explicit(&d->activity[dest], k, memory_order_release);
}

/* ---- checkpoints -------------------------------------------------------------------- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
ckpt_free(struct rd_ckpt *c)
{
	free(c->snap);
	free(c->extra);
	memset(c, 0, sizeof *c);
}

void
rd_durable_maybe_checkpoint(struct rd_durable *d, unsigned k, route_state *st, int force)
{
	struct rd_ckpt c = { 0 };
	uint64_t now = mono_ms();
	size_t need, i;

	if (!d->state_on || k >= d->nstate || (!force && now < d->ckpt_next_ms[k]))
		return;
	d->ckpt_next_ms[k] = now + 1000u * d->conf->checkpoint_interval;
	need = route_state_snapshot(st, NULL, 0);
	if (!(c.snap = malloc(need ? need : 1)) || route_state_snapshot(st, c.snap, need) > need)
		goto fail;
	c.len = need;
	/* worker K calls this between two matches: its state holds every record of
	 * its shard below the frontier, plus those removed above it (the removals the set holds;
	 * records of other shards there do not touch this state) */
	pthread_mutex_lock(&d->unmatched.mu);
	c.from = frontier_locked(d);
	c.nextra = lsnset_removed_count(&d->unmatched);
	if (c.nextra && !(c.extra = malloc(c.nextra * sizeof *c.extra))) {
		pthread_mutex_unlock(&d->unmatched.mu);
		goto fail;
	}
	if (c.nextra)
		lsnset_removed(&d->unmatched, c.extra);
	pthread_mutex_unlock(&d->unmatched.mu);
	if (c.nextra)
		qsort(c.extra, c.nextra, sizeof *c.extra, cmp_u64);
	c.covers = c.from;
	for (i = 0; i < c.nextra; i++)
		if (c.extra[i] + 1 > c.covers)
			c.covers = c.extra[i] + 1;
	pthread_mutex_lock(&d->mu);
	ckpt_free(&d->ckpt[k]);
	d->ckpt[k] = c;
	pthread_mutex_unlock(&d->mu);
	return;
fail:
	rd_count(&d->checkpoint_errors, 1);
	rd_log(RD_LOG_ERROR, "out of memory taking a state snapshot", NULL);
	ckpt_free(&c);
}

/* fsyncs directory dir (a rename in it is then durable). Returns 0 or -1. */
static int
sync_dir(const char *dir)
{
	int fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	ssize_t w;

	while (n) {
		if ((w = write(fd, b, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Checkpoint file DATA_DIR/state/checkpoint.K (the state of shard K of N):
 *   "RDCKPT02" | K u32 | N u32 | from u64 | nextra u64 | extra[nextra] u64 | len u64 |
 *   snapshot | crc32c u32
 * (the CRC covers everything before it). Written to PATH.tmp, fsync'ed,
 * renamed over PATH, directory fsync'ed. Returns 0 or -1 (errno).
 */
static int
ckpt_write(struct rd_durable *d, unsigned k, const struct rd_ckpt *c)
{
	char tmp[4300], path[4200];
	unsigned char h[32], t[8];
	uint32_t crc;
	size_t i;
	int fd, e;

	snprintf(path, sizeof path, "%s/checkpoint.%u", d->state_dir, k);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -1;
	memcpy(h, "RDCKPT02", 8);
	for (i = 0; i < 4; i++) {
		h[8 + i] = (unsigned char)(k >> (8 * i));
		h[12 + i] = (unsigned char)(d->nstate >> (8 * i));
	}
	put_le64(h + 16, c->from);
	put_le64(h + 24, c->nextra);
	crc = rd_crc32c(0, h, sizeof h);
	if (write_all(fd, h, sizeof h) < 0)
		goto fail;
	for (i = 0; i < c->nextra; i++) {
		put_le64(t, c->extra[i]);
		crc = rd_crc32c(crc, t, 8);
		if (write_all(fd, t, 8) < 0)
			goto fail;
	}
	put_le64(t, c->len);
	crc = rd_crc32c(crc, t, 8);
	crc = rd_crc32c(crc, c->snap, c->len);
	if (write_all(fd, t, 8) < 0 || write_all(fd, c->snap, c->len) < 0)
		goto fail;
	for (i = 0; i < 4; i++)
		t[i] = (unsigned char)(crc >> (8 * i));
	if (write_all(fd, t, 4) < 0 || fsync(fd) < 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) < 0)
		return -1;
	return sync_dir(d->state_dir);
fail:
	e = errno;
	close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/*
 * Reads the checkpoint into *c (owned by the caller). Returns 1, 0 when there
 * is none, -1 when it is damaged (why says how).
 */
static int
ckpt_read(const char *path, unsigned k, unsigned n_expect, struct rd_ckpt *c, char *why, size_t whylen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b = NULL;
	long sz;
	size_t n, off, i;
	uint32_t crc;

	memset(c, 0, sizeof *c);
	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(b = malloc((size_t)sz + 1)) || fread(b, 1, (size_t)sz, f) != (size_t)sz) {
		snprintf(why, whylen, "cannot read it");
		goto bad;
	}
	n = (size_t)sz;
	if (n < 32 + 8 + 4 || memcmp(b, "RDCKPT02", 8) != 0) {
		snprintf(why, whylen, "not a checkpoint (bad header or too short)");
		goto bad;
	}
	crc = (uint32_t)b[n - 4] | (uint32_t)b[n - 3] << 8 | (uint32_t)b[n - 2] << 16 | (uint32_t)b[n - 1] << 24;
	if (rd_crc32c(0, b, n - 4) != crc) {
		snprintf(why, whylen, "checksum mismatch");
		goto bad;
	}
	if ((get_le64(b + 8) & 0xffffffffu) != k || get_le64(b + 8) >> 32 != n_expect) {
		snprintf(why, whylen, "written for shard %u of %u, not %u of %u (workers changed)",
			(unsigned)(get_le64(b + 8) & 0xffffffffu), (unsigned)(get_le64(b + 8) >> 32), k, n_expect);
		goto bad;
	}
	c->from = get_le64(b + 16);
	c->nextra = get_le64(b + 24);
	if (c->nextra > (n - 44) / 8) {
		snprintf(why, whylen, "impossible count");
		goto bad;
	}
	off = 32 + 8 * c->nextra;
	if (c->nextra && !(c->extra = malloc(c->nextra * sizeof *c->extra)))
		goto oom;
	for (i = 0; i < c->nextra; i++)
		c->extra[i] = get_le64(b + 32 + 8 * i);
	c->len = get_le64(b + off);
	off += 8;
	if (c->len != n - 4 - off) {
		snprintf(why, whylen, "length mismatch");
		goto bad;
	}
	if (!(c->snap = malloc(c->len ? c->len : 1)))
		goto oom;
	memcpy(c->snap, b + off, c->len);
	free(b);
	fclose(f);
	return 1;
oom:
	snprintf(why, whylen, "out of memory");
bad:
	free(b);
	fclose(f);
	ckpt_free(c);
	return -1;
}

/* ---- the durability thread ------------------------------------------------------------ */

/* Syncs what destination i's sinks wrote (policies always, batch). Returns 0 or -1. */
static int
sync_dest(struct rd_durable *d, uint32_t i)
{
	struct rd_lane *ln = &d->pl->lanes[i];
	int rc = 0;

	if (d->conf->sync == RD_WAL_SYNC_NONE || !atomic_load(&ln->ready))
		return 0;
	if (ln->sink.kind == RD_SINK_QUEUE && ln->sink.store)
		rc |= rd_store_sync(ln->sink.store);
	else if (ln->sink.kind == RD_SINK_FILE && ln->sink.fd >= 0)
		rc |= fdatasync(ln->sink.fd);
	if (ln->dlq)
		rc |= rd_store_sync(ln->dlq);
	return rc ? -1 : 0;
}

/* Stores a cursor, logging (once per error burst) when it fails. */
static void
set_cursor(struct rd_durable *d, const char *name, uint64_t v)
{
	if (rd_wal_cursor_set(d->wal, name, v) < 0) {
		if (atomic_fetch_add(&d->cursor_errors, 1) % 100 == 0)
			rd_log(RD_LOG_ERROR, "cannot store a log cursor", "\"cursor\":\"%s\",\"error\":\"%s\"",
				name, strerror(errno));
	}
}

/* Lane slots in use (a reload can add lanes; they never move). */
static uint32_t
nlanes(struct rd_durable *d)
{
	uint32_t n = atomic_load(&d->pl->nlanes);

	return n < d->ndest ? n : d->ndest;
}

/* The cursor name of lane slot i, "dest.NAME" (made on first use), or NULL (out of memory). */
static const char *
cursor_name(struct rd_durable *d, uint32_t i)
{
	const char *name = d->pl->lanes[i].name;
	size_t n;

	if (!d->cname[i] && name) {
		n = strlen(name) + 6;
		if ((d->cname[i] = malloc(n)))
			snprintf(d->cname[i], n, "dest.%s", name);
	}
	return d->cname[i];
}

#define IDLE_PASSES 10 /* an idle destination's cursor is stored every this many passes */

/*
 * Stores every cursor that moved, writes a checkpoint every destination is
 * past, trims. The cursor of an idle destination -- no message tracked or
 * released since its last store, so nothing written that needs a sync --
 * moves only with the log's frontier; it is stored every IDLE_PASSES
 * passes (and with force, at the drain), without a sync. Storing it at
 * every pass cost each destination a file, two fsyncs and a sync of its
 * sinks 10 times a second, whether it received anything or not (the
 * examples have 30-odd destinations). A cursor that lags only makes a
 * restart read more of the log (docs/durability.md). The cursors that
 * moved are stored together, in one write of the log's cursors.txt (two
 * fsyncs a pass rather than two per destination).
 */
static void
pass(struct rd_durable *d, int force)
{
	uint64_t f = frontier(d), m, lo = UINT64_MAX, v, act;
	uint32_t i;
	unsigned k, nb = 0;
	struct rd_ckpt c = { 0 };
	struct cursor_batch *b = &d->batch;
	int idle;

	for (i = 0; i < nlanes(d); i++) {
		if (!cursor_name(d, i))
			continue;
		/* read before the sync: a message released after it is seen by the next pass */
		act = atomic_load_explicit(&d->activity[i], memory_order_acquire);
		idle = act == d->seen[i];
		m = f;
		if (rd_lsnset_min(&d->dest[i], &v) && v < m)
			m = v;
		if (m > d->saved[i] && idle && !force && ++d->idle_passes[i] < IDLE_PASSES) {
			/* idle: stored at a later pass */
		} else if (m > d->saved[i]) {
			if (!idle && sync_dest(d, i) < 0) {
				if (atomic_fetch_add(&d->sync_errors, 1) % 100 == 0)
					rd_log(RD_LOG_ERROR, "cannot sync a destination's sink: its cursor waits",
						"\"cursor\":\"%s\",\"error\":\"%s\"", d->cname[i], strerror(errno));
			} else {
				/* synced: its cursor goes into this pass's one store */
				b->names[nb] = d->cname[i];
				b->seqs[nb] = m;
				b->slot[nb] = i;
				b->act[nb++] = act;
			}
		}
	}
	if (nlanes(d) == 0 && f > d->saved_matched) {
		b->names[nb] = "matched";
		b->seqs[nb] = f;
		b->slot[nb++] = SLOT_MATCHED;
	}
	if (d->dedup_on) {
		if (!rd_dedup_oldest(&d->dedup, wall_ms(), &v) || v > f)
			v = f;
		if (v > d->saved_dedup) { /* a stored cursor never moves back: only store a move forward */
			b->names[nb] = "dedup";
			b->seqs[nb] = v;
			b->slot[nb++] = SLOT_DEDUP;
		}
	}
	if (nb > 0 && rd_wal_cursors_set(d->wal, b->names, b->seqs, nb) == 0) {
		for (k = 0; k < nb; k++) {
			if (b->slot[k] == SLOT_MATCHED) {
				d->saved_matched = b->seqs[k];
			} else if (b->slot[k] == SLOT_DEDUP) {
				d->saved_dedup = b->seqs[k];
			} else {
				i = b->slot[k];
				d->saved[i] = b->seqs[k];
				d->seen[i] = b->act[k];
				d->idle_passes[i] = 0;
				atomic_fetch_add_explicit(&d->stores[i], 1, memory_order_relaxed);
			}
		}
	} else if (nb > 0 && atomic_fetch_add(&d->cursor_errors, 1) % 100 == 0) {
		rd_log(RD_LOG_ERROR, "cannot store the log cursors", "\"cursors\":%u,\"error\":\"%s\"", nb,
			strerror(errno));
	}
	for (i = 0; i < nlanes(d); i++)
		if (d->cname[i] && d->saved[i] < lo)
			lo = d->saved[i];
	if (nlanes(d) == 0)
		lo = f;
	for (k = 0; d->state_on && k < d->nstate; k++) {
		pthread_mutex_lock(&d->mu);
		if (d->ckpt[k].snap && lo >= d->ckpt[k].covers) {
			c = d->ckpt[k];
			memset(&d->ckpt[k], 0, sizeof d->ckpt[k]);
		}
		pthread_mutex_unlock(&d->mu);
		if (c.snap) {
			/* what deadlines fired before the snapshot was written by the sinks
			 * (no cursor synced it): on disk before the checkpoint says it fired */
			int synced = 0;

			for (i = 0; i < nlanes(d); i++)
				synced |= sync_dest(d, i);
			if (synced < 0) {
				rd_count(&d->checkpoint_errors, 1);
				rd_log(RD_LOG_ERROR, "cannot sync the sinks: the state checkpoint waits", "\"error\":\"%s\"",
					strerror(errno));
			} else if (ckpt_write(d, k, &c) == 0) {
				rd_count(&d->checkpoints, 1);
				d->ckpt_written[k] = c.from;
			} else {
				rd_count(&d->checkpoint_errors, 1);
				rd_log(RD_LOG_ERROR, "cannot write the state checkpoint", "\"error\":\"%s\"",
					strerror(errno));
			}
			ckpt_free(&c);
		}
	}
	if (d->state_on) {
		/* the log is needed from the oldest checkpoint on, once every state has one */
		for (k = 0, v = UINT64_MAX; k < d->nstate; k++)
			if (d->ckpt_written[k] < v)
				v = d->ckpt_written[k];
		if (v && v != UINT64_MAX && v > d->ckpt_lsn) {
			set_cursor(d, "state", v);
			d->ckpt_lsn = v;
		}
	}
	if (rd_wal_trim(d->wal) < 0)
		rd_log(RD_LOG_WARN, "cannot trim the log", "\"error\":\"%s\"", strerror(errno));
}

static void *
durable_main(void *arg)
{
	struct rd_durable *d = arg;
	struct timespec ts;
	unsigned ms = d->conf->cursor_interval_ms;

	rd_thread_name("durable");
	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		if (d->stop)
			break;
		pthread_mutex_unlock(&d->mu);
		pass(d, 0);
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* ---- start: cursors, checkpoint, replay ------------------------------------------------- */

static int
mkdir_p1(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int
in_sorted(const uint64_t *a, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] == v)
			return 1;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/*
 * Replays the log: rebuilds the dedup table from `dfrom` and routes again
 * every record from `mfrom` that some destination (or the state) still
 * needs. Returns 0, or -1 on a read error (logged; start goes on).
 */
static int
replay(struct rd_durable *d, uint64_t mfrom, uint64_t dfrom, const struct rd_ckpt *ck)
{
	route_matcher *cls = route_matcher_new(d->pl->prog);
	struct route_class rc;
	struct rd_event_ref ref;
	unsigned t;
	uint64_t from = mfrom < dfrom ? mfrom : dfrom, seq, now = wall_ms(), t0 = mono_ms();
	struct rd_wal_iter *it = rd_wal_iter_open(d->wal, from);
	const void *buf;
	size_t len, klen;
	char key[RD_DEDUP_KEY_MAX];
	uint32_t i;
	int r;

	if (!it || !cls) {
		rd_wal_iter_free(it);
		route_matcher_free(cls);
		return -1;
	}
	while ((r = rd_wal_iter_next(it, &seq, &buf, &len)) == 1) {
		const unsigned char *p = buf;
		const char *ev = (const char *)p + RD_REC_HDR;
		size_t evlen = len - RD_REC_HDR;
		uint64_t ms;
		if (len <= RD_REC_HDR || p[0] != 1) {
			rd_count(&d->replay_skipped, 1);
			continue;
		}
		ms = get_le64(p) >> 8;
		if (d->dedup_on && seq >= dfrom &&
		    (klen = rd_dedup_key(ev, evlen, d->conf->dedup_id_member, key, sizeof key)))
			rd_dedup_insert(&d->dedup, key, klen, seq, ms, now);
		if (seq < mfrom)
			continue;
		/* the shard it goes to: with the state split, by its state's key */
		ref.p = ev;
		ref.len = evlen;
		ref.part = 0;
		ref.key = 0;
		if (cls && route_classify(cls, ev, evlen, &rc) == ROUTE_OK) {
			ref.part = rc.part;
			ref.key = rc.key;
		}
		t = rd_pipeline_shard_of(d->pl, &ref);
		if (d->state_on && ck && t < d->nstate &&
		    (seq < ck[t].from || in_sorted(ck[t].extra, ck[t].nextra, seq)))
			continue; /* already in that shard's checkpoint (and delivered everywhere) */
		if (!d->state_on) {
			/* without state, a record every destination is past needs no matching */
			int needed = 0;
			for (i = 0; i < d->nstart && !needed; i++)
				needed = seq >= d->start[i];
			if (!needed)
				continue;
		}
		rd_lsnset_add(&d->unmatched, seq);
		if (rd_pipeline_route_logged(d->pl, &ref, t, seq) < 0) {
			rd_lsnset_del(&d->unmatched, seq);
			rd_log(RD_LOG_ERROR, "replay: cannot route a record (out of memory or stopping)",
				"\"lsn\":%" PRIu64, seq);
			break;
		}
		rd_count(&d->replayed, 1);
	}
	rd_wal_iter_free(it);
	route_matcher_free(cls);
	rd_log(RD_LOG_INFO, "log replayed", "\"from\":%" PRIu64 ",\"routed\":%" PRIuFAST64 ",\"skipped\":%"
		PRIuFAST64 ",\"dedup_keys\":%zu,\"ms\":%" PRIu64, from, atomic_load(&d->replayed),
		atomic_load(&d->replay_skipped), d->dedup_on ? rd_dedup_size(&d->dedup) : (size_t)0,
		mono_ms() - t0);
	return r < 0 ? -1 : 0;
}

/* The state shard k matches against (its part when split, else the one state). */
static route_state *
state_of(struct rd_pipeline *pl, unsigned k)
{
	return atomic_load(&pl->gen)->states[k];
}

/*
 * Reads and restores checkpoint.K of every state into ck[0..nstate). Returns
 * 1 when all were restored; 0 when there is none or one is missing, damaged
 * or does not restore (every state is then fresh and ck empty, logged and
 * counted); -1 on out-of-memory.
 */
static int
restore_state(struct rd_durable *d, struct rd_ckpt *ck)
{
	struct rd_pipeline *pl = d->pl;
	struct route_restore_report rep;
	char path[4200], why[256];
	unsigned k, nfound = 0, bad = 0;
	int r;

	for (k = 0; k < d->nstate; k++) {
		snprintf(path, sizeof path, "%s/checkpoint.%u", d->state_dir, k);
		r = ckpt_read(path, k, d->nstate, &ck[k], why, sizeof why);
		if (r > 0 && route_state_restore(state_of(pl, k), ck[k].snap, ck[k].len, &rep, why,
			sizeof why) < 0)
			r = -1;
		if (r < 0) {
			rd_log(RD_LOG_ERROR, "state checkpoint unusable: replaying the whole log",
				"\"file\":\"%s\",\"error\":\"%s\"", path, why);
			bad++;
		} else if (r > 0) {
			nfound++;
			rd_log(RD_LOG_INFO, "state checkpoint restored", "\"shard\":%u,\"from\":%" PRIu64
				",\"bytes\":%zu,\"tables\":%u,\"rules\":%u", k, ck[k].from, ck[k].len,
				rep.tables, rep.rules);
		}
	}
	if (nfound == d->nstate)
		return 1;
	if (bad)
		rd_count(&d->checkpoint_errors, bad);
	if (nfound)
		rd_log(RD_LOG_ERROR, "state checkpoints incomplete: replaying the whole log", "\"found\":%u,"
			"\"shards\":%u", nfound, d->nstate);
	if (!nfound && !bad)
		return 0; /* a first start: the states are fresh already */
	/* all or nothing: a state restored in part would be applied twice by the replay */
	for (k = 0; k < d->nstate; k++) {
		struct rd_gen *g = atomic_load(&pl->gen);
		ckpt_free(&ck[k]);
		route_state_free(g->states[k]);
		if (!(g->states[k] = route_state_new(g->prog)))
			return -1;
		route_matcher_set_state(pl->shards[k].m, g->states[k]);
	}
	return 0;
}

int
rd_durable_start(struct rd_durable *d, const struct rd_conf *c, struct rd_pipeline *pl, char *err,
	size_t errlen)
{
	struct rd_wal_opts o;
	struct rd_wal_stats st;
	struct rd_ckpt *ck = NULL;
	char path[4096];
	uint64_t v, mfrom = UINT64_MAX, dfrom = UINT64_MAX, lo_existing = UINT64_MAX;
	uint32_t i;
	int *missing = NULL, have_ck = 0, r;
	unsigned k;

	memset(d, 0, sizeof *d);
	d->conf = c;
	d->pl = pl;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	rd_lsnset_init(&d->unmatched);
	d->ndest = pl->lane_cap;
	d->nstart = atomic_load(&pl->nlanes);
	d->dest = calloc(d->ndest ? d->ndest : 1, sizeof *d->dest);
	d->start = calloc(d->ndest ? d->ndest : 1, sizeof *d->start);
	d->saved = calloc(d->ndest ? d->ndest : 1, sizeof *d->saved);
	d->activity = calloc(d->ndest ? d->ndest : 1, sizeof *d->activity);
	d->seen = calloc(d->ndest ? d->ndest : 1, sizeof *d->seen);
	d->idle_passes = calloc(d->ndest ? d->ndest : 1, sizeof *d->idle_passes);
	d->stores = calloc(d->ndest ? d->ndest : 1, sizeof *d->stores);
	d->cname = calloc(d->ndest ? d->ndest : 1, sizeof *d->cname);
	missing = calloc(d->ndest ? d->ndest : 1, sizeof *missing);
	d->batch.names = calloc(d->ndest + 2, sizeof *d->batch.names);
	d->batch.seqs = calloc(d->ndest + 2, sizeof *d->batch.seqs);
	d->batch.act = calloc(d->ndest + 2, sizeof *d->batch.act);
	d->batch.slot = calloc(d->ndest + 2, sizeof *d->batch.slot);
	if (!d->dest || !d->start || !d->saved || !d->activity || !d->seen || !d->idle_passes || !d->stores ||
	    !d->cname || !missing || !d->batch.names || !d->batch.seqs || !d->batch.act || !d->batch.slot)
		goto oom;
	for (i = 0; i < d->ndest; i++)
		rd_lsnset_init(&d->dest[i]);
	for (i = 0; i < d->nstart; i++)
		if (!cursor_name(d, i))
			goto oom;
	d->state_on = atomic_load(&pl->gen)->states != NULL;
	d->nstate = d->state_on ? pl->nshards : 0;
	if (d->state_on &&
	    (!(d->ckpt = calloc(d->nstate, sizeof *d->ckpt)) || !(ck = calloc(d->nstate, sizeof *ck)) ||
	     !(d->ckpt_next_ms = calloc(d->nstate, sizeof *d->ckpt_next_ms)) ||
	     !(d->ckpt_written = calloc(d->nstate, sizeof *d->ckpt_written))))
		goto oom;
	if (c->dedup_window) {
		if (rd_dedup_init(&d->dedup, 1000ull * c->dedup_window, c->dedup_max_entries) < 0)
			goto oom;
		d->dedup_on = 1;
	}
	snprintf(path, sizeof path, "%s", c->data_dir);
	if (mkdir_p1(path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof path, "%s/state", c->data_dir);
	if (d->state_on && mkdir_p1(path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!(d->state_dir = strdup(path)))
		goto oom;
	rd_wal_opts_default(&o);
	o.sync = (enum rd_wal_sync)c->sync;
	o.batch_ms = c->sync_batch_ms;
	o.segment_bytes = c->segment_bytes;
	if (c->max_event_bytes + RD_REC_HDR > o.max_record)
		o.max_record = c->max_event_bytes + RD_REC_HDR;
	/* one request's records must fit in the syncer's queue together (a body's events,
	 * plus a header each) */
	if (o.max_pending < 2 * c->max_body_bytes + (1u << 20))
		o.max_pending = 2 * c->max_body_bytes + (1u << 20);
	snprintf(path, sizeof path, "%s/log", c->data_dir);
	if (!(d->wal = rd_wal_open(path, &o, err, errlen)))
		goto fail;
	rd_wal_stats(d->wal, &st);
	if (st.torn_tails || st.quarantined)
		rd_log(RD_LOG_WARN, "log recovered with damage", "\"torn_tails\":%" PRIu64 ",\"torn_bytes\":%"
			PRIu64 ",\"quarantined\":%" PRIu64 ",\"quarantined_bytes\":%" PRIu64 ",\"records\":%" PRIu64,
			st.torn_tails, st.torn_bytes, st.quarantined, st.quarantined_bytes, st.records_recovered);
	if (st.cursor_files_damaged)
		rd_log(RD_LOG_WARN, "the log's cursors.txt is incomplete and was not used: destinations "
			"without a cursor start from the oldest one kept (or the log's start), so some events "
			"may be delivered again", NULL);
	/* destination cursors; a destination new to this log starts where the others are */
	for (i = 0; i < d->nstart; i++) {
		if (rd_wal_cursor_get(d->wal, d->cname[i], &v) == 0) {
			d->start[i] = v;
			if (v < lo_existing)
				lo_existing = v;
		} else {
			missing[i] = 1;
		}
	}
	for (i = 0; i < d->nstart; i++) {
		if (missing[i]) {
			d->start[i] = lo_existing != UINT64_MAX ? lo_existing : 1;
			set_cursor(d, d->cname[i], d->start[i]);
		}
		d->saved[i] = d->start[i];
		if (d->start[i] < mfrom)
			mfrom = d->start[i];
	}
	if (d->nstart == 0)
		d->saved_matched = mfrom = rd_wal_cursor_get(d->wal, "matched", &v) == 0 ? v : 1;
	if (d->dedup_on)
		d->saved_dedup = dfrom = rd_wal_cursor_get(d->wal, "dedup", &v) == 0 ? v : 1;
	if (d->state_on) {
		if ((r = restore_state(d, ck)) < 0)
			goto oom;
		if (r > 0) {
			have_ck = 1;
			mfrom = UINT64_MAX;
			for (i = 0; i < d->nstate; i++)
				if (ck[i].from < mfrom)
					mfrom = ck[i].from;
		} else {
			mfrom = 1;
			if (rd_wal_cursor_get(d->wal, "state", &v) < 0)
				set_cursor(d, "state", 1);
		}
	}
	for (i = 0; i < d->nstate; i++)
		d->ckpt_next_ms[i] = mono_ms() + 1000u * c->checkpoint_interval;
	pl->dur = d;
	if (replay(d, mfrom, dfrom, have_ck ? ck : NULL) < 0)
		rd_log(RD_LOG_ERROR, "replay stopped on a read error; later records are not routed until "
			"the next start", "\"error\":\"%s\"", strerror(errno));
	for (k = 0; k < d->nstate; k++)
		ckpt_free(&ck[k]);
	free(ck);
	ck = NULL;
	free(missing);
	missing = NULL;
	if (pthread_create(&d->thr, NULL, durable_main, d) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		pl->dur = NULL;
		goto fail;
	}
	d->started = 1;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(missing);
	for (k = 0; ck && k < d->nstate; k++)
		ckpt_free(&ck[k]);
	free(ck);
	pl->dur = NULL;
	rd_durable_stop(d);
	return -1;
}

void
rd_durable_stop(struct rd_durable *d)
{
	uint32_t i;

	if (d->started) {
		pthread_mutex_lock(&d->mu);
		d->stop = 1;
		pthread_cond_broadcast(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thr, NULL);
		d->started = 0;
	}
	if (d->wal) {
		pass(d, 1);
		rd_wal_close(d->wal);
		d->wal = NULL;
	}
	for (i = 0; d->dest && i < d->ndest; i++)
		rd_lsnset_fini(&d->dest[i]);
	for (i = 0; d->cname && i < d->ndest; i++)
		free(d->cname[i]);
	free(d->dest);
	free(d->start);
	free(d->saved);
	free(d->activity);
	free(d->seen);
	free(d->idle_passes);
	free(d->stores);
	free(d->batch.names);
	free(d->batch.seqs);
	free(d->batch.act);
	free(d->batch.slot);
	memset(&d->batch, 0, sizeof d->batch);
	d->activity = d->stores = NULL;
	d->seen = NULL;
	d->idle_passes = NULL;
	free(d->cname);
	d->dest = NULL;
	d->cname = NULL;
	d->start = d->saved = NULL;
	if (d->dedup_on)
		rd_dedup_fini(&d->dedup);
	d->dedup_on = 0;
	for (i = 0; d->ckpt && i < d->nstate; i++)
		ckpt_free(&d->ckpt[i]);
	free(d->ckpt);
	free(d->ckpt_next_ms);
	free(d->ckpt_written);
	d->ckpt = NULL;
	d->ckpt_next_ms = d->ckpt_written = NULL;
	free(d->state_dir);
	d->state_dir = NULL;
	rd_lsnset_fini(&d->unmatched);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
}

void
rd_durable_render(struct rd_durable *d, struct rd_buf *o)
{
	struct rd_wal_stats st;
	uint32_t i;

	rd_wal_stats(d->wal, &st);
	rd_buf_printf(o,
		"# HELP routed_log_appends_total Records written to the durable log and acknowledged.\n"
		"# TYPE routed_log_appends_total counter\nrouted_log_appends_total %" PRIu64 "\n"
		"# HELP routed_log_append_errors_total Log appends that failed (nothing acknowledged).\n"
		"# TYPE routed_log_append_errors_total counter\nrouted_log_append_errors_total %" PRIu64 "\n"
		"# HELP routed_log_disk_full_total Log appends that failed because the disk was full, and "
		"requests refused during the pause after one.\n"
		"# TYPE routed_log_disk_full_total counter\nrouted_log_disk_full_total %" PRIu64 "\n"
		"# HELP routed_log_batches_total Group-commit batches written.\n"
		"# TYPE routed_log_batches_total counter\nrouted_log_batches_total %" PRIu64 "\n"
		"# HELP routed_log_syncs_total fdatasync calls on log segments.\n"
		"# TYPE routed_log_syncs_total counter\nrouted_log_syncs_total %" PRIu64 "\n"
		"# HELP routed_log_bytes_total Frame bytes written to the log.\n"
		"# TYPE routed_log_bytes_total counter\nrouted_log_bytes_total %" PRIu64 "\n"
		"# HELP routed_log_segments Log segment files present.\n"
		"# TYPE routed_log_segments gauge\nrouted_log_segments %" PRIu64 "\n"
		"# HELP routed_log_segments_deleted_total Segments deleted once every cursor was past them.\n"
		"# TYPE routed_log_segments_deleted_total counter\nrouted_log_segments_deleted_total %" PRIu64 "\n"
		"# HELP routed_log_torn_tails_total Torn tails truncated when the log was opened.\n"
		"# TYPE routed_log_torn_tails_total counter\nrouted_log_torn_tails_total %" PRIu64 "\n"
		"# HELP routed_log_quarantined_total Corrupt log regions moved to quarantine when the log was opened.\n"
		"# TYPE routed_log_quarantined_total counter\nrouted_log_quarantined_total %" PRIu64 "\n"
		"# HELP routed_log_quarantined_bytes_total Bytes of those regions.\n"
		"# TYPE routed_log_quarantined_bytes_total counter\nrouted_log_quarantined_bytes_total %" PRIu64 "\n"
		"# HELP routed_log_replayed_total Records routed again from the log at start.\n"
		"# TYPE routed_log_replayed_total counter\nrouted_log_replayed_total %" PRIuFAST64 "\n"
		"# HELP routed_log_cursor_writes_total Writes of the log's cursors.txt (every cursor, one "
		"file, two fsyncs).\n"
		"# TYPE routed_log_cursor_writes_total counter\nrouted_log_cursor_writes_total %" PRIu64 "\n"
		"# HELP routed_log_cursor_file_damaged 1 when cursors.txt was found incomplete at start and "
		"not used (destinations replayed from the oldest cursor kept).\n"
		"# TYPE routed_log_cursor_file_damaged gauge\nrouted_log_cursor_file_damaged %" PRIu64 "\n"
		"# HELP routed_log_next_seq The sequence number the next record will get.\n"
		"# TYPE routed_log_next_seq gauge\nrouted_log_next_seq %" PRIu64 "\n"
		"# HELP routed_events_duplicates_total Events answered 202 without being logged again: "
		"their (source, id) was seen within dedup_window.\n"
		"# TYPE routed_events_duplicates_total counter\nrouted_events_duplicates_total %" PRIuFAST64 "\n"
		"# HELP routed_checkpoints_total State checkpoints written.\n"
		"# TYPE routed_checkpoints_total counter\nrouted_checkpoints_total %" PRIuFAST64 "\n"
		"# HELP routed_checkpoint_errors_total State checkpoints that could not be taken, written or restored.\n"
		"# TYPE routed_checkpoint_errors_total counter\nrouted_checkpoint_errors_total %" PRIuFAST64 "\n",
		st.appends, st.append_errors, st.full_errors + atomic_load(&d->full_refusals), st.batches,
		st.syncs, st.bytes, st.segments, st.segments_deleted, st.torn_tails, st.quarantined,
		st.quarantined_bytes, atomic_load(&d->replayed), st.cursor_stores, st.cursor_files_damaged,
		rd_wal_next_seq(d->wal),
		atomic_load(&d->duplicates), atomic_load(&d->checkpoints), atomic_load(&d->checkpoint_errors));
	rd_buf_puts(o, "# HELP routed_log_cursor The stored cursor of each destination: the next log "
		"record it still needs.\n# TYPE routed_log_cursor gauge\n");
	for (i = 0; i < nlanes(d); i++)
		if (d->cname[i])
			rd_buf_printf(o, "routed_log_cursor{destination=\"%s\"} %" PRIu64 "\n", d->cname[i] + 5,
				d->saved[i]);
	rd_buf_puts(o, "# HELP routed_log_stored_cursors_total Times each destination's cursor was stored "
		"(the cursors that moved in a pass go into one write of cursors.txt; an idle destination's "
		"at most every 10th pass).\n"
		"# TYPE routed_log_stored_cursors_total counter\n");
	for (i = 0; i < nlanes(d); i++)
		if (d->cname[i])
			rd_buf_printf(o, "routed_log_stored_cursors_total{destination=\"%s\"} %" PRIuFAST64 "\n",
				d->cname[i] + 5, atomic_load(&d->stores[i]));
}
