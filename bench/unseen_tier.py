"""Landmark-level lip sync of MouthNet weights or runs on prepared footage they never trained on
(docs/lipsync.md): av_train's ``research/`` clips for models that learnt from ``open/`` only,
27 speakers the shipped default never saw. Per speaker (a speaker's clips averaged, so the
three clips of one person weigh as one): open r against dlib's points on the real frames, the
loudness envelope's r, and the open amp at the model's own gain; then the means over speakers.

    python bench/unseen_tier.py --data PREPARED_AV --tier research talkface-open runs/a_s0 runs/a_s0+runs/a_s1

A name is a weights set (``talkface weights list``) or a ``train atnet`` run folder; runs joined
by ``+`` are averaged as an ensemble (their geometric-mean gain), as ``train export --also`` ships them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from talkface.motion.articulation import amplitude_ratio, inner_lip_opening, lag_correlation
from talkface.motion.mouthnet import MouthNetConfig, close_mouth, predict_motion
from talkface.speech import phones as P
from talkface.train.mouthnet import load_items


def _members(name: str) -> tuple[list, float]:
    """[(model, basis)], gain of a weights set or of runs joined by +."""
    if not Path(name.split("+")[0]).is_dir():
        from talkface import weights as W

        net = W.load(name).atnet
        return [(net, np.asarray(net.basis, np.float32))], float(net.gain)
    from talkface.train.common import load_checkpoint
    from talkface.train.networks.mouthnet import MouthNet

    out, gains = [], []
    for run in name.split("+"):
        ck = load_checkpoint(Path(run), "best.pt")
        m = MouthNet(MouthNetConfig.from_dict(ck["config"]))
        m.load_state_dict(ck["model"])
        out.append((m.eval(), np.asarray(ck["basis"], np.float32)))
        gains.append(float(ck.get("gain", 1.0)))
    return out, float(np.exp(np.mean(np.log(gains))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="weights names or run folders (a+b: an ensemble)")
    ap.add_argument("--data", type=Path, required=True, help="prepared footage (data prepare --footage)")
    ap.add_argument("--tier", default="research", help="the clips' first folder in av_train (default: research)")
    a = ap.parse_args(argv)
    items = [i for i in load_items([a.data], echo=lambda s: None) if i.footage and i.name.split("__")[0] == a.tier]
    if not items:
        raise SystemExit(f"{a.data}: no prepared clips of tier {a.tier!r}")
    loud: dict[str, list] = {}
    for it in items:
        loud.setdefault(it.speaker, []).append(lag_correlation(it.x[:, len(P.PHONES)], it.opening))
    print(f"{len(items)} clips, {len(loud)} speakers; loudness envelope: open r "
          f"{np.mean([np.mean(v) for v in loud.values()]):+.3f}")
    import torch

    for name in a.models:
        members, gain = _members(name)
        by: dict[str, list] = {}
        for it in items:
            with torch.no_grad():
                mo = np.mean([predict_motion(m, b, it.x, gain) for m, b in members], 0)
            po = inner_lip_opening((close_mouth(it.norm[0], members[0][1]) + mo).reshape(-1, 68, 2))
            by.setdefault(it.speaker, []).append((lag_correlation(po, it.opening), amplitude_ratio(po, it.opening)))
        r = [np.mean([c for c, _ in v]) for v in by.values()]
        amp = [float(np.exp(np.mean(np.log([x for _, x in v if x])))) for v in by.values()]
        print(f"{name}: open r {np.mean(r):+.3f}, open amp median {np.median(amp):.2f} "
              f"(speakers' range {min(amp):.2f}-{max(amp):.2f})")


if __name__ == "__main__":
    main()
