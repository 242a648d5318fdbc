#!/usr/bin/env bash
# analyze against ingest on the same logs: one build, run in alternating pairs (`ingest
# --per-minute`, tables written, then `analyze`), with the median wall time of each, the ratio
# of the medians and the median of the pairs' ratios. The target of issue #17 is analyze
# within 1.25x of ingest. This VM's speed drifts from minute to minute, so a pair puts both
# commands in the same minute; the two medians alone would compare minutes.
#
#   benches/analyze-ratio.sh target/release/rootline 10 --config "$TMPDIR/rootline-w1/incident-csv.toml"
#   benches/analyze-ratio.sh target/release/rootline 5 --config sample-data/skype-2007/incident.toml
#
# (benches/w1.sh writes the W1 configs into $TMPDIR/rootline-w1.) The commands get `-q --out
# DIR` added. `analyze` runs with ROOTLINE_PHASES=1, which has it say how long its loading
# (the parse ingest does too) and the analysis after it took: their medians are printed.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
BIN=$1 PAIRS=$2
shift 2
[ -x "$BIN" ] || { echo "benches/analyze-ratio.sh: $BIN is not an executable" >&2; exit 2; }
if [ ! -x /usr/bin/time ]; then
  echo "benches/analyze-ratio.sh: needs /usr/bin/time (apt-get install time)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < PAIRS; i++)); do
  for cmd in ingest analyze; do
    extra=()
    [ $cmd = ingest ] && extra=(--per-minute)
    # Each command's own directory, replaced by the next run as rootline replaces its
    # output (as benches/w1.sh runs ingest).
    ROOTLINE_PHASES=1 /usr/bin/time -f "$cmd %e %M" -o "$work/time" "$BIN" $cmd "$@" \
      "${extra[@]}" -q --out "$work/out-$cmd" >/dev/null 2>"$work/err" ||
      { echo "$BIN $cmd failed:" >&2; tail -n 3 "$work/err" >&2; exit 1; }
    cat "$work/time" >>"$work/runs"
    # "rootline: loaded in L s, analyzed in A s" (analyze only).
    grep -h '^rootline: loaded in' "$work/err" | awk '{print "phases", $4, $8}' >>"$work/runs" || true
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
  function median(v, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  $1 == "phases" { np++; load[np] = $2; after[np] = $3; next }
  { n[$1]++; wall[$1, n[$1]] = $2; if ($3 > rss[$1]) rss[$1] = $3 }
  END {
    for (k = 1; k <= n["ingest"]; k++) {
      i[k] = wall["ingest", k]; a[k] = wall["analyze", k]; r[k] = a[k] / i[k]
      if (r[k] <= 1.25) within++
    }
    mi = median(i, n["ingest"]); ma = median(a, n["analyze"])
    printf "ingest: median wall %.3f s, peak RSS %d MB\n", mi, rss["ingest"] / 1024
    printf "analyze: median wall %.3f s, peak RSS %d MB\n", ma, rss["analyze"] / 1024
    if (np > 0) printf "analyze: loading median %.3f s, the analysis after it median %.3f s\n", median(load, np), median(after, np)
    printf "analyze / ingest: ratio of the medians %.2f, median of the pairs %.2f (pairs within 1.25: %d of %d)\n", ma / mi, median(r, n["ingest"]), within, n["ingest"]
  }' "$work/runs"
