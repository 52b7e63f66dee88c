"""Audio loading and saving. Everything inside the sandbox is 16 kHz mono float32."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sandbox.constants import SAMPLE_RATE
from sandbox.errors import InputFileError

log = logging.getLogger(__name__)


def load_audio(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read any common audio file (wav, flac, ogg, mp3 where the decoder supports it), mix to mono
    and resample to ``sr``. Raises :class:`InputFileError` with a hint on a missing or non-audio file."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"audio file not found: {path}. Check the path (relative paths are from {Path.cwd()}).")
    if path.is_dir():
        raise InputFileError(f"{path} is a directory; pass an audio file (wav, flac, mp3, ...).")
    try:
        import soundfile as sf

        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
        data = data.mean(axis=1)
    except Exception:
        data, file_sr = _load_with_av(path)
    if data.size == 0:
        raise InputFileError(f"{path} holds no audio samples.")
    if file_sr != sr:
        import librosa

        log.info("resampling %s from %d Hz to %d Hz", path.name, file_sr, sr)
        data = librosa.resample(data, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq")
    return np.ascontiguousarray(data, dtype=np.float32)


def _load_with_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise InputFileError(f"{path} has no audio stream; pass an audio file (wav, flac, mp3, ...).")
            stream = streams[0]
            chunks = []
            for frame in container.decode(stream):
                arr = frame.to_ndarray().astype(np.float32)
                if frame.format.is_planar:
                    arr = arr.mean(axis=0)
                else:
                    arr = arr.reshape(-1, len(frame.layout.channels)).mean(axis=1)
                if np.issubdtype(frame.to_ndarray().dtype, np.integer):
                    arr = arr / float(np.iinfo(frame.to_ndarray().dtype).max)
                chunks.append(arr)
            file_sr = stream.rate
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            f"could not decode {path} as audio ({type(exc).__name__}: {exc}). "
            "Pass a wav, flac, ogg or mp3 file, or convert it with `ffmpeg -i IN -ar 16000 -ac 1 OUT.wav`."
        ) from None
    if not chunks:
        raise InputFileError(f"{path} holds no audio samples.")
    return np.concatenate(chunks), int(file_sr)


def save_wav(path: str | Path, audio: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    import soundfile as sf

    sf.write(str(path), np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), sr, subtype="PCM_16")
