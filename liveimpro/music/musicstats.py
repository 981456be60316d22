"""Musical statistics comparing sampled continuations with the real ones.

Each side is a list of continuations, each a list of :class:`Note` on the 24-ticks-
per-beat grid; ``generated[i]`` and ``real[i]`` continue the same prompt.

- Pitch-class distance: total-variation distance (half the L1 distance, in [0, 1])
  between the 12-bin pitch-class histograms of a generated and a real continuation,
  each note weighted by its duration in ticks; averaged over the pairs where both
  sides hold notes.
- Note density: notes per beat, pooled: all notes over all spans, a span running
  from a continuation's first onset to its last note end.
- Polyphony: mean number of sounding notes over the ticks where at least one
  sounds, pooled: total note duration over the total length of the union of the
  notes' intervals.
- Copy rate: the share of a continuation's n-grams of melodic intervals that occur
  verbatim in the training split. The melody is the top voice: the highest pitch at
  each distinct onset tick; intervals are between successive onsets. Pooled over
  all continuations; NaN when none is long enough to hold an n-gram.
- Window statistics (:func:`window_stats`, for ``liveimpro bench quality``), over
  continuations of a fixed length: the share of notes on the pitch classes of the piece
  continued, polyphony, notes per beat and silence over the whole window, mean note
  length and the share of notes over two beats.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note

COPY_NGRAM = 8
PITCH_CLASSES = 12


def _check_notes(notes: Sequence[Note]) -> None:
    if isinstance(notes, (str, bytes)) or not isinstance(notes, Sequence):
        raise TypeError(f"a continuation must be a sequence of Note, got {type(notes).__name__}")
    for note in notes:
        if not isinstance(note, Note):
            raise TypeError(f"a continuation must hold Note objects, got {type(note).__name__}")
        if note.end <= note.start:
            raise ValueError(f"a note must end after it starts, got {note}")


def _check_pieces(pieces: Sequence[Sequence[Note]]) -> None:
    if isinstance(pieces, (str, bytes)) or not isinstance(pieces, Sequence):
        raise TypeError(f"expected a sequence of note lists, got {type(pieces).__name__}")
    for notes in pieces:
        _check_notes(notes)


def pitch_class_histogram(notes: Sequence[Note]) -> np.ndarray:
    """(12,) duration-weighted pitch-class shares, summing to one (zeros if no notes)."""
    _check_notes(notes)
    histogram = np.zeros(PITCH_CLASSES)
    for note in notes:
        histogram[note.pitch % PITCH_CLASSES] += note.end - note.start
    total = histogram.sum()
    return histogram / total if total > 0 else histogram


def pitch_class_distance(
    generated: Sequence[Sequence[Note]], real: Sequence[Sequence[Note]]
) -> float:
    """Mean total-variation distance between paired histograms (NaN if no pair has notes)."""
    _check_pieces(generated)
    _check_pieces(real)
    if len(generated) != len(real):
        raise ValueError(
            f"generated and real must pair up, got {len(generated)} and {len(real)} continuations"
        )
    distances = [
        0.5 * np.abs(pitch_class_histogram(ours) - pitch_class_histogram(theirs)).sum()
        for ours, theirs in zip(generated, real, strict=True)
        if ours and theirs
    ]
    return float(np.mean(distances)) if distances else float("nan")


def note_density(pieces: Sequence[Sequence[Note]]) -> float:
    """Notes per beat over all continuations (NaN if none holds a note)."""
    _check_pieces(pieces)
    notes = sum(len(piece) for piece in pieces)
    spans = (max(n.end for n in piece) - min(n.start for n in piece) for piece in pieces if piece)
    ticks = sum(spans)
    return notes * TICKS_PER_BEAT / ticks if ticks else float("nan")


def _sounding_ticks(notes: Iterable[Note]) -> int:
    """Length of the union of the notes' [start, end) intervals."""
    total, covered_until = 0, None
    for start, end in sorted((note.start, note.end) for note in notes):
        if covered_until is None or start >= covered_until:
            total += end - start
            covered_until = end
        elif end > covered_until:
            total += end - covered_until
            covered_until = end
    return total


def polyphony(pieces: Sequence[Sequence[Note]]) -> float:
    """Mean sounding notes over the ticks where any sounds (NaN if no notes)."""
    _check_pieces(pieces)
    note_ticks = sum(note.end - note.start for piece in pieces for note in piece)
    sounding = sum(_sounding_ticks(piece) for piece in pieces)
    return note_ticks / sounding if sounding else float("nan")


def melodic_intervals(notes: Sequence[Note]) -> list[int]:
    """Semitone steps between the top-voice pitches of successive onsets."""
    _check_notes(notes)
    top: dict[int, int] = {}
    for note in notes:
        top[note.start] = max(note.pitch, top.get(note.start, note.pitch))
    melody = [top[tick] for tick in sorted(top)]
    return [after - before for before, after in itertools.pairwise(melody)]


def _ngrams(intervals: list[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(intervals[i : i + n]) for i in range(len(intervals) - n + 1)]


class IntervalNgramIndex:
    """The set of melodic-interval n-grams of the training pieces."""

    def __init__(self, ngrams: set[tuple[int, ...]], n: int) -> None:
        self.ngrams = ngrams
        self.n = n

    @classmethod
    def from_pieces(
        cls, pieces: Sequence[Sequence[Note]], n: int = COPY_NGRAM
    ) -> IntervalNgramIndex:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        _check_pieces(pieces)
        ngrams = {ngram for notes in pieces for ngram in _ngrams(melodic_intervals(notes), n)}
        return cls(ngrams, n)

    def __contains__(self, ngram: tuple[int, ...]) -> bool:
        return ngram in self.ngrams

    def copy_rate(self, pieces: Sequence[Sequence[Note]]) -> float:
        """Share of the continuations' n-grams found in training (NaN if they hold none)."""
        _check_pieces(pieces)
        ngrams = [ngram for notes in pieces for ngram in _ngrams(melodic_intervals(notes), self.n)]
        if not ngrams:
            return float("nan")
        return sum(ngram in self.ngrams for ngram in ngrams) / len(ngrams)


def continuation_stats(
    generated: Sequence[Sequence[Note]],
    real: Sequence[Sequence[Note]],
    training_index: IntervalNgramIndex,
) -> dict:
    """Every statistic for the "generated" and "real" sides, and their pitch-class distance."""
    if not isinstance(training_index, IntervalNgramIndex):
        raise TypeError(
            f"training_index must be an IntervalNgramIndex, got {type(training_index).__name__}"
        )

    def side(pieces: Sequence[Sequence[Note]]) -> dict[str, float]:
        return {
            "note_density": note_density(pieces),
            "polyphony": polyphony(pieces),
            "copy_rate": training_index.copy_rate(pieces),
        }

    return {
        "generated": side(generated),
        "real": side(real),
        "pitch_class_distance": pitch_class_distance(generated, real),
    }


def window_stats(
    pieces: Sequence[Sequence[Note]],
    windows: Sequence[int],
    own_pitch_classes: Sequence[frozenset[int]],
) -> dict[str, float]:
    """Statistics of continuations that each fill a window of ``windows[i]`` ticks, pooled.

    ``own_pitch_classes[i]`` is the set of pitch classes of the piece that ``pieces[i]``
    continues: the share of notes on them says how well a continuation keeps the key.
    """
    _check_pieces(pieces)
    if not len(windows) == len(own_pitch_classes) == len(pieces):
        raise ValueError(
            f"need a window and a pitch-class set per piece, got {len(windows)} and "
            f"{len(own_pitch_classes)} for {len(pieces)}"
        )
    notes = [note for piece in pieces for note in piece]
    lengths = np.array([note.end - note.start for note in notes], dtype=np.float64)
    in_key = sum(
        note.pitch % PITCH_CLASSES in own
        for piece, own in zip(pieces, own_pitch_classes, strict=True)
        for note in piece
    )
    window_total = sum(windows)
    sounding = sum(_sounding_ticks(piece) for piece in pieces)
    nan = float("nan")
    return {
        "notes": len(notes),
        "pitch_class_share": in_key / len(notes) if notes else nan,
        "polyphony": polyphony(pieces) if notes else nan,
        "notes_per_beat": len(notes) * TICKS_PER_BEAT / window_total if window_total else nan,
        "mean_note_beats": float(lengths.mean()) / TICKS_PER_BEAT if notes else nan,
        "long_note_share": float((lengths > 2 * TICKS_PER_BEAT).mean()) if notes else nan,
        "silence_share": 1.0 - sounding / window_total if window_total else nan,
    }
