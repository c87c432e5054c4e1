#!/bin/sh
# run-shards.sh -- routed splits a program's state by key over its shards:
# 3,000 generated events (table updates and deletes, lookups, windows, a
# dedup, and emitted events keyed by another field) posted in order to
# routed with 4 workers must be delivered exactly as `routec run` decides
# them with one state, event by event; the emitted events, which cross
# shards, per region. Then absences: deadlines fire on the shard holding
# their key with no event arriving. Real routed on loopback, every wait
# bounded.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq python3
RULES="$top/tests/routed/shards.route"

python3 - "$tmp/events.ndjson" <<'PY'
import json, random, sys
random.seed(7)
out = open(sys.argv[1], "w")
for i in range(3000):
    c = "c%d" % random.randrange(40)
    k = random.randrange(10)
    if k < 2:
        e = {"event_type": "customer.changed", "id": c, "tier": random.choice(["gold", "silver"])}
    elif k == 2:
        e = {"event_type": "customer.deleted", "id": c}
    elif k < 6:
        e = {"event_type": "order.created", "event_id": "e%d" % i, "order_id": "o%d" % random.randrange(300),
             "customer_id": c, "total": random.randrange(100)}
    else:
        e = {"event_type": "payment.failed", "event_id": "e%d" % i, "customer_id": c,
             "region": "r%d" % random.randrange(5), "amount": random.randrange(20)}
    out.write(json.dumps(e) + "\n")
PY

# expected: one state, in input order (primary events by id; emitted ones counted per region)
"$ROUTEC" compile -o "$tmp/s.rbc" $RULES || exit 1
"$ROUTEC" run "$tmp/s.rbc" "$tmp/events.ndjson" >"$tmp/dec" || exit 1
jq -r '.event_id // "-"' "$tmp/events.ndjson" | paste -d ' ' - "$tmp/dec" |
	while read -r id json; do echo "$json" | jq -r --arg id "$id" '.routes[] | . + " " + $id'; done |
	sort >"$tmp/want"
jq -c '.emit[]?' "$tmp/dec" >"$tmp/emits"
"$ROUTEC" run "$tmp/s.rbc" "$tmp/emits" >"$tmp/edec"
jq -r '.region' "$tmp/emits" | paste -d ' ' - "$tmp/edec" |
	while read -r r json; do echo "$json" | jq -r --arg r "$r" '.routes[] | . + " " + $r'; done |
	sort | uniq -c | sed 's/^ *//' >"$tmp/ewant"
nwant=$(wc -l <"$tmp/want")
nemit=$(wc -l <"$tmp/emits")
check "the generated stream routes many events ($nwant) and emits many ($nemit)" sh -c "[ '$nwant' -gt 1000 ] && [ '$nemit' -gt 300 ]"

printf '[pipeline]\nworkers = 4\nshard_key = event_id\n' >"$tmp/routed.conf"
"$ROUTED" --config "$tmp/routed.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" $RULES \
	>"$tmp/stdout" 2>"$tmp/log" &
pid=$!
wait_port "$tmp/log"
U=http://127.0.0.1:$port
check "routed splits the state over 4 shards" grep -q '"msg":"state split by key over the shards".*"shards":4' "$tmp/log"

split -l 100 "$tmp/events.ndjson" "$tmp/batch."
posted=0
for b in "$tmp"/batch.*; do
	code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$b" "$U/events")
	[ "$code" = 202 ] && posted=$((posted + 1))
done
check "every batch accepted (30 of 30: $posted)" [ "$posted" -eq 30 ]

# wait (bounded) until every expected delivery is in the queues
got_all() {
	n=0
	for q in "$tmp"/data/queues/*/messages.ndjson; do
		[ -f "$q" ] && n=$((n + $(wc -l <"$q")))
	done
	[ "$n" -ge $((nwant + $(awk '{ s += $1 } END { print s + 0 }' "$tmp/ewant"))) ]
}
i=0
while ! got_all && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
# the shards' state figures, summed (published at most once a second)
sleep 1.2
curl -sS --max-time 10 "$U/metrics" >"$tmp/metrics"
keys=$(awk '$1 == "routed_rule_state_keys{rule=\"many\"}" { print $2 }' "$tmp/metrics")
entries=$(awk '$1 == "routed_table_entries{table=\"tier\"}" { print $2 }' "$tmp/metrics")
check "/metrics: the window of rule many holds the 40 customers' keys ($keys)" [ "${keys:-0}" -eq 40 ]
check "/metrics: table tier holds entries over all shards (${entries:-none})" [ "${entries:-0}" -gt 0 ]
if command -v promtool >/dev/null; then
	check "promtool check metrics passes with the state figures" promtool check metrics <"$tmp/metrics"
fi
# every accepted event gets one outcome, also when what it emitted was routed on another shard
outcomes() { curl -sS --max-time 10 "$U/metrics" | awk '/^routed_events_outcome_total/ { s += $2 } END { print s + 0 }'; }
accepted=$(curl -sS --max-time 10 "$U/metrics" | awk '$1 == "routed_events_accepted_total" { print $2 }')
i=0
while [ "$(outcomes)" != "$accepted" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "one outcome per accepted event across the shards ($(outcomes) of $accepted)" [ "$(outcomes)" = "$accepted" ]
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
check "routed drains and exits 0 (got $rc)" [ $rc -eq 0 ]

: >"$tmp/got"
: >"$tmp/egot"
for q in "$tmp"/data/queues/*/; do
	d=$(basename "$q")
	[ -f "$q/messages.ndjson" ] || continue
	jq -r --arg d "$d" 'select(.event_type != "region.alert") | $d + " " + .event_id' "$q/messages.ndjson" >>"$tmp/got"
	jq -r --arg d "$d" 'select(.event_type == "region.alert") | $d + " " + .region' "$q/messages.ndjson" >>"$tmp/egot"
done
sort -o "$tmp/got" "$tmp/got"
sort "$tmp/egot" | uniq -c | sed 's/^ *//' >"$tmp/egot.c"
if cmp -s "$tmp/want" "$tmp/got"; then
	ok "every event delivered as one state decides it ($nwant deliveries)"
else
	bad "deliveries differ from one state's decisions"
	diff "$tmp/want" "$tmp/got" | head -20
fi
if cmp -s "$tmp/ewant" "$tmp/egot.c"; then
	ok "emitted events, routed on their region's shard, fire as often per region as with one state"
else
	bad "emitted events' deliveries per region differ"
	diff "$tmp/ewant" "$tmp/egot.c" | head -20
fi
# ---- deadlines: an absence fires on the shard holding its key, with no event arriving ----
cat >"$tmp/sla.route" <<'ROUTE'
event ticket.created v1 { ticket_id: string }
event ticket.acked v1 { ticket_id: string }
event ticket.breached v1 { ticket_id: string }
destination breaches
rule sla on ticket.created as t unless ticket.acked where ticket_id == t.ticket_id within 1s
  emit ticket.breached { ticket_id: t.ticket_id }
rule esc on ticket.breached route breaches
ROUTE
"$ROUTED" --config "$tmp/routed.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data2" "$tmp/sla.route" \
	>"$tmp/stdout2" 2>"$tmp/log2" &
pid=$!
wait_port "$tmp/log2"
U=http://127.0.0.1:$port
: >"$tmp/sla.ndjson"
for i in $(seq 1 40); do
	printf '{"event_type":"ticket.created","ticket_id":"T%s"}\n' "$i" >>"$tmp/sla.ndjson"
done
for i in $(seq 1 2 40); do # the odd tickets are acknowledged in time
	printf '{"event_type":"ticket.acked","ticket_id":"T%s"}\n' "$i" >>"$tmp/sla.ndjson"
done
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
	--data-binary @"$tmp/sla.ndjson" "$U/events")
check "tickets and acknowledgements accepted ($code)" [ "$code" = 202 ]
q="$tmp/data2/queues/breaches/messages.ndjson"
i=0
while [ $i -lt 100 ] && [ "$( [ -f "$q" ] && wc -l <"$q" || echo 0)" -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1.2 # a second deadline period: nothing more may fire
kill -TERM "$pid"
wait "$pid"
pid=""
got=$(jq -r .ticket_id "$q" 2>/dev/null | sed 's/T//' | sort -n | tr '\n' ' ')
want=$(seq 2 2 40 | tr '\n' ' ')
check "the 20 unacknowledged tickets breached at their deadline, no other ($got)" [ "$got" = "$want" ]

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
