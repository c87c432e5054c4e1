/*
 * routed.c -- the routed command line: argument parsing and wiring only.
 *
 * Loads the configuration (conf.c) and the rules (a .rbc, or .route sources
 * compiled in-process by compiler/driver.c), starts the pipeline
 * (pipeline.c), the TCP listener (tcp.c, with [tcp] listen) and the HTTP
 * server (http.c), then waits for a signal: SIGHUP reloads the rules
 * (reload.c), SIGTERM or SIGINT stops accepting, drains every queue into the
 * sinks and exits 0; systemd is notified of each (notify.c). With --replay it
 * starts neither server: it feeds the file through the pipeline (replay.c),
 * drains and exits. Otherwise the durable log (durable.c) is opened and
 * replayed into the pipeline before any server starts (start_durable);
 * nothing under the data directory is touched before the configuration and
 * the rules have loaded. main() owns everything it creates and frees it in
 * reverse order.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "durable.h"
#include "http.h"
#ifdef HAVE_KAFKA
#include "kafka.h"
#endif
#ifdef HAVE_RABBITMQ
#include "rabbitmq.h"
#endif
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "pipeline.h"
#include "reload.h"
#include "replay.h"
#include "route.h"
#include "tcp.h"

enum { EXIT_RULES = 1, EXIT_USAGE = 2, EXIT_START = 3 };
#define STOP_WAIT_MS 2000      /* how long requests in progress may take at shutdown */

static const char usage_text[] =
	"Usage: routed [OPTIONS] RULES...\n"
	"       routed --replay FILE|- [OPTIONS] RULES...\n"
	"\n"
	"Route events received over HTTP (and TCP JSON lines, with [tcp] listen, Kafka\n"
	"topics, with [kafka], and a RabbitMQ queue, with [rabbitmq]) to destinations,\n"
	"by the rules in RULES: a compiled .rbc, or one or more .route files (compiled\n"
	"at start).\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE      read the configuration from FILE (see examples/routed.conf)\n"
	"  -d, --data-dir DIR     keep the durable log and built-in queues under DIR\n"
	"                         (overrides [service] data_dir)\n"
	"  -l, --listen ADDR:PORT listen there (overrides [http] listen; default 127.0.0.1:8080;\n"
	"                         port 0 picks a free port, logged at start)\n"
	"      --log-level LEVEL  debug, info, warn or error (overrides [service] log_level)\n"
	"      --check-config     check the configuration and the rules, then exit\n"
	"  -r, --replay FILE|-    route the NDJSON in FILE (- for standard input) through\n"
	"                         the pipeline and the configured sinks, drain, exit: 0 when\n"
	"                         every line was accepted, 1 when some were rejected (each\n"
	"                         reported on stderr as FILE:LINE: rejected: REASON)\n"
	"  -h, --help             show this help\n"
	"  -V, --version          show the version\n"
	"\n"
	"HTTP: POST /events (or each [source NAME]'s path, with its bearer or HMAC\n"
	"authentication), GET /queues/NAME, POST /queues/NAME/ack, GET /metrics,\n"
	"/healthz, /readyz, POST /admin/reload (with [admin] token). TCP: one JSON\n"
	"event per line, each answered 'ok LINE' or 'error LINE REASON'\n"
	"(docs/routed.md). SIGHUP: reload the rules (not the configuration).\n"
	"SIGTERM or SIGINT: drain and exit 0. With NOTIFY_SOCKET set, systemd is\n"
	"told READY=1, RELOADING=1 and STOPPING=1.\n"
	"\n"	"Exit status: 0 success, 1 bad configuration or rules, 2 usage error,\n"
	"3 could not start (address in use, data directory not writable, ...).\n";

/* Replaces *field (owned) with a copy of value. Returns 0 or -1. */
static int
override(char **field, const char *value)
{
	char *dup = strdup(value);

	if (!dup)
		return -1;
	free(*field);
	*field = dup;
	return 0;
}

/*
 * --replay: feeds path ("-": standard input) through the started pipeline,
 * drains it and logs the counts. Returns the exit status: 0, 1 when lines
 * were rejected or reading failed, EXIT_START when the file cannot be opened.
 */
static int
run_replay(struct rd_pipeline *pl, struct rd_metrics *m, const route_prog *p, const struct rd_conf *c,
	const char *path)
{
	struct rd_replay_result res;
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		fprintf(stderr, "routed: %s: %s\n", path, strerror(errno));
		return EXIT_START;
	}
	rd_log_str(RD_LOG_INFO, "replaying", "file", path);
	rc = rd_replay_run(pl, m, p, c, fd, strcmp(path, "-") == 0 ? "(stdin)" : path, stderr, &res);
	if (fd != 0)
		close(fd);
	if (rc < 0) {
		fprintf(stderr, "routed: out of memory\n");
		return EXIT_START;
	}
	rd_pipeline_drain(pl);
	rd_log(rc ? RD_LOG_WARN : RD_LOG_INFO, "replay done", "\"lines\":%" PRIu64 ",\"accepted\":%" PRIu64
		",\"rejected\":%" PRIu64 ",\"matched\":%" PRIuFAST64 ",\"unmatched\":%" PRIuFAST64, res.lines,
		res.accepted, res.rejected, atomic_load(&m->matched), atomic_load(&m->unmatched));
	return rc;
}

/*
 * [service] scheduling: batch puts routed's threads under SCHED_BATCH (the
 * same share of the CPU as normal, but a thread that wakes up does not
 * preempt the one running). On one CPU, each wake-up -- the log's syncer
 * when its fdatasync returns, a worker, a lane -- used to preempt the HTTP
 * thread in the middle of a request: NDJSON batches on one CPU, context
 * switches 13,000 to 2,400 a second and events/s median ratio 1.143 over 8
 * alternating pairs of 5 s runs (every pair above 1.03). auto (the
 * default) chooses batch when routed may run on one CPU only, where every
 * wake-up takes the CPU from another thread of routed; with more CPUs a
 * woken thread usually finds an idle one, and normal keeps the latency.
 */
static void
set_scheduling(const struct rd_conf *c)
{
	struct sched_param sp = { 0 };
	cpu_set_t cpus;
	int batch = c->scheduling == RD_SCHED_BATCH;

	if (c->scheduling == RD_SCHED_AUTO)
		batch = sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) == 1;
	if (!batch)
		return;
	if (sched_setscheduler(0, SCHED_BATCH, &sp) == 0)
		rd_log(RD_LOG_INFO, "scheduling: SCHED_BATCH", "\"why\":\"%s\"",
			c->scheduling == RD_SCHED_AUTO ? "one CPU" : "configured");
	else
		rd_log(RD_LOG_WARN, "scheduling: SCHED_BATCH refused, left as it is", "\"error\":\"%s\"",
			strerror(errno));
}

/*
 * Opens the durable log under the data directory and replays it into the
 * started pipeline (durable.h). Returns 0, or -1 after logging why (the
 * directory cannot be used; never because of a record).
 */
static int
start_durable(struct rd_durable *dur, const struct rd_conf *c, struct rd_pipeline *pl)
{
	char err[512];

	if (rd_durable_start(dur, c, pl, err, sizeof err) < 0) {
		rd_log_str(RD_LOG_ERROR, "cannot open the durable log", "error", err);
		return -1;
	}
	return 0;
}

/* After the pipeline drained: stores the last cursors and checkpoints, closes the log. */
static void
stop_durable(struct rd_durable *dur, struct rd_pipeline *pl)
{
	rd_durable_stop(dur);
	pl->dur = NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "replay", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = NULL, *data_dir = NULL, *listen = NULL, *level = NULL, *replay = NULL;
	int check_only = 0, opt, rc = EXIT_START, sig, lv = -1;
	struct rd_conf conf;
	struct route_options ro;
	route_prog *prog = NULL;
	struct rd_metrics metrics;
	struct rd_pipeline pl;
	struct rd_http http;
	struct rd_tcp tcp;
#ifdef HAVE_KAFKA
	struct rd_kafka_source *ksrc = NULL;
#endif
#ifdef HAVE_RABBITMQ
	struct rd_rabbitmq_source *qsrc = NULL;
#endif
	struct rd_reloader reloader;
	struct rd_durable dur;
	int metrics_ok = 0, pl_ok = 0, tcp_ok = 0, reloader_ok = 0, dur_ok = 0;
	char err[512];
	sigset_t sigs;
	struct rd_buf esc;

	while ((opt = getopt_long(argc, argv, "c:d:l:r:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'l': listen = optarg; break;
		case 'L': level = optarg; break;
		case 'C': check_only = 1; break;
		case 'r': replay = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("routed (routec) %s\n", PACKAGE_VERSION); return 0;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "routed: no RULES given\n%s", usage_text);
		return EXIT_USAGE;
	}
	if (level && (lv = rd_log_level_parse(level)) < 0) {
		fprintf(stderr, "routed: --log-level must be debug, info, warn or error\n");
		return EXIT_USAGE;
	}
	if (rd_conf_init(&conf) < 0) {
		fprintf(stderr, "routed: out of memory\n");
		return EXIT_START;
	}
	if (config && rd_conf_load(&conf, config, stderr) < 0) {
		rc = EXIT_RULES;
		goto out;
	}
	if ((data_dir && override(&conf.data_dir, data_dir) < 0) ||
	    (listen && override(&conf.listen, listen) < 0)) {
		fprintf(stderr, "routed: out of memory\n");
		goto out;
	}
	if (listen) {
		struct sockaddr_storage ss;
		socklen_t sl;
		int v6;
		if (rd_conf_listen_parse(conf.listen, &ss, &sl, &v6) < 0) {
			fprintf(stderr, "routed: --listen must be ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6)\n");
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (lv >= 0)
		conf.log_level = lv;
	rd_log_set_level(conf.log_level);
	rd_conf_route_options(&conf, &ro);
	if (!(prog = rd_rules_load(argv + optind, argc - optind, &ro, stderr))) {
		rc = EXIT_RULES;
		goto out;
	}
	if (rd_conf_check_rules(&conf, prog, stderr) < 0) {
		rc = EXIT_RULES;
		goto out;
	}
	if (check_only) {
		printf("routed: configuration and rules OK: %" PRIu32 " rules, %" PRIu32 " destinations\n",
			route_prog_nrules(prog), route_prog_ndests(prog));
		rc = 0;
		goto out;
	}

	/* every thread started from here inherits the scheduling policy too */
	set_scheduling(&conf);
	/* every thread started from here inherits the mask: only sigwait() sees them
	 * (not with --replay, which nobody sigwaits for: a signal ends it at once) */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (!replay)
		pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (rd_metrics_init(&metrics, prog) < 0) {
		fprintf(stderr, "routed: out of memory\n");
		goto out;
	}
	metrics_ok = 1;
	if (rd_pipeline_start(&pl, &conf, prog, &metrics, err, sizeof err) < 0) {
		rd_log_str(RD_LOG_ERROR, "cannot start the pipeline", "error", err);
		goto out;
	}
	pl_ok = 1;
	rd_reload_init(&reloader, argv + optind, argc - optind, &conf, &pl, &metrics);
	reloader_ok = 1;
	if (replay) {
		rc = run_replay(&pl, &metrics, prog, &conf, replay);
		goto out;
	}
	if (start_durable(&dur, &conf, &pl) < 0)
		goto out;
	dur_ok = 1;
	if (conf.tcp_listen) {
		if (rd_tcp_start(&tcp, &conf, prog, &metrics, &pl, err, sizeof err) < 0) {
			rd_log_str(RD_LOG_ERROR, "cannot start the TCP listener", "error", err);
			goto out;
		}
		tcp_ok = 1;
		rd_log(RD_LOG_INFO, "tcp listening", "\"listen\":\"%s\",\"tcp_port\":%u,\"max_connections\":%u",
			conf.tcp_listen, tcp.port, conf.tcp_max_connections);
	}
#ifdef HAVE_KAFKA
	if (conf.kafka_brokers) {
		if (!(ksrc = rd_kafka_source_start(&conf, prog, &metrics, &pl, err, sizeof err))) {
			rd_log_str(RD_LOG_ERROR, "cannot start the Kafka source", "error", err);
			goto out;
		}
		{
			const char *g = conf.kafka_group ? conf.kafka_group : "routed";
			rd_buf_init(&esc);
			rd_buf_puts(&esc, "\"brokers\":");
			rd_buf_json_str(&esc, conf.kafka_brokers, strlen(conf.kafka_brokers));
			rd_buf_puts(&esc, ",\"topics\":");
			rd_buf_json_str(&esc, conf.kafka_topics, strlen(conf.kafka_topics));
			rd_buf_puts(&esc, ",\"group\":");
			rd_buf_json_str(&esc, g, strlen(g));
			if (!esc.oom)
				rd_log(RD_LOG_INFO, "kafka consuming", "%s", esc.p);
			rd_buf_fini(&esc);
		}
	}
#endif
#ifdef HAVE_RABBITMQ
	if (conf.rabbitmq_url && !(qsrc = rd_rabbitmq_source_start(&conf, prog, &metrics, &pl, err, sizeof err))) {
		rd_log_str(RD_LOG_ERROR, "cannot start the RabbitMQ source", "error", err);
		goto out;
	}
#endif
	if (rd_http_start(&http, &conf, prog, &metrics, &pl, err, sizeof err) < 0) {
		rd_log_str(RD_LOG_ERROR, "cannot start the HTTP server", "error", err);
		goto out;
	}
	if (tcp_ok)
		atomic_store(&http.tcp, &tcp);
#ifdef HAVE_KAFKA
	atomic_store(&http.kafka, ksrc);
#endif
#ifdef HAVE_RABBITMQ
	atomic_store(&http.rabbitmq, qsrc);
#endif
	atomic_store(&http.reloader, &reloader);
	rd_buf_init(&esc);
	rd_buf_json_str(&esc, conf.data_dir, strlen(conf.data_dir));
	rd_log(RD_LOG_INFO, "listening", "\"listen\":\"%s\",\"port\":%u,\"data_dir\":%s,\"rules\":%" PRIu32
		",\"destinations\":%" PRIu32 ",\"workers\":%u,\"pid\":%ld", conf.listen, http.port,
		esc.p ? esc.p : "\"\"", route_prog_nrules(prog), route_prog_ndests(prog), conf.workers,
		(long)getpid());
	rd_buf_fini(&esc);
	if (rd_notify("READY=1\nSTATUS=routing with rules generation 1") < 0)
		rd_log_str(RD_LOG_WARN, "sd_notify failed", "error", strerror(errno));
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			struct rd_buf msg;
			unsigned status;
			/* logged, notified and counted by the reload; the rules in use stay on error */
			rd_buf_init(&msg);
			rd_reload_run(&reloader, "SIGHUP", &msg, &status);
			rd_buf_fini(&msg);
			continue;
		}
		break;
	}
	if (rd_notify("STOPPING=1\nSTATUS=stopping: draining the queues") < 0)
		rd_log_str(RD_LOG_WARN, "sd_notify failed", "error", strerror(errno));
	rd_log(RD_LOG_INFO, "stopping: no new requests, draining the queues", "\"signal\":\"%s\"",
		sig == SIGTERM ? "SIGTERM" : "SIGINT");
	rd_http_stop(&http, STOP_WAIT_MS);
	if (tcp_ok) {
		rd_tcp_stop(&tcp);
		tcp_ok = 0;
	}
#ifdef HAVE_KAFKA
	rd_kafka_source_stop(ksrc);
	ksrc = NULL;
#endif
#ifdef HAVE_RABBITMQ
	rd_rabbitmq_source_stop(qsrc);
	qsrc = NULL;
#endif
	rd_pipeline_drain(&pl);
	stop_durable(&dur, &pl);
	dur_ok = 0;
	rd_log(RD_LOG_INFO, "stopped", "\"received\":%" PRIuFAST64 ",\"accepted\":%" PRIuFAST64
		",\"matched\":%" PRIuFAST64 ",\"unmatched\":%" PRIuFAST64, atomic_load(&metrics.received),
		atomic_load(&metrics.accepted), atomic_load(&metrics.matched), atomic_load(&metrics.unmatched));
	rc = 0;
out:
	if (tcp_ok)
		rd_tcp_stop(&tcp);
#ifdef HAVE_KAFKA
	rd_kafka_source_stop(ksrc);
#endif
#ifdef HAVE_RABBITMQ
	rd_rabbitmq_source_stop(qsrc);
#endif
	if (pl_ok) {
		rd_pipeline_drain(&pl);
		if (dur_ok)
			stop_durable(&dur, &pl);
		rd_pipeline_free(&pl);
	}
	if (metrics_ok)
		rd_metrics_fini(&metrics);
	if (reloader_ok)
		rd_reload_fini(&reloader); /* the programs of reloads, after everything that borrowed them */
	route_prog_free(prog);
	rd_conf_fini(&conf);
	return rc;
}
