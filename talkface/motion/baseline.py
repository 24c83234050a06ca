"""The loudness baseline of the lip-sync check (numpy, no torch): the reference landmarks
with the mouth opened by the audio loudness through least-squares coefficients fitted on
the training clips (``train atnet``; read by ``talkface evaluate``)."""
from __future__ import annotations

import numpy as np

from ..face.groups import MOUTH


def loudness_baseline(coef, ref_norm, loud):
    l = (loud - loud.mean()) / max(loud.std(), 1e-3)  # noqa: E741
    out = np.repeat(ref_norm[None], len(l), 0).reshape(len(l), 68, 2).copy()
    out[:, MOUTH] += (np.stack([np.ones_like(l), l], 1) @ coef).reshape(len(l), 20, 2)
    return out.reshape(len(l), -1)
