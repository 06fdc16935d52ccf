"""The README's Quick start: what CI runs is what the README shows, line 1 installs only what the scripts
need, the demo needs no Docker and no activated environment, and it leaves the tutorial as the README shows
it. (tests/test_docs.py replays the README's commands, the demo's first, then the tutorial on what it left.)"""

import re
import shutil
import subprocess
import sys

import pytest
from conftest import free_port_block
from docs_replay import blocks, steps
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
    assert first == ("python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
                     " && .venv/bin/python tools/demo.py")
    assert second == ".venv/bin/pip install -r requirements-dev.txt && .venv/bin/python -m pytest"
    # The one exception: Debian's Chromium for the browser tests (tests/test_log_view.py), only when it is missing.
    chromium = "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"
    assert ci.count("apt-get install") == 1 and chromium in ci and "command -v chromium" in ci
    ci = ci.replace(chromium, "")
    for apt_or_brew in ("apt-get install", "kcat", "mvn", "postgresql"):
        assert apt_or_brew not in ci, f".ci/run must not prepare the machine: {apt_or_brew}"
    # ruff comes with requirements-dev.txt, so CI can run it only after line 2 installed it.
    assert ci.index('bash -c "${quick_start[1]}"') < ci.index(".venv/bin/ruff check .")


def test_line_1_installs_only_what_the_scripts_need():
    """A learner who only runs the scripts gets kafka-python and lz4, not the test and benchmark tools."""
    wanted = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    names = sorted(re.match(r"[A-Za-z0-9_.-]+", line).group(0) for line in wanted if line)
    assert names == ["kafka-python", "lz4"]
    imported = set()
    for script in ("create_topic.py", "producer.py", "consumer.py", "kafka_settings.py", "tools/demo.py",
                   *(p.relative_to(REPO) for p in (REPO / "helpers").glob("*.py"))):
        imported |= set(re.findall(r"^(?:from|import) (\w+)", (REPO / script).read_text(), re.M))
    for dev_only in ("pytest", "psycopg", "confluent_kafka", "yaml", "psutil", "crc32c"):
        assert dev_only not in imported, f"a tutorial script imports {dev_only}, which line 1 does not install"


def test_the_readme_replay_starts_with_line_1s_demo_and_then_the_tutorial():
    """tests/test_docs.py replays README.md in order: its first command is the demo that line 1 runs, so the
    tutorial's steps are checked on exactly what the demo leaves behind."""
    text = README.read_text(encoding="utf-8")
    replayed = [command for block in blocks(text) if not block.not_replayed for command, _ in steps(block)]
    demo = text.split("## Quick start", 1)[1].split("```sh\n", 1)[1].splitlines()[0].split(" && ")[-1]
    assert replayed[0] == demo == ".venv/bin/python tools/demo.py"
    assert replayed[1] == "python tools/local_kafka.py start", "step 1 must come right after the demo"
    assert "python create_topic.py" in replayed and replayed.index("python create_topic.py") == 2


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
    # Its own topic and group, and the Kafka it started is stopped: step 1 of the tutorial starts it again.
    assert "Created topic 'demo'" in out and "'Users'" not in out and "users-demo" not in out
    assert re.search(r"^Data Received  partition 0   offset 0 .*\"Ana\"", out, re.M)
    assert "Stopped. Data kept in .local-kafka" in out
    stack = local_kafka.LocalKafka(kit_copy / ".local-kafka")
    assert not stack.is_running()


def test_git_status_stays_clean_after_the_quick_start_made_its_venv(tmp_path):
    """`git add .` after the Quick start must not pick up the environment it made, nor the demo's Kafka data."""
    folder = tmp_path / "clone"
    folder.mkdir()
    shutil.copy(REPO / ".gitignore", folder / ".gitignore")
    git = ["git", "-c", "user.name=kit", "-c", "user.email=kit@localhost", "-C", str(folder)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", ".gitignore"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "ignore"], check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / ".venv")], check=True)
    (folder / ".local-kafka" / "broker-0").mkdir(parents=True)
    (folder / ".local-kafka" / "broker-0" / "broker.log").write_text("started\n")
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=all"], capture_output=True,
                            text=True, check=True).stdout
    assert status == "", status


def test_compose_images_are_pinned_to_one_confluent_release():
    tags = set()
    for compose in REPO.glob("docker-compose*.yml"):
        images = re.findall(r"image: *(\S+)", compose.read_text())
        assert images and all(":" in image and not image.endswith(":latest") for image in images), compose.name
        tags |= set(re.findall(r"confluentinc/cp-[a-z-]+:(\S+)", compose.read_text()))
    assert len(tags) == 1, tags


def test_each_kit_line_in_the_side_by_side_table_is_in_the_file_it_names():
    """"From the tutorial's code to ours" quotes the kit: each `code` span of the kit's column is a line (or part
    of one) of every file named in that cell, verbatim; `...` stands for arguments left out."""
    section = README.read_text(encoding="utf-8").split("## From the tutorial's code to ours", 1)[1].split("\n## ")[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")][1:]
    assert len(rows) >= 10
    for _, kit, _ in rows:
        spans = re.findall(r"`([^`]+)`", kit)
        files = [span for span in spans if (REPO / span).is_file()]
        assert files, f"this row does not name the file its kit line comes from: {kit}"
        for span in (span for span in spans if span not in files):
            pattern = ".*?".join(re.escape(part) for part in span.split("..."))
            missing = [file for file in files if not re.search(pattern, (REPO / file).read_text(encoding="utf-8"))]
            assert not missing, f"`{span}` is not in {missing}: quote the code as it is"
