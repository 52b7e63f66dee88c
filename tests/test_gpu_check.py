"""The GPU check runs on the CPU at the smoke preset's sizes and reports every number it promises."""
import json

from experiments.gpu_check import main, sizes


def test_gpu_check_runs_tiny_on_cpu(tmp_path):
    out = tmp_path / "check.json"
    report = main(["--tiny", "--steps", "1", "--seconds", "1", "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    for key in ("autoencoder_steps_per_s", "generator_steps_per_s", "generator_frames_per_s",
                "render_frames_per_s", "end_to_end_frames_per_s"):
        assert report[key] > 0, key
    assert report["sample_frames"] == 25 and report["render_size"] == sizes(True)["image_size"]
    # the real check takes FLOAT's sizes from the paper preset
    paper = sizes(False)
    assert (paper["image_size"], paper["latent_dim"], paper["hidden"], paper["depth"]) == (512, 512, 1024, 8)
