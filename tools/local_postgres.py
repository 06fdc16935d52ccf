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
tools/local_kafka.py's verified download (pinned in tools/jars.lock) and unpacked
into its cache. LOCAL_POSTGRES_BINARIES=maven uses those even where a machine
PostgreSQL exists; LOCAL_POSTGRES_BINARIES=machine never downloads.

PostgreSQL refuses to run as root: as root, the server runs as the 'postgres'
account (or 'nobody'), which then owns the state directory.
Only the Python standard library is used. The test suite imports this module.
"""

import argparse
import glob
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import local_kafka  # noqa: E402
from local_kafka import StackError, log_tail, pid_alive, shown_path  # noqa: E402

DEFAULT_STATE_DIR = local_kafka.REPO_DIR / ".local-postgres"
DEFAULT_PORT = 5432
USER = "kit"
DATABASE = "postgres"

POSTGRES_SET = "postgres-17.11.0"  # keep equal to tools/pom-postgres.xml
# platform.system(), platform.machine() -> the platform in the artifact's name on Maven Central
PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "amd64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64v8",
    ("Linux", "arm64"): "linux-arm64v8",
    ("Darwin", "x86_64"): "darwin-amd64",
    ("Darwin", "arm64"): "darwin-arm64v8",
    ("Windows", "AMD64"): "windows-amd64",
    ("Windows", "x86_64"): "windows-amd64",
}
# Where a machine's own PostgreSQL keeps its server binaries when they are not on PATH.
MACHINE_BIN_GLOBS = [
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # PostgreSQL's own RPMs
    "/opt/homebrew/opt/postgresql@*/bin",  # Homebrew on Apple silicon
    "/usr/local/opt/postgresql@*/bin",  # Homebrew on Intel
    "/opt/homebrew/bin",
    "/usr/local/bin",
]

# Marks the servers we start, with the pid of the process they belong to: cluster_name shows up
# in the postmaster's command line, so a later run can find what a killed test run left behind.
MARKER = "kafka-kit-postgres"

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
EXE = ".exe" if os.name == "nt" else ""


# --------------------------------------------------------------------------
# binaries


class Binaries:
    """A folder with initdb and postgres, where it came from, and the server's version."""

    def __init__(self, bin_dir, source):
        self.bin_dir = Path(bin_dir)
        self.source = source  # "machine" or "Maven Central"
        self.version = server_version(self.bin_dir)

    def tool(self, name):
        return str(self.bin_dir / (name + EXE))

    def describe(self):
        return f"PostgreSQL {self.version} ({self.source}: {shown_path(self.bin_dir)})"


def server_version(bin_dir):
    """'17.11' from 'postgres (PostgreSQL) 17.11' ('--version' is allowed even as root)."""
    try:
        out = subprocess.run([str(Path(bin_dir) / ("postgres" + EXE)), "--version"], capture_output=True,
                             text=True, timeout=30).stdout
    except OSError as error:
        raise StackError(f"cannot run {Path(bin_dir) / 'postgres'} ({error.strerror}); "
                         f"set LOCAL_POSTGRES_BINARIES=maven to use PostgreSQL from Maven Central") from None
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return match.group(1) if match else "?"


def has_server(bin_dir):
    return all((Path(bin_dir) / (name + EXE)).is_file() for name in ("initdb", "postgres"))


def machine_bin_dir():
    """The bin folder of a PostgreSQL server installed on this machine (newest first), or None."""
    on_path = shutil.which("pg_ctl")
    candidates = [str(Path(on_path).resolve().parent)] if on_path else []
    for pattern in MACHINE_BIN_GLOBS:
        # /usr/lib/postgresql/9.6 and /usr/lib/postgresql/15: newest by number, not by text
        candidates += sorted(glob.glob(pattern), key=lambda p: [int(n) for n in re.findall(r"\d+", p)],
                             reverse=True)
    for candidate in candidates:
        if has_server(candidate):
            return candidate
    return None


def platform_name():
    key = (platform.system(), platform.machine())
    if key not in PLATFORMS:
        raise StackError(f"Maven Central has no PostgreSQL binaries for {key[0]} on {key[1]}; "
                         f"install PostgreSQL with the system's package manager instead")
    return PLATFORMS[key]


def maven_bin_dir(quiet=False):
    """PostgreSQL for this platform from Maven Central: fetched and unpacked once into the jar cache."""
    name = platform_name()
    cache = local_kafka.set_dir(POSTGRES_SET)
    server_dir = cache / name
    if has_server(server_dir / "bin"):
        return server_dir / "bin"
    artifact = f"/embedded-postgres-binaries-{name}/"
    local_kafka.fetch_jars(POSTGRES_SET, quiet=quiet, wanted=lambda jar: artifact in jar.path)
    jar = next(jar for jar in local_kafka.locked_jars(POSTGRES_SET) if artifact in jar.path)
    unpack_server(cache / jar.name, server_dir)
    return server_dir / "bin"


def unpack_server(jar_file, server_dir):
    """The jar holds one .txz archive of the server (bin, lib, share): unpack it, then give it its name."""
    partial = server_dir.with_name(server_dir.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with zipfile.ZipFile(jar_file) as jar:
        archives = [entry for entry in jar.namelist() if entry.endswith(".txz")]
        if len(archives) != 1:
            raise StackError(f"{jar_file} holds no PostgreSQL archive (.txz); delete it and run again")
        with tarfile.open(fileobj=io.BytesIO(jar.read(archives[0])), mode="r:xz") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(partial, filter="data")
            else:  # Python before 3.9.17: refuse what would land outside the folder
                for member in archive.getmembers():
                    if member.name.startswith(("/", "\\")) or ".." in Path(member.name).parts:
                        raise StackError(f"{jar_file} holds an unsafe path: {member.name}")
                archive.extractall(partial)
    shutil.rmtree(server_dir, ignore_errors=True)
    os.replace(partial, server_dir)


def find_binaries(choice=None, quiet=False):
    """choice: 'machine', 'maven', or None for the environment's LOCAL_POSTGRES_BINARIES (default: either)."""
    choice = (choice or os.environ.get("LOCAL_POSTGRES_BINARIES") or "auto").lower()
    if choice not in ("auto", "machine", "maven"):
        raise StackError(f"LOCAL_POSTGRES_BINARIES={choice} is not one of: machine, maven (or unset)")
    if choice != "maven":
        found = machine_bin_dir()
        if found:
            return Binaries(found, "machine")
        if choice == "machine":
            raise StackError("no PostgreSQL server on this machine (no initdb/postgres found); install one, "
                             "or unset LOCAL_POSTGRES_BINARIES to download it from Maven Central")
    return Binaries(maven_bin_dir(quiet=quiet), "Maven Central")


# --------------------------------------------------------------------------
# root: PostgreSQL will not run as root


def server_account():
    """None when we are not root; else (name, uid, gid) of the account the server runs as."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    raise StackError("PostgreSQL refuses to run as root and there is no 'postgres' or 'nobody' account; "
                     "run this as an ordinary user")


def check_reachable(path, account):
    """As root, the server account must be able to walk to its binaries: every folder above them o+x."""
    for folder in [Path(path), *Path(path).parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001 and folder.stat().st_uid != account[1]:
            raise StackError(f"the '{account[0]}' account that runs PostgreSQL cannot enter {folder} "
                             f"(mode {oct(mode & 0o777)}); use folders all users can enter for --dir and "
                             f"for the binaries (LOCAL_KAFKA_CACHE)")


# --------------------------------------------------------------------------
# the server


class LocalPostgres:
    """One PostgreSQL server with its data, log and settings in one state directory."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR, port=DEFAULT_PORT, logical=False, password=None,
                 owner_pid=None, binaries=None):
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.logical = logical
        self.password = password  # None: no password (trust), for 127.0.0.1 only
        self.owner_pid = owner_pid
        self.binaries = binaries  # found on start when None
        self._load_settings()

    @property
    def data_dir(self):
        return self.state_dir / "data"

    @property
    def log_file(self):
        return self.state_dir / "postgres.log"

    @property
    def settings_file(self):
        return self.state_dir / "postgres.json"

    @property
    def url(self):
        secret = f":{self.password}" if self.password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def shown_url(self):
        return f"postgresql://{USER}{':****' if self.password else ''}@127.0.0.1:{self.port}/{DATABASE}"

    def _load_settings(self):
        """A running server keeps the port and settings it was started with."""
        try:
            saved = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            return
        if self._alive(saved.get("pid")):
            self.port = saved["port"]
            self.logical = saved["logical"]

    def _alive(self, pid):
        """Only a live postgres with our data dir on its command line counts: pids get reused."""
        if not pid or not pid_alive(pid):
            return False
        if not Path("/proc").is_dir():
            return True
        return str(self.data_dir).encode() in local_kafka.process_cmdline(pid)

    def pid(self):
        try:
            pid = json.loads(self.settings_file.read_text()).get("pid")
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid) else None

    def is_running(self):
        return self.pid() is not None

    def status_lines(self):
        pid = self.pid()
        try:
            saved = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            saved = {}
        port = self.port if pid else saved.get("port", self.port)
        lines = [f"PostgreSQL {'running' if pid else 'stopped':8} 127.0.0.1:{port}  pid {pid or '-':<8} "
                 f"log {shown_path(self.log_file)}"]
        if saved.get("version"):
            lines.append(f"           version {saved['version']} ({saved['source']}), "
                         f"wal_level {'logical' if saved.get('logical') else 'replica'}")
        if pid:
            lines.append(f"           {self.shown_url}")
        return lines

    # -- start

    def _run_tool(self, command, account):
        kwargs = {"user": account[1], "group": account[2], "extra_groups": []} if account else {}
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.state_dir,
                              env=server_env(), **kwargs)

    def _initdb(self, account):
        pwfile = self.state_dir / "initdb-password"
        options = ["--auth-local=trust", "--auth-host=trust"]
        if self.password:
            pwfile.write_text(self.password + "\n")
            os.chmod(pwfile, 0o600)
            if account:
                os.chown(pwfile, account[1], account[2])
            options = ["--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256"]
        try:
            done = self._run_tool([self.binaries.tool("initdb"), "-D", str(self.data_dir), "-U", USER, "-E", "UTF8",
                                   "--locale=C", "--no-sync", *options], account)
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise StackError(f"initdb failed (exit {done.returncode}): {detail[-1] if detail else 'no output'}")

    def start(self, quiet=True):
        """Start the server unless it runs. Returns False if it already ran."""
        if self.is_running():
            return False
        local_kafka.check_ports_free([("PostgreSQL", self.port)], None, "choose another --port")
        if self.binaries is None:
            self.binaries = find_binaries(quiet=quiet)
        account = server_account()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if account:
            check_reachable(self.binaries.bin_dir, account)
            check_reachable(self.state_dir.parent, account)
            os.chown(self.state_dir, account[1], account[2])
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(account)
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",  # TCP only: no socket path length limits, no /var/run permissions
            "cluster_name": f"{MARKER}-{self.owner_pid or 0}",
            "wal_level": "logical" if self.logical else "replica",
            "max_wal_senders": 10,
            "max_replication_slots": 10,
        }
        command = [self.binaries.tool("postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        kwargs = {"user": account[1], "group": account[2], "extra_groups": []} if account else {}
        if os.name != "nt":
            kwargs["start_new_session"] = True
            if self.owner_pid:
                # Set after the account switch (which would clear it): the server dies with its owner.
                kwargs["preexec_fn"] = local_kafka._die_with_parent
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.state_dir, env=server_env(), **kwargs)
        self.settings_file.write_text(json.dumps({
            "pid": process.pid, "port": self.port, "logical": self.logical, "version": self.binaries.version,
            "source": self.binaries.source, "bin_dir": str(self.binaries.bin_dir),
        }))
        self._wait_until_ready(process)
        return True

    def _wait_until_ready(self, process):
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"PostgreSQL exited during start (exit {process.returncode}). "
                                 f"Last lines of {shown_path(self.log_file)}:\n{log_tail(self.log_file)}")
            with open(self.log_file, "rb") as log:
                log.seek(log_start)
                ready = b"database system is ready to accept connections" in log.read()
            if ready and local_kafka.port_is_open(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise StackError(f"PostgreSQL did not get ready on port {self.port} within {START_TIMEOUT_S}s. "
                         f"See {shown_path(self.log_file)}:\n{log_tail(self.log_file)}")

    # -- stop

    def stop(self, clean=False):
        pid = self.pid()
        if pid:
            stop_server(pid)
        if clean:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def server_env():
    """English messages (the start check reads the log) and a plain C locale everywhere."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LC_", "PG"))}
    env.update(LANG="C", LC_ALL="C")
    return env


def stop_server(pid, timeout=STOP_TIMEOUT_S):
    """SIGINT is PostgreSQL's fast shutdown (clients are disconnected); SIGKILL if it hangs."""
    try:
        os.kill(pid, signal.SIGINT if os.name != "nt" else signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stray_servers():
    """PostgreSQL servers started by a test run whose owner process has died."""
    return local_kafka.orphans(f"cluster_name={MARKER}-".encode())


def kill_stray_servers():
    return local_kafka.kill_stray_processes(stray_servers())


# --------------------------------------------------------------------------
# command line


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
