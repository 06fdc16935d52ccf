"""The Chinese pages use one word per concept, the one README.zh-CN.md's glossary gives.

The glossary is the table under "## 术语对照": English term | the kit's Chinese word | the machine
translation's words the pages avoid (separated by 、, or — for none). Adding a row extends both checks:
- no Chinese page uses an avoided word;
- a Chinese section uses a glossary word only where its English section speaks of that concept: a
  section with 副本 (replica) whose English section never says "replica" has used it for something else,
  such as a running copy of a script (实例). Sections are paired in order; tests/test_twins.py keeps the
  twins' headings the same;
- Chinese prose says the kit's word, not the bare English one (see bare_english for what counts).
No broker needed: these tests only read files.
"""

import re

import pytest
from support import REPO
from test_twins import CJK, FENCE, PAIRS, english_of, name, prose

README_ZH = REPO / "README.zh-CN.md"
GLOSSARY_HEADING = "## 术语对照"
GLOSSARY_HEADINGS = (GLOSSARY_HEADING, "## Terms in the Chinese pages")  # README.md shows the same table


def glossary():
    """[(English terms, the kit's word, [avoided words])], from the glossary table of README.zh-CN.md."""
    text = README_ZH.read_text(encoding="utf-8")
    assert GLOSSARY_HEADING in text, f"README.zh-CN.md lost its glossary ({GLOSSARY_HEADING})"
    section = re.split(r"^## ", text.split(GLOSSARY_HEADING, 1)[1], flags=re.M)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3 or set(cells[0]) <= set("-: ") or cells[0] == "English":
            continue
        english = [term.strip().lower() for term in re.sub(r"\(.*?\)", "", cells[0]).split("/")]
        avoided = [] if cells[2] in ("—", "-", "") else [word.strip() for word in cells[2].split("、")]
        rows.append((english, cells[1], avoided))
    return rows


def without_glossary(text):
    """A page's prose without the glossary section itself, which names the avoided words on purpose."""
    for heading in GLOSSARY_HEADINGS:
        text = re.sub(rf"^{heading}\n.*?(?=^## |\Z)", "", text, flags=re.S | re.M)
    return text


def blank(text):
    """The text with every character but newlines made a space: what is left out keeps the lines where they are."""
    return re.sub(r"[^\n]", " ", text)


def bare_english(text, english, kit_word):
    """[(line number, the English word, its line)] where a Chinese page's prose says a glossary row's English
    word instead of its Chinese one, e.g. "组的 lag" for 组的消费积压.

    The rule, for each row whose Chinese word is not the English one itself (broker and ZooKeeper are):
    - the words are matched whole and in any case, plural included ("offsets"); a word joined to letters,
      digits or one of _ - . / is another word: `auto_offset_reset`, --group, a file name;
    - fenced blocks, HTML comments (the replay's marks), inline code, link targets and URLs are not prose;
    - a gloss is allowed: full-width parentheses right after the Chinese word (Markdown emphasis and spaces
      between are fine), or holding the Chinese word themselves: 消费积压（lag）, **分区**（partition）,
      同步副本（in-sync replica）, （即最后稳定偏移量，last stable offset）, 偏移量（中文界面里也标为 offset）;
    - a quotation in ASCII double quotes with no Chinese in it is a program's message in its own words:
      "not enough in-sync replicas";
    - everything else counts, headings, tables, link texts and image descriptions included: the reader reads
      them. The glossary section itself is left out (without_glossary).
    """
    text = FENCE.sub(lambda m: blank(m.group()), text)
    for pattern in (r"<!--.*?-->", r"`[^`]+`", r"(?<=\])\([^)\s]*\)", r"https?://\S+"):
        text = re.sub(pattern, lambda m: blank(m.group()), text, flags=re.S)
    text = re.sub(r'"[^"\n]*"', lambda m: m.group() if CJK.search(m.group()) else blank(m.group()), text)
    word = re.escape(kit_word)
    text = re.sub(rf"({word}[*_\s]*)(（[^）\n]*）)", lambda m: m.group(1) + blank(m.group(2)), text)
    text = re.sub(rf"（[^）\n]*{word}[^）\n]*）", lambda m: blank(m.group()), text)
    found = []
    for term in english:
        pattern = rf"(?<![\w\-./]){re.escape(term)}(?:s|es)?(?![\w\-/]|\.\w)"
        for match in re.finditer(pattern, text, flags=re.I):
            number = text.count("\n", 0, match.start()) + 1
            found.append((number, match.group(), " ".join(text.splitlines()[number - 1].split())))
    return found


def checked_rows():
    """The glossary rows whose Chinese word differs from the English: those the prose must not say in English."""
    return [(english, kit_word) for english, kit_word, _ in glossary()
            if not any(term in kit_word.lower() for term in english)]


def without_glossary_kept_lines(text):
    """without_glossary, with the glossary's lines blanked instead of removed, so line numbers stay true."""
    for heading in GLOSSARY_HEADINGS:
        text = re.sub(rf"^{heading}\n.*?(?=^## |\Z)", lambda m: blank(m.group()), text, flags=re.S | re.M)
    return text


def sections_in_order(text):
    """[prose of each section], the part before the first heading included, in order."""
    return re.split(r"^#{1,6} .+$", prose(text), flags=re.M)


ZH_PAGES = [twin for _, twin in PAIRS]


def test_the_glossary_lists_the_concepts_the_issue_named():
    words = {word for _, word, _ in glossary()}
    assert {"副本", "实例", "消费积压", "延迟", "再均衡", "消费者组", "偏移量"} <= words
    assert len(glossary()) >= 10


@pytest.mark.parametrize("twin", ZH_PAGES, ids=[name(twin) for twin in ZH_PAGES])
def test_no_chinese_page_uses_an_avoided_word(twin):
    text = without_glossary(prose(twin.read_text(encoding="utf-8")))
    found = [(word, kit_word) for _, kit_word, avoided in glossary() for word in avoided if word in text]
    assert not found, f"{name(twin)} uses words the glossary avoids: " + ", ".join(
        f"{word!r} (say {kit_word!r})" for word, kit_word in found)


@pytest.mark.parametrize("twin", ZH_PAGES, ids=[name(twin) for twin in ZH_PAGES])
def test_each_glossary_word_is_used_only_for_its_concept(twin):
    zh_sections = sections_in_order(without_glossary(twin.read_text(encoding="utf-8")))
    en_sections = sections_in_order(without_glossary(english_of(twin).read_text(encoding="utf-8")))
    assert len(zh_sections) == len(en_sections), f"{name(twin)}: sections differ from its English page"
    misused = []
    for english, kit_word, _ in glossary():
        for index, (zh, en) in enumerate(zip(zh_sections, en_sections)):
            if kit_word in zh and not any(term in en.lower() for term in english):
                first_line = next((line for line in zh.splitlines() if kit_word in line), "")
                misused.append(f"section {index}: {kit_word!r} where the English says no {' / '.join(english)!r}:"
                               f" {first_line.strip()[:70]!r}")
    assert not misused, f"{name(twin)}:\n" + "\n".join(misused)


def test_the_bare_english_rule_tells_a_gloss_from_prose():
    allowed = '`auto_offset_reset`、--lag、消费积压（lag）、**消费积压**\n（*lag*）、"lag 1"、[消费积压](lag.md)'
    assert [word for _, word, _ in bare_english("组的 lag、" + allowed, ["lag"], "消费积压")] == ["lag"]
    assert bare_english("（即最后稳定偏移量，last stable offset）", ["offset"], "偏移量") == []
    assert [word for _, word, _ in bare_english("各个 Offsets（见上文）", ["offset"], "偏移量")] == ["Offsets"]
    assert "broker" not in {kit_word for _, kit_word in checked_rows()}
    assert {"offset", "lag", "rebalance", "partition", "topic", "replica"} <= {
        term for english, _ in checked_rows() for term in english}


@pytest.mark.parametrize("twin", ZH_PAGES, ids=[name(twin) for twin in ZH_PAGES])
def test_chinese_prose_says_the_glossary_word_not_the_english_one(twin):
    text = without_glossary_kept_lines(twin.read_text(encoding="utf-8"))
    found = [f"line {number}: {word!r} (say {kit_word!r}, or gloss it: {kit_word}（{word}）): {line[:80]!r}"
             for english, kit_word in checked_rows() for number, word, line in bare_english(text, english, kit_word)]
    assert not found, f"{name(twin)} says in English what the glossary names in Chinese:\n" + "\n".join(sorted(found))
