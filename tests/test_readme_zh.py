"""README.zh-CN.md is a full Chinese translation of README.md that cannot drift apart from it.

The commands and their expected output are the part test_readme.py replays, so the Chinese README must
show exactly the same fenced blocks in the same order. Its prose must really be Chinese, section by
section, with the same headings structure, the same tables (flags, env vars, defaults) and working links.
No broker needed: these tests only read the two files.
"""

import re
from collections import Counter

import pytest
from support import REPO

EN = REPO / "README.md"
ZH = REPO / "README.zh-CN.md"

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)
HEADING = re.compile(r"^(#{1,6}) +(.+?) *$", flags=re.M)
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def en():
    return EN.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh():
    return ZH.read_text(encoding="utf-8")


def fenced_blocks(text):
    """[(language tag, content)] of every fenced code block, in order."""
    return FENCE.findall(text)


def prose(text):
    """The text outside fenced code blocks."""
    return FENCE.sub("", text)


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
    """{heading: prose under it up to the next heading}, for ## and ### headings."""
    parts = re.split(r"^(#{2,3} .+)$", prose(text), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def code_spans(text):
    """Inline `code` of the prose; a span may wrap onto the next line, which Markdown reads as a space."""
    return [re.sub(r"\s+", " ", span.strip()) for span in re.findall(r"`([^`]+)`", prose(text))]


def table_rows(text):
    return [line for line in prose(text).splitlines() if line.startswith("|")]


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


def test_same_fenced_blocks_in_the_same_order(en, zh):
    en_blocks, zh_blocks = fenced_blocks(en), fenced_blocks(zh)
    assert len(en_blocks) >= 10, "README.md lost its code blocks: the pattern no longer finds them"
    for index, (en_block, zh_block) in enumerate(zip(en_blocks, zh_blocks)):
        assert zh_block == en_block, f"code block #{index + 1} differs: copy it from README.md byte for byte"
    assert len(zh_blocks) == len(en_blocks), (
        f"README.md has {len(en_blocks)} code blocks, README.zh-CN.md {len(zh_blocks)}: "
        "translate the missing sections"
    )


def test_same_commands_in_the_same_order(en, zh):
    en_commands = commands(en)
    assert "python create_topic.py" in en_commands and "python -m pytest" in en_commands
    assert commands(zh) == en_commands


def test_same_sections(en, zh):
    en_levels = [level for level, _ in headings(en) if len(level) in (2, 3)]
    zh_levels = [level for level, _ in headings(zh) if len(level) in (2, 3)]
    assert len(en_levels) >= 10
    assert zh_levels == en_levels, "the ## / ### headings differ in number or nesting"
    untranslated = [title for _, title in headings(zh) if not CJK.search(title)]
    assert not untranslated, f"headings left in English: {untranslated}"


def test_prose_is_chinese_in_every_section(zh):
    assert cjk_share(prose(zh)) > 0.6
    for heading, body in sections(zh).items():
        if re.sub(r"\s", "", body):
            assert cjk_share(body) > 0.3, f"section {heading!r} reads as untranslated"
    # No English paragraph left behind: every prose paragraph outside tables has Chinese in it.
    for paragraph in re.split(r"\n\s*\n", prose(zh)):
        paragraph = paragraph.strip()
        if paragraph and not paragraph.startswith(("#", "|", "[English README]")):
            assert CJK.search(paragraph), f"untranslated paragraph: {paragraph[:80]!r}"


def test_tables_keep_flags_variables_and_defaults(en, zh):
    en_rows, zh_rows = table_rows(en), table_rows(zh)
    assert len(en_rows) >= 10
    assert len(zh_rows) == len(en_rows)
    for en_row, zh_row in zip(en_rows, zh_rows):
        assert re.findall(r"`[^`]+`", zh_row) == re.findall(r"`[^`]+`", en_row), zh_row
        assert zh_row.count("|") == en_row.count("|"), zh_row


def test_prose_mentions_the_same_commands_flags_and_files(en, zh):
    """Every `code` span of the English prose appears in the Chinese prose too, as often."""
    missing = Counter(code_spans(en)) - Counter(code_spans(zh))
    assert not missing, f"code spans missing from README.zh-CN.md: {sorted(missing)}"


def test_readmes_link_to_each_other(en, zh):
    en_top = prose(en).split("\n## ")[0]
    zh_top = prose(zh).split("\n## ")[0]
    assert "](README.zh-CN.md)" in en_top
    assert "[English README](README.md)" in zh_top
    assert "](README.zh-CN.md)" not in zh


def test_links_resolve(en, zh):
    for name, text in (("README.md", en), ("README.zh-CN.md", zh)):
        for target in LINK.findall(prose(text)):
            if target.startswith("#"):
                assert target[1:] in anchors(text), f"{name}: link {target} points at no heading"
            elif not re.match(r"https?://", target):
                assert (REPO / target.split("#")[0]).exists(), f"{name}: link {target} points at no file"
    switch = {"README.md", "README.zh-CN.md"}
    en_targets = [t for t in LINK.findall(prose(en)) if t not in switch and not t.startswith("#")]
    zh_targets = [t for t in LINK.findall(prose(zh)) if t not in switch and not t.startswith("#")]
    assert zh_targets == en_targets
    assert len([t for t in LINK.findall(prose(zh)) if t.startswith("#")]) == len(
        [t for t in LINK.findall(prose(en)) if t.startswith("#")]
    )
