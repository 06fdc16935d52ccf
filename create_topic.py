"""Create the topic that producer.py writes to and consumer.py reads from.

    python create_topic.py                    # the 'Users' topic, 1 partition
    python create_topic.py --partitions 3     # more partitions: more consumers can share the work

Running it again is safe: an existing topic is described and left as it is.
"""

import time

import helpers

from kafka import KafkaAdminClient
from kafka.errors import InvalidReplicationFactorError, KafkaError, TopicAlreadyExistsError

import kafka_settings

# A new topic's partitions have no leader for a moment, and producing fails until they do.
LEADER_WAIT_SECONDS = 10


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    try:
        admin = KafkaAdminClient(**kafka_settings.connection_settings(args, "kit-create-topic"))
    except KafkaError as error:
        return helpers.fail(error, args)
    try:
        print(f"Connected to Kafka at {args.bootstrap_server}")
        admin.create_topics({args.topic: {"num_partitions": args.partitions,
                                          "replication_factor": args.replication_factor}})
        partitions = wait_for_leaders(admin, args.topic)
        if partitions is None:
            return helpers.fail(f"topic '{args.topic}' was created but its partitions have no leader after "
                                f"{LEADER_WAIT_SECONDS} s; check the broker logs", args)
        print(f"Created topic '{args.topic}' with {args.partitions} partition(s), "
              f"replication factor {args.replication_factor}.")
    except TopicAlreadyExistsError:
        partitions = describe(admin, args.topic) or []
        print(f"Topic '{args.topic}' already exists with {len(partitions)} partition(s); nothing to do.")
        if partitions and len(partitions) != args.partitions:
            print(f"  (You asked for {args.partitions}. A topic's partition count is not changed here: "
                  f"delete the topic or use a new name.)")
    except InvalidReplicationFactorError:
        return helpers.fail(f"replication factor {args.replication_factor} is larger than the number of brokers "
                            f"in the cluster; use --replication-factor 1 on a single broker", args)
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        admin.close()
    for p in partitions:
        print(f"  partition {p['partition_index']:<3} leader broker {p['leader_id']:<3} "
              f"replicas {p['replica_nodes']}  in-sync {p['isr_nodes']}")
    return 0


def describe(admin, topic):
    """The topic's partitions, sorted, or None: describe_topics() reports an unknown topic as an error code."""
    for info in admin.describe_topics([topic]):
        if info["name"] == topic and info["error_code"] == 0:
            return sorted(info["partitions"], key=lambda p: p["partition_index"])
    return None


def wait_for_leaders(admin, topic):
    deadline = time.monotonic() + LEADER_WAIT_SECONDS
    while time.monotonic() < deadline:
        partitions = describe(admin, topic)
        if partitions and all(p["leader_id"] >= 0 for p in partitions):
            return partitions
        time.sleep(0.2)
    return None


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Create a Kafka topic (safe to run again).")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--partitions", type=helpers.positive_int, default=1,
                        help="number of partitions (default %(default)s)")
    parser.add_argument("--replication-factor", type=helpers.positive_int, default=1,
                        help="copies of each partition, on different brokers (default %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    helpers.run(main)
