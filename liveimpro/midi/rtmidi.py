"""rtmidi ports (ALSA, JACK, CoreMIDI, WinMM); their clock is time.monotonic() seconds.

rtmidi has no timestamped output, so an output's scheduler thread sends each message when its
time comes (liveimpro.midi.jackmidi is frame-accurate on JACK).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time

import mido
import rtmidi

from liveimpro.config.settings import MIDI_APIS
from liveimpro.midi import ports

# rtmidi's own short names, which are the settings' MIDI_APIS but for CoreMIDI ("core").
_RTMIDI_API_BY_NAME = {
    rtmidi.get_api_name(number): number for number in range(rtmidi.API_RTMIDI_DUMMY + 1)
}


def _rtmidi_api(api: str) -> int:
    if api not in MIDI_APIS:
        raise ValueError(f"unknown MIDI API {api!r}; expected one of {sorted(MIDI_APIS)}")
    return _RTMIDI_API_BY_NAME["core" if api == "coremidi" else api]


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
    peer_name = ports.resolve_port_name(peer, available)
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


class RtMidiInput(_RtMidiReconnect, ports.InputPort):
    """An rtmidi input; arrival times are time.monotonic() seconds at the callback.

    On JACK, rtmidi delivers each event at the start of the cycle after it was
    written, so arrival times carry up to one JACK period of jitter.
    """

    def __init__(
        self,
        peer: str | None = None,
        *,
        name: str = ports.DEFAULT_INPUT_NAME,
        api: str = "jack",
        client_name: str = ports.DEFAULT_CLIENT_NAME,
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


class RtMidiOutput(_RtMidiReconnect, ports.OutputPort):
    """An rtmidi output; send_at times are time.monotonic() seconds.

    rtmidi has no timestamped output, so a scheduler thread sends each message when
    its time comes; on JACK it then goes out at the start of the next cycle (up to
    one period late). Use liveimpro.midi.jackmidi for frame-accurate timing.
    """

    def __init__(
        self,
        peer: str | None = None,
        *,
        name: str = ports.DEFAULT_OUTPUT_NAME,
        api: str = "jack",
        client_name: str = ports.DEFAULT_CLIENT_NAME,
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
            self._due = [
                (ports.retimed(w, pivot, ratio), order, data) for w, order, data in self._due
            ]
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
