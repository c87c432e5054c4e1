#!/bin/sh
# run-golden.sh -- Automake test driver for golden .route tests.
#
#   tests/errors/NAME.route  + NAME.err     exact diagnostics of `routec check`
#                                            (or of `routec compile` when the
#                                            file's first line is "# cmd: compile")
#   tests/disasm/NAME.route  + NAME.disasm  exact `routec dump` listing (-O2),
#                                            and the -O0 build must also verify
#   tests/golden/NAME.route  + NAME.events  exact `routec run` decisions in
#                            + NAME.expected NAME.expected, the same at -O0 and
#                                            -O2, with both VM dispatch builds, and
#                                            with and without the equality index
#   tests/testrun/NAME.route + NAME.out     exact `routec test -v` output, then
#                                            a line "exit N" with its status
#
# Paths in messages are relative to the source tree, so the test runs from
# $top_srcdir. UPDATE=1 rewrites the expected files instead of comparing.
set -u
ROUTEC=${ROUTEC:-./routec}
top=${top_srcdir:-.}
case $ROUTEC in /*) ;; *) ROUTEC=$(pwd)/$ROUTEC ;; esac
src=$1
case $src in "$top"/*) rel=${src#"$top"/} ;; *) rel=$src ;; esac
cd "$top" || exit 99
base=${rel%.route}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

compare() { # expected actual
	if [ "${UPDATE:-0}" = 1 ]; then
		cp "$2" "$1"
		echo "updated $1"
		return 0
	fi
	if ! [ -f "$1" ]; then
		echo "FAIL: $1 is missing (run with UPDATE=1 to create it)"
		return 1
	fi
	if ! diff -u "$1" "$2"; then
		echo "FAIL: output differs from $1"
		return 1
	fi
	return 0
}

case $rel in
tests/errors/*)
	if head -n 1 "$rel" | grep -q '^# cmd: compile'; then
		"$ROUTEC" compile --max-errors 0 -o "$tmp/out.rbc" "$rel" >"$tmp/stdout" 2>"$tmp/actual"
	else
		"$ROUTEC" check --max-errors 0 "$rel" >"$tmp/stdout" 2>"$tmp/actual"
	fi
	code=$?
	if grep -q ': error: ' "$base.err" 2>/dev/null; then want=1; else want=0; fi
	[ "${UPDATE:-0}" = 1 ] && want=$code
	if [ "$code" -ne "$want" ]; then
		echo "FAIL: exit status $code, expected $want"
		cat "$tmp/actual"
		exit 1
	fi
	compare "$base.err" "$tmp/actual" || exit 1
	;;
tests/disasm/*)
	"$ROUTEC" dump "$rel" >"$tmp/actual" 2>"$tmp/stderr" || { cat "$tmp/stderr"; echo "FAIL: dump failed"; exit 1; }
	compare "$base.disasm" "$tmp/actual" || exit 1
	"$ROUTEC" compile -O0 -o "$tmp/o0.rbc" "$rel" || { echo "FAIL: -O0 compile failed"; exit 1; }
	"$ROUTEC" dump "$tmp/o0.rbc" >/dev/null || { echo "FAIL: -O0 program does not load"; exit 1; }
	;;
tests/golden/*)
	"$ROUTEC" compile -O2 -o "$tmp/o2.rbc" "$rel" || { echo "FAIL: compile failed"; exit 1; }
	"$ROUTEC" compile -O0 -o "$tmp/o0.rbc" "$rel" || { echo "FAIL: -O0 compile failed"; exit 1; }
	"$ROUTEC" run "$tmp/o2.rbc" "$base.events" >"$tmp/actual" || { echo "FAIL: run failed"; exit 1; }
	compare "$base.expected" "$tmp/actual" || exit 1
	for variant in "o0.rbc" "o2.rbc --switch-dispatch" "o0.rbc --switch-dispatch" "o2.rbc --no-index" \
	    "o0.rbc --no-index"; do
		set -- $variant
		"$ROUTEC" run "$tmp/$1" "$base.events" ${2+"$2"} >"$tmp/other" || { echo "FAIL: run ($variant) failed"; exit 1; }
		if ! cmp -s "$tmp/actual" "$tmp/other"; then
			echo "FAIL: decisions differ with $variant:"
			diff "$tmp/actual" "$tmp/other"
			exit 1
		fi
	done
	;;
tests/testrun/*)
	"$ROUTEC" test -v "$rel" >"$tmp/actual" 2>&1
	echo "exit $?" >>"$tmp/actual"
	compare "$base.out" "$tmp/actual" || exit 1
	;;
*)
	echo "run-golden.sh: do not know how to test $rel"
	exit 99
	;;
esac
echo "PASS: $rel"
exit 0
