"""The warp renderer's eyelids: blinks painted, not squashed.

When the landmark sequence closes an eye (``motion.add_blinks``), the eye itself is not
warped shut; an eyelid slides down over it with a soft edge and a lash line in the
portrait's own darkest lid colour. The lid's texture is the skin band between the upper
lid and the brow, mirrored down over the eye, where that band is plain skin; a flat lid
colour otherwise.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...face.groups import BROWS, EYES
from .colour import LUMA, luminance, sample
from .roi import Roi


def lid_curve(p4: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """y on the parabola through four lid points (corner, two lid points, corner)."""
    a = np.polyfit(p4[:, 0], p4[:, 1], 2)
    return np.polyval(a, xs)


class EyelidPainter:
    """Per eye of the portrait (``image`` with 68 ``src`` points, ``skin`` its skin tone),
    what its lid looks like; ``lids[i]`` is None for an eye that does not blink."""

    def __init__(self, image: np.ndarray, src: np.ndarray, roi: Roi, skin: np.ndarray):
        self.image, self.src, self.roi, self.skin = image, src, roi, skin
        self.lids = [self._measure(eye, brow) for eye, brow in zip(EYES, BROWS)]
        if any(lid is None for lid in self.lids):  # both eyes or neither: never a wink
            self.lids = [None, None]

    def _measure(self, eye: list, brow: list) -> dict | None:
        """The eye's open height, the eyelid's texture source (the skin band between the
        upper lid and the brow), a flat lid colour (median of a ring around the upper half
        of the eye) where that band is not skin, and the lash colour (darkest pixels along
        the upper lid); None for an eye that is closed, degenerate, outside the image, or
        that a painted lid would not cover."""
        img = self.image
        p = self.src[eye]
        ew = float(np.linalg.norm(p[3] - p[0]))
        eh = float(np.mean([p[5, 1] - p[1, 1], p[4, 1] - p[2, 1]]))
        h, w = img.shape[:2]
        if ew < 4 or eh < 0.12 * ew or p.min() < 0 or p[:, 0].max() > w - 1 or p[:, 1].max() > h - 1:
            # already closed, degenerate, or (part of) the eye outside the image: leave it alone
            return None
        margin = 0.1 * ew + 1.0
        x0, y0 = p.min(0) - (0.6 * ew, 0.6 * ew)
        x1, y1 = p.max(0) + (0.6 * ew, 0.6 * ew)
        x0, y0 = int(max(0, x0)), int(max(0, y0))
        x1, y1 = int(min(img.shape[1], x1)), int(min(img.shape[0], y1))
        q = (p - (x0, y0)).astype(np.float32)
        hull = cv2.convexHull(np.round(q).astype(np.int32))
        inner = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(inner, hull, 1)
        r1, r2 = max(3, int(0.2 * ew)) | 1, max(5, int(0.5 * ew)) | 1
        ring = cv2.dilate(inner, np.ones((r2, r2), np.uint8)) - cv2.dilate(inner, np.ones((r1, r1), np.uint8))
        ring[int(q[:, 1].mean()):] = 0  # upper half: the lid, not the cheek
        pix = img[y0:y1, x0:x1][ring > 0].reshape(-1, 3)
        lid = np.median(pix, 0).astype(np.float32) if len(pix) else self.skin
        pin = img[y0:y1, x0:x1][inner > 0].reshape(-1, 3)
        if len(pin) and float(np.linalg.norm(np.median(pin, 0) - lid)) < 40:
            # the ring is not skin: the points sit inside a bigger drawn eye (or on
            # glasses); a painted lid would not cover it, so this eye does not blink
            return None
        xs = p[0, 0] + (p[3, 0] - p[0, 0]) * np.linspace(0.2, 0.8, 7)
        up = lid_curve(p[[0, 1, 2, 3]], xs)
        # a dark ring (outlines of a drawing, shadowed sockets, makeup) would paint a
        # black eye: then the skin under the eye gives the lid its colour
        cheek = np.median([sample(img, (x, yl + 0.3 * ew), 1)
                           for x, yl in zip(xs, lid_curve(p[[3, 4, 5, 0]], xs))], 0).astype(np.float32)
        if luminance(lid) < 0.7 * luminance(cheek):
            lid = cheek
        if luminance(lid) < 0.55 * luminance(self.skin):  # dark all round the eye: the face's skin tone
            lid = (0.8 * self.skin + 0.2 * lid).astype(np.float32)
        b = self.src[brow][np.argsort(self.src[brow, 0])]
        brow_y = np.interp(xs, b[:, 0], b[:, 1])
        avail = min(eh + 2 * margin, 0.8 * float(np.min(up - margin - brow_y)))
        mirror = False
        for _ in range(4):  # the band must be plain lid skin: no brow, hair or liner in it
            if avail < max(3.0, 0.4 * eh):
                break
            if self._band_ok(xs, up - margin, avail, lid):
                mirror = True
                break
            avail *= 0.7
        line = np.array([sample(img, (x, y), 1) for x, y in zip(xs, up)])
        lash = line[np.argmin(line @ LUMA)].astype(np.float32)
        if luminance(lash) > luminance(lid) - 40:
            lash = lid * 0.35
        return {"eye": eye, "ew": ew, "eh": eh, "lid": lid, "lash": lash, "avail": float(avail) if mirror else 0.0}

    def _band_ok(self, xs, top, avail, lid) -> bool:
        h, w = self.image.shape[:2]
        ys = top[:, None] - 0.3 * avail - np.linspace(0, 0.7 * avail, 6)[None, :]
        xi = np.clip(np.round(np.broadcast_to(xs[:, None], ys.shape)).astype(int), 0, w - 1)
        yi = np.clip(np.round(ys).astype(int), 0, h - 1)
        px = self.image[yi, xi].reshape(-1, 3).astype(np.float32)
        med = np.median(px, 0)
        lum = px @ np.array(LUMA, np.float32)
        near = min(float(np.linalg.norm(med - lid)), float(np.linalg.norm(med - self.skin))) < 60
        dark = float(np.percentile(lum, 8))  # a few lash or crease pixels are fine; a brow is not
        return near and dark > 0.4 * luminance(med)

    def hold_open(self, eff: np.ndarray) -> list[float]:
        """Each eye's closure 0..1 in the points ``eff``; then (in place) the eyes in ``eff``
        reset to the portrait's open ones, moved with their corners: the lid is painted."""
        closures = []
        for e, info in zip(EYES, self.lids):
            closures.append(0.0 if info is None else self._closure(eff, info))
            shift = eff[[e[0], e[3]]].mean(0) - self.src[[e[0], e[3]]].mean(0)
            eff[e] = self.src[e] + shift
        return closures

    @staticmethod
    def _closure(dst, info) -> float:
        e = info["eye"]
        gap = float(np.mean([dst[e[5], 1] - dst[e[1], 1], dst[e[4], 1] - dst[e[2], 1]]))
        return float(np.clip(1 - gap / info["eh"], 0, 1))

    def paint(self, roi: np.ndarray, dst: np.ndarray, info: dict, c: float):
        """Paint the lid of eye ``info`` closed by ``c`` into the region's pixels ``roi``."""
        e = info["eye"]
        p = dst[e]
        ew, eh = info["ew"], info["eh"]
        margin = 0.1 * ew + 1.0
        bx0, by0, bx1, by1 = self.roi.box(p, 0.15 * ew + 2, margin + 0.3 * eh + 3, 0.1 * ew + 3)
        if bx1 <= bx0 or by1 <= by0:
            return
        bw, bh = bx1 - bx0, by1 - by0
        org = np.array([self.roi.x0 + bx0, self.roi.y0 + by0])
        q = p - org
        xs = np.linspace(q[0, 0] - 0.06 * ew, q[3, 0] + 0.06 * ew, 24)
        up = lid_curve(q[[0, 1, 2, 3]], xs)
        low = lid_curve(q[[3, 4, 5, 0]], xs)
        u = (xs - xs.mean()) / max(1e-6, (xs[-1] - xs[0]) / 2)
        # the lid reaches a little past the upper lash line (more at the corners, where a
        # parabola runs inside round, outlined cartoon eyes) and, closed, past the lower one
        top = up - margin - 0.25 * eh * u * u
        edge = up + c * (np.maximum(low - up, 0) + 0.03 * ew)
        poly = np.concatenate([np.stack([xs, top], 1), np.stack([xs[::-1], edge[::-1]], 1)])
        m: np.ndarray = np.zeros((bh, bw), np.float32)
        cv2.fillPoly(m, [np.round(poly * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
        k = max(3, int(0.08 * ew) | 1)
        m = cv2.GaussianBlur(m, (k, k), 0)
        cols = np.arange(bw, dtype=np.float32)
        top_c = np.interp(cols, xs, up - margin)[None, :]
        yy = np.arange(bh, dtype=np.float32)[:, None] - top_c  # depth below the lid's top line
        sub = roi[by0:by1, bx0:bx1]
        avail = info["avail"]
        if avail > 0:
            # the skin band above the eye, mirrored down (folded to stay inside the band)
            # rows from the band's upper part: clear of the lash line and liner
            lo, span = 0.3 * avail, 0.7 * avail
            t = np.mod(np.maximum(yy, 0), 2 * span)
            t = np.where(t > span, 2 * span - t, t)
            mx = np.broadcast_to(cols[None, :] + bx0, yy.shape).astype(np.float32)
            my = (top_c + by0 - lo - t).astype(np.float32)
            lid = cv2.remap(roi, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
            lid = 0.6 * lid + 0.4 * info["lid"]  # texture, with mirrored creases toned down
        else:
            lid = np.broadcast_to(info["lid"], (bh, bw, 3)).astype(np.float32)
        depth = np.clip(yy / max(1.0, float(np.max(edge - up)) + margin), 0, 1)
        lid = lid * (1 - 0.08 * depth[..., None])
        lash = np.zeros((bh, bw), np.float32)
        th = max(1, int(round(0.06 * ew)))
        cv2.polylines(lash, [np.round(np.stack([xs[2:-2], edge[2:-2]], 1) * 4).astype(np.int32)], False, 1.0,
                      th, cv2.LINE_AA, shift=2)
        lash = cv2.GaussianBlur(lash, (3, 3), 0) * min(1.0, c * 2.5)
        subf = sub.astype(np.float32)
        out = subf + (lid - subf) * m[..., None]
        out = out + (info["lash"] - out) * lash[..., None]
        roi[by0:by1, bx0:bx1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
