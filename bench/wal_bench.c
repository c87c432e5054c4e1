/*
 * wal_bench.c -- the durable log's micro-benchmark (issue 7; not part of
 * make check): appends per second and p99 append latency of 1 KiB records
 * with the sync policy `always` (group commit + fdatasync) and `none` (no
 * fsync), with 1, 8 and 64 appending threads, one record per call, and 8
 * threads appending 32 records per call (rd_wal_append_many: an NDJSON
 * request's shape); latency is per call; each cell is the median of REPS
 * runs of SECONDS each, on a fresh log directory under DIR.
 *
 *   make bench/wal_bench && bench/wal_bench [DIR [SECONDS [REPS]]]
 *
 * DIR defaults to $TMPDIR or /tmp: put it on the disk routed's data
 * directory will use, since fdatasync cost is the whole story.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wal.h"

#define MAX_SAMPLES (1u << 18) /* per thread: latencies kept (the rest only counted) */

struct worker {                /* one appending thread */
	struct rd_wal *w;      /* borrows */
	double stop_at;        /* monotonic seconds */
	int per_call;          /* records per append call */
	uint64_t n;            /* appends done */
	uint64_t nlat;         /* latencies kept */
	double *lat;           /* owns: latencies in microseconds */
};

static double
now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *
worker_main(void *p)
{
	struct worker *k = p;
	static char rec[1024];
	struct rd_wal_rec r[32];
	memset(rec, 'b', sizeof rec);
	for (int i = 0; i < 32; i++)
		r[i] = (struct rd_wal_rec){rec, sizeof rec};
	for (;;) {
		double t0 = now_s();
		if (t0 >= k->stop_at)
			break;
		if (rd_wal_append_many(k->w, r, (size_t)k->per_call, NULL) < 0) {
			perror("rd_wal_append_many");
			exit(1);
		}
		double t1 = now_s();
		if (k->nlat < MAX_SAMPLES)
			k->lat[k->nlat++] = (t1 - t0) * 1e6;
		k->n += (uint64_t)k->per_call;
	}
	return NULL;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One run: returns appends/s, sets *p99 (us) and *syncs_s. */
static double
run(const char *base, enum rd_wal_sync pol, int nthreads, int per_call, double secs, double *p99,
	double *syncs_s)
{
	static int nrun;
	char dir[512], err[256], cmd[600];
	snprintf(dir, sizeof dir, "%s/wal_bench.%d.%d", base, (int)getpid(), nrun++);
	struct rd_wal_opts o;
	rd_wal_opts_default(&o);
	o.sync = pol;
	o.segment_bytes = 64u << 20;
	struct rd_wal *w = rd_wal_open(dir, &o, err, sizeof err);
	if (!w) {
		fprintf(stderr, "rd_wal_open: %s\n", err);
		exit(1);
	}
	struct worker k[64];
	pthread_t th[64];
	double t0 = now_s();
	for (int i = 0; i < nthreads; i++) {
		k[i] = (struct worker){w, t0 + secs, per_call, 0, 0, malloc(MAX_SAMPLES * sizeof(double))};
		if (!k[i].lat || pthread_create(&th[i], NULL, worker_main, &k[i]) != 0)
			exit(1);
	}
	uint64_t n = 0, nlat = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		n += k[i].n;
		nlat += k[i].nlat;
	}
	double el = now_s() - t0;
	struct rd_wal_stats st;
	rd_wal_stats(w, &st);
	rd_wal_close(w);
	double *all = malloc((nlat ? nlat : 1) * sizeof(double));
	if (!all)
		exit(1);
	uint64_t j = 0;
	for (int i = 0; i < nthreads; i++) {
		memcpy(all + j, k[i].lat, k[i].nlat * sizeof(double));
		j += k[i].nlat;
		free(k[i].lat);
	}
	qsort(all, nlat, sizeof(double), cmp_d);
	*p99 = nlat ? all[(size_t)((double)(nlat - 1) * 0.99)] : 0;
	free(all);
	*syncs_s = (double)st.syncs / el;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return (double)n / el;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return v[n / 2];
}

int
main(int argc, char **argv)
{
	const char *t = getenv("TMPDIR");
	const char *base = argc > 1 ? argv[1] : (t && *t ? t : "/tmp");
	double secs = argc > 2 ? atof(argv[2]) : 2.0;
	int reps = argc > 3 ? atoi(argv[3]) : 3;
	if (reps < 1 || reps > 15 || secs <= 0) {
		fprintf(stderr, "usage: wal_bench [DIR [SECONDS [REPS<=15]]]\n");
		return 2;
	}
	int threads[4] = {1, 8, 64, 8}, per_call[4] = {1, 1, 1, 32};
	printf("wal_bench: 1 KiB records, %s, %.1f s x %d runs per cell (medians)\n", base, secs, reps);
	printf("%-8s %7s %8s %12s %14s %10s\n", "policy", "threads", "recs/call", "records/s", "p99 us/call",
		"fsync/s");
	for (int ti = 0; ti < 4; ti++) {
		double thr[2] = {0, 0};
		for (int pi = 0; pi < 2; pi++) {
			enum rd_wal_sync pol = pi == 0 ? RD_WAL_SYNC_ALWAYS : RD_WAL_SYNC_NONE;
			double a[15], p[15], s[15];
			for (int r = 0; r < reps; r++)
				a[r] = run(base, pol, threads[ti], per_call[ti], secs, &p[r], &s[r]);
			thr[pi] = median(a, reps);
			printf("%-8s %7d %8d %12.0f %14.1f %10.0f\n", pi == 0 ? "always" : "none", threads[ti],
				per_call[ti], thr[pi], median(p, reps), median(s, reps));
		}
		printf("%-8s %7d %8d %12.3f   (always / none throughput)\n", "ratio", threads[ti], per_call[ti],
			thr[0] / thr[1]);
	}
	return 0;
}
