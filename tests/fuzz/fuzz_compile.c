/*
 * fuzz_compile.c -- libFuzzer target: Route source -> routec pipeline.
 *
 * Any input must either be rejected with diagnostics or compile; whatever
 * compiles must load through the runtime's validator (the compiler may never
 * emit a program the runtime refuses) and disassemble. Both optimisation
 * levels run on every input. Seeds: examples/ and tests/errors/ (the
 * fuzz-ci.sh script copies them into a scratch corpus).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "bytecode.h"
#include "driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct rc_options o;
	int opt;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	if (size > 1 << 20)
		return 0;
	for (opt = 0; opt <= 2; opt += 2) {
		unsigned char *rbc = NULL;
		size_t len = 0;
		struct rv_prog *p = NULL;
		char err[256];

		rc_options_default(&o);
		o.opt = opt;
		o.diag = devnull; /* diagnostics are printed (exercising diag.c), then dropped */
		o.max_errors = 0;
		if (rc_compile_string("fuzz.route", (const char *)data, size, &o, &rbc, &len, NULL)
		    != RC_EXIT_OK)
			continue;
		if (rv_prog_load(rbc, len, &p, err, sizeof err) < 0) {
			fprintf(stderr, "compiled program does not verify: %s\n", err);
			abort();
		}
		rv_prog_disasm(p, devnull);
		rv_prog_free(p);
		ru_free(rbc);
	}
	return 0;
}
