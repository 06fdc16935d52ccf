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

For maintainers: the poms in tools/ (pom.xml for Kafka 3.9.2, pom-kraft.xml for
4.1.0, pom-postgres.xml for tools/local_postgres.py, pom-debezium.xml for the Debezium
connector; see JAR_SETS) are the source of truth. After changing one,
`python tools/local_kafka.py lock` resolves them with Maven and rewrites tools/jars.lock;
only that command needs Maven.
"""

import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
REPO_DIR = TOOLS_DIR.parent
KAFKA_VERSION = "3.9.2"
DEFAULT_STATE_DIR = REPO_DIR / ".local-kafka"

ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
KAFKA_MAIN = "kafka.Kafka"

# Explicit heaps: the stack must fit beside the tests on a 2-core machine.
ZOOKEEPER_HEAP = ["-Xms64m", "-Xmx256m"]
BROKER_HEAP = ["-Xms256m", "-Xmx768m"]

# Every java process we start carries this marker, so a later run can find
# (and clean up) processes that a killed test run left behind.
MARKER_PROPERTY = "kafka.kit.stack"
OWNER_PROPERTY = "kafka.kit.owner"

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 30


class StackError(Exception):
    """A failure with a one-line message meant for the user."""


# --------------------------------------------------------------------------
# jars: pinned in tools/jars.lock, downloaded from Maven Central with the standard library

LOCK_FILE = TOOLS_DIR / "jars.lock"
CACHE_DIR = Path(os.environ.get("LOCAL_KAFKA_CACHE") or TOOLS_DIR / ".kafka-jars")
DEFAULT_MAVEN_REPO = "https://repo1.maven.org/maven2"

# Each set of jars: its name in tools/jars.lock -> (the pom it is locked from, its folder in CACHE_DIR).
# The poms are the source of truth; `python tools/local_kafka.py lock` rewrites jars.lock from them.
JAR_SETS = {
    "kafka-3.9.2": ("pom.xml", "3.9.2"),
    "kafka-4.1.0": ("pom-kraft.xml", "4.1.0"),
    "postgres-17.11.0": ("pom-postgres.xml", "postgres-17.11.0"),  # server binaries for tools/local_postgres.py
    # The Debezium PostgreSQL connector for Kafka Connect. A worker's plugin.path names a folder of plugin
    # folders, so its jars go one level down: plugin.path=tools/.kafka-jars/debezium-3.6.1.Final
    "debezium-3.6.1": ("pom-debezium.xml", "debezium-3.6.1.Final/debezium-connector-postgres"),
}
KAFKA_SET = "kafka-3.9.2"
JARS_DIR = CACHE_DIR / JAR_SETS[KAFKA_SET][1]
DEBEZIUM_SET = "debezium-3.6.1"
# What a Connect worker's plugin.path names for it (tools/connect/cdc-worker.properties): the folder above the jars.
DEBEZIUM_PLUGIN_PATH = (CACHE_DIR / JAR_SETS[DEBEZIUM_SET][1]).parent

DOWNLOAD_TIMEOUT_S = 30
CHUNK_BYTES = 256 * 1024
NETWORK_HINT = "Check the internet connection; behind a proxy, set HTTPS_PROXY (e.g. http://proxy.example:3128)"


class LockedJar:
    """One line of tools/jars.lock: a file in a Maven repository, with its size and sha256."""

    def __init__(self, jar_set, path, sha256, size):
        self.jar_set = jar_set
        self.path = path
        self.sha256 = sha256
        self.size = size

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]


def set_dir(jar_set):
    return CACHE_DIR / JAR_SETS[jar_set][1]


def locked_jars(jar_set, lock_file=LOCK_FILE):
    """The jars that tools/jars.lock pins for one set."""
    try:
        text = Path(lock_file).read_text(encoding="utf-8")
    except OSError as error:
        raise StackError(f"cannot read {shown_path(lock_file)} ({error.strerror}); it comes with the kit: "
                         f"restore it with 'git checkout -- tools/jars.lock'") from None
    jars = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 4 or not fields[3].isdigit() or len(fields[2]) != 64:
            raise StackError(f"{shown_path(lock_file)} line {number} is not 'set path sha256 size'; "
                             f"restore it with 'git checkout -- tools/jars.lock'")
        if fields[0] == jar_set:
            jars.append(LockedJar(fields[0], fields[1], fields[2].lower(), int(fields[3])))
    if not jars:
        raise StackError(f"{shown_path(lock_file)} lists no jars for '{jar_set}'; "
                         f"regenerate it with 'python tools/local_kafka.py lock' (needs Maven)")
    return jars


def jar_is_complete(path, jar):
    """A jar only gets its final name after its sha256 matched, so the size is enough of a check here."""
    try:
        return path.stat().st_size == jar.size
    except OSError:
        return False


def jars_present(jar_set=KAFKA_SET, jars_dir=None, wanted=None):
    jars_dir = Path(jars_dir or set_dir(jar_set))
    jars = [jar for jar in locked_jars(jar_set) if wanted is None or wanted(jar)]
    return all(jar_is_complete(jars_dir / jar.name, jar) for jar in jars)


def maven_repo():
    return (os.environ.get("LOCAL_KAFKA_MAVEN_REPO") or DEFAULT_MAVEN_REPO).rstrip("/")


def without_credentials(url):
    """A URL as it may be shown: user:password@ removed."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def proxy_for(url):
    """The proxy urllib sends this URL through (from HTTPS_PROXY and friends), or None."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return proxy
    return None


def describe_failure(error):
    """'Connection refused' rather than '<urlopen error [Errno 111] Connection refused>'."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def count(items, noun):
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def megabytes(size):
    return f"{size / 1e6:.1f} MB"


class Progress:
    """'12.3 of 118.0 MB': in place on a terminal, a line at each quarter otherwise."""

    def __init__(self, total, stream=None, quiet=False):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.in_place = not quiet and self.stream.isatty()
        self.quarters_shown = 0
        self.last_shown = 0.0

    def add(self, size):
        self.done += size
        if self.quiet:
            return
        line = f"  {self.done / 1e6:6.1f} of {megabytes(self.total)}"
        if self.in_place:
            if time.monotonic() - self.last_shown >= 0.1 or self.done >= self.total:
                self.stream.write("\r" + line)
                self.stream.flush()
                self.last_shown = time.monotonic()
            return
        quarters = min(4, int(4 * self.done / self.total)) if self.total else 4
        if quarters > self.quarters_shown:
            self.quarters_shown = quarters
            self.stream.write(line + "\n")
            self.stream.flush()

    def end(self):
        """Leave the in-place line before anything else is printed."""
        if self.in_place:
            self.stream.write("\n")
            self.stream.flush()
            self.in_place = False


def download(jar, jars_dir, progress):
    """Fetch one locked file to NAME.part, check its size and sha256, then give it its name."""
    url = f"{maven_repo()}/{jar.path}"
    shown_url = without_credentials(url)
    part = jars_dir / (jar.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > jar.size:
        part.unlink()
        have = 0
    progress.add(have)
    if have < jar.size:
        request = urllib.request.Request(url, headers={"User-Agent": "kafka-kit-local-kafka"})
        if have:
            request.add_header("Range", f"bytes={have}-")  # an interrupted download resumes
        try:
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
                if have and response.status != 206:  # the server sends the whole file again
                    progress.add(-have)
                    have = 0
                with open(part, "ab" if have else "wb") as out:
                    while True:
                        chunk = response.read(CHUNK_BYTES)
                        if not chunk:
                            break
                        out.write(chunk)
                        progress.add(len(chunk))
        except urllib.error.HTTPError as error:
            progress.end()
            raise StackError(f"cannot download {shown_url}: HTTP {error.code} {error.reason}. "
                             f"Check LOCAL_KAFKA_MAVEN_REPO if you set it, or try again later") from None
        except (OSError, http.client.HTTPException) as error:
            progress.end()
            proxy = proxy_for(url)
            if proxy:
                raise StackError(f"cannot download {shown_url} through the proxy {without_credentials(proxy)} "
                                 f"(HTTPS_PROXY): {describe_failure(error)}. Check that proxy, or fix or unset "
                                 f"HTTPS_PROXY (NO_PROXY lists hosts to reach directly), then run the same command "
                                 f"again") from None
            raise StackError(f"cannot download {shown_url}: {describe_failure(error)}. {NETWORK_HINT}, "
                             f"then run the same command again") from None
    size = part.stat().st_size
    if size < jar.size:
        progress.end()
        raise StackError(f"the download of {jar.name} stopped after {size} of {jar.size} bytes "
                         f"(from {shown_url}); run the same command again to resume it")
    digest = hashlib.sha256()
    with open(part, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    if size != jar.size or digest.hexdigest() != jar.sha256:
        part.unlink()
        progress.end()
        raise StackError(f"{jar.name} from {shown_url} does not match its size and sha256 in "
                         f"{shown_path(LOCK_FILE)}: deleted it. Run the same command again; if it happens again, "
                         f"the repository (LOCAL_KAFKA_MAVEN_REPO) or a proxy changes the file")
    os.replace(part, jars_dir / jar.name)


def fetch_jars(jar_set=KAFKA_SET, quiet=False, jars_dir=None, wanted=None):
    """Download the jars of one set that are not in the cache yet (a no-op when all are). Returns their folder.

    wanted: a filter on the set's LockedJars, for sets of which a machine needs only a part.
    """
    jars_dir = Path(jars_dir or set_dir(jar_set))
    every_jar = locked_jars(jar_set)
    jars = [jar for jar in every_jar if wanted is None or wanted(jar)]
    missing = [jar for jar in jars if not jar_is_complete(jars_dir / jar.name, jar)]
    if jars_dir.is_dir():
        # Jars of an older lock would still be on the classpath (folder/*): remove them.
        locked_names = {jar.name for jar in every_jar}
        for old in jars_dir.glob("*.jar"):
            if old.name not in locked_names:
                old.unlink()
    if not missing:
        return jars_dir
    jars_dir.mkdir(parents=True, exist_ok=True)
    total = sum(jar.size for jar in missing)
    if not quiet:
        what = f"{count(missing, 'file')}" if len(missing) == len(jars) else f"{count(missing, 'missing file')}"
        print(f"Fetching {jar_set}: {what}, {megabytes(total)}, from {without_credentials(maven_repo())} "
              f"into {shown_path(jars_dir)}", flush=True)
    started = time.monotonic()
    progress = Progress(total, quiet=quiet)
    for jar in missing:
        download(jar, jars_dir, progress)
    progress.end()
    if not quiet:
        print(f"Fetched {count(missing, 'file')} ({megabytes(total)}) in {time.monotonic() - started:.1f}s, "
              f"each checked against {shown_path(LOCK_FILE)}", flush=True)
    return jars_dir


# The maintainer's side: tools/jars.lock from the poms, with Maven.

LOCK_HEADER = """\
# The files tools/local_kafka.py downloads from Maven Central, pinned: set, path in the
# repository, sha256, size in bytes. Generated from the poms in tools/ (JAR_SETS in
# tools/local_kafka.py) by `python tools/local_kafka.py lock`, which needs Maven; do not edit.
"""

# "   group:artifact:type[:classifier]:version:scope:/path/in/the/local/repository.jar -- module x"
DEPENDENCY_LINE = re.compile(r"^\s+([^:\s]+):([^:\s]+):[^\s]*?:([^:\s]+):(?:compile|runtime|system|provided):"
                             r"(.+?\.jar)(?:\s+--.*)?$")


def resolved_jars(mvn, pom):
    """(repository path, local file) of every runtime jar of a pom, as Maven resolves them."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "dependencies.txt"
        result = subprocess.run(
            [mvn, "-B", "-q", "-f", str(pom), "dependency:list", "-DincludeScope=runtime",
             "-DoutputAbsoluteArtifactFilename=true", f"-DoutputFile={listing}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if result.returncode != 0 or not listing.exists():
            tail = "\n".join(result.stdout.strip().splitlines()[-15:])
            raise StackError(f"Maven could not resolve {pom.name} (exit {result.returncode}):\n{tail}")
        lines = listing.read_text().splitlines()
    found = []
    for line in lines:
        match = DEPENDENCY_LINE.match(line)
        if match:
            group, artifact, version, local_file = match.groups()
            local_file = Path(local_file)
            found.append((f"{group.replace('.', '/')}/{artifact}/{version}/{local_file.name}", local_file))
    return sorted(found)


def write_lock(lock_file=LOCK_FILE):
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("the lock command needs Maven ('mvn'), to resolve the poms; learners never need it")
    rows = []
    for jar_set, (pom, _folder) in JAR_SETS.items():
        for path, local_file in resolved_jars(mvn, TOOLS_DIR / pom):
            data = local_file.read_bytes()
            rows.append((jar_set, path, hashlib.sha256(data).hexdigest(), str(len(data))))
    set_width = max(len(row[0]) for row in rows)
    path_width = max(len(row[1]) for row in rows)
    lines = [f"{s:<{set_width}}  {p:<{path_width}}  {sha}  {size}" for s, p, sha, size in rows]
    Path(lock_file).write_text(LOCK_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return {jar_set: sum(1 for row in rows if row[0] == jar_set) for jar_set in JAR_SETS}


def java_command():
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java ('java') is not installed; Kafka and ZooKeeper run on it. "
            "Install Java 17 or newer (e.g. 'apt-get install openjdk-17-jre-headless'), or use Docker instead."
        )
    return java


def classpath(jars_dir=JARS_DIR):
    return str(jars_dir / "*")


# --------------------------------------------------------------------------
# ports and processes


def port_is_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port():
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def who_listens_on(port):
    """'pid 123 (java)' for the process listening on a TCP port, if we can tell."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    name = (proc / "comm").read_text().strip()
                    return f"pid {proc.name} ({name})"
        except OSError:
            continue
    return None


def check_ports_free(wanted, sasl_port, hint):
    """StackError naming the first (role, port) in `wanted` that something already listens on."""
    if sasl_port:
        wanted = [*wanted, ("the SASL listener", sasl_port)]
    for role, port in wanted:
        if not port_is_free(port):
            holder = who_listens_on(port)
            by = f" by {holder}" if holder else ""
            raise StackError(f"Port {port} (for {role}) is already taken{by}. Stop that, or {hint}.")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def process_cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def read_pid(pid_file):
    try:
        pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        return None
    # Only trust a pid that still belongs to one of our java processes.
    marker = f"-D{MARKER_PROPERTY}=".encode()
    if pid_alive(pid) and any(arg.startswith(marker) for arg in process_cmdline(pid)):
        return pid
    if pid_alive(pid) and not Path("/proc").is_dir():  # not Linux: trust the file
        return pid
    return None


JAVA_OWNER_FLAG = f"-D{OWNER_PROPERTY}=".encode()


def orphans(owner_flag=JAVA_OWNER_FLAG):
    """Processes whose command line names an owner (`owner_flag` + its pid) that has died: what a killed
    test run left behind. Java carries -Dkafka.kit.owner=PID; local_postgres.py passes its own flag."""
    found = []
    if not Path("/proc").is_dir():
        return found
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for arg in process_cmdline(int(proc.name)):
            if arg.startswith(owner_flag):
                owner = int(arg[len(owner_flag):] or 0)
                if owner and not pid_alive(owner):
                    found.append(int(proc.name))
                break
    return found


def kill_stray_processes(pids=None):
    """Kill what an earlier, killed test run left behind (by default its java processes). Returns the pids."""
    pids = orphans() if pids is None else pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def terminate(pid, timeout=STOP_TIMEOUT_S):
    """SIGTERM, wait, then SIGKILL. Returns True if it exited gracefully."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return False


def _load_prctl():
    """libc's prctl, looked up now: after fork() in a threaded parent, only simple calls are safe."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def _die_with_parent():
    """Runs in the child before exec: die when the starting process dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def shown_path(path):
    """A path relative to the current directory when it is below it: shorter to read."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def log_tail(log_file, lines=20):
    try:
        text = Path(log_file).read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------
# configuration

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.zookeeper=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
"""


def broker_properties(broker_id, port, zk_port, data_dir, brokers=1, auto_create=False, sasl_port=None,
                      sasl_users=None):
    """The broker's server.properties, mirroring docker-compose.yml's settings."""
    replication = min(3, brokers)
    listeners = [f"PLAINTEXT://localhost:{port}"]
    protocol_map = ["PLAINTEXT:PLAINTEXT"]
    if sasl_port:
        listeners.append(f"SASL_PLAINTEXT://localhost:{sasl_port}")
        protocol_map.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
    props = {
        "broker.id": broker_id,
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(listeners),
        "listener.security.protocol.map": ",".join(protocol_map),
        "inter.broker.listener.name": "PLAINTEXT",
        "zookeeper.connect": f"localhost:{zk_port}",
        "zookeeper.connection.timeout.ms": 18000,
        "log.dirs": str(data_dir),
        "num.partitions": 1,
        "auto.create.topics.enable": str(auto_create).lower(),
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        # A write waits for two copies only where a third can be missing: with two brokers, one may stop.
        "transaction.state.log.min.isr": 1 if replication < 3 else 2,
        # As docker-compose.cluster.yml: a topic created without a replication factor gets one copy per broker.
        "default.replication.factor": replication,
        # Kafka caps it at a partition's replication factor, so one-copy topics still take acks=all writes.
        "min.insync.replicas": 1 if replication < 3 else 2,
        "group.initial.rebalance.delay.ms": 0,
        "controlled.shutdown.enable": "true",
    }
    if sasl_port:
        users = sasl_users or {}
        entries = " ".join(f'user_{name}="{password}"' for name, password in users.items())
        props["sasl.enabled.mechanisms"] = "PLAIN"
        props["listener.name.sasl_plaintext.sasl.enabled.mechanisms"] = "PLAIN"
        props["listener.name.sasl_plaintext.plain.sasl.jaas.config"] = (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {entries};"
        )
    return props


def write_properties(path, props):
    lines = [f"{key}={value}" for key, value in props.items()]
    Path(path).write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------
# the stack


class LocalKafka:
    """ZooKeeper plus one or more brokers, all in one state directory."""

    mode = "zookeeper"
    version = KAFKA_VERSION

    def __init__(self, state_dir=DEFAULT_STATE_DIR, zk_port=2181, port=9092, brokers=1, auto_create=False,
                 sasl_port=None, sasl_users=None, extra_properties=None, owner_pid=None, jars_dir=JARS_DIR,
                 broker_properties=None):
        self.state_dir = Path(state_dir).resolve()
        self.zk_port = zk_port
        self.port = port
        self.brokers = brokers
        self.auto_create = auto_create
        self.sasl_port = sasl_port
        self.sasl_users = sasl_users or {}
        self.extra_properties = extra_properties or {}
        # {broker_id: {key: value}}: settings for one broker only, applied after extra_properties.
        self.per_broker_properties = broker_properties or {}
        self.owner_pid = owner_pid
        self.jars_dir = jars_dir
        self._load_saved_ports()

    # -- where things live

    @property
    def zk_dir(self):
        return self.state_dir / "zookeeper"

    def broker_dir(self, broker_id):
        return self.state_dir / f"broker-{broker_id}"

    def broker_port(self, broker_id):
        return self.port + broker_id

    @property
    def bootstrap(self):
        return ",".join(f"localhost:{self.broker_port(b)}" for b in range(self.brokers))

    @property
    def settings_file(self):
        return self.state_dir / "stack.json"

    def _load_saved_ports(self):
        """A running stack keeps the ports it was started with."""
        try:
            saved = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            return
        if self.zookeeper_pid() or any(self.broker_pid(b) for b in range(saved.get("brokers", 1))):
            self.zk_port = saved["zk_port"]
            self.port = saved["port"]
            self.brokers = saved.get("brokers", 1)
            self.sasl_port = saved.get("sasl_port")

    def _save_ports(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps({
            "zk_port": self.zk_port, "port": self.port, "brokers": self.brokers,
            "sasl_port": self.sasl_port, "kafka_version": KAFKA_VERSION,
        }))

    # -- what runs

    def zookeeper_pid(self):
        return read_pid(self.zk_dir / "zookeeper.pid")

    def broker_pid(self, broker_id=0):
        return read_pid(self.broker_dir(broker_id) / "broker.pid")

    def is_running(self):
        return bool(self.zookeeper_pid()) or any(self.broker_pid(b) for b in range(self.brokers))

    def status_lines(self):
        lines = []
        zk = self.zookeeper_pid()
        lines.append(f"ZooKeeper  {'running' if zk else 'stopped':8} "
                     f"localhost:{self.zk_port}  pid {zk or '-':<8} log {shown_path(self.zk_dir / 'zookeeper.log')}")
        for b in range(self.brokers):
            pid = self.broker_pid(b)
            lines.append(f"Kafka {b:<4} {'running' if pid else 'stopped':8} "
                         f"localhost:{self.broker_port(b)}  pid {pid or '-':<8} "
                         f"log {shown_path(self.broker_dir(b) / 'broker.log')}")
        return lines

    # -- start

    def _logging_options(self):
        log4j = self.state_dir / "log4j.properties"
        log4j.write_text(LOG4J_PROPERTIES)
        return [f"-Dlog4j.configuration=file:{log4j}"]

    def _java(self, main_class, heap, config_file, log_file, pid_file, role):
        java = java_command()
        command = [
            java, *heap, "-server", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            *self._logging_options(),
            "-Dzookeeper.admin.enableServer=false",
            f"-D{MARKER_PROPERTY}={self.state_dir}:{role}",
        ]
        if self.owner_pid:
            command.append(f"-D{OWNER_PROPERTY}={self.owner_pid}")
        command += ["-cp", classpath(self.jars_dir), main_class, str(config_file)]
        with open(log_file, "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.state_dir,
                start_new_session=True, preexec_fn=_die_with_parent if self.owner_pid else None,
            )
        Path(pid_file).write_text(f"{process.pid}\n")
        return process

    def _check_ports_free(self):
        wanted = [("ZooKeeper", self.zk_port)]
        wanted += [(f"Kafka broker {b}", self.broker_port(b)) for b in range(self.brokers)]
        check_ports_free(wanted, self.sasl_port, "choose other ports (--port / --zk-port)")

    def start_zookeeper(self):
        self.zk_dir.mkdir(parents=True, exist_ok=True)
        (self.zk_dir / "data").mkdir(exist_ok=True)
        config = self.zk_dir / "zookeeper.properties"
        write_properties(config, {
            "dataDir": self.zk_dir / "data",
            "clientPort": self.zk_port,
            "clientPortAddress": "127.0.0.1",
            "maxClientCnxns": 0,
            "admin.enableServer": "false",  # else it takes port 8080
            "4lw.commands.whitelist": "ruok,srvr",
            "tickTime": 2000,
        })
        log_file = self.zk_dir / "zookeeper.log"
        process = self._java(ZOOKEEPER_MAIN, ZOOKEEPER_HEAP, config, log_file, self.zk_dir / "zookeeper.pid",
                             "zookeeper")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"ZooKeeper exited during start (exit {process.returncode}). "
                                 f"Last lines of {log_file}:\n{log_tail(log_file)}")
            if self._zookeeper_answers():
                return
            time.sleep(0.2)
        raise StackError(f"ZooKeeper did not answer on port {self.zk_port} within {START_TIMEOUT_S}s. "
                         f"See {log_file}:\n{log_tail(log_file)}")

    def _zookeeper_answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.zk_port), timeout=1) as sock:
                sock.sendall(b"ruok")
                return sock.recv(4) == b"imok"
        except OSError:
            return False

    def start_broker(self, broker_id=0):
        directory = self.broker_dir(broker_id)
        (directory / "data").mkdir(parents=True, exist_ok=True)
        props = broker_properties(broker_id, self.broker_port(broker_id), self.zk_port, directory / "data",
                                  brokers=self.brokers, auto_create=self.auto_create,
                                  sasl_port=self.sasl_port if broker_id == 0 else None,
                                  sasl_users=self.sasl_users)
        props.update(self._expand(self.extra_properties, broker_id))
        props.update(self._expand(self.per_broker_properties.get(broker_id, {}), broker_id))
        config = directory / "server.properties"
        write_properties(config, props)
        log_file = directory / "broker.log"
        process = self._java(KAFKA_MAIN, BROKER_HEAP, config, log_file, directory / "broker.pid",
                             f"broker-{broker_id}")
        return process, log_file

    def _expand(self, extra, broker_id):
        """Extra properties may use {port}, {zk_port} and {broker_id} placeholders."""
        values = {"port": self.broker_port(broker_id), "zk_port": self.zk_port, "broker_id": broker_id,
                  "sasl_port": self.sasl_port}
        return {key: str(value).format(**values) for key, value in extra.items()}

    def wait_for_broker(self, process, log_file, broker_id=0, timeout=START_TIMEOUT_S):
        port = self.broker_port(broker_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"Kafka broker {broker_id} exited during start (exit {process.returncode}). "
                                 f"Last lines of {log_file}:\n{log_tail(log_file)}")
            # The broker opens its port only at the very end of its start-up.
            if port_is_open(port):
                return
            time.sleep(0.2)
        raise StackError(f"Kafka broker {broker_id} did not open port {port} within {timeout}s. "
                         f"See {log_file}:\n{log_tail(log_file)}")

    def start(self):
        """Start whatever is not running yet. Returns False if all of it already ran."""
        zk_running = self.zookeeper_pid() is not None
        brokers_down = [b for b in range(self.brokers) if self.broker_pid(b) is None]
        if zk_running and not brokers_down:
            return False
        if not zk_running:
            java_command()  # before a download that would be of no use without Java
            fetch_jars(jars_dir=self.jars_dir)
            self._check_ports_free()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._save_ports()
            self.start_zookeeper()
        started = [(b, *self.start_broker(b)) for b in brokers_down]
        for broker_id, process, log_file in started:
            self.wait_for_broker(process, log_file, broker_id)
        return True

    def restart_broker(self, broker_id=0, down_seconds=0.0):
        """Stop one broker gracefully, optionally stay down a while, start it again."""
        self.stop_broker(broker_id)
        time.sleep(down_seconds)
        process, log_file = self.start_broker(broker_id)
        self.wait_for_broker(process, log_file, broker_id)

    # -- stop

    def stop_broker(self, broker_id=0, kill=False):
        pid = self.broker_pid(broker_id)
        if pid is None:
            return
        if kill:
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
        else:
            terminate(pid)
        (self.broker_dir(broker_id) / "broker.pid").unlink(missing_ok=True)

    def stop(self, clean=False):
        """Brokers first (they need ZooKeeper to shut down cleanly), then ZooKeeper."""
        for b in range(self.brokers):
            self.stop_broker(b)
        zk = self.zookeeper_pid()
        if zk:
            terminate(zk)
        (self.zk_dir / "zookeeper.pid").unlink(missing_ok=True)
        if clean:
            # ZooKeeper holds the topic metadata and the brokers hold the data: wipe both or neither.
            shutil.rmtree(self.state_dir, ignore_errors=True)


# --------------------------------------------------------------------------
# KRaft: Kafka 4.x, which runs without ZooKeeper

KRAFT_VERSION = "4.1.0"  # keep equal to tools/pom-kraft.xml and docker-compose.kraft.yml's image tag
KRAFT_SET = "kafka-4.1.0"
KRAFT_JARS_DIR = set_dir(KRAFT_SET)
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"

# Kafka 4 logs through Log4j 2, which reads its own configuration format.
LOG4J2_PROPERTIES = """\
status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


def kraft_properties(node_id, port, controller_port, data_dir, auto_create=False, sasl_port=None,
                     sasl_users=None):
    """One node that is broker and controller at once (KRaft combined mode), settings as in the ZooKeeper stack."""
    props = broker_properties(node_id, port, 0, data_dir, brokers=1, auto_create=auto_create, sasl_port=sasl_port,
                              sasl_users=sasl_users)
    for zookeeper_only in ("broker.id", "zookeeper.connect", "zookeeper.connection.timeout.ms"):
        props.pop(zookeeper_only)
    props = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        # The controllers keep the cluster's metadata (topics, leaders), as ZooKeeper used to.
        "controller.quorum.voters": f"{node_id}@localhost:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        **props,
    }
    props["listeners"] += f",CONTROLLER://localhost:{controller_port}"
    props["listener.security.protocol.map"] += ",CONTROLLER:PLAINTEXT"
    # Share groups (Kafka 4's queues) keep state in an internal topic that wants 3 copies by default.
    props["share.coordinator.state.topic.replication.factor"] = 1
    props["share.coordinator.state.topic.min.isr"] = 1
    return props


class LocalKafkaKRaft(LocalKafka):
    """One Kafka 4.x node in KRaft mode: broker and controller in one process, no ZooKeeper.

    Its storage is formatted once with Kafka's storage tool (a cluster id written into the
    data dir) before the first start, as `kafka-storage.sh format` does.
    """

    mode = "kraft"
    version = KRAFT_VERSION

    def __init__(self, state_dir=DEFAULT_STATE_DIR, port=9092, controller_port=None, cluster_id=None,
                 jars_dir=KRAFT_JARS_DIR, **options):
        options.pop("zk_port", None)  # accepted for the same call signature; KRaft has no ZooKeeper
        if options.get("brokers", 1) != 1:
            raise StackError("the KRaft stack runs a single node (broker and controller); use --brokers 1")
        self.controller_port = controller_port or port + 1
        self.cluster_id = cluster_id
        super().__init__(state_dir, zk_port=0, port=port, jars_dir=jars_dir, **options)

    def broker_dir(self, broker_id):
        return self.state_dir / f"kraft-{broker_id}"

    def zookeeper_pid(self):
        return None

    def _load_saved_ports(self):
        try:
            saved = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            return
        if saved.get("mode") == "kraft" and self.broker_pid(0):
            self.port = saved["port"]
            self.controller_port = saved["controller_port"]
            self.sasl_port = saved.get("sasl_port")

    def _save_ports(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings_file.write_text(json.dumps({
            "mode": "kraft", "port": self.port, "controller_port": self.controller_port, "brokers": 1,
            "sasl_port": self.sasl_port, "kafka_version": KRAFT_VERSION,
        }))

    def status_lines(self):
        pid = self.broker_pid(0)
        return [
            f"Kafka 0    {'running' if pid else 'stopped':8} localhost:{self.port}  pid {pid or '-':<8} "
            f"log {shown_path(self.broker_dir(0) / 'broker.log')}",
            f"           KRaft mode: its controller listens on localhost:{self.controller_port}, no ZooKeeper",
        ]

    def _logging_options(self):
        log4j2 = self.state_dir / "log4j2.properties"
        log4j2.write_text(LOG4J2_PROPERTIES)
        return [f"-Dlog4j2.configurationFile=file:{log4j2}"]

    def _check_ports_free(self):
        wanted = [("Kafka", self.port), ("the KRaft controller", self.controller_port)]
        check_ports_free(wanted, self.sasl_port, "choose another --port (the controller uses the next one)")

    def _expand(self, extra, broker_id):
        values = {"port": self.port, "controller_port": self.controller_port, "broker_id": broker_id,
                  "zk_port": 0, "sasl_port": self.sasl_port}
        return {key: str(value).format(**values) for key, value in extra.items()}

    def _storage_tool(self, *args):
        command = [java_command(), "-Xmx256m", *self._logging_options(), "-cp", classpath(self.jars_dir),
                   STORAGE_TOOL_MAIN, *args]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.state_dir)
        if result.returncode != 0:
            raise StackError(f"Kafka's storage tool failed ({' '.join(args[:1])}, exit {result.returncode}): "
                             f"{(result.stderr or result.stdout).strip()[-600:]}")
        return result.stdout.strip()

    def start_broker(self, broker_id=0):
        directory = self.broker_dir(broker_id)
        data = directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = kraft_properties(broker_id, self.port, self.controller_port, data, auto_create=self.auto_create,
                                 sasl_port=self.sasl_port, sasl_users=self.sasl_users)
        props.update(self._expand(self.extra_properties, broker_id))
        props.update(self._expand(self.per_broker_properties.get(broker_id, {}), broker_id))
        config = directory / "server.properties"
        write_properties(config, props)
        log_file = directory / "broker.log"
        if not (data / "meta.properties").exists():
            # A KRaft log dir must be formatted with the cluster's id before the first start.
            cluster_id = self.cluster_id or self._storage_tool("random-uuid").splitlines()[-1]
            output = self._storage_tool("format", "--cluster-id", cluster_id, "--config", str(config))
            with open(log_file, "a") as log:
                log.write(output + "\n")
        process = self._java(KAFKA_MAIN, BROKER_HEAP, config, log_file, directory / "broker.pid",
                             f"kraft-{broker_id}")
        return process, log_file

    def start(self):
        if self.broker_pid(0):
            return False
        java_command()
        fetch_jars(KRAFT_SET, jars_dir=self.jars_dir)
        self._check_ports_free()
        self._save_ports()
        process, log_file = self.start_broker(0)
        self.wait_for_broker(process, log_file, 0)
        return True


def open_stack(state_dir):
    """The stack that was started in state_dir: ZooKeeper mode, or KRaft if it was started with --kraft."""
    try:
        saved = json.loads((Path(state_dir) / "stack.json").read_text())
    except (OSError, ValueError):
        saved = {}
    return LocalKafkaKRaft(state_dir) if saved.get("mode") == "kraft" else LocalKafka(state_dir)


# --------------------------------------------------------------------------
# command line


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Run a real Apache Kafka + ZooKeeper without Docker.")
    parser.add_argument("--dir", default=os.environ.get("LOCAL_KAFKA_DIR", str(DEFAULT_STATE_DIR)),
                        help="state directory for data, logs and pid files (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download the Kafka jars from Maven Central (only the missing ones)")
    which = fetch.add_mutually_exclusive_group()
    which.add_argument("--kraft", action="store_true", help=f"the Kafka {KRAFT_VERSION} jars for --kraft")
    which.add_argument("--debezium", action="store_true",
                       help="the Debezium PostgreSQL connector, a Kafka Connect plugin (docs/kafka-connect.md)")
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
