/*
 * metrics.c -- counter storage and Prometheus rendering (see metrics.h).
 * Metric names follow the Prometheus conventions (base unit seconds,
 * counters end in _total) and pass `promtool check metrics` (tested).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Upper bounds of the decision latency buckets, in nanoseconds. */
static const uint64_t lat_le_ns[RD_LAT_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 10000000, 50000000, 250000000
};

/*
 * Upper bounds of the end-to-end latency buckets, in nanoseconds: fine
 * between 5 us and 1 ms, where the issue-6 targets (20 us at p50, 100 us at
 * p99) sit, then coarser up to the retry horizon of webhooks.
 */
static const uint64_t e2e_le_ns[RD_E2E_BUCKETS] = {
	5000, 10000, 20000, 30000, 50000, 75000, 100000, 150000, 200000, 300000, 500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000, 250000000,
	500000000, 1000000000, 2500000000u, 5000000000u, 10000000000u
};

/* Upper bounds of the sink attempt latency buckets, in seconds. */
static const double sink_le_s[RD_SINK_LAT_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};

/* The status codes routed answers, for routed_http_requests_total. */
static const unsigned http_codes[10] = { 200, 202, 400, 401, 404, 405, 413, 415, 429, 503 };
#define NCODES (sizeof http_codes / sizeof http_codes[0])

static const char *const emit_reasons[RD_EMIT__COUNT] = {
	"emit_depth", "cloudevents_envelope", "out_of_memory"
};

static const char *const reject_names[RD_REJ__COUNT] = {
#define X(id, s) s,
	RD_REJECT_REASONS(X)
#undef X
};

const char *
rd_reject_name(int reason)
{
	return reason >= 0 && reason < RD_REJ__COUNT ? reject_names[reason] : "unknown";
}

int
rd_metrics_init(struct rd_metrics *m, const route_prog *p)
{
	uint32_t nr = route_prog_nrules(p), nd = route_prog_ndests(p);

	memset(m, 0, sizeof *m);
	m->prog = p;
	m->rule_matches = calloc(nr ? nr : 1, sizeof *m->rule_matches);
	m->deliveries = calloc(nd ? nd : 1, sizeof *m->deliveries);
	m->delivery_errors = calloc(nd ? nd : 1, sizeof *m->delivery_errors);
	m->sink_attempts = calloc(nd ? nd : 1, sizeof *m->sink_attempts);
	m->sink_retries = calloc(nd ? nd : 1, sizeof *m->sink_retries);
	m->sink_failures = calloc((nd ? nd : 1) * RD_FAIL__COUNT, sizeof *m->sink_failures);
	m->dlq = calloc(nd ? nd : 1, sizeof *m->dlq);
	m->sink_lat = calloc((nd ? nd : 1) * (RD_SINK_LAT_BUCKETS + 1), sizeof *m->sink_lat);
	m->sink_lat_sum_ns = calloc(nd ? nd : 1, sizeof *m->sink_lat_sum_ns);
	if (!m->rule_matches || !m->deliveries || !m->delivery_errors || !m->sink_attempts ||
		!m->sink_retries || !m->sink_failures || !m->dlq || !m->sink_lat || !m->sink_lat_sum_ns) {
		rd_metrics_fini(m);
		return -1;
	}
	return 0;
}

void
rd_metrics_fini(struct rd_metrics *m)
{
	free(m->rule_matches);
	free(m->deliveries);
	free(m->delivery_errors);
	free(m->sink_attempts);
	free(m->sink_retries);
	free(m->sink_failures);
	free(m->dlq);
	free(m->sink_lat);
	free(m->sink_lat_sum_ns);
	memset(m, 0, sizeof *m);
}

void
rd_metrics_latency(struct rd_metrics *m, uint64_t ns)
{
	int i;

	for (i = 0; i < RD_LAT_BUCKETS && ns > lat_le_ns[i]; i++)
		;
	rd_count(&m->lat_bucket[i], 1);
	rd_count(&m->lat_sum_ns, ns);
}

void
rd_metrics_e2e(struct rd_metrics *m, uint64_t ns)
{
	int i;

	for (i = 0; i < RD_E2E_BUCKETS && ns > e2e_le_ns[i]; i++)
		;
	rd_count(&m->e2e_bucket[i], 1);
	rd_count(&m->e2e_sum_ns, ns);
}

void
rd_metrics_sink_latency(struct rd_metrics *m, uint32_t dest, uint64_t ns)
{
	int i;

	for (i = 0; i < RD_SINK_LAT_BUCKETS && (double)ns > sink_le_s[i] * 1e9; i++)
		;
	rd_count(&m->sink_lat[dest * (RD_SINK_LAT_BUCKETS + 1) + (uint32_t)i], 1);
	rd_count(&m->sink_lat_sum_ns[dest], ns);
}

void
rd_metrics_http(struct rd_metrics *m, unsigned code)
{
	int i;

	for (i = 0; i < (int)NCODES; i++)
		if (http_codes[i] == code) {
			rd_count(&m->http_requests[i], 1);
			return;
		}
}

static uint64_t
get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* HELP and TYPE lines of one metric family. */
static void
family(struct rd_buf *o, const char *name, const char *type, const char *help)
{
	rd_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
simple(struct rd_buf *o, const char *name, const char *help, uint64_t v)
{
	family(o, name, "counter", help);
	rd_buf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value: names in the program are identifiers, escaped anyway. */
static void
label_value(struct rd_buf *o, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\' || s[i] == '"')
			rd_buf_append(o, "\\", 1);
		if (s[i] == '\n')
			rd_buf_append(o, "\\n", 2);
		else
			rd_buf_append(o, s + i, 1);
	}
}

/* A counter family with one sample per destination, from v[ndests]. */
static void
per_dest(struct rd_buf *o, struct rd_metrics *m, const char *metric, const char *help,
	atomic_uint_fast64_t *v)
{
	uint32_t i, nd = route_prog_ndests(m->prog);
	size_t len;
	const char *name;

	family(o, metric, "counter", help);
	for (i = 0; i < nd; i++) {
		name = route_dest_name(m->prog, i, &len);
		rd_buf_printf(o, "%s{destination=\"", metric);
		label_value(o, name, len);
		rd_buf_printf(o, "\"} %llu\n", (unsigned long long)get(&v[i]));
	}
}

void
rd_metrics_render(struct rd_metrics *m, struct rd_buf *o)
{
	uint32_t i, nr = route_prog_nrules(m->prog), nd = route_prog_ndests(m->prog);
	uint64_t cum = 0;
	size_t len;
	const char *name;

	simple(o, "routed_events_received_total",
		"Events received over HTTP, TCP or replay (a request whose events cannot be counted counts as one).",
		get(&m->received));
	simple(o, "routed_events_accepted_total", "Events accepted (answered 202) for routing.",
		get(&m->accepted));
	family(o, "routed_events_rejected_total", "counter", "Events refused, by reason.");
	for (i = 0; i < RD_REJ__COUNT; i++)
		rd_buf_printf(o, "routed_events_rejected_total{reason=\"%s\"} %llu\n", reject_names[i],
			(unsigned long long)get(&m->rejected[i]));
	simple(o, "routed_events_matched_total",
		"Accepted events routed to at least one destination.", get(&m->matched));
	simple(o, "routed_events_unmatched_total",
		"Accepted events routed to no destination (unknown types and versions included).",
		get(&m->unmatched));
	simple(o, "routed_events_unknown_total",
		"Accepted events whose type or version no contract declares.", get(&m->unknown));
	simple(o, "routed_events_emitted_total", "Events derived by emit actions and routed.",
		get(&m->emitted));
	family(o, "routed_events_emit_unrouted_total", "counter",
		"Emitted events not routed, by reason (emit_depth, cloudevents_envelope, out_of_memory).");
	for (i = 0; i < RD_EMIT__COUNT; i++)
		rd_buf_printf(o, "routed_events_emit_unrouted_total{reason=\"%s\"} %llu\n", emit_reasons[i],
			(unsigned long long)get(&m->emit_unrouted[i]));
	family(o, "routed_rule_matches_total", "counter", "Events each rule matched.");
	for (i = 0; i < nr; i++) {
		name = route_rule_name(m->prog, i, &len);
		rd_buf_puts(o, "routed_rule_matches_total{rule=\"");
		label_value(o, name, len);
		rd_buf_printf(o, "\"} %llu\n", (unsigned long long)get(&m->rule_matches[i]));
	}
	family(o, "routed_deliveries_total", "counter", "Messages written to each destination's sink.");
	for (i = 0; i < nd; i++) {
		name = route_dest_name(m->prog, i, &len);
		rd_buf_puts(o, "routed_deliveries_total{destination=\"");
		label_value(o, name, len);
		rd_buf_printf(o, "\"} %llu\n", (unsigned long long)get(&m->deliveries[i]));
	}
	family(o, "routed_delivery_errors_total", "counter",
		"Sink writes that failed (the message is retried by its lane).");
	for (i = 0; i < nd; i++) {
		name = route_dest_name(m->prog, i, &len);
		rd_buf_puts(o, "routed_delivery_errors_total{destination=\"");
		label_value(o, name, len);
		rd_buf_printf(o, "\"} %llu\n", (unsigned long long)get(&m->delivery_errors[i]));
	}
	per_dest(o, m, "routed_sink_attempts_total",
		"Attempts to deliver a message to each destination's sink (retries included).",
		m->sink_attempts);
	per_dest(o, m, "routed_sink_retries_total",
		"Attempts that were retries of a message that had failed before.", m->sink_retries);
	family(o, "routed_sink_failures_total", "counter",
		"Failed delivery attempts, by destination and reason.");
	for (i = 0; i < nd; i++) {
		uint32_t r;
		name = route_dest_name(m->prog, i, &len);
		for (r = 0; r < RD_FAIL__COUNT; r++) {
			rd_buf_puts(o, "routed_sink_failures_total{destination=\"");
			label_value(o, name, len);
			rd_buf_printf(o, "\",reason=\"%s\"} %llu\n", rd_fail_name((int)r),
				(unsigned long long)get(&m->sink_failures[i * RD_FAIL__COUNT + r]));
		}
	}
	per_dest(o, m, "routed_dlq_total",
		"Messages each destination gave up and sent to its dead-letter queue.", m->dlq);
	family(o, "routed_sink_latency_seconds", "histogram",
		"Time one delivery attempt took, by destination (failed attempts included).");
	for (i = 0; i < nd; i++) {
		const atomic_uint_fast64_t *b = &m->sink_lat[i * (RD_SINK_LAT_BUCKETS + 1)];
		uint32_t k;
		name = route_dest_name(m->prog, i, &len);
		cum = 0;
		for (k = 0; k <= RD_SINK_LAT_BUCKETS; k++) {
			cum += get((atomic_uint_fast64_t *)&b[k]);
			rd_buf_puts(o, "routed_sink_latency_seconds_bucket{destination=\"");
			label_value(o, name, len);
			if (k < RD_SINK_LAT_BUCKETS)
				rd_buf_printf(o, "\",le=\"%g\"} %llu\n", sink_le_s[k], (unsigned long long)cum);
			else
				rd_buf_printf(o, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		rd_buf_puts(o, "routed_sink_latency_seconds_sum{destination=\"");
		label_value(o, name, len);
		rd_buf_printf(o, "\"} %.9f\n", (double)get(&m->sink_lat_sum_ns[i]) / 1e9);
		rd_buf_puts(o, "routed_sink_latency_seconds_count{destination=\"");
		label_value(o, name, len);
		rd_buf_printf(o, "\"} %llu\n", (unsigned long long)cum);
	}
	cum = 0;
	family(o, "routed_http_requests_total", "counter", "HTTP requests answered, by status code.");
	for (i = 0; i < NCODES; i++)
		rd_buf_printf(o, "routed_http_requests_total{code=\"%u\"} %llu\n", http_codes[i],
			(unsigned long long)get(&m->http_requests[i]));
	family(o, "routed_routing_decision_duration_seconds", "histogram",
		"Time route_match() took per event in the router workers.");
	for (i = 0; i < RD_LAT_BUCKETS; i++) {
		cum += get(&m->lat_bucket[i]);
		rd_buf_printf(o, "routed_routing_decision_duration_seconds_bucket{le=\"%g\"} %llu\n",
			(double)lat_le_ns[i] / 1e9, (unsigned long long)cum);
	}
	/* the count is the buckets' sum, so a scrape during updates stays consistent */
	cum += get(&m->lat_bucket[RD_LAT_BUCKETS]);
	rd_buf_printf(o, "routed_routing_decision_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)cum);
	rd_buf_printf(o, "routed_routing_decision_duration_seconds_sum %.9f\n",
		(double)get(&m->lat_sum_ns) / 1e9);
	rd_buf_printf(o, "routed_routing_decision_duration_seconds_count %llu\n",
		(unsigned long long)cum);
	cum = 0;
	family(o, "routed_end_to_end_duration_seconds", "histogram",
		"Time from an event's acceptance by ingest to one of its messages written by the sink "
		"(webhooks: answered 2xx), per message.");
	for (i = 0; i < RD_E2E_BUCKETS; i++) {
		cum += get(&m->e2e_bucket[i]);
		rd_buf_printf(o, "routed_end_to_end_duration_seconds_bucket{le=\"%g\"} %llu\n",
			(double)e2e_le_ns[i] / 1e9, (unsigned long long)cum);
	}
	cum += get(&m->e2e_bucket[RD_E2E_BUCKETS]);
	rd_buf_printf(o, "routed_end_to_end_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)cum);
	rd_buf_printf(o, "routed_end_to_end_duration_seconds_sum %.9f\n", (double)get(&m->e2e_sum_ns) / 1e9);
	rd_buf_printf(o, "routed_end_to_end_duration_seconds_count %llu\n", (unsigned long long)cum);
}
