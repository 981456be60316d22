"""N-gram baselines over token ids: the models a trained network has to beat, and IDyOM's
long-term model (training.baselines).

Every model reads pieces as integer token sequences, each starting with BOS, and
predicts every token after that first BOS.

- :class:`UnigramModel`: add-one smoothed token frequencies.
- :class:`KneserNeyModel`: interpolated modified Kneser-Ney (Chen & Goodman), the
  order chosen on the validation split. Contexts are 64-bit rolling hashes held in
  sorted NumPy arrays, so orders up to 20 fit in memory and look-ups are
  vectorised ``searchsorted`` calls. Contexts reaching before a piece's start are
  padded with BOS.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from liveimpro.config.fields import FieldSpec, check_field
from liveimpro.music.vocabulary import Vocabulary

BOS = Vocabulary.BOS
MAX_ORDER = 20
VOCAB_SIZE = FieldSpec("tokens in the vocabulary", low=2)
ORDER = FieldSpec("an n-gram model's order: context tokens plus one", low=1, high=MAX_ORDER)
KNESER_NEY_ORDERS = tuple(range(2, MAX_ORDER + 1))  # one pass up the levels scores them all

_CONTEXT_STEP = np.uint64(0x9E3779B97F4A7C15)
_TOKEN_STEP = np.uint64(0xC2B2AE3D27D4EB4F)


class TokenModel(Protocol):
    def token_probabilities(self, sequences: Sequence[Sequence[int]]) -> np.ndarray: ...


def bits_per_token(model: TokenModel, sequences: Sequence[Sequence[int]]) -> float:
    """Mean -log2 p over every token after each piece's first BOS."""
    probabilities = model.token_probabilities(sequences)
    return float(-np.mean(np.log2(probabilities)))


# Corpus and hashing ------------------------------------------------------------------


@dataclass(frozen=True)
class TokenCorpus:
    """Pieces concatenated, with the positions whose token is predicted."""

    tokens: np.ndarray  # (N,) int64, all pieces back to back
    piece_start: np.ndarray  # (N,) int64, index of each token's piece start
    positions: np.ndarray  # (P,) int64, every index except the pieces' first tokens

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]], vocab_size: int) -> TokenCorpus:
        if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Sequence):
            raise TypeError(f"sequences must be a sequence of pieces, got {type(sequences)}")
        pieces = [_piece_array(piece, vocab_size) for piece in sequences]
        if not pieces:
            raise ValueError("sequences must hold at least one piece")
        lengths = np.array([len(piece) for piece in pieces])
        starts = np.cumsum(lengths) - lengths
        tokens = np.concatenate(pieces)
        piece_start = np.repeat(starts, lengths)
        positions = np.flatnonzero(np.arange(len(tokens)) != piece_start)
        if len(positions) == 0:
            raise ValueError("sequences must hold at least one token after a BOS")
        return cls(tokens, piece_start, positions)

    @property
    def targets(self) -> np.ndarray:
        return self.tokens[self.positions]  # (P,)

    def context_hashes(self, max_length: int) -> Iterator[np.ndarray]:
        """Hashes of the contexts of length 0, 1, ..., max_length at every position."""
        hashes = np.zeros(len(self.positions), dtype=np.uint64)  # (P,)
        yield hashes
        for length in range(1, max_length + 1):
            source = self.positions - length
            inside = source >= self.piece_start[self.positions]
            token = np.where(inside, self.tokens[np.maximum(source, 0)], BOS)
            hashes = _mix(hashes + (token.astype(np.uint64) + np.uint64(1)) * _CONTEXT_STEP)
            yield hashes


def _piece_array(piece: Sequence[int], vocab_size: int) -> np.ndarray:
    array = np.asarray(piece)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"each piece must be a 1-D sequence of ints, got {array.dtype}")
    if len(array) == 0 or array[0] != BOS:
        raise ValueError(f"each piece must start with BOS={BOS}")
    if array.min() < 0 or array.max() >= vocab_size:
        raise ValueError(f"tokens must be in [0, {vocab_size - 1}]")
    return array.astype(np.int64)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the whole 64-bit word."""
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _gram_hashes(context_hashes: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    return _mix(context_hashes ^ (tokens.astype(np.uint64) + np.uint64(1)) * _TOKEN_STEP)


# Unigram ------------------------------------------------------------------------------


class UnigramModel:
    """Add-one smoothed frequencies of the predicted tokens."""

    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = probabilities  # (V,)

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[int]], vocab_size: int) -> UnigramModel:
        check_field("vocab_size", vocab_size, int, VOCAB_SIZE)
        corpus = TokenCorpus.from_sequences(sequences, vocab_size)
        counts = np.bincount(corpus.targets, minlength=vocab_size) + 1.0  # (V,)
        return cls(counts / counts.sum())

    def distribution(self) -> np.ndarray:
        return self.probabilities.copy()

    def token_probabilities(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        corpus = TokenCorpus.from_sequences(sequences, len(self.probabilities))
        return self.probabilities[corpus.targets]  # (P,)


# Kneser-Ney ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Level:
    """One context length of an interpolated Kneser-Ney model.

    p(w | h) = alpha(h, w) + gamma(h) * p(w | shorter h), for contexts h seen in
    training; an unseen context passes the shorter context's distribution through.
    """

    context_keys: np.ndarray  # (C,) uint64, sorted context hashes
    gamma: np.ndarray  # (C,) float64, mass each context hands to the shorter one
    gram_keys: np.ndarray  # (G,) int64, sorted context index * V + token
    alpha: np.ndarray  # (G,) float64, discounted count over the context's total

    @classmethod
    def from_counts(
        cls, context_hashes: np.ndarray, tokens: np.ndarray, counts: np.ndarray, vocab_size: int
    ) -> _Level:
        """A level from distinct (context, token) grams and their (continuation) counts."""
        context_keys, context_index = np.unique(context_hashes, return_inverse=True)
        discount = _modified_discounts(counts)[np.minimum(counts, 3)]  # (G,)
        totals = np.bincount(context_index, weights=counts)  # (C,)
        gamma = np.bincount(context_index, weights=discount) / totals
        alpha = (counts - discount) / totals[context_index]
        gram_keys = context_index.astype(np.int64) * vocab_size + tokens
        order = np.argsort(gram_keys)
        return cls(context_keys, gamma, gram_keys[order], alpha[order])

    def _find_contexts(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.searchsorted(self.context_keys, hashes)
        index = np.minimum(index, len(self.context_keys) - 1)
        return index, self.context_keys[index] == hashes

    def apply_to_tokens(
        self, hashes: np.ndarray, tokens: np.ndarray, shorter: np.ndarray, vocab_size: int
    ) -> np.ndarray:
        """p(token | context) at each position, from the shorter context's (P,) values."""
        context, seen = self._find_contexts(hashes)
        keys = context * vocab_size + tokens
        gram = np.minimum(np.searchsorted(self.gram_keys, keys), len(self.gram_keys) - 1)
        alpha = np.where(seen & (self.gram_keys[gram] == keys), self.alpha[gram], 0.0)
        return np.where(seen, alpha + self.gamma[context] * shorter, shorter)

    def apply_to_distributions(
        self, hashes: np.ndarray, shorter: np.ndarray, vocab_size: int
    ) -> None:
        """Turn (M, V) shorter-context distributions into this level's, in place."""
        context, seen = self._find_contexts(hashes)
        rows = np.flatnonzero(seen)
        context = context[rows]
        shorter[rows] *= self.gamma[context][:, None]
        first = np.searchsorted(self.gram_keys, context * vocab_size)
        stop = np.searchsorted(self.gram_keys, (context + 1) * vocab_size)
        lengths = stop - first
        gram_rows = np.repeat(rows, lengths)  # (K,) one entry per seen gram of each row
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        grams = np.repeat(first, lengths) + offsets
        shorter[gram_rows, self.gram_keys[grams] % vocab_size] += self.alpha[grams]


def _modified_discounts(counts: np.ndarray) -> np.ndarray:
    """[0, D1, D2, D3+] from the counts of counts (Chen & Goodman), kept in (0, c]."""
    n1, n2, n3, n4 = np.bincount(np.minimum(counts, 4), minlength=5)[1:5].astype(float)
    y = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
    estimates = [
        1 - 2 * y * n2 / n1 if n1 > 0 else 0.5,
        2 - 3 * y * n3 / n2 if n2 > 0 else 1.0,
        3 - 4 * y * n4 / n3 if n3 > 0 else 1.5,
    ]
    # A zero discount would give unseen tokens zero probability in that context.
    clipped = [min(max(d, 0.05), c) for c, d in enumerate(estimates, start=1)]
    return np.array([0.0, *clipped])


class _LevelBuilder:
    """Builds and caches the levels of every order from one training corpus."""

    def __init__(self, corpus: TokenCorpus, vocab_size: int, max_order: int) -> None:
        self.vocab_size = vocab_size
        self.targets = corpus.targets
        self.hashes = list(corpus.context_hashes(max_order - 1))  # max_order x (P,) uint64
        self._continuation: dict[int, _Level] = {}

    def raw(self, length: int) -> _Level:
        """The top level of a model: raw counts of the grams with this context length."""
        hashes = self.hashes[length]
        _, first, counts = np.unique(
            _gram_hashes(hashes, self.targets), return_index=True, return_counts=True
        )
        return _Level.from_counts(hashes[first], self.targets[first], counts, self.vocab_size)

    def continuation(self, length: int) -> _Level:
        """A lower level: how many distinct tokens precede each gram."""
        if length not in self._continuation:
            longer = _gram_hashes(self.hashes[length + 1], self.targets)
            _, distinct = np.unique(longer, return_index=True)
            hashes, targets = self.hashes[length][distinct], self.targets[distinct]
            _, first, counts = np.unique(
                _gram_hashes(hashes, targets), return_index=True, return_counts=True
            )
            self._continuation[length] = _Level.from_counts(
                hashes[first], targets[first], counts, self.vocab_size
            )
        return self._continuation[length]

    def levels(self, order: int) -> list[_Level]:
        return [self.continuation(length) for length in range(order - 1)] + [self.raw(order - 1)]


class KneserNeyModel:
    """Interpolated modified Kneser-Ney n-gram model over token ids."""

    def __init__(self, levels: list[_Level], vocab_size: int) -> None:
        self.levels = levels
        self.vocab_size = vocab_size

    @property
    def order(self) -> int:
        return len(self.levels)

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[int]], vocab_size: int, order: int) -> KneserNeyModel:
        check_field("vocab_size", vocab_size, int, VOCAB_SIZE)
        check_field("order", order, int, ORDER)
        builder = _LevelBuilder(
            TokenCorpus.from_sequences(sequences, vocab_size), vocab_size, order
        )
        return cls(builder.levels(order), vocab_size)

    @classmethod
    def fit_select(
        cls,
        train: Sequence[Sequence[int]],
        validation: Sequence[Sequence[int]],
        vocab_size: int,
        orders: Sequence[int] = KNESER_NEY_ORDERS,
    ) -> tuple[KneserNeyModel, dict[int, float]]:
        """The order with the lowest validation bits/token, and every order's figure."""
        check_field("vocab_size", vocab_size, int, VOCAB_SIZE)
        if not orders:
            raise ValueError("orders must not be empty")
        for order in orders:
            check_field("order", order, int, ORDER)
        builder = _LevelBuilder(
            TokenCorpus.from_sequences(train, vocab_size), vocab_size, max(orders)
        )
        validation_corpus = TokenCorpus.from_sequences(validation, vocab_size)
        targets = validation_corpus.targets
        # Lower levels are shared by every order, so one pass up the levels scores them all.
        shorter = np.full(len(targets), 1.0 / vocab_size)  # (P,)
        bits: dict[int, float] = {}
        for length, hashes in enumerate(validation_corpus.context_hashes(max(orders) - 1)):
            if length + 1 in orders:
                top = builder.raw(length).apply_to_tokens(hashes, targets, shorter, vocab_size)
                bits[length + 1] = float(-np.mean(np.log2(top)))
            if length + 1 < max(orders):
                level = builder.continuation(length)
                shorter = level.apply_to_tokens(hashes, targets, shorter, vocab_size)
        best = min(bits, key=bits.__getitem__)
        return cls(builder.levels(best), vocab_size), bits

    def token_probabilities(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        corpus = TokenCorpus.from_sequences(sequences, self.vocab_size)
        targets = corpus.targets
        probabilities = np.full(len(targets), 1.0 / self.vocab_size)  # (P,)
        for level, hashes in zip(self.levels, corpus.context_hashes(self.order - 1), strict=True):
            probabilities = level.apply_to_tokens(hashes, targets, probabilities, self.vocab_size)
        return probabilities

    def distributions(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """(P, V): the distribution at every predicted position, pieces back to back."""
        corpus = TokenCorpus.from_sequences(sequences, self.vocab_size)
        result = np.full((len(corpus.positions), self.vocab_size), 1.0 / self.vocab_size)
        for level, hashes in zip(self.levels, corpus.context_hashes(self.order - 1), strict=True):
            level.apply_to_distributions(hashes, result, self.vocab_size)
        return result
