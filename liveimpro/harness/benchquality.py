"""`liveimpro bench quality`: how a model answers a score, a transposed score and a
performance of it, on its own held-out test split.

Each test piece at least ``prime_bars + reference_bars`` long is cut in two: the first
``prime_bars`` bars are the prime, the next ``reference_bars`` bars the real continuation.
The prime goes through the daemon's priming path (:class:`PhrasePrimer`, with the model's
input style) under each condition:

- ``score``: as written;
- ``transposed``: in every key from 6 semitones down to 5 up (prime and continuation);
- ``performed``: as a player might play it (:class:`Performance`): detached notes, onset
  jitter, varied velocities, a random key;
- ``performed_raw``: the same performance primed without the input-style treatment, to
  show what the treatment is worth.

For each, the teacher-forced bits per note of the real continuation, and (except for
``transposed``) statistics of sampled continuations beside those of the real ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from liveimpro.config.settings import AdaptationSettings, NotesSettings, SamplingSettings
from liveimpro.core.continuation import Continuation, build_continuation
from liveimpro.core.inputstyle import InputStyle
from liveimpro.core.modelfile import LoadedModel
from liveimpro.core.priming import PhrasePrimer
from liveimpro.core.shards import Shard, load_shard
from liveimpro.errors import UserError
from liveimpro.music.musicstats import window_stats
from liveimpro.music.vocabulary import (
    TICKS_PER_BEAT,
    EventEncoder,
    Note,
    Vocabulary,
    decode,
    notes_from_events,
    notes_to_events,
)

KEYS = tuple(range(-6, 6))
GOALS = {  # name: (bound, "max" or "min")
    "performed_bits_excess": (0.10, "max"),
    "transposed_worst_key_excess": (0.05, "max"),
    "performed_pitch_class_share": (0.92, "min"),
    "performed_polyphony": (1.02, "max"),
    "performed_notes_per_beat_error": (0.10, "max"),
    "performed_mean_note_beats_error": (0.10, "max"),
}


class QualityDataError(UserError):
    """The test split is missing or unreadable."""


@dataclass(frozen=True)
class Performance:
    """How a score is turned into a synthetic human performance."""

    articulation: tuple[float, float] = (0.45, 0.9)  # share of its written value a note sounds
    onset_jitter_ms: float = 12.0  # standard deviation
    bpm: float = 120.0  # the tempo the jitter is measured at
    velocity: tuple[int, int] = (55, 115)
    keys: tuple[int, int] = (KEYS[0], KEYS[-1])  # random transposition, inclusive

    def perform(self, notes: Sequence[Note], rng: np.random.Generator) -> list[Note]:
        """``notes`` played: onsets jittered, notes shortened, velocities spread."""
        jitter_ticks = self.onset_jitter_ms / 1000 * self.bpm / 60 * TICKS_PER_BEAT
        played = []
        for note in notes:
            start = max(0, note.start + round(rng.normal(0, jitter_ticks)))
            length = max(1, round((note.end - note.start) * rng.uniform(*self.articulation)))
            velocity = int(rng.integers(self.velocity[0], self.velocity[1] + 1))
            played.append(Note(note.pitch, velocity, start, start + length))
        return played


@dataclass(frozen=True)
class HeldOutPiece:
    prime: list[Note]
    reference: list[Note]  # the real continuation
    boundary: int  # tick where the prime ends and the reference begins
    window: int  # the reference's length in ticks
    ticks_per_bar: int
    pitch_classes: frozenset[int]  # of the whole piece


def held_out_pieces(
    shard: Shard, vocabulary: Vocabulary, prime_bars: int, reference_bars: int, limit: int
) -> list[HeldOutPiece]:
    """Up to ``limit`` pieces long enough to cut, evenly spread over the split (which is
    ordered by collection)."""
    pieces = []
    for index in range(len(shard)):
        ticks_per_bar = int(shard.ticks_per_bar[index])
        notes = decode(shard.piece_tokens(index), vocabulary)
        boundary = prime_bars * ticks_per_bar
        end = boundary + reference_bars * ticks_per_bar
        prime = [_clip(n, n.start, boundary) for n in notes if n.start < boundary]
        reference = [_clip(n, n.start, end) for n in notes if boundary <= n.start < end]
        if not prime or not reference or max(n.end for n in notes) < end:
            continue
        pitch_classes = frozenset(n.pitch % 12 for n in notes)
        pieces.append(
            HeldOutPiece(prime, reference, boundary, end - boundary, ticks_per_bar, pitch_classes)
        )
    if len(pieces) <= limit:
        return pieces
    return [pieces[i] for i in np.linspace(0, len(pieces) - 1, limit).round().astype(int)]


def _clip(note: Note, start: int, end: int) -> Note:
    return Note(note.pitch, note.velocity, start, min(note.end, end))


def _moved(notes: Sequence[Note], semitones: int) -> list[Note]:
    return [Note(n.pitch + semitones, n.velocity, n.start, n.end) for n in notes]


def _moved_classes(pitch_classes: frozenset[int], semitones: int) -> frozenset[int]:
    return frozenset((pc + semitones) % 12 for pc in pitch_classes)


class QualityBench:
    """One model, one continuation, primed again for every piece and condition."""

    def __init__(
        self,
        model: LoadedModel,
        sampling: SamplingSettings,
        adaptation: AdaptationSettings,
        notes: NotesSettings,
    ) -> None:
        self.model = model
        self.sampling = sampling
        self.adaptation = adaptation
        self.notes = notes
        self._continuations: dict[int, Continuation] = {}

    def _continuation(self, ticks_per_bar: int) -> Continuation:
        if ticks_per_bar not in self._continuations:
            self._continuations[ticks_per_bar] = build_continuation(
                self.model, self.sampling, self.notes, ticks_per_bar, self.adaptation
            )
        return self._continuations[ticks_per_bar]

    def run(
        self,
        piece: HeldOutPiece,
        prime: Sequence[Note],
        reference: Sequence[Note],
        style: InputStyle,
        sample: bool,
    ) -> tuple[float, list[Note] | None]:
        """(bits of the reference, a sampled continuation or None) after priming."""
        continuation = self._continuation(piece.ticks_per_bar)
        primer = PhrasePrimer(continuation, style)
        primer.prime(prime, next_onset=piece.boundary)
        primed = continuation.snapshot()
        bits = float(continuation.surprisal(_reference_tokens(continuation, reference)).sum())
        if not sample:
            return bits, None
        continuation.restore(primed)
        continuation.advance_to(piece.boundary)
        end = piece.boundary + piece.window
        events = continuation.generate_until(end) + continuation.release_all(end)
        notes = [
            _clip(n, n.start, end)
            for n in notes_from_events(events)
            if piece.boundary <= n.start < end
        ]
        return bits, notes


def _reference_tokens(continuation: Continuation, reference: Sequence[Note]) -> list[int]:
    """The real continuation as tokens from where priming left the decoder."""
    decoder = continuation.decoder
    encoder = EventEncoder(continuation.vocabulary, decoder.tick)
    encoder.velocity_bin = decoder.velocity_bin
    tokens: list[int] = []
    for event in notes_to_events(reference):
        tick = max(event.tick, encoder.tick)  # a prime snapped forward may reach past it
        tokens += encoder.note_on(event.pitch, event.velocity, tick)
    return tokens


def bench_quality(
    model: LoadedModel,
    data_dir: Path,
    *,
    pieces: int = 200,
    prime_bars: int = 8,
    reference_bars: int = 4,
    sampling: SamplingSettings | None = None,
    adaptation: AdaptationSettings | None = None,
    performance: Performance | None = None,
    seed: int = 0,
) -> dict:
    """The benchmark's JSON-ready report."""
    test_path = Path(data_dir) / "test.npz"
    if not test_path.is_file():
        raise QualityDataError(
            f"no test split at {test_path}: make it with `python -m training prepare` "
            "(the model card says with which options) or pass --data"
        )
    try:
        shard = load_shard(test_path)
    except (OSError, ValueError, KeyError) as error:
        raise QualityDataError(f"{test_path}: unreadable test split ({error})") from error
    sampling = sampling or SamplingSettings(seed=seed)
    adaptation = adaptation or AdaptationSettings()
    performance = performance or Performance()
    started = time.perf_counter()
    cases = held_out_pieces(shard, model.vocabulary, prime_bars, reference_bars, pieces)
    if not cases:
        raise QualityDataError(f"{test_path}: no test piece is {prime_bars + reference_bars} bars")
    bench = QualityBench(model, sampling, adaptation, NotesSettings())
    style = model.input_style
    rng = np.random.default_rng(seed)

    notes_total = 0
    bits = {"score": 0.0, "performed": 0.0, "performed_raw": 0.0}
    key_bits = dict.fromkeys(KEYS, 0.0)
    samples: dict[str, list[list[Note]]] = {name: [] for name in bits}
    own: dict[str, list[frozenset[int]]] = {name: [] for name in bits}
    real: list[list[Note]] = []
    real_own: list[frozenset[int]] = []
    for case in cases:
        notes_total += len(case.reference)
        real.append(case.reference)
        real_own.append(case.pitch_classes)
        score_bits, sampled = bench.run(case, case.prime, case.reference, style, sample=True)
        bits["score"] += score_bits
        samples["score"].append(sampled)
        own["score"].append(case.pitch_classes)
        for key in KEYS:
            moved_prime, moved_reference = _moved(case.prime, key), _moved(case.reference, key)
            key_bits[key] += (
                score_bits
                if key == 0
                else bench.run(case, moved_prime, moved_reference, style, sample=False)[0]
            )
        key = int(rng.integers(performance.keys[0], performance.keys[1] + 1))
        played = performance.perform(_moved(case.prime, key), rng)
        reference = _moved(case.reference, key)
        for name, treatment in (("performed", style), ("performed_raw", InputStyle())):
            case_bits, sampled = bench.run(case, played, reference, treatment, sample=True)
            bits[name] += case_bits
            samples[name].append(sampled)
            own[name].append(_moved_classes(case.pitch_classes, key))

    real_stats = _stats(real, cases, real_own)
    conditions = {}
    for name in bits:
        conditions[name] = {
            "bits_per_note": bits[name] / notes_total,
            "samples": _stats(samples[name], cases, own[name]),
        }
    by_key = {str(key): key_bits[key] / notes_total for key in KEYS}
    conditions["transposed"] = {
        "bits_per_note": float(np.mean(list(by_key.values()))),
        "by_key": by_key,
    }
    score = conditions["score"]["bits_per_note"]
    performed = conditions["performed"]["samples"]
    figures = {
        "performed_bits_excess": conditions["performed"]["bits_per_note"] - score,
        "transposed_worst_key_excess": max(by_key.values()) - by_key["0"],
        "performed_pitch_class_share": performed["pitch_class_share"],
        "performed_polyphony": performed["polyphony"],
        "performed_notes_per_beat_error": _relative(
            performed["notes_per_beat"], real_stats["notes_per_beat"]
        ),
        "performed_mean_note_beats_error": _relative(
            performed["mean_note_beats"], real_stats["mean_note_beats"]
        ),
    }
    return {
        "benchmark": "quality",
        "model": model.name,
        "data": str(test_path),
        "pieces": len(cases),
        "reference_notes": notes_total,
        "prime_bars": prime_bars,
        "reference_bars": reference_bars,
        "input_style": style.to_dict(),
        "sampling": asdict(sampling),
        "adaptation": adaptation.enabled,
        "performance": asdict(performance),
        "seed": seed,
        "real": real_stats,
        "conditions": conditions,
        "goals": {
            name: {
                "value": figures[name],
                "bound": bound,
                "kind": kind,
                "met": _met(figures[name], bound, kind),
            }
            for name, (bound, kind) in GOALS.items()
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def _stats(
    pieces: list[list[Note]], cases: list[HeldOutPiece], own: list[frozenset[int]]
) -> dict[str, float]:
    return window_stats(pieces, [case.window for case in cases], own)


def _relative(value: float, reference: float) -> float:
    return abs(value - reference) / reference if reference else float("nan")


def _met(value: float, bound: float, kind: str) -> bool:
    return bool(value <= bound) if kind == "max" else bool(value >= bound)
