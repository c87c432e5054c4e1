/*
 * vmops.c -- what the VM's predicates, arithmetic and builtins mean.
 *
 * Any-element semantics: a FIELD value stands for every value the event has
 * at that path (one, none, or the elements of arrays); a predicate holds if
 * it holds for any of them (for two fields, any pair). A value of the wrong
 * type makes a predicate false, so `x != "a"` is false when x is a number
 * or missing, while `not (x == "a")` is true. Strings compare by their
 * decoded bytes; numbers as doubles; case-insensitive forms fold ASCII only.
 * Hand-written because it is the matcher itself; Hyperscan runs `matches`.
 */
#include "config.h"
#include "vm.h"

#include <arpa/inet.h>
#include <math.h>
#include <string.h>

#include "builtins.h"
#include "json_out.h"
#include "state.h"

#include <xxhash.h>

/* ---- values ---------------------------------------------------------- */

void
rv_op_const(const struct rv_vm *vm, uint32_t k, struct rv_val *out)
{
	const struct rv_prog *p = vm->rt->p;
	const struct rv_const *c = &p->consts[k];

	memset(out, 0, sizeof *out);
	switch (c->kind) {
	case RV_K_NULL:
		out->k = RV_V_NULL;
		break;
	case RV_K_BOOL:
		out->k = RV_V_BOOL;
		out->u.b = c->a != 0;
		break;
	case RV_K_NUM:
		out->k = RV_V_NUM;
		out->u.num = rv_bits_double(c->b);
		break;
	case RV_K_STR:
		out->k = RV_V_STR;
		out->u.s = p->strs + c->a;
		out->n = (uint32_t)c->b;
		break;
	case RV_K_RATE: /* events per second: what rate() gives */
		out->k = RV_V_NUM;
		out->u.num = rv_bits_double(c->b);
		break;
	default:
		out->k = RV_V_CONST;
		out->n = k;
		break;
	}
}

/* The scalar a recorded JSON value stands for; 0 for containers. */
static int
jval_scalar(const struct rv_vm *vm, const struct rv_jval *j, struct rv_val *out)
{
	memset(out, 0, sizeof *out);
	switch (j->kind) {
	case RV_J_NULL:
		out->k = RV_V_NULL;
		return 1;
	case RV_J_TRUE:
	case RV_J_FALSE:
		out->k = RV_V_BOOL;
		out->u.b = j->kind == RV_J_TRUE;
		return 1;
	case RV_J_NUMBER: {
		/* parsed once per event, whatever the number of rules reading it */
		size_t idx = (size_t)(j - vm->ev.vals);

		if (vm->numv_seq[idx] != vm->seq) {
			if (rv_json_number(vm->buf, j, &vm->numv[idx]) < 0)
				vm->numv[idx] = NAN; /* out of double range: no usable number */
			vm->numv_seq[idx] = vm->seq;
		}
		if (isnan(vm->numv[idx]))
			return 0;
		out->u.num = vm->numv[idx];
		out->k = RV_V_NUM;
		return 1;
	}
	case RV_J_STRING:
		out->k = RV_V_STR;
		out->u.s = vm->buf + j->off;
		out->n = j->len;
		out->flags = (j->flags & RV_JF_ESCAPED) ? RV_VF_ESCAPED : 0;
		return 1;
	default:
		return 0;
	}
}

/*
 * Iteration over the scalars of a value: a FIELD walks its recorded values
 * (skipping array and object markers), anything else is its own single
 * scalar (MISSING and CONST have none).
 */
struct iter {
	const struct rv_vm *vm;
	const struct rv_val *v;
	uint32_t j;      /* next jval index (FIELD) */
	int done;
};

/* Starts iterating the scalars of v; it borrows vm and v. */
static void
iter_init(struct iter *it, const struct rv_vm *vm, const struct rv_val *v)
{
	it->vm = vm;
	it->v = v;
	it->done = 0;
	it->j = v->k == RV_V_FIELD ? vm->ev.first[v->n] : RV_NONE;
}

/*
 * Stores the next scalar in *out and returns 1; returns 0 when there are
 * no more (MISSING, CONST and LIST have none).
 */
static int
iter_next(struct iter *it, struct rv_val *out)
{
	if (it->v->k != RV_V_FIELD) {
		if (it->done || it->v->k == RV_V_MISSING || it->v->k == RV_V_CONST
		    || it->v->k == RV_V_LIST)
			return 0;
		it->done = 1;
		*out = *it->v;
		return 1;
	}
	while (it->j != RV_NONE) {
		const struct rv_jval *jv = &it->vm->ev.vals[it->j];

		it->j = jv->next;
		if (jval_scalar(it->vm, jv, out))
			return 1;
	}
	return 0;
}

int
rv_val_first(const struct rv_vm *vm, const struct rv_val *v, struct rv_val *out)
{
	struct iter it;

	iter_init(&it, vm, v);
	return iter_next(&it, out);
}

/* The decoded bytes of a STR value: in place, or unescaped into tmp. */
static const char *
str_bytes(const struct rv_vm *vm, const struct rv_val *s, char *tmp, size_t *len)
{
	struct rv_jval j;

	if (!(s->flags & RV_VF_ESCAPED)) {
		*len = s->n;
		return s->u.s;
	}
	memset(&j, 0, sizeof j);
	j.off = (uint32_t)(s->u.s - vm->buf);
	j.len = s->n;
	j.kind = RV_J_STRING;
	j.flags = RV_JF_ESCAPED;
	*len = rv_json_unescape(vm->buf, &j, tmp);
	return tmp;
}

/* Per-comparison decode buffers: the left and right operand's strings. */
#define TMP_L(vm) ((vm)->tmp[0])
#define TMP_R(vm) ((vm)->tmp[1])

/* c lowered if it is an ASCII capital letter, else c (no locale). */
static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Are a[0..n) and b[0..n) equal ignoring ASCII case? */
static int
ci_equal(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* ---- comparisons ------------------------------------------------------- */

/*
 * Are x and y of one kind and equal? Strings are compared decoded (through
 * TMP_L/TMP_R), ignoring ASCII case if caseless; lists and fields never are.
 */
static int
scalar_equal(struct rv_vm *vm, const struct rv_val *x, const struct rv_val *y, int caseless)
{
	const char *a, *b;
	size_t na, nb;

	if (x->k != y->k)
		return 0;
	switch (x->k) {
	case RV_V_NULL: return 1;
	case RV_V_BOOL: return x->u.b == y->u.b;
	case RV_V_NUM: return x->u.num == y->u.num;
	case RV_V_STR:
		a = str_bytes(vm, x, TMP_L(vm), &na);
		b = str_bytes(vm, y, TMP_R(vm), &nb);
		if (na != nb)
			return 0;
		return caseless ? ci_equal(a, b, na) : memcmp(a, b, na) == 0;
	default:
		return 0;
	}
}

/* One pair of scalars under a comparison opcode. */
static int
scalar_compare(struct rv_vm *vm, unsigned op, const struct rv_val *x, const struct rv_val *y)
{
	switch (op) {
	case RV_OP_EQ:
		return scalar_equal(vm, x, y, 0);
	case RV_OP_NE:
		/* `x != null` holds for any present non-null value; otherwise
		 * both sides must have one type */
		if (y->k == RV_V_NULL)
			return x->k != RV_V_NULL;
		return x->k == y->k && !scalar_equal(vm, x, y, 0);
	case RV_OP_IEQ:
		return x->k == RV_V_STR && scalar_equal(vm, x, y, 1);
	case RV_OP_INE:
		return x->k == RV_V_STR && y->k == RV_V_STR && !scalar_equal(vm, x, y, 1);
	default:
		break;
	}
	if (x->k != RV_V_NUM || y->k != RV_V_NUM)
		return 0;
	switch (op) {
	case RV_OP_LT: return x->u.num < y->u.num;
	case RV_OP_LE: return x->u.num <= y->u.num;
	case RV_OP_GT: return x->u.num > y->u.num;
	case RV_OP_GE: return x->u.num >= y->u.num;
	default: return 0;
	}
}

int
rv_op_compare(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b)
{
	struct iter ia, ib;
	struct rv_val x, y;

	/* `x != null` also holds for a present object or array, which have
	 * no scalar to iterate */
	if (op == RV_OP_NE && b->k == RV_V_NULL && a->k == RV_V_FIELD) {
		uint32_t j;

		for (j = vm->ev.first[a->n]; j != RV_NONE; j = vm->ev.vals[j].next)
			if (vm->ev.vals[j].kind != RV_J_NULL)
				return 1;
		return 0;
	}

	iter_init(&ia, vm, a);
	while (iter_next(&ia, &x)) {
		iter_init(&ib, vm, b);
		while (iter_next(&ib, &y))
			if (scalar_compare(vm, op, &x, &y))
				return 1;
	}
	return 0;
}

/* ---- string operators ---------------------------------------------------- */

/*
 * Returns the first n[0..nn) in h[0..nh) (ASCII case ignored if caseless):
 * a pointer into h, h itself for an empty needle, or NULL.
 */
static const char *
find(const char *h, size_t nh, const char *n, size_t nn, int caseless)
{
	size_t i;

	if (nn == 0)
		return h;
	if (nn > nh)
		return NULL;
	if (!caseless)
		return memmem(h, nh, n, nn);
	for (i = 0; i + nn <= nh; i++)
		if (ci_equal(h + i, n, nn))
			return h + i;
	return NULL;
}

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static size_t
u8len(unsigned char c)
{
	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/*
 * Wildcard match: `*` any run, `?` one character, `\` makes the next
 * character literal. Iterative with one backtrack point (the last star),
 * which is exact for this pattern language and O(len(s) * len(p)).
 */
static int
like(const char *s, size_t ns, const char *p, size_t np, int caseless)
{
	size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;

	while (si < ns) {
		if (pi < np && p[pi] == '*') {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < np && p[pi] == '?') {
			si += u8len((unsigned char)s[si]);
			pi++;
			continue;
		}
		if (pi < np) {
			size_t lit = pi;

			if (p[pi] == '\\' && pi + 1 < np)
				lit = pi + 1;
			if (caseless ? ascii_lower((unsigned char)p[lit]) == ascii_lower((unsigned char)s[si])
				     : p[lit] == s[si]) {
				pi = lit + 1;
				si++;
				continue;
			}
		}
		if (star_p == (size_t)-1)
			return 0;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < np && p[pi] == '*')
		pi++;
	return pi == np;
}

/*
 * Hyperscan callback: sets *(int *)ctx and returns 1 to stop at the first
 * match.
 */
static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
	void *ctx)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	*(int *)ctx = 1;
	return 1; /* stop at the first match */
}

/*
 * Does string operator op hold for scalar x and operand y (a string, or
 * the REGEX constant for MATCHES)? 0 for a non-string x, a missing regex
 * database or a failed scan.
 */
static int
scalar_string(struct rv_vm *vm, unsigned op, const struct rv_val *x, const struct rv_val *y)
{
	const char *a, *b;
	size_t na, nb;
	int ci;

	if (x->k != RV_V_STR)
		return 0;
	a = str_bytes(vm, x, TMP_L(vm), &na);
	if (op == RV_OP_MATCHES) {
		hs_database_t *db;
		int found = 0;

		if (y->k != RV_V_CONST || (db = rv_regex_db(vm->rt, y->n)) == NULL)
			return 0;
		if (!(vm->regex_ready[y->n / 8] & (1u << (y->n % 8)))) {
			/* first use by this matcher: its scratch must fit the database */
			if (hs_alloc_scratch(db, &vm->hs) != HS_SUCCESS)
				return 0;
			vm->regex_ready[y->n / 8] |= (uint8_t)(1u << (y->n % 8));
		}
		if (hs_scan(db, na ? a : "", (unsigned)na, 0, vm->hs, on_match, &found) != HS_SUCCESS
		    && !found)
			return 0;
		return found;
	}
	if (y->k != RV_V_STR)
		return 0;
	b = str_bytes(vm, y, TMP_R(vm), &nb);
	ci = op == RV_OP_IPREFIX || op == RV_OP_ISUFFIX || op == RV_OP_ICONTAINS || op == RV_OP_ILIKE;
	switch (op) {
	case RV_OP_PREFIX:
	case RV_OP_IPREFIX:
		return nb <= na && (ci ? ci_equal(a, b, nb) : memcmp(a, b, nb) == 0);
	case RV_OP_SUFFIX:
	case RV_OP_ISUFFIX:
		return nb <= na && (ci ? ci_equal(a + na - nb, b, nb) : memcmp(a + na - nb, b, nb) == 0);
	case RV_OP_CONTAINS:
	case RV_OP_ICONTAINS:
		return find(a, na, b, nb, ci) != NULL;
	case RV_OP_LIKE:
	case RV_OP_ILIKE:
		return like(a, na, b, nb, ci);
	default:
		return 0;
	}
}

int
rv_op_string(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b)
{
	struct iter ia;
	struct rv_val x, y;

	if (b->k == RV_V_FIELD || b->k == RV_V_MISSING) {
		if (!rv_val_first(vm, b, &y))
			return 0;
	} else {
		y = *b;
	}
	iter_init(&ia, vm, a);
	while (iter_next(&ia, &x))
		if (scalar_string(vm, op, &x, &y))
			return 1;
	return 0;
}

/* ---- membership: sets, ranges, networks ---------------------------------- */

/* Parses an address string; returns its family (4 or 6) or 0. */
static int
parse_addr(const char *s, size_t n, uint8_t addr[16])
{
	char z[64];

	if (n == 0 || n >= sizeof z || memchr(s, '\0', n) != NULL)
		return 0; /* "10.0.0.1\u0000junk" is no address */
	memcpy(z, s, n);
	z[n] = '\0';
	memset(addr, 0, 16);
	if (memchr(z, ':', n))
		return inet_pton(AF_INET6, z, addr) == 1 ? 6 : 0;
	return inet_pton(AF_INET, z, addr) == 1 ? 4 : 0;
}

/*
 * Is addr (family 4 or 6) inside constant c? 0 if c is no CIDR or is of the
 * other family.
 */
static int
in_network(const struct rv_const *c, int family, const uint8_t addr[16])
{
	unsigned bits = c->a, i;

	if (c->kind != RV_K_CIDR || c->aux != (unsigned)family)
		return 0;
	for (i = 0; i < bits / 8; i++)
		if (addr[i] != c->addr[i])
			return 0;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));

		if ((addr[i] & mask) != (c->addr[i] & mask))
			return 0;
	}
	return 1;
}

/* Does scalar x belong to constant k (a set, a range, a network or set of them)? -1: wrong type. */
static int
member(struct rv_vm *vm, const struct rv_val *x, uint32_t k)
{
	const struct rv_prog *p = vm->rt->p;
	const struct rv_const *c = &p->consts[k];
	uint32_t i;
	int typed = 0;

	switch (c->kind) {
	case RV_K_RANGE: {
		double lo = -INFINITY, hi = INFINITY;

		if (x->k != RV_V_NUM)
			return -1;
		if (c->a != RV_NONE)
			lo = rv_bits_double(p->consts[c->a].b);
		if (c->b != RV_NONE)
			hi = rv_bits_double(p->consts[(uint32_t)c->b].b);
		if (x->u.num < lo || (x->u.num == lo && (c->flags & RV_KF_LO_OPEN)))
			return 0;
		if (x->u.num > hi || (x->u.num == hi && (c->flags & RV_KF_HI_OPEN)))
			return 0;
		return 1;
	}
	case RV_K_CIDR: {
		uint8_t addr[16];
		const char *s;
		size_t n;
		int fam;

		if (x->k != RV_V_STR)
			return -1;
		s = str_bytes(vm, x, TMP_L(vm), &n);
		if ((fam = parse_addr(s, n, addr)) == 0)
			return -1;
		return in_network(c, fam, addr);
	}
	case RV_K_SET:
		for (i = 0; i < (uint32_t)c->b; i++) {
			uint32_t item = p->setitems[c->a + i];
			struct rv_val y;
			int r;

			if (p->consts[item].kind == RV_K_CIDR) {
				if ((r = member(vm, x, item)) > 0)
					return 1;
				typed |= r == 0;
				continue;
			}
			rv_op_const(vm, item, &y);
			if (y.k == x->k)
				typed = 1;
			if (scalar_equal(vm, x, &y, (c->flags & RV_KF_CASELESS) != 0))
				return 1;
		}
		return typed ? 0 : -1;
	default:
		return -1;
	}
}

int
rv_op_member(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b)
{
	struct iter ia;
	struct rv_val x;
	int r;

	if (b->k != RV_V_CONST)
		return 0;
	iter_init(&ia, vm, a);
	while (iter_next(&ia, &x)) {
		r = member(vm, &x, b->n);
		if (r < 0)
			continue; /* a value of the wrong type: the predicate is false for it */
		if ((op == RV_OP_NIN || op == RV_OP_NCIDR) ? r == 0 : r == 1)
			return 1;
	}
	return 0;
}

int
rv_op_exists(struct rv_vm *vm, const struct rv_val *a)
{
	if (a->k == RV_V_FIELD)
		return vm->ev.first[a->n] != RV_NONE;
	return a->k != RV_V_MISSING;
}

int
rv_op_truthy(struct rv_vm *vm, const struct rv_val *a)
{
	struct iter it;
	struct rv_val x;

	iter_init(&it, vm, a);
	while (iter_next(&it, &x))
		if (x.k == RV_V_BOOL && x.u.b)
			return 1;
	return 0;
}

/* ---- arithmetic and builtins ---------------------------------------------- */

/*
 * The first scalar of v as a number: returns 1 with *d set, or 0 if v has
 * no scalar or it is not a NUM.
 */
static int
number(const struct rv_vm *vm, const struct rv_val *v, double *d)
{
	struct rv_val x;

	if (!rv_val_first(vm, v, &x) || x.k != RV_V_NUM)
		return 0;
	*d = x.u.num;
	return 1;
}

void
rv_op_arith(struct rv_vm *vm, unsigned op, const struct rv_val *a, const struct rv_val *b,
	struct rv_val *out)
{
	double x, y = 0, r;
	int ok = number(vm, a, &x) && (op == RV_OP_NEG || number(vm, b, &y));

	/* out may be a or b (ADD r0 r0 r1): read both before writing */
	memset(out, 0, sizeof *out);
	if (!ok)
		return; /* MISSING */
	switch (op) {
	case RV_OP_ADD: r = x + y; break;
	case RV_OP_SUB: r = x - y; break;
	case RV_OP_MUL: r = x * y; break;
	case RV_OP_DIV:
		if (y == 0)
			return;
		r = x / y;
		break;
	case RV_OP_MOD:
		if (y == 0)
			return;
		r = fmod(x, y);
		break;
	case RV_OP_NEG: r = -x; break;
	default: return;
	}
	if (!isfinite(r))
		return;
	out->k = RV_V_NUM;
	out->u.num = r;
}

/* Reserves n bytes of the per-event scratch. */
static char *
scratch_alloc(struct rv_vm *vm, size_t n)
{
	char *p;

	if (vm->scratch_used + n > vm->scratch_cap)
		return NULL;
	p = vm->scratch + vm->scratch_used;
	vm->scratch_used += n;
	return p;
}

/*
 * lower(x), upper(x) (ASCII only) or trim(x) of STR x into out, which borrows
 * the per-event scratch. out is left as it was (MISSING) if scratch is full.
 */
static void
string_call(struct rv_vm *vm, int id, const struct rv_val *x, struct rv_val *out)
{
	size_t n, i, start, end;
	const char *s = str_bytes(vm, x, TMP_L(vm), &n);
	char *d;

	if (id == RB_trim) {
		for (start = 0; start < n && (s[start] == ' ' || s[start] == '\t' || s[start] == '\n'
		     || s[start] == '\r'); start++)
			;
		for (end = n; end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'
		     || s[end - 1] == '\n' || s[end - 1] == '\r'); end--)
			;
		s += start;
		n = end - start;
	}
	if ((d = scratch_alloc(vm, n ? n : 1)) == NULL)
		return; /* out of scratch: MISSING (the event is huge) */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		d[i] = (char)(id == RB_lower ? ascii_lower(c)
			: id == RB_upper && c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
	}
	out->k = RV_V_STR;
	out->u.s = d;
	out->n = (uint32_t)n;
}

/* Elements of a validated JSON array text "[...]": commas at depth 1, plus one. */
static double
count_elements(const char *s, size_t n)
{
	size_t i, depth = 0, commas = 0;
	int in_str = 0, empty = 1;

	for (i = 1; i + 1 < n && empty; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			empty = 0;
	if (empty)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			depth++;
		} else if (c == ']' || c == '}') {
			depth--;
		} else if (c == ',' && depth == 1) {
			commas++;
		}
	}
	return (double)(commas + 1);
}

void
rv_op_call(struct rv_vm *vm, unsigned b, const struct rv_val *args, struct rv_val *out)
{
	int id = vm->rt->p->builtin_ids[b];
	struct rv_val x, arg = args[0]; /* out may be the argument's register */
	double d;

	args = &arg;
	memset(out, 0, sizeof *out);
	switch (id) {
	case RB_len:
		if (args[0].k == RV_V_FIELD) {
			uint32_t j = vm->ev.first[args[0].n];

			if (j == RV_NONE)
				return; /* a missing field has no length */
			/* arrays count their elements, other values one each; an
			 * array inside an array already counted is part of it */
			if (vm->rt->p->fields[args[0].n].type & RV_T_ARRAY
			    || vm->ev.vals[j].kind == RV_J_ARRAY) {
				double count = 0;
				uint32_t end = 0; /* end of the last outermost array */

				for (; j != RV_NONE; j = vm->ev.vals[j].next) {
					const struct rv_jval *jv = &vm->ev.vals[j];

					if (jv->off < end)
						continue;
					if (jv->kind == RV_J_ARRAY) {
						count += count_elements(vm->buf + jv->off, jv->len);
						end = jv->off + jv->len;
					} else {
						count++;
					}
				}
				out->k = RV_V_NUM;
				out->u.num = count;
				return;
			}
		}
		if (rv_val_first(vm, &args[0], &x) && x.k == RV_V_STR) {
			size_t n, i, cps = 0;
			const char *s = str_bytes(vm, &x, TMP_L(vm), &n);

			for (i = 0; i < n; i++)
				if (((unsigned char)s[i] & 0xc0) != 0x80)
					cps++;
			out->k = RV_V_NUM;
			out->u.num = (double)cps;
		}
		return;
	case RB_lower:
	case RB_upper:
	case RB_trim:
		if (rv_val_first(vm, &args[0], &x) && x.k == RV_V_STR)
			string_call(vm, id, &x, out);
		return;
	case RB_abs:
	case RB_floor:
	case RB_ceil:
		if (!number(vm, &args[0], &d))
			return;
		out->k = RV_V_NUM;
		out->u.num = id == RB_abs ? fabs(d) : id == RB_floor ? floor(d) : ceil(d);
		return;
	default:
		return;
	}
}

/* ---- tables ---------------------------------------------------------------------- */

void
rv_op_tget(struct rv_vm *vm, uint32_t b, const struct rv_val *key, struct rv_val *out)
{
	struct rv_val k;
	const char *s = NULL;
	size_t n = 0;

	out->k = RV_V_MISSING;
	if (vm->state == NULL || !rv_val_first(vm, key, &k))
		return;
	if (k.k == RV_V_STR)
		s = str_bytes(vm, &k, TMP_R(vm), &n);
	rv_state_lookup(vm->state, b, &k, s, n, vm->now, out);
}

/* ---- keys and scalars for the index (index.c) ------------------------------- */

/* The key of a scalar of kind k: its decoded bytes or number, seeded by kind. */
static uint64_t
key_of(unsigned k, const void *bytes, size_t n, double num)
{
	if (k == RV_V_NUM) {
		if (num == 0)
			num = 0; /* -0 and 0 are one number */
		return XXH64(&num, sizeof num, RV_V_NUM);
	}
	return XXH64(bytes, n, k);
}

/* Seed of the case-folded string keys: apart from every kind's. */
#define FOLD_SEED 0x464f4c44u

uint64_t
rv_key_folded(const char *s, size_t n)
{
	char buf[256] = { 0 };
	uint64_t h = FOLD_SEED;
	size_t i, m;

	/* chunk by chunk, each chunk's hash seeding the next: the same bytes
	 * always give the same key, whatever their source */
	do {
		m = n < sizeof buf ? n : sizeof buf;
		for (i = 0; i < m; i++)
			buf[i] = (char)ascii_lower((unsigned char)s[i]);
		h = XXH64(buf, m, h);
		s += m;
		n -= m;
	} while (n > 0);
	return h;
}

uint64_t
rv_scalar_key(const struct rv_val *x, const char *s, size_t n)
{
	int b;

	switch (x->k) {
	case RV_V_STR: return key_of(RV_V_STR, s, n, 0);
	case RV_V_NUM: return key_of(RV_V_NUM, NULL, 0, x->u.num);
	case RV_V_BOOL:
		b = x->u.b != 0;
		return key_of(RV_V_BOOL, &b, sizeof b, 0);
	default: return 0;
	}
}

uint64_t
rv_const_key(const struct rv_prog *p, uint32_t k, int *ok)
{
	const struct rv_const *c = &p->consts[k];
	int b;

	*ok = 1;
	switch (c->kind) {
	case RV_K_STR: return key_of(RV_V_STR, p->strs + c->a, (size_t)c->b, 0);
	case RV_K_NUM: return key_of(RV_V_NUM, NULL, 0, rv_bits_double(c->b));
	case RV_K_BOOL:
		b = c->a != 0;
		return key_of(RV_V_BOOL, &b, sizeof b, 0);
	default:
		*ok = 0;
		return 0;
	}
}

void
rv_field_scalars(struct rv_vm *vm, uint32_t f, rv_scalar_fn *fn, void *ud)
{
	struct rv_val v, x;
	struct iter it;
	const char *s;
	size_t n;

	if (vm->override[f].k != RV_V_MISSING) {
		v = vm->override[f];
	} else {
		memset(&v, 0, sizeof v);
		v.k = RV_V_FIELD;
		v.n = f;
	}
	iter_init(&it, vm, &v);
	while (iter_next(&it, &x)) {
		switch (x.k) {
		case RV_V_STR:
			s = str_bytes(vm, &x, TMP_L(vm), &n);
			fn(ud, &x, s, n);
			break;
		case RV_V_NUM:
		case RV_V_BOOL:
			fn(ud, &x, NULL, 0);
			break;
		default:
			break;
		}
	}
}

int
rv_parse_addr(const char *s, size_t n, uint8_t addr[16])
{
	return parse_addr(s, n, addr);
}

/* ---- JSON text of a value (set and emit) ---------------------------------- */

/* Raw JSON text of one recorded value (strings with their quotes). */
static size_t
jval_json(const struct rv_vm *vm, const struct rv_jval *jv, char *out, size_t cap)
{
	size_t n = jv->kind == RV_J_STRING ? (size_t)jv->len + 2 : jv->len;
	const char *from = jv->kind == RV_J_STRING ? vm->buf + jv->off - 1 : vm->buf + jv->off;

	if (cap < n)
		return 0;
	memcpy(out, from, n);
	return n;
}

/*
 * All values of a path through an array (items.sku) as one JSON array;
 * arrays met on the way are written whole, once (not their elements again).
 */
static size_t
field_list_json(const struct rv_vm *vm, uint32_t j, char *out, size_t cap)
{
	size_t n = 0, k;
	uint32_t end = 0;

	if (cap < 2)
		return 0;
	out[n++] = '[';
	for (; j != RV_NONE; j = vm->ev.vals[j].next) {
		const struct rv_jval *jv = &vm->ev.vals[j];

		if (jv->off < end)
			continue;
		if (jv->kind == RV_J_ARRAY || jv->kind == RV_J_OBJECT)
			end = jv->off + jv->len;
		if (n > 1) {
			if (n + 1 >= cap)
				return 0;
			out[n++] = ',';
		}
		if ((k = jval_json(vm, jv, out + n, cap - n)) == 0)
			return 0;
		n += k;
	}
	if (n + 1 > cap)
		return 0;
	out[n++] = ']';
	return n;
}

size_t
rv_val_json(const struct rv_vm *vm, const struct rv_val *v, char *out, size_t cap)
{
	struct rv_val x;
	size_t n = 0, k;
	uint32_t i;

	switch (v->k) {
	case RV_V_NULL:
	case RV_V_MISSING:
		return cap >= 4 ? (memcpy(out, "null", 4), 4) : 0;
	case RV_V_BOOL:
		return v->u.b ? (cap >= 4 ? (memcpy(out, "true", 4), 4) : 0)
			: (cap >= 5 ? (memcpy(out, "false", 5), 5) : 0);
	case RV_V_NUM:
		return rv_json_double(v->u.num, out, cap);
	case RV_V_STR:
		if (v->flags & RV_VF_ESCAPED) {
			/* still JSON-escaped bytes from the event: copy them quoted */
			if (cap < (size_t)v->n + 2)
				return 0;
			out[0] = '"';
			memcpy(out + 1, v->u.s, v->n);
			out[v->n + 1] = '"';
			return (size_t)v->n + 2;
		}
		return rv_json_quote(v->u.s, v->n, out, cap);
	case RV_V_FIELD: {
		uint32_t j = vm->ev.first[v->n];
		const struct rv_jval *jv;

		if (j == RV_NONE)
			return cap >= 4 ? (memcpy(out, "null", 4), 4) : 0;
		jv = &vm->ev.vals[j];
		if ((vm->rt->p->fields[v->n].type & RV_T_ARRAY) && jv->kind != RV_J_ARRAY)
			return field_list_json(vm, j, out, cap);
		return jval_json(vm, jv, out, cap);
	}
	case RV_V_LIST:
		if (cap < 2)
			return 0;
		out[n++] = '[';
		for (i = 0; i < v->n; i++) {
			const struct rv_val *e = &vm->regs[v->u.first + i];

			if (i > 0) {
				if (n + 1 >= cap)
					return 0;
				out[n++] = ',';
			}
			if (e->k == RV_V_FIELD && rv_val_first(vm, e, &x))
				e = &x;
			if (e->k == RV_V_LIST) {
				/* the compiler never nests lists; a hand-made program could
				 * (MKLIST r0 r0 1): write null rather than recurse */
				x.k = RV_V_NULL;
				e = &x;
			}
			if ((k = rv_val_json(vm, e, out + n, cap - n)) == 0)
				return 0;
			n += k;
		}
		if (n + 1 > cap)
			return 0;
		out[n++] = ']';
		return n;
	default:
		return cap >= 4 ? (memcpy(out, "null", 4), 4) : 0;
	}
}
