"""Talking clips for training and evaluation: finding them and tracking their 68 points.

Both ``talkface data prepare`` (training items) and ``talkface evaluate`` (real vs
generated frames) read clips the same way: every video file under a folder, and dlib's
68 points followed from frame to frame inside the previous frame's landmark box (the face
detected again where they slip off it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

CLIP_EXTS = (".mp4", ".mpg", ".mpeg", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def find_clips(src) -> list[Path]:
    """Every clip under ``src`` (recursively), sorted."""
    return sorted(p for p in Path(src).rglob("*") if p.suffix.lower() in CLIP_EXTS and p.is_file())


SLIP = 0.15  # a frame's eye distance off the recent frames' by more than this share: the track slipped
SLIP_MOVE = 0.5  # or its eyes moved by more than this many eye distances in one frame
RECENT = 5  # frames whose eye distance is the reference


class LandmarkTracker:
    """68 points per frame: dlib's predictor inside the previous frame's landmark box
    (detect once, then follow the landmarks' own box). Where the points slip off the face
    (their eye distance jumps against the last frames', or the eyes leap), the face is
    detected again, nearest to where it was, and followed from there; where none is found
    the box stays where it was good. ``redetections`` counts those."""

    def __init__(self, box):
        self.box = box
        self.redetections = 0
        self._iods: list[float] = []  # the last RECENT accepted frames' eye distances
        self._eyes: np.ndarray | None = None  # the last accepted frame's eye centre

    def __call__(self, frame) -> np.ndarray:
        from .detectors.dlib import dlib_points

        p = dlib_points(frame, self.box)
        if self._iods and self._slipped(p):
            self.redetections += 1
            found = self._detect_near(frame)
            if found is None:  # nothing better: these points, the box kept where it was good
                return p
            p = dlib_points(frame, found)
            self._iods.clear()
        self._accept(p)
        return p

    def _slipped(self, p: np.ndarray) -> bool:
        iod = float(np.linalg.norm(p[45] - p[36]))
        ref = float(np.median(self._iods))
        moved = float(np.linalg.norm(p[36:48].mean(0) - self._eyes)) if self._eyes is not None else 0.0
        return abs(iod / max(ref, 1e-6) - 1.0) > SLIP or moved > SLIP_MOVE * ref

    def _detect_near(self, frame):
        from .detect import detect_faces

        faces = detect_faces(frame, "dlib", retries=False)
        eyes = self._eyes
        if not faces or eyes is None:
            return None
        ref = float(np.median(self._iods))

        def dist(f):
            x, y, w, h = f.box
            return float(np.hypot(x + w / 2 - eyes[0], y + h / 2 - eyes[1]))

        best = min(faces, key=dist)
        return best.box if dist(best) < 2.0 * ref else None

    def _accept(self, p: np.ndarray):
        self._iods = (self._iods + [float(np.linalg.norm(p[45] - p[36]))])[-RECENT:]
        self._eyes = p[36:48].mean(0)
        self.box = self._box_of(p)

    @staticmethod
    def _box_of(p: np.ndarray) -> tuple:
        """The box the next frame is searched in: the points' extent, a little higher, 1.15x."""
        x0, y0 = p.min(0)
        x1, y1 = p.max(0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - (y1 - y0) * 0.08
        side = max(x1 - x0, y1 - y0) * 1.15
        return (cx - side / 2, cy - side / 2, side, side)

    def track(self, frames) -> np.ndarray:
        return np.stack([self(f) for f in frames])
