"""A small client of the Chrome DevTools Protocol, for testing the built book in Chromium.

    from cdp import Browser
    with Browser("/usr/bin/chromium") as page:
        page.navigate("http://127.0.0.1:8000/book/intro.html")
        title = page.evaluate("document.title")
        page.screenshot("intro.png")

It starts one headless Chromium (the system's; nothing is downloaded), talks
to its page over a WebSocket (``websocket-client``) and records what the page
reports: console errors, uncaught exceptions and failed loads
(:attr:`Browser.errors`). ``tests/book/test_browser.py`` uses it to open every
page of the book.
"""
from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["Browser", "CDPError", "ConsoleError", "find_chromium"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--no-proxy-server", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-port=0")


class CDPError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class ConsoleError(NamedTuple):
    """Something the page reported as an error.

    Attributes
    ----------
    kind : str
        ``"console"`` (``console.error``), ``"exception"`` (uncaught) or
        ``"log"`` (the browser's own log: a failed load, a blocked request).
    text : str
        The message, with the URL it concerns when there is one.
    """

    kind: str
    text: str


def find_chromium(candidates=CANDIDATES) -> str | None:
    """Path of the first Chromium/Chrome executable on ``PATH``, or ``None``."""
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    return None


def _local_open(url: str, timeout: float):
    """``urlopen`` that never goes through a proxy (the browser is on 127.0.0.1)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(url, timeout=timeout)


class Browser:
    """One headless Chromium and its single page, driven over the DevTools protocol.

    Parameters
    ----------
    executable : str
        The Chromium (or Chrome) program.
    width, height : int
        Window size in CSS pixels.
    timeout : float
        Seconds to wait for the browser to start and for each command.
    """

    def __init__(self, executable: str, *, width: int = 1280, height: int = 900,
                 timeout: float = 30.0):
        import websocket     # websocket-client (requirements-dev.txt)

        self.timeout = timeout
        self.width, self.height = width, height
        self._ids = itertools.count(1)
        self._events: list[dict] = []
        self.errors: list[ConsoleError] = []
        self._profile = Path(tempfile.mkdtemp(prefix="book-chromium-"))
        self._log = open(self._profile.parent / (self._profile.name + ".log"), "w+b")
        self._proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        try:
            port = self._wait_for_port()
            page = self._page_target(port)
            self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout,
                                                   suppress_origin=True, enable_multithread=False)
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    # -- start-up -------------------------------------------------------------
    def _browser_log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-3000:]

    def _wait_for_port(self) -> int:
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise CDPError(f"Chromium exited with status {self._proc.returncode}:\n"
                               f"{self._browser_log()}")
            if port_file.is_file():
                lines = port_file.read_text().split()
                if lines and lines[0].isdigit():
                    return int(lines[0])
            time.sleep(0.05)
        raise CDPError(f"Chromium did not open its DevTools port in {self.timeout} s:\n"
                       f"{self._browser_log()}")

    def _page_target(self, port: int) -> dict:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with _local_open(f"http://127.0.0.1:{port}/json/list", self.timeout) as resp:
                targets = json.load(resp)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]
            time.sleep(0.05)
        raise CDPError("Chromium has no page target")

    # -- protocol ---------------------------------------------------------------
    def _receive(self, deadline: float) -> dict:
        import websocket

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CDPError("timed out waiting for the browser")
        self._ws.settimeout(remaining)
        try:
            message = json.loads(self._ws.recv())
        except websocket.WebSocketTimeoutException as exc:
            raise CDPError("timed out waiting for the browser") from exc
        if "method" in message:
            self._record(message)
        return message

    def _record(self, event: dict) -> None:
        self._events.append(event)
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.errors.append(ConsoleError("console", text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.errors.append(ConsoleError("exception", f"{text} ({details.get('url', '')})"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(ConsoleError("log", f"{entry.get('text', '')} {entry.get('url', '')}".strip()))

    def call(self, method: str, timeout: float | None = None, **params) -> dict:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._receive(deadline)
            if message.get("id") == msg_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_for_event(self, method: str, timeout: float | None = None) -> dict:
        """The first ``method`` event not yet consumed (waiting for it if needed)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    del self._events[: i + 1]
                    return event.get("params", {})
            self._receive(deadline)

    # -- page actions ----------------------------------------------------------------
    def navigate(self, url: str, timeout: float | None = None) -> None:
        """Open ``url`` and wait for its ``load`` event; errors are collected afresh."""
        self._events.clear()
        self.errors = []
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"navigating to {url}: {result['errorText']}")
        self.wait_for_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, *, await_promise: bool = False,
                 timeout: float | None = None) -> Any:
        """Run JavaScript in the page and return its (JSON-serializable) value."""
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"JavaScript error: {text}")
        return result.get("result", {}).get("value")

    def click(self, x: float, y: float) -> None:
        """A left click of the mouse at viewport coordinates ``(x, y)``."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def screenshot(self, path, *, full_page: bool = True, max_height: int = 8000) -> Path:
        """Save a PNG of the page (the whole page, up to ``max_height`` pixels)."""
        if not full_page:
            data = self.call("Page.captureScreenshot", format="png")["data"]
        else:
            # Make the window as tall as the page (up to max_height), capture, restore:
            # captureBeyondViewport instead lays a sticky sidebar out wrongly.
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            height = int(min(size["height"], max_height))
            self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=height,
                      deviceScaleFactor=1, mobile=False)
            try:
                self.evaluate("new Promise(r => requestAnimationFrame(() => "
                              "requestAnimationFrame(() => r(true))))", await_promise=True)
                data = self.call("Page.captureScreenshot", format="png")["data"]
            finally:
                self.call("Emulation.setDeviceMetricsOverride", width=self.width,
                          height=self.height, deviceScaleFactor=1, mobile=False)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    # -- shutting down -------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection, stop Chromium, remove its temporary profile."""
        ws = getattr(self, "_ws", None)
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
