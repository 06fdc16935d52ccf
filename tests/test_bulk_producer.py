"""bulk_producer.py reading standard input (`--file -`), and its account of a Ctrl-C.

Standard input is sent as it is read, so its rules differ from a file's all-or-nothing check. Each test runs
the script against a real broker (fed by a real pipe where it reads standard input) and checks what the
learner sees (the lines, the exit status) against what the topic really holds."""

import json
import re
import signal
import subprocess
import sys
import threading
import time

from support import REPO, consume_all, end_offsets, run_script, script_env, start_script

INTERRUPTED = re.compile(r"^Interrupted: ([\d,]+) of ([\d,]+) records acknowledged, ([\d,]+) sent but not "
                         r"acknowledged, ([\d,]+) never sent\.$", re.M)
INTERRUPTED_ON_STDIN = re.compile(r"^Interrupted: ([\d,]+) of ([\d,]+) records acknowledged, ([\d,]+) sent but not "
                                  r"acknowledged, the rest of standard input was not read\.$", re.M)


def user_line(number):
    return json.dumps({"id": number, "name": f"user-{number:07d}"}) + "\n"


def stored_ids(bootstrap, topic, expected=None):
    return [json.loads(record.value)["id"] for record in consume_all(bootstrap, topic, expected=expected)]


def test_standard_input_a_bad_line_stops_there_once_the_records_before_it_are_acknowledged(bootstrap, topic):
    lines = "".join(user_line(n) for n in range(1, 151)) + '{"id": 151, "name": oops}\n' + user_line(152)
    result = run_script("bulk_producer.py", "--topic", topic, "--file", "-", input=lines, bootstrap=bootstrap)
    assert result.returncode == 2, result
    assert result.err_lines == ["error: standard input line 151: invalid JSON (Expecting value); stopped there: "
                                "of the 150 records before it, 150 were acknowledged by the broker"], result
    assert "Done:" not in result.stdout
    assert "  partition 0   offsets 0 to 149" in result.lines, result
    # Exactly the records before the bad line are in the topic; the one after it was never read.
    assert stored_ids(bootstrap, topic, expected=150) == list(range(1, 151))
    assert end_offsets(bootstrap, topic) == {0: 150}


def test_standard_input_a_bad_first_line_sends_nothing(bootstrap, topic):
    result = run_script("bulk_producer.py", "--topic", topic, "--file", "-", input="[1, 2]\n" + user_line(2),
                        bootstrap=bootstrap)
    assert result.returncode == 2, result
    assert result.err_lines == ["error: standard input line 1: expected a JSON object {...}, got a JSON array; "
                                "stopped there: of the 0 records before it, 0 were acknowledged by the broker"]
    assert end_offsets(bootstrap, topic) == {0: 0}


def test_a_clean_shell_pipe_sends_every_record_with_a_summary(bootstrap, topic, tmp_path):
    users = tmp_path / "users.jsonl"
    users.write_text("".join(user_line(n) for n in range(1, 501)))
    pipe = f"cat {users} | {sys.executable} {REPO / 'bulk_producer.py'} --topic {topic} --file -"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", pipe], capture_output=True, text=True, timeout=120,
                            env=script_env(bootstrap), cwd=REPO)
    out = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert "  partition 0   offsets 0 to 499" in out
    assert re.search(r"^Sent 500 records \(0\.0 MB\) in \d+\.\d\d s: [\d,]+ records/s$", result.stdout, re.M)
    assert out[-1] == f"Done: 500 records acknowledged by the broker (acks=all) on topic '{topic}'."
    assert not any(line.startswith("Sent  topic") for line in out)  # no line per record from a pipe
    assert stored_ids(bootstrap, topic, expected=500) == list(range(1, 501))


def test_ctrl_c_on_a_pipe_that_keeps_feeding_accounts_for_every_record(bootstrap, topic):
    producer = subprocess.Popen([sys.executable, str(REPO / "bulk_producer.py"), "--topic", topic, "--file", "-"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=script_env(bootstrap), cwd=REPO)
    fed = [0]

    def feed():  # like `some-program | python bulk_producer.py --file -`: it never stops on its own
        try:
            while True:
                producer.stdin.write(user_line(fed[0] + 1))
                fed[0] += 1
        except (BrokenPipeError, ValueError, OSError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        deadline = time.monotonic() + 60
        while sum(end_offsets(bootstrap, topic).values()) < 2000:  # well under way
            assert producer.poll() is None and time.monotonic() < deadline, "the producer never got going"
            time.sleep(0.3)
        producer.send_signal(signal.SIGINT)
        code = producer.wait(timeout=30)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait(10)
    out, err = producer.stdout.read(), producer.stderr.read()
    assert code == 130, out + err
    assert "Traceback" not in out + err
    assert "Done:" not in out
    line = INTERRUPTED_ON_STDIN.search(out)
    assert line, out
    acknowledged, sent, pending = (int(n.replace(",", "")) for n in line.groups())
    assert acknowledged + pending == sent, line.group(0)
    assert fed[0] > sent, (fed[0], sent)  # the pipe still had records: the Ctrl-C really came mid-stream
    summary = re.search(r"^Sent ([\d,]+) records? ", out, re.M)
    assert summary and int(summary.group(1).replace(",", "")) == acknowledged, out

    # The topic holds every acknowledged record, in order, none twice; a pending one may or may not be there.
    ids = stored_ids(bootstrap, topic, expected=acknowledged)
    assert acknowledged <= len(ids) <= sent, (acknowledged, pending, len(ids))
    assert ids == list(range(1, len(ids) + 1))


def test_ctrl_c_during_count_says_what_was_acknowledged_pending_and_never_sent(bootstrap, topic):
    total = 2_000_000  # far more than it can send before the Ctrl-C
    producer = start_script("bulk_producer.py", "--topic", topic, "--count", total, bootstrap=bootstrap)
    try:
        producer.wait_for(r"^Sending\.\.\. ", timeout=60)
        code = producer.interrupt(timeout=30)
    finally:
        producer.kill()
    out = producer.text
    assert code == 130, out
    assert "Traceback" not in out and "Done:" not in out
    line = INTERRUPTED.search(out)
    assert line, out
    acknowledged, of, pending, never = (int(n.replace(",", "")) for n in line.groups())
    assert of == total and acknowledged + pending + never == total, line.group(0)
    assert 0 < acknowledged < total
    ids = stored_ids(bootstrap, topic, expected=acknowledged)
    assert acknowledged <= len(ids) <= acknowledged + pending, (acknowledged, pending, len(ids))
    assert ids == list(range(1, len(ids) + 1))  # one partition: in order, nothing lost, nothing twice
