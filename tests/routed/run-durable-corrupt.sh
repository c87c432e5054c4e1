#!/bin/sh
# run-durable-corrupt.sh -- damaged log segments (issue #7), real routed on
# loopback. 3000 events are logged in 64 KiB segments with cursors never
# stored (cursor_interval_ms = 60 s), routed is SIGKILLed and the queues
# removed, so the next start must deliver every record again from the log.
# Round 1: a bit flipped in a middle segment and the last segment cut in
# the middle of its last frame. Round 2 (a fresh log): a middle segment cut
# short and a bit flipped in the last segment. Each time: routed starts,
# the damage is detected (torn tail truncated, corrupt frame quarantined
# under log/quarantine and counted in /metrics), exactly the damaged
# records are missing and every later record is delivered. Round 2 also
# finds log/cursors.txt without its end line: not used, counted and logged,
# and nothing more is missing. Bounded: ~15 s.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl python3
RULES="$top/tests/routed/durable.route"
TOOL="python3 $top/tests/routed/durable_tool.py"
cat >"$tmp/conf" <<CONF
[durability]
segment_bytes = 64k
cursor_interval_ms = 60000
dedup_window = 0
CONF

start() { start_routed "$1" "$tmp/conf" $RULES; } # DATA
fill() { # DATA: logs ids c-0 .. c-2999 in batches of 100, then SIGKILL, removes the queues
	start "$1"
	i=0
	while [ $i -lt 30 ]; do
		awk -v b=$i 'BEGIN { for (j = 0; j < 100; j++) printf "{\"event_type\":\"t.ev\",\"id\":\"c-%d\",\"n\":%d}\n", b * 100 + j, j }' >"$tmp/batch"
		st=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
			--data-binary @"$tmp/batch" "$U/events")
		[ "$st" = 202 ] || bad "fill: batch $i answered $st"
		i=$((i + 1))
	done
	seq 0 2999 | sed 's/^/c-/' >"$tmp/acked.all"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	pid=""
	rm -rf "$1/queues"
}
delivered_all_but() { # DATA IDS...: every c-N delivered to q1 except exactly IDS
	python3 - "$1/queues/q1/messages.ndjson" "$@" <<'PY'
import json, sys
got = set(json.loads(l)["id"] for l in open(sys.argv[1]))
missing = set("c-%d" % i for i in range(3000)) - got
want = set(sys.argv[3:])
print("missing:", sorted(missing), "expected missing:", sorted(want))
sys.exit(0 if missing == want else 1)
PY
}
wait_delivered() { # DATA N: waits (10 s) until q1 holds N lines
	i=0
	while [ $i -lt 100 ]; do
		[ "$(wc -l <"$1/queues/q1/messages.ndjson" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

for round in 1 2; do
	D="$tmp/data$round"
	fill "$D"
	segs=$(ls "$D"/log/*.log | wc -l)
	mid=$(ls "$D"/log/*.log | sed -n "$((segs / 2))p")
	last=$(ls "$D"/log/*.log | tail -n 1)
	check "round $round: the log has $segs segments (at least 4)" [ "$segs" -ge 4 ]
	if [ $round = 1 ]; then
		flipped=$($TOOL flip "$mid" 5)
		cut=$($TOOL cut "$last")
		lost="$flipped $cut"
		echo "round 1: bit flipped in $(basename "$mid") ($flipped), $(basename "$last") cut ($cut)"
	else
		# cut the middle segment inside its last frame; flip a frame in the middle of the last one
		cut=$($TOOL cut "$mid")
		flipped=$($TOOL flip "$last" 3)
		lost="$cut $flipped"
		echo "round 2: $(basename "$mid") cut ($cut), bit flipped in $(basename "$last") ($flipped)"
		# and cursors.txt without its end line: not used, so every destination replays from the
		# oldest record kept (here the same as its cursors: none was stored past the start)
		check "round 2: the log has a cursors.txt" [ -s "$D/log/cursors.txt" ]
		sed -i '/^end /d' "$D/log/cursors.txt"
	fi
	start "$D"
	wait_delivered "$D" 2998
	sleep 0.3
	q=$(metric routed_log_quarantined_total)
	t=$(metric routed_log_torn_tails_total)
	echo "round $round: quarantined $q, torn tails $t"
	check "round $round: routed starts on the damaged log" kill -0 "$pid"
	check "round $round: the damage is logged at start" grep -q '"msg":"log recovered with damage"' "$tmp/log"
	if [ $round = 1 ]; then
		check "round 1: the flipped frame is quarantined and counted (routed_log_quarantined_total=$q)" [ "$q" -ge 1 ]
		check "round 1: the cut tail is truncated and counted (routed_log_torn_tails_total=$t)" [ "$t" -ge 1 ]
		check "round 1: cursors.txt is whole (routed_log_cursor_file_damaged 0)" \
			[ "$(metric routed_log_cursor_file_damaged)" = 0 ]
	else
		check "round 2: the cut middle segment and the flipped frame are quarantined ($q regions)" [ "$q" -ge 2 ]
		check "round 2: the incomplete cursors.txt is counted (routed_log_cursor_file_damaged 1)" \
			[ "$(metric routed_log_cursor_file_damaged)" = 1 ]
		check "... and logged" grep -q 'cursors.txt is incomplete and was not used' "$tmp/log"
	fi
	check "round $round: quarantine files hold the damaged bytes" [ -n "$(ls "$D/log/quarantine" 2>/dev/null)" ]
	check "round $round: every record but the damaged ones is delivered, later ones included" \
		delivered_all_but "$D" $lost
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=""
	check "round $round: SIGTERM exits 0 (got $rc)" [ $rc -eq 0 ]
done

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
