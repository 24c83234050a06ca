"""PyTorch is an optional extra (issue 23): with torch not importable, the default path
(MouthNet in numpy, the warp renderer) makes the video and never tries to import it, and
everything that needs it says so in one line (exit 2), no traceback.

The commands run in a fresh Python whose ``sitecustomize`` (on PYTHONPATH) puts a finder
first on ``sys.meta_path`` that refuses ``torch`` as a missing package would (and logs
each attempt), so the machine's torch is out of reach as if it were not installed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT
from talkface.runtime.errors import INSTALL

EXAMPLES = ROOT / "examples"

BLOCKER = '''
import os, sys

class _NoTorch:
    """torch (and what imports it) as if it were not installed."""
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            log = os.environ.get("NO_TORCH_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoTorch())
'''


def write_blocker(folder: Path) -> Path:
    """A folder holding the sitecustomize.py that hides torch; put it first on PYTHONPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(textwrap.dedent(BLOCKER))
    return folder


@pytest.fixture()
def no_torch(tmp_path):
    """run(*args): ``python -m talkface ARGS`` in tmp_path with torch hidden; .tried: the
    torch imports it attempted."""
    block = write_blocker(tmp_path / "block")
    log = tmp_path / "torch_tried.log"

    def run(*args, env=None, code=None):
        e = dict(os.environ, PYTHONPATH=os.pathsep.join([str(block), str(ROOT)]), NO_TORCH_LOG=str(log))
        e.update(env or {})
        cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "talkface", *map(str, args)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=e, timeout=300)

    run.tried = lambda: log.read_text().split() if log.exists() else []
    run.dir = tmp_path
    return run


def one_line_needs_torch(r, what: str):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, r.stderr
    assert line == f"error: {what} needs PyTorch: {INSTALL}", line
    assert INSTALL == ("pip install torch (CPU: pip install torch --index-url "
                       "https://download.pytorch.org/whl/cpu)")


@pytest.mark.slow
def test_blocker_hides_torch(no_torch):
    r = no_torch(code="import importlib.util\ntry:\n    import torch\nexcept ImportError as e:\n    print(e.name)\n"
                      "from talkface.runtime.torch_needed import torch_available\nprint(torch_available())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["torch", "False"]
    assert no_torch.tried()


@pytest.mark.slow
def test_default_video_without_torch(no_torch):
    """The README's set-up demo, as a user without torch runs it."""
    r = no_torch("generate", EXAMPLES / "astronaut.png", EXAMPLES / "speech.wav", "-o", "demo.mp4", "--json", "-q")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["renderer"] == "warp" and d["device"] == "cpu" and d["frames"] > 0
    assert (no_torch.dir / "demo.mp4").stat().st_size > 0
    assert no_torch.tried() == []  # not even tried


@pytest.mark.slow
def test_landmarks_batch_and_evaluate_without_torch(no_torch):
    r = no_torch("landmarks", EXAMPLES / "cartoon.png", "-o", "face.json")
    assert r.returncode == 0, r.stderr
    (no_torch.dir / "clips").mkdir()
    (no_torch.dir / "jobs.csv").write_text(f"portrait,audio,output,crop,size\n{EXAMPLES / 'astronaut.png'},"
                                           f"{EXAMPLES / 'speech.wav'},clips/b.mp4,,\n")
    r = no_torch("batch", "jobs.csv", "-q")
    assert r.returncode == 0, r.stderr
    assert (no_torch.dir / "clips" / "b.mp4").stat().st_size > 0
    r = no_torch("evaluate", "clips", "--json", "-q")  # its loudness baseline imported torch's AT-net module
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["clips"]) == 1 and not d["failed"], d


@pytest.mark.slow
@pytest.mark.parametrize("args,what", [
    (["--renderer", "neural"], "the neural renderer (VG-net, --renderer neural)"),
    (["--device", "cuda"], "--device cuda"),
    (["--device", "cuda:1"], "--device cuda:1"),
    (["--detector", "fan"], "--detector fan (face-alignment)"),
])
def test_generate_options_that_need_torch(no_torch, args, what):
    r = no_torch("generate", EXAMPLES / "astronaut.png", EXAMPLES / "speech.wav", "-o", "o.mp4", *args)
    one_line_needs_torch(r, what)
    assert not any(no_torch.dir.glob("*.mp4")) and not any(no_torch.dir.glob(".*.part"))


@pytest.mark.slow
def test_evaluate_neural_needs_torch(no_torch):
    (no_torch.dir / "clips").mkdir()
    (no_torch.dir / "clips" / "a.mp4").write_bytes(b"not looked at")
    one_line_needs_torch(no_torch("evaluate", "clips", "--renderer", "neural"),
                         "the neural renderer (VG-net, --renderer neural)")


@pytest.mark.slow
def test_authors_weights_need_torch(no_torch, assets):
    r = no_torch("generate", EXAMPLES / "astronaut.png", EXAMPLES / "speech.wav", "-o", "o.mp4",
                 env={"TALKFACE_WEIGHTS": str(assets["weights"])})  # the authors' AT-net layout
    one_line_needs_torch(r, "the authors' AT-net layout of weights 'test-random'")
    assert not (no_torch.dir / "o.mp4").exists()


@pytest.mark.slow
def test_commands_that_need_torch(no_torch):
    (no_torch.dir / "data").mkdir()
    cases = [
        (["train", "atnet", "data", "--out", "run"], "talkface train"),
        (["train", "vgnet", "data", "--out", "run"], "talkface train"),
        (["train", "vgnet", "--video", EXAMPLES / "speech.wav", "--name", "me"], "talkface train vgnet --video"),
        (["train", "export", "run", "--name", "x"], "talkface train export"),
        (["weights", "import-atvgnet", "--atnet", "a.pth", "--vgnet", "g.pth", "--basics", "basics"],
         "talkface weights import-atvgnet"),
    ]
    for args, what in cases:
        one_line_needs_torch(no_torch(*args), what)
    assert not (no_torch.dir / "run").exists()


@pytest.mark.slow
def test_doctor_says_torch_is_missing_in_one_line(no_torch):
    r = no_torch("doctor")
    assert "Traceback" not in r.stderr, r.stderr
    lines = [s for s in r.stdout.splitlines() if s.strip().startswith("torch:")]
    assert len(lines) == 1, r.stdout
    assert "not installed" in lines[0] and INSTALL in lines[0] and "--renderer neural" in lines[0]
    assert any(s.strip() == "devices: cpu" for s in r.stdout.splitlines()), r.stdout
    assert "torch" not in (json.loads(no_torch("doctor", "--json").stdout).get("failed") or [])


@pytest.mark.slow
def test_help_needs_no_torch(no_torch):
    for args in (["--help"], ["train", "vgnet", "--help"], ["weights", "import-atvgnet", "--help"]):
        r = no_torch(*args)
        assert r.returncode == 0 and "Usage" in r.stdout, (args, r.stderr)


def test_any_other_missing_torch_import_is_one_line_too():
    """A path without its own check (a bug) still reports one line, exit 2."""
    from talkface.runtime.errors import describe

    code, msg = describe(ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert code == 2 and msg == f"this needs PyTorch: {INSTALL}"
    code, msg = describe(ModuleNotFoundError("No module named 'torch.nn'", name="torch.nn"))
    assert code == 2
    assert describe(ModuleNotFoundError("No module named 'torchvision'", name="torchvision"))[0] == 1


@pytest.mark.slow
def test_device_auto_is_cpu_without_torch(no_torch):
    r = no_torch(code="from talkface.runtime.device import resolve_device\nprint(resolve_device('auto'))\n"
                      "import talkface\nprint(talkface.TalkingFace().device)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cpu", "cpu"]


def test_torch_is_an_extra():
    """pyproject: torch is not a requirement of ``pip install .``; the ``torch`` extra (and
    ``fan``, whose face-alignment needs it) brings it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    p = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in p["dependencies"] if d.lower().startswith("torch")]
    extras = p["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["torch"])
    assert any(d.startswith("torch") for d in extras["fan"])
