"""Where the Chromium is that the browser tests and tools/bench_log_view.py drive, and how they start it.

Playwright for Python drives the Chromium of the machine (Debian's `apt-get install chromium`), not a browser
build of its own: none is downloaded. CHROMIUM (or PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH) names another one.
"""

import os
import shutil
from pathlib import Path

PATHS = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium", "/usr/bin/google-chrome",
         "/Applications/Chromium.app/Contents/MacOS/Chromium",
         "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"]
HOW_TO_GET = ("no Chromium for the browser tests: install it (Debian/Ubuntu: 'sudo apt-get install chromium', "
              "macOS: 'brew install --cask chromium') or set CHROMIUM=/path/to/chromium")
# Headless, and quiet: no sandbox (root in CI), and nothing that would reach out to the internet.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


def find():
    """The path of a Chromium to drive, or None."""
    for variable in ("CHROMIUM", "PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH"):
        if os.environ.get(variable):
            return os.environ[variable] if Path(os.environ[variable]).is_file() else None
    for path in PATHS:
        if Path(path).is_file():
            return path
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def missing():
    """Why the browser tests cannot run here (one line), or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -r requirements-dev.txt"
    return None if find() else HOW_TO_GET


def launch(playwright):
    return playwright.chromium.launch(executable_path=find(), headless=True, args=LAUNCH_ARGS)
