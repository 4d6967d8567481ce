"""The docs site builds strictly from docs/ (a broken link, a missing page or anchor fails it), and the README is
a landing page that links each guide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUIDES = ["students.md", "self-learners.md", "instructors.md", "own_task.md", "contributors.md"]


def _build(site: Path, **override) -> None:
    """Build the site from mkdocs.yml, strictly, into `site`, with any setting of it overridden."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    cfg = load_config(str(REPO / "mkdocs.yml"), strict=True, site_dir=str(site), **override)
    cfg.plugins.on_startup(command="build", dirty=False)
    try:
        build(cfg)
    finally:
        cfg.plugins.on_shutdown()


def test_the_docs_site_builds_strictly_with_every_guide(tmp_path):
    _build(tmp_path / "site")
    for page in ["index.md", *GUIDES, "unforeseen.md"]:
        assert (tmp_path / "site" / Path(page).stem / "index.html").is_file() or page == "index.md", page
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_broken_link_fails_the_build(tmp_path):
    """The control: mkdocs.yml's settings on two small pages, one linking to an anchor the other lacks."""
    from mkdocs.exceptions import Abort

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the layout](contributors.md#layout).\n")
    (docs / "contributors.md").write_text("# Contributors\n\n## Layout\n")
    nav = [{"Home": "index.md"}, {"Contributors": "contributors.md"}]
    _build(tmp_path / "good", docs_dir=str(docs), nav=nav)  # as written, it builds
    (docs / "index.md").write_text("# Home\n\nSee [the layout](contributors.md#no-such-section).\n")
    with pytest.raises(Abort):
        _build(tmp_path / "bad", docs_dir=str(docs), nav=nav)


def test_the_readme_is_a_landing_page_that_links_every_guide():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)", text))
    assert set(GUIDES) <= linked
    assert all((REPO / "docs" / page).is_file() for page in linked), linked
    assert "## Two commands" in text and "make test" in text and "make demo" in text
