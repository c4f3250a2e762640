"""The course site in a real browser: every lesson page of the built site (``make site``, into ``site/``) loads in
Debian's Chromium, shows no error or warning output, every picture loads, and "next" walks through the lessons;
every guide is listed and renders, and its links answer.

Runs after ``make site`` (the ``test`` target builds the site after the lessons ran, so it trains nothing);
skipped when there is no built site. What the site build adds to the lessons (a note before each editor) is checked
without one. ``DEEPSIM_SITE_SCREENSHOT=docs/site.png`` saves the README's screenshot.
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
GUIDES = sorted(p.stem for p in (ROOT / "docs" / "guides").glob("*.md"))

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
            for guide in GUIDES:  # listed on the index, rendered with its code, every link on it answers
                assert any(f"guides/{guide}" in (h or "") for h in hrefs), (guide, hrefs)
                page.goto(f"{base}/guides/{guide}.html")
                assert page.locator("article h1").count() == 1 and page.locator("article pre").count() > 0, guide
                targets = page.evaluate("""() => [...document.querySelectorAll('article a[href]')]
                    .map((a) => a.href).filter((h) => h.startsWith(location.origin))""")
                dead = [t for t in targets if not page.request.get(t.split("#")[0]).ok]
                assert not dead, f"guides/{guide}: links that do not answer: {dead}"
    finally:
        server.shutdown()
        server.server_close()
