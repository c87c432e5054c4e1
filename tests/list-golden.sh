#!/bin/sh
# list-golden.sh -- rewrites tests/golden.am from the golden test directories.
# Run it after adding or removing a file under tests/errors or tests/disasm.
set -eu
cd "$(dirname "$0")/.."
{
	echo "## tests/golden.am -- golden test lists (written by tests/list-golden.sh)"
	printf 'ERROR_TESTS ='
	for f in tests/errors/*.route; do [ -e "$f" ] && printf ' \\\n\t%s' "$f"; done
	printf '\n'
	printf 'DISASM_TESTS ='
	for f in tests/disasm/*.route; do [ -e "$f" ] && printf ' \\\n\t%s' "$f"; done
	printf '\n'
	printf 'DECISION_TESTS ='
	for f in tests/golden/*.route; do [ -e "$f" ] && printf ' \\\n\t%s' "$f"; done
	printf '\n'
	printf 'TESTRUN_TESTS ='
	for f in tests/testrun/*.route; do [ -e "$f" ] && printf ' \\\n\t%s' "$f"; done
	printf '\n'
} > tests/golden.am
