#!/usr/bin/env bash
# The demo: installs what is missing, starts a local Kafka broker on
# 127.0.0.1:9092, creates a topic, builds kprod and runs
#   kprod perf --num-records 1000000 --record-size 100 (acks=1, linger.ms=5)
# which prints Kafka's perf-test summary, then reads a sample back with the
# independent verifier (kafka-python) and shows the topic's end offset with
# Kafka's own GetOffsetShell. The broker keeps running afterwards.
#
#   ./scripts/demo.sh
#   tests/broker/kafka.sh down     # stop the broker afterwards
#
# KPROD_DEMO_RECORDS (1000000) and KPROD_DEMO_RECORD_SIZE (100) change the run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
KAFKA=tests/broker/kafka.sh
RECORDS="${KPROD_DEMO_RECORDS:-1000000}"
SIZE="${KPROD_DEMO_RECORD_SIZE:-100}"

ensure_tools --no-rust-targets
bash "$KAFKA" fetch
bash "$KAFKA" venv
bash "$KAFKA" up

BOOTSTRAP="${KPROD_KAFKA_HOST:-127.0.0.1}:${KPROD_KAFKA_PORT:-9092}"
TOPIC="kprod-demo-$(date +%s)"
KPROD="${CARGO_TARGET_DIR:-target}/release/kprod"

echo
echo "=== create topic $TOPIC (1 partition)"
bash "$KAFKA" verify create-topic --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --partitions 1 --replication-factor 1

echo
echo "=== build kprod (release)"
cargo build --release -p kprod-cli

echo
echo "=== kprod perf: $RECORDS records of $SIZE bytes, acks=1, linger.ms=5"
"$KPROD" perf --topic "$TOPIC" --num-records "$RECORDS" --record-size "$SIZE" --throughput -1 \
  --producer-props "bootstrap.servers=$BOOTSTRAP" acks=1 linger.ms=5

echo
echo "=== read back: the first 3 records, by the independent verifier (kafka-python, not kprod)"
# The verifier prints every record of its fetches; keep the first three.
sample="$(bash "$KAFKA" verify consume --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --count 3 --timeout 60)"
head -n 3 <<<"$sample"

echo
echo "=== end offset of $TOPIC (Kafka's GetOffsetShell; TOPIC:PARTITION:OFFSET)"
bash "$KAFKA" tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$BOOTSTRAP" --topic "$TOPIC"

cat <<MSG

Kafka is running at $BOOTSTRAP (logs: target/kafka/). Try kprod yourself:
    $KPROD perf --topic $TOPIC --num-records 100000 --record-size 100 --producer-props bootstrap.servers=$BOOTSTRAP
    printf 'k1:hello\nk2:world\n' | $KPROD produce -b $BOOTSTRAP -t $TOPIC -K :

The broker keeps running. Stop it with:
    tests/broker/kafka.sh down
MSG
