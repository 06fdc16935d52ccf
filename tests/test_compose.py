"""docker-compose.yml, proven without a Docker engine.

The file is parsed and checked for what the README promises (pinned 7.9.x images, healthchecks,
named listeners, one replica for internal topics). Then the kafka service's KAFKA_* environment is
turned into server.properties the way the cp-kafka image does it, a real broker is started with
exactly those settings (only container hostnames and ports are remapped to this machine), and the
three scripts run through the HOST listener. Broken variants of the file must fail the same check.
"""

import re

import pytest
import yaml
from compose_check import (
    bind_mounts,
    broker_properties_from_compose,
    environment,
    local_properties,
    published_ports,
    service,
)
from support import REPO, local_kafka, run_script, unique_name

COMPOSE = REPO / "docker-compose.yml"
LISTENER = re.compile(r"(?P<name>[A-Z_]+)://(?P<host>[^:,]+):(?P<port>\d+)")


def test_compose_file_pins_images_has_healthchecks_and_names_its_listeners():
    compose = yaml.safe_load(COMPOSE.read_text())
    assert set(compose["services"]) == {"zookeeper", "kafka", "connect", "postgres", "cdc-connect"}
    assert service(compose, "connect")["profiles"] == ["connect"]  # `docker compose up -d` starts only two
    for name, image in (("zookeeper", "cp-zookeeper"), ("kafka", "cp-kafka"), ("connect", "cp-kafka-connect"),
                        ("cdc-connect", "cp-kafka-connect")):
        svc = service(compose, name)
        assert re.fullmatch(rf"confluentinc/{image}:7\.9\.\d+", svc["image"]), svc["image"]
        assert svc["healthcheck"]["test"], f"{name} has no healthcheck"
    assert service(compose, "kafka")["depends_on"] == {"zookeeper": {"condition": "service_healthy"}}
    props = broker_properties_from_compose(COMPOSE, "kafka")
    advertised = {m["name"]: (m["host"], int(m["port"])) for m in LISTENER.finditer(props["advertised.listeners"])}
    assert advertised == {"INTERNAL": ("kafka", 29092), "HOST": ("localhost", 9092)}
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert (9092, 9092) in published_ports(COMPOSE, "kafka")
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"
    assert environment(COMPOSE, "zookeeper")["ZOOKEEPER_CLIENT_PORT"] == "2181"


def properties_for_this_machine(compose_path):
    """The image's server.properties with container hosts and ports moved onto this machine.

    Listeners published to the host keep the host name they advertise (the scripts on your
    machine must be able to reach it as written); only their port moves to a free one.
    Container-only listeners and ZooKeeper get localhost.
    """
    props = broker_properties_from_compose(compose_path, "kafka")
    published = {container for _, container in published_ports(compose_path, "kafka")}
    ports = {int(m["port"]) for m in LISTENER.finditer(props["listeners"] + "," + props["advertised.listeners"])}
    port_map = {port: "{port}" if port in published else local_kafka.free_port() for port in ports}
    port_map[int(props["zookeeper.connect"].rsplit(":", 1)[1])] = "{zk_port}"
    extra = local_properties(props, port_map)

    def advertised(match):
        port = int(match["port"])
        host = match["host"] if port in published else "localhost"
        return f"{match['name']}://{host}:{port_map[port]}"

    extra["advertised.listeners"] = LISTENER.sub(advertised, props["advertised.listeners"])
    return extra


def run_the_kit_through_the_host_listener(stack_factory, compose_path):
    stack = stack_factory.start(extra_properties=properties_for_this_machine(compose_path))
    try:
        host = f"localhost:{stack.port}"
        topic = unique_name("compose")
        results = [run_script("create_topic.py", "--topic", topic, bootstrap=host, timeout=60),
                   run_script("producer.py", "--topic", topic, bootstrap=host, timeout=60),
                   run_script("consumer.py", "--topic", topic, "--max-messages", 1, "--timeout", 15, bootstrap=host,
                              timeout=60)]
        return stack, results
    finally:
        stack.stop()


def test_the_three_scripts_work_through_the_compose_host_listener(stack_factory):
    stack, (created, sent, received) = run_the_kit_through_the_host_listener(stack_factory, COMPOSE)
    server_properties = (stack.broker_dir(0) / "server.properties").read_text()
    assert "inter.broker.listener.name=INTERNAL" in server_properties
    assert re.search(r"^advertised.listeners=INTERNAL://localhost:\d+,HOST://localhost:\d+$", server_properties, re.M)
    assert created.returncode == 0, created
    assert sent.returncode == 0, sent
    assert received.returncode == 0, received
    assert any(line.startswith("Data Received  partition 0   offset 0 ") for line in received.lines)


@pytest.mark.parametrize("broken, replacement", [
    # The classic mistake: the host's listener advertises the container's name.
    ("HOST://localhost:9092", "HOST://kafka:9092"),
    # The host's listener advertises a port that is not the one published to the host.
    ("HOST://localhost:9092\n", "HOST://localhost:19092\n"),
])
@pytest.mark.slow
def test_a_wrong_listener_setup_fails_the_same_check(stack_factory, tmp_path, broken, replacement):
    text = COMPOSE.read_text()
    assert broken in text
    wrong = tmp_path / "docker-compose.yml"
    wrong.write_text(text.replace(broken, replacement, 1))
    _, (created, sent, received) = run_the_kit_through_the_host_listener(stack_factory, wrong)
    assert sent.returncode != 0 or received.returncode != 0
    assert "Traceback" not in sent.stderr + received.stderr


def test_cdc_profile_pins_postgres_and_mounts_the_fetched_debezium_plugin():
    """The cdc profile's static promises; tests/test_cdc.py runs its settings as real processes."""
    compose = yaml.safe_load(COMPOSE.read_text())
    postgres, connect = service(compose, "postgres"), service(compose, "cdc-connect")
    assert postgres["profiles"] == connect["profiles"] == ["cdc"]
    assert re.fullmatch(r"postgres:\d+\.\d+", postgres["image"]), postgres["image"]  # a minor release, not :latest
    assert "wal_level=logical" in postgres["command"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert connect["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                     "postgres": {"condition": "service_healthy"}}
    pom = (REPO / "tools" / "pom-debezium.xml").read_text()
    version = re.search(r"<debezium.version>([^<]+)</debezium.version>", pom).group(1)
    mounts = bind_mounts(compose, "cdc-connect")
    assert mounts["/usr/share/debezium"] == f"./tools/.kafka-jars/debezium-{version}"
    assert "/usr/share/debezium" in environment(compose, "cdc-connect")["CONNECT_PLUGIN_PATH"].split(",")
    published = {host for host, _ in published_ports(COMPOSE, "connect") + published_ports(COMPOSE, "cdc-connect")}
    assert len(published) == 2, "both Connect workers can run at once: their REST ports differ"
