"""The prepare stage: pieces from the corpus become tokenised, split shards.

Per piece, in order: read (training.corpus) -> transpose its tonic to C (the
shortest way, -6..+5 semitones; unknown tonics stay) -> drop it if its aligned
notes repeat an earlier piece -> assign a split from a hash of those notes and
the seed (so a rerun gives the same split) -> tokenise as ``[BOS] + encode(notes)
+ [EOS]``. Only then are training pieces transposed over the augmentation range,
so every transposition of a piece stays in its piece's split.

Each split is saved as one ``.npz`` shard (see :class:`liveimpro.core.shards.Shard`) in a
folder named by a hash of the options, the sources' identities, the vocabulary spec and
:data:`FORMAT_VERSION`; a rerun with the same inputs finds it and reads nothing.

Command line::

    python -m training.prepare --source folk --source polyphonic --source ~/midi \\
        --transpose -6 5 --split 0.8 0.1 0.1 --seed 0 --limit 20 --output runs/prepared

``--source`` repeats (``folk``, ``polyphonic`` or a folder of MIDI/ABC/kern/MusicXML
files); ``--limit`` keeps the first N pieces of each collection, for quick runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liveimpro.config.fields import check_fields, setting
from liveimpro.music.vocabulary import Note, Vocabulary, VocabularySpec, encode
from training.corpus import LIMIT, MAX_WORKERS, NAMED_SOURCES, read_source, source_fingerprint
from training.readers import Piece

FORMAT_VERSION = 1  # bump when reading or tokenising changes, so old caches are not reused
SPLITS = ("train", "validation", "test")
MAX_TRANSPOSE = 12
COUNTS_FILE = "counts.json"  # written last: its presence marks a finished folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepareOptions:
    """Everything the prepare stage needs; all but ``output_dir`` and ``workers``
    decide the shards' content and so their cache key."""

    sources: tuple[str, ...] = ("folk",)
    transpose: tuple[int, int] = (-6, 5)  # lowest and highest; -6..5 covers every key
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, validation, test
    seed: int = setting(0, "seeds the split")
    limit: int | None = setting(None, LIMIT.doc, low=LIMIT.low)
    output_dir: Path = Path("runs/prepared")
    workers: int = setting(2, "processes that parse files", low=1, high=MAX_WORKERS)
    vocabulary: VocabularySpec = field(default_factory=VocabularySpec)

    def __post_init__(self) -> None:
        if not isinstance(self.sources, tuple) or not all(isinstance(s, str) for s in self.sources):
            raise TypeError(f"sources must be a tuple of str, got {self.sources!r}")
        if not self.sources:
            raise ValueError("sources must name at least one source")
        for source in self.sources:
            if source not in NAMED_SOURCES and not Path(source).is_dir():
                raise ValueError(
                    f"source must be one of {NAMED_SOURCES} or a folder, got {source!r}"
                )
        if not isinstance(self.transpose, tuple) or len(self.transpose) != 2:
            raise TypeError(f"transpose must be a (low, high) tuple, got {self.transpose!r}")
        low, high = (_require_int("transpose", value) for value in self.transpose)
        if not -MAX_TRANSPOSE <= low <= 0 <= high <= MAX_TRANSPOSE:
            raise ValueError(
                f"transpose must satisfy -{MAX_TRANSPOSE} <= low <= 0 <= high <= {MAX_TRANSPOSE},"
                f" got {self.transpose}"
            )
        if len(self.split) != len(SPLITS) or not all(_is_number(f) for f in self.split):
            raise TypeError(f"split must be {len(SPLITS)} numbers, got {self.split!r}")
        if min(self.split) < 0 or self.split[0] <= 0 or abs(sum(self.split) - 1) > 1e-9:
            raise ValueError(f"split fractions must be >= 0, train > 0, sum 1; got {self.split}")
        check_fields(self)
        if not isinstance(self.output_dir, Path):
            raise TypeError(f"output_dir must be a Path, got {type(self.output_dir).__name__}")
        if not isinstance(self.vocabulary, VocabularySpec):
            raise TypeError(f"vocabulary must be a VocabularySpec, got {self.vocabulary!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PreparedData:
    directory: Path
    shards: dict[str, Path]  # split -> .npz path
    counts: dict
    cached: bool  # True when an earlier run had made these shards


# Per-piece steps -------------------------------------------------------------------------


def transpose_notes(notes: Sequence[Note], semitones: int) -> tuple[Note, ...]:
    """Notes moved by ``semitones``; those leaving 0..127 are dropped."""
    moved = (Note(n.pitch + semitones, n.velocity, n.start, n.end) for n in notes)
    return tuple(n for n in moved if 0 <= n.pitch <= 127)


def align_to_c(piece: Piece) -> Piece:
    """The piece moved by -6..+5 semitones so that its tonic is C."""
    if piece.tonic is None:
        return piece
    semitones = (6 - piece.tonic) % 12 - 6
    return dataclasses.replace(piece, notes=transpose_notes(piece.notes, semitones), tonic=0)


def content_hash(notes: Sequence[Note]) -> str:
    """A digest of the notes themselves, blind to the piece's name."""
    table = np.array([(n.pitch, n.velocity, n.start, n.end) for n in notes], dtype=np.int64)
    return hashlib.blake2b(table.tobytes(), digest_size=16).hexdigest()  # table: (n, 4)


def split_of(digest: str, seed: int, fractions: Sequence[float]) -> str:
    """The split a piece belongs to: a fixed function of its content hash and the seed."""
    draw = hashlib.blake2b(f"{seed}:{digest}".encode(), digest_size=8).digest()
    position = int.from_bytes(draw, "big") / 2**64  # uniform in [0, 1)
    bounds = np.cumsum(fractions)
    return SPLITS[min(int(np.searchsorted(bounds, position, side="right")), len(SPLITS) - 1)]


def piece_tokens(piece: Piece, vocabulary: Vocabulary) -> np.ndarray:
    """(T,) int16: BOS, the piece's events, EOS."""
    tokens = [Vocabulary.BOS, *encode(piece.notes, vocabulary), Vocabulary.EOS]
    return np.asarray(tokens, dtype=np.int16)


def transpose_tokens(
    tokens: np.ndarray, semitones: int, vocabulary: Vocabulary
) -> np.ndarray | None:
    """The tokens of the piece moved by ``semitones``, or None if a note would leave 0..127.

    Moving every pitch keeps the pitch order at each tick, so this equals
    encoding the transposed notes.
    """
    is_note = (tokens >= vocabulary.note_on_base) & (tokens < vocabulary.velocity_base)  # (T,)
    pitches = (tokens[is_note] - vocabulary.note_on_base) % 128
    if len(pitches) and not 0 <= pitches.min() + semitones <= pitches.max() + semitones <= 127:
        return None
    moved = tokens.copy()
    moved[is_note] += semitones
    return moved


# The stage -------------------------------------------------------------------------------


def cache_key(options: PrepareOptions) -> str:
    """A hash of everything that decides the shards' content."""
    inputs = {
        "format": FORMAT_VERSION,
        "sources": [source_fingerprint(source) for source in options.sources],
        "transpose": options.transpose,
        "split": options.split,
        "seed": options.seed,
        "limit": options.limit,
        "vocabulary": options.vocabulary.to_dict(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


class _SplitBuilder:
    """Collects one split's pieces as token arrays."""

    def __init__(self) -> None:
        self.tokens: list[np.ndarray] = []
        self.ticks_per_bar: list[int] = []
        self.names: list[str] = []
        self.source_pieces = 0

    def add(self, name: str, tokens: np.ndarray, ticks_per_bar: int) -> None:
        self.names.append(name)
        self.tokens.append(tokens)
        self.ticks_per_bar.append(ticks_per_bar)

    def save(self, path: Path) -> dict[str, int]:
        lengths = [len(t) for t in self.tokens]
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])  # (n + 1,)
        tokens = np.concatenate(self.tokens) if self.tokens else np.zeros(0, np.int16)
        temporary = path.with_suffix(".tmp")
        with temporary.open("wb") as file:
            np.savez(
                file,
                tokens=tokens.astype(np.int16),
                offsets=offsets.astype(np.int64),
                ticks_per_bar=np.asarray(self.ticks_per_bar, dtype=np.int32),
                names=np.asarray(self.names, dtype=str),
            )
        os.replace(temporary, path)
        return {
            "source_pieces": self.source_pieces,
            "pieces": len(self.names),
            "tokens": len(tokens),
        }


def _read_all(options: PrepareOptions, counts: dict) -> list[Piece]:
    pieces: list[Piece] = []
    skipped: Counter[str] = Counter()
    for source in options.sources:
        started = time.perf_counter()
        for collection, result in read_source(
            source, limit=options.limit, workers=options.workers
        ).items():
            notes = sum(len(piece.notes) for piece in result.pieces)
            counts["collections"][collection] = {"pieces": len(result.pieces), "notes": notes}
            log.info("%s: %d pieces, %d notes", collection, len(result.pieces), notes)
            pieces += result.pieces
            skipped += result.skipped
        counts["read_seconds"][source] = round(time.perf_counter() - started, 1)
        log.info("read %s in %.1f s", source, counts["read_seconds"][source])
    counts["skipped"] = dict(skipped.most_common())
    for reason, number in skipped.most_common():
        log.info("skipped %d: %s", number, reason)
    return pieces


def _build_splits(
    pieces: list[Piece], options: PrepareOptions, counts: dict
) -> dict[str, _SplitBuilder]:
    vocabulary = Vocabulary(options.vocabulary)
    splits = {split: _SplitBuilder() for split in SPLITS}
    seen: set[str] = set()
    low, high = options.transpose
    for piece in pieces:
        aligned = align_to_c(piece)
        digest = content_hash(aligned.notes)
        if digest in seen:
            counts["duplicates"] += 1
            continue
        seen.add(digest)
        counts["unknown_tonic"] += piece.tonic is None
        split = split_of(digest, options.seed, options.split)
        tokens = piece_tokens(aligned, vocabulary)
        builder = splits[split]
        builder.source_pieces += 1
        semitones_range = range(low, high + 1) if split == "train" else (0,)
        for semitones in semitones_range:
            moved = transpose_tokens(tokens, semitones, vocabulary)
            if moved is not None:
                name = f"{aligned.name}@{semitones:+d}" if semitones else aligned.name
                builder.add(name, moved, aligned.ticks_per_bar)
    log.info("duplicates removed: %d", counts["duplicates"])
    return splits


def prepare(options: PrepareOptions) -> PreparedData:
    """Make (or find cached) train/validation/test shards for ``options``."""
    directory = options.output_dir / f"prepared-{cache_key(options)}"
    shards = {split: directory / f"{split}.npz" for split in SPLITS}
    counts_path = directory / COUNTS_FILE
    if counts_path.exists():
        log.info("cached: %s already holds these shards; nothing to do", directory)
        return PreparedData(directory, shards, json.loads(counts_path.read_text()), cached=True)

    counts: dict = {"collections": {}, "read_seconds": {}, "duplicates": 0, "unknown_tonic": 0}
    pieces = _read_all(options, counts)
    splits = _build_splits(pieces, options, counts)
    directory.mkdir(parents=True, exist_ok=True)
    counts["splits"] = {split: splits[split].save(shards[split]) for split in SPLITS}
    for split, split_counts in counts["splits"].items():
        log.info(
            "%s: %d pieces (%d before transposition), %d tokens",
            split,
            split_counts["pieces"],
            split_counts["source_pieces"],
            split_counts["tokens"],
        )
    temporary = counts_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(counts, indent=2))
    os.replace(temporary, counts_path)
    return PreparedData(directory, shards, counts, cached=False)


# Command line ----------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> PrepareOptions:
    defaults = PrepareOptions()
    parser = argparse.ArgumentParser(
        prog="python -m training.prepare",
        description="Read, key-align, deduplicate, split, augment and tokenise the corpus.",
    )
    parser.add_argument(
        "--source",
        action="append",
        dest="sources",
        help="'folk', 'polyphonic' or a folder of music files; repeat for more "
        f"(default: {' '.join(defaults.sources)})",
    )
    parser.add_argument(
        "--transpose",
        nargs=2,
        type=int,
        metavar=("LOW", "HIGH"),
        default=defaults.transpose,
        help="training transpositions in semitones, inclusive (default: %(default)s)",
    )
    parser.add_argument(
        "--split",
        nargs=3,
        type=float,
        metavar=("TRAIN", "VALIDATION", "TEST"),
        default=defaults.split,
        help="split fractions (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="split seed")
    parser.add_argument("--limit", type=int, help="first N pieces of each collection")
    parser.add_argument("--output", type=Path, default=defaults.output_dir, help="output folder")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="parse processes")
    args = parser.parse_args(argv)
    try:
        return PrepareOptions(
            sources=tuple(args.sources or defaults.sources),
            transpose=tuple(args.transpose),
            split=tuple(args.split),
            seed=args.seed,
            limit=args.limit,
            output_dir=args.output,
            workers=args.workers,
        )
    except (TypeError, ValueError) as error:
        parser.error(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    prepared = prepare(_parse_args(argv))
    print(json.dumps({"directory": str(prepared.directory), **prepared.counts}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
