import mido
import pytest

from liveimpro.live.clock import TempoClock


def test_ticks_are_computed_from_the_absolute_start() -> None:
    clock = TempoClock(bpm=100, start=1000.0, units_per_second=48000)
    period = 48000 * 60 / (100 * 24)  # 1200 frames
    assert clock.time_of(0) == 1000.0
    assert clock.time_of(1_000_000) == 1000.0 + 1_000_000 * period  # no accumulated error
    assert clock.tick_at(1000.0 + 2.5 * period) == pytest.approx(2.5)
    assert clock.current_tick(1000.0 + 2.5 * period) == 2


def test_periods_that_do_not_divide_evenly_do_not_drift() -> None:
    clock = TempoClock(bpm=97, start=0.0, units_per_second=48000)
    times = [clock.time_of(tick) for tick in range(100_001)]
    assert times[-1] == pytest.approx(100_000 * 48000 * 60 / (97 * 24), rel=1e-12)


def test_a_tempo_change_reanchors_where_it_happens() -> None:
    clock = TempoClock(bpm=120, start=0.0, units_per_second=1000)  # 125/6 ms per tick
    change_at = clock.time_of(48)  # two beats in
    clock.set_tempo(60, now=change_at)
    assert clock.tick_at(change_at) == pytest.approx(48)
    assert clock.time_of(48 + 24) == pytest.approx(change_at + 1000)  # one beat at 60 bpm


@pytest.mark.parametrize("bpm", [0, 19.9, 301, float("nan")])
def test_tempo_out_of_range_is_rejected_with_the_range(bpm: float) -> None:
    with pytest.raises(ValueError, match=r"bpm must be in \[20.0, 300.0\]"):
        TempoClock(bpm=bpm, start=0.0, units_per_second=1)


def test_tempo_of_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="bpm must be a number"):
        TempoClock(bpm="fast", start=0.0, units_per_second=1)


def test_the_internal_clock_ignores_clock_messages_from_the_input() -> None:
    clock = TempoClock(bpm=120, start=0.0, units_per_second=48000)
    assert clock.rolling
    assert clock.follow(mido.Message("stop")) is False
    assert clock.rolling and clock.time_of(24) == pytest.approx(24000)
