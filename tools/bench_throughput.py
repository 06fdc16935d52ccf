"""Records per second: bulk_producer.py --count and consumer.py beside their peers, and with or without crc32c.

Each peer runs the same number of records through the same private broker, interleaved with ours; the
CPU seconds of each process are kept too, as they are less noisy than wall time on a shared machine.
"""

import json
import re
import sys
from pathlib import Path

from bench_run import BenchError, java, run, run_draining, script_env, summary_of, worker
from bench_workers import generated_users, records

JAVA_PRODUCER = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")

def produce_ours(bench, topic, env=None):
    out = run([sys.executable, "bulk_producer.py", "--bootstrap-server", bench.bootstrap, "--topic", topic,
               "--count", bench.size["records"]], env=env)
    return summary_of(out)

def produce_java(bench, topic, payload_file):
    out = run(java("org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                   "--num-records", bench.size["records"], "--throughput", -1,
                   "--payload-file", payload_file, "--producer-props", *bench.java_producer_props()))
    match = JAVA_PRODUCER.findall(out.stdout)
    if not match:
        raise BenchError(f"ProducerPerformance printed no summary:\n{out.stdout[-1000:]}")
    count, rate, _ = match[-1]
    return {"records": int(count), "seconds": int(count) / float(rate), "bytes": None,
            "cpu_seconds": out.cpu_seconds}

def producer_throughput(bench, workdir):
    n = bench.size["records"]
    sample = records(100)
    if [json.dumps(user, separators=(",", ":")).encode() for user in generated_users(100)] != \
            [value for _, value in sample]:
        raise BenchError("generated_users() no longer matches the users bulk_producer.py --count sends")
    payload = Path(workdir) / "payload.jsonl"
    payload.write_bytes(b"\n".join(value for _, value in records(min(n, 10_000))))
    clients = {
        "ours (bulk_producer.py)": lambda t: produce_ours(bench, t),
        "raw kafka-python": lambda t: worker("kafka-python-produce", bench.bootstrap, t, n),
        "raw kafka-python, bytes": lambda t: worker("kafka-python-bytes-produce", bench.bootstrap, t, n),
        "confluent-kafka": lambda t: worker("confluent-produce", bench.bootstrap, t, n),
        "Java ProducerPerformance": lambda t: produce_java(bench, t, payload),
    }
    return {"producer_throughput": bench.interleave("producer", clients)}

def consumer_throughput(bench, workdir):
    n = bench.size["records"]
    topic = bench.new_topic("consume")
    bench.fill(topic, n)
    clients = {
        "ours (consumer.py)": lambda: consume_ours(bench, topic),
        "raw kafka-python": lambda: worker("kafka-python-consume", bench.bootstrap, topic, n, bench.new_group()),
        "raw kafka-python, printing": lambda: worker("kafka-python-consume", bench.bootstrap, topic, n,
                                                     bench.new_group(), "print", drain=True),
        "raw kafka-python, bytes": lambda: worker("kafka-python-consume", bench.bootstrap, topic, n,
                                                  bench.new_group(), "bytes"),
        "confluent-kafka": lambda: worker("confluent-consume", bench.bootstrap, topic, n, bench.new_group()),
        "Java ConsumerPerformance": lambda: consume_java(bench, topic),
    }
    return {"consumer_throughput": bench.interleave("consumer", clients, fresh_topic=False)}

def consume_ours(bench, topic, env=None):
    """consumer.py prints a line per record: the benchmark reads them all from a pipe, as a terminal would."""
    return summary_of(run_draining([sys.executable, "consumer.py", "--bootstrap-server", bench.bootstrap,
                                    "--topic", topic, "--max-messages", bench.size["records"],
                                    "--group", bench.new_group()], env=env))

def consume_java(bench, topic):
    out = run(java("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", bench.bootstrap,
                   "--topic", topic, "--messages", bench.size["records"], "--group", bench.new_group(),
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

# -- options of our own code path

def crc32c_variants(bench, workdir):
    """Our scripts with and without the crc32c C extension (requirements-speedups.txt)."""
    shadow = Path(workdir) / "no-crc32c"
    shadow.mkdir(exist_ok=True)
    (shadow / "crc32c.py").write_text("raise ImportError('hidden by tools/bench.py')\n")
    producers = {
        "bulk_producer.py with crc32c": lambda t: produce_ours(bench, t),
        "bulk_producer.py without crc32c": lambda t: produce_ours(bench, t, env=script_env(shadow)),
    }
    topic = bench.new_topic("consume")
    bench.fill(topic, bench.size["records"])
    consumers = {
        "consumer.py with crc32c": lambda: consume_ours(bench, topic),
        "consumer.py without crc32c": lambda: consume_ours(bench, topic, env=script_env(shadow)),
    }
    return {"producer_crc32c": bench.interleave("producer", producers),
            "consumer_crc32c": bench.interleave("consumer", consumers, fresh_topic=False)}

# -- peak memory sending a big file
