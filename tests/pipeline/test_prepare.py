import logging
import random
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from liveimpro.core.shards import load_shard
from liveimpro.music.vocabulary import Note, Vocabulary, decode, encode
from training.corpus import read_source
from training.prepare import (
    SPLITS,
    PrepareOptions,
    align_to_c,
    content_hash,
    main,
    prepare,
    split_of,
    transpose_notes,
    transpose_tokens,
)
from training.readers import Piece

VOCABULARY = Vocabulary()


def piece_with(tonic: int | None, pitches=(60, 64, 67)) -> Piece:
    notes = tuple(Note(p, 90, 24 * i, 24 * i + 24) for i, p in enumerate(pitches))
    return Piece("test#1", "test", notes, 96, tonic, "test")


@pytest.mark.parametrize(("tonic", "semitones"), [(0, 0), (5, -5), (6, -6), (7, 5), (11, 1)])
def test_align_to_c_takes_the_shortest_way(tonic, semitones):
    aligned = align_to_c(piece_with(tonic))
    assert [n.pitch for n in aligned.notes] == [60 + semitones, 64 + semitones, 67 + semitones]
    assert aligned.tonic == 0


def test_unknown_tonic_stays():
    piece = piece_with(None)
    assert align_to_c(piece) == piece


def test_split_is_a_fixed_function_of_content_and_seed():
    digests = [content_hash(piece_with(None, (p, p + 3)).notes) for p in range(20, 100)]
    digests += [f"{random.Random(i).getrandbits(128):032x}" for i in range(3000)]
    first = [split_of(d, 0, (0.8, 0.1, 0.1)) for d in digests]
    assert first == [split_of(d, 0, (0.8, 0.1, 0.1)) for d in digests]
    shares = [first.count(split) / len(first) for split in SPLITS]
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.03)
    assert first != [split_of(d, 1, (0.8, 0.1, 0.1)) for d in digests]


def test_content_hash_ignores_the_name_but_not_the_notes():
    piece = piece_with(0)
    assert content_hash(piece.notes) == content_hash(piece_with(0).notes)
    assert content_hash(piece.notes) != content_hash(transpose_notes(piece.notes, 1))


def test_transposed_tokens_equal_encoding_transposed_notes():
    notes = [Note(60, 90, 0, 48), Note(64, 90, 0, 24), Note(67, 70, 24, 48), Note(62, 90, 72, 80)]
    tokens = np.asarray(encode(notes, VOCABULARY), dtype=np.int16)
    for semitones in (-5, 3):
        expected = encode(transpose_notes(notes, semitones), VOCABULARY)
        assert transpose_tokens(tokens, semitones, VOCABULARY).tolist() == expected
    assert transpose_tokens(tokens, 61, VOCABULARY) is None  # 67 + 61 > 127


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"transpose": (1, 5)}, ValueError),
        ({"transpose": (-5.0, 5)}, TypeError),
        ({"split": (0.5, 0.2, 0.2)}, ValueError),
        ({"split": (0.8, 0.2)}, TypeError),
        ({"sources": ("folky",)}, ValueError),
        ({"sources": ["folk"]}, TypeError),
        ({"limit": 0}, ValueError),
        ({"output_dir": "data"}, TypeError),
    ],
)
def test_bad_options_are_refused(changes, error):
    with pytest.raises(error):
        PrepareOptions(**changes)


def write_midi(path: Path, pitches: list[int], key_number: int) -> None:
    midi = pretty_midi.PrettyMIDI(resolution=96, initial_tempo=120.0)
    midi.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))
    piano = pretty_midi.Instrument(program=0)
    for index, pitch in enumerate(pitches):
        piano.notes.append(pretty_midi.Note(90, pitch, index * 0.5, index * 0.5 + 0.25))
    midi.instruments.append(piano)
    midi.write(str(path))


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    tune = [60, 62, 64, 65, 67, 65, 64, 62]
    write_midi(folder / "in_c.mid", tune, key_number=0)
    write_midi(folder / "in_d.mid", [p + 2 for p in tune], key_number=2)  # same tune in D
    write_midi(folder / "other.mid", [72, 71, 69, 67, 65, 64, 62, 60], key_number=0)
    return folder


def shard_pieces(prepared) -> dict[str, tuple[str, np.ndarray, int]]:
    """piece name -> (split, tokens, ticks per bar)."""
    found = {}
    for split, path in prepared.shards.items():
        shard = load_shard(path)
        assert shard.tokens.dtype == np.int16 and shard.offsets.dtype == np.int64
        assert shard.offsets[0] == 0 and shard.offsets[-1] == len(shard.tokens)
        for index, name in enumerate(shard.names):
            found[str(name)] = (split, shard.piece_tokens(index), int(shard.ticks_per_bar[index]))
    return found


@pytest.mark.slow
def test_tiny_prepare_decodes_back_to_the_aligned_notes(tmp_path, midi_folder):
    options = PrepareOptions(
        sources=("folk", str(midi_folder)),
        transpose=(-2, 2),
        split=(0.4, 0.3, 0.3),  # so that a tiny corpus fills every split
        limit=3,
        output_dir=tmp_path / "out",
        workers=1,
    )
    prepared = prepare(options)
    counts = prepared.counts
    assert counts["duplicates"] == 1  # in_d.mid is in_c.mid once aligned to C
    assert counts["collections"]["user"] == {"pieces": 3, "notes": 24}
    assert sum(c["source_pieces"] for c in counts["splits"].values()) == 4 * 3 + 3 - 1

    found = shard_pieces(prepared)
    results = read_source("folk", limit=3, workers=1) | read_source(str(midi_folder), workers=1)
    for result in results.values():
        for piece in result.pieces:
            if piece.name not in found:
                assert piece.name == "user/in_d.mid"
                continue
            split, tokens, ticks_per_bar = found[piece.name]
            aligned = align_to_c(piece)
            assert ticks_per_bar == piece.ticks_per_bar
            assert tokens[0] == Vocabulary.BOS and tokens[-1] == Vocabulary.EOS
            semitones = range(-2, 3) if split == "train" else (0,)
            for shift in semitones:
                name = f"{piece.name}@{shift:+d}" if shift else piece.name
                assert found[name][0] == split  # transpositions stay in their piece's split
                decoded = decode(found[name][1][1:-1], VOCABULARY)
                expected = transpose_notes(aligned.notes, shift)
                assert [(n.pitch, n.start, n.end) for n in decoded] == [
                    (n.pitch, n.start, n.end) for n in expected
                ]
    assert len(found) == sum(c["pieces"] for c in counts["splits"].values())


def test_rerun_finds_the_cached_shards(tmp_path, midi_folder, caplog):
    options = PrepareOptions(sources=(str(midi_folder),), output_dir=tmp_path, workers=1)
    first = prepare(options)
    assert not first.cached
    written = {split: path.stat().st_mtime_ns for split, path in first.shards.items()}
    with caplog.at_level(logging.INFO, logger="training.prepare"):
        second = prepare(options)
    assert second.cached and second.counts == first.counts
    assert {split: path.stat().st_mtime_ns for split, path in second.shards.items()} == written
    assert "cached" in caplog.text

    write_midi(midi_folder / "new.mid", [50, 52], key_number=0)
    assert prepare(options).directory != first.directory  # new content, new cache entry


def test_command_line_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--transpose" in capsys.readouterr().out


def test_command_line_prepares(tmp_path, midi_folder, capsys):
    assert main(["--source", str(midi_folder), "--output", str(tmp_path), "--workers", "1"]) == 0
    assert '"duplicates": 1' in capsys.readouterr().out
