"""Stage 3, motion: the landmark motion AT-net predicts from the speech, and idle touches.

``predict`` is the stage's entry: which kind of AT-net the weights have (one class per
kind: ``ATNetKind``), what it reads from the audio and the landmarks it predicts, a chunk
at a time. The AT-nets: ``mouthnet`` (talkface's default,
numpy), ``atnet`` (the paper's MFCC layout, torch) with its landmark PCA (``pca``) and the
authors' released pipeline (``authors``). ``idle`` adds blinks and a light head sway;
``articulation`` and ``baseline`` measure and bound a mouth's motion (evaluate, training).
"""
