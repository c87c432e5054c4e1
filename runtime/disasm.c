/*
 * disasm.c -- the readable listing of a loaded program (routec dump).
 *
 * Reads only what rv_prog_load() has validated, so every index it follows is
 * in range. The output is golden-tested (tests/disasm/): it prints nothing
 * that depends on the machine, the time or pointer values.
 */
#include "config.h"
#include "bytecode.h"
#include "builtins.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* ---- disassembler ----------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
static size_t
dis_utf8(const unsigned char *s, size_t n)
{
	size_t k, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing above U+10FFFF. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < k; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return k;
}

/*
 * Prints s[0..n) as a JSON string. Bytes that are not valid UTF-8 (possible
 * only in hand-made files) print as \xNN. Returns the characters printed.
 */
static int
dis_json(FILE *out, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	int w = 2;

	fputc('"', out);
	while (i < n) {
		unsigned char c = u[i];
		const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" :
			c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;

		k = 1;
		if (esc != NULL) {
			w += fprintf(out, "%s", esc);
		} else if (c < 0x20 || c == 0x7f) {
			w += fprintf(out, "\\u%04x", c);
		} else if (c < 0x80) {
			fputc(c, out);
			w++;
		} else if ((k = dis_utf8(u + i, n - i)) > 0) {
			fwrite(u + i, 1, k, out);
			w++;
		} else {
			w += fprintf(out, "\\x%02x", c);
			k = 1;
		}
		i += k;
	}
	fputc('"', out);
	return w;
}

/* Prints a name bare when it is a plain identifier or path, else quoted. */
static int
dis_name(FILE *out, const struct rv_prog *p, struct rv_str s)
{
	const char *t = rv_prog_str(p, s);
	uint32_t i;

	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-' || c == '@' || c == '/' || c == ':' || c == '*'))
			break;
	}
	if (s.len == 0 || i < s.len)
		return dis_json(out, t, s.len);
	fwrite(t, 1, s.len, out);
	return (int)s.len;
}

/* Prints d: integers without a fraction, others in the shortest %g that round-trips. */
static void
dis_num(FILE *out, double d)
{
	char buf[40];
	int prec;

	if (isnan(d)) {
		fputs("nan", out);
		return;
	}
	if (isinf(d)) {
		fputs(d < 0 ? "-inf" : "inf", out);
		return;
	}
	if (d == floor(d) && fabs(d) < 1e17) {
		fprintf(out, "%.0f", d);
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, sizeof buf, "%.*g", prec, d);
	fputs(buf, out);
}

/* Prints a duration in the largest unit that divides it: 500ms 10s 5m 1h 1d. */
static void
dis_ms(FILE *out, uint64_t ms)
{
	static const struct { uint64_t ms; const char *unit; } units[] = {
		{ 86400000u, "d" }, { 3600000u, "h" }, { 60000u, "m" }, { 1000u, "s" } };
	size_t i;

	for (i = 0; ms != 0 && i < sizeof units / sizeof units[0]; i++)
		if (ms % units[i].ms == 0) {
			fprintf(out, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	fprintf(out, "%llums", (unsigned long long)ms);
}

/* Prints the value of constant k (a validated index). */
static void
dis_const(FILE *out, const struct rv_prog *p, uint32_t k)
{
	const struct rv_const *c = &p->consts[k];
	char addr[INET6_ADDRSTRLEN];
	uint64_t i;

	switch (c->kind) {
	case RV_K_NULL:
		fputs("null", out);
		break;
	case RV_K_BOOL:
		fputs(c->a ? "true" : "false", out);
		break;
	case RV_K_NUM:
		dis_num(out, rv_bits_double(c->b));
		break;
	case RV_K_STR:
	case RV_K_REGEX:
		dis_json(out, p->strs + c->a, (size_t)c->b);
		break;
	case RV_K_DURATION:
		dis_ms(out, c->b);
		break;
	case RV_K_RATE:
		dis_num(out, rv_bits_double(c->b));
		fputs("/s", out);
		break;
	case RV_K_SET:
		fputc('[', out);
		for (i = 0; i < c->b; i++) {
			if (i > 0)
				fputs(", ", out);
			dis_const(out, p, p->setitems[c->a + i]); /* members are never sets */
		}
		fputc(']', out);
		break;
	case RV_K_RANGE:
		fputc(c->flags & RV_KF_LO_OPEN ? '(' : '[', out);
		if (c->a == RV_NONE)
			fputs("-inf", out);
		else
			dis_const(out, p, c->a);
		fputs(", ", out);
		if (c->b == RV_NONE)
			fputs("inf", out);
		else
			dis_const(out, p, (uint32_t)c->b);
		fputc(c->flags & RV_KF_HI_OPEN ? ')' : ']', out);
		break;
	case RV_K_CIDR:
		if (inet_ntop(c->aux == 4 ? AF_INET : AF_INET6, c->addr, addr, sizeof addr) == NULL)
			strcpy(addr, "?");
		fprintf(out, "%s/%u", addr, c->a);
		break;
	default:
		break;
	}
	if ((c->kind == RV_K_REGEX || c->kind == RV_K_SET) && (c->flags & RV_KF_CASELESS))
		fputs(" caseless", out);
}

/* Returns the name of value type t ("string", "[number]", ...) in buf. */
static const char *
dis_vtype(unsigned t, char buf[24])
{
	static const char *const names[] = {
		"any", "string", "number", "bool", "ip", "time", "object", "null"
	};
	unsigned base = t & ~(unsigned)RV_T_ARRAY;
	const char *n = base < sizeof names / sizeof names[0] ? names[base] : "?";

	snprintf(buf, 24, (t & RV_T_ARRAY) ? "[%s]" : "%s", n);
	return buf;
}

/* Prints field f's path, with '@' before envelope (meta) attributes. */
static int
dis_field(FILE *out, const struct rv_prog *p, uint32_t f)
{
	const struct rv_field *fd = &p->fields[f];
	int w = 0;

	if (fd->where == RV_FW_META && (fd->name.len == 0 || p->strs[fd->name.off] != '@')) {
		fputc('@', out);
		w++;
	}
	if (fd->where == RV_FW_CAPTURE) { /* a value kept from the first event of a sequence */
		fputs("first:", out);
		w += 6;
	}
	return w + dis_name(out, p, fd->name);
}

/* Prints "file:line:col" (file "?" when FILES has no such entry). */
static void
dis_loc(FILE *out, const struct rv_prog *p, uint32_t file, uint32_t line, uint32_t col)
{
	if (file < p->nfiles)
		dis_name(out, p, p->files[file]);
	else
		fputc('?', out);
	fprintf(out, ":%u:%u", line, col);
}

/* Prints n and a noun, pluralized: "1 table", "2 tables". */
static void
dis_count(FILE *out, const char *sep, uint32_t n, const char *noun)
{
	fprintf(out, "%s%u %s%s", sep, n, noun, n == 1 ? "" : "s");
}

/* Prints one instruction line: pc, name, operands, semantics, annotation. */
static void
dis_insn(FILE *out, const struct rv_prog *p, uint32_t pc)
{
	uint32_t i = p->code[pc];
	unsigned op = RV_GET_OP(i), a = RV_GET_A(i), b = RV_GET_B(i), c = RV_GET_C(i), x;
	const struct rv_opinfo *oi = &rv_opinfo[op];
	char ops[48];

	switch (oi->fmt) {
	case RV_FMT_N:
		ops[0] = '\0';
		break;
	case RV_FMT_A:
		snprintf(ops, sizeof ops, "r%u", a);
		break;
	case RV_FMT_AB:
		snprintf(ops, sizeof ops, op == RV_OP_AGG ? "r%u a%u" : "r%u r%u", a, b);
		break;
	case RV_FMT_ABC:
		if (op == RV_OP_MKLIST)
			snprintf(ops, sizeof ops, c ? "r%u r%u..r%u" : "r%u []", a, b, b + c - 1);
		else
			snprintf(ops, sizeof ops, op == RV_OP_CALL ? "r%u b%u r%u" : op == RV_OP_TGET ? "r%u t%u r%u" :
				"r%u r%u r%u", a, b, c);
		break;
	case RV_FMT_ABx:
		snprintf(ops, sizeof ops, op == RV_OP_LOADK ? "r%u k%u" : op == RV_OP_LOADF ? "r%u f%u" :
			"r%u %u", a, RV_GET_Bx(i));
		break;
	case RV_FMT_AsBx:
		snprintf(ops, sizeof ops, "r%u %+d", a, RV_GET_sBx(i));
		break;
	case RV_FMT_sJ:
		snprintf(ops, sizeof ops, "%+d", RV_GET_sJ(i));
		break;
	case RV_FMT_Ax:
		x = pc > 0 ? RV_GET_OP(p->code[pc - 1]) : RV_OP_NOP;
		snprintf(ops, sizeof ops, x == RV_OP_LOADKX ? "k%u" : x == RV_OP_LOADFX ? "f%u" : "%u",
			RV_GET_Ax(i));
		break;
	}
	fprintf(out, "  %04u  %-10s%-13s ; %s", pc, oi->name, ops, oi->semantics);
	switch (op) {
	case RV_OP_LOADK:
	case RV_OP_LOADKX:
		x = op == RV_OP_LOADK ? RV_GET_Bx(i) : RV_GET_Ax(p->code[pc + 1]);
		fprintf(out, "  k%u = ", x);
		dis_const(out, p, x);
		break;
	case RV_OP_LOADF:
	case RV_OP_LOADFX:
		x = op == RV_OP_LOADF ? RV_GET_Bx(i) : RV_GET_Ax(p->code[pc + 1]);
		fprintf(out, "  f%u = ", x);
		dis_field(out, p, x);
		break;
	case RV_OP_CALL:
		fprintf(out, "  b%u = ", b);
		dis_name(out, p, p->builtins[b]);
		fprintf(out, "/%u", rb_builtins[p->builtin_ids[b]].arity);
		break;
	case RV_OP_TGET:
		fprintf(out, "  t%u = ", b);
		dis_name(out, p, p->tables[b].name);
		break;
	case RV_OP_AGG:
		fprintf(out, "  a%u", b);
		break;
	default:
		if (oi->flags & RV_OPF_JUMP)
			fprintf(out, "  -> %04lld", (long long)rv_jump_target(i, pc));
		break;
	}
	fputc('\n', out);
}

/*
 * Prints the block entered at entry: the instructions from entry up to the
 * first terminator that no earlier jump in the block skips over (a jump's
 * target is always part of the block), with a "; file:line:col" line
 * wherever the location changes.
 */
static void
dis_block(FILE *out, const struct rv_prog *p, uint32_t entry)
{
	uint32_t pc, end = p->ncode - 1, lo = 0, hi = p->nlines, li;
	int64_t reach = entry;
	const struct rv_line *last = NULL;

	for (pc = entry; pc < p->ncode; pc++) {
		const struct rv_opinfo *oi = &rv_opinfo[RV_GET_OP(p->code[pc])];

		if (oi->flags & RV_OPF_KX) {
			pc++;
			continue;
		}
		if ((oi->flags & RV_OPF_JUMP) && rv_jump_target(p->code[pc], pc) > reach)
			reach = rv_jump_target(p->code[pc], pc);
		if ((oi->flags & RV_OPF_TERM) && pc >= reach) {
			end = pc;
			break;
		}
	}
	/* The LINES entry in force at entry: the last one with pc <= entry. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->lines[mid].pc <= entry)
			lo = mid + 1;
		else
			hi = mid;
	}
	li = lo;
	for (pc = entry; pc <= end; pc++) {
		const struct rv_line *ln = NULL;

		if (pc == entry && li > 0)
			ln = &p->lines[li - 1];
		while (li < p->nlines && p->lines[li].pc <= pc)
			ln = &p->lines[li++];
		if (ln != NULL && (last == NULL || ln->file != last->file || ln->line != last->line ||
		    ln->col != last->col)) {
			fputs("  ; ", out);
			dis_loc(out, p, ln->file, ln->line, ln->col);
			fputc('\n', out);
			last = ln;
		}
		dis_insn(out, p, pc);
	}
}

/* Types with their contracts and contract fields. */
static void
dis_types(FILE *out, const struct rv_prog *p)
{
	char tb[24];
	uint32_t i, j, k;

	fprintf(out, "\ntypes (%u):\n", p->ntypes);
	for (i = 0; i < p->ntypes; i++) {
		const struct rv_type *t = &p->types[i];

		fprintf(out, "  type %u ", i);
		dis_name(out, p, t->name);
		fputc('\n', out);
		for (j = t->contract; j < t->contract + t->ncontract; j++) {
			const struct rv_contract *c = &p->contracts[j];

			fprintf(out, "    v%u\n", c->version);
			for (k = c->cfield; k < c->cfield + c->ncfield; k++) {
				const struct rv_cfield *cf = &p->cfields[k];

				fputs("      ", out);
				dis_name(out, p, cf->path);
				fprintf(out, ": %s", dis_vtype(cf->type, tb));
				if (cf->flags & RV_CF_OPTIONAL)
					fputs(" optional", out);
				if (cf->enum_set != RV_NONE) {
					fputs(" enum ", out);
					dis_const(out, p, cf->enum_set);
				}
				fputc('\n', out);
			}
		}
	}
}

/* Prints *sep, then the formatted item; the items after it get ", ". */
static void dis_item(FILE *out, const char **sep, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
dis_item(FILE *out, const char **sep, const char *fmt, ...)
{
	va_list ap;

	fputs(*sep, out);
	*sep = ", ";
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
}

/* Destinations with the policies that differ from the defaults. */
static void
dis_dests(FILE *out, const struct rv_prog *p)
{
	uint32_t i;

	fprintf(out, "\ndestinations (%u):\n", p->ndests);
	for (i = 0; i < p->ndests; i++) {
		const struct rv_dest *d = &p->dests[i];
		const char *sep = ": ";

		fprintf(out, "  dest %u ", i);
		dis_name(out, p, d->name);
		if (d->priority != 5)
			dis_item(out, &sep, "priority %u", d->priority);
		if (d->workers != 1)
			dis_item(out, &sep, "workers %u", d->workers);
		if (d->queue_max != 0)
			dis_item(out, &sep, "queue %u", d->queue_max);
		/* written as in the source: retry N backoff MIN..MAX */
		if (d->retry_max != 0 || d->backoff_min_ms != 0 || d->backoff_max_ms != 0)
			dis_item(out, &sep, "retry %u", d->retry_max);
		if (d->backoff_min_ms != 0 || d->backoff_max_ms != 0) {
			fputs(" backoff ", out);
			dis_ms(out, d->backoff_min_ms);
			fputs("..", out);
			dis_ms(out, d->backoff_max_ms);
		}
		if (d->max_age_ms != 0) {
			dis_item(out, &sep, "max_age ");
			dis_ms(out, d->max_age_ms);
		}
		if (d->timeout_ms != 0) {
			dis_item(out, &sep, "timeout ");
			dis_ms(out, d->timeout_ms);
		}
		/* batch every T or N, batch every T, batch N */
		if (d->batch_every_ms != 0) {
			dis_item(out, &sep, "batch every ");
			dis_ms(out, d->batch_every_ms);
			if (d->batch_max != 0)
				fprintf(out, " or %u", d->batch_max);
		} else if (d->batch_max != 0) {
			dis_item(out, &sep, "batch %u", d->batch_max);
		}
		if (d->throttle_n != 0) {
			dis_item(out, &sep, "throttle %u per ", d->throttle_n);
			dis_ms(out, d->throttle_per_ms);
		}
		if (d->dead_letter != RV_NONE) {
			dis_item(out, &sep, "dead_letter ");
			dis_name(out, p, p->dests[d->dead_letter].name);
		}
		fputc('\n', out);
	}
}

/* Tables: types, the events that keep them current, bounds. */
static void
dis_tables(FILE *out, const struct rv_prog *p)
{
	char kb[24], vb[24];
	uint32_t i;

	fprintf(out, "\ntables (%u):\n", p->ntables);
	for (i = 0; i < p->ntables; i++) {
		const struct rv_table *t = &p->tables[i];

		fprintf(out, "  table %u ", i);
		dis_name(out, p, t->name);
		fprintf(out, ": %s -> %s, from ", dis_vtype(t->key_type, kb), dis_vtype(t->value_type, vb));
		dis_name(out, p, p->types[t->from_type].name);
		fputs(" key ", out);
		dis_field(out, p, t->key_field);
		fputs(" value ", out);
		dis_field(out, p, t->value_field);
		if (t->del_type != RV_NONE) {
			fputs(", delete on ", out);
			dis_name(out, p, p->types[t->del_type].name);
			fputs(" key ", out);
			dis_field(out, p, t->del_key_field);
		}
		fprintf(out, ", max_keys %u", t->max_keys);
		if (t->ttl_ms != 0) {
			fputs(", ttl ", out);
			dis_ms(out, t->ttl_ms);
		}
		fputc('\n', out);
	}
}

/* Constants and fields, one per line. */
static void
dis_pools(FILE *out, const struct rv_prog *p)
{
	char tb[24];
	uint32_t i;
	int w;

	if (p->nconsts > 0)
		fprintf(out, "\nconstants (%u):\n", p->nconsts);
	for (i = 0; i < p->nconsts; i++) {
		fprintf(out, "  k%-5u %-9s ", i, rv_kind_names[p->consts[i].kind]);
		dis_const(out, p, i);
		fputc('\n', out);
	}
	if (p->nfields > 0)
		fprintf(out, "\nfields (%u):\n", p->nfields);
	for (i = 0; i < p->nfields; i++) {
		const struct rv_field *f = &p->fields[i];

		fprintf(out, "  f%-5u %-8s ", i, f->where == RV_FW_META ? "meta"
			: f->where == RV_FW_CAPTURE ? "capture" : "payload");
		w = dis_name(out, p, f->name);
		fprintf(out, "%*s %s\n", w < 24 ? 24 - w : 0, "", dis_vtype(f->type, tb));
	}
}

/* The temporal record of rule ri, or NULL (TEMPORAL is sorted by rule). */
static const struct rv_temporal *
dis_temporal_of(const struct rv_prog *p, uint32_t ri)
{
	uint32_t lo = 0, hi = p->ntemporal;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->temporal[mid].rule < ri)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->ntemporal && p->temporal[lo].rule == ri ? &p->temporal[lo] : NULL;
}

static const char *const dis_aggname[RV_AGGK_N] = { "count", "sum", "avg", "min", "max", "distinct",
	"rate" };

/* Prints fields trefs[first .. first + n) as ", "-separated paths. */
static void
dis_field_list(FILE *out, const struct rv_prog *p, uint32_t first, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", out);
		dis_field(out, p, p->trefs[first + i]);
	}
}

/* A rule's temporal clauses, as in the source: window, keys, aggregates, throttle, dedup. */
static void
dis_temporal(FILE *out, const struct rv_prog *p, const struct rv_temporal *t)
{
	uint32_t i;

	if (t->flags & (RV_TF_SEQ | RV_TF_ABSENT | RV_TF_TUMBLE)) {
		const struct rv_tseq *q = NULL;

		for (i = 0; i < p->ntseq; i++)
			if (&p->temporal[p->tseq[i].temporal] == t)
				q = &p->tseq[i];
		if (q != NULL && (t->flags & RV_TF_TUMBLE)) {
			for (i = 0; i < q->ncaps; i++) {
				fputs("  capture ", out);
				dis_field(out, p, p->trefs[q->caps + 2 * i]);
				fputs(" -> ", out);
				dis_field(out, p, p->trefs[q->caps + 2 * i + 1]);
				fputc('\n', out);
			}
		} else if (q != NULL) {
			fputs(t->flags & RV_TF_SEQ ? "  then " : "  unless ", out);
			for (i = 0; i < q->nbtypes; i++) {
				const struct rv_contract *c = &p->contracts[p->trefs[q->btypes + i]];

				fputs(i > 0 ? ", " : "", out);
				dis_name(out, p, p->types[c->type].name);
				fprintf(out, " v%u", c->version);
			}
			fprintf(out, " where block %04u", q->bcond_pc);
			fputs(q->flags & RV_SQ_KEEP_EVENT ? " (keeps the first event)\n" : "\n", out);
			for (i = 0; i < q->nkeys; i++) {
				fputs("  correlate ", out);
				dis_field(out, p, p->trefs[q->akeys + i]);
				fputs(" == ", out);
				dis_field(out, p, p->trefs[q->bkeys + i]);
				fputc('\n', out);
			}
			for (i = 0; i < q->ncaps; i++) {
				fputs("  capture ", out);
				dis_field(out, p, p->trefs[q->caps + 2 * i]);
				fputs(" -> ", out);
				dis_field(out, p, p->trefs[q->caps + 2 * i + 1]);
				fputc('\n', out);
			}
		}
		fputs(t->flags & RV_TF_TUMBLE ? "  every " : "  within ", out);
		dis_ms(out, t->within_ms);
		fputc('\n', out);
	}
	for (i = 0; i < p->nttime; i++)
		if (&p->temporal[p->ttime[i].temporal] == t) {
			fputs("  timestamp ", out);
			dis_field(out, p, p->ttime[i].field);
			fputs(" lateness ", out);
			dis_ms(out, p->ttime[i].lateness_ms);
			fputc('\n', out);
		}
	if (t->flags & RV_TF_WINDOW) {
		fputs("  within ", out);
		dis_ms(out, t->within_ms);
		fputc('\n', out);
	}
	if (t->nby > 0) {
		fputs("  by ", out);
		dis_field_list(out, p, t->by, t->nby);
		fputc('\n', out);
	}
	for (i = 0; i < t->naggs; i++) {
		uint32_t kind = p->trefs[t->aggs + 2 * i], f = p->trefs[t->aggs + 2 * i + 1];

		fprintf(out, "  aggregate a%u = %s(", i, dis_aggname[kind]);
		if (f != RV_NONE)
			dis_field(out, p, f);
		fputs(")\n", out);
	}
	if (t->flags & RV_TF_THROTTLE) {
		fprintf(out, "  throttle %u per ", t->throttle_n);
		dis_ms(out, t->throttle_ms);
		for (i = 0; i < t->nelse; i++) {
			fputs(i == 0 ? " else route " : ", ", out);
			dis_name(out, p, p->dests[p->trefs[t->elses + i]].name);
		}
		fputc('\n', out);
	}
	if (t->flags & RV_TF_BACKPRESSURE)
		fputs("  backpressure\n", out);
	if (t->flags & RV_TF_DEDUP) {
		fputs("  dedup by ", out);
		if (t->ndedup == 0)
			fputs("@id", out);
		dis_field_list(out, p, t->dedup, t->ndedup);
		fputs(" within ", out);
		dis_ms(out, t->dedup_ms);
		fputc('\n', out);
	}
}

/* One rule: header line, actions, condition block, value blocks. */
static void
dis_rule(FILE *out, const struct rv_prog *p, uint32_t ri)
{
	const struct rv_rule *r = &p->rules[ri];
	const struct rv_temporal *t;
	uint32_t i, end = r->action + r->naction;

	fputs("\nrule ", out);
	dis_name(out, p, r->name);
	fputs(" (", out);
	dis_loc(out, p, r->file, r->line, r->col);
	fputs(") on ", out);
	for (i = 0; i < r->nrtype; i++) {
		const struct rv_contract *c = &p->contracts[p->rtypes[r->rtype + i]];

		if (i > 0)
			fputs(", ", out);
		dis_name(out, p, p->types[c->type].name);
		fprintf(out, " v%u", c->version);
	}
	if (r->flags & RV_RF_OTHERWISE)
		fputs(" otherwise", out);
	if (r->flags & RV_RF_ROUTES)
		fputs(" routes", out);
	if (r->flags & RV_RF_TRANSFORM)
		fputs(" transform", out);
	fputc('\n', out);
	for (i = r->action; i < end; i++) {
		const struct rv_action *ac = &p->actions[i];

		switch (ac->kind) {
		case RV_A_ROUTE:
			fputs("  route ", out);
			dis_name(out, p, p->dests[ac->a].name);
			break;
		case RV_A_SET:
			fputs("  set ", out);
			dis_field(out, p, ac->a);
			fprintf(out, " = block %04u", ac->b);
			break;
		case RV_A_EMIT:
			fputs("  emit ", out);
			dis_name(out, p, p->types[p->contracts[ac->a].type].name);
			fprintf(out, " v%u", p->contracts[ac->a].version);
			break;
		case RV_A_EMITF:
			fputs("    ", out);
			dis_field(out, p, ac->a);
			fprintf(out, " = block %04u", ac->b);
			break;
		default:
			break;
		}
		fputc('\n', out);
	}
	if ((t = dis_temporal_of(p, ri)) != NULL)
		dis_temporal(out, p, t);
	fputs("condition:\n", out);
	dis_block(out, p, r->cond_pc);
	if (t != NULL && t->agg_pc != RV_NONE) {
		fputs("aggregate condition:\n", out);
		dis_block(out, p, t->agg_pc);
	}
	for (i = 0; t != NULL && !(t->flags & RV_TF_TUMBLE) && i < p->ntseq; i++)
		if (&p->temporal[p->tseq[i].temporal] == t) {
			fputs("second event condition:\n", out);
			dis_block(out, p, p->tseq[i].bcond_pc);
		}
	for (i = r->action; i < end; i++) {
		const struct rv_action *ac = &p->actions[i];

		if (ac->kind != RV_A_SET && ac->kind != RV_A_EMITF)
			continue;
		fputs(ac->kind == RV_A_SET ? "set " : "emit field ", out);
		dis_field(out, p, ac->a);
		fputs(":\n", out);
		dis_block(out, p, ac->b);
	}
}

/* Header line, then types, destinations, tables, constants, fields, rules. */
void
rv_prog_disasm(const struct rv_prog *p, FILE *out)
{
	const struct rv_rbc_header *h = (const void *)p->image;
	uint32_t i;

	fprintf(out, "; rbc %u.%u, max_regs %u", h->version_major, h->version_minor, p->max_regs);
	dis_count(out, ", ", p->ncode, "instruction");
	dis_count(out, ", ", p->nconsts, "constant");
	dis_count(out, ", ", p->nfields, "field");
	dis_count(out, ", ", p->ntypes, "type");
	dis_count(out, ", ", p->ndests, "destination");
	dis_count(out, ", ", p->ntables, "table");
	dis_count(out, ", ", p->nrules, "rule");
	dis_count(out, ", ", p->nactions, "action");
	dis_count(out, ", ", p->nbuiltins, "builtin");
	dis_count(out, ", ", p->nfiles, "file");
	fputc('\n', out);
	if (p->ntypes > 0)
		dis_types(out, p);
	if (p->ndests > 0)
		dis_dests(out, p);
	if (p->ntables > 0)
		dis_tables(out, p);
	dis_pools(out, p);
	for (i = 0; i < p->nrules; i++)
		dis_rule(out, p, i);
}
