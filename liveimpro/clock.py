"""The internal tempo clock: ticks (24 per beat) to and from port time.

Tick ``n`` is at ``anchor_time + (n - anchor_tick) * period``, computed from the anchor
every time rather than accumulated, so rounding never drifts. A tempo change
re-anchors at the moment it happens. Pure: the current time is always passed in.
"""

from __future__ import annotations

import math

from liveimpro.vocabulary import TICKS_PER_BEAT

MIN_BPM = 20.0
MAX_BPM = 300.0


def _check_bpm(bpm: float) -> float:
    if not isinstance(bpm, int | float) or isinstance(bpm, bool):
        raise TypeError(f"bpm must be a number, got {type(bpm).__name__}")
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise ValueError(f"bpm must be in [{MIN_BPM}, {MAX_BPM}], got {bpm}")
    return float(bpm)


class TempoClock:
    """Tick 0 at ``start`` (port time); ``units_per_second`` is the port clock's rate."""

    def __init__(self, bpm: float, start: float, units_per_second: float) -> None:
        if not units_per_second > 0:
            raise ValueError(f"units_per_second must be > 0, got {units_per_second}")
        self.units_per_second = float(units_per_second)
        self.bpm = _check_bpm(bpm)
        self._anchor_time = start
        self._anchor_tick = 0.0

    @property
    def period(self) -> float:
        """Port time units per tick."""
        return self.units_per_second * 60.0 / (self.bpm * TICKS_PER_BEAT)

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

    def set_tempo(self, bpm: float, now: float) -> None:
        """Change tempo from ``now`` on; ticks already past keep their times."""
        bpm = _check_bpm(bpm)
        self._anchor_tick = self.tick_at(now)
        self._anchor_time = now
        self.bpm = bpm
