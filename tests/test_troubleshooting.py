"""The entries of docs/troubleshooting.md, tried: each test produces the error a learner searches for, checks
that the page names it in those words, and then follows the entry's advice and sees it work.

Plain kafka-python snippets stand for the learner's own code (an old tutorial's, say); the kit's scripts are
run as a learner runs them."""

import socket
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import free_port_block
from support import REPO, run_script, script_env, unique_name

TROUBLESHOOTING = (REPO / "docs" / "troubleshooting.md").read_text(encoding="utf-8")


def entry(words):
    """The troubleshooting entry that starts with these words, in bold."""
    for paragraph in TROUBLESHOOTING.split("\n\n"):
        if paragraph.startswith((f"**`{words}", f"**{words}")):
            return paragraph
    raise AssertionError(f"docs/troubleshooting.md has no entry for {words!r}")


def snippet(code, timeout=60):
    """A learner's own kafka-python code, run in the kit's environment."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=script_env(None), cwd=REPO)


def dead_address():
    return f"localhost:{free_port_block(1)}"  # a free port: nothing answers there


def test_an_old_snippet_that_imports_no_brokers_available_and_the_way_out():
    advice = entry("cannot import name 'NoBrokersAvailable'")
    old = snippet("from kafka.errors import NoBrokersAvailable")
    assert old.returncode != 0 and "cannot import name 'NoBrokersAvailable'" in old.stderr
    # The advice: catch KafkaError, which a missing broker is one of.
    assert "Catch `KafkaError` from `kafka.errors`" in advice
    address = dead_address()
    new = snippet(f"""
        from kafka import KafkaProducer
        from kafka.errors import KafkaError
        try:
            KafkaProducer(bootstrap_servers="{address}", bootstrap_timeout_ms=1500)
        except KafkaError as error:
            print(f"caught {{type(error).__name__}}: {{error}}")
        """)
    assert new.returncode == 0, new.stderr
    # What plain kafka-python says then is what the first entry tells the learner to look for.
    assert "caught KafkaTimeoutError" in new.stdout and "Unable to bootstrap from" in new.stdout
    assert "`KafkaTimeoutError: Unable to bootstrap from`" in entry("cannot reach Kafka at localhost:9092")


def test_a_wrong_address_gets_one_line_from_the_kit_within_seconds():
    address = dead_address()
    started = time.monotonic()
    sent = run_script("producer.py", bootstrap=address)
    assert sent.returncode == 1 and "Traceback" not in sent.stderr
    assert sent.stderr.strip() == (f"error: cannot reach Kafka at {address}: start it with 'docker compose up -d' "
                                   "or 'python tools/local_kafka.py start', or point --bootstrap-server / "
                                   "KAFKA_BOOTSTRAP_SERVERS at your broker")
    assert time.monotonic() - started < 15, "the entry promises about 4 seconds, not kafka-python's 30"
    assert "`cannot reach Kafka at localhost:9092`" in TROUBLESHOOTING


def test_failed_to_update_metadata_is_a_missing_topic_and_create_topic_fixes_it(bootstrap):
    advice = entry("KafkaTimeoutError: Failed to update metadata after 60.0 secs")
    topic = unique_name("missing")
    # The learner's producer: the same wait as kafka-python's 60 s default, shortened to 2 s here.
    raw = snippet(f"""
        from kafka import KafkaProducer
        producer = KafkaProducer(bootstrap_servers="{bootstrap}", max_block_ms=2000)
        producer.send("{topic}", b"hello")
        """)
    assert raw.returncode != 0 and "KafkaTimeoutError: Failed to update metadata after 2.0 secs" in raw.stderr
    sent = run_script("producer.py", "--topic", topic, bootstrap=bootstrap)
    assert sent.returncode == 1 and f"topic '{topic}' does not exist" in sent.stderr
    assert "python create_topic.py --topic X" in advice
    created = run_script("create_topic.py", "--topic", topic, bootstrap=bootstrap)
    assert created.returncode == 0, created
    sent = run_script("producer.py", "--topic", topic, bootstrap=bootstrap)
    assert sent.returncode == 0, sent
    assert f"Sent  topic {topic}  partition 0   offset 0 " in sent.stdout


def test_a_consumer_without_a_group_commits_nothing_and_a_group_id_fixes_it(bootstrap, topic):
    advice = entry("The consumer prints nothing, or the same records every time.")
    assert run_script("producer.py", "--topic", topic, bootstrap=bootstrap).returncode == 0
    tutorial_style = f"""
        import logging
        from kafka import KafkaConsumer
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        consumer = KafkaConsumer("{topic}", bootstrap_servers="{bootstrap}", auto_offset_reset="earliest",
                                 consumer_timeout_ms=5000)
        for record in consumer:
            print("offset", record.offset)
            break
        consumer.close()
        """
    runs = [snippet(tutorial_style) for _ in range(2)]
    for run in runs:  # the second run shows the same record again: nothing was committed
        assert run.returncode == 0, run.stderr
        assert run.stdout.splitlines() == ["offset 0"]
    assert "group_id is None: disabling auto-commit" in runs[0].stderr
    assert "`group_id is None: disabling auto-commit`" in advice and "`consumer.py --group`" in advice
    group = unique_name("with-a-group")
    first = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", 1, bootstrap=bootstrap)
    assert first.returncode == 0 and "Received 1 record " in first.stdout, first
    again = run_script("consumer.py", "--topic", topic, "--group", group, "--timeout", 2, bootstrap=bootstrap)
    assert again.returncode == 0, again
    assert f"Group '{group}' continues where it left off: partition 0 at offset 1." in again.stdout
    assert "Received 0 records " in again.stdout


def test_the_containers_address_from_your_machine_and_the_way_out(bootstrap, topic):
    """A learner who copies `kafka:29092` (the compose file's address for containers) into --bootstrap-server."""
    try:
        socket.getaddrinfo("kafka", 29092)
        pytest.skip("this machine resolves the name 'kafka': the learner's error cannot happen here")
    except socket.gaierror:
        pass
    advice = entry("cannot reach Kafka at kafka:29092")
    failed = run_script("producer.py", "--topic", topic, bootstrap="kafka:29092", timeout=30)
    assert failed.returncode == 1 and failed.stderr.startswith("error: cannot reach Kafka at kafka:29092: ")
    assert "use `--bootstrap-server localhost:9092`" in advice  # here the test's broker stands for localhost:9092
    sent = run_script("producer.py", "--topic", topic, "--bootstrap-server", bootstrap, bootstrap="kafka:29092")
    assert sent.returncode == 0 and "Done: 1 record acknowledged" in sent.stdout, sent


@pytest.mark.slow  # it starts a broker of its own (about 3 s), which the quick check does not wait for
def test_a_broker_that_advertises_the_containers_name_and_the_way_out(stack_factory):
    """The compose file's classic mistake: its HOST listener advertising `kafka:29092`. The scripts connect, then
    fail; --verbose shows the name. The way out, a listener that advertises an address this machine reaches, is
    the same broker's other listener."""
    advice = entry("cannot reach Kafka at kafka:29092")
    assert "`KAFKA_ADVERTISED_LISTENERS`" in advice and "`DNS lookup failed`" in advice
    host_port = free_port_block(1)
    stack = stack_factory.start(extra_properties={
        "listeners": f"PLAINTEXT://localhost:{{port}},HOST://localhost:{host_port}",
        "advertised.listeners": "PLAINTEXT://localhost:{port},HOST://kafka:29092",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,HOST:PLAINTEXT"})
    try:
        good, wrong, topic = stack.bootstrap, f"localhost:{host_port}", unique_name("advertised")
        assert run_script("create_topic.py", "--topic", topic, bootstrap=good).returncode == 0
        failed = run_script("consumer.py", "--topic", topic, "--timeout", 2, "--verbose", bootstrap=wrong)
        assert failed.returncode == 1, failed
        assert "DNS lookup failed for kafka:29092" in failed.stderr
        assert f"error: cannot reach Kafka at {wrong}: " in failed.stderr
        sent = run_script("producer.py", "--topic", topic, bootstrap=good)
        assert sent.returncode == 0 and f"Sent  topic {topic}  partition 0   offset 0 " in sent.stdout, sent
    finally:
        stack.stop(clean=True)


@pytest.mark.parametrize("words", ["No module named 'kafka.vendor.six.moves'"])
def test_the_kit_pins_a_kafka_python_without_the_vendored_six(words):
    """kafka-python 2.0.2 cannot be installed here to show the error itself; what the entry's advice installs can
    be checked: a kafka-python 3.0.12 or later, which has no kafka.vendor.six at all."""
    advice = entry(words)
    assert "kafka-python 3.0.12 or later" in advice
    assert "kafka-python>=3.0.12,<4" in (REPO / "requirements.txt").read_text()
    installed = snippet("import kafka, kafka.vendor.six")
    assert installed.returncode != 0 and "No module named 'kafka.vendor.six'" in installed.stderr


def test_commit_failed_after_a_poll_came_too_late_and_a_prompt_consumer_commits(bootstrap, topic):
    advice = entry("CommitFailedError")
    assert "`max_poll_interval_ms`" in advice and "`max_poll_records`" in advice
    assert run_script("producer.py", "--topic", topic, bootstrap=bootstrap).returncode == 0
    group = unique_name("slow-handler")
    learner = f"""
        import time
        from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
        from kafka.errors import CommitFailedError
        consumer = KafkaConsumer("{topic}", bootstrap_servers="{bootstrap}", group_id="{group}",
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 max_poll_interval_ms={{interval}}, session_timeout_ms=6000,
                                 heartbeat_interval_ms=500)
        batch = {{{{}}}}
        while not batch:
            batch = consumer.poll(timeout_ms=500)
        time.sleep({{handling}})  # handling the batch
        done = {{{{TopicPartition("{topic}", 0): OffsetAndMetadata(1, "", -1)}}}}
        try:
            consumer.commit(done)
            print("committed")
        except CommitFailedError as error:
            print("CommitFailedError:", error)
        consumer.close(autocommit=False)
        """
    slow = snippet(learner.format(interval=2000, handling=6), timeout=90)
    assert slow.returncode == 0, slow.stderr
    assert slow.stdout.startswith("CommitFailedError:"), slow.stdout + slow.stderr
    # The advice: handle the batch within max_poll_interval_ms. The same group then commits, and the record
    # it could not commit is shown again (to this consumer, now the group's only member).
    prompt = snippet(learner.format(interval=2000, handling=0), timeout=90)
    assert prompt.returncode == 0, prompt.stderr
    assert prompt.stdout == "committed\n", prompt.stdout + prompt.stderr
