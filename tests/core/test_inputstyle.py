"""Reshaping a performance to a model's input style before it primes the model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.core.inputstyle import LEGATO_MAX_GAP_TICKS, InputStyle, PerformanceNormalizer
from liveimpro.music.vocabulary import NoteEvent, notes_from_events

FOLK = InputStyle("monophonic", (0, 6, 8, 12, 16, 18), 88, (-6, 5))
CHORALE = InputStyle("polyphonic", (0, 6, 12, 18), 88, (-6, 5))


def _run(style: InputStyle, events: list[NoteEvent]) -> list[NoteEvent]:
    normalizer = PerformanceNormalizer(style)
    out = [e for event in events for e in normalizer.feed(event)]
    return out + normalizer.close()


def test_the_default_style_changes_nothing() -> None:
    events = [
        NoteEvent(3, 60, 70),
        NoteEvent(5, 64, 100),
        NoteEvent(17, 60, 0),
        NoteEvent(19, 64, 0),
    ]
    assert _run(InputStyle(), events) == events


def test_a_detached_off_grid_performance_becomes_legato_on_the_grid() -> None:
    played = [
        NoteEvent(1, 60, 70),  # a hair late
        NoteEvent(14, 60, 0),  # released early
        NoteEvent(23, 62, 110),  # a hair early for beat 2
        NoteEvent(30, 62, 0),
        NoteEvent(49, 64, 55),
        NoteEvent(60, 64, 0),
    ]
    assert _run(FOLK, played) == [
        NoteEvent(0, 60, 88),
        NoteEvent(24, 60, 0),
        NoteEvent(24, 62, 88),
        NoteEvent(48, 62, 0),
        NoteEvent(48, 64, 88),
        NoteEvent(60, 64, 0),  # the last note keeps its own (snapped) release
    ]


def test_a_long_rest_is_kept() -> None:
    played = [
        NoteEvent(0, 60, 90),
        NoteEvent(12, 60, 0),
        NoteEvent(12 + LEGATO_MAX_GAP_TICKS, 62, 90),
    ]
    out = _run(FOLK, played)
    assert NoteEvent(12, 60, 0) in out


def test_a_monophonic_model_hears_the_top_of_a_chord_and_one_note_at_a_time() -> None:
    played = [NoteEvent(0, 64, 90), NoteEvent(1, 67, 90), NoteEvent(2, 60, 90)]  # a chord
    played += [NoteEvent(20, 60, 0), NoteEvent(22, 64, 0), NoteEvent(24, 72, 80)]  # overlap
    played += [NoteEvent(25, 67, 0), NoteEvent(37, 72, 0)]
    notes = notes_from_events(_run(FOLK, played))
    assert [(n.pitch, n.start, n.end) for n in notes] == [(67, 0, 24), (72, 24, 36)]


def test_a_polyphonic_model_keeps_every_voice() -> None:
    played = [
        NoteEvent(1, 60, 90),
        NoteEvent(2, 64, 80),
        NoteEvent(20, 64, 0),
        NoteEvent(47, 60, 0),
    ]
    assert _run(CHORALE, played) == [
        NoteEvent(0, 60, 88),
        NoteEvent(0, 64, 88),
        NoteEvent(18, 64, 0),
        NoteEvent(48, 60, 0),
    ]


def test_a_staccato_note_lasts_at_least_to_the_next_grid_point() -> None:
    out = _run(CHORALE, [NoteEvent(12, 60, 90), NoteEvent(13, 60, 0)])
    assert out == [NoteEvent(12, 60, 88), NoteEvent(18, 60, 0)]


performed_events = st.lists(
    st.tuples(st.integers(0, 40), st.integers(55, 72), st.integers(0, 127)), max_size=40
)


@settings(max_examples=200, deadline=None)
@given(steps=performed_events, monophonic=st.booleans())
def test_normalised_events_keep_time_order_and_close_every_note(steps, monophonic) -> None:
    style = FOLK if monophonic else CHORALE
    tick, events = 0, []
    for gap, pitch, velocity in steps:
        tick += gap
        events.append(NoteEvent(tick, pitch, velocity))
    sounding = {e.pitch for e in events if e.is_on}
    events += [NoteEvent(tick + 1, pitch, 0) for pitch in sorted(sounding)]
    out = _run(style, events)
    ticks = [e.tick for e in out]
    assert ticks == sorted(ticks)
    open_notes: dict[int, int] = {}
    for event in out:
        if event.is_on:
            assert event.pitch not in open_notes
            assert event.tick % 24 in style.onset_grid
            open_notes[event.pitch] = event.tick
            if monophonic:
                assert len(open_notes) == 1
        else:
            assert event.tick > open_notes.pop(event.pitch)
    assert open_notes == {}


def test_a_style_round_trips_through_its_dict() -> None:
    assert InputStyle.from_dict(FOLK.to_dict()) == FOLK
    assert InputStyle.from_dict({}) == InputStyle()


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({"texture": "choral"}, ValueError, "texture must be one of"),
        ({"onset_grid": [6, 12]}, ValueError, "include the beat"),
        ({"onset_grid": [0, 24]}, ValueError, r"ticks in \[0, 23\]"),
        ({"velocity": 200}, ValueError, r"in \[0, 127\]"),
        ({"transpositions": [2, 5]}, ValueError, "-12 <= low <= 0"),
        ({"onset_grid": "0"}, TypeError, "must be a list"),
        ({"swing": 0.6}, ValueError, "unknown input style keys"),
        ([], TypeError, "must be a table"),
    ],
)
def test_bad_styles_are_refused(data, error, match) -> None:
    with pytest.raises(error, match=match):
        InputStyle.from_dict(data)


def test_the_last_note_is_held_to_what_follows_by_the_legato_rule() -> None:
    played = [NoteEvent(0, 60, 90), NoteEvent(30, 60, 0)]
    for next_onset, end in ((48, 48), (30 + LEGATO_MAX_GAP_TICKS, 30), (None, 30)):
        normalizer = PerformanceNormalizer(FOLK)
        out = [e for event in played for e in normalizer.feed(event)]
        assert out + normalizer.close(next_onset) == [
            NoteEvent(0, 60, 88),
            NoteEvent(end, 60, 0),
        ], next_onset


def test_a_polyphonic_style_holds_released_chords_to_the_next_onset() -> None:
    played = [NoteEvent(0, 60, 90), NoteEvent(1, 64, 90), NoteEvent(10, 60, 0)]
    played += [NoteEvent(11, 64, 0), NoteEvent(23, 62, 90), NoteEvent(25, 65, 90)]
    played += [NoteEvent(40, 62, 0), NoteEvent(41, 65, 0)]
    assert _run(CHORALE, played) == [
        NoteEvent(0, 60, 88),
        NoteEvent(0, 64, 88),
        NoteEvent(24, 60, 0),  # detached, yet held to the next chord
        NoteEvent(24, 64, 0),
        NoteEvent(24, 62, 88),
        NoteEvent(24, 65, 88),
        NoteEvent(42, 62, 0),  # the last chord ends at its own release
        NoteEvent(42, 65, 0),
    ]
