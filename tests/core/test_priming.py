"""The one priming path: a phrase reshaped to the model's input style, fed as it comes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from liveimpro.config.settings import AdaptationSettings, NotesSettings, SamplingSettings
from liveimpro.core.continuation import build_continuation
from liveimpro.core.inputstyle import InputStyle
from liveimpro.core.modelfile import load_model
from liveimpro.core.priming import PhrasePrimer
from liveimpro.music.tonality import Scale
from liveimpro.music.vocabulary import Note, notes_from_events, notes_to_events

FOLK = InputStyle("monophonic", (0, 6, 8, 12, 16, 18), 88, (-6, 5))
# A tune in D major, as written: legato, on the grid, one velocity.
SCORE = [
    Note(pitch, 88, start, start + length)
    for pitch, start, length in [
        (62, 0, 24), (64, 24, 12), (66, 36, 12), (67, 48, 24), (69, 72, 24),
        (71, 96, 12), (69, 108, 12), (67, 120, 24), (66, 144, 24), (62, 168, 48),
    ]
]  # fmt: skip


def _performed(score: list[Note]) -> list[Note]:
    """The score as a player plays it: detached, a tick or two off, loud and soft.

    The last note is released where it is written: nothing follows it, so its release is
    the one length the style keeps as played.
    """
    jitter = [1, -2, 0, 2, -1, 1, 0, -1, 2, 0]
    velocity = [60, 100, 75, 110, 55, 90, 70, 120, 65, 80]
    played = [
        Note(n.pitch, v, n.start + j, n.start + j + (n.end - n.start) * 6 // 10)
        for n, j, v in zip(score, jitter, velocity, strict=True)
    ]
    return [*played[:-1], dataclasses.replace(played[-1], end=score[-1].end)]


def _continuation(model_dir, style: InputStyle | None = None, **sampling):
    model = load_model(model_dir)
    if style is not None:
        model = dataclasses.replace(model, input_style=style)
    return build_continuation(
        model,
        SamplingSettings(seed=3, **sampling),
        NotesSettings(),
        ticks_per_bar=96,
        adaptation=AdaptationSettings(),
    )


def test_a_performance_primes_the_model_exactly_as_its_score(random_model_dir) -> None:
    from_score = _continuation(random_model_dir, FOLK)
    PhrasePrimer(from_score).prime(SCORE)
    from_performance = _continuation(random_model_dir, FOLK)
    PhrasePrimer(from_performance).prime(_performed(SCORE))
    np.testing.assert_array_equal(from_score._logits, from_performance._logits)
    assert from_score.tick == from_performance.tick


def test_without_the_style_a_performance_primes_differently(random_model_dir) -> None:
    from_score = _continuation(random_model_dir)
    PhrasePrimer(from_score).prime(SCORE)
    from_performance = _continuation(random_model_dir)
    PhrasePrimer(from_performance).prime(_performed(SCORE))
    assert not np.array_equal(from_score._logits, from_performance._logits)


def test_priming_note_by_note_equals_priming_at_once(random_model_dir) -> None:
    whole = _continuation(random_model_dir, FOLK)
    PhrasePrimer(whole).prime(_performed(SCORE))
    live = _continuation(random_model_dir, FOLK)
    primer = PhrasePrimer(live)
    events = notes_to_events(_performed(SCORE))
    primer.begin(events[0].tick)
    for event in events:
        primer.feed([event])
    primer.finish()
    np.testing.assert_array_equal(whole._logits, live._logits)
    assert live.phrase_key == whole.phrase_key == Scale(2, "major")


def test_a_snapshot_restores_the_primer_and_the_continuation(random_model_dir) -> None:
    continuation = _continuation(random_model_dir, FOLK)
    primer = PhrasePrimer(continuation)
    events = notes_to_events(_performed(SCORE))
    primer.begin(events[0].tick)
    primer.feed(events[:-1])  # the last note still held
    saved = continuation.snapshot(), primer.snapshot()
    primer.finish(events[-1:])
    finished = continuation._logits.copy()
    continuation.restore(saved[0])
    primer.restore(saved[1])
    primer.finish(events[-1:])
    np.testing.assert_array_equal(continuation._logits, finished)


def test_the_phrase_scale_lock_keeps_the_answer_in_the_phrase_key(random_model_dir) -> None:
    continuation = _continuation(random_model_dir, FOLK, scale="phrase", temperature=2.0)
    PhrasePrimer(continuation).prime(SCORE)
    start = continuation.tick
    events = continuation.generate_until(start + 24 * 64) + continuation.release_all(
        start + 24 * 64
    )
    notes = notes_from_events(events)
    assert len(notes) > 20
    assert {n.pitch % 12 for n in notes} <= Scale(2, "major").pitch_classes


def test_a_fixed_scale_and_its_release(random_model_dir) -> None:
    continuation = _continuation(random_model_dir, FOLK, temperature=2.0)
    PhrasePrimer(continuation).prime(SCORE)
    locked = dataclasses.replace(continuation.sampler.params, scale="Eb minor_pentatonic")
    continuation.set_sampling(locked)
    start = continuation.tick
    notes = notes_from_events(continuation.generate_until(start + 24 * 64))
    assert notes
    assert {n.pitch % 12 for n in notes} <= {3, 6, 8, 10, 1}
    continuation.set_sampling(dataclasses.replace(locked, scale="off"))
    assert continuation.mask.scale is None


def test_an_empty_phrase_is_refused(random_model_dir) -> None:
    with pytest.raises(ValueError, match="at least one note"):
        PhrasePrimer(_continuation(random_model_dir)).prime([])
