"""Speaker-independent speech features for the mouth model (docs/lipsync.md).

A phone recogniser trained on many voices (pocketsphinx 5.1.1's en-us acoustic model with
its phone language model, decoded as a phone loop, fully offline) turns any voice into a
phone sequence; the mouth model reads that sequence, so it does not inherit the voice it
was trained on. Beside the phones every 25 fps frame carries the utterance-normalised
loudness and its slope, and an utterance-normalised mel spectrum (coarse, 8 bands), so
speech the recogniser does not know (other languages, singing, noise) still opens and
closes the mouth with its energy.

``speech_features(wav)`` is the one entry: float32 (frames, N_FEATURES). For prediction,
``inference_features(wav)`` gives them as :class:`SpeechFeatures`, which also carry the
audio's level range (:func:`level_range`: how far its pauses sink below its speech, which
noise and reverberation shrink).
"""
from __future__ import annotations

import os
import threading

import numpy as np

from ..constants import FPS, SAMPLE_RATE
from .audio import n_frames_for
from .levels import SILENT_DB, SpeechFeatures, frame_levels, level_range, range_of_levels, row_levels  # noqa: F401 (theirs too)

# the 39 phones of CMUdict (ARPAbet, no stress) and silence; pocketsphinx's noise units
# (+NSN+, +SPN+, +BREATH+ ...) count as silence for the mouth
PHONES = ("SIL", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
          "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW",
          "V", "W", "Y", "Z", "ZH")
PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}
N_BANDS = 8
N_FEATURES = len(PHONES) + 2 + N_BANDS  # phones, loudness and its slope, mel bands
ROWS_PER_FRAME = 100 // FPS  # the recogniser's 10 ms frames per video frame


class PhoneRecognizer:
    """pocketsphinx allphone decoding, loaded once (about 0.3 s); thread-safe."""

    def __init__(self):
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError as e:  # a dependency of the package; only a broken install lacks it
            raise RuntimeError("pocketsphinx is not installed; run: pip install pocketsphinx==5.1.1") from e
        mp = os.path.join(get_model_path(), "en-us")
        self._dec = Decoder(hmm=os.path.join(mp, "en-us"), allphone=os.path.join(mp, "en-us-phone.lm.bin"),
                            loglevel="FATAL", lw=2.0, beam=1e-20, pbeam=1e-20)
        self._lock = threading.Lock()

    def segments(self, wav: np.ndarray) -> list[tuple[str, int, int]]:
        """(phone, first 10 ms row, last row inclusive) for 16 kHz mono audio."""
        pcm = _int16(wav)
        if pcm.size < SAMPLE_RATE // 10:
            return []
        with self._lock:
            # the front-end keeps what the previous utterance left (cepstral mean, noise
            # estimate): reset it, so the phones of a file never depend on what this process
            # decoded before (a batch, repeated API calls, the pieces of long audio)
            self._dec.reinit_feat()
            self._dec.start_utt()
            self._dec.process_raw(pcm.tobytes(), full_utt=True)
            self._dec.end_utt()
            return [(s.word, int(s.start_frame), int(s.end_frame)) for s in self._dec.seg()]

    def frames(self, wav: np.ndarray, n_frames: int) -> np.ndarray:
        """(n_frames, len(PHONES)) share of each 40 ms video frame spent in each phone."""
        return phone_frames(self.segments_parallel(wav), n_frames)

    def segments_parallel(self, wav: np.ndarray, jobs: int | None = None) -> list[tuple[str, int, int]]:
        """:meth:`segments`, with audio of ``2 x MIN_PIECE`` seconds or more cut at its
        quietest moments into one piece per core, decoded side by side in forked processes
        (Linux, torch not imported: forking its thread pools is unsafe); inline otherwise
        or when a process fails. The pieces are whole utterances to the recogniser, as
        training's 3 s clips were."""
        from ..runtime.forked import ForkedJob, fork_is_safe, usable_cores

        pcm = _int16(wav)
        if jobs is None:
            jobs = usable_cores()
        jobs = min(jobs, int(pcm.size // (MIN_PIECE * SAMPLE_RATE)))
        if jobs < 2 or not fork_is_safe():
            return self.segments(pcm)
        cuts = [0] + quiet_cuts(pcm, jobs) + [pcm.size]
        pieces = [(a, b) for a, b in zip(cuts[:-1], cuts[1:])]
        # the first piece here, the others in their own processes
        forked = [ForkedJob(_decode_piece, (self, pcm[a:b])) for a, b in pieces[1:]]
        try:
            out = list(self.segments(pcm[:pieces[0][1]]))
            for (a, b), job in zip(pieces[1:], forked):
                status, segs = job.result()
                if status != "ok":  # the process failed or died: decode the piece here
                    segs = self.segments(pcm[a:b])
                off = a // (SAMPLE_RATE // 100)
                out += [(ph, s + off, e + off) for ph, s, e in segs]
        finally:
            for job in forked:
                job.close()
        return out


MIN_PIECE = 30.0  # seconds: shorter audio is decoded in one piece


def _decode_piece(rec: PhoneRecognizer, pcm: np.ndarray) -> list[tuple[str, int, int]]:
    rec._lock = threading.Lock()  # another thread may have held the parent's at the fork
    return rec.segments(pcm)


def _decode_in_child(pcm: np.ndarray) -> list[tuple[str, int, int]]:
    """A forked job: this process's recogniser (inherited, or loaded here) decodes ``pcm``."""
    global _RLOCK
    _RLOCK = threading.Lock()  # another thread may have held the parent's at the fork
    try:  # the video being made goes first; this takes the cores it leaves
        os.nice(10)
    except OSError:
        pass
    return _decode_piece(recognizer(), pcm)


def quiet_cuts(pcm: np.ndarray, pieces: int, search: float = 1.0) -> list[int]:
    """Sample indices (on 10 ms boundaries) that cut ``pcm`` into ``pieces`` about equal
    parts, each at the quietest 10 ms within +-``search`` seconds of the even split."""
    n = pcm.size // (SAMPLE_RATE // 100)
    return quiet_cuts_near(pcm, [k * n // pieces for k in range(1, pieces)], search)


def quiet_cuts_near(pcm: np.ndarray, rows: list[int], search: float = 1.0) -> list[int]:
    """Sample indices (on 10 ms boundaries): for each of ``rows`` (10 ms rows, increasing),
    the quietest 10 ms within +-``search`` seconds of it."""
    hop = SAMPLE_RATE // 100
    n = pcm.size // hop
    e = (pcm[: n * hop].astype(np.float32).reshape(n, hop) ** 2).mean(1)
    e = np.convolve(e, np.ones(5, np.float32) / 5, mode="same")  # 50 ms: a pause, not a click
    w = int(search * 100)
    cuts = []
    for c in rows:
        lo, hi = max(1, c - w), min(n - 1, c + w)
        cuts.append((lo + int(np.argmin(e[lo:hi]))) * hop)
    return cuts


FIRST_PIECE = 8.0  # seconds of long audio recognised before its first frame (SpeechStream)
STREAM_FROM = 90.0  # seconds: audio this long is a SpeechStream in generate (shorter: all at once,
# as fast in all; 60 s measured 8 % slower streamed, 120 s and 600 s the same, first frame 2.6-4 s)


class SpeechStream:
    """The speech features of long audio (:func:`speech_features`), whose phones are
    recognised a piece at a time while the video is made: a first piece of about
    ``FIRST_PIECE`` seconds here and now, the others (about ``MIN_PIECE`` seconds each, cut
    at the quietest moments) after :meth:`start`, in forked processes (as many at a time as
    there are cores) or, where forking is unsafe, here when they are needed.
    ``stream[a:b]`` gives frames a..b, waiting for the pieces they need; ``len()`` is known
    from the start. The pieces are those a single pass would see cut there, so the
    features equal :func:`speech_features` but for the few frames around each cut."""

    def __init__(self, wav: np.ndarray, n_frames: int | None = None):
        pcm = _int16(wav)
        self.n = n_frames_for(pcm.size) if n_frames is None else int(n_frames)
        self._energy, self._quiet, self.level_range = _energy(pcm, self.n)
        self._rows = np.zeros(self.n * ROWS_PER_FRAME, np.int64)  # phone index per 10 ms, default silence
        hop = SAMPLE_RATE // 100
        total = pcm.size // hop
        marks = [int(FIRST_PIECE * 100)]
        while marks[-1] + int(1.5 * MIN_PIECE * 100) < total:
            marks.append(marks[-1] + int(MIN_PIECE * 100))
        marks = [m for m in marks if m < total]  # audio shorter than the first piece: one piece
        cuts = [0] + (quiet_cuts_near(pcm, marks) if marks else []) + [pcm.size]
        self._pieces = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        a, b = self._pieces[0]
        self._fill(recognizer().segments(pcm[a:b]), a)
        self._pcm = pcm
        self._next = 1  # the first piece not in _rows yet
        self._jobs: dict = {}  # piece index -> ForkedJob
        self._started = False

    def __len__(self) -> int:
        return self.n

    def _fill(self, segments, start_sample: int):
        _mark_rows(self._rows, segments, start_sample // (SAMPLE_RATE // 100))

    def start(self) -> SpeechStream:
        """Start recognising the other pieces (in the process that reads the stream)."""
        self._started = True
        from ..runtime.forked import fork_is_safe

        if fork_is_safe() and self._next < len(self._pieces):
            recognizer()  # loaded once here, inherited by every piece's process
        self._pump()
        return self

    def _pump(self):
        from ..runtime.forked import ForkedJob, fork_is_safe, usable_cores

        if not fork_is_safe():
            return
        i = self._next + len(self._jobs)
        while len(self._jobs) < usable_cores() and i < len(self._pieces):
            a, b = self._pieces[i]
            self._jobs[i] = ForkedJob(_decode_in_child, (self._pcm[a:b],))
            i += 1

    def _take_next(self):
        i = self._next
        a, b = self._pieces[i]
        job = self._jobs.pop(i, None)
        status, segs = job.result() if job is not None else ("inline", None)
        if status != "ok":  # no process for it, or it failed: here
            segs = recognizer().segments(self._pcm[a:b])
        self._fill(segs, a)
        self._next += 1
        if self._started:
            self._pump()

    def ready(self) -> int:
        """Frames whose phones are known now."""
        if self._next >= len(self._pieces):
            return self.n
        return min(self.n, self._pieces[self._next][0] // (SAMPLE_RATE // FPS))

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("SpeechStream takes a slice of frames")
        a, b, _ = key.indices(self.n)
        b = max(a, b)
        while self.ready() < b:
            self._take_next()
        ph = hush(_occupancy(self._rows[a * ROWS_PER_FRAME: b * ROWS_PER_FRAME]), self._quiet[a:b])
        return np.concatenate([ph, self._energy[a:b]], 1).astype(np.float32)

    def close(self):
        """End the pieces' processes still running (their phones are then not needed)."""
        for job in self._jobs.values():
            job.close()
        self._jobs.clear()

    def __getstate__(self):  # sent from the prefetch's audio process before start()
        if self._jobs:
            raise TypeError("a started SpeechStream stays in its process")
        return self.__dict__


_RECOGNIZER: PhoneRecognizer | None = None
_RLOCK = threading.Lock()


def recognizer() -> PhoneRecognizer:
    """The process' recogniser (made on first use)."""
    global _RECOGNIZER
    with _RLOCK:
        if _RECOGNIZER is None:
            _RECOGNIZER = PhoneRecognizer()
        return _RECOGNIZER


def _int16(wav: np.ndarray) -> np.ndarray:
    w = np.asarray(wav)
    if w.dtype == np.int16:
        return np.ascontiguousarray(w)
    return (np.clip(w, -1.0, 1.0) * 32767.0).astype(np.int16)


def phone_frames(segments, n_frames: int) -> np.ndarray:
    """Phone segments (10 ms rows) -> (n_frames, len(PHONES)) occupancy per video frame."""
    rows = np.zeros(n_frames * ROWS_PER_FRAME, np.int64)  # default silence
    _mark_rows(rows, segments)
    return _occupancy(rows)


def _mark_rows(rows: np.ndarray, segments, offset: int = 0):
    """Write each segment's phone index into ``rows`` (one per 10 ms), the segments' rows
    shifted by ``offset`` (where their piece of audio starts)."""
    for ph, s, e in segments:
        i = PHONE_INDEX.get(ph.upper().split("(")[0], 0)
        rows[max(0, s + offset): max(0, min(e + 1 + offset, rows.size))] = i


def _occupancy(rows: np.ndarray) -> np.ndarray:
    """Phone index per 10 ms row -> (frames, len(PHONES)) share of each video frame."""
    one = np.zeros((rows.size, len(PHONES)), np.float32)
    one[np.arange(rows.size), rows] = 1.0
    return one.reshape(rows.size // ROWS_PER_FRAME, ROWS_PER_FRAME, len(PHONES)).mean(1)


def _frames(wav: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, samples per frame) float32 of 16 kHz audio, zero-padded or cut."""
    x = np.asarray(wav)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32, copy=False)
    hop = SAMPLE_RATE // FPS
    x = np.concatenate([x, np.zeros(max(0, n_frames * hop - x.size), np.float32)])[: n_frames * hop]
    return x.reshape(n_frames, hop)


def hush(phones: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    """``phones`` with the ``quiet`` frames (below SILENT_DB) silence: the recogniser hears
    phones in digital silence (a fricative, for five seconds of zeros)."""
    if not quiet.any():
        return phones
    ph = np.array(phones, np.float32)
    ph[quiet] = np.eye(len(PHONES), dtype=np.float32)[0]
    return ph


def energy_features(wav: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, 2 + N_BANDS): loudness (dB, normalised so the utterance's speech level is 0
    and its spread 1), its slope, and 8 log-mel bands normalised over the utterance."""
    return _energy(wav, n_frames)[0]


def inference_features(wav: np.ndarray) -> SpeechFeatures:
    """:func:`speech_features` of the whole audio, with its :func:`level_range`: what the
    mouth model predicts from (generate, evaluate, landmarks)."""
    return SpeechFeatures(*_features(wav))


def _energy(wav: np.ndarray, n_frames: int) -> tuple[np.ndarray, np.ndarray, float | None]:
    """:func:`energy_features`, the frames below SILENT_DB (:func:`hush`'s) and the
    :func:`level_range`, from one framing."""
    hop = SAMPLE_RATE // FPS
    fr = _frames(wav, n_frames)
    db = frame_levels(fr)
    quiet = db < SILENT_DB
    rng = range_of_levels(row_levels(fr))
    hi = max(float(np.percentile(db, 90)), SILENT_DB) if n_frames else 0.0  # digital silence stays silence
    db = np.maximum(db, hi - 50.0)  # digital silence does not stretch the scale
    spread = max(float(np.std(db)), 3.0)
    loud = (db - hi) / spread
    slope = np.gradient(loud) if n_frames > 1 else np.zeros_like(loud)
    spec = np.abs(np.fft.rfft(fr * np.hanning(hop)[None], n=1024, axis=1)) ** 2
    edges = np.geomspace(150, 7000, N_BANDS + 1) * 1024 / SAMPLE_RATE
    bands = np.stack([spec[:, int(a): max(int(a) + 1, int(b))].sum(1) for a, b in zip(edges[:-1], edges[1:])], 1)
    lb = np.log(bands + 1e-8)
    lb = lb - lb.mean(1, keepdims=True)  # spectral shape, not level
    lb = (lb - lb.mean(0)) / np.maximum(lb.std(0), 1e-3)
    return np.concatenate([loud[:, None], slope[:, None], lb], 1).astype(np.float32), quiet, rng


def speech_features(wav: np.ndarray, n_frames: int | None = None, phones: np.ndarray | None = None) -> np.ndarray:
    """(n_frames, N_FEATURES) float32 for 16 kHz mono audio: phone occupancy, loudness,
    its slope, mel bands. ``phones`` may be given (cached recognition)."""
    return _features(wav, n_frames, phones)[0]


def _features(wav: np.ndarray, n_frames: int | None = None, phones: np.ndarray | None = None):
    """(:func:`speech_features`, :func:`level_range`)."""
    n = n_frames_for(len(wav)) if n_frames is None else int(n_frames)
    ph = recognizer().frames(wav, n) if phones is None else phones[:n]
    if len(ph) < n:
        ph = np.concatenate([ph, np.tile(np.eye(len(PHONES), dtype=np.float32)[:1], (n - len(ph), 1))])
    energy, quiet, rng = _energy(wav, n)
    return np.concatenate([hush(ph, quiet), energy], 1).astype(np.float32), rng
