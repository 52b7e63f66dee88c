"""wav2vec2 features per video frame, FLOAT's recipe, from a local checkpoint directory only.

FLOAT runs the whole utterance through wav2vec2 once, linearly interpolates every hidden state
(the CNN-projection output plus each transformer layer) to the video frame count, and stacks
them: [T, (num_layers + 1) * hidden_size]. ``layers="last"`` keeps only the final layer.
Nothing is downloaded: pass a directory written by ``save_pretrained`` (or a hub snapshot).
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Literal

import numpy as np

from sandbox.audio.features import num_frames
from sandbox.constants import SAMPLE_RATE
from sandbox.errors import InputFileError

log = logging.getLogger(__name__)
_MIN_SAMPLES = 400  # the default conv stack needs one 25 ms receptive field


class Wav2Vec2Features:
    """Callable ``(audio [N] 16 kHz, n_frames=None) -> float32 [T, d]``; ``out_dim`` is d."""

    def __init__(self, model_dir: str | Path, layers: Literal["all", "last"] = "all", device: str = "cpu"):
        import torch
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise InputFileError(
                f"no wav2vec2 checkpoint in {model_dir} (config.json missing). Pass a local directory "
                "holding config.json and the weights, e.g. a copy of facebook/wav2vec2-base-960h or one "
                "written by Wav2Vec2Model.save_pretrained; nothing can be downloaded here.")
        if layers not in ("all", "last"):
            raise ValueError(f"layers must be 'all' or 'last'; got {layers!r}")
        self.model = Wav2Vec2Model.from_pretrained(str(model_dir), local_files_only=True).to(device).eval()
        if (model_dir / "preprocessor_config.json").is_file():
            self.extractor = Wav2Vec2FeatureExtractor.from_pretrained(str(model_dir), local_files_only=True)
        else:
            log.info("%s has no preprocessor_config.json; normalising audio to zero mean, unit variance",
                     model_dir)
            self.extractor = Wav2Vec2FeatureExtractor(sampling_rate=SAMPLE_RATE, do_normalize=True)
        self.layers, self.device, self._torch = layers, device, torch
        cfg = self.model.config
        self.out_dim = cfg.hidden_size * ((cfg.num_hidden_layers + 1) if layers == "all" else 1)

    def __call__(self, audio: np.ndarray, n_frames: int | None = None) -> np.ndarray:
        torch = self._torch
        audio = np.asarray(audio, np.float32).reshape(-1)
        T = num_frames(len(audio)) if n_frames is None else int(n_frames)
        if len(audio) < _MIN_SAMPLES:
            audio = np.pad(audio, (0, _MIN_SAMPLES - len(audio)))
        inputs = self.extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with torch.no_grad():
            out = self.model(inputs.input_values.to(self.device), output_hidden_states=True)
        hidden = out.hidden_states if self.layers == "all" else (out.last_hidden_state,)
        feats = torch.cat(hidden, dim=-1)  # [1, N', d]
        # wav2vec2 runs at 50 Hz; resample to the video rate (align_corners as in FLOAT's code)
        feats = torch.nn.functional.interpolate(feats.transpose(1, 2), size=T, mode="linear", align_corners=True)
        return feats[0].transpose(0, 1).float().cpu().numpy()


@functools.lru_cache(maxsize=2)
def _extractor(model_dir: str, layers: str) -> Wav2Vec2Features:
    return Wav2Vec2Features(model_dir, layers)


def wav2vec2_frames(audio: np.ndarray, n_frames: int | None = None, *, model_dir: str,
                    layers: Literal["all", "last"] = "all") -> np.ndarray:
    """The pipeline's ``features`` form (``fn(audio, n_frames)``), loading the model once per process:
    ``features._target_=sandbox.audio.wav2vec.wav2vec2_frames +features.model_dir=DIR``."""
    return _extractor(str(model_dir), layers)(audio, n_frames)
