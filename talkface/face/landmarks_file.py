"""The 68-point JSON of ``talkface landmarks`` and ``--landmarks FILE``: read and written here.

    {"image": ..., "width": W, "height": H,
     "faces": [{"box": [x, y, w, h], "score": s, "points": [[x, y] * 68], ...}]}

Points are in the image's own pixels; only ``points`` is required when reading.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from .detect import Face


def read_landmarks_json(path) -> list[Face]:
    """The faces of a landmarks file (detector "file"); InputError (exit 2) saying what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such landmarks file; give a JSON written by talkface landmarks")
    try:
        d = json.loads(p.read_text())
        faces = []
        for f in d["faces"]:
            pts = np.asarray(f["points"], np.float32)
            if pts.shape != (68, 2) or not np.isfinite(pts).all():
                raise ValueError("points must be 68 [x, y] pairs")
            box = f.get("box") or [*pts.min(0), *(pts.max(0) - pts.min(0))]
            faces.append(Face(tuple(float(v) for v in box), float(f.get("score", 1.0)), pts, "file", "file"))
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{p}: not a talkface landmarks JSON ({e}); see talkface landmarks --help for the schema")
    if not faces:
        raise InputError(f"{p}: holds no faces; add one face with 68 points")
    return faces


def landmarks_json(image_path, image: np.ndarray, faces: list[Face]) -> dict:
    """The landmarks file's object for ``faces`` of ``image``."""
    h, w = image.shape[:2]
    return {"image": str(image_path), "width": int(w), "height": int(h), "faces": [f.to_json() for f in faces]}
