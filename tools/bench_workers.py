"""The peers of tools/bench.py: each one measurement by another client, in a process of its own.

tools/bench.py starts `python tools/bench_workers.py NAME BOOTSTRAP TOPIC COUNT-OR-FILE [...]` for raw
kafka-python and confluent-kafka, so every client starts from a fresh interpreter, and each prints its
result as one JSON line. Each peer does what the script it is compared with does, and says in its
docstring what it leaves out. Also here: the users the kit generates, which the measures share.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))


def percentile(sorted_values, pct):
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


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
    """With deserialize="json" each value is parsed as consumer.py must (json.loads), else bytes only.

    "print" also prints consumer.py's line for each record to standard output, which the benchmark reads
    from a pipe as it does consumer.py's. Unlike consumer.py it commits nothing, counts no bytes, and
    handles no record that is not a JSON object.
    """
    from kafka import KafkaConsumer

    import consumer

    client = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **consumer.CONSUMER_CONFIG)
    if deserialize == "print":
        return kafka_python_consume_printing(client, topic, count)
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


def kafka_python_consume_printing(client, topic, count):
    started = time.monotonic()
    client.subscribe([topic])
    received = 0
    write = sys.stdout.write
    while received < count:
        for batch in client.poll(timeout_ms=500).values():
            received += len(batch)
            for record in batch:
                key = "-" if record.key is None else record.key.decode("utf-8", errors="replace")
                user = json.loads(record.value)
                write(f"Data Received  partition {record.partition:<3} offset {record.offset:<8} key {key:<14} "
                      f"{json.dumps(user, ensure_ascii=False)}\n")
    sys.stdout.flush()
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


def worker_kafka_python_file_keyed(bootstrap, topic, path):
    """Raw kafka-python doing bulk_producer.py --file's job line by line: parse each line, key it by name.

    It sends the line's own bytes, as bulk_producer.py does for a file of compact JSON. Unlike
    bulk_producer.py it checks nothing before sending (a bad line stops it midway, with a traceback), skips
    no blank line, and counts no acknowledgement.
    """
    from kafka import KafkaProducer

    client = KafkaProducer(bootstrap_servers=bootstrap, **producer_config())
    sent = 0
    with open(path, "rb") as lines:
        for line in lines:
            user = json.loads(line)
            key = user.get("name", user.get("id"))  # exactly as bulk_producer.py keys a record
            client.send(topic, key=None if key is None else str(key).encode(), value=line.rstrip(b"\n"))
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
    "kafka-python-file-keyed": worker_kafka_python_file_keyed,
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


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
