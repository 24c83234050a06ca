"""The README a new user reads first (issue 23): its Use block runs top to bottom on the
shipped examples (CI runs it: ``.ci/readme_commands``, which these tests also check on
small READMEs of their own), and what it says of the install is true."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT

SCRIPT = ROOT / ".ci" / "readme_commands"
README = ROOT / "README.md"


def use_commands(readme: Path | None = None) -> list[str]:
    """The Use block's commands as CI runs them (``.ci/readme_commands --list``)."""
    r = subprocess.run(["bash", str(SCRIPT), "--list", str(readme or README)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def talkface_calls(lines: list[str]) -> list[list[str]]:
    """Each ``talkface ...`` command of the lines (split at ; && and comments), as argv."""
    out = []
    for line in lines:
        for part in re.split(r";|&&", line.split(" #")[0]):
            argv = shlex.split(part)
            if argv and argv[0] == "talkface":
                out.append(argv[1:])
    return out


def opt(argv: list[str], *names: str) -> str | None:
    for n in names:
        if n in argv:
            return argv[argv.index(n) + 1]
    return None


def test_use_block_outputs_are_distinct():
    """Each command writes its own files: none is refused because an earlier one wrote it
    (the old block wrote portrait_speech.mp4 three times and face.json three times)."""
    written = []
    for argv in talkface_calls(use_commands()):
        for name in ("-o", "--overlay", "--video", "--report"):
            if opt(argv, name):
                written.append(opt(argv, name))
        if argv[0] == "generate" and not opt(argv, "-o"):  # PORTRAIT_AUDIO.mp4 next to the audio
            p, a = Path(argv[1]), Path(argv[2])
            written.append(str(a.parent / f"{p.stem}_{a.stem}.mp4"))
    assert len(written) >= 8
    assert len(written) == len(set(written)), written
    assert "--force" not in " ".join(use_commands())


def test_use_block_runs_on_the_shipped_examples_only():
    lines = use_commands()
    calls = talkface_calls(lines)
    inputs = [a for argv in calls for a in argv if re.search(r"\.(png|jpg|wav|mp3)$", a) and "/" in a]
    assert inputs and all((ROOT / a).is_file() for a in inputs), inputs
    assert not any("--edit" in argv for argv in calls)  # interactive: in prose, not in the block
    made = set()
    for line in lines:  # a manifest the batch line reads is made by an earlier line
        m = re.search(r">\s*(\S+\.csv)", line)
        if m:
            made.add(m.group(1))
    batch = [argv for argv in calls if argv[0] == "batch"]
    assert batch and all(argv[1] in made for argv in batch)


def test_cartoon_template_box_fits_the_cartoon():
    """--template --box puts the eyes and mouth on examples/cartoon.png's (drawn by
    tests/helpers.draw_face(360, 440): eyes at (140, 200) and (220, 200), mouth at
    (180, 285)); the old box 120,80,200,240 put a second mouth on the cheek."""
    from talkface.commands.landmarks import parse_box, template_face

    def fits(box: str) -> bool:
        p = template_face(parse_box(box, 360, 440)).points
        eyes = np.linalg.norm(p[36:42].mean(0) - (140, 200)) + np.linalg.norm(p[42:48].mean(0) - (220, 200))
        return bool(eyes < 12 and np.linalg.norm(p[48:68].mean(0) - (180, 285)) < 12)

    boxes = [opt(argv, "--box") for argv in talkface_calls(use_commands()) if "--template" in argv]
    assert len(boxes) == 1 and fits(boxes[0]), boxes
    assert not fits("120,80,200,240")


def test_cartoon_is_made_with_its_own_landmarks():
    """The --landmarks file the cartoon's video reads was written from the cartoon (the
    first writer of a name: a later one without --force is refused)."""
    from_image: dict[str, str] = {}
    for argv in talkface_calls(use_commands()):
        if argv[0] == "landmarks" and opt(argv, "-o"):
            from_image.setdefault(opt(argv, "-o"), argv[1])
        if argv[0] == "generate" and opt(argv, "--landmarks"):
            assert from_image.get(opt(argv, "--landmarks")) == argv[1], argv


def test_weights_size_and_demo_output_as_the_readme_says():
    text = README.read_text()
    shipped = ROOT / "talkface" / "assets" / "weights"
    man = json.loads((shipped / "manifest.json").read_text())
    entry = next(e for e in man["weights"] if e["name"] == man["default"])
    total = sum((shipped / f["file"]).stat().st_size for f in entry["files"].values())
    sizes = re.findall(r"default weights \((\d+(?:\.\d+)?) MB\)", text)
    assert sizes and all(abs(float(s) - total / 1e6) < 0.05 for s in sizes), (sizes, total)
    setup = re.search(r"^```bash\n(pip install \. .*)$", text, re.M)
    assert setup and "torch" not in setup.group(1) and "-o demo.mp4" in setup.group(1)
    r = subprocess.run(["git", "check-ignore", "-q", "demo.mp4"], cwd=ROOT)
    assert r.returncode == 0, "demo.mp4 (the set-up line's output) is not ignored by git"


@pytest.mark.slow
@pytest.mark.parametrize("block,ok", [
    ("echo one > a.txt\ntest -f a.txt && test -f examples/astronaut.png   # a comment\n", True),
    ("true\nfalse ; true\ntrue\n", False),           # a failing command before ; fails the line
    ("false && true\n", False),
    ("test -n \"$TALKFACE_HOME\" && test -z \"$(ls -A \"$TALKFACE_HOME\")\"\n", True),  # an empty home
    ("true \\\n  --more\n", False),                 # continued lines are refused
])
def test_readme_commands_script(tmp_path, block, ok):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Use\n\ntext\n\n```bash\n{block}```\n\n## Next\n\n```bash\nfalse\n```\n")
    r = subprocess.run(["bash", str(SCRIPT), str(readme)], capture_output=True, text=True, timeout=120)
    assert (r.returncode == 0) == ok, (r.stdout, r.stderr)
    if ok:
        assert "Use commands ran" in r.stdout


@pytest.mark.slow
@pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import torch"]).returncode != 0, reason="needs torch")
def test_readme_commands_script_hides_torch(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("## Use\n\n```bash\npython3 -c 'import torch'\n```\n\n## Next\n")
    assert subprocess.run(["bash", str(SCRIPT), str(readme)], capture_output=True, timeout=120).returncode == 0
    r = subprocess.run(["bash", str(SCRIPT), "--no-torch", str(readme)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "No module named 'torch'" in r.stdout, (r.stdout, r.stderr)


def test_ci_runs_the_readme_commands_and_the_fresh_venv_without_torch():
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/readme_commands --no-torch" in run and "bash .ci/fresh_venv" in run
    assert "PYTHONPATH=\"$tmp/notorch\"" in (ROOT / ".ci" / "fresh_venv").read_text()
