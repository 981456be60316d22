"""``liveimpro bench control`` runs end to end (its figures are printed, never asserted)."""

from __future__ import annotations

import pytest

from liveimpro.control.ready import Ready, format_ready, parse_ready
from liveimpro.harness.benchcontrol import bench_control, control_endpoints


def test_the_ready_line_names_the_control_endpoints() -> None:
    line = format_ready(Ready("in", "out", "folk", "ipc:///t/c", "ipc:///t/e"))
    assert control_endpoints(parse_ready(line)) == ("ipc:///t/c", "ipc:///t/e")
    with pytest.raises(RuntimeError, match="serves no control"):
        control_endpoints(parse_ready(format_ready(Ready("in", "out", "folk", None, None))))


@pytest.mark.jack
@pytest.mark.slow
def test_bench_control_measures_every_figure() -> None:
    result = bench_control(requests=40, seconds=1.0, rate=200)
    assert set(result["round_trip"]) == {"ping", "get", "set", "status"}
    assert all(figures["n"] == 10 for figures in result["round_trip"].values())
    assert result["set_to_applied"]["n"] > 0
    assert result["state_after"] == "responding"  # the answer played throughout
    for case in ("jitter_without_load", "jitter_with_load"):
        assert result[case]["clock_pulses"]["n"] > 0
    assert 0 < result["jitter_with_load"]["load_round_trip"]["n"] <= 200
