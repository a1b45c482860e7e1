#!/usr/bin/env bash
# Reliability under real network faults (issue 14): tests/tests/reliability.rs against its own
# 3-node cluster behind the fault proxies of tests/proxy (kprod-fault-proxy). Each scenario's
# report is printed and appended to target/reliability/report.jsonl.
#
#   ./scripts/reliability.sh                  # the short versions (the test command runs these)
#   ./scripts/reliability.sh --long           # >= 1,000,000 records per fault scenario, full rate (release build)
#   ./scripts/reliability.sh --soak [MIN]     # the soak alone: MIN (30) minutes, a fault a minute (release build)
#   ./scripts/reliability.sh --only kill,plain-cut   # chosen scenarios (names: tests/tests/reliability.rs)
#
# Ports (KPROD_RELIABILITY_PORT moves them all): nodes 49092-49094, controllers 49192-49194,
# proxies 49292-49294, replication listeners 49295-49297. Work dir: target/kafka-reliability.
# The cluster stops at the end unless KPROD_RELIABILITY_KEEP_CLUSTER=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

profile=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --long) export KPROD_RELIABILITY_MODE=long; profile=(--release); shift ;;
    --soak)
      export KPROD_RELIABILITY_ONLY=soak KPROD_RELIABILITY_MODE=long
      profile=(--release)
      if [[ "${2:-}" =~ ^[0-9]+$ ]]; then export KPROD_RELIABILITY_SOAK_MINUTES="$2"; shift; fi
      shift ;;
    --only) export KPROD_RELIABILITY_ONLY="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "reliability.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

bash tests/broker/kafka.sh fetch >/dev/null
bash tests/broker/kafka.sh venv >/dev/null
# The test stops its cluster itself; this catches an interrupted run.
stop_cluster() {
  [[ "${KPROD_RELIABILITY_KEEP_CLUSTER:-}" == 1 ]] && return 0
  local p="${KPROD_RELIABILITY_PORT:-49092}"
  KPROD_KAFKA_WORK_DIR="$ROOT/target/kafka-reliability" KPROD_CLUSTER_PORT="$p" \
    KPROD_CLUSTER_CONTROLLER_PORT=$((p + 100)) bash tests/broker/kafka.sh cluster-down >/dev/null 2>&1 || true
}
trap stop_cluster EXIT
t0=$SECONDS
cargo test "${profile[@]}" -p kprod-tests --test reliability -- --ignored --nocapture --test-threads=1
echo "reliability.sh: done in $((SECONDS - t0))s; reports in target/reliability/report.jsonl"
