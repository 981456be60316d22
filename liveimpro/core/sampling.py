"""Sampling the next token: temperature, top-k, top-p, and validity masks.

The masks make a stuck or orphan note impossible whatever the model says:
no note-off for a silent pitch, no note-on for a sounding one, a polyphony
cap, a pitch range, and a maximum note length after which only the overdue
note-offs are allowed. A scale lock leaves note-ons only on the scale's
pitch classes. They also keep time moving: a note cannot end on the
tick it started, and two velocity tokens never follow each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveimpro.config.settings import MAX_POLYPHONY, SamplingSettings
from liveimpro.music.midinumbers import MAX_DATA_BYTE
from liveimpro.music.vocabulary import EventDecoder, Vocabulary


@dataclass(frozen=True)
class NoteLimits:
    max_polyphony: int = 8
    pitch_low: int = 0
    pitch_high: int = MAX_DATA_BYTE
    max_note_ticks: int = 96

    def __post_init__(self) -> None:
        if not 1 <= self.max_polyphony <= MAX_POLYPHONY:
            raise ValueError(
                f"max_polyphony must be in [1, {MAX_POLYPHONY}], got {self.max_polyphony}"
            )
        if not 0 <= self.pitch_low <= self.pitch_high <= MAX_DATA_BYTE:
            raise ValueError(
                f"need 0 <= pitch_low <= pitch_high <= {MAX_DATA_BYTE}, "
                f"got {self.pitch_low}, {self.pitch_high}"
            )
        if self.max_note_ticks < 1:
            raise ValueError(f"max_note_ticks must be >= 1, got {self.max_note_ticks}")


class TokenMask:
    """Computes which tokens may come next, given the decoder's state."""

    def __init__(self, vocabulary: Vocabulary, limits: NoteLimits) -> None:
        self.vocabulary = vocabulary
        self.limits = limits
        self._mask = np.empty(vocabulary.size, dtype=bool)
        self.lock_scale(None)

    def lock_scale(self, pitch_classes: frozenset[int] | None) -> None:
        """Allow note-ons only on these pitch classes (0 = C); None allows all twelve."""
        v, limits = self.vocabulary, self.limits
        pitches = np.arange(limits.pitch_low, limits.pitch_high + 1)  # (P,)
        if pitch_classes is not None:
            pitches = pitches[np.isin(pitches % 12, sorted(pitch_classes))]
        self.scale = pitch_classes
        self._base = np.zeros(v.size, dtype=bool)
        self._base[v.note_on_base + pitches] = True
        self._base[v.velocity_base :] = True  # velocities and shifts

    def allowed(self, decoder: EventDecoder) -> np.ndarray:
        """Boolean mask (V,); always has at least one True. Reused between calls."""
        v, limits, mask = self.vocabulary, self.limits, self._mask
        sounding = decoder.sounding
        tick = decoder.tick
        if sounding:
            overdue = [p for p, start in sounding.items() if tick - start >= limits.max_note_ticks]
            if overdue:
                mask.fill(False)
                mask[[v.note_off(p) for p in overdue]] = True
                return mask
        np.copyto(mask, self._base)
        if sounding:
            mask[[v.note_on(p) for p in sounding]] = False
            mask[[v.note_off(p) for p, start in sounding.items() if start < tick]] = True
            room = min(start + limits.max_note_ticks - tick for start in sounding.values())
            mask[v.shift_base + room :] = False
            if len(sounding) >= limits.max_polyphony:
                mask[v.note_on_base : v.note_off_base] = False
        if decoder.last_token >= v.velocity_base and decoder.last_token < v.shift_base:
            mask[v.velocity_base : v.shift_base] = False
        else:
            mask[v.velocity(decoder.velocity_bin)] = False
        return mask


class Sampler:
    """Draws tokens from logits with a seeded RNG: the same seed, the same output."""

    def __init__(self, params: SamplingSettings) -> None:
        self.params = params  # replaced whole (it is frozen) to change parameters live
        self.rng = np.random.default_rng(None if params.seed < 0 else params.seed)

    def probabilities(self, logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The distribution sampled from: (V,) float64 summing to 1, zero where masked."""
        p = self.params
        scaled = np.where(mask, logits.astype(np.float64) / p.temperature, -np.inf)
        if 0 < p.top_k < int(mask.sum()):
            kth = np.partition(scaled, -p.top_k)[-p.top_k]
            scaled[scaled < kth] = -np.inf
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        if p.top_p < 1.0:
            order = np.argsort(probs)[::-1]
            cumulative = np.cumsum(probs[order])
            keep = int(np.searchsorted(cumulative, p.top_p)) + 1  # smallest set reaching top_p
            probs[order[keep:]] = 0.0
            probs /= probs.sum()
        return probs

    def sample(self, logits: np.ndarray, mask: np.ndarray) -> int:
        cumulative = np.cumsum(self.probabilities(logits, mask))
        # The first index whose running total exceeds the draw always has probability > 0.
        return int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))
