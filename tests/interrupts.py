"""Interrupt real ``talkface generate`` / ``talkface batch`` processes at random moments and
check what each one leaves behind (used by tests/test_interrupts.py; run by hand for
larger counts):

    python tests/interrupts.py --command generate --runs 100 --mode exec
    python tests/interrupts.py --command batch --runs 50 --mode exec --jobs 1,2

Each run starts the command, sends SIGINT or SIGTERM after a random delay (half of them
spread over the whole run, half in its last 30 %, where the encoder finishes and the
file is renamed), and then requires:

* no hang: the process is gone within ``--hang`` seconds of the signal;
* exit 130 with one ``error: ... interrupted`` line and no traceback, or exit 0 when the
  signal came after the output was committed (``generate``) or after the last item;
* nothing at or beside the output except: a complete video (exit 0 / a finished batch
  item), or the file that was there before, byte for byte (``--force`` runs);
* no encoder process left running.

``--mode fork`` (the test's default) starts each talkface process by forking a server that
has already imported talkface and torch: the same CLI code from ``entry()`` on, seconds
cheaper per run. ``--mode exec`` starts a fresh interpreter each time, as a user does.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def make_inputs(d: Path, seconds: float = 1.2) -> dict:
    from helpers import draw_face, make_random_weights, synth_speech, write_png, write_wav

    d.mkdir(parents=True, exist_ok=True)
    face = write_png(d / "face.png", draw_face())
    speech = write_wav(d / "speech.wav", synth_speech(seconds))
    weights = d / "weights"
    if not (weights / "manifest.json").exists():
        make_random_weights(weights)
    return {"face": str(face), "speech": str(speech), "weights": str(weights)}


def _argv(command: str, case: Path, inputs: dict, existing: bool, jobs: int) -> list[str]:
    if command == "generate":
        args = ["generate", inputs["face"], inputs["speech"], "-o", str(case / "v.mp4"), "-q"]
        return args + (["--force"] if existing else [])
    out = case / "out"
    out.mkdir()
    rows = ["portrait,audio,output"] + [f"{inputs['face']},{inputs['speech']},{out / n}" for n in ("a.mp4", "b.mp4")]
    (case / "jobs.csv").write_text("\n".join(rows) + "\n")
    return ["batch", str(case / "jobs.csv"), "--report", str(case / "report.json"), "-q", "--jobs", str(jobs)]


# ----------------------------------------------------------------------------- starting a run
class Forked:
    """A talkface process forked from this (pre-loaded) one, running ``talkface.cli.entry``."""

    def __init__(self, argv, case: Path):
        out = os.open(str(case / "stdout.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open(str(case / "stderr.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        # the signals wait (blocked) until the child has installed talkface's handlers, as
        # entry() does first thing: a fresh process's own start is what --mode exec tests
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        pid = os.fork()
        if pid == 0:  # the child: a talkface process from entry() on
            code = 1
            try:
                from talkface.runtime import signals

                install = signals.install

                def install_then_unblock():  # called by entry(): a signal due is handled there
                    install()
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)

                signals.install = install_then_unblock
                os.dup2(out, 1)
                os.dup2(err, 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                sys.argv = ["talkface", *argv]
                from talkface.cli import entry

                entry()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(out)
        os.close(err)
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)


class Execed(subprocess.Popen):
    def __init__(self, argv, case: Path):
        self._files = [open(case / "stdout.txt", "wb"), open(case / "stderr.txt", "wb")]
        super().__init__([sys.executable, "-m", "talkface", *argv], stdin=subprocess.DEVNULL,
                         stdout=self._files[0], stderr=self._files[1])


def preload():
    """What a talkface process loads anyway, done once in the fork server."""
    import torch  # noqa: F401

    import talkface.cli  # noqa: F401
    import talkface.pipeline  # noqa: F401
    from talkface.face.detectors import dlib

    try:
        dlib._dlib_models()
    except Exception:  # noqa: BLE001 - detection loads it itself then
        pass


# ----------------------------------------------------------------------------- checking a run
def _encoders_left(case: Path) -> list[int]:
    """Processes (not zombies) whose command line names a file in ``case``: an orphaned ffmpeg."""
    left = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(case).encode() in cmd and state != "Z" and b"ffmpeg" in cmd:
            left.append(int(p.name))
    return left


def _valid_video(path: Path) -> bool:
    from talkface.batch import valid_video

    return valid_video(path)


def check(command: str, case: Path, rc, old: bytes | None) -> list[str]:
    """What is wrong with what the run left (empty: nothing)."""
    bad = []
    err = (case / "stderr.txt").read_text(errors="replace")
    if "Traceback" in err:
        bad.append("traceback on stderr")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if rc == 130:
        if not lines or "interrupted" not in lines[-1] or not lines[-1].startswith("error: "):
            bad.append(f"exit 130 without the one 'error: ... interrupted' line: {err[-300:]!r}")
        if len(lines) != 1:
            bad.append(f"{len(lines)} lines on stderr: {err[-1500:]!r}")
    elif rc != 0:
        bad.append(f"exit {rc}: {err[-300:]!r}")
    if command == "generate":
        names = sorted(os.listdir(case))
        rest = [n for n in names if n not in ("stdout.txt", "stderr.txt")]
        out = case / "v.mp4"
        if rc == 0:
            if rest != ["v.mp4"] or not _valid_video(out) or (old is not None and out.read_bytes() == old):
                bad.append(f"exit 0 but not exactly one new complete video: {rest}")
        elif old is not None:
            if rest != ["v.mp4"] or out.read_bytes() != old:
                bad.append(f"the previous output was not left untouched: {rest}")
        elif rest:
            bad.append(f"left behind: {rest}")
    else:
        out = case / "out"
        rest = sorted(os.listdir(out))
        if [n for n in rest if n not in ("a.mp4", "b.mp4")]:
            bad.append(f"left behind: {rest}")
        for n in rest:
            if n in ("a.mp4", "b.mp4") and not _valid_video(out / n):
                bad.append(f"{n} is not a complete video")
        if rc == 0 and rest != ["a.mp4", "b.mp4"]:
            bad.append(f"exit 0 but outputs {rest}")
        leftovers = [n for n in os.listdir(case) if n.endswith(".part") or n.startswith(".")]
        if leftovers:
            bad.append(f"left behind: {leftovers}")
        rep = case / "report.json"
        if rep.exists():
            try:
                items = json.loads(rep.read_text())["items"]
                for it in items:
                    there = Path(it["output"]).exists()
                    if (it["status"] == "ok") != there:
                        bad.append(f"report says {it['status']} for {Path(it['output']).name}, file there: {there}")
            except (ValueError, KeyError) as e:
                bad.append(f"report not valid: {e}")
    return bad


# ----------------------------------------------------------------------------- a campaign
def campaign(command: str, runs: int, mode: str = "fork", work: Path | None = None, seed: int = 0,
             sigs=("INT", "TERM"), jobs=(1,), budget: float | None = None, hang: float = 30.0,
             log=None, window: tuple[float, float] | None = None, calibrate: int = 1,
             inputs: dict | None = None) -> dict:
    """``runs`` interrupted runs of ``command`` (fewer when ``budget`` seconds run out)."""
    import tempfile

    rng = random.Random(seed)
    work = Path(work or tempfile.mkdtemp(prefix="talkface-interrupts-"))
    inputs = {**make_inputs(work / "inputs"), **(inputs or {})}
    os.environ["TALKFACE_WEIGHTS"] = inputs["weights"]
    if mode == "fork":
        preload()
    start = Forked if mode == "fork" else Execed
    t_begin = time.monotonic()

    def one(i, sig, delay, existing, n_jobs):
        case = work / (f"{command}-{i:03d}" if i >= 0 else f"{command}-calibration{-i}")
        case.mkdir()
        old = None
        if existing:
            old = b"the previous video, to be kept unless a new one is complete"
            (case / "v.mp4").write_bytes(old)
        argv = _argv(command, case, inputs, existing, n_jobs)
        t0 = time.monotonic()
        p = start(argv, case)
        while p.poll() is None and time.monotonic() - t0 < (delay or 0):
            time.sleep(0.005)
        sent, part = False, None
        if delay is not None and p.poll() is None:
            part = _part_size(case)
            os.kill(p.pid, getattr(signal, "SIG" + sig))
            sent = True
        t_sig = time.monotonic()
        limit = hang if delay is not None else 600
        while p.poll() is None and time.monotonic() - t_sig < limit:
            time.sleep(0.01)
        hung = p.poll() is None
        if hung:
            stacks = _stacks(p.pid)
            p.kill()
            while p.poll() is None:
                time.sleep(0.01)
        else:
            stacks = None
        time.sleep(0.05)
        bad = [f"hang: still running {limit:.0f} s after the signal"] if hung else []
        orphans = _encoders_left(case)
        if orphans:
            time.sleep(1.0)
            orphans = _encoders_left(case)
            if orphans:
                bad.append(f"encoder processes left running: {orphans}")
        startup = False
        if not hung:
            problems = check(command, case, p.returncode, old)
            # exec mode: a signal while the interpreter itself starts, before talkface's handlers
            # exist, ends it the default way (README); acceptable when nothing was written
            if (sent and p.returncode in (-signal.SIGINT, -signal.SIGTERM) and delay < 1.0
                    and all(x.startswith(("traceback", "exit ")) for x in problems)
                    and _before_talkface_ran((case / "stderr.txt").read_text(errors="replace"))):
                startup, problems = True, []
            bad += problems
        return {"run": i, "signal": sig if sent else None, "delay": None if delay is None else round(delay, 3),
                "startup_window": startup,
                "part_bytes_at_signal": part,
                "exit": p.returncode, "seconds": round(time.monotonic() - t0, 2), "existing": existing,
                "jobs": n_jobs, "problems": bad, "stacks": stacks}

    # calibration: runs without a signal (they must succeed) give the run's length (the shortest)
    lengths = []
    for c in range(calibrate):
        cal = one(-1 - c, None, None, False, jobs[0])
        if cal["exit"] != 0 or cal["problems"]:
            return {"command": command, "mode": mode, "calibration": cal, "runs": [], "error": "calibration failed"}
        lengths.append(cal["seconds"])
    length = min(lengths)
    results = []
    for i in range(1, runs + 1):
        if budget is not None and time.monotonic() - t_begin + length * 1.3 > budget and i > 4:
            break
        late = i % 2 == 0
        lo, hi = window or ((0.7, 1.0) if late else (0.0, 1.05))
        delay = rng.uniform(lo * length, hi * length)
        r = one(i, rng.choice(sigs), delay, command == "generate" and rng.random() < 0.25, rng.choice(jobs))
        results.append(r)
        if r["signal"] is None and r["exit"] == 0 and len(set(jobs)) == 1:
            length = min(length, r["seconds"])  # it ran faster than timed: aim the next signals within it
        if log:
            log(r)
    summary = {"command": command, "mode": mode, "calibration_seconds": length, "runs": results,
               "n": len(results), "hangs": sum(any(p.startswith("hang") for p in r["problems"]) for r in results),
               "bad": sum(bool(r["problems"]) for r in results),
               "exit_codes": {str(k): sum(r["exit"] == k for r in results) for k in sorted({r["exit"] for r in results},
                                                                                        key=str)},
               "signalled": sum(r["signal"] is not None for r in results),
               "signalled_while_writing": sum(r["part_bytes_at_signal"] is not None for r in results),
               "startup_window": sum(r["startup_window"] for r in results),
               "work": str(work)}
    return summary


def _before_talkface_ran(err: str) -> bool:
    """A traceback (if any) only through imports: no talkface function had started."""
    import re

    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', err)
    return not any("talkface" in f and fn != "<module>" for f, fn in frames)


def _part_size(case: Path) -> int | None:
    """Bytes of the temp file being written when the signal is sent (None: none yet)."""
    try:
        parts = [p for p in case.rglob("*.part")]
        return sum(p.stat().st_size for p in parts) if parts else None
    except OSError:
        return None


def _stacks(pid: int) -> str:
    """Kernel wait channels of a hung process's threads (to say where it waits)."""
    out = []
    for t in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            out.append(f"{t.name} {(t / 'comm').read_text().strip()} {(t / 'wchan').read_text().strip()}")
        except OSError:
            pass
    return "; ".join(out)


def main():
    # a run's SIGINT must not be ignored because this script was started in the background
    # ("cmd &" in a script ignores SIGINT, and so would every talkface started from here)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--command", default="generate", help="generate, batch or both (one after the other)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--mode", choices=("fork", "exec"), default="fork")
    ap.add_argument("--signals", default="INT,TERM")
    ap.add_argument("--jobs", default="1", help="batch --jobs values to draw from, e.g. 1,2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=None, help="stop starting runs after this many seconds")
    ap.add_argument("--hang", type=float, default=30.0)
    ap.add_argument("--window", default=None, help="a,b: delays drawn from a..b times the run's length")
    ap.add_argument("--calibrate", type=int, default=1, help="uninterrupted runs to time (the shortest counts)")
    ap.add_argument("--face", default=None, help="portrait instead of the drawn face")
    ap.add_argument("--speech", default=None, help="speech instead of 1.2 s of synthetic voice")
    ap.add_argument("--weights", default=None, help="weights folder instead of small random weights")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    def log(r):
        if a.verbose or r["problems"]:
            print(json.dumps(r), file=sys.stderr, flush=True)

    commands = ("generate", "batch") if a.command == "both" else (a.command,)
    t0 = time.monotonic()
    out = []
    for i, command in enumerate(commands):
        budget = None
        if a.budget is not None:  # what is left, shared by the commands still to run
            budget = (a.budget - (time.monotonic() - t0)) / (len(commands) - i)
        work = a.work / command if a.work else None
        out.append(campaign(command, a.runs, a.mode, work, a.seed, tuple(a.signals.split(",")),
                            tuple(int(j) for j in a.jobs.split(",")), budget, a.hang, log,
                            tuple(float(v) for v in a.window.split(",")) if a.window else None, a.calibrate,
                            {k: str(Path(v).resolve()) for k, v in (("face", a.face), ("speech", a.speech),
                                                                    ("weights", a.weights)) if v}))
    if a.json:
        a.json.write_text(json.dumps(out))
    for s in out:
        print(json.dumps({k: v for k, v in s.items() if k != "runs"}))


if __name__ == "__main__":
    main()
