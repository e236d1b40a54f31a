#!/usr/bin/env bash
# Compare ParallelGzWriter with pigz on ~200 MB of mixed data (a tar of /usr:
# ELF binaries, text, compressed files), like a real image layer.
# Usage: scripts/bench-gzip.sh [size-MB] [level]
set -euo pipefail
size_mb=${1:-200}
level=${2:-6}
cd "$(dirname "$0")/.."
input=$(mktemp /tmp/lading-bench-gzip.XXXXXX)
trap 'rm -f "$input"' EXIT
tar -cf - --sort=name /usr/lib /usr/share 2>/dev/null | head -c "$((size_mb * 1024 * 1024))" >"$input" || true
cargo build --release -q -p lading-oci --example gzip_throughput
target/release/examples/gzip_throughput "$input" "$level" 1 2
if command -v pigz >/dev/null; then
  for p in 1 2; do
    start=$(date +%s.%N)
    pigz "-$level" -p "$p" -c "$input" >/dev/null
    end=$(date +%s.%N)
    echo "pigz -$level -p $p: $(echo "$(stat -c %s "$input") / 1000000 / ($end - $start)" | bc -l | xargs printf '%.1f') MB/s"
  done
fi
