"""experiments.sync_chain: the links from the motion's jaw to the drawn sync, read from runs' metrics.json."""
import json
import re

import numpy as np
import pytest

from experiments.sync_chain import main

ROWS = ("run", "reconstruction", "energy", "ground_truth")


def _write_arm(root, name, jaw_real, gen_drop, drawn_per_jaw, seed=0, n_runs=3, n_clips=10):
    """Runs whose drawn correlation is ``drawn_per_jaw`` x the jaw (+ a little noise) in every row, and whose
    confidence is the drawn correlation less 0.2; the generated jaw is the real one less ``gen_drop``."""
    rng = np.random.default_rng(seed)
    for r in range(n_runs):
        real = jaw_real[r]
        jaws = {"reconstruction": real, "run": real - gen_drop, "energy": real - 0.4, "ground_truth": real + 0.1}
        per_clip = {}
        for row in ROWS:
            drawn = drawn_per_jaw * jaws[row] + 0.005 * rng.standard_normal(n_clips)
            per_clip[row] = {"sync_corr0": drawn.tolist(), "sync_confidence": (drawn - 0.2).tolist()}
            if row != "ground_truth":
                per_clip[row]["jaw_corr0"] = jaws[row].tolist()
        d = root / name / str(r)
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"per_clip": per_clip}))
    return root / name


def _numbers(line):
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+", line.split(":", 1)[1])]


def test_the_chain_finds_no_loss_where_the_renderer_draws_every_motion_alike(tmp_path, capsys):
    rng = np.random.default_rng(1)
    jaw_real = [0.8 + 0.05 * rng.standard_normal(10) for _ in range(3)]
    a = _write_arm(tmp_path, "a", jaw_real, gen_drop=0.1, drawn_per_jaw=0.8)
    b = _write_arm(tmp_path, "b", jaw_real, gen_drop=0.2, drawn_per_jaw=0.8, seed=2)  # same jaws, re-drawn alike?
    c = _write_arm(tmp_path, "c", [j + 0.01 for j in jaw_real], gen_drop=0.1, drawn_per_jaw=0.8, seed=3)
    out = tmp_path / "page.md"
    main(["--arm", f"A={a}", "--arm", f"B={b}", "--arm", f"C={c}", "--out", str(out)])
    page = out.read_text()
    assert page.rstrip("\n") == capsys.readouterr().out.rstrip("\n") and page.startswith("# From the motion's jaw")
    sections = page.split("\n## ")[1:]
    a_lines = sections[0].splitlines()
    diff = _numbers(next(x for x in a_lines if x.startswith("- drawn per jaw")))
    assert abs(diff[0]) < 0.01 and diff[2] - diff[1] < 0.03  # the same drawn per jaw for generated and real
    line = next(x for x in a_lines if x.startswith("- confidence = "))
    intercept, slope = (float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)[:2])
    assert intercept == pytest.approx(-0.2, abs=0.01) and slope == pytest.approx(1.0, abs=0.02)
    jaw_share, drawn_share, conf_share = (_numbers(next(x for x in a_lines if x.startswith(f"- {k}")))[0]
                                          for k in ("jaw (motion)", "drawn:", "confidence:"))
    assert drawn_share == pytest.approx(jaw_share, abs=0.01) and conf_share < drawn_share - 0.03  # the offset
    # arm B re-draws the same real motion (its reconstruction rows are regenerated with other noise, so not
    # clip for clip the same): no comparison; C's real jaws differ: none either
    assert not any("against" in s for s in sections)


def test_an_arm_on_the_same_fits_is_compared_paired(tmp_path):
    rng = np.random.default_rng(4)
    jaw_real = [0.8 + 0.05 * rng.standard_normal(10) for _ in range(3)]
    a = _write_arm(tmp_path, "a", jaw_real, gen_drop=0.1, drawn_per_jaw=0.8)
    b = _write_arm(tmp_path, "b", jaw_real, gen_drop=0.2, drawn_per_jaw=0.8, seed=5)
    for r in range(3):  # B's re-drawn real rows: A's, clip for clip (the same fits)
        mb, ma = (json.loads((x / str(r) / "metrics.json").read_text()) for x in (b, a))
        mb["per_clip"]["reconstruction"] = ma["per_clip"]["reconstruction"]
        (b / str(r) / "metrics.json").write_text(json.dumps(mb))
    out = tmp_path / "page.md"
    main(["--arm", f"A={a}", "--arm", f"B={b}", "--out", str(out)])
    line = next(x for x in out.read_text().splitlines() if "against A" in x)
    jaw, drawn, conf = (np.array(re.findall(r"[-+]\d+\.\d+", part), float)
                        for part in re.split(r", drawn |, confidence ", line.split("): ")[1]))
    np.testing.assert_allclose(jaw, -0.1, atol=1e-6)  # paired: the clips' shared jaw cancels, no spread left
    assert drawn[1] <= drawn[0] <= drawn[2] and drawn[0] == pytest.approx(-0.08, abs=0.005)  # 0.8 x the jaw's
    assert drawn[2] - drawn[1] < 0.02 and drawn[0] == pytest.approx(conf[0], abs=1e-3)


def test_a_missing_arm_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="no run with a metrics.json"):
        main(["--arm", f"X={tmp_path / 'nowhere'}"])
    with pytest.raises(SystemExit, match="NAME=DIR"):
        main(["--arm", "just-a-path"])
