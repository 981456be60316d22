"""Keys and scales: a key-finder for phrases and the scales the sampler can lock to.

The key-finder is Krumhansl and Kessler's: the phrase's pitch classes, weighted by
duration, are correlated with the 24 rotations of the major and minor key profiles,
and the best match wins. NumPy only, so the real-time path can use it.

``sampling.scale`` takes ``off``, ``phrase`` (the scale of the key found in the
phrase) or a fixed scale such as ``"D dorian"``. A minor key's scale holds the
natural minor and the raised seventh (the harmonic minor's leading tone), which
minor-key tunes use all the time; ``aeolian`` is the natural minor alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from liveimpro.music.vocabulary import Note

PITCH_CLASSES = 12
SCALE_OFF = "off"
SCALE_FROM_PHRASE = "phrase"

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

MODES: dict[str, tuple[int, ...]] = {  # semitones above the tonic
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10, 11),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "b": -1}
SCALE_HELP = (
    f"'{SCALE_OFF}', '{SCALE_FROM_PHRASE}' or a tonic (C, F#, Bb, ...) and a mode "
    f"({', '.join(MODES)}), e.g. 'D dorian'"
)


@dataclass(frozen=True)
class Scale:
    """A tonic pitch class (0 = C) and a mode: the pitch classes a locked answer may use."""

    tonic: int
    mode: str

    def __post_init__(self) -> None:
        if not isinstance(self.tonic, int) or not 0 <= self.tonic < PITCH_CLASSES:
            raise ValueError(f"scale tonic must be a pitch class in [0, 11], got {self.tonic!r}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; allowed: {', '.join(MODES)}")

    @property
    def pitch_classes(self) -> frozenset[int]:
        return frozenset((self.tonic + step) % PITCH_CLASSES for step in MODES[self.mode])

    def __str__(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"


def parse_scale(text: str) -> Scale | None:
    """The fixed scale ``text`` names; None for ``off`` and ``phrase``.

    Raises ValueError, naming what is allowed, for anything else.
    """
    if not isinstance(text, str):
        raise TypeError(f"a scale must be a string, got {type(text).__name__}")
    if text in (SCALE_OFF, SCALE_FROM_PHRASE):
        return None
    parts = text.split()
    if len(parts) == 2 and parts[1].lower() in MODES:
        name = parts[0]
        letter, accidental = name[:1].upper(), name[1:]
        if letter in _LETTERS and accidental in _ACCIDENTALS:
            tonic = (_LETTERS[letter] + _ACCIDENTALS[accidental]) % PITCH_CLASSES
            return Scale(tonic, parts[1].lower())
    raise ValueError(f"scale must be {SCALE_HELP}; got {text!r}")


class PitchClassProfile:
    """Duration-weighted pitch classes of the notes heard so far, built as they end."""

    def __init__(self) -> None:
        self.weights = np.zeros(PITCH_CLASSES)

    def reset(self) -> None:
        self.weights[:] = 0.0

    def add(self, pitch: int, ticks: int) -> None:
        self.weights[pitch % PITCH_CLASSES] += max(1, ticks)

    def key(self) -> Scale | None:
        """The best-matching major or minor key; None before any note."""
        return find_key(self.weights)


def find_key(weights: np.ndarray) -> Scale | None:
    """Krumhansl-Kessler key of a (12,) pitch-class weight vector; None if all zero."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (PITCH_CLASSES,):
        raise ValueError(f"weights must have shape (12,), got {weights.shape}")
    if not weights.any():
        return None
    centred = weights - weights.mean()
    best, best_score = None, -np.inf
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(PITCH_CLASSES):
            rotated = np.roll(profile, tonic)  # rotated[tonic] is the profile's tonic
            rotated = rotated - rotated.mean()
            denominator = np.linalg.norm(centred) * np.linalg.norm(rotated)
            score = float(centred @ rotated / denominator) if denominator else 0.0
            if score > best_score:
                best, best_score = Scale(tonic, mode), score
    return best


def key_of_notes(notes: Iterable[Note]) -> Scale | None:
    """The key of a set of notes (see :func:`find_key`)."""
    profile = PitchClassProfile()
    for note in notes:
        profile.add(note.pitch, note.end - note.start)
    return profile.key()
