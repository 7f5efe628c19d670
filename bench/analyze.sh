#!/usr/bin/env bash
# Analysis benchmark (not a test): the full `parcours analyze` of the digital journey (every
# stage, KPI, segment, path, breakdown gap and opportunity) on stores made by
# `parcours demo`, against the journey's funnel alone computed by ClickHouse (chDB,
# windowFunnel) and DuckDB (SQL) over the same Parquet segments, in the same run.
#
#   bench/analyze.sh             # 1M and 10M events
#   bench/analyze.sh 1 10 100    # and 100M
#
# Each side runs $RUNS times per size (default 3; 1 at 100M), alternating; the median run is
# reported with its peak memory. Prints a markdown table for docs/benchmarks.md, and the
# funnel each side found, so that a fast wrong answer shows.
# Targets at 100M events on 2 cores: at most 10 s, at least 3x faster than chDB and 10x
# faster than DuckDB, at most 4 GB of memory.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-1 10}")
read -r -a sizes <<< "${sizes[*]}"
work=${BENCH_DIR:-target/bench-analyze}
mkdir -p "$work"
scripts/setup-test-deps >/dev/null
cargo build --quiet --profile bench -p parcours-cli
parcours=$PWD/target/release/parcours
journey="$work/journey"
[ -f "$journey/journey.toml" ] || "$parcours" init --template digital "$journey" >/dev/null

measure() { # prints "seconds peak_mb major_faults"; the command's output goes to $work/last.out
  /usr/bin/time -f "%e %M %F" -o "$work/time.txt" "$@" > "$work/last.out" 2> "$work/last.err"
  awk '{printf "%s %.0f %d\n", $1, $2 / 1024, $3}' "$work/time.txt"
}

median() { # the median line of "seconds ..." lines, by seconds
  sort -n | awk '{ lines[NR] = $0 } END { print lines[int((NR + 1) / 2)] }'
}

reach_ours() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['customers'], [s['reached'] for s in r['stages']])" "$1"; }
reach_peer() { python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).read()); print(r['customers'], r['reached'])" "$1"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
table="| events | customers | parcours s | parcours peak MB | chDB s | chDB peak MB | DuckDB s | DuckDB peak MB | vs chDB | vs DuckDB |
|---|---|---|---|---|---|---|---|---|---|"
notes=""
for millions in "${sizes[@]}"; do
  store="$work/store-${millions}m"
  if [ ! -f "$store/parcours.sqlite" ]; then
    # ~16 events per demo customer.
    "$parcours" demo --customers $(( millions * 1000000 / 16 )) --seed 2026 --data "$store" --no-report >/dev/null
  fi
  runs=${RUNS:-$([ "$millions" -ge 100 ] && echo 1 || echo 3)}
  ours=() chdb=() duck=()
  for _ in $(seq "$runs"); do
    ours+=("$(measure "$parcours" analyze -j "$journey/journey.toml" --data "$store" --format json)")
    cp "$work/last.out" "$work/ours-${millions}m.json"
    chdb+=("$(measure python3 bench/funnel_peers.py chdb "$store/events/*.parquet")")
    cp "$work/last.out" "$work/chdb-${millions}m.json"
    duck+=("$(measure python3 bench/funnel_peers.py duckdb "$store/events/*.parquet")")
    cp "$work/last.out" "$work/duckdb-${millions}m.json"
  done
  read -r ours_s ours_mb < <(printf '%s\n' "${ours[@]}" | median)
  read -r chdb_s chdb_mb < <(printf '%s\n' "${chdb[@]}" | median)
  read -r duck_s duck_mb < <(printf '%s\n' "${duck[@]}" | median)
  events=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['events'])" "$work/ours-${millions}m.json")
  customers=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['customers'])" "$work/ours-${millions}m.json")
  table+=$'\n'$(awk -v n="$events" -v c="$customers" -v os="$ours_s" -v om="$ours_mb" -v cs="$chdb_s" -v cm="$chdb_mb" -v ds="$duck_s" -v dm="$duck_mb" 'BEGIN {
    printf "| %d | %d | %.2f | %d | %.2f | %d | %.2f | %d | %.2f× | %.2f× |", n, c, os, om, cs, cm, ds, dm, cs / os, ds / os
  }')
  # Page-cache misses (major faults) are where a slow run usually comes from: pages the
  # machine dropped between runs, read back while the analysis waits.
  notes+=$'\n'"${millions}M: parcours major page faults per run: ${ours[*]##* }; runs (s): $(printf '%s ' "${ours[@]%% *}")"
  notes+=$'\n'"${millions}M: customers and reached per stage — parcours $(reach_ours "$work/ours-${millions}m.json"); chDB $(reach_peer "$work/chdb-${millions}m.json"); DuckDB $(reach_peer "$work/duckdb-${millions}m.json")"
done
echo "$table"
echo "$notes"
