"""Files talkface writes: refused before any work when they cannot or may not be written,
then written to a temp file beside the target and renamed into place only when complete.

The temp file is ``.NAME.HOST-PID.RANDOM.EXT.part``, recorded in :mod:`talkface.signals`
until its commit, so an interrupt at any moment leaves nothing; one left by a killed run
is removed by the next write to the same target.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import signals
from .errors import InputError

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv"}


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
            raise InputError(f"{self.target}: was created by something else in the meantime; "
                             "nothing was overwritten (use --force to replace it)") from None
        except OSError:  # no hard links here (FAT, some network disks): check, then rename
            if self.target.exists():
                self.discard()
                raise InputError(f"{self.target}: was created by something else in the meantime; "
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


def write_atomic(path, data: bytes | str, stop_on_signal: bool = True, overwrite: bool = True):
    """Write ``data`` to ``path`` through a temp file renamed into place when complete; without
    ``overwrite`` a file that is at ``path`` by then is kept (InputError)."""
    a = AtomicFile(Path(path), overwrite=overwrite)
    try:
        if isinstance(data, str):
            a.tmp.write_text(data)
        else:
            a.tmp.write_bytes(data)
        a.commit(stop_on_signal)
    except BaseException:
        a.discard()
        raise
