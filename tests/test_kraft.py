"""The kit on Kafka 4.x in KRaft mode: no ZooKeeper, the same three scripts, unchanged.

The broker is Apache Kafka 4.1.0 from Maven Central (tools/pom-kraft.xml), its storage
formatted with Kafka's own storage tool, run as one process that is broker and
controller at once. The same walkthrough tests run on it too (tests/test_walkthrough.py),
and `KIT_TEST_BROKER=kraft python -m pytest` runs the whole suite on it.
"""

import json
import re
import subprocess
import sys
import time

import compose_check
import pytest
from support import REPO, local_kafka, run_script, unique_name

COMPOSE = REPO / "docker-compose.kraft.yml"


def log_once_started(stack):
    """The broker's log once it says "Kafka Server started".

    The stack counts as started once its port accepts connections. KafkaRaftServer logs its version
    (AppInfoParser) and "Kafka Server started" only after the broker has started, which on a busy
    machine can be seconds later, so a test that reads the log at once can miss both lines.
    """
    deadline = time.monotonic() + 60
    while True:
        log = (stack.broker_dir(0) / "broker.log").read_text(errors="replace")
        if "Kafka Server started" in log or time.monotonic() > deadline:
            return log
        time.sleep(0.2)


def test_the_kraft_broker_is_kafka_4_with_no_zookeeper(kraft_kafka):
    stack = kraft_kafka.stack
    log = log_once_started(stack)
    assert f"Kafka version: {local_kafka.KRAFT_VERSION}" in log
    assert "Kafka Server started (kafka.server.KafkaRaftServer)" in log
    assert re.search(r"Formatting metadata directory .* with metadata\.version 4\.", log)
    assert not stack.zk_dir.exists()
    assert not re.search(r"zookeeper\.connect|KafkaServer id=", log)


def test_create_topic_producer_and_consumer_work_unchanged_on_kraft(kraft_kafka):
    bootstrap = kraft_kafka.bootstrap
    topic = unique_name("kraft")
    created = run_script("create_topic.py", "--topic", topic, "--partitions", 3, bootstrap=bootstrap)
    assert created.returncode == 0, created
    assert created.lines[1] == f"Created topic '{topic}' with 3 partition(s), replication factor 1."
    assert all(re.fullmatch(r"  partition \d +leader broker 0 +replicas \[0\]  in-sync \[0\]", line)
               for line in created.lines[2:5]), created.stdout

    one = run_script("producer.py", "--topic", topic, "--name", "Ana", "--profession", "Data Engineer",
                     bootstrap=bootstrap)
    assert one.returncode == 0, one
    assert re.match(rf"^Sent  topic {topic}  partition \d +offset 0 +key Ana ", one.lines[0]), one.stdout
    bulk = run_script("bulk_producer.py", "--topic", topic, "--count", 200, bootstrap=bootstrap)
    assert bulk.returncode == 0, bulk
    assert f"Done: 200 records acknowledged by the broker (acks=all) on topic '{topic}'." in bulk.lines

    group = unique_name("kraft")
    got = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", 201,
                     bootstrap=bootstrap)
    assert got.returncode == 0, got
    assert f"Group '{group}': assigned partitions [0, 1, 2] of topic '{topic}'" in got.lines
    records = [json.loads(line.split(None, 8)[-1]) for line in got.lines if line.startswith("Data Received")]
    assert sorted(r["id"] for r in records if "id" in r) == list(range(1, 201))
    assert [r["name"] for r in records if "id" not in r] == ["Ana"]

    # The group's committed offsets work the same: a restart in the group finds nothing new.
    again = run_script("consumer.py", "--topic", topic, "--group", group, "--timeout", 2, bootstrap=bootstrap)
    assert again.returncode == 0, again
    assert f"Group '{group}' continues where it left off:" in again.stdout
    assert not [line for line in again.lines if line.startswith("Data Received")]


def test_transactions_work_on_kraft(kraft_kafka):
    bootstrap = kraft_kafka.bootstrap
    topic = unique_name("kraft-tx")
    assert run_script("create_topic.py", "--topic", topic, bootstrap=bootstrap).returncode == 0
    aborted = run_script("transactional_producer.py", "--topic", topic, "--count", 5, "--abort",
                         bootstrap=bootstrap)
    assert aborted.returncode == 0, aborted
    committed = run_script("transactional_producer.py", "--topic", topic, "--count", 3, bootstrap=bootstrap)
    assert committed.returncode == 0, committed
    assert "Transaction committed: read_committed consumers now see the whole batch (3 record(s))." in committed.lines
    seen = run_script("consumer.py", "--topic", topic, "--group", unique_name("tx"), "--read-committed",
                      "--timeout", 3, bootstrap=bootstrap)
    assert seen.returncode == 0, seen
    assert len([line for line in seen.lines if line.startswith("Data Received")]) == 3


def local_kafka_cli(state_dir, *args):
    return subprocess.run([sys.executable, str(REPO / "tools" / "local_kafka.py"), "--dir", str(state_dir), *args],
                          capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_local_kafka_start_kraft_status_and_stop_as_the_readme_shows(tmp_path):
    port = local_kafka.free_port()
    while not local_kafka.port_is_free(port + 1):
        port = local_kafka.free_port()
    try:
        started = local_kafka_cli(tmp_path, "start", "--kraft", "--port", str(port))
        assert started.returncode == 0, started
        lines = started.stdout.splitlines()
        assert re.fullmatch(rf"Kafka 0    running  localhost:{port}  pid \d+ +log .*kraft-0/broker\.log", lines[0])
        assert lines[1] == f"           KRaft mode: its controller listens on localhost:{port + 1}, no ZooKeeper"
        assert lines[2] == f"Kafka {local_kafka.KRAFT_VERSION} is ready at localhost:{port}"
        status = local_kafka_cli(tmp_path, "status")
        assert status.returncode == 0 and status.stdout.splitlines()[:2] == lines[:2], status
        # A ZooKeeper-mode start in the same directory is refused, not mixed in.
        mixed = local_kafka_cli(tmp_path, "start", "--port", str(port))
        assert mixed.returncode == 1
        assert mixed.stderr.startswith(f"error: a kraft-mode stack is running in {tmp_path}"), mixed
        sent = run_script("producer.py", "--topic", "cli", bootstrap=f"localhost:{port}")
        assert sent.returncode == 1 and "topic 'cli'" in sent.stderr  # no auto-created topics, as in compose
    finally:
        stopped = local_kafka_cli(tmp_path, "stop", "--clean")
    assert stopped.returncode == 0, stopped
    assert stopped.stdout == f"Stopped. Data deleted in {tmp_path}\n"
    assert local_kafka_cli(tmp_path, "status").returncode == 3


def test_local_kafka_refuses_a_multi_node_kraft_stack_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "local_kafka.py"), "--dir", str(tmp_path),
                             "start", "--kraft", "--brokers", "3", "--port", str(local_kafka.free_port())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == ("error: the KRaft stack runs a single node (broker and controller); "
                             "use --brokers 1\n")


# --------------------------------------------------------------------------
# docker-compose.kraft.yml


def test_kraft_compose_file_pins_the_tested_kafka_4_and_has_no_zookeeper():
    compose = compose_check.load_compose(COMPOSE)
    assert list(compose["services"]) == ["kafka"]
    service = compose["services"]["kafka"]
    # The image runs the very version the tests run.
    assert service["image"] == f"apache/kafka:{local_kafka.KRAFT_VERSION}"
    assert f"<kafka.version>{local_kafka.KRAFT_VERSION}</kafka.version>" in (REPO / "tools" / "pom-kraft.xml") \
        .read_text()
    assert service["healthcheck"]["test"]
    assert compose_check.published_ports(compose, "kafka") == [(9092, 9092)]
    props = compose_check.broker_properties_from_compose(COMPOSE, "kafka")
    assert props["process.roles"] == "broker,controller"
    assert not any(key.startswith("zookeeper.") for key in props)
    assert props["advertised.listeners"] == "INTERNAL://kafka:29092,HOST://localhost:9092"
    assert "CONTROLLER" not in props["advertised.listeners"]  # clients never get the controller's address
    assert props["controller.quorum.voters"] == f"{props['node.id']}@kafka:9093"
    assert props["inter.broker.listener.name"] == "INTERNAL"


@pytest.fixture(scope="module")
def compose_kraft(stack_factory):
    props = compose_check.broker_properties_from_compose(COMPOSE, "kafka")
    port_map = {9092: "{port}", 29092: local_kafka.free_port(), 9093: "{controller_port}"}
    published = [container for _, container in compose_check.published_ports(COMPOSE, "kafka")]
    extra = compose_check.local_properties(props, port_map, published=published)
    compose_check.check_covers_local_defaults(local_kafka.kraft_properties(0, 1, 2, "data"))
    cluster_id = compose_check.environment(COMPOSE, "kafka")["CLUSTER_ID"]
    return stack_factory.start(kraft=True, extra_properties=extra, cluster_id=cluster_id)


@pytest.mark.slow
def test_kraft_compose_settings_run_the_three_scripts(compose_kraft):
    """The compose file's settings on a real 4.x broker, its storage formatted with the file's CLUSTER_ID."""
    bootstrap = compose_kraft.bootstrap  # the HOST listener
    log = log_once_started(compose_kraft)
    cluster_id = compose_check.environment(COMPOSE, "kafka")["CLUSTER_ID"]
    assert f"Kafka version: {local_kafka.KRAFT_VERSION}" in log
    assert cluster_id in (compose_kraft.broker_dir(0) / "data" / "meta.properties").read_text()
    topic = unique_name("compose-kraft")
    created = run_script("create_topic.py", "--topic", topic, "--partitions", 2, bootstrap=bootstrap)
    assert created.returncode == 0, created
    assert "leader broker 0" in created.stdout  # the compose file's node id, as the pages show it
    sent = run_script("bulk_producer.py", "--topic", topic, "--count", 50, bootstrap=bootstrap)
    assert sent.returncode == 0, sent
    got = run_script("consumer.py", "--topic", topic, "--group", unique_name("compose"), "--max-messages", 50,
                     bootstrap=bootstrap)
    assert got.returncode == 0, got
    assert len([line for line in got.lines if line.startswith("Data Received")]) == 50
