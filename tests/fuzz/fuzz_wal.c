/*
 * fuzz_wal.c -- libFuzzer target: arbitrary bytes as the files of a log
 * directory -> rd_wal_open's recovery, the iterator and the cursors. What
 * wal.h promises after a crash, a torn write or a damaged disk: the log
 * opens whatever a segment or cursors.txt holds, and reads back only whole,
 * checksummed records in order.
 *
 * Input: the bytes before the first "\n--\n" are DIR/cursors.txt (none
 * without the separator), the rest is the segment
 * DIR/00000000000000000001.log. Then, with `sync = none` (no fdatasync: the
 * promise for a process crash is the same) and small limits:
 *   - every record is read from seq 1: seqs strictly increase, no record is
 *     longer than max_record;
 *   - a record is appended, a cursor stored, and the log closed; reopened,
 *     it holds the same records plus the new one, and the cursor;
 *   - a second recovery finds no torn tail (the first truncated it, and the
 *     close wrote the new record whole), and quarantines no more regions than
 *     the first (corrupt regions inside the file stay and are quarantined
 *     again: docs/durability.md; one at the very end was truncated).
 * One directory per process, emptied before each input.
 */
#include "config.h"

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORD 4096

static char dir[512];

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_wal: %s\n", what);
	abort();
}

/* Removes the regular files of path (not the directory). */
static void
empty_dir(const char *path)
{
	char p[512];
	struct dirent *de;
	DIR *d = opendir(path);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		snprintf(p, sizeof p, "%s/%s", path, de->d_name);
		unlink(p);
	}
	closedir(d);
}

static void
put(const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		die("cannot write the input's files");
}

static struct rd_wal *
open_log(void)
{
	struct rd_wal_opts o;
	char err[256];
	struct rd_wal *w;

	rd_wal_opts_default(&o);
	o.sync = RD_WAL_SYNC_NONE;
	o.segment_bytes = 8192;
	o.max_record = MAX_RECORD;
	if (!(w = rd_wal_open(dir, &o, err, sizeof err))) {
		fprintf(stderr, "fuzz_wal: rd_wal_open: %s\n", err);
		abort(); /* it must open whatever the files hold */
	}
	return w;
}

/* Reads every record from seq 1; returns how many, with the last seq. */
static uint64_t
read_all(struct rd_wal *w, uint64_t *last)
{
	struct rd_wal_iter *it = rd_wal_iter_open(w, 1);
	uint64_t n = 0, prev = 0, seq;
	const void *b;
	size_t len;
	int r;

	if (!it)
		die("rd_wal_iter_open failed");
	while ((r = rd_wal_iter_next(it, &seq, &b, &len)) == 1) {
		if (seq <= prev)
			die("records out of order");
		if (len == 0 || len > MAX_RECORD)
			die("a record of a length the log never writes");
		(void)*(const volatile char *)b;
		(void)*((const volatile char *)b + len - 1);
		prev = seq;
		n++;
	}
	rd_wal_iter_free(it);
	*last = prev;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *seg = data;
	size_t seglen = size, i;
	struct rd_wal *w;
	struct rd_wal_stats st;
	uint64_t n1, n2, last1, last2, seq, c, q1;
	char sub[128];

	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");

		/* mkdtemp turns the six X's into a directory of its own */
		snprintf(dir, sizeof dir, "%s/fuzz_wal.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			die("mkdtemp");
	}
	snprintf(sub, sizeof sub, "%s/cursors", dir);
	empty_dir(sub);
	snprintf(sub, sizeof sub, "%s/quarantine", dir);
	empty_dir(sub);
	empty_dir(dir);
	for (i = 0; i + 4 <= size; i++)
		if (memcmp(data + i, "\n--\n", 4) == 0) {
			put("cursors.txt", data, i);
			seg = data + i + 4;
			seglen = size - i - 4;
			break;
		}
	put("00000000000000000001.log", seg, seglen);

	w = open_log();
	rd_wal_stats(w, &st);
	q1 = st.quarantined;
	n1 = read_all(w, &last1);
	if (rd_wal_append(w, "x", 1, &seq) != 0)
		die("an append to a recovered log failed");
	if (seq <= last1)
		die("an appended record's seq not past the recovered ones");
	if (rd_wal_cursor_set(w, "fuzz.cursor", seq) != 0)
		die("a cursor store failed");
	rd_wal_close(w);

	w = open_log();
	rd_wal_stats(w, &st);
	if (st.torn_tails || st.quarantined > q1)
		die("a second recovery found damage the first one did not");
	n2 = read_all(w, &last2);
	if (n2 != n1 + 1 || last2 != seq)
		die("the records read before, and the appended one, are not all there after a reopen");
	if (rd_wal_cursor_get(w, "fuzz.cursor", &c) != 0 || c != seq)
		die("the stored cursor is not there after a reopen");
	rd_wal_close(w);
	return 0;
}
