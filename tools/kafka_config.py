"""How the kit's Kafka servers are configured and started: the versions, the server.properties of a ZooKeeper-mode
broker and of a KRaft node, their logging, heaps and the java command line.

The settings mirror docker-compose.yml (one broker) and docker-compose.cluster.yml (three): the tests
compare them (tests/compose_check.py). tools/zookeeper_stack.py and tools/kraft_stack.py write these
properties into each server's folder; tools/bench.py and the tests reuse the java command and classpath.
"""

import os
import shutil
from pathlib import Path

from pinned_jars import JARS_DIR
from stack_common import StackError

KAFKA_VERSION = "3.9.2"
KRAFT_VERSION = "4.1.0"  # keep equal to tools/pom-kraft.xml and docker-compose.kraft.yml's image tag

ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
KAFKA_MAIN = "kafka.Kafka"

# Explicit heaps: the stack must fit beside the tests on a 2-core machine.
ZOOKEEPER_HEAP = ["-Xms64m", "-Xmx256m"]
BROKER_HEAP = ["-Xms256m", "-Xmx768m"]
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"


# How the JVM compiles and collects garbage. KAFKA_JVM_PERFORMANCE_OPTS replaces these, as it does in Kafka's own
# start scripts (kafka-run-class.sh). The tests set a lighter one: many short-lived servers share two cores.
DEFAULT_JVM_PERFORMANCE_OPTS = ["-server", "-XX:+UseG1GC", "-Djava.awt.headless=true"]


def jvm_performance_options():
    return os.environ.get("KAFKA_JVM_PERFORMANCE_OPTS", "").split() or DEFAULT_JVM_PERFORMANCE_OPTS


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


