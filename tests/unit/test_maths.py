"""attnlab.maths: a page's maths as MathML that the browser draws with no script, and nothing else of a student's.

With no process and no browser (tests/test_staff_views.py opens the real feedback and formgrader pages in
Chromium). An oracle written here reads what nbconvert's renderer makes of a cell: inside <math>, only
MathML's presentation elements and layout attributes; outside it, test_inert's oracle (nothing that runs,
embeds or fetches).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from attnlab.inert import inert_markdown, inert_notebook, render_markdown
from attnlab.maths import MATHML_ATTRIBUTES, MATHML_TAGS, Maths, to_mathml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_markdown_cell, new_notebook

from .test_inert import PIECES, dangers

REPO = Path(__file__).resolve().parents[2]
LESSONS = sorted((REPO / "assignments" / "source").glob("*/*.ipynb"))

HOSTILE_LATEX = {
    "html in text": r"\text{<img src=x onerror=alert(1)>}",
    "script": r"\text{<script>alert(1)</script>}",
    "href": r"\href{javascript:alert(1)}{x}",
    "style": r"\style{background:url(https://evil.example/x)}{x}",
    "class": r"\class{attnlab-sanitized}{x}",
    "colour": r"\color{red}{x}",
    "closing math": r"\text{</math><img src=x onerror=alert(1)>}",
}


class MathOracle(HTMLParser):
    """What of rendered HTML lies inside <math> and is not a MathML element or one of its layout attributes;
    and the HTML outside <math>, for test_inert's oracle."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.depth = 0
        self.found: list[str] = []
        self.outside: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "math" or self.depth:
            if tag not in MATHML_TAGS:
                self.found.append(f"<{tag}> in math")
            self.found += [f"{tag} {name}" for name, _ in attrs if name not in MATHML_ATTRIBUTES]
            self.depth += 1
        else:
            self.outside.append(self.get_starttag_text())

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag == "math" or self.depth:
            self.depth -= 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1
        else:
            self.outside.append(f"</{tag}>")

    def handle_data(self, data):
        if not self.depth:
            self.outside.append(data)

    def handle_comment(self, data):
        self.found.append("comment")


def math_dangers(rendered: str) -> list[str]:
    oracle = MathOracle()
    oracle.feed(rendered)
    oracle.close()
    return oracle.found + dangers("".join(oracle.outside))


def test_every_formula_of_the_lessons_is_drawn_as_mathml():
    cells = [
        "".join(c["source"])
        for path in LESSONS
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "markdown"
    ]
    with_maths = [(s, inert_markdown(s, mathml=True)) for s in cells if "$" in s]
    assert len(with_maths) > 20
    for source, out in with_maths:
        rendered = render_markdown(out)
        assert rendered.strip() == out  # the page's renderer passes it through as it is
        assert "<math" in out and "$" not in re.sub(r"<[^>]*>", "", out), source[:80]  # no formula left as text
        assert math_dangers(rendered) == [], source[:80]


def test_a_cell_without_maths_is_what_it_was_without_mathml():
    for source in ["plain *text*", "a [link](https://example.org)", "<b>bold</b> and <script>x</script>"]:
        assert inert_markdown(source, mathml=True) == inert_markdown(source)


@pytest.mark.parametrize("name", sorted(HOSTILE_LATEX))
def test_hostile_latex_becomes_mathml_alone(name):
    out = inert_markdown(f"Look: ${HOSTILE_LATEX[name]}$ and $x^2$.", mathml=True)
    assert math_dangers(render_markdown(out)) == [], out
    assert "onerror" not in out and "javascript" not in out and "url(" not in out
    assert out.count("<math") == 2


def test_control_latex2mathml_alone_passes_html_links_and_styles_through():
    from latex2mathml.converter import convert

    raw = "".join(convert(HOSTILE_LATEX[name]) for name in ("html in text", "href", "style"))
    assert "mrow href" in math_dangers(raw) and "mrow style" in math_dangers(raw) and "javascript:alert" in raw
    assert all("javascript" not in (to_mathml(HOSTILE_LATEX[n]) or "") for n in HOSTILE_LATEX)


def test_a_formula_in_an_attribute_is_its_text_and_a_written_placeholder_stays_text():
    out = inert_markdown("![the weights $w_j$](https://example.org/x.png) and $y$", mathml=True)
    assert 'alt="the weights $w_j$"' in out and out.count("<math") == 1
    maths = Maths()
    guess = "attnlabmath0000000000000000x0x"  # a student who writes a placeholder cannot know the nonce
    assert maths.put_back(f"<p>{guess}</p>") == f"<p>{guess}</p>"
    token = maths.placeholder("x", False, "$x$")
    assert maths.put_back(f'<p title="{token}">{token}</p>').startswith('<p title="$x$"><math')


def test_a_formula_that_does_not_convert_stays_as_its_text():
    assert to_mathml(r"\frac{") is None
    assert inert_markdown(r"half $\frac{$ done", mathml=True) == inert_markdown(r"half $\frac{$ done")


MATH_PIECES = [*PIECES, "$x$", "$$y$$", r"$\text{<b>", r"}$", r"\begin{matrix}a\end{matrix}", r"$\href{", "}{x}$"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(MATH_PIECES), max_size=12).map("".join))
def test_any_mix_of_markdown_html_and_maths_renders_inert(source):
    out = inert_markdown(source, mathml=True)
    assert math_dangers(render_markdown(out)) == [], (source, out)


def test_a_page_draws_maths_as_mathml_and_the_autograded_notebook_keeps_latex():
    from attnlab.nbgrader import InertNotebook, InertPage

    source = r"The scores are $Q K^\top / \sqrt{d}$."
    page, stored = (new_notebook(cells=[new_markdown_cell(source)]) for _ in range(2))
    InertPage().preprocess(page, {})
    InertNotebook().preprocess(stored, {})
    assert "<msqrt>" in page.cells[0].source
    assert stored.cells[0].source == source
    assert not inert_notebook(new_notebook(cells=[new_markdown_cell(source)]), mathml=True)  # no change counted
