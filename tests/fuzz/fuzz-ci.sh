#!/bin/sh
# fuzz-ci.sh -- builds the libFuzzer targets with clang and runs each briefly.
#   tests/fuzz/fuzz-ci.sh SRCDIR SECONDS
# The corpora are seeded from committed sources (examples/, tests/errors/)
# and from images the bytecode unit test writes; nothing is kept afterwards.
set -eu
src=$(cd "${1:-.}" && pwd)
secs=${2:-60}
work=$(mktemp -d /tmp/routec-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
# the libraries are instrumented for coverage too (fuzzer-no-link), not only the targets
"$src/configure" CC=clang CFLAGS="-g -O1 -fsanitize=fuzzer-no-link" --enable-fuzzing \
	--enable-sanitizers --enable-werror >configure.out 2>&1 \
	|| { cat configure.out; exit 1; }
targets="compile load json_out event match"
make -j2 $(for t in $targets; do printf 'tests/fuzz/fuzz_%s ' "$t"; done) tests/unit/check_bytecode \
	>make.out 2>&1 \
	|| { tail -50 make.out; exit 1; }
for t in $targets; do mkdir -p corpus/$t; done
cp "$src"/examples/*.route "$src"/examples/contracts/*.route "$src"/tests/errors/*.route \
	"$src"/tests/disasm/*.route corpus/compile/ 2>/dev/null || true
RBC_WRITE_SEEDS="$work/corpus/load" ./tests/unit/check_bytecode >/dev/null 2>&1 || true
cp "$src"/tests/json/good/*.json "$src"/tests/json/bad/*.json "$src"/examples/*.events \
	corpus/event/ 2>/dev/null || true
cp corpus/event/* corpus/match/ 2>/dev/null || true
printf '{"a":{"b":[1,{"c":"x"}]},"d":"e"}' >corpus/json_out/seed1
for t in $targets; do
	echo "fuzz_$t: $secs s"
	./tests/fuzz/fuzz_$t -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-print_final_stats=1 corpus/$t >fuzz_$t.out 2>&1 \
		|| { tail -60 fuzz_$t.out; exit 1; }
	grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' fuzz_$t.out || true
done
echo "fuzzing: no crash"
