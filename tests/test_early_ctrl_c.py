"""A Ctrl-C in the first second, while Python is still importing kafka-python: one line, exit 130.

To land the Ctrl-C inside that import every time, the scripts run with a sitecustomize.py on PYTHONPATH
that makes `import kafka` announce itself on stderr and then wait; the test presses Ctrl-C once it sees
the announcement. Nothing else about the import changes, and no broker is needed.
"""

import signal
import subprocess
import sys

import pytest
from support import REPO, script_env

# Every script at the top of the kit that a learner runs (kafka_settings.py is a module they import).
SCRIPTS = sorted(path.name for path in REPO.glob("*.py") if path.name != "kafka_settings.py")
ANNOUNCEMENT = "importing kafka-python now"

SLOW_KAFKA_IMPORT = f'''
import sys
import time


class SlowKafkaImport:
    """Holds up the first `import kafka` until a Ctrl-C arrives (or a minute passes)."""

    def find_spec(self, name, path=None, target=None):
        if name == "kafka":
            sys.meta_path.remove(self)
            sys.stderr.write("{ANNOUNCEMENT}\\n")
            sys.stderr.flush()
            time.sleep(60)
        return None


sys.meta_path.insert(0, SlowKafkaImport())
'''


@pytest.mark.parametrize("script", SCRIPTS)
def test_ctrl_c_while_importing_kafka_python_is_one_line(script, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SLOW_KAFKA_IMPORT)
    env = script_env("localhost:1", PYTHONPATH=tmp_path)
    process = subprocess.Popen([sys.executable, str(REPO / script)], cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stderr.readline().strip() == ANNOUNCEMENT, f"{script} never imported kafka-python"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert (process.returncode, out, err) == (130, "", "Interrupted (Ctrl-C).\n"), err


CTRL_C_IN_A_BLOCK = """
import os, signal, sys
sys.path.insert(0, os.getcwd())
import helpers

def main():
    with helpers.ctrl_c_waits:
        for _ in range(int(sys.argv[1])):
            os.kill(os.getpid(), signal.SIGINT)
        print("the block ran to its end", flush=True)
    print("after the block", flush=True)
    return 0

helpers.run(main, on_ctrl_c="Stopped by Ctrl-C.")
"""


@pytest.mark.parametrize("presses", [1, 2])
def test_a_ctrl_c_inside_a_ctrl_c_waits_block_comes_at_its_end_and_a_second_one_at_once(presses):
    """helpers.ctrl_c_waits holds one Ctrl-C back to the end of the block (consumer.py prints a record and notes
    it in one); a second one stops the script at once, as a learner pressing again expects."""
    result = subprocess.run([sys.executable, "-c", CTRL_C_IN_A_BLOCK, str(presses)], capture_output=True,
                            text=True, timeout=30, cwd=REPO, env=script_env(None))
    assert result.returncode == 130, result
    assert result.stderr.strip().splitlines()[-1] == "Stopped by Ctrl-C.", result.stderr
    expected = ["the block ran to its end"] if presses == 1 else []
    assert result.stdout.splitlines() == expected, result.stdout
