"""Articulation figures: does a mouth open and close with the speech (docs/lipsync.md)?

* inner-lip opening per frame: mean of |61-67|, |62-66|, |63-65| over the inter-ocular
  distance (outer eye corners 36-45), so it does not depend on the image size;
* correlation of two openings at the best lag within +-2 frames (a constant audio/video
  offset of up to 80 ms is not counted against the mouth);
* amplitude ratio std(generated) / std(real);
* mouth width per frame: the distance of the mouth corners 48-54 over the inter-ocular
  distance, which rounding (/u/, /o/, /w/) narrows and spreading (/i/, smiles) widens; its
  correlation and spread ratio the same way as the opening's;
* the loudness envelope (RMS per 40 ms frame, in dB) as the baseline any mouth model must
  beat: its best-lag correlation with the real opening;
* the clip's apparent audio/video offset: the lag within +-1 s at which the generated
  opening (which follows the sound) matches the real one best. A real clip whose sound is
  out of step with its picture (a badly cut or dubbed video) shows it as a clear peak far
  from 0; such a clip's ``open_corr`` says nothing about the lip sync.
"""
from __future__ import annotations

import numpy as np

from ..constants import SAMPLE_RATE
from ..speech.audio import loudness

INNER_PAIRS = ((61, 67), (62, 66), (63, 65))
MAX_LAG = 2
SYNC_SEARCH = 25  # frames (1 s at 25 fps) searched for a clip's audio/video offset
OFFSET_WARN = 5   # frames (200 ms): an offset beyond this, with a clearly better match, is flagged


def inner_lip_opening(points: np.ndarray) -> np.ndarray:
    """(T,) opening of (T, 68, 2) points (or (68, 2) -> scalar) in inter-ocular distances."""
    p = np.asarray(points, np.float64)
    single = p.ndim == 2
    p = p.reshape(-1, 68, 2)
    gap = np.mean([np.linalg.norm(p[:, a] - p[:, b], axis=-1) for a, b in INNER_PAIRS], 0)
    iod = np.maximum(np.linalg.norm(p[:, 36] - p[:, 45], axis=-1), 1e-6)
    out = gap / iod
    return out[0] if single else out


def mouth_width(points: np.ndarray) -> np.ndarray:
    """(T,) width of the mouth, corners 48-54, of (T, 68, 2) points (or (68, 2) -> scalar)
    in inter-ocular distances."""
    p = np.asarray(points, np.float64)
    single = p.ndim == 2
    p = p.reshape(-1, 68, 2)
    out = np.linalg.norm(p[:, 48] - p[:, 54], axis=-1) / np.maximum(np.linalg.norm(p[:, 36] - p[:, 45], axis=-1), 1e-6)
    return out[0] if single else out


def best_lag(a, b, max_lag: int = MAX_LAG) -> tuple[int, float] | None:
    """(lag, correlation) of ``a`` and ``b`` at the shift within +-max_lag frames where they
    correlate best: lag k pairs a[t + k] with b[t]; None when either is constant or too short."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    best = None
    reach = min(max_lag, n - 5)  # shifts that leave at least 5 frames overlapping
    for lag in range(-reach, reach + 1):
        x, y = (a[lag:], b[: n - lag]) if lag >= 0 else (a[: n + lag], b[-lag:])
        if x.std() < 1e-9 or y.std() < 1e-9:
            continue
        c = float(np.corrcoef(x, y)[0, 1])
        if best is None or c > best[1]:
            best = (lag, c)
    return best


def lag_correlation(a, b, max_lag: int = MAX_LAG) -> float | None:
    """Pearson correlation of ``a`` and ``b`` at the best shift within +-max_lag frames;
    None when either is constant or too short."""
    best = best_lag(a, b, max_lag)
    return None if best is None else best[1]


def amplitude_ratio(gen, real) -> float | None:
    g, r = np.asarray(gen, np.float64), np.asarray(real, np.float64)
    n = min(len(g), len(r))
    sr = r[:n].std()
    return None if n < 2 or sr < 1e-9 else float(g[:n].std() / sr)


def loudness_envelope(wav: np.ndarray, n_frames: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """RMS per 40 ms video frame, in dB (``audio.loudness``), floored 60 dB below the loudest
    frame so digital silence does not dominate the correlation."""
    db = loudness(wav, n_frames, sr).astype(np.float64)
    return np.maximum(db, db.max() - 60.0)


def articulation(gen_opening, real_opening, loud=None, gen_width=None, real_width=None) -> dict:
    """The figures for one clip: ``open_corr``, ``open_ratio``, ``loud_corr``, the mouth
    width's ``width_corr`` and ``width_ratio`` (when the widths are given), and the apparent
    audio/video offset ``av_offset`` (frames; positive: the sound comes later than the
    picture) with the correlation there, ``offset_corr``."""
    off = best_lag(gen_opening, real_opening, SYNC_SEARCH)
    width = gen_width is not None and real_width is not None
    return {"open_corr": lag_correlation(gen_opening, real_opening),
            "open_ratio": amplitude_ratio(gen_opening, real_opening),
            "width_corr": lag_correlation(gen_width, real_width) if width else None,
            "width_ratio": amplitude_ratio(gen_width, real_width) if width else None,
            "loud_corr": None if loud is None else lag_correlation(loud, real_opening),
            "av_offset": None if off is None else off[0], "offset_corr": None if off is None else off[1]}


def out_of_sync(row: dict) -> bool:
    """Whether a clip's sound looks out of step with its picture: the best match lies more than
    OFFSET_WARN frames away and correlates clearly (by 0.1) better than the best within +-2."""
    off, oc, c = row.get("av_offset"), row.get("offset_corr"), row.get("open_corr")
    return off is not None and oc is not None and c is not None and abs(off) > OFFSET_WARN and oc - c >= 0.1
