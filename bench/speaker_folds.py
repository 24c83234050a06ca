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

from talkface.motion.mouthnet import MouthNetConfig, NumpyMouthNet
from talkface.train.export import _best, _ensemble
from talkface.train.mouthnet import calibrate_gain, evaluate_items, load_items, split


def load_model(spec: str) -> tuple[NumpyMouthNet, np.ndarray, float]:
    """(network, motion basis, gain) of a ``train atnet`` run, or of runs joined by ``+``
    built as ``train export --also`` ships them: one network averaging its members, the
    runs' shared basis, the geometric mean of their gains."""
    runs = [Path(r) for r in spec.split("+")]
    a = _best(runs[0])
    if len(runs) > 1:
        sd, cfg, gain = _ensemble(runs[0], a, runs[1:])
    else:
        sd, cfg, gain = a["model"], a["config"], float(a.get("gain", 1.0))
    return NumpyMouthNet.from_state_dict(sd, MouthNetConfig.from_dict(cfg)), np.asarray(a["basis"], np.float32), gain


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
        runs = [Path(r) for r in spec.split("+")]
        held = {tuple(_held(r)) for r in runs}
        if len(held) != 1:
            raise SystemExit(f"{spec}: its runs hold out different speakers ({sorted(held)})")
        name = "+".join(r.name for r in runs)
        net, basis, _ = load_model(spec)
        grid_gain = calibrate_gain(net, basis, grid_held)
        for spk in held.pop():
            its = [i for i in items if i.speaker == spk]
            if not its:
                continue
            res = evaluate_items(net, basis, its, grid_gain)["mean"]
            rows.append({"run": name, "speaker": spk, "clips": len(its), "grid_gain": round(grid_gain, 4),
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
