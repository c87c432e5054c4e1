#!/bin/sh
# run-webhook.sh -- routed's webhook sink end to end, as real processes on
# loopback: recorder.py (a recording HTTP server with fault modes) behind
# every destination of tests/routed/webhook.route, one mode each. Checks,
# with webhook-check.py reading the recorder's log, the dead-letter queues
# and /metrics: every accepted event is delivered or dead-lettered at every
# destination (never both, never neither); retry gaps within the full-jitter
# bounds; nothing earlier than Retry-After (seconds and HTTP-date); 410 dead-
# lettered after one attempt; a 302 not followed; the dead_letter destination gets the envelope;
# max_age gives up; a hanging destination does not delay a healthy one;
# headers and auth as configured; connections reused; TLS verified against
# ca_file (a server the system CAs do not know is refused); metrics add up and
# pass promtool; SIGTERM with messages still retrying dead-letters them
# after drain_timeout and exits 0. Every wait is bounded.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq python3 openssl
rpid=""
tpid=""
cleanup_more() { # the recorders
	[ -n "$rpid" ] && kill -TERM "$rpid" 2>/dev/null
	[ -n "$tpid" ] && kill -TERM "$tpid" 2>/dev/null
}
RULES="$top/tests/routed/webhook.route"
N=8 # events per phase

# ---- configuration errors --------------------------------------------------------
printf '[destination healthy]\nsink = webhook\n[destination flaky]\nsink = webhook\nurl = ftp://x\ntimeout = 5\nmax_in_flight = 0\nheader = nocolon\n[destination slow]\nsink = queue\nbearer_token = t\n[destination gone]\nsink = webhook\nurl = http://127.0.0.1:1/\nbearer_token = a\nbasic_auth = u:p\n' >"$tmp/bad.conf"
"$ROUTED" --check-config --config "$tmp/bad.conf" $RULES 2>"$tmp/err" >/dev/null
check "a bad webhook config exits 1" [ $? -eq 1 ]
check "sink = webhook without url reported" grep -q "bad.conf:1: .*sink = webhook needs url" "$tmp/err"
check "a url that is not http(s) reported" grep -q "bad.conf:5: url must start with http" "$tmp/err"
check "a timeout without a unit reported" grep -q "bad.conf:6: timeout must be a duration" "$tmp/err"
check "max_in_flight = 0 reported" grep -q "bad.conf:7: max_in_flight must be" "$tmp/err"
check "a header without a colon reported" grep -q "bad.conf:8: header must be 'Name: value'" "$tmp/err"
check "webhook keys with another sink reported" grep -q "bad.conf:9: .*only for sink = webhook" "$tmp/err"
check "bearer_token with basic_auth reported" grep -q "bad.conf:12: .*exclude each other" "$tmp/err"

# ---- the recorder --------------------------------------------------------------------
python3 "$top/tests/routed/recorder.py" "$tmp/recport" "$tmp/rec.ndjson" &
rpid=$!
i=0
while [ ! -s "$tmp/recport" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/recport" ] || { bad "recorder.py did not start"; exit 1; }
R=http://127.0.0.1:$(cat "$tmp/recport")
# the same over TLS, with a self-signed certificate for 127.0.0.1
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 || { bad "openssl could not make a certificate"; exit 1; }
python3 "$top/tests/routed/recorder.py" "$tmp/tlsport" "$tmp/rec.ndjson" "$tmp/cert.pem" "$tmp/key.pem" &
tpid=$!
i=0
while [ ! -s "$tmp/tlsport" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$tmp/tlsport" ] || { bad "recorder.py over TLS did not start"; exit 1; }
T=https://127.0.0.1:$(cat "$tmp/tlsport")

cat >"$tmp/routed.conf" <<EOC
[service]
log_level = info
[pipeline]
drain_timeout = 2
[destination healthy]
sink = webhook
url = $R/ok/healthy
header = X-Test: yes
header = X-Tenant: acme
bearer_token = s3cret
max_in_flight = 4
[destination flaky]
sink = webhook
url = $R/flaky/flaky
max_in_flight = 8
[destination failing]
sink = webhook
url = $R/fail500/failing
max_in_flight = 8
[destination throttled]
sink = webhook
url = $R/throttle/throttled
max_in_flight = 8
[destination gone]
sink = webhook
url = $R/gone/gone
[destination hanging]
sink = webhook
url = $R/hang/hanging
max_in_flight = 8
[destination resetting]
sink = webhook
url = $R/reset/resetting
max_in_flight = 8
[destination slow]
sink = webhook
url = $R/slow/slow
basic_auth = user:pw
# the rules' timeout (3s) wins over this one
timeout = 100ms
max_in_flight = 8
[destination aged]
sink = webhook
url = $R/fail500/aged
max_in_flight = 8
[destination secure]
sink = webhook
url = $T/ok/secure
ca_file = $tmp/cert.pem
[destination untrusted]
sink = webhook
url = $T/ok/untrusted
max_in_flight = 8
[destination redirected]
sink = webhook
url = $R/redirect/redirected
EOC
"$ROUTED" --check-config --config "$tmp/routed.conf" $RULES >"$tmp/out" 2>&1
check "--check-config accepts the webhook config" [ $? -eq 0 ]
cat "$tmp/out"

start() { # starts routed, sets pid and U
	: >"$tmp/log"
	"$ROUTED" --config "$tmp/routed.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" $RULES \
		>"$tmp/stdout" 2>"$tmp/log" &
	pid=$!
	port=""
	i=0
	while [ $i -lt 200 ] && [ -z "$port" ]; do
		port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/log")
		[ -z "$port" ] && sleep 0.1
		i=$((i + 1))
	done
	[ -n "$port" ] || { bad "routed did not start"; cat "$tmp/log"; exit 1; }
	U=http://127.0.0.1:$port
}

events() { # PREFIX: N events with ids PREFIX1..PREFIXN
	j=1
	while [ $j -le $N ]; do
		printf '{"event_type":"t.ev","id":"%s%d","n":%d}\n' "$1" $j $j
		j=$((j + 1))
	done
}

# ---- phase 1: every fault mode, until every message is delivered or dead-lettered ----
start
events a >"$tmp/a.ndjson"
t0=$(python3 -c 'import time; print(time.time())')
code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
	--data-binary @"$tmp/a.ndjson" "$U/events")
check "POST $N events is 202" [ "$code" = 202 ]
# settled: nothing in memory any more (messages retrying or in flight are held in memory)
i=0
while [ $i -lt 300 ]; do # 30 s at most
	curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
	[ "$(awk '$1 == "routed_inflight_bytes" { print $2 }' "$tmp/metrics")" = 0 ] && break
	sleep 0.1
	i=$((i + 1))
done
check "every message delivered or dead-lettered within 30 s" [ $i -lt 300 ]
if command -v promtool >/dev/null; then
	check "promtool check metrics passes with the sink metrics" promtool check metrics <"$tmp/metrics"
else
	echo "(promtool not installed: metric lint skipped)"
fi
python3 "$top/tests/routed/webhook-check.py" phase1 "$tmp/rec.ndjson" "$tmp/data" "$tmp/a.ndjson" "$t0" \
	"$tmp/metrics" >"$tmp/check1"
cat "$tmp/check1"
npass=$((npass + $(grep -c '^PASS' "$tmp/check1")))
nfail=$((nfail + $(grep -c '^FAIL' "$tmp/check1")))
grep -q '^PASS\|^FAIL' "$tmp/check1" || bad "webhook-check.py phase1 reported nothing"

# the built-in dead-letter queues are read and acknowledged like any built-in queue
code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' "$U/queues")
check "GET /queues lists gone.dlq with $N pending" \
	[ "$(jq '.queues[] | select(.name == "gone.dlq") | .pending' "$tmp/body")" = "$N" ]
code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' "$U/queues/gone.dlq?max=100")
nmsg=$(jq '.messages | length' "$tmp/body")
check "GET /queues/gone.dlq is 200 with $N envelopes (got $code, $nmsg)" [ "$code $nmsg" = "200 $N" ]
check "... each with its event" [ "$(jq -r '[.messages[].event.id] | sort | join(" ")' "$tmp/body")" = \
	"$(jq -r -s '[.[].id] | sort | join(" ")' "$tmp/a.ndjson")" ]
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -d "{\"offset\":$(jq .next_offset "$tmp/body")}" \
	"$U/queues/gone.dlq/ack")
check "POST /queues/gone.dlq/ack is 200" [ "$code" = 200 ]
check "GET /queues/healthy is 404 (a webhook destination has no queue)" \
	[ "$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$U/queues/healthy")" = 404 ]

# ---- phase 2: SIGTERM while messages are still retrying -----------------------------------
events b >"$tmp/b.ndjson"
code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
	--data-binary @"$tmp/b.ndjson" "$U/events")
check "POST $N more events is 202" [ "$code" = 202 ]
sleep 0.3
kill -TERM "$pid"
ts=$(python3 -c 'import time; print(time.time())')
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
	bad "routed did not exit within 15 s of SIGTERM"; kill -KILL "$pid"
fi
wait "$pid"
rc=$?
pid=""
te=$(python3 -c 'import time; print(time.time())')
check "SIGTERM with messages retrying: exit 0 (got $rc)" [ $rc -eq 0 ]
check "... within drain_timeout (2 s) + 3 s" python3 -c "import sys; sys.exit(0 if $te - $ts < 5 else 1)"
python3 "$top/tests/routed/webhook-check.py" phase2 "$tmp/rec.ndjson" "$tmp/data" "$tmp/b.ndjson" "$ts" \
	"$tmp/metrics" >"$tmp/check2"
cat "$tmp/check2"
npass=$((npass + $(grep -c '^PASS' "$tmp/check2")))
nfail=$((nfail + $(grep -c '^FAIL' "$tmp/check2")))
grep -q '^PASS\|^FAIL' "$tmp/check2" || bad "webhook-check.py phase2 reported nothing"
n=$(jq -c 'select(.msg == "message given up: dead-lettered")' "$tmp/log" | wc -l)
check "the log has a JSON line for each dead-lettered message ($n)" [ "$n" -gt 0 ]

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
