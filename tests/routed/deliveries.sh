# deliveries.sh -- sourced by run-routed.sh and run-ingest.sh: what routed
# should deliver for the bundled examples, and what it did deliver, both as
# sorted "destination event_type id" lines (events by their event_id,
# emitted events by their lead_id). Uses ROUTEC, top, RULES and tmp (scratch)
# from the sourcing script.

# expected_deliveries OUT: from examples/*.expected, in input order (unsorted)
expected_deliveries() {
	out=$1
	: >"$out"
	"$ROUTEC" compile -o "$tmp/all.rbc" $RULES || return 1
	for ex in support leads orders; do
		jq -r '.event_id + " " + .event_type' "$top/examples/$ex.events" >"$tmp/ids"
		jq -r '.routes | join(" ")' "$top/examples/$ex.expected" | paste -d ' ' "$tmp/ids" - |
			awk '{ for (i = 3; i <= NF; i++) print $i, $2, $1 }' >>"$out"
		jq -c '.emit[]?' "$top/examples/$ex.expected" >"$tmp/emits"
		if [ -s "$tmp/emits" ]; then
			jq -r '.lead_id + " " + .event_type' "$tmp/emits" >"$tmp/eids"
			"$ROUTEC" run "$tmp/all.rbc" "$tmp/emits" | jq -r '.routes | join(" ")' | paste -d ' ' "$tmp/eids" - |
				awk '{ for (i = 3; i <= NF; i++) print $i, $2, $1 }' >>"$out"
		fi
	done
}

# got_deliveries DATADIR STDOUT ANALYTICS OUT: the built-in queues' files
# under DATADIR, the stdout sink's output (warehouse_alerts) and the file
# sink (analytics), in delivery order per destination (unsorted)
got_deliveries() {
	out=$4
	: >"$out"
	for q in "$1"/queues/*/; do
		d=$(basename "$q")
		jq -r --arg d "$d" '$d + " " + .event_type + " " + (.event_id // .lead_id)' "$q/messages.ndjson" >>"$out"
	done
	jq -r '"warehouse_alerts " + .event_type + " " + .event_id' "$2" >>"$out"
	jq -r '"analytics " + .event_type + " " + .event_id' "$3" >>"$out"
}
