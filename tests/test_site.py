"""The course site in a real browser: every lesson page of the built site (``make site``, into ``site/``) loads in
Debian's Chromium, shows no error or warning output, every picture loads, and "next" walks through the lessons;
every docs page (getting started, guides, results, reliability, architecture, API reference, changelog) is listed,
renders with no broken picture or link and no error marker, and the API reference documents the package's functions.

Runs after ``make site`` (the ``test`` target builds the site after the lessons ran, so it trains nothing);
skipped when there is no built site. What the site build adds to the lessons (a note before each editor) is checked
without one. ``DEEPSIM_SITE_SCREENSHOT=docs/site.png`` saves the screenshot of lesson 04, and beside it
``site-landing.png`` (the landing page) and ``site-guide.png`` (the guide "Edit your own photo").
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import threading
from pathlib import Path

import pytest
from _browser import chromium_page, free_port, why_no_browser

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("DEEPSIM_SITE", ROOT / "site"))
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb"))
# every docs page, by its path on the site (the site is laid out as the repository: docs/guides/x.md -> docs/guides/x)
DOCS = sorted(str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "docs").rglob("*.md")
              if p.relative_to(ROOT / "docs").parts[0] not in ("site", "screenshots"))
API_MODULE = "deepsim_lite.method.tps"  # one module page of the API reference, checked for its functions

_NO_SITE = why_no_browser() or (None if (SITE / "index.html").is_file()
                                 else f"no built site at {SITE}: run `make site` first")  # why the browser test skips


def _build_site():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_site_says_before_each_editor_that_it_is_live_only_in_jupyter():
    build = _build_site()
    for book in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        cells = build.site_notebook(json.loads(book.read_text()))["cells"]
        notes = [i for i, c in enumerate(cells) if "".join(c["source"]) == build.EDITOR_NOTE]
        editors = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and re.search(
            r"^(\w+) = PrimitiveEditor\(.*\n\1\s*$", "".join(c["source"]), re.S | re.M)]
        assert [i + 1 for i in notes] == editors, book.name  # one note, right before each editor shown
        assert bool(editors) == (book.stem[:2] in ("03", "07")), book.name
    assert not build.shows_editor("scripted = PrimitiveEditor(model, prim)\nscripted.apply(f)")  # made, not shown
    assert (ROOT / "docs" / "site" / "_static" / "lessons.css").is_file()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.mark.skipif(_NO_SITE is not None, reason=str(_NO_SITE))
def test_every_lesson_page_renders_and_navigation_walks_the_lessons(tmp_path: Path) -> None:
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        with chromium_page(width=1400, height=1000) as page:
            # only this server: a CDN (MathJax) that drops packets must not stall the page's load event
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
            page.goto(f"{base}/index.html")
            links = page.locator("nav.bd-links a, .toctree-wrapper a")
            hrefs = {a.get_attribute("href") for a in links.all()}
            assert all(any(lesson in (h or "") for h in hrefs) for lesson in LESSONS), hrefs
            page.goto(f"{base}/notebooks/{LESSONS[0]}.html")
            for i, lesson in enumerate(LESSONS):
                assert page.url.endswith(f"notebooks/{lesson}.html"), (page.url, lesson)
                page.wait_for_load_state("load")
                bad = page.locator(".cell_output .output.traceback, .cell_output .output.error, "
                                   ".cell_output .output.stderr")
                assert bad.count() == 0, f"{lesson}: error or warning output: {bad.first.inner_text()[:300]}"
                text = page.locator("article").inner_text()
                assert "BEGIN SOLUTION" not in text and "(instructor)" not in text, f"{lesson}: solutions on the site"
                assert ("live only in Jupyter" in text) == (lesson[:2] in ("03", "07")), f"{lesson}: the editor's note"
                wraps = page.evaluate("""() => [...document.querySelectorAll('div.cell_input div.highlight pre')]
                    .map((pre) => getComputedStyle(pre).whiteSpace)""")  # lessons.css: long lines wrap, none clipped
                assert wraps and set(wraps) == {"pre-wrap"}, f"{lesson}: code cells that do not wrap: {wraps}"
                images = page.locator("article img")
                assert images.count() > 0 or lesson.startswith("03"), f"{lesson}: no figure on the page"
                broken = page.evaluate("""() => [...document.querySelectorAll('article img')]
                    .filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.src.slice(0, 80))""")
                assert not broken, f"{lesson}: pictures that did not load: {broken}"
                if lesson.startswith("04"):  # a page with figures: the first one in view
                    images.first.scroll_into_view_if_needed()
                    page.mouse.wheel(0, -250)
                    page.wait_for_timeout(300)
                    page.screenshot(path=os.environ.get("DEEPSIM_SITE_SCREENSHOT", str(tmp_path / "site.png")))
                if i + 1 < len(LESSONS):
                    page.locator("a.right-next").first.click()  # the theme's "next" link
                    page.wait_for_url(f"**/notebooks/{LESSONS[i + 1]}.html")
            shots = Path(os.environ.get("DEEPSIM_SITE_SCREENSHOT", str(tmp_path / "site.png"))).parent
            page.goto(f"{base}/index.html")
            page.screenshot(path=str(shots / "site-landing.png"))
            for doc in DOCS:  # listed on the index, rendered, every picture and link on it answers
                assert any(doc in (h or "") for h in hrefs), (doc, hrefs)
                page.goto(f"{base}/{doc}.html")
                page.wait_for_load_state("load")
                assert page.locator("article h1").count() == 1, doc
                assert page.locator("article .system-message, article .problematic").count() == 0, doc
                broken = page.evaluate("""() => [...document.querySelectorAll('article img')]
                    .filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.src.slice(0, 80))""")
                assert not broken, f"{doc}: pictures that did not load: {broken}"
                targets = page.evaluate("""() => [...document.querySelectorAll('article a[href]')]
                    .map((a) => a.href).filter((h) => h.startsWith(location.origin))""")
                dead = [t for t in dict.fromkeys(t.split("#")[0] for t in targets) if not page.request.get(t).ok]
                assert not dead, f"{doc}: links that do not answer: {dead}"
                if doc.endswith("edit_your_photo"):
                    page.screenshot(path=str(shots / "site-guide.png"))
                if doc.startswith("docs/results/") or doc == "docs/lesson_recipe":
                    assert page.locator("article table").count() > 0, f"{doc}: no results table"
            page.goto(f"{base}/docs/api/{API_MODULE}.html")  # the API reference: signatures and docstrings
            functions = page.locator("article dl.py.function > dt").all_inner_texts()
            assert any("fit_tps" in f for f in functions) and len(functions) >= 5, functions
            assert page.locator("article dl.py.function > dd p").count() >= 5, "functions without their docstrings"
    finally:
        server.shutdown()
        server.server_close()
