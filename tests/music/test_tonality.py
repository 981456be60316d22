"""The key-finder and the scales the sampler locks to."""

from __future__ import annotations

import numpy as np
import pytest

from liveimpro.music.tonality import MODES, Scale, find_key, key_of_notes, parse_scale
from liveimpro.music.vocabulary import Note


def _melody(pitches: list[int], lengths: list[int] | None = None) -> list[Note]:
    lengths = lengths or [24] * len(pitches)
    notes, tick = [], 0
    for pitch, length in zip(pitches, lengths, strict=True):
        notes.append(Note(pitch, 90, tick, tick + length))
        tick += length
    return notes


@pytest.mark.parametrize("tonic", range(12))
def test_a_major_scale_with_a_long_tonic_is_found_in_every_key(tonic: int) -> None:
    pitches = [60 + tonic + step for step in (0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0)]
    lengths = [48, 24, 24, 24, 48, 24, 24, 48, 24, 24, 96]
    assert key_of_notes(_melody(pitches, lengths)) == Scale(tonic, "major")


def test_an_a_minor_tune_is_minor() -> None:
    pitches = [57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57]
    lengths = [48, 24, 24, 24, 48, 24, 24, 48, 24, 24, 96]
    assert key_of_notes(_melody(pitches, lengths)) == Scale(9, "minor")


def test_no_notes_no_key() -> None:
    assert key_of_notes([]) is None
    assert find_key(np.zeros(12)) is None
    with pytest.raises(ValueError, match=r"shape \(12,\)"):
        find_key(np.ones(11))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("D dorian", Scale(2, "dorian")),
        ("F# minor", Scale(6, "minor")),
        ("bb major", Scale(10, "major")),
        ("Cb lydian", Scale(11, "lydian")),
        ("E Mixolydian", Scale(4, "mixolydian")),
    ],
)
def test_fixed_scales_parse(text: str, expected: Scale) -> None:
    assert parse_scale(text) == expected


def test_off_and_phrase_are_no_fixed_scale() -> None:
    assert parse_scale("off") is None
    assert parse_scale("phrase") is None


@pytest.mark.parametrize("text", ["", "H minor", "D", "D dorian minor", "D doric", "Dx major"])
def test_bad_scales_name_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="'phrase' or a tonic"):
        parse_scale(text)


def test_a_scale_is_its_pitch_classes() -> None:
    assert Scale(2, "dorian").pitch_classes == {2, 4, 5, 7, 9, 11, 0}
    assert Scale(9, "minor").pitch_classes == {9, 11, 0, 2, 4, 5, 7, 8}  # with G#
    assert str(Scale(6, "minor")) == "F# minor"
    assert all(mode[0] == 0 for mode in MODES.values())
    with pytest.raises(ValueError, match="unknown mode"):
        Scale(0, "doric")
