"""store_users.py: users from the topic into a database table, exactly once, even across kill -9.

Both databases are real: SQLite (a file) and private PostgreSQL servers (conftest.py's
postgres_servers, from tools/local_postgres.py) on free ports in temp dirs: the machine's
own PostgreSQL and the server binaries from Maven Central.
"""

import re
import signal
import sqlite3
import threading
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
        return self.query("SELECT name, versions FROM stored_users ORDER BY name")

    def offsets(self, topic):
        return dict(self.query("SELECT kafka_partition, next_offset FROM kafka_offsets WHERE topic = ?", topic))

    def drop(self):
        self.query("DROP TABLE IF EXISTS stored_users", fetch=False)
        self.query("DROP TABLE IF EXISTS kafka_offsets", fetch=False)
        self.query("DROP TABLE IF EXISTS kafka_database_id", fetch=False)


def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "users.db")
        return
    # Servers from conftest.py: the machine's PostgreSQL and the one from Maven Central (tools/local_postgres.py).
    url = request.getfixturevalue("postgres_servers").url(request.param[len("postgresql-"):])
    Table(url).drop()
    yield url
    Table(url).drop()


database = pytest.fixture(params=["sqlite", "postgresql-machine", "postgresql-maven-central"])(empty_database)
# The long multi-copy scenarios run on both database kinds once: the Maven Central server is the same
# PostgreSQL code, and the tests above already run on it.
database_for_copies = pytest.fixture(params=["sqlite", "postgresql-machine"], name="database_for_copies")(
    empty_database)


def test_killed_midway_then_restarted_stores_every_user_exactly_once(bootstrap, database):
    topic = create_topic(bootstrap, unique_name("store-kill"), partitions=3)
    sent = run_script("bulk_producer.py", "--topic", topic, "--count", USERS, bootstrap=bootstrap)
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
    assert f"Table 'stored_users' now holds {USERS:,} users" in second.stdout

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
    assert table.query("SELECT email FROM stored_users WHERE name = 'Di'") == [("di@example.com",)]
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


# --------------------------------------------------------------------------
# several copies on one database: they share the partitions, and each record is still applied once

BATCH_STORED = re.compile(r"^Stored +(\d+) users \((\d+) bad skipped\) and offsets .* in one transaction$")
ROLLED_BACK = "Another copy got there first"


def produce_each_name_twice(bootstrap, topic, names):
    """2 x names records: every name twice, the second version later in the same partition (key = name)."""
    for _ in range(2):
        sent = run_script("bulk_producer.py", "--topic", topic, "--count", names, bootstrap=bootstrap)
        assert sent.returncode == 0, sent
    return 2 * names


def start_copy(topic, database, bootstrap, idle_seconds):
    return start_script("store_users.py", "--topic", topic, "--db", database, "--timeout", idle_seconds,
                        bootstrap=bootstrap)


def finish(copies, timeout=120):
    """Wait for every copy to stop by itself (--timeout); each must exit 0 and cleanly."""
    for copy in copies:
        assert copy.wait(timeout) == 0, copy.text
        assert "Traceback" not in copy.text and "database is locked" not in copy.text, copy.text
        assert PG_PASSWORD not in copy.text
    return copies


def records_applied(copy):
    """How many records this copy applied: its line after each committed batch (even if killed later)."""
    return sum(int(m.group(1)) + int(m.group(2)) for m in map(BATCH_STORED.match, copy.lines) if m)


def assert_applied_exactly_once(table, bootstrap, topic, names, copies):
    records = 2 * names
    users = table.query("SELECT name, versions, kafka_partition, kafka_offset FROM stored_users")
    ends = end_offsets(bootstrap, topic)
    assert len(users) == names
    assert sum(versions for _, versions, _, _ in users) == records
    assert [row for row in users if row[1] != 2] == [], "a record was lost or applied twice"
    # The second version of a name sits in the second half of its partition: no row went back to the first.
    assert [row for row in users if row[3] < ends[row[2]] // 2] == [], "a row holds an older version"
    assert table.offsets(topic) == ends
    # Between them, the copies' committed batches hold every record once: 0 lost, 0 applied twice.
    assert sum(records_applied(copy) for copy in copies) == records, "\n\n".join(copy.text for copy in copies)


def wait_until_any(copies, pattern, timeout=60):
    """Wait until one of the copies prints a line matching pattern; returns that copy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for copy in copies:
            if copy.count(pattern):
                return copy
        time.sleep(0.2)
    raise AssertionError(f"no copy printed /{pattern}/ within {timeout}s:\n\n" + "\n\n".join(c.text for c in copies))


def test_two_copies_share_the_partitions_and_apply_each_record_once(bootstrap, database):
    topic = create_topic(bootstrap, unique_name("store-two"), partitions=3)
    copies = [start_copy(topic, database, bootstrap, 6) for _ in range(2)]
    for copy in copies:
        copy.wait_for(r"^Group 'store-users-[0-9a-f]{8}': assigned partitions \[", timeout=60)
    names = USERS // 2
    produce_each_name_twice(bootstrap, topic, names)  # while both copies are in the group
    finish(copies)

    for copy in copies:
        assert records_applied(copy) > 0, f"this copy did no share of the work:\n{copy.text}"
    # One group per database: both copies chose the same one by themselves.
    groups = {re.search(r"in group '([^']+)'", copy.text).group(1) for copy in copies}
    assert len(groups) == 1, groups
    assert_applied_exactly_once(Table(database), bootstrap, topic, names, copies)


def test_three_copies_on_two_partitions_one_waits_as_standby(bootstrap, database_for_copies):
    database = database_for_copies
    topic = create_topic(bootstrap, unique_name("store-three"), partitions=2)
    copies = [start_copy(topic, database, bootstrap, 6) for _ in range(3)]
    standby = ("no partition assigned to this copy (the group has more copies than the topic has partitions); "
               "it waits as a standby")
    waiting = wait_until_any(copies, re.escape(standby))
    names = 3000
    produce_each_name_twice(bootstrap, topic, names)
    finish(copies)

    assert sum(1 for copy in copies if records_applied(copy) > 0) == 2, "\n\n".join(c.text for c in copies)
    assert records_applied(waiting) == 0, waiting.text
    assert_applied_exactly_once(Table(database), bootstrap, topic, names, copies)


class BackgroundProducer:
    """produce_each_name_twice on a thread, so that records keep arriving while the test acts on the copies."""

    def __init__(self, bootstrap, topic, names):
        self.failure = None
        self.thread = threading.Thread(target=self._run, args=(bootstrap, topic, names), daemon=True)
        self.thread.start()

    def _run(self, bootstrap, topic, names):
        try:
            produce_each_name_twice(bootstrap, topic, names)
        except AssertionError as error:
            self.failure = error

    def join(self):
        self.thread.join(120)
        assert not self.thread.is_alive() and self.failure is None, self.failure


@pytest.mark.slow
def test_copy_killed_midway_while_others_run_then_restarted(bootstrap, database_for_copies):
    database = database_for_copies
    topic = create_topic(bootstrap, unique_name("store-kill3"), partitions=3)
    table = Table(database)
    copies = [start_copy(topic, database, bootstrap, 12) for _ in range(3)]
    for copy in copies:
        copy.wait_for(r"^Group '.*': assigned partitions", timeout=60)
    victim, others = copies[0], copies[1:]
    names = 6000
    producer = BackgroundProducer(bootstrap, topic, names)
    victim.wait_for(r"^Stored +\d+ users .* in one transaction", timeout=60, count=2)
    victim.signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert 0 < len(table.users()) < names, "not killed midway"
    producer.join()

    restarted = start_copy(topic, database, bootstrap, 12)
    restarted.wait_for(r"^Group '.*': (assigned partitions|no partition assigned)", timeout=60)
    finish(others + [restarted])

    # The killed copy's committed batches count; whatever it had not committed was applied by another copy.
    assert_applied_exactly_once(table, bootstrap, topic, names, copies + [restarted])


@pytest.mark.slow
def test_rebalance_forced_while_batches_are_in_flight(bootstrap, database_for_copies):
    database = database_for_copies
    topic = create_topic(bootstrap, unique_name("store-rebal"), partitions=3)
    first = start_copy(topic, database, bootstrap, 6)
    first.wait_for(r"^Group '.*': assigned partitions", timeout=60)
    names = 6000
    producer = BackgroundProducer(bootstrap, topic, names)
    first.wait_for(r"^Stored +\d+ users .* in one transaction", timeout=60)
    second = start_copy(topic, database, bootstrap, 6)  # joining forces a rebalance while `first` stores
    second.wait_for(r"^Group '.*': assigned partitions", timeout=60)
    third = start_copy(topic, database, bootstrap, 6)
    third.wait_for(r"^Group '.*': (assigned partitions|no partition assigned)", timeout=60)
    second.signal(signal.SIGTERM)  # leaving forces another one
    assert second.wait(30) == 0, second.text
    producer.join()
    finish([first, third])

    assert first.count(r"^Group '.*': rebalancing, partitions \[.*\] revoked") >= 1, first.text
    assert_applied_exactly_once(Table(database), bootstrap, topic, names, [first, second, third])


@pytest.mark.slow
def test_paused_copy_cannot_write_after_its_partitions_moved_on(bootstrap, database_for_copies):
    database = database_for_copies
    topic = create_topic(bootstrap, unique_name("store-zombie"), partitions=3)
    # Long enough idle time that the other copy is still there when the session timeout (10 s) expires.
    zombie, other = start_copy(topic, database, bootstrap, 15), start_copy(topic, database, bootstrap, 15)
    for copy in (zombie, other):
        copy.wait_for(r"^Group '.*': assigned partitions", timeout=60)
    names = 6000
    producer = BackgroundProducer(bootstrap, topic, names)
    zombie.wait_for(r"^Stored +\d+ users .* in one transaction", timeout=60)
    zombie.signal(signal.SIGSTOP)  # like Ctrl-Z, or a machine that froze: no heartbeats any more
    takeover = r"^Group '.*': assigned partitions \[0, 1, 2\]"
    try:
        producer.join()
        other.wait_for(takeover, timeout=60, count=other.count(takeover) + 1)  # after the session timeout
    finally:
        zombie.signal(signal.SIGCONT)
    finish([zombie, other])

    # On waking, it learns that its partitions went elsewhere, or its stale batch is rolled back.
    assert "for longer than the session timeout" in zombie.text or ROLLED_BACK in zombie.text, zombie.text
    assert_applied_exactly_once(Table(database), bootstrap, topic, names, [zombie, other])


def test_batch_is_rolled_back_when_its_stored_offset_moved_under_it(bootstrap, database_for_copies):
    database = database_for_copies
    """The compare-and-set itself: move the stored offset as another copy would, then send more records."""
    topic = create_topic(bootstrap, unique_name("store-cas"), partitions=1)
    table = Table(database)
    sent = run_script("bulk_producer.py", "--topic", topic, "--count", 100, bootstrap=bootstrap)
    assert sent.returncode == 0, sent
    copy = start_copy(topic, database, bootstrap, 4)
    copy.wait_for(r"offsets \[partition 0 -> 100\] in one transaction", timeout=60)

    # As if another copy had applied offsets 100 to 149 meanwhile: this copy still believes 100.
    table.query("UPDATE kafka_offsets SET next_offset = 150 WHERE topic = ?", topic, fetch=False)
    again = run_script("bulk_producer.py", "--topic", topic, "--count", 100, bootstrap=bootstrap)  # offsets 100-199
    assert again.returncode == 0, again
    finish([copy])

    rolled_back = [line for line in copy.lines if line.startswith(ROLLED_BACK)]
    assert len(rolled_back) == 1, copy.text
    assert rolled_back[0].startswith("Another copy got there first: partition 0 is stored up to offset 150, not 100; "
                                     "this batch of "), rolled_back[0]
    assert "1 batch(es) rolled back because another copy had stored them first." in copy.lines, copy.text
    assert "Stored 150 users from 150 records" in copy.text, copy.text
    # The records the "other copy" was credited with were not applied here; the rest were, once each.
    versions = dict(table.users())
    assert [versions[f"user-{n:07d}"] for n in (1, 50, 51, 100)] == [1, 1, 2, 2]
    assert table.offsets(topic) == {0: 200}
