#!/bin/sh
# run-examples.sh -- the bundled examples are tests too: the stateless ones
# check without a warning, compile to a program that loads, and decide their
# sample events exactly as examples/NAME.expected says (at -O0 and -O2), and
# pass every one of their test blocks under `routec test`; temporal.route
# (windows, sequences, absences, tumbling windows) compiles and passes its
# tests.
set -u
ROUTEC=${ROUTEC:-./routec}
top=${top_srcdir:-.}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
cd "$top" || exit 99
for ex in support leads orders; do
	f=examples/$ex.route
	if ! "$ROUTEC" check --Werror "$f"; then
		echo "FAIL: $f does not check cleanly"; fail=1; continue
	fi
	if ! "$ROUTEC" compile -o "$tmp/$ex.rbc" "$f" || ! "$ROUTEC" dump "$tmp/$ex.rbc" >/dev/null; then
		echo "FAIL: $f does not compile to a loadable program"; fail=1; continue
	fi
	if [ ! -f "examples/$ex.events" ] || [ ! -f "examples/$ex.expected" ]; then
		echo "FAIL: examples/$ex.events or examples/$ex.expected is missing"; fail=1; continue
	fi
	"$ROUTEC" compile -O0 -o "$tmp/$ex-o0.rbc" "$f" || { fail=1; continue; }
	for run in "$tmp/$ex.rbc" "$tmp/$ex-o0.rbc" "$tmp/$ex.rbc --no-index"; do
		set -- $run
		"$ROUTEC" run "$1" "examples/$ex.events" ${2+"$2"} >"$tmp/$ex.out" || { fail=1; continue; }
		if ! diff -u "examples/$ex.expected" "$tmp/$ex.out"; then
			echo "FAIL: decisions for examples/$ex.events differ from examples/$ex.expected"
			fail=1
		fi
	done
	ntests=$(grep -c '^test ' "$f")
	if ! "$ROUTEC" test "$f" >"$tmp/$ex.test" || ! grep -qx "$ntests passed, 0 failed" "$tmp/$ex.test"; then
		echo "FAIL: the tests of $f (expected $ntests passed, 0 failed):"
		cat "$tmp/$ex.test"
		fail=1
	fi
	echo "PASS: $f"
done
f=examples/temporal.route
ntests=$(grep -c '^test ' "$f")
if ! "$ROUTEC" check --Werror "$f"; then
	echo "FAIL: $f does not check cleanly"; fail=1
elif ! "$ROUTEC" compile -o "$tmp/t.rbc" "$f" || ! "$ROUTEC" dump "$tmp/t.rbc" >/dev/null; then
	echo "FAIL: $f does not compile to a loadable program"; fail=1
elif ! "$ROUTEC" test "$f" >"$tmp/t.test" || ! grep -qx "$ntests passed, 0 failed" "$tmp/t.test"; then
	echo "FAIL: the tests of $f (expected $ntests passed, 0 failed):"; cat "$tmp/t.test"; fail=1
else
	echo "PASS: $f (compiled; $ntests tests passed)"
fi
exit $fail
