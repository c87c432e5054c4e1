/*
 * fuzz_auth.c -- libFuzzer target: arbitrary bytes -> rd_auth_check, the
 * per-source authentication of HTTP ingest (bearer tokens, and the
 * Stripe-Signature, Standard Webhooks and generic HMAC headers): parsers of
 * headers any client sends.
 *
 * At start it loads one configuration with a source of each kind (written
 * to a temporary file, removed at once). Input: byte 0 picks the source;
 * then up to six header values, each ending at a '\n' (Authorization,
 * Stripe-Signature, webhook-id, webhook-timestamp, webhook-signature,
 * X-Sig; the generic source's timestamp header is webhook-timestamp too); the
 * rest is the body. Every value and the body are exactly sized heap copies,
 * so ASan sees any read past one. rd_auth_check must return -1
 * (authenticated) or an rd_auth_failure with a reason, never crash. When the
 * input's byte 1 is odd, the HMAC sources' signature headers are replaced by
 * a valid signature of the fuzzed timestamp and body, so that the checks
 * behind the signature (timestamp tolerance, body) are reached too.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char SOURCES_CONF[] =
	"[source shop]\nauth = bearer\ntoken = s3cret\n"
	"[source stripe]\nauth = hmac\nsecret = whsec_abc\ntolerance = 5m\n"
	"[source sw]\nauth = hmac\nscheme = standard-webhooks\nsecret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
	"[source gen]\nauth = hmac\nscheme = generic\nsecret = k\ntolerance = 10\n"
	"signature_header = X-Sig\ntimestamp_header = webhook-timestamp\n"
	"[source open]\n";
static const char *const SOURCES[] = { "/events/shop", "/events/stripe", "/events/sw", "/events/gen",
	"/events/open" };
static const char *const NAMES[] = { "Authorization", "Stripe-Signature", "webhook-id",
	"webhook-timestamp", "webhook-signature", "X-Sig" };
#define NHDR (sizeof NAMES / sizeof *NAMES)
#define NOW 1700000000L

static struct rd_conf conf;
static struct rd_auth auth;

struct req {
	char *value[NHDR];         /* owns: exactly sized, or NULL (absent) */
};

static const char *
hdr(void *ud, const char *name)
{
	struct req *r = ud;
	size_t i;

	for (i = 0; i < NHDR; i++)
		if (strcasecmp(NAMES[i], name) == 0)
			return r->value[i];
	return NULL;
}

static char *
copy(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static void
init(void)
{
	char path[512], err[256];
	const char *tmp = getenv("TMPDIR");
	FILE *f;
	int fd;

	/* mkstemp turns the six X's into a name of its own */
	snprintf(path, sizeof path, "%s/fuzz_auth.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f || fputs(SOURCES_CONF, f) < 0 || fclose(f) != 0 || rd_conf_init(&conf) != 0 ||
	    rd_conf_load(&conf, path, stderr) != 0 || rd_auth_init(&auth, &conf, err, sizeof err) != 0) {
		fprintf(stderr, "fuzz_auth: cannot set up the sources\n");
		abort();
	}
	unlink(path);
}

/* HMAC-SHA256 of msg[0..n) with key as hex or base64 (out: at least 65 bytes). */
static void
sign(const void *key, size_t klen, const char *msg, size_t n, int b64, char *out)
{
	unsigned char md[32];
	unsigned mdlen = 0;
	int i;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, n, md, &mdlen);
	if (b64) {
		EVP_EncodeBlock((unsigned char *)out, md, 32);
		return;
	}
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Replaces the HMAC sources' signature headers by valid ones for r's timestamp and body. */
static void
sign_valid(struct req *r, const char *body, size_t blen)
{
	static const unsigned char swkey[] = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
	const char *ts = r->value[3] ? r->value[3] : "0", *id = r->value[2] ? r->value[2] : "";
	size_t tlen = strlen(ts), mlen = strlen(id) + tlen + blen + 2;
	char *msg = malloc(mlen + 1), sig[72], *v;
	unsigned char key[64];
	int klen;

	if (!msg)
		return;
	/* Stripe: "t=TS,v1=hex(HMAC(secret, TS.body))" */
	snprintf(msg, mlen + 1, "%s.", ts);
	memcpy(msg + tlen + 1, body, blen);
	sign("whsec_abc", 9, msg, tlen + 1 + blen, 0, sig);
	if ((v = malloc(tlen + 80))) {
		snprintf(v, tlen + 80, "t=%s,v1=%s", ts, sig);
		free(r->value[1]);
		r->value[1] = v;
	}
	/* generic: hex(HMAC(secret, TS.body)) in X-Sig */
	sign("k", 1, msg, tlen + 1 + blen, 0, sig);
	free(r->value[5]);
	r->value[5] = copy(sig, strlen(sig));
	/* Standard Webhooks: "v1,base64(HMAC(base64-decoded secret, id.TS.body))" */
	klen = EVP_DecodeBlock(key, swkey, (int)sizeof swkey - 1);
	snprintf(msg, mlen + 1, "%s.%s.", id, ts);
	memcpy(msg + strlen(id) + tlen + 2, body, blen);
	if (klen > 0) {
		sign(key, (size_t)klen - 2 * (swkey[sizeof swkey - 2] == '='), msg, mlen, 1, sig);
		if ((v = malloc(strlen(sig) + 4))) {
			snprintf(v, strlen(sig) + 4, "v1,%s", sig);
			free(r->value[4]);
			r->value[4] = v;
		}
	}
	free(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct req r;
	struct rd_source *s;
	const char *detail = NULL, *p, *end = (const char *)data + size;
	char *body;
	size_t i, blen;
	int rc, valid;

	if (!ready) {
		init();
		ready = 1;
	}
	if (size < 2)
		return 0;
	s = rd_auth_find(&auth, SOURCES[data[0] % 5]);
	valid = data[1] & 1;
	if (!s)
		abort();
	memset(&r, 0, sizeof r);
	p = (const char *)data + 2;
	for (i = 0; i < NHDR && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			break;
		if (nl > p) /* an empty line: the header is absent */
			r.value[i] = copy(p, (size_t)(nl - p));
		p = nl + 1;
	}
	blen = (size_t)(end - p);
	if ((body = malloc(blen ? blen : 1))) {
		memcpy(body, p, blen);
		if (valid)
			sign_valid(&r, body, blen);
		rc = rd_auth_check(&auth, s, hdr, &r, body, blen, (time_t)NOW, &detail);
		if (rc >= 0 && (!detail || !rd_auth_failure_name(rc)))
			abort(); /* a refusal has a reason and a counted name */
		free(body);
	}
	for (i = 0; i < NHDR; i++)
		free(r.value[i]);
	return 0;
}
