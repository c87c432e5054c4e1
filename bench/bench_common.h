/*
 * bench_common.h -- what the matching benchmark's programs share (bench/run.sh):
 * the events file memory-mapped and split into lines, CPU pinning, the clock,
 * peak RSS and the result line. Header-only; C and C++.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct bench_events {
	const char *base;    /* the mapped file */
	size_t size;
	size_t n;            /* lines (events) used */
	size_t *off;         /* start of each line */
	uint32_t *len;       /* its length, without the newline */
};

static inline void
bench_die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(3);
}

/* Maps PATH read-only and indexes its first LIMIT lines (0: all). */
static inline void
bench_map(struct bench_events *ev, const char *path, size_t limit)
{
	struct stat st;
	size_t cap = 1024, i;
	const char *p, *end, *nl;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) != 0)
		bench_die(path);
	ev->size = (size_t)st.st_size;
	ev->base = (const char *)mmap(NULL, ev->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (ev->base == MAP_FAILED)
		bench_die("mmap");
	close(fd);
	madvise((void *)ev->base, ev->size, MADV_WILLNEED);
	ev->off = (size_t *)malloc(cap * sizeof *ev->off);
	ev->len = (uint32_t *)malloc(cap * sizeof *ev->len);
	ev->n = 0;
	for (p = ev->base, end = ev->base + ev->size; p < end && (limit == 0 || ev->n < limit); p = nl + 1) {
		nl = (const char *)memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl == p)
			continue;
		if (ev->n == cap) {
			cap *= 2;
			ev->off = (size_t *)realloc(ev->off, cap * sizeof *ev->off);
			ev->len = (uint32_t *)realloc(ev->len, cap * sizeof *ev->len);
			if (!ev->off || !ev->len)
				bench_die("realloc");
		}
		ev->off[ev->n] = (size_t)(p - ev->base);
		ev->len[ev->n] = (uint32_t)(nl - p);
		ev->n++;
	}
	/* touch every page once, so the first pass does not pay the faults */
	{
		size_t used = ev->n ? ev->off[ev->n - 1] + ev->len[ev->n - 1] : 0;

		for (i = 0; i < used; i += 4096)
			(void)*(volatile const char *)(ev->base + i);
	}
}

/* Pins the calling thread to CPU (-1: the last CPU this process may use). */
static inline int
bench_pin(int cpu)
{
	cpu_set_t set;
	int c;

	if (cpu < 0) {
		if (sched_getaffinity(0, sizeof set, &set) != 0)
			return -1;
		for (c = CPU_SETSIZE - 1; c >= 0; c--)
			if (CPU_ISSET(c, &set))
				break;
		cpu = c;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		bench_die("sched_setaffinity");
	return cpu;
}

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline long
bench_peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Prints the common part of the RESULT line from the passes' events/s. */
static inline void
bench_report(const char *engine, size_t nevents, double *eps, int passes, unsigned long long checksum,
	int stable, unsigned long long hits, int cpu)
{
	double med;

	qsort(eps, (size_t)passes, sizeof *eps, bench_cmp_double);
	med = passes % 2 ? eps[passes / 2] : (eps[passes / 2 - 1] + eps[passes / 2]) / 2;
	printf("RESULT engine=%s events=%zu passes=%d median_eps=%.0f min_eps=%.0f max_eps=%.0f "
		"checksum=%llu checksum_stable=%d hits=%llu cpu=%d rss_peak_kb=%ld",
		engine, nevents, passes, med, eps[0], eps[passes - 1], checksum, stable, hits, cpu,
		bench_peak_rss_kb());
}

#endif
