#!/usr/bin/env python3
"""Run a real Apache Kafka 3.9.2 broker and its ZooKeeper without Docker.

The servers run as plain `java` processes in the background, each with its own
data dir, log file and pid file under the state directory (default: .local-kafka/
at the repo root).

    python tools/local_kafka.py fetch            # download the jars (once)
    python tools/local_kafka.py fetch --debezium # the Debezium PostgreSQL connector, for Kafka Connect
    python tools/local_kafka.py start            # ZooKeeper on 2181, Kafka on 9092
    python tools/local_kafka.py start --kraft    # or: Kafka 4.x on 9092 in KRaft mode, no ZooKeeper
    python tools/local_kafka.py start --brokers 3 # or: three brokers on 9092, 9093 and 9094
    python tools/local_kafka.py stop --broker 1  # stop one of them; `start` brings it back
    python tools/local_kafka.py status
    python tools/local_kafka.py stop [--clean]   # --clean also deletes the data

The jars come from Maven Central over HTTPS, each checked against its size and
sha256 in tools/jars.lock, into tools/.kafka-jars/ (env LOCAL_KAFKA_CACHE moves it;
LOCAL_KAFKA_MAVEN_REPO names a mirror instead of https://repo1.maven.org/maven2;
HTTPS_PROXY and NO_PROXY are honoured). Only the Python standard library is used,
so a learner needs nothing but Java 17+. The test suite imports this module to run
its own stacks.

This file is the command line. The parts it is made of, each with one job:
tools/pinned_jars.py (the verified downloads and tools/jars.lock), tools/stack_processes.py
(ports, pid files, strays), tools/kafka_config.py (server.properties, java command),
tools/zookeeper_stack.py and tools/kraft_stack.py (the two stacks), tools/jar_lock_writer.py
(for maintainers: `python tools/local_kafka.py lock` rewrites tools/jars.lock from the poms
with Maven; only that command needs Maven).
"""

import argparse
import os
import sys

# The parts, each with one job. Everything the tests and tools/bench.py use stays importable from here.
from jar_lock_writer import DEPENDENCY_LINE, LOCK_HEADER, resolved_jars, write_lock  # noqa: F401
from kafka_config import (  # noqa: F401
    BROKER_HEAP,
    KAFKA_MAIN,
    KAFKA_VERSION,
    KRAFT_VERSION,
    LOG4J2_PROPERTIES,
    LOG4J_PROPERTIES,
    STORAGE_TOOL_MAIN,
    ZOOKEEPER_HEAP,
    ZOOKEEPER_MAIN,
    broker_properties,
    classpath,
    java_command,
    jvm_performance_options,
    kraft_properties,
    write_properties,
)
from kraft_stack import KRAFT_JARS_DIR, LocalKafkaKRaft, open_stack  # noqa: F401
from pinned_jars import (  # noqa: F401
    CACHE_DIR,
    CHUNK_BYTES,
    DEBEZIUM_PLUGIN_PATH,
    DEBEZIUM_SET,
    DEFAULT_MAVEN_REPO,
    DOWNLOAD_TIMEOUT_S,
    JAR_SETS,
    JARS_DIR,
    KAFKA_SET,
    KRAFT_SET,
    LOCK_FILE,
    NETWORK_HINT,
    LockedJar,
    Progress,
    count,
    describe_failure,
    download,
    fetch_jars,
    jar_is_complete,
    jars_present,
    locked_jars,
    maven_repo,
    megabytes,
    proxy_for,
    set_dir,
    without_credentials,
)
from stack_common import REPO_DIR, TOOLS_DIR, StackError, log_tail, shown_path  # noqa: F401
from stack_processes import (  # noqa: F401
    _PRCTL,
    JAVA_OWNER_FLAG,
    MARKER_PROPERTY,
    OWNER_PROPERTY,
    STOP_TIMEOUT_S,
    _die_with_parent,
    _load_prctl,
    check_ports_free,
    free_port,
    free_port_block,
    kill_stray_processes,
    orphans,
    pid_alive,
    port_is_free,
    port_is_open,
    process_cmdline,
    read_pid,
    terminate,
    who_listens_on,
)
from zookeeper_stack import DEFAULT_STATE_DIR, START_TIMEOUT_S, LocalKafka  # noqa: F401


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Run a real Apache Kafka + ZooKeeper without Docker.")
    parser.add_argument("--dir", default=os.environ.get("LOCAL_KAFKA_DIR", str(DEFAULT_STATE_DIR)),
                        help="state directory for data, logs and pid files (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download the Kafka jars from Maven Central (only the missing ones)")
    which = fetch.add_mutually_exclusive_group()
    which.add_argument("--kraft", action="store_true", help=f"the Kafka {KRAFT_VERSION} jars for --kraft")
    which.add_argument("--debezium", action="store_true",
                       help="the Debezium PostgreSQL connector, a Kafka Connect plugin (docs/connect-cdc.md)")
    start = sub.add_parser("start", help="start ZooKeeper and Kafka in the background")
    start.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_KAFKA_PORT", 9092)),
                       help="first broker's port (env LOCAL_KAFKA_PORT, default: %(default)s)")
    start.add_argument("--zk-port", type=int, default=int(os.environ.get("LOCAL_KAFKA_ZK_PORT", 2181)),
                       help="ZooKeeper's port (env LOCAL_KAFKA_ZK_PORT, default: %(default)s)")
    start.add_argument("--brokers", type=int, default=1, choices=[1, 2, 3],
                       help="number of brokers, on consecutive ports (default: %(default)s)")
    start.add_argument("--sasl-port", type=int,
                       help="also open a SASL_PLAINTEXT listener (SASL/PLAIN) on this port")
    start.add_argument("--sasl-user", action="append", default=[], metavar="NAME:PASSWORD",
                       help="a SASL/PLAIN user for that listener (repeatable)")
    start.add_argument("--kraft", action="store_true",
                       help=f"Kafka {KRAFT_VERSION} in KRaft mode instead: one node, no ZooKeeper; its controller "
                            f"takes the port after --port")
    stop = sub.add_parser("stop", help="stop gracefully; data is kept")
    stop.add_argument("--clean", action="store_true", help="also delete all data and logs")
    stop.add_argument("--broker", type=int, metavar="ID",
                      help="stop only this broker (0, 1, 2); the rest keep running. 'start' brings it back")
    sub.add_parser("status", help="say what runs where")
    sub.add_parser("lock", help="for maintainers: rewrite tools/jars.lock from the poms (needs Maven)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.command == "fetch":
            if args.kraft:
                print(f"Kafka {KRAFT_VERSION} jars in {shown_path(fetch_jars(KRAFT_SET))}")
                return 0
            if args.debezium:
                fetch_jars(DEBEZIUM_SET)
                print(f"Debezium plugin in {shown_path(DEBEZIUM_PLUGIN_PATH)} (Kafka Connect's plugin.path)")
                return 0
            print(f"Kafka {KAFKA_VERSION} jars in {shown_path(fetch_jars())}")
            return 0
        if args.command == "lock":
            counts = write_lock()
            print(f"Wrote {shown_path(LOCK_FILE)}: " + ", ".join(f"{n} files of {s}" for s, n in counts.items()))
            return 0
        if args.command == "status":
            stack = open_stack(args.dir)
            print("\n".join(stack.status_lines()))
            return 0 if stack.is_running() else 3
        if args.command == "stop" and args.broker is not None:
            stack = open_stack(args.dir)
            if args.clean:
                print("error: --clean deletes a whole stack's data; use it without --broker", file=sys.stderr)
                return 2
            if not 0 <= args.broker < stack.brokers or stack.broker_pid(args.broker) is None:
                print(f"error: broker {args.broker} is not running in {shown_path(stack.state_dir)}; "
                      f"see 'python tools/local_kafka.py status'", file=sys.stderr)
                return 2
            stack.stop_broker(args.broker)
            print(f"Stopped Kafka broker {args.broker} (localhost:{stack.broker_port(args.broker)}). "
                  f"The others keep running; 'start' brings it back.")
            return 0
        if args.command == "stop":
            stack = open_stack(args.dir)
            running = stack.is_running()
            stack.stop(clean=args.clean)
            what = "Stopped" if running else "Nothing was running"
            print(f"{what}. Data {'deleted' if args.clean else 'kept'} in {shown_path(stack.state_dir)}")
            return 0
        users = {}
        for entry in args.sasl_user:
            name, sep, password = entry.partition(":")
            if not sep or not name:
                print(f"error: --sasl-user needs NAME:PASSWORD, got {name!r}", file=sys.stderr)
                return 2
            users[name] = password
        running = open_stack(args.dir)
        if running.is_running() and running.mode != ("kraft" if args.kraft else "zookeeper"):
            print(f"error: a {running.mode}-mode stack is running in {shown_path(running.state_dir)}; "
                  f"stop it first ('python tools/local_kafka.py stop')", file=sys.stderr)
            return 1
        kind = LocalKafkaKRaft if args.kraft else LocalKafka
        stack = kind(args.dir, zk_port=args.zk_port, port=args.port, brokers=args.brokers,
                     sasl_port=args.sasl_port, sasl_users=users)
        if not stack.start():
            print(f"Already running: Kafka at {stack.bootstrap} (nothing to do).")
            return 0
        print("\n".join(stack.status_lines()))
        print(f"Kafka {stack.version} is ready at {stack.bootstrap}")
        return 0
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
