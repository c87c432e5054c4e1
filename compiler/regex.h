/*
 * regex.h -- compile-time checks of `matches` patterns.
 *
 * Route allows only linear-time regular expressions: the runtime matches
 * them with Hyperscan, which has no backtracking. Constructs that need
 * backtracking (backreferences, lookaround, atomic groups, possessive
 * quantifiers, recursion, conditionals) are named in the error; everything
 * else is checked by Hyperscan's own parser (hs_expression_info).
 */
#ifndef RC_REGEX_H
#define RC_REGEX_H

#include <stddef.h>

enum rc_regex_status { RC_REGEX_OK, RC_REGEX_SYNTAX, RC_REGEX_BACKTRACK };

/*
 * Checks pat[0..len). Returns RC_REGEX_OK, or another status with a reason
 * written to msg (always NUL-terminated).
 */
enum rc_regex_status rc_regex_check(const char *pat, size_t len, int caseless,
	char *msg, size_t msglen);

#endif
