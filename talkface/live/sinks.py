"""Where ``talkface live`` gets its audio and sends its frames.

* :class:`StdinPcm`: raw s16le mono PCM read from a file descriptor (``--audio -``), in
  short reads that a stop request ends within 0.1 s; a container or text on it (WAV, MP3,
  FLAC, Ogg, MP4, text) is refused at once, an odd number of bytes when it ends.
* :func:`paced`: a decoded audio file in 20 ms pieces at the pace of a clock (``--audio FILE``).
* :class:`Y4mWriter`: YUV4MPEG2 4:2:0 on a binary stream (``--out -``: ffplay, ffmpeg, OBS).
* :class:`Mp4Recorder`: the frames (H.264) and the audio as it came, muxed into one MP4
  when the stream ends (``--out FILE.mp4``); every file it makes is a recorded temp file
  until the final rename, so an interrupt or an error leaves nothing behind.
"""
from __future__ import annotations

import os
import select
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from ..constants import FPS
from ..runtime import signals
from ..runtime.errors import InputError
from .stream import IdleClock

PIECE = 0.02  # seconds of audio per push from a file or stdin

# (magic bytes at the start, offset, what it is)
_MAGIC = [(b"RIFF", 0, "a WAV file"), (b"ID3", 0, "an MP3 file"), (b"fLaC", 0, "a FLAC file"),
          (b"OggS", 0, "an Ogg file"), (b"ftyp", 4, "an MP4/M4A file"), (b"\x1aE\xdf\xa3", 0, "a Matroska/WebM file"),
          (b"FORM", 0, "an AIFF file"), (b"#!AMR", 0, "an AMR file")]
CONVERT = "ffmpeg -i IN -f s16le -ac 1 -ar 16000 - | talkface live ... --audio - --rate 16000"


def sniff(head: bytes) -> str | None:
    """What ``head`` (the stream's first bytes) is when it is not raw PCM, else None."""
    for magic, at, what in _MAGIC:
        if head[at: at + len(magic)] == magic:
            return what
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:  # an MPEG audio frame
        return "MPEG audio (MP3)"
    text = head[:256]
    if len(text) >= 32 and all(32 <= c < 127 or c in (9, 10, 13) for c in text):
        return "text"
    return None


class StdinPcm:
    """Raw s16le PCM from file descriptor ``fd``: :meth:`read` gives bytes (an even number)
    or b"" at the end; InputError for a container or text at the start, or an odd number of
    bytes in all. With ``idle``, while there is nothing to read and the audio read so far is
    more than IDLE_LAG (0.2) seconds behind the clock (since the first read), it gives silence
    (:class:`~talkface.live.stream.IdleClock`, counted in ``silence``): the face goes on in
    real time through the source's pauses, and a recording keeps them."""

    def __init__(self, fd: int = 0, rate: int = 16000, idle: bool = False):
        self.fd, self.rate, self.idle = fd, rate, idle
        self.bytes = 0  # read and filled in
        self.silence = 0  # filled in
        self._head = True
        self._odd = b""
        self._clock = IdleClock(rate)

    def _fill(self) -> bytes:
        if not self.idle or self._odd:
            return b""
        n = self._clock.due(self.bytes // 2) * 2
        self.bytes += n
        self.silence += n
        return bytes(n)

    def read(self, stop: threading.Event, size: int | None = None) -> bytes:
        size = size or int(self.rate * PIECE) * 2
        self._clock.start()
        while not stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.02 if self.idle else 0.1)
            except (OSError, ValueError):  # not selectable (a regular file on some systems): read
                ready = [self.fd]
            if not ready:
                filled = self._fill()
                if filled:
                    return filled
                continue
            b = os.read(self.fd, size)
            if not b:
                if self._odd:
                    raise InputError(f"stdin: ended after {self.bytes - self.silence + 1} bytes, an odd number: raw "
                                     "16-bit PCM has 2 bytes a sample (s16le); the input is cut or not PCM")
                return b""
            if self._head:
                while len(b) < 64:  # enough to tell a file's header
                    more = os.read(self.fd, 64 - len(b))
                    if not more:
                        break
                    b += more
                self._head = False
                what = sniff(b)
                if what is not None:
                    raise InputError(f"stdin: holds {what}, not raw 16-bit PCM; give the file as --audio FILE, "
                                     f"or convert it: {CONVERT}")
            b = self._odd + b
            k = len(b) // 2 * 2
            self._odd = b[k:]
            self.bytes += k
            if k:
                return b[:k]
        return b""


def paced(pcm: np.ndarray, rate: int, stop: threading.Event, realtime: bool = True):
    """``pcm`` (int16) in PIECE-second pieces, each once the clock reaches its start (all at
    once without ``realtime``); ends early when ``stop`` is set."""
    n = max(1, int(rate * PIECE))
    t0 = time.monotonic()
    for k, s in enumerate(range(0, pcm.size, n)):
        if realtime:
            wait = t0 + k * PIECE - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return
        if stop.is_set():
            return
        yield pcm[s: s + n]


class Y4mWriter:
    """YUV4MPEG2, 25 fps, 4:2:0 (BT.601, limited range, as OpenCV converts) on ``stream``."""

    def __init__(self, stream, width: int, height: int):
        self.stream, self.width, self.height = stream, width, height
        self.frames = 0
        stream.write(f"YUV4MPEG2 W{width} H{height} F{FPS}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".encode())

    def write(self, rgb: np.ndarray):
        import cv2

        yuv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)
        self.stream.write(b"FRAME\n")
        self.stream.write(yuv.tobytes())
        self.frames += 1

    def flush(self):
        self.stream.flush()


class Mp4Recorder:
    """The live run as an MP4 at ``out``: frames (:meth:`write`, by index: a missing one
    repeats the one before) and the audio as it came (:meth:`audio`, s16le at ``rate``),
    muxed by :meth:`close`; :meth:`abort` (or any error) leaves nothing."""

    def __init__(self, out: Path, width: int, height: int, rate: int, force: bool = False, crf: int = 20):
        from ..video.outputs import AtomicFile
        from ..video.writer import VideoWriter

        self.out, self.rate, self.force = Path(out), int(rate), force
        self.frames = 0
        self._last: np.ndarray | None = None
        self._video = AtomicFile(self.out, suffix=".video.mp4")
        self._pcm = AtomicFile(self.out, suffix=".pcm")
        self._audio_file = None
        self._lock = threading.Lock()
        self._writer = None
        try:
            self._audio_file = open(self._pcm.tmp, "wb")
            self._writer = VideoWriter(self._video.tmp, width, height, crf=crf, overwrite=True)
        except BaseException:
            self.abort()
            raise

    def audio(self, pcm: bytes):
        with self._lock:
            if self._audio_file is not None:
                self._audio_file.write(pcm)

    def write(self, index: int, rgb: np.ndarray):
        assert self._writer is not None
        while self.frames < index and self._last is not None:  # a dropped frame: the one before again
            self._writer.write(self._last)
            self.frames += 1
        self._writer.write(rgb)
        self._last = rgb
        self.frames += 1

    def close(self):
        """Finish: the video and the audio muxed into ``out`` (renamed into place when complete)."""
        from ..speech.audio import ffmpeg_exe
        from ..video.outputs import AtomicFile

        final = None
        try:
            with self._lock:
                f, self._audio_file = self._audio_file, None
            if f is not None:
                f.close()
            assert self._writer is not None
            self._writer.close()
            self._writer = None
            final = AtomicFile(self.out, overwrite=self.force)
            seconds = self.frames / FPS
            cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(self._video.tmp),
                   "-f", "s16le", "-ar", str(self.rate), "-ac", "1", "-i", str(self._pcm.tmp),
                   "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k",
                   "-af", "apad", "-t", f"{seconds:.3f}", "-movflags", "+faststart", "-f", "mp4", str(final.tmp)]
            with signals.held():
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
                signals.track_proc(proc)
            try:
                _, err = proc.communicate()
            finally:
                signals.untrack_proc(proc)
            if proc.returncode != 0:
                raise InputError(f"{self.out}: muxing the recording failed "
                                 f"({err.decode(errors='replace').strip().splitlines()[-1:] or 'ffmpeg exited'})")
            final.commit()
        except BaseException:
            if final is not None:
                final.discard()
            self.abort()
            raise
        self._discard_parts()

    def abort(self):
        with self._lock:
            f, self._audio_file = self._audio_file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._discard_parts()

    def _discard_parts(self):
        self._video.discard()
        self._pcm.discard()
