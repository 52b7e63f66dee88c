"""The emotion stage: the speech-emotion classifier behind ``emotion=auto`` (FLOAT's speech-driven emotion).

With ``speech_emotion.pretrained=DIR`` it is a local transformers audio-classification checkpoint
(sandbox.audio.emotion.from_pretrained; nothing is built). Otherwise the sandbox trains its own
(sandbox.audio.emotion.ProsodyEmotionClassifier) on the world's emotional speech, cached like every
stage: each training voice speaks ``train_sentences`` sentences of the training word pool in all seven
emotions (eSpeak NG, sandbox.world.speech); the ``test_voices`` last voices, which it never hears, speak
``test_sentences`` sentences of the held-out word pool in all seven; accuracy and the confusion matrix on
those are in the artifact's info.json. The sample stage asks for this stage only where it predicts
(``emotion=auto``, the default with ``audio=``); ``stage=emotion`` builds it alone.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from sandbox.constants import EMOTIONS
from sandbox.errors import ConfigError, InputFileError
from sandbox.pipeline.cache import build_or_reuse, code_hash, content_hash, library_versions
from sandbox.pipeline.context import Context, progress_disabled

log = logging.getLogger("sandbox.pipeline")
AUTO = "auto"
SENTENCE_WORDS = (5, 12)


@dataclass(frozen=True)
class Utterance:
    split: str  # train | test
    voice: int  # index into sandbox.world.speech.VOICES
    sentence: int
    emotion: int  # index into EMOTIONS
    text: str


def wants_auto(cfg: DictConfig) -> bool:
    """Whether the sample stage predicts the emotion: audio= given and emotion= auto or unset."""
    return cfg.audio is not None and (cfg.emotion is None or cfg.emotion == AUTO)


def check(cfg: DictConfig) -> None:
    """Preflight: the classifier's keys (and a pretrained directory that exists)."""
    s = cfg.speech_emotion
    if s.pretrained is not None:
        if not (Path(str(s.pretrained)).expanduser() / "config.json").is_file():
            raise InputFileError(f"speech_emotion.pretrained={s.pretrained} holds no transformers checkpoint "
                                 "(config.json): pass a local save_pretrained directory, or null to train the "
                                 "sandbox's own classifier.")
        return
    from sandbox.audio.emotion import feature_names
    from sandbox.world.speech import VOICES

    feature_names(str(s.features))
    for key in ("train_sentences", "test_sentences", "steps", "hidden"):
        if int(s[key]) < 1:
            raise ConfigError(f"speech_emotion.{key}={s[key]} must be >= 1.")
    if not 1 <= int(s.test_voices) < len(VOICES):
        raise ConfigError(f"speech_emotion.test_voices={s.test_voices}: between 1 and {len(VOICES) - 1} "
                          f"(of {len(VOICES)} voices) are held out.")


def plan(s: DictConfig) -> list[Utterance]:
    """Training voices x training sentences x 7 emotions, then held-out voices x held-out sentences x 7.
    Each (voice, sentence) is spoken in all seven emotions, so the text never tells the emotion."""
    from sandbox.world.sentences import make_sentence, sentence_rng
    from sandbox.world.speech import VOICES

    n_test = int(s.test_voices)
    out = []
    for split, voices, n in (("train", range(len(VOICES) - n_test), int(s.train_sentences)),
                             ("test", range(len(VOICES) - n_test, len(VOICES)), int(s.test_sentences))):
        for v in voices:
            for i in range(n):
                rng = sentence_rng(f"emotion-{split}", 1000 * v + i, int(s.seed))
                text = make_sentence(rng, n_words=SENTENCE_WORDS, pool=split)
                out += [Utterance(split, v, i, k, text) for k in range(len(EMOTIONS))]
    return out


def _features_of(args) -> np.ndarray:
    from sandbox.audio.emotion import utterance_features
    from sandbox.world.speech import VOICES, prosody_params, synthesize

    u, feature_set = args
    speech = synthesize(u.text, **prosody_params(VOICES[u.voice].id, EMOTIONS[u.emotion]))
    return utterance_features(speech.audio, feature_set=feature_set)


def speak_and_measure(utts: list[Utterance], feature_set: str, workers: int | None = None) -> np.ndarray:
    """float32 [N, D]: each utterance synthesised and measured (forked workers, as the world's dataset)."""
    from tqdm import tqdm

    from sandbox.parallel import fork_map

    workers = workers or min(2, os.cpu_count() or 1)
    jobs = [(u, feature_set) for u in utts]
    bar = tqdm(total=len(jobs), desc="emotion speech", unit="utt", disable=progress_disabled())
    out = []
    for f in fork_map(_features_of, jobs, workers, chunksize=8):
        out.append(f)
        bar.update()
    bar.close()
    return np.stack(out).astype(np.float32)


def cache_key(cfg: DictConfig) -> str:
    """The classifier's cache key: its settings, the keyed library versions and (with hash_code) the code
    of this module and of the classifier's (the world's speech is in their import closure)."""
    code = code_hash("sandbox.pipeline.emotion", "sandbox.audio.emotion") if cfg.get("hash_code", True) else None
    return content_hash("emotion", cfg.speech_emotion, {"libraries": library_versions(), "code": code})


def build(cfg: DictConfig, work: Path) -> dict:
    """Synthesise, measure, train and test the classifier into ``work`` -> the info (accuracy, confusion)."""
    import time

    from sandbox.audio.emotion import confusion, train_classifier

    s = cfg.speech_emotion
    t0 = time.perf_counter()
    utts = plan(s)
    feats = speak_and_measure(utts, str(s.features))
    split = np.array([u.split for u in utts])
    y = np.array([u.emotion for u in utts])
    voice = np.array([u.voice for u in utts])
    sentence = np.array([u.sentence for u in utts])
    tr, te = split == "train", split == "test"
    clf, losses = train_classifier(feats[tr], y[tr], str(s.features), int(s.hidden), float(s.dropout), int(s.steps),
                                   float(s.lr), float(s.weight_decay), int(s.seed))
    clf.save(work)
    proba = clf.proba_from_features(feats[te])
    pred = proba.argmax(1)
    np.savez(work / "utterances.npz", features=feats, label=y, split=split, voice=voice, sentence=sentence,
             test_proba=proba)
    acc = float((pred == y[te]).mean())
    info = {
        "test_accuracy": acc, "train_accuracy": float((clf.proba_from_features(feats[tr]).argmax(1) == y[tr]).mean()),
        "n_train": int(tr.sum()), "n_test": int(te.sum()), "emotions": list(EMOTIONS),
        "confusion": confusion(y[te], pred).tolist(), "loss_first_last": [losses[0], losses[-1]],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    log.info("speech emotion classifier: %.1f%% on %d held-out utterances (held-out voices and sentences; chance "
             "14%%), %d training utterances, %.0f s", 100 * acc, info["n_test"], info["n_train"], info["seconds"])
    return info


def classifier(cfg: DictConfig, cache_root: Path, events: list | None = None):
    """The configured classifier outside a pipeline run (a reopened run): built into / reused from
    ``cache_root`` as the stage does -> (classifier, artifact path or None)."""
    from sandbox.audio.emotion import load_classifier

    s = cfg.speech_emotion
    if s.pretrained is not None:
        return load_classifier(str(s.pretrained), _label_map(s)), None
    art = build_or_reuse(Path(cache_root), "emotion", cache_key(cfg), lambda w: build(cfg, w), events=events)
    return load_classifier(art), art


def _label_map(s: DictConfig) -> dict | None:
    from sandbox.config import to_dict

    return to_dict(s.get("label_map")) or None


def run(ctx: Context):
    """-> the classifier (``predict_proba(audio, sr) -> [7]``)."""
    from sandbox.audio.emotion import load_classifier

    cfg = ctx.cfg
    s = cfg.speech_emotion
    if s.pretrained is not None:
        return load_classifier(str(s.pretrained), _label_map(s))
    key = cache_key(cfg)
    art = ctx.build("emotion", key, lambda w: build(cfg, w))
    ctx.hashes["emotion"], ctx.artifacts["emotion"] = key, art
    info = json.loads((art / "info.json").read_text())
    log.info("speech emotion classifier %s: %.1f%% on held-out voices and sentences", key,
             100 * info["test_accuracy"])
    return load_classifier(art)


def predict(clf, audio: np.ndarray, name: str = "audio") -> np.ndarray:
    """float32 [7] probabilities of ``audio`` (16 kHz), logged."""
    p = np.asarray(clf.predict_proba(audio, 16000), np.float32)
    top = ", ".join(f"{EMOTIONS[i]} {p[i]:.2f}" for i in np.argsort(-p)[:3])
    log.info("emotion=auto for %s: %s", name, top)
    return p
