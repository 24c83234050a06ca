"""Audio stage: decoding/resampling through ffmpeg and the MFCC windows (talkface.speech.audio)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import synth_speech, write_wav
from talkface.runtime.errors import InputError
from talkface.speech import audio as A

# -- features ----------------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [0.05, 0.5, 1.23, 2.0])
def test_features_shape_one_window_per_video_frame(seconds):
    wav = synth_speech(seconds)
    f = A.features(wav)
    n = math.ceil(25 * wav.size / 16000 - 1e-9)
    assert f.shape == (n, 28, 12)
    assert f.dtype == np.float32
    assert np.isfinite(f).all()
    assert A.n_frames_for(wav.size) == n


def test_features_explicit_frame_count_pads_the_end():
    wav = synth_speech(0.4)
    f = A.features(wav, n_frames=20)  # more frames than the audio covers (10)
    assert f.shape == (20, 28, 12)
    assert np.isfinite(f).all()


def test_mfcc_matches_python_speech_features():
    from python_speech_features import mfcc as psf_mfcc

    sig = synth_speech(1.5, seed=3)
    ours = A.mfcc(sig)
    ref = psf_mfcc(sig, 16000, winstep=0.01)[:, 1:]
    assert ours.shape == ref.shape
    assert ours.shape[1] == 12
    np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=0)


def test_normalised_features_have_zero_mean_unit_std():
    wav = synth_speech(2.0)
    f = A.features(wav, norm=True)
    # rows 12..15 of window f are the 4 MFCC rows of video frame f itself (0.12 s padding
    # = 12 rows before the audio), so these rows together are the utterance without padding
    own = f[:, 12:16, :].reshape(-1, 12)
    assert np.abs(own.mean(0)).max() < 0.05
    assert np.abs(own.std(0) - 1).max() < 0.05
    raw = A.features(wav, norm=False)[:, 12:16, :].reshape(-1, 12)
    assert np.abs(raw.mean(0)).max() > 0.5 or np.abs(raw.std(0) - 1).max() > 0.5  # norm does something


def test_window_f_is_centred_on_frame_f():
    """Windows step by 4 MFCC rows (40 ms) per video frame."""
    wav = synth_speech(1.0)
    f = A.features(wav, norm=False)
    np.testing.assert_allclose(f[1, :24], f[0, 4:], atol=1e-5)
    np.testing.assert_allclose(f[5, :24], f[4, 4:], atol=1e-5)


# -- load_audio --------------------------------------------------------------------------

@pytest.mark.parametrize("sr,sampwidth,channels", [
    (8000, 2, 1),
    (48000, 2, 1),
    (16000, 2, 2),
    (16000, 3, 1),
    (22050, 1, 2),
])
def test_load_audio_resamples_to_16k_mono(tmp_path, sr, sampwidth, channels):
    seconds = 1.0
    src = synth_speech(seconds, sr=sr, seed=1)
    p = write_wav(tmp_path / f"in_{sr}_{sampwidth}_{channels}.wav", src, sr, sampwidth, channels)
    wav = A.load_audio(p)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert abs(wav.size - 16000 * seconds) <= 0.01 * 16000 * seconds
    assert np.abs(wav).max() <= 1.0
    rms_in, rms_out = np.sqrt(np.mean(src ** 2)), np.sqrt(np.mean(wav ** 2))
    assert 0.7 < rms_out / rms_in < 1.3  # same loudness, not silence, stereo not summed to double


def test_load_audio_keeps_16k_samples(tmp_path):
    src = synth_speech(0.5, seed=2)
    wav = A.load_audio(write_wav(tmp_path / "a.wav", src, 16000, 3, 1))
    assert wav.size == src.size
    np.testing.assert_allclose(wav, np.clip(src, -1, 1), atol=2e-3)


def test_load_audio_stereo_is_downmixed_not_one_channel(tmp_path):
    src = synth_speech(0.5, seed=2)
    mono = A.load_audio(write_wav(tmp_path / "m.wav", src, 16000, 2, 1))
    stereo = A.load_audio(write_wav(tmp_path / "s.wav", src, 16000, 2, 2))
    assert mono.size == stereo.size
    np.testing.assert_allclose(stereo, mono, atol=2e-3)


def _raises_naming(path, **kw):
    with pytest.raises(InputError) as e:
        A.load_audio(path, **kw)
    assert str(path) in e.value.message
    assert e.value.exit_code == 2
    return e.value.message


def test_load_audio_missing_file(tmp_path):
    _raises_naming(tmp_path / "nope.wav")


def test_load_audio_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    assert "empty" in _raises_naming(p)


def test_load_audio_text_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("this is not audio at all\n" * 20)
    _raises_naming(p)
    q = tmp_path / "fake.wav"
    q.write_text("RIFF but not really a wave file\n" * 20)
    _raises_naming(q)


def test_load_audio_directory(tmp_path):
    _raises_naming(tmp_path)


def test_load_audio_shorter_than_one_frame(tmp_path):
    p = write_wav(tmp_path / "tiny.wav", synth_speech(0.02))
    msg = _raises_naming(p)
    assert "40 ms" in msg
    # 50 ms is enough
    assert A.load_audio(write_wav(tmp_path / "ok.wav", synth_speech(0.05))).size == 800


def test_load_audio_max_seconds(tmp_path):
    p = write_wav(tmp_path / "long.wav", synth_speech(2.0))
    assert "longer" in _raises_naming(p, max_seconds=1.0)
    assert A.load_audio(p, max_seconds=3.0).size == 32000
