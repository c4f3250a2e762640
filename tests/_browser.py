"""Real-browser harness: JupyterLab on a free localhost port, driven by Debian's Chromium via Playwright.

Never runs ``playwright install`` (it downloads a browser, which this project must not need):
Chromium comes from the system (``apt-get install chromium``, done by ``make test``'s setup).
See ../shared/notes/browser-testing.md for what was verified and the pitfalls avoided here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = os.environ.get("DEEPSIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def why_no_browser() -> str | None:
    """None when a browser test can run; else the reason, for ``pytest.skip``."""
    if not Path(CHROMIUM).is_file():
        return (f"Chromium is not installed at {CHROMIUM} and `make test` could not install it "
                "(it runs `apt-get install -y chromium`, which needs root or sudo and the Debian mirror)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing; install the test extra: pip install -e '.[test]'"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, timeout_s: float = 90) -> Iterator[str]:
    """Run JupyterLab serving ``root`` (no token, fresh settings) and yield its base URL."""
    port = free_port()
    settings = Path(tempfile.mkdtemp(prefix="jlab-settings-"))
    quiet = settings / "lab" / "@jupyterlab" / "apputils-extension"  # no "get notified about news?" toast
    quiet.mkdir(parents=True)
    (quiet / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings / "lab"), JUPYTER_CONFIG_DIR=str(settings / "cfg"),
               JUPYTERLAB_WORKSPACES_DIR=str(settings / "ws"))
    log = open(settings / "server.log", "w")
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
           "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate", "--allow-root"]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                tail = (settings / "server.log").read_text()[-2000:]
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}: {tail}")
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer on {url} within {timeout_s:.0f} s") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(settings, ignore_errors=True)


@contextlib.contextmanager
def chromium_page(width: int = 1600, height: int = 1000):
    """A fresh headless Chromium page (its own profile), closed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                   args=CHROMIUM_ARGS, viewport={"width": width, "height": height})
        try:
            yield ctx.pages[0] if ctx.pages else ctx.new_page()
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)


def open_notebook(page, url: str, name: str, timeout_ms: int = 120_000):
    """Open ``name`` in JupyterLab, accept a kernel dialog if one appears, wait for an idle kernel;
    return the locator of the visible notebook panel."""
    page.goto(f"{url}/lab/tree/{name}?reset", timeout=timeout_ms)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    return panel


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Poll the status bar until the kernel says Idle (accepting a "Select Kernel" dialog on the way)."""
    deadline = time.monotonic() + timeout_ms / 1000
    status = page.locator(".jp-StatusBar-TextItem", has_text="|")
    while time.monotonic() < deadline:
        accept = page.locator(".jp-Dialog button.jp-mod-accept")
        if accept.count():
            accept.first.click()
        if status.count() and "| Idle" in " ".join(status.all_inner_texts()):
            return
        page.wait_for_timeout(250)
    raise TimeoutError("the kernel did not become idle")


def run_cell(page, panel, index: int) -> None:
    """Select code cell ``index`` by clicking its prompt area, and run it (Shift+Enter)."""
    cell = panel.locator(".jp-Cell").nth(index)
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")


# In the page: after each pointer move with the button held, the time from the event to the first
# animation frame whose canvases hold a new colour at the pointer (the stroke's pixels on screen in
# that frame), in ms; None when nothing changed within 5 s. The listener runs in the capture phase on
# the window, before the widget's own handler, so it reads the pixels from before the move.
_STROKE_PROBE = """(sel) => {
  if (window.__strokeProbe) { window.__strokeLatency = []; return; }
  window.__strokeProbe = true;
  window.__strokeLatency = [];
  const read = (x, y) => {
    const root = document.querySelector(sel);
    const canvases = root.tagName === 'CANVAS' ? [root] : [...root.querySelectorAll('canvas')];
    return canvases.map((c) => {
      const r = c.getBoundingClientRect();
      if (!r.width || x < r.left || y < r.top || x >= r.right || y >= r.bottom) return '';
      const cx = Math.floor((x - r.left) * c.width / r.width), cy = Math.floor((y - r.top) * c.height / r.height);
      return Array.from(c.getContext('2d').getImageData(cx, cy, 1, 1).data).join(',');
    }).join('|');
  };
  let last = '';
  window.addEventListener('pointermove', (e) => {
    if (!(e.buttons & 1) || `${e.clientX},${e.clientY}` === last) return;  // a repeat (e.g. after a reflow)
    last = `${e.clientX},${e.clientY}`;
    const list = window.__strokeLatency;  // this stroke's list: a later stroke starts a new one
    const x = e.clientX, y = e.clientY, before = read(x, y), slot = list.length;
    list.push(undefined);
    const poll = () => {
      const dt = performance.now() - e.timeStamp;
      if (read(x, y) !== before) list[slot] = dt;
      else if (dt > 5000) list[slot] = null;
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  }, true);
}"""


def stroke_latencies(page, selector: str, box: dict, row: float, x0: float, x1: float, moves: int = 24,
                     pause_ms: int = 30) -> list[float | None]:
    """Drag with real mouse events across ``selector``'s box (``row``, ``x0``..``x1`` as fractions of
    its height and width), one move every ``pause_ms``; return each move's pointer-to-pixels time (ms)."""
    page.evaluate(_STROKE_PROBE, selector)
    y = box["y"] + box["height"] * row
    page.mouse.move(box["x"] + box["width"] * x0, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(box["x"] + box["width"] * (x0 + (x1 - x0) * i / moves), y)
        page.wait_for_timeout(pause_ms)
    page.mouse.up()
    page.wait_for_function("() => window.__strokeLatency.every((v) => v !== undefined)", timeout=15_000)
    return page.evaluate("window.__strokeLatency")
