"""``liveimpro bench panel``: what open panels cost the daemon, and how fast a page draws.

The real daemon on a private JACK server answers the demo phrase again and again (as in
liveimpro.harness.benchdaemon), first with no panel open, then with ``panels`` panels, each a
``liveimpro panel`` process with a page open in a headless Chromium (the system's, through
Playwright), then without and with again, so that a drift in the shared machine's load
falls on both. The daemon's CPU time over wall time is read from /proc for each stretch.
Each page records, for every note event, the time from the daemon's stamp to the animation
frame that drew it; both are this machine's clocks.
"""

from __future__ import annotations

import math
import time
from contextlib import ExitStack

from liveimpro.harness.bench import latency_summary
from liveimpro.harness.benchdaemon import (
    PERFORMER_CHANNEL,
    PHRASE_LEAD_S,
    SILENCE_BEATS,
    answer_settings,
    jack_figures,
)
from liveimpro.harness.callresponse import LiveSession, play_notes
from liveimpro.harness.demo import DEMO_PHRASE
from liveimpro.harness.midisystem import MidiSystem
from liveimpro.midi.midifile import read_phrase
from liveimpro.music.vocabulary import TICKS_PER_BEAT, bar_ticks
from liveimpro.surfaces.panel.process import PanelProcess, launch_chromium

ANSWER_BEATS = 8.0
LIVE_TIMEOUT_MS = 30_000


def bench_panel(
    model: str = "folk", panels: int = 2, rounds: int = 4, bpm: float = 160.0, period: int = 256
) -> dict:
    """Daemon CPU without and with ``panels`` open pages, and event-to-frame delays."""
    from playwright.sync_api import sync_playwright

    settings = answer_settings(model, ANSWER_BEATS, bpm)
    _, call = read_phrase(DEMO_PHRASE)
    bar = bar_ticks(settings.continuation.beats_per_bar)
    call_ticks = max(note.end for note in call) + math.ceil(SILENCE_BEATS * TICKS_PER_BEAT)
    round_ticks = call_ticks + bar + round(ANSWER_BEATS * TICKS_PER_BEAT)  # a quantise wait at most

    def perform(session: LiveSession) -> dict:
        """``rounds`` calls and answers; the daemon's CPU share over them."""
        cpu, wall = session.daemon.cpu_seconds(), time.monotonic()
        for _ in range(rounds):
            first = session.next_tick(bar, PHRASE_LEAD_S)
            play_notes(session.performer, session.clock, call, first, PERFORMER_CHANNEL)
            session.sleep_until(session.clock.time_of(first + round_ticks))
        cpu, wall = session.daemon.cpu_seconds() - cpu, time.monotonic() - wall
        return {"wall_s": round(wall, 2), "cpu_percent": round(100 * cpu / wall, 2)}

    opened = f"{panels} panel" + "s" * (panels != 1)
    stretches: dict[str, list[dict]] = {"no panel": [], opened: []}
    delays: list[float] = []
    with (
        MidiSystem(private_jack=True, period=period) as system,
        LiveSession(system, settings) as session,
        sync_playwright() as driver,
    ):
        browser = launch_chromium(driver)
        for _ in range(2):
            stretches["no panel"].append(perform(session))
            with ExitStack() as open_panels:
                pages = []
                for _ in range(panels):
                    panel = open_panels.enter_context(PanelProcess(session.daemon.config))
                    page = browser.new_page()
                    open_panels.callback(page.close)
                    page.goto(panel.url)
                    page.wait_for_selector("#connection.live", timeout=LIVE_TIMEOUT_MS)
                    pages.append(page)
                stretches[opened].append(perform(session))
                for page in pages:
                    delays += page.evaluate("() => window.liveimpro.drawDelays")
        browser.close()
        figures = jack_figures(system)
    return {
        "benchmark": "the daemon's CPU with and without open panels during answers; "
        "event to animation frame in the page",
        "jack": figures,
        "settings": {"model": model, "bpm": bpm, "answer_beats": ANSWER_BEATS, "rounds": rounds},
        "daemon_cpu": stretches,
        "daemon_cpu_percent": {
            case: round(sum(part["cpu_percent"] for part in parts) / len(parts), 2)
            for case, parts in stretches.items()
        },
        "event_to_frame": latency_summary([delay / 1000 for delay in delays]) if delays else {},
        "event_to_frame_clock": "the daemon's time.monotonic() stamp to the page's "
        "requestAnimationFrame callback that drew the note (wall clock, this machine)",
    }
