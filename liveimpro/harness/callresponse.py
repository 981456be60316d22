"""Playing a call into the live daemon and hearing its response, on the daemon's own grid.

A :class:`LiveSession` puts the daemon (``liveimpro run``, a child process) between two
ports of ours: a performer that plays into its input and a listener it plays to. The
daemon sends MIDI clock to the listener; the first pulse after MIDI Start is tick 0 of
its grid (MIDI's own convention), so we know where its beats and bars lie. Performer and
listener share one clock (JACK frame time, or time.monotonic() seconds on rtmidi ports),
so a call can start on a bar line and each answer note can be placed on the grid.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from typing import Self

import mido
import numpy as np

from liveimpro.config.settings import Settings
from liveimpro.harness.daemonprocess import DaemonProcess
from liveimpro.harness.midisystem import MidiSystem
from liveimpro.live.clock import TempoClock
from liveimpro.midi.ports import DEFAULT_INPUT_NAME, InputPort, OutputPort
from liveimpro.music.vocabulary import Note

GRID_PULSES = 8  # pulses heard before the grid is trusted
GRID_TIMEOUT_S = 5.0
DELIVERY_S = 0.05  # after the daemon's exit, time for its last events to reach us (rtmidi)


def daemon_settings(settings: Settings, api: str, output: str) -> Settings:
    """``settings`` for a daemon playing to ``output`` on its own clock, sending MIDI clock.

    Thru is off: the listener should hear the answer only.
    """
    daemon = dataclasses.replace(settings.daemon, api=api, input="", output=output, thru=False)
    clock = dataclasses.replace(settings.clock, source="internal", send_clock=True)
    return dataclasses.replace(settings, daemon=daemon, clock=clock)


def clock_from_pulses(pulses: list[float], bpm: float, units_per_second: float) -> TempoClock:
    """The daemon's clock from the arrival times of its pulses; the first one is tick 0.

    The anchor is the median of what each pulse says, so jitter (rtmidi) and a missing
    pulse (rescheduled after a barge-in) do not move it.
    """
    period = TempoClock(bpm, 0.0, units_per_second).period
    first = pulses[0]
    anchors = [time - round((time - first) / period) * period for time in pulses]
    return TempoClock(bpm, float(np.median(anchors)), units_per_second)


def grid_offsets(times: Iterable[float], clock: TempoClock) -> list[float]:
    """How far each time lies from its nearest tick of ``clock``, in port units."""
    return [time - clock.time_of(round(clock.tick_at(time))) for time in times]


def play_notes(
    port: OutputPort, clock: TempoClock, notes: list[Note], first_tick: int, channel: int
) -> float:
    """Schedule ``notes`` (ticks counted from ``first_tick``); the time of the last note-off.

    At one tick, note-offs go before note-ons, so a repeated pitch sounds again.
    """
    events = [(note.end, 0, note) for note in notes] + [(note.start, 1, note) for note in notes]
    for tick, is_on, note in sorted(events, key=lambda event: event[:2]):
        kind, velocity = ("note_on", note.velocity) if is_on else ("note_off", 0)
        message = mido.Message(kind, channel=channel, note=note.pitch, velocity=velocity)
        port.send_at(message, clock.time_of(first_tick + tick))
    return clock.time_of(first_tick + max(note.end for note in notes))


def received_notes(
    messages: list[mido.Message], clock: TempoClock, channel: int, origin_tick: int
) -> tuple[list[Note], int]:
    """The notes played on ``channel`` (ticks from ``origin_tick``) and how many never ended.

    A note that never ended is closed at the last message, so it can still be shown.
    """
    sounding: dict[int, tuple[int, int]] = {}  # pitch -> (start tick, velocity)
    notes = []
    last_tick = origin_tick
    for message in messages:
        if message.type not in ("note_on", "note_off") or message.channel != channel:
            continue
        tick = round(clock.tick_at(message.time)) - origin_tick
        last_tick = tick
        ended = sounding.pop(message.note, None)
        if ended is not None:  # a note-off, or a note-on that retriggers the pitch
            notes.append(Note(message.note, ended[1], ended[0], max(ended[0] + 1, tick)))
        if message.type == "note_on" and message.velocity > 0:
            sounding[message.note] = (tick, message.velocity)
    for pitch, (start, velocity) in sounding.items():
        notes.append(Note(pitch, velocity, start, max(start + 1, last_tick)))
    return sorted(notes, key=lambda note: (note.start, note.pitch)), len(sounding)


class Listener:
    """Everything the daemon plays to our input port, in arrival order."""

    def __init__(self, port: InputPort) -> None:
        self.port = port
        self.messages: list[mido.Message] = []

    def drain(self) -> None:
        self.messages += self.port.iter_pending()

    def pulses(self) -> list[float]:
        """Arrival times of the clock pulses since the (first) MIDI Start."""
        types = [message.type for message in self.messages]
        if "start" not in types:
            return []
        return [m.time for m in self.messages[types.index("start") :] if m.type == "clock"]

    def wait_for_pulses(self, count: int, timeout: float) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(pulses := self.pulses()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} MIDI clock pulses after {timeout} s")
            time.sleep(0.005)
            self.drain()
        return pulses


class LiveSession:
    """The daemon between our performer and our listener, and its grid (``clock``).

    ``settings`` are the daemon's, as in :func:`daemon_settings`. On exit the daemon is
    stopped first, so its last note-offs are heard, then our ports close.
    """

    def __init__(self, system: MidiSystem, settings: Settings, *, ready_timeout: float = 30.0):
        self.system = system
        port, address = system.open_listener("listener")
        self.listener = Listener(port)
        self.settings = daemon_settings(settings, system.api, address)
        self.daemon: DaemonProcess | None = None
        self.performer: OutputPort | None = None
        self.status: int | None = None
        try:
            self.daemon = DaemonProcess(self.settings)
            self.ready_s = self.daemon.wait_ready(ready_timeout)
            pulses = self.listener.wait_for_pulses(GRID_PULSES, GRID_TIMEOUT_S)
            self.clock = clock_from_pulses(pulses, self.settings.clock.bpm, system.units_per_second)
            self.performer = system.open_performer("performer", DEFAULT_INPUT_NAME)
        except BaseException:
            self.close()
            raise

    def now(self) -> float:
        return self.listener.port.now()

    def sleep_until(self, when: float) -> None:
        """Sleep until port time ``when``, or until the daemon exits."""
        while self.daemon.running() and (left := when - self.now()) > 0:
            time.sleep(min(0.1, left / self.system.units_per_second))

    def next_tick(self, multiple: int, lead_s: float) -> int:
        """The first tick, a multiple of ``multiple``, at least ``lead_s`` from now."""
        earliest = self.clock.tick_at(self.now()) + self.clock.seconds_to_ticks(lead_s)
        return -(-math.ceil(earliest) // multiple) * multiple

    def close(self) -> int | None:
        """Stop the daemon (its exit status is returned) and close our ports."""
        if self.listener.port.closed:
            return self.status
        try:
            if self.daemon is not None:
                self.status = self.daemon.stop()
                time.sleep(DELIVERY_S)
        finally:
            self.listener.drain()
            if self.performer is not None:
                self.performer.close()
            self.listener.port.close()
        return self.status

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
