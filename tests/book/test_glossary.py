"""The glossary is complete and well formed, and bold means "a term".

The chapters mark the first use of a technical term in **bold**, and the
{doc}`glossary` lists those terms. Two kinds of bold are allowed in a
chapter's markdown:

* a glossary term (matched case-insensitively, with an optional plural
  ``s``/``es``, hyphens and spaces alike, and with the glossary's
  parenthesised alternatives: "convolutional neural network (CNN)" matches
  "convolutional neural network", "CNN" and the whole name; "im2col, col2im"
  matches either; the Chinese term of an entry matches too);
* a paragraph label: bold text that starts a paragraph or a list item
  ("**Max.** Near a point ...", "* **Step decay**: ...").

Bold used for emphasis ("*not zero*", "*every*") or for names and years is
written in italics instead. ``GLOSSARY_BOOK_DIR`` points the test at another
copy of the book (a folder with the chapters and ``glossary.md``).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = Path(os.environ.get("GLOSSARY_BOOK_DIR", ROOT / "book"))

BOLD = re.compile(r"(?<![\\*])\*\*(?=\S)(.+?)(?<=\S)\*\*(?!\*)", re.S)
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
LIST_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+")
DOC = re.compile(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`")


def chapters(book: Path = BOOK) -> list[Path]:
    return sorted(book.glob("[0-9][0-9]_*.ipynb"))


def markdown_cells(path: Path):
    """(index, source) of every markdown cell of a notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            src = cell["source"]
            yield i, "".join(src) if isinstance(src, list) else src


def _blank_fences(text: str) -> str:
    """The text with fenced code blocks replaced by spaces (same offsets)."""
    return FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def bold_phrases(text: str):
    """(phrase, is_label) for every **bold** phrase of a markdown text.

    A label is bold text at the start of a paragraph (after a blank line, a
    heading or the start of the cell) or right after a list marker.
    """
    scan = _blank_fences(text)
    for m in BOLD.finditer(scan):
        start = scan.rfind("\n", 0, m.start()) + 1
        prefix = scan[start:m.start()]
        if LIST_ITEM.fullmatch(prefix):
            label = True
        elif prefix.strip() in ("", ">"):
            prev_end = start - 1
            prev = scan[scan.rfind("\n", 0, max(prev_end, 0)) + 1:prev_end] if start else ""
            label = start == 0 or prev.strip() == "" or prev.lstrip().startswith("#")
        else:
            label = False
        yield " ".join(m.group(1).split()), label


def _norm(s: str) -> str:
    s = s.lower().replace("-", " ").replace("’", "'")
    return " ".join(s.split())


def glossary_rows(book: Path = BOOK) -> list[list[str]]:
    """The cells of the glossary table's body rows."""
    lines = (book / "glossary.md").read_text(encoding="utf-8").splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    assert table[0].replace(" ", "") == "|English|中文|symbol|definedin|", table[0]
    assert re.fullmatch(r"\|(?:\s*:?-+:?\s*\|){4}", table[1]), table[1]
    return [_cells(ln) for ln in table[2:]]


def _cells(line: str) -> list[str]:
    # split on | outside $...$ and `...` (a symbol such as $|d|$ holds a bar)
    cells, cur, math, code = [], "", False, False
    for ch in line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]:
        if ch == "$" and not code:
            math = not math
        elif ch == "`" and not math:
            code = not code
        if ch == "|" and not math and not code:
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
    cells.append(cur.strip())
    return cells


def term_variants(english: str) -> set[str]:
    """The names a glossary entry's English cell stands for."""
    out = {english}
    for part in re.split(r",\s+(?![^()]*\))", english):  # "a, b" outside parentheses
        out.add(part)
        bare = re.sub(r"\s*\([^()]*\)", "", part)
        out.add(bare)
        for group in re.findall(r"\(([^()]*)\)", part):
            out.update(g for g in re.split(r",\s+", group))
    return {_norm(v) for v in out if v.strip()}


def glossary_terms(book: Path = BOOK) -> set[str]:
    """Every name of every entry: English (with its alternatives) and Chinese."""
    terms: set[str] = set()
    for row in glossary_rows(book):
        terms |= term_variants(row[0])
        if len(row) > 1:
            terms |= {_norm(z.strip("† ")) for z in re.split(r"[、，,]", row[1]) if z.strip("† ")}
    return terms


def is_term(phrase: str, terms: set[str]) -> bool:
    p = _norm(phrase).rstrip(".:")
    candidates = {p}
    for suffix in ("es", "s"):
        if p.endswith(suffix):
            candidates.add(p[: -len(suffix)])
    if candidates & terms:
        return True
    # "vanishing and exploding gradients": "vanishing gradients", "exploding gradients"
    m = re.fullmatch(r"(\S+) and (\S+) (.+)", p)
    if m:
        return all(is_term(f"{w} {m.group(3)}", terms) for w in m.group(1, 2))
    return False


def offending_bold(book: Path = BOOK) -> list[str]:
    """Bold phrases that are neither glossary terms nor paragraph labels."""
    terms = glossary_terms(book)
    bad = []
    for path in chapters(book):
        for i, text in markdown_cells(path):
            for phrase, label in bold_phrases(text):
                if not label and not is_term(phrase, terms):
                    bad.append(f"{path.stem} cell {i}: **{phrase}**")
    return bad


def test_book_has_chapters():
    assert len(chapters()) >= 18


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_bold_is_a_term_or_a_label(path):
    terms = glossary_terms()
    bad = [f"cell {i}: **{phrase}**"
           for i, text in markdown_cells(path)
           for phrase, label in bold_phrases(text)
           if not label and not is_term(phrase, terms)]
    assert not bad, ("bold that is neither a glossary term nor a paragraph label "
                     "(add the term to book/glossary.md, or use *italics* for "
                     "emphasis):\n" + "\n".join(bad))


def test_glossary_rows_have_four_cells():
    bad = [row for row in glossary_rows() if len(row) != 4 or not row[0] or not row[3]]
    assert not bad, bad


def test_glossary_is_sorted_without_duplicates():
    english = [row[0] for row in glossary_rows()]
    keys = [e.lower() for e in english]
    assert keys == sorted(keys), [
        (a, b) for a, b in zip(english, english[1:]) if a.lower() > b.lower()]
    assert len(set(keys)) == len(keys), sorted(k for k in set(keys) if keys.count(k) > 1)


def test_glossary_doc_targets_exist():
    text = (BOOK / "glossary.md").read_text(encoding="utf-8")
    targets = set(DOC.findall(text))
    missing = [t for t in sorted(targets)
               if not any((BOOK / f"{t}{ext}").exists() for ext in (".ipynb", ".md"))]
    assert targets and not missing, missing


def test_glossary_disambiguates_sigma():
    rows = {row[0]: row for row in glossary_rows()}
    assert "$\\varphi$" in rows["activation function"][2]
    assert "sigmoid" in rows["activation function"][2]
    assert "$\\sigma" in rows["sigmoid"][2]
    text = (BOOK / "glossary.md").read_text(encoding="utf-8")
    assert "only the sigmoid" in text
