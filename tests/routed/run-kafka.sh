#!/bin/sh
# run-kafka.sh -- sink = kafka end to end, as real processes on loopback:
# librdkafka's mock cluster (tests/routed/kafka_mock, one broker, topic
# "events", consuming it back), and routed with tests/routed/kafka.route and
# a destination bound to that topic with `key = customer`. 20 events posted
# as NDJSON arrive in the topic in order, keyed by their customer, as the
# events' JSON; deliveries and the status page count them; SIGTERM exits 0.
# Then [kafka]: routed consumes a topic of 30 messages (an invalid one, an
# empty one), routes its 28 events to the kafka destination, counts and logs
# the invalid one, and commits offset 30 by the time it has stopped.
# Then start = latest: a new group routes only what comes after it joined.
# Then two routed in one group share a topic's 2 partitions, and when one
# stops the other takes both: each event routed once.
# Every wait is bounded.
set -u
top=${top_srcdir:-.}
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq
MOCK=${KAFKA_MOCK:-$(dirname "$ROUTED")/tests/routed/kafka_mock}
[ -x "$MOCK" ] || { echo "run-kafka.sh: no $MOCK (make tests/routed/kafka_mock)"; exit 99; }
RULES="$top/tests/routed/kafka.route"

cleanup_more() { kill "$mpid" 2>/dev/null; }
# mock K ARGS...: starts kafka_mock with ADDR-FILE $tmp/addrK (its other arguments ARGS) in the
# background ($mpid), waits for its address (10 s at most) and sets $a to it
mock() {
	mk=$1
	shift
	"$MOCK" "$tmp/addr$mk" "$@" 2>"$tmp/mock$mk.err" &
	mpid=$!
	i=0
	while [ ! -s "$tmp/addr$mk" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "$tmp/addr$mk" ] || { bad "mock cluster $mk did not start: $(cat "$tmp/mock$mk.err")"; exit 1; }
	a=$(cat "$tmp/addr$mk")
}
mock 1 "$tmp/topic" events 20 60

printf '[service]\nlog_level = info\n[destination to_kafka]\nsink = kafka\nbrokers = %s\ntopic = events\nkey = customer\ntimeout = 10s\n' \
	"$a" >"$tmp/routed.conf"
"$ROUTED" --check-config --config "$tmp/routed.conf" $RULES >/dev/null 2>"$tmp/err"
check "--check-config accepts a kafka destination" [ $? -eq 0 ]
printf '[destination to_kafka]\nsink = kafka\nbrokers = 127.0.0.1:1\n[destination other]\ntopic = t\n' >"$tmp/bad.conf"
"$ROUTED" --check-config --config "$tmp/bad.conf" $RULES >/dev/null 2>"$tmp/err"
check "a kafka destination without topic exits 1" [ $? -eq 1 ]
check "... named with its line" grep -q "bad.conf:1: .*sink = kafka needs brokers and topic" "$tmp/err"
check "topic with another sink is named with its line" \
	grep -q "bad.conf:4: .*brokers, topic and key are only for sink = kafka" "$tmp/err"
printf '[service]\nlog_level = info\n[kafka]\nbrokers = 127.0.0.1:1\nstart = middle\nsession_timeout = 5\n' >"$tmp/bad2.conf"
"$ROUTED" --check-config --config "$tmp/bad2.conf" $RULES >/dev/null 2>"$tmp/err"
check "[kafka] brokers without topics exits 1, naming the line" \
	sh -c "[ $? -eq 1 ] && grep -q 'bad2.conf:4: \\[kafka\\] brokers and topics go together' '$tmp/err'"
check "... and a bad start, naming its line" grep -q 'bad2.conf:5: start must be earliest or latest' "$tmp/err"
check "... and a session_timeout without a unit" grep -q 'bad2.conf:6: session_timeout must be a duration' "$tmp/err"
start_routed "$tmp/data" "$tmp/routed.conf" $RULES

t_events 20 "$tmp/body"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/body" "$U/events")
check "20 events accepted (202)" [ "$code" = 202 ]
i=0
while [ "$(grep -c . "$tmp/topic" 2>/dev/null || echo 0)" -lt 20 ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
check "the topic got the 20 messages within 15 s ($(grep -c . "$tmp/topic" 2>/dev/null || echo 0))" \
	[ "$(grep -c . "$tmp/topic" 2>/dev/null || echo 0)" -eq 20 ]
check "... in order, each the event's JSON" \
	[ "$(cut -f2 "$tmp/topic" | jq -r .n | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 " ]
check "... keyed by the event's customer" \
	[ "$(cut -f1 "$tmp/topic" | tr '\n' ' ')" = "$(printf 'c0 c1 c2 c3 %.0s' 1 2 3 4 5)" ]
i=0
while [ "$(metric 'routed_deliveries_total{destination="to_kafka"}')" != 20 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "routed_deliveries_total counts the 20" [ "$(metric 'routed_deliveries_total{destination="to_kafka"}')" = 20 ]
check "the status page shows the destination as a kafka sink" \
	sh -c "curl -s '$U/status.json' | jq -e '.destinations[] | select(.name == \"to_kafka\") | .sink == \"kafka\" and .delivered == 20' >/dev/null"
stop_routed "SIGTERM: routed exits 0"
wait "$mpid"
check "the mock cluster's consumer got exactly 20 and ended" [ $? -eq 0 ]

# ---- [kafka]: routed consumes a topic, and commits what it logged ------------------------
# topic "in": 30 messages, 28 events, an invalid one (offset 7) and an empty one (offset 15);
# routed takes them and routes the events to the kafka destination, topic "events"
source_messages "$tmp/in"
mock 2 "$tmp/topic2" events 28 60 in "$tmp/in" routed "$tmp/stop2" "$tmp/committed"
printf '[service]\nlog_level = info\n[kafka]\nbrokers = %s\ntopics = in\n[destination to_kafka]\nsink = kafka\nbrokers = %s\ntopic = events\nkey = customer\n' \
	"$a" "$a" >"$tmp/routed2.conf"
start_routed "$tmp/data2" "$tmp/routed2.conf" $RULES
check "[kafka]: the consumer is logged" grep -q '"msg":"kafka consuming","brokers":".*","topics":"in","group":"routed"' "$tmp/log"
i=0
while [ "$(grep -c . "$tmp/topic2" 2>/dev/null || echo 0)" -lt 28 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
want=$(seq 0 29 | grep -vx -e 7 -e 15 | tr '\n' ' ')
check "[kafka]: the 28 events of topic in reached topic events, in order, within 20 s" \
	[ "$(cut -f2 "$tmp/topic2" | jq -r .n | tr '\n' ' ')" = "$want" ]
check "... accepted 28, the invalid one refused and counted" \
	[ "$(metric routed_events_accepted_total) $(metric 'routed_events_rejected_total{reason="invalid_event"}')" = "28 1" ]
check "... and logged with its offset" \
	grep -q '"msg":"kafka source: invalid event skipped","topic":"in","partition":0,"offset":7' "$tmp/log"
i=0
while [ "$(metric 'routed_kafka_messages_total{result="accepted"}')" != 28 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "metrics: the source's messages, accepted 28, skipped 1, empty 1" \
	[ "$(metric 'routed_kafka_messages_total{result="accepted"}') $(metric 'routed_kafka_messages_total{result="skipped"}') $(metric 'routed_kafka_messages_total{result="empty"}')" = "28 1 1" ]
i=0
while [ "$(metric 'routed_kafka_commits_total{result="ok"}')" = 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "metrics: its offsets committed ($(metric 'routed_kafka_commits_total{result="ok"}') commits)" \
	[ "$(metric 'routed_kafka_commits_total{result="ok"}')" -gt 0 ]
check "... none failed" [ "$(metric 'routed_kafka_commits_total{result="failed"}')" = 0 ]
check "status.json: the Kafka source, topic in, its one partition, 28 events taken, 1 refused" \
	sh -c "curl -s '$U/status.json' | jq -e '(.sources | length) == 1 and .sources[0].kind == \"kafka\" and
		.sources[0].where == \"in\" and .sources[0].partitions == 1 and
		.sources[0].state == \"1 partition assigned\" and .sources[0].taken == 28 and .sources[0].refused == 1' >/dev/null"
if command -v promtool >/dev/null; then
	curl -s "$U/metrics" >"$tmp/metrics"
	check "promtool check metrics passes with the Kafka source" promtool check metrics <"$tmp/metrics"
fi
stop_routed "SIGTERM with a consumer: routed exits 0"
check "the log stays JSON lines, librdkafka's own lines included" jq -e 'select(.level and .msg) | true' "$tmp/log" >/dev/null
: >"$tmp/stop2"
wait "$mpid"
check "the events consumer got exactly 28" [ $? -eq 0 ]
check "the group routed committed offset 30 of topic in: everything taken, nothing more ($(cat "$tmp/committed" 2>/dev/null))" \
	[ "$(cat "$tmp/committed" 2>/dev/null)" = 30 ]

# ---- [kafka] start = latest: a new group begins at the end of the topic ----------------
# topic "in" holds 5 events before routed joins; once it has its partitions, 3 more come:
# only those 3 are routed on
: >"$tmp/old"
for i in 0 1 2 3 4; do printf '{"event_type":"t.ev","id":"old-%d","n":%d,"customer":"c0"}\n' $i $i >>"$tmp/old"; done
for i in 100 101 102; do printf '{"event_type":"t.ev","id":"new-%d","n":%d,"customer":"c1"}\n' $i $i >>"$tmp/new"; done
KAFKA_MOCK_LATER="$tmp/new:$tmp/go3"
export KAFKA_MOCK_LATER
mock 3 "$tmp/topic3" events 3 60 in "$tmp/old" latest-g "$tmp/stop3" "$tmp/committed3"
printf '[service]\nlog_level = info\n[kafka]\nbrokers = %s\ntopics = in\ngroup = latest-g\nstart = latest\n[destination to_kafka]\nsink = kafka\nbrokers = %s\ntopic = events\nkey = customer\n' \
	"$a" "$a" >"$tmp/routed3.conf"
start_routed "$tmp/data3" "$tmp/routed3.conf" $RULES
i=0
while ! grep -q '"msg":"kafka source: partitions assigned","partitions":1' "$tmp/log" && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
check "start = latest: the group's partition assigned, and logged, within 20 s" \
	grep -q '"msg":"kafka source: partitions assigned","partitions":1' "$tmp/log"
sleep 1 # the consumer's position is fetched after the assignment
: >"$tmp/go3"
i=0
while [ "$(grep -c . "$tmp/topic3" 2>/dev/null || echo 0)" -lt 3 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
check "only the 3 events produced after it joined were routed on, in order" \
	[ "$(cut -f2 "$tmp/topic3" | jq -r .n | tr '\n' ' ')" = "100 101 102 " ]
check "... accepted 3, none of the 5 older ones" [ "$(metric routed_events_accepted_total)" = 3 ]
stop_routed "SIGTERM: routed exits 0"
: >"$tmp/stop3"
wait "$mpid"
check "the events consumer got exactly 3, and group latest-g committed offset 8 ($(cat "$tmp/committed3" 2>/dev/null))" \
	sh -c "[ $? -eq 0 ] && [ \"$(cat "$tmp/committed3" 2>/dev/null)\" = 8 ]"

# ---- [kafka] two routed in one group: the partitions shared, then handed over -----------
# topic "in" with 2 partitions; two routed (A, B) in group "pair" take one each, and route
# the 40 events produced then between them; B stops, A is given both partitions and routes
# the 20 produced after: 60 in all, each once
for i in $(seq 0 39); do printf '{"event_type":"t.ev","id":"p-%d","n":%d,"customer":"c2"}\n' $i $i; done >"$tmp/p1"
for i in $(seq 40 59); do printf '{"event_type":"t.ev","id":"p-%d","n":%d,"customer":"c2"}\n' $i $i; done >"$tmp/p2"
: >"$tmp/none"
KAFKA_MOCK_LATER="$tmp/p1:$tmp/go4,$tmp/p2:$tmp/go5"
KAFKA_MOCK_PARTITIONS=2
export KAFKA_MOCK_LATER KAFKA_MOCK_PARTITIONS
mock 4 "$tmp/topic4" events 60 90 in "$tmp/none" pair "$tmp/stop4" "$tmp/committed4"
unset KAFKA_MOCK_LATER KAFKA_MOCK_PARTITIONS
printf '[service]\nlog_level = info\n[kafka]\nbrokers = %s\ntopics = in\ngroup = pair\nsession_timeout = 3s\n[destination to_kafka]\nsink = kafka\nbrokers = %s\ntopic = events\nkey = customer\n' \
	"$a" "$a" >"$tmp/routed4.conf"
start_routed "$tmp/data4a" "$tmp/routed4.conf" $RULES
pida=$pid
Ua=$U
"$ROUTED" --config "$tmp/routed4.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data4b" $RULES 2>"$tmp/logb" &
pidb=$!
cleanup_more() { kill "$mpid" 2>/dev/null; kill -KILL "$pidb" 2>/dev/null; }
wait_port "$tmp/logb"
Ub=http://127.0.0.1:$port
assigned() { grep -c '"msg":"kafka source: partitions assigned","partitions":'"$2" "$1"; }
# LOG: how many partitions its last assignment gave (the first member may get both for a while)
holds() { grep -o '"msg":"kafka source: partitions assigned","partitions":[0-9]*' "$1" | tail -n 1 | sed 's/.*://'; }
# LOG: the assignments and revocations it logged, in order
rebalances() { grep -o '"msg":"kafka source: partitions [a-z]*","partitions":[0-9]*' "$1" | sed 's/.*partitions \([a-z]*\)","partitions":/\1 /' | tr '\n' ' '; }
i=0
while { [ "$(holds "$tmp/log")" != 1 ] || [ "$(holds "$tmp/logb")" != 1 ]; } && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
check "two routed in one group: each holds one of the 2 partitions within 60 s (A: $(rebalances "$tmp/log")B: $(rebalances "$tmp/logb"))" \
	[ "$(holds "$tmp/log") $(holds "$tmp/logb")" = "1 1" ]
a2=$(assigned "$tmp/log" 2)
sleep 1
: >"$tmp/go4"
i=0
while [ "$(grep -c . "$tmp/topic4" 2>/dev/null || echo 0)" -lt 40 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
ta=$(U=$Ua metric routed_events_accepted_total)
tb=$(U=$Ub metric routed_events_accepted_total)
check "the 40 events are routed on within 20 s, shared between them ($ta and $tb)" \
	sh -c "[ $(grep -c . "$tmp/topic4" 2>/dev/null || echo 0) -eq 40 ] && [ $ta -gt 0 ] && [ $tb -gt 0 ] && [ $((ta + tb)) -eq 40 ]"
kill -TERM "$pidb"
wait "$pidb"
rc=$?
check "B stops (exit $rc), committing what it logged" [ $rc -eq 0 ]
i=0
while [ "$(assigned "$tmp/log" 2)" = "$a2" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
check "A is given both partitions within 30 s, after a revocation ($(rebalances "$tmp/log"))" \
	sh -c "[ $(assigned "$tmp/log" 2) -gt $a2 ] && [ \"$(holds "$tmp/log")\" = 2 ] && grep -q '\"msg\":\"kafka source: partitions revoked\"' '$tmp/log'"
sleep 1
: >"$tmp/go5"
i=0
while [ "$(grep -c . "$tmp/topic4" 2>/dev/null || echo 0)" -lt 60 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
check "A routes the 20 produced after: each of the 60 once ($(grep -c . "$tmp/topic4" 2>/dev/null || echo 0) messages, $(cut -f2 "$tmp/topic4" | jq -r .n | sort -u | wc -l) distinct)" \
	sh -c "[ $(grep -c . "$tmp/topic4" 2>/dev/null || echo 0) -eq 60 ] && [ $(cut -f2 "$tmp/topic4" | jq -r .n | sort -u | wc -l) -eq 60 ]"
stop_routed "SIGTERM: A exits 0"
: >"$tmp/stop4"
wait "$mpid"

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
