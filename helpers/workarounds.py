"""kafka-python 3.0.12 bugs the kit works around, each with its reason."""

from kafka import ConsumerRebalanceListener
from kafka.errors import KafkaError

# How long close() may take to drop records after the forced close below.
FORCED_CLOSE_SECONDS = 5


def close_producer(producer):
    """Close a producer whose outcome was already reported, dropping whatever is still queued.

    kafka-python 3.0.12's idempotent producer raises from close() instead of dropping records the broker
    never acknowledged, and without a timeout it can wait forever for a broker that stays down. The
    fallback reaches into its private sender thread: there is no public way to abandon those records.
    """
    try:
        producer.close(timeout=0)
    except KafkaError:
        producer._sender.force_close()
        producer.close(timeout=FORCED_CLOSE_SECONDS)



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
