"""The whole pipeline on a tiny folk corpus: prepare -> train -> evaluate -> export -> play."""

import json
import math

import pytest

from liveimpro.core.modelfile import load_model
from liveimpro.music.vocabulary import TICKS_PER_BEAT
from training.__main__ import main
from training.evaluate import CURVE_PNG, REPORT_JSON, REPORT_MD
from training.export import CHECK_BEATS, MODEL_CARD, generate_check
from training.train import BEST_WEIGHTS, FACTS_FILE, HISTORY_FILE

TINY_MODEL = "--layers 1 --units 32 --embed-dim 16 --epochs 1 --seq-len 32 --batch 8"


def _finite_numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in _finite_numbers(item)]
    if isinstance(value, float | int) and not isinstance(value, bool):
        return [float(value)]
    return []


@pytest.mark.slow
def test_pipeline_makes_a_model_the_engine_plays(tmp_path):
    tiny = (
        "all --name tiny --source folk --limit 8 --split 0.6 0.2 0.2 --transpose -1 1"
        f" {TINY_MODEL} --eval-pieces 3"
    )
    folders = ["--prepared", str(tmp_path / "prepared"), "--runs", str(tmp_path / "runs")]
    code = main([*tiny.split(), *folders, "--models", str(tmp_path / "models")])
    assert code == 0

    run_dir = tmp_path / "runs" / "tiny"
    for name in (BEST_WEIGHTS, HISTORY_FILE, FACTS_FILE, REPORT_JSON, REPORT_MD, CURVE_PNG):
        assert (run_dir / name).is_file(), name
    for split in ("train", "validation"):  # tensorboard comes with the train extra
        assert list((run_dir / "tensorboard" / split).glob("events.out.tfevents.*")), split
    facts = json.loads((run_dir / FACTS_FILE).read_text())
    assert facts["epochs_run"] == 1
    assert facts["backend"] and facts["device"] and facts["wall_time_s"] > 0

    # Training longer: a warm start from the finished run never ends worse than it.
    longer = tmp_path / "runs" / "longer"
    warm = ["train", "--data", facts["prepared_dir"], "--run", str(longer), *TINY_MODEL.split()]
    assert main([*warm, "--warm-start", str(run_dir), "--learning-rate", "0.5"]) == 0
    longer_facts = json.loads((longer / FACTS_FILE).read_text())
    assert longer_facts["warm_start"]["run"] == str(run_dir)
    assert longer_facts["warm_start"]["tokens_seen"] == facts["tokens_per_epoch"]
    assert longer_facts["best_val_loss"] <= facts["best_val_loss"]

    report = json.loads((run_dir / REPORT_JSON).read_text())
    assert 0 < report["lstm"]["test_bits"] < math.log2(facts["model"]["vocab_size"]) + 1
    assert 0 <= report["lstm"]["test_accuracy"] <= 1
    assert set(report["baselines"]) == {"unigram", "kneser_ney", "idyom"}
    assert all(math.isfinite(r["test_bits"]) for r in report["baselines"].values())
    assert report["continuation"]["pieces"] >= 1
    assert report["continuation"]["generated_notes"] > 0

    model_dir = tmp_path / "models" / "tiny"
    assert (model_dir / MODEL_CARD).is_file() and (model_dir / CURVE_PNG).is_file()
    assert "non-commercial" in (model_dir / MODEL_CARD).read_text()
    loaded = load_model(model_dir)
    assert loaded.metrics["test_bits_per_token"] == pytest.approx(report["lstm"]["test_bits"])
    tokens_per_note = report["lstm"]["test_tokens"] / report["lstm"]["test_notes"]
    assert loaded.metrics["test_bits_per_note"] == pytest.approx(
        report["lstm"]["test_bits"] * tokens_per_note
    )
    assert set(loaded.metrics["baseline_test_bits_per_note"]) == {"unigram", "kneser_ney", "idyom"}
    # Folk tunes: one voice, on a 16th/triplet grid, one velocity, the -1..1 transpositions.
    style = loaded.input_style
    assert style.texture == "monophonic" and style.transpositions == (-1, 1)
    assert 0 in style.onset_grid and set(style.onset_grid) <= set(range(24))
    assert style.velocity == loaded.vocabulary.bin_velocity(loaded.vocabulary.velocity_bin(90))
    assert "## Input style" in (model_dir / MODEL_CARD).read_text()
    assert all(math.isfinite(n) for n in _finite_numbers(loaded.training))

    notes = generate_check(loaded)
    assert notes
    end_tick = CHECK_BEATS * TICKS_PER_BEAT
    for note in notes:
        assert 21 <= note.pitch <= 108  # the default NotesSettings range
        assert 0 <= note.start < note.end <= end_tick
