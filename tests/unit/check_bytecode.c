/*
 * check_bytecode.c -- unit tests for the .rbc builder (compiler/rbc.c) and
 * the loader, validator and disassembler (runtime/bytecode.c).
 *
 * A sample program exercising every section, constant kind and action kind
 * is built with the builder, written, loaded and compared; then the same
 * image is damaged on purpose (truncated, bit-flipped, or structurally
 * corrupted with the checksum recomputed) and every damaged image must be
 * refused with the expected reason. With RBC_WRITE_SEEDS=DIR in the
 * environment, the valid images are also written to DIR for the fuzzer.
 */
#include "config.h"
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open_memstream, mkstemp */
#endif

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "alloc.h"
#include "builtins.h"
#include "bytecode.h"
#include "driver.h"
#include "rbc.h"

/* ---- the sample program ----------------------------------------------- */

/* Indices of the sample's parts, filled in by sample_build. */
struct sample {
	uint32_t t_payment, t_customer, t_alert;     /* TYPES */
	uint32_t c_alert;                            /* CONTRACTS: alert.raised v1 */
	uint32_t d_fraud, d_dlq, d_ops;              /* DESTS */
	uint32_t f_amount, f_currency, f_type, f_cid, f_vip, f_flag, f_level; /* FIELDS */
	uint32_t k_100, k_eur, k_true, k_high, k_set, k_range, k_cidr, k_cidr6, k_regex; /* CONSTS */
	uint32_t k_dur, k_rate, k_null, k_tenth;
	uint32_t b_lower;                            /* BUILTINS */
	uint32_t file;                               /* FILES */
	uint32_t pc_set, pc_emitf, pc_r1, pc_r2;     /* block entries */
};

/* Returns the FIELDS index of a dotted path (split at '.'). */
static uint32_t
field(struct rc_rbc *b, const char *path, enum rv_where where, unsigned type)
{
	const char *segs[8];
	size_t lens[8];
	unsigned n = 0;
	const char *p = path, *dot;

	while ((dot = strchr(p, '.')) != NULL && n < 7) {
		segs[n] = p;
		lens[n++] = (size_t)(dot - p);
		p = dot + 1;
	}
	segs[n] = p;
	lens[n++] = strlen(p);
	return rc_rbc_field(b, segs, lens, n, where, type);
}

/* Appends a contract field. */
static void
cfield(struct rc_rbc *b, const char *path, unsigned type, unsigned flags, uint32_t enum_set)
{
	struct rv_cfield *cf = rc_rbc_push(b, RV_SEC_CFIELDS, NULL);

	cf->path = rc_rbc_str(b, path, strlen(path));
	cf->type = (uint8_t)type;
	cf->flags = (uint8_t)flags;
	cf->enum_set = enum_set;
}

/* Appends a contract of type (whose TYPES record must already exist). */
static void
contract(struct rc_rbc *b, uint32_t type, uint32_t version, uint32_t first_cfield)
{
	struct rv_contract *c = rc_rbc_push(b, RV_SEC_CONTRACTS, NULL);

	c->type = type;
	c->version = version;
	c->cfield = first_cfield;
	c->ncfield = rc_rbc_count(b, RV_SEC_CFIELDS) - first_cfield;
}

/* Appends a type record whose contracts are the next ncontract pushed. */
static uint32_t
type(struct rc_rbc *b, const char *name, uint32_t ncontract)
{
	uint32_t i;
	struct rv_type *t = rc_rbc_push(b, RV_SEC_TYPES, &i);

	t->name = rc_rbc_str(b, name, strlen(name));
	t->contract = rc_rbc_count(b, RV_SEC_CONTRACTS);
	t->ncontract = ncontract;
	return i;
}

static uint32_t
dest(struct rc_rbc *b, const char *name)
{
	uint32_t i;
	struct rv_dest *d = rc_rbc_push(b, RV_SEC_DESTS, &i);

	d->name = rc_rbc_str(b, name, strlen(name));
	d->dead_letter = RV_NONE;
	d->priority = 5;
	d->workers = 1;
	return i;
}

static void
action(struct rc_rbc *b, uint32_t kind, uint32_t a, uint32_t bb)
{
	struct rv_action *ac = rc_rbc_push(b, RV_SEC_ACTIONS, NULL);

	ac->kind = kind;
	ac->a = a;
	ac->b = bb;
}

/* Appends a rule listening on contracts[0..ntypes) with the actions pushed since first_action. */
static void
rule(struct rc_rbc *b, const char *name, uint32_t flags, uint32_t cond_pc, const uint32_t *types,
	uint32_t ntypes, uint32_t first_action, uint32_t file, uint32_t line)
{
	struct rv_rule *r;
	uint32_t i, first = rc_rbc_count(b, RV_SEC_RTYPES);

	for (i = 0; i < ntypes; i++)
		*(uint32_t *)rc_rbc_push(b, RV_SEC_RTYPES, NULL) = types[i];
	r = rc_rbc_push(b, RV_SEC_RULES, NULL);
	r->name = rc_rbc_str(b, name, strlen(name));
	r->flags = flags;
	r->cond_pc = cond_pc;
	r->rtype = first;
	r->nrtype = ntypes;
	r->action = first_action;
	r->naction = rc_rbc_count(b, RV_SEC_ACTIONS) - first_action;
	r->file = file;
	r->line = line;
	r->col = 1;
	r->span_start = line * 10;
	r->span_end = line * 10 + 9;
}

#define ABC(op, a, b, c) rc_rbc_emit_code(bld, RV_MK_ABC(RV_OP_##op, a, b, c))
#define ABx(op, a, bx) rc_rbc_emit_code(bld, RV_MK_ABx(RV_OP_##op, a, bx))
#define AsBx(op, a, sbx) rc_rbc_emit_code(bld, RV_MK_ABx(RV_OP_##op, a, (uint16_t)(int16_t)(sbx)))
#define Ax(op, ax) rc_rbc_emit_code(bld, RV_MK_Ax(RV_OP_##op, ax))

/*
 * Builds the sample: three types with contracts, three destinations, a
 * table, every constant kind, three rules using route/set/emit actions,
 * CALL, TGET, LOADKX and every jump form. Returns the builder (caller owns).
 */
static struct rc_rbc *
sample_build(struct sample *s)
{
	struct rc_rbc *bld = rc_rbc_new();
	struct rv_dest *d;
	struct rv_table *t;
	uint32_t cf, ts[2], items[2], a0;
	uint8_t net[16] = { 10, 1, 2, 3 }, net6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff };

	s->file = rc_rbc_file(bld, "payments.route", 14);
	s->k_eur = rc_rbc_k_str(bld, "eur", 3);
	items[0] = rc_rbc_k_str(bld, "EUR", 3);
	items[1] = rc_rbc_k_str(bld, "USD", 3);
	s->k_set = rc_rbc_k_set(bld, items, 2, 0);

	/* Types and contracts. */
	s->t_payment = type(bld, "payment.created", 1);
	cf = rc_rbc_count(bld, RV_SEC_CFIELDS);
	cfield(bld, "amount", RV_T_NUMBER, 0, RV_NONE);
	cfield(bld, "currency", RV_T_STRING, 0, s->k_set);
	cfield(bld, "note", RV_T_STRING, RV_CF_OPTIONAL, RV_NONE);
	contract(bld, s->t_payment, 1, cf);
	s->t_customer = type(bld, "customer.updated", 2);
	cf = rc_rbc_count(bld, RV_SEC_CFIELDS);
	cfield(bld, "customer.id", RV_T_STRING, 0, RV_NONE);
	contract(bld, s->t_customer, 1, cf);
	cf = rc_rbc_count(bld, RV_SEC_CFIELDS);
	cfield(bld, "customer.id", RV_T_STRING, 0, RV_NONE);
	cfield(bld, "customer.vip", RV_T_BOOL, RV_CF_OPTIONAL, RV_NONE);
	cfield(bld, "tags", RV_T_ARRAY | RV_T_STRING, RV_CF_OPTIONAL, RV_NONE);
	contract(bld, s->t_customer, 2, cf);
	s->t_alert = type(bld, "alert.raised", 1);
	cf = rc_rbc_count(bld, RV_SEC_CFIELDS);
	cfield(bld, "level", RV_T_STRING, 0, RV_NONE);
	s->c_alert = rc_rbc_count(bld, RV_SEC_CONTRACTS);
	contract(bld, s->t_alert, 1, cf);

	/* Destinations. */
	s->d_fraud = dest(bld, "fraud");
	s->d_dlq = dest(bld, "dlq");
	s->d_ops = dest(bld, "ops team");
	d = rc_rbc_at(bld, RV_SEC_DESTS, s->d_fraud);
	d->priority = 2;
	d->retry_max = 3;
	d->backoff_min_ms = 100;
	d->backoff_max_ms = 10000;
	d->timeout_ms = 5000;
	d->dead_letter = s->d_dlq;
	d = rc_rbc_at(bld, RV_SEC_DESTS, s->d_ops);
	d->batch_max = 100;
	d->batch_every_ms = 1000;

	/* Fields and the table. */
	s->f_amount = field(bld, "amount", RV_FW_PAYLOAD, RV_T_NUMBER);
	s->f_currency = field(bld, "currency", RV_FW_PAYLOAD, RV_T_STRING);
	s->f_type = field(bld, "type", RV_FW_META, RV_T_STRING);
	s->f_cid = field(bld, "customer.id", RV_FW_PAYLOAD, RV_T_STRING);
	s->f_vip = field(bld, "customer.vip", RV_FW_PAYLOAD, RV_T_BOOL);
	s->f_flag = field(bld, "flagged", RV_FW_PAYLOAD, RV_T_BOOL);
	s->f_level = field(bld, "level", RV_FW_PAYLOAD, RV_T_STRING);
	t = rc_rbc_push(bld, RV_SEC_TABLES, NULL);
	t->name = rc_rbc_str(bld, "vip", 3);
	t->key_type = RV_T_STRING;
	t->value_type = RV_T_BOOL;
	t->from_type = s->t_customer;
	t->key_field = s->f_cid;
	t->value_field = s->f_vip;
	t->del_type = RV_NONE;
	t->del_key_field = RV_NONE;
	t->max_keys = 10000;
	t->ttl_ms = 86400000;

	/* The other constants. */
	s->k_100 = rc_rbc_k_num(bld, 100);
	s->k_true = rc_rbc_k_bool(bld, 1);
	s->k_high = rc_rbc_k_str(bld, "high \"quoted\"\n", 14);
	items[0] = rc_rbc_k_num(bld, 1);
	items[1] = rc_rbc_k_num(bld, 5);
	s->k_range = rc_rbc_k_range(bld, items[0], items[1], RV_KF_HI_OPEN);
	s->k_cidr = rc_rbc_k_cidr(bld, 4, net, 8);
	s->k_cidr6 = rc_rbc_k_cidr(bld, 6, net6, 32);
	s->k_regex = rc_rbc_k_regex(bld, "^a.*b$", 6, RV_KF_CASELESS);
	s->k_dur = rc_rbc_k_duration(bld, 500);
	s->k_rate = rc_rbc_k_rate(bld, 10);
	s->k_null = rc_rbc_k_null(bld);
	s->k_tenth = rc_rbc_k_num(bld, 0.1);
	s->b_lower = rc_rbc_builtin(bld, "lower");

	/* Rule 0: amount > 100 and lower(currency) == "eur". */
	rc_rbc_line(bld, 0, s->file, 3, 6);
	ABx(LOADF, 0, s->f_amount);                 /* 0000 */
	ABx(LOADK, 1, s->k_100);                    /* 0001 */
	ABC(GT, 2, 0, 1);                           /* 0002 */
	AsBx(JMPF, 2, 5);                           /* 0003 -> 0009 */
	rc_rbc_line(bld, 4, s->file, 3, 25);
	ABx(LOADF, 3, s->f_currency);               /* 0004 */
	ABC(CALL, 4, s->b_lower, 3);                /* 0005 */
	ABx(LOADK, 5, s->k_eur);                    /* 0006 */
	ABC(EQ, 2, 4, 5);                           /* 0007 */
	AsBx(JMPT, 2, 1);                           /* 0008 -> 0010 */
	ABC(MISS, 0, 0, 0);                         /* 0009 */
	ABC(MATCH, 0, 0, 0);                        /* 0010 */
	rc_rbc_line(bld, 11, s->file, 4, 13);
	s->pc_set = ABx(LOADK, 0, s->k_true);       /* 0011 */
	ABC(YIELD, 0, 0, 0);                        /* 0012 */
	rc_rbc_line(bld, 13, s->file, 5, 30);
	s->pc_emitf = ABx(LOADK, 0, s->k_high);     /* 0013 */
	ABC(YIELD, 0, 0, 0);                        /* 0014 */
	a0 = rc_rbc_count(bld, RV_SEC_ACTIONS);
	action(bld, RV_A_ROUTE, s->d_fraud, 0);
	action(bld, RV_A_SET, s->f_flag, s->pc_set);
	action(bld, RV_A_EMIT, s->c_alert, 1);
	action(bld, RV_A_EMITF, s->f_level, s->pc_emitf);
	ts[0] = s->t_payment;
	rule(bld, "high_value", RV_RF_ROUTES | RV_RF_TRANSFORM, 0, ts, 1, a0, s->file, 3);

	/* Rule 1: otherwise, on two types. */
	rc_rbc_line(bld, 15, s->file, 8, 1);
	s->pc_r1 = ABC(MATCH, 0, 0, 0);             /* 0015 */
	a0 = rc_rbc_count(bld, RV_SEC_ACTIONS);
	action(bld, RV_A_ROUTE, s->d_dlq, 0);
	ts[1] = s->t_customer;
	rule(bld, "fallback", RV_RF_OTHERWISE | RV_RF_ROUTES, s->pc_r1, ts, 2, a0, s->file, 8);

	/* Rule 2: table lookup, set, range, cidr, regex, LOADKX, JMP. */
	rc_rbc_line(bld, 16, s->file, 10, 6);
	s->pc_r2 = ABx(LOADF, 0, s->f_cid);         /* 0016 */
	ABC(TGET, 1, 0, 0);                         /* 0017 */
	AsBx(JMPF, 1, 13);                          /* 0018 -> 0032 */
	ABC(LOADKX, 2, 0, 0);                       /* 0019 */
	Ax(EXTRAARG, s->k_set);                     /* 0020 */
	ABC(IN, 4, 0, 2);                           /* 0021 */
	rc_rbc_emit_code(bld, RV_MK_Ax(RV_OP_JMP, 1)); /* 0022 -> 0024 */
	ABC(NOP, 0, 0, 0);                          /* 0023 */
	ABx(LOADK, 5, s->k_range);                  /* 0024 */
	ABC(RANGE, 4, 0, 5);                        /* 0025 */
	ABx(LOADK, 5, s->k_cidr);                   /* 0026 */
	ABC(CIDR, 4, 0, 5);                         /* 0027 */
	ABx(LOADK, 5, s->k_regex);                  /* 0028 */
	ABC(MATCHES, 4, 0, 5);                      /* 0029 */
	AsBx(JMPF, 4, 1);                           /* 0030 -> 0032 */
	ABC(MATCH, 0, 0, 0);                        /* 0031 */
	ABC(MISS, 0, 0, 0);                         /* 0032 */
	a0 = rc_rbc_count(bld, RV_SEC_ACTIONS);
	action(bld, RV_A_ROUTE, s->d_ops, 0);
	ts[0] = s->t_customer;
	rule(bld, "vip customers", RV_RF_ROUTES, s->pc_r2, ts, 1, a0, s->file, 10);
	return bld;
}

/* An image of the sample with the loaded reference used to find offsets. */
struct img {
	unsigned char *buf;   /* owns: the image being damaged */
	size_t len;
	struct rv_prog *ref;  /* owns: the undamaged program, loaded */
	struct sample s;
};

/* Builds, writes and loads the sample; fails the test on any error. */
static void
img_init(struct img *m)
{
	struct rc_rbc *b = sample_build(&m->s);
	char err[256];

	ck_assert_int_eq(rc_rbc_write(b, 6, &m->buf, &m->len, err, sizeof err), 0);
	rc_rbc_free(b);
	ck_assert_msg(rv_prog_load(m->buf, m->len, &m->ref, err, sizeof err) == 0, "load: %s", err);
}

static void
img_fini(struct img *m)
{
	rv_prog_free(m->ref);
	ru_free(m->buf);
}

/* Returns the place in m->buf of a record the reference points to. */
#define IMG_AT(m, type, refptr) \
	((type *)((m)->buf + ((const unsigned char *)(refptr) - (m)->ref->image)))

static struct rv_rbc_header *
img_header(struct img *m)
{
	return (struct rv_rbc_header *)m->buf;
}

/* Returns the section table entry of id in m->buf (must be present). */
static struct rv_rbc_section *
img_section(struct img *m, enum rv_sec id)
{
	struct rv_rbc_section *tab = (struct rv_rbc_section *)(m->buf + RV_RBC_HEADER_SIZE);
	uint32_t i;

	for (i = 0; i < img_header(m)->nsections; i++)
		if (tab[i].id == (uint32_t)id)
			return &tab[i];
	ck_abort_msg("section %d not in image", (int)id);
	return NULL;
}

static void
img_fix_checksum(unsigned char *buf, size_t len)
{
	((struct rv_rbc_header *)buf)->checksum = rv_rbc_checksum(buf, len);
}

/* Recomputes the checksum, loads, and expects a refusal mentioning reason. */
static void
expect_refused(struct img *m, const char *reason)
{
	struct rv_prog *p = (struct rv_prog *)1;
	char err[256];

	img_fix_checksum(m->buf, m->len);
	ck_assert_int_eq(rv_prog_load(m->buf, m->len, &p, err, sizeof err), -1);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(err, reason) != NULL, "expected \"%s\", got \"%s\"", reason, err);
	ck_assert_msg(strchr(err, '\n') == NULL, "message has a newline: %s", err);
}

/* Returns the disassembly of p as a malloc'd string. */
static char *
disasm(const struct rv_prog *p)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);

	ck_assert_ptr_nonnull(f);
	rv_prog_disasm(p, f);
	fclose(f);
	return text;
}

/* ---- round trip --------------------------------------------------------- */

START_TEST(test_roundtrip_sample)
{
	struct img m;
	const struct rv_prog *p;
	const struct rv_const *k;
	double d;

	img_init(&m);
	p = m.ref;
	ck_assert_uint_eq(p->max_regs, 6);
	ck_assert_uint_eq(p->ncode, 33);
	ck_assert_uint_eq(p->ntypes, 3);
	ck_assert_uint_eq(p->ncontracts, 4);
	ck_assert_uint_eq(p->ncfields, 8);
	ck_assert_uint_eq(p->ndests, 3);
	ck_assert_uint_eq(p->ntables, 1);
	ck_assert_uint_eq(p->nrules, 3);
	ck_assert_uint_eq(p->nactions, 6);
	ck_assert_uint_eq(p->nrtypes, 4);
	ck_assert_uint_eq(p->nfields, 7);
	ck_assert_uint_eq(p->nbuiltins, 1);
	ck_assert_uint_eq(p->nfiles, 1);
	ck_assert_uint_eq(p->nlines, 6);
	ck_assert_int_eq(p->builtin_ids[0], RB_lower);
	ck_assert_uint_eq(p->code[3], RV_MK_ABx(RV_OP_JMPF, 2, 5));
	ck_assert_int_eq(memcmp(rv_prog_str(p, p->rules[2].name), "vip customers", 13), 0);
	ck_assert_uint_eq(p->rules[2].name.len, 13);
	ck_assert_int_eq(memcmp(rv_prog_str(p, p->fields[m.s.f_cid].name), "customer.id", 11), 0);
	ck_assert_uint_eq(p->fields[m.s.f_cid].nseg, 2);
	ck_assert_uint_eq(p->fields[m.s.f_cid].hash, XXH32("customer.id", 11, 0));
	k = &p->consts[m.s.k_100];
	ck_assert_uint_eq(k->kind, RV_K_NUM);
	memcpy(&d, &k->b, sizeof d);
	ck_assert(d == 100);
	k = &p->consts[m.s.k_set];
	ck_assert_uint_eq(k->kind, RV_K_SET);
	ck_assert_uint_eq(k->b, 2);
	ck_assert_uint_eq(p->consts[p->setitems[k->a + 1]].kind, RV_K_STR);
	ck_assert_uint_eq(p->consts[m.s.k_cidr].addr[1], 0); /* host bits cleared */
	ck_assert_uint_eq(p->dests[m.s.d_fraud].dead_letter, m.s.d_dlq);
	ck_assert_uint_eq(p->size, m.len);
	ck_assert_int_eq(memcmp(p->image, m.buf, m.len), 0);
	img_fini(&m);
}
END_TEST

START_TEST(test_roundtrip_file)
{
	struct img m;
	char path[] = "/tmp/check_bytecode_XXXXXX", err[512];
	struct rv_prog *p;
	int fd;

	img_init(&m);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, m.buf, m.len), (ssize_t)m.len);
	close(fd);
	ck_assert_msg(rv_prog_load_file(path, &p, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(p->ncode, m.ref->ncode);
	rv_prog_free(p);
	/* Errors name the file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_eq(write(fd, m.buf, 40), 40);
	close(fd);
	ck_assert_int_eq(rv_prog_load_file(path, &p, err, sizeof err), -1);
	ck_assert_ptr_null(p);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strstr(err, "truncated"), "%s", err);
	unlink(path);
	ck_assert_int_eq(rv_prog_load_file(path, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, path) && strstr(err, "No such file"), "%s", err);
	img_fini(&m);
}
END_TEST

START_TEST(test_empty_program_loads)
{
	struct rc_rbc *b = rc_rbc_new();
	unsigned char *buf;
	size_t len;
	struct rv_prog *p;
	char err[256], *text;

	ck_assert_int_eq(rc_rbc_write(b, 0, &buf, &len, err, sizeof err), 0);
	ck_assert_uint_eq(len, RV_RBC_HEADER_SIZE);
	ck_assert_msg(rv_prog_load(buf, len, &p, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(p->ncode + p->nrules + p->nstrs + p->nconsts, 0);
	ck_assert_ptr_nonnull(p->code);
	text = disasm(p);
	ck_assert_str_eq(text, "; rbc 1.2, max_regs 0, 0 instructions, 0 constants, 0 fields, 0 types, "
		"0 destinations, 0 tables, 0 rules, 0 actions, 0 builtins, 0 files\n");
	free(text);
	rv_prog_free(p);
	ru_free(buf);
	rc_rbc_free(b);
}
END_TEST

START_TEST(test_disasm_listing)
{
	struct img m;
	char *text;
	static const char *const want[] = {
		"; rbc 1.2, max_regs 6, 33 instructions, ",
		"\ntypes (3):\n  type 0 payment.created\n    v1\n      amount: number\n"
		"      currency: string enum [\"EUR\", \"USD\"]\n      note: string optional\n",
		"      tags: [string] optional\n",
		"  dest 0 fraud: priority 2, retry 3 backoff 100ms..10s, timeout 5s, dead_letter dlq\n",
		"  dest 1 dlq\n",
		"  dest 2 \"ops team\": batch every 1s or 100\n",
		"  table 0 vip: string -> bool, from customer.updated key customer.id value customer.vip, "
		"max_keys 10000, ttl 1d\n",
		" num       100\n",
		" str       \"high \\\"quoted\\\"\\n\"\n",
		" set       [\"EUR\", \"USD\"]\n",
		" range     [1, 5)\n",
		" cidr      10.0.0.0/8\n",
		" cidr      2001:db8::/32\n",
		" regex     \"^a.*b$\" caseless\n",
		" duration  500ms\n",
		" rate      10/s\n",
		" null      null\n",
		" num       0.1\n",
		"  f2     meta     type                     string\n",
		"  f3     payload  customer.id              string\n",
		"\nrule high_value (payments.route:3:1) on payment.created v1 routes transform\n"
		"  route fraud\n  set flagged = block 0011\n  emit alert.raised v1\n    level = block 0013\n"
		"condition:\n  ; payments.route:3:6\n",
		"  0000  LOADF     r0 f0         ; R[A] := event field F[Bx]  f0 = amount\n",
		"  0001  LOADK     r1 k",
		"  0002  GT        r2 r0 r1      ; R[A] := any(R[B]) > R[C]\n",
		"  0003  JMPF      r2 +5         ; if not R[A] then pc += sBx  -> 0009\n",
		"  ; payments.route:3:25\n  0004  LOADF",
		"  0005  CALL      r4 b0 r3      ; R[A] := builtin B(R[C] .. R[C+arity-1])  b0 = lower/1\n",
		"  0010  MATCH                   ; the rule's condition holds; halt\n"
		"set flagged:\n  ; payments.route:4:13\n  0011  LOADK     r0 k",
		"emit field level:\n  ; payments.route:5:30\n",
		"\nrule fallback (payments.route:8:1) on payment.created v1, customer.updated v1 otherwise routes\n"
		"  route dlq\ncondition:\n  ; payments.route:8:1\n  0015  MATCH",
		"\nrule \"vip customers\" (payments.route:10:1) on customer.updated v1 routes\n",
		"  0017  TGET      r1 t0 r0      ; R[A] := table T[B][R[C]] (missing if no entry)  t0 = vip\n",
		"  0019  LOADKX    r2            ; R[A] := K[extra arg]  k",
		"  0020  EXTRAARG  k",
		"  0022  JMP       +1            ; pc += sJ  -> 0024\n  0023  NOP",
		"  0031  MATCH                   ; the rule's condition holds; halt\n"
		"  0032  MISS                    ; the rule's condition fails; halt\n",
	};
	size_t i;

	img_init(&m);
	text = disasm(m.ref);
	if (getenv("RBC_SHOW_DISASM"))
		fputs(text, stdout);
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		if (strstr(text, want[i]) == NULL)
			fprintf(stderr, "listing:\n%s", text);
		ck_assert_msg(strstr(text, want[i]) != NULL, "missing from the listing: %s", want[i]);
	}
	ck_assert_msg(strstr(text, "0x") == NULL, "the listing shows a pointer");
	free(text);
	img_fini(&m);
}
END_TEST

START_TEST(test_disasm_deterministic)
{
	struct img m1, m2;
	char *t1, *t2;

	img_init(&m1);
	img_init(&m2);
	ck_assert_uint_eq(m1.len, m2.len);
	ck_assert_int_eq(memcmp(m1.buf, m2.buf, m1.len), 0);
	t1 = disasm(m1.ref);
	t2 = disasm(m2.ref);
	ck_assert_str_eq(t1, t2);
	free(t1);
	free(t2);
	img_fini(&m1);
	img_fini(&m2);
}
END_TEST

START_TEST(test_opinfo_matches_opcodes_def)
{
	ck_assert_str_eq(rv_opinfo[RV_OP_EQ].name, "EQ");
	ck_assert_int_eq(rv_opinfo[RV_OP_EQ].fmt, RV_FMT_ABC);
	ck_assert_uint_eq(rv_opinfo[RV_OP_EQ].flags, RV_OPF_OUT_A | RV_OPF_READ_B | RV_OPF_READ_C);
	ck_assert_str_eq(rv_opinfo[RV_OP_EQ].semantics, "R[A] := any(R[B]) == R[C]");
	ck_assert_str_eq(rv_opinfo[RV_OP_YIELD].name, "YIELD");
	ck_assert_uint_eq(rv_opinfo[RV_OP_YIELD].flags & RV_OPF_TERM, RV_OPF_TERM);
	ck_assert_int_eq(rv_opinfo[RV_OP_JMP].fmt, RV_FMT_sJ);
	ck_assert_str_eq(rv_opinfo[RV_NUM_OPS - 1].name, "YIELD");
}
END_TEST

/* ---- builder ------------------------------------------------------------ */

START_TEST(test_dedup_strings)
{
	struct rc_rbc *b = rc_rbc_new();
	struct rv_str a = rc_rbc_str(b, "hello", 5), c = rc_rbc_str(b, "world", 5);
	struct rv_str a2 = rc_rbc_str(b, "hello", 5), e = rc_rbc_str(b, NULL, 0);
	struct rv_str sub = rc_rbc_str(b, rc_rbc_str_bytes(b, a) + 1, 3); /* borrows the pool */

	ck_assert_uint_eq(a.off, a2.off);
	ck_assert_uint_eq(a.len, 5);
	ck_assert_uint_ne(a.off, c.off);
	ck_assert_uint_eq(e.len, 0);
	ck_assert_int_eq(memcmp(rc_rbc_str_bytes(b, sub), "ell", 3), 0);
	ck_assert_uint_eq(rc_rbc_count(b, RV_SEC_STRS), 13);
	rc_rbc_free(b);
}
END_TEST

START_TEST(test_dedup_consts)
{
	struct rc_rbc *b = rc_rbc_new();
	uint8_t n1[16] = { 10, 1, 2, 3 }, n2[16] = { 10 };
	uint32_t x = rc_rbc_k_str(b, "x", 1), y = rc_rbc_k_str(b, "y", 1);
	uint32_t xy[2] = { x, y }, yx[2] = { y, x };

	ck_assert_uint_eq(rc_rbc_k_num(b, 1.5), rc_rbc_k_num(b, 1.5));
	ck_assert_uint_ne(rc_rbc_k_num(b, 1.5), rc_rbc_k_num(b, 2.5));
	ck_assert_uint_eq(rc_rbc_k_num(b, 0.0), rc_rbc_k_num(b, -0.0));
	ck_assert_uint_ne(rc_rbc_k_num(b, 0), rc_rbc_k_bool(b, 0));
	ck_assert_uint_eq(rc_rbc_k_null(b), rc_rbc_k_null(b));
	ck_assert_uint_eq(rc_rbc_k_bool(b, 7), rc_rbc_k_bool(b, 1));
	ck_assert_uint_eq(rc_rbc_k_str(b, "x", 1), x);
	ck_assert_uint_ne(rc_rbc_k_regex(b, "x", 1, 0), x);
	ck_assert_uint_ne(rc_rbc_k_regex(b, "x", 1, 0), rc_rbc_k_regex(b, "x", 1, RV_KF_CASELESS));
	ck_assert_uint_eq(rc_rbc_k_duration(b, 10), rc_rbc_k_duration(b, 10));
	ck_assert_uint_ne(rc_rbc_k_duration(b, 10), rc_rbc_k_rate(b, 10));
	ck_assert_uint_eq(rc_rbc_k_set(b, xy, 2, 0), rc_rbc_k_set(b, xy, 2, 0));
	ck_assert_uint_ne(rc_rbc_k_set(b, xy, 2, 0), rc_rbc_k_set(b, yx, 2, 0));
	ck_assert_uint_ne(rc_rbc_k_set(b, xy, 2, 0), rc_rbc_k_set(b, xy, 2, RV_KF_CASELESS));
	ck_assert_uint_eq(rc_rbc_k_set(b, NULL, 0, 0), rc_rbc_k_set(b, NULL, 0, 0));
	ck_assert_uint_eq(rc_rbc_count(b, RV_SEC_SETITEMS), 6);
	ck_assert_uint_eq(rc_rbc_k_range(b, x, RV_NONE, RV_KF_LO_OPEN),
		rc_rbc_k_range(b, x, RV_NONE, RV_KF_LO_OPEN));
	ck_assert_uint_eq(rc_rbc_k_cidr(b, 4, n1, 8), rc_rbc_k_cidr(b, 4, n2, 8));
	ck_assert_uint_ne(rc_rbc_k_cidr(b, 4, n1, 8), rc_rbc_k_cidr(b, 4, n1, 16));
	ck_assert_uint_ne(rc_rbc_k_cidr(b, 4, n2, 8), rc_rbc_k_cidr(b, 6, n2, 8));
	rc_rbc_free(b);
}
END_TEST

START_TEST(test_dedup_fields)
{
	struct rc_rbc *b = rc_rbc_new();
	uint32_t f1 = field(b, "customer.address.country", RV_FW_PAYLOAD, RV_T_STRING);
	uint32_t f2 = field(b, "customer.address.country", RV_FW_PAYLOAD, RV_T_ANY);
	uint32_t f3 = field(b, "customer.address", RV_FW_PAYLOAD, RV_T_OBJECT);
	uint32_t f4 = field(b, "type", RV_FW_META, RV_T_STRING);
	uint32_t f5 = field(b, "type", RV_FW_PAYLOAD, RV_T_STRING);
	const struct rv_field *f;
	const char *segs[] = { "a.b" }; /* one segment containing a dot */
	size_t lens[] = { 3 };

	ck_assert_uint_eq(f1, f2);
	ck_assert_uint_ne(f1, f3);
	ck_assert_uint_ne(f4, f5);
	ck_assert_uint_ne(rc_rbc_field(b, segs, lens, 1, RV_FW_PAYLOAD, 0), field(b, "a.b", RV_FW_PAYLOAD, 0));
	f = rc_rbc_at(b, RV_SEC_FIELDS, f1);
	ck_assert_uint_eq(f->nseg, 3);
	ck_assert_uint_eq(f->type, RV_T_STRING); /* the first call's type is kept */
	ck_assert_uint_eq(f->name.len, 24);
	ck_assert_int_eq(memcmp(rc_rbc_str_bytes(b, f->name), "customer.address.country", 24), 0);
	ck_assert_uint_eq(f->hash, XXH32("customer.address.country", 24, 0));
	ck_assert_uint_eq(rc_rbc_count(b, RV_SEC_FIELDS), 6);
	rc_rbc_free(b);
}
END_TEST

START_TEST(test_dedup_builtins_and_files)
{
	struct rc_rbc *b = rc_rbc_new();

	ck_assert_uint_eq(rc_rbc_builtin(b, "lower"), 0);
	ck_assert_uint_eq(rc_rbc_builtin(b, "upper"), 1);
	ck_assert_uint_eq(rc_rbc_builtin(b, "lower"), 0);
	ck_assert_uint_eq(rc_rbc_file(b, "a.route", 7), 0);
	ck_assert_uint_eq(rc_rbc_file(b, "lower", 5), 1); /* own table, shares the string */
	ck_assert_uint_eq(rc_rbc_file(b, "a.route", 7), 0);
	ck_assert_uint_eq(rc_rbc_count(b, RV_SEC_BUILTINS), 2);
	ck_assert_uint_eq(rc_rbc_count(b, RV_SEC_FILES), 2);
	ck_assert_uint_eq(rc_rbc_count(b, RV_SEC_STRS), 17);
	rc_rbc_free(b);
}
END_TEST

START_TEST(test_line_table)
{
	struct rc_rbc *bld = rc_rbc_new();
	const struct rv_line *l;
	unsigned char *buf;
	size_t len;
	struct rv_prog *p;
	char err[256];

	rc_rbc_line(bld, 0, 0, 1, 1);
	ABC(NOP, 0, 0, 0);
	rc_rbc_line(bld, 1, 0, 1, 1);            /* same place: nothing */
	ABC(NOP, 0, 0, 0);
	rc_rbc_line(bld, 2, 0, 2, 1);
	rc_rbc_line(bld, 2, 0, 3, 1);            /* same pc: replaces */
	ABC(NOP, 0, 0, 0);
	rc_rbc_line(bld, 3, 0, 4, 1);
	rc_rbc_line(bld, 3, 0, 3, 1);            /* back to the previous: drops */
	ABC(MATCH, 0, 0, 0);
	rc_rbc_line(bld, 4, 0, 9, 9);            /* past the end of code: not written */
	ck_assert_uint_eq(rc_rbc_count(bld, RV_SEC_LINES), 3);
	l = rc_rbc_at(bld, RV_SEC_LINES, 1);
	ck_assert_uint_eq(l->pc, 2);
	ck_assert_uint_eq(l->line, 3);
	rc_rbc_file(bld, "f", 1);
	ck_assert_int_eq(rc_rbc_write(bld, 0, &buf, &len, err, sizeof err), 0);
	ck_assert_msg(rv_prog_load(buf, len, &p, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(p->nlines, 2);
	rv_prog_free(p);
	ru_free(buf);
	rc_rbc_free(bld);
}
END_TEST

START_TEST(test_write_refuses_too_many_registers)
{
	struct rc_rbc *b = rc_rbc_new();
	unsigned char *buf = (unsigned char *)1;
	size_t len;
	char err[256];

	ck_assert_int_eq(rc_rbc_write(b, RV_MAX_REGS + 1, &buf, &len, err, sizeof err), -1);
	ck_assert_ptr_null(buf);
	ck_assert_msg(strstr(err, "max_regs 257") != NULL, "%s", err);
	rc_rbc_free(b);
}
END_TEST

/*
 * 100,000 rules of 10 distinct constants each (1M constants and strings):
 * interning must stay O(1), and loading the result must stay linear.
 */
START_TEST(test_builder_scales_to_100k_rules)
{
	struct rc_rbc *bld = rc_rbc_new();
	unsigned char *buf;
	size_t len;
	struct rv_prog *p;
	char err[256], name[32];
	uint32_t r, j, k, t, f, ts[1];
	clock_t t0 = clock();

	t = type(bld, "e", 1);
	contract(bld, t, 1, 0);
	f = field(bld, "x", RV_FW_PAYLOAD, RV_T_ANY);
	for (r = 0; r < 100000; r++) {
		uint32_t pc = rc_rbc_count(bld, RV_SEC_CODE);

		for (j = 0; j < 10; j++) {
			int n = snprintf(name, sizeof name, "s%u.%u", r, j);

			k = j % 2 ? rc_rbc_k_num(bld, r * 10.0 + j) : rc_rbc_k_str(bld, name, (size_t)n);
			if (j == 0)
				ABx(LOADF, 0, f);
			rc_rbc_emit_code(bld, RV_MK_ABC(RV_OP_LOADKX, 1, 0, 0));
			rc_rbc_emit_code(bld, RV_MK_Ax(RV_OP_EXTRAARG, k));
			ABC(EQ, 2, 0, 1);
		}
		ABC(MATCH, 0, 0, 0);
		snprintf(name, sizeof name, "rule%u", r);
		ts[0] = t;
		rule(bld, name, 0, pc, ts, 1, rc_rbc_count(bld, RV_SEC_ACTIONS), RV_NONE, 1);
	}
	ck_assert_uint_eq(rc_rbc_count(bld, RV_SEC_CONSTS), 1000000);
	/* Second pass: all hits. */
	for (r = 0; r < 100000; r++)
		ck_assert_uint_eq(rc_rbc_k_num(bld, r * 10.0 + 1), (uint32_t)(r * 10 + 1));
	ck_assert_int_eq(rc_rbc_write(bld, 3, &buf, &len, err, sizeof err), 0);
	rc_rbc_free(bld);
	ck_assert_msg(rv_prog_load(buf, len, &p, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(p->nrules, 100000);
	ck_assert_uint_eq(p->nconsts, 1000000);
	rv_prog_free(p);
	ru_free(buf);
	ck_assert_msg((double)(clock() - t0) / CLOCKS_PER_SEC < 20, "too slow");
}
END_TEST

/* ---- hostile input: blind damage ---------------------------------------- */

START_TEST(test_every_truncation_refused)
{
	struct img m;
	struct rv_prog *p;
	char err[256];
	size_t n;

	img_init(&m);
	for (n = 0; n < m.len; n++) {
		/* A fresh, exactly sized copy so ASan sees any overread. */
		unsigned char *cut = malloc(n ? n : 1);

		memcpy(cut, m.buf, n);
		ck_assert_int_eq(rv_prog_load(cut, n, &p, err, sizeof err), -1);
		ck_assert_ptr_null(p);
		ck_assert(err[0] != '\0');
		free(cut);
	}
	img_fini(&m);
}
END_TEST

START_TEST(test_every_bitflip_refused)
{
	struct img m;
	struct rv_prog *p;
	char err[256];
	size_t n;
	int bit;

	img_init(&m);
	for (n = 0; n < m.len; n++)
		for (bit = 0; bit < 8; bit++) {
			m.buf[n] ^= (unsigned char)(1u << bit);
			ck_assert_msg(rv_prog_load(m.buf, m.len, &p, err, sizeof err) == -1,
				"flip of bit %d of byte %zu accepted", bit, n);
			m.buf[n] ^= (unsigned char)(1u << bit);
		}
	ck_assert_int_eq(rv_prog_load(m.buf, m.len, &p, err, sizeof err), 0);
	rv_prog_free(p);
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_checksum)
{
	struct img m;
	struct rv_prog *p;
	char err[256];

	img_init(&m);
	m.buf[m.len - 1] ^= 0x80;
	ck_assert_int_eq(rv_prog_load(m.buf, m.len, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "checksum mismatch"), "%s", err);
	img_fini(&m);
}
END_TEST

/* ---- hostile input: header and section table --------------------------- */

START_TEST(test_refuses_bad_magic)
{
	struct img m;

	img_init(&m);
	m.buf[1] = 'X';
	expect_refused(&m, "bad magic");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_major_version)
{
	struct img m;

	img_init(&m);
	img_header(&m)->version_major = RV_RBC_VERSION_MAJOR + 1;
	expect_refused(&m, "unsupported format version 2.");
	img_fini(&m);
}
END_TEST

START_TEST(test_accepts_newer_minor_version)
{
	struct img m;
	struct rv_prog *p;
	char err[256], *text;

	img_init(&m);
	img_header(&m)->version_minor = 9;
	img_fix_checksum(m.buf, m.len);
	ck_assert_msg(rv_prog_load(m.buf, m.len, &p, err, sizeof err) == 0, "%s", err);
	text = disasm(p);
	ck_assert_msg(strncmp(text, "; rbc 1.9,", 10) == 0, "%s", text);
	free(text);
	rv_prog_free(p);
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_header_size)
{
	struct img m;

	img_init(&m);
	img_header(&m)->header_size = 40;
	expect_refused(&m, "bad header_size 40");
	img_header(&m)->header_size = 52;
	expect_refused(&m, "bad header_size 52");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_file_size_mismatch)
{
	struct img m;
	struct rv_prog *p;
	unsigned char *big;
	char err[256];

	img_init(&m);
	big = calloc(1, m.len + 8);
	memcpy(big, m.buf, m.len);
	ck_assert_int_eq(rv_prog_load(big, m.len + 8, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "file size mismatch"), "%s", err);
	free(big);
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_unknown_header_flags)
{
	struct img m;

	img_init(&m);
	img_header(&m)->flags = 4;
	expect_refused(&m, "unknown header flags 0x4");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_too_many_sections)
{
	struct img m;

	img_init(&m);
	img_header(&m)->nsections = 22;
	expect_refused(&m, "22 entries, more than the 21");
	img_header(&m)->nsections = 0x10000000;
	expect_refused(&m, "more than the 21");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_section_out_of_range)
{
	struct img m;

	img_init(&m);
	img_section(&m, RV_SEC_CODE)->offset = (uint32_t)m.len;
	expect_refused(&m, "section CODE: bytes");
	img_section(&m, RV_SEC_CODE)->offset = 0xfffffff8u;
	expect_refused(&m, "beyond end of file");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_overlapping_sections)
{
	struct img m;

	img_init(&m);
	img_section(&m, RV_SEC_CODE)->offset = img_section(&m, RV_SEC_CONSTS)->offset;
	expect_refused(&m, "overlap");
	img_fini(&m);
	img_init(&m);
	img_section(&m, RV_SEC_STRS)->offset = RV_RBC_HEADER_SIZE;
	expect_refused(&m, "section STRS: offset 48 overlaps the header or section table");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_duplicate_section)
{
	struct img m;

	img_init(&m);
	img_section(&m, RV_SEC_FILES)->id = RV_SEC_CODE;
	expect_refused(&m, "section CODE appears twice");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_unknown_section_id)
{
	struct img m;

	img_init(&m);
	img_section(&m, RV_SEC_FILES)->id = 99;
	expect_refused(&m, "unknown section id 99");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_unaligned_section)
{
	struct img m;

	img_init(&m);
	img_section(&m, RV_SEC_CODE)->offset += 4;
	expect_refused(&m, "section CODE: offset");
	expect_refused(&m, "not 8-aligned");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_section_size)
{
	struct img m;

	img_init(&m);
	img_section(&m, RV_SEC_CONSTS)->count += 1;
	expect_refused(&m, "section CONSTS: size");
	img_section(&m, RV_SEC_CONSTS)->count = 0x08000001u; /* count * 32 wraps in 32 bits */
	expect_refused(&m, "is not count");
	img_fini(&m);
}
END_TEST

/* ---- hostile input: pools ---------------------------------------------- */

START_TEST(test_refuses_bad_const_kind)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_100])->kind = 42;
	expect_refused(&m, "unknown kind 42");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_const_flags)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_100])->flags = RV_KF_CASELESS;
	expect_refused(&m, "(num): unknown flags 0x1");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_set_item_out_of_range)
{
	struct img m;
	const struct rv_const *k;

	img_init(&m);
	k = &m.ref->consts[m.s.k_set];
	*IMG_AT(&m, uint32_t, &m.ref->setitems[k->a + 1]) = m.ref->nconsts;
	expect_refused(&m, "section SETITEMS: item 1 is constant");
	*IMG_AT(&m, uint32_t, &m.ref->setitems[k->a + 1]) = m.s.k_set;
	expect_refused(&m, "itself a set");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_set])->b = 3;
	expect_refused(&m, "(set): items [0, +3) outside SETITEMS (2)");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_cidr)
{
	struct img m;
	struct rv_const *k;

	img_init(&m);
	k = IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_cidr]);
	k->a = 33;
	expect_refused(&m, "prefix /33 longer than 32 bits");
	k->a = 8;
	k->aux = 5;
	expect_refused(&m, "address family 5 is not 4 or 6");
	k->aux = 4;
	k->addr[1] = 1;
	expect_refused(&m, "address bits set beyond /8");
	k->addr[1] = 0;
	k->addr[4] = 1;
	expect_refused(&m, "address bits set beyond /8");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_cidr6])->a = 129;
	expect_refused(&m, "prefix /129 longer than 128 bits");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_range_bound)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_range])->a = m.s.k_eur;
	expect_refused(&m, "(range): bounds");
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_range])->a = RV_NONE;
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_range])->b = 0x1ffffffffull;
	expect_refused(&m, "not num constants or none");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_string_outside_strs)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_const, &m.ref->consts[m.s.k_eur])->b = m.ref->nstrs;
	expect_refused(&m, "(str): string");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_rule, &m.ref->rules[1])->name.off = 0xfffffff0u;
	expect_refused(&m, "section RULES: rule 1: name outside STRS");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_str, &m.ref->segs[0])->len = 0xffffffffu;
	expect_refused(&m, "section SEGS: segment 0");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_field_hash)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_field, &m.ref->fields[m.s.f_vip])->hash ^= 1;
	expect_refused(&m, "section FIELDS: field 4: hash");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_field, &m.ref->fields[m.s.f_vip])->nseg = 0;
	expect_refused(&m, "section FIELDS: field 4: segments");
	img_fini(&m);
}
END_TEST

/* 4,000 fields naming all of a 64 KiB STRS would hash 256 MiB: refused early. */
START_TEST(test_refuses_overlapping_field_names)
{
	struct rc_rbc *b = rc_rbc_new();
	static char big[65536];
	struct rv_str all;
	uint32_t i, n;
	unsigned char *buf;
	size_t len;
	struct rv_prog *p;
	char err[256];

	memset(big, 'x', sizeof big);
	all = rc_rbc_str(b, big, sizeof big);
	for (i = 0; i < 4000; i++) {
		char seg[16];
		const char *segs[1] = { seg };
		size_t lens[1];
		struct rv_field *f;

		lens[0] = (size_t)snprintf(seg, sizeof seg, "f%u", i);
		n = rc_rbc_field(b, segs, lens, 1, RV_FW_PAYLOAD, 0);
		f = rc_rbc_at(b, RV_SEC_FIELDS, n);
		f->name = all;
		f->hash = XXH32(big, sizeof big, 0);
	}
	ck_assert_int_eq(rc_rbc_write(b, 0, &buf, &len, err, sizeof err), 0);
	ck_assert_int_eq(rv_prog_load(buf, len, &p, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "names total more than 4x the file size"), "%s", err);
	ru_free(buf);
	rc_rbc_free(b);
}
END_TEST

START_TEST(test_refuses_bad_contract_links)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_contract, &m.ref->contracts[1])->type = m.s.t_alert;
	expect_refused(&m, "section TYPES: type 1: contract 1 belongs to type 2");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_type, &m.ref->types[2])->contract = 0;
	expect_refused(&m, "belongs to type 0");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_cfield, &m.ref->cfields[0])->enum_set = m.s.k_eur;
	expect_refused(&m, "enum 0 is not a set constant");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_dest_and_table)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_dest, &m.ref->dests[0])->dead_letter = 0;
	expect_refused(&m, "dead_letter 0 is itself");
	IMG_AT(&m, struct rv_dest, &m.ref->dests[0])->dead_letter = 3;
	expect_refused(&m, "dead_letter 3 is itself or beyond end (3)");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_table, &m.ref->tables[0])->value_field = 7;
	expect_refused(&m, "section TABLES: table 0: field beyond end (7)");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_unknown_builtin)
{
	struct img m;

	img_init(&m);
	*IMG_AT(&m, struct rv_str, &m.ref->builtins[0]) = m.ref->rules[1].name;
	expect_refused(&m, "section BUILTINS: builtin 0: unknown builtin 'fallback'");
	img_fini(&m);
}
END_TEST

/* ---- hostile input: code ------------------------------------------------ */

/* Points at code[pc] of m's image. */
static uint32_t *
img_code(struct img *m, uint32_t pc)
{
	return IMG_AT(m, uint32_t, &m->ref->code[pc]);
}

START_TEST(test_refuses_unknown_opcode)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 23) = 200;
	expect_refused(&m, "section CODE: instruction 23: unknown opcode 200");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_unused_operand_bits)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 10) = RV_MK_ABC(RV_OP_MATCH, 0, 0, 1);
	expect_refused(&m, "instruction 10 (MATCH): unused operand bits set");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_jump_backward)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 3) = RV_MK_ABx(RV_OP_JMPF, 2, (uint16_t)-3);
	expect_refused(&m, "section CODE: instruction 3 (JMPF): jump offset -3 is not forward");
	*img_code(&m, 3) = RV_MK_ABx(RV_OP_JMPF, 2, 0);
	expect_refused(&m, "jump offset 0 is not forward");
	*img_code(&m, 3) = RV_MK_Ax(RV_OP_JMP, (uint32_t)-1);
	expect_refused(&m, "instruction 3 (JMP): jump offset -1 is not forward");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_jump_out_of_range)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 30) = RV_MK_ABx(RV_OP_JMPF, 4, 9);
	expect_refused(&m, "section CODE: instruction 30 (JMPF): jump target 40 beyond end of code (33)");
	*img_code(&m, 30) = RV_MK_Ax(RV_OP_JMP, RV_MAX_sJ);
	expect_refused(&m, "beyond end of code (33)");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_jump_onto_extraarg)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 18) = RV_MK_ABx(RV_OP_JMPF, 1, 1);
	expect_refused(&m, "instruction 18 (JMPF): jump target 20 is the EXTRAARG");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_register_out_of_range)
{
	struct img m;

	img_init(&m);
	img_header(&m)->max_regs = 5;
	expect_refused(&m, "instruction 6 (LOADK): register A 5 >= max_regs 5");
	img_header(&m)->max_regs = 6;
	*img_code(&m, 7) = RV_MK_ABC(RV_OP_EQ, 2, 4, 6);
	expect_refused(&m, "instruction 7 (EQ): register C 6 >= max_regs 6");
	*img_code(&m, 7) = RV_MK_ABC(RV_OP_EQ, 2, 200, 5);
	expect_refused(&m, "register B 200 >= max_regs 6");
	*img_code(&m, 7) = RV_MK_ABC(RV_OP_EQ, 2, 4, 5);
	*img_code(&m, 5) = RV_MK_ABC(RV_OP_CALL, 4, 0, 6);
	expect_refused(&m, "instruction 5 (CALL): arguments r6..r6 beyond max_regs 6");
	*img_code(&m, 5) = RV_MK_ABC(RV_OP_CALL, 4, 0, 3);
	*img_code(&m, 3) = RV_MK_ABx(RV_OP_JMPF, 9, 5);
	expect_refused(&m, "instruction 3 (JMPF): register A 9");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_max_regs_too_large)
{
	struct img m;

	img_init(&m);
	img_header(&m)->max_regs = RV_MAX_REGS + 1;
	expect_refused(&m, "max_regs 257 exceeds 256");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_loadk_out_of_range)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 1) = RV_MK_ABx(RV_OP_LOADK, 1, m.ref->nconsts);
	expect_refused(&m, "instruction 1 (LOADK): constant");
	expect_refused(&m, "beyond end");
	*img_code(&m, 1) = RV_MK_ABx(RV_OP_LOADF, 1, m.ref->nfields);
	expect_refused(&m, "instruction 1 (LOADF): field 7 beyond end (7)");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_extraarg)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 20) = RV_MK_Ax(RV_OP_EXTRAARG, m.ref->nconsts);
	expect_refused(&m, "instruction 19 (LOADKX): constant");
	*img_code(&m, 19) = RV_MK_ABC(RV_OP_LOADFX, 2, 0, 0);
	expect_refused(&m, "instruction 19 (LOADFX): field");
	*img_code(&m, 20) = RV_MK_ABC(RV_OP_NOP, 0, 0, 0);
	expect_refused(&m, "instruction 19 (LOADFX): not followed by EXTRAARG");
	img_fini(&m);
	img_init(&m);
	*img_code(&m, 23) = RV_MK_Ax(RV_OP_EXTRAARG, 0);
	expect_refused(&m, "instruction 23 (EXTRAARG): not preceded by LOADKX or LOADFX");
	img_fini(&m);
	img_init(&m);
	*img_code(&m, 32) = RV_MK_ABC(RV_OP_LOADKX, 0, 0, 0);
	expect_refused(&m, "instruction 32 (LOADKX): not followed by EXTRAARG");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_call_and_tget_out_of_range)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 5) = RV_MK_ABC(RV_OP_CALL, 4, 1, 3);
	expect_refused(&m, "instruction 5 (CALL): builtin 1 beyond end (1)");
	img_fini(&m);
	img_init(&m);
	*img_code(&m, 17) = RV_MK_ABC(RV_OP_TGET, 1, 1, 0);
	expect_refused(&m, "instruction 17 (TGET): table 1 beyond end (1)");
	img_fini(&m);
}
END_TEST

/* ---- hostile input: blocks, rules, actions, lines ---------------------- */

START_TEST(test_refuses_block_without_terminator)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 32) = RV_MK_ABC(RV_OP_NOP, 0, 0, 0);
	expect_refused(&m, "section RULES: rule 2 'vip customers': condition block at 16 runs off the end "
		"of code after instruction 32 (block without terminator)");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_yield_in_condition_block)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 9) = RV_MK_ABC(RV_OP_YIELD, 0, 0, 0);
	expect_refused(&m, "section RULES: rule 0 'high_value': condition block at 0 reaches YIELD at 9 "
		"(must end in MATCH or MISS)");
	img_fini(&m);
	img_init(&m);
	/* Falls through from the condition into the value block. */
	*img_code(&m, 10) = RV_MK_ABC(RV_OP_NOP, 0, 0, 0);
	expect_refused(&m, "condition block at 0 reaches YIELD at 12");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_match_in_value_block)
{
	struct img m;

	img_init(&m);
	*img_code(&m, 12) = RV_MK_ABC(RV_OP_MATCH, 0, 0, 0);
	expect_refused(&m, "section ACTIONS: action 1 (set): value block at 11 reaches MATCH at 12 "
		"(must end in YIELD)");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_action, &m.ref->actions[3])->b = 20;
	expect_refused(&m, "action 3 (emitf): value block at 20 starts on an EXTRAARG");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_rule_type_out_of_range)
{
	struct img m;

	img_init(&m);
	*IMG_AT(&m, uint32_t, &m.ref->rtypes[2]) = 4;
	expect_refused(&m, "section RTYPES: entry 2: contract 4 beyond end (4)");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_rule, &m.ref->rules[1])->nrtype = 4;
	expect_refused(&m, "rule 1 'fallback': types [1, +4) outside RTYPES (4)");
	IMG_AT(&m, struct rv_rule, &m.ref->rules[1])->nrtype = 0;
	expect_refused(&m, "rule 1 'fallback': listens on no event type");
	img_fini(&m);
}
END_TEST

/* Rules' RTYPES ranges must partition RTYPES, each ascending: overlapping
 * or uncovered ranges once crashed the runtime's per-contract lists. */
START_TEST(test_refuses_rtypes_not_partitioned)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_rule, &m.ref->rules[1])->nrtype = 1; /* leaves an entry uncovered */
	expect_refused(&m, "rule 2 'vip customers': types start at 3, not where the previous rule's end (2)");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_rule, &m.ref->rules[1])->nrtype = 1; /* the last entry uncovered */
	IMG_AT(&m, struct rv_rule, &m.ref->rules[2])->rtype = 2;
	expect_refused(&m, "section RTYPES: 4 entries, but the rules use");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_rule, &m.ref->rules[1])->rtype = 0;  /* overlaps rule 0 */
	expect_refused(&m, "rule 1 'fallback': types start at 0, not where the previous rule's end (1)");
	img_fini(&m);
	img_init(&m);
	*IMG_AT(&m, uint32_t, &m.ref->rtypes[2]) = m.ref->rtypes[1]; /* a contract twice */
	expect_refused(&m, "rule 1 'fallback': contracts not in ascending order");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_rule_fields)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->cond_pc = 33;
	expect_refused(&m, "rule 0 'high_value': condition block 33 beyond end of code (33)");
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->cond_pc = 11;
	expect_refused(&m, "rule 0 'high_value': condition block at 11 reaches YIELD at 12");
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->cond_pc = 0;
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->file = 1;
	expect_refused(&m, "rule 0 'high_value': file 1 beyond end (1)");
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->file = 0;
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->flags = 0x10;
	expect_refused(&m, "rule 0 'high_value': unknown flags 0x10");
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->flags = 0;
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->naction = 7;
	expect_refused(&m, "actions [0, +7) outside ACTIONS (6)");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_actions)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_action, &m.ref->actions[0])->a = 3;
	expect_refused(&m, "section ACTIONS: action 0 (route): destination 3 beyond end (3)");
	IMG_AT(&m, struct rv_action, &m.ref->actions[0])->kind = 9;
	expect_refused(&m, "action 0: unknown kind 9");
	IMG_AT(&m, struct rv_action, &m.ref->actions[0])->kind = RV_A_EMITF;
	IMG_AT(&m, struct rv_action, &m.ref->actions[0])->b = m.s.pc_set;
	expect_refused(&m, "action 0 (emitf) does not follow its emit");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_action, &m.ref->actions[2])->b = 2;
	expect_refused(&m, "action 2 (emit): action 4 is not an emitf");
	IMG_AT(&m, struct rv_action, &m.ref->actions[2])->b = 4;
	expect_refused(&m, "action 2 (emit): 4 fields run beyond end (6)");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_rule, &m.ref->rules[0])->naction = 3;
	expect_refused(&m, "rule 0 'high_value': actions [0, +3) split an emit group");
	img_fini(&m);
	img_init(&m);
	IMG_AT(&m, struct rv_action, &m.ref->actions[1])->b = 33;
	expect_refused(&m, "action 1 (set): value block 33 beyond end of code (33)");
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_unsorted_lines)
{
	struct img m;

	img_init(&m);
	IMG_AT(&m, struct rv_line, &m.ref->lines[2])->pc = 3;
	expect_refused(&m, "section LINES: entry 2: pc 3 not sorted (after 4)");
	IMG_AT(&m, struct rv_line, &m.ref->lines[2])->pc = 11;
	IMG_AT(&m, struct rv_line, &m.ref->lines[5])->pc = 33;
	expect_refused(&m, "section LINES: entry 5: pc 33 beyond end of code (33)");
	IMG_AT(&m, struct rv_line, &m.ref->lines[5])->pc = 16;
	IMG_AT(&m, struct rv_line, &m.ref->lines[5])->file = 1;
	expect_refused(&m, "section LINES: entry 5: file 1 beyond end (1)");
	img_fini(&m);
}
END_TEST

/* ---- allocation failure ------------------------------------------------- */

START_TEST(test_load_out_of_memory)
{
	struct img m;
	struct rv_prog *p;
	char err[256];
	unsigned long nth;

	img_init(&m);
	/* Fail each allocation the loader makes in turn, until none is left. */
	for (nth = 1;; nth++) {
		int rc;

		ru_alloc_failnext(nth);
		rc = rv_prog_load(m.buf, m.len, &p, err, sizeof err);
		ru_alloc_failnext(0);
		if (rc == 0) {
			rv_prog_free(p);
			break;
		}
		ck_assert_ptr_null(p);
		ck_assert_str_eq(err, "out of memory");
	}
	ck_assert_uint_eq(nth, 3); /* the program and the block scratch */
	img_fini(&m);
}
END_TEST

/* ---- TEMPORAL (format 1.1) --------------------------------------------- */

/* An image of a compiled temporal program, as struct img (s unused). */
static void
img_init_temporal(struct img *m)
{
	static const char src[] =
		"event e v1 { k: string, x: number }\n"
		"destination d\ndestination o\n"
		"rule w on e when x > 0 and count() >= 2 and sum(x) > 3 by k within 1m\n"
		"  throttle 1 per 1s else route o route d\n";
	struct rc_options o;
	char err[256];

	memset(m, 0, sizeof *m);
	rc_options_default(&o);
	o.diag = stderr;
	ck_assert_int_eq(rc_compile_string("t.route", src, sizeof src - 1, &o, &m->buf, &m->len, NULL),
		RC_EXIT_OK);
	ck_assert_msg(rv_prog_load(m->buf, m->len, &m->ref, err, sizeof err) == 0, "load: %s", err);
	ck_assert_uint_eq(m->ref->ntemporal, 1);
	ck_assert_uint_eq(m->ref->temporal[0].naggs, 2);
}

/* The pc of the first AGG of the aggregate block. */
static uint32_t
first_agg(const struct rv_prog *p)
{
	uint32_t pc;

	for (pc = p->temporal[0].agg_pc; RV_GET_OP(p->code[pc]) != RV_OP_AGG; pc++)
		;
	return pc;
}

/*
 * TSEQ (1.2): a sequence, an absence and a tumbling window, each with its
 * record; corrupt lists, fields, flags and blocks are refused.
 */
START_TEST(test_refuses_bad_tseq)
{
	static const char src[] =
		"event e v1 { k: string, x: number }\n"
		"event f v1 { k: string }\n"
		"destination d\n"
		"rule s on e as a then f where k == a.k within 1m emit e { k: a.k, x: a.x }\n"
		"rule u on e as a unless f where k == a.k within 1m route d\n"
		"rule t on e when count() > 1 by k every 1m emit e { k: k, x: 1 }\n";
	struct img m;
	struct rc_options o;
	char err[256];
	struct rv_tseq *q;
	struct rv_temporal *t;
	uint32_t *w, save;

	memset(&m, 0, sizeof m);
	rc_options_default(&o);
	o.diag = stderr;
	ck_assert_int_eq(rc_compile_string("t.route", src, sizeof src - 1, &o, &m.buf, &m.len, NULL), RC_EXIT_OK);
	ck_assert_msg(rv_prog_load(m.buf, m.len, &m.ref, err, sizeof err) == 0, "load: %s", err);
	ck_assert_uint_eq(m.ref->ntseq, 3);
	ck_assert_uint_eq(m.ref->tseq[1].flags, RV_SQ_KEEP_EVENT);
	ck_assert_uint_eq(m.ref->tseq[2].nbtypes, 0);
	q = IMG_AT(&m, struct rv_tseq, &m.ref->tseq[0]);
	q->flags = 2;
	expect_refused(&m, "section TSEQ: entry 0: unknown flags 0x2");
	q->flags = 0;
	q->bcond_pc = m.ref->ncode;
	expect_refused(&m, "section TSEQ: entry 0: condition block");
	q->bcond_pc = m.ref->tseq[0].bcond_pc;
	q->nkeys = 1000;
	expect_refused(&m, "section TSEQ: entry 0: a list runs outside TREFS");
	q->nkeys = 1;
	q->temporal = 1;
	expect_refused(&m, "no TSEQ record (in order)");
	q->temporal = 0;
	q->nbtypes = 0; /* a sequence without a second event */
	expect_refused(&m, "no TSEQ record (in order)");
	q->nbtypes = 1;
	/* a capture must land in a CAPTURE field, from an event field */
	w = IMG_AT(&m, uint32_t, &m.ref->trefs[m.ref->tseq[0].caps + 1]);
	save = *w;
	*w = m.ref->trefs[m.ref->tseq[0].caps];
	expect_refused(&m, "section TSEQ: entry 0: capture 0");
	*w = save;
	w = IMG_AT(&m, uint32_t, &m.ref->trefs[m.ref->tseq[0].akeys]);
	save = *w;
	*w = m.ref->trefs[m.ref->tseq[0].caps + 1];
	expect_refused(&m, "key field 0 is not an event field");
	*w = save;
	t = IMG_AT(&m, struct rv_temporal, &m.ref->temporal[0]);
	t->flags |= RV_TF_ABSENT;
	expect_refused(&m, "a sequence, absence or tumbling window with other clauses");
	t->flags &= ~RV_TF_ABSENT;
	t = IMG_AT(&m, struct rv_temporal, &m.ref->temporal[2]);
	w = IMG_AT(&m, uint32_t, &m.ref->trefs[m.ref->temporal[2].aggs]);
	save = *w;
	*w = RV_AGGK_DISTINCT;
	expect_refused(&m, "distinct() over a tumbling window");
	*w = save;
	img_fix_checksum(m.buf, m.len);
	{
		struct rv_prog *p2 = NULL;

		ck_assert_msg(rv_prog_load(m.buf, m.len, &p2, err, sizeof err) == 0, "restored image: %s", err);
		rv_prog_free(p2);
	}
	img_fini(&m);
}
END_TEST

START_TEST(test_refuses_bad_temporal)
{
	struct img m;
	struct rv_temporal *t;
	uint32_t *w, pc, save;

	img_init_temporal(&m);
	t = IMG_AT(&m, struct rv_temporal, &m.ref->temporal[0]);
	t->rule = 7;
	expect_refused(&m, "section TEMPORAL: entry 0: rule 7 beyond end");
	t->rule = 0;
	t->flags |= 0x100;
	expect_refused(&m, "unknown flags 0x1");
	t->flags &= ~0x100u;
	t->flags &= ~RV_TF_THROTTLE;
	expect_refused(&m, "else destinations without a throttle");
	t->flags |= RV_TF_THROTTLE;
	t->throttle_n = 0;
	expect_refused(&m, "throttle of 0");
	t->throttle_n = 1;
	t->naggs = RV_MAX_AGGS + 1;
	expect_refused(&m, "more than 32");
	t->naggs = 5000;
	expect_refused(&m, "more than 32");
	t->naggs = 2;
	w = IMG_AT(&m, uint32_t, &m.ref->trefs[m.ref->temporal[0].aggs]);
	save = *w;
	*w = RV_AGGK_N;
	expect_refused(&m, "aggregate 0: kind 7");
	*w = RV_AGGK_SUM; /* sum needs a field, count has none */
	expect_refused(&m, "aggregate 0: kind 1, field 4294967295");
	*w = save;
	t->within_ms = 0;
	expect_refused(&m, "window and aggregates disagree");
	t->within_ms = 60000;
	t->agg_pc = m.ref->ncode;
	expect_refused(&m, "aggregate block");
	t->agg_pc = m.ref->temporal[0].agg_pc;
	/* AGG reading past the rule's aggregates */
	pc = first_agg(m.ref);
	w = IMG_AT(&m, uint32_t, &m.ref->code[pc]);
	save = *w;
	*w = RV_MK_ABC(RV_OP_AGG, RV_GET_A(save), 2, 0);
	expect_refused(&m, "AGG 2 outside an aggregate block");
	*w = save;
	/* AGG in the rule's filter (a plain condition block) */
	w = IMG_AT(&m, uint32_t, &m.ref->code[m.ref->rules[0].cond_pc]);
	save = *w;
	*w = RV_MK_ABC(RV_OP_AGG, 0, 0, 0);
	expect_refused(&m, "outside an aggregate block");
	*w = save;
	img_fix_checksum(m.buf, m.len);
	{
		struct rv_prog *p;
		char err[256];

		ck_assert_msg(rv_prog_load(m.buf, m.len, &p, err, sizeof err) == 0, "restored: %s", err);
		rv_prog_free(p);
	}
	img_fini(&m);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

/* Writes the sample and the empty image to dir, as fuzzing seeds (no ck_assert: outside tests). */
static void
write_seeds(const char *dir)
{
	static const char *const names[] = { "sample.rbc", "empty.rbc" };
	struct sample smp;
	unsigned char *buf;
	size_t len;
	char path[4096], err[256];
	FILE *f;
	int i;

	for (i = 0; i < 2; i++) {
		struct rc_rbc *b = i == 0 ? sample_build(&smp) : rc_rbc_new();

		if (rc_rbc_write(b, i == 0 ? 6 : 0, &buf, &len, err, sizeof err) == 0) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			f = fopen(path, "wb");
			if (f == NULL || fwrite(buf, 1, len, f) != len)
				fprintf(stderr, "%s: cannot write\n", path);
			if (f != NULL)
				fclose(f);
			ru_free(buf);
		}
		rc_rbc_free(b);
	}
}

static Suite *
bytecode_suite(void)
{
	Suite *s = suite_create("bytecode");
	TCase *tc;

	tc = tcase_create("roundtrip");
	tcase_add_test(tc, test_roundtrip_sample);
	tcase_add_test(tc, test_roundtrip_file);
	tcase_add_test(tc, test_empty_program_loads);
	tcase_add_test(tc, test_disasm_listing);
	tcase_add_test(tc, test_disasm_deterministic);
	tcase_add_test(tc, test_opinfo_matches_opcodes_def);
	suite_add_tcase(s, tc);

	tc = tcase_create("builder");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_dedup_strings);
	tcase_add_test(tc, test_dedup_consts);
	tcase_add_test(tc, test_dedup_fields);
	tcase_add_test(tc, test_dedup_builtins_and_files);
	tcase_add_test(tc, test_line_table);
	tcase_add_test(tc, test_write_refuses_too_many_registers);
	tcase_add_test(tc, test_builder_scales_to_100k_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_every_truncation_refused);
	tcase_add_test(tc, test_every_bitflip_refused);
	tcase_add_test(tc, test_refuses_bad_checksum);
	tcase_add_test(tc, test_refuses_bad_magic);
	tcase_add_test(tc, test_refuses_bad_major_version);
	tcase_add_test(tc, test_accepts_newer_minor_version);
	tcase_add_test(tc, test_refuses_bad_header_size);
	tcase_add_test(tc, test_refuses_file_size_mismatch);
	tcase_add_test(tc, test_refuses_unknown_header_flags);
	tcase_add_test(tc, test_refuses_too_many_sections);
	tcase_add_test(tc, test_refuses_section_out_of_range);
	tcase_add_test(tc, test_refuses_overlapping_sections);
	tcase_add_test(tc, test_refuses_duplicate_section);
	tcase_add_test(tc, test_refuses_unknown_section_id);
	tcase_add_test(tc, test_refuses_unaligned_section);
	tcase_add_test(tc, test_refuses_bad_section_size);
	tcase_add_test(tc, test_refuses_bad_const_kind);
	tcase_add_test(tc, test_refuses_bad_const_flags);
	tcase_add_test(tc, test_refuses_set_item_out_of_range);
	tcase_add_test(tc, test_refuses_bad_cidr);
	tcase_add_test(tc, test_refuses_bad_range_bound);
	tcase_add_test(tc, test_refuses_string_outside_strs);
	tcase_add_test(tc, test_refuses_bad_field_hash);
	tcase_add_test(tc, test_refuses_overlapping_field_names);
	tcase_add_test(tc, test_refuses_bad_contract_links);
	tcase_add_test(tc, test_refuses_bad_dest_and_table);
	tcase_add_test(tc, test_refuses_unknown_builtin);
	tcase_add_test(tc, test_refuses_unknown_opcode);
	tcase_add_test(tc, test_refuses_unused_operand_bits);
	tcase_add_test(tc, test_refuses_jump_backward);
	tcase_add_test(tc, test_refuses_jump_out_of_range);
	tcase_add_test(tc, test_refuses_jump_onto_extraarg);
	tcase_add_test(tc, test_refuses_register_out_of_range);
	tcase_add_test(tc, test_refuses_max_regs_too_large);
	tcase_add_test(tc, test_refuses_loadk_out_of_range);
	tcase_add_test(tc, test_refuses_bad_extraarg);
	tcase_add_test(tc, test_refuses_call_and_tget_out_of_range);
	tcase_add_test(tc, test_refuses_block_without_terminator);
	tcase_add_test(tc, test_refuses_yield_in_condition_block);
	tcase_add_test(tc, test_refuses_match_in_value_block);
	tcase_add_test(tc, test_refuses_rule_type_out_of_range);
	tcase_add_test(tc, test_refuses_rtypes_not_partitioned);
	tcase_add_test(tc, test_refuses_bad_rule_fields);
	tcase_add_test(tc, test_refuses_bad_actions);
	tcase_add_test(tc, test_refuses_unsorted_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("fault");
	tcase_add_test(tc, test_load_out_of_memory);
	tcase_add_test(tc, test_refuses_bad_temporal);
	tcase_add_test(tc, test_refuses_bad_tseq);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(bytecode_suite());
	const char *seeds = getenv("RBC_WRITE_SEEDS");
	int nfailed;

	if (seeds != NULL)
		write_seeds(seeds);
	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
