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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loads buf[0..len); if it loads, disassembles it into out and frees it. */
static void
load_one(const void *buf, size_t len, FILE *out)
{
	struct rv_prog *p;
	char err[256];

	if (rv_prog_load(buf, len, &p, err, sizeof err) != 0)
		return;
	if (out != NULL)
		rv_prog_disasm(p, out);
	rv_prog_free(p);
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
