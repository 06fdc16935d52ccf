"""Greet every user on the Users topic: a consumer whose work is one plain function, welcome().

    python welcome_users.py                     # group 'welcome', until Ctrl-C
    python welcome_users.py --max-messages 2    # stop by itself after 2 records

welcome() knows nothing about Kafka, so a test can call it without a broker; the loop around it is
tested against a real broker (tests/test_welcome_users.py, docs/testing-your-consumer.md).
"""

import helpers

from kafka import KafkaConsumer
from kafka.errors import KafkaError

import kafka_settings

CONSUMER_CONFIG = {
    "auto_offset_reset": "earliest",  # a new group starts at the oldest record
    "enable_auto_commit": False,  # we commit after handling a batch, so nothing is marked read unhandled
}


def welcome(value):
    """The line for one record's value (bytes or None): a greeting, or why the record is skipped."""
    user, problem = helpers.decode_json_object(value)
    if problem:
        return f"skipped: {problem}"
    name, profession = user.get("name"), user.get("profession")
    if not isinstance(name, str) or not name.strip():
        return "skipped: no name"
    greeting = f"Welcome, {name}" + (f", {profession}" if isinstance(profession, str) else "") + "!"
    return "".join(c if c.isprintable() else "?" for c in greeting)  # a record cannot move your cursor


def main(argv=None):
    parser = helpers.ArgumentParser(description="Greet the users of a Kafka topic, as a consumer group.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--group", default="welcome", help="consumer group id (default %(default)s)")
    parser.add_argument("--max-messages", type=helpers.positive_int, metavar="N", help="stop after N records")
    args = parser.parse_args(argv)
    helpers.configure_logging(args.verbose)
    try:
        consumer = KafkaConsumer(args.topic, **kafka_settings.connection_settings(args, "kit-welcome"),
                                 **CONSUMER_CONFIG, group_id=args.group)
    except KafkaError as error:
        return helpers.fail(error, args)
    handled = 0
    try:
        while not args.max_messages or handled < args.max_messages:
            batch = consumer.poll(timeout_ms=500, max_records=args.max_messages and args.max_messages - handled)
            for records in batch.values():
                for record in records:
                    helpers.print_line(f"partition {record.partition} offset {record.offset}: {welcome(record.value)}")
                    handled += 1
            if batch:
                consumer.commit()  # the offsets after what poll() returned, which we have all handled
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        consumer.close(autocommit=False)
    print(f"Welcomed {handled} record(s) as group '{args.group}'.")
    return 0


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C.", ctrl_c_status=0)
