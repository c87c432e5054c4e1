/*
 * fuzz_json_out.c -- libFuzzer target: bytes -> rv_json_edit, rv_json_object
 * (runtime/json_out.c).
 *
 * Input layout: byte 0 holds flags (bit 0: in_data; bits 1-2: the number of
 * members, 0-3), then per member a NUL-terminated path (split at '.') and a
 * NUL-terminated value, then the document (the rest, NULs included). Every part is passed in an exactly sized
 * heap copy and the output buffer is exactly cap bytes, so ASan sees any
 * read or write outside them. Checked beyond "no crash": an output never
 * exceeds cap, one byte less than a successful output's length never fits,
 * and no members gives back the document unchanged.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXM 3
#define MAXSEG 8

/* Returns an exactly sized heap copy of p[0..n) (at least 1 byte allocated). */
static char *
dup_exact(const uint8_t *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c != NULL && n > 0)
		memcpy(c, p, n);
	return c;
}

/* Calls rv_json_edit (or rv_json_object when doc is NULL) and checks it. */
static void
run(const char *doc, size_t dlen, int in_data, const struct rv_json_member *m, unsigned n,
	size_t cap)
{
	char *out = malloc(cap ? cap : 1), *out2;
	size_t olen = 0, olen2 = 0;
	const char *why = NULL;
	int rc;

	if (out == NULL)
		return;
	if (doc != NULL)
		rc = rv_json_edit(doc, dlen, in_data, m, n, out, cap, &olen, &why);
	else
		rc = rv_json_object(m, n, out, cap, &olen);
	if (rc == 0) {
		if (olen > cap)
			abort();
		if (doc != NULL && n == 0 && (olen != dlen || memcmp(out, doc, dlen) != 0))
			abort();
		if (olen > 0 && (out2 = malloc(olen - 1 ? olen - 1 : 1)) != NULL) {
			if (doc != NULL)
				rc = rv_json_edit(doc, dlen, in_data, m, n, out2, olen - 1, &olen2, &why);
			else
				rc = rv_json_object(m, n, out2, olen - 1, &olen2);
			if (rc != -1)
				abort();
			free(out2);
		}
	} else if (doc != NULL && why == NULL) {
		abort();
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rv_json_member m[MAXM];
	const char *segs[MAXM][MAXSEG];
	size_t lens[MAXM][MAXSEG];
	char *parts[1 + 2 * MAXM];
	size_t plens[1 + 2 * MAXM];
	unsigned nparts = 0, n, i, j;
	int in_data;
	size_t p, cap;
	char q[64];

	if (size < 1)
		return 0;
	in_data = data[0] & 1;
	n = (data[0] >> 1) & 3;
	if (n > MAXM)
		n = MAXM;
	/* 2n NUL-terminated parts (path, value, ...), then the document. */
	for (p = 1; nparts < 2 * n; nparts++) {
		const uint8_t *z = memchr(data + p, 0, size - p);

		if (z == NULL)
			break;
		plens[nparts] = (size_t)(z - (data + p));
		if ((parts[nparts] = dup_exact(data + p, plens[nparts])) == NULL)
			goto out;
		p += plens[nparts] + 1;
	}
	plens[nparts] = size - p;
	if ((parts[nparts] = dup_exact(data + p, size - p)) == NULL)
		goto out;
	nparts++;
	n = (nparts - 1) / 2;
	for (i = 0; i < n; i++) {
		const char *path = parts[2 * i];
		size_t plen = plens[2 * i], s = 0, k;

		j = 0;
		for (k = 0; k <= plen && j < MAXSEG; k++) {
			if (k == plen || path[k] == '.') {
				segs[i][j] = path + s;
				lens[i][j] = k - s;
				j++;
				s = k + 1;
			}
		}
		m[i].segs = segs[i];
		m[i].seglens = lens[i];
		m[i].nseg = j;
		m[i].json = parts[2 * i + 1];
		m[i].len = plens[2 * i + 1];
		(void)rv_json_quote(path, plen, q, sizeof q);
	}
	{
		const char *doc = parts[nparts - 1];
		size_t dlen = plens[nparts - 1];

		cap = dlen + 8;
		for (i = 0; i < n; i++)
			cap += m[i].len + 16 * (plens[2 * i] + 4);
		run(doc, dlen, in_data, m, n, cap);
		run(doc, dlen, in_data, m, n, dlen / 2);
		run(NULL, 0, 0, m, n, cap);
		if (dlen >= sizeof(double)) {
			double d;

			memcpy(&d, doc, sizeof d);
			(void)rv_json_double(d, q, sizeof q);
			(void)rv_json_double(d, q, (size_t)(doc[0] & 31));
		}
	}
out:
	for (i = 0; i < nparts; i++)
		free(parts[i]);
	return 0;
}
