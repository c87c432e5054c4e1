#!/bin/sh
# run-durable-sla.sh -- an SLA timer armed before a crash still fires (issue
# #7), real routed on loopback. Ticket T1 opens a 3 s absence; T2 opens one
# and is acknowledged at once. routed is SIGKILLed before the deadline and
# restarted on the same data directory:
#   A: after a state checkpoint holding the armed deadline (restored);
#   B: with no checkpoint (the log is replayed into the state, which arms
#      the deadline again; the acknowledgement cancels T2's again).
# Either way T1 breaches once after the restart and T2 never. Bounded: ~20 s.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl python3
RULES="$top/tests/routed/durable-sla.route"

start() { start_routed "$1" "$2" $RULES; } # DATA CONF
post() { # JSON
	curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" "$U/events"
}
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
wait_lines() { # FILE N SECONDS
	i=0
	while [ $i -lt $(($3 * 10)) ] && [ "$(lines "$1")" -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
}

for mode in A B; do
	D="$tmp/data$mode"
	if [ $mode = A ]; then ci=1; else ci=3600; fi
	printf '[durability]\ncursor_interval_ms = 50\ncheckpoint_interval = %s\n' $ci >"$tmp/conf$mode"
	start "$D" "$tmp/conf$mode"
	s=$(post '{"event_type":"ticket.created","id":"e1","ticket":"T1"}')
	s=$s$(post '{"event_type":"ticket.created","id":"e2","ticket":"T2"}')
	s=$s$(post '{"event_type":"ticket.acked","id":"e3","ticket":"T2"}')
	check "$mode: two tickets and an acknowledgement accepted ($s)" [ "$s" = 202202202 ]
	wait_lines "$D/queues/all/messages.ndjson" 3 5
	if [ $mode = A ]; then
		i=0
		while [ $i -lt 20 ]; do # a checkpoint covering the three records (2 s at most)
			n=$(metric routed_log_next_seq)
			c=$(awk '$1 == "state" { print $2 }' "$D/log/cursors.txt" 2>/dev/null)
			c=${c:-0}
			[ -n "$n" ] && [ "$c" -ge "$n" ] && break
			sleep 0.1
			i=$((i + 1))
		done
		check "A: a checkpoint holding the armed deadline is written (state cursor $c, next $n)" [ "$c" -ge "$n" ]
	else
		sleep 0.3 # the cursors of `all` stored
	fi
	check "$mode: no breach before the deadline" [ "$(lines "$D/queues/breaches/messages.ndjson")" -eq 0 ]
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	start "$D" "$tmp/conf$mode"
	wait_lines "$D/queues/breaches/messages.ndjson" 1 8
	sleep 3.5 # past T2's deadline too, whatever the restart re-armed
	check "$mode: T1's SLA timer fires after the SIGKILL" grep -q '"ticket":"T1"' "$D/queues/breaches/messages.ndjson"
	check "$mode: ... once, and the acknowledged T2 never ($(lines "$D/queues/breaches/messages.ndjson") breach)" \
		[ "$(lines "$D/queues/breaches/messages.ndjson")" -eq 1 ]
	check "$mode: nothing reached \`all\` twice ($(lines "$D/queues/all/messages.ndjson") messages)" \
		[ "$(lines "$D/queues/all/messages.ndjson")" -eq 3 ]
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=""
	check "$mode: SIGTERM exits 0" [ $rc -eq 0 ]
done
echo "run-durable-sla: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
