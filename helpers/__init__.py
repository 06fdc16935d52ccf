"""Machinery the kit's scripts share that is not a Kafka lesson.

The scripts import it in one line (`import helpers`); you never need to open it to follow
the tutorial. What is where:

    cli.py          command-line parsing and checked input: one-line errors, argument types, JSON checks
    errors.py       turning a failure into one line that says what to do next
    passwords.py    logging set-up that never shows a SASL password
    output.py       progress and summary lines, consumer.py's lines, and how every script ends (Ctrl-C, `| head`)
    workarounds.py  kafka-python behaviours the kit works around, each with its reason
    transactions.py ending a transaction within a time limit, and saying how it ended
    processing.py   the stream-processing stages' topic checks, dead letters, batch lines and restore
    interrupts.py   a Ctrl-C while Python is still importing kafka-python: one line, not a traceback
    log_view_web.py log_view.py's page server (Server-Sent Events) and what the page is told
    log_view_page/  log_view.py's page: plain HTML, CSS and JavaScript, no build step
"""

# First, before anything here imports kafka-python (slow): from now on a stray Ctrl-C ends in one line.
import helpers.interrupts  # noqa: F401  (it installs its hook when imported)

# isort: split

from helpers.cli import (
    ArgumentParser,
    UsageError,
    bootstrap_servers,
    compact_json,
    decode_json_object,
    json_line,
    json_object,
    json_record,
    port_number,
    positive_int,
    positive_seconds,
    read_lines,
    readable_once,
    topic_name,
)
from helpers.errors import describe_failure, fail, topic_missing, transactions_not_ready
from helpers.output import (
    Progress,
    Tally,
    Terminated,
    ctrl_c_waits,
    key_text,
    print_error,
    print_how_the_consumer_ended,
    print_line,
    print_where_the_group_starts,
    raise_terminated,
    raw_preview,
    run,
    show_record,
    stopped_by,
    summary_line,
)
from helpers.passwords import configure_logging
from helpers.processing import (
    RestoreNews,
    Stopper,
    add_stage_arguments,
    bad_user_reason,
    batch_line,
    counts_line,
    dlq_headers,
    ensure_topic,
    next_offsets,
    partition_count,
    recover,
    restore_counts,
    rewind,
    starting_line,
    test_pause,
)
from helpers.transactions import (
    abort_transaction,
    commit_transaction,
    end_after_ctrl_c,
    end_after_error,
    init_transactions,
    send_offsets_to_transaction,
)
from helpers.workarounds import (
    AssignmentNews,
    close_producer,
    servers_to_bootstrap_from,
    subscribe,
    wait_for_kafka,
)

__all__ = [
    "ArgumentParser", "AssignmentNews", "ctrl_c_waits", "Progress", "Tally", "UsageError",
    "bootstrap_servers", "close_producer",
    "compact_json", "configure_logging", "decode_json_object", "describe_failure", "fail", "json_line", "json_object",
    "json_record", "key_text", "port_number", "positive_int", "positive_seconds", "print_line", "raw_preview",
    "read_lines", "readable_once", "run", "summary_line", "topic_missing", "topic_name",
    "Terminated", "raise_terminated", "servers_to_bootstrap_from", "stopped_by", "subscribe", "wait_for_kafka",
    "print_error", "print_how_the_consumer_ended", "print_where_the_group_starts", "show_record",
    "abort_transaction", "commit_transaction", "end_after_ctrl_c", "end_after_error", "init_transactions",
    "send_offsets_to_transaction", "transactions_not_ready",
    "Stopper", "bad_user_reason", "batch_line", "counts_line", "dlq_headers", "ensure_topic", "next_offsets",
    "partition_count", "recover", "restore_counts", "rewind", "test_pause",
    "RestoreNews", "add_stage_arguments", "starting_line",
]
