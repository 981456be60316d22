import json
import sys

import pretty_midi
import pytest

from liveimpro.cli.commands import main
from liveimpro.midi.midifile import read_phrase


@pytest.fixture
def phrase_file(tmp_path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    melody = pretty_midi.Instrument(program=0, name="phrase")
    for i, pitch in enumerate([60, 62, 64, 65, 67, 65, 64, 62]):
        melody.notes.append(pretty_midi.Note(90, pitch, i * 0.6, i * 0.6 + 0.5))
    midi.instruments.append(melody)
    path = tmp_path / "phrase.mid"
    midi.write(str(path))
    return path


def _continue(phrase_file, out, model, *extra):
    return main(["continue", str(phrase_file), "-o", str(out), "--model", str(model), *extra])


def test_continue_writes_phrase_plus_a_continuation_track(phrase_file, random_model_dir, tmp_path):
    out = tmp_path / "out.mid"
    assert _continue(phrase_file, out, random_model_dir, "--beats", "8", "--seed", "3") == 0
    midi = pretty_midi.PrettyMIDI(str(out))
    assert [inst.name for inst in midi.instruments] == ["phrase", "liveimpro continuation (tiny)"]
    phrase_end = max(n.end for n in midi.instruments[0].notes)
    continuation = midi.instruments[1].notes
    assert continuation and min(n.start for n in continuation) >= phrase_end - 1e-6
    beat = 60 / 100
    assert max(n.end for n in continuation) <= phrase_end + 8 * beat + 1e-6


def test_same_seed_same_continuation(phrase_file, random_model_dir, tmp_path):
    for name in ("a.mid", "b.mid"):
        _continue(phrase_file, tmp_path / name, random_model_dir, "--seed", "11")
    notes = [read_phrase(tmp_path / name)[1] for name in ("a.mid", "b.mid")]
    assert notes[0] == notes[1]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such file"),
        ("garbage", "not a readable MIDI file"),
        ("empty", "holds no notes"),
    ],
)
def test_bad_input_files_give_a_clear_error(setup, message, random_model_dir, tmp_path, capsys):
    path = tmp_path / "in.mid"
    if setup == "garbage":
        path.write_bytes(b"MThd\x00\x00garbage")
    elif setup == "empty":
        pretty_midi.PrettyMIDI().write(str(path))
    assert _continue(path, tmp_path / "o.mid", random_model_dir) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o.mid").exists()


def test_unknown_model_and_bad_values(phrase_file, tmp_path, capsys):
    assert _continue(phrase_file, tmp_path / "o.mid", "nosuch") == 2
    assert "no such model" in capsys.readouterr().err
    assert main(["continue", str(phrase_file), "-o", "x.mid", "--temperature", "0"]) == 2
    assert "sampling.temperature must be in (0, 5]" in capsys.readouterr().err


def test_bad_config_file(phrase_file, tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text("[sampling]\ntemprature = 1.0\n")
    assert main(["--config", str(config), "continue", str(phrase_file), "-o", "x.mid"]) == 2
    assert "unknown key sampling.temprature" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_engine_prints_json(capsys):
    assert main(["bench", "engine", "--sizes", "1x16", "--steps", "50", "--model"]) == 0
    report = json.loads(capsys.readouterr().out)
    (result,) = report["results"]
    for path in ("numpy_engine", "keras_stateful_step", "seed_style_predict"):
        assert result[path]["p99_ms"] >= result[path]["p50_ms"] > 0


def test_a_bug_keeps_its_traceback_while_user_errors_are_one_line(monkeypatch, capsys):
    def buggy(_args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr("liveimpro.cli.commands.cmd_models", buggy)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["models"])
    assert main(["continue", "nosuch.mid", "-o", "x.mid", "--temperature", "9"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("liveimpro: error: sampling.temperature must be in (0, 5]")


def test_bench_engine_without_keras_gives_the_numpy_figures_and_says_what_keras_needs(
    monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` raises ImportError
    assert main(["bench", "engine", "--sizes", "1x16", "--steps", "50", "--model"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["numpy_engine"]["p99_ms"] >= result["numpy_engine"]["p50_ms"] > 0
    assert "pip install -e '.[train]'" in result["keras"]
    assert "keras_stateful_step" not in result


def test_bench_engine_refuses_a_malformed_size_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "engine", "--sizes", "2xbig"])
    assert exit_info.value.code == 2
    assert "expected LAYERSxUNITS" in capsys.readouterr().err
