"""The warp renderer's mouth: its motion scaled to the portrait's mouth, and the interior
painted where the mouth opens wider than in the portrait.

The cavity is painted inside the inner lips: a dark tone from the lips' own darker
pixels, upper teeth whose colour comes from the portrait's eye whites (when it has light
ones), shaded by the upper lip when the mouth is barely open, a tongue from the lip
colour, all with soft edges.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...face.groups import (
    EYE_L,
    EYE_R,
    EYES,
    INNER_LIPS,
    INNER_LOWER_LIP,
    INNER_UPPER_LIP,
    LOWER_FACE,
    MOUTH_REF,
    OUTER_LIPS,
)
from ...face.template import MOUTH_RATIO
from .colour import LUMA, luminance
from .roi import Roi


def lip_gap(p: np.ndarray) -> float:
    """Mean vertical gap between the inner lips of the 68 points ``p``."""
    return float(np.mean(p[INNER_LOWER_LIP, 1] - p[INNER_UPPER_LIP, 1]))


TEETH_SHADE = 0.5  # the painted teeth's brightness in a barely open mouth, in the upper lip's shadow ...
TEETH_LIT = 0.15  # ... rising to their full colour at this opening (inter-ocular distances)


class MouthPainter:
    """Colours sampled once from the portrait (``image`` with 68 ``src`` points, ``skin``
    its skin tone); ``paint`` draws the interior of each frame's mouth."""

    def __init__(self, image: np.ndarray, src: np.ndarray, roi: Roi, skin: np.ndarray, face_scale: float):
        self.src, self.roi, self.face_scale = src, roi, face_scale
        lips = src[OUTER_LIPS].astype(np.int32)
        m = np.zeros(image.shape[:2], np.uint8)
        cv2.fillPoly(m, [lips], 1)
        lip_col = image[m > 0].reshape(-1, 3).astype(np.float32)
        if len(lip_col):  # the darker lip pixels: teeth of a smiling portrait must not tint the cavity
            lip_col = lip_col[np.argsort(lip_col.sum(1))][: max(1, len(lip_col) // 3)]
            lip = np.median(lip_col, 0)
        else:
            lip = np.array([150, 80, 80], np.float32)
        self.cavity = np.clip(lip * 0.4 + np.array([14, 3, 4]), 0, 255).astype(np.float32)
        self.tongue = np.clip(lip * 0.55 + np.array([60, 20, 25]) * 0.5, 0, 255).astype(np.float32)
        # teeth: from the portrait's eye whites when it has light, unsaturated ones
        white = np.array([232, 226, 214], np.float32)
        m[:] = 0
        for e in EYES:
            cv2.fillPoly(m, [src[e].astype(np.int32)], 1)
        eye = image[m > 0].reshape(-1, 3).astype(np.float32)
        if len(eye) >= 8:
            lum = eye @ np.array(LUMA, np.float32)
            top = eye[lum >= np.percentile(lum, 80)].mean(0)
            if luminance(top) > 150 and np.ptp(top) < 60:
                white = 0.6 * top + 0.4 * white
        self.teeth = np.clip(0.85 * white + 0.15 * skin, 0, 255).astype(np.float32) * 0.92
        self.src_gap = lip_gap(src)
        iod = np.linalg.norm(src[EYE_L].mean(0) - src[EYE_R].mean(0))
        ratio = np.linalg.norm(src[54] - src[48]) / max(iod, 1e-6) / MOUTH_RATIO
        self.gain = float(np.clip(ratio, 0.5, 1.3)) if abs(ratio - 1) > 0.2 else 1.0

    def scale_motion(self, eff: np.ndarray):
        """Scale the mouth and chin motion of ``eff`` (in place) by the portrait's mouth width
        relative to a human mouth (template.MOUTH_RATIO): AT-net predicts a person's
        articulation, which a cartoon's tiny or huge mouth should follow in proportion.
        Head motion (of the still points) is kept as it is."""
        if self.gain == 1.0:
            return
        base = self.src[MOUTH_REF].mean(0)
        move = eff[MOUTH_REF].mean(0) - base
        eff[LOWER_FACE] = eff[LOWER_FACE] - move
        eff[LOWER_FACE] = self.src[LOWER_FACE] + (eff[LOWER_FACE] - self.src[LOWER_FACE]) * self.gain + move

    def paint(self, roi: np.ndarray, dst: np.ndarray):
        """Paint the mouth interior into the region's pixels ``roi`` for the points ``dst``."""
        opening = lip_gap(dst) - self.src_gap
        if opening <= 0.01 * self.face_scale:
            return
        inner = dst[INNER_LIPS]
        k = max(3, int(self.face_scale * 0.04) | 1)
        bx0, by0, bx1, by1 = self.roi.box(inner, k + 2, k + 2, k + 2)
        if bx1 <= bx0 or by1 <= by0:
            return
        bw, bh = bx1 - bx0, by1 - by0
        org = np.array([self.roi.x0 + bx0, self.roi.y0 + by0])
        pi = inner - org
        m: np.ndarray = np.zeros((bh, bw), np.float32)
        cv2.fillPoly(m, [np.round(pi * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
        m = cv2.GaussianBlur(m, (k, k), 0)
        strength = 0.92 * float(np.clip(opening / (0.08 * self.face_scale), 0, 1))
        width = float(np.ptp(pi[:, 0]))
        top = pi[1:4].mean(0)
        bot = pi[5:8].mean(0)
        # upper teeth under the upper inner lip, tongue resting on the lower one
        t: np.ndarray = np.zeros((bh, bw), np.float32)
        cv2.ellipse(t, (int(round(top[0])), int(round(top[1]))),
                    (max(1, int(width * 0.40)), max(1, int(opening * 0.38) + 1)), 0, 0, 180, 1.0, -1, cv2.LINE_AA)
        t = cv2.GaussianBlur(t, (k, k), 0)
        g = np.zeros((bh, bw), np.float32)
        cv2.ellipse(g, (int(round(bot[0])), int(round(bot[1]))),
                    (max(1, int(width * 0.32)), max(1, int(opening * 0.35) + 1)), 0, 180, 360, 1.0, -1,
                    cv2.LINE_AA)
        g = cv2.GaussianBlur(g, (k | 1, k | 1), 0) * (1 - t) * 0.8
        # the cavity is darkest at the back: a vertical falloff towards the middle
        yy = (np.arange(bh, dtype=np.float32)[:, None] - top[1]) / max(1.0, bot[1] - top[1])
        shade = (0.75 + 0.25 * np.abs(np.clip(yy, 0, 1) - 0.5) * 2)[..., None]
        fill = self.cavity * shade
        shadow = TEETH_SHADE + (1 - TEETH_SHADE) * float(np.clip(opening / (TEETH_LIT * self.face_scale), 0, 1))
        fill = fill * (1 - t[..., None]) + self.teeth * shadow * t[..., None]
        fill = fill * (1 - g[..., None]) + self.tongue * g[..., None]
        if self.src_gap > 0.04 * self.face_scale:
            # the portrait's mouth is already open (a smile showing teeth): the warp stretches
            # its own teeth, and only the gap a wider jaw opens between the rows is painted
            band = np.zeros((bh, bw), np.float32)
            mid = (top + bot) / 2
            cv2.ellipse(band, (int(round(mid[0])), int(round(mid[1]))),
                        (max(1, int(width * 0.36)), max(1, int(opening * 0.5))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
            m = m * cv2.GaussianBlur(band, (k, k), 0)
            fill = self.cavity * shade
        a = (m * strength)[..., None]
        sub = roi[by0:by1, bx0:bx1].astype(np.float32)
        roi[by0:by1, bx0:bx1] = np.clip(sub + (fill - sub) * a + 0.5, 0, 255).astype(np.uint8)
