#!/usr/bin/env bash
# The demo: installs what is missing, starts a local Kafka broker on
# 127.0.0.1:9092 and leaves it running.
#
#   ./scripts/demo.sh
#   tests/broker/kafka.sh down     # stop the broker afterwards
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
KAFKA=tests/broker/kafka.sh

ensure_tools --no-rust-targets
bash "$KAFKA" fetch
bash "$KAFKA" venv
bash "$KAFKA" up

BOOTSTRAP="${KPROD_KAFKA_HOST:-127.0.0.1}:${KPROD_KAFKA_PORT:-9092}"
TOPIC="demo-check-$(date +%s)"
echo
echo "Broker check with the independent verifier (kafka-python, not kprod):"
bash "$KAFKA" verify create-topic --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --partitions 1 --replication-factor 1
bash "$KAFKA" verify produce --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --count 3
bash "$KAFKA" verify consume --bootstrap "$BOOTSTRAP" --topic "$TOPIC" --count 3 --timeout 30

cat <<MSG

Kafka is running at $BOOTSTRAP (logs: target/kafka/).

The kprod part of this demo is not here yet: it lands with the CLI issue,
which adds a kprod command that produces to this broker.

The broker keeps running. Stop it with:
    tests/broker/kafka.sh down
MSG
