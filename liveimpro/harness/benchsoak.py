"""The soak benchmark: call and response against the live daemon for an hour, on real ports.

Set up as the other daemon benchmarks (liveimpro.harness.benchdaemon): a private JACK
server, the real daemon as a child process, performer and receiver as independent JACK
clients stamping in JACK frame time. It counts answers, notes left sounding, memory growth
and how far answer notes lie from the daemon's grid.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from bisect import bisect_right

import numpy as np

from liveimpro.control.client import Client
from liveimpro.harness.benchdaemon import (
    PERFORMER_CHANNEL,
    PHRASE_LEAD_S,
    SCALE_STEPS,
    SILENCE_BEATS,
    daemon_base,
    jack_figures,
    offset_summary,
    xruns,
)
from liveimpro.harness.callresponse import LiveSession, clock_from_pulses, grid_offsets, play_notes
from liveimpro.harness.midisystem import MidiSystem
from liveimpro.midi.wire import ALL_NOTES_OFF
from liveimpro.music.vocabulary import TICKS_PER_BEAT, Note

SOAK_BPM = 120.0
SOAK_PHRASE_NOTES = 4  # eighth notes: a phrase lasts two beats
SOAK_ANSWER_BEATS = 2.0
SOAK_PROGRESS_S = 60.0  # a progress line on stderr this often, so a long soak can be watched


def soak_phrase(rng: np.random.Generator) -> list[Note]:
    """SOAK_PHRASE_NOTES eighth notes on random pitches of the C major scale around middle C."""
    pitches = 60 + rng.choice(SCALE_STEPS, SOAK_PHRASE_NOTES)
    eighth = TICKS_PER_BEAT // 2
    return [
        Note(int(pitch), 80, index * eighth, (index + 1) * eighth - 1)
        for index, pitch in enumerate(pitches)
    ]


def sounding_at_end(messages: list, channel: int) -> int:
    """Notes on ``channel`` turned on and not since ended (by a note-off or CC123)."""
    sounding: set[int] = set()
    for message in messages:
        if getattr(message, "channel", None) != channel:
            continue
        if message.type == "note_on" and message.velocity > 0:
            sounding.add(message.note)
        elif message.type in ("note_on", "note_off"):
            sounding.discard(message.note)
        elif message.type == "control_change" and message.control == ALL_NOTES_OFF:
            sounding.clear()
    return len(sounding)


def bench_soak(
    model: str = "folk", minutes: float = 60.0, every_s: float = 3.0, period: int = 256
) -> dict:
    """Call and response against the live daemon for ``minutes``: a phrase every ``every_s``.

    Each phrase is four random eighth notes starting on a beat of the daemon's grid; the
    answer is SOAK_ANSWER_BEATS long. ``answered`` counts the answers the daemon started
    (its status counters); ``answers_with_notes`` the phrases followed by an answer note at
    the receiver before the next phrase (the model may also answer with a rest). Notes left
    sounding are counted at the receiver before the daemon is stopped (its clean stop would
    silence them anyway).
    """
    base = daemon_base(model)
    settings = dataclasses.replace(
        base,
        sampling=dataclasses.replace(base.sampling, seed=1),
        continuation=dataclasses.replace(base.continuation, beats=SOAK_ANSWER_BEATS),
        phrase=dataclasses.replace(base.phrase, silence_beats=SILENCE_BEATS, min_notes=2),
        clock=dataclasses.replace(base.clock, bpm=SOAK_BPM),
    )
    rng = np.random.default_rng(1)
    every_ticks = max(1, round(every_s * SOAK_BPM / 60)) * TICKS_PER_BEAT
    count = max(1, math.floor(minutes * 60 / every_s))
    windows = []  # (last note-off, next phrase's first note-on) per phrase
    with MidiSystem(private_jack=True, period=period) as system:
        xruns_before = xruns(system)
        with LiveSession(system, settings) as session:
            rate = system.units_per_second
            rss_start = session.daemon.memory_mb("VmRSS")
            first = session.next_tick(TICKS_PER_BEAT, PHRASE_LEAD_S)
            next_progress = time.monotonic() + SOAK_PROGRESS_S
            for index in range(count):
                start = first + index * every_ticks
                session.sleep_until(session.clock.time_of(start) - PHRASE_LEAD_S * rate)
                session.listener.drain()
                if not session.daemon.running():
                    break
                last_off = play_notes(
                    session.performer, session.clock, soak_phrase(rng), start, PERFORMER_CHANNEL
                )
                windows.append((last_off, session.clock.time_of(start + every_ticks)))
                if time.monotonic() >= next_progress:
                    next_progress += SOAK_PROGRESS_S
                    print(f"soak: {index + 1}/{count} phrases", file=sys.stderr, flush=True)
            session.sleep_until(windows[-1][1])
            with Client.from_settings(session.daemon.control, timeout=5.0) as client:
                counters = client.status()["counters"]
            session.listener.drain()
            answer_channel = session.settings.response.channel - 1
            left_sounding = sounding_at_end(session.listener.messages, answer_channel)
            rss_end = session.daemon.memory_mb("VmRSS")
        missed = xruns(system) - xruns_before
        figures = jack_figures(system)
    messages = session.listener.messages
    note_ons = sorted(
        m.time
        for m in messages
        if m.type == "note_on" and m.velocity and m.channel == answer_channel
    )
    heard = sum(
        (index := bisect_right(note_ons, last_off)) < len(note_ons) and note_ons[index] < until
        for last_off, until in windows
    )
    clock = clock_from_pulses(session.listener.pulses(), settings.clock.bpm, rate)
    onsets = [t for t in note_ons if t <= windows[-1][1]]
    return {
        "benchmark": "soak: call and response against the live daemon",
        "clock": "JACK frame time; the grid fitted to the daemon's MIDI clock pulses",
        "jack": figures,
        "settings": {
            "model": model,
            "minutes": minutes,
            "phrase_every_s": every_ticks / TICKS_PER_BEAT * 60 / SOAK_BPM,
            "bpm": SOAK_BPM,
            "answer_beats": SOAK_ANSWER_BEATS,
        },
        "phrases": len(windows),
        "phrases_heard": counters["phrases"],
        "answered": counters["responses"],
        "answers_with_notes": heard,
        "notes_left_sounding": left_sounding,
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "growth_percent": round(100 * (rss_end - rss_start) / rss_start, 2),
        },
        "onset_error": offset_summary(grid_offsets(onsets, clock), rate),
        "xruns": missed,
    }
