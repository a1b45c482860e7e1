#!/usr/bin/env bash
# THE test command: installs what is missing, starts a single Kafka broker and
# a 3-node cluster, runs every test of the workspace against them, builds the
# core for bare metal, and stops the brokers whatever happens.
#
#   ./scripts/test.sh
#
# Ports: single broker 127.0.0.1:9092 (controller 9093); cluster
# 127.0.0.1:19092-19094 (controllers 19192-19194). See tests/broker/kafka.sh
# for the variables that move them. KPROD_CLUSTER=skip runs without the cluster.
# The secured broker (TLS, mTLS, SASL listeners): 127.0.0.1:29592-29599 (controller
# 29690), see tests/broker/secure.sh; KPROD_SECURE=skip runs without it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
KAFKA=tests/broker/kafka.sh

TIMINGS=()
BG_PIDS=()

phase() {
  local name="$1" t0=$SECONDS
  shift
  echo "=== $name"
  "$@"
  TIMINGS+=("$(printf '%-28s %4ds' "$name" $((SECONDS - t0)))")
  echo "=== $name: done in $((SECONDS - t0))s"
}

cleanup() {
  local rc=$?
  trap - EXIT
  # Let a broker start still under way finish first, so that none is left.
  local pid
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "=== stop brokers"
  bash "$KAFKA" down --all || true
  echo "=== timings"
  printf '  %s\n' "${TIMINGS[@]}"
  printf '  %-28s %4ds\n' total "$SECONDS"
  ((rc == 0)) && echo "=== test.sh: all passed" || echo "=== test.sh: FAILED (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every fuzz target for FUZZ_SECONDS (15 here, 30 in scripts/fuzz.sh alone) each, two at a time;
# any crash fails the run. 15 s keeps the test command under 30 minutes on 2 cores (22 targets at
# 30 s took 345 s of the 1,813 s of a fresh-clone run); longer fuzzing is its own command.
run_fuzz() {
  FUZZ_SECONDS="${FUZZ_SECONDS:-15}" bash scripts/fuzz.sh
}

# The fuzzers (scripts/fuzz.sh) and the short reliability scenarios (scripts/reliability.sh)
# at once; the scenarios' output goes to a log, printed when they end. Both must pass.
run_fuzz_and_reliability() {
  local log="$ROOT/target/reliability-short.log" rel fuzz_rc=0 rel_rc=0
  mkdir -p "$ROOT/target"
  bash scripts/reliability.sh >"$log" 2>&1 &
  rel=$!
  run_fuzz || fuzz_rc=$?
  wait "$rel" || rel_rc=$?
  echo "=== reliability (short), from $log"
  cat "$log"
  ((fuzz_rc == 0)) || { echo "fuzz failed (exit $fuzz_rc)" >&2; return "$fuzz_rc"; }
  ((rel_rc == 0)) || { echo "reliability (short) failed (exit $rel_rc)" >&2; return "$rel_rc"; }
}

# The brokers are done once the Rust tests are; stopping them frees the cores for the fuzzers.
stop_brokers() {
  bash "$KAFKA" down --all
}

start_brokers() {
  bash "$KAFKA" up &
  BG_PIDS+=($!)
  if [[ "${KPROD_CLUSTER:-}" != skip ]]; then
    bash "$KAFKA" cluster-up 3 &
    BG_PIDS+=($!)
  fi
  if [[ "${KPROD_SECURE:-}" != skip ]]; then
    bash "$KAFKA" secure-up &
    BG_PIDS+=($!)
  fi
}

wait_brokers() {
  local pid
  for pid in "${BG_PIDS[@]}"; do wait "$pid" || { echo "a broker failed to start" >&2; return 1; }; done
  BG_PIDS=()
}

KAFKA_PORT="${KPROD_KAFKA_PORT:-9092}"
CLUSTER_PORT="${KPROD_CLUSTER_PORT:-19092}"
export KPROD_BOOTSTRAP="${KPROD_KAFKA_HOST:-127.0.0.1}:$KAFKA_PORT"
CH="${KPROD_CLUSTER_HOST:-127.0.0.1}"
export KPROD_CLUSTER_BOOTSTRAP="$CH:$CLUSTER_PORT,$CH:$((CLUSTER_PORT + 1)),$CH:$((CLUSTER_PORT + 2))"
export KPROD_SECURE_PORT="${KPROD_SECURE_PORT:-29592}"
# tests/tests/std_rebootstrap.rs: two brokers of its own, on PORT and PORT+2 (controllers +1, +3).
# Below the kernel's ephemeral range (32768-60999 by default): at 59092 a client's own outgoing
# connection once held PORT+2 when the test started its broker there ("Address already in use").
export KPROD_REBOOTSTRAP_PORT="${KPROD_REBOOTSTRAP_PORT:-28092}"
# The QEMU and reliability brokers listen inside the ephemeral range: keep the kernel from
# handing those ports to outgoing connections (root only; elsewhere a clash stays possible).
reserve_ports 39096-39197,49092-49297

phase "install tools" ensure_tools --rust-targets
phase "kafka jars" bash "$KAFKA" fetch
phase "python venv" bash "$KAFKA" venv
phase "bench runner unit tests" python3 -m unittest discover -s bench/run -p 'test_*.py'
# The brokers start while cargo compiles: the JVMs and rustc share 2 cores,
# but most of the broker start is waiting.
start_brokers
phase "cargo build (tests)" cargo test --workspace --no-run
phase "brokers ready" wait_brokers
phase "cargo test" cargo test --workspace
# The core's tests without features (the example firmware's build: unit tests, the engine on
# borrowed storage, byte vectors) and with a heap, SASL and transactions but no std (also the
# simulator on 2,000 seeds: software CRC-32C, miniz gzip, no snappy or zstd); the workspace
# run above has std and the C codecs.
phase "core tests, no features" cargo test -p kprod-core --no-default-features --tests
phase "core tests, no std" env KPROD_SIM_SEEDS=2000 cargo test -p kprod-core --no-default-features --features alloc,sasl,transactions --tests
phase "thumbv7em core build" cargo build -p kprod-core -p kprod-smoltcp --no-default-features --features kprod-smoltcp/embedded-io --target thumbv7em-none-eabihf
phase "thumbv7em embassy build" cargo build -p kprod-core -p kprod-smoltcp --no-default-features --features kprod-smoltcp/embedded-io-async,kprod-smoltcp/embassy-time --target thumbv7em-none-eabihf
phase "firmware size" bash scripts/firmware-size.sh
phase "stop brokers" stop_brokers
# Its own broker, bound to 10.200.0.1 inside a private network namespace.
phase "smoltcp TAP test" bash scripts/tap-test.sh
# The example firmware on QEMU's mps2-an386 against its own broker (ports 39096-39097, 39196).
phase "firmware on QEMU" bash scripts/qemu-test.sh
# The async driver in an embassy executor over embassy-net: its own broker on 10.201.0.1.
phase "embassy TAP test" bash scripts/tap-test.sh --embassy
# SASL on both embedded drivers, their cases side by side: the secured broker on 10.204.0.1.
if [[ "${KPROD_SECURE:-}" != skip ]]; then phase "SASL TAP test" bash scripts/tap-test.sh --sasl --both; fi
# The short fault scenarios against their own proxied 3-node cluster (ports 49092-49297,
# target/kafka-reliability) mostly wait on broker restarts, so they run beside the fuzzers.
phase "fuzz + reliability (short)" run_fuzz_and_reliability
