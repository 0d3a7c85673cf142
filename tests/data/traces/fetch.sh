#!/usr/bin/env bash
# Fetches the public block traces of BENCHMARKS.md "Hit ratio" into DIR (default
# target/traces): ARC's OLTP, P2, P3, P6 and P12 (moka-rs/cache-trace, zstd) and the LIRS
# traces (zhongch4g/LIRS2; sprite from cache2k/cache2k-benchmark, 4-byte big-endian keys).
# Needs git, zstd and python3. Provenance and conditions of use: README.md here.
set -euo pipefail
dir="${1:-target/traces}"
mkdir -p "$dir/lirs" "$dir/src"
sparse_clone() { # URL DEST PATH...
    local url=$1 dest=$2
    shift 2
    if [ ! -d "$dest/.git" ]; then
        git clone --quiet --depth 1 --filter=blob:none --sparse "$url" "$dest"
    fi
    git -C "$dest" sparse-checkout set --no-cone "$@"
}
sparse_clone https://github.com/moka-rs/cache-trace "$dir/src/cache-trace" \
    '/arc/OLTP.lis.zst' '/arc/P2.lis.zst' '/arc/P3.lis.zst' '/arc/P6.lis.zst' '/arc/P12.lis.zst' '/arc/README.md'
for t in OLTP P2 P3 P6 P12; do
    zstd -q -d -f "$dir/src/cache-trace/arc/$t.lis.zst" -o "$dir/$t.lis"
done
sparse_clone https://github.com/zhongch4g/LIRS2 "$dir/src/LIRS2" '/traces/*' '!/traces/w*' '/README.md'
for t in 2_pools SCAN Zigzag backf cpp cs gli multi1 multi2 multi3 ps; do
    cp "$dir/src/LIRS2/traces/$t" "$dir/lirs/$t"
done
sparse_clone https://github.com/cache2k/cache2k-benchmark "$dir/src/cache2k-benchmark" \
    '/traces/src/main/resources/org/cache2k/benchmark/traces/trace-sprite.trc.bin.gz'
gunzip -c "$dir/src/cache2k-benchmark/traces/src/main/resources/org/cache2k/benchmark/traces/trace-sprite.trc.bin.gz" |
    python3 -c 'import struct, sys
d = sys.stdin.buffer.read()
print("\n".join(str(k) for k in struct.unpack(">%di" % (len(d) // 4), d)))' >"$dir/lirs/sprite"
wc -l "$dir"/*.lis "$dir"/lirs/*
