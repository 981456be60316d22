"""End to end: ``liveimpro run`` following an external MIDI clock (jack_midi_clock) on a
private JACK server."""

from __future__ import annotations

import time
from pathlib import Path

import mido
import pytest

from liveimpro.config.settings import Settings
from liveimpro.harness.jackserver import JackServer
from liveimpro.midi.wire import ALL_NOTES_OFF
from tests.daemonrig import (
    DAEMON_INPUT,
    RESPONSE_CHANNEL,
    play_phrase,
    replaced,
    response_notes,
    start_daemon,
)
from tests.jackpeers import MidiClock, MidiDump
from tests.midicheck import stuck_notes

SOURCE_BPM = 137  # 875.9 frames a pulse at 48 kHz: jack_midi_clock rounds each to a frame
# The source's pulses are up to half a frame off their ideal times (measured), and so is
# our rounding of a note's time to a frame; the tempo fit a beat ahead adds under a frame.
GRID_TOLERANCE_FRAMES = 2
STOP_LATENCY_S = 0.2  # the source's Stop to the daemon's panic; measured: one JACK cycle


def follow_settings(model: Path, output: str) -> Settings:
    return replaced(
        Settings(),
        model={"name": str(model)},
        sampling={"seed": 1},
        notes={"max_note_beats": 0.5},  # short notes: many of them to check
        continuation={"beats": 64.0},  # still playing when the transport stops
        phrase={"silence_beats": 1.0, "min_notes": 2},
        response={"quantize": "beat", "channel": RESPONSE_CHANNEL, "lookahead_beats": 1.0},
        clock={"source": "external", "bpm": 100.0},  # a wrong guess: the pulses must tell
        daemon={"api": "jack", "output": output},
    )


@pytest.mark.jack
@pytest.mark.slow
def test_following_jack_midi_clock_the_answer_is_on_its_pulses_and_stop_silences_it(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    beat_s = 60 / SOURCE_BPM
    dump = MidiDump(jack_server)
    try:
        with start_daemon(follow_settings(random_model_dir, dump.port_name)) as daemon:
            source = MidiClock(jack_server, SOURCE_BPM, [DAEMON_INPUT, dump.port_name])
            try:
                xruns_before = jack_server.log().count("XRun")
                source.start()
                time.sleep(2 * beat_s)
                play_phrase()
                time.sleep(1.5 * beat_s + 8 * beat_s)  # silence, quantise, 8 beats of answer
                source.stop()
                xruns = jack_server.log().count("XRun") - xruns_before
                time.sleep(1.0)  # the silence after the stop
            finally:
                source.close()
            status = daemon.stop()
    finally:
        events = dump.stop()
    output = daemon.output
    assert status == 0, output
    messages = [mido.Message.from_bytes(data, time=frame) for frame, data in events]
    start = next(m.time for m in messages if m.type == "start")
    stop = next(m.time for m in messages if m.type == "stop")
    note_ons = [m for m in response_notes(messages) if m.type == "note_on" and m.velocity > 0]
    assert any(m.time < stop for m in note_ons), f"no answer before the stop: {output}"
    # Stop: note-offs and CC123 (a panic) follow at once, and nothing sounds after them.
    panic = next(
        i
        for i, m in enumerate(messages)
        if m.time >= stop and m.type == "control_change" and m.control == ALL_NOTES_OFF
    )
    assert messages[panic].time - stop <= STOP_LATENCY_S * jack_server.rate
    assert stuck_notes(response_notes(messages[: panic + 1])) == set()
    assert not any(m.time > messages[panic].time for m in note_ons)
    # The grid: every note-on of the answer lies on a pulse of the source, as received.
    # A cycle that misses its deadline (an xrun) may move the source's pulses.
    if xruns:
        return
    pulses = [m.time for m in messages if m.type == "clock" and start < m.time < stop]
    for note in note_ons:
        if note.time < stop:
            off_grid = min(abs(note.time - pulse) for pulse in pulses)
            assert off_grid <= GRID_TOLERANCE_FRAMES, note
