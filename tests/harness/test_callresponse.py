"""Tests for liveimpro.harness.callresponse: the grid from MIDI clock, playing and hearing notes."""

from __future__ import annotations

import mido
import pytest

from liveimpro.config.settings import Settings
from liveimpro.harness.callresponse import (
    clock_from_pulses,
    daemon_settings,
    grid_offsets,
    play_notes,
    received_notes,
)
from liveimpro.live.clock import TempoClock
from liveimpro.music.vocabulary import Note
from tests.memoryports import MemoryOutputPort

RATE = 48000.0
BPM = 250.0  # a tick is 480 frames


def test_the_first_pulse_is_tick_zero_and_jitter_or_a_gap_does_not_move_the_grid() -> None:
    true_anchor = 10_000.0
    jitter = [0, 30, -20, 0, 10, 0, -5, 0, 0, 25]
    pulses = [true_anchor + tick * 480 + error for tick, error in enumerate(jitter) if tick != 4]
    clock = clock_from_pulses(pulses, BPM, RATE)
    assert clock.period == 480
    assert clock.time_of(0) == true_anchor
    assert clock.tick_at(true_anchor + 96 * 480) == 96


def test_grid_offsets_are_signed_distances_to_the_nearest_tick() -> None:
    clock = TempoClock(BPM, 1000.0, RATE)
    assert grid_offsets([1000.0, 1480.0 + 12, 1960.0 - 7], clock) == [0.0, 12.0, -7.0]


def test_play_notes_sends_on_the_grid_with_offs_before_ons_at_one_tick() -> None:
    port = MemoryOutputPort(now=lambda: 0.0)
    clock = TempoClock(BPM, 0.0, RATE)
    notes = [Note(60, 90, 0, 2), Note(60, 80, 2, 3), Note(64, 70, 1, 3)]
    last_off = play_notes(port, clock, notes, first_tick=96, channel=3)
    assert last_off == 99 * 480
    sent = [(m.time / 480, m.type, m.note) for m in port.scheduled]
    assert sent == [
        (96, "note_on", 60),
        (97, "note_on", 64),
        (98, "note_off", 60),
        (98, "note_on", 60),
        (99, "note_off", 60),
        (99, "note_off", 64),
    ]
    assert {m.channel for m in port.scheduled} == {3}


def test_received_notes_pairs_ons_and_offs_on_the_channel_and_counts_hanging_ones() -> None:
    clock = TempoClock(BPM, 0.0, RATE)

    def at(tick: int, kind: str, note: int, channel: int = 0, velocity: int = 0) -> mido.Message:
        return mido.Message(kind, channel=channel, note=note, velocity=velocity, time=tick * 480)

    messages = [
        at(100, "note_on", 60, velocity=90),
        at(101, "note_on", 61, channel=5, velocity=90),  # another channel: not the answer
        at(102, "note_on", 60, velocity=0),  # note-on with velocity 0 is a note-off
        at(103, "note_on", 62, velocity=80),
        at(104, "note_on", 62, velocity=70),  # retrigger: the first ends here
        at(106, "note_on", 64, velocity=60),  # never ends
        at(107, "note_off", 62),
        at(108, "note_off", 65),  # an off for a note never on: ignored
    ]
    notes, hanging = received_notes(messages, clock, channel=0, origin_tick=96)
    assert notes == [
        Note(60, 90, 4, 6),
        Note(62, 80, 7, 8),
        Note(62, 70, 8, 11),
        Note(64, 60, 10, 12),
    ]
    assert hanging == 1


def test_daemon_settings_play_to_our_port_with_clock_and_no_thru() -> None:
    settings = daemon_settings(Settings(), "alsa", "liveimpro listener")
    assert settings.daemon.api == "alsa"
    assert settings.daemon.output == "liveimpro listener"
    assert settings.daemon.input == ""
    assert settings.daemon.thru is False
    assert settings.clock.send_clock is True and settings.clock.source == "internal"


@pytest.mark.parametrize("bpm", [60.0, 300.0])
def test_clock_from_pulses_keeps_the_tempo(bpm: float) -> None:
    clock = clock_from_pulses([5.0, 5.0 + 60 / (bpm * 24)], bpm, 1.0)
    assert clock.bpm == bpm and clock.time_of(0) == pytest.approx(5.0)
