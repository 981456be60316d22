"""The daemon's main loop: one thread polls the input and ticks the improviser.

Whatever ends the loop (SIGTERM, SIGHUP or any other terminating signal, an exception),
the scheduler is stopped and the output closed, which sends note-offs for every sounding
note and CC123 before exit.
Never imports TensorFlow or Keras.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType

import mido

from liveimpro.config.settings import ClockSettings, Settings
from liveimpro.control.commands import Controls
from liveimpro.control.ready import Ready, format_ready
from liveimpro.control.server import ControlPlane
from liveimpro.core.continuation import load_continuation
from liveimpro.core.engine import pin_blas_threads
from liveimpro.live.clocksync import build_clock
from liveimpro.live.improviser import Improviser
from liveimpro.live.scheduler import ResponseScheduler
from liveimpro.midi.factory import open_ports
from liveimpro.midi.ports import InputPort
from liveimpro.midi.system import check_midi_system

POLL_TIMEOUT_S = 0.002  # input wait per loop turn; bounds how late the lookahead is topped up
RECONNECT_INTERVAL_S = 1.0
MESSAGES_PER_TURN = 64  # input handled between two updates of the response and stop checks
CLOCK_START_LEAD_S = 0.1  # tick 0 lies this far after startup, so MIDI start can be queued


def serve(
    improviser: Improviser,
    midi_in: InputPort,
    should_stop: Callable[[], bool],
    controls: Controls | None = None,
) -> None:
    """Poll and tick until ``should_stop()``; the caller silences the output afterwards.

    Once a second both ports reconnect to their peers if those went away. With
    ``controls``, messages and turns go through them (they pass them on to the improviser).
    A turn handles at most MESSAGES_PER_TURN messages, so a flood delays neither. When the
    input has lost a connection, what it received before is handled first, then the loss.
    """
    player = controls or improviser
    next_check = time.monotonic()
    while not should_stop():
        if time.monotonic() >= next_check:
            next_check += RECONNECT_INTERVAL_S
            for port in (midi_in, improviser.output):
                if (line := port.keep_connected()) is not None:
                    print(f"liveimpro: {line}", flush=True)
        lost = midi_in.take_lost()
        message = midi_in.receive(timeout=0 if lost is not None else POLL_TIMEOUT_S)
        handled = 0
        while message is not None:
            player.handle(message)
            handled += 1
            # A flood must not starve the clock or the stop flag: the rest waits a turn.
            more = lost is not None or handled < MESSAGES_PER_TURN
            message = midi_in.poll() if more else None
        if lost is not None:
            player.input_lost(lost)
        player.update(improviser.output.now())


# Every signal whose default action ends the process and that comes from outside: a closed
# terminal (SIGHUP), Ctrl-\ (SIGQUIT), a service manager or a resource limit. Each must end
# like SIGTERM, with every note off. SIGPIPE and SIGXFSZ are left to Python, which ignores
# them; fault signals (SIGSEGV, ...) cannot be handled in Python.
TERMINATING_SIGNAL_NAMES = (
    "SIGINT",
    "SIGTERM",
    "SIGHUP",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGVTALRM",
    "SIGPROF",
    "SIGXCPU",
    "SIGIO",
    "SIGPWR",
    "SIGSTKFLT",
)
TERMINATING_SIGNALS = tuple(
    getattr(signal, name)
    for name in TERMINATING_SIGNAL_NAMES
    if hasattr(signal, name)  # the set differs between platforms
)


class StopSignals:
    """Turns each terminating signal into a flag for the loop; restores the old handlers on exit."""

    SIGNALS = TERMINATING_SIGNALS

    def __init__(self) -> None:
        self.received: int | None = None
        self._saved: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        for number in self.SIGNALS:
            self._saved[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self._saved.items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        self.received = number

    def __call__(self) -> bool:
        return self.received is not None


def describe_clock(settings: ClockSettings) -> str:
    if settings.source == "external":
        return "following the MIDI clock on the input"
    return f"{settings.bpm:g} bpm"


def run_daemon(settings: Settings) -> int:
    """Load the model, open the ports and improvise until a stop signal.

    The signal handlers go in first, so a stop during start-up also ends cleanly.
    """
    with StopSignals() as stop:
        return _improvise(settings, stop)


def _improvise(settings: Settings, stop: StopSignals) -> int:
    check_midi_system(settings.daemon.api)  # before the model loads: fail at once
    pin_blas_threads()
    model, continuation = load_continuation(settings)
    response = settings.response
    midi_in, midi_out, units_per_second = open_ports(settings.daemon)
    scheduler = None
    try:
        start = midi_out.now() + CLOCK_START_LEAD_S * units_per_second
        clock = build_clock(settings.clock, start, units_per_second)
        channel = response.channel - 1
        scheduler = ResponseScheduler(
            midi_out,
            clock,
            channel,
            response.lookahead_beats,
            send_clock=settings.clock.send_clock,
        )
        midi_out.reset_receivers([channel])  # a crashed run may have left notes sounding
        if response.program >= 0:
            midi_out.send(mido.Message("program_change", channel=channel, program=response.program))
        improviser = Improviser(settings, continuation, clock, scheduler, midi_out)
        with ControlPlane(settings.control, improviser, model.name) as control:
            ready = Ready(
                midi_in.name, midi_out.name, model.name, control.address, control.events_address
            )
            # The line for programs first: a reader may stop at it, the human line may change.
            print(format_ready(ready), flush=True)
            print(
                f"liveimpro: listening on {midi_in.name!r}, playing on {midi_out.name!r} "
                f"(model {model.name}, {describe_clock(settings.clock)}); {control.summary}",
                flush=True,
            )
            serve(improviser, midi_in, stop, control.controls)
        print(
            f"liveimpro: stopped ({midi_in.dropped_bytes} bytes of malformed MIDI dropped)",
            flush=True,
        )
    finally:
        try:
            if scheduler is not None:
                scheduler.stop()
            if settings.clock.send_clock:
                midi_out.send(mido.Message("stop"))
        finally:
            midi_out.close()
            midi_in.close()
    return 0
