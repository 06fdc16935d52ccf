"""Replay the commands a Markdown page shows, and compare what they print with what the page shows.

How a page is read (README.md and every chapter in docs/ follow these rules):
- A ```console block holds commands (`$ ` lines), each followed by its expected output.
- A ```sh block holds commands only; each must exit 0. `&&` chains, and `  # comments` are ignored.
- An HTML comment just above a block steers the replay and is invisible on GitHub:
    <!-- terminal 2 -->   the block belongs to terminal 2 (default: terminal 1)
    <!-- any order -->    the block's output lines may come in any order (records of several partitions)
    <!-- broker ids vary --> Kafka picks each partition's replicas and leader: in the block's
                          `leader broker B   replicas [..]  in-sync [..]` lines only the partition numbers and
                          how many ids each list holds are compared, not which ids they are
- In expected output, a line `...` stands for any number of lines.
- A command is run without a shell, unless it uses shell syntax outside quotes (a pipe `|`, a
  redirection `>`, `;`, ...): then it runs in `bash -o pipefail -c`, with `python` meaning the replay's Python.
  `.venv/bin/python` (the Quick start's environment, called by its path) is the replay's Python too.
- A command that runs until Ctrl-C (a consumer without --max-messages or --timeout, log_view.py) starts in the
  background of its terminal. A later block of that terminal without a command shows more of its
  output; `^C` in it is a Ctrl-C, and the lines after it are the last ones the command prints.
- A block that cannot run here carries a comment on the line just above it that names the test proving it
  instead, invisible to the reader like the other steering comments (a twin keeps it in English, as is):
    <!-- not replayed: needs Docker. tests/test_compose.py runs these settings as real processes -->
  The replay checks that the named test file exists.

Every page runs in its own copy of the kit with private ports. Before comparing, the private ports are
mapped back to the page's (9092, 2181, ...), the copy's folder is shown as /home/you/kafka-python-kit, and
timings, rates, pids, clock times, UUIDs and what depends on timing or on the folder are masked
(store_users.py: how many users one batch holds, and the hash of the database's path in its group's name).
"""

import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import REPO, Background

# The ports pages show, each replaced by a free one in the replay.
PAGE_PORTS = (9092, 9093, 9094, 9095, 2181, 8083, 5432, 8088)
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```[ \t]*$", re.S | re.M)
STEER = re.compile(r"<!--\s*(.*?)\s*-->\s*$")
NOT_REPLAYED = re.compile(r"^<!-- not replayed: .*?\b(tests/[\w/]+\.py)\b.*-->\s*$", re.M)
MASKS = [
    (re.compile(r"in \d+\.\d\d s: [\d,]+ records/s"), "in T s: R records/s"),
    (re.compile(r"\bin \d+(\.\d+)? ?s\b"), "in T s"),
    (re.compile(r"in T s \(\d+:\d\d:\d\d\)"), "in T s"),  # pytest adds (H:MM:SS) to a run of a minute or more
    (re.compile(r"pid \d+ +"), "pid P "),
    (re.compile(r"pid \d+\b"), "pid P"),
    (re.compile(r"\b\d+ ms has passed"), "T ms has passed"),  # a record expired: how late it was noticed
    (re.compile(r"^Stored +[\d,]+ users \("), "Stored N users ("),  # store_users.py: what one poll returned
    (re.compile(r"\bstore-users-[0-9a-f]{8}\b"), "store-users-HASH"),  # store_users.py's default group
    (re.compile(r"\(\d\d:\d\d:\d\d\)"), "(HH:MM:SS)"),  # the time of day, e.g. watch_lag.py's header
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "UUID"),  # e.g. a member id
]
KIT_FOLDER_SHOWN = "/home/you/kafka-python-kit"  # absolute paths into the kit, as the pages show them
BROKER_IDS = re.compile(r"(?<=leader broker )(-?\d+ *)(replicas \[[\d, ]*\]  in-sync \[[\d, ]*\])$")
SKIPPED_COPY = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".kafka-jars",
                                      ".local-kafka", ".local-postgres", "bench-results", "users.db")
COMMAND_TIMEOUT = 240


class Block:
    def __init__(self, language, body, steering, marked_not_replayed):
        self.language = language
        self.body = body
        self.terminal = next((s.split()[1] for s in steering if s.startswith("terminal ")), "1")
        self.any_order = "any order" in steering
        self.broker_ids_vary = "broker ids vary" in steering
        self.not_replayed = marked_not_replayed  # the test file named by the not-replayed comment, or None


def blocks(text):
    """The page's console and sh blocks, in order, with the steering comments and marks above each."""
    found = []
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        if language not in ("console", "sh"):
            continue
        above = text[:match.start()].rstrip("\n").splitlines()[-3:]
        steering = [m.group(1) for m in (STEER.search(line) for line in above) if m]
        marked = NOT_REPLAYED.search(above[-1]) if above else None
        found.append(Block(language, body, steering, marked.group(1) if marked else None))
    return found


def steps(block):
    """[(command or None, [expected lines])]: a console block's commands and what each prints."""
    result, command, expected = [], None, []
    for line in block.body.splitlines():
        if block.language == "sh":
            line = line.split("  #")[0].strip()
            if line:
                result.extend((part.strip(), None) for part in line.split("&&"))
            continue
        if line.startswith("$ "):
            if command is not None or expected:
                result.append((command, expected))
            command, expected = line[2:], []
        else:
            expected.append(line.rstrip())
    if block.language == "console":
        result.append((command, expected))
    return result


def uses_shell_syntax(command):
    """True for `a | b`, `a > file`, `a; b` and the like; quoted characters do not count."""
    try:
        words = list(shlex.shlex(command, posix=True, punctuation_chars=True))
    except ValueError:  # unbalanced quotes: left to shlex.split to report
        return False
    return any(word and set(word) <= set("();<>|&") for word in words)


def runs_until_ctrl_c(argv):
    script = Path(argv[1]).name if len(argv) > 1 else ""
    if script == "log_view.py":
        return True
    return script in ("consumer.py", "store_users.py") and not {"--max-messages", "--timeout"} & set(argv)


def mask(line):
    for pattern, replacement in MASKS:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def without_broker_ids(line):
    """A partition line with each broker id replaced by N: `leader broker N   replicas [N, N, N]  in-sync [N, N]`."""
    return BROKER_IDS.sub(lambda found: re.sub(r"-?\d+", "N", found.group(0)), line)


def matches(shown, expected, any_order=False):
    """True if the shown lines are the expected ones; `...` in expected stands for any lines."""
    if any_order:
        wanted = [line for line in expected if line != "..."]
        return sorted(shown) == sorted(wanted) if "..." not in expected else all(w in shown for w in wanted)
    pattern = "".join(".*?" if line == "..." else re.escape(line + "\n") for line in expected)
    return re.fullmatch(pattern, "".join(line + "\n" for line in shown), re.S) is not None


class Replay:
    """One page, replayed in its own copy of the kit."""

    def __init__(self, page, workdir, free_port_block, env):
        self.page = page
        self.copy = workdir / "kit"
        shutil.copytree(REPO, self.copy, ignore=SKIPPED_COPY)
        (self.copy / "tools" / ".kafka-jars").symlink_to(REPO / "tools" / ".kafka-jars")
        base = free_port_block(len(PAGE_PORTS))
        self.ports = {shown: base + i for i, shown in enumerate(PAGE_PORTS)}
        self.env = dict(env, LOCAL_KAFKA_PORT=str(self.ports[9092]), LOCAL_KAFKA_ZK_PORT=str(self.ports[2181]),
                        LOCAL_POSTGRES_PORT=str(self.ports[5432]), KAFKA_BOOTSTRAP_SERVERS=self.local(
                            "localhost:9092"))
        self.env["PATH"] = f"{REPO / 'tests' / 'no-docker'}:{self.env['PATH']}"
        self.terminals = {}  # terminal name -> Background running there
        self.ran = 0
        self.proven_elsewhere = []

    def local(self, text):
        """A command as it runs here: the page's ports replaced by this replay's."""
        for shown, actual in self.ports.items():
            text = re.sub(rf"(?<=[:= ]){shown}\b", str(actual), text)
        return text

    def as_shown(self, line):
        for folder in {str(self.copy.resolve()), str(self.copy)}:
            line = line.replace(folder, KIT_FOLDER_SHOWN)
        for shown, actual in self.ports.items():
            line = re.sub(rf"(?<=[:=]){actual}\b", str(shown), line)
        return mask(line)

    def argv(self, command):
        command = self.local(command)
        if uses_shell_syntax(command):
            # Shell functions reach every part of a pipeline: `python` is the replay's Python there too.
            python = f'python() {{ {shlex.quote(sys.executable)} "$@"; }}; python3() {{ python "$@"; }}; '
            return ["bash", "-o", "pipefail", "-c", python + command]
        argv = shlex.split(command)
        return [sys.executable if word in ("python", "python3", ".venv/bin/python") else word for word in argv]

    def run_page(self):
        text = self.page.read_text(encoding="utf-8")
        try:
            for block in blocks(text):
                if block.not_replayed:
                    assert (REPO / block.not_replayed).is_file(), f"{block.not_replayed} named in {self.page}"
                    self.proven_elsewhere.append(block.not_replayed)
                    continue
                for command, expected in steps(block):
                    self.step(block, command, expected)
            assert not self.terminals, f"{self.page.name} leaves {sorted(self.terminals)} running"
        finally:
            self.stop_everything()
        return self.ran

    def step(self, block, command, expected):
        where = f"{self.page.name}, terminal {block.terminal}: $ {command}"
        if command is None:
            return self.more_output(block, expected)
        if command.startswith("export "):
            name, _, value = command[len("export "):].partition("=")
            self.env[name] = self.local(value.strip("'\""))
            self.ran += 1
            return
        argv = self.argv(command)
        if runs_until_ctrl_c(argv):
            assert block.terminal not in self.terminals, f"{where}: that terminal is busy"
            background = Background(argv, self.env, cwd=self.copy)
            self.terminals[block.terminal] = background
            self.ran += 1
            self.wait_for_lines(background, [line for line in expected or [] if line != "..."], where)
            return
        result = subprocess.run(argv, cwd=self.copy, env=self.env, capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT)
        self.ran += 1
        shown = [self.as_shown(line) for line in result.stdout.splitlines() + result.stderr.splitlines()]
        if expected is None:  # a ```sh command: it must work, whatever it prints
            assert result.returncode == 0, f"{where}\n" + "\n".join(shown)
            return
        wanted = [mask(line) for line in expected]
        if block.broker_ids_vary:
            shown, wanted = [without_broker_ids(line) for line in shown], [without_broker_ids(line) for line in wanted]
        assert matches(shown, wanted, block.any_order), (
            f"{where}\nexit {result.returncode}; the page shows:\n" + "\n".join(wanted)
            + "\n--- it printed:\n" + "\n".join(shown))

    def more_output(self, block, expected):
        where = f"{self.page.name}, terminal {block.terminal}"
        before, ctrl_c, after = "\n".join(expected).partition("^C")
        wanted = [line for line in before.strip("\n").splitlines() if line != "..."]
        background = self.terminal_showing(block.terminal, wanted, where)
        if not ctrl_c:
            return
        background.signal(signal.SIGINT)
        code = background.wait(30)
        del self.terminals[block.terminal]
        tail = [mask(line) for line in after.strip("\n").splitlines()]
        shown = [self.as_shown(line) for line in background.lines]
        assert code in (0, 130), f"{where}: exit {code} after Ctrl-C\n" + background.text
        assert shown[-len(tail):] == tail, f"{where}: after Ctrl-C the page shows\n" + "\n".join(tail) + \
            "\n--- it printed:\n" + "\n".join(shown)

    def terminal_showing(self, name, wanted, where, timeout=60):
        """The terminal whose command has printed the wanted lines. Which of two consumers of one group
        gets which partitions is up to the group, so when another terminal shows them, the two swap names."""
        assert self.terminals, f"{where}: output shown, but no command runs in the background"
        deadline = time.monotonic() + timeout
        while True:
            candidates = [name] + [other for other in self.terminals if other != name]
            for candidate in candidates:
                background = self.terminals.get(candidate)
                shown = [self.as_shown(line) for line in background.text.splitlines()] if background else []
                if background and all(mask(line) in shown for line in wanted):
                    if candidate != name:  # swap: `name` is now this command's terminal
                        self.terminals[candidate] = self.terminals.pop(name, None)
                        self.terminals[name] = background
                        if self.terminals[candidate] is None:
                            del self.terminals[candidate]
                    return background
            if time.monotonic() > deadline:
                shown = {t: b.text for t, b in self.terminals.items()}
                raise AssertionError(f"{where}: no terminal printed\n" + "\n".join(wanted)
                                     + f"\n--- they printed: {shown}")
            time.sleep(0.2)

    def wait_for_lines(self, background, expected, where, timeout=60):
        deadline = time.monotonic() + timeout
        wanted = [mask(line) for line in expected]
        while True:
            shown = [self.as_shown(line) for line in background.text.splitlines()]
            if all(line in shown for line in wanted):
                return
            if background.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{where}: the page shows\n" + "\n".join(wanted) + "\n--- it printed:\n"
                                     + "\n".join(shown))
            time.sleep(0.2)

    def stop_everything(self):
        for background in self.terminals.values():
            background.kill()
        self.terminals.clear()
        for command in (["tools/local_kafka.py", "stop", "--clean"], ["tools/local_postgres.py", "stop", "--clean"]):
            if (self.copy / command[0]).exists():
                subprocess.run([sys.executable, *command], cwd=self.copy, env=self.env, capture_output=True,
                               timeout=120)
