"""producer.py --transactional [--abort] and consumer.py --read-committed."""

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


def test_aborted_batch_hidden_from_read_committed_committed_batch_whole(bootstrap, topic, tmp_path):
    aborted_file = tmp_path / "aborted.jsonl"
    aborted_file.write_text("".join(json.dumps({"name": f"Aborted-{n}", "profession": "Ghost"}) + "\n"
                                    for n in range(1, 6)))
    aborted = run_script("producer.py", "--topic", topic, "--file", aborted_file, "--transactional", "--abort",
                         bootstrap=bootstrap)
    assert aborted.returncode == 0, aborted
    assert aborted.lines[-1] == ("Transaction aborted on purpose (--abort): the records are in the log, "
                                 "but read_committed consumers never see them.")

    committed = run_script("producer.py", "--topic", topic, "--count", 1000, "--transactional", bootstrap=bootstrap)
    assert committed.returncode == 0, committed
    assert committed.lines[-1] == "Transaction committed: read_committed consumers now see the whole batch (1000 " \
                                  "record(s))."

    reader = run_script("consumer.py", "--topic", topic, "--group", unique_name("rc"), "--read-committed",
                        "--timeout", 3, bootstrap=bootstrap)
    assert reader.returncode == 0, reader
    names = [name for _, name in received(reader)]
    assert names == [f"user-{n:07d}" for n in range(1, 1001)], "the committed batch, whole and in order"
    assert not any(name.startswith("Aborted-") for name in names)

    everything = run_script("consumer.py", "--topic", topic, "--group", unique_name("ru"), "--timeout", 3,
                            bootstrap=bootstrap)
    assert everything.returncode == 0, everything
    records = received(everything)
    # read_uncommitted shows the aborted records too; offset 5 is the abort marker, never shown to anyone.
    assert records[:5] == [(n - 1, f"Aborted-{n}") for n in range(1, 6)]
    assert [name for _, name in records[5:]] == names
    assert records[5][0] == 6


def test_abort_needs_transactional():
    result = run_script("producer.py", "--abort", bootstrap="localhost:1")
    assert result.returncode == 2
    assert result.err_lines == ["producer.py: error: --abort only makes sense with --transactional (see --help)"]


def test_ctrl_c_aborts_the_open_transaction(bootstrap, topic):
    sending = start_script("producer.py", "--topic", topic, "--count", 2_000_000, "--transactional",
                           bootstrap=bootstrap)
    sending.wait_for(r"^Sending\.\.\. +[\d,]+/2,000,000 sent", timeout=30)
    assert sending.interrupt() == 130
    assert sending.lines[-1] == ("Transaction aborted: the records are in the log, "
                                 "but read_committed consumers never see them."), sending.text
    assert run_script("producer.py", "--topic", topic, "--name", "Bo", "--transactional",
                      bootstrap=bootstrap).returncode == 0

    # Without the abort, read_committed readers would wait for the transaction to time out (60 s).
    reader = run_script("consumer.py", "--topic", topic, "--group", unique_name("rc"), "--read-committed",
                        "--max-messages", 1, "--timeout", 10, bootstrap=bootstrap)
    assert reader.returncode == 0, reader
    assert [name for _, name in received(reader)] == ["Bo"]
    assert reader.seconds < 10
