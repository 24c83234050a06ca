"""Stage 1, face: the portrait's face, its 68 points, and the aligned crop the networks see.

``find`` is the stage's entry: the face from a ``--landmarks`` file or the detector chain
(``detect``), then ``--face-index``. The detectors, one module each, are found by name in
``detectors`` (dlib, face-alignment, MediaPipe Face Mesh, the cartoon fit). ``image``
reads the portrait; ``align`` maps it to the aligned crop and pastes frames back;
``landmarks_file`` reads and writes the 68-point JSON; ``shape``, ``pose``, ``template``
and ``groups`` are the geometry of the 68 points; ``clips`` finds talking clips and tracks
their face (evaluate, training).
"""
