#!/usr/bin/env python3
"""Benchmark the kit's scripts against raw kafka-python, confluent-kafka and Kafka's Java tools.

    python tools/bench.py            # full size: 200,000 records of ~90 bytes, 3 runs each (a few minutes)
    python tools/bench.py --quick    # a small smoke run (CI runs this through tests/test_bench.py)

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
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
REPO_DIR = TOOLS_DIR.parent
sys.path.insert(0, str(REPO_DIR))
sys.path.insert(0, str(TOOLS_DIR))

import local_kafka  # noqa: E402

DEFAULT_JSON = REPO_DIR / "bench-results" / "latest.json"
LOG4J_QUIET = REPO_DIR / "tests" / "log4j-quiet.properties"
JAVA_TOOL_HEAP = "-Xmx512m"  # what Kafka's own kafka-*-perf-test.sh scripts give their JVM

SIZES = {
    # records, runs per throughput figure, latency round trips, runs for start-up and failure timings
    "full": {"records": 200_000, "runs": 3, "latency_messages": 1000, "latency_runs": 3, "start_runs": 5,
             "fail_runs": 3},
    "quick": {"records": 5_000, "runs": 1, "latency_messages": 50, "latency_runs": 1, "start_runs": 1,
              "fail_runs": 1},
}

SUMMARY = re.compile(r"^(?:Sent|Received) ([\d,]+) records? \(([\d.]+) MB\) in ([\d.]+) s")
JAVA_PRODUCER = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")
JAVA_LATENCY = re.compile(r"Percentiles: 50th = (\d+), 99th = (\d+)")
JAVA_AVERAGE = re.compile(r"Avg latency: ([\d.]+) ms")


# --------------------------------------------------------------------------
# worker mode: one measurement by a peer client, in its own process, printed as one JSON line


def records(count):
    """The same (key, value) pairs producer.py --count sends, encoded before any timer starts."""
    import producer

    return [(producer.key_of(user), producer.encode(user)) for user in producer.generated_users(count)]


def producer_config():
    """PRODUCER_CONFIG from producer.py, with BENCH_PRODUCER_OVERRIDES (JSON) on top for experiments."""
    import producer

    return {**producer.PRODUCER_CONFIG, **json.loads(os.environ.get("BENCH_PRODUCER_OVERRIDES") or "{}")}


def worker_kafka_python_produce(bootstrap, topic, count):
    """The shortest kafka-python loop doing producer.py's job: the same users, JSON-encoded, same settings."""
    from kafka import KafkaProducer

    import producer

    client = KafkaProducer(bootstrap_servers=bootstrap, **producer_config())
    client.partitions_for(topic)  # metadata first, as producer.py does before its timer starts
    started = time.monotonic()
    for user in producer.generated_users(count):
        client.send(topic, key=user["name"].encode(), value=json.dumps(user).encode())
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
    from confluent_kafka import Producer


    data = records(count)
    config = producer_config()
    client = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
        "linger.ms": config["linger_ms"], "batch.size": config["batch_size"],
        "compression.type": config["compression_type"],
    })
    client.list_topics(topic, timeout=10)
    started = time.monotonic()
    for key, value in data:
        while True:
            try:
                client.produce(topic, value, key)
                break
            except BufferError:  # librdkafka's local queue is full: let it send
                client.poll(0.05)
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
        sender.flush()  # as producer.py does for a single record: no linger
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


WORKERS = {
    "kafka-python-produce": worker_kafka_python_produce,
    "kafka-python-bytes-produce": worker_kafka_python_bytes_produce,
    "confluent-produce": worker_confluent_produce,
    "kafka-python-consume": worker_kafka_python_consume,
    "confluent-consume": worker_confluent_consume,
    "kafka-python-latency": worker_kafka_python_latency,
}


def worker_main(argv):
    name, bootstrap, topic, count, *rest = argv
    result = WORKERS[name](bootstrap, topic, int(count), *rest)
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
        out = run([sys.executable, "producer.py", "--bootstrap-server", self.bootstrap, "--topic", topic,
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
        payload = Path(workdir) / "payload.jsonl"
        payload.write_bytes(b"\n".join(value for _, value in records(min(n, 10_000))))
        clients = {
            "ours (producer.py)": lambda t: self.produce_ours(t),
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
            "ours (consumer.py --quiet)": lambda: self.consume_ours(topic),
            "raw kafka-python": lambda: worker("kafka-python-consume", self.bootstrap, topic, n, self.new_group()),
            "raw kafka-python, bytes": lambda: worker("kafka-python-consume", self.bootstrap, topic, n,
                                                      self.new_group(), "bytes"),
            "confluent-kafka": lambda: worker("confluent-consume", self.bootstrap, topic, n, self.new_group()),
            "Java ConsumerPerformance": lambda: self.consume_java(topic),
        }
        return self.interleave("consumer", clients, fresh_topic=False)

    def consume_ours(self, topic, env=None):
        return summary_of(run([sys.executable, "consumer.py", "--bootstrap-server", self.bootstrap, "--topic", topic,
                               "--quiet", "--max-messages", self.size["records"], "--group", self.new_group()],
                              env=env))

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
            "producer.py with crc32c": lambda t: self.produce_ours(t),
            "producer.py without crc32c": lambda t: self.produce_ours(t, env=script_env(shadow)),
        }
        topic = self.new_topic("consume")
        self.fill(topic, self.size["records"])
        consumers = {
            "consumer.py with crc32c": lambda: self.consume_ours(topic),
            "consumer.py without crc32c": lambda: self.consume_ours(topic, env=script_env(shadow)),
        }
        return self.interleave("producer", producers), self.interleave("consumer", consumers, fresh_topic=False)


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
            "crc32c extension": crc}


def ratio(a, b):
    return round(a / b, 3) if b else None


def ratios(results):
    producer = {k: v["median"] for k, v in results["producer_throughput"].items()}
    consumer = {k: v["median"] for k, v in results["consumer_throughput"].items()}
    first = {k: v["median"] for k, v in results["time_to_first_record"].items()}
    ours_p, ours_c = producer["ours (producer.py)"], consumer["ours (consumer.py --quiet)"]
    out = {
        "producer: ours / raw kafka-python": ratio(ours_p, producer["raw kafka-python"]),
        "producer: ours / raw kafka-python, bytes": ratio(ours_p, producer["raw kafka-python, bytes"]),
        "producer CPU s: ours / raw kafka-python": ratio(
            results["producer_throughput"]["ours (producer.py)"]["cpu_seconds"]["median"],
            results["producer_throughput"]["raw kafka-python"]["cpu_seconds"]["median"]),
        "producer: ours / confluent-kafka": ratio(ours_p, producer["confluent-kafka"]),
        "producer: ours / Java ProducerPerformance": ratio(ours_p, producer["Java ProducerPerformance"]),
        "consumer: ours / raw kafka-python": ratio(ours_c, consumer["raw kafka-python"]),
        "consumer: ours / raw kafka-python, bytes": ratio(ours_c, consumer["raw kafka-python, bytes"]),
        "consumer CPU s: ours / raw kafka-python": ratio(
            results["consumer_throughput"]["ours (consumer.py --quiet)"]["cpu_seconds"]["median"],
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
    for script in ("producer", "consumer"):
        if f"{script}_crc32c" in results:
            crc = results[f"{script}_crc32c"]
            out[f"{script}.py: with / without crc32c"] = ratio(crc[f"{script}.py with crc32c"]["median"],
                                                               crc[f"{script}.py without crc32c"]["median"])
            out[f"{script}.py CPU s: with / without crc32c"] = ratio(
                crc[f"{script}.py with crc32c"]["cpu_seconds"]["median"],
                crc[f"{script}.py without crc32c"]["cpu_seconds"]["median"])
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

    throughput("Producer throughput", r["producer_throughput"], "ours (producer.py)")
    throughput("Consumer throughput", r["consumer_throughput"], "ours (consumer.py --quiet)")
    if "producer_crc32c" in r:
        throughput("crc32c extension: producer", r["producer_crc32c"], "producer.py with crc32c")
        throughput("crc32c extension: consumer", r["consumer_crc32c"], "consumer.py with crc32c")
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


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Benchmark the kit against kafka-python, confluent-kafka and "
                                                 "Kafka's Java tools on a private local broker.")
    parser.add_argument("--quick", action="store_true", help="small sizes and one run each: a smoke check")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the results (default bench-results/latest.json)")
    parser.add_argument("--records", type=int, metavar="N", help="override the number of records")
    parser.add_argument("--runs", type=int, metavar="N", help="override the runs per throughput figure")
    parser.add_argument("--no-crc32c-variant", action="store_true",
                        help="skip the producer.py run with the crc32c extension hidden")
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
                say("producer.py and consumer.py with and without crc32c")
                results["producer_crc32c"], results["consumer_crc32c"] = bench.crc32c_variants(workdir)
            bench.admin.close()
        except (BenchError, local_kafka.StackError, subprocess.TimeoutExpired) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        finally:
            stack.stop()
    import producer

    report = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "size": size,
        "mode": "quick" if args.quick else "full",
        "record_bytes": round(statistics.mean(len(v) for _, v in records(1000))),
        "producer_config": producer.PRODUCER_CONFIG,
        "results": results,
        "seconds": round(time.monotonic() - started, 1),
    }
    report["ratios"] = ratios(results)
    print(table(report))
    print(f"\nTotal {report['seconds']:.0f} s. Results written to {args.json}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
