"""What the commands do beyond generating a video; ``talkface.cli`` holds their command lines.

``evaluate`` (generate from real clips and compare with their frames), ``landmarks`` (the
68 points of an image, fixed by hand in a local page, or predicted from audio),
``doctor`` (what this installation can do). ``generate`` and ``batch`` are the Python API
(``talkface.api``) and ``talkface.batch``; ``weights`` and ``train`` live in
``talkface.weights`` and ``talkface.train``.
"""
