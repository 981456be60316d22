"""MIDI on the wire: bytes into messages, and the notes a receiver holds.

Backend-independent byte-level work every port shares: :class:`MidiStreamParser` splits
what an input receives into messages; :class:`WireNotes` follows what an output wrote, so
notes a receiver held when its connection was lost can be ended when it is back.
"""

from __future__ import annotations

from collections.abc import Iterable

import mido
from mido.messages.specs import SPEC_BY_STATUS, SYSEX_END, SYSEX_START

ALL_NOTES_OFF = 123  # controller number
SUSTAIN_CC = 64
MAX_SYSEX_BYTES = 65536  # a runaway sysex is dropped rather than buffered forever


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
