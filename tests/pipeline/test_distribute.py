"""``train --distribute``: data-parallel training through Keras's distribution API (JAX)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from training.__main__ import _parser
from training.prepare import PrepareOptions, prepare
from training.train import BEST_WEIGHTS, FACTS_FILE, TrainOptions, data_parallel

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", ["train --data d --run r", "all --name n"])
def test_distribute_is_a_switch(command):
    parser = _parser()
    assert parser.parse_args(command.split()).distribute is False
    assert parser.parse_args([*command.split(), "--distribute"]).distribute is True
    with pytest.raises(TypeError, match="distribute must be bool"):
        TrainOptions(distribute="yes")


def test_distribute_needs_the_jax_backend(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(ValueError, match="KERAS_BACKEND=jax"):
        data_parallel(batch=8)


def test_distribute_needs_a_batch_that_splits_over_the_devices(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["cpu:0", "cpu:1", "cpu:2"])
    with pytest.raises(ValueError, match="batch 8 does not split over 3 devices"):
        data_parallel(batch=8)


@pytest.mark.slow
def test_train_distribute_on_two_virtual_cpu_devices(tmp_path):
    prepared = prepare(
        PrepareOptions(
            sources=("folk",),
            transpose=(-1, 1),
            split=(0.6, 0.2, 0.2),
            limit=8,
            output_dir=tmp_path / "prepared",
        )
    )
    run_dir = tmp_path / "run"
    tiny = "--layers 1 --units 32 --embed-dim 16 --epochs 1 --seq-len 32 --batch 8"
    command = [sys.executable, "-m", "training", "train", "--distribute", *tiny.split()]
    command += ["--steps-per-epoch", "3", "--data", str(prepared.directory), "--run", str(run_dir)]
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",  # two CPU devices even where there is a GPU
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]

    facts = json.loads((run_dir / FACTS_FILE).read_text())
    assert facts["backend"] == "jax"
    assert facts["devices"] == 2 and facts["distribution"] == "DataParallel"
    assert facts["options"]["distribute"] is True and facts["epochs_run"] == 1
    assert (run_dir / BEST_WEIGHTS).is_file()
