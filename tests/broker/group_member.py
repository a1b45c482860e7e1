#!/usr/bin/env python3
"""A real consumer group member for kprod's KIP-447 test (tests/tests/std_txn_group.rs).

    group_member.py --bootstrap HOST:PORT --topic T --group G [--instance-id ID]

Consumer A (kafka-python, the classic group protocol) joins group G on topic T and prints its
group metadata as one JSON line: {"generation": N, "member_id": "...", "instance_id": ...}.
Then it reads commands, one a line, on stdin:

- `rebalance`: consumer B joins the same group; both poll until A is in a newer generation,
  and A's new metadata is printed the same way (A's old generation is now stale);
- `exit`: both leave the group and the script ends.

A's heartbeats run in kafka-python's background thread, so A stays in the group between
commands.
"""

import argparse
import json
import sys
import time

from kafka import KafkaConsumer


def member(consumer):
    coordinator = consumer._coordinator
    generation = coordinator.generation_if_stable() if hasattr(coordinator, "generation_if_stable") else None
    if generation is None:
        generation = coordinator._generation
    return generation.generation_id, generation.member_id


def new_consumer(args, instance_id):
    return KafkaConsumer(args.topic, bootstrap_servers=args.bootstrap.split(","), group_id=args.group,
                         group_instance_id=instance_id, enable_auto_commit=False,
                         auto_offset_reset="earliest", session_timeout_ms=30000, heartbeat_interval_ms=1000)


def wait_member(consumers, a, newer_than=0, deadline=60):
    """Polls every consumer until `a` is stable in a generation newer than `newer_than`;
    returns whether it is within `deadline` seconds."""
    end = time.time() + deadline
    while time.time() < end:
        for c in consumers:
            c.poll(timeout_ms=200)
        generation, member_id = member(a)
        if generation > newer_than and member_id and a.assignment():
            return True
    return False


def join(args, instance_id, attempts=3, deadline=20):
    """Consumer A, stable in the group. A consumer that does not get there in `deadline`
    seconds is closed and a new one joins: once (CI, session 28) kafka-python 3.0.12's member
    re-joined right after its first assignment, got generation 2's, and then neither polled
    into it nor sent a heartbeat until the broker removed it 30 s later."""
    for attempt in range(1, attempts + 1):
        a = new_consumer(args, instance_id)
        if wait_member([a], a, deadline=deadline):
            return a
        print("group_member: attempt %d: no stable membership within %ss; joining anew" % (attempt, deadline),
              file=sys.stderr, flush=True)
        a.close(autocommit=False)
    raise SystemExit("group_member: no stable membership in %d attempts of %ss" % (attempts, deadline))


def print_member(consumer, instance_id):
    generation, member_id = member(consumer)
    print(json.dumps({"generation": generation, "member_id": member_id, "instance_id": instance_id}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--instance-id")
    args = p.parse_args()
    a = join(args, args.instance_id)
    print_member(a, args.instance_id)
    b = None
    for line in sys.stdin:
        command = line.strip()
        if command == "rebalance" and b is None:
            old, _ = member(a)
            b = new_consumer(args, None)
            if not wait_member([a, b], a, newer_than=old):
                raise SystemExit("group_member: no stable membership in a generation above %s within 60s" % old)
            print_member(a, args.instance_id)
        elif command == "exit":
            break
    for c in (a, b):
        if c is not None:
            c.close(autocommit=False)


if __name__ == "__main__":
    main()
