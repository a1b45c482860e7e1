"""The producers under test, the settings they share, and the exact command each one runs.

Every client takes Kafka ProducerPerformance's command line and prints its final line, so one
parser reads them all. Settings are given as Java property names; where a client names a
setting differently, its own name is used and written down (see `Client.props`).
"""

import dataclasses
import glob
import os
import re
import subprocess


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One cell of the matrix: record size and acks (idempotence follows acks)."""

    key: str
    label: str
    record_size: int
    acks: str

    @property
    def idempotent(self):
        return self.acks == "all"


SCENARIOS = [
    Scenario("100B-acks1", "100 B, acks=1", 100, "1"),
    Scenario("100B-acksall", "100 B, acks=all", 100, "all"),
    Scenario("1KiB-acks1", "1 KiB, acks=1", 1024, "1"),
    Scenario("1KiB-acksall", "1 KiB, acks=all", 1024, "all"),
]

# Shared by every client (Java names). buffer.memory: 32 MiB, the Java client's default.
LINGER_MS = 5
BATCH_SIZE = 16384
MAX_IN_FLIGHT = 5
BUFFER_BYTES = 32 * 1024 * 1024


def common_props(bootstrap, scenario):
    return {
        "bootstrap.servers": bootstrap,
        "acks": scenario.acks,
        "enable.idempotence": "true" if scenario.idempotent else "false",
        "linger.ms": str(LINGER_MS),
        "batch.size": str(BATCH_SIZE),
        "compression.type": "none",
        "max.in.flight.requests.per.connection": str(MAX_IN_FLIGHT),
    }


@dataclasses.dataclass
class Client:
    """How to run one producer. `available` is False with a `note` when it cannot run here."""

    name: str
    label: str
    argv: list
    props_flag: str
    buffer_props: dict
    settings_note: str
    slow: bool = False
    available: bool = True
    note: str = ""
    version: str = ""
    version_pattern: str = ""
    detected: str = ""

    def learn_version(self, stdout):
        """Take the version line the client prints (librdkafka, franz-go, kafka-python)."""
        if self.version_pattern and not self.detected:
            m = re.search(self.version_pattern, stdout, re.MULTILINE)
            if m:
                self.detected = m.group(1).strip()

    @property
    def full_version(self):
        if self.detected and self.version:
            return f"{self.detected} ({self.version})"
        return self.detected or self.version or "unknown"

    def props(self, bootstrap, scenario):
        props = common_props(bootstrap, scenario)
        props.update(self.buffer_props)
        return props

    def command(self, bootstrap, scenario, topic, num_records):
        props = self.props(bootstrap, scenario)
        return [*self.argv, "--topic", topic, "--num-records", str(num_records), "--record-size",
                str(scenario.record_size), "--throughput", "-1", self.props_flag,
                *[f"{k}={v}" for k, v in props.items()]]


def _run(argv, timeout=30):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (r.stdout + r.stderr).strip() if r.returncode == 0 else None


def _missing(path, how):
    return f"not run: {path} is missing ({how})"


def kprod(paths):
    """`kprod perf` from the cli/ crate (kprod-cli)."""
    binary = paths["kprod"]
    # --fresh-payload: new random letters for every record, as ProducerPerformance and the peers
    # here make them (kprod perf otherwise reuses one payload).
    c = Client("kprod", "kprod", [binary, "perf", "--fresh-payload"], "--producer-props",
               {"buffer.memory": str(BUFFER_BYTES)},
               "`--fresh-payload` (a new payload per record, as the others); buffer.memory=33554432")
    if not os.access(binary, os.X_OK):
        c.available = False
        c.note = _missing(binary, "build it with `cargo build --release -p kprod-cli`; scripts/bench.sh does "
                                  "when cli/ exists")
        return c
    version = _run([binary, "--version"]) or "kprod (no --version)"
    rev = _run(["git", "-C", paths["root"], "rev-parse", "--short", "HEAD"]) or "?"
    dirty = _run(["git", "-C", paths["root"], "status", "--porcelain", "--", "core", "transport-std", "cli"])
    c.version = f"{version.splitlines()[0]}, git {rev}{' with local changes' if dirty else ''}"
    return c


def java(paths):
    """Kafka's own ProducerPerformance with the Java client, flags of kafka-producer-perf-test.sh."""
    libs = paths["java_libs"]
    jars = sorted(glob.glob(os.path.join(libs, "kafka-clients-*.jar")))
    # kafka-producer-perf-test.sh sets -Xmx512M; kafka-run-class.sh adds the G1 flags.
    argv = ["java", "-Xmx512M", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile=file:{paths['log4j']}",
            "-cp", os.path.join(libs, "*"), "org.apache.kafka.tools.ProducerPerformance"]
    # --producer-props is deprecated in Kafka 4.3 in favour of --command-property (same meaning).
    c = Client("java", "Java (kafka-clients)", argv, "--command-property", {"buffer.memory": str(BUFFER_BYTES)},
               "buffer.memory=33554432 (its default); JVM -Xmx512M and G1, as kafka-producer-perf-test.sh")
    java_version = _run(["java", "-version"])
    if not jars or java_version is None:
        c.available = False
        c.note = _missing(libs if not jars else "java", "tests/broker/kafka.sh fetch; Java 17")
        return c
    jar = os.path.basename(jars[0])
    c.version = f"{jar[len('kafka-clients-'):-len('.jar')]} on {java_version.splitlines()[0]}"
    return c


def rdkafka(paths):
    """librdkafka through the rdkafka crate (bench/peers/rdkafka)."""
    binary = paths["rdkafka"]
    c = Client("rdkafka", "librdkafka", [binary], "--producer-props",
               {"queue.buffering.max.kbytes": str(BUFFER_BYTES // 1024)},
               "queue.buffering.max.kbytes=32768 (32 MiB; queue.buffering.max.messages stays 100000)",
               version_pattern=r"^librdkafka version: (\S+)")
    if not os.access(binary, os.X_OK):
        c.available = False
        c.note = _missing(binary, "cargo build --release --manifest-path bench/peers/rdkafka/Cargo.toml")
    lock = os.path.join(paths["root"], "bench/peers/rdkafka/Cargo.lock")
    c.version = "rdkafka crate " + (_lock_version(lock, "rdkafka") or "?")
    return c


def franz_go(paths):
    """franz-go (bench/peers/franz-go)."""
    binary = paths["franz-go"]
    c = Client("franz-go", "franz-go", [binary], "--producer-props", {"buffer.memory": str(BUFFER_BYTES)},
               "buffer.memory=33554432 as kgo.MaxBufferedBytes (MaxBufferedRecords stays 50000); GOMAXPROCS "
               "default", version_pattern=r"^franz-go version: (.+)$")
    if not os.access(binary, os.X_OK):
        c.available = False
        c.note = _missing(binary, "go build in bench/peers/franz-go (Go >= 1.26)")
    return c


def kafka_python(paths):
    """kafka-python (bench/peers/kafka_python_perf.py in the venv)."""
    script = os.path.join(paths["root"], "bench/peers/kafka_python_perf.py")
    c = Client("kafka-python", "kafka-python", [paths["python"], script], "--producer-props", {},
               "no byte cap setting in kafka-python 3 (no buffer.memory)", slow=True,
               version_pattern=r"^kafka-python version: (.+)$")
    if not os.access(paths["python"], os.X_OK):
        c.available = False
        c.note = _missing(paths["python"], "tests/broker/kafka.sh venv")
    return c


ALL = {"kprod": kprod, "java": java, "rdkafka": rdkafka, "franz-go": franz_go, "kafka-python": kafka_python}


def _lock_version(lock_path, package):
    try:
        with open(lock_path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r'name = "' + re.escape(package) + r'"\nversion = "([^"]+)"', text)
    return m.group(1) if m else None
