"""The step engine: one token at a time through the exported LSTM, in NumPy.

Written by hand rather than run through Keras because one stateful Keras step
costs milliseconds here, while this costs about a tenth of a millisecond
(``liveimpro bench engine`` measures both). Imports neither TensorFlow nor Keras.

The first layer's input is a sum of three embeddings, so its input projection
is folded into three lookup tables at load time: step cost is then the
recurrent matmuls and the output layer only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveimpro.core.model import ModelSpec, TrainedWeights


def pin_blas_threads(threads: int = 1) -> None:
    """Limit BLAS to ``threads`` threads in this process.

    Multithreaded BLAS made one LSTM step's p99 5 to 15 times worse on 2-core
    machines, so the real-time process runs single-threaded BLAS.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


@dataclass(frozen=True)
class EngineState:
    """A copy of every layer's (h, c); restore it to re-sample from the same point."""

    h: tuple[np.ndarray, ...]
    c: tuple[np.ndarray, ...]


def _sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warnings for large |x|, one ufunc call.
    np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


class Engine:
    """A stateful LSTM stepper over exported weights."""

    def __init__(self, spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
        self.spec = spec
        u = spec.units
        f32 = np.float32
        kernel0 = weights["lstm_0.kernel"].astype(f32)  # (E, 4u)
        bias0 = weights["lstm_0.bias"].astype(f32)  # (4u,)
        self._token_gates = weights["token_embedding"] @ kernel0 + bias0  # (V, 4u)
        self._sub_beat_gates = weights["sub_beat_embedding"] @ kernel0  # (24, 4u)
        self._beat_gates = weights["beat_embedding"] @ kernel0  # (8, 4u)
        self._recurrent = [
            np.ascontiguousarray(weights[f"lstm_{i}.recurrent_kernel"], dtype=f32)  # (u, 4u)
            for i in range(spec.layers)
        ]
        self._kernels = [None] + [
            np.ascontiguousarray(weights[f"lstm_{i}.kernel"], dtype=f32)  # (u, 4u)
            for i in range(1, spec.layers)
        ]
        self._biases = [None] + [
            weights[f"lstm_{i}.bias"].astype(f32) for i in range(1, spec.layers)
        ]
        self._out_kernel = np.ascontiguousarray(weights["logits.kernel"], dtype=f32)  # (u, V)
        self._out_bias = weights["logits.bias"].astype(f32)  # (V,)
        self._h = [np.zeros(u, f32) for _ in range(spec.layers)]
        self._c = [np.zeros(u, f32) for _ in range(spec.layers)]
        # Scratch buffers so a step allocates almost nothing.
        self._z = np.empty(4 * u, f32)
        self._z2 = np.empty(4 * u, f32)
        self._gates = np.empty(4 * u, f32)
        self._tanh_c = np.empty(u, f32)
        self._logits = np.empty(spec.vocab_size, f32)

    @classmethod
    def from_model(cls, model: TrainedWeights) -> Engine:
        return cls(model.spec, model.weights)

    def reset(self) -> None:
        for h, c in zip(self._h, self._c, strict=True):
            h.fill(0.0)
            c.fill(0.0)

    def snapshot(self) -> EngineState:
        return EngineState(tuple(h.copy() for h in self._h), tuple(c.copy() for c in self._c))

    def restore(self, state: EngineState) -> None:
        for h, c, saved_h, saved_c in zip(self._h, self._c, state.h, state.c, strict=True):
            h[:] = saved_h
            c[:] = saved_c

    def step(self, token: int, sub_beat: int, beat: int) -> np.ndarray:
        """Advance by one token; returns the next-token logits (V,).

        The returned array is reused by the next step: copy it to keep it.
        """
        u = self.spec.units
        z, gates = self._z, self._gates
        np.add(self._token_gates[token], self._sub_beat_gates[sub_beat], out=z)
        z += self._beat_gates[beat]
        for layer in range(self.spec.layers):
            h, c = self._h[layer], self._c[layer]
            if layer:
                np.dot(self._h[layer - 1], self._kernels[layer], out=z)
                z += self._biases[layer]
            np.dot(h, self._recurrent[layer], out=self._z2)
            z += self._z2
            # Keras gate order: input, forget, cell, output.
            _sigmoid(z, out=gates)
            np.tanh(z[2 * u : 3 * u], out=gates[2 * u : 3 * u])
            c *= gates[u : 2 * u]
            c += gates[:u] * gates[2 * u : 3 * u]
            np.tanh(c, out=self._tanh_c)
            np.multiply(gates[3 * u :], self._tanh_c, out=h)
        np.dot(self._h[-1], self._out_kernel, out=self._logits)
        self._logits += self._out_bias
        return self._logits
