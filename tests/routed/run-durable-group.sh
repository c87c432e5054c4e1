#!/bin/sh
# run-durable-group.sh -- HTTP requests share the log's group commit
# (issue #6 speed, issue #7 promise): a request waiting for its sync parks its
# connection rather than the HTTP thread, so one sync answers the requests of
# every connection. One HTTP thread, a sync at most every 50 ms ([durability]
# sync = batch), 16 clients posting single events: had the thread waited for
# each sync, every batch would hold one request (at most 20 a second); with
# the connections parked, a batch holds about one request per client. Every
# answered event must be delivered, and a SIGTERM while requests are parked
# must answer them all before routed exits 0. Bounded: ~15 s.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl python3
RULES="$top/tests/routed/durable.route"
TOOL="python3 $top/tests/routed/durable_tool.py"
DATA="$tmp/data"
cat >"$tmp/conf" <<CONF
[http]
threads = 1
[durability]
sync = batch
sync_batch_ms = 50
CONF

start() { start_routed "$DATA" "$tmp/conf" $RULES; }

start
b0=$(metric routed_log_batches_total)
# 16 clients x 10 single-event requests (batches of 1 event), for 10 s at most
$TOOL load "$U/events" "$tmp/acked.1" 10 16 1 g 10 >"$tmp/load.1"
b1=$(metric routed_log_batches_total)
acked=$(wc -l <"$tmp/acked.1")
check "160 single-event requests answered 202 ($(tr '\n' ' ' <"$tmp/load.1"))" [ "$acked" = 160 ]
batches=$((b1 - b0))
# one request per batch would make 160; parked connections share batches (about 10-20)
check "the requests shared group-commit batches: $acked in $batches batches" [ "$batches" -le 40 ]

# SIGTERM while requests are parked: each is answered (202 or 503), none is cut
$TOOL load "$U/events" "$tmp/acked.2" 10 16 1 t 0 >"$tmp/load.2" &
lpid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
wait "$lpid"
check "routed exits 0 on SIGTERM with parked requests (rc=$rc)" [ "$rc" = 0 ]
check "every request before the stop was answered ($(tr '\n' ' ' <"$tmp/load.2"))" \
	grep -q '^status 202 ' "$tmp/load.2"
check "no request was left unanswered while parked" \
	sh -c "! grep -q 'parked request was closed' '$tmp/log'"
# everything acknowledged is delivered: the drain wrote it to the queues
if $TOOL check "$tmp/acked.*" "$DATA/queues/q1/messages.ndjson" "$DATA/queues/q2/messages.ndjson" >"$tmp/check"; then
	ok "every acknowledged event is delivered: $(tr '\n' ' ' <"$tmp/check")"
else
	bad "acknowledged events lost: $(cat "$tmp/check")"
fi
echo "$npass passed, $nfail failed"
[ "$nfail" = 0 ]
