"""Sentences for the synthetic world, drawn from the English words pocketsphinx ships.

The pronunciation dictionary (cmudict) gives the vocabulary; the bundled trigram language model
gives each word's unigram log-probability, so the sandbox prefers common words and samples them
with a tempered frequency. The result is grammatical-looking word salad: enough for phonetic
variety and realistic word rhythm, not meaning.

Held-out text comes in two strengths: disjoint sentence seeds per split (``sentence_rng``), or
disjoint content-word pools (``split_vocabulary``; the most frequent words stay shared because
no English sentence avoids "the").
"""
from __future__ import annotations

import re
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

# A few words nobody wants read aloud in a demo; the LM is trained on conversational text.
_BLOCKLIST = frozenset("""
ass asshole assholes bastard bitch bitches bullshit crap cunt damn dick fuck fucked fucking
goddamn hell nigga nigger piss pussy shit shitty slut whore sex sexy porn rape raped
""".split())
_WORD = re.compile(r"[a-z]{2,10}")


def _model_dir() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


@lru_cache(maxsize=4)
def vocabulary(size: int = 5000) -> tuple[tuple[str, ...], np.ndarray]:
    """The ``size`` most frequent plain words (2-10 lowercase letters, with a vowel letter, so no
    abbreviations like "pm") in frequency order, with their natural-log unigram probabilities."""
    import pocketsphinx

    lm = pocketsphinx.NGramModel.readfile(str(_model_dir() / "en-us.lm.bin"))
    seen: set[str] = {"a", "i"}
    scored = [(lm.prob(["a"]), "a"), (lm.prob(["i"]), "i")]
    with open(_model_dir() / "cmudict-en-us.dict", encoding="utf-8") as f:
        for line in f:
            w = line.split(" ", 1)[0]  # variants are "word(2)": the regex drops them
            if w in seen or w in _BLOCKLIST or not _WORD.fullmatch(w) or not re.search("[aeiouy]", w):
                continue
            seen.add(w)
            scored.append((lm.prob([w]), w))
    scored.sort(key=lambda s: (-s[0], s[1]))
    scored = scored[:size]
    # pocketsphinx log-probs use base 1.0001
    logp = np.array([s for s, _ in scored], np.float64) * np.log(1.0001)
    return tuple(w for _, w in scored), logp


def split_vocabulary(fractions: dict[str, float] | None = None, size: int = 5000, n_shared: int = 150,
                     seed: int = 0) -> dict[str, tuple[str, ...]]:
    """Disjoint content-word pools per split; the ``n_shared`` most frequent words are in every pool."""
    fractions = fractions or {"train": 0.8, "val": 0.1, "test": 0.1}
    words, _ = vocabulary(size)
    shared, rest = list(words[:n_shared]), np.array(words[n_shared:])
    order = np.random.default_rng(seed).permutation(len(rest))
    total = sum(fractions.values())
    pools, start = {}, 0
    for i, (name, frac) in enumerate(fractions.items()):
        stop = len(rest) if i == len(fractions) - 1 else start + int(round(len(rest) * frac / total))
        pools[name] = tuple(shared + sorted(rest[order[start:stop]].tolist()))
        start = stop
    return pools


def sentence_rng(split: str, index: int, seed: int = 0) -> np.random.Generator:
    """A generator for sentence ``index`` of ``split``; different splits never share a stream."""
    return np.random.default_rng([seed, zlib.crc32(split.encode()), index])


def make_sentence(rng: np.random.Generator, n_words: tuple[int, int] = (5, 12),
                  words: tuple[str, ...] | None = None, temperature: float = 0.5,
                  pool: str | None = None) -> str:
    """A sentence of ``n_words`` (inclusive range) words sampled by unigram frequency**temperature
    from ``words`` if given, or from the default ``split_vocabulary()`` pool named ``pool``
    ("train" / "val" / "test"); deterministic given ``rng``. Ends with "." or "?" and sometimes
    has a comma, which changes eSpeak's intonation and pauses."""
    if pool is not None:
        pools = _default_pools()
        if pool not in pools:
            raise ValueError(f"unknown word pool {pool!r}; use one of {', '.join(pools)}")
        words = pools[pool]
    vocab, p = _distribution(None if words is None else tuple(words), float(temperature))
    n = int(rng.integers(n_words[0], n_words[1] + 1))
    picked = [vocab[i] for i in rng.choice(len(vocab), size=n, p=p)]
    if n >= 6 and rng.random() < 0.3:
        cut = int(rng.integers(2, n - 2))
        picked[cut] += ","
    picked = [w if w != "i" else "I" for w in picked]
    picked[0] = picked[0][0].upper() + picked[0][1:]
    return " ".join(picked) + ("?" if rng.random() < 0.15 else ".")


@lru_cache(maxsize=1)
def _default_pools() -> dict[str, tuple[str, ...]]:
    return split_vocabulary()


@lru_cache(maxsize=16)
def _distribution(words: tuple[str, ...] | None, temperature: float) -> tuple[tuple[str, ...], np.ndarray]:
    vocab, logp = vocabulary()
    if words is not None:
        index = {w: i for i, w in enumerate(vocab)}
        keep = np.array([index[w] for w in words if w in index], dtype=np.int64)
        if keep.size == 0:
            raise ValueError("make_sentence: none of the given words is in the vocabulary")
        vocab, logp = tuple(vocab[i] for i in keep), logp[keep]
    p = np.exp(temperature * (logp - logp.max()))
    return vocab, p / p.sum()
