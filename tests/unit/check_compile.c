/*
 * check_compile.c -- unit tests for code generation (compiler/lower.c,
 * compiler/opt.c, compiler/emit.c, compiler/rbc.c) through the driver:
 * programs are compiled with rc_compile_string, the image is loaded and
 * verified with rv_prog_load, and its sections are inspected: rules and their
 * flags, actions, destinations and policies, constants and the code of each
 * condition block at -O0 and -O2. Also: temporal rules, determinism, and
 * allocation-failure injection into the loader (the compiler aborts on
 * out-of-memory by design, so it is not injected).
 */
#include "config.h"
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#endif

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define EV \
	"event e v1 { x: number, y: number, s: string, p: \"low\" | \"high\", tags: [string],\n" \
	"  o?: number, ip?: ip, obj: { c: string } }\n"

/* Compiles src at opt and loads it; r must be freed by the caller. */
static struct rv_prog *
build(struct tu_result *r, const char *src, int opt)
{
	tu_compile_opt(r, src, opt, 0);
	TU_OK(r);
	return tu_load(r);
}

/* The end (exclusive) of the code block starting at pc: the next block entry. */
static uint32_t
block_end(const struct rv_prog *p, uint32_t pc)
{
	uint32_t end = p->ncode, i;

	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].cond_pc > pc && p->rules[i].cond_pc < end)
			end = p->rules[i].cond_pc;
	for (i = 0; i < p->nactions; i++) {
		const struct rv_action *a = &p->actions[i];

		if ((a->kind == RV_A_SET || a->kind == RV_A_EMITF) && a->b > pc && a->b < end)
			end = a->b;
	}
	return end;
}

/* Number of instructions with opcode op in the block at pc. */
static unsigned
count_op(const struct rv_prog *p, uint32_t pc, enum rv_op op)
{
	uint32_t end = block_end(p, pc), i;
	unsigned n = 0;

	for (i = pc; i < end; i++)
		if (RV_GET_OP(p->code[i]) == op)
			n++;
	return n;
}

static int
str_is(const struct rv_prog *p, struct rv_str s, const char *want)
{
	size_t len = strlen(want);

	return s.len == len && memcmp(rv_prog_str(p, s), want, len) == 0;
}

static uint32_t
rule_index(const struct rv_prog *p, const char *name)
{
	uint32_t i;

	for (i = 0; i < p->nrules; i++)
		if (str_is(p, p->rules[i].name, name))
			return i;
	ck_abort_msg("no rule '%s'", name);
	return 0;
}

static uint32_t
dest_index(const struct rv_prog *p, const char *name)
{
	uint32_t i;

	for (i = 0; i < p->ndests; i++)
		if (str_is(p, p->dests[i].name, name))
			return i;
	ck_abort_msg("no destination '%s'", name);
	return 0;
}

/* ---- structure ------------------------------------------------------------ */

#define PROG EV \
	"event f v1 { k: string }\nevent f v2 { k: string, n?: number }\n" \
	"destination d1 { priority 1; workers 3; queue 500; retry 4 backoff 1s..2m; max_age 1h;\n" \
	"  timeout 5s; dead_letter dlq; batch every 1m or 100; throttle 50 per 1s }\n" \
	"destination d2\ndestination dlq\n" \
	"rule route2 on e when x > 10 route d1, d2\n" \
	"rule tr on e when s icontains \"u\" set p = \"high\", y = x * 2\n" \
	"rule em on e when x > 1000 emit f { k: s }\n" \
	"rule fb on e otherwise route d2\n" \
	"rule onf on f route d1\n"

START_TEST(test_counts)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);

	ck_assert_uint_eq(p->nrules, 5);
	ck_assert_uint_eq(p->ndests, 3);
	ck_assert_uint_eq(p->ntypes, 2);
	ck_assert_uint_eq(p->ncontracts, 3);
	ck_assert_uint_eq(p->types[1].ncontract, 2);
	ck_assert_uint_eq(r.st.nrules, 5);
	ck_assert_uint_eq(r.st.ndests, 3);
	ck_assert_uint_eq(r.st.nevents, 2);
	ck_assert_uint_eq(r.st.rbc_bytes, r.rbclen);
	ck_assert_uint_eq(r.st.ninsns, p->ncode);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_rule_flags)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);

	ck_assert_uint_eq(p->rules[rule_index(p, "route2")].flags, RV_RF_ROUTES);
	ck_assert_uint_eq(p->rules[rule_index(p, "tr")].flags, RV_RF_TRANSFORM);
	ck_assert_uint_eq(p->rules[rule_index(p, "em")].flags, 0);
	ck_assert_uint_eq(p->rules[rule_index(p, "fb")].flags, RV_RF_OTHERWISE | RV_RF_ROUTES);
	ck_assert_uint_eq(p->rules[rule_index(p, "onf")].flags, RV_RF_ROUTES);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_rule_types_and_location)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);
	const struct rv_rule *ru = &p->rules[rule_index(p, "onf")];

	/* `on f` listens on both versions of f: contracts 1 (v1) and 2 (v2) */
	ck_assert_uint_eq(ru->nrtype, 2);
	ck_assert_uint_eq(p->rtypes[ru->rtype], 1);
	ck_assert_uint_eq(p->rtypes[ru->rtype + 1], 2);
	ck_assert_uint_eq(p->contracts[p->rtypes[ru->rtype + 1]].version, 2);
	ck_assert_uint_eq(ru->line, 13);
	ck_assert_uint_eq(ru->col, 6);
	ck_assert_uint_eq(p->nfiles, 1);
	ck_assert(str_is(p, p->files[ru->file], TU_NAME));
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_route_actions)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);
	const struct rv_rule *ru = &p->rules[rule_index(p, "route2")];
	const struct rv_action *a = &p->actions[ru->action];

	ck_assert_uint_eq(ru->naction, 2);
	ck_assert_uint_eq(a[0].kind, RV_A_ROUTE);
	ck_assert_uint_eq(a[0].a, dest_index(p, "d1"));
	ck_assert_uint_eq(a[1].kind, RV_A_ROUTE);
	ck_assert_uint_eq(a[1].a, dest_index(p, "d2"));
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_set_actions)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);
	const struct rv_rule *ru = &p->rules[rule_index(p, "tr")];
	const struct rv_action *a = &p->actions[ru->action];
	uint32_t end;

	ck_assert_uint_eq(ru->naction, 2);
	ck_assert_uint_eq(a[0].kind, RV_A_SET);
	ck_assert(str_is(p, p->fields[a[0].a].name, "p"));
	ck_assert_uint_eq(a[1].kind, RV_A_SET);
	ck_assert(str_is(p, p->fields[a[1].a].name, "y"));
	/* value blocks: the first loads the constant "high", the second multiplies */
	end = block_end(p, a[0].b);
	ck_assert_uint_eq(RV_GET_OP(p->code[end - 1]), RV_OP_YIELD);
	ck_assert_uint_eq(RV_GET_OP(p->code[a[0].b]), RV_OP_LOADK);
	ck_assert_uint_eq(p->consts[RV_GET_Bx(p->code[a[0].b])].kind, RV_K_STR);
	ck_assert_uint_eq(count_op(p, a[1].b, RV_OP_MUL), 1);
	ck_assert_uint_eq(count_op(p, a[1].b, RV_OP_YIELD), 1);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_emit_actions)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);
	const struct rv_rule *ru = &p->rules[rule_index(p, "em")];
	const struct rv_action *a = &p->actions[ru->action];

	ck_assert_uint_eq(ru->naction, 2);
	ck_assert_uint_eq(a[0].kind, RV_A_EMIT);
	/* EMIT names the contract: type f, its latest version (2) */
	ck_assert(str_is(p, p->types[p->contracts[a[0].a].type].name, "f"));
	ck_assert_uint_eq(p->contracts[a[0].a].version, 2);
	ck_assert_uint_eq(a[0].b, 1);
	ck_assert_uint_eq(a[1].kind, RV_A_EMITF);
	ck_assert(str_is(p, p->fields[a[1].a].name, "k"));
	ck_assert_uint_eq(count_op(p, a[1].b, RV_OP_YIELD), 1);
	ck_assert_uint_eq(count_op(p, a[1].b, RV_OP_LOADF), 1);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_emit_nested_and_list_values_compiled)
{
	struct tu_result r;
	struct rv_prog *p;
	const struct rv_action *a;
	uint32_t i;
	int have_tags = 0, have_inner = 0;

	p = build(&r, EV "event g v1 { id: string, tags: [string], o: { c: string } }\n"
		"rule m on e emit g { id: s, tags: [s, \"x\"], o: { c: obj.c } }", 2);
	a = &p->actions[p->rules[0].action];
	ck_assert_uint_eq(a[0].kind, RV_A_EMIT);
	for (i = 1; i <= a[0].b; i++) {
		ck_assert_uint_eq(a[i].kind, RV_A_EMITF);
		if (str_is(p, p->fields[a[i].a].name, "tags"))
			have_tags = 1;
		if (str_is(p, p->fields[a[i].a].name, "o.c"))
			have_inner = 1;
	}
	ck_assert_msg(have_inner, "the nested member o.c is not emitted");
	ck_assert_msg(have_tags, "the list member 'tags' (required by g v1) is silently "
		"left out of the derived event: %u EMITF", a[0].b);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_destination_policies_stored)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);
	const struct rv_dest *d = &p->dests[dest_index(p, "d1")];
	const struct rv_dest *d2 = &p->dests[dest_index(p, "d2")];

	ck_assert_uint_eq(d->priority, 1);
	ck_assert_uint_eq(d->workers, 3);
	ck_assert_uint_eq(d->queue_max, 500);
	ck_assert_uint_eq(d->retry_max, 4);
	ck_assert_uint_eq(d->backoff_min_ms, 1000);
	ck_assert_uint_eq(d->backoff_max_ms, 120000);
	ck_assert_uint_eq(d->max_age_ms, 3600000);
	ck_assert_uint_eq(d->timeout_ms, 5000);
	ck_assert_uint_eq(d->dead_letter, dest_index(p, "dlq"));
	ck_assert_uint_eq(d->batch_every_ms, 60000);
	ck_assert_uint_eq(d->batch_max, 100);
	ck_assert_uint_eq(d->throttle_n, 50);
	ck_assert_uint_eq(d->throttle_per_ms, 1000);
	/* defaults */
	ck_assert_uint_eq(d2->priority, 5);
	ck_assert_uint_eq(d2->workers, 1);
	ck_assert_uint_eq(d2->dead_letter, RV_NONE);
	ck_assert_uint_eq(d2->retry_max, 0);
	ck_assert_uint_eq(d2->throttle_n, 0);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_contract_fields_stored)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, PROG, 2);
	const struct rv_contract *c;
	uint32_t i;
	int saw_n = 0;

	/* f v2 has an optional field n */
	c = &p->contracts[p->types[1].contract + 1];
	ck_assert_uint_eq(c->version, 2);
	for (i = 0; i < c->ncfield; i++) {
		const struct rv_cfield *cf = &p->cfields[c->cfield + i];

		if (str_is(p, cf->path, "n")) {
			saw_n = 1;
			ck_assert_uint_eq(cf->flags & RV_CF_OPTIONAL, RV_CF_OPTIONAL);
			ck_assert_uint_eq(cf->type, RV_T_NUMBER);
		}
	}
	ck_assert(saw_n);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_table_compiled)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, EV "event c v1 { id: string, tier: \"a\" | \"b\" }\n"
		"event gone v1 { id: string }\ndestination d\n"
		"table tier: \"a\" | \"b\" by id from c set tier delete on gone ttl 1d max_keys 9\n"
		"rule r on e when tier[s] == \"a\" route d", 2);

	ck_assert_uint_eq(p->ntables, 1);
	ck_assert(str_is(p, p->tables[0].name, "tier"));
	ck_assert_uint_eq(p->tables[0].ttl_ms, 86400000);
	ck_assert_uint_eq(p->tables[0].max_keys, 9);
	ck_assert_uint_ne(p->tables[0].del_type, RV_NONE);
	ck_assert_uint_eq(count_op(p, p->rules[0].cond_pc, RV_OP_TGET), 1);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

/* ---- optimisation ------------------------------------------------------ */

START_TEST(test_constant_folding_at_O2)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, EV "destination d\nrule r on e when x > 2 * 3 route d", 2);
	uint32_t pc = p->rules[0].cond_pc, i, end = block_end(p, pc);
	int six = 0;

	ck_assert_uint_eq(count_op(p, pc, RV_OP_MUL), 0);
	for (i = pc; i < end; i++)
		if (RV_GET_OP(p->code[i]) == RV_OP_LOADK) {
			const struct rv_const *k = &p->consts[RV_GET_Bx(p->code[i])];
			double v;

			memcpy(&v, &k->b, sizeof v);
			if (k->kind == RV_K_NUM && v == 6)
				six = 1;
		}
	ck_assert_msg(six, "no LOADK of 6");
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_no_folding_at_O0)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, EV "destination d\nrule r on e when x > 2 * 3 route d", 0);

	ck_assert_uint_eq(count_op(p, p->rules[0].cond_pc, RV_OP_MUL), 1);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_constant_true_condition_is_match)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, EV "destination d\nrule r on e when true or x == 1 route d", 2);
	uint32_t pc = p->rules[0].cond_pc;

	ck_assert_uint_eq(block_end(p, pc) - pc, 1);
	ck_assert_uint_eq(RV_GET_OP(p->code[pc]), RV_OP_MATCH);
	ck_assert_uint_eq(p->rules[0].cost, 1);
	rv_prog_free(p);
	tu_free(&r);
	/* at -O0 the field is still loaded and compared */
	p = build(&r, EV "destination d\nrule r on e when true or x == 1 route d", 0);
	ck_assert_uint_ge(block_end(p, p->rules[0].cond_pc) - p->rules[0].cond_pc, 2);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_constant_false_condition_is_miss)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, EV "destination d\nrule r on e when false and x == 1 route d", 2);
	uint32_t pc = p->rules[0].cond_pc;

	ck_assert_uint_eq(count_op(p, pc, RV_OP_LOADF), 0);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_MATCH), 0);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_MISS), 1);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_rule_without_when_is_match)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, EV "destination d\nrule r on e route d", 2);

	ck_assert_uint_eq(RV_GET_OP(p->code[p->rules[0].cond_pc]), RV_OP_MATCH);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

START_TEST(test_operators_lowered)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, EV "destination d\n"
		"rule r on e when s prefix \"a\" and s ieq \"b\" and x in [1, 2] and ip in 10.0.0.0/8\n"
		" and x in 1..<5 and o missing and s not in [\"z\"] route d", 2);
	uint32_t pc = p->rules[0].cond_pc;

	ck_assert_uint_eq(count_op(p, pc, RV_OP_PREFIX), 1);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_IEQ), 1);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_IN), 1);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_CIDR), 1);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_RANGE), 1);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_EXISTS), 1);
	ck_assert_uint_eq(count_op(p, pc, RV_OP_NIN), 1);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

/* A program using most of the language, for the whole-pipeline tests. */
#define BIG EV \
	"event g v1 { id: string, n: number }\nevent g v2 { id: string, n: number, extra?: string }\n" \
	"destination d { retry 3 backoff 1s..1m; dead_letter q }\ndestination q\ndestination z\n" \
	"rule a on e when (x > 1 and y < 2) or not (s contains \"k\") route d\n" \
	"rule b on e when len(lower(s)) > 3 and abs(x - y) >= 2 * 3 - 1 route z\n" \
	"rule c on e when p in [\"low\", \"high\"] and tags == \"t\" and obj.c like \"a*?\" route q\n" \
	"rule s1 on e when s imatches r\"^ab+c$\" set y = (x + 1) % 7, s = upper(s)\n" \
	"rule em on e when ip not in [192.168.0.0/16, fc00::/7] emit g v1 { id: s, n: -x }\n" \
	"rule w on g v2 when extra exists or n != 0 route z\n" \
	"rule any on * when @source suffix \".example\" route q\n" \
	"rule fb on e otherwise route z\n"

START_TEST(test_O0_and_O2_both_verify)
{
	int opt;

	for (opt = 0; opt <= 2; opt++) {
		struct tu_result r;
		struct rv_prog *p = build(&r, BIG, opt);

		ck_assert_uint_eq(p->nrules, 8);
		rv_prog_free(p);
		tu_free(&r);
	}
}
END_TEST

START_TEST(test_O2_not_larger_than_O0)
{
	struct tu_result r0, r2;
	struct rv_prog *p0 = build(&r0, BIG, 0), *p2 = build(&r2, BIG, 2);

	ck_assert_uint_le(p2->ncode, p0->ncode);
	rv_prog_free(p0);
	rv_prog_free(p2);
	tu_free(&r0);
	tu_free(&r2);
}
END_TEST

START_TEST(test_deterministic_output)
{
	int opt;

	for (opt = 0; opt <= 2; opt += 2) {
		struct tu_result r1, r2;

		tu_compile_opt(&r1, BIG, opt, 0);
		tu_compile_opt(&r2, BIG, opt, 0);
		TU_OK(&r1);
		TU_OK(&r2);
		ck_assert_uint_eq(r1.rbclen, r2.rbclen);
		ck_assert_int_eq(memcmp(r1.rbc, r2.rbc, r1.rbclen), 0);
		tu_free(&r1);
		tu_free(&r2);
	}
}
END_TEST

/* ---- temporal and errors ------------------------------------------------ */

/* Compiles (or only checks) EV, a destination d, a plain rule and rule (one line). */
static void
compile_with_rule(struct tu_result *r, const char *rule, int check_only)
{
	char src[1024];

	snprintf(src, sizeof src, "%sdestination d\nrule plain on e when x > 1 route d\n%s", EV, rule);
	tu_compile_opt(r, src, 2, check_only);
}

START_TEST(test_temporal_rules_compile)
{
	static const char *const rules[] = {
		"rule t on e when count() > 3 within 10m by s route d",
		"rule t on e when x > 1 and sum(x) > 3 and distinct(s) >= 2 within 1h route d",
		"rule t on e dedup by s within 1h route d",
		"rule t on e dedup within 1h route d",
		"rule t on e when x > 1 throttle 5 per 1s route d",
		"rule t on e when rate() > 10/s within 1m throttle 1 per 1m else route d route d",
		"rule t on e when count() > 3 within 1m backpressure",
		"rule t on e as a then e where s == a.s within 1h route d",
		"rule t on e unless e where s == \"x\" within 1m route d",
		"rule t on e as a when x > 1 then e as b where b.s == a.s and y > 2 and a.y < 5 by p within 1h "
		"emit e { x: a.x, y: b.y, s: s, p: \"low\", tags: [], obj: { c: b.s } }",
		"rule t on e as a unless e where s == a.s within 15m emit e { x: x, y: 1, s: a.s, p: p, tags: [], "
		"obj: { c: @id } }",
		"rule t on e when count() > 3 by s within 10m timestamp x lateness 30s route d",
		"rule t on e dedup by s within 1h timestamp x route d",
		"rule t on e when x > 1 and count() > 3 and avg(y) < 2 by s, p every 10m "
		"emit e { x: 1, y: 2, s: s, p: p, tags: [], obj: { c: s } }",
	};
	size_t i;

	for (i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		struct tu_result r;

		compile_with_rule(&r, rules[i], 0);
		ck_assert_msg(r.rc == RC_EXIT_OK, "'%s':\n%s", rules[i], r.text);
		ck_assert_ptr_nonnull(r.rbc);
		tu_free(&r);
	}
}
END_TEST

/* Sequences and absences the code generator refuses, each with its own message. */
START_TEST(test_sequence_limits)
{
	static const struct {
		const char *rule;
		int id;
	} cases[] = {
		{ "rule t on e as a then e where s != a.s within 1h route d", RL_E_SEQ_WHERE },
		{ "rule t on e as a then e where s == a.s or x > 1 within 1h route d", RL_E_SEQ_WHERE },
		{ "rule t on e as a then e where s == a.s within 1h throttle 1 per 1m route d", RL_E_SEQ_WITH },
		{ "rule t on e as a then e where s == a.s within 1h dedup within 1h route d", RL_E_SEQ_WITH },
		{ "rule t on e as a when count() > 2 then e where s == a.s within 1h route d", RL_E_SEQ_WITH },
		{ "rule t on e as a unless e as b where b.s == a.s within 1h "
		  "emit e { x: b.x, y: 1, s: \"\", p: \"low\", tags: [], obj: { c: \"\" } }", RL_E_SEQ_SECOND },
		{ "rule t on e as a then e as b where b.s == a.s when b.x > 1 within 1h route d", RL_E_SEQ_SECOND },
		{ "rule t on e as a unless e where s == a.s within 1h timestamp x route d", RL_E_TIMESTAMP_WITH },
		{ "rule t on e when count() > 1 by s every 1h timestamp x emit e { x: 1, y: 1, s: s, p: \"low\", "
		  "tags: [], obj: { c: s } }", RL_E_TIMESTAMP_WITH },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tu_result r;

		compile_with_rule(&r, cases[i].rule, 0);
		ck_assert_msg(r.rc == RC_EXIT_RULES && r.counts[cases[i].id] == 1 && r.nerrors == 1, "'%s':\n%s",
			cases[i].rule, r.text);
		ck_assert_ptr_null(r.rbc);
		tu_free(&r);
	}
}
END_TEST

START_TEST(test_temporal_rule_fails_compile_passes_check)
{
	static const struct {
		const char *rule;
		int id;
	} cases[] = {
		{ "rule t on e when count() > 3 every 10m by s route d", RL_E_EVERY_WITH },
		{ "rule t on e when distinct(s) > 3 every 10m by s emit e { x: 1, y: 1, s: s, p: \"low\", tags: [], "
		  "obj: { c: s } }", RL_E_EVERY_WITH },
		{ "rule t on e when count() > 3 every 10m by s throttle 1 per 1h emit e { x: 1, y: 1, s: s, p: \"low\", "
		  "tags: [], obj: { c: s } }", RL_E_EVERY_WITH },
		{ "rule t on e when count() > 3 every 10m by s emit e { x: x, y: 1, s: s, p: \"low\", tags: [], "
		  "obj: { c: s } }", RL_E_EVERY_VALUE },
		{ "rule t on e when count() > 3 within 10m set x = 1", RL_E_TEMPORAL_CODEGEN },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tu_result r;

		compile_with_rule(&r, cases[i].rule, 0);
		ck_assert_int_eq(r.rc, RC_EXIT_RULES);
		ck_assert_ptr_null(r.rbc);
		ck_assert_msg(r.counts[cases[i].id] == 1 && r.nerrors == 1, "'%s':\n%s", cases[i].rule, r.text);
		tu_free(&r);
		compile_with_rule(&r, cases[i].rule, 1);
		ck_assert_msg(r.rc == RC_EXIT_OK && r.nerrors == 0, "'%s':\n%s", cases[i].rule, r.text);
		ck_assert_uint_eq(r.st.nrules, 2);
		tu_free(&r);
	}
}
END_TEST

START_TEST(test_errors_produce_no_image)
{
	struct tu_result r;

	tu_compile(&r, EV "destination d\nrule r on e when nope > 1 route d");
	ck_assert_int_eq(r.rc, RC_EXIT_RULES);
	ck_assert_ptr_null(r.rbc);
	ck_assert_uint_eq(r.nerrors, 1);
	tu_free(&r);
	/* a warning alone does not stop compilation */
	tu_compile(&r, EV "destination d\ndestination unused\nrule r on e route d");
	TU_OK(&r);
	ck_assert_uint_eq(r.nwarnings, 1);
	ck_assert_ptr_nonnull(r.rbc);
	tu_free(&r);
}
END_TEST

START_TEST(test_werror_turns_warning_into_error)
{
	struct rc_options o;
	unsigned char *rbc = NULL;
	size_t len = 0;
	const char *src = EV "destination d\ndestination unused\nrule r on e route d";

	rc_options_default(&o);
	o.diag = NULL;
	o.werror = 1;
	ck_assert_int_eq(rc_compile_string(TU_NAME, src, strlen(src), &o, &rbc, &len, NULL), RC_EXIT_RULES);
	ck_assert_ptr_null(rbc);
}
END_TEST

START_TEST(test_empty_program_compiles)
{
	struct tu_result r;
	struct rv_prog *p = build(&r, "", 2);

	ck_assert_uint_eq(p->nrules, 0);
	ck_assert_uint_eq(p->ntypes, 0);
	rv_prog_free(p);
	tu_free(&r);
}
END_TEST

/* ---- allocation failures ------------------------------------------------- */

START_TEST(test_loader_allocation_failures)
{
	struct tu_result r;
	unsigned long n;
	int ok = 0, failed = 0;

	tu_compile(&r, BIG);
	TU_OK(&r);
	for (n = 1; n <= 64; n++) {
		struct rv_prog *p = NULL;
		char err[256];
		int rc;

		ru_alloc_failnext(n);
		rc = rv_prog_load(r.rbc, r.rbclen, &p, err, sizeof err);
		ru_alloc_failnext(0);
		if (rc == 0) {
			ck_assert_ptr_nonnull(p);
			ck_assert_uint_eq(p->nrules, 8);
			rv_prog_free(p);
			ok++;
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_msg(err[0] != '\0', "no reason given at n=%lu", n);
			failed++;
		}
	}
	/* the first allocation must be able to fail, and the loader succeeds once
	   the failure lies past its last allocation */
	ck_assert_int_gt(failed, 0);
	ck_assert_int_gt(ok, 0);
	tu_free(&r);
}
END_TEST

START_TEST(test_loader_rejects_truncated_image)
{
	struct tu_result r;
	struct rv_prog *p = NULL;
	char err[256];

	tu_compile(&r, BIG);
	TU_OK(&r);
	ck_assert_int_eq(rv_prog_load(r.rbc, r.rbclen - 1, &p, err, sizeof err), -1);
	ck_assert_ptr_null(p);
	r.rbc[r.rbclen / 2] ^= 0x40;
	ck_assert_int_eq(rv_prog_load(r.rbc, r.rbclen, &p, err, sizeof err), -1);
	tu_free(&r);
}
END_TEST

static Suite *
compile_suite(void)
{
	Suite *s = suite_create("compile");
	TCase *tc = tcase_create("structure");

	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_rule_flags);
	tcase_add_test(tc, test_rule_types_and_location);
	tcase_add_test(tc, test_route_actions);
	tcase_add_test(tc, test_set_actions);
	tcase_add_test(tc, test_emit_actions);
	tcase_add_test(tc, test_emit_nested_and_list_values_compiled);
	tcase_add_test(tc, test_destination_policies_stored);
	tcase_add_test(tc, test_contract_fields_stored);
	tcase_add_test(tc, test_table_compiled);
	suite_add_tcase(s, tc);

	tc = tcase_create("optimisation");
	tcase_add_test(tc, test_constant_folding_at_O2);
	tcase_add_test(tc, test_no_folding_at_O0);
	tcase_add_test(tc, test_constant_true_condition_is_match);
	tcase_add_test(tc, test_constant_false_condition_is_miss);
	tcase_add_test(tc, test_rule_without_when_is_match);
	tcase_add_test(tc, test_operators_lowered);
	tcase_add_test(tc, test_O0_and_O2_both_verify);
	tcase_add_test(tc, test_O2_not_larger_than_O0);
	tcase_add_test(tc, test_deterministic_output);
	suite_add_tcase(s, tc);

	tc = tcase_create("driver");
	tcase_add_test(tc, test_temporal_rule_fails_compile_passes_check);
	tcase_add_test(tc, test_sequence_limits);
	tcase_add_test(tc, test_temporal_rules_compile);
	tcase_add_test(tc, test_errors_produce_no_image);
	tcase_add_test(tc, test_werror_turns_warning_into_error);
	tcase_add_test(tc, test_empty_program_compiles);
	tcase_add_test(tc, test_loader_allocation_failures);
	tcase_add_test(tc, test_loader_rejects_truncated_image);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run(compile_suite());
}
