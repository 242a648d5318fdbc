#!/usr/bin/env bash
# Ingest benchmark: a seeded login log from the simulator in key=value text, JSON lines and
# CSV, then `rootline ingest --per-minute` over it (ingest to Parquet plus the per-minute count
# of attempts and failures). Prints lines, bytes, the median wall time of 3 runs, lines/s,
# MB/s and peak RSS, with the page cache warm.
#
#   benches/ingest.sh                 # ~10M login lines (108000 clients)
#   CLIENTS=10800 benches/ingest.sh   # ~1M lines, to check that RSS stays flat
#   ROOTLINE_BIN=path/to/rootline benches/ingest.sh   # an already built binary
#
# Without ROOTLINE_BIN it builds a release binary first (Polars makes that slow once).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-108000}
RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d)}
if [ -z "${ROOTLINE_BIN:-}" ]; then
  cargo build --release --locked --quiet
  ROOTLINE_BIN="${CARGO_TARGET_DIR:-target}/release/rootline"
fi
calc() { awk "BEGIN { print $* }"; }
echo "binary: $ROOTLINE_BIN; clients: $CLIENTS; work dir: $WORK"
printf '%-6s %12s %10s %9s %12s %9s %9s %8s\n' format lines MB sim_s ingest_s Mlines/s MB/s RSS_MB
for fmt in text jsonl csv; do
  dir="$WORK/$fmt"
  start=$(date +%s.%N)
  "$ROOTLINE_BIN" simulate --scenario skype-2007 --clients "$CLIENTS" --seed 42 --format "$fmt" --out "$dir" -q
  sim=$(calc "$(date +%s.%N) - $start")
  file=$(ls "$dir"/login.*)
  # Only the login log is measured; let the simulator's writes reach the disk first so that
  # their write-back does not compete with the timed runs.
  find "$dir" -type f ! -name 'login.*' -delete
  sync
  lines=$(wc -l < "$file")
  bytes=$(stat -c %s "$file")
  cat "$file" > /dev/null   # warm the page cache
  times=()
  rss=0
  for _ in $(seq "$RUNS"); do
    out=$( { /usr/bin/time -f '%e %M' "$ROOTLINE_BIN" ingest --role login --per-minute -q \
             --out "$WORK/out-$fmt" "$file"; } 2>&1 | tail -1)
    times+=("${out% *}")
    r=${out#* }
    [ "$r" -gt "$rss" ] && rss=$r
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  printf '%-6s %12d %10.0f %9.1f %12.2f %9.2f %9.0f %8.0f\n' "$fmt" "$lines" \
    "$(calc "$bytes / 1000000")" "$sim" "$median" \
    "$(calc "$lines / $median / 1000000")" "$(calc "$bytes / $median / 1000000")" \
    "$(calc "$rss / 1024")"
  rm -rf "$dir"
done
