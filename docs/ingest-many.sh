#!/usr/bin/env bash
# Ingests many log files into one tree, JOBS at a time: one `rootline ingest --shard` per file,
# the shard named after the file. The tree reads as one ingest directory (DIR/ingest.json is
# the index of every shard). Run it again with more files and only the new ones are ingested
# (a file whose shard is in the tree is skipped, unless FORCE=1).
#
#   docs/ingest-many.sh -o tree/ -j 4 logs/*.log.gz -- --preset sshd --year 2024
#   rootline analyze --tables tree/ --out out/
#
# Everything after `--` goes to every `rootline ingest`. ROOTLINE (default: rootline on PATH)
# names the binary. On a cluster, run the same command per file as tasks that share DIR (a
# network file system), or ingest per host and copy the parts and shards/ into one tree: part
# names carry the shard's name, so they never clash. See docs/SCALE.md.
set -euo pipefail
ROOTLINE=${ROOTLINE:-rootline}
out=
jobs=$(nproc 2>/dev/null || echo 2)
usage() {
  echo "usage: $0 -o DIR [-j JOBS] FILE... [-- INGEST-ARGS...]" >&2
  exit 2
}
while getopts o:j:h opt; do
  case $opt in
    o) out=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ -n "$out" ] || usage
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  [ -f "$1" ] || { echo "$0: $1: no such file" >&2; exit 2; }
  files+=("$1")
  shift
done
[ $# -gt 0 ] && shift # the `--`
[ ${#files[@]} -gt 0 ] || usage
# A shard's name: the file's name, with what a shard name may not hold made `_`.
name() { basename "$1" | sed 's/[^A-Za-z0-9._-]/_/g; s/^\./_/' | cut -c1-64; }
dups=$(for f in "${files[@]}"; do name "$f"; done | sort | uniq -d)
[ -z "$dups" ] || { echo "$0: files with the same name would be one shard: $dups" >&2; exit 2; }
running=0
failed=0
for f in "${files[@]}"; do
  n=$(name "$f")
  if [ "${FORCE:-0}" != 1 ] && [ -f "$out/shards/$n/ingest.json" ]; then
    echo "$0: $f: shard $n is in $out already (FORCE=1 ingests it again)" >&2
    continue
  fi
  "$ROOTLINE" ingest "$f" --out "$out" --shard "$n" -q "$@" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
shards=$(find "$out/shards" -mindepth 2 -maxdepth 2 -name ingest.json 2>/dev/null | wc -l)
echo "$out: $shards shards; $failed ingests failed" >&2
[ "$failed" -eq 0 ]
