#!/bin/sh
# run-durable-full.sh -- a full disk (issue #7): routed's data directory on
# a 8 MiB tmpfs, most of it taken by a filler file. A load generator posts
# until routed answers 503 (with Retry-After) for a while, then the filler
# is removed: routed must resume by itself, and every event acknowledged
# before, during and after is delivered (0 lost). Needs mount(2) (root);
# skipped, saying so, when tmpfs cannot be mounted. Bounded: ~20 s.
set -u
. "${top_srcdir:-.}/tests/routed/common.sh"
need curl python3
RULES="$top/tests/routed/durable.route"
TOOL="python3 $top/tests/routed/durable_tool.py"
DATA="$tmp/data"
mkdir -p "$DATA"
if ! mount -t tmpfs -o size=8m tmpfs "$DATA" 2>"$tmp/mount.err"; then
	echo "SKIP: cannot mount a tmpfs (needs root): $(cat "$tmp/mount.err")"
	exit 77
fi
cleanup_more() {
	[ -n "${lpid:-}" ] && kill "$lpid" 2>/dev/null
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	umount "$DATA" 2>/dev/null || umount -l "$DATA"
}
cat >"$tmp/conf" <<CONF
[durability]
segment_bytes = 64k
cursor_interval_ms = 50
CONF
# the filler leaves ~700 KiB: the log and the two queues fill it within a second or two
dd if=/dev/zero of="$DATA/filler" bs=64k count=117 2>/dev/null

start_routed "$DATA" "$tmp/conf" $RULES

$TOOL load "$U/events" "$tmp/acked.1" 10 2 20 full >"$tmp/load.1" &
lpid=$!
# wait (10 s at most) for the disk to fill: 503s counted
i=0
while [ $i -lt 100 ]; do
	f=$(metric routed_log_disk_full_total)
	[ -n "$f" ] && [ "$f" -gt 0 ] && break
	sleep 0.1
	i=$((i + 1))
done
check "the disk fills: routed refuses (routed_log_disk_full_total=$f)" sh -c "[ -n '$f' ] && [ '$f' -gt 0 ]"
sleep 1.5  # a while of refusals
# a probe (trimming can free a segment now and then: up to 20 tries for a 503)
i=0
while [ $i -lt 20 ]; do
	st=$(curl -s --max-time 5 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"event_type\":\"t.ev\",\"id\":\"probe$i\",\"n\":0}" "$U/events")
	[ "$st" = 503 ] && break
	[ "$st" = 202 ] && echo "probe$i" >>"$tmp/acked.1"
	sleep 0.05
	i=$((i + 1))
done
check "a request on the full disk is answered 503 (got $st: $(cat "$tmp/body"))" [ "$st" = 503 ]
check "... with Retry-After" grep -qi '^Retry-After: [0-9]' "$tmp/headers"
check "... saying the disk is full" grep -q 'disk full' "$tmp/body"
kill "$lpid"
wait "$lpid" 2>/dev/null
lpid=""
acked_full=$(wc -l <"$tmp/acked.1")
rm -f "$DATA/filler"
echo "filler removed after $acked_full acknowledged events"
# a short load on the freed space: 2 x 100 batches of 20 (about 0.8 MiB of log and queues)
$TOOL load "$U/events" "$tmp/acked.2" 10 2 20 after 100 >"$tmp/load.2"
cat "$tmp/load.2"
acked_after=$(wc -l <"$tmp/acked.2")
check "routed resumes by itself once space returns ($acked_after acknowledged after)" [ "$acked_after" -gt 0 ]
st=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"event_type":"t.ev","id":"after","n":0}' "$U/events")
check "a request after the space returned is accepted (got $st)" [ "$st" = 202 ]
echo after >>"$tmp/acked.2"
# drained: both cursors at the end of the log
i=0
while [ $i -lt 200 ]; do
	m=$(curl -s --max-time 5 "$U/metrics")
	next=$(echo "$m" | awk '$1 == "routed_log_next_seq" { print $2 }')
	c1=$(echo "$m" | awk '$1 == "routed_log_cursor{destination=\"q1\"}" { print $2 }')
	c2=$(echo "$m" | awk '$1 == "routed_log_cursor{destination=\"q2\"}" { print $2 }')
	[ -n "$next" ] && [ "$c1" = "$next" ] && [ "$c2" = "$next" ] && break
	sleep 0.1
	i=$((i + 1))
done
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
check "SIGTERM exits 0 (got $rc)" [ $rc -eq 0 ]
# a message its sink gave up while the disk was full and could not dead-letter either stays
# in the log (its cursor did not move): a restart routes it again
: >"$tmp/log"
"$ROUTED" --config "$tmp/conf" --listen 127.0.0.1:0 --data-dir "$DATA" $RULES 2>"$tmp/log" &
pid=$!
wait_port "$tmp/log"
U=http://127.0.0.1:$port
echo "restart: $(grep -o '"msg":"log replayed"[^}]*' "$tmp/log")"
i=0
while [ $i -lt 200 ]; do
	m=$(curl -s --max-time 5 "$U/metrics")
	next=$(echo "$m" | awk '$1 == "routed_log_next_seq" { print $2 }')
	behind=$(echo "$m" | awk -v n="$next" '$1 ~ /^routed_log_cursor[{]/ && $2 != n' | wc -l)
	[ -n "$next" ] && [ "$behind" -eq 0 ] && break
	sleep 0.1
	i=$((i + 1))
done
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
check "restart after the full disk: SIGTERM exits 0 (got $rc)" [ $rc -eq 0 ]
if $TOOL check "$tmp/acked.*" "$DATA/queues/q1/messages.ndjson" "$DATA/queues/q2/messages.ndjson"; then
	ok "full disk: 0 acknowledged events lost"
else
	bad "full disk: acknowledged events lost"
fi

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
