"""Training data as Keras datasets: token windows with their metrical features.

A split's pieces lie back to back in a :class:`TokenStream`; :class:`RandomWindows` draws
a fresh random set of windows each epoch (training), :class:`OrderedWindows` cuts every
whole window in order (validation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import keras
import numpy as np

from liveimpro.core.shards import Shard
from liveimpro.music.vocabulary import Vocabulary


class WindowOptions(Protocol):
    """What the windows are drawn by (training.train.TrainOptions has these)."""

    @property
    def seq_len(self) -> int: ...

    @property
    def batch(self) -> int: ...

    @property
    def seed(self) -> int: ...


@dataclass(frozen=True)
class TokenStream:
    """A split's pieces back to back, with the metrical features of every token."""

    tokens: np.ndarray  # (N,) int32
    sub_beat: np.ndarray  # (N,) int32
    beat: np.ndarray  # (N,) int32

    @classmethod
    def from_shard(cls, shard: Shard, vocabulary: Vocabulary) -> TokenStream:
        sub_beats, beats = [], []
        for index, ticks_per_bar in enumerate(shard.ticks_per_bar):
            # Features restart per piece: each piece's tick 0 is a bar line.
            sub_beat, beat = vocabulary.metrical_features(
                shard.piece_tokens(index), int(ticks_per_bar)
            )
            sub_beats.append(sub_beat)
            beats.append(beat)
        empty = np.zeros(0, np.int32)
        return cls(
            shard.tokens.astype(np.int32),
            np.concatenate(sub_beats) if sub_beats else empty,
            np.concatenate(beats) if beats else empty,
        )

    def __len__(self) -> int:
        return len(self.tokens)

    def windows(self, starts: np.ndarray, seq_len: int) -> tuple[dict, np.ndarray]:
        """Inputs and next-token targets for windows of seq_len + 1 at ``starts`` (B,)."""
        index = starts[:, None] + np.arange(seq_len + 1)  # (B, T + 1)
        tokens = self.tokens[index]  # (B, T + 1)
        inputs = {
            "tokens": tokens[:, :-1],
            "sub_beat": self.sub_beat[index[:, :-1]],
            "beat": self.beat[index[:, :-1]],
        }  # each (B, T)
        return inputs, tokens[:, 1:]


class RandomWindows(keras.utils.PyDataset):
    """Batches of windows drawn at random positions, fresh for every epoch."""

    def __init__(self, stream: TokenStream, options: WindowOptions, steps: int) -> None:
        super().__init__()
        self.stream, self.options, self.steps = stream, options, steps
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[dict, np.ndarray]:
        rng = np.random.default_rng((self.options.seed, self.epoch, index))
        high = len(self.stream) - self.options.seq_len - 1
        starts = rng.integers(0, high + 1, size=self.options.batch)  # (B,)
        return self.stream.windows(starts, self.options.seq_len)

    def on_epoch_end(self) -> None:
        self.epoch += 1


class OrderedWindows(keras.utils.PyDataset):
    """Every whole window of the stream in order: a fixed validation set.

    ``multiple`` > 1 drops the last few windows so that every batch splits evenly
    over that many devices.
    """

    def __init__(self, stream: TokenStream, options: WindowOptions, multiple: int = 1) -> None:
        super().__init__()
        self.stream, self.options = stream, options
        count = (len(stream) - 1) // options.seq_len
        count -= count % multiple
        self.starts = np.arange(count) * options.seq_len  # (W,)

    def __len__(self) -> int:
        return math.ceil(len(self.starts) / self.options.batch)

    def __getitem__(self, index: int) -> tuple[dict, np.ndarray]:
        batch = self.options.batch
        starts = self.starts[index * batch : (index + 1) * batch]
        return self.stream.windows(starts, self.options.seq_len)
