#!/usr/bin/env bash
# Ingestion benchmark (not a test): `parcours serve` on loopback, fed by a load generator
# (crates/server/examples/load.rs) posting batches of track events to /v1/batch over
# keep-alive connections, every message with its own id. A figure counts only events the
# server acknowledged, and an acknowledgement means the events were synced to the event
# log. After each run the server is stopped (SIGTERM) and the store must hold every
# acknowledged event, so that a fast wrong answer shows.
#
#   bench/serve.sh                 # 10 s per configuration
#   SECONDS_PER_RUN=30 bench/serve.sh
#
# Target on 2 cores: at least 50,000 events/s acknowledged durably, p99 latency at most
# 50 ms. The load generator shares the machine's two cores with the server.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-10}
work=${BENCH_DIR:-target/bench-serve}
cargo build --quiet --profile bench -p parcours-cli
cargo build --quiet --profile bench -p parcours-server --example load
parcours=$PWD/target/release/parcours
load=$PWD/target/release/examples/load
port=18642

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| connections | events per batch | events/s acknowledged | vs 50,000/s target | p50 ms | p99 ms | max ms | failed requests | stored / acknowledged |"
echo "|---|---|---|---|---|---|---|---|---|"
for config in "16 100" "64 10" "4 500"; do
  read -r connections batch <<< "$config"
  rm -rf "$work" && mkdir -p "$work"
  "$parcours" serve --data "$work/data" --write-key wk_bench --listen "127.0.0.1:$port" 2> "$work/serve.err" &
  server=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  result=$("$load" "127.0.0.1:$port" wk_bench "$seconds" "$connections" "$batch")
  kill -TERM "$server"
  wait "$server"
  stored=$("$parcours" store stats --data "$work/data" --format json | python3 -c "import json,sys; print(json.load(sys.stdin)['stats']['events'])")
  python3 - "$result" "$stored" "$connections" "$batch" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); stored = int(sys.argv[2])
print(f"| {sys.argv[3]} | {sys.argv[4]} | {r['events_per_s']:,.0f} | {r['events_per_s'] / 50000:.1f}× | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['failed_requests']} | {stored:,} / {r['events']:,} |")
if stored != r["events"]:
    sys.exit(f"the store holds {stored} events, the server acknowledged {r['events']}")
PY
done
