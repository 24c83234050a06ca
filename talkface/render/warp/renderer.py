"""``WarpRenderer``: one portrait's frames for moved landmarks, composed of the motion
field, the resampling back-end, the closing lips, the mouth and the eyelids."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .closing import LipCloser
from .colour import sample
from .eyelids import EyelidPainter
from .field import MotionField
from .mouth import MouthPainter
from .resample import backend_for, make_resampler
from .roi import Roi


class WarpRenderer:
    """Renders full frames of ``image`` with its 68 ``points`` moved to new positions.

    ``backend``: ``torch`` (``grid_sample``) or ``cv2`` (``remap``); ``auto`` is torch on
    CUDA and cv2 elsewhere. ``grid``: nodes per side of the coarse motion field (default
    about one every 6 px, 24..64); ``reg``: the spline's regularisation.
    """

    def __init__(self, image: np.ndarray, points: np.ndarray, grid: int | None = None, device: str = "cpu",
                 backend: str = "auto", reg: float = 1e-3):
        self.image = np.ascontiguousarray(image)
        self.src = np.asarray(points, np.float64)
        self.roi = Roi(self.src, image.shape)
        self.field = MotionField(self.src, self.roi, grid, reg)
        face_scale = float(np.linalg.norm(self.src[45] - self.src[36])) or max(self.roi.face_w, 1.0) * 0.4
        skin = sample(self.image, self.src[[29, 30]].mean(0), 3)
        self.mouth = MouthPainter(self.image, self.src, self.roi, skin, face_scale)
        self.eyelids = EyelidPainter(self.image, self.src, self.roi, skin)
        self.closer = LipCloser(self.image, self.src, self.roi, skin, face_scale)
        self.device = device
        self.backend = backend_for(device, backend)
        self.resample = make_resampler(self.backend, self.image, self.roi, device)

    # the region's box in image pixels
    x0 = property(lambda self: self.roi.x0)
    x1 = property(lambda self: self.roi.x1)
    y0 = property(lambda self: self.roi.y0)
    y1 = property(lambda self: self.roi.y1)
    # what the painters sampled from the portrait
    cavity = property(lambda self: self.mouth.cavity)
    teeth = property(lambda self: self.mouth.teeth)
    mouth_gain = property(lambda self: self.mouth.gain)
    lids = property(lambda self: self.eyelids.lids)

    def flow(self, dst: np.ndarray) -> np.ndarray:
        """Backward map offsets (gy, gx, 2) float32 on the coarse grid: output px -> portrait px."""
        return self.field.flow(dst)

    def frame(self, dst: np.ndarray) -> np.ndarray:
        """The portrait with its points moved to ``dst`` (68, 2), a full uint8 RGB frame."""
        eff = np.array(dst, np.float64)
        self.mouth.scale_motion(eff)
        closures = self.eyelids.hold_open(eff)  # the eyes are warped open; the lids are painted
        b = self.field.flow(eff)
        roi = self.resample(b)
        self.closer.close(roi, b, eff, self.resample.upsample)  # lips closer than the portrait's
        self.mouth.paint(roi, eff)  # a mouth open wider than the portrait's
        for info, c in zip(self.lids, closures):
            if info is not None and c > 0.04:
                self.eyelids.paint(roi, eff, info, c)
        out = self.image.copy()
        out[self.roi.slices] = roi
        return out


def render_warp(image: np.ndarray, points: np.ndarray, seq, device: str = "cpu") -> Iterator[np.ndarray]:
    """Yield full-resolution frames for the (T, 68, 2) landmark sequence ``seq`` (image px)."""
    r = WarpRenderer(image, points, device=device)
    for dst in seq:
        yield r.frame(dst)
