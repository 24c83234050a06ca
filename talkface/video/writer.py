"""Video stage: read clips frame by frame, and stream frames into an H.264 + AAC MP4.

Frames go to the imageio-ffmpeg binary through ffmpeg-python over a pipe, so a video is
never held in memory. Output is written to a temporary file beside the target and only
renamed into place (after flush + fsync) when complete (``outputs.py``: the checks of an
output path and the atomic write).
"""
from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Generator

import numpy as np

from ..constants import FPS
from ..runtime import signals
from ..runtime.errors import InputError
from ..speech.audio import ffmpeg_exe
from .outputs import AtomicFile

# ffmpeg's default YUV -> RGB conversion takes a fast path that rounds down: frames came
# out about 1.2 levels darker than encoded (an RGB frame through our encoder and back:
# mean -1.2 per channel; with these flags -0.2..+0.2)
DECODE_FLAGS = ["-sws_flags", "accurate_rnd+full_chroma_int"]


def read_frames(path: str | os.PathLike, fps: int = FPS) -> Generator[np.ndarray, None, None]:
    """Yield RGB uint8 frames of a video, resampled to ``fps``."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), output_params=["-r", str(fps), *DECODE_FLAGS])
    meta = next(gen)
    w, h = meta["size"]
    for raw in gen:
        yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def count_frames(path) -> tuple[int, float]:
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))


def _disk_full(text: str) -> bool:
    return "No space left" in text or "ENOSPC" in text


class VideoWriter:
    """Stream RGB frames into ``out`` (H.264 yuv420p, 25 fps, +faststart), muxing ``audio``.

    Use as a context manager; the output appears at ``out`` only after a clean close.
    ``audio_seconds`` pads or trims the muxed audio to that length, so the audio never
    cuts the video short. The audio is mixed down to mono by averaging its channels (a
    stereo file comes out as loud as the same speech in mono, never clipped).

    Interrupts: whatever moment an exception (Ctrl-C, SIGTERM) hits, from inside this
    constructor to the final rename, the encoder is killed and the temp file removed
    (``abort``, and :mod:`talkface.runtime.signals` as a net); no wait here is unbounded unless a
    signal can end it.
    """

    POLL = 0.2  # seconds between checks in the waits of the main thread and the pipe thread

    def __init__(self, out, width: int, height: int, audio=None, fps: int = FPS, crf: int = 20,
                 preset: str = "veryfast", audio_seconds: float | None = None, overwrite: bool = True):
        import ffmpeg

        if width % 2 or height % 2:
            raise ValueError("frame size must be even for yuv420p")
        self.out = Path(out)
        self.size = (width, height)
        self.frames = 0
        self._atomic: Any = None  # these four are set below (None until then: abort() checks)
        self.proc: Any = None
        self._pump: Any = None
        self._err: Any = None
        self._broken = False
        self._stop = threading.Event()
        # frames go to ffmpeg from a thread, so rendering the next frame overlaps the pipe
        # write (which waits for the encoder); the queue bounds memory to a few frames
        self._q: queue.Queue = queue.Queue(maxsize=8)
        try:
            self._atomic = AtomicFile(self.out, overwrite=overwrite)
            video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
            args = dict(vcodec="libx264", pix_fmt="yuv420p", crf=crf, preset=preset, movflags="+faststart",
                        r=fps, format="mp4")
            if audio is not None:
                # mono as the mean of the channels: with float samples ffmpeg's own -ac 1 sums
                # them at -3 dB each (+3 dB for stereo, clipping); rematrix_maxval=1 normalises
                a = ffmpeg.input(str(audio)).audio.filter("aresample", rematrix_maxval=1.0) \
                    .filter("aformat", channel_layouts="mono")
                if audio_seconds:
                    a = a.filter("apad").filter("atrim", duration=audio_seconds)
                stream = ffmpeg.output(video, a, str(self._atomic.tmp), acodec="aac", audio_bitrate="128k",
                                       ac=1, **args)
            else:
                stream = ffmpeg.output(video, str(self._atomic.tmp), **args)
            cmd = stream.global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-y").compile(cmd=ffmpeg_exe())
            self._err = tempfile.TemporaryFile()
            with signals.held():  # started and recorded together
                # its own session: a Ctrl-C on the terminal reaches talkface only, which
                # decides (a signalled ffmpeg would finish the file and exit on its own)
                self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                             stderr=self._err, start_new_session=True)
                signals.track_proc(self.proc)
            try:  # a pipe that holds a whole frame or more (Linux F_SETPIPE_SZ); fine without
                import fcntl

                fcntl.fcntl(self.proc.stdin.fileno(), 1031, min(1 << 20, max(1 << 16, width * height * 3)))
            except (ImportError, OSError):
                pass
            self._pump = threading.Thread(target=self._pump_frames, name="talkface-encoder-pipe", daemon=True)
            self._pump.start()
        except BaseException:
            self.abort()
            raise

    def _pump_frames(self):
        stdin = self.proc.stdin
        while not self._stop.is_set():
            try:
                b = self._q.get(timeout=self.POLL)
            except queue.Empty:
                continue
            if b is None:
                return
            if not self._broken:
                try:
                    stdin.write(b)
                except (BrokenPipeError, OSError, ValueError):
                    self._broken = True

    def _put(self, b):
        """Queue ``b`` for the pipe thread. Each try holds signals back, so an interrupt never
        leaves the queue's lock taken; between tries one is raised at once."""
        while True:
            with signals.held():
                try:
                    self._q.put(b, timeout=self.POLL)
                    return
                except queue.Full:
                    pass
            if self._broken or not self._pump.is_alive():
                raise BrokenPipeError("the encoder stopped reading")

    def write(self, frame: np.ndarray):
        if frame.shape[1] != self.size[0] or frame.shape[0] != self.size[1]:
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, writer expects {self.size}")
        if self._broken:
            self._fail()
        try:
            self._put(np.ascontiguousarray(frame, np.uint8).tobytes())
        except BrokenPipeError:
            self._fail()
        self.frames += 1

    def _finish_pump(self):
        """Let the pipe thread write what is queued and end (it ends at the sentinel, or when
        the encoder is gone); each wait is short, so a signal ends this at once."""
        try:
            self._put(None)
        except BrokenPipeError:
            self._stop.set()
        while self._pump.is_alive():
            self._pump.join(self.POLL)

    def _stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace").strip()

    def _fail(self):
        self._broken = True
        self._stop.set()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        err = self._stderr()
        self.abort()
        if _disk_full(err):
            raise InputError(f"{self.out}: no space left on the device; free some disk space or write elsewhere")
        raise InputError(f"{self.out}: video encoding failed ({err.splitlines()[-1] if err else 'ffmpeg exited'})")

    def close(self):
        """Finish the video and rename it into place; on any exception (an interrupt too)
        nothing is left: see ``abort``."""
        try:
            self._finish_pump()
            if self._broken:
                self._fail()
            try:
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            while True:  # ffmpeg finishes the file (+faststart)
                try:
                    rc = self.proc.wait(timeout=self.POLL)
                    break
                except subprocess.TimeoutExpired:
                    pass
            if rc != 0:
                self._fail()
            self._atomic.commit()  # the commit point
        except BaseException:
            self.abort()
            raise
        signals.untrack_proc(self.proc)
        self._close_err()

    def abort(self):
        """Kill the encoder, stop the pipe thread and remove the temp file; bounded in time,
        not interrupted by a signal (one that comes meanwhile stays pending)."""
        with signals.held(deliver=False):
            self._broken = True  # the pump drops what is queued
            self._stop.set()
            if self.proc is not None:
                try:
                    self.proc.kill()
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
                signals.untrack_proc(self.proc)
            if self._pump is not None and self._pump.is_alive():
                self._pump.join(timeout=2)  # the killed encoder's pipe fails its write at once
            if self._atomic is not None:
                self._atomic.discard()
            self._close_err()

    def _close_err(self):
        if self._err is not None:
            try:
                self._err.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.close()
        else:
            self.abort()
        return False
