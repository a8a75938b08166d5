#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time over a seed corpus
# made from the real fixtures' pickles and headers. Exits non-zero on any crash.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 30; C2P_FIXTURES overrides the fixture dir)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
secs="${1:-30}"
fixtures="${C2P_FIXTURES:-$repo/tests/fixtures/chroma-real}"
[ -d "$fixtures" ] || { echo "fuzz: real-Chroma fixtures missing at $fixtures" >&2; exit 1; }
build="${C2P_FUZZ_BUILD:-$repo/build-fuzz}"
CXX=clang++ cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 >/dev/null

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pickle" "$work/hnsw" "$work/pickle-new" "$work/hnsw-new"
i=0
if [ -d "$fixtures" ]; then
  while IFS= read -r -d '' f; do
    i=$((i+1)); cp "$f" "$work/pickle/seed$i"
    head -c 300 "$f" > "$work/pickle/head$i"          # a truncated seed too
  done < <(find "$fixtures" -name index_metadata.pickle -print0)
  while IFS= read -r -d '' f; do
    i=$((i+1))
    d="$(dirname "$f")"
    # header + flags(cosine, salvage) + split (2 elements' worth) + data + lengths
    { cat "$f"; printf '\x01\x00\x10'; if [ -f "$d/data_level0.bin" ]; then head -c 4096 "$d/data_level0.bin"; fi;
      if [ -f "$d/length.bin" ]; then head -c 64 "$d/length.bin"; fi; } > "$work/hnsw/seed$i"
  done < <(find "$fixtures" -name header.bin -print0)
fi
printf '\x80\x03}q\x00.' > "$work/pickle/tiny"

rc=0
for t in fuzz_pickle:pickle fuzz_hnsw_header:hnsw; do
  bin="${t%%:*}"; corpus="${t##*:}"
  echo "== $bin for ${secs}s over $(ls "$work/$corpus" | wc -l) seeds"
  if ! "$build/$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 \
        -artifact_prefix="$work/" "$work/$corpus-new" "$work/$corpus" > "$work/$bin.log" 2>&1; then
    echo "!! $bin found a crash:"; tail -40 "$work/$bin.log"
    mkdir -p "$repo/build-fuzz/artifacts"; cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$repo/build-fuzz/artifacts/" 2>/dev/null || true
    rc=1
  else
    grep -E "^#[0-9]+.*(DONE|pulse)" "$work/$bin.log" | tail -1 || true
  fi
done
exit $rc
