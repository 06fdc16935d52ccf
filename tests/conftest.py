"""Fixtures: a real Kafka broker for the whole session, and helpers to drive the kit.

The broker is the one at KAFKA_BOOTSTRAP_SERVERS when that is set and reachable
(a learner's compose stack, say). Otherwise the session starts its own
ZooKeeper + Kafka 3.9.2 with tools/local_kafka.py, on free ports in a temporary
directory, so a stack already running on 9092 is never touched.
With KIT_TEST_BROKER=kraft that session stack is Kafka 4.x in KRaft mode instead (no ZooKeeper).

The tests run in parallel (pytest-xdist, `-n 6 --dist loadgroup` in pytest.ini; `-n 0` runs them
in one process). Each worker is a session of its own: its own broker, PostgreSQL servers and temporary
directories, and ports from a range no other worker uses (KIT_PORT_RANGE, read by free_port()). The
main process cleans up after an earlier, killed run and fetches the jars before the workers start. The
tests of a module that shares a module-scoped fixture (its own stack, database or Connect worker) run
on one worker, in their order, so that fixture starts once; modules with a long path run first.
Every test outside QUICK_CHECK is marked `slow`: `pytest -m "not slow"` is the learner's quick check.
"""

import os
import shutil
import socket
import sys
import tempfile
import time

import pytest
from support import PG_PASSWORD, create_topic, local_kafka, local_postgres, unique_name

STACK_LOG_LINES = ("Kafka version", "started (kafka.server.KafkaServer)", "shut down completed",
                   "binding to port", "Shutting down", "Snapshot loaded", "Server environment:zookeeper.version")


# The learner's quick check (`pytest -m "not slow"`): the three tutorial scripts, their settings and bad
# input, the walkthrough and the README's own commands, the harness. Node id prefixes; every other test is slow.
QUICK_CHECK = (
    "tests/test_kit.py::",
    "tests/test_hostile_input.py::",
    "tests/test_walkthrough.py::",
    "tests/test_readme.py::",
    "tests/test_harness.py::",
    "tests/test_twins.py::",
    "tests/test_glossary.py::",
    "tests/test_troubleshooting.py::",
    "tests/test_docs.py::test_every_command_on_the_page_runs_and_prints_what_the_page_shows[README.md]",
)
# The JVMs the tests start (brokers, ZooKeeper, Connect, Kafka's Java tools) live seconds to minutes, and six
# workers' tests share two cores: compile with the quick C1 compiler only and collect garbage on one thread. Start-up
# and light work then cost about a third less CPU (tools/kafka_config.py reads this, as Kafka's own scripts do).
os.environ.setdefault("KAFKA_JVM_PERFORMANCE_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true")
# Where the parallel workers take their ports: below the system's range for outgoing connections.
WORKER_PORTS = (10000, 32000)

_pytest_config = None


def pytest_configure(config):
    global _pytest_config
    _pytest_config = config
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # a pytest-xdist worker: a slice of WORKER_PORTS of its own, for it and its children
        first, last = WORKER_PORTS
        width = (last - first) // int(worker["workercount"])
        start = first + width * int(worker["workerid"].lstrip("gw"))
        os.environ["KIT_PORT_RANGE"] = f"{start}-{start + width - 1}"


def module_shares_a_fixture(item):
    """True if the test uses a module-scoped fixture that it asks for (autouse ones only check or fetch).

    stack_factory does not count: it only starts what a test asks of it, so each worker may have its own."""
    return any(defs[-1].scope == "module" and not getattr(defs[-1], "_autouse", False)
               for name, defs in item._fixtureinfo.name2fixturedefs.items() if name != "stack_factory")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the xdist_group marks added here
def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.nodeid.startswith(QUICK_CHECK):
            item.add_marker(pytest.mark.slow)
        group = shared_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    if hasattr(config, "workerinput"):  # a pytest-xdist worker (each sorts alike, so their collections agree)
        # Longest first: the groups and every slow test start before the quick ones fill the gaps.
        items.sort(key=lambda item: 0 if shared_group(item) else 1 if item.get_closest_marker("slow") else 2)


def shared_group(item):
    """The worker group of a test that shares a costly fixture, or None.

    The tests on the session's KRaft broker (kraft_kafka, or test_walkthrough's bootstrap[kraft]) share one
    worker, so that only one worker starts it; so do the tests of a module that shares a module fixture.
    """
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec else {}
    if "kraft_kafka" in item.fixturenames or params.get("bootstrap") == "kraft":
        return "kraft-stack"
    return item.module.__name__ if module_shares_a_fixture(item) else None


def say(message):
    """Progress the suite prints even while pytest captures output (shown in CI logs)."""
    capture = _pytest_config.pluginmanager.getplugin("capturemanager") if _pytest_config else None
    if capture is None:
        sys.stderr.write(f"[kafka-stack] {message}\n")
        return
    with capture.global_and_fixture_disabled():
        sys.stderr.write(f"\n[kafka-stack] {message}")
        sys.stderr.flush()


def reachable(bootstrap):
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def external_broker():
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    return bootstrap if bootstrap and reachable(bootstrap) else None


def pytest_sessionstart(session):
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the main process did this before it started the workers
    killed = local_kafka.kill_stray_processes() + local_postgres.kill_stray_servers()
    if killed:
        say(f"killed {len(killed)} process(es) left behind by an earlier, interrupted test run: {killed}")
    if shutil.which("java") is None:
        pytest.exit("The tests start real Kafka brokers, which need Java: install Java 17+ (e.g. 'apt-get install "
                    "openjdk-17-jre-headless' or 'brew install openjdk@17'), then run the tests again.", returncode=4)
    try:
        local_kafka.fetch_jars()
    except local_kafka.StackError as error:
        pytest.exit(f"cannot fetch the Kafka jars: {error}", returncode=4)


def free_port_block(size):
    """A base port with `size` consecutive free ports after it (in this worker's range)."""
    return local_kafka.free_port_block(size)


class StackFactory:
    """Starts local stacks in temporary directories and stops them all at the end."""

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.stacks = []

    def start(self, brokers=1, kraft=False, **options):
        port = free_port_block(brokers + 1)  # with kraft=True, the controller takes the port after the broker's
        zk_port = free_port_block(1)
        if options.get("sasl_port") == "free":
            options["sasl_port"] = free_port_block(1)
        kind = local_kafka.LocalKafkaKRaft if kraft else local_kafka.LocalKafka
        stack = kind(self.tmp_path_factory.mktemp("stack"), zk_port=zk_port, port=port,
                     brokers=brokers, owner_pid=os.getpid(), **options)
        started = time.monotonic()
        self.stacks.append(stack)
        stack.start()
        what = (f"Kafka {stack.version} in KRaft mode (no ZooKeeper)" if kraft else
                f"ZooKeeper on localhost:{stack.zk_port} and {brokers} Kafka {stack.version} broker(s)")
        say(f"started {what} at {stack.bootstrap} in {time.monotonic() - started:.1f}s ({stack.state_dir})")
        for line in log_evidence(stack):
            say(f"  log: {line}")
        return stack

    def stop_all(self):
        for stack in self.stacks:
            started = time.monotonic()
            stack.stop()
            say(f"stopped the stack at {stack.bootstrap} in {time.monotonic() - started:.1f}s")
            for line in log_evidence(stack, stopping=True):
                say(f"  log: {line}")
            stack.stop(clean=True)


def log_evidence(stack, stopping=False):
    """The lines of the servers' own logs that show which versions started (or stopped)."""
    wanted = ("shut down completed",) if stopping else ("Kafka version:", "started (kafka.server.KafkaServer)",
                                                         "Server environment:zookeeper.version")
    found = []
    logs = [stack.zk_dir / "zookeeper.log"] + [stack.broker_dir(b) / "broker.log" for b in range(stack.brokers)]
    for log in logs:
        try:
            for line in log.read_text(errors="replace").splitlines():
                if any(w in line for w in wanted):
                    found.append(f"{log.parent.name}: {line.strip()[:160]}")
        except OSError:
            pass
    return found[-6:]


@pytest.fixture(scope="session")
def session_stacks(tmp_path_factory):
    """The stacks that live as long as the session: the broker every kit test talks to, and the KRaft one."""
    factory = StackFactory(tmp_path_factory)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def stack_factory(tmp_path_factory):
    """Stacks of a module's own (a broker it may stop, SASL, three brokers...), stopped when the module is done:
    an idle stack still costs CPU, and two cores are shared by six workers."""
    factory = StackFactory(tmp_path_factory)
    yield factory
    factory.stop_all()


class Broker:
    def __init__(self, bootstrap, stack=None):
        self.bootstrap = bootstrap
        self.stack = stack  # None when the broker is someone else's (the compose stack)


@pytest.fixture(scope="session")
def kafka(session_stacks):
    """The broker every kit test talks to."""
    bootstrap = external_broker()
    if bootstrap:
        say(f"using the running broker at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)")
        return Broker(bootstrap)
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        say(f"KAFKA_BOOTSTRAP_SERVERS={os.environ['KAFKA_BOOTSTRAP_SERVERS']} is not reachable: "
            f"starting a local stack instead")
    # KIT_TEST_BROKER=kraft runs the whole suite on Kafka 4.x in KRaft mode instead of ZooKeeper mode.
    stack = session_stacks.start(kraft=os.environ.get("KIT_TEST_BROKER", "zookeeper").lower() == "kraft")
    return Broker(stack.bootstrap, stack)


@pytest.fixture(scope="session")
def kraft_kafka(kafka, session_stacks):
    """A Kafka 4.x broker in KRaft mode: the session's own when KIT_TEST_BROKER=kraft, else one more stack."""
    if isinstance(kafka.stack, local_kafka.LocalKafkaKRaft):
        return kafka
    stack = session_stacks.start(kraft=True)
    return Broker(stack.bootstrap, stack)


@pytest.fixture
def bootstrap(kafka):
    return kafka.bootstrap


@pytest.fixture
def topic(bootstrap, request):
    """A fresh one-partition topic for this test alone."""
    name = unique_name(request.node.name.split("[")[0][:40].replace("_", "-"))
    return create_topic(bootstrap, name)


class PostgresServers:
    """Private PostgreSQL servers, one per kind of binaries, each started when a test first needs it.

    'machine' is the server installed on this machine (Maven Central's when there is none);
    'maven-central' always runs the binaries tools/local_postgres.py downloads from Maven Central.
    """

    def __init__(self):
        self.servers = {}

    def url(self, kind):
        if kind not in self.servers:
            choice = "maven" if kind == "maven-central" else None
            binaries = local_postgres.find_binaries(choice, quiet=True)
            server = local_postgres.LocalPostgres(tempfile.mkdtemp(prefix="kit-pg-"), port=local_kafka.free_port(),
                                                  password=PG_PASSWORD, owner_pid=os.getpid(), binaries=binaries)
            self.servers[kind] = server
            started = time.monotonic()
            server.start()
            say(f"started {binaries.describe()} at 127.0.0.1:{server.port} for '{kind}' "
                f"in {time.monotonic() - started:.1f}s ({server.state_dir})")
        return self.servers[kind].url

    def stop_all(self):
        for kind, server in self.servers.items():
            server.stop(clean=True)
            say(f"stopped PostgreSQL '{kind}' at 127.0.0.1:{server.port}")


@pytest.fixture(scope="session")
def postgres_servers():
    servers = PostgresServers()
    yield servers
    servers.stop_all()


@pytest.fixture(params=["machine", "maven-central"])
def postgres(request, postgres_servers):
    """The URL (with a password, which must never be printed) of a private PostgreSQL server."""
    import psycopg  # noqa: F401  (fail early and clearly if the driver is missing)

    return postgres_servers.url(request.param)
