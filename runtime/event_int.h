/*
 * event_int.h -- what the flattener's two halves share (not installed, not
 * for other modules): the path trie's layout, built once per program by
 * runtime/event_trie.c (rv_scanner_new) and read by runtime/event.c on
 * every event (rv_event_scan). The trie is immutable once built.
 */
#ifndef RV_EVENT_INT_H
#define RV_EVENT_INT_H

#include <stdint.h>

#include "event.h"

#if defined(__SSE2__)
#define RV_HAVE_SSE2 1 /* baseline on x86-64: used unless the configuration says none */
#endif

/* ---- the path trie -------------------------------------------------------
 *
 * Node 0 is the document root (its children are the top-level members the
 * envelope reads: "top nodes"), node 1 the payload root (children: the first
 * segments of payload paths). A top node carries what its member means in
 * each envelope: pnode (the payload node its value is walked with in a plain
 * event), meta_plain/meta_ce (the attribute it holds), TN_DATA, TN_SPEC.
 *
 *   node 0 (document) ── "event_type" (meta_plain TYPE)
 *                     ├─ "type" (meta_ce TYPE, pnode ─┐ if a payload path starts with "type")
 *                     └─ "data" (TN_DATA)             │
 *   node 1 (payload)  ── "type" ◄─────────────────────┘ ── ...
 */
#define TROOT 0u
#define PROOT 1u
#define TN_DATA 0x01u /* top node: the CloudEvents "data" member */
#define TN_SPEC 0x02u /* top node: "specversion" (AUTO only) */
#define SMALL_KIDS 8u /* up to this many children: linear search; more: hash table */

struct tnode {
	uint32_t name, nlen;  /* decoded segment: sc->names[name .. name+nlen) */
	uint32_t hash;        /* key_hash of the name */
	uint32_t parent;      /* RV_NONE for the two roots */
	uint32_t kid0, nkid;  /* children: sc->kids[kid0 .. kid0+nkid) */
	uint32_t ht0, hmask;  /* nkid > SMALL_KIDS: sc->ht[ht0 .. ht0+hmask], node id or RV_NONE */
	uint32_t fld0, nfld;  /* fields whose path ends here: sc->flds[fld0 .. fld0+nfld) */
	uint32_t pnode;       /* top nodes: payload node for a plain event's value, or RV_NONE */
	int8_t meta_plain;    /* top nodes: enum rv_meta held in a plain event, or -1 */
	int8_t meta_ce;       /* top nodes: enum rv_meta held in a CloudEvents event, or -1 */
	uint8_t flags;        /* TN_* */
};

struct metaf {
	uint32_t field;       /* FIELDS index of an @meta field */
	uint32_t m;           /* enum rv_meta */
};

struct rv_scanner {
	struct rv_scan_config cfg; /* plain_names point into cfgnames */
	char *cfgnames;            /* owns: NUL-terminated copies of the plain names */
	struct tnode *nodes;       /* owns */
	uint32_t nnodes;
	uint32_t *kids;            /* owns: children lists, grouped by parent */
	uint32_t *ht;              /* owns: hash tables of large nodes */
	uint32_t *flds;            /* owns: field lists, grouped by node */
	char *names;               /* owns: segment bytes */
	uint32_t maxseg;           /* longest segment (bytes): longer keys never match */
	uint32_t nfields;          /* p->nfields */
	struct metaf *metaf;       /* owns: the program's @meta fields */
	uint32_t nmetaf;
};

/* FNV-1a of k[0..n): the hash of trie names and of looked-up keys. */
static inline uint32_t
key_hash(const unsigned char *k, uint32_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ *k++) * 16777619u;
	return h;
}

#endif
