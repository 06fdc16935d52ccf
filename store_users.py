"""Consume user records and upsert them into a database table, exactly once.

    python store_users.py                                   # SQLite file users.db, topic 'Users'
    python store_users.py --db /tmp/kit.db --timeout 5      # stop after 5 s without new records
    python store_users.py --db postgresql://kit:secret@localhost:5432/kit   # needs: pip install "psycopg[binary]"

Exactly once into the table: each batch of rows is written in ONE database
transaction together with the Kafka offsets it came from (table kafka_offsets).
Either both are saved or neither is. A crash (even kill -9) never loses a user
and never applies one twice.

Several copies can share the work: start the script again on the same database
and the copies split the topic's partitions through a consumer group (one group
per database, named after a random id stored in it, unless --group says otherwise). The group only decides who reads
which partition; where to start is always read from the database, never from
Kafka's committed offsets. Each transaction moves a stored offset only if it is
still where this copy started its batch (a compare-and-set), so a copy that
fell behind, or woke up after a long pause, cannot apply a record twice.
"""

import json
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from urllib.parse import urlsplit

import helpers

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import IllegalStateError, KafkaError

import kafka_settings

DEFAULT_DB = "users.db"

SESSION_TIMEOUT_SECONDS = 10

CONSUMER_CONFIG = {
    "enable_auto_commit": False,  # nothing to commit to Kafka; the offsets live in the database
    "auto_offset_reset": "earliest",  # a partition with no stored offset starts at its oldest record
    "isolation_level": "read_committed",  # never store records of an aborted producer transaction
    "max_poll_records": 500,  # one batch = one database transaction
    "session_timeout_ms": SESSION_TIMEOUT_SECONDS * 1000,  # a crashed copy's partitions move to the others
    "heartbeat_interval_ms": 3000,
}

POLL_TIMEOUT_MS = 500
RAW_PREVIEW_BYTES = 60
# Copies on one SQLite file take turns to write. A copy that waits longer than this for its turn says so,
# and waits on: SQLite cannot take the lock away from a copy paused inside its transaction.
SQLITE_BUSY_TIMEOUT_SECONDS = 10
# PostgreSQL ends the session of a copy paused (Ctrl-Z, a frozen machine) inside its transaction after this
# long, which frees its row locks for the other copies; a healthy copy's transaction takes milliseconds.
PG_PAUSED_IN_TRANSACTION_SECONDS = 5
# A row lock held by any other session (an open transaction in psql, say) is waited for this long, then the
# batch is rolled back and tried again, with a line that says so.
PG_LOCK_TIMEOUT_SECONDS = 10

TABLE = "stored_users"  # not `users`: change_users.py (docs/kafka-connect.md) has a table of that name

# The user's name is the table's key: a second record for the same name updates the row (an upsert).
CREATE_USERS = """
CREATE TABLE IF NOT EXISTS stored_users (
    name            TEXT PRIMARY KEY,
    profession      TEXT,
    email           TEXT,
    data            TEXT NOT NULL,     -- the whole record as JSON
    kafka_partition INTEGER NOT NULL,  -- where the latest version came from
    kafka_offset    BIGINT NOT NULL,
    versions        INTEGER NOT NULL   -- how many records were applied to this row
)"""

# One row per partition: the offset of the next record to read.
CREATE_OFFSETS = """
CREATE TABLE IF NOT EXISTS kafka_offsets (
    topic           TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset     BIGINT NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
)"""

# This database's own id: copies on the same database find each other through the group named after it,
# and another database (even at the same path or URL) gets another id, so another group.
CREATE_DATABASE_ID = """
CREATE TABLE IF NOT EXISTS kafka_database_id (
    only_row        INTEGER PRIMARY KEY CHECK (only_row = 1),
    database_id     TEXT NOT NULL      -- made at random on first use
)"""

# ON CONFLICT ... DO UPDATE is the same in SQLite (3.24+) and PostgreSQL (9.5+).
UPSERT_USER = """
INSERT INTO stored_users (name, profession, email, data, kafka_partition, kafka_offset, versions)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (name) DO UPDATE SET
    profession = excluded.profession, email = excluded.email, data = excluded.data,
    kafka_partition = excluded.kafka_partition, kafka_offset = excluded.kafka_offset,
    versions = stored_users.versions + 1"""

# The compare-and-set that fences copies from each other: the offset moves only from where this copy
# expected it. The row count says whether it did (1) or another copy got there first (0).
MOVE_OFFSET = """
UPDATE kafka_offsets SET next_offset = ?
WHERE topic = ? AND kafka_partition = ? AND next_offset = ?"""

# The same for a partition with no offset stored yet: only one copy can be the first.
FIRST_OFFSET = """
INSERT INTO kafka_offsets (topic, kafka_partition, next_offset) VALUES (?, ?, ?)
ON CONFLICT (topic, kafka_partition) DO NOTHING"""


def parse_args(argv):
    parser = helpers.ArgumentParser(
        description="Consume user records and upsert them into a database table, exactly once.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--db", default=os.environ.get("KIT_DB", DEFAULT_DB), metavar="PATH_OR_URL",
                        help="a SQLite file, or a postgresql://user:password@host:port/dbname URL "
                             "(env KIT_DB, default %(default)s)")
    parser.add_argument("--group", metavar="NAME",
                        help="consumer group shared by the copies that split the work "
                             "(default: store-users- and the id stored in the database)")
    parser.add_argument("--max-messages", type=helpers.positive_int, metavar="N",
                        help="stop after N records")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop when no record has arrived for this long")
    args = parser.parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        parser.error(f"argument --timeout: must be more than 0 seconds, got {args.timeout:g}")
    if not args.db.strip():
        parser.error("argument --db: empty; give a SQLite file path or a postgresql:// URL")
    if args.group is not None and not args.group.strip():
        parser.error("argument --group: empty; give a name, or leave --group out for the database's default")
    return args


# --------------------------------------------------------------------------
# the database


class DatabaseError(Exception):
    """The database cannot be opened or used: one line for the learner."""


class OffsetBeyondEnd(Exception):
    """A stored offset lies past the partition's end: Kafka lost the records the database has stored."""


class LockWaitTooLong(Exception):
    """The batch waited too long for a lock held by another copy or session; it was rolled back."""


class PausedInTransaction(Exception):
    """PostgreSQL ended this copy's session: it was paused inside its transaction for too long."""

    def __str__(self):
        return (f"This copy was paused inside its database transaction for over {PG_PAUSED_IN_TRANSACTION_SECONDS} s, "
                f"so PostgreSQL ended its session and rolled that batch back (the other copies carried on); it "
                f"connected again and reading goes on from the stored offsets")


def is_postgres(db):
    return db.startswith(("postgresql://", "postgres://"))


def safe_url(url):
    """The URL without its password, fit to print."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def open_database(db):
    """(connection, description, the module's error class) for a SQLite path or a PostgreSQL URL."""
    if is_postgres(db):
        try:
            import psycopg
        except ImportError:
            raise DatabaseError('PostgreSQL needs the psycopg package: pip install "psycopg[binary]"') from None
        # psycopg would log a lost connection a second time, as a warning, beside the error this script prints.
        logging.getLogger("psycopg").setLevel(logging.ERROR)
        try:
            connection = psycopg.connect(db, connect_timeout=5)
            # Read committed, whatever the server's default: a copy that lost the race then finds the winner's
            # offset (and says "got there first") instead of failing with a serialization error.
            connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            connection.execute(f"SET idle_in_transaction_session_timeout = '{PG_PAUSED_IN_TRANSACTION_SECONDS}s'")
            connection.execute(f"SET lock_timeout = '{PG_LOCK_TIMEOUT_SECONDS}s'")
            connection.commit()
        except psycopg.Error as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise DatabaseError(f"cannot connect to PostgreSQL at {safe_url(db)}: {first_line}") from None
        return connection, f"PostgreSQL {safe_url(db)}", psycopg.Error
    path = os.path.abspath(db)
    if not os.path.isdir(os.path.dirname(path)):
        raise DatabaseError(f"cannot create the SQLite file {path}: the folder {os.path.dirname(path)} does not exist")
    return sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS), f"SQLite file {path}", sqlite3.Error


def is_sqlite(connection):
    return isinstance(connection, sqlite3.Connection)


def sql(connection, text):
    """sqlite3 marks parameters with ?, psycopg with %s."""
    return text if is_sqlite(connection) else text.replace("?", "%s")


def is_lock_wait_timeout(error):
    """SQLite's busy timeout, or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error)
    return getattr(error, "sqlstate", None) == "55P03"


def prepare_database(connection):
    """Create the tables on first use; returns (the database's id, whether an earlier version's table was renamed)."""
    cursor = connection.cursor()
    if is_sqlite(connection):
        cursor.execute("BEGIN IMMEDIATE")  # copies started together take turns, so only one makes the id
    else:
        # Copies started together would race to create the tables, and PostgreSQL fails the loser of
        # CREATE TABLE IF NOT EXISTS; this lock (held until commit) makes them take turns.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('store_users.py create tables'))")
    renamed = rename_earlier_table(connection, cursor)
    cursor.execute(CREATE_USERS)
    cursor.execute(CREATE_OFFSETS)
    cursor.execute(CREATE_DATABASE_ID)
    cursor.execute(sql(connection, "INSERT INTO kafka_database_id (only_row, database_id) VALUES (1, ?) "
                                   "ON CONFLICT (only_row) DO NOTHING"), (os.urandom(4).hex(),))
    cursor.execute("SELECT database_id FROM kafka_database_id")
    database_id = cursor.fetchone()[0]
    connection.commit()
    return database_id, renamed


def rename_earlier_table(connection, cursor):
    """Earlier versions of this script called the table `users`: keep its rows, which its offsets belong to."""
    def columns(table):
        if is_sqlite(connection):
            cursor.execute("SELECT name FROM pragma_table_info(?)", (table,))
        else:
            cursor.execute("SELECT column_name FROM information_schema.columns "
                           "WHERE table_schema = current_schema() AND table_name = %s", (table,))
        return {row[0] for row in cursor.fetchall()}

    if columns(TABLE) or not {"versions", "kafka_offset"} <= columns("users"):
        return False  # already done, or `users` is another program's table (change_users.py's)
    cursor.execute(f"ALTER TABLE users RENAME TO {TABLE}")
    return True


def stored_offsets(connection, topic):
    """{partition: next offset} as saved by the last committed transaction."""
    cursor = connection.cursor()
    cursor.execute(sql(connection, "SELECT kafka_partition, next_offset FROM kafka_offsets WHERE topic = ?"),
                   (topic,))
    offsets = dict(cursor.fetchall())
    connection.commit()  # end the read-only transaction psycopg opened
    return offsets


def count_users(connection):
    cursor = connection.cursor()
    cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")
    count = cursor.fetchone()[0]
    connection.commit()
    return count


def store_batch(connection, topic, rows, expected, next_offsets):
    """The rows AND the offsets after them, in one transaction: all of it is saved, or none.

    expected[partition] is the stored offset this copy started the batch from (None: nothing stored yet).
    Returns None when saved, or the first partition whose stored offset another copy had already moved:
    then nothing was saved."""
    cursor = connection.cursor()
    started = time.monotonic()
    try:
        if is_sqlite(connection):
            # Take the write lock now, not at the first UPDATE: copies then queue up for their turn
            # (up to the busy timeout) instead of failing with "database is locked" halfway.
            cursor.execute("BEGIN IMMEDIATE")
        # Offsets first, in partition order: a copy that lost the race stops before writing any user,
        # and two copies always lock the offset rows in the same order (no deadlock in PostgreSQL).
        for partition in sorted(next_offsets):
            if expected[partition] is None:
                cursor.execute(sql(connection, FIRST_OFFSET), (topic, partition, next_offsets[partition]))
            else:
                cursor.execute(sql(connection, MOVE_OFFSET),
                               (next_offsets[partition], topic, partition, expected[partition]))
            if cursor.rowcount != 1:
                connection.rollback()
                return partition
        if rows:
            cursor.executemany(sql(connection, UPSERT_USER), rows)
        connection.commit()
    except Exception as error:
        if not is_sqlite(connection) and connection.broken:
            if time.monotonic() - started > PG_PAUSED_IN_TRANSACTION_SECONDS:
                raise PausedInTransaction() from None  # idle_in_transaction_session_timeout ended the session
            raise
        connection.rollback()
        if is_lock_wait_timeout(error):
            raise LockWaitTooLong() from None
        raise
    except BaseException:
        # e.g. Ctrl-C halfway: nothing of this batch is kept, it is read again next time. If PostgreSQL did not end
        # the interrupted statement within 5 s of the cancel, psycopg has closed the connection: nothing to roll back.
        if not connection_closed(connection):
            connection.rollback()
        raise
    return None


def connection_closed(connection):
    return not is_sqlite(connection) and connection.closed


# --------------------------------------------------------------------------
# the records


def user_row(record):
    """(the row to upsert, None) for a good user record, or (None, what is wrong with it)."""
    if not record.value:
        return None, "empty value"
    try:
        user = json.loads(record.value.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError:
        return None, "not JSON"
    if not isinstance(user, dict):
        return None, "JSON, but not an object"
    name = user.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, 'no "name" (the table\'s key)'
    for field in ("name", "profession", "email"):
        value = user.get(field)
        if value is not None and not isinstance(value, str):
            return None, f'"{field}" is not text'
        if value and "\x00" in value:
            return None, f'"{field}" contains a NUL character, which a text column cannot hold'
    data = json.dumps(user, ensure_ascii=False)
    return (name, user.get("profession"), user.get("email"), data, record.partition, record.offset), None


def preview(value):
    if value is None:
        return "null"
    return repr(value[:RAW_PREVIEW_BYTES]) + ("..." if len(value) > RAW_PREVIEW_BYTES else "")


def offsets_text(offsets):
    return ", ".join(f"partition {p} -> {o:,}" for p, o in sorted(offsets.items()) if o is not None) or "none"


# --------------------------------------------------------------------------
# sharing the partitions with other copies


class FollowAssignments(ConsumerRebalanceListener):
    """Notes which partitions the group gives this copy.

    kafka-python calls it from its network thread, so it must not block, print or touch the database.
    It pauses each newly assigned partition, so that nothing is read from it before the main loop
    has sought it to the offset stored in the database; the main loop also prints the news."""

    def __init__(self, consumer, args):
        self.consumer = consumer
        self.group = args.group
        self.topic = args.topic
        self.lock = threading.Lock()  # the network thread adds, the main loop takes
        self.news = []
        self.to_position = set()
        self.stopping = False

    def on_partitions_revoked(self, revoked):
        with self.lock:
            self.to_position.difference_update(revoked)
            if revoked and not self.stopping:
                self.news.append(f"Group '{self.group}': rebalancing, partitions "
                                 f"{sorted(tp.partition for tp in revoked)} revoked")

    def on_partitions_lost(self, lost):
        with self.lock:
            self.to_position.difference_update(lost)
            if lost and not self.stopping:
                self.news.append(f"Group '{self.group}': this copy was silent for longer than the session "
                                 f"timeout (paused?); partitions {sorted(tp.partition for tp in lost)} "
                                 f"were given to another copy")

    def on_partitions_assigned(self, assigned):
        partitions = sorted(assigned, key=lambda tp: tp.partition)
        self.consumer.pause(*partitions)
        with self.lock:
            self.to_position.update(partitions)
            if partitions:
                self.news.append(f"Group '{self.group}': assigned partitions "
                                 f"{[tp.partition for tp in partitions]} of topic '{self.topic}'")
            else:
                self.news.append(f"Group '{self.group}': no partition assigned to this copy (the group has "
                                 f"more copies than the topic has partitions); it waits as a standby")

    def position_again(self, partitions):
        """The main loop could not read where these partitions stand: it seeks them in its next round."""
        with self.lock:
            self.to_position.update(partitions)

    def take_news(self):
        """(lines to print, partitions to seek to their stored offsets) since the last call."""
        with self.lock:
            news, self.news = self.news, []
            to_position, self.to_position = self.to_position, set()
        return news, to_position


def seek_to_stored(consumer, connection, topic, partitions, positions, announce):
    """Seek each partition to the offset stored in the database and note it in positions.

    Kafka's committed offsets are never used: only the database knows what is in the table."""
    stored = stored_offsets(connection, topic)
    check_offsets_within_ends(consumer, topic, partitions, stored)
    for tp in sorted(partitions, key=lambda tp: tp.partition):
        offset = stored.get(tp.partition)
        try:
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
            consumer.resume(tp)
        except (ValueError, KeyError, IllegalStateError):
            continue  # a rebalance has just taken it away from this copy; nothing to read from it
        positions[tp.partition] = offset
        if announce:
            where = ("the oldest record (no offset stored yet)" if offset is None
                     else f"offset {offset:,} (stored in the database)")
            print(f"  partition {tp.partition:<3} starts at {where}")
    return stored


def seek_to_stored_or_wait(consumer, connection, assignments, topic, partitions, positions, announce):
    """seek_to_stored() and True; or, when the database stays locked (a SQLite copy frozen in the middle of its
    commit blocks even reading), say so, try again in the next round, and False: meanwhile these partitions
    are paused and nothing of them is stored, since where they stand in the database is unknown."""
    try:
        seek_to_stored(consumer, connection, topic, partitions, positions, announce)
        return True
    except Exception as error:  # sqlite3.OperationalError: database is locked
        if not is_lock_wait_timeout(error):
            raise
        connection.rollback()
        consumer.pause(*partitions)
        for tp in partitions:
            positions.pop(tp.partition, None)
        assignments.position_again(partitions)
        print(lock_wait_line(connection), flush=True)
        return False


def check_offsets_within_ends(consumer, topic, partitions, stored):
    """A stored offset past the partition's end means Kafka no longer has what the database stored (its data
    was deleted, or the topic made again). Seeking there would make the consumer start over at the oldest
    record, and every record below the stored offset would be skipped: stop instead, before reading any."""
    with_offsets = [tp for tp in partitions if stored.get(tp.partition) is not None]
    ends = consumer.end_offsets(with_offsets) if with_offsets else {}
    for tp in sorted(with_offsets, key=lambda tp: tp.partition):
        offset, end = stored[tp.partition], ends.get(tp)
        if end is not None and offset > end:
            raise OffsetBeyondEnd(
                f"partition {tp.partition} of topic '{topic}' ends at offset {end:,}, but the database has stored "
                f"offset {offset:,} for it: Kafka's data was deleted since (local_kafka.py stop --clean, docker "
                f"compose down -v) or the topic was created again. Nothing was stored. Use a new database (--db), "
                f"or read the topic again into this one after DELETE FROM kafka_offsets WHERE topic = '{topic}' "
                f"(docs/databases-and-lag.md)")


def records_to_store(batch, positions, just_positioned, owned):
    """The records of this batch this copy may store: from partitions it still owns and has positioned,
    and none from before its position (fetched before a seek)."""
    usable = {}
    for tp, records in batch.items():
        if tp not in owned or tp in just_positioned or tp.partition not in positions:
            continue
        start = positions[tp.partition]
        records = [record for record in records if start is None or record.offset >= start]
        if records:
            usable[tp] = records
    return usable


# --------------------------------------------------------------------------
# consume and store


def consume_and_store(consumer, connection, args):
    assignments = FollowAssignments(consumer, args)
    consumer.subscribe([args.topic], listener=assignments)
    if not consumer.partitions_for_topic(args.topic):
        return helpers.topic_missing(args)
    print(f"Reading topic '{args.topic}' at {args.bootstrap_server} in group '{args.group}': "
          f"copies in the same group share its partitions (Ctrl-C to stop)...", flush=True)
    # partition -> offset of the next record, as this copy believes it is stored (None: nothing stored yet).
    # Each transaction moves the stored offset only if it still equals this.
    positions = {}
    started = time.monotonic()
    # Joining can take until a crashed copy's session has expired: --timeout counts from after that,
    # or from the moment the group gives this copy its partitions, whichever comes first.
    last_record_at = started + SESSION_TIMEOUT_SECONDS
    received = stored = bad = conflicts = 0
    stop_reason = None
    in_flight = None  # (next offsets, rows, bad records) of the batch being stored, while store_batch runs
    try:
        while stop_reason is None:
            remaining = args.max_messages - received if args.max_messages else None
            # The first poll joins the group and gets partitions assigned, which takes a moment.
            batch = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=remaining)
            news, just_assigned = assignments.take_news()
            for line in news:
                print(line, flush=True)
            if news:
                last_record_at = time.monotonic()  # --timeout counts from when we have partitions to read
            owned = consumer.assignment()
            positions = {p: o for p, o in positions.items() if TopicPartition(args.topic, p) in owned}
            if just_assigned:
                if not seek_to_stored_or_wait(consumer, connection, assignments, args.topic, just_assigned,
                                              positions, announce=True):
                    last_record_at = time.monotonic()  # busy, not idle: --timeout does not count this
                sys.stdout.flush()
            records = records_to_store(batch, positions, just_assigned, owned)
            rows, batch_bad, next_offsets = [], 0, {}
            for tp, partition_records in records.items():
                for record in partition_records:
                    row, problem = user_row(record)
                    if problem:
                        batch_bad += 1
                        print(f"Warning: partition {record.partition} offset {record.offset}: {problem}; "
                              f"skipped: {preview(record.value)}", flush=True)
                    else:
                        rows.append(row)
                    next_offsets[tp.partition] = record.offset + 1
            if next_offsets:
                expected = {p: positions[p] for p in next_offsets}
                in_flight = next_offsets, len(rows), batch_bad
                try:
                    lost_race = store_batch(connection, args.topic, rows, expected, next_offsets)
                except (LockWaitTooLong, PausedInTransaction) as delay:
                    in_flight = None
                    if isinstance(delay, PausedInTransaction):
                        print(delay, flush=True)
                        connection, _, _ = open_database(args.db)  # the old session is gone: a new one
                    else:
                        print(lock_wait_line(connection), flush=True)
                    seek_to_stored_or_wait(consumer, connection, assignments, args.topic, owned, positions,
                                           announce=False)
                    last_record_at = time.monotonic()  # busy, not idle: --timeout does not count this
                    continue
                in_flight = None
                if lost_race is None:
                    positions.update(next_offsets)
                    received += len(rows) + batch_bad
                    stored += len(rows)
                    bad += batch_bad
                    last_record_at = time.monotonic()
                    print(f"Stored {len(rows):>5} users ({batch_bad} bad skipped) and offsets "
                          f"[{offsets_text(positions)}] in one transaction", flush=True)
                else:
                    conflicts += 1
                    was = expected[lost_race]
                    now = seek_to_stored(consumer, connection, args.topic, owned, positions, announce=False)
                    print(f"Another copy got there first: partition {lost_race} is stored up to offset "
                          f"{offset_or_none(now.get(lost_race))}, not {offset_or_none(was)}; this batch of "
                          f"{len(rows) + batch_bad} records was rolled back and reading goes on from the "
                          f"stored offsets", flush=True)
            if args.max_messages and received >= args.max_messages:
                stop_reason = f"Reached --max-messages {args.max_messages}."
            elif args.timeout and time.monotonic() - last_record_at >= args.timeout:
                stop_reason = f"No new records for {args.timeout:g} s (--timeout)."
    except KeyboardInterrupt as stop:
        how = helpers.stopped_by(stop)  # Ctrl-C, or SIGTERM from `docker stop` or `kill`
        stop_reason = f"Stopped by {how}; the batch in progress (if any) was rolled back and is read again next time."
        if in_flight is not None:  # the Ctrl-C (or SIGTERM) may have landed after the commit went through
            next_offsets, batch_rows, batch_bad = in_flight
            outcome = batch_outcome(connection, args.topic, next_offsets)
            if outcome == "stored":
                received, stored, bad = received + batch_rows + batch_bad, stored + batch_rows, bad + batch_bad
                stop_reason = (f"Stopped by {how} while committing a batch: the commit had gone through, so the "
                               f"batch is stored and is not read again.")
            elif outcome == "unknown":
                stop_reason = (f"Stopped by {how} while committing a batch, and the database did not say whether "
                               f"the commit went through; the next run continues from the stored offsets either way.")
    finally:
        assignments.stopping = True  # close() revokes our partitions; no need to announce that
    seconds = time.monotonic() - started
    rate = received / seconds if seconds > 0 else 0.0
    skipped = f"; {bad} bad record(s) skipped" if bad else ""
    print(f"Stored {stored:,} users from {received:,} records in {seconds:.2f} s: {rate:,.0f} records/s{skipped}")
    if conflicts:
        print(f"{conflicts} batch(es) rolled back because another copy had stored them first.")
    print(stop_reason, flush=True)
    if connection_closed(connection):  # the commit a Ctrl-C interrupted did not end in time (see store_batch)
        print(f"Table '{TABLE}' not counted: the connection to the database was closed because it did not end the "
              f"interrupted commit within 5 s.")
        return 0
    try:
        print(f"Table '{TABLE}' now holds {count_users(connection):,} users. Offsets stored with them: "
              f"{offsets_text(stored_offsets(connection, args.topic))}; the next run continues from there.")
    except KeyboardInterrupt as again:
        print(f"Stopped by a second {helpers.stopped_by(again)} before the table was counted; what is stored above "
              f"stays stored.")
        return 130
    return 0


def batch_outcome(connection, topic, next_offsets):
    """'stored' if the stored offsets are the ones the interrupted batch was committing, else 'rolled back';
    'unknown' if the database cannot be asked."""
    try:
        connection.rollback()  # whatever the interrupted call left open
        now = stored_offsets(connection, topic)
    except Exception:
        return "unknown"
    return "stored" if all(now.get(p) == o for p, o in next_offsets.items()) else "rolled back"


def lock_wait_line(connection):
    if is_sqlite(connection):
        return (f"Waiting for the SQLite write lock: another copy has held it for over {SQLITE_BUSY_TIMEOUT_SECONDS} s "
                f"(paused with Ctrl-Z? resume it with fg, or stop it); this batch is tried again")
    return (f"Waiting for a lock: another session has held a row of this batch for over {PG_LOCK_TIMEOUT_SECONDS} s "
            f"(a transaction left open in psql?); the batch was rolled back and is tried again")


def database_failure(error, description):
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    hint = ""
    if "locked" in first_line:
        hint = (f"; another copy held it for over {SQLITE_BUSY_TIMEOUT_SECONDS} s (paused with Ctrl-Z?): "
                f"resume or stop that copy, then run again")
    return f"the database {description} failed: {first_line}{hint}"


def offset_or_none(offset):
    return "(none)" if offset is None else f"{offset:,}"


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    # `docker stop` and `kill` send SIGTERM: stop as cleanly as on Ctrl-C (the last line says which it was).
    signal.signal(signal.SIGTERM, helpers.raise_terminated)
    try:
        config = {**kafka_settings.connection_settings(args, "kit-store-users"), **CONSUMER_CONFIG}
        connection, description, db_error = open_database(args.db)
    except (helpers.UsageError, DatabaseError) as error:
        helpers.print_error(f"error: {error}")
        return 2
    try:
        database_id, renamed = prepare_database(connection)
        args.group = args.group or f"store-users-{database_id}"
        if renamed:
            print(f"Renamed the table 'users' of an earlier version of this script to '{TABLE}'.")
        print(f"Database: {description} (tables '{TABLE}' and 'kafka_offsets'); "
              f"it holds {count_users(connection):,} users.", flush=True)
        consumer = KafkaConsumer(**config, group_id=args.group)
        try:
            return consume_and_store(consumer, connection, args)
        finally:
            # close() leaves the group at once, so the other copies take over its partitions without waiting.
            try:
                consumer.close(autocommit=False)
            except KeyboardInterrupt:
                pass  # pressed again while leaving: the group notices after the session timeout instead
    except (OffsetBeyondEnd, DatabaseError) as error:
        helpers.print_error(f"error: {error}")
        return 1
    except KafkaError as error:
        return helpers.fail(error, args)
    except db_error as error:
        helpers.print_error(f"error: {database_failure(error, description)}")
        return 1
    finally:
        connection.close()


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C before reading anything.")
