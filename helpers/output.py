"""Progress and summary lines, consumer.py's lines, and how every script ends."""

import json
import os
import signal
import sys
import time

from helpers.cli import UsageError, decode_json_object

from kafka import TopicPartition

PROGRESS_EVERY_SECONDS = 0.5
RAW_PREVIEW_BYTES = 80  # how much of a record that is not JSON a warning shows


def print_line(text):
    """Print a line and its newline in one write: a Ctrl-C between the two would glue the next line onto it."""
    sys.stdout.write(text + "\n")


def print_error(text):
    """Print a line to standard error in one write. With -v, kafka-python logs there from its own thread, and
    print() writes the text and its newline separately: a log line landing between them is glued to the text."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def key_text(key):
    return "-" if key is None else key.decode("utf-8", errors="replace")


def raw_preview(value):
    """The first bytes of a record that is not what we expected, and its size when that is more."""
    preview = repr(value[:RAW_PREVIEW_BYTES])
    return preview + (f"... ({len(value):,} bytes)" if len(value) > RAW_PREVIEW_BYTES else "")


def summary_line(verb, count, size_bytes, seconds):
    """'Sent 1,000 records (0.1 MB) in 0.20 s: 5,000 records/s', the same for every script."""
    rate = count / seconds if seconds > 0 else 0.0
    noun = "record" if count == 1 else "records"
    return f"{verb} {count:,} {noun} ({size_bytes / 1e6:.1f} MB) in {seconds:.2f} s: {rate:,.0f} records/s"


class Tally:
    """Records and bytes seen since the start, for the summary line."""

    def __init__(self):
        self.started = time.monotonic()
        self.records = self.size = self.bad = 0

    def add(self, value, bad=False):
        self.records += 1
        self.size += len(value or b"")
        self.bad += bad

    def summary(self, verb):
        skipped = f"; {self.bad} bad record(s) skipped" if self.bad else ""
        return summary_line(verb, self.records, self.size, time.monotonic() - self.started) + skipped


def show_record(record, tally):
    """consumer.py's line for one record; one that is not a JSON object is shown raw and counted as bad."""
    where = f"partition {record.partition:<3} offset {record.offset:<8} key {key_text(record.key):<14}"
    user, problem = decode_json_object(record.value)
    tally.add(record.value, bad=bool(problem) and record.value is not None)  # counted before it is shown
    if record.value is None:  # a tombstone: by convention, "the record with this key was deleted"
        print_line(f"Tombstone      {where} (null value: the record with this key was deleted)")
    elif problem:
        print_line(f"Warning: partition {record.partition} offset {record.offset}: {problem}, "
                   f"shown raw: {raw_preview(record.value)}")
    else:
        print_line(f"Data Received  {where} {json.dumps(user, ensure_ascii=False)}")


def print_where_the_group_starts(consumer, args):
    """Say where consumer.py's group starts reading; returns its committed offsets, {TopicPartition: offset}."""
    partitions = [TopicPartition(args.topic, p) for p in sorted(consumer.partitions_for_topic(args.topic))]
    committed = {tp: consumer.committed(tp) for tp in partitions}
    if args.from_beginning:  # where this group left off last time is where it starts now, unless...
        print(f"Group '{args.group}': replaying every partition from the oldest record (--from-beginning).")
    elif all(offset is None for offset in committed.values()):
        print(f"Group '{args.group}' has no committed offsets yet: it starts from the oldest record "
              f"(auto_offset_reset='earliest').")
    else:
        where = ", ".join(f"partition {tp.partition} at offset {'-' if offset is None else offset}"
                          for tp, offset in committed.items())
        print(f"Group '{args.group}' continues where it left off: {where}.", flush=True)
    return {tp: offset for tp, offset in committed.items() if offset is not None}


def print_how_the_consumer_ended(tally, stop_reason, group, committed_all):
    """consumer.py's last two lines: what it received, why it stopped, and whether a rerun continues after it."""
    print(tally.summary("Received"))
    if committed_all:
        print(f"{stop_reason} Offsets committed for group '{group}': run again with --group {group} to continue "
              f"from here.")
    else:
        print(f"{stop_reason} Kafka did not take the commit, so the last records shown were NOT committed: the "
              f"next run with --group {group} shows them again.")


class Progress:
    """A progress line about twice a second: rewritten in place on a terminal, one line each otherwise."""

    def __init__(self):
        self.started = time.monotonic()
        self.next_at = self.started + PROGRESS_EVERY_SECONDS

    def due(self):
        return time.monotonic() >= self.next_at

    def show(self, line):
        if sys.stdout.isatty():
            print(f"\r{line}", end="", flush=True)
        else:
            print(line, flush=True)
        self.next_at = time.monotonic() + PROGRESS_EVERY_SECONDS

    def finish(self, line):
        """The last progress line, kept on a terminal; nothing more when output goes to a file."""
        if sys.stdout.isatty():
            print(f"\r{line}", flush=True)

    def seconds(self):
        return time.monotonic() - self.started


class Terminated(KeyboardInterrupt):
    """A SIGTERM (`docker stop`, `kill`). It is a KeyboardInterrupt, so it stops a script as cleanly as Ctrl-C;
    a script that says what stopped it can tell the two apart with stopped_by()."""


def raise_terminated(signum, frame):
    raise Terminated


class CtrlCWaits:
    """`with helpers.ctrl_c_waits:` a Ctrl-C (or SIGTERM) that comes inside the block takes effect at its end.

    For steps a Ctrl-C must not split, each with its reason:
    - consumer.py prints a record, then notes it as printed: the Ctrl-C commits what was noted. Split, it
      committed one record short and said "Offsets committed", and the next run showed that record again.
    - bulk_producer.py's send(): kafka-python 3.0.12's Future.add_callback() and add_errback() take a lock and
      release it without try/finally. A KeyboardInterrupt between the two leaves the lock held for good: the
      I/O thread then blocks on it when the broker acknowledges that record, and every later record, and even
      close(), waits forever.
    Outside a block, a Ctrl-C interrupts at once, as usual, and so does a second one inside a block (a print
    into a full pipe, say `| less` paused, can wait for ever). Only under run(), which installs the handlers.
    """

    def __init__(self):
        self.depth, self.pending = 0, None

    def __enter__(self):
        self.depth += 1

    def __exit__(self, *exc_info):
        self.depth -= 1
        if self.depth == 0 and self.pending is not None:
            stop, self.pending = self.pending, None
            raise stop

    def on_signal(self, signum, frame):
        stop = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if self.depth == 0 or self.pending is not None:
            raise stop
        self.pending = stop


ctrl_c_waits = CtrlCWaits()


def stopped_by(interrupt):
    """'SIGTERM' or 'Ctrl-C': what the KeyboardInterrupt came from, for a line that says so."""
    return "SIGTERM" if isinstance(interrupt, Terminated) else "Ctrl-C"


def run(main, on_ctrl_c="Interrupted.", ctrl_c_status=130):
    """A script's `__main__`: exit with main()'s status.

    `docker stop` and `kill` send SIGTERM: it becomes a KeyboardInterrupt (Terminated), as Ctrl-C does, so every
    script stops cleanly; on_ctrl_c then names SIGTERM instead of Ctrl-C. SIGINT is set too, because a shell
    ignores it for a script started in the background (&).
    """
    signal.signal(signal.SIGTERM, ctrl_c_waits.on_signal)
    signal.signal(signal.SIGINT, ctrl_c_waits.on_signal)
    try:
        sys.exit(main())
    except UsageError as error:  # bad input found after parsing, e.g. a KAFKA_* variable
        print_error(f"error: {error}")
        sys.exit(2)
    except KeyboardInterrupt as stop:
        if on_ctrl_c:
            print_error(on_ctrl_c.replace("Ctrl-C", stopped_by(stop)))
        sys.exit(ctrl_c_status)
    except BrokenPipeError:  # output piped into a command that stopped reading, e.g. `| head`
        # Send what Python still flushes at exit nowhere, instead of a second error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
