"""``liveimpro bench panel``, short: one panel, one call and answer a stretch."""

from __future__ import annotations

import os

import pytest

from liveimpro.harness.benchpanel import bench_panel
from liveimpro.harness.jackserver import JackServer
from liveimpro.surfaces.panel.process import CHROMIUM


@pytest.mark.jack
@pytest.mark.slow
def test_panel(jack_server: JackServer) -> None:
    if CHROMIUM is None and not os.environ.get("CI"):  # CI must run it
        pytest.skip("chromium is not installed (apt-get install --no-install-recommends chromium)")
    result = bench_panel(panels=1, rounds=1, bpm=300.0)
    cpu = result["daemon_cpu_percent"]
    assert set(cpu) == {"no panel", "1 panel"}
    assert all(0 < percent < 200 for percent in cpu.values())
    delays = result["event_to_frame"]
    assert delays["n"] > 0 and 0 < delays["p50_ms"] <= delays["p99_ms"] < 5000
