"""Benchmarks that print figures (never timed tests: these machines are shared and noisy).

``bench_engine`` measures, side by side with the same weights, one token step of
(the Keras ones only where the train extra is installed):
  - the NumPy engine (what the daemon runs),
  - a stateful Keras model called on one token,
  - seed-style inference: ``model.predict`` on the last 64 events for every new event.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from liveimpro.core.engine import Engine, pin_blas_threads
from liveimpro.core.model import ModelSpec, weight_shapes
from liveimpro.music.vocabulary import Vocabulary

SEED_WINDOW = 64
KERAS_STEPS = 300  # Keras paths are slow: fewer calls, still enough for a p99


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Median, p99 and max of per-call latencies, in milliseconds."""
    ms = np.asarray(seconds) * 1e3
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
    }


def _timed(call, inputs) -> list[float]:
    timings = []
    for item in inputs:
        started = time.perf_counter()
        call(item)
        timings.append(time.perf_counter() - started)
    return timings


KERAS_MISSING = (
    "Keras is not installed; the comparison with a Keras step and seed-style predict "
    "needs the train extra: pip install -e '.[train]'"
)


def random_weights(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Small random weights of every shape ``spec`` has, for timing alone."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(0, 0.1, shape).astype(np.float32)
        for name, shape in weight_shapes(spec).items()
    }


def _import_keras():
    """Keras, or None where the train extra is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
    except ImportError:
        return None
    return keras


def _bench_one(spec: ModelSpec, weights: dict, steps: int, keras_steps: int) -> dict:
    vocabulary = Vocabulary()
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, vocabulary.size, max(steps, keras_steps) + SEED_WINDOW)
    sub_beat, beat = vocabulary.metrical_features(tokens, 4 * 24)
    engine = Engine(spec, weights)
    for i in range(min(200, steps)):  # warm-up
        engine.step(int(tokens[i]), int(sub_beat[i]), int(beat[i]))
    numpy_times = _timed(
        lambda i: engine.step(int(tokens[i]), int(sub_beat[i]), int(beat[i])), range(steps)
    )
    numpy_summary = latency_summary(numpy_times)
    result = {
        "model": f"{spec.layers}x{spec.units}",
        "parameters": spec.parameter_count,
        "numpy_engine": numpy_summary,
    }
    keras = _import_keras()
    if keras is None:
        return {**result, "keras": KERAS_MISSING}
    from liveimpro.core.model import build_keras_model, import_weights

    model = build_keras_model(spec)
    import_weights(model, weights)
    stateful = build_keras_model(spec, stateful=True, batch_size=1)
    import_weights(stateful, weights)
    one = [np.zeros((1, 1), np.int32) for _ in range(3)]

    def keras_step(i: int) -> None:
        one[0][0, 0], one[1][0, 0], one[2][0, 0] = tokens[i], sub_beat[i], beat[i]
        keras.ops.convert_to_numpy(stateful(one, training=False))

    for i in range(20):
        keras_step(i)
    keras_times = _timed(keras_step, range(keras_steps))

    def seed_step(i: int) -> None:
        window = slice(i, i + SEED_WINDOW)
        model.predict([tokens[None, window], sub_beat[None, window], beat[None, window]], verbose=0)

    seed_step(0)
    seed_times = _timed(seed_step, range(max(10, keras_steps // 10)))
    keras_summary = latency_summary(keras_times)
    seed_summary = latency_summary(seed_times)
    return {
        **result,
        "keras_stateful_step": keras_summary,
        "seed_style_predict": seed_summary,
        "speedup_p50_vs_keras_step": round(keras_summary["p50_ms"] / numpy_summary["p50_ms"], 1),
        "speedup_p50_vs_seed_predict": round(seed_summary["p50_ms"] / numpy_summary["p50_ms"], 1),
        "speedup_p99_vs_seed_predict": round(seed_summary["p99_ms"] / numpy_summary["p99_ms"], 1),
    }


def bench_engine(
    sizes: list[tuple[int, int]], steps: int = 2000, models: list[str] | None = None
) -> dict:
    """Per-step latency for random-weight models of ``sizes`` and for shipped models."""
    from liveimpro.core.modelfile import available_models, load_model, resolve_model

    pin_blas_threads()
    vocabulary = Vocabulary()
    specs = [ModelSpec(vocabulary.size, layers=layers, units=units) for layers, units in sizes]
    results = [_bench_one(spec, random_weights(spec), steps, KERAS_STEPS) for spec in specs]
    for name in available_models() if models is None else models:
        loaded = load_model(resolve_model(name))
        result = _bench_one(loaded.spec, loaded.weights, steps, KERAS_STEPS)
        result["model"] = f"{name} ({result['model']})"
        results.append(result)
    return {
        "benchmark": "engine step latency",
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, BLAS pinned to 1 thread",
        "results": results,
    }
