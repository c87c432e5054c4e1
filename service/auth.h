/*
 * auth.h -- per-source authentication of HTTP ingest ([source NAME] in the
 * config, docs/routed.md "Sources and authentication").
 *
 * Each source is a URL path that takes POSTed events, with one of:
 *   none     no check
 *   bearer   "Authorization: Bearer TOKEN"; compared in constant time (the
 *            SHA-256 of the given and the configured token, CRYPTO_memcmp)
 *   hmac     HMAC-SHA256 over the timestamp and the body, in one of three
 *            header schemes (stripe, standard-webhooks, generic), with the
 *            timestamp within +-tolerance seconds of now (replay protection)
 * HMAC uses OpenSSL's libcrypto (EVP_MAC "HMAC", streamed over prefix and
 * body, so the body is not copied). Failures are counted per source and
 * reason (routed_auth_failures_total); http.c answers them 401.
 */
#ifndef RD_AUTH_H
#define RD_AUTH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "conf.h"

/* Why a request was not authenticated: the reason label of routed_auth_failures_total. */
#define RD_AUTH_FAILURES(X) \
	X(MISSING, "missing_credentials")      /* no Authorization / signature / timestamp / id header */ \
	X(BAD_TOKEN, "bad_token")              /* bearer: not the configured token */ \
	X(MALFORMED, "malformed_signature")    /* a header that cannot be read (not hex/base64, no t=) */ \
	X(BAD_SIGNATURE, "bad_signature")      /* no signature in the header matches */ \
	X(STALE, "timestamp_out_of_tolerance") /* the signed timestamp is too old or too far ahead */
enum rd_auth_failure {
#define X(id, s) RD_AUTH_##id,
	RD_AUTH_FAILURES(X)
#undef X
	RD_AUTH__COUNT
};

struct rd_source {             /* a [source NAME] at run time */
	const struct rd_source_conf *conf; /* borrows */
	unsigned char *key;        /* owns: the HMAC key (standard-webhooks: base64-decoded) */
	size_t keylen;
	unsigned char token_sha[32]; /* bearer: SHA-256 of the token */
	atomic_uint_fast64_t failures[RD_AUTH__COUNT];
	atomic_uint_fast64_t authenticated; /* requests that passed (or auth = none) */
};

struct rd_auth {
	struct rd_source *src;     /* owns: [n], in config order */
	unsigned n;
	void *mac;                 /* owns: the fetched EVP_MAC (shared read-only by the HTTP threads) */
};

/* A request header by name (case-insensitive), or NULL: how auth reads headers. */
typedef const char *rd_auth_header_fn(void *ud, const char *name);

/* Sets up c's sources. Borrows c. Returns 0, or -1 with a reason in err. */
int rd_auth_init(struct rd_auth *a, const struct rd_conf *c, char *err, size_t errlen);
void rd_auth_fini(struct rd_auth *a);
/* The source whose path is url, or NULL. */
struct rd_source *rd_auth_find(struct rd_auth *a, const char *url);
/*
 * Checks the request's credentials: the headers (through hdr) and, for
 * hmac, the body[0..len) against the clock now. Returns -1 when
 * authenticated, else an enum rd_auth_failure (counted here) with a short
 * human reason in *detail (static text).
 */
int rd_auth_check(struct rd_auth *a, struct rd_source *s, rd_auth_header_fn *hdr, void *ud,
	const char *body, size_t len, time_t now, const char **detail);
/* Whether s needs the body to decide (hmac), i.e. the check waits for it. */
int rd_auth_needs_body(const struct rd_source *s);
/* "missing_credentials", ... */
const char *rd_auth_failure_name(int f);
/* Appends routed_auth_failures_total and routed_source_requests_authenticated_total. */
void rd_auth_render(struct rd_auth *a, struct rd_buf *out);

#endif
