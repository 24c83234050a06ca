"""``--device``: auto, cpu, cuda or cuda:N, checked against this machine."""
from __future__ import annotations

from .errors import InputError


def wants_gpu(device: str | None) -> bool:
    """``device`` asks for a GPU by name (``cuda``, ``cuda:N``): it is checked, and used,
    whatever runs; ``auto`` and ``cpu`` are not. InputError (exit 2) for an unknown name.
    Imports nothing."""
    if device in (None, "auto", "cpu"):
        return False
    if device.startswith("cuda"):
        return True
    raise InputError(f"--device {device}: unknown device; use auto, cpu, cuda or cuda:N")


def resolve_device(device: str | None = "auto") -> str:
    """``cpu`` or ``cuda:N`` for ``device`` (``auto``: the first GPU when there is one);
    InputError (exit 2) for a GPU this machine lacks or an unknown name. Imports torch,
    except for ``cpu``; ``auto`` is ``cpu`` where torch is not installed, and a GPU by name
    says that it needs PyTorch (:mod:`talkface.runtime.torch_needed`)."""
    from .torch_needed import optional_torch, require_torch

    gpu = wants_gpu(device)  # an unknown name fails before torch is imported
    if device == "cpu":
        return "cpu"
    if not gpu:  # auto
        torch = optional_torch()
        return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
    torch = require_torch(f"--device {device}")
    if not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
    idx = device.split(":", 1)[1] if ":" in device else "0"  # type: ignore[union-attr,operator]  # a GPU by name
    if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
        raise InputError(f"--device {device}: no such GPU (found {torch.cuda.device_count()}); use cuda:0")
    return f"cuda:{idx}"


def detector_device(device: str | None = "auto", detector: str = "auto", landmarks=None) -> str:
    """The device face detection runs on: :func:`resolve_device` when face-alignment may
    run or a GPU was asked for by name, else ``cpu`` (no torch: dlib, Face Mesh)."""
    from ..face.detectors import detection_needs_torch

    return resolve_device(device) if wants_gpu(device) or detection_needs_torch(detector, landmarks) else "cpu"
