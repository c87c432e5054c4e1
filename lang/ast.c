/*
 * ast.c -- syntax tree constructors, list helpers and the tree printer.
 * See ast.h for which fields go with each node kind.
 */
#include "config.h"
#include "ast.h"

#include <string.h>

struct rl_node *
rl_node_new(struct ru_arena *a, enum rl_kind kind, struct rl_span span)
{
	struct rl_node *n = ru_arena_alloc(a, sizeof *n);

	n->kind = kind;
	n->span = span;
	return n;
}

struct rl_list
rl_list_append(struct rl_list l, struct rl_node *n)
{
	if (n == NULL)
		return l;
	if (l.tail)
		l.tail->next = n;
	else
		l.head = n;
	l.tail = n;
	return l;
}

struct rl_list
rl_list_one(struct rl_node *n)
{
	struct rl_list l = { n, n };

	return l;
}

unsigned
rl_list_len(const struct rl_node *n)
{
	unsigned k = 0;

	for (; n; n = n->next)
		k++;
	return k;
}

const char *
rl_path_str(struct ru_arena *a, const struct rl_node *path)
{
	const struct rl_node *s;
	size_t len = 0;
	char *buf, *p;

	for (s = path->a; s; s = s->next)
		len += strlen(s->name) + 1;
	p = buf = ru_arena_alloc(a, len + 2);
	if (path->kind == RL_N_PATH && path->flag)
		*p++ = '@';
	for (s = path->a; s; s = s->next) {
		size_t l = strlen(s->name);

		memcpy(p, s->name, l);
		p += l;
		if (s->next)
			*p++ = '.';
	}
	*p = '\0';
	return buf;
}

struct rl_span
rl_span_join(struct rl_span s, struct rl_span e)
{
	struct rl_span r = s;

	if (e.file == s.file && e.end > r.end)
		r.end = e.end;
	return r;
}

static const char *const kind_names[RL_N_NKINDS] = {
	"import", "event", "cfield", "destination", "policy", "table", "rule", "test",
	"tname", "tenum", "tarray", "tobject",
	"when", "otherwise", "route", "set", "assign", "emit", "backpressure",
	"within", "every", "by", "then", "unless", "throttle", "dedup", "timestamp",
	"send", "advance", "expect",
	"or", "and", "not", "cmp", "in", "range", "strop", "exists", "arith", "neg",
	"call", "index", "path", "lit", "list", "object", "member", "name", "pattern",
};

const char *
rl_kind_name(enum rl_kind k)
{
	return k < RL_N_NKINDS ? kind_names[k] : "?";
}

const char *
rl_cmp_name(enum rl_cmp op)
{
	static const char *const n[] = { "==", "!=", "<", "<=", ">", ">=", "ieq", "ine" };

	return n[op];
}

const char *
rl_strop_name(enum rl_strop op)
{
	static const char *const n[] = { "prefix", "suffix", "contains", "iprefix",
		"isuffix", "icontains", "like", "ilike", "matches", "imatches" };

	return n[op];
}

const char *
rl_policy_name(enum rl_policy p)
{
	static const char *const n[] = { "priority", "workers", "queue", "retry",
		"max_age", "timeout", "dead_letter", "batch", "throttle", "delete on",
		"ttl", "max_keys" };

	return n[p];
}

void
rl_put_string(FILE *out, const char *s, size_t n)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* Prints a literal value the way it would be written in a source. */
static void
print_value(FILE *out, const struct rl_value *v)
{
	switch (v->kind) {
	case RL_V_NULL: fputs("null", out); break;
	case RL_V_BOOL: fputs(v->b ? "true" : "false", out); break;
	case RL_V_NUM: fprintf(out, "%.17g", v->num); break;
	case RL_V_DURATION: fprintf(out, "%llums", (unsigned long long)v->ms); break;
	case RL_V_RATE: fprintf(out, "%.17g/s", v->num); break;
	case RL_V_CIDR: fputs(v->str, out); break;
	case RL_V_STR: rl_put_string(out, v->str, v->len); break;
	}
}

void
rl_ast_print(FILE *out, const struct rl_node *n, int depth)
{
	for (; n; n = n->next) {
		fprintf(out, "%*s(%s", depth * 2, "", rl_kind_name(n->kind));
		if (n->kind == RL_N_CMP)
			fprintf(out, " %s", rl_cmp_name(n->op));
		else if (n->kind == RL_N_STROP)
			fprintf(out, " %s", rl_strop_name(n->op));
		else if (n->kind == RL_N_POLICY)
			fprintf(out, " %s", rl_policy_name(n->op));
		else if (n->kind == RL_N_ARITH)
			fprintf(out, " %c", n->op);
		if (n->flag)
			fprintf(out, " flag=%d", n->flag);
		if (n->name)
			fprintf(out, " %s", n->name);
		if (n->str)
			fprintf(out, " \"%s\"", n->str);
		if (n->num)
			fprintf(out, " #%u", n->num);
		if (n->kind == RL_N_LIT) {
			fputc(' ', out);
			print_value(out, n->v);
		}
		if (n->a || n->b || n->c || n->x || n->y) {
			fputc('\n', out);
			rl_ast_print(out, n->a, depth + 1);
			rl_ast_print(out, n->b, depth + 1);
			rl_ast_print(out, n->c, depth + 1);
			rl_ast_print(out, n->x, depth + 1);
			rl_ast_print(out, n->y, depth + 1);
			fprintf(out, "%*s)\n", depth * 2, "");
		} else {
			fputs(")\n", out);
		}
	}
}
