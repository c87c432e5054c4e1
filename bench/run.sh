#!/bin/bash
# run.sh -- matching benchmark of libroute (not part of `make check`).
#
# Builds the generator, the harness (linked with the build's libroute.a) and
# the baselines into bench/out/bin, generates citylots-shaped and
# routing-shaped events and rule sets per family and size, compiles them with
# routec, and measures: route_match() throughput (one warm-up pass, PASSES
# measured passes, pinned to one CPU), the match-count checksum, peak RSS,
# bytes per rule, compile time, callgrind instructions per event; then the
# baselines on the same data (jq, jansson DOM + every rule, simdjson
# on-demand floor); prints the tables and the issue-4 targets (met/missed).
# See bench/README.md.
#
# Environment: BUILD (build directory with routec and .libs/libroute.a),
# ROUTEC, FULL=1 (every family up to 100k rules, 10,000-event callgrind
# slices everywhere; long), PASSES (5), CPU (the CPU to pin to; default the
# last one), FAMILIES, SIZES, CALLGRIND=0 (skip), KEEP=1 (keep the data),
# TMPDIR, CC, CXX.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
die() { echo "run.sh: $*" >&2; exit 1; }

# the build directory: $BUILD, else the current directory if it has routec, else ../build
if [ -z "${BUILD:-}" ]; then
	if [ -x ./routec ] && [ -f ./.libs/libroute.a ]; then BUILD=$(pwd)
	elif [ -x "$src/routec" ] && [ -f "$src/.libs/libroute.a" ]; then BUILD=$src
	elif [ -x "$src/../build/routec" ]; then BUILD=$(cd "$src/../build" && pwd)
	else die "no build directory found: set BUILD=/path/to/build (with routec and .libs/libroute.a)"
	fi
fi
ROUTEC=${ROUTEC:-$BUILD/routec}
LIBROUTE=${LIBROUTE:-$BUILD/.libs/libroute.a}
FULL=${FULL:-0}
PASSES=${PASSES:-5}
CALLGRIND=${CALLGRIND:-1}
CC=${CC:-cc}
CXX=${CXX:-g++}
FAMILIES=${FAMILIES:-"exact prefix suffix ieq like range anybut contains regex mix window rate sequence"}
if [ "$FULL" = 1 ]; then
	SIZES=${SIZES:-"1 5 10 100 1000 10000 100000"}
else
	SIZES=${SIZES:-"1 5 10 100 1000 10000"}
fi
[ -x "$ROUTEC" ] || die "no routec at $ROUTEC"
[ -f "$LIBROUTE" ] || die "no libroute.a at $LIBROUTE"
case $PASSES in ''|*[!0-9]*|0) die "PASSES must be a positive integer" ;; esac

# ---- tools ----------------------------------------------------------------
need_pkg() { # need_pkg TEST-COMMAND PACKAGE
	eval "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "run.sh: installing $2 (apt-get install -y $2)" >&2
		apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null 2>&1; }
	fi
	eval "$1" >/dev/null 2>&1 || die "$2 is needed: apt-get install $2"
}
need_pkg 'command -v jq' jq
need_pkg '[ -f /usr/include/jansson.h ]' libjansson-dev
need_pkg '[ -f /usr/include/simdjson.h ]' libsimdjson-dev
[ "$CALLGRIND" = 1 ] && need_pkg 'command -v valgrind' valgrind

bin=$here/out/bin
mkdir -p "$bin"
"$CC" -O2 -o "$bin/gen_bench" "$here/gen_bench.c" || die "cannot build gen_bench"
"$CC" -O2 -I"$src/runtime" -o "$bin/match_bench" "$here/match_bench.c" "$LIBROUTE" -lhs -lxxhash -lm \
	|| die "cannot build match_bench"
"$CC" -O2 -o "$bin/jansson_bench" "$here/jansson_bench.c" -ljansson || die "cannot build jansson_bench"
"$CXX" -O2 -std=c++17 -o "$bin/simdjson_floor" "$here/simdjson_floor.cpp" -lsimdjson \
	|| die "cannot build simdjson_floor"

work=$(mktemp -d "${TMPDIR:-/tmp}/routec-match-bench.XXXXXX") || die "mktemp failed"
if [ "${KEEP:-0}" = 1 ]; then
	trap 'echo "run.sh: data kept in $work" >&2' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi

# a snapshot of routec, so that a rebuild during the run cannot mix two compilers in one table
# (match_bench is linked statically with libroute.a above, at the start)
if head -c 4 "$ROUTEC" | grep -q 'ELF'; then
	cp "$ROUTEC" "$work/routec" && ROUTEC=$work/routec
fi

if [ -z "${CPU:-}" ]; then
	CPU=$(( $(nproc) - 1 ))
fi
res=$work/results.tsv   # ds fam n engine events median min checksum stable hits rss_eng rss_peak rbc compile_ms ir cg_events bad
: >"$res"

# kv KEY LINE: the value of KEY=... in a RESULT line
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

if [ -n "${EPOCHREALTIME:-}" ]; then
	now_ns() { local t=${EPOCHREALTIME/[.,]/}; echo "${t}000"; }
else
	now_ns() { date +%s%N; }
fi

# events per measured pass: all of them up to ~BUDGET rule evaluations per
# pass, at least MINEV (deterministic: depends only on the family and N)
# (citylots range rules test every coordinate of the event: ~100x the cost of a rule on a scalar)
events_for() { # events_for DS FAMILY N -> count
	# With the shared index a pass costs about the same at any rule count, so every
	# set runs on all events; anything-but is the exception: nearly every rule
	# matches nearly every event (events x rules matches), so its big sets are
	# measured on the first 10,000,000 / N events (at least 1,000)
	local ds=$1 fam=$2 n=$3 budget=10000000 minev=1000 total e
	total=$(eval echo "\$n_$ds")
	e=$total
	if [ "$fam" = anybut ]; then
		[ "$FULL" = 1 ] && budget=$((budget * 5))
		e=$((budget / n))
		[ $e -lt $minev ] && e=$minev
	fi
	[ $e -gt "$total" ] && e=$total
	echo $e
}
cg_events_for() { # the callgrind slice: 10,000 events (anything-but: fewer for big sets unless FULL=1)
	local ds=$1 fam=$2 n=$3 budget=1000000
	{ [ "$FULL" = 1 ] || [ "$fam" != anybut ]; } && { echo 10000; return; }
	local e=$((budget / n))
	[ $e -gt 10000 ] && e=10000
	[ $e -lt 100 ] && e=100
	echo $e
}

t_start=$(now_ns)
cpu_name=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "routec matching benchmark"
echo "  routec : $ROUTEC $("$ROUTEC" --version 2>/dev/null | head -1)"
echo "  libroute: $LIBROUTE"
echo "  host   : ${cpu_name:-unknown cpu}, $(nproc) cpus, $(uname -sr); pinned to cpu $CPU"
echo "  method : per set, 1 warm-up pass then $PASSES measured passes over the memory-mapped events;"
echo "           events/s median and min; callgrind Ir/event with --toggle-collect=match_slice"
echo "  mode   : $([ "$FULL" = 1 ] && echo FULL || echo default), families: $FAMILIES; sizes: $SIZES"
echo

# ---- data -------------------------------------------------------------------
echo "generating events ..." >&2
"$bin/gen_bench" events citylots -o "$work/citylots.jsonl" || die "event generation failed"
"$bin/gen_bench" events routing -o "$work/routing.jsonl" || die "event generation failed"
for ds in citylots routing; do
	read -r lines bytes < <(wc -lc <"$work/$ds.jsonl")
	eval "n_$ds=$lines"
	awk -v ds=$ds -v l="$lines" -v b="$bytes" 'BEGIN { printf "  %-9s %d events, %.1f MB, %.1f bytes on average\n", ds, l, b / 1e6, b / l }'
done
echo

# ---- one rule set: compile, match, callgrind, jansson -----------------------
# run_set DS FAMILY N JANSSON(0/1)
run_set() {
	local ds=$1 fam=$2 n=$3 jans=$4 base=$work/$1-$2-$3 tf=() pl=() ev cg line
	[ "$ds" = citylots ] && tf=(--type-field type)
	[ "$ds" = routing ] && pl=(--payload data)
	# temporal families: a fresh state per pass on a virtual clock (1 ms per event); no jansson
	case $fam in window|rate|sequence) tf+=(--virtual-clock); jans=0 ;; esac
	"$bin/gen_bench" rules "$ds" "$fam" "$n" -o "$base.route" -s "$base.spec" || die "gen_bench rules $ds $fam $n failed"
	# compile: one warm-up run (shows any diagnostic), then 3 timed runs
	if ! "$ROUTEC" compile -o "$base.rbc" "$base.route" >"$work/compile.log" 2>&1; then
		cat "$work/compile.log" >&2
		die "routec compile failed on $base.route"
	fi
	[ -s "$work/compile.log" ] && { echo "!! routec compile $ds $fam $n:" >&2; head -5 "$work/compile.log" >&2; }
	local times=() t0 t1 r
	for r in 1 2 3; do
		t0=$(now_ns); "$ROUTEC" compile -o "$base.rbc" "$base.route" >/dev/null 2>&1; t1=$(now_ns)
		times+=($(( (t1 - t0) / 1000 )))
	done
	local compile_ms
	compile_ms=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p | awk '{ printf "%.1f", $1 / 1000 }')
	ev=$(events_for "$ds" "$fam" "$n")
	line=$("$bin/match_bench" "$base.rbc" "$work/$ds.jsonl" "${tf[@]}" --limit "$ev" --passes "$PASSES" --cpu "$CPU" | grep '^RESULT')
	[ -n "$line" ] || die "match_bench failed on $base.rbc"
	local ir=skip cgn=-
	# (a program whose load takes long, e.g. 10k regex rules with a Hyperscan database each, would
	# spend minutes loading under valgrind: skipped unless FULL=1)
	if [ "$CALLGRIND" = 1 ] && { [ "$FULL" = 1 ] || awk -v l="$(kv load_ms "$line")" 'BEGIN { exit !(l < 300) }'; }; then
		cgn=$(cg_events_for "$ds" "$fam" "$n")
		taskset -c "$CPU" valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" --toggle-collect=match_slice \
			"$bin/match_bench" "$base.rbc" "$work/$ds.jsonl" "${tf[@]}" --slice "$cgn" >"$work/cg.log" 2>&1 \
			|| { cat "$work/cg.log" >&2; die "callgrind failed"; }
		ir=$(awk -v n="$cgn" '/^summary:/ { printf "%.0f", $2 / n }' "$work/cg.out")
	fi
	printf '%s\t%s\t%s\troutec\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ds" "$fam" "$n" \
		"$(kv events "$line")" "$(kv median_eps "$line")" "$(kv min_eps "$line")" "$(kv checksum "$line")" \
		"$(kv checksum_stable "$line")" "$(kv hits "$line")" "$(kv rss_engine_kb "$line")" \
		"$(kv rss_peak_kb "$line")" "$(kv rbc_bytes "$line")" "$compile_ms" "$ir" "$cgn" "$(kv bad "$line")" >>"$res"
	if [ "$jans" = 1 ]; then
		local jev=$ev ours_ck
		[ "$jev" -gt 20000 ] && jev=20000
		line=$("$bin/jansson_bench" "$base.spec" "$work/$ds.jsonl" "${pl[@]}" --limit "$jev" --passes "$PASSES" --cpu "$CPU" | grep '^RESULT')
		if [ "$jev" = "$ev" ]; then
			ours_ck=$(tail -1 "$res" | cut -f8)
		else
			ours_ck=$(kv checksum "$("$bin/match_bench" "$base.rbc" "$work/$ds.jsonl" "${tf[@]}" --limit "$jev" --passes 1 --cpu "$CPU")")
		fi
		printf '%s\t%s\t%s\tjansson\t%s\t%s\t%s\t%s\t%s\t%s\t-\t%s\t-\t-\t-\t-\t%s\n' "$ds" "$fam" "$n" \
			"$(kv events "$line")" "$(kv median_eps "$line")" "$(kv min_eps "$line")" "$(kv checksum "$line")" \
			"$(kv checksum_stable "$line")" "$(kv hits "$line")" "$(kv rss_peak_kb "$line")" "$ours_ck" >>"$res"
	fi
	rm -f "$base.rbc" "$work/cg.out"
}

progress() { echo "[$(( ($(now_ns) - t_start) / 1000000000 )) s] $*" >&2; }
for fam in $FAMILIES; do
	for n in $SIZES; do
		progress citylots "$fam" "$n"
		run_set citylots "$fam" "$n" $(case $n in 1|10|1000) echo 1 ;; *) echo 0 ;; esac)
	done
done
# the default set adds 100k exact rules (the scaling target); FULL has every family there
if [ "$FULL" != 1 ] && [[ " $FAMILIES " == *" exact "* ]]; then
	progress citylots exact 100000
	run_set citylots exact 100000 0
fi
# routing-shaped events: every family at 1, 10 and 1k rules (exact also at 10k), jansson at 10
# (the temporal families run on citylots only)
for fam in $FAMILIES; do
	case $fam in window|rate|sequence) continue ;; esac
	for n in 1 10 1000 $([ "$fam" = exact ] || [ "$FULL" = 1 ] && echo 10000); do
		progress routing "$fam" "$n"
		run_set routing "$fam" "$n" $([ "$n" = 10 ] && echo 1 || echo 0)
	done
done

# ---- baselines: simdjson floor, jq ------------------------------------------
base_line() { # base_line DS FAM N ENGINE RESULT-LINE OURS-CHECKSUM
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t%s\t-\t-\t-\t-\t%s\n' "$1" "$2" "$3" "$4" \
		"$(kv events "$5")" "$(kv median_eps "$5")" "$(kv min_eps "$5")" "$(kv checksum "$5")" \
		"$(kv checksum_stable "$5")" "$(kv hits "$5")" "$(kv rss_peak_kb "$5")" "$6" >>"$res"
}
ours_checksum() { awk -F'\t' -v ds="$1" -v f="$2" -v n="$3" '$1 == ds && $2 == f && $3 == n && $4 == "routec" { print $8 }' "$res"; }
# floor DS FAMILY SIMDJSON-ARGS...: on the same events as routec's one-rule set of that family
floor() {
	local ds=$1 fam=$2 ev line
	shift 2
	ev=$(awk -F'\t' -v ds="$ds" -v f="$fam" '$1 == ds && $2 == f && $3 == 1 && $4 == "routec" { print $5 }' "$res")
	[ -n "$ev" ] || return 0
	line=$("$bin/simdjson_floor" "$work/$ds.jsonl" "$@" --limit "$ev" --passes "$PASSES" --cpu "$CPU" | grep '^RESULT')
	base_line "$ds" "$fam" 1 simdjson "$line" "$(ours_checksum "$ds" "$fam" 1)"
}
progress baselines
floor citylots exact --type Feature --path properties.STREET --eq MISSION
floor citylots range --type Feature --path geometry.coordinates --range -122.3590000300 -122.3589999700
floor routing exact --type com.example.order.created --path data.customer.address.street --eq MISSION
floor routing range --type com.example.order.created --path data.order.amount --range 99999.75 100000.25

# jq: the same single exact rule, on the first JQ_EVENTS events (all of them with FULL=1);
# one warm-up run, then 3 timed runs, pinned to the same CPU; events/s from the wall clock
JQ_EVENTS=${JQ_EVENTS:-$([ "$FULL" = 1 ] && echo 0 || echo 50000)}
jq_run() { # jq_run DS FILTER
	local ds=$1 filter=$2 f=$work/$1.jsonl nev ck times=() t0 t1 r tf=()
	[ "$ds" = citylots ] && tf=(--type-field type)
	if [ "$JQ_EVENTS" != 0 ]; then head -n "$JQ_EVENTS" "$f" >"$work/jq.jsonl"; f=$work/jq.jsonl; fi
	nev=$(wc -l <"$f")
	ck=$(taskset -c "$CPU" jq -n "reduce (inputs | select($filter)) as \$e (0; . + 1)" "$f")
	for r in 1 2 3; do
		t0=$(now_ns)
		taskset -c "$CPU" jq -n "reduce (inputs | select($filter)) as \$e (0; . + 1)" "$f" >/dev/null
		t1=$(now_ns)
		times+=("$(awk -v n="$nev" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / ((b - a) / 1e9) }')")
	done
	local sorted=($(printf '%s\n' "${times[@]}" | sort -n))
	local ours
	ours=$(kv checksum "$("$bin/match_bench" "$work/$ds-exact-1.rbc" "$work/$ds.jsonl" "${tf[@]}" --limit "$nev" --passes 1 --cpu "$CPU")")
	printf '%s\texact\t1\tjq\t%s\t%s\t%s\t%s\t1\t%s\t-\t-\t-\t-\t-\t-\t%s\n' "$ds" "$nev" "${sorted[1]}" "${sorted[0]}" \
		"$ck" "$ck" "$ours" >>"$res"
}
for ds in citylots routing; do
	"$bin/gen_bench" rules $ds exact 1 -o "$work/$ds-exact-1.route" -s "$work/$ds-exact-1.spec" \
		&& "$ROUTEC" compile -o "$work/$ds-exact-1.rbc" "$work/$ds-exact-1.route" >/dev/null 2>&1 \
		|| die "cannot compile the jq rule"
done
jq_run citylots '.type == "Feature" and .properties.STREET == "MISSION"'
jq_run routing '.type == "com.example.order.created" and .data.customer.address.street == "MISSION"'

# ---- tables -------------------------------------------------------------------
t_end=$(now_ns)
export PASSES
awk -F'\t' -v secs="$(( (t_end - t_start) / 1000000000 ))" -f "$here/report.awk" "$res"
status=$?
[ "${KEEP:-0}" = 1 ] && cp "$res" "$here/out/results.tsv"
cp "$res" "$here/out/last-results.tsv" 2>/dev/null
exit $status
