"""Reading a phrase from a MIDI file and writing phrase + continuation (pretty_midi)."""

from __future__ import annotations

from pathlib import Path

import pretty_midi

from liveimpro.errors import UserError
from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note, normalize_notes


class MidiFileError(UserError):
    """An input MIDI file that cannot be used, with the reason."""


def _to_grid(midi: pretty_midi.PrettyMIDI, seconds: float) -> int:
    return round(midi.time_to_tick(seconds) * TICKS_PER_BEAT / midi.resolution)


def ticks_per_bar(midi: pretty_midi.PrettyMIDI) -> int:
    """Bar length on the 24-tick grid from the first time signature (4/4 if none)."""
    if not midi.time_signature_changes:
        return 4 * TICKS_PER_BEAT
    signature = midi.time_signature_changes[0]
    return signature.numerator * TICKS_PER_BEAT * 4 // signature.denominator


def read_phrase(path: Path) -> tuple[pretty_midi.PrettyMIDI, list[Note]]:
    """The file and its non-drum notes on the 24-ticks-per-beat grid."""
    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except FileNotFoundError as error:
        raise MidiFileError(f"{path}: no such file") from error
    except Exception as error:  # pretty_midi/mido raise many types on bad files
        raise MidiFileError(f"{path}: not a readable MIDI file ({error})") from error
    notes = [
        Note(n.pitch, n.velocity, _to_grid(midi, n.start), _to_grid(midi, n.end))
        for instrument in midi.instruments
        if not instrument.is_drum
        for n in instrument.notes
    ]
    notes = normalize_notes(notes)
    if not notes:
        raise MidiFileError(f"{path}: holds no notes to continue")
    return midi, notes


def new_midi_file(bpm: float, beats_per_bar: int) -> pretty_midi.PrettyMIDI:
    """An empty file at ``bpm`` in ``beats_per_bar``/4 time, for ``add_track``."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(beats_per_bar, 4, 0.0))
    return midi


def add_track(midi: pretty_midi.PrettyMIDI, notes: list[Note], name: str, program: int = 0) -> None:
    """Add notes (24-tick grid, absolute ticks) as a new instrument track."""
    instrument = pretty_midi.Instrument(program=program, name=name)

    def seconds(tick: int) -> float:
        return midi.tick_to_time(round(tick * midi.resolution / TICKS_PER_BEAT))

    instrument.notes = [
        pretty_midi.Note(n.velocity, n.pitch, seconds(n.start), seconds(n.end)) for n in notes
    ]
    midi.instruments.append(instrument)
