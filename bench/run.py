#!/usr/bin/env python3
"""Benchmark ``talkface generate`` end to end: real-time factor, time to the first encoded
frame, peak memory of the whole process tree, per-stage seconds, and frames per second.

    python bench/run.py                      # 10 s, 60 s, 600 s of speech, full portrait and --crop 256
    python bench/run.py --lengths 10 --variants crop256 --cores 2 --json bench.json
    python bench/run.py --lengths 10 --variants neural,neural256 --device cuda   # VG-net's fps, GPU
    python bench/run.py --lengths 10 --variants crop256 --weights old,new --repeat 3  # two weight sets, interleaved

Each run is a fresh ``python -m talkface generate ... --json`` process (so interpreter start,
imports and model loading are counted), optionally pinned to ``--cores`` CPUs. Memory is
sampled every 20 ms over the process and all its children (talkface + its ffmpeg encoder),
as the sum of RSS and the sum of PSS (PSS shares pages between processes fairly, so the sum
is not inflated by shared libraries). Speech is ``examples/speech.wav`` repeated to length.
Nothing here is a test: it prints figures, with the machine they were measured on.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "full": [],                          # default settings: the full portrait (512 x 512 here)
    "crop256": ["--crop", "--size", "256"],
    "neural": ["--renderer", "neural"],  # VG-net (batched frames; fp16 on a GPU), pasted into the portrait
    "neural256": ["--renderer", "neural", "--crop", "--size", "256"],
}


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    gpu = None
    if shutil.which("nvidia-smi"):
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
        gpu = r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else None
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "mem_gb": mem, "gpu": gpu, "python": platform.python_version(), "os": platform.platform()}


def make_speech(seconds: float, path: Path, src: Path = ROOT / "examples" / "speech.wav") -> Path:
    with wave.open(str(src)) as w:
        params, data = w.getparams(), w.readframes(w.getnframes())
    frame_bytes = params.sampwidth * params.nchannels
    need = int(seconds * params.framerate) * frame_bytes
    reps = data * (need // len(data) + 1)
    with wave.open(str(path), "wb") as w:
        w.setparams(params)
        w.writeframes(reps[:need])
    return path


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _mem_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class TreeMemory(threading.Thread):
    """Peak summed RSS / PSS of a process and its descendants, sampled every ``every`` s."""

    def __init__(self, pid: int, every: float = 0.02):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_rss = self.peak_pss = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            rss = pss = 0
            for p in _tree(self.pid):
                r, s = _mem_kb(p)
                rss, pss = rss + r, pss + s
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.done.wait(self.every)


def run_one(portrait: Path, speech: Path, seconds: float, variant: str, device: str, cores: int | None,
            workdir: Path, weights: str | None = None) -> dict:
    out = workdir / f"out_{variant}_{int(seconds)}.mp4"
    cmd = [sys.executable, "-m", "talkface", "generate", str(portrait), str(speech), "-o", str(out), "--force",
           "--json", "-q", "--device", device, *VARIANTS[variant], *(["--weights", weights] if weights else [])]
    pre = None
    if cores:
        cpus = sorted(os.sched_getaffinity(0))[:cores]
        pre = lambda: os.sched_setaffinity(0, cpus)  # noqa: E731
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre, cwd=ROOT)
    mon = TreeMemory(proc.pid)
    mon.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    mon.done.set()
    mon.join()
    if proc.returncode != 0:
        raise SystemExit(f"generate failed ({proc.returncode}): {stderr.strip()}")
    r = json.loads(stdout)
    total = r["seconds"]["total"]
    startup = wall - total  # interpreter start + imports before generate() begins
    return {
        "variant": variant, "weights": weights or "default",
        "device": r["device"], "audio_s": r["audio_duration"], "frames": r["frames"],
        "size": r["size"], "renderer": r["renderer"],
        "wall_s": round(wall, 3), "rtf": round(wall / r["audio_duration"], 3),
        "rtf_in_process": round(total / r["audio_duration"], 3),
        "first_frame_s": round(startup + r["first_frame_seconds"], 3),
        "fps": round(r["frames"] / total, 1),
        "peak_rss_mb": round(mon.peak_rss / 1024, 1), "peak_pss_mb": round(mon.peak_pss / 1024, 1),
        "stages": {k: v for k, v in r["seconds"].items() if k != "total"}, "startup_s": round(startup, 3),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", default="10,60,600", help="Seconds of speech, comma separated.")
    ap.add_argument("--variants", default="full,crop256", help=f"Comma separated: {', '.join(VARIANTS)}.")
    ap.add_argument("--portrait", type=Path, default=ROOT / "examples" / "astronaut.png")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda also reports GPU fps).")
    ap.add_argument("--cores", type=int, default=None, help="Pin each run to this many CPUs.")
    ap.add_argument("--warmup", action="store_true", help="One untimed 3 s run first (fills OS file caches).")
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    ap.add_argument("--weights", default="", help="Comma separated weight sets, run in turn (side by side).")
    ap.add_argument("--repeat", type=int, default=1, help="Runs of each (variant, weights), interleaved.")
    a = ap.parse_args(argv)

    info = machine()
    if a.cores:
        info["cores_used"] = min(a.cores, info["cores"])
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        if a.warmup:
            run_one(a.portrait, make_speech(3, td / "w.wav"), 3, "crop256", a.device, a.cores, td)
        for seconds in [float(x) for x in a.lengths.split(",") if x]:
            speech = make_speech(seconds, td / f"speech_{int(seconds)}.wav")
            runs = [(v, w) for _ in range(a.repeat) for v in [x for x in a.variants.split(",") if x]
                    for w in ([x for x in a.weights.split(",") if x] or [None])]
            for v, w in runs:
                r = run_one(a.portrait, speech, seconds, v, a.device, a.cores, td, w)
                rows.append(r)
                st = r["stages"]
                print(f"{v:>8} {r['weights'][:24]:>24} {r['audio_s']:7.1f} s audio  {r['size'][0]}x{r['size'][1]}  "
                      f"wall {r['wall_s']:7.2f} s  "
                      f"RTF {r['rtf']:.3f} (in-process {r['rtf_in_process']:.3f})  "
                      f"first frame {r['first_frame_s']:.2f} s  "
                      f"{r['fps']:6.1f} fps  peak RSS {r['peak_rss_mb']:.0f} MB / PSS {r['peak_pss_mb']:.0f} MB  | "
                      + " ".join(f"{k} {v:.2f}" for k, v in st.items()) + f" startup {r['startup_s']:.2f}",
                      flush=True)
    if a.json:
        a.json.write_text(json.dumps({"machine": info, "runs": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
