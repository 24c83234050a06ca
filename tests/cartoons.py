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
