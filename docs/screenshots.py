"""Screenshots of the lessons' figures, rendered by Chromium from the executed notebooks: `make screenshots`.

Each lesson's source notebook (solutions in) is run top to bottom in a fresh kernel, exported to HTML with
nbconvert's lab template, and opened in Chromium; the output of every code cell tagged ``screenshot``
(cell metadata ``tags``) is saved as ``docs/lessons/<lesson>-<k>.png``, k counting those cells from 1.

The kernel runs without ipywidgets, so each slider shows its static fallback: the figure a printed or
exported notebook shows, and a student without widgets sees. The sliders themselves are exercised in
``tests/test_lesson_widgets.py``. Needs Chromium (``make system-deps``) and Playwright's Python package.

    python docs/screenshots.py [LESSON ...]      # default: every lesson in assignments/source
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "assignments" / "source"
OUT = REPO / "docs" / "lessons"
TAG = "screenshot"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Put first on the kernel's path: `import ipywidgets` fails, as where widgets are not installed.
NO_WIDGETS = "raise ImportError('ipywidgets is left out for the screenshots: the static fallbacks are drawn')\n"


def executed_html(lesson: str, scratch: Path) -> Path:
    """The lesson's source notebook, run top to bottom (figures inline), as an HTML page in `scratch`."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(SOURCE / lesson / f"{lesson}.ipynb", as_version=4)
    blocker = scratch / "no_widgets"
    blocker.mkdir(exist_ok=True)
    (blocker / "ipywidgets.py").write_text(NO_WIDGETS)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's inline backend: PNG outputs
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocker), env.get("PYTHONPATH")]))
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(SOURCE / lesson)}}
    )
    client.execute(env=env)
    html, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    page = scratch / f"{lesson}.html"
    page.write_text(html, encoding="utf-8")
    return page


def shoot(page: Path, lesson: str, browser) -> list[Path]:
    """Save the output of every cell tagged `TAG` on `page`; the paths written."""
    tab = browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=1)
    tab.goto(page.as_uri())
    tab.wait_for_load_state("load")
    saved = []
    for k, output in enumerate(tab.locator(f".celltag_{TAG} .jp-OutputArea").all(), start=1):
        path = OUT / f"{lesson}-{k}.png"
        output.screenshot(path=str(path))
        saved.append(path)
    tab.close()
    return saved


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright
    from rich.console import Console

    console = Console()
    chromium = shutil.which("chromium")
    if chromium is None:
        console.print("docs/screenshots.py: chromium is missing: run `make system-deps` (as root)")
        return 2
    lessons = argv or sorted(p.name for p in SOURCE.iterdir() if (p / f"{p.name}.ipynb").exists())
    unknown = [name for name in lessons if not (SOURCE / name / f"{name}.ipynb").exists()]
    if unknown:
        console.print(f"docs/screenshots.py: no lesson {unknown[0]!r} in {SOURCE}")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="attnlab-shots-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        for lesson in lessons:
            with console.status(f"{lesson}: running the notebook"):
                page = executed_html(lesson, Path(tmp))
            saved = shoot(page, lesson, browser)
            console.print(f"{lesson}: {len(saved)} screenshot(s): " + ", ".join(p.name for p in saved))
            for old in OUT.glob(f"{lesson}-*.png"):
                if old not in saved:
                    old.unlink()  # a cell no longer tagged
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
