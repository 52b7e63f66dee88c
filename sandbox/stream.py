"""Real-time mode: generate while the audio arrives.

    python -m sandbox.stream rep=3dmm gen=flow [any sandbox.run override] [source=IMG [source_face=K]] [audio=WAV|mic]
        [emotion=auto|happy] [out=DIR] [stream.chunk=N] [stream.overlap=K] [stream.blend=fade|offset|inpaint]
        [stream.realtime=true]
        [stream.piece_ms=20] [stream.buffer_ms=40] [stream.threads=1] [stream.seconds=10] [stream.display=false]

The crossing's stages up to ``train`` run (or come from the cache) exactly as ``python -m sandbox.run``
runs them; then the audio is fed ``stream.piece_ms`` at a time, at real-time speed unless
``stream.realtime=false``, and frames come out as they are generated (sandbox.pipeline.stream). Without
``audio=`` the first held-out test clip (its voice, sentence and identity) is streamed; ``audio=mic``
records ``stream.seconds`` from the default microphone (needs the sounddevice package and a device).
Writes ``<run>/stream/<name>.mp4`` and ``<name>.json`` (latency to the first frame out and to the first
frame shown, sustained frames per second, share of frame deadlines met, the settings) and prints them.
``stream.buffer_ms`` is the player's playout delay: playback starts that long after the first frame
comes out, and a frame meets its deadline if it is out by its place in that playback (the window of
``stream.display`` shows each frame as it comes out). ``stream.threads`` sets torch's intra-op threads
while streaming (1 ran faster and steadier than 2 on a 2-core machine; null leaves torch's setting).

``stream.chunk`` (default: the generator's window, 50 frames on the default preset) is the number of new
frames per generated window: a frame waits for its chunk's audio, so the latency to the first frame is
about (max(chunk, warm-up) + 2) / 25 s + 7.5 ms plus compute, where the warm-up is the 5 frames whose statistics
the default features standardise together (``+features.warmup=K`` trains for another; plain log-mel,
``features._target_=sandbox.audio.features.logmel_frames``, has none). With the default chunk the stream's motion equals the offline
sample's; smaller chunks need ``stream.overlap`` below them (the default preset cross-fades 10 frames).
``stream.blend`` joins the windows across the overlap: ``fade`` cross-fades (a window's last K frames wait
for the next window), ``offset`` re-samples the last K frames shown and fades the difference out of the
new ones, ``inpaint`` (flow only) re-samples the new frames around the last K as known ones; with offset
and inpaint nothing waits, so a chunk of C with overlap K has the latency of a chunk of C - K
(generators.windowing; docs/results/streaming.md measures the seams).
The sampler's settings are sandbox.run's: ``sample.steps=5`` cuts the flow generator's work per window to a
quarter of the default 20 (docs/results/streaming.md measures the settings that keep up in real time).
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import yaml
from omegaconf import OmegaConf

from generators.windowing import BLENDS
from sandbox.config import locate
from sandbox.errors import ConfigError, InputFileError, SandboxError

log = logging.getLogger("sandbox.stream")
DEFAULTS = {"chunk": None, "overlap": None, "blend": None, "realtime": True, "piece_ms": 20.0, "buffer_ms": 40.0, "threads": 1,
            "seconds": 10.0, "display": False}
INPUT_KEYS = ("source", "source_face", "audio", "emotion")


def split_args(argv: list[str]) -> tuple[list[str], dict, dict]:
    """(sandbox.run overrides, stream settings, inputs source / audio / emotion)."""
    rest, settings, inputs = [], dict(DEFAULTS), {}
    for a in argv:
        key, eq, value = a.partition("=")
        if key.startswith("stream."):
            name = key[len("stream."):]
            if name not in DEFAULTS or not eq:
                raise ConfigError(f"unknown stream setting {a!r}; settings: "
                                  + ", ".join(f"stream.{k}" for k in DEFAULTS))
            settings[name] = yaml.safe_load(value) if value else None  # Hydra's value grammar for scalars
        elif key in INPUT_KEYS:
            inputs[key] = yaml.safe_load(value) if key == "source_face" else value
        elif key == "stage":
            raise ConfigError("sandbox.stream runs the stages up to train itself; drop stage=.")
        else:
            rest.append(a)
    for k in ("chunk", "overlap"):
        if settings[k] is not None and (not isinstance(settings[k], int) or settings[k] < 0):
            raise ConfigError(f"stream.{k} must be a whole number of frames, got {settings[k]!r}")
    if settings["blend"] not in (None, *BLENDS):
        raise ConfigError(f"stream.blend must be one of {', '.join(BLENDS)}, got {settings['blend']!r}")
    for k in ("realtime", "display"):
        if not isinstance(settings[k], bool):
            raise ConfigError(f"stream.{k} must be true or false, got {settings[k]!r}")
    for k in ("piece_ms", "seconds"):
        if not isinstance(settings[k], (int, float)) or isinstance(settings[k], bool) or settings[k] <= 0:
            raise ConfigError(f"stream.{k} must be a positive number, got {settings[k]!r}")
    b = settings["buffer_ms"]
    if not isinstance(b, (int, float)) or isinstance(b, bool) or b < 0:
        raise ConfigError(f"stream.buffer_ms must be a number of milliseconds >= 0, got {b!r}")
    t = settings["threads"]
    if t is not None and (not isinstance(t, int) or isinstance(t, bool) or t < 1):
        raise ConfigError(f"stream.threads must be a whole number >= 1 or null, got {t!r}")
    return rest, settings, inputs


def check_inputs(inputs: dict) -> None:
    """The checks ``sandbox.run`` makes of source= / source_face= / audio= / emotion=, with audio=mic allowed."""
    from sandbox.pipeline.sample import check, check_source_face

    source, audio = inputs.get("source"), inputs.get("audio")
    if source and not audio:
        raise ConfigError(f"source={source} needs audio too: audio=PATH (any common format) or audio=mic.")
    check_source_face(inputs.get("source_face"), source)
    check(OmegaConf.create({"source": None if audio == "mic" else source, "audio": None if audio == "mic" else audio,
                            "emotion": inputs.get("emotion")}))
    if audio == "mic" and source and not Path(source).expanduser().is_file():
        raise InputFileError(f"source image not found: {source} (relative paths are from {Path.cwd()}).")


def check_chunk(cfg, settings: dict) -> None:
    """Before any work: the chunk fits the generator's window and exceeds the overlap; the blend exists."""
    n_cur, overlap = cfg.gen.get("n_cur"), cfg.gen.get("overlap", 0)
    if settings["overlap"] is not None:
        overlap = settings["overlap"]
    chunk = settings["chunk"] if settings["chunk"] is not None else n_cur
    if n_cur is not None and chunk is not None and not (overlap or 0) < chunk <= n_cur:
        raise ConfigError(f"stream.chunk={chunk} must be above the windows' cross-fade ({overlap} frames: lower it "
                          f"with stream.overlap=K) and at most the generator's window ({n_cur} frames).")
    blend, blends = settings["blend"], getattr(locate(str(cfg.gen._target_)), "blends", ("fade",))
    if not blends and (settings["overlap"] or blend is not None):
        raise ConfigError("this generator carries its state from window to window instead of overlapping them: "
                          "stream.overlap and stream.blend do not apply to it; drop them.")
    if blend is not None and blend not in blends:
        raise ConfigError(f"stream.blend={blend} is not implemented for this generator (inpaint: gen=flow only): "
                          "use fade or offset.")


def record(seconds: float) -> np.ndarray:
    """``seconds`` of 16 kHz mono from the default microphone (sounddevice)."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise ConfigError(f"audio=mic needs the sounddevice package and PortAudio ({exc}); "
                          "pip install sounddevice, or give audio=PATH.") from exc
    try:
        sd.query_devices(kind="input")
    except Exception as exc:  # no device: PortAudioError / ValueError
        raise ConfigError(f"audio=mic: no input device ({exc}); give audio=PATH instead.") from exc
    log.info("recording %.1f s from the microphone", seconds)
    data = sd.rec(int(seconds * 16000), samplerate=16000, channels=1, dtype="float32")
    sd.wait()
    return data[:, 0]


def show(frames: np.ndarray) -> None:
    import cv2

    for f in frames:
        cv2.imshow("sandbox.stream", f[..., ::-1])
        cv2.waitKey(1)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(__doc__.strip())
        return 0
    logging.basicConfig(level=os.environ.get("SANDBOX_LOG", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    try:
        result, out = stream_command(argv)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.summary(), indent=1))
    print(f"done: {out}")
    return 0


def first_driven_clip(store) -> str:
    """The clip a stream without audio= (or source=) takes: the first the sample stage drives."""
    from sandbox.pipeline.sample import driven_ids

    try:
        return driven_ids(store)[0]
    except ConfigError:
        raise InputFileError("the dataset has no test clip to stream: give audio=PATH and source=PATH.") from None


def stream_command(argv: list[str]):
    """Everything ``main`` does but printing: -> (StreamResult, mp4 path)."""
    from sandbox.pipeline.reopen import reopen
    from sandbox.run import compose_config, run_pipeline

    rest, settings, inputs = split_args(argv)
    check_inputs(inputs)
    if settings["display"] and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise ConfigError("stream.display=true needs a display (DISPLAY is not set); the mp4 is written anyway.")
    cfg = compose_config([*rest, "stage=train"])
    check_chunk(cfg, settings)
    run = reopen(run_pipeline(cfg, rest).run_dir)
    emotion = inputs.get("emotion")
    if inputs.get("audio") == "mic":
        audio, name = record(float(settings["seconds"])), "mic"
    elif inputs.get("audio"):
        audio, name = inputs["audio"], Path(inputs["audio"]).stem
    else:
        clip_id = first_driven_clip(run.store)
        clip = run.store.load(clip_id)
        audio, name, emotion = clip.audio, clip_id, emotion or clip.meta.get("emotion")
        inputs.setdefault("source", np.asarray(clip.frames[0]))
    source = inputs.get("source")
    if source is None:
        source = np.asarray(run.store.load(first_driven_clip(run.store)).frames[0])
    out_dir = run.run_dir / "stream"
    out_dir.mkdir(exist_ok=True)
    log.info("streaming %s (chunk %s, %s feed)", name, settings["chunk"] or "the generator's window",
             "real-time" if settings["realtime"] else "as-fast-as-possible")
    result = run.stream(source, audio, emotion=emotion, mp4=out_dir / f"{name}.mp4", chunk=settings["chunk"],
                        overlap=settings["overlap"], blend=settings["blend"], realtime=bool(settings["realtime"]),
                        piece_ms=float(settings["piece_ms"]), on_frames=show if settings["display"] else None,
                        buffer_ms=float(settings["buffer_ms"]), threads=settings["threads"],
                        source_face=inputs.get("source_face") if isinstance(source, str) else None)
    (out_dir / f"{name}.json").write_text(json.dumps({**result.summary(), "settings": settings}, indent=1))
    return result, result.mp4


if __name__ == "__main__":
    sys.exit(main())
