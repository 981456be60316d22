"""Streaming a response out of the port on the clock, a bounded lookahead ahead of it.

:class:`ResponseScheduler` is the one place that knows which response notes sound: it
pulls note events from a :class:`ResponseSource` (a continuation, or a take) up to ``lookahead``
ticks past the clock, turns their ticks into port time and hands them to ``OutputPort.send_at``.
Every note it turns on it also turns off: at the note's end, at the response's end, or in
``stop()``. With ``send_clock`` it also sends MIDI start and 24 clock pulses per beat.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import mido

from liveimpro.live.clock import Clock
from liveimpro.midi.ports import OutputPort, retimed
from liveimpro.music.vocabulary import TICKS_PER_BEAT, NoteEvent


class ResponseSource(Protocol):
    """What a response is pulled from: a Continuation, a TakeRecorder or a Replay."""

    def advance_to(self, tick: int) -> None:
        """Move to ``tick``, where the response starts, without playing anything."""

    def generate_until(self, tick: int) -> list[NoteEvent]:
        """The note events before ``tick``, from where the last call stopped."""

    def release_all(self, end_tick: int) -> list[NoteEvent]:
        """Note-offs for every note still sounding, at ``end_tick`` or earlier."""


def keep_velocity(velocity: int) -> int:
    return velocity


class ResponseScheduler:
    """Plays one response at a time on ``channel`` (0..15) of ``port``."""

    def __init__(
        self,
        port: OutputPort,
        clock: Clock,
        channel: int,
        lookahead_beats: float,
        *,
        send_clock: bool = False,
    ) -> None:
        if not 0 <= channel <= 15:
            raise ValueError(f"channel must be in [0, 15], got {channel}")
        if not 0 < lookahead_beats <= 1:
            raise ValueError(f"lookahead_beats must be in (0, 1], got {lookahead_beats}")
        self.port = port
        self.clock = clock
        self.channel = channel
        self.lookahead_ticks = max(1, round(lookahead_beats * TICKS_PER_BEAT))
        self.sounding: dict[int, float] = {}  # pitch -> port time of its scheduled note-on
        self._source: ResponseSource | None = None
        self._generated_to = 0  # every event before this tick is scheduled
        self.start_tick = 0
        self.end_tick = 0
        self._velocity: Callable[[int], int] = keep_velocity
        self._send_clock = send_clock
        self._next_pulse: int | None = None  # next tick to pulse on; None: find it from now
        self._clock_started = False

    @property
    def playing(self) -> bool:
        """Whether a response is under way (until the clock passes its end)."""
        return self._source is not None

    @property
    def scheduled_to(self) -> int:
        """Every response event before this tick has gone to the port."""
        return self._generated_to

    def start(
        self,
        source: ResponseSource,
        start_tick: int,
        end_tick: int,
        velocity: Callable[[int], int] = keep_velocity,
    ) -> None:
        """Play ``source`` from ``start_tick`` (advancing it there) to ``end_tick``."""
        if end_tick <= start_tick:
            raise ValueError(f"end_tick must be > start_tick {start_tick}, got {end_tick}")
        if self.playing:
            raise RuntimeError("a response is already playing; stop() it first")
        source.advance_to(start_tick)
        self._source = source
        self._generated_to = start_tick
        self.start_tick = start_tick
        self.end_tick = end_tick
        self._velocity = velocity

    def update(self, now: float) -> None:
        """Schedule everything due before the clock's tick at ``now`` plus the lookahead."""
        horizon = self.clock.current_tick(now) + self.lookahead_ticks
        if self._send_clock:
            self._schedule_pulses(horizon)
        if self._source is None:
            return
        if self._generated_to < self.end_tick:
            target = min(horizon, self.end_tick)
            events = self._source.generate_until(target)
            if target == self.end_tick:
                events += self._source.release_all(self.end_tick)
            self._schedule(events)
            self._generated_to = target
            if target == self.end_tick:
                self._end_sounding(self.end_tick)  # the response's end is a hard stop
        if self.clock.tick_at(now) >= self.end_tick:
            self._source = None

    def stop(self) -> None:
        """Silence the response now: note-offs for sounding notes and CC123, via port panic."""
        self.port.panic()
        self.sounding.clear()
        self._source = None
        self._next_pulse = None  # panic cancelled the pulses scheduled ahead; reschedule them

    def retime(self, now: float, ratio: float) -> None:
        """The tempo changed at ``now`` (``ratio``: old tempo over new).

        What is queued past ``now`` (notes, clock pulses) moves to the new tempo, so
        everything stays in order and the pulses evenly spaced from the change on.
        """
        self.port.retime(now, ratio)
        self.sounding = {pitch: retimed(on, now, ratio) for pitch, on in self.sounding.items()}

    def set_channel(self, channel: int) -> None:
        """Play on ``channel`` (0..15) from the next event scheduled.

        The notes sounding on the old channel end where scheduling has reached, on that
        channel, so none is left hanging there.
        """
        if not 0 <= channel <= 15:
            raise ValueError(f"channel must be in [0, 15], got {channel}")
        self._end_sounding(self._generated_to)
        self.channel = channel

    def _schedule(self, events: list[NoteEvent]) -> None:
        for event in events:
            if event.is_on:
                if event.pitch in self.sounding:  # a retrigger: end the old note first
                    self._send(NoteEvent(event.tick, event.pitch, 0))
                on = NoteEvent(event.tick, event.pitch, self._velocity(event.velocity))
                self.sounding[event.pitch] = self._send(on)
            elif event.pitch in self.sounding:  # offs for notes we never played are skipped
                self._send(event)
                del self.sounding[event.pitch]

    def _end_sounding(self, tick: int) -> None:
        for pitch in sorted(self.sounding):
            self._send(NoteEvent(tick, pitch, 0))
        self.sounding.clear()

    def _send(self, event: NoteEvent) -> float:
        """Queue ``event`` at its tick's time; returns that time.

        A note-off never goes before its note-on: the note-on's time may have been rounded
        or moved by a tempo change differently from the note-off's tick.
        """
        when = self.clock.time_of(event.tick)
        if not event.is_on:
            when = max(when, self.sounding[event.pitch])
        kind = "note_on" if event.is_on else "note_off"
        message = mido.Message(
            kind, channel=self.channel, note=event.pitch, velocity=event.velocity
        )
        self.port.send_at(message, when)
        return when

    def _schedule_pulses(self, horizon: int) -> None:
        if self._next_pulse is None:
            self._next_pulse = max(0, math.ceil(self.clock.tick_at(self.port.now())))
            if not self._clock_started:  # MIDI start goes just before the first pulse
                self.port.send_at(mido.Message("start"), self.clock.time_of(self._next_pulse))
                self._clock_started = True
        for tick in range(self._next_pulse, horizon):
            self.port.send_at(mido.Message("clock"), self.clock.time_of(tick))
        self._next_pulse = max(self._next_pulse, horizon)
