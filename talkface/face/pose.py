"""Head pose from 68 points, and the points with the pose taken out (frontalised).

A speaker who turns or nods changes the 2-D shape of the mouth as much as speech does. Each
frame's points are fitted by a weak-perspective camera (scale, 3-D rotation, shift) to
:data:`TEMPLATE_3D`, a mean 3-D face on the iBUG 68 points, on the points speech does not
move (:data:`talkface.face.groups.STABLE`); every point is then moved back to where it would
be seen head-on, keeping its offset from the template within the face's plane. Training
targets for speech-to-mouth models are read from these frontal points
(``talkface data prepare --speakers``, :mod:`talkface.train.speakers`).

:data:`TEMPLATE_3D` is MediaPipe Face Mesh's 3-D output (x, y in pixels, z on x's scale)
on 60 frontal frames of five GRID speakers, mapped onto the 68 points with
:data:`talkface.face.detectors.mesh.MESH_TO_68`, Procrustes-averaged, turned so that the face's mirror
plane is x = 0 and made exactly symmetric; units: the distance between the outer eye
corners (36, 45); x right, y down, z away from the camera; origin: the mean of the STABLE
points. ``python bench/template3d.py`` derives it again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .groups import STABLE

TEMPLATE_3D = np.array([
    (-0.7924, -0.0876, 0.7554),
    (-0.7840, 0.1186, 0.6492),
    (-0.7574, 0.3451, 0.6427),
    (-0.7201, 0.5671, 0.6137),
    (-0.6472, 0.7691, 0.6039),
    (-0.5431, 0.9425, 0.4668),
    (-0.3860, 1.0814, 0.3063),
    (-0.2077, 1.1791, 0.1653),
    (0.0000, 1.2133, 0.1143),
    (0.2077, 1.1791, 0.1653),
    (0.3860, 1.0814, 0.3063),
    (0.5431, 0.9425, 0.4668),
    (0.6472, 0.7691, 0.6039),
    (0.7201, 0.5671, 0.6137),
    (0.7574, 0.3451, 0.6427),
    (0.7840, 0.1186, 0.6492),
    (0.7924, -0.0876, 0.7554),
    (-0.6603, -0.3425, 0.2648),
    (-0.5737, -0.4614, 0.1579),
    (-0.4288, -0.5064, 0.0760),
    (-0.2775, -0.4835, 0.0026),
    (-0.1341, -0.4397, -0.0015),
    (0.1341, -0.4397, -0.0015),
    (0.2775, -0.4835, 0.0026),
    (0.4288, -0.5064, 0.0760),
    (0.5737, -0.4614, 0.1579),
    (0.6603, -0.3425, 0.2648),
    (0.0000, -0.2582, 0.0237),
    (0.0000, -0.1299, -0.0913),
    (0.0000, 0.0101, -0.1950),
    (0.0000, 0.1562, -0.2928),
    (-0.1680, 0.3219, -0.0563),
    (-0.0884, 0.3390, -0.1053),
    (0.0000, 0.3608, -0.1100),
    (0.0884, 0.3390, -0.1053),
    (0.1680, 0.3219, -0.0563),
    (-0.5000, -0.2018, 0.2171),
    (-0.4148, -0.2588, 0.1559),
    (-0.3069, -0.2574, 0.1471),
    (-0.2142, -0.1896, 0.1719),
    (-0.3096, -0.1675, 0.1563),
    (-0.4167, -0.1675, 0.1748),
    (0.2142, -0.1896, 0.1719),
    (0.3069, -0.2574, 0.1471),
    (0.4148, -0.2588, 0.1559),
    (0.5000, -0.2018, 0.2171),
    (0.4167, -0.1675, 0.1748),
    (0.3096, -0.1675, 0.1563),
    (-0.3064, 0.6759, 0.1028),
    (-0.1999, 0.6000, -0.0417),
    (-0.0821, 0.5499, -0.1118),
    (0.0000, 0.5730, -0.1165),
    (0.0821, 0.5499, -0.1118),
    (0.1999, 0.6000, -0.0417),
    (0.3064, 0.6759, 0.1028),
    (0.2025, 0.7672, -0.0005),
    (0.0917, 0.8096, -0.0414),
    (0.0000, 0.8216, -0.0319),
    (-0.0917, 0.8096, -0.0414),
    (-0.2025, 0.7672, -0.0005),
    (-0.2578, 0.6766, 0.0758),
    (-0.0845, 0.6297, -0.0676),
    (0.0000, 0.6364, -0.0779),
    (0.0845, 0.6297, -0.0676),
    (0.2578, 0.6766, 0.0758),
    (0.0851, 0.6950, -0.0413),
    (0.0000, 0.7039, -0.0611),
    (-0.0851, 0.6950, -0.0413)
], np.float64)


@dataclass
class Pose:
    """One frame's weak-perspective fit: ``points ~ scale * rot[:2] @ X + shift``."""
    scale: float      # pixels per inter-ocular distance
    rot: np.ndarray   # (3, 3) template -> camera
    shift: np.ndarray  # (2,)
    residual: float   # rms distance of the fitted points, in inter-ocular distances

    @property
    def angles(self) -> tuple[float, float, float]:
        """(yaw, pitch, roll) in degrees; 0, 0, 0 is head-on."""
        r = self.rot
        yaw = np.degrees(np.arcsin(np.clip(r[0, 2], -1, 1)))
        pitch = np.degrees(np.arcsin(np.clip(-r[1, 2], -1, 1)))
        roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
        return float(yaw), float(pitch), float(roll)


def fit_pose(points: np.ndarray, fit: list[int] = STABLE) -> Pose:
    """The weak-perspective pose of one frame's (68, 2) points (least squares on ``fit``)."""
    p = np.asarray(points, np.float64)
    x = TEMPLATE_3D[fit]
    xm, pm = x.mean(0), p[fit].mean(0)
    a = np.linalg.lstsq(x - xm, p[fit] - pm, rcond=None)[0].T  # (2, 3) affine camera
    n0, n1 = np.linalg.norm(a[0]), np.linalg.norm(a[1])
    r0 = a[0] / max(n0, 1e-12)
    r1 = a[1] - (a[1] @ r0) * r0
    r1 /= max(np.linalg.norm(r1), 1e-12)
    rot = np.stack([r0, r1, np.cross(r0, r1)])
    scale = (n0 + n1) / 2
    shift = pm - scale * rot[:2] @ xm
    fitted = scale * x @ rot[:2].T + shift
    res = float(np.sqrt(np.mean(np.sum((fitted - p[fit]) ** 2, 1))) / max(scale, 1e-12))
    return Pose(float(scale), rot, shift, res)


def frontalise(points: np.ndarray, pose: Pose | None = None) -> np.ndarray:
    """(68, 2) points as seen head-on, in template units (:data:`TEMPLATE_3D`'s x, y): each
    point's offset from the template, taken back through the pose within the face's plane."""
    p = np.asarray(points, np.float64)
    pose = pose or fit_pose(p)
    seen = pose.scale * TEMPLATE_3D @ pose.rot[:2].T + pose.shift
    plane = pose.scale * pose.rot[:2, :2]  # how an in-plane offset (dx, dy) shows in the image
    d = np.linalg.solve(plane, (p - seen).T).T
    return TEMPLATE_3D[:, :2] + d
