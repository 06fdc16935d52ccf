"""Change data capture: a real PostgreSQL table -> Debezium in a real Connect worker -> a topic -> consumer.py.

PostgreSQL runs with wal_level=logical from tools/local_postgres.py (the machine's server, or the pinned
binaries from Maven Central; LOCAL_POSTGRES_BINARIES=maven forces those), private data dir, free port.
The Connect worker is the kit's Kafka 3.9.2 ConnectDistributed from the Maven jars, configured by
tools/connect/cdc-worker.properties, with the Debezium plugin on its plugin path, fetched like every
other jar: pinned in tools/jars.lock (set debezium-3.6.1, from tools/pom-debezium.xml), no Maven needed.
The connector is tools/connect/users-cdc.json, registered over the REST API. The module has its
own Kafka stack, so it can stop the broker without disturbing other tests.
Every change written to the table is compared with the line consumer.py printed for it.
"""

import json
import os
import re
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import docs_replay
import pytest
from compose_check import bind_mounts, connect_worker_properties, environment, load_compose, service
from conftest import say
from docs_replay import mask, matches
from support import REPO, Background, local_kafka, local_postgres, read_properties, run_script, script_env, unique_name

CONNECT_DIR = REPO / "tools" / "connect"
WORKER_PROPERTIES = CONNECT_DIR / "cdc-worker.properties"
CONNECTOR_JSON = CONNECT_DIR / "users-cdc.json"
DEBEZIUM_POM = REPO / "tools" / "pom-debezium.xml"
COMPOSE = REPO / "docker-compose.yml"
TOPIC = "kit.public.users"  # Debezium's name for it: <topic.prefix>.<schema>.<table>
PARTITIONS = 3

# consumer.py's lines for a row and for a deleted row.
RECORD_LINE = re.compile(r"^(?P<kind>Data Received|Tombstone)\s+partition (?P<partition>\d+)\s+"
                         r"offset (?P<offset>\d+)\s+key (?P<key>\S+)\s+(?P<rest>.*)$")


def figures(message):
    """Measured numbers, shown in the CI log even though pytest captures output (sys.__stderr__ is captured too)."""
    say(f"[figures] {message}")


# --------------------------------------------------------------------------
# Debezium's jars and PostgreSQL: one function each, so either can be swapped for another source.


def debezium_version():
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    return ElementTree.parse(DEBEZIUM_POM).getroot().find("m:properties/m:debezium.version", namespace).text


def fetch_debezium_plugin():
    """The Debezium plugin, from the lock file like every other jar: a folder holding one plugin folder,
    which is what plugin.path wants. A no-op when the jars are there."""
    local_kafka.fetch_jars(local_kafka.DEBEZIUM_SET, quiet=True)
    plugin_path = local_kafka.DEBEZIUM_PLUGIN_PATH
    assert plugin_path.name == f"debezium-{debezium_version()}", "tools/pom-debezium.xml and JAR_SETS disagree"
    assert list(plugin_path.glob("debezium-connector-postgres/debezium-connector-postgres-*.jar"))
    return plugin_path


def connector_password():
    return json.loads(CONNECTOR_JSON.read_text())["database.password"]


def start_postgres(logical=True, password=None):
    """A private PostgreSQL server from tools/local_postgres.py, as the store_users tests get theirs.

    Its user (kit) is the server's superuser, so it may replicate and owns the database `postgres`:
    all Debezium needs. With a password, connections over TCP must give it (scram-sha-256).
    """
    server = local_postgres.LocalPostgres(tempfile.mkdtemp(prefix="kit-cdc-pg-"), port=local_kafka.free_port(),
                                          logical=logical, password=password or connector_password(),
                                          owner_pid=os.getpid())
    server.start()
    say(f"CDC: {server.binaries.describe()} at 127.0.0.1:{server.port}, logical decoding {logical}")
    return server


# --------------------------------------------------------------------------
# A distributed Connect worker, started and stopped like a learner would


class ConnectWorker:
    def __init__(self, props, directory, cwd=REPO):
        self.cwd = cwd  # plugin.path is relative to it
        self.port = local_kafka.free_port()
        props = {**props, "listeners": f"http://localhost:{self.port}", "rest.advertised.host.name": "localhost",
                 "rest.advertised.port": str(self.port)}
        self.properties = directory / f"worker-{self.port}.properties"
        self.properties.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
        self.process = None
        self.logs = []  # the output of every run of this worker

    @property
    def rest(self):
        return f"http://localhost:{self.port}"

    def start(self):
        command = ["java", "-Xmx384m", *local_kafka.jvm_performance_options(),
                   f"-Dlog4j.configuration=file:{CONNECT_DIR / 'log4j.properties'}",
                   f"-D{local_kafka.OWNER_PROPERTY}={os.getpid()}",  # a killed test run's leftovers get cleaned up
                   "-cp", local_kafka.classpath(), "org.apache.kafka.connect.cli.ConnectDistributed",
                   str(self.properties)]
        self.process = Background(command, env=dict(os.environ), cwd=self.cwd)
        self.logs.append(self.process)
        self.process.wait_for(r"Kafka Connect started", timeout=120)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/connectors")
                return
            except OSError:
                assert time.monotonic() < deadline, self.process.text[-3000:]
                time.sleep(0.5)

    def get(self, path):
        with urllib.request.urlopen(self.rest + path, timeout=10) as answer:
            return json.load(answer)

    def put_connector(self, config):
        """PUT /connectors/<name>/config, as `curl -X PUT --data @file` does; returns the HTTP status."""
        request = urllib.request.Request(f"{self.rest}/connectors/{config['name']}/config", method="PUT",
                                         data=json.dumps(config).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status

    def states(self, name):
        status = self.get(f"/connectors/{name}/status")
        return [status["connector"]["state"]] + [task["state"] for task in status["tasks"]]

    def wait_until_streaming(self, timeout=90, count=1):
        """Debezium logs this once its snapshot is done and it reads the replication slot (count: the how-manieth
        time in this run of the worker)."""
        self.process.wait_for(r"Starting streaming", timeout=timeout, count=count)

    def wait_until_stopped(self, name, timeout=30):
        """PUT /connectors/<name>/stop is asynchronous: the offsets can be deleted only once it is STOPPED."""
        deadline = time.monotonic() + timeout
        while self.states(name)[0] != "STOPPED":
            assert time.monotonic() < deadline, self.states(name)
            time.sleep(0.2)

    def kill(self):
        """kill -9: no chance to save offsets or say goodbye, as in a crash."""
        self.process.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self):
        if self.process and self.process.process.poll() is None:
            try:
                self.process.interrupt(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    @property
    def text(self):
        return "\n".join(run.text for run in self.logs)


# --------------------------------------------------------------------------
# The fixtures: one stack, one database, one worker and one connector for the whole module


@pytest.fixture(scope="module")
def cdc_kafka(stack_factory):
    return stack_factory.start()


@pytest.fixture(scope="module")
def cdc_postgres():
    server = start_postgres()
    yield server
    server.stop(clean=True)


def change_users(postgres, *args):
    """change_users.py, as the learner runs it; returns its one line."""
    done = run_script("change_users.py", *args, env={**script_env(None), "KIT_POSTGRES_URL": postgres.url})
    assert done.returncode == 0, done
    assert len(done.lines) == 1, done
    return done.lines[0]


def row_of(line):
    """'Inserted user 1    {"id": 1, ...}' -> the id and the JSON text, as printed."""
    text = line[line.index("{"):]
    return json.loads(text)["id"], text


@pytest.fixture(scope="module")
def cdc(cdc_kafka, cdc_postgres, tmp_path_factory):
    """The walkthrough's setup: a table with one user, the topic, the worker, the connector registered."""
    plugin_path = fetch_debezium_plugin()
    props = read_properties(WORKER_PROPERTIES)
    assert REPO / props["plugin.path"] == plugin_path, "cdc-worker.properties and pom-debezium.xml disagree"
    props["bootstrap.servers"] = cdc_kafka.bootstrap

    change_users(cdc_postgres, "insert", "Ada", "Mathematician")  # creates the table: Debezium snapshots it
    created = run_script("create_topic.py", "--topic", TOPIC, "--partitions", PARTITIONS, bootstrap=cdc_kafka.bootstrap)
    assert created.returncode == 0, created

    worker = ConnectWorker(props, tmp_path_factory.mktemp("connect"))
    try:
        worker.start()
        config = {**json.loads(CONNECTOR_JSON.read_text()), "database.port": str(cdc_postgres.port)}
        assert worker.put_connector(config) == 201
        worker.wait_until_streaming()
        assert worker.states("users-cdc") == ["RUNNING", "RUNNING"]
        yield {"worker": worker, "bootstrap": cdc_kafka.bootstrap, "stack": cdc_kafka, "postgres": cdc_postgres}
    finally:
        worker.stop()
    assert cdc_postgres.password not in worker.text, "the database password appeared in Connect's log"


def parse_records(lines):
    """consumer.py's record lines -> [(id, value JSON text or None for a tombstone, partition)]."""
    records = []
    for line in lines:
        match = RECORD_LINE.match(line)
        if match:
            key = json.loads(match["key"])
            value = None if match["kind"] == "Tombstone" else match["rest"]
            records.append((key["id"], value, int(match["partition"])))
    return records


def by_key(records, ids):
    """{id: [values in the order consumer.py printed them]} for the given ids, and {id: {partitions}}."""
    values, partitions = {i: [] for i in ids}, {i: set() for i in ids}
    for key, value, partition in records:
        if key in values:
            values[key].append(value)
            partitions[key].add(partition)
    return values, partitions


def consume(bootstrap):
    """consumer.py in a new group: the whole topic, from the oldest record, until 8 s pass without one."""
    done = run_script("consumer.py", "--topic", TOPIC, "--group", unique_name("cdc"), "--timeout", 8,
                      bootstrap=bootstrap, timeout=120)
    assert done.returncode == 0, done
    return done


# --------------------------------------------------------------------------
# The walkthrough


class TimedConsumer:
    """consumer.py in the background; the moment each record line arrived, by the row's id and value."""

    def __init__(self, bootstrap):
        command = [sys.executable, str(REPO / "consumer.py"), "--topic", TOPIC, "--group", unique_name("cdc-timed")]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=script_env(bootstrap), cwd=REPO, bufsize=1)
        self.lines, self.arrived = [], {}
        self.assigned = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            now = time.monotonic()
            self.lines.append(line.rstrip("\n"))
            if "assigned partitions" in line:
                self.assigned.set()
            for key, value, _ in parse_records([line.rstrip("\n")]):
                self.arrived.setdefault((key, value), now)

    def wait_for(self, wanted, timeout):
        deadline = time.monotonic() + timeout
        while not wanted <= set(self.arrived) and time.monotonic() < deadline:
            time.sleep(0.1)
        return wanted - set(self.arrived)

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.reader.join(5)


def insert_rows(postgres, names, per_second, committed):
    """Insert one row per transaction at a steady pace; committed[(id, value)] = when COMMIT returned."""
    import psycopg

    with psycopg.connect(postgres.url, autocommit=True) as connection:
        start = time.monotonic()
        for number, name in enumerate(names):
            time.sleep(max(0.0, start + number / per_second - time.monotonic()))
            row = connection.execute("INSERT INTO users (name, profession) VALUES (%s, %s) "
                                     "RETURNING id, name, profession", (name, "Latency probe")).fetchone()
            committed[(row[0], json.dumps(dict(zip(("id", "name", "profession"), row))))] = time.monotonic()


def test_latency_from_commit_to_the_consumers_line(cdc):
    """200 inserts, 40 a second: each one's time from COMMIT in PostgreSQL to consumer.py's line."""
    consumer = TimedConsumer(cdc["bootstrap"])
    try:
        assert consumer.assigned.wait(60), "\n".join(consumer.lines)
        committed = {}
        insert_rows(cdc["postgres"], [f"probe-{n:03}" for n in range(200)], per_second=40, committed=committed)
        missing = consumer.wait_for(set(committed), timeout=60)
    finally:
        consumer.stop()
    assert not missing, f"{len(missing)} of {len(committed)} changes never reached consumer.py"
    latencies = sorted((consumer.arrived[change] - at) * 1000 for change, at in committed.items())
    median, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    figures(f"CDC latency, COMMIT in PostgreSQL -> consumer.py's line, {len(latencies)} inserts at 40/s: "
            f"median {median:.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms")
    assert median < 5000, latencies  # loose: the machine is shared; the figure is what matters


def cleanup_steps():
    """The chapter's cleanup: from stopping (or deleting) the connector to dropping its publication."""
    steps = [command for command, _ in chapter_steps()]
    first = next(i for i, command in enumerate(steps) if "connectors/users-cdc" in command
                 and ("/stop" in command or "-X DELETE" in command))
    last = next(i for i, command in enumerate(steps) if "DROP PUBLICATION" in command)
    return [(command, expected) for command, expected in chapter_steps()[first:last + 1]]


def test_cleanup_then_register_again_takes_a_full_snapshot(cdc):
    """The chapter's cleanup, then the connector registered again as in its step 3: every row of the table
    arrives again (a new snapshot), rather than "a completed snapshot" found in the old offsets."""
    import shlex

    import psycopg
    from kafka import KafkaConsumer, TopicPartition

    worker, postgres = cdc["worker"], cdc["postgres"]
    change_users(postgres, "insert", "Before", "The cleanup")
    with psycopg.connect(postgres.url) as connection:
        rows = {row[0]: dict(zip(("id", "name", "profession"), row))
                for row in connection.execute("SELECT id, name, profession FROM users")}
    for command, expected in cleanup_steps():
        if "/offsets" in command:
            worker.wait_until_stopped("users-cdc")
        if "pg_drop_replication_slot" in command:
            assert slot_state(postgres.url) == [False], "the connector's task still reads its slot"
        command = command.replace("localhost:8084", f"localhost:{worker.port}").replace(
            "localhost:5432", f"localhost:{postgres.port}")
        argv = [sys.executable if word == "python" else word for word in shlex.split(command)]
        done = subprocess.run(argv, cwd=REPO, env=script_env(None), capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout.splitlines()) == (0, expected), f"$ {command}\n{done}"
    assert slot_state(postgres.url) == []

    consumer = KafkaConsumer(bootstrap_servers=cdc["bootstrap"], enable_auto_commit=False)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        for tp, end in consumer.end_offsets(partitions).items():
            consumer.seek(tp, end)  # only what the connector sends from now on
        streams_before = worker.process.count(r"Starting streaming")
        config = {**json.loads(CONNECTOR_JSON.read_text()), "database.port": str(postgres.port)}
        assert worker.put_connector(config) == 201
        worker.wait_until_streaming(count=streams_before + 1)
        arrived, deadline = {}, time.monotonic() + 60
        while len(arrived) < len(rows) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                arrived.update((json.loads(r.key)["id"], json.loads(r.value)) for r in records if r.value)
    finally:
        consumer.close()
    assert arrived == rows, f"registered again, the connector sent {len(arrived)} of the table's {len(rows)} rows"
    assert worker.states("users-cdc") == ["RUNNING", "RUNNING"]


# --------------------------------------------------------------------------
# Faults


def write_changes(postgres, prefix, rows, stop_after_seconds, expected):
    """Insert rows and update and delete them, one change per transaction, for a while.

    expected[id] gets every committed change of that row, in commit order (None: deleted).
    """
    import psycopg

    deadline = time.monotonic() + stop_after_seconds
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        round_number = 0
        while time.monotonic() < deadline:
            for n in range(rows):
                if round_number == 0:
                    row = connection.execute("INSERT INTO users (name, profession) VALUES (%s, %s) RETURNING id, "
                                             "name, profession", (f"{prefix}-{n}", "v0")).fetchone()
                elif round_number % 4 == 3 and n % 3 == 0:
                    continue  # some rows get fewer updates
                else:
                    row = connection.execute("UPDATE users SET profession = %s WHERE name = %s RETURNING id, name, "
                                             "profession", (f"v{round_number}", f"{prefix}-{n}")).fetchone()
                expected.setdefault(row[0], []).append(json.dumps(dict(zip(("id", "name", "profession"), row))))
                time.sleep(0.01)
            round_number += 1
        for n in range(0, rows, 2):  # half of them are deleted at the end
            row = connection.execute("DELETE FROM users WHERE name = %s RETURNING id", (f"{prefix}-{n}",)).fetchone()
            expected[row[0]].append(None)


def first_occurrences(values):
    """The values in order with repeats removed: at-least-once delivery may repeat a change after a crash."""
    seen, unique = set(), []
    for value in values:
        if value not in seen:
            seen.add(value)
            unique.append(value)
    return unique


@pytest.mark.slow
def test_connect_worker_killed_while_rows_are_written_loses_nothing(cdc):
    worker = cdc["worker"]
    expected = {}
    writer = threading.Thread(target=write_changes, args=(cdc["postgres"], unique_name("crash"), 20, 8, expected))
    writer.start()
    time.sleep(3)
    worker.kill()  # mid-stream: Debezium has read some changes that Connect has not saved an offset for
    killed_at = len([change for changes in list(expected.values()) for change in changes])
    time.sleep(2)
    worker.start()  # same group: the connector config and its offset come back from Kafka
    writer.join(60)
    assert not writer.is_alive()
    worker.wait_until_streaming()

    consumed = consume(cdc["bootstrap"])
    printed, partitions = by_key(parse_records(consumed.lines), expected)
    total = sum(len(changes) for changes in expected.values())
    lost = sum(len(set(expected[key]) - set(printed[key])) for key in expected)
    repeated = sum(len(printed[key]) - len(first_occurrences(printed[key])) for key in expected)
    figures(f"Connect killed with kill -9 after ~{killed_at} of {total} changes, restarted 2 s later: "
            f"{lost} lost, {repeated} delivered twice")
    assert lost == 0
    assert {key: first_occurrences(printed[key]) for key in expected} == expected, "a key's changes out of order"
    assert all(len(found) == 1 for found in partitions.values())
    assert worker.states("users-cdc") == ["RUNNING", "RUNNING"]


@pytest.mark.slow
def test_a_row_written_while_kafka_is_down_arrives_when_it_is_back(cdc):
    stack, postgres = cdc["stack"], cdc["postgres"]
    stack.stop_broker(0)
    try:
        row_id, row = row_of(change_users(postgres, "insert", "Written", "While Kafka was down"))  # PostgreSQL is up
        time.sleep(5)
    finally:
        process, log = stack.start_broker(0)
        stack.wait_for_broker(process, log, 0)

    deadline = time.monotonic() + 90
    while True:  # right after the restart the broker may not know its topics yet
        done = run_script("consumer.py", "--topic", TOPIC, "--group", unique_name("cdc-back"), "--timeout", 5,
                          bootstrap=cdc["bootstrap"])
        printed, _ = by_key(parse_records(done.lines), [row_id])
        if printed[row_id] or time.monotonic() > deadline:
            break
        time.sleep(2)
    worker = cdc["worker"]
    assert printed[row_id] == [row], (f"{done}\nconnector: {worker.states('users-cdc')}\n"
                                      f"worker log:\n{worker.text[-6000:]}")
    assert worker.states("users-cdc") == ["RUNNING", "RUNNING"]


# --------------------------------------------------------------------------
# The compose file's cdc profile, run as real processes


def test_compose_cdc_profile_settings_capture_changes(cdc_kafka, tmp_path):
    """The postgres service's server settings and user, and the cdc-connect service's CONNECT_* settings.

    What exists only inside containers is replaced: the broker and database addresses, the REST
    port, the plugin folder's container path (by the host folder the compose file mounts there)
    and, so that runs on a shared broker never meet, the worker group, its topics and the topic prefix.
    """
    compose = load_compose(COMPOSE)
    postgres_service, connect_service = service(compose, "postgres"), service(compose, "cdc-connect")
    command = postgres_service["command"]
    assert command[0] == "postgres"
    settings = dict(value.split("=", 1) for flag, value in zip(command[1::2], command[2::2]) if flag == "-c")
    assert settings["wal_level"] == "logical"
    env = environment(compose, "postgres")
    # The container and tools/local_postgres.py must give the same user and database: the docs use either.
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (local_postgres.USER, local_postgres.DATABASE)
    healthcheck = postgres_service["healthcheck"]["test"]
    assert healthcheck == ["CMD", "pg_isready", "-U", env["POSTGRES_USER"], "-d", env["POSTGRES_DB"]]
    postgres = start_postgres(logical=True, password=env["POSTGRES_PASSWORD"])
    worker = None
    try:
        import psycopg

        with psycopg.connect(postgres.url, connect_timeout=10) as connection:  # what pg_isready checks, and more
            assert connection.execute("SELECT current_user, current_database()").fetchone() == (
                env["POSTGRES_USER"], env["POSTGRES_DB"])

        props = connect_worker_properties(compose, "cdc-connect")
        assert props["bootstrap.servers"] == "kafka:29092"
        mounts = bind_mounts(compose, "cdc-connect")
        plugin_dirs = [mounts[path] for path in props["plugin.path"].split(",") if path in mounts]
        assert [REPO / path for path in plugin_dirs] == [fetch_debezium_plugin()]
        suffix = unique_name("")
        props.update({"bootstrap.servers": cdc_kafka.bootstrap, "plugin.path": ",".join(plugin_dirs),
                      "group.id": props["group.id"] + suffix, "plugin.discovery": "service_load"})
        for key in ("config.storage.topic", "offset.storage.topic", "status.storage.topic"):
            props[key] += suffix
        props.pop("rest.port")  # ConnectWorker sets listeners instead
        assert "http://localhost:8084/connectors" in connect_service["healthcheck"]["test"]
        assert (8084, 8084) == tuple(int(p) for p in connect_service["ports"][0].split(":"))

        prefix = "compose" + suffix.replace("-", "")
        topic = f"{prefix}.public.users"
        assert run_script("create_topic.py", "--topic", topic, bootstrap=cdc_kafka.bootstrap).returncode == 0
        first_id, first = row_of(change_users(postgres, "insert", "Ada", "Mathematician"))

        worker = ConnectWorker(props, tmp_path)
        worker.start()
        # The docs register the connector in compose with the database's service name as its host.
        config = json.loads(CONNECTOR_JSON.read_text())
        assert config["database.user"] == env["POSTGRES_USER"] and config["database.dbname"] == env["POSTGRES_DB"]
        assert config["database.password"] == env["POSTGRES_PASSWORD"]
        config.update({"database.hostname": "127.0.0.1", "database.port": str(postgres.port), "topic.prefix": prefix})
        assert worker.put_connector(config) == 201
        worker.wait_until_streaming()
        _, second = row_of(change_users(postgres, "update", str(first_id), "Astronaut"))

        done = run_script("consumer.py", "--topic", topic, "--group", unique_name("compose-cdc"), "--max-messages", 2,
                          "--timeout", 30, bootstrap=cdc_kafka.bootstrap)
        assert done.returncode == 0, done
        assert [value for _, value, _ in parse_records(done.lines)] == [first, second]
    finally:
        if worker:
            worker.stop()
        postgres.stop(clean=True)
    assert " ERROR " not in worker.text, worker.text[-3000:]
    assert postgres.password not in worker.text


# --------------------------------------------------------------------------
# change_users.py's mistakes


def test_change_users_mistakes_are_one_line_without_the_password(cdc_postgres):
    env = {**script_env(None), "KIT_POSTGRES_URL": cdc_postgres.url}
    missing = run_script("change_users.py", "delete", "999999", env=env)
    assert missing.returncode == 1
    assert missing.err_lines == ["error: no user with id 999999 in table 'users'; nothing changed"]

    wrong = cdc_postgres.url.replace(cdc_postgres.password, "not-the-password")
    refused = run_script("change_users.py", "--db", wrong, "insert", "Eve", "Eavesdropper", env=env)
    assert refused.returncode == 1
    assert len(refused.err_lines) == 1 and refused.err_lines[0].startswith(
        f"error: cannot connect to PostgreSQL at postgresql://kit@127.0.0.1:{cdc_postgres.port}/postgres (")
    assert "password authentication failed" in refused.stderr
    assert "not-the-password" not in refused.stdout + refused.stderr

    usage = run_script("change_users.py", "update", "first", "Astronaut", env=env)
    assert usage.returncode == 2
    assert usage.err_lines == ["change_users.py: error: argument id: 'first' is not a whole number (see --help)"]


# --------------------------------------------------------------------------
# The chapter, replayed


CHAPTER = REPO / "docs" / "connect-cdc.md"
CDC_HEADING = "## Change data capture from PostgreSQL"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
CHAPTER_ZH = REPO / "docs" / "zh-CN" / "connect-cdc.md"


def fenced_blocks(text, language=r"\w*"):
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def chapter_section():
    """The CDC part of the chapter: from its heading to the end of the page."""
    text = CHAPTER.read_text(encoding="utf-8")
    return text[text.index(CDC_HEADING):]


def chapter_steps():
    """[(command, [expected lines])] of the CDC section's ```console blocks; log excerpts have no command."""
    steps = []
    for block in fenced_blocks(chapter_section(), "console"):
        if not block.startswith("$ "):
            continue  # an excerpt of the worker's log in terminal 3
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


def test_the_generic_replay_leaves_the_cdc_section_to_this_test():
    """tests/test_docs.py skips a block marked `<!-- not replayed: ... -->`: each one here must name this file."""
    found = docs_replay.blocks(chapter_section())
    assert found, "the CDC section lost its code blocks"
    unproven = [block.body.splitlines()[0] for block in found if block.not_replayed != "tests/test_cdc.py"]
    assert not unproven, f"blocks of the CDC section not marked as replayed by tests/test_cdc.py: {unproven}"


def slot_state(url, timeout=30):
    """[active] of the connector's replication slot, [] when there is none; waits while it is still active,
    as a learner who drops it a moment after deleting the connector would."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            found = [row[0] for row in connection.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = 'kit_users'")]
            if found != [True] or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


@pytest.mark.slow
def test_the_chapter_runs_as_written(stack_factory):
    """Every `$ ` command of the chapter's CDC section, in order, on a fresh broker, database and worker.

    The chapter fetches the Debezium plugin and starts PostgreSQL with tools/local_postgres.py, whose
    binaries come from Maven Central: real downloads (20 MB), checked against tools/jars.lock, as on a
    learner's machine that has neither Maven nor PostgreSQL.
    Between the commands the test does what the chapter tells the learner to do in terminal 3:
    start Connect before registering the connector, Ctrl-C it before Margaret is inserted and
    start it again after. Ports are the test's own; the output is compared with the chapter's.
    """
    import shlex

    stack = stack_factory.start()
    root = Path(tempfile.mkdtemp(prefix="kit-cdc-chapter-"))
    os.chmod(root, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)  # as root, PostgreSQL
    copy = root / "kit"  # runs as another account, which must reach .local-postgres
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".kafka-jars", ".local-kafka", ".local-postgres",
                                                              "__pycache__", "*.db", "bench-results", ".pytest_cache"))
    # Kafka's jars from this checkout; Debezium's and PostgreSQL's are downloaded by the chapter's own commands.
    jars = copy / "tools" / ".kafka-jars"
    jars.mkdir()
    (jars / local_kafka.JAR_SETS[local_kafka.KAFKA_SET][1]).symlink_to(local_kafka.JARS_DIR)
    pg_port = local_kafka.free_port()
    connector = copy / "tools" / "connect" / "users-cdc.json"
    connector.write_text(connector.read_text().replace('"5432"', f'"{pg_port}"'))

    props = {**read_properties(WORKER_PROPERTIES), "bootstrap.servers": stack.bootstrap}
    worker = ConnectWorker(props, root, cwd=copy)
    pg_url = f"postgresql://kit:{connector_password()}@localhost:{pg_port}/postgres"
    env = script_env(stack.bootstrap, LOCAL_POSTGRES_PORT=pg_port, LOCAL_POSTGRES_BINARIES="maven",
                     KIT_POSTGRES_URL=pg_url)
    env.pop("LOCAL_KAFKA_CACHE", None)
    shown_ports = {stack.port: 9092, worker.port: 8084, pg_port: 5432}

    def on_this_machine(command):
        return command.replace("localhost:5432", f"localhost:{pg_port}").replace(
            "localhost:8084", f"localhost:{worker.port}")

    def as_shown(lines):
        out = []
        for line in lines:
            for actual, shown in shown_ports.items():
                line = re.sub(rf"(?<=:){actual}\b", str(shown), line)
            out.append(mask(ANSI_ESCAPE.sub("", line)))
        return [line for line in out if line]

    steps = chapter_steps()
    assert len(steps) >= 14, "the chapter lost its walkthrough"
    assert steps[0][0] == "python tools/local_kafka.py fetch --debezium", "the section no longer starts with the fetch"
    try:
        for command, expected in steps:
            if "/connectors/users-cdc/config" in command:
                worker.start()  # terminal 3: java ... ConnectDistributed tools/connect/cdc-worker.properties
            if "insert Margaret" in command:
                worker.stop()  # Ctrl-C in terminal 3
            if "/connectors/users-cdc/offsets" in command:
                worker.wait_until_stopped("users-cdc")  # a learner who gets 400 runs it again a moment later
            if "pg_drop_replication_slot" in command:
                assert slot_state(pg_url) == [False], "the stopped connector's task still reads its slot"
            argv = [sys.executable if word == "python" else word for word in shlex.split(on_this_machine(command))]
            result = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
            shown, wanted = as_shown(result.stdout.splitlines()), as_shown(expected)
            assert matches(shown, wanted), f"$ {command}\n--- the chapter shows:\n" + "\n".join(wanted) + (
                "\n--- it printed:\n" + "\n".join(shown))
            if "/connectors/users-cdc/config" in command or "insert Margaret" in command:
                if "insert Margaret" in command:
                    worker.start()  # the same command again
                worker.wait_until_streaming()
        assert slot_state(pg_url) == [], "the chapter's last step leaves the replication slot behind"
        assert " ERROR " not in worker.text, worker.text[-3000:]
    finally:
        worker.stop()
        subprocess.run([sys.executable, "tools/local_postgres.py", "stop", "--clean"], cwd=copy, env=env,
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
    assert connector_password() not in worker.text, "the database password appeared in Connect's log"
