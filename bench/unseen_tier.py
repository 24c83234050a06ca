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

from speaker_folds import load_model  # bench/: run as python bench/unseen_tier.py
from talkface.train.data import tier
from talkface.train.mouthnet import evaluate_items, load_items


def _model(name: str):
    """(network, basis, gain) of a weights set or of runs (joined by +)."""
    if Path(name.split("+")[0]).is_dir():
        return load_model(name)
    from talkface import weights as W

    net = W.load(name).atnet
    return net, np.asarray(net.basis, np.float32), float(net.gain)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="weights names or run folders (a+b: an ensemble)")
    ap.add_argument("--data", type=Path, required=True, help="prepared footage (data prepare --footage)")
    ap.add_argument("--tier", default="research", help="the clips' first folder in av_train (default: research)")
    a = ap.parse_args(argv)
    items = [i for i in load_items([a.data], echo=lambda s: None) if i.footage and tier(i.name) == a.tier]
    if not items:
        raise SystemExit(f"{a.data}: no prepared clips of tier {a.tier!r}")
    print(f"{len(items)} clips, {len({i.speaker for i in items})} speakers")
    for name in a.models:
        by: dict[str, list] = {}
        net, basis, gain = _model(name)
        for row in evaluate_items(net, basis, items, gain)["clips"]:
            by.setdefault(row["speaker"], []).append(row)
        mean = {k: float(np.mean([np.mean([c[k] for c in v]) for v in by.values()])) for k in ("corr", "loud")}
        amp = [float(np.exp(np.mean(np.log([c["ratio"] for c in v if c["ratio"]])))) for v in by.values()]
        print(f"{name}: open r {mean['corr']:+.3f} (loudness envelope {mean['loud']:+.3f}), open amp median "
              f"{np.median(amp):.2f} (speakers' range {min(amp):.2f}-{max(amp):.2f})")


if __name__ == "__main__":
    main()
