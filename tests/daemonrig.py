"""End-to-end daemon tests: ``liveimpro run`` (a DaemonProcess) on a private JACK server,
a performer that plays into it and receivers that hear it, all independent JACK clients."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mido

from liveimpro.config.settings import Settings, settings_toml
from liveimpro.harness.daemonprocess import DaemonProcess
from liveimpro.midi.jackmidi import JackInput, JackOutput
from tests.jackpeers import unique_client_name

DAEMON_INPUT = "liveimpro-in:liveimpro in"
DAEMON_OUTPUT = "liveimpro-out:liveimpro out"
BPM = 200  # a beat is 14400 frames at 48 kHz, a tick 600
RESPONSE_CHANNEL = 2  # as configured (1-based); mido's channel 1
STARTUP_TIMEOUT_S = 30.0  # generous: imports and model loading on a loaded machine
NOTE_FRAMES = 4800  # the performer's notes: 0.1 s long, 0.15 s apart
NOTE_SPACING = 7200
PHRASE = [60, 64, 67, 72]


def replaced(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """``settings`` with the given keys of each named section replaced (and checked)."""
    return dataclasses.replace(
        settings,
        **{
            name: dataclasses.replace(getattr(settings, name), **keys)
            for name, keys in sections.items()
        },
    )


def daemon_settings(
    model: Path | str, output: str | None, response_beats: float, *, thru: bool = False
) -> Settings:
    """The tests' daemon: ``model`` on JACK, playing into ``output`` (None: its own port)."""
    return replaced(
        Settings(),
        model={"name": str(model)},
        sampling={"seed": 1},
        continuation={"beats": response_beats},
        phrase={"silence_beats": 1.0, "min_notes": 2},
        response={"quantize": "beat", "channel": RESPONSE_CHANNEL, "lookahead_beats": 1.0},
        clock={"bpm": float(BPM), "send_clock": True},
        daemon={"api": "jack", "output": output or "", "thru": thru},
    )


def start_daemon(settings: Settings, *, private_control: bool = True) -> DaemonProcess:
    """``liveimpro run`` with ``settings``, listening: both its ports can be connected.

    Its control plane is on private ipc endpoints unless ``private_control`` is False.
    """
    daemon = DaemonProcess(settings, private_control=private_control)
    daemon.wait_ready(STARTUP_TIMEOUT_S)
    return daemon


def free_port() -> int:
    """A loopback TCP port free now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def controlled_settings(model: Path | str, output: str | None, response_beats: float) -> Settings:
    """The tests' daemon with its control plane on two free loopback TCP ports."""
    address, events = (f"tcp://127.0.0.1:{free_port()}" for _ in range(2))
    settings = daemon_settings(model, output, response_beats)
    return replaced(settings, control={"address": address, "events": events})


def write_config(path: Path, settings: Settings) -> Path:
    """``settings`` as a config file at ``path``, for a ``liveimpro`` command line."""
    path.write_text(settings_toml(settings))
    return path


def ctl(config: Path, *args: str) -> subprocess.CompletedProcess:
    """``liveimpro --config CONFIG ctl ARGS...`` run to its end."""
    command = [sys.executable, "-m", "liveimpro", "--config", str(config), "ctl", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def play_phrase() -> int:
    """Play PHRASE into the daemon from an independent client; its last note-off's frame."""
    with JackOutput(DAEMON_INPUT, client_name=unique_client_name("performer")) as performer:
        first = performer.now() + 4800
        for index, pitch in enumerate(PHRASE):
            on = first + index * NOTE_SPACING
            performer.send_at(mido.Message("note_on", note=pitch, velocity=90), on)
            performer.send_at(mido.Message("note_off", note=pitch), on + NOTE_FRAMES)
        last_off = first + (len(PHRASE) - 1) * NOTE_SPACING + NOTE_FRAMES
        time.sleep((last_off - performer.now()) / performer.samplerate + 0.05)
    return last_off


def receiver_port() -> JackInput:
    """An independent receiver that stamps in JACK frame time, the performer's clock."""
    return JackInput(name="receiver", client_name=unique_client_name("receiver"))


def response_notes(messages: list[mido.Message]) -> list[mido.Message]:
    return [
        m
        for m in messages
        if m.type in ("note_on", "note_off") and m.channel == RESPONSE_CHANNEL - 1
    ]
