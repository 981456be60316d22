"""`liveimpro bench quality` on a small slice: its JSON, its conditions, its errors."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from liveimpro.cli.commands import main
from liveimpro.core.inputstyle import InputStyle
from liveimpro.core.modelfile import load_model
from liveimpro.harness.benchquality import KEYS, Performance, QualityDataError, bench_quality
from liveimpro.music.vocabulary import Note, Vocabulary, encode

FOLK = InputStyle("monophonic", (0, 6, 8, 12, 16, 18), 88, (-6, 5))
BAR = 96


def _tune(seed: int, bars: int = 13) -> list[Note]:
    """A legato tune in C major, eighths and quarters, one velocity."""
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes, tick = [], 0
    while tick < bars * BAR:
        length = int(rng.choice([12, 24]))
        notes.append(Note(int(rng.choice(scale)), 88, tick, tick + length))
        tick += length
    return notes


@pytest.fixture(scope="module")
def test_split(tmp_path_factory) -> Path:
    """A prepared-data folder whose test.npz holds a few tunes (as the prepare stage writes)."""
    vocabulary = Vocabulary()
    pieces = [
        np.array([Vocabulary.BOS, *encode(_tune(seed), vocabulary), Vocabulary.EOS], np.int16)
        for seed in range(4)
    ]
    folder = tmp_path_factory.mktemp("prepared")
    np.savez(
        folder / "test.npz",
        tokens=np.concatenate(pieces),
        offsets=np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int64),
        ticks_per_bar=np.full(len(pieces), BAR, np.int32),
        names=np.array([f"tune{i}" for i in range(len(pieces))]),
    )
    return folder


def test_the_report_holds_every_condition_and_goal(random_model_dir, test_split) -> None:
    model = dataclasses.replace(load_model(random_model_dir), input_style=FOLK)
    report = bench_quality(model, test_split, pieces=3, seed=1)
    json.dumps(report)  # JSON-ready
    assert report["pieces"] == 3
    assert report["input_style"] == FOLK.to_dict()
    assert report["performance"] == dataclasses.asdict(Performance())
    real = report["real"]
    assert real["pitch_class_share"] == 1.0 and real["polyphony"] == 1.0
    assert real["notes_per_beat"] == pytest.approx(real["notes"] / (3 * 4 * 4))
    conditions = report["conditions"]
    assert set(conditions) == {"score", "transposed", "performed", "performed_raw"}
    for name in ("score", "performed", "performed_raw"):
        assert conditions[name]["bits_per_note"] > 0
        samples = conditions[name]["samples"]
        assert samples["notes"] > 0
        assert 0 <= samples["pitch_class_share"] <= 1 and samples["polyphony"] >= 1
    by_key = conditions["transposed"]["by_key"]
    assert [int(key) for key in by_key] == list(KEYS)
    assert by_key["0"] == conditions["score"]["bits_per_note"]
    # The style is what the performance is primed through: without it, other bits.
    assert conditions["performed"]["bits_per_note"] != conditions["performed_raw"]["bits_per_note"]
    goals = report["goals"]
    assert goals["performed_bits_excess"]["value"] == pytest.approx(
        conditions["performed"]["bits_per_note"] - conditions["score"]["bits_per_note"]
    )
    assert all(isinstance(goal["met"], bool) for goal in goals.values())


def test_the_same_seed_gives_the_same_report(random_model_dir, test_split) -> None:
    model = load_model(random_model_dir)
    first, second = (bench_quality(model, test_split, pieces=2, seed=5) for _ in range(2))
    first.pop("seconds"), second.pop("seconds")
    assert first == second


def test_a_performance_is_shorter_jittered_and_spread() -> None:
    score = _tune(0)
    played = Performance().perform(score, np.random.default_rng(0))
    ratios = [(p.end - p.start) / (s.end - s.start) for p, s in zip(played, score, strict=True)]
    assert min(ratios) >= 0.4 and max(ratios) <= 0.95
    assert {p.velocity for p in played} <= set(range(55, 116)) and len(
        {p.velocity for p in played}
    ) > 5
    offsets = [p.start - s.start for p, s in zip(played, score, strict=True)]
    assert max(map(abs, offsets)) <= 3 and any(offsets)


def test_missing_data_is_a_clear_error(random_model_dir, tmp_path) -> None:
    with pytest.raises(QualityDataError, match=r"no test split at .*python -m training prepare"):
        bench_quality(load_model(random_model_dir), tmp_path)


@pytest.mark.slow
def test_the_command_prints_json_for_the_shipped_folk_model(test_split, capsys) -> None:
    command = ["bench", "quality", "--model", "folk", "--data", str(test_split), "--pieces", "2"]
    assert main(command) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "folk" and report["pieces"] == 2
    assert all(math.isfinite(c["bits_per_note"]) for c in report["conditions"].values())


def test_the_command_with_no_data_fails_in_one_line(random_model_dir, tmp_path, capsys) -> None:
    command = ["bench", "quality", "--model", str(random_model_dir), "--data", str(tmp_path)]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no test split" in err and "Traceback" not in err
