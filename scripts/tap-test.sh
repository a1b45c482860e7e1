#!/usr/bin/env bash
# The smoltcp driver against a real broker, over a TAP device, in a private network namespace:
#
#   ./scripts/tap-test.sh              # the test: 100,000 records (lz4, acks=all) read back
#   ./scripts/tap-test.sh --bench      # the test, then the benchmark (1 GiB of 1 KiB records)
#   ./scripts/tap-test.sh --bench-only # only the benchmark
#   ./scripts/tap-test.sh --bench-only -- --bytes 268435456 --batch-size 65536
#                                      # arguments after -- go to kprod-tap-test
#   ./scripts/tap-test.sh --embassy    # the test on the async driver in an embassy executor,
#                                      # over embassy-net (tap1, 10.201.0.0/24)
#
# Everything is built and fetched first (the namespace has no network). Then, inside
# `unshare -n`: lo comes up, tap0 gets 10.200.0.1/24 on the host side, a Kafka broker starts
# bound to and advertising 10.200.0.1:9092 (its own state dir, target/kafka/broker-10.200.0.1-9092,
# so it does not clash with the 127.0.0.1:9092 broker), kprod-tap-test attaches a smoltcp
# interface with 10.200.0.2 to tap0 and runs, the independent verifier reads back, and the
# broker is stopped whatever happens. Needs root and /dev/net/tun.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KAFKA=tests/broker/kafka.sh
HOST=10.200.0.1
PORT=9092
CPORT=9093
TAP=tap0
LOCAL=10.200.0.2/24
# --embassy: its own subnet, TAP name and broker state dir, so both variants can coexist.
if [[ "${KPROD_TAP_EMBASSY:-}" == 1 ]]; then
  HOST=10.201.0.1
  TAP=tap1
  LOCAL=10.201.0.2/24
fi

die() { echo "tap-test.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- inside the namespace

if [[ "${1:-}" == __inside ]]; then
  shift
  TEST_BIN="$1" BENCH_BIN="$2" MODE="$3"
  shift 3
  # shellcheck disable=SC2317 # called by the EXIT trap
  stop_broker() { bash "$KAFKA" down --host "$HOST" --port "$PORT" || true; }
  trap stop_broker EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ip link set lo up
  ip tuntap add dev "$TAP" mode tap
  ip addr add "$HOST/24" dev "$TAP"
  ip link set "$TAP" up
  echo "=== broker at $HOST:$PORT (namespace $(readlink /proc/self/ns/net))"
  bash "$KAFKA" up --host "$HOST" --port "$PORT" --controller-port "$CPORT"
  common=(--tap "$TAP" --local "$LOCAL" --broker "$HOST:$PORT")
  [[ "${KPROD_TAP_EMBASSY:-}" == 1 ]] && common+=(--embassy)
  if [[ "$MODE" != bench-only ]]; then
    echo "=== kprod-tap-test"
    "$TEST_BIN" "${common[@]}" "$@"
  fi
  if [[ "$MODE" != test ]]; then
    echo "=== kprod-tap-test --bench"
    "$BENCH_BIN" --bench "${common[@]}" "$@"
  fi
  exit 0
fi

# ---------------------------------------------------------------- outside

MODE="test"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bench) MODE=test+bench; shift ;;
    --bench-only) MODE=bench-only; shift ;;
    --embassy) export KPROD_TAP_EMBASSY=1; HOST=10.201.0.1; TAP=tap1; LOCAL=10.201.0.2/24; shift ;;
    --) shift; break ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

[[ "$(id -u)" == 0 ]] || die "needs root (unshare -n, ip tuntap)"
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing"
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
command -v ip >/dev/null || die "ip (iproute2) is missing"

# shellcheck source=scripts/lib.sh
source scripts/lib.sh
ensure_tools --no-rust-targets
bash "$KAFKA" fetch
bash "$KAFKA" venv
TARGET="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET" = /* ]] || TARGET="$ROOT/$TARGET"
# The test runs the debug build (it shares the dependencies `cargo test` built); the benchmark
# runs the release build.
TEST_BIN="$TARGET/debug/kprod-tap-test"
BENCH_BIN="$TARGET/release/kprod-tap-test"
if [[ "$MODE" != bench-only ]]; then
  echo "=== build kprod-tap-test"
  cargo build -p kprod-tap-test
  [[ -x "$TEST_BIN" ]] || die "$TEST_BIN was not built"
fi
if [[ "$MODE" != test ]]; then
  echo "=== build kprod-tap-test (release)"
  cargo build --release -p kprod-tap-test
  [[ -x "$BENCH_BIN" ]] || die "$BENCH_BIN was not built"
fi

# A broker of an earlier run that was killed before it could stop its own: stop it (only ours).
bash "$KAFKA" down --host "$HOST" --port "$PORT" >/dev/null 2>&1 || true

t0=$SECONDS
unshare -n bash "${BASH_SOURCE[0]}" __inside "$TEST_BIN" "$BENCH_BIN" "$MODE" "$@"
echo "=== tap-test.sh: passed in $((SECONDS - t0))s"
