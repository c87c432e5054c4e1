/*
 * ast.h -- the syntax tree of Route sources.
 *
 * One generic node type keeps the parser's actions one line each: every node
 * has a kind, a span, up to three children (a, b, c) and a sibling link
 * (next) for lists. Which fields go with which kind is listed in enum
 * rl_kind. Nodes live in the compilation's arena and are never freed one by
 * one. Built by lang/parser.y through the constructors in ast.c; read by
 * compiler/sema.c and compiler/lower.c.
 */
#ifndef RL_AST_H
#define RL_AST_H

#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "srcfile.h"

enum rl_kind {
	/* ---- declarations (the file's top-level list) ---- */
	RL_N_IMPORT,   /* str: path */
	RL_N_EVENT,    /* name: type name, num: version, a: list of CFIELD */
	RL_N_CFIELD,   /* name, flag: optional, a: type node */
	RL_N_DEST,     /* name, a: list of POLICY */
	RL_N_POLICY,   /* op: enum rl_policy, a, b: values (LIT) or name (NAME) */
	RL_N_TABLE,    /* name, a: value type, b: key PATH, c: from PATTERN,
	                  x: value PATH, y: list of table options (POLICY) */
	RL_N_RULE,     /* name, a: list of PATTERN, b: alias NAME or NULL,
	                  c: list of rule items */
	RL_N_TEST,     /* str: title, a: list of steps */
	/* ---- contract types ---- */
	RL_N_TNAME,    /* name: string|number|bool|ip|time|any */
	RL_N_TENUM,    /* a: list of LIT strings */
	RL_N_TARRAY,   /* a: element type */
	RL_N_TOBJECT,  /* a: list of CFIELD */
	/* ---- rule items ---- */
	RL_N_WHEN,     /* a: condition */
	RL_N_OTHERWISE,
	RL_N_ROUTE,    /* a: list of NAME (destinations) */
	RL_N_SET,      /* a: list of ASSIGN */
	RL_N_ASSIGN,   /* a: PATH target, b: value */
	RL_N_EMIT,     /* a: PATTERN (type, optional version), b: OBJECT */
	RL_N_BACKPRESSURE,
	RL_N_WITHIN,   /* a: LIT duration */
	RL_N_EVERY,    /* a: LIT duration */
	RL_N_BY,       /* a: list of PATH */
	RL_N_THEN,     /* a: PATTERN, b: alias NAME or NULL, c: where condition or NULL */
	RL_N_UNLESS,   /* a: PATTERN, b: alias NAME or NULL, c: where condition or NULL */
	RL_N_THROTTLE, /* a: LIT count, b: LIT duration, c: else ROUTE or NULL (keyed by the rule's `by`) */
	RL_N_DEDUP,    /* a: BY or NULL, b: LIT duration */
	RL_N_TIMESTAMP,/* a: PATH (the event time), b: LIT lateness or NULL */
	/* ---- test steps ---- */
	RL_N_SEND,     /* a: PATTERN, b: OBJECT */
	RL_N_ADVANCE,  /* a: LIT duration */
	RL_N_EXPECT,   /* op: enum rl_expect, a: list of NAME | PATH, b: value/OBJECT */
	/* ---- expressions ---- */
	RL_N_OR,       /* a, b */
	RL_N_AND,      /* a, b */
	RL_N_NOT,      /* a */
	RL_N_CMP,      /* op: enum rl_cmp, a, b */
	RL_N_IN,       /* flag: negated, a: operand, b: LIST */
	RL_N_RANGE,    /* flag: upper bound excluded, a: operand, b: low, c: high */
	RL_N_STROP,    /* op: enum rl_strop, a: operand, b: pattern */
	RL_N_EXISTS,   /* flag: 1 for 'missing', a: operand */
	RL_N_ARITH,    /* op: '+' '-' '*' '/' '%', a, b */
	RL_N_NEG,      /* a */
	RL_N_CALL,     /* name, a: list of arguments */
	RL_N_INDEX,    /* name: table, a: key expression */
	RL_N_PATH,     /* a: list of NAME segments; flag: 1 for @attribute */
	RL_N_LIT,      /* v: the value */
	RL_N_LIST,     /* a: list of elements (expressions or LIT) */
	RL_N_OBJECT,   /* a: list of MEMBER */
	RL_N_MEMBER,   /* name, a: value (expression, OBJECT or LIST); flag: @attribute */
	RL_N_NAME,     /* name */
	RL_N_PATTERN,  /* a: list of NAME segments ("*" for wildcards), num: version or 0 */
	RL_N_NKINDS
};

enum rl_cmp { RL_EQ, RL_NE, RL_LT, RL_LE, RL_GT, RL_GE, RL_IEQ, RL_INE };
enum rl_strop { RL_PREFIX, RL_SUFFIX, RL_CONTAINS, RL_IPREFIX, RL_ISUFFIX,
	RL_ICONTAINS, RL_LIKE, RL_ILIKE, RL_MATCHES, RL_IMATCHES };
enum rl_policy { RL_P_PRIORITY, RL_P_WORKERS, RL_P_QUEUE, RL_P_RETRY,
	RL_P_MAX_AGE, RL_P_TIMEOUT, RL_P_DEAD_LETTER, RL_P_BATCH, RL_P_THROTTLE,
	RL_P_DELETE_ON, RL_P_TTL, RL_P_MAX_KEYS, RL_P_NPOLICIES };
enum rl_expect { RL_X_ROUTED, RL_X_NOT_ROUTED, RL_X_ONLY_ROUTED, RL_X_SET,
	RL_X_EMITTED, RL_X_DROPPED, RL_X_NOT_EMITTED };

enum rl_vkind { RL_V_NULL, RL_V_BOOL, RL_V_NUM, RL_V_STR, RL_V_DURATION,
	RL_V_RATE, RL_V_CIDR };

struct rl_value {
	enum rl_vkind kind;
	int b;              /* BOOL */
	double num;         /* NUM; RATE: events per second */
	uint64_t ms;        /* DURATION */
	const char *str;    /* STR: decoded bytes (arena, NUL-terminated); CIDR: source text */
	uint32_t len;       /* STR: length (may contain NUL bytes) */
	int raw;            /* STR: written r"..." */
	int family;         /* CIDR: 4 or 6 */
	unsigned prefix;    /* CIDR: prefix length (32/128 for one address) */
	uint8_t addr[16];   /* CIDR: network byte order */
};

struct rl_node {
	enum rl_kind kind;
	int op;                  /* enum rl_cmp / rl_strop / rl_policy / rl_expect / char */
	int flag;                /* see the kind */
	unsigned depth;          /* height of the subtree, bounded by the parser */
	struct rl_span span;
	struct rl_node *a, *b, *c; /* children, see the kind */
	struct rl_node *x, *y;   /* TABLE only */
	struct rl_node *next;    /* next sibling in a list */
	const char *name;        /* borrows arena: identifier, NUL-terminated */
	const char *str;         /* borrows arena: IMPORT path, TEST title */
	uint32_t num;            /* version, count */
	struct rl_value *v;      /* LIT only (arena); NULL otherwise */
	void *sema;              /* set by sema: PATH: struct rc_fieldref; INDEX: table */
	unsigned ty;             /* set by sema: the expression's type */
};

/* A list being built: head and tail, so appends are O(1). */
struct rl_list {
	struct rl_node *head;
	struct rl_node *tail;
};

struct rl_node *rl_node_new(struct ru_arena *a, enum rl_kind kind, struct rl_span span);
/* Appends n (may be NULL: ignored) to l and returns l. */
struct rl_list rl_list_append(struct rl_list l, struct rl_node *n);
struct rl_list rl_list_one(struct rl_node *n);
/* Number of nodes in the list starting at n. */
unsigned rl_list_len(const struct rl_node *n);

/* Joins the NAME segments of a PATH or PATTERN with '.'; arena string. */
const char *rl_path_str(struct ru_arena *a, const struct rl_node *path);

/* Span covering from s to e (same file). */
struct rl_span rl_span_join(struct rl_span s, struct rl_span e);

/* Names for messages and the tree dump. */
const char *rl_kind_name(enum rl_kind k);
const char *rl_cmp_name(enum rl_cmp op);
const char *rl_strop_name(enum rl_strop op);
const char *rl_policy_name(enum rl_policy p);

/* Prints the tree as an indented S-expression (routec --dump-ast, tests). */
void rl_ast_print(FILE *out, const struct rl_node *n, int depth);

/*
 * Writes s[0..n) as a double-quoted string: `"` and `\` escaped, control
 * bytes as \u00XX, everything else as it is. Valid in Route and in JSON.
 */
void rl_put_string(FILE *out, const char *s, size_t n);

#endif
