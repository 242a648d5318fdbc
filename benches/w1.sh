#!/usr/bin/env bash
# W1 side by side: rootline against the peers (mawk on text, DuckDB on CSV and JSONL) on the
# peers' own login log, in one run, checked against the generator's truth. This calls the shared
# workload's script (../shared/bench/w1.sh), which needs python3 with duckdb and mawk.
# Prints the machine's load before and after, and rootline's peak RSS on each format: compare
# ratios from one run, never seconds from different runs.
#
#   benches/w1.sh                 # 2,000,000 lines
#   benches/w1.sh 10000000        # 10,000,000 lines (about 3.7 GB of logs in $TMPDIR)
#   ROOTLINE_BIN=path/to/rootline benches/w1.sh   # an already built binary
#
# Without ROOTLINE_BIN it builds a release binary first (Polars makes that slow once).
set -euo pipefail
cd "$(dirname "$0")/.."
W1=../shared/bench/w1.sh
if [ ! -x "$W1" ]; then
  echo "benches/w1.sh: $W1 is missing (the shared workload sits beside the repo)" >&2
  exit 2
fi
if [ -z "${ROOTLINE_BIN:-}" ]; then
  cargo build --release --locked --quiet
  ROOTLINE_BIN="${CARGO_TARGET_DIR:-target}/release/rootline"
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
ROOTLINE_BIN="$ROOTLINE_BIN" "$W1" "${1:-2000000}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Peak RSS of rootline on each format (#17 asks for under 300 MB), one run each, from the
# configs the shared script has just written for this size.
W=${W1_DIR:-${TMPDIR:-/tmp}/rootline-w1}
if [ -x /usr/bin/time ]; then
  out=$(mktemp -d)
  for f in log csv jsonl; do
    rss=$(/usr/bin/time -f '%M' "$ROOTLINE_BIN" ingest --config "$W/incident-$f.toml" \
      --per-minute -q --out "$out/$f" 2>&1 >/dev/null | tail -n 1)
    printf '%-5s rootline peak RSS %d MB\n' "$f" $((rss / 1024))
  done
  rm -rf "$out"
else
  echo "(no /usr/bin/time: peak RSS not measured)"
fi
