#!/usr/bin/env bash
# Analyze benchmark: a seeded skype-2007 incident from the simulator (login, supernode and
# patch logs, ~10M lines in all at the default 95000 clients), then `rootline analyze` over
# it from the logs and from the ingested Parquet tables. Prints lines, the median wall time of
# 3 runs and peak RSS, with the page cache warm.
#
#   benches/analyze.sh                  # ~10M lines
#   CLIENTS=9500 benches/analyze.sh     # ~1M lines
#   ROOTLINE_BIN=path/to/rootline benches/analyze.sh   # an already built binary
#
# Without ROOTLINE_BIN it builds a release binary first (Polars makes that slow once).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-95000}
RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d)}
if [ -z "${ROOTLINE_BIN:-}" ]; then
  cargo build --release --locked --quiet
  ROOTLINE_BIN="${CARGO_TARGET_DIR:-target}/release/rootline"
fi
echo "binary: $ROOTLINE_BIN; clients: $CLIENTS; work dir: $WORK"
"$ROOTLINE_BIN" simulate --scenario skype-2007 --clients "$CLIENTS" --seed 42 --out "$WORK/logs" -q
lines=$(cat "$WORK"/logs/*.log | wc -l)
"$ROOTLINE_BIN" ingest --config "$WORK/logs/incident.toml" --out "$WORK/tables" -q
sync   # the simulator's and ingest's writes reach the disk before the timed runs
printf '%-10s %12s %10s %8s\n' from lines median_s RSS_MB
for from in logs tables; do
  if [ "$from" = logs ]; then src=(--config "$WORK/logs/incident.toml"); else src=(--tables "$WORK/tables"); fi
  times=()
  rss=0
  for _ in $(seq "$RUNS"); do
    out=$( { /usr/bin/time -f '%e %M' "$ROOTLINE_BIN" analyze "${src[@]}" -q --out "$WORK/out"; } 2>&1 | tail -1)
    times+=("${out% *}")
    r=${out#* }
    [ "$r" -gt "$rss" ] && rss=$r
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
  printf '%-10s %12d %10.2f %8.0f\n' "$from" "$lines" "$median" "$(awk "BEGIN { print $rss / 1024 }")"
done
rm -rf "$WORK"
