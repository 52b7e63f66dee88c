"""experiments.train_course: a generator trained again with snapshots, whose copy at the run's step count is the
run's own generator, and the page it writes."""
from __future__ import annotations

import json

import pytest

from experiments.gen_jaw import RunMotion
from experiments.train_course import main, max_abs_difference, train_with_snapshots
from sandbox.run import main as run_main


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course")
    out = tmp / "run"
    assert run_main(["rep=3dmm", "gen=flow", "preset=smoke", f"paths.cache={tmp / 'cache'}", f"out={out}",
                     "train.max_steps=6", "stage=train"]) == 0
    return out


def test_the_copy_at_the_runs_step_count_is_the_runs_generator(smoke_run):
    motion = RunMotion(smoke_run)
    states, gen, _ = train_with_snapshots(motion, 10, [3, 6, 10])
    assert sorted(states) == [3, 6, 10]
    assert max_abs_difference(states[6], motion.gen.state_dict()) < 1e-6  # the same seed, windows and RNG draws
    assert max_abs_difference(states[3], states[6]) > 1e-4 and max_abs_difference(states[6], states[10]) > 1e-4


def test_the_page_holds_every_step_and_the_real_row(smoke_run, tmp_path):
    out = tmp_path / "course"
    main(["--run", str(smoke_run), "--steps", "4", "--at", "2", "4", "--pcs", "2", "--out", str(out)])
    page = out.with_suffix(".md").read_text()
    assert "| 2 |" in page and "| 4 |" in page and "| real |" in page and "PC2" in page
    data = json.loads(out.with_suffix(".json").read_text())["results"]
    assert list(data[str(smoke_run)]) == ["2", "4"] and out.with_suffix(".png").is_file()
    main(["--run", str(smoke_run), "--steps", "4", "--at", "2", "4", "--pcs", "2", "--out", str(out), "--page-only",
          "--note", "A reading."])  # no training: the page again, from the json, with the note
    assert "A reading." in out.with_suffix(".md").read_text() and "| 4 |" in out.with_suffix(".md").read_text()


def test_steps_outside_the_training_are_refused(smoke_run, tmp_path):
    with pytest.raises(SystemExit):
        main(["--run", str(smoke_run), "--steps", "4", "--at", "2", "8", "--out", str(tmp_path / "x")])


def test_a_run_stopped_before_its_train_stage_is_enough(smoke_run, tmp_path):
    run = tmp_path / "extracted_only"
    run.mkdir()
    (run / "config.yaml").write_text((smoke_run / "config.yaml").read_text())
    artifacts = {k: v for k, v in json.loads((smoke_run / "artifacts.json").read_text()).items() if k != "train"}
    (run / "artifacts.json").write_text(json.dumps(artifacts))
    assert RunMotion(run).gen is None
    main(["--run", str(run), "--steps", "2", "--at", "2", "--pcs", "1", "--out", str(tmp_path / "c")])
    assert "vs the run's generator" not in (tmp_path / "c.md").read_text() and "| 2 |" in (tmp_path / "c.md").read_text()
