"""face-alignment 1.5.0 (S3FD + 2D-FAN), on torch: used only when its weights are already
in the torch hub cache (it cannot download them offline)."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ...runtime.errors import InputError
from .base import Detector, Face


def _torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch (0.9 s): $TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub."""
    import sys

    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir())
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(home) / "hub"


def fan_weights_present() -> bool:
    try:
        ck = _torch_hub_dir() / "checkpoints"
        names = [p.name for p in ck.iterdir()] if ck.is_dir() else []
    except Exception:
        return False
    return any(n.startswith("2DFAN4") for n in names) and any(n.startswith("s3fd") for n in names)


def fan_available() -> bool:
    if not fan_weights_present():  # checked first: importing face_alignment imports torch
        return False
    try:
        import face_alignment  # noqa: F401
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=2)
def _fan_model(device: str):
    import face_alignment

    return face_alignment.FaceAlignment(
        face_alignment.LandmarksType.TWO_D, device=device, flip_input=False,
        compile=(device != "cpu"))


def _detect_fan(image: np.ndarray, device: str = "cpu") -> list[Face]:
    fa = _fan_model(device)
    res = fa.get_landmarks_from_image(image, return_bboxes=True)
    if res is None or res[0] is None:
        return []
    pts_list, _, boxes = res[0], res[1], res[2]
    faces = []
    for pts, b in zip(pts_list, boxes):
        x0, y0, x1, y1 = [float(v) for v in b[:4]]
        score = float(b[4]) if len(b) > 4 else 1.0
        faces.append(Face((x0, y0, x1 - x0, y1 - y0), score, np.asarray(pts, np.float32)[:, :2], "fan"))
    return faces


class FanDetector(Detector):
    name = "fan"
    needs_torch = True

    def installed(self) -> bool:
        """Its weights are in the torch hub cache (face_alignment is not imported: that
        imports torch)."""
        return fan_weights_present()

    def load(self) -> bool:
        return fan_available()

    def check(self, usable: list[str]) -> None:
        if "fan" not in usable:
            from ...runtime.torch_needed import require_torch

            require_torch("--detector fan (face-alignment)")
            raise InputError("detector 'fan' needs face-alignment 1.5.0 and its weights in the torch hub "
                             "cache; use --detector dlib")

    def detect(self, image: np.ndarray, device: str = "cpu") -> list[Face]:
        return _detect_fan(image, device)
