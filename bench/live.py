"""talkface live, measured (issue 25): latency from an audio sample in to the first frame
that shows it (p50, p95), sustained fps, frames dropped, RSS over time.

For each ``--sizes`` (the aligned face crop's side) one in-process stream of the shipped
live weights: a thread pushes ``--audio`` (repeated to ``--seconds``) in 20 ms pieces at
real time, as a microphone or a TTS would; the main thread reads every frame as it comes
(a reader that keeps up, the API's default drop mode). Latency of a piece = the time its
frame (the one holding the piece's first sample) was read minus the time the piece was
pushed. Then the same audio pushed as fast as it goes (``--capacity`` seconds of it, lossless
mode): the frames per second the machine can make. RSS is sampled every 5 s.

    python bench/live.py --seconds 120 --sizes 256,512 [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from talkface.live import LiveFace  # noqa: E402
from talkface.live.features import HOP  # noqa: E402
from talkface.speech import audio as A  # noqa: E402

PIECE = 320  # samples: 20 ms at 16 kHz


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def realtime_run(face, pcm: np.ndarray) -> dict:
    # the bench's own records preallocated, so that they do not show as the stream's memory
    pushed = np.full(-(-pcm.size // PIECE), np.nan)  # push time of each piece
    got = np.full(-(-pcm.size // HOP), np.nan)  # read time of each frame
    rss = [(0.0, rss_mb())]
    t0, c0 = time.monotonic(), time.process_time()
    s = face.stream()

    def feed():
        for k, a in enumerate(range(0, pcm.size, PIECE)):
            wait = t0 + k * PIECE / 16000 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            pushed[k] = time.monotonic()
            s.push(pcm[a: a + PIECE])
        s.end()

    th = threading.Thread(target=feed, daemon=True)
    th.start()
    next_rss = t0 + 5
    while True:
        f = s.get()
        if f is None:
            break
        got[f.index] = time.monotonic()
        if time.monotonic() >= next_rss:
            rss.append((round(time.monotonic() - t0, 1), rss_mb()))
            next_rss += 5
    th.join()
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    s.close()
    frame_of = np.arange(pushed.size) * PIECE // HOP  # the frame holding each piece's first sample
    lat = (got[frame_of] - pushed) * 1000
    lat = lat[np.isfinite(lat)]
    idx = np.nonzero(np.isfinite(got))[0]
    times = got[idx]
    late = times[idx >= 250] - (t0 + (idx[idx >= 250] + 1) / 25.0)  # after the first 10 s: frame i due at (i+1)/25
    steady = [m for t, m in rss if t >= 60] or [m for _, m in rss]
    return {"audio_seconds": round(pcm.size / 16000, 1), "wall_seconds": round(wall, 1), "frames": len(idx),
            "dropped": s.dropped, "cpu_ms_per_frame": round(cpu / max(1, len(idx)) * 1000, 2),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
            "latency_ms_max": round(float(lat.max()), 1),
            "fps_sustained": round((len(idx) - 1) / (times[-1] - times[0]), 2),
            "behind_real_time_ms_p95": round(float(np.percentile(late, 95)) * 1000, 1) if late.size else None,
            "rss_mb_start": round(rss[0][1], 1), "rss_mb_max": round(max(m for _, m in rss), 1),
            "rss_mb_end": round(rss[-1][1], 1),
            "rss_mb_per_min_after_1min": round((steady[-1] - steady[0]) / max(1e-9, (len(steady) - 1) * 5 / 60), 2)
            if len(steady) > 1 else 0.0, "rss_mb": rss}


def capacity_run(face, pcm: np.ndarray) -> dict:
    t0, c0 = time.monotonic(), time.process_time()
    s = face.stream(drop=False)

    def feed():
        for a in range(0, pcm.size, 16000):
            s.push(pcm[a: a + 16000])
        s.end()

    th = threading.Thread(target=feed, daemon=True)
    th.start()
    n = sum(1 for _ in s.frames())
    th.join()
    s.close()
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    return {"capacity_cpu_ms_per_frame": round(cpu / max(1, n) * 1000, 2), "capacity_frames": n,
            "capacity_wall_seconds": round(wall, 2), "fps_max": round(n / wall, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--portrait", type=Path, default=ROOT / "examples" / "astronaut.png")
    ap.add_argument("--audio", type=Path, default=ROOT / "examples" / "speech.wav")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--seconds", type=float, default=120.0, help="real-time run per size (seconds of audio)")
    ap.add_argument("--capacity", type=float, default=30.0, help="seconds of audio pushed at once per size")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    wav = A.load_audio_int16(a.audio)
    out = {"cpu": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "load_before": os.getloadavg(), "runs": {}}
    for size in [int(x) for x in a.sizes.split(",")]:
        t = time.monotonic()
        face = LiveFace(a.portrait, weights=a.weights, size=size).warm()
        load = time.monotonic() - t
        rt = realtime_run(face, np.tile(wav, int(np.ceil(a.seconds * 16000 / wav.size)))[: int(a.seconds * 16000)])
        cap = capacity_run(face, np.tile(wav, int(np.ceil(a.capacity * 16000 / wav.size)))[: int(a.capacity * 16000)])
        out["weights"] = face.weights_name
        out["latency_frames"] = face.net.cfg.future + 1
        out["runs"][size] = {"load_seconds": round(load, 2), **rt, **cap}
        r = out["runs"][size]
        print(f"{size} px: latency p50 {r['latency_ms_p50']} ms, p95 {r['latency_ms_p95']} ms; "
              f"{r['fps_sustained']} fps sustained ({r['frames']} frames, {r['dropped']} dropped, "
              f"{r['audio_seconds']} s real time, {r['cpu_ms_per_frame']} ms CPU a frame); capacity {r['fps_max']} fps "
              f"({r['capacity_cpu_ms_per_frame']} ms CPU a frame); "
              f"RSS {r['rss_mb_start']} -> max {r['rss_mb_max']} MB ({r['rss_mb_per_min_after_1min']} MB/min after "
              "the first minute)", flush=True)
    out["load_after"] = os.getloadavg()
    print(f"load average before {out['load_before'][0]:.2f}, after {out['load_after'][0]:.2f} (other work on this "
          "machine slows the figures down)")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
