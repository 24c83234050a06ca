"""Process plumbing every stage and command shares (no stage of its own).

``errors`` (the errors a user can cause and their exit codes), ``torch_needed`` (PyTorch
is optional), ``inputs`` (the check every input file gets), ``signals`` (Ctrl-C / SIGTERM:
stop, clean up, exit 130), ``forked`` (work in a forked helper process), ``prefetch`` (the
audio read and the face found in such processes while the weights load), ``device``
(``--device``), ``progress`` (stage timings, progress bars), ``log`` (warnings on stderr),
``memory`` (allocator tuning for long videos).
"""
