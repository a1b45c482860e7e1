"""Unit tests of broker.py's wait for new topics' partitions (no broker: a fake admin client).

broker.py imports kafka-python, which the unit tests do without: it is loaded here under its
own name with stand-ins for those imports.
"""

import importlib.util
import os
import sys
import types
import unittest
from unittest import mock


def load_broker():
    kafka = types.SimpleNamespace(KafkaAdminClient=None, KafkaConsumer=None, TopicPartition=None)
    admin = types.SimpleNamespace(NewPartitions=lambda count: ("partitions", count),
                                  NewTopic=lambda name, partitions, replication: (name, partitions, replication))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "broker.py")
    with mock.patch.dict(sys.modules, {"kafka": kafka, "kafka.admin": admin}):
        spec = importlib.util.spec_from_file_location("broker_under_test", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


broker = load_broker()


def described(name, partitions, leader=0):
    return {"name": name, "error_code": 0,
            "partitions": [{"partition_index": i, "error_code": 0, "leader_id": leader} for i in range(partitions)]}


class FakeAdmin:
    """Answers describe_topics from a list of answers, one per call (the last one repeats)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def create_topics(self, new_topics, timeout_ms):
        self.calls.append(("create_topics", [t[0] for t in new_topics]))

    def create_partitions(self, counts, timeout_ms):
        self.calls.append(("create_partitions", {t: c[1] for t, c in counts.items()}))

    def describe_topics(self, topics):
        self.calls.append(("describe_topics", list(topics)))
        n = sum(1 for c in self.calls if c[0] == "describe_topics")
        return self.answers[min(n, len(self.answers)) - 1]


def with_admin(admin):
    b = broker.Broker.__new__(broker.Broker)
    b.admin = admin
    return b


class PartitionsNotReadyTest(unittest.TestCase):
    def test_ready_only_with_every_partition_led_and_no_error(self):
        self.assertEqual(broker.partitions_not_ready([described("t", 3)], ["t"], 3), {})
        self.assertIn("not listed", broker.partitions_not_ready([], ["t"], 3)["t"])
        self.assertIn("1 of 3", broker.partitions_not_ready([described("t", 2)], ["t"], 3)["t"])
        self.assertIn("3 of 3", broker.partitions_not_ready([described("t", 3, leader=-1)], ["t"], 3)["t"])
        failed = dict(described("t", 3), error_code=3)
        self.assertIn("error code 3", broker.partitions_not_ready([failed], ["t"], 3)["t"])
        one_bad = described("t", 3)
        one_bad["partitions"][1]["error_code"] = 5
        self.assertIn("1 of 3", broker.partitions_not_ready([one_bad], ["t"], 3)["t"])

    def test_each_topic_on_its_own(self):
        pending = broker.partitions_not_ready([described("a", 2), described("b", 1)], ["a", "b"], 2)
        self.assertEqual(list(pending), ["b"])


class CreateTopicsTest(unittest.TestCase):
    def test_grown_topic_waits_for_the_new_partition_count(self):
        # The metadata lists the first request's 4,000 partitions twice after the growth.
        admin = FakeAdmin([[described("big", 4000)], [described("big", 4000)], [described("big", 10000)]])
        with mock.patch.object(broker.time, "sleep"):
            with_admin(admin).create_topics(["big"], 10000)
        self.assertEqual([c[0] for c in admin.calls],
                         ["create_topics", "create_partitions", "create_partitions"] + ["describe_topics"] * 3)
        self.assertEqual([c[1] for c in admin.calls if c[0] == "create_partitions"], [{"big": 8000}, {"big": 10000}])

    def test_timeout_names_the_topics_not_ready(self):
        admin = FakeAdmin([[described("a", 1), described("b", 1, leader=-1)]])
        with self.assertRaises(TimeoutError) as e:
            with_admin(admin).wait_for_partitions(["a", "b"], 1, timeout_ms=0, poll_s=0)
        self.assertIn("1 topic(s) not ready", str(e.exception))
        self.assertIn("b: 1 of 1", str(e.exception))

    def test_describe_failures_are_retried(self):
        answers = iter([RuntimeError("metadata not there yet"), [described("t", 2)]])

        def describe(topics):
            a = next(answers)
            if isinstance(a, Exception):
                raise a
            return a
        admin = types.SimpleNamespace(describe_topics=describe)
        with mock.patch.object(broker.time, "sleep"):
            with_admin(admin).wait_for_partitions(["t"], 2, timeout_ms=60000)
        self.assertIsNone(next(answers, None))


if __name__ == "__main__":
    unittest.main()
