"""Landmark spaces shared by training and inference.

talkface's own weights work in the aligned crop: points are divided by the crop size
and centred, ``norm = (p - S/2) / S`` (flat 136 as x0, y0, x1, y1 ...).
"""
from __future__ import annotations

import numpy as np

from .align import apply, similarity
from .groups import MOUTH, STABLE


def to_norm(points, size: int) -> np.ndarray:
    p = np.asarray(points, np.float32)
    return ((p - size / 2.0) / size).reshape(*p.shape[:-2], -1)


def from_norm(flat, size: int) -> np.ndarray:
    f = np.asarray(flat, np.float32)
    return f.reshape(*f.shape[:-1], 68, 2) * size + size / 2.0


def stabilise(points: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    """Remove head motion: map each frame's points onto ``target`` (default the clip's
    median shape) by a similarity fitted on the nose and eye corners."""
    pts = np.asarray(points, np.float64)
    tgt = np.median(pts, 0) if target is None else np.asarray(target, np.float64)
    out = np.empty_like(pts)
    for i, p in enumerate(pts):
        out[i] = apply(similarity(p[STABLE], tgt[STABLE]), p)
    return out.astype(np.float32)


def mouth_error(pred: np.ndarray, true: np.ndarray, scale: float = 1.0) -> float:
    """Mean per-point distance of mouth points 48-67, each set centred on its own
    centroid (as the paper's LMD), times ``scale`` (pixels per unit)."""
    p = np.asarray(pred, np.float64).reshape(-1, 68, 2)[:, MOUTH]
    t = np.asarray(true, np.float64).reshape(-1, 68, 2)[:, MOUTH]
    p = p - p.mean(1, keepdims=True)
    t = t - t.mean(1, keepdims=True)
    return float(np.linalg.norm(p - t, axis=-1).mean() * scale)
