#!/bin/sh
# run-ingest.sh -- routed's other ingest paths, as real processes on
# loopback: per-source authentication over HTTP (bearer tokens; HMAC-SHA256
# signatures in the stripe, standard-webhooks and generic schemes: good, bad,
# stale, missing), the TCP JSON-lines listener (acks, a malformed line, a
# line over the size limit, the connection limit, backpressure with a tiny
# memory cap), and --replay from a file and from standard input delivering
# exactly what examples/*.expected says (the checker of run-routed.sh,
# tests/routed/deliveries.sh). Every wait is bounded; nothing listens or is
# contacted beyond 127.0.0.1.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq openssl python3
RULES="$top/examples/support.route $top/examples/leads.route $top/examples/orders.route"
CLIENT="python3 $top/tests/routed/tcp_client.py"
. "$top/tests/routed/deliveries.sh"

start() { # CONF [extra options...]: starts routed, sets pid, U (HTTP base URL) and T (TCP port)
	conf=$1
	shift
	: >"$tmp/log"
	"$ROUTED" --config "$conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" "$@" $RULES \
		>>"$tmp/stdout" 2>"$tmp/log" &
	pid=$!
	port=""
	i=0
	while [ $i -lt 200 ] && [ -z "$port" ]; do # 20 s at most (ASan builds start slower)
		port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/log")
		[ -z "$port" ] && sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$port" ]; then
		bad "routed did not start"; cat "$tmp/log"; exit 1
	fi
	U=http://127.0.0.1:$port
	T=$(sed -n 's/.*"tcp_port":\([0-9]*\).*/\1/p' "$tmp/log")
}

stop() { # sends SIGTERM and waits (bounded) for exit status 0
	kill -TERM "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 "$pid" 2>/dev/null; then
		bad "routed did not exit within 30 s of SIGTERM"; kill -KILL "$pid"; pid=""; return
	fi
	wait "$pid"
	rc=$?
	pid=""
	check "SIGTERM: routed drains and exits 0 (got $rc)" [ $rc -eq 0 ]
}

# post PATH [curl options...]: POSTs $tmp/ev.json; prints the status, body in $tmp/body
post() {
	p=$1
	shift
	curl -sS --max-time 10 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary @"$tmp/ev.json" "$@" "$U$p"
}
reason() { jq -r .reason "$tmp/body"; }
hmac_hex() { # KEY: HMAC-SHA256 of stdin, hex
	openssl dgst -sha256 -hmac "$1" | sed 's/.*= //'
}

# ---- configuration ------------------------------------------------------------------
printf '[source a]\nauth = bearer\n[source b]\nauth = hmac\nsecret = x\nscheme = sha1\ntolerance = 5y\n[source c]\npath = events\ntoken = t\n[tcp]\nlisten = nowhere\n' >"$tmp/bad.conf"
"$ROUTED" --check-config --config "$tmp/bad.conf" $RULES 2>"$tmp/err" >/dev/null
check "a bad [source] or [tcp] section exits 1" [ $? -eq 1 ]
check "bearer without token reported" grep -q "bad.conf:1: \[source a\]: auth = bearer needs token" "$tmp/err"
check "an unknown scheme reported as FILE:LINE" grep -q "bad.conf:6: scheme must be stripe, standard-webhooks or generic" "$tmp/err"
check "a bad tolerance reported" grep -q "bad.conf:7: tolerance must be" "$tmp/err"
check "a path not starting with / reported" grep -q "bad.conf:9: path must start with '/'" "$tmp/err"
check "a token without auth = bearer reported" grep -q "bad.conf:8: \[source c\]: token is only for auth = bearer" "$tmp/err"
check "a bad [tcp] listen reported" grep -q "bad.conf:12: listen must be ADDR:PORT" "$tmp/err"

# ---- per-source authentication ---------------------------------------------------------
SW_KEY=MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw # standard-webhooks secret: whsec_ + base64
cat >"$tmp/auth.conf" <<EOF2
[limits]
max_event_bytes = 64k
[tcp]
listen = 127.0.0.1:0
max_connections = 3
[source shop]
auth = bearer
token = s3cret-token
[source stripe]
auth = hmac
scheme = stripe
secret = whsec_stripe_test
tolerance = 5m
[source sw]
auth = hmac
scheme = standard-webhooks
secret = whsec_$SW_KEY
[source gh]
path = /hooks/github
auth = hmac
scheme = generic
secret = gh-secret
signature_header = X-Hub-Signature-256
timestamp_header = X-Timestamp
tolerance = 60
[source open]
auth = none
EOF2
check "--check-config accepts [source] and [tcp] sections" \
	"$ROUTED" --check-config --config "$tmp/auth.conf" $RULES >/dev/null
start "$tmp/auth.conf"
sed -n 3p "$top/examples/orders.events" | tr -d '\n' >"$tmp/ev.json"
ev=$(cat "$tmp/ev.json")
now=$(date +%s)

check "with [source] sections, POST /events is 404" [ "$(post /events)" = 404 ]
check "bearer: no Authorization is 401" [ "$(post /events/shop)" = 401 ]
check "... reason missing_credentials" [ "$(reason)" = missing_credentials ]
check "... with WWW-Authenticate: Bearer" grep -qi '^WWW-Authenticate: Bearer' "$tmp/headers"
check "bearer: a wrong token is 401" [ "$(post /events/shop -H 'Authorization: Bearer s3cret-tokeN')" = 401 ]
check "... reason bad_token" [ "$(reason)" = bad_token ]
check "bearer: a token prefix is 401" [ "$(post /events/shop -H 'Authorization: Bearer s3cret')" = 401 ]
check "bearer: the right token is 202" [ "$(post /events/shop -H 'Authorization: Bearer s3cret-token')" = 202 ]

sig=$(printf '%s.%s' "$now" "$ev" | hmac_hex whsec_stripe_test)
check "stripe: a good signature is 202" [ "$(post /events/stripe -H "Stripe-Signature: t=$now,v1=$sig")" = 202 ]
check "stripe: v0= and several v1= (one good) is 202" \
	[ "$(post /events/stripe -H "Stripe-Signature: t=$now,v1=$(printf '%064d' 0),v0=abc,v1=$sig")" = 202 ]
badsig=$(printf '%s.%s ' "$now" "$ev" | hmac_hex whsec_stripe_test)
check "stripe: a bad signature is 401" [ "$(post /events/stripe -H "Stripe-Signature: t=$now,v1=$badsig")" = 401 ]
check "... reason bad_signature" [ "$(reason)" = bad_signature ]
check "stripe: the signature of another timestamp is 401" \
	[ "$(post /events/stripe -H "Stripe-Signature: t=$((now + 1)),v1=$sig")" = 401 ]
old=$((now - 400))
oldsig=$(printf '%s.%s' "$old" "$ev" | hmac_hex whsec_stripe_test)
check "stripe: a well-signed but stale timestamp (400 s > 5m) is 401" \
	[ "$(post /events/stripe -H "Stripe-Signature: t=$old,v1=$oldsig")" = 401 ]
check "... reason timestamp_out_of_tolerance" [ "$(reason)" = timestamp_out_of_tolerance ]
future=$((now + 400))
fsig=$(printf '%s.%s' "$future" "$ev" | hmac_hex whsec_stripe_test)
check "stripe: a timestamp 400 s ahead is 401" [ "$(post /events/stripe -H "Stripe-Signature: t=$future,v1=$fsig")" = 401 ]
check "stripe: no Stripe-Signature is 401" [ "$(post /events/stripe)" = 401 ]
check "... reason missing_credentials" [ "$(reason)" = missing_credentials ]
check "stripe: a header without t= is 401" [ "$(post /events/stripe -H "Stripe-Signature: v1=$sig")" = 401 ]
check "... reason malformed_signature" [ "$(reason)" = malformed_signature ]

swkey=$(printf '%s' "$SW_KEY" | openssl base64 -d -A | od -An -tx1 | tr -d ' \n')
swsig=$(printf 'msg_1.%s.%s' "$now" "$ev" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$swkey" -binary | openssl base64 -A)
check "standard-webhooks: a good signature (second of two) is 202" [ "$(post /events/sw -H 'webhook-id: msg_1' \
	-H "webhook-timestamp: $now" -H "webhook-signature: v1,AAAA v1,$swsig")" = 202 ]
check "standard-webhooks: the same signature for another webhook-id is 401" [ "$(post /events/sw -H 'webhook-id: msg_2' \
	-H "webhook-timestamp: $now" -H "webhook-signature: v1,$swsig")" = 401 ]
check "standard-webhooks: no webhook-id is 401" [ "$(post /events/sw \
	-H "webhook-timestamp: $now" -H "webhook-signature: v1,$swsig")" = 401 ]
check "... reason missing_credentials" [ "$(reason)" = missing_credentials ]

ghsig=$(printf '%s.%s' "$now" "$ev" | hmac_hex gh-secret)
check "generic: sha256=HEX in the configured header is 202" \
	[ "$(post /hooks/github -H "X-Timestamp: $now" -H "X-Hub-Signature-256: sha256=$ghsig")" = 202 ]
ghb64=$(printf '%s.%s' "$now" "$ev" | openssl dgst -sha256 -hmac gh-secret -binary | openssl base64 -A)
check "generic: a base64 signature is 202" \
	[ "$(post /hooks/github -H "X-Timestamp: $now" -H "X-Hub-Signature-256: $ghb64")" = 202 ]
check "generic: no timestamp header is 401" [ "$(post /hooks/github -H "X-Hub-Signature-256: sha256=$ghsig")" = 401 ]
check "generic: a stale timestamp (61 s > 60) is 401" [ "$(post /hooks/github -H "X-Timestamp: $((now - 61))" \
	-H "X-Hub-Signature-256: sha256=$(printf '%s.%s' "$((now - 61))" "$ev" | hmac_hex gh-secret)")" = 401 ]
check "generic: a signature that is not hex nor base64 is 401" \
	[ "$(post /hooks/github -H "X-Timestamp: $now" -H "X-Hub-Signature-256: sha256=xyz")" = 401 ]
check "... reason malformed_signature" [ "$(reason)" = malformed_signature ]
check "auth = none: 202 without credentials" [ "$(post /events/open)" = 202 ]
check "a 401 body is JSON naming the source" [ "$(post /events/shop | tr -d '\n'; jq -r .source "$tmp/body")" = "401shop" ]

# ---- TCP JSON lines ------------------------------------------------------------------------
check "the TCP listener logged its port" [ -n "$T" ]
{
	sed -n 1,2p "$top/examples/orders.events"
	printf '{"event_type":"order.created","x":01}\n\n'
	sed -n 3p "$top/examples/orders.events"
	head -c 70000 /dev/zero | tr '\0' 'x'
	printf '\n'
	sed -n 4p "$top/examples/orders.events" | tr -d '\n' # the last line, without its newline
} >"$tmp/lines.ndjson"
$CLIENT send "$T" "$tmp/lines.ndjson" >"$tmp/acks"
check "TCP: one ack per non-blank line, in order" [ "$(cut -d' ' -f1-2 "$tmp/acks" | tr '\n' ' ')" = "ok 1 ok 2 error 3 ok 5 error 6 ok 7 " ]
check "... the malformed line's ack names the reason and byte" grep -qx 'error 3 leading zero in number (byte 34)' "$tmp/acks"
check "... the long line's ack says so" grep -qx 'error 6 line longer than max_event_bytes' "$tmp/acks"
$CLIENT full "$T" >"$tmp/full"
check "TCP: past max_connections (3) a connection gets 'error 0 too many connections'" \
	[ "$(cat "$tmp/full")" = "refused=error 0 too many connections open=3" ]
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
check "metrics: routed_auth_failures_total by source and reason" \
	grep -q '^routed_auth_failures_total{source="stripe",reason="timestamp_out_of_tolerance"} 2$' "$tmp/metrics"
check "metrics: bearer failures counted" grep -q '^routed_auth_failures_total{source="shop",reason="bad_token"} 2$' "$tmp/metrics"
check "metrics: 401 answers counted" grep -q '^routed_http_requests_total{code="401"} [1-9]' "$tmp/metrics"
check "metrics: TCP lines by result" grep -q '^routed_tcp_lines_total{result="ok"} 4$' "$tmp/metrics"
curl -sS --max-time 10 "$U/status.json" >"$tmp/status.json"
check "status.json: the TCP listener is the one source besides HTTP, at its port, 4 lines taken, 2 refused" \
	jq -e --arg w "127.0.0.1:$T" '(.sources | length) == 1 and .sources[0].kind == "tcp" and
		.sources[0].where == $w and .sources[0].taken == 4 and .sources[0].refused == 2' "$tmp/status.json"
if command -v node >/dev/null; then
	curl -sS --max-time 10 -o "$tmp/status.html" "$U/status"
	node "$top/tests/routed/status_page.js" "$tmp/status.html" "$tmp/status.json" >"$tmp/page.json" 2>"$tmp/page.err"
	check "the status page shows the TCP listener in its sources table (node: $(cat "$tmp/page.err"))" \
		jq -e --arg w "127.0.0.1:$T" '.hidden.srcbox == false and .tables.sources[1] == ["tcp", $w, "0 connections", "4", "2", "0"]' \
		"$tmp/page.json"
else
	echo "SKIP: node is not installed: the status page's sources table was not shown"
fi
received=$(awk '$1 == "routed_events_received_total" { print $2 }' "$tmp/metrics")
accepted=$(awk '$1 == "routed_events_accepted_total" { print $2 }' "$tmp/metrics")
rejected=$(awk '/^routed_events_rejected_total/ { n += $2 } END { print n }' "$tmp/metrics")
check "metrics: received ($received) = accepted ($accepted) + rejected ($rejected), 401s and TCP lines included" \
	[ "$received" -eq $((accepted + rejected)) ]
check "metrics: accepted = 7 HTTP + 4 TCP" [ "$accepted" -eq 11 ]
if command -v promtool >/dev/null; then
	check "promtool check metrics passes with sources and TCP" promtool check metrics <"$tmp/metrics"
else
	echo "(promtool not installed: metric lint skipped)"
fi
# SIGTERM with a TCP connection open: its lines answered, then routed closes it and exits 0
$CLIENT hold "$T" "$top/examples/orders.events" >"$tmp/hold" &
hpid=$!
i=0
while [ $i -lt 100 ] && ! grep -q '^acks=' "$tmp/hold"; do sleep 0.1; i=$((i + 1)); done
check "TCP: an open connection's 19 lines are acknowledged ($(cat "$tmp/hold"))" grep -qx 'acks=19' "$tmp/hold"
stop
i=0
while [ $i -lt 100 ] && ! grep -q '^eof=' "$tmp/hold"; do sleep 0.1; i=$((i + 1)); done
wait $hpid
check "... and SIGTERM closes it" grep -qx 'eof=1' "$tmp/hold"

# ---- TCP idle timeout: a connection that sends nothing is closed ----------------------------
tcp_talk() { # half|open|bare LINES: sends LINES (EVENT: the example event) and a newline (bare:
	# none) on a new connection, then closes its sending side (half, bare) or not (open); prints
	# "SECONDS|ANSWERS" (';'-separated) at the close
	python3 - "$T" "$1" "$2" "$tmp/ev.json" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
ev = open(sys.argv[4], "rb").read().rstrip(b"\n")
s.sendall(sys.argv[3].encode().replace(b"EVENT", ev) + (b"" if sys.argv[2] == "bare" else b"\n"))
if sys.argv[2] != "open":
    s.shutdown(socket.SHUT_WR)
t0 = time.monotonic()
buf = b""
while True:
    d = s.recv(100)
    if not d:
        break
    buf += d
print("%.2f|%s" % (time.monotonic() - t0, buf.decode().strip().replace("\n", ";")))
PY
}
tcp_lines() { # LINES: tcp_talk half, the answers only
	tcp_talk half "$1" | sed 's/^[^|]*|//'
}
printf '[tcp]\nlisten = 127.0.0.1:0\nidle_timeout = 1\n' >"$tmp/idle.conf"
start "$tmp/idle.conf"
idle=$(tcp_talk open EVENT)
check "TCP idle: the line is answered, then 'error 0 idle timeout' and the close ($idle)" \
	[ "${idle#*|}" = "ok 1;error 0 idle timeout" ]
check "... after idle_timeout (1 s), not before" awk -v t="${idle%%|*}" 'BEGIN { exit !(t >= 0.9 && t < 5) }'
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
check "... counted in routed_tcp_connections_idle_closed_total" \
	grep -q '^routed_tcp_connections_idle_closed_total 1$' "$tmp/metrics"
stop

# ---- TCP token: the first line must be AUTH TOKEN ------------------------------------------
printf '[tcp]\nlisten = 127.0.0.1:0\ntoken = tcp-s3cret\n' >"$tmp/token.conf"
start "$tmp/token.conf"
got=$(tcp_lines "$(printf 'AUTH tcp-s3cret\n\nEVENT')")
check "TCP token: AUTH then an event: both answered ok ($got)" [ "$got" = "ok 1;ok 3" ]
got=$(tcp_lines "$(printf 'EVENT\nEVENT')")
check "TCP token: an event first: 'error 1 unauthorized', then the close ($got)" [ "$got" = "error 1 unauthorized" ]
got=$(tcp_lines "$(printf 'AUTH tcp-s3cre\nEVENT')")
check "TCP token: a wrong token: the same ($got)" [ "$got" = "error 1 unauthorized" ]
got=$(tcp_talk bare EVENT | sed 's/^[^|]*|//')
check "TCP token: an event alone, without its newline, is not taken either ($got)" [ "$got" = "error 1 unauthorized" ]
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
check "... all counted in routed_tcp_auth_failures_total" grep -q '^routed_tcp_auth_failures_total 3$' "$tmp/metrics"
check "... and only the authenticated event accepted" grep -q '^routed_events_accepted_total 1$' "$tmp/metrics"
stop

# ---- TCP over TLS ([tcp] tls_cert, tls_key), with the token ---------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
printf '[tcp]\nlisten = 127.0.0.1:0\ntoken = tcp-s3cret\nidle_timeout = 1\ntls_cert = %s\ntls_key = %s\n' \
	"$tmp/cert.pem" "$tmp/key.pem" >"$tmp/tls.conf"
printf '[tcp]\nlisten = 127.0.0.1:0\ntls_cert = %s\n' "$tmp/cert.pem" >"$tmp/tls-half.conf"
"$ROUTED" --check-config --config "$tmp/tls-half.conf" $RULES >/dev/null 2>"$tmp/err"
check "TLS: tls_cert without tls_key is a config error (exit 1)" [ $? -eq 1 ]
check "... that says so, at the line" grep -q 'tls-half.conf:3: \[tcp\] tls_cert and tls_key go together' "$tmp/err"
printf '[tcp]\nlisten = 127.0.0.1:0\ntls_cert = %s/nope.pem\ntls_key = %s\n' "$tmp" "$tmp/key.pem" >"$tmp/tls-bad.conf"
timeout 30 "$ROUTED" --config "$tmp/tls-bad.conf" --listen 127.0.0.1:0 --data-dir "$tmp/tlsbad" $RULES \
	>/dev/null 2>"$tmp/err"
check "TLS: an unreadable certificate stops routed at start (exit 3)" [ $? -eq 3 ]
check "... naming the file" grep -q "nope.pem" "$tmp/err"
start "$tmp/tls.conf"
got=$(python3 - "$T" "$tmp/cert.pem" "$tmp/ev.json" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
s.sendall(b"AUTH tcp-s3cret\n" + open(sys.argv[3], "rb").read() + b"\n")
buf = b""
while True: # the answers, then (idle_timeout = 1) the idle close
    try:
        d = s.recv(100)
    except (ssl.SSLError, OSError):
        break
    if not d:
        break
    buf += d
print(s.version() + "|" + buf.decode().strip().replace("\n", ";"))
PY
)
check "TLS: a verified TLS client's AUTH and event are answered ok, then the idle close ($got)" \
	[ "${got#*|}" = "ok 1;ok 2;error 0 idle timeout" ]
check "... over TLS 1.2 or later" [ "${got%%|*}" = TLSv1.3 -o "${got%%|*}" = TLSv1.2 ]
got=$(tcp_lines "$(printf 'AUTH tcp-s3cret\nEVENT')")
check "TLS: a plain TCP client gets nothing back but the close ($got)" [ -z "$got" ]
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
check "... counted in routed_tcp_tls_failures_total" grep -q '^routed_tcp_tls_failures_total 1$' "$tmp/metrics"
check "... and only the TLS client's event accepted" grep -q '^routed_events_accepted_total 1$' "$tmp/metrics"
stop

# ---- TCP backpressure: a tiny memory cap and a stdout sink nobody reads ---------------------
# tcp_client.py starts routed with its stdout on a pipe it does not read: once
# the pipe buffer is full the warehouse_alerts lane blocks, the budget fills,
# and routed stops reading the TCP connection -- acks stall. Reading the pipe
# lets it all through.
cat >"$tmp/bp.conf" <<'EOF2'
[limits]
max_inflight_bytes = 64k
[tcp]
listen = 127.0.0.1:0
[destination warehouse_alerts]
sink = stdout
EOF2
sed -n 15p "$top/examples/orders.events" >"$tmp/alert.json" # inventory.low, out of stock: purchasing + warehouse_alerts
N=3000
$CLIENT backpressure $N "$tmp/alert.json" "$tmp/bp.out" "$tmp/log" \
	"$ROUTED" --config "$tmp/bp.conf" --listen 127.0.0.1:0 --data-dir "$tmp/bpdata" $RULES >"$tmp/bp"
cat "$tmp/bp"
v() { sed -n "s/^$1=//p" "$tmp/bp"; }
if [ "$(v started)" != 1 ]; then
	bad "routed did not start with its stdout on a pipe"; cat "$tmp/log"; exit 1
fi
check "backpressure: acks stall before all $N lines ($(v stalled_acks) acked)" [ "$(v stalled_acks)" -lt $N ]
check "... while routed waits for room (routed_tcp_backpressure_waits_total $(v waits))" [ "$(v waits)" -ge 1 ]
check "... with memory within the cap + one event's fan-out per worker ($(v inflight) <= $(v limit) + 4k)" \
	[ "$(v inflight)" -le $(($(v limit) + 4096)) ]
check "backpressure: once the sink drains, all $N lines are acked ok ($(v ok_acks))" [ "$(v ok_acks)" -eq $N ]
check "... in order" [ "$(v in_order)" = 1 ]
check "... and all $N reached the stdout sink ($(v out_lines))" [ "$(v out_lines)" -eq $N ]
check "... and routed exits 0 on SIGTERM" [ "$(v exit)" = 0 ]
check "... the purchasing queue got all $N too" [ "$(grep -c . "$tmp/bpdata/queues/purchasing/messages.ndjson")" -eq $N ]

# ---- replay ----------------------------------------------------------------------------------
sed -e 's/^max_body_bytes = .*/max_body_bytes = 64k/' "$top/examples/routed.conf" >"$tmp/replay.conf"
printf '[destination analytics]\nsink = file\npath = %s/analytics.ndjson\n' "$tmp" >>"$tmp/replay.conf"
cat "$top/examples/support.events" "$top/examples/leads.events" "$top/examples/orders.events" >"$tmp/all.ndjson"
expected_deliveries "$tmp/expected" || bad "the examples do not compile together"
sort "$tmp/expected" >"$tmp/expected.sorted"
timeout 60 "$ROUTED" --config "$tmp/replay.conf" --data-dir "$tmp/r1" --replay "$tmp/all.ndjson" $RULES \
	>"$tmp/r1.stdout" 2>"$tmp/r1.log"
check "replay FILE exits 0" [ $? -eq 0 ]
got_deliveries "$tmp/r1" "$tmp/r1.stdout" "$tmp/analytics.ndjson" "$tmp/got"
sort "$tmp/got" >"$tmp/got.sorted"
if diff -u "$tmp/expected.sorted" "$tmp/got.sorted"; then
	ok "replay FILE: every example event is in exactly the destinations examples/*.expected names ($(wc -l <"$tmp/got") messages)"
else
	bad "replay FILE: delivered messages differ from examples/*.expected"
fi
check "replay FILE logs its counts" grep -q '"msg":"replay done","lines":58,"accepted":58,"rejected":0' "$tmp/r1.log"
rm -f "$tmp/analytics.ndjson"
timeout 60 "$ROUTED" --config "$tmp/replay.conf" --data-dir "$tmp/r2" --replay - $RULES \
	<"$tmp/all.ndjson" >"$tmp/r2.stdout" 2>"$tmp/r2.log"
check "replay - (stdin) exits 0" [ $? -eq 0 ]
got_deliveries "$tmp/r2" "$tmp/r2.stdout" "$tmp/analytics.ndjson" "$tmp/got"
sort "$tmp/got" >"$tmp/got.sorted"
if diff -u "$tmp/expected.sorted" "$tmp/got.sorted"; then
	ok "replay - (stdin): every example event is in exactly the destinations examples/*.expected names"
else
	bad "replay - (stdin): delivered messages differ from examples/*.expected"
fi
{ sed -n 1,2p "$top/examples/orders.events"; echo '{"event_type":"order.created",}'; echo; echo 'nope'; sed -n 3p "$top/examples/orders.events"; } >"$tmp/some-bad.ndjson"
timeout 60 "$ROUTED" --config "$tmp/replay.conf" --data-dir "$tmp/r3" --replay "$tmp/some-bad.ndjson" $RULES \
	>/dev/null 2>"$tmp/r3.log"
check "replay with rejected lines exits 1" [ $? -eq 1 ]
check "... reporting line 3 with its reason and byte" grep -q "some-bad.ndjson:3: rejected: trailing comma in object (byte 30)" "$tmp/r3.log"
check "... and line 5" grep -q "some-bad.ndjson:5: rejected: " "$tmp/r3.log"
check "... and the good lines still delivered" grep -q '"msg":"replay done","lines":6,"accepted":3,"rejected":2' "$tmp/r3.log"
timeout 60 "$ROUTED" --config "$tmp/replay.conf" --data-dir "$tmp/r4" --replay "$tmp/no-such-file" $RULES >/dev/null 2>&1
check "replay of a missing file exits 3" [ $? -eq 3 ]

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
