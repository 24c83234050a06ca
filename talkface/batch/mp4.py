"""Is a finished video there (``--resume``)? MP4/MOV: the top-level ISO BMFF boxes, read
in microseconds; other containers: ffmpeg decodes the first frame."""
from __future__ import annotations

import os
import re
import struct
import subprocess


def isobmff_complete(path) -> bool | None:
    """MP4/MOV: True when the top-level boxes cover the file exactly and include ftyp, mdat
    and a moov with a video track (a file cut short fails); None when not ISO BMFF."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if f.read(8)[4:8] != b"ftyp":
                return None
            seen, pos, video = set(), 0, False
            while pos < size:
                f.seek(pos)
                h = f.read(16)
                if len(h) < 8:
                    return False
                n, kind = struct.unpack(">I4s", h[:8])
                if n == 1 and len(h) == 16:
                    n = struct.unpack(">Q", h[8:16])[0]
                elif n == 0:
                    n = size - pos
                if n < 8:
                    return False
                if kind == b"moov":  # the tracks' hdlr boxes come early: 64 MB is plenty even for a huge moov
                    f.seek(pos)
                    video = re.search(rb"hdlr.{8}vide", f.read(min(n, 64 << 20)), re.DOTALL) is not None
                seen.add(kind)
                pos += n
    except OSError:
        return False
    return pos == size and video and {b"ftyp", b"moov", b"mdat"} <= seen


def valid_video(path) -> bool:
    """True when ``path`` is a complete video: for MP4/MOV a structural check of the boxes
    (microseconds, so --resume of a large batch is quick), else ffmpeg decodes its first frame."""
    from ..speech.audio import ffmpeg_exe

    quick = isobmff_complete(path)
    if quick is not None:
        return quick
    try:
        r = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0",
                            "-frames:v", "1", "-f", "null", "-"], capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0
