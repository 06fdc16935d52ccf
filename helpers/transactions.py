"""Ending a Kafka transaction within a time limit, and saying in one line how it ended.

kafka-python 3.0.12's commit_transaction() and abort_transaction() wait for the broker's answer with no
time limit, so with the broker down they hang for ever (Java's producer gives up after max.block.ms).
And once a commit has started (state COMMITTING_TRANSACTION), abort_transaction() is refused with a
KafkaError, so a Ctrl-C during the commit cannot simply abort. The functions below start the commit or
the abort through the producer's private _transaction_manager and _sender, as commit_transaction() does,
and wait at most max_block_ms: there is no public way to bound that wait.

The outcome is "committed", "aborted" or "unknown" (a commit was sent but not confirmed). A commit that
reached the broker completes even if the producer is gone. A transaction that was not committed is
aborted in the end even if its abort was not confirmed ("aborted later"): at once by the next
init_transactions() with the same transactional id, or by the broker when the transaction's timeout
(transaction_timeout_ms, 60 s by default) runs out.
"""

import time
import weakref

from helpers.errors import describe_failure

from kafka.errors import KafkaError, KafkaTimeoutError

COMMITTED, ABORTED, UNKNOWN = "committed", "aborted", "unknown"
WILL_ABORT = "aborted later"  # not committed; the abort is not confirmed, but the broker aborts it in the end
STATE_POLL_SECONDS = 0.05

# The commit or abort each producer has started: (COMMITTED or ABORTED, kafka-python's pending result,
# when our wait for it ends).
_ending = weakref.WeakKeyDictionary()


class TransactionTimeoutError(KafkaTimeoutError):
    """The broker did not confirm the commit or abort within max_block_ms."""

    def __str__(self):
        return self.args[0]


def init_transactions(producer, seconds):
    """producer.init_transactions(), given `seconds` instead of max_block_ms to get ready.

    The first transaction on a new broker creates the internal topic __transaction_state (50 partitions),
    which can take longer than max_block_ms. Calling init_transactions() again after its KafkaTimeoutError
    keeps waiting for the same request, as kafka-python documents. Keep `seconds` below request_timeout_ms
    (30 s by default): once the request has waited that long, kafka-python 3.0.12 fails the producer for good
    with "Could not execute transactional request for unknown reasons" instead of a timeout.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return producer.init_transactions()
        except KafkaTimeoutError:
            # Each call waits max_block_ms: make another one only if it ends by the deadline (give or take 0.5 s).
            if time.monotonic() + producer.config["max_block_ms"] / 1000 > deadline + 0.5:
                raise


def commit_transaction(producer):
    """producer.commit_transaction(), but a TransactionTimeoutError after max_block_ms without an answer."""
    _end(producer, COMMITTED, producer._transaction_manager.begin_commit)


def abort_transaction(producer):
    """producer.abort_transaction(), but a TransactionTimeoutError after max_block_ms without an answer."""
    _end(producer, ABORTED, producer._transaction_manager.begin_abort)


def send_offsets_to_transaction(producer, offsets, group_metadata):
    """producer.send_offsets_to_transaction(), but a TransactionTimeoutError after max_block_ms without an answer.

    kafka-python 3.0.12 waits for this answer with no time limit, and its sender drops a transactional request
    for good if the connection to the coordinator fails just as the request goes out (a broker restarting): the
    wait would then never end.
    """
    result = producer._transaction_manager.send_offsets_to_transaction(offsets, group_metadata)
    producer._sender.wakeup()
    if not result.wait(timeout_ms=producer.config["max_block_ms"]):
        raise TransactionTimeoutError(f"the broker did not confirm the offsets within "
                                      f"{producer.config['max_block_ms'] / 1000:g} s")


def _end(producer, outcome, begin):
    result = begin()
    _ending[producer] = (outcome, result, time.monotonic() + producer.config["max_block_ms"] / 1000)
    producer._sender.wakeup()
    if not result.wait(timeout_ms=producer.config["max_block_ms"]):
        verb = "commit" if outcome == COMMITTED else "abort"
        raise TransactionTimeoutError(f"the broker did not confirm the {verb} within "
                                      f"{producer.config['max_block_ms'] / 1000:g} s")


def end_after_ctrl_c(producer, args):
    """End the transaction after a Ctrl-C (see _end_after_failure); the line that says how it ended."""
    outcome = _end_after_failure(producer)
    if outcome == ABORTED:
        return "Transaction aborted (Ctrl-C): the records are in the log, but read_committed consumers never see them."
    if outcome == COMMITTED:
        return (f"Transaction committed (the Ctrl-C came too late to stop it): read_committed consumers see the "
                f"whole batch ({args.count} record(s)).")
    return _unconfirmed_line(outcome, "Transaction not committed (Ctrl-C)", "Transaction outcome unknown (Ctrl-C)",
                             args.topic)


def end_after_error(producer, error, args):
    """End the transaction after a KafkaError (see _end_after_failure); the error line, outcome included."""
    # When a record or request failed, kafka-python raises "we are in an error state": name that first error.
    error = producer._transaction_manager.last_error or error
    if isinstance(error, KafkaTimeoutError) and not isinstance(error, TransactionTimeoutError):
        error = "the broker did not acknowledge every record in time (flush)"  # kafka-python: "waiting for future"
    why = f"error: {describe_failure(error, args).rstrip('.')}."
    outcome = _end_after_failure(producer)
    if outcome == ABORTED:
        return f"{why} Transaction aborted: read_committed consumers never see any of its records."
    if outcome == COMMITTED:  # the error came after the commit was confirmed
        return f"{why} The transaction was committed all the same ({args.count} record(s))."
    return _unconfirmed_line(outcome, f"{why} Transaction not committed", f"{why} Transaction outcome unknown",
                             args.topic)


def _unconfirmed_line(outcome, not_committed, unknown, topic):
    if outcome == WILL_ABORT:
        return (f"{not_committed}, and its abort is not confirmed yet: the broker aborts it when this script runs "
                f"again for topic '{topic}', or about 60 s after it began; read_committed consumers never see its "
                f"records.")
    return (f"{unknown}: committed if the commit reached the broker, otherwise aborted (when this script runs "
            f"again for topic '{topic}', or about 60 s after it began); "
            f"'python consumer.py --topic {topic} --read-committed' shows which.")


def _end_after_failure(producer):
    """End the open transaction after an error or a Ctrl-C, as far as its state allows; returns the outcome.

    An open transaction is aborted. A commit or abort already under way gets the rest of its max_block_ms
    to finish. A second Ctrl-C stops the waiting.
    """
    manager = producer._transaction_manager
    started, result, deadline = _ending.get(producer, (None, None, time.monotonic()))
    # Not confirmed: a commit may have reached the broker; anything else ends in an abort, sooner or later.
    unconfirmed = UNKNOWN if started == COMMITTED else WILL_ABORT
    try:
        while manager.is_completing() and time.monotonic() < deadline:
            time.sleep(STATE_POLL_SECONDS)
        if manager.is_completing():
            return unconfirmed
        if result is not None and result.succeeded:
            return started  # it finished just as the error or the Ctrl-C arrived, or while we waited
        if manager.has_fatal_error():  # e.g. fenced: a newer producer with our id took over (and aborts)
            return unconfirmed
    except KeyboardInterrupt:
        return unconfirmed
    try:
        abort_transaction(producer)  # from IN_TRANSACTION, or ABORTABLE_ERROR after a failed record or commit
        return ABORTED
    except (KafkaError, KeyboardInterrupt):
        return WILL_ABORT
