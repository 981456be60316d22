"""The model directory format: ``models/NAME/{model.json, weights.npz}``.

model.json holds the vocabulary spec, the architecture (ModelSpec), training
facts, metrics and the sha256 of the weights. Weights are an npz archive read
without pickle. Loading checks the checksum and every shape, and any problem
raises :class:`ModelFileError` naming the file. Nothing is read before its size is
checked (the weights' against what the architecture implies), and the weights file must
be a plain file name inside the model directory.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liveimpro.core.inputstyle import InputStyle
from liveimpro.core.model import ModelSpec, weight_shapes
from liveimpro.errors import UserError
from liveimpro.models import SHIPPED_MODELS_DIR
from liveimpro.music.vocabulary import Vocabulary, VocabularySpec

FORMAT_VERSION = 1
METADATA_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
MAX_METADATA_BYTES = 1 << 20  # model.json holds a few kB of facts and metrics
# An uncompressed npz holds each array's data plus a zip entry and an npy header (some
# hundred bytes each); this bound on that overhead leaves room to spare.
NPZ_OVERHEAD_PER_ARRAY = 1024
NPZ_OVERHEAD = 4096
# A weights file off by more than this factor is no file of this model and is not read;
# one closer is read and its checksum and shapes say what is wrong, weight by weight.
SIZE_FACTOR = 2


class ModelFileError(UserError):
    """A model file is missing, corrupt or does not match its metadata."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class LoadedModel:
    name: str
    path: Path
    spec: ModelSpec
    vocabulary: Vocabulary
    weights: dict[str, np.ndarray]
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    input_style: InputStyle = field(default_factory=InputStyle)  # the training data's shape


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()  # in chunks, not whole


def weights_size_range(spec: ModelSpec) -> tuple[int, int]:
    """The sizes in bytes a weights file of ``spec`` may have to be read at all.

    Its float32 npz holds the data plus some overhead; SIZE_FACTOR either way of that.
    """
    shapes = weight_shapes(spec)
    data = sum(4 * math.prod(shape) for shape in shapes.values())
    largest = data + NPZ_OVERHEAD + NPZ_OVERHEAD_PER_ARRAY * len(shapes)
    return data // SIZE_FACTOR, largest * SIZE_FACTOR


def _check_size(path: Path, low: int, high: int) -> None:
    size = path.stat().st_size
    if not low <= size <= high:
        raise ModelFileError(
            path, f"{size:,} bytes, but model.json implies {low:,} to {high:,}; not read"
        )


def _weights_path(directory: Path, meta_path: Path, name: object) -> Path:
    """The weights file model.json names: a plain file name inside ``directory``."""
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        raise ModelFileError(meta_path, f"weights file must be a plain file name, got {name!r}")
    path = directory / name
    if path.resolve().parent != directory.resolve():  # a link leading out of the directory
        raise ModelFileError(path, "leads outside the model directory; not read")
    return path


def save_model(
    directory: Path,
    spec: ModelSpec,
    vocabulary_spec: VocabularySpec,
    weights: dict[str, np.ndarray],
    *,
    training: dict | None = None,
    metrics: dict | None = None,
    input_style: InputStyle | None = None,
) -> Path:
    """Write a model directory; returns its path."""
    _check_shapes(directory / WEIGHTS_FILE, spec, weights)
    directory.mkdir(parents=True, exist_ok=True)
    weights_path = directory / WEIGHTS_FILE
    np.savez(weights_path, **{k: np.asarray(v, dtype=np.float32) for k, v in weights.items()})
    metadata = {
        "format_version": FORMAT_VERSION,
        "name": directory.name,
        "vocabulary": vocabulary_spec.to_dict(),
        "model": spec.to_dict(),
        "input": (input_style or InputStyle()).to_dict(),
        "training": training or {},
        "metrics": metrics or {},
        "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(weights_path)},
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return directory


def _check_shapes(path: Path, spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
    expected = weight_shapes(spec)
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ModelFileError(path, f"weights missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise ModelFileError(
                path, f"weight {name} has shape {tuple(weights[name].shape)}, expected {shape}"
            )
        if not np.all(np.isfinite(weights[name])):
            raise ModelFileError(path, f"weight {name} holds non-finite values")


def load_model(directory: Path) -> LoadedModel:
    """Read and verify a model directory."""
    directory = Path(directory)
    meta_path = directory / METADATA_FILE
    if not meta_path.is_file():
        raise ModelFileError(meta_path, "missing")
    _check_size(meta_path, 0, MAX_METADATA_BYTES)
    try:
        metadata = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(meta_path, f"not valid JSON ({error})") from error
    if not isinstance(metadata, dict):
        raise ModelFileError(meta_path, "must hold a JSON object")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            meta_path,
            f"format_version {metadata.get('format_version')!r}, expected {FORMAT_VERSION}",
        )
    try:
        spec = ModelSpec.from_dict(metadata["model"])
        vocabulary = Vocabulary(VocabularySpec.from_dict(metadata["vocabulary"]))
        input_style = InputStyle.from_dict(metadata.get("input", {}))
        weights_info = metadata["weights"]
        weights_name = weights_info["file"]
        expected_sha = str(weights_info["sha256"])
    except KeyError as error:
        raise ModelFileError(meta_path, f"missing key {error}") from error
    except (TypeError, ValueError) as error:
        raise ModelFileError(meta_path, str(error)) from error
    if spec.vocab_size != vocabulary.size:
        raise ModelFileError(
            meta_path, f"model vocab_size {spec.vocab_size} != vocabulary size {vocabulary.size}"
        )
    weights_path = _weights_path(directory, meta_path, weights_name)
    if not weights_path.is_file():
        raise ModelFileError(weights_path, "missing")
    _check_size(weights_path, *weights_size_range(spec))
    if _sha256(weights_path) != expected_sha:
        raise ModelFileError(weights_path, "sha256 does not match model.json (corrupt or replaced)")
    try:
        with np.load(weights_path, allow_pickle=False) as archive:
            weights = {name: archive[name].astype(np.float32) for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelFileError(weights_path, f"unreadable ({error})") from error
    _check_shapes(weights_path, spec, weights)
    return LoadedModel(
        name=str(metadata.get("name", directory.name)),
        path=directory,
        spec=spec,
        vocabulary=vocabulary,
        weights=weights,
        training=metadata.get("training") or {},
        metrics=metadata.get("metrics") or {},
        input_style=input_style,
    )


def available_models(models_dir: Path = SHIPPED_MODELS_DIR) -> list[str]:
    """Names of the model directories (those holding a model.json)."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir() if (p / METADATA_FILE).is_file())


def resolve_model(name_or_path: str, models_dir: Path = SHIPPED_MODELS_DIR) -> Path:
    """The directory of a model given by name (under models_dir) or by path."""
    as_path = Path(name_or_path).expanduser()
    if (as_path / METADATA_FILE).is_file():
        return as_path
    candidate = models_dir / name_or_path
    if (candidate / METADATA_FILE).is_file():
        return candidate
    names = available_models(models_dir)
    raise ModelFileError(
        as_path,
        f"no such model; available in {models_dir}: {', '.join(names) if names else 'none'}",
    )
