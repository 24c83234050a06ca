"""talkface's own 68-point alignment template.

A generalised-Procrustes mean of dlib landmarks (GRID s1/s2/s3 first frames and five
portraits), placed by a similarity fit so that eye corners, nose tip, mouth corners and
chin sit where the ATVG-net pipeline puts them in its 128 px aligned region
(docs/paper_facts.md#alignment). Coordinates are pixels of a 128x128 crop; scale for other sizes.
"""
import numpy as np

from .groups import EYE_L, EYE_R, JAW, MOUTH, NOSE_BRIDGE

TEMPLATE_128 = np.array([
    (7.95, 43.32),
    (9.68, 58.19),
    (11.61, 72.85),
    (13.68, 87.52),
    (18.44, 100.83),
    (27.13, 112.17),
    (39.03, 121.04),
    (52.17, 127.28),
    (66.91, 129.37),
    (81.07, 126.64),
    (92.16, 119.01),
    (101.13, 108.85),
    (106.69, 96.22),
    (109.13, 82.31),
    (110.24, 67.99),
    (111.22, 53.78),
    (111.91, 39.80),
    (19.07, 28.58),
    (25.22, 21.13),
    (34.88, 18.75),
    (45.06, 19.89),
    (54.65, 22.81),
    (72.19, 22.10),
    (81.59, 19.06),
    (91.24, 18.00),
    (100.35, 20.31),
    (105.51, 27.98),
    (64.40, 34.16),
    (64.96, 43.97),
    (65.59, 53.58),
    (66.27, 63.66),
    (54.06, 73.57),
    (59.75, 74.79),
    (65.66, 75.93),
    (71.01, 74.93),
    (76.14, 73.71),
    (29.88, 37.17),
    (35.70, 33.53),
    (43.07, 33.82),
    (49.53, 38.64),
    (42.92, 40.09),
    (35.44, 40.11),
    (76.52, 38.48),
    (82.80, 33.64),
    (89.97, 33.31),
    (95.61, 36.67),
    (90.64, 39.91),
    (83.34, 40.01),
    (45.20, 95.38),
    (52.49, 91.96),
    (60.21, 89.77),
    (65.78, 91.47),
    (71.39, 89.69),
    (78.53, 92.08),
    (85.08, 95.62),
    (78.96, 100.96),
    (72.38, 103.55),
    (66.39, 104.13),
    (60.37, 103.53),
    (52.65, 100.87),
    (48.44, 95.52),
    (60.21, 94.55),
    (65.87, 95.18),
    (71.52, 94.47),
    (81.82, 95.73),
    (71.81, 96.83),
    (66.08, 97.50),
    (60.47, 96.79),
], dtype=np.float64)

T = TEMPLATE_128

# mouth width (48-54) over the distance between the eye centres, for a human face
MOUTH_RATIO = float(np.linalg.norm(TEMPLATE_128[54] - TEMPLATE_128[48])
                    / np.linalg.norm(TEMPLATE_128[EYE_L].mean(0) - TEMPLATE_128[EYE_R].mean(0)))


def _ellipse_eye(cx, cy, w, h) -> np.ndarray:
    """Points 36..41 (or 42..47) of an eye whose visible opening is the w x h ellipse."""
    k = np.sqrt(1 - (1 / 3) ** 2)
    return np.array([(cx - w / 2, cy), (cx - w / 6, cy - k * h / 2), (cx + w / 6, cy - k * h / 2),
                     (cx + w / 2, cy), (cx + w / 6, cy + k * h / 2), (cx - w / 6, cy + k * h / 2)])


def fit_template(eye_r, eye_l, mouth, eye_size=None, mouth_size=None, face_mask=None) -> np.ndarray:
    """The 68-point template placed on a face from a few measured features.

    ``eye_r``, ``eye_l``: centres of the image-left and image-right eye; ``mouth``: the
    mouth centre. An affine map takes the template's eye and mouth centres exactly onto
    them (so wide-set eyes or a long chin are followed). Optional refinements:
    ``eye_size`` ((w, h) per eye), ``mouth_size`` (w, h) reshape those parts to the
    measured blobs, and ``face_mask`` (uint8, face = 1) moves the jaw line onto the face
    outline along rays from the face centre.
    """
    import cv2

    src = np.array([T[EYE_R].mean(0), T[EYE_L].mean(0), T[MOUTH].mean(0)], np.float32)
    dst = np.array([eye_r, eye_l, mouth], np.float32)
    m = cv2.getAffineTransform(src, dst).astype(np.float64)
    pts = TEMPLATE_128 @ m[:, :2].T + m[:, 2]
    if eye_size is not None:
        for idx, c, (w, h) in zip((EYE_R, EYE_L), (eye_r, eye_l), eye_size):
            pts[idx] = _ellipse_eye(c[0], c[1], w, h)
    if mouth_size is not None:
        t = T[MOUTH]
        lo, hi = t[:12].min(0), t[:12].max(0)
        u = (t - (lo + hi) / 2) / (hi - lo)  # outer lip box -> unit box
        u[12:, 1] *= 0.5  # inner lips stay nearly closed
        pts[MOUTH] = np.asarray(mouth, np.float64) + u * np.asarray(mouth_size, np.float64)
    if face_mask is not None:
        h, w = face_mask.shape[:2]
        c = pts[NOSE_BRIDGE].mean(0)
        for i in JAW:
            d = pts[i] - c
            r0 = float(np.linalg.norm(d))
            if r0 < 1:
                continue
            u = d / r0
            best = None
            for r in np.linspace(0.6 * r0, 1.6 * r0, 60):
                x, y = (c + u * r).round().astype(int)
                inside = 0 <= x < w and 0 <= y < h and face_mask[y, x] > 0
                if not inside:
                    best = r
                    break
            if best is not None:
                pts[i] = c + u * best * 0.97
    return pts
