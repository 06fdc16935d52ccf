"""Logging that never shows a SASL password, whatever kafka-python logs."""

import logging
import os


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
    # kafka-python 3.0.12's DEBUG log shows the SASL/PLAIN login request, password included.
    for handler in logging.getLogger().handlers:
        handler.addFilter(HidePassword(os.environ.get("KAFKA_SASL_PASSWORD", "")))
