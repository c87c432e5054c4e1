#!/bin/sh
# run.sh -- set up a fresh Debian 12 machine, build routec, and run a job.
#
#   scripts/run.sh demo    install what is missing, build, compile the bundled
#                          examples, show the compiled listing, run their sample
#                          events through the matcher (decisions, explain), then
#                          start routed on them, send the events over HTTP, show
#                          where each went and the metrics, and stop it
#   scripts/run.sh test    install what is missing, build with -Werror and run
#                          the whole test suite: unit, golden and example tests,
#                          the same suite again under ASan+UBSan, and short
#                          libFuzzer runs of the compiler and the .rbc loader
#   scripts/run.sh build   install and build only
#
# Builds go to build/ and build-asan/ inside the source tree (git-ignored).
# Needs root (or sudo) only to install Debian packages that are missing.
set -eu
job=${1:-demo}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

PKGS="build-essential autoconf automake libtool pkg-config flex bison check \
libhyperscan-dev libxxhash-dev libjansson-dev clang libclang-rt-14-dev \
libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjemalloc-dev librdkafka-dev librabbitmq-dev curl jq \
python3 openssl procps nodejs"
# nodejs runs the status page's script against a fake DOM (tests/routed/status_page.js).
# promtool (the routed test lints a live /metrics with it) comes in Debian's
# prometheus package, installed without its Recommends. Note: on a machine run
# by systemd, Debian's packaging also starts the Prometheus server (port 9090);
# `systemctl disable --now prometheus` stops it if it is not wanted.
# rabbitmq-server likewise: the RabbitMQ test (tests/routed/run-rabbitmq.sh) starts a
# broker of its own on loopback ports it picks; on a machine run by systemd the package
# also starts the system's broker (5672) and epmd (4369), which the test leaves alone
# (`systemctl disable --now rabbitmq-server` stops it).
PKGS_NO_RECOMMENDS="prometheus rabbitmq-server"

step() { printf '\n==> %s\n' "$*"; }

missing_of() { # packages...: prints those not installed
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || printf ' %s' "$p"
	done
}

install_deps() {
	missing=$(missing_of $PKGS)
	missing_nr=$(missing_of $PKGS_NO_RECOMMENDS)
	[ -z "$missing$missing_nr" ] && return 0
	step "installing:$missing$missing_nr"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -q
	[ -n "$missing" ] && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
	[ -n "$missing_nr" ] && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing_nr
	return 0
}

configure_tree() { # dir configure-args...
	dir=$1
	shift
	if [ ! -f configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		step "autoreconf"
		autoreconf -fi
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/config.status" ]; then
		step "configure $dir $*"
		(cd "$dir" && "$top/configure" "$@")
	fi
}

build() {
	configure_tree build --enable-werror
	step "make (build/)"
	make -C build -j"$jobs"
	[ -x build/routed ] || { echo "routed was not built: is libmicrohttpd-dev installed?" >&2; exit 1; }
}

demo() {
	build
	R=build/routec
	step "routec check examples/*.route"
	$R check examples/support.route examples/leads.route examples/orders.route
	$R check examples/temporal.route
	step "routec test examples/*.route (the test blocks, on a virtual clock)"
	$R test examples/support.route examples/leads.route examples/orders.route examples/temporal.route
	for ex in support leads orders; do
		step "routec compile examples/$ex.route -o build/$ex.rbc"
		$R compile -v -o "build/$ex.rbc" "examples/$ex.route"
	done
	step "routec dump build/support.rbc (the compiled listing)"
	$R dump build/support.rbc
	for ex in support leads orders; do
		step "routec run build/$ex.rbc examples/$ex.events (one decision per event)"
		$R run "build/$ex.rbc" "examples/$ex.events"
	done
	step "routec explain build/support.rbc <the fourth support event>"
	sed -n 4p examples/support.events > build/one.json
	$R explain build/support.rbc build/one.json
	step "done: build/support.rbc, build/leads.rbc, build/orders.rbc"
	demo_routed
}

# routed on the three examples (embedded queues, examples/routed.conf), fed
# their events over HTTP; shows where each went and where the metrics are.
demo_routed() {
	data=build/demo-data
	rm -rf "$data" build/demo-stdout.ndjson
	rules="examples/support.route examples/leads.route examples/orders.route"
	step "routed --config examples/routed.conf --listen 127.0.0.1:0 --data-dir $data $rules"
	build/routed --config examples/routed.conf --listen 127.0.0.1:0 --data-dir "$data" $rules \
		>build/demo-stdout.ndjson 2>build/routed.log &
	rpid=$!
	port=""
	i=0
	while [ -z "$port" ] && [ $i -lt 100 ]; do
		sleep 0.1
		port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' build/routed.log)
		i=$((i + 1))
	done
	[ -n "$port" ] || { cat build/routed.log; kill "$rpid"; echo "routed did not start" >&2; exit 1; }
	u=http://127.0.0.1:$port
	cat build/routed.log
	for ex in support leads orders; do
		step "curl -H 'Content-Type: application/x-ndjson' --data-binary @examples/$ex.events $u/events"
		curl -sS --max-time 10 -w ' (HTTP %{http_code})\n' -H 'Content-Type: application/x-ndjson' \
			--data-binary @"examples/$ex.events" "$u/events"
	done
	step "a CloudEvent in binary mode (ce-* headers, the payload as the body)"
	curl -sS --max-time 10 -w ' (HTTP %{http_code})\n' -H 'Content-Type: application/json' \
		-H 'ce-specversion: 1.0' -H 'ce-id: ce-demo-1' -H 'ce-source: /warehouse/fra' -H 'ce-type: inventory.low' \
		-d '{"sku":"KB-200-DE","warehouse":"EU-FRA-1","on_hand":0,"reorder_point":20}' "$u/events"
	step "an invalid event: 400 with the reason and the byte"
	curl -sS --max-time 10 -w ' (HTTP %{http_code})\n' -H 'Content-Type: application/json' \
		-d '{"event_type":"order.created","total":01}' "$u/events"
	i=0
	while [ $i -lt 50 ] && curl -sS --max-time 10 "$u/metrics" | grep -q '^routed_destination_queue_depth{.*} [1-9]'; do
		sleep 0.1
		i=$((i + 1))
	done
	step "where each event went: GET $u/queues (built-in queues, one directory each under $data/queues/)"
	curl -sS --max-time 10 "$u/queues" | jq -r '.queues[] | select(.pending > 0) | "\(.name) \(.pending)"' |
	while read -r q n; do
		ids=$(jq -r '.event_id // .lead_id // .id' "$data/queues/$q/messages.ndjson" | tr '\n' ' ')
		printf '  %-20s %3s  %s\n' "$q" "$n" "$ids"
	done
	echo "  warehouse_alerts (sink = stdout in examples/routed.conf): $(jq -r ".event_id // .id" build/demo-stdout.ndjson | tr '\n' ' ')"
	step "a consumer: GET $u/queues/critical?max=10, then POST $u/queues/critical/ack"
	curl -sS --max-time 10 "$u/queues/critical?max=10" >build/demo-batch.json
	jq -c '{offset, count, next_offset, pending, ids: [.messages[].event_id]}' build/demo-batch.json
	curl -sS --max-time 10 -d "{\"offset\":$(jq .next_offset build/demo-batch.json)}" "$u/queues/critical/ack"
	echo
	step "metrics: $u/metrics (Prometheus text format), a few of them"
	curl -sS --max-time 10 "$u/metrics" | grep -E '^routed_events_|^routed_rule_matches_total\{rule="(critical|billing|fallback)"|^routed_routing_decision_duration_seconds_(count|sum)'
	step "status page: $u/status (HTML, for a browser) and $u/status.json, its outcomes:"
	curl -sS --max-time 10 "$u/status.json" | jq -c .outcomes
	step "SIGTERM: stop accepting, drain, exit"
	kill -TERM "$rpid"
	rc=0
	wait "$rpid" || rc=$?
	echo "routed exited with status $rc"
	tail -2 build/routed.log
	step "done: the queues stay in $data/queues/*/messages.ndjson (docs/routed.md)"
}

test_all() {
	build
	step "make check (build/, -Werror)"
	make -C build -j"$jobs" check || { cat build/test-suite.log; exit 1; }
	configure_tree build-asan --enable-werror --enable-sanitizers
	step "make check under ASan+UBSan (build-asan/)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -C build-asan -j"$jobs" check || { cat build-asan/test-suite.log; exit 1; }
	step "libFuzzer: $FUZZ_SECONDS s per target"
	tests/fuzz/fuzz-ci.sh "$top" "$FUZZ_SECONDS"
	step "all tests passed"
}

install_deps
case $job in
demo) demo ;;
test) test_all ;;
build) build ;;
*) echo "usage: scripts/run.sh demo|test|build" >&2; exit 2 ;;
esac
