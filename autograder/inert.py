"""What a student wrote, made inert for every page a person opens: one rule for notebooks and their parts.

nbgrader's formgrader and feedback pages, JupyterLab and attnlab's own pages render a student's notebook as
HTML for someone else: the instructor, a TA, the student later. Everything in that notebook is the
student's to write, and nbconvert's templates print much of it as it is: ``text/html`` and
``application/javascript`` outputs, raw HTML in markdown (nbgrader's templates render markdown without
nbconvert's ``clean_html``), the widths of images (an unquoted attribute), widget state, cell and notebook
metadata. A script there runs as the person looking, with their session.

`inert_notebook` rewrites a notebook so that whatever renders it, nothing in it can run:

- **Outputs** keep plain text and images that decode as PNG or JPEG, nothing else. Streams and errors
  become plain text (no ANSI or other control sequences); an output whose every form was dropped says so
  in one line of text. Image metadata keeps numeric ``width`` and ``height`` and a text ``alt``.
- **Markdown** keeps its source where nbconvert's own renderer makes nothing of it but its own plain
  tags (headings, emphasis, lists, code, tables, math). Otherwise (raw HTML, links, images) the cell
  becomes that rendering, cleaned by nh3 (the Ammonia sanitizer) under `POLICY`, on one line inside a
  ``<div>``, which the renderer passes through untouched; that is checked for every cell, and where it
  does not hold the cell shows its source as escaped text. The text and the safe formatting stay.
- **Metadata**: the notebook keeps its kernelspec and language info as plain strings; a cell keeps its
  nbgrader metadata (typed, its grade_id a plain id) and plain tags; ids that are not nbformat's are
  made anew; attachments keep PNG and JPEG images that decode.

attnlab's own outputs (the trusted grade cells) are plain text and PNG already, so the rule leaves them
as they are and can run over every cell. It runs where autograde writes a notebook and again where
nbgrader renders one (`attnlab.nbgrader.InertNotebook`).

- **Maths**, in a page's view (``mathml=True``, `attnlab.nbgrader.InertPage`): a markdown cell with
  maths becomes that cleaned block with each formula as MathML (`attnlab.maths`), which browsers draw with
  no script and no CDN: the feedback shows its maths offline and in JupyterLab's viewer.

Nothing here grades or runs student code. It imports nbformat, nbconvert's markdown renderer, nh3,
Pillow and `attnlab.maths`, and nothing of attnlab's grading.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3
from nbformat.v4.nbbase import random_cell_id

from .maths import Maths

#: A student id that nbgrader's pages can print as they are: letters, digits, '.', '@', '_' and '-'.
PLAIN_ID = re.compile(r"[\w.@-]{1,128}")
#: nbformat 4.5's cell ids.
CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
#: nbgrader's grade ids, and cell tags: what templates print inside attributes and code.
PLAIN_NAME = re.compile(r"[\w.-]{1,128}")

#: The output forms a page may show of a student's output, and the images among them.
IMAGES = {"image/png": "PNG", "image/jpeg": "JPEG"}
KEPT = ("text/plain", *IMAGES)

# ESC sequences (CSI, OSC, the two-byte ones), then the C0 and C1 controls but tab and newline.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# How raw HTML starts in CommonMark: '<' then a tag name, '/', '!' or '?'.
_RAW_HTML = re.compile(r"<[A-Za-z/!?]")


def plain_text(text) -> str:
    """`text` (a string, or nbformat's list of lines) without terminal escape sequences or control characters."""
    if isinstance(text, list):
        text = "".join(str(t) for t in text)
    return _CONTROL.sub("", _ANSI.sub("", str(text)))


def is_plain_id(student_id: str) -> bool:
    """Whether nbgrader's pages can print `student_id` as it is (`PLAIN_ID`)."""
    return bool(PLAIN_ID.fullmatch(student_id))


# ------------------------------------------------------------------------------------------------- images


def image_bytes(data, mime: str) -> bytes | None:
    """The bytes of a base64 `mime` image (PNG or JPEG) that Pillow opens and verifies as that format; else None."""
    from PIL import Image

    if isinstance(data, list):
        data = "".join(data)
    if not isinstance(data, str) or mime not in IMAGES:
        return None
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            if image.format != IMAGES[mime]:
                return None
            image.verify()
    except Exception:  # noqa: BLE001 - whatever Pillow raises (a bomb, a broken chunk), it is not an image
        return None
    return raw


def _image(data, mime: str) -> str | None:
    """A verified image as canonical base64 (what is stored is exactly what was checked), else None."""
    raw = image_bytes(data, mime)
    return None if raw is None else base64.b64encode(raw).decode("ascii")


# ------------------------------------------------------------------------------------------------ outputs


def inert_outputs(outputs, changes: Counter | None = None) -> list[dict]:
    """`outputs` (a code cell's) with text and verified images only; `changes` counts what was dropped."""
    from nbformat.v4 import new_output

    changes = Counter() if changes is None else changes
    out = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
            out.append(new_output("stream", name=name, text=plain_text(output.get("text", ""))))
        elif kind == "error":
            traceback = output.get("traceback")
            out.append(
                new_output(
                    "error",
                    ename=plain_text(output.get("ename", "")),
                    evalue=plain_text(output.get("evalue", "")),
                    traceback=[plain_text(line) for line in traceback] if isinstance(traceback, list) else [],
                )
            )
        elif kind in ("display_data", "execute_result"):
            out.append(_inert_display(output, changes))
        else:
            changes[f"{str(kind)[:40]} output"] += 1
            out.append(new_output("stream", name="stdout", text=f"[an output of type {plain_text(kind)[:40]!r}]\n"))
    return out


def _inert_display(output, changes: Counter) -> dict:
    from nbformat.v4 import new_output

    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    meta = output.get("metadata") if isinstance(output.get("metadata"), dict) else {}
    kept, kept_meta = {}, {}
    for mime, value in data.items():
        if mime == "text/plain":
            kept[mime] = plain_text(value)
        elif mime in IMAGES and (image := _image(value, mime)) is not None:
            kept[mime] = image
            if size := _image_metadata(meta.get(mime)):
                kept_meta[mime] = size
        else:
            changes[str(mime)[:60]] += 1
    if not kept:
        shown = ", ".join(sorted(str(m)[:60] for m in data)) or "nothing"
        kept["text/plain"] = f"[an output attnlab does not show to staff: {shown}]"
    kind = output["output_type"]
    args = {"execution_count": _count(output.get("execution_count"))} if kind == "execute_result" else {}
    return new_output(kind, data=kept, metadata=kept_meta, **args)


def _image_metadata(meta) -> dict:
    """An image's metadata as a page may print it: whole-number width and height, a text alt."""
    if not isinstance(meta, dict):
        return {}
    out = {k: meta[k] for k in ("width", "height") if isinstance(meta.get(k), int) and not isinstance(meta[k], bool)}
    if isinstance(meta.get("alt"), str):
        out["alt"] = plain_text(meta["alt"])[:300]
    return out


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ----------------------------------------------------------------------------------------------- markdown


class Policy:
    """What survives of HTML made from a student's markdown: nh3's settings, and the same rules as a check.

    Tags: nh3's defaults (text formatting, lists, tables, code, images, links; never script, style, iframe,
    form, svg or math). Attributes: a few per tag, never an event handler or ``style``; a class only of
    the short names pygments highlights code with; links only to http, https, mailto or a place in the
    page (a relative link would point into the instructor's own server); images only as PNG or JPEG data
    that decodes, so that opening a page fetches nothing a student chose.
    """

    TAGS = frozenset(nh3.ALLOWED_TAGS) - {"map", "area"}
    ATTRIBUTES = {
        "*": {"class", "title"},
        "a": {"href"},
        "img": {"src", "alt", "width", "height"},
        "ol": {"start"},
        "td": {"colspan", "rowspan", "align"},
        "th": {"colspan", "rowspan", "align"},
    }
    CLASS = re.compile(r"[a-z][a-z0-9]{0,3}|highlight|anchor-link|attnlab-sanitized")
    NUMBER = re.compile(r"\d{1,5}%?")
    LINKS = {"http", "https", "mailto"}
    DATA_IMAGE = re.compile(r"data:(image/(?:png|jpeg));base64,(.*)", re.S | re.I)

    def allows(self, tag: str, attr: str) -> bool:
        return attr in self.ATTRIBUTES["*"] or attr in self.ATTRIBUTES.get(tag, ())

    def value(self, tag: str, attr: str, value: str) -> str | None:
        """`value` as the policy keeps it, or None to drop the attribute (nh3's ``attribute_filter``)."""
        if attr == "class":
            kept = [token for token in value.split() if self.CLASS.fullmatch(token)]
            return " ".join(kept) or None
        if attr == "href":
            link = "".join(value.split())
            if link.startswith("#"):
                return value
            try:
                scheme = urlsplit(link).scheme.lower()
            except ValueError:
                return None
            return value if scheme in self.LINKS else None
        if attr == "src":
            found = self.DATA_IMAGE.fullmatch(value.strip())
            if found and (image := _image(found.group(2), found.group(1).lower())) is not None:
                return f"data:{found.group(1).lower()};base64,{image}"
            return None
        if attr in ("width", "height", "colspan", "rowspan", "start"):
            return value if self.NUMBER.fullmatch(value.strip()) else None
        return value

    def clean(self, fragment: str) -> str:
        attributes = {tag: set(names) for tag, names in self.ATTRIBUTES.items()}
        return nh3.clean(
            fragment,
            tags=set(self.TAGS),
            attributes=attributes,
            attribute_filter=self.value,
            url_schemes=self.LINKS | {"data"},  # data: only reaches `value`, which keeps verified images alone
            strip_comments=True,
        )


POLICY = Policy()


class _RendererOnly(HTMLParser):
    """Whether HTML holds only what `POLICY` keeps as it is, plus the ids nbconvert gives headings."""

    HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ok = True

    def handle_starttag(self, tag, attrs):
        if tag not in POLICY.TAGS:
            self.ok = False
        for name, value in attrs:
            if name == "id" and tag in self.HEADINGS:
                continue
            if not POLICY.allows(tag, name) or value is None or POLICY.value(tag, name, value) != value:
                self.ok = False

    handle_startendtag = handle_starttag

    def handle_comment(self, data):
        self.ok = False

    def handle_decl(self, decl):
        self.ok = False

    def handle_pi(self, data):
        self.ok = False

    def unknown_decl(self, data):
        self.ok = False


def render_markdown(source: str, attachments: dict | None = None, maths: Maths | None = None) -> str:
    """`source` as nbconvert renders a markdown cell in its HTML pages (raw HTML passed through). With `maths`,
    each formula that converts to MathML is one of its placeholders instead of ``$...$`` text."""
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer = _renderer()(maths, escape=False, attachments=attachments or {})
    return MarkdownWithMath(renderer=renderer).render(source)


@functools.cache
def _renderer():
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class Renderer(IPythonRenderer):
        """nbconvert's renderer; with a `Maths`, its formulas become that one's placeholders."""

        def __init__(self, maths: Maths | None, **kwargs):
            super().__init__(**kwargs)
            self.maths = maths

        def _formula(self, latex: str, display: bool, text: str) -> str | None:
            return None if self.maths is None else self.maths.placeholder(latex, display, text)

        def inline_math(self, body: str) -> str:
            return self._formula(body, False, f"${body}$") or super().inline_math(body)

        def block_math(self, body: str) -> str:
            return self._formula(body, True, f"$${body}$$") or super().block_math(body)

        def latex_environment(self, name: str, body: str) -> str:
            text = f"\\begin{{{name}}}{body}\\end{{{name}}}"
            return self._formula(text, True, text) or super().latex_environment(name, body)

    return Renderer


def _renderer_only(rendered: str) -> bool:
    check = _RendererOnly()
    try:
        check.feed(rendered)
        check.close()
    except Exception:  # noqa: BLE001 - markup the standard library's parser refuses ("<![x"): no renderer's own
        return False
    return check.ok


def _passed_through(block: str) -> bool:
    """Whether nbconvert's renderer gives `block` back as it is (an HTML block it does not look into)."""
    try:
        return render_markdown(block).strip() == block
    except Exception:  # noqa: BLE001 - a renderer that fails on it does not pass it through
        return False


WRAPPER = '<div class="attnlab-sanitized">'


def _one_block(fragment: str) -> str:
    """`fragment` on one line inside a div: a single CommonMark HTML block, which ends only at a blank line.
    A newline becomes ``&#10;``, the same character to the browser (inside ``<pre>`` too). A fragment in that
    div already (a cell cleaned before) is not wrapped again, so that cleaning twice changes nothing."""
    fragment = fragment.strip()
    if not (fragment.startswith(WRAPPER) and fragment.endswith("</div>")):
        fragment = f"{WRAPPER}{fragment}</div>"
    return fragment.replace("\r", "").replace("\n", "&#10;")


def inert_markdown(source, attachments: dict | None = None, mathml: bool = False) -> str:
    """A markdown cell's source, made inert (see the module's docstring): `source` itself where nbconvert's
    renderer makes only its own plain tags of it, else its rendering cleaned by nh3, as one HTML block.
    With `mathml` (a page's view), a cell with maths is that block, its formulas MathML (`attnlab.maths`)."""
    return _inert_markdown(source, attachments, mathml)[0]


def _inert_markdown(source, attachments: dict | None, mathml: bool = False) -> tuple[str, bool]:
    """(`inert_markdown`, whether the policy took something out of what the renderer made of `source`)."""
    source = "".join(source) if isinstance(source, list) else str(source)
    maths = Maths() if mathml else None
    try:
        rendered = render_markdown(source, attachments, maths)
    except Exception:  # noqa: BLE001 - a missing attachment, or anything else the renderer refuses
        rendered = None
    kept = rendered is not None and _renderer_only(rendered)
    if kept and not _RAW_HTML.search(source) and not (maths and maths.formulas):
        return source, False
    if rendered is not None:
        block = _one_block(POLICY.clean(rendered))
        for _ in range(3):  # until cleaning it again changes nothing (a newline that opens a <pre> goes)
            again = _one_block(POLICY.clean(block))
            if again == block:
                break
            block = again
        if maths is not None:
            block = maths.put_back(block)
        if _passed_through(block):
            return block, not kept and block != source
    escaped = _one_block(f"<pre>{html.escape(source)}</pre>")
    return (escaped if _passed_through(escaped) else "[a markdown cell attnlab cannot show safely]"), True


# ------------------------------------------------------------------------------------------------- metadata


def _nbgrader_metadata(meta, changes: Counter) -> dict | None:
    """A cell's nbgrader metadata with each field of its expected type, or None where its grade_id is not plain."""
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    if not isinstance(grade_id, str) or not PLAIN_NAME.fullmatch(grade_id):
        changes["nbgrader metadata"] += 1
        return None
    out = {"grade_id": meta["grade_id"]}
    for key in ("grade", "solution", "locked", "task"):
        if key in meta:
            out[key] = bool(meta[key])
    for key in ("points", "score"):
        if isinstance(meta.get(key), (int, float)) and not isinstance(meta[key], bool):
            out[key] = meta[key]
    if isinstance(meta.get("schema_version"), int):
        out["schema_version"] = meta["schema_version"]
    if meta.get("cell_type") in ("code", "markdown", "raw"):
        out["cell_type"] = meta["cell_type"]
    if isinstance(meta.get("checksum"), str) and re.fullmatch(r"[0-9a-f]{1,128}", meta["checksum"]):
        out["checksum"] = meta["checksum"]
    if isinstance(meta.get("comment"), str):
        out["comment"] = inert_markdown(meta["comment"])
    return out


def _cell_metadata(cell, changes: Counter) -> dict:
    meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
    out = {}
    if "nbgrader" in meta and (nbgrader := _nbgrader_metadata(meta["nbgrader"], changes)) is not None:
        out["nbgrader"] = nbgrader
    if isinstance(meta.get("tags"), list):
        out["tags"] = [t for t in meta["tags"] if isinstance(t, str) and PLAIN_NAME.fullmatch(t)]
    if cell.get("cell_type") == "raw" and isinstance(meta.get("raw_mimetype"), str):
        if re.fullmatch(r"[\w.+-]+/[\w.+-]+", meta["raw_mimetype"]):
            out["raw_mimetype"] = meta["raw_mimetype"]
    return out


def _notebook_metadata(meta) -> dict:
    """The notebook's kernelspec and language info, as plain strings; nothing else (no widget state, no title)."""
    out = {}
    meta = meta if isinstance(meta, dict) else {}
    for key, fields in (
        ("kernelspec", ("name", "display_name", "language")),
        ("language_info", ("name", "pygments_lexer", "version", "file_extension", "mimetype")),
    ):
        if isinstance(meta.get(key), dict):
            out[key] = {f: plain_text(meta[key][f])[:100] for f in fields if isinstance(meta[key].get(f), str)}
    return out


def _attachments(attachments, changes: Counter) -> dict:
    out = {}
    for name, bundle in (attachments or {}).items():
        if not isinstance(bundle, dict):
            continue
        images = {mime: image for mime in IMAGES if (image := _image(bundle.get(mime), mime)) is not None}
        if len(images) < len(bundle):
            changes["attachment"] += 1
        if images and isinstance(name, str) and PLAIN_NAME.fullmatch(name):
            out[name] = images
    return out


# ----------------------------------------------------------------------------------------------- notebooks


def inert_notebook(nb, mathml: bool = False) -> Counter:
    """Make `nb` (an nbformat v4 notebook) inert in place; what was dropped or rewritten, counted by kind.
    With `mathml` (for a page that shows it), markdown's maths become MathML (`inert_markdown`)."""
    import nbformat

    changes: Counter = Counter()
    nb.metadata = nbformat.from_dict(_notebook_metadata(nb.get("metadata")))
    for cell in nb.cells:
        if "id" in cell and not (isinstance(cell.id, str) and CELL_ID.fullmatch(cell.id)):
            cell.id = random_cell_id()
            changes["cell id"] += 1
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            changes["cell of an unknown type"] += 1
            cell.cell_type = "markdown"
            for key in ("outputs", "execution_count"):
                cell.pop(key, None)
        meta = _cell_metadata(cell, changes)
        if cell.cell_type == "code":
            cell.outputs = nbformat.from_dict(inert_outputs(cell.get("outputs", []), changes))
            cell.execution_count = _count(cell.get("execution_count"))
        elif cell.cell_type == "markdown":
            attachments = _attachments(cell.get("attachments"), changes)
            source, dropped = _inert_markdown(cell.get("source", ""), attachments, mathml)
            if dropped:  # not a cell rewritten as the HTML it renders to, with nothing taken out
                changes["markdown cell"] += 1
            cell.source = source
            if attachments:
                cell.attachments = nbformat.from_dict(attachments)
            else:
                cell.pop("attachments", None)
        else:
            source = POLICY.clean(plain_text(cell.get("source", "")))
            if source != cell.get("source"):
                changes["raw cell"] += 1
            cell.source = source
            cell.pop("attachments", None)
        cell.metadata = nbformat.from_dict(meta)
    return changes


def describe(changes: Counter) -> str:
    """`changes` in words for a log line: 'text/html (2), markdown cell (1)'."""
    return ", ".join(f"{kind} ({n})" for kind, n in sorted(changes.items()))
