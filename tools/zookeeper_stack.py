"""The ZooKeeper-mode stack: one ZooKeeper and one to three Kafka 3.9.2 brokers as background java processes,
each with its own data dir, log file and pid file under one state directory (default: .local-kafka/).

LocalKafka is what `python tools/local_kafka.py start [--brokers N]` runs, and what the tests and
tools/bench.py start on free ports in temporary directories. It starts what is not running yet, waits
until each server answers, stops brokers before ZooKeeper, and keeps a running stack's ports in
stack.json so that `status` and `stop` find it again.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from kafka_config import (
    BROKER_HEAP,
    KAFKA_MAIN,
    KAFKA_VERSION,
    LOG4J_PROPERTIES,
    ZOOKEEPER_HEAP,
    ZOOKEEPER_MAIN,
    broker_properties,
    classpath,
    java_command,
    jvm_performance_options,
    write_properties,
)
from pinned_jars import JARS_DIR, fetch_jars
from stack_common import REPO_DIR, StackError, log_tail, shown_path
from stack_processes import (
    MARKER_PROPERTY,
    OWNER_PROPERTY,
    _die_with_parent,
    check_ports_free,
    pid_alive,
    port_is_open,
    read_pid,
    terminate,
)

DEFAULT_STATE_DIR = REPO_DIR / ".local-kafka"
START_TIMEOUT_S = 90


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
            java, *heap, *jvm_performance_options(),
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
