"""One private PostgreSQL server: its data, log and settings in one state directory, 127.0.0.1 only.

LocalPostgres is what `python tools/local_postgres.py start` runs and what the tests start on free
ports: initdb on first start (user kit, no password unless one is given, then scram-sha-256), the
server in the background with a cluster_name that names its owner (so a killed test run's servers
are found again, tools/stack_processes.py's orphans), ready once its log says so and its port answers.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from postgres_binaries import check_reachable, find_binaries, server_account
from stack_common import REPO_DIR, StackError, log_tail, shown_path
from stack_processes import (
    _die_with_parent,
    check_ports_free,
    kill_stray_processes,
    orphans,
    pid_alive,
    port_is_open,
    process_cmdline,
)

DEFAULT_STATE_DIR = REPO_DIR / ".local-postgres"
DEFAULT_PORT = 5432
USER = "kit"
DATABASE = "postgres"

# Marks the servers we start, with the pid of the process they belong to: cluster_name shows up
# in the postmaster's command line, so a later run can find what a killed test run left behind.
MARKER = "kafka-kit-postgres"

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


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
        return str(self.data_dir).encode() in process_cmdline(pid)

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
        check_ports_free([("PostgreSQL", self.port)], None, "choose another --port")
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
                kwargs["preexec_fn"] = _die_with_parent
        # Where this start's lines begin: measured before the server runs, since it may be ready within 0.1 s.
        log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.state_dir, env=server_env(), **kwargs)
        self.settings_file.write_text(json.dumps({
            "pid": process.pid, "port": self.port, "logical": self.logical, "version": self.binaries.version,
            "source": self.binaries.source, "bin_dir": str(self.binaries.bin_dir),
        }))
        self._wait_until_ready(process, log_start)
        return True

    def _wait_until_ready(self, process, log_start):
        """Until the log, from byte log_start on, says the server is ready and its port answers."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"PostgreSQL exited during start (exit {process.returncode}). "
                                 f"Last lines of {shown_path(self.log_file)}:\n{log_tail(self.log_file)}")
            with open(self.log_file, "rb") as log:
                log.seek(log_start)
                ready = b"database system is ready to accept connections" in log.read()
            if ready and port_is_open(self.port):
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
    return orphans(f"cluster_name={MARKER}-".encode())


def kill_stray_servers():
    return kill_stray_processes(stray_servers())
