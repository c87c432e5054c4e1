/*
 * http_floor.c -- the floor of bench/http.sh (issue 6; not part of make
 * check): the least a server must do to answer a POST with 202 the way
 * routed promises it, on the same machine, with the same library.
 *
 *   make bench/http_floor && bench/http_floor [--sync always|none] [--threads N] PORT DIR
 *
 * It runs libmicrohttpd with routed's daemon flags and [http] thread count
 * (a pool of epoll threads, MHD_USE_TURBO; without --threads, routed's
 * default: 2, or 1 when it may run on one CPU only), reads each request's body,
 * parks the request (MHD_suspend_connection) and hands the body to one log
 * thread, which appends every body waiting with one writev() to DIR/floor.log,
 * fdatasync()s it (--sync always, routed's default: a group commit), and
 * resumes the requests, which then get a prebuilt 202 {"accepted":1}.
 * With --sync none the log thread writes without syncing, as routed does
 * with `[durability] sync = none`. Nothing else happens: no parsing, no
 * validation, no routing, no queues -- so its requests/s is an upper bound
 * for routed's on this machine, and routed / floor says how much of the
 * gap to nginx is routed's own work. The log is truncated every 64 MiB,
 * so a long run does not fill the disk. Answers: 202 to POST (413 over
 * 1 MiB), 200 to GET (readiness), 405 otherwise. Stops on SIGINT/SIGTERM.
 * Written by hand because it is a measuring instrument, not a product.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BODY_MAX (1u << 20)        /* a larger body is answered 413 */
#define LOG_TRUNCATE (64u << 20)   /* the log starts over past this size */
#define BATCH_MAX 1024             /* bodies per writev (IOV_MAX) */

struct req {                       /* one request, owned by libmicrohttpd's per-request pointer */
	char *body;                /* owns */
	size_t len, cap;
	int parked;                /* handed to the log thread */
	int too_large;
	struct MHD_Connection *conn; /* borrows */
	struct req *next;          /* in the log thread's list */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct req *head, *tail;   /* borrows: parked requests waiting for the log */
	int stop;
	int sync;                  /* fdatasync after each batch */
	int fd;                    /* the log */
	size_t size;               /* bytes in the log */
} lg = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 1, -1, 0 };

static atomic_uint nparked;      /* requests parked and not yet resumed */
static atomic_int stopping;     /* past SIGTERM: answer 503 rather than park */

static struct MHD_Response *accepted;  /* owns: the one 202, queued again and again */
static struct MHD_Response *too_large; /* owns */
static struct MHD_Response *ok;        /* owns */
static struct MHD_Response *not_allowed; /* owns */
static struct MHD_Response *unavailable; /* owns */

static void
die(const char *what)
{
	fprintf(stderr, "http_floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The log thread: write, sync, resume, for every batch of parked requests. */
static void *
log_main(void *arg)
{
	struct iovec iov[BATCH_MAX];
	struct req *batch, *r, *next;
	size_t want;
	ssize_t w;
	int n;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lg.mu);
		while (!lg.head && !lg.stop)
			pthread_cond_wait(&lg.cv, &lg.mu);
		if (!lg.head && lg.stop) {
			pthread_mutex_unlock(&lg.mu);
			return NULL;
		}
		batch = lg.head;
		lg.head = lg.tail = NULL;
		pthread_mutex_unlock(&lg.mu);
		for (r = batch; r;) {
			for (n = 0, want = 0; r && n < BATCH_MAX; r = r->next)
				if (r->len) {
					iov[n].iov_base = r->body;
					iov[n++].iov_len = r->len;
					want += r->len;
				}
			if (n && (w = writev(lg.fd, iov, n)) < 0)
				die("writev");
			/* a short write (a full disk) would answer 202 for bytes not logged */
			if (n && (size_t)w != want) {
				errno = ENOSPC;
				die("writev wrote less than asked");
			}
			if (n)
				lg.size += (size_t)w;
		}
		if (lg.sync && fdatasync(lg.fd) < 0)
			die("fdatasync");
		if (lg.size > LOG_TRUNCATE) {
			if (ftruncate(lg.fd, 0) < 0)
				die("ftruncate");
			lg.size = 0;
		}
		/* a resumed request may complete (and be freed) at once: read next first */
		for (r = batch; r; r = next) {
			next = r->next;
			MHD_resume_connection(r->conn);
			atomic_fetch_sub(&nparked, 1);
		}
	}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	const char *version, const char *data, size_t *size, void **ctx)
{
	struct req *r = *ctx;

	(void)cls;
	(void)url;
	(void)version;
	if (strcmp(method, "GET") == 0)
		return MHD_queue_response(c, MHD_HTTP_OK, ok);
	if (strcmp(method, "POST") != 0)
		return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed);
	if (!r) {
		if (!(r = calloc(1, sizeof *r)))
			return MHD_NO;
		*ctx = r;
		return MHD_YES;
	}
	if (*size) {
		if (r->len + *size > BODY_MAX)
			r->too_large = 1;
		if (!r->too_large && r->len + *size > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			char *p;

			while (cap < r->len + *size)
				cap *= 2;
			if (!(p = realloc(r->body, cap)))
				return MHD_NO;
			r->body = p;
			r->cap = cap;
		}
		if (!r->too_large)
			memcpy(r->body + r->len, data, *size);
		r->len += r->too_large ? 0 : *size;
		*size = 0;
		return MHD_YES;
	}
	if (r->too_large)
		return MHD_queue_response(c, 413, too_large);
	if (r->parked) /* resumed: the body is logged */
		return MHD_queue_response(c, MHD_HTTP_ACCEPTED, accepted);
	/* counted before stopping is read: main() then either sees it or it sees stopping */
	atomic_fetch_add(&nparked, 1);
	if (atomic_load(&stopping)) {
		atomic_fetch_sub(&nparked, 1);
		return MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, unavailable);
	}
	r->parked = 1;
	r->conn = c;
	MHD_suspend_connection(c);
	pthread_mutex_lock(&lg.mu);
	if (lg.tail)
		lg.tail->next = r;
	else
		lg.head = r;
	lg.tail = r;
	pthread_cond_signal(&lg.cv);
	pthread_mutex_unlock(&lg.mu);
	return MHD_YES;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode toe)
{
	struct req *r = *ctx;

	(void)cls;
	(void)c;
	(void)toe;
	if (r) {
		free(r->body);
		free(r);
	}
	*ctx = NULL;
}

static struct MHD_Response *
response(const char *body, const char *ctype)
{
	struct MHD_Response *res = MHD_create_response_from_buffer(strlen(body), (void *)body,
		MHD_RESPMEM_PERSISTENT);

	if (!res || MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
		fprintf(stderr, "http_floor: cannot build a response\n");
		exit(1);
	}
	return res;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: http_floor [--sync always|none] [--threads N] PORT DIR\n"
		"  Answers POSTs on 127.0.0.1:PORT with 202 once their bodies are appended to\n"
		"  DIR/floor.log (and fdatasync'ed with --sync always, the default), using\n"
		"  libmicrohttpd as routed does; the floor of bench/http.sh.\n");
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct MHD_Daemon *d;
	unsigned threads = 2;
	cpu_set_t cpus;
	char path[PATH_MAX];
	pthread_t logger;
	sigset_t sigs;
	int i, sig, port, threads_given = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--sync") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "always") == 0)
				lg.sync = 1;
			else if (strcmp(argv[i], "none") == 0)
				lg.sync = 0;
			else
				break;
		} else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
			threads = (unsigned)atoi(argv[++i]);
			threads_given = 1;
			if (threads < 1 || threads > 256)
				break;
		} else {
			break;
		}
	}
	if (!threads_given && sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) == 1)
		threads = 1; /* as routed's default (service/conf.c) */
	if (argc - i != 2 || (port = atoi(argv[i])) <= 0 || port > 65535) {
		usage(stderr);
		return 2;
	}
	if (snprintf(path, sizeof path, "%s/floor.log", argv[i + 1]) >= (int)sizeof path) {
		fprintf(stderr, "http_floor: directory name too long\n");
		return 2;
	}
	if ((lg.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644)) < 0)
		die(path);
	accepted = response("{\"accepted\":1}", "application/json");
	too_large = response("{\"error\":\"body too large\"}", "application/json");
	ok = response("ok\n", "text/plain");
	not_allowed = response("{\"error\":\"method not allowed\"}", "application/json");
	unavailable = response("{\"error\":\"shutting down\"}", "application/json");
	/* signals are taken by sigwait below, so every other thread blocks them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((errno = pthread_create(&logger, NULL, log_main, NULL)) != 0)
		die("pthread_create");
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* routed's flags (service/http.c rd_http_start) */
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ITC |
		MHD_ALLOW_SUSPEND_RESUME, (uint16_t)port, NULL, NULL, on_request, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, 4096u,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "http_floor: cannot listen on 127.0.0.1:%d\n", port);
		return 1;
	}
	printf("http_floor: listening on 127.0.0.1:%d, %u threads, sync %s\n", port, threads,
		lg.sync ? "always" : "none");
	fflush(stdout);
	sigwait(&sigs, &sig);
	/* libmicrohttpd must not be stopped with a connection suspended: let the log resume all */
	atomic_store(&stopping, 1);
	for (i = 0; i < 5000 && atomic_load(&nparked); i++)
		usleep(1000);
	MHD_stop_daemon(d);
	pthread_mutex_lock(&lg.mu);
	lg.stop = 1;
	pthread_cond_signal(&lg.cv);
	pthread_mutex_unlock(&lg.mu);
	pthread_join(logger, NULL);
	close(lg.fd);
	return 0;
}
