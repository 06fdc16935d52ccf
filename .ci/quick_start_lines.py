"""Print the commands of README.md's Quick start block (Linux/macOS), one per line, exactly as shown.

.ci/run runs what this prints, so the README and CI cannot drift apart; tests/test_readme.py checks it.
"""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def quick_start_lines(text):
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M)
    return [line for line in block.group(1).splitlines() if line.strip()]


if __name__ == "__main__":
    print("\n".join(quick_start_lines(README.read_text(encoding="utf-8"))))
    sys.exit(0)
