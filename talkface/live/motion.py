"""MouthNet's motion a few frames at a time as the features arrive, and blinks without an end.

:class:`LiveMotion` computes frame ``i`` once the features reach ``i + ahead``: the
network's own look-ahead (``MouthNetConfig.future``: 32 frames for the shipped symmetric
model, 2 for a live one), one more for the [1 2 1]/4 smoothing, and the speech gate's
lead shortened to fit (``LEAD`` when it does: the shipped model's motion then equals
:func:`talkface.motion.mouthnet.predict_motion` of the same features exactly). Each call
runs the network on the window the frames' receptive field covers (its past context
included), so the cost per frame is flat however long the stream.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..constants import FPS
from ..motion.idle import PROFILE, add_blinks
from ..motion.mouthnet import LAG, LEAD, close_mouth, fade_in, noise_gain, speech_gate


class LiveMotion:
    """Landmark motion (normalised crop units, (k, 136)) of frames ``a``..``b`` from a
    features source with ``window(a, b)`` and ``n`` (:class:`~talkface.live.features.LiveFeatures`)."""

    def __init__(self, net, basis: np.ndarray, gain: float = 1.0):
        self.net = net
        self.basis = np.asarray(basis, np.float32)
        self.gain = float(gain)
        cfg = net.cfg
        if cfg.norm == "group":
            raise ValueError("MouthNet with utterance statistics (norm 'group') cannot run live")
        self.past, self.future = cfg.past, cfg.future
        self.ahead = self.future + 1  # the smoothing reads the next frame's output
        self.lead = min(LEAD, max(0, self.ahead - 2))  # the gate's reach (and its [1 2 3 2 1] smoothing)
        self.lag = LAG

    @property
    def latency_frames(self) -> int:
        """Frames of audio past a frame's own that its motion waits for."""
        return self.ahead

    def ready(self, n: int, ended: bool) -> int:
        """How many frames can be computed from ``n`` frames of features."""
        return n if ended else max(0, n - self.ahead)

    def first_needed(self, a: int) -> int:
        """The earliest feature frame that computing frames from ``a`` on reads."""
        return max(0, a - 1 - max(self.past, self.lag + 2))

    def motion(self, feats, a: int, b: int) -> np.ndarray:
        """(b - a, 136) motion of frames ``a``..``b`` (all ready: :meth:`ready`)."""
        n = feats.n
        wa = self.first_needed(a)
        wb = min(n, b + 1 + max(self.future, self.lead + 2))
        x = feats.window(wa, wb)
        na, nb = max(0, a - 1 - self.past), min(n, b + 1 + self.future)  # the network's receptive field
        with one_blas_thread():
            h = self.net(x[na - wa: nb - wa]) @ self.basis.T
        # [1 2 1]/4 over time, edges repeated (only at the stream's true ends does that matter)
        i0 = a - na
        prev = h[np.maximum(np.arange(i0, i0 + b - a) - 1, 0)]
        nxt = h[np.minimum(np.arange(i0, i0 + b - a) + 1, len(h) - 1)]
        sm = (prev + 2 * h[i0: i0 + b - a] + nxt) / 4.0 if nb - na >= 3 else h[i0: i0 + b - a]
        ga, gb = max(0, a - self.lag - 2), min(n, b + self.lead + 2 + 1)
        g = speech_gate(x[ga - wa: gb - wa], self.lead, self.lag)[a - ga: b - ga]
        gain = self.gain * noise_gain(getattr(feats, "level_range", None))  # the running range: noise
        return (sm * (g * fade_in(a, b - a))[:, None] * gain).astype(np.float32)


_BLAS: list = []  # threadpoolctl's controller, made on first use (None where it is missing)


def one_blas_thread():
    """BLAS on one thread for the window's small matrices: a second thread costs more than it
    saves on them, and much more on a busy machine (measured on 2 shared cores: 195 frames a
    second instead of 70). A context (threadpoolctl, a dependency of librosa's scikit-learn;
    nothing where it is missing); the limit is the process's while inside."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        except Exception:  # noqa: BLE001 - not installed, or it could not read the libraries
            _BLAS.append(None)
    ctl = _BLAS[0]
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()


class Blinks:
    """Eye closures 0..1, one frame at a time: a blink every 2-6 s (the first after
    0.8-3 s), seeded, as :func:`talkface.motion.idle.blink_schedule` draws them, with no
    end and no array that grows."""

    def __init__(self, seed: int = 0, every=(2.0, 6.0), fps: int = FPS):
        self._rng = np.random.default_rng(seed)
        self.every, self.fps = every, fps
        self._next = int(round(self._rng.uniform(0.8, 3.0) * fps))

    def closure(self, i: int) -> float:
        """The closure of frame ``i`` (call with increasing ``i``)."""
        while i >= self._next + len(PROFILE):
            self._next += max(1, int(round(self._rng.uniform(*self.every) * self.fps)))
        k = i - self._next
        return float(PROFILE[k]) if 0 <= k < len(PROFILE) else 0.0

    def apply(self, pts: np.ndarray, i: int) -> np.ndarray:
        c = self.closure(i)
        return add_blinks(pts[None], closure=np.array([c], np.float32))[0] if c > 0 else pts


def rest_points(ref_norm: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The portrait's points with its mouth closed: where the motion is added."""
    return close_mouth(ref_norm, basis).reshape(1, -1)
