#!/bin/sh
# run-backpressure.sh -- routed acts on the language's `backpressure`: once a
# rule with it fires (here: more than 5 events in 2 s), ingest answers 429
# with Retry-After for [http] retry_after seconds, counts the refusals, and
# accepts again afterwards; the TCP listener stops reading meanwhile (its
# acknowledgement waits until the push-back lapses). Real process on
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
"$ROUTED" --config "$tmp/bp.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" "$tmp/bp.route" \
	>"$tmp/stdout" 2>"$tmp/log" &
pid=$!
wait_port "$tmp/log"
U=http://127.0.0.1:$port

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
T=$(sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p' "$tmp/log")
ack_s=$(python3 - "$T" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t0 = time.monotonic()
s.sendall(b'{"event_type":"tick","n":200}\n')
buf = b""
while b"\n" not in buf:
    d = s.recv(100)
    if not d:
        break
    buf += d
print("%.2f %s" % (time.monotonic() - t0, buf.decode().strip()))
PY
)
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
kill -TERM "$pid"
i=0
while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
wait "$pid"
check "SIGTERM exits 0" [ $? -eq 0 ]
pid=""
echo "run-backpressure: $npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
