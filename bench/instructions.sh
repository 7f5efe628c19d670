#!/usr/bin/env bash
# Instructions executed by one `parcours analyze` (not a test): a measure of the analysis's
# work that does not move with the machine's load, for comparing two builds when
# wall-clock times on a shared machine vary by more than the change.
#
#   bench/instructions.sh                 # the 10M-event store of bench/analyze.sh
#   bench/instructions.sh STORE [BINARY]  # another store, another build
#
# Runs under valgrind (cachegrind without cache simulation: about 40 times slower than a
# normal run, so 10M events take half a minute). Prints millions of instructions.
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-target/bench-analyze/store-10m}
parcours=${2:-}
if ! command -v valgrind >/dev/null 2>&1; then
  echo "==> installing valgrind (Debian package)" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq valgrind >/dev/null; else sudo apt-get install -y -qq valgrind >/dev/null; fi
fi
if [ -z "$parcours" ]; then
  cargo build --quiet --profile bench -p parcours-cli
  parcours=$PWD/target/release/parcours
fi
journey=target/bench-analyze/journey
[ -f "$journey/journey.toml" ] || "$parcours" init --template digital "$journey" >/dev/null
[ -d "$store" ] || { echo "no store at $store: run bench/analyze.sh first" >&2; exit 1; }
valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
  "$parcours" analyze -j "$journey/journey.toml" --data "$store" --format json 2>&1 >/dev/null |
  awk '/I *refs/ { gsub(",", "", $4); printf "%.1f M instructions\n", $4 / 1e6 }'
