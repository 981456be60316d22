"""MIDI input and output ports with a common interface, whatever the backend.

Every port has its own clock, read with ``now()``. Received messages carry their
arrival time in that clock as ``message.time``, and ``OutputPort.send_at`` takes a
time in it:

    JACK-native ports (liveimpro.midi.jackmidi)   JACK frame time (an int, in samples)
    rtmidi ports (this module)               time.monotonic() seconds
    memory ports (this module)               whatever clock the test passes in

A backend's realtime callback only parses and queues: bytes that form no valid
message are dropped and counted in ``InputPort.dropped_bytes``, never raised.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from numbers import Real
from types import TracebackType
from typing import Self

import mido
import rtmidi
from mido.messages.specs import SPEC_BY_STATUS, SYSEX_END, SYSEX_START

from liveimpro.errors import UserError

DEFAULT_INPUT_NAME = "liveimpro in"
DEFAULT_OUTPUT_NAME = "liveimpro out"
DEFAULT_CLIENT_NAME = "liveimpro"
ALL_NOTES_OFF = 123  # controller number
SUSTAIN_CC = 64
MIDI_CHANNELS = 16
MAX_SYSEX_BYTES = 65536  # a runaway sysex is dropped rather than buffered forever

RTMIDI_APIS = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}


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


class MidiStreamParser:
    """Splits a MIDI byte stream into mido messages, counting the bytes it must drop.

    Unlike mido.Parser it keeps running status, and lets real-time bytes (clock,
    start, stop...) interleave inside other messages, as the MIDI wire protocol allows.
    """

    def __init__(self) -> None:
        self.dropped_bytes = 0
        self._status = 0  # status of the message being assembled or running status; 0: none
        self._data: list[int] = []  # data bytes gathered for that message
        self._unused = 0  # bytes received that belong to no delivered message yet

    def feed(self, data: bytes, arrival: float) -> list[mido.Message]:
        """The messages completed by ``data``, stamped with ``arrival`` as their time."""
        messages: list[mido.Message] = []
        for byte in data:
            if byte >= 0xF8:
                self._feed_realtime(byte, arrival, messages)
            elif byte == SYSEX_END:
                self._feed_sysex_end(arrival, messages)
            elif byte >= 0x80:
                self._feed_status(byte, arrival, messages)
            else:
                self._feed_data(byte, arrival, messages)
        return messages

    def _feed_realtime(self, byte: int, arrival: float, messages: list[mido.Message]) -> None:
        if byte in SPEC_BY_STATUS:
            messages.append(mido.Message.from_bytes([byte], time=arrival))
        else:
            self.dropped_bytes += 1

    def _feed_sysex_end(self, arrival: float, messages: list[mido.Message]) -> None:
        if self._status == SYSEX_START:
            self._emit([SYSEX_START, *self._data, SYSEX_END], arrival, messages)
        else:
            self.dropped_bytes += self._unused + 1
            self._unused = 0
        self._status = 0
        self._data = []

    def _feed_status(self, byte: int, arrival: float, messages: list[mido.Message]) -> None:
        self.dropped_bytes += self._unused  # an unfinished message is abandoned
        self._data = []
        self._unused = 0
        if byte not in SPEC_BY_STATUS:
            self.dropped_bytes += 1
            self._status = 0
        elif SPEC_BY_STATUS[byte]["length"] == 1:
            self._status = 0
            self._emit([byte], arrival, messages)
        else:
            self._status = byte
            self._unused = 1

    def _feed_data(self, byte: int, arrival: float, messages: list[mido.Message]) -> None:
        if not self._status:
            self.dropped_bytes += 1
            return
        self._data.append(byte)
        self._unused += 1
        if self._status == SYSEX_START:
            if len(self._data) > MAX_SYSEX_BYTES:
                self.dropped_bytes += self._unused
                self._status, self._data, self._unused = 0, [], 0
        elif len(self._data) + 1 == SPEC_BY_STATUS[self._status]["length"]:
            self._emit([self._status, *self._data], arrival, messages)
            self._data = []
            if self._status >= 0xF0:  # system common messages have no running status
                self._status = 0

    def _emit(self, message_bytes: list[int], arrival: float, messages: list[mido.Message]) -> None:
        try:
            messages.append(mido.Message.from_bytes(message_bytes, time=arrival))
        except ValueError:
            self.dropped_bytes += len(message_bytes)
        self._unused = 0


class WireNotes:
    """The notes an output's receivers hold, followed from the bytes as they go out.

    A receiver that loses its connection keeps sounding what it held, and the note-offs
    sent meanwhile never reach it: those notes are remembered at the loss and ended once a
    connection is back, then every channel played gets CC123 and sustain off. Backends call
    ``written`` for every event they write, from one thread at a time.
    """

    def __init__(self) -> None:
        self.sounding: set[tuple[int, int]] = set()  # (channel, note) on at the receivers
        self.hanging: set[tuple[int, int]] = set()  # sounding when a connection was lost
        self.channels: set[int] = set()  # reset on each new connection

    def written(self, data: bytes) -> None:
        if len(data) != 3:
            return
        kind, channel = data[0] & 0xF0, data[0] & 0x0F
        if kind == 0x90 and data[2]:
            self.sounding.add((channel, data[1]))
            self.channels.add(channel)
        elif kind in (0x80, 0x90):
            self.sounding.discard((channel, data[1]))
        elif kind == 0xB0 and data[1] == ALL_NOTES_OFF:
            self.sounding = {key for key in self.sounding if key[0] != channel}

    def connection_lost(self) -> None:
        self.hanging |= self.sounding

    def connection_gained(self) -> list[bytes]:
        """What to send at once: note-offs for the notes left hanging, then the resets."""
        messages = [bytes([0x80 | channel, note, 0]) for channel, note in sorted(self.hanging)]
        messages += reset_messages(self.channels)
        self.hanging.clear()
        self.sounding.clear()
        return messages


def reset_messages(channels: Iterable[int]) -> list[bytes]:
    """CC123 (all notes off) and sustain off on each of ``channels``."""
    return [
        bytes([0xB0 | channel, control, 0])
        for channel in sorted(channels)
        for control in (ALL_NOTES_OFF, SUSTAIN_CC)
    ]


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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
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


class MemoryInputPort(InputPort):
    """An input fed by the test through ``inject``; arrival times come from ``now``."""

    def __init__(self, name: str = DEFAULT_INPUT_NAME, *, now: Callable[[], float]) -> None:
        super().__init__(name)
        self._now = now

    def now(self) -> float:
        return self._now()

    def inject(self, data: bytes) -> None:
        """Bytes arriving on the wire now, handled exactly as a backend callback would."""
        self._deliver(bytes(data), self._now())

    def _close(self) -> None:
        pass


class MemoryOutputPort(OutputPort):
    """An output that records what it is asked to send.

    ``sent`` holds the messages sent now, stamped with ``now()``; ``scheduled`` holds
    those given to send_at, stamped with their time, until panic() cancels them.
    """

    def __init__(self, name: str = DEFAULT_OUTPUT_NAME, *, now: Callable[[], float]) -> None:
        super().__init__(name)
        self._now = now
        self.sent: list[mido.Message] = []
        self.scheduled: list[mido.Message] = []

    def now(self) -> float:
        return self._now()

    def _send(self, message: mido.Message) -> None:
        self.sent.append(message.copy(time=self._now()))

    def _send_at(self, message: mido.Message, when: float) -> None:
        self.scheduled.append(message.copy(time=when))

    def _cancel_pending(self) -> None:
        self.scheduled.clear()

    def _retime(self, pivot: float, ratio: float) -> None:
        self.scheduled = [m.copy(time=retimed(m.time, pivot, ratio)) for m in self.scheduled]

    def _close(self) -> None:
        pass


def _rtmidi_api(api: str) -> int:
    if api not in RTMIDI_APIS:
        raise ValueError(f"unknown MIDI API {api!r}; expected one of {sorted(RTMIDI_APIS)}")
    return RTMIDI_APIS[api]


RtMidiPort = rtmidi.MidiIn | rtmidi.MidiOut


def _open_rtmidi_port(midi: RtMidiPort, name: str, peer: str | None) -> str | None:
    """Create our port ``name``: virtual when ``peer`` is None, else connected to ``peer``.

    Returns the peer's full name. The rtmidi client is deleted on failure, so a bad name
    leaves no client behind.
    """
    try:
        if peer is None:
            midi.open_virtual_port(name)
            return None
        return _connect_rtmidi_port(midi, name, peer)
    except BaseException:
        midi.delete()
        raise


def _connect_rtmidi_port(midi: RtMidiPort, name: str, peer: str) -> str:
    available = midi.get_ports()
    peer_name = resolve_port_name(peer, available)
    midi.open_port(available.index(peer_name), name)
    return peer_name


class _RtMidiReconnect:
    """Port hooks for rtmidi: the peer counts as gone when it leaves the port list."""

    _midi: RtMidiPort
    _peer_name: str | None

    def _peer_connected(self) -> bool:
        # A failed reconnect leaves our port closed; a peer that left and came back
        # between two checks goes unnoticed (rtmidi does not report disconnection).
        return self._midi.is_port_open() and self._peer_name in self._midi.get_ports()

    def _reconnect(self) -> None:
        self._midi.close_port()
        self._peer_name = _connect_rtmidi_port(self._midi, self.name, self.peer)


def list_ports(api: str = "jack") -> dict[str, list[str]]:
    """The ports an input can connect from ("inputs") and an output to ("outputs")."""
    rtapi = _rtmidi_api(api)
    sources = rtmidi.MidiIn(rtapi=rtapi)
    sinks = rtmidi.MidiOut(rtapi=rtapi)
    try:
        return {"inputs": sources.get_ports(), "outputs": sinks.get_ports()}
    finally:
        sources.delete()
        sinks.delete()


class RtMidiInput(_RtMidiReconnect, InputPort):
    """An rtmidi input; arrival times are time.monotonic() seconds at the callback.

    On JACK, rtmidi delivers each event at the start of the cycle after it was
    written, so arrival times carry up to one JACK period of jitter.
    """

    def __init__(
        self,
        peer: str | None = None,
        *,
        name: str = DEFAULT_INPUT_NAME,
        api: str = "jack",
        client_name: str = DEFAULT_CLIENT_NAME,
    ) -> None:
        super().__init__(name, peer)
        self._midi = rtmidi.MidiIn(rtapi=_rtmidi_api(api), name=client_name)
        self._midi.ignore_types(sysex=False, timing=False, active_sense=True)
        self._midi.set_callback(self._on_event)
        self._peer_name = _open_rtmidi_port(self._midi, name, peer)

    def now(self) -> float:
        return time.monotonic()

    def _on_event(self, event: tuple[list[int], float], _data: object) -> None:
        self._deliver(bytes(event[0]), time.monotonic())

    def _reconnect(self) -> None:
        # The peer went away (this runs once a second until it is back): what it held is let go.
        self._connection_lost(self.now())
        super()._reconnect()

    def _close(self) -> None:
        self._midi.cancel_callback()
        self._midi.close_port()
        self._midi.delete()


class RtMidiOutput(_RtMidiReconnect, OutputPort):
    """An rtmidi output; send_at times are time.monotonic() seconds.

    rtmidi has no timestamped output, so a scheduler thread sends each message when
    its time comes; on JACK it then goes out at the start of the next cycle (up to
    one period late). Use liveimpro.midi.jackmidi for frame-accurate timing.
    """

    def __init__(
        self,
        peer: str | None = None,
        *,
        name: str = DEFAULT_OUTPUT_NAME,
        api: str = "jack",
        client_name: str = DEFAULT_CLIENT_NAME,
    ) -> None:
        super().__init__(name, peer)
        self._midi = rtmidi.MidiOut(rtapi=_rtmidi_api(api), name=client_name)
        self._peer_name = _open_rtmidi_port(self._midi, name, peer)
        self._due: list[tuple[float, int, bytes]] = []  # heap of (when, order, bytes)
        self._order = itertools.count()  # keeps messages with equal times in send order
        self._stopping = False
        # Guards the heap and rtmidi, which must not be written from two threads at once.
        self._wakeup = threading.Condition()
        self._scheduler = threading.Thread(
            target=self._run_scheduler, name=f"rtmidi scheduler {name}", daemon=True
        )
        self._scheduler.start()

    def now(self) -> float:
        return time.monotonic()

    def _send(self, message: mido.Message) -> None:
        with self._wakeup:
            self._write(bytes(message.bytes()))

    def _send_at(self, message: mido.Message, when: float) -> None:
        with self._wakeup:
            heapq.heappush(self._due, (float(when), next(self._order), bytes(message.bytes())))
            self._wakeup.notify()

    def _cancel_pending(self) -> None:
        with self._wakeup:
            self._due.clear()

    def _retime(self, pivot: float, ratio: float) -> None:
        with self._wakeup:
            self._due = [(retimed(w, pivot, ratio), order, data) for w, order, data in self._due]
            heapq.heapify(self._due)
            self._wakeup.notify()

    def _reconnect(self) -> None:
        with self._wakeup:  # the scheduler thread must not send meanwhile
            self.wire.connection_lost()
            super()._reconnect()
            for data in self.wire.connection_gained():
                self._write(data)

    def _write(self, data: bytes) -> None:
        """Out to rtmidi now; the caller holds ``_wakeup``."""
        self._midi.send_message(data)
        self.wire.written(data)

    def _run_scheduler(self) -> None:
        with self._wakeup:
            while not self._stopping:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._wakeup.wait(wait)
                else:
                    self._write(heapq.heappop(self._due)[2])

    def _close(self) -> None:
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        self._scheduler.join()
        self._midi.close_port()
        self._midi.delete()
