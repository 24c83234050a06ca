"""``talkface batch --ray`` on a local Ray cluster (``ray.init(num_cpus=2)`` here; the batches
connect to it, in this process or as separate drivers): the same report and byte-identical
videos as the local batch, inputs shipped and videos sent back, a worker killed mid-item,
Ctrl-C then ``--resume``; Ray imported only when asked for. Skipped, saying so, where Ray is
not installed (``pip install -e ".[ray]"``), but the test that says what happens then."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import synth_speech, write_png, write_wav
from talkface.cli import app

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install -e '.[ray]'): "
                                                    "the talkface batch --ray tests are skipped")
pytestmark = pytest.mark.slow
runner = CliRunner()

TWELVE = """portrait,audio,output,id,crop,size,max_size,blink
in/face.png,in/a.wav,out/01.mp4,first,yes,64,,
in/face.png,in/missing.wav,out/02.mp4,,yes,64,,
in/face.png,in/a.wav,out/03.mp4,,yes,96,,
in/face.png,in/b.wav,out/04.mp4,,yes,64,,no
in/grey.png,in/a.wav,out/05.mp4,,yes,64,,
in/face.png,in/a.wav,out/06.mp4,,,,160,
in/face.png,in/b.wav,out/07.mp4,,yes,64,,
in/face.png,in/a.wav,out/08.mp4,,yes,abc,,
in/face.png,in/b.wav,out/09.mp4,,yes,128,,
in/face.png,in/a.wav,out/10.mp4,,yes,64,,no
in/face.png,in/b.wav,out/11.mp4,,,,128,
in/face.png,in/a.wav,out/12.mp4,last,yes,64,,
"""
BAD = {2: 2, 5: 3, 8: 2}  # item -> exit code: missing audio, no face, bad size cell


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for this module; its address, for drivers in other processes."""
    if not HAVE_RAY:
        pytest.skip("Ray is not installed (pip install -e '.[ray]'): the talkface batch --ray tests are skipped")
    import logging

    import ray

    old = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the drivers started below connect by address, without a token
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old


@pytest.fixture()
def job(tmp_path, assets, monkeypatch):
    """A job folder (the working folder): in/ (face, grey, 0.4 s and 0.6 s speech), out/."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    shutil.copy(assets["face"], tmp_path / "in" / "face.png")
    write_png(tmp_path / "in" / "grey.png", np.full((400, 320, 3), 128, np.uint8))
    write_wav(tmp_path / "in" / "a.wav", synth_speech(0.4))
    write_wav(tmp_path / "in" / "b.wav", synth_speech(0.6, seed=1))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _comparable(summary: dict) -> dict:
    """The report without its timings and its number of workers."""
    out = {k: v for k, v in summary.items() if k not in ("seconds", "jobs")}
    out["items"] = [{k: v for k, v in it.items() if k != "seconds"} for it in summary["items"]]
    return out


def _lines(stderr: str) -> list[str]:
    """The per-item lines without their counter and time, sorted (they come in any order)."""
    return sorted(re.sub(r" \(\d+\.\d s\)$", "", ln.split("] ", 1)[1]) for ln in stderr.splitlines()
                  if ln.startswith("["))


def _driver(args, **kw) -> subprocess.Popen:
    """``talkface batch`` in a process of its own: a driver beside this one on the cluster."""
    return subprocess.Popen([sys.executable, "-m", "talkface", "batch", *map(str, args)], **kw)


@needs_ray
def test_twelve_items_three_bad_same_report_and_videos_as_local(job, cluster):
    (job / "jobs.csv").write_text(TWELVE)
    local = cli("batch", "jobs.csv", "--report", "rep.json", "--json")
    assert local.exit_code == 5, local.output
    s_local = json.loads(local.stdout)
    assert (s_local["ok"], s_local["failed"]) == (9, 3)
    shutil.move(job / "out", job / "out_local")
    shutil.move(job / "rep.json", job / "rep_local.json")

    for extra in ([], ["--ray-ship-inputs"]):  # read and written in place; shipped and sent back
        (job / "out").mkdir()
        r = cli("batch", "jobs.csv", "--ray", cluster, "--report", "rep.json", "--json", *extra)
        assert r.exit_code == 5, r.output
        assert "Traceback" not in r.output
        s = json.loads(r.stdout)
        assert s == json.loads((job / "rep.json").read_text())
        assert s["jobs"] == 2  # two actors of one CPU each
        assert _comparable(s) == _comparable(s_local), extra
        for i, it in enumerate(s["items"], 1):
            out = job / "out" / f"{i:02d}.mp4"
            if i in BAD:
                assert it["status"] == "failed" and it["exit_code"] == BAD[i] and not out.exists()
            else:
                assert out.read_bytes() == (job / "out_local" / out.name).read_bytes(), (extra, out.name)
        assert s["items"][1]["error"].startswith("in/missing.wav: no such file")  # the manifest's paths
        assert _lines(r.stderr) == _lines(local.stderr)
        assert r.stderr.splitlines()[-1].startswith("batch: 12 items, 9 ok, 0 skipped, 3 failed")
        assert _leftovers(job / "out") == []  # no temp or probe file
        shutil.rmtree(job / "out")


@needs_ray
def test_a_worker_killed_mid_item_is_retried_a_bounded_number_of_times(job, cluster):
    write_wav(job / "in" / "long.wav", synth_speech(8.0))
    (job / "m.csv").write_text("portrait,audio,output,crop,size\n" + "".join(
        f"in/face.png,in/{a}.wav,out/{n}.mp4,yes,128\n" for n, a in (("a", "a"), ("b", "long"), ("c", "b"))))

    def run(kills: int):
        """The batch, killing the worker that makes out/b.mp4 ``kills`` times (each mid-item)."""
        p = _driver(["m.csv", "--ray", cluster, "--report", "rep.json", "-q"], stderr=subprocess.PIPE, text=True)
        killed: list[int] = []
        end = time.time() + 240
        while len(killed) < kills and p.poll() is None and time.time() < end:
            for f in (job / "out").iterdir():  # .b.mp4.HOST-PID.RANDOM.mp4.part: the worker's temp file
                m = re.match(r"\.b\.mp4\..*-(\d+)\.\w+\.mp4\.part$", f.name)
                if m and int(m.group(1)) not in killed and f.stat().st_size > 0:
                    os.kill(int(m.group(1)), signal.SIGKILL)
                    killed.append(int(m.group(1)))
            time.sleep(0.02)
        err = p.communicate(timeout=240)[1]
        assert len(killed) == kills, err
        return p.returncode, json.loads((job / "rep.json").read_text()), err

    code, rep, err = run(1)  # killed once: made again by a fresh actor
    assert code == 0, err
    assert [it["status"] for it in rep["items"]] == ["ok"] * 3
    assert rep["items"][1]["frames"] == 200
    assert _leftovers(job / "out") == [] and sorted(p.name for p in (job / "out").iterdir()) == ["a.mp4", "b.mp4",
                                                                                               "c.mp4"]
    for p in (job / "out").iterdir():
        p.unlink()

    code, rep, err = run(3)  # killed every time: failed after 2 retries, the others made
    assert code == 5, err
    assert [it["status"] for it in rep["items"]] == ["ok", "failed", "ok"]
    b = rep["items"][1]
    assert b["exit_code"] == 1 and "the Ray worker making it died 3 times" in b["error"], b
    assert sorted(p.name for p in (job / "out").iterdir()) == ["a.mp4", "c.mp4"]  # no half-written b.mp4


@needs_ray
def test_ctrl_c_stops_the_actors_then_resume_finishes(job, cluster):
    write_wav(job / "in" / "long.wav", synth_speech(4.0))
    (job / "m.jsonl").write_text("".join(json.dumps({"portrait": "in/face.png", "audio": "in/long.wav",
                                                     "output": f"out/{i}.mp4", "crop": True, "size": 128}) + "\n"
                                         for i in range(1, 7)))
    p = _driver(["m.jsonl", "--ray", cluster, "--report", "rep.json"], stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(p.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    end = time.time() + 240
    while time.time() < end and p.poll() is None:  # a video made, and another one being made
        names = [f.name for f in (job / "out").iterdir()]
        if any(n.endswith(".mp4") and not n.startswith(".") for n in names) and \
                any(re.match(r"\.\d\.mp4\..*\.part$", n) for n in names):
            break
        time.sleep(0.02)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=60) == 130, "".join(lines)
    reader.join(5)
    assert time.time() - t0 < 30
    assert _leftovers(job / "out") == []  # the aborted items' temp files and the probe: gone
    rep = json.loads((job / "rep.json").read_text())
    assert rep["interrupted"] is True
    made = {it["output"] for it in rep["items"] if it["status"] == "ok"}
    assert made and rep["not_run"] >= 1 and rep["ok"] + rep["not_run"] == 6, rep
    assert {f"out/{p.name}" for p in (job / "out").iterdir()} == made
    assert "interrupted after" in "".join(lines)

    r = cli("batch", "m.jsonl", "--ray", cluster, "--resume", "--json", "-q")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["skipped"] == len(made) and s["ok"] == 6 - len(made)
    sizes = {p.stat().st_size for p in (job / "out").iterdir()}
    assert len(list((job / "out").iterdir())) == 6 and len(sizes) == 1  # the same video six times


@needs_ray
@pytest.mark.parametrize("args,words", [
    (["--jobs", "2"], "--jobs 2: worker processes on this machine"),
    (["--ray-cpus", "0"], "each actor needs some CPUs or GPUs"),
    (["--ray-cpus", "64"], "not enough for one actor"),
    (["--ray-actors", "-1"], "--ray-actors -1"),
    (["--device", "cuda"], "--device cuda: with --ray give each actor a GPU"),
])
def test_whole_batch_refused_exit_2(job, cluster, args, words):
    (job / "m.csv").write_text("portrait,audio,output\nin/face.png,in/a.wav,out/o.mp4\n")
    r = cli("batch", "m.csv", "--ray", cluster, *args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr
    assert not list((job / "out").iterdir())


def test_without_ray_installed_it_says_so_exit_2(job, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray: ImportError
    (job / "m.csv").write_text("portrait,audio,output\nin/face.png,in/a.wav,out/o.mp4\n")
    r = cli("batch", "m.csv", "--ray", "auto")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == ("error: --ray: Ray is not installed; pip install 'talkface[ray]' here and on every "
                                "node of the cluster")


def test_plain_batch_and_generate_never_import_ray(job):
    (job / "m.csv").write_text("portrait,audio,output,crop,size\nin/face.png,in/a.wav,out/o.mp4,yes,64\n")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from talkface.cli import app\n"
        "r = CliRunner()\n"
        "for args in (['batch', '--help'], ['batch', 'm.csv', '-q'], ['batch', 'm.csv', '-q', '--jobs', '2', "
        "'--force'], ['generate', 'in/face.png', 'in/a.wav', '-o', 'out/g.mp4', '--crop', '--size', '64', '-q']):\n"
        "    res = r.invoke(app, args)\n"
        "    assert res.exit_code == 0, (args, res.output)\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert (job / "out" / "o.mp4").is_file() and (job / "out" / "g.mp4").is_file()


@needs_ray
def test_a_worker_without_the_drivers_files_is_found_out(tmp_path):
    """The checks an actor makes (here called directly, in this process): a probe file it
    does not see as the driver wrote it, an input that differs there; the paths of its
    error lines written back as the manifest's."""
    from talkface.batch.manifest import Item
    from talkface.batch.ray_worker import RayWorker, input_stamp, unmap

    w = RayWorker.__new__(RayWorker)  # no actor: just its checks
    w.device, w.debug, w.models, w.stopped = "cpu", False, None, False
    probe = tmp_path / ".probe"
    probe.write_text("token-1")
    assert w.ready({str(probe): "token-1"})["sees"] is True
    assert w.ready({str(probe): "token-2"})["sees"] is False  # another machine's file at that path
    assert w.ready({str(tmp_path / "nowhere"): "token-1"})["sees"] is False
    wav = write_wav(tmp_path / "a.wav", synth_speech(0.2))
    it = Item(1, 2, portrait=str(tmp_path / "p.png"), audio=str(wav), output=str(tmp_path / "o.mp4"))
    stamp = input_stamp(wav)
    assert stamp is not None
    assert w.run(it, None, False, False, expect={str(wav): (stamp[0] + 1, stamp[1])}) == {"need_inputs": True}
    assert unmap("/tmp/x/audio/a.wav: no such file", {"/tmp/x/audio/a.wav": "in/a.wav"}) == "in/a.wav: no such file"
