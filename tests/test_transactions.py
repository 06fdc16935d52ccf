"""transactional_producer.py [--abort] and consumer.py --read-committed."""

import json
import re

from support import run_script, start_script, unique_name

RECEIVED = re.compile(r"^Data Received  partition \d+ +offset (\d+) +key \S+ +(\{.*\})$")


def received(result):
    """[(offset, name)] of the records consumer.py printed."""
    found = []
    for line in result.lines:
        match = RECEIVED.match(line)
        if match:
            found.append((int(match.group(1)), json.loads(match.group(2))["name"]))
    return found


def test_aborted_batch_hidden_from_read_committed_committed_batch_whole(bootstrap, topic):
    aborted = run_script("transactional_producer.py", "--topic", topic, "--count", 5, "--abort", bootstrap=bootstrap)
    assert aborted.returncode == 0, aborted
    assert aborted.lines[-1] == ("Transaction aborted on purpose (--abort): 5 record(s) are in the log, "
                                 "but read_committed consumers never see them.")

    committed = run_script("transactional_producer.py", "--topic", topic, "--count", 1000, bootstrap=bootstrap)
    assert committed.returncode == 0, committed
    assert committed.lines[-1] == "Transaction committed: read_committed consumers now see the whole batch (1000 " \
                                  "record(s))."

    reader = run_script("consumer.py", "--topic", topic, "--group", unique_name("rc"), "--read-committed",
                        "--timeout", 3, bootstrap=bootstrap)
    assert reader.returncode == 0, reader
    seen = received(reader)
    assert [name for _, name in seen] == [f"user-{n:07d}" for n in range(1, 1001)], "the committed batch, in order"
    assert seen[0][0] == 6, "offsets 0-4 (the aborted batch) and 5 (its abort marker) are never shown"

    everything = run_script("consumer.py", "--topic", topic, "--group", unique_name("ru"), "--timeout", 3,
                            bootstrap=bootstrap)
    assert everything.returncode == 0, everything
    records = received(everything)
    # read_uncommitted shows the aborted records too; offset 5 is the abort marker, never shown to anyone.
    assert records[:5] == [(n - 1, f"user-{n:07d}") for n in range(1, 6)]
    assert records[5:] == seen


def test_ctrl_c_aborts_the_open_transaction(bootstrap, topic):
    sending = start_script("transactional_producer.py", "--topic", topic, "--count", 2_000_000, bootstrap=bootstrap)
    sending.wait_for(r"^Sending\.\.\. +[\d,]+/2,000,000 sent in the open transaction", timeout=30)
    assert sending.interrupt() == 130
    assert sending.lines[-1] == ("Transaction aborted (Ctrl-C): the records are in the log, "
                                 "but read_committed consumers never see them."), sending.text
    assert run_script("transactional_producer.py", "--topic", topic, "--count", 1, bootstrap=bootstrap).returncode == 0

    # Without the abort, read_committed readers would wait for the transaction to time out (60 s).
    reader = run_script("consumer.py", "--topic", topic, "--group", unique_name("rc"), "--read-committed",
                        "--max-messages", 1, "--timeout", 10, bootstrap=bootstrap)
    assert reader.returncode == 0, reader
    assert [name for _, name in received(reader)] == ["user-0000001"]
    assert reader.seconds < 10
