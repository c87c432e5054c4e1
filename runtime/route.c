/*
 * route.c -- libroute's public API (route.h): loading, matchers, the three
 * phases of a decision, and explain.
 *
 * A decision, for an event of contract c (its type and version):
 *   1. transform: the rules of c that `set` fields, in program order; each
 *      sees the fields set by the ones before (VM overrides);
 *   2. routing: every other rule of c, against the transformed event; all
 *      that match fire (fan-out);
 *   3. otherwise: the `otherwise` rules of c, when no rule that routes matched.
 * Destinations are collected once each (a stamp per destination), emitted
 * events are built as JSON objects, and when fields were set the output is
 * the event rewritten by json_out.c. The per-contract rule lists are sorted
 * into those phases when the program is loaded; in step 2 the shared index
 * (index.c) names the rules that can match, and only those are run.
 *
 * Ownership: route_prog owns the verified program, the scanner, the regex
 * databases and the lists; route_matcher owns every buffer a match writes,
 * sized at creation from the program and the limits, so route_match()
 * allocates nothing.
 */
#include "config.h"
#include "route.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "alloc.h"
#include "event.h"
#include "index.h"
#include "state.h"
#include "temporal.h"
#include "json_out.h"
#include "partition.h"
#include "vm.h"

struct route_prog {
	struct rv_prog *p;          /* owns */
	struct rv_rt rt;            /* owns its arrays and databases */
	struct route_options opt;   /* type_field points at type_field_copy */
	char *type_field_copy;      /* owns */
	struct rv_partition part;   /* owns: how the state splits by key (partition.h) */
};

struct route_matcher {
	const struct route_prog *rp;    /* borrows */
	struct rv_vm vm;                /* owns its buffers */
	uint32_t *rules;                /* owns: matched rules of the decision (nrules cap) */
	uint32_t *dests;                /* owns: ndests cap */
	uint32_t *dest_stamp;           /* owns: per destination, the event stamp it was taken in */
	uint32_t stamp;
	struct route_set *sets;         /* owns: one per SET action at most */
	uint32_t *set_fields;           /* owns: fields with an override to clear */
	uint32_t nset_fields;
	struct route_emit *emits;       /* owns: one per EMIT action at most */
	struct route_pushback *pushbacks; /* owns: one per temporal rule at most */
	struct rv_json_member *members; /* owns: scratch for edits and emits */
	size_t *seglens;                /* owns: segment lengths of members */
	const char **segs;              /* owns: segment pointers of members */
	char *text;                     /* owns: JSON text of set values and emitted events */
	size_t text_cap, text_used;
	char *out;                      /* owns: the rewritten event ... */
	char *out2;                     /* owns: ... and its other half (sets applied one by one) */
	size_t out_cap;
	int valid;                      /* the last event was scanned and typed */
	uint32_t nmatched;              /* rules matched by the last event */
	uint32_t *evaluated;            /* owns: per rule, the stamp of the last event that ran it */
	struct route_rule_cost *cost;   /* owns: per rule, what evaluating it cost (route_matcher_rule_cost) */
	uint32_t time_every;            /* route_matcher_time_rules: 1 event in time_every is timed */
	uint32_t time_left;             /* events until the next timed one */
	int timing;                     /* this event's rules are timed */
	uint64_t clock_ns;              /* what two back-to-back clock reads take (subtracted) */
	uint32_t *cand;                 /* owns: index candidates of the routing phase ... */
	uint32_t *cand_stamp;           /* owns: ... per rule, the stamp of the event it was added for */
	uint32_t ncand;
	uint32_t contract;              /* its contract */
	route_state *state;             /* borrows: tables, temporal state and clock (own_state or the caller's) */
	route_state *own_state;         /* owns: the matcher's own state */
	struct route_why *why;          /* explain: where the trace writes */
	char *why_text;                 /* owns: the explained value's JSON text */
	size_t why_cap;
};

/* ---- loading ------------------------------------------------------------ */

/*
 * *o := *in (zero if in is NULL) with defaults for every unset limit;
 * max_string is capped at max_event_bytes. o borrows in's type_field, which
 * prog_setup then copies.
 */
static void
options_fill(struct route_options *o, const struct route_options *in)
{
	memset(o, 0, sizeof *o);
	if (in)
		*o = *in;
	if (o->type_field == NULL)
		o->type_field = "event_type";
	if (o->max_event_bytes == 0)
		o->max_event_bytes = 1u << 20;
	if (o->max_depth == 0)
		o->max_depth = 64;
	if (o->max_string == 0)
		o->max_string = 256u << 10;
	if (o->max_values == 0)
		o->max_values = 4096;
	if (o->max_string > o->max_event_bytes)
		o->max_string = o->max_event_bytes;
}

/* XXH32 (seed 0) of s[0..n), the hash of the type-name table. */
static uint32_t
name_hash(const char *s, size_t n)
{
	return XXH32(s, n, 0);
}

/* Type names -> type index, open addressing (RV_NONE = empty). */
static int
build_type_hash(struct rv_rt *rt)
{
	const struct rv_prog *p = rt->p;
	uint32_t cap = 16, i, h;

	while (cap < p->ntypes * 2 + 1)
		cap *= 2;
	if ((rt->type_hash = ru_malloc(cap * sizeof *rt->type_hash)) == NULL)
		return -1;
	memset(rt->type_hash, 0xff, cap * sizeof *rt->type_hash);
	rt->type_hash_cap = cap;
	for (i = 0; i < p->ntypes; i++) {
		const struct rv_str *nm = &p->types[i].name;

		for (h = name_hash(p->strs + nm->off, nm->len) & (cap - 1); rt->type_hash[h] != RV_NONE;
		     h = (h + 1) & (cap - 1))
			;
		rt->type_hash[h] = i;
	}
	return 0;
}

/* Returns the index of the type named s[0..n), or RV_NONE if there is none. */
static uint32_t
type_lookup(const struct rv_rt *rt, const char *s, size_t n)
{
	const struct rv_prog *p = rt->p;
	uint32_t h, t;

	for (h = name_hash(s, n) & (rt->type_hash_cap - 1); (t = rt->type_hash[h]) != RV_NONE;
	     h = (h + 1) & (rt->type_hash_cap - 1)) {
		const struct rv_str *nm = &p->types[t].name;

		if (nm->len == n && memcmp(p->strs + nm->off, s, n) == 0)
			return t;
	}
	return RV_NONE;
}

/* Evaluation phase of a rule: transform, routing, otherwise. */
static int
phase(const struct rv_rule *r)
{
	if (r->flags & RV_RF_TRANSFORM)
		return 0;
	return (r->flags & RV_RF_OTHERWISE) ? 2 : 1;
}

/*
 * Per contract, its rules in evaluation order (phase, then program order):
 * contract_first[c] .. contract_first[c+1] in contract_rules.
 */
static int
build_contract_lists(struct rv_rt *rt)
{
	const struct rv_prog *p = rt->p;
	uint32_t *fill, i, j, c, ph;

	rt->contract_first = ru_malloc((p->ncontracts + 1) * sizeof *rt->contract_first);
	rt->contract_rules = ru_malloc((p->nrtypes + 1) * sizeof *rt->contract_rules);
	fill = ru_malloc((p->ncontracts + 1) * sizeof *fill);
	if (!rt->contract_first || !rt->contract_rules || !fill) {
		ru_free(fill);
		return -1;
	}
	memset(rt->contract_first, 0, (p->ncontracts + 1) * sizeof *rt->contract_first);
	for (i = 0; i < p->nrtypes; i++)
		rt->contract_first[p->rtypes[i] + 1]++;
	for (c = 0; c < p->ncontracts; c++)
		rt->contract_first[c + 1] += rt->contract_first[c];
	memcpy(fill, rt->contract_first, p->ncontracts * sizeof *fill);
	if ((rt->phase_first = ru_malloc((2 * (size_t)p->ncontracts + 1) * sizeof *rt->phase_first)) == NULL) {
		ru_free(fill);
		return -1;
	}
	for (ph = 0; ph < 3; ph++) {
		if (ph > 0)
			for (c = 0; c < p->ncontracts; c++)
				rt->phase_first[2 * c + ph - 1] = fill[c];
		for (i = 0; i < p->nrules; i++) {
			const struct rv_rule *r = &p->rules[i];

			if (phase(r) != (int)ph)
				continue;
			for (j = 0; j < r->nrtype; j++) {
				c = p->rtypes[r->rtype + j];
				rt->contract_rules[fill[c]++] = i;
			}
		}
	}
	ru_free(fill);
	return 0;
}

/* A REGEX constant's pattern (NUL-terminated, malloc'd) and Hyperscan flags; NULL on OOM. */
static char *
regex_pattern(const struct rv_prog *p, uint32_t k, unsigned *flags)
{
	const struct rv_const *c = &p->consts[k];
	char *pat = ru_malloc(c->b + 1);

	*flags = HS_FLAG_UTF8 | HS_FLAG_ALLOWEMPTY | HS_FLAG_SINGLEMATCH
		 | ((c->flags & RV_KF_CASELESS) ? HS_FLAG_CASELESS : 0);
	if (pat) {
		memcpy(pat, p->strs + c->a, c->b);
		pat[c->b] = '\0';
	}
	return pat;
}

/*
 * Every REGEX constant is checked at load (hs_expression_info: the parse
 * and analysis, a fifth of a compile), so a program Hyperscan refuses does
 * not load; its database is compiled on first use (rv_regex_db), since
 * with the index most regex rules are never candidates: 1k regex rules
 * loaded in 244 ms when each was compiled here.
 */
static int
build_regexes(struct rv_rt *rt, char *err, size_t errlen)
{
	const struct rv_prog *p = rt->p;
	uint32_t k;

	if ((rt->regex = ru_malloc((p->nconsts + 1) * sizeof *rt->regex)) == NULL)
		return -1;
	memset(rt->regex, 0, (p->nconsts + 1) * sizeof *rt->regex);
	for (k = 0; k < p->nconsts; k++) {
		const struct rv_const *c = &p->consts[k];
		hs_compile_error_t *ce = NULL;
		hs_expr_info_t *info = NULL;
		unsigned flags;
		char *pat;

		if (c->kind != RV_K_REGEX)
			continue;
		if ((pat = regex_pattern(p, k, &flags)) == NULL)
			return -1;
		if (memchr(pat, '\0', c->b) != NULL || hs_expression_info(pat, flags, &info, &ce) != HS_SUCCESS) {
			snprintf(err, errlen, "constant %u: regular expression refused: %s", k,
				ce && ce->message ? ce->message : "NUL byte in pattern");
			hs_free_compile_error(ce);
			ru_free(pat);
			return -1;
		}
		free(info); /* Hyperscan's misc allocator: malloc */
		ru_free(pat);
	}
	return 0;
}

hs_database_t *
rv_regex_db(const struct rv_rt *crt, uint32_t k)
{
	/* the databases are the one part of a loaded program that changes, under regex_mu */
	struct rv_rt *rt = (struct rv_rt *)crt;
	hs_database_t *db = __atomic_load_n(&rt->regex[k], __ATOMIC_ACQUIRE);
	hs_compile_error_t *ce = NULL;
	unsigned flags;
	char *pat;

	if (db != NULL)
		return db;
	pthread_mutex_lock(&rt->regex_mu);
	if ((db = rt->regex[k]) == NULL && (pat = regex_pattern(rt->p, k, &flags)) != NULL) {
		if (hs_compile(pat, flags, HS_MODE_BLOCK, NULL, &db, &ce) != HS_SUCCESS) {
			hs_free_compile_error(ce); /* checked at load: only a resource limit gets here */
			db = NULL;
		} else {
			__atomic_store_n(&rt->regex[k], db, __ATOMIC_RELEASE);
		}
		ru_free(pat);
	}
	pthread_mutex_unlock(&rt->regex_mu);
	return db;
}

/*
 * Frees what rt owns (regex databases, scanner, contract lists, type hash)
 * and zeroes it; rt->p is borrowed and not freed. Safe on a partly built rt.
 */
static void
rt_fini(struct rv_rt *rt)
{
	uint32_t k;

	if (rt->regex && rt->p)
		for (k = 0; k < rt->p->nconsts; k++)
			if (rt->regex[k])
				hs_free_database(rt->regex[k]);
	ru_free(rt->regex);
	if (rt->regex_mu_init)
		pthread_mutex_destroy(&rt->regex_mu);
	rv_scanner_free(rt->scanner);
	ru_free(rt->contract_first);
	ru_free(rt->contract_rules);
	ru_free(rt->phase_first);
	rv_index_free(rt->ix);
	ru_free(rt->pred);
	ru_free(rt->rule_temporal);
	ru_free(rt->seq_first);
	ru_free(rt->seq_list);
	ru_free(rt->type_hash);
	memset(rt, 0, sizeof *rt);
}

/*
 * Per contract, the sequences and absences whose second event it can be
 * (TSEQ btypes), in TSEQ order: counted, then filled. -1 on OOM.
 */
static int
build_seq_lists(struct rv_rt *rt)
{
	const struct rv_prog *p = rt->p;
	uint32_t i, j, n = 0, *fill;

	rt->seq_first = ru_malloc(((size_t)p->ncontracts + 1) * sizeof *rt->seq_first);
	fill = ru_malloc(((size_t)p->ncontracts + 1) * sizeof *fill);
	for (i = 0; i < p->ntseq; i++)
		n += p->tseq[i].nbtypes;
	rt->seq_list = ru_malloc(((size_t)n + 1) * sizeof *rt->seq_list);
	if (rt->seq_first == NULL || fill == NULL || rt->seq_list == NULL) {
		ru_free(fill);
		return -1;
	}
	memset(rt->seq_first, 0, ((size_t)p->ncontracts + 1) * sizeof *rt->seq_first);
	for (i = 0; i < p->ntseq; i++)
		for (j = 0; j < p->tseq[i].nbtypes; j++)
			rt->seq_first[p->trefs[p->tseq[i].btypes + j] + 1]++;
	for (i = 0; i < p->ncontracts; i++)
		rt->seq_first[i + 1] += rt->seq_first[i];
	memcpy(fill, rt->seq_first, ((size_t)p->ncontracts + 1) * sizeof *fill);
	for (i = 0; i < p->ntseq; i++)
		for (j = 0; j < p->tseq[i].nbtypes; j++)
			rt->seq_list[fill[p->trefs[p->tseq[i].btypes + j]]++] = i;
	ru_free(fill);
	return 0;
}

/* Builds everything the runtime needs from a verified program; takes p. */
static route_prog *
prog_setup(struct rv_prog *p, const struct route_options *o, char *err, size_t errlen)
{
	route_prog *rp = ru_malloc(sizeof *rp);
	struct rv_scan_config sc;
	uint32_t i;

	if (rp == NULL) {
		rv_prog_free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(rp, 0, sizeof *rp);
	rp->p = p;
	rp->rt.p = p;
	pthread_mutex_init(&rp->rt.regex_mu, NULL);
	rp->rt.regex_mu_init = 1;
	options_fill(&rp->opt, o);
	/* the caller's string need not outlive the load */
	if ((rp->type_field_copy = ru_malloc(strlen(rp->opt.type_field) + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		route_prog_free(rp);
		return NULL;
	}
	strcpy(rp->type_field_copy, rp->opt.type_field);
	rp->opt.type_field = rp->type_field_copy;
	rv_scan_config_default(&sc);
	sc.envelope = (enum rv_envelope)rp->opt.envelope;
	sc.plain_names[RV_META_TYPE] = rp->opt.type_field;
	sc.max_bytes = rp->opt.max_event_bytes;
	sc.max_depth = rp->opt.max_depth;
	sc.max_string = rp->opt.max_string;
	sc.max_values = rp->opt.max_values;
	err[0] = '\0';
	rp->rt.version_field = RV_NONE;
	for (i = 0; i < p->nfields; i++) {
		const struct rv_field *f = &p->fields[i];
		const struct rv_str *sg = &p->segs[f->seg];

		if (f->where == RV_FW_META && sg->len == 7 && memcmp(p->strs + sg->off, "version", 7) == 0)
			rp->rt.version_field = i;
	}
	if (p->ntemporal > 0) {
		if ((rp->rt.rule_temporal = ru_malloc((size_t)p->nrules * sizeof *rp->rt.rule_temporal)) == NULL) {
			snprintf(err, errlen, "out of memory");
			route_prog_free(rp);
			return NULL;
		}
		memset(rp->rt.rule_temporal, 0xff, (size_t)p->nrules * sizeof *rp->rt.rule_temporal);
		for (i = 0; i < p->ntemporal; i++)
			rp->rt.rule_temporal[p->temporal[i].rule] = i;
	}
	if (p->ntseq > 0 && build_seq_lists(&rp->rt) < 0) {
		snprintf(err, errlen, "out of memory");
		route_prog_free(rp);
		return NULL;
	}
	if ((rp->rt.scanner = rv_scanner_new(p, &sc)) == NULL || build_type_hash(&rp->rt) < 0
	    || build_contract_lists(&rp->rt) < 0 || build_regexes(&rp->rt, err, errlen) < 0
	    || (!rp->opt.no_index && (rv_index_build(&rp->rt, err, errlen) < 0 || rv_preds_build(&rp->rt) < 0))
	    || rv_partition_build(p, &rp->part) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "out of memory");
		route_prog_free(rp);
		return NULL;
	}
	return rp;
}

route_prog *
route_prog_load(const void *buf, size_t len, const struct route_options *o, char *err, size_t errlen)
{
	struct rv_prog *p;

	if (rv_prog_load(buf, len, &p, err, errlen) < 0)
		return NULL;
	return prog_setup(p, o, err, errlen);
}

route_prog *
route_prog_load_file(const char *path, const struct route_options *o, char *err, size_t errlen)
{
	struct rv_prog *p;

	if (rv_prog_load_file(path, &p, err, errlen) < 0)
		return NULL;
	return prog_setup(p, o, err, errlen);
}

void
route_prog_free(route_prog *rp)
{
	if (rp == NULL)
		return;
	rt_fini(&rp->rt);
	rv_partition_free(&rp->part);
	rv_prog_free(rp->p);
	ru_free(rp->type_field_copy);
	ru_free(rp);
}

/* ---- introspection ---------------------------------------------------- */

/*
 * Borrows string s of rp's pool (not NUL-terminated); stores its length in
 * *len when len is not NULL.
 */
static const char *
str(const route_prog *rp, struct rv_str s, size_t *len)
{
	if (len)
		*len = s.len;
	return rv_prog_str(rp->p, s);
}

uint32_t route_prog_nrules(const route_prog *rp) { return rp->p->nrules; }
uint32_t route_prog_ndests(const route_prog *rp) { return rp->p->ndests; }
uint32_t route_prog_ntypes(const route_prog *rp) { return rp->p->ntypes; }
uint32_t route_prog_ntables(const route_prog *rp) { return rp->p->ntables; }
uint32_t route_prog_ntemporal(const route_prog *rp) { return rp->p->ntemporal; }
const struct rv_prog *rv_route_prog(const route_prog *rp) { return rp->p; }

const char *
route_table_name(const route_prog *rp, uint32_t t, size_t *len)
{
	return t < rp->p->ntables ? str(rp, rp->p->tables[t].name, len) : NULL;
}

void
route_matcher_set_state(route_matcher *m, route_state *st)
{
	m->state = st ? st : m->own_state;
	m->vm.state = m->state;
}

const char *
route_rule_name(const route_prog *rp, uint32_t rule, size_t *len)
{
	return rule < rp->p->nrules ? str(rp, rp->p->rules[rule].name, len) : NULL;
}

const char *
route_dest_name(const route_prog *rp, uint32_t dest, size_t *len)
{
	return dest < rp->p->ndests ? str(rp, rp->p->dests[dest].name, len) : NULL;
}

int
route_dest_policy(const route_prog *rp, uint32_t dest, struct route_dest_policy *pol)
{
	const struct rv_dest *d;

	if (dest >= rp->p->ndests)
		return -1;
	d = &rp->p->dests[dest];
	pol->retry_max = d->retry_max;
	pol->backoff_min_ms = d->backoff_min_ms;
	pol->backoff_max_ms = d->backoff_max_ms;
	pol->max_age_ms = d->max_age_ms;
	pol->timeout_ms = d->timeout_ms;
	pol->dead_letter = d->dead_letter == RV_NONE ? ROUTE_NONE : d->dead_letter;
	pol->priority = d->priority;
	pol->workers = d->workers ? d->workers : 1;
	pol->queue_max = d->queue_max;
	pol->batch_every_ms = d->batch_every_ms;
	pol->batch_max = d->batch_max;
	pol->throttle_n = d->throttle_n;
	pol->throttle_per_ms = d->throttle_n ? d->throttle_per_ms : 0;
	return 0;
}

const char *
route_type_name(const route_prog *rp, uint32_t type, size_t *len)
{
	return type < rp->p->ntypes ? str(rp, rp->p->types[type].name, len) : NULL;
}

const char *
route_field_name(const route_prog *rp, uint32_t field, size_t *len)
{
	return field < rp->p->nfields ? str(rp, rp->p->fields[field].name, len) : NULL;
}

const char *
route_rule_location(const route_prog *rp, uint32_t rule, size_t *file_len, uint32_t *line,
	uint32_t *col)
{
	const struct rv_rule *r;

	if (file_len)
		*file_len = 0;
	if (rule >= rp->p->nrules)
		return NULL;
	r = &rp->p->rules[rule];
	if (line)
		*line = r->line;
	if (col)
		*col = r->col;
	return r->file < rp->p->nfiles ? str(rp, rp->p->files[r->file], file_len) : NULL;
}

/* ---- matchers ------------------------------------------------------------ */

void
route_matcher_free(route_matcher *m)
{
	if (m == NULL)
		return;
	route_state_free(m->own_state);
	ru_free(m->vm.regs);
	ru_free(m->vm.ev.vals);
	ru_free(m->vm.numv);
	ru_free(m->vm.numv_seq);
	ru_free(m->vm.regex_ready);
	ru_free(m->vm.memo_seq);
	ru_free(m->vm.memo_val);
	ru_free(m->vm.ev.first);
	ru_free(m->vm.ev.last);
	ru_free(m->vm.ev.scratch);
	ru_free(m->vm.override);
	ru_free(m->vm.tmp[0]);
	ru_free(m->vm.tmp[1]);
	ru_free(m->vm.scratch);
	if (m->vm.hs)
		hs_free_scratch(m->vm.hs);
	ru_free(m->rules);
	ru_free(m->evaluated);
	ru_free(m->cost);
	ru_free(m->cand);
	ru_free(m->cand_stamp);
	ru_free(m->dests);
	ru_free(m->dest_stamp);
	ru_free(m->sets);
	ru_free(m->set_fields);
	ru_free(m->emits);
	ru_free(m->pushbacks);
	ru_free(m->members);
	ru_free(m->seglens);
	ru_free(m->segs);
	ru_free(m->text);
	ru_free(m->out);
	ru_free(m->out2);
	ru_free(m->why_text);
	ru_free(m);
}

/* calloc through the failure-injecting allocator; n may be 0. */
static void *
zalloc(size_t count, size_t size)
{
	void *q;

	if (size && count > ((size_t)-1) / size)
		return NULL;
	if ((q = ru_malloc(count * size + 1)) != NULL)
		memset(q, 0, count * size + 1);
	return q;
}

route_matcher *
route_matcher_new(const route_prog *rp)
{
	const struct rv_prog *p = rp->p;
	const struct route_options *o = &rp->opt;
	route_matcher *m = zalloc(1, sizeof *m);
	uint32_t nsegs_max = 0, i;
	size_t big = (size_t)o->max_event_bytes * 2 + 4096;

	if (m == NULL)
		return NULL;
	m->rp = rp;
	m->vm.rt = &rp->rt;
	m->vm.run = o->switch_dispatch ? rv_vm_run_switch : rv_vm_run;
	for (i = 0; i < p->nfields; i++)
		nsegs_max += p->fields[i].nseg;
	/* an emit may name one field several times (in a hand-made program):
	 * room for the largest emit's paths too */
	for (i = 0; i < p->nactions; i++) {
		uint32_t f, need = 0;

		if (p->actions[i].kind != RV_A_EMIT)
			continue;
		for (f = 0; f < p->actions[i].b; f++)
			need += p->fields[p->actions[i + 1 + f].a].nseg;
		if (need > nsegs_max)
			nsegs_max = need;
	}
	m->vm.regs = zalloc(p->max_regs ? p->max_regs : 1, sizeof *m->vm.regs);
	m->vm.ev.vals = zalloc(o->max_values, sizeof *m->vm.ev.vals);
	m->vm.numv = zalloc(o->max_values, sizeof *m->vm.numv);
	m->vm.numv_seq = zalloc(o->max_values, sizeof *m->vm.numv_seq);
	m->vm.ev.first = zalloc(p->nfields, sizeof *m->vm.ev.first);
	m->vm.ev.last = zalloc(p->nfields, sizeof *m->vm.ev.last);
	m->vm.ev.scratch = zalloc(rv_scanner_scratch_size(rp->rt.scanner), sizeof *m->vm.ev.scratch);
	m->vm.override = zalloc(p->nfields, sizeof *m->vm.override);
	m->vm.tmp[0] = zalloc(o->max_string + 8, 1);
	m->vm.tmp[1] = zalloc(o->max_string + 8, 1);
	m->vm.scratch_cap = big;
	m->vm.scratch = zalloc(big, 1);
	m->rules = zalloc(p->nrules, sizeof *m->rules);
	m->evaluated = zalloc(p->nrules, sizeof *m->evaluated);
	m->cost = zalloc(p->nrules ? p->nrules : 1, sizeof *m->cost);
	m->cand = zalloc(p->nrules, sizeof *m->cand);
	m->cand_stamp = zalloc(p->nrules, sizeof *m->cand_stamp);
	m->dests = zalloc(p->ndests, sizeof *m->dests);
	m->dest_stamp = zalloc(p->ndests, sizeof *m->dest_stamp);
	m->sets = zalloc(p->nactions, sizeof *m->sets);
	m->set_fields = zalloc(p->nactions + 1, sizeof *m->set_fields);
	m->emits = zalloc(p->nactions, sizeof *m->emits);
	m->pushbacks = zalloc(p->ntemporal ? p->ntemporal : 1, sizeof *m->pushbacks);
	m->members = zalloc(p->nactions + 1, sizeof *m->members);
	/* an emit's members: its fields plus the type and version members */
	m->seglens = zalloc(nsegs_max + 2, sizeof *m->seglens);
	m->segs = zalloc(nsegs_max + 2, sizeof *m->segs);
	m->text_cap = big;
	m->text = zalloc(big, 1);
	m->out_cap = big;
	m->out = zalloc(big, 1);
	m->out2 = zalloc(big, 1);
	m->why_cap = o->max_string * 2 + 64;
	m->why_text = zalloc(m->why_cap, 1);
	if (!m->vm.regs || !m->vm.ev.vals || !m->vm.numv || !m->vm.numv_seq
	    || !m->vm.ev.first || !m->vm.ev.last || !m->vm.ev.scratch
	    || !m->vm.override
	    || !m->vm.tmp[0] || !m->vm.tmp[1] || !m->vm.scratch || !m->rules || !m->evaluated || !m->cost || !m->cand || !m->cand_stamp || !m->dests
	    || !m->dest_stamp || !m->sets || !m->set_fields || !m->emits || !m->pushbacks || !m->members
	    || !m->seglens || !m->segs || !m->text || !m->out || !m->out2 || !m->why_text)
		goto fail;
	/* regex databases are compiled on first use; their scratch is grown then (regex_ready) */
	m->vm.regex_ready = zalloc(p->nconsts / 8 + 1, 1);
	if (!m->vm.regex_ready)
		goto fail;
	if (rv_index_alloc_scratch(rp->rt.ix, &m->vm.hs) < 0)
		goto fail;
	if (rp->rt.npred > 0) {
		m->vm.memo_seq = zalloc(rp->rt.npred, sizeof *m->vm.memo_seq);
		m->vm.memo_val = zalloc(rp->rt.npred, sizeof *m->vm.memo_val);
		if (!m->vm.memo_seq || !m->vm.memo_val)
			goto fail;
	}
	/* a state of its own when the program remembers anything */
	if (p->ntables > 0 || p->ntemporal > 0) {
		if ((m->own_state = route_state_new(rp)) == NULL)
			goto fail;
		route_matcher_set_state(m, NULL);
	}
	rv_event_init(rp->rt.scanner, &m->vm.ev);
	return m;
fail:
	route_matcher_free(m);
	return NULL;
}

/* ---- matching ----------------------------------------------------------- */

/* The event's contract from its type and version; sets d's type fields. */
static int
find_contract(route_matcher *m, struct route_decision *d, uint32_t *contract)
{
	const struct rv_prog *p = m->rp->p;
	const struct rv_event *ev = &m->vm.ev;
	const struct rv_jval *tj = &ev->meta[RV_META_TYPE];
	const struct rv_type *t;
	const char *s;
	size_t n;
	uint32_t ver = 0, c;

	if (!ev->has_meta[RV_META_TYPE] || tj->kind != RV_J_STRING) {
		d->status = ROUTE_REJECTED;
		d->reason = ev->cloudevents ? "the event has no string \"type\" attribute"
			: "the event has no string type member";
		d->offset = ev->has_meta[RV_META_TYPE] ? tj->off : 0;
		return -1;
	}
	s = m->vm.buf + tj->off;
	n = tj->len;
	if (tj->flags & RV_JF_ESCAPED) {
		n = rv_json_unescape(m->vm.buf, tj, m->vm.tmp[0]);
		s = m->vm.tmp[0];
	}
	if ((d->type = type_lookup(&m->rp->rt, s, n)) == RV_NONE) {
		d->status = ROUTE_UNKNOWN_TYPE;
		d->reason = "no contract declares this event type";
		return -1;
	}
	t = &p->types[d->type];
	if (ev->has_meta[RV_META_VERSION] && ev->meta[RV_META_VERSION].kind != RV_J_NULL) {
		/* a number (2), or a string "2" or "v2" */
		const struct rv_jval *vj = &ev->meta[RV_META_VERSION];
		const char *q = m->vm.buf + vj->off;
		size_t i = 0, len = vj->len;

		if (vj->kind == RV_J_STRING && len > 0 && (q[0] == 'v' || q[0] == 'V'))
			i = 1;
		if ((vj->kind != RV_J_STRING && vj->kind != RV_J_NUMBER) || i == len)
			goto bad_version;
		for (; i < len; i++) {
			if (q[i] < '0' || q[i] > '9' || ver > 100000000)
				goto bad_version;
			ver = ver * 10 + (uint32_t)(q[i] - '0');
		}
		for (c = t->contract; c < t->contract + t->ncontract; c++)
			if (p->contracts[c].version == ver)
				break;
		if (c == t->contract + t->ncontract) {
			d->status = ROUTE_UNKNOWN_VERSION;
			d->reason = "this version of the event type is not declared";
			d->version = ver;
			return -1;
		}
	} else {
		c = t->contract + t->ncontract - 1; /* no version: the latest */
	}
	d->version = p->contracts[c].version;
	*contract = c;
	return 0;
bad_version:
	d->status = ROUTE_REJECTED;
	d->reason = "the event version is not a number, \"N\" or \"vN\"";
	d->offset = ev->meta[RV_META_VERSION].off;
	return -1;
}

/* Did rv_json_edit fail for lack of room (not because of the path)? */
static int
outlen_too_big(const char *why)
{
	return why != NULL && strstr(why, "does not fit") != NULL;
}

/*
 * Adds dest to d once per event (dest_stamp remembers it); m->dests has
 * room for every destination.
 */
static void
add_dest(route_matcher *m, struct route_decision *d, uint32_t dest)
{
	if (m->dest_stamp[dest] == m->stamp)
		return;
	m->dest_stamp[dest] = m->stamp;
	m->dests[d->ndests++] = dest;
}

/* Copies JSON text of v into the decision's text buffer; NULL if full. */
static const char *
keep_json(route_matcher *m, const struct rv_val *v, size_t *len)
{
	char *at = m->text + m->text_used;

	*len = rv_val_json(&m->vm, v, at, m->text_cap - m->text_used);
	if (*len == 0)
		return NULL;
	m->text_used += *len;
	return at;
}

/* The path of field f as json_out members want it; segments borrowed. */
static void
field_path(route_matcher *m, uint32_t f, struct rv_json_member *mem, uint32_t *segpos)
{
	const struct rv_prog *p = m->rp->p;
	const struct rv_field *fd = &p->fields[f];
	uint32_t i;

	mem->segs = m->segs + *segpos;
	mem->seglens = m->seglens + *segpos;
	mem->nseg = fd->nseg;
	for (i = 0; i < fd->nseg; i++) {
		m->segs[*segpos + i] = p->strs + p->segs[fd->seg + i].off;
		m->seglens[*segpos + i] = p->segs[fd->seg + i].len;
	}
	*segpos += fd->nseg;
}

/* Does a value fit a field of declared type t (the event may break its contract)? */
static int
fits(unsigned t, const struct rv_val *v)
{
	if (v->k == RV_V_NULL || (t & ~(unsigned)RV_T_ARRAY) == RV_T_ANY)
		return 1;
	switch (t) {
	case RV_T_STRING: case RV_T_IP: case RV_T_TIME: return v->k == RV_V_STR;
	case RV_T_NUMBER: return v->k == RV_V_NUM;
	case RV_T_BOOL: return v->k == RV_V_BOOL;
	default: return 0;
	}
}

/*
 * Runs the actions of a matched rule: sets (evaluated and applied as VM
 * overrides for the rules after it), routes, emits. Returns -1 when the
 * decision's buffers are full.
 */
static int
run_actions(route_matcher *m, struct route_decision *d, uint32_t ri)
{
	const struct rv_prog *p = m->rp->p;
	const struct rv_rule *r = &p->rules[ri];
	uint32_t a, end = r->action + r->naction;
	struct rv_val v;

	for (a = r->action; a < end; a++) {
		const struct rv_action *ac = &p->actions[a];

		switch (ac->kind) {
		case RV_A_ROUTE:
			add_dest(m, d, ac->a);
			break;
		case RV_A_SET: {
			struct route_set *st;
			uint32_t i;

			if (m->vm.run(&m->vm, ac->b, &v) != RV_VM_YIELD || v.k == RV_V_MISSING)
				break; /* no value: the field is left as it was */
			if (v.k == RV_V_FIELD && !rv_val_first(&m->vm, &v, &v))
				break;
			if (!fits(p->fields[ac->a].type, &v))
				break; /* a value of another type than the field's: left as it was */
			for (i = 0; i < d->nsets; i++)
				if (m->sets[i].field == ac->a)
					break;
			st = &m->sets[i];
			if (i == d->nsets)
				d->nsets++;
			st->field = ac->a;
			if ((st->json = keep_json(m, &v, &st->len)) == NULL)
				return -1;
			if (m->vm.override[ac->a].k == RV_V_MISSING)
				m->set_fields[m->nset_fields++] = ac->a;
			m->vm.override[ac->a] = v;
			m->vm.scratch_mark = m->vm.scratch_used; /* the value's string stays */
			break;
		}
		case RV_A_EMIT: {
			const struct rv_contract *c = &p->contracts[ac->a];
			const struct rv_type *t = &p->types[c->type];
			struct route_emit *em = &m->emits[d->nemits];
			uint32_t nm = 0, segpos = 0, f;
			char *at;
			size_t len;
			char vbuf[24];

			/* the envelope: the type member and the contract version */
			m->segs[segpos] = m->rp->opt.type_field;
			m->seglens[segpos] = strlen(m->rp->opt.type_field);
			m->members[nm].segs = m->segs + segpos;
			m->members[nm].seglens = m->seglens + segpos;
			m->members[nm].nseg = 1;
			segpos++;
			at = m->text + m->text_used;
			len = rv_json_quote(p->strs + t->name.off, t->name.len, at, m->text_cap - m->text_used);
			if (len == 0)
				return -1;
			m->text_used += len;
			m->members[nm].json = at;
			m->members[nm++].len = len;
			snprintf(vbuf, sizeof vbuf, "%u", c->version);
			m->segs[segpos] = "event_version";
			m->seglens[segpos] = 13;
			m->members[nm].segs = m->segs + segpos;
			m->members[nm].seglens = m->seglens + segpos;
			m->members[nm].nseg = 1;
			segpos++;
			at = m->text + m->text_used;
			len = strlen(vbuf);
			if (m->text_cap - m->text_used < len)
				return -1;
			memcpy(at, vbuf, len);
			m->text_used += len;
			m->members[nm].json = at;
			m->members[nm++].len = len;
			for (f = 0; f < ac->b; f++) {
				const struct rv_action *ef = &p->actions[a + 1 + f];

				if (m->vm.run(&m->vm, ef->b, &v) != RV_VM_YIELD || v.k == RV_V_MISSING
				    || (v.k == RV_V_FIELD && m->vm.ev.first[v.n] == RV_NONE))
					continue; /* a missing value leaves the member out */
				field_path(m, ef->a, &m->members[nm], &segpos);
				if ((m->members[nm].json = keep_json(m, &v, &m->members[nm].len)) == NULL)
					return -1;
				nm++;
			}
			at = m->text + m->text_used;
			if (rv_json_object(m->members, nm, at, m->text_cap - m->text_used, &len) < 0)
				return -1;
			m->text_used += len;
			em->type = c->type;
			em->version = c->version;
			em->rule = ri;
			em->json = at;
			em->len = len;
			d->nemits++;
			a += ac->b; /* skip the EMITF records */
			break;
		}
		default:
			break;
		}
	}
	return 0;
}

/*
 * Writes the event with the decision's sets applied into m->out. A set that
 * cannot be written (its path goes through a value that is not an object,
 * or a CloudEvents event has no object "data") is dropped from the decision:
 * the event stays valid and routed, without that change. Returns -1 only
 * when the edited event does not fit the output buffer.
 */
static int
apply_sets(route_matcher *m, struct route_decision *d)
{
	uint32_t i, kept = 0, segpos = 0;
	const char *why = NULL, *cur = m->vm.buf;
	size_t curlen = m->vm.len, outlen;
	char *dst = m->out, *other = m->out2;

	if (m->vm.ev.cloudevents && m->vm.ev.payload_len == 0) {
		d->nsets = 0; /* data is absent, a string or base64: nothing to set */
		return 0;
	}
	for (i = 0; i < d->nsets; i++) {
		struct rv_json_member mem;

		segpos = 0;
		field_path(m, m->sets[i].field, &mem, &segpos);
		mem.json = m->sets[i].json;
		mem.len = m->sets[i].len;
		if (rv_json_edit(cur, curlen, m->vm.ev.cloudevents, &mem, 1, dst, m->out_cap, &outlen,
		    &why) < 0) {
			if (outlen_too_big(why)) {
				d->status = ROUTE_REJECTED;
				d->reason = "the edited event does not fit the output buffer";
				return -1;
			}
			continue; /* dropped */
		}
		m->sets[kept++] = m->sets[i];
		cur = dst;
		curlen = outlen;
		dst = dst == m->out ? other : m->out;
	}
	d->nsets = kept;
	d->output = cur;
	d->output_len = curlen;
	return 0;
}

/*
 * Evaluates rule ri on the current event and, when it matches, records it
 * and runs its actions. *routed is set when a rule that routes matched.
 * Returns -1 (status set in d) when the decision's buffers are full.
 */
/* The seed of rule ri's pushback keys: its name's hash (struct route_pushback). */
static uint64_t
rule_seed(const route_prog *rp, uint32_t ri)
{
	size_t n = 0;
	const char *name = route_rule_name(rp, ri, &n);

	return name ? XXH64(name, n, 0) : ri;
}

static int
eval_rule_body(route_matcher *m, struct route_decision *d, uint32_t ri, int *routed)
{
	const struct rv_rule *r = &m->rp->p->rules[ri];

	uint32_t ti = m->rp->rt.rule_temporal ? m->rp->rt.rule_temporal[ri] : RV_NONE;

	m->vm.scratch_used = m->vm.scratch_mark; /* builtin results of the last rule are dead */
	m->evaluated[ri] = m->stamp;
	if (m->vm.run(&m->vm, r->cond_pc, NULL) != RV_VM_MATCH)
		return 0;
	if (ti != RV_NONE) {
		/* a temporal rule: the filter held; its window, dedup and throttle decide */
		const struct rv_temporal *t = &m->rp->p->temporal[ti];
		uint32_t k;

		switch (rv_state_temporal_step(m->state, &m->vm, ti, m->vm.now)) {
		case RV_TSTEP_FIRE:
			if (t->flags & RV_TF_BACKPRESSURE) {
				struct route_pushback *pb = &m->pushbacks[d->backpressure++];

				pb->rule = ri;
				pb->key = 0;
				/* the step found the key, so the hash has one too */
				pb->keyed = t->nby > 0
				            && rv_temporal_key_hash(m->rp->p, &m->vm, ti, rule_seed(m->rp, ri), &pb->key) == 0;
			}
			break;
		case RV_TSTEP_ELSE:
			for (k = 0; k < t->nelse; k++)
				add_dest(m, d, m->rp->p->trefs[t->elses + k]);
			*routed = 1;
			return 0;
		default:
			return 0;
		}
	}
	m->rules[d->nrules++] = ri;
	if ((r->flags & RV_RF_ROUTES) && !(r->flags & RV_RF_OTHERWISE))
		*routed = 1;
	if (run_actions(m, d, ri) < 0) {
		d->status = ROUTE_REJECTED;
		d->reason = "the decision does not fit the matcher's buffers";
		return -1;
	}
	return 0;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Evaluates rule ri on the event (eval_rule_body), counting it in its cost,
 * and timing it when the event is one of those timed (route_matcher_time_rules).
 */
static int
eval_rule(route_matcher *m, struct route_decision *d, uint32_t ri, int *routed)
{
	uint64_t t0, t;
	int r;

	m->cost[ri].evaluations++;
	if (!m->timing)
		return eval_rule_body(m, d, ri, routed);
	t0 = mono_ns();
	r = eval_rule_body(m, d, ri, routed);
	t = mono_ns() - t0;
	m->cost[ri].timed++;
	m->cost[ri].timed_ns += t > m->clock_ns ? t - m->clock_ns : 0;
	return r;
}

void
route_matcher_time_rules(route_matcher *m, uint32_t every)
{
	uint64_t best = UINT64_MAX, t;
	int i;

	m->time_every = every;
	m->time_left = every;
	m->timing = 0;
	/* the clock's own cost, as the least of a few back-to-back reads */
	for (i = 0; every && i < 16; i++) {
		t = mono_ns();
		t = mono_ns() - t;
		if (t < best)
			best = t;
	}
	m->clock_ns = every ? best : 0;
}

void
route_matcher_rule_cost(const route_matcher *m, uint32_t rule, struct route_rule_cost *out)
{
	if (rule < m->rp->p->nrules)
		*out = m->cost[rule];
	else
		memset(out, 0, sizeof *out);
}

/* Forgets the last event's overrides and scratch, and starts a new stamp. */
static void
forget_event(route_matcher *m)
{
	const struct rv_prog *p = m->rp->p;
	uint32_t i;

	for (i = 0; i < m->nset_fields; i++)
		m->vm.override[m->set_fields[i]].k = RV_V_MISSING;
	m->nset_fields = 0;
	m->vm.scratch_used = 0;
	m->vm.scratch_mark = 0;
	m->text_used = 0;
	if (++m->stamp == 0) {
		memset(m->dest_stamp, 0, p->ndests * sizeof *m->dest_stamp);
		memset(m->evaluated, 0, p->nrules * sizeof *m->evaluated);
		memset(m->cand_stamp, 0, p->nrules * sizeof *m->cand_stamp);
		m->stamp = 1;
	}
}

/*
 * The sequences and absences whose second event may be this one (of
 * contract c): each whose `where` filter holds completes or cancels its
 * pending first event (temporal.c). A completed sequence is a matched rule:
 * its actions run with the first event's values in the capture fields.
 */
static int
eval_seconds(route_matcher *m, struct route_decision *d, uint32_t c, int *routed)
{
	const struct rv_rt *rt = &m->rp->rt;
	const struct rv_prog *p = rt->p;
	struct rv_tstate *ts = rv_state_tstate(m->state);
	const uint32_t *cand;
	uint32_t i, n;

	if (ts == NULL || rt->seq_first[c] == rt->seq_first[c + 1])
		return 0;
	n = rv_tstate_candidates(ts, c, &cand);
	for (i = 0; i < n; i++) {
		uint32_t qi = cand[i], ri = p->temporal[p->tseq[qi].temporal].rule, k;
		int rc;

		m->vm.scratch_used = m->vm.scratch_mark;
		if (m->vm.run(&m->vm, p->tseq[qi].bcond_pc, NULL) != RV_VM_MATCH)
			continue;
		if (!rv_tstate_second(ts, &m->vm, qi, m->vm.now))
			continue;
		for (k = 0; k < d->nrules && m->rules[k] != ri; k++)
			;
		if (k == d->nrules) /* the same rule can be completed and re-started by one event */
			m->rules[d->nrules++] = ri;
		if (p->rules[ri].flags & RV_RF_ROUTES)
			*routed = 1;
		rc = run_actions(m, d, ri);
		rv_tstate_clear_captures(ts, &m->vm, qi);
		if (rc < 0) {
			d->status = ROUTE_REJECTED;
			d->reason = "the decision does not fit the matcher's buffers";
			return -1;
		}
	}
	return 0;
}

int
route_matcher_tick(route_matcher *m, struct route_decision *d)
{
	const struct rv_prog *p = m->rp->p;
	struct rv_tstate *ts;
	uint32_t qi, contract, ri;
	const char *ev = NULL;
	size_t evlen = 0;
	int64_t now;

	memset(d, 0, sizeof *d);
	d->type = ROUTE_NONE;
	d->rules = m->rules;
	d->dests = m->dests;
	d->sets = m->sets;
	d->emits = m->emits;
	d->pushbacks = m->pushbacks;
	m->valid = 0; /* explain has no event to explain */
	m->nmatched = 0;
	if (m->state == NULL || (ts = rv_state_tstate(m->state)) == NULL || p->ntseq == 0)
		return 0;
	now = rv_state_now(m->state);
	forget_event(m);
	/* no current event: every field but the captures reads as missing */
	m->vm.buf = "{}";
	m->vm.len = 2;
	m->vm.now = now;
	m->vm.pred = NULL;
	if (++m->vm.seq == 0) {
		memset(m->vm.numv_seq, 0, m->rp->opt.max_values * sizeof *m->vm.numv_seq);
		if (m->rp->rt.npred > 0)
			memset(m->vm.memo_seq, 0, m->rp->rt.npred * sizeof *m->vm.memo_seq);
		m->vm.seq = 1;
	}
	{
		struct rv_scan_error se;

		if (rv_event_scan(m->rp->rt.scanner, m->vm.buf, m->vm.len, &m->vm.ev, &se) < 0)
			return 0;
	}
	if (!rv_tstate_fire_next(ts, &m->vm, now, &qi, &contract, &ev, &evlen))
		return 0;
	ri = p->temporal[p->tseq[qi].temporal].rule;
	{
		/* a state restored into a reloaded program may carry another program's
		 * contract index: the rule's own first contract stands in for it */
		const struct rv_rule *r = &p->rules[ri];
		uint32_t k;

		for (k = 0; k < r->nrtype && p->rtypes[r->rtype + k] != contract; k++)
			;
		if (k == r->nrtype)
			contract = p->rtypes[r->rtype];
	}
	d->status = ROUTE_OK;
	d->type = p->contracts[contract].type;
	d->version = p->contracts[contract].version;
	m->rules[d->nrules++] = ri;
	if (run_actions(m, d, ri) < 0) {
		d->status = ROUTE_REJECTED;
		d->reason = "the decision does not fit the matcher's buffers";
	}
	rv_tstate_clear_captures(ts, &m->vm, qi);
	if (ev != NULL && evlen <= m->out_cap) {
		memcpy(m->out, ev, evlen);
		d->output = m->out;
		d->output_len = evlen;
	} else {
		d->ndests = 0; /* no first event kept: nothing to deliver, only the emits */
	}
	return 1;
}

int64_t
route_state_next_deadline(route_state *st)
{
	struct rv_tstate *ts = st ? rv_state_tstate(st) : NULL;

	return ts ? rv_tstate_next_deadline(ts) : INT64_MAX;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Routing phase through the index: the rules keyed on a value the event
 * has, merged in program order with the residual rules (those without a
 * key), are the only ones that can match; each is evaluated in full, so the
 * index decides nothing by itself. The candidates are few (sorting them is
 * cheap); the residual list is already in order.
 */
static int
eval_indexed(route_matcher *m, struct route_decision *d, uint32_t contract, int *routed)
{
	const struct rv_index *ix = m->rp->rt.ix;
	uint32_t a = 0, b = 0, nres;
	const uint32_t *res = rv_index_residual(ix, contract, &nres);

	m->ncand = rv_index_probe(ix, &m->vm, contract, m->cand, m->cand_stamp, m->stamp);
	if (m->ncand > 1)
		qsort(m->cand, m->ncand, sizeof *m->cand, cmp_u32);
	while (a < m->ncand || b < nres) {
		uint32_t ri;

		if (b >= nres || (a < m->ncand && m->cand[a] < res[b])) {
			ri = m->cand[a++];
		} else {
			ri = res[b++];
			a += a < m->ncand && m->cand[a] == ri; /* both (index.c, step 4): once */
		}
		if (eval_rule(m, d, ri, routed) < 0)
			return -1;
	}
	return 0;
}

/*
 * Starts an event: resets the decision and the matcher's per-event state,
 * scans buf and finds its contract (with @version's override). timed: the
 * rules will run, so the state's clock is read (route_classify runs none,
 * and saves the read: a quarter of routed's clock_gettime calls). Returns 0
 * with *contract set, or -1 with d->status and d->reason saying why not.
 */
static int
begin_event(route_matcher *m, const char *buf, size_t len, struct route_decision *d, uint32_t *contract_out,
	int timed)
{
	const struct rv_rt *rt = &m->rp->rt;
	struct rv_scan_error se;
	uint32_t contract;

	memset(d, 0, sizeof *d);
	d->type = ROUTE_NONE;
	d->rules = m->rules;
	d->dests = m->dests;
	d->sets = m->sets;
	d->emits = m->emits;
	d->pushbacks = m->pushbacks;
	d->output = buf;
	d->output_len = len;
	m->valid = 0;
	m->nmatched = 0;
	/* forget the last event's overrides and scratch */
	forget_event(m);
	m->vm.buf = buf;
	m->vm.len = len;
	if (timed)
		m->vm.now = m->state ? rv_state_now(m->state) : 0;
	/* one event in time_every has its rules timed (route_classify runs none) */
	m->timing = 0;
	if (timed && m->time_every && --m->time_left == 0) {
		m->timing = 1;
		m->time_left = m->time_every;
	}
	m->vm.pred = NULL; /* no memo while transform rules change fields */
	if (++m->vm.seq == 0) { /* every cached number and predicate is stale again */
		memset(m->vm.numv_seq, 0, m->rp->opt.max_values * sizeof *m->vm.numv_seq);
		if (rt->npred > 0)
			memset(m->vm.memo_seq, 0, rt->npred * sizeof *m->vm.memo_seq);
		m->vm.seq = 1;
	}
	if (rv_event_scan(rt->scanner, buf, len, &m->vm.ev, &se) < 0) {
		d->status = ROUTE_REJECTED;
		d->reason = se.reason;
		d->offset = se.offset;
		return -1;
	}
	if (find_contract(m, d, &contract) < 0)
		return -1;
	m->valid = 1;
	m->contract = contract;
	m->vm.contract = contract;
	if (rt->version_field != RV_NONE) {
		/* @version reads as the number the contract was chosen by ("v2" -> 2) */
		struct rv_val *o = &m->vm.override[rt->version_field];

		o->k = RV_V_NUM;
		o->u.num = d->version;
		m->set_fields[m->nset_fields++] = rt->version_field;
	}
	*contract_out = contract;
	return 0;
}

int
route_match(route_matcher *m, const char *buf, size_t len, struct route_decision *d)
{
	const struct rv_rt *rt = &m->rp->rt;
	uint32_t contract, i, end, seq_rules = 0;
	int routed = 0;

	if (begin_event(m, buf, len, d, &contract, 1) < 0)
		return d->status;
	end = rt->contract_first[contract + 1];
	/* 1. transform rules, in program order */
	for (i = rt->contract_first[contract]; i < rt->phase_first[2 * contract]; i++)
		if (eval_rule(m, d, rt->contract_rules[i], &routed) < 0)
			return d->status;
	/* 1b. sequences and absences awaiting this event: completed (the rule's
	 * actions run on it) or cancelled, before any rule of this event starts
	 * a new one */
	seq_rules = d->nrules;
	if (rt->seq_first && m->state && eval_seconds(m, d, contract, &routed) < 0)
		return d->status;
	seq_rules = d->nrules - seq_rules;
	/* 2. routing rules: through the index when there is one; from here on
	 * the fields are fixed, so shared predicates are evaluated once */
	m->vm.pred = rt->pred;
	if (rt->ix == NULL) {
		for (; i < rt->phase_first[2 * contract + 1]; i++)
			if (eval_rule(m, d, rt->contract_rules[i], &routed) < 0)
				return d->status;
	} else if (eval_indexed(m, d, contract, &routed) < 0) {
		return d->status;
	}
	/* 3. otherwise rules, when no routing rule matched */
	for (i = rt->phase_first[2 * contract + 1]; i < end && !routed; i++)
		if (eval_rule(m, d, rt->contract_rules[i], &routed) < 0)
			return d->status;
	if (seq_rules > 0 && d->nrules > seq_rules) {
		/* sequences completed before the routing phase: back into program order */
		uint32_t a, b, x;

		for (a = 1; a < d->nrules; a++) {
			x = m->rules[a];
			for (b = a; b > 0 && m->rules[b - 1] > x; b--)
				m->rules[b] = m->rules[b - 1];
			m->rules[b] = x;
		}
	}
	m->nmatched = d->nrules;
	if (d->nsets > 0 && apply_sets(m, d) < 0)
		return d->status;
	/* table updates come after the decision: its rules saw the old values */
	if (m->state)
		rv_state_after_event(m->state, &m->vm, d->type, m->vm.now);
	return ROUTE_OK;
}

/* ---- explain --------------------------------------------------------------- */

/* The JSON text of a value for explain (a stand-in when it is too large). */
static void
explain_value(route_matcher *m, const struct rv_val *v, struct route_why *why)
{
	static const char too_large[] = "\"(too large to show)\"";
	size_t len = rv_val_json(&m->vm, v, m->why_text, m->why_cap);

	if (len == 0) {
		why->value = too_large;
		why->value_len = sizeof too_large - 1;
		return;
	}
	why->value = m->why_text;
	why->value_len = len;
}

/* Trace hook: keeps the last predicate that came out false. */
static void
explain_trace(void *ud, uint32_t pc, int result, const struct rv_val *operand)
{
	route_matcher *m = ud;
	const struct rv_prog *p = m->rp->p;
	struct route_why *why = m->why;
	struct rv_val first;
	size_t lo, hi;

	if (result)
		return;
	memset(why, 0, sizeof *why);
	why->pc = pc;
	why->op = rv_opinfo[RV_GET_OP(p->code[pc])].name;
	if (operand->k == RV_V_FIELD) {
		why->field = route_field_name(m->rp, operand->n, &why->field_len);
		if (rv_val_first(&m->vm, operand, &first) || m->vm.ev.first[operand->n] != RV_NONE)
			explain_value(m, operand, why);
	} else if (operand->k != RV_V_MISSING) {
		explain_value(m, operand, why);
	}
	/* the source location: the last LINES entry at or before pc */
	lo = 0;
	hi = p->nlines;
	while (hi > lo) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->lines[mid].pc <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0) {
		const struct rv_line *ln = &p->lines[lo - 1];

		why->line = ln->line;
		why->col = ln->col;
		if (ln->file < p->nfiles)
			why->file = str(m->rp, p->files[ln->file], &why->file_len);
	}
}

/* ---- partitioning (partition.h) ------------------------------------------ */

int
route_prog_partition(const route_prog *rp, const char **why)
{
	if (why)
		*why = rp->part.why;
	return rp->part.split;
}

int
route_type_partition(const route_prog *rp, uint32_t t, uint32_t *field)
{
	const struct rv_partition *pt = &rp->part;

	*field = ROUTE_NONE;
	if (t >= pt->ntypes)
		return ROUTE_PART_ANY;
	switch (pt->kind[t]) {
	case RV_PART_FIELD:
		*field = pt->field[t];
		return ROUTE_PART_KEY;
	case RV_PART_ONE:
		return ROUTE_PART_ONE;
	default:
		return ROUTE_PART_ANY;
	}
}

/* The first scalar of a field, hashed as the index and the state key it. */
struct keyhash {
	int have;
	uint64_t h;
};

static void
first_hash(void *ud, const struct rv_val *x, const char *s, size_t n)
{
	struct keyhash *k = ud;

	if (k->have)
		return;
	k->have = 1;
	k->h = rv_scalar_key(x, s, n);
}

int
route_classify(route_matcher *m, const char *buf, size_t len, struct route_class *c)
{
	const struct rv_partition *pt = &m->rp->part;
	struct route_decision d;
	struct keyhash k = { 0, 0 };
	uint32_t contract;

	memset(c, 0, sizeof *c);
	c->part = ROUTE_PART_ANY;
	if (begin_event(m, buf, len, &d, &contract, 0) < 0) {
		c->status = d.status;
		c->reason = d.reason;
		c->offset = d.offset;
		c->type = d.type;
		c->version = d.version;
		return c->status;
	}
	c->status = ROUTE_OK;
	c->type = d.type;
	c->version = d.version;
	switch (pt->kind[d.type]) {
	case RV_PART_ONE:
		c->part = ROUTE_PART_ONE;
		break;
	case RV_PART_FIELD:
		rv_field_scalars(&m->vm, pt->field[d.type], first_hash, &k);
		if (k.have) { /* without its key the event touches no state */
			c->part = ROUTE_PART_KEY;
			c->key = k.h;
		}
		break;
	default:
		break;
	}
	return c->status;
}

uint32_t
route_pushback_keys(route_matcher *m, uint64_t *keys, uint32_t cap)
{
	const struct rv_rt *rt = &m->rp->rt;
	const struct rv_prog *p = m->rp->p;
	uint32_t i, ri, ti, n = 0;
	uint64_t h;

	if (!m->valid || rt->rule_temporal == NULL)
		return 0;
	/* the contract's rules; keyed backpressure is rare, so no list of its own */
	for (i = rt->contract_first[m->contract]; i < rt->contract_first[m->contract + 1]; i++) {
		ri = rt->contract_rules[i];
		ti = rt->rule_temporal[ri];
		if (ti == RV_NONE || !(p->temporal[ti].flags & RV_TF_BACKPRESSURE) || p->temporal[ti].nby == 0)
			continue;
		if (rv_temporal_key_hash(p, &m->vm, ti, rule_seed(m->rp, ri), &h) < 0)
			continue;
		if (n < cap)
			keys[n] = h;
		n++;
	}
	return n;
}

int
route_explain(route_matcher *m, uint32_t rule, struct route_why *why)
{
	const struct rv_rt *rt = &m->rp->rt;
	const struct rv_prog *p = rt->p;
	uint32_t i;
	int r;

	memset(why, 0, sizeof *why);
	if (!m->valid || rule >= p->nrules)
		return -1;
	for (i = rt->contract_first[m->contract]; i < rt->contract_first[m->contract + 1]; i++)
		if (rt->contract_rules[i] == rule)
			break;
	if (i == rt->contract_first[m->contract + 1])
		return -1;
	for (i = 0; i < m->nmatched; i++)
		if (m->rules[i] == rule)
			return 1; /* as decided, whatever the sets changed afterwards */
	if (m->evaluated[rule] != m->stamp && (p->rules[rule].flags & RV_RF_OTHERWISE))
		return 2; /* an otherwise rule after a routing match: not run */
	/* (a routing rule the index skipped is run here: it misses on its key) */
	m->why = why;
	m->vm.trace = explain_trace;
	m->vm.trace_ud = m;
	m->vm.scratch_used = m->vm.scratch_mark;
	r = rv_vm_run_switch(&m->vm, p->rules[rule].cond_pc, NULL);
	m->vm.trace = NULL;
	m->vm.trace_ud = NULL;
	if (r == RV_VM_MATCH) {
		memset(why, 0, sizeof *why);
		why->changed = 1;
	}
	return 0;
}
