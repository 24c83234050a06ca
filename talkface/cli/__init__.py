"""talkface command line: a thin layer over the Python API.

``app`` is the ``talkface`` group (``app.py``: one-line errors, exit codes, signals);
the commands are registered by group: ``make`` (generate, batch, landmarks), ``check``
(evaluate, doctor), ``weights`` (talkface weights ...), ``train`` (talkface data / train ...).
"""
from __future__ import annotations

# importing a command module registers its commands, in the order --help lists them
from . import make  # noqa: F401  # isort: skip
from . import check, live, train, weights  # noqa: F401
from .app import app, entry, interrupted, run, usage_line

__all__ = ["app", "entry", "interrupted", "run", "usage_line"]
