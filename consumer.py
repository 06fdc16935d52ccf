"""Read user records from Kafka as a member of a consumer group, until Ctrl-C.

    python consumer.py                         # group 'users-demo', topic 'Users'
    python consumer.py --group another-group   # a new group starts from the oldest record
    python consumer.py --max-messages 10       # stop by itself after 10 records

Offsets are committed after each batch is printed: a restart in the same group continues where it stopped.
"""

import sys
import time

import helpers

from kafka import KafkaConsumer, OffsetAndMetadata
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError

import kafka_settings

CONSUMER_CONFIG = {
    "auto_offset_reset": "earliest",  # a group with no committed offset starts at the oldest record
    "enable_auto_commit": False,  # we commit after printing a batch, so nothing is marked read unseen
    "session_timeout_ms": 10000,  # a crashed member's partitions move to the others after 10 s
    "max_poll_records": 500,  # at most one batch is shown twice after a crash
}


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    try:
        consumer = KafkaConsumer(**kafka_settings.connection_settings(args, "kit-consumer"), **CONSUMER_CONFIG,
                                 group_id=args.group, isolation_level=args.isolation_level)
    except KafkaError as error:
        return helpers.fail(error, args)
    news = helpers.AssignmentNews(consumer, args.group, args.topic, args.from_beginning)
    try:
        consumer.subscribe([args.topic], listener=news)
        if not consumer.partitions_for_topic(args.topic):
            return helpers.topic_missing(args)
        print(f"Consumer in group '{args.group}' reading topic '{args.topic}' at {args.bootstrap_server}. "
              f"Waiting for records (Ctrl-C to stop)...", flush=True)
        committed = helpers.print_where_the_group_starts(consumer, args)
        return consume(consumer, news, args, committed)
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        consumer.close(autocommit=False)  # leaves the group now: the others take over without waiting


def consume(consumer, news, args, committed):
    """committed: partition -> the group's committed offset (the next to read); kept up to date here."""
    tally, last_news, stop_reason = helpers.Tally(), time.monotonic(), None
    shown = {}  # partition -> the offset after the last record printed, kept until a commit covers it
    kafka_away = False  # Kafka stopped answering: said once, and the commit is made again in every round
    try:
        while stop_reason is None:
            try:
                # The first poll joins the group and gets partitions assigned, which takes a moment.
                batch = consumer.poll(timeout_ms=500,
                                      max_records=args.max_messages and args.max_messages - tally.records)
            except KafkaError as error:  # a broker away for a moment: see helpers.wait_for_kafka
                batch, kafka_away = {}, helpers.wait_for_kafka(error, kafka_away)
            if news.print_news() or batch:
                last_news = time.monotonic()  # --timeout counts from the last record or assignment
            for partition, records in batch.items():
                for record in records:
                    if record.offset < shown.get(partition, 0):
                        continue  # printed before a rebalance stopped its commit, and the partition came back
                    with helpers.ctrl_c_waits:  # printed and noted, or neither: a Ctrl-C commits what was noted
                        helpers.show_record(record, tally)
                        shown[partition] = record.offset + 1
            # Only now is the batch marked as read. Commit the position (past a commit marker), not the last offset + 1.
            reading = [tp for tp in consumer.assignment() if tp in shown or tp in committed]
            try:
                if commit(consumer, {tp: consumer.position(tp) for tp in reading}, committed):
                    kafka_away = kafka_away and not batch  # records came and were committed: Kafka is back
                shown = {tp: offset for tp, offset in shown.items() if offset > committed.get(tp, 0)}
            except RebalanceInProgressError:
                pass  # the group is rebalancing: the next poll() finishes it, and the commit is made after it
            except KafkaError as error:
                kafka_away = helpers.wait_for_kafka(error, kafka_away)
            if args.max_messages and tally.records >= args.max_messages:
                stop_reason = f"Reached --max-messages {args.max_messages}."
            elif args.timeout and time.monotonic() - last_news >= args.timeout:
                stop_reason = f"No new records for {args.timeout:g} s (--timeout)."
    except KeyboardInterrupt:
        stop_reason = "Stopped by Ctrl-C."
        try:  # what was printed before the Ctrl-C; a partition the group took away cannot take the commit
            mine = {tp: offset for tp, offset in shown.items() if tp in consumer.assignment()}
            kafka_away = not commit(consumer, mine, committed) or len(mine) < len(shown)
        except KafkaError as error:
            if not error.retriable and not isinstance(error, RebalanceInProgressError):
                raise
            kafka_away = True
    helpers.print_how_the_consumer_ended(tally, stop_reason, args.group, committed_all=not kafka_away)
    return 0


def commit(consumer, offsets, committed):
    """Commit the offsets that differ from the committed ones; False if the group took them away meanwhile."""
    moved = {tp: offset for tp, offset in offsets.items() if committed.get(tp) != offset}
    if moved:
        sys.stdout.flush()  # once per batch, not per record
        try:
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in moved.items()})
            committed.update(moved)
        except CommitFailedError:  # the group rebalanced meanwhile: whoever gets them shows those records again
            print("Warning: could not commit (the group was rebalancing); those records may be shown again")
            return False
    return True


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Print the records of a Kafka topic as a consumer group.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--group", default="users-demo",
                        help="consumer group id; each group gets every record once (default %(default)s)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="replay: start at the oldest record even if the group has committed offsets")
    parser.add_argument("--max-messages", type=helpers.positive_int, metavar="N", help="stop after N records")
    parser.add_argument("--timeout", type=helpers.positive_seconds, metavar="SECONDS",
                        help="stop when no record has arrived for this long")
    parser.add_argument("--read-committed", dest="isolation_level", action="store_const", const="read_committed",
                        default="read_uncommitted", help="skip records of aborted transactions")
    return parser.parse_args(argv)


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C before joining the group.", ctrl_c_status=0)
