"""``liveimpro demo``: a phrase played into the live daemon, and its answer, shown and saved.

On whatever MIDI system there is (liveimpro.midi.system: a private JACK server where there
is none), the real daemon runs as ``liveimpro run`` with the configured model, between two
ports of ours (liveimpro.harness.callresponse). The call goes into the daemon's input, starting on
one of its bar lines; the answer is heard at our listener. Call and response are printed
as a piano roll with a short summary, and saved to a MIDI file, each on its own track.
Whatever happens, the daemon is stopped first (its last note-offs are heard), then our
ports close, then a private server stops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from liveimpro.config.settings import Settings
from liveimpro.harness.callresponse import (
    LiveSession,
    clock_from_pulses,
    grid_offsets,
    play_notes,
    received_notes,
)
from liveimpro.harness.midisystem import MidiSystem
from liveimpro.harness.pianoroll import render
from liveimpro.live.improviser import next_grid_tick, response_ticks
from liveimpro.midi.midifile import add_track, new_midi_file, read_phrase
from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note, bar_ticks

DEMO_PHRASE = Path(__file__).resolve().parent / "demo.mid"
CALL_LEAD_S = 0.3  # the call starts on the first bar line at least this far ahead
TAIL_S = 0.3  # listening on after the latest the answer can end


@dataclass(frozen=True)
class DemoTake:
    """What was played and heard; ticks count from the bar line the call starts on."""

    call: list[Note]
    response: list[Note]
    left_sounding: int  # answer notes that never got their note-off
    first_note_ms: float | None  # from the silence window's close to the first answer note
    quantize_wait_ms: float  # from that close to the grid point the answer may start on
    off_grid_ms: float | None  # the answer's note-ons, most off the daemon's tick grid
    daemon_status: int | None
    daemon_output: str


def play_take(system: MidiSystem, settings: Settings, call: list[Note]) -> DemoTake:
    """Start the daemon, play ``call`` into it from its next bar line, hear the whole answer."""
    bar = bar_ticks(settings.continuation.beats_per_bar)
    response_channel = settings.response.channel - 1
    # the channel the daemon listens to; with all, one apart from the answer's
    call_channel = settings.daemon.channel - 1 if settings.daemon.channel else response_channel ^ 1
    with LiveSession(system, settings) as session:
        first_tick = session.next_tick(bar, CALL_LEAD_S)
        last_off = play_notes(session.performer, session.clock, call, first_tick, call_channel)
        call_end = max(note.end for note in call)
        close_tick = (
            first_tick + call_end + math.ceil(settings.phrase.silence_beats * TICKS_PER_BEAT)
        )
        start_tick = next_grid_tick(settings, close_tick)
        answer_end = start_tick + response_ticks(
            settings, call_end - min(note.start for note in call)
        )
        session.sleep_until(session.clock.time_of(answer_end) + TAIL_S * system.units_per_second)
    messages = session.listener.messages
    clock = clock_from_pulses(session.listener.pulses(), session.clock.bpm, system.units_per_second)
    response, left_sounding = received_notes(messages, clock, response_channel, first_tick)
    ons = [
        m.time
        for m in messages
        if m.type == "note_on"
        and m.velocity
        and m.channel == response_channel
        and m.time > last_off
    ]
    ms = 1000.0 / system.units_per_second
    return DemoTake(
        call=call,
        response=response,
        left_sounding=left_sounding,
        first_note_ms=(ons[0] - clock.time_of(close_tick)) * ms if ons else None,
        quantize_wait_ms=(start_tick - close_tick) * clock.period * ms,
        off_grid_ms=max(abs(offset) for offset in grid_offsets(ons, clock)) * ms if ons else None,
        daemon_status=session.status,
        daemon_output=session.daemon.output,
    )


def summary(take: DemoTake, settings: Settings) -> list[str]:
    """A few lines on what was heard, with its timing."""
    beats = max((note.end for note in take.response), default=0) / TICKS_PER_BEAT
    lines = [
        f"call: {len(take.call)} notes (#); answer: {len(take.response)} notes (o), "
        f"model {settings.model.name} at {settings.clock.bpm:g} bpm, "
        f"up to beat {beats:g} from the call's first bar line",
    ]
    if take.first_note_ms is not None:
        lines.append(
            f"phrase end (the silence window of {settings.phrase.silence_beats:g} beats closing) "
            f"to the first answer note: {take.first_note_ms:.1f} ms, of which "
            f"{take.quantize_wait_ms:.1f} ms the wait for the answer's start on the grid "
            f'(response.quantize = "{settings.response.quantize}")'
        )
        lines.append(
            f"answer note-ons off the daemon's tick grid: at most {take.off_grid_ms:.3f} ms"
        )
    lines.append(f"answer notes left sounding: {take.left_sounding}")
    return lines


def save_take(take: DemoTake, settings: Settings, path: Path) -> None:
    """Call and response in one MIDI file, each on its own track."""
    midi = new_midi_file(settings.clock.bpm, settings.continuation.beats_per_bar)
    add_track(midi, take.call, name="call")
    add_track(midi, take.response, name=f"response (liveimpro, model {settings.model.name})")
    midi.write(str(path))


def run_demo(
    settings: Settings,
    phrase: Path = DEMO_PHRASE,
    output: Path = Path("demo.mid"),
    *,
    period: int = 256,
    say: Callable[[str], None] = print,
) -> int:
    """The whole demo; 0 when an answer came and every answer note ended, else 1."""
    _, notes = read_phrase(phrase)
    bar = bar_ticks(settings.continuation.beats_per_bar)
    origin = notes[0].start - notes[0].start % bar  # keep the call's place in its bar
    call = [Note(n.pitch, n.velocity, n.start - origin, n.end - origin) for n in notes]
    with MidiSystem(period=period) as system:
        say(f"liveimpro demo: on {system.describe()}; starting the daemon")
        take = play_take(system, settings, call)
    say(render(take.call, take.response, bar))
    for line in summary(take, settings):
        say(line)
    save_take(take, settings, output)
    say(f"saved {output}: track 1 the call, track 2 the answer")
    if take.daemon_status != 0 or not take.response or take.left_sounding:
        say(f"liveimpro demo: something went wrong; the daemon said:\n{take.daemon_output}")
        return 1
    return 0
