"""The warp renderer's closing lips: a portrait whose mouth is open (a photo taken
mid-sentence, teeth showing) is shown with its lips closed where the landmarks close them.

The motion field is smooth (a spline on a grid of about 6 px), so it cannot squeeze the
portrait's teeth or cavity strip to nothing: the mouth would never look closed. Here, in a
small box around the lips, each output column is mapped piecewise: from above the upper
lip down to its inner edge the rows come from the portrait's own upper lip, from the lower
lip's inner edge down from its own lower lip, and the gap left between them shows the
portrait's open mouth from both sides (the teeth stay with their lip), the lips covering
its middle. The gap grows in proportion to the landmarks' from ``SHUT`` up to the
portrait's own, where it is the portrait's whole strip: a half-open mouth looks half
open. Closed (a gap under ``SHUT``), the interior is not sampled at all: the two lips
meet, and a thin soft line in a dark lip tone is drawn where they touch.

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
STRIP = 0.05  # the open mouth's strip in the pixels (its rows of teeth, tongue or cavity; inter-ocular distances)
DARK = 0.55  # a pixel this much darker than the lips (the fraction of their brightness) is the mouth's cavity
PALE = 0.75  # a pixel this much less red than the lips (for its brightness) is teeth or tongue

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


def _rounded(curves: np.ndarray) -> np.ndarray:
    """Lip lines (m, n) over consecutive columns with the polylines' corners rounded off
    (a box filter over a tenth of the mouth's width, twice)."""
    n = curves.shape[-1]
    k = max(3, int(0.1 * n) | 1)
    if n <= k:
        return curves
    out = np.asarray(curves, np.float64)
    for _ in range(2):
        out = cv2.blur(out, (k, 1), borderType=cv2.BORDER_REPLICATE)
    return out


def _redness(c: np.ndarray) -> np.ndarray:
    """How red RGB colours are for their brightness: (R - (G + B) / 2) / luminance."""
    c = np.asarray(c, np.float32)
    return (c[..., 0] - (c[..., 1] + c[..., 2]) / 2) / np.maximum(c @ np.array(LUMA, np.float32), 20)


def _smoothstep(u):
    v = np.clip(u, 0, 1)
    return v * v * (3 - 2 * v)


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
        self.cavity = np.clip(lip * 0.4 + np.array([14, 3, 4]), 0, 255).astype(np.float32)  # as the mouth's
        found = _interior(self.image, self.src, self.fs, float(np.median(_redness(px))), luminance(lip))
        if found is None:
            self.active = False
            return
        self.cols, self.lines, self.lm_inner = found

    def strength(self, dst: np.ndarray) -> float:
        """-1..1: how far the piecewise map replaces the motion field's for points ``dst``:
        positive where the frame's inner lips are closer than the portrait's, negative where
        they are further apart, 0 where they are as far apart (or the mouth is closed)."""
        if not self.active:
            return 0.0
        change = self.src_gap - lip_gap(dst)
        return float(np.clip(change / (RAMP * self.fs), -1, 1))

    def opens(self, dst: np.ndarray) -> bool:
        """Whether ``close`` paints the gap of a mouth opening wider than the portrait's
        (then the mouth painter does not)."""
        return self.strength(dst) < 0

    def close(self, roi: np.ndarray, b: np.ndarray, dst: np.ndarray, upsample):
        """Redraw the lips into the region's pixels ``roi`` (in place) for the points ``dst``;
        ``b`` is the frame's coarse backward map and ``upsample(b, bx0, by0, bx1, by1)`` the
        resampler's own upsampling of it to a box of region pixels."""
        st = self.strength(dst)
        if st == 0:
            return
        s, opening = abs(st), st < 0
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
        ou, ud, ld, ol = _rounded(_curves(dst, xs))
        mid = (ud + ld) / 2
        # the portrait's open mouth at this column: its strip's edges in the pixels, how far
        # past the landmarks' inner lips they reach, and its half height
        s_up = np.interp(xs, self.cols, self.lines[1])
        s_low = np.interp(xs, self.cols, self.lines[2])
        lm_up = np.interp(xs, self.cols, self.lm_inner[0])  # the portrait's landmark inner lips
        lm_low = np.interp(xs, self.cols, self.lm_inner[1])
        past_up = np.maximum(lm_up - s_up, 0)
        past_low = np.maximum(s_low - lm_low, 0)
        half_strip = np.maximum(s_low - s_up, 0) / 2
        if opening:
            # wider than the portrait: the strip's edges as far past the inner lips as in it
            ud, ld = ud - past_up, ld + past_low
        else:
            # closer: the strip's edges meet up to a closed mouth's gap (``SHUT``; the lips
            # never cross), then part in proportion to the landmarks' gap: at the
            # portrait's gap, the portrait's whole strip (the open part grows linearly
            # with the landmarks' gap, so a half-open mouth looks half open)
            g = max(lip_gap(dst), 0.0)
            k = float(np.clip((g - SHUT * fs) / max(self.src_gap - SHUT * fs, 1e-6), 0, 1))
            src_half = np.maximum(lm_low - lm_up, 0) / 2
            ud, ld = mid - k * (src_half + past_up), mid + k * (src_half + past_low)
        ud, ld = np.maximum(ud, ou), np.minimum(ld, ol)
        # the gap shows the open mouth from both lips' sides at its own size (the teeth stay
        # with their lip): its middle covered by the lips when the gap is smaller, the
        # cavity painted between the halves when it is larger
        m1 = np.minimum(ud + half_strip, (ud + ld) / 2)
        m2 = np.maximum(ld - half_strip, (ud + ld) / 2)
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
        k_out = np.stack([ya, ou, ud, m1, m2, ld, ol, yb]).astype(np.float32)[:, None, :]
        q = np.clip(sx - np.float32(self.cols[0]), 0, len(self.cols) - 1)
        i0 = np.minimum(q.astype(np.int32), len(self.cols) - 2)
        u = q - i0
        # portrait rows at the 8 knots: above, the upper lip's outer and inner lines, the
        # ends of the part of the gap from above and of the part from below, the lower lip's
        # inner and outer lines, below (the middle segment between the two parts, painted
        # over, stays on one row)
        kn = np.empty((8, bh, bw), np.float32)
        kn[0] = at_row(ya)[None, :]
        kn[7] = at_row(yb)[None, :]
        l0 = self.lines[:, i0]
        kn[[1, 2, 5, 6]] = l0 + u * (self.lines[:, i0 + 1] - l0)
        for j in (1, 2, 5, 6, 7):  # never back up: a lip line the motion field passed stays put
            np.maximum(kn[j], kn[j - 1 if j != 5 else 2], out=kn[j])
        strip = kn[5] - kn[2]
        hs_up = np.minimum((m1 - ud)[None, :], strip)
        kn[3] = kn[2] + hs_up
        kn[4] = kn[5] - np.minimum((ld - m2)[None, :], strip - hs_up)
        seg = (y >= k_out[1]).astype(np.intp)
        for j in (2, 3, 4, 5, 6):
            seg += y >= k_out[j]
        c = np.broadcast_to(np.arange(bw), (bh, bw))
        k2 = k_out[:, 0, :]
        lo, hi = k2[seg, c], k2[seg + 1, c]
        rr = np.broadcast_to(np.arange(bh)[:, None], (bh, bw))
        s_lo = kn[seg, rr, c]
        s_hi = np.where(seg == 3, s_lo, kn[seg + 1, rr, c])
        new = s_lo + (y - lo) / np.maximum(hi - lo, 1e-6) * (s_hi - s_lo)
        wgt = s * taper[None, :] * ((y >= ya[None, :]) & (y <= yb[None, :]))
        sel = wgt > 0
        if not sel.any():
            return
        my = (sy + (new - sy) * wgt).astype(np.float32)
        patch = cv2.remap(self.image, sx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if not opening and float(np.max(ld - ud)) > 1:
            # the two parts of a narrowed gap meet softly: each continued a little past the
            # seam, the two cross-faded (no step where teeth meet tongue)
            w = max(1.5, 0.02 * fs)
            near = (seg == 2) | (seg == 4)
            below = seg == 4
            other = np.where(below, np.minimum(kn[2] + (y - ud[None, :]), kn[5]),
                             np.maximum(kn[5] - (ld[None, :] - y), kn[2]))
            my2 = (sy + (np.where(near, other, new) - sy) * wgt).astype(np.float32)
            patch2 = cv2.remap(self.image, sx, my2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            t = (y - m1[None, :]) / w  # signed distance from the seam, in blend widths
            mix = 0.5 * (1 - _smoothstep(np.abs(t))) * near
            patch = patch + (patch2.astype(np.float32) - patch) * mix[..., None]
        sub = roi[by0:by1, bx0:bx1]
        out = sub.astype(np.float32)
        np.copyto(out, patch, where=sel[..., None])
        if opening:
            # the cavity between the two halves: dark, darkest in its middle, soft-edged
            e = max(1.0, 0.015 * fs)
            top, bot = m1[None, :], m2[None, :]
            a = _smoothstep((y - top) / e + 0.5) * _smoothstep((bot - y) / e + 0.5)
            depth = np.abs(np.clip((y - top) / np.maximum(bot - top, 1.0), 0, 1) - 0.5) * 2
            fill = self.cavity * (0.8 + 0.2 * depth)[..., None]
            a = (a * s * taper[None, :])[..., None]
            out += (fill - out) * a
        else:
            # the contact line where the lips touch: soft, in a dark lip tone, fading as
            # they part (full between the inner corners, fading out towards the outer ones)
            x60, x64 = min(dst[60, 0], dst[64, 0]), max(dst[60, 0], dst[64, 0])
            ends = np.minimum((xs - x0d) / max(x60 - x0d, 1.0), (x1d - xs) / max(x1d - x64, 1.0))
            a = s * _smoothstep(ends) * np.clip(1 - (ld - ud) / (0.03 * fs), 0, 1)
            sigma = max(0.6, 0.01 * fs)
            d = (y - (ud + ld)[None, :] / 2) / sigma
            line = 0.7 * a[None, :] * np.exp(-0.5 * d * d)
            out += (self.line - out) * line[..., None]
        sub[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _interior(image: np.ndarray, src: np.ndarray, fs: float, lip_red: float,
              lip_lum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Where the portrait's lips are, per image column between its corners: the
    columns (n,) and the outer upper, inner upper, inner lower and outer lower lip lines
    there (4, n), the inner ones being the edges of the open mouth's strip. The
    landmarks' inner lips often sit inside the teeth; each column's strip is the run of
    interior pixels (teeth and tongue: much less red for their brightness than the lips;
    cavity: dark) reaching the middle of the landmarks' gap, up and down to where the
    lips begin but keeping at least 30 % of each lip. None where most columns of the
    mouth's middle show no such strip or it is thinner than an open mouth's."""
    img, p = image, src
    h, w = img.shape[:2]
    cols = np.arange(int(np.ceil(p[48, 0])), int(np.floor(p[54, 0])) + 1)
    cols = cols[(cols >= 0) & (cols < w)]
    ou, ui, li, ol = _rounded(_curves(p, cols.astype(np.float64)))
    if len(cols) < 5:
        return None
    lo_y = int(max(0, np.floor(ou.min())))
    hi_y = int(min(h, np.ceil(ol.max()) + 1))
    f = img[lo_y:hi_y, cols].astype(np.float32)  # (rows, columns, 3)
    lum = f @ np.array(LUMA, np.float32)
    interior = lum < DARK * lip_lum
    if lip_red > 0.12:
        interior |= _redness(f) < PALE * lip_red
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
    height = np.zeros(len(cols))  # the strip's rows, per column
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
            height[j] = ends[hit].max() - starts[hit].min() + 1
            found[j] = True
    n = len(cols)
    middle = slice(n // 5, n - n // 5)
    if found[middle].mean() < 0.5 or np.median(height[middle][found[middle]]) < STRIP * fs:
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
    # and the landmarks' own inner lines, rounded
    return (cols.astype(np.float64), np.stack([ou, up, np.maximum(low, up), ol]).astype(np.float32),
            np.stack([ui, li]))
