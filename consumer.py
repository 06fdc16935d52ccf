"""Read user records from Kafka as a member of a consumer group, until Ctrl-C.

    python consumer.py                        # group 'users-demo', topic 'Users'
    python consumer.py --group another-group  # a new group starts from the oldest record
    python consumer.py --max-messages 10      # stop by itself after 10 records
    python consumer.py --quiet                # no line per record: progress and a summary

Offsets are committed after each batch is printed, so a consumer restarted in
the same group continues where it stopped (at-least-once: a crash can repeat
the last, uncommitted batch, but never skips a record).
"""

import json
import signal
import sys
import time

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, KafkaError

import kafka_settings

DEFAULT_GROUP = "users-demo"

CONSUMER_CONFIG = {
    "auto_offset_reset": "earliest",  # a group with no committed offset starts at the oldest record
    "enable_auto_commit": False,  # we commit after printing a batch, so nothing is marked read unseen
    "session_timeout_ms": 10000,  # a crashed member's partitions move to the others after 10 s
    "heartbeat_interval_ms": 3000,
    "max_poll_records": 500,  # at most one batch is shown twice after a crash
}

POLL_TIMEOUT_MS = 500
# With --quiet nothing is printed per record, so take bigger batches: each batch costs one commit round trip.
QUIET_MAX_POLL_RECORDS = 10_000
PROGRESS_EVERY_SECONDS = 0.5
RAW_PREVIEW_BYTES = 80


def parse_args(argv):
    parser = kafka_settings.ArgumentParser(description="Print the records of a Kafka topic as a consumer group.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--group", default=DEFAULT_GROUP,
                        help="consumer group id; each group gets every record once (default %(default)s)")
    parser.add_argument("--max-messages", type=kafka_settings.positive_int, metavar="N",
                        help="stop after N records")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop when no record has arrived for this long")
    parser.add_argument("--from-beginning", action="store_true",
                        help="replay: start at the oldest record even if the group has committed offsets")
    parser.add_argument("--read-committed", action="store_true",
                        help="skip records of aborted transactions (isolation level read_committed)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no line per record: a progress line and a summary, for large volumes")
    args = parser.parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        parser.error(f"argument --timeout: must be more than 0 seconds, got {args.timeout:g}")
    return args


def decode(value):
    """(the JSON object, None) for a good record, or (None, what is wrong with it)."""
    if not value:
        return None, "empty value"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None, "not JSON"
    if not isinstance(data, dict):
        return None, "JSON, but not an object"
    return data, None


def key_text(key):
    if key is None:
        return "-"
    return key.decode("utf-8", errors="replace")


def raw_preview(value):
    if value is None:
        return "null"
    preview = repr(value[:RAW_PREVIEW_BYTES])
    return preview + (f"... ({len(value):,} bytes)" if len(value) > RAW_PREVIEW_BYTES else "")


class Progress:
    def __init__(self):
        self.started = time.monotonic()
        self.received = 0
        self.received_bytes = 0
        self.bad = 0
        self.next_progress = self.started + PROGRESS_EVERY_SECONDS

    def show(self):
        line = f"Receiving... {self.received:>9,} records  {self.bad:,} bad"
        if sys.stdout.isatty():
            print(f"\r{line}", end="", flush=True)
        else:
            print(line, flush=True)
        self.next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS


class ShowAssignments(ConsumerRebalanceListener):
    """Notes which partitions this consumer got. kafka-python calls it from its network thread,
    so it must not block; the main loop prints its news between polls."""

    def __init__(self, consumer, args):
        self.consumer = consumer
        self.args = args
        self.replayed = set()
        self.stopping = False
        self.news = []

    def on_partitions_revoked(self, revoked):
        if revoked and not self.stopping:
            self.news.append(f"Group '{self.args.group}': rebalancing, partitions "
                             f"{sorted(tp.partition for tp in revoked)} revoked")

    def on_partitions_assigned(self, assigned):
        partitions = sorted(assigned, key=lambda tp: tp.partition)
        if not partitions:
            self.news.append(f"Group '{self.args.group}': no partition assigned to this consumer (the group has "
                             f"more members than the topic has partitions); it waits as a standby")
            return
        self.news.append(f"Group '{self.args.group}': assigned partitions {[tp.partition for tp in partitions]} "
                         f"of topic '{self.args.topic}'")
        replay = [tp for tp in partitions if tp not in self.replayed]
        if self.args.from_beginning and replay:
            self.consumer.seek_to_beginning(*replay)
            self.replayed.update(replay)

    def print_news(self):
        """Print what happened to our partitions; True if anything did."""
        had_news = bool(self.news)
        while self.news:
            print(self.news.pop(0), flush=True)
        return had_news


def print_committed_offsets(consumer, args):
    """Where this group left off last time: that is where it starts now."""
    partitions = sorted(consumer.partitions_for_topic(args.topic))
    committed = {p: consumer.committed(TopicPartition(args.topic, p)) for p in partitions}
    if args.from_beginning:
        print(f"Group '{args.group}': replaying every partition from the oldest record (--from-beginning).")
    elif all(offset is None for offset in committed.values()):
        print(f"Group '{args.group}' has no committed offsets yet: it starts from the oldest record "
              f"(auto_offset_reset='earliest').")
    else:
        where = ", ".join(f"partition {p} at offset {'-' if o is None else o}" for p, o in committed.items())
        print(f"Group '{args.group}' continues where it left off: {where}.", flush=True)


def consume(consumer, args):
    progress = Progress()
    done = {}  # partition -> offset of the next record to read, for what we have printed

    def commit():
        if done:
            try:
                consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in done.items()})
            except CommitFailedError:
                # The group rebalanced under us: the new owner re-reads this batch (at-least-once).
                print("Warning: could not commit (the group was rebalancing); "
                      "those records may be shown again", flush=True)
            done.clear()

    assignments = ShowAssignments(consumer, args)
    consumer.subscribe([args.topic], listener=assignments)
    if not consumer.partitions_for_topic(args.topic):
        print(f"error: topic '{args.topic}' does not exist at {args.bootstrap_server}; create it with "
              f"'python create_topic.py --topic {args.topic}'", file=sys.stderr)
        return 1
    print(f"Consumer in group '{args.group}' reading topic '{args.topic}' at {args.bootstrap_server}. "
          f"Waiting for records (Ctrl-C to stop)...", flush=True)
    print_committed_offsets(consumer, args)
    last_record_at = time.monotonic()
    stop_reason = None
    try:
        while stop_reason is None:
            limit = QUIET_MAX_POLL_RECORDS if args.quiet else None  # None: max_poll_records above
            if args.max_messages:
                limit = min(limit or args.max_messages, args.max_messages - progress.received)
            # The first poll joins the group and gets partitions assigned, which takes a moment.
            batch = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=limit)
            if assignments.print_news():
                last_record_at = time.monotonic()  # --timeout counts from when we have partitions to read
            for tp, records in batch.items():
                for record in records:
                    show(record, progress, args.quiet)
                    done[tp] = record.offset + 1
            if batch:
                sys.stdout.flush()  # once per batch, not per record; then mark the batch as read
                commit()
                last_record_at = time.monotonic()
            if args.quiet and time.monotonic() >= progress.next_progress:
                progress.show()
            if args.max_messages and progress.received >= args.max_messages:
                stop_reason = f"Reached --max-messages {args.max_messages}."
            elif args.timeout and time.monotonic() - last_record_at >= args.timeout:
                stop_reason = f"No new records for {args.timeout:g} s (--timeout)."
    except KeyboardInterrupt:
        stop_reason = "Stopped by Ctrl-C."
    finally:
        assignments.stopping = True  # close() revokes our partitions; no need to announce that
    commit()
    if args.quiet and sys.stdout.isatty():
        print()
    seconds = time.monotonic() - progress.started
    bad = f"; {progress.bad} bad record(s) skipped" if progress.bad else ""
    print(kafka_settings.summary_line("Received", progress.received, progress.received_bytes, seconds) + bad)
    print(f"{stop_reason} Offsets committed for group '{args.group}': "
          f"run again with --group {args.group} to continue from here.")
    return 0


def show(record, progress, quiet):
    progress.received += 1
    progress.received_bytes += len(record.value) if record.value else 0
    if record.value is None:
        # A null value is a tombstone: by convention "the record with this key was deleted".
        print(f"Tombstone      partition {record.partition:<3} offset {record.offset:<8} "
              f"key {key_text(record.key):<14} (null value: the record with this key was deleted)\n", end="")
        return
    data, problem = decode(record.value)
    if problem:
        progress.bad += 1
        print(f"Warning: partition {record.partition} offset {record.offset}: {problem}, "
              f"shown raw: {raw_preview(record.value)}")
    elif not quiet:
        # Line and newline in one write: a Ctrl-C between the two would glue the next line onto this one.
        print(f"Data Received  partition {record.partition:<3} offset {record.offset:<8} "
              f"key {key_text(record.key):<14} {json.dumps(data, ensure_ascii=False)}\n", end="")


def main(argv=None):
    args = parse_args(argv)
    kafka_settings.configure_logging(args.verbose)
    # `docker stop` and `kill` send SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background with `&`
    try:
        config = {**kafka_settings.connection_settings(args, "kit-consumer"), **CONSUMER_CONFIG,
                  "group_id": args.group,
                  "isolation_level": "read_committed" if args.read_committed else "read_uncommitted"}
    except kafka_settings.UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        consumer = KafkaConsumer(**config)
    except KafkaError as error:
        print(f"error: {kafka_settings.describe_failure(error, args)}", file=sys.stderr)
        return 1
    try:
        return consume(consumer, args)
    except KafkaError as error:
        print(f"error: {kafka_settings.describe_failure(error, args)}", file=sys.stderr)
        return 1
    finally:
        # close() leaves the group at once, so the others take over its partitions without waiting.
        consumer.close(autocommit=False)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("Stopped by Ctrl-C before joining the group.", file=sys.stderr)
        sys.exit(0)
    except BrokenPipeError:  # the output was piped into a command that stopped reading, e.g. `| head`
        kafka_settings.silence_stdout()
        sys.exit(1)
