"""A small W3C WebDriver client (standard library only) for the browser tests.

It drives the system's Chromium through its chromedriver (Debian: ``apt-get install
chromium chromium-driver``), so the tests need no Python package and download nothing.
:func:`browser_or_skip` skips the calling test, with the reason, where either is missing
or cannot start.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
KEYS = {"shift": "\ue008", "control": "\ue009", "alt": "\ue00a"}
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class WebDriverError(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium session (``width`` x ``height`` CSS pixels of window)."""

    def __init__(self, chromedriver: str, chromium: str, width: int = 1100, height: int = 800,
                 extra_args: list | None = None):
        self.profile = tempfile.TemporaryDirectory(prefix="talkface-chromium-")
        port = _free_port()
        self.proc = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        self.session = None
        try:
            end = time.monotonic() + 30
            while True:
                try:
                    if self._call("GET", "/status").get("ready"):
                        break
                except (OSError, WebDriverError):
                    pass
                if time.monotonic() > end or self.proc.poll() is not None:
                    raise WebDriverError("chromedriver did not start")
                time.sleep(0.1)
            args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    f"--window-size={width},{height}", f"--user-data-dir={self.profile.name}", *(extra_args or [])]
            caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}
            self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        except BaseException:
            self.close()
            raise

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                out = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                v = json.loads(e.read()).get("value", {})
                msg = f"{v.get('error')}: {v.get('message', '')}".splitlines()[0]
            except ValueError:
                msg = str(e)
            raise WebDriverError(f"{method} {path}: {msg}") from None
        return out.get("value", out)

    def _s(self, path: str) -> str:
        return f"/session/{self.session}{path}"

    def get(self, url: str):
        self._call("POST", self._s("/url"), {"url": url})

    def js(self, script: str, *args):
        """Run ``script`` (a function body; ``arguments`` are ``args``) and return its value."""
        return self._call("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def wait_for(self, script: str, timeout: float = 20.0):
        end = time.monotonic() + timeout
        while True:
            v = self.js(script)
            if v:
                return v
            if time.monotonic() > end:
                raise WebDriverError(f"timed out waiting for: {script}")
            time.sleep(0.1)

    def find(self, css: str) -> str:
        return self._call("POST", self._s("/element"), {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css: str):
        self._call("POST", self._s(f"/element/{self.find(css)}/click"), {})

    def actions(self, pointer: list, keys: list | None = None):
        """Perform W3C input actions: ``pointer`` (a mouse's), ``keys`` (a keyboard's, padded
        with pauses to the same number of ticks)."""
        sources = [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": pointer}]
        if keys:
            keys = keys + [{"type": "pause", "duration": 0}] * max(0, len(pointer) - len(keys))
            pointer += [{"type": "pause", "duration": 0}] * max(0, len(keys) - len(pointer))
            sources.append({"type": "key", "id": "keyboard", "actions": keys})
        self._call("POST", self._s("/actions"), {"actions": sources})
        self._call("DELETE", self._s("/actions"))

    def drag(self, x0: float, y0: float, x1: float, y1: float, hold: str | None = None, steps: int = 8):
        """Press the left button at viewport (x0, y0), move in ``steps`` to (x1, y1) and release,
        with the key ``hold`` ("shift", "alt") held throughout."""
        moves = [{"type": "pointerMove", "origin": "viewport", "duration": 20,
                  "x": int(round(x0 + (x1 - x0) * k / steps)), "y": int(round(y0 + (y1 - y0) * k / steps))}
                 for k in range(1, steps + 1)]
        pointer = [{"type": "pointerMove", "origin": "viewport", "duration": 0, "x": int(round(x0)),
                    "y": int(round(y0))}, {"type": "pointerDown", "button": 0}, *moves,
                   {"type": "pointerUp", "button": 0}]
        keys = None
        if hold:
            k = KEYS[hold]
            keys = [{"type": "keyDown", "value": k}, *[{"type": "pause", "duration": 0}] * (len(pointer) - 1),
                    {"type": "keyUp", "value": k}]
            pointer = [{"type": "pause", "duration": 0}, *pointer]
        self.actions(pointer, keys)

    def press(self, key: str, *modifiers: str):
        """Press ``key`` (a character) with ``modifiers`` ("control", "shift") held."""
        mods = [KEYS[m] for m in modifiers]
        keys = ([{"type": "keyDown", "value": m} for m in mods] + [{"type": "keyDown", "value": key},
                {"type": "keyUp", "value": key}] + [{"type": "keyUp", "value": m} for m in reversed(mods)])
        self._call("POST", self._s("/actions"), {"actions": [{"type": "key", "id": "keyboard", "actions": keys}]})
        self._call("DELETE", self._s("/actions"))

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self._call("GET", self._s("/screenshot"))))

    def close(self):
        if self.session is not None:
            try:
                self._call("DELETE", self._s(""))
            except (OSError, WebDriverError):
                pass
            self.session = None
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.profile.cleanup()


def _missing(reason: str):
    """Skip, saying why; where ``TALKFACE_REQUIRE_BROWSER=1`` (CI, which installs Chromium)
    fail instead, so a browser test never passes there by not running."""
    if os.environ.get("TALKFACE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TALKFACE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def browser_or_skip(**kw) -> Browser:
    """A headless Chromium, or ``pytest.skip`` saying what is missing."""
    driver = shutil.which("chromedriver")
    chromium = next((p for p in map(shutil.which, CHROMIUMS) if p), None)
    if not driver or not chromium:
        _missing("no chromedriver and Chromium here (Debian: apt-get install chromium chromium-driver)")
    try:
        return Browser(driver, chromium, **kw)
    except (OSError, WebDriverError) as e:
        _missing(f"chromedriver could not start Chromium: {e}")
