"""Send user records to Kafka as JSON and show where each one landed.

    python producer.py                                    # one sample user
    python producer.py --name Ana --profession "Data Engineer"
    python producer.py --data '{"name": "Ana", "profession": "Data Engineer"}'
    python producer.py --file users.jsonl                 # one JSON object per line
    python producer.py --count 100000                     # generated users, bulk mode
    python producer.py --count 10 --transactional         # all 10 or none (add --abort to see none)

Every record is checked before the first one is sent, and the script exits 0
only once the broker has acknowledged every record.
"""

import json
import signal
import sys
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

import kafka_settings

PRODUCER_CONFIG = {
    "acks": "all",  # the broker confirms only once every in-sync replica has the record
    "enable_idempotence": True,  # a send retried after a broker hiccup is still written exactly once
    "linger_ms": 20,  # wait up to 20 ms to fill a batch: far fewer, larger requests in bulk mode
    "batch_size": 256 * 1024,  # bytes per partition per batch
    "compression_type": "lz4",  # JSON shrinks a lot; lz4 costs little CPU
    "max_block_ms": 5000,  # an unknown topic fails within 5 s instead of after 60 s
    "request_timeout_ms": 10000,  # one request's answer; --delivery-timeout bounds the retries
}

SAMPLE_USER = {"name": "Ana", "profession": "Data Engineer"}
PROFESSIONS = ["Data Engineer", "Teacher", "Nurse", "Architect", "Chef", "Pilot", "Plumber", "Designer"]

# The broker rejects larger records by default (message.max.bytes is about 1 MB).
MAX_RECORD_BYTES = 1_000_000
# Up to this many records get a line each; more are shown as a progress line and a summary.
PRINT_EACH_UP_TO = 100
PROGRESS_EVERY_SECONDS = 0.5
FLUSH_ON_CTRL_C_SECONDS = 5
FLUSH_GRACE_SECONDS = 5  # how long flush() may wait beyond --delivery-timeout


def parse_args(argv):
    parser = kafka_settings.ArgumentParser(description="Send JSON user records to a Kafka topic.")
    kafka_settings.add_connection_arguments(parser)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--data", metavar="JSON", help="one record given as a JSON object")
    what.add_argument("--file", metavar="PATH", help="a JSON-lines file: one JSON object per line")
    what.add_argument("--count", type=kafka_settings.positive_int, metavar="N",
                      help="send N generated user records (bulk mode)")
    parser.add_argument("--name", help="the user's name (default: a sample user)")
    parser.add_argument("--profession", help="the user's profession")
    parser.add_argument("--delivery-timeout", type=kafka_settings.positive_int, default=30, metavar="SECONDS",
                        help="give up on a record the broker has not acknowledged after this long "
                             "(default %(default)s)")
    parser.add_argument("--transactional", action="store_true",
                        help="send the records in one transaction: read_committed consumers see all or none")
    parser.add_argument("--abort", action="store_true",
                        help="with --transactional: abort the transaction on purpose instead of committing it")
    args = parser.parse_args(argv)
    if args.abort and not args.transactional:
        parser.error("--abort only makes sense with --transactional")
    if args.delivery_timeout * 1000 <= PRODUCER_CONFIG["request_timeout_ms"] + PRODUCER_CONFIG["linger_ms"]:
        parser.error("--delivery-timeout must be more than 10 seconds (one request may take 10 s)")
    if (args.name or args.profession) and (args.data or args.file or args.count):
        parser.error("--name/--profession cannot be combined with --data, --file or --count")
    return args


# Made once: json.dumps() with options builds a new encoder for every record, which shows in bulk mode.
JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(record):
    """Compact UTF-8 JSON: the bytes that go over the wire."""
    return JSON_ENCODER.encode(record).encode("utf-8")


def key_of(record):
    """Records with the same key always go to the same partition, in order."""
    key = record.get("name", record.get("id"))
    return None if key is None else str(key).encode("utf-8")


def check_record(value, where):
    """The JSON object in `value`, or a UsageError naming the problem."""
    if not isinstance(value, dict):
        raise kafka_settings.UsageError(f"{where}: expected a JSON object {{...}}, got a JSON {json_type(value)}")
    size = len(encode(value))
    if size > MAX_RECORD_BYTES:
        raise kafka_settings.UsageError(
            f"{where}: the record is {size:,} bytes; Kafka accepts at most about 1 MB per record "
            f"(the broker's message.max.bytes)")
    return value


def json_type(value):
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def reject_non_json_number(name):
    """Python's json accepts NaN and Infinity, which are not JSON: other clients could not read them."""
    raise kafka_settings.UsageError(f"{name} is not valid JSON (JSON has no NaN or Infinity)")


def records_from_data(text):
    try:
        value = json.loads(text, parse_constant=reject_non_json_number)
    except json.JSONDecodeError as error:
        raise kafka_settings.UsageError(f"--data is not valid JSON: {error}") from None
    return [check_record(value, "--data")]


def records_from_file(path):
    """Every line of a JSON-lines file, all checked before anything is sent."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as error:
        raise kafka_settings.UsageError(f"cannot read {path}: {error.strerror}") from None
    records, problems = [], []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"line {number}: not UTF-8 text")
            continue
        try:
            records.append(check_record(json.loads(text, parse_constant=reject_non_json_number), f"line {number}"))
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: invalid JSON ({error.msg})")
        except kafka_settings.UsageError as error:
            problems.append(str(error) if str(error).startswith("line ") else f"line {number}: {error}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise kafka_settings.UsageError(f"{path} has {len(problems)} bad line(s): {shown}")
    if not records:
        raise kafka_settings.UsageError(f"{path} has no records")
    return records


def generated_users(count):
    for number in range(1, count + 1):
        yield {"id": number, "name": f"user-{number:07d}", "profession": PROFESSIONS[number % len(PROFESSIONS)],
               "email": f"user-{number:07d}@example.com"}


def records_to_send(args):
    if args.data is not None:  # `--data ""` is an error, not a request for the sample user
        return records_from_data(args.data)
    if args.file is not None:
        return records_from_file(args.file)
    if args.count:
        return generated_users(args.count)
    if args.name or args.profession:
        return [{"name": args.name or SAMPLE_USER["name"], "profession": args.profession or "unknown"}]
    return [SAMPLE_USER]


class Deliveries:
    """Counts what the broker acknowledged; the callbacks run on kafka-python's I/O thread."""

    def __init__(self):
        self.sent = 0
        self.sent_bytes = 0
        self.acknowledged = 0
        self.acknowledged_bytes = 0
        self.failed = 0
        self.first_error = None
        self.offsets = {}  # partition -> [first offset, last offset]

    def on_success(self, metadata):
        self.acknowledged += 1  # runs once per record: kept cheap
        self.acknowledged_bytes += metadata.serialized_value_size
        offset = metadata.offset
        span = self.offsets.get(metadata.partition)
        if span is None:
            self.offsets[metadata.partition] = [offset, offset]
        elif offset > span[1]:
            span[1] = offset
        elif offset < span[0]:
            span[0] = offset

    def on_error(self, error):
        self.failed += 1
        self.first_error = self.first_error or error


def send_all(producer, topic, records, deliveries, print_each, on_progress):
    futures = []
    next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
    for record in records:
        value = encode(record)
        # Counted before send(): a Ctrl-C inside send() may already have queued the record.
        deliveries.sent += 1
        deliveries.sent_bytes += len(value)
        future = producer.send(topic, key=key_of(record), value=value)
        future.add_callback(deliveries.on_success).add_errback(deliveries.on_error)
        if print_each:
            futures.append((future, record))
        elif deliveries.sent % 1000 == 0 and time.monotonic() >= next_progress:
            on_progress()
            next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
    return futures


def print_progress(deliveries, total, final=False):
    """One line, rewritten in place on a terminal."""
    line = f"Sending... {deliveries.sent:>9,}/{total:,} sent  {deliveries.acknowledged:>9,} acknowledged"
    if sys.stdout.isatty():
        print(f"\r{line}", end="\n" if final else "", flush=True)
    elif not final:
        print(line, flush=True)


def wait_with_progress(deliveries, total, deadline):
    """Keep the progress line moving while the broker acknowledges what send() queued."""
    next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
    while deliveries.acknowledged + deliveries.failed < deliveries.sent and time.monotonic() < deadline:
        if time.monotonic() >= next_progress:
            print_progress(deliveries, total)
            next_progress = time.monotonic() + PROGRESS_EVERY_SECONDS
        time.sleep(0.02)


def report(args, deliveries, futures, total, seconds, interrupted):
    for future, record in futures:
        if future.succeeded():
            meta = future.value
            print(f"Sent  topic {meta.topic}  partition {meta.partition:<3} offset {meta.offset:<8} "
                  f"key {str(key_of(record), 'utf-8') if key_of(record) else '-':<14} "
                  f"{json.dumps(record, ensure_ascii=False)}")
    if not futures:
        if sys.stdout.isatty():
            print_progress(deliveries, total, final=True)
        for partition, (first, last) in sorted(deliveries.offsets.items()):
            print(f"  partition {partition:<3} offsets {first} to {last}")
        print(kafka_settings.summary_line("Sent", deliveries.acknowledged, deliveries.acknowledged_bytes, seconds))
    lost = deliveries.sent - deliveries.acknowledged
    if interrupted:
        not_sent = total - deliveries.sent
        print(f"Interrupted: {deliveries.acknowledged} of {total} records acknowledged, {lost} sent but not "
              f"acknowledged, {not_sent} never sent.")
        return 130
    if lost:
        reason = kafka_settings.describe_failure(deliveries.first_error, args) if deliveries.first_error else \
            "no answer from the broker"
        print(f"error: {lost} of {total} records were NOT acknowledged by the broker ({reason})", file=sys.stderr)
        return 1
    noun = "record" if total == 1 else "records"
    print(f"Done: {deliveries.acknowledged:,} {noun} acknowledged by the broker (acks=all) on topic '{args.topic}'.")
    return 0


def produce(producer, args, records):
    total = args.count or len(records)
    print_each = args.count is None and total <= PRINT_EACH_UP_TO
    deliveries = Deliveries()
    futures = []
    interrupted = False
    outcome = None
    started = time.monotonic()
    try:
        if args.transactional:
            producer.init_transactions()  # also aborts an unfinished transaction left by an earlier run
            producer.begin_transaction()
            outcome = "open"
        futures = send_all(producer, args.topic, records, deliveries, print_each,
                           lambda: print_progress(deliveries, total))
        # send() only queues records in memory; flush() waits for the broker's acknowledgements.
        # Bounded, because kafka-python 3.0.12's idempotent producer can wait forever for a broker that
        # stays down instead of failing the records after --delivery-timeout.
        deadline = time.monotonic() + args.delivery_timeout + FLUSH_GRACE_SECONDS
        if not print_each:
            wait_with_progress(deliveries, total, deadline)
        producer.flush(timeout=max(0.0, deadline - time.monotonic()))
        if args.transactional and (args.abort or deliveries.failed):
            # The records stay in the log, but read_committed consumers skip them.
            producer.abort_transaction()
            outcome = "aborted"
        elif args.transactional:
            producer.commit_transaction()  # from now on read_committed consumers see the whole batch
            outcome = "committed"
    except KeyboardInterrupt:
        interrupted = True
        try:
            # Wait at most 5 s for what is in flight (kafka-python's flush(timeout) gives each batch 5 s).
            deadline = time.monotonic() + FLUSH_ON_CTRL_C_SECONDS
            while deliveries.acknowledged + deliveries.failed < deliveries.sent and time.monotonic() < deadline:
                time.sleep(0.05)
            if outcome == "open":
                # An open transaction would hold back read_committed consumers until it times out.
                producer.abort_transaction()
                outcome = "aborted"
        except (KafkaError, KeyboardInterrupt):
            pass
    except KafkaTimeoutError as error:
        # send() blocks at most max_block_ms when the buffer is full and the broker is gone;
        # flush() gives up after --delivery-timeout plus a grace period.
        deliveries.first_error = deliveries.first_error or error
    seconds = time.monotonic() - started
    status = report(args, deliveries, futures, total, seconds, interrupted)
    if outcome == "committed":
        print(f"Transaction committed: read_committed consumers now see the whole batch "
              f"({deliveries.acknowledged} record(s)).")
    elif outcome == "aborted":
        print(f"Transaction aborted{' on purpose (--abort)' if args.abort else ''}: the records are in the log, "
              f"but read_committed consumers never see them.")
    return status


def main(argv=None):
    args = parse_args(argv)
    kafka_settings.configure_logging(args.verbose)
    # `docker stop` and `kill` send SIGTERM: treat it like Ctrl-C, so nothing is silently dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background with `&`
    try:
        records = records_to_send(args)
        config = {**kafka_settings.connection_settings(args, "kit-producer"), **PRODUCER_CONFIG,
                  "delivery_timeout_ms": args.delivery_timeout * 1000}
        if args.transactional:
            # One fixed id per topic: a new run with the same id fences off (aborts) an older, unfinished one.
            config["transactional_id"] = f"kit-producer-{args.topic}"
    except kafka_settings.UsageError as error:
        print(f"error: {error}; nothing was sent", file=sys.stderr)
        return 2
    try:
        producer = KafkaProducer(**config)
    except KafkaError as error:
        print(f"error: {kafka_settings.describe_failure(error, args)}", file=sys.stderr)
        return 1
    try:
        try:
            producer.partitions_for(args.topic)  # fails fast if the topic does not exist
        except KafkaTimeoutError:
            print(f"error: topic '{args.topic}' does not exist at {args.bootstrap_server}; create it with "
                  f"'python create_topic.py --topic {args.topic}'; nothing was sent", file=sys.stderr)
            return 1
        return produce(producer, args, records)
    except KafkaError as error:
        print(f"error: {kafka_settings.describe_failure(error, args)}", file=sys.stderr)
        return 1
    finally:
        # Everything was waited for above: what is still queued now is dropped (and was reported).
        try:
            producer.close(timeout=0)
        except KafkaError:
            # kafka-python 3.0.12 raises here instead of dropping records the broker never acknowledged
            # (they were reported above): drop them and close for real.
            producer._sender.force_close()
            producer.close(timeout=FLUSH_ON_CTRL_C_SECONDS)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("Interrupted before anything was sent.", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the output was piped into a command that stopped reading, e.g. `| head`
        kafka_settings.silence_stdout()
        sys.exit(1)
