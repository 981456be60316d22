"""The train stage: fit the LSTM on random windows of the prepared training tokens.

Backend-agnostic Keras 3 (no TensorFlow calls): it runs with KERAS_BACKEND=tensorflow
on the CPU and KERAS_BACKEND=jax on the GPU machine. With ``distribute`` (JAX only) it
trains data-parallel over all local devices through Keras's distribution API. Everything
lands in the run folder:

- ``backup/``: the last finished epoch (model and optimizer), so a rerun resumes;
  Keras deletes it when training ends.
- ``best.weights.h5``: the weights with the lowest validation loss, loaded at the end.
- ``history.csv`` (one row per epoch), ``tensorboard/`` (when tensorflow and tensorboard
  are installed).
- ``training.json``: options, data, device(s), backend, wall time and history.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from importlib.util import find_spec
from pathlib import Path

import keras

from liveimpro.config.fields import check_fields, setting
from liveimpro.core.model import ModelSpec, build_keras_model, check_hyperparameter
from liveimpro.core.shards import load_shard
from liveimpro.music.vocabulary import Vocabulary, VocabularySpec
from training.windows import OrderedWindows, RandomWindows, TokenStream

BEST_WEIGHTS = "best.weights.h5"
HISTORY_FILE = "history.csv"
FACTS_FILE = "training.json"
FINAL_LEARNING_RATE_FRACTION = 0.05  # the linear decay ends at 5 % of the start rate

log = logging.getLogger(__name__)

_MODEL_FIELDS = ("layers", "units", "embed_dim", "dropout")  # checked by liveimpro.core.model


@dataclass(frozen=True)
class TrainOptions:
    layers: int = 2
    units: int = 256
    embed_dim: int = 128
    dropout: float = 0.2
    seq_len: int = setting(128, "tokens per training window", low=2, high=65536)
    batch: int = setting(64, "windows per batch", low=1, high=65536)
    epochs: int = setting(10, "passes at most", low=1, high=10000)
    steps_per_epoch: int | None = setting(
        None, "batches per epoch; None: as many windows as the train tokens hold", low=1, high=10**9
    )
    learning_rate: float = setting(
        2e-3, "at the start; decays linearly to 5 % of it", low=1e-7, high=1.0
    )
    clipnorm: float = setting(1.0, "gradient norm clip", low=1e-6, high=1e6)
    seed: int = setting(0, "seeds the first weights and the windows drawn", low=0, high=2**32 - 1)
    patience: int = setting(
        3, "epochs without a better validation loss before stopping", low=1, high=10000
    )
    out_dir: Path = Path("runs/model")
    distribute: bool = False  # data-parallel over all local devices (KERAS_BACKEND=jax)
    warm_start: Path | None = None  # a finished run of the same model: its weights start this

    def __post_init__(self) -> None:
        for name in _MODEL_FIELDS:
            check_hyperparameter(name, getattr(self, name))
        check_fields(self)
        if not isinstance(self.out_dir, Path):
            raise TypeError(f"out_dir must be a Path, got {type(self.out_dir).__name__}")
        if not isinstance(self.distribute, bool):
            raise TypeError(f"distribute must be bool, got {type(self.distribute).__name__}")
        if self.warm_start is not None and not isinstance(self.warm_start, Path):
            raise TypeError(f"warm_start must be a Path, got {type(self.warm_start).__name__}")

    def to_dict(self) -> dict:
        warm_start = None if self.warm_start is None else str(self.warm_start)
        return {**asdict(self), "out_dir": str(self.out_dir), "warm_start": warm_start}

    def model_spec(self, vocab_size: int) -> ModelSpec:
        return ModelSpec(
            vocab_size=vocab_size,
            embed_dim=self.embed_dim,
            layers=self.layers,
            units=self.units,
            dropout=self.dropout,
        )


# Callbacks and facts -------------------------------------------------------------------


class Throughput(keras.callbacks.Callback):
    """Training tokens per second, logged during and after each epoch (validation excluded)."""

    def __init__(self, tokens_per_step: int, report_every_s: float = 30.0) -> None:
        super().__init__()
        self.tokens_per_step = tokens_per_step
        self.report_every_s = report_every_s

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = self.last_report = time.perf_counter()
        self.steps = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps += 1
        self.finished = time.perf_counter()
        if self.finished - self.last_report >= self.report_every_s:
            self.last_report = self.finished
            log.info(
                "step %d: %.0f tokens/s, loss %.4f",
                self.steps,
                self.rate(),
                (logs or {}).get("loss", math.nan),
            )

    def rate(self) -> float:
        return self.steps * self.tokens_per_step / max(self.finished - self.started, 1e-9)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["tokens_per_s"] = self.rate()  # read by the callbacks after this one
        log.info("epoch %d: %.0f tokens/s, %s", epoch + 1, self.rate(), _brief(logs))


def _brief(logs: dict | None) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in (logs or {}).items() if k != "tokens_per_s")


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def device_description() -> dict[str, str]:
    """The Keras backend and the device it computes on."""
    backend = keras.backend.backend()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = f"CPU ({_cpu_name()}, {cores} of {os.cpu_count()} cores)"
    if backend == "jax":
        import jax

        first = jax.devices()[0]
        if first.platform != "cpu":
            device = f"{first.platform.upper()} ({first.device_kind})"
    elif backend == "tensorflow":
        import tensorflow as tf  # only to name the device: training itself uses keras.ops

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            device = f"GPU ({details.get('device_name')})"
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            device = f"GPU ({torch.cuda.get_device_name(0)})"
    return {"backend": backend, "device": device}


def read_history(run_dir: Path) -> dict[str, list[float]]:
    """Per-epoch metrics from the run's history.csv (all sessions, resumed ones included)."""
    with (run_dir / HISTORY_FILE).open() as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def _best_val_loss_so_far(run_dir: Path) -> float | None:
    """The best validation loss of earlier sessions of a resumed run, so a worse epoch
    after resuming does not replace best.weights.h5."""
    if not (run_dir / BEST_WEIGHTS).is_file() or not (run_dir / HISTORY_FILE).is_file():
        return None
    return min(read_history(run_dir).get("val_loss", [math.inf]))


def data_parallel(batch: int) -> keras.distribution.DataParallel:
    """Data parallelism over all local devices; needs the JAX backend and a batch that
    splits evenly over the devices."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            f"distributed training needs the JAX backend (KERAS_BACKEND=jax), not {backend}"
        )
    devices = keras.distribution.list_devices()
    if batch % len(devices):
        raise ValueError(
            f"batch {batch} does not split over {len(devices)} devices: "
            f"make it a multiple of {len(devices)}"
        )
    return keras.distribution.DataParallel(devices=devices)


@dataclass(frozen=True)
class TrainResult:
    model: object  # keras.Model with the best validation weights
    history: dict[str, list[float]]
    facts: dict  # what training.json holds


def train_time_s(facts: dict) -> float:
    """Seconds of training steps behind a run: every session of it, resumed ones included
    (``wall_time_s`` is the last session's, validation included), and the runs it was
    warm-started from."""
    rates = facts["history"].get("tokens_per_s", [])
    own = sum(facts["tokens_per_epoch"] / rate for rate in rates if rate > 0)
    return own + (facts.get("warm_start") or {}).get("train_time_s", 0.0)


def tokens_seen(facts: dict) -> int:
    """Training tokens stepped through by a run and the runs it was warm-started from."""
    own = len(facts["history"].get("epoch", [])) * facts["tokens_per_epoch"]
    return own + (facts.get("warm_start") or {}).get("tokens_seen", 0)


def _warm_start(model, spec: ModelSpec, run_dir: Path | None, into: Path) -> dict | None:
    """Load a finished run's best weights into ``model`` and, as the best so far, into the
    run folder ``into`` (a warm start that finds nothing better keeps them); what
    training.json records of it."""
    if run_dir is None:
        return None
    if not (run_dir / FACTS_FILE).is_file() or not (run_dir / BEST_WEIGHTS).is_file():
        raise ValueError(
            f"warm start: {run_dir} is not a finished run (no {FACTS_FILE} or {BEST_WEIGHTS})"
        )
    facts = json.loads((run_dir / FACTS_FILE).read_text())
    if ModelSpec.from_dict(facts["model"]) != spec:
        raise ValueError(
            f"warm start: {run_dir} trained {facts['model']}, this run is {spec.to_dict()}"
        )
    model.load_weights(run_dir / BEST_WEIGHTS)
    if not (into / BEST_WEIGHTS).is_file():
        shutil.copyfile(run_dir / BEST_WEIGHTS, into / BEST_WEIGHTS)
    return {
        "run": str(run_dir),
        "best_val_loss": facts["best_val_loss"],
        "train_time_s": round(train_time_s(facts), 1),
        "tokens_seen": tokens_seen(facts),
    }


def build_model_for_run(run_dir: Path):
    """The Keras model of a finished run, with its best weights."""
    facts = json.loads((run_dir / FACTS_FILE).read_text())
    model = build_keras_model(ModelSpec.from_dict(facts["model"]))
    model.load_weights(run_dir / BEST_WEIGHTS)
    return model, facts


def train(
    shards: dict[str, Path],
    options: TrainOptions,
    vocabulary_spec: VocabularySpec | None = None,
) -> TrainResult:
    """Train on shards["train"], stop early on shards["validation"]; resumes an unfinished run.

    With options.distribute, data-parallel over all local devices while training only.
    """
    if not options.distribute:
        return _train(shards, options, vocabulary_spec, distribution=None)
    distribution = data_parallel(options.batch)
    with distribution.scope():  # set_distribution before the model is built, undone after
        return _train(shards, options, vocabulary_spec, distribution)


def _train(
    shards: dict[str, Path],
    options: TrainOptions,
    vocabulary_spec: VocabularySpec | None,
    distribution: keras.distribution.DataParallel | None,
) -> TrainResult:
    devices = distribution.device_mesh.devices.size if distribution else 1
    vocabulary = Vocabulary(vocabulary_spec)
    run_dir = options.out_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    train_stream = TokenStream.from_shard(load_shard(shards["train"]), vocabulary)
    val_stream = TokenStream.from_shard(load_shard(shards["validation"]), vocabulary)
    # Validation needs a whole window for every device.
    for name, stream, windows in (("train", train_stream, 1), ("validation", val_stream, devices)):
        if len(stream) < windows * options.seq_len + 1:
            raise ValueError(
                f"the {name} split holds {len(stream)} tokens; {windows} x seq_len + 1 = "
                f"{windows * options.seq_len + 1} at least are needed"
            )
    tokens_per_step = options.batch * options.seq_len
    steps = options.steps_per_epoch or max(1, len(train_stream) // tokens_per_step)

    keras.utils.set_random_seed(options.seed)
    spec = options.model_spec(vocabulary.size)
    model = build_keras_model(spec)
    warm_start = _warm_start(model, spec, options.warm_start, run_dir)  # before a backup restores
    # The best validation loss so far, of this run's earlier sessions and the run it started from:
    # only a better epoch replaces best.weights.h5, and patience counts from it.
    earlier = [
        loss
        for loss in (_best_val_loss_so_far(run_dir), (warm_start or {}).get("best_val_loss"))
        if loss is not None
    ]
    best_so_far = min(earlier, default=None)
    schedule = keras.optimizers.schedules.PolynomialDecay(
        options.learning_rate,
        decay_steps=options.epochs * steps,
        end_learning_rate=options.learning_rate * FINAL_LEARNING_RATE_FRACTION,
        power=1.0,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, clipnorm=options.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    callbacks = [
        Throughput(tokens_per_step),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / BEST_WEIGHTS),
            monitor="val_loss",
            initial_value_threshold=best_so_far,
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=options.patience, baseline=best_so_far
        ),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True),
    ]
    # Keras writes TensorBoard logs through TensorFlow's summary API, which needs tensorboard.
    if all(find_spec(package) is not None for package in ("tensorflow", "tensorboard")):
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))

    environment = device_description()
    log.info(
        "training %s (%d parameters) on %s with %s: %d steps/epoch of %d tokens, %d train tokens",
        spec,
        spec.parameter_count,
        environment["device"],
        environment["backend"],
        steps,
        tokens_per_step,
        len(train_stream),
    )
    started = time.perf_counter()
    model.fit(
        RandomWindows(train_stream, options, steps),
        validation_data=OrderedWindows(val_stream, options, multiple=devices),
        epochs=options.epochs,
        callbacks=callbacks,
        verbose=0,
    )
    wall_s = time.perf_counter() - started
    model.load_weights(run_dir / BEST_WEIGHTS)  # early stopping's "restore best", resume-proof

    history = read_history(run_dir)
    facts = {
        **environment,
        "devices": devices,
        "distribution": type(distribution).__name__ if distribution else None,
        "wall_time_s": round(wall_s, 1),
        "options": options.to_dict(),
        "model": spec.to_dict(),
        "vocabulary": vocabulary.spec.to_dict(),
        "prepared_dir": str(shards["train"].parent),
        "parameters": spec.parameter_count,
        "steps_per_epoch": steps,
        "tokens_per_epoch": steps * tokens_per_step,
        "train_tokens": len(train_stream),
        "validation_tokens": len(val_stream),
        "epochs_run": len(history.get("epoch", [])),
        "best_val_loss": min([*history.get("val_loss", []), *earlier], default=math.nan),
        "warm_start": warm_start,
        "history": history,
    }
    (run_dir / FACTS_FILE).write_text(json.dumps(facts, indent=2) + "\n")
    log.info("trained in %.0f s; best validation loss %.4f", wall_s, facts["best_val_loss"])
    return TrainResult(model, history, facts)
