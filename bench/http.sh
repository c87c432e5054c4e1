#!/bin/bash
# http.sh -- HTTP ingest benchmark of routed against nginx (issue 6, Speed; not part of
# `make check`). See bench/README.md, "HTTP ingest benchmark".
#
#   bench/http.sh [ROUTED-CONFIG]
#
# 1. single events: wrk POSTs one 1.2 KB JSON event to routed (POST /events,
#    example rules, built-in queues in a temporary data directory) and the same
#    request to nginx answering `return 204;`, same wrk threads, connections and
#    duration, REPEATS times alternating; prints the medians of requests/s and
#    p99 and the ratios routed / nginx against the targets (>= 0.7x, <= 1.5x).
#    A third server, the floor (bench/http_floor.c), runs in the same rounds:
#    libmicrohttpd with routed's flags and threads, answering 202 once the
#    body is appended to a log and fdatasync'ed in a group commit, and
#    nothing else. floor / nginx bounds what routed can reach here with
#    routed's promise (202 only once the event is durable); routed / floor is
#    routed's own cost.
# 2. NDJSON: batches of 100 events, routed pinned to one CPU with taskset (wrk
#    on the other ones); accepted events/s (from routed_events_accepted_total),
#    routed's CPU time per accepted event (/proc: steal is not in it, so it
#    varies less between runs), and the floor pinned the same way (its
#    events/s: requests/s x 100). Also routed on the same CPU with the example
#    files' rules taken out (contracts and destinations kept): ingest alone,
#    so the CPU per event it leaves is routing and delivery.
# 3. latency at half load: wrk paced to about half of the single-event maximum
#    of step 1; p50/p99 of routed_end_to_end_duration_seconds (logged ->
#    written by the sink) and routed_routing_decision_duration_seconds, from
#    the bucket deltas of /metrics before and after (linear within a bucket).
#
# ROUTED-CONFIG (optional; also $ROUTED_CONFIG) is passed to routed with
# --config; the listen address and the data directory are always overridden
# (-l 127.0.0.1:0, -d TMP). Environment: BUILD (build directory with routed),
# ROUTED, DURATION (s per run, 5), REPEATS (3), CONNS (32), WRK_THREADS (2),
# NGINX_WORKERS (routed's [http] threads), PIN_CPU (routed's CPU in step 2,
# the last one), SKIP (steps to leave out: "single", "ndjson", "latency";
# latency needs single), KEEP=1.
# FLOOR (the floor's binary; default BUILD/bench/http_floor, built with
# `make -C BUILD bench/http_floor` when missing).
# Installs nothing: it needs wrk, nginx (nginx-light), curl and python3.
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
die() { echo "http.sh: $*" >&2; exit 1; }

for tool in wrk curl python3 taskset; do
	command -v "$tool" >/dev/null || die "$tool is needed (Debian: apt-get install $tool)"
done
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || die "nginx is needed (Debian: apt-get install nginx-light)"

if [ -z "${BUILD:-}" ]; then
	if [ -x ./routed ]; then BUILD=$(pwd)
	elif [ -x "$src/routed" ]; then BUILD=$src
	elif [ -x "$src/../build/routed" ]; then BUILD=$(cd "$src/../build" && pwd)
	else die "no build directory found: set BUILD=/path/to/build (with routed)"
	fi
fi
ROUTED=${ROUTED:-$BUILD/routed}
[ -x "$ROUTED" ] || die "no routed at $ROUTED"
CONF=${1:-${ROUTED_CONFIG:-}}
[ -z "$CONF" ] || [ -r "$CONF" ] || die "cannot read the config file $CONF"
FLOOR=${FLOOR:-$BUILD/bench/http_floor}
if [ ! -x "$FLOOR" ] && [ "$FLOOR" = "$BUILD/bench/http_floor" ]; then
	make -C "$BUILD" bench/http_floor >/dev/null || die "cannot build $FLOOR (make -C $BUILD bench/http_floor)"
fi
[ -x "$FLOOR" ] || die "no floor server at $FLOOR"
DURATION=${DURATION:-5}
REPEATS=${REPEATS:-3}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
SKIP=${SKIP:-}
NCPU=$(nproc)
PIN_CPU=${PIN_CPU:-$((NCPU - 1))}
RULES=("$src/examples/support.route" "$src/examples/leads.route" "$src/examples/orders.route")
ROUTED_RULES=("${RULES[@]}")
case $REPEATS in ''|*[!0-9]*|0) die "REPEATS must be a positive integer" ;; esac

# routed's HTTP threads: from the config's [http] threads, else routed's default, 2 (1 on a
# single CPU: step 2's routed, pinned to one, takes 1, and so does the floor beside it)
conf_threads=""
if [ -n "$CONF" ]; then
	conf_threads=$(awk '/^\[/ { s = $0 } s == "[http]" && $1 == "threads" { print $3 }' "$CONF")
fi
http_threads=${conf_threads:-$((NCPU > 1 ? 2 : 1))}
NGINX_WORKERS=${NGINX_WORKERS:-$http_threads}
# the floor syncs as routed's log does: not at all with [durability] sync = none, else each batch
floor_sync=always
if [ -n "$CONF" ]; then
	t=$(awk '/^\[/ { s = $0 } s == "[durability]" && $1 == "sync" { print $3 }' "$CONF")
	[ "$t" = none ] && floor_sync=none
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/routed-httpbench.XXXXXX") || die "mktemp failed"
rpid="" npid="" fpid=""
cleanup() {
	[ -n "$rpid" ] && kill -TERM "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
	[ -n "$fpid" ] && kill -TERM "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
	[ -n "$npid" ] && kill -QUIT "$npid" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "http.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# settle: what the last run left to write back (and, on a disk mounted with discard, to
# discard: a removed data directory, the floor's truncated log) is done before the next run
settle() { sync; sleep 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# ---- data -----------------------------------------------------------------------
# The events are the examples' own, chosen among those that no throttled
# destination takes: the examples throttle a few destinations to 10-200
# messages/s by design (a dialer, a migration tool), and the excess waits in
# memory until the cap answers 503 -- a benchmark through them would measure
# those policies. `routec run` says where each example event goes.
ROUTEC=${ROUTEC:-$BUILD/routec}
[ -x "$ROUTEC" ] || die "no routec at $ROUTEC"
cat "$src"/examples/{support,leads,orders}.events >"$work/all.events"
"$ROUTEC" compile -o "$work/rules.rbc" "${RULES[@]}" >/dev/null || die "cannot compile the example rules"
"$ROUTEC" run "$work/rules.rbc" "$work/all.events" >"$work/all.routes" || die "routec run failed"
python3 - "$work" "${RULES[@]}" <<'EOF' || die "cannot generate the events"
import json, re, sys
work, rules = sys.argv[1], sys.argv[2:]
throttled = set()
for f in rules:
    text = re.sub(r"#[^\n]*", "", open(f).read())
    for name, body in re.findall(r"destination\s+(\w+)\s*\{([^}]*)\}", text):
        if re.search(r"\bthrottle\b", body):
            throttled.add(name)
evs = [json.loads(l) for l in open(work + "/all.events") if l.strip()]
routes = [json.loads(l) for l in open(work + "/all.routes") if l.strip()]
free = [(e, r["routes"]) for e, r in zip(evs, routes) if r["routes"] and not set(r["routes"]) & throttled]
assert free, "every example event goes to a throttled destination"
# single: the first event with the widest fan-out, padded to 1200 bytes (a
# "note" member; contracts allow extra members)
ev, dests = max(free, key=lambda x: len(x[1]))
ev = dict(ev)
ev["note"] = ""
base = len(json.dumps(ev, separators=(",", ":")))
ev["note"] = "x" * (1200 - base)
s = json.dumps(ev, separators=(",", ":"))
assert len(s) == 1200
open(work + "/event.json", "w").write(s)
open(work + "/event.about", "w").write("%s to %s" % (ev.get("event_type"), ", ".join(dests)))
# NDJSON: 100 events, those example events cycled with their ids made unique
out = []
for i in range(100):
    e = dict(free[i % len(free)][0])
    if "event_id" in e:
        e["event_id"] = "%s-%d" % (e["event_id"], i)
    out.append(json.dumps(e, separators=(",", ":")))
open(work + "/batch.ndjson", "w").write("\n".join(out) + "\n")
open(work + "/batch.about", "w").write("%d of the %d example events (%d to a throttled destination left out)"
    % (len(free), len(evs), sum(1 for r in routes if set(r["routes"]) & throttled)))
EOF
batch_bytes=$(wc -c <"$work/batch.ndjson")
# Ingest alone, for step 2: the example files with their rules and tests taken out (each
# such block runs to the next blank line), so routed validates, logs and answers the same
# events and routes them nowhere; the difference in CPU per event is routing and delivery.
mkdir -p "$work/bare"
cp -r "$src/examples/contracts" "$work/bare/"
BARE=()
for f in "${RULES[@]}"; do
	awk '/^(rule|test)[ \t]/ { skip = 1 } skip && /^[ \t]*$/ { skip = 0 } !skip' "$f" >"$work/bare/$(basename "$f")"
	BARE+=("$work/bare/$(basename "$f")")
done
if grep -q '^rule' "${BARE[@]}" || ! "$ROUTEC" compile -o "$work/bare.rbc" "${BARE[@]}" 2>"$work/bare.err"; then
	echo "http.sh: the examples without their rules do not compile; no ingest-alone run" >&2
	BARE=()
fi

# ---- servers ----------------------------------------------------------------------
start_nginx() {
	nport=$(free_port)
	mkdir -p "$work/nginx/logs"
	cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$nport;
		location / { return 204; }
	}
}
EOF
	"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr" &
	npid=$!
	local i=0
	until curl -s -o /dev/null "http://127.0.0.1:$nport/"; do
		i=$((i + 1)); [ $i -gt 100 ] && { cat "$work/nginx/stderr" >&2; die "nginx did not start"; }
		sleep 0.1
	done
}

# start_routed [taskset CPU-LIST]: a fresh data directory each time, the rules in ROUTED_RULES
start_routed() {
	local pre=() i=0
	[ $# -gt 0 ] && pre=(taskset -c "$1")
	rm -rf "$work/data"
	: >"$work/routed.log"
	"${pre[@]}" "$ROUTED" ${CONF:+--config "$CONF"} -d "$work/data" -l 127.0.0.1:0 --log-level info \
		"${ROUTED_RULES[@]}" 2>"$work/routed.log" &
	rpid=$!
	rport=""
	while [ -z "$rport" ]; do
		i=$((i + 1)); [ $i -gt 200 ] && { cat "$work/routed.log" >&2; die "routed did not start"; }
		kill -0 "$rpid" 2>/dev/null || { cat "$work/routed.log" >&2; die "routed exited"; }
		rport=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$work/routed.log")
		[ -z "$rport" ] && sleep 0.1
	done
	until curl -sf -o /dev/null "http://127.0.0.1:$rport/readyz"; do sleep 0.1; done
}
stop_routed() {
	kill -TERM "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	rpid=""
}

# start_floor [taskset CPU-LIST]: the floor server on a fresh log directory
start_floor() {
	local pre=() i=0
	[ $# -gt 0 ] && pre=(taskset -c "$1")
	fport=$(free_port)
	rm -rf "$work/floor"
	mkdir -p "$work/floor"
	"${pre[@]}" "$FLOOR" --sync "$floor_sync" ${conf_threads:+--threads "$conf_threads"} "$fport" "$work/floor" \
		>"$work/floor.log" 2>&1 &
	fpid=$!
	until curl -sf -o /dev/null "http://127.0.0.1:$fport/"; do
		i=$((i + 1)); [ $i -gt 100 ] && { cat "$work/floor.log" >&2; die "the floor server did not start"; }
		kill -0 "$fpid" 2>/dev/null || { cat "$work/floor.log" >&2; die "the floor server exited"; }
		sleep 0.1
	done
}
stop_floor() {
	kill -TERM "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
	fpid=""
}

# run_wrk NAME URL BODY CTYPE [taskset CPUS]: one wrk run, appends "NAME RESULT..." to results
run_wrk() {
	local name=$1 url=$2 body=$3 ctype=$4 pre=() out
	[ $# -gt 4 ] && pre=(taskset -c "$5")
	settle
	out=$("${pre[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s -s "$here/http_post.lua" \
		"$url" -- "$body" "$ctype" 2>&1)
	line=$(grep '^RESULT' <<<"$out")
	[ -n "$line" ] || { echo "$out" >&2; die "wrk failed on $url"; }
	echo "$name $line" >>"$work/results"
	printf '    %-8s %9.0f req/s  p50 %6d us  p99 %6d us  errors %s/%s\n' "$name" "$(kv ok_rps "$line")" \
		"$(kv p50_us "$line")" "$(kv p99_us "$line")" "$(kv status_errors "$line")" "$(kv errors "$line")" >&2
}
col() { awk -v n="$1" -v k="$2" '$1 == n { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$work/results"; }
metric() { curl -s "http://127.0.0.1:$rport/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

cpu_name=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
echo "routed HTTP ingest benchmark"
echo "  routed : $ROUTED ($("$ROUTED" --version 2>/dev/null | head -1))${CONF:+, config $CONF}"
echo "  nginx  : $("$NGINX" -v 2>&1 | sed 's/.*: //'), worker_processes $NGINX_WORKERS (= routed's [http] threads $http_threads)"
echo "  floor  : $FLOOR, threads as routed's, sync $floor_sync"
echo "  wrk    : $WRK_THREADS threads, $CONNS connections, ${DURATION}s per run, $REPEATS runs each, alternating"
echo "  host   : ${cpu_name:-unknown cpu}, $NCPU cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  rules  : examples/{support,leads,orders}.route, built-in queues in a temporary data directory"
echo "  single : $(cat "$work/event.about"), padded to 1200 bytes"
echo "  ndjson : $(cat "$work/batch.about")"
echo

# ---- 1. single events --------------------------------------------------------------
: >"$work/results"
n_rps=- r_rps=- n_p99=- r_p99=- n_p50=- r_p50=- r_err=- r_serr=0 f_rps=- f_p50=- f_p99=-
if [[ " $SKIP " != *" single "* ]]; then
start_nginx
start_floor
start_routed
R=http://127.0.0.1:$rport/events N=http://127.0.0.1:$nport/ F=http://127.0.0.1:$fport/events
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$work/event.json" "$R")
[ "$code" = 202 ] || die "routed answered $code to the benchmark event"
echo "1. single 1.2 KB events (POST, keep-alive)" >&2
DURATION=1 run_wrk warmup "$N" "$work/event.json" application/json
DURATION=1 run_wrk warmup "$F" "$work/event.json" application/json
DURATION=1 run_wrk warmup "$R" "$work/event.json" application/json
for r in $(seq 1 "$REPEATS"); do
	if [ $((r % 2)) = 1 ]; then
		run_wrk nginx "$N" "$work/event.json" application/json
		run_wrk floor "$F" "$work/event.json" application/json
		run_wrk routed "$R" "$work/event.json" application/json
	else
		run_wrk routed "$R" "$work/event.json" application/json
		run_wrk floor "$F" "$work/event.json" application/json
		run_wrk nginx "$N" "$work/event.json" application/json
	fi
done
stop_routed
stop_floor
kill -QUIT "$npid" 2>/dev/null; wait "$npid" 2>/dev/null; npid=""
# requests/s counts the answers below 400 only: a 503 (memory cap full) is not a request served
n_rps=$(col nginx ok_rps | median); r_rps=$(col routed ok_rps | median)
n_p99=$(col nginx p99_us | median); r_p99=$(col routed p99_us | median)
n_p50=$(col nginx p50_us | median); r_p50=$(col routed p50_us | median)
f_rps=$(col floor ok_rps | median); f_p99=$(col floor p99_us | median); f_p50=$(col floor p50_us | median)
r_err=$(col routed status_errors | awk '{ n += $1 } END { print n + 0 }')
r_serr=$(col routed errors | awk '{ n += $1 } END { print n + 0 }')
fi

# ---- 2. NDJSON batches, routed on one CPU -----------------------------------------
nd_eps=- nd_rps=- nd_err=- nd_floor=- nd_cpu=- bare_eps=- bare_cpu=-
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: user + system clock ticks the process has used
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# nd_run NAME OTHER-CPUS: one wrk run of the batch against the routed started; appends its
# accepted events/s to $work/NAME_eps and routed's CPU ns per accepted event to $work/NAME_cpu
nd_run() {
	local a0 a1 c0 c1 line
	a0=$(metric routed_events_accepted_total)
	c0=$(cpu_ticks "$rpid")
	run_wrk "$1" "http://127.0.0.1:$rport/events" "$work/batch.ndjson" application/x-ndjson "$2"
	c1=$(cpu_ticks "$rpid")
	a1=$(metric routed_events_accepted_total)
	line=$(tail -1 "$work/results")
	awk -v a="$a0" -v b="$a1" -v d="$(kv duration_us "$line")" \
		'BEGIN { printf "%.0f\n", (b - a) / (d / 1e6) }' >>"$work/$1_eps"
	# routed's own CPU time per accepted event: time the VM's other guests take (steal)
	# is not in it, so it moves less from run to run than events/s
	awk -v a="$a0" -v b="$a1" -v t="$((c1 - c0))" -v hz="$CLK_TCK" \
		'BEGIN { if (b > a) printf "%.0f\n", t / hz * 1e9 / (b - a) }' >>"$work/$1_cpu"
}
if [[ " $SKIP " != *" ndjson "* ]]; then
	others=$(seq 0 $((NCPU - 1)) | grep -vx "$PIN_CPU" | paste -sd, -)
	[ -n "$others" ] || others=$PIN_CPU
	echo "2. NDJSON batches of 100 events ($batch_bytes bytes), routed pinned to cpu $PIN_CPU, wrk on $others" >&2
	for r in $(seq 1 "$REPEATS"); do
		start_routed "$PIN_CPU"
		nd_run ndjson "$others"
		stop_routed
		if [ ${#BARE[@]} -gt 0 ]; then
			ROUTED_RULES=("${BARE[@]}")
			start_routed "$PIN_CPU"
			nd_run bare "$others"
			stop_routed
			ROUTED_RULES=("${RULES[@]}")
		fi
		start_floor "$PIN_CPU"
		run_wrk ndfloor "http://127.0.0.1:$fport/events" "$work/batch.ndjson" application/x-ndjson "$others"
		stop_floor
	done
	nd_eps=$(median <"$work/ndjson_eps")
	nd_cpu=$(median <"$work/ndjson_cpu")
	if [ -s "$work/bare_eps" ]; then
		bare_eps=$(median <"$work/bare_eps")
		bare_cpu=$(median <"$work/bare_cpu")
	fi
	nd_floor=$(col ndfloor ok_rps | median | awk -v n="$(wc -l <"$work/batch.ndjson")" '{ printf "%.0f\n", $1 * n }')
	nd_rps=$(col ndjson ok_rps | median)
	nd_err=$(col ndjson status_errors | awk '{ n += $1 } END { print n + 0 }')
fi

# ---- 3. latency at half of the maximum load ----------------------------------------
# quantile Q METRIC BEFORE AFTER: from the bucket deltas, linear within the bucket
quantile() {
	awk -v q="$1" -v m="$2_bucket" '
		FNR == 1 { f++ }
		index($1, m "{") == 1 { match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
			if (f == 1) { b0[le] = $2 } else { les[++n] = le; c[n] = $2 - b0[le] } }
		END {
			tot = c[n]; if (tot <= 0) { print "-"; exit }
			want = q * tot; lo = 0; prev = 0
			for (i = 1; i <= n; i++) {
				if (c[i] >= want) {
					if (les[i] == "+Inf") { printf ">%g\n", lo * 1e6; exit }
					printf "%.1f\n", (lo + (les[i] - lo) * (want - prev) / (c[i] - prev)) * 1e6; exit
				}
				lo = les[i]; prev = c[i]
			}
		}' "$3" "$4"
}
lat_rate=- e2e_p50=- e2e_p99=- dec_p50=- dec_p99=- lat_rps=- lat_n=-
if [[ " $SKIP " != *" latency "* ]] && [ "$r_rps" != - ]; then
	# a paced wrk: c connections, each waiting a mean of 10 ms between requests
	target=$(awk -v r="$r_rps" 'BEGIN { printf "%.0f", r / 2 }')
	lconns=$(awk -v t="$target" 'BEGIN { c = int(t * 0.010 + 0.5); if (c < 1) c = 1; print c }')
	echo "3. latency at half load: target $target req/s ($lconns connections, 10 ms mean pause each)" >&2
	start_routed
	R=http://127.0.0.1:$rport/events
	curl -s "http://127.0.0.1:$rport/metrics" >"$work/m0"
	WRK_DELAY_MS=10 CONNS=$lconns DURATION=$((DURATION * 2)) run_wrk paced "$R" "$work/event.json" application/json
	# the sinks finish what was accepted before the second scrape
	sleep 0.5
	curl -s "http://127.0.0.1:$rport/metrics" >"$work/m1"
	stop_routed
	lat_rps=$(col paced ok_rps)
	lat_n=$(awk '$1 == "routed_end_to_end_duration_seconds_count" { v[FILENAME] = $2 } END { print v[ARGV[2]] - v[ARGV[1]] }' "$work/m0" "$work/m1")
	e2e_p50=$(quantile 0.50 routed_end_to_end_duration_seconds "$work/m0" "$work/m1")
	e2e_p99=$(quantile 0.99 routed_end_to_end_duration_seconds "$work/m0" "$work/m1")
	dec_p50=$(quantile 0.50 routed_routing_decision_duration_seconds "$work/m0" "$work/m1")
	dec_p99=$(quantile 0.99 routed_routing_decision_duration_seconds "$work/m0" "$work/m1")
	lat_rate=$target
fi

# ---- report -------------------------------------------------------------------------
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN { if (v == "-" || v ~ />/) { print (v ~ />/ ? "MISSED" : "-"); exit }
	ok = dir == "ge" ? v >= t : v <= t; print ok ? "met" : "MISSED" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
rr=$(ratio "$r_rps" "$n_rps"); pr=$(ratio "$r_p99" "$n_p99")
fr=$(ratio "$f_rps" "$n_rps"); rf=$(ratio "$r_rps" "$f_rps"); ndf=$(ratio "$nd_eps" "$nd_floor")
echo
echo "single 1.2 KB events (medians of $REPEATS runs)"
printf '  %-8s %12s %10s %10s\n' server 'req/s' 'p50 us' 'p99 us'
printf '  %-8s %12s %10s %10s\n' nginx "$n_rps" "$n_p50" "$n_p99"
printf '  %-8s %12s %10s %10s\n' floor "$f_rps" "$f_p50" "$f_p99"
printf '  %-8s %12s %10s %10s   (answers >= 400: %s, socket errors: %s)\n' routed "$r_rps" "$r_p50" "$r_p99" "$r_err" "$r_serr"
if [ "$floor_sync" = none ]; then what="once its log has written the event (no sync)"; else what="once a group commit synced the event"; fi
echo "  floor / nginx $fr: about the most a server answering 202 $what reaches here"
echo "  routed / floor $rf: the share of that routed keeps"
echo
echo "NDJSON batches of 100 events, routed on one cpu (medians of $REPEATS runs)"
echo "  $nd_eps events/s accepted ($nd_rps requests/s; answers >= 400: $nd_err)"
echo "  routed's CPU per accepted event: $nd_cpu ns ($(awk -v c="$nd_cpu" 'BEGIN { if (c > 0) printf "%.0f", 1e9 / c; else print "-" }') events per CPU-second)"
echo "  floor on the same cpu: $nd_floor events/s; routed / floor $ndf"
echo "  routed without rules (ingest alone: validated, logged, answered, routed nowhere): $bare_eps events/s,"
echo "    $bare_cpu ns CPU per event; routing and delivery add $(awk -v a="$nd_cpu" -v b="$bare_cpu" \
	'BEGIN { if (a > 0 && b > 0) printf "%.0f ns (%.0f %%)", a - b, (a - b) * 100 / a; else print "-" }')"
echo
echo "latency at half load (routed alone; buckets: 5,10,20,30,50,75,100,150,200,300,500 us, 1 ms, ...)"
echo "  offered ~$lat_rate req/s, achieved $lat_rps req/s, $lat_n messages written"
echo "  end-to-end (logged and handed to the shard -> written by the sink): p50 $e2e_p50 us, p99 $e2e_p99 us"
echo "  routing decision (route_match in the worker): p50 $dec_p50 us, p99 $dec_p99 us"
echo
echo "targets (issue 6)"
printf '  %-46s %8s  %s\n' "routed / nginx requests/s >= 0.70" "$rr" "$(verdict "$rr" 0.70 ge)"
printf '  %-46s %8s  %s\n' "routed / nginx p99 <= 1.50" "$pr" "$(verdict "$pr" 1.50 le)"
printf '  %-46s %8s  %s\n' "NDJSON events/s on one cpu >= 500000" "$nd_eps" "$(verdict "$nd_eps" 500000 ge)"
printf '  %-46s %8s  %s\n' "matching + dispatch p50 <= 20 us (end-to-end)" "$e2e_p50" "$(verdict "$e2e_p50" 20 le)"
printf '  %-46s %8s  %s\n' "matching + dispatch p99 <= 100 us (end-to-end)" "$e2e_p99" "$(verdict "$e2e_p99" 100 le)"
# refusals (503 when the memory cap is full) are a result, reported above; a socket error is a failure
status=0
[ "$r_serr" = 0 ] || { echo "http.sh: socket errors against routed during the single-event runs" >&2; status=1; }
exit $status
