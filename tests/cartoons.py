"""Cartoon characters drawn with code, for the portrait tests and bench/portraits.py.

Each ``draw_*`` returns ``(rgb, truth)``: an RGB uint8 image and where its features really
are (``eyes``: two (x, y) centres, image-left first; ``mouth``: (x, y); ``box``: the
face's x, y, w, h), so a detection can be checked, not just counted. They differ on
purpose: round, oval, square and heart-shaped faces; dot, anime and oval eyes; no nose;
small, wide and open mouths; flat colours with and without outlines; human and
non-human (green, blue, pink) skin.
"""
from __future__ import annotations

import cv2
import numpy as np

AA = cv2.LINE_AA


def _canvas(w, h, bg):
    return np.full((h, w, 3), bg, np.uint8)


def _truth(eyes, mouth, box):
    return {"eyes": [tuple(map(float, e)) for e in eyes], "mouth": tuple(map(float, mouth)),
            "box": tuple(map(float, box))}


def _dark(c, f=0.55):
    return tuple(int(v * f) for v in c)


def draw_round_dot(w=360, h=420, skin=(250, 215, 70), bg=(120, 190, 230)):
    """Round yellow face, black outline, dot eyes, no nose, big open smile."""
    img = _canvas(w, h, bg)
    cx, cy, r = w // 2, h // 2 + 10, 130
    cv2.circle(img, (cx, cy), r, skin, -1, AA)
    cv2.circle(img, (cx, cy), r, (20, 20, 20), 5, AA)
    eyes = [(cx - 45, cy - 35), (cx + 45, cy - 35)]
    for e in eyes:
        cv2.ellipse(img, e, (12, 18), 0, 0, 360, (20, 20, 20), -1, AA)
        cv2.circle(img, (e[0] + 4, e[1] - 6), 4, (255, 255, 255), -1, AA)
    for s in (-1, 1):
        cv2.line(img, (cx + s * 25, cy - 70), (cx + s * 65, cy - 78), (20, 20, 20), 6, AA)
    m = (cx, cy + 50)
    cv2.ellipse(img, (m[0], m[1] - 10), (60, 38), 0, 0, 180, (90, 20, 30), -1, AA)
    cv2.ellipse(img, (m[0], m[1] + 12), (28, 12), 0, 180, 360, (230, 90, 110), -1, AA)
    cv2.ellipse(img, (m[0], m[1] - 10), (60, 38), 0, 0, 180, (20, 20, 20), 4, AA)
    cv2.line(img, (m[0] - 60, m[1] - 10), (m[0] + 60, m[1] - 10), (20, 20, 20), 4, AA)
    return img, _truth(eyes, (m[0], m[1] + 5), (cx - r, cy - r, 2 * r, 2 * r))


def draw_anime(w=360, h=460, skin=(252, 226, 212), hair=(120, 70, 160), bg=(235, 235, 245)):
    """Oval face, big anime eyes with highlights and lashes, tiny nose, small mouth, hair."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2 + 30
    cv2.ellipse(img, (cx, cy - 40), (150, 165), 0, 0, 360, hair, -1, AA)  # hair behind
    pts = np.array([[cx - 105, cy - 60], [cx - 100, cy + 30], [cx - 60, cy + 100], [cx, cy + 135],
                    [cx + 60, cy + 100], [cx + 100, cy + 30], [cx + 105, cy - 60], [cx, cy - 150]], np.int32)
    cv2.fillPoly(img, [cv2.convexHull(pts)], skin, AA)
    cv2.ellipse(img, (cx, cy - 130), (125, 70), 0, 180, 360, hair, -1, AA)  # fringe
    for dx in (-55, -5, 45):
        cv2.ellipse(img, (cx + dx, cy - 95), (40, 45), 0, 0, 180, hair, -1, AA)
    eyes = [(cx - 45, cy - 5), (cx + 45, cy - 5)]
    for i, e in enumerate(eyes):
        cv2.ellipse(img, e, (26, 30), 0, 0, 360, (255, 255, 255), -1, AA)
        cv2.ellipse(img, (e[0], e[1] + 3), (17, 25), 0, 0, 360, (60, 120, 200), -1, AA)
        cv2.ellipse(img, (e[0], e[1] + 5), (9, 13), 0, 0, 360, (20, 30, 60), -1, AA)
        cv2.circle(img, (e[0] - 6, e[1] - 8), 6, (255, 255, 255), -1, AA)
        cv2.ellipse(img, e, (28, 31), 0, 190, 350, (30, 20, 30), 5, AA)
        s = -1 if i == 0 else 1
        cv2.line(img, (e[0] + s * 26, e[1] - 12), (e[0] + s * 36, e[1] - 20), (30, 20, 30), 3, AA)
        cv2.line(img, (e[0] - 20, e[1] - 48), (e[0] + 20, e[1] - 50), _dark(hair), 3, AA)
    cv2.line(img, (cx + 2, cy + 40), (cx - 2, cy + 46), _dark(skin, 0.75), 2, AA)
    m = (cx, cy + 78)
    cv2.ellipse(img, m, (16, 8), 0, 0, 180, (170, 60, 80), -1, AA)
    cv2.line(img, (m[0] - 16, m[1]), (m[0] + 16, m[1]), (120, 40, 60), 2, AA)
    for s in (-1, 1):
        cv2.ellipse(img, (cx + s * 70, cy + 45), (16, 7), 0, 0, 360, (250, 190, 190), -1, AA)
    return img, _truth(eyes, (m[0], m[1] + 3), (cx - 105, cy - 150, 210, 285))


def draw_square_green(w=380, h=420, skin=(120, 190, 90), bg=(60, 50, 70)):
    """Square green monster face, outline, rectangular eyes, no nose, wide toothy mouth."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2 + 10
    x0, y0, x1, y1 = cx - 120, cy - 140, cx + 120, cy + 130
    cv2.rectangle(img, (x0, y0), (x1, y1), skin, -1)
    cv2.rectangle(img, (x0, y0), (x1, y1), (25, 40, 20), 5)
    cv2.rectangle(img, (x0, y0), (x1, y0 + 45), (30, 30, 35), -1)
    eyes = [(cx - 50, cy - 40), (cx + 50, cy - 40)]
    for e in eyes:
        cv2.rectangle(img, (e[0] - 24, e[1] - 15), (e[0] + 24, e[1] + 15), (250, 250, 240), -1)
        cv2.rectangle(img, (e[0] - 8, e[1] - 10), (e[0] + 8, e[1] + 10), (20, 20, 20), -1)
        cv2.rectangle(img, (e[0] - 24, e[1] - 15), (e[0] + 24, e[1] + 15), (25, 40, 20), 3)
        cv2.line(img, (e[0] - 28, e[1] - 32), (e[0] + 28, e[1] - 32), (25, 40, 20), 8)
    m = (cx, cy + 65)
    cv2.rectangle(img, (m[0] - 75, m[1] - 18), (m[0] + 75, m[1] + 18), (70, 20, 30), -1)
    for k in range(-60, 75, 30):
        cv2.rectangle(img, (m[0] + k - 10, m[1] - 18), (m[0] + k + 10, m[1] - 6), (250, 250, 230), -1)
    cv2.rectangle(img, (m[0] - 75, m[1] - 18), (m[0] + 75, m[1] + 18), (25, 40, 20), 3)
    return img, _truth(eyes, m, (x0, y0, x1 - x0, y1 - y0))


def draw_alien(w=380, h=440, skin=(110, 170, 235), bg=(20, 20, 50)):
    """Blue alien: wide head, big black almond eyes, no nose, small open mouth."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2
    cv2.ellipse(img, (cx, cy - 20), (140, 120), 0, 0, 360, skin, -1, AA)
    cv2.ellipse(img, (cx, cy + 60), (85, 110), 0, 0, 180, skin, -1, AA)
    eyes = [(cx - 55, cy - 15), (cx + 55, cy - 15)]
    for i, e in enumerate(eyes):
        ang = 20 if i == 0 else -20
        cv2.ellipse(img, e, (40, 22), ang, 0, 360, (10, 10, 20), -1, AA)
        cv2.circle(img, (e[0] - 10, e[1] - 6), 5, (240, 240, 255), -1, AA)
    m = (cx, cy + 95)
    cv2.ellipse(img, m, (22, 12), 0, 0, 360, (40, 30, 80), -1, AA)
    return img, _truth(eyes, m, (cx - 140, cy - 140, 280, 310))


def draw_dark_skin(w=360, h=440, skin=(120, 80, 55), bg=(240, 200, 120)):
    """Oval human face in flat colours, dark skin, white eyes with pupils, nose, full lips."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2 + 15
    cv2.ellipse(img, (cx, cy - 85), (115, 80), 0, 180, 360, (25, 20, 20), -1, AA)
    cv2.ellipse(img, (cx, cy), (100, 130), 0, 0, 360, skin, -1, AA)
    for s in (-1, 1):
        cv2.ellipse(img, (cx + s * 100, cy), (14, 24), 0, 0, 360, skin, -1, AA)
    eyes = [(cx - 40, cy - 25), (cx + 40, cy - 25)]
    for e in eyes:
        cv2.ellipse(img, e, (20, 10), 0, 0, 360, (250, 250, 245), -1, AA)
        cv2.circle(img, e, 8, (50, 30, 20), -1, AA)
        cv2.circle(img, e, 3, (0, 0, 0), -1, AA)
        cv2.ellipse(img, e, (20, 10), 0, 180, 360, (20, 15, 10), 2, AA)
        cv2.line(img, (e[0] - 22, e[1] - 25), (e[0] + 22, e[1] - 27), (25, 20, 20), 6, AA)
    cv2.ellipse(img, (cx, cy + 22), (16, 10), 0, 0, 180, _dark(skin, 0.6), 3, AA)
    m = (cx, cy + 62)
    cv2.ellipse(img, (m[0], m[1] - 3), (32, 9), 0, 180, 360, (95, 45, 45), -1, AA)
    cv2.ellipse(img, (m[0], m[1] + 1), (30, 11), 0, 0, 180, (110, 55, 55), -1, AA)
    cv2.line(img, (m[0] - 32, m[1] - 1), (m[0] + 32, m[1] - 1), (55, 25, 25), 2, AA)
    return img, _truth(eyes, m, (cx - 100, cy - 130, 200, 260))


def draw_pink_heart(w=360, h=420, skin=(245, 160, 190), bg=(250, 245, 220)):
    """Heart-shaped pink face, no outline, oval eyes, no nose, big closed smile."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2
    for s in (-1, 1):
        cv2.circle(img, (cx + s * 60, cy - 40), 95, skin, -1, AA)
    tri = np.array([[cx - 150, cy - 10], [cx + 150, cy - 10], [cx, cy + 160]], np.int32)
    cv2.fillPoly(img, [tri], skin, AA)
    cv2.ellipse(img, (cx, cy + 20), (130, 90), 0, 0, 180, skin, -1, AA)
    eyes = [(cx - 48, cy - 30), (cx + 48, cy - 30)]
    for e in eyes:
        cv2.ellipse(img, e, (14, 22), 0, 0, 360, (60, 20, 50), -1, AA)
        cv2.circle(img, (e[0] - 4, e[1] - 8), 5, (255, 255, 255), -1, AA)
    m = (cx, cy + 50)
    cv2.ellipse(img, (m[0], m[1] - 12), (55, 30), 0, 20, 160, (120, 30, 60), 6, AA)
    return img, _truth(eyes, (m[0], m[1] + 12), (cx - 150, cy - 135, 300, 295))


def draw_bear(w=380, h=420, skin=(170, 120, 80), bg=(160, 220, 170)):
    """Mascot bear: round head with ears, dot eyes, muzzle with a nose, big open mouth."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2 + 20
    for s in (-1, 1):
        cv2.circle(img, (cx + s * 105, cy - 115), 42, skin, -1, AA)
        cv2.circle(img, (cx + s * 105, cy - 115), 22, (230, 180, 150), -1, AA)
    cv2.ellipse(img, (cx, cy), (145, 135), 0, 0, 360, skin, -1, AA)
    eyes = [(cx - 50, cy - 40), (cx + 50, cy - 40)]
    for e in eyes:
        cv2.circle(img, e, 13, (25, 15, 10), -1, AA)
        cv2.circle(img, (e[0] - 4, e[1] - 4), 4, (255, 255, 255), -1, AA)
    cv2.ellipse(img, (cx, cy + 40), (70, 55), 0, 0, 360, (235, 200, 160), -1, AA)
    cv2.ellipse(img, (cx, cy + 12), (20, 13), 0, 0, 360, (30, 20, 15), -1, AA)
    m = (cx, cy + 58)
    cv2.ellipse(img, (m[0], m[1] - 6), (30, 24), 0, 0, 180, (110, 30, 40), -1, AA)
    cv2.line(img, (cx, cy + 24), (cx, m[1] - 6), (30, 20, 15), 3, AA)
    return img, _truth(eyes, (m[0], m[1] + 4), (cx - 145, cy - 135, 290, 270))


def draw_flat_outline(w=360, h=440, skin=(255, 205, 40), bg=(90, 160, 220)):
    """Flat yellow face with thick outlines, big round bulging eyes, long nose, wide mouth."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2 + 10
    ol = (15, 15, 15)
    cv2.rectangle(img, (cx - 95, cy - 150), (cx + 95, cy + 60), skin, -1)
    cv2.ellipse(img, (cx, cy + 60), (95, 90), 0, 0, 180, skin, -1, AA)
    cv2.line(img, (cx - 95, cy - 150), (cx - 95, cy + 60), ol, 5, AA)
    cv2.line(img, (cx + 95, cy - 150), (cx + 95, cy + 60), ol, 5, AA)
    cv2.ellipse(img, (cx, cy + 60), (95, 90), 0, 0, 180, ol, 5, AA)
    eyes = [(cx - 40, cy - 45), (cx + 40, cy - 45)]
    for e in eyes:
        cv2.circle(img, e, 30, (255, 255, 255), -1, AA)
        cv2.circle(img, e, 30, ol, 4, AA)
        cv2.circle(img, (e[0] + 3, e[1] + 4), 6, ol, -1, AA)
    cv2.ellipse(img, (cx + 8, cy + 10), (22, 14), 0, 0, 360, skin, -1, AA)
    cv2.ellipse(img, (cx + 8, cy + 10), (22, 14), 0, -90, 90, ol, 4, AA)
    m = (cx, cy + 70)
    cv2.ellipse(img, (m[0], m[1] - 10), (55, 30), 0, 0, 180, (80, 20, 20), -1, AA)
    cv2.ellipse(img, (m[0], m[1] - 10), (55, 30), 0, 0, 180, ol, 4, AA)
    cv2.line(img, (m[0] - 55, m[1] - 10), (m[0] + 55, m[1] - 10), ol, 4, AA)
    return img, _truth(eyes, (m[0], m[1] + 2), (cx - 95, cy - 150, 190, 300))


def draw_chibi(w=380, h=440, skin=(255, 220, 190), hair=(240, 200, 60), bg=(250, 170, 170)):
    """Chibi: wide round face, eyes set low and far apart, no nose, tiny open mouth."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2 + 10
    cv2.ellipse(img, (cx, cy - 30), (160, 150), 0, 0, 360, hair, -1, AA)
    cv2.ellipse(img, (cx, cy + 10), (135, 120), 0, 0, 360, skin, -1, AA)
    cv2.ellipse(img, (cx, cy - 95), (140, 60), 0, 180, 360, hair, -1, AA)
    cv2.ellipse(img, (cx, cy - 60), (140, 40), 0, 180, 360, hair, -1, AA)
    eyes = [(cx - 58, cy + 15), (cx + 58, cy + 15)]
    for e in eyes:
        cv2.ellipse(img, e, (20, 26), 0, 0, 360, (40, 90, 40), -1, AA)
        cv2.ellipse(img, (e[0], e[1] + 4), (10, 14), 0, 0, 360, (10, 30, 10), -1, AA)
        cv2.circle(img, (e[0] - 6, e[1] - 9), 6, (255, 255, 255), -1, AA)
        cv2.ellipse(img, e, (22, 27), 0, 200, 340, (30, 20, 10), 4, AA)
    m = (cx, cy + 70)
    cv2.ellipse(img, m, (12, 9), 0, 0, 360, (150, 40, 50), -1, AA)
    for s in (-1, 1):
        cv2.ellipse(img, (cx + s * 85, cy + 55), (18, 9), 0, 0, 360, (255, 170, 170), -1, AA)
    return img, _truth(eyes, m, (cx - 135, cy - 110, 270, 240))


def draw_robot(w=380, h=420, skin=(170, 180, 195), bg=(240, 120, 40)):
    """Grey robot head: rounded rectangle, circular glowing eyes, grille mouth, antenna."""
    img = _canvas(w, h, bg)
    cx, cy = w // 2, h // 2 + 20
    x0, y0, x1, y1 = cx - 125, cy - 125, cx + 125, cy + 115
    r = 40
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), skin, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), skin, -1)
    for px, py in [(x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)]:
        cv2.circle(img, (px, py), r, skin, -1, AA)
    cv2.line(img, (cx, y0), (cx, y0 - 40), (60, 60, 70), 5, AA)
    cv2.circle(img, (cx, y0 - 45), 10, (230, 40, 40), -1, AA)
    eyes = [(cx - 55, cy - 35), (cx + 55, cy - 35)]
    for e in eyes:
        cv2.circle(img, e, 28, (40, 45, 55), -1, AA)
        cv2.circle(img, e, 17, (90, 230, 250), -1, AA)
        cv2.circle(img, (e[0] - 5, e[1] - 5), 5, (255, 255, 255), -1, AA)
    m = (cx, cy + 55)
    cv2.rectangle(img, (m[0] - 60, m[1] - 20), (m[0] + 60, m[1] + 20), (40, 45, 55), -1)
    for k in range(-45, 50, 15):
        cv2.line(img, (m[0] + k, m[1] - 16), (m[0] + k, m[1] + 16), (120, 130, 140), 3)
    return img, _truth(eyes, m, (x0, y0, x1 - x0, y1 - y0))


CARTOONS = {
    "round_dot": draw_round_dot,
    "anime_oval": draw_anime,
    "square_green": draw_square_green,
    "alien_blue": draw_alien,
    "dark_skin": draw_dark_skin,
    "pink_heart": draw_pink_heart,
    "bear": draw_bear,
    "flat_outline": draw_flat_outline,
    "chibi": draw_chibi,
    "robot": draw_robot,
}


def all_cartoons():
    """``{name: (rgb, truth)}`` for every drawn character."""
    return {k: f() for k, f in CARTOONS.items()}


def landmark_error(points: np.ndarray, truth: dict) -> float:
    """Largest distance of detected eye / mouth centres from the drawn ones, as a
    fraction of the drawn inter-eye distance (< 0.35 counts as correct)."""
    p = np.asarray(points, np.float64)
    le, re = np.array(truth["eyes"][0]), np.array(truth["eyes"][1])
    iod = np.linalg.norm(re - le)
    got = [p[36:42].mean(0), p[42:48].mean(0), p[48:68].mean(0)]
    want = [le, re, np.array(truth["mouth"])]
    return float(max(np.linalg.norm(g - w_) for g, w_ in zip(got, want)) / iod)


# ----------------------------------------------------------------------------- drawn from 68 points
# Characters drawn *from* a 68-point shape (iBUG layout): every outline, eye, brow, nose and
# lip is a curve through its points, so the points are the exact truth of the drawing (the
# jaw is the face's outline from eye height to the chin, the eyes the drawn openings, the
# brows the centre lines of the drawn brows, the lips the drawn lip edges).

STYLES_68 = ("flat", "anime", "chibi", "sketch", "alien", "mascot", "object", "painted")
KIND_68 = {"flat": "flat cartoon", "anime": "anime", "chibi": "anime", "sketch": "sketch", "alien": "non-human",
           "mascot": "non-human", "object": "non-human", "painted": "painting"}


def catmull_rom(pts, closed=False, n=12) -> np.ndarray:
    """A smooth curve through ``pts`` (it passes through every point), ``n`` steps per span."""
    p = np.asarray(pts, np.float64)
    if closed:
        q = np.concatenate([p[-1:], p, p[:2]])
    else:
        q = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    t = np.linspace(0, 1, n, endpoint=False)[:, None]
    out = []
    for i in range(len(q) - 3):
        p0, p1, p2, p3 = q[i], q[i + 1], q[i + 2], q[i + 3]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out = np.concatenate(out)
    return out if closed else np.concatenate([out, p[-1:]])


def _scale_about(p, c, sx, sy=None):
    return (p - c) * [sx, sx if sy is None else sy] + c


def shape_68(rng: np.random.Generator, style: str) -> np.ndarray:
    """A random 68-point face for ``style`` in template units (about 128 wide), from near
    human proportions to cartoon ones (an exaggeration level drawn per face): face width
    and chin length, round / square / pointed jaw, eye size, spacing and height, brow
    height, nose length, mouth width, height and opening, a small tilt."""
    from talkface.face.template import TEMPLATE_128

    p = TEMPLATE_128.astype(np.float64).copy()
    eye_y = p[36:48, 1].mean()
    cx = p[[0, 16], 0].mean()
    u = rng.uniform
    x = u(0, 1)  # exaggeration
    big = style in ("anime", "chibi")
    # jaw: width, chin length, shape
    jw, chin = 1 + x * u(-0.12, 0.4), 1 + x * u(-0.3, 0.2)
    if style == "anime":
        chin = u(1.0, 1.15)
    elif style == "chibi":
        jw, chin = u(1.2, 1.45), u(0.72, 0.9)
    elif style in ("object", "mascot"):
        jw = u(1.05, 1.35)
    jaw = p[0:17]
    jaw[:, 0] = cx + (jaw[:, 0] - cx) * jw
    below = jaw[:, 1] > eye_y
    jaw[below, 1] = eye_y + (jaw[below, 1] - eye_y) * chin
    shape = {"anime": "pointed", "object": "square", "chibi": "round", "mascot": "round"}.get(
        style, rng.choice(["round", "square", "plain"]))
    w2, top, bot = (jaw[16, 0] - jaw[0, 0]) / 2, jaw[[0, 16], 1].mean(), jaw[8, 1]
    t = np.linspace(-np.pi / 2, np.pi / 2, 17)  # from the image-left side round the chin
    if shape == "round":
        ell = np.stack([cx + w2 * np.sin(t), top + (bot - top) * np.cos(t)], 1)
        jaw[:] = 0.5 * jaw + 0.5 * ell if style not in ("chibi", "mascot") else 0.15 * jaw + 0.85 * ell
    elif shape == "square":
        k = np.abs(np.linspace(-1, 1, 17))
        jaw[:, 0] = cx + (jaw[:, 0] - cx) * (1 + 0.12 * (1 - k ** 4))
    elif shape == "pointed":
        k = np.linspace(-1, 1, 17)
        lower = np.clip((jaw[:, 1] - top) / (bot - top), 0, 1)
        jaw[:, 0] = cx + (jaw[:, 0] - cx) * (1 - 0.28 * lower ** 1.5)
        jaw[:, 1] += 4 * (1 - np.abs(k)) * lower
    p[0:17] = jaw
    # eyes: size, spacing, height
    if big:
        es, eh = u(1.6, 2.1), u(1.4, 1.9)
    elif style == "mascot":
        es, eh = u(0.55, 0.9), u(1.3, 2.2)
    else:
        es, eh = 1 + x * u(-0.3, 0.7), u(1.0, 1.5)
    eh *= es
    gap, dy = u(-3, 3 + 10 * x), u(-2, 2 + 10 * x)
    if style == "chibi":
        gap, dy = u(6, 14), u(8, 16)
    for i, idx in enumerate((list(range(36, 42)), list(range(42, 48)))):
        c = p[idx].mean(0)
        p[idx] = _scale_about(p[idx], c, es, eh) + [(-gap if i == 0 else gap), dy]
        if big:  # anime eyes grow down more than up into the brow
            p[idx] += [0, 3]
        # the eye stays inside the face outline
        side, outer = (0, 36) if i == 0 else (16, 45)
        width = p[16, 0] - p[0, 0]
        for _ in range(20):
            if abs(p[outer, 0] - p[side, 0]) > 0.07 * width and (p[outer, 0] - p[side, 0]) * (1 if i == 0 else -1) > 0:
                break
            c = p[idx].mean(0)
            p[idx] = _scale_about(p[idx], c, 0.94) + [(4 if i == 0 else -4) * 0.3, 0]
    # brows: above the eyes, however the eyes moved
    by = u(-5, 1) - (5 if big else 0)
    p[17:27, 1] += by + dy
    pairs = ((list(range(17, 22)), list(range(36, 42))), (list(range(22, 27)), list(range(42, 48))))
    for i, (bi, ei) in enumerate(pairs):
        p[bi, 0] += -gap if i == 0 else gap
        lift = p[bi, 1].max() - (p[ei, 1].min() - 3)
        if lift > 0:
            p[bi, 1] -= lift
    # nose: from between the eyes, ending above the mouth
    nl = u(0.7, 1.05) if big else 1 + x * u(-0.3, 0.25)
    p[27:36] = _scale_about(p[27:36], p[27], 1.0 if not big else 0.6, nl)
    p[27:36, 1] += dy * 0.7
    # mouth
    mw = u(0.45, 0.65) if style == "chibi" else u(0.6, 0.9) if big else 1 + x * u(-0.45, 0.7)
    mc = p[48:60].mean(0)
    p[48:68] = _scale_about(p[48:68], mc, mw, u(0.8, 1.2) * (0.8 if big else 1.0)) + [0, u(-2, 2 + 6 * x)]
    if p[33, 1] > p[48:55, 1].min() - 3:  # keep the nose above the mouth
        p[27:36] = _scale_about(p[27:36], p[27], 1.0, (p[48:55, 1].min() - 3 - p[27, 1]) / (p[33, 1] - p[27, 1]))
    opening = u(0, 1) < 0.4
    if opening:
        o = u(3, 9)
        p[[56, 57, 58, 65, 66, 67], 1] += o
        p[[55, 59], 1] += 0.5 * o
        p[5:12, 1] += 0.4 * o * np.array([0.3, 0.6, 0.9, 1, 0.9, 0.6, 0.3])
    lowest = p[48:60, 1].max()
    if lowest > p[8, 1] - 6:  # the chin stays below the mouth
        p[2:15, 1] = p[2:15, 1] + (lowest + 6 - p[8, 1]) * np.sin(np.linspace(0, np.pi, 13))
    # whole face: a small tilt
    ang = np.deg2rad(u(-8, 8))
    c = p.mean(0)
    r = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    return (p - c) @ r.T + c


def _poly(img, pts, colour, closed=True, thick=-1, n=12):
    c = catmull_rom(pts, closed, n)
    q = np.round(c * 16).astype(np.int32)
    if thick < 0:
        cv2.fillPoly(img, [q], colour, AA, shift=4)
    else:
        cv2.polylines(img, [q], closed, colour, thick, AA, shift=4)


def _mask(shape, pts, closed=True):
    m = np.zeros(shape[:2], np.uint8)
    _poly(m, pts, 255, closed)
    return m


def _outline_68(p, forehead):
    """The whole head outline: the jaw (0..16) then an arc over the forehead back to 0."""
    a, b = p[16], p[0]
    c = (a + b) / 2
    w = np.linalg.norm(a - b) / 2
    ang = np.linspace(0, np.pi, 9)[1:-1]
    d = (a - b) / (2 * w)
    nrm = np.array([d[1], -d[0]])  # points up for an upright face
    arc = [c + d * w * np.cos(t) + nrm * forehead * np.sin(t) for t in ang]
    return np.concatenate([p[0:17], np.array(arc)])


def draw_from_points(style: str, seed: int):
    """``(rgb, points)``: a character of ``style`` (one of ``STYLES_68``) drawn from a random
    68-point shape (``seed``); ``points`` (68, 2) is the exact truth of the drawing. Some
    characters go without a nose or brows (their points are still where the shape puts
    them), some have dot eyes (the eye opening filled dark)."""
    rng = np.random.default_rng([seed, STYLES_68.index(style)])
    u = rng.uniform
    w = int(u(320, 520)) // 2 * 2
    h = int(w * u(1.0, 1.25)) // 2 * 2
    p = shape_68(rng, style)
    face_w = u(0.38, 0.62) * w
    s = face_w / (p[16, 0] - p[0, 0])
    p = (p - p.mean(0)) * s + [w / 2 + u(-0.06, 0.06) * w, h * u(0.55, 0.62)]
    iod = float(np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0)))
    human = style in ("flat", "anime", "chibi", "painted")
    dot_eyes = style in ("alien", "object", "mascot") or (style == "flat" and u() < 0.3)
    nose = {"anime": "tick", "chibi": "dot" if u() < 0.5 else "none", "mascot": "blob"}.get(
        style, "none" if style in ("flat", "alien", "object") and u() < 0.3 else "lines")
    brows = not (style in ("mascot", "object", "alien") and u() < 0.4)

    def col(lo=0, hi=255):
        return tuple(int(v) for v in rng.integers(lo, hi, 3))

    bg = (int(u(235, 252)),) * 3 if style == "sketch" else col(40, 230)
    img = np.full((h, w, 3), bg, np.uint8)
    if style != "sketch":  # a soft background gradient
        g = np.linspace(-1, 1, h)[:, None, None] * u(-25, 25)
        img = np.clip(img + g, 0, 255).astype(np.uint8)
    skin = {"flat": rng.choice([(250, 214, 180), (225, 175, 130), (160, 110, 75), (110, 70, 50), (255, 205, 40)]),
            "anime": (252, 228, 214), "chibi": rng.choice([(255, 228, 205), (240, 200, 170)]),
            "painted": rng.choice([(235, 190, 160), (200, 150, 115)]),
            "alien": rng.choice([(110, 170, 235), (120, 200, 100), (170, 120, 220), (90, 200, 190)]),
            "mascot": rng.choice([(170, 120, 80), (240, 240, 235), (120, 120, 130), (230, 150, 60)]),
            "object": rng.choice([(200, 60, 60), (230, 230, 225), (90, 140, 200), (240, 180, 60)]),
            "sketch": bg}[style]
    skin = tuple(int(v) for v in skin)
    line = (25, 20, 20) if style != "sketch" else (70, 70, 75)
    thick = max(2, int(round(iod * u(0.03, 0.06))))
    head = _outline_68(p, iod * u(1.3, 1.8))
    hair = col(10, 200)
    # behind the head: hair (humans), ears (aliens, mascots), a body (objects)
    if human and u() < 0.85:
        c = head.mean(0)
        back = _scale_about(head, c + [0, iod * 0.3], 1.15 if style == "chibi" else 1.12, 1.1)
        back = back[back[:, 1] < p[[2, 14], 1].mean()]  # not below the cheeks
        if len(back) > 3:
            _poly(img, back, hair)
    if style == "alien":
        for i in (0, 16):
            e = tuple(int(v) for v in p[i] + [(-1 if i == 0 else 1) * iod * 0.25, -iod * 0.1])
            cv2.ellipse(img, e, (int(iod * 0.3), int(iod * 0.45)), 0, 0, 360, skin, -1, AA)
            cv2.ellipse(img, e, (int(iod * 0.3), int(iod * 0.45)), 0, 0, 360, line, thick, AA)
    if style == "mascot":
        for k in (3, -4):
            e = tuple(int(v) for v in head[17:][k])
            cv2.circle(img, e, int(iod * 0.45), skin, -1, AA)
            cv2.circle(img, e, int(iod * 0.45), line, thick, AA)
            cv2.circle(img, e, int(iod * 0.25), _dark(skin, 0.75), -1, AA)
    if style == "object":  # a box-shaped thing: the face is on its front, its outline the jaw
        ty = p[17:27, 1].min() - iod * u(0.3, 0.7)
        body = np.concatenate([catmull_rom(p[0:17], n=8), [[p[16, 0], ty], [p[0, 0], ty]]])
        body = np.round(body).astype(np.int32)
        cv2.fillPoly(img, [body], skin, AA)
        cv2.polylines(img, [body], True, line, thick + 1, AA)
        cv2.rectangle(img, (int(p[0, 0] + iod * 0.3), int(ty - iod * 0.25)), (int(p[16, 0] - iod * 0.3), int(ty)),
                      _dark(skin, 0.7), -1)
    else:
        _poly(img, head, skin if style != "sketch" else (int(u(240, 255)),) * 3)
        _poly(img, head, line, thick=thick if style != "sketch" else max(1, thick - 1))
    if human and u() < 0.8:  # a fringe over the forehead
        fy = p[17:27, 1].min() - iod * (u(0.08, 0.2) if style == "chibi" else u(0.15, 0.4))
        fringe = np.array([head[-1], *[q for q in head[17:] if q[1] < fy]], np.float64)
        if len(fringe) > 2:
            cv2.fillPoly(img, [np.round(fringe).astype(np.int32)], hair, AA)
    if style == "mascot":  # a light muzzle round the nose and mouth
        mz = np.concatenate([p[31:36], p[48:60]])
        c, r = mz.mean(0), (mz.max(0) - mz.min(0)) / 2 + iod * 0.12
        cv2.ellipse(img, tuple(int(v) for v in c), (int(r[0]), int(r[1])), 0, 0, 360,
                    tuple(min(255, int(v * 1.25 + 30)) for v in skin), -1, AA)
    if style in ("anime", "chibi", "flat") and u() < 0.5:  # cheeks
        for i in (3, 13):
            q = tuple(int(v) for v in p[i] + (p[30] - p[i]) * 0.45)
            cv2.ellipse(img, q, (int(iod * 0.16), int(iod * 0.08)), 0, 0, 360, (245, 170, 170), -1, AA)
    if brows:
        bt = max(2, int(round(iod * (u(0.03, 0.06) if style in ("anime", "chibi") else u(0.06, 0.12)))))
        bcol = _dark(hair, 0.6) if human else line
        for idx in (slice(17, 22), slice(22, 27)):
            _poly(img, p[idx], bcol, closed=False, thick=bt)
    # eyes
    iris = col(30, 200)
    for idx in (list(range(36, 42)), list(range(42, 48))):
        e = p[idx]
        c = e.mean(0)
        ew = np.linalg.norm(e[3] - e[0])
        eh = max(np.linalg.norm(e[1] - e[5]), np.linalg.norm(e[2] - e[4]))
        m = _mask(img.shape, e)
        layer = img.copy()
        if dot_eyes:
            layer[:] = (15, 15, 25)
            cv2.circle(layer, (int(c[0] - ew * 0.15), int(c[1] - eh * 0.2)), max(2, int(eh * 0.15)),
                       (245, 245, 255), -1, AA)
        else:
            layer[:] = (250, 250, 250) if style != "sketch" else (252, 252, 252)
            ir = (ew * 0.33, eh * 0.52) if style in ("anime", "chibi") else (ew * 0.24, eh * 0.55)
            cc = c + [u(-0.1, 0.1) * ew, eh * (0.08 if style in ("anime", "chibi") else 0)]
            cv2.ellipse(layer, tuple(int(v) for v in cc), (int(ir[0]), int(ir[1])), 0, 0, 360,
                        iris if style != "sketch" else (120, 120, 125), -1, AA)
            cv2.ellipse(layer, tuple(int(v) for v in cc), (int(ir[0] * 0.5), int(ir[1] * 0.5)), 0, 0, 360,
                        (15, 15, 20), -1, AA)
            cv2.circle(layer, (int(cc[0] - ir[0] * 0.35), int(cc[1] - ir[1] * 0.4)), max(2, int(ir[0] * 0.3)),
                       (255, 255, 255), -1, AA)
        img = np.where(m[:, :, None] > 127, layer, img)
        if not (dot_eyes and style != "flat"):
            lash = thick + (int(iod * 0.05) if style in ("anime", "chibi") else 0)
            _poly(img, e[[0, 1, 2, 3]], line, closed=False, thick=lash)
            if style not in ("anime", "chibi"):
                _poly(img, e[[3, 4, 5, 0]], line, closed=False, thick=max(1, thick - 1))
    # nose
    ncol = _dark(skin, 0.6) if style != "sketch" else line
    nt = max(1, thick - 1)
    if nose == "tick":
        cv2.line(img, tuple(int(v) for v in p[30]), tuple(int(v) for v in p[33]), ncol, nt, AA)
    elif nose == "dot":
        cv2.circle(img, tuple(int(v) for v in p[33]), max(1, int(iod * 0.03)), ncol, -1, AA)
    elif nose == "blob":
        _poly(img, p[[30, 35, 34, 33, 32, 31]], (30, 20, 20))
    elif nose == "lines":
        _poly(img, p[[27, 28, 29, 30]], ncol, closed=False, thick=nt)
        _poly(img, p[[31, 32, 33, 34, 35]], ncol, closed=False, thick=nt)
    # mouth
    lip = {"sketch": (200, 200, 200), "alien": _dark(skin, 0.5), "object": (40, 20, 25),
           "mascot": (110, 30, 40)}.get(style, (200, 80, 90))
    _poly(img, p[48:60], lip)
    if p[66, 1] - p[62, 1] > 1.5:
        _poly(img, p[60:68], (60, 15, 25) if style != "sketch" else (90, 90, 95))
    else:
        _poly(img, p[[48, 61, 62, 63, 54]], _dark(lip, 0.5), closed=False, thick=nt)
    _poly(img, p[48:60], line, thick=nt)
    # style finish
    if style == "sketch":  # pencil: grain and hatching, no fills but the eyes
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        g += rng.normal(0, 6, g.shape)
        for _ in range(int(u(10, 25))):
            x0 = p[0, 0] + u(0, 0.3) * (p[16, 0] - p[0, 0])
            y0 = p[2, 1] + u(0, 1) * (p[8, 1] - p[2, 1]) * 0.5
            cv2.line(g, (int(x0), int(y0)), (int(x0 + iod * 0.2), int(y0 - iod * 0.2)), 170, 1, AA)
        img = np.repeat(np.clip(g, 0, 255).astype(np.uint8)[:, :, None], 3, 2)
    elif style == "painted":
        img = cv2.stylization(cv2.GaussianBlur(img, (0, 0), 2.0), sigma_s=40, sigma_r=0.3)
        shade = cv2.GaussianBlur(_mask(img.shape, head).astype(np.float32) / 255, (0, 0), iod * 0.3)
        img = np.clip(img * (0.75 + 0.25 * shade[:, :, None]) + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    else:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    return img, p.astype(np.float32)
