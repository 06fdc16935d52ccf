"""The quick check that README.md's "Running the tests" names: `-m "not slow"` holds the tests of the three
tutorial scripts, their settings, bad input and the walkthrough, and leaves the long chapters to the full run.
No broker needed: pytest only collects here."""

import re
import subprocess
import sys

from support import REPO

QUICK_CHECK_COMMAND = '.venv/bin/python -m pytest -m "not slow"'
LEFT_TO_THE_FULL_RUN = ("tests/test_cdc.py", "tests/test_cluster.py", "tests/test_faults.py", "tests/test_bench.py",
                        "tests/test_store_users.py", "tests/test_connect.py", "tests/test_security.py")


def test_the_readme_names_the_quick_check_and_it_selects_the_tutorials_tests_only():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Running the tests\n(.*?)(?=^## |\Z)", readme, re.S | re.M).group(1)
    assert f"`{QUICK_CHECK_COMMAND}`" in section

    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow"], cwd=REPO,
                               capture_output=True, text=True, timeout=120)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    tests = [line for line in collected.stdout.splitlines() if "::" in line]
    files = {test.split("::")[0] for test in tests}
    assert {"tests/test_kit.py", "tests/test_hostile_input.py", "tests/test_walkthrough.py"} <= files, files
    for script in ("create_topic", "producer", "consumer", "malformed_address_from_the_environment"):
        assert any(f"::test_{script}" in test for test in tests), f"no test of {script} in the quick check"
    assert "tests/test_docs.py::test_every_command_on_the_page_runs_and_prints_what_the_page_shows[README.md]" in tests
    assert not files & set(LEFT_TO_THE_FULL_RUN), sorted(files & set(LEFT_TO_THE_FULL_RUN))
    assert not [test for test in tests if test.startswith("tests/test_docs.py") and "[README.md]" not in test]
