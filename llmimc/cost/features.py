"""The iteration feature vector: every cost coefficient of an item is linear in it.

    f = [has_work, n_seq, Sum T, Sum L, Sum T*L]      (has_work = 1 when the iteration has work)

A prefill chunk (T tokens, p past) contributes n_seq 1, T, L = p + T, T*L; a decoding request with c
past tokens contributes (T = 1, L = c + 1). OpGraph Polys are per sequence, so Sum over sequences of
Poly(T, L) = c0*n_seq + c_t*Sum T + c_l*Sum L + c_tl*Sum T*L exactly (``llmimc.cost.compile``).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from llmimc.cost.iteration import PrefillChunk
from llmimc.model.opgraph import Poly


class Feature(IntEnum):
    """Index of one iteration feature (the feature axis of every coefficient array)."""

    HAS_WORK = 0  # 1 when the iteration has work (per-iteration floors and latencies)
    SEQUENCES = 1  # n_seq
    TOKENS = 2  # Sum T
    CONTEXT = 3  # Sum L
    TOKENS_X_CONTEXT = 4  # Sum T*L


NUM_FEATURES = len(Feature)


def poly_vec(p: Poly, scale: float = 1.0) -> np.ndarray:
    """Feature coefficients of a per-sequence Poly (x scale)."""
    return np.array([0.0, p.c0, p.c_t, p.c_l, p.c_tl]) * scale


def unit(feature: Feature, scale: float) -> np.ndarray:
    """``scale`` x one feature."""
    v = np.zeros(NUM_FEATURES)
    v[feature] = scale
    return v


def prefill_sums(prefill: list[PrefillChunk]) -> tuple[int, int, int]:
    """(Sum T, Sum L, Sum T x L) of the prefill chunks (L = past + new tokens), as exact integers."""
    sum_t = sum_l = sum_tl = 0
    for ch in prefill:
        length = ch.past_tokens + ch.tokens
        sum_t += ch.tokens
        sum_l += length
        sum_tl += ch.tokens * length
    return sum_t, sum_l, sum_tl


def features(prefill: list[PrefillChunk], decode_past_tokens: list[int]) -> np.ndarray:
    """Feature vector of one iteration (module docstring)."""
    n = len(prefill) + len(decode_past_tokens)
    if n == 0:
        return np.zeros(NUM_FEATURES)
    sum_t, sum_l, sum_tl = prefill_sums(prefill)
    # each decode sequence adds T = 1 and L = past + 1 (so T x L = L)
    n_dec = len(decode_past_tokens)
    dec_l = sum(decode_past_tokens) + n_dec
    sum_t += n_dec
    sum_l += dec_l
    sum_tl += dec_l
    return np.array([1.0 if sum_t > 0 else 0.0, float(n), sum_t, sum_l, sum_tl], dtype=float)
