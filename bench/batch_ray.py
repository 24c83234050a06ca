#!/usr/bin/env python3
"""Benchmark ``talkface batch --ray`` against the local batch: items per minute of one
manifest made by local ``--jobs 1`` and ``--jobs 2`` and by 1 and 2 Ray actors on a local
cluster of this machine's cores (or the cluster at ``--address``).

    python bench/batch_ray.py                          # 12 items of 3 s, --crop --size 256
    python bench/batch_ray.py --items 24 --seconds 5 --repeat 2 --json bench_ray.json
    python bench/batch_ray.py --address HEAD:6379      # an existing cluster (its actors' CPUs as below)

Each run is a fresh ``python -m talkface batch ... --json`` process (interpreter start,
connecting to the cluster, starting the actors and loading the models are counted); the
wall time gives the items per minute. One actor gets every core of the local cluster
(``--ray-cpus N``), as ``--jobs 1`` does; two get half each, as ``--jobs 2``. The videos of
every run are compared with the first run's, byte for byte. The local cluster is started
here (``ray.init``) and ends with this script. Nothing here is a test: it prints figures,
with the machine they were measured on.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def make_job(folder: Path, items: int, seconds: float) -> Path:
    """``items`` rows: the example portrait speaking the first ``seconds`` of the example speech."""
    import imageio_ffmpeg

    shutil.copy(ROOT / "examples" / "astronaut.png", folder / "face.png")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(ROOT / "examples" / "speech.wav"),
                    "-t", str(seconds), str(folder / "speech.wav")], check=True)
    m = folder / "jobs.csv"
    m.write_text("portrait,audio,output\n" + "".join(f"face.png,speech.wav,out/{i:03d}.mp4\n" for i in range(items)))
    return m


def run(manifest: Path, args: list[str], env: dict) -> dict:
    out = manifest.parent / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "talkface", "batch", manifest.name, "--json", "-q", *args],
                       cwd=manifest.parent, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"talkface batch {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    s = json.loads(r.stdout)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(out.iterdir()))).hexdigest()[:16]
    return {"wall_s": round(wall, 2), "batch_s": s["seconds"], "items": s["total"], "ok": s["ok"],
            "items_per_min": round(60 * s["ok"] / wall, 1), "workers": s["jobs"], "videos_sha256": digest}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=3.0, help="speech per item")
    ap.add_argument("--size", default="256", help="--crop --size of the videos ('full': the full portrait)")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="CPUs of the local cluster")
    ap.add_argument("--address", help="an existing Ray cluster (HOST:PORT) instead of a local one")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()

    import logging

    import ray

    env = dict(os.environ)
    if a.address:
        address = a.address
    else:  # a cluster owned by this script; the batch processes connect to it by address
        env["RAY_AUTH_MODE"] = os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(num_cpus=a.cores, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        address = ray.get_runtime_context().gcs_address
    video = [] if a.size == "full" else ["--crop", "--size", a.size]
    half = max(1, a.cores // 2)
    configs = {
        "local --jobs 1": ["--jobs", "1"],
        "local --jobs 2": ["--jobs", "2"],
        "ray, 1 actor": ["--ray", address, "--ray-actors", "1", "--ray-cpus", str(a.cores)],
        "ray, 2 actors": ["--ray", address, "--ray-actors", "2", "--ray-cpus", str(half)],
    }
    results: dict[str, list[dict]] = {k: [] for k in configs}
    with tempfile.TemporaryDirectory(prefix="talkface-bench-ray-") as d:
        manifest = make_job(Path(d), a.items, a.seconds)
        for _ in range(a.repeat):
            for name, args in configs.items():  # interleaved: drift on a shared machine hits each alike
                res = run(manifest, args + video, env)
                results[name].append(res)
                print(f"{name:16s} {res['items_per_min']:6.1f} items/min  wall {res['wall_s']:6.2f} s  "
                      f"(in the batch {res['batch_s']:.2f} s)  videos {res['videos_sha256']}", flush=True)
    if not a.address:
        ray.shutdown()
    digests = {r["videos_sha256"] for rs in results.values() for r in rs}
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "cluster_cpus": a.cores,
                          "python": platform.python_version(), "ray": ray.__version__},
              "items": a.items, "seconds_each": a.seconds, "video": video or ["full portrait"],
              "identical_videos": len(digests) == 1,
              "best_items_per_min": {k: max(r["items_per_min"] for r in rs) for k, rs in results.items()},
              "runs": results}
    print(f"\n{a.items} items of {a.seconds:g} s speech ({' '.join(video) or 'full portrait'}) on "
          f"{report['machine']['cpu']}, {os.cpu_count()} cores; best of {a.repeat}:")
    for k, v in report["best_items_per_min"].items():
        print(f"  {k:16s} {v:6.1f} items/min")
    print(f"  videos byte-identical across runs: {report['identical_videos']}")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
