"""The warp renderer's motion field: where each pixel of the face's region comes from.

A thin-plate spline through the 68 landmarks plus fixed anchors on the region's border
gives each pixel's displacement. Its control points are the portrait's own landmarks, so
the spline's system is solved once; a frame costs one (grid x 68) @ (68 x 2) product on
a coarse grid. That forward field is inverted by three fixed-point steps and faded to
exactly zero towards the region's edge, so nothing outside it moves and there is no seam.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...face.groups import N_POINTS
from .roi import Roi


def tps_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The thin-plate spline's radial basis r^2 log r between point sets ``a`` and ``b``."""
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.where(d2 > 0, 0.5 * d2 * np.log(d2 + 1e-20), 0.0)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    v = np.clip(u, 0, 1)
    return v * v * (3 - 2 * v)


class MotionField:
    """Backward maps of the region for moved landmarks of one portrait."""

    def __init__(self, src: np.ndarray, roi: Roi, grid: int | None = None, reg: float = 1e-3):
        self.src = src
        rw, rh = roi.w, roi.h
        k = 6
        border = [(roi.x0 + rw * i / k, roi.y0) for i in range(k + 1)] + \
                 [(roi.x0 + rw * i / k, roi.y1 - 1) for i in range(k + 1)] + \
                 [(roi.x0, roi.y0 + rh * i / k) for i in range(1, k)] + \
                 [(roi.x1 - 1, roi.y0 + rh * i / k) for i in range(1, k)]
        self.anchors = np.array(border, np.float64)
        # coarse grid: about one node every 6 px, 24..64 per side
        self.gx = grid or int(np.clip(rw / 6, 24, 64))
        self.gy = grid or int(np.clip(rh / 6, 24, 64))
        gx = np.linspace(roi.x0, roi.x1 - 1, self.gx)
        gy = np.linspace(roi.y0, roi.y1 - 1, self.gy)
        self.sx = (roi.x1 - 1 - roi.x0) / (self.gx - 1)
        self.sy = (roi.y1 - 1 - roi.y0) / (self.gy - 1)
        grid_pts = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        # thin-plate spline with the portrait's landmarks as control points: solve once
        ctrl = np.concatenate([src, self.anchors])
        n = len(ctrl)
        scale = max(roi.face_w, roi.face_h, 1.0)  # kernel in face units keeps the system well conditioned
        c = ctrl / scale
        L = np.zeros((n + 3, n + 3))
        L[:n, :n] = tps_kernel(c, c) + reg * np.eye(n)
        L[:n, n] = 1
        L[:n, n + 1:] = c
        L[n, :n] = 1
        L[n + 1:, :n] = c.T
        g = grid_pts / scale
        U = np.concatenate([tps_kernel(g, c), np.ones((len(g), 1)), g], 1)
        # (G, 68): displacement per landmark move
        self.field = (U @ np.linalg.inv(L)[:, :N_POINTS]).astype(np.float32)
        # fade to zero over the outer 12 % of the box: exact stillness at its edge
        ux = np.minimum(np.arange(self.gx), np.arange(self.gx)[::-1]) / max(1.0, 0.12 * (self.gx - 1))
        uy = np.minimum(np.arange(self.gy), np.arange(self.gy)[::-1]) / max(1.0, 0.12 * (self.gy - 1))
        self.window = (_smoothstep(uy)[:, None] * _smoothstep(ux)[None, :]).astype(np.float32)[..., None]
        self.gmx, self.gmy = [a.astype(np.float32) for a in np.meshgrid(np.arange(self.gx), np.arange(self.gy))]

    def flow(self, dst: np.ndarray) -> np.ndarray:
        """Backward map offsets (gy, gx, 2) float32 on the coarse grid: output px -> portrait px."""
        fwd = (self.field @ (dst - self.src).astype(np.float32)).reshape(self.gy, self.gx, 2)
        b = -fwd
        for _ in range(3):  # invert y = x + F(x): B(y) = -F(y + B(y))
            mx = self.gmx + b[..., 0] / self.sx
            my = self.gmy + b[..., 1] / self.sy
            b = -cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        b *= self.window
        return b
