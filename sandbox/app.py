"""A local web page: a photo and speech in, the talking video out, through any trained run.

    python -m sandbox.app [RUN_DIR_OR_OUTPUTS ...] [--port 7860] [--host 127.0.0.1]

Needs the optional extra: ``pip install -e ".[app]"`` (Gradio). Every run directory found under the
paths given (default ``outputs/``) whose generator is trained is offered as a crossing. Upload or record
a photo and speech, pick the crossing, the emotion and the guidance scales, and press Animate: the video
is made with the run's generator and renderer (``Run.animate``). "Stream" shows the frames while they
are made (``Run.streamer``), then the video. Bad input (no face in the photo, a file that is not audio) shows
as a message on the page.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from sandbox.constants import EMOTIONS
from sandbox.errors import ConfigError, InputFileError, SandboxError

AUTO = "auto (from the speech)"  # emotion=auto: the speech-emotion classifier's probabilities


def find_runs(paths: list[str | Path]) -> dict[str, Path]:
    """label -> run directory, for every run with a trained generator at or below ``paths``."""
    found: dict[str, Path] = {}
    for p in map(Path, paths):
        for art in sorted(p.rglob("artifacts.json")) if p.is_dir() else []:
            run = art.parent
            if (run / "config.yaml").is_file() and '"train"' in art.read_text():
                found[f"{run.name} ({run.parent.name})" if run.name.isdigit() else run.name] = run
    return found


def run_scales(run_dir: Path | None) -> tuple[float, float]:
    """The run's own (audio, emotion) guidance scales, where the page's sliders start: its config's
    ``sample.guidance``; what it leaves out (or no run), the flow sampler's defaults (gen/flow.yaml)."""
    from omegaconf import OmegaConf

    from sandbox.registry import CONF_DIR

    scales = {k: float(v) for k, v in OmegaConf.load(CONF_DIR / "gen" / "flow.yaml").sample.guidance.items()}
    if run_dir is not None and (Path(run_dir) / "config.yaml").is_file():
        guidance = OmegaConf.load(Path(run_dir) / "config.yaml").get("sample", {}).get("guidance")
        scales |= {k: float(v) for k, v in (guidance or {}).items() if k in scales}
    return scales["audio"], scales["emotion"]


@lru_cache(maxsize=4)
def _open(run_dir: str):
    from sandbox.pipeline.reopen import reopen

    run = reopen(run_dir)
    run.gen  # noqa: B018 (load the generator now: the first click should not pay for it)
    return run


def animate(runs: dict[str, Path], crossing: str, photo: str | None, speech: str | None, emotion: str,
            audio_scale: float, emotion_scale: float, steps: int) -> str:
    """The page's action: -> the mp4's path. SandboxError / ValueError for anything the user can fix."""
    if not runs:
        raise ConfigError("no trained run found: train one first (python -m sandbox.run rep=3dmm gen=flow).")
    if crossing not in runs:
        raise ConfigError(f"choose a crossing ({', '.join(runs)}).")
    if not photo:
        raise InputFileError("upload a photo with a face.")
    if not speech:
        raise InputFileError("upload or record speech.")
    run = _open(str(runs[crossing]))
    guidance = None
    if run.cfg.sample.guidance is not None:  # generators with classifier-free guidance
        guidance = {"audio": float(audio_scale), "emotion": float(emotion_scale)}
    out = Path(tempfile.mkdtemp(prefix="sandbox-app-")) / "talk.mp4"
    try:
        run.animate(photo, speech, emotion=None if emotion == AUTO else emotion, mp4=out,
                    steps=int(steps) if steps else None, guidance=guidance)
    except (RuntimeError, OSError) as exc:  # an undecodable upload surfaces from the decoders like this
        raise InputFileError(f"could not read the inputs: {exc}") from exc
    return str(out)


PIECE = 5  # frames of speech fed to the streamer at a time: the live preview updates this often


def animate_stream(runs: dict[str, Path], crossing: str, photo: str | None, speech: str | None, emotion: str,
                   audio_scale: float, emotion_scale: float, steps: int, chunk: int = 8):
    """The streamed action: yields ``(frame, None)`` with the newest frame as the generator makes them, then
    ``(last frame, mp4 path)`` once the speech is used up. Frames, not video segments, go to the page:
    Gradio's streamed video needs the ffmpeg program, which the sandbox does not ask users to install."""
    from sandbox.audio.io import load_audio
    from sandbox.constants import SAMPLES_PER_FRAME
    from sandbox.video import write_mp4

    if not runs or crossing not in runs or not photo or not speech:  # the same messages as animate's
        animate(runs, crossing, photo, speech, emotion, audio_scale, emotion_scale, steps)
    run = _open(str(runs[crossing]))
    guidance = ({"audio": float(audio_scale), "emotion": float(emotion_scale)}
                if run.cfg.sample.guidance is not None else None)
    try:
        wav = load_audio(speech)
    except (RuntimeError, OSError) as exc:
        raise InputFileError(f"could not read the speech: {exc}") from exc
    n_cur = int(getattr(run.gen, "n_cur", chunk))
    emotion = run.predict_emotion(wav) if emotion == AUTO else emotion  # auto: from the whole recording, as animate
    streamer = run.streamer(photo, emotion=emotion, chunk=min(chunk, n_cur),
                            overlap=1 if chunk < n_cur else None, steps=int(steps) if steps else None,
                            guidance=guidance)
    made = []
    piece = PIECE * SAMPLES_PER_FRAME
    for i in range(0, len(wav), piece):
        out = streamer.push(wav[i : i + piece])
        if len(out):
            made.append(out)
            yield out[-1], None
    made.append(streamer.finish())
    frames = np.concatenate([m for m in made if len(m)])
    mp4 = write_mp4(Path(tempfile.mkdtemp(prefix="sandbox-stream-")) / "talk.mp4", frames, wav)
    yield frames[-1], str(mp4)


def build(runs: dict[str, Path]):
    import gradio as gr

    def action(*args):
        try:
            return animate(runs, *args)
        except (SandboxError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    def stream_action(*args):
        try:
            yield from animate_stream(runs, *args)
        except (SandboxError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    with gr.Blocks(title="motion-sandbox") as page:
        gr.Markdown("# motion-sandbox\nA photo and speech in, a talking portrait out, through a trained crossing "
                    "(representation x generator x renderer).")
        with gr.Row():
            with gr.Column():
                photo = gr.Image(type="filepath", label="photo (a face)", sources=["upload", "webcam"],
                                 elem_id="photo")
                speech = gr.Audio(type="filepath", label="speech", sources=["upload", "microphone"], elem_id="speech")
                crossing = gr.Dropdown(list(runs), value=next(iter(runs), None), label="crossing (trained run)",
                                       elem_id="crossing")
                emotion = gr.Dropdown([AUTO, *EMOTIONS], value=AUTO, label="emotion", elem_id="emotion")
                first = run_scales(next(iter(runs.values()), None))
                audio_scale = gr.Slider(0.0, 4.0, value=first[0], step=0.5, label="audio guidance scale")
                emotion_scale = gr.Slider(0.0, 4.0, value=first[1], step=0.5, label="emotion guidance scale")
                steps = gr.Slider(0, 50, value=0, step=1, label="steps / NFE (0: the run's)")
                with gr.Row():
                    go = gr.Button("Animate", variant="primary", elem_id="animate")
                    live = gr.Button("Stream", elem_id="stream")
            with gr.Column():
                video = gr.Video(label="result", elem_id="result", autoplay=False)
                live_frame = gr.Image(label="streamed: the newest frame while it is made", elem_id="live",
                                      interactive=False)
        inputs = [crossing, photo, speech, emotion, audio_scale, emotion_scale, steps]
        crossing.change(lambda name: tuple(gr.Slider(value=v) for v in run_scales(runs.get(name))), crossing,
                        [audio_scale, emotion_scale])
        go.click(action, inputs, video)
        live.click(stream_action, inputs, [live_frame, video])
    return page


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=["outputs"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    a = ap.parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the web page needs Gradio: pip install -e ".[app]"', file=sys.stderr)
        return 2
    runs = find_runs(a.paths)
    if not runs:
        print(f"error: no trained run under {', '.join(a.paths)}: train one first "
              "(python -m sandbox.run rep=3dmm gen=flow), or name run directories.", file=sys.stderr)
        return 2
    print(f"crossings: {', '.join(runs)}")
    build(runs).launch(server_name=a.host, server_port=a.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
