"""Known-answer tests for sandbox.metrics and the report CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import report as cli
from sandbox.errors import InputFileError
from sandbox.metrics import baselines, image, motion, speed, sync
from sandbox.metrics import run_report as rep

T = 250  # 10 s at 25 fps


def _speechy(T: int, seed: int = 0, pad: int = 20) -> np.ndarray:
    """A jaw-open-like track: smoothed noise with syllable-rate bumps, length T + 2*pad."""
    rng = np.random.default_rng(seed)
    x = np.convolve(rng.standard_normal(T + 2 * pad + 8), np.hanning(7), mode="valid")
    return np.clip(x, 0, None)[: T + 2 * pad]


def _shifted(k: int, seed: int = 0, pad: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(mouth, viseme) with mouth[t] = viseme[t - k]: the video lags the audio by k frames."""
    base = _speechy(T, seed, pad)
    return base[pad - k : pad - k + T].copy(), base[pad : pad + T].copy()


# ------------------------------------------------------------------------------------ sync

@settings(max_examples=15, deadline=None)
@given(k=st.integers(-5, 5), seed=st.integers(0, 1000))
def test_lip_sync_recovers_shift_with_documented_sign(k, seed):
    m, v = _shifted(k, seed)
    r = sync.lip_sync(m, v)
    assert r["offset"] == k
    assert r["confidence"] > 0.5
    assert r["peak_corr"] > 0.95


def test_lip_sync_static_mouth_gives_zero_confidence():
    _, v = _shifted(0)
    for m in (np.full(T, 0.3), np.zeros(T)):
        r = sync.lip_sync(m, v)
        assert r["confidence"] == pytest.approx(0.0, abs=1e-9)
        assert r["corr0"] == 0.0 and r["offset"] == 0.0
        assert all(np.isfinite(list(r.values())))


def test_lip_sync_all_nan_mouth_is_safe():
    _, v = _shifted(0)
    r = sync.lip_sync(np.full(T, np.nan), v)
    assert r["missing_fraction"] == 1.0 and r["confidence"] == 0.0


def test_lip_sync_excludes_nan_frames():
    m, v = _shifted(3, seed=4)
    m[::4] = np.nan  # 25% of frames missing
    m_bad = m.copy()
    r = sync.lip_sync(m, v)
    assert r["offset"] == 3 and r["peak_corr"] > 0.95
    assert r["missing_fraction"] == pytest.approx(0.25, abs=0.01)
    # If NaNs leaked in as zeros the correlation would drop well below 0.95.
    m_bad[np.isnan(m_bad)] = 0.0
    assert sync.lip_sync(m_bad, v)["peak_corr"] < r["peak_corr"]


def test_lip_sync_unrelated_track_has_low_confidence():
    m, _ = _shifted(0, seed=1)
    _, v = _shifted(0, seed=2)
    assert sync.lip_sync(m, v)["confidence"] < 0.35


@pytest.mark.parametrize("n", [17, 30, 60, 250])
def test_lip_sync_chance_level_is_taken_off_at_every_length(n):
    """Peak minus median is well above 0 for unrelated tracks (the best of many noisy lags), more so on
    short clips; with the phase-randomised chance level taken off, unrelated mouths average ~0 at every
    clip length and a synced one stays high."""
    lag = min(15, n // 3)
    runs = [sync.lip_sync(_shifted(0, seed=s)[0][:n], _shifted(0, seed=100 + s)[1][:n], lag, min(25, n))
            for s in range(20)]
    raw = np.mean([r["confidence"] + r["chance_confidence"] for r in runs])
    assert raw > 0.15  # the bias the correction removes
    assert abs(np.mean([r["confidence"] for r in runs])) < 0.08
    if n >= 30:
        r = sync.lip_sync(*(x[:n] for x in _shifted(0, seed=3)), lag, min(25, n))
        assert r["confidence"] > 0.3 and r["offset"] == 0


def test_phase_randomised_surrogates_keep_the_spectrum_not_the_alignment():
    _, v = _shifted(0, seed=7)
    sur = sync.phase_randomised(v, 16)
    assert sur.shape == (16, T)
    np.testing.assert_allclose(np.abs(np.fft.rfft(sur - sur.mean(1, keepdims=True), axis=1)),
                               np.abs(np.fft.rfft(v - v.mean()))[None].repeat(16, 0), rtol=1e-6, atol=1e-6)
    assert np.abs([np.corrcoef(s, v)[0, 1] for s in sur]).mean() < 0.3
    assert np.array_equal(sur, sync.phase_randomised(v, 16))  # deterministic


@pytest.mark.parametrize("n", [17, 30, 60, 150])
def test_still_mouth_below_the_analyser_noise_scores_zero(n):
    """A mouth that does not move, seen through a noisy analyser, scores ~0 once the noise measured on
    still renders gates it, while a mouth that follows the audio keeps its confidence."""
    rng = np.random.default_rng(n)
    noise = 0.004
    lag, window = min(15, n // 3), min(25, n)
    still = [sync.lip_sync(0.3 + noise * rng.standard_normal(n), _shifted(0, seed=s)[1][:n], lag, window,
                           noise_std=noise)["confidence"] for s in range(20)]
    assert abs(np.mean(still)) <= 0.05 and max(abs(x) for x in still) < 0.3
    m, v = (x[:n] for x in _shifted(0, seed=3))
    gated = sync.lip_sync(m + noise * rng.standard_normal(n), v, lag, window, noise_std=noise)
    assert gated["motion_fraction"] > 0.95
    assert gated["confidence"] == pytest.approx(sync.lip_sync(m, v, lag, window)["confidence"], abs=0.1)


def test_aperture_noise_is_the_detrended_spread_of_still_tracks():
    rng = np.random.default_rng(0)
    tracks = [0.3 + 0.01 * rng.standard_normal(100) + np.linspace(0, 0.2, 100) for _ in range(3)]
    assert sync.aperture_noise(tracks, 25) == pytest.approx(0.01, rel=0.15)  # the drift is not noise
    assert sync.aperture_noise([], 25) is None


def test_detrending_removes_slow_drift():
    m, v = _shifted(2, seed=5)
    drift = np.linspace(0, 20, T)  # head moving towards the camera dwarfs the mouth signal
    r = sync.lip_sync(m + drift, v)
    assert r["offset"] == 2 and r["peak_corr"] > 0.8
    assert sync.lip_sync(m + drift, v, detrend_frames=None)["peak_corr"] < 0.6


def test_lip_sync_dataset_pools_clips():
    pairs = [_shifted(2, seed=s) for s in range(3)] + [(np.full(T, 0.5), _shifted(0, seed=9)[1])]
    r = sync.lip_sync_dataset(pairs)
    assert r["pooled_offset"] == 2
    assert r["n_clips"] == 4 and len(r["pooled_curve"]) == len(r["lags"]) == 31
    assert r["confidence"] == pytest.approx(np.mean([sync.lip_sync(m, v)["confidence"] for m, v in pairs]))
    assert r["abs_offset"] == pytest.approx(1.5)


# ------------------------------------------------------------------------------------ motion

def test_frechet_same_distribution_near_zero_and_shifted_means():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 6))
    b = rng.standard_normal((4000, 6))
    assert motion.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert motion.frechet_distance(a, b) < 0.05
    shift = np.array([1.0, -2.0, 0.5, 0, 0, 3.0])
    assert motion.frechet_distance(a, a + shift) == pytest.approx((shift**2).sum(), rel=1e-6)


def test_frechet_rank_deficient_and_nan_rows():
    static = np.tile(np.arange(6.0), (50, 1))  # zero covariance: sqrtm must not blow up
    fd = motion.frechet_distance(static, static + 1.0)
    assert fd == pytest.approx(6.0, rel=1e-4)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((100, 3))
    a_nan = np.vstack([a, np.full((5, 3), np.nan)])
    assert motion.frechet_distance(a_nan, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        motion.frechet_distance(a[:1], a)


def test_frechet_scaled_covariance():
    # 1-D: FD = (s1 - s2)^2 for equal means.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20000, 1))
    assert motion.frechet_distance(x, 3 * x) == pytest.approx(4.0 * x.var(ddof=1), rel=1e-3)


def test_diversity():
    rng = np.random.default_rng(0)
    same = np.repeat(rng.standard_normal((1, 50, 6)), 4, axis=0)
    assert motion.diversity(same) == 0.0
    noisy = same + rng.standard_normal(same.shape) * 0.5
    assert motion.diversity(noisy) == pytest.approx(0.25 * 3 / 4, rel=0.15)  # ddof=0 over 4 seeds


def test_sequence_ssim():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.standard_normal((200, 6)), axis=0)
    assert motion.sequence_ssim(x, x) == pytest.approx(1.0)
    assert motion.sequence_ssim(x, x + rng.standard_normal(x.shape)) < 0.99
    assert motion.sequence_ssim(x, x[::-1]) < motion.sequence_ssim(x, x + 0.1 * rng.standard_normal(x.shape))
    const = np.ones((40, 2))
    assert motion.sequence_ssim(const, const) == pytest.approx(1.0)
    assert motion.sequence_ssim(x[:10], x[:10]) == pytest.approx(1.0)  # shorter than the window


def test_jitter():
    assert motion.jitter(np.ones((30, 478, 2))) == 0.0
    t = np.arange(30.0)
    linear = np.stack([t, 2 * t], -1)[:, None, :].repeat(5, 1)  # constant velocity: no acceleration
    assert motion.jitter(linear) == pytest.approx(0.0, abs=1e-12)
    zigzag = np.zeros((30, 1, 2))
    zigzag[::2, 0, 0] = 1.0  # +-1 alternation: |1 - 2*0 + 1| = 2 every frame
    assert motion.jitter(zigzag) == pytest.approx(2.0)
    zigzag[10] = np.nan
    assert motion.jitter(zigzag) == pytest.approx(2.0)


def test_blink_rate_five_dips_in_twenty_seconds():
    fps = 25
    x = np.full(20 * fps, 1.0) + 0.02 * np.sin(np.arange(20 * fps))
    for start in (40, 120, 200, 300, 420):
        x[start : start + 4] = [0.6, 0.1, 0.05, 0.4]  # a ~160 ms blink
    x[250] = 0.3  # a single noisy frame still counts as a dip...
    x[252] = 0.3  # ...but this one is inside the refractory period
    assert motion.blink_rate(x, fps) == pytest.approx(18.0)
    x[250] = x[252] = 1.0
    assert motion.blink_rate(x, fps) == pytest.approx(15.0)
    assert motion.blink_rate(np.stack([x, x], 1), fps) == pytest.approx(15.0)
    assert motion.blink_rate(np.ones(100), fps) == 0.0


def test_rotation_std_is_the_rms_spread_in_degrees():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    yaw = np.radians(10.0) * np.sin(np.linspace(0, 20, 400))  # std ~ 10 / sqrt(2) degrees, yaw only
    pose = np.c_[Rotation.from_euler("y", yaw[:, None]).as_rotvec(), rng.normal(size=(400, 3))]  # translation ignored
    assert motion.rotation_std(pose) == pytest.approx(np.degrees(yaw.std()) / np.sqrt(3), rel=1e-6)
    pose[5] = np.nan  # a frame without a face is skipped, not propagated
    assert np.isfinite(motion.rotation_std(pose))
    assert motion.rotation_std(np.zeros((50, 6))) == 0.0
    assert np.isnan(motion.rotation_std(np.full((3, 6), np.nan)))


# ------------------------------------------------------------------------------------ image

def test_image_metrics():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert image.psnr(a, a) == image.PSNR_MAX
    assert image.ssim(a, a) == pytest.approx(1.0)
    assert image.l1(a, a) == 0.0
    b = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b) ** 2, axis=(1, 2, 3))
    assert image.psnr(a, b) == pytest.approx(np.mean(10 * np.log10(255**2 / mse)))
    assert image.ssim(a, b) < 1.0
    # float frames in [0, 1] give the same numbers as uint8
    assert image.l1(a / 255.0, b / 255.0) == pytest.approx(image.l1(a, b))
    assert image.psnr(a / 255.0, b / 255.0) == pytest.approx(image.psnr(a, b))
    with pytest.raises(ValueError):
        image.psnr(a, a[:2])


# ------------------------------------------------------------------------------------ speed / baselines

def test_speed_helpers():
    with speed.timer() as t:
        sum(range(1000))
    assert t.seconds > 0
    assert speed.throughput(100, 2.0) == 50.0
    assert np.isnan(speed.throughput(10, 0.0))
    assert isinstance(speed.device_name(), str) and speed.device_name()


def test_baselines():
    ref = np.arange(6.0)
    s = baselines.static_motion(ref, 10)
    assert s.shape == (10, 6) and np.all(s == ref)
    img = np.zeros((8, 8, 3), np.uint8)
    assert baselines.static_frames(img, 5).shape == (5, 8, 8, 3)
    sr, spf = 16000, 640
    t = np.arange(50 * spf) / sr
    env = (np.arange(50 * spf) // spf // 10) % 2  # 10 frames loud, 10 frames silent
    audio = 0.5 * np.sin(2 * np.pi * 200 * t) * env
    m = baselines.energy_heuristic_mouth(audio, 50)
    assert m.shape == (50,) and m.min() >= 0 and m.max() <= 1
    assert m[12:18].mean() > 0.9 and m[2:8].max() < 0.05
    assert np.all(baselines.energy_heuristic_mouth(np.zeros(16000), 25) == 0)
    # the heuristic drives lip sync: its mouth track correlates with the energy envelope at lag 0
    assert sync.lip_sync(m, env[::spf].astype(float), detrend_frames=None)["offset"] == 0


# ------------------------------------------------------------------------------------ report

ROWS = {
    "run": {"sync_confidence": 0.61, "p_fid": 0.0123, "psnr": 28.4, "missing_fraction": 0.05, "blink_rate": 14.0},
    "ground_truth": {"sync_confidence": 0.8, "p_fid": 0.0, "missing_fraction": 0.0, "blink_rate": 16.0},
    "static": {"sync_confidence": 0.0, "p_fid": 1.5e-5, "missing_fraction": 0.31, "gen_fps": 12345.6},
}


def test_write_report(tmp_path: Path):
    path = rep.write_report(tmp_path, ROWS, rep.metric_definitions(), flags=["renderer fell back to CPU"])
    text = path.read_text()
    table = [l for l in text.splitlines() if l.startswith("|")]
    assert len(table) == 2 + len(ROWS)  # ONE table: header, separator, a line per row
    header = table[0]
    assert "sync_confidence ↑" in header and "p_fid ↓" in header and "blink_rate ≈" in header
    for name in ROWS:
        assert any(l.startswith(f"| {name} |") for l in table)
    assert "1.50e-05" in text and "12346" in text and "28.4 |" in text and "0.800" in text and "–" in text
    assert "## Flags" in text and "renderer fell back to CPU" in text
    assert "> 20% of frames missing for static" in text and "for run" not in text


def _sync_rows(run: float, rec: float, gt_offset: float = 0.0, run_pfid: float = 4.5) -> dict:
    return {"run": {"sync_confidence": run, "p_fid": run_pfid}, "reconstruction": {"sync_confidence": rec},
            "ground_truth": {"sync_confidence": 0.75, "sync_offset": gt_offset},
            "static": {"sync_confidence": 0.15, "p_fid": 6.5}, "energy": {"sync_confidence": 0.25}}


def test_comparison_flags_say_where_a_run_falls_short():
    assert rep.comparison_flags(_sync_rows(run=0.40, rec=0.64)) == []  # beats both, below static P-FID
    # the default lia run: below the heuristic, and so is real motion re-rendered -> the rep is the limit
    (flag,) = rep.comparison_flags(_sync_rows(run=0.18, rec=0.285))
    assert "not above the energy heuristic (0.250)" in flag and "static head" not in flag
    assert "reconstruction row" in flag and "0.285" in flag
    (flag,) = rep.comparison_flags(_sync_rows(run=0.10, rec=0.64))  # the generator's fault alone
    assert "static head (0.150) or the energy heuristic" in flag and "reconstruction" not in flag
    flags = rep.comparison_flags(_sync_rows(run=0.40, rec=0.64, gt_offset=3.0, run_pfid=7.0))
    assert any("metric suspect" in f for f in flags) and any("P-FID 7 is not below" in f for f in flags)


def test_metrics_json_roundtrip_is_strict_json(tmp_path: Path):
    rows = {"run": {"psnr": float("inf"), "x": np.float32(1.5), "n": np.int64(3), "nan": float("nan")}}
    p = rep.write_metrics_json(tmp_path, rows, extra={"device": speed.device_name()})
    doc = json.loads(p.read_text())  # allow_nan=False on write: no NaN / Infinity tokens
    assert doc["version"] == rep.METRICS_VERSION
    assert doc["rows"]["run"] == {"psnr": None, "x": 1.5, "n": 3, "nan": None}
    assert doc["definitions"]["psnr"]["higher_is_better"] is True
    assert rep.read_metrics_json(tmp_path)["rows"] == doc["rows"]


def _run(path: Path, overrides: list[str], per_clip: dict, rows: dict | None = None) -> Path:
    rows = rows or {r: {k: float(np.mean(v)) for k, v in m.items()} for r, m in per_clip.items()}
    rep.write_metrics_json(path, rows, per_clip=per_clip, extra={"clips": ["a", "b", "c"]})
    (path / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    return path


def test_report_groups_seeds_into_configurations_with_intervals(tmp_path: Path, capsys):
    """A sweep of 2 generators x 3 seeds: two lines, seeds pooled, each with a bootstrap interval; the
    better generator is marked; the CSV keeps both ends; a directory without runs is an input error."""
    sweep = tmp_path / "sweep"
    rng = np.random.default_rng(0)
    for j, (gen, seed) in enumerate([(g, s) for g in ("flow", "diffusion") for s in range(3)]):
        centre = 0.5 if gen == "flow" else 0.1
        _run(sweep / str(j), ["rep=lia", f"gen={gen}", f"seeds.train={seed}"],
             {"run": {"sync_confidence": list(centre + 0.05 * rng.standard_normal(3)), "p_fid": [2.0 + j]},
              "static": {"sync_confidence": [0.0, 0.01, -0.01]}})
    out = tmp_path / "table"
    assert cli.main([str(sweep), "--out", str(out), "--metrics", "sync_confidence,p_fid"]) == 0
    text = capsys.readouterr().out
    page = out.with_suffix(".md").read_text()
    assert page.startswith("Made by `python -m sandbox.report ") and text in page and out.with_suffix(".png").is_file()
    line = {ln.split("|")[1].strip(): ln for ln in text.splitlines() if ln.startswith("| gen=")}
    assert set(line) == {"gen=flow", "gen=diffusion"}  # rep=lia is shared: not in the label
    assert "**0.5" in line["gen=flow"] and "±" in line["gen=flow"] and "**" not in line["gen=diffusion"].split("|")[2]
    lines, _, _ = cli.aggregate([sweep], ("run",), ("sync_confidence", "p_fid"))
    flow = next(ln for ln in lines if ln.label == "gen=flow")
    m, lo, hi = flow.values["sync_confidence"]
    assert lo < m < hi and 0.4 < m < 0.6 and len(flow.runs) == 3
    assert flow.values["p_fid"][0] == pytest.approx(3.0)  # set-level: the mean over seeds 2, 3, 4
    with out.with_suffix(".csv").open() as f:
        assert sum(1 for _ in f) == 1 + 2 * 2
    assert cli.main([str(sweep), "--rows", "all", "--metrics", "sync_confidence"]) == 0
    assert "gen=flow / static" in capsys.readouterr().out


def test_report_single_run_keeps_its_own_interval(tmp_path: Path):
    run = _run(tmp_path / "r", ["rep=lia"], {"run": {"p_fid": [4.0]}})
    doc = json.loads((run / "metrics.json").read_text())
    doc["ci"] = {"run": {"p_fid": [3.0, 5.5]}}
    (run / "metrics.json").write_text(json.dumps(doc))
    (line,), _, _ = cli.aggregate([run], ("run",), ("p_fid",))
    assert line.values["p_fid"] == (4.0, 3.0, 5.5)


def test_report_cli_missing_metrics(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli.main([str(tmp_path / "empty")]) == 2
    assert "no metrics.json" in capsys.readouterr().err
    with pytest.raises(InputFileError):
        rep.read_metrics_json(tmp_path / "empty")


def test_plots_write_pngs(tmp_path: Path):
    m, v = _shifted(1)
    m[5:9] = np.nan
    assert rep.plot_sync(tmp_path / "plots" / "sync.png", m, v).stat().st_size > 1000
    rng = np.random.default_rng(0)
    assert rep.plot_pose(rng.standard_normal((50, 6)), rng.standard_normal((60, 6)), tmp_path / "pose.png").is_file()
    csv_path = tmp_path / "version_0" / "metrics.csv"
    csv_path.parent.mkdir()
    csv_path.write_text("epoch,step,train/loss,val/loss,lr\n0,0,1.0,,0.001\n0,1,0.5,,0.001\n0,1,,0.7,\n")
    series = rep.read_lightning_csv(csv_path)
    assert list(series["val/loss"][0]) == [1.0] and list(series["train/loss"][1]) == [1.0, 0.5]
    assert rep.plot_losses([csv_path, csv_path], tmp_path / "losses.png").is_file()


# ------------------------------------------------------------------------------------ intervals

def test_hierarchical_interval_carries_the_seed_spread():
    """Seeds that disagree widen the interval beyond what pooling their clips would give; an interval
    contains its mean; too few values give no interval."""
    from sandbox.metrics.stats import difference_ci, hierarchical_ci

    rng = np.random.default_rng(0)
    agree = [list(0.5 + 0.05 * rng.standard_normal(10)) for _ in range(3)]
    disagree = [list(c + 0.05 * rng.standard_normal(10)) for c in (0.3, 0.5, 0.7)]
    m, lo, hi = hierarchical_ci(agree)
    assert lo < m < hi and hi - lo < 0.1
    m2, lo2, hi2 = hierarchical_ci(disagree)
    _, plo, phi = hierarchical_ci([sum(disagree, [])])  # the same values as if from one seed
    assert (hi2 - lo2) > 1.5 * (phi - plo) and lo2 < m2 < hi2
    assert hierarchical_ci([[0.4, None, float("nan")]]) == (0.4, None, None)
    d, dlo, dhi = difference_ci(disagree, agree)
    assert dlo < 0 < dhi  # the seeds' spread hides a 0.0 difference
    d, dlo, dhi = difference_ci([[x + 0.3 for x in g] for g in agree], agree)
    assert d == pytest.approx(0.3) and 0.2 < dlo < d < dhi


def test_statistic_interval_resamples_the_columns_of_a_clip_together():
    """A ratio of two metrics that move together clip by clip has a narrow interval (resampled apart, the
    clips' spread would not cancel); a statistic of one column is that column's hierarchical interval."""
    from sandbox.metrics.stats import hierarchical_ci, hierarchical_statistic_ci

    rng = np.random.default_rng(1)
    groups = []
    for c in (0.3, 0.5, 0.7):
        x = c + 0.2 * rng.standard_normal(10)
        groups.append(np.c_[x, 2 * x + 0.01 * rng.standard_normal(10)])
    r, lo, hi = hierarchical_statistic_ci(groups, lambda m: m[1] / m[0])
    assert lo < r < hi and hi - lo < 0.1 and r == pytest.approx(2, abs=0.05)
    m, mlo, mhi = hierarchical_ci([g[:, 0] for g in groups])
    assert hi - lo < 0.2 * (mhi - mlo)
    assert hierarchical_statistic_ci(groups, lambda m: m[0]) == pytest.approx((m, mlo, mhi))
    holed = [np.r_[g, [[np.nan, 1.0]]] for g in groups]  # a clip missing one value drops out whole
    assert hierarchical_statistic_ci(holed, lambda m: m[0]) == pytest.approx((m, mlo, mhi))


def test_window_seams_find_the_jumps_at_window_starts():
    """A smooth ramp has equal steps everywhere; a jump added to every window from the second on shows
    at the seams only, and at a stride the jumps do not follow it is spread over the within steps."""
    from sandbox.metrics.motion import window_seams

    t = np.arange(20, dtype=float)
    ramp = np.stack([t, 0 * t], axis=1)
    seam, within = window_seams(ramp, 4)
    assert seam == pytest.approx(1.0) and within == pytest.approx(1.0)
    jumped = ramp + np.stack([0 * t, 3.0 * (t // 4)], axis=1)  # a jump of 3 entering frames 4, 8, ...
    seam, within = window_seams(jumped, 4)
    assert seam == pytest.approx(np.hypot(1, 3)) and within == pytest.approx(1.0)
    seam5, within5 = window_seams(jumped, 5)
    assert seam5 < seam and within5 > within
    assert np.isnan(window_seams(ramp[:3], 4)[0])
