/*
 * fuzz_load.c -- libFuzzer target: bytes -> rv_prog_load (the validator).
 *
 * Any input must be either refused with a message or loaded; a loaded
 * program must then disassemble without reading out of bounds, which checks
 * that validation establishes everything rv_prog_disasm (and so the VM)
 * relies on. Each input is loaded twice: as given (random bytes almost never
 * pass the checksum, which is itself worth testing), then with file_size and
 * checksum patched to match, so that mutations reach the structural checks.
 * Seeds: tests/fuzz/corpus/load/, written by check_bytecode with
 * RBC_WRITE_SEEDS=DIR.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytecode.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Events every loaded program is run on: whatever the program, a verified
 * one must match them without crashing (the runtime trusts the verifier). */
static const char *const events[] = {
	"{\"event_type\":\"payment.created\",\"amount\":12.5,\"currency\":\"EUR\",\"note\":\"x\"}",
	("{\"event_type\":\"customer.updated\",\"event_version\":2,\"customer\":{\"id\":\"c1\",\"vip\":true},"
	 "\"tags\":[\"a\",\"b\"]}"),
	"{\"specversion\":\"1.0\",\"type\":\"alert.raised\",\"id\":\"1\",\"data\":{\"level\":\"high\"}}",
};

/*
 * Loads buf[0..len); if it loads, disassembles it into out, then loads it
 * again through libroute (which builds its lists from the program) and
 * matches a few events with it, explaining every rule.
 */
static void
load_one(const void *buf, size_t len, FILE *out)
{
	struct rv_prog *p;
	route_prog *rp;
	route_matcher *m;
	struct route_decision d;
	struct route_why why;
	char err[256];
	size_t i;
	uint32_t r;

	if (rv_prog_load(buf, len, &p, err, sizeof err) != 0)
		return;
	if (out != NULL)
		rv_prog_disasm(p, out);
	rv_prog_free(p);
	if ((rp = route_prog_load(buf, len, NULL, err, sizeof err)) == NULL)
		return; /* e.g. a regex Hyperscan refuses */
	if ((m = route_matcher_new(rp)) != NULL) {
		for (i = 0; i < sizeof events / sizeof events[0]; i++) {
			route_match(m, events[i], strlen(events[i]), &d);
			for (r = 0; r < route_prog_nrules(rp) && r < 64; r++)
				route_explain(m, r, &why);
		}
		route_matcher_free(m);
	}
	route_prog_free(rp);
}

/* One input: as given, then with a consistent file_size and checksum. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct rv_rbc_header h;
	uint64_t fsize = size;
	unsigned char *copy;

	if (devnull == NULL)
		devnull = fopen("/dev/null", "w");
	load_one(data, size, devnull);
	if (size < RV_RBC_HEADER_SIZE)
		return 0;
	/* An exactly sized heap copy, so ASan sees any overread. */
	copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	memcpy(copy + offsetof(struct rv_rbc_header, file_size), &fsize, sizeof fsize);
	h.checksum = rv_rbc_checksum(copy, size);
	memcpy(copy + offsetof(struct rv_rbc_header, checksum), &h.checksum, sizeof h.checksum);
	load_one(copy, size, devnull);
	free(copy);
	return 0;
}
