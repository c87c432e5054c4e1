/*
 * ingest.h -- turning one HTTP request body into events, by content type:
 *
 *   application/json                     one event (the body)
 *   application/x-ndjson                 one event per non-blank line
 *   application/cloudevents+json         one CloudEvent, structured mode
 *   application/cloudevents-batch+json   a JSON array of structured CloudEvents
 *   any type with a ce-specversion header  one CloudEvent in binary mode: the
 *                                        ce-* headers are its attributes and the
 *                                        body its data; the structured event is
 *                                        built here
 *
 * Nothing is validated here beyond what splitting needs: each event is then
 * checked by libroute's flattener (http.c), which gives the reason and byte.
 * Independent of libmicrohttpd, so it can be unit-tested and reused by other
 * ingest paths (TCP, stdin: planned).
 */
#ifndef RD_INGEST_H
#define RD_INGEST_H

#include <stddef.h>

#include "buf.h"

enum rd_body_kind {
	RD_BODY_UNSUPPORTED = 0,
	RD_BODY_JSON,
	RD_BODY_NDJSON,
	RD_BODY_CE,
	RD_BODY_CE_BATCH,
	RD_BODY_CE_BINARY
};

struct rd_header {             /* a request header (borrowed strings) */
	const char *name, *value;
};

struct rd_ingest_event {
	const char *p;             /* borrows: from the body, or from rd_ingest.built */
	size_t len;
	size_t body_off;           /* where it starts in the body (binary mode: the data) */
	unsigned line;             /* NDJSON: its line number (1-based); else 0 */
};

struct rd_ingest {
	int kind;                  /* enum rd_body_kind */
	struct rd_ingest_event *ev; /* owns the array */
	size_t n, cap;
	struct rd_buf built;       /* owns: binary mode's structured event */
	size_t data_start;         /* binary mode: where the body's bytes are in built */
	char error[256];           /* when rd_ingest_parse fails: what */
	size_t error_off;          /* ... and at which byte of the body */
};

/*
 * The kind of body for media type content_type (parameters ignored, case
 * insensitive; NULL when absent) and whether a ce-specversion header came.
 */
int rd_ingest_kind(const char *content_type, int has_ce_specversion);
void rd_ingest_init(struct rd_ingest *in);
void rd_ingest_fini(struct rd_ingest *in);
/*
 * Empties in for the next body, keeping its event array when it is small
 * (at most RD_INGEST_KEEP entries; a bigger one, from a huge batch, is freed
 * so an idle thread holds little), so a thread that reuses one rd_ingest
 * allocates nothing per request.
 */
void rd_ingest_reset(struct rd_ingest *in);
#define RD_INGEST_KEEP 1024
/*
 * Splits body[0..len) (borrowed: must outlive in) of the given kind into
 * in->ev. For RD_BODY_CE_BINARY, headers[0..nh) are the request headers and
 * content_type its Content-Type. Returns 0, or -1 with in->error and
 * in->error_off set (a malformed batch, a missing ce-* attribute, an empty
 * body, out of memory).
 */
int rd_ingest_parse(struct rd_ingest *in, int kind, const char *body, size_t len,
	const struct rd_header *headers, size_t nh, const char *content_type);

#endif
