/*
 * sema_expr.c -- semantic analysis of field paths and expressions.
 *
 * Resolves every field path against the contracts in scope (an alias prefix
 * selects another event's contracts), types every expression, checks enum
 * literals, constant operands, regular expressions and builtin calls. Types
 * are stored in node->ty; a failed expression gets RC_T_ERROR and causes no
 * second message. Shared state lives in sema_int.h.
 */
#include "config.h"
#include "sema_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "builtins.h"
#include "regex.h"

const char *const rc_aggregates[] = { "count", "sum", "avg", "min", "max",
	"distinct", "rate", NULL };

/* ---- field paths ------------------------------------------------------ */

static const char *const meta_names[] = { "type", "id", "source", "time", "version", "subject" };

struct rc_cfield *
rc_sema_find_member(struct rc_ctype *t, const char *name)
{
	struct rc_cfield *f;

	for (f = t->fields; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

const char *
rc_sema_suggest_member(struct rc_sema *s, struct rc_ctype *t, const char *name)
{
	const char *cands[256];
	size_t n = 0;
	struct rc_cfield *f;
	char *buf = ru_arena_alloc(s->arena, 160);

	for (f = t->fields; f && n < 256; f = f->next)
		cands[n++] = f->name;
	return rl_diag_suggest(buf, 160, name, cands, n);
}

/* Type code of a declared type: base, with RV_T_ARRAY for arrays. */
unsigned
rc_sema_ctype_code(struct rc_ctype *t)
{
	unsigned arr = 0;

	while (t->base == RV_T_ARRAY) {
		arr = RV_T_ARRAY;
		t = t->elem;
	}
	return t->base | arr;
}

/*
 * Walks segs through contract c. Returns the leaf type, or NULL with
 * *fail_at = index of the segment that is not there and *fail_in the object
 * type searched. *required is cleared by optional members and arrays.
 */
static struct rc_ctype *
walk(struct rc_contract *c, struct rl_node *seg, int *arr, int *required,
	struct rl_node **fail_at, struct rc_ctype **fail_in)
{
	struct rc_ctype *t = c->root;
	struct rc_cfield *f;

	for (; seg; seg = seg->next) {
		while (t->base == RV_T_ARRAY) {
			*arr = 1;
			*required = 0;
			t = t->elem;
		}
		if (t->base != RV_T_OBJECT || (f = rc_sema_find_member(t, seg->name)) == NULL) {
			if (t->base == RV_T_ANY)
				return t; /* an `any` subtree accepts every path */
			*fail_at = seg;
			*fail_in = t;
			return NULL;
		}
		if (f->optional)
			*required = 0;
		t = f->type;
	}
	return t;
}

/* Copies the segment names of a path (from seg on) into fr. */
static void
set_segs(struct rc_sema *s, struct rc_fieldref *fr, const struct rl_node *seg)
{
	const char **v;
	unsigned n = rl_list_len(seg), i;

	v = ru_arena_alloc(s->arena, (n ? n : 1) * sizeof *v);
	for (i = 0; seg; seg = seg->next)
		v[i++] = seg->name;
	fr->segs = v;
	fr->nseg = n;
}

/*
 * Resolves a PATH node in the current scopes: an alias prefix selects the
 * alias's contracts; the field must exist in every contract with one type.
 * Sets e->sema and returns the type (RC_T_ERROR after reporting).
 */
static unsigned
check_path(struct rc_sema *s, struct rl_node *e)
{
	struct rc_fieldref *fr;
	struct rl_node *segs = e->a;
	struct rc_scope *sc = &s->scopes[0];
	unsigned i, type = 0, first_version = 0;
	struct rc_contract *first = NULL;

	fr = ru_arena_alloc(s->arena, sizeof *fr);
	if (e->flag) {
		for (i = 0; i < sizeof meta_names / sizeof meta_names[0]; i++)
			if (strcmp(segs->name, meta_names[i]) == 0)
				break;
		if (i == sizeof meta_names / sizeof meta_names[0]) {
			ERR(s, E_UNKNOWN_META, e->span, segs->name);
			return RC_T_ERROR;
		}
		fr->meta = 1;
		fr->second = s->in_where;
		fr->name = rl_path_str(s->arena, e);
		set_segs(s, fr, segs);
		fr->type = strcmp(segs->name, "time") == 0 ? RV_T_TIME
			: strcmp(segs->name, "version") == 0 ? RV_T_NUMBER : RV_T_STRING;
		fr->required = strcmp(segs->name, "type") == 0;
		e->sema = fr;
		return fr->type;
	}
	for (i = 1; i < s->nscopes; i++) {
		if (segs->next && strcmp(segs->name, s->scopes[i].alias) == 0) {
			sc = &s->scopes[i];
			segs = segs->next;
			break;
		}
	}
	if (sc->contracts == NULL || sc->contracts->n == 0)
		return RC_T_ERROR;
	fr->second = sc == &s->scopes[0] ? s->in_where
		: s->second_scope != 0 && sc == &s->scopes[s->second_scope];
	fr->required = 1;
	for (i = 0; i < sc->contracts->n; i++) {
		struct rc_contract *c = RU_VEC_AT(*sc->contracts, struct rc_contract *, i);
		struct rl_node *fail_at = NULL;
		struct rc_ctype *fail_in = NULL, *t;
		int arr = 0;
		unsigned code;

		t = walk(c, segs, &arr, &fr->required, &fail_at, &fail_in);
		if (t == NULL) {
			/* in another version? then it is a versioning error */
			size_t j;

			for (j = 0; j < sc->contracts->n; j++) {
				int a2 = 0, r2 = 1;
				struct rl_node *f2 = NULL;
				struct rc_ctype *i2 = NULL;

				if (walk(RU_VEC_AT(*sc->contracts, struct rc_contract *, j), segs, &a2, &r2, &f2, &i2)) {
					ERR(s, E_FIELD_NOT_IN_VERSION, e->span, rl_path_str(s->arena, e),
						c->ev->name, c->version);
					return RC_T_ERROR;
				}
			}
			{
				const char *hint = fail_in->base == RV_T_OBJECT
					? rc_sema_suggest_member(s, fail_in, fail_at->name) : "";

				/* `tk.ticket_id` in a rule with aliases, and no field
				 * close to `tk`: a misspelt alias */
				if (fail_at == e->a && e->a->next && s->nscopes > 1 && sc == &s->scopes[0]
				    && hint[0] == '\0') {
					ERR(s, E_UNKNOWN_ALIAS, fail_at->span, fail_at->name);
					return RC_T_ERROR;
				}
				ERR(s, E_UNKNOWN_FIELD, fail_at->span, fail_at->name, hint);
			}
			return RC_T_ERROR;
		}
		code = rc_sema_ctype_code(t) | (arr ? RV_T_ARRAY : 0u);
		VEC_PUSH(s, fr->ctypes, struct rc_ctype *, t);
		if (first == NULL) {
			first = c;
			first_version = c->version;
			type = code;
			fr->ctype = t;
		} else if (code != type) {
			ERR(s, E_FIELD_TYPE_VERSIONS, e->span, rl_path_str(s->arena, e),
				rc_type_name(s->arena, type), first->ev->name, first_version,
				rc_type_name(s->arena, code), c->ev->name, c->version);
			return RC_T_ERROR;
		}
	}
	fr->name = rl_path_str(s->arena, e);
	set_segs(s, fr, segs);
	fr->type = type;
	if (RC_T_IS_ARRAY(type))
		fr->required = 0;
	e->sema = fr;
	return type;
}

const char *
rc_sema_enum_list(struct rc_sema *s, const struct rc_ctype *t)
{
	const struct rl_node *e;
	char *list;
	size_t len = 1;

	for (e = t->enums; e; e = e->next)
		len += e->v->len + 4;
	list = ru_arena_alloc(s->arena, len);
	for (e = t->enums; e; e = e->next) {
		strcat(list, "\"");
		strncat(list, e->v->str, e->v->len);
		strcat(list, e->next ? "\", " : "\"");
	}
	return list;
}

/* Does enum type t (arrays looked through) allow the string lit? */
static int
enum_allows(const struct rc_ctype *t, const struct rl_value *lit)
{
	const struct rl_node *e;

	while (t->base == RV_T_ARRAY)
		t = t->elem;
	if (t->enums == NULL)
		return 1;
	for (e = t->enums; e; e = e->next)
		if (e->v->len == lit->len && memcmp(e->v->str, lit->str, lit->len) == 0)
			return 1;
	return 0;
}

/*
 * Checks that a string literal compared with field path p is a value of its
 * enum in at least one contract version (a value added in v2 is fine for a
 * rule that also reads v1: it simply never matches a v1 event).
 */
void
rc_sema_check_enum(struct rc_sema *s, struct rl_node *p, struct rl_node *lit)
{
	struct rc_fieldref *fr;
	const struct rc_ctype *t;
	size_t i;

	if (p->kind != RL_N_PATH || lit->kind != RL_N_LIT || lit->v->kind != RL_V_STR)
		return;
	fr = p->sema;
	if (fr == NULL || fr->ctype == NULL)
		return;
	for (i = 0; i < fr->ctypes.n; i++)
		if (enum_allows(RU_VEC_AT(fr->ctypes, struct rc_ctype *, i), lit->v))
			return;
	/* name the values of every version, each once */
	{
		char *list = "";
		const struct rl_node *e, *f;
		size_t j;

		for (i = 0; i < fr->ctypes.n; i++) {
			t = RU_VEC_AT(fr->ctypes, struct rc_ctype *, i);
			while (t->base == RV_T_ARRAY)
				t = t->elem;
			for (e = t->enums; e; e = e->next) {
				int seen = 0;

				for (j = 0; j <= i && !seen; j++) {
					const struct rc_ctype *u = RU_VEC_AT(fr->ctypes, struct rc_ctype *, j);

					while (u->base == RV_T_ARRAY)
						u = u->elem;
					for (f = u->enums; f && f != e && !seen; f = f->next)
						seen = f->v->len == e->v->len && memcmp(f->v->str, e->v->str, e->v->len) == 0;
					if (f == e)
						break;
				}
				if (!seen)
					list = ru_arena_printf(s->arena, "%s%s\"%s\"", list, list[0] ? ", " : "", e->v->str);
			}
		}
		ERR(s, E_ENUM_VALUE, lit->span, lit->v->str, fr->name, list);
	}
}

const char *
rc_sema_tname(struct rc_sema *s, unsigned t)
{
	return rc_type_name(s->arena, t);
}

/* Describes an operand for a message: "'subject' (string)" or "a number". */
static const char *
describe(struct rc_sema *s, const struct rl_node *e)
{
	if (e->kind == RL_N_PATH && e->sema)
		return ru_arena_printf(s->arena, "'%s' (%s)",
			((struct rc_fieldref *)e->sema)->name, rc_sema_tname(s, e->ty));
	if (e->kind == RL_N_LIT && e->v->kind == RL_V_NULL)
		return "null";
	return ru_arena_printf(s->arena, "a %s", rc_sema_tname(s, e->ty));
}

/* Can values of types a and b be compared for (in)equality? */
int
rc_sema_comparable(unsigned a, unsigned b)
{
	unsigned ba = RC_T_BASE(a), bb = RC_T_BASE(b);

	if (a == RC_T_NET || b == RC_T_NET)
		return (a == RC_T_NET ? bb == RV_T_IP || bb == RV_T_STRING || bb == RV_T_ANY
			: ba == RV_T_IP || ba == RV_T_STRING || ba == RV_T_ANY);
	if (a == RC_T_DURATION || b == RC_T_DURATION || a == RC_T_RATE || b == RC_T_RATE)
		return a == b;
	if (ba == RV_T_ANY || bb == RV_T_ANY || ba == RV_T_NULL || bb == RV_T_NULL)
		return 1;
	if (STRING_LIKE(ba) && STRING_LIKE(bb))
		return 1;
	return ba == bb && ba != RV_T_OBJECT;
}

void
rc_sema_cond(struct rc_sema *s, struct rl_node *e, const char *ctx)
{
	unsigned t = rc_sema_expr(s, e);

	if (t == RC_T_ERROR || RC_T_BASE(t) == RV_T_BOOL || RC_T_BASE(t) == RV_T_ANY)
		return;
	ERR(s, E_COND_TYPE, e->span, ctx, rc_sema_tname(s, t));
}

/* An object field used as a value: report E_NOT_A_LEAF and return 1. */
static int
not_leaf(struct rc_sema *s, const struct rl_node *e, unsigned t)
{
	if (t == RV_T_OBJECT && e->kind == RL_N_PATH && e->sema) {
		ERR(s, E_NOT_A_LEAF, e->span, ((struct rc_fieldref *)e->sema)->name);
		return 1;
	}
	return 0;
}

/*
 * sum (== | != | < | <= | > | >= | CMPWORD) sum
 * Returns RV_T_BOOL, or RC_T_ERROR after reporting operands that cannot be
 * compared; an operand that already failed gives RV_T_BOOL, no second message.
 */
static unsigned
check_cmp(struct rc_sema *s, struct rl_node *e)
{
	unsigned ta = rc_sema_expr(s, e->a), tb = rc_sema_expr(s, e->b);

	if (ta == RC_T_ERROR || tb == RC_T_ERROR)
		return RV_T_BOOL;
	if (not_leaf(s, e->a, ta) || not_leaf(s, e->b, tb))
		return RC_T_ERROR;
	switch (e->op) {
	case RL_EQ:
	case RL_NE:
		if (!rc_sema_comparable(ta, tb)) {
			ERR(s, E_TYPE_MISMATCH, e->span, describe(s, e->a), describe(s, e->b));
			return RC_T_ERROR;
		}
		rc_sema_check_enum(s, e->a, e->b);
		rc_sema_check_enum(s, e->b, e->a);
		break;
	case RL_IEQ:
	case RL_INE:
		if (!STRING_LIKE(RC_T_BASE(ta)) || !STRING_LIKE(RC_T_BASE(tb))) {
			ERR(s, E_OP_TYPE, e->span, rl_cmp_name(e->op), "string",
				rc_sema_tname(s, STRING_LIKE(RC_T_BASE(ta)) ? tb : ta));
			return RC_T_ERROR;
		}
		break;
	default:
		if (ta == RC_T_RATE && tb == RC_T_RATE)
			break;
		if ((RC_T_BASE(ta) != RV_T_NUMBER && RC_T_BASE(ta) != RV_T_ANY) || ta == RC_T_DURATION) {
			ERR(s, E_OP_TYPE, e->span, rl_cmp_name(e->op), "number", rc_sema_tname(s, ta));
			return RC_T_ERROR;
		}
		if ((RC_T_BASE(tb) != RV_T_NUMBER && RC_T_BASE(tb) != RV_T_ANY) || tb == RC_T_DURATION) {
			ERR(s, E_TYPE_MISMATCH, e->span, describe(s, e->a), describe(s, e->b));
			return RC_T_ERROR;
		}
		break;
	}
	return RV_T_BOOL;
}

/*
 * sum STROP sum  (the right side a string literal; a valid regex with no
 * backtracking for matches/imatches). Returns RV_T_BOOL, or RC_T_ERROR after
 * reporting.
 */
static unsigned
check_strop(struct rc_sema *s, struct rl_node *e)
{
	unsigned ta = rc_sema_expr(s, e->a), tb = rc_sema_expr(s, e->b);
	const char *op = rl_strop_name(e->op);
	char msg[256];

	if (ta == RC_T_ERROR || tb == RC_T_ERROR)
		return RV_T_BOOL;
	if (not_leaf(s, e->a, ta))
		return RC_T_ERROR;
	if (!STRING_LIKE(RC_T_BASE(ta))) {
		ERR(s, E_OP_TYPE, e->a->span, op, "string", rc_sema_tname(s, ta));
		return RC_T_ERROR;
	}
	if (e->b->kind != RL_N_LIT) {
		ERR(s, E_NOT_CONST, e->b->span, op);
		return RC_T_ERROR;
	}
	if (e->b->v->kind != RL_V_STR) {
		ERR(s, E_OP_TYPE, e->b->span, op, "string", rc_sema_tname(s, tb));
		return RC_T_ERROR;
	}
	if (e->op == RL_MATCHES || e->op == RL_IMATCHES) {
		switch (rc_regex_check(e->b->v->str, e->b->v->len, e->op == RL_IMATCHES, msg, sizeof msg)) {
		case RC_REGEX_OK:
			break;
		case RC_REGEX_SYNTAX:
			ERR(s, E_BAD_REGEX, e->b->span, msg);
			return RC_T_ERROR;
		case RC_REGEX_BACKTRACK:
			ERR(s, E_REGEX_BACKTRACK, e->b->span, msg);
			return RC_T_ERROR;
		}
	}
	return RV_T_BOOL;
}

/* Type of a constant list member, or 0 if it is not a constant. */
static unsigned
member_type(struct rl_node *m)
{
	double d;

	if (m->kind == RL_N_LIT) {
		switch (m->v->kind) {
		case RL_V_STR: return RV_T_STRING;
		case RL_V_NUM: return RV_T_NUMBER;
		case RL_V_BOOL: return RV_T_BOOL;
		case RL_V_CIDR: return RC_T_NET;
		default: return 0;
		}
	}
	return rc_const_number(m, &d) ? RV_T_NUMBER : 0;
}

/*
 * sum [NOT] IN array | sum [NOT] IN LITERAL
 * Members are constants of one type comparable with the left side (an ip or
 * string for networks). Returns RV_T_BOOL, or RC_T_ERROR after reporting.
 */
static unsigned
check_in(struct rc_sema *s, struct rl_node *e)
{
	unsigned ta = rc_sema_expr(s, e->a), want = 0, mt, base = RC_T_BASE(ta);
	struct rl_node *m;
	int bad = 0;

	if (ta == RC_T_ERROR)
		return RV_T_BOOL;
	if (not_leaf(s, e->a, ta))
		return RC_T_ERROR;
	if (e->b->a == NULL) {
		ERR0(s, E_EMPTY_LIST, e->b->span);
		return RC_T_ERROR;
	}
	for (m = e->b->a; m; m = m->next) {
		mt = member_type(m);
		if (mt == 0) {
			rc_sema_expr(s, m);
			ERR(s, E_NOT_CONST, m->span, e->flag ? "not in" : "in");
			bad = 1;
			continue;
		}
		if (want == 0)
			want = mt;
		else if (mt != want) {
			ERR(s, E_SET_MIXED, m->span, rc_sema_tname(s, want), rc_sema_tname(s, mt));
			bad = 1;
		}
	}
	if (bad)
		return RC_T_ERROR;
	if (want == RC_T_NET) {
		if (base != RV_T_IP && base != RV_T_STRING && base != RV_T_ANY) {
			ERR(s, E_CIDR_TYPE, e->a->span, rc_sema_tname(s, ta));
			return RC_T_ERROR;
		}
		return RV_T_BOOL;
	}
	if (!rc_sema_comparable(ta, want)) {
		ERR(s, E_TYPE_MISMATCH, e->span, describe(s, e->a),
			ru_arena_printf(s->arena, "a list of %s", rc_sema_tname(s, want)));
		return RC_T_ERROR;
	}
	for (m = e->b->a; m; m = m->next)
		rc_sema_check_enum(s, e->a, m);
	return RV_T_BOOL;
}

/*
 * sum IN sum DOTDOT sum | sum IN sum DOTDOTLT sum
 * A number between constant bounds that leave the range non-empty. Returns
 * RV_T_BOOL, or RC_T_ERROR after reporting.
 */
static unsigned
check_range(struct rc_sema *s, struct rl_node *e)
{
	unsigned ta = rc_sema_expr(s, e->a);
	double lo, hi;

	rc_sema_expr(s, e->b);
	rc_sema_expr(s, e->c);
	if (ta == RC_T_ERROR)
		return RV_T_BOOL;
	if (not_leaf(s, e->a, ta))
		return RC_T_ERROR;
	if (RC_T_BASE(ta) != RV_T_NUMBER && RC_T_BASE(ta) != RV_T_ANY) {
		ERR(s, E_OP_TYPE, e->a->span, "in LOW..HIGH", "number", rc_sema_tname(s, ta));
		return RC_T_ERROR;
	}
	if (!rc_const_number(e->b, &lo)) {
		ERR(s, E_NOT_CONST, e->b->span, "..");
		return RC_T_ERROR;
	}
	if (!rc_const_number(e->c, &hi)) {
		ERR(s, E_NOT_CONST, e->c->span, "..");
		return RC_T_ERROR;
	}
	if (lo > hi || (lo == hi && e->flag)) {
		struct rl_node whole = *e->b;

		whole.span = rl_span_join(e->b->span, e->c->span);
		ERR(s, E_EMPTY_RANGE, whole.span, rc_sema_src_text(s, &whole));
		return RC_T_ERROR;
	}
	return RV_T_BOOL;
}

/*
 * sum EXISTS | sum MISSING  (a field path or table lookup; warns when a
 * required field makes it constant). Returns RV_T_BOOL, or RC_T_ERROR after
 * reporting.
 */
static unsigned
check_exists(struct rc_sema *s, struct rl_node *e)
{
	unsigned t = rc_sema_expr(s, e->a);
	struct rc_fieldref *fr;

	if (t == RC_T_ERROR)
		return RV_T_BOOL;
	if (e->a->kind != RL_N_PATH && e->a->kind != RL_N_INDEX) {
		ERR(s, E_OP_TYPE, e->span, e->flag ? "missing" : "exists", "field", rc_sema_tname(s, t));
		return RC_T_ERROR;
	}
	fr = e->a->sema;
	if (e->a->kind == RL_N_PATH && fr && fr->required && !fr->meta)
		ERR(s, W_ALWAYS, e->span, fr->name, e->flag ? "missing" : "exists",
			e->flag ? "false" : "true");
	return RV_T_BOOL;
}

/*
 * sum (+ | - | * | / | %) sum, and '-' unary
 * Number operands; constant division by zero or overflow is an error. Returns
 * RV_T_NUMBER, or RC_T_ERROR (reported unless an operand already failed).
 */
static unsigned
check_arith(struct rc_sema *s, struct rl_node *e)
{
	unsigned ta = rc_sema_expr(s, e->a), tb = e->kind == RL_N_ARITH ? rc_sema_expr(s, e->b) : RV_T_NUMBER;
	char op[2] = { (char)(e->kind == RL_N_NEG ? '-' : e->op), 0 };
	double a, b, r;

	if (ta == RC_T_ERROR || tb == RC_T_ERROR)
		return RC_T_ERROR;
	if (ta != RV_T_NUMBER && ta != RV_T_ANY) {
		ERR(s, E_OP_TYPE, e->a->span, op, "number", rc_sema_tname(s, ta));
		return RC_T_ERROR;
	}
	if (tb != RV_T_NUMBER && tb != RV_T_ANY) {
		ERR(s, E_OP_TYPE, e->b->span, op, "number", rc_sema_tname(s, tb));
		return RC_T_ERROR;
	}
	if (e->kind == RL_N_ARITH && rc_const_number(e->a, &a) && rc_const_number(e->b, &b)
	    && (e->op == '/' || e->op == '%') && b == 0) {
		ERR0(s, E_DIV_ZERO, e->span);
		return RC_T_ERROR;
	}
	if (e->kind == RL_N_ARITH && rc_const_number(e->a, &a) && rc_const_number(e->b, &b)
	    && rc_fold_arith(e->op, a, b, &r) < 0) {
		ERR(s, E_CONST_OVERFLOW, e->span, rc_sema_src_text(s, e));
		return RC_T_ERROR;
	}
	return RV_T_NUMBER;
}

/*
 * IDENT '(' opt_args ')'
 * An aggregate (only in `when`; marks the rule temporal) or a builtin with its
 * arity and argument types (e->num := its index). Returns the result type, or
 * RC_T_ERROR after reporting.
 */
static unsigned
check_call(struct rc_sema *s, struct rl_node *e)
{
	unsigned nargs = rl_list_len(e->a), i;
	struct rl_node *arg;
	int b;

	for (i = 0; rc_aggregates[i]; i++) {
		if (strcmp(e->name, rc_aggregates[i]) != 0)
			continue;
		if (!s->in_when) {
			ERR(s, E_AGGREGATE_CONTEXT, e->span, e->name);
			return RC_T_ERROR;
		}
		s->temporal = 1;
		s->have_aggregate = 1;
		if (s->first_temporal == NULL)
			s->first_temporal = e;
		{
			unsigned want = (strcmp(e->name, "count") == 0 || strcmp(e->name, "rate") == 0) ? 0 : 1;

			if (nargs != want) {
				ERR(s, E_ARITY, e->span, e->name, want, nargs);
				return RC_T_ERROR;
			}
		}
		if (nargs == 1) {
			unsigned t;

			if (e->a->kind != RL_N_PATH) {
				ERR(s, E_AGG_ARG, e->a->span, e->name);
				return RC_T_ERROR;
			}
			t = rc_sema_expr(s, e->a);

			if (t != RC_T_ERROR && strcmp(e->name, "distinct") != 0 && t != RV_T_NUMBER && t != RV_T_ANY) {
				ERR(s, E_ARG_TYPE, e->a->span, e->name, "number", rc_sema_tname(s, t));
				return RC_T_ERROR;
			}
		}
		return strcmp(e->name, "rate") == 0 ? RC_T_RATE : RV_T_NUMBER;
	}
	b = rb_lookup(e->name, strlen(e->name));
	if (b < 0) {
		const char *cands[RB_NUM_BUILTINS + 8];
		size_t n = 0;
		char buf[160];

		for (i = 0; i < RB_NUM_BUILTINS; i++)
			cands[n++] = rb_builtins[i].name;
		for (i = 0; rc_aggregates[i]; i++)
			cands[n++] = rc_aggregates[i];
		ERR(s, E_UNKNOWN_FUNC, e->span, e->name,
			ru_arena_strndup(s->arena, buf, strlen(rl_diag_suggest(buf, sizeof buf, e->name, cands, n))));
		return RC_T_ERROR;
	}
	if (nargs != rb_builtins[b].arity) {
		ERR(s, E_ARITY, e->span, e->name, rb_builtins[b].arity, nargs);
		return RC_T_ERROR;
	}
	for (arg = e->a; arg; arg = arg->next) {
		unsigned t = rc_sema_expr(s, arg), want = rb_builtins[b].atype;

		if (t == RC_T_ERROR)
			return RC_T_ERROR;
		if (want == RV_T_ANY)
			continue;
		if (RC_T_IS_ARRAY(t) || (want == RV_T_STRING ? !STRING_LIKE(t) : (t != want && t != RV_T_ANY))) {
			ERR(s, E_ARG_TYPE, arg->span, e->name, rc_sema_tname(s, want), rc_sema_tname(s, t));
			return RC_T_ERROR;
		}
	}
	e->num = (uint32_t)b;
	return rb_builtins[b].rtype;
}

/*
 * IDENT '[' expr ']'
 * A declared table looked up with a key of its key type; e->sema := the table.
 * Returns its value type (RV_T_ANY if untyped), or RC_T_ERROR after reporting.
 */
static unsigned
check_index(struct rc_sema *s, struct rl_node *e)
{
	struct rc_table *t = rc_map_get(&s->m->table_map, e->name);
	unsigned tk = rc_sema_expr(s, e->a);

	if (t == NULL) {
		ERR(s, E_UNKNOWN_TABLE, e->span, e->name, rc_sema_suggest_map(s, e->name, &s->m->table_map));
		return RC_T_ERROR;
	}
	e->sema = t;
	if (tk != RC_T_ERROR && t->key_type && !rc_sema_comparable(tk, t->key_type)) {
		ERR(s, E_TYPE_MISMATCH, e->a->span, describe(s, e->a),
			ru_arena_printf(s->arena, "the %s key of table '%s'", rc_sema_tname(s, t->key_type), t->name));
		return RC_T_ERROR;
	}
	return t->value_type ? t->value_type : RV_T_ANY;
}

/*
 * The type of literal v (durations, rates and networks get their RC_T_
 * codes); RC_T_ERROR only for an unknown kind.
 */
static unsigned
lit_type(const struct rl_value *v)
{
	switch (v->kind) {
	case RL_V_NULL: return RV_T_NULL;
	case RL_V_BOOL: return RV_T_BOOL;
	case RL_V_NUM: return RV_T_NUMBER;
	case RL_V_STR: return RV_T_STRING;
	case RL_V_DURATION: return RC_T_DURATION;
	case RL_V_RATE: return RC_T_RATE;
	case RL_V_CIDR: return RC_T_NET;
	}
	return RC_T_ERROR;
}

/* Type-checks expression e; stores and returns its type. */
unsigned
rc_sema_expr(struct rc_sema *s, struct rl_node *e)
{
	unsigned t;

	switch (e->kind) {
	case RL_N_OR:
	case RL_N_AND:
		rc_sema_cond(s, e->a, e->kind == RL_N_OR ? "an operand of 'or'" : "an operand of 'and'");
		rc_sema_cond(s, e->b, e->kind == RL_N_OR ? "an operand of 'or'" : "an operand of 'and'");
		t = RV_T_BOOL;
		break;
	case RL_N_NOT:
		rc_sema_cond(s, e->a, "the operand of 'not'");
		t = RV_T_BOOL;
		break;
	case RL_N_CMP: t = check_cmp(s, e); break;
	case RL_N_STROP: t = check_strop(s, e); break;
	case RL_N_IN: t = check_in(s, e); break;
	case RL_N_RANGE: t = check_range(s, e); break;
	case RL_N_EXISTS: t = check_exists(s, e); break;
	case RL_N_ARITH:
	case RL_N_NEG: t = check_arith(s, e); break;
	case RL_N_CALL: t = check_call(s, e); break;
	case RL_N_INDEX: t = check_index(s, e); break;
	case RL_N_PATH: t = check_path(s, e); break;
	case RL_N_LIT: t = lit_type(e->v); break;
	case RL_N_OBJECT:
	case RL_N_LIST:
		ERR(s, E_OP_TYPE, e->span, "an expression", "scalar", e->kind == RL_N_OBJECT ? "object" : "list");
		t = RC_T_ERROR;
		break;
	default:
		t = RC_T_ERROR;
		break;
	}
	e->ty = t;
	return t;
}

