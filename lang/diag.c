/*
 * diag.c -- printing diagnostics with a caret; see diag.h.
 *
 * Line and column are found only here, at print time, from the line table of
 * the span's file. Columns count bytes; tabs in the source line are copied
 * into the marker line so the caret lines up in a terminal.
 */
#include "config.h"
#include "diag.h"

#include <string.h>

struct diag_info {
	const char *name;
	enum rl_sev sev;
	const char *fmt;
};

static const struct diag_info diag_info[RL_NDIAGS] = {
#define ERROR RL_SEV_ERROR
#define WARNING RL_SEV_WARNING
#define NOTE RL_SEV_NOTE
#define DIAG(id, sev, fmt) { #id, sev, fmt },
#include "diag.def"
#undef DIAG
#undef ERROR
#undef WARNING
#undef NOTE
};

static const char *const sev_word[] = { "error", "warning", "note" };

void
rl_diag_init(struct rl_diag *d, const struct rl_srcset *src, FILE *out)
{
	memset(d, 0, sizeof *d);
	d->src = src;
	d->out = out;
	d->max_errors = 20;
}

const char *
rl_diag_name(enum rl_diag_id id)
{
	return id < RL_NDIAGS ? diag_info[id].name : "?";
}

enum rl_sev
rl_diag_severity(enum rl_diag_id id)
{
	return diag_info[id].sev;
}

/* Number of characters (UTF-8 sequences) in s[0..n). */
static size_t
nchars(const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			k++;
	return k;
}

/*
 * Prints the source line of span and the ^~~~ marker under it. The marker
 * lines up by characters; tabs in the source are copied so that a terminal
 * expands both lines alike. A span that runs past the line is cut there.
 */
static void
print_caret(FILE *out, const struct rl_srcfile *f, struct rl_span span)
{
	uint32_t line, col;
	size_t len, i, start, end, under;
	const char *text;

	rl_srcfile_locate(f, span.start, &line, &col);
	text = rl_srcfile_line(f, line, &len);
	start = span.start - f->lines[line - 1];
	if (start > len)
		start = len;
	if (line == 1 && len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		/* the byte-order mark is neither shown nor counted */
		text += 3;
		len -= 3;
		start = start >= 3 ? start - 3 : 0;
	}
	fprintf(out, "%5u | %.*s\n", line, (int)len, text);
	fprintf(out, "      | ");
	for (i = 0; i < start; i++) {
		if (text[i] == '\t')
			fputc('\t', out);
		else if (((unsigned char)text[i] & 0xc0) != 0x80)
			fputc(' ', out);
	}
	end = span.end > span.start ? start + (span.end - span.start) : start + 1;
	if (end > len)
		end = len > start ? len : start + 1;
	under = end > start && end <= len ? nchars(text + start, end - start) : 1;
	fputc('^', out);
	for (i = 1; i < under; i++)
		fputc('~', out);
	fputc('\n', out);
}

void
rl_vdiag(struct rl_diag *d, enum rl_diag_id id, struct rl_span span, va_list ap)
{
	const struct diag_info *di = &diag_info[id];
	const struct rl_srcfile *f;
	enum rl_sev sev = di->sev;
	uint32_t line = 0, col = 0;

	if (sev == RL_SEV_WARNING && d->werror)
		sev = RL_SEV_ERROR;
	d->counts[id]++;
	if (sev == RL_SEV_ERROR)
		d->nerrors++;
	else if (sev == RL_SEV_WARNING)
		d->nwarnings++;
	if (d->out == NULL)
		return;
	if (sev == RL_SEV_WARNING && d->nowarn)
		return;
	if (d->max_errors && d->nerrors > d->max_errors) {
		if (sev == RL_SEV_ERROR && d->nerrors == d->max_errors + 1)
			fprintf(d->out, "routec: too many errors, stopping the report at %u\n",
				d->max_errors);
		return;
	}
	f = rl_srcset_get(d->src, span.file);
	if (f != NULL) {
		rl_srcfile_locate(f, span.start, &line, &col);
		fprintf(d->out, "%s:%u:%u: %s: ", f->name, line, col, sev_word[sev]);
	} else {
		fprintf(d->out, "routec: %s: ", sev_word[sev]);
	}
	vfprintf(d->out, di->fmt, ap);
	fputc('\n', d->out);
	if (f != NULL)
		print_caret(d->out, f, span);
}

void
rl_diag(struct rl_diag *d, enum rl_diag_id id, struct rl_span span, ...)
{
	va_list ap;

	va_start(ap, span);
	rl_vdiag(d, id, span, ap);
	va_end(ap);
}

unsigned
rl_edit_distance(const char *a, const char *b)
{
	/* optimal string alignment on names of at most 63 bytes */
	unsigned d[64][64];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > 63 || lb > 63)
		return 100;
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
			    && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

char *
rl_diag_suggest(char *buf, size_t size, const char *name, const char *const *cands, size_t n)
{
	unsigned best = 100, limit, dist;
	const char *pick = NULL;
	size_t i;

	limit = (unsigned)strlen(name) / 3;
	if (limit < 1)
		limit = 1;
	for (i = 0; i < n; i++) {
		dist = rl_edit_distance(name, cands[i]);
		if (dist <= limit && dist < best) {
			best = dist;
			pick = cands[i];
		}
	}
	if (pick != NULL)
		snprintf(buf, size, " (did you mean '%s'?)", pick);
	else if (size)
		buf[0] = '\0';
	return buf;
}
