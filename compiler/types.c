/*
 * types.c -- the string map, type names and constant arithmetic; see types.h.
 */
#include "config.h"
#include "types.h"

#include <math.h>
#include <string.h>

#include <xxhash.h>

void
rc_map_init(struct rc_map *m, struct ru_arena *a)
{
	memset(m, 0, sizeof *m);
	m->arena = a;
}

/* XXH32 of NUL-terminated s with the low bit set, so a hash is never 0. */
static uint32_t
hash_str(const char *s)
{
	return XXH32(s, strlen(s), 0) | 1u; /* never 0 */
}

void *
rc_map_get(const struct rc_map *m, const char *key)
{
	uint32_t h, i;

	if (m->cap == 0)
		return NULL;
	h = hash_str(key);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		const struct rc_map_ent *e = &m->ents[i];

		if (e->key == NULL)
			return NULL;
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e->val;
	}
}

/* Doubles the table; the old array stays in the arena. */
static void
grow(struct rc_map *m)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 64, i, j;
	struct rc_map_ent *ne = ru_arena_alloc(m->arena, ncap * sizeof *ne);

	for (i = 0; i < m->cap; i++) {
		if (m->ents[i].key == NULL)
			continue;
		for (j = m->ents[i].hash & (ncap - 1); ne[j].key; j = (j + 1) & (ncap - 1))
			;
		ne[j] = m->ents[i];
	}
	m->ents = ne;
	m->cap = ncap;
}

void *
rc_map_put(struct rc_map *m, const char *key, void *val)
{
	uint32_t h, i;

	if ((m->n + 1) * 4 >= m->cap * 3)
		grow(m);
	h = hash_str(key);
	for (i = h & (m->cap - 1); m->ents[i].key; i = (i + 1) & (m->cap - 1))
		if (m->ents[i].hash == h && strcmp(m->ents[i].key, key) == 0)
			return m->ents[i].val;
	m->ents[i].key = key;
	m->ents[i].val = val;
	m->ents[i].hash = h;
	m->n++;
	return NULL;
}

const char *
rc_type_name(struct ru_arena *a, unsigned t)
{
	static const char *const names[] = { "any", "string", "number", "bool", "ip",
		"time", "object", "null" };
	const char *base;

	switch (t) {
	case RC_T_ERROR: return "invalid";
	case RC_T_DURATION: return "duration";
	case RC_T_RATE: return "rate";
	case RC_T_NET: return "network";
	}
	base = RC_T_BASE(t) < sizeof names / sizeof names[0] ? names[RC_T_BASE(t)] : "?";
	if (RC_T_IS_ARRAY(t))
		return ru_arena_printf(a, "array of %s", base);
	return base;
}

int
rc_fold_arith(int op, double a, double b, double *out)
{
	double r;

	switch (op) {
	case '+': r = a + b; break;
	case '-': r = a - b; break;
	case '*': r = a * b; break;
	case '/':
		if (b == 0)
			return -1;
		r = a / b;
		break;
	case '%':
		if (b == 0)
			return -1;
		r = fmod(a, b);
		break;
	case 'n': r = -a; break;
	default: return -1;
	}
	if (!isfinite(r))
		return -1;
	*out = r;
	return 0;
}
