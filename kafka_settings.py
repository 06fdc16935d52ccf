"""Settings shared by create_topic.py, producer.py and consumer.py.

Where is Kafka, which topic, and how to log in. Each value comes from, in order:
a command-line flag, an environment variable, or the default below.
"""

import argparse
import logging
import os
import socket
import sys

DEFAULT_BOOTSTRAP_SERVERS = "localhost:9092"
DEFAULT_TOPIC = "Users"

# How long a script waits for a broker before it gives up (kafka-python waits 30 s).
CONNECT_TIMEOUT_MS = 3500

HOW_TO_START_KAFKA = (
    "start it with 'docker compose up -d' or 'python tools/local_kafka.py start', "
    "or point --bootstrap-server / KAFKA_BOOTSTRAP_SERVERS at your broker"
)

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


class UsageError(Exception):
    """Bad input from the learner: the script says what is wrong and exits 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is reported in one line, not a usage dump."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def bootstrap_servers(text):
    """Check 'host:port[,host:port...]' and return it unchanged."""
    servers = text.strip()
    if not servers:
        raise argparse.ArgumentTypeError("the bootstrap server is empty; expected host:port, e.g. localhost:9092")
    for server in servers.split(","):
        host, colon, port = server.strip().rpartition(":")
        if not colon or not host:
            raise argparse.ArgumentTypeError(f"'{server}' has no port; expected host:port, e.g. localhost:9092")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise argparse.ArgumentTypeError(f"'{server}' has a port that is not a number from 1 to 65535")
    return servers


def topic_name(text):
    if not text or len(text) > 249 or not all(c.isalnum() or c in "._-" for c in text):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a valid topic name (letters, digits, '.', '_' and '-', at most 249)")
    return text


def positive_int(text):
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def add_connection_arguments(parser):
    """--bootstrap-server, --topic and --verbose, shared by every script."""
    parser.add_argument(
        "--bootstrap-server", type=bootstrap_servers,
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP_SERVERS),
        help="Kafka broker(s) as host:port (env KAFKA_BOOTSTRAP_SERVERS, default %(default)s)")
    parser.add_argument(
        "--topic", type=topic_name, default=os.environ.get("KAFKA_TOPIC", DEFAULT_TOPIC),
        help="topic name (env KAFKA_TOPIC, default %(default)s)")
    parser.add_argument(
        "--verbose", "-v", action="store_true",
        help="also show kafka-python's own log lines (passwords are never logged)")


def security_settings(environ=os.environ):
    """kafka-python settings for an authenticated cluster, from KAFKA_* variables.

    Empty for the local stack. For Confluent Cloud, MSK, Aiven and the like set
    KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD and, for a private CA, KAFKA_SSL_CAFILE.
    """
    protocol = environ.get("KAFKA_SECURITY_PROTOCOL", "").strip().upper()
    mechanism = environ.get("KAFKA_SASL_MECHANISM", "").strip().upper()
    username = environ.get("KAFKA_SASL_USERNAME", "")
    password = environ.get("KAFKA_SASL_PASSWORD", "")
    cafile = environ.get("KAFKA_SSL_CAFILE", "")
    if not protocol:
        protocol = "SASL_SSL" if mechanism else ("SSL" if cafile else "PLAINTEXT")
    if protocol not in SECURITY_PROTOCOLS:
        raise UsageError(f"KAFKA_SECURITY_PROTOCOL={protocol} is not one of {', '.join(SECURITY_PROTOCOLS)}")
    settings = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        mechanism = mechanism or "PLAIN"
        if mechanism not in SASL_MECHANISMS:
            raise UsageError(f"KAFKA_SASL_MECHANISM={mechanism} is not one of {', '.join(SASL_MECHANISMS)}")
        if not username:
            raise UsageError(f"KAFKA_SASL_USERNAME is not set; {protocol} with {mechanism} needs a username")
        if not password:
            raise UsageError(f"KAFKA_SASL_PASSWORD is not set; {protocol} with {mechanism} needs a password")
        settings.update(sasl_mechanism=mechanism, sasl_plain_username=username, sasl_plain_password=password)
    if cafile:
        if not protocol.endswith("SSL"):
            raise UsageError(f"KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL is {protocol}, not SSL/SASL_SSL")
        if not os.path.isfile(cafile):
            raise UsageError(f"KAFKA_SSL_CAFILE={cafile} is not a readable file")
        settings["ssl_cafile"] = cafile
    return settings


def connection_settings(args, client_id):
    """Where and how to connect: the part of every client's config that the three scripts share."""
    return {
        "bootstrap_servers": args.bootstrap_server.split(","),
        "client_id": client_id,  # shows up in the broker's logs and metrics
        "bootstrap_timeout_ms": CONNECT_TIMEOUT_MS,  # fail within seconds, not kafka-python's 30 s
        **security_settings(),
    }


class HidePassword(logging.Filter):
    """Blanks out the SASL password in a log line, however kafka-python quoted it."""

    def __init__(self, password):
        super().__init__()
        quoted = repr(password.encode("utf-8"))[2:-1]  # how it looks inside b'...'
        self.forms = sorted({password, repr(password)[1:-1], quoted, quoted.replace("\\'", "'"),
                             quoted.replace("'", "\\'")} - {""}, key=len, reverse=True)

    def filter(self, record):
        message = record.getMessage()
        if any(form in message for form in self.forms):
            for form in self.forms:
                message = message.replace(form, "*****")
            record.msg, record.args = message, ()
        return True


def configure_logging(verbose):
    """kafka-python logs retries as warnings; the scripts explain failures themselves."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    # kafka-python's DEBUG log shows the SASL/PLAIN login request, password included.
    for handler in logging.getLogger().handlers:
        handler.addFilter(HidePassword(os.environ.get("KAFKA_SASL_PASSWORD", "")))


def port_open(servers):
    """True if something accepts TCP connections at one of the host:port servers."""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return True
        except (OSError, ValueError):
            pass
    return False


def describe_failure(error, args):
    """One line that says what went wrong and what to do next."""
    text = str(error)
    name = type(error).__name__
    if "Authentication" in name or "SaslAuthentication" in name or "authentication" in text.lower():
        return (f"authentication failed at {args.bootstrap_server}: check KAFKA_SASL_USERNAME, "
                "KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM")
    if "bootstrap" in text.lower() or name in ("KafkaConnectionError", "NodeNotReadyError"):
        protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "").upper()
        if protocol.startswith("SASL") and port_open(args.bootstrap_server):
            # The broker answers a failed login by closing the connection; kafka-python 3.0.12 then
            # reports only that it could not connect, so a reachable port means the login failed.
            return (f"authentication failed at {args.bootstrap_server}: the broker is there but refused the "
                    "login; check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM and "
                    "KAFKA_SECURITY_PROTOCOL")
        return f"cannot reach Kafka at {args.bootstrap_server}: {HOW_TO_START_KAFKA}"
    if getattr(error, "errno", None) is not None:  # an error code sent by the broker
        return f"the broker answered {error.message}: {error.description}"
    return text


def silence_stdout():
    """After a broken pipe: send what Python still flushes at exit nowhere, instead of a second error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def summary_line(verb, count, size_bytes, seconds):
    """'Sent 1,000 records (0.1 MB) in 0.20 s: 5,000 records/s', the same for producer and consumer."""
    rate = count / seconds if seconds > 0 else 0.0
    noun = "record" if count == 1 else "records"
    return f"{verb} {count:,} {noun} ({size_bytes / 1e6:.1f} MB) in {seconds:.2f} s: {rate:,.0f} records/s"
