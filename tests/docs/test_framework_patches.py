"""docs/framework-patches.md lists every place the code works around a library bug, and nothing else.

A workaround in the code names its upstream issue beside it; the page lists the same issues.
"""

import re

from tests.docs.test_docs import ROOT

ISSUE = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+/issues/\d+")
PAGE = ROOT / "docs" / "framework-patches.md"


def test_every_upstream_issue_the_code_works_around_is_listed_and_every_listed_one_is_in_the_code():
    in_code = {link for path in (ROOT / "musicdrops").rglob("*.py") for link in ISSUE.findall(path.read_text())}
    listed = set(ISSUE.findall(PAGE.read_text()))
    assert in_code == listed, f"only in the code: {in_code - listed}; only on the page: {listed - in_code}"


def test_the_page_stays_short():
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| `")]
    assert len(rows) <= 5, "each patch is a tax on every upgrade: five at most"
