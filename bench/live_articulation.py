"""Articulation of a MouthNet run live: the open r (and width r) of its mouth against the real
one on prepared validation clips, with the offline features and gate (what training's val
rows report) and as ``talkface live`` runs it (features streamed: incremental phones,
running loudness statistics; the motion emitted at the stream's frontier with the live
gate). Landmark level, as ``talkface train atnet`` validates.

    python bench/live_articulation.py --weights talkface-open --weights talkface-live \\
        /work/data/s2 /work/data/s3 /work/data/real_val [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from talkface import weights as W  # noqa: E402
from talkface.live.features import LiveFeatures  # noqa: E402
from talkface.live.motion import LiveMotion  # noqa: E402
from talkface.motion.articulation import inner_lip_opening, lag_correlation, mouth_width  # noqa: E402
from talkface.motion.mouthnet import close_mouth, predict_motion  # noqa: E402


def live_motion(net, basis, gain, wav: np.ndarray, chunk: int = 320) -> np.ndarray:
    """The motion a live stream emits for ``wav`` (int16, 16 kHz) pushed ``chunk`` samples at a time."""
    feats, lm = LiveFeatures(), LiveMotion(net, basis, gain)
    out, done = [], 0
    for s in range(0, wav.size, chunk):
        feats.push(wav[s: s + chunk])
        r = lm.ready(feats.n, False)
        if r > done:
            out.append(lm.motion(feats, done, r))
            done = r
    feats.end()
    r = lm.ready(feats.n, True)
    if r > done:
        out.append(lm.motion(feats, done, r))
    return np.concatenate(out)


def scores(motion, it, basis) -> dict:
    n = min(len(motion), it.n)
    pts = (close_mouth(it.norm[0], basis) + motion[:n]).reshape(-1, 68, 2)
    real = it.norm[:n].reshape(-1, 68, 2)
    return {"open": lag_correlation(inner_lip_opening(pts), it.opening[:n]),
            "width": lag_correlation(mouth_width(pts), mouth_width(real))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="prepared clip folders (talkface data prepare)")
    ap.add_argument("--weights", action="append", default=[], help="weights names (repeat)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    from talkface.train.mouthnet import load_items

    rows = {}
    for name in a.weights or ["default"]:
        w = W.load(name)
        net, basis, gain = w.atnet, w.atnet.basis, w.atnet.gain
        rows[name] = {"lookahead": net.cfg.future, "latency_frames": LiveMotion(net, basis, gain).latency_frames}
        for folder in a.folders:
            res = {"offline": [], "live": []}
            for it in load_items([folder], echo=lambda s: None):
                res["offline"].append(scores(predict_motion(net, basis, it.x, gain), it, basis))
                wav = np.load(Path(folder) / it.name / "meta.npz")["wav"]
                res["live"].append(scores(live_motion(net, basis, gain, np.asarray(wav, np.int16)), it, basis))
            rows[name][folder.name] = {k: {m: round(float(np.nanmean([r[m] for r in v if r[m] is not None])), 4)
                                           for m in ("open", "width")} for k, v in res.items()}
            print(name, folder.name, rows[name][folder.name], flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
