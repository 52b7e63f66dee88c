"""Phone alignment of arbitrary English audio (no transcript) -> the viseme jaw-open track.

The lip-sync metric needs the jaw-open target of the driving audio. Synthetic clips carry it (eSpeak's
own phoneme events, ``gt["mouth"]``); for any other audio we recognise phones with pocketsphinx in
allphone mode (phone-loop decoding constrained by the bundled English phone n-gram, so no transcript
is needed), map the CMU/ARPAbet phones to eSpeak mnemonics and reuse the world's viseme machinery
(:func:`sandbox.face.visemes.viseme_track`: same targets, coarticulation and bilabial closures).

Phone recognition without words is noisy (phone error rates of 30-40 % are typical), but the jaw track
only needs open vowels vs. closures vs. silence in roughly the right place, which survives most
substitutions (one vowel for another, one alveolar for another).
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from sandbox.constants import FPS, SAMPLE_RATE

PS_FRAME_RATE = 100  # pocketsphinx frames per second (10 ms hop)
# Phone-LM weight: on 9 eSpeak sentences x voices the jaw track correlates ~0.59 with eSpeak's own
# at 0.5-2, but only 0.27 at 6 and 0.16 at 10 (a strong LM overrides the acoustics); the insertion
# penalty made no difference between 0.001 and 10.
LANGUAGE_WEIGHT = 2.0
PHONE_INSERTION_PENALTY = 0.1

# CMU phone -> an eSpeak mnemonic of the same viseme class (stress is not recognised: AH is read as
# schwa, its most frequent realisation). Fillers (+NSN+, +SPN+, ...) and SIL are silence.
CMU_TO_ESPEAK: dict[str, str] = {
    "AA": "A", "AE": "a", "AH": "@", "AO": "O", "AW": "aU", "AY": "aI", "EH": "E", "ER": "3",
    "EY": "eI", "IH": "I", "IY": "i", "OW": "oU", "OY": "OI", "UH": "U", "UW": "u",
    "B": "b", "CH": "tS", "D": "d", "DH": "D", "F": "f", "G": "g", "HH": "h", "JH": "dZ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "N", "P": "p", "R": "r", "S": "s", "SH": "S", "T": "t",
    "TH": "T", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "Z", "SIL": "_",
}  # fmt: skip


@lru_cache(maxsize=1)
def _decoder():
    from pocketsphinx import Decoder, get_model_path, set_loglevel

    set_loglevel("FATAL")  # the decoder logs its whole configuration at INFO
    model = os.path.join(get_model_path(), "en-us")
    return Decoder(hmm=os.path.join(model, "en-us"), allphone=os.path.join(model, "en-us-phone.lm.bin"),
                   lw=LANGUAGE_WEIGHT, pip=PHONE_INSERTION_PENALTY, beam=1e-20, pbeam=1e-20,
                   samprate=SAMPLE_RATE, frate=PS_FRAME_RATE)


def phone_segments(audio: np.ndarray) -> list[tuple[str, float, float]]:
    """16 kHz mono float audio -> contiguous (CMU phone, start_s, end_s) segments ("SIL" for pauses)."""
    pcm = (np.clip(np.asarray(audio, np.float32).ravel(), -1.0, 1.0) * 32767).astype(np.int16)
    if pcm.size == 0:
        return []
    dec = _decoder()
    dec.start_utt()
    dec.process_raw(pcm.tobytes(), full_utt=True)
    dec.end_utt()
    segs = [(s.word, s.start_frame / PS_FRAME_RATE, (s.end_frame + 1) / PS_FRAME_RATE) for s in dec.seg()]
    return [(w if w in CMU_TO_ESPEAK else "SIL", t0, t1) for w, t0, t1 in segs]


def espeak_segments(audio: np.ndarray) -> list[tuple[str, float, float]]:
    """Like :func:`phone_segments` with eSpeak mnemonics, the labels ``viseme_track`` takes."""
    return [(CMU_TO_ESPEAK[p], t0, t1) for p, t0, t1 in phone_segments(audio)]


def jaw_open_track(audio: np.ndarray, n_frames: int, fps: int = FPS) -> np.ndarray:
    """Per-frame jaw-open target float32 [n_frames] in [0, 1] of any English speech audio."""
    from sandbox.face.visemes import viseme_track

    return viseme_track(espeak_segments(audio), n_frames, fps)[1][:, 0]
