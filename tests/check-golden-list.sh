#!/bin/sh
# check-golden-list.sh -- fails when tests/golden.am does not list exactly the
# golden files present, so that no golden test is silently left out.
set -eu
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
expected=$(for f in tests/errors/*.route tests/disasm/*.route tests/golden/*.route tests/testrun/*.route; do [ -e "$f" ] && echo "$f"; done | sort)
listed=$(sed -n 's/^[[:space:]]*\(tests\/[a-z]*\/[^ ]*\.route\).*/\1/p' tests/golden.am | sort)
if [ "$expected" != "$listed" ]; then
	echo "tests/golden.am is out of date; run tests/list-golden.sh" >&2
	printf "present:\n%s\nlisted:\n%s\n" "$expected" "$listed" >&2
	exit 1
fi
echo "golden list: $(echo "$expected" | grep -c .) files"
