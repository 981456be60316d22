import pytest

from liveimpro.core.model import ModelSpec, export_weights, import_weights, weight_shapes
from tests.randommodel import random_keras_model


def test_exported_weights_match_declared_shapes():
    model, spec = random_keras_model(layers=3, units=24, embed_dim=8)
    weights = export_weights(model)
    assert {name: w.shape for name, w in weights.items()} == weight_shapes(spec)
    assert spec.parameter_count == sum(w.size for w in weights.values())


def test_import_weights_roundtrip():
    model, _ = random_keras_model(seed=1)
    other, _ = random_keras_model(seed=2)
    import_weights(other, export_weights(model))
    for name, value in export_weights(model).items():
        assert (export_weights(other)[name] == value).all()


def test_spec_checks_types_and_ranges():
    with pytest.raises(ValueError, match=r"layers must be in \[1, 8\]"):
        ModelSpec(363, layers=0)
    with pytest.raises(TypeError, match="units must be int"):
        ModelSpec(363, units=2.5)
    with pytest.raises(ValueError, match="unknown model keys"):
        ModelSpec.from_dict({"vocab_size": 363, "heads": 4})
    assert ModelSpec.from_dict(ModelSpec(363, units=64).to_dict()) == ModelSpec(363, units=64)
