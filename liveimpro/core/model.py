"""The model, defined once: hyperparameters, weight names and the Keras builder.

Keras is imported only inside :func:`build_keras_model`, so the real-time path
(which needs :class:`ModelSpec` and :func:`weight_shapes`) never loads it.

Architecture, per step t:

    x_t = E_token[token_t] + E_sub_beat[sub_beat_t] + E_beat[beat_t]   (embed_dim,)
    h_t = LSTM_L(... LSTM_1(x_t))                                       (units,)
    logits_t = h_t @ W + b                                              (vocab_size,)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Protocol

from liveimpro.music.vocabulary import MAX_BEAT_FEATURE, TICKS_PER_BEAT

if TYPE_CHECKING:
    import numpy as np

_LIMITS = {
    "vocab_size": (4, 4096),
    "embed_dim": (1, 2048),
    "layers": (1, 8),
    "units": (1, 4096),
    "dropout": (0.0, 0.9),
}


def check_hyperparameter(name: str, value: object) -> None:
    """TypeError or ValueError (with the allowed range) for a bad ModelSpec field value."""
    low, high = _LIMITS[name]
    kind = float if name == "dropout" else int
    allowed = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise TypeError(f"model {name} must be {kind.__name__}, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"model {name} must be in [{low}, {high}], got {value}")


@dataclass(frozen=True)
class ModelSpec:
    """Hyperparameters, saved in every model.json and read by training and runtime."""

    vocab_size: int
    embed_dim: int = 128
    layers: int = 2
    units: int = 512
    dropout: float = 0.25

    def __post_init__(self) -> None:
        for name in _LIMITS:
            check_hyperparameter(name, getattr(self, name))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        if not isinstance(data, dict):
            raise TypeError(f"model spec must be a table, got {type(data).__name__}")
        allowed = {f.name for f in fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown model keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        return cls(**data)

    @property
    def parameter_count(self) -> int:
        return sum(_size(shape) for shape in weight_shapes(self).values())


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n


def weight_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every exported weight array by name, with its shape (gate order i, f, c, o)."""
    shapes: dict[str, tuple[int, ...]] = {
        "token_embedding": (spec.vocab_size, spec.embed_dim),
        "sub_beat_embedding": (TICKS_PER_BEAT, spec.embed_dim),
        "beat_embedding": (MAX_BEAT_FEATURE, spec.embed_dim),
    }
    inputs = spec.embed_dim
    for layer in range(spec.layers):
        shapes[f"lstm_{layer}.kernel"] = (inputs, 4 * spec.units)
        shapes[f"lstm_{layer}.recurrent_kernel"] = (spec.units, 4 * spec.units)
        shapes[f"lstm_{layer}.bias"] = (4 * spec.units,)
        inputs = spec.units
    shapes["logits.kernel"] = (spec.units, spec.vocab_size)
    shapes["logits.bias"] = (spec.vocab_size,)
    return shapes


class TrainedWeights(Protocol):
    """A spec and its exported weights, named as weight_shapes names them (a LoadedModel)."""

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def weights(self) -> dict[str, np.ndarray]: ...


def build_keras_model(spec: ModelSpec, *, stateful: bool = False, batch_size: int | None = None):
    """The Keras 3 model (backend-agnostic) for training, export and benchmarks.

    Inputs: tokens, sub_beat, beat, each (B, T) int32. Output: logits (B, T, V).
    A stateful model needs a fixed batch size.
    """
    import keras

    shape = dict(shape=(None,), batch_size=batch_size, dtype="int32")
    tokens = keras.Input(name="tokens", **shape)
    sub_beat = keras.Input(name="sub_beat", **shape)
    beat = keras.Input(name="beat", **shape)
    x = keras.layers.Add(name="embed")(
        [
            keras.layers.Embedding(spec.vocab_size, spec.embed_dim, name="token_embedding")(tokens),
            keras.layers.Embedding(TICKS_PER_BEAT, spec.embed_dim, name="sub_beat_embedding")(
                sub_beat
            ),
            keras.layers.Embedding(MAX_BEAT_FEATURE, spec.embed_dim, name="beat_embedding")(beat),
        ]
    )  # (B, T, E)
    for layer in range(spec.layers):
        x = keras.layers.Dropout(spec.dropout, name=f"dropout_{layer}")(x)
        x = keras.layers.LSTM(
            spec.units, return_sequences=True, stateful=stateful, name=f"lstm_{layer}"
        )(x)  # (B, T, units)
    x = keras.layers.Dropout(spec.dropout, name="dropout_out")(x)
    logits = keras.layers.Dense(spec.vocab_size, name="logits")(x)  # (B, T, V)
    return keras.Model([tokens, sub_beat, beat], logits, name="liveimpro_lstm")


def export_weights(keras_model) -> dict:
    """The named NumPy weights of a model built by :func:`build_keras_model`."""
    import numpy as np

    weights = {}
    for name in ("token_embedding", "sub_beat_embedding", "beat_embedding"):
        weights[name] = np.asarray(keras_model.get_layer(name).embeddings)
    layer = 0
    while True:
        try:
            lstm = keras_model.get_layer(f"lstm_{layer}")
        except ValueError:
            break
        kernel, recurrent, bias = (np.asarray(w) for w in lstm.get_weights())
        weights[f"lstm_{layer}.kernel"] = kernel
        weights[f"lstm_{layer}.recurrent_kernel"] = recurrent
        weights[f"lstm_{layer}.bias"] = bias
        layer += 1
    kernel, bias = keras_model.get_layer("logits").get_weights()
    weights["logits.kernel"] = np.asarray(kernel)
    weights["logits.bias"] = np.asarray(bias)
    return {name: w.astype(np.float32) for name, w in weights.items()}


def import_weights(keras_model, weights: dict) -> None:
    """Load named weights (as from :func:`export_weights`) into a Keras model."""
    for name in ("token_embedding", "sub_beat_embedding", "beat_embedding"):
        keras_model.get_layer(name).set_weights([weights[name]])
    layer = 0
    while f"lstm_{layer}.kernel" in weights:
        keras_model.get_layer(f"lstm_{layer}").set_weights(
            [weights[f"lstm_{layer}.{part}"] for part in ("kernel", "recurrent_kernel", "bias")]
        )
        layer += 1
    keras_model.get_layer("logits").set_weights([weights["logits.kernel"], weights["logits.bias"]])
