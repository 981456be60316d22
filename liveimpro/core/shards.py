"""Tokenised splits on disk: one ``.npz`` per split, read without pickle.

Written by the training pipeline's prepare stage; read by training, evaluation and
``liveimpro bench quality``, none of which needs the corpus readers (music21).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Shard:
    """The pieces of one split, back to back."""

    tokens: np.ndarray  # (N,) int16, every piece as BOS ... EOS
    offsets: np.ndarray  # (n + 1,) int64, piece i is tokens[offsets[i]:offsets[i + 1]]
    ticks_per_bar: np.ndarray  # (n,) int32
    names: np.ndarray  # (n,) str; a transposed copy is named "name@+3"

    def __len__(self) -> int:
        return len(self.names)

    def piece_tokens(self, index: int) -> np.ndarray:
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]


def load_shard(path: Path) -> Shard:
    """Read a shard written by the prepare stage (no pickled objects)."""
    with np.load(path, allow_pickle=False) as data:
        return Shard(data["tokens"], data["offsets"], data["ticks_per_bar"], data["names"])
