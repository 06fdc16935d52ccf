"""The three scripts, each run as its own process against a real broker, as a learner runs them."""

import json
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from kafka import KafkaAdminClient
from support import (
    REPO,
    consume_all,
    create_topic,
    end_offsets,
    produce_raw,
    run_script,
    script_env,
    start_script,
    unique_name,
)

NOTHING_LISTENS = "localhost:1"  # port 1: reserved, nothing answers there


def no_traceback(result):
    return "Traceback" not in result.stdout + result.stderr


# --------------------------------------------------------------------------
# create_topic.py


def test_create_topic_creates_partitions_with_leaders_and_a_producer_can_write_at_once(bootstrap):
    topic = unique_name("created")
    result = run_script("create_topic.py", "--topic", topic, "--partitions", 3, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert result.lines[0] == f"Connected to Kafka at {bootstrap}"
    assert result.lines[1] == f"Created topic '{topic}' with 3 partition(s), replication factor 1."
    partition_lines = result.lines[2:]
    assert len(partition_lines) == 3
    for number, line in enumerate(partition_lines):
        assert re.fullmatch(rf"  partition {number} +leader broker \d+ +replicas \[\d+\]  in-sync \[\d+\]", line)

    # Right after create_topic.py returns, a producer never meets LEADER_NOT_AVAILABLE.
    sent = run_script("producer.py", "--topic", topic, bootstrap=bootstrap)
    assert sent.returncode == 0, sent
    assert sum(end_offsets(bootstrap, topic).values()) == 1


def test_create_topic_again_says_it_exists_with_its_partition_count(bootstrap):
    topic = create_topic(bootstrap, unique_name("exists"), partitions=2)
    result = run_script("create_topic.py", "--topic", topic, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert f"Topic '{topic}' already exists with 2 partition(s); nothing to do." in result.lines
    assert "You asked for 1." in result.stdout
    assert no_traceback(result)


def test_create_topic_default_topic_comes_from_the_environment(bootstrap):
    topic = unique_name("from-env")
    result = run_script("create_topic.py", env=script_env(bootstrap, KAFKA_TOPIC=topic))
    assert result.returncode == 0, result
    assert f"Created topic '{topic}' with 1 partition(s), replication factor 1." in result.lines


def test_create_topic_refuses_more_replicas_than_brokers(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    too_many = len(admin.describe_cluster()["brokers"]) + 1
    admin.close()
    result = run_script("create_topic.py", "--topic", unique_name("rf"), "--replication-factor", too_many,
                        bootstrap=bootstrap)
    assert result.returncode == 1
    assert result.err_lines == [
        f"error: replication factor {too_many} is larger than the number of brokers in the cluster; "
        "use --replication-factor 1 on a single broker"]


# --------------------------------------------------------------------------
# producer.py


def test_producer_without_options_sends_the_sample_user_and_reports_where_it_landed(bootstrap, topic):
    result = run_script("producer.py", "--topic", topic, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert result.lines == [
        f'Sent  topic {topic}  partition 0   offset 0        key Ana            '
        '{"name": "Ana", "profession": "Data Engineer"}',
        f"Done: 1 record acknowledged by the broker (acks=all) on topic '{topic}'.",
    ]
    [record] = consume_all(bootstrap, topic, expected=1)
    assert record.key == b"Ana"
    assert record.value == b'{"name":"Ana","profession":"Data Engineer"}'  # compact UTF-8 JSON


def test_producer_name_and_profession(bootstrap, topic):
    result = run_script("producer.py", "--topic", topic, "--name", "Zoë", "--profession", "Pilot", bootstrap=bootstrap)
    assert result.returncode == 0, result
    [record] = consume_all(bootstrap, topic, expected=1)
    assert json.loads(record.value) == {"name": "Zoë", "profession": "Pilot"}
    assert record.value.decode("utf-8") == '{"name":"Zoë","profession":"Pilot"}'
    assert record.key == "Zoë".encode()


def test_producer_data_flag_sends_your_own_object(bootstrap, topic):
    result = run_script("producer.py", "--topic", topic, "--data", '{"id": 42, "name": "Kai", "tags": ["a"]}',
                        bootstrap=bootstrap)
    assert result.returncode == 0, result
    [record] = consume_all(bootstrap, topic, expected=1)
    assert json.loads(record.value) == {"id": 42, "name": "Kai", "tags": ["a"]}
    assert record.key == b"Kai"


def test_producer_file_keys_records_so_one_user_always_lands_on_one_partition(bootstrap, tmp_path):
    topic = create_topic(bootstrap, unique_name("keyed"), partitions=3)
    names = ["Ana", "Bo", "Cy", "Di", "Ed"]
    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps({"name": names[i % 5], "visit": i}) + "\n" for i in range(30)) + "\n")
    result = run_script("bulk_producer.py", "--topic", topic, "--file", users, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert result.lines[-1] == f"Done: 30 records acknowledged by the broker (acks=all) on topic '{topic}'."
    sent_lines = [line for line in result.lines if line.startswith("Sent  ")]
    assert len(sent_lines) == 30
    records = consume_all(bootstrap, topic, expected=30)
    partitions_of = {}
    for record in records:
        partitions_of.setdefault(record.key, set()).add(record.partition)
    assert all(len(parts) == 1 for parts in partitions_of.values()), partitions_of
    for name in names:  # within its partition, one user's records keep their order
        visits = [json.loads(r.value)["visit"] for r in records if r.key == name.encode()]
        assert visits == sorted(visits) and len(visits) == 6


def test_producer_count_sends_generated_users_with_a_summary(bootstrap):
    topic = create_topic(bootstrap, unique_name("bulk"), partitions=2)
    result = run_script("bulk_producer.py", "--topic", topic, "--count", 5000, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert re.search(r"^Sent 5,000 records \(\d+\.\d MB\) in \d+\.\d\d s: [\d,]+ records/s$", result.stdout, re.M)
    assert result.lines[-1] == f"Done: 5,000 records acknowledged by the broker (acks=all) on topic '{topic}'."
    assert len([line for line in result.lines if line.startswith("  partition ")]) == 2
    assert not any(line.startswith("Sent  topic") for line in result.lines)  # no line per record in bulk mode
    records = consume_all(bootstrap, topic, expected=5000)
    ids = [json.loads(r.value)["id"] for r in records]
    assert sorted(ids) == list(range(1, 5001))
    assert all(r.key == json.loads(r.value)["name"].encode() for r in records)
    assert 80 <= sum(len(r.value) for r in records) / len(records) <= 120  # "about 100 bytes" per user


@pytest.mark.parametrize("script, args, message", [
    ("producer.py", ["--data", "{not json"], "error: --data: invalid JSON (Expecting property name enclosed in double "
                                             "quotes); nothing was sent"),
    ("producer.py", ["--data", "[1, 2]"], "error: --data: expected a JSON object {...}, got a JSON array; "
                                          "nothing was sent"),
    ("producer.py", ["--data", "7"], "error: --data: expected a JSON object {...}, got a JSON number; "
                                     "nothing was sent"),
    ("producer.py", ["--data", '{"score": NaN}'], "error: --data: NaN is not valid JSON (JSON has no NaN or Infinity); "
                                                  "nothing was sent"),
    ("bulk_producer.py", ["--file", "/no/such/users.jsonl"], "error: cannot read /no/such/users.jsonl: No such file or "
                                                             "directory; nothing was sent"),
    ("bulk_producer.py", ["--count", "0"], "bulk_producer.py: error: argument --count: must be at least 1, got 0 "
                                           "(see --help)"),
    ("bulk_producer.py", ["--count", "-5"], "bulk_producer.py: error: argument --count: must be at least 1, got -5 "
                                            "(see --help)"),
    ("producer.py", ["--bootstrap-server", "localhost"], "producer.py: error: argument --bootstrap-server: 'localhost' "
                                                         "has no port"),
    ("producer.py", ["--bootstrap-server", "localhost:abc"], "producer.py: error: argument --bootstrap-server: "
                                                             "'localhost:abc' has a port that is not a number"),
    ("producer.py", ["--bootstrap-server", ""], "producer.py: error: argument --bootstrap-server: the bootstrap server "
                                                "is empty"),
    ("producer.py", ["--colour", "red"], "producer.py: error: unrecognized arguments: --colour red"),
    ("producer.py", ["--count", "5"], "producer.py: error: unrecognized arguments: --count 5"),
])
def test_producer_bad_input_is_one_line_exit_2_and_nothing_sent(bootstrap, topic, script, args, message):
    result = run_script(script, "--topic", topic, *args, bootstrap=bootstrap)
    assert result.returncode == 2, result
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith(message), result
    assert result.stdout == ""
    assert end_offsets(bootstrap, topic) == {0: 0}


def test_producer_bad_lines_are_listed_with_their_numbers_and_nothing_is_sent(bootstrap, topic, tmp_path):
    users = tmp_path / "users.jsonl"
    users.write_bytes(b'{"name": "ok"}\n{"name": broken}\n\n[1]\n{"name": "fine"}\n')
    result = run_script("bulk_producer.py", "--topic", topic, "--file", users, bootstrap=bootstrap)
    assert result.returncode == 2
    assert result.err_lines == [
        f"error: {users} has 2 bad line(s): line 2: invalid JSON (Expecting value); line 4: expected a JSON "
        "object {...}, got a JSON array; nothing was sent"]
    assert end_offsets(bootstrap, topic) == {0: 0}


def test_producer_unknown_topic_fails_fast_and_says_how_to_create_it(bootstrap):
    missing = unique_name("missing")
    result = run_script("producer.py", "--topic", missing, bootstrap=bootstrap)
    assert result.returncode == 1
    assert result.seconds < 10
    assert result.err_lines == [
        f"error: topic '{missing}' does not exist at {bootstrap}; create it with "
        f"'python create_topic.py --topic {missing}'; nothing was sent"]


# --------------------------------------------------------------------------
# every script: an unreachable broker and a malformed address


@pytest.mark.parametrize("script", ["create_topic.py", "producer.py", "consumer.py"])
def test_unreachable_broker_is_one_line_naming_the_address_and_the_fix_within_10s(script):
    result = run_script(script, bootstrap=NOTHING_LISTENS)
    assert result.returncode == 1, result
    assert result.seconds < 10
    assert result.err_lines == [
        f"error: cannot reach Kafka at {NOTHING_LISTENS}: start it with 'docker compose up -d' or "
        "'python tools/local_kafka.py start', or point --bootstrap-server / KAFKA_BOOTSTRAP_SERVERS at your broker"]
    assert no_traceback(result)


@pytest.mark.parametrize("script", ["create_topic.py", "producer.py", "consumer.py"])
@pytest.mark.parametrize("address, problem", [
    ("", "the bootstrap server is empty"),
    ("kafka.example.com", "'kafka.example.com' has no port"),
    ("localhost:nine", "'localhost:nine' has a port that is not a number"),
])
def test_malformed_address_from_the_environment_is_a_usage_error(script, address, problem):
    result = run_script(script, env=script_env(None, KAFKA_BOOTSTRAP_SERVERS=address))
    assert result.returncode == 2
    assert len(result.err_lines) == 1
    assert f"{script}: error: argument --bootstrap-server: {problem}" in result.err_lines[0]


VERBOSE_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} DEBUG kafka\.io: "
                              r"a log line from kafka-python's thread$")


def test_with_verbose_an_error_line_is_never_glued_to_a_log_line():
    """With -v, kafka-python logs onto standard error from its own thread, where the kit's error lines go too.
    print() writes a line and its newline separately, so a log line could land between them: seen in a test run
    (2026-12-07) as 'Stopped by Ctrl-C before joining the group.2026-12-07 15:08:40,608 INFO kafka.net...'.
    Here a thread logs without pause while the kit prints its error line 3,000 times."""
    code = textwrap.dedent("""
        import logging, sys, threading
        sys.path.insert(0, sys.argv[1])
        import helpers
        helpers.configure_logging(True)
        log = logging.getLogger("kafka.io")
        def chatter():
            while True:
                log.debug("a log line from kafka-python's thread")
        threading.Thread(target=chatter, daemon=True).start()
        for _ in range(3000):
            helpers.fail("the broker went away", None)
    """)
    result = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert lines.count("error: the broker went away") == 3000
    glued = [line for line in lines if line != "error: the broker went away" and not VERBOSE_LOG_LINE.match(line)]
    assert not glued, f"{len(glued)} glued lines, e.g. {glued[:3]}"


# --------------------------------------------------------------------------
# consumer.py


def test_consumer_shows_a_record_sent_before_it_started(bootstrap, topic):
    assert run_script("producer.py", "--topic", topic, bootstrap=bootstrap).returncode == 0
    group = unique_name("g")
    result = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", 1, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert result.lines == [
        f"Consumer in group '{group}' reading topic '{topic}' at {bootstrap}. Waiting for records (Ctrl-C to stop)...",
        f"Group '{group}' has no committed offsets yet: it starts from the oldest record "
        "(auto_offset_reset='earliest').",
        f"Group '{group}': assigned partitions [0] of topic '{topic}'",
        'Data Received  partition 0   offset 0        key Ana            '
        '{"name": "Ana", "profession": "Data Engineer"}',
        result.lines[4],
        f"Reached --max-messages 1. Offsets committed for group '{group}': "
        f"run again with --group {group} to continue from here.",
    ]
    assert re.fullmatch(r"Received 1 record \(0\.0 MB\) in \d+\.\d\d s: [\d,]+ records/s", result.lines[4])


def test_consumer_ctrl_c_commits_and_a_rerun_continues_where_it_stopped(bootstrap, topic, tmp_path):
    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps({"name": f"u{i}"}) + "\n" for i in range(3)))
    assert run_script("bulk_producer.py", "--topic", topic, "--file", users, bootstrap=bootstrap).returncode == 0
    group = unique_name("g")
    consumer = start_script("consumer.py", "--topic", topic, "--group", group, bootstrap=bootstrap)
    consumer.wait_for(r"^Data Received .* offset 2 ", timeout=30)
    code = consumer.interrupt(timeout=15)
    assert code == 0, consumer.text
    assert "Traceback" not in consumer.text and "KeyboardInterrupt" not in consumer.text
    assert consumer.lines[-1] == (f"Stopped by Ctrl-C. Offsets committed for group '{group}': "
                                  f"run again with --group {group} to continue from here.")

    # New records arrive while the consumer is stopped; the rerun shows only those.
    assert run_script("producer.py", "--topic", topic, "--name", "late", bootstrap=bootstrap).returncode == 0
    rerun = run_script("consumer.py", "--topic", topic, "--group", group, "--timeout", 3, bootstrap=bootstrap)
    assert rerun.returncode == 0, rerun
    assert f"Group '{group}' continues where it left off: partition 0 at offset 3." in rerun.lines
    shown = [line for line in rerun.lines if line.startswith("Data Received")]
    assert len(shown) == 1 and "offset 3 " in shown[0] and '"late"' in shown[0]
    assert rerun.lines[-1].startswith("No new records for 3 s (--timeout).")


def test_consumer_ctrl_c_while_waiting_for_records_exits_0_without_traceback(bootstrap, topic):
    consumer = start_script("consumer.py", "--topic", topic, "--group", unique_name("g"), bootstrap=bootstrap)
    consumer.wait_for(r"assigned partitions \[0\]", timeout=30)
    started = time.monotonic()
    assert consumer.interrupt(timeout=15) == 0
    assert time.monotonic() - started < 5
    assert "Traceback" not in consumer.text
    assert "Received 0 records" in consumer.text and "Stopped by Ctrl-C." in consumer.text


def test_consumer_sigterm_stops_like_ctrl_c(bootstrap, topic):
    consumer = start_script("consumer.py", "--topic", topic, "--group", unique_name("g"), bootstrap=bootstrap)
    consumer.wait_for(r"assigned partitions \[0\]", timeout=30)
    consumer.signal(signal.SIGTERM)
    assert consumer.wait(15) == 0
    assert "Stopped by Ctrl-C." in consumer.text and "Traceback" not in consumer.text


def test_consumer_warns_about_a_record_that_is_not_json_and_keeps_going(bootstrap, topic):
    produce_raw(bootstrap, topic, [b"plain words", b"\xff\xfe", b'{"name": "after"}'], keys=[None, b"k", b"after"])
    result = run_script("consumer.py", "--topic", topic, "--group", unique_name("g"), "--max-messages", 3,
                        bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert "Warning: partition 0 offset 0: not JSON, shown raw: b'plain words'" in result.lines
    assert "Warning: partition 0 offset 1: not UTF-8 text, shown raw: b'\\xff\\xfe'" in result.lines
    assert any(line.startswith("Data Received  partition 0   offset 2 ") and '"after"' in line
               for line in result.lines)
    assert "; 2 bad record(s) skipped" in result.stdout


def test_consumer_unknown_topic_says_how_to_create_it(bootstrap):
    missing = unique_name("missing")
    result = run_script("consumer.py", "--topic", missing, bootstrap=bootstrap)
    assert result.returncode == 1
    assert result.seconds < 10
    assert result.err_lines == [f"error: topic '{missing}' does not exist at {bootstrap}; create it with "
                                f"'python create_topic.py --topic {missing}'"]


def test_consumer_groups_each_get_every_record(bootstrap):
    topic = create_topic(bootstrap, unique_name("groups"), partitions=2)
    assert run_script("bulk_producer.py", "--topic", topic, "--count", 2000, bootstrap=bootstrap).returncode == 0
    for group in (unique_name("a"), unique_name("b")):
        result = run_script("consumer.py", "--topic", topic, "--group", group, "--max-messages", 2000,
                            bootstrap=bootstrap)
        assert result.returncode == 0, result
        shown = [json.loads(line.split(None, 8)[-1])["id"] for line in result.lines if line.startswith("Data Received")]
        assert sorted(shown) == list(range(1, 2001))
        assert re.search(r"^Received 2,000 records \(0\.\d MB\) in \d+\.\d\d s: [\d,]+ records/s$", result.stdout,
                         re.M), result


@pytest.mark.parametrize("script, args", [
    ("consumer.py", ["--max-messages", "0"]),
    ("consumer.py", ["--timeout", "-1"]),
    ("create_topic.py", ["--partitions", "0"]),
    ("create_topic.py", ["--partitions", "many"]),
])
def test_bad_numbers_are_usage_errors(script, args):
    result = run_script(script, *args, bootstrap=NOTHING_LISTENS)
    assert result.returncode == 2
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith(f"{script}: error: argument ")


@pytest.mark.parametrize("script, args", [
    ("consumer.py", ["--max-messages", "100", "--timeout", "5"]),
    ("bulk_producer.py", []),
])
def test_output_piped_into_head_ends_without_a_traceback(bootstrap, tmp_path, script, args):
    topic = create_topic(bootstrap, unique_name("pipe"))
    users = tmp_path / "users.jsonl"
    users.write_text("".join(json.dumps({"name": f"u{i}", "bio": "x" * 900}) + "\n" for i in range(100)))
    assert run_script("bulk_producer.py", "--topic", topic, "--file", users, bootstrap=bootstrap).returncode == 0
    if script == "bulk_producer.py":
        args = ["--file", str(users)]
    command = f"{sys.executable} {REPO / script} --topic {topic} {' '.join(args)} | head -n 2"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60,
                            env=script_env(bootstrap))
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr.strip() == "", result.stderr
    assert result.returncode == 1
