import json
import shutil

import numpy as np
import pytest

from liveimpro.core.modelfile import (
    MAX_METADATA_BYTES,
    ModelFileError,
    available_models,
    load_model,
    resolve_model,
    save_model,
)


@pytest.fixture
def model_copy(random_model_dir, tmp_path):
    return shutil.copytree(random_model_dir, tmp_path / "copy")


def test_save_then_load_gives_the_same_weights(random_model_dir):
    model = load_model(random_model_dir)
    assert model.name == "tiny" and model.spec.vocab_size == model.vocabulary.size
    again = save_model(
        random_model_dir.parent / "again", model.spec, model.vocabulary.spec, model.weights
    )
    reloaded = load_model(again)
    assert all((reloaded.weights[k] == v).all() for k, v in model.weights.items())
    meta = json.loads((random_model_dir / "model.json").read_text())
    assert set(meta) >= {"vocabulary", "model", "training", "metrics", "weights"}
    assert len(meta["weights"]["sha256"]) == 64


def test_missing_metadata_names_the_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"model\.json: missing"):
        load_model(tmp_path)


def test_corrupt_json(model_copy):
    (model_copy / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(model_copy)


def test_tampered_weights_fail_the_checksum(model_copy):
    with (model_copy / "weights.npz").open("ab") as file:
        file.write(b"garbage")
    with pytest.raises(ModelFileError, match=r"weights\.npz: sha256 does not match"):
        load_model(model_copy)


def test_missing_weights(model_copy):
    (model_copy / "weights.npz").unlink()
    with pytest.raises(ModelFileError, match=r"weights\.npz: missing"):
        load_model(model_copy)


def test_shape_mismatch_is_named(model_copy):
    meta = json.loads((model_copy / "model.json").read_text())
    meta["model"]["units"] += 1
    (model_copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="has shape"):
        load_model(model_copy)


def test_bad_metadata_values(model_copy):
    meta = json.loads((model_copy / "model.json").read_text())
    meta["model"]["layers"] = "two"
    (model_copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="layers must be int"):
        load_model(model_copy)


def test_save_refuses_wrong_shapes(random_model_dir, tmp_path):
    model = load_model(random_model_dir)
    weights = dict(model.weights, **{"logits.bias": np.zeros(3, np.float32)})
    with pytest.raises(ModelFileError, match=r"logits\.bias has shape"):
        save_model(tmp_path / "bad", model.spec, model.vocabulary.spec, weights)


def test_resolve_by_name_or_path_and_list(random_model_dir):
    models_dir = random_model_dir.parent
    assert resolve_model("tiny", models_dir) == random_model_dir
    assert resolve_model(str(random_model_dir), models_dir / "elsewhere") == random_model_dir
    assert "tiny" in available_models(models_dir)
    with pytest.raises(ModelFileError, match=r"no such model; available in .*: .*tiny"):
        resolve_model("nosuch", models_dir)


def never_read(path):
    raise AssertionError(f"{path} was read")


def test_a_weights_file_far_from_the_implied_size_is_refused_unread(model_copy, monkeypatch):
    with (model_copy / "weights.npz").open("r+b") as weights:
        weights.truncate(1 << 30)  # 1 GiB, sparse: costs no disk
    monkeypatch.setattr("liveimpro.core.modelfile._sha256", never_read)
    with pytest.raises(ModelFileError, match=r"1,073,741,824 bytes, but model.json implies"):
        load_model(model_copy)


def test_an_oversized_model_json_is_refused_unread(model_copy):
    with (model_copy / "model.json").open("r+b") as meta:
        meta.truncate(MAX_METADATA_BYTES + 1)
    with pytest.raises(ModelFileError, match="not read"):
        load_model(model_copy)


@pytest.mark.parametrize("name", ["/etc/passwd", "../copy/weights.npz", "sub/weights.npz", "..", 7])
def test_the_weights_file_must_be_a_plain_name_in_the_model_directory(model_copy, name):
    meta = json.loads((model_copy / "model.json").read_text())
    meta["weights"]["file"] = name
    (model_copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="weights file must be a plain file name"):
        load_model(model_copy)


def test_a_weights_link_leading_out_of_the_model_directory_is_not_read(model_copy, tmp_path):
    outside = tmp_path / "outside.npz"
    (model_copy / "weights.npz").rename(outside)
    (model_copy / "weights.npz").symlink_to(outside)
    with pytest.raises(ModelFileError, match="leads outside the model directory"):
        load_model(model_copy)
