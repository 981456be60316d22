"""Adapting to the piece being played: a short-term model of the tokens heard so far.

IDyOM's idea: a model built within the piece, as it is read, catches its own
motifs, and mixing it with the long-term model (the trained network, or an
n-gram model in the baselines) by entropy weighting lets the more certain of the
two count more. NumPy only: the real-time engine uses it beside the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np

MAX_SHORT_TERM_ORDER = 20
COMBINATIONS = ("arithmetic", "geometric")
Combination = Literal["arithmetic", "geometric"]


class ShortTermModel:
    """An interpolated PPM-C (Witten-Bell) model of the piece read so far.

    Starts empty at :meth:`reset`; :meth:`update` adds one token. NumPy only, so
    the runtime engine can run it beside the network.
    """

    def __init__(self, vocab_size: int, max_order: int = 4) -> None:
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
        if not isinstance(max_order, int) or isinstance(max_order, bool):
            raise TypeError(f"max_order must be an int, got {type(max_order).__name__}")
        if not 0 <= max_order <= MAX_SHORT_TERM_ORDER:
            raise ValueError(f"max_order must be in [0, {MAX_SHORT_TERM_ORDER}], got {max_order}")
        self.vocab_size = vocab_size
        self.max_order = max_order
        self.reset()

    def reset(self) -> None:
        self.history: list[int] = []
        # Context length -> context -> token -> count.
        self.counts: list[dict[tuple[int, ...], dict[int, int]]] = [
            {} for _ in range(self.max_order + 1)
        ]

    def _contexts(self) -> Iterator[tuple[int, tuple[int, ...]]]:
        for length in range(min(self.max_order, len(self.history)) + 1):
            yield length, tuple(self.history[len(self.history) - length :])

    def update(self, token: int) -> None:
        if not isinstance(token, (int, np.integer)) or isinstance(token, bool):
            raise TypeError(f"token must be an int, got {type(token).__name__}")
        if not 0 <= token < self.vocab_size:
            raise ValueError(f"token must be in [0, {self.vocab_size - 1}], got {token}")
        for length, context in self._contexts():
            following = self.counts[length].setdefault(context, {})
            following[token] = following.get(token, 0) + 1
        self.history.append(int(token))

    def truncate(self, length: int) -> None:
        """Forget the tokens after the first ``length``, as if they were never read."""
        while len(self.history) > length:
            token = self.history.pop()
            for context_length, context in self._contexts():
                following = self.counts[context_length][context]
                following[token] -= 1
                if not following[token]:
                    del following[token]
                    if not following:
                        del self.counts[context_length][context]

    def distribution(self) -> np.ndarray:
        """(V,) the next token's distribution: uniform blended up through the contexts."""
        result = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for length, context in self._contexts():
            following = self.counts[length].get(context)
            if following is None:
                break  # a longer context holding this one was never seen either
            tokens = np.fromiter(following.keys(), dtype=np.int64, count=len(following))
            counts = np.fromiter(following.values(), dtype=float, count=len(following))
            total = counts.sum()
            # Escape method C: the escape mass grows with the number of distinct tokens.
            result *= len(following) / (total + len(following))
            result[tokens] += counts / (total + len(following))
        return result


def normalised_entropy(distributions: np.ndarray) -> np.ndarray:
    """(M, V) -> (M,) entropy over its maximum, kept above zero for the weights."""
    safe = np.maximum(distributions, 1e-300)
    entropy = -np.sum(distributions * np.log2(safe), axis=1)
    return np.maximum(entropy / np.log2(distributions.shape[1]), 1e-6)


def mix_by_entropy(
    long_term: np.ndarray, short_term: np.ndarray, bias: float, combination: Combination
) -> np.ndarray:
    """(M, V) x 2 -> (M, V): IDyOM's entropy-weighted mixture, rows summing to one."""
    if long_term.shape != short_term.shape:
        raise ValueError(f"shapes differ: {long_term.shape} and {short_term.shape}")
    if bias < 0:
        raise ValueError(f"bias must be >= 0, got {bias}")
    if combination not in COMBINATIONS:
        raise ValueError(f"combination must be one of {COMBINATIONS}, got {combination!r}")
    entropies = np.stack([normalised_entropy(long_term), normalised_entropy(short_term)])
    return weighted_mixture(long_term, short_term, entropies, bias, combination)


def weighted_mixture(
    long_term: np.ndarray,
    short_term: np.ndarray,
    entropies: np.ndarray,
    bias: float,
    combination: Combination,
) -> np.ndarray:
    """(M, V) x 2 and their (2, M) normalised entropies -> (M, V) mixture."""
    weights = entropies**-bias
    weights /= weights.sum(axis=0)  # (2, M)
    if combination == "arithmetic":
        return weights[0][:, None] * long_term + weights[1][:, None] * short_term
    log_mix = weights[0][:, None] * np.log(long_term) + weights[1][:, None] * np.log(short_term)
    mixed = np.exp(log_mix - log_mix.max(axis=1, keepdims=True))
    return mixed / mixed.sum(axis=1, keepdims=True)
