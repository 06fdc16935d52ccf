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
per database unless --group says otherwise). The group only decides who reads
which partition; where to start is always read from the database, never from
Kafka's committed offsets. Each transaction moves a stored offset only if it is
still where this copy started its batch (a compare-and-set), so a copy that
fell behind, or woke up after a long pause, cannot apply a record twice.
"""

import hashlib
import json
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
# Copies on one SQLite file take turns to write; a copy waits this long for its turn before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 60

# The user's name is the table's key: a second record for the same name updates the row (an upsert).
CREATE_USERS = """
CREATE TABLE IF NOT EXISTS users (
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

# ON CONFLICT ... DO UPDATE is the same in SQLite (3.24+) and PostgreSQL (9.5+).
UPSERT_USER = """
INSERT INTO users (name, profession, email, data, kafka_partition, kafka_offset, versions)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (name) DO UPDATE SET
    profession = excluded.profession, email = excluded.email, data = excluded.data,
    kafka_partition = excluded.kafka_partition, kafka_offset = excluded.kafka_offset,
    versions = users.versions + 1"""

# The compare-and-set that fences copies from each other: the offset moves only from where this copy
# expected it. The row count says whether it did (1) or another copy got there first (0).
MOVE_OFFSET = """
UPDATE kafka_offsets SET next_offset = ?
WHERE topic = ? AND kafka_partition = ? AND next_offset = ?"""

# The same for a partition with no offset stored yet: only one copy can be the first.
FIRST_OFFSET = """
INSERT INTO kafka_offsets (topic, kafka_partition, next_offset) VALUES (?, ?, ?)
ON CONFLICT (topic, kafka_partition) DO NOTHING"""


def default_group(db):
    """One consumer group per database: copies on the same database share the work, others don't."""
    if is_postgres(db):
        where = safe_url(db).replace("postgres://", "postgresql://", 1)  # the password plays no part
    else:
        where = os.path.abspath(db)
    return "store-users-" + hashlib.sha256(where.encode("utf-8")).hexdigest()[:8]


def parse_args(argv):
    parser = helpers.ArgumentParser(
        description="Consume user records and upsert them into a database table, exactly once.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--db", default=os.environ.get("KIT_DB", DEFAULT_DB), metavar="PATH_OR_URL",
                        help="a SQLite file, or a postgresql://user:password@host:port/dbname URL "
                             "(env KIT_DB, default %(default)s)")
    parser.add_argument("--group", metavar="NAME",
                        help="consumer group shared by the copies that split the work "
                             "(default: store-users- and a short hash of the database)")
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
    args.group = args.group or default_group(args.db)
    return args


# --------------------------------------------------------------------------
# the database


class DatabaseError(Exception):
    """The database cannot be opened or used: one line for the learner."""


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
        try:
            connection = psycopg.connect(db, connect_timeout=5)
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


def create_tables(connection):
    cursor = connection.cursor()
    if not is_sqlite(connection):
        # Copies started together would race to create the tables, and PostgreSQL fails the loser of
        # CREATE TABLE IF NOT EXISTS; this lock (held until commit) makes them take turns.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('store_users.py create tables'))")
    cursor.execute(CREATE_USERS)
    cursor.execute(CREATE_OFFSETS)
    connection.commit()


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
    cursor.execute("SELECT COUNT(*) FROM users")
    count = cursor.fetchone()[0]
    connection.commit()
    return count


def store_batch(connection, topic, rows, expected, next_offsets):
    """The rows AND the offsets after them, in one transaction: all of it is saved, or none.

    expected[partition] is the stored offset this copy started the batch from (None: nothing stored yet).
    Returns None when saved, or the first partition whose stored offset another copy had already moved:
    then nothing was saved."""
    cursor = connection.cursor()
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
    except BaseException:
        connection.rollback()  # e.g. Ctrl-C halfway: nothing of this batch is kept, it is read again next time
        raise
    return None


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
        print(f"error: topic '{args.topic}' does not exist at {args.bootstrap_server}; create it with "
              f"'python create_topic.py --topic {args.topic}'", file=sys.stderr)
        return 1
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
                seek_to_stored(consumer, connection, args.topic, just_assigned, positions, announce=True)
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
                lost_race = store_batch(connection, args.topic, rows, expected, next_offsets)
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
    except KeyboardInterrupt:
        stop_reason = "Stopped by Ctrl-C; the batch in progress (if any) was rolled back and is read again next time."
    finally:
        assignments.stopping = True  # close() revokes our partitions; no need to announce that
    seconds = time.monotonic() - started
    rate = received / seconds if seconds > 0 else 0.0
    skipped = f"; {bad} bad record(s) skipped" if bad else ""
    print(f"Stored {stored:,} users from {received:,} records in {seconds:.2f} s: {rate:,.0f} records/s{skipped}")
    if conflicts:
        print(f"{conflicts} batch(es) rolled back because another copy had stored them first.")
    print(stop_reason)
    print(f"Table 'users' now holds {count_users(connection):,} users. Offsets stored with them: "
          f"{offsets_text(stored_offsets(connection, args.topic))}; the next run continues from there.")
    return 0


def offset_or_none(offset):
    return "(none)" if offset is None else f"{offset:,}"


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    # `docker stop` and `kill` send SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        config = {**kafka_settings.connection_settings(args, "kit-store-users"), **CONSUMER_CONFIG,
                  "group_id": args.group}
        connection, description, db_error = open_database(args.db)
    except (helpers.UsageError, DatabaseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        create_tables(connection)
        print(f"Database: {description} (tables 'users' and 'kafka_offsets'); "
              f"it holds {count_users(connection):,} users.", flush=True)
        consumer = KafkaConsumer(**config)
        try:
            return consume_and_store(consumer, connection, args)
        finally:
            # close() leaves the group at once, so the other copies take over its partitions without waiting.
            consumer.close(autocommit=False)
    except KafkaError as error:
        print(f"error: {helpers.describe_failure(error, args)}", file=sys.stderr)
        return 1
    except db_error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = ""
        if "locked" in first_line:
            hint = (f"; another copy held it for over {SQLITE_BUSY_TIMEOUT_SECONDS} s (paused with Ctrl-Z?): "
                    f"resume or stop that copy, then run again")
        print(f"error: the database {description} failed: {first_line}{hint}", file=sys.stderr)
        return 1
    finally:
        connection.close()


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C before reading anything.")
