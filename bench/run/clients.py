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
    """One column of the matrix (idempotence follows acks).

    group: what `--scenarios` selects with one word (base, keyed, latency, compression, cluster,
    scale, sasl, txn); broker: which broker site it runs on (single; scale, a single broker of
    the scale scenarios' own; cluster; secure); partitions and
    topics: of the fresh topic(s) (topics > 1: TOPIC-0 .. TOPIC-(M-1), record i to i mod M);
    keys: distinct keys (record i has `key-<i mod K>`), 0 for null keys; rate: records/s, -1 for
    full speed; payload: "letters" (random A-Z) or "text" (the compressible payload file);
    defaults: each client's default buffer and batch settings (only bootstrap, acks, idempotence
    and linger are set); txn_ms: transactions committed every txn_ms; records: share of --records
    a run sends (1 KiB scenarios: a quarter); reuse_topic: one topic set per scenario for every
    run (creating 10,000 partitions or 1,000 topics per run would dominate), the records a run
    stored are the end offsets' growth.
    """

    key: str
    label: str
    record_size: int
    acks: str
    group: str = "base"
    broker: str = "single"
    partitions: int = 1
    topics: int = 1
    keys: int = 0
    rate: float = -1
    compression: str = "none"
    payload: str = "letters"
    defaults: bool = False
    txn_ms: int = 0
    records: float = 1.0
    reuse_topic: bool = False

    @property
    def idempotent(self):
        return self.acks == "all"

    @property
    def replication(self):
        return 3 if self.broker == "cluster" else 1


SCENARIOS = [
    Scenario("100B-acks1", "100 B, acks=1", 100, "1"),
    Scenario("100B-acksall", "100 B, acks=all", 100, "all"),
    Scenario("1KiB-acks1", "1 KiB, acks=1", 1024, "1", records=0.25),
    Scenario("1KiB-acksall", "1 KiB, acks=all", 1024, "all", records=0.25),
    Scenario("keyed-100B", "keyed 100 B, 12 partitions", 100, "all", group="keyed", partitions=12, keys=5000),
    Scenario("rate-100B", "200k/s 100 B, defaults", 100, "all", group="latency", rate=200_000, defaults=True),
    Scenario("rate-1KiB", "50k/s 1 KiB, defaults", 1024, "all", group="latency", rate=50_000, defaults=True),
    Scenario("gzip-1KiB", "gzip 1 KiB text", 1024, "all", group="compression", compression="gzip", payload="text",
             records=0.25),
    Scenario("lz4-1KiB", "lz4 1 KiB text", 1024, "all", group="compression", compression="lz4", payload="text",
             records=0.25),
    Scenario("zstd-1KiB", "zstd 1 KiB text", 1024, "all", group="compression", compression="zstd", payload="text",
             records=0.25),
    Scenario("cluster-100B", "3 brokers RF 3, 100 B", 100, "all", group="cluster", broker="cluster", partitions=6),
    Scenario("cluster-1KiB", "3 brokers RF 3, 1 KiB", 1024, "all", group="cluster", broker="cluster", partitions=6,
             records=0.25),
    # The scale scenarios run on a broker of their own: a broker that holds the 10,000-partition
    # topic spent 2-3x the CPU per record under load in A/Bs, a cost the other scenarios' runs
    # no longer share (BENCHMARKS.md, seed 75).
    Scenario("scale-10k-partitions", "10,000 partitions, 100 B", 100, "all", group="scale", broker="scale",
             partitions=10_000, keys=100_000, records=0.5, reuse_topic=True),
    Scenario("scale-1k-topics", "1,000 topics, 100 B", 100, "all", group="scale", broker="scale", topics=1000,
             records=0.5, reuse_topic=True),
    Scenario("sasl-100B", "SASL_SSL 100 B", 100, "all", group="sasl", broker="secure"),
    Scenario("sasl-1KiB", "SASL_SSL 1 KiB", 1024, "all", group="sasl", broker="secure", records=0.25),
    Scenario("txn-100B", "transactions 100 B", 100, "all", group="txn", txn_ms=100),
]
GROUPS = sorted({s.group for s in SCENARIOS})
# Fixed-rate scenarios run this long (records = rate x seconds; --quick: QUICK_RATE_SECONDS).
RATE_SECONDS = 15
QUICK_RATE_SECONDS = 3
# SASL_SSL: SCRAM-SHA-512 as alice over TLS (tests/broker/secure.sh's users and test CA).
SASL_USER, SASL_PASSWORD, SASL_MECHANISM = "alice", "alice-secret", "SCRAM-SHA-512"


def select(spec):
    """The scenarios a `--scenarios` value names: keys and group names, comma-separated."""
    if spec in (None, "", "all"):
        return list(SCENARIOS)
    words = [w.strip() for w in spec.split(",") if w.strip()]
    unknown = [w for w in words if w not in GROUPS and w not in {s.key for s in SCENARIOS}]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose keys ({', '.join(s.key for s in SCENARIOS)}) "
                         f"or groups ({', '.join(GROUPS)})")
    return [s for s in SCENARIOS if s.key in words or s.group in words]

# Shared by every client (Java names). buffer.memory: 32 MiB, the Java client's default.
RDKAFKA_MAX_MESSAGES = 2_000_000
LINGER_MS = 5
BATCH_SIZE = 16384
MAX_IN_FLIGHT = 5
BUFFER_BYTES = 32 * 1024 * 1024


def common_props(bootstrap, scenario):
    props = {
        "bootstrap.servers": bootstrap,
        "acks": scenario.acks,
        "enable.idempotence": "true" if scenario.idempotent else "false",
        "linger.ms": str(LINGER_MS),
    }
    if not scenario.defaults:
        props.update({"batch.size": str(BATCH_SIZE), "compression.type": scenario.compression,
                      "max.in.flight.requests.per.connection": str(MAX_IN_FLIGHT)})
    return props


def security_props(env):
    """SASL_SSL with SCRAM-SHA-512 and the test CA, in the Java client's names."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": SASL_MECHANISM,
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
                            f'username="{SASL_USER}" password="{SASL_PASSWORD}";',
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": env.get("ca", "CA.pem"),
    }


def librdkafka_security(props):
    """librdkafka's names for the same settings (it knows no JAAS and no trust stores)."""
    out = {k: v for k, v in props.items() if not k.startswith(("sasl.jaas", "ssl.truststore"))}
    if "sasl.jaas.config" in props:
        out["sasl.username"], out["sasl.password"] = SASL_USER, SASL_PASSWORD
    if "ssl.truststore.location" in props:
        out["ssl.ca.location"] = props["ssl.truststore.location"]
    return out


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
    # scenario key -> why this client does not run it (a limit of the client, not of the run)
    unsupported: dict = dataclasses.field(default_factory=dict)
    # argv for scenarios with keys or several topics, when the client's own tool has no option
    keyed_argv: list = None
    # property adapter: the client's names for the Java ones (librdkafka)
    adapt: object = None
    # extra properties when records are keyed (librdkafka: Java's murmur2 partitioner)
    keyed_props: dict = dataclasses.field(default_factory=dict)
    # flag of a properties file for values with '=' in them (ProducerPerformance's
    # --command-property splits at every '=', so sasl.jaas.config must come from a file)
    config_file_flag: str = ""

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

    def props(self, bootstrap, scenario, env=None):
        props = common_props(bootstrap, scenario)
        if not scenario.defaults:
            props.update(self.buffer_props)
        if scenario.keys:
            props.update(self.keyed_props)
        if scenario.broker == "secure":
            props.update(security_props(env or {}))
        return self.adapt(props) if self.adapt else props

    def command(self, bootstrap, scenario, topic, num_records, env=None):
        """The argv of one run. env: "payload" (the text payload file), "ca" (the test CA)."""
        env = env or {}
        props = self.props(bootstrap, scenario, env)
        argv = self.keyed_argv if (scenario.keys or scenario.topics > 1) and self.keyed_argv else self.argv
        size = (["--payload-file", env.get("payload", "PAYLOAD.txt")] if scenario.payload == "text"
                else ["--record-size", str(scenario.record_size)])
        extra = []
        if scenario.keys:
            extra += ["--keys", str(scenario.keys)]
        if scenario.topics > 1:
            extra += ["--topics", str(scenario.topics)]
        if scenario.txn_ms:
            extra += ["--transactional-id", f"kprod-bench-{self.name}-{topic[-12:]}",
                      "--transaction-duration-ms", str(scenario.txn_ms)]
        rate = f"{scenario.rate:g}" if scenario.rate > 0 else "-1"
        in_file = {k: v for k, v in props.items() if "=" in v} if self.config_file_flag else {}
        if in_file:
            path = os.path.join(env.get("dir", "."), f"{topic}-{self.name}.properties")
            if env.get("dir"):
                with open(path, "w", encoding="utf-8") as f:
                    f.write("".join(f"{k}={v}\n" for k, v in in_file.items()))
            extra += [self.config_file_flag, path]
        return [*argv, "--topic", topic, "--num-records", str(num_records), *size, "--throughput", rate, *extra,
                self.props_flag, *[f"{k}={v}" for k, v in props.items() if k not in in_file]]


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
               "buffer.memory=33554432 (its default); JVM -Xmx512M and G1, as kafka-producer-perf-test.sh; "
               "keyed and multi-topic scenarios run bench/peers/java/KeyedPerf.java (ProducerPerformance has "
               "no key or topic-list option) with the same JVM flags")
    c.config_file_flag = "--producer.config"
    keyed_classes = paths.get("java_classes", "")
    c.keyed_argv = [*argv[:-3], "-cp", os.path.join(libs, "*") + os.pathsep + keyed_classes, "KeyedPerf"]
    if not os.path.isfile(os.path.join(keyed_classes, "KeyedPerf.class")):
        why = "not run: KeyedPerf.class is missing (scripts/bench.sh compiles bench/peers/java/KeyedPerf.java)"
        c.unsupported = {s.key: why for s in SCENARIOS if s.keys or s.topics > 1}
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
               {"queue.buffering.max.kbytes": str(BUFFER_BYTES // 1024),
                "queue.buffering.max.messages": str(RDKAFKA_MAX_MESSAGES)},
               f"queue.buffering.max.kbytes=32768 (32 MiB) and queue.buffering.max.messages={RDKAFKA_MAX_MESSAGES:,} "
               "(so that the 32 MiB byte cap binds, as for the others; its default 100,000 binds first at 100 B); "
               "keyed records with partitioner=murmur2_random (Java's partitioning; its default is CRC32); "
               "SASL_SSL as sasl.username/sasl.password and ssl.ca.location",
               version_pattern=r"^librdkafka version: (\S+)", adapt=librdkafka_security,
               keyed_props={"partitioner": "murmur2_random"})
    return _cargo_peer(c, paths, "rdkafka", "rdkafka crate ")


def franz_go(paths):
    """franz-go (bench/peers/franz-go)."""
    binary = paths["franz-go"]
    c = Client("franz-go", "franz-go", [binary], "--producer-props", {"buffer.memory": str(BUFFER_BYTES)},
               "buffer.memory=33554432 as kgo.MaxBufferedBytes (MaxBufferedRecords stays 50000); GOMAXPROCS "
               "default; keys hashed by its default partitioner (Kafka's murmur2); SASL and TLS mapped to "
               "kgo.SASL (pkg/sasl/scram) and a crypto/tls dialer", version_pattern=r"^franz-go version: (.+)$")
    if not os.access(binary, os.X_OK):
        c.available = False
        c.note = _missing(binary, "go build in bench/peers/franz-go (Go >= 1.26)")
    return c


def kafka_python(paths):
    """kafka-python (bench/peers/kafka_python_perf.py in the venv)."""
    script = os.path.join(paths["root"], "bench/peers/kafka_python_perf.py")
    c = Client("kafka-python", "kafka-python", [paths["python"], script], "--producer-props", {},
               "no byte cap setting in kafka-python 3 (no buffer.memory); SASL as sasl_plain_username/password "
               "and ssl_cafile", slow=True, version_pattern=r"^kafka-python version: (.+)$")
    if not os.access(paths["python"], os.X_OK):
        c.available = False
        c.note = _missing(paths["python"], "tests/broker/kafka.sh venv")
    return c


def confluent(paths):
    """Confluent's Rust client, the confluent-kafka crate (bench/peers/confluent-kafka)."""
    binary = paths["confluent"]
    c = Client("confluent", "confluent-kafka (Rust)", [binary], "--producer-props",
               {"buffer.memory": str(BUFFER_BYTES)},
               "buffer.memory=33554432 (its default); tokio's default multi-thread runtime (a worker per core)",
               version_pattern=r"^confluent-kafka version: (\S+)")
    # Its 1.0 release supports SASL PLAIN only (README, "Known limitations").
    c.unsupported = {s.key: "not run: confluent-kafka 1.0 supports SASL PLAIN only, not SCRAM-SHA-512 "
                            "(its README's known limitations)" for s in SCENARIOS if s.broker == "secure"}
    return _cargo_peer(c, paths, "confluent-kafka", "crate ")


ALL = {"kprod": kprod, "java": java, "rdkafka": rdkafka, "franz-go": franz_go, "confluent": confluent,
       "kafka-python": kafka_python}


def _cargo_peer(c, paths, crate, prefix):
    """A peer program of its own cargo workspace in bench/peers/<crate>: available once built;
    the version of `crate` from its Cargo.lock."""
    if not os.access(c.argv[0], os.X_OK):
        c.available = False
        c.note = _missing(c.argv[0], f"cargo build --release --manifest-path bench/peers/{crate}/Cargo.toml")
    lock = os.path.join(paths["root"], f"bench/peers/{crate}/Cargo.lock")
    c.version = prefix + (_lock_version(lock, crate) or "?")
    return c


def _lock_version(lock_path, package):
    try:
        with open(lock_path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r'name = "' + re.escape(package) + r'"\nversion = "([^"]+)"', text)
    return m.group(1) if m else None


if __name__ == "__main__":
    # `clients.py brokers SPEC`: the broker setups the scenarios of a --scenarios value need
    # (scripts/bench.sh starts those).
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "brokers":
        try:
            print(" ".join(sorted({s.broker for s in select(sys.argv[2])})))
        except ValueError as e:
            sys.exit(str(e))
    else:
        sys.exit("usage: clients.py brokers SCENARIOS")
