#!/bin/sh
# run.sh -- set up a fresh Debian 12 machine, build routec, and run a job.
#
#   scripts/run.sh demo    install what is missing, build, compile the bundled
#                          examples, show the compiled listing, and run their
#                          sample events through the matcher (decisions, explain)
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
libhyperscan-dev libxxhash-dev libjansson-dev clang libclang-rt-14-dev"

step() { printf '\n==> %s\n' "$*"; }

install_deps() {
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	step "installing:$missing"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
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
}

demo() {
	build
	R=build/routec
	step "routec check examples/*.route"
	$R check examples/support.route examples/leads.route examples/orders.route
	$R check examples/temporal.route
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
	echo "routed (the service that runs them) is not built yet; see README.md."
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
