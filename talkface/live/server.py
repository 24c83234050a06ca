"""``talkface live --serve``: a local page that takes the browser's microphone and shows the
face speaking (standard library HTTP; the page is package data, ``page.html``).

It listens on 127.0.0.1 only and answers only requests that carry its per-run key (the
``t`` of the URL it prints, sent back by the page as ``X-Talkface-Token``) and name it by
its own address in ``Host`` (as the landmark editor, ``talkface.editor``):

  GET  /?t=KEY             the page
  POST /audio?rate=R&client=C   s16le mono PCM recorded at R Hz (at most 1 MB a request);
                           one page's microphone at a time: another page's audio is
                           refused (409) until the first has been silent for 2 s
  GET  /frame?after=N      the newest frame after N as JPEG (long poll, 1 s; 204 when none);
                           X-Frame-Index, -Opening (inner lips), -Level (dBFS of its audio),
                           -Latency (ms from its audio's arrival to now)
  GET  /stats              the stream's figures (JSON)

Frames come from one :class:`~talkface.live.stream.LiveStream` in drop mode: the thread
that called :meth:`LiveServer.serve` reads them and keeps only the newest, so a page that
reads slowly, disconnects or never reads costs nothing and holds nothing up.
"""
from __future__ import annotations

import queue
import threading
import time
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..runtime.errors import InputError
from ..runtime.localpage import KeyedHandler, listen

MAX_BODY = 1 << 20
OWNER_IDLE = 2.0  # seconds without audio after which another page may take the microphone
CSP = ("default-src 'none'; img-src 'self' blob:; media-src 'self' blob:; connect-src 'self'; "
       "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")


def page_html() -> bytes:
    return (resources.files("talkface.live") / "page.html").read_bytes()


class LiveServer:
    """Serve ``face`` (a :class:`~talkface.live.stream.LiveFace`) on 127.0.0.1:``port``
    (0: any free one) until :meth:`stop` or Ctrl-C."""

    def __init__(self, face, port: int = 0, quality: int = 85):
        self.face, self.quality = face, int(quality)
        self._page = page_html()
        self.stream: Any = None  # the LiveStream, made by serve()
        self._latest: tuple | None = None  # (index, jpeg, opening, level, audio_at)
        self._cv = threading.Condition()
        self._stopped = False
        self._owner: tuple[str, float] | None = None  # (client, last audio time)
        self._owner_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.httpd = listen(port, _Handler, self)
        self.port = int(self.httpd.server_address[1])
        self.url, self.token = self.httpd.url, self.httpd.token

    def serve(self, on_ready=None) -> dict:
        """Answer the page and make its frames until :meth:`stop` (Ctrl-C propagates, after
        the server and the stream are closed); the stream's figures."""
        import cv2

        self.stream = self.face.stream(48000, max_frames=4, drop=True)
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="talkface-live-server", daemon=True)
        self._thread.start()
        try:
            if on_ready is not None:
                on_ready(self.url)
            while not self._stopped:
                try:
                    f = self.stream.get(timeout=0.1)
                except queue.Empty:
                    continue
                if f is None:
                    break
                ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(f.image, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                with self._cv:
                    self._latest = (f.index, jpg.tobytes(), f.opening, f.level, f.audio_at)
                    self._cv.notify_all()
            return self.stream.stats()
        finally:
            self.close()

    def stop(self):
        """End :meth:`serve` (from any thread)."""
        self._stopped = True

    def close(self):
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(2.0)
            self._thread = None
        self.httpd.server_close()
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if self.stream is not None:
            self.stream.close()

    # -- what the server threads call ------------------------------------------------------
    def take_audio(self, client: str, rate: int, body: bytes) -> tuple[int, dict]:
        now = time.monotonic()
        with self._owner_lock:
            if self._owner is not None and self._owner[0] != client and now - self._owner[1] < OWNER_IDLE:
                return 409, {"error": "another page is sending its microphone to this talkface live; close it "
                                      "(or wait 2 s after it stops)"}
            self._owner = (client, now)
            st = self.stream
            if st is None:
                return 503, {"error": "not started yet"}
            if len(body) % 2:
                return 400, {"error": "send 16-bit PCM: an even number of bytes"}
            try:
                st.push(body, rate=rate, timeout=1.0)
            except queue.Full:
                return 503, {"error": "talkface is behind; audio dropped"}
            except (ValueError, InputError) as e:
                return 400, {"error": str(e)}
        return 200, {"frames": st.rendered, "dropped": st.dropped}

    def frame_after(self, after: int, wait: float = 1.0):
        end = time.monotonic() + wait
        with self._cv:
            while not self._stopped and (self._latest is None or self._latest[0] <= after):
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)
            return self._latest if not self._stopped else None

    def stats(self) -> dict:
        return self.stream.stats() if self.stream is not None else {}


def serve_page(face, port: int = 0, open_browser: bool = False, on_ready=None) -> dict:
    """``talkface live --serve``: serve until Ctrl-C (KeyboardInterrupt propagates)."""
    srv = LiveServer(face, port)

    def ready(url):
        if on_ready is not None:
            on_ready(url)
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    st = srv.serve(ready)
    return {"output": None, "weights": face.weights_name, **st}


class _Handler(KeyedHandler):
    who = "talkface live"
    server_version = "talkface-live"
    protocol_version = "HTTP/1.1"  # keep-alive: the page posts audio every 40 ms

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        q = parse_qs(url.query)
        if not self._allowed(q):
            return self._refuse()
        live = self.server.page
        if url.path == "/":
            return self._send(200, live._page, "text/html; charset=utf-8", ("Content-Security-Policy", CSP),
                              ("Referrer-Policy", "no-referrer"))
        if url.path == "/stats":
            return self._json(200, live.stats())
        if url.path == "/frame":
            try:
                after = int((q.get("after") or ["-1"])[0])
            except ValueError:
                return self._json(400, {"error": "after must be a frame index"})
            f = live.frame_after(after)
            if f is None:
                return self._send(204, b"", "image/jpeg")
            index, jpg, opening, level, audio_at = f
            return self._send(200, jpg, "image/jpeg", ("X-Frame-Index", str(index)),
                              ("X-Frame-Opening", f"{opening:.5f}"), ("X-Frame-Level", f"{level:.2f}"),
                              ("X-Frame-Latency", f"{(time.monotonic() - audio_at) * 1000:.1f}"))
        self._json(404, {"error": f"{url.path}: no such page"})

    def do_POST(self):  # noqa: N802
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if not self._allowed(q):
            return self._refuse()
        if url.path != "/audio":
            return self._json(404, {"error": f"{url.path}: no such action"})
        try:
            n = int(self.headers.get("Content-Length") or 0)
            rate = int((q.get("rate") or ["48000"])[0])
        except ValueError:
            return self._json(400, {"error": "Content-Length and rate must be numbers"})
        if not 0 < n <= MAX_BODY:
            self.close_connection = True
            return self._json(400, {"error": "send the audio as a body of 1 byte to 1 MB"})
        if not 8000 <= rate <= 192000:
            return self._json(400, {"error": f"rate {rate}: give the audio's sample rate, 8000-192000 Hz"})
        body = self.rfile.read(n)
        code, obj = self.server.page.take_audio((q.get("client") or [""])[0], rate, body)
        self._json(code, obj)
