"""Leave-speakers-out figures of MouthNet runs (docs/lipsync.md): each run trained with
``talkface train atnet ... --holdout-speakers A,B`` is evaluated, landmark level, on the
speakers it never saw, per speaker, against the loudness envelope.

    python bench/speaker_folds.py RUN [RUN ...] --data PREPARED_FOOTAGE --grid PREPARED_GRID_S1 [--json OUT]

A RUN may be several runs of one fold joined by ``+`` (``fold_s0+fold_s1+fold_s2``): their
motion is averaged, as a shipped MouthNet with ``members`` averages its networks, so the
figures and the gain are those of the ensemble.

Prints one row per held-out speaker (clips, open r, loudness r, width r, open amp) and the
mean over speakers; then, per held-out speaker, how much wider they open than the run's
held-out GRID clips do: the gain that gives the speaker their real spread (mean over their
clips) over the gain that gives held-out GRID s1 its real spread (median over its clips, as
``train atnet`` calibrates), and the geometric mean of that over speakers: the factor by which
the shipped gain (fitted on held-out GRID s1) is raised so that unseen speakers' spread comes
out right (per speaker, so that a fold of one short clip weighs no more than a speaker of fifty).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from talkface.motion.articulation import amplitude_ratio, inner_lip_opening, lag_correlation, mouth_width
from talkface.motion.mouthnet import MouthNetConfig, close_mouth, predict_motion
from talkface.speech import phones as P
from talkface.train.common import load_checkpoint
from talkface.train.mouthnet import load_items, split
from talkface.train.networks.mouthnet import MouthNet


class Fold:
    """One run, or several runs of the same fold (``a+b+c``) whose motion is averaged."""

    def __init__(self, spec: str):
        self.runs = [Path(r) for r in spec.split("+")]
        self.name = "+".join(r.name for r in self.runs)
        held = {tuple(_held(r)) for r in self.runs}
        if len(held) != 1:
            raise SystemExit(f"{spec}: its runs hold out different speakers ({sorted(held)})")
        self.held = list(held.pop())
        self.members = []
        for run in self.runs:
            ck = load_checkpoint(run, "best.pt")
            m = MouthNet(MouthNetConfig.from_dict(ck["config"]))
            m.load_state_dict(ck["model"])
            self.members.append((m.eval(), np.asarray(ck["basis"], np.float32)))

    def motion(self, it) -> np.ndarray:
        """The averaged motion at gain 1 (each member through its own PCA basis)."""
        import torch

        with torch.no_grad():
            return np.mean([predict_motion(m, b, it.x, 1.0) for m, b in self.members], 0)

    def points(self, it, motion) -> np.ndarray:
        """The clip's first frame as the portrait, its mouth closed, moved by ``motion``."""
        return (close_mouth(it.norm[0], self.members[0][1]) + motion).reshape(-1, 68, 2)


def _held(run: Path) -> list[str]:
    for line in (run / "log.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("event") == "speakers" and "held_out" in row:
            return row["held_out"]
    return []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="fold runs; several seeds of one fold joined by +")
    ap.add_argument("--data", type=Path, required=True, help="the prepared footage (data prepare --footage)")
    ap.add_argument("--grid", type=Path, required=True,
                    help="the prepared GRID s1 folder the runs trained on (its held-out clips set the reference gain)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    items = load_items([a.data], echo=lambda s: None)
    grid_held = split(load_items([a.grid], echo=lambda s: None))[1]
    rows = []
    for spec in a.runs:
        fold = Fold(spec)
        ratios = [amplitude_ratio(inner_lip_opening(fold.points(it, fold.motion(it))), it.opening) for it in grid_held]
        grid_gain = float(1.0 / np.median([r for r in ratios if r]))
        for spk in fold.held:
            its = [i for i in items if i.speaker == spk]
            if not its:
                continue
            clips = []
            for it in its:
                pts = fold.points(it, grid_gain * fold.motion(it))
                po = inner_lip_opening(pts)
                clips.append({"corr": lag_correlation(po, it.opening), "ratio": amplitude_ratio(po, it.opening),
                              "width": lag_correlation(mouth_width(pts), mouth_width(it.norm.reshape(-1, 68, 2))),
                              "loud": lag_correlation(it.x[:, len(P.PHONES)], it.opening)})
            res = {k: float(np.mean([c[k] for c in clips if c[k] is not None]))
                   for k in ("corr", "ratio", "width", "loud")}
            rows.append({"run": fold.name, "speaker": spk, "clips": len(its), "grid_gain": round(grid_gain, 4),
                         "factor": round(1.0 / res["ratio"], 4), **{k: round(v, 3) for k, v in res.items()}})
    w = max(len(r["run"]) for r in rows) if rows else 3
    print(f"{'run':{w}s} {'speaker':22s} clips  open r  loud r  width r  open amp  factor")
    for r in rows:
        print(f"{r['run']:{w}s} {r['speaker']:22s} {r['clips']:5d}  {r['corr']:+.2f}   {r['loud']:+.2f}   "
              f"{r['width']:+.2f}    {r['ratio']:.2f}     {r['factor']:.3f}")
    if rows:
        m = {k: float(np.mean([r[k] for r in rows])) for k in ("corr", "loud", "width", "ratio")}
        print(f"mean over {len(rows)} speakers: open r {m['corr']:+.2f}, loudness {m['loud']:+.2f}, "
              f"width r {m['width']:+.2f}, open amp {m['ratio']:.2f}")
        gm = float(np.exp(np.mean(np.log([r["factor"] for r in rows]))))
        print(f"geometric mean over speakers of the factor (the shipped gain's): {gm:.3f}")
    if a.json:
        a.json.write_text(json.dumps({"speakers": rows}, indent=1))


if __name__ == "__main__":
    main()
