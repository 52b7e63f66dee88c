"""Reopen a run directory: its saved config and the cached stages it used, loaded on demand.

    from sandbox.pipeline.reopen import reopen
    run = reopen("outputs/lia-flow-20261201-101500")
    run.store            # the dataset (ClipStore)
    run.rep              # the fitted representation, with the extract stage's normaliser once extracted
    run.renderer         # the fitted renderer
    run.extracted        # the extracted clips (normalised motion, audio features)
    run.gen              # the trained generator
    run.metrics          # metrics.json, where the eval stage ran
    out = run.animate("photo.png", "speech.wav", emotion="happy", mp4="talk.mp4")   # frames, audio, motion
    run.predict_emotion(audio)   # emotion=auto (animate's default): the speech-emotion classifier's [7]

A run directory holds ``config.yaml`` (the resolved config) and ``artifacts.json`` (stage -> hash and
cache path), so the run is reopened from the artifacts it used, whatever the code's current cache keys
are. Each stage loads with the same function the pipeline uses after building it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sandbox.errors import ConfigError, InputFileError
from sandbox.pipeline import data, extract, fit, train
from sandbox.pipeline.cache import is_done


@dataclass
class Animation:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    audio: np.ndarray  # float32 [N] at 16 kHz
    motion: np.ndarray  # [T, dim], the representation's (un-normalised) motion
    nfe: int
    mp4: Path | None = None


class Run:
    """A finished (or partly finished) run directory; stages load when first asked for."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir).expanduser()
        for name in ("config.yaml", "artifacts.json"):
            if not (self.run_dir / name).is_file():
                raise InputFileError(f"{self.run_dir} is not a run directory (no {name}); give the directory "
                                     "`python -m sandbox.run` printed after `done:`.")
        self.cfg: DictConfig = OmegaConf.load(self.run_dir / "config.yaml")
        info = json.loads((self.run_dir / "artifacts.json").read_text())
        self.artifacts: dict[str, Path] = {stage: Path(v["path"]) for stage, v in info.items()}

    def artifact(self, stage: str) -> Path:
        """The cache directory of ``stage`` this run used (InputFileError when it has none)."""
        if stage not in self.artifacts:
            raise InputFileError(f"{self.run_dir} has no {stage} stage yet (the run stopped before it): rerun its "
                                 f"command with stage={stage} out={self.run_dir}.")
        path = self.artifacts[stage]
        if not is_done(path):
            raise InputFileError(f"the {stage} artifact of {self.run_dir} is gone from the cache ({path}): rerun "
                                 f"its command with out={self.run_dir} to rebuild it.")
        return path

    @cached_property
    def store(self):
        return data.load(self.artifact("data"))

    @cached_property
    def _fitted(self):
        return fit.load(self.cfg, self.artifact("fit"))

    @property
    def rep(self):
        """The fitted representation; its normaliser is the extract stage's (when the run has one)."""
        rep, _ = self._fitted
        if "extract" in self.artifacts:
            self.extracted  # noqa: B018 (loads the normaliser into rep)
        return rep

    @property
    def renderer(self):
        return self._fitted[1].renderer

    @cached_property
    def extracted(self) -> extract.Extracted:
        return extract.load(self.artifact("extract"), self._fitted[0])

    @cached_property
    def gen(self):
        return train.load(self.cfg, self.artifact("train"), self.extracted, self.rep).gen

    @cached_property
    def emotion_classifier(self):
        """The speech-emotion classifier behind emotion=auto: the run's own (its ``emotion`` artifact), else
        the one its ``speech_emotion`` settings give, built into or reused from the run's cache."""
        from sandbox.audio.emotion import load_classifier
        from sandbox.paths import cache_dir
        from sandbox.pipeline.emotion import classifier

        if "emotion" in self.artifacts and is_done(self.artifacts["emotion"]):
            return load_classifier(self.artifacts["emotion"])
        cfg = self.cfg
        if "speech_emotion" not in cfg:  # a run made before the classifier existed: today's defaults
            defaults = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "config.yaml").speech_emotion
            cfg = OmegaConf.merge(cfg, {"speech_emotion": defaults})
        root = next(iter(self.artifacts.values())).parent.parent if self.artifacts else cache_dir()
        return classifier(cfg, root)[0]

    def predict_emotion(self, audio: str | Path | np.ndarray) -> np.ndarray:
        """emotion=auto: float32 [7] probabilities (sandbox.constants.EMOTIONS order) of a path or 16 kHz audio."""
        from sandbox.audio.io import load_audio
        from sandbox.pipeline.emotion import predict

        wav = load_audio(audio) if not isinstance(audio, np.ndarray) else np.asarray(audio, np.float32)
        return predict(self.emotion_classifier, wav, "audio" if isinstance(audio, np.ndarray) else Path(audio).name)

    def _emotion(self, emotion, wav: np.ndarray | None):
        """A name, probabilities [7], or for None / "auto" the prediction from ``wav`` (None: a live stream,
        which has no clip to predict from, so neutral)."""
        from sandbox.pipeline.emotion import AUTO
        from sandbox.pipeline.extract import emotion_condition

        if emotion is None or (isinstance(emotion, str) and emotion == AUTO):
            if wav is None:
                if emotion == AUTO:
                    raise ConfigError("emotion=auto needs the whole clip: a live stream takes a name or probabilities "
                                      "(run.predict_emotion(audio) of a recording).")
                return None
            return self.predict_emotion(wav)
        return emotion if isinstance(emotion, str) else emotion_condition(emotion)

    def _inputs(self, source, audio, emotion, face: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(source uint8 [H, W, 3], 16 kHz audio) from paths or arrays, checked as the CLI checks them; a photo
        path is cropped around its ``face``-th largest face (None: the largest)."""
        from sandbox.audio.io import load_audio
        from sandbox.pipeline.sample import check, check_source_face, load_source

        check_source_face(face, None if isinstance(source, np.ndarray) else source)
        check(OmegaConf.create({"source": None, "audio": None, "emotion": emotion if isinstance(emotion, str) else None}))
        if not isinstance(source, np.ndarray):
            s = self.cfg.sample
            size = int(s.source_size or self.store.load(self.store.ids("train")[0]).frames.shape[1])
            source = load_source(str(source), size, face)
        wav = load_audio(audio) if not isinstance(audio, np.ndarray) else np.asarray(audio, np.float32)
        return source, wav

    def _sampling(self, steps, guidance, seed) -> tuple:
        from sandbox.config import to_dict

        s = self.cfg.sample
        return (s.steps if steps is None else steps,
                guidance if guidance is not None else (to_dict(s.guidance) or None),
                int(self.cfg.seeds.sample) if seed is None else seed)

    def animate(self, source: str | Path | np.ndarray, audio: str | Path | np.ndarray, emotion: str | None = None,
                mp4: str | Path | None = None, steps: int | None = None, guidance: dict | None = None,
                seed: int | None = None, source_face: int | None = None) -> Animation:
        """Animate a photo (a path, cropped around its largest face as the CLI does, or its ``source_face``-th
        largest; or uint8 [H, W, 3] already cropped) with speech (a path in any common format, or 16 kHz float [N]) through this run's
        generator and renderer; ``steps`` / ``guidance`` / ``seed`` default to the run's sample settings.
        ``emotion``: a name (redirects), probabilities [7], or None / "auto" (the default): the speech-emotion
        classifier's probabilities of the audio, as FLOAT conditions on them. Writes ``mp4`` when given."""
        from sandbox.config import instantiate
        from sandbox.pipeline.render import render_motion
        from sandbox.pipeline.sample import generate_motion
        from sandbox.video import write_mp4

        source, wav = self._inputs(source, audio, emotion, source_face)
        emotion = self._emotion(emotion, wav)
        features = instantiate(self.cfg.features, "features")
        motion, nfe, _ = generate_motion(self.rep, self.gen, features, source, wav, emotion,
                                         *self._sampling(steps, guidance, seed))
        frames = render_motion(self.rep, self.renderer, source, motion, int(self.cfg.render.batch_size))
        path = write_mp4(Path(mp4), frames, wav) if mp4 is not None else None
        return Animation(frames, wav, motion, nfe, path)

    def streamer(self, source: str | Path | np.ndarray, emotion: str | None = None, chunk: int | None = None,
                 overlap: int | None = None, steps: int | None = None, guidance: dict | None = None,
                 seed: int | None = None, blend: str | None = None, source_face: int | None = None):
        """A sandbox.pipeline.stream.Streamer on this run: ``push(samples)`` -> frames as they are made. A live
        stream has no clip to predict the emotion from: ``emotion`` is a name, probabilities [7] (e.g.
        ``run.predict_emotion(recording)``) or None (neutral)."""
        from sandbox.config import instantiate
        from sandbox.pipeline.stream import Streamer

        source, _ = self._inputs(source, np.zeros(1, np.float32), emotion, source_face)
        emotion = self._emotion(emotion, None)
        steps, guidance, seed = self._sampling(steps, guidance, seed)
        return Streamer(self.rep, self.gen, self.renderer, instantiate(self.cfg.features, "features"), source,
                        emotion, steps, guidance, seed, chunk, overlap, int(self.cfg.render.batch_size),
                        blend=blend)

    def stream(self, source: str | Path | np.ndarray, audio: str | Path | np.ndarray, emotion: str | None = None,
               mp4: str | Path | None = None, chunk: int | None = None, overlap: int | None = None,
               realtime: bool = False, piece_ms: float = 20.0, steps: int | None = None,
               guidance: dict | None = None, seed: int | None = None, on_frames=None, buffer_ms: float = 0.0,
               threads: int | None = None, blend: str | None = None, source_face: int | None = None):
        """``animate``, streamed: the audio is fed ``piece_ms`` at a time (at real-time speed when
        ``realtime``) and frames are generated as it arrives (sandbox.pipeline.stream.play, which says
        what ``buffer_ms`` and ``threads`` do). Returns a StreamResult (frames, audio, motion, latency to
        the first frame, sustained fps, deadlines met); with the default ``chunk`` its motion equals
        ``animate``'s (emotion=auto, the default, is predicted from the whole recording, as ``animate`` does)."""
        from sandbox.pipeline.stream import play
        from sandbox.video import write_mp4

        source, wav = self._inputs(source, audio, emotion, source_face)
        emotion = self._emotion(emotion, wav)
        result = play(self.streamer(source, emotion, chunk, overlap, steps, guidance, seed, blend), wav, realtime,
                      piece_ms, on_frames, buffer_ms, threads)
        if mp4 is not None:
            result.mp4 = write_mp4(Path(mp4), result.frames, wav)
        return result

    @property
    def metrics(self) -> dict:
        f = self.run_dir / "metrics.json"
        if not f.is_file():
            raise InputFileError(f"{self.run_dir} has no metrics.json: run its eval stage (stage=eval out={self.run_dir}).")
        return json.loads(f.read_text())


def reopen(run_dir: str | Path) -> Run:
    """A run directory written by ``python -m sandbox.run`` (or run_pipeline), ready to inspect."""
    return Run(run_dir)
