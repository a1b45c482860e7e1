#!/usr/bin/env python3
"""Independent verifier for kprod's broker tests. No kprod code is involved.

Run it through `tests/broker/kafka.sh verify ...`, which provides a venv with
kafka-python and its codecs (gzip, snappy, lz4, zstd; crc32c). `probe` needs
only the standard library, so kafka.sh runs it with the system python3.

Subcommands (every one takes --bootstrap HOST:PORT[,HOST:PORT...]):

  probe --brokers N [--timeout S]
      Send one raw Metadata v8 request; exit 0 when the answer lists at least
      N brokers, 1 otherwise.
  consume --topic T --count N [--timeout S] [--extra-wait S] [--isolation L] [--stream]
      Read every partition of T from the beginning. Print one JSON object per
      record, sorted by (partition, offset):
        {"topic", "partition", "offset", "timestamp", "timestamp_type",
         "key", "value", "headers"}
      key and value are base64 strings, or null for a null key/value (an
      empty one is ""). headers is [[name, base64-or-null], ...].
      timestamp_type is 0 for CreateTime, 1 for LogAppendTime. Stops once N
      records arrived (then keeps reading --extra-wait seconds, default 0, so
      duplicates show), or at the timeout. Every record read is printed, so
      there can be more than N. Exit 0 with >= N records, 2 with fewer.
      --stream prints each record as it arrives and keeps none (for millions
      of records): each partition in offset order, the partitions interleaved.
  produce --topic T --count N [--compression C]
      Produce N deterministic records (see `expected_record`) with acks=all
      and one request in flight, so record i lands in partition i % P at
      offset i // P of a new topic with P partitions.
  committed --group G --topic T
      Print the group's committed offsets of T as one JSON object
      {"<partition>": offset, ...} (partitions without an offset are left out).
  create-topic --topic T --partitions P --replication-factor R [--config K=V]...
      Create the topic and wait until every partition has a leader that serves
      it (answers ListOffsets for it).
  describe-topic --topic T
      Print {"topic", "partitions": [{"partition", "leader", "replicas",
      "isr"}, ...]} as one JSON line.
  move-leader --topic T --partition P --to B [--timeout S]
      Reassign P's replicas so that broker B comes first (the same replica set,
      reordered), then run a preferred leader election until B leads P. Print
      {"topic", "partition", "from", "to", "seconds"} as one JSON line.

Every subcommand but probe also takes the client's security settings, to read
back over a secured listener (kafka.sh secure-up):
  --security-protocol PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL
  --ssl-cafile F --ssl-certfile F --ssl-keyfile F [--ssl-no-check-hostname]
  --sasl-mechanism M --sasl-username U --sasl-password P   (PLAIN, SCRAM-SHA-*)
  --sasl-oauth-token T                                     (OAUTHBEARER)

Exit status 1 means an error (a message goes to stderr).
"""

import argparse
import base64
import json
import socket
import struct
import sys
import time

# Base of the CreateTime timestamps that `produce` writes: record i gets
# PRODUCE_BASE_TIMESTAMP + i. kprod-tests computes the same expectations.
PRODUCE_BASE_TIMESTAMP = 1_700_000_000_000


def expected_record(i):
    """The record `produce` sends as number i: (key, value, headers, timestamp).

    kprod-tests (tests/src/lib.rs, `smoke_expected`) implements the same rule
    on its own, and the smoke test compares the two field by field.
    """
    if i % 10 == 0:
        key = None
    elif i % 10 == 5:
        key = b""
    else:
        key = f"key-{i}".encode()
    # kafka-python refuses a record whose key and value are both null.
    if i % 17 == 3 and key is not None:
        value = None
    else:
        value = bytes((i + j) % 256 for j in range(i % 64))
    # kafka-python's producer refuses null header values (its consumer
    # decodes them), so this smoke content has none.
    headers = [("seq", str(i).encode())]
    if i % 4 == 0:
        headers.append(("empty", b""))
    return key, value, headers, PRODUCE_BASE_TIMESTAMP + i


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def _static_token(token):
    """An OAUTHBEARER token provider (kafka-python's AbstractTokenProvider) giving `token`."""
    try:
        from kafka.net.sasl.oauth import AbstractTokenProvider  # kafka-python 3
    except ImportError:
        from kafka.sasl.oauth import AbstractTokenProvider  # kafka-python 2

    class StaticToken(AbstractTokenProvider):
        def token(self):
            return token

        def extensions(self):
            return {}

    return StaticToken()


def security(args):
    """kafka-python keyword arguments for the --security-protocol/--ssl-*/--sasl-* options."""
    kw = {"security_protocol": args.security_protocol}
    if args.ssl_cafile:
        kw["ssl_cafile"] = args.ssl_cafile
    if args.ssl_certfile:
        kw["ssl_certfile"] = args.ssl_certfile
    if args.ssl_keyfile:
        kw["ssl_keyfile"] = args.ssl_keyfile
    if args.ssl_no_check_hostname:
        kw["ssl_check_hostname"] = False
    if args.sasl_mechanism:
        kw["sasl_mechanism"] = args.sasl_mechanism
    if args.sasl_username is not None:
        kw["sasl_plain_username"] = args.sasl_username
    if args.sasl_password is not None:
        kw["sasl_plain_password"] = args.sasl_password
    if args.sasl_oauth_token:
        kw["sasl_oauth_token_provider"] = _static_token(args.sasl_oauth_token)
    return kw


def fail(message):
    print(f"verify.py: {message}", file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------ probe


def _metadata_v8_brokers(host, port, timeout):
    """Raw Metadata v8 request for no topics; returns the broker count."""
    client_id = b"kprod-probe"
    body = struct.pack(">hhih", 3, 8, 1, len(client_id)) + client_id
    # topics: empty array; allow_auto_topic_creation and both
    # include_*_authorized_operations: false.
    body += struct.pack(">i???", 0, False, False, False)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read_exact(sock, 4))[0]
        resp = _read_exact(sock, size)
    correlation_id, _throttle, count = struct.unpack_from(">iii", resp, 0)
    if correlation_id != 1:
        raise ValueError("correlation id mismatch")
    return count


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def cmd_probe(args):
    last = "no address"
    for addr in args.bootstrap.split(","):
        host, _, port = addr.rpartition(":")
        try:
            count = _metadata_v8_brokers(host.strip("[]"), int(port), args.timeout)
        except (OSError, ValueError, struct.error) as e:
            last = f"{addr}: {e}"
            continue
        if count >= args.brokers:
            print(f"{addr}: Metadata lists {count} broker(s)")
            return 0
        last = f"{addr}: Metadata lists {count} broker(s), want {args.brokers}"
    print(last, file=sys.stderr)
    return 1


# ------------------------------------------------------------------ kafka-python


def _partitions(consumer, topic, deadline):
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        if time.monotonic() >= deadline:
            fail(f"topic {topic!r} has no partitions in metadata")
        time.sleep(0.1)


def cmd_consume(args):
    from kafka import KafkaConsumer, TopicPartition

    deadline = time.monotonic() + args.timeout
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=args.isolation,
        check_crcs=True,
        client_id="kprod-verify",
        **security(args),
    )
    try:
        tps = [TopicPartition(args.topic, p) for p in _partitions(consumer, args.topic, deadline)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records = []
        streamed = 0
        stop_at = deadline
        while True:
            now = time.monotonic()
            if now >= stop_at:
                break
            batch = consumer.poll(timeout_ms=max(1, int(min(0.5, stop_at - now) * 1000)))
            for recs in batch.values():
                if args.stream:
                    for r in recs:
                        _print_record(r)
                    streamed += len(recs)
                else:
                    records.extend(recs)
            if len(records) + streamed >= args.count and stop_at == deadline:
                stop_at = min(deadline, time.monotonic() + args.extra_wait)
    finally:
        consumer.close()
    records.sort(key=lambda r: (r.partition, r.offset))
    for r in records:
        _print_record(r)
    if len(records) + streamed < args.count:
        print(f"verify.py: read {len(records) + streamed} of {args.count} records from {args.topic!r} "
              f"within {args.timeout}s", file=sys.stderr)
        return 2
    return 0


def cmd_committed(args):
    from kafka import KafkaConsumer, TopicPartition

    deadline = time.monotonic() + 30
    # Reads the committed offsets (OffsetFetch) without joining the group.
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap.split(","), group_id=args.group,
                             enable_auto_commit=False, client_id="kprod-verify")
    try:
        offsets = {}
        for p in _partitions(consumer, args.topic, deadline):
            committed = consumer.committed(TopicPartition(args.topic, p))
            if committed is not None and committed >= 0:
                offsets[str(p)] = committed
    finally:
        consumer.close()
    print(json.dumps(offsets, sort_keys=True))
    return 0


def _print_record(r):
    print(json.dumps({
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "timestamp_type": r.timestamp_type,
        "key": b64(r.key),
        "value": b64(r.value),
        "headers": [[k, b64(v)] for k, v in (r.headers or [])],
    }))


def cmd_produce(args):
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap.split(","),
        acks="all",
        max_in_flight_requests_per_connection=1,
        compression_type=None if args.compression == "none" else args.compression,
        client_id="kprod-verify",
        **security(args),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            parts = producer.partitions_for(args.topic)
            if parts:
                break
            if time.monotonic() >= deadline:
                fail(f"topic {args.topic!r} has no partitions in metadata")
            time.sleep(0.1)
        n = len(parts)
        futures = []
        for i in range(args.count):
            key, value, headers, ts = expected_record(i)
            futures.append(producer.send(args.topic, key=key, value=value, headers=headers,
                                         partition=i % n, timestamp_ms=ts))
        producer.flush(timeout=60)
        for f in futures:
            f.get(timeout=60)
    finally:
        producer.close()
    print(f"produced {args.count} records to {args.topic!r} ({n} partitions)")
    return 0


def _admin(args):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=args.bootstrap.split(","), client_id="kprod-verify",
                            **security(args))


def _wait_until_served(admin, topic, partitions, timeout_s):
    """Wait until the leader of every partition of `topic` answers ListOffsets.

    Metadata names a leader (what wait_for_topics waits for) before that broker
    has created the partition's log: in that window it refuses Produce with
    NOT_LEADER_OR_FOLLOWER. A test that produces at once without idempotence
    (acks=1) would then see its first batches retried behind later ones, which
    reorders them as the Java client would (seen in CI: std_order, partition 1
    refused for its first ~30 ms). ListOffsets takes the same leader check.
    """
    from kafka import OffsetSpec, TopicPartition

    specs = {TopicPartition(topic, p): OffsetSpec.LATEST for p in range(partitions)}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_partition_offsets(specs, timeout_ms=2000)
            return
        except Exception as exc:  # not yet led, unknown to the leader yet, or timed out
            if time.monotonic() >= deadline:
                fail(f"topic {topic!r}: a partition's leader does not serve it after {timeout_s:.0f} s: {exc!r}")
            time.sleep(0.05)


def cmd_create_topic(args):
    configs = {}
    for kv in args.config:
        k, sep, v = kv.partition("=")
        if not sep:
            fail(f"--config takes KEY=VALUE, got {kv!r}")
        configs[k] = v
    admin = _admin(args)
    try:
        admin.create_topics({args.topic: {
            "num_partitions": args.partitions,
            "replication_factor": args.replication_factor,
            "configs": configs,
        }}, timeout_ms=30000)
        admin.wait_for_topics([args.topic], timeout_ms=30000)
        _wait_until_served(admin, args.topic, args.partitions, timeout_s=30.0)
    finally:
        admin.close()
    print(f"created topic {args.topic!r}: {args.partitions} partition(s), "
          f"replication factor {args.replication_factor}")
    return 0


def cmd_describe_topic(args):
    admin = _admin(args)
    try:
        topics = admin.describe_topics([args.topic])
    finally:
        admin.close()
    if not topics or topics[0].get("error_code", 0) != 0:
        fail(f"cannot describe {args.topic!r}: {topics}")
    parts = sorted(topics[0]["partitions"], key=lambda p: p["partition_index"])
    print(json.dumps({
        "topic": args.topic,
        "partitions": [{
            "partition": p["partition_index"],
            "leader": p["leader_id"],
            "replicas": list(p["replica_nodes"]),
            "isr": list(p["isr_nodes"]),
        } for p in parts],
    }))
    return 0


def _describe_partition(admin, topic, partition):
    topics = admin.describe_topics([topic])
    for p in topics[0]["partitions"]:
        if p["partition_index"] == partition:
            return p
    fail(f"{topic!r} has no partition {partition}")


def cmd_move_leader(args):
    from kafka import TopicPartition

    started = time.monotonic()
    admin = _admin(args)
    try:
        p = _describe_partition(admin, args.topic, args.partition)
        before = p["leader_id"]
        replicas = list(p["replica_nodes"])
        if args.to not in replicas:
            fail(f"broker {args.to} holds no replica of {args.topic}-{args.partition} ({replicas})")
        order = [args.to] + [r for r in replicas if r != args.to]
        tp = TopicPartition(args.topic, args.partition)
        errors = admin.alter_partition_reassignments({tp: order}, timeout_ms=30000)
        if errors.get(tp) is not None:
            fail(f"reassignment of {args.topic}-{args.partition} to {order} failed: {errors[tp]}")
        while True:
            try:
                admin.elect_leaders(0, {args.topic: [args.partition]}, timeout_ms=10000, raise_errors=False)
            except Exception:  # noqa: BLE001 - an election racing a leader change; look and retry
                pass
            if _describe_partition(admin, args.topic, args.partition)["leader_id"] == args.to:
                break
            if time.monotonic() - started > args.timeout:
                fail(f"broker {args.to} does not lead {args.topic}-{args.partition} after {args.timeout}s")
            time.sleep(0.5)
    finally:
        admin.close()
    print(json.dumps({"topic": args.topic, "partition": args.partition, "from": before, "to": args.to,
                      "seconds": round(time.monotonic() - started, 3)}))
    return 0


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def command(name, func):
        p = sub.add_parser(name)
        p.add_argument("--bootstrap", required=True, help="HOST:PORT[,HOST:PORT...]")
        p.set_defaults(func=func)
        if name != "probe":
            p.add_argument("--security-protocol", default="PLAINTEXT",
                           choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
            p.add_argument("--ssl-cafile")
            p.add_argument("--ssl-certfile")
            p.add_argument("--ssl-keyfile")
            p.add_argument("--ssl-no-check-hostname", action="store_true")
            p.add_argument("--sasl-mechanism")
            p.add_argument("--sasl-username")
            p.add_argument("--sasl-password")
            p.add_argument("--sasl-oauth-token")
        return p

    p = command("probe", cmd_probe)
    p.add_argument("--brokers", type=int, default=1)
    p.add_argument("--timeout", type=float, default=2.0)

    p = command("consume", cmd_consume)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--extra-wait", type=float, default=0.0)
    p.add_argument("--isolation", choices=["read_uncommitted", "read_committed"],
                   default="read_uncommitted")
    p.add_argument("--stream", action="store_true")

    p = command("produce", cmd_produce)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--compression", choices=["none", "gzip", "snappy", "lz4", "zstd"],
                   default="none")

    p = command("committed", cmd_committed)
    p.add_argument("--group", required=True)
    p.add_argument("--topic", required=True)

    p = command("create-topic", cmd_create_topic)
    p.add_argument("--topic", required=True)
    p.add_argument("--partitions", type=int, required=True)
    p.add_argument("--replication-factor", type=int, required=True)
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")

    p = command("describe-topic", cmd_describe_topic)
    p.add_argument("--topic", required=True)

    p = command("move-leader", cmd_move_leader)
    p.add_argument("--topic", required=True)
    p.add_argument("--partition", type=int, required=True)
    p.add_argument("--to", type=int, required=True)
    p.add_argument("--timeout", type=float, default=60.0)

    args = ap.parse_args()
    try:
        return args.func(args)
    except Exception as e:  # noqa: BLE001 - report any client error as exit 1
        fail(f"{args.cmd} failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main())
