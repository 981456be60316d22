import subprocess
import sys

import numpy as np

from liveimpro.core.engine import Engine
from liveimpro.core.model import export_weights
from liveimpro.music.vocabulary import Vocabulary
from tests.randommodel import random_keras_model

VOCAB = Vocabulary()


def _random_inputs(steps: int, seed: int = 0):
    tokens = np.random.default_rng(seed).integers(0, VOCAB.size, steps)
    sub_beat, beat = VOCAB.metrical_features(tokens, ticks_per_bar=96)
    return tokens, sub_beat, beat


def test_logits_match_keras_over_300_steps():
    model, spec = random_keras_model(layers=2, units=48, embed_dim=16)
    tokens, sub_beat, beat = _random_inputs(300)
    expected = np.asarray(
        model([tokens[None].astype("int32"), sub_beat[None], beat[None]], training=False)
    )[0]  # (T, V)
    engine = Engine(spec, export_weights(model))
    got = np.stack(
        [
            engine.step(int(t), int(s), int(b)).copy()
            for t, s, b in zip(tokens, sub_beat, beat, strict=True)
        ]
    )
    assert np.abs(got - expected).max() <= 1e-4


def test_snapshot_restore_replays_exactly():
    model, spec = random_keras_model(layers=2, units=16)
    engine = Engine(spec, export_weights(model))
    tokens, sub_beat, beat = _random_inputs(40, seed=3)
    for i in range(20):
        engine.step(int(tokens[i]), int(sub_beat[i]), int(beat[i]))
    saved = engine.snapshot()
    first = [
        engine.step(int(tokens[i]), int(sub_beat[i]), int(beat[i])).copy() for i in range(20, 40)
    ]
    engine.restore(saved)
    again = [
        engine.step(int(tokens[i]), int(sub_beat[i]), int(beat[i])).copy() for i in range(20, 40)
    ]
    assert all((a == b).all() for a, b in zip(first, again, strict=True))
    engine.reset()
    assert all(not h.any() for h in engine.snapshot().h)


def test_daemon_import_path_loads_no_tensorflow_or_keras():
    code = (
        "import sys, liveimpro.core.engine, liveimpro.core.continuation, liveimpro.cli,"
        " liveimpro.core.modelfile;"
        "print([m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
