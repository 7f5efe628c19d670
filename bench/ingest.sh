#!/usr/bin/env bash
# Bulk ingest benchmark (not a test): `parcours ingest` of an N-million-event file, end to
# end into the store, against DuckDB converting the same file to Parquet sorted by customer
# and time, in the same run. Prints a markdown row per format for docs/benchmarks.md.
#
#   bench/ingest.sh            # 10M events, NDJSON and CSV
#   FORMATS=csv bench/ingest.sh 100   # 100M events, CSV only (peak memory check)
#
# Each side runs $RUNS times (default 3), alternating; the median run is reported.
# Targets: >= 1M events/s for CSV, >= 500k events/s for NDJSON, peak memory < 2 GB at 100M.
set -euo pipefail
cd "$(dirname "$0")/.."
millions=${1:-10}
formats=${FORMATS:-"ndjson csv"}
work=${BENCH_DIR:-target/bench-ingest}
mkdir -p "$work"
scripts/setup-test-deps >/dev/null
cargo build --quiet --profile bench -p parcours-cli
parcours=$PWD/target/release/parcours
# ~16 events per demo customer.
customers=$(( millions * 1000000 / 16 ))

runs=${RUNS:-3}

measure() { # prints "seconds peak_mb" of a command; the command's own output goes to $work/last.log
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > "$work/last.log" 2>&1
  awk '{printf "%s %.0f\n", $1, $2 / 1024}' "$work/time.txt"
}

median() { # the median line of "seconds peak_mb" lines, by seconds
  sort -n | awk '{ lines[NR] = $0 } END { print lines[int((NR + 1) / 2)] }'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| format | events | parcours s | parcours events/s | parcours peak MB | DuckDB s | DuckDB events/s | DuckDB peak MB | parcours / DuckDB |"
echo "|---|---|---|---|---|---|---|---|---|"
for format in $formats; do
  input="$work/events-${millions}m.$format"
  if [ ! -f "$input" ]; then
    "$parcours" demo --customers "$customers" --seed 2026 --export "$input" >/dev/null 2>&1
  fi
  header=0
  [ "$format" = csv ] && header=1
  events=$(( $(wc -l < "$input") - header ))
  # Runs alternate between the two, so that a noisy neighbour hurts both alike.
  ours=() theirs=()
  for _ in $(seq "$runs"); do
    rm -rf "$work/store"
    ours+=("$(measure "$parcours" ingest "$input" --data "$work/store" --report json)")
    accepted=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['files'][0]['accepted'])" "$work/last.log")
    [ "$accepted" = "$events" ] || { echo "parcours imported $accepted of $events events" >&2; exit 1; }
    rm -f "$work/duckdb.parquet"
    theirs+=("$(measure python3 bench/duckdb_convert.py "$format" "$input" "$work/duckdb.parquet")")
  done
  read -r ours_s ours_mb < <(printf '%s\n' "${ours[@]}" | median)
  read -r theirs_s theirs_mb < <(printf '%s\n' "${theirs[@]}" | median)
  awk -v f="$format" -v n="$events" -v os="$ours_s" -v om="$ours_mb" -v ts="$theirs_s" -v tm="$theirs_mb" 'BEGIN {
    printf "| %s | %d | %.1f | %d | %d | %.1f | %d | %d | %.2f× |\n", f, n, os, n / os, om, ts, n / ts, tm, (n / os) / (n / ts)
  }'
done
