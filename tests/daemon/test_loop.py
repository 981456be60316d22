"""The daemon's loop, its stop signals and its imports; ``run`` and ``ports`` without a MIDI
system, and ``ports`` on JACK."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mido
import pytest

from liveimpro.daemon import MESSAGES_PER_TURN, TERMINATING_SIGNALS, StopSignals, serve
from liveimpro.harness.jackserver import JackServer
from tests.jackpeers import MidiDump, unique_client_name
from tests.memoryports import MemoryInputPort, MemoryOutputPort


class EndlessFlood(MemoryInputPort):
    """An input whose sender never pauses."""

    def poll(self) -> mido.Message:
        return mido.Message("note_on", channel=5, note=60, velocity=10)

    def receive(self, timeout: float | None = None) -> mido.Message:
        return self.poll()


class CountingPlayer:
    def __init__(self) -> None:
        self.handled = 0
        self.updates = 0

    def handle(self, _message: mido.Message) -> None:
        self.handled += 1

    def update(self, _now: float) -> None:
        self.updates += 1


def test_an_endless_flood_still_lets_the_loop_update_the_answer_and_stop() -> None:
    player = CountingPlayer()
    improviser = SimpleNamespace(output=MemoryOutputPort(now=lambda: 0.0))
    serve(improviser, EndlessFlood(now=lambda: 0.0), lambda: player.updates == 3, player)
    assert (player.updates, player.handled) == (3, 3 * MESSAGES_PER_TURN)


@pytest.mark.parametrize("number", TERMINATING_SIGNALS)
def test_every_terminating_signal_becomes_the_stop_flag(number: int) -> None:
    before = signal.getsignal(number)
    with StopSignals() as stop:
        signal.raise_signal(number)
        assert stop() and stop.received == number
    assert signal.getsignal(number) == before


def test_the_stop_signals_include_the_terminal_and_quit_ones() -> None:
    wanted = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
    assert wanted <= set(StopSignals.SIGNALS)


def test_the_daemon_never_imports_tensorflow_or_keras() -> None:
    probe = (
        "import sys, liveimpro.cli.commands, liveimpro.daemon; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api", "problem"), [("jack", "no JACK server is running"), ("alsa", "no ALSA sequencer")]
)
def test_no_midi_system_stops_run_and_ports_with_one_line_and_status_2(
    api: str, problem: str, tmp_path: Path
) -> None:
    if api == "alsa" and Path("/dev/snd/seq").exists():
        pytest.skip("this machine has an ALSA sequencer")
    nowhere = {"JACK_DEFAULT_SERVER": unique_client_name("none"), "JACK_NO_START_SERVER": "1"}
    env = {**os.environ, **nowhere}
    for command in ("run", "ports"):
        result = subprocess.run(
            [sys.executable, "-m", "liveimpro", command, "--api", api],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"liveimpro: error: {problem}")


@pytest.mark.jack
def test_ports_lists_the_servers_midi_ports(jack_server: JackServer) -> None:
    dump = MidiDump(jack_server)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "liveimpro", "ports", "--api", "jack"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        dump.stop()
    inputs, outputs = result.stdout.split("outputs (play to):")
    assert dump.port_name in outputs and dump.port_name not in inputs
