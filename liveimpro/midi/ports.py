"""MIDI input and output ports with a common interface, whatever the backend.

The base classes here hold what every port does; a backend fills in their hooks (``now``,
``_send``, ``_send_at``, ``_cancel_pending``, ``_retime``, ``_close``, and for reconnecting
``_peer_connected`` and ``_reconnect``), as mido's backends do. The backends:

    liveimpro.midi.jackmidi   JACK-native, frame-accurate; JACK frame time (an int, in samples)
    liveimpro.midi.rtmidi     ALSA, JACK, CoreMIDI, WinMM; time.monotonic() seconds
    tests.memoryports         in memory, for tests; whatever clock the test passes in

Every port has its own clock, read with ``now()``. Received messages carry their
arrival time in that clock as ``message.time``, and ``OutputPort.send_at`` takes a
time in it.

A backend's realtime callback only parses and queues: bytes that form no valid
message are dropped and counted in ``InputPort.dropped_bytes``, never raised.
"""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from numbers import Real
from typing import Self

import mido

from liveimpro.errors import UserError
from liveimpro.midi.wire import ALL_NOTES_OFF, MidiStreamParser, WireNotes, reset_messages
from liveimpro.music.midinumbers import MIDI_CHANNELS

DEFAULT_INPUT_NAME = "liveimpro in"
DEFAULT_OUTPUT_NAME = "liveimpro out"
DEFAULT_CLIENT_NAME = "liveimpro"


class PortNameError(UserError, ValueError):
    """A port name that names no port, or more than one; lists the ports there are."""

    def __init__(self, problem: str, available: Sequence[str]) -> None:
        self.available = list(available)
        listing = ", ".join(repr(name) for name in self.available) or "none"
        super().__init__(f"{problem}; available ports: {listing}")


class PortNotFound(PortNameError):
    """No port has the wanted name or contains it."""


class AmbiguousPortName(PortNameError):
    """The wanted name is a substring of several ports and equal to none."""


def resolve_port_name(wanted: str, available: Sequence[str]) -> str:
    """The port in ``available`` named exactly ``wanted``, else the only one containing it."""
    if not isinstance(wanted, str):
        raise TypeError(f"port name must be a str, got {type(wanted).__name__}")
    if wanted in available:
        return wanted
    matches = [name for name in available if wanted in name]
    if not matches:
        raise PortNotFound(f"no MIDI port matches {wanted!r}", available)
    if len(matches) > 1:
        raise AmbiguousPortName(f"{wanted!r} matches {len(matches)} MIDI ports", matches)
    return matches[0]


class Port:
    """What inputs and outputs share: a name, a clock, closing once, and ``with`` support."""

    def __init__(self, name: str, peer: str | None = None) -> None:
        self.name = name
        self.peer = peer  # the port we connect to, as the user named it; None: virtual
        self.closed = False
        self._peer_lost = False

    def now(self) -> float:
        """The current time in this port's clock (see the module docstring)."""
        raise NotImplementedError

    def keep_connected(self) -> str | None:
        """Reconnect to ``peer`` if it went away; a line for the log when that changes.

        Meant to be called now and then (the daemon does, once a second). Messages sent
        while the peer is gone are lost; the port itself stays open.
        """
        if self.peer is None or self.closed:
            return None
        if self._peer_connected():
            if not self._peer_lost:
                return None
        else:
            try:
                self._reconnect()
            except PortNameError:
                if self._peer_lost:
                    return None
                self._peer_lost = True
                return f"MIDI port {self.peer!r} went away; retrying every second"
        self._peer_lost = False
        return f"MIDI port {self.peer!r} is connected again"

    def close(self) -> None:
        """Release the port (an output panics first); closing twice does nothing."""
        if self.closed:
            return
        try:
            self._before_close()
        finally:
            self.closed = True
            self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"MIDI port {self.name!r} is closed")

    def _before_close(self) -> None:
        """Work that must happen while the port is still open."""

    def _close(self) -> None:
        raise NotImplementedError

    def _peer_connected(self) -> bool:
        """Whether the connection to ``peer`` stands; backends that cannot tell say yes."""
        return True

    def _reconnect(self) -> None:
        """Connect to ``peer`` again; raises PortNameError while it is not there."""


class InputPort(Port):
    """A MIDI input; backends call ``_deliver`` from their realtime callback.

    Subclasses implement ``now()`` and ``_close()``.
    """

    def __init__(self, name: str, peer: str | None = None) -> None:
        super().__init__(name, peer)
        self._parser = MidiStreamParser()
        self._losses: deque[float] = deque()  # times connections were lost, not yet taken
        # Not a SimpleQueue: in CPython 3.11 its get(timeout) waits forever when a signal
        # handler (or the wait for the GIL after it) outlasts the timeout, so the main loop
        # would never see SIGTERM's stop flag. Queue waits on a Lock, which gets it right.
        self._received: queue.Queue[mido.Message] = queue.Queue()

    @property
    def dropped_bytes(self) -> int:
        """Bytes received so far that formed no valid MIDI message."""
        return self._parser.dropped_bytes

    def receive(self, timeout: float | None = None) -> mido.Message | None:
        """The next message, waiting up to ``timeout`` seconds (None: forever); None if none."""
        self._check_open()
        try:
            return self._received.get(timeout=timeout)
        except queue.Empty:
            return None

    def poll(self) -> mido.Message | None:
        """The next message if one is waiting, else None."""
        self._check_open()
        try:
            return self._received.get_nowait()
        except queue.Empty:
            return None

    def iter_pending(self) -> Iterator[mido.Message]:
        """The messages waiting now, oldest first."""
        while (message := self.poll()) is not None:
            yield message

    def take_lost(self) -> float | None:
        """When a sender's connection was lost (the earliest since the last call); else None.

        A sender that goes away mid-phrase never sends its note-offs or pedal release.
        """
        lost = None
        while self._losses:
            when = self._losses.popleft()
            lost = when if lost is None else min(lost, when)
        return lost

    def _connection_lost(self, when: float) -> None:
        """Backends report a lost connection (any thread; deque appends are atomic)."""
        self._losses.append(when)

    def _deliver(self, data: bytes, arrival: float) -> None:
        """Parse and queue; the only work a realtime callback may do."""
        for message in self._parser.feed(data, arrival):
            self._received.put(message)


class OutputPort(Port):
    """A MIDI output that remembers which notes it may have sounding.

    Subclasses implement ``now()``, ``_send``, ``_send_at``, ``_cancel_pending`` and
    ``_close``. ``panic()`` runs on every ``close()``, so any exit path that closes
    the port silences it.
    """

    def __init__(self, name: str, peer: str | None = None) -> None:
        super().__init__(name, peer)
        # (channel, note) turned on and not since turned off by an immediate send();
        # a scheduled note-off does not count, as panic() may cancel it.
        self._may_sound: set[tuple[int, int]] = set()
        self.wire = WireNotes()

    def send(self, message: mido.Message) -> None:
        """Send ``message`` now."""
        self._check_message(message)
        self._track(message, scheduled=False)
        self._send(message)

    def send_at(self, message: mido.Message, when: float) -> None:
        """Send ``message`` at time ``when`` in this port's clock; a past time means now."""
        self._check_message(message)
        if not isinstance(when, Real):
            raise TypeError(f"when must be a real number, got {type(when).__name__}")
        self._track(message, scheduled=True)
        self._send_at(message, when)

    def reset_receivers(self, channels: Iterable[int]) -> None:
        """CC123 and sustain off on ``channels`` now, and on every connection gained later.

        Whatever a crashed run left sounding there ends.
        """
        self.wire.channels.update(channels)
        for data in reset_messages(channels):
            self.send(mido.Message.from_bytes(data))

    def retime(self, pivot: float, ratio: float) -> None:
        """Move every message scheduled after ``pivot`` and not yet sent to a new time.

        ``pivot + (when - pivot) * ratio``: a tempo change at ``pivot`` (ratio = old tempo over
        new), so what is queued follows the new tempo in its order, and anything scheduled
        afterwards at the new tempo falls in line.
        """
        self._check_open()
        if not ratio > 0:
            raise ValueError(f"ratio must be > 0, got {ratio}")
        self._retime(pivot, ratio)

    def panic(self) -> None:
        """Cancel scheduled messages, then turn off every note that may sound, then CC123."""
        self._check_open()
        self._cancel_pending()
        for channel, note in sorted(self._may_sound):
            self._send(mido.Message("note_off", channel=channel, note=note))
        for channel in range(MIDI_CHANNELS):
            self._send(mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF))
        self._may_sound.clear()

    def _before_close(self) -> None:
        self.panic()

    def _check_message(self, message: mido.Message) -> None:
        if not isinstance(message, mido.Message):
            raise TypeError(f"expected a mido.Message, got {type(message).__name__}")
        self._check_open()

    def _track(self, message: mido.Message, *, scheduled: bool) -> None:
        if message.type not in ("note_on", "note_off"):
            return
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            self._may_sound.add(key)
        elif not scheduled:
            self._may_sound.discard(key)

    def _send(self, message: mido.Message) -> None:
        raise NotImplementedError

    def _send_at(self, message: mido.Message, when: float) -> None:
        raise NotImplementedError

    def _cancel_pending(self) -> None:
        """Drop every message scheduled by send_at that has not gone out yet."""
        raise NotImplementedError

    def _retime(self, pivot: float, ratio: float) -> None:
        raise NotImplementedError


def retimed(when: float, pivot: float, ratio: float) -> float:
    """``when`` moved by a tempo change at ``pivot`` (see OutputPort.retime)."""
    return when if when <= pivot else pivot + (when - pivot) * ratio
