/*
 * conf.c -- the config file parser (see conf.h for the format's rules).
 *
 *   # comment (a whole line; ';' too)
 *   [section]            or  [destination NAME]
 *   key = value          (spaces around '=' and the value are trimmed)
 *
 * Keys are described once, in conf_keys[] (section, name, kind, where the
 * value goes, bounds); destination sections are handled apart.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sched.h>

#include "conf.h"
#include "log.h"

enum key_kind { K_STR, K_UINT, K_SIZE, K_SIZET, K_LEVEL, K_ENVELOPE, K_SYNC, K_SCHED, K_START, K_MS };
/* K_SIZE: unsigned; K_SIZET: size_t; K_MS: a duration ("500ms", "10s") into unsigned ms, min..max ms */

struct conf_key {
	const char *section, *name;
	enum key_kind kind;
	size_t off;                /* offsetof(struct rd_conf, ...) */
	unsigned long long min, max;
};

#define U(f) offsetof(struct rd_conf, f)
static const struct conf_key conf_keys[] = {
	{ "service", "data_dir", K_STR, U(data_dir), 0, 0 },
	{ "service", "log_level", K_LEVEL, U(log_level), 0, 0 },
	{ "service", "scheduling", K_SCHED, U(scheduling), 0, 0 },
	{ "http", "listen", K_STR, U(listen), 0, 0 },
	{ "http", "threads", K_UINT, U(http_threads), 1, 64 },
	{ "http", "max_body_bytes", K_SIZET, U(max_body_bytes), 1024, 1ull << 32 },
	{ "http", "connection_limit", K_UINT, U(connection_limit), 1, 100000 },
	{ "http", "connection_timeout", K_UINT, U(connection_timeout), 1, 3600 },
	{ "http", "retry_after", K_UINT, U(retry_after), 1, 3600 },
	{ "http", "queue_batch_max", K_UINT, U(queue_batch_max), 1, 100000 },
	{ "pipeline", "workers", K_UINT, U(workers), 1, 256 },
	{ "pipeline", "shard_key", K_STR, U(shard_key), 0, 0 },
	{ "pipeline", "emit_depth", K_UINT, U(emit_depth), 0, 64 },
	{ "pipeline", "rule_cost_every", K_UINT, U(rule_cost_every), 0, 1000000 },
	{ "pipeline", "drain_timeout", K_UINT, U(drain_timeout), 0, 3600 },
	{ "pipeline", "delivery_slots", K_UINT, U(delivery_slots), 0, 4096 },
	{ "pipeline", "queue_max", K_UINT, U(queue_max), 0, 100000000 },
	{ "limits", "max_inflight_bytes", K_SIZET, U(max_inflight_bytes), 65536, 1ull << 40 },
	{ "limits", "max_event_bytes", K_SIZE, U(max_event_bytes), 64, 1u << 30 },
	{ "limits", "max_depth", K_UINT, U(max_depth), 1, 10000 },
	{ "limits", "max_string", K_SIZE, U(max_string), 16, 1u << 30 },
	{ "limits", "max_values", K_UINT, U(max_values), 16, 1u << 24 },
	{ "rules", "envelope", K_ENVELOPE, U(envelope), 0, 0 },
	{ "rules", "type_field", K_STR, U(type_field), 0, 0 },
	{ "tcp", "listen", K_STR, U(tcp_listen), 0, 0 },
	{ "tcp", "max_connections", K_UINT, U(tcp_max_connections), 1, 10000 },
	{ "tcp", "idle_timeout", K_UINT, U(tcp_idle_timeout), 0, 86400 },
	{ "tcp", "token", K_STR, U(tcp_token), 0, 0 },
	{ "kafka", "brokers", K_STR, U(kafka_brokers), 0, 0 },
	{ "kafka", "topics", K_STR, U(kafka_topics), 0, 0 },
	{ "kafka", "group", K_STR, U(kafka_group), 0, 0 },
	{ "kafka", "start", K_START, U(kafka_latest), 0, 0 },
	{ "kafka", "session_timeout", K_MS, U(kafka_session_ms), 1000, 3600000 },
	{ "rabbitmq", "url", K_STR, U(rabbitmq_url), 0, 0 },
	{ "rabbitmq", "queue", K_STR, U(rabbitmq_queue), 0, 0 },
	{ "rabbitmq", "prefetch", K_UINT, U(rabbitmq_prefetch), 1, 65535 },
	{ "rabbitmq", "ca_file", K_STR, U(rabbitmq_ca_file), 0, 0 },
	{ "tcp", "tls_cert", K_STR, U(tcp_tls_cert), 0, 0 },
	{ "tcp", "tls_key", K_STR, U(tcp_tls_key), 0, 0 },
	{ "admin", "token", K_STR, U(admin_token), 0, 0 },
	{ "durability", "sync", K_SYNC, U(sync), 0, 0 },
	{ "durability", "sync_batch_ms", K_UINT, U(sync_batch_ms), 1, 10000 },
	{ "durability", "segment_bytes", K_SIZET, U(segment_bytes), 65536, 1ull << 34 },
	{ "durability", "cursor_interval_ms", K_UINT, U(cursor_interval_ms), 10, 60000 },
	{ "durability", "checkpoint_interval", K_UINT, U(checkpoint_interval), 1, 86400 },
	{ "durability", "dedup_window", K_UINT, U(dedup_window), 0, 7 * 86400 },
	{ "durability", "dedup_id_member", K_STR, U(dedup_id_member), 0, 0 },
	{ "durability", "dedup_max_entries", K_UINT, U(dedup_max_entries), 1, 100000000 },
};
#undef U
#define NKEYS (sizeof conf_keys / sizeof conf_keys[0])

static void rd_conf_sources_fini(struct rd_conf *c);

/*
 * [http] threads when the configuration does not say: 2, or 1 when this
 * process may run on one CPU only (taskset, a cpuset). Two event loops on
 * one CPU only take turns, and each turn is a context switch: NDJSON
 * batches on one CPU, 210-226k events/s with 2 threads, 259-261k with 1.
 */
static unsigned
default_http_threads(void)
{
	cpu_set_t cpus;

	return sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) == 1 ? 1 : 2;
}

int
rd_conf_init(struct rd_conf *c)
{
	memset(c, 0, sizeof *c);
	c->data_dir = strdup("routed-data");
	c->log_level = RD_LOG_INFO;
	c->listen = strdup("127.0.0.1:8080");
	c->http_threads = default_http_threads();
	c->max_body_bytes = 4u << 20;
	c->connection_limit = 1024;
	c->connection_timeout = 30;
	c->retry_after = 1;
	c->queue_batch_max = 1000;
	c->rabbitmq_prefetch = 1000;
	c->workers = 2;
	c->shard_key = strdup("event_type,type");
	c->emit_depth = 4;
	c->rule_cost_every = 64;
	c->drain_timeout = 10;
	c->max_inflight_bytes = 64u << 20;
	c->max_event_bytes = 1u << 20;
	c->max_depth = 64;
	c->max_string = 256u << 10;
	c->max_values = 4096;
	c->envelope = ROUTE_ENV_AUTO;
	c->type_field = strdup("event_type");
	c->tcp_max_connections = 64;
	c->tcp_idle_timeout = 600;
	c->sync = 0; /* always */
	c->sync_batch_ms = 5;
	c->segment_bytes = 16u << 20;
	c->cursor_interval_ms = 100;
	c->checkpoint_interval = 10;
	c->dedup_window = 60;
	c->dedup_max_entries = 1000000;
	if (!c->data_dir || !c->listen || !c->shard_key || !c->type_field) {
		rd_conf_fini(c);
		return -1;
	}
	return 0;
}

/* Frees what a destination section owns. */
static void
dest_fini(struct rd_dest_conf *d)
{
	unsigned i;

	free(d->name);
	free(d->path);
	free(d->command);
	free(d->brokers);
	free(d->topic);
	free(d->key_member);
	free(d->exchange);
	free(d->routing_key);
	free(d->routing_key_from);
	free(d->url);
	for (i = 0; i < d->nheaders; i++)
		free(d->headers[i]);
	free(d->headers);
	free(d->bearer_token);
	free(d->basic_auth);
	free(d->ca_file);
}

void
rd_conf_fini(struct rd_conf *c)
{
	unsigned i;

	for (i = 0; i < c->ndests; i++)
		dest_fini(&c->dests[i]);
	free(c->dests);
	rd_conf_sources_fini(c);
	free(c->tcp_listen);
	free(c->tcp_token);
	free(c->kafka_brokers);
	free(c->kafka_topics);
	free(c->kafka_group);
	free(c->rabbitmq_url);
	free(c->rabbitmq_queue);
	free(c->rabbitmq_ca_file);
	free(c->tcp_tls_cert);
	free(c->tcp_tls_key);
	free(c->dedup_id_member);
	free(c->admin_token);
	free(c->file);
	free(c->data_dir);
	free(c->listen);
	free(c->shard_key);
	free(c->type_field);
	memset(c, 0, sizeof *c);
}

/* Trims spaces on both sides in place; returns the start. */
static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "123", "64k", "16M", "1G" (binary multiples). Returns 0 or -1. */
static int
parse_size(const char *s, unsigned long long *out, int allow_suffix)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (allow_suffix && *end) {
		switch (*end) {
		case 'k': case 'K': mul = 1ull << 10; break;
		case 'm': case 'M': mul = 1ull << 20; break;
		case 'g': case 'G': mul = 1ull << 30; break;
		default: return -1;
		}
		end++;
	}
	if (*end || v > (unsigned long long)-1 / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* A destination or section name: letters, digits, '_', '.', '-'. */
static int
valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return 0;
	return 1;
}

/* A key with one of n (2 or 3) words as its value: *out = values[i] for the word words[i].
 * Returns 0, or -1 with why ("KEY must be A, B or C, not 'VAL'"). */
static int
choose(const char *key, const char *val, const char *const *words, const int *values, int n, int *out,
	char *why, size_t whylen)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(val, words[i]) == 0) {
			*out = values[i];
			return 0;
		}
	if (n == 2)
		snprintf(why, whylen, "%s must be %s or %s, not '%s'", key, words[0], words[1], val);
	else
		snprintf(why, whylen, "%s must be %s, %s or %s, not '%s'", key, words[0], words[1], words[2], val);
	return -1;
}
/* Sets one key of the current plain section. Returns 0, or -1 with a message in why. */
static int
set_key(struct rd_conf *c, const struct conf_key *k, const char *val, char *why, size_t whylen)
{
	char *base = (char *)c + k->off;
	unsigned long long v;
	unsigned u;
	char *dup;
	int lv;

	switch (k->kind) {
	case K_STR:
		if (!*val) {
			snprintf(why, whylen, "%s needs a value", k->name);
			return -1;
		}
		if (!(dup = strdup(val))) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		free(*(char **)base);
		*(char **)base = dup;
		return 0;
	case K_MS:
		if (rd_conf_duration_ms(val, &u) < 0 || u < k->min || u > k->max) {
			snprintf(why, whylen, "%s must be a duration from %llums to %llus (like 500ms, 10s, 1m), not '%s'",
				k->name, k->min, k->max / 1000, val);
			return -1;
		}
		*(unsigned *)base = u;
		return 0;
	case K_UINT:
	case K_SIZE:
	case K_SIZET:
		if (parse_size(val, &v, k->kind != K_UINT) < 0 || v < k->min || v > k->max) {
			snprintf(why, whylen, "%s must be %s from %llu to %llu, not '%s'", k->name,
				k->kind != K_UINT ? "a size (bytes, or with k, M, G)" : "a number",
				k->min, k->max, val);
			return -1;
		}
		if (k->kind == K_SIZET)
			*(size_t *)base = (size_t)v;
		else
			*(unsigned *)base = (unsigned)v;
		return 0;
	case K_LEVEL:
		if ((lv = rd_log_level_parse(val)) < 0) {
			snprintf(why, whylen, "log_level must be debug, info, warn or error, not '%s'", val);
			return -1;
		}
		*(int *)base = lv;
		return 0;
	case K_ENVELOPE: {
		static const char *const w[3] = { "auto", "plain", "cloudevents" };
		static const int vals[3] = { ROUTE_ENV_AUTO, ROUTE_ENV_PLAIN, ROUTE_ENV_CLOUDEVENTS };
		return choose(k->name, val, w, vals, 3, (int *)base, why, whylen);
	}
	case K_SCHED: {
		static const char *const w[3] = { "auto", "normal", "batch" };
		static const int vals[3] = { RD_SCHED_AUTO, RD_SCHED_NORMAL, RD_SCHED_BATCH };
		return choose(k->name, val, w, vals, 3, (int *)base, why, whylen);
	}
	case K_START: {
		static const char *const w[2] = { "earliest", "latest" };
		static const int vals[2] = { 0, 1 };
		return choose(k->name, val, w, vals, 2, (int *)base, why, whylen);
	}
	case K_SYNC: {
		static const char *const w[3] = { "always", "batch", "none" }; /* enum rd_wal_sync */
		static const int vals[3] = { 0, 1, 2 };
		return choose(k->name, val, w, vals, 3, (int *)base, why, whylen);
	}
	}
	return -1;
}

int
rd_conf_duration_ms(const char *s, unsigned *ms)
{
	unsigned long long v, mul;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60000;
	else if (strcmp(end, "h") == 0)
		mul = 3600000;
	else
		return -1;
	if (v == 0 || v > 3600000ull / mul)
		return -1;
	*ms = (unsigned)(v * mul);
	return 0;
}

/* Replaces *dst by a copy of val (which must not be empty). Returns 0, or -1 with why. */
static int
set_str(char **dst, const char *key, const char *val, char *why, size_t whylen)
{
	char *dup;

	if (!*val) {
		snprintf(why, whylen, "%s needs a value", key);
		return -1;
	}
	if (!(dup = strdup(val))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = dup;
	return 0;
}

/* The keys of a [destination NAME] section; bit i of the seen mask is dest_keys[i]. */
static const char *const dest_keys[] = {
	"sink", "path", "url", "header", "bearer_token", "basic_auth", "ca_file", "timeout",
	"max_in_flight", "command", "rotate_bytes", "rotate_keep", "exec_mode", "brokers", "topic", "key", "exchange", "routing_key", "routing_key_from"
};
#define NDEST_KEYS (sizeof dest_keys / sizeof dest_keys[0])
#define DEST_KEY_HEADER 3      /* the one key that may repeat */

#ifdef HAVE_KAFKA
#define WITHOUT_KAFKA NULL
#else
#define WITHOUT_KAFKA "Kafka (librdkafka; apt-get install librdkafka-dev"
#endif
#ifdef HAVE_RABBITMQ
#define WITHOUT_RABBITMQ NULL
#else
#define WITHOUT_RABBITMQ "RabbitMQ (librabbitmq; apt-get install librabbitmq-dev"
#endif
/* The values of sink: without names what this build lacks for it (NULL: built). */
static const struct {
	const char *name;
	int kind;                  /* enum rd_sink_kind */
	const char *without;
} sinks[] = {
	{ "queue", RD_SINK_QUEUE, NULL }, { "stdout", RD_SINK_STDOUT, NULL }, { "file", RD_SINK_FILE, NULL },
	{ "webhook", RD_SINK_WEBHOOK, NULL }, { "exec", RD_SINK_EXEC, NULL },
	{ "kafka", RD_SINK_KAFKA, WITHOUT_KAFKA }, { "rabbitmq", RD_SINK_RABBITMQ, WITHOUT_RABBITMQ },
};

/* Sets a key of a [destination NAME] section. Returns 0, or -1 with why. */
static int
set_dest_key(struct rd_dest_conf *d, const char *key, const char *val, char *why, size_t whylen)
{
	unsigned long long v;

	if (strcmp(key, "sink") == 0) {
		size_t k;

		for (k = 0; k < sizeof sinks / sizeof sinks[0]; k++) {
			if (strcmp(val, sinks[k].name) != 0)
				continue;
			if (sinks[k].without) {
				snprintf(why, whylen, "sink = %s: this routed was built without %s, then configure again)",
					val, sinks[k].without);
				return -1;
			}
			d->sink = sinks[k].kind;
			return 0;
		}
		snprintf(why, whylen, "sink must be queue, stdout, file, webhook, exec, kafka or rabbitmq, not '%s'", val);
		return -1;
	}
	if (strcmp(key, "path") == 0)
		return set_str(&d->path, key, val, why, whylen);
	if (strcmp(key, "url") == 0) {
		if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0 &&
		    strncmp(val, "amqp://", 7) != 0 && strncmp(val, "amqps://", 8) != 0) {
			snprintf(why, whylen, "url must start with http:// or https:// (webhook) or amqp:// or amqps:// "
				"(rabbitmq), not '%s'", val);
			return -1;
		}
		return set_str(&d->url, key, val, why, whylen);
	}
	if (strcmp(key, "header") == 0) {
		const char *colon = strchr(val, ':'), *p;
		char **nh;
		if (!colon || colon == val) {
			snprintf(why, whylen, "header must be 'Name: value', not '%s'", val);
			return -1;
		}
		for (p = val; p < colon; p++)
			if (!isgraph((unsigned char)*p)) {
				snprintf(why, whylen, "header name '%.*s' has a space or control character",
					(int)(colon - val), val);
				return -1;
			}
		if (!(nh = realloc(d->headers, (d->nheaders + 1) * sizeof *nh))) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		d->headers = nh;
		d->headers[d->nheaders] = NULL;
		if (set_str(&d->headers[d->nheaders], key, val, why, whylen) < 0)
			return -1;
		d->nheaders++;
		return 0;
	}
	if (strcmp(key, "bearer_token") == 0)
		return set_str(&d->bearer_token, key, val, why, whylen);
	if (strcmp(key, "basic_auth") == 0) {
		if (!strchr(val, ':')) {
			snprintf(why, whylen, "basic_auth must be 'user:password'");
			return -1;
		}
		return set_str(&d->basic_auth, key, val, why, whylen);
	}
	if (strcmp(key, "ca_file") == 0)
		return set_str(&d->ca_file, key, val, why, whylen);
	if (strcmp(key, "timeout") == 0) {
		if (rd_conf_duration_ms(val, &d->timeout_ms) < 0) {
			snprintf(why, whylen, "timeout must be a duration from 1ms to 1h (like 500ms, 5s, 2m), "
				"not '%s'", val);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "max_in_flight") == 0) {
		if (parse_size(val, &v, 0) < 0 || v < 1 || v > 1024) {
			snprintf(why, whylen, "max_in_flight must be a number from 1 to 1024, not '%s'", val);
			return -1;
		}
		d->max_in_flight = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "command") == 0) {
		if (!*val) {
			snprintf(why, whylen, "command must not be empty");
			return -1;
		}
		return set_str(&d->command, key, val, why, whylen);
	}
	if (strcmp(key, "brokers") == 0)
		return set_str(&d->brokers, key, val, why, whylen);
	if (strcmp(key, "topic") == 0)
		return set_str(&d->topic, key, val, why, whylen);
	if (strcmp(key, "key") == 0)
		return set_str(&d->key_member, key, val, why, whylen);
	if (strcmp(key, "exchange") == 0)
		return set_str(&d->exchange, key, val, why, whylen);
	if (strcmp(key, "routing_key") == 0)
		return set_str(&d->routing_key, key, val, why, whylen);
	if (strcmp(key, "routing_key_from") == 0)
		return set_str(&d->routing_key_from, key, val, why, whylen);
	if (strcmp(key, "exec_mode") == 0) {
		if (strcmp(val, "once") != 0 && strcmp(val, "stream") != 0) {
			snprintf(why, whylen, "exec_mode must be once (a run per delivery) or stream (a long-lived "
				"command that answers each line), not '%s'", val);
			return -1;
		}
		d->exec_stream = strcmp(val, "stream") == 0;
		d->exec_mode_set = 1;
		return 0;
	}
	if (strcmp(key, "rotate_bytes") == 0) {
		if (parse_size(val, &v, 1) < 0 || (v != 0 && v < 1024) || v > (1ull << 40)) {
			snprintf(why, whylen, "rotate_bytes must be 0 (never) or a size from 1k to 1T, not '%s'",
				val);
			return -1;
		}
		d->rotate_bytes = v;
		return 0;
	}
	if (strcmp(key, "rotate_keep") == 0) {
		if (parse_size(val, &v, 0) < 0 || v < 1 || v > 1000) {
			snprintf(why, whylen, "rotate_keep must be a number from 1 to 1000, not '%s'", val);
			return -1;
		}
		d->rotate_keep = (unsigned)v;
		return 0;
	}
	snprintf(why, whylen, "unknown key '%s' in [destination %s] (keys: sink, path, rotate_bytes, "
		"rotate_keep, command, exec_mode, url, header, bearer_token, basic_auth, ca_file, timeout, "
		"max_in_flight, brokers, topic, key, exchange, routing_key, routing_key_from)",
		key, d->name);
	return -1;
}

/* Checks a finished destination section. Returns 0, or -1 with why. */
static int
check_dest(const struct rd_dest_conf *d, char *why, size_t whylen)
{
	if (d->sink == RD_SINK_FILE && !d->path) {
		snprintf(why, whylen, "[destination %s]: sink = file needs path", d->name);
		return -1;
	}
	if (d->sink != RD_SINK_FILE && d->path) {
		snprintf(why, whylen, "[destination %s]: path is only for sink = file", d->name);
		return -1;
	}
	if (d->sink == RD_SINK_WEBHOOK && !d->url) {
		snprintf(why, whylen, "[destination %s]: sink = webhook needs url", d->name);
		return -1;
	}
	if (d->sink == RD_SINK_WEBHOOK && strncmp(d->url, "http", 4) != 0) {
		snprintf(why, whylen, "[destination %s]: sink = webhook needs an http:// or https:// url", d->name);
		return -1;
	}
	if (d->sink != RD_SINK_WEBHOOK && ((d->url && d->sink != RD_SINK_RABBITMQ) || d->nheaders ||
		d->bearer_token || d->basic_auth || (d->ca_file && d->sink != RD_SINK_RABBITMQ) || d->max_in_flight ||
		(d->timeout_ms && d->sink != RD_SINK_EXEC && d->sink != RD_SINK_KAFKA && d->sink != RD_SINK_RABBITMQ))) {
		snprintf(why, whylen, "[destination %s]: url, header, bearer_token, basic_auth, ca_file, "
			"timeout and max_in_flight are only for sink = webhook (url, ca_file and timeout also for "
			"rabbitmq, timeout also for exec and kafka)", d->name);
		return -1;
	}
	if (d->sink == RD_SINK_RABBITMQ && (!d->url || strncmp(d->url, "amqp", 4) != 0)) {
		snprintf(why, whylen, "[destination %s]: sink = rabbitmq needs an amqp:// or amqps:// url (its broker)",
			d->name);
		return -1;
	}
	if (d->sink == RD_SINK_RABBITMQ && d->ca_file && strncmp(d->url, "amqps://", 8) != 0) {
		snprintf(why, whylen, "[destination %s]: ca_file is for an amqps:// url (TLS)", d->name);
		return -1;
	}
	if (d->sink == RD_SINK_RABBITMQ && !d->exchange && !d->routing_key && !d->routing_key_from) {
		snprintf(why, whylen, "[destination %s]: sink = rabbitmq needs exchange, routing_key or "
			"routing_key_from (to the default exchange, the routing key is the queue's name)", d->name);
		return -1;
	}
	if (d->sink != RD_SINK_RABBITMQ && (d->exchange || d->routing_key || d->routing_key_from)) {
		snprintf(why, whylen, "[destination %s]: exchange, routing_key and routing_key_from are only for "
			"sink = rabbitmq", d->name);
		return -1;
	}
	if (d->sink == RD_SINK_EXEC && !d->command) {
		snprintf(why, whylen, "[destination %s]: sink = exec needs command", d->name);
		return -1;
	}
	if (d->sink == RD_SINK_KAFKA && (!d->brokers || !d->topic)) {
		snprintf(why, whylen, "[destination %s]: sink = kafka needs brokers and topic", d->name);
		return -1;
	}
	if (d->sink != RD_SINK_KAFKA && (d->brokers || d->topic || d->key_member)) {
		snprintf(why, whylen, "[destination %s]: brokers, topic and key are only for sink = kafka", d->name);
		return -1;
	}
	if (d->sink != RD_SINK_EXEC && (d->command || d->exec_mode_set)) {
		snprintf(why, whylen, "[destination %s]: command and exec_mode are only for sink = exec", d->name);
		return -1;
	}
	if (d->sink != RD_SINK_FILE && (d->rotate_bytes || d->rotate_keep)) {
		snprintf(why, whylen, "[destination %s]: rotate_bytes and rotate_keep are only for sink = file",
			d->name);
		return -1;
	}
	if (d->rotate_keep && !d->rotate_bytes) {
		snprintf(why, whylen, "[destination %s]: rotate_keep needs rotate_bytes", d->name);
		return -1;
	}
	if (d->bearer_token && d->basic_auth) {
		snprintf(why, whylen, "[destination %s]: bearer_token and basic_auth exclude each other",
			d->name);
		return -1;
	}
	return 0;
}

/* ---- [source NAME] sections (per-source authentication, auth.c) ---------------- */

static void
rd_conf_sources_fini(struct rd_conf *c)
{
	unsigned i;

	for (i = 0; i < c->nsources; i++) {
		struct rd_source_conf *s = &c->sources[i];
		free(s->name);
		free(s->path);
		free(s->token);
		free(s->secret);
		free(s->signature_header);
		free(s->timestamp_header);
	}
	free(c->sources);
	c->sources = NULL;
	c->nsources = 0;
}

/* "300", "300s", "5m", "1h" as seconds (1 to 86400). Returns 0 or -1. */
static int
parse_seconds(const char *s, unsigned *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > 86400)
		return -1;
	if (*end == 'm')
		v *= 60, end++;
	else if (*end == 'h')
		v *= 3600, end++;
	else if (*end == 's')
		end++;
	if (*end || v < 1 || v > 86400)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* The keys of a [source NAME] section, in the order of their bit in rd_source_conf.seen. */
static const char *const source_keys[] = {
	"path", "auth", "token", "secret", "scheme", "signature_header", "timestamp_header", "tolerance"
};
#define NSOURCE_KEYS (sizeof source_keys / sizeof source_keys[0])

/* Sets a key of a [source NAME] section. Returns 0, or -1 with why (duplicates included). */
static int
set_source_key(struct rd_source_conf *s, const char *key, const char *val, char *why, size_t whylen)
{
	unsigned k;

	for (k = 0; k < NSOURCE_KEYS; k++)
		if (strcmp(key, source_keys[k]) == 0)
			break;
	if (k == NSOURCE_KEYS) {
		snprintf(why, whylen, "unknown key '%s' in [source %s] (keys: path, auth, token, secret, "
			"scheme, signature_header, timestamp_header, tolerance)", key, s->name);
		return -1;
	}
	if (s->seen & (1u << k)) {
		snprintf(why, whylen, "duplicate key '%s'", key);
		return -1;
	}
	s->seen |= 1u << k;
	switch (k) {
	case 0:
		if (val[0] != '/' || strchr(val, '?') || strchr(val, ' ')) {
			snprintf(why, whylen, "path must start with '/' (no query, no spaces), not '%s'", val);
			return -1;
		}
		return set_str(&s->path, key, val, why, whylen);
	case 1:
		if (strcmp(val, "none") == 0)
			s->auth = RD_AUTH_NONE;
		else if (strcmp(val, "bearer") == 0)
			s->auth = RD_AUTH_BEARER;
		else if (strcmp(val, "hmac") == 0)
			s->auth = RD_AUTH_HMAC;
		else {
			snprintf(why, whylen, "auth must be none, bearer or hmac, not '%s'", val);
			return -1;
		}
		return 0;
	case 2:
		return set_str(&s->token, key, val, why, whylen);
	case 3:
		return set_str(&s->secret, key, val, why, whylen);
	case 4:
		if (strcmp(val, "stripe") == 0)
			s->scheme = RD_HMAC_STRIPE;
		else if (strcmp(val, "standard-webhooks") == 0)
			s->scheme = RD_HMAC_STANDARD;
		else if (strcmp(val, "generic") == 0)
			s->scheme = RD_HMAC_GENERIC;
		else {
			snprintf(why, whylen, "scheme must be stripe, standard-webhooks or generic, not '%s'", val);
			return -1;
		}
		return 0;
	case 5:
		return set_str(&s->signature_header, key, val, why, whylen);
	case 6:
		return set_str(&s->timestamp_header, key, val, why, whylen);
	default:
		if (parse_seconds(val, &s->tolerance) < 0) {
			snprintf(why, whylen, "tolerance must be seconds from 1 to 86400 (300, 300s, 5m, 1h), "
				"not '%s'", val);
			return -1;
		}
		return 0;
	}
}

/*
 * Checks a finished [source NAME] section and fills its defaults (path,
 * header names). Returns 0, or -1 with why.
 */
static int
check_source(struct rd_conf *c, struct rd_source_conf *s, char *why, size_t whylen)
{
	unsigned i;
	int generic = s->auth == RD_AUTH_HMAC && s->scheme == RD_HMAC_GENERIC;

	if (s->auth == RD_AUTH_BEARER && !s->token) {
		snprintf(why, whylen, "[source %s]: auth = bearer needs token", s->name);
		return -1;
	}
	if (s->auth == RD_AUTH_HMAC && !s->secret) {
		snprintf(why, whylen, "[source %s]: auth = hmac needs secret", s->name);
		return -1;
	}
	if (s->auth != RD_AUTH_BEARER && s->token) {
		snprintf(why, whylen, "[source %s]: token is only for auth = bearer", s->name);
		return -1;
	}
	if (s->auth != RD_AUTH_HMAC && (s->secret || (s->seen & (1u << 4 | 1u << 7)))) {
		snprintf(why, whylen, "[source %s]: secret, scheme and tolerance are only for auth = hmac", s->name);
		return -1;
	}
	if (!generic && (s->signature_header || s->timestamp_header)) {
		snprintf(why, whylen, "[source %s]: signature_header and timestamp_header are only for "
			"scheme = generic (stripe and standard-webhooks name their headers)", s->name);
		return -1;
	}
	if (s->auth == RD_AUTH_HMAC && s->scheme == RD_HMAC_STANDARD && strncmp(s->secret, "whsec_", 6) != 0) {
		snprintf(why, whylen, "[source %s]: a standard-webhooks secret is whsec_ and base64", s->name);
		return -1;
	}
	if (!s->path) {
		size_t n = strlen(s->name) + 9;
		if (!(s->path = malloc(n)))
			goto oom;
		snprintf(s->path, n, "/events/%s", s->name);
	}
	if (generic && !s->signature_header && !(s->signature_header = strdup("X-Signature")))
		goto oom;
	if (generic && !s->timestamp_header && !(s->timestamp_header = strdup("X-Timestamp")))
		goto oom;
	for (i = 0; &c->sources[i] != s; i++)
		if (c->sources[i].path && strcmp(c->sources[i].path, s->path) == 0) {
			snprintf(why, whylen, "[source %s]: path %s is already source %s's", s->name, s->path,
				c->sources[i].name);
			return -1;
		}
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
	return -1;
}

/* Starts a [source NAME] section. Returns it, or NULL after printing why. */
static struct rd_source_conf *
add_source(struct rd_conf *c, const char *name, const char *path, unsigned lineno, FILE *err)
{
	struct rd_source_conf *ns;
	unsigned i;

	if (!valid_name(name)) {
		fprintf(err, "%s:%u: bad source name '%s'\n", path, lineno, name);
		return NULL;
	}
	for (i = 0; i < c->nsources; i++)
		if (strcmp(c->sources[i].name, name) == 0) {
			fprintf(err, "%s:%u: source '%s' is already configured at line %u\n", path, lineno, name,
				c->sources[i].line);
			return NULL;
		}
	if (!(ns = realloc(c->sources, (c->nsources + 1) * sizeof *ns))) {
		fprintf(err, "%s:%u: out of memory\n", path, lineno);
		return NULL;
	}
	c->sources = ns;
	ns = &c->sources[c->nsources];
	memset(ns, 0, sizeof *ns);
	ns->tolerance = 300;
	if (!(ns->name = strdup(name))) {
		fprintf(err, "%s:%u: out of memory\n", path, lineno);
		return NULL;
	}
	ns->line = lineno;
	c->nsources++;
	return ns;
}

/* Two keys that go together (unset_a, unset_b: whether each is missing): 0, or 1 after saying
 * at line that only one of `what` is set. */
static unsigned
together(FILE *err, const char *path, unsigned line, int unset_a, int unset_b, const char *what)
{
	if (unset_a == unset_b)
		return 0;
	fprintf(err, "%s:%u: %s go together (one is set, not the other)\n", path, line, what);
	return 1;
}

int
rd_conf_load(struct rd_conf *c, const char *path, FILE *err)
{
	char line[4096], why[512], section[256] = "";
	unsigned char seen[NKEYS];
	unsigned long seen_dest_keys = 0; /* bit i: dest_keys[i] was set */
	struct rd_dest_conf *cur = NULL;
	struct rd_source_conf *cur_src = NULL;
	unsigned lineno = 0, nerr = 0, i, tls_line = 0, kafka_line = 0, rabbitmq_line = 0;
	FILE *f;

	memset(seen, 0, sizeof seen);
	free(c->file);
	if (!(c->file = strdup(path)) || !(f = fopen(path, "r"))) {
		fprintf(err, "%s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *s, *eq, *key, *val;
		size_t n = strlen(line);

		lineno++;
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			fprintf(err, "%s:%u: line longer than %zu bytes\n", path, lineno, sizeof line - 2);
			nerr++;
			while (n == sizeof line - 1 && line[n - 1] != '\n' && fgets(line, sizeof line, f))
				n = strlen(line);
			continue;
		}
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (cur && check_dest(cur, why, sizeof why) < 0) {
				fprintf(err, "%s:%u: %s\n", path, cur->line, why);
				nerr++;
			}
			cur = NULL;
			if (cur_src && check_source(c, cur_src, why, sizeof why) < 0) {
				fprintf(err, "%s:%u: %s\n", path, cur_src->line, why);
				nerr++;
			}
			cur_src = NULL;
			if (!close || close[1]) {
				fprintf(err, "%s:%u: a section header is [NAME], [destination NAME] or [source NAME]\n",
					path, lineno);
				nerr++;
				section[0] = '\0';
				continue;
			}
			*close = '\0';
			s = trim(s + 1);
			if (strncmp(s, "destination", 11) == 0 && isspace((unsigned char)s[11])) {
				char *name = trim(s + 12);
				struct rd_dest_conf *nd;
				if (!valid_name(name)) {
					fprintf(err, "%s:%u: bad destination name '%s'\n", path, lineno, name);
					nerr++;
					section[0] = '\0';
					continue;
				}
				for (i = 0; i < c->ndests; i++)
					if (strcmp(c->dests[i].name, name) == 0)
						break;
				if (i < c->ndests) {
					fprintf(err, "%s:%u: destination '%s' is already configured at line %u\n",
						path, lineno, name, c->dests[i].line);
					nerr++;
					section[0] = '\0';
					continue;
				}
				nd = realloc(c->dests, (c->ndests + 1) * sizeof *nd);
				if (!nd)
					goto oom;
				c->dests = nd;
				cur = &c->dests[c->ndests];
				memset(cur, 0, sizeof *cur);
				if (!(cur->name = strdup(name)))
					goto oom;
				cur->line = lineno;
				c->ndests++;
				seen_dest_keys = 0;
				snprintf(section, sizeof section, "destination");
				continue;
			}
			if (strncmp(s, "source", 6) == 0 && isspace((unsigned char)s[6])) {
				if (!(cur_src = add_source(c, trim(s + 7), path, lineno, err))) {
					nerr++;
					section[0] = '\0';
					continue;
				}
				snprintf(section, sizeof section, "source");
				continue;
			}
			for (i = 0; i < NKEYS; i++)
				if (strcmp(conf_keys[i].section, s) == 0)
					break;
			if (i == NKEYS) {
				fprintf(err, "%s:%u: unknown section [%s] (sections: service, http, pipeline, "
					"limits, rules, tcp, admin, durability, destination NAME, source NAME)\n", path, lineno, s);
				nerr++;
				section[0] = '\0';
				continue;
			}
			snprintf(section, sizeof section, "%s", s);
			continue;
		}
		if (!(eq = strchr(s, '='))) {
			fprintf(err, "%s:%u: expected 'key = value', a [section] or a # comment\n", path, lineno);
			nerr++;
			continue;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (!section[0]) {
			fprintf(err, "%s:%u: '%s' outside of a section\n", path, lineno, key);
			nerr++;
			continue;
		}
		if (cur_src) {
			if (set_source_key(cur_src, key, val, why, sizeof why) < 0) {
				fprintf(err, "%s:%u: %s\n", path, lineno, why);
				nerr++;
			}
			continue;
		}
		if (cur) {
			unsigned long bit = 0;
			for (i = 0; i < NDEST_KEYS; i++)
				if (i != DEST_KEY_HEADER && strcmp(key, dest_keys[i]) == 0)
					bit = 1ul << i;
			if (bit && (seen_dest_keys & bit)) {
				fprintf(err, "%s:%u: duplicate key '%s'\n", path, lineno, key);
				nerr++;
				continue;
			}
			seen_dest_keys |= bit;
			if (set_dest_key(cur, key, val, why, sizeof why) < 0) {
				fprintf(err, "%s:%u: %s\n", path, lineno, why);
				nerr++;
			}
			continue;
		}
		for (i = 0; i < NKEYS; i++)
			if (strcmp(conf_keys[i].section, section) == 0 && strcmp(conf_keys[i].name, key) == 0)
				break;
		if (i == NKEYS) {
			fprintf(err, "%s:%u: unknown key '%s' in [%s]\n", path, lineno, key, section);
			nerr++;
			continue;
		}
		if (seen[i]++) {
			fprintf(err, "%s:%u: duplicate key '%s'\n", path, lineno, key);
			nerr++;
			continue;
		}
		if (set_key(c, &conf_keys[i], val, why, sizeof why) < 0) {
			fprintf(err, "%s:%u: %s\n", path, lineno, why);
			nerr++;
		} else if (conf_keys[i].off == offsetof(struct rd_conf, tcp_tls_cert) ||
			   conf_keys[i].off == offsetof(struct rd_conf, tcp_tls_key)) {
			tls_line = lineno; /* where a half TLS configuration is reported */
		} else if (conf_keys[i].off == offsetof(struct rd_conf, kafka_brokers) ||
			   conf_keys[i].off == offsetof(struct rd_conf, kafka_topics)) {
			kafka_line = lineno; /* ... and a half [kafka] one */
		} else if (conf_keys[i].off == offsetof(struct rd_conf, rabbitmq_url) ||
			   conf_keys[i].off == offsetof(struct rd_conf, rabbitmq_queue)) {
			rabbitmq_line = lineno; /* ... or [rabbitmq] one */
			if (conf_keys[i].off == offsetof(struct rd_conf, rabbitmq_url) &&
			    strncmp(c->rabbitmq_url, "amqp://", 7) != 0 && strncmp(c->rabbitmq_url, "amqps://", 8) != 0) {
				fprintf(err, "%s:%u: [rabbitmq] url must start with amqp:// or amqps://, not '%s'\n", path,
					lineno, c->rabbitmq_url);
				nerr++;
			}
		} else if (conf_keys[i].off == offsetof(struct rd_conf, listen) ||
			   conf_keys[i].off == offsetof(struct rd_conf, tcp_listen)) {
			struct sockaddr_storage ss;
			socklen_t sl;
			int v6;
			const char *addr = *(char **)((char *)c + conf_keys[i].off);
			if (rd_conf_listen_parse(addr, &ss, &sl, &v6) < 0) {
				fprintf(err, "%s:%u: listen must be ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6), "
					"not '%s'\n", path, lineno, addr);
				nerr++;
			}
		}
	}
	if (ferror(f)) {
		fprintf(err, "%s: read error\n", path);
		nerr++;
	}
	fclose(f);
	if (cur && check_dest(cur, why, sizeof why) < 0) {
		fprintf(err, "%s:%u: %s\n", path, cur->line, why);
		nerr++;
	}
	if (cur_src && check_source(c, cur_src, why, sizeof why) < 0) {
		fprintf(err, "%s:%u: %s\n", path, cur_src->line, why);
		nerr++;
	}
	nerr += together(err, path, kafka_line, !c->kafka_brokers, !c->kafka_topics, "[kafka] brokers and topics");
#ifndef HAVE_KAFKA
	if (c->kafka_brokers) {
		fprintf(err, "%s:%u: [kafka]: this routed was built without Kafka (librdkafka; apt-get install "
			"librdkafka-dev, then configure again)\n", path, kafka_line);
		nerr++;
	}
#endif
	nerr += together(err, path, rabbitmq_line, !c->rabbitmq_url, !c->rabbitmq_queue, "[rabbitmq] url and queue");
	if (c->rabbitmq_ca_file && c->rabbitmq_url && strncmp(c->rabbitmq_url, "amqps://", 8) != 0) {
		fprintf(err, "%s:%u: [rabbitmq] ca_file is for an amqps:// url (TLS)\n", path, rabbitmq_line);
		nerr++;
	}
#ifndef HAVE_RABBITMQ
	if (c->rabbitmq_url) {
		fprintf(err, "%s:%u: [rabbitmq]: this routed was built without RabbitMQ (librabbitmq; apt-get install "
			"librabbitmq-dev, then configure again)\n", path, rabbitmq_line);
		nerr++;
	}
#endif
	nerr += together(err, path, tls_line, !c->tcp_tls_cert, !c->tcp_tls_key, "[tcp] tls_cert and tls_key");
	return nerr ? -1 : 0;
oom:
	fclose(f);
	fprintf(err, "%s:%u: out of memory\n", path, lineno);
	return -1;
}

/* A port: 1 to 5 digits, at most 65535. Returns 0 or -1. */
static int
parse_port(const char *s, unsigned long *port)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	*port = strtoul(s, NULL, 10);
	return *port > 65535 ? -1 : 0;
}

int
rd_conf_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sl, int *v6)
{
	char host[256];
	const char *colon;
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof *ss);
	*v6 = 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		hl = (size_t)(close - s - 1);
		colon = close + 1;
		if (hl >= sizeof host)
			return -1;
		memcpy(host, s + 1, hl);
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
		if (hl >= sizeof host)
			return -1;
		memcpy(host, s, hl);
	}
	host[hl] = '\0';
	if (parse_port(colon + 1, &port) < 0 || port > 65535)
		return -1;
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -1;
		*sl = sizeof *in;
		return 0;
	}
	{
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		*sl = sizeof *in6;
		*v6 = 1;
		return 0;
	}
}

int
rd_conf_check_rules(const struct rd_conf *c, const route_prog *p, FILE *err)
{
	uint32_t d, nd = route_prog_ndests(p);
	unsigned i, nerr = 0;

	for (i = 0; i < c->ndests; i++) {
		size_t want = strlen(c->dests[i].name);
		for (d = 0; d < nd; d++) {
			size_t len;
			const char *name = route_dest_name(p, d, &len);
			if (len == want && memcmp(name, c->dests[i].name, len) == 0)
				break;
		}
		if (d == nd) {
			fprintf(err, "%s:%u: destination '%s' is not declared by the rules\n",
				c->file ? c->file : "(config)", c->dests[i].line, c->dests[i].name);
			nerr++;
		}
	}
	return nerr ? -1 : 0;
}

const struct rd_dest_conf *
rd_conf_dest(const struct rd_conf *c, const char *name, size_t len)
{
	unsigned i;

	for (i = 0; i < c->ndests; i++)
		if (strlen(c->dests[i].name) == len && memcmp(c->dests[i].name, name, len) == 0)
			return &c->dests[i];
	return NULL;
}

void
rd_conf_route_options(const struct rd_conf *c, struct route_options *o)
{
	memset(o, 0, sizeof *o);
	o->envelope = c->envelope;
	o->type_field = c->type_field;
	o->max_event_bytes = c->max_event_bytes;
	o->max_depth = c->max_depth;
	o->max_string = c->max_string;
	o->max_values = c->max_values;
}
