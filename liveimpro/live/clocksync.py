"""Following an external MIDI clock: its pulses (0xF8, 24 per beat) are the tick grid.

The first pulse after Start (0xFA) is tick 0 and each pulse after it one tick more, so
beats and bars fall where the source's do. Stop (0xFC) halts the count; Continue (0xFB)
resumes it, at the Song Position (0xF2, in 16ths of 6 ticks) if one came while stopped.

The tempo is a line fitted through the last TEMPO_WINDOW pulses, robust to stray pulses,
and ticks are extrapolated from the latest pulse's time on that line: a stray pulse
hardly moves the grid, and as every pulse re-anchors, the grid cannot drift from the
source. Pure: times come with the messages.
"""

from __future__ import annotations

from collections import deque
from functools import cache

import mido
import numpy as np

from liveimpro.config.settings import MAX_BPM, MIN_BPM, ClockSettings
from liveimpro.live.clock import Clock, TempoClock, check_bpm, check_units_per_second
from liveimpro.music.vocabulary import TICKS_PER_BEAT

TEMPO_WINDOW = 24  # pulses the tempo is fitted over: one beat, so a new tempo holds in a beat
# A pulse further off the robust line than this many median distances is left out of the fit.
OUTLIER_SPREADS = 4.0
GAP_FACTOR = 2.0  # a pulse interval this far off the tempo (x or /) starts a fresh fit
TICKS_PER_SIXTEENTH = TICKS_PER_BEAT // 4  # the unit of Song Position

STOPPED, ARMED, ROLLING = "stopped", "armed", "rolling"  # ARMED: the next pulse starts


class ExternalClock(Clock):
    """The tick grid of a MIDI clock on the input; ``bpm`` is the tempo until pulses tell.

    Until the first Start or Continue it is stopped. While stopped the ticks extrapolate
    the last grid, which only matters to whoever asks then.
    """

    def __init__(self, bpm: float, start: float, units_per_second: float) -> None:
        self.units_per_second = check_units_per_second(units_per_second)
        self._period = self.units_per_second * 60.0 / (check_bpm(bpm) * TICKS_PER_BEAT)
        self._anchor_time = start
        self._anchor_tick = 0.0
        self._next_tick = 0  # the tick the next pulse marks once rolling
        self._state = STOPPED
        self._pulses: deque[float] = deque(maxlen=TEMPO_WINDOW)  # consecutive pulse times

    @property
    def period(self) -> float:
        return self._period

    @property
    def rolling(self) -> bool:
        return self._state == ROLLING

    def follow(self, message: mido.Message) -> bool:
        """Take one clock or transport message, stamped with its arrival time.

        True when the grid ticks were placed on is gone (stop, restart or a jump while
        rolling): whatever was scheduled on it must be silenced.
        """
        was_rolling = self.rolling
        if message.type == "clock":
            self._pulse(message.time)
            return False
        if message.type == "start":
            self._next_tick = 0
            self._state = ARMED
        elif message.type == "continue":
            if was_rolling:
                return False  # already playing: nothing to resume
            self._state = ARMED
        elif message.type == "stop":
            self._state = STOPPED
        elif message.type == "songpos":
            self._next_tick = message.pos * TICKS_PER_SIXTEENTH
        else:
            raise ValueError(f"not a clock message: {message.type!r}")
        return was_rolling

    def _pulse(self, time: float) -> None:
        fitted = self._fit(time)
        if self._state == STOPPED:
            return  # a source may keep pulsing while stopped: the tempo, not the position
        self._state = ROLLING
        self._anchor_time = fitted
        self._anchor_tick = self._next_tick
        self._next_tick += 1

    def _fit(self, time: float) -> float:
        """Add a pulse to the tempo fit; its time on the fitted line."""
        if self._pulses and not self._continues_the_run(time - self._pulses[-1]):
            self._pulses.clear()  # after a gap, a skip or a jump in tempo
        self._pulses.append(time)
        count = len(self._pulses)
        if count < 2:
            return time
        # Theil-Sen (the median of the slopes between every two pulses) finds the line
        # whatever a few stray pulses do; least squares over the pulses near it then
        # refines it without the bias medians have on pulses rounded to whole frames.
        times = np.asarray(self._pulses) - self._pulses[0]
        indices = np.arange(count)
        earlier, later = pair_indices(count)
        slope = np.median((times[later] - times[earlier]) / (later - earlier))
        residuals = times - slope * indices
        residuals = np.abs(residuals - np.median(residuals))
        near = residuals <= OUTLIER_SPREADS * np.median(residuals)
        self._period, offset = least_squares_line(indices[near], times[near])
        return self._pulses[0] + offset + self._period * (count - 1)

    def _continues_the_run(self, interval: float) -> bool:
        """Whether a pulse ``interval`` after the last belongs to the same steady run."""
        if len(self._pulses) >= 2:  # the period is measured: hold the interval to it
            return self._period / GAP_FACTOR <= interval <= self._period * GAP_FACTOR
        fastest = self.units_per_second * 60.0 / (MAX_BPM * TICKS_PER_BEAT)
        slowest = self.units_per_second * 60.0 / (MIN_BPM * TICKS_PER_BEAT)
        return fastest <= interval <= slowest


def least_squares_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through two or more distinct ``x``."""
    x_mean, y_mean = x.mean(), y.mean()
    slope = float(np.dot(x - x_mean, y - y_mean) / np.dot(x - x_mean, x - x_mean))
    return slope, float(y_mean - slope * x_mean)


@cache
def pair_indices(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of indices i < j below ``count``, as two arrays."""
    return np.triu_indices(count, 1)


def build_clock(settings: ClockSettings, start: float, units_per_second: float) -> Clock:
    """The clock ``settings.source`` asks for; tick 0 of the internal one is at ``start``."""
    kind = ExternalClock if settings.source == "external" else TempoClock
    return kind(settings.bpm, start, units_per_second)
