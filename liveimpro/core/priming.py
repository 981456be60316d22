"""Priming a continuation with a phrase: the one path for `liveimpro run`, `continue` and
`bench quality`.

Each note event is reshaped to the model's input style (:mod:`liveimpro.core.inputstyle`),
encoded and fed to the engine as it comes, so ending a phrase costs the same however
long it was. The phrase's key is found from the same events, for ``sampling.scale``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from liveimpro.core.continuation import Continuation
from liveimpro.core.inputstyle import InputStyle, PerformanceNormalizer
from liveimpro.music.tonality import PitchClassProfile
from liveimpro.music.vocabulary import EventEncoder, Note, NoteEvent, notes_to_events


@dataclass(frozen=True)
class PrimerState:
    """The primer's own state, saved beside the continuation's (see snapshot)."""

    encoder: EventEncoder
    normalizer: PerformanceNormalizer
    onsets: dict[int, int]
    profile_weights: tuple[float, ...]


class PhrasePrimer:
    """Feeds a phrase's events to a continuation as they arrive.

    ``style`` overrides the model's own input style (the quality benchmark compares).
    """

    def __init__(self, continuation: Continuation, style: InputStyle | None = None) -> None:
        self.continuation = continuation
        self.normalizer = PerformanceNormalizer(style or continuation.input_style)
        self.profile = PitchClassProfile()
        self._encoder: EventEncoder | None = None
        self._onsets: dict[int, int] = {}  # sounding pitch -> onset, for the key's durations

    def begin(self, tick: int) -> None:
        """Reset the continuation for a phrase whose first event is at ``tick``."""
        self.continuation.start(tick)
        self._encoder = EventEncoder(self.continuation.vocabulary, self.continuation.tick)
        self.normalizer.reset()
        self.profile.reset()
        self._onsets.clear()

    def feed(self, events: Iterable[NoteEvent]) -> None:
        """Prime with performed events, in time order."""
        for event in events:
            self._feed_normalized(self.normalizer.feed(event))

    def finish(self, closing: Iterable[NoteEvent] = (), next_onset: int | None = None) -> None:
        """End the phrase: ``closing`` note-offs, the ones held back, and the phrase's key.

        ``next_onset`` is where what follows (the answer) starts, if known: the input style's
        legato rule may hold the last note to it.
        """
        self.feed(closing)
        self._feed_normalized(self.normalizer.close(next_onset))
        self.continuation.set_phrase_key(self.profile.key())

    def prime(self, notes: Iterable[Note], next_onset: int | None = None) -> None:
        """Prime with a whole phrase at once (a MIDI file, a test piece)."""
        events = notes_to_events(notes)
        if not events:
            raise ValueError("a phrase needs at least one note")
        self.begin(events[0].tick)
        self.feed(events)
        self.finish(next_onset=next_onset)

    def _feed_normalized(self, events: Iterable[NoteEvent]) -> None:
        if self._encoder is None:
            raise RuntimeError("begin() a phrase before feeding it")
        for event in events:
            if event.is_on:
                tokens = self._encoder.note_on(event.pitch, event.velocity, event.tick)
                self._onsets[event.pitch] = event.tick
            else:
                tokens = self._encoder.note_off(event.pitch, event.tick)
                onset = self._onsets.pop(event.pitch, None)
                if onset is not None:
                    self.profile.add(event.pitch, event.tick - onset)
            self.continuation.feed_tokens(tokens)

    def snapshot(self) -> PrimerState:
        if self._encoder is None:
            raise RuntimeError("begin() a phrase before saving it")
        return PrimerState(
            self._encoder.copy(),
            self.normalizer.copy(),
            dict(self._onsets),
            tuple(self.profile.weights),
        )

    def restore(self, state: PrimerState) -> None:
        self._encoder = state.encoder.copy()
        self.normalizer = state.normalizer.copy()
        self._onsets = dict(state.onsets)
        self.profile.weights[:] = state.profile_weights
