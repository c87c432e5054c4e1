/*
 * check_auth.c -- unit tests of routed's per-source authentication
 * (service/auth.c) and of the [source NAME] / [tcp] config sections
 * (service/conf.c): header formats, the tolerance window's edges, constant-
 * time comparisons' outcomes, and config errors. Expected signatures are
 * computed here with libcrypto's one-shot HMAC(), a different path from
 * auth.c's streamed EVP_MAC; the end-to-end test (tests/routed/run-ingest.sh)
 * computes them with the openssl command instead.
 */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "conf.h"

#include "tmpdir.h"

/* Loads text as a config into c; returns rd_conf_load's result, messages in *msgs (malloc). */
static int
load_conf(struct rd_conf *c, const char *text, char **msgs)
{
	char path[512];
	size_t n = 0;
	FILE *f, *err;
	int rc;

	snprintf(path, sizeof path, "%s/a.conf", tmpdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	err = open_memstream(msgs, &n);
	ck_assert_int_eq(rd_conf_init(c), 0);
	rc = rd_conf_load(c, path, err);
	fclose(err);
	return rc;
}

struct hdrs {                  /* a fake request's headers */
	const char *name[4], *value[4];
};

static const char *
hdr(void *ud, const char *name)
{
	struct hdrs *h = ud;
	int i;

	for (i = 0; i < 4 && h->name[i]; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* HMAC-SHA256(key, msg) as hex (out: 65 bytes) or base64 (out: 45 bytes). */
static void
sign(const void *key, size_t klen, const char *msg, int b64, char *out)
{
	unsigned char md[32];
	unsigned mdlen = 0;
	int i;

	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), md, &mdlen));
	if (b64) {
		EVP_EncodeBlock((unsigned char *)out, md, 32);
		return;
	}
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static const char conf_text[] =
	"[source shop]\nauth = bearer\ntoken = s3cret\n"
	"[source stripe]\nauth = hmac\nsecret = whsec_abc\ntolerance = 5m\n"
	"[source sw]\nauth = hmac\nscheme = standard-webhooks\nsecret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
	"[source gen]\npath = /hooks/gen\nauth = hmac\nscheme = generic\nsecret = k\ntolerance = 10\n"
	"[source open]\n"
	"[tcp]\nlisten = 127.0.0.1:0\nmax_connections = 7\n";

#define NOW 1700000000L
#define BODY "{\"event_type\":\"x\"}"

START_TEST(test_conf_sources_and_tcp)
{
	struct rd_conf c;
	char *msgs = NULL;

	ck_assert_int_eq(load_conf(&c, conf_text, &msgs), 0);
	ck_assert_uint_eq(c.nsources, 5);
	ck_assert_str_eq(c.sources[0].path, "/events/shop");
	ck_assert_int_eq(c.sources[0].auth, RD_AUTH_BEARER);
	ck_assert_int_eq(c.sources[1].scheme, RD_HMAC_STRIPE);
	ck_assert_uint_eq(c.sources[1].tolerance, 300);
	ck_assert_uint_eq(c.sources[2].tolerance, 300);
	ck_assert_str_eq(c.sources[3].path, "/hooks/gen");
	ck_assert_str_eq(c.sources[3].signature_header, "X-Signature");
	ck_assert_str_eq(c.sources[3].timestamp_header, "X-Timestamp");
	ck_assert_int_eq(c.sources[4].auth, RD_AUTH_NONE);
	ck_assert_str_eq(c.tcp_listen, "127.0.0.1:0");
	ck_assert_uint_eq(c.tcp_max_connections, 7);
	free(msgs);
	rd_conf_fini(&c);
}
END_TEST

START_TEST(test_conf_source_errors)
{
	struct rd_conf c;
	char *msgs = NULL;

	ck_assert_int_eq(load_conf(&c,
		"[source a]\nauth = hmac\n"                       /* 1: no secret */
		"[source b]\npath = /p\nauth = bearer\ntoken = t\ntoken = u\n" /* 7: duplicate */
		"[source c]\npath = /p\n"                         /* 8: same path as b */
		"[source d]\nauth = hmac\nscheme = standard-webhooks\nsecret = nope\n" /* 10: not whsec_ */
		"[source e]\nsignature_header = X\n"              /* 14: generic only */
		"[source e]\n"                                    /* 16: twice */
		"[source f]\ncolour = red\n"                      /* 18: unknown key */
		"[tcp]\nmax_connections = 0\n",                   /* 20 */
		&msgs), -1);
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:1: [source a]: auth = hmac needs secret"));
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:7: duplicate key 'token'"));
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:8: [source c]: path /p is already source b's"));
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:10: [source d]: a standard-webhooks secret is whsec_"));
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:14: [source e]: signature_header and timestamp_header are only"));
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:16: source 'e' is already configured at line 14"));
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:18: unknown key 'colour' in [source f]"));
	ck_assert_ptr_nonnull(strstr(msgs, "a.conf:20: max_connections must be a number from 1"));
	free(msgs);
	rd_conf_fini(&c);
}
END_TEST

/* Runs a check of source index i with headers h and body; returns rd_auth_check's result. */
static int
check(struct rd_auth *a, const char *path, struct hdrs *h, const char *body, long now)
{
	const char *detail;
	struct rd_source *s = rd_auth_find(a, path);
	int r;

	ck_assert_ptr_nonnull(s);
	r = rd_auth_check(a, s, hdr, h, body, strlen(body), (time_t)now, &detail);
	ck_assert(r < 0 ? detail == NULL : detail != NULL);
	return r;
}

static void
setup_auth(struct rd_conf *c, struct rd_auth *a)
{
	char *msgs = NULL, err[256];

	ck_assert_int_eq(load_conf(c, conf_text, &msgs), 0);
	free(msgs);
	ck_assert_int_eq(rd_auth_init(a, c, err, sizeof err), 0);
}

START_TEST(test_bearer)
{
	struct rd_conf c;
	struct rd_auth a;
	struct hdrs h = { { "authorization" }, { "Bearer s3cret" } };

	setup_auth(&c, &a);
	ck_assert_ptr_null(rd_auth_find(&a, "/events"));
	ck_assert_int_eq(check(&a, "/events/shop", &h, "", NOW), -1);
	h.value[0] = "bearer   s3cret";
	ck_assert_int_eq(check(&a, "/events/shop", &h, "", NOW), -1);
	h.value[0] = "Bearer s3cre";
	ck_assert_int_eq(check(&a, "/events/shop", &h, "", NOW), RD_AUTH_BAD_TOKEN);
	h.value[0] = "Bearer s3cret2";
	ck_assert_int_eq(check(&a, "/events/shop", &h, "", NOW), RD_AUTH_BAD_TOKEN);
	h.value[0] = "Basic czNjcmV0";
	ck_assert_int_eq(check(&a, "/events/shop", &h, "", NOW), RD_AUTH_MISSING);
	h.name[0] = NULL;
	ck_assert_int_eq(check(&a, "/events/shop", &h, "", NOW), RD_AUTH_MISSING);
	ck_assert_int_eq(check(&a, "/events/open", &h, "", NOW), -1);
	ck_assert_uint_eq(atomic_load(&a.src[0].failures[RD_AUTH_BAD_TOKEN]), 2);
	ck_assert_uint_eq(atomic_load(&a.src[0].authenticated), 2);
	rd_auth_fini(&a);
	rd_conf_fini(&c);
}
END_TEST

START_TEST(test_stripe)
{
	struct rd_conf c;
	struct rd_auth a;
	char sig[65], msg[128], hv[256];
	struct hdrs h = { { "stripe-signature" }, { hv } };

	setup_auth(&c, &a);
	snprintf(msg, sizeof msg, "%ld.%s", NOW, BODY);
	sign("whsec_abc", 9, msg, 0, sig);
	snprintf(hv, sizeof hv, "t=%ld,v1=%s,v0=deadbeef", NOW, sig);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW), -1);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY "x", NOW), RD_AUTH_BAD_SIGNATURE);
	/* another order, a space, an older v1 first, upper-case hex */
	snprintf(hv, sizeof hv, "v1=%064d, t=%ld,v1=%s", 0, NOW, sig);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW), -1);
	for (char *p = sig; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	snprintf(hv, sizeof hv, "t=%ld,v1=%s", NOW, sig);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW), -1);
	/* the window: a timestamp 300 s old or ahead is in, 301 is out */
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW + 300), -1);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW + 301), RD_AUTH_STALE);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW - 300), -1);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW - 301), RD_AUTH_STALE);
	snprintf(hv, sizeof hv, "v1=%s", sig);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW), RD_AUTH_MALFORMED);
	snprintf(hv, sizeof hv, "t=12x,v1=%s", sig);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW), RD_AUTH_MALFORMED);
	snprintf(hv, sizeof hv, "t=%ld,v1=zz", NOW);
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW), RD_AUTH_MALFORMED);
	h.name[0] = "X-Other";
	ck_assert_int_eq(check(&a, "/events/stripe", &h, BODY, NOW), RD_AUTH_MISSING);
	rd_auth_fini(&a);
	rd_conf_fini(&c);
}
END_TEST

START_TEST(test_standard_webhooks)
{
	struct rd_conf c;
	struct rd_auth a;
	unsigned char key[64];
	int klen;
	char sig[45], msg[128], ts[32], hv[256];
	struct hdrs h = { { "webhook-id", "webhook-timestamp", "webhook-signature" }, { "msg_1", ts, hv } };

	setup_auth(&c, &a);
	klen = EVP_DecodeBlock(key, (const unsigned char *)"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 32);
	ck_assert_int_eq(klen, 24);
	snprintf(ts, sizeof ts, "%ld", NOW);
	snprintf(msg, sizeof msg, "msg_1.%ld.%s", NOW, BODY);
	sign(key, (size_t)klen, msg, 1, sig);
	snprintf(hv, sizeof hv, "v1,%s", sig);
	ck_assert_int_eq(check(&a, "/events/sw", &h, BODY, NOW), -1);
	snprintf(hv, sizeof hv, "v1a,xyz v1,AAAA v1,%s", sig);
	ck_assert_int_eq(check(&a, "/events/sw", &h, BODY, NOW), -1);
	h.value[0] = "msg_2";
	ck_assert_int_eq(check(&a, "/events/sw", &h, BODY, NOW), RD_AUTH_BAD_SIGNATURE);
	h.value[0] = "msg_1";
	snprintf(hv, sizeof hv, "%s", sig); /* no v1, prefix */
	ck_assert_int_eq(check(&a, "/events/sw", &h, BODY, NOW), RD_AUTH_MALFORMED);
	h.name[0] = "x-id";
	ck_assert_int_eq(check(&a, "/events/sw", &h, BODY, NOW), RD_AUTH_MISSING);
	rd_auth_fini(&a);
	rd_conf_fini(&c);
}
END_TEST

START_TEST(test_generic)
{
	struct rd_conf c;
	struct rd_auth a;
	char sig[65], b64[45], msg[128], ts[32], hv[128];
	struct hdrs h = { { "X-Timestamp", "X-Signature" }, { ts, hv } };

	setup_auth(&c, &a);
	snprintf(ts, sizeof ts, "%ld", NOW);
	snprintf(msg, sizeof msg, "%ld.%s", NOW, BODY);
	sign("k", 1, msg, 0, sig);
	sign("k", 1, msg, 1, b64);
	snprintf(hv, sizeof hv, "%s", sig);
	ck_assert_int_eq(check(&a, "/hooks/gen", &h, BODY, NOW), -1);
	snprintf(hv, sizeof hv, "sha256=%s", sig);
	ck_assert_int_eq(check(&a, "/hooks/gen", &h, BODY, NOW), -1);
	snprintf(hv, sizeof hv, "%s", b64);
	ck_assert_int_eq(check(&a, "/hooks/gen", &h, BODY, NOW), -1);
	/* base64url without padding */
	for (char *p = hv; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	hv[43] = '\0';
	ck_assert_int_eq(check(&a, "/hooks/gen", &h, BODY, NOW), -1);
	ck_assert_int_eq(check(&a, "/hooks/gen", &h, BODY, NOW + 11), RD_AUTH_STALE);
	snprintf(hv, sizeof hv, "sha256=%.63s", sig);
	ck_assert_int_eq(check(&a, "/hooks/gen", &h, BODY, NOW), RD_AUTH_MALFORMED);
	h.name[0] = "Date";
	ck_assert_int_eq(check(&a, "/hooks/gen", &h, BODY, NOW), RD_AUTH_MISSING);
	rd_auth_fini(&a);
	rd_conf_fini(&c);
}
END_TEST

static Suite *
auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_conf_sources_and_tcp);
	tcase_add_test(tc, test_conf_source_errors);
	tcase_add_test(tc, test_bearer);
	tcase_add_test(tc, test_stripe);
	tcase_add_test(tc, test_standard_webhooks);
	tcase_add_test(tc, test_generic);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tmpdir_run("check_auth", auth_suite(), NULL);
}
