# common.sh -- sourced by routed's end-to-end scripts (run-*.sh): the tools,
# a temporary directory removed at exit together with routed ($pid; a script
# that starts more processes defines cleanup_more), and the PASS/FAIL counts.
#   need TOOL...            exit 77 (skipped) when a tool is missing
#   ok TEXT / bad TEXT      count and print a PASS / FAIL line
#   check TEXT COMMAND...   PASS when the command succeeds, else FAIL
#   wait_port LOG           sets $port from routed's "listening" log line (20 s at most)
#   start_routed DATA CONF RULES...
#                           starts routed on data directory DATA with config CONF, its
#                           log in $tmp/log; sets pid, port and U (its base URL)
#   metric NAME             NAME's value (NAME{LABELS} as printed) on $U/metrics
#   stop_routed TEXT        SIGTERM to routed, and a check (TEXT) that it exits 0
#   t_events N FILE         N t.ev events as NDJSON (ids k-0.., n 0.., customers c0..c3)
#   source_messages FILE    30 lines for a broker source (run-kafka.sh, run-rabbitmq.sh):
#                           t.ev events with n = 0..29, but the 8th (n 7) invalid JSON
#                           and the 16th (n 15) empty
ROUTED=${ROUTED:-./routed}
ROUTEC=${ROUTEC:-./routec}
top=${top_srcdir:-.}
need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
	done
}
tmp=$(mktemp -d) || exit 99
pid=""
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	type cleanup_more >/dev/null 2>&1 && cleanup_more
	rm -rf "$tmp"
}
trap cleanup EXIT
npass=0
nfail=0
ok() { npass=$((npass + 1)); echo "PASS: $*"; }
bad() { nfail=$((nfail + 1)); echo "FAIL: $*"; }
check() { # description command...: passes when the command succeeds
	d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
wait_port() { # LOG
	port=""
	i=0
	while [ $i -lt 200 ] && [ -z "$port" ]; do # ASan builds start slower
		port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$1")
		[ -z "$port" ] && sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$port" ]; then
		bad "routed did not start"
		cat "$1"
		exit 1
	fi
}
start_routed() { # DATA CONF RULES...
	sr_data=$1
	sr_conf=$2
	shift 2
	: >"$tmp/log"
	"$ROUTED" --config "$sr_conf" --listen 127.0.0.1:0 --data-dir "$sr_data" "$@" 2>"$tmp/log" &
	pid=$!
	wait_port "$tmp/log"
	U=http://127.0.0.1:$port
}
metric() { # NAME
	curl -s --max-time 5 "$U/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}
stop_routed() { # TEXT
	kill -TERM "$pid"
	wait "$pid"
	sr_rc=$?
	pid=""
	check "$1 (got $sr_rc)" [ $sr_rc -eq 0 ]
}
t_events() { # N FILE
	: >"$2"
	te_i=0
	while [ $te_i -lt "$1" ]; do
		printf '{"event_type":"t.ev","id":"k-%d","n":%d,"customer":"c%d"}\n' $te_i $te_i $((te_i % 4)) >>"$2"
		te_i=$((te_i + 1))
	done
}
source_messages() { # FILE
	: >"$1"
	sm_i=0
	while [ $sm_i -lt 30 ]; do
		case $sm_i in
		7) echo '{"event_type":"t.ev","id":' >>"$1" ;;
		15) echo >>"$1" ;;
		*) printf '{"event_type":"t.ev","id":"in-%d","n":%d,"customer":"c%d"}\n' $sm_i $sm_i $((sm_i % 3)) >>"$1" ;;
		esac
		sm_i=$((sm_i + 1))
	done
}
