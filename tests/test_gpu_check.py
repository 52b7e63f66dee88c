"""The GPU check runs on the CPU at the smoke preset's sizes and reports every number it promises."""
import json

from experiments.gpu_check import main, sizes


def test_gpu_check_runs_tiny_on_cpu(tmp_path):
    out = tmp_path / "check.json"
    page = tmp_path / "check.md"
    report = main(["--tiny", "--steps", "1", "--seconds", "1", "--device", "cpu", "--out", str(out),
                   "--gens", "flow,gohd", "--trainer-steps", "8", "--page", str(page)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    text = page.read_text()
    assert "python -m experiments.gpu_check --tiny --steps 1" in text and "| gohd | 3dmm | 32-true | 8 |" in text
    main(["--render", str(out), "--page", str(tmp_path / "again.md")])  # the page again, from the saved report
    assert (tmp_path / "again.md").read_text() == text
    for key in ("autoencoder_steps_per_s", "generator_steps_per_s", "generator_frames_per_s",
                "render_frames_per_s", "end_to_end_frames_per_s"):
        assert report[key] > 0, key
    assert report["sample_frames"] == 25 and report["render_size"] == sizes(True)["image_size"]
    # part 4: the harness's trainer path, each generator on a representation it accepts
    assert sorted(report["trainers"]) == ["flow", "gohd"]
    for name, r in report["trainers"].items():
        assert "error" not in r, (name, r)
        assert r["steps"] == 8 and r["finite"] and r["sample_finite"] and r["param_device"] == "cpu", (name, r)
        assert r["sample_shape"][:2] == [1, 50], (name, r)
    # the real check takes FLOAT's sizes from the paper preset
    paper = sizes(False)
    assert (paper["image_size"], paper["latent_dim"], paper["hidden"], paper["depth"]) == (512, 512, 1024, 8)
