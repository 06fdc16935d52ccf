"""The real-broker harness itself: a plain kafka-python round trip, clients nobody here wrote
(librdkafka through confluent-kafka, and Kafka's own Java console tools), and the local stack tool."""

import os
import subprocess
import sys
import time

from support import (
    REPO,
    consume_all,
    create_topic,
    java_tool,
    librdkafka_consume,
    librdkafka_produce,
    local_kafka,
    produce_raw,
    unique_name,
)

CONSOLE_PRODUCER = "kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"


def test_kafka_python_round_trip(bootstrap, topic):
    produce_raw(bootstrap, topic, [b"first", b"second"], keys=[b"k1", b"k2"])
    records = consume_all(bootstrap, topic, expected=2)
    assert [(r.key, r.value) for r in records] == [(b"k1", b"first"), (b"k2", b"second")]
    assert [r.offset for r in records] == [0, 1]


def test_librdkafka_reads_what_kafka_python_wrote(bootstrap, topic):
    produce_raw(bootstrap, topic, [b'{"name":"Ana"}'], keys=[b"Ana"])
    assert librdkafka_consume(bootstrap, topic, 1) == [(b"Ana", b'{"name":"Ana"}', 0, 0)]


def test_kafka_python_reads_what_librdkafka_wrote(bootstrap, topic):
    librdkafka_produce(bootstrap, topic, [(b"Bo", b"hello from librdkafka")])
    records = consume_all(bootstrap, topic, expected=1)
    assert [(r.key, r.value) for r in records] == [(b"Bo", b"hello from librdkafka")]


def test_java_console_consumer_reads_what_kafka_python_wrote(bootstrap, topic):
    produce_raw(bootstrap, topic, [b"from python"], keys=[b"py"])
    result = java_tool(CONSOLE_CONSUMER, "--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
                       "--max-messages", "1", "--property", "print.key=true", "--property", "key.separator=|")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "py|from python"


def test_kafka_python_reads_what_java_console_producer_wrote(bootstrap, topic):
    result = java_tool(CONSOLE_PRODUCER, "--bootstrap-server", bootstrap, "--topic", topic,
                       "--property", "parse.key=true", "--property", "key.separator=|",
                       input="java|hello from java\n")
    assert result.returncode == 0, result.stderr
    records = consume_all(bootstrap, topic, expected=1)
    assert [(r.key, r.value) for r in records] == [(b"java", b"hello from java")]


def run_tool(*args, timeout=120):
    return subprocess.run([sys.executable, str(REPO / "tools" / "local_kafka.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_stack_tool_start_twice_status_stop_and_start_again_keeps_data(tmp_path):
    from conftest import free_port_block

    port, zk_port = free_port_block(2), free_port_block(1)
    state = tmp_path / "stack"
    common = ["--dir", state]
    try:
        started = run_tool(*common, "start", "--port", port, "--zk-port", zk_port)
        assert started.returncode == 0, started.stderr
        assert f"is ready at localhost:{port}" in started.stdout

        again = run_tool(*common, "start", "--port", port, "--zk-port", zk_port)
        assert again.returncode == 0
        assert "Already running" in again.stdout and f"localhost:{port}" in again.stdout

        status = run_tool(*common, "status")
        assert status.returncode == 0
        assert f"ZooKeeper  running  localhost:{zk_port}" in status.stdout
        assert f"running  localhost:{port}" in status.stdout

        bootstrap = f"localhost:{port}"
        topic = create_topic(bootstrap, unique_name("kept"))
        produce_raw(bootstrap, topic, [b"survives a restart"])

        stopped = run_tool(*common, "stop")
        assert stopped.returncode == 0 and "Stopped. Data kept" in stopped.stdout
        assert run_tool(*common, "status").returncode == 3
        assert "shut down completed" in (state / "broker-0" / "broker.log").read_text()

        restarted = run_tool(*common, "start", "--port", port, "--zk-port", zk_port)
        assert restarted.returncode == 0, restarted.stderr
        assert [r.value for r in consume_all(bootstrap, topic, expected=1)] == [b"survives a restart"]
    finally:
        cleaned = run_tool(*common, "stop", "--clean")
    assert cleaned.returncode == 0 and "Data deleted" in cleaned.stdout
    assert not state.exists()


def test_stack_tool_says_which_port_is_taken_and_by_what(tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = run_tool("--dir", tmp_path / "s", "start", "--zk-port", taken, "--port", local_kafka.free_port())
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"Port {taken} (for ZooKeeper) is already taken by pid {os.getpid()} (python" in lines[0]


def test_stack_tool_without_java_says_what_to_install(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no java, no mvn on this PATH
    os.symlink(sys.executable, tmp_path / "python3")
    result = subprocess.run([str(tmp_path / "python3"), str(REPO / "tools" / "local_kafka.py"), "--dir",
                             str(tmp_path / "s"), "start", "--port", str(local_kafka.free_port())],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: Java ('java') is not installed")
    assert len(result.stderr.strip().splitlines()) == 1


def test_stack_tool_reports_a_broker_that_dies_during_start(stack_factory):
    stack = local_kafka.LocalKafka(stack_factory.tmp_path_factory.mktemp("bad"), zk_port=local_kafka.free_port(),
                                   port=local_kafka.free_port(), owner_pid=os.getpid(),
                                   extra_properties={"log.retention.hours": "not-a-number"})
    try:
        started = time.monotonic()
        try:
            stack.start()
        except local_kafka.StackError as error:
            message = str(error)
        else:
            raise AssertionError("a broker with an invalid setting started")
        assert time.monotonic() - started < 60
        assert message.startswith("Kafka broker 0 exited during start")
        assert "log.retention.hours" in message
        assert str(stack.broker_dir(0) / "broker.log") in message
    finally:
        stack.stop(clean=True)


def test_killed_test_run_leaves_no_java_behind(tmp_path):
    """A pytest run killed with SIGKILL: its java processes die with it, and strays are found."""
    code = (
        f"import os, sys, time; sys.path.insert(0, {str(REPO / 'tools')!r});"
        "import local_kafka as lk;"
        f"s = lk.LocalKafka({str(tmp_path / 's')!r}, zk_port=lk.free_port(), port=lk.free_port(), "
        "owner_pid=os.getpid());"
        "s.start(); print(s.zookeeper_pid(), s.broker_pid(), flush=True); time.sleep(600)"
    )
    runner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in runner.stdout.readline().split()]
    assert len(pids) == 2 and all(local_kafka.pid_alive(p) for p in pids)
    runner.kill()
    runner.wait()
    deadline = time.monotonic() + 10
    while any(local_kafka.pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in pids if local_kafka.pid_alive(p)]
    killed = local_kafka.kill_stray_processes()  # what the next run's session start does
    assert not left or sorted(killed) == sorted(left)
    time.sleep(0.5)
    assert not any(local_kafka.pid_alive(p) for p in pids)
