"""A Ctrl-C before a script's main() is running ends in one line and exit 130, not a traceback.

Importing kafka-python takes about a second, and a Ctrl-C in that second arrives before any script has a
`try:` around its work. Python then reports the KeyboardInterrupt with a traceback through its import
machinery. This module, imported by `helpers/__init__.py` before anything else (and each script imports
`helpers` before kafka), replaces that report with one line. Every other error is reported as before.
"""

import os
import sys

INTERRUPTED_STATUS = 130  # what a shell reports for a program stopped by Ctrl-C (128 + SIGINT)

_report_error = sys.excepthook


def _one_line_for_ctrl_c(kind, error, traceback):
    if not issubclass(kind, KeyboardInterrupt):
        _report_error(kind, error, traceback)
        return
    sys.stdout.flush()
    print("Interrupted (Ctrl-C).", file=sys.stderr, flush=True)
    # Returning would make Python kill itself with SIGINT after the hook; exit with the shell's status instead.
    os._exit(INTERRUPTED_STATUS)


sys.excepthook = _one_line_for_ctrl_c
