"""route_users.py and count_professions.py, the two stream-processing stages, on a real broker.

Every test ends by reading the outputs with read_committed and comparing them with the truth computed from
the input: the latest count of each profession, each good user once in UsersByProfession, each bad record
once in the dead-letter topic. The input is written by librdkafka (confluent-kafka) and by Kafka's Java
console producer, not by the kit.
"""

import collections
import json
import random
import re
import time

from kafka import KafkaConsumer, TopicPartition
from support import (
    create_topic,
    java_tool,
    librdkafka_produce,
    run_script,
    unique_name,
)

CONSOLE_PRODUCER = "kafka.tools.ConsoleProducer"
PROFESSIONS = ["Teacher", "Nurse", "Architect", "Chef", "Pilot", "Plumber", "Designer", "Data Engineer",
               "Baker", "Lawyer", "Farmer", "Welder"]
BATCH = re.compile(r"^Batch: +(\d+) in +(\d+) out +(?:(\d+) to DLQ +)?partitions \[[\d, ]*\] +(.*)$")
PAUSED = r"^\(test\) pausing"


class Pipeline:
    """The topics of one test: Users -> route_users.py -> UsersByProfession, Users.DLQ -> count_professions.py
    -> ProfessionCounts, each with a unique name, and the truth about what was written to Users."""

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        prefix = unique_name("proc")
        self.users, self.by_profession = f"{prefix}-Users", f"{prefix}-UsersByProfession"
        self.dlq, self.counts = f"{prefix}-Users.DLQ", f"{prefix}-ProfessionCounts"
        self.route_group, self.count_group = f"{prefix}-route", f"{prefix}-count"
        create_topic(bootstrap, self.users, partitions=3)
        self.good, self.bad, self.next_id = [], [], 0

    def route_args(self, *extra):
        return ["route_users.py", "--topic", self.users, "--output", self.by_profession, "--dlq", self.dlq,
                "--group", self.route_group, *extra]

    def count_args(self, *extra):
        return ["count_professions.py", "--topic", self.by_profession, "--output", self.counts,
                "--group", self.count_group, *extra]

    def send_users(self, count):
        """`count` good users, by librdkafka, each profession chosen at random."""
        records = []
        for _ in range(count):
            self.next_id += 1
            user = {"id": self.next_id, "name": f"user-{self.next_id}", "profession": random.choice(PROFESSIONS)}
            value = json.dumps(user).encode()
            records.append((f"user-{self.next_id}".encode(), value))
        librdkafka_produce(self.bootstrap, self.users, records, **{"linger.ms": 50})
        self.good += [value for _, value in records]

    def send_bad(self):
        """50 records route_users.py cannot use: 40 by librdkafka (some with keys), 10 by the console producer."""
        bad = [(b"k-text", b"hello, plain text"), (None, b"\xff\xfe not text"), (b"k-list", b"[1, 2, 3]"),
               (b"k-none", b'{"name": "No profession"}'), (b"k-num", b'{"name": "N", "profession": 7}'),
               (b"k-null", b"null"), (b"k-empty", b"")]
        bad += [(f"bad-{n}".encode(), f"not json {n}".encode()) for n in range(len(bad), 40)]
        librdkafka_produce(self.bootstrap, self.users, bad)
        lines = [f"console not json {n}" for n in range(5)] + [f'{{"console": {n}}}' for n in range(4)] + ["42"]
        result = java_tool(CONSOLE_PRODUCER, "--bootstrap-server", self.bootstrap, "--topic", self.users,
                           input="\n".join(lines) + "\n")
        assert result.returncode == 0, result.stderr
        self.bad += bad + [(None, line.encode()) for line in lines]

    def true_counts(self):
        return dict(collections.Counter(json.loads(v)["profession"] for v in self.good))

    def committed_counts(self):
        return {key.decode(): json.loads(value)["count"] for key, value, _ in latest(read_committed(self.bootstrap,
                                                                                                     self.counts))}

    def wait_for_counts(self, expected_total, timeout=120):
        """The committed counts once they add up to expected_total (or whatever they are at the deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.committed_counts()
            if sum(counts.values()) >= expected_total or time.monotonic() > deadline:
                return counts
            time.sleep(1)

    def assert_exact(self):
        counts = self.committed_counts()
        assert counts == self.true_counts(), "every profession's latest count equals the true count"
        routed = [value for _, value, _ in read_committed(self.bootstrap, self.by_profession)]
        assert collections.Counter(routed) == collections.Counter(self.good), "each good user exactly once"
        dead = read_committed(self.bootstrap, self.dlq)
        assert collections.Counter((k, v) for k, v, _ in dead) == collections.Counter(self.bad), \
            "each bad record exactly once in the DLQ, with its original key and value"
        for _, _, headers in dead:
            assert {"reason", "source.partition", "source.offset"} <= set(headers), headers


def read_committed(bootstrap, topic):
    """[(key, value, {header: value})] of every committed record, in order per partition."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in reader.partitions_for_topic(topic) or ()]
        reader.assign(parts)
        reader.seek_to_beginning(*parts)
        ends = reader.end_offsets(parts)
        found = []
        deadline = time.monotonic() + 60
        while any(reader.position(tp) < ends[tp] for tp in parts) and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=500).values():
                found += [(r.key, r.value, {k: v.decode() for k, v in r.headers}) for r in records]
        return found
    finally:
        reader.close()


def latest(records):
    """The last record of each key, as a compacted topic keeps it."""
    return list({key: (key, value, headers) for key, value, headers in records}.values())


def run_stage(pipeline, args, timeout=6):
    result = run_script(*args, "--timeout", timeout, bootstrap=pipeline.bootstrap, timeout=240)
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr, result
    return result


def batches(lines):
    return [BATCH.match(line).groups() for line in lines if BATCH.match(line)]


def test_both_stages_route_and_count_exactly_once(bootstrap):
    pipeline = Pipeline(bootstrap)
    pipeline.send_users(10_000)
    pipeline.send_bad()
    pipeline.send_users(10_000)

    routed = run_stage(pipeline, pipeline.route_args())
    assert f"Created topic '{pipeline.by_profession}' with 3 partition(s)." in routed.lines, routed
    done = batches(routed.lines)
    assert done and all(outcome == "committed" for *_, outcome in done), routed
    assert sum(int(b[0]) for b in done) == 20_050 and sum(int(b[2]) for b in done) == 50, routed
    assert routed.lines[-1].startswith("Routed 20,050 records: 20,000 to"), routed

    counted = run_stage(pipeline, pipeline.count_args())
    assert f"Created topic '{pipeline.counts}' with 3 partition(s) (cleanup.policy=compact)." in counted.lines
    assert all(outcome == "committed" for *_, outcome in batches(counted.lines)), counted
    pipeline.assert_exact()
    reasons = collections.Counter(h["reason"] for _, _, h in read_committed(bootstrap, pipeline.dlq))
    assert reasons["no profession"] == 2 + 4 and reasons["not JSON"] >= 38, reasons


def test_count_professions_refuses_topics_that_are_not_co_partitioned_or_not_compacted(bootstrap):
    pipeline = Pipeline(bootstrap)
    create_topic(bootstrap, pipeline.by_profession, partitions=3)
    create_topic(bootstrap, pipeline.counts, partitions=2, configs={"cleanup.policy": "compact"})
    wrong_count = run_script(*pipeline.count_args(), bootstrap=bootstrap)
    assert wrong_count.returncode == 2 and wrong_count.err_lines == [
        f"error: topic '{pipeline.counts}' has 2 partition(s) but its input has 3: they must be co-partitioned "
        f"(partition p of one holds the keys of partition p of the other); delete it or choose another name"], \
        wrong_count
    not_compacted = unique_name("counts")
    create_topic(bootstrap, not_compacted, partitions=3)
    refused = run_script(*pipeline.count_args("--output", not_compacted), bootstrap=bootstrap)
    assert refused.returncode == 2 and len(refused.err_lines) == 1, refused
    assert f"topic '{not_compacted}' is not compacted (cleanup.policy=delete)" in refused.err_lines[0], refused
