"""attnlab.inert: whatever a student put in a notebook, what a staff page renders of it cannot run.

Each rule is checked on made-up notebooks, with no process, no nbgrader run and no browser; the real pages
in Chromium are tests/test_staff_views.py. The markdown rule is checked against nbconvert's own renderer
(what the formgrader and the feedback pages use) by an oracle written here, independent of the module's
own check: no tag that runs or embeds, no event handler, no style, no link or image a student chose
beyond http(s)/mailto links and verified images.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections import Counter
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from attnlab.inert import (
    describe,
    image_bytes,
    inert_markdown,
    inert_notebook,
    inert_outputs,
    is_plain_id,
    plain_text,
    render_markdown,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

REPO = Path(__file__).resolve().parents[2]
LESSONS = sorted((REPO / "assignments" / "source").glob("*/*.ipynb"))
JS = "console.log('PWNED')"


def png(color=(200, 30, 30), size=(3, 2)) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def jpeg() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 90, 200)).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


# ------------------------------------------------------------------------------------------------ the oracle

RUNS_OR_EMBEDS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "style", "link", "meta",
    "base", "form", "input", "button", "textarea", "select", "template", "noscript", "xmp", "portal", "video",
    "audio", "source", "track", "canvas", "dialog",
}  # fmt: skip


class Oracle(HTMLParser):
    """Everything in rendered HTML that could run, embed or fetch what a student chose."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in RUNS_OR_EMBEDS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = "".join((value or "").split()).lower()
            if name.startswith("on") or name in ("style", "srcdoc", "formaction", "action", "background", "xlink:href"):
                self.found.append(f"{tag} {name}")
            elif name == "href" and not (value.startswith(("http:", "https:", "mailto:", "#"))):
                self.found.append(f"{tag} href={value[:40]}")
            elif name == "src" and not re.match(r"data:image/(png|jpeg);base64,", value):
                self.found.append(f"{tag} src={value[:40]}")

    handle_startendtag = handle_starttag

    def handle_comment(self, data):
        self.found.append("comment")

    def handle_pi(self, data):
        self.found.append("processing instruction")


def dangers(rendered: str) -> list[str]:
    oracle = Oracle()
    try:
        oracle.feed(rendered)
        oracle.close()
    except AssertionError as e:  # markup the standard library cannot parse: suspect, as a danger
        return [f"unparseable: {e}"]
    return oracle.found


def shown_text(source: str) -> str:
    """The text a reader sees of a markdown cell as nbconvert renders it (tags, the heading anchors and
    whitespace aside)."""
    rendered = render_markdown(source).replace("&#10;", "\n")
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", rendered)).replace("¶", " ").split())


def test_the_oracle_sees_what_nbconvert_renders_of_raw_html():
    """The control: without attnlab.inert, nbconvert's renderer hands every one of these to the browser (but
    the traps, harmless as they are and dangerous only to a cleaner that would parse its output again)."""
    for name, attack in HOSTILE_MARKDOWN.items():
        assert bool(dangers(render_markdown(attack))) is (name not in TRAPS), name


# ------------------------------------------------------------------------------------------------ markdown

HOSTILE_MARKDOWN = {
    "img onerror": f'My answer: <img src="x" onerror="{JS}"> is here.',
    "script": f"<script>{JS}</script>\n\nMy answer is here.",
    "iframe srcdoc": f'<iframe srcdoc="<script>{JS}</script>"></iframe>\n\nMy answer is here.',
    "svg onload": f'<svg onload="{JS}"><circle r="4"/></svg> My answer is here.',
    "javascript link": "[My answer is here](javascript:console.log('PWNED'))",
    "entity-encoded link": "[My answer is here](java&#x73;cript:alert(1))",
    "autolink": "<javascript:alert(1)> My answer is here.",
    "image from the server": "![My answer is here](/hub/logout)",
    "mermaid": f'```mermaid\n<img src=x onerror="{JS}">\n```\nMy answer is here.',
    "a form": '<form action="/hub/api"><button formaction="/x">My answer is here</button></form>',
    "autofocus": f'<input autofocus onfocus="{JS}"> My answer is here.',
    "comment": "<!-- <script>x</script> --> My answer is here.",
    "details with a link inside code": (
        "<details><summary>My answer</summary>\n\n    code\n\n    [is here](javascript:alert(1))\n</details>"
    ),
    "unknown tag holding a link": "<foo>[My answer is here](javascript:alert(1))</foo>",
    "style": "<p style=\"background:url('https://evil.example/x')\">My answer is here</p>",
    "base": '<base href="https://evil.example/"> My answer is here.',
}


@pytest.mark.parametrize("name", list(HOSTILE_MARKDOWN))
def test_hostile_markdown_renders_inert_and_keeps_the_students_text(name):
    out = inert_markdown(HOSTILE_MARKDOWN[name])
    assert dangers(render_markdown(out)) == [], (name, out)
    assert "is here" in shown_text(out) or 'alt="My answer is here"' in out, out


def test_safe_formatting_survives_the_cleaning():
    source = "**bold** and *it* <b>b</b> <sub>2</sub>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two"
    out = render_markdown(inert_markdown(source))
    for tag in ("<strong>", "<em>", "<b>", "<sub>", "<table>", "<li>"):
        assert tag in out, tag


def test_links_to_the_web_and_verified_images_stay_and_nothing_else_does():
    good = f"[paper](https://arxiv.org/abs/1706.03762) [mail](mailto:t@x.org) ![fig](data:image/png;base64,{png()})"
    out = render_markdown(inert_markdown(good))
    assert 'href="https://arxiv.org/abs/1706.03762"' in out and 'href="mailto:t@x.org"' in out
    assert 'src="data:image/png;base64,' in out
    bad = "[x](/user/teacher/formgrader/manage_students/x) ![y](https://tracker.example/pixel.png)"
    assert "href=" not in render_markdown(inert_markdown(bad)) and "src=" not in render_markdown(inert_markdown(bad))


@pytest.mark.parametrize(
    "source",
    [
        "# A heading\n\nPlain **answer**, with `code` and $\\sqrt{d}$ math.",
        "> a quote\n\n1. first\n2. second\n\n```python\nx = 1\n```",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "",
    ],
)
def test_plain_markdown_keeps_its_source(source):
    assert inert_markdown(source) == source


def test_every_markdown_cell_of_the_lessons_shows_the_same_text_after():
    """Run over the lessons' own markdown: cells with links or details become cleaned HTML, the rest stay."""
    kept = changed = 0
    for path in LESSONS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            source = "".join(cell["source"])
            out = inert_markdown(source, cell.get("attachments"))
            kept, changed = (kept + 1, changed) if out == source else (kept, changed + 1)
            assert shown_text(out) == shown_text(source), (path.name, source[:80])
            assert dangers(render_markdown(out)) == [], (path.name, source[:80])
    assert kept > 40 and changed > 0, (kept, changed)


# Harmless as written: a link inside code. A cleaner that put the rendering back as markdown would make the
# blank line end the HTML block, and the renderer would then read the link as a link.
TRAPS = {"details with a link inside code"}

PIECES = [
    *HOSTILE_MARKDOWN.values(),
    "text",
    "\n\n",
    "\n",
    "    ",
    "```",
    "`",
    "<",
    ">",
    "<div>",
    "</div>",
    "<pre>",
    "</pre>",
    "[",
    "](",
    ")",
    "]: javascript:alert(1)",
    "$",
    "$$",
    "&lt;",
    "&#60;script&#62;",
    "*",
    "|",
    "<a href='javascript:alert(1)'>",
    "<![",  # a marked section, which the standard library's parser refuses
    "<![CDATA[",
    "</a>",
    '"',
    "'",
    "onerror=",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_any_mix_of_markdown_and_html_renders_inert(source):
    out = inert_markdown(source)
    assert dangers(render_markdown(out)) == [], (source, out)
    assert inert_markdown(out) == out  # cleaning again changes nothing: the view-time pass after autograde's


# ------------------------------------------------------------------------------------------------- outputs


def test_outputs_keep_text_and_images_and_drop_every_active_form():
    outputs = [
        new_output(
            "display_data",
            data={
                "text/html": f"<script>{JS}</script>",
                "application/javascript": JS,
                "image/svg+xml": f'<svg onload="{JS}"/>',
                "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2},
                "text/latex": "$\\href{javascript:alert(1)}{x}$",
                "text/plain": "<IPython.core.display.HTML object>",
            },
        ),
        new_output("display_data", data={"text/html": "<b>only html</b>"}),
    ]
    changes = Counter()
    out = inert_outputs(outputs, changes)
    assert out[0]["data"] == {"text/plain": "<IPython.core.display.HTML object>"}
    assert out[1]["data"]["text/plain"].startswith("[an output attnlab does not show to staff: text/html")
    assert changes == Counter(
        {
            "text/html": 2,
            "application/javascript": 1,
            "image/svg+xml": 1,
            "application/vnd.jupyter.widget-view+json": 1,
            "text/latex": 1,
        }
    )
    assert "text/html (2)" in describe(changes)


def test_an_image_must_decode_as_what_it_claims_to_be():
    good, other = png(), jpeg()
    assert image_bytes(good, "image/png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert image_bytes(other, "image/jpeg")[:3] == b"\xff\xd8\xff"
    assert image_bytes(other, "image/png") is None  # a JPEG sent as PNG
    assert image_bytes(good + '"><script>', "image/png") is None  # garbage after the data
    assert image_bytes("aGVsbG8=", "image/png") is None  # base64, but not an image
    assert image_bytes(good[:40], "image/png") is None  # cut short
    wrapped = "\n".join(good[i : i + 20] for i in range(0, len(good), 20))  # as nbformat may store it
    (out,) = inert_outputs([new_output("display_data", data={"image/png": wrapped})])
    assert out["data"]["image/png"] == good  # canonical: what is stored is what was checked


def test_image_metadata_keeps_numbers_and_text_only():
    meta = {"image/png": {"width": "1 onload=alert(1)", "height": 40, "alt": "a <b> plot", "unconfined": True}}
    (out,) = inert_outputs([new_output("display_data", data={"image/png": png()}, metadata=meta)])
    assert out["metadata"] == {"image/png": {"height": 40, "alt": "a <b> plot"}}
    isolated = {"text/html": {"isolated": True}}
    (out,) = inert_outputs([new_output("display_data", data={"text/plain": "x"}, metadata=isolated)])
    assert out["metadata"] == {}


def test_streams_and_errors_become_plain_text_of_the_same_kind():
    outputs = [
        new_output("stream", name='stdout" onload="x', text="\x1b[31mred\x1b[0m\x07 text"),
        new_output("stream", name="stderr", text="a warning"),
        new_output(
            "error",
            ename="<b>Err</b>",
            evalue=f'<img src=x onerror="{JS}">',
            traceback=["\x1b[0;31mValueError\x1b[0m: <img>", "\x1b]8;;http://x\x07link\x1b]8;;\x07"],
        ),
    ]
    stream, warning, error = inert_outputs(outputs)
    assert (stream["name"], stream["text"]) == ("stdout", "red text")
    assert warning["name"] == "stderr"  # nbgrader zeroes a test cell with stderr: kept as it was
    assert error["output_type"] == "error" and error["ename"] == "<b>Err</b>"  # text, which pages escape
    assert error["traceback"] == ["ValueError: <img>", "link"]


def test_an_execute_result_keeps_its_kind_and_a_number_for_its_count():
    (out,) = inert_outputs([{"output_type": "execute_result", "data": {"text/plain": "15.0"}, "metadata": {},
                             "execution_count": "<script>"}])  # fmt: skip
    assert out["output_type"] == "execute_result" and out["execution_count"] is None
    assert out["data"] == {"text/plain": "15.0"}  # what nbgrader's determine_grade reads


def test_an_unknown_output_type_becomes_a_line_of_text():
    changes = Counter()
    (out,) = inert_outputs([{"output_type": "<script>", "data": {}}], changes)
    assert out["output_type"] == "stream" and "an output of type" in out["text"]
    assert changes


def test_plain_text_strips_terminal_sequences_and_controls_but_keeps_lines():
    assert plain_text(["a\tb\n", "\x1b[1mc\x1b[0m\r\x00"]) == "a\tb\nc"


def test_attnlabs_own_grade_cell_outputs_are_inert_already():
    from attnlab.nbgrader import task_outputs

    task = {"id": "qk_scores", "score": 5.0, "max_score": 15.0, "status": "partial", "feedback": f"<i>{JS}</i>"}
    raw = base64.b64decode(png())
    outputs = nbformat.from_dict(task_outputs(task, 3, raw))
    changes = Counter()
    assert inert_outputs(outputs, changes) == outputs and not changes
    assert [o["output_type"] for o in outputs] == ["display_data", "display_data", "execute_result"]
    assert set(outputs[0]["data"]) == {"text/plain"} and f"<i>{JS}</i>" in outputs[0]["data"]["text/plain"]
    assert base64.b64decode(outputs[1]["data"]["image/png"]) == raw


# ----------------------------------------------------------------------------------------------- notebooks


def hostile_notebook():
    code = new_code_cell("display(HTML('...'))", execution_count=1)
    code.outputs = [new_output("display_data", data={"text/html": f"<script>{JS}</script>", "text/plain": "x"})]
    code.metadata = {"tags": ["ok-tag", 'x" onmouseover="y'], "jupyter": {"source_hidden": True}, "alt": "<x>"}
    graded = new_code_cell("check(qk_scores)")
    graded.metadata = {
        "nbgrader": {
            "grade": True,
            "solution": False,
            "locked": True,
            "grade_id": "qk_scores",
            "points": 15,
            "schema_version": 3,
            "extra": "<script>",
        }
    }
    forged = new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "</code><script>", "grade": True}})
    answer = new_markdown_cell(f'My answer <img src=x onerror="{JS}"> ![a](attachment:a.png)')
    answer.attachments = {"a.png": {"image/png": png()}, "b.svg": {"image/svg+xml": f"<svg onload='{JS}'/>"}}
    raw = new_raw_cell(f"<script>{JS}</script>raw text", metadata={"raw_mimetype": "text/html"})
    nb = new_notebook(cells=[code, graded, forged, answer, raw])
    code.id = 'bad" id'  # after new_notebook, which would refuse it: nbformat.reads only warns
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python", "codemirror_mode": {"name": "ipython"}},
        "title": f"</title><script>{JS}</script>",
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
    }
    return nb


def test_a_hostile_notebook_keeps_only_what_pages_print_safely():
    nb = hostile_notebook()
    changes = inert_notebook(nb)
    code, graded, forged, answer, raw = nb.cells
    assert nb.metadata == {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    assert code.outputs[0]["data"] == {"text/plain": "x"} and code.metadata == {"tags": ["ok-tag"]}
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", code.id)
    assert graded.metadata.nbgrader == {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": "qk_scores",
        "points": 15,
        "schema_version": 3,
    }
    assert "nbgrader" not in forged.metadata  # a grade_id that is not a plain name
    assert set(answer.attachments) == {"a.png"}
    assert dangers(render_markdown(answer.source, answer.attachments)) == []
    assert "My answer" in shown_text(answer.source) and 'src="data:image/png;base64,' in render_markdown(answer.source)
    assert "<script" not in raw.source and "raw text" in raw.source
    assert changes["text/html"] == 1 and changes["markdown cell"] == 1 and changes["cell id"] == 1
    nbformat.validate(nb)  # still a notebook every tool reads


def test_a_notebook_made_inert_once_is_left_as_it_is():
    nb = hostile_notebook()
    inert_notebook(nb)
    again = nbformat.from_dict(json.loads(json.dumps(nb)))
    assert not inert_notebook(again) and again == nb


# ----------------------------------------------------------------------------------------------- student ids


@pytest.mark.parametrize("student", ["alice", "bob_2", "a.b@uni.edu", "Ærø-1", "x" * 128])
def test_plain_ids(student):
    assert is_plain_id(student)


@pytest.mark.parametrize(
    "student", ["<svg onload=x>", 'a"b', "o'brien", "a b", "a&b", "x" * 129, "", "a\nb", "alice\n", "a,b", "../x"]
)
def test_ids_that_pages_could_not_print_as_they_are(student):
    assert not is_plain_id(student)
