"""Check a compose file without Docker: turn its broker's environment into server.properties.

The confluentinc/cp-kafka and apache/kafka images build the broker's server.properties
from the container's KAFKA_* variables. This module applies the same rule, so a test can
start a real local broker with exactly those settings (only hosts and ports remapped,
since nothing runs in containers here) and point the kit's scripts at its HOST listener.

    props = broker_properties_from_compose("docker-compose.yml", "kafka")
    extra = local_properties(props, port_map={9092: "{port}", 29092: free_port()},
                             host_ports=[9092])
    stack = stack_factory.start(extra_properties=extra)

For several brokers, pass one such dict per broker: stack_factory.start(brokers=3,
broker_properties={0: ..., 1: ..., 2: ...}); for KRaft, stack_factory.start(kraft=True, ...)
with the controller's port mapped to "{controller_port}".

The rule, as both images apply it to a variable KAFKA_<NAME>:
    <NAME> is lower-cased; '___' becomes '-', '__' becomes '_', and a single '_' becomes '.'
    KAFKA_LOG4J_ROOT_LOGLEVEL -> (not a broker property)  KAFKA_BROKER_ID -> broker.id
Variables that configure the JVM or logging rather than the broker are dropped.
"""

import re
from pathlib import Path

import yaml

# KAFKA_* variables the images read themselves instead of writing them to server.properties.
NOT_BROKER_PROPERTIES = {
    "KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL", "KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_OPTS", "KAFKA_JMX_PORT", "KAFKA_JMX_HOSTNAME", "KAFKA_ZOOKEEPER_CLIENT_CNXN_SOCKET",
}
NOT_BROKER_PREFIXES = ("KAFKA_JMX_", "KAFKA_LOG4J_")

# Properties whose values hold network addresses (remapped to this machine).
ADDRESS_PROPERTIES = ("listeners", "advertised.listeners", "zookeeper.connect", "controller.quorum.voters",
                      "controller.quorum.bootstrap.servers")

# Properties that name container paths or identities the local stack chooses itself.
LOCAL_ONLY = ("log.dirs", "log.dir", "metadata.log.dir")

# Kafka's own defaults for the keys tools/local_kafka.py sets, so that a setting missing from
# the compose file is missing from the check too, instead of being covered by the local default.
KAFKA_DEFAULTS = {
    "num.partitions": "1",
    "auto.create.topics.enable": "true",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "group.initial.rebalance.delay.ms": "3000",
    "controlled.shutdown.enable": "true",
    "zookeeper.connection.timeout.ms": "18000",
}


# Kafka's defaults for what tools/local_kafka.py sets only in KRaft mode (Kafka 4.x).
KRAFT_DEFAULTS = {
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
}


def load_compose(path):
    return yaml.safe_load(Path(path).read_text())


def service(compose_or_path, name):
    compose = compose_or_path if isinstance(compose_or_path, dict) else load_compose(compose_or_path)
    services = compose.get("services") or {}
    assert name in services, f"no service {name!r} in the compose file (has {sorted(services)})"
    return services[name]


def environment(compose_or_path, name):
    """A service's environment as a dict of strings (compose allows a mapping or a KEY=VALUE list)."""
    env = service(compose_or_path, name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in env.items()}


def property_name(variable):
    """KAFKA_FOO_BAR -> foo.bar, the images' rule; None for variables that are not broker properties."""
    if not variable.startswith("KAFKA_") or variable in NOT_BROKER_PROPERTIES:
        return None
    if variable.startswith(NOT_BROKER_PREFIXES):
        return None
    name = variable[len("KAFKA_"):].lower()
    # Protect the longer runs first: ___ is a dash, __ an underscore, the rest are dots.
    return name.replace("___", "\0dash\0").replace("__", "\0under\0").replace("_", ".") \
        .replace("\0dash\0", "-").replace("\0under\0", "_")


def broker_properties_from_compose(path, service_name):
    """The server.properties keys and values the image would write for this service."""
    props = {}
    for variable, value in environment(path, service_name).items():
        key = property_name(variable)
        if key:
            props[key] = value
    return props


def published_ports(path, service_name):
    """[(host_port, container_port)] from a service's `ports:` section."""
    found = []
    for entry in service(path, service_name).get("ports") or []:
        if isinstance(entry, dict):
            found.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        host, container = (parts[-2], parts[-1]) if len(parts) >= 2 else (parts[-1], parts[-1])
        found.append((int(host), int(container)))
    return found


_ADDRESS = re.compile(r"(?P<prefix>(?:[A-Za-z0-9_]+://)|(?:\d+@))?(?P<host>\[[^\]]*\]|[^:,/@\s]*):(?P<port>\d+)")


def addresses(props):
    """[(key, host, port)] for every host:port in the address-bearing properties."""
    found = []
    for key in ADDRESS_PROPERTIES:
        for match in _ADDRESS.finditer(props.get(key, "")):
            found.append((key, match.group("host"), int(match.group("port"))))
    return found


def remap_addresses(props, port_map, host="localhost", published=()):
    """Every host becomes `host` (0.0.0.0 too) and every port goes through port_map.

    port_map values may be ints or placeholders LocalKafka expands per broker ("{port}",
    "{zk_port}", "{controller_port}"). A port missing from port_map is an error: the check must
    know every port. Advertised listeners on a port in `published` (the container ports the
    compose file publishes to your machine) keep their host as written: the scripts on your
    machine must reach it as it stands, so a `HOST://kafka:9092` mistake still fails the check.
    """
    remapped = dict(props)
    for key in ADDRESS_PROPERTIES:
        if key not in props:
            continue

        def swap(match, key=key):
            port = int(match.group("port"))
            assert port in port_map, f"{key}: port {port} in {props[key]!r} has no local port (port_map)"
            keep = key == "advertised.listeners" and port in published
            return f"{match.group('prefix') or ''}{match.group('host') if keep else host}:{port_map[port]}"

        remapped[key] = _ADDRESS.sub(swap, props[key])
    return remapped


def local_properties(props, port_map, host="localhost", published=()):
    """extra_properties for LocalKafka: the compose settings, remapped, over Kafka's defaults.

    The local stack's own conveniences (group.initial.rebalance.delay.ms=0 and the like) are
    reset to Kafka's defaults unless the compose file sets them, so the broker started runs
    what the image would run.
    """
    kraft = "process.roles" in props
    extra = {k: v for k, v in KAFKA_DEFAULTS.items() if not (kraft and k.startswith("zookeeper."))}
    if kraft:
        extra.update(KRAFT_DEFAULTS)
    remapped = remap_addresses(props, port_map, host, published)
    extra.update({k: v for k, v in remapped.items() if k not in LOCAL_ONLY})
    return extra


def check_covers_local_defaults(local_props):
    """Fail loudly if tools/local_kafka.py grows a setting that KAFKA_DEFAULTS does not reset."""
    handled = set(KAFKA_DEFAULTS) | set(KRAFT_DEFAULTS) | set(LOCAL_ONLY) | {
        "broker.id", "node.id", "listeners", "advertised.listeners", "listener.security.protocol.map",
        "inter.broker.listener.name", "zookeeper.connect", "process.roles", "controller.quorum.voters",
        "controller.listener.names", "controller.quorum.bootstrap.servers",
    }
    missing = sorted(set(local_props) - handled)
    assert not missing, f"compose_check.KAFKA_DEFAULTS lacks Kafka's defaults for {missing}"


def connect_worker_properties(compose_or_path, service_name):
    """The worker properties cp-kafka-connect writes from a service's CONNECT_* variables.

    Same rule as for the broker (CONNECT_GROUP_ID -> group.id, '___' -> '-', '__' -> '_');
    CONNECT_LOG4J_* configure logging, not the worker.
    """
    props = {}
    for variable, value in environment(compose_or_path, service_name).items():
        if variable.startswith("CONNECT_") and not variable.startswith("CONNECT_LOG4J"):
            props[property_name("KAFKA_" + variable[len("CONNECT_"):])] = value
    return props


def bind_mounts(compose_or_path, service_name):
    """{container path: host path as written} for a service's bind mounts (short or long syntax)."""
    mounts = {}
    for volume in service(compose_or_path, service_name).get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts[volume["target"]] = volume["source"]
        else:
            source, target = str(volume).split(":")[:2]
            mounts[target] = source
    return mounts
