/*
 * metrics.c -- counter storage and Prometheus rendering (see metrics.h).
 * Metric names follow the Prometheus conventions (base unit seconds,
 * counters end in _total) and pass `promtool check metrics` (tested).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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
static const unsigned http_codes[12] = { 200, 202, 400, 401, 404, 405, 413, 415, 422, 429, 500, 503 };
#define NCODES (sizeof http_codes / sizeof http_codes[0])

static const char *const emit_reasons[RD_EMIT__COUNT] = {
	"emit_depth", "out_of_memory"
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

/* Finds name[0..len) in names[0..*n), or appends a copy when there is room. */
static int
slot_of(char **names, _Atomic uint32_t *n, uint32_t cap, const char *name, size_t len)
{
	uint32_t i, used = atomic_load(n);

	for (i = 0; i < used; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return (int)i;
	if (used >= cap || !(names[used] = strndup(name, len)))
		return -1;
	/* the name is in place before readers (/metrics) can see the slot */
	atomic_store(n, used + 1);
	return (int)used;
}

int
rd_metrics_dest_slot(struct rd_metrics *m, const char *name, size_t len)
{
	return slot_of(m->dest_names, &m->ndest_slots, m->dest_cap, name, len);
}

int
rd_metrics_rule_slot(struct rd_metrics *m, const char *name, size_t len)
{
	return slot_of(m->rule_names, &m->nrule_slots, m->rule_cap, name, len);
}

int
rd_metrics_init(struct rd_metrics *m, const route_prog *p)
{
	uint32_t nr = route_prog_nrules(p) + RD_METRICS_SPARE_RULES;
	uint32_t nd = route_prog_ndests(p) + RD_METRICS_SPARE_DESTS, i;
	const char *name;
	size_t len;

	memset(m, 0, sizeof *m);
	m->prog = p;
	m->rule_cap = nr;
	m->dest_cap = nd;
	m->rule_names = calloc(nr, sizeof *m->rule_names);
	m->dest_names = calloc(nd, sizeof *m->dest_names);
	m->rule_matches = calloc(nr, sizeof *m->rule_matches);
	m->rule_evals = calloc(nr, sizeof *m->rule_evals);
	m->rule_timed = calloc(nr, sizeof *m->rule_timed);
	m->rule_timed_ns = calloc(nr, sizeof *m->rule_timed_ns);
	m->deliveries = calloc(nd, sizeof *m->deliveries);
	m->delivery_errors = calloc(nd, sizeof *m->delivery_errors);
	m->sink_attempts = calloc(nd, sizeof *m->sink_attempts);
	m->sink_retries = calloc(nd, sizeof *m->sink_retries);
	m->sink_failures = calloc(nd * RD_FAIL__COUNT, sizeof *m->sink_failures);
	m->dlq = calloc(nd, sizeof *m->dlq);
	m->sink_lat = calloc(nd * (RD_SINK_LAT_BUCKETS + 1), sizeof *m->sink_lat);
	m->sink_lat_sum_ns = calloc(nd, sizeof *m->sink_lat_sum_ns);
	if (!m->rule_matches || !m->rule_evals || !m->rule_timed || !m->rule_timed_ns || !m->deliveries || !m->delivery_errors || !m->sink_attempts ||
		!m->sink_retries || !m->sink_failures || !m->dlq || !m->sink_lat || !m->sink_lat_sum_ns ||
		!m->rule_names || !m->dest_names)
		goto oom;
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		atomic_store(&m->loaded_unix_ms, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
		atomic_store(&m->generation, 1);
	}
	/* slot i is rule i and destination i of the first program (names are unique) */
	for (i = 0; i < route_prog_nrules(p); i++) {
		name = route_rule_name(p, i, &len);
		if (!(m->rule_names[i] = strndup(name ? name : "", name ? len : 0)))
			goto oom;
		atomic_store(&m->nrule_slots, i + 1);
	}
	for (i = 0; i < route_prog_ndests(p); i++) {
		name = route_dest_name(p, i, &len);
		if (!(m->dest_names[i] = strndup(name, len)))
			goto oom;
		atomic_store(&m->ndest_slots, i + 1);
	}
	return 0;
oom:
	rd_metrics_fini(m);
	return -1;
}

void
rd_metrics_fini(struct rd_metrics *m)
{
	uint32_t i;

	for (i = 0; m->rule_names && i < m->nrule_slots; i++)
		free(m->rule_names[i]);
	for (i = 0; m->dest_names && i < m->ndest_slots; i++)
		free(m->dest_names[i]);
	free(m->rule_names);
	free(m->dest_names);
	free(m->rule_matches);
	free(m->rule_evals);
	free(m->rule_timed);
	free(m->rule_timed_ns);
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

/* One sample with one label: METRIC{LABEL="value"} v (ns: v in ns, written in seconds). */
static void
labelled(struct rd_buf *o, const char *metric, const char *label, const char *value, uint64_t v, int ns)
{
	rd_buf_printf(o, "%s{%s=\"", metric, label);
	label_value(o, value, strlen(value));
	if (ns)
		rd_buf_printf(o, "\"} %.9f\n", (double)v / 1e9);
	else
		rd_buf_printf(o, "\"} %llu\n", (unsigned long long)v);
}

/* A counter family with one sample per destination, from v[ndests]. */
static void
per_dest(struct rd_buf *o, struct rd_metrics *m, const char *metric, const char *help,
	atomic_uint_fast64_t *v)
{
	uint32_t i, nd = atomic_load(&m->ndest_slots);

	family(o, metric, "counter", help);
	for (i = 0; i < nd; i++)
		labelled(o, metric, "destination", m->dest_names[i], get(&v[i]), 0);
}

void
rd_metrics_render(struct rd_metrics *m, struct rd_buf *o)
{
	uint32_t i, nr = atomic_load(&m->nrule_slots), nd = atomic_load(&m->ndest_slots);
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
	for (i = 0; i < nr; i++)
		labelled(o, "routed_rule_matches_total", "rule", m->rule_names[i], get(&m->rule_matches[i]), 0);
	family(o, "routed_rule_evaluations_total", "counter",
		"Times the routers evaluated each rule's condition (the index skips the rules an event's "
		"keys rule out; published by each router about once a second).");
	for (i = 0; i < nr; i++)
		labelled(o, "routed_rule_evaluations_total", "rule", m->rule_names[i], get(&m->rule_evals[i]), 0);
	family(o, "routed_rule_evaluation_seconds", "summary",
		"Time evaluating each rule (condition, temporal step, actions), on the events each router "
		"times ([pipeline] rule_cost_every): _count the evaluations timed, _sum their time.");
	for (i = 0; i < nr; i++) {
		labelled(o, "routed_rule_evaluation_seconds_sum", "rule", m->rule_names[i],
			get(&m->rule_timed_ns[i]), 1);
		labelled(o, "routed_rule_evaluation_seconds_count", "rule", m->rule_names[i],
			get(&m->rule_timed[i]), 0);
	}
	per_dest(o, m, "routed_deliveries_total", "Messages written to each destination's sink.",
		m->deliveries);
	per_dest(o, m, "routed_delivery_errors_total",
		"Sink writes that failed (the message is retried by its lane).", m->delivery_errors);
	per_dest(o, m, "routed_sink_attempts_total",
		"Attempts to deliver a message to each destination's sink (retries included).",
		m->sink_attempts);
	per_dest(o, m, "routed_sink_retries_total",
		"Attempts that were retries of a message that had failed before.", m->sink_retries);
	family(o, "routed_sink_failures_total", "counter",
		"Failed delivery attempts, by destination and reason.");
	for (i = 0; i < nd; i++) {
		uint32_t r;
		name = m->dest_names[i];
		len = strlen(name);
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
		name = m->dest_names[i];
		len = strlen(name);
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
	family(o, "routed_reloads_total", "counter", "Rule reloads (SIGHUP or POST /admin/reload), by result.");
	rd_buf_printf(o, "routed_reloads_total{result=\"ok\"} %llu\nrouted_reloads_total{result=\"error\"} %llu\n",
		(unsigned long long)get(&m->reloads_ok), (unsigned long long)get(&m->reloads_error));
	family(o, "routed_rules_generation", "gauge",
		"Generation of the rules in use: 1 at start, plus one for each successful reload.");
	rd_buf_printf(o, "routed_rules_generation %llu\n", (unsigned long long)get(&m->generation));
	family(o, "routed_rules_last_reload_timestamp_seconds", "gauge",
		"Unix time the rules in use were loaded (at start, or by the last successful reload).");
	rd_buf_printf(o, "routed_rules_last_reload_timestamp_seconds %.3f\n",
		(double)get(&m->loaded_unix_ms) / 1e3);
	cum = 0;
	family(o, "routed_end_to_end_duration_seconds", "histogram",
		"Time from an event's acceptance (logged, handed to its shard) to one of its messages written by the sink "
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
