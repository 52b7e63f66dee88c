"""Real talking-head videos -> the clip format (``data=video data.root=DIR``; sandbox.data.clips).

Every video file under ``root`` (mp4, mov, mkv, m4v, webm, avi; any frame rate, any audio sample rate)
is turned into clips the way the synthetic world writes them:

  frames  resampled to 25 fps by timestamp (output frame k shows the source frame nearest to k / 25 s
          after the first frame) and cropped the way FLOAT pre-processes a face: a square of CROP_SCALE
          (1.6) x the larger side of the MediaPipe landmark box, centred on the box, padded black where
          it leaves the frame. The box is the MEDIAN over the clip's frames (centre and size taken
          separately), so the crop is still within a clip (the head moves inside it, as in the world),
          then resized to ``size`` (area filter when shrinking);
  audio   the first audio track mixed to mono, resampled to 16 kHz and aligned with the first video frame;
  gt.npz  the face analyser's estimates (no ground truth exists for real video): ``lmk2d`` MediaPipe's
          478 landmarks tracked over the video (video mode), in crop pixels; ``pose`` / ``exp`` /
          ``gaze`` / ``id_coeff`` the morphable-model fit of those landmarks (identity shared over the
          clip) and ``lmk3d`` the fitted model's camera-space landmarks. Frames without a face inside a
          clip (gaps of at most ``max_gap_seconds``) are interpolated linearly. No ``mouth`` /
          ``visemes``: eval aligns phones with pocketsphinx to get the jaw-open target of real speech.

Clips: each stretch of frames with a face (gaps up to ``max_gap_seconds`` bridged) is cut into
consecutive clips of ``max_seconds``; a remainder of at least ``min_seconds`` is a clip of its own.

Speakers and splits: the speaker of a video is the first folder under ``root`` (``root/alice/x.mp4`` ->
``alice``); a video directly in ``root`` is named by its file-name prefix before the first ``_``
(``root/bob_03.mp4`` -> ``bob``). Whole speakers go to val and test: those named in ``val_speakers`` /
``test_speakers``, else the first speakers in the order of the SHA-1 of their names (``test_fraction``
and ``val_fraction`` of them, at least one each; deterministic, independent of the file order). At least
three speakers with usable videos are needed. Clip ids are the world's: ``<split>_<NNNN>``; ``meta.json``
names the speaker (also as ``identity`` and ``voice``), the video and where in it the clip starts.

Skipped, with a one-line reason each (logged, and listed in ``index.json`` under meta.videos.skipped):
a file that cannot be decoded, no video or no audio track, a face in fewer than ``min_face_fraction``
of the frames, nothing as long as ``min_seconds`` with a face.

Caching: each video's clips (or its skip reason) are stored under ``cache_dir/<key>``, the key being the
file's SHA-256 and the settings here, written to a temporary name and renamed when complete: adding a
video to the folder analyses only that one, and an interrupted build resumes where it stopped. Videos are
processed by ``workers`` processes (spawned) with a progress bar.

``python -m sandbox.data.videos --root DIR --out OUT`` builds a dataset directory outside the pipeline.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sandbox.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from sandbox.data.clips import SPLITS, Clip, write_clip, write_index
from sandbox.errors import ConfigError, InputFileError
from sandbox.face.head_model import CROP_SCALE

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v", ".webm", ".avi")
RESULT = "result.json"  # written last into a per-video cache entry
CLIP_ID = re.compile(r"^(train|val|test)_\d{4,}$")


@dataclass(frozen=True)
class VideoSettings:
    """What a video's clips depend on (part of its cache key)."""

    size: int = 64
    min_seconds: float = 2.0
    max_seconds: float = 4.0
    min_face_fraction: float = 0.5
    max_gap_seconds: float = 0.4
    crop_scale: float = CROP_SCALE

    def __post_init__(self):
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ConfigError(f"data: need 0 < min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}")
        if self.size < 16:
            raise ConfigError(f"data.size must be at least 16 px, got {self.size}")


# ------------------------------------------------------------------------------------------ the folder


def list_videos(root: str | Path) -> list[Path]:
    """Video files under ``root`` (recursive, hidden files and folders left out), sorted; InputFileError
    when there is no such folder or no video in it."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputFileError(f"data.root={root} is not a directory: point it at a folder of videos "
                             f"({', '.join(VIDEO_EXTENSIONS)}), one subfolder per speaker")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))  # fmt: skip
    if not found:
        raise InputFileError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {root.resolve()}")
    return found


def folder_listing(root: str | Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime ns) of every video under ``root``: what the data stage is keyed by,
    so adding, removing, renaming or editing a video rebuilds the dataset (reusing the others' clips)."""
    root = Path(root).expanduser()
    out = []
    for p in list_videos(root):
        st = p.stat()
        out.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return out


def speaker_of(rel: str | Path) -> str:
    """The speaker of a video from its path relative to the root: the first folder, else the file-name
    prefix before the first ``_`` (the whole name when it has none)."""
    parts = Path(rel).parts
    return parts[0] if len(parts) > 1 else Path(rel).stem.split("_")[0]


def assign_splits(speakers: list[str], val_speakers=None, test_speakers=None, val_fraction: float = 0.1,
                  test_fraction: float = 0.1) -> dict[str, str]:
    """speaker -> split: named speakers where given, else by the SHA-1 order of the names (test first,
    then val; at least one speaker each and one left for train)."""
    speakers = sorted(set(speakers))
    named = {"val": list(val_speakers or []), "test": list(test_speakers or [])}
    for split, names in named.items():
        unknown = sorted(set(names) - set(speakers))
        if unknown:
            raise ConfigError(f"data.{split}_speakers names {unknown}, which have no usable video; "
                              f"speakers with clips: {speakers}")  # fmt: skip
    if set(named["val"]) & set(named["test"]):
        raise ConfigError(f"speakers {sorted(set(named['val']) & set(named['test']))} are both val and test")
    if len(speakers) < 3:
        raise InputFileError(
            f"splitting by speaker needs at least 3 speakers with usable videos (train, val, test); found "
            f"{len(speakers)}: {speakers}. Put each speaker's videos in a subfolder of data.root (or name files "
            "SPEAKER_anything.mp4) and add videos of more speakers"
        )
    out = {s: "train" for s in speakers}
    for split, names in named.items():
        out.update({s: split for s in names})
    order = sorted((s for s in speakers if out[s] == "train"), key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    for split, frac in (("test", test_fraction), ("val", val_fraction)):
        if named[split]:
            continue
        n = max(1, round(frac * len(speakers)))
        for s in order[:n]:
            out[s] = split
        order = order[n:]
    if "train" not in out.values() or len(set(out.values())) < 3:
        raise ConfigError(f"the speaker split {out} leaves a split empty: name data.val_speakers / "
                          "data.test_speakers, or lower data.val_fraction / data.test_fraction")
    return out


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def video_key(path: Path, settings: VideoSettings) -> str:
    blob = json.dumps([file_hash(path), asdict(settings)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ decoding


class Skip(Exception):
    """A video the pipeline cannot use: ``kind`` (one of SKIP_KINDS) and the one-line reason (the message)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


DECODE_ERRORS = (OSError, EOFError, ValueError)  # besides PyAV's own (av.FFmpegError)
SKIP_KINDS = ("corrupt", "no video", "no audio", "silent", "no face", "too short")


def _error(exc: Exception, path: Path) -> str:
    """An exception as a short clause, without the file's path (the log line names the file already)."""
    text = (str(exc).splitlines() or [""])[0].replace(f": '{path}'", "").replace(str(path), path.name)
    return f"{type(exc).__name__}: {text[:120]}"


def _frames_at(path: Path, fps: int = FPS):
    """Yield (k, rgb uint8 [H, W, 3], t0) for output frames k = 0, 1, ... at ``fps``: frame k is the source
    frame nearest to t0 + k / fps, t0 the first frame's time (the last frame lasts one source interval)."""
    import av

    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        rate = float(vs.average_rate or vs.guessed_rate or fps)
        k, prev, prev_t, img, t0 = 0, None, 0.0, None, None
        for i, frame in enumerate(container.decode(vs)):
            t = frame.time if frame.time is not None else i / rate
            t0 = t if t0 is None else t0
            t -= t0
            if prev is not None:
                while k / fps < (prev_t + t) / 2:  # output time nearer to the previous frame
                    img = prev.to_ndarray(format="rgb24") if img is None else img
                    yield k, img, t0
                    k += 1
            if t > prev_t or prev is None:
                prev, prev_t, img = frame, t, None
        if prev is not None:
            while k / fps < prev_t + 1.0 / rate - 1e-6:
                img = prev.to_ndarray(format="rgb24") if img is None else img
                yield k, img, t0
                k += 1


def _audio(path: Path) -> tuple[np.ndarray, float] | None:
    """(mono float32 at 16 kHz, start time s) of the first audio track; None when there is none."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        n_true = None
        if stream.duration is not None and stream.time_base is not None:
            n_true = int(round(float(stream.duration * stream.time_base) * SAMPLE_RATE))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks, start = [], None
        for frame in container.decode(stream):
            if start is None and frame.time is not None:
                start = float(frame.time)
            chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(frame)]
        chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return (audio[:n_true] if n_true else audio), (start or 0.0)


def _open_check(path: Path) -> None:
    """Cheap checks before any decoding: opens, has a video and an audio track."""
    import av

    try:
        with av.open(str(path)) as container:
            kinds = {s.type for s in container.streams}
    except Exception as exc:  # noqa: BLE001  any container error means the file is unusable
        raise Skip("corrupt", f"cannot be opened as a video ({_error(exc, path)})") from None
    if "video" not in kinds:
        raise Skip("no video", "no video track")
    if "audio" not in kinds:
        raise Skip("no audio", "no audio track")


# ------------------------------------------------------------------------------------------ one video


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in a bool array."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def clip_ranges(found: np.ndarray, settings: VideoSettings) -> list[tuple[int, int]]:
    """[start, end) frame ranges of the clips: stretches with a face (gaps of at most max_gap_seconds
    between found frames bridged) cut into max_seconds pieces, remainders of min_seconds kept."""
    usable = found.copy()
    max_gap = int(round(settings.max_gap_seconds * FPS))
    for a, b in _runs(~found):
        if a > 0 and b < len(found) and b - a <= max_gap:
            usable[a:b] = True
    lo, hi = int(round(settings.min_seconds * FPS)), int(round(settings.max_seconds * FPS))
    out = []
    for a, b in _runs(usable):
        for s in range(a, b, hi):
            if min(s + hi, b) - s >= lo:
                out.append((int(s), int(min(s + hi, b))))
    return out


def clip_crop(lmk: np.ndarray, scale: float) -> tuple[int, int, int]:
    """(x0, y0, side) in source pixels of the square crop of a clip: ``scale`` x the median larger side of
    the per-frame landmark boxes, centred on their median centre (frames without a face left out)."""
    ok = np.isfinite(lmk).all(axis=(1, 2))
    lo, hi = np.nanmin(lmk[ok], axis=1), np.nanmax(lmk[ok], axis=1)
    centre = np.median((lo + hi) / 2, axis=0)
    side = max(2, int(round(scale * float(np.median((hi - lo).max(axis=1))))))
    x0, y0 = np.round(centre - side / 2).astype(int)
    return int(x0), int(y0), side


def crop_frame(img: np.ndarray, crop: tuple[int, int, int], size: int) -> np.ndarray:
    """The square ``crop`` of ``img`` (black where it leaves the image), resized to size x size."""
    import cv2

    x0, y0, side = crop
    h, w = img.shape[:2]
    pad = (max(0, -y0), max(0, y0 + side - h), max(0, -x0), max(0, x0 + side - w))
    if any(pad):
        img = cv2.copyMakeBorder(img, *pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    sq = img[y0 + pad[0] : y0 + pad[0] + side, x0 + pad[2] : x0 + pad[2] + side]
    return cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)


def _interpolate(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linear interpolation over time of rows [T, ...] where ``found`` is False (nearest at the ends)."""
    flat = np.array(values, np.float64).reshape(len(values), -1)
    t = np.arange(len(flat))
    for d in range(flat.shape[1]):
        flat[~found, d] = np.interp(t[~found], t[found], flat[found, d])
    return flat.reshape(values.shape)


_HEAD = None


def analyse_video(path: Path, settings: VideoSettings, rel: str = ""):
    """Yield the clips of one video (ids c000, c001, ...; meta without the split), each as soon as its
    frames are decoded (a long video is never held in memory); raises Skip with a reason, before the
    first clip unless the file fails to decode the second time through."""
    import av

    from sandbox.analysis.landmarks import LandmarkDetector
    from sandbox.face.head_model import HeadModel
    from sandbox.face.topology import N_LANDMARKS

    global _HEAD
    _open_check(path)
    try:
        track = _audio(path)
        lmks, t0, src_hw = [], 0.0, None
        with LandmarkDetector(max_num_faces=1, video=True) as det:
            for _, img, t0 in _frames_at(path):
                src_hw = img.shape[:2]
                faces = det.detect(img)
                lmks.append(faces[0].lmk2d if faces else np.full((N_LANDMARKS, 2), np.nan, np.float32))
    except DECODE_ERRORS + (av.FFmpegError,) as exc:  # mid-stream: a damaged file
        raise Skip("corrupt", f"cannot be decoded ({_error(exc, path)})") from None
    if not lmks:
        raise Skip("no video", "no video frames")
    if track is None:
        raise Skip("no audio", "no audio track")
    audio, a0 = track
    shift = int(round((t0 - a0) * SAMPLE_RATE))  # audio samples before the first video frame
    audio = audio[shift:] if shift >= 0 else np.r_[np.zeros(-shift, np.float32), audio]
    n = min(len(lmks), len(audio) // SAMPLES_PER_FRAME)
    if n == 0 or not np.any(np.abs(audio) > 1e-4):
        raise Skip("silent", "the audio track is empty or silent")
    lmk = np.stack(lmks[:n])  # float32 [T, 478, 2]: an hour at 25 fps is 0.3 GB
    found = np.isfinite(lmk).all(axis=(1, 2))
    seconds = n / FPS
    if found.mean() < settings.min_face_fraction:
        raise Skip("no face", f"a face in only {found.mean():.0%} of the frames (needs "
                              f"{settings.min_face_fraction:.0%}; data.min_face_fraction)")  # fmt: skip
    ranges = clip_ranges(found, settings)
    if not ranges:
        longest = max((b - a for a, b in _runs(found)), default=0) / FPS
        raise Skip("too short", f"too short: {seconds:.1f} s with audio, the longest stretch with a face "
                                f"{longest:.1f} s (clips need {settings.min_seconds:g} s)")  # fmt: skip
    crops = [clip_crop(lmk[a:b], settings.crop_scale) for a, b in ranges]
    owner = np.full(n, -1)
    for i, (a, b) in enumerate(ranges):
        owner[a:b] = i
    if _HEAD is None:
        _HEAD = HeadModel.load()
    frames: list[np.ndarray] = []
    decoded = _frames_at(path)
    while True:
        try:
            k, img, _ = next(decoded)
        except StopIteration:
            break
        except DECODE_ERRORS + (av.FFmpegError,) as exc:  # decoded once already: failing now is damage too
            raise Skip("corrupt", f"cannot be decoded ({_error(exc, path)})") from None
        i = owner[k] if k < n else -1
        if i < 0:
            continue
        frames.append(crop_frame(img, crops[i], settings.size))
        if k == ranges[i][1] - 1:
            yield _clip(i, ranges[i], crops[i], np.stack(frames), lmk, found, audio, settings, rel or path.name,
                        src_hw)  # fmt: skip
            frames = []


def _clip(i: int, span, crop, frames, lmk, found, audio, settings: VideoSettings, rel: str, src_hw) -> Clip:
    """Clip ``i`` of a video: its cropped frames, audio and the analyser's fit of its landmarks."""
    from sandbox.analysis.face import fit_landmarks

    (a, b), (x0, y0, side) = span, crop
    ok = found[a:b]
    pts = (lmk[a:b].astype(np.float64) - [x0, y0]) * (settings.size / side)  # NaN rows stay NaN
    pts = _interpolate(pts, ok) if not ok.all() else pts
    fit = fit_landmarks(pts, settings.size, _HEAD)
    lmk3d, _ = _HEAD.landmarks(fit["id_coeff"], fit["pose"], fit["exp"], fit["gaze"], settings.size)
    gt = {"pose": fit["pose"], "exp": fit["exp"], "gaze": fit["gaze"], "id_coeff": fit["id_coeff"],
          "lmk3d": lmk3d, "lmk2d": pts}  # fmt: skip
    gt = {k: np.asarray(v, np.float32) for k, v in gt.items()}
    speaker = speaker_of(rel)
    meta = {"speaker": speaker, "identity": speaker, "voice": speaker, "emotion": None, "text": "",
            "video": rel, "start_s": a / FPS, "seconds": (b - a) / FPS,
            "crop": [x0, y0, side], "source_size": list(src_hw), "face_found": float(ok.mean()),
            "fps": FPS, "size": settings.size}  # fmt: skip
    return Clip(f"c{i:03d}", frames, audio[a * SAMPLES_PER_FRAME : b * SAMPLES_PER_FRAME], gt, meta)


def process_video(path: Path, rel: str, settings: VideoSettings, cache_dir: Path) -> tuple[str, Path]:
    """Analyse one video into ``cache_dir/<key>`` (reused when complete); returns (rel, entry dir)."""
    key = video_key(path, settings)
    final = Path(cache_dir) / key
    if (final / RESULT).is_file():
        return rel, final
    tmp = Path(cache_dir) / f"{key}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        names = []
        try:
            for c in analyse_video(path, settings, rel):
                write_clip(tmp, c)
                names.append(c.clip_id)
            result = {"video": rel, "skip": None, "skip_kind": None, "clips": names}
        except Skip as why:
            for name in names:  # a file that broke half-way: none of it is used
                shutil.rmtree(tmp / name)
            result = {"video": rel, "skip": str(why), "skip_kind": why.kind, "clips": []}
        (tmp / RESULT).write_text(json.dumps(result, indent=1))
        if (final / RESULT).is_file():  # another process finished it meanwhile
            shutil.rmtree(tmp)
        else:
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rel, final


def _job(args) -> tuple[str, str]:
    path, rel, settings, cache_dir = args
    try:
        rel, entry = process_video(Path(path), rel, settings, Path(cache_dir))
    except Exception as exc:
        raise RuntimeError(f"{rel}: {type(exc).__name__}: {exc}") from exc
    return rel, str(entry)


# ------------------------------------------------------------------------------------------ the dataset


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or no hard links: copy
        shutil.copy2(src, dst)


def build_video_dataset(
    root: str | Path,
    out: str | Path,
    cache_dir: str | Path | None = None,
    size: int = 64,
    min_seconds: float = 2.0,
    max_seconds: float = 4.0,
    min_face_fraction: float = 0.5,
    max_gap_seconds: float = 0.4,
    val_speakers: list[str] | None = None,
    test_speakers: list[str] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Build (or finish building) the clip dataset of the videos under ``root`` in ``out``; returns ``out``.
    ``cache_dir``: where per-video results live (default ``out/per_video``)."""
    from tqdm import tqdm

    root, out = Path(root).expanduser().resolve(), Path(out)
    settings = VideoSettings(size=int(size), min_seconds=float(min_seconds), max_seconds=float(max_seconds),
                             min_face_fraction=float(min_face_fraction), max_gap_seconds=float(max_gap_seconds))
    cache_dir = Path(cache_dir) if cache_dir is not None else out / "per_video"
    videos = list_videos(root)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "index.json").exists() and not (out / "videos.json").exists():
        raise ConfigError(f"{out} holds another dataset (index.json without videos.json): pass another out")
    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(str(p), p.relative_to(root).as_posix(), settings, str(cache_dir)) for p in videos]
    workers = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    bar = tqdm(total=len(jobs), desc="videos", unit="video",
               disable=not progress or bool(os.environ.get("SANDBOX_NO_PROGRESS")))
    entries: dict[str, Path] = {}

    def done(rel: str, entry: str) -> None:
        entries[rel] = Path(entry)
        skip = json.loads((Path(entry) / RESULT).read_text())["skip"]
        if skip:
            log.warning("skipped %s: %s", rel, skip)
        bar.update()

    if workers <= 1:
        for j in jobs:
            done(*_job(j))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawned, not forked: MediaPipe's graph threads do not survive a fork of a process running one
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            for rel, entry in ex.map(_job, jobs, chunksize=1):
                done(rel, entry)
    bar.close()
    results = {rel: json.loads((entries[rel] / RESULT).read_text()) for rel in sorted(entries)}
    skipped = {rel: r["skip"] for rel, r in results.items() if r["skip"]}
    kinds = Counter(r["skip_kind"] for r in results.values() if r["skip"])
    used = {rel: r for rel, r in results.items() if not r["skip"]}
    speaker_split = assign_splits([speaker_of(rel) for rel in used], val_speakers, test_speakers,
                                  val_fraction, test_fraction)  # fmt: skip
    for d in out.iterdir():  # an earlier, interrupted assembly
        if CLIP_ID.match(d.name.removesuffix(".tmp")) and d.is_dir():
            shutil.rmtree(d)
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    i = 0
    for split in SPLITS:
        for rel in sorted(used, key=lambda r: (speaker_of(r), r)):
            if speaker_split[speaker_of(rel)] != split:
                continue
            for name in used[rel]["clips"]:
                cid = f"{split}_{i:04d}"
                src, tmp = entries[rel] / name, out / f"{cid}.tmp"
                tmp.mkdir()
                for f in ("frames.npy", "audio.wav", "gt.npz"):
                    _link(src / f, tmp / f)
                # the cache is keyed by content: the same file elsewhere in the folder is another speaker's
                spk = speaker_of(rel)
                meta = json.loads((src / "meta.json").read_text()) | {
                    "split": split, "speaker": spk, "identity": spk, "voice": spk, "video": rel}
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
                tmp.rename(out / cid)
                splits[split].append(cid)
                i += 1
    speakers = {s: sorted(k for k, v in speaker_split.items() if v == s) for s in SPLITS}
    info = {"root": str(root), "settings": asdict(settings), "speakers": speakers, "skipped": skipped,
            "skip_kinds": dict(kinds), "videos": len(videos), "used": sorted(used)}  # fmt: skip
    (out / "videos.json").write_text(json.dumps(info, indent=1))
    write_index(out, splits, {"videos": info, "n_frames_note": "25 fps, 16 kHz"})
    log_summary(info, splits)
    return out


def log_summary(info: dict, splits: dict[str, list[str]]) -> None:
    """The summary of a video import: counts per split, speakers, and every skipped file with its reason."""
    skipped = info["skipped"]
    counts = ", ".join(f"{s} {len(splits[s])} clips ({len(info['speakers'][s])} speakers)" for s in SPLITS)
    log.info("videos: %d found, %d used -> %s; %d skipped", info["videos"], len(info["used"]), counts, len(skipped))
    log.info("speakers: %s", "; ".join(f"{s}: {', '.join(info['speakers'][s])}" for s in SPLITS))
    if skipped:
        why = info.get("skip_kinds", {})
        log.warning("%d video(s) skipped (%s):", len(skipped), ", ".join(f"{k} {v}" for k, v in sorted(why.items())))
        for rel, reason in skipped.items():
            log.warning("  %s: %s", rel, reason)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="folder of videos (a subfolder per speaker)")
    p.add_argument("--out", required=True, help="dataset directory (created; a rerun resumes)")
    p.add_argument("--size", type=int, default=VideoSettings.size)
    p.add_argument("--min-seconds", type=float, default=VideoSettings.min_seconds)
    p.add_argument("--max-seconds", type=float, default=VideoSettings.max_seconds)
    p.add_argument("--test-speakers", nargs="*", default=None)
    p.add_argument("--val-speakers", nargs="*", default=None)
    p.add_argument("--workers", type=int, default=None)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = build_video_dataset(a.root, a.out, size=a.size, min_seconds=a.min_seconds, max_seconds=a.max_seconds,
                              val_speakers=a.val_speakers, test_speakers=a.test_speakers, workers=a.workers)
    log.info("dataset written to %s", out)


if __name__ == "__main__":
    main()
