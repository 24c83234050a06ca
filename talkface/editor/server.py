"""The landmark editor's local HTTP server (standard library) and its save step.

One :class:`LandmarkEditor` per image. It listens on 127.0.0.1 only, on ``port`` (0: any
free one), and answers only requests that carry its session key (the ``t`` of the URL it
prints, sent back by the page as the ``X-Talkface-Token`` header) and name it by its own
address in ``Host`` (so neither another site open in the browser nor a DNS-rebinding
page can read or save points):

  GET  /?t=KEY        the page (``page.html``, package data: no network needed)
  GET  /image?t=KEY   the image as loaded (EXIF orientation applied), PNG
  GET  /points        current and starting points, the parts (face/groups.py), the outline lines
  POST /save          {"points": [[x, y] * 68], "finish": bool}: write the landmarks JSON (400 with
                      the reason for anything else: finish not a JSON boolean, points not numbers or
                      off the image)

The HTTP requests are answered on server threads; the file is written by the thread that
called :meth:`LandmarkEditor.serve` (the main thread on the command line), through the
project's atomic write, so Ctrl-C at any moment leaves either the complete file or none.
"""
from __future__ import annotations

import collections
import json
import os
import threading
import time
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..face import groups as G
from ..face.detectors.base import Face
from ..face.landmarks_file import check_points_on_image, image_record, parse_points
from ..runtime import signals
from ..runtime.errors import InputError, describe
from ..runtime.localpage import KeyedHandler, listen
from ..video.outputs import write_atomic

MAX_BODY = 1 << 20
# the parts a drag can move together, in the order the page lists them
PARTS = {"jaw": G.JAW, "right brow": G.BROW_R, "left brow": G.BROW_L, "nose": G.NOSE,
         "right eye": G.EYE_R, "left eye": G.EYE_L, "mouth": G.MOUTH}
# the outline the page draws between points: (indices, closed)
LINES = [(G.JAW, False), (G.BROW_R, False), (G.BROW_L, False), (G.NOSE_BRIDGE, False), (G.NOSE[4:], False),
         (G.EYE_R, True), (G.EYE_L, True), (G.OUTER_LIPS, True), (G.INNER_LIPS, True)]


def page_html() -> bytes:
    """The editor page, from the package's data."""
    return (resources.files("talkface.editor") / "page.html").read_bytes()


def _png(image: np.ndarray) -> bytes:
    import cv2

    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InputError("could not encode the image for the editor page; convert it to PNG first")
    return buf.tobytes()


class _Save:
    """One save request, handed from a server thread to the thread that writes."""

    def __init__(self, points: np.ndarray, finish: bool):
        self.points, self.finish = points, finish
        self.result: dict | None = None
        self.error: str | None = None
        self.ready = threading.Event()  # written (or failed)
        self.answered = threading.Event()  # the page has its answer


class LandmarkEditor:
    """Edit the 68 ``points`` (image pixels) of ``image`` in a browser; saves to ``output``.

    ``start`` says where the points came from (a detector's name, ``template`` or ``file``)
    and is recorded in the saved file. Without ``force`` an ``output`` that exists when the
    page first saves is kept (the command line refuses one that exists at the start).
    :meth:`serve` blocks until the page's "Save and finish" (or :meth:`stop`).
    """

    def __init__(self, image_path, image: np.ndarray, points, output, *, start: str = "detected",
                 score: float = 1.0, force: bool = False, port: int = 0):
        pts = np.asarray(points, np.float32)
        if pts.shape != (G.N_POINTS, 2) or not np.isfinite(pts).all():
            raise InputError(f"{image_path}: the editor needs {G.N_POINTS} finite [x, y] points, got {pts.shape}")
        self.image_path, self.output = Path(image_path), Path(output)
        self.height, self.width = (int(v) for v in image.shape[:2])
        self._record = image_record(self.image_path, image)  # what the saved file says of its image
        self.start, self.score, self.force = start, float(score), force
        self.start_points = pts.copy()
        self.points = pts.copy()  # replaced (never changed in place) at each save
        self.saves = 0
        self.result: dict | None = None
        self._page = page_html()
        self._image = _png(image)
        self._jobs: collections.deque[_Save] = collections.deque()
        self._finished = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.httpd = listen(port, _Handler, self)
        self.port = int(self.httpd.server_address[1])
        self.url, self.token = self.httpd.url, self.httpd.token

    # -- the thread that writes ---------------------------------------------------------------
    def serve(self, on_ready=None) -> dict | None:
        """Answer the page until it says "Save and finish": then the saved file's object with
        ``output`` and ``moved`` (points moved from the start); None after :meth:`stop`.
        ``on_ready(url)`` is called once the server listens. Ctrl-C (KeyboardInterrupt)
        propagates after the server is closed; a save cut short leaves no file."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="talkface-editor", daemon=True)
        self._thread.start()
        last: _Save | None = None
        try:
            if on_ready is not None:
                on_ready(self.url)
            while not (self._finished or self._stopped):
                time.sleep(0.05)  # a plain sleep: Ctrl-C lands here, never inside a lock
                while self._jobs and not self._finished:
                    last = self._jobs.popleft()
                    self._run(last)
        finally:
            if last is not None and self._finished:
                last.answered.wait(2.0)  # the page hears that it is done before the server goes
            self.close()
        return self.result if self._finished else None

    def stop(self):
        """End :meth:`serve` without saving (from any thread)."""
        self._stopped = True

    def close(self):
        """Stop listening (idempotent)."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(2.0)
            self._thread = None
        self.httpd.server_close()

    def _run(self, job: _Save):
        try:
            with signals.held():  # a Ctrl-C now stops before the rename (no file) or after it (the file)
                job.result = self._save(job.points, job.finish)
        except Exception as e:  # noqa: BLE001 - the page shows the one line and the user can retry
            job.error = describe(e)[1]
        finally:
            job.ready.set()

    def _save(self, pts: np.ndarray, finish: bool) -> dict:
        out = self.output
        first = self.saves == 0
        if first and not self.force and os.path.lexists(out):  # a link to a missing file is there too
            raise InputError(f"{out}: already exists; pass --force to overwrite it or choose another name")
        lo, hi = pts.min(0), pts.max(0)
        face = Face((float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])), self.score, pts,
                    "file", "edited")
        moved = int((np.abs(pts - self.start_points).max(1) >= 0.005).sum())
        d = {**self._record, "faces": [face.to_json()], "edited": True, "start": self.start}
        # after our own first save the file is ours to replace
        write_atomic(out, json.dumps(d, indent=1) + "\n", overwrite=self.force or not first)
        self.points = pts
        self.saves += 1
        if finish:
            self.result = dict(d, output=str(out), moved=moved)
            self._finished = True
        return {"output": str(out), "moved": moved, "finished": finish}

    # -- what the server threads read -------------------------------------------------------
    def parse_save(self, body: bytes) -> tuple[np.ndarray, bool]:
        """(points, finish) of a save request's JSON body, checked strictly: ``points`` 68
        pairs of finite JSON numbers on the image (or past its edges by at most half its
        size, as ``--landmarks`` files), ``finish`` absent or a JSON boolean; ValueError
        with the one line for the page otherwise."""
        form = f'send {{"points": [[x, y] * {G.N_POINTS}], "finish": true or false}}'
        try:
            d = json.loads(body)
        except (ValueError, RecursionError):
            raise ValueError(f"not JSON; {form}") from None
        if not isinstance(d, dict):
            raise ValueError(form)
        pts = parse_points(d.get("points"))
        if pts is None:
            raise ValueError(f"points must be {G.N_POINTS} [x, y] pairs of numbers; {form}")
        finish = d.get("finish", False)
        if not isinstance(finish, bool):
            raise ValueError(f"finish must be true or false (a JSON boolean), not {json.dumps(finish)}; {form}")
        why = check_points_on_image(pts, self.width, self.height)
        if why is not None:
            raise ValueError(f"{why}; nothing was saved (drag the point back onto the image)")
        return pts, finish


    def state(self) -> dict:
        return {"image": self.image_path.name, "output": str(self.output), "width": self.width,
                "height": self.height, "start": self.start, "saved": self.saves > 0,
                "points": np.round(self.points, 2).tolist(), "start_points": np.round(self.start_points, 2).tolist(),
                "parts": PARTS, "lines": [{"points": p, "closed": c} for p, c in LINES]}

    def submit(self, pts: np.ndarray, finish: bool, wait: float = 30.0) -> _Save:
        job = _Save(pts, finish)
        if self._finished or self._stopped:
            job.error = "the editor has finished; nothing was saved by this request"
            return job
        self._jobs.append(job)
        if not job.ready.wait(wait):
            job.error = "talkface did not answer (stopping?); nothing was saved by this request"
        return job


CSP = ("default-src 'none'; img-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
       "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class _Handler(KeyedHandler):
    who = "talkface editor"
    server_version = "talkface-editor"

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        if url.path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        if not self._allowed(parse_qs(url.query)):
            return self._refuse()
        ed = self.server.page
        if url.path == "/":
            return self._send(200, ed._page, "text/html; charset=utf-8", ("Content-Security-Policy", CSP),
                              ("Referrer-Policy", "no-referrer"))
        if url.path == "/image":
            return self._send(200, ed._image, "image/png")
        if url.path == "/points":
            return self._json(200, ed.state())
        self._json(404, {"error": f"{url.path}: no such page"})

    def do_POST(self):  # noqa: N802
        url = urlsplit(self.path)
        if not self._allowed(parse_qs(url.query)):
            return self._refuse()
        if url.path != "/save":
            return self._json(404, {"error": f"{url.path}: no such action"})
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if not 0 < n <= MAX_BODY:
            return self._json(400, {"error": "send the points as a JSON body under 1 MB"})
        ed = self.server.page
        try:
            pts, finish = ed.parse_save(self.rfile.read(n))
        except ValueError as e:
            return self._json(400, {"error": str(e)})
        job = ed.submit(pts, finish)
        try:
            if job.error is not None:
                self._json(409, {"error": job.error})
            else:
                self._json(200, job.result)
        finally:
            job.answered.set()
