"""The Chinese pages use one word per concept, the one README.zh-CN.md's glossary gives.

The glossary is the table under "## 术语对照": English term | the kit's Chinese word | the machine
translation's words the pages avoid (separated by 、, or — for none). Adding a row extends both checks:
- no Chinese page uses an avoided word;
- a Chinese section uses a glossary word only where its English section speaks of that concept: a
  section with 副本 (replica) whose English section never says "replica" has used it for something else,
  such as a running copy of a script (实例). Sections are paired in order; tests/test_twins.py keeps the
  twins' headings the same.
No broker needed: these tests only read files.
"""

import re

import pytest
from support import REPO
from test_twins import PAIRS, english_of, name, prose

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
