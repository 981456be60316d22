import numpy as np
import pytest

from training.baselines import IdyomModel, evaluate_baselines, short_term_distributions
from training.ngram import BOS, KneserNeyModel, UnigramModel, bits_per_token

VOCAB = 12
EOS = 2
MOTIF = [3, 4, 5, 6, 7, 3, 4, 5, 8, 9]


def random_piece(rng: np.random.Generator, length: int) -> list[int]:
    return [BOS, *rng.integers(3, VOCAB, size=length).tolist(), EOS]


def motif_piece(rng: np.random.Generator, repeats: int) -> list[int]:
    """A random melody whose motif (transposed per piece) repeats within the piece."""
    motif = [3 + (t - 3 + int(rng.integers(0, 9))) % 9 for t in MOTIF]
    return [BOS, *random_piece(rng, 5)[1:-1], *motif * repeats, EOS]


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[list[int]]]:
    rng = np.random.default_rng(0)
    phrase = [3, 5, 7, 8, 7, 5, 3, 10]

    def piece() -> list[int]:
        # Stock phrases joined by random notes: only a long context predicts them.
        body = []
        for _ in range(4):
            body += phrase + rng.integers(3, VOCAB, size=2).tolist()
        return [BOS, *body, EOS]

    return {
        "train": [piece() for _ in range(60)],
        "val": [piece() for _ in range(10)],
        "test": [piece() for _ in range(10)],
    }


def test_unigram_distribution_sums_to_one_and_smooths(corpus):
    model = UnigramModel.fit(corpus["train"], VOCAB)
    distribution = model.distribution()
    assert distribution.shape == (VOCAB,)
    assert distribution.sum() == pytest.approx(1.0)
    assert distribution[0] > 0  # PAD never occurs but keeps a share
    assert model.token_probabilities([[BOS, 3, 0]]) == pytest.approx(distribution[[3, 0]])


@pytest.mark.parametrize("order", [1, 2, 3, 5, 8])
def test_kneser_ney_distributions_sum_to_one(corpus, order):
    model = KneserNeyModel.fit(corpus["train"], VOCAB, order)
    distributions = model.distributions(corpus["test"])
    targets = np.concatenate([piece[1:] for piece in corpus["test"]])
    assert distributions.shape == (len(targets), VOCAB)
    np.testing.assert_allclose(distributions.sum(axis=1), 1.0, atol=1e-12)
    assert distributions.min() > 0
    # The per-token path agrees with the dense one.
    probabilities = model.token_probabilities(corpus["test"])
    np.testing.assert_allclose(probabilities, distributions[np.arange(len(targets)), targets])


def test_kneser_ney_beats_unigram_and_selects_a_long_order(corpus):
    unigram = bits_per_token(UnigramModel.fit(corpus["train"], VOCAB), corpus["test"])
    model, validation_bits = KneserNeyModel.fit_select(
        corpus["train"], corpus["val"], VOCAB, orders=(2, 4, 8)
    )
    assert set(validation_bits) == {2, 4, 8}
    assert model.order == min(validation_bits, key=validation_bits.__getitem__)
    assert model.order > 2
    assert bits_per_token(model, corpus["test"]) < unigram - 0.5


def test_kneser_ney_handles_unseen_contexts_and_tokens(corpus):
    model = KneserNeyModel.fit(corpus["train"], VOCAB, 4)
    probabilities = model.token_probabilities([[BOS, 0, 0, 11, 2, 0]])
    assert np.all((probabilities > 0) & (probabilities < 1))


def test_short_term_model_learns_a_repetition():
    piece = [BOS, *MOTIF * 6]
    distributions = short_term_distributions([piece], VOCAB, max_order=4)
    bits = -np.log2(distributions[np.arange(len(piece) - 1), piece[1:]])
    first_pass, last_pass = bits[: len(MOTIF)].mean(), bits[-len(MOTIF) :].mean()
    assert first_pass == pytest.approx(np.log2(VOCAB), abs=0.5)
    assert last_pass < 1.0


def test_idyom_no_worse_than_either_component_on_repeated_motifs():
    rng = np.random.default_rng(3)
    train = [motif_piece(rng, 3) for _ in range(40)]
    val = [motif_piece(rng, 3) for _ in range(8)]
    test = [motif_piece(rng, 3) for _ in range(8)]
    long_terms = [KneserNeyModel.fit(train, VOCAB, order) for order in (2, 4)]
    model, validation_bits = IdyomModel.fit_select(long_terms, val, short_term_orders=(2, 4))
    chosen = (model.long_term.order, model.short_term_order, model.bias, model.combination)
    assert validation_bits[chosen] == min(validation_bits.values())
    long_term = model.long_term
    short_term = short_term_distributions(test, VOCAB, model.short_term_order)
    targets = np.concatenate([piece[1:] for piece in test])
    short_term_bits = -np.log2(short_term[np.arange(len(targets)), targets]).mean()
    mixed_bits = bits_per_token(model, test)
    assert mixed_bits <= min(bits_per_token(long_term, test), short_term_bits)


def test_evaluate_baselines_reports_every_model(corpus):
    results = evaluate_baselines(corpus["train"], corpus["val"], corpus["test"], VOCAB)
    assert set(results) == {"unigram", "kneser_ney", "idyom"}
    assert results["kneser_ney"]["test_bits"] < results["unigram"]["test_bits"]
    assert results["kneser_ney"]["order"] in results["kneser_ney"]["validation_bits_by_order"]
    assert results["idyom"]["combination"] in ("arithmetic", "geometric")
    assert results["idyom"]["long_term_order"] in (results["kneser_ney"]["order"], 20)
    assert all(value["test_s"] >= 0 for value in results.values())


def test_idyom_needs_distinct_long_term_orders(corpus):
    long_term = KneserNeyModel.fit(corpus["train"], VOCAB, 2)
    with pytest.raises(ValueError, match="different order"):
        IdyomModel.fit_select([long_term, long_term], corpus["val"])


def test_rejects_malformed_sequences():
    with pytest.raises(ValueError, match="BOS"):
        UnigramModel.fit([[3, 4, 5]], VOCAB)
    with pytest.raises(ValueError, match=r"\[0, 11\]"):
        UnigramModel.fit([[BOS, 12]], VOCAB)
    with pytest.raises(TypeError):
        UnigramModel.fit([[BOS, 1.5]], VOCAB)
    with pytest.raises(ValueError, match=r"\[1, 20\]"):
        KneserNeyModel.fit([[BOS, 3]], VOCAB, 21)
    with pytest.raises(TypeError):
        KneserNeyModel.fit([[BOS, 3]], "12", 2)
