import numpy as np
import pytest

from liveimpro.core.adaptation import ShortTermModel, mix_by_entropy
from liveimpro.music.vocabulary import Vocabulary

BOS = Vocabulary.BOS
VOCAB = 12
MOTIF = [3, 4, 5, 6, 7, 3, 4, 5, 8, 9]


def test_short_term_model_distribution_sums_to_one():
    model = ShortTermModel(VOCAB, max_order=3)
    np.testing.assert_allclose(model.distribution(), np.full(VOCAB, 1 / VOCAB))
    for token in [BOS, *MOTIF, *MOTIF[:3]]:
        model.update(token)
        assert model.distribution().sum() == pytest.approx(1.0)
    # After "3 4 5 6 7 3 4 5 8 9 3 4 5" the next token is one seen after "4 5".
    assert set(np.argsort(model.distribution())[-2:]) == {6, 8}
    model.reset()
    np.testing.assert_allclose(model.distribution(), np.full(VOCAB, 1 / VOCAB))


def test_short_term_model_rejects_bad_tokens():
    with pytest.raises(ValueError, match=r"\[0, 11\]"):
        ShortTermModel(VOCAB).update(VOCAB)
    with pytest.raises(TypeError):
        ShortTermModel(VOCAB).update(3.0)
    with pytest.raises(TypeError):
        ShortTermModel(VOCAB, max_order=2.0)


@pytest.mark.parametrize("combination", ["arithmetic", "geometric"])
def test_mix_by_entropy_favours_the_certain_model(combination):
    certain = np.full((1, 4), 0.01)
    certain[0, 2] = 0.97
    flat = np.full((1, 4), 0.25)
    mixed = mix_by_entropy(certain, flat, bias=2.0, combination=combination)
    assert mixed.sum() == pytest.approx(1.0)
    assert mixed[0, 2] > 0.9
    equal = mix_by_entropy(certain, flat, bias=0.0, combination="arithmetic")
    assert equal[0, 2] == pytest.approx((0.97 + 0.25) / 2)
    with pytest.raises(ValueError, match=">= 0"):
        mix_by_entropy(certain, flat, bias=-1.0, combination=combination)


def test_truncate_forgets_exactly_what_was_read_after():
    model = ShortTermModel(VOCAB, max_order=3)
    for token in [BOS, *MOTIF]:
        model.update(token)
    before = model.distribution()
    for token in MOTIF[:4]:
        model.update(token)
    assert not np.allclose(model.distribution(), before)
    model.truncate(len(MOTIF) + 1)
    np.testing.assert_array_equal(model.distribution(), before)
    model.truncate(0)
    assert model.counts == [{} for _ in range(4)]
