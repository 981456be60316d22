from pathlib import Path

import music21
import pretty_midi
import pytest
from music21 import converter

from liveimpro.music.vocabulary import Note
from training.corpus import read_file, read_source
from training.readers import split_abc_tunes

CORPUS = Path(music21.__file__).parent / "corpus"


def write_abc(folder: Path, name: str, body: str, meter: str = "3/4", key: str = "C") -> Path:
    path = folder / name
    path.write_text(f"X:1\nT:test\nM:{meter}\nL:1/4\nK:{key}\n{body}\n")
    return path


def only_piece(path: Path):
    result = read_file(path)
    assert not result.skipped
    (piece,) = result.pieces
    return piece


def shape(notes) -> list[tuple[int, int, int]]:
    """(pitch, start, duration) in ticks, counted from the first note."""
    first = notes[0][1]
    return [(pitch, start - first, end - start) for pitch, start, end in notes]


def full_parse(path: Path, number: int) -> list[tuple[int, int, int]]:
    score = converter.parse(path, number=number, forceSource=True).stripTies()
    return [
        (sounding.midi, round(note.offset * 24), round((note.offset + note.quarterLength) * 24))
        for note in score.flatten().notes
        if not note.duration.isGrace
        for sounding in note.pitches
    ]


@pytest.mark.parametrize(
    ("file", "numbers"),
    [
        ("essenFolksong/testd.abc", (1, 2, 3)),
        ("oneills1850/0721-0730.abc", (721, 722)),
        ("ryansMammoth/7thRegimentReel.abc", (1,)),
    ],
)
def test_abc_token_route_matches_music21_full_parse(file, numbers):
    pieces = {piece.name.rsplit("#")[1]: piece for piece in read_file(CORPUS / file).pieces}
    for number in numbers:
        fast = [(n.pitch, n.start, n.end) for n in pieces[str(number)].notes]
        assert shape(fast) == shape(full_parse(CORPUS / file, number))


def test_pickup_moves_to_the_end_of_the_first_bar(tmp_path):
    piece = only_piece(write_abc(tmp_path, "pickup.abc", "G | c d e | f3 |"))
    assert piece.ticks_per_bar == 72
    assert [n.start for n in piece.notes] == [48, 72, 96, 120, 144]


def test_full_first_bar_starts_at_tick_zero(tmp_path):
    piece = only_piece(write_abc(tmp_path, "full.abc", "c d e | f3 |"))
    assert piece.notes[0].start == 0


def test_chorale_pickup_and_voices():
    (piece,) = read_file(CORPUS / "bach" / "bwv269.mxl").pieces
    assert piece.ticks_per_bar == 72  # 3/4
    assert piece.tonic == 7  # G major
    assert min(n.start for n in piece.notes) == 48  # a one-beat pickup


def test_ties_merge_and_ties_to_other_steps_are_slurs(tmp_path):
    body = "^F3-|F c-B | c3 |"  # the tie carries the sharp over the bar line
    piece = only_piece(write_abc(tmp_path, "ties.abc", body, key="C"))
    assert [(n.pitch, n.start, n.end) for n in piece.notes] == [
        (66, 0, 96),
        (72, 96, 120),
        (71, 120, 144),
        (72, 144, 216),
    ]


def test_grace_notes_and_chord_symbols_are_left_out(tmp_path):
    piece = only_piece(write_abc(tmp_path, "grace.abc", '"Am"{g}A B c |', key="Am"))
    assert [n.pitch for n in piece.notes] == [69, 71, 72]
    assert piece.tonic == 9


def test_each_tune_keeps_its_own_default_length():
    text = "X:1\nM:2/4\nL:1/16\nK:C\nc4 d4|\n\nX:2\nM:2/4\nK:G\nc2 d2|\n"
    tunes = dict(split_abc_tunes(text))
    assert sorted(tunes) == ["1", "2"]
    assert "L:1/16" not in tunes["2"]


def test_german_key_names_are_read(tmp_path):
    piece = only_piece(write_abc(tmp_path, "h.abc", "B c d | e3 |", key="H"))
    assert piece.tonic == 11
    assert piece.notes[1].pitch == 73  # C sharp from the B major signature


def write_midi(path: Path, pitches: list[int], key_number: int | None = None) -> None:
    midi = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=100.0)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(3, 4, 0.0))
    if key_number is not None:
        midi.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))
    piano = pretty_midi.Instrument(program=0)
    beat = 60 / 100
    for index, pitch in enumerate(pitches):
        piano.notes.append(pretty_midi.Note(80, pitch, index * beat, (index + 0.5) * beat))
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(100, 36, 0.0, 0.1))
    midi.instruments += [piano, drums]
    midi.write(str(path))


def test_midi_file_on_its_tempo_map(tmp_path):
    write_midi(tmp_path / "tune.mid", [60, 62, 64], key_number=2)
    piece = only_piece(tmp_path / "tune.mid")
    assert piece.notes == (Note(60, 80, 0, 12), Note(62, 80, 24, 36), Note(64, 80, 48, 60))
    assert piece.ticks_per_bar == 72
    assert piece.tonic == 2
    assert piece.name == f"{tmp_path.name}/tune.mid"


def test_broken_files_are_skipped_and_counted(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.mid").write_bytes(b"not a midi file")
    (tmp_path / "broken.krn").write_text("**kern\n*M3/4\n=1\nthis is not kern\n")
    write_abc(tmp_path, "empty.abc", "z3 |")
    write_abc(tmp_path, "good.abc", "c d e |")
    (result,) = read_source(str(tmp_path), workers=1).values()
    assert [piece.name for piece in result.pieces] == [f"{tmp_path.name}/good.abc#1"]
    assert sum(result.skipped.values()) == 3
    assert result.skipped["abc: no notes"] == 1
    assert sum(n for reason, n in result.skipped.items() if reason.startswith("midi: ")) == 1


def test_limit_keeps_the_first_pieces_of_each_collection():
    results = read_source("folk", limit=2, workers=1, collections=["oneills1850", "ryansMammoth"])
    assert {name: [p.name for p in result.pieces] for name, result in results.items()} == {
        "oneills1850": ["oneills1850#1", "oneills1850#2"],
        "ryansMammoth": [
            "ryansMammoth/42dHighlandRegimentStrathspey.abc#1",
            "ryansMammoth/7thRegimentReel.abc#1",
        ],
    }


def test_unknown_source_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        read_source(str(tmp_path / "missing"))


@pytest.mark.slow
def test_oneills_overlapping_files_are_deduplicated():
    (result,) = read_source("folk", workers=2, collections=["oneills1850"]).values()
    names = [piece.name for piece in result.pieces]
    assert len(names) == len(set(names))
    assert result.skipped["duplicate name"] > 0
    assert len(result.pieces) > 1800


def test_musicxml_file_keeps_every_part(tmp_path):
    score = music21.stream.Score()
    for pitches in (["E5", "F5", "G5"], ["C4", "D4", "E4"]):
        part = music21.stream.Part([music21.key.Key("F"), music21.meter.TimeSignature("3/4")])
        part.append([music21.note.Note(p, quarterLength=1) for p in pitches])
        score.insert(0, part)
    score.write("musicxml", fp=tmp_path / "two.musicxml")
    piece = only_piece(tmp_path / "two.musicxml")
    assert [(n.pitch, n.start) for n in piece.notes] == [
        (60, 0),
        (76, 0),
        (62, 24),
        (77, 24),
        (64, 48),
        (79, 48),
    ]
    assert (piece.tonic, piece.ticks_per_bar) == (5, 72)
