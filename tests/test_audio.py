"""Audio IO, per-frame features, the learned encoder and wav2vec2 loading from a local directory."""
from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.audio.encoder import AudioEncoder
from sandbox.audio.features import energy_frames, logmel_frames
from sandbox.audio.io import load_audio, save_wav
from sandbox.errors import ConfigError, InputFileError


# --- load_audio ---------------------------------------------------------------------------------
def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "speech.wav"
    with pytest.raises(InputFileError, match="speech.wav"):
        load_audio(missing)


def test_text_file_with_wav_name_is_rejected(tmp_path):
    fake = tmp_path / "x.wav"
    fake.write_text("this is not audio\n" * 20)
    with pytest.raises(InputFileError, match="x.wav"):
        load_audio(fake)


def test_44k_stereo_is_resampled_to_16k_mono(tmp_path):
    sr, seconds = 44_100, 1.5
    t = np.arange(int(sr * seconds)) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, left], axis=1).astype(np.float32)
    path = tmp_path / "tone.wav"
    sf.write(path, stereo, sr)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16_000 * seconds) <= 2
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16_000 / len(audio) - 440) < 2  # same pitch after resampling
    assert 0.3 < np.abs(audio).max() < 0.6


def test_save_then_load_round_trips(tmp_path):
    x = (0.3 * np.sin(np.linspace(0, 200, 8000))).astype(np.float32)
    save_wav(tmp_path / "a.wav", x)
    np.testing.assert_allclose(load_audio(tmp_path / "a.wav"), x, atol=1e-4)


# --- per-frame features --------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5000), st.one_of(st.none(), st.integers(1, 12)))
def test_logmel_shape_is_exact_for_any_length(n_samples, n_frames):
    audio = np.random.default_rng(n_samples).standard_normal(n_samples).astype(np.float32) * 0.1
    feats = logmel_frames(audio, n_frames, n_mels=20)
    T = n_frames if n_frames is not None else math.ceil(n_samples / 640)
    assert feats.shape == (T, 80) and feats.dtype == np.float32 and np.all(np.isfinite(feats))
    assert energy_frames(audio, n_frames).shape == (T,)


def test_logmel_is_frame_aligned():
    # a burst of noise in video frame 5 only: its features must be the loudest in row 5
    audio = np.zeros(640 * 10, np.float32)
    audio[640 * 5: 640 * 6] = np.random.default_rng(0).standard_normal(640) * 0.3
    feats = logmel_frames(audio)
    assert feats.shape == (10, 320)
    loud = feats.mean(axis=1)
    assert np.argmax(loud) == 5 and loud[5] > loud[3] + 5 and loud[5] > loud[7] + 5
    # each of the 4 stacked 10 ms steps of frame 5 sees the burst
    steps = feats[5].reshape(4, 80).mean(axis=1)
    assert np.all(steps > loud[0] + 5)
    energy = energy_frames(audio)
    assert np.argmax(energy) == 5 and energy[4] == 0 and energy[6] == 0


def test_logmel_pads_and_crops_to_requested_frames():
    audio = np.random.default_rng(1).standard_normal(640 * 4).astype(np.float32) * 0.1
    long = logmel_frames(audio, n_frames=8)
    short = logmel_frames(audio, n_frames=2)
    assert long.shape == (8, 320) and short.shape == (2, 320)
    np.testing.assert_allclose(short, long[:2], atol=1e-4)  # cropping keeps the same frames
    np.testing.assert_allclose(long[5:], np.log(1e-6), atol=1e-3)  # padding is silence
    assert long[:3].min() > np.log(1e-6) + 3


def _vowel(f0: float, formants: list[float], seconds: float = 1.0) -> np.ndarray:
    """Harmonics of f0 shaped by a formant envelope: a vowel's spectrum, the pitch and the vowel apart."""
    t = np.arange(int(16000 * seconds)) / 16000
    x = sum((sum(np.exp(-0.5 * ((h * f0 - f) / 90) ** 2) for f in formants) + 0.01) * np.sin(2 * np.pi * h * f0 * t)
            for h in range(1, int(7000 / f0)))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_mfcc_keeps_the_vowel_and_drops_the_pitch():
    from sandbox.audio.features import mfcc_frames

    a, higher, other_vowel = _vowel(110, [700, 1200, 2600]), _vowel(210, [700, 1200, 2600]), _vowel(110, [300, 2300, 3000])

    def distance(fn, x, y):  # per frame, after the encoder's per-frame normalisation
        fx, fy = (f[5:-5] for f in (fn(x), fn(y)))
        fx, fy = ((f - f.mean(1, keepdims=True)) / f.std(1, keepdims=True) for f in (fx, fy))
        return np.linalg.norm(fx - fy, axis=1).mean()

    ratio = {fn.__name__: distance(fn, a, higher) / distance(fn, a, other_vowel) for fn in (logmel_frames, mfcc_frames)}
    assert ratio["mfcc_frames"] < 0.5 * ratio["logmel_frames"], ratio  # the pitch matters far less than the vowel
    m = mfcc_frames(a, n_frames=30, n_mfcc=13)
    assert m.shape == (30, 4 * 13) and m.dtype == np.float32
    with pytest.raises(ValueError, match="n_mfcc"):
        mfcc_frames(a, n_mfcc=80)


def test_normalised_logmel_drops_a_constant_channel():
    from sandbox.audio.features import logmel_norm_frames

    a = _vowel(110, [700, 1200, 2600])
    tilt = np.convolve(a, [1.0, -0.9])[: len(a)].astype(np.float32)  # a pre-emphasis: another channel
    plain, tilted = logmel_frames(a), logmel_frames(tilt)
    whole, whole_tilted = (logmel_norm_frames(x, warmup=10**6) for x in (a, tilt))  # the whole utterance's stats
    assert whole.shape == plain.shape and whole.dtype == np.float32
    np.testing.assert_allclose(whole.mean(0), 0, atol=1e-4)
    varied = plain.std(0) > 0.05
    assert varied.sum() > 100 and np.allclose(whole.std(0)[varied], 1, atol=0.03) and (whole.std(0) < 1).all()
    # the filter shifts each band's log level by a constant: large before, gone after
    assert np.abs(plain - tilted)[5:-5].mean() > 0.5
    assert np.abs(whole - whole_tilted)[5:-5].mean() < 0.2 * np.abs(plain - tilted)[5:-5].mean()
    running = logmel_norm_frames(tilt, warmup=10)  # the default: the statistics so far
    np.testing.assert_allclose(running[-1], whole_tilted[-1], atol=1e-4)  # the last frame has seen it all
    assert np.abs(running - whole_tilted)[:10].mean() > 1e-3  # the first ones not
    assert np.isfinite(logmel_norm_frames(np.zeros(3200, np.float32))).all()  # silence: no NaN


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 15), st.lists(st.integers(0, 12), min_size=1, max_size=10))
def test_running_standardiser_in_pieces_equals_offline(T, warmup, cuts):
    from sandbox.audio.features import RunningStandardiser, standardise_running

    x = np.random.default_rng(T * 100 + warmup).normal(2, 3, (T, 3))
    want = standardise_running(x, warmup)
    n = np.maximum(np.arange(1, T + 1), min(warmup, T))
    t = T // 2
    np.testing.assert_allclose(want[t], (x[t] - x[: n[t]].mean(0)) / (x[: n[t]].std(0) + 1e-3), rtol=1e-4, atol=1e-4)
    norm, parts, sent = RunningStandardiser(warmup), [], 0
    for c in cuts:
        out = norm.push(x[sent: sent + c])
        sent = min(sent + c, T)
        assert sum(map(len, parts)) + len(out) == (sent if sent >= warmup else 0)  # out as soon as the warm-up is in
        parts.append(out)
    parts += [norm.push(x[sent:]), norm.finish()]
    np.testing.assert_allclose(np.concatenate([q for q in parts if len(q)]), want, atol=1e-5)


# --- the learned encoder -------------------------------------------------------------------------
def test_audio_encoder_keeps_length_and_is_local():
    torch.manual_seed(0)
    enc = AudioEncoder(d_in=320, d_out=32, kernel=5)
    a = torch.randn(2, 30, 320, requires_grad=True)
    out = enc(a)
    assert out.shape == (2, 30, 32) and enc.out_dim == 32
    out[0, 10, :3].sum().backward()  # (a full sum of a LayerNorm output is constant)
    touched = a.grad[0].abs().sum(dim=1).nonzero().flatten().tolist()
    assert touched == list(range(8, 13))  # kernel 5: frames 10 +- 2 only
    assert a.grad[1].abs().sum() == 0  # batch items independent
    with pytest.raises(ValueError, match="odd"):
        AudioEncoder(320, 32, kernel=4)


def test_audio_encoder_layers_widen_the_context_exactly():
    torch.manual_seed(0)
    enc = AudioEncoder(d_in=40, d_out=16, kernel=5, layers=3)
    assert enc.context == 6  # what a stream waits for: 3 convs of +-2 frames
    a = torch.randn(1, 40, 40, requires_grad=True)
    enc(a)[0, 20, :3].sum().backward()
    touched = a.grad[0].abs().sum(dim=1).nonzero().flatten().tolist()
    assert touched == list(range(14, 27))
    with pytest.raises(ValueError, match="layers"):
        AudioEncoder(40, 16, layers=0)
    whole = enc(a).detach()  # what a stream relies on: a slice with `context` frames each side is exact
    assert torch.allclose(enc(a[:, 10 - 6 : 30 + 6])[:, 6:-6], whole[:, 10:30], atol=1e-5)


def test_frequency_warp_moves_spectral_peaks_and_only_in_training():
    enc = AudioEncoder(d_in=4 * 80, d_out=16, freq_warp=0.2)
    a = torch.zeros(2, 6, 4, 80)
    a[..., 40] = 1.0  # one spectral peak at band 40 in each of the 4 stacked spectra
    a = a.reshape(2, 6, 320)
    out = enc.warp(a, torch.tensor([1.0, 1.25])).reshape(2, 6, 4, 80)
    assert torch.equal(out[0], a.reshape(2, 6, 4, 80)[0])  # alpha 1: unchanged
    assert (out[1].argmax(-1) == 32).all()  # band k reads band 1.25 k: the peak moves to 40 / 1.25
    assert torch.allclose(out[1], out[1, :1])  # one warp for every frame of an item
    enc.eval()
    assert torch.equal(enc(a), enc(a))  # no warp when sampling
    enc.train()
    torch.manual_seed(0)
    assert not torch.allclose(enc(a), enc(a))  # a fresh warp per training batch
    with pytest.raises(ValueError, match="stacked"):
        AudioEncoder(d_in=321, d_out=16, freq_warp=0.1)


def test_frequency_masks_blank_whole_bands_per_item_and_only_in_training():
    torch.manual_seed(0)
    enc = AudioEncoder(d_in=4 * 20, d_out=8, freq_mask=5, freq_masks=2)
    a = torch.randn(64, 7, 80)
    out = enc.mask(a).reshape(64, 7, 4, 20)
    changed = out != a.reshape(64, 7, 4, 20)
    band = changed.any(1).any(1)  # [item, band]: masked somewhere
    assert torch.equal(changed, band[:, None, None, :].expand_as(changed))  # whole bands: every frame and step
    assert (band.sum(1) <= 10).all() and band.any()  # at most 2 runs of 5 bands
    fill = a.mean((1, 2))
    assert torch.allclose(out[changed], fill[:, None, None, None].expand_as(out)[changed])
    assert len({tuple(b.tolist()) for b in band}) > 10  # drawn per item
    enc.eval()
    assert torch.equal(enc(a), enc(a))  # no masks when sampling
    enc.train()
    assert not torch.allclose(enc(a), enc(a))  # fresh masks per training batch
    with pytest.raises(ValueError, match="stacked"):
        AudioEncoder(d_in=81, d_out=8, freq_mask=3)
    with pytest.raises(ValueError, match="freq_mask"):
        AudioEncoder(d_in=80, d_out=8, freq_mask=21)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 1.5), st.integers(0, 2**31 - 1))
def test_frequency_warp_interpolates_within_the_input_range(alpha, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(1, 5, 4 * 12, generator=g)
    out = AudioEncoder(d_in=48, d_out=8, freq_warp=0.1).warp(a, torch.tensor([alpha])).reshape(1, 5, 4, 12)
    x = a.reshape(1, 5, 4, 12)
    assert (out >= x.amin(-1, keepdim=True) - 1e-6).all() and (out <= x.amax(-1, keepdim=True) + 1e-6).all()
    assert torch.allclose(out[..., 0], x[..., 0])  # band 0 is the warp's fixed point


# --- wav2vec2 from a local directory -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_wav2vec(tmp_path_factory):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(16, 16, 16), conv_stride=(5, 4, 16), conv_kernel=(10, 8, 16),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, do_stable_layer_norm=False)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w2v")
    Wav2Vec2Model(cfg).save_pretrained(path)
    return path


def test_wav2vec_loads_local_checkpoint_and_stacks_layers(tiny_wav2vec):
    from sandbox.audio.wav2vec import Wav2Vec2Features

    audio = np.random.default_rng(0).standard_normal(32_000).astype(np.float32) * 0.1  # 2 s
    feats = Wav2Vec2Features(tiny_wav2vec, layers="all")
    out = feats(audio)
    assert out.shape == (50, 3 * 16) and feats.out_dim == 48 and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.std(axis=0).min() > 0  # every column varies over time
    last = Wav2Vec2Features(tiny_wav2vec, layers="last")(audio, n_frames=37)
    assert last.shape == (37, 16)
    assert feats(audio[:100]).shape == (1, 48)  # shorter than one conv receptive field


def test_wav2vec_missing_dir_says_what_to_pass(tmp_path):
    from sandbox.audio.wav2vec import Wav2Vec2Features

    with pytest.raises(InputFileError, match="config.json"):
        Wav2Vec2Features(tmp_path / "no_model")


def test_wav2vec_is_selectable_as_the_pipeline_feature_function(tiny_wav2vec):
    from sandbox.config import instantiate
    from sandbox.run import compose_config

    w2v = ["rep=lia", "gen=flow", "preset=smoke", "features._target_=sandbox.audio.wav2vec.wav2vec2_frames",
           f"+features.model_dir={tiny_wav2vec}"]
    cfg = compose_config(w2v + ["audio_encoder.freq_mask=0"])
    fn = instantiate(cfg.features, "features")
    out = fn(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 25)
    assert out.shape == (25, 3 * 16) and np.isfinite(out).all()
    # the default masks and a warp act on log-mel bands, not on these: refused, saying what to set
    with pytest.raises(ConfigError, match="freq_mask=0"):
        compose_config(w2v)
    with pytest.raises(ConfigError, match="freq_warp=0"):
        compose_config(w2v + ["audio_encoder.freq_mask=0", "+audio_encoder.freq_warp=0.1"])


def test_frequency_masks_need_features_that_declare_stacked_log_mel():
    from functools import partial

    from sandbox.audio.features import logmel_norm_frames, mfcc_frames, stacks_log_mel
    from sandbox.run import compose_config

    assert stacks_log_mel(partial(logmel_norm_frames, warmup=3)) and not stacks_log_mel(mfcc_frames)

    def own(audio, n_frames=None):  # a user's own log-mel variant declares itself
        return logmel_norm_frames(audio, n_frames)

    assert not stacks_log_mel(own)
    own.stacked_log_mel = True
    assert stacks_log_mel(partial(own))
    base = ["rep=lia", "gen=flow", "preset=smoke"]
    compose_config(base)  # the default features and masks agree
    with pytest.raises(ConfigError, match="freq_mask=0"):
        compose_config(base + ["features._target_=sandbox.audio.features.mfcc_frames"])
    compose_config(base + ["features._target_=sandbox.audio.features.mfcc_frames", "audio_encoder.freq_mask=0"])


@settings(max_examples=25, deadline=None)
@given(n_samples=st.integers(700, 9000), cuts=st.lists(st.integers(1, 2000), min_size=1, max_size=12))
def test_feature_stream_equals_whole_recording_and_emits_as_soon_as_final(n_samples, cuts):
    """Log-mel pushed in any pieces equals log-mel of the whole recording, and each frame comes out with
    the piece that brings the 120 samples its last STFT window reads past the frame's end."""
    from sandbox.audio.features import FeatureStream, logmel_frames

    audio = np.random.default_rng(n_samples).normal(0, 0.1, n_samples).astype(np.float32)
    _stream_equals_offline(FeatureStream(logmel_frames), logmel_frames(audio), audio, cuts, warmup=0)


@settings(max_examples=25, deadline=None)
@given(n_samples=st.integers(700, 12000), cuts=st.lists(st.integers(1, 2000), min_size=1, max_size=12),
       warmup=st.integers(1, 12))
def test_normalised_feature_stream_equals_whole_recording(n_samples, cuts, warmup):
    """The running standardisation streams too (the pipeline's partial binds its warm-up): the same frames,
    out once the warm-up's frames are final."""
    from functools import partial

    from sandbox.audio.features import FeatureStream, logmel_norm_frames

    audio = np.random.default_rng(n_samples).normal(0, 0.1, n_samples).astype(np.float32)
    fn = partial(logmel_norm_frames, warmup=warmup)
    _stream_equals_offline(FeatureStream(fn), fn(audio), audio, cuts, warmup=warmup)


def _stream_equals_offline(stream, want, audio, cuts, warmup):
    n_samples, parts, sent = len(audio), [], 0
    for c in cuts + [n_samples]:
        upto = min(sent + c, n_samples)
        out = stream.push(audio[sent:upto])
        sent = upto
        if len(out):
            parts.append(out)
        final = max(sent - 120, 0) // 640
        assert sum(map(len, parts)) == (final if final >= warmup else 0)
        if sent == n_samples:
            break
    parts.append(stream.finish())
    got = np.concatenate([q for q in parts if len(q)])
    np.testing.assert_allclose(got, want, atol=1e-4)
