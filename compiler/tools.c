/*
 * tools.c -- `routec run` and `routec explain`; see tools.h.
 *
 * Output of run, one line per event (stable, golden-tested):
 *   {"line":3,"type":"t","version":1,"rules":["a","b"],"routes":["d"],
 *    "set":{"f":"v"},"emit":[{...}]}
 *   {"line":4,"error":"trailing comma in object","offset":57}
 * Keys with nothing to say are left out ("set", "emit", "backpressure"); "rules" and
 * "routes" are always there (possibly empty: the event goes nowhere).
 */
#include "config.h"
#include "tools.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "bytecode.h"
#include "json_out.h"

/* Prints s[0..n) as a JSON string. */
static void
put_str(FILE *out, const char *s, size_t n)
{
	char small[256], *buf = small;
	size_t cap = n * 6 + 3, len;

	if (cap > sizeof small)
		buf = ru_xmalloc(cap);
	len = rv_json_quote(s, n, buf, cap);
	fwrite(buf, 1, len, out);
	if (buf != small)
		ru_free(buf);
}

/* Prints a name borrowed from the program as a JSON string; "?" if s is NULL. */
static void
put_name(FILE *out, const char *s, size_t n)
{
	put_str(out, s ? s : "?", s ? n : 1);
}

/* Reads all of f; returns a malloc'd buffer (NUL-terminated) or NULL. */
static char *
slurp(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0, k;
	char *buf = ru_xmalloc(cap);

	while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (cap - n - 1 == 0) {
			cap *= 2;
			buf = ru_xrealloc(buf, cap);
		}
	}
	if (ferror(f)) {
		ru_free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Both tools begin alike: a matcher for p and all of in. Returns 0 with *m
 * and *buf owned by the caller, 4 (out of memory) or 3 (read error).
 */
static int
start(const route_prog *p, FILE *in, const char *in_name, route_matcher **m, char **buf, size_t *len)
{
	if ((*m = route_matcher_new(p)) == NULL) {
		fprintf(stderr, "routec: out of memory for the matcher\n");
		return 4;
	}
	if ((*buf = slurp(in, len)) == NULL) {
		fprintf(stderr, "routec: cannot read '%s': %s\n", in_name, strerror(errno));
		route_matcher_free(*m);
		return 3;
	}
	return 0;
}

/*
 * Prints d as one JSON line: "line" (unless 0), then the error and offset
 * of a rejected event, the type and error of an unknown one, or version,
 * rules, routes, set, emit and (with o->output) the output.
 */
static void
print_decision(const route_prog *p, const struct route_decision *d, unsigned long line,
	const struct rc_run_options *o, FILE *out)
{
	uint32_t i;
	size_t n;
	const char *s;

	fputc('{', out);
	if (line)
		fprintf(out, "\"line\":%lu,", line);
	if (d->status == ROUTE_REJECTED) {
		fputs("\"error\":", out);
		put_str(out, d->reason, strlen(d->reason));
		fprintf(out, ",\"offset\":%zu}\n", d->offset);
		return;
	}
	if (d->type != ROUTE_NONE) {
		s = route_type_name(p, d->type, &n);
		fputs("\"type\":", out);
		put_name(out, s, n);
	}
	if (d->status != ROUTE_OK) {
		if (d->status == ROUTE_UNKNOWN_VERSION)
			fprintf(out, ",\"version\":%u", d->version);
		fputs(d->type != ROUTE_NONE ? ",\"error\":" : "\"error\":", out);
		put_str(out, d->reason, strlen(d->reason));
		fputs("}\n", out);
		return;
	}
	fprintf(out, "%s\"version\":%u,\"rules\":[", d->type != ROUTE_NONE ? "," : "", d->version);
	for (i = 0; i < d->nrules; i++) {
		if (i)
			fputc(',', out);
		s = route_rule_name(p, d->rules[i], &n);
		put_name(out, s, n);
	}
	fputs("],\"routes\":[", out);
	for (i = 0; i < d->ndests; i++) {
		if (i)
			fputc(',', out);
		s = route_dest_name(p, d->dests[i], &n);
		put_name(out, s, n);
	}
	fputc(']', out);
	if (d->nsets) {
		fputs(",\"set\":{", out);
		for (i = 0; i < d->nsets; i++) {
			if (i)
				fputc(',', out);
			s = route_field_name(p, d->sets[i].field, &n);
			put_name(out, s, n);
			fputc(':', out);
			fwrite(d->sets[i].json, 1, d->sets[i].len, out);
		}
		fputc('}', out);
	}
	if (d->nemits) {
		fputs(",\"emit\":[", out);
		for (i = 0; i < d->nemits; i++) {
			if (i)
				fputc(',', out);
			fwrite(d->emits[i].json, 1, d->emits[i].len, out);
		}
		fputc(']', out);
	}
	if (d->backpressure)
		fputs(",\"backpressure\":true", out);
	if (o->output) {
		fputs(",\"output\":", out);
		fwrite(d->output, 1, d->output_len, out);
	}
	fputs("}\n", out);
}

/* Is s[0..n) only spaces and tabs (a line `routec run` skips)? */
static int
blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

int
rc_tool_run(const route_prog *p, FILE *in, const char *in_name, const struct rc_run_options *o,
	FILE *out)
{
	route_matcher *m;
	route_state *st = NULL;
	struct route_decision d;
	unsigned long lineno = 0, events = 0, rejected = 0, unknown = 0, routed = 0, dropped = 0;
	size_t cap = 0, bytes = 0, n;
	ssize_t got;
	char *line = NULL;
	struct timespec t0, t1;
	double secs;

	if ((m = route_matcher_new(p)) == NULL || (st = route_state_new(p)) == NULL) {
		fprintf(stderr, "routec: out of memory for the matcher\n");
		route_matcher_free(m);
		return 4;
	}
	/* the events of one run share the tables (real clock), as in the service */
	route_matcher_set_state(m, st);
	/* line by line, so that a pipe gets each decision as its event arrives */
	if (in == stdin)
		setvbuf(out, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((got = getline(&line, &cap, in)) >= 0) {
		n = (size_t)got;
		bytes += n;
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (blank(line, n))
			continue;
		events++;
		route_match(m, line, n, &d);
		if (d.status == ROUTE_REJECTED)
			rejected++;
		else if (d.status != ROUTE_OK)
			unknown++;
		else if (d.ndests > 0)
			routed++;
		else
			dropped++;
		if (!o->stats)
			print_decision(p, &d, lineno, o, out);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(line); /* getline's buffer */
	route_matcher_free(m);
	route_state_free(st);
	if (ferror(in)) {
		fprintf(stderr, "routec: cannot read '%s': %s\n", in_name, strerror(errno));
		return 3;
	}
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (o->stats)
		fprintf(out, "events %lu, routed %lu, routed nowhere %lu, unknown type or version %lu, "
			"rejected %lu; %.3f s, %.0f events/s, %.1f MB/s\n", events, routed, dropped, unknown,
			rejected, secs, secs > 0 ? events / secs : 0.0, secs > 0 ? bytes / secs / 1e6 : 0.0);
	return 0;
}

/* ---- explain ----------------------------------------------------------------- */

/*
 * `routec explain` as text: per rule, matched, not applicable, not evaluated
 * or the failing predicate with the event's value and location; then the
 * decision. d must be ROUTE_OK.
 */
static void
explain_text(const route_prog *p, route_matcher *m, const struct route_decision *d, FILE *out)
{
	uint32_t r, line, col, i;
	size_t n, fl;
	const char *s, *file;
	struct route_why why;

	s = route_type_name(p, d->type, &n);
	fprintf(out, "event: %.*s v%u\n", (int)n, s, d->version);
	for (r = 0; r < route_prog_nrules(p); r++) {
		int res = route_explain(m, r, &why);

		s = route_rule_name(p, r, &n);
		file = route_rule_location(p, r, &fl, &line, &col);
		fprintf(out, "rule %.*s (%.*s:%u:%u): ", (int)n, s, (int)fl, file ? file : "?", line, col);
		if (res < 0) {
			fputs("does not apply to this event type\n", out);
			continue;
		}
		if (res == 1) {
			fputs("matched\n", out);
			continue;
		}
		if (res == 2) {
			fputs("not evaluated: a routing rule matched (otherwise)\n", out);
			continue;
		}
		if (why.changed) {
			fputs("no match when it ran; a later set makes it hold on the transformed event\n", out);
			continue;
		}
		if (why.op == NULL) {
			fputs("no match: the condition was false\n", out);
			continue;
		}
		fputs("no match", out);
		if (why.file)
			fprintf(out, " at %.*s:%u:%u", (int)why.file_len, why.file, why.line, why.col);
		fprintf(out, ": %s", why.op ? why.op : "condition");
		if (why.field)
			fprintf(out, " on '%.*s'", (int)why.field_len, why.field);
		if (why.value)
			fprintf(out, " was false; the event has %.*s\n", (int)why.value_len, why.value);
		else if (why.field)
			fputs(" was false; the field is missing\n", out);
		else
			fputs(" was false\n", out);
	}
	fputs("decision:", out);
	if (d->ndests == 0)
		fputs(" routed nowhere", out);
	for (i = 0; i < d->ndests; i++) {
		s = route_dest_name(p, d->dests[i], &n);
		fprintf(out, "%s %.*s", i ? "," : " route", (int)n, s);
	}
	for (i = 0; i < d->nsets; i++) {
		s = route_field_name(p, d->sets[i].field, &n);
		fprintf(out, "%s %.*s = %.*s", i ? "," : "; set", (int)n, s, (int)d->sets[i].len, d->sets[i].json);
	}
	for (i = 0; i < d->nemits; i++) {
		s = route_type_name(p, d->emits[i].type, &n);
		fprintf(out, "%s %.*s", i ? "," : "; emit", (int)n, s);
	}
	fputc('\n', out);
}

/*
 * `routec explain --json`: the same facts as explain_text as one JSON object,
 * with the decision as `routec run` prints it. d must be ROUTE_OK.
 */
static void
explain_json(const route_prog *p, route_matcher *m, const struct route_decision *d, FILE *out)
{
	uint32_t r, line, col;
	size_t n, fl;
	const char *s, *file;
	struct route_why why;

	fputs("{\"type\":", out);
	s = route_type_name(p, d->type, &n);
	put_name(out, s, n);
	fprintf(out, ",\"version\":%u,\"rules\":[", d->version);
	for (r = 0; r < route_prog_nrules(p); r++) {
		int res = route_explain(m, r, &why);

		if (r)
			fputc(',', out);
		s = route_rule_name(p, r, &n);
		file = route_rule_location(p, r, &fl, &line, &col);
		fputs("{\"rule\":", out);
		put_name(out, s, n);
		fputs(",\"at\":", out);
		put_name(out, file, fl);
		fprintf(out, ",\"line\":%u,\"col\":%u,\"result\":\"%s\"", line, col,
			res < 0 ? "not applicable" : res == 1 ? "match" : res == 2 ? "not evaluated" : "miss");
		if (res == 0 && why.changed)
			fputs(",\"changed_by_set\":true", out);
		if (res == 0 && why.op != NULL) {
			fprintf(out, ",\"failed\":{\"op\":\"%s\"", why.op);
			if (why.field) {
				fputs(",\"field\":", out);
				put_str(out, why.field, why.field_len);
			}
			fputs(",\"value\":", out);
			if (why.value)
				fwrite(why.value, 1, why.value_len, out);
			else
				fputs("null,\"missing\":true", out);
			if (why.file) {
				fputs(",\"at\":", out);
				put_str(out, why.file, why.file_len);
				fprintf(out, ",\"line\":%u,\"col\":%u", why.line, why.col);
			}
			fputc('}', out);
		}
		fputc('}', out);
	}
	fputs("],\"decision\":", out);
	{
		struct rc_run_options o = { 0 };

		/* the same object `routec run` prints, without its line number */
		print_decision(p, d, 0, &o, out);
	}
}

int
rc_tool_explain(const route_prog *p, FILE *in, const char *in_name,
	const struct rc_run_options *o, FILE *out)
{
	route_matcher *m;
	struct route_decision d;
	size_t len;
	char *buf;
	int rc;

	if ((rc = start(p, in, in_name, &m, &buf, &len)) != 0)
		return rc;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	route_match(m, buf, len, &d);
	if (d.status != ROUTE_OK) {
		fprintf(stderr, "routec: %s: %s", in_name, d.reason);
		if (d.status == ROUTE_REJECTED)
			fprintf(stderr, " (at byte %zu)", d.offset);
		fputc('\n', stderr);
		rc = 1;
	} else if (o->json) {
		explain_json(p, m, &d, out);
	} else {
		explain_text(p, m, &d, out);
	}
	ru_free(buf);
	route_matcher_free(m);
	return rc;
}

/* ---- the other commands' work ------------------------------------------------ */

/* Does the file start with the .rbc magic? */
int
rc_tool_is_rbc(const char *path)
{
	char magic[8];
	FILE *f = fopen(path, "rb");
	int yes;

	if (f == NULL)
		return 0;
	yes = fread(magic, 1, sizeof magic, f) == sizeof magic
		&& memcmp(magic, RV_RBC_MAGIC, sizeof magic) == 0;
	fclose(f);
	return yes;
}

/* Writes buf atomically: a temporary file in the same directory, then rename. */
int
rc_tool_write_file(const char *path, const unsigned char *buf, size_t len)
{
	char *tmp;
	FILE *f;
	int ok;

	struct stat sb;

	if (strcmp(path, "-") == 0)
		return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		/* a device or a pipe (/dev/null): write in place, never rename over it */
		if ((f = fopen(path, "wb")) == NULL)
			return -1;
		ok = fwrite(buf, 1, len, f) == len;
		return (fclose(f) == 0 && ok) ? 0 : -1;
	}
	tmp = ru_xmalloc(strlen(path) + 16);
	sprintf(tmp, "%s.tmp%ld", path, (long)getpid());
	if ((f = fopen(tmp, "wb")) == NULL) {
		ru_free(tmp);
		return -1;
	}
	ok = fwrite(buf, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		ru_free(tmp);
		errno = e;
		return -1;
	}
	ru_free(tmp);
	return 0;
}

/* Loads the image we just produced: the compiler must never emit what the
 * runtime would refuse. */
int
rc_tool_verify(const unsigned char *buf, size_t len, struct rv_prog **prog)
{
	char err[256];
	struct rv_prog *p = NULL;

	if (rv_prog_load(buf, len, &p, err, sizeof err) < 0) {
		fprintf(stderr, "routec: internal error: the compiled program does not verify: %s\n", err);
		return RC_EXIT_INTERNAL;
	}
	if (prog)
		*prog = p;
	else
		rv_prog_free(p);
	return RC_EXIT_OK;
}

int
rc_tool_dump(char **files, int n, const struct rc_options *o)
{
	struct rv_prog *p = NULL;
	char err[512];
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	if (n == 1 && rc_tool_is_rbc(files[0])) {
		if (rv_prog_load_file(files[0], &p, err, sizeof err) < 0) {
			fprintf(stderr, "routec: %s\n", err);
			return errno == ENOENT || errno == EACCES ? RC_EXIT_IO : RC_EXIT_RULES;
		}
	} else {
		rc = rc_compile_files((const char *const *)files, n, o, &buf, &len, NULL);
		if (rc != RC_EXIT_OK)
			return rc;
		rc = rc_tool_verify(buf, len, &p);
		ru_free(buf);
		if (rc != RC_EXIT_OK)
			return rc;
	}
	rv_prog_disasm(p, stdout);
	rv_prog_free(p);
	return fflush(stdout) == 0 ? RC_EXIT_OK : RC_EXIT_IO;
}

/* Loads RULES: a .rbc file, or a .route source compiled in memory. */
route_prog *
rc_tool_load_rules(const char *path, const struct rc_options *o, const struct route_options *ro, int *rc)
{
	char err[512];
	route_prog *p;
	unsigned char *buf = NULL;
	size_t len = 0;

	if (rc_tool_is_rbc(path)) {
		if ((p = route_prog_load_file(path, ro, err, sizeof err)) == NULL) {
			fprintf(stderr, "routec: %s\n", err);
			*rc = errno == ENOENT || errno == EACCES ? RC_EXIT_IO : RC_EXIT_RULES;
		}
		return p;
	}
	if ((*rc = rc_compile_files(&path, 1, o, &buf, &len, NULL)) != RC_EXIT_OK)
		return NULL;
	if ((p = route_prog_load(buf, len, ro, err, sizeof err)) == NULL) {
		fprintf(stderr, "routec: internal error: the compiled program does not load: %s\n", err);
		*rc = RC_EXIT_INTERNAL;
	}
	ru_free(buf);
	return p;
}

