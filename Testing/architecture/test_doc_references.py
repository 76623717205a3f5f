"""Comments and docstrings point to docs that a clone of the repository has.

The method and internals pages named in the code exist, every ``docs/method.md §N`` names a section
(or an item of section 11) of docs/method.md, and nothing cites notes outside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "node_modules", ".git", "build", "__pycache__"}
OUTSIDE = re.compile(r"\b(METHOD|SLICER|DATA|ARCHITECTURE|STYLE)\.md\b|shared/docs")


def _sources() -> list[Path]:
    files = [*ROOT.glob("*.md")]
    for pattern in ("*.py", "*.yaml", "*.md", "*.txt"):
        files += [p for p in ROOT.rglob(pattern) if not SKIP & set(p.relative_to(ROOT).parts)]
    return sorted(set(files) - {Path(__file__).resolve()})


def _method_sections() -> set[str]:
    text = (ROOT / "docs" / "method.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.MULTILINE))
    items = re.findall(r"^(\d+)\. \*\*", text.split("## 11.", 1)[1], re.MULTILINE)
    return sections | {f"11.{n}" for n in items}


def test_nothing_cites_notes_outside_the_repository():
    hits = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _sources()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, f"cite the repository's docs/ instead: {hits}"


def test_every_cited_doc_and_method_section_exists():
    sections = _method_sections()
    assert {"3.5", "5.2", "6.1", "8.1", "11.1", "11.10"} <= sections
    missing = []
    for path in _sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        for name in re.findall(r"docs/(method\.md|internals\.md)", text):
            if not (ROOT / "docs" / name).is_file():
                missing.append(f"{path.relative_to(ROOT)}: docs/{name}")
        for ref in re.findall(r"docs/method\.md §(\d+(?:\.\d+)?)", text):
            if ref not in sections:
                missing.append(f"{path.relative_to(ROOT)}: docs/method.md §{ref}")
    assert not missing, missing
