"""Command-line parsing and checked input: a mistake is one line and exit 2, never a usage dump or a traceback."""

import argparse
import contextlib
import json
import os
import stat
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
# Input lines are read at most this long: memory stays bounded whatever a file holds. The margin is for
# the spaces compact JSON drops; a longer line is refused without being read whole.
MAX_LINE_BYTES = 2 * MAX_RECORD_BYTES
COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once: cheaper in bulk


class _NotJson(ValueError):
    pass


def _reject_nan(name):
    """Python's json accepts NaN and Infinity, which are not JSON: other clients could not read them."""
    raise _NotJson(f"{name} is not valid JSON (JSON has no NaN or Infinity)")


JSON_DECODER = json.JSONDecoder(parse_constant=_reject_nan)  # made once: json.loads(text, ...) makes one per call


def json_type(value):
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def compact_json(value):
    """UTF-8 JSON with no spaces: what goes over the wire."""
    return COMPACT_JSON.encode(value).encode("utf-8")


def json_object(text, where):
    """The JSON object in `text` (str or UTF-8 bytes), or a UsageError that starts with `where`.

    `text` None stands for a line longer than MAX_LINE_BYTES, which read_lines() skipped unread.
    """
    if text is None:
        raise UsageError(f"{where}: longer than {MAX_LINE_BYTES:,} bytes, so not read; Kafka accepts at most "
                         f"about 1 MB per record (the broker's message.max.bytes)")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{where}: not UTF-8 text") from None
    try:
        value = JSON_DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{where}: invalid JSON ({error.msg})") from None
    except _NotJson as error:
        raise UsageError(f"{where}: {error}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{where}: expected a JSON object {{...}}, got a JSON {json_type(value)}")
    return value


def json_record(text, where):
    """(the JSON object in `text`, its compact UTF-8 bytes), or a UsageError that starts with `where`."""
    value = json_object(text, where)
    encoded = compact_json(value)
    if len(encoded) > MAX_RECORD_BYTES:
        raise UsageError(f"{where}: the record is {len(encoded):,} bytes; Kafka accepts at most about 1 MB per "
                         f"record (the broker's message.max.bytes)")
    return value, encoded


def json_line(line, where):
    """(the JSON object on a line of a file, the line's own bytes without the spaces around it), or a UsageError
    that starts with `where`. The line is sent as it is written: checking it costs one parse, and a consumer
    reads exactly what the file holds."""
    value = json_object(line, where)
    data = line.strip()
    if len(data) > MAX_RECORD_BYTES:
        raise UsageError(f"{where}: the record is {len(data):,} bytes; Kafka accepts at most about 1 MB per "
                         f"record (the broker's message.max.bytes)")
    return value, data


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


def readable_once(path):
    """True for '-' and for a pipe (a FIFO, <(...), /dev/stdin fed by a pipe) or a device such as a terminal."""
    if path == "-":
        return True
    try:
        mode = os.stat(path).st_mode
        return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)
    except OSError:
        return False  # open() below says what is wrong with it


@contextlib.contextmanager
def read_lines(path):
    """The lines of a file, or of standard input for '-', that hold something, as (where, bytes).

    Read one at a time, each at most MAX_LINE_BYTES: a longer line is skipped unread and given as None,
    so a file without a single newline cannot fill the memory.
    """
    if path == "-":
        yield _lines(sys.stdin.buffer, "standard input line ")
        return
    try:
        file = open(path, "rb")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    with file:
        yield _lines(file, f"{path} line " if readable_once(path) else "line ")


def _lines(file, where):
    number = 0
    while True:
        line = file.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # the rest of it, a piece at a time
                line = file.readline(MAX_LINE_BYTES)
            yield f"{where}{number}", None
        elif not line.isspace():
            yield f"{where}{number}", line
