"""Send a batch of user records in one Kafka transaction: consumers that read committed see all or none.

    python transactional_producer.py --count 10            # commit: read_committed consumers see all 10
    python transactional_producer.py --count 10 --abort    # abort: they see none of them
    python consumer.py --read-committed                    # a consumer that skips aborted records

The aborted records stay in the log (a plain consumer still shows them); a Ctrl-C aborts the transaction.
"""

import helpers

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

import kafka_settings

PRODUCER_CONFIG = {
    "acks": "all",  # transactions need every in-sync replica to confirm
    "enable_idempotence": True,  # transactions build on the idempotent producer
    "linger_ms": 20,  # wait up to 20 ms to fill a batch
    "max_block_ms": 5000,  # an unknown topic (or a silent broker) fails within 5 s per step
}
PROFESSIONS = ["Data Engineer", "Teacher", "Nurse", "Architect", "Chef", "Pilot", "Plumber", "Designer"]


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    # One fixed id per topic: a new run with the same id fences off (aborts) an older, unfinished one.
    transactional_id = f"kit-producer-{args.topic}"
    try:
        producer = KafkaProducer(**kafka_settings.connection_settings(args, "kit-transactional-producer"),
                                 **PRODUCER_CONFIG, transactional_id=transactional_id)
    except KafkaError as error:
        return helpers.fail(error, args)
    opened = False
    try:
        producer.partitions_for(args.topic)  # fails within max_block_ms if the topic does not exist
        producer.init_transactions()  # also aborts an unfinished transaction left by an earlier run
        producer.begin_transaction()
        opened = True
        progress = helpers.Progress()
        for number in range(1, args.count + 1):
            user = {"id": number, "name": f"user-{number:07d}", "profession": PROFESSIONS[number % len(PROFESSIONS)]}
            producer.send(args.topic, key=user["name"].encode(), value=helpers.compact_json(user))
            if number % 1000 == 0 and progress.due():
                progress.show(f"Sending... {number:>9,}/{args.count:,} sent in the open transaction")
        # Wait until the broker has every record; they stay invisible to read_committed consumers until the commit.
        producer.flush(timeout=30)
        if args.abort:
            producer.abort_transaction()  # the records stay in the log; read_committed consumers skip them
            print(f"Transaction aborted on purpose (--abort): {args.count} record(s) are in the log, "
                  f"but read_committed consumers never see them.")
        else:
            producer.commit_transaction()  # waits for every record, then makes the batch visible at once
            print(f"Transaction committed: read_committed consumers now see the whole batch ({args.count} record(s)).")
        return 0
    except KafkaTimeoutError:
        return helpers.topic_missing(args) if not opened else helpers.fail("the broker did not answer in time", args)
    except KeyboardInterrupt:
        if opened:
            # An open transaction would hold back read_committed consumers until it times out (60 s).
            producer.abort_transaction()
            print("Transaction aborted (Ctrl-C): the records are in the log, but read_committed consumers "
                  "never see them.")
        return 130
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        helpers.close_producer(producer)


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Send generated user records in one Kafka transaction.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--count", type=helpers.positive_int, default=5, metavar="N",
                        help="how many generated users the transaction holds (default %(default)s)")
    parser.add_argument("--abort", action="store_true", help="abort the transaction on purpose instead of committing")
    return parser.parse_args(argv)


if __name__ == "__main__":
    helpers.run(main)
