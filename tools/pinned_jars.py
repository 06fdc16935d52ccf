"""The pinned downloads: jars (and PostgreSQL binaries) from Maven Central, each checked against its size and
sha256 in tools/jars.lock, into a cache that every tool shares (tools/.kafka-jars/).

tools/local_kafka.py fetches the Kafka sets (ZooKeeper mode and KRaft) and the Debezium connector with it,
tools/local_postgres.py the PostgreSQL server binaries. Only the standard library is used: a learner needs
no Maven. LOCAL_KAFKA_CACHE moves the cache, LOCAL_KAFKA_MAVEN_REPO names a mirror, HTTPS_PROXY and
NO_PROXY are honoured. An interrupted download resumes; a file only gets its name once its sha256 matched;
two processes fetching the same set at once take turns (a lock file in the set's folder). Rewriting
tools/jars.lock from the poms is the maintainers' job of tools/jar_lock_writer.py.
"""

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from stack_common import TOOLS_DIR, StackError, shown_path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one fetch at a time is up to the user there
    fcntl = None

LOCK_FILE = TOOLS_DIR / "jars.lock"
CACHE_DIR = Path(os.environ.get("LOCAL_KAFKA_CACHE") or TOOLS_DIR / ".kafka-jars")
DEFAULT_MAVEN_REPO = "https://repo1.maven.org/maven2"

# Each set of jars: its name in tools/jars.lock -> (the pom it is locked from, its folder in CACHE_DIR).
# The poms are the source of truth; `python tools/local_kafka.py lock` rewrites jars.lock from them.
JAR_SETS = {
    "kafka-3.9.2": ("pom.xml", "3.9.2"),
    "kafka-4.1.0": ("pom-kraft.xml", "4.1.0"),
    "postgres-17.11.0": ("pom-postgres.xml", "postgres-17.11.0"),  # server binaries for tools/local_postgres.py
    # The Debezium PostgreSQL connector for Kafka Connect. A worker's plugin.path names a folder of plugin
    # folders, so its jars go one level down: plugin.path=tools/.kafka-jars/debezium-3.6.1.Final
    "debezium-3.6.1": ("pom-debezium.xml", "debezium-3.6.1.Final/debezium-connector-postgres"),
}
KAFKA_SET = "kafka-3.9.2"
JARS_DIR = CACHE_DIR / JAR_SETS[KAFKA_SET][1]
KRAFT_SET = "kafka-4.1.0"
DEBEZIUM_SET = "debezium-3.6.1"
# What a Connect worker's plugin.path names for it (tools/connect/cdc-worker.properties): the folder above the jars.
DEBEZIUM_PLUGIN_PATH = (CACHE_DIR / JAR_SETS[DEBEZIUM_SET][1]).parent

DOWNLOAD_TIMEOUT_S = 30
CHUNK_BYTES = 256 * 1024
NETWORK_HINT = "Check the internet connection; behind a proxy, set HTTPS_PROXY (e.g. http://proxy.example:3128)"


class LockedJar:
    """One line of tools/jars.lock: a file in a Maven repository, with its size and sha256."""

    def __init__(self, jar_set, path, sha256, size):
        self.jar_set = jar_set
        self.path = path
        self.sha256 = sha256
        self.size = size

    @property
    def name(self):
        return self.path.rsplit("/", 1)[-1]


def set_dir(jar_set):
    return CACHE_DIR / JAR_SETS[jar_set][1]


def locked_jars(jar_set, lock_file=LOCK_FILE):
    """The jars that tools/jars.lock pins for one set."""
    try:
        text = Path(lock_file).read_text(encoding="utf-8")
    except OSError as error:
        raise StackError(f"cannot read {shown_path(lock_file)} ({error.strerror}); it comes with the kit: "
                         f"restore it with 'git checkout -- tools/jars.lock'") from None
    jars = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 4 or not fields[3].isdigit() or len(fields[2]) != 64:
            raise StackError(f"{shown_path(lock_file)} line {number} is not 'set path sha256 size'; "
                             f"restore it with 'git checkout -- tools/jars.lock'")
        if fields[0] == jar_set:
            jars.append(LockedJar(fields[0], fields[1], fields[2].lower(), int(fields[3])))
    if not jars:
        raise StackError(f"{shown_path(lock_file)} lists no jars for '{jar_set}'; "
                         f"regenerate it with 'python tools/local_kafka.py lock' (needs Maven)")
    return jars


def jar_is_complete(path, jar):
    """A jar only gets its final name after its sha256 matched, so the size is enough of a check here."""
    try:
        return path.stat().st_size == jar.size
    except OSError:
        return False


def jars_present(jar_set=KAFKA_SET, jars_dir=None, wanted=None):
    jars_dir = Path(jars_dir or set_dir(jar_set))
    jars = [jar for jar in locked_jars(jar_set) if wanted is None or wanted(jar)]
    return all(jar_is_complete(jars_dir / jar.name, jar) for jar in jars)


def maven_repo():
    return (os.environ.get("LOCAL_KAFKA_MAVEN_REPO") or DEFAULT_MAVEN_REPO).rstrip("/")


def without_credentials(url):
    """A URL as it may be shown: user:password@ removed."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def proxy_for(url):
    """The proxy urllib sends this URL through (from HTTPS_PROXY and friends), or None."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return proxy
    return None


def describe_failure(error):
    """'Connection refused' rather than '<urlopen error [Errno 111] Connection refused>'."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def count(items, noun):
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def megabytes(size):
    return f"{size / 1e6:.1f} MB"


class Progress:
    """'12.3 of 118.0 MB': in place on a terminal, a line at each quarter otherwise."""

    def __init__(self, total, stream=None, quiet=False):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.in_place = not quiet and self.stream.isatty()
        self.quarters_shown = 0
        self.last_shown = 0.0

    def add(self, size):
        self.done += size
        if self.quiet:
            return
        line = f"  {self.done / 1e6:6.1f} of {megabytes(self.total)}"
        if self.in_place:
            if time.monotonic() - self.last_shown >= 0.1 or self.done >= self.total:
                self.stream.write("\r" + line)
                self.stream.flush()
                self.last_shown = time.monotonic()
            return
        quarters = min(4, int(4 * self.done / self.total)) if self.total else 4
        if quarters > self.quarters_shown:
            self.quarters_shown = quarters
            self.stream.write(line + "\n")
            self.stream.flush()

    def end(self):
        """Leave the in-place line before anything else is printed."""
        if self.in_place:
            self.stream.write("\n")
            self.stream.flush()
            self.in_place = False


def download(jar, jars_dir, progress):
    """Fetch one locked file to NAME.part, check its size and sha256, then give it its name."""
    url = f"{maven_repo()}/{jar.path}"
    shown_url = without_credentials(url)
    part = jars_dir / (jar.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > jar.size:
        part.unlink()
        have = 0
    progress.add(have)
    if have < jar.size:
        request = urllib.request.Request(url, headers={"User-Agent": "kafka-kit-local-kafka"})
        if have:
            request.add_header("Range", f"bytes={have}-")  # an interrupted download resumes
        try:
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
                if have and response.status != 206:  # the server sends the whole file again
                    progress.add(-have)
                    have = 0
                with open(part, "ab" if have else "wb") as out:
                    while True:
                        chunk = response.read(CHUNK_BYTES)
                        if not chunk:
                            break
                        out.write(chunk)
                        progress.add(len(chunk))
        except urllib.error.HTTPError as error:
            progress.end()
            raise StackError(f"cannot download {shown_url}: HTTP {error.code} {error.reason}. "
                             f"Check LOCAL_KAFKA_MAVEN_REPO if you set it, or try again later") from None
        except (OSError, http.client.HTTPException) as error:
            progress.end()
            proxy = proxy_for(url)
            if proxy:
                raise StackError(f"cannot download {shown_url} through the proxy {without_credentials(proxy)} "
                                 f"(HTTPS_PROXY): {describe_failure(error)}. Check that proxy, or fix or unset "
                                 f"HTTPS_PROXY (NO_PROXY lists hosts to reach directly), then run the same command "
                                 f"again") from None
            raise StackError(f"cannot download {shown_url}: {describe_failure(error)}. {NETWORK_HINT}, "
                             f"then run the same command again") from None
    size = part.stat().st_size
    if size < jar.size:
        progress.end()
        raise StackError(f"the download of {jar.name} stopped after {size} of {jar.size} bytes "
                         f"(from {shown_url}); run the same command again to resume it")
    digest = hashlib.sha256()
    with open(part, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    if size != jar.size or digest.hexdigest() != jar.sha256:
        part.unlink()
        progress.end()
        raise StackError(f"{jar.name} from {shown_url} does not match its size and sha256 in "
                         f"{shown_path(LOCK_FILE)}: deleted it. Run the same command again; if it happens again, "
                         f"the repository (LOCAL_KAFKA_MAVEN_REPO) or a proxy changes the file")
    os.replace(part, jars_dir / jar.name)



_lock_held = []  # non-empty while this process holds the lock


@contextmanager
def fetch_lock():
    """One process at a time downloads into the cache (parallel test workers, two terminals): the others
    wait, then find the files there. The lock file sits in the cache, outside every set's folder."""
    if fcntl is None or _lock_held:  # held already: this process fetches within its own turn
        yield
        return
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _lock_held.append(True)
        try:
            yield
        finally:
            _lock_held.clear()
            fcntl.flock(lock, fcntl.LOCK_UN)


def fetch_jars(jar_set=KAFKA_SET, quiet=False, jars_dir=None, wanted=None):
    """Download the jars of one set that are not in the cache yet (a no-op when all are). Returns their folder.

    wanted: a filter on the set's LockedJars, for sets of which a machine needs only a part.
    """
    jars_dir = Path(jars_dir or set_dir(jar_set))
    every_jar = locked_jars(jar_set)
    jars = [jar for jar in every_jar if wanted is None or wanted(jar)]
    missing = [jar for jar in jars if not jar_is_complete(jars_dir / jar.name, jar)]
    if jars_dir.is_dir():
        # Jars of an older lock would still be on the classpath (folder/*): remove them.
        locked_names = {jar.name for jar in every_jar}
        for old in jars_dir.glob("*.jar"):
            if old.name not in locked_names:
                old.unlink()
    if not missing:
        return jars_dir
    with fetch_lock():
        missing = [jar for jar in missing if not jar_is_complete(jars_dir / jar.name, jar)]  # fetched meanwhile?
        if missing:
            download_missing(jar_set, jars, missing, jars_dir, quiet)
    return jars_dir


def download_missing(jar_set, jars, missing, jars_dir, quiet):
    jars_dir.mkdir(parents=True, exist_ok=True)
    total = sum(jar.size for jar in missing)
    if not quiet:
        what = f"{count(missing, 'file')}" if len(missing) == len(jars) else f"{count(missing, 'missing file')}"
        print(f"Fetching {jar_set}: {what}, {megabytes(total)}, from {without_credentials(maven_repo())} "
              f"into {shown_path(jars_dir)}", flush=True)
    started = time.monotonic()
    progress = Progress(total, quiet=quiet)
    for jar in missing:
        download(jar, jars_dir, progress)
    progress.end()
    if not quiet:
        print(f"Fetched {count(missing, 'file')} ({megabytes(total)}) in {time.monotonic() - started:.1f}s, "
              f"each checked against {shown_path(LOCK_FILE)}", flush=True)
