import math

import numpy as np
import pytest

from liveimpro.music.musicstats import (
    IntervalNgramIndex,
    continuation_stats,
    melodic_intervals,
    note_density,
    pitch_class_distance,
    pitch_class_histogram,
    polyphony,
)
from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note

BEAT = TICKS_PER_BEAT


def melody(pitches: list[int], length: int = BEAT) -> list[Note]:
    return [Note(p, 90, i * length, (i + 1) * length) for i, p in enumerate(pitches)]


def test_histogram_weights_by_duration():
    notes = [Note(60, 90, 0, 3 * BEAT), Note(74, 90, 3 * BEAT, 4 * BEAT)]
    histogram = pitch_class_histogram(notes)
    assert histogram[0] == pytest.approx(0.75)
    assert histogram[2] == pytest.approx(0.25)
    assert histogram.sum() == pytest.approx(1.0)


def test_pitch_class_distance_is_total_variation():
    c_major = melody([60, 64, 67, 72])
    assert pitch_class_distance([c_major], [c_major]) == 0.0
    assert pitch_class_distance([melody([60])], [melody([61])]) == 1.0
    # Half the notes moved to a new pitch class: half the mass differs.
    assert pitch_class_distance([melody([60, 62])], [melody([60, 63])]) == pytest.approx(0.5)


def test_pitch_class_distance_needs_pairs():
    with pytest.raises(ValueError, match="pair up"):
        pitch_class_distance([melody([60])], [])


def test_note_density_counts_notes_per_beat():
    # Eight eighth notes span four beats.
    assert note_density([melody([60] * 8, length=BEAT // 2)]) == pytest.approx(2.0)
    # Pooled: 4 notes over 4 beats and 2 notes over 4 beats.
    pieces = [melody([60] * 4), melody([60, 62], length=2 * BEAT)]
    assert note_density(pieces) == pytest.approx(6 / 8)
    assert math.isnan(note_density([[]]))


def test_polyphony_over_sounding_ticks():
    # A triad for one beat, a rest of one beat, then one note for one beat.
    notes = [Note(p, 90, 0, BEAT) for p in (60, 64, 67)] + [Note(72, 90, 2 * BEAT, 3 * BEAT)]
    assert polyphony([notes]) == pytest.approx((3 + 1) / 2)
    # Overlapping notes: two sound for half of a two-beat span.
    overlap = [Note(60, 90, 0, BEAT), Note(62, 90, BEAT // 2, 3 * BEAT // 2)]
    assert polyphony([overlap]) == pytest.approx(2 * BEAT / (3 * BEAT // 2))
    assert polyphony([melody([60, 62, 64])]) == 1.0


def test_melodic_intervals_follow_the_top_voice():
    notes = [Note(48, 90, 0, BEAT), Note(60, 90, 0, BEAT), Note(62, 90, BEAT, 2 * BEAT)]
    notes.append(Note(55, 90, 2 * BEAT, 3 * BEAT))
    assert melodic_intervals(notes) == [2, -7]


def test_copy_rate_is_one_on_training_piece_and_zero_on_unseen():
    rng = np.random.default_rng(1)
    training = [melody(list(60 + rng.integers(-5, 6, size=40))) for _ in range(5)]
    index = IntervalNgramIndex.from_pieces(training, n=8)
    assert index.copy_rate([training[2]]) == 1.0
    # Transposed copies share every interval.
    shifted = [Note(n.pitch + 3, n.velocity, n.start, n.end) for n in training[0]]
    assert index.copy_rate([shifted]) == 1.0
    # Intervals of 13..20 semitones never occur in the training pieces.
    pitches = np.cumsum(rng.integers(13, 21, size=30) * rng.choice([-1, 1], size=30)) % 60 + 30
    unseen = melody(list(pitches))
    assert all(abs(i) > 10 for i in melodic_intervals(unseen))
    assert index.copy_rate([unseen]) == 0.0
    assert math.isnan(index.copy_rate([melody([60, 62])]))


def test_copy_rate_pools_ngrams():
    training = [melody([60, 62, 64, 65, 67, 69, 71, 72, 74, 76])]  # 9 intervals: 2 8-grams
    index = IntervalNgramIndex.from_pieces(training)
    assert len(index.ngrams) == 2
    assert index.copy_rate([training[0][:9], melody([60] * 9)]) == 0.5


def test_continuation_stats_reports_both_sides():
    training = [melody([60, 62, 64, 65, 67, 69, 71, 72, 74])]
    index = IntervalNgramIndex.from_pieces(training)
    generated = [melody([60] * 9, length=BEAT // 2)]
    stats = continuation_stats(generated, training, index)
    assert stats["real"] == {"note_density": 1.0, "polyphony": 1.0, "copy_rate": 1.0}
    assert stats["generated"] == {"note_density": 2.0, "polyphony": 1.0, "copy_rate": 0.0}
    assert 0.0 < stats["pitch_class_distance"] < 1.0


def test_rejects_wrong_types():
    with pytest.raises(TypeError):
        note_density([[(60, 90, 0, 24)]])
    with pytest.raises(TypeError):
        IntervalNgramIndex.from_pieces([], n=2.5)
    with pytest.raises(ValueError):
        IntervalNgramIndex.from_pieces([], n=0)
    with pytest.raises(ValueError):
        polyphony([[Note(60, 90, 5, 5)]])
