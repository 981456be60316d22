import numpy as np

from liveimpro.config.settings import AdaptationSettings, NotesSettings, SamplingSettings
from liveimpro.core.continuation import build_continuation
from liveimpro.core.modelfile import load_model
from liveimpro.music.vocabulary import Note, encode

PHRASE = [Note(60 + i, 90, 24 * i, 24 * i + 20) for i in range(8)]


def _continuation(random_model_dir, seed=7, adapt=True, **notes):
    model = load_model(random_model_dir)
    continuation = build_continuation(
        model,
        SamplingSettings(seed=seed),
        NotesSettings(**notes),
        ticks_per_bar=96,
        adaptation=AdaptationSettings(enabled=adapt),
    )
    continuation.start(PHRASE[0].start)
    continuation.feed_tokens(encode(PHRASE, model.vocabulary))
    return continuation


def _check_notes_closed(events, start, end, max_note_ticks=None):
    sounding = {}
    for event in events:
        assert start <= event.tick <= end
        if event.is_on:
            assert event.pitch not in sounding
            sounding[event.pitch] = event.tick
        else:
            began = sounding.pop(event.pitch)
            assert max_note_ticks is None or event.tick - began <= max_note_ticks
    assert sounding == {}


def test_continuation_stays_in_its_window_and_closes_every_note(random_model_dir):
    continuation = _continuation(random_model_dir, max_note_beats=1.0, pitch_low=40)
    start = continuation.tick
    events = continuation.generate_until(start + 24 * 16)
    events += continuation.release_all(start + 24 * 16)
    assert any(e.is_on for e in events)
    assert all(e.pitch >= 40 for e in events)
    _check_notes_closed(events, start, start + 24 * 16, max_note_ticks=24)


def test_streaming_in_chunks_equals_one_call(random_model_dir):
    whole = _continuation(random_model_dir)
    start = whole.tick
    all_at_once = whole.generate_until(start + 96)
    chunked = _continuation(random_model_dir)
    pieces = []
    for step in range(1, 9):  # half-beat lookahead chunks
        pieces += chunked.generate_until(start + 12 * step)
    assert pieces == all_at_once


def test_snapshot_restore_resamples_from_the_same_state(random_model_dir):
    continuation = _continuation(random_model_dir)
    continuation.advance_to(continuation.tick + 24)  # a quantised start, one beat later
    saved = continuation.snapshot()
    start = continuation.tick
    continuation.sampler.rng = np.random.default_rng(123)
    first = continuation.generate_until(start + 96)
    continuation.restore(saved)
    continuation.sampler.rng = np.random.default_rng(123)
    assert continuation.generate_until(start + 96) == first  # same state, same draws
    continuation.restore(saved)
    continuation.sampler.rng = np.random.default_rng(124)
    assert continuation.generate_until(start + 96) != first  # mutate: a new draw


def test_adaptation_picks_up_the_performers_motif(random_model_dir):
    motif = [Note(p, 90, 12 * i, 12 * i + 10) for i, p in enumerate([62, 66, 69, 74, 69, 66])]
    repeated = [
        Note(n.pitch, 90, n.start + 72 * k, n.end + 72 * k) for k in range(6) for n in motif
    ]
    predictions = {}
    for adapt in (False, True):
        continuation = _continuation(random_model_dir, adapt=adapt)
        continuation.start(0)
        tokens = encode(repeated, continuation.vocabulary)
        continuation.feed_tokens(tokens[:-1])
        logits = continuation._prediction()
        probs = np.exp(logits - logits.max())
        predictions[adapt] = (probs / probs.sum())[tokens[-1]]
    assert predictions[True] > 0.5 > predictions[False]


def test_replan_cuts_a_rest_back_to_where_generation_was_asked_to_reach(random_model_dir):
    continuation = _continuation(random_model_dir)
    target = continuation.tick
    while continuation.tick <= target + 1:  # until a rest reaches well past the target
        target += 1
        continuation.generate_until(target)
    overshoot = continuation.tick
    saved = continuation.snapshot()
    continuation.replan()
    assert continuation.tick == target < overshoot
    continuation.replan()  # nothing more to cut
    assert continuation.tick == target
    continuation.restore(saved)
    continuation.replan()  # a restore is no rest of generation's: nothing to cut
    assert continuation.tick == overshoot
