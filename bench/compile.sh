#!/bin/bash
# compile.sh -- compile-speed benchmark of routec (not part of `make check`).
#
# Builds bench/gen_rules, generates programs of 10, 1,000, 10,000 and 100,000
# rules, and times `routec check FILE` and `routec compile -o OUT FILE` on each:
# one warm-up run (also measured for peak RSS with /usr/bin/time -f %M), then
# RUNS timed runs. Prints per size and command: median and min wall time, peak
# RSS, rules/s, the ratio to the targets (10k rules <= 100 ms, 100k <= 1.5 s)
# and, at 10k rules, the speed-up over the published peers' 10k figures
# (quamina 0.33 s, event-ruler 0.51 s). See bench/README.md.
#
# Environment: ROUTEC (routec binary, default ./routec), RUNS (default 5),
# SIZES (default "10 1000 10000 100000"), CC (default cc), KEEP=1 keeps the
# generated files and prints where they are.
set -u

ROUTEC=${ROUTEC:-./routec}
RUNS=${RUNS:-5}
SIZES=${SIZES:-"10 1000 10000 100000"}
CC=${CC:-cc}

# targets and peers, in seconds (docs: DESIGN.md section 4; peers at 10k rules)
TARGET_10K=0.100
TARGET_100K=1.5
QUAMINA_10K=0.33
EVENT_RULER_10K=0.51

here=$(cd "$(dirname "$0")" && pwd)

die() { echo "compile.sh: $*" >&2; exit 1; }

case $ROUTEC in
	/*) ;;
	*) ROUTEC=$(pwd)/$ROUTEC ;;
esac
[ -x "$ROUTEC" ] || die "no routec binary at $ROUTEC (set ROUTEC=/path/to/routec)"
case $RUNS in ''|*[!0-9]*|0) die "RUNS must be a positive integer" ;; esac

# /usr/bin/time (GNU time) reports the peak RSS; the shell keyword cannot
if ! /usr/bin/time -f %M true >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "compile.sh: installing GNU time (apt-get install -y time)" >&2
		apt-get install -y time >/dev/null 2>&1 \
			|| { apt-get update >/dev/null 2>&1 && apt-get install -y time >/dev/null 2>&1; }
	fi
	/usr/bin/time -f %M true >/dev/null 2>&1 \
		|| die "GNU time is needed for the peak RSS: apt-get install time"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/routec-bench.XXXXXX") || die "mktemp failed"
if [ "${KEEP:-0}" = 1 ]; then
	trap 'echo "compile.sh: files kept in $work" >&2' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi

"$CC" -O2 -o "$work/gen_rules" "$here/gen_rules.c" || die "cannot build gen_rules"

# now_ns: wall clock in nanoseconds (bash 5's EPOCHREALTIME avoids a fork)
if [ -n "${EPOCHREALTIME:-}" ]; then
	now_ns() { local t=${EPOCHREALTIME/[.,]/}; echo "${t}000"; }
else
	now_ns() { date +%s%N; }
fi

# stats: reads seconds, one per line; prints "median min"
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.6f %.6f\n", m, v[1] }'
}

# fmt_time SECONDS: "12.3 ms" or "1.234 s"
fmt_time() {
	awk -v t="$1" 'BEGIN { if (t < 1) printf "%.1f ms", t * 1000; else printf "%.3f s", t }'
}

# set_argv NAME FILE: the argument vector of one benchmarked command, in argv
set_argv() {
	case $1 in
		check) argv=("$ROUTEC" check "$2") ;;
		compile) argv=("$ROUTEC" compile -o "$work/out.rbc" "$2") ;;
	esac
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "routec compile benchmark"
echo "  routec : $ROUTEC $("$ROUTEC" --version 2>/dev/null | head -1)"
echo "  host   : ${cpu:-unknown cpu}, $(nproc 2>/dev/null || echo '?') cpus, $(uname -sr)"
echo "  method : 1 warm-up run (peak RSS via /usr/bin/time -f %M), then $RUNS timed runs; wall clock"
echo "  targets: 10k rules <= $(fmt_time $TARGET_10K), 100k rules <= $(fmt_time $TARGET_100K)" \
	"(ratio = median / target; <= 1.00 meets it)"
echo "  peers  : at 10k rules quamina $(fmt_time $QUAMINA_10K), event-ruler $(fmt_time $EVENT_RULER_10K)" \
	"(speed-up = peer / our median)"
echo

status=0
rows=()
stages=()
for n in $SIZES; do
	file=$work/rules-$n.route
	"$work/gen_rules" -o "$file" "$n" 2>"$work/gen.log" || { cat "$work/gen.log" >&2; die "gen_rules $n failed"; }
	bytes=$(wc -c <"$file")
	for cmd in check compile; do
		set_argv $cmd "$file"
		# warm-up: fills the page cache, measures the peak RSS, shows any diagnostic
		/usr/bin/time -f %M -o "$work/rss" "${argv[@]}" >"$work/out.log" 2>"$work/err.log"
		rc=$?
		rss_kb=$(tail -1 "$work/rss")
		if [ $rc -ne 0 ] || [ -s "$work/err.log" ] || [ -s "$work/out.log" ]; then
			echo "!! routec $cmd on $n rules: exit $rc, output:" >&2
			head -20 "$work/err.log" "$work/out.log" >&2
			[ $rc -ne 0 ] && status=1
		fi
		: >"$work/times"
		for ((r = 0; r < RUNS; r++)); do
			t0=$(now_ns)
			"${argv[@]}" >/dev/null 2>&1
			t1=$(now_ns)
			awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.9f\n", (b - a) / 1e9 }' >>"$work/times"
		done
		read -r med min < <(stats <"$work/times")
		rows+=("$n $cmd $med $min $rss_kb $bytes $rc")
		# routec's own stage timings (-v), from one more run; informative only
		if [ $cmd = compile ]; then
			stage=$("${argv[@]:0:2}" -v "${argv[@]:2}" 2>&1 >/dev/null | sed -n 's/^routec: .*rule(s): //p' | head -1)
			stages+=("$(printf '%8d  %s' "$n" "${stage:-(no -v output)}")")
		fi
	done
done

printf '%8s %-8s %10s %10s %10s %12s  %-22s %s\n' rules command median min "peak RSS" rules/s \
	"vs target" "vs peers (10k)"
for row in "${rows[@]}"; do
	set -- $row
	n=$1 cmd=$2 med=$3 min=$4 rss=$5 rc=$7
	target=-
	case $n in
		10000) target=$TARGET_10K ;;
		100000) target=$TARGET_100K ;;
	esac
	awk -v n="$n" -v cmd="$cmd" -v med="$med" -v min="$min" -v rss="$rss" -v target="$target" \
		-v q="$QUAMINA_10K" -v er="$EVENT_RULER_10K" -v rc="$rc" '
	function ft(t) { return t < 1 ? sprintf("%.1f ms", t * 1000) : sprintf("%.3f s", t) }
	BEGIN {
		vs = "-"
		if (target != "-")
			vs = sprintf("%.2fx of %s %s", med / target, ft(target), med <= target ? "ok" : "MISSED")
		peers = "-"
		if (n == 10000)
			peers = sprintf("%.1fx quamina, %.1fx event-ruler", q / med, er / med)
		rate = n / med
		rs = rate >= 1e6 ? sprintf("%.2f M", rate / 1e6) : rate >= 1e3 ? sprintf("%.1f k", rate / 1e3) : sprintf("%.0f", rate)
		printf "%8d %-8s %10s %10s %7.1f MB %12s  %-22s %s%s\n", n, cmd, ft(med), ft(min),
			rss / 1024, rs, vs, peers, rc != 0 ? "  (FAILED: exit " rc ")" : ""
	}'
done
echo
echo "compile stages (routec compile -v, one run each):"
printf '%s\n' "${stages[@]}"
exit $status
