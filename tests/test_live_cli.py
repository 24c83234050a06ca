"""``talkface live``: y4m on stdout, an MP4 with its audio, raw PCM on stdin at any rate; bad
input, a reader that goes away, Ctrl-C and SIGTERM at any moment: one line, the documented
exit code, nothing left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import ROOT, probe
from talkface.cli import app
from talkface.live import LiveFace
from talkface.live.sinks import sniff
from talkface.speech import audio as A

PORTRAIT = ROOT / "examples" / "astronaut.png"
SPEECH = ROOT / "examples" / "speech.wav"
N = A.n_frames_for(A.load_audio_int16(SPEECH).size)  # 230 frames


def talkface(*args, stdin=None, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "talkface", "live", *map(str, args)], input=stdin,
                          capture_output=True, timeout=timeout, cwd=kw.pop("cwd", None), **kw)


def read_y4m(data: bytes):
    head, _, rest = data.partition(b"\n")
    fields = dict((f[:1].decode(), f[1:].decode()) for f in head.split()[1:])
    w, h = int(fields["W"]), int(fields["H"])
    size = w * h * 3 // 2
    frames = []
    while rest:
        assert rest.startswith(b"FRAME\n"), rest[:10]
        frames.append(np.frombuffer(rest[6:6 + size], np.uint8))
        rest = rest[6 + size:]
    return head.decode(), w, h, frames


def test_sniff_tells_files_and_text_from_pcm():
    assert sniff(SPEECH.read_bytes()[:64]) == "a WAV file"
    assert sniff(b"ID3\x04" + bytes(60)) == "an MP3 file"
    assert sniff(b"\0\0\0\x20ftypM4A " + bytes(52)) == "an MP4/M4A file"
    assert sniff(b"hello, this is not audio at all; just some text\n" * 2) == "text"
    pcm = (np.sin(np.arange(32) / 3) * 3000).astype(np.int16).tobytes()
    assert sniff(pcm) is None and sniff(bytes(64)) is None


@pytest.mark.slow
def test_y4m_on_stdout_equals_the_api_frames():
    r = talkface(PORTRAIT, "--audio", SPEECH, "--out", "-", "--no-realtime", "--size", "128", "-q")
    assert r.returncode == 0, r.stderr
    head, w, h, frames = read_y4m(r.stdout)
    assert head.startswith("YUV4MPEG2 W128 H128 F25:1") and len(frames) == N and r.stderr == b""
    import cv2

    face = LiveFace(PORTRAIT, size=128)
    with face.stream(drop=False) as s:
        pcm = A.load_audio_int16(SPEECH)
        t = threading.Thread(target=lambda: (s.push(pcm), s.end()))
        t.start()
        api = list(s.frames())
        t.join()
    for i in (0, 60, 150, N - 1):
        rgb = cv2.cvtColor(frames[i].reshape(h * 3 // 2, w), cv2.COLOR_YUV2RGB_I420)
        assert np.abs(rgb.astype(int) - api[i].image.astype(int)).mean() < 4  # 4:2:0 round trip


@pytest.mark.slow
def test_mp4_recorded_with_its_audio_from_stdin_at_48k(tmp_path):
    import soxr

    pcm = A.load_audio_int16(SPEECH)
    pcm48 = (soxr.resample(pcm.astype(np.float32) / 32768, 16000, 48000) * 32767).astype("<i2")
    out = tmp_path / "rec.mp4"
    r = talkface(PORTRAIT, "--audio", "-", "--rate", "48000", "--out", out, "--json", stdin=pcm48.tobytes(),
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json

    d = json.loads(r.stdout)
    assert d["output"] == str(out) and abs(d["frames"] - N) <= 1 and d["dropped"] == 0
    assert d["weights"] == "talkface-live" and d["latency_frames"] == 3
    assert sorted(os.listdir(tmp_path)) == ["rec.mp4"]  # no temp file beside it
    info = probe(out)
    assert "h264" in info and "aac" in info
    from talkface.video.writer import count_frames

    n, secs = count_frames(out)
    assert abs(n - N) <= 1 and abs(secs - N / 25) < 0.1
    audio = A.load_audio_int16(out)
    assert abs(audio.size - pcm.size) < 1600  # the audio as it came, its length kept
    # the recording's sound is the input's (AAC: correlation of the envelopes)
    env = lambda x: np.abs(x[: pcm.size // 640 * 640].astype(float)).reshape(-1, 640).mean(1)  # noqa: E731
    k = min(len(env(audio)), len(env(pcm)))
    assert np.corrcoef(env(audio)[:k], env(pcm)[:k])[0, 1] > 0.95


@pytest.mark.slow
@pytest.mark.parametrize("what", ["wav", "text", "odd"])
def test_bad_stdin_is_one_line_exit_2_and_nothing_left(tmp_path, what):
    data = {"wav": SPEECH.read_bytes(), "text": b"this is a text file, not sound\n" * 100,
            "odd": A.load_audio_int16(SPEECH).tobytes() + b"\x01"}[what]
    r = talkface(PORTRAIT, "--audio", "-", "--out", tmp_path / "x.mp4", stdin=data, cwd=tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and err.startswith("error: stdin"), err
    assert {"wav": "WAV file", "text": "text", "odd": "odd number"}[what] in err
    assert os.listdir(tmp_path) == []


def test_usage_mistakes(tmp_path):
    runner = CliRunner()
    for args, says in [([PORTRAIT, "--audio", SPEECH], "--out"), ([PORTRAIT, "--serve", "--audio", SPEECH], "--serve"),
                       ([PORTRAIT, "--audio", "-", "--out", tmp_path / "a.mp4", "--rate", "10"], "--rate"),
                       ([PORTRAIT, "--audio", tmp_path / "none.wav", "--out", tmp_path / "a.mp4"], "no such file"),
                       ([PORTRAIT, "--audio", SPEECH, "--out", tmp_path / "a.txt"], "video file"),
                       ([PORTRAIT, "--audio", SPEECH, "--out", SPEECH.with_suffix(".mp4"), "--size", "33"], "--size")]:
        r = runner.invoke(app, ["live", *map(str, args)])
        assert r.exit_code == 2 and says in r.output, (args, r.output)
    assert os.listdir(tmp_path) == []


def test_in_process_run_leaves_no_thread(tmp_path):
    r = CliRunner().invoke(app, ["live", str(PORTRAIT), "--audio", str(SPEECH), "--out", str(tmp_path / "a.mp4"),
                                 "--no-realtime", "--size", "64", "-q"])
    assert r.exit_code == 0, r.output
    assert os.listdir(tmp_path) == ["a.mp4"]
    assert not [t for t in threading.enumerate() if t.name.startswith("talkface")]


@pytest.mark.slow
def test_a_reader_that_goes_away_ends_the_run_cleanly():
    p = subprocess.Popen([sys.executable, "-m", "talkface", "live", str(PORTRAIT), "--audio", str(SPEECH), "--out",
                          "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(100_000)  # a few frames, then the reader leaves
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(30) == 0 and err.count("\n") == 1 and "reader closed stdout" in err, err


@pytest.mark.slow
@pytest.mark.parametrize("sig,when", [(signal.SIGINT, 0.5), (signal.SIGTERM, 1.5), (signal.SIGINT, 4.0),
                                      (signal.SIGTERM, 6.0)])
def test_signals_at_any_moment(tmp_path, sig, when):
    """Before the face is found, while loading, while streaming: exit 130, one line, no file."""
    pcm = A.load_audio_int16(SPEECH)
    p = subprocess.Popen([sys.executable, "-m", "talkface", "live", str(PORTRAIT), "--audio", "-", "--out",
                          str(tmp_path / "rec.mp4")], stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)

    def feed():  # a live source: 0.1 s of audio every 0.1 s
        try:
            for i in range(0, pcm.size * 3, 1600):
                p.stdin.write(np.resize(pcm, pcm.size * 3)[i:i + 1600].tobytes())
                p.stdin.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ValueError, OSError):
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    time.sleep(when)
    t0 = time.monotonic()
    p.send_signal(sig)
    rc = p.wait(20)
    err = p.stderr.read().decode()
    assert time.monotonic() - t0 < 10
    assert rc == 130 and err.count("\n") == 1 and "interrupted" in err, (rc, err)
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_serve_answers_with_its_key_and_stops_on_ctrl_c():
    import re
    import urllib.error
    import urllib.request

    p = subprocess.Popen([sys.executable, "-m", "talkface", "live", str(PORTRAIT), "--serve"], stderr=subprocess.PIPE,
                         text=True)
    try:
        line = p.stderr.readline()
        m = re.search(r"(http://127\.0\.0\.1:(\d+)/\?t=(\S+))", line)
        assert m, line
        url, port, key = m.group(1), m.group(2), m.group(3)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b"talkface live" in r.read() and "script-src" in r.headers["Content-Security-Policy"]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10)
        assert e.value.code == 403
        req = urllib.request.Request(f"http://127.0.0.1:{port}/audio?rate=16000&client=t",
                                     data=A.load_audio_int16(SPEECH)[:16000].tobytes(), method="POST",
                                     headers={"X-Talkface-Token": key})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        p.send_signal(signal.SIGINT)
        assert p.wait(20) == 130
        rest = p.stderr.read()
        assert rest.count("\n") == 1 and "interrupted" in rest, rest
    finally:
        p.kill()
        p.wait()


@pytest.mark.slow
@pytest.mark.parametrize("idle", [True, False])
def test_pauses_of_stdin_are_filled_with_silence_in_real_time(tmp_path, idle):
    """A source that speaks 1 s, says nothing for 1.5 s, speaks 1 s: with --idle (the default) the
    face goes on through the pause and the recording keeps it; with --no-idle the pause is skipped."""
    import json

    pcm = A.load_audio_int16(SPEECH)[16000:32000].tobytes()
    out = tmp_path / "rec.mp4"
    p = subprocess.Popen([sys.executable, "-m", "talkface", "live", str(PORTRAIT), "--audio", "-", "--out", str(out),
                          "--json", "--idle" if idle else "--no-idle"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(3.0)  # loading; the clock starts at the first read
    for k in range(0, len(pcm), 3200):  # 1 s of speech in real time
        p.stdin.write(pcm[k:k + 3200])
        p.stdin.flush()
        time.sleep(0.1)
    time.sleep(1.5)
    for k in range(0, len(pcm), 3200):
        p.stdin.write(pcm[k:k + 3200])
        p.stdin.flush()
        time.sleep(0.1)
    p.stdin.close()
    so, se = p.stdout.read(), p.stderr.read()
    assert p.wait(60) == 0, se
    d = json.loads(so)
    from talkface.video.writer import count_frames

    n, _ = count_frames(out)
    audio = A.load_audio_int16(out)
    assert abs(audio.size / 16000 - n / 25) < 0.1  # the recording's sound as long as its picture
    if idle:
        assert d["silence_filled_seconds"] > 1.2 and n > 25 * 3.3, (d, n)
    else:
        assert d["silence_filled_seconds"] == 0 and abs(n - 50) <= 1
