#!/bin/sh
# ingest.sh -- durable ingest benchmark (issue #7; not part of `make check`).
#
# Starts routed (tests/routed/durable.route: every event to two built-in
# queues) on a fresh data directory per run and posts NDJSON batches of
# BATCH (100) events from PROCS (2) processes x THREADS (4) keep-alive
# connections for SECONDS (3) per run (bench/ingest_load.py), with
# [durability] sync = always (group commit; the default) and sync = none,
# RUNS (3) runs each, alternating, all in the same invocation. Prints per
# run and the medians: events/s acknowledged (202), fdatasync()s/s of the
# log (routed_log_syncs_total), p50 and p99 request latency (send to 202),
# and the ratio always/none of the median events/s (issue #7 target: >= 0.5).
#
# Environment: BUILD (build directory with routed; default: the current
# directory), RUNS, SECONDS, PROCS, THREADS, BATCH, DATA_PARENT (where the
# data directories go; default $TMPDIR or /tmp -- use a real disk: fsync on
# tmpfs costs nothing).
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$(pwd)}
ROUTED=$BUILD/routed
[ -x "$ROUTED" ] || { echo "ingest.sh: no $ROUTED (set BUILD)" >&2; exit 1; }
RUNS=${RUNS:-3}
SECONDS_=${SECONDS:-3}
PROCS=${PROCS:-2}
THREADS=${THREADS:-4}
BATCH=${BATCH:-100}
tmp=$(mktemp -d -p "${DATA_PARENT:-${TMPDIR:-/tmp}}") || exit 1
pid=""
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT

one() { # POLICY RUN: prints "POLICY events_s syncs_s p50 p99"
	d="$tmp/data.$1.$2"
	printf '[http]\nthreads = %s\n[durability]\nsync = %s\ndedup_window = 0\n' $((PROCS * THREADS)) "$1" >"$tmp/conf"
	"$ROUTED" --config "$tmp/conf" --listen 127.0.0.1:0 --data-dir "$d" --log-level warn \
		"$src/tests/routed/durable.route" 2>"$tmp/log" &
	pid=$!
	port=""
	i=0
	while [ -z "$port" ] && [ $i -lt 100 ]; do
		sleep 0.1
		port=$(ss -ltnp 2>/dev/null | awk -v p="pid=$pid," '$0 ~ p { n = split($4, a, ":"); print a[n]; exit }')
		i=$((i + 1))
	done
	[ -n "$port" ] || { echo "routed did not start"; cat "$tmp/log"; exit 1; }
	s0=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "routed_log_syncs_total" { print $2 }')
	out=$(python3 "$here/ingest_load.py" "http://127.0.0.1:$port/events" "$SECONDS_" "$PROCS" "$THREADS" "$BATCH")
	s1=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "routed_log_syncs_total" { print $2 }')
	kill -TERM $pid
	wait $pid
	pid=""
	rm -rf "$d"
	echo "$out" | awk -v pol="$1" -v s0="$s0" -v s1="$s1" '{
		printf "%s %.0f %.0f %s %s %s\n", pol, $2 / $4, (s1 - s0) / $4, $6, $8, $10 }'
}

echo "durable ingest: NDJSON batches of $BATCH, $PROCS x $THREADS connections, ${SECONDS_} s per run, $RUNS runs per policy"
echo "policy events/s fsyncs/s p50_ms p99_ms errors"
r=1
: >"$tmp/res"
while [ $r -le "$RUNS" ]; do
	one always $r | tee -a "$tmp/res"
	one none $r | tee -a "$tmp/res"
	r=$((r + 1))
done
med() { # POLICY FIELD
	awk -v p="$1" -v f="$2" '$1 == p { print $f }' "$tmp/res" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
echo "median always: events/s $(med always 2) fsyncs/s $(med always 3) p99_ms $(med always 5)"
echo "median none:   events/s $(med none 2) fsyncs/s $(med none 3) p99_ms $(med none 5)"
awk -v a="$(med always 2)" -v n="$(med none 2)" 'BEGIN { printf "ratio always/none: %.2f (target >= 0.5)\n", a / n }'
