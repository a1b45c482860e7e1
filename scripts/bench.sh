#!/usr/bin/env bash
# Benchmarks kprod against other Kafka producers on local brokers, with matched settings:
# `kprod perf`, Kafka's Java ProducerPerformance, librdkafka (rdkafka crate), franz-go,
# Confluent's Rust client (confluent-kafka crate) and kafka-python. Scenarios (bench/run/clients.py):
# 100-byte and 1 KiB records with acks=1 and acks=all (group base), keyed records over 12
# partitions (keyed), 200k/s and 50k/s fixed rates with default settings (latency), gzip, lz4 and
# zstd on 1 KiB text (compression), a 3-node cluster with replication factor 3 (cluster), a
# 10,000-partition topic and 1,000 topics (scale), SASL_SSL with SCRAM-SHA-512 (sasl), and
# transactions committed every 100 ms (txn). Writes bench/results/peers.json,
# bench/results/peers.svg and the peers section of BENCHMARKS.md. A full run (17 scenarios, 6
# clients, 2 repetitions and 4 of the fixed rates, 224 runs) took 64 min on 2 cores (seed 87);
# before --rate-reps, 200 runs took 54-65 min in seven runs (60-63 min with the broker warm-ups,
# seeds 75, 81 and 85); --scenarios reruns a part. As root it drops the
# page cache before the runs and whenever less than a quarter of the RAM is free
# (bench/run/peers.py: drop_page_cache). The scale scenarios run on a broker of their own: a
# broker holding the 10,000-partition topic spent 2-3x the CPU per record under load in A/Bs, a
# cost the other scenarios' runs no longer share (BENCHMARKS.md, seed 75). Their topic sets are
# shared by their runs: each set's first run is preceded by an unmeasured warm-up run of the same
# client (the first writer into new topics runs far slower, whichever client it is). Before the
# matrix, every broker the scenarios use gets two unmeasured warm-up runs on a scratch topic, 8 s
# each (1 KiB acks=all at 100,000/s, then 100 B acks=1 at 400,000/s; peers.py --warm-up-seconds):
# the first runs on a fresh broker JVM are slow. Their figures are in peers.json
# ("broker_warm_up") only.
#
#   scripts/bench.sh [--quick] [--clients kprod,java,rdkafka,franz-go,confluent,kafka-python]
#                    [--scenarios all|GROUP|KEY,...] [--records N] [--reps N] [--rate-reps N]
#                    [--seed N] [--rate-seconds S] [--pause S] [--timeout S]
#
#   --quick      smoke run: 40,000 records (1 KiB: 10,000), 3 s at fixed rates, 1 repetition;
#                writes under target/bench-quick/ and leaves BENCHMARKS.md alone
#   --clients    subset to run (and build); a client that cannot be built here is skipped
#   --scenarios  groups (base, keyed, latency, compression, cluster, scale, sasl, txn) or
#                scenario keys, comma-separated (default all); starts only the brokers they need
#   --records N  100-byte records per run of a fast client (default 2,000,000; 1 KiB runs
#                take N/4, the scale scenarios N/2, kafka-python a fifth or a quarter of that);
#                fixed-rate runs send rate x --rate-seconds (default 15)
#   --reps N     repetitions of the whole matrix, shuffled, medians reported (default 2)
#   --rate-reps N  repetitions of the fixed-rate scenarios (default 4; --quick: --reps): their
#                CPU goal turns on tenths of a CPU-second per million records, which one run on
#                a loaded machine moved by a quarter (BENCHMARKS.md, seed 85)
# Everything else: `bench/run/peers.py --help`.
#
# Installs what is missing (Java, Maven, the Kafka jars, the Python venv, GNU time, cmake and the
# libcurl headers librdkafka's build needs), builds the clients (cargo, go and javac, in
# CARGO_TARGET_DIR or target/), starts the brokers the scenarios need when none answers: one at
# KPROD_KAFKA_HOST:KPROD_KAFKA_PORT (127.0.0.1:9092), the scale scenarios' own at
# KPROD_SCALE_HOST:KPROD_SCALE_PORT (KPROD_KAFKA_HOST:27092, controller KPROD_SCALE_CONTROLLER_PORT,
# PORT+1; heap KPROD_SCALE_HEAP, 1g, for the 10,000-partition topic), the 3-node cluster at
# KPROD_CLUSTER_PORT..+2 (19092) and the secured broker at KPROD_SECURE_PORT (29592, SASL_SSL on
# +4), the others with heap KPROD_KAFKA_HEAP (1g here), see tests/broker/kafka.sh, and stops what
# it started at the end. Run it on a quiet machine: the brokers and the client share the cores.
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
CONFLUENT_BIN="$TARGET/release/confluent-kafka-perf"
JAVA_CLASSES="$TARGET/bench-java"
C_HOST="${KPROD_CLUSTER_HOST:-127.0.0.1}"
C_PORT="${KPROD_CLUSTER_PORT:-19092}"
CLUSTER_BOOTSTRAP="$C_HOST:$C_PORT,$C_HOST:$((C_PORT + 1)),$C_HOST:$((C_PORT + 2))"
S_HOST="${KPROD_SECURE_HOST:-127.0.0.1}"
S_PORT="${KPROD_SECURE_PORT:-29592}"
SECURE_CA="${KPROD_KAFKA_WORK_DIR:-$ROOT/target/kafka}/secure/certs/ca.pem"
# The scale scenarios' broker: a port below the kernel's ephemeral range (32768-60999), clear of
# the test brokers' (9092/9093, 19092.., 19192.., 28092.., 29092/29093, 29392/29393, 29592..29599,
# 29690).
SC_HOST="${KPROD_SCALE_HOST:-$HOST}"
SC_PORT="${KPROD_SCALE_PORT:-27092}"
SC_CPORT="${KPROD_SCALE_CONTROLLER_PORT:-$((SC_PORT + 1))}"
SCALE_BOOTSTRAP="$SC_HOST:$SC_PORT"
# Heaps: the scale broker needs 1 GiB for the 10,000-partition topic (KPROD_SCALE_HEAP). The single
# broker no longer holds it and does not need 1 GiB: at kafka.sh's 512m it took the base scenarios'
# load (kprod on a fresh broker, 3 rounds of 2M x 100 B and 500k x 1 KiB with acks=1 and all,
# 2026-12-06) with 33 young collections in 0.20 s against 24 in 0.15 s at 1g (0.3% of the
# broker's CPU), no full one, the same broker CPU per record within the noise. It keeps 1g all the
# same, as do the cluster's nodes and the secured broker (this variable reaches them too), so that
# in this respect the brokers are those of earlier series; 24 GiB of RAM hold that easily.
export KPROD_KAFKA_HEAP="${KPROD_KAFKA_HEAP:-1g}"
SCALE_HEAP="${KPROD_SCALE_HEAP:-1g}"

CLIENTS="kprod,java,rdkafka,franz-go,confluent,kafka-python"
SCENARIOS="all"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --clients) CLIENTS="${args[i + 1]:-}" ;;
    --clients=*) CLIENTS="${args[i]#--clients=}" ;;
    --scenarios) SCENARIOS="${args[i + 1]:-}" ;;
    --scenarios=*) SCENARIOS="${args[i]#--scenarios=}" ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  esac
done
want() { [[ ",$CLIENTS," == *",$1,"* ]]; }
say() { echo "bench.sh: $*"; }

BROKERS="$(python3 bench/run/clients.py brokers "$SCENARIOS")"
needs() { [[ " $BROKERS " == *" $1 "* ]]; }

STARTED_BROKER=0
STARTED_SCALE=0
STARTED_CLUSTER=0
STARTED_SECURE=0
cleanup() {
  local rc=$?
  trap - EXIT
  if ((STARTED_BROKER)); then
    say "stopping the broker this script started"
    bash "$KAFKA" down --host "$HOST" --port "$PORT" || true
  fi
  if ((STARTED_SCALE)); then
    say "stopping the scale scenarios' broker this script started"
    bash "$KAFKA" down --host "$SC_HOST" --port "$SC_PORT" || true
  fi
  if ((STARTED_CLUSTER)); then
    say "stopping the cluster this script started"
    bash "$KAFKA" cluster-down || true
  fi
  if ((STARTED_SECURE)); then
    say "stopping the secured broker this script started"
    bash "$KAFKA" secure-down || true
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

build_confluent() {
  say "confluent: cargo build --release (bench/peers/confluent-kafka, its own workspace)"
  CARGO_TARGET_DIR="$TARGET" cargo build --release --locked --manifest-path bench/peers/confluent-kafka/Cargo.toml
}

# Kafka's ProducerPerformance has no key or topic-list option: KeyedPerf.java adds them.
build_java_keyed() {
  say "java: javac bench/peers/java/KeyedPerf.java (keyed and multi-topic scenarios)"
  mkdir -p "$JAVA_CLASSES"
  javac -cp "$LIBS/*" -d "$JAVA_CLASSES" bench/peers/java/KeyedPerf.java
}

t0=$SECONDS
if want kprod; then build_kprod; fi
if want java; then build_java_keyed; fi
if want rdkafka; then build_rdkafka; fi
if want franz-go; then build_franz_go; fi
if want confluent; then build_confluent; fi
say "builds done in $((SECONDS - t0)) s"

# ---------------------------------------------------------------- broker

probe() { python3 tests/broker/verify.py probe --bootstrap "$1" --brokers "$2" --timeout 2 >/dev/null 2>&1; }

if probe "$BOOTSTRAP" 1; then
  say "using the broker that answers at $BOOTSTRAP"
else
  say "no broker at $BOOTSTRAP: starting one (heap $KPROD_KAFKA_HEAP; stopped again at the end)"
  STARTED_BROKER=1
  bash "$KAFKA" up --host "$HOST" --port "$PORT"
fi
site_args=()
if needs scale; then
  if probe "$SCALE_BOOTSTRAP" 1; then
    say "using the scale scenarios' broker that answers at $SCALE_BOOTSTRAP"
  else
    say "no broker at $SCALE_BOOTSTRAP for the scale scenarios: starting one (heap $SCALE_HEAP; stopped at the end)"
    STARTED_SCALE=1
    KPROD_KAFKA_HEAP="$SCALE_HEAP" bash "$KAFKA" up --host "$SC_HOST" --port "$SC_PORT" --controller-port "$SC_CPORT"
  fi
  site_args+=(--scale-bootstrap "$SCALE_BOOTSTRAP")
fi
if needs cluster; then
  if probe "$CLUSTER_BOOTSTRAP" 3; then
    say "using the cluster that answers at $CLUSTER_BOOTSTRAP"
  else
    say "no cluster at $CLUSTER_BOOTSTRAP: starting one (stopped again at the end)"
    STARTED_CLUSTER=1
    bash "$KAFKA" cluster-up 3
  fi
  site_args+=(--cluster-bootstrap "$CLUSTER_BOOTSTRAP")
fi
if needs secure; then
  if probe "$S_HOST:$S_PORT" 1 && [[ -f "$SECURE_CA" ]]; then
    say "using the secured broker that answers at $S_HOST:$S_PORT"
  else
    say "no secured broker at $S_HOST:$S_PORT: starting one (stopped again at the end)"
    STARTED_SECURE=1
    bash "$KAFKA" secure-up >/dev/null
  fi
  site_args+=(--secure-bootstrap "$S_HOST:$((S_PORT + 4))" --secure-admin "$S_HOST:$S_PORT" --secure-ca "$SECURE_CA")
fi

# ---------------------------------------------------------------- run

"$VENV_PY" bench/run/peers.py --bootstrap "$BOOTSTRAP" --kprod-bin "$KPROD_BIN" --rdkafka-bin "$RDKAFKA_BIN" \
  --franz-go-bin "$FRANZ_BIN" --confluent-bin "$CONFLUENT_BIN" --java-libs "$LIBS" --java-classes "$JAVA_CLASSES" \
  --python "$VENV_PY" "${site_args[@]}" "$@"
