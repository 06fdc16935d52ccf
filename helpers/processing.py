"""Machinery of the two stream-processing stages (route_users.py, count_professions.py) that is not a lesson.

Checking and creating their topics, the dead-letter headers, the one line per batch, when to stop, putting
a consumer back at its committed offsets after a failed transaction, and reading a compacted topic back
into counts (the restore).
"""

import json
import os
import time

from helpers.cli import UsageError, positive_int, positive_seconds, topic_name
from helpers.transactions import abort_transaction
from helpers.workarounds import AssignmentNews, close_producer, rejoin_group

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError

# Test-only: KIT_TEST_PAUSE_BEFORE_COMMIT=SECONDS makes a stage pause once, in its first batch, after its
# records are sent and before its offsets are committed, so a test can kill or stop it at exactly that point.
TEST_PAUSE_VARIABLE = "KIT_TEST_PAUSE_BEFORE_COMMIT"
RESTORE_POLL_MS = 500
RETRY_SECONDS = 1  # while Kafka is away: how often a stage tries again
LEADER_WAIT_SECONDS = 15


def ensure_topic(settings, name, partitions, compacted=False, exact=False):
    """Create the topic if it is missing; with exact=True refuse one with another partition count (one line)."""
    admin = KafkaAdminClient(**settings)
    try:
        configs = {"cleanup.policy": "compact"} if compacted else {}
        try:
            admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1, "configs": configs}})
            print(f"Created topic '{name}' with {partitions} partition(s)"
                  f"{' (cleanup.policy=compact)' if compacted else ''}.", flush=True)
        except TopicAlreadyExistsError:
            pass
        found = wait_for_partitions(admin, name)
        if exact and found != partitions:
            raise UsageError(f"topic '{name}' has {found} partition(s) but its input has {partitions}: they must be "
                             f"co-partitioned (partition p of one holds the keys of partition p of the other); "
                             f"delete it or choose another name")
        policy = cleanup_policy(admin, name) if compacted else None
        if compacted and policy != "compact":
            raise UsageError(f"topic '{name}' is not compacted (cleanup.policy={policy}): old counts would be "
                             f"deleted with old segments, not kept per key; delete it and let this stage create "
                             f"it, or choose another name")
    finally:
        admin.close()


def partition_count(settings, topic):
    """How many partitions the topic has, or None if it does not exist."""
    admin = KafkaAdminClient(**settings)
    try:
        return wait_for_partitions(admin, topic, seconds=0)
    finally:
        admin.close()


def wait_for_partitions(admin, topic, seconds=LEADER_WAIT_SECONDS):
    """The topic's partition count once every partition has a leader (None if the topic does not exist)."""
    deadline = time.monotonic() + seconds
    while True:
        for info in admin.describe_topics([topic]):
            if info["name"] == topic and info["error_code"] == 0 and (
                    all(p["leader_id"] >= 0 for p in info["partitions"]) or time.monotonic() >= deadline):
                return len(info["partitions"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def cleanup_policy(admin, topic):
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, ["cleanup.policy"])],
                                       config_filter="all")
    entries = described.get("topic", {}).get(topic, {})
    entry = entries.get("cleanup.policy", {})
    return entry.get("value", entry) if isinstance(entry, dict) else entry


def dlq_headers(reason, record):
    """Why a record went to the dead-letter topic, and where it came from, as record headers."""
    return [("reason", reason.encode()), ("source.topic", record.topic.encode()),
            ("source.partition", str(record.partition).encode()), ("source.offset", str(record.offset).encode())]


# What json.loads() returned, in JSON's own words: a reason says "a JSON array", not "a JSON list".
JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def bad_user_reason(value):
    """(user, None) for a JSON object with a string "profession", else (None, why it cannot be routed)."""
    try:
        user = json.loads(value)
    except (TypeError, UnicodeDecodeError, ValueError):
        return None, "not JSON" if value is not None else "no value (tombstone)"
    if not isinstance(user, dict):
        return None, f"not a JSON object (a JSON {JSON_KINDS[type(user)]})"
    if not isinstance(user.get("profession"), str) or not user["profession"]:
        return None, "no profession"
    return user, None


def batch_line(records_in, records_out, to_dlq, partitions, outcome):
    """One line per batch, aligned so that a run reads as a table."""
    dlq = f"{to_dlq:>4} to DLQ  " if to_dlq is not None else ""
    return (f"Batch: {records_in:>5} in  {records_out:>5} out  {dlq}partitions {sorted(partitions)!s:<10} "
            f"{outcome}")


def next_offsets(batch):
    """{partition: the offset after the last record of the batch}: what the group commits."""
    return {tp: records[-1].offset + 1 for tp, records in batch.items() if records}


def test_pause(env=os.environ):
    """Test-only (see TEST_PAUSE_VARIABLE): pause once, saying so, so a test can act at this exact point."""
    seconds = env.pop(TEST_PAUSE_VARIABLE, None)
    if seconds:
        print(f"(test) pausing {float(seconds):g} s after the sends, before the commit", flush=True)
        time.sleep(float(seconds))


def add_stage_arguments(parser, output, output_help, group):
    """--output, --group, --at-least-once, --batch-size, --max-messages and --timeout, the same in both stages."""
    parser.add_argument("--output", type=topic_name, default=output, help=f"{output_help} (default %(default)s)")
    parser.add_argument("--group", default=group, help="consumer group id (default %(default)s)")
    parser.add_argument("--at-least-once", action="store_true",
                        help="no transactions: send, flush, then commit the offsets (a crash can process twice)")
    parser.add_argument("--batch-size", type=positive_int, default=500, metavar="N",
                        help="at most N records per batch, so per transaction (max_poll_records, default %(default)s)")
    parser.add_argument("--max-messages", type=positive_int, metavar="N", help="stop after N records")
    parser.add_argument("--timeout", type=positive_seconds, metavar="SECONDS",
                        help="stop when no record has arrived for this long (waiting for partitions does not count)")


def starting_line(what, args):
    """The stage's first line: what it reads and writes, its group, and how it commits."""
    mode = "at least once, no transactions" if args.at_least_once else "exactly once, one transaction per batch"
    return f"{what} in group '{args.group}', {mode} (Ctrl-C to stop)..."


class Stopper:
    """--max-messages and --timeout, as in consumer.py: counts records and the time since the last one."""

    def __init__(self, args):
        self.args, self.records, self.last_news = args, 0, time.monotonic()
        self.started = time.monotonic()

    def poll_limit(self):
        """poll()'s max_records: --batch-size, or fewer if --max-messages is nearer (a larger one would win)."""
        if self.args.max_messages:
            return min(self.args.batch_size, self.args.max_messages - self.records)
        return self.args.batch_size

    def saw(self, count, news=False):
        self.records += count
        if count or news:
            self.last_news = time.monotonic()

    def reason(self):
        if self.args.max_messages and self.records >= self.args.max_messages:
            return f"Reached --max-messages {self.args.max_messages}."
        if self.args.timeout and time.monotonic() - self.last_news >= self.args.timeout:
            return f"No new records for {self.args.timeout:g} s (--timeout)."
        return None


def rewind(consumer, error):
    """After a transaction that did not commit: read again from the group's committed offsets.

    If the broker refused the offsets because this copy is no longer the member that owns its partitions
    (CommitFailedError), it rejoins the group first.
    """
    if isinstance(error, CommitFailedError):
        rejoin_group(consumer)
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


def restore_counts(settings, topic, partitions):
    """The latest count per profession in these partitions of the compacted counts topic, read committed.

    Reads each partition from its oldest record to its last stable offset: everything committed so far.
    While Kafka is away, it tries again until it is back.
    """
    return while_kafka_is_away(read_counts, settings, topic, partitions)


def read_counts(settings, topic, partitions):
    reader = KafkaConsumer(**settings, group_id=None, enable_auto_commit=False, isolation_level="read_committed")
    try:
        assigned = [TopicPartition(topic, p) for p in partitions]
        reader.assign(assigned)
        reader.seek_to_beginning(*assigned)
        ends = reader.end_offsets(assigned)  # with read_committed: the last stable offset
        counts = {}
        while any(reader.position(tp) < ends[tp] for tp in assigned):
            for records in reader.poll(timeout_ms=RESTORE_POLL_MS).values():
                for record in records:
                    if record.value is None:
                        counts.pop(record.key.decode(), None)
                    else:
                        counts[record.key.decode()] = json.loads(record.value)["count"]
        return counts
    finally:
        reader.close()


def counts_line(counts):
    return ", ".join(f"{profession} {count}" for profession, count in sorted(counts.items())) or "none"


def recover(producer, error, make_producer):
    """After a failed transaction: abort it, or replace the producer; the line that says which.

    The producer is replaced when the broker fenced it, or did not answer the abort within max_block_ms (it is
    away): the broker then aborts the old transaction itself after transaction_timeout_ms. While Kafka is
    away, the new producer is tried again until it is back: a broker restart delays the stage, not stops it.
    """
    manager = producer._transaction_manager
    line = f"Transaction failed ({error_text(manager.last_error or error)})"
    if not manager.has_fatal_error():
        try:
            abort_transaction(producer)
            return producer, f"{line}: aborted; reading again from the committed offsets"
        except KafkaError:
            pass
    why = "fenced" if manager.has_fatal_error() else "no answer to the abort"
    close_producer(producer)
    return (while_kafka_is_away(make_producer),
            f"{line}: {why}, a new producer takes over; reading again from the committed offsets")


def error_text(error):
    """The error's class name and message, once (some kafka-python errors start their message with the name)."""
    return str(error) if str(error).startswith(type(error).__name__) else f"{type(error).__name__}: {error}"


def while_kafka_is_away(step, *args):
    """step(*args), tried again for as long as it fails because Kafka does not answer (a retriable error).

    The first failure says so in one line; a Ctrl-C stops the waiting, as it stops the stage.
    """
    said = False
    while True:
        try:
            return step(*args)
        except KafkaError as error:
            if not error.retriable:
                raise
            if not said:
                print(f"Kafka is not answering ({error_text(error)}): trying again every "
                      f"{RETRY_SECONDS} s until it is back (Ctrl-C to stop)", flush=True)
                said = True
            time.sleep(RETRY_SECONDS)


class RestoreNews(AssignmentNews):
    """AssignmentNews that also pauses each newly assigned partition until the main loop has restored it.

    The listener runs on kafka-python's network thread, inside poll(), before that poll fetches: pausing
    here keeps the records of a partition out of every batch until its counts are back.
    """

    def __init__(self, consumer, group, topic):
        super().__init__(consumer, group, topic)
        self.to_restore, self.revoked = set(), set()

    def on_partitions_revoked(self, revoked):
        super().on_partitions_revoked(revoked)
        self.revoked.update(tp.partition for tp in revoked)

    def on_partitions_assigned(self, assigned):
        super().on_partitions_assigned(assigned)
        if assigned:
            self.consumer.pause(*assigned)
            self.to_restore.update(assigned)
