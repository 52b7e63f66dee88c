"""eSpeak phonemes -> visemes -> per-frame mouth targets.

The map is total over every phoneme mnemonic the sandbox's English voices emit (collected by
synthesising the 9,000-word vocabulary with every voice in ``speech.VOICES``; the test re-checks it).
A phoneme outside the map (another language's voice, a future eSpeak) falls back to the relaxed
``schwa`` mouth, the least committal shape.

The classes follow the MPEG-4 / Preston-Blair tradition, with s/z merged into the alveolars and a
separate schwa because it is the most frequent vowel and far less open than other vowels.
Mouth targets are (jaw_open, lip_width, lip_closure) in [0, 1] (the ``mouth`` columns of
``gt.npz``); lip rounding is a fourth target, available from :func:`mouth_track`.
"""
from __future__ import annotations

import re

import numpy as np

#                     name      jaw   width closure round
_CLASSES: tuple[tuple[str, float, float, float, float], ...] = (
    ("sil",      0.02, 0.45, 0.70, 0.00),  # rest: lips lightly together
    ("PBM",      0.05, 0.45, 1.00, 0.10),  # bilabial closure
    ("FV",       0.15, 0.50, 0.60, 0.00),  # lower lip to upper teeth
    ("TH",       0.25, 0.50, 0.00, 0.00),  # tongue between the teeth
    ("DNTLSZ",   0.18, 0.58, 0.00, 0.00),  # alveolars: teeth nearly together
    ("KG",       0.32, 0.50, 0.00, 0.00),  # velars and glottals: mouth follows the vowels
    ("CH",       0.18, 0.30, 0.00, 0.75),  # postalveolars: lips protruded
    ("R",        0.25, 0.35, 0.00, 0.55),  # r and r-coloured vowels
    ("WU",       0.15, 0.15, 0.10, 1.00),  # w and close rounded vowels
    ("AA",       0.90, 0.55, 0.00, 0.00),  # open vowels
    ("EH",       0.55, 0.62, 0.00, 0.00),  # open-mid front / central vowels
    ("EE",       0.20, 0.90, 0.00, 0.00),  # close front vowels and palatal glide
    ("O",        0.65, 0.30, 0.00, 0.70),  # back rounded vowels
    ("schwa",    0.32, 0.50, 0.00, 0.00),  # reduced vowels: relaxed mid
)
VISEME_NAMES: tuple[str, ...] = tuple(c[0] for c in _CLASSES)
MOUTH_COLUMNS = ("jaw_open", "lip_width", "lip_closure")
VISEME_TARGETS = np.array([c[1:] for c in _CLASSES], np.float32)  # [V, 4]: mouth columns + lip_round
FALLBACK = "schwa"
_ID = {n: i for i, n in enumerate(VISEME_NAMES)}

# Phoneme mnemonics after stress (' ,) and length (:) marks are removed; see normalize_phoneme.
_MEMBERS: dict[str, tuple[str, ...]] = {
    "sil": ("_", "_!", "_|", "_:"),
    "PBM": ("p", "b", "m"),
    "FV": ("f", "v"),
    "TH": ("T", "D"),
    "DNTLSZ": ("t", "d", "n", "l", "s", "z", "t#", "t2", "t[", "n-"),
    "KG": ("k", "g", "N", "x", "h", "?"),  # ? is a glottal stop
    "CH": ("S", "Z", "tS", "dZ"),
    "R": ("r", "r-", "3", "VR", "IR"),
    "WU": ("w", "w#", "u", "U", "U@"),
    "AA": ("a", "aa", "A", "A@", "aI", "aI2", "aI3", "aI@", "aU"),
    "EH": ("E", "e@", "eI", "V"),
    "EE": ("i", "I", "I2", "I#", "i@", "i@3", "j", ";"),  # ; is en-029's palatal off-glide
    "O": ("0", "O", "O2", "O@", "o@", "oU", "OI"),
    "schwa": ("@", "@-", "@2", "@L", "a#"),
}
PHONEME_TO_VISEME: dict[str, str] = {p: v for v, ps in _MEMBERS.items() for p in ps}
# Diphthongs move: their second half aims at another viseme's shape.
_OFFGLIDE: dict[str, str] = {"aI": "EE", "aI2": "EE", "aI3": "EE", "eI": "EE", "OI": "EE", "aU": "WU",
                             "oU": "WU", "aI@": "schwa", "i@": "schwa", "e@": "schwa", "U@": "schwa"}


def normalize_phoneme(ph: str) -> str:
    """Drop eSpeak's stress marks (' ,) and length mark (:): "'aI" -> "aI", "i:" -> "i"."""
    if ph.startswith("_"):
        return ph  # pauses keep their marks: "_:" is a long pause
    return re.sub(r"[',:]", "", ph) or ph


def viseme_of(ph: str) -> int:
    """Viseme id of an eSpeak phoneme (fallback: ``schwa``)."""
    return _ID[PHONEME_TO_VISEME.get(normalize_phoneme(ph), FALLBACK)]


def is_mapped(ph: str) -> bool:
    """Whether ``ph`` has an explicit entry (as opposed to the fallback)."""
    return normalize_phoneme(ph) in PHONEME_TO_VISEME


def _keyframes(phonemes: list[tuple[str, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Target times and [K, 4] targets. A phoneme holds its target over its middle half (so long
    vowels plateau instead of peaking for one instant); a diphthong moves to its off-glide."""
    times, targets = [], []
    for ph, t0, t1 in phonemes:
        v = viseme_of(ph)
        glide = _OFFGLIDE.get(normalize_phoneme(ph))
        if glide is None:
            times += [t0 + 0.25 * (t1 - t0), t0 + 0.75 * (t1 - t0)]
            targets += [VISEME_TARGETS[v], VISEME_TARGETS[v]]
        else:
            times += [t0 + 0.3 * (t1 - t0), t0 + 0.85 * (t1 - t0)]
            targets += [VISEME_TARGETS[v], VISEME_TARGETS[_ID[glide]]]
    return np.asarray(times, np.float64), np.asarray(targets, np.float32).reshape(-1, 4)


# Anticipatory coarticulation: lips move toward the next sound before it starts, so the
# kernel (offsets -1..+2 frames) leans forward.
_KERNEL = np.array([0.15, 0.4, 0.3, 0.15], np.float32)
_KERNEL_OFFSETS = np.array([-1, 0, 1, 2])


def mouth_track(phonemes: list[tuple[str, float, float]], n_frames: int, fps: int = 25
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame viseme ids int16 [T] and targets float32 [T, 4] (jaw_open, lip_width, lip_closure,
    lip_round), all in [0, 1]. Frames outside the phoneme track are silence."""
    T = int(n_frames)
    centres = (np.arange(T) + 0.5) / fps
    sil = _ID["sil"]
    ids = np.full(T, sil, np.int16)
    if T == 0:
        return ids, np.zeros((0, 4), np.float32)
    starts = np.array([p[1] for p in phonemes], np.float64)
    ends = np.array([p[2] for p in phonemes], np.float64)
    if len(phonemes):
        k = np.searchsorted(starts, centres, side="right") - 1
        inside = (k >= 0) & (centres < ends[np.clip(k, 0, None)])
        pid = np.array([viseme_of(p[0]) for p in phonemes], np.int16)
        ids[inside] = pid[k[inside]]
    # keyframes, padded with rest at both ends so the mouth opens from and closes to silence
    times, targets = _keyframes(phonemes)
    rest = VISEME_TARGETS[sil]
    t_end = max(float(ends.max()) if len(ends) else 0.0, T / fps)
    times = np.concatenate([[-1.0 / fps], times, [t_end + 1.0 / fps]])
    targets = np.concatenate([rest[None], targets, rest[None]])
    curves = np.stack([np.interp(centres, times, targets[:, c]) for c in range(4)], axis=1)
    # smooth with the lookahead kernel (edge-padded)
    padded = np.pad(curves, ((1, 2), (0, 0)), mode="edge")
    smooth = sum(w * padded[1 + o: 1 + o + T] for w, o in zip(_KERNEL, _KERNEL_OFFSETS))
    # smoothing must not blur away bilabial closures: the frame holding each p/b/m centre closes
    pbm = _ID["PBM"]
    for (ph, t0, t1) in phonemes:
        if viseme_of(ph) == pbm:
            f = int(np.clip(np.floor(0.5 * (t0 + t1) * fps), 0, T - 1))
            smooth[f, 0] = min(smooth[f, 0], VISEME_TARGETS[pbm, 0])
            smooth[f, 2] = max(smooth[f, 2], VISEME_TARGETS[pbm, 2])
            ids[f] = pbm
    return ids, np.clip(smooth, 0.0, 1.0).astype(np.float32)


def viseme_track(phonemes: list[tuple[str, float, float]], n_frames: int, fps: int = 25
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Viseme ids int16 [T] and mouth targets float32 [T, 3] (jaw_open, lip_width, lip_closure)."""
    ids, curves = mouth_track(phonemes, n_frames, fps)
    return ids, np.ascontiguousarray(curves[:, :3])
