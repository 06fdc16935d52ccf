"""Helpers for driving the kit's scripts and Kafka's own tools as a user would."""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

import local_kafka  # noqa: E402
import local_postgres  # noqa: E402, F401  (for conftest.py and the tests)

# The password of the tests' PostgreSQL servers: no output of the kit may ever show it.
PG_PASSWORD = "kit-pg-secret-42"

# Variables that would point a script somewhere other than the broker under test.
KAFKA_ENV_VARS = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",
                  "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE")


def script_env(bootstrap, **extra):
    env = {k: v for k, v in os.environ.items() if k not in KAFKA_ENV_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if bootstrap:
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    env.update({k: str(v) for k, v in extra.items()})
    return env


def unique_name(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Result:
    def __init__(self, completed, seconds):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.seconds = seconds

    @property
    def lines(self):
        return self.stdout.splitlines()

    @property
    def err_lines(self):
        return [line for line in self.stderr.splitlines() if line.strip()]

    def __repr__(self):
        return f"<exit {self.returncode} after {self.seconds:.1f}s\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


def run_script(script, *args, bootstrap=None, env=None, timeout=120, input=None, cwd=REPO):
    """Run a top-level script to completion, like a learner in a terminal."""
    command = [sys.executable, str(REPO / script), *map(str, args)]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, input=input, cwd=cwd,
                               env=env or script_env(bootstrap))
    return Result(completed, time.monotonic() - started)


class Background:
    """A script (or any command) running in the background, its output read line by line."""

    def __init__(self, command, env, cwd=REPO):
        self.command = command
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=env, cwd=cwd, bufsize=1, errors="replace")
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _drain(self, block_seconds):
        try:
            line = self._queue.get(timeout=block_seconds)
        except queue.Empty:
            return False
        if line is None:
            self._queue.put(None)
            return None
        self.lines.append(line)
        return True

    def wait_for(self, pattern, timeout=30, count=1):
        """Wait until `count` lines match the regex; returns the last match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        matches, scanned = [], 0
        while True:
            self._drain_all()
            matches += [line for line in self.lines[scanned:] if regex.search(line)]
            scanned = len(self.lines)
            if len(matches) >= count:
                return matches[count - 1]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {count}x /{pattern}/ within {timeout}s; output so far:\n" + self.text)
            if self._drain(min(remaining, 0.2)) is None and self.process.poll() is not None:
                raise AssertionError(f"process exited ({self.process.returncode}) before /{pattern}/:\n" + self.text)

    def count(self, pattern):
        self._drain_all()
        regex = re.compile(pattern)
        return sum(1 for line in self.lines if regex.search(line))

    def _drain_all(self):
        while self._drain(0) is True:
            pass

    @property
    def text(self):
        self._drain_all()
        return "\n".join(self.lines)

    def signal(self, sig):
        self.process.send_signal(sig)

    def wait(self, timeout=30):
        """Wait for exit; returns the exit code and keeps all output."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        self._drain_all()
        return code

    def interrupt(self, timeout=30):
        """Ctrl-C, as a learner would press it."""
        self.signal(signal.SIGINT)
        return self.wait(timeout)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        return self.wait(10)


def start_script(script, *args, bootstrap=None, env=None):
    return Background([sys.executable, str(REPO / script), *map(str, args)], env or script_env(bootstrap))


# --------------------------------------------------------------------------
# kafka-python, used by tests as an independent client


def create_topic(bootstrap, topic, partitions=1, replication=1, configs=None):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": replication,
                                     "configs": configs or {}}}, wait_for_metadata=True)
    finally:
        admin.close()
    return topic


def produce_raw(bootstrap, topic, values, keys=None):
    """Write values (bytes or None) as they are, bypassing producer.py."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    keys = keys or [None] * len(values)
    for key, value in zip(keys, values):
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def consume_all(bootstrap, topic, expected=None, timeout=30, idle=2.0):
    """Every record in the topic, read by a fresh group-less consumer."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=int(idle * 1000))
    records = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
            if expected is not None and len(records) >= expected:
                break
            if expected is None and not batch and records:
                break
    finally:
        consumer.close()
    return records


def json_values(records):
    return [json.loads(r.value) for r in records]


def end_offsets(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        from kafka import TopicPartition

        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: off for tp, off in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def read_properties(path):
    """A Java .properties file (Kafka Connect's worker and connector settings) as a dict."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


# --------------------------------------------------------------------------
# Kafka's own Java tools, from the fetched jars


def java_tool(main_class, *args, timeout=60, input=None):
    command = ["java", "-Xmx256m", *local_kafka.jvm_performance_options(),
               "-Dlog4j.configuration=file:" + str(REPO / "tests" / "log4j-quiet.properties"),
               "-cp", local_kafka.classpath(), main_class, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, input=input)


# --------------------------------------------------------------------------
# librdkafka (confluent-kafka), a client written in C by other people, installed with requirements-dev.txt


def librdkafka_produce(bootstrap, topic, records, **config):
    """Write (key, value) pairs as they are, bytes or None, with librdkafka's producer."""
    from confluent_kafka import Producer

    failures = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", **config})
    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=lambda err, _msg: err and failures.append(err))
    assert producer.flush(30) == 0, "librdkafka could not deliver every record"
    assert not failures, failures


def librdkafka_consume(bootstrap, topic, count, timeout=30):
    """The first `count` records of a topic as librdkafka reads them: [(key, value, partition, offset)]."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_name("librdkafka"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            found.append((message.key(), message.value(), message.partition(), message.offset()))
    finally:
        consumer.close()
    return found
