"""The tier's features: hashed character n-grams, exactly as scikit-learn's
`HashingVectorizer(analyzer="char_wb", ngram_range=NGRAMS, n_features=N_FEATURES,
alternate_sign=False)` makes them, computed here without importing scikit-learn.

Training runs the vectorizer itself (in C, over 100,000 texts); a prediction
needs one text's columns, and the vectorizer's own `transform` of a single text
costs some 240 µs of input checks and sparse-matrix building (the analyzer is
14 µs of it), and importing scikit-learn costs a second of the engine's start.
So the n-grams are cut here the way scikit-learn cuts them, and hashed with the
same MurmurHash3 (x86, 32 bit, seed 0): a test holds both to the vectorizer's
columns. Hashing keeps no vocabulary: nothing to store or grow, constant memory.
"""

from __future__ import annotations

NGRAMS = (2, 5)  # character n-grams inside word boundaries, words padded with a space
N_FEATURES = 2**18  # columns: few collisions among a support desk's n-grams, 1 MB of slots

_M32 = 0xFFFFFFFF


def char_wb_ngrams(text: str, low: int = NGRAMS[0], high: int = NGRAMS[1]) -> list[str]:
    """scikit-learn's `char_wb` analyzer (its `_char_wb_ngrams`) for a text whose
    whitespace is already collapsed (the engine's normalised text)."""
    grams: list[str] = []
    add = grams.append
    for word in text.split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if length <= n:  # a short word counts once, whole, and no longer n-grams
                add(padded)
                break
            for start in range(length - n + 1):
                add(padded[start:start + n])
    return grams


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, signed: `sklearn.utils.murmurhash3_32(data, seed)`."""
    h = seed & _M32
    length = len(data)
    whole = length & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * 0xCC9E2D51) & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        h ^= (k * 0x1B873593) & _M32
        h = ((h << 13) | (h >> 19)) & _M32
        h = (h * 5 + 0xE6546B64) & _M32
    tail = length & 3
    if tail:
        k = int.from_bytes(data[whole:], "little")
        k = (k * 0xCC9E2D51) & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        h ^= (k * 0x1B873593) & _M32
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def column(gram: str, n_features: int = N_FEATURES) -> int:
    """The vectorizer's column for one n-gram (`_hashing_fast.transform`)."""
    h = murmurhash3_32(gram.encode("utf-8"))
    if h == -(1 << 31):  # abs() of it overflows in C: scikit-learn defines it so
        return (2147483647 - (n_features - 1)) % n_features
    return abs(h) % n_features
