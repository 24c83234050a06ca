"""``talkface landmarks IMAGE --edit``: a local page to fix the 68 points by hand.

:class:`LandmarkEditor` serves the image and its points on ``127.0.0.1`` (only) and writes
the landmarks JSON that ``generate --landmarks`` reads when the page saves. The page
(``page.html``, package data) is self-contained: no network, no CDN.
"""
from .server import LandmarkEditor

__all__ = ["LandmarkEditor"]
