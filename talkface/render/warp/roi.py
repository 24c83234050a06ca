"""The warp renderer's region of interest: the box around the face that it may change."""
from __future__ import annotations

import numpy as np

from ...runtime.errors import InputError


class Roi:
    """The landmarks' box grown so that the motion field's border anchors sit on still
    skin or background (35 % of the face width at the sides, 45 % of its height above
    and below), clipped to the image. Every pixel the renderer changes lies inside it."""

    def __init__(self, points: np.ndarray, shape: tuple):
        h, w = shape[:2]
        x0, y0 = points.min(0)
        x1, y1 = points.max(0)
        self.face_w, self.face_h = x1 - x0, y1 - y0
        fw, fh = self.face_w, self.face_h
        self.x0 = int(max(0, np.floor(x0 - 0.35 * fw)))
        self.x1 = int(min(w, np.ceil(x1 + 0.35 * fw)))
        self.y0 = int(max(0, np.floor(y0 - 0.45 * fh)))
        self.y1 = int(min(h, np.ceil(y1 + 0.45 * fh)))
        self.w, self.h = self.x1 - self.x0, self.y1 - self.y0
        if self.w < 2 or self.h < 2 or not np.isfinite(points).all():
            raise InputError(f"the face's 68 points ({x0:.0f}..{x1:.0f} x {y0:.0f}..{y1:.0f}) lie outside the "
                             f"{w}x{h} portrait; give landmarks in this portrait's pixels (talkface landmarks "
                             "IMAGE -o face.json)")

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) of the image inside the region."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def box(self, pts: np.ndarray, mx: float, my_top: float, my_bot: float) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in region pixels of the box around image points ``pts``,
        grown by ``mx`` at the sides, ``my_top`` above and ``my_bot`` below."""
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        bx0 = int(max(0, np.floor(x0 - mx - self.x0)))
        bx1 = int(min(self.w, np.ceil(x1 + mx - self.x0) + 1))
        by0 = int(max(0, np.floor(y0 - my_top - self.y0)))
        by1 = int(min(self.h, np.ceil(y1 + my_bot - self.y0) + 1))
        return bx0, by0, bx1, by1
