#!/bin/sh
# run-lanes.sh -- routed's delivery policies and the remaining sinks end to
# end, as real processes on loopback (routed, recorder.py, the exec sink's
# commands), with tests/routed/lanes.route: batching (the N and the T
# triggers, one POST as NDJSON, an exec lane woken when its batch fills,
# the partial batches flushed at the drain), the
# throttle (no window of 1 s holds more than N deliveries, the excess waits
# and is counted), priority (a high-priority destination's messages go
# ahead of a low-priority backlog contending for one delivery slot), the
# exec sink (success with ROUTED_MESSAGES; a failing command retried, then
# dead-lettered; exec_mode = stream: one process, an error answer retried),
# file rotation (size, K files kept), a file sink in a
# missing directory dead-lettered, a queue sink's give-up chained to a
# dead_letter destination, a bounded queue that makes the router wait
# (nothing dropped), and the events' worst-status outcome metric.
# Every wait is bounded.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq python3
rpid=""
cleanup_more() { [ -n "$rpid" ] && kill -TERM "$rpid" 2>/dev/null; }
RULES="$top/tests/routed/lanes.route"

# ---- configuration errors --------------------------------------------------------
printf '[destination xok]\nsink = exec\n[destination rotated]\nsink = file\npath = %s/r\nrotate_bytes = 10\nrotate_keep = 0\n[destination fdead]\nsink = stdout\nrotate_bytes = 2k\n[destination qdead]\nsink = queue\ncommand = true\n[pipeline]\ndelivery_slots = -1\n[destination xs]\nsink = exec\ncommand = cat\nexec_mode = always\n[destination qs]\nexec_mode = stream\n' "$tmp" >"$tmp/bad.conf"
"$ROUTED" --check-config --config "$tmp/bad.conf" $RULES 2>"$tmp/err" >/dev/null
check "a bad lanes config exits 1" [ $? -eq 1 ]
check "sink = exec without command reported" grep -q "bad.conf:1: .*sink = exec needs command" "$tmp/err"
check "a too small rotate_bytes reported" grep -q "bad.conf:6: rotate_bytes must be" "$tmp/err"
check "rotate_keep = 0 reported" grep -q "bad.conf:7: rotate_keep must be" "$tmp/err"
check "rotate_bytes with another sink reported" grep -q "bad.conf:8: .*rotate_bytes and rotate_keep are only for sink = file" "$tmp/err"
check "command with another sink reported" grep -q "bad.conf:11: .*command and exec_mode are only for sink = exec" "$tmp/err"
check "a bad delivery_slots reported" grep -q "bad.conf:15: .*delivery_slots" "$tmp/err"
check "a bad exec_mode reported" grep -q "bad.conf:19: exec_mode must be once .* or stream" "$tmp/err"
check "exec_mode with another sink reported" grep -q "bad.conf:20: .*command and exec_mode are only for sink = exec" "$tmp/err"
[ "$nfail" -eq 0 ] || cat "$tmp/err"

# ---- the recorder ----------------------------------------------------------------
python3 "$top/tests/routed/recorder.py" "$tmp/recport" "$tmp/rec.ndjson" &
rpid=$!
i=0
while [ ! -s "$tmp/recport" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/recport" ] || { bad "recorder.py did not start"; exit 1; }
R=http://127.0.0.1:$(cat "$tmp/recport")

cat >"$tmp/routed.conf" <<EOC
[service]
log_level = info
[pipeline]
drain_timeout = 3
delivery_slots = 1
[destination batched_n]
sink = webhook
url = $R/ok/batchn
[destination batched_t]
sink = exec
command = t=\$(date +%s.%N); cat >>"$tmp/batcht.out"; echo "\$ROUTED_MESSAGES \$t" >>"$tmp/batcht.runs"
[destination batched_x]
sink = exec
command = cat >>"$tmp/batchx.out"; echo "\$ROUTED_MESSAGES" >>"$tmp/batchx.runs"
[destination throttled]
sink = webhook
url = $R/ok/thr
max_in_flight = 8
[destination low]
sink = exec
command = sleep 0.05; cat >>"$tmp/order.log"
[destination high]
sink = exec
command = cat >>"$tmp/order.log"
[destination xfail]
sink = exec
command = cat >/dev/null; echo try >>"$tmp/xfail.tries"; exit 3
[destination xok]
sink = exec
command = cat >>"$tmp/xok.out"
[destination xstream]
sink = exec
exec_mode = stream
command = echo \$\$ >>"$tmp/xstream.pids"; while IFS= read -r l; do echo "\$l" >>"$tmp/xstream.out"; case "\$l" in *'"n":3,'*) if [ ! -e "$tmp/xstream.once" ]; then : >"$tmp/xstream.once"; echo "error: n 3 once"; continue; fi;; esac; echo ok; done
[destination rotated]
sink = file
path = $tmp/rot/out.ndjson
rotate_bytes = 1k
rotate_keep = 2
[destination fdead]
sink = file
path = $tmp/missing/dir/out.ndjson
[destination qdead]
sink = file
path = $tmp/missing/dir/q.ndjson
[destination wbfail]
sink = webhook
url = $R/fail500/wbfail
[destination bounded]
sink = exec
command = sleep 0.1; cat >>"$tmp/bounded.out"
EOC
mkdir -p "$tmp/rot"
"$ROUTED" --check-config --config "$tmp/routed.conf" $RULES >"$tmp/out" 2>&1
check "--check-config accepts the lanes config" [ $? -eq 0 ]
[ "$nfail" -eq 0 ] || cat "$tmp/out"

: >"$tmp/log"
"$ROUTED" --config "$tmp/routed.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" $RULES \
	>"$tmp/stdout" 2>"$tmp/log" &
pid=$!
wait_port "$tmp/log"
U=http://127.0.0.1:$port
check "a file sink in a missing directory is logged, routed starts" \
	grep -q '"msg":"file sink cannot be opened' "$tmp/log"

events() { # KIND FROM TO: NDJSON events of that kind, ids KIND-FROM .. KIND-TO
	j=$2
	while [ "$j" -le "$3" ]; do
		printf '{"event_type":"t.ev","id":"%s-%d","n":%d,"kind":"%s"}\n' "$1" "$j" "$j" "$1"
		j=$((j + 1))
	done
}
post() { # KIND FROM TO
	events "$@" >"$tmp/body"
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$tmp/body" "$U/events")
	[ "$code" = 202 ] || bad "POST of $1 events answered $code"
}
wait_for() { # SECONDS 'SHELL CONDITION': polls it (eval) every 0.1 s until it holds
	n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		eval "$1" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}
rec_count() { # MODEPATH: requests recorded at that path
	[ -s "$tmp/rec.ndjson" ] || { echo 0; return; }
	jq -s --arg p "$1" '[.[] | select(.path == $p)] | length' "$tmp/rec.ndjson"
}
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }  # EXPR: its value
holds() { awk "BEGIN { exit !($1) }"; }              # EXPR: succeeds when it is true
metric() { # NAME{LABELS}: its value in a fresh /metrics
	curl -s "$U/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

# ---- priority: contention for one delivery slot ----------------------------------
# 40 low-priority messages (4 workers, 50 ms each) are queued first, then 5
# high-priority ones: the gate serves the high lane first whenever it waits,
# so the 5 land while most of the low backlog is still waiting (fair turns
# among the 5 contending threads would leave about 15).
post low 1 40
sleep 0.3
post high 1 5
wait_for 30 '[ "$(cat "$tmp/order.log" 2>/dev/null | grep -c .)" -ge 45 ]' ||
	bad "priority: not every message delivered within 30 s"
last_high=$(grep -n '"kind":"high"' "$tmp/order.log" | tail -1 | cut -d: -f1)
low_after=$(tail -n +"${last_high:-1}" "$tmp/order.log" | grep -c '"kind":"low"')
check "priority: the high lane's 5 messages went ahead of the low backlog ($low_after of 40 low ones after them)" \
	[ "${low_after:-0}" -ge 25 ]
check "priority: every message delivered once" [ "$(sort -u "$tmp/order.log" | grep -c .)" -eq 45 ]

# ---- batching ----------------------------------------------------------------------
t0=$(date +%s.%N)
post batchn 1 12
wait_for 10 '[ "$(rec_count /ok/batchn)" -ge 2 ]' || bad "batch N: two POSTs not seen within 10 s"
t1=$(date +%s.%N)
check "batch N: 12 messages make two POSTs of 5 at once (in $(calc "$t1 - $t0") s), the rest waits" \
	sh -c "[ \$(jq -s '[.[] | select(.path == \"/ok/batchn\") | .body | split(\"\\n\") | map(select(. != \"\")) | length] == [5,5]' '$tmp/rec.ndjson') = true ]"
check "batch N: the body is NDJSON, Content-Type application/x-ndjson" \
	sh -c "[ \$(jq -s '[.[] | select(.path == \"/ok/batchn\") | .headers[\"content-type\"]] | unique == [\"application/x-ndjson\"]' '$tmp/rec.ndjson') = true ]"
# the lane thread of an exec batch is woken once the fifo holds what fills
# its batch: three POSTs of 4 make two runs of 5 long before the 30 s timer
post batchx 1 4
post batchx 5 8
post batchx 9 12
wait_for 10 '[ "$(grep -c . "$tmp/batchx.runs" 2>/dev/null)" -ge 2 ]' || bad "batch N (exec): two runs not seen within 10 s"
check "batch N (exec): 12 messages in 3 POSTs make two runs of 5, the rest waits" \
	[ "$(tr '\n' ' ' <"$tmp/batchx.runs" 2>/dev/null)" = "5 5 " ]
t0=$(date +%s.%N)
post batcht 1 3
wait_for 10 '[ -s "$tmp/batcht.runs" ]' || bad "batch T: nothing within 10 s"
t1=$(date +%s.%N)
check "batch T: 3 messages, one command run with ROUTED_MESSAGES=3" \
	[ "$(cut -d' ' -f1 "$tmp/batcht.runs" | tr '\n' ' ')" = "3 " ]
ran=$(cut -d' ' -f2 "$tmp/batcht.runs")
check "batch T: the run came after the 700 ms timer ($(calc "$ran - $t0") s)" holds "$ran - $t0 >= 0.65"
check "batch T: the command got the 3 lines" [ "$(grep -c '"kind":"batcht"' "$tmp/batcht.out")" -eq 3 ]

# ---- throttle ------------------------------------------------------------------------
post thr 1 12
wait_for 15 '[ "$(rec_count /ok/thr)" -ge 12 ]' || bad "throttle: 12 deliveries not seen within 15 s"
jq -s '[.[] | select(.path == "/ok/thr") | .t] | sort' "$tmp/rec.ndjson" >"$tmp/thr.times"
# (arrival times at the recorder: new connections make the first ones up to tens of ms late)
check "throttle: no window of 0.9 s holds more than 4 deliveries (4 per 1s)" \
	sh -c "[ \$(jq '. as \$t | [range(0; length) as \$i | [\$t[] | select(. >= \$t[\$i] and . < \$t[\$i] + 0.9)] | length] | max' '$tmp/thr.times') -le 4 ]"
span=$(jq '.[-1] - .[0]' "$tmp/thr.times")
check "throttle: the 12 took at least 2 s, the excess waited (span $span s)" \
	holds "$span >= 1.8"
thr_s=$(metric 'routed_destination_throttled_seconds_total{destination="throttled"}')
check "throttle: the time spent throttled is counted ($thr_s s)" holds "${thr_s:-0} > 1"

# ---- exec: success and failure -> retry -> DLQ -------------------------------------
post xfail 1 3
wait_for 15 '[ "$(curl -s "$U/queues/xfail.dlq?max=10" | jq .count)" = 3 ]' ||
	bad "exec: 3 dead letters not seen within 15 s"
curl -s "$U/queues/xfail.dlq?max=10" >"$tmp/xdlq"
check "exec: a failing command is tried 1 + retry times per message" [ "$(grep -c . "$tmp/xfail.tries")" -eq 9 ]
check "exec: its envelopes say retries_exhausted, failure exec, 3 attempts, the exit status" \
	sh -c "[ \$(jq '[.messages[] | select(.reason == \"retries_exhausted\" and .failure == \"exec\" and .attempts == 3 and .error == \"command exited with status 3\" and .event.kind == \"xfail\")] | length' '$tmp/xdlq') = 3 ]"
check "exec: the healthy command of the same fan-out got all 3" [ "$(grep -c '"kind":"xfail"' "$tmp/xok.out")" -eq 3 ]

# ---- exec_mode = stream: one long-lived command answers each line ----------------------
post xstream 1 5
wait_for 15 '[ "$(metric "routed_deliveries_total{destination=\"xstream\"}")" = 5 ]' ||
	bad "exec stream: 5 deliveries not counted within 15 s"
check "exec stream: one process took every message ($(grep -c . "$tmp/xstream.pids" 2>/dev/null) started)" \
	[ "$(grep -c . "$tmp/xstream.pids" 2>/dev/null)" -eq 1 ]
check "exec stream: the line answered with an error was retried and then acknowledged (6 lines read)" \
	[ "$(grep -c '"kind":"xstream"' "$tmp/xstream.out")" -eq 6 ]
check "exec stream: each of the 5 messages read" \
	[ "$(jq -r .n "$tmp/xstream.out" | sort -u | tr '\n' ' ')" = "1 2 3 4 5 " ]
check "exec stream: the error answer counted as a failed attempt" \
	[ "$(metric 'routed_sink_failures_total{destination="xstream",reason="exec"}')" = 1 ]

# ---- file rotation -----------------------------------------------------------------
post rot 1 40
wait_for 10 'grep -q "rot-40\"" "$tmp/rot/out.ndjson" 2>/dev/null' || bad "rotation: the last message not written within 10 s"
check "rotation: out.ndjson, .1 and .2 kept, no .3" \
	sh -c "[ -s '$tmp/rot/out.ndjson' ] && [ -s '$tmp/rot/out.ndjson.1' ] && [ -s '$tmp/rot/out.ndjson.2' ] && [ ! -e '$tmp/rot/out.ndjson.3' ]"
check "rotation: no file over rotate_bytes (1k)" \
	sh -c "[ \$(stat -c %s '$tmp/rot/out.ndjson' '$tmp/rot/out.ndjson.1' '$tmp/rot/out.ndjson.2' | sort -n | tail -1) -le 1024 ]"
check "rotation: the kept files hold the newest messages, in order, none twice" \
	sh -c "cat '$tmp/rot/out.ndjson.2' '$tmp/rot/out.ndjson.1' '$tmp/rot/out.ndjson' | jq -r .n | awk 'NR > 1 && \$1 != prev + 1 { exit 1 } { prev = \$1 } END { exit prev != 40 }'"

# ---- file sink in a missing directory -> DLQ; a chained dead_letter -----------------
post fdead 1 2
post qdead 1 2
wait_for 10 '[ "$(curl -s "$U/queues/fdead.dlq" | jq .count)" = 2 ]' || bad "file: 2 dead letters not seen within 10 s"
check "file: a write that keeps failing is dead-lettered (failure write, 2 attempts)" \
	sh -c "[ \$(curl -s '$U/queues/fdead.dlq' | jq '[.messages[] | select(.failure == \"write\" and .attempts == 2 and .reason == \"retries_exhausted\")] | length') = 2 ]"
wait_for 10 '[ "$(curl -s "$U/queues/parked" | jq .count)" = 2 ]' || bad "chained: 2 envelopes not in parked within 10 s"
check "file: qdead's envelopes go to its dead_letter destination (parked)" \
	sh -c "[ \$(curl -s '$U/queues/parked' | jq '[.messages[] | select(.destination == \"qdead\" and .event.kind == \"qdead\")] | length') = 2 ]"
check "a dead letter is logged at warn" grep -q '"level":"warn","msg":"message given up: dead-lettered".*"destination":"fdead"' "$tmp/log"

# ---- a bounded queue (queue 2) pushes back on the router, drops nothing ---------------
post bounded 1 10
wait_for 15 '[ "$(cat "$tmp/bounded.out" 2>/dev/null | grep -c .)" -ge 10 ]' || bad "bounded: 10 messages not delivered within 15 s"
check "bounded: all 10 delivered, in order" \
	[ "$(jq -r .n "$tmp/bounded.out" | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 " ]
w=$(metric 'routed_destination_queue_full_waits_total{destination="bounded"}')
check "bounded: the router waited for room ($w times), counted" [ "${w:-0}" -ge 1 ]

# ---- a webhook batch that fails: one POST per attempt, each message dead-lettered ----------
post wbfail 1 3
wait_for 10 '[ "$(curl -s "$U/queues/wbfail.dlq" | jq .count)" = 3 ]' || bad "webhook batch: 3 dead letters not seen within 10 s"
check "webhook batch: 2 attempts (retry 1), each one POST of the 3 lines" \
	sh -c "[ \$(jq -s '[.[] | select(.path == \"/fail500/wbfail\") | .body | split(\"\\n\") | map(select(. != \"\")) | length] == [3,3]' '$tmp/rec.ndjson') = true ]"
got=$(curl -s "$U/queues/wbfail.dlq" | jq -c '[.messages[] | select(.failure == "http_5xx" and .attempts == 2 and .event.kind == "wbfail") | .event.n] | sort')
check "webhook batch: each message in its own envelope (http_5xx, 2 attempts): $got" [ "$got" = "[1,2,3]" ]

# ---- outcomes ----------------------------------------------------------------------
post none 1 4
# settled: 45 + 12 + 12 + 3 + 12 + 3 + 5 + 40 + 2 + 2 + 10 + 3 + 4 = 153 events, less the 2 batchn
# and the 2 batchx still held
wait_for 10 '[ "$(curl -s "$U/metrics" | awk "/^routed_events_outcome_total/ { s += \$2 } END { print s }")" -eq 149 ]' ||
	{ bad "outcomes: not 149 events settled within 10 s"; curl -s "$U/metrics" | grep '^routed_events_outcome_total'; }
check "outcome: 10 events dead-lettered (3 exec fan-outs with one healthy destination, 2 file, 2 chained, 3 webhook batch)" \
	[ "$(metric 'routed_events_outcome_total{outcome="dead_lettered"}')" = 10 ]
check "outcome: 4 events unrouted" [ "$(metric 'routed_events_outcome_total{outcome="unrouted"}')" = 4 ]
check "outcome: 135 delivered, none lost" \
	[ "$(metric 'routed_events_outcome_total{outcome="delivered"}') $(metric 'routed_events_outcome_total{outcome="lost"}')" = "135 0" ]
check "outcome: not-delivered events are logged at warn" \
	[ "$(grep -c '"level":"warn","msg":"event not delivered to every destination","outcome":"dead_lettered"' "$tmp/log")" -eq 10 ]
if command -v promtool >/dev/null; then
	curl -s "$U/metrics" >"$tmp/metrics"
	check "promtool check metrics passes" sh -c "promtool check metrics <'$tmp/metrics' >'$tmp/promtool.out' 2>&1"
fi

# ---- drain: the partial batch is flushed ----------------------------------------------
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then bad "routed did not exit within 15 s of SIGTERM"; else
	wait "$pid"
	check "routed exits 0 after SIGTERM" [ $? -eq 0 ]
	pid=""
fi
check "drain: the partial batch of 2 is POSTed" \
	sh -c "[ \$(jq -s '[.[] | select(.path == \"/ok/batchn\") | .body | split(\"\\n\") | map(select(. != \"\")) | length] == [5,5,2]' '$tmp/rec.ndjson') = true ]"
check "drain: the exec lane's partial batch of 2 runs" [ "$(tr '\n' ' ' <"$tmp/batchx.runs" 2>/dev/null)" = "5 5 2 " ]
check "drain: the exec batches carried the 12 messages once each" \
	[ "$(sort -u "$tmp/batchx.out" | grep -c '"kind":"batchx"') $(grep -c . "$tmp/batchx.out")" = "12 12" ]

echo "run-lanes: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
