import math

import numpy as np
import pytest

from liveimpro.core.model import ModelSpec, build_keras_model
from liveimpro.core.shards import Shard
from liveimpro.music.vocabulary import Vocabulary
from training.evaluate import EvaluateOptions, lstm_scores

VOCABULARY = Vocabulary()


def test_evaluate_options_check_values():
    with pytest.raises(ValueError, match="pieces must be >= 1"):
        EvaluateOptions(pieces=0)
    with pytest.raises(TypeError, match="prime_bars must be of type int"):
        EvaluateOptions(prime_bars=2.0)


def shard_of(pieces: list[np.ndarray]) -> Shard:
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])])
    names = np.asarray([f"piece{i}" for i in range(len(pieces))])
    return Shard(np.concatenate(pieces).astype(np.int16), offsets, np.full(len(pieces), 96), names)


@pytest.mark.slow
def test_padding_in_a_batch_does_not_change_the_scores():
    v = VOCABULARY
    rng = np.random.default_rng(0)
    pieces = [
        np.concatenate([[v.BOS], rng.integers(v.note_on_base, v.size, n), [v.EOS]])
        for n in (3, 17, 40)
    ]
    model = build_keras_model(ModelSpec(vocab_size=v.size, embed_dim=8, layers=1, units=8))

    together = lstm_scores(model, shard_of(pieces), v)
    alone = [lstm_scores(model, shard_of([piece]), v) for piece in pieces]
    assert together["test_tokens"] == sum(s["test_tokens"] for s in alone) == 60 + 3
    bits = sum(s["test_bits"] * s["test_tokens"] for s in alone) / together["test_tokens"]
    assert together["test_bits"] == pytest.approx(bits, rel=1e-5)
    adapted = sum(s["test_bits_adapted"] * s["test_tokens"] for s in alone)
    assert together["test_bits_adapted"] == pytest.approx(
        adapted / together["test_tokens"], rel=1e-5
    )
    assert math.isfinite(together["test_bits"]) and 0 <= together["test_accuracy"] <= 1
