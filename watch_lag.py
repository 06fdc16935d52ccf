"""Show how far a consumer group is behind on a topic: its lag, partition by partition.

    python watch_lag.py                          # group 'users-demo' on topic 'Users', once
    python watch_lag.py --group another-group
    python watch_lag.py --every 2                # refreshed in place every 2 s, like `top` (Ctrl-C to stop)

For each partition: the end offset (where the next record written will go),
the group's committed offset (where it will continue reading) and the lag, the
difference: records already written that the group has not processed yet. A partition
where the group has committed nothing counts in full, from its oldest offset.
Also the group's members and the partitions each one is assigned.
"""

import signal
import sys
import time

import helpers

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    KafkaError,
    UnknownTopicOrPartitionError,
    for_code,
)

import kafka_settings

DEFAULT_GROUP = "users-demo"
CLEAR_SCREEN = "\033[H\033[2J"  # move the cursor home and clear the terminal, as `top` does
SHOW_GROUPS = 10
WATCHING_WAITS = "watch_lag.py keeps asking, and shows the group again once it is back"
METADATA_WAIT_SECONDS = 30


def parse_args(argv):
    parser = helpers.ArgumentParser(description="Show a consumer group's lag on a topic.")
    kafka_settings.add_connection_arguments(parser)
    parser.add_argument("--group", default=DEFAULT_GROUP, help="consumer group id (default %(default)s)")
    parser.add_argument("--every", type=helpers.positive_int, metavar="SECONDS",
                        help="refresh every SECONDS until Ctrl-C (default: show once and exit)")
    return parser.parse_args(argv)


class UnknownError(Exception):
    """The group or the topic does not exist: one line for the learner."""


def topic_partitions(admin, args):
    for info in admin.describe_topics([args.topic]):
        if info["name"] == args.topic and info["error_code"] == 0:
            return [TopicPartition(args.topic, p["partition_index"]) for p in info["partitions"]]
        if info["name"] == args.topic and info["error_code"] != UnknownTopicOrPartitionError.errno:
            raise for_code(info["error_code"])()  # e.g. LEADER_NOT_AVAILABLE while a broker restarts
    raise UnknownError(f"topic '{args.topic}' does not exist at {args.bootstrap_server}")


def snapshot(admin, args, wait_seconds=15):
    """The snapshot below. A broker that has never held a group first creates its offsets topic, and answers
    COORDINATOR_NOT_AVAILABLE (or LOAD_IN_PROGRESS) to group requests meanwhile: wait for it, briefly."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return read_snapshot(admin, args)
        except (CoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def read_snapshot(admin, args):
    """Everything one screen shows, read from the broker in three requests."""
    partitions = sorted(topic_partitions(admin, args), key=lambda tp: tp.partition)
    group = admin.describe_groups([args.group])[args.group]
    committed = admin.list_group_offsets({args.group: partitions}).get(args.group, {})
    committed = {tp: meta.offset for tp, meta in committed.items() if meta is not None and meta.offset >= 0}
    # A group the broker has never heard of is reported as 'Dead', with no members and no offsets.
    if group["group_state"] == "Dead" and not committed:
        known = sorted(g["group_id"] for g in admin.list_groups())
        shown = ", ".join(known[:SHOW_GROUPS]) + (f" and {len(known) - SHOW_GROUPS} more" if len(known) > SHOW_GROUPS
                                                   else "")
        raise UnknownError(f"group '{args.group}' is unknown at {args.bootstrap_server}: no consumer has joined it "
                           f"or committed an offset; known groups: {shown or 'none'}")
    ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
    # Where the group would start on a partition it never committed: the oldest offset still in the log,
    # as the kit's consumers start there (auto_offset_reset="earliest").
    uncommitted = [tp for tp in partitions if tp not in committed]
    oldest = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in uncommitted}) if uncommitted else {}
    return (partitions, group, committed, {tp: ends[tp].offset for tp in partitions},
            {tp: oldest[tp].offset for tp in uncommitted})


def render(args, partitions, group, committed, ends, oldest):
    members = group["members"]
    lines = [f"Group '{args.group}' on topic '{args.topic}' at {args.bootstrap_server}: {group['group_state']}, "
             f"{len(members)} member(s)   ({time.strftime('%H:%M:%S')})",
             f"  {'partition':<10} {'end offset':>12} {'committed':>12} {'lag':>12}"]
    total_lag = 0
    for tp in partitions:
        end = ends[tp]
        if tp in committed:
            lag = end - committed[tp]  # written but not yet processed by this group
            total_lag += lag
            lines.append(f"  {tp.partition:<10} {end:>12,} {committed[tp]:>12,} {lag:>12,}")
        else:
            lag = end - oldest[tp]  # the group has not read this partition at all: all of it is still to read
            total_lag += lag
            lines.append(f"  {tp.partition:<10} {end:>12,} {'-':>12} {lag:>12,}   "
                         f"(nothing committed: counted from the oldest offset, {oldest[tp]:,})")
    in_full = f"   ({len(oldest)} partition{'s' if len(oldest) > 1 else ''} with nothing committed counted in full)"
    lines.append(f"  {'total':<10} {sum(ends.values()):>12,} {sum(committed.values()):>12,} {total_lag:>12,}"
                 + (in_full if oldest else ""))
    if not members:
        lines.append(f"Members: none; no consumer of group '{args.group}' is running, so the lag can only grow.")
    else:
        lines.append("Members:")
    for member in sorted(members, key=lambda m: m["member_id"]):
        assignment = member.get("member_assignment") or {}
        owned = [f"{a['topic']} {sorted(a['partitions'])}" for a in assignment.get("assigned_partitions", [])]
        lines.append(f"  {member['member_id']:<52} client {member['client_id']:<14} host {member['client_host']:<12} "
                     f"partitions {', '.join(owned) or 'none'}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    helpers.configure_logging(args.verbose)
    # `kill` sends SIGTERM: stop as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        admin = KafkaAdminClient(**kafka_settings.connection_settings(args, "kit-watch-lag"))
    except helpers.UsageError as error:
        helpers.print_error(f"error: {error}")
        return 2
    except KafkaError as error:
        return helpers.fail(error, args)
    kafka_away, back_at = False, None
    try:
        while True:
            try:
                screen = render(args, *snapshot(admin, args))
                kafka_away, back_at = False, None
            except UnknownError:
                # A broker that has just restarted says "unknown topic" until the controller has sent it the
                # cluster's metadata: after Kafka was away, give it a moment before believing that.
                back_at = back_at or time.monotonic()
                if not kafka_away or time.monotonic() - back_at > METADATA_WAIT_SECONDS:
                    raise
                time.sleep(args.every)
                continue
            except KafkaError as error:
                if not args.every:  # one snapshot asked for: say what went wrong (below)
                    raise
                kafka_away = helpers.wait_for_kafka(error, kafka_away, WATCHING_WAITS)  # a broker restarting
                time.sleep(args.every)
                continue
            if args.every and sys.stdout.isatty():
                print(CLEAR_SCREEN + screen + f"\n(every {args.every} s; Ctrl-C to stop)", flush=True)
            else:
                print(screen, flush=True)
            if not args.every:
                return 0
            time.sleep(args.every)
            if not sys.stdout.isatty():
                print(flush=True)  # a blank line between snapshots when the output is a file or a pipe
    except KeyboardInterrupt:
        return 0
    except UnknownError as error:
        helpers.print_error(f"error: {error}")
        return 1
    except KafkaError as error:
        return helpers.fail(error, args)
    finally:
        admin.close()


if __name__ == "__main__":
    helpers.run(main, on_ctrl_c=None, ctrl_c_status=0)
