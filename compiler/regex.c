/*
 * regex.c -- linear-time regex validation with Hyperscan; see regex.h.
 */
#include "config.h"
#include "regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "alloc.h"

/* Finds a construct that needs backtracking; returns its name or NULL. */
static const char *
find_backtracking(const char *p, size_t len)
{
	size_t i;
	int in_class = 0;

	for (i = 0; i < len; i++) {
		char c = p[i];

		if (c == '\\' && i + 1 < len) {
			char n = p[i + 1];

			if (n == 'Q') {
				/* \Q...\E quotes its text: nothing inside is syntax */
				for (i += 2; i + 1 < len && !(p[i] == '\\' && p[i + 1] == 'E'); i++)
					;
				i++;
				continue;
			}
			if (!in_class && ((n >= '1' && n <= '9') || n == 'k' || n == 'g'))
				return "a backreference";
			i++;
			continue;
		}
		if (in_class) {
			if (c == ']')
				in_class = 0;
			continue;
		}
		if (c == '[') {
			in_class = 1;
			if (i + 1 < len && p[i + 1] == ']')
				i++;
			continue;
		}
		if (c == '(' && i + 2 < len && p[i + 1] == '?') {
			char k = p[i + 2];

			if (k == '=' || k == '!')
				return "a lookahead assertion";
			if (k == '<' && i + 3 < len && (p[i + 3] == '=' || p[i + 3] == '!'))
				return "a lookbehind assertion";
			if (k == '>')
				return "an atomic group";
			if (k == '(')
				return "a conditional group";
			if (k == 'P' && i + 3 < len && p[i + 3] == '=')
				return "a backreference";
			if (k == 'R' || (k >= '0' && k <= '9') || k == '&' || (k == 'P' && i + 3 < len && p[i + 3] == '>'))
				return "recursion";
			/* (?P<name>...) is a named group, (?#...) a comment: fine here */
		}
		if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < len && p[i + 1] == '+')
			return "a possessive quantifier";
	}
	return NULL;
}

enum rc_regex_status
rc_regex_check(const char *pat, size_t len, int caseless, char *msg, size_t msglen)
{
	const char *bt;
	char *z;
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *err = NULL;
	unsigned flags = HS_FLAG_UTF8 | HS_FLAG_ALLOWEMPTY | HS_FLAG_SINGLEMATCH;

	if (memchr(pat, '\0', len) != NULL) {
		snprintf(msg, msglen, "the pattern contains a NUL byte");
		return RC_REGEX_SYNTAX;
	}
	if ((bt = find_backtracking(pat, len)) != NULL) {
		snprintf(msg, msglen, "%s", bt);
		return RC_REGEX_BACKTRACK;
	}
	if (caseless)
		flags |= HS_FLAG_CASELESS;
	z = ru_xstrndup(pat, len);
	if (hs_expression_info(z, flags, &info, &err) != HS_SUCCESS) {
		size_t n;

		/* Hyperscan says "Unterminated character class starting at index 0.":
		 * lower-case it and drop the full stop to match our messages */
		snprintf(msg, msglen, "%s", err && err->message ? err->message : "rejected by Hyperscan");
		if (msg[0] >= 'A' && msg[0] <= 'Z' && !(msg[1] >= 'A' && msg[1] <= 'Z'))
			msg[0] = (char)(msg[0] - 'A' + 'a');
		n = strlen(msg);
		if (n > 0 && msg[n - 1] == '.')
			msg[n - 1] = '\0';
		hs_free_compile_error(err);
		ru_free(z);
		return RC_REGEX_SYNTAX;
	}
	free(info); /* allocated by Hyperscan's default allocator (malloc) */
	ru_free(z);
	msg[0] = '\0';
	return RC_REGEX_OK;
}
