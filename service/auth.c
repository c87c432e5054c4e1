/*
 * auth.c -- bearer tokens and HMAC-SHA256 webhook signatures (see auth.h).
 *
 * The three HMAC schemes (docs/routed.md gives the exact header formats):
 *
 *   stripe             Stripe-Signature: t=TS,v1=HEX[,v1=HEX...]   (other
 *                      pairs, such as v0=, are ignored)
 *                      signed: "TS" "." body; key: the secret's bytes
 *   standard-webhooks  webhook-id: ID, webhook-timestamp: TS,
 *                      webhook-signature: v1,B64[ v1,B64...] (space-separated)
 *                      signed: "ID" "." "TS" "." body; key: base64 of the
 *                      secret after its "whsec_" prefix
 *   generic            <signature_header>: HEX or B64, optionally "sha256=";
 *                      <timestamp_header>: TS
 *                      signed: "TS" "." body; key: the secret's bytes
 *
 * TS is Unix seconds. Every comparison of a signature or token is constant
 * time (CRYPTO_memcmp over fixed 32-byte digests).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "auth.h"

#define SIG_LEN 32             /* HMAC-SHA256 */

static const char *const failure_names[RD_AUTH__COUNT] = {
#define X(id, s) s,
	RD_AUTH_FAILURES(X)
#undef X
};

const char *
rd_auth_failure_name(int f)
{
	return f >= 0 && f < RD_AUTH__COUNT ? failure_names[f] : "unknown";
}

/* Decodes standard base64 (or base64url; '=' padding optional) s[0..n) into out[0..cap). Returns the length or -1. */
static long
b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	unsigned long acc = 0;
	unsigned bits = 0;
	size_t i, o = 0;

	while (n && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i], v;
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1ul << bits) - 1;
		}
	}
	return (long)o;
}

/* Decodes exactly 64 hex digits s[0..n) into out[32]. Returns 0 or -1. */
static int
hex_decode32(const char *s, size_t n, unsigned char *out)
{
	size_t i;

	if (n != 2 * SIG_LEN)
		return -1;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -1;
	for (i = 0; i < SIG_LEN; i++) {
		char h[3] = { s[2 * i], s[2 * i + 1], 0 };
		out[i] = (unsigned char)strtoul(h, NULL, 16);
	}
	return 0;
}

/* A signature written in hex (64 digits) or base64 (43 or 44 characters) into out[32]. Returns 0 or -1. */
static int
sig_decode(const char *s, size_t n, unsigned char *out)
{
	if (hex_decode32(s, n, out) == 0)
		return 0;
	return (n == 43 || n == 44) && b64_decode(s, n, out, SIG_LEN) == SIG_LEN ? 0 : -1;
}

int
rd_auth_init(struct rd_auth *a, const struct rd_conf *c, char *err, size_t errlen)
{
	unsigned i;
	int need_mac = 0;

	memset(a, 0, sizeof *a);
	if (!c->nsources)
		return 0;
	if (!(a->src = calloc(c->nsources, sizeof *a->src))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a->n = c->nsources;
	for (i = 0; i < a->n; i++) {
		struct rd_source *s = &a->src[i];
		const struct rd_source_conf *sc = &c->sources[i];
		s->conf = sc;
		if (sc->auth == RD_AUTH_BEARER)
			SHA256((const unsigned char *)sc->token, strlen(sc->token), s->token_sha);
		if (sc->auth != RD_AUTH_HMAC)
			continue;
		need_mac = 1;
		if (sc->scheme == RD_HMAC_STANDARD) {
			const char *b = sc->secret + 6; /* after whsec_ (checked by conf.c) */
			long n;
			if (!(s->key = malloc(strlen(b) + 1)) ||
			    (n = b64_decode(b, strlen(b), s->key, strlen(b) + 1)) <= 0) {
				snprintf(err, errlen, "[source %s]: the secret after whsec_ is not base64", sc->name);
				rd_auth_fini(a);
				return -1;
			}
			s->keylen = (size_t)n;
		} else {
			if (!(s->key = (unsigned char *)strdup(sc->secret))) {
				snprintf(err, errlen, "out of memory");
				rd_auth_fini(a);
				return -1;
			}
			s->keylen = strlen(sc->secret);
		}
	}
	if (need_mac && !(a->mac = EVP_MAC_fetch(NULL, "HMAC", NULL))) {
		snprintf(err, errlen, "libcrypto has no HMAC");
		rd_auth_fini(a);
		return -1;
	}
	return 0;
}

void
rd_auth_fini(struct rd_auth *a)
{
	unsigned i;

	for (i = 0; i < a->n; i++)
		if (a->src[i].key) {
			OPENSSL_cleanse(a->src[i].key, a->src[i].keylen);
			free(a->src[i].key);
		}
	free(a->src);
	EVP_MAC_free(a->mac);
	memset(a, 0, sizeof *a);
}

struct rd_source *
rd_auth_find(struct rd_auth *a, const char *url)
{
	unsigned i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->src[i].conf->path, url) == 0)
			return &a->src[i];
	return NULL;
}

int
rd_auth_needs_body(const struct rd_source *s)
{
	return s->conf->auth == RD_AUTH_HMAC;
}

/*
 * HMAC-SHA256 with s's key over p1 "." [p2 "."] body into out[32].
 * Returns 0, or -1 when libcrypto fails.
 */
static int
mac(struct rd_auth *a, const struct rd_source *s, const char *p1, size_t n1, const char *p2, size_t n2,
	const char *body, size_t len, unsigned char *out)
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(a->mac);
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	size_t outl = 0;
	int ok;

	if (!ctx)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, s->key, s->keylen, params) &&
		EVP_MAC_update(ctx, (const unsigned char *)p1, n1) &&
		EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
		(!p2 || (EVP_MAC_update(ctx, (const unsigned char *)p2, n2) &&
			 EVP_MAC_update(ctx, (const unsigned char *)".", 1))) &&
		EVP_MAC_update(ctx, (const unsigned char *)body, len) &&
		EVP_MAC_final(ctx, out, &outl, SIG_LEN) && outl == SIG_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* Parses Unix seconds s[0..n). Returns 0 or -1. */
static int
parse_ts(const char *s, size_t n, long long *ts)
{
	long long v = 0;
	size_t i;

	if (n == 0 || n > 12)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*ts = v;
	return 0;
}

/* Counts failure f for s, sets *detail, returns f. */
static int
fail(struct rd_source *s, int f, const char **detail, const char *why)
{
	atomic_fetch_add_explicit(&s->failures[f], 1, memory_order_relaxed);
	*detail = why;
	return f;
}

/*
 * Checks "v1,B64 v1,B64" (standard-webhooks) or "t=TS,v1=HEX,..." (stripe)
 * candidates against want. Returns 1 (one matched), 0 (none did), or -1
 * (not one candidate could be read).
 */
static int
match_list(const char *h, int stripe, const unsigned char *want)
{
	const char *p = h, *e;
	unsigned char got[SIG_LEN];
	int read_one = 0, matched = 0;

	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		for (e = p; *e && *e != ' ' && (!stripe || *e != ','); e++)
			;
		/* stripe: "v1=HEX"; standard-webhooks: "v1,B64" (its ',' is inside the token) */
		if (stripe && e - p > 3 && memcmp(p, "v1=", 3) == 0 && sig_decode(p + 3, (size_t)(e - p - 3), got) == 0) {
			read_one = 1;
			matched |= CRYPTO_memcmp(got, want, SIG_LEN) == 0;
		} else if (!stripe && e - p > 3 && memcmp(p, "v1,", 3) == 0 &&
			   b64_decode(p + 3, (size_t)(e - p - 3), got, SIG_LEN) == SIG_LEN) {
			read_one = 1;
			matched |= CRYPTO_memcmp(got, want, SIG_LEN) == 0;
		}
		p = e;
	}
	return matched ? 1 : read_one ? 0 : -1;
}

int
rd_auth_check(struct rd_auth *a, struct rd_source *s, rd_auth_header_fn *hdr, void *ud,
	const char *body, size_t len, time_t now, const char **detail)
{
	const struct rd_source_conf *c = s->conf;
	unsigned char want[SIG_LEN], got[SIG_LEN];
	const char *sig, *tsh = NULL, *id = NULL, *p;
	char tsbuf[16];
	size_t tslen;
	long long ts;
	int r;

	*detail = NULL;
	if (c->auth == RD_AUTH_NONE)
		goto ok;
	if (c->auth == RD_AUTH_BEARER) {
		const char *h = hdr(ud, "Authorization");
		if (!h)
			return fail(s, RD_AUTH_MISSING, detail, "no Authorization header");
		if (strncasecmp(h, "Bearer ", 7) != 0)
			return fail(s, RD_AUTH_MISSING, detail, "the Authorization header is not 'Bearer TOKEN'");
		for (h += 7; *h == ' '; h++)
			;
		SHA256((const unsigned char *)h, strlen(h), got);
		if (CRYPTO_memcmp(got, s->token_sha, SIG_LEN) != 0)
			return fail(s, RD_AUTH_BAD_TOKEN, detail, "wrong bearer token");
		goto ok;
	}
	/* hmac: find the timestamp (and id), check its window, then the signature */
	switch (c->scheme) {
	case RD_HMAC_STRIPE:
		if (!(sig = hdr(ud, "Stripe-Signature")))
			return fail(s, RD_AUTH_MISSING, detail, "no Stripe-Signature header");
		for (p = sig; *p; p++)
			if ((p == sig || p[-1] == ',' || p[-1] == ' ') && p[0] == 't' && p[1] == '=')
				break;
		if (!*p)
			return fail(s, RD_AUTH_MALFORMED, detail, "Stripe-Signature has no t=TIMESTAMP");
		tsh = p + 2;
		tslen = strcspn(tsh, ", ");
		break;
	case RD_HMAC_STANDARD:
		if (!(id = hdr(ud, "webhook-id")) || !(tsh = hdr(ud, "webhook-timestamp")) ||
		    !(sig = hdr(ud, "webhook-signature")))
			return fail(s, RD_AUTH_MISSING, detail,
				"webhook-id, webhook-timestamp and webhook-signature are required");
		tslen = strlen(tsh);
		break;
	default:
		if (!(tsh = hdr(ud, c->timestamp_header)))
			return fail(s, RD_AUTH_MISSING, detail, "no timestamp header");
		if (!(sig = hdr(ud, c->signature_header)))
			return fail(s, RD_AUTH_MISSING, detail, "no signature header");
		tslen = strlen(tsh);
		break;
	}
	if (parse_ts(tsh, tslen, &ts) < 0)
		return fail(s, RD_AUTH_MALFORMED, detail, "the timestamp is not Unix seconds");
	if (ts < (long long)now - c->tolerance || ts > (long long)now + c->tolerance)
		return fail(s, RD_AUTH_STALE, detail, "the timestamp is outside the tolerance window");
	memcpy(tsbuf, tsh, tslen); /* tslen <= 12 */
	if (c->scheme == RD_HMAC_STANDARD)
		r = mac(a, s, id, strlen(id), tsbuf, tslen, body, len, want);
	else
		r = mac(a, s, tsbuf, tslen, NULL, 0, body, len, want);
	if (r < 0)
		return fail(s, RD_AUTH_BAD_SIGNATURE, detail, "cannot compute the HMAC");
	if (c->scheme == RD_HMAC_GENERIC) {
		size_t n = strlen(sig);
		if (n > 7 && strncasecmp(sig, "sha256=", 7) == 0)
			sig += 7, n -= 7;
		if (sig_decode(sig, n, got) < 0)
			return fail(s, RD_AUTH_MALFORMED, detail, "the signature is neither 64 hex digits nor base64");
		r = CRYPTO_memcmp(got, want, SIG_LEN) == 0;
	} else {
		r = match_list(sig, c->scheme == RD_HMAC_STRIPE, want);
		if (r < 0)
			return fail(s, RD_AUTH_MALFORMED, detail, c->scheme == RD_HMAC_STRIPE ?
				"Stripe-Signature has no v1=HEX signature" : "webhook-signature has no v1,BASE64 signature");
	}
	OPENSSL_cleanse(want, sizeof want);
	if (!r)
		return fail(s, RD_AUTH_BAD_SIGNATURE, detail, "the signature does not match");
ok:
	atomic_fetch_add_explicit(&s->authenticated, 1, memory_order_relaxed);
	return -1;
}

void
rd_auth_render(struct rd_auth *a, struct rd_buf *o)
{
	unsigned i;
	int f;

	if (!a->n)
		return;
	rd_buf_puts(o, "# HELP routed_auth_failures_total Requests to a source answered 401, by source "
		"and reason.\n# TYPE routed_auth_failures_total counter\n");
	for (i = 0; i < a->n; i++)
		for (f = 0; f < RD_AUTH__COUNT; f++)
			rd_buf_printf(o, "routed_auth_failures_total{source=\"%s\",reason=\"%s\"} %llu\n",
				a->src[i].conf->name, failure_names[f],
				(unsigned long long)atomic_load(&a->src[i].failures[f]));
	rd_buf_puts(o, "# HELP routed_source_requests_authenticated_total Requests to a source that "
		"passed its authentication (auth = none included).\n"
		"# TYPE routed_source_requests_authenticated_total counter\n");
	for (i = 0; i < a->n; i++)
		rd_buf_printf(o, "routed_source_requests_authenticated_total{source=\"%s\"} %llu\n",
			a->src[i].conf->name, (unsigned long long)atomic_load(&a->src[i].authenticated));
}
