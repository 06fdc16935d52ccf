"""Every page has a Simplified Chinese twin that cannot drift apart from it.

The pages: README.md with README.zh-CN.md, CONTRIBUTING.md with CONTRIBUTING.zh-CN.md, and each chapter
docs/X.md with docs/zh-CN/X.md. The commands
and their expected output are what tests/test_docs.py replays from the English page, so the twin must
show exactly the same fenced blocks in the same order, under the same steering comments and "Not
replayed here" marks. Its prose must really be Chinese, section by section, with the same heading
structure, the same tables (flags, env vars, defaults, figures in code) and links that resolve: the
twin links to the other twins where the English page links to the English pages.

The pages themselves must not repeat each other: no two Markdown files share 15 consecutive lines (a
page and its own twin aside), and both READMEs link every chapter.
No broker needed: these tests only read files.
"""

import re
from collections import Counter
from itertools import combinations

import pytest
from docs_replay import NOT_REPLAYED, STEER
from support import REPO

README, README_ZH = REPO / "README.md", REPO / "README.zh-CN.md"
CONTRIBUTING, CONTRIBUTING_ZH = REPO / "CONTRIBUTING.md", REPO / "CONTRIBUTING.zh-CN.md"
TOP_TWINS = {README: README_ZH, CONTRIBUTING: CONTRIBUTING_ZH}  # the pages in the top folder
CHAPTERS = sorted((REPO / "docs").glob("*.md"))
TWIN_DIR = REPO / "docs" / "zh-CN"


def twin_of(page):
    """The Chinese twin of an English page."""
    return TOP_TWINS.get(page) or TWIN_DIR / page.name


def english_of(twin):
    return next((page for page, zh in TOP_TWINS.items() if zh == twin), None) or REPO / "docs" / twin.name


PAIRS = list(TOP_TWINS.items()) + [(chapter, twin_of(chapter)) for chapter in CHAPTERS]
PAIR_IDS = [str(twin.relative_to(REPO)) for _, twin in PAIRS]
ALL_MARKDOWN = sorted({*TOP_TWINS, *TOP_TWINS.values(), *REPO.glob("README*.md"), *(REPO / "docs").rglob("*.md")})
SHARED_LINES_LIMIT = 15

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)
HEADING = re.compile(r"^(#{1,6}) +(.+?) *$", flags=re.M)
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LINK = re.compile(r"\]\(([^)\s]+)\)")
ONLY_A_LINK = re.compile(r"^\[[^\]]*\]\([^)\s]+\)$")
ONLY_COMMENTS_OR_RULES = re.compile(r"^(\s*(<!--.*?-->|---)\s*)+$", flags=re.S)


def read(page):
    assert page.is_file(), f"{page.relative_to(REPO)} does not exist: translate {english_of(page).name} into it"
    return page.read_text(encoding="utf-8")


@pytest.fixture(params=PAIRS, ids=PAIR_IDS)
def pair(request):
    """(English page, its text, Chinese twin, its text)."""
    page, twin = request.param
    return page, read(page), twin, read(twin)


def fenced_blocks(text):
    """[(language tag, content)] of every fenced code block, in order."""
    return FENCE.findall(text)


def prose(text):
    """What a reader sees outside fenced code blocks: HTML comments (the replay's steering) are invisible."""
    return re.sub(r"<!--.*?-->", "", FENCE.sub("", text), flags=re.S)


def commands(text):
    """What a reader types: `$ ` lines of console blocks and non-empty lines of sh/bash blocks, in order."""
    found = []
    for language, block in fenced_blocks(text):
        for line in block.splitlines():
            if language == "console" and line.startswith("$ "):
                found.append(line[2:])
            elif language in ("sh", "bash", "shell") and line.strip():
                found.append(line.strip())
    return found


def headings(text):
    return HEADING.findall(prose(text))


def sections(text):
    """{heading: prose under it up to the next heading}, for every heading."""
    parts = re.split(r"^(#{1,6} .+)$", prose(text), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def top_of(text):
    """The page's opening: its prose before the first heading below the title."""
    return re.split(r"^#{2,6} ", prose(text), maxsplit=1, flags=re.M)[0]


def code_spans(text):
    """Inline `code` of the prose; a span may wrap onto the next line, which Markdown reads as a space."""
    return [re.sub(r"\s+", " ", span.strip()) for span in re.findall(r"`([^`]+)`", prose(text))]


def table_rows(text):
    return [line for line in prose(text).splitlines() if line.startswith("|")]


def above_each_block(text):
    """[(steering comments, "Not replayed here" mark or None)] just above every fenced block, in order:
    what tests/docs_replay.py reads there. A mark is kept as its test file (or its bare prefix)."""
    found = []
    for match in FENCE.finditer(text):
        above = text[:match.start()].rstrip("\n").splitlines()[-3:]
        steering = [m.group(1) for m in (STEER.search(line) for line in above) if m]
        last = above[-1] if above else ""
        named = NOT_REPLAYED.search(last)
        mark = named.group(1) if named else ("unnamed" if last.startswith("<!-- not replayed: ") else None)
        found.append((steering, mark))
    return found


def github_anchor(heading):
    """The id GitHub gives a heading: lower case, punctuation dropped (CJK kept), spaces to hyphens."""
    heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(text):
    found = {github_anchor(title) for _, title in headings(text)}
    found.update(re.findall(r"""<a (?:id|name)=["']([^"']+)["']""", text))
    return found


def cjk_share(text):
    """Share of CJK characters among the letters of prose, with code spans and link targets left out."""
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    cjk = len(CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return cjk / max(cjk + latin, 1)


def local_links(page, text):
    """[(file the link points at, anchor or "")] for the prose's links to files of this repository."""
    found = []
    for target in LINK.findall(prose(text)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        found.append(((page.parent / path).resolve() if path else page, anchor))
    return found


def name(path):
    return str(path.relative_to(REPO))


# --- Every page has its twin ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[chapter.name for chapter in CHAPTERS])
def test_every_chapter_has_a_chinese_twin(chapter):
    assert twin_of(chapter).is_file(), f"docs/{chapter.name} has no twin: translate it into docs/zh-CN/{chapter.name}"


def test_every_twin_has_its_english_page():
    orphans = [name(twin) for twin in TWIN_DIR.glob("*.md") if not english_of(twin).is_file()]
    assert not orphans, f"Chinese pages without an English page: {orphans}"


# --- The twin shows what the English page shows ---------------------------------------------------------------


def test_same_fenced_blocks_in_the_same_order(pair):
    page, en, twin, zh = pair
    en_blocks, zh_blocks = fenced_blocks(en), fenced_blocks(zh)
    for label, text, found in ((name(page), en, en_blocks), (name(twin), zh, zh_blocks)):
        fences = len(re.findall(r"^```", text, flags=re.M))
        assert fences == 2 * len(found), f"{label}: a fence is not closed, or the pattern no longer finds blocks"
    if page == README:
        assert len(en_blocks) >= 10, "README.md lost its code blocks"
    for index, (en_block, zh_block) in enumerate(zip(en_blocks, zh_blocks)):
        assert zh_block == en_block, f"{name(twin)}: code block #{index + 1} differs: copy it from {name(page)}"
    assert len(zh_blocks) == len(en_blocks), (
        f"{name(page)} has {len(en_blocks)} code blocks, {name(twin)} {len(zh_blocks)}: translate the missing parts")


def test_same_commands_in_the_same_order(pair):
    page, en, _, zh = pair
    if page == README:
        en_commands = commands(en)
        assert "python create_topic.py" in en_commands
        assert any(command.endswith("&& .venv/bin/python -m pytest") for command in en_commands)
    assert commands(zh) == commands(en)


def test_same_steering_comments_and_not_replayed_marks(pair):
    """The replay reads the lines above a block: the twin keeps the comments, the not-replayed ones included,
    exactly as the English page has them (they are invisible to the reader)."""
    page, en, twin, zh = pair
    for index, (en_above, zh_above) in enumerate(zip(above_each_block(en), above_each_block(zh))):
        assert zh_above == en_above, f"{name(twin)}: above code block #{index + 1}: {zh_above}, in English {en_above}"


def test_same_heading_structure(pair):
    page, en, twin, zh = pair
    en_levels = [level for level, _ in headings(en)]
    zh_levels = [level for level, _ in headings(zh)]
    if page == README:
        assert len([level for level in en_levels if len(level) in (2, 3)]) >= 10
    assert zh_levels == en_levels, f"{name(twin)}: the headings differ in number or nesting from {name(page)}"
    untranslated = [title for _, title in headings(zh) if not CJK.search(title)]
    assert not untranslated, f"{name(twin)}: headings left in English: {untranslated}"


def test_prose_is_chinese_in_every_section(pair):
    _, _, twin, zh = pair
    assert cjk_share(prose(zh)) > 0.6, f"{name(twin)} reads as mostly untranslated"
    for heading, body in sections(zh).items():
        if re.sub(r"\s", "", body):
            assert cjk_share(body) > 0.3, f"{name(twin)}: section {heading!r} reads as untranslated"
    # No English paragraph left behind: every prose paragraph outside tables has Chinese in it.
    for paragraph in re.split(r"\n\s*\n", prose(zh)):
        paragraph = paragraph.strip()
        if not paragraph or paragraph.startswith(("#", "|")) or ONLY_A_LINK.match(paragraph):
            continue
        if ONLY_COMMENTS_OR_RULES.match(paragraph):
            continue
        assert CJK.search(paragraph), f"{name(twin)}: untranslated paragraph: {paragraph[:80]!r}"


def test_same_tables(pair):
    page, en, twin, zh = pair
    en_rows, zh_rows = table_rows(en), table_rows(zh)
    if page == README:
        assert len(en_rows) >= 10
    assert len(zh_rows) == len(en_rows), f"{name(twin)}: {len(zh_rows)} table rows, {name(page)} {len(en_rows)}"
    for en_row, zh_row in zip(en_rows, zh_rows):
        assert re.findall(r"`[^`]+`", zh_row) == re.findall(r"`[^`]+`", en_row), zh_row
        assert zh_row.count("|") == en_row.count("|"), zh_row


def test_prose_mentions_the_same_commands_flags_and_files(pair):
    """Every `code` span of the English prose appears in the Chinese prose too, as often."""
    page, en, twin, zh = pair
    missing = Counter(code_spans(en)) - Counter(code_spans(zh))
    assert not missing, f"code spans of {name(page)} missing from {name(twin)}: {sorted(missing)}"


# --- Links -----------------------------------------------------------------------------------------------------


def test_each_page_links_to_its_twin_and_back(pair):
    page, en, twin, zh = pair
    assert twin in [target for target, _ in local_links(page, top_of(en))], (
        f"{name(page)} does not link to {name(twin)} at its top")
    assert page in [target for target, _ in local_links(twin, top_of(zh))], (
        f"{name(twin)} does not link to {name(page)} at its top")
    assert twin not in [target for target, anchor in local_links(twin, zh) if not anchor], f"{name(twin)} links itself"


def test_links_resolve(pair):
    page, en, twin, zh = pair
    for source, text in ((page, en), (twin, zh)):
        for target, anchor in local_links(source, text):
            assert target.exists(), f"{name(source)}: link to {target.relative_to(REPO)}, which does not exist"
            if anchor and target.suffix == ".md":
                assert anchor in anchors(target.read_text(encoding="utf-8")), (
                    f"{name(source)}: link to #{anchor} in {name(target)}, which has no such heading")


def test_twin_links_where_the_english_page_links(pair):
    """Same links in the same order; where the English page links an English page, the twin links its twin."""
    page, en, twin, zh = pair
    english_pages = {*TOP_TWINS, *CHAPTERS}
    expected = [(twin_of(target) if target in english_pages else target, bool(anchor))
                for target, anchor in local_links(page, en) if target != twin]
    shown = [(target, bool(anchor)) for target, anchor in local_links(twin, zh) if target != page]
    assert [(name(t), a) for t, a in shown] == [(name(t), a) for t, a in expected]


# --- The pages as a whole --------------------------------------------------------------------------------------


def test_both_readmes_link_every_chapter():
    en_targets = {target for target, _ in local_links(README, read(README))}
    zh_targets = {target for target, _ in local_links(README_ZH, read(README_ZH))}
    assert not [name(c) for c in CHAPTERS if c not in en_targets], "README.md does not link these chapters"
    assert not [name(twin_of(c)) for c in CHAPTERS if twin_of(c) not in zh_targets], (
        "README.zh-CN.md does not link these chapters' twins")


def shared_runs(first, second):
    """The first run of SHARED_LINES_LIMIT identical consecutive non-blank lines found in both texts, or None."""
    def windows(text):
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        return {tuple(lines[i:i + SHARED_LINES_LIMIT]) for i in range(len(lines) - SHARED_LINES_LIMIT + 1)}
    common = windows(first) & windows(second)
    return min(common) if common else None


def test_no_two_pages_repeat_each_other():
    """A chapter says a thing once and other pages link to it: 15 identical lines in two files mean a copy
    that will drift. A page and its own twin are meant to share their code blocks."""
    texts = {page: page.read_text(encoding="utf-8") for page in ALL_MARKDOWN}
    twins = {frozenset((page, twin_of(page))) for page in (*TOP_TWINS, *CHAPTERS)}
    copies = []
    for first, second in combinations(ALL_MARKDOWN, 2):
        if frozenset((first, second)) in twins:
            continue
        run = shared_runs(texts[first], texts[second])
        if run:
            copies.append(f"{name(first)} and {name(second)} share {SHARED_LINES_LIMIT} lines from {run[0]!r}")
    assert not copies, "\n".join(copies)
