"""Tiny random-weight models built on the fly (models/ only holds trained ones)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from liveimpro.core.model import ModelSpec, build_keras_model, export_weights
from liveimpro.core.modelfile import save_model
from liveimpro.music.vocabulary import Vocabulary, VocabularySpec


def random_keras_model(layers: int = 2, units: int = 32, embed_dim: int = 16, seed: int = 0):
    """A Keras model with random weights, and its spec."""
    import keras

    keras.utils.set_random_seed(seed)
    spec = ModelSpec(Vocabulary().size, embed_dim=embed_dim, layers=layers, units=units, dropout=0)
    return build_keras_model(spec), spec


def save_random_model(directory: Path, layers: int = 1, units: int = 32) -> Path:
    model, spec = random_keras_model(layers, units)
    return save_model(
        directory, spec, VocabularySpec(), export_weights(model), training={"device": "test"}
    )
