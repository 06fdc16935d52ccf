"""For maintainers: rewrite tools/jars.lock from the poms in tools/, with Maven.

The poms (pom.xml for Kafka 3.9.2, pom-kraft.xml for 4.1.0, pom-postgres.xml for tools/local_postgres.py,
pom-debezium.xml for the Debezium connector; JAR_SETS in tools/pinned_jars.py) are the source of truth.
After changing one, `python tools/local_kafka.py lock` resolves them and writes every runtime jar's path,
sha256 and size. Only this command needs Maven; learners never run it.
"""

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pinned_jars import JAR_SETS, LOCK_FILE
from stack_common import TOOLS_DIR, StackError

LOCK_HEADER = """\
# The files tools/local_kafka.py downloads from Maven Central, pinned: set, path in the
# repository, sha256, size in bytes. Generated from the poms in tools/ (JAR_SETS in
# tools/pinned_jars.py) by `python tools/local_kafka.py lock`, which needs Maven; do not edit.
"""

# "   group:artifact:type[:classifier]:version:scope:/path/in/the/local/repository.jar -- module x"
DEPENDENCY_LINE = re.compile(r"^\s+([^:\s]+):([^:\s]+):[^\s]*?:([^:\s]+):(?:compile|runtime|system|provided):"
                             r"(.+?\.jar)(?:\s+--.*)?$")


def resolved_jars(mvn, pom):
    """(repository path, local file) of every runtime jar of a pom, as Maven resolves them."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "dependencies.txt"
        result = subprocess.run(
            [mvn, "-B", "-q", "-f", str(pom), "dependency:list", "-DincludeScope=runtime",
             "-DoutputAbsoluteArtifactFilename=true", f"-DoutputFile={listing}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if result.returncode != 0 or not listing.exists():
            tail = "\n".join(result.stdout.strip().splitlines()[-15:])
            raise StackError(f"Maven could not resolve {pom.name} (exit {result.returncode}):\n{tail}")
        lines = listing.read_text().splitlines()
    found = []
    for line in lines:
        match = DEPENDENCY_LINE.match(line)
        if match:
            group, artifact, version, local_file = match.groups()
            local_file = Path(local_file)
            found.append((f"{group.replace('.', '/')}/{artifact}/{version}/{local_file.name}", local_file))
    return sorted(found)


def write_lock(lock_file=LOCK_FILE):
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("the lock command needs Maven ('mvn'), to resolve the poms; learners never need it")
    rows = []
    for jar_set, (pom, _folder) in JAR_SETS.items():
        for path, local_file in resolved_jars(mvn, TOOLS_DIR / pom):
            data = local_file.read_bytes()
            rows.append((jar_set, path, hashlib.sha256(data).hexdigest(), str(len(data))))
    set_width = max(len(row[0]) for row in rows)
    path_width = max(len(row[1]) for row in rows)
    lines = [f"{s:<{set_width}}  {p:<{path_width}}  {sha}  {size}" for s, p, sha, size in rows]
    Path(lock_file).write_text(LOCK_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return {jar_set: sum(1 for row in rows if row[0] == jar_set) for jar_set in JAR_SETS}
