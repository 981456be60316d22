"""Reads a source of music into pieces (:class:`training.readers.Piece`).

Sources (see :func:`read_source`):

- ``"folk"``: music21's bundled ABC collections (essenFolksong, oneills1850,
  ryansMammoth, airdsAirs). ABC is read straight from music21's tokens without
  building music21 streams: all 12,591 tunes take about 25 s on two cores.
- ``"polyphonic"``: the Bach chorales (the 350 unique ones, soprano to bass) and
  Palestrina, parsed by music21.
- a folder path: every MIDI file below it (pretty_midi), ABC (the token route),
  kern and MusicXML (music21).

Files are read by training.readers, in worker processes. A file or tune that fails to parse
is skipped and counted by reason; nothing aborts a read.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import music21

from liveimpro.config.fields import FieldSpec, check_field
from training.readers import (
    ABC_SUFFIXES,
    MIDI_SUFFIXES,
    MUSIC_SUFFIXES,
    FileTask,
    ReadResult,
    read_task,
)

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

PROGRESS_REPORTS = 10  # log lines per collection
MAX_WORKERS = 64
WORKERS = FieldSpec("processes that parse files", low=1, high=MAX_WORKERS)
LIMIT = FieldSpec("the first pieces of each collection; None for all", low=1)

log = logging.getLogger(__name__)


# Reading collections ---------------------------------------------------------------------


def _results(tasks: list[FileTask], workers: int) -> Iterator[ReadResult]:
    if workers == 1 or len(tasks) == 1:
        yield from map(read_task, tasks)
        return
    with multiprocessing.Pool(workers) as pool:  # leaving early terminates the workers
        yield from pool.imap(read_task, tasks)


def _read_collection(tasks: list[FileTask], limit: int | None, workers: int) -> ReadResult:
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


def _folk_tasks(collection: str) -> list[FileTask]:
    folder = _corpus_root() / collection
    return [
        FileTask(
            "abc",
            path,
            collection if collection in BOOK_NUMBERED_COLLECTIONS else f"{collection}/{path.name}",
            collection,
            LICENCES[collection],
        )
        for path in sorted(folder.glob("*.abc"))
    ]


def _chorale_tasks() -> list[FileTask]:
    iterator = music21.corpus.chorales.Iterator(
        returnType="filename", numberingSystem="riemenschneider"
    )
    tasks = []
    for work in dict.fromkeys(iterator):  # the numbering lists some chorales twice
        found = music21.corpus.getWork(work)
        path = Path(found[0] if isinstance(found, list) else found)
        tasks.append(
            FileTask("score", path, f"bach/{path.name}", "bach", LICENCES["bach"], CHORALE_VOICES)
        )
    return tasks


def _palestrina_tasks() -> list[FileTask]:
    paths = sorted(Path(p) for p in music21.corpus.getComposer("palestrina"))
    licence = LICENCES["palestrina"]
    return [FileTask("score", p, f"palestrina/{p.name}", "palestrina", licence) for p in paths]


def folder_files(folder: Path) -> list[Path]:
    """The readable music files below ``folder``, in a stable order."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES
    )


def _user_task(path: Path, folder: Path) -> FileTask:
    suffix = path.suffix.lower()
    reader = "midi" if suffix in MIDI_SUFFIXES else "abc" if suffix in ABC_SUFFIXES else "score"
    name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
    return FileTask(reader, path, name, folder.name, USER_LICENCE)


def read_file(path: Path) -> ReadResult:
    """One MIDI, ABC, kern or MusicXML file, read as a folder source reads it."""
    if path.suffix.lower() not in MUSIC_SUFFIXES:
        raise ValueError(f"file must be MIDI, ABC, kern or MusicXML, got {path.name}")
    return read_task(_user_task(path, path.parent))


def _source_collections(source: str) -> dict[str, Callable[[], list[FileTask]]]:
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
