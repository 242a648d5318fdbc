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
#   RUNS=5 benches/w1.sh 10000000 # five runs one after another, then per format the lowest,
#                                 # median and highest ratio, and the runs where every format
#                                 # was at or under 1.0 (on a VM whose speed drifts from minute
#                                 # to minute, one run's ratio moves by 0.1-0.3)
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
RUNS=${RUNS:-1}
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
for ((run = 1; run <= RUNS; run++)); do
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== run $run" >>"$runs"
  ROOTLINE_BIN="$ROOTLINE_BIN" "$W1" "${1:-2000000}" | tee -a "$runs"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
done
if [ "$RUNS" -gt 1 ]; then
  # The shared script prints `FORMAT rootline S s PEER S s ratio R counts ...` per format,
  # or `FORMAT rootline FAILED: ...`; a failed format or wrong counts fail the run too.
  awk -v runs="$RUNS" '
    /^== run / { k = $3 }
    $2 == "rootline" && $3 == "FAILED:" { over[k] = 1 }
    $2 == "rootline" && $8 == "ratio" {
      n[$1]++; r[$1, n[$1]] = $9
      if ($9 > 1.0 || $11 != "OK") over[k] = 1
    }
    END {
      split("log csv jsonl", formats, " ")
      for (x = 1; x <= 3; x++) {
        f = formats[x]; m = n[f]
        if (!m) continue
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
          if (r[f, j] < r[f, i]) { t = r[f, i]; r[f, i] = r[f, j]; r[f, j] = t }
        med = m % 2 ? r[f, (m + 1) / 2] : (r[f, m / 2] + r[f, m / 2 + 1]) / 2
        printf "%-5s ratio over %d runs: lowest %.2f, median %.2f, highest %.2f\n", f, m, r[f, 1], med, r[f, m]
      }
      ok = 0
      for (k = 1; k <= runs; k++) if (!(k in over)) ok++
      printf "runs with every format at or under 1.0: %d of %d\n", ok, runs
    }' "$runs"
fi
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
