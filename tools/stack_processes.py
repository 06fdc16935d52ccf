"""Ports and processes of the servers the tools start: which ports are free, which of our processes still
run, stopping them, and finding what a killed run left behind.

Every java process the tools start carries -Dkafka.kit.stack=<state dir>:<role>, so a pid file is only
trusted while its process has that marker (pids get reused). A process started for an owner (a test
run) also carries -Dkafka.kit.owner=<pid> (PostgreSQL: cluster_name=kafka-kit-postgres-<pid>) and, on
Linux, dies with the thread that started it; orphans() finds those whose owner died anyway, and only
those, so one test run never touches another live run's servers. KIT_PORT_RANGE=FIRST-LAST makes
free_port() choose from that range only: the test suite gives each parallel worker its own range.
"""

import os
import random
import signal
import socket
import time
from pathlib import Path

from stack_common import StackError

# Every java process we start carries this marker, so a later run can find
# (and clean up) processes that a killed test run left behind.
MARKER_PROPERTY = "kafka.kit.stack"
OWNER_PROPERTY = "kafka.kit.owner"
STOP_TIMEOUT_S = 30


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


def port_range():
    """(first, last) from KIT_PORT_RANGE, or None to let the system choose."""
    value = os.environ.get("KIT_PORT_RANGE", "")
    first, _, last = value.partition("-")
    if not (first.isdigit() and last.isdigit() and 1024 <= int(first) < int(last) <= 65535):
        return None
    return int(first), int(last)


_next_in_range = []  # this process's next candidate in KIT_PORT_RANGE: a port is handed out once


def free_port_block(size):
    """The first of `size` consecutive TCP ports that nothing listens on (inside KIT_PORT_RANGE when set)."""
    chosen = port_range()
    if chosen is None:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                base = sock.getsockname()[1]
            if base + size < 65535 and all(port_is_free(base + i) for i in range(size)):
                return base
        raise StackError(f"no block of {size} free ports found")
    first, last = chosen
    if not _next_in_range:
        _next_in_range.append(random.randint(first, last))  # a subprocess starts elsewhere in the range
    for _ in range(last - first + 1):
        base = _next_in_range[0]
        if base + size - 1 > last:
            base = first
        _next_in_range[0] = base + size
        if all(port_is_free(base + i) for i in range(size)):
            return base
    raise StackError(f"no block of {size} free ports left in KIT_PORT_RANGE={first}-{last}")


def free_port():
    """A TCP port that nothing listens on right now (inside KIT_PORT_RANGE when set)."""
    return free_port_block(1)


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
