"""Streaming generation: every generator's stream, fed audio in uneven pieces, equals its offline sample
of the same audio and seed (the windows carry their L' context, and the audio encoder waits for its
look-ahead); smaller chunks bound the latency and still produce every frame."""
from functools import partial

import numpy as np
import pytest
import torch
from helpers import randomised
from hypothesis import given, settings
from hypothesis import strategies as st

from generators.compose import ComposedGenerator
from generators.conformer import ConformerDiffusion
from generators.diffusion import DiffusionGenerator
from generators.flow import FlowGenerator
from generators.two_stage import TwoStageGenerator
from generators.windowing import WindowStream, encoder_context
from sandbox.audio.encoder import AudioEncoder

D, A, T = 7, 6, 53
ENC = partial(AudioEncoder, kernel=5)  # the sandbox's default front end: 2 frames of look-ahead
PARTS = {"pose": slice(0, 2), "exp": slice(2, 5), "gaze": slice(5, 7)}


def flow():
    return FlowGenerator(dim=D, audio_dim=A, hidden=32, depth=2, heads=4, n_prev=4, n_cur=12, overlap=3,
                         audio_encoder=ENC, nfe=4)


def diffusion():
    return DiffusionGenerator(dim=D, audio_dim=A, hidden=32, depth=2, heads=4, n_prev=4, n_cur=12, overlap=2,
                              audio_encoder=ENC, sample_steps=3)


def conformer():
    return ConformerDiffusion(D, A, channels=16, n_layers=1, n_conformers=1, heads=2, n_prev=3, n_cur=10,
                              part="pose", parts=PARTS, audio_encoder=ENC, sample_steps=3)


def two_stage():
    return TwoStageGenerator(dim=D, audio_dim=A, aux_dim=3, hidden=32, emb_dim=8, lstm_hidden=32, noise_dim=4,
                             disc_hidden=16, n_cur=12, stage=2, audio_encoder=ENC)


def composed():
    pose = ConformerDiffusion(2, A, channels=16, n_layers=1, n_conformers=1, heads=2, n_prev=2, n_cur=8,
                              audio_encoder=ENC, sample_steps=2)
    exp = TwoStageGenerator(dim=3, audio_dim=A, aux_dim=3, hidden=32, emb_dim=8, lstm_hidden=32, noise_dim=4,
                            disc_hidden=16, n_cur=8, stage=2, audio_encoder=ENC)
    gaze = FlowGenerator(dim=2, audio_dim=A, hidden=16, depth=1, heads=2, n_prev=2, n_cur=8, audio_encoder=ENC,
                         nfe=3)
    return ComposedGenerator({"pose": pose, "exp": exp, None: gaze}, PARTS, dim=D)


def cond_for(gen, g):
    cond = {"audio": torch.randn(1, T, A, generator=g), "x_ref": torch.randn(1, D, generator=g),
            "emotion": torch.softmax(torch.randn(1, 7, generator=g), -1)}
    if isinstance(gen, (TwoStageGenerator, ComposedGenerator)):
        cond["aux_ref"] = torch.randn(1, 3, generator=g)
    if isinstance(gen, TwoStageGenerator):
        cond.pop("emotion")
    return cond


def streamed(gen, cond, pieces, seed, chunk=None):
    st = gen.stream({k: v for k, v in cond.items() if k != "audio"}, seed=seed, chunk=chunk)
    out, i = [], 0
    for n in pieces:
        out.append(st.push(cond["audio"][:, i : i + n]))
        i += n
    out.append(st.push(cond["audio"][:, i:]))
    out.append(st.finish())
    return torch.cat([o for o in out if o.shape[1] > 0], dim=1), out


@pytest.mark.parametrize("make", [flow, diffusion, conformer, two_stage, composed])
def test_stream_matches_offline_sample_frame_for_frame(make):
    torch.manual_seed(0)
    gen = randomised(make())
    g = torch.Generator().manual_seed(1)
    cond = cond_for(gen, g)
    offline = gen.sample(cond, seed=7).motion
    online, parts = streamed(gen, cond, [1, 5, 0, 9, 2, 13, 4], seed=7)
    assert online.shape == offline.shape == (1, T, D)
    # equal up to float32 rounding (the randomised networks output values up to ~50 and amplify it)
    torch.testing.assert_close(online, offline, atol=1e-4 * offline.abs().max().item(), rtol=1e-4)
    # frames come out while audio is still arriving, not all at the end
    assert sum(o.shape[1] for o in parts[:-1]) > T // 2
    # and the seed matters (the comparison is not between two constant outputs)
    assert (gen.sample(cond, seed=8).motion - offline).abs().max() > 1e-3


@pytest.mark.parametrize("make", [flow, two_stage])
def test_small_chunks_emit_early_and_cover_the_clip(make):
    gen = randomised(make())
    cond = cond_for(gen, torch.Generator().manual_seed(2))
    st = gen.stream({k: v for k, v in cond.items() if k != "audio"}, seed=0, chunk=5)
    first = None
    frames = []
    for i in range(T):
        out = st.push(cond["audio"][:, i : i + 1])
        frames.append(out)
        if first is None and out.shape[1] > 0:
            first = i + 1
    frames.append(st.finish())
    motion = torch.cat([f for f in frames if f.shape[1] > 0], dim=1)
    assert motion.shape == (1, T, D) and torch.isfinite(motion).all()
    # the first frames need one chunk plus the encoder's 2 frames of look-ahead, not a whole window
    assert first == 5 + 2
    offline = gen.sample(cond, seed=0).motion
    assert (motion - offline).abs().max() > 1e-4  # other windows: another (valid) sample


def test_encoder_context_and_refusals():
    assert encoder_context(AudioEncoder(4, 8, kernel=7)) == 3
    assert encoder_context(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.SiLU())) == 0
    with pytest.raises(ValueError, match="cannot stream"):
        encoder_context(torch.nn.GRU(4, 8))
    with pytest.raises(ValueError, match="chunk"):
        WindowStream(lambda *a: None, 2, 8, overlap=3, chunk=3)
    st = WindowStream(lambda pm, pa, cur, v: cur, 0, 4)
    st.push(torch.zeros(1, 2, 3))
    st.finish()
    with pytest.raises(RuntimeError, match="after finish"):
        st.push(torch.zeros(1, 1, 3))


@settings(max_examples=40, deadline=None)
@given(total=st.integers(1, 40), n_cur=st.integers(2, 9), data=st.data())
def test_any_split_of_the_audio_gives_the_same_motion(total, n_cur, data):
    """WindowStream alone, on a window function that depends on its context and audio: pieces of any
    size, any chunk and overlap, any look-ahead -> the one-push result."""
    overlap = data.draw(st.integers(0, n_cur - 1))
    chunk = data.draw(st.integers(overlap + 1, n_cur))
    n_prev = data.draw(st.integers(0, 4))
    context = data.draw(st.integers(0, 3))
    blend = data.draw(st.sampled_from(["fade", "offset", "inpaint"]))
    pieces = data.draw(st.lists(st.integers(0, 6), max_size=10))
    g = torch.Generator().manual_seed(total * 100 + n_cur)
    feats = torch.randn(2, total, 3, generator=g)
    kernel = 2 * context + 1
    conv = torch.nn.Conv1d(3, 3, kernel, padding=context)
    encode = (lambda x: conv(x.transpose(1, 2)).transpose(1, 2)) if context else None

    def fn(pm, pa, cur, valid, known=None):
        out = cur.cumsum(1)
        if known is not None:
            out = out + known.mean(1, keepdim=True)
        return out if pm is None else out + pm[:, -1:] + pa.mean(1, keepdim=True)

    def make():
        return WindowStream(fn, n_prev, n_cur, overlap=overlap, chunk=chunk, encode=encode, context=context,
                            blend=blend)

    with torch.no_grad():
        whole = make().run(feats)
        s, out, i = make(), [], 0
        for n in pieces:
            out.append(s.push(feats[:, i : i + n]))
            i += n
        out += [s.push(feats[:, i:]), s.finish()]
    pieces = torch.cat([o for o in out if o.shape[1] > 0], dim=1)
    assert whole.shape == (2, total, 3)
    torch.testing.assert_close(pieces, whole, atol=1e-5, rtol=1e-5)


def test_inpainting_windows_regenerate_the_last_frames_as_known_and_emit_at_the_stride():
    """blend="inpaint": the first window is the stride long, every later one starts at the k frames
    already made and gets them as ``known``; every frame is final when its window returns."""
    total, n_cur, chunk, k = 11, 6, 3, 1
    calls = []

    def fn(pm, pa, cur, valid, known=None):
        calls.append((valid, None if known is None else known.clone()))
        out = cur + 100 * len(calls)  # each window's frames are tagged by the window
        if known is not None:
            out[:, : known.shape[1]] = known
        return torch.nn.functional.pad(out, (0, 0, 0, n_cur - cur.shape[1]))

    st = WindowStream(fn, 2, n_cur, overlap=k, chunk=chunk, blend="inpaint")
    audio = torch.arange(total, dtype=torch.float32)[None, :, None]
    out = [st.push(audio[:, i : i + 1]) for i in range(total)]
    assert [o.shape[1] for o in out[:4]] == [0, 2, 0, 2]  # 2 new frames as soon as their audio is in
    motion = torch.cat([o for o in out + [st.finish()] if o.shape[1] > 0], dim=1)[0, :, 0]
    assert [v for v, _ in calls] == [2, 3, 3, 3, 3, 2]  # the first window is the stride; the last is cut
    assert calls[0][1] is None
    for i, (_, known) in enumerate(calls[1:], start=1):  # the known frame is the last one emitted
        assert known.shape[1] == k and known[0, 0, 0] == motion[2 * i - 1]
    # every frame comes from exactly one window, none cross-faded: frame f = f + 100 * its window
    assert motion.tolist() == [f + 100 * (f // 2 + 1) for f in range(total)]


def test_offset_windows_step_into_their_first_frame_as_inside_them():
    """blend="offset": a window re-samples the last k frames; its new frames are shifted by the difference
    between the last frame shown and its re-sample, fading to 0 across the stride, so the step into the
    first new frame is the window's own step."""
    n_cur, chunk, k, total = 8, 5, 2, 20
    outs = []

    def fn(pm, pa, cur, valid, known=None):
        assert known is None
        out = cur * (1 + len(outs)) + 10.0 * len(outs)  # each window its own slope and level
        outs.append(out.clone())
        return torch.nn.functional.pad(out, (0, 0, 0, n_cur - cur.shape[1]))

    st = WindowStream(fn, 2, n_cur, overlap=k, chunk=chunk, blend="offset")
    audio = torch.arange(total, dtype=torch.float32)[None, :, None]
    motion = st.run(audio)[0, :, 0]
    assert motion.shape == (total,) and len(outs) == 7  # windows of 3 new frames after a first of 3
    stride = chunk - k
    for i, out in enumerate(outs[1:], start=1):
        s = i * stride  # the window's first new frame; it starts k frames back
        y = out[0, :, 0]
        assert torch.isclose(motion[s] - motion[s - 1], y[k] - y[k - 1])  # the window's own step
        d = motion[s - 1] - y[k - 1]
        for j in range(min(stride, total - s)):
            assert torch.isclose(motion[s + j], y[k + j] + (1 - j / stride) * d)


def test_flow_inpainting_keeps_the_known_frames_and_samples_around_them():
    torch.manual_seed(0)
    gen = randomised(flow())
    gen.blend = "inpaint"
    cond = cond_for(gen, torch.Generator().manual_seed(3))
    st = gen.stream({k: v for k, v in cond.items() if k != "audio"}, seed=0)
    prev_m, prev_a = torch.randn(1, 4, D), torch.randn(1, 4, gen.audio_hidden)
    cur = torch.randn(1, 12, gen.audio_hidden)
    known = torch.randn(1, 3, D)
    out = st.fn(prev_m, prev_a, cur, 12, known=known)
    torch.testing.assert_close(out[:, :3], known)
    # the known frames are tokens of the window: other known frames, other new frames (same noise)
    st2 = gen.stream({k: v for k, v in cond.items() if k != "audio"}, seed=0)
    other = st2.fn(prev_m, prev_a, cur, 12, known=known + 1)
    assert (other[:, 3:] - out[:, 3:]).abs().max() > 1e-4
    # and a whole clip streams to its full length in 1-frame pieces
    motion, _ = streamed(gen, cond, [1] * T, seed=0, chunk=4)
    assert motion.shape == (1, T, D) and torch.isfinite(motion).all()


def test_inpainting_is_refused_where_a_generator_lacks_it():
    from sandbox.errors import ConfigError
    from sandbox.pipeline.stream import set_window_joins

    with pytest.raises(ConfigError, match="flow generator only"):
        set_window_joins(diffusion(), 1, "inpaint")
    gen = flow()
    set_window_joins(gen, 1, "inpaint")
    assert gen.overlap == 1 and gen.blend == "inpaint"
    other = diffusion()
    set_window_joins(other, 1, "offset")  # offset needs nothing of the generator
    assert other.blend == "offset" and other.stream(cond_for(other, torch.Generator())).blend == "offset"
    lstm = two_stage()  # its LSTM state carries over: an overlap or a blend would be ignored, so both are refused
    for overlap, blend in ((1, None), (0, "fade")):
        with pytest.raises(ConfigError, match="do not apply"):
            set_window_joins(lstm, overlap, blend)
    set_window_joins(lstm, 0, None)
    set_window_joins(composed(), 1, "offset")  # gohd: its conformer pose windows overlap


def test_playout_buffer_absorbs_jitter_and_threads_are_restored():
    """A frame 30 ms late misses its deadline when playback starts at the first frame and meets it with a
    40 ms playout buffer; play() sets torch's threads while streaming and restores them."""
    from sandbox.pipeline.stream import StreamResult, play

    times = 0.2 + np.arange(10) / 25
    times[5] += 0.03
    r = StreamResult(np.zeros((10, 1, 1, 3), np.uint8), np.zeros(1), np.zeros((10, 1)), 1, 0.2, times)
    assert r.deadlines_met == pytest.approx(0.9) and r.first_shown_s == 0.2
    r.buffer_s = 0.04
    assert r.deadlines_met == 1.0 and r.first_shown_s == pytest.approx(0.24)

    class Echo:  # one frame per 640 samples, recording the threads it ran with
        nfe, motion, seen = 1, [], set()

        def push(self, x):
            self.seen.add(torch.get_num_threads())
            return np.zeros((len(x) // 640, 1, 1, 3), np.uint8)

        def finish(self):
            return np.zeros((0, 1, 1, 3), np.uint8)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    echo = Echo()
    try:
        out = play(echo, np.zeros(6400, np.float32), realtime=False, piece_ms=40, buffer_ms=40, threads=1)
        assert echo.seen == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert len(out.frames) == 10 and out.buffer_s == 0.04


# -- the command ---------------------------------------------------------------------------------------------
def test_stream_settings_are_checked_before_any_work(tmp_path):
    from sandbox.errors import ConfigError
    from sandbox.stream import main, split_args

    rest, settings, inputs = split_args(["rep=lia", "stream.chunk=8", "stream.realtime=false", "audio=a.wav"])
    assert rest == ["rep=lia"] and settings["chunk"] == 8 and settings["realtime"] is False
    from sandbox.stream import check_inputs

    assert split_args(["source=p.jpg", "source_face=2"])[2] == {"source": "p.jpg", "source_face": 2}
    for bad in ({"audio": "mic", "source_face": 1}, {"source": "p.jpg", "audio": "mic", "source_face": "two"}):
        with pytest.raises(ConfigError, match="source_face"):  # a face index needs a photo; an index
            check_inputs(bad)
    assert inputs == {"audio": "a.wav"}
    for bad in (["stream.chunks=3"], ["stream.chunk=abc"], ["stream.realtime=maybe"], ["stage=train"],
                ["stream.piece_ms=0"], ["stream.buffer_ms=-1"], ["stream.threads=0"], ["stream.threads=1.5"],
                ["stream.blend=blur"]):
        with pytest.raises(ConfigError):
            split_args(bad)
    assert main(["rep=lia", "gen=flow", "preset=smoke", "audio=nowhere.wav", f"paths.outputs={tmp_path}"]) == 2
    # a chunk no larger than the cross-fade (smoke: 2 frames) is refused before training
    assert main(["rep=lia", "gen=flow", "preset=smoke", "stream.chunk=2", f"paths.outputs={tmp_path}"]) == 2
    assert main(["rep=lia", "gen=diffusion", "preset=smoke", "stream.blend=inpaint", f"paths.outputs={tmp_path}"]) == 2
    assert main(["rep=lia", "gen=two_stage", "preset=smoke", "stream.chunk=5", "stream.overlap=1",
                 f"paths.outputs={tmp_path}"]) == 2  # fmt: skip
    assert not list(tmp_path.iterdir())


def test_a_stream_without_audio_takes_the_first_driven_clip():
    """The sample stage's rule: the first test clip, a val clip where there is no test split, and an error that
    says to give audio= where there is neither."""
    from sandbox.errors import InputFileError
    from sandbox.stream import first_driven_clip

    class Store:
        def __init__(self, **splits):
            self.splits = splits

        def ids(self, split):
            return list(self.splits.get(split, []))

    assert first_driven_clip(Store(train=["a"], val=["b"], test=["c", "d"])) == "c"
    assert first_driven_clip(Store(train=["a"], val=["b"])) == "b"
    with pytest.raises(InputFileError, match="audio=PATH"):
        first_driven_clip(Store(train=["a"]))


def test_stream_command_on_a_photo_equals_the_offline_run(tmp_path, monkeypatch):
    """python -m sandbox.stream (smoke preset, 3dmm + flow + mesh_warp, fed at real-time speed) writes the
    mp4 and its statistics; its motion equals the sample stage's for the same clip and seed, and a photo
    of one's own streams too."""
    import json

    from PIL import Image
    from skimage import data as skdata

    import sandbox
    from sandbox.audio.io import save_wav
    from sandbox.stream import stream_command
    from sandbox.video import read_video

    monkeypatch.setenv("SANDBOX_CACHE", str(tmp_path / "cache"))
    base = ["rep=3dmm", "gen=flow", "preset=smoke", f"out={tmp_path / 'run'}"]
    run = sandbox.run_crossing(*base, "stage=sample")
    clip = sorted(p.stem for p in (run.run_dir / "samples").glob("*.npz"))[0]
    with np.load(run.run_dir / "samples" / f"{clip}.npz") as z:
        offline, audio = z["motion"], z["audio"]
    result, mp4 = stream_command(base)  # the first test clip, real-time feed
    np.testing.assert_allclose(result.motion, offline, atol=1e-3 * np.abs(offline).max())
    stats = json.loads((run.run_dir / "stream" / f"{clip}.json").read_text())
    assert stats["frames"] == len(offline) == read_video(mp4)[0].shape[0]
    assert stats["realtime_feed"] and 0 < stats["first_frame_s"] < len(audio) / 16000 + 5
    assert stats["first_shown_s"] == pytest.approx(stats["first_frame_s"] + 0.040, abs=1e-3)  # stream.buffer_ms=40
    # the astronaut speaking a held-out sentence: streamed = animated offline (lip sync included)
    Image.fromarray(skdata.astronaut()).save(tmp_path / "astronaut.png")
    save_wav(tmp_path / "speech.wav", audio)
    photo = [f"source={tmp_path / 'astronaut.png'}", f"audio={tmp_path / 'speech.wav'}"]
    result, mp4 = stream_command([*base, *photo, "stream.realtime=false"])
    offline = run.animate(tmp_path / "astronaut.png", tmp_path / "speech.wav")
    np.testing.assert_allclose(result.motion, offline.motion, atol=1e-3 * np.abs(offline.motion).max())
    assert np.abs(result.frames.astype(int) - offline.frames).mean() < 1.0
    # with a chunk below the window: every frame, earlier first frames
    result, mp4 = stream_command([*base, *photo, "stream.chunk=4", "stream.overlap=1", "stream.realtime=false"])
    assert mp4.name == "speech.mp4" and result.frames.shape[0] == len(offline.motion)
    assert result.frames.std() > 5  # a face, not a blank frame
