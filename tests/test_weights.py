"""Weights registry: manifest, sha256 verification and the CLI's exit code 4 (talkface.weights)."""
from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from talkface import weights as W
from talkface.cli import app
from talkface.errors import WeightsError

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def weights_copy(assets, tmp_path, monkeypatch):
    """A private copy of the session's random weights (safe to damage)."""
    d = tmp_path / "weights"
    shutil.copytree(assets["weights"], d)
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(d))
    return d


def flip_byte(path, where=0.5):
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def generate_args(assets, tmp_path):
    return ["generate", assets["face"], assets["speech"], "-o", tmp_path / "out.mp4", "--quiet"]


def test_random_weights_verify_ok(random_weights):
    r = cli("weights", "verify")
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("ok ") for line in lines)
    r = cli("weights", "verify", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["ok"] is True
    assert {row["part"] for row in d["files"]} == {"atnet", "vgnet"}
    assert all(row["ok"] and row["error"] is None and row["name"] == "test-random" for row in d["files"])
    assert [row["ok"] for row in W.verify("test-random")] == [True, True]


def test_weights_list_json_schema(random_weights):
    r = cli("weights", "list", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d) == {"dir", "weights"}
    assert d["dir"] == str(random_weights)
    assert len(d["weights"]) == 1
    e = d["weights"][0]
    assert set(e) == {"name", "default", "kind", "files", "card"}
    assert e["name"] == "test-random" and e["default"] is True and e["kind"] == "talkface"
    assert e["card"] is None
    assert e["files"] == {"atnet": "test-random-atnet.safetensors", "vgnet": "test-random-vgnet.safetensors"}
    for f in e["files"].values():
        assert (random_weights / f).is_file()


def test_weights_list_table(random_weights):
    r = cli("weights", "list")
    assert r.exit_code == 0
    assert "test-random" in r.stdout


def test_manifest_sha256_matches_files(random_weights):
    m = W.read_manifest()
    assert m["default"] == "test-random"
    for spec in W.find_entry("default")["files"].values():
        assert W.sha256(random_weights / spec["file"]) == spec["sha256"]
        assert len(spec["sha256"]) == 64


@pytest.mark.parametrize("part", ["atnet", "vgnet"])
def test_corrupt_file_verify_exit_4(weights_copy, part, assets):
    target = weights_copy / f"test-random-{part}.safetensors"
    flip_byte(target)
    r = cli("weights", "verify")
    assert r.exit_code == 4, r.output
    assert f"BAD test-random/{part}" in r.stdout
    assert "sha256" in r.stdout
    r = cli("weights", "verify", "--json")
    assert r.exit_code == 4
    d = json.loads(r.stdout)
    assert d["ok"] is False
    bad = [row for row in d["files"] if not row["ok"]]
    assert [row["part"] for row in bad] == [part]
    assert str(target) in bad[0]["error"]
    # the session fixture is untouched
    assert [row["ok"] for row in W.verify("default", assets["weights"])] == [True, True]


def test_corrupt_file_generate_exit_4(weights_copy, assets, tmp_path):
    target = weights_copy / "test-random-vgnet.safetensors"
    flip_byte(target, 0.9)
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert r.stderr.startswith("error: ")
    assert str(target) in r.stderr and "corrupt" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises(WeightsError):
        W.load("default", "cpu")


def test_corrupt_header_same_length_exit_4(weights_copy, assets, tmp_path):
    """A flip in the safetensors header is caught by the hash too, before any parsing."""
    target = weights_copy / "test-random-atnet.safetensors"
    flip_byte(target, 0.0001)
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert str(target) in r.stderr


def test_missing_file_exit_4(weights_copy, assets, tmp_path):
    target = weights_copy / "test-random-atnet.safetensors"
    target.unlink()
    r = cli("weights", "verify")
    assert r.exit_code == 4
    assert "missing" in r.stdout
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert str(target) in r.stderr and "missing" in r.stderr
    assert "Traceback" not in r.output


def test_unknown_weights_name_exit_4(random_weights, assets, tmp_path):
    r = cli(*generate_args(assets, tmp_path), "--weights", "nope")
    assert r.exit_code == 4
    assert "nope" in r.stderr and "test-random" in r.stderr


def test_bad_manifest_json_exit_4(weights_copy, assets, tmp_path):
    (weights_copy / "manifest.json").write_text("{not json")
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4
    assert "manifest.json" in r.stderr


def test_no_manifest(tmp_path, monkeypatch, assets):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("TALKFACE_WEIGHTS", str(empty))
    r = cli(*generate_args(assets, tmp_path))
    assert r.exit_code == 4, r.output
    assert "no default weights" in r.stderr
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.output
    r = cli("weights", "verify")
    assert r.exit_code == 4
    r = cli("weights", "list", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"dir": str(empty), "weights": []}


def test_save_tensors_roundtrip(tmp_path):
    import torch

    t = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(4)}
    spec = W.save_tensors(t, tmp_path / "x.safetensors", {"k": 1})
    assert spec["file"] == "x.safetensors" and spec["sha256"] == W.sha256(tmp_path / "x.safetensors")
    got, meta = W.load_tensors(tmp_path, spec)
    assert meta == {"k": "1"}
    assert torch.equal(got["a"], t["a"]) and torch.equal(got["b"], t["b"])
    assert not list(tmp_path.glob("*.tmp"))
