"""Speech emotion: a clip's probabilities over the seven emotions, as FLOAT conditions on them.

Two classifiers share one interface, ``predict_proba(audio, sr=16000) -> float32 [7]`` (the order of
``sandbox.constants.EMOTIONS``, summing to 1):

* ``ProsodyEmotionClassifier``: the sandbox's own, a small MLP on utterance-level statistics
  (``utterance_features``) trained by ``train_classifier`` (the pipeline's ``emotion`` stage trains it on
  the world's emotional speech; ``sandbox.pipeline.emotion``). Saved / loaded with ``save`` / ``load``.
* ``PretrainedEmotionClassifier``: a local ``transformers`` audio-classification checkpoint
  (``from_pretrained(dir)``; nothing is downloaded), its labels mapped onto the seven
  (``map_label``: "ang", "angry", "anger", "hap", "joy", ...). Emotions the checkpoint lacks get
  probability 0; the probability of labels that map to none of the seven (e.g. "calm", "excited") is
  dropped and the rest renormalised; both lists are logged and kept (``missing``, ``unmapped``).

``load_classifier(dir)`` opens either kind from a directory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sandbox.constants import EMOTIONS, SAMPLE_RATE
from sandbox.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

WEIGHTS = "emotion_classifier.pt"  # a ProsodyEmotionClassifier directory holds this file
HOP = 160  # 10 ms analysis hop at 16 kHz
FEATURE_SETS = ("prosody", "prosody+spectrum", "relative")


# --- utterance features -----------------------------------------------------------------------------
PROSODY_NAMES = (
    # loudness (eSpeak's volume): frame RMS in dB over the speech frames (within 40 dB of the loudest)
    "rms_db_max", "rms_db_p90", "rms_db_median", "rms_db_std",
    # pitch (eSpeak's pitch and pitch range): pYIN f0 in semitones re 100 Hz over voiced frames
    "f0_median", "f0_p05", "f0_p95", "f0_range", "f0_std", "f0_slope_abs",
    # timing (eSpeak's rate): speech / voiced fractions, voiced segments and onsets per second of speech
    "speech_fraction", "voiced_fraction", "voiced_runs_per_s", "voiced_run_s", "onsets_per_s", "duration_s",
)
SPECTRUM_NAMES = ("centroid_hz_median", "rolloff_hz_median", "flatness_median",
                  *(f"mfcc{i}_mean" for i in range(1, 13)))


ABSOLUTE_LEVEL = ("rms_db_max", "rms_db_p90", "rms_db_median")  # what a recording's gain changes


def feature_names(feature_set: str = "prosody+spectrum") -> tuple[str, ...]:
    """``prosody``: loudness, pitch and timing statistics; ``prosody+spectrum``: and the spectrum's shape;
    ``relative``: prosody+spectrum without the absolute levels, so a recording's gain does not matter."""
    if feature_set not in FEATURE_SETS:
        raise ConfigError(f"speech_emotion.features={feature_set} is not one of {', '.join(FEATURE_SETS)}.")
    if feature_set == "prosody":
        return PROSODY_NAMES
    names = PROSODY_NAMES + SPECTRUM_NAMES
    return names if feature_set == "prosody+spectrum" else tuple(n for n in names if n not in ABSOLUTE_LEVEL)


def _resampled(audio: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    audio = np.asarray(audio, np.float32).reshape(-1)
    if int(sr) != SAMPLE_RATE:
        audio = librosa.resample(audio, orig_sr=int(sr), target_sr=SAMPLE_RATE).astype(np.float32)
    return audio


def utterance_features(audio: np.ndarray, sr: int = SAMPLE_RATE, feature_set: str = "prosody+spectrum") -> np.ndarray:
    """float32 [len(feature_names(feature_set))]: one utterance's loudness, pitch and timing statistics
    (and, with ``prosody+spectrum``, its median spectral shape and mean MFCCs 1-12) over its speech
    frames. Raw levels are kept on purpose: in the world, emotions differ by volume, pitch, pitch range
    and rate (sandbox.world.speech.emotion_prosody), and a recording's level carries the volume
    (``relative`` leaves the absolute levels out, for recordings of any gain)."""
    import librosa

    names = feature_names(feature_set)
    x = _resampled(audio, sr)
    x = np.pad(x, (0, max(0, 4 * 1024 - len(x))))  # at least a few analysis windows
    rms = librosa.feature.rms(y=x, frame_length=400, hop_length=HOP)[0]
    db = 20 * np.log10(np.maximum(rms, 1e-5))
    speech = db > db.max() - 40.0
    f0, voiced, _ = librosa.pyin(x, fmin=60.0, fmax=500.0, sr=SAMPLE_RATE, frame_length=1024, hop_length=2 * HOP,
                                 resolution=0.25)
    n2 = min(len(f0), len(speech[::2]))
    voiced = voiced[:n2] & speech[::2][:n2]
    semis = 12 * np.log2(np.where(voiced, f0[:n2], 100.0) / 100.0)[voiced]
    if semis.size < 3:
        semis = np.zeros(3)
    runs = np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(runs == 1), np.flatnonzero(runs == -1)
    speech_s = max(speech.sum() * HOP / SAMPLE_RATE, 0.1)
    onsets = librosa.onset.onset_detect(y=x, sr=SAMPLE_RATE, hop_length=HOP, units="frames")
    # consecutive voiced f0 steps, semitones per 20 ms frame: how fast the pitch moves
    steps = np.abs(np.diff(12 * np.log2(np.where(voiced, f0[:n2], np.nan) / 100.0)))
    feats = {
        "rms_db_max": db.max(), "rms_db_p90": np.percentile(db[speech], 90), "rms_db_median": np.median(db[speech]),
        "rms_db_std": db[speech].std(),
        "f0_median": np.median(semis), "f0_p05": np.percentile(semis, 5), "f0_p95": np.percentile(semis, 95),
        "f0_range": np.percentile(semis, 95) - np.percentile(semis, 5), "f0_std": semis.std(),
        "f0_slope_abs": np.nanmean(steps) if np.isfinite(steps).any() else 0.0,
        "speech_fraction": speech.mean(), "voiced_fraction": voiced.mean(),
        "voiced_runs_per_s": len(starts) / speech_s,
        "voiced_run_s": (ends - starts).mean() * 2 * HOP / SAMPLE_RATE if len(starts) else 0.0,
        "onsets_per_s": len(onsets) / speech_s, "duration_s": len(audio) / float(sr),
    }
    if "mfcc1_mean" in names:
        frames = np.flatnonzero(speech)
        spec = np.abs(librosa.stft(x, n_fft=512, hop_length=HOP)) ** 2
        n = min(spec.shape[1], len(speech))
        spec = spec[:, frames[frames < n]]
        feats["centroid_hz_median"] = np.median(librosa.feature.spectral_centroid(S=np.sqrt(spec), sr=SAMPLE_RATE))
        feats["rolloff_hz_median"] = np.median(librosa.feature.spectral_rolloff(S=np.sqrt(spec), sr=SAMPLE_RATE))
        feats["flatness_median"] = np.median(librosa.feature.spectral_flatness(S=np.sqrt(spec)))
        mel = librosa.feature.melspectrogram(S=spec, sr=SAMPLE_RATE, n_mels=40)
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13)
        for i in range(1, 13):
            feats[f"mfcc{i}_mean"] = mfcc[i].mean()
    return np.array([feats[k] for k in names], np.float32)


# --- the sandbox's classifier -----------------------------------------------------------------------
class ProsodyEmotionClassifier(nn.Module):
    """Standardised utterance features -> MLP -> 7 logits."""

    def __init__(self, feature_set: str = "prosody+spectrum", hidden: int = 64, dropout: float = 0.3):
        super().__init__()
        self.feature_set, self.hidden, self.dropout = feature_set, int(hidden), float(dropout)
        d = len(feature_names(feature_set))
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("std", torch.ones(d))
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, hidden),
                                 nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, len(EMOTIONS)))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net((feats - self.mean) / self.std)

    @torch.no_grad()
    def proba_from_features(self, feats: np.ndarray) -> np.ndarray:
        """float32 [N, 7] from features [N, D]."""
        self.eval()
        return torch.softmax(self(torch.as_tensor(np.asarray(feats, np.float32))), -1).numpy()

    def predict_proba(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """float32 [7]: the clip's emotion probabilities (EMOTIONS order)."""
        return self.proba_from_features(utterance_features(audio, sr, self.feature_set)[None])[0]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch.save({"feature_set": self.feature_set, "hidden": self.hidden, "dropout": self.dropout,
                    "emotions": list(EMOTIONS), "state": self.state_dict()}, path / WEIGHTS)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ProsodyEmotionClassifier":
        blob = torch.load(Path(path) / WEIGHTS, map_location="cpu", weights_only=True)
        if tuple(blob["emotions"]) != EMOTIONS:
            raise InputFileError(f"{path}: a classifier of other emotions ({blob['emotions']}).")
        clf = cls(blob["feature_set"], blob["hidden"], blob["dropout"])
        clf.load_state_dict(blob["state"])
        return clf.eval()


def train_classifier(feats: np.ndarray, labels: np.ndarray, feature_set: str = "prosody+spectrum", hidden: int = 64,
                     dropout: float = 0.3, steps: int = 600, lr: float = 3e-3, weight_decay: float = 1e-2,
                     seed: int = 0) -> tuple[ProsodyEmotionClassifier, list[float]]:
    """Full-batch AdamW on cross-entropy: (the classifier, its training loss every step)."""
    feats, labels = np.asarray(feats, np.float32), np.asarray(labels, np.int64)
    if len(feats) != len(labels) or feats.ndim != 2 or feats.shape[1] != len(feature_names(feature_set)):
        raise ValueError(f"features [N, {len(feature_names(feature_set))}] and labels [N]; got {feats.shape}, "
                         f"{labels.shape}")
    torch.manual_seed(int(seed))
    clf = ProsodyEmotionClassifier(feature_set, hidden, dropout)
    x, y = torch.from_numpy(feats), torch.from_numpy(labels)
    clf.mean.copy_(x.mean(0))
    clf.std.copy_(x.std(0).clamp_min(1e-4))
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    clf.train()
    for _ in range(int(steps)):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(clf(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return clf.eval(), losses


def confusion(true: np.ndarray, pred: np.ndarray, n: int = len(EMOTIONS)) -> np.ndarray:
    """int [n, n]: rows are the true classes, columns the predicted ones."""
    out = np.zeros((n, n), np.int64)
    np.add.at(out, (np.asarray(true, np.int64), np.asarray(pred, np.int64)), 1)
    return out


# --- a local transformers checkpoint ----------------------------------------------------------------
_ALIASES = {  # label prefixes (lower case, letters only) -> the sandbox's emotion
    "ang": "angry", "mad": "angry", "dis": "disgust", "fea": "fear", "afr": "fear", "sca": "fear",
    "hap": "happy", "joy": "happy", "neu": "neutral", "sad": "sad", "sur": "surprise",
}


def map_label(label: str, extra: dict[str, str] | None = None) -> str | None:
    """The sandbox emotion a checkpoint's label names ("ANG", "Angry", "anger", "hap", "joy", "neu",
    "surprised", ...), or None. ``extra`` maps whole labels first (e.g. ``{"calm": "neutral"}``)."""
    key = "".join(c for c in str(label).lower() if c.isalpha())
    for k, v in (extra or {}).items():
        if key == "".join(c for c in k.lower() if c.isalpha()):
            if v not in EMOTIONS:
                raise ConfigError(f"label map {k!r} -> {v!r}: {v!r} is not one of {', '.join(EMOTIONS)}.")
            return v
    return _ALIASES.get(key[:3]) if len(key) >= 3 else None


@dataclass
class PretrainedEmotionClassifier:
    """A transformers ``AutoModelForAudioClassification`` with its feature extractor, labels mapped."""

    model: object
    extractor: object
    index: list[int | None]  # checkpoint class -> EMOTIONS index (None: unmapped)
    unmapped: list[str] = field(default_factory=list)  # checkpoint labels that name none of the seven
    missing: list[str] = field(default_factory=list)  # the seven the checkpoint lacks (probability 0)

    @torch.no_grad()
    def predict_proba(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        x = _resampled(audio, sr)
        rate = int(getattr(self.extractor, "sampling_rate", SAMPLE_RATE) or SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            x = _to_rate(x, rate)
        x = np.pad(x, (0, max(0, 400 - len(x))))
        inputs = self.extractor(x, sampling_rate=rate, return_tensors="pt")
        p = torch.softmax(self.model(**inputs).logits[0].float(), -1).numpy()
        out = np.zeros(len(EMOTIONS), np.float64)
        for j, k in enumerate(self.index):
            if k is not None:
                out[k] += p[j]
        return (out / out.sum()).astype(np.float32)


def _to_rate(x: np.ndarray, rate: int) -> np.ndarray:
    import librosa

    return librosa.resample(x, orig_sr=SAMPLE_RATE, target_sr=rate).astype(np.float32)


def from_pretrained(model_dir: str | Path, label_map: dict[str, str] | None = None) -> PretrainedEmotionClassifier:
    """A local transformers audio-classification checkpoint (``save_pretrained`` output or a hub
    snapshot: config.json with ``id2label``, the weights, preprocessor_config.json); nothing is
    downloaded. ``label_map``: whole-label overrides of ``map_label`` (e.g. ``{"calm": "neutral"}``)."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    model_dir = Path(model_dir).expanduser()
    if not (model_dir / "config.json").is_file():
        raise InputFileError(f"no audio-classification checkpoint in {model_dir} (config.json missing): pass a local "
                             "directory written by save_pretrained (or a downloaded hub snapshot); nothing is "
                             "downloaded here.")
    model = AutoModelForAudioClassification.from_pretrained(str(model_dir), local_files_only=True).eval()
    if (model_dir / "preprocessor_config.json").is_file():
        extractor = AutoFeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
    else:
        from transformers import Wav2Vec2FeatureExtractor

        log.info("%s has no preprocessor_config.json; normalising audio to zero mean, unit variance", model_dir)
        extractor = Wav2Vec2FeatureExtractor(sampling_rate=SAMPLE_RATE, do_normalize=True)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    names = [map_label(lab, label_map) for lab in labels]
    if not any(names):
        raise ConfigError(f"{model_dir}: none of the checkpoint's labels {labels} names one of {', '.join(EMOTIONS)}; "
                          "map them with label_map (speech_emotion.label_map).")
    clf = PretrainedEmotionClassifier(
        model, extractor, [None if n is None else EMOTIONS.index(n) for n in names],
        unmapped=[lab for lab, n in zip(labels, names) if n is None],
        missing=[e for e in EMOTIONS if e not in names])
    log.info("emotion checkpoint %s: labels %s -> %s; unmapped (probability dropped): %s; lacking (probability 0): %s",
             model_dir, labels, names, clf.unmapped or "none", clf.missing or "none")
    return clf


def load_classifier(path: str | Path, label_map: dict[str, str] | None = None):
    """The sandbox's own classifier (a directory with emotion_classifier.pt) or a transformers checkpoint."""
    path = Path(path).expanduser()
    if (path / WEIGHTS).is_file():
        return ProsodyEmotionClassifier.load(path)
    return from_pretrained(path, label_map)
