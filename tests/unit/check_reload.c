/*
 * check_reload.c -- unit tests of routed's hot reload and systemd
 * notifications (service/reload.c, notify.c, the generation swap in
 * pipeline.c, the metric slots by name in metrics.c), without HTTP: the
 * sd_notify datagrams on a path and an abstract socket; metric slots kept
 * by name and bounded; a swap that maps destinations by name (a new one gets
 * a lane, a removed one drains and comes back), carries the state of an
 * unchanged temporal rule and drops a changed one; the refusals (stateful
 * rules on several shards, rules that do not compile: FILE:LINE:COL).
 * Under load and through the real process: tests/routed/run-reload.sh.
 *
 * Files go to a fresh directory under $TMPDIR (default /tmp), removed at the end.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "conf.h"
#include "driver.h"
#include "metrics.h"
#include "notify.h"
#include "pipeline.h"
#include "reload.h"
#include "route.h"

#include "tmpdir.h"

/* Version A and B of a rule set: B drops destination a for b, keeps `keep`. */
static const char src_a[] =
	"event t.ev v1 { n: number }\n"
	"destination a\ndestination keep\n"
	"rule to_a on t.ev route a\n"
	"rule all on t.ev route keep\n";
static const char src_b[] =
	"event t.ev v1 { n: number }\n"
	"destination keep\ndestination b\n"
	"rule to_b on t.ev route b\n"
	"rule all on t.ev route keep\n";
/* Stateful: `steady` is the same in both, `moved` changes its window. */
static const char src_s1[] =
	"event t.tick v1 { n: number }\n"
	"destination steady_out\ndestination moved_out\n"
	"rule steady on t.tick when count() >= 4 within 10m route steady_out\n"
	"rule moved on t.tick when count() >= 4 within 10m route moved_out\n";
static const char src_s2[] =
	"event t.tick v1 { n: number }\n"
	"destination steady_out\ndestination moved_out\n"
	"rule steady on t.tick when count() >= 4 within 10m route steady_out\n"
	"rule moved on t.tick when count() >= 4 within 20m route moved_out\n";

/* Compiles src and loads it. Caller frees. */
static route_prog *
load_src(const char *src)
{
	struct rc_options o;
	unsigned char *rbc = NULL;
	size_t len = 0;
	char err[256];
	route_prog *p;

	rc_options_default(&o);
	o.diag = stderr;
	ck_assert_int_eq(rc_compile_string("t.route", src, strlen(src), &o, &rbc, &len, NULL), RC_EXIT_OK);
	p = route_prog_load(rbc, len, NULL, err, sizeof err);
	ru_free(rbc);
	ck_assert_msg(p != NULL, "%s", err);
	return p;
}

/* Writes text to TMPDIR/name; returns the path (static buffer). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* A configuration with data_dir TMPDIR/sub and extra lines. */
static void
make_conf(struct rd_conf *c, const char *sub, const char *extra)
{
	char text[512], *msgs = NULL;
	size_t n = 0;
	FILE *err = open_memstream(&msgs, &n);

	snprintf(text, sizeof text, "[service]\ndata_dir = %s/%s\n%s", tmpdir, sub, extra);
	ck_assert_int_eq(rd_conf_init(c), 0);
	ck_assert_msg(rd_conf_load(c, write_file("t.conf", text), err) == 0, "config refused");
	fclose(err);
	free(msgs);
}

/* Submits count events of type type with n = first, first + 1, ... */
static void
submit(struct rd_pipeline *pl, const char *type, unsigned first, unsigned count)
{
	char buf[128];
	struct rd_event_ref r;
	unsigned i;

	memset(&r, 0, sizeof r);
	for (i = 0; i < count; i++) {
		snprintf(buf, sizeof buf, "{\"event_type\":\"%s\",\"n\":%u}", type, first + i);
		r.p = buf;
		r.len = strlen(buf);
		ck_assert_int_eq(rd_pipeline_submit(pl, &r, 1, NULL), 0);
	}
}

/* The n values in queue `name`'s file under TMPDIR/sub, as "1,2,3" (static buffer). */
static const char *
queue_ns(const char *sub, const char *name)
{
	static char out[4096];
	char path[512], line[256];
	size_t len = 0;
	FILE *f;

	out[0] = '\0';
	snprintf(path, sizeof path, "%s/%s/queues/%s/messages.ndjson", tmpdir, sub, name);
	if (!(f = fopen(path, "r")))
		return out;
	while (fgets(line, sizeof line, f) && len < sizeof out - 16) {
		const char *p = strstr(line, "\"n\":");
		unsigned v;
		if (p && sscanf(p, "\"n\":%u", &v) == 1)
			len += (size_t)snprintf(out + len, sizeof out - len, "%s%u", len ? "," : "", v);
	}
	fclose(f);
	return out;
}

/* Waits (5 s at most) until the workers have matched `count` events in all. */
static void
wait_routed(struct rd_metrics *m, uint64_t count)
{
	int i;

	for (i = 0; i < 5000; i++) {
		if (atomic_load(&m->matched) + atomic_load(&m->unmatched) >= count)
			return;
		usleep(1000);
	}
	ck_abort_msg("events not routed within 5 s");
}

/* A bound datagram socket; name "@x" is abstract. Returns the fd. */
static int
dgram_bind(const char *name)
{
	struct sockaddr_un sa;
	struct timeval tv = { 2, 0 };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '@' ? 0 : 1))), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void
recv_str(int fd, char *buf, size_t cap)
{
	ssize_t n = recv(fd, buf, cap - 1, 0);

	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
}

START_TEST(test_notify_path_and_abstract)
{
	char path[300], abs_name[64], buf[512];
	unsigned long long usec;
	struct timespec ts;
	int fd;

	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(rd_notify("READY=1"), 0); /* not under systemd: nothing sent */

	snprintf(path, sizeof path, "%s/notify.sock", tmpdir);
	fd = dgram_bind(path);
	setenv("NOTIFY_SOCKET", path, 1);
	ck_assert_int_eq(rd_notify("READY=1\nSTATUS=up"), 1);
	recv_str(fd, buf, sizeof buf);
	ck_assert_str_eq(buf, "READY=1\nSTATUS=up");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ck_assert_int_eq(rd_notify_reloading("reloading"), 1);
	recv_str(fd, buf, sizeof buf);
	ck_assert_int_eq(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu\n", &usec), 1);
	/* CLOCK_MONOTONIC in microseconds, taken within the last second */
	ck_assert_uint_ge(usec, (unsigned long long)ts.tv_sec * 1000000ull);
	ck_assert_uint_le(usec, (unsigned long long)ts.tv_sec * 1000000ull + 2000000ull);
	ck_assert_ptr_nonnull(strstr(buf, "\nSTATUS=reloading"));
	close(fd);

	snprintf(abs_name, sizeof abs_name, "@check-reload-%ld", (long)getpid());
	fd = dgram_bind(abs_name);
	setenv("NOTIFY_SOCKET", abs_name, 1);
	ck_assert_int_eq(rd_notify("STOPPING=1"), 1);
	recv_str(fd, buf, sizeof buf);
	ck_assert_str_eq(buf, "STOPPING=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	ck_assert_int_eq(rd_notify("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_metric_slots_by_name)
{
	struct rd_metrics m;
	route_prog *p = load_src(src_a);
	struct rd_buf b;
	char name[32];
	int i;

	ck_assert_int_eq(rd_metrics_init(&m, p), 0);
	/* the first program's order */
	ck_assert_int_eq(rd_metrics_dest_slot(&m, "a", 1), 0);
	ck_assert_int_eq(rd_metrics_dest_slot(&m, "keep", 4), 1);
	ck_assert_int_eq(rd_metrics_rule_slot(&m, "all", 3), 1);
	/* a new name gets the next slot, once */
	ck_assert_int_eq(rd_metrics_dest_slot(&m, "b", 1), 2);
	ck_assert_int_eq(rd_metrics_dest_slot(&m, "b", 1), 2);
	ck_assert_int_eq(rd_metrics_rule_slot(&m, "to_b", 4), 2);
	rd_count(&m.deliveries[2], 7);
	rd_buf_init(&b);
	rd_metrics_render(&m, &b);
	ck_assert_ptr_nonnull(strstr(b.p, "routed_deliveries_total{destination=\"b\"} 7\n"));
	ck_assert_ptr_nonnull(strstr(b.p, "routed_rule_matches_total{rule=\"to_b\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(b.p, "routed_rules_generation 1\n"));
	ck_assert_ptr_nonnull(strstr(b.p, "routed_reloads_total{result=\"error\"} 0\n"));
	rd_buf_fini(&b);
	/* bounded: RD_METRICS_SPARE_DESTS new names in all */
	for (i = 1; i < RD_METRICS_SPARE_DESTS; i++) {
		snprintf(name, sizeof name, "d%d", i);
		ck_assert_int_eq(rd_metrics_dest_slot(&m, name, strlen(name)), 2 + i);
	}
	ck_assert_int_eq(rd_metrics_dest_slot(&m, "one_too_many", 12), -1);
	ck_assert_int_eq(rd_metrics_dest_slot(&m, "a", 1), 0); /* known names still map */
	rd_metrics_fini(&m);
	route_prog_free(p);
}
END_TEST

START_TEST(test_swap_maps_destinations_by_name)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_swap_report rep;
	route_prog *pa = load_src(src_a), *pb = load_src(src_b), *pa2 = load_src(src_a);
	char err[256];

	make_conf(&c, "swap", "[pipeline]\nworkers = 3\n");
	ck_assert_int_eq(rd_metrics_init(&m, pa), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, pa, &m, err, sizeof err) == 0, "%s", err);
	submit(&pl, "t.ev", 1, 5);
	wait_routed(&m, 5);
	ck_assert_msg(rd_pipeline_swap(&pl, pb, 5000, &rep, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(rep.gen, 2);
	ck_assert_int_eq(rep.switched, 1);
	ck_assert_uint_eq(rep.lanes_opened, 1);  /* b */
	ck_assert_uint_eq(rep.lanes_retired, 1); /* a */
	ck_assert_ptr_eq(rd_pipeline_prog(&pl), pb);
	ck_assert_int_eq(atomic_load(&pl.lanes[0].retired), 1);
	submit(&pl, "t.ev", 6, 5);
	wait_routed(&m, 10);
	/* back to A: a is named again, its lane revived; b retired */
	ck_assert_msg(rd_pipeline_swap(&pl, pa2, 5000, &rep, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(rep.gen, 3);
	ck_assert_uint_eq(rep.lanes_opened, 1);
	ck_assert_uint_eq(rep.lanes_retired, 1);
	ck_assert_int_eq(atomic_load(&pl.lanes[0].retired), 0);
	ck_assert_uint_eq(pl.nlanes, 3);
	submit(&pl, "t.ev", 11, 2);
	rd_pipeline_drain(&pl);
	/* per-destination counters by name: a (slot 0), keep (1), b (2) */
	ck_assert_uint_eq(atomic_load(&m.deliveries[0]), 7);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 12);
	ck_assert_uint_eq(atomic_load(&m.deliveries[2]), 5);
	ck_assert_uint_eq(atomic_load(&m.rule_matches[1]), 12); /* `all`, in every version */
	ck_assert_uint_eq(atomic_load(&m.rule_matches[2]), 5);  /* to_b */
	ck_assert_str_eq(queue_ns("swap", "b"), "6,7,8,9,10");
	ck_assert_uint_eq(strlen(queue_ns("swap", "keep")), strlen("1,2,3,4,5,6,7,8,9,10,11,12"));
	/* a's events, in some order across the 3 shards: 1-5 and 11-12 */
	ck_assert_uint_eq(strlen(queue_ns("swap", "a")), strlen("1,2,3,4,5,11,12"));
	ck_assert_ptr_null(strstr(queue_ns("swap", "a"), "6"));
	ck_assert_uint_eq(atomic_load(&pl.budget.used_view), 0);
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	rd_conf_fini(&c);
	route_prog_free(pa);
	route_prog_free(pb);
	route_prog_free(pa2);
}
END_TEST

START_TEST(test_swap_carries_state_of_unchanged_rules)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_swap_report rep;
	route_prog *p1 = load_src(src_s1), *p2 = load_src(src_s2);
	char err[256];

	make_conf(&c, "state", "");
	ck_assert_int_eq(rd_metrics_init(&m, p1), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, p1, &m, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(pl.nshards, c.workers); /* the windows have no key: their events go to shard 0 */
	submit(&pl, "t.tick", 1, 3);
	wait_routed(&m, 3);
	ck_assert_msg(rd_pipeline_swap(&pl, p2, 5000, &rep, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(rep.switched, 1);
	ck_assert_uint_eq(rep.carried.rules, 1);
	ck_assert_uint_eq(rep.carried.rules_dropped, 1);
	submit(&pl, "t.tick", 4, 4);
	rd_pipeline_drain(&pl);
	/* steady counted on: it fires from the 4th tick; moved restarted: its 4th is tick 7 */
	ck_assert_str_eq(queue_ns("state", "steady_out"), "4,5,6,7");
	ck_assert_str_eq(queue_ns("state", "moved_out"), "7");
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	rd_conf_fini(&c);
	route_prog_free(p1);
	route_prog_free(p2);
}
END_TEST

START_TEST(test_swap_to_state_on_many_shards)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_swap_report rep;
	route_prog *pa = load_src(src_a), *ps = load_src(src_s1);
	char err[256];

	make_conf(&c, "many", "[pipeline]\nworkers = 2\n");
	ck_assert_int_eq(rd_metrics_init(&m, pa), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, pa, &m, err, sizeof err) == 0, "%s", err);
	/* rules without state on 2 shards, then rules with state: each shard gets its part */
	ck_assert_msg(rd_pipeline_swap(&pl, ps, 5000, &rep, err, sizeof err) == 0, "%s", err);
	ck_assert_ptr_eq(rd_pipeline_prog(&pl), ps);
	submit(&pl, "t.tick", 1, 5);
	rd_pipeline_drain(&pl);
	ck_assert_str_eq(queue_ns("many", "steady_out"), "4,5");
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	rd_conf_fini(&c);
	route_prog_free(pa);
	route_prog_free(ps);
}
END_TEST

START_TEST(test_reload_run_keeps_rules_on_error)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_reloader r;
	struct rd_buf msg;
	route_prog *pa = load_src(src_a);
	char err[256], path[512];
	char *paths[1];
	unsigned status = 0;

	unsetenv("NOTIFY_SOCKET");
	snprintf(path, sizeof path, "%s", write_file("r.route", src_a));
	paths[0] = path;
	make_conf(&c, "run", "");
	ck_assert_int_eq(rd_metrics_init(&m, pa), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, pa, &m, err, sizeof err) == 0, "%s", err);
	rd_reload_init(&r, paths, 1, &c, &pl, &m);

	/* a rule routing to an undeclared destination (line 3, column 22) */
	write_file("r.route", "event t.ev v1 { n: number }\ndestination a\nrule x on t.ev route nowhere\n");
	rd_buf_init(&msg);
	ck_assert_int_eq(rd_reload_run(&r, "test", &msg, &status), -1);
	ck_assert_uint_eq(status, 422);
	ck_assert_msg(msg.p && strstr(msg.p, "r.route:3:22: error: unknown destination 'nowhere'"), "%s",
		msg.p ? msg.p : "");
	ck_assert_ptr_nonnull(strstr(msg.p, "^~~~~~~"));
	rd_buf_fini(&msg);
	ck_assert_ptr_eq(rd_pipeline_prog(&pl), pa);
	ck_assert_uint_eq(atomic_load(&m.reloads_error), 1);
	ck_assert_uint_eq(atomic_load(&m.generation), 1);

	/* a configured destination the new rules do not declare: refused the same way */
	rd_conf_fini(&c);
	make_conf(&c, "run", "[destination keep]\nsink = stdout\n");
	write_file("r.route", src_b);
	rd_buf_init(&msg);
	ck_assert_int_eq(rd_reload_run(&r, "test", &msg, &status), 0); /* keep is declared by B */
	rd_buf_fini(&msg);
	write_file("r.route", "event t.ev v1 { n: number }\ndestination z\nrule x on t.ev route z\n");
	rd_buf_init(&msg);
	ck_assert_int_eq(rd_reload_run(&r, "test", &msg, &status), -1);
	ck_assert_uint_eq(status, 422);
	ck_assert_msg(msg.p && strstr(msg.p, "keep"), "%s", msg.p ? msg.p : "");
	rd_buf_fini(&msg);

	/* valid rules: generation 3 (the B reload above was 2) */
	write_file("r.route", src_a);
	rd_buf_init(&msg);
	ck_assert_int_eq(rd_reload_run(&r, "test", &msg, &status), 0);
	ck_assert_uint_eq(status, 200);
	ck_assert_ptr_nonnull(strstr(msg.p, "\"generation\":3"));
	rd_buf_fini(&msg);
	ck_assert_uint_eq(atomic_load(&m.generation), 3);
	ck_assert_uint_eq(atomic_load(&m.reloads_ok), 2);
	ck_assert_uint_eq(atomic_load(&m.reloads_error), 2);
	rd_pipeline_drain(&pl);
	rd_pipeline_free(&pl);
	rd_reload_fini(&r);
	rd_metrics_fini(&m);
	rd_conf_fini(&c);
	route_prog_free(pa);
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_notify_path_and_abstract);
	tcase_add_test(tc, test_metric_slots_by_name);
	tcase_add_test(tc, test_swap_maps_destinations_by_name);
	tcase_add_test(tc, test_swap_carries_state_of_unchanged_rules);
	tcase_add_test(tc, test_swap_to_state_on_many_shards);
	tcase_add_test(tc, test_reload_run_keeps_rules_on_error);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tmpdir_run("check_reload", reload_suite(), NULL);
}
