"""``--device``: auto, cpu, cuda or cuda:N, checked against this machine."""
from __future__ import annotations

from .errors import InputError


def resolve_device(device: str | None = "auto") -> str:
    """``cpu`` or ``cuda:N`` for ``device`` (``auto``: the first GPU when there is one);
    InputError (exit 2) for a GPU this machine lacks or an unknown name. Imports torch."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available on this machine; use --device cpu or auto")
        idx = device.split(":", 1)[1] if ":" in device else "0"
        if not idx.isdigit() or int(idx) >= torch.cuda.device_count():
            raise InputError(f"--device {device}: no such GPU (found {torch.cuda.device_count()}); use cuda:0")
        return f"cuda:{idx}"
    raise InputError(f"--device {device}: unknown device; use auto, cpu, cuda or cuda:N")
