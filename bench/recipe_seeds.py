"""MouthNet recipes compared over seeds (docs/lipsync.md, "How far the validation figures can
be trusted"): each variant is trained once per seed on the same data (loaded and decoded
once for all of them), and its landmark-level figures on the validation folders are printed
per seed and as the mean over seeds. One seed's figures move by several hundredths; compare
means.

    python bench/recipe_seeds.py --data DATA_S1 DATA_AV --val DATA_S2 DATA_S3 DATA_REAL \\
        --tiers open --seeds 0 1 2 --variant shipped '{}' --variant rate20 '{"stretch": 0.2}' \\
        --out runs/seeds [--json OUT]

A variant is a name and the keyword arguments it gives ``talkface.train.mouthnet.train``
(steps, stretch, window_context, lookahead, ccc_weight, ...). Runs go to OUT/NAME_sSEED;
one already finished (its best.pt written) is read, not trained again.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np

import talkface.train.mouthnet as M

FIGURES = ("corr", "width")


def _cached_loader():
    """load_items that decodes each folder once for every run of this process; each run gets
    its own copy of the items (training rescales them, and ``bands=False`` zeroes features in
    place)."""
    cache: dict[tuple[str, ...], list] = {}
    load = M.load_items

    def cached(dirs, echo=print):
        key = tuple(str(d) for d in dirs)
        if key not in cache:
            cache[key] = load(dirs, echo)
        return copy.deepcopy(cache[key])

    return cached


def _final(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("event") == "final"][-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", required=True, help="prepared training folders")
    ap.add_argument("--val", nargs="*", default=[], help="prepared validation folders")
    ap.add_argument("--tiers", nargs="*", default=None, help="footage tiers to train on (default: all)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "JSON"), required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    M.load_items = _cached_loader()  # type: ignore[assignment]
    sets = ["heldout"] + [Path(v).name for v in a.val]
    table = {}
    for name, kw in a.variant:
        kwargs = json.loads(kw)
        per_seed = {}
        for seed in a.seeds:
            run = a.out / f"{name}_s{seed}"
            if not (run / "best.pt").exists():
                M.train(a.data, run, val_dirs=a.val, seed=seed, tiers=a.tiers, threads=2,
                        echo=lambda *_a, **_k: None, **kwargs)
            fin = _final(run)
            per_seed[seed] = {f"{s}_{f}": fin.get(f"{s}_{f}") for s in sets for f in FIGURES}
            print(name, f"seed {seed}", " ".join(f"{k} {v:+.3f}" for k, v in per_seed[seed].items()
                                                 if v is not None), flush=True)
        keys = per_seed[a.seeds[0]].keys()
        table[name] = {"seeds": per_seed,
                       "mean": {k: float(np.mean([s[k] for s in per_seed.values() if s[k] is not None]))
                                for k in keys if any(s[k] is not None for s in per_seed.values())}}
    print()
    cols = [f"{s}_corr" for s in sets]
    print("variant".ljust(16) + "".join(c.removesuffix("_corr").rjust(12) for c in cols) + "   (open r, mean of seeds)")
    for name, t in table.items():
        print(name.ljust(16) + "".join(f"{t['mean'].get(c, float('nan')):+12.3f}" for c in cols))
    if a.json:
        a.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
