"""tools/local_kafka.py fetch: the jars from Maven Central with nothing but Python and Java.

The first test downloads the Kafka 3.9.2 set for real from Maven Central into an empty
cache, with a PATH that holds only java and python (no Maven). The others serve one
jar of that set from a local HTTP server (LOCAL_KAFKA_MAVEN_REPO) that corrupts it,
cuts the connection mid-body, or is not there at all.
"""

import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading

import pytest
from support import REPO, local_kafka

SET = local_kafka.KAFKA_SET
LOCKED = local_kafka.locked_jars(SET)
TOTAL_MB = f"{sum(jar.size for jar in LOCKED) / 1e6:.1f} MB"
# The jar the local repository serves badly: big enough to be cut in the middle.
VICTIM = next(jar for jar in LOCKED if jar.name == "kafka-clients-3.9.2.jar")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                   "all_proxy")


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def bare_path(tmp_path_factory):
    """A PATH with java and python only: whatever else the machine has (mvn) is out of reach."""
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "java").symlink_to(shutil.which("java"))
    assert shutil.which("mvn", path=str(bin_dir)) is None
    return bin_dir


def fetch(cache, bare_path, **env):
    clean = {key: value for key, value in os.environ.items()
             if key not in PROXY_VARIABLES and not key.startswith("LOCAL_KAFKA_")}
    clean.update(PATH=str(bare_path), LOCAL_KAFKA_CACHE=str(cache), PYTHONUNBUFFERED="1", **env)
    return subprocess.run(["python", str(REPO / "tools" / "local_kafka.py"), "fetch"], capture_output=True, text=True,
                          env=clean, cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def fetched(tmp_path_factory, bare_path):
    """The Kafka 3.9.2 set, fetched from Maven Central into an empty cache."""
    cache = tmp_path_factory.mktemp("cache")
    return cache, fetch(cache, bare_path)


def test_fetch_from_maven_central_into_an_empty_cache_without_maven(fetched, bare_path):
    cache, done = fetched
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    jars_dir = cache / "3.9.2"
    assert lines[0] == (f"Fetching {SET}: {len(LOCKED)} files, {TOTAL_MB}, from https://repo1.maven.org/maven2 "
                        f"into {jars_dir}")
    progress = [line for line in lines if re.fullmatch(rf" +\d+\.\d of {TOTAL_MB}", line)]
    assert 2 <= len(progress) <= 5, lines
    assert progress[-1].strip() == f"{TOTAL_MB[:-3]} of {TOTAL_MB}"
    assert re.fullmatch(rf"Fetched {len(LOCKED)} files \({TOTAL_MB}\) in \d+\.\ds, each checked against "
                        rf"tools/jars\.lock", lines[-2]), lines
    assert lines[-1] == f"Kafka 3.9.2 jars in {jars_dir}"

    assert sorted(path.name for path in jars_dir.iterdir()) == sorted(jar.name for jar in LOCKED)
    for jar in LOCKED:
        assert sha256(jars_dir / jar.name) == jar.sha256, jar.name

    # Everything is there: the second fetch downloads nothing and touches no jar.
    before = {path.name: path.stat().st_mtime_ns for path in jars_dir.iterdir()}
    again = fetch(cache, bare_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"Kafka 3.9.2 jars in {jars_dir}"]
    assert {path.name: path.stat().st_mtime_ns for path in jars_dir.iterdir()} == before


class LocalRepository(http.server.ThreadingHTTPServer):
    """A Maven repository on 127.0.0.1 serving one jar: intact (with Range support), corrupted, or cut off."""

    def __init__(self, jar_file):
        super().__init__(("127.0.0.1", 0), RepositoryHandler)
        self.body = jar_file.read_bytes()
        self.mode = "intact"
        self.ranges = []  # the Range header of each request, or None
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/maven2"


class RepositoryHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        repo = self.server
        if self.path != f"/maven2/{VICTIM.path}":
            self.send_error(404)
            return
        body = repo.body
        wanted = self.headers.get("Range")
        repo.ranges.append(wanted)
        if repo.mode == "corrupt":
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]
        start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1)) if wanted and repo.mode == "intact" else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if repo.mode == "cut":
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection breaks mid-body
            return
        self.wfile.write(body[start:])


@pytest.fixture
def repository(fetched):
    server = LocalRepository(fetched[0] / "3.9.2" / VICTIM.name)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache_missing_one_jar(fetched, tmp_path):
    """A cache with every jar of the set but one (hard links to the fetched ones)."""
    jars_dir = tmp_path / "cache" / "3.9.2"
    jars_dir.mkdir(parents=True)
    for jar in LOCKED:
        if jar.name != VICTIM.name:
            os.link(fetched[0] / "3.9.2" / jar.name, jars_dir / jar.name)
    return tmp_path / "cache"


def test_corrupt_download_is_one_line_and_leaves_no_jar(repository, cache_missing_one_jar, bare_path):
    repository.mode = "corrupt"
    done = fetch(cache_missing_one_jar, bare_path, LOCAL_KAFKA_MAVEN_REPO=repository.url)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {VICTIM.name} from {repository.url}/{VICTIM.path} does not match its size and sha256 in "
        f"tools/jars.lock: deleted it. Run the same command again; if it happens again, the repository "
        f"(LOCAL_KAFKA_MAVEN_REPO) or a proxy changes the file"]
    assert done.stdout.splitlines()[0] == (f"Fetching {SET}: 1 missing file, {VICTIM.size / 1e6:.1f} MB, "
                                           f"from {repository.url} into {cache_missing_one_jar / '3.9.2'}")
    left = sorted(path.name for path in (cache_missing_one_jar / "3.9.2").iterdir())
    assert VICTIM.name not in left and VICTIM.name + ".part" not in left
    assert len(left) == len(LOCKED) - 1


def test_cut_download_leaves_no_complete_looking_jar_and_the_next_run_resumes(repository, cache_missing_one_jar,
                                                                              bare_path):
    jars_dir = cache_missing_one_jar / "3.9.2"
    repository.mode = "cut"
    cut = fetch(cache_missing_one_jar, bare_path, LOCAL_KAFKA_MAVEN_REPO=repository.url)
    assert cut.returncode == 1
    half = VICTIM.size // 2
    assert cut.stderr.splitlines() == [
        f"error: the download of {VICTIM.name} stopped after {half} of {VICTIM.size} bytes (from "
        f"{repository.url}/{VICTIM.path}); run the same command again to resume it"]
    assert not (jars_dir / VICTIM.name).exists()
    assert (jars_dir / (VICTIM.name + ".part")).stat().st_size == half

    repository.mode = "intact"
    resumed = fetch(cache_missing_one_jar, bare_path, LOCAL_KAFKA_MAVEN_REPO=repository.url)
    assert resumed.returncode == 0, resumed.stderr
    assert repository.ranges == [None, f"bytes={half}-"]  # only the missing half came the second time
    assert sha256(jars_dir / VICTIM.name) == VICTIM.sha256
    assert not (jars_dir / (VICTIM.name + ".part")).exists()
    assert resumed.stdout.splitlines()[-1] == f"Kafka 3.9.2 jars in {jars_dir}"


NETWORK_HINT = ("Check the internet connection; behind a proxy, set HTTPS_PROXY (e.g. http://proxy.example:3128), "
                "then run the same command again")


def test_refused_connection_is_one_line(cache_missing_one_jar, bare_path):
    repo = f"http://127.0.0.1:{local_kafka.free_port()}/maven2"
    done = fetch(cache_missing_one_jar, bare_path, LOCAL_KAFKA_MAVEN_REPO=repo)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: cannot download {repo}/{VICTIM.path}: Connection refused. {NETWORK_HINT}"]
    assert not (cache_missing_one_jar / "3.9.2" / VICTIM.name).exists()


def test_unknown_host_is_one_line(cache_missing_one_jar, bare_path):
    repo = "http://no-such-host.invalid/maven2"
    done = fetch(cache_missing_one_jar, bare_path, LOCAL_KAFKA_MAVEN_REPO=repo)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()  # the resolver's words differ between systems
    assert re.fullmatch(rf"error: cannot download {re.escape(repo)}/{re.escape(VICTIM.path)}: [^.]+\. "
                        rf"{re.escape(NETWORK_HINT)}", line), line
    assert not (cache_missing_one_jar / "3.9.2" / VICTIM.name).exists()


def test_bad_proxy_is_one_line_that_names_it(cache_missing_one_jar, bare_path):
    port = local_kafka.free_port()
    done = fetch(cache_missing_one_jar, bare_path, HTTPS_PROXY=f"http://learner:proxy-secret@127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: cannot download https://repo1.maven.org/maven2/{VICTIM.path} through the proxy "
        f"http://127.0.0.1:{port} (HTTPS_PROXY): Connection refused. Check that proxy, or fix or unset HTTPS_PROXY "
        f"(NO_PROXY lists hosts to reach directly), then run the same command again"]
    assert "proxy-secret" not in done.stdout + done.stderr
