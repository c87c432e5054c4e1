/*
 * event_trie.c -- building the flattener's path trie (event_int.h) from a
 * program's FIELDS, once per program: rv_scanner_new and its
 * configuration. Everything per event is in runtime/event.c. The trie is
 * read-only once built (one scanner serves every thread). Tests:
 * tests/unit/check_event.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "event_int.h"

static const char *const default_plain[RV_META_N] = {
	"event_type", "event_id", "event_source", "event_time", "event_version", "event_subject"
};
static const char *const ce_names[RV_META_N] = {
	"type", "id", "source", "time", "eventversion", "subject"
};
static const char *const meta_names[RV_META_N] = {
	"type", "id", "source", "time", "version", "subject"
};

/* Build-time state: nodes are found by (parent, name) in one hash table. */
struct build {
	struct rv_scanner *sc;
	uint32_t maxnodes;     /* capacity of sc->nodes */
	uint32_t *map;         /* node ids or RV_NONE */
	uint32_t mapmask;
	uint32_t namelen;      /* bytes used in sc->names */
};

/*
 * Returns the child of parent named s[0..n), adding it if needed. Capacity
 * was computed beforehand, so this cannot fail.
 */
static uint32_t
child_get(struct build *bd, uint32_t parent, const char *s, uint32_t n)
{
	struct rv_scanner *sc = bd->sc;
	uint32_t h = key_hash((const unsigned char *)s, n);
	uint32_t i = (h ^ (parent * 0x9e3779b1u)) & bd->mapmask;
	struct tnode *t;

	for (;; i = (i + 1) & bd->mapmask) {
		uint32_t id = bd->map[i];

		if (id == RV_NONE)
			break;
		t = &sc->nodes[id];
		if (t->parent == parent && t->hash == h && t->nlen == n
		    && memcmp(sc->names + t->name, s, n) == 0)
			return id;
	}
	bd->map[i] = sc->nnodes;
	t = &sc->nodes[sc->nnodes];
	memset(t, 0, sizeof *t);
	t->name = bd->namelen;
	t->nlen = n;
	t->hash = h;
	t->parent = parent;
	t->pnode = RV_NONE;
	t->meta_plain = t->meta_ce = -1;
	memcpy(sc->names + bd->namelen, s, n);
	bd->namelen += n;
	return sc->nnodes++;
}

/* The enum rv_meta named s[0..n) ("type", ...), or -1. */
static int
meta_index(const char *s, uint32_t n)
{
	int m;

	for (m = 0; m < RV_META_N; m++)
		if (strlen(meta_names[m]) == n && memcmp(meta_names[m], s, n) == 0)
			return m;
	return -1;
}

void
rv_scan_config_default(struct rv_scan_config *c)
{
	int m;

	c->envelope = RV_ENV_AUTO;
	c->simd = RV_SIMD_AUTO;
	c->walk_all = 0;
	for (m = 0; m < RV_META_N; m++)
		c->plain_names[m] = NULL;
	c->max_bytes = 1u << 20;
	c->max_depth = 64;
	c->max_string = 256u << 10;
	c->max_values = 4096;
}

void
rv_scanner_free(struct rv_scanner *sc)
{
	if (sc == NULL)
		return;
	ru_free(sc->cfgnames);
	ru_free(sc->nodes);
	ru_free(sc->kids);
	ru_free(sc->ht);
	ru_free(sc->flds);
	ru_free(sc->names);
	ru_free(sc->metaf);
	ru_free(sc);
}

const struct rv_scan_config *
rv_scanner_config(const struct rv_scanner *sc)
{
	return &sc->cfg;
}

/*
 * The level a scanner configured with want uses: AUTO is the environment's
 * ROUTE_SIMD ("none" or "sse2"; for measuring the library as a whole) or
 * the best the build has. SSE2 is part of x86-64, so no CPU detection is
 * needed. AVX2 (32-byte skip_plain, target attribute, chosen with
 * __builtin_cpu_supports) was tried and did not pay: routing events
 * 15,680 -> 15,992 Ir/ev, routing events with two prose strings of 200
 * and 400 bytes 16,979 -> 16,965, events/s within noise (callgrind and
 * match_bench; most strings are shorter than 32 bytes, and the call into
 * a target("avx2") function, which cannot be inlined, costs on each).
 */
static enum rv_simd
simd_resolve(enum rv_simd want)
{
#ifdef RV_HAVE_SSE2
	const enum rv_simd best = RV_SIMD_SSE2;
#else
	const enum rv_simd best = RV_SIMD_NONE;
#endif
	const char *e;

	if (want == RV_SIMD_AUTO && (e = getenv("ROUTE_SIMD")) != NULL) {
		if (strcmp(e, "none") == 0)
			want = RV_SIMD_NONE;
		else if (strcmp(e, "sse2") == 0)
			want = RV_SIMD_SSE2;
	}
	return want == RV_SIMD_AUTO || want > best ? best : want;
}

/* Copies the configuration with the plain names owned by sc. Returns -1 on OOM. */
static int
config_copy(struct rv_scanner *sc, const struct rv_scan_config *cfg)
{
	size_t total = 0, off = 0;
	int m;

	if (cfg != NULL)
		sc->cfg = *cfg;
	else
		rv_scan_config_default(&sc->cfg);
	sc->cfg.simd = simd_resolve(sc->cfg.simd);
	for (m = 0; m < RV_META_N; m++) {
		if (sc->cfg.plain_names[m] == NULL)
			sc->cfg.plain_names[m] = default_plain[m];
		total += strlen(sc->cfg.plain_names[m]) + 1;
	}
	if ((sc->cfgnames = ru_malloc(total)) == NULL)
		return -1;
	for (m = 0; m < RV_META_N; m++) {
		size_t n = strlen(sc->cfg.plain_names[m]) + 1;

		memcpy(sc->cfgnames + off, sc->cfg.plain_names[m], n);
		sc->cfg.plain_names[m] = sc->cfgnames + off;
		off += n;
	}
	return 0;
}

/*
 * Builds the trie: payload paths under node 1, then the top nodes for the
 * envelope(s) the configuration allows, then children lists, hash tables
 * and field lists. Sizes are bounded first so that building cannot fail
 * half-way.
 */
struct rv_scanner *
rv_scanner_new(const struct rv_prog *p, const struct rv_scan_config *cfg)
{
	struct rv_scanner *sc;
	struct build bd;
	uint32_t *fnext = NULL, *fhead = NULL, *fill = NULL;
	uint64_t nseg = 0, nameb = 0, maxnodes, mapcap, htn = 0;
	uint32_t f, i, k, n, nmeta = 0;
	enum rv_envelope env;
	int m;

	if ((sc = ru_malloc(sizeof *sc)) == NULL)
		return NULL;
	memset(sc, 0, sizeof *sc);
	memset(&bd, 0, sizeof bd);
	if (config_copy(sc, cfg) < 0)
		goto oom;
	env = sc->cfg.envelope;
	sc->nfields = p->nfields;
	for (f = 0; f < p->nfields; f++) {
		const struct rv_field *fd = &p->fields[f];

		if (fd->where == RV_FW_CAPTURE)
			continue; /* never in the event: only the VM's overrides give it a value */
		if (fd->where == RV_FW_META) {
			nmeta++;
			continue;
		}
		for (i = 0; i < fd->nseg; i++)
			nameb += p->segs[fd->seg + i].len;
		nseg += fd->nseg;
	}
	/* Top nodes mirror at most every payload node, plus 6 + 6 + 2 envelope names. */
	nameb = 2 * nameb + 64;
	for (m = 0; m < RV_META_N; m++)
		nameb += strlen(sc->cfg.plain_names[m]);
	maxnodes = 2 + 2 * nseg + 2 * RV_META_N + 2;
	if (maxnodes > UINT32_MAX / 4 || nameb > UINT32_MAX)
		goto oom;
	for (mapcap = 16; mapcap < 2 * maxnodes; mapcap *= 2)
		;
	sc->nodes = ru_malloc(maxnodes * sizeof *sc->nodes);
	sc->names = ru_malloc(nameb);
	bd.map = ru_malloc(mapcap * sizeof *bd.map);
	fnext = ru_malloc((p->nfields + 1) * sizeof *fnext);
	fhead = ru_malloc(maxnodes * sizeof *fhead);
	sc->metaf = ru_malloc((nmeta + 1) * sizeof *sc->metaf);
	if (sc->nodes == NULL || sc->names == NULL || bd.map == NULL || fnext == NULL
	    || fhead == NULL || sc->metaf == NULL)
		goto oom;
	memset(bd.map, 0xff, mapcap * sizeof *bd.map);
	memset(fhead, 0xff, maxnodes * sizeof *fhead);
	bd.sc = sc;
	bd.maxnodes = (uint32_t)maxnodes;
	bd.mapmask = (uint32_t)mapcap - 1;
	/* the two roots: never found by name (parent RV_NONE) */
	for (i = 0; i < 2; i++) {
		memset(&sc->nodes[i], 0, sizeof sc->nodes[i]);
		sc->nodes[i].parent = RV_NONE;
		sc->nodes[i].pnode = RV_NONE;
		sc->nodes[i].meta_plain = sc->nodes[i].meta_ce = -1;
	}
	sc->nnodes = 2;

	/* payload paths; @meta fields go to metaf */
	for (f = 0; f < p->nfields; f++) {
		const struct rv_field *fd = &p->fields[f];
		uint32_t cur = PROOT;

		if (fd->where == RV_FW_CAPTURE)
			continue;
		if (fd->where == RV_FW_META) {
			struct rv_str s = p->segs[fd->seg];

			if (fd->nseg == 1 && (m = meta_index(rv_prog_str(p, s), s.len)) >= 0) {
				sc->metaf[sc->nmetaf].field = f;
				sc->metaf[sc->nmetaf++].m = (uint32_t)m;
			}
			continue;
		}
		if (fd->nseg == 0)
			continue;
		for (i = 0; i < fd->nseg; i++) {
			struct rv_str s = p->segs[fd->seg + i];

			cur = child_get(&bd, cur, rv_prog_str(p, s), s.len);
		}
		fnext[f] = fhead[cur];
		fhead[cur] = f;
		sc->nodes[cur].nfld++;
	}
	/* top nodes */
	if (env != RV_ENV_CLOUDEVENTS) {
		n = sc->nnodes;
		for (k = 2; k < n; k++) {
			if (sc->nodes[k].parent != PROOT)
				continue;
			/* names has fixed capacity, so the source bytes do not move */
			i = child_get(&bd, TROOT, sc->names + sc->nodes[k].name, sc->nodes[k].nlen);
			sc->nodes[i].pnode = k;
		}
		for (m = 0; m < RV_META_N; m++) {
			const char *s = sc->cfg.plain_names[m];

			i = child_get(&bd, TROOT, s, (uint32_t)strlen(s));
			sc->nodes[i].meta_plain = (int8_t)m;
		}
	}
	if (env != RV_ENV_PLAIN) {
		for (m = 0; m < RV_META_N; m++) {
			i = child_get(&bd, TROOT, ce_names[m], (uint32_t)strlen(ce_names[m]));
			sc->nodes[i].meta_ce = (int8_t)m;
		}
		i = child_get(&bd, TROOT, "data", 4);
		sc->nodes[i].flags |= TN_DATA;
		if (env == RV_ENV_AUTO) {
			i = child_get(&bd, TROOT, "specversion", 11);
			sc->nodes[i].flags |= TN_SPEC;
		}
	}

	/* children lists (kid0 by prefix sums), then hash tables of large nodes */
	n = sc->nnodes;
	sc->kids = ru_malloc((n + 1) * sizeof *sc->kids);
	sc->flds = ru_malloc((p->nfields + 1) * sizeof *sc->flds);
	fill = ru_malloc((n + 1) * sizeof *fill);
	if (sc->kids == NULL || sc->flds == NULL || fill == NULL)
		goto oom;
	for (k = 2; k < n; k++)
		sc->nodes[sc->nodes[k].parent].nkid++;
	for (k = 0, i = 0, f = 0; k < n; k++) {
		struct tnode *t = &sc->nodes[k];

		t->kid0 = i;
		i += t->nkid;
		fill[k] = 0;
		t->fld0 = f;
		f += t->nfld;
		if (t->nlen > sc->maxseg)
			sc->maxseg = t->nlen;
		if (t->nkid > SMALL_KIDS) {
			uint32_t cap = 16;

			while (cap < 2 * t->nkid)
				cap *= 2;
			t->ht0 = (uint32_t)htn;
			t->hmask = cap - 1;
			htn += cap;
		}
	}
	for (k = 2; k < n; k++) {
		struct tnode *t = &sc->nodes[sc->nodes[k].parent];

		sc->kids[t->kid0 + fill[t - sc->nodes]++] = k;
	}
	for (k = 0; k < n; k++)
		for (f = fhead[k], i = 0; f != RV_NONE; f = fnext[f])
			sc->flds[sc->nodes[k].fld0 + i++] = f;
	if (htn > UINT32_MAX || (sc->ht = ru_malloc((htn + 1) * sizeof *sc->ht)) == NULL)
		goto oom;
	memset(sc->ht, 0xff, (htn + 1) * sizeof *sc->ht);
	for (k = 0; k < n; k++) {
		const struct tnode *t = &sc->nodes[k];

		if (t->nkid <= SMALL_KIDS)
			continue;
		for (i = 0; i < t->nkid; i++) {
			uint32_t id = sc->kids[t->kid0 + i];
			uint32_t j = sc->nodes[id].hash & t->hmask;

			while (sc->ht[t->ht0 + j] != RV_NONE)
				j = (j + 1) & t->hmask;
			sc->ht[t->ht0 + j] = id;
		}
	}
	ru_free(bd.map);
	ru_free(fnext);
	ru_free(fhead);
	ru_free(fill);
	return sc;
oom:
	ru_free(bd.map);
	ru_free(fnext);
	ru_free(fhead);
	ru_free(fill);
	rv_scanner_free(sc);
	return NULL;
}
