"""store_users.py: users from the topic into a database table, exactly once, even across kill -9.

Both databases are real: SQLite (a file) and private PostgreSQL servers (conftest.py's
postgres_servers, from tools/local_postgres.py) on free ports in temp dirs: the machine's
own PostgreSQL and the server binaries from Maven Central.
"""

import re
import signal
import sqlite3
import time

import pytest
from support import (
    PG_PASSWORD,
    create_topic,
    end_offsets,
    local_kafka,
    produce_raw,
    run_script,
    start_script,
    unique_name,
)

USERS = 20000


class Table:
    """Reads what store_users.py wrote, with the database's own driver."""

    def __init__(self, db):
        self.db = db

    def query(self, text, *params, fetch=True):
        if self.db.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(self.db) as connection:
                cursor = connection.execute(text.replace("?", "%s"), params)
                return cursor.fetchall() if fetch else None
        with sqlite3.connect(self.db) as connection:
            return connection.execute(text, params).fetchall()

    def users(self):
        return self.query("SELECT name, versions FROM users ORDER BY name")

    def offsets(self, topic):
        return dict(self.query("SELECT kafka_partition, next_offset FROM kafka_offsets WHERE topic = ?", topic))

    def drop(self):
        self.query("DROP TABLE IF EXISTS users", fetch=False)
        self.query("DROP TABLE IF EXISTS kafka_offsets", fetch=False)


@pytest.fixture(params=["sqlite", "postgresql-machine", "postgresql-maven-central"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "users.db")
        return
    # Servers from conftest.py: the machine's PostgreSQL and the one from Maven Central (tools/local_postgres.py).
    url = request.getfixturevalue("postgres_servers").url(request.param[len("postgresql-"):])
    Table(url).drop()
    yield url
    Table(url).drop()


def test_killed_midway_then_restarted_stores_every_user_exactly_once(bootstrap, database):
    topic = create_topic(bootstrap, unique_name("store-kill"), partitions=3)
    sent = run_script("producer.py", "--topic", topic, "--count", USERS, bootstrap=bootstrap)
    assert sent.returncode == 0, sent
    table = Table(database)

    first = start_script("store_users.py", "--topic", topic, "--db", database, bootstrap=bootstrap)
    first.wait_for(r"^Stored +\d+ users .* in one transaction", timeout=60, count=3)
    first.signal(signal.SIGKILL)  # no clean-up at all: like a crash or a power cut
    assert first.wait() == -signal.SIGKILL
    assert PG_PASSWORD not in first.text

    after_kill = table.users()
    offsets_after_kill = table.offsets(topic)
    assert 0 < len(after_kill) < USERS, f"not killed midway: {len(after_kill)} users stored"
    # What was committed is consistent: the stored offsets cover exactly the stored users.
    assert sum(offsets_after_kill.values()) == len(after_kill)
    assert all(versions == 1 for _, versions in after_kill)

    second = run_script("store_users.py", "--topic", topic, "--db", database, "--timeout", 3, bootstrap=bootstrap)
    assert second.returncode == 0, second
    for partition, offset in offsets_after_kill.items():
        assert re.search(rf"partition {partition} +starts at offset {offset:,} \(stored in the database\)",
                         second.stdout), second.stdout
    rest = USERS - len(after_kill)
    assert f"Stored {rest:,} users from {rest:,} records" in second.stdout, second.stdout
    assert f"Table 'users' now holds {USERS:,} users" in second.stdout

    users = table.users()
    assert len(users) == USERS
    assert {name for name, _ in users} == {f"user-{n:07d}" for n in range(1, USERS + 1)}
    assert all(versions == 1 for _, versions in users), "a user was applied twice"
    assert table.offsets(topic) == end_offsets(bootstrap, topic)
    assert PG_PASSWORD not in second.stdout + second.stderr


def test_bad_records_are_counted_and_skipped_never_half_stored(bootstrap, topic, tmp_path):
    db = str(tmp_path / "users.db")
    values = [b'{"name": "Ana", "profession": "Data Engineer"}',
              b"not json at all",
              b"[1, 2, 3]",
              b'{"profession": "Teacher"}',
              b'{"name": "Bo", "profession": "Nurse"}',
              b"\xff\xfe",
              b'{"name": 42}',
              b'{"name": "Cy", "email": "cy\\u0000@example.com"}',
              b'{"name": "Di", "email": "di@example.com"}']
    produce_raw(bootstrap, topic, values)

    result = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 2, bootstrap=bootstrap)
    assert result.returncode == 0, result
    assert "Stored 3 users from 9 records" in result.stdout and "6 bad record(s) skipped" in result.stdout
    warnings = [line for line in result.lines if line.startswith("Warning: partition 0 offset")]
    assert [int(line.split()[4].rstrip(":")) for line in warnings] == [1, 2, 3, 5, 6, 7]
    assert "not JSON" in warnings[0] and "no \"name\"" in warnings[2] and "NUL" in warnings[5]

    table = Table(db)
    assert table.users() == [("Ana", 1), ("Bo", 1), ("Di", 1)]
    assert table.query("SELECT email FROM users WHERE name = 'Di'") == [("di@example.com",)]
    assert table.offsets(topic) == {0: len(values)}

    # A second run resumes after the bad records too: nothing is read or applied again.
    again = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 1, bootstrap=bootstrap)
    assert again.returncode == 0, again
    assert "partition 0   starts at offset 9 (stored in the database)" in again.stdout
    assert "Stored 0 users from 0 records" in again.stdout
    assert table.users() == [("Ana", 1), ("Bo", 1), ("Di", 1)]


def test_unusable_database_is_one_clear_line(tmp_path):
    port = local_kafka.free_port()
    down = run_script("store_users.py", "--db", f"postgresql://kit:{PG_PASSWORD}@127.0.0.1:{port}/kit",
                      bootstrap="localhost:1")
    assert down.returncode == 2
    assert len(down.err_lines) == 1, down
    assert down.err_lines[0].startswith(f"error: cannot connect to PostgreSQL at postgresql://kit@127.0.0.1:{port}/kit")
    assert PG_PASSWORD not in down.stdout + down.stderr

    missing = run_script("store_users.py", "--db", str(tmp_path / "no-such-dir" / "users.db"),
                         bootstrap="localhost:1")
    assert missing.returncode == 2
    assert len(missing.err_lines) == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_no_broker_is_one_clear_line(tmp_path):
    started = time.monotonic()
    nobody = f"localhost:{local_kafka.free_port()}"
    result = run_script("store_users.py", "--db", str(tmp_path / "u.db"), bootstrap=nobody)
    assert result.returncode == 1, result
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith("error: cannot reach Kafka"), result
    assert time.monotonic() - started < 30
