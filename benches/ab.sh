#!/usr/bin/env bash
# A against B: two builds of rootline on one command, run in alternating pairs, with the
# median wall and CPU time (user + sys) of each, how many pairs each won, peak RSS, and
# whether both wrote the same files. This VM's speed drifts 5-25% from minute to minute, so
# runs of one build and then the other compare the minutes, not the builds; alternating
# pairs put both in the same minutes. Build each into its own file first:
#
#   cargo build --release --locked && cp target/release/rootline target/rootline.new
#   benches/ab.sh target/rootline.old target/rootline.new 8 ingest --config X.toml --per-minute -q
#   benches/ab.sh A B 5 analyze --config incident.toml -q
#
# The command gets `--out DIR` added, one directory per build, compared with `diff -r` at the
# end (reports that carry the binary's path or the time will differ).
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
A=$1 B=$2 PAIRS=$3
shift 3
for bin in "$A" "$B"; do
  [ -x "$bin" ] || { echo "benches/ab.sh: $bin is not an executable" >&2; exit 2; }
done
if [ ! -x /usr/bin/time ]; then
  echo "benches/ab.sh: needs /usr/bin/time (apt-get install time)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < PAIRS; i++)); do
  for side in a b; do
    bin=$A
    [ $side = b ] && bin=$B
    rm -rf "${work:?}/out-$side"
    /usr/bin/time -f "$side %e %U %S %M" -o "$work/time" "$bin" "$@" --out "$work/out-$side" \
      >/dev/null 2>"$work/err" || { echo "$bin failed:" >&2; tail -n 3 "$work/err" >&2; exit 1; }
    cat "$work/time" >>"$work/runs"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v A="$A" -v B="$B" '
  function median(v, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  { n[$1]++; wall[$1, n[$1]] = $2; cpu[$1, n[$1]] = $3 + $4; if ($5 > rss[$1]) rss[$1] = $5 }
  END {
    for (k = 1; k <= n["a"]; k++) {
      if (cpu["b", k] < cpu["a", k]) bcpu++
      if (wall["b", k] < wall["a", k]) bwall++
      for (s = 0; s < 2; s++) { side = s ? "b" : "a"; w[side, k] = wall[side, k]; c[side, k] = cpu[side, k] }
    }
    for (s = 0; s < 2; s++) {
      side = s ? "b" : "a"
      for (k = 1; k <= n[side]; k++) { ww[k] = w[side, k]; cc[k] = c[side, k] }
      printf "%s %s: median wall %.3f s, median CPU %.3f s, peak RSS %d MB\n", side, (s ? B : A), median(ww, n[side]), median(cc, n[side]), rss[side] / 1024
    }
    printf "B used less CPU in %d of %d pairs, less wall time in %d\n", bcpu, n["a"], bwall
  }' "$work/runs"
if diff -r "$work/out-a" "$work/out-b" >/dev/null; then
  echo "outputs: the same files"
else
  echo "outputs: DIFFER (diff -r of the last pair's --out directories)"
fi
