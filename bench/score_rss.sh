#!/usr/bin/env bash
# Peak resident memory of `rerankd score`, and how it splits between anonymous memory (weights the
# backend converted or packed, workspaces, the heap) and mapped file pages (the checkpoint):
# /usr/bin/time -v's maximum, plus /proc/PID/status sampled every 0.1 s.
#   bench/score_rss.sh BIN MODEL_DIR DTYPE [PAIRS.jsonl] [more score options]
# docs/performance.md, "Memory", gives its figures for models/bge-shaped.
set -euo pipefail
bin=$1 model=$2 dtype=$3
pairs=${4:-$(dirname "$0")/../tests/data/pairs.jsonl}
shift $(($# < 4 ? $# : 4))
samples=$(mktemp) err=$(mktemp)
trap 'rm -f "$samples" "$err"' EXIT
/usr/bin/time -v "$bin" score -m "$model" --dtype "$dtype" -i "$pairs" -o /dev/null "$@" 2>"$err" &
timer=$!
pid=
while [ -z "$pid" ] && kill -0 "$timer" 2>/dev/null; do pid=$(pgrep -P "$timer" || true); sleep 0.01; done
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do
  awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s %d ", $1, $2 / 1024} END {print ""}' "/proc/$pid/status" 2>/dev/null >>"$samples" || true
  sleep 0.1
done
rc=0
wait "$timer" || rc=$?
if [ "$rc" -ne 0 ]; then grep -v '^\s' "$err" >&2; exit "$rc"; fi
peak=$(awk '/Maximum resident set size/ {print int($NF / 1024)}' "$err")
awk -v peak="$peak" -v dtype="$dtype" '
  NF { for (i = 1; i < NF; i += 2) if ($(i + 1) > max[$i]) max[$i] = $(i + 1); last = $0 }
  END { printf "%s: peak RSS %d MiB; sampled maxima: RssAnon %d MiB, RssFile %d MiB; last sample: %s\n",
               dtype, peak, max["RssAnon:"], max["RssFile:"], last }' "$samples"
