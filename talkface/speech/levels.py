"""How far audio's quiet moments sink below its loud ones (its level range), which noise and
reverberation shrink: the mouth model's noise gain reads it (``talkface.motion.mouthnet.
noise_gain``), from :class:`SpeechFeatures` (generate, evaluate, landmarks), a
``phones.SpeechStream`` (long audio) or ``live.features.LiveFeatures`` (live mode)."""
from __future__ import annotations

import numpy as np

from ..constants import SAMPLE_RATE

SILENT_DB = -70.0  # dB (full scale 0): audio whose speech level is below this is silence, not quiet speech
RANGE_HI, RANGE_LO = 95, 5  # percentiles of the 10 ms levels whose difference is the level range
RANGE_ROW = SAMPLE_RATE // 100  # samples per 10 ms level
RANGE_MIN_ROWS = 100  # a second of sound: less has no range worth reading


def frame_levels(frames: np.ndarray) -> np.ndarray:
    """The level (dBFS) of each row of (k, samples) float audio frames."""
    return 10 * np.log10(np.mean(np.asarray(frames).astype(np.float64) ** 2, 1) + 1e-10)


def row_levels(frames: np.ndarray) -> np.ndarray:
    """The level (dBFS) of each 10 ms of float audio (samples, or (k, samples per video
    frame) frames)."""
    return frame_levels(np.asarray(frames).reshape(-1, RANGE_ROW))


def range_of_levels(db: np.ndarray) -> float | None:
    """The level range (dB) of 10 ms levels (dBFS): the 95th minus the 5th percentile,
    digital silence left out; None for under a second of sound."""
    d = np.asarray(db, np.float64)
    d = d[d >= SILENT_DB]
    if d.size < RANGE_MIN_ROWS:
        return None
    hi, lo = np.percentile(d, [RANGE_HI, RANGE_LO])
    return float(hi - lo)


def level_range(wav: np.ndarray) -> float | None:
    """How far the audio's quietest moments sink below its loudest: the 95th minus the 5th
    percentile of its level over 10 ms steps (dB), digital silence left out. Clean speech
    with its pauses spans about 33 to 46 dB (GRID, av_train); white noise at 10 dB SNR
    shrinks that to about 18, reverberation with noise at 15 dB to about 22 (docs/lipsync.md,
    "Noisy speech"). None for under a second of sound."""
    x = np.asarray(wav)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32, copy=False)
    n = x.size // RANGE_ROW
    return range_of_levels(row_levels(x[: n * RANGE_ROW])) if n else None


class SpeechFeatures(np.ndarray):
    """``phones.speech_features``' (frames, N_FEATURES) float32 array with its audio's
    :func:`level_range` (``level_range``, dB or None), which the mouth model's noise gain
    reads (``talkface.motion.mouthnet.noise_gain``). Slices keep it; ``np.asarray`` gives the
    plain array."""

    level_range: float | None

    def __new__(cls, feats: np.ndarray, level_range: float | None):
        obj = np.asarray(feats, np.float32).view(cls)
        obj.level_range = level_range
        return obj

    def __array_finalize__(self, obj):
        self.level_range = getattr(obj, "level_range", None)

    def __reduce__(self):  # pickled with it (the prefetch's audio process sends it back)
        r = super().__reduce__()
        return r[0], r[1], (r[2], self.level_range)

    def __setstate__(self, state):
        self.level_range = state[1]
        super().__setstate__(state[0])
