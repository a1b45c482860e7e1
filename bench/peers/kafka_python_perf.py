#!/usr/bin/env python3
"""kafka-python's producer driven like Kafka's ProducerPerformance, for scripts/bench.sh.

Same command line (--topic --num-records --record-size --throughput --producer-props k=v ...)
and same output: a window line every 5 s and the final line
"N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th,
P95 ms 95th, P99 ms 99th, P999 ms 99.9th."

Java property names map to KafkaProducer keyword arguments by replacing '.' with '_'
(linger.ms -> linger_ms); a name kafka-python does not know is an error, never ignored. The Java
security names map to kafka-python's: sasl.jaas.config's username and password become
sasl_plain_username / sasl_plain_password (its name for every mechanism), a PEM
ssl.truststore.location becomes ssl_cafile, an empty ssl.endpoint.identification.algorithm turns
ssl_check_hostname off. --payload-file, --keys, --topics and the transaction options mean what they
mean for the other peers (bench/peers/README.md).
Like ProducerPerformance: each record is a fresh payload of random 'A'..'Z' bytes with a null
key; its latency runs from just before send() to its callback in whole milliseconds;
percentiles come from at most 500,000 evenly sampled latencies; the clock starts before the
first send and stops once every record is acknowledged (flush()).

Run it with the venv of tests/broker/kafka.sh (kafka-python is installed there).
"""

import argparse
import os
import random
import re
import sys
import threading
import time

import kafka
from kafka import KafkaProducer

REPORTING_INTERVAL_MS = 5000
MAX_SAMPLES = 500_000
MAX_PRINTED_FAILURES = 10
# random bytes -> 'A'..'Z' (byte % 26), as one C-level translate per record.
ALPHABET = bytes(65 + (b % 26) for b in range(256))


def now_ms():
    return time.time_ns() // 1_000_000


class Stats:
    """ProducerPerformance.Stats. Callbacks run on kafka-python's sender thread: one lock."""

    def __init__(self, num_records, start_ms):
        self.lock = threading.Lock()
        self.start = start_ms
        self.sampling = num_records // min(num_records, MAX_SAMPLES)
        self.latencies = []
        self.iteration = 0
        self.count = 0
        self.bytes = 0
        self.max_latency = 0
        self.total_latency = 0
        self.failed = 0
        self.new_window(start_ms)

    def new_window(self, at_ms):
        self.w_start, self.w_count, self.w_bytes, self.w_max, self.w_total = at_ms, 0, 0, 0, 0

    def record(self, latency, size, at_ms):
        with self.lock:
            self.count += 1
            self.bytes += size
            self.total_latency += latency
            self.max_latency = max(self.max_latency, latency)
            self.w_count += 1
            self.w_bytes += size
            self.w_total += latency
            self.w_max = max(self.w_max, latency)
            if self.iteration % self.sampling == 0:
                self.latencies.append(latency)
            if at_ms - self.w_start >= REPORTING_INTERVAL_MS:
                secs = max(at_ms - self.w_start, 1) / 1000.0
                print(f"{self.w_count} records sent, {self.w_count / secs:.1f} records/sec "
                      f"({self.w_bytes / secs / (1024 * 1024):.2f} MB/sec), "
                      f"{self.w_total / self.w_count:.1f} ms avg latency, {float(self.w_max):.1f} ms max latency.",
                      flush=True)
                self.new_window(at_ms)
            self.iteration += 1

    def fail(self, error):
        with self.lock:
            self.failed += 1
            if self.failed <= MAX_PRINTED_FAILURES:
                print(f"delivery failed: {error!r}", file=sys.stderr, flush=True)

    def print_total(self, at_ms):
        with self.lock:
            elapsed = max(at_ms - self.start, 1)
            lat = sorted(self.latencies)

            def p(q):
                i = int(q * len(lat))
                return lat[i] if i < len(lat) else 0

            avg = self.total_latency / self.count if self.count else 0.0
            print(f"{self.count} records sent, {1000.0 * self.count / elapsed:f} records/sec "
                  f"({1000.0 * self.bytes / elapsed / (1024 * 1024):.2f} MB/sec), {avg:.2f} ms avg latency, "
                  f"{float(self.max_latency):.2f} ms max latency, {p(0.5)} ms 50th, {p(0.95)} ms 95th, "
                  f"{p(0.99)} ms 99th, {p(0.999)} ms 99.9th.", flush=True)


class Throttler:
    """ProducerPerformance's ThroughputThrottler, for records per second."""

    MIN_SLEEP_NS = 2_000_000

    def __init__(self, target, start_ms):
        self.start = start_ms
        self.target = target
        self.sleep_ns = int(1e9 / target) if target > 0 else 0
        self.deficit = 0

    def should_throttle(self, sent, at_ms):
        if self.target < 0:
            return False
        secs = (at_ms - self.start) / 1000.0
        return secs > 0 and sent / secs > self.target

    def throttle(self):
        self.deficit += self.sleep_ns
        if self.deficit >= self.MIN_SLEEP_NS:
            time.sleep(self.deficit / 1e9)
            self.deficit = 0


def typed(name, value):
    """A property value as kafka-python wants it."""
    if name == "acks":
        return value if value == "all" else int(value)
    if name == "compression_type":
        return None if value == "none" else value
    if value in ("true", "false"):
        return value == "true"
    try:
        return int(value)
    except ValueError:
        return value


def producer_config(props):
    known = KafkaProducer.DEFAULT_CONFIG
    config = {"client_id": "perf-producer-client"}
    for prop in props:
        name, sep, value = prop.partition("=")
        if not sep:
            raise ValueError(f"invalid property {prop!r}: expected NAME=VALUE")
        if name == "sasl.jaas.config":
            for field, v in re.findall(r'(username|password)="([^"]*)"', value):
                config[f"sasl_plain_{field}"] = v
            continue
        if name == "ssl.truststore.type":
            if value != "PEM":
                raise ValueError(f"ssl.truststore.type={value}: kafka-python reads PEM only")
            continue
        if name == "ssl.truststore.location":
            config["ssl_cafile"] = value
            continue
        if name == "ssl.endpoint.identification.algorithm":
            config["ssl_check_hostname"] = value != ""
            continue
        key = name.replace(".", "_")
        if key not in known:
            raise ValueError(f"kafka-python {kafka.__version__} has no setting for {name!r}")
        config[key] = typed(key, value)
    return config


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--num-records", type=int, required=True)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--record-size", type=int)
    size.add_argument("--payload-file")
    parser.add_argument("--keys", type=int, help="record i has the key key-<i mod K>")
    parser.add_argument("--topics", type=int, help="record i goes to TOPIC-<i mod M>")
    parser.add_argument("--transactional-id")
    parser.add_argument("--transaction-duration-ms", type=int)
    parser.add_argument("--throughput", type=float, required=True)
    parser.add_argument("--producer-props", nargs="+", required=True, metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    if args.num_records <= 0:
        parser.error("--num-records must be at least 1")
    if args.record_size is not None and args.record_size <= 0:
        parser.error("--record-size must be at least 1")
    for name in ("keys", "topics", "transaction_duration_ms"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.throughput == 0:
        parser.error("--throughput 0 would never send; use -1 for no limit")
    return args


def run(args):
    try:
        config = producer_config(args.producer_props)
    except ValueError as e:
        print(f"kafka_python_perf: {e}", file=sys.stderr)
        return 2
    txn_ms = args.transaction_duration_ms or (3000 if args.transactional_id else None)
    if txn_ms:
        config["transactional_id"] = args.transactional_id or f"performance-producer-{os.getpid()}"
    print(f"kafka-python version: {kafka.__version__} (Python {sys.version.split()[0]})", flush=True)
    producer = KafkaProducer(**config)
    if txn_ms:
        producer.init_transactions()
    size = args.record_size
    rng = random.Random(0)
    lines = None
    if args.payload_file:
        with open(args.payload_file, "rb") as f:
            lines = [line for line in f.read().split(b"\n") if line]
        if not lines:
            print(f"kafka_python_perf: --payload-file {args.payload_file}: no payloads in it", file=sys.stderr)
            return 2
    topics = [f"{args.topic}-{j}" for j in range(args.topics)] if args.topics else [args.topic]
    start = now_ms()
    stats = Stats(args.num_records, start)
    throttler = Throttler(args.throughput, start)

    def on_success(sent_ms, size, _metadata):
        at = now_ms()
        stats.record(at - sent_ms, size, at)

    began = None
    for i in range(args.num_records):
        if txn_ms and began is None:
            producer.begin_transaction()
            began = now_ms()
        value = rng.choice(lines) if lines else rng.randbytes(size).translate(ALPHABET)
        key = f"key-{i % args.keys}".encode() if args.keys else None
        sent_ms = now_ms()
        future = producer.send(topics[i % len(topics)], value=value, key=key)
        future.add_callback(on_success, sent_ms, len(value))
        future.add_errback(stats.fail)
        if txn_ms and sent_ms - began >= txn_ms:
            producer.commit_transaction()
            began = None
        if throttler.should_throttle(i, sent_ms):
            throttler.throttle()
    if began is not None:
        producer.commit_transaction()
    producer.flush()
    stats.print_total(now_ms())
    producer.close()
    if stats.failed:
        print(f"kafka_python_perf: {stats.failed} records failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(parse_args(sys.argv[1:])))
