"""``liveimpro bench control``: the control plane's cost, measured on a live daemon.

The daemon runs as a child process on a private JACK server, answering the demo phrase with
a long response; everything below happens while that response plays:

- the round trip of ping, get, set and status from a client (sequential, back to back);
- how long a ``set`` takes to reach the main loop: from the request to its param_changed
  event (both stamped with time.monotonic(), one machine);
- the output's timing at our receiver against the daemon's ideal tick grid (fitted to its
  MIDI clock pulses), first without control traffic, then while another process sends
  ``rate`` requests a second (status, get and set in turn).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

from liveimpro.config.settings import ClockSettings, Settings
from liveimpro.control.client import Client
from liveimpro.control.ready import Ready
from liveimpro.harness.bench import latency_summary
from liveimpro.harness.benchdaemon import (
    PERFORMER_CHANNEL,
    answer_settings,
    jack_figures,
    offset_summary,
    xruns,
)
from liveimpro.harness.callresponse import LiveSession, clock_from_pulses, grid_offsets, play_notes
from liveimpro.harness.demo import DEMO_PHRASE
from liveimpro.harness.midisystem import MidiSystem
from liveimpro.midi.midifile import read_phrase
from liveimpro.music.vocabulary import bar_ticks

ANSWER_BEATS = 1024.0  # longer than the whole benchmark: the answer plays throughout
PHRASE_LEAD_S = 0.15
APPLY_SAMPLES = 200  # sets timed from request to param_changed event
EVENT_TIMEOUT_S = 10.0
LOAD_COMMANDS = (
    ("status", {}),
    ("get", {"name": "temperature"}),
    ("set", {"name": "top_k", "value": 0}),
)
ROUND_TRIP_COMMANDS = {
    "ping": {},
    "get": {"name": "temperature"},
    "set": {"name": "top_k", "value": 0},
    "status": {},
}


def control_endpoints(ready: Ready) -> tuple[str, str]:
    """The command and event endpoints a daemon's ready line names."""
    if ready.control is None or ready.events is None:
        raise RuntimeError(f"the daemon serves no control: {ready}")
    return ready.control, ready.events


def bench_settings(model: str) -> Settings:
    return answer_settings(model, ANSWER_BEATS, ClockSettings().bpm)


def timed_requests(client: Client, commands: list[tuple[str, dict]]) -> list[float]:
    """Seconds each request took, back to back."""
    seconds = []
    for cmd, params in commands:
        started = time.perf_counter()
        client.request(cmd, **params)
        seconds.append(time.perf_counter() - started)
    return seconds


def send_load(address: str, rate: float, seconds: float, results: Any) -> None:
    """Up to ``rate`` requests a second for ``seconds`` (run in a process of its own).

    Each request waits for its reply (REQ), so a slow daemon lowers the rate achieved,
    which is reported, rather than stretching the window.
    """
    with Client(address, timeout=5.0) as client:
        count = round(rate * seconds)
        start = time.perf_counter()
        timings: list[float] = []
        while len(timings) < count and (elapsed := time.perf_counter() - start) < seconds:
            delay = len(timings) / rate - elapsed
            if delay > 0:
                time.sleep(delay)
            cmd, params = LOAD_COMMANDS[len(timings) % len(LOAD_COMMANDS)]
            timings += timed_requests(client, [(cmd, params)])
        spent = time.perf_counter() - start
        results.put({"sent": len(timings), "seconds": spent, "timings": timings})


def wait_for(events: Any, topic: str) -> dict:
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        event = events.receive(timeout=left)
        if event is not None and event["event"] == topic:
            return event
    raise RuntimeError(f"no {topic} event within {EVENT_TIMEOUT_S} s")


def apply_delays(client: Client, events: Any, samples: int) -> list[float]:
    """Seconds from each set request to the daemon's param_changed event for it."""
    delays = []
    for index in range(samples):
        value = 0.9 + 0.05 * (index % 2)  # a change every time
        sent = time.monotonic()
        client.set("top_p", value)
        while (event := wait_for(events, "param_changed"))["value"] != value:
            pass
        delays.append(event["time"] - sent)
    return delays


def window(session: LiveSession, seconds: float, during: Callable[[], None]) -> tuple[float, float]:
    """Run ``during()`` and sleep out ``seconds``; the window's (start, end) in port time."""
    start = session.now()
    ends_at = time.monotonic() + seconds
    during()
    time.sleep(max(0.0, ends_at - time.monotonic()))
    return start, session.now()


def bench_control(
    model: str = "folk", requests: int = 2000, seconds: float = 8.0, rate: int = 1000
) -> dict:
    settings = bench_settings(model)
    _, call = read_phrase(DEMO_PHRASE)
    bar = bar_ticks(settings.continuation.beats_per_bar)
    spawn = multiprocessing.get_context("spawn")  # no fork of a process holding JACK threads
    results = spawn.Queue()
    with MidiSystem(private_jack=True) as system, LiveSession(system, settings) as session:
        address, events_address = control_endpoints(session.daemon.ready)
        with (
            Client(address, events=events_address, timeout=5.0) as client,
            client.subscribe("response_", "param_changed") as events,
        ):
            while events.receive(timeout=0.05) is None:  # until the subscription is through
                client.set("top_k", 0)
            first = session.next_tick(bar, PHRASE_LEAD_S)
            play_notes(session.performer, session.clock, call, first, PERFORMER_CHANNEL)
            wait_for(events, "response_start")
            xruns_before = xruns(system)
            quiet = window(session, seconds, lambda: None)
            xruns_quiet = xruns(system) - xruns_before
            loader = spawn.Process(target=send_load, args=(address, rate, seconds, results))
            loaded = window(session, seconds, loader.start)
            # Read before join: a child exits only once its queued result is through the pipe.
            load = results.get(timeout=EVENT_TIMEOUT_S)
            loader.join()
            xruns_loaded = xruns(system) - xruns_before - xruns_quiet
            round_trips = {
                cmd: latency_summary(
                    timed_requests(client, [(cmd, params)] * (requests // len(ROUND_TRIP_COMMANDS)))
                )
                for cmd, params in ROUND_TRIP_COMMANDS.items()
            }
            # The load's own param_changed events filled the subscription's queue, where
            # ZeroMQ would drop the ones timed next.
            while events.receive(timeout=0.1) is not None:
                pass
            apply = latency_summary(apply_delays(client, events, APPLY_SAMPLES))
            still = client.status()
            client.panic()
        session.listener.drain()
    pulses = session.listener.pulses()
    clock = clock_from_pulses(pulses, settings.clock.bpm, system.units_per_second)
    answer_channel = settings.response.channel - 1
    notes = [
        m.time
        for m in session.listener.messages
        if m.type in ("note_on", "note_off") and m.channel == answer_channel
    ]

    def timing(times: list[float], span: tuple[float, float]) -> dict:
        inside = [t for t in times if span[0] <= t < span[1]]
        return offset_summary(grid_offsets(inside, clock), system.units_per_second)

    return {
        "benchmark": "control plane during an answer: round trip, apply delay, output jitter",
        "jack": jack_figures(system),
        "settings": {"model": model, "bpm": settings.clock.bpm},
        "round_trip": round_trips,
        "set_to_applied": apply,
        "state_after": still["state"],
        "jitter_without_load": {
            "clock_pulses": timing(pulses, quiet),
            "note_events": timing(notes, quiet),
            "xruns": xruns_quiet,
        },
        "jitter_with_load": {
            "requests_per_s": round(load["sent"] / load["seconds"], 1),
            "load_round_trip": latency_summary(load["timings"]),
            "clock_pulses": timing(pulses, loaded),
            "note_events": timing(notes, loaded),
            "xruns": xruns_loaded,
        },
    }
