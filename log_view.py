"""See the log: a live page in your browser that draws a topic's partitions, offsets, groups and lag.

    python log_view.py                              # topic 'Users' and every group that reads it
    python log_view.py --topic Users3 --port 8088   # then open http://127.0.0.1:8088/

Each partition is a row of its last records, numbered by offset. For each consumer group that has
committed on the topic or is reading it now: where it is (its committed offset), its lag, its members.

It reads the log like a consumer that joins no group: it assigns itself every partition, seeks near
the end and keeps the last --records of each. It never commits, never moves a group's offsets and never
creates a topic. The groups come from the admin client, at most twice a second.
"""

import threading
import time

import helpers
from helpers import log_view_web

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError, UnsupportedVersionError

import kafka_settings

READER_CONFIG = {
    "group_id": None,  # no group: this reader commits nothing and takes no partition from anyone
    "enable_auto_commit": False,
    "allow_auto_create_topics": False,  # a mistyped --topic stays unknown, even on a broker that auto-creates
    "fetch_max_bytes": 4 * 1024 * 1024,  # memory stays flat however large the topic is
    "max_partition_fetch_bytes": 1024 * 1024,
}
ADMIN_CONFIG = {
    "request_timeout_ms": 3000,  # a broker that went away shows on the page within seconds
}
GROUPS_EVERY_SECONDS = 0.5  # how often the groups' offsets and members are asked for, at most
DEFAULT_PORT = 8088
UNKNOWN_TOPIC = 3  # the broker's error code for UNKNOWN_TOPIC_OR_PARTITION


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    try:
        server = log_view_web.PageServer(args.host, args.port)  # first: a port in use fails at once
    except OSError as error:
        return helpers.fail(f"cannot serve the page on {args.host}:{args.port}: {error.strerror or error}"
                            f"; pick another port with --port", args)
    try:
        settings = kafka_settings.connection_settings(args, "kit-log-view")
        admin = KafkaAdminClient(**settings, **ADMIN_CONFIG)
        partitions = topic_partitions(admin, args.topic)
        if not partitions:
            return helpers.topic_missing(args)
        # Two readers of the same partitions: one sees every record, the other only what read_committed
        # consumers see. A record the first has and the second skipped belongs to an aborted transaction.
        everything = KafkaConsumer(**settings, **READER_CONFIG, isolation_level="read_uncommitted")
        committed_only = KafkaConsumer(**settings, **READER_CONFIG, isolation_level="read_committed")
    except KafkaError as error:
        return helpers.fail(error, args)
    log = log_view_web.TopicLog(args.topic, args.bootstrap_server, [tp.partition for tp in partitions], args.records)
    try:
        start_near_the_end(everything, committed_only, partitions, log)
        server.serve(log)
        print(f"Showing topic '{args.topic}' at {args.bootstrap_server}: the last {args.records} records of each "
              f"of its {len(partitions)} partition(s), and every group that reads it.")
        print(f"Open {server.address} in your browser (Ctrl-C to stop).", flush=True)
        return follow(everything, committed_only, admin, log, args)
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        server.stop()
        for client in (everything, committed_only, admin):
            client.close()


def topic_partitions(admin, topic):
    """The topic's partitions, or [] when it does not exist (the admin's metadata request never creates one)."""
    deadline = time.monotonic() + 3
    while True:
        info = next((t for t in admin.describe_topics([topic]) if t["name"] == topic), {"error_code": UNKNOWN_TOPIC})
        if info["error_code"] == 0:
            return sorted((TopicPartition(topic, p["partition_index"]) for p in info["partitions"]),
                          key=lambda tp: tp.partition)
        if info["error_code"] == UNKNOWN_TOPIC or time.monotonic() > deadline:
            return []
        time.sleep(0.2)  # a topic created a moment ago may have no leader yet


def start_near_the_end(everything, committed_only, partitions, log):
    """assign() instead of subscribe(): no group, no rebalance. Then seek to the last `log.keep` offsets."""
    everything.assign(partitions)
    committed_only.assign(partitions)
    oldest, ends = everything.beginning_offsets(partitions), everything.end_offsets(partitions)
    starts = {}
    for tp in partitions:
        # A row shows the last offsets, even those whose records are deleted already (retention, delete_records):
        # they are before the log start offset, and the page draws them as deleted. The reader starts after them.
        starts[tp.partition] = max(0, ends[tp] - log.keep)
        everything.seek(tp, max(oldest[tp], starts[tp.partition]))
        committed_only.seek(tp, max(oldest[tp], starts[tp.partition]))
    log.set_starts(starts)
    log.set_ends({tp.partition: ends[tp] for tp in partitions}, {tp.partition: oldest[tp] for tp in partitions})


def follow(everything, committed_only, admin, log, args):
    """Read new records as they come until Ctrl-C. The groups are read in a thread of their own, so a slow
    admin request (a broker gone away) never holds up the records."""
    stopping = threading.Event()
    groups = threading.Thread(target=watch_groups, args=(admin, log, args, stopping), daemon=True)
    groups.start()
    try:
        while True:
            for tp, records in everything.poll(timeout_ms=100).items():
                log.add_records(tp.partition, records)
            for tp, records in committed_only.poll(timeout_ms=0).items():
                log.add_committed(tp.partition, [record.offset for record in records])
            log.set_positions({tp.partition: (everything.position(tp), committed_only.position(tp))
                               for tp in everything.assignment()})
            log.publish()
    finally:
        stopping.set()
        groups.join(timeout=ADMIN_CONFIG["request_timeout_ms"] / 1000 + 1)


def watch_groups(admin, log, args, stopping):
    while not stopping.is_set():
        started = time.monotonic()
        try:
            read_groups(admin, log, args)
            log.publish()  # now, rather than after the records thread's next poll
        except Exception:
            if stopping.is_set():  # the admin client is closing under us: Ctrl-C
                return
            raise
        stopping.wait(max(0.0, GROUPS_EVERY_SECONDS - (time.monotonic() - started)))


def read_groups(admin, log, args):
    """Leaders, log ends, and each group's committed offsets and members, in five admin requests."""
    try:
        leaders = {p["partition_index"]: p["leader_id"] for info in admin.describe_topics([args.topic])
                   for p in info["partitions"] if info["name"] == args.topic}
        partitions = [TopicPartition(args.topic, p) for p in log.partitions]
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        oldest = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in partitions})
        group_ids = sorted(g["group_id"] for g in admin.list_groups() if g.get("protocol_type") in ("consumer", ""))
        described = admin.describe_groups(group_ids) if group_ids else {}
        committed = committed_offsets(admin, group_ids, partitions)
    except KafkaError as error:
        if getattr(error, "errno", None) is None:  # no answer at all, rather than an error code from the broker
            log.set_broker_reachable(False)
        return
    log.set_broker_reachable(True)
    log.set_leaders(leaders)
    log.set_ends({tp.partition: ends[tp].offset for tp in partitions},
                 {tp.partition: oldest[tp].offset for tp in partitions})
    log.set_groups(groups_on_topic(args.topic, described, committed))


def committed_offsets(admin, group_ids, partitions):
    """{group: {partition: committed offset}}; one request for all groups where the broker allows it."""
    if not group_ids:
        return {}
    try:
        found = admin.list_group_offsets({group: partitions for group in group_ids})
    except UnsupportedVersionError:  # brokers before Kafka 3.0 answer one group per request
        found = {}
        for group in group_ids:
            found.update(admin.list_group_offsets({group: partitions}))
    return {group: {tp.partition: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0}
            for group, offsets in found.items()}


def groups_on_topic(topic, described, committed):
    """The groups that have committed on the topic or have a member reading it, with their members."""
    groups = {}
    for group_id, info in described.items():
        members = []
        for member in info.get("members", []):
            assignment = member.get("member_assignment") or {}
            held = sorted(p for a in assignment.get("assigned_partitions", []) if a["topic"] == topic
                          for p in a["partitions"])
            subscribed = topic in ((member.get("member_metadata") or {}).get("topics") or [])
            if held or subscribed:
                members.append({"id": member["member_id"], "client": member["client_id"],
                                "host": member["client_host"], "partitions": held})
        offsets = committed.get(group_id, {})
        if members or offsets:
            groups[group_id] = {"state": info.get("group_state", ""), "members": members, "committed": offsets}
    return groups


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Serve a live page that draws a topic's log, groups and lag.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--port", type=helpers.port_number, default=DEFAULT_PORT,
                        help="the page's port on this machine (default %(default)s; 0 picks a free one)")
    parser.add_argument("--host", default=None,
                        help="the address to serve on (default 127.0.0.1: only this machine can open the page)")
    parser.add_argument("--records", type=helpers.positive_int, default=50, metavar="N",
                        help="how many of the newest records of each partition to keep and draw (default %(default)s)")
    args = parser.parse_args(argv)
    if args.host is None:
        args.host = "127.0.0.1"
    elif args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Warning: --host {args.host} lets other machines open the page and read every record of the "
              f"topic; the page has no login.", flush=True)
    return args


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c="Stopped by Ctrl-C: log_view.py committed nothing and moved no group's offsets.",
                ctrl_c_status=0)
