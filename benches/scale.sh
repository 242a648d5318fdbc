#!/usr/bin/env bash
# Scale benchmark (#18, docs/SCALE.md): a seeded skype-2007 incident from the simulator at
# each size, through rootline alone and through the split a cluster would run:
#   alone:  rootline ingest (one run) + rootline analyze --tables
#   split:  docs/ingest-many.sh (one shard per log, 2 at a time) + queries/series.sql on
#           Spark local[2] (queries/spark.py) + rootline analyze --series --tables
# Prints each step's wall time and peak RSS, one run each (Spark's JVM start included; its RSS
# is python's, not the JVM's), and whether the split's findings.json is the one rootline alone
# wrote (all of it but `inputs`, the sources, which the shards detect rather than read from
# the config).
#
#   benches/scale.sh                              # 9500 28500 95000 clients: ~1M, 3M, 10M lines
#   SIZES="9500" benches/scale.sh                 # one size
#   ROOTLINE_BIN=path/to/rootline benches/scale.sh
#   KEEP=1 WORK=../scale-work benches/scale.sh   # keep the logs, tables and findings there
#
# Needs python3 with pyspark and a Java runtime (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-9500 28500 95000}
WORK=${WORK:-$(mktemp -d)}
if [ -z "${ROOTLINE_BIN:-}" ]; then
  cargo build --release --locked --quiet
  ROOTLINE_BIN="${CARGO_TARGET_DIR:-target}/release/rootline"
fi
ROOTLINE_BIN=$(realpath "$ROOTLINE_BIN")
echo "binary: $ROOTLINE_BIN; work dir: $WORK; load: $(cut -d' ' -f1-3 /proc/loadavg)"
# Runs a step; prints "seconds RSS_MB" of it.
step() {
  /usr/bin/time -o "$WORK/step.time" -f '%e %M' "$@" >/dev/null 2>"$WORK/step.err" || {
    cat "$WORK/step.err" >&2
    return 1
  }
  awk '{ printf "%.2f %.0f", $1, $2 / 1024 }' "$WORK/step.time"
}
printf '%-9s %11s  %-28s %8s %8s\n' clients lines step seconds RSS_MB
for clients in $SIZES; do
  d="$WORK/$clients"
  rm -rf "$d"
  "$ROOTLINE_BIN" simulate --scenario skype-2007 --clients "$clients" --seed 42 --out "$d/logs" -q
  lines=$(cat "$d"/logs/*.log | wc -l)
  sync
  row() { printf '%-9s %11d  %-28s %8s %8s\n' "$clients" "$lines" "$1" $2; }
  row "alone: ingest" "$(step "$ROOTLINE_BIN" ingest --config "$d/logs/incident.toml" --out "$d/tables" -q)"
  row "alone: analyze --tables" \
    "$(step "$ROOTLINE_BIN" analyze --tables "$d/tables" --out "$d/alone" -q)"
  row "split: ingest-many -j 2" \
    "$(ROOTLINE=$ROOTLINE_BIN step docs/ingest-many.sh -o "$d/tree" -j 2 "$d"/logs/*.log)"
  row "split: series.sql on Spark" \
    "$(step python3 queries/spark.py "$d/tree" queries/series.sql --out "$d/series")"
  row "split: analyze --series" \
    "$(step "$ROOTLINE_BIN" analyze --series "$d/series" --tables "$d/tree" --out "$d/split" -q)"
  # Everything but `inputs`: the shards' sources are detected, not named by a config.
  python3 - "$d/alone/findings.json" "$d/split/findings.json" "$clients" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
differ = [k for k in a if k != "inputs" and a[k] != b.get(k)]
print(f"{sys.argv[3]} clients: the split's findings are rootline alone's"
      + (f" but for {', '.join(differ)}" if differ else " (all but `inputs`)"))
PY
  [ -n "${KEEP:-}" ] || rm -rf "$d"
done
[ -n "${KEEP:-}" ] || rm -rf "$WORK"
