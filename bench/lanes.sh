#!/bin/bash
# lanes.sh -- delivery-path benchmark of routed (not part of `make check`).
#
# Replays N generated events (`routed --replay`, no HTTP) through a program
# that fans each event out to two file sinks, and times the whole run (start,
# routing, delivery, drain, exit): RUNS timed runs after one warm-up, per
# case. Cases, each run by ROUTED and, when BASE_ROUTED is given, by that
# binary too (a build of an earlier commit) in the same run, alternating:
#   plain     destinations without policies
#   batched   the same with `batch every 100ms or 100` (BASE ignores it)
#   exec-batch  exec sinks (`cat >/dev/null`), `batch 1000` (ROUTED only: the
#             base has no exec sink)
# Prints per case the median and min wall time, events/s at the median, the
# median CPU time (user + sys, less disturbed by other load on the machine
# than wall time) and the ratios ROUTED / BASE of the wall and the CPU
# medians (> 1: ROUTED is slower).
#
# Environment: ROUTED (default ./routed), BASE_ROUTED (optional), N (default
# 200000), RUNS (default 5), TMPDIR.
set -u
ROUTED=${ROUTED:-./routed}
BASE_ROUTED=${BASE_ROUTED:-}
N=${N:-200000}
RUNS=${RUNS:-5}
die() { echo "lanes.sh: $*" >&2; exit 1; }
[ -x "$ROUTED" ] || die "no routed at $ROUTED (set ROUTED)"
[ -z "$BASE_ROUTED" ] || [ -x "$BASE_ROUTED" ] || die "no routed at $BASE_ROUTED (BASE_ROUTED)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lanes-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

awk -v n="$N" 'BEGIN { pad = sprintf("%104s", ""); gsub(/ /, "p", pad) # 104 bytes of padding per event
	for (i = 1; i <= n; i++)
		printf "{\"event_type\":\"t.ev\",\"id\":\"e-%d\",\"n\":%d,\"kind\":\"k%d\",\"pad\":\"%s\"}\n", i, i, i % 7, pad }' \
	>"$tmp/events.ndjson"
rules() { # POLICY: the program, both destinations with that policy
	printf 'event t.ev v1 { id: string, n: number, kind: string, pad: string }\n'
	printf 'destination a %s\ndestination b %s\n' "$1" "$1"
	printf 'rule r on t.ev when n >= 0 route a, b\n'
}
rules "" >"$tmp/plain.route"
rules "{ batch every 100ms or 100 }" >"$tmp/batched.route"
rules "{ batch 1000 }" >"$tmp/exec-batch.route"
printf '[service]\nlog_level = warn\n[limits]\nmax_inflight_bytes = 256M\n[destination a]\nsink = file\npath = %s/a.ndjson\n[destination b]\nsink = file\npath = %s/b.ndjson\n' \
	"$tmp" "$tmp" >"$tmp/file.conf"
printf '[service]\nlog_level = warn\n[limits]\nmax_inflight_bytes = 256M\n[destination a]\nsink = exec\ncommand = cat >/dev/null\n[destination b]\nsink = exec\ncommand = cat >/dev/null\n' \
	>"$tmp/exec.conf"

one() { # BINARY CONF RULES: "WALL CPU" seconds of one replay (checks that every message landed)
	rm -f "$tmp/a.ndjson" "$tmp/b.ndjson"
	TIMEFORMAT='%R %U %S'
	{ time "$1" --replay "$tmp/events.ndjson" --config "$2" --data-dir "$tmp/data" "$3" >/dev/null 2>"$tmp/err" ||
		die "$1 failed: $(tail -3 "$tmp/err")"; } 2>"$tmp/time"
	if [ "$2" = "$tmp/file.conf" ] && [ "$(wc -l <"$tmp/a.ndjson")" != "$N" ]; then
		die "$1: a.ndjson has $(wc -l <"$tmp/a.ndjson") lines, not $N"
	fi
	awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$tmp/time"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n | head -1; }
col() { awk -v c="$1" '{ print $c }' "$2"; }

printf '%-11s %-6s %9s %9s %12s %9s %7s %7s\n' case binary wall_med wall_min events_per_s cpu_med wall_x cpu_x
bench_case() { # NAME CONF RULES WITH_BASE
	: >"$tmp/t.new"
	: >"$tmp/t.base"
	one "$ROUTED" "$2" "$3" >/dev/null
	[ "$4" = 1 ] && [ -n "$BASE_ROUTED" ] && one "$BASE_ROUTED" "$2" "$3" >/dev/null
	for _ in $(seq "$RUNS"); do
		one "$ROUTED" "$2" "$3" >>"$tmp/t.new"
		[ "$4" = 1 ] && [ -n "$BASE_ROUTED" ] && one "$BASE_ROUTED" "$2" "$3" >>"$tmp/t.base"
	done
	mn=$(col 1 "$tmp/t.new" | median)
	cn=$(col 2 "$tmp/t.new" | median)
	if [ -s "$tmp/t.base" ]; then
		mb=$(col 1 "$tmp/t.base" | median)
		cb=$(col 2 "$tmp/t.base" | median)
		printf '%-11s %-6s %9s %9s %12.0f %9s %7s %7s\n' "$1" base "$mb" "$(col 1 "$tmp/t.base" | minimum)" \
			"$(awk -v n="$N" -v t="$mb" 'BEGIN { print n / t }')" "$cb" "" ""
		ratio=$(awk -v a="$mn" -v b="$mb" 'BEGIN { printf "%.3f", a / b }')
		cratio=$(awk -v a="$cn" -v b="$cb" 'BEGIN { printf "%.3f", a / b }')
	else
		ratio="-"
		cratio="-"
	fi
	printf '%-11s %-6s %9s %9s %12.0f %9s %7s %7s\n' "$1" new "$mn" "$(col 1 "$tmp/t.new" | minimum)" \
		"$(awk -v n="$N" -v t="$mn" 'BEGIN { print n / t }')" "$cn" "$ratio" "$cratio"
}
bench_case plain "$tmp/file.conf" "$tmp/plain.route" 1
bench_case batched "$tmp/file.conf" "$tmp/batched.route" 1
bench_case exec-batch "$tmp/exec.conf" "$tmp/exec-batch.route" 0
echo "($N events, 2 destinations each, $RUNS runs per case after a warm-up; ratio = new / base median)"
