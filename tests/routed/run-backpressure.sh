#!/bin/sh
# run-backpressure.sh -- routed acts on the language's `backpressure`: once a
# rule with it fires (here: more than 5 events in 2 s), ingest answers 429
# with Retry-After for [http] retry_after seconds, counts the refusals, and
# accepts again afterwards; the TCP listener stops reading meanwhile (its
# acknowledgement waits until the push-back lapses). With `by`, only the
# events of the key it fired for are refused (HTTP, a batch holding one of them,
# TCP), the others accepted meanwhile. Real process on
# loopback, every wait bounded.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl python3

cat >"$tmp/bp.route" <<'ROUTE'
event tick v1 { n: number }
destination sink
rule all on tick route sink
rule overload on tick when count() > 5 within 2s backpressure
ROUTE
printf '[http]\nretry_after = 2\n[tcp]\nlisten = 127.0.0.1:0\n' >"$tmp/bp.conf"
start_bp() { # RULES DATA_DIR: starts routed (common.sh); sets pid, U (HTTP) and T (TCP port)
	start_routed "$2" "$tmp/bp.conf" "$1"
	T=$(sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p' "$tmp/log")
}
tcp_ack() { # LINE: sends it on a new TCP connection; prints "SECONDS REPLY" once answered
	python3 - "$T" "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t0 = time.monotonic()
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while b"\n" not in buf:
    d = s.recv(100)
    if not d:
        break
    buf += d
print("%.2f %s" % (time.monotonic() - t0, buf.decode().strip()))
PY
}
stop_bp() { # SIGTERM, then (10 s at most) routed exits 0
	kill -TERM "$pid"
	i=0
	while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	wait "$pid"
	check "SIGTERM exits 0" [ $? -eq 0 ]
	pid=""
}
start_bp "$tmp/bp.route" "$tmp/data"

post() { # n -> prints the status code; headers in $tmp/h
	curl -s -m 10 -o "$tmp/body" -D "$tmp/h" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"event_type\":\"tick\",\"n\":$1}" "$U/events"
}
# 5 events: the window holds 5, not more than 5: accepted
for n in 1 2 3 4 5; do
	code=$(post $n)
	[ "$code" = 202 ] || bad "event $n answered $code before the limit"
done
ok "the first 5 events are accepted"
# the 6th is accepted too (ingest cannot know yet); routing it fires the rule
code=$(post 6)
check "the 6th event is accepted" [ "$code" = 202 ]
# wait (bounded) until its decision has been made: the next post is refused
i=0
code=202
while [ $i -lt 50 ] && [ "$code" = 202 ]; do
	sleep 0.1
	code=$(post 100)
	i=$((i + 1))
done
check "after the rule fired, ingest answers 429" [ "$code" = 429 ]
check "... with Retry-After: 2" grep -qi '^Retry-After: 2' "$tmp/h"
check "... and a JSON reason" grep -q '"error":"backpressure' "$tmp/body"
# a TCP producer meanwhile: its line is read, but not acknowledged before the push-back lapses
ack_s=$(tcp_ack '{"event_type":"tick","n":200}')
check "TCP: the line is acknowledged ($ack_s)" [ "${ack_s#* }" = "ok 1" ]
check "TCP: ... only after the push-back lapsed (over 0.5 s of the 2 s left)" \
	awk -v t="${ack_s%% *}" 'BEGIN { exit !(t > 0.5) }'
curl -s -m 10 "$U/metrics" >"$tmp/metrics"
check "refusals counted under reason=backpressure" \
	grep -q '^routed_events_rejected_total{reason="backpressure"} [1-9]' "$tmp/metrics"
check "the 429 answers counted" grep -q '^routed_http_requests_total{code="429"} [1-9]' "$tmp/metrics"
# after retry_after (and the 2 s window) without accepted events, ingest accepts again
sleep 2.5
code=$(post 7)
check "after Retry-After, events are accepted again" [ "$code" = 202 ]
stop_bp

# ---- with `by`: only the offending key is pushed back -------------------------------
cat >"$tmp/bpk.route" <<'ROUTE'
event tick v1 { n: number, svc?: string }
destination sink
rule all on tick route sink
rule noisy on tick when count() > 3 within 2s by svc backpressure
ROUTE
start_bp "$tmp/bpk.route" "$tmp/datak"
postk() { # svc n -> prints the status code; headers in $tmp/h
	curl -s -m 10 -o "$tmp/body" -D "$tmp/h" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"event_type\":\"tick\",\"svc\":\"$1\",\"n\":$2}" "$U/events"
}
for n in 1 2 3 4; do
	code=$(postk a $n)
	[ "$code" = 202 ] || bad "svc a: event $n answered $code before the rule fired"
done
ok "svc a: 4 events accepted (the 4th fires the rule)"
i=0
code=202
while [ $i -lt 50 ] && [ "$code" = 202 ]; do
	sleep 0.1
	code=$(postk a 100)
	i=$((i + 1))
done
check "svc a is pushed back: 429" [ "$code" = 429 ]
check "... with Retry-After: 2" grep -qi '^Retry-After: 2' "$tmp/h"
check "... and a reason naming the key" grep -q 'events of a key it pushes back' "$tmp/body"
code=$(postk b 1)
check "svc b is accepted meanwhile" [ "$code" = 202 ]
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
	--data-binary "$(printf '{"event_type":"tick","svc":"b","n":2}\n{"event_type":"tick","svc":"a","n":3}\n')" \
	"$U/events")
check "a batch with one event of svc a is refused whole: 429" [ "$code" = 429 ]
curl -s -m 10 "$U/metrics" >"$tmp/metrics"
check "routed_backpressure_keys is 1" grep -q '^routed_backpressure_keys 1$' "$tmp/metrics"
ack_b=$(tcp_ack '{"event_type":"tick","svc":"b","n":5}')
check "TCP: a line of svc b is acknowledged at once ($ack_b)" \
	awk -v t="${ack_b%% *}" -v r="${ack_b#* }" 'BEGIN { exit !(r == "ok 1" && t < 0.5) }'
ack_a=$(tcp_ack '{"event_type":"tick","svc":"a","n":6}')
check "TCP: a line of svc a waits for the push-back to lapse ($ack_a)" \
	awk -v t="${ack_a%% *}" -v r="${ack_a#* }" 'BEGIN { exit !(r == "ok 1" && t > 0.5) }'
sleep 2.5
code=$(postk a 7)
check "svc a: accepted again after Retry-After" [ "$code" = 202 ]
stop_bp
echo "run-backpressure: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
