"""Tests for liveimpro.midi.midifile: writing call and response tracks and reading a phrase back."""

from __future__ import annotations

from pathlib import Path

from liveimpro.midi.midifile import add_track, new_midi_file, read_phrase, ticks_per_bar
from liveimpro.music.vocabulary import Note


def test_a_new_file_keeps_tempo_meter_and_the_tracks_notes(tmp_path: Path) -> None:
    midi = new_midi_file(150.0, 3)
    call = [Note(62, 90, 0, 12), Note(64, 80, 12, 36)]
    add_track(midi, call, name="call")
    add_track(midi, [Note(67, 70, 72, 96)], name="response")
    path = tmp_path / "take.mid"
    midi.write(str(path))
    read_back, notes = read_phrase(path)
    assert [instrument.name for instrument in read_back.instruments] == ["call", "response"]
    assert read_back.get_tempo_changes()[1][0] == 150.0
    assert ticks_per_bar(read_back) == 72
    assert notes == [*call, Note(67, 70, 72, 96)]
