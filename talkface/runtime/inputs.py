"""The check every input file gets before it is read: there, a file, not empty."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError


def check_input_file(path: str | os.PathLike, role: str, kind: str, formats: str) -> Path:
    """``path`` as a Path once it names a non-empty file; else InputError (exit 2) saying
    what to give instead. ``role`` names the input ("portrait"), ``kind`` the file it
    should be ("image file") and ``formats`` examples ("PNG, JPEG, WebP, BMP")."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path of the {role}")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give an {kind} ({formats})")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty; give a valid {kind}")
    return p
