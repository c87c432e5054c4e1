/*
 * fuzz_event.c -- libFuzzer target: arbitrary bytes -> rv_event_scan.
 *
 * The scanner is built once from a small fixed program whose fields cover
 * nested paths, arrays of objects, a field that is also an envelope name
 * ("data.kind", "type") and @meta attributes, with small limits so that
 * every limit is reachable. Each input is scanned twice from an exactly
 * sized heap copy (ASan sees any overread): under AUTO and under PLAIN.
 * An accepted event must satisfy what event.h promises: every slice inside
 * the buffer, every chain in document order and inside nvals, strings that
 * unescape, numbers that parse or report overflow. A third scan, under AUTO
 * with the portable code (simd NONE) walking every container (walk_all),
 * must give the first one's outcome exactly. Seeds: tests/json/.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bytecode.h"
#include "driver.h"
#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char PROGRAM[] =
	"event order.created v1 {\n"
	"  customer?: { address?: { country?: string } }\n"
	"  items?: [{ sku?: string, qty?: number }]\n"
	"  tags?: [string]\n"
	"  total?: number\n"
	"  data?: { kind?: string }\n"
	"  type?: string\n"
	"}\n"
	"destination d\n"
	"rule r1 on order.created when customer.address.country exists or items.sku exists\n"
	"  or items.qty exists or tags exists or total exists or items exists\n"
	"  or data.kind exists or type exists or customer exists route d\n"
	"rule r2 on * when @source exists or @version exists or @id exists route d\n";

/* One scanner per envelope, then the reference (AUTO, NONE, walk_all), with their storage. */
struct fz {
	struct rv_scanner *sc;
	struct rv_event ev;
};

static struct rv_prog *prog;
static struct fz fz[3];

/* Builds prog and both scanners; aborts if the fixed program does not compile. */
static void
init(void)
{
	struct rc_options o;
	struct rv_scan_config c;
	unsigned char *rbc = NULL;
	size_t len = 0;
	char err[256];
	int i;

	rc_options_default(&o);
	o.diag = stderr;
	o.nowarn = 1;
	if (rc_compile_string("fuzz.route", PROGRAM, sizeof PROGRAM - 1, &o, &rbc, &len, NULL)
	    != RC_EXIT_OK || rv_prog_load(rbc, len, &prog, err, sizeof err) != 0)
		abort();
	ru_free(rbc);
	for (i = 0; i < 3; i++) {
		rv_scan_config_default(&c);
		c.envelope = i == 1 ? RV_ENV_PLAIN : RV_ENV_AUTO;
		c.simd = i == 2 ? RV_SIMD_NONE : RV_SIMD_AUTO;
		c.walk_all = i == 2;
		c.max_depth = 12;
		c.max_string = 64;
		c.max_values = 32;
		c.max_bytes = 4096;
		if ((fz[i].sc = rv_scanner_new(prog, &c)) == NULL)
			abort();
		fz[i].ev.vals = malloc(c.max_values * sizeof *fz[i].ev.vals);
		fz[i].ev.first = malloc((prog->nfields + 1) * sizeof *fz[i].ev.first);
		fz[i].ev.last = malloc((prog->nfields + 1) * sizeof *fz[i].ev.last);
		fz[i].ev.scratch = malloc(rv_scanner_scratch_size(fz[i].sc) * sizeof(uint32_t));
		if (!fz[i].ev.vals || !fz[i].ev.first || !fz[i].ev.last || !fz[i].ev.scratch)
			abort();
		rv_event_init(fz[i].sc, &fz[i].ev);
	}
}

/* Checks one value against buf[0..len); aborts on a broken promise. */
static void
check_val(const char *buf, size_t len, const struct rv_jval *v)
{
	char out[128];
	double d;

	if (v->off > len || v->len > len - v->off || v->kind > RV_J_ARRAY)
		abort();
	switch (v->kind) {
	case RV_J_STRING:
		if (v->len <= sizeof out && rv_json_unescape(buf, v, out) > v->len)
			abort();
		break;
	case RV_J_NUMBER:
		if (v->len == 0 || v->len > RV_JSON_NUMBER_MAX)
			abort();
		(void)rv_json_number(buf, v, &d);
		break;
	case RV_J_OBJECT:
		if (buf[v->off] != '{' || buf[v->off + v->len - 1] != '}')
			abort();
		break;
	case RV_J_ARRAY:
		if (buf[v->off] != '[' || buf[v->off + v->len - 1] != ']')
			abort();
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_scan_error err, err0, eref;
	char *copy;
	int i, m, rc0, rref;

	if (prog == NULL)
		init();
	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	/* skipping and vector code change nothing: the reference agrees to the byte */
	rc0 = rv_event_scan(fz[0].sc, copy, size, &fz[0].ev, &err0);
	rref = rv_event_scan(fz[2].sc, copy, size, &fz[2].ev, &eref);
	if (rc0 != rref)
		abort();
	if (rc0 != 0 && (strcmp(err0.reason, eref.reason) != 0 || err0.offset != eref.offset))
		abort();
	if (rc0 == 0 && (fz[0].ev.nvals != fz[2].ev.nvals || memcmp(fz[0].ev.vals, fz[2].ev.vals,
	    fz[0].ev.nvals * sizeof *fz[0].ev.vals) != 0))
		abort();
	for (i = 0; i < 2; i++) {
		struct rv_event *ev = &fz[i].ev;
		uint32_t f, k, prev, n = 0;

		if (rv_event_scan(fz[i].sc, copy, size, ev, &err) != 0) {
			if (err.reason == NULL || err.offset > size)
				abort();
			continue;
		}
		if (ev->nvals > rv_scanner_config(fz[i].sc)->max_values)
			abort();
		for (f = 0; f < prog->nfields; f++) {
			for (k = ev->first[f], prev = RV_NONE; k != RV_NONE; k = ev->vals[k].next) {
				if (k >= ev->nvals || (prev != RV_NONE && k <= prev))
					abort();
				check_val(copy, size, &ev->vals[k]);
				prev = k;
				n++;
			}
		}
		if (n != ev->nvals)
			abort(); /* every value is on exactly one chain */
		for (m = 0; m < RV_META_N; m++)
			if (ev->has_meta[m])
				check_val(copy, size, &ev->meta[m]);
		if (ev->payload_len > 0 && (ev->payload_off > size
		    || ev->payload_len > size - ev->payload_off || copy[ev->payload_off] != '{'))
			abort();
	}
	free(copy);
	return 0;
}
