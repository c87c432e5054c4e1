/*
 * check_routed.c -- unit tests of routed's modules (service/), without
 * HTTP: the config parser and its messages, body splitting and CloudEvents
 * binary mode, the JSON boundary helpers, the built-in queue's files, the
 * retry arithmetic (backoff bounds, Retry-After, giving up), and the
 * pipeline (shard order, sinks, the memory budget). The webhook sink is
 * tested against a recording server by tests/routed/run-webhook.sh. The HTTP side is
 * tested end to end by tests/routed/run-routed.sh.
 *
 * Files go to a fresh directory under $TMPDIR (default /tmp), removed at the end.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "conf.h"
#include "driver.h"
#include "durable.h"
#include "ingest.h"
#include "metrics.h"
#include "pipeline.h"
#include "retry.h"
#include "route.h"
#include "store.h"
#include "wal.h"

#include "tmpdir.h"

static const char rules_src[] =
	"event t.ev v1 { k: string\n n: number }\n"
	"destination a\ndestination b\n"
	"rule big on t.ev when n > 10 route a\n"
	"rule all on t.ev when n >= 0 route b\n";

static const char emit_src[] =
	"event t.ev v1 { n: number }\nevent t.derived v1 { m: number }\n"
	"destination a\ndestination b\n"
	"rule derive on t.ev when n > 1 emit t.derived { m: n }\n"
	"rule first on t.ev route a\n"
	"rule second on t.derived route b\n";

/* Compiles src and loads it with options o (NULL: defaults). Caller frees. */
static route_prog *
load_src(const char *src, const struct route_options *ro)
{
	struct rc_options o;
	unsigned char *rbc = NULL;
	size_t len = 0;
	char err[256];
	route_prog *p;

	rc_options_default(&o);
	o.diag = stderr;
	ck_assert_int_eq(rc_compile_string("t.route", src, strlen(src), &o, &rbc, &len, NULL), RC_EXIT_OK);
	p = route_prog_load(rbc, len, ro, err, sizeof err);
	ru_free(rbc);
	ck_assert_msg(p != NULL, "%s", err);
	return p;
}

/* Compiles rules_src and loads it (the test fails otherwise). Caller frees. */
static route_prog *
load_prog(void)
{
	return load_src(rules_src, NULL);
}

/* Writes text to DIR/name; returns the path (static buffer). */
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

/* Loads text as a config; returns rd_conf_load's result, messages in *msgs (malloc). */
static int
load_conf(struct rd_conf *c, const char *text, char **msgs)
{
	size_t n = 0;
	FILE *err = open_memstream(msgs, &n);
	int rc;

	ck_assert_int_eq(rd_conf_init(c), 0);
	rc = rd_conf_load(c, write_file("t.conf", text), err);
	fclose(err);
	return rc;
}

/* Frees what a pipeline test set up: the pipeline (drained), its metrics, its config and the
 * config's messages (msgs, owned). */
static void
pipeline_done(struct rd_pipeline *pl, struct rd_metrics *m, struct rd_conf *c, char *msgs)
{
	rd_pipeline_free(pl);
	rd_metrics_fini(m);
	rd_conf_fini(c);
	free(msgs);
}

/* ---- config ----------------------------------------------------------------- */

START_TEST(test_conf_defaults_and_values)
{
	struct rd_conf c;
	char *msgs = NULL;

	ck_assert_int_eq(load_conf(&c, "# comment\n; another\n\n[http]\nlisten = [::1]:9000\n"
		"max_body_bytes = 64k\n[limits]\nmax_inflight_bytes = 2M\n[pipeline]\nworkers=3\n"
		"[destination a]\nsink = file\npath = /tmp/x y.ndjson\n", &msgs), 0);
	ck_assert_str_eq(msgs, "");
	ck_assert_str_eq(c.listen, "[::1]:9000");
	ck_assert_uint_eq(c.max_body_bytes, 65536);
	ck_assert_uint_eq(c.max_inflight_bytes, 2u << 20);
	ck_assert_uint_eq(c.workers, 3);
	ck_assert_str_eq(c.shard_key, "event_type,type"); /* a default */
	ck_assert_uint_eq(c.ndests, 1);
	ck_assert_int_eq(c.dests[0].sink, RD_SINK_FILE);
	ck_assert_str_eq(c.dests[0].path, "/tmp/x y.ndjson");
	ck_assert_ptr_null(rd_conf_dest(&c, "b", 1));
	free(msgs);
	rd_conf_fini(&c);
}

/* [http] threads defaults to 2, or to 1 when routed may run on one CPU only;
 * a configured count holds either way. (Check forks each test: the
 * affinity set here ends with it.) */
START_TEST(test_conf_http_threads_follow_affinity)
{
	struct rd_conf c;
	cpu_set_t all, one;
	char *msgs = NULL;
	int i;

	ck_assert_int_eq(sched_getaffinity(0, sizeof all, &all), 0);
	ck_assert_int_eq(rd_conf_init(&c), 0);
	ck_assert_uint_eq(c.http_threads, CPU_COUNT(&all) > 1 ? 2 : 1);
	rd_conf_fini(&c);
	CPU_ZERO(&one);
	for (i = 0; i < CPU_SETSIZE && !CPU_COUNT(&one); i++)
		if (CPU_ISSET(i, &all))
			CPU_SET(i, &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
	ck_assert_int_eq(rd_conf_init(&c), 0);
	ck_assert_uint_eq(c.http_threads, 1);
	rd_conf_fini(&c);
	ck_assert_int_eq(load_conf(&c, "[http]\nthreads = 3\n", &msgs), 0);
	ck_assert_uint_eq(c.http_threads, 3);
	free(msgs);
	rd_conf_fini(&c);
	ck_assert_int_eq(sched_setaffinity(0, sizeof all, &all), 0);
}
END_TEST
END_TEST

START_TEST(test_conf_errors_name_file_and_line)
{
	struct rd_conf c;
	char *msgs = NULL;

	ck_assert_int_eq(load_conf(&c, "[http]\nthreads = 2\nthreads = 3\nmax_body_bytes = 12q\n"
		"listen = nowhere\n[service]\nlog_level = loud\n[destination a]\nsink = amqp\n"
		"[destination a]\n[destination b]\npath = /x\n[rules]\nenvelope = xml\nstray\n", &msgs), -1);
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:3: duplicate key 'threads'"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:4: max_body_bytes must be a size"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:5: listen must be ADDR:PORT"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:7: log_level must be"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:9: sink must be queue, stdout, file, webhook, exec, kafka or rabbitmq, not 'amqp'"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:10: destination 'a' is already configured at line 8"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:11: [destination b]: path is only for sink = file"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:14: envelope must be"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:15: expected 'key = value'"));
	free(msgs);
	rd_conf_fini(&c);
	ck_assert_int_eq(load_conf(&c, "threads = 1\n", &msgs), -1);
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:1: 'threads' outside of a section"));
	free(msgs);
	rd_conf_fini(&c);
}
END_TEST

START_TEST(test_conf_destinations_checked_against_rules)
{
	struct rd_conf c;
	char *msgs = NULL, *out = NULL;
	size_t n = 0;
	FILE *err;
	route_prog *p = load_prog();

	ck_assert_int_eq(load_conf(&c, "[destination a]\nsink = stdout\n\n[destination zz]\n", &msgs), 0);
	err = open_memstream(&out, &n);
	ck_assert_int_eq(rd_conf_check_rules(&c, p, err), -1);
	fclose(err);
	ck_assert_ptr_nonnull(strstr(out, "t.conf:4: destination 'zz' is not declared by the rules"));
	ck_assert_ptr_null(strstr(out, "'a'"));
	free(out);
	free(msgs);
	rd_conf_fini(&c);
	route_prog_free(p);
}
END_TEST

/* ---- JSON helpers ------------------------------------------------------------ */

START_TEST(test_conf_webhook_keys)
{
	struct rd_conf c;
	char *msgs = NULL;
	const struct rd_dest_conf *d;

	ck_assert_int_eq(load_conf(&c, "[destination hook]\nsink = webhook\nurl = https://h.example/x\n"
		"header = X-A: 1\nheader = X-B: two words\nbearer_token = tok\ntimeout = 750ms\n"
		"ca_file = /etc/ca.pem\nmax_in_flight = 16\n", &msgs), 0);
	ck_assert_str_eq(msgs, "");
	d = rd_conf_dest(&c, "hook", 4);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d->sink, RD_SINK_WEBHOOK);
	ck_assert_str_eq(d->url, "https://h.example/x");
	ck_assert_uint_eq(d->nheaders, 2);
	ck_assert_str_eq(d->headers[1], "X-B: two words");
	ck_assert_str_eq(d->bearer_token, "tok");
	ck_assert_uint_eq(d->timeout_ms, 750);
	ck_assert_str_eq(d->ca_file, "/etc/ca.pem");
	ck_assert_uint_eq(d->max_in_flight, 16);
	free(msgs);
	rd_conf_fini(&c);
	ck_assert_int_eq(load_conf(&c, "[destination h]\nsink = webhook\nurl = http://x/\nurl = http://y/\n"
		"timeout = 2h\nbasic_auth = nocolon\n[destination q]\nmax_in_flight = 2\n", &msgs), -1);
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:4: duplicate key 'url'"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:5: timeout must be a duration"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:6: basic_auth must be 'user:password'"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.conf:7: [destination q]: url, header"));
	free(msgs);
	rd_conf_fini(&c);
}
END_TEST

START_TEST(test_retry_policy)
{
	struct route_dest_policy p = { .retry_max = 3, .backoff_min_ms = 50, .backoff_max_ms = 400,
		.dead_letter = ROUTE_NONE };
	uint64_t ms, due, r, maxseen[6] = { 0 }, seed = 42;
	unsigned k, i;

	/* full jitter: retry k waits within [0, min(400, 50 * 2^(k-1))], and reaches the cap */
	for (k = 1; k <= 5; k++)
		for (i = 0; i < 2000; i++) {
			r = rd_retry_backoff_ms(&p, k, rd_rand64(&seed));
			ck_assert_uint_le(r, k == 1 ? 50 : k == 2 ? 100 : k == 3 ? 200 : 400);
			if (r > maxseen[k])
				maxseen[k] = r;
		}
	ck_assert_uint_ge(maxseen[1], 45);
	ck_assert_uint_ge(maxseen[5], 380);
	ck_assert_uint_eq(rd_retry_backoff_ms(&p, 1000, UINT64_MAX), UINT64_MAX % 401); /* no overflow */
	/* Retry-After: seconds, an HTTP-date (against now), or neither */
	ck_assert_int_eq(rd_retry_after_parse(" 2\r\n", 4, 0, &ms), 0);
	ck_assert_uint_eq(ms, 2000);
	ck_assert_int_eq(rd_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", 29, 1445412475, &ms), 0);
	ck_assert_uint_eq(ms, 5000);
	ck_assert_int_eq(rd_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", 29, 1445412490, &ms), 0);
	ck_assert_uint_eq(ms, 0); /* in the past */
	ck_assert_int_eq(rd_retry_after_parse("soon", 4, 0, &ms), -1);
	ck_assert_int_eq(rd_retry_after_parse("", 0, 0, &ms), -1);
	/* never before Retry-After; retries counted; max_age */
	ck_assert_int_eq(rd_retry_next(&p, 1, 0, 1000, 2000, 7, &due), -1);
	ck_assert_uint_ge(due, 3000);
	ck_assert_int_eq(rd_retry_next(&p, 3, 0, 1000, 0, 7, &due), -1);
	ck_assert_uint_le(due, 1200);
	ck_assert_int_eq(rd_retry_next(&p, 4, 0, 1000, 0, 7, &due), RD_GIVEUP_RETRIES);
	p.max_age_ms = 1500;
	ck_assert_int_eq(rd_retry_next(&p, 1, 0, 1000, 600, 7, &due), RD_GIVEUP_MAX_AGE);
	ck_assert_int_eq(rd_retry_next(&p, 1, 0, 1000, 400, 0, &due), -1);
	/* what is retried */
	ck_assert_int_eq(rd_fail_of_status(204), -1);
	ck_assert_int_eq(rd_fail_of_status(503), RD_FAIL_HTTP_5XX);
	ck_assert_int_eq(rd_fail_of_status(302), RD_FAIL_HTTP_OTHER);
	ck_assert(rd_fail_retried(RD_FAIL_HTTP_429) && rd_fail_retried(RD_FAIL_HTTP_408) &&
		rd_fail_retried(RD_FAIL_TIMEOUT) && rd_fail_retried(RD_FAIL_CONNECTION));
	ck_assert(!rd_fail_retried(rd_fail_of_status(410)) && !rd_fail_retried(rd_fail_of_status(404)) &&
		!rd_fail_retried(rd_fail_of_status(302)));
	ck_assert_str_eq(rd_giveup_name(RD_GIVEUP_MAX_AGE), "max_age");
}
END_TEST

START_TEST(test_json_member_and_value_end)
{
	static const char ev[] = " { \"a\" : {\"subject\":1}, \"s\\\"x\": 2, \"x\":\"}]\\\"\" ,\"subject\" : [1,{\"b\":2}] }";
	const char *v;
	size_t vlen;

	ck_assert_int_eq(rd_json_member(ev, strlen(ev), "subject", &v, &vlen), 1);
	ck_assert_int_eq((int)vlen, 11);
	ck_assert(memcmp(v, "[1,{\"b\":2}]", 11) == 0);
	ck_assert_int_eq(rd_json_member(ev, strlen(ev), "x", &v, &vlen), 1);
	ck_assert(vlen == 6 && memcmp(v, "\"}]\\\"\"", 6) == 0);
	ck_assert_int_eq(rd_json_member(ev, strlen(ev), "b", &v, &vlen), 0); /* nested only */
	ck_assert_int_eq(rd_json_member("[1]", 3, "a", &v, &vlen), 0);
	ck_assert_int_eq(rd_json_member("{\"a\":", 5, "a", &v, &vlen), 0);
	ck_assert_int_eq(rd_json_member("{}", 2, "a", &v, &vlen), 0);
	ck_assert_uint_eq(rd_json_value_end("{\"a\":\"}\"}x", 10, 0), 9);
	ck_assert_uint_eq(rd_json_value_end("{\"a\":[}", 7, 0), (size_t)-1);
	ck_assert_uint_eq(rd_json_value_end("\"abc\\\"", 6, 0), (size_t)-1);
	ck_assert_uint_eq(rd_json_value_end("123,", 4, 0), 3);
	/* a quote after an even run of backslashes closes the string, after an odd run it does not */
	ck_assert_uint_eq(rd_json_value_end("\"a\\\\\"x", 7, 0), 5);
	ck_assert_uint_eq(rd_json_value_end("\"\\\\\\\"x\"}", 8, 0), 7);
}
END_TEST

START_TEST(test_buf_json_str_escapes)
{
	struct rd_buf b;

	rd_buf_init(&b);
	rd_buf_json_str(&b, "a\"b\\c\n\x01", 7);
	ck_assert_str_eq(b.p, "\"a\\\"b\\\\c\\n\\u0001\"");
	rd_buf_fini(&b);
}
END_TEST

/* ---- ingest ------------------------------------------------------------------- */

START_TEST(test_ingest_kinds)
{
	ck_assert_int_eq(rd_ingest_kind("application/json", 0), RD_BODY_JSON);
	ck_assert_int_eq(rd_ingest_kind("Application/JSON; charset=utf-8", 0), RD_BODY_JSON);
	ck_assert_int_eq(rd_ingest_kind("application/x-ndjson", 0), RD_BODY_NDJSON);
	ck_assert_int_eq(rd_ingest_kind("application/cloudevents+json; charset=UTF-8", 0), RD_BODY_CE);
	ck_assert_int_eq(rd_ingest_kind("application/cloudevents-batch+json", 1), RD_BODY_CE_BATCH);
	ck_assert_int_eq(rd_ingest_kind("text/plain", 1), RD_BODY_CE_BINARY);
	ck_assert_int_eq(rd_ingest_kind(NULL, 1), RD_BODY_CE_BINARY);
	ck_assert_int_eq(rd_ingest_kind("text/plain", 0), RD_BODY_UNSUPPORTED);
	ck_assert_int_eq(rd_ingest_kind("application/jsonx", 0), RD_BODY_UNSUPPORTED);
	ck_assert_int_eq(rd_ingest_kind(NULL, 0), RD_BODY_UNSUPPORTED);
}
END_TEST

START_TEST(test_ingest_ndjson_lines)
{
	static const char body[] = "{\"a\":1}\r\n\n   \n{\"b\":2}\n{\"c\":3}";
	struct rd_ingest in;

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_NDJSON, body, strlen(body), NULL, 0, NULL), 0);
	ck_assert_uint_eq(in.n, 3);
	ck_assert(in.ev[0].len == 7 && in.ev[0].line == 1 && in.ev[0].body_off == 0);
	ck_assert(in.ev[1].line == 4 && in.ev[1].body_off == 14 && memcmp(in.ev[1].p, "{\"b\":2}", 7) == 0);
	ck_assert(in.ev[2].line == 5 && in.ev[2].len == 7);
	rd_ingest_fini(&in);
	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_NDJSON, "\n \n", 3, NULL, 0, NULL), -1);
	rd_ingest_fini(&in);
}
END_TEST

START_TEST(test_ingest_batches)
{
	static const char body[] = " [ {\"id\":\"]\"} ,\n{\"data\":{\"x\":[1,2]}} ] ";
	struct rd_ingest in;

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BATCH, body, strlen(body), NULL, 0, NULL), 0);
	ck_assert_uint_eq(in.n, 2);
	ck_assert(in.ev[0].body_off == 3 && in.ev[0].len == 10);
	ck_assert(in.ev[1].len == 20);
	rd_ingest_fini(&in);

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BATCH, "[]", 2, NULL, 0, NULL), 0);
	ck_assert_uint_eq(in.n, 0);
	rd_ingest_fini(&in);

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BATCH, "[{} {}]", 7, NULL, 0, NULL), -1);
	ck_assert_uint_eq(in.error_off, 4);
	rd_ingest_fini(&in);
	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BATCH, "[1]", 3, NULL, 0, NULL), -1);
	ck_assert_uint_eq(in.error_off, 1);
	rd_ingest_fini(&in);
	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BATCH, "[{\"a\":1}", 8, NULL, 0, NULL), -1);
	rd_ingest_fini(&in);
	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BATCH, "{}", 2, NULL, 0, NULL), -1);
	rd_ingest_fini(&in);
}
END_TEST

START_TEST(test_ingest_binary_mode)
{
	struct rd_header h[] = {
		{ "Host", "x" },
		{ "CE-SpecVersion", "1.0" }, { "ce-id", "42" }, { "ce-source", "/a%20b" },
		{ "ce-type", "t.ev" }, { "ce-myext", "q\"%E2%82%AC" },
	};
	struct rd_ingest in;

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BINARY, "{\"k\":\"v\"}", 9, h, 6,
		"application/json"), 0);
	ck_assert_uint_eq(in.n, 1);
	ck_assert_str_eq(in.built.p, "{\"specversion\":\"1.0\",\"id\":\"42\",\"source\":\"/a b\",\"type\":\"t.ev\","
		"\"myext\":\"q\\\"\xe2\x82\xac\",\"datacontenttype\":\"application/json\",\"data\":{\"k\":\"v\"}}");
	ck_assert(memcmp(in.built.p + in.data_start, "{\"k\"", 4) == 0);
	rd_ingest_fini(&in);

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BINARY, "hi!", 3, h, 5, "text/plain"), 0);
	ck_assert_ptr_nonnull(strstr(in.built.p, "\"datacontenttype\":\"text/plain\",\"data_base64\":\"aGkh\"}"));
	rd_ingest_fini(&in);

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BINARY, "{}", 2, h, 4, NULL), -1); /* no ce-type */
	ck_assert_ptr_nonnull(strstr(in.error, "ce-type"));
	rd_ingest_fini(&in);

	/* a header name shorter than "ce-", exactly sized: nothing past it is read (fuzz_ingest
	 * found strlen(name + 3) run first; the ASan build sees such a read) */
	{
		char *shortname = strdup("A");
		struct rd_header h2[] = {
			{ shortname, "x" }, { "ce-specversion", "1.0" }, { "ce-id", "1" }, { "ce-source", "s" },
			{ "ce-type", "t" },
		};

		ck_assert_ptr_nonnull(shortname);
		rd_ingest_init(&in);
		ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BINARY, "{}", 2, h2, 5, NULL), 0);
		ck_assert_str_eq(in.built.p, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
			"\"data\":{}}");
		rd_ingest_fini(&in);
		free(shortname);
	}
}
END_TEST

/* One rd_ingest reused across bodies (what each HTTP thread does): every
 * field starts afresh, a small event array is kept, a huge one is freed. */
START_TEST(test_ingest_reset_reuses)
{
	struct rd_header h[] = {
		{ "ce-specversion", "1.0" }, { "ce-id", "1" }, { "ce-source", "s" }, { "ce-type", "t" },
	};
	struct rd_ingest in;
	struct rd_ingest_event *kept;
	char *big;
	size_t i, n = RD_INGEST_KEEP + 10;

	rd_ingest_init(&in);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_NDJSON, "{\"a\":1}\n{\"a\":2}\n", 16, NULL, 0, NULL), 0);
	ck_assert_uint_eq(in.n, 2);
	kept = in.ev;
	rd_ingest_reset(&in);
	ck_assert_uint_eq(in.n, 0);
	ck_assert_ptr_eq(in.ev, kept);
	/* an error, then a good body: nothing of the error stays */
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BATCH, "[1]", 3, NULL, 0, NULL), -1);
	ck_assert_str_ne(in.error, "");
	rd_ingest_reset(&in);
	ck_assert_str_eq(in.error, "");
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_CE_BINARY, "{}", 2, h, 4, "application/json"), 0);
	ck_assert_uint_eq(in.n, 1);
	ck_assert_ptr_eq(in.ev[0].p, in.built.p);
	ck_assert_uint_gt(in.data_start, 0);
	rd_ingest_reset(&in);
	ck_assert_uint_eq(in.data_start, 0);
	ck_assert_uint_eq(in.built.len, 0);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_JSON, "{\"b\":1}", 7, NULL, 0, NULL), 0);
	ck_assert_uint_eq(in.n, 1);
	ck_assert_int_eq(in.kind, RD_BODY_JSON);
	ck_assert_uint_eq(in.ev[0].len, 7);
	rd_ingest_reset(&in);
	/* more than RD_INGEST_KEEP events: the array is freed at the reset */
	big = malloc(n * 3);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < n; i++)
		memcpy(big + 3 * i, "{}\n", 3);
	ck_assert_int_eq(rd_ingest_parse(&in, RD_BODY_NDJSON, big, n * 3, NULL, 0, NULL), 0);
	ck_assert_uint_eq(in.n, n);
	ck_assert_uint_eq(in.ev[n - 1].line, n);
	rd_ingest_reset(&in);
	ck_assert_ptr_null(in.ev);
	ck_assert_uint_eq(in.cap, 0);
	free(big);
	rd_ingest_fini(&in);
}
END_TEST

/* ---- the built-in queue ------------------------------------------------------------ */

START_TEST(test_store_read_ack_reopen)
{
	struct rd_store q;
	struct rd_buf b;
	char err[256], path[512];
	FILE *f;

	ck_assert_msg(rd_store_open(&q, tmpdir, "qq", 2, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(rd_store_append(&q, "{\"n\":1}\n", 8), 0);
	ck_assert_int_eq(rd_store_append(&q, "{\"n\":2}\n", 8), 0);
	ck_assert_int_eq(rd_store_append(&q, "{\"n\":3}\n", 8), 0);
	rd_buf_init(&b);
	ck_assert_int_eq(rd_store_read(&q, 2, 1 << 20, &b), 0);
	ck_assert_str_eq(b.p, "{\"queue\":\"qq\",\"offset\":0,\"messages\":[{\"n\":1},{\"n\":2}],\"count\":2,"
		"\"next_offset\":16,\"pending\":3}");
	rd_buf_fini(&b);
	/* a byte budget smaller than one message still returns one */
	rd_buf_init(&b);
	ck_assert_int_eq(rd_store_read(&q, 10, 3, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.p, "\"count\":1,\"next_offset\":8"));
	rd_buf_fini(&b);
	ck_assert_int_eq(rd_store_ack(&q, 5, err, sizeof err), -1);
	ck_assert_int_eq(rd_store_ack(&q, 99, err, sizeof err), -1);
	ck_assert_int_eq(rd_store_ack(&q, 16, err, sizeof err), 0);
	ck_assert_int_eq(rd_store_ack(&q, 8, err, sizeof err), -1); /* backwards */
	ck_assert_uint_eq(rd_store_pending(&q), 1);
	rd_store_close(&q);

	/* a torn last line is cut off when the queue is opened again; the ack holds */
	snprintf(path, sizeof path, "%s/queues/qq/messages.ndjson", tmpdir);
	f = fopen(path, "a");
	fputs("{\"n\":", f);
	fclose(f);
	ck_assert_msg(rd_store_open(&q, tmpdir, "qq", 2, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(q.size, 24);
	ck_assert_uint_eq(rd_store_pending(&q), 1);
	rd_buf_init(&b);
	ck_assert_int_eq(rd_store_read(&q, 100, 1 << 20, &b), 0);
	ck_assert_str_eq(b.p, "{\"queue\":\"qq\",\"offset\":16,\"messages\":[{\"n\":3}],\"count\":1,"
		"\"next_offset\":24,\"pending\":1}");
	rd_buf_fini(&b);
	rd_store_close(&q);
}
END_TEST

/* ---- the pipeline ------------------------------------------------------------------ */

START_TEST(test_pipeline_routes_in_order_and_bounds_memory)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_event_ref ev[200];
	char bufs[200][64], err[256], *msgs = NULL, path[512], line[512];
	route_prog *p = load_prog();
	unsigned i, n;
	FILE *f;

	memset(ev, 0, sizeof ev);
	snprintf(line, sizeof line, "[service]\ndata_dir = %s/pl\n[pipeline]\nworkers = 4\nshard_key = k\n", tmpdir);
	ck_assert_int_eq(load_conf(&c, line, &msgs), 0);
	ck_assert_int_eq(rd_metrics_init(&m, p), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, p, &m, err, sizeof err) == 0, "%s", err);
	/* 200 events of one key: one shard, delivered to b in order */
	for (i = 0; i < 200; i++) {
		snprintf(bufs[i], sizeof bufs[i], "{\"event_type\":\"t.ev\",\"k\":\"same\",\"n\":%u}", i);
		ev[i].p = bufs[i];
		ev[i].len = strlen(bufs[i]);
	}
	ck_assert_int_eq(rd_pipeline_submit(&pl, ev, 200, NULL), 0);
	rd_pipeline_drain(&pl);
	ck_assert_uint_eq(atomic_load(&m.matched), 200);
	ck_assert_uint_eq(atomic_load(&m.deliveries[0]), 189); /* n > 10 */
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 200);
	ck_assert_uint_eq(atomic_load(&pl.budget.used_view), 0);
	snprintf(path, sizeof path, "%s/pl/queues/b/messages.ndjson", tmpdir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	for (n = 0; fgets(line, sizeof line, f); n++) {
		unsigned got;
		ck_assert_int_eq(sscanf(strstr(line, "\"n\":"), "\"n\":%u", &got), 1);
		ck_assert_uint_eq(got, n);
	}
	fclose(f);
	ck_assert_uint_eq(n, 200);
	/* draining: nothing more is taken */
	ck_assert_int_eq(rd_pipeline_submit(&pl, ev, 1, NULL), -1);
	pipeline_done(&pl, &m, &c, msgs);

	/* a request larger than the cap is refused whole */
	snprintf(line, sizeof line, "[service]\ndata_dir = %s/pl2\n[limits]\nmax_inflight_bytes = 64k\n", tmpdir);
	ck_assert_int_eq(load_conf(&c, line, &msgs), 0);
	ck_assert_int_eq(rd_metrics_init(&m, p), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, p, &m, err, sizeof err) == 0, "%s", err);
	{
		static char big[70000];
		struct rd_event_ref r = { big, sizeof big, 0, 0 };
		memset(big, ' ', sizeof big);
		ck_assert_int_eq(rd_pipeline_submit(&pl, &r, 1, NULL), -1);
		ck_assert_uint_eq(atomic_load(&pl.budget.used_view), 0);
	}
	ck_assert_int_eq(rd_pipeline_submit(&pl, ev, 10, NULL), 0);
	rd_pipeline_drain(&pl);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 10);
	pipeline_done(&pl, &m, &c, msgs);
	route_prog_free(p);
}
END_TEST

/* One request whose events spread over every shard (and more than
 * SUBMIT_STACK_SHARDS shards): each key's events reach the sink in request
 * order, every event is routed once, and each message written gives one
 * end-to-end latency sample. */
START_TEST(test_pipeline_batch_over_shards)
{
	static const unsigned workers[] = { 4, 20 };
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_event_ref ev[300];
	char bufs[300][80], err[256], *msgs = NULL, path[512], line[512];
	route_prog *p = load_prog();
	unsigned w, i, k, n, next[10];
	uint64_t e2e;
	FILE *f;

	memset(ev, 0, sizeof ev);
	for (w = 0; w < 2; w++) {
		snprintf(line, sizeof line, "[service]\ndata_dir = %s/plb%u\n[pipeline]\nworkers = %u\n"
			"shard_key = k\n", tmpdir, w, workers[w]);
		ck_assert_int_eq(load_conf(&c, line, &msgs), 0);
		ck_assert_int_eq(rd_metrics_init(&m, p), 0);
		ck_assert_msg(rd_pipeline_start(&pl, &c, p, &m, err, sizeof err) == 0, "%s", err);
		ck_assert_uint_eq(pl.nshards, workers[w]);
		for (i = 0; i < 300; i++) {
			snprintf(bufs[i], sizeof bufs[i], "{\"event_type\":\"t.ev\",\"k\":\"key%u\",\"n\":%u}", i % 10, i);
			ev[i].p = bufs[i];
			ev[i].len = strlen(bufs[i]);
		}
		ck_assert_int_eq(rd_pipeline_submit(&pl, ev, 150, NULL), 0);
		ck_assert_int_eq(rd_pipeline_submit(&pl, ev + 150, 150, NULL), 0);
		rd_pipeline_drain(&pl);
		ck_assert_uint_eq(atomic_load(&m.matched), 300);
		ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 300);
		for (e2e = 0, i = 0; i <= RD_E2E_BUCKETS; i++)
			e2e += atomic_load(&m.e2e_bucket[i]);
		ck_assert_uint_eq(e2e, atomic_load(&m.deliveries[0]) + atomic_load(&m.deliveries[1]));
		ck_assert_uint_eq(atomic_load(&pl.budget.used_view), 0);
		snprintf(path, sizeof path, "%s/plb%u/queues/b/messages.ndjson", tmpdir, w);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		for (k = 0; k < 10; k++)
			next[k] = k;
		for (n = 0; fgets(line, sizeof line, f); n++) {
			unsigned key, got;
			ck_assert_int_eq(sscanf(strstr(line, "\"k\":"), "\"k\":\"key%u\",\"n\":%u", &key, &got), 2);
			ck_assert_uint_lt(key, 10);
			ck_assert_uint_eq(got, next[key]); /* in request order within the key */
			next[key] += 10;
		}
		fclose(f);
		ck_assert_uint_eq(n, 300);
		pipeline_done(&pl, &m, &c, msgs);
		msgs = NULL;
	}
	route_prog_free(p);
}
END_TEST

/* Producers of test_pipeline_inline_and_worker_order: thread t posts
 * INL_PER events over keys t{t}k0..4 in requests of 1 to 5 events, every
 * other request with inline routing allowed (rd_pipeline_submit) and the
 * others handed to the worker (rd_pipeline_submit_begin, may_inline 0). */
#define INL_THREADS 4
#define INL_PER 1500
struct inl_arg {
	struct rd_pipeline *pl;
	unsigned t;
	int failed;
};

static void *
inl_main(void *p)
{
	struct inl_arg *a = p;
	static __thread char bufs[5][80];
	struct rd_event_ref ev[5];
	struct rd_submit *sb;
	unsigned i = 0, r = 0, k;

	memset(ev, 0, sizeof ev);
	while (i < INL_PER) {
		unsigned n = 1 + (i * 7 + a->t) % 5;
		for (k = 0; k < n && i < INL_PER; k++, i++) {
			snprintf(bufs[k], sizeof bufs[k], "{\"event_type\":\"t.ev\",\"k\":\"t%uk%u\",\"n\":%u}",
				a->t, i % 5, i);
			ev[k].p = bufs[k];
			ev[k].len = strlen(bufs[k]);
		}
		if (r++ % 2 == 0) {
			if (rd_pipeline_submit(a->pl, ev, k, NULL) < 0)
				a->failed++;
		} else if (rd_pipeline_submit_begin(a->pl, ev, k, NULL, NULL, 0, NULL, &sb) < 0 || sb) {
			a->failed++; /* without a log the events are routed (queued) at once */
		}
	}
	return NULL;
}

/* Events routed inline by the threads that submit them and events handed to
 * the shards' workers, on the same keys and at the same time: each key's
 * events reach the sink in the order its producer sent them (the inline
 * router takes what the worker has queued first), every event is routed
 * once, by one or the other, both ways were taken, and every message is
 * written before the pipeline is drained (no lane left asleep). */
START_TEST(test_pipeline_inline_and_worker_order)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct inl_arg a[INL_THREADS];
	pthread_t thr[INL_THREADS];
	char err[256], *msgs = NULL, path[512], line[512];
	route_prog *p = load_prog();
	unsigned t, k, n, next[INL_THREADS][5];
	uint64_t by_ingest, by_worker;
	FILE *f;

	snprintf(line, sizeof line, "[service]\ndata_dir = %s/inl\n[pipeline]\nworkers = 2\nshard_key = k\n", tmpdir);
	ck_assert_int_eq(load_conf(&c, line, &msgs), 0);
	ck_assert_int_eq(rd_metrics_init(&m, p), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, p, &m, err, sizeof err) == 0, "%s", err);
	for (t = 0; t < INL_THREADS; t++) {
		a[t].pl = &pl;
		a[t].t = t;
		a[t].failed = 0;
		ck_assert_int_eq(pthread_create(&thr[t], NULL, inl_main, &a[t]), 0);
	}
	for (t = 0; t < INL_THREADS; t++) {
		pthread_join(thr[t], NULL);
		ck_assert_int_eq(a[t].failed, 0);
	}
	/* every message is written without the drain's wake-up: a router that
	 * queued messages and could not write them woke the lane (bounded wait) */
	for (k = 0; k < 1000 && (atomic_load(&pl.pending) || atomic_load(&m.matched) < INL_THREADS * INL_PER); k++)
		usleep(10000);
	ck_assert_msg(atomic_load(&pl.pending) == 0, "%ld messages still queued 10 s after the last submit",
		(long)atomic_load(&pl.pending));
	rd_pipeline_drain(&pl);
	by_ingest = atomic_load(&pl.routed_by[0]);
	by_worker = atomic_load(&pl.routed_by[1]);
	fprintf(stderr, "check_routed: inline and worker: %llu routed by the submitting threads, %llu by the workers\n",
		(unsigned long long)by_ingest, (unsigned long long)by_worker);
	ck_assert_uint_eq(atomic_load(&m.matched), INL_THREADS * INL_PER);
	ck_assert_uint_eq(by_ingest + by_worker, INL_THREADS * INL_PER);
	ck_assert_uint_gt(by_ingest, 0);
	ck_assert_uint_gt(by_worker, 0);
	ck_assert_uint_eq(atomic_load(&pl.budget.used_view), 0);
	snprintf(path, sizeof path, "%s/inl/queues/b/messages.ndjson", tmpdir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	for (t = 0; t < INL_THREADS; t++)
		for (k = 0; k < 5; k++)
			next[t][k] = k;
	for (n = 0; fgets(line, sizeof line, f); n++) {
		unsigned tt, key, got;
		ck_assert_int_eq(sscanf(strstr(line, "\"k\":"), "\"k\":\"t%uk%u\",\"n\":%u", &tt, &key, &got), 3);
		ck_assert_uint_lt(tt, INL_THREADS);
		ck_assert_uint_lt(key, 5);
		ck_assert_uint_eq(got, next[tt][key]); /* in the producer's order within the key */
		next[tt][key] += 5;
	}
	fclose(f);
	ck_assert_uint_eq(n, INL_THREADS * INL_PER);
	pipeline_done(&pl, &m, &c, msgs);
	route_prog_free(p);
}
END_TEST

/* Lines in the built-in queue DIR/queues/NAME (0 when the file is not there yet). */
static unsigned
queue_lines(const char *dir, const char *name)
{
	char path[512], line[4096];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s/queues/%s/messages.ndjson", tmpdir, dir, name);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof line, f))
		n++;
	fclose(f);
	return n;
}

/* Submits n events n = from.. of key k with a pad of pad bytes (routed inline: to b, and
 * to a when n > 10). */
static void
submit_padded(struct rd_pipeline *pl, unsigned from, unsigned n, size_t pad)
{
	struct rd_event_ref *ev = calloc(n, sizeof *ev);
	char **bufs = calloc(n, sizeof *bufs);
	unsigned i;

	ck_assert_ptr_nonnull(ev);
	ck_assert_ptr_nonnull(bufs);
	for (i = 0; i < n; i++) {
		bufs[i] = malloc(pad + 128);
		ck_assert_ptr_nonnull(bufs[i]);
		snprintf(bufs[i], pad + 128, "{\"event_type\":\"t.ev\",\"k\":\"w\",\"n\":%u,\"pad\":\"%*s\"}",
			from + i, (int)pad, "");
		ev[i].p = bufs[i];
		ev[i].len = strlen(bufs[i]);
	}
	ck_assert_int_eq(rd_pipeline_submit(pl, ev, n, NULL), 0);
	for (i = 0; i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(ev);
}

/* Write-behind while routed is loaded (pipeline.c defer_write): a router
 * leaves a built-in queue's few messages queued, and the flusher writes them
 * within DEFER_NS (here: well within 2 s), in order; messages that pass
 * DEFER_BYTES are written by the router at once; not loaded, every message
 * is written at once; and the drain writes what was left, at once. */
START_TEST(test_pipeline_write_behind)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	char err[256], *msgs = NULL, line[512], path[512];
	static char big[4096];
	route_prog *p = load_prog();
	unsigned k, n, next;
	struct timespec t0, t1;
	FILE *f;

	snprintf(line, sizeof line, "[service]\ndata_dir = %s/wb\n", tmpdir);
	ck_assert_int_eq(load_conf(&c, line, &msgs), 0);
	ck_assert_int_eq(rd_metrics_init(&m, p), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, p, &m, err, sizeof err) == 0, "%s", err);
	/* not loaded: written before submit returns */
	rd_pipeline_force_load(&pl, 0);
	submit_padded(&pl, 0, 5, 10);
	ck_assert_uint_eq(queue_lines("wb", "b"), 5);
	ck_assert_uint_eq(atomic_load(&pl.deferred_writes), 0);
	/* loaded: 20 small messages are left for later, then written by the flusher */
	rd_pipeline_force_load(&pl, 1);
	submit_padded(&pl, 5, 20, 10);
	ck_assert_uint_eq(queue_lines("wb", "b"), 5);
	ck_assert_uint_ge(atomic_load(&pl.deferred_writes), 1);
	for (k = 0; k < 200 && queue_lines("wb", "b") < 25; k++)
		usleep(10000);
	ck_assert_uint_eq(queue_lines("wb", "b"), 25);
	ck_assert_uint_eq(queue_lines("wb", "a"), 14); /* n = 11..24 */
	/* loaded, a request whose messages pass 32 KiB: written by the router at once */
	submit_padded(&pl, 25, 40, 1000);
	ck_assert_uint_eq(queue_lines("wb", "b"), 65);
	/* loaded, left for later, then the drain: written at once, not after drain_timeout */
	submit_padded(&pl, 65, 10, 10);
	ck_assert_uint_lt(queue_lines("wb", "b"), 75);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rd_pipeline_drain(&pl);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 2);
	ck_assert_uint_eq(queue_lines("wb", "b"), 75);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 75);
	ck_assert_uint_eq(atomic_load(&pl.budget.used_view), 0);
	/* in order */
	snprintf(path, sizeof path, "%s/wb/queues/b/messages.ndjson", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	for (next = 0; fgets(big, sizeof big, f); next++) {
		ck_assert_int_eq(sscanf(strstr(big, "\"n\":"), "\"n\":%u", &n), 1);
		ck_assert_uint_eq(n, next);
	}
	fclose(f);
	ck_assert_uint_eq(next, 75);
	pipeline_done(&pl, &m, &c, msgs);
	route_prog_free(p);
}
END_TEST

/* Producers of test_pipeline_lane_writers_contend: released together each
 * round, thread t submits one event on its own key (n > 10: to a and b), routed inline. */
#define CONT_THREADS 4
#define CONT_ROUNDS 300
struct cont_arg {
	struct rd_pipeline *pl;
	pthread_barrier_t *start, *done; /* borrows */
	unsigned t;
	int failed;
};

static void *
cont_main(void *p)
{
	struct cont_arg *a = p;
	struct rd_event_ref ev;
	char buf[80];
	unsigned r;

	memset(&ev, 0, sizeof ev);
	for (r = 0; r < CONT_ROUNDS; r++) {
		snprintf(buf, sizeof buf, "{\"event_type\":\"t.ev\",\"k\":\"c%u\",\"n\":%u}", a->t, 11 + r);
		ev.p = buf;
		ev.len = strlen(buf);
		pthread_barrier_wait(a->start);
		if (rd_pipeline_submit(a->pl, &ev, 1, NULL) < 0)
			a->failed++;
		pthread_barrier_wait(a->done);
	}
	return NULL;
}

/* Routers writing the same lanes at the same moment (lane_drain): one that
 * finds a lane's writer busy leaves its messages to that writer, which looks
 * at the lane's queue again once it is done, so nobody wakes the lane
 * thread. After each of CONT_ROUNDS rounds of CONT_THREADS routers released
 * together, every message is written within 5 s, without the drain. (A
 * writer that did not look again would leave a round's last messages queued
 * until the next round's writes, or the drain.) */
START_TEST(test_pipeline_lane_writers_contend)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct cont_arg a[CONT_THREADS];
	pthread_t thr[CONT_THREADS];
	pthread_barrier_t start, done;
	char err[256], *msgs = NULL, line[512];
	route_prog *p = load_prog();
	unsigned t, r, k;

	snprintf(line, sizeof line, "[service]\ndata_dir = %s/cont\n[pipeline]\nworkers = 4\nshard_key = k\n", tmpdir);
	ck_assert_int_eq(load_conf(&c, line, &msgs), 0);
	ck_assert_int_eq(rd_metrics_init(&m, p), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, p, &m, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, CONT_THREADS + 1), 0);
	ck_assert_int_eq(pthread_barrier_init(&done, NULL, CONT_THREADS + 1), 0);
	for (t = 0; t < CONT_THREADS; t++) {
		a[t].pl = &pl;
		a[t].start = &start;
		a[t].done = &done;
		a[t].t = t;
		a[t].failed = 0;
		ck_assert_int_eq(pthread_create(&thr[t], NULL, cont_main, &a[t]), 0);
	}
	for (r = 0; r < CONT_ROUNDS; r++) {
		pthread_barrier_wait(&start);
		pthread_barrier_wait(&done);
		for (k = 0; k < 500 && (atomic_load(&pl.pending) || atomic_load(&m.matched) < (r + 1) * CONT_THREADS); k++)
			usleep(10000);
		ck_assert_msg(atomic_load(&pl.pending) == 0, "round %u: %ld messages still queued after 5 s", r,
			(long)atomic_load(&pl.pending));
	}
	for (t = 0; t < CONT_THREADS; t++) {
		pthread_join(thr[t], NULL);
		ck_assert_int_eq(a[t].failed, 0);
	}
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&done);
	rd_pipeline_drain(&pl);
	ck_assert_uint_eq(atomic_load(&m.matched), CONT_THREADS * CONT_ROUNDS);
	ck_assert_uint_eq(atomic_load(&m.deliveries[0]), CONT_THREADS * CONT_ROUNDS);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), CONT_THREADS * CONT_ROUNDS);
	pipeline_done(&pl, &m, &c, msgs);
	route_prog_free(p);
}
END_TEST

/* A worker holding more messages than the cap allows (a batch's fan-out)
 * pushes them to the lanes before it waits for the budget, so the lanes can
 * release them: 1,000 events of 1 KB in requests of 40 under a 64 KiB cap
 * all arrive (without that push, the worker waits for bytes only it holds
 * and the test times out). */
START_TEST(test_pipeline_worker_flushes_before_waiting)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_event_ref ev[40];
	static char bufs[40][1100];
	char err[256], *msgs = NULL, line[512];
	route_prog *p = load_prog();
	unsigned i, r;
	size_t need = 0;

	memset(ev, 0, sizeof ev);
	snprintf(line, sizeof line, "[service]\ndata_dir = %s/plf\n[pipeline]\nworkers = 1\n"
		"[limits]\nmax_inflight_bytes = 64k\n", tmpdir);
	ck_assert_int_eq(load_conf(&c, line, &msgs), 0);
	ck_assert_int_eq(rd_metrics_init(&m, p), 0);
	ck_assert_msg(rd_pipeline_start(&pl, &c, p, &m, err, sizeof err) == 0, "%s", err);
	for (i = 0; i < 40; i++) {
		int n = snprintf(bufs[i], sizeof bufs[i], "{\"event_type\":\"t.ev\",\"k\":\"x\",\"n\":%u,\"pad\":\"", 100 + i);
		memset(bufs[i] + n, 'p', 1000);
		memcpy(bufs[i] + n + 1000, "\"}", 3);
		ev[i].p = bufs[i];
		ev[i].len = strlen(bufs[i]);
		need += sizeof(struct rd_item) + ev[i].len;
	}
	for (r = 0; r < 25; r++) {
		ck_assert_int_eq(rd_pipeline_wait_room(&pl, need, 3000), 1);
		ck_assert_int_eq(rd_pipeline_submit(&pl, ev, 40, NULL), 0);
	}
	rd_pipeline_drain(&pl);
	ck_assert_uint_eq(atomic_load(&m.matched), 1000);
	ck_assert_uint_eq(atomic_load(&m.deliveries[0]), 1000);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 1000);
	ck_assert_uint_eq(atomic_load(&pl.budget.used_view), 0);
	pipeline_done(&pl, &m, &c, msgs);
	route_prog_free(p);
}
END_TEST

/* Starts a pipeline on the rules src under the config conf_text; returns the program (caller frees). */
static route_prog *
pipeline_of(struct rd_pipeline *pl, struct rd_conf *c, struct rd_metrics *m, const char *conf_text,
	const char *src)
{
	struct route_options ro;
	char *msgs = NULL, err[256];
	route_prog *p;

	ck_assert_int_eq(load_conf(c, conf_text, &msgs), 0);
	free(msgs);
	rd_conf_route_options(c, &ro);
	p = load_src(src, &ro);
	ck_assert_int_eq(rd_metrics_init(m, p), 0);
	ck_assert_msg(rd_pipeline_start(pl, c, p, m, err, sizeof err) == 0, "%s", err);
	return p;
}

/* Runs one event through a pipeline configured by conf_text; returns it drained (caller frees). */
static void
run_one(struct rd_pipeline *pl, struct rd_conf *c, struct rd_metrics *m, route_prog **p,
	const char *conf_text, const char *event)
{
	struct rd_event_ref r = { event, strlen(event), 0, 0 };

	*p = pipeline_of(pl, c, m, conf_text, emit_src);
	ck_assert_int_eq(rd_pipeline_submit(pl, &r, 1, NULL), 0);
	rd_pipeline_drain(pl);
}

START_TEST(test_pipeline_emitted_events)
{
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	route_prog *p;
	char conf[512];

	/* plain: the derived event is routed to b */
	snprintf(conf, sizeof conf, "[service]\ndata_dir = %s/em1\n", tmpdir);
	run_one(&pl, &c, &m, &p, conf, "{\"event_type\":\"t.ev\",\"n\":5}");
	ck_assert_uint_eq(atomic_load(&m.emitted), 1);
	ck_assert_uint_eq(atomic_load(&m.deliveries[0]), 1);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 1);
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	route_prog_free(p);
	rd_conf_fini(&c);

	/* emit_depth = 0: counted, not routed */
	snprintf(conf, sizeof conf, "[service]\ndata_dir = %s/em2\n[pipeline]\nemit_depth = 0\n", tmpdir);
	run_one(&pl, &c, &m, &p, conf, "{\"event_type\":\"t.ev\",\"n\":5}");
	ck_assert_uint_eq(atomic_load(&m.emitted), 0);
	ck_assert_uint_eq(atomic_load(&m.emit_unrouted[RD_EMIT_DEPTH]), 1);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 0);
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	route_prog_free(p);
	rd_conf_fini(&c);

	/* envelope = cloudevents: the derived event becomes a CloudEvent, and is routed to b */
	snprintf(conf, sizeof conf, "[service]\ndata_dir = %s/em3\n[rules]\nenvelope = cloudevents\n", tmpdir);
	run_one(&pl, &c, &m, &p, conf, "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\","
		"\"type\":\"t.ev\",\"data\":{\"n\":5}}");
	ck_assert_uint_eq(atomic_load(&m.deliveries[0]), 1);
	ck_assert_uint_eq(atomic_load(&m.emitted), 1);
	ck_assert_uint_eq(atomic_load(&m.deliveries[1]), 1);
	{
		char path[512], line[512], want[128];
		FILE *f;

		snprintf(path, sizeof path, "%s/em3/queues/b/messages.ndjson", tmpdir);
		ck_assert_ptr_nonnull(f = fopen(path, "r"));
		ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
		fclose(f);
		snprintf(want, sizeof want, "{\"specversion\":\"1.0\",\"id\":\"%" PRIu64 "-1\",", pl.start_wall_ms);
		ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
		ck_assert_msg(strstr(line, ",\"source\":\"/routed/rules/derive\",\"type\":\"t.derived\","
			"\"eventversion\":1,\"data\":{\"m\":5}}\n") != NULL, "%s", line);
	}
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	route_prog_free(p);
	rd_conf_fini(&c);
}
END_TEST

/* The lines of file path, each without its '\n', in a static buffer: "l1|l2|..." */
static const char *
file_lines(const char *path)
{
	static char out[4096];
	char line[1024];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	ck_assert_msg(f != NULL, "cannot open %s", path);
	out[0] = '\0';
	while (fgets(line, sizeof line, f)) {
		size_t l = strlen(line);
		ck_assert_msg(l > 0 && line[l - 1] == '\n', "%s: a line without its newline", path);
		line[--l] = '\0';
		ck_assert(n + l + 2 < sizeof out);
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? "|" : "", line);
	}
	fclose(f);
	return out;
}

/*
 * Each message is one line: the line breaks of an event (pretty-printed,
 * CRLF) become spaces, in the message of a single destination and in each
 * message of a fan-out (which looks for them once for all), and an event
 * without any is written as it came.
 */
START_TEST(test_pipeline_messages_one_line)
{
	static const char src[] =
		"event t.ev v1 { n: number }\ndestination a\ndestination b\n"
		"rule one on t.ev when n == 1 route a\nrule both on t.ev when n == 2 route a, b\n";
	const char *evs[] = {
		"{\"event_type\":\"t.ev\",\n  \"n\": 1\n}",
		"{\"event_type\":\"t.ev\",\r\n  \"n\": 2\r\n}",
		"{\"event_type\":\"t.ev\",\"n\":2}",
	};
	struct rd_event_ref r[3];
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	route_prog *p;
	char conf[512], path[512];
	int i;

	memset(r, 0, sizeof r);
	for (i = 0; i < 3; i++) {
		r[i].p = evs[i];
		r[i].len = strlen(evs[i]);
	}
	snprintf(conf, sizeof conf, "[service]\ndata_dir = %s/oneline\n", tmpdir);
	p = pipeline_of(&pl, &c, &m, conf, src);
	ck_assert_int_eq(rd_pipeline_submit(&pl, r, 3, NULL), 0);
	rd_pipeline_drain(&pl);
	snprintf(path, sizeof path, "%s/oneline/queues/a/messages.ndjson", tmpdir);
	ck_assert_str_eq(file_lines(path), "{\"event_type\":\"t.ev\",   \"n\": 1 }|"
		"{\"event_type\":\"t.ev\",    \"n\": 2  }|{\"event_type\":\"t.ev\",\"n\":2}");
	snprintf(path, sizeof path, "%s/oneline/queues/b/messages.ndjson", tmpdir);
	ck_assert_str_eq(file_lines(path), "{\"event_type\":\"t.ev\",    \"n\": 2  }|"
		"{\"event_type\":\"t.ev\",\"n\":2}");
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	route_prog_free(p);
	rd_conf_fini(&c);
}
END_TEST

/*
 * A worker's state snapshot counts the event it has just routed as matched:
 * it is taken after the record leaves the unmatched set, so the checkpoint's
 * "every record below from is in it" includes that event (else a restart
 * would replay it into a state that already holds it). The test holds the
 * shard's run_mu while the chain is queued and the snapshot made due, so the
 * worker takes the chain (not an idle tick) first and the snapshot comes
 * after its first event.
 */
START_TEST(test_pipeline_snapshot_after_matched)
{
	static const char src[] =
		"event t.f v1 { id: string, c: string }\ndestination all\n"
		"rule every on t.f route all\n"
		"rule third on t.f when count() >= 3 by c within 10m route all\n";
	enum { N = 20 };
	static char bufs[N][96];
	struct rd_event_ref r[N];
	struct rd_conf c;
	struct rd_metrics m;
	struct rd_pipeline pl;
	struct rd_durable d;
	route_prog *p;
	char conf[512], err[256];
	uint64_t first, from;
	int i;

	memset(r, 0, sizeof r);
	for (i = 0; i < N; i++) {
		snprintf(bufs[i], sizeof bufs[i], "{\"event_type\":\"t.f\",\"id\":\"e%d\",\"c\":\"c1\"}", i);
		r[i].p = bufs[i];
		r[i].len = strlen(bufs[i]);
	}
	snprintf(conf, sizeof conf, "[service]\ndata_dir = %s/snapmatched\n[pipeline]\nworkers = 1\n"
		"[durability]\ncheckpoint_interval = 3600\n", tmpdir);
	p = pipeline_of(&pl, &c, &m, conf, src);
	memset(&d, 0, sizeof d);
	ck_assert_msg(rd_durable_start(&d, &c, &pl, err, sizeof err) == 0, "%s", err);
	ck_assert(d.state_on && d.nstate >= 1);

	pthread_mutex_lock(&pl.shards[0].run_mu);
	first = rd_wal_next_seq(d.wal);
	ck_assert_int_eq(rd_pipeline_submit(&pl, r, N, NULL), 0); /* not inline: run_mu is held */
	d.ckpt_next_ms[0] = 0;                                    /* due from now on */
	pthread_mutex_unlock(&pl.shards[0].run_mu);
	/* routed (not drained: the drain takes a last snapshot of its own) */
	for (i = 0; i < 500 && atomic_load(&m.matched) < N; i++)
		usleep(10000);
	ck_assert_uint_eq(atomic_load(&m.matched), N);
	pthread_mutex_lock(&d.mu);
	from = d.ckpt[0].snap ? d.ckpt[0].from : d.ckpt_written[0];
	pthread_mutex_unlock(&d.mu);
	ck_assert_msg(from > first, "the snapshot after the first event says records from %" PRIu64
		" on are not in it, the first being %" PRIu64, from, first);
	ck_assert_uint_lt(from, first + N); /* taken in the chain, not after it */
	rd_pipeline_drain(&pl);

	rd_durable_stop(&d);
	pl.dur = NULL;
	rd_pipeline_free(&pl);
	rd_metrics_fini(&m);
	route_prog_free(p);
	rd_conf_fini(&c);
}
END_TEST

static Suite *
routed_suite(void)
{
	Suite *s = suite_create("routed");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_conf_defaults_and_values);
	tcase_add_test(tc, test_conf_http_threads_follow_affinity);
	tcase_add_test(tc, test_conf_errors_name_file_and_line);
	tcase_add_test(tc, test_conf_destinations_checked_against_rules);
	tcase_add_test(tc, test_conf_webhook_keys);
	tcase_add_test(tc, test_retry_policy);
	tcase_add_test(tc, test_json_member_and_value_end);
	tcase_add_test(tc, test_buf_json_str_escapes);
	tcase_add_test(tc, test_ingest_kinds);
	tcase_add_test(tc, test_ingest_ndjson_lines);
	tcase_add_test(tc, test_ingest_batches);
	tcase_add_test(tc, test_ingest_binary_mode);
	tcase_add_test(tc, test_ingest_reset_reuses);
	tcase_add_test(tc, test_store_read_ack_reopen);
	tcase_add_test(tc, test_pipeline_routes_in_order_and_bounds_memory);
	tcase_add_test(tc, test_pipeline_batch_over_shards);
	tcase_add_test(tc, test_pipeline_inline_and_worker_order);
	tcase_add_test(tc, test_pipeline_lane_writers_contend);
	tcase_add_test(tc, test_pipeline_write_behind);
	tcase_add_test(tc, test_pipeline_worker_flushes_before_waiting);
	tcase_add_test(tc, test_pipeline_emitted_events);
	tcase_add_test(tc, test_pipeline_messages_one_line);
	tcase_add_test(tc, test_pipeline_snapshot_after_matched);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tmpdir_run("check_routed", routed_suite(), NULL);
}
