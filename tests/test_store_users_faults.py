"""store_users.py when the world around it goes wrong: Kafka wiped under a kept database, two databases that
look alike, a copy frozen inside its transaction, a lock held elsewhere, signals at awkward moments.

Every test runs on a real broker and real databases: SQLite files, and a private PostgreSQL server from
tools/local_postgres.py (conftest.py's postgres_servers) with a fresh database of its own per test.
"""

import re
import signal
import sqlite3
import time
from urllib.parse import urlsplit

import pytest
from conftest import say
from kafka import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from support import (
    PG_PASSWORD,
    create_topic,
    end_offsets,
    run_script,
    script_env,
    start_script,
    unique_name,
)

TABLE = "stored_users"  # store_users.py's table: not `users`, which change_users.py (the CDC chapter) owns
FROZEN_BOUND_SECONDS = 5  # store_users.py's idle_in_transaction_session_timeout on PostgreSQL
SESSION_TIMEOUT_SECONDS = 10  # store_users.py's: after it, the group gives a silent copy's partitions to the others


def pg_connect(url, **options):
    import psycopg

    return psycopg.connect(url, **options)


@pytest.fixture
def pg_server(postgres_servers):
    """(the server's URL, a function that makes a fresh database on it and returns its URL)."""
    url = postgres_servers.url("machine")
    made = []

    def new_database():
        name = unique_name("db").replace("-", "_")
        with pg_connect(url, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return url.rsplit("/", 1)[0] + "/" + name

    yield url, new_database
    with pg_connect(url, autocommit=True) as connection:
        for name in made:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_db(pg_server):
    """The URL of a fresh database of its own on the PostgreSQL server."""
    return pg_server[1]()


def query(db, text, *params):
    if db.startswith("postgresql://"):
        with pg_connect(db) as connection:
            return connection.execute(text.replace("?", "%s"), params).fetchall()
    with sqlite3.connect(db) as connection:
        return connection.execute(text, params).fetchall()


def copy_that_stored(bootstrap, db, prefix, users, *args):
    """(topic, a store_users.py copy running in the background that has stored the topic's first `users` users)."""
    topic = create_topic(bootstrap, unique_name(prefix))
    send_users(bootstrap, topic, users)
    copy = start_script("store_users.py", "--topic", topic, "--db", db, *args, bootstrap=bootstrap)
    copy.wait_for(rf"offsets \[partition 0 -> {users}\] in one transaction", timeout=60)
    return topic, copy


def stored_offsets(db, topic):
    return dict(query(db, "SELECT kafka_partition, next_offset FROM kafka_offsets WHERE topic = ?", topic))


def send_users(bootstrap, topic, count):
    sent = run_script("bulk_producer.py", "--topic", topic, "--count", count, bootstrap=bootstrap)
    assert sent.returncode == 0, sent


def recreate_topic(bootstrap, topic, partitions):
    """Delete the topic and create it again, empty: like `local_kafka.py stop --clean` for this one topic."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 60
        while True:  # the deletion finishes in the background; creating it again fails until then
            try:
                create_topic(bootstrap, topic, partitions=partitions)
                break
            except (TopicAlreadyExistsError, UnknownTopicOrPartitionError):
                assert time.monotonic() < deadline, "the topic was never deleted"
                time.sleep(0.5)
    finally:
        admin.close()
    deadline = time.monotonic() + 30
    while set(end_offsets(bootstrap, topic)) != set(range(partitions)):
        assert time.monotonic() < deadline
        time.sleep(0.2)


# --------------------------------------------------------------------------
# Kafka's data wiped, the database kept


def test_stored_offset_beyond_the_partitions_end_stops_and_stores_nothing(bootstrap, tmp_path):
    topic = create_topic(bootstrap, unique_name("store-wiped"), partitions=2)
    db = str(tmp_path / "users.db")
    send_users(bootstrap, topic, 100)
    first = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 2, bootstrap=bootstrap)
    assert first.returncode == 0, first
    before = stored_offsets(db, topic)
    assert sum(before.values()) == 100

    recreate_topic(bootstrap, topic, partitions=2)
    send_users(bootstrap, topic, 10)  # new records, at offsets far below the stored ones
    again = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 3, bootstrap=bootstrap)

    assert again.returncode == 1, again
    assert len(again.err_lines) == 1, again
    line = again.err_lines[0]
    assert re.match(rf"error: partition \d+ of topic '{topic}' ends at offset \d+, but the database has stored "
                    rf"offset \d+ for it", line), line
    assert "new database" in line and "DELETE FROM kafka_offsets" in line, line
    assert not [text for text in again.lines if text.startswith("Stored ") and " in one transaction" in text], again
    assert stored_offsets(db, topic) == before, "the stored offsets moved"
    assert query(db, f"SELECT COUNT(*), SUM(versions) FROM {TABLE}") == [(100, 100)]

    # The documented reset: forget the topic's offsets, and the next run stores the new records.
    query(db, "DELETE FROM kafka_offsets WHERE topic = ?", topic)
    reset = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 2, bootstrap=bootstrap)
    assert reset.returncode == 0, reset
    assert "Stored 10 users from 10 records" in reset.stdout, reset
    assert stored_offsets(db, topic) == end_offsets(bootstrap, topic)


# --------------------------------------------------------------------------
# Two databases, one URL text: each is its own database, with its own group


def test_two_databases_with_the_same_url_text_each_receive_every_record(bootstrap, pg_server):
    """Like two machines that both use postgresql://kit@localhost/postgres: here the URL leaves the database
    name to PGDATABASE, which differs."""
    _, new_database = pg_server
    names = [url.rsplit("/", 1)[1] for url in (new_database(), new_database())]
    same_text = f"postgresql://kit:{PG_PASSWORD}@127.0.0.1:{urlsplit(pg_server[0]).port}"  # no database name
    topic = create_topic(bootstrap, unique_name("store-twins"), partitions=3)
    copies = [start_script("store_users.py", "--topic", topic, "--db", same_text, "--timeout", 5,
                           env=script_env(bootstrap, PGDATABASE=name)) for name in names]
    for copy in copies:
        copy.wait_for(r"^Group '.*': assigned partitions", timeout=60)
    send_users(bootstrap, topic, 300)
    for copy in copies:
        assert copy.wait(120) == 0, copy.text
        assert PG_PASSWORD not in copy.text
    groups = [re.search(r"in group '(store-users-[0-9a-f]{8})'", copy.text).group(1) for copy in copies]
    assert groups[0] != groups[1], "two databases chose one group: they split the partitions"
    for name in names:
        url = same_text + "/" + name
        assert query(url, f"SELECT COUNT(*), SUM(versions) FROM {TABLE}") == [(300, 300)], name
        assert stored_offsets(url, topic) == end_offsets(bootstrap, topic)
    # The same database keeps its group from run to run.
    again = run_script("store_users.py", "--topic", topic, "--db", same_text, "--timeout", 1,
                       env=script_env(bootstrap, PGDATABASE=names[0]))
    assert again.returncode == 0, again
    assert f"in group '{groups[0]}'" in again.stdout, again


def test_a_new_sqlite_file_gets_a_new_group_even_at_the_same_path(bootstrap, tmp_path):
    topic = create_topic(bootstrap, unique_name("store-same-path"))
    db = str(tmp_path / "users.db")
    groups = []
    for _ in range(2):
        done = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 1, bootstrap=bootstrap)
        assert done.returncode == 0, done
        groups.append(re.search(r"in group '(store-users-[0-9a-f]{8})'", done.stdout).group(1))
    assert groups[0] == groups[1]
    (tmp_path / "users.db").unlink()  # a new database at the same path
    done = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 1, bootstrap=bootstrap)
    assert done.returncode == 0, done
    assert f"in group '{groups[0]}'" not in done.stdout, done


def test_an_earlier_versions_users_table_is_renamed_and_its_offsets_still_apply(bootstrap, tmp_path):
    """A users.db from before the table was called stored_users: its rows and offsets carry on."""
    topic = create_topic(bootstrap, unique_name("store-earlier"))
    send_users(bootstrap, topic, 30)
    db = str(tmp_path / "users.db")
    with sqlite3.connect(db) as connection:  # what the earlier version left: 20 users and the offset after them
        connection.execute("CREATE TABLE users (name TEXT PRIMARY KEY, profession TEXT, email TEXT, "
                           "data TEXT NOT NULL, kafka_partition INTEGER NOT NULL, "
                           "kafka_offset BIGINT NOT NULL, versions INTEGER NOT NULL)")
        connection.executemany("INSERT INTO users VALUES (?, 'p', 'e', '{}', 0, ?, 1)",
                               [(f"user-{n:07d}", n - 1) for n in range(1, 21)])
        connection.execute("CREATE TABLE kafka_offsets (topic TEXT NOT NULL, kafka_partition INTEGER NOT NULL, "
                           "next_offset BIGINT NOT NULL, PRIMARY KEY (topic, kafka_partition))")
        connection.execute("INSERT INTO kafka_offsets VALUES (?, 0, 20)", (topic,))
    done = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 2, bootstrap=bootstrap)
    assert done.returncode == 0, done
    assert done.lines[0] == f"Renamed the table 'users' of an earlier version of this script to '{TABLE}'.", done
    assert "it holds 20 users." in done.lines[1], done
    assert "Stored 10 users from 10 records" in done.stdout, done
    assert query(db, f"SELECT COUNT(*), SUM(versions) FROM {TABLE}") == [(30, 30)]
    assert query(db, "SELECT name FROM sqlite_master WHERE name = 'users'") == []


# --------------------------------------------------------------------------
# The two PostgreSQL chapters on one server, in either order


CHAPTER_ORDERS = {"databases-and-lag first": ("store", "change"), "kafka-connect first": ("change", "store")}


@pytest.mark.parametrize("order", CHAPTER_ORDERS, ids=list(CHAPTER_ORDERS))
def test_store_users_and_change_users_share_one_database(bootstrap, pg_db, order):
    """databases-and-lag.md's PostgreSQL step and kafka-connect.md's first change_users.py, on one database."""
    db = pg_db
    topic = create_topic(bootstrap, unique_name("store-chapters"))
    send_users(bootstrap, topic, 50)
    env = script_env(bootstrap, KIT_POSTGRES_URL=db)
    for step in CHAPTER_ORDERS[order]:
        if step == "store":
            done = run_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 2, env=env)
            assert done.returncode == 0, done
            assert "Stored 50 users from 50 records" in done.stdout, done
        else:
            done = run_script("change_users.py", "insert", "Ada", "Mathematician", env=env)
            assert done.returncode == 0, done
            assert done.lines == ['Inserted user 1    {"id": 1, "name": "Ada", "profession": "Mathematician"}'], done
    assert query(db, "SELECT id, name FROM users") == [(1, "Ada")]
    assert query(db, f"SELECT COUNT(*) FROM {TABLE}") == [(50,)]


# --------------------------------------------------------------------------
# A copy frozen inside its transaction


def backends_waiting_for_a_lock(db, like):
    return query(db, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE ?", like)


def wait_until(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message()
        time.sleep(0.2)


def assigned(copy):
    match = re.findall(r"assigned partitions \[([\d, ]*)\]", copy.text)
    return [int(p) for p in match[-1].split(",")] if match and match[-1] else []


# How long the others may take, beyond the chapter's bound, to rebalance and store a batch on a busy machine.
TAKEOVER_MARGIN_SECONDS = 10


@pytest.mark.slow
def test_copy_frozen_inside_its_transaction_stops_the_others_only_for_a_bound_postgresql(bootstrap, pg_db):
    """databases-and-lag.md: a copy frozen inside its transaction holds its locks 5 s at most on PostgreSQL, and the
    group gives its partitions to the others after the session timeout, 10 s; they then store those too."""
    db = pg_db
    topic = create_topic(bootstrap, unique_name("store-frozen"), partitions=2)
    frozen = start_script("store_users.py", "--topic", topic, "--db", db, bootstrap=bootstrap)
    frozen.wait_for(r"assigned partitions \[0, 1\]", timeout=60)
    other = start_script("store_users.py", "--topic", topic, "--db", db, bootstrap=bootstrap)
    other.wait_for(r"assigned partitions \[\d\]", timeout=60)
    frozen.wait_for(r"assigned partitions \[\d\]", timeout=60)
    [partition] = assigned(frozen)
    try:
        send_users(bootstrap, topic, 400)
        wait_until(lambda: stored_offsets(db, topic) == end_offsets(bootstrap, topic), 60,
                   lambda: frozen.text + "\n\n" + other.text)

        # Hold the frozen copy's offset row, so that its next transaction waits inside, then freeze it there.
        with pg_connect(db) as holder:
            holder.execute("SELECT next_offset FROM kafka_offsets WHERE topic = %s AND kafka_partition = %s "
                           "FOR UPDATE", (topic, partition))
            send_users(bootstrap, topic, 400)  # a second version of every user
            wait_until(lambda: backends_waiting_for_a_lock(db, "%UPDATE kafka_offsets%"), 60, lambda: frozen.text)
            frozen.signal(signal.SIGSTOP)
        # The holder committed: the frozen copy's UPDATE went through, and it holds that row now, frozen.
        frozen_at = time.monotonic()
        ends = end_offsets(bootstrap, topic)
        wait_until(lambda: stored_offsets(db, topic) == ends, 60,
                   lambda: f"while a copy was frozen inside its transaction, the others stored only "
                           f"{stored_offsets(db, topic)} of {ends}:\n{other.text}")
        waited = time.monotonic() - frozen_at
    finally:
        frozen.signal(signal.SIGCONT)
    say(f"[figures] the others stored the frozen copy's partition {waited:.1f} s after it froze")
    bound = max(FROZEN_BOUND_SECONDS, SESSION_TIMEOUT_SECONDS)
    assert waited < bound + TAKEOVER_MARGIN_SECONDS, (
        f"the others stored the frozen copy's partition {waited:.1f} s after it froze; the chapter's bound is "
        f"{bound} s (locks {FROZEN_BOUND_SECONDS} s, session timeout {SESSION_TIMEOUT_SECONDS} s), plus "
        f"{TAKEOVER_MARGIN_SECONDS} s for the rebalance:\n{other.text}")
    # Woken up, it learns that its session is gone, connects again and carries on with what the group gives it.
    frozen.wait_for(rf"^This copy was paused inside its database transaction for over {FROZEN_BOUND_SECONDS} s, so "
                    rf"PostgreSQL ended its session and rolled that batch back", timeout=60)
    assert other.interrupt() == 0, other.text
    assert frozen.interrupt() == 0, frozen.text
    assert "Traceback" not in frozen.text, frozen.text
    assert query(db, f"SELECT COUNT(*), SUM(versions) FROM {TABLE}") == [(400, 800)]


@pytest.mark.slow
def test_sqlite_copies_wait_for_a_held_write_lock_instead_of_exiting(bootstrap, tmp_path):
    """A copy frozen inside its transaction holds SQLite's write lock, as this test's own connection does
    here for longer than the old 60 s busy timeout: the others wait, say so, and carry on when it is free.

    Frozen in the middle of its commit, it holds the exclusive lock, which blocks even reading where the
    partitions stand (a full run, 2026-12-07: the other copy then exited with 'database is locked'), so
    that is the lock held here."""
    db = str(tmp_path / "users.db")
    topic = create_topic(bootstrap, unique_name("store-sqlite-lock"))
    copy = start_script("store_users.py", "--topic", topic, "--db", db, "--timeout", 5, bootstrap=bootstrap)
    copy.wait_for(r"assigned partitions \[0\]", timeout=60)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        send_users(bootstrap, topic, 100)
        # A line every 10 s, past the 60 s after which the copies used to give up with "database is locked".
        copy.wait_for(r"^Waiting for the SQLite write lock", timeout=90, count=7)
        assert copy.process.poll() is None, copy.text
    finally:
        holder.rollback()
        holder.close()
    assert copy.wait(60) == 0, copy.text
    assert "Stored 100 users from 100 records" in copy.text, copy.text
    assert "database is locked" not in copy.text


# --------------------------------------------------------------------------
# Isolation: the database's default does not change what a lost race looks like


def test_lost_race_under_serializable_default_is_reported_not_fatal(bootstrap, pg_db):
    db = pg_db
    with pg_connect(db, autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE {db.rsplit('/', 1)[1]} SET default_transaction_isolation = 'serializable'")
    topic, copy = copy_that_stored(bootstrap, db, "store-serial", 100, "--timeout", 4)
    with pg_connect(db) as other:  # another copy, in the middle of its own batch
        other.execute("UPDATE kafka_offsets SET next_offset = 150 WHERE topic = %s", (topic,))
        send_users(bootstrap, topic, 100)
        wait_until(lambda: backends_waiting_for_a_lock(db, "%UPDATE kafka_offsets%"), 60, lambda: copy.text)
    assert copy.wait(60) == 0, copy.text
    assert "Another copy got there first: partition 0 is stored up to offset 150, not 100" in copy.text, copy.text
    assert stored_offsets(db, topic) == {0: 200}


def test_a_lock_held_by_another_session_is_waited_for_a_bound_then_retried(bootstrap, pg_db):
    """A transaction left open in psql holds a row this copy needs: it says so every 10 s and carries on after."""
    db = pg_db
    topic, copy = copy_that_stored(bootstrap, db, "store-psql-lock", 20)
    with pg_connect(db) as psql:
        psql.execute("SELECT next_offset FROM kafka_offsets WHERE topic = %s FOR UPDATE", (topic,))
        send_users(bootstrap, topic, 10)
        copy.wait_for(r"^Waiting for a lock: another session has held a row of this batch for over 10 s", timeout=60)
    copy.wait_for(r"offsets \[partition 0 -> 30\] in one transaction", timeout=60)
    assert copy.interrupt() == 0, copy.text
    assert "Stored 30 users from 30 records" in copy.text, copy.text
    assert stored_offsets(db, topic) == {0: 30}


# --------------------------------------------------------------------------
# Signals at awkward moments


def test_second_ctrl_c_during_the_summary_says_what_happened(bootstrap, pg_db):
    db = pg_db
    _, copy = copy_that_stored(bootstrap, db, "store-ctrl-c", 20)
    with pg_connect(db) as locker:  # the summary's count waits for this lock, so the second Ctrl-C lands there
        locker.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        copy.signal(signal.SIGINT)
        wait_until(lambda: backends_waiting_for_a_lock(db, "%COUNT%"), 30, lambda: copy.text)
        copy.signal(signal.SIGINT)
        code = copy.wait(30)
    assert code == 130, copy.text
    assert "before reading anything" not in copy.text, copy.text
    assert "Traceback" not in copy.text, copy.text
    last = "Stopped by a second Ctrl-C before the table was counted; what is stored above stays stored."
    assert copy.lines[-1] == last, copy.text


def test_sigterm_before_reading_names_sigterm(bootstrap, pg_db):
    """`docker stop` or `kill` while the copy is still starting: the one line names SIGTERM, not Ctrl-C."""
    db = pg_db
    topic = create_topic(bootstrap, unique_name("store-term-early"))
    with pg_connect(db) as other:  # a copy creating the tables holds this lock: the new copy waits for it
        other.execute("SELECT pg_advisory_xact_lock(hashtext('store_users.py create tables'))")
        copy = start_script("store_users.py", "--topic", topic, "--db", db, bootstrap=bootstrap)
        wait_until(lambda: backends_waiting_for_a_lock(db, "%pg_advisory_xact_lock%"), 30, lambda: copy.text)
        copy.signal(signal.SIGTERM)
        code = copy.wait(30)
    assert code == 130, copy.text
    assert copy.lines == ["Stopped by SIGTERM before reading anything."], copy.text


# A commit that takes 30 s: a deferred trigger sleeps in it. On the copy's SIGTERM, psycopg cancels the query; the
# trigger then lets the commit go through, or fails it. PostgreSQL answers one cancel request with two SIGINTs, to
# the backend and to its process group (postmaster.c, signal_child()): when the backend has caught the first before
# the second lands, the second cancels whatever runs then. The trigger waits for it, so that it can neither fail
# a commit meant to go through nor cancel the copy's next query.
SLOW_COMMIT = """
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(30);
    RETURN NULL;
EXCEPTION WHEN query_canceled THEN
    BEGIN
        PERFORM pg_sleep(0.5);  -- the second SIGINT of the cancel, if it comes apart from the first, lands here
    EXCEPTION WHEN query_canceled THEN
        NULL;
    END;
    PERFORM pg_sleep({busy_after_cancel});  -- a server that takes this long to end the commit after the cancel
    IF {finish_on_cancel} THEN RETURN NULL; END IF;  -- the commit goes through despite the cancel
    RAISE;
END $$;
CREATE CONSTRAINT TRIGGER slow_commit AFTER UPDATE ON kafka_offsets DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION slow_commit();
"""


@pytest.mark.parametrize("commit_goes_through", [True, False], ids=["commit-went-through", "commit-cancelled"])
def test_sigterm_during_commit_says_whether_the_batch_was_stored(bootstrap, pg_db, commit_goes_through):
    db = pg_db
    topic, copy = copy_that_stored(bootstrap, db, "store-term", 20)
    with pg_connect(db, autocommit=True) as connection:
        connection.execute(SLOW_COMMIT.format(finish_on_cancel="TRUE" if commit_goes_through else "FALSE",
                                              busy_after_cancel=0))
    send_users(bootstrap, topic, 10)
    # The deferred trigger runs at COMMIT: the copy is inside commit() while the server sleeps.
    wait_until(lambda: query(db, "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'"), 60,
               lambda: copy.text)
    copy.signal(signal.SIGTERM)
    assert copy.wait(30) == 0, copy.text
    assert "Traceback" not in copy.text, copy.text
    offsets = stored_offsets(db, topic)
    if commit_goes_through:
        assert offsets == {0: 30}, copy.text
        assert ("Stopped by SIGTERM while committing a batch: the commit had gone through, so the batch is stored "
                "and is not read again.") in copy.lines, copy.text
        assert "Stored 30 users from 30 records" in copy.text, copy.text
    else:
        assert offsets == {0: 20}, copy.text
        assert ("Stopped by SIGTERM; the batch in progress (if any) was rolled back and is read again next time."
                in copy.lines), copy.text
        assert "Stored 20 users from 20 records" in copy.text, copy.text


def test_sigterm_during_a_commit_the_server_does_not_end_says_the_outcome_is_unknown(bootstrap, pg_db):
    """PostgreSQL still busy with the commit 5 s after psycopg's cancel: psycopg then closes the connection. The copy
    says it cannot know whether the batch was stored (the commit may still go through), not "connection is closed"."""
    db = pg_db
    topic, copy = copy_that_stored(bootstrap, db, "store-term-busy", 20)
    with pg_connect(db, autocommit=True) as connection:
        connection.execute(SLOW_COMMIT.format(finish_on_cancel="TRUE", busy_after_cancel=6))
    send_users(bootstrap, topic, 10)
    wait_until(lambda: query(db, "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'"), 60,
               lambda: copy.text)
    copy.signal(signal.SIGTERM)
    assert copy.wait(30) == 0, copy.text
    assert "Traceback" not in copy.text and "error:" not in copy.text, copy.text
    assert copy.lines[-3:] == [
        "Stored 20 users from 20 records" + copy.lines[-3].split(" records", 1)[1],
        "Stopped by SIGTERM while committing a batch, and the database did not say whether the commit went "
        "through; the next run continues from the stored offsets either way.",
        f"Table '{TABLE}' not counted: the connection to the database was closed because it did not end the "
        f"interrupted commit within 5 s."], copy.text
    # The server ended the commit after the copy had gone: here it went through.
    wait_until(lambda: stored_offsets(db, topic) == {0: 30}, 30, lambda: str(stored_offsets(db, topic)))
