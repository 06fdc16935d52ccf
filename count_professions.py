"""Count users per profession, exactly once, with the counts kept in a compacted topic.

    python count_professions.py                    # UsersByProfession -> ProfessionCounts
    python count_professions.py --at-least-once    # the same without transactions: a crash can count twice

Each batch is one transaction: the new counts and the group's offsets commit together. On every partition
it is given, it first reads that partition's latest counts back from ProfessionCounts (the restore), so a
restarted copy continues from the committed counts, not from zero. Read the counts with
'python consumer.py --topic ProfessionCounts --read-committed'.
"""

import json

import helpers

from kafka import KafkaConsumer
from kafka.errors import KafkaError

import kafka_settings
import route_users  # stage 1: the same producer settings and the same way to commit a batch

CONSUMER_CONFIG = {
    "auto_offset_reset": "earliest",  # a new group counts every user from the oldest one
    "enable_auto_commit": False,  # the offsets are committed with the counts, in the transaction
    "isolation_level": "read_committed",  # never count a user whose routing was aborted
    # The same waits after kill -9 as in route_users.py, bounded the same way (see its CONSUMER_CONFIG).
    "session_timeout_ms": 10000,  # a copy killed with kill -9 loses its partitions after 10 s
    # Also the rebalance timeout: a copy killed during a rebalance holds the group up this long at most
    # (5 minutes by default). A batch, restore included, takes far less.
    "max_poll_interval_ms": 15000,
}
CLIENT_ID = "kit-count-professions"


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    settings = kafka_settings.connection_settings(args, CLIENT_ID)
    try:
        partitions = helpers.partition_count(settings, args.topic)
        if partitions is None:
            return helpers.topic_missing(args, suffix=" or run route_users.py first")
        # Partition p of the counts holds the counts of the professions in partition p of the input.
        helpers.ensure_topic(settings, args.output, partitions, compacted=True, exact=True)
        # One batch, one transaction, as in route_users.py: --batch-size records at most.
        consumer = KafkaConsumer(**settings, **CONSUMER_CONFIG, group_id=args.group, max_poll_records=args.batch_size)
        producer = route_users.new_producer(args, CLIENT_ID)
    except KafkaError as error:
        return helpers.fail(error, args)
    news = helpers.RestoreNews(consumer, args.group, args.topic)
    try:
        helpers.subscribe(consumer, args.topic, news)  # consumer.subscribe(), and the partitions before the join
        print(helpers.starting_line(f"Counting '{args.topic}' into '{args.output}'", args), flush=True)
        return count(consumer, producer, news, args)
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        consumer.close(autocommit=False)


def count(consumer, producer, news, args):
    stopper, counts, total = helpers.Stopper(args), {}, 0  # counts: {partition: {profession: count}}
    try:
        while (stop_reason := stopper.reason()) is None:
            batch = consumer.poll(timeout_ms=500, max_records=stopper.poll_limit())
            had_news = news.print_news() or not consumer.assignment()
            if news.to_restore:  # new partitions: their counts first, then their records
                restore(consumer, news.to_restore, counts, args)
            stopper.saw(sum(map(len, batch.values())), had_news)
            if not batch:
                continue
            try:
                line = write_batch(producer, consumer, batch, counts, args)
                total += sum(map(len, batch.values()))
            except KafkaError as error:  # e.g. fenced: this copy lost its partitions while it was stalled
                producer, line = helpers.recover(producer, error, lambda: route_users.new_producer(args, CLIENT_ID))
                print(line, flush=True)
                helpers.rewind(consumer, error)
                restore(consumer, set(consumer.assignment()), counts, args)  # drop the uncommitted counts
                continue
            print(line, flush=True)
    except KeyboardInterrupt:
        stop_reason = "Stopped by Ctrl-C."
    finally:
        helpers.close_producer(producer)
    latest = {profession: n for partition_counts in counts.values() for profession, n in partition_counts.items()}
    print(f"Counted {total:,} user(s). Latest counts: {helpers.counts_line(latest)}. {stop_reason}")
    return 0


def restore(consumer, partitions, counts, args):
    """Read the partitions' latest counts back from the compacted topic, then let their records flow."""
    wanted = sorted(tp.partition for tp in partitions)
    settings = kafka_settings.connection_settings(args, CLIENT_ID)  # anew: the brokers that are up may have changed
    for partition in wanted:
        counts[partition] = helpers.restore_counts(settings, args.output, [partition])
    print(f"Restored {sum(len(counts[p]) for p in wanted)} count(s) for partitions {wanted} from '{args.output}'",
          flush=True)
    consumer.resume(*partitions)
    partitions.clear()


def write_batch(producer, consumer, batch, counts, args):
    """Count one batch and send each changed count; with transactions, counts and offsets commit together."""
    if not args.at_least_once:
        producer.begin_transaction()
    changed = {}
    for tp, records in batch.items():
        for record in records:
            profession = record.key.decode()
            counts[tp.partition][profession] = counts[tp.partition].get(profession, 0) + 1
            changed[profession] = tp.partition
    for profession, partition in changed.items():
        value = json.dumps({"profession": profession, "count": counts[partition][profession]}).encode()
        # The same partition number as the input: that partition's restore finds this count there.
        producer.send(args.output, key=profession.encode(), value=value, partition=partition)
    outcome = route_users.commit_batch(producer, consumer, batch, args.at_least_once)  # offsets, as in stage 1
    return helpers.batch_line(sum(map(len, batch.values())), len(changed), None, [tp.partition for tp in batch],
                              outcome)


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Count users per profession into a compacted topic, exactly once.")
    kafka_settings.add_connection_arguments(parser)
    parser.set_defaults(topic="UsersByProfession")
    helpers.add_stage_arguments(parser, "ProfessionCounts", "compacted topic of the counts, keyed by profession",
                                group="count-professions")
    return parser.parse_args(argv)


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C before joining the group.", ctrl_c_status=0)
