"""``liveimpro ctl`` and ``keygen``; and Client and ctl against a real ``liveimpro run``."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
import zmq

from liveimpro.cli.commands import main
from liveimpro.cli.ctl import parse_value, request_params
from liveimpro.control.client import Client, ControlError, Subscription
from liveimpro.harness.jackserver import JackServer
from tests.daemonrig import (
    BPM,
    controlled_settings,
    ctl,
    play_phrase,
    receiver_port,
    response_notes,
    start_daemon,
    write_config,
)
from tests.jackpeers import MidiDump
from tests.midicheck import stuck_notes

EVENT_TIMEOUT_S = 20.0  # generous: the machine is shared


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.8", 0.8), ("4", 4), ("true", True), ("fixed", "fixed"), ('"4"', "4"), ("[1]", "[1]")],
)
def test_values_are_json_scalars_or_text(text: str, value) -> None:
    assert parse_value(text) == value


def test_arguments_fill_the_parameters_in_order() -> None:
    assert request_params("set", ["temperature", "0.8"]) == {"name": "temperature", "value": 0.8}
    assert request_params("get", []) == {}
    with pytest.raises(ValueError, match="ctl panic takes no arguments; got 1"):
        request_params("panic", ["now"])


def test_ctl_without_a_daemon_says_so_and_exits_2(capsys) -> None:
    assert main(["ctl", "--address", "tcp://127.0.0.1:9", "--timeout", "0.2", "status"]) == 2
    assert "no reply from tcp://127.0.0.1:9 within 0.2 s" in capsys.readouterr().err


def test_keygen_writes_a_pair_and_never_overwrites(tmp_path, capsys) -> None:
    assert main(["keygen", "alice", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "alice.key").is_file() and (tmp_path / "alice.key_secret").is_file()
    assert (tmp_path / "alice.key_secret").stat().st_mode & 0o077 == 0
    assert main(["keygen", "alice", "--dir", str(tmp_path)]) == 2
    assert "alice.key exists" in capsys.readouterr().err


# Against a real daemon on a private JACK server ---------------------------------------------


def next_event(events: Subscription, topic: str) -> dict:
    deadline = time.monotonic() + EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        event = events.receive(timeout=deadline - time.monotonic())
        if event is not None and event["event"] == topic:
            return event
    raise AssertionError(f"no {topic} event in {EVENT_TIMEOUT_S} s")


def subscribed(client: Client, events: Subscription) -> None:
    """Wait until the subscription reaches the daemon: a harmless set comes back as an event."""
    for _ in range(100):
        client.set("top_k", 0)
        event = events.receive(timeout=0.2)
        if event is not None:
            return
    raise AssertionError("the subscription never reached the daemon")


@pytest.mark.jack
@pytest.mark.slow
def test_client_and_ctl_control_a_running_daemon(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    dump = MidiDump(jack_server)
    settings = controlled_settings(random_model_dir, dump.port_name, response_beats=64.0)
    address, events_address = settings.control.address, settings.control.events
    try:
        with start_daemon(settings, private_control=False) as daemon:
            config = daemon.config
            assert daemon.ready.control == address
            with (
                Client(address, events=events_address, timeout=10.0) as client,
                client.subscribe() as events,
            ):
                subscribed(client, events)
                status = json.loads(ctl(config, "status").stdout)
                assert status["state"] == "listening" and status["model"] == "tiny"
                play_phrase()
                started = next_event(events, "response_start")
                assert started["kind"] == "answer" and started["latency_ms"] > 0
                changed = ctl(config, "set", "temperature", "0.3")
                assert changed.returncode == 0, changed.stderr
                assert next_event(events, "param_changed")["value"] == 0.3
                assert client.get("temperature") == 0.3
                refused = ctl(config, "set", "temperature", "9")
                assert refused.returncode == 2 and "in (0, 5]" in refused.stderr
                assert ctl(config, "panic").stdout.strip() == "ok"
                assert next_event(events, "response_end")["kind"] == "answer"
                counters = client.status()["counters"]
                assert counters["responses"] == 1 and counters["phrases"] == 1
            status = daemon.stop()
    finally:
        messages = [mido.Message.from_bytes(data, time=frame) for frame, data in dump.stop()]
    output = daemon.output
    assert status == 0, output
    notes = response_notes(messages)
    assert any(m.type == "note_on" and m.velocity > 0 for m in notes)
    assert stuck_notes(notes) == set()


@pytest.mark.jack
@pytest.mark.slow
def test_ctl_watch_prints_events(jack_server: JackServer, random_model_dir: Path) -> None:
    dump = MidiDump(jack_server)
    settings = controlled_settings(random_model_dir, dump.port_name, response_beats=4.0)
    address = settings.control.address
    try:
        with start_daemon(settings, private_control=False) as daemon:
            command = [sys.executable, "-m", "liveimpro", "--config", str(daemon.config)]
            command += ["ctl", "--count", "1", "watch", "param_"]
            watcher = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            with Client(address, timeout=10.0) as client:
                deadline = time.monotonic() + EVENT_TIMEOUT_S
                while watcher.poll() is None and time.monotonic() < deadline:
                    client.set("top_p", 0.9)  # until the watcher has subscribed and seen one
                    time.sleep(0.1)
            watcher.kill()
            output, _ = watcher.communicate()
            event = json.loads(output.splitlines()[0])
            assert event["event"] == "param_changed" and event["name"] == "top_p"
            assert isinstance(event["time"], float)
            daemon.stop()
    finally:
        dump.stop()


@pytest.mark.jack
@pytest.mark.slow
def test_a_taken_control_port_stops_the_daemon_with_one_line_and_status_2(
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    settings = controlled_settings(random_model_dir, None, response_beats=4.0)
    config = write_config(tmp_path / "config.toml", settings)
    address = settings.control.address
    context = zmq.Context()
    holder = context.socket(zmq.REP)  # another daemon, say, already serving there
    holder.bind(address)
    try:
        command = [sys.executable, "-m", "liveimpro", "--config", str(config), "run"]
        command += ["--model", str(random_model_dir), "--api", "jack"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert holder.poll(0) == 0  # nothing reached the holder
    finally:
        holder.close(linger=0)
        context.term()
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"liveimpro: error: cannot bind control.address {address}: ")
    assert "control.enabled = false" in line
    assert "listening" not in result.stdout


@pytest.mark.jack
@pytest.mark.slow
def test_tempo_changes_in_an_answer_keep_the_clock_pulses_in_order_and_even(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    xruns_before = jack_server.log().count("XRun")
    with receiver_port() as receiver:
        settings = controlled_settings(random_model_dir, receiver.port_name, response_beats=64.0)
        with start_daemon(settings, private_control=False) as daemon:
            with Client(settings.control.address, timeout=10.0) as client:
                play_phrase()
                time.sleep(1.0)  # into the answer
                changes = []  # (receiver's frame time when asked, bpm)
                for bpm, hold_s in ((20, 1.0), (300, 1.0), (150, 0.5), (20, 1.5)):
                    changes.append((receiver.now(), bpm))
                    client.set("tempo", bpm)
                    time.sleep(hold_s)
            messages = list(receiver.iter_pending())
            status = daemon.stop()
    output = daemon.output
    xruns = jack_server.log().count("XRun") - xruns_before
    assert status == 0, output
    pulses = [m.time for m in messages if m.type == "clock"]
    tick = {bpm: jack_server.rate * 60 / (bpm * 24) for bpm in (BPM, 20, 150, 300)}
    gaps = [later - earlier for earlier, later in itertools.pairwise(pulses)]
    assert min(gaps) > 0
    # No silence much longer than a tick at the old tempo plus one at the new (150 -> 20);
    # the margin is for a daemon starved of CPU on a loaded machine.
    longest = max(gaps)
    assert longest <= 2 * (tick[150] + tick[20]), (longest, pulses[gaps.index(longest)], changes)
    if xruns:  # a missed cycle delays events: evenness holds for cycles run on time
        return
    settle = 0.05 * jack_server.rate  # the change is applied within a loop turn and a cycle
    ends = [sent for sent, _ in changes[1:]] + [math.inf]
    for (sent, bpm), end in zip(changes, ends, strict=True):
        settled = [when for when in pulses if sent + settle <= when < end]
        assert len(settled) > 4, (bpm, settled)
        for earlier, later in itertools.pairwise(settled):
            assert abs(later - earlier - tick[bpm]) <= 1, (bpm, earlier, later)


@pytest.mark.jack
@pytest.mark.slow
def test_a_huge_weights_file_is_refused_at_once_and_never_read_into_the_daemon(
    jack_server: JackServer, random_model_dir: Path, tmp_path: Path
) -> None:
    huge = shutil.copytree(random_model_dir, tmp_path / "huge")
    with (huge / "weights.npz").open("r+b") as weights:
        weights.truncate(1 << 30)  # 1 GiB, sparse
    dump = MidiDump(jack_server)
    settings = controlled_settings(random_model_dir, dump.port_name, response_beats=4.0)
    try:
        with start_daemon(settings, private_control=False) as daemon:
            with Client(settings.control.address, timeout=10.0) as client:
                started = time.monotonic()
                with pytest.raises(ControlError, match=r"bytes, but model\.json implies"):
                    client.load_model(str(huge))
                refused_s = time.monotonic() - started
            status_file = Path(f"/proc/{daemon.process.pid}/status").read_text()
            peak_mb = int(re.search(r"VmHWM:\s+(\d+) kB", status_file)[1]) / 1024
            status = daemon.stop()
    finally:
        dump.stop()
    output = daemon.output
    assert status == 0, output
    assert refused_s < 1.5  # it was 3.5 s, reading and hashing the whole file
    assert peak_mb < 512  # the file never came into memory
