"""Every command shown on every page (README.md and the chapters in docs/) runs as written, and prints
what the page shows. The rules a page follows are in tests/docs_replay.py."""

import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import free_port_block, say
from docs_replay import Replay
from support import REPO, local_kafka, script_env

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.fixture(scope="module", autouse=True)
def jars_already_fetched():
    """The pages show a start with the jars in place; their first download (a progress line per 15 MB) is
    proven by tests/test_fetch.py. The copies of the kit share this checkout's jar cache."""
    for jar_set in (local_kafka.KAFKA_SET, local_kafka.KRAFT_SET):
        local_kafka.fetch_jars(jar_set, quiet=True)


@pytest.fixture
def workdir():
    """A folder every account can enter (pytest's tmp_path is private): as root, tools/local_postgres.py runs
    the server as another account, which must reach its data inside the page's copy of the kit."""
    directory = Path(tempfile.mkdtemp(prefix="kit-docs-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_command_on_the_page_runs_and_prints_what_the_page_shows(page, workdir):
    replay = Replay(page, workdir, free_port_block, script_env(None))
    ran = replay.run_page()
    elsewhere = sorted(set(replay.proven_elsewhere))
    say(f"docs: {page.relative_to(REPO)}: {ran} commands run, {len(replay.proven_elsewhere)} block(s) proven "
        f"by other tests ({', '.join(elsewhere) or 'none'})")
    # A page may leave every block to the tests its marks name (a chapter whose commands need a long-lived
    # process, such as a Connect worker); it must still show something that runs here or is proven there.
    assert ran + len(replay.proven_elsewhere) > 0, f"{page.name} shows no command that runs or is proven elsewhere"
