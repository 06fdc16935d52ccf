"""The KRaft stack: one Kafka 4.1 node that is broker and controller at once, no ZooKeeper.

LocalKafkaKRaft is what `python tools/local_kafka.py start --kraft` runs. It shares LocalKafka's way of
starting, waiting for and stopping a broker, and differs in what KRaft needs: a storage formatted with
a cluster id before the first start, a controller port (the one after the broker's), Log4j 2's
configuration format. open_stack() tells which of the two stacks a state directory holds.
"""

import json
import subprocess
from pathlib import Path

from kafka_config import (
    BROKER_HEAP,
    KAFKA_MAIN,
    KRAFT_VERSION,
    LOG4J2_PROPERTIES,
    STORAGE_TOOL_MAIN,
    classpath,
    java_command,
    jvm_performance_options,
    kraft_properties,
    write_properties,
)
from pinned_jars import KRAFT_SET, fetch_jars, set_dir
from stack_common import StackError, shown_path
from stack_processes import check_ports_free
from zookeeper_stack import DEFAULT_STATE_DIR, LocalKafka

KRAFT_JARS_DIR = set_dir(KRAFT_SET)


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
        command = [java_command(), "-Xmx256m", *jvm_performance_options(), *self._logging_options(),
                   "-cp", classpath(self.jars_dir),
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
