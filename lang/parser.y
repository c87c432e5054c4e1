/*
 * parser.y -- the Route grammar (bison, pure, with byte-span locations).
 *
 * The grammar stays thin: every action is one line that calls a constructor
 * (rl_mk & co in parse.c), and all checking happens in compiler/sema.c.
 * Rule bodies are a flat list of items (when, route, set, within, ...) that
 * sema orders and checks, which keeps the grammar free of conflicts.
 * Syntax errors recover at the next declaration keyword, so one run reports
 * several. The scanner is passed as void *yyscanner, which breaks the include
 * cycle between the scanner's and the parser's headers (as libpcap's
 * grammar.y.in explains).
 */
%require "3.6"
%define api.pure full
%define api.prefix {rl_yy}
%define api.location.type {struct rl_span}
%define parse.error custom
%define api.token.prefix {RL_TK_}
%locations
%expect 0
%param {void *yyscanner}
%parse-param {struct rl_parser *ps}

%code requires {
#include "ast.h"
struct rl_parser;
}

%code provides {
int rl_yylex(RL_YYSTYPE *lval, RL_YYLTYPE *lloc, void *yyscanner);
void rl_yyerror(RL_YYLTYPE *loc, void *yyscanner, struct rl_parser *ps, const char *msg);
}

%code {
#include <string.h>

#include "parse.h"

#define YYLLOC_DEFAULT(Cur, Rhs, N)                              \
	do {                                                         \
		if (N) {                                                 \
			(Cur).file = YYRHSLOC(Rhs, 1).file;                  \
			(Cur).start = YYRHSLOC(Rhs, 1).start;                \
			(Cur).end = YYRHSLOC(Rhs, N).end;                    \
		} else {                                                 \
			(Cur).file = YYRHSLOC(Rhs, 0).file;                  \
			(Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;      \
		}                                                        \
	} while (0)

#define MK(kind, loc, a, b, c) rl_mk(ps, RL_N_##kind, loc, a, b, c)
#define L(x) rl_list_one(x)
#define APPEND(l, x) rl_list_append(l, x)
}

%union {
	struct rl_node *node;
	struct rl_list list;
	struct rl_value v;
	const char *s;
	int i;
}

%token <s> IDENT "identifier" META "@attribute"
%token <v> STRING "string" LITERAL "literal"
%token <i> VERSION "version (vN)" STROP "string operator" CMPWORD "'ieq' or 'ine'"
%token IMPORT "'import'" EVENT "'event'" DESTINATION "'destination'" TABLE "'table'"
%token RULE "'rule'" TEST "'test'" ON "'on'" WHEN "'when'" SET "'set'" ROUTE "'route'"
%token OTHERWISE "'otherwise'" EMIT "'emit'" AS "'as'" BY "'by'" WITHIN "'within'"
%token EVERY "'every'" THEN "'then'" UNLESS "'unless'" WHERE "'where'"
%token PRIORITY "'priority'" WORKERS "'workers'" QUEUE "'queue'" RETRY "'retry'"
%token BACKOFF "'backoff'" DEAD_LETTER "'dead_letter'" BATCH "'batch'"
%token THROTTLE "'throttle'" PER "'per'" TIMEOUT "'timeout'" MAX_AGE "'max_age'"
%token TIMESTAMP "'timestamp'" LATENESS "'lateness'"
%token DEDUP "'dedup'" FROM "'from'" DELETE "'delete'" TTL "'ttl'" MAX_KEYS "'max_keys'"
%token SEND "'send'" EXPECT "'expect'" ADVANCE "'advance'" ROUTED "'routed'"
%token EMITTED "'emitted'" DROPPED "'dropped'" ONLY "'only'"
%token BACKPRESSURE "'backpressure'" ELSE "'else'"
%token AND "'and'" OR "'or'" NOT "'not'" IN "'in'" EXISTS "'exists'" MISSING "'missing'"
%token EQ "'=='" NE "'!='" LE "'<='" GE "'>='" DOTDOT "'..'" DOTDOTLT "'..<'"

%type <node> decl event_decl cfield ctype dest_decl policy table_decl
%type <node> rule_decl rule_item opt_alias test_decl step
%type <node> pattern name path assign member value object array expr pred sum term unary primary
%type <node> lit opt_version opt_where opt_else
%type <list> cfields enum_list policies opt_policies table_opts patterns pattern_segs
%type <list> rule_items names assigns members values path_segs paths steps args opt_args

%left OR
%left AND
%precedence NOT
%left '+' '-'
%left '*' '/' '%'

%%

file:
	  %empty
	| file decl                   { ps->decls = APPEND(ps->decls, $2); }
	| file error                  { }
	;

decl:
	  IMPORT STRING               { $$ = MK(IMPORT, @$, NULL, NULL, NULL); $$->str = $2.str; }
	| event_decl
	| dest_decl
	| table_decl
	| rule_decl
	| test_decl
	;

/* event NAME vN { fields } */
event_decl:
	  EVENT pattern_segs VERSION '{' cfields '}' { $$ = MK(EVENT, @$, MK(PATTERN, @2, $2.head, NULL, NULL), $5.head, NULL); $$->num = (uint32_t)$3; }
	;

cfields:
	  %empty                      { $$ = (struct rl_list){0}; }
	| cfields cfield              { $$ = APPEND($1, $2); }
	| cfields ','                 { $$ = $1; }
	;

cfield:
	  name ':' ctype              { $$ = MK(CFIELD, @1, $3, NULL, NULL); $$->name = $1->name; }
	| name '?' ':' ctype          { $$ = MK(CFIELD, @1, $4, NULL, NULL); $$->name = $1->name; $$->flag = 1; }
	;

ctype:
	  name                        { $$ = MK(TNAME, @$, NULL, NULL, NULL); $$->name = $1->name; }
	| enum_list                   { $$ = MK(TENUM, @$, $1.head, NULL, NULL); }
	| '[' ctype ']'               { $$ = MK(TARRAY, @$, $2, NULL, NULL); }
	| '{' cfields '}'             { $$ = MK(TOBJECT, @$, $2.head, NULL, NULL); }
	;

enum_list:
	  STRING                      { $$ = L(rl_mk_lit(ps, $1, @1)); }
	| enum_list '|' STRING        { $$ = APPEND($1, rl_mk_lit(ps, $3, @3)); }
	;

/* destination NAME [{ policies }] */
dest_decl:
	  DESTINATION name opt_policies { $$ = MK(DEST, @2, $3.head, NULL, NULL); $$->name = $2->name; }
	;

opt_policies:
	  %empty                      { $$ = (struct rl_list){0}; }
	| '{' policies '}'            { $$ = $2; }
	;

policies:
	  %empty                      { $$ = (struct rl_list){0}; }
	| policies policy             { $$ = APPEND($1, $2); }
	| policies ';'                { $$ = $1; }
	| policies ','                { $$ = $1; }
	;

policy:
	  PRIORITY lit                { $$ = MK(POLICY, @$, $2, NULL, NULL); $$->op = RL_P_PRIORITY; }
	| WORKERS lit                 { $$ = MK(POLICY, @$, $2, NULL, NULL); $$->op = RL_P_WORKERS; }
	| QUEUE lit                   { $$ = MK(POLICY, @$, $2, NULL, NULL); $$->op = RL_P_QUEUE; }
	| RETRY lit                   { $$ = MK(POLICY, @$, $2, NULL, NULL); $$->op = RL_P_RETRY; }
	| RETRY lit BACKOFF lit DOTDOT lit { $$ = MK(POLICY, @$, $2, $4, $6); $$->op = RL_P_RETRY; }
	| MAX_AGE lit                 { $$ = MK(POLICY, @$, $2, NULL, NULL); $$->op = RL_P_MAX_AGE; }
	| TIMEOUT lit                 { $$ = MK(POLICY, @$, $2, NULL, NULL); $$->op = RL_P_TIMEOUT; }
	| DEAD_LETTER name            { $$ = MK(POLICY, @$, $2, NULL, NULL); $$->op = RL_P_DEAD_LETTER; }
	| BATCH EVERY lit             { $$ = MK(POLICY, @$, $3, NULL, NULL); $$->op = RL_P_BATCH; }
	| BATCH EVERY lit OR lit      { $$ = MK(POLICY, @$, $3, $5, NULL); $$->op = RL_P_BATCH; }
	| BATCH lit                   { $$ = MK(POLICY, @$, NULL, $2, NULL); $$->op = RL_P_BATCH; }
	| THROTTLE lit PER lit        { $$ = MK(POLICY, @$, $2, $4, NULL); $$->op = RL_P_THROTTLE; }
	;

/* table NAME: TYPE by KEY from EVENT set VALUE [delete on EVENT] [ttl D] [max_keys N] */
table_decl:
	  TABLE name ':' ctype BY path FROM pattern SET path table_opts
	                              { $$ = MK(TABLE, @2, $4, $6, $8); $$->name = $2->name; $$->x = $10; $$->y = $11.head; }
	;

table_opts:
	  %empty                      { $$ = (struct rl_list){0}; }
	| table_opts DELETE ON pattern { $$ = APPEND($1, MK(POLICY, rl_span_join(@2, @4), $4, NULL, NULL)); $$.tail->op = RL_P_DELETE_ON; }
	| table_opts TTL lit          { $$ = APPEND($1, MK(POLICY, rl_span_join(@2, @3), $3, NULL, NULL)); $$.tail->op = RL_P_TTL; }
	| table_opts MAX_KEYS lit     { $$ = APPEND($1, MK(POLICY, rl_span_join(@2, @3), $3, NULL, NULL)); $$.tail->op = RL_P_MAX_KEYS; }
	;

/* rule NAME on PATTERNS [as ALIAS] ITEMS */
rule_decl:
	  RULE name ON patterns opt_alias rule_items { $$ = MK(RULE, @2, $4.head, $5, $6.head); $$->name = $2->name; }
	;

patterns:
	  pattern                     { $$ = L($1); }
	| patterns ',' pattern        { $$ = APPEND($1, $3); }
	;

pattern:
	  pattern_segs opt_version    { $$ = MK(PATTERN, @$, $1.head, NULL, NULL); $$->num = $2 ? $2->num : 0; }
	;

pattern_segs:
	  name                        { $$ = L($1); }
	| '*'                         { $$ = L(rl_mk_name(ps, "*", @1)); }
	| pattern_segs '.' name       { $$ = APPEND($1, $3); }
	| pattern_segs '.' '*'        { $$ = APPEND($1, rl_mk_name(ps, "*", @3)); }
	;

opt_version:
	  %empty                      { $$ = NULL; }
	| VERSION                     { $$ = MK(NAME, @$, NULL, NULL, NULL); $$->num = (uint32_t)$1; }
	;

opt_alias:
	  %empty                      { $$ = NULL; }
	| AS name                     { $$ = $2; }
	;

rule_items:
	  rule_item                   { $$ = L($1); }
	| rule_items rule_item        { $$ = APPEND($1, $2); }
	;

rule_item:
	  WHEN expr                   { $$ = MK(WHEN, @1, $2, NULL, NULL); }
	| OTHERWISE                   { $$ = MK(OTHERWISE, @$, NULL, NULL, NULL); }
	| ROUTE names                 { $$ = MK(ROUTE, @1, $2.head, NULL, NULL); }
	| SET assigns                 { $$ = MK(SET, @1, $2.head, NULL, NULL); }
	| EMIT pattern object         { $$ = MK(EMIT, @1, $2, $3, NULL); }
	| BACKPRESSURE                { $$ = MK(BACKPRESSURE, @$, NULL, NULL, NULL); }
	| WITHIN lit                  { $$ = MK(WITHIN, @1, $2, NULL, NULL); }
	| EVERY lit                   { $$ = MK(EVERY, @1, $2, NULL, NULL); }
	| BY paths                    { $$ = MK(BY, @1, $2.head, NULL, NULL); }
	| THEN pattern opt_alias opt_where { $$ = MK(THEN, @1, $2, $3, $4); }
	| UNLESS pattern opt_alias opt_where { $$ = MK(UNLESS, @1, $2, $3, $4); }
	| THROTTLE lit PER lit opt_else { $$ = MK(THROTTLE, @1, $2, $4, $5); }
	| DEDUP WITHIN lit            { $$ = MK(DEDUP, @1, NULL, $3, NULL); }
	| DEDUP BY paths WITHIN lit   { $$ = MK(DEDUP, @1, MK(BY, @2, $3.head, NULL, NULL), $5, NULL); }
	| TIMESTAMP path              { $$ = MK(TIMESTAMP, @1, $2, NULL, NULL); }
	| TIMESTAMP path LATENESS lit { $$ = MK(TIMESTAMP, @1, $2, $4, NULL); }
	;

opt_where:
	  %empty                      { $$ = NULL; }
	| WHERE expr                  { $$ = $2; }
	;

opt_else:
	  %empty                      { $$ = NULL; }
	| ELSE ROUTE names            { $$ = MK(ROUTE, @2, $3.head, NULL, NULL); }
	;

names:
	  name                        { $$ = L($1); }
	| names ',' name              { $$ = APPEND($1, $3); }
	;

paths:
	  path                        { $$ = L($1); }
	| paths ',' path              { $$ = APPEND($1, $3); }
	;

assigns:
	  assign                      { $$ = L($1); }
	| assigns ',' assign          { $$ = APPEND($1, $3); }
	;

assign:
	  path '=' expr               { $$ = MK(ASSIGN, @$, $1, $3, NULL); }
	;

/* test "title" { steps } */
test_decl:
	  TEST STRING '{' steps '}'   { $$ = MK(TEST, @2, $4.head, NULL, NULL); $$->str = $2.str; }
	;

steps:
	  %empty                      { $$ = (struct rl_list){0}; }
	| steps step                  { $$ = APPEND($1, $2); }
	;

step:
	  SEND pattern object         { $$ = MK(SEND, @$, $2, $3, NULL); }
	| ADVANCE lit                 { $$ = MK(ADVANCE, @$, $2, NULL, NULL); }
	| EXPECT ROUTED names         { $$ = MK(EXPECT, @$, $3.head, NULL, NULL); $$->op = RL_X_ROUTED; }
	| EXPECT NOT ROUTED names     { $$ = MK(EXPECT, @$, $4.head, NULL, NULL); $$->op = RL_X_NOT_ROUTED; }
	| EXPECT ONLY ROUTED names    { $$ = MK(EXPECT, @$, $4.head, NULL, NULL); $$->op = RL_X_ONLY_ROUTED; }
	| EXPECT SET path '=' value   { $$ = MK(EXPECT, @$, $3, $5, NULL); $$->op = RL_X_SET; }
	| EXPECT EMITTED pattern object { $$ = MK(EXPECT, @$, $3, $4, NULL); $$->op = RL_X_EMITTED; }
	| EXPECT EMITTED pattern      { $$ = MK(EXPECT, @$, $3, NULL, NULL); $$->op = RL_X_EMITTED; }
	| EXPECT NOT EMITTED pattern  { $$ = MK(EXPECT, @$, $4, NULL, NULL); $$->op = RL_X_NOT_EMITTED; }
	| EXPECT DROPPED              { $$ = MK(EXPECT, @$, NULL, NULL, NULL); $$->op = RL_X_DROPPED; }
	;

/* ---- objects (emit, send, expect) ---- */
object:
	  '{' members '}'             { $$ = MK(OBJECT, @$, $2.head, NULL, NULL); }
	;

members:
	  %empty                      { $$ = (struct rl_list){0}; }
	| members member              { $$ = APPEND($1, $2); }
	| members ','                 { $$ = $1; }
	;

member:
	  name ':' value              { $$ = MK(MEMBER, @1, $3, NULL, NULL); $$->name = $1->name; }
	| META ':' value              { $$ = MK(MEMBER, @1, $3, NULL, NULL); $$->name = $1; $$->flag = 1; }
	;

value:
	  expr
	| object
	| array
	;

array:
	  '[' ']'                     { $$ = MK(LIST, @$, NULL, NULL, NULL); }
	| '[' values ']'              { $$ = MK(LIST, @$, $2.head, NULL, NULL); }
	| '[' values ',' ']'          { $$ = MK(LIST, @$, $2.head, NULL, NULL); }
	;

values:
	  value                       { $$ = L($1); }
	| values ',' value            { $$ = APPEND($1, $3); }
	;

/* ---- expressions ---- */
expr:
	  expr OR expr                { $$ = MK(OR, @$, $1, $3, NULL); }
	| expr AND expr               { $$ = MK(AND, @$, $1, $3, NULL); }
	| NOT expr                    { $$ = MK(NOT, @$, $2, NULL, NULL); }
	| pred
	;

pred:
	  sum
	| sum EQ sum                  { $$ = MK(CMP, @$, $1, $3, NULL); $$->op = RL_EQ; }
	| sum NE sum                  { $$ = MK(CMP, @$, $1, $3, NULL); $$->op = RL_NE; }
	| sum '<' sum                 { $$ = MK(CMP, @$, $1, $3, NULL); $$->op = RL_LT; }
	| sum LE sum                  { $$ = MK(CMP, @$, $1, $3, NULL); $$->op = RL_LE; }
	| sum '>' sum                 { $$ = MK(CMP, @$, $1, $3, NULL); $$->op = RL_GT; }
	| sum GE sum                  { $$ = MK(CMP, @$, $1, $3, NULL); $$->op = RL_GE; }
	| sum CMPWORD sum             { $$ = MK(CMP, @$, $1, $3, NULL); $$->op = $2; }
	| sum STROP sum               { $$ = MK(STROP, @$, $1, $3, NULL); $$->op = $2; }
	| sum IN array                { $$ = MK(IN, @$, $1, $3, NULL); }
	| sum NOT IN array            { $$ = MK(IN, @$, $1, $4, NULL); $$->flag = 1; }
	| sum IN LITERAL              { $$ = MK(IN, @$, $1, MK(LIST, @3, rl_mk_lit(ps, $3, @3), NULL, NULL), NULL); }
	| sum NOT IN LITERAL          { $$ = MK(IN, @$, $1, MK(LIST, @4, rl_mk_lit(ps, $4, @4), NULL, NULL), NULL); $$->flag = 1; }
	| sum IN sum DOTDOT sum       { $$ = MK(RANGE, @$, $1, $3, $5); }
	| sum IN sum DOTDOTLT sum     { $$ = MK(RANGE, @$, $1, $3, $5); $$->flag = 1; }
	| sum EXISTS                  { $$ = MK(EXISTS, @$, $1, NULL, NULL); }
	| sum MISSING                 { $$ = MK(EXISTS, @$, $1, NULL, NULL); $$->flag = 1; }
	;

sum:
	  term
	| sum '+' sum                 { $$ = MK(ARITH, @$, $1, $3, NULL); $$->op = '+'; }
	| sum '-' sum                 { $$ = MK(ARITH, @$, $1, $3, NULL); $$->op = '-'; }
	;

term:
	  unary
	| term '*' term               { $$ = MK(ARITH, @$, $1, $3, NULL); $$->op = '*'; }
	| term '/' term               { $$ = MK(ARITH, @$, $1, $3, NULL); $$->op = '/'; }
	| term '%' term               { $$ = MK(ARITH, @$, $1, $3, NULL); $$->op = '%'; }
	;

unary:
	  primary
	| '-' unary                  { $$ = MK(NEG, @$, $2, NULL, NULL); }
	;

primary:
	  lit
	| path
	| IDENT '(' opt_args ')'      { $$ = MK(CALL, @$, $3.head, NULL, NULL); $$->name = $1; }
	| IDENT '[' expr ']'          { $$ = MK(INDEX, @$, $3, NULL, NULL); $$->name = $1; }
	| '(' expr ')'                { $$ = $2; }
	;

opt_args:
	  %empty                      { $$ = (struct rl_list){0}; }
	| args
	;

args:
	  expr                        { $$ = L($1); }
	| args ',' expr               { $$ = APPEND($1, $3); }
	;

lit:
	  LITERAL                     { $$ = rl_mk_lit(ps, $1, @1); }
	| STRING                      { $$ = rl_mk_lit(ps, $1, @1); }
	;

path:
	  path_segs                   { $$ = MK(PATH, @$, $1.head, NULL, NULL); }
	| META                        { $$ = MK(PATH, @$, rl_mk_name(ps, $1, @1), NULL, NULL); $$->flag = 1; }
	;

path_segs:
	  name                        { $$ = L($1); }
	| path_segs '.' name          { $$ = APPEND($1, $3); }
	;

/* Words that are keywords only where the grammar expects them. The words
 * that start a declaration (event, destination, table, rule, test, import)
 * are reserved, so that a missing name ends a declaration cleanly. */
name:
	  IDENT                       { $$ = rl_mk_name(ps, $1, @1); }
	| soft_kw                     { $$ = rl_mk_name(ps, ru_arena_strndup(ps->arena, rl_soft_text(ps, @1), @1.end - @1.start), @1); }
	;

soft_kw:
	  ON | WHEN | SET | ROUTE
	| OTHERWISE | EMIT | AS | BY | WITHIN | EVERY | THEN | UNLESS | WHERE
	| PRIORITY | WORKERS | QUEUE | RETRY | BACKOFF | DEAD_LETTER | BATCH
	| THROTTLE | PER | TIMEOUT | MAX_AGE | DEDUP | FROM | DELETE | TTL
	| MAX_KEYS | SEND | EXPECT | ADVANCE | ROUTED | EMITTED | DROPPED | ONLY
	| BACKPRESSURE | ELSE | VERSION | TIMESTAMP | LATENESS
	;

%%

void
rl_yyerror(RL_YYLTYPE *loc, void *yyscanner, struct rl_parser *ps, const char *msg)
{
	(void)yyscanner;
	/* bison's only other message: its stack is full (deep nesting) */
	if (strcmp(msg, "memory exhausted") == 0)
		rl_diag(ps->diag, RL_E_PARSER_DEPTH, *loc, "the parser's stack is full");
	else
		rl_parser_error(ps, *loc, msg);
}

/* The words of soft_kw above: names where the grammar expects a name. */
static int
is_soft(yysymbol_kind_t k)
{
	switch (k) {
	case YYSYMBOL_ON: case YYSYMBOL_WHEN: case YYSYMBOL_SET: case YYSYMBOL_ROUTE:
	case YYSYMBOL_OTHERWISE: case YYSYMBOL_EMIT: case YYSYMBOL_AS: case YYSYMBOL_BY:
	case YYSYMBOL_WITHIN: case YYSYMBOL_EVERY: case YYSYMBOL_THEN: case YYSYMBOL_UNLESS:
	case YYSYMBOL_WHERE: case YYSYMBOL_PRIORITY: case YYSYMBOL_WORKERS: case YYSYMBOL_QUEUE:
	case YYSYMBOL_RETRY: case YYSYMBOL_BACKOFF: case YYSYMBOL_DEAD_LETTER: case YYSYMBOL_BATCH:
	case YYSYMBOL_THROTTLE: case YYSYMBOL_PER: case YYSYMBOL_TIMEOUT: case YYSYMBOL_MAX_AGE:
	case YYSYMBOL_DEDUP: case YYSYMBOL_FROM: case YYSYMBOL_DELETE: case YYSYMBOL_TTL:
	case YYSYMBOL_MAX_KEYS: case YYSYMBOL_SEND: case YYSYMBOL_EXPECT: case YYSYMBOL_ADVANCE:
	case YYSYMBOL_ROUTED: case YYSYMBOL_EMITTED: case YYSYMBOL_DROPPED: case YYSYMBOL_ONLY:
	case YYSYMBOL_BACKPRESSURE: case YYSYMBOL_ELSE: case YYSYMBOL_VERSION:
	case YYSYMBOL_TIMESTAMP: case YYSYMBOL_LATENESS:
		return 1;
	default:
		return 0;
	}
}

/*
 * "syntax error, unexpected X, expecting A or B": like bison's detailed
 * message, except that where a name may come, the dozens of words that can
 * also be names are summed up as "a name".
 */
static int
yyreport_syntax_error(const yypcontext_t *ctx, void *yyscanner, struct rl_parser *ps)
{
	yysymbol_kind_t exp[64], tok = yypcontext_token(ctx);
	char msg[512];
	int n = yypcontext_expected_tokens(ctx, exp, 64), i, name = 0, shown = 0;
	size_t len;

	(void)yyscanner;
	len = (size_t)snprintf(msg, sizeof msg, "syntax error, unexpected %s",
		tok == YYSYMBOL_YYEMPTY ? "end of input" : yysymbol_name(tok));
	for (i = 0; i < n; i++)
		if (exp[i] == YYSYMBOL_IDENT)
			name = 1;
	for (i = 0; i < n; i++)
		if (!(name && (is_soft(exp[i]) || exp[i] == YYSYMBOL_IDENT)))
			shown++;
	if (n > 0 && shown + name <= 5) {
		const char *sep = ", expecting ";

		if (name) {
			len += (size_t)snprintf(msg + len, sizeof msg - len, "%sa name", sep);
			sep = " or ";
		}
		for (i = 0; i < n && len < sizeof msg; i++) {
			if (name && (is_soft(exp[i]) || exp[i] == YYSYMBOL_IDENT))
				continue;
			len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", sep, yysymbol_name(exp[i]));
			sep = " or ";
		}
	}
	rl_parser_error(ps, *yypcontext_location(ctx), msg);
	return 0;
}
