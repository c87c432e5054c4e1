/*
 * rbc.c -- the .rbc section builder; see rbc.h for the API and
 * runtime/bytecode.h for the format it writes.
 *
 * Invariants: every section buffer holds a whole number of records of that
 * section's record size (from RV_SECTIONS); every interned item (string,
 * constant, field, builtin, file) is in exactly one hash table, which maps
 * its XXH64 to its index. The tables never hold pointers, only indices, so
 * growing a section never invalidates them.
 */
#include "config.h"
#include "rbc.h"
#include "alloc.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rbc.c writes records in host byte order, which must be little-endian"
#endif

/* Record size of each section, indexed by enum rv_sec. */
static const size_t rc_rsize[RV_SEC_MAX + 1] = {
#define RC_RSIZE(name, id, rsize, desc) [id] = rsize,
	RV_SECTIONS(RC_RSIZE)
#undef RC_RSIZE
};

/* Section names for error messages, indexed by enum rv_sec. */
static const char *const rc_secname[RV_SEC_MAX + 1] = {
#define RC_SECNAME(name, id, rsize, desc) [id] = #name,
	RV_SECTIONS(RC_SECNAME)
#undef RC_SECNAME
};

struct rc_sec {
	unsigned char *data; /* owns: len bytes of records */
	size_t len;          /* bytes in use, a multiple of the record size */
	size_t cap;          /* bytes allocated */
};

/*
 * Open addressing with linear probing. A slot is empty when item == 0,
 * otherwise it holds 1 + the item's index and the low 32 bits of its hash
 * (compared first, and used to rehash without touching the items).
 */
struct rc_hent {
	uint32_t hash;
	uint32_t item; /* 0 = empty, else 1 + index */
};

struct rc_htab {
	struct rc_hent *slots; /* owns: mask + 1 slots, or NULL before first use */
	uint32_t mask;         /* capacity - 1, capacity a power of two */
	uint32_t n;            /* items stored; kept <= capacity / 2 */
};

/* The interned string index -> its place in STRS. */
struct rc_strs {
	struct rv_str *v; /* owns */
	size_t n, cap;
};

struct rc_rbc {
	struct rc_sec sec[RV_SEC_MAX + 1]; /* indexed by enum rv_sec; [0] unused */
	struct rc_strs istr;               /* interned strings, by hstr item */
	struct rc_htab hstr;               /* string bytes -> istr index */
	struct rc_htab hconst;             /* constant -> CONSTS index */
	struct rc_htab hfield;             /* (where, segments) -> FIELDS index */
	struct rc_htab hbuiltin;           /* name -> BUILTINS index */
	struct rc_htab hfile;              /* name -> FILES index */
};

/* ---- hash table ------------------------------------------------------- */

/*
 * Says whether item index (of the kind the table holds) equals key; key is
 * whatever the caller's lookup passes (a struct describing the value).
 */
typedef int rc_htab_eq(const struct rc_rbc *b, uint32_t index, const void *key);

/* Doubles t (or creates it with 64 slots), reinserting by the stored hashes. */
static void
htab_grow(struct rc_htab *t)
{
	uint32_t ncap = t->slots ? (t->mask + 1) * 2 : 64;
	struct rc_hent *ns;
	uint32_t i;

	if (ncap == 0) {
		fputs("routec: too many interned items\n", stderr);
		abort();
	}
	ns = ru_xcalloc(ncap, sizeof *ns);
	if (t->slots != NULL) {
		for (i = 0; i <= t->mask; i++) {
			uint32_t j;

			if (t->slots[i].item == 0)
				continue;
			for (j = t->slots[i].hash & (ncap - 1); ns[j].item != 0; j = (j + 1) & (ncap - 1))
				;
			ns[j] = t->slots[i];
		}
		ru_free(t->slots);
	}
	t->slots = ns;
	t->mask = ncap - 1;
}

/*
 * Returns the slot holding the item equal to key (hash h), or the empty slot
 * where it belongs. Makes room first, so the caller may fill an empty slot
 * with htab_set.
 */
static struct rc_hent *
htab_find(const struct rc_rbc *b, struct rc_htab *t, uint64_t h, rc_htab_eq *eq, const void *key)
{
	uint32_t h32 = (uint32_t)h, j;

	if (t->slots == NULL || (t->n + 1) > (t->mask + 1) / 2)
		htab_grow(t);
	for (j = h32 & t->mask; t->slots[j].item != 0; j = (j + 1) & t->mask)
		if (t->slots[j].hash == h32 && eq(b, t->slots[j].item - 1, key))
			return &t->slots[j];
	return &t->slots[j];
}

/* Fills the empty slot e (from htab_find with hash h) with index. */
static void
htab_set(struct rc_htab *t, struct rc_hent *e, uint64_t h, uint32_t index)
{
	e->hash = (uint32_t)h;
	e->item = index + 1;
	t->n++;
}

/* Frees t's slots; t is empty afterwards. */
static void
htab_fini(struct rc_htab *t)
{
	ru_free(t->slots);
	memset(t, 0, sizeof *t);
}

/* ---- sections --------------------------------------------------------- */

/* Zeroed: every section and table empty, allocated on first use. */
struct rc_rbc *
rc_rbc_new(void)
{
	return ru_xcalloc(1, sizeof(struct rc_rbc));
}

/* Frees the sections, the interned-string index and the hash tables. */
void
rc_rbc_free(struct rc_rbc *b)
{
	int i;

	if (b == NULL)
		return;
	for (i = 0; i <= RV_SEC_MAX; i++)
		ru_free(b->sec[i].data);
	ru_free(b->istr.v);
	htab_fini(&b->hstr);
	htab_fini(&b->hconst);
	htab_fini(&b->hfield);
	htab_fini(&b->hbuiltin);
	htab_fini(&b->hfile);
	ru_free(b);
}

/* Returns room for n more bytes at the end of s (not yet counted in len). */
static unsigned char *
sec_reserve(struct rc_sec *s, size_t n)
{
	if (s->cap - s->len < n) {
		size_t ncap = s->cap ? s->cap : 256;

		while (ncap - s->len < n) {
			if (ncap > (size_t)-1 / 2) {
				fputs("routec: out of memory\n", stderr);
				abort();
			}
			ncap *= 2;
		}
		s->data = ru_xrealloc(s->data, ncap);
		s->cap = ncap;
	}
	return s->data + s->len;
}

/* Grows the section by one zeroed record; see rbc.h. */
void *
rc_rbc_push(struct rc_rbc *b, enum rv_sec id, uint32_t *index)
{
	struct rc_sec *s;
	size_t rs;
	unsigned char *p;

	assert(id >= 1 && id <= RV_SEC_MAX);
	s = &b->sec[id];
	rs = rc_rsize[id];
	p = sec_reserve(s, rs);
	memset(p, 0, rs);
	if (index != NULL)
		*index = (uint32_t)(s->len / rs); /* truncation past 2^32 is caught by write */
	s->len += rs;
	return p;
}

/* Borrowed pointer into the section; moves when the section grows. */
void *
rc_rbc_at(struct rc_rbc *b, enum rv_sec id, uint32_t index)
{
	assert(id >= 1 && id <= RV_SEC_MAX);
	assert(index < rc_rbc_count(b, id));
	return b->sec[id].data + (size_t)index * rc_rsize[id];
}

/* Records in section id (bytes for STRS). */
uint32_t
rc_rbc_count(const struct rc_rbc *b, enum rv_sec id)
{
	assert(id >= 1 && id <= RV_SEC_MAX);
	return (uint32_t)(b->sec[id].len / rc_rsize[id]);
}

/* ---- strings ---------------------------------------------------------- */

struct rc_bytes {
	const char *s;
	size_t len;
};

/* Interned string index vs. bytes. */
static int
str_eq(const struct rc_rbc *b, uint32_t index, const void *key)
{
	const struct rc_bytes *k = key;
	struct rv_str s = b->istr.v[index];

	return s.len == k->len && (k->len == 0 || memcmp(b->sec[RV_SEC_STRS].data + s.off, k->s, k->len) == 0);
}

/* Looks the bytes up; appends them to STRS only when new. */
struct rv_str
rc_rbc_str(struct rc_rbc *b, const char *s, size_t len)
{
	struct rc_bytes k = { s, len };
	uint64_t h = XXH64(len ? s : "", len, 0);
	struct rc_hent *e = htab_find(b, &b->hstr, h, str_eq, &k);
	struct rc_sec *strs = &b->sec[RV_SEC_STRS];
	struct rv_str r;

	if (e->item != 0)
		return b->istr.v[e->item - 1];
	if (b->istr.n == b->istr.cap) {
		b->istr.cap = b->istr.cap ? b->istr.cap * 2 : 64;
		b->istr.v = ru_xrealloc(b->istr.v, b->istr.cap * sizeof *b->istr.v);
	}
	/* Offsets past 4 GiB wrap but stay inside the buffer; write refuses them. */
	r.off = (uint32_t)strs->len;
	r.len = (uint32_t)len;
	if (len > 0) {
		/* s may borrow from the pool itself, which sec_reserve may move. */
		int inpool = strs->data != NULL && s >= (const char *)strs->data &&
			s < (const char *)strs->data + strs->len;
		size_t soff = inpool ? (size_t)(s - (const char *)strs->data) : 0;
		unsigned char *dst = sec_reserve(strs, len);

		memcpy(dst, inpool ? (const char *)strs->data + soff : s, len);
	}
	strs->len += len;
	b->istr.v[b->istr.n] = r;
	htab_set(&b->hstr, e, h, (uint32_t)b->istr.n);
	b->istr.n++;
	return r;
}

/* Borrowed pointer into STRS; moves when the pool grows. */
const char *
rc_rbc_str_bytes(const struct rc_rbc *b, struct rv_str s)
{
	assert((size_t)s.off + s.len <= b->sec[RV_SEC_STRS].len);
	return (const char *)b->sec[RV_SEC_STRS].data + s.off;
}

/* ---- constants -------------------------------------------------------- */

struct rc_ckey {
	const struct rv_const *k; /* the record; for a SET, a and b are ignored */
	const uint32_t *items;    /* SET members, k->b of them */
};

/* CONSTS index vs. a constant: equal records, or equal SET members. */
static int
const_eq(const struct rc_rbc *b, uint32_t index, const void *key)
{
	const struct rc_ckey *ck = key;
	const struct rv_const *c = (const struct rv_const *)b->sec[RV_SEC_CONSTS].data + index;
	const uint32_t *items = (const uint32_t *)b->sec[RV_SEC_SETITEMS].data;

	if (ck->k->kind != RV_K_SET)
		return memcmp(c, ck->k, sizeof *c) == 0;
	return c->kind == RV_K_SET && c->flags == ck->k->flags && c->b == ck->k->b &&
	       (c->b == 0 || memcmp(items + c->a, ck->items, c->b * sizeof(uint32_t)) == 0);
}

/* Returns the CONSTS index of k (copied; for a SET with members items). */
static uint32_t
const_intern(struct rc_rbc *b, struct rv_const *k, const uint32_t *items)
{
	struct rc_ckey ck = { k, items };
	uint64_t h;
	struct rc_hent *e;
	uint32_t index;

	if (k->kind == RV_K_SET)
		h = XXH64(k->b ? (const void *)items : "", k->b * sizeof(uint32_t), 0x5e7u + k->flags);
	else
		h = XXH64(k, sizeof *k, 0);
	e = htab_find(b, &b->hconst, h, const_eq, &ck);
	if (e->item != 0)
		return e->item - 1;
	if (k->kind == RV_K_SET) {
		k->a = rc_rbc_count(b, RV_SEC_SETITEMS);
		if (k->b > 0) {
			struct rc_sec *s = &b->sec[RV_SEC_SETITEMS];

			memcpy(sec_reserve(s, k->b * sizeof(uint32_t)), items, k->b * sizeof(uint32_t));
			s->len += k->b * sizeof(uint32_t);
		}
	}
	memcpy(rc_rbc_push(b, RV_SEC_CONSTS, &index), k, sizeof *k);
	htab_set(&b->hconst, e, h, index);
	return index;
}

/* Returns the raw bits of d, with -0.0 folded into 0.0. */
static uint64_t
dbl_bits(double d)
{
	uint64_t u;

	if (d == 0)
		d = 0;
	memcpy(&u, &d, sizeof u);
	return u;
}

/* The rc_rbc_k_* functions fill one record and intern it; see rbc.h. */
uint32_t
rc_rbc_k_null(struct rc_rbc *b)
{
	struct rv_const k = { .kind = RV_K_NULL };

	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_bool(struct rc_rbc *b, int v)
{
	struct rv_const k = { .kind = RV_K_BOOL, .a = v != 0 };

	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_num(struct rc_rbc *b, double v)
{
	struct rv_const k = { .kind = RV_K_NUM, .b = dbl_bits(v) };

	assert(v == v);
	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_str(struct rc_rbc *b, const char *s, size_t len)
{
	struct rv_str r = rc_rbc_str(b, s, len);
	struct rv_const k = { .kind = RV_K_STR, .a = r.off, .b = r.len };

	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_duration(struct rc_rbc *b, uint64_t ms)
{
	struct rv_const k = { .kind = RV_K_DURATION, .b = ms };

	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_rate(struct rc_rbc *b, double per_second)
{
	struct rv_const k = { .kind = RV_K_RATE, .b = dbl_bits(per_second) };

	assert(per_second == per_second);
	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_regex(struct rc_rbc *b, const char *pat, size_t len, unsigned flags)
{
	struct rv_str r = rc_rbc_str(b, pat, len);
	struct rv_const k = { .kind = RV_K_REGEX, .flags = (uint8_t)(flags & RV_KF_CASELESS),
		.a = r.off, .b = r.len };

	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_set(struct rc_rbc *b, const uint32_t *items, uint32_t n, unsigned flags)
{
	struct rv_const k = { .kind = RV_K_SET, .flags = (uint8_t)(flags & RV_KF_CASELESS), .b = n };

	return const_intern(b, &k, items);
}

uint32_t
rc_rbc_k_range(struct rc_rbc *b, uint32_t lo, uint32_t hi, unsigned flags)
{
	struct rv_const k = { .kind = RV_K_RANGE,
		.flags = (uint8_t)(flags & (RV_KF_LO_OPEN | RV_KF_HI_OPEN)), .a = lo, .b = hi };

	return const_intern(b, &k, NULL);
}

uint32_t
rc_rbc_k_cidr(struct rc_rbc *b, int family, const uint8_t addr[16], unsigned prefix)
{
	struct rv_const k = { .kind = RV_K_CIDR, .aux = family == 6 ? 6 : 4, .a = prefix };
	unsigned nbytes = family == 6 ? 16 : 4, i;

	assert(family == 4 || family == 6);
	assert(prefix <= nbytes * 8);
	memcpy(k.addr, addr, nbytes);
	/* Clear host bits: byte i keeps min(8, prefix - 8i) leading bits. */
	for (i = 0; i < nbytes; i++) {
		if (prefix >= 8 * (i + 1))
			continue;
		if (prefix <= 8 * i)
			k.addr[i] = 0;
		else
			k.addr[i] &= (uint8_t)(0xffu << (8 - (prefix - 8 * i)));
	}
	return const_intern(b, &k, NULL);
}

/* ---- fields, builtins, files ----------------------------------------- */

struct rc_fkey {
	uint8_t where;
	uint32_t nseg;
	const struct rv_str *segs; /* interned, so equal bytes <=> equal rv_str */
};

/* FIELDS index vs. (where, interned segments). */
static int
field_eq(const struct rc_rbc *b, uint32_t index, const void *key)
{
	const struct rc_fkey *fk = key;
	const struct rv_field *f = (const struct rv_field *)b->sec[RV_SEC_FIELDS].data + index;
	const struct rv_str *segs = (const struct rv_str *)b->sec[RV_SEC_SEGS].data;

	return f->where == fk->where && f->nseg == fk->nseg &&
	       memcmp(segs + f->seg, fk->segs, fk->nseg * sizeof *fk->segs) == 0;
}

/* Interns the segments, then the field by (where, segment offsets). */
uint32_t
rc_rbc_field(struct rc_rbc *b, const char *const *segs, const size_t *seglens,
	unsigned nseg, enum rv_where where, unsigned type)
{
	struct rv_str small[16], *is = small;
	struct rc_fkey fk;
	struct rc_hent *e;
	struct rv_field *f;
	struct rv_str name;
	char *joined;
	size_t namelen = 0, off = 0;
	uint64_t h;
	uint32_t index, first;
	unsigned i;

	assert(nseg >= 1 && nseg <= 0xffffu);
	if (nseg > 16)
		is = ru_xmalloc(nseg * sizeof *is);
	for (i = 0; i < nseg; i++) {
		is[i] = rc_rbc_str(b, segs[i], seglens[i]);
		namelen += seglens[i] + (i > 0);
	}
	fk.where = (uint8_t)where;
	fk.nseg = nseg;
	fk.segs = is;
	h = XXH64(is, nseg * sizeof *is, 0xf1e1du + where);
	e = htab_find(b, &b->hfield, h, field_eq, &fk);
	if (e->item != 0) {
		if (is != small)
			ru_free(is);
		return e->item - 1;
	}
	/* Display name: the segments joined by '.'. */
	joined = ru_xmalloc(namelen + 1);
	for (i = 0; i < nseg; i++) {
		if (i > 0)
			joined[off++] = '.';
		memcpy(joined + off, rc_rbc_str_bytes(b, is[i]), is[i].len);
		off += is[i].len;
	}
	name = rc_rbc_str(b, joined, namelen);
	first = rc_rbc_count(b, RV_SEC_SEGS);
	for (i = 0; i < nseg; i++)
		*(struct rv_str *)rc_rbc_push(b, RV_SEC_SEGS, NULL) = is[i];
	f = rc_rbc_push(b, RV_SEC_FIELDS, &index);
	f->seg = first;
	f->nseg = (uint16_t)nseg;
	f->where = (uint8_t)where;
	f->type = (uint8_t)type;
	f->name = name;
	f->hash = XXH32(joined, namelen, 0);
	htab_set(&b->hfield, e, h, index);
	ru_free(joined);
	if (is != small)
		ru_free(is);
	return index;
}

struct rc_nkey {
	enum rv_sec sec; /* BUILTINS or FILES: a section of rv_str names */
	const char *s;
	size_t len;
};

/* Index into a section of rv_str names vs. bytes. */
static int
name_eq(const struct rc_rbc *b, uint32_t index, const void *key)
{
	const struct rc_nkey *nk = key;
	struct rv_str s = ((const struct rv_str *)b->sec[nk->sec].data)[index];

	return s.len == nk->len && (s.len == 0 ||
		memcmp(b->sec[RV_SEC_STRS].data + s.off, nk->s, nk->len) == 0);
}

/* Returns the index of name[0..len) in section sec (BUILTINS or FILES). */
static uint32_t
name_intern(struct rc_rbc *b, struct rc_htab *t, enum rv_sec sec, const char *s, size_t len)
{
	struct rc_nkey nk = { sec, s, len };
	uint64_t h = XXH64(len ? s : "", len, 0);
	struct rc_hent *e = htab_find(b, t, h, name_eq, &nk);
	struct rv_str r;
	uint32_t index;

	if (e->item != 0)
		return e->item - 1;
	r = rc_rbc_str(b, s, len);
	*(struct rv_str *)rc_rbc_push(b, sec, &index) = r;
	htab_set(t, e, h, index);
	return index;
}

/* BUILTINS entry of name; the loader resolves it with rb_lookup. */
uint32_t
rc_rbc_builtin(struct rc_rbc *b, const char *name)
{
	return name_intern(b, &b->hbuiltin, RV_SEC_BUILTINS, name, strlen(name));
}

/* FILES entry of name, for rules and LINES. */
uint32_t
rc_rbc_file(struct rc_rbc *b, const char *name, size_t len)
{
	return name_intern(b, &b->hfile, RV_SEC_FILES, name, len);
}

/* ---- code and lines --------------------------------------------------- */

/* Appends one instruction word. */
uint32_t
rc_rbc_emit_code(struct rc_rbc *b, uint32_t insn)
{
	uint32_t pc;

	*(uint32_t *)rc_rbc_push(b, RV_SEC_CODE, &pc) = insn;
	return pc;
}

/* Keeps LINES sorted and free of repeats; see rbc.h. */
void
rc_rbc_line(struct rc_rbc *b, uint32_t pc, uint32_t file, uint32_t line, uint32_t col)
{
	uint32_t n = rc_rbc_count(b, RV_SEC_LINES);
	struct rv_line *l;

	if (n > 0) {
		l = rc_rbc_at(b, RV_SEC_LINES, n - 1);
		assert(pc >= l->pc);
		if (l->file == file && l->line == line && l->col == col)
			return;
		if (l->pc == pc) {
			/* Nothing was emitted under the previous location: replace it,
			 * unless that makes it repeat the one before. */
			if (n > 1) {
				const struct rv_line *prev = rc_rbc_at(b, RV_SEC_LINES, n - 2);

				if (prev->file == file && prev->line == line && prev->col == col) {
					b->sec[RV_SEC_LINES].len -= sizeof *l;
					return;
				}
			}
			l->file = file;
			l->line = line;
			l->col = col;
			return;
		}
	}
	l = rc_rbc_push(b, RV_SEC_LINES, NULL);
	l->pc = pc;
	l->file = file;
	l->line = line;
	l->col = col;
}

/* ---- serialization ---------------------------------------------------- */

/* Formats a one-line message into err (if errlen > 0) and returns -1. */
static int write_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
write_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Layout: header, section table, then each non-empty section in id order at
 * the next multiple of 8, zero-padded; the checksum is computed last.
 */
int
rc_rbc_write(struct rc_rbc *b, uint32_t max_regs, unsigned char **out, size_t *outlen,
	char *err, size_t errlen)
{
	struct rv_rbc_header h;
	struct rv_rbc_section *tab;
	size_t secbytes[RV_SEC_MAX + 1];
	uint32_t ncode = rc_rbc_count(b, RV_SEC_CODE);
	size_t nlines = 0, total, off;
	unsigned char *buf;
	unsigned nsec = 0, i, k;

	*out = NULL;
	*outlen = 0;
	if (max_regs > RV_MAX_REGS)
		return write_fail(err, errlen, "max_regs %u exceeds %u", max_regs, RV_MAX_REGS);
	/* LINES past the end of CODE describe nothing; they form a suffix. */
	while (nlines < rc_rbc_count(b, RV_SEC_LINES) &&
	       ((const struct rv_line *)b->sec[RV_SEC_LINES].data)[nlines].pc < ncode)
		nlines++;
	for (i = 1; i <= RV_SEC_MAX; i++) {
		secbytes[i] = i == RV_SEC_LINES ? nlines * sizeof(struct rv_line) : b->sec[i].len;
		if (secbytes[i] > UINT32_MAX)
			return write_fail(err, errlen, "section %s too large (%zu bytes, the format allows 4 GiB)",
				rc_secname[i], secbytes[i]);
		if (secbytes[i] > 0)
			nsec++;
	}
	total = RV_RBC_HEADER_SIZE + (size_t)nsec * sizeof(struct rv_rbc_section);
	total = (total + 7) & ~(size_t)7;
	for (i = 1; i <= RV_SEC_MAX; i++) {
		if (secbytes[i] == 0)
			continue;
		if (total > UINT32_MAX)
			return write_fail(err, errlen, "section %s starts beyond the 4 GiB offset limit (%zu)",
				rc_secname[i], total);
		total += (secbytes[i] + 7) & ~(size_t)7;
	}
	buf = ru_xcalloc(1, total);
	memset(&h, 0, sizeof h);
	memcpy(h.magic, RV_RBC_MAGIC, sizeof h.magic);
	h.version_major = RV_RBC_VERSION_MAJOR;
	h.version_minor = RV_RBC_VERSION_MINOR;
	h.header_size = RV_RBC_HEADER_SIZE;
	h.nsections = nsec;
	h.file_size = total;
	h.max_regs = max_regs;
	tab = (struct rv_rbc_section *)(buf + RV_RBC_HEADER_SIZE);
	off = RV_RBC_HEADER_SIZE + (size_t)nsec * sizeof(struct rv_rbc_section);
	off = (off + 7) & ~(size_t)7;
	for (i = 1, k = 0; i <= RV_SEC_MAX; i++) {
		if (secbytes[i] == 0)
			continue;
		tab[k].id = i;
		tab[k].count = (uint32_t)(secbytes[i] / rc_rsize[i]);
		tab[k].offset = (uint32_t)off;
		tab[k].size = (uint32_t)secbytes[i];
		memcpy(buf + off, b->sec[i].data, secbytes[i]);
		off += (secbytes[i] + 7) & ~(size_t)7;
		k++;
	}
	memcpy(buf, &h, sizeof h);
	h.checksum = rv_rbc_checksum(buf, total);
	memcpy(buf + offsetof(struct rv_rbc_header, checksum), &h.checksum, sizeof h.checksum);
	*out = buf;
	*outlen = total;
	return 0;
}
