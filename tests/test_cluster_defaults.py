"""The local multi-broker stacks accept the kit's own defaults: a learner who starts three brokers and
then follows the tutorial's commands, with no flag of their own, gets a record stored, not a refusal.

Each test starts its stack with `python tools/local_kafka.py start`, as docs/cluster.md does.
"""

import subprocess
import sys
import time

import pytest
from conftest import free_port_block
from support import REPO, local_kafka, run_script, unique_name

pytestmark = pytest.mark.slow


def local_kafka_tool(state, *args):
    return subprocess.run([sys.executable, str(REPO / "tools" / "local_kafka.py"), "--dir", str(state), *args],
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def started_stack(tmp_path):
    """start(brokers) runs `python tools/local_kafka.py start --brokers N` on free ports; stopped at the end."""
    state = tmp_path / "stack"

    def start(brokers):
        port, zk_port = free_port_block(brokers), free_port_block(1)
        started = local_kafka_tool(state, "start", "--brokers", str(brokers), "--port", str(port),
                                   "--zk-port", str(zk_port))
        assert started.returncode == 0, started.stdout + started.stderr
        return ",".join(f"localhost:{port + b}" for b in range(brokers))

    yield start
    stack = local_kafka.open_stack(state)
    for broker in range(stack.brokers):  # its data is thrown away: no controlled shutdowns one after another
        stack.stop_broker(broker, kill=True)
    local_kafka_tool(state, "stop", "--clean")


def test_three_brokers_take_the_tutorials_commands_as_they_are(started_stack):
    bootstrap = started_stack(3)
    topic = unique_name("defaults")
    created = run_script("create_topic.py", "--topic", topic, bootstrap=bootstrap)
    assert created.returncode == 0, created
    sent = run_script("producer.py", "--topic", topic, bootstrap=bootstrap)
    assert sent.returncode == 0, f"the tutorial's producer was refused by the three-broker stack: {sent}"
    assert f"Done: 1 record acknowledged by the broker (acks=all) on topic '{topic}'." in sent.lines


def commit_a_transaction(bootstrap, topic, within):
    """transactional_producer.py until one run commits, for up to `within` seconds: the run's result.

    On a busy machine a run can give up after its max_block_ms (5 s) while Kafka still moves the transaction
    log's leaders (or creates its 50 partitions, on the first run); a log that refuses writes never commits.
    """
    deadline = time.monotonic() + within
    while True:
        done = run_script("transactional_producer.py", "--topic", topic, "--count", 3, bootstrap=bootstrap)
        if done.returncode == 0 or time.monotonic() > deadline:
            return done


def test_two_brokers_keep_committing_transactions_while_one_is_down(started_stack, tmp_path):
    """The transaction log has two copies there: one broker down must leave it writable (min ISR 1)."""
    bootstrap = started_stack(2)
    topic = unique_name("two-brokers")
    created = run_script("create_topic.py", "--topic", topic, "--replication-factor", 2, bootstrap=bootstrap)
    assert created.returncode == 0, created
    first = commit_a_transaction(bootstrap, topic, within=60)
    assert first.returncode == 0, first

    stopped = local_kafka_tool(tmp_path / "stack", "stop", "--broker", "1")
    assert stopped.returncode == 0, stopped.stderr
    again = commit_a_transaction(bootstrap, topic, within=60)
    assert again.returncode == 0, f"one broker of two down blocked the transaction: {again}"
    assert "Transaction committed: read_committed consumers now see the whole batch (3 record(s))." in again.lines
