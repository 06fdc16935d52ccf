"""Command-line parsing and checked input: a mistake is one line and exit 2, never a usage dump or a traceback."""

import argparse
import contextlib
import json
import sys


class UsageError(Exception):
    """Bad input from the learner: the script says what is wrong and exits 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is reported in one line."""

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


def port_number(text):
    """A TCP port for a server of the kit: 1 to 65535, or 0 to let the system pick a free one."""
    if not text.isdigit() or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number from 0 to 65535")
    return int(text)


def positive_seconds(text):
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return seconds


# The broker rejects larger records by default (its message.max.bytes is about 1 MB).
MAX_RECORD_BYTES = 1_000_000
COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once: cheaper in bulk


class _NotJson(ValueError):
    pass


def _reject_nan(name):
    """Python's json accepts NaN and Infinity, which are not JSON: other clients could not read them."""
    raise _NotJson(f"{name} is not valid JSON (JSON has no NaN or Infinity)")


def json_type(value):
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def compact_json(value):
    """UTF-8 JSON with no spaces: what goes over the wire."""
    return COMPACT_JSON.encode(value).encode("utf-8")


def json_record(text, where):
    """(the JSON object in `text`, its compact UTF-8 bytes), or a UsageError that starts with `where`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{where}: not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_reject_nan)
    except json.JSONDecodeError as error:
        raise UsageError(f"{where}: invalid JSON ({error.msg})") from None
    except _NotJson as error:
        raise UsageError(f"{where}: {error}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object {{...}}, got a JSON {json_type(value)}")
    encoded = compact_json(value)
    if len(encoded) > MAX_RECORD_BYTES:
        raise UsageError(f"{where}: the record is {len(encoded):,} bytes; Kafka accepts at most about 1 MB per "
                         f"record (the broker's message.max.bytes)")
    return value, encoded


def decode_json_object(value):
    """(the JSON object in a record's bytes, None), or (None, what is wrong with it)."""
    if not value:
        return None, "empty value"
    try:
        data = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except ValueError:
        return None, "not JSON"
    if not isinstance(data, dict):
        return None, "JSON, but not an object"
    return data, None


@contextlib.contextmanager
def open_lines(path):
    """The lines of a file, or of standard input for '-', as (where, bytes), read one at a time."""
    if path == "-":
        yield ((f"standard input line {n}", line) for n, line in enumerate(sys.stdin.buffer, start=1))
        return
    try:
        file = open(path, "rb")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    with file:
        yield ((f"line {n}", line) for n, line in enumerate(file, start=1))
