"""The next-token baselines that a trained network has to beat, all together.

The unigram and Kneser-Ney models are training.ngram's. :class:`IdyomModel` is IDyOM's
long-term model (Kneser-Ney over the training set) mixed, token by token, with a
:class:`ShortTermModel` learned within the piece as it is read; each model's weight is its
entropy over the maximum, to the power ``-bias``, so the more certain model counts more.
:func:`evaluate_baselines` fits each on the training split, chooses its settings on
validation and scores it on test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from liveimpro.core.adaptation import (
    COMBINATIONS,
    Combination,
    ShortTermModel,
    mix_by_entropy,
    normalised_entropy,
    weighted_mixture,
)
from training.ngram import MAX_ORDER, KneserNeyModel, TokenCorpus, UnigramModel, bits_per_token

SHORT_TERM_ORDERS = (2, 4, 8)
ENTROPY_BIASES = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0)
DISTRIBUTION_CHUNK = 4096  # predicted positions per dense (chunk, V) block


# IDyOM --------------------------------------------------------------------------------


def short_term_distributions(
    sequences: Sequence[Sequence[int]], vocab_size: int, max_order: int
) -> np.ndarray:
    """(P, V): the short-term model's distribution at every predicted position."""
    model = ShortTermModel(vocab_size, max_order)
    rows = []
    for piece in sequences:
        model.reset()
        model.update(int(piece[0]))
        for token in piece[1:]:
            rows.append(model.distribution())
            model.update(int(token))
    return np.array(rows).reshape(-1, vocab_size)


def _piece_chunks(sequences: Sequence[Sequence[int]]) -> Iterator[Sequence[Sequence[int]]]:
    """Consecutive runs of pieces holding about DISTRIBUTION_CHUNK predicted tokens."""
    first, predicted = 0, 0
    for index, piece in enumerate(sequences):
        predicted += len(piece) - 1
        if predicted >= DISTRIBUTION_CHUNK:
            yield sequences[first : index + 1]
            first, predicted = index + 1, 0
    if first < len(sequences):
        yield sequences[first:]


@dataclass(frozen=True)
class IdyomModel:
    """Long-term Kneser-Ney model mixed with a within-piece short-term model."""

    long_term: KneserNeyModel
    short_term_order: int
    bias: float
    combination: Combination

    @classmethod
    def fit_select(
        cls,
        long_terms: Sequence[KneserNeyModel],
        validation: Sequence[Sequence[int]],
        short_term_orders: Sequence[int] = SHORT_TERM_ORDERS,
        biases: Sequence[float] = ENTROPY_BIASES,
    ) -> tuple[IdyomModel, dict[tuple[int, int, float, str], float]]:
        """The setting with the lowest validation bits/token, and every setting's figure.

        A setting is (long-term order, short-term order, bias, combination); the
        long-term candidates must differ in order.
        """
        by_order = {model.order: model for model in long_terms}
        if not by_order or len(by_order) != len(long_terms):
            raise ValueError("long_terms must hold at least one model, each of a different order")
        vocab_size = long_terms[0].vocab_size
        log_losses: dict[tuple[int, int, float, str], float] = {}
        predicted = 0
        for chunk in _piece_chunks(validation):
            targets = TokenCorpus.from_sequences(chunk, vocab_size).targets
            predicted += len(targets)
            short_term_rows = {  # order -> (M, V)
                order: short_term_distributions(chunk, vocab_size, order)
                for order in short_term_orders
            }
            for long_term_order, long_term in by_order.items():
                long_term_rows = long_term.distributions(chunk)  # (M, V)
                for short_term_order, short_rows in short_term_rows.items():
                    # Entropies are shared by every bias and combination.
                    entropies = np.stack(
                        [normalised_entropy(long_term_rows), normalised_entropy(short_rows)]
                    )  # (2, M)
                    for bias in biases:
                        for combination in COMBINATIONS:
                            mixed = weighted_mixture(
                                long_term_rows, short_rows, entropies, bias, combination
                            )
                            loss = -np.log2(mixed[np.arange(len(targets)), targets]).sum()
                            key = (long_term_order, short_term_order, float(bias), combination)
                            log_losses[key] = log_losses.get(key, 0.0) + loss
        bits = {key: loss / predicted for key, loss in log_losses.items()}
        long_term_order, short_term_order, bias, combination = min(bits, key=bits.__getitem__)
        return cls(by_order[long_term_order], short_term_order, bias, combination), bits

    def token_probabilities(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        vocab_size = self.long_term.vocab_size
        parts = []
        for chunk in _piece_chunks(sequences):
            mixed = mix_by_entropy(
                self.long_term.distributions(chunk),
                short_term_distributions(chunk, vocab_size, self.short_term_order),
                self.bias,
                self.combination,
            )
            targets = TokenCorpus.from_sequences(chunk, vocab_size).targets
            parts.append(mixed[np.arange(len(targets)), targets])
        return np.concatenate(parts)  # (P,)


# All together -------------------------------------------------------------------------


def evaluate_baselines(
    train: Sequence[Sequence[int]],
    val: Sequence[Sequence[int]],
    test: Sequence[Sequence[int]],
    vocab_size: int,
) -> dict:
    """Test bits/token of every baseline, the settings chosen on validation, and timings."""
    started = time.perf_counter()
    unigram = UnigramModel.fit(train, vocab_size)
    fitted = time.perf_counter()
    unigram_bits = bits_per_token(unigram, test)
    results: dict = {
        "unigram": {
            "test_bits": unigram_bits,
            "fit_s": fitted - started,
            "test_s": time.perf_counter() - fitted,
        }
    }

    started = time.perf_counter()
    kneser_ney, order_bits = KneserNeyModel.fit_select(train, val, vocab_size)
    fitted = time.perf_counter()
    results["kneser_ney"] = {
        "test_bits": bits_per_token(kneser_ney, test),
        "order": kneser_ney.order,
        "validation_bits_by_order": order_bits,
        "fit_select_s": fitted - started,
        "test_s": time.perf_counter() - fitted,
    }

    started = time.perf_counter()
    # The order best alone need not be best beside the short-term model: try the longest too.
    long_terms = [kneser_ney]
    if kneser_ney.order != MAX_ORDER:
        long_terms.append(KneserNeyModel.fit(train, vocab_size, MAX_ORDER))
    idyom, setting_bits = IdyomModel.fit_select(long_terms, val)
    fitted = time.perf_counter()
    results["idyom"] = {
        "test_bits": bits_per_token(idyom, test),
        "long_term_order": idyom.long_term.order,
        "short_term_order": idyom.short_term_order,
        "bias": idyom.bias,
        "combination": idyom.combination,
        "validation_bits": min(setting_bits.values()),
        "fit_select_s": fitted - started,
        "test_s": time.perf_counter() - fitted,
    }
    return results
