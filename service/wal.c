/*
 * wal.c -- the durable log: group commit, segments, recovery, cursors,
 * iterators (wal.h has the format and the contract; docs/durability.md the
 * promises).
 *
 * Invariants (all under w->mu unless said):
 *   - seqs [1, done_seq] are resolved (durable, or failed and recorded in
 *     the failure ring); [pend_first, next_seq) are framed in w->pend, not
 *     yet handed to the syncer; anything between is the batch being written.
 *   - only the syncer thread touches the active segment's fd and w->act_size
 *     (the byte offset after the last complete record); w->durable_size is
 *     the prefix readers may read (published under mu after each batch).
 *   - a failed batch is cut off the file (ftruncate back to act_size) before
 *     any later batch is written, so no partial record stays in front of an
 *     acknowledged one.
 */
#define _GNU_SOURCE
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"

#define FAIL_RING 64 /* failed batches remembered for late-waking appenders */
#define CURSORS_FILE "cursors.txt" /* every cursor (wal.h) */

struct wal_seg {                 /* one segment file (plain values, owned by w->segs) */
	uint64_t first;          /* the sequence in its name */
	uint64_t last;           /* last valid record's seq (first - 1 when none) */
	uint64_t size;           /* bytes readers may read (the active one: durable_size) */
};

struct wal_fail {                /* a failed batch: seqs [lo, hi] not acknowledged */
	uint64_t lo, hi;
	int err;                 /* its errno */
};

struct wal_cursor {              /* an in-memory copy of a cursor of DIR/cursors.txt (owned by w->curs) */
	char name[RD_WAL_CURSOR_NAME_MAX + 1];
	uint64_t seq;
};

struct rd_wal {                  /* owned by the caller of rd_wal_open; owns everything below */
	char *dir;               /* owns: the directory path */
	int dirfd;               /* owns: the directory, for fsync after create/rename/unlink */
	struct rd_wal_opts o;    /* the options, defaults applied */
	pthread_mutex_t mu;      /* guards everything below except act_fd */
	pthread_cond_t work;     /* the syncer waits here for records (or stop) */
	pthread_cond_t done;     /* appenders wait here for done_seq / room */
	pthread_t syncer;        /* owns: the syncer thread */
	int started, stop;       /* syncer running; close asked */
	char *pend;              /* owns: framed records waiting for the syncer */
	size_t pend_len, pend_cap;
	uint64_t pend_first;     /* seq of the first record in pend */
	uint64_t next_seq;       /* seq of the next append */
	uint64_t done_seq;       /* every seq <= done_seq is resolved */
	struct wal_fail fails[FAIL_RING]; /* ring of the last failed batches */
	unsigned nfails;         /* failures recorded (ring index = n % FAIL_RING) */
	uint64_t fail_forgot;    /* seqs <= this fell out of the ring: unknown */
	struct wal_seg *segs;    /* owns: segments, oldest first; the last is active */
	size_t nsegs, capsegs;
	int act_fd;              /* owns: active segment (syncer only after open), -1 if none */
	uint64_t act_size;       /* syncer only: bytes of complete records in it */
	uint64_t durable_size;   /* readable prefix of the active segment */
	int need_truncate;       /* syncer only: a failed cut-off to retry */
	struct timespec last_sync; /* syncer only: RD_WAL_SYNC_BATCH pacing */
	struct rd_wal_waiter *wait_head, *wait_tail; /* borrows: rd_wal_append_async's, in seq order */
	struct wal_cursor *curs; /* owns: the cursors */
	size_t ncurs, capcurs;
	struct rd_wal_stats st;  /* counters */
	pthread_mutex_t store_mu; /* one store of DIR/cursors.txt at a time (taken before mu) */
	int legacy;              /* DIR/cursors/NAME files (one per cursor) were found at open */
};

struct rd_wal_iter {             /* owned by the caller of rd_wal_iter_open */
	struct rd_wal *w;        /* borrows: the log (must outlive the iterator) */
	uint64_t next;           /* the next seq wanted */
	uint64_t seg_first;      /* the segment loaded (0: none) */
	unsigned char *buf;      /* owns: its bytes */
	size_t len, pos;         /* bytes loaded, read position */
	uint64_t prev;           /* seq of the last frame accepted in buf */
};

/* ---- encoding --------------------------------------------------------- */

/* Little-endian stores and loads of the frame header (wal.h); p is borrowed. */
static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The frame CRC: payload_crc (of the payload) extended with len and seq (wal.h). */
static uint32_t
frame_crc(uint32_t payload_crc, const unsigned char *hdr)
{
	uint32_t c = rd_crc32c(payload_crc, hdr, 4);
	return rd_crc32c(c, hdr + 8, 8);
}

/*
 * How far a valid frame's seq may be past the previous one: gaps come only
 * from failed batches, so 2^32 is never reached in practice, and a random
 * header then passes this test with probability 2^-32 before any CRC is
 * computed. Without it, resynchronising through a corrupt 16 MiB segment
 * would checksum megabytes at thousands of offsets.
 */
#define SEQ_WINDOW ((uint64_t)1 << 32)

/*
 * Whether a valid frame starts at b[pos] (b has n bytes): a length in
 * range, the whole frame inside b, prev < seq <= prev + SEQ_WINDOW, and the
 * CRC checks. Sets *flen (frame bytes) and *seq. Borrows b.
 */
static int
frame_ok(const unsigned char *b, size_t n, size_t pos, uint32_t max_record, uint64_t prev,
	size_t *flen, uint64_t *seq)
{
	if (pos > n || n - pos < RD_WAL_HDR)
		return 0;
	uint32_t len = get32(b + pos);
	if (len == 0 || len > max_record || n - pos - RD_WAL_HDR < len)
		return 0;
	uint64_t s = get64(b + pos + 8);
	if (s <= prev || s - prev > SEQ_WINDOW)
		return 0;
	uint32_t c = frame_crc(rd_crc32c(0, b + pos + RD_WAL_HDR, len), b + pos);
	if (c != get32(b + pos + 4))
		return 0;
	*flen = RD_WAL_HDR + (size_t)len;
	*seq = s;
	return 1;
}

/*
 * Resynchronises after a bad frame at pos: the offset of the next valid
 * frame after pos (byte by byte, each plausible header's CRC checked), or n
 * when none. O(n) headers, CRCs only for plausible ones; runs only on
 * corruption.
 */
static size_t
frame_resync(const unsigned char *b, size_t n, size_t pos, uint32_t max_record, uint64_t prev)
{
	size_t fl;
	uint64_t s;
	for (size_t p = pos + 1; p + RD_WAL_HDR <= n; p++)
		if (frame_ok(b, n, p, max_record, prev, &fl, &s))
			return p;
	return n;
}

/* ---- small file helpers ----------------------------------------------- */

/* Writes the segment file name of first ("%020llu.log") into out[0..n). */
static void
seg_name(char *out, size_t n, uint64_t first)
{
	snprintf(out, n, "%020" PRIu64 ".log", first);
}

/* Reads the whole of dirfd/name into a new buffer (the caller owns *out). 0, or -1 (errno). */
static int
read_all(int dirfd, const char *name, unsigned char **out, size_t *outlen, uint64_t limit)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		goto fail;
	size_t n = (size_t)sb.st_size;
	if (limit != UINT64_MAX && n > limit)
		n = (size_t)limit;
	unsigned char *b = malloc(n ? n : 1);
	if (!b)
		goto fail;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(b);
			goto fail;
		}
		if (r == 0)
			break; /* shrank under us: keep what is there */
		got += (size_t)r;
	}
	close(fd);
	*out = b;
	*outlen = got;
	return 0;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Writes all of buf at off; 0, or -1 with errno (a short write is retried until an error). */
static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t r = pwrite(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* Creates dir (and fsyncs its parent) when missing; 0 or -1 (errno). */
static int
mkdir_durable(const char *path)
{
	if (mkdir(path, 0755) < 0)
		return errno == EEXIST ? 0 : -1;
	char *parent = strdup(path);
	if (!parent)
		return -1;
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(parent, ".");
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(parent);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

/* The monotonic clock (pacing of RD_WAL_SYNC_BATCH). */
static void
ts_now(struct timespec *t)
{
	clock_gettime(CLOCK_MONOTONIC, t);
}

/* Now + ms on CLOCK_MONOTONIC, the clock of w->work and w->done (rd_wal_open),
 * so a wall-clock step neither stretches nor cuts a wait. */
static struct timespec
deadline_ms(unsigned ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Appends a segment to w->segs (the caller holds mu, or is rd_wal_open). 0, or -1 on ENOMEM. */
static int
seg_push(struct rd_wal *w, uint64_t first, uint64_t last, uint64_t size)
{
	if (w->nsegs == w->capsegs) {
		size_t cap = w->capsegs ? 2 * w->capsegs : 16;
		struct wal_seg *s = realloc(w->segs, cap * sizeof *s);
		if (!s)
			return -1;
		w->segs = s;
		w->capsegs = cap;
	}
	w->segs[w->nsegs].first = first;
	w->segs[w->nsegs].last = last;
	w->segs[w->nsegs].size = size;
	w->nsegs++;
	return 0;
}

/* ---- recovery ----------------------------------------------------------- */

/* Saves b[0..n) as quarantine/SEG.OFFSET.bad (kept if it exists already); 0 or -1. */
static int
quarantine(struct rd_wal *w, uint64_t seg, size_t off, const unsigned char *b, size_t n)
{
	char name[96];
	snprintf(name, sizeof name, "quarantine/%020" PRIu64 ".%zu.bad", seg, off);
	int fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	int rc = pwrite_all(fd, b, n, 0);
	if (rc == 0)
		rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Scans one segment: counts valid records, quarantines corrupt regions,
 * and for the last segment truncates what follows the last valid frame
 * (a torn tail, or a corrupt last frame, which is quarantined first).
 * *prev is the last seq seen before (updated). Sets *valid_end for the last
 * segment. 0, or -1 on an I/O error reading it.
 */
static int
scan_segment(struct rd_wal *w, uint64_t first, int is_last, uint64_t *prev, uint64_t *last,
	uint64_t *valid_end)
{
	char name[32];
	seg_name(name, sizeof name, first);
	unsigned char *b;
	size_t n;
	if (read_all(w->dirfd, name, &b, &n, UINT64_MAX) < 0)
		return -1;
	size_t pos = 0, end = 0;
	*last = first - 1;
	if (*prev < first - 1)
		*prev = first - 1; /* every record in it is >= its name */
	while (pos < n) {
		size_t fl;
		uint64_t s;
		if (frame_ok(b, n, pos, w->o.max_record, *prev, &fl, &s)) {
			*prev = *last = s;
			w->st.records_recovered++;
			pos += fl;
			end = pos;
			continue;
		}
		size_t nx = frame_resync(b, n, pos, w->o.max_record, *prev);
		if (nx == n && is_last) {
			/* nothing valid follows: a torn tail (header or payload cut by EOF)
			 * is truncated; a complete but bad frame is quarantined first */
			uint32_t len = n - pos >= 4 ? get32(b + pos) : 0;
			int torn = n - pos < RD_WAL_HDR ||
				(len > 0 && len <= w->o.max_record && n - pos - RD_WAL_HDR < len);
			/* zeros are what a crash leaves in blocks allocated but not yet
			 * written (a power cut with `none`): torn too, not corruption */
			size_t z = pos;
			while (z < n && b[z] == 0)
				z++;
			torn = torn || z == n;
			if (torn) {
				w->st.torn_tails++;
				w->st.torn_bytes += n - pos;
			} else {
				quarantine(w, first, pos, b + pos, n - pos);
				w->st.quarantined++;
				w->st.quarantined_bytes += n - pos;
			}
			break;
		}
		quarantine(w, first, pos, b + pos, nx - pos);
		w->st.quarantined++;
		w->st.quarantined_bytes += nx - pos;
		pos = nx;
		end = pos;
	}
	free(b);
	*valid_end = end;
	return 0;
}

/* qsort order of segment first sequences. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists DIR/NNN.log (sorted), scans each, opens the last as active. 0 or -1 (errno, err). */
static int
recover(struct rd_wal *w, char *err, size_t errlen)
{
	DIR *d = opendir(w->dir);
	if (!d) {
		snprintf(err, errlen, "%s: %s", w->dir, strerror(errno));
		return -1;
	}
	uint64_t *firsts = NULL;
	size_t nf = 0, cf = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		if (strlen(s) != 24 || strcmp(s + 20, ".log") != 0 || strspn(s, "0123456789") != 20)
			continue;
		if (nf == cf) {
			cf = cf ? 2 * cf : 16;
			uint64_t *f = realloc(firsts, cf * sizeof *f);
			if (!f) {
				closedir(d);
				free(firsts);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			firsts = f;
		}
		firsts[nf++] = strtoull(s, NULL, 10);
	}
	closedir(d);
	if (nf)
		qsort(firsts, nf, sizeof *firsts, cmp_u64);
	uint64_t prev = 0;
	for (size_t i = 0; i < nf; i++) {
		int is_last = i + 1 == nf;
		uint64_t last, vend;
		if (firsts[i] == 0)
			continue; /* never written (seqs start at 1): not ours */
		if (scan_segment(w, firsts[i], is_last, &prev, &last, &vend) < 0) {
			snprintf(err, errlen, "%s/%020" PRIu64 ".log: %s", w->dir, firsts[i], strerror(errno));
			free(firsts);
			return -1;
		}
		if (seg_push(w, firsts[i], last, vend) < 0) {
			free(firsts);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (is_last) {
			char name[32];
			seg_name(name, sizeof name, firsts[i]);
			w->act_fd = openat(w->dirfd, name, O_RDWR | O_CLOEXEC);
			if (w->act_fd < 0 || ftruncate(w->act_fd, (off_t)vend) < 0 ||
				fdatasync(w->act_fd) < 0) {
				snprintf(err, errlen, "%s/%s: %s", w->dir, name, strerror(errno));
				free(firsts);
				return -1;
			}
			w->act_size = w->durable_size = vend;
		}
	}
	uint64_t top = nf ? firsts[nf - 1] : 1;
	free(firsts);
	w->next_seq = prev + 1 > top ? prev + 1 : top;
	if (w->next_seq == 0)
		w->next_seq = 1;
	w->done_seq = w->next_seq - 1;
	w->pend_first = w->next_seq;
	w->st.segments = w->nsegs;
	return 0;
}

/* ---- cursors ------------------------------------------------------------ */

/* 1 when s is a valid cursor name (wal.h): it is then a safe file name. */
static int
cursor_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= RD_WAL_CURSOR_NAME_MAX && s[0] != '.' &&
		strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The cursor called name, borrowed from w->curs (under mu), or NULL. */
static struct wal_cursor *
cursor_find(struct rd_wal *w, const char *name)
{
	for (size_t i = 0; i < w->ncurs; i++)
		if (strcmp(w->curs[i].name, name) == 0)
			return &w->curs[i];
	return NULL;
}

/* Adds a cursor (under mu, or at open); returns it (borrowed), or NULL on ENOMEM. */
static struct wal_cursor *
cursor_add(struct rd_wal *w, const char *name, uint64_t seq)
{
	if (w->ncurs == w->capcurs) {
		size_t cap = w->capcurs ? 2 * w->capcurs : 8;
		struct wal_cursor *c = realloc(w->curs, cap * sizeof *c);
		if (!c)
			return NULL;
		w->curs = c;
		w->capcurs = cap;
	}
	struct wal_cursor *c = &w->curs[w->ncurs++];
	snprintf(c->name, sizeof c->name, "%s", name);
	c->seq = seq;
	return c;
}

/*
 * Reads DIR/cursors.txt (wal.h) into w->curs, each cursor raised to the
 * higher of its line and what is already there. A file that does not end
 * with its "end COUNT" line is not used at all (counted in
 * st.cursor_files_damaged): with a cursor missing routed replays more, and
 * rename makes a partial file impossible short of disk damage. 0, or -1
 * (errno: ENOMEM, or a read error other than ENOENT).
 */
static int
cursors_file_load(struct rd_wal *w)
{
	unsigned char *b;
	char *txt, *p, *end, *nl, *stop;
	size_t len;
	uint64_t count = 0, v;
	int ok = 0;

	if (read_all(w->dirfd, CURSORS_FILE, &b, &len, UINT64_MAX) < 0)
		return errno == ENOENT ? 0 : -1;
	txt = (char *)b;
	stop = txt + len;
	/* first pass: the file is whole (its last line counts the others; no NUL in it) */
	for (p = txt; !memchr(txt, '\0', len) && (nl = memchr(p, '\n', (size_t)(stop - p))); p = nl + 1) {
		if (nl - p >= 4 && strncmp(p, "end ", 4) == 0) {
			v = strtoull(p + 4, &end, 10);
			ok = end == nl && v == count && nl + 1 == stop;
			break;
		}
		count++;
	}
	for (p = txt; ok && (nl = memchr(p, '\n', (size_t)(stop - p))) && strncmp(p, "end ", 4) != 0;
	     p = nl + 1) {
		char *sp = memchr(p, ' ', (size_t)(nl - p));
		struct wal_cursor *c;
		if (!sp)
			continue;
		*sp = '\0';
		v = strtoull(sp + 1, &end, 10);
		if (end != nl || !cursor_name_ok(p))
			continue; /* not written by rd_wal_cursors_set: skipped */
		if ((c = cursor_find(w, p))) {
			if (c->seq < v)
				c->seq = v;
		} else if (!cursor_add(w, p, v)) {
			free(txt);
			errno = ENOMEM;
			return -1;
		}
	}
	if (!ok)
		w->st.cursor_files_damaged++; /* at open: no other thread yet */
	free(txt);
	return 0;
}

/*
 * Loads the cursors: DIR/cursors/NAME files, one per cursor, as logs
 * written before cursors.txt kept them (their *.tmp leftovers removed),
 * then DIR/cursors.txt. 0 or -1.
 */
static int
cursors_load(struct rd_wal *w)
{
	unlinkat(w->dirfd, CURSORS_FILE ".tmp", 0);
	int cfd = openat(w->dirfd, "cursors", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0)
		return -1;
	DIR *d = fdopendir(cfd);
	if (!d) {
		close(cfd);
		return -1;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		size_t n = strlen(s);
		if (s[0] == '.')
			continue;
		if (n > 4 && strcmp(s + n - 4, ".tmp") == 0) {
			unlinkat(dirfd(d), s, 0);
			continue;
		}
		if (!cursor_name_ok(s))
			continue;
		char txt[32] = {0};
		int fd = openat(dirfd(d), s, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, txt, sizeof txt - 1);
		close(fd);
		char *e;
		if (r <= 0)
			continue;
		uint64_t v = strtoull(txt, &e, 10);
		if (e == txt || *e != '\n')
			continue; /* unreadable: rename makes this impossible short of disk damage */
		if (!cursor_add(w, s, v)) {
			closedir(d);
			errno = ENOMEM;
			return -1;
		}
		w->legacy = 1;
	}
	closedir(d);
	return cursors_file_load(w);
}

/*
 * Writes every cursor -- w->curs, each name of names[0..n) raised to
 * seqs[i] -- to DIR/cursors.txt: temp file, fsync, rename, fsync DIR. Then
 * (only then, so that rd_wal_trim never goes by a cursor a crash could
 * undo) w->curs takes the new values. Under store_mu. 0, or -1 with errno.
 */
static int
cursors_store(struct rd_wal *w, const char *const *names, const uint64_t *seqs, size_t n)
{
	size_t i, j, cap, len = 0, count = 0;
	char *txt;
	int fd, rc = -1, e;

	pthread_mutex_lock(&w->mu);
	cap = (w->ncurs + n + 1) * (RD_WAL_CURSOR_NAME_MAX + 24);
	if (!(txt = malloc(cap))) {
		pthread_mutex_unlock(&w->mu);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < w->ncurs; i++) {
		uint64_t v = w->curs[i].seq;
		for (j = 0; j < n; j++)
			if (strcmp(names[j], w->curs[i].name) == 0 && seqs[j] > v)
				v = seqs[j];
		len += (size_t)snprintf(txt + len, cap - len, "%s %" PRIu64 "\n", w->curs[i].name, v);
		count++;
	}
	for (j = 0; j < n; j++) {
		for (i = 0; i < j && strcmp(names[i], names[j]) != 0; i++)
			;
		if (i == j && !cursor_find(w, names[j])) { /* a new name (the first time in names) */
			uint64_t v = seqs[j];
			for (i = j + 1; i < n; i++)
				if (strcmp(names[i], names[j]) == 0 && seqs[i] > v)
					v = seqs[i];
			len += (size_t)snprintf(txt + len, cap - len, "%s %" PRIu64 "\n", names[j], v);
			count++;
		}
	}
	pthread_mutex_unlock(&w->mu);
	len += (size_t)snprintf(txt + len, cap - len, "end %zu\n", count);
	fd = openat(w->dirfd, CURSORS_FILE ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	if (pwrite_all(fd, txt, len, 0) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlinkat(w->dirfd, CURSORS_FILE ".tmp", 0);
		errno = e;
		goto out;
	}
	close(fd);
	if (renameat(w->dirfd, CURSORS_FILE ".tmp", w->dirfd, CURSORS_FILE) < 0 || fsync(w->dirfd) < 0)
		goto out;
	pthread_mutex_lock(&w->mu);
	for (j = 0; j < n; j++) {
		struct wal_cursor *c = cursor_find(w, names[j]);
		if (!c && !(c = cursor_add(w, names[j], seqs[j]))) {
			pthread_mutex_unlock(&w->mu);
			errno = ENOMEM;
			goto out;
		}
		if (c->seq < seqs[j])
			c->seq = seqs[j];
	}
	w->st.cursor_stores++;
	pthread_mutex_unlock(&w->mu);
	rc = 0;
	if (w->legacy) {
		/* cursors.txt has every cursor now: the older files go (one source for each) */
		for (i = 0; i < w->ncurs; i++) {
			char fin[RD_WAL_CURSOR_NAME_MAX + 16];
			snprintf(fin, sizeof fin, "cursors/%s", w->curs[i].name);
			unlinkat(w->dirfd, fin, 0);
		}
		int cfd = openat(w->dirfd, "cursors", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cfd >= 0) {
			fsync(cfd);
			close(cfd);
		}
		w->legacy = 0;
	}
out:
	free(txt);
	return rc;
}

int
rd_wal_cursors_set(struct rd_wal *w, const char *const *names, const uint64_t *seqs, size_t n)
{
	size_t i, more = 0;

	for (i = 0; i < n; i++)
		if (!cursor_name_ok(names[i])) {
			errno = EINVAL;
			return -1;
		}
	pthread_mutex_lock(&w->store_mu);
	pthread_mutex_lock(&w->mu);
	for (i = 0; i < n && !more; i++) {
		struct wal_cursor *c = cursor_find(w, names[i]);
		more = !c || c->seq < seqs[i];
	}
	pthread_mutex_unlock(&w->mu);
	/* a cursor never moves back: nothing to store when none moves forward */
	int rc = more ? cursors_store(w, names, seqs, n) : 0;
	pthread_mutex_unlock(&w->store_mu);
	return rc;
}

int
rd_wal_cursor_set(struct rd_wal *w, const char *name, uint64_t seq)
{
	return rd_wal_cursors_set(w, &name, &seq, 1);
}

int
rd_wal_cursor_get(struct rd_wal *w, const char *name, uint64_t *seq)
{
	pthread_mutex_lock(&w->mu);
	struct wal_cursor *c = cursor_find(w, name);
	if (c)
		*seq = c->seq;
	pthread_mutex_unlock(&w->mu);
	if (!c)
		errno = ENOENT;
	return c ? 0 : -1;
}

int
rd_wal_cursor_del(struct rd_wal *w, const char *name)
{
	if (!cursor_name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&w->store_mu);
	pthread_mutex_lock(&w->mu);
	struct wal_cursor *c = cursor_find(w, name);
	if (c)
		*c = w->curs[--w->ncurs];
	pthread_mutex_unlock(&w->mu);
	/* cursors.txt without it (and no file of the older layout either) */
	char fin[RD_WAL_CURSOR_NAME_MAX + 16];
	snprintf(fin, sizeof fin, "cursors/%s", name);
	int rc = cursors_store(w, NULL, NULL, 0);
	if (unlinkat(w->dirfd, fin, 0) == 0) {
		int cfd = openat(w->dirfd, "cursors", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cfd >= 0) {
			fsync(cfd);
			close(cfd);
		}
	} else if (errno != ENOENT) {
		rc = -1;
	}
	pthread_mutex_unlock(&w->store_mu);
	return rc;
}

int
rd_wal_trim(struct rd_wal *w)
{
	int deleted = 0;
	for (;;) {
		pthread_mutex_lock(&w->mu);
		if (w->ncurs == 0 || w->nsegs < 2) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		uint64_t min = UINT64_MAX;
		for (size_t i = 0; i < w->ncurs; i++)
			if (w->curs[i].seq < min)
				min = w->curs[i].seq;
		/* segs[0] holds seqs < segs[1].first; it is done when min reaches that */
		if (w->segs[1].first > min) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		uint64_t first = w->segs[0].first;
		memmove(w->segs, w->segs + 1, (w->nsegs - 1) * sizeof *w->segs);
		w->nsegs--;
		w->st.segments = w->nsegs;
		pthread_mutex_unlock(&w->mu);
		char name[32];
		seg_name(name, sizeof name, first);
		if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT)
			return -1;
		deleted++;
	}
	if (deleted && fsync(w->dirfd) < 0)
		return -1;
	pthread_mutex_lock(&w->mu);
	w->st.segments_deleted += (uint64_t)deleted;
	pthread_mutex_unlock(&w->mu);
	return deleted;
}

/* ---- the syncer --------------------------------------------------------- */

/*
 * Opens a new active segment named first (syncer only). The previous one is
 * complete (every batch before was written in full and, unless NONE,
 * synced). 0, or -1 with errno.
 */
static int
roll(struct rd_wal *w, uint64_t first)
{
	char name[32];
	seg_name(name, sizeof name, first);
	/* O_TRUNC: a file with this name can only be an empty leftover of a
	 * roll whose batch failed (seqs are never reused) */
	int fd = openat(w->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (w->o.sync != RD_WAL_SYNC_NONE && fsync(w->dirfd) < 0) {
		int e = errno;
		close(fd);
		unlinkat(w->dirfd, name, 0);
		errno = e;
		return -1;
	}
	pthread_mutex_lock(&w->mu);
	int rc = seg_push(w, first, first - 1, 0);
	if (rc == 0) {
		if (w->act_fd >= 0)
			close(w->act_fd);
		w->act_fd = fd;
		w->act_size = w->durable_size = 0;
		w->st.segments = w->nsegs;
	}
	pthread_mutex_unlock(&w->mu);
	if (rc < 0) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Writes (and syncs) one batch of framed records [first, last]; 0, or -1 with errno. */
static int
write_batch(struct rd_wal *w, const char *buf, size_t len, uint64_t first)
{
	if (w->need_truncate) {
		if (ftruncate(w->act_fd, (off_t)w->act_size) < 0)
			return -1;
		w->need_truncate = 0;
	}
	if (w->act_fd < 0 || (w->act_size > 0 && w->act_size + len > w->o.segment_bytes)) {
		if (roll(w, first) < 0)
			return -1;
	}
	int rc = pwrite_all(w->act_fd, buf, len, w->act_size);
	if (rc == 0 && w->o.sync != RD_WAL_SYNC_NONE) {
		rc = fdatasync(w->act_fd);
		pthread_mutex_lock(&w->mu);
		w->st.syncs++;
		pthread_mutex_unlock(&w->mu);
	}
	if (rc < 0) {
		/* cut the partial batch off: nothing after act_size was acknowledged.
		 * After a failed fdatasync the kernel may have dropped dirty pages
		 * (the "fsyncgate" semantics); earlier batches were synced already,
		 * so only this batch is at stake. The segment is not reopened
		 * (docs/durability.md lists it as a limit). */
		int e = errno;
		if (ftruncate(w->act_fd, (off_t)w->act_size) < 0)
			w->need_truncate = 1;
		errno = e;
		return -1;
	}
	w->act_size += len;
	return 0;
}

/*
 * Calls the asynchronous appenders' waiters up to seq (under mu; drops it
 * meanwhile). Each is unlinked before its call, after which its owner may
 * free it: nothing of it is read again.
 */
static void
call_waiters(struct rd_wal *w, uint64_t seq)
{
	struct rd_wal_waiter *wt;

	while ((wt = w->wait_head) && wt->seq <= seq) {
		void (*fn)(void *) = wt->fn;
		void *arg = wt->arg;
		w->wait_head = wt->next;
		if (!w->wait_head)
			w->wait_tail = NULL;
		pthread_mutex_unlock(&w->mu);
		fn(arg);
		pthread_mutex_lock(&w->mu);
	}
}

/* The syncer thread: takes the pending batch, writes it, answers its appenders. */
static void *
syncer_main(void *arg)
{
	struct rd_wal *w = arg;
	char *spare = NULL;
	size_t spare_cap = 0;

	pthread_setname_np(pthread_self(), "wal-sync"); /* for top -H, perf, /proc */
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->pend_len == 0 && !w->stop) {
			struct timespec dl = deadline_ms(1000);
			pthread_cond_timedwait(&w->work, &w->mu, &dl);
		}
		if (w->pend_len == 0 && w->stop)
			break;
		if (w->o.sync == RD_WAL_SYNC_BATCH && !w->stop) {
			/* pace: at most one sync every batch_ms; the wait is bounded by it */
			struct timespec now;
			ts_now(&now);
			long el = (now.tv_sec - w->last_sync.tv_sec) * 1000L +
				(now.tv_nsec - w->last_sync.tv_nsec) / 1000000L;
			if (el >= 0 && el < (long)w->o.batch_ms) {
				struct timespec dl = deadline_ms(w->o.batch_ms - (unsigned)el);
				pthread_cond_timedwait(&w->work, &w->mu, &dl);
				continue;
			}
		}
		/* swap buffers: appenders keep framing into the other one */
		char *buf = w->pend;
		size_t len = w->pend_len, cap = w->pend_cap;
		uint64_t first = w->pend_first, last = w->next_seq - 1;
		w->pend = spare;
		w->pend_cap = spare_cap;
		w->pend_len = 0;
		w->pend_first = w->next_seq;
		spare = buf;
		spare_cap = cap;
		pthread_cond_broadcast(&w->done); /* room for appenders waiting on max_pending */
		pthread_mutex_unlock(&w->mu);

		int rc = write_batch(w, buf, len, first);
		int e = errno;
		ts_now(&w->last_sync);

		pthread_mutex_lock(&w->mu);
		w->st.batches++;
		if (rc == 0) {
			w->segs[w->nsegs - 1].last = last;
			w->segs[w->nsegs - 1].size = w->durable_size = w->act_size;
			w->st.bytes += len;
		} else {
			struct wal_fail *f = &w->fails[w->nfails % FAIL_RING];
			if (w->nfails >= FAIL_RING && f->hi > w->fail_forgot)
				w->fail_forgot = f->hi;
			f->lo = first;
			f->hi = last;
			f->err = e;
			w->nfails++;
		}
		w->done_seq = last;
		pthread_cond_broadcast(&w->done);
		call_waiters(w, last);
	}
	pthread_mutex_unlock(&w->mu);
	free(spare);
	return NULL;
}

/* ---- open, append, close ---------------------------------------------- */

void
rd_wal_opts_default(struct rd_wal_opts *o)
{
	o->sync = RD_WAL_SYNC_ALWAYS;
	o->batch_ms = 5;
	o->segment_bytes = 16u << 20;
	o->max_record = 4u << 20;
	o->max_pending = 16u << 20;
	o->append_timeout_ms = 30000;
}

struct rd_wal *
rd_wal_open(const char *dir, const struct rd_wal_opts *opts, char *err, size_t errlen)
{
	struct rd_wal *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (opts)
		w->o = *opts;
	else
		rd_wal_opts_default(&w->o);
	if (w->o.max_record == 0 || w->o.max_record > (1u << 30))
		w->o.max_record = 4u << 20;
	if (w->o.segment_bytes < 4096)
		w->o.segment_bytes = 4096;
	if (w->o.max_pending < (size_t)w->o.max_record + RD_WAL_HDR)
		w->o.max_pending = (size_t)w->o.max_record + RD_WAL_HDR;
	if (w->o.append_timeout_ms == 0)
		w->o.append_timeout_ms = 30000;
	w->act_fd = -1;
	w->dirfd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->store_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->work, &ca);
	pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);
	w->dir = strdup(dir);
	if (!w->dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdir_durable(dir) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	/* one process per log: the lock goes with the descriptor, so a killed
	 * owner releases it */
	if (flock(w->dirfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, "%s: %s", dir,
			errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
		goto fail;
	}
	char sub[4096];
	snprintf(sub, sizeof sub, "%s/cursors", dir);
	if (mkdir_durable(sub) < 0) {
		snprintf(err, errlen, "%s: %s", sub, strerror(errno));
		goto fail;
	}
	snprintf(sub, sizeof sub, "%s/quarantine", dir);
	if (mkdir_durable(sub) < 0) {
		snprintf(err, errlen, "%s: %s", sub, strerror(errno));
		goto fail;
	}
	if (recover(w, err, errlen) < 0)
		goto fail;
	if (cursors_load(w) < 0) {
		snprintf(err, errlen, "%s/cursors: %s", dir, strerror(errno));
		goto fail;
	}
	ts_now(&w->last_sync);
	if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0) {
		snprintf(err, errlen, "cannot start the syncer thread");
		goto fail;
	}
	w->started = 1;
	return w;
fail:
	rd_wal_close(w);
	return NULL;
}

void
rd_wal_close(struct rd_wal *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_broadcast(&w->work);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->syncer, NULL);
	}
	if (w->act_fd >= 0)
		close(w->act_fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->store_mu);
	free(w->pend);
	free(w->segs);
	free(w->curs);
	free(w->dir);
	free(w);
}

int
rd_wal_error_is_full(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EFBIG;
}

/* Counts a failed append (under mu). */
static void
count_append_error(struct rd_wal *w, int e)
{
	w->st.append_errors++;
	if (rd_wal_error_is_full(e))
		w->st.full_errors++;
}

/* The outcome of seq once done_seq >= seq: 0 (durable) or an errno (under mu). */
static int
outcome(struct rd_wal *w, uint64_t seq)
{
	unsigned n = w->nfails < FAIL_RING ? w->nfails : FAIL_RING;
	for (unsigned i = 0; i < n; i++) {
		const struct wal_fail *f = &w->fails[i];
		if (seq >= f->lo && seq <= f->hi)
			return f->err ? f->err : EIO;
	}
	/* fell out of the ring: unknown, so not acknowledged (a retry may duplicate it) */
	if (seq <= w->fail_forgot)
		return EIO;
	return 0;
}

int
rd_wal_append(struct rd_wal *w, const void *buf, size_t len, uint64_t *seq)
{
	struct rd_wal_rec r = {buf, len};
	return rd_wal_append_many(w, &r, 1, seq);
}

/*
 * Frames recs[0..n) into the pending batch and wakes the syncer (append
 * and append_async). While max_pending is full it waits until dl, or with
 * dl NULL fails at once (EAGAIN). Returns 0 with *s0, *s1 and mu held, the
 * records framed, or -1 with errno and mu released (their error counted).
 */
static int
frame_records(struct rd_wal *w, const struct rd_wal_rec *recs, size_t n, uint64_t *s0, uint64_t *s1,
	const struct timespec *dl)
{
	uint32_t crc_small[64], *crcs = crc_small;
	size_t flen = 0;
	int e = 0;
	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (recs[i].len == 0 || recs[i].len > w->o.max_record) {
			errno = EMSGSIZE;
			return -1;
		}
		flen += RD_WAL_HDR + recs[i].len;
	}
	if (flen > w->o.max_pending) { /* could never be queued whole */
		errno = EMSGSIZE;
		return -1;
	}
	if (n > 64 && !(crcs = malloc(n * sizeof *crcs))) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++) /* checksums outside the lock */
		crcs[i] = rd_crc32c(0, recs[i].buf, recs[i].len);
	pthread_mutex_lock(&w->mu);
	while (!w->stop && w->pend_len > 0 && w->pend_len + flen > w->o.max_pending) {
		if (!dl) { /* an asynchronous caller does not wait for room */
			e = EAGAIN;
			goto fail;
		}
		if (pthread_cond_timedwait(&w->done, &w->mu, dl) == ETIMEDOUT) {
			e = ETIMEDOUT;
			goto fail;
		}
	}
	if (w->stop) {
		e = ESHUTDOWN;
		goto fail;
	}
	if (w->pend_cap - w->pend_len < flen) {
		size_t cap = w->pend_cap ? w->pend_cap : 64 * 1024;
		while (cap - w->pend_len < flen)
			cap *= 2;
		char *p = realloc(w->pend, cap);
		if (!p) {
			e = ENOMEM;
			goto fail;
		}
		w->pend = p;
		w->pend_cap = cap;
	}
	/* framed in one critical section: the syncer takes all n in one batch,
	 * so they share one outcome */
	*s0 = w->next_seq;
	*s1 = *s0 + n - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char *h = (unsigned char *)w->pend + w->pend_len;
		put32(h, (uint32_t)recs[i].len);
		put64(h + 8, *s0 + i);
		put32(h + 4, frame_crc(crcs[i], h));
		memcpy(h + RD_WAL_HDR, recs[i].buf, recs[i].len);
		w->pend_len += RD_WAL_HDR + recs[i].len;
	}
	w->next_seq = *s1 + 1;
	pthread_cond_signal(&w->work);
	if (crcs != crc_small)
		free(crcs);
	return 0;
fail:
	count_append_error(w, e);
	pthread_mutex_unlock(&w->mu);
	if (crcs != crc_small)
		free(crcs);
	errno = e;
	return -1;
}

int
rd_wal_append_many(struct rd_wal *w, const struct rd_wal_rec *recs, size_t n, uint64_t *first)
{
	struct timespec dl = deadline_ms(w->o.append_timeout_ms);
	uint64_t s0, s1;
	int e = 0;

	if (frame_records(w, recs, n, &s0, &s1, &dl) < 0)
		return -1;
	while (w->done_seq < s1)
		if (pthread_cond_timedwait(&w->done, &w->mu, &dl) == ETIMEDOUT && w->done_seq < s1) {
			e = ETIMEDOUT; /* they may still become durable: at-least-once */
			break;
		}
	if (!e)
		e = outcome(w, s1);
	if (e == 0 && first)
		*first = s0;
	if (e)
		count_append_error(w, e);
	else
		w->st.appends += n;
	pthread_mutex_unlock(&w->mu);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

int
rd_wal_append_async(struct rd_wal *w, const struct rd_wal_rec *recs, size_t n, uint64_t *first,
	uint64_t *last, struct rd_wal_waiter *wt)
{
	uint64_t s0, s1;

	if (frame_records(w, recs, n, &s0, &s1, NULL) < 0)
		return -1;
	wt->next = NULL;
	wt->seq = s1;
	if (w->wait_tail)
		w->wait_tail->next = wt;
	else
		w->wait_head = wt;
	w->wait_tail = wt;
	pthread_mutex_unlock(&w->mu);
	*first = s0;
	*last = s1;
	return 0;
}

unsigned
rd_wal_append_timeout_ms(const struct rd_wal *w)
{
	return w->o.append_timeout_ms;
}

int
rd_wal_outcome(struct rd_wal *w, uint64_t first, uint64_t last)
{
	int e;

	pthread_mutex_lock(&w->mu);
	e = w->done_seq < last ? EAGAIN : outcome(w, last);
	if (e)
		count_append_error(w, e);
	else
		w->st.appends += last - first + 1;
	pthread_mutex_unlock(&w->mu);
	return e;
}

uint64_t
rd_wal_next_seq(struct rd_wal *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t s = w->next_seq;
	pthread_mutex_unlock(&w->mu);
	return s;
}

void
rd_wal_stats(struct rd_wal *w, struct rd_wal_stats *st)
{
	pthread_mutex_lock(&w->mu);
	*st = w->st;
	pthread_mutex_unlock(&w->mu);
}

/* ---- iterators ---------------------------------------------------------- */

struct rd_wal_iter *
rd_wal_iter_open(struct rd_wal *w, uint64_t from)
{
	struct rd_wal_iter *it = calloc(1, sizeof *it);
	if (!it) {
		errno = ENOMEM;
		return NULL;
	}
	it->w = w;
	it->next = from ? from : 1;
	return it;
}

struct rd_wal_iter *
rd_wal_iter_open_cursor(struct rd_wal *w, const char *name)
{
	uint64_t s;
	if (rd_wal_cursor_get(w, name, &s) < 0)
		s = 1;
	return rd_wal_iter_open(w, s);
}

void
rd_wal_iter_free(struct rd_wal_iter *it)
{
	if (!it)
		return;
	free(it->buf);
	free(it);
}

/*
 * Loads the next bytes to read: more of the segment loaded (when it has
 * grown), else the segment holding it->next, else the one after it.
 * Returns 1 when something new was loaded, 0 when there is nothing new now,
 * -1 on error. A segment trimmed in between is looked up again.
 */
static int
iter_load(struct rd_wal_iter *it)
{
	struct rd_wal *w = it->w;
	for (int tries = 0; tries < 64; tries++) {
		pthread_mutex_lock(&w->mu);
		size_t i = 0, n = w->nsegs;
		if (n == 0) {
			pthread_mutex_unlock(&w->mu);
			return 0;
		}
		/* the last segment starting at or before next (or the first), then
		 * past those whose records are all behind next */
		while (i + 1 < n && w->segs[i + 1].first <= it->next)
			i++;
		while (i + 1 < n && w->segs[i].last < it->next)
			i++;
		if (it->seg_first == w->segs[i].first && it->len >= w->segs[i].size) {
			if (i + 1 == n) {
				pthread_mutex_unlock(&w->mu);
				return 0;
			}
			i++;
		}
		uint64_t first = w->segs[i].first, limit = w->segs[i].size;
		uint64_t after = i + 1 < n ? w->segs[i + 1].first : 0; /* 0: i is the active one */
		pthread_mutex_unlock(&w->mu);
		char name[32];
		seg_name(name, sizeof name, first);
		unsigned char *b;
		size_t len;
		if (read_all(w->dirfd, name, &b, &len, limit) < 0) {
			if (errno == ENOENT)
				continue; /* trimmed meanwhile */
			return -1;
		}
		if (it->seg_first == first && len <= it->len) {
			/* the file is shorter than the log says (changed behind our
			 * back): give up on it rather than loop */
			free(b);
			if (!after)
				return 0;
			if (it->next < after)
				it->next = after;
			continue;
		}
		if (it->seg_first != first) {
			it->pos = 0;
			it->prev = first - 1; /* every record in it is >= its name */
		}
		free(it->buf);
		it->buf = b;
		it->len = len;
		it->seg_first = first;
		if (it->pos > len)
			it->pos = len;
		return 1;
	}
	errno = EAGAIN;
	return -1;
}

int
rd_wal_iter_next(struct rd_wal_iter *it, uint64_t *seq, const void **buf, size_t *len)
{
	uint32_t maxr = it->w->o.max_record;
	for (;;) {
		while (it->buf && it->pos < it->len) {
			size_t fl;
			uint64_t s;
			if (!frame_ok(it->buf, it->len, it->pos, maxr, it->prev, &fl, &s)) {
				it->pos = frame_resync(it->buf, it->len, it->pos, maxr, it->prev);
				continue;
			}
			size_t at = it->pos;
			it->pos += fl;
			it->prev = s;
			if (s < it->next)
				continue;
			it->next = s + 1;
			*seq = s;
			*buf = it->buf + at + RD_WAL_HDR;
			*len = fl - RD_WAL_HDR;
			return 1;
		}
		/* each load brings new bytes or a later segment (iter_load), so this ends */
		int r = iter_load(it);
		if (r <= 0)
			return r;
	}
}
