"""Reads pieces of music into one neutral form, :class:`Piece`.

Sources (see :func:`read_source`):

- ``"folk"``: music21's bundled ABC collections (essenFolksong, oneills1850,
  ryansMammoth, airdsAirs). ABC is read straight from music21's tokens (each
  token's pitch name and quarter length times its tuplet multiplier) without
  building music21 streams: all 12,591 tunes take about 25 s on two cores.
- ``"polyphonic"``: the Bach chorales (the 350 unique ones, soprano to bass) and
  Palestrina, parsed by music21.
- a folder path: every MIDI file below it (pretty_midi), ABC (the token route),
  kern and MusicXML (music21).

Notes are on the 24-ticks-per-beat grid with tick 0 on a bar line: a pickup is
moved to the end of its (otherwise empty) first bar. A file or tune that fails
to parse is skipped and counted by reason; nothing aborts a read.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import music21
import pretty_midi
from music21 import abcFormat, converter, harmony, key, meter, pitch, stream

from liveimpro.config.settings import FieldSpec, check_field
from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note, bar_ticks, normalize_notes

DEFAULT_VELOCITY = 90  # the scores carry no dynamics
DEFAULT_TICKS_PER_BAR = bar_ticks(4)  # 4/4 when a piece names no meter
CHORALE_VOICES = 4  # some chorale files add instrument parts after SATB

NAMED_SOURCES = ("folk", "polyphonic")  # any other source is a folder path
FOLK_COLLECTIONS = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs")
# O'Neill numbers tunes across the whole book and its files overlap, so a tune is
# named by its number alone and the second copy is dropped as a duplicate name.
BOOK_NUMBERED_COLLECTIONS = ("oneills1850",)
# music21 states a licence only for Essen; the other pieces are old public-domain
# music whose encodings the corpus distributes without a stated licence.
ENCODING_LICENCE = "public-domain music; encoding from the music21 corpus, no licence stated"
LICENCES = {
    "essenFolksong": "non-commercial use within music21 (corpus/essenFolksong/license.txt)",
    "oneills1850": ENCODING_LICENCE,
    "ryansMammoth": ENCODING_LICENCE,
    "airdsAirs": ENCODING_LICENCE,
    "bach": ENCODING_LICENCE,
    "palestrina": ENCODING_LICENCE,
}
USER_LICENCE = "user supplied"

MIDI_SUFFIXES = (".mid", ".midi")
ABC_SUFFIXES = (".abc",)
SCORE_SUFFIXES = (".krn", ".xml", ".mxl", ".musicxml")
MUSIC_SUFFIXES = MIDI_SUFFIXES + ABC_SUFFIXES + SCORE_SUFFIXES
GERMAN_TONICS = {"H": "B", "Es": "Eb", "As": "Ab", "Des": "Db", "Ges": "Gb"}  # Essen K: lines
_GERMAN_KEY_LINE = re.compile(r"^(K:\s*)(" + "|".join(GERMAN_TONICS) + r")(?![a-z#])", re.M)
_TUNE_START = re.compile(r"^(?=X:)", re.M)
_REFERENCE = re.compile(r"X:\s*(\d+)")
PROGRESS_REPORTS = 10  # log lines per collection
MAX_WORKERS = 64
WORKERS = FieldSpec("processes that parse files", low=1, high=MAX_WORKERS)
LIMIT = FieldSpec("the first pieces of each collection; None for all", low=1)

log = logging.getLogger(__name__)


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
class _FileTask:
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
    task: _FileTask,
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


def _abc_tune(task: _FileTask, name: str, text: str) -> ReadResult:
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


def _read_abc(task: _FileTask) -> ReadResult:
    result = ReadResult()
    for reference, text in split_abc_tunes(task.path.read_text(encoding="utf-8", errors="replace")):
        result.add(_guarded(_abc_tune, task, f"{task.name}#{reference}", text))
    return result


# Scores through music21 ------------------------------------------------------------------


def _score_tonic(score: stream.Score) -> int:
    written_key = score.recurse().getElementsByClass(key.Key).first()
    return (written_key or score.analyze("key")).tonic.pitchClass


def _read_score(task: _FileTask) -> ReadResult:
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


def _read_midi(task: _FileTask) -> ReadResult:
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


# Running files ---------------------------------------------------------------------------

_READERS: dict[str, Callable[[_FileTask], ReadResult]] = {
    "abc": _read_abc,
    "score": _read_score,
    "midi": _read_midi,
}


def _guarded(read: Callable[..., ReadResult], task: _FileTask, *args) -> ReadResult:
    """Run a reader; a failure becomes a skip counted under its exception's name."""
    try:
        return read(task, *args)
    except Exception as error:  # any parser error only skips this file or tune
        return ReadResult(skipped=Counter({f"{task.reader}: {type(error).__name__}": 1}))


def _read_task(task: _FileTask) -> ReadResult:
    return _guarded(_READERS[task.reader], task)


def _results(tasks: list[_FileTask], workers: int) -> Iterator[ReadResult]:
    if workers == 1 or len(tasks) == 1:
        yield from map(_read_task, tasks)
        return
    with multiprocessing.Pool(workers) as pool:  # leaving early terminates the workers
        yield from pool.imap(_read_task, tasks)


def _read_collection(tasks: list[_FileTask], limit: int | None, workers: int) -> ReadResult:
    """The first ``limit`` pieces of some files, dropping pieces whose name repeats."""
    result = ReadResult()
    names: set[str] = set()
    results = _results(tasks, workers)
    report_every = max(1, len(tasks) // PROGRESS_REPORTS)
    for done, file_result in enumerate(results, 1):
        if done % report_every == 0:
            log.info("%s: %d of %d files read", tasks[0].collection, done, len(tasks))
        result.skipped += file_result.skipped
        for piece in file_result.pieces:
            if piece.name in names:
                result.skipped["duplicate name"] += 1
                continue
            names.add(piece.name)
            result.pieces.append(piece)
        if limit is not None and len(result.pieces) >= limit:
            results.close()
            del result.pieces[limit:]
            break
    return result


# Sources ---------------------------------------------------------------------------------


def _corpus_root() -> Path:
    return Path(music21.__file__).parent / "corpus"


def _folk_tasks(collection: str) -> list[_FileTask]:
    folder = _corpus_root() / collection
    return [
        _FileTask(
            "abc",
            path,
            collection if collection in BOOK_NUMBERED_COLLECTIONS else f"{collection}/{path.name}",
            collection,
            LICENCES[collection],
        )
        for path in sorted(folder.glob("*.abc"))
    ]


def _chorale_tasks() -> list[_FileTask]:
    iterator = music21.corpus.chorales.Iterator(
        returnType="filename", numberingSystem="riemenschneider"
    )
    tasks = []
    for work in dict.fromkeys(iterator):  # the numbering lists some chorales twice
        found = music21.corpus.getWork(work)
        path = Path(found[0] if isinstance(found, list) else found)
        tasks.append(
            _FileTask("score", path, f"bach/{path.name}", "bach", LICENCES["bach"], CHORALE_VOICES)
        )
    return tasks


def _palestrina_tasks() -> list[_FileTask]:
    paths = sorted(Path(p) for p in music21.corpus.getComposer("palestrina"))
    licence = LICENCES["palestrina"]
    return [_FileTask("score", p, f"palestrina/{p.name}", "palestrina", licence) for p in paths]


def folder_files(folder: Path) -> list[Path]:
    """The readable music files below ``folder``, in a stable order."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES
    )


def _user_task(path: Path, folder: Path) -> _FileTask:
    suffix = path.suffix.lower()
    reader = "midi" if suffix in MIDI_SUFFIXES else "abc" if suffix in ABC_SUFFIXES else "score"
    name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
    return _FileTask(reader, path, name, folder.name, USER_LICENCE)


def read_file(path: Path) -> ReadResult:
    """One MIDI, ABC, kern or MusicXML file, read as a folder source reads it."""
    if path.suffix.lower() not in MUSIC_SUFFIXES:
        raise ValueError(f"file must be MIDI, ABC, kern or MusicXML, got {path.name}")
    return _read_task(_user_task(path, path.parent))


def _source_collections(source: str) -> dict[str, Callable[[], list[_FileTask]]]:
    """The collections of a source, each with a function listing its files."""
    if source == "folk":
        return {name: (lambda name=name: _folk_tasks(name)) for name in FOLK_COLLECTIONS}
    if source == "polyphonic":
        return {"bach": _chorale_tasks, "palestrina": _palestrina_tasks}
    folder = Path(source)
    if not folder.is_dir():
        raise ValueError(f"source must be 'folk', 'polyphonic' or a folder, got {source!r}")
    return {folder.name: lambda: [_user_task(path, folder) for path in folder_files(folder)]}


def source_fingerprint(source: str) -> str:
    """What identifies a source's content: the music21 version, or a folder's files."""
    if source in NAMED_SOURCES:
        return f"{source} music21 {music21.__version__}"
    folder = Path(source).resolve()
    files = (
        f"{p.relative_to(folder).as_posix()}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in folder_files(folder)
    )
    return f"{folder}|" + "|".join(files)


def read_source(
    source: str,
    *,
    limit: int | None = None,
    workers: int = 2,
    collections: Collection[str] | None = None,
) -> dict[str, ReadResult]:
    """Read a source: ``"folk"``, ``"polyphonic"`` or a folder path.

    Returns each collection's result (a folder is one collection). ``limit``
    keeps the first pieces of each collection; ``workers`` processes parse;
    ``collections``, if given, names the only collections to read.
    """
    if limit is not None:
        check_field("limit", limit, int, LIMIT)
    check_field("workers", workers, int, WORKERS)
    available = _source_collections(source)
    unknown = set(collections or ()) - set(available)
    if unknown:
        raise ValueError(f"collections must be among {sorted(available)}, got {sorted(unknown)}")
    return {
        collection: _read_collection(list_tasks(), limit, workers)
        for collection, list_tasks in available.items()
        if collections is None or collection in collections
    }
