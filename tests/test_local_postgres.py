"""tools/local_postgres.py: a private PostgreSQL server from the command line, as a learner runs it."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from support import REPO, local_kafka, local_postgres

TOOL = str(REPO / "tools" / "local_postgres.py")


def run(*args, **env):
    clean = {key: value for key, value in os.environ.items() if not key.startswith("LOCAL_POSTGRES_")}
    clean.update(env)
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True, text=True, env=clean,
                          cwd=REPO, timeout=300)


@pytest.fixture
def state_dir():
    """Under /tmp, not pytest's tmp_path: as root, the server's own account must be able to enter it."""
    directory = tempfile.mkdtemp(prefix="kit-local-pg-")
    yield directory
    run("stop", "--clean", "--dir", directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("binaries", ["", "maven"], ids=["machine-or-maven", "maven"])
def test_start_prints_a_url_that_psycopg_connects_to_and_stop_stops_it(binaries, state_dir):
    port = local_kafka.free_port()
    started = run("start", "--port", port, "--dir", state_dir, "--logical", LOCAL_POSTGRES_BINARIES=binaries)
    assert started.returncode == 0, started.stderr
    url = f"postgresql://kit@127.0.0.1:{port}/postgres"
    assert started.stdout.splitlines()[-1] == f"PostgreSQL is ready at {url}"
    maven_dir = re.escape(f"{local_postgres.POSTGRES_SET}/{local_postgres.platform_name()}/bin")
    which = rf"Maven Central: .*{maven_dir}" if binaries else r"(machine|Maven Central): .*"
    assert re.fullmatch(rf"Started PostgreSQL \d+\.\d+ \({which}\) in \d+\.\ds, wal_level logical, "
                        rf"log {re.escape(state_dir)}/postgres\.log", started.stdout.splitlines()[-2]), started.stdout

    with psycopg.connect(url) as connection:
        assert connection.execute("SHOW wal_level").fetchone() == ("logical",)
        version = connection.execute("SHOW server_version").fetchone()[0]
    if binaries == "maven":
        assert version == "17.11"

    status = run("status", "--dir", state_dir)
    assert status.returncode == 0
    assert status.stdout.splitlines()[0].startswith(f"PostgreSQL running  127.0.0.1:{port}  pid ")

    again = run("start", "--port", port, "--dir", state_dir)
    assert again.stdout == f"Already running: {url} (nothing to do; 'stop' first to change its settings)\n"

    stopped = run("stop", "--dir", state_dir)
    assert stopped.returncode == 0
    assert stopped.stdout == f"Stopped PostgreSQL. Data kept in {state_dir}\n"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)
    assert run("status", "--dir", state_dir).returncode == 3


def test_port_taken_is_one_line(state_dir):
    my_name = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run("start", "--port", port, "--dir", state_dir)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: Port {port} (for PostgreSQL) is already taken by pid {os.getpid()} ({my_name}). "
        f"Stop that, or choose another --port."]


def test_server_that_exits_during_start_is_reported_with_its_log(state_dir):
    port = local_kafka.free_port()
    assert run("start", "--port", port, "--dir", state_dir).returncode == 0
    assert run("stop", "--dir", state_dir).returncode == 0
    with open(os.path.join(state_dir, "data", "postgresql.conf"), "a") as conf:
        conf.write("no_such_setting = 1\n")
    done = run("start", "--port", port, "--dir", state_dir)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"error: PostgreSQL exited during start (exit 1). Last lines of {state_dir}/postgres.log:"
    assert 'unrecognized configuration parameter "no_such_setting"' in done.stderr
    assert "Traceback" not in done.stderr


def test_server_dies_with_the_process_that_owns_it(state_dir):
    """A killed test run leaves no PostgreSQL behind."""
    owner = subprocess.Popen([sys.executable, "-c", f"""
import os, sys, time
sys.path.insert(0, {str(REPO / 'tools')!r})
import local_postgres
server = local_postgres.LocalPostgres({state_dir!r}, port={local_kafka.free_port()}, owner_pid=os.getpid())
server.start()
print(server.pid(), flush=True)
time.sleep(300)
"""], stdout=subprocess.PIPE, text=True)
    server_pid = int(owner.stdout.readline())
    assert local_kafka.pid_alive(server_pid)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    # The server's other processes end a moment after it: a backend still reading a connection's first
    # packet carries the server's command line (rehearsal run 20 saw three right after the server died).
    deadline = time.monotonic() + 10
    while (local_kafka.pid_alive(server_pid) or local_postgres.stray_servers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not local_kafka.pid_alive(server_pid)
    strays = local_postgres.stray_servers()
    assert strays == [], [b" ".join(local_kafka.process_cmdline(pid)) for pid in strays]


def test_a_server_ready_before_the_tool_looks_is_seen_ready(state_dir, monkeypatch):
    """PostgreSQL can be ready 0.1 s after it starts; on a busy machine the tool may look at its log only later.

    Seen in a full run: 'did not get ready on port ... within 60s' while the log said 'ready to accept
    connections' 0.1 s after the start, because the tool measured where the new lines begin after the server
    had already written them. Here the tool is held, right after it started the server, until the log says ready.
    """
    import postgres_server

    monkeypatch.setattr(postgres_server, "START_TIMEOUT_S", 20)  # the old code failed only after the full wait
    server = postgres_server.LocalPostgres(state_dir, port=local_kafka.free_port(), owner_pid=os.getpid())

    def hold_until_the_server_is_ready(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "write_text" and frame.f_locals.get("self") == \
                server.settings_file:  # the first thing the tool does once the server runs
            deadline = time.monotonic() + 20
            while b"ready to accept connections" not in server.log_file.read_bytes():
                assert time.monotonic() < deadline, server.log_file.read_text()
                time.sleep(0.05)

    sys.setprofile(hold_until_the_server_is_ready)
    try:
        server.start()
    finally:
        sys.setprofile(None)
        server.stop(clean=True)
