import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveimpro.music.vocabulary import (
    EventDecoder,
    EventEncoder,
    Note,
    NoteEvent,
    Vocabulary,
    VocabularySpec,
    decode,
    encode,
    metrical_position,
    normalize_notes,
    notes_from_events,
)

VOCAB = Vocabulary()
BIN_VELOCITIES = [VOCAB.bin_velocity(b) for b in range(VOCAB.spec.velocity_bins)]


@st.composite
def on_grid_notes(draw):
    """Notes on the tick grid, velocities at bin centres, no same-pitch overlap."""
    notes = []
    for pitch in draw(st.lists(st.integers(0, 127), max_size=6, unique=True)):
        tick = draw(st.integers(0, 400))
        for _ in range(draw(st.integers(1, 4))):
            length = draw(st.integers(1, 300))
            velocity = draw(st.sampled_from(BIN_VELOCITIES))
            notes.append(Note(pitch, velocity, tick, tick + length))
            tick += length + draw(st.integers(0, 200))
    return sorted(notes, key=lambda n: (n.start, n.pitch))


@settings(max_examples=300, deadline=None)
@given(on_grid_notes())
def test_notes_tokens_notes_is_exact(notes):
    assert decode(encode(notes, VOCAB), VOCAB) == notes


@settings(max_examples=100, deadline=None)
@given(on_grid_notes(), st.integers(0, 1000))
def test_roundtrip_with_start_tick(notes, offset):
    shifted = [Note(n.pitch, n.velocity, n.start + offset, n.end + offset) for n in notes]
    tokens = encode(shifted, VOCAB, start_tick=offset)
    assert decode(tokens, VOCAB, start_tick=offset) == shifted


def test_layout_and_names():
    assert VOCAB.size == 3 + 128 + 128 + 8 + 96
    assert VOCAB.describe(VOCAB.note_on(60)) == "ON(60)"
    assert VOCAB.describe(VOCAB.note_off(0)) == "OFF(0)"
    assert VOCAB.describe(VOCAB.velocity(7)) == "VEL(7)"
    assert VOCAB.describe(VOCAB.shift(96)) == "SHIFT(96)"
    assert VOCAB.shifts(200) == [VOCAB.shift(96), VOCAB.shift(96), VOCAB.shift(8)]


def test_velocity_bins_cover_midi_range():
    bins = [VOCAB.velocity_bin(v) for v in range(1, 128)]
    assert bins == sorted(bins) and bins[0] == 0 and bins[-1] == 7
    assert all(VOCAB.velocity_bin(VOCAB.bin_velocity(b)) == b for b in range(8))


def test_same_tick_orders_offs_before_ons():
    notes = [Note(60, 88, 0, 24), Note(60, 88, 24, 48)]
    names = [VOCAB.describe(t) for t in encode(notes, VOCAB)]
    assert names == ["VEL(5)", "ON(60)", "SHIFT(24)", "OFF(60)", "ON(60)", "SHIFT(24)", "OFF(60)"]


def test_incremental_decoder_streams_events_at_ticks():
    decoder = EventDecoder(VOCAB, tick=10)
    tokens = encode([Note(64, 56, 10, 22)], VOCAB, start_tick=10)
    events = [e for e in map(decoder.feed, tokens) if e is not None]
    assert [(e.tick, e.pitch, e.velocity) for e in events] == [(10, 64, 56), (22, 64, 0)]
    assert decoder.sounding == {}


def test_live_encoder_handles_orphans_and_retriggers():
    encoder = EventEncoder(VOCAB)
    assert encoder.note_off(60, 0) == []  # orphan note-off: nothing
    encoder.note_on(60, 100, 0)
    retrigger = [VOCAB.describe(t) for t in encoder.note_on(60, 100, 12)]
    assert retrigger == ["SHIFT(12)", "OFF(60)", "ON(60)"]
    assert [VOCAB.describe(t) for t in encoder.note_on(62, 0, 12)] == []  # velocity 0 = off
    with pytest.raises(ValueError, match="before"):
        encoder.note_on(61, 90, 5)


def test_metrical_features_follow_the_clock():
    tokens = np.array([VOCAB.BOS, VOCAB.shift(30), VOCAB.note_on(60), VOCAB.shift(90)])
    sub_beat, beat = VOCAB.metrical_features(tokens, ticks_per_bar=72)  # 3/4
    assert sub_beat.tolist() == [0, 6, 6, 0]
    assert beat.tolist() == [0, 1, 1, 2]  # tick 120 = bar 2, third beat (index 2)
    assert metrical_position(24 * 20, 24 * 12) == (0, 7)  # beats past the 8th share 7


def test_normalize_cuts_overlaps_and_zero_lengths():
    notes = [Note(60, 0, 0, 48), Note(60, 200, 24, 24), Note(200, 90, 0, 5)]
    assert normalize_notes(notes) == [Note(60, 1, 0, 24), Note(60, 127, 24, 25)]


def test_spec_validation():
    with pytest.raises(ValueError, match=r"velocity_bins must be in \[1, 127\]"):
        VocabularySpec(velocity_bins=0)
    with pytest.raises(TypeError, match="max_shift must be an int"):
        VocabularySpec(max_shift=1.5)
    with pytest.raises(ValueError, match="unknown vocabulary keys"):
        VocabularySpec.from_dict({"bogus": 1})


def test_events_pair_into_notes_and_stray_offs_are_skipped():
    events = [
        NoteEvent(0, 64, 0),  # off of a note begun before these events
        NoteEvent(0, 60, 90),
        NoteEvent(24, 60, 0),
        NoteEvent(24, 62, 80),
        NoteEvent(36, 62, 90),  # a retrigger ends the sounding note
        NoteEvent(48, 62, 0),
    ]
    assert notes_from_events(events) == [
        Note(60, 90, 0, 24),
        Note(62, 80, 24, 36),
        Note(62, 90, 36, 48),
    ]
