import json
from pathlib import Path

import numpy as np
import pytest

from liveimpro.core.model import build_keras_model
from liveimpro.core.shards import Shard
from liveimpro.music.vocabulary import Vocabulary
from training.train import (
    BEST_WEIGHTS,
    FACTS_FILE,
    TrainOptions,
    _warm_start,
    tokens_seen,
    train_time_s,
)
from training.windows import TokenStream

VOCABULARY = Vocabulary()


def two_piece_shard() -> Shard:
    v = VOCABULARY
    first = [v.BOS, v.note_on(60), v.shift(24), v.note_off(60), v.shift(24), v.EOS]
    second = [v.BOS, v.note_on(62), v.shift(12), v.note_off(62), v.EOS]
    tokens = np.asarray(first + second, np.int16)
    offsets = np.asarray([0, len(first), len(tokens)], np.int64)
    return Shard(tokens, offsets, np.asarray([96, 72], np.int32), np.asarray(["a", "b"]))


def test_options_reject_wrong_types_and_ranges():
    with pytest.raises(TypeError, match="units must be int"):
        TrainOptions(units=32.0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0.0, 0.9\]"):
        TrainOptions(dropout=0.95)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        TrainOptions(steps_per_epoch=0)
    with pytest.raises(TypeError, match="out_dir must be a Path"):
        TrainOptions(out_dir="runs/x")
    assert TrainOptions(out_dir=Path("r")).model_spec(363).units == TrainOptions.units


def test_metrical_features_restart_at_each_piece():
    stream = TokenStream.from_shard(two_piece_shard(), VOCABULARY)
    # Ticks reached after each token: piece one 0,0,24,24,48,48; piece two 0,0,12,12,12.
    assert stream.sub_beat.tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 12, 12, 12]
    assert stream.beat.tolist() == [0, 0, 1, 1, 2, 2, 0, 0, 0, 0, 0]


def test_window_targets_are_the_next_tokens():
    stream = TokenStream.from_shard(two_piece_shard(), VOCABULARY)
    inputs, targets = stream.windows(np.asarray([0, 4]), seq_len=5)
    assert inputs["tokens"].shape == targets.shape == (2, 5)
    assert np.array_equal(targets[:, :-1], inputs["tokens"][:, 1:])
    assert np.array_equal(inputs["tokens"][1], stream.tokens[4:9])
    assert np.array_equal(inputs["beat"][1], stream.beat[4:9])


def _finished_run(run_dir: Path, spec, epochs: int, rate: float, warm_start=None) -> None:
    run_dir.mkdir()
    build_keras_model(spec).save_weights(run_dir / BEST_WEIGHTS)
    facts = {
        "model": spec.to_dict(),
        "best_val_loss": 1.5,
        "tokens_per_epoch": 1000,
        "warm_start": warm_start,
        "history": {"epoch": list(range(epochs)), "tokens_per_s": [rate] * epochs},
    }
    (run_dir / FACTS_FILE).write_text(json.dumps(facts))


def test_a_warm_start_loads_the_finished_runs_weights_and_counts_its_training(tmp_path):
    spec = TrainOptions(layers=1, units=8, embed_dim=4).model_spec(VOCABULARY.size)
    _finished_run(tmp_path / "first", spec, epochs=2, rate=100.0)
    model = build_keras_model(spec)
    (tmp_path / "next").mkdir()
    record = _warm_start(model, spec, tmp_path / "first", into=tmp_path / "next")
    saved = build_keras_model(spec)
    saved.load_weights(tmp_path / "first" / BEST_WEIGHTS)
    for loaded, expected in zip(model.get_weights(), saved.get_weights(), strict=True):
        assert np.array_equal(loaded, expected)
    # The new run's best so far, kept unless an epoch of it does better.
    copied = (tmp_path / "next" / BEST_WEIGHTS).read_bytes()
    assert copied == (tmp_path / "first" / BEST_WEIGHTS).read_bytes()
    # Two epochs of 1000 tokens at 100 tokens/s: 20 s; a run started from it adds its own.
    assert record == {
        "run": str(tmp_path / "first"),
        "best_val_loss": 1.5,
        "train_time_s": 20.0,
        "tokens_seen": 2000,
    }
    _finished_run(tmp_path / "second", spec, epochs=1, rate=50.0, warm_start=record)
    second = json.loads((tmp_path / "second" / FACTS_FILE).read_text())
    assert train_time_s(second) == 40.0 and tokens_seen(second) == 3000


def test_a_warm_start_needs_a_finished_run_of_the_same_model(tmp_path):
    spec = TrainOptions(layers=1, units=8, embed_dim=4).model_spec(VOCABULARY.size)
    with pytest.raises(ValueError, match="not a finished run"):
        _warm_start(build_keras_model(spec), spec, tmp_path, into=tmp_path / "next")
    _finished_run(tmp_path / "first", spec, epochs=1, rate=100.0)
    wider = TrainOptions(layers=1, units=16, embed_dim=4).model_spec(VOCABULARY.size)
    with pytest.raises(ValueError, match="trained"):
        _warm_start(build_keras_model(wider), wider, tmp_path / "first", into=tmp_path / "next")
    with pytest.raises(TypeError, match="warm_start must be a Path"):
        TrainOptions(warm_start="runs/folk")
