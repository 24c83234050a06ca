"""Noisy speech does not shrink the mouth: the audio's level range, the gain it gives the
motion, and that generate, evaluate, landmarks and live mode all apply it."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from talkface.motion.mouthnet import NOISE_FLOOR_DB, NOISE_KNEE_DB, noise_gain
from talkface.speech import audio as A
from talkface.speech import phones as P

SPEECH = Path(__file__).resolve().parent.parent / "examples" / "speech.wav"


@pytest.fixture(scope="module")
def clean_and_noisy():
    wav = A.load_audio(SPEECH)
    pause = np.zeros(A.SAMPLE_RATE // 2, np.float32)
    rng = np.random.default_rng(0)
    clean = np.concatenate([wav, pause, wav])  # speech with a pause, as a recording has
    # a quiet room (noise 45 dB under the speech), and white noise at 10 dB SNR
    quiet = clean + rng.standard_normal(clean.size).astype(np.float32) * np.sqrt(np.mean(clean ** 2) / 10 ** 4.5)
    noise = rng.standard_normal(clean.size)
    noisy = clean + noise * np.sqrt(np.mean(clean.astype(np.float64) ** 2) / 10 / np.mean(noise ** 2))
    return quiet.astype(np.float32), np.clip(noisy, -1, 1).astype(np.float32)


def test_the_level_range_tells_noisy_speech_from_clean(clean_and_noisy):
    clean, noisy = clean_and_noisy
    rc, rn = P.level_range(clean), P.level_range(noisy)
    assert rc > NOISE_KNEE_DB and rn < 20.0
    assert P.level_range(clean[: A.SAMPLE_RATE // 2]) is None  # under a second: no range
    # digital silence around the speech (a file's padding) is left out, not read as a deep pause
    padded = np.concatenate([np.zeros(A.SAMPLE_RATE * 3, np.float32), noisy, np.zeros(A.SAMPLE_RATE * 3, np.float32)])
    assert P.level_range(padded) == pytest.approx(rn, abs=1.0)


def test_noise_gain_is_one_for_clean_audio_and_bounded():
    assert noise_gain(None) == 1.0 == noise_gain(NOISE_KNEE_DB) == noise_gain(60.0) == noise_gain(float("nan"))
    assert 1.1 < noise_gain(17.0) < noise_gain(12.0) < noise_gain(NOISE_FLOOR_DB) == noise_gain(0.0) < 1.2


def test_speech_features_carry_their_range_through_slices_and_pickling(clean_and_noisy):
    _, noisy = clean_and_noisy
    f = P.inference_features(noisy)
    assert isinstance(f, P.SpeechFeatures) and f.level_range == pytest.approx(P.level_range(noisy), abs=0.05)
    np.testing.assert_array_equal(np.asarray(f), P.speech_features(noisy))
    part = pickle.loads(pickle.dumps(f[:40]))  # the prefetch's audio process sends them back
    assert part.level_range == f.level_range and part.shape == (40, P.N_FEATURES)
    assert type(np.asarray(f[:40])) is np.ndarray
    stream = P.SpeechStream(noisy)  # long audio's features: the whole file's range from the start
    assert stream.level_range == pytest.approx(f.level_range, abs=0.05)  # (its samples as int16)
    stream.close()


def test_generate_raises_the_motion_of_noisy_speech(clean_and_noisy):
    """The motion the weights predict from noisy features is scaled by noise_gain(its range);
    without a range (plain arrays, as training's validation passes) it is not."""
    from talkface import weights as W
    from talkface.motion.predict import MouthNetATNet

    _, noisy = clean_and_noisy
    wts = W.load("default")
    kind = MouthNetATNet()
    f = kind.features_of(wts, noisy)
    rest = np.zeros(136, np.float32)  # all points at the origin: the sequence is the motion itself
    with_gain = kind.predict_sequence(wts, rest, f, "cpu")
    plain = kind.predict_sequence(wts, rest, np.asarray(f), "cpu")
    k = noise_gain(f.level_range)
    assert k > 1.1
    np.testing.assert_allclose(with_gain, plain * k, rtol=1e-4, atol=1e-6)


def test_live_features_read_the_range_of_what_they_heard(clean_and_noisy):
    from talkface.live.features import LiveFeatures

    _, noisy = clean_and_noisy
    pcm = (noisy * 32767).astype(np.int16)
    lf = LiveFeatures()
    lf.push(pcm[: A.SAMPLE_RATE // 2])
    assert lf.level_range is None  # half a second: not yet
    for i in range(A.SAMPLE_RATE // 2, pcm.size, 3200):
        lf.push(pcm[i: i + 3200])
    lf.end()
    assert lf.level_range == pytest.approx(P.level_range(noisy), abs=1.0)
