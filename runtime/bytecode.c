/*
 * bytecode.c -- load, validate and disassemble .rbc programs (bytecode.h).
 *
 * A .rbc file is untrusted input. rv_prog_load copies it into one allocation
 * and checks all of it before anyone sees it: after a successful load every
 * index, offset and instruction operand is in range, every jump is forward,
 * and every path from a block entry ends in the block's terminator (MATCH or
 * MISS for conditions, YIELD for value blocks). The VM (runtime/vm.c) and the
 * JIT rely on that and re-check nothing. Validation is linear in the file
 * size: per-item checks are done once per record, never once per reference,
 * and block termination is one backward pass over CODE (jumps only go
 * forward, so that pass sees every successor before its predecessor).
 *
 * Absent sections read as empty (count 0): a file with no rules is valid.
 * Reserved fields are ignored; header flags must be 0.
 */
#include "config.h"
#include "bytecode.h"
#include "alloc.h"
#include "builtins.h"

#include <arpa/inet.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .rbc loader reads little-endian records in place: big-endian hosts are not supported"
#endif

/* The record layouts are the file format: pin them. */
_Static_assert(sizeof(struct rv_rbc_section) == 16, "rv_rbc_section is 16 bytes");
_Static_assert(sizeof(struct rv_str) == 8, "rv_str is 8 bytes");
_Static_assert(sizeof(struct rv_field) == 20, "rv_field is 20 bytes");
_Static_assert(sizeof(struct rv_type) == 16, "rv_type is 16 bytes");
_Static_assert(sizeof(struct rv_contract) == 16, "rv_contract is 16 bytes");
_Static_assert(sizeof(struct rv_cfield) == 16, "rv_cfield is 16 bytes");
_Static_assert(sizeof(struct rv_dest) == 56, "rv_dest is 56 bytes");
_Static_assert(sizeof(struct rv_table) == 48, "rv_table is 48 bytes");
_Static_assert(sizeof(struct rv_rule) == 56, "rv_rule is 56 bytes");
_Static_assert(sizeof(struct rv_action) == 16, "rv_action is 16 bytes");
_Static_assert(sizeof(struct rv_line) == 16, "rv_line is 16 bytes");

const struct rv_opinfo rv_opinfo[RV_NUM_OPS] = {
#define OP(name, fmt, flags, sem) { #name, RV_FMT_##fmt, flags, sem },
#include "opcodes.def"
#undef OP
};

/* Name and record size of each section, indexed by enum rv_sec. */
static const struct {
	const char *name;
	size_t rsize;
} rv_secinfo[RV_SEC_MAX + 1] = {
#define RV_SECINFO(name, id, rsize, desc) [id] = { #name, rsize },
	RV_SECTIONS(RV_SECINFO)
#undef RV_SECINFO
};

/* Constant kind names, indexed by enum rv_kind (messages and listings). */
const char *const rv_kind_names[RV_K_NKINDS] = {
	"null", "bool", "num", "str", "duration", "rate", "regex", "set", "range", "cidr"
};

/* Flags each constant kind may carry. */
static const unsigned rv_kindflags[RV_K_NKINDS] = {
	[RV_K_REGEX] = RV_KF_CASELESS,
	[RV_K_SET] = RV_KF_CASELESS,
	[RV_K_RANGE] = RV_KF_LO_OPEN | RV_KF_HI_OPEN,
};

static const char *const rv_akindname[] = { "?", "route", "set", "emit", "emitf" };

/* Where paths from an instruction can end (bit set; see ld_blocks). */
#define RV_END_COND  0x1u /* MATCH or MISS */
#define RV_END_YIELD 0x2u /* YIELD */
#define RV_END_OFF   0x4u /* falls off the end of CODE */

/* ---- loader state and messages --------------------------------------- */

struct rv_ld {
	struct rv_prog *p;     /* the program being validated (owned by rv_prog_load) */
	int *ids;              /* borrows: builtin_ids storage inside p's allocation */
	uint32_t idcap;        /* entries ids has room for */
	char *err;             /* the caller's message buffer */
	size_t errlen;
};

/* Formats a one-line message into l->err and returns -1. */
static int ld_fail(struct rv_ld *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
ld_fail(struct rv_ld *l, const char *fmt, ...)
{
	va_list ap;

	if (l->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(l->err, l->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Says whether s lies inside STRS. */
static int
ld_str_ok(const struct rv_prog *p, struct rv_str s)
{
	return s.off <= p->nstrs && s.len <= p->nstrs - s.off;
}

/*
 * Copies the (validated) string s into buf for a message: at most 40 bytes,
 * anything but printable ASCII shown as '?'. Returns buf.
 */
static const char *
ld_name(const struct rv_prog *p, struct rv_str s, char buf[48])
{
	size_t i, n = s.len > 40 ? 40 : s.len;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p->strs[s.off + i];

		buf[i] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
	}
	buf[n] = '\0';
	if (n < s.len)
		strcat(buf, "...");
	return buf;
}

/* Says whether t is an enum rv_vtype, possibly with RV_T_ARRAY. */
static int
ld_vtype_ok(unsigned t)
{
	return (t & ~(unsigned)RV_T_ARRAY) <= RV_T_NULL;
}

/* Returns the double stored in the bits b. */
double
rv_bits_double(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof d);
	return d;
}

/* ---- header and section table ---------------------------------------- */

/* XXH64 streamed over the three parts around the checksum field. */
uint64_t
rv_rbc_checksum(const void *img, size_t len)
{
	static const unsigned char zero[8];
	size_t at = offsetof(struct rv_rbc_header, checksum);
	XXH64_state_t st;

	XXH64_reset(&st, 0);
	XXH64_update(&st, img, at);
	XXH64_update(&st, zero, sizeof zero);
	XXH64_update(&st, (const unsigned char *)img + at + sizeof zero, len - at - sizeof zero);
	return XXH64_digest(&st);
}

/*
 * Reads the BUILTINS count from the section table of buf without trusting
 * anything, to size builtin_ids before the copy. Returns 0 when the table
 * is unreadable (the full validation then refuses the file).
 */
static uint32_t
ld_prescan_nbuiltins(const unsigned char *buf, size_t len)
{
	uint32_t hsize, nsec, i;
	struct rv_rbc_section s;

	if (len < RV_RBC_HEADER_SIZE)
		return 0;
	memcpy(&hsize, buf + offsetof(struct rv_rbc_header, header_size), sizeof hsize);
	memcpy(&nsec, buf + offsetof(struct rv_rbc_header, nsections), sizeof nsec);
	if (hsize > len || nsec > RV_SEC_MAX || (size_t)nsec * sizeof s > len - hsize)
		return 0;
	for (i = 0; i < nsec; i++) {
		memcpy(&s, buf + hsize + (size_t)i * sizeof s, sizeof s);
		if (s.id == RV_SEC_BUILTINS)
			return s.count <= len / sizeof(struct rv_str) ? s.count : 0;
	}
	return 0;
}

/* Points p's section fields at a section's records (ptr) and count n. */
static void
ld_set(struct rv_prog *p, unsigned id, const unsigned char *ptr, uint32_t n)
{
	switch (id) {
	case RV_SEC_STRS: p->strs = (const char *)ptr; p->nstrs = n; break;
	case RV_SEC_CONSTS: p->consts = (const void *)ptr; p->nconsts = n; break;
	case RV_SEC_SETITEMS: p->setitems = (const void *)ptr; p->nsetitems = n; break;
	case RV_SEC_SEGS: p->segs = (const void *)ptr; p->nsegs = n; break;
	case RV_SEC_FIELDS: p->fields = (const void *)ptr; p->nfields = n; break;
	case RV_SEC_TYPES: p->types = (const void *)ptr; p->ntypes = n; break;
	case RV_SEC_CONTRACTS: p->contracts = (const void *)ptr; p->ncontracts = n; break;
	case RV_SEC_CFIELDS: p->cfields = (const void *)ptr; p->ncfields = n; break;
	case RV_SEC_DESTS: p->dests = (const void *)ptr; p->ndests = n; break;
	case RV_SEC_TABLES: p->tables = (const void *)ptr; p->ntables = n; break;
	case RV_SEC_RULES: p->rules = (const void *)ptr; p->nrules = n; break;
	case RV_SEC_RTYPES: p->rtypes = (const void *)ptr; p->nrtypes = n; break;
	case RV_SEC_ACTIONS: p->actions = (const void *)ptr; p->nactions = n; break;
	case RV_SEC_CODE: p->code = (const void *)ptr; p->ncode = n; break;
	case RV_SEC_LINES: p->lines = (const void *)ptr; p->nlines = n; break;
	case RV_SEC_FILES: p->files = (const void *)ptr; p->nfiles = n; break;
	case RV_SEC_BUILTINS: p->builtins = (const void *)ptr; p->nbuiltins = n; break;
	case RV_SEC_TEMPORAL: p->temporal = (const void *)ptr; p->ntemporal = n; break;
	case RV_SEC_TREFS: p->trefs = (const void *)ptr; p->ntrefs = n; break;
	case RV_SEC_TSEQ: p->tseq = (const void *)ptr; p->ntseq = n; break;
	case RV_SEC_TTIME: p->ttime = (const void *)ptr; p->nttime = n; break;
	default: break;
	}
}

/*
 * Checks the header and the section table of the image p->image[0..len) and
 * points p's section fields into it. Absent sections get count 0 (and a
 * non-NULL pointer, so that pointer arithmetic on them stays defined).
 */
static int
ld_header(struct rv_ld *l)
{
	struct rv_prog *p = l->p;
	const unsigned char *img = p->image;
	size_t len = p->size;
	const struct rv_rbc_header *h = (const void *)img;
	const struct rv_rbc_section *tab, *byid[RV_SEC_MAX + 1] = { 0 }, *sorted[RV_SEC_MAX];
	uint64_t tabend;
	unsigned nsorted = 0, i, j;

	if (len < RV_RBC_HEADER_SIZE)
		return ld_fail(l, "truncated: %zu bytes, shorter than the %u-byte header", len,
			RV_RBC_HEADER_SIZE);
	if (memcmp(h->magic, RV_RBC_MAGIC, sizeof h->magic) != 0)
		return ld_fail(l, "bad magic: not an .rbc file");
	if (h->version_major != RV_RBC_VERSION_MAJOR)
		return ld_fail(l, "unsupported format version %u.%u (this reader reads %u.x)",
			h->version_major, h->version_minor, RV_RBC_VERSION_MAJOR);
	if (h->header_size < RV_RBC_HEADER_SIZE || h->header_size % 8 != 0 || h->header_size > len)
		return ld_fail(l, "bad header_size %u (expected %u)", h->header_size, RV_RBC_HEADER_SIZE);
	if (h->file_size != len)
		return ld_fail(l, "file size mismatch: header says %llu bytes, got %zu (truncated or padded)",
			(unsigned long long)h->file_size, len);
	if (rv_rbc_checksum(img, len) != h->checksum)
		return ld_fail(l, "checksum mismatch: the file is corrupt");
	if (h->flags != 0)
		return ld_fail(l, "unknown header flags 0x%x", h->flags);
	if (h->max_regs > RV_MAX_REGS)
		return ld_fail(l, "max_regs %u exceeds %u", h->max_regs, RV_MAX_REGS);
	p->max_regs = h->max_regs;
	if (h->nsections > RV_SEC_MAX)
		return ld_fail(l, "section table: %u entries, more than the %u section kinds", h->nsections,
			RV_SEC_MAX);
	tabend = (uint64_t)h->header_size + (uint64_t)h->nsections * sizeof *tab;
	if (tabend > len)
		return ld_fail(l, "section table: %u entries run beyond the end of the file (%zu)",
			h->nsections, len);
	tab = (const void *)(img + h->header_size);
	for (i = 0; i < h->nsections; i++) {
		const struct rv_rbc_section *s = &tab[i];
		const char *name;

		if (s->id == 0 || s->id > RV_SEC_MAX)
			return ld_fail(l, "section table entry %u: unknown section id %u", i, s->id);
		name = rv_secinfo[s->id].name;
		if (byid[s->id] != NULL)
			return ld_fail(l, "section %s appears twice in the section table", name);
		if (s->offset % 8 != 0)
			return ld_fail(l, "section %s: offset %u is not 8-aligned", name, s->offset);
		if ((uint64_t)s->offset + s->size > len)
			return ld_fail(l, "section %s: bytes [%u, %llu) beyond end of file (%zu)", name, s->offset,
				(unsigned long long)s->offset + s->size, len);
		if (s->size > 0 && s->offset < tabend)
			return ld_fail(l, "section %s: offset %u overlaps the header or section table (ends at %llu)",
				name, s->offset, (unsigned long long)tabend);
		if ((uint64_t)s->count * rv_secinfo[s->id].rsize != s->size)
			return ld_fail(l, "section %s: size %u is not count %u x record size %zu", name, s->size,
				s->count, rv_secinfo[s->id].rsize);
		byid[s->id] = s;
		if (s->size == 0)
			continue;
		/* Insertion sort by offset: at most RV_SEC_MAX entries. */
		for (j = nsorted++; j > 0 && sorted[j - 1]->offset > s->offset; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = s;
	}
	for (i = 1; i < nsorted; i++) {
		const struct rv_rbc_section *a = sorted[i - 1], *b = sorted[i];

		if ((uint64_t)a->offset + a->size > b->offset)
			return ld_fail(l, "sections %s [%u, %llu) and %s [%u, %llu) overlap",
				rv_secinfo[a->id].name, a->offset, (unsigned long long)a->offset + a->size,
				rv_secinfo[b->id].name, b->offset, (unsigned long long)b->offset + b->size);
	}
	for (i = 1; i <= RV_SEC_MAX; i++)
		ld_set(p, i, byid[i] ? img + byid[i]->offset : img, byid[i] ? byid[i]->count : 0);
	return 0;
}

/* ---- pools: strings, constants, fields -------------------------------- */

/* SEGS, FILES and BUILTINS: names inside STRS; builtins resolved by name. */
static int
ld_names(struct rv_ld *l)
{
	struct rv_prog *p = l->p;
	char nb[48];
	uint32_t i;

	for (i = 0; i < p->nsegs; i++)
		if (!ld_str_ok(p, p->segs[i]))
			return ld_fail(l, "section SEGS: segment %u: string [%u, +%u) outside STRS (%u bytes)", i,
				p->segs[i].off, p->segs[i].len, p->nstrs);
	for (i = 0; i < p->nfiles; i++)
		if (!ld_str_ok(p, p->files[i]))
			return ld_fail(l, "section FILES: file %u: string [%u, +%u) outside STRS (%u bytes)", i,
				p->files[i].off, p->files[i].len, p->nstrs);
	if (p->nbuiltins > l->idcap)
		return ld_fail(l, "section BUILTINS: count changed while the image was being copied");
	for (i = 0; i < p->nbuiltins; i++) {
		struct rv_str s = p->builtins[i];
		int id;

		if (!ld_str_ok(p, s))
			return ld_fail(l, "section BUILTINS: builtin %u: string [%u, +%u) outside STRS (%u bytes)",
				i, s.off, s.len, p->nstrs);
		id = rb_lookup(p->strs + s.off, s.len);
		if (id < 0)
			return ld_fail(l, "section BUILTINS: builtin %u: unknown builtin '%s'", i, ld_name(p, s, nb));
		l->ids[i] = id;
	}
	p->builtin_ids = l->ids;
	return 0;
}

/* Says whether k is RV_NONE or a NUM constant. */
static int
ld_bound_ok(const struct rv_prog *p, uint64_t k)
{
	return k == RV_NONE || (k < p->nconsts && p->consts[k].kind == RV_K_NUM);
}

/* SETITEMS and CONSTS: every constant well-formed for its kind. */
static int
ld_consts(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	uint32_t i;

	for (i = 0; i < p->nsetitems; i++) {
		uint32_t k = p->setitems[i];

		if (k >= p->nconsts)
			return ld_fail(l, "section SETITEMS: item %u is constant %u, beyond end (%u)", i, k,
				p->nconsts);
		if (p->consts[k].kind == RV_K_SET)
			return ld_fail(l, "section SETITEMS: item %u is constant %u, itself a set", i, k);
	}
	for (i = 0; i < p->nconsts; i++) {
		const struct rv_const *c = &p->consts[i];
		unsigned nbytes, j;
		double d;

		if (c->kind >= RV_K_NKINDS)
			return ld_fail(l, "section CONSTS: constant %u: unknown kind %u", i, c->kind);
		if ((c->flags & ~rv_kindflags[c->kind]) != 0)
			return ld_fail(l, "section CONSTS: constant %u (%s): unknown flags 0x%x", i,
				rv_kind_names[c->kind], c->flags);
		if (c->aux != 0 && c->kind != RV_K_CIDR)
			return ld_fail(l, "section CONSTS: constant %u (%s): aux %u must be 0", i,
				rv_kind_names[c->kind], c->aux);
		switch (c->kind) {
		case RV_K_BOOL:
			if (c->a > 1)
				return ld_fail(l, "section CONSTS: constant %u (bool): value %u is not 0 or 1", i, c->a);
			break;
		case RV_K_NUM:
			if (isnan(rv_bits_double(c->b)))
				return ld_fail(l, "section CONSTS: constant %u (num): NaN", i);
			break;
		case RV_K_RATE:
			d = rv_bits_double(c->b);
			if (!(d >= 0 && d <= DBL_MAX))
				return ld_fail(l, "section CONSTS: constant %u (rate): not a finite rate >= 0", i);
			break;
		case RV_K_STR:
		case RV_K_REGEX:
			if (c->a > p->nstrs || c->b > p->nstrs - c->a)
				return ld_fail(l, "section CONSTS: constant %u (%s): string [%u, +%llu) outside STRS (%u bytes)",
					i, rv_kind_names[c->kind], c->a, (unsigned long long)c->b, p->nstrs);
			break;
		case RV_K_SET:
			if (c->a > p->nsetitems || c->b > p->nsetitems - c->a)
				return ld_fail(l, "section CONSTS: constant %u (set): items [%u, +%llu) outside SETITEMS (%u)",
					i, c->a, (unsigned long long)c->b, p->nsetitems);
			break;
		case RV_K_RANGE:
			if (!ld_bound_ok(p, c->a) || !ld_bound_ok(p, c->b))
				return ld_fail(l, "section CONSTS: constant %u (range): bounds %u, %llu are not "
					"num constants or none", i, c->a, (unsigned long long)c->b);
			break;
		case RV_K_CIDR:
			if (c->aux != 4 && c->aux != 6)
				return ld_fail(l, "section CONSTS: constant %u (cidr): address family %u is not 4 or 6", i,
					c->aux);
			nbytes = c->aux == 4 ? 4 : 16;
			if (c->a > nbytes * 8)
				return ld_fail(l, "section CONSTS: constant %u (cidr): prefix /%u longer than %u bits", i,
					c->a, nbytes * 8);
			for (j = 0; j < 16; j++) {
				unsigned keep = j >= nbytes ? 0 : c->a >= 8 * (j + 1) ? 8 : c->a > 8 * j ? c->a - 8 * j : 0;

				if ((c->addr[j] & (uint8_t)~(0xff00u >> keep)) != 0)
					return ld_fail(l, "section CONSTS: constant %u (cidr): address bits set beyond /%u", i,
						c->a);
			}
			break;
		default:
			break;
		}
	}
	return 0;
}

/* FIELDS: segment runs, where, declared type, display name and its hash. */
static int
ld_fields(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	uint64_t hashed = 0;
	uint32_t i;

	for (i = 0; i < p->nfields; i++) {
		const struct rv_field *f = &p->fields[i];

		if (f->nseg == 0 || f->seg > p->nsegs || f->nseg > p->nsegs - f->seg)
			return ld_fail(l, "section FIELDS: field %u: segments [%u, +%u) outside SEGS (%u)", i, f->seg,
				f->nseg, p->nsegs);
		if (f->where > RV_FW_CAPTURE)
			return ld_fail(l, "section FIELDS: field %u: unknown where %u", i, f->where);
		if (!ld_vtype_ok(f->type))
			return ld_fail(l, "section FIELDS: field %u: unknown type 0x%x", i, f->type);
		if (!ld_str_ok(p, f->name))
			return ld_fail(l, "section FIELDS: field %u: name [%u, +%u) outside STRS (%u bytes)", i,
				f->name.off, f->name.len, p->nstrs);
		/* Names may overlap in STRS, so hashing each could cost nfields x
		 * nstrs. A compiler interns names (a name is shared at most by a
		 * payload and a meta field), so 4x the file is plenty. */
		hashed += f->name.len;
		if (hashed > 4 * (uint64_t)p->size)
			return ld_fail(l, "section FIELDS: field %u: names total more than 4x the file size", i);
		if (XXH32(p->strs + f->name.off, f->name.len, 0) != f->hash)
			return ld_fail(l, "section FIELDS: field %u: hash 0x%08x does not match its name", i, f->hash);
	}
	return 0;
}

/* CFIELDS, CONTRACTS, TYPES: each type owns a run of its own contracts. */
static int
ld_types(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	uint64_t claimed = 0;
	uint32_t i, j;

	for (i = 0; i < p->ncfields; i++) {
		const struct rv_cfield *cf = &p->cfields[i];

		if (!ld_str_ok(p, cf->path))
			return ld_fail(l, "section CFIELDS: field %u: path outside STRS", i);
		if (!ld_vtype_ok(cf->type))
			return ld_fail(l, "section CFIELDS: field %u: unknown type 0x%x", i, cf->type);
		if ((cf->flags & ~RV_CF_OPTIONAL) != 0)
			return ld_fail(l, "section CFIELDS: field %u: unknown flags 0x%x", i, cf->flags);
		if (cf->enum_set != RV_NONE &&
		    (cf->enum_set >= p->nconsts || p->consts[cf->enum_set].kind != RV_K_SET))
			return ld_fail(l, "section CFIELDS: field %u: enum %u is not a set constant", i, cf->enum_set);
	}
	for (i = 0; i < p->ncontracts; i++) {
		const struct rv_contract *c = &p->contracts[i];

		if (c->type >= p->ntypes)
			return ld_fail(l, "section CONTRACTS: contract %u: type %u beyond end (%u)", i, c->type,
				p->ntypes);
		if (c->cfield > p->ncfields || c->ncfield > p->ncfields - c->cfield)
			return ld_fail(l, "section CONTRACTS: contract %u: fields [%u, +%u) outside CFIELDS (%u)", i,
				c->cfield, c->ncfield, p->ncfields);
	}
	for (i = 0; i < p->ntypes; i++) {
		const struct rv_type *t = &p->types[i];

		if (!ld_str_ok(p, t->name))
			return ld_fail(l, "section TYPES: type %u: name outside STRS", i);
		if (t->ncontract == 0 || t->contract > p->ncontracts || t->ncontract > p->ncontracts - t->contract)
			return ld_fail(l, "section TYPES: type %u: contracts [%u, +%u) empty or outside CONTRACTS (%u)",
				i, t->contract, t->ncontract, p->ncontracts);
		/* Contracts name their one type, so runs cannot overlap: the sum
		 * bounds the loop below by ncontracts. */
		claimed += t->ncontract;
		if (claimed > p->ncontracts)
			return ld_fail(l, "section TYPES: type %u: contract runs overlap", i);
		for (j = t->contract; j < t->contract + t->ncontract; j++)
			if (p->contracts[j].type != i)
				return ld_fail(l, "section TYPES: type %u: contract %u belongs to type %u", i, j,
					p->contracts[j].type);
	}
	return 0;
}

/* DESTS and TABLES. */
static int
ld_dests_tables(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	uint32_t i;

	for (i = 0; i < p->ndests; i++) {
		const struct rv_dest *d = &p->dests[i];

		if (!ld_str_ok(p, d->name))
			return ld_fail(l, "section DESTS: destination %u: name outside STRS", i);
		if (d->dead_letter != RV_NONE && (d->dead_letter >= p->ndests || d->dead_letter == i))
			return ld_fail(l, "section DESTS: destination %u: dead_letter %u is itself or beyond end (%u)",
				i, d->dead_letter, p->ndests);
		if (d->priority > 9)
			return ld_fail(l, "section DESTS: destination %u: priority %u > 9", i, d->priority);
	}
	for (i = 0; i < p->ntables; i++) {
		const struct rv_table *t = &p->tables[i];

		if (!ld_str_ok(p, t->name))
			return ld_fail(l, "section TABLES: table %u: name outside STRS", i);
		if (!ld_vtype_ok(t->key_type) || !ld_vtype_ok(t->value_type))
			return ld_fail(l, "section TABLES: table %u: unknown key or value type", i);
		if (t->from_type >= p->ntypes || (t->del_type != RV_NONE && t->del_type >= p->ntypes))
			return ld_fail(l, "section TABLES: table %u: event type beyond end (%u)", i, p->ntypes);
		if (t->key_field >= p->nfields || t->value_field >= p->nfields ||
		    (t->del_key_field != RV_NONE && t->del_key_field >= p->nfields))
			return ld_fail(l, "section TABLES: table %u: field beyond end (%u)", i, p->nfields);
		if ((t->del_type == RV_NONE) != (t->del_key_field == RV_NONE))
			return ld_fail(l, "section TABLES: table %u: delete type and delete key must come together", i);
	}
	return 0;
}

/* ---- code ------------------------------------------------------------- */

/* As ld_fail, prefixed with "section CODE: instruction PC (OP): ". */
static int ld_cfail(struct rv_ld *l, uint32_t pc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
ld_cfail(struct rv_ld *l, uint32_t pc, const char *fmt, ...)
{
	unsigned op = RV_GET_OP(l->p->code[pc]);
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (op < RV_NUM_OPS)
		return ld_fail(l, "section CODE: instruction %u (%s): %s", pc, rv_opinfo[op].name, msg);
	return ld_fail(l, "section CODE: instruction %u: %s", pc, msg);
}

/* Returns the absolute target of the jump insn at pc (may be out of range). */
int64_t
rv_jump_target(uint32_t insn, uint32_t pc)
{
	int off = rv_opinfo[RV_GET_OP(insn)].fmt == RV_FMT_sJ ? RV_GET_sJ(insn) : RV_GET_sBx(insn);

	return (int64_t)pc + 1 + off;
}

/* One instruction on its own: opcode, unused bits, operands, jump target. */
static int
ld_insn(struct rv_ld *l, uint32_t pc)
{
	const struct rv_prog *p = l->p;
	uint32_t i = p->code[pc], nx;
	unsigned op = RV_GET_OP(i), a = RV_GET_A(i), b = RV_GET_B(i), c = RV_GET_C(i), arity;
	const struct rv_opinfo *oi;
	int64_t t;

	if (op >= RV_NUM_OPS)
		return ld_cfail(l, pc, "unknown opcode %u", op);
	oi = &rv_opinfo[op];
	if ((oi->fmt == RV_FMT_N && (i >> 8) != 0) || (oi->fmt == RV_FMT_A && (i >> 16) != 0) ||
	    (oi->fmt == RV_FMT_AB && (i >> 24) != 0))
		return ld_cfail(l, pc, "unused operand bits set (0x%08x)", i);
	switch (oi->fmt) {
	case RV_FMT_A: case RV_FMT_AB: case RV_FMT_ABC: case RV_FMT_ABx: case RV_FMT_AsBx:
		if (a >= p->max_regs)
			return ld_cfail(l, pc, "register A %u >= max_regs %u", a, p->max_regs);
		break;
	default:
		break;
	}
	if ((oi->flags & RV_OPF_READ_B) && b >= p->max_regs)
		return ld_cfail(l, pc, "register B %u >= max_regs %u", b, p->max_regs);
	if ((oi->flags & RV_OPF_READ_C) && c >= p->max_regs)
		return ld_cfail(l, pc, "register C %u >= max_regs %u", c, p->max_regs);
	switch (op) {
	case RV_OP_LOADK:
		if (RV_GET_Bx(i) >= p->nconsts)
			return ld_cfail(l, pc, "constant %u beyond end (%u)", RV_GET_Bx(i), p->nconsts);
		break;
	case RV_OP_LOADF:
		if (RV_GET_Bx(i) >= p->nfields)
			return ld_cfail(l, pc, "field %u beyond end (%u)", RV_GET_Bx(i), p->nfields);
		break;
	case RV_OP_LOADKX:
	case RV_OP_LOADFX:
		if (pc + 1 >= p->ncode || RV_GET_OP(p->code[pc + 1]) != RV_OP_EXTRAARG)
			return ld_cfail(l, pc, "not followed by EXTRAARG");
		nx = RV_GET_Ax(p->code[pc + 1]);
		if (op == RV_OP_LOADKX && nx >= p->nconsts)
			return ld_cfail(l, pc, "constant %u beyond end (%u)", nx, p->nconsts);
		if (op == RV_OP_LOADFX && nx >= p->nfields)
			return ld_cfail(l, pc, "field %u beyond end (%u)", nx, p->nfields);
		break;
	case RV_OP_EXTRAARG:
		/* The previous word was checked first, so its opcode is known. */
		if (pc == 0 || !(rv_opinfo[RV_GET_OP(p->code[pc - 1])].flags & RV_OPF_KX))
			return ld_cfail(l, pc, "not preceded by LOADKX or LOADFX");
		break;
	case RV_OP_CALL:
		if (b >= p->nbuiltins)
			return ld_cfail(l, pc, "builtin %u beyond end (%u)", b, p->nbuiltins);
		arity = rb_builtins[p->builtin_ids[b]].arity;
		if (arity > 0 && c + arity > p->max_regs)
			return ld_cfail(l, pc, "arguments r%u..r%u beyond max_regs %u", c, c + arity - 1, p->max_regs);
		break;
	case RV_OP_MKLIST:
		if (b + c > p->max_regs)
			return ld_cfail(l, pc, "list elements r%u..r%u beyond max_regs %u", b, b + c - 1, p->max_regs);
		break;
	case RV_OP_TGET:
		if (b >= p->ntables)
			return ld_cfail(l, pc, "table %u beyond end (%u)", b, p->ntables);
		break;
	case RV_OP_AGG:
		if (b >= RV_MAX_AGGS)
			return ld_cfail(l, pc, "aggregate %u beyond %u", b, RV_MAX_AGGS);
		break;
	default:
		break;
	}
	if (oi->flags & RV_OPF_JUMP) {
		/* Offsets count from the next instruction and must be positive. */
		t = rv_jump_target(i, pc);
		if (t - ((int64_t)pc + 1) <= 0)
			return ld_cfail(l, pc, "jump offset %lld is not forward", (long long)(t - ((int64_t)pc + 1)));
		if (t >= p->ncode)
			return ld_cfail(l, pc, "jump target %lld beyond end of code (%u)", (long long)t, p->ncode);
		if (RV_GET_OP(p->code[t]) == RV_OP_EXTRAARG)
			return ld_cfail(l, pc, "jump target %lld is the EXTRAARG of another instruction", (long long)t);
	}
	return 0;
}

/* ---- rules, actions, lines ------------------------------------------- */

/* ACTIONS: each on its own, then EMIT groups (EMIT + its b EMITF) whole. */
static int
ld_actions(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	uint32_t i, j;

	for (i = 0; i < p->nactions; i++) {
		const struct rv_action *ac = &p->actions[i];

		switch (ac->kind) {
		case RV_A_ROUTE:
			if (ac->a >= p->ndests)
				return ld_fail(l, "section ACTIONS: action %u (route): destination %u beyond end (%u)", i,
					ac->a, p->ndests);
			break;
		case RV_A_SET:
		case RV_A_EMITF:
			if (ac->a >= p->nfields)
				return ld_fail(l, "section ACTIONS: action %u (%s): field %u beyond end (%u)", i,
					rv_akindname[ac->kind], ac->a, p->nfields);
			if (ac->b >= p->ncode)
				return ld_fail(l, "section ACTIONS: action %u (%s): value block %u beyond end of code (%u)",
					i, rv_akindname[ac->kind], ac->b, p->ncode);
			break;
		case RV_A_EMIT:
			if (ac->a >= p->ncontracts)
				return ld_fail(l, "section ACTIONS: action %u (emit): contract %u beyond end (%u)", i, ac->a,
					p->ncontracts);
			break;
		default:
			return ld_fail(l, "section ACTIONS: action %u: unknown kind %u", i, ac->kind);
		}
	}
	for (i = 0; i < p->nactions; i++) {
		if (p->actions[i].kind == RV_A_EMITF)
			return ld_fail(l, "section ACTIONS: action %u (emitf) does not follow its emit", i);
		if (p->actions[i].kind != RV_A_EMIT)
			continue;
		if (p->actions[i].b > p->nactions - i - 1)
			return ld_fail(l, "section ACTIONS: action %u (emit): %u fields run beyond end (%u)", i,
				p->actions[i].b, p->nactions);
		for (j = 1; j <= p->actions[i].b; j++)
			if (p->actions[i + j].kind != RV_A_EMITF)
				return ld_fail(l, "section ACTIONS: action %u (emit): action %u is not an emitf", i, i + j);
		i += p->actions[i].b;
	}
	return 0;
}

/* RTYPES and RULES. */
static int
ld_rules(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	char nb[48];
	uint32_t i, j, end, next_rtype = 0, next_action = 0;

	for (i = 0; i < p->nrtypes; i++)
		if (p->rtypes[i] >= p->ncontracts)
			return ld_fail(l, "section RTYPES: entry %u: contract %u beyond end (%u)", i, p->rtypes[i],
				p->ncontracts);
	for (i = 0; i < p->nrules; i++) {
		const struct rv_rule *r = &p->rules[i];
		const char *nm;

		if (!ld_str_ok(p, r->name))
			return ld_fail(l, "section RULES: rule %u: name outside STRS", i);
		nm = ld_name(p, r->name, nb);
		if ((r->flags & ~(RV_RF_OTHERWISE | RV_RF_TRANSFORM | RV_RF_ROUTES)) != 0)
			return ld_fail(l, "section RULES: rule %u '%s': unknown flags 0x%x", i, nm, r->flags);
		if (r->cond_pc >= p->ncode)
			return ld_fail(l, "section RULES: rule %u '%s': condition block %u beyond end of code (%u)", i,
				nm, r->cond_pc, p->ncode);
		if (r->nrtype == 0)
			return ld_fail(l, "section RULES: rule %u '%s': listens on no event type", i, nm);
		if (r->rtype > p->nrtypes || r->nrtype > p->nrtypes - r->rtype)
			return ld_fail(l, "section RULES: rule %u '%s': types [%u, +%u) outside RTYPES (%u)", i, nm,
				r->rtype, r->nrtype, p->nrtypes);
		/* the rules' ranges partition RTYPES in rule order, and each lists a
		 * contract once (ascending): the runtime sizes its lists from that */
		if (r->rtype != next_rtype)
			return ld_fail(l, "section RULES: rule %u '%s': types start at %u, not where the previous "
				"rule's end (%u)", i, nm, r->rtype, next_rtype);
		next_rtype = r->rtype + r->nrtype;
		for (j = r->rtype + 1; j < next_rtype; j++)
			if (p->rtypes[j] <= p->rtypes[j - 1])
				return ld_fail(l, "section RULES: rule %u '%s': contracts not in ascending order", i, nm);
		if (r->action > p->nactions || r->naction > p->nactions - r->action)
			return ld_fail(l, "section RULES: rule %u '%s': actions [%u, +%u) outside ACTIONS (%u)", i, nm,
				r->action, r->naction, p->nactions);
		/* actions too belong to one rule each, in rule order (the runtime
		 * sizes a decision's sets and emits by the number of actions) */
		if (r->action != next_action)
			return ld_fail(l, "section RULES: rule %u '%s': actions start at %u, not where the previous "
				"rule's end (%u)", i, nm, r->action, next_action);
		next_action = r->action + r->naction;
		/* Whole EMIT groups only: the run starts and ends at group edges. */
		end = r->action + r->naction;
		if (r->naction > 0 && (p->actions[r->action].kind == RV_A_EMITF ||
		    (end < p->nactions && p->actions[end].kind == RV_A_EMITF)))
			return ld_fail(l, "section RULES: rule %u '%s': actions [%u, +%u) split an emit group", i, nm,
				r->action, r->naction);
		if (p->nfiles > 0 && r->file >= p->nfiles)
			return ld_fail(l, "section RULES: rule %u '%s': file %u beyond end (%u)", i, nm, r->file,
				p->nfiles);
		if (r->span_start > r->span_end)
			return ld_fail(l, "section RULES: rule %u '%s': span [%u, %u) reversed", i, nm, r->span_start,
				r->span_end);
	}
	if (next_rtype != p->nrtypes)
		return ld_fail(l, "section RTYPES: %u entries, but the rules use %u", p->nrtypes, next_rtype);
	if (next_action != p->nactions)
		return ld_fail(l, "section ACTIONS: %u entries, but the rules use %u", p->nactions, next_action);
	return 0;
}

/* A list [first, first + n * width) inside TREFS? */
static int
ld_trefs_ok(const struct rv_prog *p, uint32_t first, uint32_t n, unsigned width)
{
	return first <= p->ntrefs && (uint64_t)n * width <= p->ntrefs - first;
}

/*
 * TEMPORAL: at most one record per routing rule, sorted by rule; flags
 * consistent with the values they need; every list inside TREFS with its
 * entries in range (aggregate kinds, fields, destinations).
 */
static int
ld_temporal(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	const unsigned known = RV_TF_WINDOW | RV_TF_THROTTLE | RV_TF_ELSE | RV_TF_DEDUP | RV_TF_BACKPRESSURE
		| RV_TF_SEQ | RV_TF_ABSENT | RV_TF_TUMBLE;
	uint32_t nseq = 0;
	uint32_t i, j;

	for (i = 0; i < p->ntemporal; i++) {
		const struct rv_temporal *t = &p->temporal[i];

		if (t->rule >= p->nrules)
			return ld_fail(l, "section TEMPORAL: entry %u: rule %u beyond end (%u)", i, t->rule, p->nrules);
		if (i > 0 && t->rule <= p->temporal[i - 1].rule)
			return ld_fail(l, "section TEMPORAL: entry %u: rule %u not after %u (sorted, once each)", i,
				t->rule, p->temporal[i - 1].rule);
		if (p->rules[t->rule].flags & (RV_RF_OTHERWISE | RV_RF_TRANSFORM))
			return ld_fail(l, "section TEMPORAL: entry %u: rule %u is not a routing rule", i, t->rule);
		if ((t->flags & ~known) != 0)
			return ld_fail(l, "section TEMPORAL: entry %u: unknown flags 0x%x", i, t->flags);
		if (t->flags & (RV_TF_SEQ | RV_TF_ABSENT | RV_TF_TUMBLE)) {
			/* a sequence, an absence or a tumbling window: its own period, nothing else */
			unsigned kind = t->flags & (RV_TF_SEQ | RV_TF_ABSENT | RV_TF_TUMBLE);

			if ((t->flags & ~kind) != 0 || (kind & (kind - 1)) != 0 || t->within_ms == 0
			    || (kind != RV_TF_TUMBLE && (t->naggs != 0 || t->agg_pc != RV_NONE)))
				return ld_fail(l, "section TEMPORAL: entry %u: a sequence, absence or tumbling window "
					"with other clauses", i);
			if (nseq >= p->ntseq || p->tseq[nseq].temporal != i
			    || (kind == RV_TF_TUMBLE) != (p->tseq[nseq].nbtypes == 0))
				return ld_fail(l, "section TEMPORAL: entry %u: no TSEQ record (in order)", i);
			for (j = 0; kind == RV_TF_TUMBLE && j < t->naggs && ld_trefs_ok(p, t->aggs, t->naggs, 2); j++)
				if (p->trefs[t->aggs + 2 * j] == RV_AGGK_DISTINCT)
					return ld_fail(l, "section TEMPORAL: entry %u: distinct() over a tumbling window", i);
			nseq++;
		}
		if ((t->flags & (RV_TF_WINDOW | RV_TF_SEQ | RV_TF_ABSENT | RV_TF_TUMBLE)) ? t->within_ms == 0
		    : (t->naggs != 0 || t->agg_pc != RV_NONE))
			return ld_fail(l, "section TEMPORAL: entry %u: window and aggregates disagree", i);
		if ((t->flags & RV_TF_THROTTLE) && (t->throttle_n == 0 || t->throttle_ms == 0))
			return ld_fail(l, "section TEMPORAL: entry %u: throttle of 0", i);
		if ((t->flags & RV_TF_ELSE) ? !(t->flags & RV_TF_THROTTLE) || t->nelse == 0 : t->nelse != 0)
			return ld_fail(l, "section TEMPORAL: entry %u: else destinations without a throttle", i);
		if ((t->flags & RV_TF_BACKPRESSURE) && !(t->flags & RV_TF_WINDOW))
			return ld_fail(l, "section TEMPORAL: entry %u: backpressure without a window", i);
		if ((t->flags & RV_TF_DEDUP) ? t->dedup_ms == 0 : t->ndedup != 0)
			return ld_fail(l, "section TEMPORAL: entry %u: dedup keys without a dedup window", i);
		if (t->naggs > RV_MAX_AGGS)
			return ld_fail(l, "section TEMPORAL: entry %u: %u aggregates, more than %u", i, t->naggs,
				RV_MAX_AGGS);
		if (t->agg_pc != RV_NONE && t->agg_pc >= p->ncode)
			return ld_fail(l, "section TEMPORAL: entry %u: aggregate block %u beyond end of code (%u)", i,
				t->agg_pc, p->ncode);
		if (!ld_trefs_ok(p, t->aggs, t->naggs, 2) || !ld_trefs_ok(p, t->by, t->nby, 1)
		    || !ld_trefs_ok(p, t->elses, t->nelse, 1) || !ld_trefs_ok(p, t->dedup, t->ndedup, 1))
			return ld_fail(l, "section TEMPORAL: entry %u: a list runs outside TREFS (%u)", i, p->ntrefs);
		for (j = 0; j < t->naggs; j++) {
			uint32_t kind = p->trefs[t->aggs + 2 * j], f = p->trefs[t->aggs + 2 * j + 1];
			int noarg = kind == RV_AGGK_COUNT || kind == RV_AGGK_RATE;

			if (kind >= RV_AGGK_N || (noarg ? f != RV_NONE : f >= p->nfields))
				return ld_fail(l, "section TEMPORAL: entry %u: aggregate %u: kind %u, field %u", i, j, kind, f);
		}
		for (j = 0; j < t->nby; j++)
			if (p->trefs[t->by + j] >= p->nfields)
				return ld_fail(l, "section TEMPORAL: entry %u: key field %u beyond end", i, p->trefs[t->by + j]);
		for (j = 0; j < t->ndedup; j++)
			if (p->trefs[t->dedup + j] >= p->nfields)
				return ld_fail(l, "section TEMPORAL: entry %u: dedup field %u beyond end", i,
					p->trefs[t->dedup + j]);
		for (j = 0; j < t->nelse; j++)
			if (p->trefs[t->elses + j] >= p->ndests)
				return ld_fail(l, "section TEMPORAL: entry %u: else destination %u beyond end", i,
					p->trefs[t->elses + j]);
	}
	if (nseq != p->ntseq)
		return ld_fail(l, "section TSEQ: %u records for %u sequences and absences", p->ntseq, nseq);
	for (i = 0; i < p->nttime; i++) {
		const struct rv_ttime *tt = &p->ttime[i];

		if (tt->temporal >= p->ntemporal || (i > 0 && tt->temporal <= p->ttime[i - 1].temporal))
			return ld_fail(l, "section TTIME: entry %u: record %u out of range or order", i, tt->temporal);
		if (p->temporal[tt->temporal].flags & (RV_TF_ABSENT | RV_TF_TUMBLE))
			return ld_fail(l, "section TTIME: entry %u: event time on an absence or tumbling window", i);
		if (tt->field >= p->nfields || p->fields[tt->field].where == RV_FW_CAPTURE)
			return ld_fail(l, "section TTIME: entry %u: field %u is not an event field", i, tt->field);
	}
	for (i = 0; i < p->ntseq; i++) {
		const struct rv_tseq *q = &p->tseq[i];

		if ((q->flags & ~RV_SQ_KEEP_EVENT) != 0)
			return ld_fail(l, "section TSEQ: entry %u: unknown flags 0x%x", i, q->flags);
		if (q->bcond_pc >= p->ncode)
			return ld_fail(l, "section TSEQ: entry %u: condition block %u beyond end of code (%u)", i,
				q->bcond_pc, p->ncode);
		if (!ld_trefs_ok(p, q->btypes, q->nbtypes, 1) || !ld_trefs_ok(p, q->akeys, q->nkeys, 1)
		    || !ld_trefs_ok(p, q->bkeys, q->nkeys, 1) || !ld_trefs_ok(p, q->caps, q->ncaps, 2))
			return ld_fail(l, "section TSEQ: entry %u: a list runs outside TREFS (%u)", i, p->ntrefs);
		for (j = 0; j < q->nbtypes; j++)
			if (p->trefs[q->btypes + j] >= p->ncontracts
			    || (j > 0 && p->trefs[q->btypes + j] <= p->trefs[q->btypes + j - 1]))
				return ld_fail(l, "section TSEQ: entry %u: contract list not ascending inside CONTRACTS", i);
		for (j = 0; j < q->nkeys; j++)
			if (p->trefs[q->akeys + j] >= p->nfields || p->trefs[q->bkeys + j] >= p->nfields
			    || p->fields[p->trefs[q->akeys + j]].where == RV_FW_CAPTURE
			    || p->fields[p->trefs[q->bkeys + j]].where == RV_FW_CAPTURE)
				return ld_fail(l, "section TSEQ: entry %u: key field %u is not an event field", i, j);
		for (j = 0; j < q->ncaps; j++) {
			uint32_t src = p->trefs[q->caps + 2 * j], dst = p->trefs[q->caps + 2 * j + 1];

			if (src >= p->nfields || dst >= p->nfields || p->fields[src].where == RV_FW_CAPTURE
			    || p->fields[dst].where != RV_FW_CAPTURE)
				return ld_fail(l, "section TSEQ: entry %u: capture %u: fields %u -> %u", i, j, src, dst);
		}
	}
	return 0;
}

/* LINES: sorted by pc, inside CODE, files in range. */
static int
ld_lines(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	uint32_t i;

	for (i = 0; i < p->nlines; i++) {
		const struct rv_line *ln = &p->lines[i];

		if (ln->pc >= p->ncode)
			return ld_fail(l, "section LINES: entry %u: pc %u beyond end of code (%u)", i, ln->pc, p->ncode);
		if (i > 0 && ln->pc < p->lines[i - 1].pc)
			return ld_fail(l, "section LINES: entry %u: pc %u not sorted (after %u)", i, ln->pc,
				p->lines[i - 1].pc);
		if (ln->file >= p->nfiles)
			return ld_fail(l, "section LINES: entry %u: file %u beyond end (%u)", i, ln->file, p->nfiles);
	}
	return 0;
}

/* ---- block termination ------------------------------------------------ */

/* ends[] of q, or "off the end" past CODE. */
static unsigned
ld_end_at(const unsigned char *ends, uint32_t ncode, int64_t q)
{
	return q < ncode ? ends[q] : RV_END_OFF;
}

/*
 * Checks that every path from entry ends only in want (an RV_END_* bit).
 * what names the block for the message. On failure follows one offending
 * path (pc grows at every step, so this ends) to say where it goes wrong.
 */
static int
ld_block(struct rv_ld *l, const unsigned char *ends, uint32_t entry, unsigned want,
	const char *what)
{
	const struct rv_prog *p = l->p;
	unsigned bad = ends[entry] & ~want, bit;
	const char *must = want == RV_END_COND ? "must end in MATCH or MISS" : "must end in YIELD";
	uint32_t q = entry;

	if (RV_GET_OP(p->code[entry]) == RV_OP_EXTRAARG)
		return ld_fail(l, "%s at %u starts on an EXTRAARG", what, entry);
	if (bad == 0)
		return 0;
	bit = bad & RV_END_OFF ? RV_END_OFF : bad & RV_END_YIELD ? RV_END_YIELD : RV_END_COND;
	for (;;) {
		uint32_t i = p->code[q];
		const struct rv_opinfo *oi = &rv_opinfo[RV_GET_OP(i)];
		int64_t nq;

		if (oi->flags & RV_OPF_TERM)
			return ld_fail(l, "%s at %u reaches %s at %u (%s)", what, entry, oi->name, q, must);
		if ((oi->flags & RV_OPF_JUMP) && (ends[rv_jump_target(i, q)] & bit)) {
			q = (uint32_t)rv_jump_target(i, q);
			continue;
		}
		nq = (int64_t)q + ((oi->flags & RV_OPF_KX) ? 2 : 1);
		if (nq >= p->ncode)
			return ld_fail(l, "%s at %u runs off the end of code after instruction %u (block without terminator)",
				what, entry, q);
		q = (uint32_t)nq;
	}
}

/*
 * AGG reads the window of the rule whose aggregate block runs: it may only
 * be reached from aggregate blocks, with B below the aggregate count of
 * every rule whose block reaches it. Jumps go forward only, so one pass in
 * pc order propagates, from each block entry, "reachable from a block that
 * is not an aggregate block" and "the fewest aggregates of an aggregate
 * block reaching here".
 */
static int
ld_aggs(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	uint8_t *plain;
	uint32_t *least, pc, i;
	int rc = 0;

	if (p->ncode == 0)
		return 0;
	if (p->ntemporal == 0) { /* no aggregate block: no AGG anywhere (and no allocation) */
		for (pc = 0; pc < p->ncode; pc++)
			if (RV_GET_OP(p->code[pc]) == RV_OP_AGG
			    && !(pc > 0 && (rv_opinfo[RV_GET_OP(p->code[pc - 1])].flags & RV_OPF_KX)))
				return ld_cfail(l, pc, "AGG outside an aggregate block");
		return 0;
	}
	plain = ru_malloc(p->ncode);
	least = ru_malloc((size_t)p->ncode * sizeof *least);
	if (plain == NULL || least == NULL) {
		ru_free(plain);
		ru_free(least);
		return ld_fail(l, "out of memory");
	}
	memset(plain, 0, p->ncode);
	memset(least, 0xff, (size_t)p->ncode * sizeof *least);
	for (i = 0; i < p->nrules; i++)
		plain[p->rules[i].cond_pc] = 1;
	for (i = 0; i < p->nactions; i++)
		if (p->actions[i].kind == RV_A_SET || p->actions[i].kind == RV_A_EMITF)
			plain[p->actions[i].b] = 1;
	for (i = 0; i < p->ntseq; i++)
		plain[p->tseq[i].bcond_pc] = 1;
	for (i = 0; i < p->ntemporal; i++)
		if (p->temporal[i].agg_pc != RV_NONE && p->temporal[i].naggs < least[p->temporal[i].agg_pc])
			least[p->temporal[i].agg_pc] = p->temporal[i].naggs;
	for (pc = 0; pc < p->ncode && rc == 0; pc++) {
		uint32_t insn = p->code[pc], next;
		const struct rv_opinfo *oi = &rv_opinfo[RV_GET_OP(insn)];

		if (RV_GET_OP(insn) == RV_OP_EXTRAARG)
			continue;
		if (RV_GET_OP(insn) == RV_OP_AGG && (plain[pc] || RV_GET_B(insn) >= least[pc])) {
			rc = ld_cfail(l, pc, "AGG %u outside an aggregate block of a rule with that many aggregates",
				RV_GET_B(insn));
			break;
		}
		if (oi->flags & RV_OPF_TERM)
			continue;
		if (oi->flags & RV_OPF_JUMP) {
			uint32_t t = (uint32_t)rv_jump_target(insn, pc);

			plain[t] |= plain[pc];
			if (least[pc] < least[t])
				least[t] = least[pc];
			if (oi->fmt == RV_FMT_sJ)
				continue;
		}
		next = pc + ((oi->flags & RV_OPF_KX) ? 2 : 1);
		if (next < p->ncode) {
			plain[next] |= plain[pc];
			if (least[pc] < least[next])
				least[next] = least[pc];
		}
	}
	ru_free(plain);
	ru_free(least);
	return rc;
}

/*
 * Computes, in one backward pass, where the paths from each instruction can
 * end, then checks every condition block and every value block.
 */
static int
ld_blocks(struct rv_ld *l)
{
	const struct rv_prog *p = l->p;
	unsigned char *ends;
	char what[128], nb[48];
	uint32_t pc, i;
	int rc = 0;

	if (p->ncode == 0)
		return 0; /* ld_rules / ld_actions refused any entry */
	ends = ru_malloc(p->ncode);
	if (ends == NULL)
		return ld_fail(l, "out of memory");
	for (pc = p->ncode; pc-- > 0;) {
		uint32_t insn = p->code[pc];
		unsigned op = RV_GET_OP(insn);
		const struct rv_opinfo *oi = &rv_opinfo[op];

		if (op == RV_OP_EXTRAARG)
			ends[pc] = 0;
		else if (oi->flags & RV_OPF_TERM)
			ends[pc] = op == RV_OP_YIELD ? RV_END_YIELD : RV_END_COND;
		else if (oi->flags & RV_OPF_JUMP)
			ends[pc] = (unsigned char)(ends[rv_jump_target(insn, pc)] |
				(oi->fmt == RV_FMT_sJ ? 0 : ld_end_at(ends, p->ncode, (int64_t)pc + 1)));
		else
			ends[pc] = (unsigned char)ld_end_at(ends, p->ncode,
				(int64_t)pc + ((oi->flags & RV_OPF_KX) ? 2 : 1));
	}
	for (i = 0; rc == 0 && i < p->nrules; i++) {
		snprintf(what, sizeof what, "section RULES: rule %u '%s': condition block", i,
			ld_name(p, p->rules[i].name, nb));
		rc = ld_block(l, ends, p->rules[i].cond_pc, RV_END_COND, what);
	}
	for (i = 0; rc == 0 && i < p->nactions; i++) {
		const struct rv_action *ac = &p->actions[i];

		if (ac->kind != RV_A_SET && ac->kind != RV_A_EMITF)
			continue;
		snprintf(what, sizeof what, "section ACTIONS: action %u (%s): value block", i,
			rv_akindname[ac->kind]);
		rc = ld_block(l, ends, ac->b, RV_END_YIELD, what);
	}
	for (i = 0; rc == 0 && i < p->ntemporal; i++) {
		if (p->temporal[i].agg_pc == RV_NONE)
			continue;
		snprintf(what, sizeof what, "section TEMPORAL: entry %u: aggregate block", i);
		rc = ld_block(l, ends, p->temporal[i].agg_pc, RV_END_COND, what);
	}
	for (i = 0; rc == 0 && i < p->ntseq; i++) {
		snprintf(what, sizeof what, "section TSEQ: entry %u: condition block", i);
		rc = ld_block(l, ends, p->tseq[i].bcond_pc, RV_END_COND, what);
	}
	ru_free(ends);
	if (rc == 0)
		rc = ld_aggs(l);
	return rc;
}

/* Everything after the header, in dependency order. */
static int
ld_validate(struct rv_ld *l)
{
	uint32_t pc;

	if (ld_header(l) < 0 || ld_names(l) < 0 || ld_consts(l) < 0 || ld_fields(l) < 0 ||
	    ld_types(l) < 0 || ld_dests_tables(l) < 0)
		return -1;
	for (pc = 0; pc < l->p->ncode; pc++)
		if (ld_insn(l, pc) < 0)
			return -1;
	if (ld_actions(l) < 0 || ld_rules(l) < 0 || ld_temporal(l) < 0 || ld_lines(l) < 0 || ld_blocks(l) < 0)
		return -1;
	return 0;
}

/* ---- public: load and free ------------------------------------------- */

#define RV_ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

/*
 * Layout of the one allocation:
 *
 *   +-----------------+ 0
 *   | struct rv_prog  |
 *   +-----------------+ RV_ALIGN8(sizeof(struct rv_prog))
 *   | image copy      |   len bytes, 8-aligned so records are aligned
 *   +-----------------+ + RV_ALIGN8(len)
 *   | int builtin_ids |   one per BUILTINS entry
 *   +-----------------+
 */
int
rv_prog_load(const void *buf, size_t len, struct rv_prog **out, char *err, size_t errlen)
{
	struct rv_ld l = { .err = err, .errlen = errlen };
	size_t head = RV_ALIGN8(sizeof(struct rv_prog)), total;
	uint32_t nb;
	struct rv_prog *p;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (buf == NULL && len > 0)
		return ld_fail(&l, "no buffer");
	if (len > ((size_t)-1 - head) / 2)
		return ld_fail(&l, "file too large (%zu bytes)", len);
	nb = ld_prescan_nbuiltins(buf, len);
	total = head + RV_ALIGN8(len) + (size_t)nb * sizeof(int);
	p = ru_malloc(total);
	if (p == NULL)
		return ld_fail(&l, "out of memory");
	memset(p, 0, sizeof *p);
	p->image = (unsigned char *)p + head;
	p->size = len;
	if (len > 0)
		memcpy((unsigned char *)p + head, buf, len);
	l.p = p;
	l.ids = (int *)((unsigned char *)p + head + RV_ALIGN8(len));
	l.idcap = nb;
	if (ld_validate(&l) < 0) {
		ru_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* Reads the whole file into a temporary buffer, then rv_prog_load. */
int
rv_prog_load_file(const char *path, struct rv_prog **out, char *err, size_t errlen)
{
	FILE *f;
	unsigned char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	char msg[256];
	int rc, e;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		e = errno;
		if (errlen > 0)
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			nbuf = cap > len ? ru_realloc(buf, cap) : NULL;
			if (nbuf == NULL) {
				ru_free(buf);
				fclose(f);
				if (errlen > 0)
					snprintf(err, errlen, "%s: out of memory", path);
				return -1;
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	e = ferror(f) ? errno : 0;
	fclose(f);
	if (e != 0) {
		ru_free(buf);
		if (errlen > 0)
			snprintf(err, errlen, "%s: read error: %s", path, strerror(e));
		return -1;
	}
	rc = rv_prog_load(buf, len, out, msg, sizeof msg);
	ru_free(buf);
	if (rc < 0 && errlen > 0)
		snprintf(err, errlen, "%s: %s", path, msg);
	return rc;
}

/* One allocation: see rv_prog_load. */
void
rv_prog_free(struct rv_prog *p)
{
	ru_free(p);
}

/* s must come from p (every rv_str of a loaded program lies inside STRS). */
const char *
rv_prog_str(const struct rv_prog *p, struct rv_str s)
{
	return p->strs + s.off;
}

