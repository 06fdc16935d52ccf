"""watch_lag.py: end offset, committed offset and lag per partition, and the group's members."""

import re

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from support import create_topic, run_script, start_script, unique_name


def table_rows(text):
    """{partition or 'total': (end, committed, lag)} from the lag table (a total line may end with a note on
    the partitions that have nothing committed)."""
    rows = {}
    for match in re.finditer(r"^  (\d+|total) +([\d,]+) +([\d,]+) +([\d,]+)( +\(.*\))?$", text, re.MULTILINE):
        rows[match.group(1)] = tuple(int(n.replace(",", "")) for n in match.groups()[1:4])
    return rows


def test_lag_after_consuming_40_of_100(bootstrap, topic):
    group = unique_name("lag")
    assert run_script("bulk_producer.py", "--topic", topic, "--count", 100, bootstrap=bootstrap).returncode == 0
    consumed = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", 40,
                          bootstrap=bootstrap)
    assert consumed.returncode == 0 and "Reached --max-messages 40." in consumed.stdout, consumed

    result = run_script("watch_lag.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert result.lines[0].startswith(f"Group '{group}' on topic '{topic}' at {bootstrap}: Empty, 0 member(s)")
    assert table_rows(result.stdout) == {"0": (100, 40, 60), "total": (100, 40, 60)}
    assert f"Members: none; no consumer of group '{group}' is running" in result.stdout
    assert result.stderr == ""


def test_members_and_refresh_every_second(bootstrap):
    topic = create_topic(bootstrap, unique_name("lag-members"), partitions=2)
    group = unique_name("lag")
    assert run_script("bulk_producer.py", "--topic", topic, "--count", 10, bootstrap=bootstrap).returncode == 0
    consumer = start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    watcher = None
    try:
        consumer.wait_for(r"assigned partitions \[0, 1\]", timeout=30)
        consumer.wait_for(r"^Data Received", count=10, timeout=30)
        watcher = start_script("watch_lag.py", "--topic", topic, "--group", group, "--every", 1, bootstrap=bootstrap)
        watcher.wait_for(rf"^Group '{group}' on topic .*: Stable, 1 member\(s\)", count=2, timeout=30)
        assert watcher.interrupt() == 0
    finally:
        consumer.interrupt()
        if watcher:
            watcher.kill()
    snapshots = [screen for screen in watcher.text.split("\n\n") if screen.strip()]
    assert len(snapshots) >= 2
    for screen in snapshots:
        rows = table_rows(screen)
        assert rows["0"][0] + rows["1"][0] == rows["total"][0] == 10, screen
        member_lines = [line for line in screen.splitlines() if " client kit-consumer " in line]
        assert len(member_lines) == 1 and member_lines[0].endswith(f"partitions {topic} [0, 1]"), screen
    assert table_rows(snapshots[-1])["total"] == (10, 10, 0), "the running consumer has caught up"


def test_unknown_group_is_one_clear_line(bootstrap, topic):
    group = unique_name("never-used")
    result = run_script("watch_lag.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.err_lines) == 1, result
    assert result.err_lines[0].startswith(f"error: group '{group}' is unknown at {bootstrap}: no consumer has joined")

    missing = run_script("watch_lag.py", "--topic", unique_name("no-topic"), "--group", group, bootstrap=bootstrap)
    assert missing.returncode == 1 and len(missing.err_lines) == 1 and "does not exist" in missing.stderr


def test_partition_without_a_commit_counts_from_its_oldest_offset(bootstrap):
    topic = create_topic(bootstrap, unique_name("lag-uncommitted"), partitions=2)
    group = unique_name("lag")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for n in range(3):
        producer.send(topic, value=b'{"id": %d}' % n, partition=0)
    producer.flush()
    consumed = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", 3,
                          bootstrap=bootstrap)
    assert consumed.returncode == 0 and "Reached --max-messages 3." in consumed.stdout, consumed
    # Partition 1 was empty, so the group has no commit there. Its records arrive later; the first 2 are deleted,
    # so a consumer of the group would start at offset 2 and has 3 records to read there.
    for n in range(5):
        producer.send(topic, value=b'{"id": %d}' % n, partition=1)
    producer.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_records({TopicPartition(topic, 1): 2})
    finally:
        admin.close()

    result = run_script("watch_lag.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert result.lines[1:5] == [
        "  partition    end offset    committed          lag",
        "  0                     3            3            0",
        "  1                     5            -            3   (nothing committed: counted from the oldest offset, 2)",
        "  total                 8            3            3   (1 partition with nothing committed counted in full)",
    ], result.stdout
