"""Every command the README shows runs as written, and prints what the README says it prints.

The tutorial's ```console blocks are replayed in order on a private copy of the kit: `$ ` lines are
commands, the lines after them their expected output. A block without a command continues the
output of the consumer still running in the background; `^C` in it means Ctrl-C. The local stack
runs on free ports (LOCAL_KAFKA_PORT etc.); the output is compared with those ports mapped back to
the README's 9092/2181, and with timings, rates and pids left out.
"""

import re
import shlex
import shutil
import subprocess
import sys

import pytest
from conftest import free_port_block
from support import REPO, Background, create_topic, local_kafka, script_env, unique_name

README = REPO / "README.md"
# The part of the README that is replayed here: the quick start and the tutorial. The later sections
# (groups, clusters, KRaft, databases, lag, transactions, Connect, security, benchmark) are exercised
# by their own tests with the same commands.
REPLAYED = ("## Quick start", "## Configuration")


def replayed_part():
    text = README.read_text()
    start, end = (text.index(heading) for heading in REPLAYED)
    return text[start:end] + text[text.index("## Running the tests"):]


LONG_RUNNING = "python consumer.py"  # without --max-messages/--timeout it runs until Ctrl-C


def fenced_blocks(text, language):
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def console_steps(text):
    """[(command or None, [expected lines])] for the README's console blocks, in order."""
    steps = []
    for block in fenced_blocks(text, "console"):
        command, expected = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None or expected:
                    steps.append((command, expected))
                command, expected = line[2:], []
            else:
                expected.append(line)
        steps.append((command, expected))
    return steps


def shell_commands(text):
    commands = []
    for block in fenced_blocks(text, "sh"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line:
                commands.extend(part.strip() for part in line.split("&&"))
    return commands


def normalise(lines, ports):
    out = []
    for line in lines:
        for actual, shown in ports.items():
            line = line.replace(f"localhost:{actual}", f"localhost:{shown}")
        line = re.sub(r"in \d+\.\d\d s: [\d,]+ records/s", "in T s: R records/s", line)
        line = re.sub(r"pid \d+ +", "pid P ", line)
        out.append(line.rstrip())
    return out


@pytest.fixture
def kit_copy(tmp_path):
    """The learner's folder: the scripts and tools, with the jars shared from the real checkout."""
    copy = tmp_path / "kit"
    (copy / "tools").mkdir(parents=True)
    for path in REPO.glob("*.py"):
        shutil.copy(path, copy)
    shutil.copy(REPO / "users.jsonl", copy)
    for path in (REPO / "tools").glob("*.py"):
        shutil.copy(path, copy / "tools")
    shutil.copy(REPO / "tools" / "pom.xml", copy / "tools")
    (copy / "tools" / ".kafka-jars").symlink_to(REPO / "tools" / ".kafka-jars")
    yield copy
    subprocess.run([sys.executable, "tools/local_kafka.py", "stop", "--clean"], cwd=copy, capture_output=True)


def private_env(copy):
    port, zk_port = free_port_block(2), free_port_block(1)
    env = script_env(f"localhost:{port}", LOCAL_KAFKA_PORT=port, LOCAL_KAFKA_ZK_PORT=zk_port)
    env["PATH"] = f"{REPO / 'tests' / 'no-docker'}:{env['PATH']}"
    return env, {port: 9092, zk_port: 2181}


def as_argv(command):
    argv = shlex.split(command)
    return [sys.executable if word == "python" else word for word in argv]


def test_the_tutorial_runs_as_written_and_prints_what_the_readme_shows(kit_copy):
    env, ports = private_env(kit_copy)
    steps = console_steps(replayed_part())
    assert len(steps) >= 8, "the README lost its tutorial"
    background = None
    for command, expected in steps:
        if command is None:  # more output from the consumer running in the background
            assert background is not None, f"output without a command: {expected}"
            before, _, after = "\n".join(expected).partition("^C")
            for line in before.strip("\n").splitlines():
                background.wait_for("^" + re.escape(line.rstrip()) + "$", timeout=30)
            if "^C" in expected:
                assert background.interrupt(timeout=20) == 0, background.text
                shown = normalise(background.lines, ports)
                tail = normalise(after.strip("\n").splitlines(), {})
                assert shown[-len(tail):] == tail, background.text
                background = None
            continue
        if command == LONG_RUNNING:
            background = Background(as_argv(command), env, cwd=kit_copy)
            for line in expected:
                for actual, shown in ports.items():
                    line = line.replace(f"localhost:{shown}", f"localhost:{actual}")
                background.wait_for("^" + re.escape(line.rstrip()) + "$", timeout=60)
            continue
        result = subprocess.run(as_argv(command), cwd=kit_copy, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
        assert normalise(result.stdout.splitlines(), ports) == normalise(expected, {}), f"$ {command}"
    assert background is None, "the README leaves a consumer running"


def test_every_other_readme_command_runs(kafka, kit_copy):
    """The ```sh blocks: python commands run here; pip, docker and pytest are proven elsewhere."""
    commands = shell_commands(replayed_part())
    topic = create_topic(kafka.bootstrap, unique_name("readme"))
    env = script_env(kafka.bootstrap, KAFKA_TOPIC=topic)
    env["PATH"] = f"{REPO / 'tests' / 'no-docker'}:{env['PATH']}"
    ran = []
    for command in commands:
        if command.startswith("pip install"):
            requirements = shlex.split(command)[3:]
            assert all((REPO / name).is_file() for name in requirements), command  # .ci/run installs them
        elif command.startswith("docker compose"):
            assert command in ("docker compose up -d", "docker compose ps"), command  # tests/test_compose.py
        elif command == "python -m pytest":
            pass  # this very suite
        elif command == "python tools/demo.py":
            pass  # test_the_quick_start_demo_runs_without_docker
        else:
            assert command.startswith("python "), f"unexpected README command: {command}"
            result = subprocess.run(as_argv(command), cwd=kit_copy, env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr
            ran.append(command)
    assert len(ran) >= 4


def test_the_quick_start_demo_runs_without_docker(kit_copy):
    """`python tools/demo.py` with no broker and no Docker engine: it starts the local Java stack."""
    assert "pip install -r requirements-dev.txt && python tools/demo.py" in README.read_text()
    env, ports = private_env(kit_copy)
    env.pop("KAFKA_BOOTSTRAP_SERVERS")
    bootstrap = f"localhost:{next(iter(ports))}"
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


def test_readme_and_compose_agree_on_the_image_tags():
    compose = (REPO / "docker-compose.yml").read_text()
    tags = set(re.findall(r"confluentinc/cp-[a-z-]+:(\S+)", compose))
    assert len(tags) == 1 and "latest" not in tags
    assert f"confluentinc/cp-*:{tags.pop()}" in README.read_text()
