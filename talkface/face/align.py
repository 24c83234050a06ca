"""Similarity alignment of a face to the template (docs/paper_facts.md#alignment), its inverse, and the
feathered paste-back of a generated crop into the whole portrait."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .groups import ALIGN_POINTS, CENTRAL, JAW
from .template import TEMPLATE_128


def template(size: int = 128, zoom: float = 1.0) -> np.ndarray:
    """The 68-point template in a ``size`` px crop; ``zoom`` < 1 shows more around the face."""
    c = 64.0
    return ((TEMPLATE_128 - c) * zoom + c) * (size / 128.0)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping src points onto dst: a 2x3 matrix."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    cov = d0.T @ s0 / len(src)
    u, d, vt = np.linalg.svd(cov)
    sgn = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sgn[1, 1] = -1
    r = u @ sgn @ vt
    scale = np.trace(np.diag(d) @ sgn) / max(s0.var(0).sum(), 1e-12)
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - scale * r @ ms
    return m


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m)


@dataclass
class Alignment:
    """Image -> crop transform of one face."""

    matrix: np.ndarray  # 2x3, image pixels -> crop pixels
    size: int

    @property
    def inverse(self) -> np.ndarray:
        return invert(self.matrix)

    @property
    def scale(self) -> float:
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def to_crop(self, pts):
        return apply(self.matrix, pts)

    def to_image(self, pts):
        return apply(self.inverse, pts)

    def warp(self, image: np.ndarray) -> np.ndarray:
        """The aligned ``size`` x ``size`` crop of ``image`` (area-filtered when shrinking)."""
        m = self.matrix.copy()
        img = image
        s = self.scale
        while s < 0.5 and min(img.shape[:2]) > 32:  # pre-shrink to avoid aliasing
            img = cv2.pyrDown(img)
            m[:, :2] *= 2.0
            s *= 2.0
        return cv2.warpAffine(img, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align(points: np.ndarray, size: int = 128, zoom: float = 1.0) -> Alignment:
    """Alignment from a face's 68 image landmarks to the template (points 27..44)."""
    t = template(size, zoom)
    return Alignment(similarity(np.asarray(points)[ALIGN_POINTS], t[ALIGN_POINTS]), size)


def face_mask(points_crop: np.ndarray, size: int, feather: float = 0.06) -> np.ndarray:
    """Soft (size, size) float32 mask over the lower face (jaw, cheeks, nose, mouth)."""
    pts = np.asarray(points_crop, np.float64)
    # lower face region: jaw line 1..15 and the nose bridge, pushed a little outward
    region = np.concatenate([pts[JAW[1:-1]], pts[[29]]])
    c = pts[CENTRAL].mean(0)
    region = c + (region - c) * 1.08
    m = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(m, cv2.convexHull(region.astype(np.int32)), 1.0)
    k = max(3, int(size * feather) | 1)
    m = cv2.GaussianBlur(cv2.erode(m, np.ones((k // 2 + 1, k // 2 + 1), np.uint8)), (2 * k + 1, 2 * k + 1), 0)
    # fade out towards the crop border so the crop edge never shows
    edge = np.minimum.outer(np.minimum(np.arange(size), np.arange(size)[::-1]),
                            np.minimum(np.arange(size), np.arange(size)[::-1])).astype(np.float32)
    return m * np.clip(edge / (size * 0.08), 0, 1)


class Paster:
    """Pastes generated crops back into the portrait with a feathered mask.

    The inverse warp and the mask are computed once for the region of interest, so
    each frame costs one small warpAffine and a blend. With ``color_match`` (generate uses it)
    the crop's colour is matched to the portrait's: per channel, the mean and spread of
    the crop in a ring just inside the mask's feathered edge are mapped onto the
    portrait's in the same ring (gain clipped to 0.7..1.4, smoothed over frames), so a
    crop rendered a little too warm, dark or flat leaves no halo where it fades out.
    """

    def __init__(self, portrait: np.ndarray, alignment: Alignment, mask: np.ndarray, color_match: bool = False):
        self.portrait = portrait
        h, w = portrait.shape[:2]
        s = alignment.size
        corners = alignment.to_image(np.array([[0, 0], [s, 0], [0, s], [s, s]], np.float64))
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int)
        self.x0, self.y0 = max(0, x0), max(0, y0)
        self.x1, self.y1 = min(w, x1), min(h, y1)
        inv = alignment.inverse.copy()
        inv[:, 2] -= (self.x0, self.y0)
        self.inv = inv
        self.roi = (self.x1 - self.x0, self.y1 - self.y0)
        mw = cv2.warpAffine(mask, inv, self.roi, flags=cv2.INTER_LINEAR, borderValue=0)
        self.mask = mw[:, :, None].astype(np.float32)
        self.bg = portrait[self.y0:self.y1, self.x0:self.x1].astype(np.float32)
        self.ring = None
        self._gain: tuple[np.ndarray, np.ndarray] | None = None
        if color_match:
            m = self.mask[:, :, 0]
            idx = np.flatnonzero((m > 0.2) & (m < 0.9))
            if len(idx) >= 30:
                idx = idx[:: max(1, len(idx) // 3000)]
                self.ring = idx
                ref = self.bg.reshape(-1, 3)[idx]
                self.ref_mean, self.ref_std = ref.mean(0), ref.std(0) + 1.0

    def _match(self, warped: np.ndarray) -> np.ndarray:
        """``warped`` (ROI float32) with its ring colour statistics moved onto the portrait's."""
        px = warped.reshape(-1, 3)[self.ring]
        gain = np.clip(self.ref_std / (px.std(0) + 1.0), 0.7, 1.4)
        off = self.ref_mean - px.mean(0) * gain
        if self._gain is not None:  # smooth over frames: no flicker
            gain = 0.7 * self._gain[0] + 0.3 * gain
            off = 0.7 * self._gain[1] + 0.3 * off
        self._gain = (gain, off)
        return warped * gain + off

    def paste(self, crop: np.ndarray, alpha: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Return the portrait with ``crop`` (size x size RGB uint8) blended in through the
        feathered mask, times the per-pixel ``alpha`` (size x size, 0..1) when given."""
        frame = self.portrait.copy() if out is None else out
        if self.roi[0] <= 0 or self.roi[1] <= 0:
            return frame
        warped = cv2.warpAffine(crop, self.inv, self.roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = self.mask
        if alpha is not None:
            a = cv2.warpAffine(np.ascontiguousarray(alpha, np.float32), self.inv, self.roi, flags=cv2.INTER_LINEAR,
                               borderValue=0)
            mask = mask * a[:, :, None]
        warped = warped.astype(np.float32)
        if self.ring is not None:
            warped = self._match(warped)
        blend = self.bg + (warped - self.bg) * mask
        frame[self.y0:self.y1, self.x0:self.x1] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)
        return frame
