"""Every `python -m sandbox.run ...` (and `sandbox.stream`) command in the README composes and passes its
checks (no training),
so a documented command that no longer parses fails CI. Files a command names (source=, audio=, a video
folder's data.root=) are stood in by empty ones; a sweep (-m) is expanded and every job checked."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"


def readme_commands() -> list[str]:
    text = README.read_text()
    cmds = []
    for line in text.splitlines():
        m = re.search(r"python -m sandbox\.(run|stream)\s+(.*?)(?:\s+#.*)?$", line.strip().strip("`"))
        if m:
            cmds.append(f"{m.group(1)}: " + m.group(2).split("`")[0].strip())
    return cmds


def test_readme_has_commands():
    assert len(readme_commands()) >= 8


@pytest.mark.parametrize("args", readme_commands())
def test_readme_command_composes(args, tmp_path, monkeypatch):
    from sandbox.run import compose_config, main
    from sandbox.stream import check_chunk, check_inputs, split_args
    from sandbox.sweep import expand, preflight_jobs, split_overrides

    monkeypatch.chdir(tmp_path)
    cli, _, args = args.partition(": ")
    argv = shlex.split(args)
    for a in argv:
        key, _, value = a.partition("=")
        if key in ("source", "audio"):
            Path(value).touch()
        if key == "data.root":  # data=video: a folder holding a video (only its name is checked here)
            Path(value).mkdir()
            (Path(value) / "talk.mp4").touch()
    if cli == "stream":
        rest, settings, inputs = split_args(argv)
        check_inputs(inputs)
        check_chunk(compose_config([*rest, "stage=train"]), settings)
    elif argv == ["--help"]:
        assert main(argv) == 0
    elif "-m" in argv:
        job, _ = split_overrides([a for a in argv if a != "-m"])
        preflight_jobs(expand(job))
    else:
        compose_config(argv)
