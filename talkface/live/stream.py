"""The streaming API: a portrait that speaks while the audio arrives.

    from talkface.live import LiveFace

    face = LiveFace("portrait.png", size=256)        # weights, face, renderer: loaded once
    with face.stream(rate=48000) as s:               # one live stream (more may follow)
        s.push(pcm)                                  # s16le bytes or an int16 array, any thread
        frame = s.get()                              # Frame: .image (RGB), .t, .index; None at the end
        s.end()                                      # no more audio: the last frames follow
        for frame in s.frames(): ...

One worker thread per stream turns the audio into features (:mod:`talkface.live.features`),
motion (:mod:`talkface.live.motion`) and frames (the warp renderer). Both ends are bounded:
``push`` waits (or raises ``queue.Full`` after its ``timeout``) while more than
``max_audio`` seconds are waiting to be processed, and at most ``max_frames`` rendered
frames wait for the reader: with ``drop`` (the default) a reader that falls behind loses
the oldest ones (counted in ``dropped``; a live view wants the newest), without it the
worker waits for the reader. Memory stays flat however long the stream runs.

With ``idle`` the stream keeps time by itself: whenever the audio pushed so far falls more
than ``IDLE_LAG`` (0.2 s) behind the clock since the stream began, the worker fills in
silence, 40 ms at a time (counted in ``stats()["silence_seconds"]``), so frames go on at
25 a second (the face rests, breathes and blinks) while a voice agent says nothing, and
speech pushed later starts at once. Without it (the default) frames come only for the
audio pushed: right for a file, or for a source that sends its own silence.

Latency: frame ``i`` shows audio ``i/25 .. (i+1)/25 s`` and is made once the audio reaches
``latency_frames`` frames past it (:class:`~talkface.live.motion.LiveMotion`): 33 frames
(1.32 s) with the shipped symmetric MouthNet, 3 (120 ms) with a live model
(``MouthNetConfig.lookahead`` 2), plus the time to compute it.
"""
from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..constants import FPS, SAMPLE_RATE
from ..runtime.errors import InputError
from .features import HOP, LiveFeatures, LivePhones
from .motion import Blinks, LiveMotion
from .portrait import LivePortrait

__all__ = ["Frame", "IdleClock", "LiveFace", "LiveStream"]

IDLE_LAG = 0.2  # seconds the audio may fall behind the clock, with nothing pushed, before silence is filled in
IDLE_PIECE = 0.04  # seconds of silence filled in at a time


class IdleClock:
    """When a live source has nothing to give: how much silence to fill in so that the
    audio keeps up with the clock (:data:`IDLE_LAG`, :data:`IDLE_PIECE`), from
    :meth:`start` on."""

    def __init__(self, rate: int):
        self.rate = rate
        self.t0: float | None = None

    def start(self):
        if self.t0 is None:
            self.t0 = time.monotonic()

    def due(self, samples: int) -> int:
        """Samples of silence to add now, given ``samples`` so far (0, or IDLE_PIECE's)."""
        if self.t0 is None or time.monotonic() - self.t0 - samples / self.rate < IDLE_LAG:
            return 0
        return int(self.rate * IDLE_PIECE)


@dataclass
class Frame:
    """One frame of a live stream."""

    index: int  # 0, 1, 2 ... from the stream's start
    t: float  # media time of the frame's start, seconds (index / 25)
    image: np.ndarray  # RGB uint8 (height, width, 3)
    opening: float  # inner-lip opening of the drawn mouth (inter-ocular distances)
    level: float  # loudness of the frame's audio (dBFS)
    audio_at: float  # time.monotonic() when the frame's first audio sample was pushed
    ready_at: float  # time.monotonic() when it was rendered


class LiveFace(LivePortrait):
    """A portrait, the weights and the renderer, loaded once (:class:`LivePortrait`);
    :meth:`stream` starts a live stream of it (one at a time or several in turn)."""

    def stream(self, rate: int = SAMPLE_RATE, *, max_frames: int = 25, drop: bool = True,
               max_audio: float = 5.0, seed: int = 0, idle: bool = False) -> LiveStream:
        """A new live stream: audio at ``rate`` Hz by default (``push`` may name another);
        ``idle``: silence filled in while nothing is pushed (the module's doc)."""
        return LiveStream(self, rate, max_frames=max_frames, drop=drop, max_audio=max_audio, seed=seed, idle=idle)


class LiveStream:
    """One live stream of a :class:`LiveFace` (see the module's doc)."""

    def __init__(self, face: LivePortrait, rate: int = SAMPLE_RATE, *, max_frames: int = 25, drop: bool = True,
                 max_audio: float = 5.0, seed: int = 0, idle: bool = False):
        if max_frames < 1 or max_audio <= 0:
            raise ValueError("max_frames must be at least 1 and max_audio positive")
        self.face, self.rate = face, _rate(rate)
        self._max_in = int(max_audio * SAMPLE_RATE)
        self.features = LiveFeatures(face.take_phones() or LivePhones())
        self.motion = LiveMotion(face.net, face.basis, face.gain)
        self._blinks = Blinks(seed) if face.blink else None
        self.rendered = 0
        self.samples = 0  # 16 kHz samples pushed (and filled in)
        self.silence = 0  # 16 kHz samples of silence filled in (idle)
        self._idle = IdleClock(SAMPLE_RATE) if idle else None
        self._cv = threading.Condition()  # the input side
        self._inq: collections.deque = collections.deque()
        self._in_n = 0
        self._times: collections.deque = collections.deque()  # (16 kHz samples pushed by then, monotonic time)
        self._out = FrameQueue(int(max_frames), bool(drop))  # the output side
        self._ended = self._closed = False
        self._error: BaseException | None = None
        self._push_lock = threading.Lock()
        self._audio = AudioIn()
        self._next = 0
        self._thread = threading.Thread(target=self._work, name="talkface-live", daemon=True)
        if self._idle is not None:
            self._idle.start()
        self._thread.start()

    @property
    def latency_frames(self) -> int:
        return self.motion.latency_frames

    # -- the audio side (any thread) -------------------------------------------------------
    def push(self, pcm, rate: int | None = None, timeout: float | None = None):
        """Queue ``pcm`` (16-bit mono: s16le bytes, of any length, or an int16 array; a
        float array in -1..1 too) recorded at ``rate`` Hz (default: the stream's). Waits
        while ``max_audio`` seconds are queued; ``queue.Full`` after ``timeout`` seconds."""
        with self._push_lock:
            self._check_open()
            for x in self._audio.convert(pcm, _rate(rate or self.rate)):
                self._enqueue(x, timeout)

    def end(self, timeout: float | None = None):
        """No more audio: the stream's last frames follow, then ``get`` gives None.
        InputError when the bytes pushed were an odd number (not 16-bit samples)."""
        with self._push_lock:
            if self._ended or self._closed:
                return
            odd = self._audio.odd
            self._enqueue(self._audio.flush(), timeout)
            with self._cv:
                self._ended = True
                self._cv.notify_all()
        if odd:
            raise InputError("the audio ended with an odd number of bytes: 16-bit PCM has 2 bytes a sample")

    def _check_open(self):
        if self._error is not None:
            raise self._error
        if self._ended or self._closed:
            raise ValueError("this live stream has ended; start another with LiveFace.stream()")

    def _enqueue(self, x: np.ndarray, timeout: float | None):
        if x.size == 0:
            return
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._in_n >= self._max_in and not self._closed and self._error is None:
                left = 0.2 if end is None else min(0.2, end - time.monotonic())
                if left <= 0:
                    raise queue.Full(f"{self._in_n / SAMPLE_RATE:.1f} s of audio are waiting to be processed")
                self._cv.wait(left)
            self._check_open()
            self._queue_in(np.array(x, np.int16))

    def _queue_in(self, x: np.ndarray):
        """(holding ``_cv``) ``x`` joins the worker's input."""
        self._inq.append(x)
        self._in_n += x.size
        self.samples += x.size
        self._times.append((self.samples, time.monotonic()))
        self._cv.notify_all()

    # -- the frame side (the reader's thread) ----------------------------------------------
    @property
    def dropped(self) -> int:
        """Frames the reader never got (drop mode)."""
        return self._out.dropped

    def get(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None once the stream has ended and every frame was read;
        ``queue.Empty`` after ``timeout`` seconds. Raises what stopped the worker."""
        f = self._out.get(timeout)
        if f is not None:
            return f
        if self._error is not None:
            raise self._error
        return None

    def frames(self):
        """Every frame until the stream ends (after :meth:`end`)."""
        while True:
            f = self.get()
            if f is None:
                return
            yield f

    def stats(self) -> dict:
        return {"frames": self.rendered, "dropped": self.dropped, "audio_seconds": round(self.samples / SAMPLE_RATE, 3),
                "silence_seconds": round(self.silence / SAMPLE_RATE, 3),
                "queued_frames": len(self._out), "latency_frames": self.latency_frames, **self.features.stats()}

    def close(self):
        """Stop the worker and let everything go (idempotent; after it no thread is left)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._out.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self._inq.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- the worker ------------------------------------------------------------------------
    def _work(self):
        try:
            while True:
                with self._cv:
                    while not self._inq and not self._ended and not self._closed:
                        n = self._idle.due(self.samples) if self._idle is not None else 0
                        if n:
                            self.silence += n
                            self._queue_in(np.zeros(n, np.int16))
                            break
                        self._cv.wait(0.5 if self._idle is None else IDLE_PIECE / 2)
                    if self._closed:
                        return
                    chunks, ended = list(self._inq), self._ended
                    self._inq.clear()
                    self._in_n = 0
                    self._cv.notify_all()
                if chunks:
                    x = np.concatenate(chunks)
                    for s in range(0, x.size, 4 * HOP):  # frames go out as soon as their audio is in
                        self.features.push(x[s: s + 4 * HOP])
                        self._emit()
                if ended:
                    self.features.end()
                    self._emit()
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the reader and the pushers
            self._error = e
        finally:
            self._out.finish()
            with self._cv:
                self._cv.notify_all()

    def _emit(self):
        r = self.motion.ready(self.features.n, self.features.ended)
        while self._next < r and not self._closed:
            a, b = self._next, min(r, self._next + 8)
            pts = self.face.points(self.motion.motion(self.features, a, b))
            for k, p in enumerate(pts):
                i = a + k
                if self._blinks is not None:
                    p = self._blinks.apply(p, i)
                img = self.face.render(p)
                self.rendered += 1
                self._out.put(Frame(i, i / FPS, img, self.face.opening(p), self.features.level(i), self._audio_at(i),
                                time.monotonic()))
            self._next = b
            self.features.forget_before(self.motion.first_needed(b))

    def _audio_at(self, i: int) -> float:
        s = i * HOP
        with self._cv:
            while len(self._times) > 1 and self._times[0][0] <= s:
                self._times.popleft()
            return self._times[0][1] if self._times else time.monotonic()

class FrameQueue:
    """Rendered frames waiting for the reader, at most ``size``: with ``drop`` a full queue
    loses its oldest frame (counted in ``dropped``), without it :meth:`put` waits for the
    reader. :meth:`finish`: no more frames will come; :meth:`close`: let everything go."""

    def __init__(self, size: int, drop: bool):
        self.size, self.drop = size, drop
        self.dropped = 0
        self._items: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._done = self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, f):
        with self._cv:
            while len(self._items) >= self.size and not self._closed:
                if self.drop:
                    self._items.popleft()
                    self.dropped += 1
                    break
                self._cv.wait(0.2)
            if not self._closed:
                self._items.append(f)
                self._cv.notify_all()

    def get(self, timeout: float | None = None):
        """The next frame; None once finished and empty; ``queue.Empty`` after ``timeout``."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while not self._items and not self._done:
                left = 0.2 if end is None else min(0.2, end - time.monotonic())
                if left <= 0:
                    raise queue.Empty
                self._cv.wait(left)
            if self._items:
                f = self._items.popleft()
                self._cv.notify_all()
                return f
        return None

    def finish(self):
        with self._cv:
            self._done = True
            self._cv.notify_all()

    def close(self):
        with self._cv:
            self._closed = True
            self._items.clear()
            self._cv.notify_all()


class AudioIn:
    """Pushed audio to int16 at 16 kHz: s16le bytes (an odd byte waits for the next push),
    int16 or float arrays; any rate, resampled as a stream (soxr)."""

    def __init__(self):
        self._odd = b""
        self._resampler = None
        self._rate: int | None = None

    @property
    def odd(self) -> int:
        return len(self._odd)

    def convert(self, pcm, rate: int) -> list[np.ndarray]:
        out = []
        if rate != self._rate:
            out.append(self.flush())
            if rate != SAMPLE_RATE:
                import soxr

                self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16", quality="LQ")
            self._rate = rate
        x = self._as_int16(pcm)
        out.append(x if self._resampler is None or x.size == 0 else self._resampler.resample_chunk(x))
        return out

    def flush(self) -> np.ndarray:
        """What the resampler still holds (the audio ends, or its rate changes)."""
        r, self._resampler = self._resampler, None
        return r.resample_chunk(np.zeros(0, np.int16), last=True) if r is not None else np.zeros(0, np.int16)

    def _as_int16(self, pcm) -> np.ndarray:
        if isinstance(pcm, (bytes, bytearray, memoryview)):
            b = self._odd + bytes(pcm)
            k = len(b) // 2 * 2
            self._odd = b[k:]
            return np.frombuffer(b[:k], "<i2").astype(np.int16)
        a = np.asarray(pcm)
        if a.ndim != 1 and not (a.ndim == 2 and 1 in a.shape):
            raise ValueError(f"push takes mono audio (one channel), not an array of shape {a.shape}")
        a = a.reshape(-1)
        if a.dtype == np.int16:
            return a
        if np.issubdtype(a.dtype, np.floating):
            return (np.clip(np.nan_to_num(a), -1.0, 1.0) * 32767.0).astype(np.int16)
        raise ValueError(f"push takes 16-bit PCM (bytes or int16) or floats in -1..1, not {a.dtype}")


def _rate(rate) -> int:
    r = int(rate)
    if r != rate or not 4000 <= r <= 384000:
        raise InputError(f"audio rate {rate}: give a whole number of Hz, 4000-384000")
    return r
