"""Natural touches added to a predicted landmark sequence (T, 68, 2), image pixels.

* ``add_blinks``: eye blinks at a natural rate. Every 2-6 s (random, seeded, so the
  same input gives the same video) the upper lids (37, 38 / 43, 44) close onto the lower
  ones (41, 40 / 47, 46) for about 0.15 s: a quick close, a held frame, a slower open.
* ``add_head_motion``: a very light idle sway, a small smooth rotation (about 1.5
  degrees at most) and translation (about 1.5 % of the face width) of the whole face,
  from a sum of slow sines with seeded random phases.

Both are deterministic for a given ``seed`` and leave the input array untouched.
"""
from __future__ import annotations

import numpy as np

from ..constants import FPS
from ..face.groups import EYES, LOWER_LIDS, UPPER_LIDS

# closure per frame of one blink at 25 fps (~0.16 s closed or closing, then opening)
PROFILE = (0.45, 1.0, 1.0, 0.6, 0.25)


def blink_schedule(n_frames: int, fps: int = FPS, seed: int = 0, every=(2.0, 6.0)) -> np.ndarray:
    """Eye closure 0..1 for each of ``n_frames``: a blink every 2-6 s, the first after 0.8-3 s."""
    rng = np.random.default_rng(seed)
    c = np.zeros(n_frames, np.float32)
    t = rng.uniform(0.8, 3.0)
    while True:
        i = int(round(t * fps))
        if i >= n_frames:
            break
        for j, v in enumerate(PROFILE):
            if i + j < n_frames:
                c[i + j] = max(c[i + j], v)
        t += rng.uniform(*every)
    return c


def add_blinks(seq: np.ndarray, fps: int = FPS, seed: int = 0, closure: np.ndarray | None = None) -> np.ndarray:
    """``seq`` with blinks: the upper lids (37, 38 / 43, 44) move down 94 % of the way onto
    the lower lids times the closure (``blink_schedule`` when not given); nothing else moves."""
    out = np.array(seq, np.float32, copy=True)
    c = blink_schedule(len(out), fps, seed) if closure is None else np.asarray(closure, np.float32)
    for up, lo in zip(UPPER_LIDS, LOWER_LIDS):
        gap = out[:, lo] - out[:, up]  # (T, 2, 2)
        out[:, up] += (c[:, None, None] * 0.94) * gap * np.array([0.0, 1.0], np.float32)
    return out


def head_motion(n_frames: int, fps: int = FPS, seed: int = 0, degrees: float = 1.5, shift: float = 0.015):
    """Per-frame (angle in radians, dx, dy as fractions of the face width): slow smooth sway."""
    rng = np.random.default_rng(seed + 7919)
    t = np.arange(n_frames) / fps
    out = []
    for amp in (np.deg2rad(degrees), shift, shift * 0.6):
        freqs = rng.uniform(0.08, 0.35, 3)  # 3-12 s periods
        ph = rng.uniform(0, 2 * np.pi, 3)
        w = np.array([1.0, 0.5, 0.25])
        s = (w[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None] + ph[:, None])).sum(0) / w.sum()
        out.append(amp * s)
    return np.stack(out, 1).astype(np.float32)


def add_head_motion(seq: np.ndarray, fps: int = FPS, seed: int = 0, degrees: float = 1.5,
                    shift: float = 0.015) -> np.ndarray:
    """``seq`` rotated about the face centre and shifted by ``head_motion``'s sway."""
    pts = np.array(seq, np.float32, copy=True)
    if len(pts) == 0:
        return pts
    m = head_motion(len(pts), fps, seed, degrees, shift)
    width = float(np.linalg.norm(pts[0, 16] - pts[0, 0])) or 1.0
    centre = pts[0, 27:36].mean(0)
    for i, (a, dx, dy) in enumerate(m):
        ca, sa = np.cos(a), np.sin(a)
        r = np.array([[ca, -sa], [sa, ca]], np.float32)
        pts[i] = (pts[i] - centre) @ r.T + centre + np.array([dx, dy], np.float32) * width
    return pts


def apply(seq: np.ndarray, blink: bool = True, head: bool = False, fps: int = FPS, seed: int = 0) -> np.ndarray:
    """The sequence with the touches that are switched on."""
    if blink:
        seq = add_blinks(seq, fps, seed)
    if head:
        seq = add_head_motion(seq, fps, seed)
    return seq


def rest_eyes(p: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """``p`` with each eye's six points replaced by the portrait's (``rest``) eye, moved
    with the eye corners' centre: AT-net's eye shapes carry no speech information, only
    noise a renderer would read as half-closed lids, so the lids move by blinks alone."""
    p = np.array(p, np.float32, copy=True)
    for e in EYES:
        shift = p[[e[0], e[3]]].mean(0) - rest[[e[0], e[3]]].mean(0)
        p[e] = rest[e] + shift
    return p


def stream(frames, n_frames: int, blink: bool = True, head: bool = False, fps: int = FPS, seed: int = 0,
           rest: np.ndarray | None = None):
    """The touches applied one frame at a time to an iterable of (68, 2) point arrays
    (the streaming renderer's input); frame ``i`` gets exactly what ``apply`` gives it.
    With ``rest`` (the portrait's points) the eyes first take the portrait's shape."""
    rest = None if rest is None else np.asarray(rest, np.float32)
    if not blink and not head:
        for p in frames:
            yield p if rest is None else rest_eyes(p, rest)
        return
    closure = blink_schedule(n_frames, fps, seed) if blink else None
    sway = head_motion(n_frames, fps, seed) if head else None
    centre, width = None, 1.0  # of the face, measured on the first frame the sway moves
    for i, p in enumerate(frames):
        p = np.array(p, np.float32, copy=True) if rest is None else rest_eyes(p, rest)
        if closure is not None and i < len(closure) and closure[i] > 0:
            p = add_blinks(p[None], closure=closure[i:i + 1])[0]
        if sway is not None and i < len(sway):
            if centre is None:
                width = float(np.linalg.norm(p[16] - p[0])) or 1.0
                centre = p[27:36].mean(0)
            a, dx, dy = sway[i]
            ca, sa = np.cos(a), np.sin(a)
            r = np.array([[ca, -sa], [sa, ca]], np.float32)
            p = (p - centre) @ r.T + centre + np.array([dx, dy], np.float32) * width
        yield p
