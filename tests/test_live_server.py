"""``talkface live --serve``'s server without a browser: the key and the Host check, bad audio
requests, frames by long poll that follow the speech, clients that never read or go away
mid-answer, a second page's microphone, and nothing left running after it stops."""
from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from helpers import ROOT
from talkface.live import LiveFace
from talkface.live.server import LiveServer
from talkface.speech import audio as A

pytestmark = pytest.mark.slow  # real-time audio over HTTP: a few seconds


@pytest.fixture()
def srv():
    s = LiveServer(LiveFace(ROOT / "examples" / "astronaut.png", size=128).warm())
    t = threading.Thread(target=s.serve, daemon=True)
    t.start()
    time.sleep(0.2)
    yield s
    s.stop()
    t.join(10)
    assert not t.is_alive()
    assert not [x for x in threading.enumerate() if x.name.startswith("talkface-live")]


def call(srv, path, body=None, key=None, host=None):
    headers = {"X-Talkface-Token": srv.token if key is None else key}
    if host:
        headers["Host"] = host
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}{path}", data=body, headers=headers,
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_refusals(srv):
    assert call(srv, "/stats", key="")[0] == 403
    assert call(srv, "/stats", key="nope")[0] == 403
    assert call(srv, "/stats", host="evil.example:80")[0] == 403  # DNS rebinding
    assert call(srv, "/stats")[0] == 200
    assert call(srv, "/audio?rate=16000&client=a", b"\0\0\0")[0] == 400  # odd byte count
    assert call(srv, "/audio?rate=12&client=a", b"\0\0")[0] == 400
    assert call(srv, "/audio?rate=x&client=a", b"\0\0")[0] == 400
    assert call(srv, "/nothing", b"\0\0")[0] == 404
    assert call(srv, "/frame?after=x")[0] == 400


def test_frames_follow_the_speech_and_bad_clients_hold_nothing_up(srv):
    speech = A.load_audio_int16(ROOT / "examples" / "speech.wav")
    pcm = np.concatenate([np.zeros(16000, np.int16), speech[:6 * 16000]])
    stop = threading.Event()

    def mic():  # 40 ms every 40 ms, as the page sends it
        t0 = time.monotonic()
        for k, i in enumerate(range(0, pcm.size, 640)):
            if stop.is_set():
                return
            time.sleep(max(0.0, t0 + k * 0.04 - time.monotonic()))
            assert call(srv, "/audio?rate=16000&client=page", pcm[i:i + 640].tobytes())[0] == 200

    m = threading.Thread(target=mic)
    m.start()
    # a client that asks for frames and never reads the answers, and one that goes away mid-answer
    lazy = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
    for s in lazy:
        s.sendall(f"GET /frame?after=-1 HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                  f"X-Talkface-Token: {srv.token}\r\n\r\n".encode())
    gone = socket.create_connection(("127.0.0.1", srv.port))
    gone.sendall(f"GET /frame?after=-1 HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                 f"X-Talkface-Token: {srv.token}\r\n\r\n".encode())
    gone.close()
    seen, after, took_over = [], -1, None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10:
        code, h, body = call(srv, f"/frame?after={after}")
        if code == 200:
            after = int(h["X-Frame-Index"])
            assert body[:2] == b"\xff\xd8"  # a JPEG
            seen.append((after, float(h["X-Frame-Opening"]), float(h["X-Frame-Level"]), float(h["X-Frame-Latency"])))
        if took_over is None and len(seen) > 20:
            took_over = call(srv, "/audio?rate=16000&client=other", b"\0\0" * 640)[0]
    stop.set()
    m.join()
    for s in lazy:
        s.close()
    assert took_over == 409  # the first page's microphone is in use
    idx, opening, level, latency = np.array(seen).T
    assert len(seen) > 150 and (np.diff(idx) > 0).all()
    assert opening[level > -35].mean() > opening[level < -70].mean() + 0.03
    assert np.median(latency) < 300
    time.sleep(2.2)  # the first page silent for 2 s: another may take the microphone
    assert call(srv, "/audio?rate=16000&client=other", b"\0\0" * 640)[0] == 200
