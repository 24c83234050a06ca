"""PyTorch is optional (``pip install "talkface[torch]"``): the default path (MouthNet in
numpy, the warp renderer, dlib or Face Mesh) never imports it. What needs it (VG-net,
``--renderer neural``; the authors' AT-net weights; ``weights import-atvgnet``;
``talkface train``; the face-alignment detector; ``--device cuda``) calls
:func:`require_torch` where torch is first needed, which says so in one line (exit 2, as
for any option whose package is missing) when it is not installed."""
from __future__ import annotations

from types import ModuleType

from .errors import missing


def optional_torch() -> ModuleType | None:
    """torch, imported now, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def require_torch(what: str) -> ModuleType:
    """torch, imported now; :class:`TorchMissing` naming ``what`` when it is not installed."""
    torch = optional_torch()
    if torch is None:
        raise missing(what)
    return torch


def torch_available() -> bool:
    """torch can be imported, found without importing it (when not imported already)."""
    import importlib.util
    import sys

    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False
