"""bench/live.py runs and reports what issue 25 asks for (a few seconds of it here)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow  # a real-time run: several seconds


def test_bench_live_reports_latency_fps_drops_and_rss(tmp_path):
    out = tmp_path / "live.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "live.py"), "--seconds", "4", "--capacity", "2",
                        "--sizes", "64", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["weights"] == "talkface-live" and d["latency_frames"] == 3
    run = d["runs"]["64"]
    assert run["frames"] == 100 and run["capacity_frames"] == 50
    for k in ("latency_ms_p50", "latency_ms_p95", "fps_sustained", "dropped", "rss_mb_max", "fps_max",
              "cpu_ms_per_frame"):
        assert run[k] is not None, k
    assert 80 < run["latency_ms_p50"] <= run["latency_ms_p95"] < 5000  # at least the 3 frames it waits for
    assert "64 px: latency p50" in r.stdout
