"""Machinery the kit's scripts share that is not a Kafka lesson.

The scripts import it in one line (`import helpers`); you never need to open it to follow
the tutorial. What is where:

    cli.py          command-line parsing and checked input: one-line errors, argument types, JSON checks
    errors.py       turning a failure into one line that says what to do next
    passwords.py    logging set-up that never shows a SASL password
    output.py       progress and summary lines, and how every script ends (Ctrl-C, `| head`)
    workarounds.py  kafka-python behaviours the kit works around, each with its reason
"""

from helpers.cli import (
    ArgumentParser,
    UsageError,
    bootstrap_servers,
    compact_json,
    decode_json_object,
    json_object,
    json_record,
    positive_int,
    positive_seconds,
    read_lines,
    readable_once,
    topic_name,
)
from helpers.errors import describe_failure, fail, topic_missing
from helpers.output import Progress, Tally, key_text, print_line, raw_preview, run, summary_line
from helpers.passwords import configure_logging
from helpers.workarounds import AssignmentNews, SendsFinishBeforeCtrlC, close_producer

__all__ = [
    "ArgumentParser", "AssignmentNews", "Progress", "Tally", "UsageError", "bootstrap_servers", "close_producer",
    "compact_json", "configure_logging", "decode_json_object", "describe_failure", "fail", "json_object",
    "json_record", "key_text", "positive_int", "positive_seconds", "print_line", "raw_preview", "read_lines",
    "readable_once", "run", "SendsFinishBeforeCtrlC", "summary_line", "topic_missing", "topic_name",
]
