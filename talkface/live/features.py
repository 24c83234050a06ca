"""MouthNet's speech features computed as the audio arrives (``talkface.speech.phones``'
50 numbers per 25 fps frame, streamed).

* **Phones**: pocketsphinx's en-us phone loop decoded incrementally (:class:`LivePhones`):
  each push feeds the decoder; the phones of the frames near the audio's end come from its
  partial best path (they may still change, and the newest 10 ms rows it has not reached
  yet hold the last phone). An utterance is ended and a new one started at a pause after
  ``CUT_AFTER`` seconds (or at ``FORCE_CUT``), so the partial backtrace stays short and
  memory flat; the cepstral mean carries over.
* **Loudness and mel bands**: per frame as soon as its 40 ms are complete, normalised when
  read with *running* statistics over the last ``HISTORY`` seconds (the speech level is
  the 90th percentile of the frames' level, blended with a prior speech level until about
  two seconds of audio clearly above the noise floor have been heard; the bands' mean and
  spread, blended with a prior over the first two seconds), never the utterance's own.
  The loudness slope of the newest frame is one-sided.

Everything a frame needs is kept for ``HISTORY`` seconds (or what the caller still reads,
:meth:`LiveFeatures.forget_before`), so memory stays flat however long the stream.
"""
from __future__ import annotations

import os

import numpy as np

from ..constants import FPS, SAMPLE_RATE
from ..speech import phones as P

ROW = SAMPLE_RATE // 100  # samples per 10 ms recogniser row
HOP = SAMPLE_RATE // FPS  # samples per video frame
HISTORY = 30.0  # seconds of levels the running statistics read
CUT_AFTER, FORCE_CUT = 4.0, 15.0  # seconds: an utterance ends at the next pause after this; at the latest here
# priors for the first seconds (median over GRID s1 and av_train clips: speech level -13 dBFS, spread 11.5 dB;
# a microphone is usually quieter)
LEVEL0, SPREAD0, PRIOR_FRAMES = -20.0, 12.0, 50
BANDS_MEAN0 = np.array([1.83, 1.6, 0.74, -0.55, -0.86, -0.52, -0.91, -1.45], np.float32)
BANDS_STD0 = np.array([1.92, 1.68, 1.46, 1.17, 1.21, 1.01, 1.4, 2.24], np.float32)


class LivePhones:
    """Incremental phone-loop decoding; :meth:`rows` gives the phone index of each 10 ms row."""

    def __init__(self):
        from pocketsphinx import Decoder, get_model_path

        mp = os.path.join(get_model_path(), "en-us")
        self._dec = Decoder(hmm=os.path.join(mp, "en-us"), allphone=os.path.join(mp, "en-us-phone.lm.bin"),
                            loglevel="FATAL", lw=2.0, beam=1e-20, pbeam=1e-20)
        self._dec.start_utt()
        self.fed = 0  # rows fed to the decoder (absolute)
        self.utt = 0  # row where the current utterance began
        self._base = 0  # absolute row of _final[0]
        self._final = np.zeros(0, np.int8)  # rows of ended utterances, from _base to utt
        self._partial: np.ndarray | None = None  # the current utterance's rows, as decoded now (cache)
        self._rest = np.zeros(0, np.int16)  # samples short of a whole row

    def push(self, pcm: np.ndarray):
        x = np.concatenate([self._rest, pcm]) if self._rest.size else pcm
        k = x.size // ROW * ROW
        self._rest = x[k:].copy()
        if k:
            self._dec.process_raw(x[:k].tobytes(), full_utt=False)
            self.fed += k // ROW
            self._partial = None

    @property
    def utterance_rows(self) -> int:
        return self.fed - self.utt

    def _decoded(self) -> np.ndarray:
        rows = np.zeros(self.fed - self.utt, np.int8)  # silence by default
        last_end = -1
        for s in self._dec.seg() or ():
            i = P.PHONE_INDEX.get(s.word.upper().split("(")[0], 0)
            a, b = max(0, s.start_frame), min(rows.size, s.end_frame + 1)
            rows[a:b] = i
            last_end = max(last_end, b)
        if 0 <= last_end < rows.size:  # not reached yet: hold the last phone
            rows[last_end:] = rows[last_end - 1] if last_end > 0 else 0
        return rows

    def cut(self):
        """End the utterance here (its phones final) and start the next."""
        self._dec.end_utt()
        rows = self._decoded()
        self._final = np.concatenate([self._final, rows])
        self._dec.start_utt()
        self.utt = self.fed
        self._partial = None

    def end(self):
        """The audio is over: its last rows decoded to the end."""
        if self._rest.size:
            self.push(np.zeros(ROW - self._rest.size, np.int16))
        self.cut()

    def rows(self, a: int, b: int) -> np.ndarray:
        """Phone index of absolute rows ``a``..``b``: ended utterances' final phones, the
        current one's partial path, then (rows not decoded yet) its last phone held."""
        if self._partial is None:
            self._partial = self._decoded()
        known = np.concatenate([self._final, self._partial])  # rows _base .. fed
        end = self._base + known.size
        out = np.zeros(max(0, b - a), np.int8)  # rows forgotten already: silence
        lo, hi = max(a, self._base), min(b, end)
        if hi > lo:
            out[lo - a: hi - a] = known[lo - self._base: hi - self._base]
        if b > end and known.size:
            out[max(end, a) - a:] = known[-1]
        return out

    def forget_before(self, row: int):
        k = min(max(0, row - self._base), self._final.size)
        if k > 4096:
            self._final = self._final[k:].copy()
            self._base += k


class LiveFeatures:
    """Speech features of a stream of 16 kHz int16 audio: :meth:`push`, :meth:`end`,
    ``n`` complete frames, :meth:`window` (frames ``a``..``b``, normalised now)."""

    def __init__(self, phones: LivePhones | None = None):
        self.phones = phones or LivePhones()
        self.n = 0  # complete frames
        self.ended = False
        self._rest = np.zeros(0, np.int16)
        self._base = 0  # frame index of _db[0]
        self._db = np.zeros(0, np.float64)  # level per frame (dBFS)
        self._db10 = np.zeros(0, np.float64)  # level per 10 ms (dBFS), for the level range
        self._lb = np.zeros((0, P.N_BANDS), np.float32)  # log-mel shape per frame (before normalisation)
        self._keep_from = 0  # the caller reads no frame before this
        self._quiet_run = 0  # frames in a row well below the speech level
        edges = np.geomspace(150, 7000, P.N_BANDS + 1) * 1024 / SAMPLE_RATE
        self._edges = [(int(a), max(int(a) + 1, int(b))) for a, b in zip(edges[:-1], edges[1:])]
        self._win = np.hanning(HOP)[None].astype(np.float32)

    def push(self, pcm: np.ndarray):
        """More audio (int16, 16 kHz, mono)."""
        if self.ended:
            raise ValueError("the stream has ended")
        pcm = np.asarray(pcm, np.int16).reshape(-1)
        self.phones.push(pcm)
        x = np.concatenate([self._rest, pcm]) if self._rest.size else pcm
        k = x.size // HOP
        self._rest = x[k * HOP:].copy()
        if k:
            self._add(x[: k * HOP])
        self._maybe_cut()

    def end(self):
        """The audio is over: its last partial frame (zero-padded, as a file's) and its phones."""
        if self.ended:
            return
        if self._rest.size:
            self._add(np.concatenate([self._rest, np.zeros(HOP - self._rest.size, np.int16)]))
            self._rest = np.zeros(0, np.int16)
        self.phones.end()
        self.ended = True

    def _add(self, pcm: np.ndarray):
        fr = pcm.astype(np.float32).reshape(-1, HOP) / 32768.0
        db = P.frame_levels(fr)
        spec = np.abs(np.fft.rfft(fr * self._win, n=1024, axis=1)) ** 2
        lb = np.log(np.stack([spec[:, a:b].sum(1) for a, b in self._edges], 1) + 1e-8).astype(np.float32)
        lb -= lb.mean(1, keepdims=True)
        self._db = np.concatenate([self._db, db])
        self._db10 = np.concatenate([self._db10, P.row_levels(fr)])
        self._lb = np.concatenate([self._lb, lb])
        self.n += len(db)
        level, _ = self._level()
        for v in db:
            self._quiet_run = self._quiet_run + 1 if v < level - 25.0 else 0
        self._trim()

    def _maybe_cut(self):
        u = self.phones.utterance_rows / 100.0
        if u >= FORCE_CUT or (u >= CUT_AFTER and self._quiet_run >= 8):  # 0.32 s of pause
            self.phones.cut()

    def _trim(self):
        keep = min(self._keep_from, self.n - int(HISTORY * FPS)) - 8
        k = keep - self._base
        if k > 1000:
            self._db, self._lb = self._db[k:].copy(), self._lb[k:].copy()
            self._db10 = self._db10[k * P.ROWS_PER_FRAME:].copy()
            self._base += k

    def forget_before(self, frame: int):
        """No frame before ``frame`` will be read again."""
        self._keep_from = max(self._keep_from, frame)
        self.phones.forget_before(frame * P.ROWS_PER_FRAME - 100)
        self._trim()

    # -- normalisation ---------------------------------------------------------------------
    def _history(self) -> np.ndarray:
        return self._db[max(0, self.n - int(HISTORY * FPS) - self._base):]

    def _level(self) -> tuple[float, float]:
        """(speech level, spread) in dB: the history's, blended with the priors until it
        holds about two seconds of audio clearly above its noise floor."""
        h = self._history()
        if h.size == 0:
            return LEVEL0, SPREAD0
        lo, hi = np.percentile(h, [10, 90])
        w = min(1.0, float((h > lo + 15.0).sum()) / PRIOR_FRAMES)
        hi = max(float(hi), P.SILENT_DB)
        spread = max(float(np.std(np.maximum(h, hi - 50.0))), 3.0)
        return (1 - w) * LEVEL0 + w * hi, (1 - w) * SPREAD0 + w * spread

    @property
    def level_range(self) -> float | None:
        """The level range (``talkface.speech.phones.level_range``) of the last ``HISTORY``
        seconds, which the mouth's noise gain reads; None for the first second."""
        n = int(HISTORY * FPS) * P.ROWS_PER_FRAME
        return P.range_of_levels(self._db10[-n:])

    def level(self, i: int) -> float:
        """Frame ``i``'s level in dBFS (a frame still kept)."""
        return float(self._db[i - self._base]) if self._base <= i < self.n else float("nan")

    def stats(self) -> dict:
        """The running statistics now (for reports and tests)."""
        level, spread = self._level()
        return {"level_db": round(level, 2), "spread_db": round(spread, 2), "frames": self.n}

    def window(self, a: int, b: int) -> np.ndarray:
        """(b - a, N_FEATURES) float32 features of frames ``a``..``b`` (complete ones), as
        ``speech_features`` lays them out, normalised with the statistics of now."""
        a, b = max(a, self._base), min(b, self.n)
        if b <= a:
            return np.zeros((0, P.N_FEATURES), np.float32)
        level, spread = self._level()
        # one more frame each side where there is one: the slope is central inside, one-sided at the ends
        a1, b1 = max(self._base, a - 1), min(self.n, b + 1)
        db = self._db[a1 - self._base: b1 - self._base]
        loud = (np.maximum(db, level - 50.0) - level) / spread
        slope = np.gradient(loud) if loud.size > 1 else np.zeros_like(loud)
        loud, slope = loud[a - a1: a - a1 + b - a], slope[a - a1: a - a1 + b - a]
        lb = self._lb[a - self._base: b - self._base]
        h = self._lb[max(0, self.n - int(HISTORY * FPS) - self._base):]
        w = h.shape[0] / (h.shape[0] + PRIOR_FRAMES)
        mean = w * h.mean(0) + (1 - w) * BANDS_MEAN0 if h.size else BANDS_MEAN0
        var = w * h.var(0) + (1 - w) * BANDS_STD0 ** 2 if h.size else BANDS_STD0 ** 2
        bands = (lb - mean) / np.maximum(np.sqrt(var), 1e-3)
        rows = self.phones.rows(a * P.ROWS_PER_FRAME, b * P.ROWS_PER_FRAME).astype(np.int64)
        ph = P.hush(P._occupancy(rows), db[a - a1: a - a1 + b - a] < P.SILENT_DB)
        return np.concatenate([ph, loud[:, None], slope[:, None], bands], 1).astype(np.float32)
