"""Video stage: read clips frame by frame, and stream frames into an H.264 + AAC MP4.

Frames go to the imageio-ffmpeg binary through ffmpeg-python over a pipe, so a video is
never held in memory. Output is written to a temporary file beside the target and only
renamed into place (after flush + fsync) when complete.
"""
from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from . import signals
from .audio import ffmpeg_exe
from .constants import FPS
from .errors import InputError

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv"}


def read_frames(path: str | os.PathLike, fps: int = FPS) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames of a video, resampled to ``fps``."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path), output_params=["-r", str(fps)])
    meta = next(gen)
    w, h = meta["size"]
    for raw in gen:
        yield np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def count_frames(path) -> tuple[int, float]:
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))


def check_target(path: Path, exts, must_be: str, what: str = "output") -> Path:
    """Refuse (exit 2) a file to be written that has the wrong extension, is a folder, or
    sits in a folder that is missing or not writable. ``must_be`` finishes "NAME: ..."."""
    p = Path(path)
    if p.suffix.lower() not in exts:
        raise InputError(f"{p}: {must_be}; change the extension")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give the {what} a file name")
    if not p.parent.exists():
        raise InputError(f"{p}: folder {p.parent} does not exist; create it first")
    if not os.access(p.parent, os.W_OK):
        raise InputError(f"{p}: folder {p.parent} is not writable; choose another {what} folder")
    return p


def refuse_same_file(out: Path, inputs=(), what: str = "output"):
    """Refuse (exit 2) an output that is the same file as one of ``inputs`` (also through
    symbolic or hard links): writing it would destroy that input, ``--force`` or not."""
    out = Path(out)
    for inp in inputs:
        if inp is None:
            continue
        try:
            same = os.path.samefile(out, inp)
        except (OSError, ValueError):  # one of them does not exist (yet): not the same file
            continue
        if same:
            raise InputError(f"{out}: is the input {inp}; writing the {what} there would destroy it, "
                             f"choose another {what} name")


def check_output_path(out: Path, force: bool = False, exts=VIDEO_EXTS, inputs=()) -> Path:
    """Refuse (exit 2) an output that cannot or may not be written: see :func:`check_target`,
    an existing file without ``force``, and the same file as one of ``inputs`` even with it."""
    out = check_target(out, exts, f"output must be a video file ({', '.join(sorted(exts))})")
    refuse_same_file(out, inputs)
    if out.exists() and not force:
        raise InputError(f"{out}: already exists; pass --force to overwrite it or choose another name")
    return out


def _host() -> str:
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0])[:32] or "host"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete temp files of ``target`` (``.NAME.HOST-PID.*.part``) left by a killed run: only
    those made on this host by a process that no longer exists."""
    target = Path(target)
    prefix = f".{target.name}.{_host()}-"
    gone = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return gone
    for p in entries:
        if not (p.name.startswith(prefix) and p.name.endswith(".part")):
            continue
        pid = p.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            try:
                p.unlink()
                gone.append(p)
            except OSError:
                pass
    return gone


def write_error(target: Path, e: OSError, creating: bool = False) -> Exception:
    """A user-facing error for an OSError met while writing ``target`` (else ``e`` itself).
    ``creating``: the temp file beside it could not be made, so whatever the reason (``/proc``,
    ``/sys``: "No such file or directory"), the folder takes no new files."""
    import errno

    target = Path(target)
    if e.errno == errno.ENOSPC:
        return InputError(f"{target}: no space left on the device; free some disk space or write elsewhere")
    if creating or e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(f"{target}: folder {target.parent} is not writable ({e.strerror or e}); "
                          "choose another output folder")
    return e


class AtomicFile:
    """A temporary path beside ``target``, renamed onto it by ``commit()``.

    The temp file is ``.NAME.HOST-PID.RANDOM.EXT.part``; one left behind by a killed run
    (kill -9, power loss) is removed by the next write to the same target on that host.
    Until ``commit()`` or ``discard()`` it is recorded in :mod:`talkface.signals`, so an
    interrupt at any moment (even before this constructor returns) removes it. The rename
    in ``commit()`` is the single commit point: a signal that came before it discards the
    temp file instead.
    """

    def __init__(self, target: Path, suffix: str | None = None, overwrite: bool = True):
        self.target = Path(target)
        self.overwrite = overwrite
        remove_stale_temps(self.target)
        with signals.held():  # created and recorded together: no window where it is neither
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.{_host()}-{os.getpid()}.",
                                           suffix=(suffix or self.target.suffix) + ".part",
                                           dir=str(self.target.parent))
            except OSError as e:
                raise write_error(self.target, e, creating=True) from None
            os.close(fd)
            self.tmp = Path(tmp)
            signals.track_file(self.tmp)

    def commit(self, stop_on_signal: bool = True):
        """Rename the temp file onto the target. With ``stop_on_signal`` a signal that came
        before the rename (held back meanwhile) discards it instead and is raised."""
        with signals.held(deliver=False):  # a signal here waits for the rename or stops before it
            try:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp made it 0600
                with open(self.tmp, "rb+") as f:
                    f.flush()
                    os.fsync(f.fileno())
                if stop_on_signal and signals.stop_requested():  # interrupted before the commit point
                    self.discard()
                    signals.raise_pending()
                    signals.raise_if_lost()
                if self.overwrite:
                    os.replace(self.tmp, self.target)
                else:
                    self._place()
            except OSError as e:
                self.discard()
                raise write_error(self.target, e) from None
            signals.untrack_file(self.tmp)
            signals.committed()
        try:
            dfd = os.open(str(self.target.parent), os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
        except OSError:
            pass

    def _place(self):
        """Rename without replacing a file that appeared at the target meanwhile (another
        process wrote it while we rendered): a hard link fails if the target exists."""
        try:
            os.link(self.tmp, self.target)
        except FileExistsError:
            self.discard()
            raise InputError(f"{self.target}: was created by something else while rendering; "
                             "nothing was overwritten (use --force to replace it)") from None
        except OSError:  # no hard links here (FAT, some network disks): check, then rename
            if self.target.exists():
                self.discard()
                raise InputError(f"{self.target}: was created by something else while rendering; "
                                 "nothing was overwritten (use --force to replace it)") from None
            os.replace(self.tmp, self.target)
            return
        self.tmp.unlink()

    def discard(self):
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass
        signals.untrack_file(self.tmp)


def write_atomic(path, data: bytes | str, stop_on_signal: bool = True):
    """Write ``data`` to ``path`` through a temp file renamed into place when complete."""
    a = AtomicFile(Path(path))
    try:
        if isinstance(data, str):
            a.tmp.write_text(data)
        else:
            a.tmp.write_bytes(data)
        a.commit(stop_on_signal)
    except BaseException:
        a.discard()
        raise


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
    (``abort``, and :mod:`talkface.signals` as a net); no wait here is unbounded unless a
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
        self._atomic = self.proc = self._pump = None
        self._err = None
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
