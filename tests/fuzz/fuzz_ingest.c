/*
 * fuzz_ingest.c -- libFuzzer target: arbitrary bytes -> rd_ingest_parse, the
 * splitting of an HTTP request body into events: routed's untrusted input
 * before the flattener sees it.
 *
 * Input: byte 0 picks the kind (% 6: unsupported, JSON, NDJSON, CloudEvents
 * structured, batch, binary) and byte 1 the Content-Type given with it (%
 * 4: none, application/json, text/plain, application/cloudevents+json). For
 * binary mode the bytes up to the first blank line are the request headers
 * ("name: value" lines: the ce-* ones are the event's attributes), the rest
 * the body; else the rest is the body. The body is an exactly sized heap
 * copy, so ASan sees any read past it. What ingest.h promises is checked:
 * on success each event is inside the body or inside the built structured
 * event, events come in order without overlapping, and NDJSON line numbers
 * increase; on failure there is a reason and its offset is within the body.
 * A second parse with the same rd_ingest after rd_ingest_reset (what an
 * HTTP thread does for its next request) must give the same events.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 32

static const char *const content_types[] = {
	NULL, "application/json", "text/plain", "application/cloudevents+json",
};

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_ingest: %s\n", what);
	abort();
}

/* Whether p[0..n) lies within base[0..len). */
static int
inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

/* Checks what a successful parse promises; touches every byte of every event. */
static void
check_events(const struct rd_ingest *in, const char *body, size_t len)
{
	const char *prev_end = NULL;
	unsigned prev_line = 0;
	volatile unsigned sum = 0;
	size_t i, k;

	for (i = 0; i < in->n; i++) {
		const struct rd_ingest_event *e = &in->ev[i];
		int in_body = inside(e->p, e->len, body, len);

		if (!in_body && !inside(e->p, e->len, in->built.p, in->built.len))
			die("an event outside the body and the built event");
		if (in_body && prev_end && e->p < prev_end)
			die("events out of order or overlapping");
		if (in_body) {
			prev_end = e->p + e->len;
			if ((size_t)(e->p - body) != e->body_off)
				die("body_off is not where the event is");
		}
		if (in->kind == RD_BODY_NDJSON && e->line <= prev_line)
			die("NDJSON line numbers do not increase");
		prev_line = e->line;
		for (k = 0; k < e->len; k++)
			sum += (unsigned char)e->p[k];
	}
	(void)sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rd_ingest in;
	static int ready;
	struct rd_header hs[MAX_HEADERS];
	char *head = NULL, *body, *line, *colon, *save = NULL;
	size_t nh = 0, blen, i, n1;
	const char *ct;
	int kind;

	if (size < 2)
		return 0;
	if (!ready) {
		rd_ingest_init(&in);
		ready = 1;
	}
	kind = data[0] % 6;
	ct = content_types[data[1] % 4];
	data += 2;
	size -= 2;
	blen = size;
	if (kind == RD_BODY_CE_BINARY) {
		const uint8_t *sep = NULL;

		for (i = 0; i + 1 < size; i++)
			if (data[i] == '\n' && data[i + 1] == '\n') {
				sep = data + i;
				break;
			}
		if (sep) {
			size_t hlen = (size_t)(sep - data);

			if (!(head = malloc(hlen + 1)))
				return 0;
			memcpy(head, data, hlen);
			head[hlen] = '\0';
			for (line = strtok_r(head, "\n", &save); line && nh < MAX_HEADERS;
			     line = strtok_r(NULL, "\n", &save)) {
				if (!(colon = strchr(line, ':')))
					continue;
				*colon++ = '\0';
				while (*colon == ' ')
					colon++;
				hs[nh].name = line;
				hs[nh].value = colon;
				nh++;
			}
			data = sep + 2;
			blen = size - hlen - 2;
		}
	}
	/* exactly sized: a read past the end is an ASan report */
	if (!(body = malloc(blen ? blen : 1))) {
		free(head);
		return 0;
	}
	memcpy(body, data, blen);
	rd_ingest_reset(&in);
	if (rd_ingest_parse(&in, kind, body, blen, hs, nh, ct) == 0) {
		check_events(&in, body, blen);
		n1 = in.n;
		rd_ingest_reset(&in);
		if (rd_ingest_parse(&in, kind, body, blen, hs, nh, ct) != 0 || in.n != n1)
			die("a second parse after rd_ingest_reset differs");
		check_events(&in, body, blen);
	} else {
		if (in.error[0] == '\0')
			die("a failed parse without a reason");
		if (in.error_off > blen)
			die("an error offset past the body");
	}
	free(body);
	free(head);
	return 0;
}
