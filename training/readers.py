"""Reading one music file into pieces: ABC, kern, MusicXML and MIDI.

ABC is read straight from music21's tokens (each token's pitch name and quarter length times
its tuplet multiplier) without building music21 streams; kern and MusicXML are parsed by
music21, MIDI by pretty_midi. Notes are on the 24-ticks-per-beat grid with tick 0 on a bar
line: a pickup is moved to the end of its (otherwise empty) first bar. A file or tune that
fails to parse is skipped and counted by reason (:func:`read_task`). Which files make up a
source is training.corpus's business.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pretty_midi
from music21 import abcFormat, converter, harmony, key, meter, pitch, stream

from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note, bar_ticks, normalize_notes

DEFAULT_VELOCITY = 90  # the scores carry no dynamics
DEFAULT_TICKS_PER_BAR = bar_ticks(4)  # 4/4 when a piece names no meter
MIDI_SUFFIXES = (".mid", ".midi")
ABC_SUFFIXES = (".abc",)
SCORE_SUFFIXES = (".krn", ".xml", ".mxl", ".musicxml")
MUSIC_SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + SCORE_SUFFIXES
GERMAN_TONICS = {"H": "B", "Es": "Eb", "As": "Ab", "Des": "Db", "Ges": "Gb"}  # Essen K: lines
_GERMAN_KEY_LINE = re.compile(r"^(K:\s*)(" + "|".join(GERMAN_TONICS) + r")(?![a-z#])", re.M)
_TUNE_START = re.compile(r"^(?=X:)", re.M)
_REFERENCE = re.compile(r"X:\s*(\d+)")


@dataclass(frozen=True)
class Piece:
    """One piece on the tick grid, ready for key alignment and tokenising."""

    name: str  # unique id, e.g. "essenFolksong/han1.abc#12"
    collection: str
    notes: tuple[Note, ...]  # normalized (see liveimpro.music.vocabulary.normalize_notes)
    ticks_per_bar: int
    tonic: int | None  # pitch class 0-11, None when unknown
    licence: str


@dataclass
class ReadResult:
    """Pieces read from a source and the skipped files or tunes, by reason."""

    pieces: list[Piece] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: ReadResult) -> None:
        self.pieces += other.pieces
        self.skipped += other.skipped


@dataclass(frozen=True)
class FileTask:
    """One file to read; picklable so that worker processes can take it."""

    reader: str  # a key of _READERS
    path: Path
    name: str  # the piece name, or its prefix before "#" for ABC tunes
    collection: str
    licence: str
    max_parts: int | None = None  # scores: parts kept from the top, None for all


# Shared note building ------------------------------------------------------------------


def _tick(quarter_length: float) -> int:
    return round(quarter_length * TICKS_PER_BEAT)


class _NoteBuilder:
    """Collects notes in quarter lengths, merging tied notes of one pitch."""

    def __init__(self) -> None:
        self.notes: list[list] = []  # [pitch, velocity, start, end] in quarter lengths
        self.last_of_pitch: dict[int, list] = {}

    def add(self, midi: int, start: float, end: float, tied: bool, velocity: int) -> None:
        previous = self.last_of_pitch.get(midi)
        if tied and previous is not None and abs(previous[3] - start) < 1e-6:
            previous[3] = end
            return
        note = [midi, velocity, start, end]
        self.notes.append(note)
        self.last_of_pitch[midi] = note

    def build(self, shift: float) -> tuple[Note, ...]:
        """Normalized notes, ``shift`` quarter lengths later."""
        notes = (Note(p, v, _tick(s + shift), _tick(e + shift)) for p, v, s, e in self.notes)
        return tuple(normalize_notes(notes))


def _pickup_shift(first_bar_length: float, bar_length: float) -> float:
    """Quarter lengths that move a short first bar to end on the second bar line."""
    if 0 < first_bar_length < bar_length - 1e-6:
        return bar_length - first_bar_length
    return 0.0


def _piece(
    task: FileTask,
    name: str,
    builder: _NoteBuilder,
    shift: float,
    ticks_per_bar: int,
    tonic: int | None,
) -> ReadResult:
    notes = builder.build(shift)
    if not notes:
        return ReadResult(skipped=Counter({f"{task.reader}: no notes": 1}))
    piece = Piece(name, task.collection, notes, ticks_per_bar, tonic, task.licence)
    return ReadResult(pieces=[piece])


# ABC: the token route ------------------------------------------------------------------


@cache
def _pitch_facts(pitch_name: str) -> tuple[int, str]:
    """MIDI number and the written step with octave (what a tie keeps) of a pitch name."""
    parsed = pitch.Pitch(pitch_name)
    return parsed.midi, f"{parsed.step}{parsed.octave}"


def _abc_tonic(metadata: abcFormat.ABCMetadata) -> int | None:
    if metadata.data.strip().lower() in ("", "none"):
        return None
    signature = metadata.getKeySignatureObject()
    if not isinstance(signature, key.Key):
        signature = signature.asKey("major")
    return signature.tonic.pitchClass


def _abc_note_pitches(token: abcFormat.ABCNote) -> list[str]:
    if isinstance(token, abcFormat.ABCChord):
        return [sub.pitchName for sub in token.subTokens]
    return [] if token.isRest else [token.pitchName]


@dataclass
class _AbcVoice:
    """What one voice's tokens say besides its notes (quarter lengths)."""

    bar_length: float = 0.0  # 0 when the meter is free or missing
    first_bar_length: float = 0.0  # time before the first bar line after a note
    tonic: int | None = None


def _read_abc_voice(tokens: list[abcFormat.ABCToken], builder: _NoteBuilder) -> _AbcVoice:
    voice = _AbcVoice()
    meter_seen = key_seen = bar_seen = False
    now = 0.0
    previous_steps: dict[str, int] = {}  # written step -> MIDI of the notes just before
    for token in tokens:
        if isinstance(token, abcFormat.ABCMetadata):
            if token.isMeter() and not meter_seen:
                meter_seen = True
                signature = token.getTimeSignatureObject()  # None for "M: none"
                voice.bar_length = signature.barDuration.quarterLength if signature else 0.0
            elif token.isKey() and not key_seen:
                key_seen = True
                voice.tonic = _abc_tonic(token)
        elif isinstance(token, abcFormat.ABCBar):
            if not bar_seen and now > 0:
                bar_seen = True
                voice.first_bar_length = now
        elif isinstance(token, abcFormat.ABCNote) and not token.inGrace:
            length = float(token.quarterLength)
            if token.activeTuplet is not None:
                length *= float(token.activeTuplet.tupletMultiplier())
            tied = token.tie in ("stop", "continue")
            steps = {}
            for pitch_name in _abc_note_pitches(token):
                midi, step = _pitch_facts(pitch_name)
                # A tie across a bar line keeps its accidental although ABC writes
                # none; a "tie" to another step is a slur (O'Neill).
                if tied and step in previous_steps:
                    midi = previous_steps[step]
                builder.add(midi, now, now + length, tied, DEFAULT_VELOCITY)
                steps[step] = midi
            previous_steps = steps
            now += length
    return voice


def _abc_tune(task: FileTask, name: str, text: str) -> ReadResult:
    handler = abcFormat.ABCFile().readstr(text)
    voice_tokens = [handler.tokens]
    if any(isinstance(t, abcFormat.ABCMetadata) and t.isVoice() for t in handler.tokens):
        header, *voices = handler.splitByVoice()  # voices start together, after the header
        voice_tokens = [header.tokens + voice.tokens for voice in voices] or [header.tokens]
    builder = _NoteBuilder()
    first, *_ = [_read_abc_voice(tokens, builder) for tokens in voice_tokens]
    shift = _pickup_shift(first.first_bar_length, first.bar_length)
    ticks_per_bar = _tick(first.bar_length) or DEFAULT_TICKS_PER_BAR
    return _piece(task, name, builder, shift, ticks_per_bar, first.tonic)


def split_abc_tunes(text: str) -> Iterator[tuple[str, str]]:
    """(reference, tune text with the file header) for each ``X:`` tune.

    The reference is the ``X:`` number, or ``"tune<i>"`` (the tune's place in
    the file) when the field holds none.

    Each tune is parsed on its own: parsing a whole file carries one tune's
    ``L:`` into the next tune that has none.
    """
    header, *tunes = _TUNE_START.split(_GERMAN_KEY_LINE.sub(_english_tonic, text))
    if header.startswith("X:"):
        header, tunes = "", [header, *tunes]
    for index, tune in enumerate(tunes, 1):
        number = _REFERENCE.match(tune)
        yield str(int(number.group(1))) if number else f"tune{index}", header + tune


def _english_tonic(match: re.Match) -> str:
    return match.group(1) + GERMAN_TONICS[match.group(2)]


def _read_abc(task: FileTask) -> ReadResult:
    result = ReadResult()
    for reference, text in split_abc_tunes(task.path.read_text(encoding="utf-8", errors="replace")):
        result.add(_guarded(_abc_tune, task, f"{task.name}#{reference}", text))
    return result


# Scores through music21 ------------------------------------------------------------------


def _score_tonic(score: stream.Score) -> int:
    written_key = score.recurse().getElementsByClass(key.Key).first()
    return (written_key or score.analyze("key")).tonic.pitchClass


def _read_score(task: FileTask) -> ReadResult:
    """A kern or MusicXML score, keeping its first ``task.max_parts`` parts."""
    score = converter.parse(task.path, forceSource=True)
    parts = (list(score.parts) or [score])[: task.max_parts]
    signature = score.recurse().getElementsByClass(meter.TimeSignature).first()
    bar_length = float(signature.barDuration.quarterLength) if signature else 4.0
    measures = parts[0].getElementsByClass(stream.Measure)
    first_bar_length = float(measures[1].offset - measures[0].offset) if len(measures) > 1 else 0
    builder = _NoteBuilder()
    for part in parts:
        for element in part.flatten().notes:
            if element.duration.isGrace or isinstance(element, harmony.ChordSymbol):
                continue
            start = float(element.offset)
            end = start + float(element.quarterLength)
            tied = element.tie is not None and element.tie.type in ("stop", "continue")
            for sounding in element.pitches:
                builder.add(sounding.midi, start, end, tied, DEFAULT_VELOCITY)
    shift = _pickup_shift(first_bar_length, bar_length)
    tonic = _score_tonic(score) if builder.notes else None  # key analysis fails on no notes
    return _piece(task, task.name, builder, shift, _tick(bar_length), tonic)


# MIDI files ------------------------------------------------------------------------------


def _read_midi(task: FileTask) -> ReadResult:
    """A MIDI file on its own tempo map; drums are left out."""
    midi = pretty_midi.PrettyMIDI(str(task.path))
    builder = _NoteBuilder()
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        for played in instrument.notes:
            start = midi.time_to_tick(played.start) / midi.resolution  # quarter lengths
            end = midi.time_to_tick(played.end) / midi.resolution
            builder.add(played.pitch, start, end, False, played.velocity)
    ticks_per_bar = DEFAULT_TICKS_PER_BAR
    if midi.time_signature_changes:
        signature = midi.time_signature_changes[0]
        ticks_per_bar = round(signature.numerator * 4 * TICKS_PER_BEAT / signature.denominator)
    tonic = None
    if midi.key_signature_changes:
        tonic = midi.key_signature_changes[0].key_number % 12  # 12..23 are the minor keys
    return _piece(task, task.name, builder, 0.0, ticks_per_bar, tonic)


# Running a reader ------------------------------------------------------------------------

_READERS: dict[str, Callable[[FileTask], ReadResult]] = {
    "abc": _read_abc,
    "score": _read_score,
    "midi": _read_midi,
}


def _guarded(read: Callable[..., ReadResult], task: FileTask, *args) -> ReadResult:
    """Run a reader; a failure becomes a skip counted under its exception's name."""
    try:
        return read(task, *args)
    except Exception as error:  # any parser error only skips this file or tune
        return ReadResult(skipped=Counter({f"{task.reader}: {type(error).__name__}": 1}))


def read_task(task: FileTask) -> ReadResult:
    """The pieces of one file; a failure to parse is counted, never raised."""
    return _guarded(_READERS[task.reader], task)
