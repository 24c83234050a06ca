"""MouthNet's training voices (talkface.train.voices): the babble version puts other clips of
the same folder and tier behind a clip, at 5-20 dB under it, reproducibly, and never a
held-out clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkface.speech import phones as P
from talkface.train import voices as V

SR = 16000


def _item(folder: Path, name: str, seconds: float, seed: int) -> Path:
    """A prepared item as list_items finds one, its sound a tone burst pattern of its own."""
    d = folder / name
    d.mkdir(parents=True)
    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(seed)
    wav = 0.3 * np.sin(2 * np.pi * rng.uniform(120, 300) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    np.savez(d / "meta.npz", wav=(wav * 32767).astype(np.int16))
    np.save(d / "frames.npy", np.zeros((1, 1), np.uint8))
    return d


def test_babble_is_other_talkers_between_5_and_20_db_under_the_clip(tmp_path):
    a = _item(tmp_path, "a", 2.0, 0)
    others = [str(_item(tmp_path, n, s, i)) for i, (n, s) in enumerate([("b", 0.7), ("c", 3.0), ("d", 1.3)], 1)]
    wav = V._wav(a)
    for seed in range(12):
        out = V.babble(wav, others, np.random.default_rng(seed))
        assert out.shape == wav.shape and out.dtype == np.float32
        snr = 10 * np.log10(np.mean(wav.astype(np.float64) ** 2) / np.mean((out - wav).astype(np.float64) ** 2))
        assert 5.0 - 1e-3 <= snr <= 20.0 + 1e-3  # shorter clips are looped to the clip's length
    np.testing.assert_array_equal(V.babble(wav, others, np.random.default_rng(3)),
                                  V.babble(wav, others, np.random.default_rng(3)))


def test_babble_version_needs_another_clip(tmp_path):
    a = _item(tmp_path, "a", 1.0, 0)
    with pytest.raises(ValueError, match="no other clip"):
        V.augment_item(str(a), V.BABBLE)
    assert not (a / f"feats_aug{V.BABBLE}.npy").exists()


def test_voices_cli_makes_only_the_versions_asked_and_keeps_held_out_clips_out(tmp_path, monkeypatch, capsys):
    """``--only 3``: babble features for every clip but the held-out one, which is never
    mixed behind another; footage tiers (``tier__clip``) babble among themselves; resumable."""
    names = ["open__a", "open__b", "open__c", "research__d", "research__e"]
    for i, n in enumerate(names):
        _item(tmp_path, n, 1.0, i)
    used: dict[str, tuple] = {}
    real = V.augment_item

    def spy(item, k, others=()):
        used[Path(item).name] = tuple(Path(o).name for o in others)
        return real(item, k, others)

    monkeypatch.setattr(V, "augment_item", spy)
    monkeypatch.setattr(V, "ProcessPoolExecutor", _InProcess)
    V.main([str(tmp_path), "--only", str(V.BABBLE), "--holdout", "1"])
    held = "open__a"  # heldout(sorted names, 1): the first
    assert sorted(used) == sorted(set(names) - {held})
    assert used["open__b"] == ("open__c",) and used["research__d"] == ("research__e",)
    assert all(held not in o for o in used.values())
    for n in used:
        f = np.load(tmp_path / n / f"feats_aug{V.BABBLE}.npy")
        assert f.shape == (25, P.N_FEATURES) and np.isfinite(f).all()
        assert not (tmp_path / n / "feats_aug0.npy").exists()
    assert not (tmp_path / held / f"feats_aug{V.BABBLE}.npy").exists()
    assert "4 voices made" in capsys.readouterr().out
    V.main([str(tmp_path), "--only", str(V.BABBLE), "--holdout", "1"])  # all there: nothing made again
    assert "0 voices made, 4 already there" in capsys.readouterr().out


class _InProcess:
    """ProcessPoolExecutor's map, in this process (so the spy sees the calls)."""

    def __init__(self, jobs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, todo, chunksize=1):
        return map(fn, todo)
