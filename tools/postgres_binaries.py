"""Where tools/local_postgres.py gets a PostgreSQL server from, and who may run it.

A PostgreSQL installed on this machine when there is one (pg_ctl on PATH, /usr/lib/postgresql/*/bin,
Homebrew's), otherwise PostgreSQL 17 for this platform from Maven Central (io.zonky.test.postgres),
fetched once with tools/pinned_jars.py's verified download and unpacked into its cache.
LOCAL_POSTGRES_BINARIES=maven uses those even where a machine PostgreSQL exists; =machine never
downloads. PostgreSQL refuses to run as root: as root, the server runs as the 'postgres' account (or
'nobody'), which must be able to reach its binaries and data.
"""

import glob
import io
import os
import platform
import re
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from pinned_jars import fetch_jars, fetch_lock, locked_jars, set_dir
from stack_common import StackError, shown_path

POSTGRES_SET = "postgres-17.11.0"  # keep equal to tools/pom-postgres.xml
# platform.system(), platform.machine() -> the platform in the artifact's name on Maven Central
PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "amd64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64v8",
    ("Linux", "arm64"): "linux-arm64v8",
    ("Darwin", "x86_64"): "darwin-amd64",
    ("Darwin", "arm64"): "darwin-arm64v8",
    ("Windows", "AMD64"): "windows-amd64",
    ("Windows", "x86_64"): "windows-amd64",
}
# Where a machine's own PostgreSQL keeps its server binaries when they are not on PATH.
MACHINE_BIN_GLOBS = [
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # PostgreSQL's own RPMs
    "/opt/homebrew/opt/postgresql@*/bin",  # Homebrew on Apple silicon
    "/usr/local/opt/postgresql@*/bin",  # Homebrew on Intel
    "/opt/homebrew/bin",
    "/usr/local/bin",
]

EXE = ".exe" if os.name == "nt" else ""


class Binaries:
    """A folder with initdb and postgres, where it came from, and the server's version."""

    def __init__(self, bin_dir, source):
        self.bin_dir = Path(bin_dir)
        self.source = source  # "machine" or "Maven Central"
        self.version = server_version(self.bin_dir)

    def tool(self, name):
        return str(self.bin_dir / (name + EXE))

    def describe(self):
        return f"PostgreSQL {self.version} ({self.source}: {shown_path(self.bin_dir)})"


def server_version(bin_dir):
    """'17.11' from 'postgres (PostgreSQL) 17.11' ('--version' is allowed even as root)."""
    try:
        out = subprocess.run([str(Path(bin_dir) / ("postgres" + EXE)), "--version"], capture_output=True,
                             text=True, timeout=30).stdout
    except OSError as error:
        raise StackError(f"cannot run {Path(bin_dir) / 'postgres'} ({error.strerror}); "
                         f"set LOCAL_POSTGRES_BINARIES=maven to use PostgreSQL from Maven Central") from None
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return match.group(1) if match else "?"


def has_server(bin_dir):
    return all((Path(bin_dir) / (name + EXE)).is_file() for name in ("initdb", "postgres"))


def machine_bin_dir():
    """The bin folder of a PostgreSQL server installed on this machine (newest first), or None."""
    on_path = shutil.which("pg_ctl")
    candidates = [str(Path(on_path).resolve().parent)] if on_path else []
    for pattern in MACHINE_BIN_GLOBS:
        # /usr/lib/postgresql/9.6 and /usr/lib/postgresql/15: newest by number, not by text
        candidates += sorted(glob.glob(pattern), key=lambda p: [int(n) for n in re.findall(r"\d+", p)],
                             reverse=True)
    for candidate in candidates:
        if has_server(candidate):
            return candidate
    return None


def platform_name():
    key = (platform.system(), platform.machine())
    if key not in PLATFORMS:
        raise StackError(f"Maven Central has no PostgreSQL binaries for {key[0]} on {key[1]}; "
                         f"install PostgreSQL with the system's package manager instead")
    return PLATFORMS[key]


def maven_bin_dir(quiet=False):
    """PostgreSQL for this platform from Maven Central: fetched and unpacked once into the jar cache."""
    name = platform_name()
    cache = set_dir(POSTGRES_SET)
    server_dir = cache / name
    if has_server(server_dir / "bin"):
        return server_dir / "bin"
    artifact = f"/embedded-postgres-binaries-{name}/"
    with fetch_lock():  # another process may be unpacking it right now: wait for its turn, then look again
        if not has_server(server_dir / "bin"):
            fetch_jars(POSTGRES_SET, quiet=quiet, wanted=lambda jar: artifact in jar.path)
            jar = next(jar for jar in locked_jars(POSTGRES_SET) if artifact in jar.path)
            unpack_server(cache / jar.name, server_dir)
    return server_dir / "bin"


def unpack_server(jar_file, server_dir):
    """The jar holds one .txz archive of the server (bin, lib, share): unpack it, then give it its name."""
    partial = server_dir.with_name(server_dir.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with zipfile.ZipFile(jar_file) as jar:
        archives = [entry for entry in jar.namelist() if entry.endswith(".txz")]
        if len(archives) != 1:
            raise StackError(f"{jar_file} holds no PostgreSQL archive (.txz); delete it and run again")
        with tarfile.open(fileobj=io.BytesIO(jar.read(archives[0])), mode="r:xz") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(partial, filter="data")
            else:  # Python before 3.9.17: refuse what would land outside the folder
                for member in archive.getmembers():
                    if member.name.startswith(("/", "\\")) or ".." in Path(member.name).parts:
                        raise StackError(f"{jar_file} holds an unsafe path: {member.name}")
                archive.extractall(partial)
    shutil.rmtree(server_dir, ignore_errors=True)
    os.replace(partial, server_dir)


def find_binaries(choice=None, quiet=False):
    """choice: 'machine', 'maven', or None for the environment's LOCAL_POSTGRES_BINARIES (default: either)."""
    choice = (choice or os.environ.get("LOCAL_POSTGRES_BINARIES") or "auto").lower()
    if choice not in ("auto", "machine", "maven"):
        raise StackError(f"LOCAL_POSTGRES_BINARIES={choice} is not one of: machine, maven (or unset)")
    if choice != "maven":
        found = machine_bin_dir()
        if found:
            return Binaries(found, "machine")
        if choice == "machine":
            raise StackError("no PostgreSQL server on this machine (no initdb/postgres found); install one, "
                             "or unset LOCAL_POSTGRES_BINARIES to download it from Maven Central")
    return Binaries(maven_bin_dir(quiet=quiet), "Maven Central")


def server_account():
    """None when we are not root; else (name, uid, gid) of the account the server runs as."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return name, entry.pw_uid, entry.pw_gid
    raise StackError("PostgreSQL refuses to run as root and there is no 'postgres' or 'nobody' account; "
                     "run this as an ordinary user")


def check_reachable(path, account):
    """As root, the server account must be able to walk to its binaries: every folder above them o+x."""
    for folder in [Path(path), *Path(path).parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001 and folder.stat().st_uid != account[1]:
            raise StackError(f"the '{account[0]}' account that runs PostgreSQL cannot enter {folder} "
                             f"(mode {oct(mode & 0o777)}); use folders all users can enter for --dir and "
                             f"for the binaries (LOCAL_KAFKA_CACHE)")
