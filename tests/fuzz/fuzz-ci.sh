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
# routed's own parsers, when routed is built (libmicrohttpd, libcurl, OpenSSL found)
grep -qxF 'S["BUILD_ROUTED_TRUE"]=""' config.status && targets="$targets ingest auth wal"
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
if [ -d corpus/ingest ]; then
	# byte 0: the kind (1 JSON, 2 NDJSON, 3 structured, 4 batch, 5 binary), byte 1: the Content-Type
	for f in "$src"/examples/*.events; do
		{ printf '\002\000'; cat "$f"; } >"corpus/ingest/ndjson-$(basename "$f")"
		{ printf '\001\001'; head -1 "$f"; } >"corpus/ingest/json-$(basename "$f")"
	done
	ce='{"specversion":"1.0","type":"order.created","source":"/shop","id":"1","data":{"total":5}}'
	printf '\003\003%s' "$ce" >corpus/ingest/structured
	printf '\004\000[%s,%s]' "$ce" "$ce" >corpus/ingest/batch
	printf '\005\001ce-specversion: 1.0\nce-type: order.created\nce-source: /shop\nce-id: 7\nce-time: 2024-05-02T09:14:00Z\n\n{"total":5}' \
		>corpus/ingest/binary
fi
if [ -d corpus/wal ]; then
	# log segments (frames as wal.h describes them), whole, torn and damaged, with and
	# without a cursors.txt before a "\n--\n"
	python3 - corpus/wal <<'PY'
import struct, sys
def crc32c(crc, data):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
def frame(seq, payload):
    h, s = struct.pack('<I', len(payload)), struct.pack('<Q', seq)
    return h + struct.pack('<I', crc32c(crc32c(crc32c(0, payload), h), s)) + s + payload
seg = b''.join(frame(i + 1, p) for i, p in enumerate([b'a', b'bb', b'{"event_type":"x"}', b'z' * 40]))
cur = b'dest.a 2\ndest.b 3\nstate 1\nend 3\n\n--\n'
bad = bytearray(seg); bad[40] ^= 0x55
for name, data in (('whole', seg), ('torn', seg[:-7]), ('damaged', bytes(bad)),
                   ('cursors', cur + seg), ('cursors-torn', cur[:20] + b'\n--\n' + seg)):
    open('%s/%s' % (sys.argv[1], name), 'wb').write(data)
PY
fi
if [ -d corpus/auth ]; then
	# byte 0: the source, byte 1: odd signs validly; then the header lines (see fuzz_auth.c), the body
	printf '\000\000Bearer s3cret\n\n\n\n\n\n{"event_type":"x"}' >corpus/auth/bearer
	printf '\001\001\nt=1,v1=00\n\n1700000000\n\n\n{"event_type":"x"}' >corpus/auth/stripe
	printf '\002\001\n\nmsg_1\n1700000000\nv1,AAAA v1,BBBB\n\n{"event_type":"x"}' >corpus/auth/sw
	printf '\003\001\n\n\n1700000005\n\nsha256=00\n{"event_type":"x"}' >corpus/auth/generic
fi
for t in $targets; do
	echo "fuzz_$t: $secs s"
	./tests/fuzz/fuzz_$t -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-print_final_stats=1 corpus/$t >fuzz_$t.out 2>&1 \
		|| { tail -60 fuzz_$t.out; exit 1; }
	grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' fuzz_$t.out || true
done
echo "fuzzing: no crash"
