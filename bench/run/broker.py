"""The benchmark's side channel to the broker: fresh topics, end offsets, the broker's CPU.

Uses kafka-python (the venv of tests/broker/kafka.sh); no client under test is involved.
"""

import os
import subprocess
import time

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewPartitions, NewTopic

MAX_PARTITIONS_PER_REQUEST = 4000


class Broker:
    """One admin client for the whole run, and a consumer per end-offset query."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kprod-bench-admin")

    def close(self):
        self.admin.close()

    def create_topic(self, topic, partitions, replication=1):
        """Create the topic and wait until its metadata lists every partition."""
        self.create_topics([topic], partitions, replication)

    def create_topics(self, topics, partitions, replication=1):
        """Create the topics (in requests of at most 100) and wait until metadata lists all their
        partitions, each with a leader.

        A KRaft controller refuses an operation of more than 10,000 records ("Unable to perform
        excessively large batch operation"): a topic of more partitions is created with
        MAX_PARTITIONS_PER_REQUEST and grown by CreatePartitions in steps of as many.
        """
        timeout = 30000 + 10 * partitions * len(topics)
        first = min(partitions, MAX_PARTITIONS_PER_REQUEST)
        for i in range(0, len(topics), 100):
            chunk = topics[i:i + 100]
            self.admin.create_topics([NewTopic(t, first, replication) for t in chunk], timeout_ms=timeout)
        for total in range(first + MAX_PARTITIONS_PER_REQUEST, partitions + MAX_PARTITIONS_PER_REQUEST,
                           MAX_PARTITIONS_PER_REQUEST):
            count = min(total, partitions)
            self.admin.create_partitions({t: NewPartitions(count) for t in topics}, timeout_ms=timeout)
        self.wait_for_partitions(topics, partitions, timeout)

    def wait_for_partitions(self, topics, partitions, timeout_ms, poll_s=0.1):
        """Wait until the broker's metadata lists all `partitions` of every topic, each with a leader.

        Not kafka-python's `wait_for_topics`: that checks the partitions the metadata lists, not how
        many, and after CreatePartitions a broker's metadata can list the old count for a while. A
        client under test that started then would write to those partitions only, until its next
        metadata refresh (minutes).
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            try:
                described = self.admin.describe_topics(topics=list(topics))
            except Exception as e:  # noqa: BLE001 - a new topic's metadata may lag; retry until the deadline
                described, failure = [], e
            else:
                failure = None
            pending = partitions_not_ready(described, topics, partitions)
            if not pending:
                return
            if time.monotonic() >= deadline:
                sample = ", ".join(f"{t}: {why}" for t, why in list(pending.items())[:5])
                more = f" (describe_topics: {failure})" if failure else ""
                raise TimeoutError(f"{len(pending)} topic(s) not ready after {timeout_ms} ms: {sample}{more}")
            time.sleep(poll_s)

    def end_offsets(self, topic, partitions, timeout_s=30.0):
        """Sum of the partitions' end offsets: the records the broker holds (the topic is new)."""
        return self.end_offsets_many([topic], partitions, timeout_s)

    def end_offsets_many(self, topics, partitions, timeout_s=60.0):
        """Sum of the end offsets of every partition of the topics."""
        # A consumer of its own each time: kafka-python's consumer keeps every topic it was asked
        # about in its metadata requests, and those bring deleted topics back (even with
        # allow_auto_create_topics=False), so a long-lived one would resurrect every run's topic.
        # A new consumer per attempt too: one whose metadata saw a topic before CreatePartitions
        # reached it keeps the old partition count (KeyError for the new ones) until its
        # metadata.max.age.ms, longer than the deadline.
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        deadline = time.monotonic() + timeout_s
        while True:
            consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, client_id="kprod-bench-offsets",
                                     enable_auto_commit=False, allow_auto_create_topics=False)
            try:
                return sum(consumer.end_offsets(tps).values())
            except Exception:  # noqa: BLE001 - metadata of a new topic may lag; retry until the deadline
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
            finally:
                consumer.close()

    def delete_topic(self, topic):
        self.delete_topics([topic])

    def delete_topics(self, topics):
        for i in range(0, len(topics), 100):
            self.admin.delete_topics(topics[i:i + 100], timeout_ms=60000)

    def delete_topics_with_prefix(self, prefix):
        """Delete what is left of this run's topics (a delete that failed, an interrupted run)."""
        left = [t for t in self.admin.list_topics() if t.startswith(prefix)]
        if left:
            self.delete_topics(left)
        return left


def partitions_not_ready(described, topics, partitions):
    """The topics of `describe_topics`' answer that lack one of their `partitions` partitions, or
    a leader for one, or have an error: {topic: why}. Empty when every topic is ready."""
    by_name = {t.get("name"): t for t in described}
    pending = {}
    for name in topics:
        topic = by_name.get(name)
        if topic is None:
            pending[name] = "not listed"
        elif topic.get("error_code", 0) != 0:
            pending[name] = f"error code {topic['error_code']}"
        else:
            listed = topic.get("partitions") or []
            ready = {p.get("partition_index") for p in listed
                     if p.get("error_code", 0) == 0 and p.get("leader_id", -1) >= 0}
            missing = sum(1 for i in range(partitions) if i not in ready)
            if missing:
                pending[name] = f"{missing} of {partitions} partitions not listed or without a leader"
    return pending


def broker_pid(port, work_dir):
    """Pid of the broker JVM listening on the port, or None: kafka.sh's pid file, else ss."""
    for name in os.listdir(work_dir) if os.path.isdir(work_dir) else []:
        if name.startswith("broker-") and name.endswith(f"-{port}"):
            try:
                with open(os.path.join(work_dir, name, "pid"), encoding="ascii") as f:
                    pid = int(f.read().strip())
                if os.path.exists(f"/proc/{pid}/stat"):
                    return pid
            except (OSError, ValueError):
                pass
    try:
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    marker = "pid="
    at = out.find(marker)
    if at < 0:
        return None
    digits = ""
    for ch in out[at + len(marker):]:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else None


def process_cpu_seconds(pid):
    """user+sys CPU seconds of a running process (all threads), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = stat[stat.rfind(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
