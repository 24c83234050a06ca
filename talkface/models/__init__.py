"""Networks of ATVG-net: AT-net, VG-net, the discriminator, their configs and the PCA.

The configs and the PCA need no torch; the torch networks (``ATNet``, ``VGNet``,
``Discriminator``) are imported on first use, so that ``talkface.motion.mouthnet`` (numpy
MouthNet inference) and the configs import without torch."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..motion.pca import LandmarkPCA
from .config import CONFIGS, ATNetConfig, DiscriminatorConfig, VGNetConfig, get_config

if TYPE_CHECKING:
    from ..motion.atnet import ATNet
    from ..render.vgnet import VGNet
    from .discriminator import Discriminator

__all__ = ["ATNet", "VGNet", "Discriminator", "ATNetConfig", "VGNetConfig", "DiscriminatorConfig",
           "CONFIGS", "get_config", "LandmarkPCA"]

_TORCH = {"ATNet": "..motion.atnet", "VGNet": "..render.vgnet", "Discriminator": ".discriminator"}


def __getattr__(name: str):
    if name in _TORCH:
        return getattr(importlib.import_module(_TORCH[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
