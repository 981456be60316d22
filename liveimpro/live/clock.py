"""The tick grid (24 ticks per beat, MIDI clock's resolution) and the internal tempo clock.

A :class:`Clock` maps ticks to and from port time: tick ``n`` is at
``anchor_time + (n - anchor_tick) * period``, computed from the anchor every time rather
than accumulated, so rounding never drifts. :class:`TempoClock` runs by itself at a set
tempo; a tempo change re-anchors at the moment it happens. The clock that follows an
external MIDI clock (liveimpro.live.clocksync) moves the anchor with each pulse instead.
Pure: the current time is always passed in.
"""

from __future__ import annotations

import math

import mido

from liveimpro.config.settings import MAX_BPM, MIN_BPM
from liveimpro.music.vocabulary import TICKS_PER_BEAT

# Input messages that belong to the clock and the transport, never to the phrase.
CLOCK_MESSAGES = frozenset({"clock", "start", "continue", "stop", "songpos"})


def check_bpm(bpm: float) -> float:
    """``bpm`` as a float; TypeError if it is no number, ValueError outside the range."""
    if not isinstance(bpm, int | float) or isinstance(bpm, bool):
        raise TypeError(f"bpm must be a number, got {type(bpm).__name__}")
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise ValueError(f"bpm must be in [{MIN_BPM:.1f}, {MAX_BPM:.1f}], got {bpm}")
    return float(bpm)


def check_units_per_second(units_per_second: float) -> float:
    if not units_per_second > 0:
        raise ValueError(f"units_per_second must be > 0, got {units_per_second}")
    return float(units_per_second)


class Clock:
    """Ticks to and from port time by an anchor and a period; subclasses move them.

    ``rolling`` says whether ticks advance (an external transport may be stopped);
    ``follow`` takes a clock or transport message from the input.
    """

    units_per_second: float
    _anchor_time: float
    _anchor_tick: float

    @property
    def period(self) -> float:
        """Port time units per tick."""
        raise NotImplementedError

    @property
    def bpm(self) -> float:
        return self.units_per_second * 60.0 / (self.period * TICKS_PER_BEAT)

    @property
    def rolling(self) -> bool:
        raise NotImplementedError

    def follow(self, message: mido.Message) -> bool:
        """Take one of CLOCK_MESSAGES; True when the transport stopped or jumped while rolling."""
        raise NotImplementedError

    def time_of(self, tick: float) -> float:
        """The port time of ``tick``."""
        return self._anchor_time + (tick - self._anchor_tick) * self.period

    def tick_at(self, now: float) -> float:
        """The (fractional) tick at port time ``now``."""
        return self._anchor_tick + (now - self._anchor_time) / self.period

    def current_tick(self, now: float) -> int:
        """The last whole tick reached at ``now``."""
        return math.floor(self.tick_at(now))

    def seconds_to_ticks(self, seconds: float) -> float:
        return seconds * self.units_per_second / self.period


class TempoClock(Clock):
    """Tick 0 at ``start`` (port time); ``units_per_second`` is the port clock's rate."""

    def __init__(self, bpm: float, start: float, units_per_second: float) -> None:
        self.units_per_second = check_units_per_second(units_per_second)
        self._bpm = check_bpm(bpm)
        self._anchor_time = start
        self._anchor_tick = 0.0

    @property
    def bpm(self) -> float:
        return self._bpm

    @property
    def period(self) -> float:
        return self.units_per_second * 60.0 / (self._bpm * TICKS_PER_BEAT)

    @property
    def rolling(self) -> bool:
        return True

    def follow(self, message: mido.Message) -> bool:
        """Clock messages from the input are ignored: this clock runs by itself."""
        return False

    def set_tempo(self, bpm: float, now: float) -> None:
        """Change tempo from ``now`` on; ticks already past keep their times."""
        bpm = check_bpm(bpm)
        self._anchor_tick = self.tick_at(now)
        self._anchor_time = now
        self._bpm = bpm
