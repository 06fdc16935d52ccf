"""What every tool in tools/ shares: where the kit is, the one-line error a tool shows, and how paths and logs
are shown in those lines.

A StackError's message is meant for the user as it is: the command-line tools print it after 'error: '
and exit non-zero, never with a traceback. Only the Python standard library is used.
"""

from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent
REPO_DIR = TOOLS_DIR.parent


class StackError(Exception):
    """A failure with a one-line message meant for the user."""


def shown_path(path):
    """A path relative to the current directory when it is below it: shorter to read."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def log_tail(log_file, lines=20):
    try:
        text = Path(log_file).read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.strip().splitlines()[-lines:])
