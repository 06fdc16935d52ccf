"""Send many user records to Kafka, fast, and account for every one of them.

    python bulk_producer.py --count 100000              # generated users
    python bulk_producer.py --file users.jsonl          # one JSON object per line
    cat users.jsonl | python bulk_producer.py --file -  # from standard input

Memory stays flat however big the input: records are read, sent and forgotten one at a time.
A file is all or nothing: it is read twice, and every line is checked before the first record
is sent. Standard input, or a pipe given as --file, can be read only once, so its records are
sent as they arrive, and a bad line stops the script there, once the broker has acknowledged
every record before it. The exit status is 0 only when the broker has acknowledged every record.
"""

import collections
import json
import time

import helpers

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

import kafka_settings

PRODUCER_CONFIG = {
    "acks": "all",  # the broker confirms only once every in-sync replica has the record
    "enable_idempotence": True,  # a send retried after a broker hiccup is still written only once
    "linger_ms": 20,  # wait up to 20 ms to fill a batch: far fewer, larger requests
    "batch_size": 256 * 1024,  # bytes per partition per batch
    "compression_type": "lz4",  # JSON shrinks a lot, and lz4 costs little CPU
    "max_block_ms": 5000,  # send() waits at most 5 s for room in a full buffer (or for an unknown topic)
    "request_timeout_ms": 10000,  # how long one request may take; --delivery-timeout bounds the retries
}

PROFESSIONS = ["Data Engineer", "Teacher", "Nurse", "Architect", "Chef", "Pilot", "Plumber", "Designer"]
PRINT_EACH_UP_TO = 100  # a file this small gets a line per record, like producer.py
SHOW_BAD_LINES = 5  # a file with bad lines: how many of them the error shows
WAIT_ON_CTRL_C_SECONDS = 5  # how long a Ctrl-C waits for what is already in flight
FLUSH_GRACE_SECONDS = 5  # how long the final wait may last beyond --delivery-timeout


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    try:
        total = count_and_check(args)  # None for a pipe: unknown until it ends
    except helpers.UsageError as error:
        return helpers.fail(f"{error}; nothing was sent", args, status=2)
    try:
        producer = KafkaProducer(**kafka_settings.connection_settings(args, "kit-bulk-producer"), **PRODUCER_CONFIG,
                                 delivery_timeout_ms=args.delivery_timeout * 1000)
    except KafkaError as error:
        return helpers.fail(error, args)
    try:
        producer.partitions_for(args.topic)  # fails within max_block_ms if the topic does not exist
    except KafkaTimeoutError:
        helpers.close_producer(producer)
        return helpers.topic_missing(args, suffix="; nothing was sent")
    except KafkaError as error:
        helpers.close_producer(producer)
        return helpers.fail(error, args)
    deliveries = Deliveries(total, source="standard input" if args.file == "-" else args.file)
    stopped_by = None  # None, "Ctrl-C", a UsageError (a bad line in a pipe) or a KafkaError
    try:
        try:
            send_all(producer, args, deliveries, print_each=total is not None and total <= PRINT_EACH_UP_TO)
        except (helpers.UsageError, KafkaError) as error:
            stopped_by = error  # the records before it are still waited for, below
        # send() only queues records; now wait for the broker's acknowledgements, bounded (see Deliveries.wait).
        deliveries.wait(args.delivery_timeout + FLUSH_GRACE_SECONDS)
    except KeyboardInterrupt:
        stopped_by = "Ctrl-C"
        deliveries.wait_after_ctrl_c(WAIT_ON_CTRL_C_SECONDS)
    finally:
        helpers.close_producer(producer)  # what is still unacknowledged now is dropped, and reported below
    return deliveries.report(args, stopped_by)


def records(args):
    """(the record's JSON object, its bytes) for each record to send, read one at a time.

    A line of a file is sent as it is written (without its line break): a consumer reads exactly that line.
    """
    if args.count:
        for number in range(1, args.count + 1):
            user = {"id": number, "name": f"user-{number:07d}", "profession": PROFESSIONS[number % len(PROFESSIONS)],
                    "email": f"user-{number:07d}@example.com"}
            yield user, helpers.compact_json(user)
        return
    with helpers.read_lines(args.file) as lines:
        for where, line in lines:
            yield helpers.json_line(line, where)


def count_and_check(args):
    """How many records will be sent; a file is checked whole first.

    A pipe can be read only once: None, and its lines are checked as they are sent.
    """
    if args.count:
        return args.count
    if helpers.readable_once(args.file):
        return None
    count = bad = 0
    problems = []  # the first few only: a file of bad lines must not fill the memory
    with helpers.read_lines(args.file) as lines:
        for where, line in lines:
            try:
                helpers.json_line(line, where)
            except helpers.UsageError as error:
                bad += 1
                if bad <= SHOW_BAD_LINES:
                    problems.append(str(error))
                continue
            count += 1
    if bad:
        more = f"; and {bad - SHOW_BAD_LINES} more" if bad > SHOW_BAD_LINES else ""
        raise helpers.UsageError(f"{args.file} has {bad} bad line(s): {'; '.join(problems)}{more}")
    if not count:
        raise helpers.UsageError(f"{args.file} has no records")
    return count


def send_all(producer, args, deliveries, print_each):
    for record, value in records(args):
        key = record.get("name", record.get("id"))  # the same key always goes to the same partition
        key = None if key is None else str(key).encode()
        with helpers.ctrl_c_waits:  # a Ctrl-C waits until send() returns: kafka-python must not stop halfway
            future = deliveries.send(producer, args.topic, key, value)
        if print_each:
            deliveries.to_print.append((future, key, record))
        elif deliveries.sent % 1000 == 0:
            deliveries.count_answers()
            if deliveries.progress.due():
                deliveries.progress.show(deliveries.progress_line())


class Deliveries:
    """What was sent and what the broker acknowledged.

    Each record's future waits in `waiting`, oldest first, until this thread counts the broker's answer. Not a
    callback per record: those run on kafka-python's I/O thread, beside its own work, and cost a fifth of the
    throughput (docs/benchmark.md).
    """

    def __init__(self, total, source):
        self.total = total  # None for a pipe
        self.source = source  # where the records come from, for the report
        self.sent = self.sent_bytes = self.acknowledged = self.acknowledged_bytes = self.failed = 0
        self.first_error = None
        self.offsets = {}  # partition -> [first offset, last offset]
        self.to_print = []  # (future, key, record) of a small file, printed in order at the end
        self.waiting = collections.deque()  # the futures of records the broker has not answered for, oldest first
        self.progress = helpers.Progress()

    def send(self, producer, topic, key, value):
        self.sent += 1  # counted first: a record whose send() fails is accounted for as not acknowledged
        self.sent_bytes += len(value)
        future = producer.send(topic, key=key, value=value)
        self.waiting.append(future)
        return future

    def count_answers(self, everywhere=False):
        """Count the broker's answers that have come: from the oldest record on, until one is still waiting, or
        with everywhere=True all of them (partitions answer in their own order). Returns how many still wait.

        A future leaves the queue before it is counted: a Ctrl-C in between leaves one answered record counted
        as not acknowledged, which the report may say (it may or may not be stored), never the reverse."""
        for _ in range(len(self.waiting)):
            future = self.waiting[0]
            if not future.is_done:
                if not everywhere:
                    break
                self.waiting.rotate(-1)  # to the back of the queue: its partition has not answered yet
                continue
            self.waiting.popleft()
            if future.exception is not None:
                self.failed += 1
                self.first_error = self.first_error or future.exception
                continue
            metadata = future.value
            self.acknowledged += 1
            self.acknowledged_bytes += metadata.serialized_value_size
            span = self.offsets.setdefault(metadata.partition, [metadata.offset, metadata.offset])
            span[0], span[1] = min(span[0], metadata.offset), max(span[1], metadata.offset)
        return len(self.waiting)

    def progress_line(self):
        total = "" if self.total is None else f"/{self.total:,}"
        return f"Sending... {self.sent:>9,}{total} sent  {self.acknowledged:>9,} acknowledged"

    def wait(self, seconds, quiet=False):
        """Wait for the broker's answer to every record sent, at most `seconds`, moving the progress line.

        Not producer.flush(): kafka-python 3.0.12's idempotent producer can wait in it forever when a
        broker stays down, instead of failing the records after the delivery timeout.
        """
        deadline = time.monotonic() + seconds
        while self.count_answers(everywhere=True) and time.monotonic() < deadline:
            if not quiet and not self.to_print and self.progress.due():
                self.progress.show(self.progress_line())
            time.sleep(0.02)

    def wait_after_ctrl_c(self, seconds):
        """A shorter, quiet wait for what is already in flight; a second Ctrl-C stops it."""
        try:
            self.wait(seconds, quiet=True)
        except KeyboardInterrupt:
            pass

    def report(self, args, stopped_by):
        """Print what happened to every record; returns the exit status."""
        self.count_answers(everywhere=True)  # the answers that came while the producer was closing
        for future, key, record in self.to_print:
            if future.succeeded():
                meta = future.value
                helpers.print_line(f"Sent  topic {meta.topic}  partition {meta.partition:<3} offset {meta.offset:<8} "
                                   f"key {helpers.key_text(key):<14} {json.dumps(record, ensure_ascii=False)}")
        if not self.to_print:
            self.progress.finish(self.progress_line())
            for partition, (first, last) in sorted(self.offsets.items()):
                print(f"  partition {partition:<3} offsets {first} to {last}")
            print(helpers.summary_line("Sent", self.acknowledged, self.acknowledged_bytes, self.progress.seconds()))
        unacknowledged = self.sent - self.acknowledged
        if stopped_by == "Ctrl-C":
            never = f"the rest of {self.source} was not read" if self.total is None else \
                f"{self.total - self.sent:,} never sent"
            print(f"Interrupted: {self.acknowledged:,} of {self.total or self.sent:,} records acknowledged, "
                  f"{unacknowledged:,} sent but not acknowledged, {never}.")
            return 130
        if isinstance(stopped_by, helpers.UsageError):
            return helpers.fail(f"{stopped_by}; stopped there: of the {self.sent} records before it, "
                                f"{self.acknowledged} were acknowledged by the broker", args, status=2)
        if unacknowledged or stopped_by:
            reason = helpers.describe_failure(stopped_by or self.first_error or "no answer from the broker", args)
            return helpers.fail(f"{unacknowledged} of {self.total or self.sent} records were NOT acknowledged by "
                                f"the broker ({reason})", args)
        if self.total is not None and self.sent != self.total:
            return helpers.fail(f"{self.sent:,} records were sent, but the check found {self.total:,} in "
                                f"{self.source}: did it change meanwhile? Send it again once it is complete", args)
        noun = "record" if self.acknowledged == 1 else "records"
        print(f"Done: {self.acknowledged:,} {noun} acknowledged by the broker (acks=all) on topic '{args.topic}'.")
        return 0


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Send many JSON user records to a Kafka topic.")
    kafka_settings.add_connection_arguments(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--count", type=helpers.positive_int, metavar="N", help="send N generated users")
    source.add_argument("--file", metavar="PATH",
                        help="a JSON-lines file, one object per line, checked whole before sending; '-' (or a "
                             "pipe) is read once, sending as it reads and stopping at the first bad line")
    parser.add_argument("--delivery-timeout", type=helpers.positive_int, default=30, metavar="SECONDS",
                        help="give up on a record the broker has not acknowledged after this long "
                             "(default %(default)s)")
    args = parser.parse_args(argv)
    if args.count is None and args.file is None:
        parser.error("say what to send: --count N or --file PATH ('-' for standard input)")
    if args.delivery_timeout * 1000 <= PRODUCER_CONFIG["request_timeout_ms"] + PRODUCER_CONFIG["linger_ms"]:
        parser.error("--delivery-timeout must be more than 10 seconds (one request may take 10 s)")
    return args


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Interrupted before anything was sent.")  # later, main() reports it
