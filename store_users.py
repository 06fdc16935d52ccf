"""Consume user records and upsert them into a database table, exactly once.

    python store_users.py                                   # SQLite file users.db, topic 'Users'
    python store_users.py --db /tmp/kit.db --timeout 5      # stop after 5 s without new records
    python store_users.py --db postgresql://kit:secret@localhost:5432/kit   # needs: pip install "psycopg[binary]"

Exactly once into the table: each batch of rows is written in ONE database
transaction together with the Kafka offsets it came from (table kafka_offsets).
Either both are saved or neither is. On start the script reads those offsets
back and continues right after them, so a crash (even kill -9) never loses a
user and never applies one twice. Kafka's consumer-group offsets are not used.
"""

import json
import os
import signal
import sqlite3
import sys
import time
from urllib.parse import urlsplit

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

import helpers
import kafka_settings

DEFAULT_DB = "users.db"

CONSUMER_CONFIG = {
    "group_id": None,  # no consumer group: the database, not Kafka, remembers where we are
    "enable_auto_commit": False,  # nothing to commit to Kafka; the offsets live in the database
    "auto_offset_reset": "earliest",  # a partition with no stored offset starts at its oldest record
    "isolation_level": "read_committed",  # never store records of an aborted producer transaction
    "max_poll_records": 500,  # one batch = one database transaction
}

POLL_TIMEOUT_MS = 500
RAW_PREVIEW_BYTES = 60

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

SAVE_OFFSET = """
INSERT INTO kafka_offsets (topic, kafka_partition, next_offset) VALUES (?, ?, ?)
ON CONFLICT (topic, kafka_partition) DO UPDATE SET next_offset = excluded.next_offset"""


def parse_args(argv):
    parser = helpers.ArgumentParser(
        description="Consume user records and upsert them into a database table, exactly once.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--db", default=os.environ.get("KIT_DB", DEFAULT_DB), metavar="PATH_OR_URL",
                        help="a SQLite file, or a postgresql://user:password@host:port/dbname URL "
                             "(env KIT_DB, default %(default)s)")
    parser.add_argument("--max-messages", type=helpers.positive_int, metavar="N",
                        help="stop after N records")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop when no record has arrived for this long")
    args = parser.parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        parser.error(f"argument --timeout: must be more than 0 seconds, got {args.timeout:g}")
    if not args.db.strip():
        parser.error("argument --db: empty; give a SQLite file path or a postgresql:// URL")
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
    return sqlite3.connect(path), f"SQLite file {path}", sqlite3.Error


def sql(connection, text):
    """sqlite3 marks parameters with ?, psycopg with %s."""
    return text if isinstance(connection, sqlite3.Connection) else text.replace("?", "%s")


def create_tables(connection):
    cursor = connection.cursor()
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


def store_batch(connection, topic, rows, next_offsets):
    """The rows AND the offsets after them, in one transaction: all of it is saved, or none."""
    cursor = connection.cursor()
    try:
        if rows:
            cursor.executemany(sql(connection, UPSERT_USER), rows)
        cursor.executemany(sql(connection, SAVE_OFFSET),
                           [(topic, partition, offset) for partition, offset in sorted(next_offsets.items())])
        connection.commit()
    except BaseException:
        connection.rollback()  # e.g. Ctrl-C halfway: nothing of this batch is kept, it is read again next time
        raise


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
    return ", ".join(f"partition {p} -> {o:,}" for p, o in sorted(offsets.items())) or "none"


# --------------------------------------------------------------------------
# consume and store


def start_positions(consumer, connection, args):
    """Assign every partition of the topic to ourselves and seek to the offsets stored in the database.

    Returns those offsets, or None if the topic does not exist."""
    partitions = consumer.partitions_for_topic(args.topic)
    if not partitions:
        return None
    assigned = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)  # assign(), not subscribe(): no group, no rebalancing, every partition is ours
    offsets = stored_offsets(connection, args.topic)
    for tp in assigned:
        if tp.partition in offsets:
            consumer.seek(tp, offsets[tp.partition])
            where = f"offset {offsets[tp.partition]:,} (stored in the database)"
        else:
            consumer.seek_to_beginning(tp)
            where = "the oldest record (no offset stored yet)"
        print(f"  partition {tp.partition:<3} starts at {where}")
    return offsets


def consume_and_store(consumer, connection, args):
    saved = start_positions(consumer, connection, args)
    if saved is None:
        print(f"error: topic '{args.topic}' does not exist at {args.bootstrap_server}; create it with "
              f"'python create_topic.py --topic {args.topic}'", file=sys.stderr)
        return 1
    print(f"Reading topic '{args.topic}' at {args.bootstrap_server} (Ctrl-C to stop)...", flush=True)
    next_offsets = dict(saved)  # partition -> offset of the next record, saved with every batch
    started = last_record_at = time.monotonic()
    received = stored = bad = 0
    stop_reason = None
    try:
        while stop_reason is None:
            remaining = args.max_messages - received if args.max_messages else None
            batch = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=remaining)
            rows, batch_bad = [], 0
            for tp, records in batch.items():
                for record in records:
                    row, problem = user_row(record)
                    if problem:
                        batch_bad += 1
                        print(f"Warning: partition {record.partition} offset {record.offset}: {problem}; "
                              f"skipped: {preview(record.value)}", flush=True)
                    else:
                        rows.append(row)
                    next_offsets[tp.partition] = record.offset + 1
            if batch:
                store_batch(connection, args.topic, rows, next_offsets)
                received += len(rows) + batch_bad
                stored += len(rows)
                bad += batch_bad
                last_record_at = time.monotonic()
                print(f"Stored {len(rows):>5} users ({batch_bad} bad skipped) and offsets "
                      f"[{offsets_text(next_offsets)}] in one transaction", flush=True)
            if args.max_messages and received >= args.max_messages:
                stop_reason = f"Reached --max-messages {args.max_messages}."
            elif args.timeout and time.monotonic() - last_record_at >= args.timeout:
                stop_reason = f"No new records for {args.timeout:g} s (--timeout)."
    except KeyboardInterrupt:
        stop_reason = "Stopped by Ctrl-C; the batch in progress (if any) was rolled back and is read again next time."
    seconds = time.monotonic() - started
    rate = received / seconds if seconds > 0 else 0.0
    skipped = f"; {bad} bad record(s) skipped" if bad else ""
    print(f"Stored {stored:,} users from {received:,} records in {seconds:.2f} s: {rate:,.0f} records/s{skipped}")
    print(stop_reason)
    print(f"Table 'users' now holds {count_users(connection):,} users. Offsets stored with them: "
          f"{offsets_text(stored_offsets(connection, args.topic))}; the next run continues from there.")
    return 0


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    # `docker stop` and `kill` send SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        config = {**kafka_settings.connection_settings(args, "kit-store-users"), **CONSUMER_CONFIG}
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
            consumer.close()
    except KafkaError as error:
        print(f"error: {helpers.describe_failure(error, args)}", file=sys.stderr)
        return 1
    except db_error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: the database {description} failed: {first_line}", file=sys.stderr)
        return 1
    finally:
        connection.close()


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C before reading anything.")
