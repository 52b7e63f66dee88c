"""Real text-to-speech from eSpeak NG (C API through ctypes), with phoneme timings.

eSpeak's synth callback hands over int16 samples together with event arrays; phoneme events
(type 7) carry the phoneme mnemonic and its start time in ms, so the audio and the phoneme track
come from one synthesis and are exactly aligned. eSpeak keeps global state, so one process-wide
instance is initialised lazily and every synthesis holds a lock. Each synthesis runs in a forked
child so the result does not depend on what was synthesised before (see ``_in_fresh_child``).
"""
from __future__ import annotations

import ctypes
import math
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sandbox.constants import EMOTIONS, SAMPLE_RATE
from sandbox.errors import ConfigError

# --- the C API (speak_lib.h) -------------------------------------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EV_LIST_TERMINATED, _EV_WORD, _EV_SENTENCE, _EV_END, _EV_MSG_TERMINATED, _EV_PHONEME = 0, 1, 2, 5, 6, 7
_P_RATE, _P_VOLUME, _P_PITCH, _P_RANGE = 1, 2, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms from the start of the utterance
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


# --- voices ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Voice:
    id: str  # eSpeak voice name, optionally "+variant" (f1..f5 are female, m1..m7 male)
    name: str
    base_pitch: int  # eSpeak pitch parameter (0-100) that suits the voice
    gender: str

    def synth_kwargs(self, prosody: dict[str, float] | None = None, rate: int = 160, pitch_range: int = 50,
                     volume: int = 100) -> dict:
        """``synthesize`` keyword arguments for this voice under ``emotion_prosody(...)`` changes."""
        p = prosody or _PROSODY["neutral"]
        return dict(
            voice=self.id,
            rate=int(np.clip(round(rate * p["rate"]), 80, 450)),
            pitch=int(np.clip(round(self.base_pitch + p["pitch"]), 0, 100)),
            pitch_range=int(np.clip(round(pitch_range * p["pitch_range"]), 0, 100)),
            volume=int(np.clip(round(volume * p["volume"]), 0, 200)),
        )


# Only variants without "breath" noise: eSpeak draws that noise from an unseeded source, so
# those voices are not reproducible. Ordered so that any tail (the dataset holds out the last voices for test) mixes genders/accents.
VOICES: tuple[Voice, ...] = (
    Voice("en-us", "American male", 45, "male"),
    Voice("en+belinda", "British female", 55, "female"),
    Voice("en", "British male", 40, "male"),
    Voice("en-us+linda", "American female", 55, "female"),
    Voice("en-gb-scotland", "Scottish male", 42, "male"),
    Voice("en-us+f4", "American female (bright)", 60, "female"),
    Voice("en-gb-x-rp", "Received Pronunciation male", 38, "male"),
    Voice("en-us+m3", "American male (deep)", 30, "male"),
    Voice("en-029+anika", "Caribbean female", 55, "female"),
    Voice("en-us-nyc", "New York male", 46, "male"),
    Voice("en-gb-x-gbclan", "Lancaster male", 44, "male"),
    Voice("en-gb-scotland+f1", "Scottish female", 52, "female"),
    Voice("en-029", "Caribbean male", 48, "male"),
    Voice("en-gb-x-gbcwmd+steph", "West Midlands female", 56, "female"),
)
VOICE_IDS = tuple(v.id for v in VOICES)


def get_voice(voice_id: str) -> Voice:
    for v in VOICES:
        if v.id == voice_id:
            return v
    raise ConfigError(f"unknown voice {voice_id!r}; choose one of {', '.join(VOICE_IDS)}")


# --- emotion prosody ---------------------------------------------------------------------------
# Multipliers on rate / pitch range / volume and an additive pitch offset (eSpeak pitch units,
# 0-100). Directions follow the usual acoustic correlates of emotion in speech (Scherer 2003).
_PROSODY: dict[str, dict[str, float]] = {
    "neutral": dict(rate=1.00, pitch=0.0, pitch_range=1.00, volume=1.00),
    "angry": dict(rate=1.15, pitch=6.0, pitch_range=1.45, volume=1.45),
    "disgust": dict(rate=0.85, pitch=-8.0, pitch_range=0.80, volume=0.95),
    "fear": dict(rate=1.20, pitch=14.0, pitch_range=1.15, volume=0.90),
    "happy": dict(rate=1.05, pitch=12.0, pitch_range=1.45, volume=1.15),
    "sad": dict(rate=0.75, pitch=-10.0, pitch_range=0.45, volume=0.70),
    "surprise": dict(rate=1.00, pitch=18.0, pitch_range=1.70, volume=1.20),
}
assert set(_PROSODY) == set(EMOTIONS)


def emotion_prosody(emotion: str) -> dict[str, float]:
    """Prosody change for an emotion: ``rate``, ``pitch_range``, ``volume`` are multipliers,
    ``pitch`` an offset in eSpeak pitch units. Plain floats, so motion programs can reuse them."""
    if emotion not in _PROSODY:
        raise ConfigError(f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
    return dict(_PROSODY[emotion])


def prosody_params(voice: str, emotion: str = "neutral", **base) -> dict:
    """``synthesize`` keyword arguments for a voice in ``VOICES`` speaking with an emotion."""
    return get_voice(voice).synth_kwargs(emotion_prosody(emotion), **base)


# --- synthesis ---------------------------------------------------------------------------------
@dataclass
class Speech:
    audio: np.ndarray  # float32 [N] at SAMPLE_RATE
    phonemes: list[tuple[str, float, float]]  # (eSpeak mnemonic, start_s, end_s), contiguous
    words: list[tuple[str, float, float]] = field(default_factory=list)  # (word, start_s, end_s)
    text: str = ""
    voice: str = ""

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


class _Engine:
    """The process-wide eSpeak instance: the library, its sample rate and the active collector."""

    def __init__(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.sample_rate}); is espeakng-loader installed intact?")
        self.lib = lib
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, int, str]] = []
        self._cb = _CALLBACK(self._on_synth)  # keep a reference: ctypes must not free the thunk
        lib.espeak_SetSynthCallback(self._cb)

    def _on_synth(self, wav, n: int, events) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            e = events[i]
            label = e.id.string.decode("utf-8", "replace") if e.type == _EV_PHONEME else ""
            num = e.id.number if e.type in (_EV_WORD, _EV_SENTENCE) else 0
            self.events.append((e.type, e.audio_position, e.text_position, e.length, label or str(num)))
            i += 1
        return 0


_engine: _Engine | None = None
_lock = threading.Lock()


def _synth_raw(text: str, voice: str, rate: int, pitch: int, pitch_range: int, volume: int):
    import ctypes.util

    eng = _get_engine()
    if eng.lib.espeak_SetVoiceByName(voice.encode()) != 0:  # in the child: voice state must not leak
        raise _unknown_voice(voice)
    for param, value in ((_P_RATE, rate), (_P_PITCH, pitch), (_P_RANGE, pitch_range), (_P_VOLUME, volume)):
        eng.lib.espeak_SetParameter(param, int(value), 0)
    eng.chunks, eng.events = [], []
    # some voice variants add noise from libc's rand(): seed it from the request for reproducibility
    seed = zlib.crc32(f"{text}|{voice}|{rate}|{pitch}|{pitch_range}|{volume}".encode())
    ctypes.CDLL(ctypes.util.find_library("c")).srand(ctypes.c_uint(seed))
    buf = ctypes.create_string_buffer(text.encode("utf-8"))
    err = eng.lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    if err != 0:
        raise RuntimeError(f"espeak_Synth failed with error {err}")
    raw = np.concatenate(eng.chunks) if eng.chunks else np.zeros(0, np.int16)
    return raw, list(eng.events), eng.sample_rate


def _unknown_voice(voice: str) -> ConfigError:
    return ConfigError(f"eSpeak has no voice {voice!r}; use one of {', '.join(VOICE_IDS)} "
                       "(or '<language>+<variant>', e.g. 'en-us+f3')")


def _child(conn, fn, args) -> None:
    try:
        conn.send((True, fn(*args)))
    except BaseException as exc:  # hand the error to the parent
        conn.send((False, exc))
    conn.close()


def _in_fresh_child(fn, *args):
    """Run ``fn`` in a forked child of this process. eSpeak's wave generator keeps state from one
    utterance to the next, so only the first synthesis after initialisation is reproducible; the
    parent never synthesises, so every child starts from that same pristine state."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args), daemon=True)
    proc.start()
    send.close()
    try:
        ok, value = recv.recv()
    except EOFError:
        raise RuntimeError(f"eSpeak synthesis process died (exit code {proc.exitcode})") from None
    finally:
        proc.join()
    if not ok:
        raise value
    return value


def _get_engine() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def _variant_exists(voice: str) -> bool:
    # eSpeak silently ignores an unknown "+variant"; check the variant file ourselves.
    import espeakng_loader

    if "+" not in voice:
        return True
    variant = voice.split("+", 1)[1]
    return (Path(espeakng_loader.get_data_path()) / "voices" / "!v" / variant).is_file()


def synthesize(text: str, voice: str = "en-us", rate: int = 160, pitch: int = 50, pitch_range: int = 50,
               volume: int = 100) -> Speech:
    """Speak ``text`` with an eSpeak voice (``VOICE_IDS`` or any eSpeak name like ``"de+f2"``).

    ``rate`` is words per minute (80-450), ``pitch`` and ``pitch_range`` 0-100, ``volume`` 0-200.
    Returns 16 kHz float32 audio with the phoneme and word timings eSpeak used to make it."""
    import librosa

    if not text.strip():
        raise ValueError("synthesize needs non-empty text")
    if not _variant_exists(voice):
        raise _unknown_voice(voice)
    with _lock:
        _get_engine()  # initialise once here, so every child starts from the same pristine engine
        raw, events, sr = _in_fresh_child(_synth_raw, text, voice, rate, pitch, pitch_range, volume)
    audio = librosa.resample(raw.astype(np.float32) / 32768.0, orig_sr=sr, target_sr=SAMPLE_RATE,
                             res_type="soxr_hq").astype(np.float32)
    duration = len(audio) / SAMPLE_RATE
    return Speech(audio=audio, phonemes=_phoneme_track(events, duration), words=_word_track(events, text, duration),
                  text=text, voice=voice)


def _segments(starts: list[tuple[str, float]], duration: float) -> list[tuple[str, float, float]]:
    """Turn (label, start) pairs into contiguous (label, start, end); each ends where the next starts."""
    out = []
    for i, (label, t0) in enumerate(starts):
        t1 = starts[i + 1][1] if i + 1 < len(starts) else duration
        t0 = min(t0, duration)
        out.append((label, t0, max(t0, min(t1, duration))))
    return out


def _phoneme_track(events, duration: float) -> list[tuple[str, float, float]]:
    starts = [(label, pos / 1000.0) for typ, pos, _, _, label in events if typ == _EV_PHONEME and label]
    starts.sort(key=lambda s: s[1])  # stable: events already arrive in order
    return _segments(starts, duration)


def _word_track(events, text: str, duration: float) -> list[tuple[str, float, float]]:
    # text_position is 1-based in characters of the (UTF-8 decoded) input.
    starts = [(text[max(tp - 1, 0): max(tp - 1, 0) + ln], pos / 1000.0)
              for typ, pos, tp, ln, _ in events if typ == _EV_WORD]
    # a word ends at the next word's start or, before a pause, at the end of its last non-pause phoneme
    phon = _phoneme_track(events, duration)
    out = []
    for i, (word, t0) in enumerate(starts):
        t_next = starts[i + 1][1] if i + 1 < len(starts) else duration
        inside = [p for p in phon if t0 <= p[1] < t_next and not p[0].startswith("_")]
        t1 = inside[-1][2] if inside else t_next
        out.append((word, t0, max(t0, min(t1, t_next))))
    return out


# --- per-frame prosody -------------------------------------------------------------------------
def prosody_track(audio: np.ndarray, fps: int = 25) -> dict[str, np.ndarray]:
    """Per-video-frame ``energy`` (RMS) [T], ``f0`` in Hz [T] (NaN where unvoiced) and ``voiced`` [T]
    for the motion programs; T = ceil(len(audio) / (SAMPLE_RATE / fps))."""
    import librosa

    hop = SAMPLE_RATE // fps
    n = max(1, math.ceil(len(audio) / hop))
    x = np.zeros(n * hop, np.float32)
    x[: len(audio)] = audio
    energy = np.sqrt(np.mean(x.reshape(n, hop) ** 2, axis=1)).astype(np.float32)
    # pyin frames are centred on multiples of the hop; dropping the first half hop centres them on
    # the video frames instead.
    f0, voiced, _ = librosa.pyin(x[hop // 2:], fmin=60.0, fmax=500.0, sr=SAMPLE_RATE,
                                 frame_length=1024, hop_length=hop, center=True,
                                 resolution=0.25)  # 4 bins per semitone: 5x faster, within 1 Hz
    f0, voiced = f0[:n], voiced[:n]
    f0 = np.where(voiced, f0, np.nan).astype(np.float32)
    return {"energy": energy, "f0": f0, "voiced": voiced.astype(bool)}
