"""JACK-native MIDI ports with frame-accurate timing (JACK-Client over libjack).

Times are JACK frame times: integer sample counts of the server's clock, read with
``now()``. JACK's own counter wraps around after 2**32 frames (about 24.8 hours at
48 kHz); the ports extend it to a count that never wraps, so a schedule computed as
``start + n * period`` stays valid however long the daemon runs.

Output events are written inside the process callback at their frame offset within
the cycle, so a receiver sees them on the exact frame asked for, provided they were
queued before the cycle that contains that frame started; an event whose time has
passed goes at offset 0 of the current cycle. Input messages are stamped with the
frame they arrived on (the cycle's first frame plus the event's offset).

The process callbacks never block: the non-realtime side hands events over through
a collections.deque (whose append and popleft are atomic), and the callback keeps
them in a heap of its own.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import jack
import mido

from liveimpro.midi.ports import (
    DEFAULT_CLIENT_NAME,
    DEFAULT_INPUT_NAME,
    DEFAULT_OUTPUT_NAME,
    InputPort,
    OutputPort,
    resolve_port_name,
    retimed,
)

FLUSH_TIMEOUT_S = 1.0  # how long close() waits for the panic messages to go out
IMMEDIATE = None  # the epoch of messages sent now: panic() never cancels them

# (frame time, order, epoch of send_at or IMMEDIATE, bytes); order keeps equal times in
# send order and is unique, so tuples never compare further. Times stay unrounded until
# written, so a retime scales the exact times.
Event = tuple[float, int, int | None, bytes]


class Retime(NamedTuple):
    """Handed over in line with the events: those queued before it move (OutputPort.retime)."""

    pivot: float
    ratio: float


FRAME_COUNTER_WRAP = 2**32
HALF_WRAP = FRAME_COUNTER_WRAP // 2


class FrameCounter:
    """JACK's 32-bit frame times, extended to a count that never wraps.

    A reading is placed within half a wrap (12.4 hours at 48 kHz) of the latest cycle's
    start: readings come at least once a cycle, so that is never ambiguous.
    """

    def __init__(self, first_reading: int) -> None:
        self.cycle_start = first_reading

    def extend(self, reading: int) -> int:
        return (
            self.cycle_start
            + (reading - self.cycle_start + HALF_WRAP) % FRAME_COUNTER_WRAP
            - HALF_WRAP
        )

    def start_cycle(self, reading: int) -> int:
        """Extend a cycle's first frame (in the process callback) and make it the reference."""
        self.cycle_start = self.extend(reading)
        return self.cycle_start


class _JackEndpoint:
    """One JACK client owning one MIDI port."""

    def __init__(self, client_name: str, port_name: str, *, is_output: bool) -> None:
        self.client = jack.Client(client_name, no_start_server=True)
        ports = self.client.midi_outports if is_output else self.client.midi_inports
        self.port = ports.register(port_name)
        self._is_output = is_output
        self._frames = FrameCounter(self.client.frame_time)
        self._connections = 0  # as the process callback last saw

    def now(self) -> int:
        """The current frame, extended."""
        return self._frames.extend(self.client.frame_time)

    def cycle_start(self) -> int:
        """The current cycle's first frame, extended; only from the process callback."""
        return self._frames.start_cycle(self.client.last_frame_time)

    def start(self, process: Callable[[int], None], peer: str | None) -> None:
        """Activate with ``process`` and connect to ``peer``; the client is closed on failure."""
        try:
            self.client.set_process_callback(process)
            self.client.activate()
            if peer is not None:
                self.connect(peer)
        except BaseException:
            self.close()
            raise

    def connect(self, peer: str) -> None:
        """Connect our port to the peer port named exactly ``peer`` or containing it."""
        own_prefix = f"{self.client.name}:"
        candidates = self.client.get_ports(
            is_midi=True, is_input=self._is_output, is_output=not self._is_output
        )
        available = [port.name for port in candidates if not port.name.startswith(own_prefix)]
        peer_name = resolve_port_name(peer, available)
        if self._is_output:
            self.client.connect(self.port, peer_name)
        else:
            self.client.connect(peer_name, self.port)

    def connected(self) -> bool:
        return bool(self.port.connections)

    def connections_changed(self) -> int:
        """Connections gained (> 0) or lost (< 0) since the last call; from the process callback.

        jack_port_connected only reads a count, so it is safe in the realtime thread.
        """
        count = self.port.number_of_connections
        change, self._connections = count - self._connections, count
        return change

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class _JackReconnect:
    """Port hooks for JACK: the peer is gone when our port has no connection left."""

    _endpoint: _JackEndpoint
    peer: str | None

    def _peer_connected(self) -> bool:
        return self._endpoint.connected()

    def _reconnect(self) -> None:
        self._endpoint.connect(self.peer)


class JackInput(_JackReconnect, InputPort):
    """A JACK MIDI input; ``message.time`` is the JACK frame the message arrived on."""

    def __init__(
        self,
        peer: str | None = None,
        *,
        name: str = DEFAULT_INPUT_NAME,
        client_name: str = DEFAULT_CLIENT_NAME,
    ) -> None:
        super().__init__(name, peer)
        self._endpoint = _JackEndpoint(client_name, name, is_output=False)
        self._endpoint.start(self._process, peer)

    @property
    def port_name(self) -> str:
        """Our port's full JACK name, "client:port"."""
        return self._endpoint.port.name

    def now(self) -> int:
        return self._endpoint.now()

    def _process(self, frames: int) -> None:
        cycle_start = self._endpoint.cycle_start()
        if self._endpoint.connections_changed() < 0:
            self._connection_lost(cycle_start)
        for offset, data in self._endpoint.port.incoming_midi_events():
            self._deliver(bytes(data), cycle_start + offset)

    def _close(self) -> None:
        self._endpoint.close()


class JackOutput(_JackReconnect, OutputPort):
    """A frame-accurate JACK MIDI output; ``send_at`` takes a JACK frame time."""

    def __init__(
        self,
        peer: str | None = None,
        *,
        name: str = DEFAULT_OUTPUT_NAME,
        client_name: str = DEFAULT_CLIENT_NAME,
    ) -> None:
        super().__init__(name, peer)
        self.dropped_events = 0  # events JACK refused because the cycle's buffer was full
        # Appended here, drained by the process callback.
        self._handoff: deque[Event | Retime] = deque()
        self._due: list[Event] = []  # heap owned by the process callback
        self._order = itertools.count()
        self._epoch = 0  # panic() moves to a new epoch; older send_at events are dropped
        self._cycles = 0
        self._endpoint = _JackEndpoint(client_name, name, is_output=True)
        self._endpoint.start(self._process, peer)

    @property
    def port_name(self) -> str:
        """Our port's full JACK name, "client:port"."""
        return self._endpoint.port.name

    @property
    def samplerate(self) -> int:
        return self._endpoint.client.samplerate

    def now(self) -> int:
        return self._endpoint.now()

    def _send(self, message: mido.Message) -> None:
        self._handoff.append((0, next(self._order), IMMEDIATE, bytes(message.bytes())))

    def _send_at(self, message: mido.Message, when: float) -> None:
        event = (float(when), next(self._order), self._epoch, bytes(message.bytes()))
        self._handoff.append(event)

    def _cancel_pending(self) -> None:
        self._epoch += 1

    def _retime(self, pivot: float, ratio: float) -> None:
        self._handoff.append(Retime(pivot, ratio))

    def _process(self, frames: int) -> None:
        port = self._endpoint.port
        port.clear_buffer()
        while self._handoff:
            item = self._handoff.popleft()
            if isinstance(item, Retime):
                self._due = [
                    (retimed(when, *item), order, epoch, data)
                    for when, order, epoch, data in self._due
                ]
                heapq.heapify(self._due)
            else:
                heapq.heappush(self._due, item)
        cycle_start = self._endpoint.cycle_start()
        cycle_end = cycle_start + frames
        # A receiver lost keeps what it held; one gained (or back) hears those notes end first.
        change = self._endpoint.connections_changed()
        if change < 0:
            self.wire.connection_lost()
        elif change > 0:
            for data in self.wire.connection_gained():
                self._write(0, data)
        while self._due and round(self._due[0][0]) < cycle_end:
            when, _, epoch, data = heapq.heappop(self._due)
            if epoch is not IMMEDIATE and epoch != self._epoch:
                continue  # cancelled by panic()
            self._write(max(0, round(when) - cycle_start), data)
        self._cycles += 1

    def _write(self, offset: int, data: bytes) -> None:
        try:
            self._endpoint.port.write_midi_event(offset, data)
        except jack.JackError:
            self.dropped_events += 1
        else:
            self.wire.written(data)

    def _close(self) -> None:
        # Two whole cycles guarantee the panic messages queued before were written.
        target = self._cycles + 2
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while self._cycles < target and time.monotonic() < deadline:
            time.sleep(0.001)
        self._endpoint.close()
