#!/usr/bin/env bash
# Benchmarks kprod against other Kafka producers on one local broker, with matched settings:
# `kprod perf`, Kafka's Java ProducerPerformance, librdkafka (rdkafka crate), franz-go and
# kafka-python; 100-byte and 1 KiB records, acks=1 and acks=all. Writes bench/results/peers.json,
# bench/results/peers.svg and the peers section of BENCHMARKS.md (a full run takes ~10-15 min).
#
#   scripts/bench.sh [--quick] [--clients kprod,java,rdkafka,franz-go,kafka-python]
#                    [--records N] [--reps N] [--seed N] [--pause S] [--timeout S]
#
#   --quick      smoke run: 40,000 records (1 KiB: 10,000), 1 repetition; writes under
#                target/bench-quick/ and leaves BENCHMARKS.md alone
#   --clients    subset to run (and build); a client that cannot be built here is skipped
#   --records N  100-byte records per run of a fast client (default 2,000,000; 1 KiB runs
#                take N/4, kafka-python N/5 and N/16)
#   --reps N     repetitions of the whole matrix, shuffled, medians reported (default 2)
# Everything else: `bench/run/peers.py --help`.
#
# Installs what is missing (Java, Maven, the Kafka jars, the Python venv, GNU time, cmake and the
# libcurl headers librdkafka's build needs), builds the clients (cargo and go, in CARGO_TARGET_DIR or
# target/), starts a broker at KPROD_KAFKA_HOST:KPROD_KAFKA_PORT (127.0.0.1:9092) when none
# answers there and stops it again at the end. Run it on a quiet machine: the broker and the
# client share the cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
KAFKA=tests/broker/kafka.sh
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
HOST="${KPROD_KAFKA_HOST:-127.0.0.1}"
PORT="${KPROD_KAFKA_PORT:-9092}"
BOOTSTRAP="$HOST:$PORT"
CACHE_DIR="${KPROD_CACHE_DIR:-$ROOT/.cache}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' tests/broker/pom.xml | head -n1)"
LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
VENV_PY="$CACHE_DIR/venv/bin/python"
KPROD_BIN="$TARGET/release/kprod"
RDKAFKA_BIN="$TARGET/release/rdkafka-perf"
FRANZ_BIN="$TARGET/release/franz-go-perf"

CLIENTS="kprod,java,rdkafka,franz-go,kafka-python"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --clients) CLIENTS="${args[i + 1]:-}" ;;
    --clients=*) CLIENTS="${args[i]#--clients=}" ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  esac
done
want() { [[ ",$CLIENTS," == *",$1,"* ]]; }
say() { echo "bench.sh: $*"; }

STARTED_BROKER=0
cleanup() {
  local rc=$?
  trap - EXIT
  if ((STARTED_BROKER)); then
    say "stopping the broker this script started"
    bash "$KAFKA" down --host "$HOST" --port "$PORT" || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools, jars, venv

ensure_tools --no-rust-targets
# GNU time starts each client and reports its peak RSS (see bench/run/measure.py).
[[ -x /usr/bin/time ]] || apt_install time
bash "$KAFKA" fetch
bash "$KAFKA" venv

# ---------------------------------------------------------------- clients

build_kprod() {
  if [[ ! -f cli/Cargo.toml ]]; then
    say "kprod: cli/ (kprod-cli) does not exist yet; the run skips kprod"
    return 0
  fi
  say "kprod: cargo build --release -p kprod-cli"
  CARGO_TARGET_DIR="$TARGET" cargo build --release -p kprod-cli
}

# librdkafka 2.12's cmake build includes <curl/curl.h> even with WITH_CURL=0 (an #ifdef on a
# macro that config.h always defines, confluentinc/librdkafka#5135): it needs the header only,
# nothing links libcurl.
build_rdkafka() {
  local pkgs=()
  command -v cmake >/dev/null || pkgs+=(cmake)
  command -v c++ >/dev/null || pkgs+=(g++)
  echo '#include <curl/curl.h>' | cc -E - >/dev/null 2>&1 || pkgs+=(libcurl4-openssl-dev)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
  say "rdkafka: cargo build --release (bench/peers/rdkafka, its own workspace; bundled librdkafka, static)"
  CARGO_TARGET_DIR="$TARGET" cargo build --release --locked --manifest-path bench/peers/rdkafka/Cargo.toml
}

build_franz_go() {
  local v
  if ! command -v go >/dev/null; then
    say "franz-go: no Go toolchain; the run skips franz-go (franz-go v1.22.2 needs Go >= 1.26)"
    rm -f "$FRANZ_BIN"
    return 0
  fi
  v="$(go env GOVERSION)"
  if ! printf '%s\n' go1.26 "$v" | sort -V -C; then
    say "franz-go: $v is older than go1.26 (franz-go v1.22.2 needs it); the run skips franz-go"
    rm -f "$FRANZ_BIN"
    return 0
  fi
  say "franz-go: go build ($v; modules from go.sum)"
  mkdir -p "$(dirname "$FRANZ_BIN")"
  (cd bench/peers/franz-go && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath -o "$FRANZ_BIN" .)
}

t0=$SECONDS
if want kprod; then build_kprod; fi
if want rdkafka; then build_rdkafka; fi
if want franz-go; then build_franz_go; fi
say "builds done in $((SECONDS - t0)) s"

# ---------------------------------------------------------------- broker

if python3 tests/broker/verify.py probe --bootstrap "$BOOTSTRAP" --brokers 1 --timeout 2 >/dev/null 2>&1; then
  say "using the broker that answers at $BOOTSTRAP"
else
  say "no broker at $BOOTSTRAP: starting one (stopped again at the end)"
  STARTED_BROKER=1
  bash "$KAFKA" up --host "$HOST" --port "$PORT"
fi

# ---------------------------------------------------------------- run

"$VENV_PY" bench/run/peers.py --bootstrap "$BOOTSTRAP" --kprod-bin "$KPROD_BIN" --rdkafka-bin "$RDKAFKA_BIN" \
  --franz-go-bin "$FRANZ_BIN" --java-libs "$LIBS" --python "$VENV_PY" "$@"
