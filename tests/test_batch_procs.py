"""``talkface batch --jobs N``: its processes end with it, kill -9 included, and leave nothing
behind that the next run trips on; its semaphores are released, never "leaked" (issue 23,
defects 3 and 4)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import synth_speech, write_wav

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="/proc, /dev/shm and prctl")]


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _batch(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "talkface", "batch", *map(str, args)], env=env, **kw)


@pytest.fixture()
def env(assets, tmp_path):
    return dict(os.environ, TALKFACE_WEIGHTS=str(assets["weights"]))


def test_kill_9_takes_the_workers_and_the_resource_tracker_with_it(assets, env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    long = write_wav(tmp_path / "long.wav", synth_speech(30.0))  # still rendering when killed
    m = tmp_path / "m.csv"
    m.write_text("portrait,audio,output,crop,size\n" +
                 "".join(f"{assets['face']},{long},{out}/{i}.mp4,yes,64\n" for i in (1, 2)))
    with open(tmp_path / "err.txt", "wb") as err:
        p = _batch([m, "--jobs", "2", "-q"], env, stdout=subprocess.DEVNULL, stderr=err)
    kids = []
    try:
        end = time.time() + 240
        while time.time() < end:  # until a worker writes its video
            if any(q.name.endswith(".part") and _size(q) > 0 for q in out.iterdir()):
                break
            assert p.poll() is None, (tmp_path / "err.txt").read_text()
            time.sleep(0.05)
        else:
            pytest.fail("no worker started writing")
        kids = _descendants(p.pid)
        workers = [k for k in kids if "multiprocessing.spawn" in _cmd(k)]
        assert len(workers) == 2, [_cmd(k) for k in kids]  # and multiprocessing's resource tracker, if any
        os.kill(p.pid, signal.SIGKILL)
        p.wait(30)
        end = time.time() + 20  # workers die at once (parent-death signal), then the tracker and encoders
        while time.time() < end and any(_alive(k) for k in kids):
            time.sleep(0.05)
        left = [f"{k}: {_cmd(k)}" for k in kids if _alive(k)]
        assert not left, left
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)
    assert not [q for q in out.iterdir() if not q.name.endswith(".part")]  # no video claimed finished

    # the killed run's temp files neither block nor outlive the next run
    short = write_wav(tmp_path / "short.wav", synth_speech(0.2))
    m.write_text(m.read_text().replace(str(long), str(short)))
    r = subprocess.run([sys.executable, "-m", "talkface", "batch", str(m), "--resume", "-q"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(q.name for q in out.iterdir()) == ["1.mp4", "2.mp4"]


def test_no_semaphore_outlives_the_pool(tmp_path, monkeypatch):
    """The pool's queues unlink their named semaphores when it closes, even while the
    queues are still there: they sit in reference cycles, collected or not before the CLI
    leaves with os._exit (which runs no finaliser)."""
    import concurrent.futures as cf
    from multiprocessing import synchronize

    from talkface import batch as B

    names, kept = [], []
    make = synchronize.SemLock._make_name
    monkeypatch.setattr(synchronize.SemLock, "_make_name", staticmethod(lambda: names.append(make()) or names[-1]))

    class Pool(cf.ProcessPoolExecutor):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            kept.extend([self._call_queue, self._result_queue])  # not collected yet

    monkeypatch.setattr(cf, "ProcessPoolExecutor", Pool)
    items = [B.Item(i, i + 1, output=str(tmp_path / f"{i}.mp4"), error="a bad row") for i in (1, 2, 3)]
    got = []
    B.run_pool(items, B.Common("cpu"), 2, False, False, False, got.append)
    assert sorted(r["index"] for r in got) == [1, 2, 3] and {r["status"] for r in got} == {"failed"}
    assert len(names) == 5 and len(kept) == 2  # the call queue's three, the result queue's two
    left = [n for n in names if os.path.exists("/dev/shm/sem." + n.lstrip("/"))]
    assert not left, left


def test_jobs_2_never_reports_leaked_semaphores(assets, env, tmp_path):
    write_wav(tmp_path / "a.wav", synth_speech(0.12))
    m = tmp_path / "m.csv"
    m.write_text("portrait,audio,output,crop,size\n" +
                 "".join(f"{assets['face']},{tmp_path / 'a.wav'},{tmp_path}/{i}.mp4,yes,64\n" for i in (1, 2)))
    for _ in range(4):  # it was 1 run in 4
        r = subprocess.run([sys.executable, "-m", "talkface", "batch", str(m), "--jobs", "2", "-q", "--force"],
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "leaked" not in r.stderr and "resource_tracker" not in r.stderr, r.stderr
        assert r.stderr == ""
