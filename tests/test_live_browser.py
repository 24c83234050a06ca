"""``talkface live --serve`` in a real headless Chromium whose microphone is a WAV (Chromium's
fake capture device): the page sends the microphone, frames arrive, and the mouth opens when
the speech does and rests in the pauses. A second page's microphone is refused while the
first speaks; requests without the key are refused.

Needs Chromium and its chromedriver (Debian: ``apt-get install chromium chromium-driver``);
skipped, saying so, where they are missing.
"""
from __future__ import annotations

import os
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from helpers import ROOT, write_wav
from talkface.live import LiveFace
from talkface.live.server import LiveServer
from talkface.speech import audio as A
from webdriver import browser_or_skip

pytestmark = pytest.mark.slow  # a real browser and real-time audio: about half a minute


@pytest.fixture()
def served(tmp_path):
    # the microphone: 2 s of silence, the example speech (9 s, with pauses), 2 s of silence; Chromium loops it
    speech = A.load_audio_int16(ROOT / "examples" / "speech.wav")
    mic = np.concatenate([np.zeros(32000, np.int16), speech, np.zeros(32000, np.int16)])
    wav = write_wav(tmp_path / "mic.wav", mic.astype(np.float32) / 32768, sr=16000)
    srv = LiveServer(LiveFace(ROOT / "examples" / "astronaut.png", size=256).warm())
    done = {}
    t = threading.Thread(target=lambda: done.update(stats=srv.serve()), daemon=True)
    t.start()
    browser = browser_or_skip(extra_args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                          f"--use-file-for-fake-audio-capture={wav}",
                                          "--autoplay-policy=no-user-gesture-required"])
    try:
        yield browser, srv
    finally:
        browser.close()
        srv.stop()
        t.join(10)
        assert not t.is_alive()
        assert not [x for x in threading.enumerate() if x.name.startswith("talkface-live")]


def _post(srv, body: bytes, key=None, client="other"):
    req = urllib.request.Request(f"http://127.0.0.1:{srv.port}/audio?rate=16000&client={client}", data=body,
                                 method="POST", headers={"X-Talkface-Token": key or srv.token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_microphone_makes_the_face_speak(served, tmp_path):
    browser, srv = served
    browser.get(srv.url)
    browser.wait_for("return window.talkfaceLive && window.talkfaceLive.ready")
    browser.click("#start")
    browser.wait_for("return window.talkfaceLive.started || window.talkfaceLive.error")
    assert browser.js("return window.talkfaceLive.error") is None
    # 14 s of microphone: the silence, the whole speech, the silence after
    browser.wait_for("return window.talkfaceLive.frames >= 300", timeout=60)
    assert _post(srv, b"\0\0" * 320) == 409  # another page's microphone, while this one speaks
    assert _post(srv, b"\0\0" * 320, key="wrong", client="x") == 403
    shown = np.array(browser.js("return window.talkfaceLive.shown"), float)  # [index, opening, level, latency]
    browser.screenshot(tmp_path / "live.png")
    if os.environ.get("TALKFACE_LIVE_SCREENSHOT"):  # to look at the page: a path to copy the screenshot to
        shutil.copyfile(tmp_path / "live.png", os.environ["TALKFACE_LIVE_SCREENSHOT"])
    assert browser.js("return document.getElementById('face').naturalWidth") == 256
    idx, opening, level, latency = shown.T
    assert (np.diff(idx) > 0).all() and len(shown) >= 300
    assert np.mean(np.diff(idx) <= 2) > 0.8  # the page keeps up (it shows the newest frame: some are skipped)
    speech, pause = level > -35, level < -70
    assert speech.sum() > 50 and pause.sum() > 30
    assert opening[speech].mean() > opening[pause].mean() + 0.04, (opening[speech].mean(), opening[pause].mean())
    assert np.percentile(opening[pause], 90) < 0.05  # the lips rest in the pauses
    assert np.corrcoef(opening, level)[0, 1] > 0.3
    assert np.median(latency) < 400  # from the audio's arrival at the server to the frame leaving it
    st = srv.stats()
    assert st["frames"] >= len(shown) and st["audio_seconds"] > 10
