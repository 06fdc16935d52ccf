"""Hostile and malformed input, table by table: what a learner (or a stranger's data) can throw at the kit.

Every bad input must get a one-line error that names the problem, the right exit code, no traceback and,
for the producer, nothing written to the topic. A consumer must survive any bytes in a topic."""

import json
import re
import secrets
import time

import pytest
from support import create_topic, end_offsets, java_tool, librdkafka_produce, run_script, script_env, unique_name

CONSOLE_PRODUCER = "kafka.tools.ConsoleProducer"


def one_line_error(result, code, *phrases):
    """Exit `code`, nothing on stdout, exactly one line on stderr containing every phrase."""
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr, result
    assert len(result.err_lines) == 1, result
    for phrase in phrases:
        assert phrase in result.err_lines[0], (phrase, result)


# ---------------------------------------------------------------------------------------------------
# producer.py: every bad record is refused before anything is sent


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


BIG_BLOB = "x" * 1_100_000

PRODUCER_CASES = [
    # id, arguments (given tmp_path), phrases the one error line must contain
    ("invalid-json", lambda p: ["--data", '{"name": "Ana"'], ["--data: invalid JSON"]),
    ("empty-data", lambda p: ["--data", ""], ["--data: invalid JSON"]),
    ("json-array", lambda p: ["--data", '[{"name": "Ana"}]'], ["--data: expected a JSON object", "got a JSON array"]),
    ("json-number", lambda p: ["--data", "42"], ["--data: expected a JSON object", "got a JSON number"]),
    ("json-string", lambda p: ["--data", '"Ana"'], ["got a JSON string"]),
    ("json-null", lambda p: ["--data", "null"], ["got a JSON null"]),
    ("missing-file", lambda p: ["--file", str(p / "nope.jsonl")],
     ["cannot read", "nope.jsonl", "No such file or directory"]),
    # chmod 000 does not stop root (the tests run as root in CI): a directory cannot be read by anyone.
    ("unreadable-file", lambda p: ["--file", str(p)], ["cannot read", "Is a directory"]),
    ("jsonl-bad-lines", lambda p: ["--file", write(p, "users.jsonl", '{"name": "Ana"}\n{"name": "Bo"\n[1, 2]\n'
                                                                     '"Cy"\n{"name": "Di"}\n')],
     ["users.jsonl has 3 bad line(s)", "line 2: invalid JSON", "line 3: expected a JSON object",
      "got a JSON array", "line 4: expected a JSON object"]),
    ("record-over-1-mb", lambda p: ["--file", write(p, "big.jsonl", json.dumps({"name": "Big", "blob": BIG_BLOB}))],
     ["line 1: the record is 1,100,0", "bytes; Kafka accepts at most about 1 MB", "message.max.bytes"]),
    ("not-utf8-file", lambda p: ["--file", write(p, "latin1.jsonl", '{"name": "Jos\u00e9"}\n'.encode("latin-1"))],
     ["latin1.jsonl has 1 bad line(s): line 1: not UTF-8 text"]),
    ("empty-file", lambda p: ["--file", write(p, "empty.jsonl", "\n\n")], ["empty.jsonl has no records"]),
]


@pytest.mark.parametrize("args, phrases", [case[1:] for case in PRODUCER_CASES], ids=[c[0] for c in PRODUCER_CASES])
def test_producer_refuses_bad_records_and_sends_nothing(bootstrap, topic, tmp_path, args, phrases):
    args = args(tmp_path)
    script = "bulk_producer.py" if args[0] == "--file" else "producer.py"  # --data is producer.py's
    result = run_script(script, "--topic", topic, *args, bootstrap=bootstrap)
    one_line_error(result, 2, *phrases, "nothing was sent")
    assert result.stdout == ""
    assert end_offsets(bootstrap, topic) == {0: 0}  # not one record reached the topic


# ---------------------------------------------------------------------------------------------------
# consumer.py: records nobody validated, written by librdkafka and Kafka's own console producer


def test_consumer_warns_about_each_bad_record_and_keeps_printing_good_ones(bootstrap, topic, tmp_path):
    def librdkafka(*records, **config):  # bytes as they are: empty, null, not text, 1 MB
        librdkafka_produce(bootstrap, topic, records, **config)

    def console_producer(text):  # no key given: null keys
        result = java_tool(CONSOLE_PRODUCER, "--bootstrap-server", bootstrap, "--topic", topic, input=text)
        assert result.returncode == 0, result.stderr

    big = json.dumps({"name": "Big", "blob": "y" * 999_000})
    librdkafka((b"k0", b'{"name": "Ana"}'), (b"k1", b""), (b"k2", b"hello, plain text"),
               (b"k3", b"[1, 2, 3]"))                                                       # offsets 0-3
    librdkafka((None, b"\xff\xfe\x00 not text \x80"))                                     # 4
    console_producer('42\n{"name": "Bo", "profession": "Nurse"}\n')                         # 5, 6 (null keys)
    big_records = {"message.max.bytes": 2_000_000}
    librdkafka((None, big.encode()), **big_records)                                         # 7: a 1 MB JSON object
    librdkafka((None, b"z" * 1_000_000), **big_records)                                     # 8: 1 MB, not JSON
    librdkafka((b"k9", None))                                                               # 9: a tombstone
    librdkafka((b"k10", b'{"name": "Zed"}'))                                                # 10
    assert end_offsets(bootstrap, topic) == {0: 11}

    result = run_script("consumer.py", "--topic", topic, "--group", unique_name("hostile"), "--max-messages", 11,
                        bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert "Traceback" not in result.stderr
    warnings = {int(m.group(1)): m.group(2) for m in
                re.finditer(r"^Warning: partition 0 offset (\d+): (.+?), shown raw: ", result.stdout, re.MULTILINE)}
    assert warnings == {1: "empty value", 2: "not JSON", 3: "JSON, but not an object", 4: "not UTF-8 text",
                        5: "JSON, but not an object", 8: "not JSON"}, result.stdout[:3000]
    good = re.findall(r"^Data Received  partition 0   offset (\d+) +key (\S+) +(.*)$", result.stdout, re.MULTILINE)
    assert [(int(o), k) for o, k, _ in good] == [(0, "k0"), (6, "-"), (7, "-"), (10, "k10")]
    assert json.loads(good[2][2]) == json.loads(big)  # the 1 MB record arrives whole
    assert json.loads(good[3][2]) == {"name": "Zed"}  # good records after bad ones are still printed
    # A 1 MB bad value gets a short preview, not a 1 MB line.
    assert max(len(line) for line in result.lines if line.startswith("Warning:")) < 300
    # A null value is a tombstone (a delete, by convention), not a bad record.
    assert re.search(r"^Tombstone      partition 0   offset 9        key k9 +\(null value: the record with this key "
                     r"was deleted\)$", result.stdout, re.MULTILINE), result.stdout[:3000]
    assert re.search(r"^Received 11 records .*; 6 bad record\(s\) skipped$", result.stdout, re.MULTILINE), result


# ---------------------------------------------------------------------------------------------------
# every script: bad addresses, unknown topics, bad counts, unknown flags

SCRIPTS = ["create_topic.py", "producer.py", "consumer.py", "bulk_producer.py", "transactional_producer.py"]
BAD_ADDRESSES = [
    ("no-port", "localhost", "has no port"),
    ("port-not-a-number", "localhost:abc", "not a number from 1 to 65535"),
    ("port-too-big", "localhost:99999", "not a number from 1 to 65535"),
    ("no-host", ":9092", "has no port"),
    ("empty", "", "the bootstrap server is empty"),
    ("one-bad-in-list", "localhost:9092,broker2", "'broker2' has no port"),
]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("address, phrase", [c[1:] for c in BAD_ADDRESSES], ids=[c[0] for c in BAD_ADDRESSES])
def test_malformed_bootstrap_address_is_a_usage_error(script, address, phrase):
    result = run_script(script, "--bootstrap-server", address, "--topic", "Users", env=script_env(None))
    one_line_error(result, 2, "--bootstrap-server", phrase)
    assert result.seconds < 5, result.seconds


@pytest.mark.parametrize("script, args", [("producer.py", []), ("consumer.py", []),
                                          ("bulk_producer.py", ["--count", 5]), ("transactional_producer.py", [])])
def test_unknown_topic_is_reported_within_10_seconds(bootstrap, script, args):
    missing = unique_name("no-such-topic")
    started = time.monotonic()
    result = run_script(script, "--topic", missing, *args, bootstrap=bootstrap)
    seconds = time.monotonic() - started
    one_line_error(result, 1, f"topic '{missing}' does not exist", f"python create_topic.py --topic {missing}")
    assert seconds < 10, seconds
    assert missing not in end_offsets_topics(bootstrap)  # the broker did not auto-create it


def end_offsets_topics(bootstrap):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


COUNT_CASES = [
    ("bulk_producer.py", "--count", "0", "must be at least 1, got 0"),
    ("bulk_producer.py", "--count", "-5", "must be at least 1, got -5"),
    ("bulk_producer.py", "--count", "ten", "'ten' is not a whole number"),
    ("bulk_producer.py", "--delivery-timeout", "5", "--delivery-timeout must be more than 10 seconds"),
    ("transactional_producer.py", "--count", "0", "must be at least 1, got 0"),
    ("consumer.py", "--max-messages", "0", "must be at least 1, got 0"),
    ("consumer.py", "--max-messages", "-1", "must be at least 1, got -1"),
    ("consumer.py", "--timeout", "0", "must be more than 0 seconds"),
    ("create_topic.py", "--partitions", "0", "must be at least 1, got 0"),
    ("create_topic.py", "--replication-factor", "-1", "must be at least 1, got -1"),
]


@pytest.mark.parametrize("script, flag, value, phrase", COUNT_CASES,
                         ids=[f"{c[0]}{c[1]}={c[2]}" for c in COUNT_CASES])
def test_zero_or_negative_counts_are_usage_errors(bootstrap, script, flag, value, phrase):
    source = ["--count", "5"] if script == "bulk_producer.py" and flag != "--count" else []
    result = run_script(script, f"{flag}={value}", *source, "--topic", "Users", bootstrap=bootstrap)
    one_line_error(result, 2, phrase)


@pytest.mark.parametrize("script", SCRIPTS)
def test_unknown_flag_is_a_usage_error(script):
    result = run_script(script, "--bootstrap-servers", "localhost:9092", env=script_env(None))
    one_line_error(result, 2, "unrecognized arguments: --bootstrap-servers", "(see --help)")
    assert result.stdout == ""


def test_a_broker_limit_below_1_mb_is_reported_not_hidden(bootstrap, tmp_path):
    """When a topic's max.message.bytes is lower than the producer's own 1 MB check, the broker refuses the
    record: the producer must say so and exit 1, never claim success."""
    topic = create_topic(bootstrap, unique_name("small-limit"), configs={"max.message.bytes": "20000"})
    blob = secrets.token_hex(30000)  # random: compression cannot bring it under the limit
    path = write(tmp_path, "one-big.jsonl", json.dumps({"name": "Big", "blob": blob}) + "\n")
    result = run_script("bulk_producer.py", "--topic", topic, "--file", path, bootstrap=bootstrap)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result
    assert "Done:" not in result.stdout
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith("error: "), result
    assert "1 of 1 records were NOT acknowledged" in result.err_lines[0], result
    assert "MESSAGE_SIZE_TOO_LARGE" in result.err_lines[0], result
    assert end_offsets(bootstrap, topic) == {0: 0}


def test_a_broker_limit_below_1_mb_is_reported_by_the_single_record_producer_too(bootstrap):
    topic = create_topic(bootstrap, unique_name("small-limit"), configs={"max.message.bytes": "20000"})
    data = json.dumps({"name": "Big", "blob": secrets.token_hex(30000)})
    result = run_script("producer.py", "--topic", topic, "--data", data, bootstrap=bootstrap)
    one_line_error(result, 1, "error: the record was NOT acknowledged by the broker", "MESSAGE_SIZE_TOO_LARGE",
                   "it may or may not be stored")
    assert result.stdout == ""
    assert end_offsets(bootstrap, topic) == {0: 0}
