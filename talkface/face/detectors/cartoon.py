"""The cartoon fit: flat-colour faces (cartoons, mascots, emoji): colour regions, eye and
mouth blobs, the 68-point template fitted on them. Always there; tried last."""
from __future__ import annotations

import numpy as np

from .base import Detector, Face


def _cartoon_faces(image: np.ndarray, work: int = 256) -> list[Face]:
    """Flat-colour faces the HOG/CNN detectors miss (cartoons, mascots, emoji).

    Colours are clustered (k-means in Lab); every large connected region of one colour
    is a face candidate, and the regions of other colours it encloses are its features.
    A candidate needs two eye-like features side by side (similar size and height,
    symmetric about the region's centre, not thin strokes like brows) and preferably a
    mouth below them; the 68-point template is then fitted on the eyes, the mouth and
    the region's outline (``template.fit_template``). The score (0..1) says how well
    the eye pair and the mouth fit; it is only tried when every other attempt fails.
    """
    import cv2

    from ..template import fit_template

    h0, w0 = image.shape[:2]
    s = min(1.0, work / max(h0, w0))
    small = cv2.resize(image, (max(8, int(w0 * s)), max(8, int(h0 * s))), interpolation=cv2.INTER_AREA) \
        if s < 1 else image
    small = cv2.medianBlur(np.ascontiguousarray(small), 3)
    h, w = small.shape[:2]
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    k = 8
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 15, 1.0)
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(lab, k, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(h, w)
    best: list[tuple[float, np.ndarray, tuple]] = []
    for lab_id in range(k):
        n, comp, stats, _ = cv2.connectedComponentsWithStats((labels == lab_id).astype(np.uint8), connectivity=8)
        for ci in range(1, n):
            area = stats[ci, cv2.CC_STAT_AREA]
            if not 0.04 * h * w <= area <= 0.7 * h * w:
                continue
            region = (comp == ci).astype(np.uint8)
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            filled = np.zeros_like(region)
            cv2.drawContours(filled, contours, -1, 1, -1)
            res = _cartoon_candidate(region, filled)
            if res is not None:
                best.append(res)
    faces = []
    for score, filled, (er, el, m, esz, msz) in sorted(best, key=lambda r: -r[0])[:1]:
        pts = fit_template(er, el, m, esz, msz, filled) / s
        x, y, bw, bh = cv2.boundingRect(filled)
        faces.append(Face((x / s, y / s, bw / s, bh / s), float(score), pts.astype(np.float32), "cartoon"))
    return faces


def _cartoon_candidate(region: np.ndarray, filled: np.ndarray):
    import cv2

    x, y, bw, bh = cv2.boundingRect(filled)
    if bw < 20 or bh < 20 or not 0.4 < bw / bh < 2.5:
        return None
    farea = float(filled.sum())
    if farea < 0.5 * bw * bh:  # not a compact blob (a background or a frame around things)
        return None
    holes = (filled - region).astype(np.uint8)
    n, _, st, cen = cv2.connectedComponentsWithStats(holes, connectivity=8)
    feats = []
    for i in range(1, n):
        a = st[i, cv2.CC_STAT_AREA]
        fw, fh = st[i, cv2.CC_STAT_WIDTH], st[i, cv2.CC_STAT_HEIGHT]
        if a < max(4, 0.0015 * farea) or a > 0.3 * farea:
            continue
        feats.append((cen[i], a, fw, fh))
    if len(feats) < 2:
        return None
    cx = x + bw / 2
    best = None
    for i in range(len(feats)):
        for j in range(len(feats)):
            (ci, ai, wi, hi_), (cj, aj, wj, hj) = feats[i], feats[j]
            if ci[0] >= cj[0]:
                continue
            dx, dy = cj[0] - ci[0], abs(cj[1] - ci[1])
            ratio = min(ai, aj) / max(ai, aj)
            if ratio < 0.4 or dy > 0.25 * dx or not 0.18 * bw < dx < 0.75 * bw:
                continue
            mid = (ci + cj) / 2
            if abs(mid[0] - cx) > 0.15 * bw or not y + 0.1 * bh < mid[1] < y + 0.7 * bh:
                continue
            thin = max(wi / max(hi_, 1), wj / max(hj, 1))
            if thin > 3.5:  # brows, lashes, hair strands
                continue
            score = ratio * (1 - dy / dx) * (1 - abs(mid[0] - cx) / (0.15 * bw) * 0.5)
            # a mouth: below the eyes, centred between them
            mouth = None
            for c, a, fw, fh in feats:
                if c[1] > mid[1] + 0.3 * dx and abs(c[0] - mid[0]) < 0.3 * dx and c[1] < y + bh:
                    if mouth is None or fw * fh > mouth[2] * mouth[3]:
                        mouth = (c, a, fw, fh)
            score *= 1.0 if mouth is not None else 0.6
            if best is None or score > best[0]:
                if mouth is not None:
                    m, msz = mouth[0], (max(mouth[2], 0.35 * dx), max(mouth[3], 0.08 * dx))
                else:
                    m, msz = mid + (0, 0.9 * dx), None
                esz = [(max(wi, 0.15 * dx), max(hi_, 0.08 * dx)), (max(wj, 0.15 * dx), max(hj, 0.08 * dx))]
                best = (score, filled, (ci, cj, m, esz, msz))
    return best


class CartoonDetector(Detector):
    name = "cartoon"

    def installed(self) -> bool:
        return True

    def load(self) -> bool:
        return True

    def detect(self, image: np.ndarray, device: str = "cpu") -> list[Face]:
        return _cartoon_faces(image)
