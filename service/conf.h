/*
 * conf.h -- routed's configuration: defaults, the config file, and its
 * cross-check against the loaded rules.
 *
 * The file is line-based, INI-style, parsed by hand (conf.c); every key is
 * documented in examples/routed.conf and docs/routed.md. Errors are printed
 * as "FILE:LINE: problem" and make the load fail; unknown sections and keys,
 * duplicate keys, bad values and destinations the rules do not declare are
 * all errors. struct rd_conf owns every string in it.
 */
#ifndef RD_CONF_H
#define RD_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "route.h"

enum rd_sink_kind { RD_SINK_QUEUE, RD_SINK_STDOUT, RD_SINK_FILE, RD_SINK_WEBHOOK, RD_SINK_EXEC, RD_SINK_KAFKA,
	RD_SINK_RABBITMQ };

#define RD_EXEC_TIMEOUT_MS 30000 /* an exec command's limit when neither the rules nor the file give one */
#define RD_KAFKA_TIMEOUT_MS 30000 /* a kafka delivery's limit (message.timeout.ms) likewise */
#define RD_RABBITMQ_TIMEOUT_MS 30000 /* a rabbitmq delivery's limit (publisher confirms) likewise */

#define RD_WEBHOOK_TIMEOUT_MS 5000 /* an attempt's limit when neither the rules nor the file give one */

/* [service] scheduling: auto is batch when routed may run on one CPU only, else normal */
enum rd_sched { RD_SCHED_AUTO, RD_SCHED_NORMAL, RD_SCHED_BATCH };

struct rd_dest_conf {          /* a [destination NAME] section */
	char *name;                /* owns */
	int sink;                  /* enum rd_sink_kind */
	char *path;                /* owns: the file sink's path; NULL for the others */
	unsigned long long rotate_bytes; /* file: rotate once the file would pass this size; 0 = never */
	unsigned rotate_keep;      /* file: rotated files kept (PATH.1 newest .. PATH.K); 0 = not set (5) */
	char *command;             /* owns: the exec sink's command line (run by /bin/sh -c); NULL for the others */
	int exec_stream;           /* exec: exec_mode = stream (a long-lived command per lane thread, exec.h) */
	int exec_mode_set;         /* exec_mode was given (refused with another sink) */
	/* sink = kafka only (kafka.h) */
	char *brokers;             /* owns: bootstrap servers, "host:port[,host:port...]" */
	char *topic;               /* owns: the topic produced to */
	char *key_member;          /* owns, or NULL: the event's top-level member whose value keys each message */
	/* sink = rabbitmq only (rabbitmq.h; its broker is url, amqp://...) */
	char *exchange;            /* owns, or NULL: the exchange published to (NULL: the default exchange) */
	char *routing_key;         /* owns, or NULL: each message's routing key (NULL: empty) */
	char *routing_key_from;    /* owns, or NULL: the top-level member whose value is a message's
	                            * routing key (routing_key when the event has none) */
	unsigned line;             /* line of the section header (for messages) */
	/* sink = webhook only (the parser refuses them with another sink) */
	char *url;                 /* owns: http:// or https:// URL POSTed to; rabbitmq: amqp:// of the broker */
	char **headers;            /* owns: [nheaders] "Name: value" lines, in file order */
	unsigned nheaders;
	char *bearer_token;        /* owns, or NULL: sent as Authorization: Bearer ... */
	char *basic_auth;          /* owns, or NULL: "user:password" for HTTP basic auth */
	char *ca_file;             /* owns, or NULL: CA bundle verifying the server (else the system's);
	                            * webhook, and rabbitmq with amqps:// */
	unsigned timeout_ms;       /* webhook, exec: per attempt when the rules give no timeout; 0 = not set */
	unsigned max_in_flight;    /* messages being delivered (or waiting to retry) at once */
};

/* [source NAME]: an HTTP ingest path and how its requests authenticate (auth.c) */
enum rd_auth_kind { RD_AUTH_NONE, RD_AUTH_BEARER, RD_AUTH_HMAC };
enum rd_hmac_scheme {
	RD_HMAC_STRIPE,            /* Stripe-Signature: t=TS,v1=HEX over "TS.body" */
	RD_HMAC_STANDARD,          /* Standard Webhooks: webhook-id/-timestamp/-signature "v1,B64" over "ID.TS.body" */
	RD_HMAC_GENERIC            /* signature_header (hex or base64) over "TS.body", TS in timestamp_header */
};

struct rd_source_conf {
	char *name;                /* owns */
	char *path;                /* owns: the URL path events are POSTed to (default /events/NAME) */
	int auth;                  /* enum rd_auth_kind */
	char *token;               /* owns: bearer token (auth = bearer) */
	char *secret;              /* owns: HMAC key as configured (auth = hmac) */
	int scheme;                /* enum rd_hmac_scheme (auth = hmac) */
	char *signature_header;    /* owns: header names (auth = hmac; defaults per scheme) */
	char *timestamp_header;    /* owns */
	unsigned tolerance;        /* seconds a signed timestamp may be off from now */
	unsigned line;             /* line of the section header (for messages) */
	unsigned seen;             /* keys already set (bits, for duplicate keys) */
};

struct rd_conf {
	char *file;                /* owns: the config file read, or NULL (defaults only) */
	/* [service] */
	char *data_dir;            /* owns: where built-in queues live */
	int log_level;             /* enum rd_level */
	int scheduling;            /* enum rd_sched: the threads' Linux scheduling policy */
	/* [http] */
	char *listen;              /* owns: "ADDR:PORT" (IPv4 or [IPv6]) */
	unsigned http_threads;     /* libmicrohttpd thread pool size */
	size_t max_body_bytes;     /* larger request bodies get 413 */
	unsigned connection_limit;
	unsigned connection_timeout; /* seconds an idle connection is kept */
	unsigned retry_after;      /* seconds, in 503 answers */
	unsigned queue_batch_max;  /* GET /queues/NAME: the largest max= accepted */
	/* [pipeline] */
	unsigned workers;          /* router shards, each a thread with its own matcher */
	char *shard_key;           /* owns: comma-separated top-level members giving the key */
	unsigned emit_depth;       /* how deep emitted events are fed back */
	unsigned rule_cost_every;  /* a router times the rules of one event in this many (0: none) */
	unsigned drain_timeout;    /* seconds lanes keep retrying after SIGTERM */
	unsigned delivery_slots;   /* deliveries (queue, stdout, file, exec attempts) at once over all
	                            * lanes, granted by priority; 0 = no limit */
	unsigned queue_max;        /* a destination's queue length when the rules give no `queue`; 0 = no limit */
	/* [limits] */
	size_t max_inflight_bytes; /* cap on event and delivery bytes held in memory */
	unsigned max_event_bytes, max_depth, max_string, max_values; /* route_options */
	/* [rules] */
	int envelope;              /* enum route_envelope */
	char *type_field;          /* owns */
	/* [source NAME] sections, in file order (none: POST /events, no auth) */
	struct rd_source_conf *sources; /* owns */
	unsigned nsources;
	/* [tcp] */
	char *tcp_listen;          /* owns: "ADDR:PORT" of the JSON-lines listener, or NULL (off) */
	unsigned tcp_max_connections; /* connections (threads) served at once */
	unsigned tcp_idle_timeout; /* seconds a connection may send nothing before it is closed; 0: never */
	char *tcp_token;           /* owns: a connection's first line must be "AUTH TOKEN"; NULL: none */
	/* [kafka]: routed consumes these topics (kafka.h; NULL brokers: off) */
	char *kafka_brokers;       /* owns: bootstrap servers */
	char *kafka_topics;        /* owns: "a,b": the topics consumed */
	char *kafka_group;         /* owns: the consumer group (default "routed") */
	int kafka_latest;          /* start = latest: a group without a committed offset starts at the end */
	unsigned kafka_session_ms; /* session_timeout: a member silent this long leaves the group; 0: librdkafka's */
	/* [rabbitmq]: routed consumes this queue (rabbitmq.h; NULL url: off) */
	char *rabbitmq_url;        /* owns: amqp://user:password@host:port/vhost */
	char *rabbitmq_queue;      /* owns: the queue consumed */
	unsigned rabbitmq_prefetch; /* messages the broker may send ahead of their acks */
	char *rabbitmq_ca_file;    /* owns, or NULL: amqps: the CA bundle that verifies the broker */
	char *tcp_tls_cert;        /* owns: PEM certificate chain: the listener speaks TLS; NULL: plain TCP */
	char *tcp_tls_key;         /* owns: its PEM private key (set with tls_cert) */
	/* [durability] (durable.h, docs/durability.md) */
	int sync;                  /* enum rd_wal_sync: 0 always, 1 batch, 2 none */
	unsigned sync_batch_ms;    /* sync = batch: the sync period */
	size_t segment_bytes;      /* log segment roll size */
	unsigned cursor_interval_ms; /* how often cursors are stored and the log trimmed */
	unsigned checkpoint_interval; /* seconds between state snapshots (programs with state) */
	unsigned dedup_window;     /* seconds a (source, id) is remembered; 0: no dedup */
	char *dedup_id_member;     /* owns, or NULL (plain events are not deduplicated): their id member */
	unsigned dedup_max_entries; /* cap on remembered keys */
	/* [admin] */
	char *admin_token;         /* owns, or NULL: bearer token of POST /admin/reload (off without it) */
	/* [destination NAME] sections, in file order */
	struct rd_dest_conf *dests; /* owns */
	unsigned ndests;
};

/* Fills c with the defaults. Returns 0, or -1 on out-of-memory. */
int rd_conf_init(struct rd_conf *c);
void rd_conf_fini(struct rd_conf *c);
/*
 * Reads the file at path into c (which holds the defaults). Returns 0, or -1
 * after printing every problem found as "PATH:LINE: problem" to err.
 */
int rd_conf_load(struct rd_conf *c, const char *path, FILE *err);
/*
 * Checks c against the program: every configured destination must be one
 * the rules declare. Returns 0, or -1 with "PATH:LINE: problem" on err.
 */
int rd_conf_check_rules(const struct rd_conf *c, const route_prog *p, FILE *err);
/* The binding of destination name (NULL: the default, a built-in queue). */
const struct rd_dest_conf *rd_conf_dest(const struct rd_conf *c, const char *name, size_t len);
/*
 * Parses a listen address, "1.2.3.4:80" or "[::1]:80", into *ss (length in
 * *sl; *v6 set for IPv6). Returns 0 or -1.
 */
int rd_conf_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sl, int *v6);
/* The route_options the configuration asks for. */
void rd_conf_route_options(const struct rd_conf *c, struct route_options *o);

/* "500ms", "5s", "2m", "1h" into *ms. Returns 0, or -1 (no unit, not a number, 0, over 1h). */
int rd_conf_duration_ms(const char *s, unsigned *ms);

#endif
