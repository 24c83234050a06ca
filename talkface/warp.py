"""The ``warp`` renderer: moves the portrait's own pixels along the predicted landmark
motion, for faces the neural renderer has never seen (paintings, cartoons, strangers).

Per frame, a smooth displacement field (thin-plate spline through the 68 landmarks plus
fixed anchors on a box around the face) maps every output pixel back to the portrait;
it is evaluated on a coarse grid, upsampled and applied with one ``cv2.remap`` over the
face's region of interest, at the portrait's full resolution. Where the mouth opens
wider than in the portrait, a mouth interior is painted: a dark cavity tinted from the
lips' own colour, a soft band of teeth under the upper lip, with feathered edges.
"""
from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

INNER = list(range(60, 68))


def _tps_fit(ctrl: np.ndarray, disp: np.ndarray, reg: float = 1e-3):
    n = len(ctrl)
    d = np.linalg.norm(ctrl[:, None] - ctrl[None], axis=-1)
    K = np.where(d > 0, d * d * np.log(d + 1e-12), 0.0)
    P = np.hstack([np.ones((n, 1)), ctrl])
    L = np.zeros((n + 3, n + 3))
    L[:n, :n] = K + reg * np.eye(n)
    L[:n, n:] = P
    L[n:, :n] = P.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = disp
    return np.linalg.solve(L, rhs)


def _tps_eval(ctrl, coef, pts):
    d = np.linalg.norm(pts[:, None] - ctrl[None], axis=-1)
    U = np.where(d > 0, d * d * np.log(d + 1e-12), 0.0)
    n = len(ctrl)
    return U @ coef[:n] + coef[n] + pts @ coef[n + 1:]


class WarpRenderer:
    def __init__(self, image: np.ndarray, points: np.ndarray, grid: int = 48):
        self.image = image
        self.src = np.asarray(points, np.float64)
        h, w = image.shape[:2]
        x0, y0 = self.src.min(0)
        x1, y1 = self.src.max(0)
        fw, fh = x1 - x0, y1 - y0
        # region of interest: the face box grown so the border anchors sit on still skin/background
        self.x0 = int(max(0, x0 - 0.35 * fw))
        self.x1 = int(min(w, x1 + 0.35 * fw))
        self.y0 = int(max(0, y0 - 0.35 * fh))
        self.y1 = int(min(h, y1 + 0.45 * fh))
        rw, rh = self.x1 - self.x0, self.y1 - self.y0
        k = 6
        border = [(self.x0 + rw * i / k, self.y0) for i in range(k + 1)] + \
                 [(self.x0 + rw * i / k, self.y1 - 1) for i in range(k + 1)] + \
                 [(self.x0, self.y0 + rh * i / k) for i in range(1, k)] + \
                 [(self.x1 - 1, self.y0 + rh * i / k) for i in range(1, k)]
        self.anchors = np.array(border, np.float64)
        gx = np.linspace(self.x0, self.x1 - 1, grid)
        gy = np.linspace(self.y0, self.y1 - 1, grid)
        self.grid_pts = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        self.grid = grid
        self.roi = image[self.y0:self.y1, self.x0:self.x1]
        lips = self.src[48:60].astype(np.int32)
        m = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(m, [lips], 1)
        lip_col = image[m > 0].reshape(-1, 3).astype(np.float32)
        if len(lip_col):  # the darker lip pixels: teeth of a smiling portrait must not tint the cavity
            lip_col = lip_col[np.argsort(lip_col.sum(1))][: max(1, len(lip_col) // 3)]
            lip = np.median(lip_col, 0)
        else:
            lip = np.array([150, 80, 80], np.float32)
        self.cavity = np.clip(lip * 0.45 + np.array([18, 4, 4]), 0, 255)
        face_px = image[int(self.src[29, 1]) - 2:int(self.src[29, 1]) + 3, int(self.src[29, 0]) - 2:int(self.src[29, 0]) + 3]
        skin = face_px.reshape(-1, 3).mean(0) if face_px.size else np.array([200, 170, 150])
        self.teeth = np.clip(0.75 * np.array([235, 230, 220]) + 0.25 * skin, 0, 255)
        self.src_gap = self._gap(self.src)
        self.face_scale = float(np.linalg.norm(self.src[45] - self.src[36]))

    @staticmethod
    def _gap(p):
        return float(np.mean(p[[65, 66, 67], 1] - p[[63, 62, 61], 1]))

    def frame(self, dst: np.ndarray) -> np.ndarray:
        dst = np.asarray(dst, np.float64)
        ctrl = np.concatenate([dst, self.anchors])
        disp = np.concatenate([self.src - dst, np.zeros_like(self.anchors)])
        coef = _tps_fit(ctrl, disp)
        flow = _tps_eval(ctrl, coef, self.grid_pts).reshape(self.grid, self.grid, 2).astype(np.float32)
        rw, rh = self.x1 - self.x0, self.y1 - self.y0
        flow = cv2.resize(flow, (rw, rh), interpolation=cv2.INTER_CUBIC)
        xs, ys = np.meshgrid(np.arange(self.x0, self.x1, dtype=np.float32), np.arange(self.y0, self.y1, dtype=np.float32))
        mapx = xs + flow[..., 0]
        mapy = ys + flow[..., 1]
        warped = cv2.remap(self.image, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out = self.image.copy()
        roi = warped.astype(np.float32)
        opening = self._gap(dst) - self.src_gap
        if opening > 0.01 * self.face_scale:
            inner = (dst[INNER] - (self.x0, self.y0)).astype(np.float32)
            m = np.zeros((rh, rw), np.float32)
            cv2.fillPoly(m, [np.round(inner * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
            k = max(3, int(self.face_scale * 0.04) | 1)
            m = cv2.GaussianBlur(m, (k, k), 0)
            strength = 0.9 * float(np.clip(opening / (0.08 * self.face_scale), 0, 1))
            # teeth: a soft band just under the upper inner lip
            top = inner[2:5].mean(0)
            width = float(np.ptp(inner[:, 0]))
            t = np.zeros((rh, rw), np.float32)
            cv2.ellipse(t, (int(top[0]), int(top[1])), (max(1, int(width * 0.42)), max(1, int(opening * 0.45) + 1)),
                        0, 0, 180, 1.0, -1, cv2.LINE_AA)
            t = cv2.GaussianBlur(t, (k, k), 0) * m
            fill = self.cavity[None, None] * (1 - t[..., None]) + self.teeth[None, None] * t[..., None]
            a = (m * strength)[..., None]
            roi = roi * (1 - a) + fill * a
        out[self.y0:self.y1, self.x0:self.x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)
        return out


def render_warp(image: np.ndarray, points: np.ndarray, seq: np.ndarray) -> Iterator[np.ndarray]:
    """Yield full-resolution frames for the (T, 68, 2) landmark sequence ``seq`` (image px)."""
    r = WarpRenderer(image, points)
    for dst in seq:
        yield r.frame(dst)
