"""welcome_users.py, tested the two ways docs/testing-your-consumer.md teaches.

First its handler, welcome(), as the plain function it is: no broker, milliseconds. Then the whole
consumer against a real broker that the `kafka` fixture starts with tools/local_kafka.py, on free ports in
a temporary folder, so it never touches a broker you have running and runs beside other test processes
(pytest-xdist). The chapter shows this file's code: the last test checks that it still does.
"""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import local_kafka  # noqa: E402

from welcome_users import welcome  # noqa: E402

# --- The handler, without a broker ----------------------------------------------------------------------


def test_handler_greets_a_user():
    assert welcome(b'{"name": "Ana", "profession": "Engineer"}') == "Welcome, Ana, Engineer!"


def test_handler_without_a_profession():
    assert welcome(b'{"name": "Bo"}') == "Welcome, Bo!"


@pytest.mark.parametrize("value, reason", [
    (b"Ana", "skipped: not JSON"),
    (b'["Ana"]', "skipped: JSON, but not an object"),
    (b'{"profession": "Engineer"}', "skipped: no name"),
    (None, "skipped: empty value"),
])
def test_handler_skips_what_is_not_a_user(value, reason):
    assert welcome(value) == reason


def test_handler_never_prints_control_characters():
    assert welcome(b'{"name": "Eve\\u001b[2J"}') == "Welcome, Eve?[2J!"


# --- The consumer, against a real broker -----------------------------------------------------------------


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    """A broker of this test module's own: free ports, a temporary folder, stopped and deleted at the end."""
    stack = local_kafka.LocalKafka(tmp_path_factory.mktemp("kafka"), zk_port=local_kafka.free_port(),
                                   port=local_kafka.free_port(), owner_pid=os.getpid())
    stack.start()
    yield stack.bootstrap
    stack.stop(clean=True)


def send(bootstrap, topic, *values):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value in values:
        producer.send(topic, value).get(timeout=30)  # wait for each acknowledgement: the test needs them all
    producer.close()


def welcome_users(bootstrap, topic, *args):
    return subprocess.run([sys.executable, "welcome_users.py", "--bootstrap-server", bootstrap,
                           "--topic", topic, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_consumer_greets_each_record_once_with_a_broker(kafka):
    topic = f"welcome-{uuid.uuid4().hex[:8]}"  # a topic of this test's own: nothing else writes to it
    subprocess.run([sys.executable, "create_topic.py", "--bootstrap-server", kafka, "--topic", topic],
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    send(kafka, topic, b'{"name": "Ana", "profession": "Engineer"}', b"not a user")
    first = welcome_users(kafka, topic, "--max-messages", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["partition 0 offset 0: Welcome, Ana, Engineer!",
                                         "partition 0 offset 1: skipped: not JSON",
                                         "Welcomed 2 record(s) as group 'welcome'."]
    send(kafka, topic, b'{"name": "Bo"}')
    again = welcome_users(kafka, topic, "--max-messages", "1")  # the group committed: only Bo is new
    assert again.stdout.splitlines() == ["partition 0 offset 2: Welcome, Bo!",
                                         "Welcomed 1 record(s) as group 'welcome'."]


def test_the_consumer_without_a_broker_says_what_to_do_in_one_line():
    nobody = f"localhost:{local_kafka.free_port()}"
    result = welcome_users(nobody, "Users", "--max-messages", "1")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot reach Kafka at {nobody}: start it with 'docker compose up -d' or 'python tools/local_kafka.py "
        f"start', or point --bootstrap-server / KAFKA_BOOTSTRAP_SERVERS at your broker"]


def test_the_chapter_shows_this_files_code():
    chapter = (ROOT / "docs" / "testing-your-consumer.md").read_text(encoding="utf-8")
    shown = re.findall(r"^```python\n(.*?)^```", chapter, flags=re.S | re.M)
    assert len(shown) >= 3, "the chapter no longer shows the handler and its tests"
    code = (ROOT / "welcome_users.py").read_text(encoding="utf-8") + Path(__file__).read_text(encoding="utf-8")
    for block in shown:
        assert block in code, f"the chapter shows code that is not in welcome_users.py or this file:\n{block}"
