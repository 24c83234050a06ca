"""Allocator tuning for long videos: memory stays flat however long the audio."""
from __future__ import annotations

import sys


def fixed_mmap_threshold() -> None:
    """Frame-sized buffers (0.2-3 MB) come and go every frame. glibc's adaptive thresholds
    then keep ever more freed heap (the process grew ~15 % over a 600 s video); fixed ones
    keep frames on the heap (no page faults per frame) and give free heap above 16 MB back,
    so memory stays flat however long the audio. Linux with glibc only; elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD: frames stay on the heap (no page faults per frame)
        libc.mallopt(-1, 16 << 20)  # M_TRIM_THRESHOLD: free heap above 16 MB goes back to the system
    except (OSError, AttributeError):  # not glibc (musl ...): nothing to tune
        pass
