"""Send one user record to Kafka as JSON, and show where it landed.

    python producer.py                                       # a sample user
    python producer.py --name Ana --profession "Data Engineer"
    python producer.py --data '{"name": "Ana", "profession": "Data Engineer"}'

Many records at once (generated, from a file, from a pipe): bulk_producer.py.
All of a batch or none of it: transactional_producer.py.
"""

import json

import helpers

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

import kafka_settings

PRODUCER_CONFIG = {
    "acks": "all",  # the broker confirms only once every in-sync replica has the record
    "enable_idempotence": True,  # a send retried after a broker hiccup is still written only once
    "max_block_ms": 5000,  # an unknown topic fails within 5 s instead of after 60 s
    "request_timeout_ms": 10000,  # how long one request may take
    "delivery_timeout_ms": 15000,  # give up on the record after 15 s of retries, and say so
}

SAMPLE_USER = {"name": "Ana", "profession": "Data Engineer"}
# delivery_timeout_ms plus a margin: kafka-python 3.0.12's idempotent producer may otherwise wait forever.
ACK_WAIT_SECONDS = 20


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    try:
        user = user_to_send(args)
    except helpers.UsageError as error:
        return helpers.fail(f"{error}; nothing was sent", args, status=2)
    try:
        producer = KafkaProducer(**kafka_settings.connection_settings(args, "kit-producer"), **PRODUCER_CONFIG)
    except KafkaError as error:
        return helpers.fail(error, args)
    key = str(user.get("name", user.get("id", "")))  # the same key always goes to the same partition
    value = json.dumps(user, ensure_ascii=False, separators=(",", ":"))  # compact: every byte is stored
    try:
        producer.partitions_for(args.topic)  # fails within max_block_ms if the topic does not exist
    except KafkaTimeoutError:
        helpers.close_producer(producer)
        return helpers.topic_missing(args, suffix="; nothing was sent")
    except KafkaError as error:
        helpers.close_producer(producer)
        return helpers.fail(error, args)
    try:
        # Kafka stores bytes. send() only puts the record in a buffer; get() waits for the acknowledgement.
        record = producer.send(args.topic, key=key.encode() or None, value=value.encode())
        metadata = record.get(timeout=ACK_WAIT_SECONDS)
    except KafkaError as error:
        return helpers.fail(f"the record was NOT acknowledged by the broker ({helpers.describe_failure(error, args)})"
                            f"; it may or may not be stored", args)
    finally:
        helpers.close_producer(producer)  # without close(), buffered records would be lost at exit
    print(f"Sent  topic {metadata.topic}  partition {metadata.partition:<3} offset {metadata.offset:<8} "
          f"key {key or '-':<14} {json.dumps(user, ensure_ascii=False)}")
    print(f"Done: 1 record acknowledged by the broker (acks=all) on topic '{args.topic}'.")
    return 0


def user_to_send(args):
    """The record as a dict: --data, --name/--profession, or the sample user."""
    if args.data is not None:  # `--data ""` is an error, not a request for the sample user
        return helpers.json_record(args.data, "--data")[0]
    if args.name or args.profession:
        return {"name": args.name or SAMPLE_USER["name"], "profession": args.profession or "unknown"}
    return SAMPLE_USER


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Send one JSON user record to a Kafka topic.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--name", help="the user's name (default: a sample user)")
    parser.add_argument("--profession", help="the user's profession")
    parser.add_argument("--data", metavar="JSON", help="the whole record as a JSON object")
    args = parser.parse_args(argv)
    if (args.name or args.profession) and args.data is not None:
        parser.error("--name/--profession cannot be combined with --data")
    return args


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Interrupted: the record may or may not have been stored.")
