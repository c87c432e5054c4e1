#!/bin/sh
# run-reload.sh -- hot reload, systemd notifications and graceful stop, on a
# real routed on loopback (every wait bounded):
#  - state carry-over: a windowed count rule that is unchanged by a reload
#    keeps counting; one whose definition changed starts again from zero;
#  - reload under load: a load generator posts `ping` events without pause
#    while the rules are reloaded several times (SIGHUP and POST
#    /admin/reload), alternating between version A (routes to `a`, sets
#    ver = "A") and B (routes to `b`, sets ver = "B"): every accepted event is
#    delivered exactly once, to a with ver A or to b with ver B (never half on
#    one version), and in seq order the version changes at most once per
#    reload;
#  - an invalid rule file is refused (422 with FILE:LINE:COL and a caret),
#    the rules in use stay; the admin endpoint wants its token (401), and
#    without [admin] token it does not exist (404);
#  - NOTIFY_SOCKET (an abstract socket): READY=1, then RELOADING=1 with
#    MONOTONIC_USEC and READY=1 around each reload, STOPPING=1 at SIGTERM;
#  - SIGTERM under load drains and exits 0.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl jq python3
PY="python3 $top/tests/routed/reload_load.py"
TOKEN=reload-test-token-0123456789
npid=""
lpid=""
cleanup_more() {
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	[ -n "$npid" ] && kill "$npid" 2>/dev/null
}

cat >"$tmp/A.route" <<'ROUTE'
# version A: pings go to a, stamped ver = "A"
event ping v1 { seq: number, ver?: string }
event tick v1 { n: number }
destination a
destination steady_out
destination changed_out
rule stamp on ping set ver = "A"
rule go on ping route a
rule steady on tick when count() >= 5 within 10m route steady_out
rule changed on tick when count() >= 5 within 10m route changed_out
ROUTE
# version B: b instead of a; `steady` unchanged, `changed` over 11 minutes
sed -e 's/"A"/"B"/; s/route a$/route b/; s/^destination a$/destination b/; s/go to a,/go to b,/' \
	-e 's/within 10m route changed_out/within 11m route changed_out/' "$tmp/A.route" >"$tmp/B.route"
# invalid: routes to a destination nobody declares (line 8, column 23)
sed -e 's/route a$/route nowhere/' "$tmp/A.route" >"$tmp/bad.route"
printf '[admin]\ntoken = %s\n[http]\nretry_after = 1\n' "$TOKEN" >"$tmp/r.conf"

# the rules file routed reads, replaced atomically between reloads
use() { cp "$tmp/$1.route" "$tmp/rules.tmp" && mv "$tmp/rules.tmp" "$tmp/rules.route"; }
use A

sock="@routec-reload-test-$$"
$PY notify "$sock" "$tmp/notify" &
npid=$!
i=0
while [ $i -lt 50 ] && ! grep -q bound "$tmp/notify" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
NOTIFY_SOCKET=$sock "$ROUTED" --config "$tmp/r.conf" --listen 127.0.0.1:0 --data-dir "$tmp/data" \
	"$tmp/rules.route" >"$tmp/stdout" 2>"$tmp/log" &
pid=$!
wait_port "$tmp/log"
U=http://127.0.0.1:$port
Q=$tmp/data/queues

admin() { # -> status code; answer in $tmp/admin
	curl -s -m 30 -o "$tmp/admin" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" "$U/admin/reload"
}
metric() { # NAME -> its value (first sample)
	curl -s -m 10 "$U/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'
}
lines() { # QUEUE -> messages in its file
	if [ -f "$Q/$1/messages.ndjson" ]; then grep -c . "$Q/$1/messages.ndjson"; else echo 0; fi
}
routed_all() { # wait (10 s at most) until every accepted event has been matched
	i=0
	while [ $i -lt 100 ]; do
		m=$(curl -s -m 10 "$U/metrics")
		acc=$(echo "$m" | awk '$1 == "routed_events_accepted_total" { print $2 }')
		done_=$(echo "$m" | awk '$1 == "routed_events_matched_total" || $1 == "routed_events_unmatched_total" { s += $2 } END { print s + 0 }')
		[ "$acc" = "$done_" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
ticks() { # N... : post one tick per argument
	for n in "$@"; do
		curl -s -m 10 -o /dev/null -H 'Content-Type: application/json' \
			-d "{\"event_type\":\"tick\",\"n\":$n}" "$U/events"
	done
}
wait_lines() { # QUEUE N: until the queue has N messages (5 s at most)
	i=0
	while [ $i -lt 50 ] && [ "$(lines "$1")" -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
}

# ---- the admin endpoint's door -------------------------------------------------------
code=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -X POST "$U/admin/reload")
check "POST /admin/reload without a token is 401" [ "$code" = 401 ]
code=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -X POST -H 'Authorization: Bearer nope' "$U/admin/reload")
check "... with a wrong token is 401" [ "$code" = 401 ]
code=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$U/admin/reload")
check "GET /admin/reload is 405" [ "$code" = 405 ]
check "the generation is 1 at start" [ "$(metric routed_rules_generation)" = 1 ]

# ---- state carried over for an unchanged rule only -------------------------------------
ticks 1 2 3
routed_all || bad "the first ticks were not routed within 10 s"
use B
code=$(admin)
check "reload to B over the admin endpoint is 200" [ "$code" = 200 ]
check "... generation 2" [ "$(jq -r .generation "$tmp/admin")" = 2 ]
check "... state carried for 1 unchanged rule, 1 changed rule dropped" \
	[ "$(jq -c .carried "$tmp/admin")" = '{"tables":0,"tables_dropped":0,"rules":1,"rules_dropped":1}' ]
check "... lane b opened, lane a retired" [ "$(jq -c '[.lanes_opened, .lanes_retired]' "$tmp/admin")" = '[1,1]' ]
ticks 4 5
routed_all || bad "ticks 4-5 were not routed within 10 s"
wait_lines steady_out 1
check "the unchanged rule kept counting: it fired on the 5th tick" \
	[ "$(jq -c -s 'map(.n)' "$Q/steady_out/messages.ndjson")" = '[5]' ]
check "the changed rule restarted: nothing after 2 of its ticks" [ "$(lines changed_out)" = 0 ]
ticks 6 7 8
routed_all || bad "ticks 6-8 were not routed within 10 s"
wait_lines changed_out 1
check "the changed rule fired on its 5th tick since the reload (n = 8)" \
	[ "$(jq -c -s 'map(.n)' "$Q/changed_out/messages.ndjson" 2>/dev/null)" = '[8]' ]
check "the unchanged one fired on ticks 5 to 8" \
	[ "$(jq -c -s 'map(.n)' "$Q/steady_out/messages.ndjson")" = '[5,6,7,8]' ]
use A
kill -HUP "$pid"
i=0
while [ $i -lt 100 ] && [ "$(metric routed_rules_generation)" != 3 ]; do sleep 0.1; i=$((i + 1)); done
check "SIGHUP reloads (generation 3, back to A)" [ "$(metric routed_rules_generation)" = 3 ]

# ---- reload under load ---------------------------------------------------------------------
$PY load "$port" "$tmp/stop" "$tmp/accepted" >"$tmp/loadres" &
lpid=$!
sleep 0.5
reloads=0
ver=A
gen=3
for step in 1 2 3 4 5 6; do
	if [ $ver = A ]; then ver=B; else ver=A; fi
	use $ver
	gen=$((gen + 1))
	if [ $((step % 2)) = 1 ]; then
		kill -HUP "$pid"
		i=0
		while [ $i -lt 100 ] && [ "$(metric routed_rules_generation)" != $gen ]; do sleep 0.1; i=$((i + 1)); done
		check "under load: SIGHUP reload $step to $ver (generation $gen)" [ "$(metric routed_rules_generation)" = $gen ]
	else
		code=$(admin)
		check "under load: admin reload $step to $ver is 200, generation $gen" \
			[ "$code:$(jq -r .generation "$tmp/admin")" = "200:$gen" ]
	fi
	reloads=$((reloads + 1))
	sleep 0.3
	if [ $step = 3 ]; then # an invalid file in the middle: refused, the rules in use stay
		use bad
		code=$(admin)
		check "under load: an invalid rule file is refused with 422" [ "$code" = 422 ]
		check "... the answer names FILE:LINE:COL" \
			grep -q 'rules.route:8:23: error: unknown destination' "$tmp/admin"
		check "... with the caret line" jq -e '.detail | test("\\^~~~~~~")' "$tmp/admin"
		check "... the generation stays $gen" [ "$(metric routed_rules_generation)" = $gen ]
		check "... routed_reloads_total{result=\"error\"} is 1" \
			[ "$(metric 'routed_reloads_total{result="error"}')" = 1 ]
		use bad
		kill -HUP "$pid"
		i=0
		while [ $i -lt 100 ] && [ "$(metric 'routed_reloads_total{result="error"}')" != 2 ]; do sleep 0.1; i=$((i + 1)); done
		check "... the same by SIGHUP: counted and logged, the rules stay" \
			[ "$(metric 'routed_reloads_total{result="error"}'):$(metric routed_rules_generation)" = "2:$gen" ]
		use $ver
		sleep 0.3
	fi
done
check "reloads_total{result=\"ok\"} counts every successful reload" \
	[ "$(metric 'routed_reloads_total{result="ok"}')" = $((reloads + 2)) ]
touch "$tmp/stop"
i=0
while [ $i -lt 150 ] && kill -0 "$lpid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
wait "$lpid"
lpid=""
cat "$tmp/loadres"
accepted=$(sed -n 's/.*accepted=\([0-9]*\).*/\1/p' "$tmp/loadres")
check "the load generator had events accepted across the reloads (${accepted:-0})" [ "${accepted:-0}" -gt 100 ]
# rule go has no condition: each evaluation is a match, over every generation -- the counts of
# a router's matcher for the old rules are published before it goes (the routers publish
# about once a second)
go_counts() { curl -s "$U/metrics" | awk '$1 == "routed_rule_matches_total{rule=\"go\"}" { m = $2 }
	$1 == "routed_rule_evaluations_total{rule=\"go\"}" { e = $2 } END { print m + 0, e + 0 }'; }
i=0
while [ $i -lt 50 ]; do
	read -r go_m go_e <<EOF2
$(go_counts)
EOF2
	[ "$go_m" -gt 0 ] && [ "$go_m" = "$go_e" ] && break
	sleep 0.1
	i=$((i + 1))
done
check "rule go evaluated as often as it matched ($go_e of $go_m) across $((reloads + 2)) reloads" \
	sh -c "[ '$go_m' -gt 0 ] && [ '$go_m' = '$go_e' ]"

# ---- graceful stop: drain, exit 0 ----------------------------------------------------------
kill -TERM "$pid"
i=0
while [ $i -lt 150 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
wait "$pid"
rc=$?
pid=""
check "SIGTERM: exit 0 (got $rc)" [ $rc -eq 0 ]

# every accepted ping delivered exactly once, to a with ver A or to b with ver B
cat "$Q/a/messages.ndjson" "$Q/b/messages.ndjson" 2>/dev/null | jq -r 'select(.event_type == "ping") | "\(.seq) \(.ver)"' |
	sort -n >"$tmp/got"
awk '{ print $1 }' "$tmp/got" >"$tmp/got_seqs"
sort -n "$tmp/accepted" >"$tmp/acc_sorted"
check "every accepted event delivered (none lost)" [ -z "$(comm -23 "$tmp/acc_sorted" "$tmp/got_seqs" | head -1)" ]
check "... exactly once (no duplicates)" [ -z "$(uniq -d "$tmp/got_seqs" | head -1)" ]
check "... and nothing that was not accepted" [ -z "$(comm -13 "$tmp/acc_sorted" "$tmp/got_seqs" | head -1)" ]
check "every message in a has ver A" [ -z "$(jq -r 'select(.ver != "A") | .seq' "$Q/a/messages.ndjson" | head -1)" ]
check "every message in b has ver B" [ -z "$(jq -r 'select(.ver != "B") | .seq' "$Q/b/messages.ndjson" | head -1)" ]
switches=$(awk '{ if (NR > 1 && $2 != prev) n++; prev = $2 } END { print n + 0 }' "$tmp/got")
check "in seq order the version changed $switches times: at most once per reload ($reloads), at least once" \
	[ "$switches" -ge 1 -a "$switches" -le "$reloads" ]
check "both versions routed part of the load" [ "$(awk '{ print $2 }' "$tmp/got" | sort -u | tr -d '\n')" = AB ]

# ---- the log and the notifications ----------------------------------------------------------
check "a log line for each reload (ok and failed)" \
	[ "$(grep -c '"msg":"reloaded"' "$tmp/log"):$(grep -c '"msg":"reload failed' "$tmp/log")" = "$((reloads + 2)):2" ]
i=0
while [ $i -lt 50 ] && kill -0 "$npid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
# expected: READY, then (RELOADING, READY) per reload attempt, then STOPPING
sed -e 's/|.*//' "$tmp/notify" | grep -v '^bound$' | tr '\n' ' ' >"$tmp/nseq"
want="READY=1 "
n=0
while [ $n -lt $((reloads + 2 + 2)) ]; do want="${want}RELOADING=1 READY=1 "; n=$((n + 1)); done
want="${want}STOPPING=1 "
check "sd_notify: READY=1, RELOADING=1/READY=1 per reload, STOPPING=1, in order" [ "$(cat "$tmp/nseq")" = "$want" ]
check "... each RELOADING=1 carries MONOTONIC_USEC" \
	[ "$(grep -c '^RELOADING=1|MONOTONIC_USEC=[0-9][0-9]*|' "$tmp/notify")" = $((reloads + 4)) ]
npid=""

# ---- without [admin] token the endpoint does not exist ----------------------------------------
"$ROUTED" --listen 127.0.0.1:0 --data-dir "$tmp/data2" "$tmp/A.route" >/dev/null 2>"$tmp/log2" &
pid=$!
wait_port "$tmp/log2"
code=$(curl -s -m 10 -o "$tmp/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	"http://127.0.0.1:$port/admin/reload")
check "without [admin] token, POST /admin/reload is 404" [ "$code" = 404 ]
kill -TERM "$pid"
wait "$pid"
check "... and that routed stops with 0 too" [ $? -eq 0 ]
pid=""
echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
