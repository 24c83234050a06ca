"""``talkface batch --ray``: where the cluster is and what each actor asks of it
(:class:`RaySettings`), connecting to it (:func:`connect`), how many actors fit. Ray is
imported only by :func:`import_ray`, when ``--ray`` is given."""
from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
from dataclasses import dataclass
from typing import Any

from ..runtime.errors import InputError

ENV_PASSED = ("TALKFACE_WEIGHTS", "TALKFACE_HOME")  # the driver's, given to every actor when set


@dataclass(frozen=True)
class RaySettings:
    """``--ray ADDRESS`` (``auto``: the cluster ``ray start`` made on this machine or
    RAY_ADDRESS; ``local``: one of this machine's cores for this batch only; HOST:PORT;
    ray://HOST:PORT), resources per actor, how many (0: as many as the cluster fits),
    whether every input is shipped and every output sent back, retries of an item whose
    worker died."""
    address: str = "auto"
    cpus: float = 1.0
    gpus: float = 0.0
    actors: int = 0
    ship_inputs: bool = False
    retries: int = 2

    def check(self, device: str, jobs: int):
        """Refuse (InputError, exit 2) settings that cannot work, before anything starts."""
        from ..runtime.device import wants_gpu

        if not self.address.strip():
            raise InputError("--ray '': give auto, local, or the cluster's address (HOST:PORT or ray://HOST:PORT)")
        if not (math.isfinite(self.cpus) and self.cpus >= 0) or not (math.isfinite(self.gpus) and self.gpus >= 0) \
                or self.cpus + self.gpus <= 0:
            raise InputError(f"--ray-cpus {self.cpus:g} --ray-gpus {self.gpus:g}: each actor needs some CPUs or GPUs "
                             "(e.g. --ray-cpus 1, or --ray-gpus 0.25 for four actors per card)")
        if self.actors < 0:
            raise InputError(f"--ray-actors {self.actors}: must be 0 (as many as the cluster fits) or more")
        if self.retries < 0:
            raise InputError(f"retries {self.retries}: must be 0 or more")
        if jobs != 1:
            raise InputError(f"--jobs {jobs}: worker processes on this machine; with --ray the actors are the "
                             "workers, set their number with --ray-actors")
        if wants_gpu(device) and self.gpus <= 0:
            raise InputError(f"--device {device}: with --ray give each actor a GPU or part of one (--ray-gpus)")


def import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray: Ray is not installed; pip install 'talkface[ray]' here and on every node of "
                         "the cluster") from None
    return ray


def connect(settings: RaySettings, debug: bool = False) -> tuple[Any, bool]:
    """(ray, whether this call connected): an existing connection of this process (the
    Python API's ``ray.init``) is used as it is. talkface's own SIGINT / SIGTERM handlers
    stay (``ray.init`` replaces SIGTERM's)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    kw: dict = {"logging_level": logging.WARNING if debug else logging.ERROR, "log_to_driver": debug,
                "configure_logging": True}
    address = settings.address.strip()
    if address == "local":
        kw["include_dashboard"] = False
    if address not in ("auto", "local") and not address.startswith("ray://"):
        _check_listening(address)
    quiet = logging.getLogger("ray")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "token authentication is enabled" and the like: not per batch
    try:
        with _stderr_kept(not debug and address != "local"):  # Ray's retries: a line each on stderr
            ray.init(address=address, **kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise InputError(_why(address, e)) from None
    finally:
        quiet.setLevel(level)
        for s, h in saved.items():
            if h is not None:
                signal.signal(s, h)
    return ray, True


def how_many(ray, settings: RaySettings, items: int) -> int:
    res = ray.cluster_resources()
    cpus, gpus = res.get("CPU", 0.0), res.get("GPU", 0.0)
    fit = min(math.floor(cpus / settings.cpus + 1e-9) if settings.cpus else items,
              math.floor(gpus / settings.gpus + 1e-9) if settings.gpus else items)
    if fit < 1:
        raise InputError(f"--ray-cpus {settings.cpus:g} --ray-gpus {settings.gpus:g}: the Ray cluster has "
                         f"{cpus:g} CPUs and {gpus:g} GPUs, not enough for one actor; ask for less per actor")
    return max(1, min(items, settings.actors or fit))


def _why(address: str, e: BaseException) -> str:
    """The one line for a cluster that could not be reached at ``address``."""
    chain: list[str] = []
    c: BaseException | None = e
    while c is not None and len(chain) < 5:
        chain.append(str(c))
        c = c.__cause__ or c.__context__
    if any("InvalidAuthToken" in t or "token is missing" in t for t in chain):
        return (f"--ray {address}: the cluster wants its token; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (what "
                "'ray get-auth-token' prints on its head), or run the batch on the head with --ray auto")
    first = " ".join(str(e).split())[:300]
    return (f"--ray {address}: cannot connect to a Ray cluster ({first}); start one with 'ray start --head' or "
            "give its address (HOST:PORT)")


def _check_listening(address: str):
    """Refuse at once a HOST:PORT where nothing listens (Ray itself retries for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    if not port.isdigit() or not host:
        raise InputError(f"--ray {address}: give auto, local, or the cluster's address as HOST:PORT (its head's "
                         "'ray start --head' prints it; port 6379 by default)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as e:
        raise InputError(f"--ray {address}: no Ray cluster there ({e.strerror or e}); start one with "
                         "'ray start --head' or check the address") from None


@contextlib.contextmanager
def _stderr_kept(on: bool):
    """Ray's core prints its connection retries on stderr (file descriptor 2) while
    ``ray.init`` connects to a running cluster: kept out of the batch's lines (the error
    that ends them says what went wrong)."""
    if not on:
        yield
        return
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
