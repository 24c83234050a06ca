"""Leave-speakers-out figures of MouthNet runs (docs/lipsync.md): each run trained with
``talkface train atnet ... --holdout-speakers A,B`` is evaluated, landmark level, on the
speakers it never saw, per speaker, against the loudness envelope.

    python bench/speaker_folds.py RUN [RUN ...] --data PREPARED_FOOTAGE [--json OUT]

Prints one row per held-out speaker (clips, open r, loudness r, width r, open amp) and the
mean over speakers; then, per run, how much wider unseen speakers open than the model's
held-out GRID clips do (the gain calibrated on the held-out speakers over the gain that fits
held-out GRID s1), its geometric mean over runs, and the same per held-out speaker with its
geometric mean over speakers: the factor by which the shipped gain (fitted on held-out GRID
s1) is raised so that unseen speakers' spread comes out right (per speaker, so that a fold of
one short clip weighs no more than a speaker of fifty).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from talkface.motion.mouthnet import MouthNetConfig
from talkface.train.common import load_checkpoint
from talkface.train.mouthnet import evaluate_items, load_items
from talkface.train.networks.mouthnet import MouthNet


def _model(run: Path):
    ck = load_checkpoint(run, "best.pt")
    m = MouthNet(MouthNetConfig.from_dict(ck["config"]))
    m.load_state_dict(ck["model"])
    return m.eval(), np.asarray(ck["basis"], np.float32), float(ck.get("gain", 1.0))


def _held(run: Path) -> list[str]:
    for line in (run / "log.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("event") == "speakers" and "held_out" in row:
            return row["held_out"]
    return []


def _spread_factor(run: Path) -> float | None:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    val = [r for r in rows if r.get("event") == "val" and r.get("heldout_ratio")]
    gain = [r["gain"] for r in rows if r.get("event") == "gain"]
    return gain[0] * val[-1]["heldout_ratio"] if val and gain else None


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    items = load_items([a.data], echo=lambda s: None)
    rows = []
    for run in a.runs:
        model, basis, gain = _model(run)
        for spk in _held(run):
            its = [i for i in items if i.speaker == spk]
            if not its:
                continue
            res = evaluate_items(model, basis, its, gain)["mean"]
            rows.append({"run": run.name, "speaker": spk, "clips": len(its),
                         **{k: round(v, 3) for k, v in res.items()}})
    print(f"{'run':14s} {'speaker':22s} clips  open r  loud r  width r  open amp")
    for r in rows:
        print(f"{r['run']:14s} {r['speaker']:22s} {r['clips']:5d}  {r['corr']:+.2f}   {r['loud']:+.2f}   "
              f"{r['width']:+.2f}    {r['ratio']:.2f}")
    if rows:
        m = {k: float(np.mean([r[k] for r in rows])) for k in ("corr", "loud", "width", "ratio")}
        print(f"mean over {len(rows)} speakers: open r {m['corr']:+.2f}, loudness {m['loud']:+.2f}, "
              f"width r {m['width']:+.2f}, open amp {m['ratio']:.2f}")
    factors = {run.name: _spread_factor(run) for run in a.runs}
    for name, f in factors.items():
        print(f"{name}: unseen speakers' gain / held-out GRID s1's gain = {f:.3f}" if f else f"{name}: -")
    ok = [f for f in factors.values() if f]
    if ok:
        print(f"geometric mean over runs: {float(np.exp(np.mean(np.log(ok)))):.3f}")
    # per speaker: the factor that gives this speaker their real spread (a run's factor over the
    # speaker's open amp at the run's gain), one vote each however the folds group them
    per = {r["speaker"]: factors[r["run"]] / r["ratio"] for r in rows if factors.get(r["run"]) and r["ratio"]}
    if per:
        print("per speaker: " + ", ".join(f"{k} {v:.2f}" for k, v in per.items()))
        gm = float(np.exp(np.mean(np.log(list(per.values())))))
        print(f"geometric mean over speakers (the shipped gain's factor): {gm:.3f}")
    if a.json:
        a.json.write_text(json.dumps({"speakers": rows, "spread_factor": factors, "speaker_factor": per}, indent=1))


if __name__ == "__main__":
    main()
