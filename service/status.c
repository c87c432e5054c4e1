/*
 * status.c -- the live status page (see status.h): a JSON snapshot built
 * from the metrics and the pipeline's lanes, and a static HTML page that
 * renders it with a few lines of script (values go in with textContent,
 * never as markup, so a destination's or a rule's name cannot inject any).
 */
#include "config.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "retry.h"
#include "sink.h"
#include "status.h"
#include "webhook.h" /* rd_wall_ms */

#define LOAD(x) ((uint64_t)atomic_load_explicit(&(x), memory_order_relaxed))

void
rd_status_json(struct rd_buf *o, struct rd_metrics *m, struct rd_pipeline *pl,
	void (*sources)(struct rd_buf *o, void *ud), void *ud)
{
	uint64_t now = rd_wall_ms(), rejected = 0, failures;
	uint32_t i, f, n;
	const char *sep = "";

	for (i = 0; i < RD_REJ__COUNT; i++)
		rejected += LOAD(m->rejected[i]);
	rd_buf_printf(o, "{\"version\":\"%s\",\"now_unix_ms\":%" PRIu64 ",\"uptime_seconds\":%" PRIu64
		",\"loaded\":%d,\"rules\":{\"generation\":%" PRIu64 ",\"loaded_unix_ms\":%" PRIu64
		",\"reloads_ok\":%" PRIu64 ",\"reloads_failed\":%" PRIu64 "}",
		PACKAGE_VERSION, now, now > pl->start_wall_ms ? (now - pl->start_wall_ms) / 1000u : 0,
		rd_pipeline_loaded(pl), LOAD(m->generation), LOAD(m->loaded_unix_ms), LOAD(m->reloads_ok),
		LOAD(m->reloads_error));
	rd_buf_printf(o, ",\"events\":{\"received\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"rejected\":%" PRIu64
		",\"matched\":%" PRIu64 ",\"unmatched\":%" PRIu64 ",\"emitted\":%" PRIu64 "}",
		LOAD(m->received), LOAD(m->accepted), rejected, LOAD(m->matched), LOAD(m->unmatched),
		LOAD(m->emitted));
	rd_buf_puts(o, ",\"outcomes\":{");
#define X(id, str) rd_buf_printf(o, "%s\"" str "\":%" PRIu64, RD_FATE_##id ? "," : "", \
	LOAD(pl->outcomes[RD_FATE_##id]));
	RD_FATES(X)
#undef X
	rd_buf_puts(o, "},\"sources\":[");
	if (sources)
		sources(o, ud);
	rd_buf_puts(o, "],\"destinations\":[");
	/* lane slot i is destination slot i of the metrics (pipeline.h) */
	n = atomic_load(&pl->nlanes);
	for (i = 0; i < n; i++) {
		struct rd_lane *ln = &pl->lanes[i];

		if (!ln->name || !atomic_load(&ln->ready))
			continue;
		for (f = 0, failures = 0; f < RD_FAIL__COUNT; f++)
			failures += LOAD(m->sink_failures[(size_t)i * RD_FAIL__COUNT + f]);
		rd_buf_printf(o, "%s{\"name\":", sep);
		rd_buf_json_str(o, ln->name, strlen(ln->name));
		rd_buf_printf(o, ",\"sink\":\"%s\",\"in_use\":%s,\"priority\":%u,\"queued\":%zu",
			rd_sink_kind_name(ln->sink.kind), atomic_load(&ln->retired) ? "false" : "true",
			ln->pol.priority, atomic_load(&ln->q.depth));
		if (ln->sink.store)
			rd_buf_printf(o, ",\"unacknowledged\":%" PRIu64, rd_store_pending(ln->sink.store));
		rd_buf_printf(o, ",\"delivered\":%" PRIu64 ",\"attempts\":%" PRIu64 ",\"retries\":%" PRIu64
			",\"failed_attempts\":%" PRIu64 ",\"dead_lettered\":%" PRIu64 "}",
			LOAD(m->deliveries[i]), LOAD(m->sink_attempts[i]), LOAD(m->sink_retries[i]), failures,
			LOAD(m->dlq[i]));
		sep = ",";
	}
	rd_buf_puts(o, "],\"rules_matched\":[");
	n = atomic_load(&m->nrule_slots);
	for (i = 0, sep = ""; i < n; i++) {
		if (!m->rule_names[i])
			continue;
		rd_buf_printf(o, "%s{\"name\":", sep);
		rd_buf_json_str(o, m->rule_names[i], strlen(m->rule_names[i]));
		rd_buf_printf(o, ",\"matches\":%" PRIu64 ",\"evaluations\":%" PRIu64 ",\"timed\":%" PRIu64
			",\"timed_ns\":%" PRIu64 "}", LOAD(m->rule_matches[i]), LOAD(m->rule_evals[i]),
			LOAD(m->rule_timed[i]), LOAD(m->rule_timed_ns[i]));
		sep = ",";
	}
	rd_buf_puts(o, "]}\n");
}

const char rd_status_html[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\"><head><meta charset=\"utf-8\"><title>routed status</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
	"table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{padding:.2em .8em;"
	"border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}"
	"#err{color:#b00}.dim{color:#888}</style></head><body>\n"
	"<h1>routed <span id=\"version\" class=\"dim\"></span></h1>\n"
	"<p>up <span id=\"uptime\"></span> s &middot; rules generation <span id=\"gen\"></span> "
	"&middot; <span id=\"load\"></span> <span id=\"err\"></span></p>\n"
	"<noscript><p>This page needs JavaScript; the same figures are at "
	"<a href=\"/status.json\">/status.json</a> and <a href=\"/metrics\">/metrics</a>.</p></noscript>\n"
	"<h2>Events</h2><table id=\"events\"></table>\n"
	"<h2>Outcomes</h2><table id=\"outcomes\"></table>\n"
	"<div id=\"srcbox\" hidden><h2>Sources</h2><table id=\"sources\"></table></div>\n"
	"<h2>Destinations</h2><table id=\"dests\"></table>\n"
	"<h2>Rules</h2><table id=\"rules\"></table>\n"
	"<script>\n"
	"function row(t, cells, head) { var tr = t.insertRow(); cells.forEach(function (v) {"
	" var c = document.createElement(head ? 'th' : 'td'); c.textContent = v; tr.appendChild(c); }); }\n"
	"function pairs(t, o) { t.textContent = ''; row(t, Object.keys(o), 1);"
	" row(t, Object.keys(o).map(function (k) { return o[k]; })); }\n"
	"function show(s) {\n"
	" document.getElementById('version').textContent = s.version;\n"
	" document.getElementById('uptime').textContent = s.uptime_seconds;\n"
	" document.getElementById('gen').textContent = s.rules.generation;\n"
	" document.getElementById('load').textContent = s.loaded ? 'loaded (queues written behind)' : 'not loaded';\n"
	" pairs(document.getElementById('events'), s.events);\n"
	" pairs(document.getElementById('outcomes'), s.outcomes);\n"
	" var so = document.getElementById('sources'); so.textContent = '';\n"
	" document.getElementById('srcbox').hidden = s.sources.length === 0;\n"
	" row(so, ['source', 'where', 'state', 'events taken', 'refused', 'backpressure waits'], 1);\n"
	" s.sources.forEach(function (x) { row(so, [x.kind, x.where, x.state, x.taken, x.refused,"
	" x.backpressure_waits]); });\n"
	" var d = document.getElementById('dests'); d.textContent = '';\n"
	" row(d, ['destination', 'sink', 'priority', 'queued', 'unacknowledged', 'delivered', 'attempts',"
	" 'retries', 'failed attempts', 'dead-lettered'], 1);\n"
	" s.destinations.forEach(function (x) { row(d, [x.name + (x.in_use ? '' : ' (retired)'), x.sink,"
	" x.priority, x.queued, x.unacknowledged === undefined ? '' : x.unacknowledged, x.delivered,"
	" x.attempts, x.retries, x.failed_attempts, x.dead_lettered]); });\n"
	" var r = document.getElementById('rules'); r.textContent = '';\n"
	" row(r, ['rule', 'matches', 'evaluations', 'us per evaluation'], 1);\n"
	" s.rules_matched.forEach(function (x) { row(r, [x.name, x.matches, x.evaluations,"
	" x.timed ? (x.timed_ns / x.timed / 1000).toFixed(2) : '']); });\n"
	"}\n"
	"function poll() { fetch('/status.json', { cache: 'no-store' }).then(function (r) {"
	" if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); }).then(function (s) {"
	" document.getElementById('err').textContent = ''; show(s); }).catch(function (e) {"
	" document.getElementById('err').textContent = 'cannot read /status.json: ' + e.message; });"
	" setTimeout(poll, 2000); }\n"
	"poll();\n"
	"</script></body></html>\n";

const size_t rd_status_html_len = sizeof rd_status_html - 1;
