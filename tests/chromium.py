"""Headless Chromium driven over the DevTools protocol through a pipe (no extra dependency).

``--remote-debugging-pipe`` makes Chromium read protocol messages from file descriptor 3 and
write them to descriptor 4, each a JSON object followed by a NUL byte
(https://chromedevtools.github.io/devtools-protocol/). The tests use it to open a report the
way a person would (a 1280 px wide window, scripts on, the page's own Content-Security-Policy),
run a measuring script in the page (``Runtime.evaluate`` is not subject to the page's CSP), and
take a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

#: Where Debian's package installs the browser (``apt-get install chromium``).
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

#: ``.ci/run`` installs chromium and sets ``MODELBENCH_EXPECT_CHROMIUM=1``: there a browser that
#: is missing or does not start fails the browser tests instead of skipping them.
EXPECTED = os.environ.get("MODELBENCH_EXPECT_CHROMIUM") == "1"

#: The mark of a test that opens a page in Chromium: skipped, saying why, where it is not
#: installed (unless it is expected).
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not EXPECTED,
    reason="chromium is not installed (.ci/run installs it: apt-get install chromium)")

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--remote-debugging-pipe")


class ChromiumError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page. ``events`` collects the protocol events seen
    (console messages, exceptions, log entries such as CSP violations)."""

    def __init__(self, executable: str | None = None, *, width: int = 1280, height: int = 900,
                 timeout: float = 60.0) -> None:
        executable = executable or CHROMIUM
        if executable is None:
            raise ChromiumError("chromium is not installed" + (" (MODELBENCH_EXPECT_CHROMIUM=1 expects it)" if EXPECTED else ""))
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="modelbench-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire() -> None:  # in the child: the protocol pipe on descriptors 3 and 4
            read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self._log = open(Path(self.profile) / "stderr.log", "wb")  # a file: a full pipe would block it
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            close_fds=False, preexec_fn=wire,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.resize(width, height)

    # -- protocol --------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise ChromiumError("no answer from chromium within the timeout")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                stderr = (Path(self.profile) / "stderr.log").read_bytes().decode(errors="replace")
                raise ChromiumError(f"chromium closed the protocol pipe: {stderr[-2000:]}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise ChromiumError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_for(self, event: str) -> dict[str, Any]:
        for seen in self.events:
            if seen["method"] == event:
                self.events.remove(seen)
                return seen
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._receive(deadline)
            if answer.get("method") == event:
                return answer
            if "method" in answer:
                self.events.append(answer)

    # -- page ------------------------------------------------------------------------------

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def open(self, path: Path | str) -> float:
        """Load a page and wait for its load event; returns the seconds it took."""
        url = Path(path).resolve().as_uri() if not str(path).startswith(("file:", "about:", "data:")) else str(path)
        started = time.perf_counter()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")
        return time.perf_counter() - started

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise ChromiumError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page at the current width (the whole page when ``full_page``)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and log errors (e.g. CSP violations) seen so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args", []))[:500])
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", "")[:500])
        return found

    def close(self) -> None:
        try:
            self._send({"id": 10**9, "method": "Browser.close"})
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: A script for :meth:`Chromium.evaluate`: every pair of labels (SVG texts) of one chart that
#: overlap, every text drawn outside its chart, and every HTML element whose text runs out of
#: its box (a cut or overflowing name). An empty list when the layout is clean.
LAYOUT_PROBLEMS = r"""
(() => {
  const problems = [];
  const describe = (el) => (el.textContent || "").trim().slice(0, 60);
  for (const svg of document.querySelectorAll("svg")) {
    const frame = svg.getBoundingClientRect();
    const texts = Array.from(svg.querySelectorAll("text"))
      .map((el) => ({ el, box: el.getBoundingClientRect() }))
      .filter((t) => t.box.width > 0 && t.box.height > 0);
    for (const t of texts) {
      if (t.box.left < frame.left - 1 || t.box.right > frame.right + 1 ||
          t.box.top < frame.top - 1 || t.box.bottom > frame.bottom + 1) {
        problems.push(`outside its chart (${svg.getAttribute("class")}): ${describe(t.el)}`);
      }
    }
    for (let i = 0; i < texts.length; i += 1) {
      for (let j = i + 1; j < texts.length; j += 1) {
        const a = texts[i].box, b = texts[j].box;
        const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (x > 1 && y > 1) {
          problems.push(`overlap in ${svg.getAttribute("class")}: "${describe(texts[i].el)}" and "${describe(texts[j].el)}"`);
        }
      }
    }
  }
  for (const el of document.querySelectorAll("td, th, nav a, .legend span, .card h3, .card .pick, h1, h2, h3, .model")) {
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "auto") {
      problems.push(`text runs out of its box: <${el.tagName.toLowerCase()}> ${describe(el)}`);
    }
  }
  for (const el of document.querySelectorAll(".scroll, .table-wrap, section, main")) {
    if (el.scrollWidth > el.clientWidth + 1) {  // a table wider than the page hides columns behind a scrollbar
      problems.push(`wider than the page: ${el.id || el.className} (${el.scrollWidth} > ${el.clientWidth} px)`);
    }
  }
  return problems;
})()
"""
