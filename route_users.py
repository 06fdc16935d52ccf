"""Route each user to the topic of its profession's counter, and each record it cannot use to a dead-letter topic.

    python route_users.py                   # Users -> UsersByProfession (keyed by profession) and Users.DLQ
    python route_users.py --at-least-once   # the same without transactions: a crash can write a batch twice

Each batch is one Kafka transaction: its output records and the group's new offsets commit together, or
not at all. Read the outputs with 'python consumer.py --topic UsersByProfession --read-committed'.
"""

import uuid

import helpers

from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata
from kafka.errors import CommitFailedError, KafkaError

import kafka_settings

CONSUMER_CONFIG = {
    "auto_offset_reset": "earliest",  # a new group starts at the oldest user
    "enable_auto_commit": False,  # the offsets are committed with the outputs, in the transaction
    "isolation_level": "read_committed",  # never route a user from a transaction that was aborted
    # A restart after kill -9 must resume within 30 s, start-up included. Three waits stand in its way, each
    # bounded here: the dead copy's membership, a rebalance it was part of, and its open transaction.
    "session_timeout_ms": 10000,  # a copy killed with kill -9 loses its partitions after 10 s
    # Also the rebalance timeout: a copy killed during a rebalance holds the group up for this long at most
    # (5 minutes by default). One batch takes well under a second, so 15 s still leaves room for a slow one.
    "max_poll_interval_ms": 15000,
}
PRODUCER_CONFIG = {
    "acks": "all",  # transactions need every in-sync replica to confirm
    "enable_idempotence": True,  # transactions build on the idempotent producer
    "linger_ms": 20,
    "max_block_ms": 10000,  # a broker that does not answer fails a step within 10 s
    # The broker aborts a transaction left open this long (60 s by default), checking every 10 s: a copy killed
    # mid-batch holds up read_committed readers of the outputs, and the fetch of its group's offsets by the copy
    # that takes over, for 20 s at most. A batch's transaction is open for well under a second.
    "transaction_timeout_ms": 10000,
}
CLIENT_ID = "kit-route-users"
OUTPUT_PARTITIONS = 3  # count_professions.py can run as up to 3 copies
TRANSACTIONS_READY_SECONDS = 25  # under kafka-python's 30 s request timeout: see helpers


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    settings = kafka_settings.connection_settings(args, CLIENT_ID)
    try:
        if helpers.partition_count(settings, args.topic) is None:
            return helpers.topic_missing(args)
        helpers.ensure_topic(settings, args.output, OUTPUT_PARTITIONS)
        helpers.ensure_topic(settings, args.dlq, 1)
        # One batch, one transaction: --batch-size (500 by default) sets how many records a batch holds at most.
        consumer = KafkaConsumer(**settings, **CONSUMER_CONFIG, group_id=args.group, max_poll_records=args.batch_size)
        producer = new_producer(args, CLIENT_ID)
    except KafkaError as error:
        return helpers.fail(error, args)
    news = helpers.AssignmentNews(consumer, args.group, args.topic)
    try:
        helpers.subscribe(consumer, args.topic, news)  # consumer.subscribe(), and the partitions before the join
        print(helpers.starting_line(f"Routing '{args.topic}' to '{args.output}' (bad records to '{args.dlq}')", args),
              flush=True)
        return route(consumer, producer, news, args)
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        consumer.close(autocommit=False)


def new_producer(args, client_id):
    """The stage's producer (count_professions.py uses it too): transactional unless --at-least-once."""
    settings = kafka_settings.connection_settings(args, client_id)  # anew: the brokers that are up may have changed
    if args.at_least_once:
        return KafkaProducer(**settings, **PRODUCER_CONFIG)
    # Unique per running copy: two copies share the group, and the broker fences a stale one through
    # consumer.group_metadata() (KIP-447), not through a shared transactional id.
    producer = KafkaProducer(**settings, **PRODUCER_CONFIG, transactional_id=f"{args.group}-{uuid.uuid4().hex[:12]}")
    try:
        helpers.init_transactions(producer, TRANSACTIONS_READY_SECONDS)
    except KafkaError:
        helpers.close_producer(producer)  # while Kafka is away the stage tries again: leave no thread behind
        raise
    return producer


def route(consumer, producer, news, args):
    stopper, totals = helpers.Stopper(args), {"in": 0, "out": 0, "dlq": 0}
    try:
        while (stop_reason := stopper.reason()) is None:
            batch = consumer.poll(timeout_ms=500, max_records=stopper.poll_limit())
            stopper.saw(sum(map(len, batch.values())), news.print_news() or not consumer.assignment())
            if not batch:
                continue
            try:
                line = write_batch(producer, consumer, batch, args, totals)
            except KafkaError as error:  # e.g. fenced: this copy lost its partitions while it was stalled
                producer, line = helpers.recover(producer, error, lambda: new_producer(args, CLIENT_ID))
                helpers.rewind(consumer, error)
            print(line, flush=True)
    except KeyboardInterrupt:
        stop_reason = "Stopped by Ctrl-C."  # the open transaction, if any, is aborted by close() or the broker
    finally:
        helpers.close_producer(producer)
    print(f"Routed {totals['in']:,} record(s): {totals['out']:,} to '{args.output}', "
          f"{totals['dlq']:,} to '{args.dlq}'. {stop_reason}")
    return 0


def write_batch(producer, consumer, batch, args, totals):
    """Route one batch; with transactions, its outputs and its offsets commit together."""
    if not args.at_least_once:
        producer.begin_transaction()
    out = to_dlq = 0
    for records in batch.values():
        for record in records:
            user, reason = helpers.bad_user_reason(record.value)
            if reason:  # the original key and value, and why and where from in the headers
                producer.send(args.dlq, key=record.key, value=record.value, headers=helpers.dlq_headers(reason, record))
                to_dlq += 1
            else:  # the new key: all users of one profession land in one partition, for one counter
                producer.send(args.output, key=user["profession"].encode(), value=record.value)
                out += 1
    outcome = commit_batch(producer, consumer, batch, args.at_least_once)
    count = out + to_dlq
    totals.update({"in": totals["in"] + count, "out": totals["out"] + out, "dlq": totals["dlq"] + to_dlq})
    return helpers.batch_line(count, out, to_dlq, [tp.partition for tp in batch], outcome)


def commit_batch(producer, consumer, batch, at_least_once):
    """Mark the batch as done (count_professions.py does the same): in the transaction, or after the sends."""
    offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in helpers.next_offsets(batch).items()}
    if at_least_once:
        producer.flush()  # every output is on the broker before the offsets say the batch is done
        helpers.test_pause()
        try:
            consumer.commit(offsets)  # a crash before this line processes the whole batch again
            return "offsets committed"
        except CommitFailedError:  # the group rebalanced meanwhile: the new owner processes this batch again
            return "offsets NOT committed (the group rebalanced): the batch will be processed again"
    helpers.test_pause()
    # The offsets are written by the transaction too: they count only if it commits. The group metadata
    # lets the broker refuse them from a copy that lost its partitions in a rebalance (it is fenced).
    # (helpers' versions of send_offsets_to_transaction and commit_transaction give up after max_block_ms.)
    helpers.send_offsets_to_transaction(producer, offsets, consumer.group_metadata())
    helpers.commit_transaction(producer)  # outputs and offsets become visible together
    return "committed"


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Route users to a topic keyed by profession, bad records to a DLQ.")
    kafka_settings.add_connection_arguments(parser)
    helpers.add_stage_arguments(parser, "UsersByProfession", "where valid users go, keyed by profession",
                                group="route-users")
    parser.add_argument("--dlq", type=helpers.topic_name, default="Users.DLQ",
                        help="dead-letter topic for records that are not users (default %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C before joining the group.", ctrl_c_status=0)
