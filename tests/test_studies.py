"""A study's page is rebuilt from its archive: arms run in one session are restored in another (an empty
machine) and the page comes out the same, so a later session adds arms without rerunning the others."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from experiments import studies
from experiments.studies import Claim, Study, Target, arm_dir, restore, target_lines, write_page
from sandbox.report import aggregate


def fake_run(d, overrides, jaw, rng):
    d.mkdir(parents=True)
    clips = [f"test_{i}" for i in range(6)]
    per = {"run": {"jaw_corr0": list(jaw + 0.05 * rng.standard_normal(6))},
           "ground_truth": {"jaw_corr0": [0.8] * 6}, "static": {"jaw_corr0": [0.0] * 6}}
    rows = {r: {"jaw_corr0": float(np.mean(v["jaw_corr0"]))} for r, v in per.items()}
    doc = {"version": 3, "rows": rows, "per_clip": per, "definitions": {}, "flags": [],
           "extra": {"clips": clips, "bulky": list(range(1000))}}
    (d / "metrics.json").write_text(json.dumps(doc))
    (d / "overrides.yaml").write_text(yaml.safe_dump(overrides))


def test_page_from_archive_equals_page_from_runs(tmp_path, monkeypatch):
    study = Study("toy", "Toy study", "paper: A beats B.", {"A": ["gen=a"], "B": ["gen=b"]},
                  [Claim("jaw_corr0", "A", "B")], metrics=["jaw_corr0"])
    monkeypatch.setitem(studies.STUDIES, "toy", study)
    rng = np.random.default_rng(0)
    root, out = tmp_path / "runs", tmp_path / "docs"
    out.mkdir()
    for arm, jaw in (("A", 0.6), ("B", 0.3)):
        for seed in range(3):
            fake_run(arm_dir(root, "toy", arm) / str(seed), study.arms[arm] + [f"seeds.train={seed}"], jaw, rng)
        (arm_dir(root, "toy", arm) / studies.WALL_FILE).write_text("60\n")
    page = write_page(study, root, out, "cmd", 3).read_text()
    assert "**reproduced**" in page and "2.0 min" in page
    archived = json.loads((out / "toy.runs.json").read_text())
    assert set(archived) == {"A", "B"} and "bulky" not in json.dumps(archived)
    # a new machine: nothing under the root; B restored, A "rerun" (here: written again) -> the same page
    fresh = tmp_path / "fresh"
    assert restore(study, fresh, out, ["B"]) == ["B"]
    assert restore(study, fresh, out, ["B"]) == []  # already there: left alone
    for seed in range(3):
        src = arm_dir(root, "toy", "A") / str(seed)
        dst = arm_dir(fresh, "toy", "A") / str(seed)
        dst.mkdir(parents=True)
        for f in ("metrics.json", "overrides.yaml"):
            (dst / f).write_text((src / f).read_text())
    (arm_dir(fresh, "toy", "A") / studies.WALL_FILE).write_text("60\n")
    assert write_page(study, fresh, out, "cmd", 3).read_text() == page


def test_every_arm_of_every_study_composes():
    """Each arm's overrides are keys its config shows (a study must not fail after an hour of other arms)."""
    from sandbox.run import compose_config, preflight

    for study in studies.STUDIES.values():
        for arm, overrides in study.arms.items():
            cfg = compose_config([*study.preset, *overrides, "seeds.train=1"])
            preflight(cfg)


def test_targets_pass_and_miss_against_reference_rows(tmp_path):
    rng = np.random.default_rng(1)
    study = Study("toy", "Toy", "-", {"A": ["gen=a"], "B": ["gen=b"]}, metrics=["jaw_corr0"],
                  targets=[Target("jaw_corr0", "at_least", "ground_truth", 0.7),  # 0.56: A passes, B misses
                           Target("jaw_corr0", "above", "static"),  # both far above 0
                           Target("jaw_corr0", "within", "ground_truth", 0.3),  # 0.56..1.04: A in, B out
                           Target("jaw_corr0", "at_most", "run", 0.45)])  # a bound of its own: B only
    rows = []
    for arm, jaw in (("A", 0.6), ("B", 0.3)):
        for seed in range(3):
            fake_run(tmp_path / arm / str(seed), [], jaw, rng)
        rows += aggregate(sorted((tmp_path / arm).iterdir()), ("run", "ground_truth", "static"), ["jaw_corr0"],
                          label=arm)[0]
    lines = target_lines(study, rows)
    assert len(lines) == 8
    assert ["passed" in ln for ln in lines] == [True, True, True, False, False, True, False, True]
    assert ("ratio 0.7" in lines[2] or "ratio 0.8" in lines[2]) and "lies inside the band" in lines[2]
    assert "leaves the band" in lines[6] and "at most 0.45" in lines[3]
    assert target_lines(Study("t", "t", "-", {}, targets=[Target("jaw_corr0", "above", "energy")]),
                        [ln for ln in rows if ln.label == "A"]) == \
        ["- A: jaw_corr0 above the energy row, 95% intervals apart: not measured."]


def test_run_arm_sweeps_the_studys_seed_and_skips_finished_arms(tmp_path, monkeypatch):
    """A study that varies the fit sweeps ``seed`` (fit and training seed together); others ``seeds.train``;
    an arm whose runs are all there is not run again."""
    calls = []

    def sweep(cmd, **kw):  # the sweep makes its directory
        calls.append(cmd)
        Path(cmd[-1].partition("=")[2]).mkdir(parents=True, exist_ok=True)

    monkeypatch.setattr(studies.subprocess, "run", sweep)
    studies.run_arm(["rep=lia"], ["preset=default"], 3, tmp_path / "a", "seed")
    studies.run_arm(["rep=lia"], ["preset=default"], 2, tmp_path / "b")
    assert "seed=0,1,2" in calls[0] and not any(c.startswith("seeds.") for c in calls[0])
    assert "seeds.train=0,1" in calls[1] and f"hydra.sweep.dir={tmp_path / 'b'}" in calls[1]
    for i in range(2):
        (tmp_path / "b" / str(i)).mkdir(parents=True)
        (tmp_path / "b" / str(i) / "metrics.json").write_text("{}")
    studies.run_arm(["rep=lia"], ["preset=default"], 2, tmp_path / "b")
    assert len(calls) == 2 and (tmp_path / "a" / studies.WALL_FILE).is_file()


def test_grid_tables_rows_by_columns_with_their_reference_rows(tmp_path):
    """A matrix study's arms "ROW COLUMN" as tables: '–' for an arm not run yet, 'n/a' for no such arm, each
    row's reference rows beside it, and the order of its columns with '>' only where the intervals part."""
    study = Study("grid", "Grid", "none", {"r1 a": ["gen=a"], "r1 b": ["gen=b"], "r2 a": ["gen=a"], "r2 c": ["gen=c"]},
                  metrics=["jaw_corr0"], references=("ground_truth", "static"), grid=["jaw_corr0"])
    rng = np.random.default_rng(0)
    root = tmp_path / "runs"
    for arm, jaw in (("r1 a", 0.6), ("r1 b", 0.2), ("r2 a", 0.5)):  # r2 c is not run yet
        for seed in range(3):
            fake_run(arm_dir(root, "grid", arm) / str(seed), study.arms[arm] + [f"seeds.train={seed}"], jaw, rng)
    lines, ref = [], []
    for arm in ("r1 a", "r1 b", "r2 a"):
        runs = sorted(arm_dir(root, "grid", arm).glob("*"))
        lines += aggregate(runs, ("run",), study.metrics, label=arm)[0]
        ref += aggregate(runs, study.references, study.metrics, label=arm)[0]
    defs = {"jaw_corr0": ("jaw", True)}
    text = "\n".join(studies.grid_lines(study, lines, ref, defs))
    assert "| rep | a | b | c | static |" in text
    r1 = next(ln for ln in text.splitlines() if ln.startswith("| r1 "))
    r2 = next(ln for ln in text.splitlines() if ln.startswith("| r2 "))
    assert r1.split(" | ")[3] == "n/a" and r2.split(" | ")[2] == "n/a" and r2.split(" | ")[3] == "–"
    assert r1.split(" | ")[4].startswith("0 [")  # the static reference row
    assert "r1: a > b" in text  # 0.6 vs 0.2 with 0.05 noise: apart


def test_a_tie_claim_is_consistent_when_the_interval_spans_zero_and_refuted_when_not(tmp_path):
    from experiments.studies import verdicts

    rng = np.random.default_rng(2)
    arms = {}
    for arm, jaw in (("A", 0.6), ("A2", 0.6), ("B", 0.3)):
        for seed in range(3):
            fake_run(tmp_path / arm / str(seed), [], jaw, rng)
        arms[arm] = sorted((tmp_path / arm).iterdir())
    study = Study("t", "t", "-", {}, [Claim("jaw_corr0", "A2", "A", expect="ties"),
                                      Claim("jaw_corr0", "A", "B", expect="ties")], claims_from="hypothesis")
    same, apart = verdicts(study, arms)
    assert "A2 and A tie" in same and "consistent with the hypothesis" in same
    assert "**A better**" in apart and "not what the hypothesis expects" in apart


def test_a_paired_claim_sees_a_small_shift_the_shared_noise_hides_from_an_unpaired_one(tmp_path):
    from experiments.studies import verdicts

    arms = {}
    for arm, jaw in (("A", 0.62), ("B", 0.60)):  # the same per-clip noise in both: one training, two samplers
        for seed in range(3):
            fake_run(tmp_path / arm / str(seed), [], jaw, np.random.default_rng(seed))
        arms[arm] = sorted((tmp_path / arm).iterdir())
    claims = [Claim("jaw_corr0", "A", "B"), Claim("jaw_corr0", "A", "B", paired=True)]
    unpaired, paired = verdicts(Study("t", "t", "-", {}, claims, claims_from="hypothesis"), arms)
    assert "not confirmed" in unpaired
    assert "**confirmed**" in paired and "paired by seed and clip" in paired
    arms["B"] = arms["B"][:2]
    with pytest.raises(ValueError, match="seeds or clips differ"):
        verdicts(Study("t", "t", "-", {}, claims[1:], claims_from="hypothesis"), arms)


def test_a_page_says_which_held_out_clips_its_arms_score():
    """A study whose arms drive the validation clips says so, and never calls them test clips."""
    from experiments.studies import clips_scored

    def study(*arms):
        return Study("s", "t", "p", {f"a{i}": list(a) for i, a in enumerate(arms)})

    assert clips_scored(study(["rep=lia"], ["rep=3dmm"])) == "every held-out test clip"
    assert clips_scored(study(["sample.split=val"])).startswith("every validation clip")
    assert "test or validation" in clips_scored(study(["sample.split=val"], ["sample.split=test"]))
    assert clips_scored(studies.STUDIES["guidance_val"]).startswith("every validation clip")
