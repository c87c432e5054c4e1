#!/bin/sh
# run-wait.sh -- POST /events?wait=D end to end: the answer waits until every
# event's outcome is known (200, with the worst across each fan-out and the
# count of each outcome), or until D has passed (202, with what is still
# pending). Destinations are exec sinks whose outcome the test chooses: ok
# delivers, bad fails (dead-lettered after its retry), slow takes 2 s. Also:
# a bad wait is refused with 400 before the body is read; without wait the
# answer is the usual 202; a request still waiting at SIGTERM is answered
# and routed exits 0. Every wait is bounded.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq

cat >"$tmp/wait.route" <<'EOF'
event t.ev v1 { id: string, kind: string }
destination ok { retry 1 backoff 50ms..100ms }
destination bad { retry 1 backoff 50ms..100ms }
destination slow { retry 1 backoff 50ms..100ms; timeout 10s }
rule to_ok on t.ev when kind == "ok" or kind == "both" route ok
rule to_bad on t.ev when kind == "bad" or kind == "both" route bad
rule to_slow on t.ev when kind == "slow" route slow
EOF
cat >"$tmp/routed.conf" <<'EOF'
[service]
log_level = info
[pipeline]
drain_timeout = 1
[destination ok]
sink = exec
command = cat >/dev/null
[destination bad]
sink = exec
command = cat >/dev/null; exit 1
[destination slow]
sink = exec
command = sleep 2; cat >/dev/null
EOF
start_routed "$tmp/data" "$tmp/routed.conf" "$tmp/wait.route"

# post KIND WAIT: the answer's body, then its status and seconds on a last line
post() {
	curl -s -w '\n%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
		-d "{\"event_type\":\"t.ev\",\"id\":\"$1-$$\",\"kind\":\"$1\"}" "$U/events${2:+?wait=$2}"
}
# got FILE JQ: "STATUS JSON" -- the answer's status and the jq filter JQ of its body
got() { echo "$(sed -n 2p "$1" | cut -d' ' -f1) $(sed -n 1p "$1" | jq -c "$2" 2>/dev/null)"; }

post ok 5s >"$tmp/a"
check "delivered: 200, outcome delivered ($(sed -n 1p "$tmp/a"))" \
	[ "$(got "$tmp/a" '[.accepted, .outcome, .outcomes.delivered, .pending]')" = '200 [1,"delivered",1,0]' ]
post bad 5s >"$tmp/b"
check "a destination that fails: 200 once dead-lettered, outcome dead_lettered" \
	[ "$(got "$tmp/b" '[.outcome, .outcomes.dead_lettered]')" = '200 ["dead_lettered",1]' ]
post both 5s >"$tmp/c"
check "a fan-out to ok and bad reports its worst status: the event dead_lettered" \
	[ "$(got "$tmp/c" '[.outcome, .outcomes.dead_lettered, .outcomes.delivered]')" = '200 ["dead_lettered",1,0]' ]
post none 5s >"$tmp/d"
check "an event no rule routes: 200, outcome unrouted" [ "$(got "$tmp/d" .outcome)" = '200 "unrouted"' ]
printf '{"event_type":"t.ev","id":"n1","kind":"ok"}\n{"event_type":"t.ev","id":"n2","kind":"ok"}\n{"event_type":"t.ev","id":"n3","kind":"bad"}\n' >"$tmp/batch"
curl -s -w '\n%{http_code} %{time_total}\n' -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/batch" \
	"$U/events?wait=5s" >"$tmp/e"
check "an NDJSON batch: each event's outcome counted, the worst reported ($(sed -n 1p "$tmp/e"))" \
	[ "$(got "$tmp/e" '[.accepted, .outcome, .outcomes.delivered, .outcomes.dead_lettered, .pending]')" = '200 [3,"dead_lettered",2,1,0]' ]
post slow 500ms >"$tmp/f"
check "not known within the wait: 202, outcome pending, 1 pending ($(sed -n 1p "$tmp/f"))" \
	[ "$(got "$tmp/f" '[.accepted, .outcome, .pending]')" = '202 [1,"pending",1]' ]
t=$(sed -n 2p "$tmp/f" | cut -d' ' -f2)
check "... answered at the end of the wait (0.4 to 1.9 s: $t s)" awk -v t="$t" 'BEGIN { exit !(t >= 0.4 && t < 1.9) }'
post ok "" >"$tmp/g"
check "without wait: the usual 202 {\"accepted\":1}" [ "$(got "$tmp/g" .)" = '202 {"accepted":1}' ]
for w in 0s 2m x5s 5; do
	post ok "$w" >"$tmp/h"
	check "wait=$w is refused with 400 and the reason" \
		[ "$(got "$tmp/h" .error)" = '400 "wait must be a duration from 1ms to 60s (like 500ms or 5s)"' ]
done
i=0
while [ "$(metric 'routed_events_outcome_total{outcome="delivered"}')" -lt 4 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "received = accepted + rejected, the refused waits not among them ($(metric routed_events_received_total))" \
	[ "$(metric routed_events_received_total)" = 9 ]
check "... and 9 accepted" [ "$(metric routed_events_accepted_total)" = 9 ]

# a request still waiting at SIGTERM is answered with what is known, and routed exits 0
post slow 30s >"$tmp/s" &
cpid=$!
sleep 0.5
kill -TERM "$pid"
i=0
while kill -0 "$cpid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "SIGTERM: the waiting request is answered within 10 s, pending ($(cat "$tmp/s" | tr '\n' ' '))" \
	[ "$(got "$tmp/s" .outcome)" = '202 "pending"' ]
wait "$pid"
rc=$?
pid=""
check "... and routed exits 0 (got $rc)" [ $rc -eq 0 ]

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
