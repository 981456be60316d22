"""Tests for liveimpro.harness.daemonprocess: ``liveimpro run`` as a child process."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveimpro.config.settings import Settings
from liveimpro.harness.benchdaemon import daemon_base
from liveimpro.harness.daemonprocess import DaemonError, DaemonProcess, with_private_control
from liveimpro.harness.jackserver import JackServer


def test_the_control_plane_moves_to_ipc_endpoints_in_the_folder(tmp_path: Path) -> None:
    control = with_private_control(Settings(), tmp_path).control
    assert control.address == f"ipc://{tmp_path}/control"
    assert control.events == f"ipc://{tmp_path}/events"


@pytest.mark.jack
def test_a_daemon_that_exits_at_start_is_an_error_with_its_output(jack_server) -> None:
    daemon = DaemonProcess(daemon_base("no-such-model"))  # MIDI is there; the model is not
    with pytest.raises(DaemonError, match="no-such-model") as raised:
        daemon.wait_ready()
    assert "exited with status 2" in str(raised.value)
    assert not daemon.running()


@pytest.mark.jack
def test_a_daemon_starts_reports_its_resources_and_stops_cleanly(
    jack_server: JackServer, random_model_dir: Path
) -> None:
    with DaemonProcess(daemon_base(str(random_model_dir))) as daemon:
        ready_s = daemon.wait_ready()
        assert 0 < ready_s < 30
        assert "liveimpro-in:liveimpro in" in jack_server.ports()
        assert daemon.memory_mb("VmRSS") > 10
        assert daemon.memory_mb("VmHWM") >= daemon.memory_mb("VmRSS") * 0.9
        assert daemon.cpu_seconds() > 0
        status = daemon.stop()
    assert status == 0
    assert "liveimpro: stopped" in daemon.output
