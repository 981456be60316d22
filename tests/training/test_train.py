from pathlib import Path

import numpy as np
import pytest

from liveimpro.shards import Shard
from liveimpro.vocabulary import Vocabulary
from training.train import TokenStream, TrainOptions

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
