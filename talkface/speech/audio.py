"""Audio stage: decode anything ffmpeg reads, resample to 16 kHz mono, MFCC windows.

Features follow docs/paper_facts.md#audio-features: python_speech_features MFCC (25 ms window, 10 ms step,
13 cepstra, energy column dropped -> 12), 4 MFCC rows per video frame at 25 fps, and a
28x12 window centred on each frame. talkface's own weights also normalise every
coefficient over the utterance (mean 0, std 1), which makes them voice-independent.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..constants import DEFAULT_MAX_SECONDS, FPS, SAMPLE_RATE, WINDOW
from ..runtime.errors import InputError
from ..runtime.inputs import check_input_file

ROWS_PER_FRAME = 4
PAD_SAMPLES = 1920  # 0.12 s = 3 video frames on each side (docs/paper_facts.md#audio-features)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def load_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE, max_seconds: float | None = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Decode ``path`` to float32 mono at ``sr`` Hz through the bundled ffmpeg binary."""
    return load_audio_int16(path, sr, max_seconds).astype(np.float32) / 32768.0


def load_audio_int16(path: str | os.PathLike, sr: int = SAMPLE_RATE,
                     max_seconds: float | None = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Decode ``path`` to int16 mono at ``sr`` Hz (half the memory of float32; ``audio_rows``
    decodes the same way as a stream)."""
    import subprocess

    p = _check_audio_path(path)
    r = subprocess.run(_decode_cmd(p, sr, max_seconds), capture_output=True)
    if r.returncode != 0:
        _decode_error(p, r.stderr)
    wav = np.frombuffer(r.stdout, np.int16)
    _check_length(p, wav.size, sr, max_seconds)
    _warn_if_cut_short(p, wav.size, sr)
    return wav


def _decode_cmd(p: Path, sr: int, max_seconds: float | None) -> list[str]:
    """The bundled ffmpeg decoding the first audio stream of ``p`` to s16le mono on stdout;
    only ``max_seconds`` + 1 s are ever decoded."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if max_seconds:
        cmd += ["-t", str(max_seconds + 1.0)]
    return cmd + ["-i", str(p), "-map", "0:a:0", "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1",
                  "-ar", str(sr), "pipe:"]


def _check_audio_path(path) -> Path:
    return check_input_file(path, "audio", "audio file", "WAV, MP3, FLAC, M4A, OGG")


def _decode_error(p: Path, stderr: bytes | None):
    msg = (stderr or b"").decode(errors="replace").strip().splitlines()
    why = "it has no audio stream" if any("matches no streams" in m for m in msg) else "ffmpeg cannot decode it"
    raise InputError(f"{p}: not readable as audio ({why}); give a WAV, MP3, FLAC, M4A or OGG file")


def _check_length(p: Path, n: int, sr: int, max_seconds: float | None = None):
    if max_seconds and n > max_seconds * sr:
        raise InputError(f"{p}: audio is longer than {max_seconds:.0f} s; split it or raise --max-seconds")
    if n == 0:
        raise InputError(f"{p}: contains no audio samples; give a non-empty audio file")
    if n < sr / FPS:
        raise InputError(f"{p}: audio is {1000 * n / sr:.0f} ms, shorter than one video frame (40 ms); "
                         "give a longer file")


def _wav_promised_seconds(p: Path) -> float | None:
    """Seconds of audio a RIFF/WAVE header announces (its data chunk size / byte rate);
    None when not a WAV or the header leaves the length open (0 or 0xFFFFFFFF, streamed)."""
    import struct

    try:
        with open(p, "rb") as f:
            h = f.read(12)
            if len(h) < 12 or h[:4] != b"RIFF" or h[8:12] != b"WAVE":
                return None
            byte_rate = None
            for _ in range(64):
                c = f.read(8)
                if len(c) < 8:
                    return None
                kind, size = c[:4], struct.unpack("<I", c[4:])[0]
                if kind == b"data":
                    return size / byte_rate if byte_rate and size not in (0, 0xFFFFFFFF) else None
                body = f.read(min(size, 64)) if kind == b"fmt " else b""
                if len(body) >= 12:
                    byte_rate = struct.unpack("<I", body[8:12])[0]
                f.seek(size + (size & 1) - len(body), 1)
    except OSError:
        return None
    return None


def _warn_if_cut_short(p: Path, n: int, sr: int):
    """A WAV cut short in its data is used as it is, with a warning on stderr."""
    import sys

    promised, got = _wav_promised_seconds(p), n / sr
    if promised is not None and promised - got > max(0.05, 0.01 * promised):
        print(f"warning: {p}: the WAV header says {promised:.2f} s but only {got:.2f} s of audio is there "
              "(the file was cut short?); using what is there", file=sys.stderr, flush=True)


def n_frames_for(n_samples: int, sr: int = SAMPLE_RATE, fps: int = FPS) -> int:
    """Frames needed so the video covers the whole audio (within one frame)."""
    return max(1, int(math.ceil(n_samples * fps / sr - 1e-6)))


def power_spectrum(wav: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Pre-emphasised 25 ms / 10 ms power spectrum (rows, 257)."""
    from python_speech_features import sigproc

    sig = sigproc.preemphasis(np.asarray(wav, np.float64), 0.97)
    frames = sigproc.framesig(sig, 0.025 * sr, 0.01 * sr, lambda n: np.ones((n,)))
    return sigproc.powspec(frames, 512)


_FB_CACHE: dict = {}


def filterbank(sr: int = SAMPLE_RATE, warp: float = 1.0, nfilt: int = 26, nfft: int = 512) -> np.ndarray:
    """python_speech_features' mel filterbank; ``warp`` != 1 scales the filter frequencies
    (vocal tract length perturbation, used to augment training audio)."""
    key = (sr, round(warp, 4), nfilt, nfft)
    if key not in _FB_CACHE:
        from python_speech_features.base import hz2mel, mel2hz

        mel = np.linspace(hz2mel(0), hz2mel(sr / 2), nfilt + 2)
        hz = np.clip(mel2hz(mel) * warp, 0, sr / 2)
        b = np.floor((nfft + 1) * hz / sr)
        fb = np.zeros((nfilt, nfft // 2 + 1))
        for j in range(nfilt):
            for i in range(int(b[j]), int(b[j + 1])):
                fb[j, i] = (i - b[j]) / (b[j + 1] - b[j])
            for i in range(int(b[j + 1]), int(b[j + 2])):
                fb[j, i] = (b[j + 2] - i) / (b[j + 2] - b[j + 1])
        _FB_CACHE[key] = fb
    return _FB_CACHE[key]


def mfcc_from_power(pspec: np.ndarray, sr: int = SAMPLE_RATE, warp: float = 1.0) -> np.ndarray:
    """(rows, 12) MFCC from a power spectrum, as python_speech_features.mfcc computes it
    (26 filters, 13 cepstra, lifter 22), with c0 (the log frame energy there) dropped
    (docs/paper_facts.md#audio-features), so the frame energy is never needed."""
    from python_speech_features.base import lifter
    from scipy.fftpack import dct

    eps = np.finfo(float).eps
    feat = pspec @ filterbank(sr, warp).T
    feat = np.log(np.where(feat == 0, eps, feat))
    feat = lifter(dct(feat, type=2, axis=1, norm="ortho")[:, :13], 22)
    return feat[:, 1:].astype(np.float32)


HOP = 160  # 10 ms at 16 kHz
FRAME = 400  # 25 ms
CHUNK_ROWS = 3000  # 30 s of MFCC rows per chunk: memory stays flat however long the audio


def _as_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) / 32768.0 if x.dtype == np.int16 else np.asarray(x, np.float64)


def n_mfcc_rows(n_samples: int) -> int:
    """Rows python_speech_features' framesig makes from ``n_samples`` (25 ms / 10 ms)."""
    return 1 if n_samples <= FRAME else 1 + int(math.ceil((n_samples - FRAME) / HOP))


def mfcc(wav: np.ndarray, sr: int = SAMPLE_RATE, pad_n: int = 0, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """(rows, 12) MFCC at 100 rows/s, energy column dropped (docs/paper_facts.md#audio-features); equal to
    python_speech_features.mfcc (pre-emphasis 0.97, 512-point FFT, 26 filters, lifter 22)
    but computed ``chunk_rows`` at a time (:class:`MfccStream`). ``wav`` may be float or
    int16; ``pad_n`` zeros are added virtually on both sides."""
    if sr != SAMPLE_RATE:
        raise ValueError("mfcc expects 16 kHz audio")
    stream = MfccStream(pad_n, batch_rows=chunk_rows)
    step = chunk_rows * HOP
    for i in range(0, wav.size, step):
        stream.push(wav[i:i + step])
    return stream.finish()


class MfccStream:
    """MFCC rows computed while samples arrive (16 kHz): ``push`` chunks of any size, then
    ``finish`` gives exactly ``mfcc(wav, pad_n=pad_n)`` of everything pushed, with only a
    few seconds of audio held at any time."""

    def __init__(self, pad_n: int = 0, batch_rows: int = 1000):
        self.pad_n, self.batch_rows = pad_n, batch_rows
        self.prev = 0.0
        self.first = True
        self.buf = np.zeros(0, np.float64)  # pre-emphasised samples from sample self.start on
        self.start = 0
        self.n_in = 0
        self.next_row = 0
        self.out: list[np.ndarray] = []
        self._pre(np.zeros(pad_n))

    def _pre(self, x: np.ndarray):
        if x.size == 0:
            return
        if self.first:
            pe = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
            self.first = False
        else:
            pe = x - 0.97 * np.concatenate([[self.prev], x[:-1]])
        self.prev = float(x[-1])
        self.n_in += x.size
        self.buf = np.concatenate([self.buf, pe])

    def _emit(self, upto_row: int):
        while self.next_row < upto_row:
            r1 = min(upto_row, self.next_row + self.batch_rows)
            off = self.next_row * HOP - self.start
            seg = self.buf[off: off + (r1 - 1 - self.next_row) * HOP + FRAME]
            frames = np.lib.stride_tricks.sliding_window_view(seg, FRAME)[::HOP][: r1 - self.next_row]
            self.out.append(mfcc_from_power(np.abs(np.fft.rfft(frames, 512)) ** 2 / 512.0))
            self.next_row = r1
        drop = self.next_row * HOP - self.start
        if drop > 0:
            self.buf = self.buf[drop:]
            self.start += drop

    def push(self, samples: np.ndarray):
        self._pre(_as_float(samples))
        ready = (self.start + self.buf.size - FRAME) // HOP + 1  # rows whose frame is complete
        if ready - self.next_row >= self.batch_rows:
            self._emit(ready - (ready - self.next_row) % self.batch_rows)

    def finish(self) -> np.ndarray:
        self._pre(np.zeros(self.pad_n))
        rows = n_mfcc_rows(self.n_in)
        need = (rows - 1) * HOP + FRAME - self.start
        if need > self.buf.size:  # framesig pads the pre-emphasised signal with zeros
            self.buf = np.concatenate([self.buf, np.zeros(need - self.buf.size)])
        self._emit(rows)
        return np.concatenate(self.out) if self.out else np.zeros((0, 12), np.float32)


def audio_rows(path: str | os.PathLike, sr: int = SAMPLE_RATE, max_seconds: float | None = DEFAULT_MAX_SECONDS):
    """(samples, raw MFCC rows) of an audio file, decoded and featurised as a stream (the
    whole waveform is never in memory): what ``raw_rows(load_audio_int16(path))`` gives,
    with the same checks and messages."""
    import subprocess

    import tempfile

    p = _check_audio_path(path)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_decode_cmd(p, sr, max_seconds), stdout=subprocess.PIPE, stderr=err)
        stream = MfccStream(pad_n=PAD_SAMPLES * sr // SAMPLE_RATE)
        n, carry = 0, b""
        try:
            while True:
                chunk = proc.stdout.read(1 << 18)  # type: ignore[union-attr]  # stdout=PIPE
                if not chunk:
                    break
                chunk = carry + chunk
                carry = chunk[len(chunk) // 2 * 2:]
                x = np.frombuffer(chunk[: len(chunk) // 2 * 2], np.int16)
                n += x.size
                if max_seconds and n > max_seconds * sr:
                    _check_length(p, n, sr, max_seconds)
                stream.push(x)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()  # type: ignore[union-attr]
            rc = proc.wait()
        if rc != 0:
            err.seek(0)
            _decode_error(p, err.read())
    _check_length(p, n, sr)
    _warn_if_cut_short(p, n, sr)
    return n, stream.finish()


def raw_rows(wav: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """MFCC rows of ``wav`` padded by 0.12 s on each side, not normalised (what
    :class:`Features` starts from)."""
    return mfcc(wav, sr, pad_n=PAD_SAMPLES * sr // SAMPLE_RATE)


class Features:
    """MFCC windows of one utterance, one (28, 12) window per 25 fps video frame, cut on
    demand: only the MFCC rows (12 floats per 10 ms) are kept, never the power spectrum or
    all windows, so long audio costs little memory. ``window(f0, f1)`` gives frames
    f0..f1-1; ``features()`` is ``Features(...).window(0, n)``."""

    def __init__(self, wav: np.ndarray | None, sr: int = SAMPLE_RATE, norm: bool = True, n_frames: int | None = None,
                 rows: np.ndarray | None = None):
        if rows is None:  # else: MFCC rows of the padded waveform computed elsewhere (raw_rows)
            self.n_frames = n_frames_for(wav.size, sr) if n_frames is None else int(n_frames)  # type: ignore[union-attr]
            rows = raw_rows(wav, sr)  # type: ignore[arg-type]  # wav or rows is given
        else:
            self.n_frames = int(n_frames)  # type: ignore[arg-type]  # with rows, n_frames is given
        feats = rows
        if norm:
            core = feats[ROWS_PER_FRAME * 3: max(ROWS_PER_FRAME * 3 + 1, len(feats) - ROWS_PER_FRAME * 3)]
            feats = (feats - core.mean(0, keepdims=True)) / np.maximum(core.std(0, keepdims=True), 1e-3)
        need = (self.n_frames - 1) * ROWS_PER_FRAME + WINDOW
        if len(feats) < need:
            feats = np.concatenate([feats, np.repeat(feats[-1:], need - len(feats), 0)])
        self.rows = np.ascontiguousarray(feats, np.float32)

    def __len__(self) -> int:
        return self.n_frames

    def window(self, f0: int = 0, f1: int | None = None) -> np.ndarray:
        f1 = self.n_frames if f1 is None else min(f1, self.n_frames)
        idx = np.arange(f0, f1)[:, None] * ROWS_PER_FRAME + np.arange(WINDOW)[None, :]
        return np.ascontiguousarray(self.rows[idx])


def windows(feats: np.ndarray, n_frames: int, norm: bool = True) -> np.ndarray:
    """Cut (n_frames, 28, 12) windows from MFCC rows of a waveform padded by 0.12 s
    on each side; with ``norm`` normalise each coefficient over the utterance."""
    need = (n_frames - 1) * ROWS_PER_FRAME + WINDOW
    if norm:
        core = feats[ROWS_PER_FRAME * 3: max(ROWS_PER_FRAME * 3 + 1, len(feats) - ROWS_PER_FRAME * 3)]
        feats = (feats - core.mean(0, keepdims=True)) / np.maximum(core.std(0, keepdims=True), 1e-3)
    if len(feats) < need:
        feats = np.concatenate([feats, np.repeat(feats[-1:], need - len(feats), 0)])
    idx = np.arange(n_frames)[:, None] * ROWS_PER_FRAME + np.arange(WINDOW)[None, :]
    return np.ascontiguousarray(feats[idx], dtype=np.float32)


def pad(wav: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    p = np.zeros(PAD_SAMPLES * sr // SAMPLE_RATE, np.float32)
    return np.concatenate([p, np.asarray(wav, np.float32), p])


def features(wav: np.ndarray, sr: int = SAMPLE_RATE, norm: bool = True, n_frames: int | None = None) -> np.ndarray:
    """MFCC windows, one per video frame: (n_frames, 28, 12) float32.

    The waveform is padded with 0.12 s of silence on each side so that window f is
    centred on frame f (docs/paper_facts.md#audio-features); with ``norm`` the coefficients are normalised over
    the utterance (the padding excluded).
    """
    return Features(wav, sr, norm, n_frames).window()


def loudness(wav: np.ndarray, n_frames: int, sr: int = SAMPLE_RATE) -> np.ndarray:
    """RMS level per video frame in dB (for the loudness baseline and silence checks)."""
    hop = sr // FPS
    wav = _as_float(wav).astype(np.float32)
    x = np.concatenate([wav, np.zeros(max(0, n_frames * hop - wav.size), np.float32)])[: n_frames * hop]
    rms = np.sqrt(np.mean(x.reshape(n_frames, hop) ** 2, axis=1) + 1e-10)
    return 20 * np.log10(rms + 1e-10)
