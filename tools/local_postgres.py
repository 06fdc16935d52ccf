#!/usr/bin/env python3
"""Run a private PostgreSQL server without installing PostgreSQL, and without Docker.

    python tools/local_postgres.py start [--port 5432] [--dir D] [--logical]
    python tools/local_postgres.py status
    python tools/local_postgres.py stop [--clean]      # --clean also deletes the data

`start` prints the connection URL (user kit, database postgres, 127.0.0.1 only,
no password: nothing else on the network can reach it). --logical sets
wal_level=logical, which Kafka Connect's CDC connectors (Debezium) need.

The binaries: a PostgreSQL server installed on this machine when there is one
(pg_ctl on PATH, /usr/lib/postgresql/*/bin, Homebrew's), otherwise PostgreSQL 17
for this platform from Maven Central (io.zonky.test.postgres), downloaded once with
tools/pinned_jars.py's verified download (pinned in tools/jars.lock) and unpacked
into its cache. LOCAL_POSTGRES_BINARIES=maven uses those even where a machine
PostgreSQL exists; LOCAL_POSTGRES_BINARIES=machine never downloads.

PostgreSQL refuses to run as root: as root, the server runs as the 'postgres'
account (or 'nobody'), which then owns the state directory.
Only the Python standard library is used. The test suite imports this module.

This file is the command line. tools/postgres_binaries.py finds or fetches the binaries,
tools/postgres_server.py runs the server; like tools/local_kafka.py, they build on
tools/pinned_jars.py (downloads) and tools/stack_processes.py (ports and processes).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The parts: where the binaries come from, and the server. Everything the tests use stays importable from here.
from postgres_binaries import (  # noqa: E402, F401
    EXE,
    MACHINE_BIN_GLOBS,
    PLATFORMS,
    POSTGRES_SET,
    Binaries,
    check_reachable,
    find_binaries,
    has_server,
    machine_bin_dir,
    maven_bin_dir,
    platform_name,
    server_account,
    server_version,
    unpack_server,
)
from postgres_server import (  # noqa: E402, F401
    DATABASE,
    DEFAULT_PORT,
    DEFAULT_STATE_DIR,
    MARKER,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    USER,
    LocalPostgres,
    kill_stray_servers,
    server_env,
    stop_server,
    stray_servers,
)
from stack_common import StackError, shown_path  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Run a private PostgreSQL server without installing it.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=os.environ.get("LOCAL_POSTGRES_DIR", str(shown_path(DEFAULT_STATE_DIR))),
                        help="state directory for data, log and settings (env LOCAL_POSTGRES_DIR, "
                             "default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", parents=[common], help="start the server in the background and print its URL")
    start.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_POSTGRES_PORT", DEFAULT_PORT)),
                       help="port on 127.0.0.1 (env LOCAL_POSTGRES_PORT, default: %(default)s)")
    start.add_argument("--logical", action="store_true",
                       help="wal_level=logical, for change data capture (Debezium)")
    stop = sub.add_parser("stop", parents=[common], help="stop the server; data is kept")
    stop.add_argument("--clean", action="store_true", help="also delete the data and the log")
    sub.add_parser("status", parents=[common], help="say whether it runs, where, and which version")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.command == "status":
            server = LocalPostgres(args.dir)
            print("\n".join(server.status_lines()))
            return 0 if server.is_running() else 3
        if args.command == "stop":
            server = LocalPostgres(args.dir)
            running = server.is_running()
            server.stop(clean=args.clean)
            what = "Stopped PostgreSQL" if running else "Nothing was running"
            print(f"{what}. Data {'deleted' if args.clean else 'kept'} in {shown_path(server.state_dir)}")
            return 0
        server = LocalPostgres(args.dir, port=args.port, logical=args.logical)
        if server.is_running():
            print(f"Already running: {server.url} (nothing to do; 'stop' first to change its settings)")
            return 0
        started = time.monotonic()
        server.start(quiet=False)
        print(f"Started {server.binaries.describe()} in {time.monotonic() - started:.1f}s, "
              f"wal_level {'logical' if server.logical else 'replica'}, log {shown_path(server.log_file)}")
        print(f"PostgreSQL is ready at {server.url}")
        return 0
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
