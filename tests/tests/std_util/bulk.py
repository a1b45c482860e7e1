#!/usr/bin/env python3
"""Many topics at once for kprod's scale tests (std_scale.rs), with kafka-python: no kprod code.

tests/broker/verify.py handles one topic per run, and one run costs about half a second; a test
with 1,000 topics needs them in a few requests. Run it with the verifier's venv python
(`kafka.sh venv` creates it). Topic names come on stdin, one per line.

  create-topics --bootstrap B --partitions P
      Create every topic with P partitions (replication factor 1), wait until every partition
      has a leader, then until every partition answers ListOffsets: the metadata names the
      leader before the broker has made the partition's log (about 6 ms a partition on a
      small VM, 60 s for 10,000), and until then a Produce fails with a retriable error. The KRaft controller refuses an operation of more than 10,000
      metadata records (one per topic and one per partition: "Unable to perform excessively
      large batch operation"), so topics go in requests of at most STEP records, and a topic
      of more than STEP partitions is created with STEP and grown with CreatePartitions.
  consume --bootstrap B --count N [--timeout S]
      Read every partition of every topic from the beginning until N records arrived, and
      print them as verify.py's consume does (one JSON object per record, sorted by topic,
      partition, offset). Exit 0 with >= N records, 2 with fewer.
  delete-topics --bootstrap B
      Delete the topics (in requests of at most STEP topics).

Exit status 1 means an error (a message goes to stderr).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "broker"))
from verify import b64, fail  # noqa: E402  (the same record format as the verifier)

# Metadata records per controller operation; the controller's limit is 10,000.
STEP = 5000
# How long a CreateTopics, CreatePartitions or DeleteTopics request may take on the broker.
REQUEST_TIMEOUT_MS = 120_000


def names_from_stdin():
    names = [line.strip() for line in sys.stdin if line.strip()]
    if not names:
        fail("no topic names on stdin")
    return names


def _admin(args):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=args.bootstrap.split(","), client_id="kprod-bulk",
                            request_timeout_ms=REQUEST_TIMEOUT_MS + 30_000)


def create_requests(names, partitions):
    """Groups of (name, initial partitions) of at most STEP metadata records each."""
    first = min(partitions, STEP - 1)
    per_request = max(1, STEP // (first + 1))
    for i in range(0, len(names), per_request):
        yield [(n, first) for n in names[i:i + per_request]]


def cmd_create_topics(args):
    names = names_from_stdin()
    admin = _admin(args)
    started = time.monotonic()
    try:
        for group in create_requests(names, args.partitions):
            admin.create_topics({n: {"num_partitions": p, "replication_factor": 1} for n, p in group},
                                timeout_ms=REQUEST_TIMEOUT_MS)
        count = min(args.partitions, STEP - 1)
        while count < args.partitions:
            count = min(args.partitions, count + STEP)
            admin.create_partitions({n: count for n in names}, timeout_ms=REQUEST_TIMEOUT_MS)
        wait_led(admin, names, args.partitions)
    finally:
        admin.close()
    led = time.monotonic() - started
    wait_writable(args, names, args.partitions)
    print(f"created {len(names)} topic(s) of {args.partitions} partition(s): leaders after {led:.1f}s, "
          f"every log after {time.monotonic() - started:.1f}s")
    return 0


def wait_led(admin, names, partitions):
    """Waits until the metadata lists `partitions` partitions with a leader for every topic
    (kafka-python's wait_for_topics does not check the count, and the count lags behind
    CreatePartitions)."""
    deadline = time.monotonic() + REQUEST_TIMEOUT_MS / 1000
    while True:
        led = {t["name"]: sum(p["leader_id"] >= 0 for p in t["partitions"] or [])
               for t in admin.describe_topics(names) if t["error_code"] == 0}
        if all(led.get(n) == partitions for n in names):
            return
        if time.monotonic() >= deadline:
            short = [(n, led.get(n)) for n in names if led.get(n) != partitions][:5]
            fail(f"topics without {partitions} led partitions (name, led): {short}")
        time.sleep(0.2)


def wait_writable(args, names, partitions):
    """Waits until every partition of `names` answers ListOffsets (kafka-python retries the
    partitions whose log does not exist yet)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap.split(","), group_id=None,
                             enable_auto_commit=False, client_id="kprod-bulk")
    try:
        tps = [TopicPartition(n, p) for n in names for p in range(partitions)]
        consumer.end_offsets(tps, timeout_ms=REQUEST_TIMEOUT_MS)
    finally:
        consumer.close()


def cmd_delete_topics(args):
    names = names_from_stdin()
    admin = _admin(args)
    try:
        for i in range(0, len(names), STEP):
            admin.delete_topics(names[i:i + STEP], timeout_ms=REQUEST_TIMEOUT_MS)
    finally:
        admin.close()
    print(f"deleted {len(names)} topic(s)")
    return 0


def _partitions(consumer, names, deadline):
    from kafka import TopicPartition

    tps = []
    for name in names:
        while not consumer.partitions_for_topic(name):
            if time.monotonic() >= deadline:
                fail(f"topic {name!r} has no partitions in metadata")
            time.sleep(0.1)
        tps.extend(TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name)))
    return tps


def cmd_consume(args):
    from kafka import KafkaConsumer

    names = names_from_stdin()
    deadline = time.monotonic() + args.timeout
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap.split(","), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             check_crcs=True, client_id="kprod-bulk")
    records = []
    try:
        tps = _partitions(consumer, names, deadline)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while len(records) < args.count and time.monotonic() < deadline:
            left = deadline - time.monotonic()
            for recs in consumer.poll(timeout_ms=max(1, int(min(0.5, left) * 1000))).values():
                records.extend(recs)
    finally:
        consumer.close()
    records.sort(key=lambda r: (r.topic, r.partition, r.offset))
    for r in records:
        print(json.dumps({
            "topic": r.topic, "partition": r.partition, "offset": r.offset,
            "timestamp": r.timestamp, "timestamp_type": r.timestamp_type,
            "key": b64(r.key), "value": b64(r.value),
            "headers": [[k, b64(v)] for k, v in (r.headers or [])],
        }))
    if len(records) < args.count:
        print(f"bulk.py: read {len(records)} of {args.count} records from {len(names)} topic(s) "
              f"within {args.timeout}s", file=sys.stderr)
        return 2
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def command(name, func):
        p = sub.add_parser(name)
        p.add_argument("--bootstrap", required=True, help="HOST:PORT[,HOST:PORT...]")
        p.set_defaults(func=func)
        return p

    command("create-topics", cmd_create_topics).add_argument("--partitions", type=int, required=True)
    p = command("consume", cmd_consume)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    command("delete-topics", cmd_delete_topics)

    args = ap.parse_args()
    try:
        return args.func(args)
    except Exception as e:  # noqa: BLE001 - report any client error as exit 1
        fail(f"{args.cmd} failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main())
