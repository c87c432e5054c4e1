#!/bin/sh
# run-rabbitmq.sh -- sink = rabbitmq and the [rabbitmq] source end to end,
# as real processes on loopback: a private RabbitMQ broker started here
# (tests/routed/rmq_broker.sh: its own ports and files, loopback only), the
# AMQP client tests/routed/amqp_tool, and routed with
# tests/routed/rabbitmq.route.
# - 20 events posted as NDJSON arrive in queue "out" in order, as the
#   events' JSON; deliveries and the status page count them.
# - A message no queue takes (routing key "nowhere"), a queue that refuses
#   past its length (nack), a broker that does not answer (SIGSTOP: the
#   attempt's timeout) and one that cannot be reached each fail with their
#   reason, and are retried: the stopped broker's once it answers again, the
#   others until they are dead-lettered into DEST.dlq with the reason.
# - amqps://: a destination verifying the broker's certificate with ca_file
#   delivers over TLS; one that trusts only the system's CAs fails with
#   reason tls; the consumer below reads over TLS too. An exchange that does
#   not exist fails with the broker's reason (the channel closed).
# - [rabbitmq]: routed consumes queue "in" (30 messages, an invalid one and
#   an empty one), routes its 28 events to "out" in order, rejects the
#   invalid one (the broker dead-letters it into "in.dead"), connects again
#   when the broker closes its connections, and has acked every message by
#   the time it has stopped.
# - A full memory budget stops the consumer: the backlog stays in the
#   queue, and is consumed once the destination goes on.
# Every wait is bounded.
set -u
top=${top_srcdir:-.}
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq openssl rabbitmq-server
TOOL=${AMQP_TOOL:-$(dirname "$ROUTED")/tests/routed/amqp_tool}
[ -x "$TOOL" ] || { echo "run-rabbitmq.sh: no $TOOL (make tests/routed/amqp_tool)"; exit 99; }
BROKER="$top/tests/routed/rmq_broker.sh"
RULES="$top/tests/routed/rabbitmq.route"

cleanup_more() {
	[ -n "${bpid:-}" ] && kill -CONT "$bpid" 2>/dev/null
	"$BROKER" stop "$tmp/broker" >/dev/null 2>&1
}
# a certificate for the broker's TLS listener: the name routed checks is localhost (rabbitmq-c
# matches DNS names, not IP addresses)
mkdir -p "$tmp/broker/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$tmp/broker/tls/key.pem" -out "$tmp/broker/tls/cert.pem" >/dev/null 2>&1 ||
	{ bad "openssl could not make a certificate"; exit 1; }
chmod 644 "$tmp/broker/tls/key.pem" # read by the broker, whoever it runs as
CA=$tmp/broker/tls/cert.pem
out=$("$BROKER" start "$tmp/broker") || { bad "the broker did not start"; exit 1; }
bport=$(echo "$out" | sed -n 's/^port=\([0-9]*\).*/\1/p')
tport=$(echo "$out" | sed -n 's/.*tls_port=\([0-9]*\).*/\1/p')
bpid=$(echo "$out" | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
[ -n "$bport" ] && [ -n "$bpid" ] && [ -n "$tport" ] || { bad "the broker said '$out'"; exit 1; }
AMQP=amqp://guest:guest@127.0.0.1:$bport/
AMQPS=amqps://guest:guest@localhost:$tport/
amqp() { "$TOOL" "$AMQP" "$@"; }
amqp declare out && amqp declare tlsout && amqp declare big && amqp declare c7 && amqp exchange ev topic &&
	amqp bind c7 ev c7 && amqp declare full 2 && amqp declare in.dead && amqp declare in 0 in.dead ||
	{ bad "cannot declare the queues"; exit 1; }

# ---- the config ------------------------------------------------------------------------
cat >"$tmp/routed.conf" <<EOF
[service]
log_level = info
[destination to_rmq]
sink = rabbitmq
url = $AMQP
routing_key = out
timeout = 1s
[destination to_full]
sink = rabbitmq
url = $AMQP
routing_key = full
[destination to_lost]
sink = rabbitmq
url = $AMQP
routing_key = nowhere
[destination to_down]
sink = rabbitmq
url = amqp://guest:guest@127.0.0.1:1/
routing_key = out
timeout = 2s
[destination to_tls]
sink = rabbitmq
url = $AMQPS
ca_file = $CA
routing_key = tlsout
[destination to_untrusted]
sink = rabbitmq
url = $AMQPS
routing_key = tlsout
[destination to_noexchange]
sink = rabbitmq
url = $AMQP
exchange = nonexistent
routing_key = out
[destination to_topic]
sink = rabbitmq
url = $AMQP
exchange = ev
routing_key_from = customer
[destination to_big]
sink = rabbitmq
url = $AMQP
routing_key = big
timeout = 2s
EOF
"$ROUTED" --check-config --config "$tmp/routed.conf" $RULES >/dev/null 2>"$tmp/err"
check "--check-config accepts rabbitmq destinations" [ $? -eq 0 ]
printf '[destination to_rmq]\nsink = rabbitmq\nurl = %s\nca_file = %s\nrouting_key = out\n' "$AMQP" "$CA" >"$tmp/bad5.conf"
"$ROUTED" --check-config --config "$tmp/bad5.conf" $RULES >/dev/null 2>"$tmp/err"
check "ca_file with an amqp:// url is refused, naming the section's line" \
	grep -q 'bad5.conf:1: .*ca_file is for an amqps:// url' "$tmp/err"
printf '[destination to_rmq]\nsink = rabbitmq\nrouting_key = out\n[destination to_full]\nexchange = x\n' >"$tmp/bad.conf"
"$ROUTED" --check-config --config "$tmp/bad.conf" $RULES >/dev/null 2>"$tmp/err"
check "a rabbitmq destination without url exits 1" [ $? -eq 1 ]
check "... named with its line" grep -q "bad.conf:1: .*sink = rabbitmq needs an amqp:// or amqps:// url" "$tmp/err"
check "exchange with another sink is named with its line" \
	grep -q "bad.conf:4: .*exchange, routing_key and routing_key_from are only for sink = rabbitmq" "$tmp/err"
printf '[destination to_rmq]\nsink = rabbitmq\nurl = http://127.0.0.1/\nrouting_key = out\n[destination to_full]\nsink = rabbitmq\nurl = %s\n' \
	"$AMQP" >"$tmp/bad2.conf"
"$ROUTED" --check-config --config "$tmp/bad2.conf" $RULES >/dev/null 2>"$tmp/err"
check "an http url for rabbitmq, and neither exchange nor routing_key, are refused with their lines" \
	sh -c "grep -q 'bad2.conf:1: .*needs an amqp:// or amqps:// url' '$tmp/err' && grep -q 'bad2.conf:5: .*needs exchange, routing_key or routing_key_from' '$tmp/err'"
printf '[rabbitmq]\nurl = %s\n[service]\n[rabbitmq]\nprefetch = 0\n' "$AMQP" >"$tmp/bad3.conf"
"$ROUTED" --check-config --config "$tmp/bad3.conf" $RULES >/dev/null 2>"$tmp/err"
check "[rabbitmq] url without queue exits 1, naming the line" \
	sh -c "[ $? -eq 1 ] && grep -q 'bad3.conf:2: \\[rabbitmq\\] url and queue go together' '$tmp/err'"
check "... and prefetch 0 is refused with its line" grep -q 'bad3.conf:5: prefetch' "$tmp/err"
printf '[rabbitmq]\nurl = amqp://127.0.0.1:1/x:y\nqueue = in\n' >"$tmp/bad4.conf"
"$ROUTED" --config "$tmp/bad4.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data4" $RULES >/dev/null 2>"$tmp/err"
check "a [rabbitmq] url that does not parse stops routed at start, with the reason" \
	sh -c "[ $? -ne 0 ] && grep -q 'cannot start the RabbitMQ source.*is not an amqp\[s\]://' '$tmp/err'"

# ---- sink = rabbitmq ---------------------------------------------------------------------
start_routed "$tmp/data" "$tmp/routed.conf" $RULES
t_events 20 "$tmp/body"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/body" "$U/events")
check "20 events accepted (202)" [ "$code" = 202 ]
amqp get out 20 15 >"$tmp/got"
check "queue out got the 20 messages in order, each the event's JSON" \
	[ "$(jq -r .n "$tmp/got" | tr '\n' ' ')" = "$(seq 0 19 | tr '\n' ' ')" ]
check "... and no more" [ "$(amqp count out)" = 0 ]
i=0
while [ "$(metric 'routed_deliveries_total{destination="to_rmq"}')" != 20 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "routed_deliveries_total counts the 20" [ "$(metric 'routed_deliveries_total{destination="to_rmq"}')" = 20 ]
check "the status page shows the destination as a rabbitmq sink" \
	sh -c "curl -s '$U/status.json' | jq -e '.destinations[] | select(.name == \"to_rmq\") | .sink == \"rabbitmq\" and .delivered == 20' >/dev/null"

# unroutable, nacked, unreachable: each fails with its reason, then is dead-lettered
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" "$U/events"; }
check "an event for a routing key no queue is bound to is accepted" \
	[ "$(post '{"event_type":"t.ev","id":"l-1","n":100,"customer":"lost"}')" = 202 ]
printf '{"event_type":"t.ev","id":"f-%d","n":%d,"customer":"full"}\n' 1 101 2 102 3 103 >"$tmp/full"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/full" "$U/events")
check "three events for a queue that holds two are accepted" [ "$code" = 202 ]
check "an event for an unreachable broker is accepted" \
	[ "$(post '{"event_type":"t.ev","id":"d-1","n":104,"customer":"down"}')" = 202 ]
i=0
while [ "$(metric 'routed_dlq_total{destination="to_lost"}')" != 1 ] || [ "$(metric 'routed_dlq_total{destination="to_full"}')" != 3 ] ||
	[ "$(metric 'routed_dlq_total{destination="to_down"}')" != 1 ]; do
	[ $i -ge 150 ] && break
	sleep 0.1
	i=$((i + 1))
done
check "all three dead-lettered within 15 s (lost, full, down: $(metric 'routed_dlq_total{destination="to_lost"}') $(metric 'routed_dlq_total{destination="to_full"}') $(metric 'routed_dlq_total{destination="to_down"}'))" \
	[ "$(metric 'routed_dlq_total{destination="to_lost"}') $(metric 'routed_dlq_total{destination="to_full"}') $(metric 'routed_dlq_total{destination="to_down"}')" = "1 3 1" ]
check "... after 3 attempts each (retry 2)" \
	[ "$(metric 'routed_sink_attempts_total{destination="to_lost"}') $(metric 'routed_sink_attempts_total{destination="to_down"}')" = "3 3" ]
check "the unroutable message's dead letter says why (312 NO_ROUTE)" \
	sh -c "curl -s '$U/queues/to_lost.dlq' | grep -q 'unroutable (312 NO_ROUTE)'"
check "... counted as reason rabbitmq" [ "$(metric 'routed_sink_failures_total{destination="to_lost",reason="rabbitmq"}')" = 3 ]
check "the queue past its length nacked: reason rabbitmq, 'nacked by the broker'" \
	sh -c "[ \"$(metric 'routed_sink_failures_total{destination="to_full",reason="rabbitmq"}')\" -ge 1 ] && curl -s '$U/queues/to_full.dlq' | grep -q 'nacked by the broker'"
check "... and it kept the two it took" [ "$(amqp count full)" = 2 ]
check "the unreachable broker: reason connection, 3 times" \
	[ "$(metric 'routed_sink_failures_total{destination="to_down",reason="connection"}')" = 3 ]
check "... its dead letter says it could not connect" sh -c "curl -s '$U/queues/to_down.dlq' | grep -q 'cannot connect to 127.0.0.1:1'"

amqp get out 5 10 >"$tmp/got1"
check "to_rmq took those five too (every event goes there), in order" \
	[ "$(jq -r .n "$tmp/got1" | tr '\n' ' ')" = "100 101 102 103 104 " ]

# amqps://, waiting for the outcome (?wait): verified with ca_file it delivers; trusting only the
# system's CAs it fails the handshake (reason tls) and is dead-lettered
post_wait() { curl -s -H 'Content-Type: application/json' -d "$1" "$U/events?wait=10s" | jq -r .outcome; }
check "amqps:// with ca_file: delivered over TLS" \
	[ "$(post_wait '{"event_type":"t.ev","id":"t-1","n":150,"customer":"tls"}')" = delivered ]
check "... into queue tlsout" [ "$(amqp get tlsout 1 10 | jq -r .n)" = 150 ]
check "amqps:// without ca_file (a certificate no system CA signed): dead-lettered" \
	[ "$(post_wait '{"event_type":"t.ev","id":"t-2","n":151,"customer":"untrusted"}')" = dead_lettered ]
check "... after 2 attempts failed as reason tls" \
	[ "$(metric 'routed_sink_failures_total{destination="to_untrusted",reason="tls"}')" = 2 ]
check "... its dead letter says the certificate was not verified (failure tls)" \
	sh -c "curl -s '$U/queues/to_untrusted.dlq' | jq -e '.messages[0] | .failure == \"tls\" and
		(.error | endswith(\"(TLS): SSL peer cert verification failed\"))' >/dev/null"
check "an exchange that does not exist: the broker closes the channel, dead-lettered" \
	[ "$(post_wait '{"event_type":"t.ev","id":"x-1","n":152,"customer":"noex"}')" = dead_lettered ]
check "... failed as reason rabbitmq with the broker's 404, twice (retry 1)" \
	sh -c "[ \"$(metric 'routed_sink_failures_total{destination="to_noexchange",reason="rabbitmq"}')\" = 2 ] &&
		curl -s '$U/queues/to_noexchange.dlq' | grep -q 'the broker closed the channel: 404 NOT_FOUND'"
# routing_key_from: each message's routing key is its event's customer, on a topic exchange
# where only c7 is bound: a c7 event lands in queue c7, a c8 one is unroutable
check "routing_key_from = customer: a c7 event delivered through exchange ev" \
	[ "$(post_wait '{"event_type":"t.ev","id":"r-7","n":153,"customer":"c7"}')" = delivered ]
check "... into the queue bound with c7" [ "$(amqp get c7 1 10 | jq -r .n)" = 153 ]
check "... and a c8 event, which no binding takes, dead-lettered" \
	[ "$(post_wait '{"event_type":"t.ev","id":"r-8","n":154,"customer":"c8"}')" = dead_lettered ]
check "... saying which member's key found no queue" \
	sh -c "curl -s '$U/queues/to_topic.dlq' | grep -q \"no queue is bound to exchange 'ev' with the routing key of member customer\""
amqp get out 5 10 >"$tmp/got1b"
check "to_rmq took those five too, over plain AMQP" [ "$(jq -r .n "$tmp/got1b" | tr '\n' ' ')" = "150 151 152 153 154 " ]

# a broker that does not answer: the attempt times out (1 s); once it answers, the retry delivers
kill -STOP "$bpid"
check "with the broker stopped, an event is accepted" \
	[ "$(post '{"event_type":"t.ev","id":"s-1","n":200,"customer":"c9"}')" = 202 ]
i=0
while [ "$(metric 'routed_sink_failures_total{destination="to_rmq",reason="timeout"}')" = 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "... its delivery times out (reason timeout)" \
	[ "$(metric 'routed_sink_failures_total{destination="to_rmq",reason="timeout"}')" -ge 1 ]
kill -CONT "$bpid"
amqp get out 1 15 >"$tmp/got2"
check "... and once the broker answers again, a retry delivers it" [ "$(jq -r .n "$tmp/got2")" = 200 ]
# the timed-out attempt's publish may have reached the queue as well: at least once
amqp get out 5 2 >>"$tmp/got2"
check "... at least once: $(grep -c . "$tmp/got2") copies, each of it" \
	[ "$(jq -r .n "$tmp/got2" | sort -u)" = 200 ]
check "... not dead-lettered" [ "$(metric 'routed_dlq_total{destination="to_rmq"}')" = 0 ]
# a broker that stops reading in the middle of a delivery larger than the sockets' buffers
# (4,000 messages of 3.5 KB, one batch): the write fails within the timeout, rather than
# waiting for the broker without end; once it reads again, a retry delivers them all
pad=$(printf '%3400s' '' | tr ' ' x)
for r in 1 2 3 4; do
	for i in $(seq 1 1000); do
		printf '{"event_type":"t.ev","id":"b-%d-%d","n":%d,"customer":"big","pad":"%s"}\n' $r $i $i "$pad"
	done >"$tmp/big$r"
done
# one message first, so that the destination's connection is up when the broker stops
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"event_type":"t.ev","id":"b-0","n":0,"customer":"big"}' "$U/events"
i=0
while [ "$(metric 'routed_deliveries_total{destination="to_big"}')" != 1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -STOP "$bpid"
for r in 1 2 3 4; do
	curl -s -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/big$r" "$U/events"
done
i=0
while [ "$(metric 'routed_sink_attempts_total{destination="to_big"}')" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
t0=$(date +%s)
i=0
while [ "$(metric 'routed_sink_attempts_total{destination="to_big"}')" -lt 3 ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
check "the 14 MB batch to a broker that does not read fails (reason timeout) and is retried within 15 s ($(($(date +%s) - t0)) s; failures $(curl -s "$U/metrics" | awk '/^routed_sink_failures_total\{destination="to_big"/ && $2 > 0 { printf "%s ", $0 }'))" \
	sh -c "[ \"$(metric 'routed_sink_attempts_total{destination="to_big"}')\" -ge 3 ] &&
		[ \"$(metric 'routed_sink_failures_total{destination="to_big",reason="timeout"}')\" -ge 1 ]"
kill -CONT "$bpid"
i=0
while [ "$(metric 'routed_deliveries_total{destination="to_big"}')" != 4001 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
check "... and once the broker reads again, all 4000 are delivered ($(metric 'routed_deliveries_total{destination="to_big"}') with the first)" \
	[ "$(metric 'routed_deliveries_total{destination="to_big"}')" = 4001 ]
check "... not one dead-lettered" [ "$(metric 'routed_dlq_total{destination="to_big"}')" = 0 ]
stop_routed "SIGTERM: routed exits 0"

# ---- [rabbitmq]: routed consumes a queue, and acks what it logged ------------------------
# queue "in": 30 messages, 28 events, an invalid one (the 8th) and an empty one (the 16th)
source_messages "$tmp/in"
amqp publish in <"$tmp/in" || bad "cannot publish to queue in"
printf '[service]\nlog_level = info\n[rabbitmq]\nurl = %s\nca_file = %s\nqueue = in\nprefetch = 10\n[destination to_rmq]\nsink = rabbitmq\nurl = %s\nrouting_key = out\n' \
	"$AMQPS" "$CA" "$AMQP" >"$tmp/routed2.conf"
start_routed "$tmp/data2" "$tmp/routed2.conf" $RULES
amqp get out 28 20 >"$tmp/got3"
want=$(seq 0 29 | grep -vx -e 7 -e 15 | tr '\n' ' ')
check "[rabbitmq]: the 28 events of queue in reached queue out, in order, within 20 s" \
	[ "$(jq -r .n "$tmp/got3" | tr '\n' ' ')" = "$want" ]
check "... the consumer (over TLS) is logged" \
	grep -q '"msg":"rabbitmq source: consuming","queue":"in","host":"localhost","port":'"$tport" "$tmp/log"
check "... accepted 28, the invalid one refused and counted" \
	[ "$(metric routed_events_accepted_total) $(metric 'routed_events_rejected_total{reason="invalid_event"}')" = "28 1" ]
check "... and logged with its delivery tag" \
	grep -q '"msg":"rabbitmq source: invalid event rejected","queue":"in","delivery_tag":8,' "$tmp/log"
i=0
while [ "$(metric 'routed_rabbitmq_messages_total{result="empty"}')" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "metrics: the source's messages, accepted 28, rejected 1, empty 1" \
	[ "$(metric 'routed_rabbitmq_messages_total{result="accepted"}') $(metric 'routed_rabbitmq_messages_total{result="rejected"}') $(metric 'routed_rabbitmq_messages_total{result="empty"}')" = "28 1 1" ]
check "... one connection, none failed" \
	[ "$(metric 'routed_rabbitmq_connects_total{result="ok"}') $(metric 'routed_rabbitmq_connects_total{result="failed"}')" = "1 0" ]
check "status.json: the RabbitMQ source, queue in over TLS, consuming, 28 events taken, 1 refused" \
	sh -c "curl -s '$U/status.json' | jq -e --arg w 'in at localhost:$tport (TLS)' '(.sources | length) == 1 and
		.sources[0].kind == \"rabbitmq\" and .sources[0].where == \$w and .sources[0].state == \"consuming\" and
		.sources[0].connected and .sources[0].taken == 28 and .sources[0].refused == 1' >/dev/null"
check "the broker dead-lettered the rejected one into in.dead" \
	[ "$(amqp get in.dead 1 10)" = '{"event_type":"t.ev","id":' ]
# a lost connection: the broker closes routed's connections; the consumer opens a new one
# within a second or so, and takes what comes after
( . "$tmp/broker/broker.env" && timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" \
	close_all_connections "closed by run-rabbitmq.sh" ) >"$tmp/ctl.out" 2>&1
check "rabbitmqctl closed routed's connections" [ $? -eq 0 ]
i=0
while [ "$(metric 'routed_rabbitmq_connects_total{result="ok"}')" != 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "the consumer connected again within 10 s" [ "$(metric 'routed_rabbitmq_connects_total{result="ok"}')" = 2 ]
check "... status.json says so: consuming, connects 2" \
	sh -c "curl -s '$U/status.json' | jq -e '.sources[0].state == \"consuming\" and .sources[0].connects == 2' >/dev/null"
check "... and logged why it had to" grep -q 'rabbitmq source: connection lost.*closed by run-rabbitmq.sh' "$tmp/log"
printf '{"event_type":"t.ev","id":"again-%d","n":%d,"customer":"c1"}\n' 300 300 301 301 | amqp publish in
amqp get out 2 20 >"$tmp/got4"
check "... and routes what comes after (the sink reconnecting too)" \
	[ "$(jq -r .n "$tmp/got4" | tr '\n' ' ')" = "300 301 " ]
# the broker's application stops (its durable queues stay): the consumer's connection goes and
# its reconnects fail, which the status page shows, until the broker is back
src_state() { curl -s "$U/status.json" | jq -r '.sources[0] | "\(.state) \(.connected) \(.connect_failures > 0) \(.connects)"'; }
ctl() { ( . "$tmp/broker/broker.env" && timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$RABBITMQ_NODENAME" "$@" ) \
	>>"$tmp/ctl.out" 2>&1; }
await_state() { # WANT TENTHS: src_state says WANT within TENTHS tenths of a second
	i=0
	while [ "$(src_state)" != "$1" ] && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(src_state)" = "$1" ]
}
ctl stop_app
check "rabbitmqctl stop_app" [ $? -eq 0 ]
check "status.json: with the broker stopped the source is disconnected, its connects failing, within 10 s" \
	await_state "disconnected false true 2" 100
ctl start_app
check "rabbitmqctl start_app" [ $? -eq 0 ]
check "... and consuming again (connects 3) within 15 s of the broker's return" await_state "consuming true true 3" 150
if command -v promtool >/dev/null; then
	curl -s "$U/metrics" >"$tmp/metrics"
	check "promtool check metrics passes with the RabbitMQ source" promtool check metrics <"$tmp/metrics"
fi
stop_routed "SIGTERM with a consumer: routed exits 0"
check "queue in is empty once routed has stopped: every message acked (unacked ones would be back)" \
	[ "$(amqp count in)" = 0 ]
check "the log stays JSON lines" jq -e 'select(.level and .msg) | true' "$tmp/log" >/dev/null

# ---- [rabbitmq] under backpressure: a full memory budget stops the reading ----------------
# 2,000 events to a destination whose command waits for a file: the 64 KiB budget fills, the
# consumer stops reading (and acking), so the backlog stays in the queue; once the command
# goes on, everything is consumed and delivered
t_events 2000 "$tmp/many"
amqp publish in <"$tmp/many" || bad "cannot publish to queue in"
cat >"$tmp/routed3.conf" <<EOF
[service]
log_level = info
[limits]
max_inflight_bytes = 65536
[rabbitmq]
url = $AMQP
queue = in
prefetch = 50
[destination to_rmq]
sink = exec
command = while [ ! -f '$tmp/go' ]; do sleep 0.05; done; cat >>'$tmp/exec.out'
timeout = 60s
EOF
start_routed "$tmp/data3" "$tmp/routed3.conf" $RULES
i=0
while [ "$(metric routed_rabbitmq_backpressure_waits_total)" = 0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1
left=$(amqp count in)
check "the budget full, the consumer waits (routed_rabbitmq_backpressure_waits_total $(metric routed_rabbitmq_backpressure_waits_total))" \
	[ "$(metric routed_rabbitmq_backpressure_waits_total)" -ge 1 ]
check "... and the backlog stays in the queue ($left of 2000 ready)" [ "$left" -ge 1000 ]
# (over the cap by at most one event's messages per worker: docs/routed.md, Memory and
# backpressure; here an event's message is under 300 bytes, and there are 2 workers)
check "... memory held at the cap ($(metric routed_inflight_bytes) bytes, the cap 65536)" \
	[ "$(metric routed_inflight_bytes)" -le $((65536 + 2 * 300)) ]
: >"$tmp/go"
i=0
while [ "$(grep -c . "$tmp/exec.out" 2>/dev/null || echo 0)" -lt 2000 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
check "once the destination goes on, all 2000 are consumed and delivered within 30 s ($(grep -c . "$tmp/exec.out" 2>/dev/null || echo 0))" \
	[ "$(grep -c . "$tmp/exec.out" 2>/dev/null || echo 0)" = 2000 ]
check "... in order" [ "$(jq -r .n "$tmp/exec.out" | awk '$1 != NR - 1 { bad = 1 } END { print bad ? "no" : "yes" }')" = yes ]
stop_routed "SIGTERM: routed exits 0"
check "queue in is empty" [ "$(amqp count in)" = 0 ]

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
