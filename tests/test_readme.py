"""The README's Quick start: what CI runs is what the README shows, and the demo needs no Docker and no
activated environment. (Every other command of the README is replayed by tests/test_docs.py.)"""

import re
import shutil
import subprocess
import sys

import pytest
from conftest import free_port_block
from support import REPO, local_kafka, script_env

README = REPO / "README.md"


@pytest.fixture
def kit_copy(tmp_path):
    """The learner's folder: the scripts and tools, with the jars shared from the real checkout."""
    copy = tmp_path / "kit"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", ".kafka-jars",
                                                                ".local-kafka", ".local-postgres"))
    (copy / "tools" / ".kafka-jars").symlink_to(REPO / "tools" / ".kafka-jars")
    yield copy
    subprocess.run([sys.executable, "tools/local_kafka.py", "stop", "--clean"], cwd=copy, capture_output=True)


def test_ci_runs_the_quick_start_exactly_as_the_readme_shows_it():
    shown = re.search(r"## Quick start\n.*?^```sh\n(.*?)^```", README.read_text(), re.S | re.M).group(1)
    printed = subprocess.run([sys.executable, str(REPO / ".ci" / "quick_start_lines.py")], capture_output=True,
                             text=True, check=True).stdout
    assert printed.splitlines() == shown.strip().splitlines() and len(printed.splitlines()) == 2
    ci = "\n".join(line for line in (REPO / ".ci" / "run").read_text().splitlines() if not line.startswith("#"))
    assert "python3 .ci/quick_start_lines.py" in ci
    assert 'bash -euo pipefail -c "${quick_start[0]}"' in ci and 'bash -c "${quick_start[1]}"' in ci
    # A stock Debian/Ubuntu or Homebrew Python: a virtual environment, `python3`, and no activation needed.
    first, second = printed.splitlines()
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install ")
    assert first.endswith(".venv/bin/python tools/demo.py") and second == ".venv/bin/python -m pytest"
    # The one exception: Debian's Chromium for the browser tests (tests/test_log_view.py), only when it is missing.
    chromium = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"
    assert ci.count("apt-get install") == 1 and chromium in ci and "command -v chromium" in ci
    ci = ci.replace(chromium, "")
    for apt_or_brew in ("apt-get install", "kcat", "mvn", "postgresql"):
        assert apt_or_brew not in ci, f".ci/run must not prepare the machine: {apt_or_brew}"


def test_the_quick_start_demo_runs_without_docker(kit_copy):
    """`python tools/demo.py` with no broker and no Docker engine: it starts the local Java stack."""
    port, zk_port = free_port_block(2), free_port_block(1)
    env = script_env(None, LOCAL_KAFKA_PORT=port, LOCAL_KAFKA_ZK_PORT=zk_port)
    # The venv's python, called by its path: no activation, and no `python` on PATH at all.
    env["PATH"] = f"{REPO / 'tests' / 'no-docker'}:/usr/bin:/bin"
    env.pop("VIRTUAL_ENV", None)
    bootstrap = f"localhost:{port}"
    result = subprocess.run([sys.executable, "tools/demo.py"], cwd=kit_copy, env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"No broker at {bootstrap} and no Docker engine: using the local Java stack." in out
    assert "Kafka 3.9.2 is ready at" in out
    assert "Created topic 'Users'" in out
    assert re.search(r"^Data Received  partition 0   offset 0 .*\"Ana\"", out, re.M)
    assert "Kafka keeps running for that. Stop it later with: python tools/local_kafka.py stop" in out
    stack = local_kafka.LocalKafka(kit_copy / ".local-kafka")
    assert stack.is_running()


def test_compose_images_are_pinned_to_one_confluent_release():
    tags = set()
    for compose in REPO.glob("docker-compose*.yml"):
        images = re.findall(r"image: *(\S+)", compose.read_text())
        assert images and all(":" in image and not image.endswith(":latest") for image in images), compose.name
        tags |= set(re.findall(r"confluentinc/cp-[a-z-]+:(\S+)", compose.read_text()))
    assert len(tags) == 1, tags
