#!/bin/bash
# reload.sh -- what a hot reload costs routed (not part of `make check`).
#
# Starts routed on 127.0.0.1 with a small stateful rule set (tests/routed/
# run-reload.sh's versions A and B) and measures, in one run on this machine:
#   1. the duration of a reload (compile + swap + every worker switched), as
#      reported by POST /admin/reload ("ms"), over RELOADS reloads while idle
#      and over RELOADS reloads under load: median, min, max;
#   2. ingest throughput (events/s answered 202) of one client posting NDJSON
#      batches of BATCH events without pause, ROUNDS rounds of DURATION s each
#      with no reload (the baseline) alternating with rounds reloading every
#      PERIOD_MS: medians and the ratio reloading / baseline;
#   3. that every accepted event was delivered exactly once (a sanity check:
#      the guarantee itself is tested by tests/routed/run-reload.sh).
# Environment: ROUTED (default ./routed), RELOADS (20), ROUNDS (3), DURATION (3),
# BATCH (100), PERIOD_MS (250), TMPDIR.
set -u
ROUTED=${ROUTED:-./routed}
RELOADS=${RELOADS:-20}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
BATCH=${BATCH:-100}
PERIOD_MS=${PERIOD_MS:-250}
here=$(cd "$(dirname "$0")" && pwd)
PY="python3 $here/../tests/routed/reload_load.py"
TOKEN=bench-reload-token
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-reload.XXXXXX") || exit 1
pid=""
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
command -v jq >/dev/null || { echo "reload.sh: needs jq" >&2; exit 1; }

cat >"$tmp/A.route" <<'ROUTE'
event ping v1 { seq: number, ver?: string }
event tick v1 { n: number }
destination a
destination steady_out
rule stamp on ping set ver = "A"
rule go on ping route a
rule steady on tick when count() >= 5 within 10m route steady_out
ROUTE
sed -e 's/"A"/"B"/' "$tmp/A.route" >"$tmp/B.route"
printf '[admin]\ntoken = %s\n' "$TOKEN" >"$tmp/r.conf"
cp "$tmp/A.route" "$tmp/rules.route"
"$ROUTED" --config "$tmp/r.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" \
	"$tmp/rules.route" >/dev/null 2>"$tmp/log" &
pid=$!
port=""
for _ in $(seq 100); do
	port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/log"; echo "reload.sh: routed did not start" >&2; exit 1; }
U=http://127.0.0.1:$port
ver=A
reload() { # -> the reload's ms
	if [ $ver = A ]; then ver=B; else ver=A; fi
	cp "$tmp/$ver.route" "$tmp/rules.tmp" && mv "$tmp/rules.tmp" "$tmp/rules.route"
	curl -s -m 30 -X POST -H "Authorization: Bearer $TOKEN" "$U/admin/reload" | jq -r .ms
}
stats() { # values on stdin -> "median min max"
	sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}

for _ in $(seq "$RELOADS"); do reload; done >"$tmp/idle_ms"
read -r med mn mx < <(stats <"$tmp/idle_ms")
echo "reload while idle: median ${med} ms (min ${mn}, max ${mx}) over $RELOADS reloads"

round() { # reloading(0|1) n -> events/s
	rm -f "$tmp/stop"
	$PY load "$port" "$tmp/stop" "$tmp/acc.$2" "$BATCH" 0 >"$tmp/res.$2" &
	lp=$!
	end=$(( $(date +%s%N) + DURATION * 1000000000 ))
	while [ "$(date +%s%N)" -lt $end ]; do
		if [ "$1" = 1 ]; then reload >>"$tmp/load_ms"; fi
		sleep "$(awk -v p="$PERIOD_MS" 'BEGIN { printf "%.3f", p / 1000 }')"
	done
	touch "$tmp/stop"
	wait $lp
	awk -F'[ =]' '{ printf "%.0f\n", $2 / $8 }' "$tmp/res.$2"
}
: >"$tmp/load_ms"
: >"$tmp/base"
: >"$tmp/rel"
n=0
for r in $(seq "$ROUNDS"); do
	n=$((n + 1)); round 0 $n >>"$tmp/base"
	n=$((n + 1)); round 1 $n >>"$tmp/rel"
done
read -r bmed bmin bmax < <(stats <"$tmp/base")
read -r rmed rmin rmax < <(stats <"$tmp/rel")
read -r lmed lmin lmax < <(stats <"$tmp/load_ms")
echo "reload under load: median ${lmed} ms (min ${lmin}, max ${lmax}) over $(grep -c . "$tmp/load_ms") reloads"
echo "ingest, 1 client, NDJSON batches of $BATCH: baseline median ${bmed} events/s (min ${bmin}, max ${bmax})"
echo "ingest while reloading every ${PERIOD_MS} ms: median ${rmed} events/s (min ${rmin}, max ${rmax})"
awk -v r="$rmed" -v b="$bmed" 'BEGIN { printf "ratio reloading / baseline: %.3f\n", r / b }'

kill -TERM $pid
wait $pid
rc=$?
pid=""
cat "$tmp"/acc.* | sort -n >"$tmp/acc"
cat "$tmp/data/queues/a/messages.ndjson" | jq -r .seq | sort -n >"$tmp/got"
if [ $rc -eq 0 ] && cmp -s "$tmp/acc" "$tmp/got"; then
	echo "delivered: the $(grep -c . "$tmp/acc") accepted events, once each (seq restarts at 1 each round; exit $rc)"
else
	echo "delivered: MISMATCH (exit $rc; accepted $(grep -c . "$tmp/acc"), delivered $(grep -c . "$tmp/got"))"
	exit 1
fi
