"""A very small headless-Chromium driver over the DevTools protocol (stdlib + websockets).

Only what the UI checks here need: open a page, wait until the network is quiet, run a
bit of JavaScript (for clicks), take a screenshot, and list every request the page made.
``websockets`` comes with Prefect, so nothing beyond the project's venv and the Debian
``chromium`` package is needed.

Every Chromium started here resolves only loopback names (``--host-resolver-rules``), so
a page can never reach the internet, and every request it attempted is kept in
:attr:`Browser.requests` (url, and the error text if it failed).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Any name but loopback fails to resolve: nothing can leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def is_local(url: str) -> bool:
    """Whether a request URL stays on this machine (file:, data:, blob:, about:, loopback http)."""
    parts = urlsplit(url)
    if parts.scheme in {"file", "data", "blob", "about", "chrome", "devtools", ""}:
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


class Browser:
    """``with Browser() as b: b.open(url); b.screenshot(path)``."""

    def __init__(self, width: int = 1400, height: int = 1000, chromium: str = CHROMIUM, extra_args: tuple = ()):
        self.width, self.height = width, height
        self.chromium, self.extra_args = chromium, list(extra_args)
        self.requests: list[dict[str, Any]] = []
        self.console: list[str] = []
        self._inflight: dict[str, str] = {}
        self._last_net = time.monotonic()
        self._id = 0

    # -- process and connection ------------------------------------------------------
    def __enter__(self) -> Browser:
        self._profile = tempfile.mkdtemp(prefix="cdp-profile-")
        self._proc = subprocess.Popen(
            [self.chromium, *FLAGS, *self.extra_args, f"--user-data-dir={self._profile}",
             f"--window-size={self.width},{self.height}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "_ws", None) is not None:
            try:  # a clean close lets Chromium finish its net log (--log-net-log)
                self._ws.send(json.dumps({"id": 0, "method": "Browser.close", "params": {}}))
                self._proc.wait(15)
            except Exception:
                pass
            self._ws.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- protocol ----------------------------------------------------------------------
    def _event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            self._inflight[params["requestId"]] = params["request"]["url"]
            self.requests.append({"url": params["request"]["url"], "id": params["requestId"]})
            self._last_net = time.monotonic()
        elif method in {"Network.loadingFinished", "Network.loadingFailed"}:
            self._inflight.pop(params["requestId"], None)
            self._last_net = time.monotonic()
            if method == "Network.loadingFailed":
                for r in self.requests:
                    if r["id"] == params["requestId"]:
                        r["error"] = params.get("errorText", "failed")
        elif method == "Runtime.consoleAPICalled":
            texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.console.append(f"{params.get('type')}: {' '.join(texts)[:300]}")
        elif method == "Log.entryAdded":
            entry = params["entry"]
            self.console.append(f"{entry.get('level')}: {entry.get('text', '')[:300]}")
        elif method == "Runtime.exceptionThrown":
            self.console.append("exception: " + params["exceptionDetails"].get("text", "")[:300])

    def _pump(self, timeout: float) -> dict[str, Any] | None:
        try:
            msg = json.loads(self._ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        if "method" in msg:
            self._event(msg)
        return msg

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        self._id += 1
        my_id = self._id
        self._ws.send(json.dumps({"id": my_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._pump(max(deadline - time.monotonic(), 0.01))
            if msg and msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
        raise TimeoutError(method)

    # -- page helpers ------------------------------------------------------------------
    def settle(self, quiet: float = 1.5, limit: float = 30) -> None:
        """Wait until no request has started or ended for ``quiet`` seconds (at most ``limit``)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self._pump(0.2)
            if not self._inflight and time.monotonic() - self._last_net > quiet:
                return

    def pause(self, seconds: float) -> None:
        """Process events for ``seconds`` (lets the page re-layout or finish an animation)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pump(0.1)

    def open(self, url: str, quiet: float = 1.5, limit: float = 30) -> None:
        self.call("Page.navigate", {"url": url})
        self._last_net = time.monotonic()
        self.settle(quiet, limit)

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text", "JS error"))
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, limit: float = 20) -> bool:
        """Poll a JS expression until it is truthy."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.js(expression):
                return True
            self._pump(0.25)
        return False

    def screenshot(self, path: Path, full: bool = True, max_height: int = 6000) -> tuple[int, int]:
        """PNG of the page. ``full``: grow the viewport to the tallest scrolling element first
        (single-page apps scroll an inner element, so a plain full-page capture misses it)."""
        height = self.height
        if full:
            tallest = self.js(
                "Math.max(document.documentElement.scrollHeight, ...Array.from(document.querySelectorAll('*'))"
                ".filter(e => e.scrollHeight > e.clientHeight + 2 && getComputedStyle(e).overflowY !== 'visible')"
                ".map(e => e.scrollHeight + e.getBoundingClientRect().top))"
            )
            height = int(min(max(self.height, tallest or 0), max_height))
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": self.width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
            self.pause(0.7)
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))
        if full:
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        return self.width, height

    def external_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if not is_local(r["url"])]
