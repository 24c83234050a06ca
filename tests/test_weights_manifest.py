"""Weights problems are one line and exit 4 (issue 23: 16, 17, 18, 19).

* A manifest that is valid JSON but not what talkface reads (an entry without ``name``,
  ``"weights": "abc"``, ...) is refused naming the manifest and what is wrong, exit 4
  (it was exit 1, "unexpected KeyError / TypeError").
* ``TALKFACE_WEIGHTS`` naming a missing folder says so (it said "no default weights").
* ``weights import-atvgnet``: a checkpoint or basics file that is a (malicious) pickle, a
  text file or otherwise not what it should be is exit 4 with one complete line (a pickled
  basics file was exit 2; torch's paragraph was cut mid-sentence).
* ``talkface doctor`` exits 4 when a weights set fails its check (it printed CORRUPT and
  exited 0), 6 when another check fails.
"""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from talkface import weights as W
from talkface.cli import app
from talkface.motion.authors import BASICS
from talkface.runtime.errors import WeightsError

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert "Traceback" not in r.output and "unexpected" not in r.output, r.output
    return lines[0]



# ----------------------------------------------------------------------------- 16. manifest schema
def _entry(m):
    return m["weights"][0]


BROKEN = [
    # (id, change to the manifest, words the line must hold)
    ("entry-without-name", lambda m: _entry(m).pop("name"), '"weights" entry 1 has no "name"'),
    ("weights-a-string", lambda m: m.update(weights="abc"), '"weights" is a string, not a list of entries'),
    ("weights-an-object", lambda m: m.update(weights={"a": 1}), '"weights" is an object, not a list'),
    ("entry-a-number", lambda m: m.update(weights=[3]), '"weights" entry 1 is a number, not an object'),
    ("name-a-number", lambda m: _entry(m).update(name=7), '"weights" entry 1 has "name" 7, not a weights name'),
    ("name-empty", lambda m: _entry(m).update(name=""), '"weights" entry 1 has "name" "", not a weights name'),
    ("default-a-list", lambda m: m.update(default=["x"]), '"default" is a list, not a weights name'),
    ("no-files", lambda m: _entry(m).pop("files"), '"weights" entry 1 ("test-random") has no "files"'),
    ("files-a-list", lambda m: _entry(m).update(files=["a"]), '"files" is a list, not an object'),
    ("file-spec-a-string", lambda m: _entry(m)["files"].update(atnet="x.safetensors"),
     '"files" "atnet" is a string, not an object'),
    ("no-sha256", lambda m: _entry(m)["files"]["atnet"].pop("sha256"), '"files" "atnet" has no "sha256"'),
    ("file-a-number", lambda m: _entry(m)["files"]["vgnet"].update(file=5),
     '"files" "vgnet" has "file" 5, not a non-empty string'),
    ("pipeline-a-string", lambda m: _entry(m).update(pipeline="p"), '"pipeline" is a string, not an object'),
    ("config-a-list", lambda m: _entry(m)["files"]["atnet"].update(config=[1]), '"config" is a list'),
]


@pytest.mark.parametrize("change,words", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
@pytest.mark.parametrize("command", ["generate", "list", "verify"])
def test_broken_manifest_is_exit_4_naming_it(weights_copy, assets, tmp_path, change, words, command):
    p = weights_copy / "manifest.json"
    m = json.loads(p.read_text())
    change(m)
    p.write_text(json.dumps(m))
    args = {"generate": ["generate", assets["face"], assets["speech"], "-o", tmp_path / "o.mp4", "-q"],
            "list": ["weights", "list"], "verify": ["weights", "verify"]}[command]
    r = cli(*args)
    assert r.exit_code == 4, r.output
    line = one_error_line(r)
    assert line.startswith(f"error: {p}: ") and words in line, line
    assert line.endswith("re-export the weights"), line
    assert not (tmp_path / "o.mp4").exists()


def test_broken_manifest_in_the_api(weights_copy):
    p = weights_copy / "manifest.json"
    p.write_text(json.dumps({"default": None, "weights": [{"files": {}}]}))
    for call in (W.registry, W.describe, lambda: W.locate("x"), lambda: W.read_manifest(weights_copy),
                 lambda: W.find_entry("x", weights_copy)):
        with pytest.raises(WeightsError, match='has no "name"') as e:
            call()
        assert e.value.exit_code == 4


def test_shipped_and_test_manifests_pass_the_schema(random_weights):
    for d in (W.shipped_dir(), random_weights):
        assert W.read_manifest(d)["weights"]


# ----------------------------------------------------------------------------- 17. TALKFACE_WEIGHTS
@pytest.mark.parametrize("kind", ["missing", "a-file"])
def test_talkface_weights_naming_no_folder(assets, tmp_path, monkeypatch, kind):
    d = tmp_path / "nonexistent"
    if kind == "a-file":
        d.write_text("not a folder")
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(d))
    what = "does not exist" if kind == "missing" else "is not a folder"
    for args in (["generate", assets["face"], assets["speech"], "-o", tmp_path / "o.mp4", "-q"],
                 ["weights", "list"], ["weights", "verify"]):
        r = cli(*args)
        assert r.exit_code == 4, r.output
        line = one_error_line(r)
        assert line.startswith(f"error: TALKFACE_WEIGHTS={d}: {what};"), line
        assert "no default weights" not in line
    assert not (tmp_path / "o.mp4").exists()


def test_talkface_weights_still_takes_an_empty_folder(tmp_path, monkeypatch):
    """An existing folder without a manifest is an empty registry (exports write there)."""
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(tmp_path))
    assert W.registry().listed == []


# ----------------------------------------------------------------------------- 18. import-atvgnet
class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _basics(d):
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for fname, shape in BASICS.values():
        np.save(d / fname, rng.standard_normal(shape))
    return d


def _import(at, vg, basics):
    return cli("weights", "import-atvgnet", "--atnet", at, "--vgnet", vg, "--basics", basics)


@pytest.fixture()
def importing(tmp_path, monkeypatch):
    pytest.importorskip("torch")  # import-atvgnet needs it (the torch extra)
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(tmp_path / "w"))
    return {"basics": _basics(tmp_path / "basics"), "marker": tmp_path / "PWNED"}


def _check_refused(r, importing, tmp_path, named, ends):
    assert r.exit_code == 4, r.output
    line = one_error_line(r)
    assert line.startswith(f"error: {named}: "), line
    assert line.endswith(ends), line
    assert "Re-running" not in line and "PyTorch 2.6" not in line  # not torch's paragraph, cut short
    assert not importing["marker"].exists()  # nothing was unpickled
    assert not (tmp_path / "w").exists()  # nothing written


CKPT_END = "from the link in the ATVGnet README and pass their paths"
BASICS_END = "restore it from the ATVGnet repository"


@pytest.mark.parametrize("kind", ["pickle", "torch-save", "garbage", "text", "list"])
def test_bad_checkpoint_is_exit_4_one_line(importing, tmp_path, kind):
    p = tmp_path / "atnet_lstm_18.pth"
    if kind == "pickle":
        p.write_bytes(pickle.dumps(_Evil(importing["marker"])))
    elif kind == "torch-save":
        torch = pytest.importorskip("torch")
        torch.save({"w": _Evil(importing["marker"])}, p)
    elif kind == "garbage":
        p.write_bytes(b"\x80\x02not really a checkpoint" * 10)
    elif kind == "text":
        p.write_text("this is not a checkpoint\n" * 5)
    else:
        torch = pytest.importorskip("torch")
        torch.save([torch.zeros(2)], p)
    r = _import(p, p, importing["basics"])
    _check_refused(r, importing, tmp_path, p, CKPT_END)
    if kind in ("pickle", "torch-save"):
        assert "holds pickled data other than arrays, which talkface never unpickles" in r.stderr


@pytest.mark.parametrize("kind", ["pickle", "text", "shape"])
def test_bad_basics_file_is_exit_4_one_line(importing, tmp_path, kind):
    p = importing["basics"] / "S.npy"
    if kind == "pickle":
        a = np.empty((), object)
        a[()] = _Evil(importing["marker"])
        np.save(p, a, allow_pickle=True)
    elif kind == "text":
        p.write_text("this is not an array\n")
    else:
        np.save(p, np.zeros((3, 3)))
    ckpt = tmp_path / "text.pth"
    ckpt.write_text("not a checkpoint either")  # the basics are read first
    r = _import(ckpt, ckpt, importing["basics"])
    _check_refused(r, importing, tmp_path, p, BASICS_END)
    if kind == "pickle":
        assert "holds pickled data other than arrays, which talkface never unpickles" in r.stderr


# ----------------------------------------------------------------------------- 19. doctor
def test_doctor_exits_4_on_corrupt_weights(weights_copy):
    f = weights_copy / "test-random-vgnet.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    r = cli("doctor")
    assert r.exit_code == 4, r.output
    assert "test-random (default): CORRUPT" in r.stdout
    line = one_error_line(r)
    assert line == "error: failed checks: weights; their lines above say what to fix", line
    r = cli("doctor", "--json")
    assert r.exit_code == 4
    assert json.loads(r.stdout)["failed"] == ["weights"]


def test_doctor_exits_4_on_unreadable_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(tmp_path / "nowhere"))
    r = cli("doctor", "--json")
    assert r.exit_code == 4, r.output
    d = json.loads(r.stdout)
    assert d["failed"] == ["weights"] and "does not exist" in d["weights"]


def test_doctor_exits_6_when_another_check_fails(random_weights, monkeypatch):
    import talkface.speech.audio

    def no_ffmpeg():
        raise RuntimeError("no ffmpeg here")

    monkeypatch.setattr(talkface.speech.audio, "ffmpeg_exe", no_ffmpeg)
    r = cli("doctor")
    assert r.exit_code == 6, r.output
    assert "missing (no ffmpeg here)" in r.stdout
    assert one_error_line(r).startswith("error: failed checks: ffmpeg;")


def test_doctor_exits_0_when_all_pass(random_weights):
    r = cli("doctor", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["failed"] == []
    assert not r.stderr.strip()


def test_weights_name_whose_files_would_not_fit_is_refused(tmp_path):
    """A set NAME is written as NAME-vgnet.safetensors(.tmp): a name that leaves no room is refused first."""
    from talkface.runtime.errors import InputError

    assert W.target_dir("a" * 200, tmp_path) == tmp_path
    with pytest.raises(InputError, match="choose a shorter --name"):
        W.target_dir("a" * 240, tmp_path)
