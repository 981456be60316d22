"""Takes: a response as it was played, to play again (loop) or to re-sample (mutate).

The scheduler pulls a response from a :class:`liveimpro.live.scheduler.ResponseSource`.
:class:`TakeRecorder` is a continuation that keeps every event it makes in a :class:`Take`;
:class:`Replay` plays a take's events again from another start tick. A take also holds the
continuation's state just before the response (``primed``), which the improviser moves by
whole bars (``ContinuationState.moved_by``) so that re-sampling it sees the same place in the
bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from liveimpro.core.continuation import Continuation, ContinuationState
from liveimpro.music.vocabulary import NoteEvent


@dataclass
class Take:
    """One response: ``events`` hold ticks relative to ``start_tick``.

    ``kind`` is answer, loop or mutate; ``requested`` is the port time it was asked for
    (the phrase's end, or the command), from which its latency counts. ``primed`` is the
    state of ``source`` (a continuation) just before the response began. ``heard`` is how
    many ticks of it played when it was stopped early (None: all of it).
    """

    kind: str
    start_tick: int
    length: int
    velocity: Callable[[int], int]
    source: Continuation
    primed: ContinuationState
    requested: float
    events: list[NoteEvent] = field(default_factory=list)
    heard: int | None = None

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.length

    @property
    def played_length(self) -> int:
        return self.length if self.heard is None else max(1, self.heard)

    def played_events(self) -> list[NoteEvent]:
        """The events that were heard (all of them unless it was stopped early)."""
        if self.heard is None:
            return list(self.events)
        return [event for event in self.events if event.tick < self.heard]

    def note_count(self) -> int:
        return sum(event.is_on for event in self.played_events())

    def cut(self, tick: int) -> None:
        """It stopped at ``tick``: what was generated for later was never heard."""
        heard = max(0, min(self.length, tick - self.start_tick))
        self.heard = heard if self.heard is None else min(self.heard, heard)


def relative(events: list[NoteEvent], origin: int) -> list[NoteEvent]:
    return [NoteEvent(event.tick - origin, event.pitch, event.velocity) for event in events]


class TakeRecorder:
    """``continuation`` as the scheduler sees it, recording into ``take`` what it plays."""

    def __init__(self, continuation: Continuation, take: Take) -> None:
        self.continuation = continuation
        self.take = take

    def advance_to(self, tick: int) -> None:
        self.continuation.advance_to(tick)

    def generate_until(self, tick: int) -> list[NoteEvent]:
        return self._keep(self.continuation.generate_until(tick))

    def release_all(self, end_tick: int) -> list[NoteEvent]:
        return self._keep(self.continuation.release_all(end_tick))

    def _keep(self, events: list[NoteEvent]) -> list[NoteEvent]:
        self.take.events += relative(events, self.take.start_tick)
        return events


class Replay:
    """A take's events again, from the tick ``advance_to`` is given (the new start)."""

    def __init__(self, take: Take) -> None:
        self._events = list(take.events)  # relative ticks, in order
        self._next = 0
        self._start = 0
        self._sounding: set[int] = set()

    def advance_to(self, tick: int) -> None:
        self._start = tick

    def generate_until(self, tick: int) -> list[NoteEvent]:
        played = []
        while self._next < len(self._events):
            event = self._events[self._next]
            if self._start + event.tick >= tick:
                break
            played.append(NoteEvent(self._start + event.tick, event.pitch, event.velocity))
            if event.is_on:
                self._sounding.add(event.pitch)
            else:
                self._sounding.discard(event.pitch)
            self._next += 1
        return played

    def release_all(self, end_tick: int) -> list[NoteEvent]:
        offs = [NoteEvent(end_tick, pitch, 0) for pitch in sorted(self._sounding)]
        self._sounding.clear()
        return offs
