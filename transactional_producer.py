"""Send a batch of user records in one Kafka transaction: consumers that read committed see all or none.

    python transactional_producer.py --count 10            # commit: read_committed consumers see all 10
    python transactional_producer.py --count 10 --abort    # abort: they see none of them
    python consumer.py --read-committed                    # a consumer that skips aborted records

The aborted records stay in the log (a plain consumer still shows them). A Ctrl-C or an error aborts the
transaction; the last line says whether it ended committed, aborted or with its outcome unknown.
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
TRANSACTIONS_READY_SECONDS = 25  # under kafka-python's 30 s request timeout: see helpers
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
    try:
        return send_in_one_transaction(producer, args)
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        helpers.close_producer(producer)


def send_in_one_transaction(producer, args):
    try:
        producer.partitions_for(args.topic)  # fails within max_block_ms if the topic does not exist
    except KafkaTimeoutError:
        return helpers.topic_missing(args)
    try:
        # Also aborts an unfinished transaction left by an earlier run. The helper waits longer than max_block_ms:
        # a new broker's first transaction creates the internal topic __transaction_state, which takes a while.
        helpers.init_transactions(producer, TRANSACTIONS_READY_SECONDS)
    except KafkaTimeoutError:
        return helpers.transactions_not_ready(args, TRANSACTIONS_READY_SECONDS)
    producer.begin_transaction()
    try:
        progress = helpers.Progress()
        for number in range(1, args.count + 1):
            user = {"id": number, "name": f"user-{number:07d}", "profession": PROFESSIONS[number % len(PROFESSIONS)]}
            producer.send(args.topic, key=user["name"].encode(), value=helpers.compact_json(user))
            if number % 1000 == 0 and progress.due():
                progress.show(f"Sending... {number:>9,}/{args.count:,} sent in the open transaction")
        # Wait until the broker has every record; they stay invisible to read_committed consumers until the commit.
        producer.flush(timeout=30)
        # kafka-python's commit_transaction() and abort_transaction() can wait for ever: the helpers give up in time.
        if args.abort:
            helpers.abort_transaction(producer)  # the records stay in the log; read_committed consumers skip them
            print(f"Transaction aborted on purpose (--abort): {args.count} record(s) are in the log, "
                  f"but read_committed consumers never see them.")
        else:
            helpers.commit_transaction(producer)  # waits for every record, then makes the batch visible at once
            print(f"Transaction committed: read_committed consumers now see the whole batch ({args.count} record(s)).")
        return 0
    # Whatever goes wrong, end the transaction: while it is open, read_committed consumers of the topic cannot
    # read past its first record (the last stable offset) until the broker times it out (60 s).
    except KeyboardInterrupt:
        print(helpers.end_after_ctrl_c(producer, args))
        return 130
    except KafkaError as error:
        helpers.print_error(helpers.end_after_error(producer, error, args))
        return 1


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Send generated user records in one Kafka transaction.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--count", type=helpers.positive_int, default=5, metavar="N",
                        help="how many generated users the transaction holds (default %(default)s)")
    parser.add_argument("--abort", action="store_true", help="abort the transaction on purpose instead of committing")
    return parser.parse_args(argv)


if __name__ == "__main__":
    helpers.run(main)
