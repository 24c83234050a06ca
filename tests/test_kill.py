"""Never lose work: kill -9 in the middle of a render leaves nothing at the output path, and
the next write to that target removes the killed run's temp file."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import pytest
from typer.testing import CliRunner

from helpers import synth_speech, write_wav
from talkface.cli import app
from talkface.video.outputs import AtomicFile, _host

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="kill -9 and /proc are Linux")]


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _wait_gone(pids, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end and any(Path(f"/proc/{p}").exists() and
                                    "Z" not in _state(p) for p in pids):
        time.sleep(0.05)


def _state(pid) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def test_kill_9_mid_render_leaves_nothing_and_the_next_run_cleans_up(assets, random_weights, tmp_path):
    audio = write_wav(tmp_path / "long.wav", synth_speech(60.0))  # 1500 frames: still rendering when killed
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "talk.mp4"
    env = dict(os.environ, TALKFACE_WEIGHTS=str(assets["weights"]))
    p = subprocess.Popen([sys.executable, "-m", "talkface", "generate", str(assets["face"]), str(audio), "-o", str(out),
                          "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        part = None
        end = time.time() + 240
        while time.time() < end:  # until the encoder has written part of the video
            parts = [q for q in out_dir.iterdir() if q.name.endswith(".part")]
            if parts and parts[0].stat().st_size > 0:
                part = parts[0]
                break
            assert p.poll() is None, f"generate ended before it could be killed: {p.stderr.read()!r}"
            time.sleep(0.02)
        assert part is not None, "no temp file appeared"
        assert not out.exists()
        kids = _children(p.pid)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == -signal.SIGKILL
    _wait_gone(kids)  # the orphaned encoder sees the pipe close and exits
    time.sleep(0.2)

    assert not out.exists()  # nothing at the output path, ever
    left = [q.name for q in out_dir.iterdir()]
    assert len(left) == 1, left  # only the killed run's temp file, recognisable by name and pid
    assert left[0].startswith(f".talk.mp4.{_host()}-{p.pid}.") and left[0].endswith(".mp4.part")

    # the next write to the same target removes the stale temp file and succeeds
    short = write_wav(tmp_path / "short.wav", synth_speech(0.4))
    r = CliRunner().invoke(app, ["generate", str(assets["face"]), str(short), "-o", str(out), "--crop", "--size",
                                 "64", "--quiet"])
    assert r.exit_code == 0, r.output
    assert [q.name for q in out_dir.iterdir()] == ["talk.mp4"]
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 10


def test_only_stale_temp_files_of_the_same_target_are_removed(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = _host()
    stale = tmp_path / f".o.mp4.{host}-{dead.pid}.abc123.mp4.part"
    live = tmp_path / f".o.mp4.{host}-{os.getpid()}.def456.mp4.part"  # a writer still at work
    other_host = tmp_path / f".o.mp4.elsewhere-{dead.pid}.ghi789.mp4.part"  # shared disk, another machine
    other_target = tmp_path / f".p.mp4.{host}-{dead.pid}.jkl012.mp4.part"
    for q in (stale, live, other_host, other_target):
        q.write_bytes(b"x")
    a = AtomicFile(tmp_path / "o.mp4")
    try:
        assert not stale.exists()
        assert live.exists() and other_host.exists() and other_target.exists()
        assert a.tmp.name.startswith(f".o.mp4.{host}-{os.getpid()}.") and a.tmp.name.endswith(".mp4.part")
    finally:
        a.discard()
