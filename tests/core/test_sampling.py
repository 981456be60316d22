import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.config.settings import SamplingSettings
from liveimpro.core.sampling import NoteLimits, Sampler, TokenMask
from liveimpro.music.vocabulary import EventDecoder, Vocabulary

VOCAB = Vocabulary()


def _sampler(**params) -> Sampler:
    return Sampler(SamplingSettings(**params))


def test_same_seed_same_tokens():
    logits = np.random.default_rng(0).normal(size=VOCAB.size)
    mask = np.ones(VOCAB.size, bool)
    a, b = _sampler(seed=5), _sampler(seed=5)
    assert [a.sample(logits, mask) for _ in range(50)] == [
        b.sample(logits, mask) for _ in range(50)
    ]
    c = _sampler(seed=6)
    assert [a.sample(logits, mask) for _ in range(50)] != [
        c.sample(logits, mask) for _ in range(50)
    ]


def test_top_k_and_top_p_restrict_the_support():
    logits = np.arange(VOCAB.size, dtype=np.float32)
    mask = np.ones(VOCAB.size, bool)
    probs = _sampler(top_k=3, top_p=1.0, seed=0).probabilities(logits, mask)
    assert set(np.flatnonzero(probs)) == {VOCAB.size - 1, VOCAB.size - 2, VOCAB.size - 3}
    probs = _sampler(top_p=0.5, seed=0).probabilities(logits, mask)
    kept = np.flatnonzero(probs)
    assert kept.max() == VOCAB.size - 1 and len(kept) < 5
    assert probs.sum() == pytest.approx(1.0)


def test_temperature_sharpens_and_flattens():
    logits = np.random.default_rng(1).normal(size=VOCAB.size)
    mask = np.ones(VOCAB.size, bool)
    cold = _sampler(temperature=0.2, top_p=1.0).probabilities(logits, mask)
    hot = _sampler(temperature=4.0, top_p=1.0).probabilities(logits, mask)
    assert cold.max() > hot.max()


def test_masked_tokens_are_never_drawn():
    logits = np.zeros(VOCAB.size)
    logits[VOCAB.note_off(60)] = 100.0  # the model insists on an orphan note-off
    mask = TokenMask(VOCAB, NoteLimits()).allowed(EventDecoder(VOCAB))
    sampler = _sampler(seed=0)
    assert all(sampler.sample(logits, mask) != VOCAB.note_off(60) for _ in range(200))


def test_mask_rules():
    limits = NoteLimits(max_polyphony=2, pitch_low=48, pitch_high=72, max_note_ticks=24)
    masker = TokenMask(VOCAB, limits)
    decoder = EventDecoder(VOCAB)
    mask = masker.allowed(decoder)
    assert not mask[VOCAB.note_on(47)] and mask[VOCAB.note_on(48)] and not mask[VOCAB.note_on(73)]
    assert not mask[VOCAB.note_off_base : VOCAB.velocity_base].any()  # nothing sounds
    assert not mask[: VOCAB.note_on_base].any()  # specials never sampled
    for token in (VOCAB.note_on(60), VOCAB.note_on(64)):
        decoder.feed(token)
    mask = masker.allowed(decoder)
    assert not mask[VOCAB.note_on(60)]  # sounding already
    assert not mask[VOCAB.note_off(60)]  # would be zero-length
    assert not mask[VOCAB.note_on(62)]  # polyphony cap reached
    decoder.feed(VOCAB.shift(10))
    mask = masker.allowed(decoder)
    assert mask[VOCAB.note_off(60)] and mask[VOCAB.shift(14)] and not mask[VOCAB.shift(15)]
    decoder.feed(VOCAB.shift(14))  # both notes are now 24 ticks long: only their offs
    assert set(np.flatnonzero(masker.allowed(decoder))) == {VOCAB.note_off(60), VOCAB.note_off(64)}


def test_no_two_velocity_tokens_in_a_row():
    masker = TokenMask(VOCAB, NoteLimits())
    decoder = EventDecoder(VOCAB)
    decoder.feed(VOCAB.velocity(2))
    assert not masker.allowed(decoder)[VOCAB.velocity_base : VOCAB.shift_base].any()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    temperature=st.floats(0.05, 5.0),
    top_p=st.floats(0.05, 1.0),
    polyphony=st.integers(1, 6),
    max_note=st.integers(1, 200),
)
def test_no_generated_sequence_leaves_an_orphan_or_stuck_note(
    seed, temperature, top_p, polyphony, max_note
):
    """Adversarial logits (random, biased toward notes) at any temperature."""
    rng = np.random.default_rng(seed)
    limits = NoteLimits(max_polyphony=polyphony, max_note_ticks=max_note)
    masker = TokenMask(VOCAB, limits)
    sampler = Sampler(SamplingSettings(temperature=temperature, top_p=top_p, seed=seed))
    decoder = EventDecoder(VOCAB)
    sounding: dict[int, int] = {}
    for _ in range(300):
        logits = rng.normal(scale=5.0, size=VOCAB.size)
        logits[VOCAB.note_on_base : VOCAB.velocity_base] += 3.0
        event = decoder.feed(sampler.sample(logits, masker.allowed(decoder)))
        if event is None:
            continue
        if event.is_on:
            assert event.pitch not in sounding, "note-on for a sounding pitch"
            assert len(sounding) < polyphony
            sounding[event.pitch] = event.tick
        else:
            assert event.pitch in sounding, "orphan note-off"
            assert 0 < event.tick - sounding.pop(event.pitch) <= max_note
        assert all(decoder.tick - start <= max_note for start in sounding.values())
    for event in decoder.release_all():
        sounding.pop(event.pitch)
    assert sounding == {}
