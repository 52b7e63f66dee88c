"""Speech-driven emotion (FLOAT): the sandbox's classifier learns the world's emotional speech beyond the
voices and sentences it heard, a local transformers checkpoint loads through the real path with its labels
mapped, and emotion=auto's probabilities (or a redirecting name) reach the generator's condition."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli import TinyGen, dataset, doubles, overrides  # noqa: F401 (fixtures: the tiny pipeline of test_cli)

from sandbox.constants import EMOTIONS
from sandbox.errors import ConfigError, InputFileError
from sandbox.registry import GENS
from sandbox.run import compose_config, run_pipeline

SEEN: list[torch.Tensor] = []  # the emotion condition of every sample drawn by RecordingGen


class RecordingGen(TinyGen):
    """test_cli's tiny generator, remembering the emotion condition it was given."""

    @torch.no_grad()
    def sample(self, cond, steps=None, guidance=None, seed=None):
        SEEN.append(cond["emotion"].clone())
        return super().sample(cond, steps, guidance, seed)


@pytest.fixture(scope="module", autouse=True)
def recording_gen():
    GENS.register("recording", RecordingGen, config={"n_prev": 2, "n_cur": 6, "hidden": 8})
    yield
    GENS.unregister("recording")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("emotion_cache")  # one classifier build for the module (smoke: ~20 s)


@pytest.fixture(scope="module")
def wav(dataset) -> Path:  # noqa: F811
    from sandbox.audio.io import save_wav
    from sandbox.world.speech import prosody_params, synthesize

    path = dataset.parent / "angry.wav"
    save_wav(path, synthesize("Where did you put the keys, tell me now.", **prosody_params("en-029", "angry")).audio)
    return path


def tiny(dataset, cache, out, *extra):  # noqa: F811
    args = [o if o != "gen=tiny" else "gen=recording" for o in overrides(dataset, cache, out, *extra)]
    return run_pipeline(compose_config(args))


def test_classifier_beats_chance_on_held_out_voices_and_sentences(dataset, cache, tmp_path):  # noqa: F811
    """stage=emotion (smoke: each of 12 voices speaks 1 sentence in 7 emotions) -> accuracy on 2 unheard
    voices speaking unheard sentences; chance is 1/7 (P(>= 6 of 14 by chance) < 1%)."""
    ctx = tiny(dataset, cache, tmp_path / "r", "stage=emotion")
    info = json.loads((ctx.artifacts["emotion"] / "info.json").read_text())
    assert info["n_train"] == 12 * 7 and info["n_test"] == 2 * 7
    assert info["loss_first_last"][1] < 0.5 * info["loss_first_last"][0]
    assert info["test_accuracy"] >= 6 / 14, info
    conf = np.array(info["confusion"])
    assert conf.shape == (7, 7) and conf.sum() == 14 and (conf.sum(1) == 2).all()  # 2 voices x each emotion
    with np.load(ctx.artifacts["emotion"] / "utterances.npz") as z:
        assert set(z["voice"][z["split"] == "test"]) == {12, 13}  # the last voices, never in training
        assert not set(z["voice"][z["split"] == "test"]) & set(z["voice"][z["split"] == "train"])
    # cached: a second run reuses it
    again = tiny(dataset, cache, tmp_path / "r2", "stage=emotion")
    assert again.events == [("reuse", "emotion", ctx.hashes["emotion"])]


def test_auto_probabilities_reach_the_generator(dataset, cache, wav, tmp_path):  # noqa: F811
    """audio= without emotion= is emotion=auto: the classifier's probabilities (summing to 1) are the
    generator's emotion condition, saved with the sample; emotion=happy gives the one-hot; Run.animate's
    default predicts the same."""
    import sandbox

    SEEN.clear()
    ctx = tiny(dataset, cache, tmp_path / "auto", "stage=sample", f"audio={wav}")
    assert ("emotion" in [e[1] for e in ctx.events]) and len(SEEN) == 1
    p = SEEN[0][0].numpy()
    assert p.shape == (7,) and p.min() >= 0 and p.sum() == pytest.approx(1, abs=1e-5)
    assert p.max() < 1 - 1e-6  # a distribution, not a one-hot
    with np.load(ctx.run_dir / "samples" / "angry.npz") as z:
        assert str(z["emotion"]) == "auto"
        np.testing.assert_allclose(z["emotion_probs"], p, atol=1e-6)
    run = sandbox.reopen(ctx.run_dir)
    np.testing.assert_allclose(run.predict_emotion(wav), p, atol=1e-6)
    SEEN.clear()
    with np.load(ctx.run_dir / "samples" / "angry.npz") as z:
        run.animate(z["source"], wav)  # emotion=None: auto
        run.animate(z["source"], wav, emotion="sad")
    np.testing.assert_allclose(SEEN[0][0].numpy(), p, atol=1e-6)
    np.testing.assert_array_equal(SEEN[1][0].numpy(), np.eye(7, dtype=np.float32)[EMOTIONS.index("sad")])
    # a name redirects: the one-hot, and no classifier is asked for
    SEEN.clear()
    ctx = tiny(dataset, cache, tmp_path / "happy", "stage=sample", f"audio={wav}", "emotion=happy")
    assert "emotion" not in [e[1] for e in ctx.events]
    np.testing.assert_array_equal(SEEN[0][0].numpy(), np.eye(7, dtype=np.float32)[EMOTIONS.index("happy")])
    # without audio= the test clips drive with their own labels, as before
    SEEN.clear()
    tiny(dataset, cache, tmp_path / "clips", "stage=sample")
    np.testing.assert_array_equal(SEEN[0][0].numpy(), np.eye(7, dtype=np.float32)[EMOTIONS.index("happy")])


def test_bad_emotion_is_refused_before_any_work(dataset, cache, wav, tmp_path):  # noqa: F811
    with pytest.raises(ConfigError, match="emotion=glad"):
        compose_config(overrides(dataset, cache, tmp_path / "r", f"audio={wav}", "emotion=glad"))
    compose_config(overrides(dataset, cache, tmp_path / "r", f"audio={wav}", "emotion=auto"))
    with pytest.raises(InputFileError, match="speech_emotion.pretrained"):
        compose_config(overrides(dataset, cache, tmp_path / "r", f"speech_emotion.pretrained={tmp_path}"))
    with pytest.raises(ConfigError, match="speech_emotion.features"):
        compose_config(overrides(dataset, cache, tmp_path / "r", "speech_emotion.features=pitch"))
    from sandbox.pipeline.extract import emotion_condition

    with pytest.raises(ConfigError, match="7 non-negative"):
        emotion_condition([0.5, 0.5])
    with pytest.raises(ConfigError, match="emotion=auto"):
        emotion_condition("auto")
    np.testing.assert_allclose(emotion_condition(np.ones(7)), np.full(7, 1 / 7), atol=1e-7)


# --- a local transformers checkpoint ------------------------------------------------------------------
LABELS = {0: "ANG", 1: "happiness", 2: "neu", 3: "Sad", 4: "calm"}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny Wav2Vec2ForSequenceClassification + its feature extractor, saved."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    cfg = Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                         conv_dim=(16, 16, 16), conv_stride=(5, 4, 16), conv_kernel=(10, 8, 16),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, do_stable_layer_norm=False,
                         classifier_proj_size=8, num_labels=len(LABELS), id2label=LABELS,
                         label2id={v: k for k, v in LABELS.items()})
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("emotion_ckpt")
    model = Wav2Vec2ForSequenceClassification(cfg)
    with torch.no_grad():  # make the classes differ from input to input
        model.classifier.weight.mul_(50)
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(path)
    return path


def test_transformers_checkpoint_loads_with_its_labels_mapped(tiny_checkpoint, caplog):
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    from sandbox.audio.emotion import from_pretrained, load_classifier

    with caplog.at_level("INFO"):
        clf = from_pretrained(tiny_checkpoint)
    assert clf.unmapped == ["calm"] and clf.missing == ["disgust", "fear", "surprise"]
    assert "calm" in caplog.text and "surprise" in caplog.text  # said, not silent
    audio = np.random.default_rng(0).standard_normal(24000).astype(np.float32) * 0.1
    p = clf.predict_proba(audio)
    assert p.shape == (7,) and p.sum() == pytest.approx(1, abs=1e-5)
    assert p[[EMOTIONS.index(e) for e in clf.missing]].tolist() == [0, 0, 0]
    # the same numbers as the checkpoint itself: softmax, "calm" dropped, the rest renormalised
    model = Wav2Vec2ForSequenceClassification.from_pretrained(tiny_checkpoint).eval()
    x = Wav2Vec2FeatureExtractor.from_pretrained(tiny_checkpoint)(audio, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        q = torch.softmax(model(**x).logits[0], -1).numpy()
    want = np.zeros(7)
    for j, name in ((0, "angry"), (1, "happy"), (2, "neutral"), (3, "sad")):
        want[EMOTIONS.index(name)] = q[j]
    np.testing.assert_allclose(p, want / want.sum(), atol=1e-5)
    assert clf.predict_proba(audio[::2], sr=8000).shape == (7,)  # other rates are resampled
    # a label map adds labels; load_classifier opens either kind of directory
    mapped = load_classifier(tiny_checkpoint, {"calm": "neutral"})
    assert mapped.unmapped == [] and mapped.index[4] == EMOTIONS.index("neutral")
    with pytest.raises(InputFileError, match="config.json"):
        from_pretrained(tiny_checkpoint / "nowhere")


def test_pipeline_uses_a_pretrained_checkpoint(dataset, cache, wav, tiny_checkpoint, tmp_path):  # noqa: F811
    SEEN.clear()
    ctx = tiny(dataset, cache, tmp_path / "r", "stage=sample", f"audio={wav}",
               f"speech_emotion.pretrained={tiny_checkpoint}")
    p = SEEN[0][0].numpy()
    assert "emotion" not in ctx.artifacts  # nothing built
    assert p.sum() == pytest.approx(1, abs=1e-5) and p[EMOTIONS.index("fear")] == 0


def test_label_names():
    from sandbox.audio.emotion import map_label

    for label, want in (("ang", "angry"), ("Angry", "angry"), ("anger", "angry"), ("DIS", "disgust"),
                        ("fearful", "fear"), ("hap", "happy"), ("joy", "happy"), ("neutral", "neutral"),
                        ("sadness", "sad"), ("surprised", "surprise"), ("calm", None), ("LABEL_0", None),
                        ("exc", None), ("fr", None)):
        assert map_label(label) == want, label
    with pytest.raises(ConfigError):
        map_label("calm", {"calm": "relaxed"})


def test_relative_features_ignore_the_recording_gain(wav):
    from sandbox.audio.emotion import feature_names, utterance_features
    from sandbox.audio.io import load_audio

    audio = load_audio(wav)
    full, quiet = utterance_features(audio), utterance_features(audio * 0.3)
    names = feature_names()
    assert quiet[names.index("rms_db_max")] == pytest.approx(full[names.index("rms_db_max")] + 20 * np.log10(0.3), abs=0.1)
    rel, rel_quiet = utterance_features(audio, feature_set="relative"), utterance_features(audio * 0.3, feature_set="relative")
    assert len(rel) == len(names) - 3
    np.testing.assert_allclose(rel_quiet, rel, rtol=0.02, atol=0.02)
