"""LaTeX maths as MathML, for the pages that show a notebook without running anything: maths that need no
script and no CDN.

nbconvert's pages (nbgrader's feedback among them) leave ``$T = 0.05$`` in the page for MathJax, which
they load from a CDN: an offline hub shows the dollars and the backslashes, and so does JupyterLab's HTML
viewer, which runs no script at all. Browsers draw MathML themselves (Chromium since 109, Firefox, Safari).

- `to_mathml(latex, display)`: latex2mathml's MathML for `latex`, cleaned by nh3 under `MATHML_TAGS` and
  `MATHML_ATTRIBUTES` (MathML elements alone: no HTML inside, no ``href``, no ``style``; latex2mathml passes
  ``\\text{<img ...>}`` and ``\\href{javascript:...}`` through as they are), or None where it cannot convert.
- `Maths`: what `attnlab.inert` uses while it renders a markdown cell: each formula becomes a placeholder
  that no student can write (a random nonce), the cell is cleaned under the page's policy, and the
  placeholders in its text become the cleaned MathML (`Maths.put_back`); one inside an attribute (an
  image's alt text) becomes the formula's own text.

It imports latex2mathml and nh3 and nothing of attnlab's grading.
"""

from __future__ import annotations

import html
import re
import secrets
from html.parser import HTMLParser

import nh3

#: MathML Core's presentation elements. Never maction, semantics or annotation (which may hold HTML).
MATHML_TAGS = frozenset(
    "math mrow mi mn mo ms mtext mspace msqrt mroot mfrac msub msup msubsup munder mover munderover "
    "mmultiscripts mprescripts none mtable mtr mtd mstyle mpadded mphantom menclose merror".split()
)
#: Their layout attributes; none is a link, a script or a style.
MATHML_ATTRIBUTES = frozenset(
    "display displaystyle scriptlevel mathvariant mathcolor stretchy fence form separator largeop movablelimits "
    "accent accentunder lspace rspace minsize maxsize symmetric width height depth linethickness columnalign "
    "rowalign columnspacing rowspacing columnlines rowlines frame notation".split()
)
#: A value those attributes may have: words, numbers and lengths ("0.167em", "negativethinmathspace", "red").
_VALUE = re.compile(r"[A-Za-z0-9.%# -]{0,64}")


def _value(tag: str, attr: str, value: str) -> str | None:
    return value if _VALUE.fullmatch(value) else None


def clean_mathml(mathml: str) -> str:
    """`mathml` with MathML elements and their layout attributes alone (`MATHML_TAGS`, `MATHML_ATTRIBUTES`)."""
    return nh3.clean(
        mathml,
        tags=set(MATHML_TAGS),
        attributes={tag: set(MATHML_ATTRIBUTES) for tag in MATHML_TAGS},
        attribute_filter=_value,
        url_schemes=set(),
        strip_comments=True,
    )


def to_mathml(latex: str, display: bool = False) -> str | None:
    """`latex` as cleaned MathML (see the module's docstring), inline or as a display block; None where
    latex2mathml cannot convert it or nothing of it is left."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(latex, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - whatever the converter raises, the formula stays as its text
        return None
    cleaned = clean_mathml(mathml)
    return cleaned if cleaned.startswith("<math") else None


class Maths:
    """The formulas of one markdown cell, as placeholders while the cell is rendered and cleaned."""

    def __init__(self):
        self.nonce = secrets.token_hex(8)
        self.formulas: list[tuple[str, str]] = []  # (MathML, the formula's own text)

    def placeholder(self, latex: str, display: bool, text: str) -> str | None:
        """A placeholder for `latex` (shown as `text` where MathML cannot go), or None where it does not convert."""
        mathml = to_mathml(latex, display)
        if mathml is None:
            return None
        self.formulas.append((mathml, text))
        return f"attnlabmath{self.nonce}x{len(self.formulas) - 1}x"

    def put_back(self, cleaned: str) -> str:
        """`cleaned` (HTML made by the page's policy) with each placeholder in its text made the formula's
        MathML, and each one elsewhere (an attribute) the formula's own text, escaped."""
        if not self.formulas:
            return cleaned
        token = re.compile(rf"attnlabmath{self.nonce}x(\d+)x")
        spans = _text_spans(cleaned)
        out, last = [], 0
        for found in token.finditer(cleaned):
            index = int(found.group(1))
            if index >= len(self.formulas):
                continue
            mathml, text = self.formulas[index]
            in_text = any(start <= found.start() and found.end() <= end for start, end in spans)
            out.append(cleaned[last : found.start()])
            out.append(mathml if in_text else html.escape(text, quote=True))
            last = found.end()
        return "".join(out) + cleaned[last:]


class _TextSpans(HTMLParser):
    """Where text (not a tag, an attribute or a comment) lies in a fragment, as offsets into it."""

    def __init__(self, fragment: str):
        super().__init__(convert_charrefs=False)
        self.starts = [0]
        for line in fragment.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))
        self.spans: list[tuple[int, int]] = []

    def handle_data(self, data):
        line, column = self.getpos()
        start = self.starts[line - 1] + column
        self.spans.append((start, start + len(data)))


def _text_spans(fragment: str) -> list[tuple[int, int]]:
    parser = _TextSpans(fragment)
    parser.feed(fragment)
    parser.close()
    return parser.spans
