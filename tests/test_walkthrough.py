"""The README's "partitions and consumer groups" walkthrough, step by step, with real processes.

Each test runs the same commands a learner types into a few terminals: create_topic.py,
two or three consumer.py in the background, producer.py; and it checks what those
terminals print. Records are identified by (partition, offset), which Kafka gives each
record once, so "every record printed exactly once" is checked without trusting the scripts.

Every step runs twice: on Kafka 3.9 with ZooKeeper (the session's broker) and on Kafka
4.x in KRaft mode, so the walkthrough holds on both.
"""

import json
import re
import time

import pytest
from support import end_offsets, run_script, start_script, unique_name

RECEIVED = re.compile(r"^Data Received  partition (\d+) +offset (\d+) +key (\S+) +(\{.*\})$")
ASSIGNED = re.compile(r"^Group '([^']+)': assigned partitions \[([\d, ]*)\] of topic '([^']+)'$")
REVOKED = re.compile(r"^Group '([^']+)': rebalancing, partitions \[([\d, ]*)\] revoked$")


@pytest.fixture(params=["zookeeper", "kraft"])
def bootstrap(request):
    """The broker of each run: the session's (ZooKeeper mode by default) or a Kafka 4.x KRaft one."""
    return request.getfixturevalue("kafka" if request.param == "zookeeper" else "kraft_kafka").bootstrap


def received(lines):
    """[(partition, offset, key, record)] for every 'Data Received' line."""
    found = []
    for line in lines:
        match = RECEIVED.match(line)
        if match:
            found.append((int(match[1]), int(match[2]), match[3], json.loads(match[4])))
    return found


def assignments(lines):
    """Every assignment the consumer printed, in order, as lists of partition numbers."""
    return [[int(p) for p in match[2].split(",") if p.strip()] for match in map(ASSIGNED.match, lines) if match]


def all_positions(bootstrap, topic):
    """Every (partition, offset) the topic holds: what the consumers must have printed between them."""
    return {(p, o) for p, end in end_offsets(bootstrap, topic).items() for o in range(end)}


def wait_for_split(consumers, partitions, timeout=45):
    """Wait until the consumers' latest assignments cover all partitions, none twice."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = [assignments(c.text.splitlines()) for c in consumers]
        if all(latest):
            owned = [p for a in latest for p in a[-1]]
            if sorted(owned) == list(range(partitions)):
                return [a[-1] for a in latest]
        time.sleep(0.2)
    raise AssertionError("the group never split the partitions:\n\n" + "\n\n".join(c.text for c in consumers))


def create(bootstrap, topic, partitions):
    result = run_script("create_topic.py", "--topic", topic, "--partitions", partitions, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert f"Created topic '{topic}' with {partitions} partition(s), replication factor 1." in result.lines
    return result


def produce_count(bootstrap, topic, count):
    result = run_script("bulk_producer.py", "--topic", topic, "--count", count, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert f"Done: {count:,} records acknowledged by the broker (acks=all) on topic '{topic}'." in result.lines
    return result


def test_two_consumers_in_one_group_share_the_partitions_and_take_over_when_one_stops(bootstrap):
    topic, group = unique_name("walk-groups"), unique_name("walk-group")
    create(bootstrap, topic, 3)

    # Terminal 1 and 2: two consumers in the same group.
    first = start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    second = None
    try:
        first.wait_for(rf"^Group '{group}': assigned partitions \[0, 1, 2\] of topic '{topic}'$")
        second = start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
        # The first consumer gives up partitions when the second joins, and says so.
        first.wait_for(rf"^Group '{group}': rebalancing, partitions \[0, 1, 2\] revoked$")
        first_owns, second_owns = wait_for_split([first, second], 3)
        assert first_owns and second_owns, (first_owns, second_owns)
        assert not set(first_owns) & set(second_owns)

        # Terminal 3: send 30 records. Each is printed by exactly one of the two consumers,
        # and only by the one that owns its partition.
        produce_count(bootstrap, topic, 30)
        first.wait_for(r"^Data Received", count=1)
        second.wait_for(r"^Data Received", count=1)
        for consumer, owned in ((first, first_owns), (second, second_owns)):
            records = received(consumer.text.splitlines())
            assert {p for p, _, _, _ in records} <= set(owned), consumer.text
        _wait_for_total([first, second], 30)
        positions = [(p, o) for c in (first, second) for p, o, _, _ in received(c.text.splitlines())]
        assert len(positions) == len(set(positions)) == 30
        assert set(positions) == all_positions(bootstrap, topic)
        ids = sorted(r["id"] for c in (first, second) for _, _, _, r in received(c.text.splitlines()))
        assert ids == list(range(1, 31))

        # Ctrl-C in terminal 2: the first consumer takes over all partitions, printed as it happens.
        assert second.interrupt() == 0, second.text
        assert f"Stopped by Ctrl-C. Offsets committed for group '{group}': " \
               f"run again with --group {group} to continue from here." in second.text
        first.wait_for(rf"^Group '{group}': rebalancing, partitions \[{', '.join(map(str, first_owns))}\] revoked$")
        first.wait_for(rf"^Group '{group}': assigned partitions \[0, 1, 2\] of topic '{topic}'$", count=2)

        # New records on every partition now reach the first consumer alone.
        before = len(received(first.text.splitlines()))
        produce_count(bootstrap, topic, 30)
        first.wait_for(r"^Data Received", count=before + 30)
        late = received(first.text.splitlines())[before:]
        assert {p for p, _, _, _ in late} == {0, 1, 2}
        assert len(received(second.text.splitlines())) == 30 - before
    finally:
        for consumer in (first, second):
            if consumer and consumer.process.poll() is None:
                consumer.interrupt()
    # Between them, the two consumers printed all 60 records, none twice.
    positions = [(p, o) for c in (first, second) for p, o, _, _ in received(c.text.splitlines())]
    assert len(positions) == len(set(positions)) == 60
    assert set(positions) == all_positions(bootstrap, topic)

    # A consumer in another group gets every record, the old ones included.
    other = run_script("consumer.py", "--topic", topic, "--group", unique_name("other-group"),
                       "--max-messages", 60, bootstrap=bootstrap)
    assert other.returncode == 0, other
    assert "has no committed offsets yet: it starts from the oldest record" in other.stdout
    assert {(p, o) for p, o, _, _ in received(other.lines)} == all_positions(bootstrap, topic)
    assert len(received(other.lines)) == 60


def _wait_for_total(consumers, total, timeout=30):
    deadline = time.monotonic() + timeout
    while sum(len(received(c.text.splitlines())) for c in consumers) < total:
        assert time.monotonic() < deadline, "\n\n".join(c.text for c in consumers)
        time.sleep(0.1)


def test_records_with_the_same_key_land_on_one_partition_in_order(bootstrap, tmp_path):
    topic = unique_name("walk-keys")
    create(bootstrap, topic, 3)
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    records = [{"name": name, "profession": "Tester", "step": step} for step in range(1, 6) for name in names]
    data = tmp_path / "keyed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))

    sent = run_script("bulk_producer.py", "--topic", topic, "--file", data, bootstrap=bootstrap)
    assert sent.returncode == 0, sent
    sent_lines = [line for line in sent.lines if line.startswith("Sent  topic")]
    assert len(sent_lines) == 30
    # The producer prints the partition of every record: one partition per key.
    partition_of = {}
    for line in sent_lines:
        match = re.match(rf"^Sent  topic {topic}  partition (\d+) +offset (\d+) +key (\S+) +", line)
        assert match, line
        assert partition_of.setdefault(match[3], match[1]) == match[1], f"key {match[3]} on two partitions"
    assert set(partition_of) == set(names)
    assert len(set(partition_of.values())) > 1  # six keys spread over more than one partition

    got = run_script("consumer.py", "--topic", topic, "--group", unique_name("keys"), "--max-messages", 30,
                     bootstrap=bootstrap)
    assert got.returncode == 0, got
    printed = received(got.lines)
    assert len(printed) == 30
    for name in names:
        of_key = [(p, r["step"]) for p, _, key, r in printed if key == name]
        assert {p for p, _ in of_key} == {int(partition_of[name])}
        assert [step for _, step in of_key] == [1, 2, 3, 4, 5], f"{name}'s records out of order: {of_key}"


def test_a_restarted_consumer_continues_where_it_left_off_and_can_replay(bootstrap):
    topic, group = unique_name("walk-offsets"), unique_name("walk-offsets")
    create(bootstrap, topic, 3)
    produce_count(bootstrap, topic, 20)

    # First run: reads the 20 records there are, then stops by itself.
    first = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", 20, bootstrap=bootstrap)
    assert first.returncode == 0, first
    assert len(received(first.lines)) == 20
    assert f"Reached --max-messages 20. Offsets committed for group '{group}': " \
           f"run again with --group {group} to continue from here." in first.lines

    # Meanwhile 10 more arrive. The restarted consumer says where it continues, and prints only those 10.
    produce_count(bootstrap, topic, 10)
    second = run_script("consumer.py", "--topic", topic, "--group", group, "--timeout", 3, bootstrap=bootstrap)
    assert second.returncode == 0, second
    # Offsets start at 0 in each partition, so the committed offset is the count read from it.
    read = [sum(1 for q, _, _, _ in received(first.lines) if q == p) for p in range(3)]
    where = ", ".join(f"partition {p} at offset {n or '-'}" for p, n in enumerate(read))
    assert f"Group '{group}' continues where it left off: {where}." in second.lines
    again = received(second.lines)
    assert len(again) == 10
    assert not {(p, o) for p, o, _, _ in again} & {(p, o) for p, o, _, _ in received(first.lines)}
    assert "No new records for 3 s (--timeout)." in second.stdout

    # Replay, way 1: the same group with --from-beginning reads all 30 again.
    replay = run_script("consumer.py", "--topic", topic, "--group", group, "--from-beginning",
                        "--max-messages", 30, bootstrap=bootstrap)
    assert replay.returncode == 0, replay
    assert f"Group '{group}': replaying every partition from the oldest record (--from-beginning)." in replay.lines
    assert {(p, o) for p, o, _, _ in received(replay.lines)} == all_positions(bootstrap, topic)

    # Replay, way 2: a new group has no offsets, so it starts at the oldest record.
    fresh = run_script("consumer.py", "--topic", topic, "--group", unique_name("fresh"), "--max-messages", 30,
                       bootstrap=bootstrap)
    assert fresh.returncode == 0, fresh
    assert {(p, o) for p, o, _, _ in received(fresh.lines)} == all_positions(bootstrap, topic)
