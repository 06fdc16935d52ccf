#!/usr/bin/env python3
"""Benchmark the kit's scripts against raw kafka-python, confluent-kafka and Kafka's Java tools.

    python tools/bench.py            # full size: 200,000 records of ~90 bytes, 3 runs each (about 10 minutes)
    python tools/bench.py --quick    # a small smoke run (CI runs this through tests/test_bench.py)

Throughput compares bulk_producer.py --count and consumer.py (which prints every record) with the peers.
The memory table sends a JSON-lines file of 1,000,000 users with bulk_producer.py --file, Kafka's Java
console producer, kcat (when installed), raw kafka-python and confluent-kafka, and gives each process's
peak RSS; bulk_producer.py is measured at a tenth of that size too, to show its memory stays flat.

It starts its own ZooKeeper + broker on free ports in a temporary directory
(never 9092), measures everything in one run on that broker, prints a table
with ratios and writes the results as JSON (default bench-results/latest.json).

Each figure is the median of several runs, with min and max. The runs of the
clients being compared are interleaved, so a noisy neighbour slows all of them
alike: compare ratios from the same run, not absolute numbers across runs.

The peers (raw kafka-python, confluent-kafka) run as separate processes of this
same file ("worker" mode), so every client starts from a fresh interpreter.
"""

import argparse
import collections
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
REPO_DIR = TOOLS_DIR.parent
sys.path.insert(0, str(REPO_DIR))
sys.path.insert(0, str(TOOLS_DIR))

import bench_log_view  # noqa: E402
import local_kafka  # noqa: E402

DEFAULT_JSON = REPO_DIR / "bench-results" / "latest.json"
LOG4J_QUIET = REPO_DIR / "tests" / "log4j-quiet.properties"
JAVA_TOOL_HEAP = "-Xmx512m"  # what Kafka's own kafka-*-perf-test.sh scripts give their JVM

SIZES = {
    # records, runs per throughput figure, latency round trips, runs for start-up and failure timings,
    # lines of the file the memory table sends (once per client)
    "full": {"records": 200_000, "runs": 3, "latency_messages": 1000, "latency_runs": 3, "start_runs": 5,
             "fail_runs": 3, "memory_records": 1_000_000},
    "quick": {"records": 5_000, "runs": 1, "latency_messages": 50, "latency_runs": 1, "start_runs": 1,
              "fail_runs": 1, "memory_records": 20_000},
}

SUMMARY = re.compile(r"^(?:Sent|Received) ([\d,]+) records? \(([\d.]+) MB\) in ([\d.]+) s")
JAVA_PRODUCER = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")
JAVA_LATENCY = re.compile(r"Percentiles: 50th = (\d+), 99th = (\d+)")
JAVA_AVERAGE = re.compile(r"Avg latency: ([\d.]+) ms")


# --------------------------------------------------------------------------
# worker mode: one measurement by a peer client, in its own process, printed as one JSON line


def generated(count):
    """(user, its JSON bytes) for the users bulk_producer.py --count N sends, one at a time."""
    import bulk_producer

    return bulk_producer.records(argparse.Namespace(count=count, file=None))


def records(count):
    """The same (key, value) pairs bulk_producer.py --count sends, encoded before any timer starts."""
    return [(user["name"].encode(), value) for user, value in generated(count)]


def generated_users(count):
    """The users bulk_producer.py --count N generates, as dicts, for a raw loop to encode itself.

    Built here rather than taken from bulk_producer.records(), which encodes them too;
    Bench.producer_throughput() checks that both give the same bytes.
    """
    import bulk_producer

    professions = bulk_producer.PROFESSIONS
    for number in range(1, count + 1):
        yield {"id": number, "name": f"user-{number:07d}", "profession": professions[number % len(professions)],
               "email": f"user-{number:07d}@example.com"}


def producer_config():
    """PRODUCER_CONFIG from bulk_producer.py, with BENCH_PRODUCER_OVERRIDES (JSON) on top for experiments."""
    import bulk_producer

    return {**bulk_producer.PRODUCER_CONFIG, **json.loads(os.environ.get("BENCH_PRODUCER_OVERRIDES") or "{}")}


def confluent_producer(bootstrap):
    from confluent_kafka import Producer

    config = producer_config()
    return Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
        "linger.ms": config["linger_ms"], "batch.size": config["batch_size"],
        "compression.type": config["compression_type"],
    })


def confluent_send(client, topic, value, key=None):
    while True:
        try:
            client.produce(topic, value, key)
            return
        except BufferError:  # librdkafka's local queue is full: let it send
            client.poll(0.05)


def worker_kafka_python_produce(bootstrap, topic, count):
    """The shortest kafka-python loop doing bulk_producer.py --count's job: the same users, JSON, same settings."""
    from kafka import KafkaProducer

    users = generated_users(count)  # generating them is part of the job, as in bulk_producer.py
    client = KafkaProducer(bootstrap_servers=bootstrap, **producer_config())
    client.partitions_for(topic)  # metadata first, as bulk_producer.py does before its timer starts
    started = time.monotonic()
    for user in users:
        client.send(topic, key=user["name"].encode(), value=json.dumps(user, separators=(",", ":")).encode())
    client.flush()
    seconds = time.monotonic() - started
    client.close()
    return {"records": count, "bytes": None, "seconds": seconds}


def worker_kafka_python_bytes_produce(bootstrap, topic, count):
    """kafka-python's own ceiling: the records are encoded to bytes before the timer starts."""
    from kafka import KafkaProducer

    data = records(count)
    client = KafkaProducer(bootstrap_servers=bootstrap, **producer_config())
    client.partitions_for(topic)
    started = time.monotonic()
    for key, value in data:
        client.send(topic, key=key, value=value)
    client.flush()
    seconds = time.monotonic() - started
    client.close()
    return {"records": count, "bytes": sum(len(v) for _, v in data), "seconds": seconds}


def worker_confluent_produce(bootstrap, topic, count):
    data = records(count)
    client = confluent_producer(bootstrap)
    client.list_topics(topic, timeout=10)
    started = time.monotonic()
    for key, value in data:
        confluent_send(client, topic, value, key)
    left = client.flush(60)
    seconds = time.monotonic() - started
    if left:
        raise SystemExit(f"confluent-kafka: {left} records not delivered")
    return {"records": count, "bytes": sum(len(v) for _, v in data), "seconds": seconds}


def worker_kafka_python_consume(bootstrap, topic, count, group, deserialize="json"):
    """With deserialize="json" each value is parsed as consumer.py must (json.loads), else bytes only."""
    from kafka import KafkaConsumer

    import consumer

    client = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **consumer.CONSUMER_CONFIG)
    parse = deserialize == "json"
    started = time.monotonic()  # like consumer.py: the time to join the group counts
    client.subscribe([topic])
    received = 0
    while received < count:
        for batch in client.poll(timeout_ms=500).values():  # max_poll_records from CONSUMER_CONFIG
            received += len(batch)
            if parse:
                for record in batch:
                    json.loads(record.value)
    seconds = time.monotonic() - started
    client.close(autocommit=False)
    return {"records": received, "bytes": None, "seconds": seconds}


def worker_confluent_consume(bootstrap, topic, count, group):
    from confluent_kafka import Consumer

    client = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                       "enable.auto.commit": False})
    started = time.monotonic()
    client.subscribe([topic])
    received = size = 0
    while received < count:
        for message in client.consume(num_messages=min(500, count - received), timeout=0.5):
            if message.error() is None:
                received += 1
                size += len(message.value())
    seconds = time.monotonic() - started
    client.close()
    return {"records": received, "bytes": size, "seconds": seconds}


def worker_kafka_python_latency(bootstrap, topic, count):
    """Send one record, wait for the broker's ack, then for the consumer to get it: count times."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    import consumer
    import producer

    sender = KafkaProducer(bootstrap_servers=bootstrap, **producer.PRODUCER_CONFIG)
    receiver = KafkaConsumer(bootstrap_servers=bootstrap, **{**consumer.CONSUMER_CONFIG, "group_id": None})
    partition = TopicPartition(topic, 0)
    receiver.assign([partition])
    receiver.seek_to_end(partition)
    receiver.position(partition)
    value = b"x" * 100
    latencies = []
    for _ in range(count):
        started = time.monotonic()
        sender.send(topic, value=value)
        sender.flush()  # as producer.py does for its single record: no linger
        got = False
        while not got:
            got = any(receiver.poll(timeout_ms=1000).values())
        latencies.append((time.monotonic() - started) * 1000)
    sender.close()
    receiver.close()
    average = statistics.mean(latencies)
    latencies.sort()
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), "avg_ms": average,
            "messages": count}


def worker_kafka_python_file(bootstrap, topic, path):
    """Raw kafka-python sending a JSON-lines file, one line per record as it is read (the memory table)."""
    from kafka import KafkaProducer

    client = KafkaProducer(bootstrap_servers=bootstrap, **producer_config())
    sent = 0
    with open(path, "rb") as lines:
        for line in lines:
            client.send(topic, value=line.rstrip(b"\n"))
            sent += 1
    client.flush()
    client.close()
    return {"records": sent}


def worker_confluent_file(bootstrap, topic, path):
    """confluent-kafka sending a JSON-lines file, one line per record as it is read (the memory table)."""
    client = confluent_producer(bootstrap)
    sent = 0
    with open(path, "rb") as lines:
        for line in lines:
            confluent_send(client, topic, line.rstrip(b"\n"))
            sent += 1
    left = client.flush(60)
    if left:
        raise SystemExit(f"confluent-kafka: {left} records not delivered")
    return {"records": sent}


WORKERS = {
    "kafka-python-produce": worker_kafka_python_produce,
    "kafka-python-bytes-produce": worker_kafka_python_bytes_produce,
    "confluent-produce": worker_confluent_produce,
    "kafka-python-consume": worker_kafka_python_consume,
    "confluent-consume": worker_confluent_consume,
    "kafka-python-latency": worker_kafka_python_latency,
}
FILE_WORKERS = {  # these take a file to send instead of a count
    "kafka-python-file": worker_kafka_python_file,
    "confluent-file": worker_confluent_file,
}


def worker_main(argv):
    name, bootstrap, topic, count_or_path, *rest = argv
    if name in FILE_WORKERS:
        result = FILE_WORKERS[name](bootstrap, topic, count_or_path)
    else:
        result = WORKERS[name](bootstrap, topic, int(count_or_path), *rest)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------
# helpers


def percentile(sorted_values, pct):
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def script_env(extra_path=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env["PYTHONUNBUFFERED"] = "1"
    paths = [str(REPO_DIR)] + ([str(extra_path)] if extra_path else [])
    if extra_path:
        paths.reverse()  # the shadowing module must come first
    env["PYTHONPATH"] = os.pathsep.join(paths + [env["PYTHONPATH"]] if env.get("PYTHONPATH") else paths)
    return env


def run(command, timeout=300, env=None):
    command = [str(part) for part in command]
    cpu_before = cpu_of_children()
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO_DIR,
                            env=env or script_env())
    result.seconds = time.monotonic() - started
    result.cpu_seconds = cpu_of_children() - cpu_before
    if result.returncode != 0:
        raise BenchError(f"{' '.join(map(str, command[:4]))} ... exited {result.returncode}:\n"
                         f"{(result.stderr or result.stdout)[-2000:]}")
    return result


def run_draining(command, timeout=300, env=None):
    """run() for a script that prints a line per record: its output is read as it comes, only the end kept."""
    command = [str(part) for part in command]
    cpu_before = cpu_of_children()
    started = time.monotonic()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, cwd=REPO_DIR,
                                   env=env or script_env())
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            tail = collections.deque(process.stdout, maxlen=20)  # reads every line, keeps the last 20
            process.wait()
        finally:
            timer.cancel()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    result = subprocess.CompletedProcess(command, process.returncode, b"".join(tail).decode(errors="replace"),
                                         stderr)
    result.seconds = time.monotonic() - started
    result.cpu_seconds = cpu_of_children() - cpu_before
    if result.seconds >= timeout:
        raise BenchError(f"{' '.join(command[:4])} ... did not finish within {timeout} s")
    if result.returncode != 0:
        raise BenchError(f"{' '.join(command[:4])} ... exited {result.returncode}:\n"
                         f"{(result.stderr or result.stdout)[-2000:]}")
    return result


# A process's peak RSS (ru_maxrss) starts at the peak of the process that started it: the kernel carries the
# parent's high-water mark across fork and exec. The benchmark itself holds tens of MiB, so the measured
# clients are started by this bare interpreter instead, which reports their resource usage from wait4().
SPAWNER = """
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""


def run_for_peak_memory(command, stdin_path=None, timeout=900, env=None):
    """Run a process to its end: its wall time, CPU time and peak resident memory (RSS), exact, from wait4().

    The kernel keeps each process's high-water mark of resident memory, so no sampling is needed.
    """
    command = [str(part) for part in command]
    with open(stdin_path or os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as errors, tempfile.TemporaryDirectory() as scratch:
        usage_file = Path(scratch) / "usage"
        started = time.monotonic()
        # -I -S: no site packages, no environment settings, so the spawner stays as small as Python gets.
        spawner = subprocess.Popen([sys.executable, "-I", "-S", "-c", SPAWNER, usage_file, *command], stdin=stdin,
                                   stdout=out, stderr=errors, cwd=REPO_DIR, env=env or script_env(),
                                   start_new_session=True)  # its own process group: a timeout kills both
        try:
            spawner.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(spawner.pid, 9)
            spawner.wait()
            raise BenchError(f"{' '.join(command[:4])} ... did not finish within {timeout} s") from None
        seconds = time.monotonic() - started
        out.seek(0)
        errors.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = errors.read().decode(errors="replace")
        if spawner.returncode != 0 or not usage_file.exists():
            raise BenchError(f"could not start {command[0]} (exit {spawner.returncode}):\n{stderr[-2000:]}")
        returncode, max_rss, cpu_seconds = usage_file.read_text().split()
    if int(returncode) != 0:
        raise BenchError(f"{' '.join(command[:4])} ... exited {returncode}:\n{(stderr or stdout)[-2000:]}")
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    kib = int(max_rss) / 1024 if sys.platform == "darwin" else int(max_rss)
    return {"peak_rss_mib": kib / 1024, "seconds": seconds, "cpu_seconds": float(cpu_seconds), "stdout": stdout}


def cpu_of_children():
    """CPU seconds (user + system) used by finished child processes: less noisy than wall time here."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def java(main_class, *args):
    return [local_kafka.java_command(), JAVA_TOOL_HEAP, f"-Dlog4j.configuration=file:{LOG4J_QUIET}",
            "-cp", local_kafka.classpath(), main_class, *map(str, args)]


def worker(name, *args, env=None, timeout=300):
    result = run([sys.executable, str(Path(__file__).resolve()), "worker", name, *map(str, args)],
                 timeout=timeout, env=env)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return {**json.loads(line[len("RESULT "):]), "cpu_seconds": result.cpu_seconds}
    raise BenchError(f"worker {name} printed no result:\n{result.stdout[-1000:]}{result.stderr[-1000:]}")


def summary_of(result):
    """records, bytes and seconds from the scripts' 'Sent/Received N records (X MB) in S s' line."""
    for line in result.stdout.splitlines():
        match = SUMMARY.match(line)
        if match:
            count, megabytes, seconds = match.groups()
            return {"records": int(count.replace(",", "")), "bytes": float(megabytes) * 1e6,
                    "seconds": float(seconds), "cpu_seconds": result.cpu_seconds}
    raise BenchError(f"no summary line in:\n{result.stdout[-1000:]}")


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


class BenchError(Exception):
    pass


class Bench:
    def __init__(self, stack, size, say):
        self.stack = stack
        self.bootstrap = stack.bootstrap
        self.size = size
        self.say = say
        self.topics = 0
        self.groups = 0
        from kafka import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)

    def new_topic(self, prefix):
        from kafka.admin import NewTopic

        self.topics += 1
        name = f"bench-{prefix}-{self.topics}"
        self.admin.create_topics([NewTopic(name, 1, 1)])
        deadline = time.monotonic() + 30
        from kafka import KafkaProducer

        probe = KafkaProducer(bootstrap_servers=self.bootstrap)
        try:
            while not probe.partitions_for(name) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            probe.close()
        return name

    def new_group(self):
        self.groups += 1
        return f"bench-group-{self.groups}-{os.getpid()}"

    # -- producer throughput

    def produce_ours(self, topic, env=None):
        out = run([sys.executable, "bulk_producer.py", "--bootstrap-server", self.bootstrap, "--topic", topic,
                   "--count", self.size["records"]], env=env)
        return summary_of(out)

    def produce_java(self, topic, payload_file):
        out = run(java("org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                       "--num-records", self.size["records"], "--throughput", -1,
                       "--payload-file", payload_file, "--producer-props", *self.java_producer_props()))
        match = JAVA_PRODUCER.findall(out.stdout)
        if not match:
            raise BenchError(f"ProducerPerformance printed no summary:\n{out.stdout[-1000:]}")
        count, rate, _ = match[-1]
        return {"records": int(count), "seconds": int(count) / float(rate), "bytes": None,
                "cpu_seconds": out.cpu_seconds}

    def java_producer_props(self):
        config = producer_config()
        return [f"bootstrap.servers={self.bootstrap}", "acks=all", "enable.idempotence=true",
                f"linger.ms={config['linger_ms']}", f"batch.size={config['batch_size']}",
                f"compression.type={config['compression_type']}"]

    def producer_throughput(self, workdir):
        n = self.size["records"]
        sample = records(100)
        if [json.dumps(user, separators=(",", ":")).encode() for user in generated_users(100)] != \
                [value for _, value in sample]:
            raise BenchError("generated_users() no longer matches the users bulk_producer.py --count sends")
        payload = Path(workdir) / "payload.jsonl"
        payload.write_bytes(b"\n".join(value for _, value in records(min(n, 10_000))))
        clients = {
            "ours (bulk_producer.py)": lambda t: self.produce_ours(t),
            "raw kafka-python": lambda t: worker("kafka-python-produce", self.bootstrap, t, n),
            "raw kafka-python, bytes": lambda t: worker("kafka-python-bytes-produce", self.bootstrap, t, n),
            "confluent-kafka": lambda t: worker("confluent-produce", self.bootstrap, t, n),
            "Java ProducerPerformance": lambda t: self.produce_java(t, payload),
        }
        return self.interleave("producer", clients)

    def interleave(self, what, clients, fresh_topic=True):
        """Run each client once per round, in turn, so background load hits them alike."""
        rates = {name: [] for name in clients}
        cpu = {name: [] for name in clients}
        names = list(clients)
        for run_number in range(self.size["runs"]):
            # A different client goes first in each round: no one always gets the freshly idle machine.
            shift = run_number % len(names)
            for name in names[shift:] + names[:shift]:
                measure = clients[name]
                result = measure(self.new_topic(what)) if fresh_topic else measure()
                if result["records"] != self.size["records"]:
                    raise BenchError(f"{name}: {result['records']} records, expected {self.size['records']}")
                rates[name].append(result["records"] / result["seconds"])
                cpu[name].append(result["cpu_seconds"])
                self.say(f"  {what} run {run_number + 1}: {name:<28} {rates[name][-1]:>10,.0f} records/s  "
                         f"{cpu[name][-1]:5.1f} s CPU")
        return {name: {**stats(values), "cpu_seconds": stats(cpu[name])} for name, values in rates.items()}

    # -- consumer throughput

    def fill(self, topic, count):
        worker("confluent-produce", self.bootstrap, topic, count)

    def consumer_throughput(self):
        n = self.size["records"]
        topic = self.new_topic("consume")
        self.fill(topic, n)
        clients = {
            "ours (consumer.py)": lambda: self.consume_ours(topic),
            "raw kafka-python": lambda: worker("kafka-python-consume", self.bootstrap, topic, n, self.new_group()),
            "raw kafka-python, bytes": lambda: worker("kafka-python-consume", self.bootstrap, topic, n,
                                                      self.new_group(), "bytes"),
            "confluent-kafka": lambda: worker("confluent-consume", self.bootstrap, topic, n, self.new_group()),
            "Java ConsumerPerformance": lambda: self.consume_java(topic),
        }
        return self.interleave("consumer", clients, fresh_topic=False)

    def consume_ours(self, topic, env=None):
        """consumer.py prints a line per record: the benchmark reads them all from a pipe, as a terminal would."""
        return summary_of(run_draining([sys.executable, "consumer.py", "--bootstrap-server", self.bootstrap,
                                        "--topic", topic, "--max-messages", self.size["records"],
                                        "--group", self.new_group()], env=env))

    def consume_java(self, topic):
        out = run(java("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", self.bootstrap,
                       "--topic", topic, "--messages", self.size["records"], "--group", self.new_group(),
                       "--timeout", 60000))
        rows = [line.split(", ") for line in out.stdout.splitlines() if line.count(", ") >= 9]
        if len(rows) < 2:
            raise BenchError(f"ConsumerPerformance printed no result:\n{out.stdout[-1000:]}")
        row = dict(zip(rows[0], rows[-1]))
        count = int(row["data.consumed.in.nMsg"])
        rate = float(row["nMsg.sec"])  # from start to end, the group join included, as for the others
        return {"records": count, "seconds": count / rate if rate else float("inf"), "bytes": None,
                "cpu_seconds": out.cpu_seconds}

    # -- end-to-end latency

    def latency(self):
        m = self.size["latency_messages"]
        results = {"ours (kafka-python, kit configs)": {"p50_ms": [], "p99_ms": [], "avg_ms": []},
                   "Java EndToEndLatency": {"p50_ms": [], "p99_ms": [], "avg_ms": []}}
        for run_number in range(self.size["latency_runs"]):
            ours = worker("kafka-python-latency", self.bootstrap, self.new_topic("latency"), m)
            out = run(java("org.apache.kafka.tools.EndToEndLatency", self.bootstrap, self.new_topic("latency"), m,
                           "all", 100))
            match, average = JAVA_LATENCY.search(out.stdout), JAVA_AVERAGE.search(out.stdout)
            if not match or not average:
                raise BenchError(f"EndToEndLatency printed no percentiles:\n{out.stdout[-1000:]}")
            for name, p50, p99, avg in (
                    ("ours (kafka-python, kit configs)", ours["p50_ms"], ours["p99_ms"], ours["avg_ms"]),
                    ("Java EndToEndLatency", float(match[1]), float(match[2]), float(average[1]))):
                results[name]["p50_ms"].append(p50)
                results[name]["p99_ms"].append(p99)
                results[name]["avg_ms"].append(avg)
                self.say(f"  latency run {run_number + 1}: {name:<34} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                         f"avg {avg:6.2f} ms")
        return {name: {key: stats(values) for key, values in figures.items()} for name, figures in results.items()}

    # -- time to first record

    def first_record(self):
        topic = self.new_topic("first")
        self.fill(topic, 1)
        clients = {
            "ours (consumer.py)": lambda: time_until_line(
                [sys.executable, "consumer.py", "--bootstrap-server", self.bootstrap, "--topic", topic,
                 "--max-messages", 1, "--group", self.new_group()], "Data Received"),
            "Java ConsoleConsumer": lambda: time_until_line(
                java("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", self.bootstrap,
                     "--topic", topic, "--from-beginning", "--max-messages", 1), "{"),
        }
        times = {name: [] for name in clients}
        for run_number in range(self.size["start_runs"]):
            for name, measure in clients.items():
                times[name].append(measure())
                self.say(f"  first record run {run_number + 1}: {name:<24} {times[name][-1]:6.2f} s")
        return {name: stats(values) for name, values in times.items()}

    # -- time to fail

    def time_to_fail(self, together=False):
        """Seconds until each script exits with its error; `together` runs the three at once (--quick)."""
        dead = f"localhost:{local_kafka.free_port()}"  # nothing listens there
        scripts = {"create_topic.py": [], "producer.py": [], "consumer.py": ["--max-messages", 1]}
        times = {name: [] for name in scripts}
        for run_number in range(self.size["fail_runs"]):
            started = {}
            processes = {}
            for name, extra in scripts.items():
                command = [sys.executable, name, "--bootstrap-server", dead, "--topic", "bench-nowhere",
                           *map(str, extra)]
                started[name] = time.monotonic()
                processes[name] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                   text=True, cwd=REPO_DIR, env=script_env())
                if not together:
                    self.finish_failing(name, processes[name], started[name], dead, times, run_number)
            if together:
                for name, process in processes.items():
                    self.finish_failing(name, process, started[name], dead, times, run_number)
        return {name: stats(values) for name, values in times.items()}

    def finish_failing(self, name, process, started, dead, times, run_number):
        _, stderr = process.communicate(timeout=120)
        seconds = time.monotonic() - started
        if process.returncode == 0 or "cannot reach Kafka" not in stderr:
            raise BenchError(f"{name} against {dead}: exit {process.returncode}, stderr {stderr.strip()[-300:]!r}")
        times[name].append(seconds)
        self.say(f"  time to fail run {run_number + 1}: {name:<16} {seconds:6.2f} s")

    # -- options of our own code path

    def crc32c_variants(self, workdir):
        """Our scripts with and without the crc32c C extension (requirements-speedups.txt)."""
        shadow = Path(workdir) / "no-crc32c"
        shadow.mkdir(exist_ok=True)
        (shadow / "crc32c.py").write_text("raise ImportError('hidden by tools/bench.py')\n")
        producers = {
            "bulk_producer.py with crc32c": lambda t: self.produce_ours(t),
            "bulk_producer.py without crc32c": lambda t: self.produce_ours(t, env=script_env(shadow)),
        }
        topic = self.new_topic("consume")
        self.fill(topic, self.size["records"])
        consumers = {
            "consumer.py with crc32c": lambda: self.consume_ours(topic),
            "consumer.py without crc32c": lambda: self.consume_ours(topic, env=script_env(shadow)),
        }
        return self.interleave("producer", producers), self.interleave("consumer", consumers, fresh_topic=False)

    # -- peak memory sending a big file

    def memory(self, workdir):
        """Peak RSS of each client sending the same JSON-lines file, and of ours at a tenth of its size."""
        n = self.size["memory_records"]
        small_n = n // 10
        big, small = Path(workdir) / f"users-{n}.jsonl", Path(workdir) / f"users-{small_n}.jsonl"
        write_users_file(big, n)
        write_users_file(small, small_n)
        clients = {
            "ours (bulk_producer.py --file)": lambda topic: self.peak_of_ours(topic, big),
            "Java ConsoleProducer (stdin)": lambda topic: run_for_peak_memory(java(
                "kafka.tools.ConsoleProducer", "--bootstrap-server", self.bootstrap, "--topic", topic,
                # Its own --compression-codec (default none) overrides compression.type: give both.
                "--compression-codec", producer_config()["compression_type"],
                *[arg for prop in self.java_producer_props()[1:] for arg in ("--producer-property", prop)]),
                stdin_path=big),
            "kcat -P (stdin)": lambda topic: run_for_peak_memory(
                ["kcat", "-P", "-b", self.bootstrap, "-t", topic,
                 *[arg for prop in self.java_producer_props()[1:] for arg in ("-X", prop)]], stdin_path=big),
            "raw kafka-python (line by line)": lambda topic: run_for_peak_memory(
                [sys.executable, Path(__file__).resolve(), "worker", "kafka-python-file", self.bootstrap, topic,
                 big]),
            "confluent-kafka (line by line)": lambda topic: run_for_peak_memory(
                [sys.executable, Path(__file__).resolve(), "worker", "confluent-file", self.bootstrap, topic, big]),
        }
        skipped = {}
        if shutil.which("kcat") is None:
            skipped["kcat -P (stdin)"] = "kcat is not installed (optional: apt-get install kcat)"
            del clients["kcat -P (stdin)"]
        figures = {}
        for name, measure in clients.items():
            figures[name] = self.measure_memory(name, measure, n)
        ours_small = self.measure_memory(f"ours with {small_n:,} records",
                                         lambda topic: self.peak_of_ours(topic, small), small_n)
        # What a process that does nothing measures this way: the spawner's own size, carried over.
        floor = run_for_peak_memory(["true"])["peak_rss_mib"]
        return {"records": n, "file_bytes": big.stat().st_size, "clients": figures,
                "ours_at_a_tenth": {"records": small_n, **ours_small}, "skipped": skipped,
                "floor_mib": round(floor, 1)}

    def peak_of_ours(self, topic, path):
        return run_for_peak_memory([sys.executable, "bulk_producer.py", "--bootstrap-server", self.bootstrap,
                                    "--topic", topic, "--file", path])

    def measure_memory(self, name, measure, count):
        topic = self.new_topic("memory")
        result = measure(topic)
        # A client that stopped early would show a small, meaningless peak: every record must be in the topic.
        delivered = self.end_offset(topic)
        if delivered != count:
            raise BenchError(f"{name}: {delivered:,} records reached the topic, expected {count:,}")
        figure = {"peak_rss_mib": round(result["peak_rss_mib"], 1), "seconds": round(result["seconds"], 2),
                  "records_per_s": round(count / result["seconds"]), "cpu_seconds": round(result["cpu_seconds"], 2),
                  "records_delivered": delivered}
        self.say(f"  memory: {name:<34} {figure['peak_rss_mib']:8.1f} MiB peak RSS  {figure['seconds']:7.2f} s  "
                 f"{figure['records_per_s']:>9,} records/s")
        return figure

    def end_offset(self, topic):
        from kafka import KafkaConsumer, TopicPartition

        partition = TopicPartition(topic, 0)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            return consumer.end_offsets([partition])[partition]
        finally:
            consumer.close()


def write_users_file(path, count):
    """The users bulk_producer.py --count generates, one JSON object per line."""
    with open(path, "wb") as out:
        for _, value in generated(count):
            out.write(value + b"\n")


def time_until_line(command, needle, timeout=120):
    """Seconds from starting a new process until it prints a line containing `needle`."""
    command = [str(part) for part in command]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               cwd=REPO_DIR, env=script_env())
    try:
        deadline = started + timeout
        for line in process.stdout:
            if needle in line:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                break
        raise BenchError(f"{' '.join(map(str, command[:4]))} ... never printed {needle!r}")
    finally:
        process.kill()
        process.wait()


# --------------------------------------------------------------------------
# the report


def machine():
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = None
    return {"cores": os.cpu_count(), "memory_gib": round(memory) if memory else None,
            "python": platform.python_version(), "system": platform.system()}


def versions():
    import confluent_kafka
    import kafka

    try:
        import crc32c  # noqa: F401

        crc = True
    except ImportError:
        crc = False
    return {"kafka-python": kafka.__version__, "confluent-kafka": confluent_kafka.__version__,
            "librdkafka": confluent_kafka.libversion()[0], "kafka (broker and Java tools)": local_kafka.KAFKA_VERSION,
            "crc32c extension": crc, "kcat": kcat_version()}


def kcat_version():
    if shutil.which("kcat") is None:
        return None
    out = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"Version (\S+)", out)
    return match[1] if match else "unknown"


def ratio(a, b):
    return round(a / b, 3) if b else None


def ratios(results):
    producer = {k: v["median"] for k, v in results["producer_throughput"].items()}
    consumer = {k: v["median"] for k, v in results["consumer_throughput"].items()}
    first = {k: v["median"] for k, v in results["time_to_first_record"].items()}
    ours_p, ours_c = producer["ours (bulk_producer.py)"], consumer["ours (consumer.py)"]
    out = {
        "producer: ours / raw kafka-python": ratio(ours_p, producer["raw kafka-python"]),
        "producer: ours / raw kafka-python, bytes": ratio(ours_p, producer["raw kafka-python, bytes"]),
        "producer CPU s: ours / raw kafka-python": ratio(
            results["producer_throughput"]["ours (bulk_producer.py)"]["cpu_seconds"]["median"],
            results["producer_throughput"]["raw kafka-python"]["cpu_seconds"]["median"]),
        "producer: ours / confluent-kafka": ratio(ours_p, producer["confluent-kafka"]),
        "producer: ours / Java ProducerPerformance": ratio(ours_p, producer["Java ProducerPerformance"]),
        "consumer: ours / raw kafka-python": ratio(ours_c, consumer["raw kafka-python"]),
        "consumer: ours / raw kafka-python, bytes": ratio(ours_c, consumer["raw kafka-python, bytes"]),
        "consumer CPU s: ours / raw kafka-python": ratio(
            results["consumer_throughput"]["ours (consumer.py)"]["cpu_seconds"]["median"],
            results["consumer_throughput"]["raw kafka-python"]["cpu_seconds"]["median"]),
        "consumer: ours / confluent-kafka": ratio(ours_c, consumer["confluent-kafka"]),
        "consumer: ours / Java ConsumerPerformance": ratio(ours_c, consumer["Java ConsumerPerformance"]),
        "first record: ours / Java ConsoleConsumer (time)": ratio(first["ours (consumer.py)"],
                                                                  first["Java ConsoleConsumer"]),
    }
    latency = results["end_to_end_latency"]
    ours_l, java_l = latency["ours (kafka-python, kit configs)"], latency["Java EndToEndLatency"]
    out["latency p50: ours / Java"] = ratio(ours_l["p50_ms"]["median"], java_l["p50_ms"]["median"])
    out["latency p99: ours / Java"] = ratio(ours_l["p99_ms"]["median"], java_l["p99_ms"]["median"])
    out["latency average: ours / Java"] = ratio(ours_l["avg_ms"]["median"], java_l["avg_ms"]["median"])
    for key, script in (("producer_crc32c", "bulk_producer.py"), ("consumer_crc32c", "consumer.py")):
        if key in results:
            crc = results[key]
            out[f"{script}: with / without crc32c"] = ratio(crc[f"{script} with crc32c"]["median"],
                                                            crc[f"{script} without crc32c"]["median"])
            out[f"{script} CPU s: with / without crc32c"] = ratio(
                crc[f"{script} with crc32c"]["cpu_seconds"]["median"],
                crc[f"{script} without crc32c"]["cpu_seconds"]["median"])
    if "memory" in results:
        memory = results["memory"]
        peaks = {name: figure["peak_rss_mib"] for name, figure in memory["clients"].items()}
        ours = peaks["ours (bulk_producer.py --file)"]
        for peer in ("Java ConsoleProducer (stdin)", "kcat -P (stdin)"):
            if peer in peaks:
                out[f"peak RSS: ours / {peer}"] = ratio(ours, peaks[peer])
        out["peak RSS: ours, whole file / a tenth of it"] = ratio(ours, memory["ours_at_a_tenth"]["peak_rss_mib"])
    return out


def table(report):
    r = report["results"]
    size = report["size"]
    lines = [f"Kafka kit benchmark, {report['date']}, {report['machine']['cores']} cores / "
             f"{report['machine']['memory_gib']} GiB, {size['records']:,} records of ~{report['record_bytes']} "
             f"bytes, median of {size['runs']} run(s) [min - max]", ""]

    def throughput(title, figures, ours):
        lines.append(f"{title:<34} {'records/s':>12} {'min - max':>21}  {'ours / this':>11}  {'CPU s':>6}")
        for name, s in figures.items():
            lines.append(f"  {name:<32} {s['median']:>12,.0f} {s['min']:>10,.0f} - {s['max']:<10,.0f} "
                         f"{ratio(figures[ours]['median'], s['median']):>11.2f}  {s['cpu_seconds']['median']:>6.1f}")
        lines.append("")

    throughput("Producer throughput", r["producer_throughput"], "ours (bulk_producer.py)")
    throughput("Consumer throughput", r["consumer_throughput"], "ours (consumer.py)")
    lines[-1:-1] = ["  (consumer.py prints a line per record, read from a pipe; the other consumers print nothing)"]
    if "producer_crc32c" in r:
        throughput("crc32c extension: producer", r["producer_crc32c"], "bulk_producer.py with crc32c")
        throughput("crc32c extension: consumer", r["consumer_crc32c"], "consumer.py with crc32c")
    if "memory" in r:
        lines.extend(memory_table(r["memory"]))
    lines.append(f"{'End-to-end latency (1 record at a time)':<40} {'p50 ms':>8} {'p99 ms':>8} {'avg ms':>8}"
                 f"  [p50 min - max]")
    for name, s in r["end_to_end_latency"].items():
        lines.append(f"  {name:<38} {s['p50_ms']['median']:>8.2f} {s['p99_ms']['median']:>8.2f} "
                     f"{s['avg_ms']['median']:>8.2f}  [{s['p50_ms']['min']:.2f} - {s['p50_ms']['max']:.2f}]")
    lines.append("  (Java rounds its percentiles down to whole ms; its average is exact)")
    lines.append("")
    for title, key in (("Time to first record (new process)", "time_to_first_record"),
                       ("Time to fail (nothing listens)", "time_to_fail")):
        lines.append(f"{title:<40} {'seconds':>8}  [min - max]")
        for name, s in r[key].items():
            lines.append(f"  {name:<38} {s['median']:>8.2f}  [{s['min']:.2f} - {s['max']:.2f}]")
        lines.append("")
    lines.append("Ratios (medians, same run)")
    for name, value in report["ratios"].items():
        lines.append(f"  {name:<50} {'-' if value is None else format(value, '.2f'):>6}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# main


def memory_table(memory):
    ours = memory["clients"]["ours (bulk_producer.py --file)"]["peak_rss_mib"]
    lines = [f"Peak memory: {memory['records']:,} records from a {memory['file_bytes'] / 1e6:.0f} MB JSON-lines file, "
             f"one run each",
             f"{'':<34} {'peak RSS MiB':>12}  {'ours / this':>11}  {'seconds':>8}  {'records/s':>10}"]
    for name, figure in memory["clients"].items():
        lines.append(f"  {name:<32} {figure['peak_rss_mib']:>12.1f}  {ratio(ours, figure['peak_rss_mib']):>11.2f}  "
                     f"{figure['seconds']:>8.2f}  {figure['records_per_s']:>10,}")
    for name, reason in memory["skipped"].items():
        lines.append(f"  {name:<32} {'skipped:':>12}  {reason}")
    small = memory["ours_at_a_tenth"]
    lines.append(f"  ours with {small['records']:,} records: {small['peak_rss_mib']:.1f} MiB peak RSS; "
                 f"with {memory['records']:,}: {ours:.1f} MiB (x{ratio(ours, small['peak_rss_mib']):.2f} "
                 f"for 10 times the records)")
    lines.append(f"  (peak RSS from wait4(): a process that does nothing shows {memory['floor_mib']:.1f} MiB this way. "
                 f"Seconds are for the")
    lines.append("   whole process, start-up included. bulk_producer.py reads the file twice, checking every line "
                 "first;")
    lines.append(f"   the others send each line as it is, without a key. Java runs with {JAVA_TOOL_HEAP}, as Kafka's "
                 f"own scripts give it.)")
    lines.append("")
    return lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Benchmark the kit against kafka-python, confluent-kafka and "
                                                 "Kafka's Java tools on a private local broker.")
    parser.add_argument("--quick", action="store_true", help="small sizes and one run each: a smoke check")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the results (default bench-results/latest.json)")
    parser.add_argument("--records", type=int, metavar="N", help="override the number of records")
    parser.add_argument("--runs", type=int, metavar="N", help="override the runs per throughput figure")
    parser.add_argument("--no-crc32c-variant", action="store_true",
                        help="skip the bulk_producer.py and consumer.py runs with the crc32c extension hidden")
    parser.add_argument("--memory-records", type=int, metavar="N",
                        help="override the lines of the file the memory table sends")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return worker_main(argv[1:])
    args = parse_args(argv)
    size = dict(SIZES["quick" if args.quick else "full"])
    if args.records:
        size["records"] = args.records
    if args.runs:
        size["runs"] = args.runs
    if args.memory_records:
        size["memory_records"] = args.memory_records

    def say(text):
        print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kafka-bench-") as workdir:
        stack = local_kafka.LocalKafka(state_dir=Path(workdir) / "stack", zk_port=local_kafka.free_port(),
                                       port=local_kafka.free_port(), owner_pid=os.getpid())
        say(f"Starting a private broker in {workdir} ...")
        try:
            stack.start()
            say(f"Broker up at {stack.bootstrap} after {time.monotonic() - started:.1f} s")
            bench = Bench(stack, size, say)
            results = {}
            say("Producer throughput")
            results["producer_throughput"] = bench.producer_throughput(workdir)
            say("Consumer throughput")
            results["consumer_throughput"] = bench.consumer_throughput()
            say("End-to-end latency")
            results["end_to_end_latency"] = bench.latency()
            say("Time to first record")
            results["time_to_first_record"] = bench.first_record()
            say("Time to fail")
            results["time_to_fail"] = bench.time_to_fail(together=args.quick)
            if not args.no_crc32c_variant:
                say("bulk_producer.py and consumer.py with and without crc32c")
                results["producer_crc32c"], results["consumer_crc32c"] = bench.crc32c_variants(workdir)
            say(f"Peak memory sending a file of {size['memory_records']:,} records")
            results["memory"] = bench.memory(workdir)
            say("log_view.py: page load, peak RSS, ack-to-cell delay")
            results["log_view"] = bench_log_view.measure(stack.bootstrap, args.quick, say)
            bench.admin.close()
        except (BenchError, local_kafka.StackError, subprocess.TimeoutExpired) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            stack.stop()
    import bulk_producer

    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "size": size,
        "mode": "quick" if args.quick else "full",
        "record_bytes": round(statistics.mean(len(v) for _, v in records(1000))),
        "producer_config": bulk_producer.PRODUCER_CONFIG,
        "results": results,
        "seconds": round(time.monotonic() - started, 1),
    }
    report["ratios"] = ratios(results)
    print(table(report) + bench_log_view.table(results["log_view"]))
    print(f"\nTotal {report['seconds']:.0f} s. Results written to {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
