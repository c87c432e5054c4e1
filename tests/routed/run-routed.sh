#!/bin/sh
# run-routed.sh -- routed end to end, as a real process on loopback: the
# command line and config errors, then a routed on the bundled examples
# (examples/routed.conf with a file sink added) fed the example events over
# HTTP with curl. Checks that every event lands in exactly the destinations
# examples/*.expected names (emitted events included), same-type events in
# input order; the 400/413/415/405/404 answers and their JSON reasons;
# CloudEvents structured, batched and binary; reading and acknowledging a
# queue over HTTP (and again after a restart); 503 + Retry-After over the
# memory cap; /metrics adding up (received = accepted + rejected) and passing
# `promtool check metrics` when promtool is installed; SIGTERM exiting 0.
# Every wait is bounded; nothing listens beyond 127.0.0.1.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq
RULES="$top/examples/support.route $top/examples/leads.route $top/examples/orders.route"
. "$top/tests/routed/deliveries.sh"

# ---- command line and configuration -------------------------------------------
check "--help exits 0" "$ROUTED" --help >/dev/null
check "--version exits 0" "$ROUTED" --version >/dev/null
"$ROUTED" >/dev/null 2>&1
check "no RULES is a usage error (2)" [ $? -eq 2 ]
check "--check-config accepts examples/routed.conf" \
	"$ROUTED" --check-config --config "$top/examples/routed.conf" $RULES >/dev/null
printf '[http]\nlisten = 127.0.0.1:1\nbogus = 1\nthreads = 0\n[destination support]\nsink = file\n[weird]\nx\n' >"$tmp/bad.conf"
"$ROUTED" --check-config --config "$tmp/bad.conf" $RULES 2>"$tmp/err" >/dev/null
check "a bad config exits 1" [ $? -eq 1 ]
check "unknown key reported as FILE:LINE" grep -q "bad.conf:3: unknown key 'bogus' in \[http\]" "$tmp/err"
check "bad value reported as FILE:LINE" grep -q "bad.conf:4: threads must be" "$tmp/err"
check "file sink without path reported" grep -q "bad.conf:5: .*sink = file needs path" "$tmp/err"
check "unknown section reported" grep -q "bad.conf:7: unknown section \[weird\]" "$tmp/err"
check "a line that is no key = value reported" grep -q "bad.conf:8: expected 'key = value'" "$tmp/err"
printf '[destination no_such_place]\nsink = stdout\n' >"$tmp/bad2.conf"
"$ROUTED" --check-config --config "$tmp/bad2.conf" $RULES 2>"$tmp/err" >/dev/null
check "a destination the rules do not declare exits 1" [ $? -eq 1 ]
check "... and is reported as FILE:LINE" grep -q "bad2.conf:1: destination 'no_such_place' is not declared" "$tmp/err"
"$ROUTED" --check-config "$top/tests/routed/run-routed.sh" >/dev/null 2>&1
check "RULES that are neither .rbc nor .route exit 1" [ $? -eq 1 ]

# ---- start ------------------------------------------------------------------------
sed -e 's/^max_body_bytes = .*/max_body_bytes = 64k/' -e 's/^rule_cost_every = .*/rule_cost_every = 1/' \
	"$top/examples/routed.conf" >"$tmp/routed.conf"
printf '[destination analytics]\nsink = file\npath = %s/analytics.ndjson\n' "$tmp" >>"$tmp/routed.conf"

start() { # extra options...: starts routed, sets pid and U (the base URL)
	: >"$tmp/log"
	"$ROUTED" --config "$tmp/routed.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" "$@" $RULES \
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

# post CONTENT-TYPE FILE [curl options...]: prints the status code, body in $tmp/body
post() {
	ct=$1
	f=$2
	shift 2
	curl -sS --max-time 10 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -H "Content-Type: $ct" \
		--data-binary @"$f" "$@" "$U/events"
}
get() { curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' "$@"; }
metric() { curl -sS --max-time 10 "$U/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# waits until nothing is left in memory (all events matched and written)
settle() {
	i=0
	while [ $i -lt 100 ]; do
		curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
		[ "$(awk '/^routed_(destination|shard)_queue_depth/ { n += $2 } END { print n + 0 }' "$tmp/metrics")" = 0 ] &&
			[ "$(awk '$1 == "routed_inflight_bytes" { print $2 }' "$tmp/metrics")" = 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	bad "queues did not empty within 10 s"
}

start
check "GET /healthz is 200" [ "$(get "$U/healthz")" = 200 ]
check "GET /readyz is 200" [ "$(get "$U/readyz")" = 200 ]

# ---- the examples --------------------------------------------------------------------
for ex in support leads orders; do
	n=$(grep -c . "$top/examples/$ex.events")
	code=$(post application/x-ndjson "$top/examples/$ex.events")
	check "POST examples/$ex.events (NDJSON) is 202" [ "$code" = 202 ]
	check "... accepting $n events" [ "$(jq .accepted "$tmp/body")" = "$n" ]
done
settle

# expected "destination type id" lines, in input order, and what was
# delivered: the built-in queues' files, the stdout sink, the file sink
expected_deliveries "$tmp/expected" || bad "the examples do not compile together"
got_deliveries "$tmp/data" "$tmp/stdout" "$tmp/analytics.ndjson" "$tmp/got"
sort "$tmp/expected" >"$tmp/expected.sorted"
sort "$tmp/got" >"$tmp/got.sorted"
if diff -u "$tmp/expected.sorted" "$tmp/got.sorted"; then
	ok "every example event (and emitted event) is in exactly the destinations examples/*.expected names ($(wc -l <"$tmp/got") messages)"
else
	bad "delivered messages differ from examples/*.expected"
fi
# same destination and type: input order kept (the default shard key is the
# type), except for the types whose state is split by key over the shards:
# those keep the order of each key (tests/routed/run-shards.sh)
keyed=$(sed -n 's/.*"msg":"state split by key over the shards".*"keyed":"\([^"]*\)".*/\1/p' "$tmp/log" |
	tr ',' '\n' | sed 's/:.*//')
check "the examples' tables split their state by key (keyed types: $(echo $keyed))" [ -n "$keyed" ]
echo "$keyed" | awk 'NF { print " " $1 " " }' >"$tmp/keyed"
grep -v ' [A-Z]-' "$tmp/expected" | grep -v -F -f "$tmp/keyed" | sort -s -k1,2 >"$tmp/expected.order"
grep -v ' [A-Z]-' "$tmp/got" | grep -v -F -f "$tmp/keyed" | sort -s -k1,2 >"$tmp/got.order"
check "events of one type reach each destination in input order ($(wc -l <"$tmp/got.order") checked)" \
	diff -u "$tmp/expected.order" "$tmp/got.order"
check "the urgent ticket reached support with the priority set to high" \
	grep -q '"ticket_id":"T-104234".*"priority":"high"' "$tmp/data/queues/support/messages.ndjson"

# ---- reading and acknowledging a queue -------------------------------------------
pending=$(grep -c . "$tmp/data/queues/support/messages.ndjson")
check "GET /queues/support?max=2 is 200" [ "$(get "$U/queues/support?max=2")" = 200 ]
cp "$tmp/body" "$tmp/batch1"
check "... with 2 messages" [ "$(jq '.messages | length' "$tmp/batch1")" = 2 ]
check "... and pending = every message in the file" [ "$(jq .pending "$tmp/batch1")" = "$pending" ]
get "$U/queues/support?max=2" >/dev/null
check "unacknowledged messages are returned again" cmp -s "$tmp/batch1" "$tmp/body"
next=$(jq .next_offset "$tmp/batch1")
code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -d "{\"offset\":$next}" "$U/queues/support/ack")
check "POST /queues/support/ack is 200" [ "$code" = 200 ]
check "... leaving pending - 2" [ "$(jq .pending "$tmp/body")" = $((pending - 2)) ]
get "$U/queues/support?max=1" >/dev/null
check "the next batch starts at the acknowledged offset" [ "$(jq .offset "$tmp/body")" = "$next" ]
check "... with the third message" [ "$(jq -c '.messages[0]' "$tmp/body")" = "$(sed -n 3p "$tmp/data/queues/support/messages.ndjson")" ]
code=$(curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -d '{"offset":1}' "$U/queues/support/ack")
check "acknowledging an offset that is no message boundary is 400" [ "$code" = 400 ]
check "the ack file records offset and count" [ "$(cat "$tmp/data/queues/support/ack")" = "$next 2" ]
check "GET /queues/no_such_queue is 404" [ "$(get "$U/queues/no_such_queue")" = 404 ]
check "GET /queues/analytics (a file sink) is 404" [ "$(get "$U/queues/analytics")" = 404 ]
check "GET /queues/support?max=0 is 400" [ "$(get "$U/queues/support?max=0")" = 400 ]
check "DELETE /queues/support is 405" [ "$(get -X DELETE "$U/queues/support")" = 405 ]

# ---- refused requests --------------------------------------------------------------
printf '{"event_type":"order.created","event_id":"e1",}' >"$tmp/trailing.json"
check "invalid JSON is 400" [ "$(post application/json "$tmp/trailing.json")" = 400 ]
check "... naming the reason" [ "$(jq -r '.errors[0].reason' "$tmp/body")" = "trailing comma in object" ]
check "... and the byte" [ "$(jq '.errors[0].offset' "$tmp/body")" = 46 ]
sed -n 1p "$top/examples/orders.events" >"$tmp/mixed.ndjson"
printf '\n{"event_type":"order.created","x":01}\n' >>"$tmp/mixed.ndjson"
check "an NDJSON batch with a bad line is 400" [ "$(post application/x-ndjson "$tmp/mixed.ndjson")" = 400 ]
check "... naming its line" [ "$(jq '.errors[0].line' "$tmp/body")" = 3 ]
check "... and event index" [ "$(jq '.errors[0].event' "$tmp/body")" = 1 ]
check "... and nothing of it is accepted" [ "$(jq '.accepted' "$tmp/body")" = 0 ]
head -c 70000 /dev/zero | tr '\0' ' ' >"$tmp/big.json"
check "a body over max_body_bytes is 413" [ "$(post application/json "$tmp/big.json")" = 413 ]
check "a body over max_body_bytes, chunked, is 413" \
	[ "$(post application/json "$tmp/big.json" -H 'Transfer-Encoding: chunked')" = 413 ]
check "an unknown content type is 415" [ "$(post text/plain "$tmp/trailing.json")" = 415 ]
check "... with a JSON reason" jq -e '.error | test("content type")' "$tmp/body" >/dev/null
: >"$tmp/empty"
check "an empty NDJSON body is 400" [ "$(post application/x-ndjson "$tmp/empty")" = 400 ]
check "GET /events is 405" [ "$(get -D "$tmp/headers" "$U/events")" = 405 ]
check "... with Allow: POST" grep -qi '^Allow: POST' "$tmp/headers"
check "... and no Retry-After" sh -c "! grep -qi '^Retry-After' '$tmp/headers'"
check "GET /nowhere is 404" [ "$(get "$U/nowhere")" = 404 ]

# ---- CloudEvents ---------------------------------------------------------------------
cat >"$tmp/ce.json" <<'EOF'
{"specversion":"1.0","id":"ce-1","source":"/shop","type":"inventory.low","data":{"sku":"CE-1","warehouse":"W","on_hand":1,"reorder_point":5}}
EOF
check "structured CloudEvent is 202" [ "$(post application/cloudevents+json "$tmp/ce.json")" = 202 ]
printf '[%s,\n {"specversion":"1.0","id":"ce-3","source":"/shop","type":"inventory.low","data":{"sku":"CE-3","warehouse":"W","on_hand":1,"reorder_point":5}}]' \
	"$(sed 's/ce-1/ce-2/; s/CE-1/CE-2/' "$tmp/ce.json")" >"$tmp/batch.json"
check "batched CloudEvents are 202" [ "$(post application/cloudevents-batch+json "$tmp/batch.json")" = 202 ]
check "... accepting 2" [ "$(jq .accepted "$tmp/body")" = 2 ]
printf '{"sku":"CE-4","warehouse":"W","on_hand":1,"reorder_point":5}' >"$tmp/data.json"
check "binary CloudEvent (ce-* headers) is 202" [ "$(post application/json "$tmp/data.json" \
	-H 'ce-specversion: 1.0' -H 'ce-id: ce-4' -H 'ce-source: /shop' -H 'ce-type: inventory.low' \
	-H 'ce-subject: sku%2FCE-4')" = 202 ]
printf '{"sku":"CE-5","on_hand":1,,}' >"$tmp/baddata.json"
check "binary CloudEvent with invalid data is 400" [ "$(post application/json "$tmp/baddata.json" \
	-H 'ce-specversion: 1.0' -H 'ce-id: ce-5' -H 'ce-source: /shop' -H 'ce-type: inventory.low')" = 400 ]
check "... with the byte offset in the body" [ "$(jq '.errors[0].offset' "$tmp/body")" = 26 ]
check "binary CloudEvent without ce-source is 400" [ "$(post application/json "$tmp/data.json" \
	-H 'ce-specversion: 1.0' -H 'ce-id: ce-6' -H 'ce-type: inventory.low')" = 400 ]
check "... saying so" jq -e '.reason | test("ce-source")' "$tmp/body" >/dev/null
printf '[{"specversion":"1.0"} {"x":1}]' >"$tmp/badbatch.json"
check "a malformed CloudEvents batch is 400" [ "$(post application/cloudevents-batch+json "$tmp/badbatch.json")" = 400 ]
settle
check "the CloudEvents were routed to purchasing" [ "$(jq -r 'select(.specversion) | .id' \
	"$tmp/data/queues/purchasing/messages.ndjson" | sort | tr '\n' ' ')" = "ce-1 ce-2 ce-3 ce-4 " ]
check "the binary-mode event was built with its attributes and data" \
	[ "$(jq -c 'select(.id == "ce-4") | [.subject, .datacontenttype, .data.sku]' \
	"$tmp/data/queues/purchasing/messages.ndjson")" = '["sku/CE-4","application/json","CE-4"]' ]

# ---- metrics --------------------------------------------------------------------------
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
received=$(awk '$1 == "routed_events_received_total" { print $2 }' "$tmp/metrics")
accepted=$(awk '$1 == "routed_events_accepted_total" { print $2 }' "$tmp/metrics")
rejected=$(awk '/^routed_events_rejected_total/ { n += $2 } END { print n }' "$tmp/metrics")
matched=$(awk '$1 == "routed_events_matched_total" { print $2 }' "$tmp/metrics")
unmatched=$(awk '$1 == "routed_events_unmatched_total" { print $2 }' "$tmp/metrics")
check "metrics: received ($received) = accepted ($accepted) + rejected ($rejected)" \
	[ "$received" -eq $((accepted + rejected)) ]
check "metrics: accepted = 58 examples + 4 CloudEvents" [ "$accepted" -eq 62 ]
check "metrics: accepted = matched ($matched) + unmatched ($unmatched)" [ "$accepted" -eq $((matched + unmatched)) ]
by_ingest=$(awk '$1 == "routed_events_routed_total{by=\"ingest\"}" { print $2 }' "$tmp/metrics")
by_worker=$(awk '$1 == "routed_events_routed_total{by=\"worker\"}" { print $2 }' "$tmp/metrics")
check "metrics: every accepted event routed once, by an ingest thread ($by_ingest) or a worker ($by_worker)" \
	[ "$accepted" -eq $((by_ingest + by_worker)) ]
# requests one at a time leave the HTTP threads idle: they route the events themselves
check "metrics: an idle HTTP thread routes the events it accepts (ingest $by_ingest of $accepted)" \
	[ "$by_ingest" -ge $((accepted / 2)) ]
# a few requests one at a time do not load routed: no queue write was left for later
check "metrics: not loaded, no queue write deferred" \
	grep -q '^routed_queue_writes_deferred_total 0$' "$tmp/metrics"
check "metrics: routed_loaded is 0 or 1" grep -qE '^routed_loaded [01]$' "$tmp/metrics"
check "metrics: rule critical matched twice" grep -q '^routed_rule_matches_total{rule="critical"} 2$' "$tmp/metrics"
check "metrics: deliveries to support counted" \
	grep -q "^routed_deliveries_total{destination=\"support\"} $pending\$" "$tmp/metrics"
check "metrics: a decision latency histogram" grep -q '^routed_routing_decision_duration_seconds_count [1-9]' "$tmp/metrics"
# every delivery counted so far wrote a message of an accepted event: one end-to-end sample each
deliveries=$(awk '/^routed_deliveries_total/ { n += $2 } END { print n + 0 }' "$tmp/metrics")
check "metrics: an end-to-end latency sample per delivery ($deliveries)" \
	grep -q "^routed_end_to_end_duration_seconds_count $deliveries\$" "$tmp/metrics"
check "metrics: end-to-end buckets are cumulative and end at +Inf = count" awk '
	/^routed_end_to_end_duration_seconds_bucket/ { if ($2 < last) bad = 1; last = $2; if ($1 ~ /Inf/) inf = $2 }
	$1 == "routed_end_to_end_duration_seconds_count" { cnt = $2 }
	END { exit !(!bad && inf == cnt && cnt > 0) }' "$tmp/metrics"
check "metrics: invalid events counted by reason" grep -q '^routed_events_rejected_total{reason="invalid_event"} [1-9]' "$tmp/metrics"
# the rules' costs: each router publishes them about once a second
cost_ok() { awk '
	match($1, /^routed_rule_(matches_total|evaluations_total|evaluation_seconds_count|evaluation_seconds_sum)\{/) {
		r = $1; sub(/^[^"]*"/, "", r); sub(/".*/, "", r); k = substr($1, 13, RLENGTH - 13); v[k, r] = $2; rules[r] = 1 }
	END { for (r in rules) { n++
		if (v["evaluations_total", r] < v["matches_total", r]) exit 1      # matched, so evaluated
		if (v["evaluation_seconds_count", r] != v["evaluations_total", r]) exit 1 # rule_cost_every = 1
		e += v["evaluations_total", r]; s += v["evaluation_seconds_sum", r] }
		exit !(n > 0 && e > 0 && s > 0) }' "$1"; }
i=0
while [ $i -lt 50 ]; do
	curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics_cost"
	cost_ok "$tmp/metrics_cost" && break
	sleep 0.1
	i=$((i + 1))
done
check "metrics: within 5 s every rule was evaluated at least as often as it matched, each evaluation timed (rule_cost_every = 1), time measured" \
	cost_ok "$tmp/metrics_cost"
check "metrics: the otherwise rule fallback (no condition) evaluated exactly when it matched" \
	[ "$(awk '$1 == "routed_rule_evaluations_total{rule=\"fallback\"}" { print $2 }' "$tmp/metrics_cost")" = \
	  "$(awk '$1 == "routed_rule_matches_total{rule=\"fallback\"}" { print $2 }' "$tmp/metrics_cost")" ]
if command -v promtool >/dev/null; then
	check "promtool check metrics passes on a live /metrics" promtool check metrics <"$tmp/metrics"
else
	echo "(promtool not installed: metric lint skipped)"
fi
# ---- the live status page: /status.json and the page that shows it ---------------------------
curl -sS --max-time 10 "$U/status.json" >"$tmp/status.json"
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics2"
check "status.json: accepted and matched as /metrics says" \
	[ "$(jq -r '"\(.events.accepted) \(.events.matched)"' "$tmp/status.json")" = \
	  "$(awk '$1 == "routed_events_accepted_total" { a = $2 } $1 == "routed_events_matched_total" { m = $2 } END { print a, m }' "$tmp/metrics2")" ]
sed -n 's/^routed_deliveries_total{destination="\([^"]*\)"} \(.*\)$/\1 \2/p' "$tmp/metrics2" | sort >"$tmp/want"
jq -r '.destinations[] | "\(.name) \(.delivered)"' "$tmp/status.json" | sort >"$tmp/got"
check "status.json: every destination of /metrics ($(grep -c . "$tmp/want")), with its deliveries" \
	sh -c "[ -s '$tmp/want' ] && cmp -s '$tmp/want' '$tmp/got'"
check "status.json: no source besides HTTP (no [tcp], [kafka] or [rabbitmq])" \
	jq -e '.sources == []' "$tmp/status.json"
check "status.json: each rule's evaluations as /metrics says" sh -c "
	sed -n 's/^routed_rule_evaluations_total{rule=\"\\([^\"]*\\)\"} \\(.*\\)\$/\\1 \\2/p' '$tmp/metrics2' | sort >'$tmp/want_ev'
	jq -r '.rules_matched[] | \"\\(.name) \\(.evaluations)\"' '$tmp/status.json' | sort >'$tmp/got_ev'
	[ -s '$tmp/want_ev' ] && cmp -s '$tmp/want_ev' '$tmp/got_ev'"
check "status.json: rule critical matched twice, rules generation 1, version" \
	jq -e '(.rules_matched[] | select(.name == "critical") | .matches == 2) and .rules.generation == 1 and (.version | length > 0)' \
	"$tmp/status.json" >/dev/null
check "status.json: the built-in queue support shows its unacknowledged messages ($pending - 2 acknowledged)" \
	jq -e --argjson n "$((pending - 2))" '.destinations[] | select(.name == "support") | .sink == "queue" and .unacknowledged == $n' \
	"$tmp/status.json" >/dev/null
check "GET /status is an HTML page" sh -c "[ \"\$(curl -s -o '$tmp/status.html' -w '%{http_code} %{content_type}' '$U/status')\" = '200 text/html; charset=utf-8' ]"
check "POST /status is 405" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/status")" = 405 ]
if command -v node >/dev/null; then
	node "$top/tests/routed/status_page.js" "$tmp/status.html" "$tmp/status.json" >"$tmp/page.json" 2>"$tmp/page.err"
	check "the status page's script runs on it (node: $(cat "$tmp/page.err"))" [ $? -eq 0 ]
	check "... and shows a row per destination, and the events counted" jq -e --slurpfile s "$tmp/status.json" \
		'(.tables.dests | length) == ($s[0].destinations | length) + 1 and
		 .tables.events[1][1] == ($s[0].events.accepted | tostring) and .fetched == 1' "$tmp/page.json" >/dev/null
	check "... and hides the sources, there being none besides HTTP" jq -e '.hidden.srcbox == true' "$tmp/page.json"
	check "... and shows each rule's matches, evaluations and time per evaluation" jq -e --slurpfile s "$tmp/status.json" \
		'.tables.rules[0] == ["rule", "matches", "evaluations", "us per evaluation"] and
		 (.tables.rules | length) == ($s[0].rules_matched | length) + 1' "$tmp/page.json"
else
	echo "SKIP: node is not installed: the status page's script was not run"
fi
stop
check "the log is JSON lines with levels" jq -e 'select(.level and .msg and .ts) | true' "$tmp/log" >/dev/null

# ---- restart on the same data: the acknowledged offset holds ------------------------------
start
get "$U/queues/support?max=1" >/dev/null
check "after a restart the queue resumes at the acknowledged offset" [ "$(jq .offset "$tmp/body")" = "$next" ]
stop

# ---- concurrent clients: nothing lost, counters and files agree ------------------------------
start --data-dir "$tmp/par"
c=0
while [ $c -lt 8 ]; do
	(
		j=0
		while [ $j -lt 5 ]; do
			curl -sS --max-time 20 -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/x-ndjson' \
				--data-binary @"$top/examples/orders.events" "$U/events"
			j=$((j + 1))
		done
	) >"$tmp/par.$c" &
	c=$((c + 1))
done
wait_clients() { # 60 s at most (each curl is bounded by --max-time too)
	t=0
	for f in 0 1 2 3 4 5 6 7; do
		while [ "$(wc -l <"$tmp/par.$f")" -lt 5 ] && [ $t -lt 600 ]; do sleep 0.1; t=$((t + 1)); done
	done
}
wait_clients
check "8 concurrent clients x 5 batches: every answer is 202" [ "$(cat "$tmp"/par.* | sort -u)" = 202 ]
settle
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
check "metrics: 760 events accepted" grep -q '^routed_events_accepted_total 760$' "$tmp/metrics"
mismatch=""
for q in "$tmp"/par/queues/*/; do
	d=$(basename "$q")
	n=$(grep -c . "$q/messages.ndjson")
	grep -q "^routed_deliveries_total{destination=\"$d\"} $n\$" "$tmp/metrics" || mismatch="$mismatch $d"
done
check "each queue file holds exactly routed_deliveries_total messages (mismatch:$mismatch)" [ -z "$mismatch" ]
check "the payment queue got 40 x 10 orders" [ "$(grep -c . "$tmp/par/queues/payment/messages.ndjson")" = 400 ]
stop

# ---- overload: the memory cap answers 503 with Retry-After --------------------------------
sed -i -e 's/^max_inflight_bytes = .*/max_inflight_bytes = 64k/' -e 's/^max_body_bytes = .*/max_body_bytes = 1M/' "$tmp/routed.conf"
start
i=0
: >"$tmp/over.ndjson"
while [ $i -lt 400 ]; do sed -n 3p "$top/examples/orders.events" >>"$tmp/over.ndjson"; i=$((i + 1)); done
check "a batch larger than max_inflight_bytes is 503" [ "$(post application/x-ndjson "$tmp/over.ndjson")" = 503 ]
check "... with Retry-After" grep -qi '^Retry-After: 1' "$tmp/headers"
check "... and a JSON reason" jq -e '.error | test("overloaded")' "$tmp/body" >/dev/null
check "a small batch is still accepted" [ "$(post application/x-ndjson "$top/examples/orders.events")" = 202 ]
check "metrics: the refusal is counted as overloaded" [ "$(metric 'routed_events_rejected_total{reason="overloaded"}')" = 400 ]
stop

# ---- [service] scheduling: SCHED_BATCH on one CPU (auto), else as configured ------------
sched_of() { # PID: the distinct scheduling policies of its threads (stat field 41; 3 = SCHED_BATCH)
	for t in /proc/"$1"/task/*/stat; do sed 's/.*) //' "$t" | awk '{ print $39 }'; done | sort -u | tr '\n' ' '
}
start_sched() { # CONF-TEXT [taskset CPU]: routed with that config, its log in $tmp/log
	printf '%b' "$1" >"$tmp/sched.conf"
	shift
	: >"$tmp/log"
	rm -rf "$tmp/sched"
	${1:+taskset -c "$1"} "$ROUTED" --config "$tmp/sched.conf" --listen 127.0.0.1:0 --data-dir "$tmp/sched" \
		$RULES 2>"$tmp/log" &
	pid=$!
	wait_port "$tmp/log"
}
cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
start_sched '[service]\nlog_level = info\n' "$cpu"
check "scheduling auto, on one CPU: SCHED_BATCH, logged" \
	grep -q '"msg":"scheduling: SCHED_BATCH","why":"one CPU"' "$tmp/log"
check "... every thread of routed is SCHED_BATCH ($(sched_of "$pid"))" [ "$(sched_of "$pid")" = "3 " ]
stop
start_sched '[service]\nscheduling = normal\n' "$cpu"
check "scheduling = normal, on one CPU: every thread SCHED_OTHER ($(sched_of "$pid"))" [ "$(sched_of "$pid")" = "0 " ]
check "... nothing logged about it" sh -c "! grep -q 'scheduling:' '$tmp/log'"
stop
if [ "$(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')" -gt 1 ]; then
	start_sched '[service]\nlog_level = info\n'
	check "scheduling auto, on more CPUs: SCHED_OTHER ($(sched_of "$pid"))" [ "$(sched_of "$pid")" = "0 " ]
	stop
fi
start_sched '[service]\nlog_level = info\nscheduling = batch\n'
check "scheduling = batch: SCHED_BATCH ($(sched_of "$pid")), logged as configured" \
	sh -c "[ '$(sched_of "$pid")' = '3 ' ] && grep -q '\"why\":\"configured\"' '$tmp/log'"
stop
printf '[service]\nscheduling = fifo\n' >"$tmp/sched.conf"
"$ROUTED" --check-config --config "$tmp/sched.conf" $RULES >/dev/null 2>"$tmp/err"
check "a bad scheduling value exits 1" [ $? -eq 1 ]
check "... naming the line and the choices" grep -q 'sched.conf:2: scheduling must be auto, normal or batch' "$tmp/err"

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
