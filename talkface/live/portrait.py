"""What a live stream loads once: the weights (MouthNet, numpy), the portrait, its face and
the warp renderer, and the mapping from the network's motion to the picture's points."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..face.align import align
from ..face.find import candidate_faces, choose_face
from ..face.image import fit_image, fit_scale, load_image
from ..face.shape import from_norm, to_norm
from ..motion.articulation import inner_lip_opening
from ..motion.idle import rest_eyes
from ..runtime.errors import InputError
from .motion import rest_points

LIVE_WEIGHTS = "talkface-live"  # the shipped live model (look-ahead 2 frames), when installed


def default_weights() -> str:
    """The live model's weights when they are installed, else the default set."""
    from .. import weights as W
    from ..runtime.errors import WeightsError

    try:
        W.locate(LIVE_WEIGHTS)
        return LIVE_WEIGHTS
    except WeightsError:
        return "default"


class LivePortrait:
    """``portrait`` ready to be animated live: ``size`` px aligned crop (``crop``, the
    default) or the whole portrait shrunk to ``max_size``; ``weights`` a MouthNet set
    (``None``: the live model when installed, else the default); ``detector``,
    ``landmarks``, ``face_index`` as for ``talkface generate``; ``blink``: blinks."""

    def __init__(self, portrait, *, weights: str | None = None, size: int = 256, crop: bool = True,
                 max_size: int = 1024, detector: str = "auto", landmarks=None, face_index: int | None = None,
                 blink: bool = True, tf=None):
        from ..api import TalkingFace

        if crop and (size < 32 or size > 2048 or size % 2):
            raise InputError(f"--size {size}: must be an even number between 32 and 2048")
        tf = tf or TalkingFace(weights or default_weights(), "cpu")
        if not tf.atnet_kind.speech:
            raise InputError(f"weights {tf.weights_name!r}: live needs MouthNet weights (speech features; "
                             "see talkface weights list), not the MFCC AT-net")
        wts = tf.weights
        self.weights_name = wts.name
        self.net, self.basis, self.gain = wts.atnet, np.asarray(wts.atnet.basis, np.float32), float(wts.atnet.gain)
        self.blink = blink
        full = load_image(portrait)
        img, scale = fit_image(full, max_size), fit_scale(full.shape, max_size)
        del full
        self.face = choose_face(candidate_faces(img, portrait, detector, landmarks, "cpu", scale), portrait,
                                face_index)
        self.crop_size = int(wts.pipeline.get("crop_size", 128))
        zoom = float(wts.pipeline.get("zoom", 1.0))
        al = align(self.face.points, self.crop_size, zoom)
        ref_norm = to_norm(al.to_crop(self.face.points), self.crop_size).reshape(-1)
        if crop:
            out = align(self.face.points, size, zoom)
            base = out.warp(img)
            self._to_px = lambda p: out.to_crop(al.to_image(p))
        else:  # even sides: y4m and H.264 take 4:2:0
            base = np.ascontiguousarray(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])
            self._to_px = al.to_image
        self.rest = np.asarray(self._to_px(al.to_crop(self.face.points)), np.float32)
        self._ref = rest_points(ref_norm, self.basis)
        self.height, self.width = base.shape[:2]
        from ..render.warp import WarpRenderer

        self.renderer = WarpRenderer(base, self.rest)
        self.still = base
        self._phones: Any = None  # a recogniser made ahead for the first stream

    def take_phones(self):
        """A phone decoder made ahead of the first stream (None after that one)."""
        p, self._phones = self._phones, None
        return p

    def warm(self):
        """Make the first stream's phone decoder now (about 0.3 s), so it starts at once."""
        from .features import LivePhones

        if self._phones is None:
            self._phones = LivePhones()
        return self

    def points(self, motion: np.ndarray) -> np.ndarray:
        """(k, 68, 2) picture points of (k, 136) motion."""
        m = np.asarray(motion, np.float32)
        pts = from_norm(self._ref + m, self.crop_size).reshape(-1, 2)
        out = np.asarray(self._to_px(pts), np.float32).reshape(-1, 68, 2)
        return np.stack([rest_eyes(p, self.rest) for p in out])

    def render(self, points: np.ndarray) -> np.ndarray:
        return self.renderer.frame(points)

    @staticmethod
    def opening(points: np.ndarray) -> float:
        return float(inner_lip_opening(points))
