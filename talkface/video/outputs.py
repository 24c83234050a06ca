"""Files talkface writes: refused before any work when they cannot or may not be written,
then written to a temp file beside the target and renamed into place only when complete.

The temp file is ``.NAME.HOST-PID.RANDOM.EXT.part`` (``.HASH.HOST-PID.RANDOM.EXT.part``
when that would be longer than the file system allows, so that every output name that
fits has a temp name that fits), recorded in :mod:`talkface.runtime.signals` until its commit, so
an interrupt at any moment leaves nothing; one left by a killed run is removed by the next
write to the same target.

What is at the output path counts as there, also a symbolic link to a missing file: it is
refused without ``--force`` and replaced (the link itself, never what it points to) with it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..runtime import signals
from ..runtime.errors import InputError

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv"}
NAME_MAX = 255  # bytes in one file name, where the file system does not say
_PID_DIGITS = 10  # room kept for the process id in a temp name, whatever this one's
_RANDOM = 8  # characters tempfile.mkstemp adds


def name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system of ``folder`` takes (255 if it does not say)."""
    try:
        n = os.pathconf(str(folder), "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return NAME_MAX
    return n if n and n > 0 else NAME_MAX


def _nbytes(name: str) -> int:
    return len(os.fsencode(name))


def check_target(path: Path, exts, must_be: str, what: str = "output") -> Path:
    """Refuse (exit 2) a file to be written that has the wrong extension, is a folder, or
    sits in a folder that is missing or not writable. ``must_be`` finishes "NAME: ..."."""
    p = Path(path)
    if p.suffix.lower() not in exts:
        raise InputError(f"{p}: {must_be}; change the extension")
    limit = name_max(p.parent)
    if _nbytes(p.name) > limit:
        raise InputError(f"{p}: file name is {_nbytes(p.name)} bytes, longer than the {limit} this file system "
                         f"allows; choose a shorter {what} name")
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


def dangling_link(p: Path) -> str | None:
    """Where ``p`` points when it is a symbolic link to nothing (else None)."""
    p = Path(p)
    if p.is_symlink() and not p.exists():
        try:
            return os.readlink(p)
        except OSError:
            return "?"
    return None


def check_output_path(out: Path, force: bool = False, exts=VIDEO_EXTS, inputs=()) -> Path:
    """Refuse (exit 2) an output that cannot or may not be written: see :func:`check_target`,
    an existing file without ``force`` (a symbolic link to a missing file too: with ``force``
    the link is replaced, never written through), and the same file as one of ``inputs``
    even with it."""
    out = check_target(out, exts, f"output must be a video file ({', '.join(sorted(exts))})")
    refuse_same_file(out, inputs)
    if not force:
        to = dangling_link(out)
        if to is not None:
            raise InputError(f"{out}: already exists, as a symbolic link to {to} (which does not exist); pass "
                             "--force to replace the link or choose another name")
        if os.path.lexists(out):
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


def _short_key(name: str) -> str:
    """The stand-in for a target's name in its temp names when the name itself is too long."""
    return "tf-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:20]


def temp_affixes(target: Path, suffix: str | None = None) -> tuple[str, str]:
    """(prefix, suffix) of ``target``'s temp names for ``tempfile.mkstemp``:
    ``.NAME.HOST-PID.`` and ``EXT.part``; when such a name could be longer than the file
    system allows (NAME_MAX), ``.HASH.HOST-PID.`` (and ``.part`` alone if EXT is long too),
    so a temp name fits whenever the target's own name does."""
    target = Path(target)
    ext = (suffix if suffix is not None else target.suffix) + ".part"
    host = _host()
    limit = name_max(target.parent)

    def fits(key: str, end: str) -> bool:
        return _nbytes(f".{key}.{host}-") + _PID_DIGITS + 1 + _RANDOM + _nbytes(end) <= limit

    key = target.name if fits(target.name, ext) else _short_key(target.name)
    if not fits(key, ext):
        ext = ".part"
    return f".{key}.{host}-{os.getpid()}.", ext


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete temp files of ``target`` (``.NAME.HOST-PID.*.part`` or ``.HASH.HOST-PID.*.part``)
    left by a killed run: only those made on this host by a process that no longer exists."""
    target = Path(target)
    prefixes = [f".{key}.{_host()}-" for key in (target.name, _short_key(target.name))]
    gone: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return gone
    for p in entries:
        prefix = next((x for x in prefixes if p.name.startswith(x)), None)
        if prefix is None or not p.name.endswith(".part"):
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

    The temp file is ``.NAME.HOST-PID.RANDOM.EXT.part`` (NAME replaced by a hash of it when
    the temp name would be too long, see :func:`temp_affixes`); one left behind by a killed run
    (kill -9, power loss) is removed by the next write to the same target on that host.
    Until ``commit()`` or ``discard()`` it is recorded in :mod:`talkface.runtime.signals`, so an
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
                prefix, end = temp_affixes(self.target, suffix or None)
                fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=end, dir=str(self.target.parent))
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
            if os.path.lexists(self.target):
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
