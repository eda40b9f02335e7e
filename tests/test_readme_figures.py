"""The README's build figures are the committed reports' figures.

A report in ``boards/reports`` is rewritten by each new build; the README quotes it in several
places. Each paragraph or table row that names a report must give that report's Fmax (to one or
two decimals) and, when the report records it, the commit it was built from, so a new report
cannot leave an old figure standing beside its name.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "boards" / "reports"
README = (ROOT / "README.md").read_text()


def passages(text: str) -> list[str]:
    """Paragraphs, with every table row a passage of its own."""
    found = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if lines and all(line.startswith("|") for line in lines):
            found.extend(lines)
        else:
            found.append(" ".join(lines))
    return found


def quoted_reports() -> list[tuple[str, str]]:
    """(report name, passage) for every passage that names a single-build report."""
    pairs = []
    for passage in passages(README):
        for name in sorted(set(re.findall(r"boards/reports/([\w.-]+\.json)", passage))):
            report = json.loads((REPORTS / name).read_text())
            if isinstance(report, dict) and "fmax_mhz" in report:
                pairs.append((name, passage))
    return pairs


def test_the_readme_quotes_the_board_reports():
    names = {name for name, _ in quoted_reports()}
    assert {"system_icebreaker.json", "system_ulx3s-85f_banks2_router1.json"} <= names


@pytest.mark.parametrize(("name", "passage"), quoted_reports(),
                         ids=lambda value: value if value.endswith(".json") else "")
def test_a_passage_naming_a_report_gives_its_figures(name, passage):
    report = json.loads((REPORTS / name).read_text())
    fmax = report["fmax_mhz"]
    forms = {f"{fmax:.2f}", f"{fmax:.1f}"}
    assert any(form in passage for form in forms), (
        f"README names {name} (Fmax {fmax} MHz) but gives none of {sorted(forms)}: {passage[:200]}")
    revision = report.get("revision")
    if revision:
        assert f"commit {revision[:7]}" in passage, (
            f"README names {name} (built at {revision[:7]}) without that commit: {passage[:200]}")
