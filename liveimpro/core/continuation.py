"""Priming the engine with a phrase and sampling its continuation as note events.

Shared by the offline ``liveimpro continue`` command and the daemon: the
daemon feeds the phrase note by note as it arrives (``feed_tokens``) and pulls
the response a bounded lookahead ahead of the clock (``generate_until``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from liveimpro.config.settings import (
    AdaptationSettings,
    NotesSettings,
    SamplingSettings,
    Settings,
)
from liveimpro.core.adaptation import ShortTermModel, mix_by_entropy
from liveimpro.core.engine import Engine, EngineState
from liveimpro.core.inputstyle import InputStyle
from liveimpro.core.modelfile import LoadedModel, load_model, resolve_model
from liveimpro.core.sampling import NoteLimits, Sampler, TokenMask
from liveimpro.music.tonality import SCALE_FROM_PHRASE, Scale, parse_scale
from liveimpro.music.vocabulary import (
    TICKS_PER_BEAT,
    EventDecoder,
    NoteEvent,
    Vocabulary,
    bar_ticks,
    metrical_position,
)


@dataclass(frozen=True)
class ContinuationState:
    """Everything needed to re-sample from one point of a performance (see snapshot)."""

    engine: EngineState
    decoder: EventDecoder
    logits: np.ndarray | None  # the next-token logits; None before start()
    heard: int  # tokens the short-term model had learnt

    def moved_by(self, ticks: int) -> ContinuationState:
        """This state ``ticks`` later: the same network state, notes and velocity."""
        return replace(self, decoder=self.decoder.moved_by(ticks))


class Continuation:
    """The engine plus the tick, meter and note state of one performance."""

    def __init__(
        self,
        engine: Engine,
        vocabulary: Vocabulary,
        sampler: Sampler,
        limits: NoteLimits,
        ticks_per_bar: int,
        adaptation: AdaptationSettings | None = None,
        input_style: InputStyle | None = None,
    ) -> None:
        self.engine = engine
        self.input_style = input_style or InputStyle()  # what the model heard in training
        self.vocabulary = vocabulary
        self.sampler = sampler
        self.mask = TokenMask(vocabulary, limits)
        self.ticks_per_bar = ticks_per_bar
        self.decoder = EventDecoder(vocabulary)
        self._logits = None
        self._rest: tuple[ContinuationState, int] | None = None  # see replan
        self.adaptation = adaptation if adaptation and adaptation.enabled else None
        self.short_term = (
            ShortTermModel(vocabulary.size, self.adaptation.order) if self.adaptation else None
        )
        self.phrase_key: Scale | None = None  # the key found in the latest phrase
        self._lock_scale()

    def set_sampling(self, params: SamplingSettings) -> None:
        """Sample by ``params`` from the tick generation has reached (see replan)."""
        self.sampler.params = params
        self._lock_scale()
        self.replan()

    def set_phrase_key(self, key: Scale | None) -> None:
        """The key of the phrase just heard: the scale of ``sampling.scale = "phrase"``."""
        self.phrase_key = key
        self._lock_scale()

    def _lock_scale(self) -> None:
        setting = self.sampler.params.scale
        scale = self.phrase_key if setting == SCALE_FROM_PHRASE else parse_scale(setting)
        pitch_classes = scale.pitch_classes if scale else None
        if pitch_classes != self.mask.scale:
            self.mask.lock_scale(pitch_classes)

    @property
    def tick(self) -> int:
        return self.decoder.tick

    def start(self, tick: int) -> None:
        """Begin a performance whose first event is at ``tick``: BOS on its bar line."""
        self.engine.reset()
        if self.short_term:
            self.short_term.reset()
        bar_start = tick - tick % self.ticks_per_bar
        self.decoder = EventDecoder(self.vocabulary, bar_start)
        self.feed_tokens([Vocabulary.BOS])

    def feed_tokens(self, tokens: Iterable[int], *, heard: bool = True) -> list[NoteEvent]:
        """Advance the engine over tokens; the note events they make.

        Only tokens the performer played (``heard``) teach the short-term model:
        learning from its own samples would make it loop on them.
        """
        self._rest = None
        events = []
        for token in tokens:
            event = self.decoder.feed(token)
            if event is not None:
                events.append(event)
            sub_beat, beat = metrical_position(self.decoder.tick, self.ticks_per_bar)
            self._logits = self.engine.step(token, sub_beat, beat)
            if heard and self.short_term:
                self.short_term.update(token)
        return events

    def surprisal(self, tokens: Iterable[int]) -> np.ndarray:
        """Bits each of ``tokens`` costs, predicted as the continuation would predict it
        (adaptation included), feeding each after it is scored: (n,) float64."""
        bits = []
        for token in tokens:
            logits = self._prediction().astype(np.float64)
            top = logits.max()
            log_z = top + np.log(np.exp(logits - top).sum())
            bits.append((log_z - logits[token]) / np.log(2))
            self.feed_tokens([token])
        return np.asarray(bits)

    def advance_to(self, tick: int) -> None:
        """Feed the silence up to ``tick`` (e.g. to a quantised response start)."""
        if tick > self.decoder.tick:
            self.feed_tokens(self.vocabulary.shifts(tick - self.decoder.tick))

    def snapshot(self) -> ContinuationState:
        """Everything needed to re-sample a response from this point (``mutate``)."""
        logits = None if self._logits is None else self._logits.copy()
        heard = len(self.short_term.history) if self.short_term else 0
        return ContinuationState(self.engine.snapshot(), self.decoder.copy(), logits, heard)

    def restore(self, saved: ContinuationState) -> None:
        self.engine.restore(saved.engine)
        if self.short_term:
            self.short_term.truncate(saved.heard)
        self.decoder = saved.decoder.copy()
        self._logits = None if saved.logits is None else saved.logits.copy()
        self._rest = None

    def generate_until(self, tick: int) -> list[NoteEvent]:
        """Sample tokens until the clock reaches ``tick``; the note events made (all before it).

        The last shift may carry the clock past ``tick``; streaming in chunks
        therefore gives exactly the tokens that one call would.
        """
        if self._logits is None:
            raise RuntimeError("start() the continuation before generating")
        events: list[NoteEvent] = []
        while self.decoder.tick < tick:
            token = self.sampler.sample(self._prediction(), self.mask.allowed(self.decoder))
            rest = self._rest_past(tick, token)
            events += self.feed_tokens([token], heard=False)
            self._rest = rest
        return events

    def _rest_past(self, tick: int, token: int) -> tuple[ContinuationState, int] | None:
        """The state before ``token`` if it is a rest (shift) that reaches past ``tick``."""
        shift_base = self.vocabulary.shift_base
        if token < shift_base or self.decoder.tick + token - shift_base + 1 <= tick:
            return None
        return self.snapshot(), tick

    def replan(self) -> None:
        """Draw afresh from the tick generation was last asked to reach.

        Generation stops with the token that reaches that tick, and a rest may reach well
        past it, decided with the sampling parameters of its time. If the last token did,
        the rest is cut back to that tick, so that new parameters apply from there.
        """
        if self._rest is None:
            return
        saved, tick = self._rest
        self.restore(saved)
        self.feed_tokens(self.vocabulary.shifts(tick - self.decoder.tick), heard=False)

    def _prediction(self) -> np.ndarray:
        """Next-token logits: the network's, or its mixture with the short-term model."""
        if not self.short_term:
            return self._logits
        network = np.exp(self._logits - self._logits.max())
        network /= network.sum()
        mixed = mix_by_entropy(
            network[None], self.short_term.distribution()[None], self.adaptation.bias, "arithmetic"
        )[0]  # (V,)
        return np.log(np.maximum(mixed, 1e-30))

    def release_all(self, end_tick: int) -> list[NoteEvent]:
        """Note-offs for every sounding note, at ``end_tick`` or now if earlier.

        The model is told of them too, so a later phrase continues from silence.
        """
        tick = min(end_tick, self.decoder.tick)
        offs = [self.vocabulary.note_off(pitch) for pitch in sorted(self.decoder.sounding)]
        return [NoteEvent(tick, e.pitch, 0) for e in self.feed_tokens(offs, heard=False)]


def build_continuation(
    model: LoadedModel,
    sampling: SamplingSettings,
    notes: NotesSettings,
    ticks_per_bar: int,
    adaptation: AdaptationSettings | None = None,
) -> Continuation:
    """A continuation over a loaded model, configured from settings sections."""
    limits = NoteLimits(
        max_polyphony=notes.max_polyphony,
        pitch_low=notes.pitch_low,
        pitch_high=notes.pitch_high,
        max_note_ticks=max(1, round(notes.max_note_beats * TICKS_PER_BEAT)),
    )
    return Continuation(
        Engine.from_model(model),
        model.vocabulary,
        Sampler(sampling),
        limits,
        ticks_per_bar,
        adaptation,
        model.input_style,
    )


def load_continuation(
    settings: Settings, name: str | None = None, ticks_per_bar: int | None = None
) -> tuple[LoadedModel, Continuation]:
    """Model ``name`` (settings.model.name if None) and a continuation over it, by ``settings``;
    bars of ``ticks_per_bar`` (a MIDI file's) or else of ``continuation.beats_per_bar``."""
    model_name = settings.model.name if name is None else name
    model = load_model(resolve_model(model_name, settings.model.models_path()))
    if ticks_per_bar is None:
        ticks_per_bar = bar_ticks(settings.continuation.beats_per_bar)
    continuation = build_continuation(
        model, settings.sampling, settings.notes, ticks_per_bar, settings.adaptation
    )
    return model, continuation
