"""kafka-python 3.0.12 bugs the kit works around, each with its reason."""

import socket
import threading
import time

from kafka import ConsumerRebalanceListener
from kafka.errors import KafkaError

# How long close() may take to drop records after the forced close below.
FORCED_CLOSE_SECONDS = 5
# How long the check of several bootstrap servers waits for them (a refusal is immediate on Linux and macOS).
BOOTSTRAP_CHECK_SECONDS = 0.5


def servers_to_bootstrap_from(servers):
    """The host:port servers worth bootstrapping from: those that refuse connections are left out, unless all do.

    kafka-python 3.0.12 picks a bootstrap server at random. When it picks one that refused a moment ago, it
    waits out that server's back-off (which it raises twice per failure) before it draws again. With two of
    three servers stopped, about 1 client in 100 ran out its 3.5 s bootstrap timeout that way, and the script
    said it could not reach Kafka while a broker was up. A refused connection means that nothing listens there
    now; any other outcome (accepted, slow, name not found) keeps the server in the list. A single server is
    not checked. The list is only for bootstrapping: a client that is up learns every broker from Kafka, and
    a script that builds a client later asks for its settings again.
    """
    listed = [server.strip() for server in servers.split(",")]
    if len(listed) < 2:
        return listed
    refused = set()

    def check(server):
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=BOOTSTRAP_CHECK_SECONDS).close()
        except ConnectionRefusedError:
            refused.add(server)
        except (OSError, ValueError):
            pass

    checks = [threading.Thread(target=check, args=(server,), daemon=True) for server in listed]
    for thread in checks:
        thread.start()
    deadline = time.monotonic() + BOOTSTRAP_CHECK_SECONDS
    for thread in checks:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [server for server in listed if server not in refused] or listed


def close_producer(producer):
    """Close a producer whose outcome was already reported, dropping whatever is still queued.

    kafka-python 3.0.12's idempotent producer raises from close() instead of dropping records the broker
    never acknowledged, and without a timeout it can wait forever for a broker that stays down. The
    fallback reaches into its private sender thread: there is no public way to abandon those records.
    If even that thread does not answer (it can hang, see helpers.ctrl_c_waits), the records are left
    behind: the caller reports them as not acknowledged, and the process ends anyway.
    """
    try:
        producer.close(timeout=0)
    except KafkaError:
        producer._sender.force_close()
        try:
            producer.close(timeout=FORCED_CLOSE_SECONDS)
        except KafkaError:
            producer._closed = True  # else its __del__ tries again at exit, and prints a traceback


def rejoin_group(consumer):
    """Make the consumer rejoin its group in its next poll().

    kafka-python 3.0.12 has no enforce_rebalance() (Java's KafkaConsumer has, KIP-568). When the broker refuses
    the offsets of a transaction because this member is unknown or of an old generation (CommitFailedError), the
    consumer does not know it yet: it keeps fetching, and every batch fails the same way, until a heartbeat tells
    it. This asks it to rejoin at once, through the coordinator's private flag.
    """
    consumer._coordinator.request_rejoin()


def subscribe(consumer, topic, listener):
    """consumer.subscribe(), then fetch the topic's partitions before the first poll() joins the group.

    kafka-python 3.0.12 asks for a newly subscribed topic's metadata only once its retry back-off (100 ms
    after the consumer's last metadata request) has passed, and on a quiet broker the first poll() can join
    the group sooner. The group's leader then assigns from metadata without the topic: every member gets no
    partition, and the group rebalances again a moment later, once the metadata is in. consumer.py and
    store_users.py call partitions_for_topic() right after subscribe() too, to tell a missing topic.
    Returns the topic's partitions (an empty set: no such topic).
    """
    consumer.subscribe([topic], listener=listener)
    return consumer.partitions_for_topic(topic)


KAFKA_AWAY = "Kafka is not answering (a broker restarting?): "
CONSUMER_WAITS = "the consumer waits for it, and commits what it has shown once it is back"


def wait_for_kafka(error, already_said, what_happens=CONSUMER_WAITS):
    """After a retriable error from poll() or commit() (or watch_lag.py's admin requests): say once that Kafka
    is away and what the script does meanwhile, pause, and return True.

    kafka-python 3.0.12 raises a broker's short absence (KafkaConnectionError while it looks for the group
    coordinator) out of poll() and commit() instead of retrying, as it does in most other places. The error is
    retriable, so the consumer carries on: the next poll() reconnects, and the commit is made again then.
    Any other error is raised again: it will not go away by waiting.
    """
    if not error.retriable:
        raise error
    if not already_said:
        print(KAFKA_AWAY + what_happens, flush=True)
    time.sleep(0.5)  # the failing call may return at once: no busy loop while the broker is down
    return True


class AssignmentNews(ConsumerRebalanceListener):
    """Collects which partitions a consumer got or lost, for the main loop to print.

    kafka-python 3 calls a rebalance listener on its network thread: printing or blocking there stalls
    the group (and a Ctrl-C landing there is lost), so the listener only notes the news. The replay for
    --from-beginning must happen here, before the first fetch of a newly assigned partition.
    """

    def __init__(self, consumer, group, topic, from_beginning=False):
        self.consumer, self.group, self.topic = consumer, group, topic
        self.from_beginning = from_beginning
        self.replayed = set()
        self.lines = []

    def on_partitions_revoked(self, revoked):
        if revoked:
            self.lines.append(f"Group '{self.group}': rebalancing, partitions "
                              f"{sorted(tp.partition for tp in revoked)} revoked")

    def on_partitions_assigned(self, assigned):
        if not assigned:
            self.lines.append(f"Group '{self.group}': no partition assigned to this consumer (the group has more "
                              f"members than the topic has partitions); it waits as a standby")
            return
        self.lines.append(f"Group '{self.group}': assigned partitions {sorted(tp.partition for tp in assigned)} "
                          f"of topic '{self.topic}'")
        replay = [tp for tp in assigned if tp not in self.replayed]
        if self.from_beginning and replay:
            self.consumer.seek_to_beginning(*replay)
            self.replayed.update(replay)

    def print_news(self):
        """Print what happened to our partitions; True if anything did."""
        had_news = bool(self.lines)
        while self.lines:
            print(self.lines.pop(0), flush=True)
        return had_news
