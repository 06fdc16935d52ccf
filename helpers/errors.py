"""Turning a failure into one line that says what went wrong and what to do next."""

import os
import socket

from helpers.output import print_error

HOW_TO_START_KAFKA = (
    "start it with 'docker compose up -d' or 'python tools/local_kafka.py start', "
    "or point --bootstrap-server / KAFKA_BOOTSTRAP_SERVERS at your broker"
)


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
    if isinstance(error, str):  # the script's own words
        return error
    text = str(error)
    name = type(error).__name__
    if "Authentication" in name or "authentication" in text.lower():
        return (f"authentication failed at {args.bootstrap_server}: check KAFKA_SASL_USERNAME, "
                "KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM")
    if "bootstrap" in text.lower() or name in ("KafkaConnectionError", "NodeNotReadyError"):
        protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "").upper()
        if protocol.startswith("SASL") and port_open(args.bootstrap_server):
            # kafka-python 3.0.12 drops the broker's "login refused" answer, which arrives together with
            # the connection close, and reports only that it could not connect. A reachable port with
            # SASL configured therefore means the login failed.
            return (f"authentication failed at {args.bootstrap_server}: the broker is there but refused the "
                    "login; check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SASL_MECHANISM and "
                    "KAFKA_SECURITY_PROTOCOL")
        return f"cannot reach Kafka at {args.bootstrap_server}: {HOW_TO_START_KAFKA}"
    if getattr(error, "errno", None) is not None:  # an error code sent by the broker
        return f"the broker answered {error.message}: {error.description}"
    return text or name


def fail(error, args, status=1):
    """Print the one-line explanation of a Kafka error and return the exit status."""
    print_error(f"error: {describe_failure(error, args)}")
    return status


def topic_missing(args, status=1, suffix=""):
    print_error(f"error: topic '{args.topic}' does not exist at {args.bootstrap_server}; create it with "
                f"'python create_topic.py --topic {args.topic}'{suffix}")
    return status


def transactions_not_ready(args, seconds, status=1):
    """init_transactions() timed out: the broker is there, but its transaction coordinator did not answer."""
    print_error(f"error: the broker at {args.bootstrap_server} did not get the transactional producer ready within "
                f"{seconds:g} s (init_transactions). On a new broker the first transaction creates the internal "
                f"topic __transaction_state, which can take longer on a busy machine: run the script again. If it "
                f"fails again, a broker is down or __transaction_state lacks in-sync replicas: check 'python "
                f"tools/local_kafka.py status' and the brokers' logs.")
    return status
