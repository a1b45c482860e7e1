#!/usr/bin/env bash
# Regenerate tests/vectors/batches/* and tests/vectors/murmur2/murmur2.json
# from the independent implementations (kafka-python, kafka-clients 4.1.1).
# Needs python3 (3.11), Java 17 and Maven, with PyPI and Maven Central.
# Output is deterministic: re-running it must leave `git status` clean.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VENV=$ROOT/.cache/venv-vectors
WORK=$ROOT/.cache/vectors-work
PY=$VENV/bin/python

if [ ! -x "$PY" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$PY" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"

rm -rf "$WORK"
mkdir -p "$WORK"

mvn_run() {  # mvn_run MAIN_CLASS ARGS...
  local main=$1; shift
  (cd "$HERE/java" && mvn -q -B compile exec:java -Dexec.mainClass="kprod.vectors.$main" -Dexec.args="$*")
}

# 1. record batches: kafka-python, then kafka-clients with the same inputs
"$PY" "$HERE/gen_python.py" "$WORK"
mvn_run GenBatches "$WORK/cases.json" "$WORK/java"
# 2. verify (CRC-32C via crc32c pkg, header fields, kafka-python decode of
#    everything) and install into this directory + index.json
"$PY" "$HERE/finalize.py" "$WORK" "$HERE"
# 3. kafka-clients decodes everything too (incl. the kafka-python vectors)
mvn_run VerifyBatches "$HERE"

# 4. murmur2: kafka-clients Utils.murmur2, cross-checked with kafka-python
mvn_run Murmur2Vectors "$WORK/murmur2-java.json"
"$PY" "$ROOT/tests/vectors/murmur2/check_python.py" "$WORK/murmur2-java.json" \
  "$ROOT/tests/vectors/murmur2/murmur2.json"
