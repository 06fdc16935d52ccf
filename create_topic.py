"""Create the topic that producer.py writes to and consumer.py reads from.

    python create_topic.py                    # the 'Users' topic, 1 partition
    python create_topic.py --partitions 3     # more partitions: more consumers can share the work

Running it again is safe: an existing topic is described and left as it is.
"""

import sys
import time

from kafka import KafkaAdminClient
from kafka.errors import InvalidReplicationFactorError, KafkaError, TopicAlreadyExistsError

import kafka_settings

# How long to wait for every new partition to get a leader broker.
LEADER_WAIT_SECONDS = 10


def parse_args(argv):
    parser = kafka_settings.ArgumentParser(description="Create a Kafka topic (safe to run again).")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--partitions", type=kafka_settings.positive_int, default=1,
                        help="number of partitions (default %(default)s)")
    parser.add_argument("--replication-factor", type=kafka_settings.positive_int, default=1,
                        help="copies of each partition, on different brokers (default %(default)s)")
    return parser.parse_args(argv)


def describe(admin, topic):
    """The topic's partitions as the broker sees them, or None if it does not exist."""
    for info in admin.describe_topics([topic]):
        if info["name"] == topic and info["error_code"] == 0:
            return sorted(info["partitions"], key=lambda p: p["partition_index"])
    return None


def wait_for_leaders(admin, topic):
    """A new topic's partitions have no leader for a moment; producing then fails."""
    deadline = time.monotonic() + LEADER_WAIT_SECONDS
    while True:
        partitions = describe(admin, topic)
        if partitions and all(p["leader_id"] >= 0 for p in partitions):
            return partitions
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def print_partitions(partitions):
    for p in partitions:
        print(f"  partition {p['partition_index']:<3} leader broker {p['leader_id']:<3} "
              f"replicas {p['replica_nodes']}  in-sync {p['isr_nodes']}")


def create_topic(admin, args):
    try:
        admin.create_topics({args.topic: {"num_partitions": args.partitions,
                                          "replication_factor": args.replication_factor}})
    except TopicAlreadyExistsError:
        partitions = describe(admin, args.topic) or []
        print(f"Topic '{args.topic}' already exists with {len(partitions)} partition(s); nothing to do.")
        if partitions and len(partitions) != args.partitions:
            print(f"  (You asked for {args.partitions}. A topic's partition count is not changed here: "
                  f"delete the topic or use a new name.)")
        print_partitions(partitions)
        return 0
    except InvalidReplicationFactorError:
        print(f"error: replication factor {args.replication_factor} is larger than the number of brokers "
              f"in the cluster; use --replication-factor 1 on a single broker", file=sys.stderr)
        return 1

    partitions = wait_for_leaders(admin, args.topic)
    if partitions is None:
        print(f"error: topic '{args.topic}' was created but its partitions have no leader after "
              f"{LEADER_WAIT_SECONDS} s; check the broker logs", file=sys.stderr)
        return 1
    print(f"Created topic '{args.topic}' with {args.partitions} partition(s), "
          f"replication factor {args.replication_factor}.")
    print_partitions(partitions)
    return 0


def main(argv=None):
    args = parse_args(argv)
    kafka_settings.configure_logging(args.verbose)
    try:
        admin = KafkaAdminClient(**kafka_settings.connection_settings(args, "kit-create-topic"))
    except kafka_settings.UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KafkaError as error:
        print(f"error: {kafka_settings.describe_failure(error, args)}", file=sys.stderr)
        return 1
    try:
        print(f"Connected to Kafka at {args.bootstrap_server}")
        return create_topic(admin, args)
    except KafkaError as error:
        print(f"error: {kafka_settings.describe_failure(error, args)}", file=sys.stderr)
        return 1
    finally:
        admin.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the output was piped into a command that stopped reading, e.g. `| head`
        kafka_settings.silence_stdout()
        sys.exit(1)
