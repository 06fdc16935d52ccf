"""Where Kafka is, which topic, and how to log in: the settings every script shares.

Each value comes from, in order: a command-line flag, an environment variable, or the default below.
"""

import os

import helpers

DEFAULT_BOOTSTRAP_SERVERS = "localhost:9092"
DEFAULT_TOPIC = "Users"

# How long a script waits for a broker before it gives up (kafka-python's own default is 30 s).
CONNECT_TIMEOUT_MS = 3500
# The longest wait between two tries to reach a broker that went away (kafka-python varies it by up to 20%).
# It doubles after each failed try, up to 30 s by default: a script could stay away half a minute after a restart.
RECONNECT_BACKOFF_MAX_MS = 1000

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def add_connection_arguments(parser):
    """--bootstrap-server, --topic and --verbose, the same in every script."""
    parser.add_argument(
        "--bootstrap-server", type=helpers.bootstrap_servers,
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP_SERVERS),
        help="Kafka broker(s) as host:port (env KAFKA_BOOTSTRAP_SERVERS, default %(default)s)")
    parser.add_argument(
        "--topic", type=helpers.topic_name, default=os.environ.get("KAFKA_TOPIC", DEFAULT_TOPIC),
        help="topic name (env KAFKA_TOPIC, default %(default)s)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also show kafka-python's own log lines (passwords are never logged)")


def connection_settings(args, client_id):
    """Where and how to connect: the part of every client's config that the scripts share."""
    return {
        # Stopped brokers are left out of the list: kafka-python 3.0.12 can wait on one of them (see helpers).
        "bootstrap_servers": helpers.servers_to_bootstrap_from(args.bootstrap_server),
        "client_id": client_id,  # shows up in the broker's logs and metrics
        "bootstrap_timeout_ms": CONNECT_TIMEOUT_MS,  # fail within seconds when no broker answers
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,  # back within a second of a restarted broker
        **security_settings(os.environ),
    }


def security_settings(environ):
    """Settings for an authenticated cluster (Confluent Cloud, MSK, Aiven...), from KAFKA_* variables.

    Empty for the local stack. Set KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SASL_MECHANISM,
    KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and, for a private CA, KAFKA_SSL_CAFILE.
    """
    protocol = environ.get("KAFKA_SECURITY_PROTOCOL", "").strip().upper()
    mechanism = environ.get("KAFKA_SASL_MECHANISM", "").strip().upper()
    username, password = environ.get("KAFKA_SASL_USERNAME", ""), environ.get("KAFKA_SASL_PASSWORD", "")
    cafile = environ.get("KAFKA_SSL_CAFILE", "")
    if not protocol:
        protocol = "SASL_SSL" if mechanism else ("SSL" if cafile else "PLAINTEXT")
    if protocol not in SECURITY_PROTOCOLS:
        raise helpers.UsageError(f"KAFKA_SECURITY_PROTOCOL={protocol} is not one of {', '.join(SECURITY_PROTOCOLS)}")
    settings = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        mechanism = mechanism or "PLAIN"
        if mechanism not in SASL_MECHANISMS:
            raise helpers.UsageError(f"KAFKA_SASL_MECHANISM={mechanism} is not one of {', '.join(SASL_MECHANISMS)}")
        for name, value in (("KAFKA_SASL_USERNAME", username), ("KAFKA_SASL_PASSWORD", password)):
            if not value:
                raise helpers.UsageError(f"{name} is not set; {protocol} with {mechanism} needs it")
        settings.update(sasl_mechanism=mechanism, sasl_plain_username=username, sasl_plain_password=password)
    if cafile:
        if not protocol.endswith("SSL"):
            raise helpers.UsageError(f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL is {protocol}, not SSL")
        if not os.path.isfile(cafile):
            raise helpers.UsageError(f"KAFKA_SSL_CAFILE={cafile} is not a readable file")
        settings["ssl_cafile"] = cafile
    return settings
