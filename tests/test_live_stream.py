"""The streaming API (talkface.live): frames as the audio arrives, from any thread, bounded
queues, a slow reader's frames dropped and counted, flat memory, the end flushed, nothing
left running."""
from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

from helpers import ROOT
from talkface.live import LiveFace
from talkface.live.features import LiveFeatures
from talkface.runtime.errors import InputError
from talkface.speech import audio as A
from talkface.speech import phones as P

SPEECH = ROOT / "examples" / "speech.wav"


@pytest.fixture(scope="module")
def face():
    return LiveFace(ROOT / "examples" / "astronaut.png", size=128)


@pytest.fixture(scope="module")
def wav():
    return A.load_audio_int16(SPEECH)


def _live_threads():
    return [t for t in threading.enumerate() if t.name.startswith("talkface-live")]


def _feed(s, pcm: bytes, pieces=(317, 641, 1, 2000)):
    """Push ``pcm`` from another thread in odd-sized pieces, then end."""
    def go():
        i, k = 0, 0
        try:
            while i < len(pcm):
                n = pieces[k % len(pieces)]
                s.push(pcm[i:i + n])
                i, k = i + n, k + 1
            s.end()
        except ValueError:  # closed meanwhile: "this live stream has ended"
            pass

    t = threading.Thread(target=go)
    t.start()
    return t


def test_frames_follow_the_audio_and_the_end_flushes(face, wav):
    assert face.weights_name == "talkface-live"  # the live model by default
    with face.stream(drop=False) as s:
        assert s.latency_frames == 3
        t = _feed(s, wav.tobytes())
        frames = list(s.frames())
        t.join()
        assert s.get() is None  # ended: None again
    n = A.n_frames_for(wav.size)
    assert [f.index for f in frames] == list(range(n))
    assert frames[-1].t == pytest.approx((n - 1) / 25)
    assert all(f.image.shape == (128, 128, 3) and f.image.dtype == np.uint8 for f in frames)
    assert s.dropped == 0 and s.rendered == n
    op = np.array([f.opening for f in frames])
    lv = np.array([f.level for f in frames])
    loud = lv > np.percentile(lv, 60)
    quiet = lv < -60
    assert quiet.sum() > 10 and op[loud].mean() > op[quiet].mean() + 0.03  # the mouth opens with the speech
    assert np.corrcoef(op, lv)[0, 1] > 0.3
    assert all(f.ready_at >= f.audio_at for f in frames)
    assert not _live_threads()


def test_streamed_features_match_the_offline_ones_where_they_can(wav):
    off = P.speech_features(wav.astype(np.float32) / 32768)
    lf = LiveFeatures()
    for i in range(0, wav.size, 320):
        lf.push(wav[i:i + 320])
    lf.end()
    live = lf.window(0, lf.n)
    assert live.shape == off.shape
    # with all the audio heard, the running statistics are the utterance's: loudness and slope equal,
    # the mel bands' normalisation still a little of its prior's
    np.testing.assert_allclose(live[:, 40:42], off[:, 40:42], atol=1e-4)
    assert min(np.corrcoef(live[:, k], off[:, k])[0, 1] for k in range(42, 50)) > 0.99
    agree = (live[:, :40].argmax(1) == off[:, :40].argmax(1)).mean()
    assert agree > 0.5, agree  # incremental decoding (running cepstral mean) against one batch pass


def test_a_slow_reader_loses_the_oldest_frames_counted_and_memory_stays_bounded(face, wav):
    with face.stream(max_frames=5, drop=True) as s:
        t = _feed(s, wav.tobytes())
        got = []
        while True:
            try:
                f = s.get(timeout=30)
            except queue.Empty:
                pytest.fail("no frame in 30 s")
            if f is None:
                break
            assert len(s._out) <= 5
            got.append(f.index)
            time.sleep(0.05)  # slower than the frames come
        t.join()
    n = A.n_frames_for(wav.size)
    assert s.dropped > 0 and len(got) + s.dropped == n
    assert got == sorted(got) and got[-1] == n - 1  # the newest are kept


def test_a_reader_that_never_reads_blocks_push_with_its_timeout(face, wav):
    with face.stream(max_frames=2, drop=False, max_audio=1.0) as s:
        with pytest.raises(queue.Full):
            for i in range(0, wav.size, 1600):
                s.push(wav[i:i + 1600], timeout=0.5)
        assert s._in_n <= 16000 + 1600
    assert not _live_threads()


def test_any_rate_and_float_arrays(face, wav):
    import soxr

    x48 = soxr.resample(wav.astype(np.float32) / 32768, 16000, 48000)
    with face.stream(rate=48000, drop=False) as s:  # lossless: the frames are read while it pushes
        def go():
            for i in range(0, x48.size, 960):
                s.push(x48[i:i + 960])
            s.end()

        t = threading.Thread(target=go)
        t.start()
        frames = list(s.frames())
        t.join()
    assert abs(s.samples - wav.size) <= 32
    assert abs(len(frames) - A.n_frames_for(wav.size)) <= 1


def test_bad_pushes(face):
    with face.stream() as s:
        with pytest.raises(ValueError, match="mono"):
            s.push(np.zeros((100, 2), np.int16))
        with pytest.raises(ValueError, match="int32"):
            s.push(np.zeros(100, np.int32))
        with pytest.raises(InputError, match="audio rate"):
            s.push(b"\0\0", rate=100)
        s.push(b"\0\0\0")  # one sample and an odd byte
        with pytest.raises(InputError, match="odd number of bytes"):
            s.end()
        with pytest.raises(ValueError, match="ended"):
            s.push(b"\0\0")
        assert s.get(timeout=5) is not None  # the one frame of the sample
    assert not _live_threads()


def test_close_at_any_moment_leaves_no_thread(face, wav):
    for stop_after in (0, 3, 40):
        s = face.stream(drop=False)
        t = _feed(s, wav.tobytes())
        for _ in range(stop_after):
            s.get(timeout=30)
        s.close()
        t.join(10)  # the pusher gets "ended" and stops
        assert not t.is_alive()
        assert not _live_threads()


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_stream(face, wav):
    """Five minutes of audio through one stream: what it keeps stops growing."""
    long = np.tile(wav, 33)  # 303 s
    sizes = []
    with face.stream(drop=True, max_frames=10) as s:
        t = _feed(s, long.tobytes(), pieces=(64000,))
        k = 0
        while s.get(timeout=60) is not None:
            k += 1
            if k % 1500 == 0:
                f = s.features
                sizes.append((f._db.size, f._lb.shape[0], f.phones._final.size, len(s._times), len(s._out)))
        t.join()
    assert len(sizes) >= 4
    assert max(x[0] for x in sizes) < 30 * 25 + 1200 and max(x[2] for x in sizes) < 100 * 30 + 6000
    assert sizes[-1][0] <= max(x[0] for x in sizes[:2]) + 1100  # no growth after the first minute


def test_idle_keeps_the_face_going_in_real_time_while_nothing_is_pushed(face, wav):
    """A voice agent between turns: with ``idle`` the stream fills in silence on the clock, so
    frames come at 25 a second from the start, the speech pushed later follows at once, and
    the pause after it is filled in too; without it no frame comes until audio does."""
    speech = wav[: 16000 * 2]
    with face.stream(drop=False, idle=True) as s:
        t0 = time.monotonic()
        first = s.get(timeout=10)
        assert first.index == 0 and time.monotonic() - t0 < 1.0  # no audio pushed yet
        frames = [first]
        reader = threading.Thread(target=lambda: frames.extend(s.frames()))  # a reader that keeps up
        reader.start()
        time.sleep(1.0)
        s.push(speech)  # at once, faster than real time (as a TTS may): it is ahead of the clock until ~3.2 s
        time.sleep(3.0)
        s.end()
        reader.join(30)
        st = s.stats()
    span = time.monotonic() - t0
    assert [f.index for f in frames] == list(range(len(frames)))
    assert st["silence_seconds"] >= 1.5 and st["dropped"] == 0
    assert len(frames) / 25 >= 2 + st["silence_seconds"] - 0.1 and len(frames) / 25 <= span + 0.5  # kept the clock
    op = np.array([f.opening for f in frames])
    lv = np.array([f.level for f in frames])
    assert op[lv < -60].mean() < op[lv > np.percentile(lv, 70)].mean() - 0.02  # silence rests, speech speaks
    assert not _live_threads()
    with face.stream(drop=False) as s:  # without idle: nothing to show until audio comes
        with pytest.raises(queue.Empty):
            s.get(timeout=0.5)
        assert s.stats()["silence_seconds"] == 0
