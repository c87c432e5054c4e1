#!/bin/sh
# run-durable.sh -- nothing acknowledged is lost (issue #7), with real
# processes on loopback: routed is SIGKILLed 12 times at random moments
# while a load generator (durable_tool.py load, 4 threads, NDJSON batches of
# 20, 20 ms apart: ~4,000 events/s) records every id it got a 202 for, and
# a TCP loader every id it got "ok N" for, and restarted each time on the
# same data directory; then SIGTERMed at peak load (exit 0) and restarted.
# Every event goes to two built-in queues, the first of each batch also to a
# webhook (recorder.py, 8 in flight: out-of-order completion). Once the last
# run has drained, the checker prints acknowledged, delivered, lost and
# duplicated counts for the queues and the webhook and fails on any loss. Also: (source, id) dedup across a restart. Bounded: about
# 30 s.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl python3
RULES="$top/tests/routed/durable.route"
TOOL="python3 $top/tests/routed/durable_tool.py"
DATA="$tmp/data"
python3 "$top/tests/routed/recorder.py" "$tmp/recport" "$tmp/rec.ndjson" &
rpid=$!
cleanup_more() { kill "$rpid" 2>/dev/null; }
i=0
while [ ! -s "$tmp/recport" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/recport" ] || { bad "recorder.py did not start"; exit 1; }
cat >"$tmp/conf" <<CONF
[tcp]
listen = 127.0.0.1:0
[durability]
sync = always
segment_bytes = 256k
cursor_interval_ms = 50
dedup_id_member = id
[destination hook]
sink = webhook
url = http://127.0.0.1:$(cat "$tmp/recport")/ok/
max_in_flight = 8
CONF

start() { # starts routed on $DATA, sets pid, U and TP (the TCP port)
	start_routed "$DATA" "$tmp/conf" $RULES
	TP=$(sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p' "$tmp/log")
}
drained() { # waits (30 s at most) until every cursor reaches the log's end
	i=0
	while [ $i -lt 300 ]; do
		m=$(curl -s --max-time 5 "$U/metrics")
		next=$(echo "$m" | awk '$1 == "routed_log_next_seq" { print $2 }')
		behind=$(echo "$m" | awk -v n="$next" '$1 ~ /^routed_log_cursor[{]/ && $2 != n' | wc -l)
		[ -n "$next" ] && [ "$behind" -eq 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# ---- SIGKILL at random moments under load ----------------------------------
kills=0
r=1
while [ $r -le 12 ]; do
	start
	$TOOL load "$U/events" "$tmp/acked.$r" 10 4 20 "k$r" 0 20 >"$tmp/load.$r" &
	lpid=$!
	$TOOL tcpload "$TP" "$tmp/tcpacked.$r" 10 "t$r" >"$tmp/tcpload.$r" &
	tpid=$!
	# a random moment 0.3 .. 1.2 s into the load
	sleep "$(awk -v s="$r$$" 'BEGIN { srand(s); printf "%.2f", 0.3 + rand() * 0.9 }')"
	kill -KILL "$pid" && kills=$((kills + 1))
	wait "$pid" 2>/dev/null
	pid=""
	wait "$lpid"
	wait "$tpid"
	r=$((r + 1))
done
acked=$(cat "$tmp"/*acked.* | wc -l)
tacked=$(cat "$tmp"/tcpacked.* | wc -l)
check "SIGKILLed routed $kills times under load ($acked events acknowledged, $tacked of them over TCP)" \
	sh -c "[ $kills -eq 12 ] && [ $acked -gt 0 ] && [ $tacked -gt 0 ]"

start
check "restart after the last SIGKILL: the log is replayed" grep -q '"msg":"log replayed"' "$tmp/log"
check "restart after the last SIGKILL: every cursor reaches the end of the log" drained
replayed=$(metric routed_log_replayed_total)
echo "replayed at the last start: $replayed"
if $TOOL check "$tmp/*acked.*" "$DATA/queues/q1/messages.ndjson" "$DATA/queues/q2/messages.ndjson"; then
	ok "SIGKILL x12: 0 acknowledged events lost (both queues)"
else
	bad "SIGKILL x12: acknowledged events lost"
fi
if $TOOL check-hook "$tmp/acked.*" "$tmp/rec.ndjson" 20 "$DATA/queues/hook.dlq/messages.ndjson"; then
	ok "SIGKILL x12: 0 acknowledged events lost (webhook)"
else
	bad "SIGKILL x12: acknowledged events lost (webhook)"
fi

# ---- SIGTERM at peak load ----------------------------------------------------
$TOOL load "$U/events" "$tmp/acked.term" 10 4 20 term 0 20 >"$tmp/load.term" &
lpid=$!
sleep 1
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
wait "$pid"
rc=$?
pid=""
wait "$lpid"
check "SIGTERM at peak load: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "SIGTERM: the drain is logged as stopped" grep -q '"msg":"stopped"' "$tmp/log"
start
check "restart after SIGTERM: every cursor reaches the end of the log" drained
if $TOOL check "$tmp/*acked.*" "$DATA/queues/q1/messages.ndjson" "$DATA/queues/q2/messages.ndjson"; then
	ok "SIGTERM at peak load: 0 acknowledged events lost"
else
	bad "SIGTERM at peak load: acknowledged events lost"
fi
if $TOOL check-hook "$tmp/acked.*" "$tmp/rec.ndjson" 20 "$DATA/queues/hook.dlq/messages.ndjson"; then
	ok "SIGTERM at peak load: 0 acknowledged events lost (webhook)"
else
	bad "SIGTERM at peak load: acknowledged events lost (webhook)"
fi

# ---- an idle destination's cursor is stored at most every 10th pass ---------------------
# q1 gets every event: its cursor moves and is stored at each pass (50 ms) of
# the 1.5 s load; idle_q gets none: its cursor follows the log's end, stored
# (without a sync) every 10th pass only
q1a=$(metric 'routed_log_stored_cursors_total{destination="q1"}')
ida=$(metric 'routed_log_stored_cursors_total{destination="idle_q"}')
$TOOL load "$U/events" "$tmp/acked.idle" 1.5 2 20 idle 0 20 >"$tmp/load.idle"
q1b=$(metric 'routed_log_stored_cursors_total{destination="q1"}')
idb=$(metric 'routed_log_stored_cursors_total{destination="idle_q"}')
q1n=$((${q1b:-0} - ${q1a:-0})) idn=$((${idb:-0} - ${ida:-0}))
check "cursor stores during 1.5 s of load: q1 $q1n, idle_q $idn (at most a fifth of q1's)" \
	sh -c "[ $q1n -ge 10 ] && [ $((idn * 5)) -le $q1n ]"
check "idle_q's cursor still reaches the end of the log" drained
check "the cursors are stored in cursors.txt writes (routed_log_cursor_writes_total $(metric routed_log_cursor_writes_total))" \
	[ "$(metric routed_log_cursor_writes_total)" -ge 10 ]

# ---- dedup on (source, id), across a restart ------------------------------------
ev='{"event_type":"t.ev","source":"/test","id":"dup-1","n":1}'
b1=$(curl -s --max-time 5 -H 'Content-Type: application/json' -d "$ev" "$U/events")
b2=$(curl -s --max-time 5 -H 'Content-Type: application/json' -d "$ev" "$U/events")
check "dedup: the first copy is accepted ($b1)" [ "$b1" = '{"accepted":1}' ]
check "dedup: the second copy is answered 202 as a duplicate ($b2)" [ "$b2" = '{"accepted":1,"duplicates":1}' ]
check "dedup: counted in routed_events_duplicates_total" [ "$(metric routed_events_duplicates_total)" = 1 ]
drained # (else the SIGKILL may come before q1's cursor passed dup-1: delivered again, allowed)
kill -KILL "$pid"
wait "$pid" 2>/dev/null
start
b3=$(curl -s --max-time 5 -H 'Content-Type: application/json' -d "$ev" "$U/events")
check "dedup: a copy after a SIGKILL and restart is still a duplicate ($b3)" [ "$b3" = '{"accepted":1,"duplicates":1}' ]
other='{"event_type":"t.ev","source":"/other","id":"dup-1","n":1}'
b4=$(curl -s --max-time 5 -H 'Content-Type: application/json' -d "$other" "$U/events")
check "dedup: the same id from another source is not a duplicate ($b4)" [ "$b4" = '{"accepted":1}' ]
drained
n=$(grep -c '"dup-1"' "$DATA/queues/q1/messages.ndjson")
check "dedup: dup-1 delivered once per source to q1 (got $n)" [ "$n" -eq 2 ]
kill -TERM "$pid"
wait "$pid"
pid=""

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
