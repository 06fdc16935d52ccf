"""consumer.py commits where the group really is, so a caught-up group shows no lag.

Each test runs the scripts against a real broker and reads the group's committed offsets with an independent
kafka-python client."""

import subprocess
import sys

from kafka import KafkaConsumer, TopicPartition
from support import REPO, end_offsets, produce_raw, run_script, script_env, unique_name
from test_watch_lag import table_rows


def committed_offsets(bootstrap, group, topic):
    """{partition: the group's committed offset} for the partitions that have one."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        offsets = {p: consumer.committed(TopicPartition(topic, p)) for p in consumer.partitions_for_topic(topic)}
        return {p: offset for p, offset in offsets.items() if offset is not None}
    finally:
        consumer.close(autocommit=False)


def test_a_group_caught_up_after_transactions_is_committed_at_the_end_of_the_log(bootstrap, topic):
    """Issue 18, item 6: after a transaction the last record is followed by its commit marker, which is not a
    record; committing the last offset + 1 left the group one short of the end for ever (lag 1)."""
    for count, extra in ((3, ["--abort"]), (2, [])):
        result = run_script("transactional_producer.py", "--topic", topic, "--count", count, *extra,
                            bootstrap=bootstrap)
        assert result.returncode == 0, result
    assert end_offsets(bootstrap, topic) == {0: 7}  # 3 aborted records, a marker, 2 committed, a marker
    group = unique_name("tx-committed")
    result = run_script("consumer.py", "--topic", topic, "--group", group, "--read-committed", "--timeout", 3,
                        bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert len([line for line in result.lines if line.startswith("Data Received")]) == 2, result
    # What the learner sees: watch_lag.py shows the group caught up, lag 0 (docs/transactions.md's steps).
    lag = run_script("watch_lag.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    assert lag.returncode == 0, lag
    assert table_rows(lag.stdout) == {"0": (7, 7, 0), "total": (7, 7, 0)}, lag
    assert committed_offsets(bootstrap, group, topic) == {0: 7}, "the group is caught up: nothing is left to read"


def test_a_group_that_read_nothing_commits_nothing(bootstrap, topic):
    """A group that read nothing keeps "no committed offsets yet", as the next run then says."""
    group = unique_name("empty")
    result = run_script("consumer.py", "--topic", topic, "--group", group, "--timeout", 2, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert committed_offsets(bootstrap, group, topic) == {}
    again = run_script("consumer.py", "--topic", topic, "--group", group, "--timeout", 2, bootstrap=bootstrap)
    assert f"Group '{group}' has no committed offsets yet" in again.stdout, again


CTRL_C_AFTER_LINE = """
import os, runpy, signal, sys
class Stdout:
    def __init__(self, real):
        self.real = real
    def write(self, text):
        written = self.real.write(text)
        if os.environ["CTRL_C_AFTER"] in text:  # the line is out: the learner has seen the record
            self.real.flush()
            os.kill(os.getpid(), signal.SIGINT)
        return written
    def __getattr__(self, name):
        return getattr(self.real, name)
sys.stdout = Stdout(sys.stdout)
sys.argv = sys.argv[1:]
sys.path.insert(0, os.getcwd())
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_ctrl_c_right_after_a_record_is_printed_commits_that_record(bootstrap, topic):
    """Rehearsal runs 7 and 24 (2026-12-07): the test pressed Ctrl-C as soon as it saw the last record. The
    KeyboardInterrupt came after the line was written but before consumer.py noted it as shown, so the Ctrl-C
    committed one record short, said "Offsets committed", and the next run showed that record again."""
    produce_raw(bootstrap, topic, [b'{"id": 1}', b'{"id": 2}', b'{"id": 3}'])
    group = unique_name("ctrl-c-after-line")
    result = subprocess.run([sys.executable, "-c", CTRL_C_AFTER_LINE, "consumer.py", "--topic", topic,
                             "--group", group], capture_output=True, text=True, timeout=60, cwd=REPO,
                            env=script_env(bootstrap, CTRL_C_AFTER='"id": 3'))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("Data Received")][-1].endswith('{"id": 3}'), result.stdout
    assert lines[-1].startswith("Stopped by Ctrl-C. Offsets committed for group"), result.stdout
    assert committed_offsets(bootstrap, group, topic) == {0: 3}, "the three records shown are committed"
