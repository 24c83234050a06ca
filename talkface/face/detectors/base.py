"""A found face, and what every face detector is (the registry: ``talkface.face.detectors``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in image pixels
    score: float
    points: np.ndarray  # (68, 2) float, image pixels
    detector: str = "dlib"
    attempt: str = "original"

    def to_json(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in self.points],
        }


class Detector:
    """One face detector, found by name in :data:`talkface.face.detectors.REGISTRY` (as
    face-alignment loads its ``FaceDetector`` by name). Nothing heavy is imported until
    :meth:`load` or :meth:`detect`: the detector chain loads each only when it gets to it."""

    name = ""
    needs_torch = False  # runs on torch (face-alignment): on --device, never in a forked helper

    def installed(self) -> bool:
        """It can run here, found without loading it."""
        raise NotImplementedError

    def load(self) -> bool:
        """Loaded now (kept for the process); False where it cannot be."""
        raise NotImplementedError

    def loaded(self) -> bool:
        """This process has loaded it already (it is then quick here)."""
        return False

    def check(self, usable: list[str]) -> None:
        """Asked for by name (``--detector NAME``): the one-line error where it cannot run here
        (``usable``: :func:`~talkface.face.detectors.usable_detectors` ``(load=False)``)."""

    def detect(self, image: np.ndarray, device: str = "cpu") -> list[Face]:
        """Faces in ``image`` (RGB uint8), in any order; empty where there is none."""
        raise NotImplementedError


def package_has(package: str, *parts: str) -> bool:
    """Whether the installed ``package`` holds the file ``parts`` (a path inside it),
    found without importing the package."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return False
    locations = (spec.submodule_search_locations or []) if spec is not None else []
    return any(Path(d).joinpath(*parts).exists() for d in locations)


def shrink(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """(``image`` at most ``side`` px a side (INTER_AREA; itself when it fits), the scale)."""
    import cv2

    h, w = image.shape[:2]
    s = min(1.0, side / max(h, w))
    if s >= 1:
        return image, s
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / max(aw * ah + bw * bh - inter, 1e-9)
