#!/bin/sh
# run-durable-state.sh -- temporal state survives a SIGKILL (issue #7), real
# routed on loopback. A rule fires on the 3rd t.fail of a customer within
# 10 minutes. Two failures are posted, routed is SIGKILLed, restarted, and
# a third one must fire the rule:
#   A: after a state checkpoint covering both (checkpoint_interval = 1 s):
#      restored from the checkpoint, nothing replayed;
#   B: with no checkpoint yet (checkpoint_interval = 1 h): the state is
#      rebuilt by replaying the log in state-only mode -- the failures are
#      not delivered to `all` a second time.
# A damaged checkpoint is counted and does not stop the start. A bad rule
# file, then a bad config, must exit 1 without touching the data directory. Bounded: ~15 s.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl python3
RULES="$top/tests/routed/durable-state.route"

start() { start_routed "$1" "$2" $RULES; } # DATA CONF
fail() { # ID: posts a t.fail of customer c1
	curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"event_type\":\"t.fail\",\"id\":\"$1\",\"customer\":\"c1\"}" "$U/events"
}
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
wait_lines() { # FILE N: waits (5 s) until FILE has N lines
	i=0
	while [ $i -lt 50 ] && [ "$(lines "$1")" -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
}

for mode in A B; do
	D="$tmp/data$mode"
	if [ $mode = A ]; then ci=1; else ci=3600; fi
	printf '[durability]\ncursor_interval_ms = 50\ncheckpoint_interval = %s\n' $ci >"$tmp/conf$mode"
	start "$D" "$tmp/conf$mode"
	s1=$(fail f1)
	s2=$(fail f2)
	check "$mode: two failures accepted ($s1 $s2)" [ "$s1$s2" = 202202 ]
	wait_lines "$D/queues/all/messages.ndjson" 2
	if [ $mode = A ]; then
		# wait (5 s) for a checkpoint covering both records
		i=0
		while [ $i -lt 50 ]; do
			n=$(metric routed_log_next_seq)
			c=$(awk '$1 == "state" { print $2 }' "$D/log/cursors.txt" 2>/dev/null)
			c=${c:-0}
			[ -n "$n" ] && [ "$c" -ge "$n" ] && break
			sleep 0.1
			i=$((i + 1))
		done
		check "A: a checkpoint covering both failures is written (state cursor $c, next $n)" [ "$c" -ge "$n" ]
	else
		sleep 0.3 # the cursors of `all` stored
	fi
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	start "$D" "$tmp/conf$mode"
	if [ $mode = A ]; then
		check "A: the state is restored from the checkpoint" grep -q '"msg":"state checkpoint restored"' "$tmp/log"
		check "A: nothing is replayed (routed_log_replayed_total=$(metric routed_log_replayed_total))" \
			[ "$(metric routed_log_replayed_total)" = 0 ]
	else
		check "B: no checkpoint: the log is replayed into the state ($(metric routed_log_replayed_total) records)" \
			[ "$(metric routed_log_replayed_total)" = 2 ]
	fi
	s3=$(fail f3)
	check "$mode: the third failure is accepted ($s3)" [ "$s3" = 202 ]
	wait_lines "$D/queues/alerts/messages.ndjson" 1
	check "$mode: the rule fires on the 3rd failure across the SIGKILL" \
		grep -q '"customer":"c1"' "$D/queues/alerts/messages.ndjson"
	wait_lines "$D/queues/all/messages.ndjson" 3
	sleep 0.2
	check "$mode: each failure reached \`all\` once (state-only replay delivers nothing again): $(lines "$D/queues/all/messages.ndjson")" \
		[ "$(lines "$D/queues/all/messages.ndjson")" -eq 3 ]
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=""
	check "$mode: SIGTERM exits 0" [ $rc -eq 0 ]
done

# a damaged checkpoint: logged, counted, routed starts anyway
D="$tmp/dataA"
printf 'garbage' | dd of="$D/state/checkpoint.0" bs=1 seek=30 conv=notrunc 2>/dev/null
start "$D" "$tmp/confA"
check "a damaged checkpoint: routed starts, says so" grep -q '"msg":"state checkpoint unusable' "$tmp/log"
check "a damaged checkpoint: counted in routed_checkpoint_errors_total" \
	[ "$(metric routed_checkpoint_errors_total)" = 1 ]
s4=$(fail f4)
check "a damaged checkpoint: events are still accepted ($s4)" [ "$s4" = 202 ]
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
check "a damaged checkpoint: SIGTERM exits 0" [ $rc -eq 0 ]

# a bad rule file, then a bad config: exit 1, the data directory untouched
D="$tmp/untouched"
"$ROUTED" --listen 127.0.0.1:0 --data-dir "$D" "$top/tests/errors/syntax.route" 2>"$tmp/err1"
rc1=$?
printf '[durability]\nsync = sometimes\n' >"$tmp/badconf"
"$ROUTED" --config "$tmp/badconf" --listen 127.0.0.1:0 --data-dir "$D" $RULES 2>"$tmp/err2"
rc2=$?
check "a bad rule file exits 1 (got $rc1)" [ $rc1 -eq 1 ]
check "a bad config exits 1 with FILE:LINE (got $rc2: $(cat "$tmp/err2"))" [ $rc2 -eq 1 ] && grep -q "badconf:2: sync must be always, batch or none" "$tmp/err2"
check "neither touched the data directory" [ ! -e "$D" ]

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
