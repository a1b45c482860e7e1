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
#   ./scripts/tap-test.sh --sasl       # SASL: the secured broker (kafka.sh secure-up) in the
#                                      # namespace (10.202.0.0/24); the driver logs in
#                                      # with PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER on its
#                                      # SASL_PLAINTEXT listener, 20,000 records each read back
#                                      # over SASL; re-authentication (10 s sessions) during a
#                                      # 25 s produce; a wrong password, an unknown user and a
#                                      # mechanism the listener does not enable each end with
#                                      # the typed authentication error after one connection
#   ./scripts/tap-test.sh --sasl --embassy   # the same on the async driver (10.203.0.0/24)
#   ./scripts/tap-test.sh --sasl --both      # both drivers against one secured broker
#                                      # (10.204.0.0/24): what scripts/test.sh runs
#
# With --sasl the cases run in lanes side by side (the produce cases, the 25 s re-authentication
# and the refused logins), each lane on its own TAP device and address, all on one bridge that
# holds the broker's address (br-kprod); each lane's output is printed when it ends, and any
# failed lane fails the run.
#
# Everything is built and fetched first (the namespace has no network). Then, inside
# `unshare -n`: lo comes up, tap0 gets 10.200.0.1/24 on the host side, a Kafka broker starts
# bound to and advertising 10.200.0.1:9092 (its own state dir, target/kafka/broker-10.200.0.1-9092,
# so it does not clash with the 127.0.0.1:9092 broker), kprod-tap-test attaches a smoltcp
# interface with 10.200.0.2 to tap0 and runs, the independent verifier reads back, and the
# broker is stopped whatever happens. Needs root and /dev/net/tun. With --sasl the broker is
# the secured one (listeners from 9092 up, controller 9190, state in target/kafka-tap-<host>),
# run with the sasl feature on in kprod-tap-test: the example firmware keeps it off.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KAFKA=tests/broker/kafka.sh
HOST=10.200.0.1
PORT=9092
CPORT=9093
TAP=tap0
LOCAL=10.200.0.2/24
# --embassy, --sasl: each its own subnet, TAP name and broker state dir, so the variants can
# coexist (--sasl names its lanes' TAP devices itself, sasl_lanes).
set_net() {
  local net=10.200.0 tap=tap0
  if [[ "${KPROD_TAP_SASL:-}" == 1 ]]; then
    net=10.202.0
    [[ "${KPROD_TAP_EMBASSY:-}" == 1 ]] && net=10.203.0
    [[ "${KPROD_TAP_BOTH:-}" == 1 ]] && net=10.204.0
  elif [[ "${KPROD_TAP_EMBASSY:-}" == 1 ]]; then
    net=10.201.0 tap=tap1
  fi
  HOST=$net.1 TAP=$tap LOCAL=$net.2/24
}
set_net
# The secured broker's first listener (SASL_PLAINTEXT is +3, the re-authenticating one +5) and
# its controller.
SECURE_PORT=9092
SECURE_CPORT=9190
secure_env() {
  export KPROD_KAFKA_WORK_DIR="$ROOT/target/kafka-tap-$HOST" KPROD_SECURE_HOST="$HOST" \
    KPROD_SECURE_PORT="$SECURE_PORT" KPROD_SECURE_CONTROLLER_PORT="$SECURE_CPORT"
}

# The SASL cases, one run of kprod-tap-test each, after the name of their lane: a lane's cases
# run one after another, the lanes side by side (an underscore in the expected text of
# --auth-error stands for a space).
sasl_cases() {
  cat <<'EOF'
produce --sasl PLAIN --records 20000
produce --sasl SCRAM-SHA-256 --records 20000
produce --sasl SCRAM-SHA-512 --records 20000
produce --sasl OAUTHBEARER --records 20000
reauth --sasl SCRAM-SHA-256 --reauth --spread-s 25 --records 5000
refused --sasl PLAIN --password wrong-password --auth-error Authentication_failed
refused --sasl SCRAM-SHA-256 --password wrong-password --auth-error Authentication_failed
refused --sasl SCRAM-SHA-512 --user mallory --password whatever --auth-error Authentication_failed
refused --sasl SCRAM-SHA-512 --reauth --auth-error sasl.mechanism=SCRAM-SHA-512
EOF
}
SASL_LANES=(produce reauth refused)
BRIDGE=br-kprod

# One lane: DRIVER (smoltcp or embassy) runs LANE's cases over TAP with address LOCAL; the
# arguments after those go to every run.
sasl_lane() {
  local driver="$1" lane="$2" tap="$3" local="$4" name rest t0 case_args
  shift 4
  local flags=(--tap "$tap" --local "$local" --broker "$HOST:$SECURE_PORT")
  [[ "$driver" == embassy ]] && flags+=(--embassy)
  while read -r name rest; do
    [[ "$name" == "$lane" ]] || continue
    read -r -a case_args <<<"$rest"
    case_args=("${case_args[@]//_/ }")
    echo "=== [$driver $lane] kprod-tap-test ${case_args[*]}"
    t0=$SECONDS
    "$TEST_BIN" "${flags[@]}" "${case_args[@]}" "$@" </dev/null || return 1
    echo "=== [$driver $lane] passed in $((SECONDS - t0))s"
  done < <(sasl_cases)
}

# Every lane of every driver at once, each on its own TAP device in the bridge; the output of
# each lane is printed when it ends. Fails if any lane failed.
sasl_lanes() {
  local drivers=(smoltcp) driver lane tap n=10 logs="$KPROD_KAFKA_WORK_DIR/lanes" pids=() names=() i failed=()
  [[ "${KPROD_TAP_EMBASSY:-}" == 1 ]] && drivers=(embassy)
  [[ "${KPROD_TAP_BOTH:-}" == 1 ]] && drivers=(smoltcp embassy)
  mkdir -p "$logs"
  for driver in "${drivers[@]}"; do
    for lane in "${SASL_LANES[@]}"; do
      tap="t-${driver:0:1}-$lane" n=$((n + 1))
      ip tuntap add dev "$tap" mode tap
      ip link set "$tap" master "$BRIDGE"
      ip link set "$tap" up
      sasl_lane "$driver" "$lane" "$tap" "${HOST%.*}.$n/24" "$@" >"$logs/$driver-$lane.log" 2>&1 &
      pids+=($!) names+=("$driver $lane")
    done
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
    cat "$logs/${names[$i]/ /-}.log"
  done
  ((${#failed[@]} == 0)) || die "SASL lanes failed: $(printf '[%s] ' "${failed[@]}")"
}

die() { echo "tap-test.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- inside the namespace

if [[ "${1:-}" == __inside ]]; then
  shift
  TEST_BIN="$1" BENCH_BIN="$2" MODE="$3"
  shift 3
  if [[ "${KPROD_TAP_SASL:-}" == 1 ]]; then
    secure_env
    # shellcheck disable=SC2317 # called by the EXIT trap
    stop_broker() { bash "$KAFKA" secure-down || true; }
  else
    # shellcheck disable=SC2317 # called by the EXIT trap
    stop_broker() { bash "$KAFKA" down --host "$HOST" --port "$PORT" || true; }
  fi
  trap stop_broker EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ip link set lo up
  if [[ "${KPROD_TAP_SASL:-}" == 1 ]]; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$HOST/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    echo "=== secured broker at $HOST:$SECURE_PORT-$((SECURE_PORT + 7)) (namespace $(readlink /proc/self/ns/net))"
    bash "$KAFKA" secure-up >/dev/null
    sasl_lanes "$@"
    exit 0
  fi
  ip tuntap add dev "$TAP" mode tap
  ip addr add "$HOST/24" dev "$TAP"
  ip link set "$TAP" up
  common=(--tap "$TAP" --local "$LOCAL" --broker "$HOST:$PORT")
  [[ "${KPROD_TAP_EMBASSY:-}" == 1 ]] && common+=(--embassy)
  echo "=== broker at $HOST:$PORT (namespace $(readlink /proc/self/ns/net))"
  bash "$KAFKA" up --host "$HOST" --port "$PORT" --controller-port "$CPORT"
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
    --embassy) export KPROD_TAP_EMBASSY=1; set_net; shift ;;
    --sasl) export KPROD_TAP_SASL=1; set_net; shift ;;
    --both) export KPROD_TAP_BOTH=1; set_net; shift ;;
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

[[ "${KPROD_TAP_SASL:-}" == 1 && "$MODE" != test ]] && die "--sasl has no benchmark"
[[ "${KPROD_TAP_BOTH:-}" == 1 && "${KPROD_TAP_SASL:-}" != 1 ]] && die "--both goes with --sasl"
# A broker of an earlier run that was killed before it could stop its own: stop it (only ours).
if [[ "${KPROD_TAP_SASL:-}" == 1 ]]; then
  (secure_env && bash "$KAFKA" secure-down >/dev/null 2>&1) || true
else
  bash "$KAFKA" down --host "$HOST" --port "$PORT" >/dev/null 2>&1 || true
fi

t0=$SECONDS
unshare -n bash "${BASH_SOURCE[0]}" __inside "$TEST_BIN" "$BENCH_BIN" "$MODE" "$@"
echo "=== tap-test.sh: passed in $((SECONDS - t0))s"
