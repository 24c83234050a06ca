"""Talking clips for training and evaluation: finding them and tracking their 68 points.

Both ``talkface data prepare`` (training items) and ``talkface evaluate`` (real vs
generated frames) read clips the same way: every video file under a folder, and dlib's
68 points followed from frame to frame inside the previous frame's landmark box.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

CLIP_EXTS = (".mp4", ".mpg", ".mpeg", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def find_clips(src) -> list[Path]:
    """Every clip under ``src`` (recursively), sorted."""
    return sorted(p for p in Path(src).rglob("*") if p.suffix.lower() in CLIP_EXTS and p.is_file())


class LandmarkTracker:
    """68 points per frame: dlib's predictor inside the previous frame's landmark box
    (detect once, then follow the landmarks' own box)."""

    def __init__(self, box):
        self.box = box

    def __call__(self, frame) -> np.ndarray:
        from .detectors.dlib import dlib_points

        p = dlib_points(frame, self.box)
        x0, y0 = p.min(0)
        x1, y1 = p.max(0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - (y1 - y0) * 0.08
        side = max(x1 - x0, y1 - y0) * 1.15
        self.box = (cx - side / 2, cy - side / 2, side, side)
        return p

    def track(self, frames) -> np.ndarray:
        return np.stack([self(f) for f in frames])
