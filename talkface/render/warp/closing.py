"""The warp renderer's closing lips: a portrait whose mouth is open (a photo taken
mid-sentence, teeth showing) is shown with its lips closed where the landmarks close them.

The motion field is smooth (a spline on a grid of about 6 px), so it cannot squeeze the
portrait's teeth or cavity strip to nothing: the mouth would never look closed. Here, in a
small box around the lips, each output column is mapped piecewise: from above the upper
lip down to its inner edge the rows come from the portrait's own upper lip, from the lower
lip's inner edge down from its own lower lip, and the gap left between them shows the
portrait's open mouth from both sides (the teeth stay with their lip), the lips covering
its middle. Closed (a gap under ``SHUT``), the interior is not sampled at all: the two
lips meet, and a thin soft line in a dark lip tone is drawn where they touch.

The open mouth's strip is found in the portrait's pixels, not only from its landmarks
(dlib's inner lip points often sit inside the teeth): per column, the run of teeth, tongue
or cavity pixels between the lips. The map equals the motion field's at the box's edges
and near the corners, and blends in over the first ``RAMP`` of closing, so there is no
seam and no jump. Portraits whose mouth is closed (inner-lip gap under ``OPEN``
inter-ocular distances, or no interior between the lips in the pixels: Face Mesh's
points read a drawn closed mouth as open) are rendered exactly as before, and so is every
frame whose mouth is no more closed than the portrait's.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...face.groups import INNER_LIPS, OUTER_LIPS
from .colour import LUMA, luminance
from .mouth import lip_gap
from .roi import Roi

OPEN = 0.05  # a portrait's inner-lip gap (inter-ocular distances) from which its mouth counts as open
SHUT = 0.02  # an inner-lip gap (inter-ocular distances) up to which the lips are drawn touching
RAMP = 0.02  # closing over this much of a gap (inter-ocular distances) fades the piecewise map in

# polylines through the 68 points, each ending at the mouth corners 48 and 54
OUTER_UPPER = [48, 49, 50, 51, 52, 53, 54]
OUTER_LOWER = [48, 59, 58, 57, 56, 55, 54]
INNER_UPPER = [48, 60, 61, 62, 63, 64, 54]
INNER_LOWER = [48, 60, 67, 66, 65, 64, 54]
CURVES = (OUTER_UPPER, INNER_UPPER, INNER_LOWER, OUTER_LOWER)


def _curves(p: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(4, *xs.shape) y of the outer upper, inner upper, inner lower and outer lower lip
    lines of the points ``p`` at the x positions ``xs``."""
    out = []
    for idx in CURVES:
        q = p[idx]
        o = np.argsort(q[:, 0], kind="stable")
        out.append(np.interp(xs, q[o, 0], q[o, 1]))
    return np.stack(out)


def _redness(c: np.ndarray) -> np.ndarray:
    """How red RGB colours are for their brightness: (R - (G + B) / 2) / luminance."""
    c = np.asarray(c, np.float32)
    return (c[..., 0] - (c[..., 1] + c[..., 2]) / 2) / np.maximum(c @ np.array(LUMA, np.float32), 20)


def _smoothstep(u):
    v = np.clip(u, 0, 1)
    return v * v * (3 - 2 * v)


def _interior(img: np.ndarray, p: np.ndarray, fs: float, lip_red: float,
              lip_lum: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the portrait's lips are, per image column between its corners: the
    columns (n,) and the outer upper, inner upper, inner lower and outer lower lip lines
    there (4, n), the inner ones being the edges of the open mouth's strip. The
    landmarks' inner lips often sit inside the teeth; each column's strip is the run of
    interior pixels (teeth and tongue: much less red for their brightness than the lips;
    cavity: dark) reaching the middle of the landmarks' gap, up and down to where the
    lips begin but keeping at least 30 % of each lip. None where most columns of the
    mouth's middle show no such strip or it is thinner than an open mouth's. (``img``, ``p``:
    the portrait and its 68 points; ``fs``: its inter-ocular distance.)"""
    h, w = img.shape[:2]
    cols = np.arange(int(np.ceil(p[48, 0])), int(np.floor(p[54, 0])) + 1)
    cols = cols[(cols >= 0) & (cols < w)]
    ou, ui, li, ol = _curves(p, cols.astype(np.float64))
    if len(cols) < 5:
        return None
    lo_y = int(max(0, np.floor(ou.min())))
    hi_y = int(min(h, np.ceil(ol.max()) + 1))
    f = img[lo_y:hi_y, cols].astype(np.float32)  # (rows, columns, 3)
    lum = f @ np.array(LUMA, np.float32)
    interior = lum < 0.55 * lip_lum
    if lip_red > 0.12:
        interior |= _redness(f) < 0.75 * lip_red
    else:  # colourless lips (a grey picture): teeth are the light pixels
        interior |= lum > lip_lum + 50
    ys = np.arange(lo_y, hi_y, dtype=np.float64)[:, None]
    top_lim = ou + 0.3 * (ui - ou)
    bot_lim = ol - 0.3 * (ol - li)
    inside = (ys >= top_lim) & (ys <= bot_lim)
    interior &= inside
    # bridge one-pixel breaks (a dark line between the teeth rows, a reflection)
    interior[1:-1] |= interior[:-2] & interior[2:]
    up, low = ui.copy(), li.copy()
    found = np.zeros(len(cols), bool)
    edge = 0.5 + max(1.0, 0.012 * fs)  # the lip's blurred inner edge goes too: it is part teeth
    for j in range(len(cols)):
        rows = np.flatnonzero(interior[:, j])
        if not len(rows):
            continue
        a, b = ui[j] - lo_y, li[j] - lo_y
        # runs of consecutive interior rows; those reaching the middle half of the
        # landmarks' gap (not skin merely touching a lip's outer edge)
        cuts = np.flatnonzero(np.diff(rows) > 1)
        starts = np.r_[rows[0], rows[cuts + 1]]
        ends = np.r_[rows[cuts], rows[-1]]
        hit = (ends >= a + 0.25 * (b - a)) & (starts <= b - 0.25 * (b - a))
        if hit.any():
            up[j] = starts[hit].min() + lo_y - edge
            low[j] = max(ends[hit].max() + lo_y + edge, up[j])
            found[j] = True
    n = len(cols)
    middle = slice(n // 5, n - n // 5)
    if found[middle].mean() < 0.5 or np.median((low - up)[middle][found[middle]]) - 2 * edge < OPEN * fs:
        return None
    # columns without a strip take their neighbours' offsets from the landmarks' lines
    for e, ref in ((up, ui), (low, li)):
        e[~found] = ref[~found] + np.interp(np.flatnonzero(~found), np.flatnonzero(found), (e - ref)[found])
    # across columns: a robust median of each edge's offset from the landmarks' (a
    # column of lip-coloured tongue or a reflection is not an edge), then smoothed
    k = max(5, int(0.15 * n) | 1)
    ker = np.ones(k) / k
    out = []
    # ... and none at the corners, where the lips meet in the portrait too
    fade = _smoothstep(np.minimum(cols - p[48, 0], p[54, 0] - cols) / (0.1 * max(p[54, 0] - p[48, 0], 1.0)))
    for e, ref in ((up, ui), (low, li)):
        d = np.pad(e - ref, k // 2, mode="edge")
        d = np.median(np.lib.stride_tricks.sliding_window_view(d, k), 1)
        d = np.convolve(np.pad(d, k // 2, mode="edge"), ker, "valid")
        out.append(ref + d * fade)
    up, low = np.maximum(out[0], ou + 0.25 * (ui - ou)), np.minimum(out[1], ol - 0.25 * (ol - li))
    return cols.astype(np.float64), np.stack([ou, up, np.maximum(low, up), ol]).astype(np.float32)


class LipCloser:
    """For one portrait (``image`` with 68 ``src`` points, region ``roi``, ``skin`` its skin
    tone, inter-ocular distance ``face_scale``): ``close`` redraws the lips of a frame whose
    inner-lip gap is smaller than the portrait's. ``active`` is False for a portrait whose
    mouth is closed: by its landmarks, or by its pixels (no teeth or cavity between the
    lips, as when Face Mesh's points read a drawn closed mouth as open)."""

    def __init__(self, image: np.ndarray, src: np.ndarray, roi: Roi, skin: np.ndarray, face_scale: float):
        self.image, self.src, self.roi, self.fs = image, src, roi, float(face_scale)
        self.src_gap = lip_gap(src)
        corners_ok = src[54, 0] - src[48, 0] > 4 and src[[60, 64], 0].min() >= src[48, 0] - 1 \
            and src[[60, 64], 0].max() <= src[54, 0] + 1
        self.active = bool(self.src_gap > OPEN * self.fs and corners_ok)
        if not self.active:
            return
        # the lips' colour: the pixels between the outer and inner lip lines, less those
        # like the skin (points around a drawn mouth may reach past it)
        h, w = image.shape[:2]
        ring = np.zeros((h, w), np.uint8)
        cv2.fillPoly(ring, [np.round(src[OUTER_LIPS]).astype(np.int32)], 1)
        cv2.fillPoly(ring, [np.round(src[INNER_LIPS]).astype(np.int32)], 0)
        px = image[ring > 0].reshape(-1, 3).astype(np.float32)
        not_skin = px[np.linalg.norm(px - skin, axis=1) > 30]
        if len(not_skin) >= max(4, 0.3 * len(px)):
            px = not_skin
        if len(px) < 4:
            px = np.array([[150, 80, 80]], np.float32)
        lip = np.median(px, 0)
        self.line = (lip * 0.45).astype(np.float32)  # the contact line's tone
        found = _interior(image, src, self.fs, float(np.median(_redness(px))), luminance(lip))
        if found is None:
            self.active = False
            return
        self.cols, self.lines = found

    def strength(self, dst: np.ndarray) -> float:
        """0..1: how far the piecewise map replaces the motion field's for points ``dst``
        (0: the frame's inner lips are no closer than the portrait's)."""
        if not self.active:
            return 0.0
        closing = self.src_gap - max(lip_gap(dst), 0.0)
        return float(np.clip(closing / (RAMP * self.fs), 0, 1))

    def close(self, roi: np.ndarray, b: np.ndarray, dst: np.ndarray, upsample):
        """Redraw the lips into the region's pixels ``roi`` (in place) for the points ``dst``;
        ``b`` is the frame's coarse backward map and ``upsample(b, bx0, by0, bx1, by1)`` the
        resampler's own upsampling of it to a box of region pixels."""
        s = self.strength(dst)
        if s <= 0:
            return
        fs, r = self.fs, self.roi
        x0d, x1d = float(dst[48, 0]), float(dst[54, 0])
        width = x1d - x0d
        if width < 4:
            return
        # output columns between the mouth corners
        xa, xb = max(int(np.ceil(x0d)), r.x0), min(int(np.floor(x1d)), r.x1 - 1)
        if xb - xa < 2:
            return
        xs = np.arange(xa, xb + 1, dtype=np.float64)
        taper = _smoothstep(np.minimum(xs - x0d, x1d - xs) / (0.06 * width))
        ou, ud, ld, ol = _curves(dst, xs)
        # the gap shown between the lips: none up to a closed mouth's (``SHUT``; the lips
        # never cross), then growing in proportion to the portrait's as the landmarks' does
        mid = (ud + ld) / 2
        gap = np.maximum(ld - ud, 0)
        shut = SHUT * fs
        g = max(lip_gap(dst), 1e-6)
        k = float(np.clip((g - shut) / max(self.src_gap - shut, 1e-6), 0, 1))
        half = 0.5 * gap * k * min(self.src_gap / g, 1)
        ud, ld = mid - half, mid + half
        ou, ol = np.minimum(ou, ud), np.maximum(ol, ld)
        # reach past the lips (onto the skin) so the map joins the motion field's smoothly
        ya = ou - 0.6 * np.maximum(ud - ou, 0.05 * fs) - 0.04 * fs
        yb = ol + 0.6 * np.maximum(ol - ld, 0.05 * fs) + 0.04 * fs
        bx0, bx1 = xa - r.x0, xb + 1 - r.x0
        by0 = max(0, int(np.floor(ya.min())) - r.y0)
        by1 = min(r.h, int(np.ceil(yb.max())) + 2 - r.y0)
        if by1 - by0 < 3:
            return
        bh, bw = by1 - by0, bx1 - bx0
        f = upsample(b, bx0, by0, bx1, by1).astype(np.float32)  # (bh, bw, 2), as the resampler has it
        y = (np.arange(by0, by1, dtype=np.float32) + r.y0)[:, None]
        sx = xs.astype(np.float32)[None, :] + f[..., 0]
        sy = y + f[..., 1]
        cols = np.arange(bw)

        def at_row(yy):  # the motion field's portrait row at the output row yy of each column
            t = np.clip(yy - r.y0 - by0, 0, bh - 1)
            i = np.minimum(np.floor(t).astype(int), bh - 2)
            u = t - i
            return sy[i, cols] * (1 - u) + sy[i + 1, cols] * u

        # knots: output rows (per column) -> portrait rows (per pixel: the lip lines at its x)
        k_out = np.stack([ya, ou, ud, mid, ld, ol, yb]).astype(np.float32)[:, None, :]
        q = np.clip(sx - np.float32(self.cols[0]), 0, len(self.cols) - 1)
        i0 = np.minimum(q.astype(np.int32), len(self.cols) - 2)
        u = q - i0
        k_src = np.empty((6, bh, bw), np.float32)  # above, the 4 lip lines, below
        k_src[0] = at_row(ya)[None, :]
        k_src[5] = at_row(yb)[None, :]
        for j in range(4):
            line = self.lines[j]
            k_src[j + 1] = line[i0] + u * (line[i0 + 1] - line[i0])
        for j in range(1, 6):  # never back up: a lip line the motion field passed stays put
            np.maximum(k_src[j], k_src[j - 1], out=k_src[j])
        # the gap shows the portrait's open mouth from both lips' sides (teeth stay with
        # their lip), the lips covering the middle: each side at about its own size when
        # nearly shut, all of it squeezed as the gap nears the portrait's
        strip = (k_src[3] - k_src[2]) / 2
        hs = np.clip(half + k * (strip - half), 0, strip)
        # per output segment (above, upper lip, gap from above, gap from below, lower lip,
        # below): the portrait rows at its ends
        s_from = np.stack([k_src[0], k_src[1], k_src[2], k_src[3] - hs, k_src[3], k_src[4]])
        s_to = np.stack([k_src[1], k_src[2], k_src[2] + hs, k_src[3], k_src[4], k_src[5]])
        seg = (y >= k_out[1]).astype(np.int32)
        for j in (2, 3, 4, 5):
            seg += y >= k_out[j]
        step = bh * bw
        flat = seg * step + np.arange(step, dtype=np.int32).reshape(bh, bw)
        ko = np.broadcast_to(k_out, (7, bh, bw)).reshape(-1)
        lo, hi = ko[flat], ko[flat + step]
        s_lo, s_hi = s_from.reshape(-1)[flat], s_to.reshape(-1)[flat]
        new = s_lo + (y - lo) / np.maximum(hi - lo, 1e-6) * (s_hi - s_lo)
        wgt = s * taper[None, :] * ((y >= ya[None, :]) & (y <= yb[None, :]))
        sel = wgt > 0
        if not sel.any():
            return
        my = (sy + (new - sy) * wgt).astype(np.float32)
        patch = cv2.remap(self.image, sx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        sub = roi[by0:by1, bx0:bx1]
        out = sub.astype(np.float32)
        out[sel] = patch[sel]
        # the contact line where the lips touch: soft, in a dark lip tone, fading as they part
        # (full between the inner corners, fading out towards the outer ones)
        x60, x64 = min(dst[60, 0], dst[64, 0]), max(dst[60, 0], dst[64, 0])
        ends = np.minimum((xs - x0d) / max(x60 - x0d, 1.0), (x1d - xs) / max(x1d - x64, 1.0))
        a = s * _smoothstep(ends) * np.clip(1 - (ld - ud) / (0.03 * fs), 0, 1)
        sigma = max(0.6, 0.01 * fs)
        d = (y - (ud + ld)[None, :] / 2) / sigma
        line = 0.7 * a[None, :] * np.exp(-0.5 * d * d)
        out += (self.line - out) * line[..., None]
        sub[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
